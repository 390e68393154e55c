-- Issue 14, point 1: what a ticket paid for. A site publishes its services (a title,
-- a theme of the national list of src/vocabulary.rs, a format and a duration); a
-- redemption may name the service, and a collective session redeems several
-- beneficiaries' tickets under one session id for one service.
--
-- Services are never deleted: `PUT /sites/{id}/services` retires the ones it no
-- longer lists (`retired_at`), so a redemption that named one still reads it. Like
-- the other references of a redemption, `service_id` and `session_id` are checked
-- without a foreign key (no lock on a row that every scan of a session points to):
-- `redeem_ticket` checks the service (sql/functions/redemption.sql), the session is
-- opened by the service before its scans, and neither is ever removed
-- (refuse_removal, sql/functions/references.sql).

CREATE TABLE site_services (
    id               UUID PRIMARY KEY,
    site_id          UUID NOT NULL REFERENCES organizations (id),
    title            TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 120),
    theme            TEXT NOT NULL CHECK (theme ~ '^[a-z_]{1,40}$'),
    format           TEXT NOT NULL CHECK (format IN ('individual', 'collective')),
    duration_minutes INTEGER NOT NULL CHECK (duration_minutes BETWEEN 1 AND 600),
    position         INTEGER NOT NULL CHECK (position >= 0),
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    retired_at       TIMESTAMPTZ
);
-- The live services of a site, in their order (the directory, the scan page).
CREATE INDEX site_services_live ON site_services (site_id, position) WHERE retired_at IS NULL;
-- The directory's filter by theme.
CREATE INDEX site_services_live_theme ON site_services (theme, site_id) WHERE retired_at IS NULL;

CREATE TABLE service_sessions (
    id         UUID PRIMARY KEY,
    site_id    UUID NOT NULL REFERENCES organizations (id),
    service_id UUID NOT NULL REFERENCES site_services (id),
    opened_by  UUID NOT NULL REFERENCES users (id),
    opened_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

ALTER TABLE redemptions
    ADD COLUMN service_id UUID,
    ADD COLUMN session_id UUID,
    ADD CONSTRAINT redemptions_session_names_service
        CHECK (session_id IS NULL OR service_id IS NOT NULL);
-- The statistics by theme and format join redemptions to their services.
CREATE INDEX redemptions_service ON redemptions (service_id) WHERE service_id IS NOT NULL;
