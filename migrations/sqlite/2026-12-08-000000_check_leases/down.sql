DROP TABLE check_leases;
