ALTER TABLE tickets RESET (fillfactor);
DROP INDEX tickets_program;
CREATE INDEX tickets_program_status ON tickets (program_id, status);
