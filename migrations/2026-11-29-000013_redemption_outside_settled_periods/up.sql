-- History: the live bodies of the functions and triggers created here are in
-- sql/functions/redemption.sql (re-applied after every migration run, src/db.rs).

-- A redemption never lands in a settled period.
--
-- A redemption's `redeemed_at` is the start of the transaction of `redeem_ticket`
-- (the column's default, `now()`), not the moment it commits. A scan whose
-- transaction began just before midnight on the last day of a month, and that was
-- slowed down until after the month was settled, would otherwise commit into the
-- settled month unnoticed: paid to nobody, billed to nobody.
--
-- Closing that race takes two halves that meet on the lock of the redemptions table:
-- - the settlement (src/settlement.rs) inserts its row, then takes
--   `LOCK TABLE redemptions IN SHARE MODE`: it waits for every redemption already
--   writing (they hold ROW EXCLUSIVE until they commit, and the settlement then reads
--   them), and every later redemption write waits for the settlement to commit;
-- - this trigger runs inside the redemption's INSERT, so after that INSERT obtained
--   its lock, that is after any settlement that held the lock committed. A plpgsql
--   function is VOLATILE: its query takes a fresh snapshot (READ COMMITTED), which
--   sees that settlement, and the INSERT is refused.
-- The refusal undoes the whole `redeem_ticket` statement, its stored answer included,
-- so the service calls again (a new transaction, a new `now()` in the open period),
-- and a client's retry with the same Idempotency-Key is judged afresh.
--
-- Cost on the redemption hot path: one probe of `settlements` per insert, through the
-- GiST index of `settlements_no_overlap` (a range contains an instant) or a scan of a
-- table of a dozen rows a year; no lock beyond ACCESS SHARE on `settlements`.
CREATE FUNCTION redemptions_outside_settled_periods() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM settlements
               WHERE tstzrange(starts_at, ends_at) @> NEW.redeemed_at) THEN
        RAISE EXCEPTION 'redemption % of % falls in a settled period: it is refused', NEW.id, NEW.redeemed_at
            USING ERRCODE = 'check_violation', CONSTRAINT = 'redemptions_outside_settled_periods';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER redemptions_outside_settled_periods BEFORE INSERT ON redemptions
    FOR EACH ROW EXECUTE FUNCTION redemptions_outside_settled_periods();

-- Statement CSVs guard formulas (src/csv_cells.rs): a text cell that begins with
-- `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`. A settlement's
-- statement is drawn again from its redemptions at every download and was sealed
-- with the SHA-256 of its CSV, so each statement records the format it was sealed
-- in: 1 for those issued before (drawn as they were), 2 from now on.
ALTER TABLE statements ADD COLUMN csv_format SMALLINT NOT NULL DEFAULT 1
    CHECK (csv_format IN (1, 2));
ALTER TABLE statements ALTER COLUMN csv_format SET DEFAULT 2;
