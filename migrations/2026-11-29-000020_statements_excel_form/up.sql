-- Statements in the Excel form (src/settlement/sheet.rs, `CsvFormat::Excel`): UTF-8
-- with a byte-order mark, `;`, a decimal comma, CRLF, times in Paris time with their
-- offset; a funder's statement says the tickets used are covered and the fee is the
-- amount due. Statements already sealed keep their format (1 or 2): they are drawn
-- as they were, so their SHA-256 holds. New ones are sealed in format 3.
ALTER TABLE statements DROP CONSTRAINT statements_csv_format_check;
ALTER TABLE statements ADD CONSTRAINT statements_csv_format_check
    CHECK (csv_format IN (1, 2, 3));
ALTER TABLE statements ALTER COLUMN csv_format SET DEFAULT 3;
