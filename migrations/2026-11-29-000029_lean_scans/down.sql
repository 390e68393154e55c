-- The two row triggers of sql/functions/stats.sql that came with this release go;
-- the release rolled back to puts its own statement triggers back when its
-- `passnum migrate` applies its functions files (as every run does).
DROP TRIGGER IF EXISTS stats_tickets_updated ON tickets;
DROP TRIGGER IF EXISTS stats_redemptions_inserted ON redemptions;
DROP FUNCTION IF EXISTS stats_ticket_changed();
DROP FUNCTION IF EXISTS stats_redemption_inserted();
-- And the procedure that commits a scan (sql/functions/redemption.sql); the release
-- rolled back to calls `redeem_ticket` in a transaction of its own.
DROP PROCEDURE IF EXISTS redeem_ticket_durably(UUID, UUID, TEXT, TEXT, TEXT, NUMERIC, TEXT,
    TIMESTAMPTZ, DATE, DATE, TEXT, TEXT[], UUID[], UUID, UUID, JSONB);
ALTER TABLE stats_changes ADD COLUMN id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY;
