-- The statistics' rollups (issue 14, performance; tables of migration 000028).
-- Re-applied after every migration run (src/db.rs): idempotent. Read by src/stats.rs
-- (`ROLLED_*`) for the whole-program statistics (operator, funders, open data).
--
-- How they stay equal to the raw rows:
-- - every change of a checkbook, a ticket, a redemption or a follow-up
--   (`evaluations`), and every correction of a service's theme or format (its
--   redemptions' checkbooks), appends rows to
--   `stats_changes` in the same transaction (triggers below, and a scan's one row
--   from the trigger that checks a redemption's references, in references.sql; the
--   table has no index and a scan updates nothing shared, so scans never wait for
--   each other: `docs/BENCHMARKS.md`, redemption, tells what a scan's mark costs);
-- - `stats_fold()` (one at a time: an advisory lock) takes the rows it sees out of
--   `stats_changes`, computes those checkbooks again from the raw rows
--   (`stats_books_fresh`), writes the difference into `stats_book_cells` and the new
--   contribution into `stats_books` in ONE statement (one snapshot), and adds the
--   redemptions' changes to `stats_site_months`. A change committed after its
--   fold's DELETE keeps its row, so is folded again later;
-- - so, in any snapshot, cells = the sum of stats_books, and stats_books = the raw
--   rows, except for the checkbooks named in stats_changes and those whose unused
--   tickets reached their last day (`next_expiry`): the reader corrects exactly
--   those, computing them afresh (`stats_books_fresh(ids, last expired day)`) minus
--   their stats_books row. It adds the unfolded redemption changes the same way;
-- - a settlement makes redemptions settled without touching them: its trigger adds
--   them to `stats_site_months` (a settled redemption never changes again, nothing
--   enters a settled period) and computes their checkbooks again, folding at once.
-- tests/api/stats_rollups.rs compares the rollup-based answer with the raw one after
-- random operations.

-- The keys a checkbook counts under: the total, its prescriber; for a handed-out one
-- its beneficiary's birth year, situation, postcode and each of its publics
-- ('unknown' when missing; no public recorded is the public 'unknown', as in
-- src/stats/publics.rs); its latest follow-up's autonomy levels ('before:after').
DROP FUNCTION IF EXISTS stats_book_keys(UUID, BOOLEAN, INTEGER, TEXT, TEXT);
CREATE OR REPLACE FUNCTION stats_book_keys(b stats_books) RETURNS TABLE (dim TEXT, key TEXT)
LANGUAGE sql IMMUTABLE AS $$
    SELECT v.dim, v.key
      FROM (VALUES ('total', ''), ('prescriber', b.prescriber_id::text)) AS v (dim, key)
    UNION ALL
    SELECT v.dim, v.key
      FROM (VALUES ('birth_year', COALESCE(b.birth_year::text, 'unknown')),
                   ('situation', COALESCE(b.situation, 'unknown')),
                   ('postcode', COALESCE(b.postcode, 'unknown'))) AS v (dim, key)
     WHERE b.handed_out
    UNION ALL
    SELECT DISTINCT 'public', p.public
      FROM unnest(CASE WHEN cardinality(b.publics) = 0 THEN ARRAY['unknown']::text[]
                       ELSE b.publics END) AS p (public)
     WHERE b.handed_out AND p.public IS NOT NULL
    UNION ALL
    SELECT 'autonomy', b.autonomy WHERE b.autonomy IS NOT NULL
$$;

-- What a checkbook adds to stats_book_cells (times p_sign: 1 to add, -1 to take
-- back): its counts under each of its keys; and under each theme and format of the
-- services its live redemptions named ('unknown': none), one person
-- (checkbooks_issued) with that key's tickets (tickets_redeemed) and amount
-- (amount_redeemed), as src/stats/services.rs counts them.
CREATE OR REPLACE FUNCTION stats_book_cells_of(b stats_books, p_sign INTEGER)
RETURNS TABLE (dim TEXT, key TEXT,
    checkbooks_issued BIGINT, checkbooks_in_stock BIGINT, checkbooks_handed_out BIGINT,
    checkbooks_started BIGINT, checkbooks_cancelled BIGINT, tickets_issued BIGINT,
    tickets_handed_out BIGINT, tickets_in_stock BIGINT, tickets_redeemed BIGINT,
    tickets_settled BIGINT, tickets_expired BIGINT, tickets_cancelled BIGINT,
    tickets_outstanding BIGINT, amount_issued NUMERIC, amount_handed_out NUMERIC,
    amount_redeemed NUMERIC, amount_settled NUMERIC, commission NUMERIC,
    amount_expired NUMERIC, amount_cancelled NUMERIC, amount_outstanding NUMERIC)
LANGUAGE sql IMMUTABLE AS $$
    SELECT k.dim, k.key,
           p_sign * b.checkbooks_issued, p_sign * b.checkbooks_in_stock,
           p_sign * b.checkbooks_handed_out, p_sign * b.checkbooks_started,
           p_sign * b.checkbooks_cancelled, p_sign * b.tickets_issued,
           p_sign * b.tickets_handed_out, p_sign * b.tickets_in_stock,
           p_sign * b.tickets_redeemed, p_sign * b.tickets_settled,
           p_sign * b.tickets_expired, p_sign * b.tickets_cancelled,
           p_sign * b.tickets_outstanding, p_sign * b.amount_issued,
           p_sign * b.amount_handed_out, p_sign * b.amount_redeemed,
           p_sign * b.amount_settled, p_sign * b.commission, p_sign * b.amount_expired,
           p_sign * b.amount_cancelled, p_sign * b.amount_outstanding
      FROM stats_book_keys(b) k
    UNION ALL
    SELECT s.dim, s.key, p_sign::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint,
           0::bigint, 0::bigint, 0::bigint, p_sign * s.tickets, 0::bigint, 0::bigint,
           0::bigint, 0::bigint, 0::numeric, 0::numeric, p_sign * s.amount, 0::numeric,
           0::numeric, 0::numeric, 0::numeric, 0::numeric
      FROM (
        SELECT v.dim, v.key, count(*) AS tickets, sum(split_part(u.service, '|', 3)::numeric) AS amount
          FROM unnest(b.services) AS u (service)
         CROSS JOIN LATERAL (VALUES ('theme', split_part(u.service, '|', 1)),
                                    ('format', split_part(u.service, '|', 2))) AS v0 (dim, part)
         CROSS JOIN LATERAL (SELECT v0.dim, COALESCE(NULLIF(v0.part, ''), 'unknown') AS key) v
         GROUP BY v.dim, v.key
      ) s
$$;

-- The state of a ticket for the statistics (one of them, or none for a ticket whose
-- status says used but has no live redemption): redeemed (its live redemption
-- `p_redemption`), settled (that redemption's arrival in a settled period, or its
-- status), cancelled, expired (or still issued up to `p_cut`, the last expired day),
-- outstanding. Without `p_cut`, an issued ticket is outstanding whatever its day. The
-- one home of these definitions: src/stats.rs's raw query and the rollups ask it.
CREATE OR REPLACE FUNCTION stats_ticket_state(
    p_redemption UUID, p_redemption_status redemption_status, p_redeemed_at TIMESTAMPTZ,
    p_periods tstzmultirange, p_status ticket_status, p_valid_until DATE, p_cut DATE
) RETURNS TABLE (redeemed BOOLEAN, settled BOOLEAN, cancelled BOOLEAN, expired BOOLEAN,
                 outstanding BOOLEAN)
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_redemption IS NOT NULL,
           p_redemption IS NOT NULL
               AND (p_redemption_status = 'settled'::redemption_status
                    OR COALESCE(p_periods @> p_redeemed_at, false)),
           p_redemption IS NULL AND p_status = 'cancelled'::ticket_status,
           p_redemption IS NULL AND (p_status = 'expired'::ticket_status
               OR (p_status = 'issued'::ticket_status AND p_cut IS NOT NULL AND p_valid_until <= p_cut)),
           p_redemption IS NULL AND p_status = 'issued'::ticket_status
               AND (p_cut IS NULL OR p_valid_until > p_cut)
$$;

-- The contribution of the checkbooks `p_ids` (distinct) as the raw rows say now; with
-- `p_cut` (the last expired day), unused issued tickets up to it count as expired,
-- as in src/stats.rs's raw query; without, as outstanding. A checkbook without
-- tickets counts nowhere (as in the raw query).
CREATE OR REPLACE FUNCTION stats_books_fresh(p_ids UUID[], p_cut DATE)
RETURNS SETOF stats_books LANGUAGE sql STABLE AS $$
SELECT c.id, c.program_id, c.prescriber_id, c.handed_out_at IS NOT NULL,
       c.beneficiary_birth_year, c.beneficiary_situation, c.beneficiary_postcode,
       min(t.valid_until) FILTER (WHERE r.id IS NULL AND t.status = 'issued'::ticket_status),
       1,
       (c.status = 'stock'::checkbook_status)::int,
       (c.handed_out_at IS NOT NULL)::int,
       (count(*) FILTER (WHERE x.redeemed) > 0)::int,
       (c.status = 'cancelled'::checkbook_status)::int,
       count(*),
       CASE WHEN c.handed_out_at IS NULL THEN 0 ELSE count(*) END,
       count(*) FILTER (WHERE x.outstanding AND c.status = 'stock'::checkbook_status),
       count(*) FILTER (WHERE x.redeemed),
       count(*) FILTER (WHERE x.settled),
       count(*) FILTER (WHERE x.expired),
       count(*) FILTER (WHERE x.cancelled),
       count(*) FILTER (WHERE x.outstanding),
       sum(t.value),
       CASE WHEN c.handed_out_at IS NULL THEN 0 ELSE sum(t.value) END,
       COALESCE(sum(t.value) FILTER (WHERE x.redeemed), 0),
       COALESCE(sum(t.value) FILTER (WHERE x.settled), 0),
       COALESCE(sum(r.commission) FILTER (WHERE x.redeemed), 0),
       COALESCE(sum(t.value) FILTER (WHERE x.expired), 0),
       COALESCE(sum(t.value) FILTER (WHERE x.cancelled), 0),
       COALESCE(sum(t.value) FILTER (WHERE x.outstanding), 0),
       c.beneficiary_publics,
       (SELECT e.level_before || ':' || e.level_after FROM evaluations e
         WHERE e.checkbook_id = c.id AND e.program_id = c.program_id
         ORDER BY e.updated_at DESC, e.id DESC LIMIT 1),
       array_agg(COALESCE(sv.theme, '') || '|' || COALESCE(sv.format, '') || '|' || r.value::text)
           FILTER (WHERE x.redeemed)
  FROM unnest(p_ids) AS i (id)
  JOIN checkbooks c ON c.id = i.id
  JOIN tickets t ON t.checkbook_id = c.id
  LEFT JOIN redemptions r ON r.ticket_id = t.id AND r.status <> 'reversed'::redemption_status
  LEFT JOIN site_services sv ON sv.id = r.service_id
 CROSS JOIN (SELECT range_agg(tstzrange(starts_at, ends_at)) AS periods FROM settlements) st
 CROSS JOIN LATERAL stats_ticket_state(r.id, r.status, r.redeemed_at, st.periods,
                                        t.status, t.valid_until, p_cut) x
 GROUP BY c.id
$$;

-- Folds stats_changes into the rollups; returns how many checkbooks it computed
-- again (NULL when p_wait is false and another fold is running). READ COMMITTED
-- only: each statement must see what the fold before it committed.
CREATE OR REPLACE FUNCTION stats_fold(p_wait BOOLEAN DEFAULT true) RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
    ids UUID[];
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'stats_fold runs in READ COMMITTED, not %', current_setting('transaction_isolation');
    END IF;
    IF p_wait THEN
        PERFORM pg_advisory_xact_lock(7365383120);
    ELSIF NOT pg_try_advisory_xact_lock(7365383120) THEN
        RETURN NULL;
    END IF;

    WITH gone AS (DELETE FROM stats_changes RETURNING *),
    sites AS (
        INSERT INTO stats_site_months AS m (program_id, site_id, month, tickets_redeemed, amount_redeemed, commission, tickets_settled, amount_settled, reversals)
        SELECT program_id, site_id, month, sum(tickets_redeemed), sum(amount_redeemed), sum(commission), sum(tickets_settled), sum(amount_settled), sum(reversals)
          FROM gone WHERE site_id IS NOT NULL
         GROUP BY program_id, site_id, month
        ON CONFLICT (program_id, site_id, month) DO UPDATE SET
        tickets_redeemed = m.tickets_redeemed + EXCLUDED.tickets_redeemed,
        amount_redeemed = m.amount_redeemed + EXCLUDED.amount_redeemed,
        commission = m.commission + EXCLUDED.commission,
        tickets_settled = m.tickets_settled + EXCLUDED.tickets_settled,
        amount_settled = m.amount_settled + EXCLUDED.amount_settled,
        reversals = m.reversals + EXCLUDED.reversals
    )
    SELECT array_agg(DISTINCT b.id) INTO ids
      FROM gone g
      LEFT JOIN tickets t ON t.id = g.ticket_id
     CROSS JOIN LATERAL (SELECT COALESCE(g.checkbook_id, t.checkbook_id) AS id) b
     WHERE b.id IS NOT NULL;
    IF ids IS NULL THEN
        RETURN 0;
    END IF;

    WITH fresh AS MATERIALIZED (SELECT * FROM stats_books_fresh(ids, NULL) f),
    old AS MATERIALIZED (
        SELECT s.* FROM stats_books s JOIN unnest(ids) AS i (id) ON s.checkbook_id = i.id
    ),
    kept AS (
        INSERT INTO stats_books SELECT * FROM fresh
        ON CONFLICT (checkbook_id) DO UPDATE SET
        program_id = EXCLUDED.program_id,
        prescriber_id = EXCLUDED.prescriber_id,
        handed_out = EXCLUDED.handed_out,
        birth_year = EXCLUDED.birth_year,
        situation = EXCLUDED.situation,
        postcode = EXCLUDED.postcode,
        next_expiry = EXCLUDED.next_expiry,
        checkbooks_issued = EXCLUDED.checkbooks_issued,
        checkbooks_in_stock = EXCLUDED.checkbooks_in_stock,
        checkbooks_handed_out = EXCLUDED.checkbooks_handed_out,
        checkbooks_started = EXCLUDED.checkbooks_started,
        checkbooks_cancelled = EXCLUDED.checkbooks_cancelled,
        tickets_issued = EXCLUDED.tickets_issued,
        tickets_handed_out = EXCLUDED.tickets_handed_out,
        tickets_in_stock = EXCLUDED.tickets_in_stock,
        tickets_redeemed = EXCLUDED.tickets_redeemed,
        tickets_settled = EXCLUDED.tickets_settled,
        tickets_expired = EXCLUDED.tickets_expired,
        tickets_cancelled = EXCLUDED.tickets_cancelled,
        tickets_outstanding = EXCLUDED.tickets_outstanding,
        amount_issued = EXCLUDED.amount_issued,
        amount_handed_out = EXCLUDED.amount_handed_out,
        amount_redeemed = EXCLUDED.amount_redeemed,
        amount_settled = EXCLUDED.amount_settled,
        commission = EXCLUDED.commission,
        amount_expired = EXCLUDED.amount_expired,
        amount_cancelled = EXCLUDED.amount_cancelled,
        amount_outstanding = EXCLUDED.amount_outstanding,
        publics = EXCLUDED.publics,
        autonomy = EXCLUDED.autonomy,
        services = EXCLUDED.services
    ),
    gone AS (
        DELETE FROM stats_books s USING old o
         WHERE s.checkbook_id = o.checkbook_id
           AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.checkbook_id = o.checkbook_id)
    )
    INSERT INTO stats_book_cells AS cl
    SELECT b.program_id, k.dim, k.key, sum(k.checkbooks_issued), sum(k.checkbooks_in_stock), sum(k.checkbooks_handed_out), sum(k.checkbooks_started), sum(k.checkbooks_cancelled), sum(k.tickets_issued), sum(k.tickets_handed_out), sum(k.tickets_in_stock), sum(k.tickets_redeemed), sum(k.tickets_settled), sum(k.tickets_expired), sum(k.tickets_cancelled), sum(k.tickets_outstanding), sum(k.amount_issued), sum(k.amount_handed_out), sum(k.amount_redeemed), sum(k.amount_settled), sum(k.commission), sum(k.amount_expired), sum(k.amount_cancelled), sum(k.amount_outstanding)
      FROM (SELECT 1 AS sign, ROW(f.*)::stats_books AS book FROM fresh f
            UNION ALL SELECT -1, ROW(o.*)::stats_books FROM old o) x
     CROSS JOIN LATERAL (SELECT (x.book).program_id) b (program_id)
     CROSS JOIN LATERAL stats_book_cells_of(x.book, x.sign) k
     GROUP BY b.program_id, k.dim, k.key
    ON CONFLICT (program_id, dim, key) DO UPDATE SET
        checkbooks_issued = cl.checkbooks_issued + EXCLUDED.checkbooks_issued,
        checkbooks_in_stock = cl.checkbooks_in_stock + EXCLUDED.checkbooks_in_stock,
        checkbooks_handed_out = cl.checkbooks_handed_out + EXCLUDED.checkbooks_handed_out,
        checkbooks_started = cl.checkbooks_started + EXCLUDED.checkbooks_started,
        checkbooks_cancelled = cl.checkbooks_cancelled + EXCLUDED.checkbooks_cancelled,
        tickets_issued = cl.tickets_issued + EXCLUDED.tickets_issued,
        tickets_handed_out = cl.tickets_handed_out + EXCLUDED.tickets_handed_out,
        tickets_in_stock = cl.tickets_in_stock + EXCLUDED.tickets_in_stock,
        tickets_redeemed = cl.tickets_redeemed + EXCLUDED.tickets_redeemed,
        tickets_settled = cl.tickets_settled + EXCLUDED.tickets_settled,
        tickets_expired = cl.tickets_expired + EXCLUDED.tickets_expired,
        tickets_cancelled = cl.tickets_cancelled + EXCLUDED.tickets_cancelled,
        tickets_outstanding = cl.tickets_outstanding + EXCLUDED.tickets_outstanding,
        amount_issued = cl.amount_issued + EXCLUDED.amount_issued,
        amount_handed_out = cl.amount_handed_out + EXCLUDED.amount_handed_out,
        amount_redeemed = cl.amount_redeemed + EXCLUDED.amount_redeemed,
        amount_settled = cl.amount_settled + EXCLUDED.amount_settled,
        commission = cl.commission + EXCLUDED.commission,
        amount_expired = cl.amount_expired + EXCLUDED.amount_expired,
        amount_cancelled = cl.amount_cancelled + EXCLUDED.amount_cancelled,
        amount_outstanding = cl.amount_outstanding + EXCLUDED.amount_outstanding;
    RETURN cardinality(ids);
