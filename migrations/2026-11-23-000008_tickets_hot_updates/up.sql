-- A ticket's row changes once or twice in its life (redeemed, maybe reversed or
-- expired). With its status out of every index and room left on each page, that
-- change is a heap-only update: no index entry is written for it.
DROP INDEX tickets_program_status;
CREATE INDEX tickets_program ON tickets (program_id);
ALTER TABLE tickets SET (fillfactor = 85);
