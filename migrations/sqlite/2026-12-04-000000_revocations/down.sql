DROP TABLE revocation_events;
