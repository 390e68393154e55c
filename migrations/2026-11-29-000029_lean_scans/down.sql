-- What sql/functions/stats.sql of this release added goes; the release rolled back
-- to puts its own statement triggers back when its `passnum migrate` applies its
-- functions files (as every run does), and its redemptions_references_exist body.
DROP TRIGGER IF EXISTS stats_tickets_status_changed ON tickets;
DROP TRIGGER IF EXISTS stats_tickets_moved ON tickets;
DROP FUNCTION IF EXISTS stats_ticket_changed();
ALTER TABLE stats_changes ADD COLUMN id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY;
