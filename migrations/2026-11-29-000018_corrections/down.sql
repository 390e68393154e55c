ALTER TABLE allocations DROP CONSTRAINT allocations_checkbooks_check;
-- Reductions made meanwhile stay; the former rule holds for new rows.
ALTER TABLE allocations ADD CONSTRAINT allocations_checkbooks_check CHECK (checkbooks > 0) NOT VALID;
ALTER TABLE programs DROP COLUMN public_indicators;
