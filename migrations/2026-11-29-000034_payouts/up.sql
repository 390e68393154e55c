-- Money out (issue 17): a site's BIC beside its IBAN; the account a payout statement
-- is paid to, recorded with the names when its settlement is made; payouts confirmed.
--
-- A settlement now moves what a site is owed from `site_payable` to `site_owed` (a
-- statement issued, the transfer not yet made); `POST /statements/{id}/paid` moves
-- it from `site_owed` to `site_paid` (transaction kind `payout`) and records the
-- payment here, once. Statements settled before this migration were counted paid by
-- their settlement (their money is in `site_paid` already): they are recorded paid
-- on their day, so that none is listed unpaid nor paid twice.

ALTER TABLE organizations
    ADD COLUMN bic TEXT CHECK (bic ~ '^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$');

ALTER TABLE settlement_names
    ADD COLUMN iban TEXT,
    ADD COLUMN bic  TEXT;

ALTER TABLE ledger_accounts DROP CONSTRAINT ledger_accounts_kind_check;
ALTER TABLE ledger_accounts ADD CONSTRAINT ledger_accounts_kind_check CHECK (kind IN (
    'funder_commitment', 'funder_unpaid', 'available', 'outstanding', 'site_payable',
    'commission', 'site_paid', 'commission_paid', 'funder_refunded', 'fee_receivable',
    'fee_income',
    'site_owed'             -- debit: on a payout statement, the transfer not yet made
));

ALTER TABLE ledger_transactions DROP CONSTRAINT ledger_transactions_kind_check;
ALTER TABLE ledger_transactions ADD CONSTRAINT ledger_transactions_kind_check CHECK (kind IN (
    'commitment', 'payment', 'issuance', 'cancellation', 'expiry', 'redemption',
    'reversal', 'settlement', 'closing', 'payout'
));

CREATE TABLE statement_payments (
    statement_id          UUID PRIMARY KEY REFERENCES statements (id),
    paid_on               DATE NOT NULL,
    bank_reference        TEXT NOT NULL CHECK (length(bank_reference) BETWEEN 1 AND 140),
    -- NULL only for the statements paid by their settlement, before this table.
    ledger_transaction_id UUID REFERENCES ledger_transactions (id),
    recorded_by           UUID REFERENCES users (id),
    recorded_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);

INSERT INTO statement_payments (statement_id, paid_on, bank_reference, recorded_at)
    SELECT id, (created_at AT TIME ZONE 'Europe/Paris')::date,
           'payé au règlement (avant le suivi des virements)', created_at
    FROM statements WHERE kind = 'site_payout'::statement_kind;
