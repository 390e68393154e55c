-- History: the live bodies of the functions and triggers created here are in
-- sql/functions/ledger.sql (re-applied after every migration run, src/db.rs).

-- Programs, their funders and allocations; the double-entry ledger; checkbooks and
-- tickets; idempotency of retried requests.

CREATE TABLE programs (
    id                     UUID PRIMARY KEY,
    name                   TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    ticket_value           NUMERIC(10, 2) NOT NULL CHECK (ticket_value > 0),
    tickets_per_checkbook  INTEGER NOT NULL CHECK (tickets_per_checkbook BETWEEN 1 AND 20),
    -- Validity: a number of days from issue, or a fixed last day; then a tolerance.
    validity_days          INTEGER CHECK (validity_days BETWEEN 1 AND 3650),
    valid_until            DATE,
    tolerance_days         INTEGER NOT NULL DEFAULT 0 CHECK (tolerance_days BETWEEN 0 AND 365),
    commission_rate        NUMERIC(5, 4) NOT NULL CHECK (commission_rate >= 0 AND commission_rate < 1),
    funder_fee_rate        NUMERIC(5, 4) NOT NULL CHECK (funder_fee_rate >= 0 AND funder_fee_rate < 1),
    budget                 NUMERIC(14, 2) NOT NULL CHECK (budget > 0),
    territory_postcodes    TEXT[] NOT NULL DEFAULT '{}',
    status                 TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    closed_at              TIMESTAMPTZ,
    created_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((validity_days IS NULL) <> (valid_until IS NULL))
);

CREATE TABLE program_funders (
    program_id  UUID NOT NULL REFERENCES programs (id),
    funder_id   UUID NOT NULL REFERENCES organizations (id),
    share       NUMERIC(5, 4) NOT NULL CHECK (share > 0 AND share <= 1),
    PRIMARY KEY (program_id, funder_id)
);
CREATE INDEX program_funders_funder ON program_funders (funder_id);

-- Allocations are added, never edited: a prescriber's allowance is their sum.
CREATE TABLE allocations (
    id             UUID PRIMARY KEY,
    program_id     UUID NOT NULL REFERENCES programs (id),
    prescriber_id  UUID NOT NULL REFERENCES organizations (id),
    checkbooks     INTEGER NOT NULL CHECK (checkbooks > 0),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX allocations_program_prescriber ON allocations (program_id, prescriber_id);

CREATE TABLE payments (
    id           UUID PRIMARY KEY,
    program_id   UUID NOT NULL REFERENCES programs (id),
    funder_id    UUID NOT NULL REFERENCES organizations (id),
    amount       NUMERIC(14, 2) NOT NULL CHECK (amount > 0),
    reference    TEXT NOT NULL,
    received_on  DATE NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (program_id, funder_id, reference)
);

-- ============================================================================
-- Ledger. Amounts are signed: a debit is positive, a credit negative; the postings
-- of a transaction sum to zero. Balances are sums of postings: writers only append,
-- so no account becomes a row that every writer locks.
-- ============================================================================

CREATE TABLE ledger_accounts (
    id               UUID PRIMARY KEY,
    -- Stable key, e.g. 'program:<id>:available' or 'program:<id>:site:<id>:payable'.
    code             TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL CHECK (kind IN (
        'funder_commitment',    -- credit: what a funder pledged to a program
        'funder_unpaid',        -- debit: pledged, not yet received
        'available',            -- debit: received, not yet put into tickets
        'outstanding',          -- debit: value of tickets in circulation
        'site_payable',         -- debit: value earmarked for a site, not yet paid
        'commission',           -- debit: operator's commission, not yet paid
        'site_paid',            -- debit: paid out to a site
        'commission_paid',      -- debit: paid out to the operator
        'funder_refunded',      -- debit: returned to a funder (credit note)
        'fee_receivable',       -- debit: fees billed to a funder
        'fee_income'            -- credit: the operator's fee income
    )),
    program_id       UUID REFERENCES programs (id),
    organization_id  UUID REFERENCES organizations (id),
    name             TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX ledger_accounts_owner ON ledger_accounts (organization_id);
CREATE INDEX ledger_accounts_program ON ledger_accounts (program_id);

CREATE TABLE ledger_transactions (
    id           UUID PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN (
        'commitment', 'payment', 'issuance', 'cancellation', 'expiry', 'redemption',
        'reversal', 'settlement', 'closing'
    )),
    description  TEXT NOT NULL,
    program_id   UUID REFERENCES programs (id),
    reverses     UUID REFERENCES ledger_transactions (id),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- The database transaction that wrote it (top level, even inside a savepoint).
    created_txid BIGINT NOT NULL DEFAULT txid_current()
);
CREATE INDEX ledger_transactions_program ON ledger_transactions (program_id, created_at);

CREATE TABLE ledger_postings (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id  UUID NOT NULL REFERENCES ledger_transactions (id),
    account_id      UUID NOT NULL REFERENCES ledger_accounts (id),
    amount          NUMERIC(14, 2) NOT NULL CHECK (amount <> 0)
);
CREATE INDEX ledger_postings_transaction ON ledger_postings (transaction_id);
CREATE INDEX ledger_postings_account ON ledger_postings (account_id) INCLUDE (amount);

-- A transaction must balance, checked when the database transaction commits (so
-- its postings can be inserted one statement at a time).
CREATE FUNCTION ledger_transaction_balances() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    total NUMERIC;
    n     BIGINT;
BEGIN
    SELECT coalesce(sum(amount), 0), count(*) INTO total, n
        FROM ledger_postings WHERE transaction_id = NEW.id;
    IF n < 2 OR total <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % does not balance (% postings, sum %)', NEW.id, n, total
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_transaction_balanced';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER ledger_transaction_balanced
    AFTER INSERT ON ledger_transactions DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_transaction_balances();

-- Postings added later to an already committed transaction would unbalance it: a
-- posting must belong to a transaction created in the same database transaction.
CREATE FUNCTION ledger_posting_in_new_transaction() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM ledger_transactions
                   WHERE id = NEW.transaction_id AND created_txid = txid_current()) THEN
        RAISE EXCEPTION 'posting to ledger transaction % outside the database transaction that created it', NEW.transaction_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_posting_in_new_transaction';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER ledger_posting_in_new_transaction BEFORE INSERT ON ledger_postings
    FOR EACH ROW EXECUTE FUNCTION ledger_posting_in_new_transaction();

