DROP TABLE check_epoch;
