DROP INDEX checkbooks_beneficiary_held_cancelled;
DROP INDEX checkbooks_beneficiary_held;
ALTER TABLE checkbooks DROP CONSTRAINT checkbooks_erased_is_empty;
ALTER TABLE checkbooks DROP CONSTRAINT checkbooks_beneficiary_while_handed_out;
ALTER TABLE checkbooks ADD CONSTRAINT checkbooks_check
    CHECK ((status = 'stock') = (beneficiary_reference IS NULL)
           OR status = 'cancelled') NOT VALID;
ALTER TABLE checkbooks
    DROP COLUMN beneficiary_erased_at,
    DROP COLUMN beneficiary_needs,
    DROP COLUMN beneficiary_publics;
