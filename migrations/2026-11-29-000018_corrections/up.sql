-- Corrections (issue 13): a program may publish its open indicators, and a
-- prescriber's allocation may be reduced. An allocation stays a list of movements
-- (the total is their sum): a reduction is a movement below zero, never an edit of
-- an earlier one, so the list keeps its history.
ALTER TABLE programs ADD COLUMN public_indicators boolean NOT NULL DEFAULT false;
ALTER TABLE allocations DROP CONSTRAINT allocations_checkbooks_check;
ALTER TABLE allocations ADD CONSTRAINT allocations_checkbooks_check CHECK (checkbooks <> 0);
