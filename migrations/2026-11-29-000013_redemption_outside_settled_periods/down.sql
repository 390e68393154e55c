ALTER TABLE statements DROP COLUMN csv_format;
DROP TRIGGER redemptions_outside_settled_periods ON redemptions;
DROP FUNCTION redemptions_outside_settled_periods();
