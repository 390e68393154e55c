-- The live redeem_ticket took two more arguments with this migration
-- (sql/functions/redemption.sql); its older signature comes back with the older
-- functions files, applied after the migrations run.
DROP FUNCTION IF EXISTS redeem_ticket(UUID, UUID, TEXT, TEXT, TEXT, NUMERIC, TEXT,
                                      TIMESTAMPTZ, DATE, DATE, TEXT, TEXT[], UUID[], UUID, UUID);
DROP INDEX redemptions_service;
ALTER TABLE redemptions
    DROP CONSTRAINT redemptions_session_names_service,
    DROP COLUMN session_id,
    DROP COLUMN service_id;
DROP TABLE service_sessions;
DROP TABLE site_services;
