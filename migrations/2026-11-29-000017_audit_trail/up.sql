-- The audit trail (src/audit.rs): one entry per change to the people and settings
-- around the money, written in the same transaction as the change, with who, when,
-- and the values before and after. Append-only, and chained: each entry's `hash` is
-- the SHA-256 of the previous entry's hash and its own content, set by a trigger
-- (sql/functions/audit.sql) under a lock, so that `seq` has no gap and an edited or
-- removed entry breaks the chain.
CREATE TABLE audit_entries (
    seq bigint PRIMARY KEY,
    id uuid NOT NULL UNIQUE,
    at timestamptz NOT NULL DEFAULT now(),
    -- Who: a user (and the organisation they acted for), or the service itself
    -- (`actor_label`: a command or a daily job).
    actor_user_id uuid REFERENCES users (id),
    actor_organization_id uuid REFERENCES organizations (id),
    actor_label text,
    -- Whose entity it is: that organisation's admins may read the entry (the
    -- operator reads every entry).
    organization_id uuid REFERENCES organizations (id),
    entity_kind text NOT NULL,
    entity_id uuid NOT NULL,
    action text NOT NULL,
    before jsonb,
    after jsonb,
    reason text,
    prev_hash bytea,
    hash bytea NOT NULL,
    CONSTRAINT audit_entries_actor_named CHECK (actor_user_id IS NOT NULL OR actor_label IS NOT NULL),
    CONSTRAINT audit_entries_chained CHECK ((seq = 1) = (prev_hash IS NULL))
);
CREATE INDEX audit_entries_by_entity ON audit_entries (entity_id, seq);
CREATE INDEX audit_entries_by_actor ON audit_entries (actor_user_id, seq);
CREATE INDEX audit_entries_by_organization ON audit_entries (organization_id, seq);
CREATE INDEX audit_entries_by_time ON audit_entries (at);
