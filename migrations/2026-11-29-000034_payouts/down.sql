DROP TABLE statement_payments;

-- Accounts `site_owed` and transactions `payout` may exist: the former checks come
-- back for new rows only (NOT VALID), the ledger being append-only.

ALTER TABLE ledger_transactions DROP CONSTRAINT ledger_transactions_kind_check;
ALTER TABLE ledger_transactions ADD CONSTRAINT ledger_transactions_kind_check CHECK (kind IN (
    'commitment', 'payment', 'issuance', 'cancellation', 'expiry', 'redemption',
    'reversal', 'settlement', 'closing'
)) NOT VALID;

ALTER TABLE ledger_accounts DROP CONSTRAINT ledger_accounts_kind_check;
ALTER TABLE ledger_accounts ADD CONSTRAINT ledger_accounts_kind_check CHECK (kind IN (
    'funder_commitment', 'funder_unpaid', 'available', 'outstanding', 'site_payable',
    'commission', 'site_paid', 'commission_paid', 'funder_refunded', 'fee_receivable',
    'fee_income'
)) NOT VALID;

ALTER TABLE settlement_names
    DROP COLUMN iban,
    DROP COLUMN bic;

ALTER TABLE organizations DROP COLUMN bic;
