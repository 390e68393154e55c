-- Statements already sealed in format 3 keep it (rewriting it would break their
-- SHA-256): the former rule holds for new rows only (NOT VALID).
ALTER TABLE statements ALTER COLUMN csv_format SET DEFAULT 2;
ALTER TABLE statements DROP CONSTRAINT statements_csv_format_check;
ALTER TABLE statements ADD CONSTRAINT statements_csv_format_check
    CHECK (csv_format IN (1, 2)) NOT VALID;
