-- A redemption's turn in its funders' split (see src/settlement.rs, rounding rule):
-- the last byte of its id modulo 60, stored once so that a settlement's single
-- grouped pass reads a small integer with known statistics (60 values, so at most
-- 60 groups per site and program) instead of computing it on every row.
ALTER TABLE redemptions ADD COLUMN turn SMALLINT NOT NULL
    GENERATED ALWAYS AS (get_byte(uuid_send(id), 15) % 60) STORED;
