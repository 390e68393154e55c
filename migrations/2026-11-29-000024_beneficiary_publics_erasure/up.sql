-- Issue 14, points 2 and 5: a beneficiary's publics and needs (the vocabularies of
-- src/vocabulary.rs), and the erasure of a beneficiary's record (RGPD): after the
-- checkbook's end + `beneficiary_retention_months`, or at once on the prescriber's
-- request. An erased record keeps its checkbook, tickets, money and statements; only
-- the person's fields become NULL (or empty), and `beneficiary_erased_at` says when.
ALTER TABLE checkbooks
    ADD COLUMN beneficiary_publics TEXT[] NOT NULL DEFAULT '{}',
    ADD COLUMN beneficiary_needs TEXT[] NOT NULL DEFAULT '{}',
    ADD COLUMN beneficiary_erased_at TIMESTAMPTZ;

-- A handed-out checkbook has a beneficiary's reference, unless it was erased.
ALTER TABLE checkbooks DROP CONSTRAINT checkbooks_check;
ALTER TABLE checkbooks ADD CONSTRAINT checkbooks_beneficiary_while_handed_out
    CHECK ((status = 'stock') = (beneficiary_reference IS NULL)
           OR status = 'cancelled' OR beneficiary_erased_at IS NOT NULL);
ALTER TABLE checkbooks ADD CONSTRAINT checkbooks_erased_is_empty
    CHECK (beneficiary_erased_at IS NULL
           OR (beneficiary_reference IS NULL AND beneficiary_email IS NULL
               AND beneficiary_birth_year IS NULL AND beneficiary_postcode IS NULL
               AND beneficiary_situation IS NULL AND beneficiary_publics = '{}'
               AND beneficiary_needs = '{}'));

-- The purge looks for records still held whose checkbook has ended.
CREATE INDEX checkbooks_beneficiary_held ON checkbooks (valid_until)
    WHERE beneficiary_erased_at IS NULL AND beneficiary_reference IS NOT NULL;
CREATE INDEX checkbooks_beneficiary_held_cancelled ON checkbooks (cancelled_at)
    WHERE beneficiary_erased_at IS NULL AND beneficiary_reference IS NOT NULL
      AND cancelled_at IS NOT NULL;
