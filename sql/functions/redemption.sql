-- Redemption: the verdict on a ticket (is it redeemable, here, on this day?) and
-- the redemption itself, in one function call per scan. Re-applied after every
-- migration run (src/db.rs): idempotent. Migrations 000006, 000007, 000011 and
-- 000013 created these and stay as history; the live bodies are here, and only here.

-- What a redemption says never changes (only a reversal marks it), and a settled
-- redemption never changes at all: nothing leaves or enters a settled period.
CREATE OR REPLACE FUNCTION redemptions_keep_facts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.id, NEW.ticket_id, NEW.program_id, NEW.site_id, NEW.redeemed_by, NEW.method,
        NEW.value, NEW.commission, NEW.amount_payable, NEW.ledger_transaction_id,
        NEW.serial, NEW.checkbook_number, NEW.service_id, NEW.session_id)
       IS DISTINCT FROM
       (OLD.id, OLD.ticket_id, OLD.program_id, OLD.site_id, OLD.redeemed_by, OLD.method,
        OLD.value, OLD.commission, OLD.amount_payable, OLD.ledger_transaction_id,
        OLD.serial, OLD.checkbook_number, OLD.service_id, OLD.session_id) THEN
        RAISE EXCEPTION 'a redemption''s facts never change (only its status, by a reversal)'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF EXISTS (SELECT 1 FROM settlements
               WHERE tstzrange(starts_at, ends_at) @> OLD.redeemed_at
                  OR tstzrange(starts_at, ends_at) @> NEW.redeemed_at) THEN
        RAISE EXCEPTION 'redemption % is in a settled period: it never changes', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS redemptions_keep_facts ON redemptions;
CREATE TRIGGER redemptions_keep_facts BEFORE UPDATE ON redemptions
    FOR EACH ROW EXECUTE FUNCTION redemptions_keep_facts();
DROP TRIGGER IF EXISTS redemptions_no_delete ON redemptions;
CREATE TRIGGER redemptions_no_delete BEFORE DELETE ON redemptions
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

-- A redemption never lands in a settled period (migration 000013 tells the race it
-- closes). The settlement takes `LOCK TABLE redemptions IN SHARE MODE`; this trigger
-- runs inside the redemption's INSERT, so after any settlement that held the lock
-- committed, and its query (a fresh snapshot) sees that settlement. The refusal
-- undoes the whole `redeem_ticket` statement, its stored answer included; the
-- service calls again, in the open period. Cost: one probe of `settlements`.
CREATE OR REPLACE FUNCTION redemptions_outside_settled_periods() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM settlements
               WHERE tstzrange(starts_at, ends_at) @> NEW.redeemed_at) THEN
        RAISE EXCEPTION 'redemption % of % falls in a settled period: it is refused', NEW.id, NEW.redeemed_at
            USING ERRCODE = 'check_violation', CONSTRAINT = 'redemptions_outside_settled_periods';
    END IF;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS redemptions_outside_settled_periods ON redemptions;
CREATE TRIGGER redemptions_outside_settled_periods BEFORE INSERT ON redemptions
    FOR EACH ROW EXECUTE FUNCTION redemptions_outside_settled_periods();

-- A ticket's last usable day: its validity plus its program's tolerance. The one
-- home of that rule: the verdict below, `passnum expire` and the closing of a
-- program (src/closing.rs) all ask it. An IMMUTABLE SQL expression: inlined.
CREATE OR REPLACE FUNCTION ticket_last_day(p_valid_until DATE, p_tolerance_days INTEGER)
RETURNS DATE LANGUAGE sql IMMUTABLE AS $$
    SELECT p_valid_until + p_tolerance_days
$$;

