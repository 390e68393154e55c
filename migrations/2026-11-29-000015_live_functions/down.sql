-- Back to before the functions files: the verdict, the last usable day and the
-- label's validity they added go, and the redemption function is again the one of
-- migration 000011 (history, kept here so that a rollback of the release leaves a
-- working database behind; the live body is in sql/functions/redemption.sql).
DROP FUNCTION IF EXISTS ticket_verdict(TEXT, NUMERIC, UUID, DATE, DATE);
DROP FUNCTION IF EXISTS ticket_last_day(DATE, INTEGER);
DROP FUNCTION IF EXISTS label_active(TIMESTAMPTZ, DATE, DATE, DATE);

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
