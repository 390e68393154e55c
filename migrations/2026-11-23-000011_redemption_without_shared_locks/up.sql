-- History: the live bodies of the functions and triggers created here are in
-- sql/functions/references.sql, sql/functions/ledger.sql and
-- sql/functions/redemption.sql (redeem_ticket) (re-applied after every migration run, src/db.rs).

-- Redemption without shared locks. A foreign key check locks the row it points to
-- (FOR KEY SHARE); every redemption points to the same program, site, agent and three
-- ledger accounts, so under load each of those rows gathers a crowd of lockers: a
-- multixact and its WAL for almost every commit. Those references are now checked
-- without a lock, which is safe because what they point to is never deleted and never
-- changes its id (enforced below): a row seen once stays.

-- Rows other rows point to without a foreign key are never removed nor renumbered.
CREATE FUNCTION refuse_removal() RETURNS trigger LANGUAGE plpgsql AS $$
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
    FOREACH t IN ARRAY ARRAY['organizations', 'users', 'programs', 'tickets', 'ledger_accounts'] LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE DELETE OR UPDATE OF id ON %I
                            FOR EACH ROW EXECUTE FUNCTION refuse_removal()', t || '_kept', t);
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I
                            FOR EACH STATEMENT EXECUTE FUNCTION refuse_removal()', t || '_not_truncated', t);
    END LOOP;
END $$;

-- A redemption's references, checked in one statement when it is written (its facts
-- never change afterwards: redemptions_keep_facts). Its ticket must be of its program.
ALTER TABLE redemptions DROP CONSTRAINT redemptions_ticket_id_fkey,
                        DROP CONSTRAINT redemptions_program_id_fkey,
                        DROP CONSTRAINT redemptions_site_id_fkey,
                        DROP CONSTRAINT redemptions_redeemed_by_fkey,
                        DROP CONSTRAINT redemptions_ledger_transaction_id_fkey;
CREATE FUNCTION redemptions_references_exist() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT (EXISTS (SELECT 1 FROM tickets WHERE id = NEW.ticket_id AND program_id = NEW.program_id)
            AND EXISTS (SELECT 1 FROM organizations WHERE id = NEW.site_id AND kind = 'site')
            AND EXISTS (SELECT 1 FROM users WHERE id = NEW.redeemed_by)
            AND EXISTS (SELECT 1 FROM ledger_transactions WHERE id = NEW.ledger_transaction_id)) THEN
        RAISE EXCEPTION 'redemption % refers to a ticket, program, site, user or ledger transaction that does not exist', NEW.id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'redemptions_references_exist';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER redemptions_references_exist AFTER INSERT ON redemptions
    FOR EACH ROW EXECUTE FUNCTION redemptions_references_exist();

-- Postings: one check per statement, for all its rows: each belongs to a ledger
-- transaction created by the same database transaction (as before) and to an account
-- that exists.
ALTER TABLE ledger_postings DROP CONSTRAINT ledger_postings_transaction_id_fkey,
                            DROP CONSTRAINT ledger_postings_account_id_fkey;
DROP TRIGGER ledger_posting_in_new_transaction ON ledger_postings;
DROP FUNCTION ledger_posting_in_new_transaction();
CREATE FUNCTION ledger_postings_belong() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE TRIGGER ledger_postings_belong AFTER INSERT ON ledger_postings
    REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_postings_belong();

-- A ledger transaction's program is checked with its balance, at commit.
ALTER TABLE ledger_transactions DROP CONSTRAINT ledger_transactions_program_id_fkey;
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

-- An idempotency key's user.
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_user_id_fkey;
CREATE FUNCTION idempotency_keys_user_exists() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM users WHERE id = NEW.user_id) THEN
        RAISE EXCEPTION 'idempotency key of user % that does not exist', NEW.user_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'idempotency_keys_user_exists';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER idempotency_keys_user_exists BEFORE INSERT ON idempotency_keys
    FOR EACH ROW EXECUTE FUNCTION idempotency_keys_user_exists();

-- Fewer index entries per ledger movement: a posting is found by its transaction
-- through the primary key itself (transaction first), and transactions were never
-- looked up by program.
DROP INDEX ledger_transactions_program;
ALTER TABLE ledger_postings DROP CONSTRAINT ledger_postings_pkey,
                            ADD PRIMARY KEY (transaction_id, id);
DROP INDEX ledger_postings_transaction;

