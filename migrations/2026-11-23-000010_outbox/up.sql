-- E-mail outbox: a mail is recorded in the same transaction as the event that causes
-- it, then sent by the server's mail worker (retries with backoff). Nothing is lost
-- when the SMTP server is down or the service restarts: the row waits.

CREATE TABLE outbox (
    id               UUID PRIMARY KEY,
    -- Set when the first attempt is recorded (from the sender's domain), then kept
    -- for every later attempt, so a resend after a crash carries the same Message-ID.
    message_id       TEXT UNIQUE,
    kind             TEXT NOT NULL CHECK (kind IN ('checkbook', 'invitation', 'statement_ready', 'expiry_reminder')),
    -- What the mail is about (a checkbook, a user, a statement), for the operator.
    related_id       UUID,
    recipient        TEXT NOT NULL CHECK (length(recipient) BETWEEN 3 AND 254),
    subject          TEXT NOT NULL,
    body_text        TEXT NOT NULL,
    body_html        TEXT NOT NULL,
    attachment_name  TEXT,
    -- The attachment as sent (the checkbook PDF), cleared once the mail is sent.
    attachment       BYTEA,
    status           TEXT NOT NULL DEFAULT 'waiting'
                     CHECK (status IN ('waiting', 'sending', 'sent', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_attempt_at  TIMESTAMPTZ,
    last_error       TEXT,
    -- One mail per key at most (expiry reminders: one per checkbook and expiry date).
    dedupe_key       TEXT UNIQUE,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at          TIMESTAMPTZ,
    CHECK ((status = 'sent') = (sent_at IS NOT NULL)),
    CHECK (attachment IS NULL OR attachment_name IS NOT NULL)
);
-- What the worker looks for: mails due, and attempts left in 'sending' by a crash.
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status IN ('waiting', 'sending');
CREATE INDEX outbox_status_id ON outbox (status, id);

-- Invitations of users created without a password: a single-use, expiring token,
-- of which only the SHA-256 is stored.
CREATE TABLE invitations (
    id          UUID PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES users (id),
    token_hash  TEXT NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX invitations_user ON invitations (user_id);
