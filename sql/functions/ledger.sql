-- The ledger's live functions and triggers (src/ledger.rs has the chart of accounts).
-- Re-applied after every migration run (src/db.rs, `apply_functions`): every
-- statement here is idempotent. Migrations 000002, 000006 and 000011 created these
-- and stay as history; the live body of each function is here, and only here.

-- The ledger is append-only (and so are the rows that other files point at with it:
-- statements, settlements, settlement names, program funders, redemptions).
CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
DROP TRIGGER IF EXISTS ledger_postings_append_only ON ledger_postings;
CREATE TRIGGER ledger_postings_append_only BEFORE UPDATE OR DELETE ON ledger_postings
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER IF EXISTS ledger_postings_no_truncate ON ledger_postings;
CREATE TRIGGER ledger_postings_no_truncate BEFORE TRUNCATE ON ledger_postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER IF EXISTS ledger_transactions_append_only ON ledger_transactions;
CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER IF EXISTS ledger_transactions_no_truncate ON ledger_transactions;
CREATE TRIGGER ledger_transactions_no_truncate BEFORE TRUNCATE ON ledger_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

-- A transaction must balance (at least two postings summing to zero) and name a
-- program that exists, checked when the database transaction commits (so its
-- postings can be inserted one statement at a time).
CREATE OR REPLACE FUNCTION ledger_transaction_balances() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    total          NUMERIC;
    n              BIGINT;
    program_known  BOOLEAN;
BEGIN
    SELECT coalesce(sum(amount), 0), count(*),
           NEW.program_id IS NULL OR EXISTS (SELECT 1 FROM programs WHERE id = NEW.program_id)
        INTO total, n, program_known
        FROM ledger_postings WHERE transaction_id = NEW.id;
    IF n < 2 OR total <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % does not balance (% postings, sum %)', NEW.id, n, total
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_transaction_balanced';
    END IF;
    IF NOT program_known THEN
        RAISE EXCEPTION 'ledger transaction % refers to program % that does not exist', NEW.id, NEW.program_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'ledger_transactions_program_exists';
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS ledger_transaction_balanced ON ledger_transactions;
CREATE CONSTRAINT TRIGGER ledger_transaction_balanced
    AFTER INSERT ON ledger_transactions DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_transaction_balances();

-- Postings: one check per statement, for all its rows: each belongs to a ledger
-- transaction created by the same database transaction (postings added later would
-- unbalance a committed one) and to an account that exists. Checked without the
-- shared lock of a foreign key (see references.sql).
CREATE OR REPLACE FUNCTION ledger_postings_belong() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    stray RECORD;
BEGIN
    SELECT n.transaction_id, n.account_id, t.id IS NULL AS outside INTO stray
        FROM new_postings n
        LEFT JOIN ledger_transactions t ON t.id = n.transaction_id AND t.created_txid = txid_current()
        LEFT JOIN ledger_accounts a ON a.id = n.account_id
        WHERE t.id IS NULL OR a.id IS NULL
        LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF stray.outside THEN
        RAISE EXCEPTION 'posting to ledger transaction % outside the database transaction that created it', stray.transaction_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_posting_in_new_transaction';
    END IF;
    RAISE EXCEPTION 'posting to ledger account % that does not exist', stray.account_id
        USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'ledger_postings_account_exists';
END $$;
DROP TRIGGER IF EXISTS ledger_postings_belong ON ledger_postings;
CREATE TRIGGER ledger_postings_belong AFTER INSERT ON ledger_postings
    REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_postings_belong();

-- A ledger account by its code, created on first use (the codes are built by
-- src/ledger.rs, `AccountRef::code`, and by redeem_ticket in redemption.sql; a test
-- holds the two together). The account's name is given by the caller: the names
-- live in src/ledger.rs (`AccountRef::name`).
CREATE OR REPLACE FUNCTION ledger_account_id(p_code TEXT, p_kind TEXT, p_program UUID, p_organization UUID, p_name TEXT, p_new_id UUID)
RETURNS UUID LANGUAGE plpgsql AS $$
DECLARE
    found_id UUID;
BEGIN
    SELECT id INTO found_id FROM ledger_accounts WHERE code = p_code;
    IF FOUND THEN
        RETURN found_id;
    END IF;
    INSERT INTO ledger_accounts (id, code, kind, program_id, organization_id, name)
        VALUES (p_new_id, p_code, p_kind, p_program, p_organization, p_name)
        ON CONFLICT (code) DO NOTHING;
    SELECT id INTO found_id FROM ledger_accounts WHERE code = p_code;
    RETURN found_id;
END $$;

-- A payout confirmed (POST /statements/{id}/paid) is kept as it was recorded, like
-- the ledger transaction it names (migration 000034).
DROP TRIGGER IF EXISTS statement_payments_immutable ON statement_payments;
CREATE TRIGGER statement_payments_immutable BEFORE UPDATE OR DELETE ON statement_payments
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER IF EXISTS statement_payments_no_truncate ON statement_payments;
CREATE TRIGGER statement_payments_no_truncate BEFORE TRUNCATE ON statement_payments
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
