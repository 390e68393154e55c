-- History: the live bodies of the functions and triggers created here are in
-- sql/functions/redemption.sql (redeem_ticket) and sql/functions/ledger.sql
-- (ledger_account_id) (re-applied after every migration run, src/db.rs).

-- Redemption in one round trip: the whole use case (idempotency claim, label, ticket
-- lock, refusals, ledger movement, redemption, stored outcome) runs in one function
-- call, so a scan costs the database one statement and one commit. The rules are the
-- ones src/redemptions.rs documents; the service renders the outcome this function
-- returns (and, for a replayed key, the outcome it stored).

-- A redemption carries what a statement line says of its ticket: its serial and
-- its checkbook's number (a statement is drawn from redemptions alone).
ALTER TABLE redemptions ADD COLUMN serial TEXT, ADD COLUMN checkbook_number TEXT;
UPDATE redemptions r SET serial = t.serial, checkbook_number = c.number
    FROM tickets t JOIN checkbooks c ON c.id = t.checkbook_id
    WHERE t.id = r.ticket_id;
ALTER TABLE redemptions ALTER COLUMN serial SET NOT NULL,
                        ALTER COLUMN checkbook_number SET NOT NULL;

-- A ledger account by its code, created on first use.
CREATE FUNCTION ledger_account_id(p_code TEXT, p_kind TEXT, p_program UUID, p_organization UUID, p_name TEXT, p_new_id UUID)
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

-- The outcome of one scan, as JSON: {"outcome": "redeemed", "redemption": {...}} or
-- {"outcome": <refusal code>, ...}. p_claimed_value is the value a scanned code
-- carries (NULL for a typed serial); p_scan_day is the French day the scan counts
-- for; p_today the French day of its arrival (for the label); p_account_names the
-- names of the outstanding, site payable and commission accounts; p_ids the ids to
-- give the redemption, its ledger transaction and any account created.
CREATE FUNCTION redeem_ticket(
    p_user UUID, p_site UUID, p_key TEXT, p_request_hash TEXT,
    p_serial TEXT, p_claimed_value NUMERIC, p_method TEXT,
    p_scanned_at TIMESTAMPTZ, p_scan_day DATE, p_today DATE,
    p_description TEXT, p_account_names TEXT[], p_ids UUID[]
) RETURNS JSONB LANGUAGE plpgsql AS $$
DECLARE
    stored_hash    TEXT;
    stored         JSONB;
    site_postcode  TEXT;
    label_ok       BOOLEAN;
    tk             RECORD;
    prior          RECORD;
    commission     NUMERIC;
    payable        NUMERIC;
    acc_outstanding UUID;
    acc_payable    UUID;
    acc_commission UUID;
    r              redemptions%ROWTYPE;
    outcome        JSONB;
