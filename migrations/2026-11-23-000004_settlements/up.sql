-- History: the live bodies of the functions and triggers created here are in
-- sql/functions/settlement.sql (re-applied after every migration run, src/db.rs).

-- Settlements and statements.
--
-- A settlement covers a period of French calendar days, [starts_at, ends_at) in
-- instants. Every live redemption that arrived within it is settled by it: its site is
-- paid, its funders billed. Periods never overlap (the database refuses it), so no
-- redemption is ever in two settlements. A period is settled only once it is over,
-- so no redemption can arrive in it afterwards.

CREATE TABLE settlements (
    id            UUID PRIMARY KEY,
    period_start  DATE NOT NULL,
    period_end    DATE NOT NULL,
    starts_at     TIMESTAMPTZ NOT NULL,
    ends_at       TIMESTAMPTZ NOT NULL,
    created_by    UUID REFERENCES users (id),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (period_start <= period_end),
    CHECK (starts_at < ends_at),
    CONSTRAINT settlements_no_overlap EXCLUDE USING gist (tstzrange(starts_at, ends_at) WITH &&)
);

-- Gapless numbering per year: one counter row per year, taken under its row lock.
CREATE TABLE statement_counters (
    year  INTEGER PRIMARY KEY,
    last  INTEGER NOT NULL
);

CREATE TABLE statements (
    id               UUID PRIMARY KEY,
    number           TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL CHECK (kind IN ('site_payout', 'funder_bill', 'commission', 'credit_note')),
    organization_id  UUID NOT NULL REFERENCES organizations (id),
    settlement_id    UUID REFERENCES settlements (id),
    program_id       UUID REFERENCES programs (id),
    period_start     DATE NOT NULL,
    period_end       DATE NOT NULL,
    lines            INTEGER NOT NULL CHECK (lines >= 0),
    total            NUMERIC(14, 2) NOT NULL,
    sha256           TEXT NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX statements_organization ON statements (organization_id, created_at);
CREATE INDEX statements_settlement ON statements (settlement_id);

-- Statements are immutable; so are settlements.
CREATE TRIGGER statements_immutable BEFORE UPDATE OR DELETE ON statements
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER settlements_immutable BEFORE UPDATE OR DELETE ON settlements
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

CREATE INDEX redemptions_time ON redemptions (redeemed_at) WHERE status <> 'reversed';