END $$;

-- What changed, appended: checkbooks by id; tickets and follow-ups by their checkbook.
CREATE OR REPLACE FUNCTION stats_changed_books() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO stats_changes (program_id, checkbook_id) SELECT program_id, id FROM old_rows;
    ELSE
        INSERT INTO stats_changes (program_id, checkbook_id) SELECT program_id, id FROM new_rows;
    END IF;
    RETURN NULL;
END $$;
-- A ticket changed in what the statistics read of it: its checkbook (and, moved to
-- another, the one it left). Row by row, for updates only (see its two triggers).
CREATE OR REPLACE FUNCTION stats_ticket_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_changes (program_id, checkbook_id) VALUES (NEW.program_id, NEW.checkbook_id);
    IF OLD.checkbook_id IS DISTINCT FROM NEW.checkbook_id THEN
        INSERT INTO stats_changes (program_id, checkbook_id) VALUES (OLD.program_id, OLD.checkbook_id);
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION stats_changed_tickets() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO stats_changes (program_id, checkbook_id)
        SELECT DISTINCT program_id, checkbook_id FROM old_rows;
    ELSE
        INSERT INTO stats_changes (program_id, checkbook_id)
        SELECT DISTINCT program_id, checkbook_id FROM new_rows;
    END IF;
    RETURN NULL;
