-- The audit trail's live functions and triggers (table: migration 000017; Rust side:
-- src/audit.rs). Re-applied after every migration run: every statement is idempotent.

-- The text an entry's hash covers: every column but `hash` itself, in a fixed form
-- (times in UTC to the microsecond, jsonb in its normalised text), so that the same
-- row always gives the same text whatever the session's settings.
CREATE OR REPLACE FUNCTION audit_entry_text(e audit_entries) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT concat_ws(E'\x1f',
        e.seq::text, e.id::text,
        to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
        coalesce(e.actor_user_id::text, ''), coalesce(e.actor_organization_id::text, ''),
        coalesce(e.actor_label, ''), coalesce(e.organization_id::text, ''),
        e.entity_kind, e.entity_id::text, e.action,
        coalesce(e.before::text, ''), coalesce(e.after::text, ''), coalesce(e.reason, ''),
        coalesce(encode(e.prev_hash, 'hex'), ''))
$$;

-- Numbers and chains a new entry. The lock (held until the inserting transaction
-- ends) makes entries take their turn: the next one sees this one committed, or
-- rolled back and gone, so `seq` has no gap and each entry follows the last.
CREATE OR REPLACE FUNCTION audit_entry_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last audit_entries;
BEGIN
    PERFORM pg_advisory_xact_lock(7061737361756469);
    SELECT * INTO last FROM audit_entries ORDER BY seq DESC LIMIT 1;
    IF last.seq IS NULL THEN
        NEW.seq := 1;
        NEW.prev_hash := NULL;
    ELSE
        NEW.seq := last.seq + 1;
        NEW.prev_hash := last.hash;
    END IF;
    NEW.at := now();
    NEW.hash := sha256(convert_to(audit_entry_text(NEW), 'UTF8'));
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS audit_entries_chain ON audit_entries;
CREATE TRIGGER audit_entries_chain BEFORE INSERT ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION audit_entry_chain();

-- Append-only, as the ledger.
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
DROP TRIGGER IF EXISTS audit_entries_append_only ON audit_entries;
CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
DROP TRIGGER IF EXISTS audit_entries_no_truncate ON audit_entries;
CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

-- The first entry whose chain is broken (its hash does not match its content, its
-- `prev_hash` is not the previous entry's hash, or a number is missing), or none:
-- what `passnum check` asks.
CREATE OR REPLACE FUNCTION audit_chain_break() RETURNS TABLE (seq bigint, problem text)
LANGUAGE sql STABLE AS $$
    SELECT seq, problem FROM (
        SELECT e.seq,
               CASE WHEN e.hash <> sha256(convert_to(audit_entry_text(e), 'UTF8')) THEN 'content'
                    WHEN e.seq <> row_number() OVER (ORDER BY e.seq) THEN 'gap'
                    WHEN e.seq > 1 AND e.prev_hash IS DISTINCT FROM lag(e.hash) OVER (ORDER BY e.seq) THEN 'link'
               END AS problem
        FROM audit_entries e
    ) checked
    WHERE problem IS NOT NULL
    ORDER BY seq
    LIMIT 1
$$;
