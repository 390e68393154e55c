-- A redemption's turn in its funders' split (see src/settlement.rs, rounding rule):
-- the last byte of its id, stored once so that a settlement's grouped pass reads a
-- small integer with known statistics (256 values) instead of computing it per row.
ALTER TABLE redemptions ADD COLUMN turn SMALLINT NOT NULL
    GENERATED ALWAYS AS (get_byte(uuid_send(id), 15)) STORED;
