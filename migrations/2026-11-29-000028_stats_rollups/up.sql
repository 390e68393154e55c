-- Issue 14, performance: the statistics of a national program (2 million checkbooks,
-- 20 million tickets) read from rollups kept by the database instead of aggregating
-- every ticket. The live functions and triggers that keep them are in
-- sql/functions/stats.sql; how they stay equal to the raw rows is told there.

-- Each checkbook's contribution to the statistics, as last folded: its keys (the
-- beneficiary's birth year, situation and postcode, its prescriber) and its counts,
-- with unused tickets counted as outstanding whatever the day (`next_expiry`, the
-- first last day of its unused tickets, says when that stops being true).
CREATE TABLE stats_books (
    checkbook_id UUID PRIMARY KEY,
    program_id UUID NOT NULL,
    prescriber_id UUID NOT NULL,
    handed_out BOOLEAN NOT NULL,
    birth_year INTEGER,
    situation TEXT,
    postcode TEXT,
    next_expiry DATE,
    checkbooks_issued BIGINT NOT NULL,
    checkbooks_in_stock BIGINT NOT NULL,
    checkbooks_handed_out BIGINT NOT NULL,
    checkbooks_started BIGINT NOT NULL,
    checkbooks_cancelled BIGINT NOT NULL,
    tickets_issued BIGINT NOT NULL,
    tickets_handed_out BIGINT NOT NULL,
    tickets_in_stock BIGINT NOT NULL,
    tickets_redeemed BIGINT NOT NULL,
    tickets_settled BIGINT NOT NULL,
    tickets_expired BIGINT NOT NULL,
    tickets_cancelled BIGINT NOT NULL,
    tickets_outstanding BIGINT NOT NULL,
    amount_issued NUMERIC NOT NULL,
    amount_handed_out NUMERIC NOT NULL,
    amount_redeemed NUMERIC NOT NULL,
    amount_settled NUMERIC NOT NULL,
    commission NUMERIC NOT NULL,
    amount_expired NUMERIC NOT NULL,
    amount_cancelled NUMERIC NOT NULL,
    amount_outstanding NUMERIC NOT NULL,
    -- The beneficiary's priority publics (as recorded; counted when handed out).
    publics TEXT[],
    -- The latest follow-up's autonomy levels, 'before:after' (none: NULL).
    autonomy TEXT,
    -- One element per live redemption, 'theme|format|value': the theme and format of
    -- the service it named (empty: none) and its value.
    services TEXT[]
);
CREATE INDEX stats_books_next_expiry ON stats_books (program_id, next_expiry);

-- The sums of stats_books per program and key: dim is 'total' (key ''),
-- 'prescriber', 'birth_year', 'situation', 'postcode' or 'public' (key 'unknown' when
-- missing; the beneficiary's keys for handed-out checkbooks only), 'autonomy'
-- (key 'before:after'), 'theme' or 'format' (the services the tickets paid for: one
-- person, and that key's tickets and amount). See stats_book_cells_of in
-- sql/functions/stats.sql.
CREATE TABLE stats_book_cells (
    program_id UUID NOT NULL,
    dim TEXT NOT NULL,
    key TEXT NOT NULL,
    checkbooks_issued BIGINT NOT NULL,
    checkbooks_in_stock BIGINT NOT NULL,
    checkbooks_handed_out BIGINT NOT NULL,
    checkbooks_started BIGINT NOT NULL,
    checkbooks_cancelled BIGINT NOT NULL,
    tickets_issued BIGINT NOT NULL,
    tickets_handed_out BIGINT NOT NULL,
    tickets_in_stock BIGINT NOT NULL,
    tickets_redeemed BIGINT NOT NULL,
    tickets_settled BIGINT NOT NULL,
    tickets_expired BIGINT NOT NULL,
    tickets_cancelled BIGINT NOT NULL,
    tickets_outstanding BIGINT NOT NULL,
    amount_issued NUMERIC NOT NULL,
    amount_handed_out NUMERIC NOT NULL,
    amount_redeemed NUMERIC NOT NULL,
    amount_settled NUMERIC NOT NULL,
    commission NUMERIC NOT NULL,
    amount_expired NUMERIC NOT NULL,
    amount_cancelled NUMERIC NOT NULL,
    amount_outstanding NUMERIC NOT NULL,
    PRIMARY KEY (program_id, dim, key)
);

-- Redemptions per program, site and month of arrival (French time, 'YYYY-MM'): the
-- live ones, their amounts, the reversals; the settled ones.
CREATE TABLE stats_site_months (
    program_id UUID NOT NULL,
    site_id UUID NOT NULL,
    month TEXT NOT NULL,
    tickets_redeemed BIGINT NOT NULL,
    amount_redeemed NUMERIC NOT NULL,
    commission NUMERIC NOT NULL,
    tickets_settled BIGINT NOT NULL,
    amount_settled NUMERIC NOT NULL,
    reversals BIGINT NOT NULL,
    PRIMARY KEY (program_id, site_id, month)
);

-- What changed since the last fold, appended by the triggers (no update:
-- a redemption adds a row and waits for no one): a checkbook (or a ticket, whose
-- checkbook it names) to compute again, and a redemption's change to its site-month.
-- Its key is a sequence: appends never wait on each other.
CREATE TABLE stats_changes (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    program_id UUID NOT NULL,
    checkbook_id UUID,
    ticket_id UUID,
    site_id UUID,
    month TEXT,
    tickets_redeemed BIGINT NOT NULL DEFAULT 0,
    amount_redeemed NUMERIC NOT NULL DEFAULT 0,
    commission NUMERIC NOT NULL DEFAULT 0,
    tickets_settled BIGINT NOT NULL DEFAULT 0,
    amount_settled NUMERIC NOT NULL DEFAULT 0,
    reversals BIGINT NOT NULL DEFAULT 0
);

-- The existing rows: every checkbook to compute at the first fold (stats.sql ends
-- with one), every redemption already in its site-month.
INSERT INTO stats_changes (program_id, checkbook_id) SELECT program_id, id FROM checkbooks;
INSERT INTO stats_site_months
SELECT r.program_id, r.site_id, to_char(r.redeemed_at AT TIME ZONE 'Europe/Paris', 'YYYY-MM'),
       count(*) FILTER (WHERE r.status <> 'reversed'::redemption_status),
       COALESCE(sum(r.value) FILTER (WHERE r.status <> 'reversed'::redemption_status), 0),
       COALESCE(sum(r.commission) FILTER (WHERE r.status <> 'reversed'::redemption_status), 0),
       count(*) FILTER (WHERE r.status = 'settled'::redemption_status OR (r.status = 'redeemed'::redemption_status
                               AND EXISTS (SELECT 1 FROM settlements s WHERE r.redeemed_at >= s.starts_at AND r.redeemed_at < s.ends_at))),
       COALESCE(sum(r.value) FILTER (WHERE r.status = 'settled'::redemption_status OR (r.status = 'redeemed'::redemption_status
                               AND EXISTS (SELECT 1 FROM settlements s WHERE r.redeemed_at >= s.starts_at AND r.redeemed_at < s.ends_at))), 0),
       count(*) FILTER (WHERE r.status = 'reversed'::redemption_status)
FROM redemptions r
GROUP BY 1, 2, 3;
