-- References checked without locks, rows that are never removed, and site labels. Re-applied
-- after every migration run (src/db.rs): idempotent. Migrations 000001 and 000011
-- created these and stay as history; the live bodies are here, and only here.
--
-- A foreign key check locks the row it points to (FOR KEY SHARE); every redemption
-- points to the same program, site, agent and ledger accounts, so those references
-- are checked by triggers that read without locking, which is safe because what they
-- point to is never deleted and never changes its id (refuse_removal).

-- Rows other rows point to without a foreign key are never removed nor renumbered.
CREATE OR REPLACE FUNCTION refuse_removal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'rows of % are never deleted nor given another id: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['organizations', 'users', 'programs', 'tickets', 'ledger_accounts',
                           'site_services', 'service_sessions'] LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', t || '_kept', t);
        EXECUTE format('CREATE TRIGGER %I BEFORE DELETE OR UPDATE OF id ON %I
                            FOR EACH ROW EXECUTE FUNCTION refuse_removal()', t || '_kept', t);
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', t || '_not_truncated', t);
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I
                            FOR EACH STATEMENT EXECUTE FUNCTION refuse_removal()', t || '_not_truncated', t);
    END LOOP;
END $$;

-- A site's label is active on a day: not suspended, and the day between its dates.
-- The one home of that rule: the redemption verdict (redemption.sql) and the public
-- directory of labelled sites (src/organizations.rs, `labelled_sites`) ask it. An
-- IMMUTABLE SQL expression: inlined where it is asked. NULL dates (no label): NULL.
CREATE OR REPLACE FUNCTION label_active(p_suspended_at TIMESTAMPTZ, p_valid_from DATE,
                                        p_valid_until DATE, p_day DATE)
RETURNS BOOLEAN LANGUAGE sql IMMUTABLE AS $$
    SELECT p_suspended_at IS NULL AND p_valid_from <= p_day AND p_day <= p_valid_until
$$;

-- Only organisations of kind 'site' may hold a label.
CREATE OR REPLACE FUNCTION site_labels_only_sites() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM organizations WHERE id = NEW.site_id AND kind = 'site') THEN
        RAISE EXCEPTION 'organisation % is not a site', NEW.site_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'site_labels_only_sites';
    END IF;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS site_labels_only_sites ON site_labels;
CREATE TRIGGER site_labels_only_sites BEFORE INSERT OR UPDATE ON site_labels
    FOR EACH ROW EXECUTE FUNCTION site_labels_only_sites();

-- A redemption's references, checked in one statement when it is written (its facts
-- never change afterwards: redemptions_keep_facts). Its ticket must be of its program.
-- The same statement appends what the redemption counts for to the statistics'
-- rollups (`stats_changes`, sql/functions/stats.sql): its ticket, whose checkbook is
-- computed again, and its site-month. One trigger and one statement per scan, not
-- two of each: a scan is the hot path (docs/BENCHMARKS.md, redemption).
CREATE OR REPLACE FUNCTION redemptions_references_exist() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_changes (program_id, ticket_id, site_id, month, tickets_redeemed,
                               amount_redeemed, commission, tickets_settled, amount_settled, reversals)
    SELECT NEW.program_id, NEW.ticket_id, NEW.site_id,
           to_char(NEW.redeemed_at AT TIME ZONE 'Europe/Paris', 'YYYY-MM'), c.*
      FROM stats_redemption_counts(NEW.status, NEW.value, NEW.commission) c
     WHERE EXISTS (SELECT 1 FROM tickets WHERE id = NEW.ticket_id AND program_id = NEW.program_id)
       AND EXISTS (SELECT 1 FROM organizations WHERE id = NEW.site_id AND kind = 'site')
       AND EXISTS (SELECT 1 FROM users WHERE id = NEW.redeemed_by)
       AND EXISTS (SELECT 1 FROM ledger_transactions WHERE id = NEW.ledger_transaction_id);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'redemption % refers to a ticket, program, site, user or ledger transaction that does not exist', NEW.id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'redemptions_references_exist';
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS redemptions_references_exist ON redemptions;
CREATE TRIGGER redemptions_references_exist AFTER INSERT ON redemptions
    FOR EACH ROW EXECUTE FUNCTION redemptions_references_exist();

-- An idempotency key's user.
CREATE OR REPLACE FUNCTION idempotency_keys_user_exists() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM users WHERE id = NEW.user_id) THEN
        RAISE EXCEPTION 'idempotency key of user % that does not exist', NEW.user_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'idempotency_keys_user_exists';
    END IF;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS idempotency_keys_user_exists ON idempotency_keys;
CREATE TRIGGER idempotency_keys_user_exists BEFORE INSERT ON idempotency_keys
    FOR EACH ROW EXECUTE FUNCTION idempotency_keys_user_exists();
