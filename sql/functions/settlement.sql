-- What a settlement leaves behind never changes. Re-applied after every migration
-- run (src/db.rs): idempotent. Migrations 000004 and 000007 created these and stay
-- as history; the live bodies are here, and only here. (The settled-period guard of
-- redemptions is in redemption.sql, next to the redemption it guards.)

-- Statements are immutable, except that an unsealed statement receives its SHA-256
-- once (sealing, right after its settlement commits).
CREATE OR REPLACE FUNCTION statements_seal_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.sha256 IS NULL AND NEW.sha256 IS NOT NULL
       AND (to_jsonb(NEW) - 'sha256') = (to_jsonb(OLD) - 'sha256') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'statements are immutable: % refused (only an unsealed statement receives its SHA-256, once)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
DROP TRIGGER IF EXISTS statements_immutable ON statements;
CREATE TRIGGER statements_immutable BEFORE UPDATE OR DELETE ON statements
    FOR EACH ROW EXECUTE FUNCTION statements_seal_only();

-- Settlements and the names they recorded (a later rename changes nothing issued).
DROP TRIGGER IF EXISTS settlements_immutable ON settlements;
CREATE TRIGGER settlements_immutable BEFORE UPDATE OR DELETE ON settlements
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER IF EXISTS settlement_names_immutable ON settlement_names;
CREATE TRIGGER settlement_names_immutable BEFORE UPDATE OR DELETE ON settlement_names
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

-- A program's terms (value, rates, funders' shares) never change: statements are
-- drawn from them long after.
CREATE OR REPLACE FUNCTION programs_keep_terms() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.ticket_value, NEW.commission_rate, NEW.funder_fee_rate)
       IS DISTINCT FROM (OLD.ticket_value, OLD.commission_rate, OLD.funder_fee_rate) THEN
        RAISE EXCEPTION 'a program''s value and rates never change'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS programs_keep_terms ON programs;
CREATE TRIGGER programs_keep_terms BEFORE UPDATE ON programs
    FOR EACH ROW EXECUTE FUNCTION programs_keep_terms();
DROP TRIGGER IF EXISTS program_funders_immutable ON program_funders;
-- A funder's line keeps its program, funder and share; its engagement number (the
-- public buyer's reference on Factur-X invoices, migration 000036) may be set later.
CREATE TRIGGER program_funders_immutable BEFORE UPDATE OF program_id, funder_id, share OR DELETE
    ON program_funders FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
