DELETE FROM outbox WHERE kind = 'password_reset';
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN
    ('checkbook', 'invitation', 'statement_ready', 'expiry_reminder'));
DROP TABLE password_resets;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
ALTER TABLE users DROP COLUMN last_login_at,
                  DROP COLUMN active;
