-- Issue 14, the redemption benchmark: a scan's mark for the statistics' rollups
-- cost four WAL records (two appended rows, each with its key's index entry) and
-- two statement triggers with transition tables. `stats_changes` is only ever read
-- whole (by program, a few hundred rows) and emptied whole by `stats_fold()`: its
-- key served nothing. Without it an append is one heap record, and appends never
-- wait on each other either. The triggers themselves are in sql/functions/stats.sql.
ALTER TABLE stats_changes DROP COLUMN id;
