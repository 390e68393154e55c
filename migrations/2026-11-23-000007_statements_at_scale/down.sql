DROP TRIGGER statements_immutable ON statements;
DROP FUNCTION statements_seal_only();
CREATE TRIGGER statements_immutable BEFORE UPDATE OR DELETE ON statements
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
ALTER TABLE statements DROP CONSTRAINT statements_content_matches_sha256;
ALTER TABLE statements DROP CONSTRAINT statements_content_or_settlement;
-- Statements of settlements made since 000007 keep no content (their lines are drawn
-- from the redemptions), and one not sealed yet has no SHA-256: the older schema
-- cannot hold them, and going down cannot make up their CSV. They are kept as they
-- are (the columns stay nullable: the older code cannot serve their CSV, the newer one
-- can again once this migration goes up); the columns are NOT NULL again only when no
-- such statement exists.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM statements WHERE content IS NULL OR sha256 IS NULL) THEN
        ALTER TABLE statements ALTER COLUMN content SET NOT NULL,
                               ALTER COLUMN sha256 SET NOT NULL;
    END IF;
END $$;
ALTER TABLE statements ADD CONSTRAINT statements_content_matches_sha256
    CHECK (encode(sha256(convert_to(content, 'UTF8')), 'hex') = sha256) NOT VALID;
DROP TABLE settlement_names;
DROP TRIGGER redemptions_no_delete ON redemptions;
DROP TRIGGER redemptions_keep_facts ON redemptions;
DROP FUNCTION redemptions_keep_facts();
DROP INDEX redemptions_time;
CREATE INDEX redemptions_time ON redemptions (redeemed_at) WHERE status <> 'reversed';
DROP TRIGGER program_funders_immutable ON program_funders;
DROP TRIGGER programs_keep_terms ON programs;
DROP FUNCTION programs_keep_terms();