END $$;

-- What one redemption counts for in its site-month, by its status.
CREATE OR REPLACE FUNCTION stats_redemption_counts(p_status redemption_status, p_value NUMERIC, p_commission NUMERIC)
RETURNS TABLE (tickets_redeemed BIGINT, amount_redeemed NUMERIC, commission NUMERIC,
               tickets_settled BIGINT, amount_settled NUMERIC, reversals BIGINT)
LANGUAGE sql IMMUTABLE AS $$
    SELECT (p_status <> 'reversed'::redemption_status)::int::bigint,
           CASE WHEN p_status <> 'reversed'::redemption_status THEN p_value ELSE 0 END,
           CASE WHEN p_status <> 'reversed'::redemption_status THEN p_commission ELSE 0 END,
           (p_status = 'settled'::redemption_status)::int::bigint,
           CASE WHEN p_status = 'settled'::redemption_status THEN p_value ELSE 0 END,
           (p_status = 'reversed'::redemption_status)::int::bigint
$$;

-- A redemption counts in its checkbook (by its ticket) and in its site-month: live
-- (not reversed) with its value and commission, settled by its status, or reversed.
-- A new one appends its contribution from the trigger that checks its references
-- (`redemptions_references_exist`, sql/functions/references.sql): one trigger per
-- scan. The trigger of this file's first version goes.
DROP TRIGGER IF EXISTS stats_redemptions_inserted ON redemptions;
DROP FUNCTION IF EXISTS stats_redemption_inserted();

