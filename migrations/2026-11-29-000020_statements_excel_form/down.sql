-- Refused while a statement of format 3 exists: its format cannot be rewritten
-- without breaking its SHA-256.
ALTER TABLE statements ALTER COLUMN csv_format SET DEFAULT 2;
ALTER TABLE statements DROP CONSTRAINT statements_csv_format_check;
ALTER TABLE statements ADD CONSTRAINT statements_csv_format_check
    CHECK (csv_format IN (1, 2));
