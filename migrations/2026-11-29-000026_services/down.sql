DROP INDEX redemptions_service;
ALTER TABLE redemptions
    DROP COLUMN session_id,
    DROP COLUMN service_id;
DROP TABLE service_sessions;
DROP TABLE site_services;