-- The redemption function, in three statements for an accepted scan: one read of
-- everything the decision needs (the stored answer, the site and its label, the
-- ticket with its checkbook and program, the three ledger accounts), one conditional
-- update that claims the ticket, and one statement that writes the ledger movement,
-- the redemption and the stored answer together.
--
-- Exactly once: the claim `UPDATE tickets ... WHERE status = 'issued'` waits for a
-- concurrent redemption of the same ticket and then finds it no longer issued, so
-- only one claim succeeds (and redemptions_one_live_per_ticket holds it in the
-- database whatever the code). A key used by two requests at the same time: the
-- second's insert of the stored answer waits for the first, finds the key taken, and
-- raises serialization_failure, which undoes everything it wrote; the service then
-- calls again and gets the first request's stored answer.
CREATE OR REPLACE FUNCTION redeem_ticket(
    p_user UUID, p_site UUID, p_key TEXT, p_request_hash TEXT,
    p_serial TEXT, p_claimed_value NUMERIC, p_method TEXT,
    p_scanned_at TIMESTAMPTZ, p_scan_day DATE, p_today DATE,
    p_description TEXT, p_account_names TEXT[], p_ids UUID[]
) RETURNS JSONB LANGUAGE plpgsql AS $$
DECLARE
    seen     RECORD;
    prior    RECORD;
    outcome  JSONB;
    status   SMALLINT;
    commission NUMERIC;
    payable  NUMERIC;
    acc_outstanding UUID;
    acc_payable     UUID;
    acc_commission  UUID;