-- THE verdict: may this site redeem the ticket of this serial (and, for a scanned
-- code, of this value) for a scan counting for p_scan_day, the label judged on
-- p_today? `refusal` is NULL when it may, else the refusal's code, which the
-- service parses into its `Refusal` enum (src/redemptions.rs). It is the one home
-- of every sub-rule: the label's validity, the ticket's and its checkbook's state,
-- the last usable day (validity + tolerance), the program's territory. Both
-- `redeem_ticket` (below) and `POST /tickets/verify` ask it, so they cannot disagree.
--
-- Order of the refusals: the site, its label, the ticket's existence (a forged or
-- mistaken serial and a wrong value get the same `invalid_code`), then what became
-- of it (already redeemed, expired, cancelled), then, for an issued ticket, its
-- checkbook (cancelled, still in stock), its last day, its territory.
--
-- One SELECT in a STABLE SQL function: the planner inlines it into the caller's
-- query, so redeem_ticket still reads everything in one statement.
--
-- The statuses are PostgreSQL enums (migration 000016): each literal is cast to its
-- type, so a misspelt status fails when the function is created or planned. The
-- statuses it returns are text (the service parses them into `TicketStatus`), so
-- its signature stays what it was and `CREATE OR REPLACE` keeps working.
CREATE OR REPLACE FUNCTION ticket_verdict(
    p_serial TEXT, p_claimed_value NUMERIC, p_site UUID, p_scan_day DATE, p_today DATE
) RETURNS TABLE (
    refusal TEXT, site_found BOOLEAN, ticket_id UUID, value NUMERIC, ticket_status TEXT,
    checkbook_status TEXT, checkbook_number TEXT, valid_until DATE, redeemable_until DATE,
    program_id UUID, program_name TEXT, commission_rate NUMERIC
) LANGUAGE sql STABLE AS $$
    SELECT CASE
               WHEN s.site_id IS NULL THEN 'unknown_site'
               WHEN NOT coalesce(s.label_ok, false) THEN 'label_inactive'
               WHEN t.id IS NULL OR (p_claimed_value IS NOT NULL AND t.value <> p_claimed_value)
                   THEN 'invalid_code'
               WHEN t.status IN ('redeemed'::ticket_status, 'settled'::ticket_status)
                   THEN 'already_redeemed'
               WHEN t.status = 'expired'::ticket_status THEN 'ticket_expired'
               WHEN t.status <> 'issued'::ticket_status OR c.status = 'cancelled'::checkbook_status
                   THEN 'ticket_cancelled'
               WHEN c.status = 'stock'::checkbook_status THEN 'not_handed_out'
               WHEN p_scan_day > ticket_last_day(t.valid_until, p.tolerance_days)
                   THEN 'ticket_expired'
               WHEN cardinality(p.territory_postcodes) > 0 AND NOT EXISTS (
                        SELECT 1 FROM unnest(p.territory_postcodes) AS prefix
                         WHERE starts_with(s.postcode, prefix)) THEN 'outside_territory'
           END,
           s.site_id IS NOT NULL, t.id, t.value, t.status::text, c.status::text, c.number,
           t.valid_until, ticket_last_day(t.valid_until, p.tolerance_days), p.id, p.name, p.commission_rate
      FROM (VALUES (1)) AS one (x)
      LEFT JOIN (SELECT o.id AS site_id, o.postcode,
                        label_active(l.suspended_at, l.valid_from, l.valid_until, p_today)
                            AS label_ok
                   FROM organizations o LEFT JOIN site_labels l ON l.site_id = o.id
                  WHERE o.id = p_site AND o.kind = 'site') AS s ON true
      LEFT JOIN (tickets t JOIN checkbooks c ON c.id = t.checkbook_id
                           JOIN programs p ON p.id = t.program_id)
             ON t.serial = p_serial
$$;

-- Redemption in one round trip: the whole use case (idempotency claim, verdict,
-- claim of the ticket, ledger movement, redemption, stored outcome) runs in one
-- function call, so a scan costs the database one statement and one commit. It
-- returns the outcome as JSON: {"outcome": "redeemed", "redemption": {...}} or
-- {"outcome": <refusal code>, ...} (and, for a replayed key, the outcome it stored).
-- p_claimed_value is the value a scanned code carries (NULL for a typed serial);
-- p_scan_day is the French day the scan counts for; p_today the French day of its
-- arrival (for the label); p_account_names the names of the outstanding, site
-- payable and commission accounts (src/ledger.rs); p_ids the ids to give the
-- redemption, its ledger transaction and any account created.
--
-- Three statements for an accepted scan: one read of everything the decision needs
-- (the stored answer, the verdict, the three ledger accounts), one conditional update
-- that claims the ticket, and one statement that writes the ledger movement, the
-- redemption and the stored answer together.
--
-- Exactly once: the claim `UPDATE tickets ... WHERE status = 'issued'` waits for a
-- concurrent redemption of the same ticket and then finds it no longer issued, so
-- only one claim succeeds (and redemptions_one_live_per_ticket holds it in the
-- database whatever the code); the loser asks the verdict again, on what is there
-- now. A key used by two requests at the same time: the second's insert of the
-- stored answer waits for the first, finds the key taken, and raises
-- serialization_failure, which undoes everything it wrote; the service then calls
-- again and gets the first request's stored answer.
--
-- The commission is value × the program's rate, rounded to the cent, halves away
-- from zero (numeric round does); the site is owed the rest.
-- p_service is the service the ticket paid for (NULL: not said), which must be a live
-- service of the site, else the answer is `unknown_service`, not stored with the key
-- (the request is wrong, not the ticket: the same key may be sent again, corrected);
-- p_session the collective session the scan belongs to (opened beforehand, for that
-- service, by src/services.rs), NULL for a scan of its own.
--
-- The signature grew two arguments (migration 000026): the older one is dropped here.
DROP FUNCTION IF EXISTS redeem_ticket(UUID, UUID, TEXT, TEXT, TEXT, NUMERIC, TEXT,
                                      TIMESTAMPTZ, DATE, DATE, TEXT, TEXT[], UUID[]);