-- The ledger is append-only.
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER ledger_postings_append_only BEFORE UPDATE OR DELETE ON ledger_postings
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_postings_no_truncate BEFORE TRUNCATE ON ledger_postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_transactions_no_truncate BEFORE TRUNCATE ON ledger_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

-- ============================================================================
-- Checkbooks and tickets.
-- ============================================================================

CREATE SEQUENCE checkbook_number_seq;

-- A print run: stock checkbooks issued together, printed as one PDF.
CREATE TABLE print_runs (
    id             UUID PRIMARY KEY,
    program_id     UUID NOT NULL REFERENCES programs (id),
    prescriber_id  UUID NOT NULL REFERENCES organizations (id),
    checkbooks     INTEGER NOT NULL CHECK (checkbooks > 0),
    created_by     UUID NOT NULL REFERENCES users (id),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE checkbooks (
    id                      UUID PRIMARY KEY,
    number                  TEXT NOT NULL UNIQUE,
    program_id              UUID NOT NULL REFERENCES programs (id),
    prescriber_id           UUID NOT NULL REFERENCES organizations (id),
    print_run_id            UUID REFERENCES print_runs (id),
    issued_by               UUID NOT NULL REFERENCES users (id),
    status                  TEXT NOT NULL CHECK (status IN ('stock', 'handed_out', 'cancelled')),
    -- Beneficiary: the least the statistics need. No name, no address.
    beneficiary_reference   TEXT,
    beneficiary_email       TEXT,
    beneficiary_birth_year  INTEGER CHECK (beneficiary_birth_year BETWEEN 1900 AND 2100),
    beneficiary_postcode    TEXT CHECK (beneficiary_postcode ~ '^[0-9]{5}$'),
    beneficiary_situation   TEXT,
    valid_until             DATE NOT NULL,
    issued_at               TIMESTAMPTZ NOT NULL DEFAULT now(),
    handed_out_at           TIMESTAMPTZ,
    handed_out_by           UUID REFERENCES users (id),
    cancelled_at            TIMESTAMPTZ,
    cancel_reason           TEXT,
    CHECK ((status = 'stock') = (beneficiary_reference IS NULL)
           OR status = 'cancelled'),
    CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
);
CREATE INDEX checkbooks_prescriber ON checkbooks (prescriber_id, id);
CREATE INDEX checkbooks_program ON checkbooks (program_id, prescriber_id) WHERE status <> 'cancelled';
CREATE INDEX checkbooks_print_run ON checkbooks (print_run_id) WHERE print_run_id IS NOT NULL;

CREATE TABLE tickets (
    id            UUID PRIMARY KEY,
    checkbook_id  UUID NOT NULL REFERENCES checkbooks (id),
    program_id    UUID NOT NULL REFERENCES programs (id),
    position      SMALLINT NOT NULL CHECK (position BETWEEN 1 AND 20),
    serial        TEXT NOT NULL UNIQUE,
    value         NUMERIC(10, 2) NOT NULL CHECK (value > 0),
    status        TEXT NOT NULL DEFAULT 'issued'
                  CHECK (status IN ('issued', 'redeemed', 'settled', 'cancelled', 'expired')),
    valid_until   DATE NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (checkbook_id, position)
);
CREATE INDEX tickets_program_status ON tickets (program_id, status);

-- ============================================================================
-- Idempotency: the answer given to a key, stored in the same transaction as the
-- work it answers, so a retry gets the same answer and never redoes the work.
-- ============================================================================

CREATE TABLE idempotency_keys (
    user_id          UUID NOT NULL REFERENCES users (id),
    scope            TEXT NOT NULL,
    key              TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    request_hash     TEXT NOT NULL,
    response_status  SMALLINT NOT NULL,
    response_body    JSONB NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, scope, key)
);
