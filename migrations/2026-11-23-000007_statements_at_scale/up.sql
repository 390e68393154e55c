-- History: the live bodies of the functions and triggers created here are in
-- sql/functions/redemption.sql and sql/functions/settlement.sql (re-applied after every migration run, src/db.rs).

-- Statements at scale: a settlement of a million tickets writes its statements'
-- totals, not a million CSV lines per statement. A statement's lines are drawn, when
-- asked, from its settlement's redemptions, which never change once settled, and from
-- the names the settlement recorded; its SHA-256 is sealed once, right after.

-- Lines come in arrival order: one index walk, no sort.
DROP INDEX redemptions_time;
CREATE INDEX redemptions_time ON redemptions (redeemed_at, id) WHERE status <> 'reversed';

-- What a redemption says never changes (only a reversal marks it), and a settled
-- redemption never changes at all: nothing leaves or enters a settled period.
CREATE FUNCTION redemptions_keep_facts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.id, NEW.ticket_id, NEW.program_id, NEW.site_id, NEW.redeemed_by, NEW.method,
        NEW.value, NEW.commission, NEW.amount_payable, NEW.ledger_transaction_id,
        NEW.serial, NEW.checkbook_number)
       IS DISTINCT FROM
       (OLD.id, OLD.ticket_id, OLD.program_id, OLD.site_id, OLD.redeemed_by, OLD.method,
        OLD.value, OLD.commission, OLD.amount_payable, OLD.ledger_transaction_id,
        OLD.serial, OLD.checkbook_number) THEN
        RAISE EXCEPTION 'a redemption''s facts never change (only its status, by a reversal)'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF EXISTS (SELECT 1 FROM settlements
               WHERE tstzrange(starts_at, ends_at) @> OLD.redeemed_at
                  OR tstzrange(starts_at, ends_at) @> NEW.redeemed_at) THEN
        RAISE EXCEPTION 'redemption % is in a settled period: it never changes', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER redemptions_keep_facts BEFORE UPDATE ON redemptions
    FOR EACH ROW EXECUTE FUNCTION redemptions_keep_facts();
CREATE TRIGGER redemptions_no_delete BEFORE DELETE ON redemptions
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

-- The names of the programs and sites of a settlement as they were: a later rename
-- never changes a statement already issued.
CREATE TABLE settlement_names (
    settlement_id  UUID NOT NULL REFERENCES settlements (id),
    named_id       UUID NOT NULL,
    name           TEXT NOT NULL,
    siret          TEXT,
    PRIMARY KEY (settlement_id, named_id)
);
CREATE TRIGGER settlement_names_immutable BEFORE UPDATE OR DELETE ON settlement_names
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

-- A settlement's statements keep no content (it is drawn from the redemptions); a
-- credit note keeps its own. The SHA-256 is set once: at creation when the content is
-- kept, else by sealing right after the settlement commits.
ALTER TABLE statements DROP CONSTRAINT statements_content_matches_sha256;
ALTER TABLE statements ALTER COLUMN content DROP NOT NULL,
                       ALTER COLUMN sha256 DROP NOT NULL;
ALTER TABLE statements ADD CONSTRAINT statements_content_or_settlement
    CHECK (content IS NOT NULL OR settlement_id IS NOT NULL);
ALTER TABLE statements ADD CONSTRAINT statements_content_matches_sha256
    CHECK (content IS NULL OR encode(sha256(convert_to(content, 'UTF8')), 'hex') = sha256);

DROP TRIGGER statements_immutable ON statements;
CREATE FUNCTION statements_seal_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.sha256 IS NULL AND NEW.sha256 IS NOT NULL
       AND (to_jsonb(NEW) - 'sha256') = (to_jsonb(OLD) - 'sha256') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'statements are immutable: % refused (only an unsealed statement receives its SHA-256, once)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER statements_immutable BEFORE UPDATE OR DELETE ON statements
    FOR EACH ROW EXECUTE FUNCTION statements_seal_only();


-- A program's terms (rates, funders' shares) never change: statements are drawn from
-- them long after.
CREATE FUNCTION programs_keep_terms() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.ticket_value, NEW.commission_rate, NEW.funder_fee_rate)
       IS DISTINCT FROM (OLD.ticket_value, OLD.commission_rate, OLD.funder_fee_rate) THEN
        RAISE EXCEPTION 'a program''s value and rates never change'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER programs_keep_terms BEFORE UPDATE ON programs
    FOR EACH ROW EXECUTE FUNCTION programs_keep_terms();
CREATE TRIGGER program_funders_immutable BEFORE UPDATE OR DELETE ON program_funders
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
