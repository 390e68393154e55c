-- The trail and its live functions (sql/functions/audit.sql makes them again after
-- the next migration run). CASCADE: audit_entry_text takes the table's row type.
DROP FUNCTION IF EXISTS audit_chain_break();
DROP TABLE audit_entries CASCADE;
DROP FUNCTION IF EXISTS audit_entry_chain();
DROP FUNCTION IF EXISTS audit_refuse_change();