BEGIN
    -- The key first: a replay answers what was stored, and a request with the same
    -- key at the same time waits (on the key's lock) for the first one's commit, then
    -- answers what it stored. The key's row is written once, with its outcome.
    SELECT request_hash, response_body INTO stored_hash, stored
        FROM idempotency_keys WHERE user_id = p_user AND scope = 'redemptions' AND key = p_key;
    IF NOT FOUND THEN
        PERFORM pg_advisory_xact_lock(hashtextextended('redemptions:' || p_user || ':' || p_key, 0));
        SELECT request_hash, response_body INTO stored_hash, stored
            FROM idempotency_keys WHERE user_id = p_user AND scope = 'redemptions' AND key = p_key;
    END IF;
    IF FOUND THEN
        IF stored_hash IS DISTINCT FROM p_request_hash THEN
            RETURN jsonb_build_object('outcome', 'idempotency_key_reused');
        END IF;
        RETURN stored;
    END IF;

    <<judge>>
    BEGIN
        SELECT o.postcode,
               coalesce(l.suspended_at IS NULL AND l.valid_from <= p_today AND p_today <= l.valid_until, false)
            INTO site_postcode, label_ok
            FROM organizations o LEFT JOIN site_labels l ON l.site_id = o.id
            WHERE o.id = p_site AND o.kind = 'site';
        IF NOT FOUND THEN
            outcome := jsonb_build_object('outcome', 'unknown_site');
            EXIT judge;
        END IF;
        IF NOT label_ok THEN
            outcome := jsonb_build_object('outcome', 'label_inactive');
            EXIT judge;
        END IF;

        -- The ticket's row only is locked (never the program's, which every
        -- redemption of the program shares).
        SELECT t.id, t.value, t.status, t.valid_until, c.status AS checkbook_status,
               c.number AS checkbook_number,
               p.id AS program_id, p.commission_rate, p.tolerance_days,
               p.territory_postcodes AS territory
            INTO tk
            FROM tickets t JOIN checkbooks c ON c.id = t.checkbook_id JOIN programs p ON p.id = t.program_id
            WHERE t.serial = p_serial
            FOR UPDATE OF t;
        IF NOT FOUND OR (p_claimed_value IS NOT NULL AND tk.value <> p_claimed_value) THEN
            outcome := jsonb_build_object('outcome', 'invalid_code');
            EXIT judge;
        END IF;
        IF tk.status IN ('redeemed', 'settled') THEN
            SELECT redeemed_at, site_id INTO prior FROM redemptions
                WHERE ticket_id = tk.id AND status <> 'reversed';
            outcome := jsonb_build_object('outcome', 'already_redeemed',
                'redeemed_at', prior.redeemed_at, 'by_your_site', prior.site_id = p_site);
            EXIT judge;
        END IF;
        IF tk.status = 'expired' THEN
            outcome := jsonb_build_object('outcome', 'ticket_expired');
            EXIT judge;
        END IF;
        IF tk.status = 'cancelled' OR tk.checkbook_status = 'cancelled' THEN
            outcome := jsonb_build_object('outcome', 'ticket_cancelled');
            EXIT judge;
        END IF;
        IF tk.checkbook_status = 'stock' THEN
            outcome := jsonb_build_object('outcome', 'not_handed_out');
            EXIT judge;
        END IF;
        IF p_scan_day > tk.valid_until + tk.tolerance_days THEN
            outcome := jsonb_build_object('outcome', 'ticket_expired');
            EXIT judge;
        END IF;
        IF cardinality(tk.territory) > 0 AND NOT EXISTS (
            SELECT 1 FROM unnest(tk.territory) AS prefix WHERE starts_with(site_postcode, prefix)
        ) THEN
            outcome := jsonb_build_object('outcome', 'outside_territory');
            EXIT judge;
        END IF;

        -- Accepted: the commission rounds half away from zero (numeric round does),
        -- the site is owed the rest.
        commission := round(tk.value * tk.commission_rate, 2);
        payable := tk.value - commission;
        acc_outstanding := ledger_account_id('program:' || tk.program_id || ':outstanding',
            'outstanding', tk.program_id, NULL, p_account_names[1], p_ids[3]);
        acc_payable := ledger_account_id('program:' || tk.program_id || ':site:' || p_site || ':payable',
            'site_payable', tk.program_id, p_site, p_account_names[2], p_ids[4]);
        acc_commission := ledger_account_id('program:' || tk.program_id || ':commission',
            'commission', tk.program_id, NULL, p_account_names[3], p_ids[5]);
        INSERT INTO ledger_transactions (id, kind, description, program_id)
            VALUES (p_ids[2], 'redemption', p_description, tk.program_id);
        INSERT INTO ledger_postings (transaction_id, account_id, amount)
            SELECT p_ids[2], account, amount
            FROM (VALUES (acc_outstanding, -tk.value), (acc_payable, payable), (acc_commission, commission))
                AS movement (account, amount)
            WHERE amount <> 0;
        INSERT INTO redemptions (id, ticket_id, program_id, site_id, redeemed_by, method, value,
                                 commission, amount_payable, scanned_at, ledger_transaction_id,
                                 serial, checkbook_number)
            VALUES (p_ids[1], tk.id, tk.program_id, p_site, p_user, p_method, tk.value,
                    commission, payable, p_scanned_at, p_ids[2], p_serial, tk.checkbook_number)
            RETURNING * INTO r;
        UPDATE tickets SET status = 'redeemed', updated_at = now() WHERE id = tk.id;
        outcome := jsonb_build_object('outcome', 'redeemed', 'redemption',
            to_jsonb(r) || jsonb_build_object('value', r.value::text,
                'commission', r.commission::text, 'amount_payable', r.amount_payable::text));
    END judge;

    INSERT INTO idempotency_keys (user_id, scope, key, request_hash, response_status, response_body)
        VALUES (p_user, 'redemptions', p_key, p_request_hash,
                CASE outcome->>'outcome'
                    WHEN 'redeemed' THEN 201
                    WHEN 'already_redeemed' THEN 409 WHEN 'not_handed_out' THEN 409
                    WHEN 'ticket_expired' THEN 410 WHEN 'ticket_cancelled' THEN 410
                    WHEN 'invalid_code' THEN 422
                    WHEN 'label_inactive' THEN 403 WHEN 'outside_territory' THEN 403
                    ELSE 404 END,
                outcome);
    RETURN outcome;
END $$;
