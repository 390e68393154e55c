ALTER TABLE redemptions DROP COLUMN turn;
