DROP INDEX redemptions_time;
DROP TABLE statements;
DROP TABLE statement_counters;
DROP TABLE settlements;