-- An update (a reversal, a status) appends the new contribution and the old one
-- taken back, where it was counted: its site and month as they were.
CREATE OR REPLACE FUNCTION stats_redemptions_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_changes (program_id, ticket_id, site_id, month, tickets_redeemed,
                               amount_redeemed, commission, tickets_settled, amount_settled, reversals)
    SELECT n.program_id, n.ticket_id, n.site_id, to_char(n.redeemed_at AT TIME ZONE 'Europe/Paris', 'YYYY-MM'), c.*
      FROM new_rows n CROSS JOIN LATERAL stats_redemption_counts(n.status, n.value, n.commission) c
    UNION ALL
    SELECT o.program_id, o.ticket_id, o.site_id, to_char(o.redeemed_at AT TIME ZONE 'Europe/Paris', 'YYYY-MM'),
           -c.tickets_redeemed, -c.amount_redeemed, -c.commission, -c.tickets_settled,
           -c.amount_settled, -c.reversals
      FROM old_rows o CROSS JOIN LATERAL stats_redemption_counts(o.status, o.value, o.commission) c;
    RETURN NULL;
END $$;

-- A settlement: its redemptions become settled in their site-months, their
-- checkbooks are computed again, and folded at once (the next reader does not pay).
CREATE OR REPLACE FUNCTION stats_settled() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7365383120);
    INSERT INTO stats_site_months AS m (program_id, site_id, month, tickets_redeemed, amount_redeemed, commission, tickets_settled, amount_settled, reversals)
    SELECT r.program_id, r.site_id, to_char(r.redeemed_at AT TIME ZONE 'Europe/Paris', 'YYYY-MM'),
           0, 0, 0, count(*), sum(r.value), 0
      FROM new_rows s
      JOIN redemptions r ON r.redeemed_at >= s.starts_at AND r.redeemed_at < s.ends_at
     WHERE r.status = 'redeemed'::redemption_status
     GROUP BY 1, 2, 3
    ON CONFLICT (program_id, site_id, month) DO UPDATE SET
        tickets_redeemed = m.tickets_redeemed + EXCLUDED.tickets_redeemed,
        amount_redeemed = m.amount_redeemed + EXCLUDED.amount_redeemed,
        commission = m.commission + EXCLUDED.commission,
        tickets_settled = m.tickets_settled + EXCLUDED.tickets_settled,
        amount_settled = m.amount_settled + EXCLUDED.amount_settled,
        reversals = m.reversals + EXCLUDED.reversals;
    INSERT INTO stats_changes (program_id, ticket_id)
    SELECT r.program_id, r.ticket_id
      FROM new_rows s
      JOIN redemptions r ON r.redeemed_at >= s.starts_at AND r.redeemed_at < s.ends_at
     WHERE r.status <> 'reversed'::redemption_status;
    PERFORM stats_fold(true);
    RETURN NULL;
