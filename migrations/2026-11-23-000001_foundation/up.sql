-- History: the live bodies of the functions and triggers created here are in
-- sql/functions/references.sql (re-applied after every migration run, src/db.rs).

-- Foundation: organisations, their users, site labels.
-- Kinds and roles are TEXT with CHECK constraints (no custom enum types), so the
-- generated schema stays plain and adding a value is a one-line migration.

CREATE TABLE organizations (
    id          UUID PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('operator', 'funder', 'prescriber', 'site')),
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email       TEXT NOT NULL,
    postcode    TEXT NOT NULL CHECK (postcode ~ '^[0-9]{5}$'),
    city        TEXT NOT NULL,
    address     TEXT,
    siret       TEXT CHECK (siret ~ '^[0-9]{14}$'),
    latitude    DOUBLE PRECISION CHECK (latitude BETWEEN -90 AND 90),
    longitude   DOUBLE PRECISION CHECK (longitude BETWEEN -180 AND 180),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((latitude IS NULL) = (longitude IS NULL))
);
-- The platform has exactly one operator organisation.
CREATE UNIQUE INDEX organizations_single_operator ON organizations (kind) WHERE kind = 'operator';
CREATE INDEX organizations_kind_id ON organizations (kind, id);
CREATE INDEX organizations_postcode ON organizations (postcode text_pattern_ops) WHERE kind = 'site';

CREATE TABLE users (
    id              UUID PRIMARY KEY,
    organization_id UUID NOT NULL REFERENCES organizations (id),
    email           TEXT NOT NULL CHECK (email = lower(email)),
    -- NULL until an invited user sets a password: such a user cannot log in.
    password_hash   TEXT,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'agent')),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- E-mails are stored lower-case (checked above), so one account per address.
CREATE UNIQUE INDEX users_email_unique ON users (email);
CREATE INDEX users_organization ON users (organization_id);

-- The APTIC label of a site: its right to redeem tickets between two dates.
-- One current label per site; granting again replaces the dates and lifts nothing
-- else (a suspended label stays suspended until reinstated).
CREATE TABLE site_labels (
    site_id       UUID PRIMARY KEY REFERENCES organizations (id),
    valid_from    DATE NOT NULL,
    valid_until   DATE NOT NULL,
    suspended_at  TIMESTAMPTZ,
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (valid_from <= valid_until)
);

-- Only organisations of kind 'site' may hold a label.
CREATE FUNCTION site_labels_only_sites() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM organizations WHERE id = NEW.site_id AND kind = 'site') THEN
        RAISE EXCEPTION 'organisation % is not a site', NEW.site_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'site_labels_only_sites';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER site_labels_only_sites BEFORE INSERT OR UPDATE ON site_labels
    FOR EACH ROW EXECUTE FUNCTION site_labels_only_sites();
