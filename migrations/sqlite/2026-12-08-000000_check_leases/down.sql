DROP TABLE check_leases;
DROP TABLE check_epoch;