END $$;

-- A service's theme or format corrected: the checkbooks whose redemptions named it
-- count under another key.
CREATE OR REPLACE FUNCTION stats_services_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_changes (program_id, ticket_id)
    SELECT r.program_id, r.ticket_id
      FROM new_rows n
      JOIN old_rows o ON o.id = n.id
      JOIN redemptions r ON r.service_id = n.id
     WHERE (n.theme, n.format) IS DISTINCT FROM (o.theme, o.format);
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS stats_tickets_inserted ON tickets;
CREATE TRIGGER stats_tickets_inserted AFTER INSERT ON tickets
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_changed_tickets();
-- A ticket's update marks its checkbook when it changes what the statistics read:
-- its last day, value or checkbook (whatever its status), or its status, except
-- when it becomes 'redeemed'. That is a scan's claim, which never comes alone:
-- `redeem_ticket` (sql/functions/redemption.sql), the only place that claims,
-- inserts the redemption in the same statement, and that redemption names the
-- ticket (`redemptions_references_exist`), so its checkbook is computed again all
-- the same. A ticket said redeemed without a live redemption is a break that
-- `passnum check` reports (src/ledger.rs). Row-level, so a claim fills no transition
-- table; the claim sets no watched column but `status`, and the WHEN is one
-- comparison, because a trigger's WHEN is read again at every statement. A bulk
-- update (closing, a correction) appends a row per ticket, which the fold takes as
-- distinct checkbooks.
DROP TRIGGER IF EXISTS stats_tickets_updated ON tickets;
DROP TRIGGER IF EXISTS stats_tickets_status_changed ON tickets;
CREATE TRIGGER stats_tickets_status_changed AFTER UPDATE OF status ON tickets FOR EACH ROW
    WHEN (NEW.status <> 'redeemed'::ticket_status)
    EXECUTE FUNCTION stats_ticket_changed();
