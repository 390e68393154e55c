-- Sessions with refresh tokens, people who leave, passwords reset by e-mail.

-- A deactivated user cannot log in and its sessions are ended; the login time is
-- shown to the organisation's admins.
ALTER TABLE users ADD COLUMN active BOOLEAN NOT NULL DEFAULT true,
                  ADD COLUMN last_login_at TIMESTAMPTZ;

-- One row per login. Its refresh tokens rotate (refresh_tokens); the session ends
-- when it is revoked (logout, a used refresh token presented again, password change
-- or reset, user deactivated or demoted), after session_idle_minutes without a
-- refresh, or session_max_hours after the login (both judged from the columns below
-- and the configuration).
CREATE TABLE sessions (
    id                 UUID PRIMARY KEY,
    user_id            UUID NOT NULL REFERENCES users (id),
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_refreshed_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at         TIMESTAMPTZ,
    revoked_reason     TEXT CHECK (revoked_reason IN
                           ('logout', 'refresh_reused', 'password_changed', 'password_reset',
                            'deactivated', 'role_changed')),
    CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);
CREATE INDEX sessions_live_by_user ON sessions (user_id) WHERE revoked_at IS NULL;
-- What every server node polls each second: the sessions revoked recently.
CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- Refresh tokens, stored as their SHA-256 only. Each serves once: refreshing spends
-- it and makes the next one; a spent one presented again ends the whole session.
CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    session_id  UUID NOT NULL REFERENCES sessions (id),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    used_at     TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- Password reset links: single use, valid one hour, stored as their SHA-256.
CREATE TABLE password_resets (
    id          UUID PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES users (id),
    token_hash  TEXT NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX password_resets_user ON password_resets (user_id);

ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN
    ('checkbook', 'invitation', 'statement_ready', 'expiry_reminder', 'password_reset'));