BEGIN
    SELECT k.request_hash AS stored_hash, k.response_body AS stored,
           s.site_id IS NOT NULL AS site_found, s.postcode AS site_postcode,
           coalesce(s.label_ok, false) AS label_ok,
           t.id AS ticket_id, t.value, t.status AS ticket_status, t.valid_until,
           c.status AS checkbook_status, c.number AS checkbook_number,
           p.id AS program_id, p.commission_rate, p.tolerance_days,
           p.territory_postcodes AS territory,
           ao.id AS outstanding_id, ap.id AS payable_id, ac.id AS commission_id
        INTO seen
        FROM (VALUES (1)) AS one (x)
        LEFT JOIN idempotency_keys k
               ON k.user_id = p_user AND k.scope = 'redemptions' AND k.key = p_key
        LEFT JOIN (SELECT o.id AS site_id, o.postcode,
                          l.suspended_at IS NULL AND l.valid_from <= p_today AND p_today <= l.valid_until AS label_ok
                     FROM organizations o LEFT JOIN site_labels l ON l.site_id = o.id
                    WHERE o.id = p_site AND o.kind = 'site') AS s ON true
        LEFT JOIN (tickets t JOIN checkbooks c ON c.id = t.checkbook_id
                             JOIN programs p ON p.id = t.program_id)
               ON t.serial = p_serial
        LEFT JOIN ledger_accounts ao ON ao.code = 'program:' || p.id || ':outstanding'
        LEFT JOIN ledger_accounts ap ON ap.code = 'program:' || p.id || ':site:' || p_site || ':payable'
        LEFT JOIN ledger_accounts ac ON ac.code = 'program:' || p.id || ':commission';

    IF seen.stored IS NOT NULL THEN
        IF seen.stored_hash IS DISTINCT FROM p_request_hash THEN
            RETURN jsonb_build_object('outcome', 'idempotency_key_reused');
        END IF;
        RETURN seen.stored;
    END IF;

    <<judge>>
    BEGIN
        IF NOT seen.site_found THEN
            outcome := jsonb_build_object('outcome', 'unknown_site');
            EXIT judge;
        END IF;
        IF NOT seen.label_ok THEN
            outcome := jsonb_build_object('outcome', 'label_inactive');
            EXIT judge;
        END IF;
        IF seen.ticket_id IS NULL OR (p_claimed_value IS NOT NULL AND seen.value <> p_claimed_value) THEN
            outcome := jsonb_build_object('outcome', 'invalid_code');
            EXIT judge;
        END IF;
        IF seen.ticket_status = 'issued' THEN
            IF seen.checkbook_status = 'cancelled' THEN
                outcome := jsonb_build_object('outcome', 'ticket_cancelled');
                EXIT judge;
            END IF;
            IF seen.checkbook_status = 'stock' THEN
                outcome := jsonb_build_object('outcome', 'not_handed_out');
                EXIT judge;
            END IF;
            IF p_scan_day > seen.valid_until + seen.tolerance_days THEN
                outcome := jsonb_build_object('outcome', 'ticket_expired');
                EXIT judge;
            END IF;
            IF cardinality(seen.territory) > 0 AND NOT EXISTS (
                SELECT 1 FROM unnest(seen.territory) AS prefix WHERE starts_with(seen.site_postcode, prefix)
            ) THEN
                outcome := jsonb_build_object('outcome', 'outside_territory');
                EXIT judge;
            END IF;
            -- The claim: waits for a concurrent claim of the same ticket, then finds
            -- it no longer issued.
            UPDATE tickets SET status = 'redeemed', updated_at = now()
                WHERE id = seen.ticket_id AND tickets.status = 'issued';
            IF FOUND THEN
                EXIT judge;
            END IF;
            SELECT t.status INTO seen.ticket_status FROM tickets t WHERE t.id = seen.ticket_id;
        END IF;
        -- Not issued (when read, or since).
        IF seen.ticket_status IN ('redeemed', 'settled') THEN
            SELECT r.redeemed_at, r.site_id INTO prior FROM redemptions r
                WHERE r.ticket_id = seen.ticket_id AND r.status <> 'reversed';
            outcome := jsonb_build_object('outcome', 'already_redeemed',
                'redeemed_at', prior.redeemed_at, 'by_your_site', prior.site_id = p_site);
        ELSIF seen.ticket_status = 'expired' THEN
            outcome := jsonb_build_object('outcome', 'ticket_expired');
        ELSE
            outcome := jsonb_build_object('outcome', 'ticket_cancelled');
        END IF;
    END judge;

    IF outcome IS NULL THEN
        -- Claimed: the commission rounds half away from zero (numeric round does), the
        -- site is owed the rest.
        commission := round(seen.value * seen.commission_rate, 2);
        payable := seen.value - commission;
        acc_outstanding := coalesce(seen.outstanding_id, ledger_account_id(
            'program:' || seen.program_id || ':outstanding',
            'outstanding', seen.program_id, NULL, p_account_names[1], p_ids[3]));
        acc_payable := coalesce(seen.payable_id, ledger_account_id(
            'program:' || seen.program_id || ':site:' || p_site || ':payable',
            'site_payable', seen.program_id, p_site, p_account_names[2], p_ids[4]));
        acc_commission := coalesce(seen.commission_id, ledger_account_id(
            'program:' || seen.program_id || ':commission',
            'commission', seen.program_id, NULL, p_account_names[3], p_ids[5]));
        WITH movement AS (
            INSERT INTO ledger_transactions (id, kind, description, program_id)
                VALUES (p_ids[2], 'redemption', p_description, seen.program_id)
        ), postings AS (
            INSERT INTO ledger_postings (transaction_id, account_id, amount)
                SELECT p_ids[2], account, amount
                FROM (VALUES (acc_outstanding, -seen.value), (acc_payable, payable),
                             (acc_commission, commission)) AS leg (account, amount)
                WHERE amount <> 0
        ), redemption AS (
            INSERT INTO redemptions (id, ticket_id, program_id, site_id, redeemed_by, method, value,
                                     commission, amount_payable, scanned_at, ledger_transaction_id,
                                     serial, checkbook_number)
                VALUES (p_ids[1], seen.ticket_id, seen.program_id, p_site, p_user, p_method, seen.value,
                        commission, payable, p_scanned_at, p_ids[2], p_serial, seen.checkbook_number)
                RETURNING *
        )
        INSERT INTO idempotency_keys (user_id, scope, key, request_hash, response_status, response_body)
            SELECT p_user, 'redemptions', p_key, p_request_hash, 201,
                   jsonb_build_object('outcome', 'redeemed', 'redemption',
                       to_jsonb(r) || jsonb_build_object('value', r.value::text,
                           'commission', r.commission::text, 'amount_payable', r.amount_payable::text))
            FROM redemption r
            ON CONFLICT DO NOTHING
            RETURNING response_body INTO outcome;
    ELSE
        status := CASE outcome->>'outcome'
                      WHEN 'already_redeemed' THEN 409 WHEN 'not_handed_out' THEN 409
                      WHEN 'ticket_expired' THEN 410 WHEN 'ticket_cancelled' THEN 410
                      WHEN 'invalid_code' THEN 422
                      WHEN 'label_inactive' THEN 403 WHEN 'outside_territory' THEN 403
                      ELSE 404 END;
        INSERT INTO idempotency_keys (user_id, scope, key, request_hash, response_status, response_body)
            VALUES (p_user, 'redemptions', p_key, p_request_hash, status, outcome)
            ON CONFLICT DO NOTHING
            RETURNING response_body INTO outcome;
    END IF;
    IF outcome IS NULL THEN
        RAISE EXCEPTION 'idempotency key % was claimed by a concurrent request: call again for its answer', p_key
            USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN outcome;
END $$;