CREATE OR REPLACE FUNCTION redeem_ticket(
    p_user UUID, p_site UUID, p_key TEXT, p_request_hash TEXT,
    p_serial TEXT, p_claimed_value NUMERIC, p_method TEXT,
    p_scanned_at TIMESTAMPTZ, p_scan_day DATE, p_today DATE,
    p_description TEXT, p_account_names TEXT[], p_ids UUID[],
    p_service UUID, p_session UUID
) RETURNS JSONB LANGUAGE plpgsql AS $$
DECLARE
    seen     RECORD;
    prior    RECORD;
    refused  TEXT;
    outcome  JSONB;
    status   SMALLINT;
    commission NUMERIC;
    payable  NUMERIC;
    acc_outstanding UUID;
    acc_payable     UUID;
    acc_commission  UUID;
BEGIN
    SELECT k.request_hash AS stored_hash, k.response_body AS stored,
           v.refusal, v.ticket_id, v.value, v.checkbook_number, v.program_id, v.commission_rate,
           ao.id AS outstanding_id, ap.id AS payable_id, ac.id AS commission_id
        INTO seen
        FROM ticket_verdict(p_serial, p_claimed_value, p_site, p_scan_day, p_today) AS v
        LEFT JOIN idempotency_keys k
               ON k.user_id = p_user AND k.scope = 'redemptions' AND k.key = p_key
        LEFT JOIN ledger_accounts ao ON ao.code = 'program:' || v.program_id || ':outstanding'
        LEFT JOIN ledger_accounts ap ON ap.code = 'program:' || v.program_id || ':site:' || p_site || ':payable'
        LEFT JOIN ledger_accounts ac ON ac.code = 'program:' || v.program_id || ':commission';

    IF seen.stored IS NOT NULL THEN
        IF seen.stored_hash IS DISTINCT FROM p_request_hash THEN
            RETURN jsonb_build_object('outcome', 'idempotency_key_reused');
        END IF;
        RETURN seen.stored;
    END IF;

    IF p_service IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM site_services sv
             WHERE sv.id = p_service AND sv.site_id = p_site AND sv.retired_at IS NULL) THEN
        RETURN jsonb_build_object('outcome', 'unknown_service');
    END IF;

    refused := seen.refusal;
    IF refused IS NULL THEN
        -- The claim: waits for a concurrent claim of the same ticket, then finds it
        -- no longer issued; the verdict is then asked again (a fresh snapshot).
        UPDATE tickets SET status = 'redeemed'::ticket_status, updated_at = now()
            WHERE id = seen.ticket_id AND tickets.status = 'issued'::ticket_status;
        IF NOT FOUND THEN
            SELECT v.refusal INTO refused
                FROM ticket_verdict(p_serial, p_claimed_value, p_site, p_scan_day, p_today) AS v;
            IF refused IS NULL THEN
                RAISE EXCEPTION 'ticket % changed twice during its claim: call again', p_serial
                    USING ERRCODE = 'serialization_failure';
            END IF;
        END IF;
    END IF;

    IF refused IS NULL THEN
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
                                     serial, checkbook_number, service_id, session_id)
                VALUES (p_ids[1], seen.ticket_id, seen.program_id, p_site, p_user, p_method, seen.value,
                        commission, payable, p_scanned_at, p_ids[2], p_serial, seen.checkbook_number,
                        p_service, p_session)
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
        IF refused = 'already_redeemed' THEN
            SELECT r.redeemed_at, r.site_id INTO prior FROM redemptions r
                WHERE r.ticket_id = seen.ticket_id AND r.status <> 'reversed'::redemption_status;
            outcome := jsonb_build_object('outcome', refused,
                'redeemed_at', prior.redeemed_at, 'by_your_site', prior.site_id = p_site);
        ELSE
            outcome := jsonb_build_object('outcome', refused);
        END IF;
        -- The stored status is a record for whoever reads the table; the service
        -- answers from the stored body (src/api/redemptions.rs, `Refusal::status`).
        status := CASE refused
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

-- A scan once committed inside a procedure of this name (called with CALL); it now
-- reads the statement's answer to its end instead (src/redemptions.rs, `redeem`). A
-- database that ran that release loses the procedure here.
DROP PROCEDURE IF EXISTS redeem_ticket_durably(UUID, UUID, TEXT, TEXT, TEXT, NUMERIC, TEXT,
    TIMESTAMPTZ, DATE, DATE, TEXT, TEXT[], UUID[], UUID, UUID, JSONB);