DROP TRIGGER IF EXISTS stats_tickets_moved ON tickets;
CREATE TRIGGER stats_tickets_moved AFTER UPDATE OF valid_until, value, checkbook_id, program_id
    ON tickets FOR EACH ROW EXECUTE FUNCTION stats_ticket_changed();
DROP TRIGGER IF EXISTS stats_tickets_deleted ON tickets;
CREATE TRIGGER stats_tickets_deleted AFTER DELETE ON tickets
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_changed_tickets();
DROP TRIGGER IF EXISTS stats_checkbooks_inserted ON checkbooks;
CREATE TRIGGER stats_checkbooks_inserted AFTER INSERT ON checkbooks
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_changed_books();
DROP TRIGGER IF EXISTS stats_checkbooks_updated ON checkbooks;
CREATE TRIGGER stats_checkbooks_updated AFTER UPDATE ON checkbooks
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_changed_books();
DROP TRIGGER IF EXISTS stats_checkbooks_deleted ON checkbooks;
CREATE TRIGGER stats_checkbooks_deleted AFTER DELETE ON checkbooks
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_changed_books();
DROP TRIGGER IF EXISTS stats_redemptions_updated ON redemptions;
CREATE TRIGGER stats_redemptions_updated AFTER UPDATE ON redemptions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_redemptions_changed();
DROP TRIGGER IF EXISTS stats_settlements_inserted ON settlements;
CREATE TRIGGER stats_settlements_inserted AFTER INSERT ON settlements
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_settled();

-- A follow-up recorded or corrected: its checkbook (by its id, as tickets do).
DROP TRIGGER IF EXISTS stats_evaluations_inserted ON evaluations;
CREATE TRIGGER stats_evaluations_inserted AFTER INSERT ON evaluations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_changed_tickets();
DROP TRIGGER IF EXISTS stats_evaluations_updated ON evaluations;
CREATE TRIGGER stats_evaluations_updated AFTER UPDATE ON evaluations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_changed_tickets();
DROP TRIGGER IF EXISTS stats_services_updated ON site_services;
CREATE TRIGGER stats_services_updated AFTER UPDATE ON site_services
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_services_changed();

-- What the migrations left to compute (the existing rows, at migration 000028).
SELECT stats_fold(true);
