-- Back to TEXT with the CHECK constraints, defaults and partial indexes as the
-- migrations before 000016 made them (same names, same definitions).

DROP INDEX checkbooks_program;
ALTER TABLE checkbooks
    DROP CONSTRAINT checkbooks_check,
    DROP CONSTRAINT checkbooks_check1,
    ALTER COLUMN status TYPE TEXT USING status::text,
    ADD CONSTRAINT checkbooks_status_check CHECK (status IN ('stock', 'handed_out', 'cancelled')),
    ADD CONSTRAINT checkbooks_check CHECK ((status = 'stock') = (beneficiary_reference IS NULL)
                                          OR status = 'cancelled'),
    ADD CONSTRAINT checkbooks_check1 CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL));
CREATE INDEX checkbooks_program ON checkbooks (program_id, prescriber_id) WHERE status <> 'cancelled';

ALTER TABLE tickets
    ALTER COLUMN status DROP DEFAULT,
    ALTER COLUMN status TYPE TEXT USING status::text,
    ALTER COLUMN status SET DEFAULT 'issued',
    ADD CONSTRAINT tickets_status_check
        CHECK (status IN ('issued', 'redeemed', 'settled', 'cancelled', 'expired'));

DROP INDEX redemptions_one_live_per_ticket;
DROP INDEX redemptions_time;
ALTER TABLE redemptions
    DROP CONSTRAINT redemptions_check1,
    ALTER COLUMN status DROP DEFAULT,
    ALTER COLUMN status TYPE TEXT USING status::text,
    ALTER COLUMN status SET DEFAULT 'redeemed',
    ADD CONSTRAINT redemptions_status_check CHECK (status IN ('redeemed', 'reversed', 'settled')),
    ADD CONSTRAINT redemptions_check1 CHECK ((status = 'reversed') = (reversed_at IS NOT NULL));
CREATE UNIQUE INDEX redemptions_one_live_per_ticket ON redemptions (ticket_id) WHERE status <> 'reversed';
CREATE INDEX redemptions_time ON redemptions (redeemed_at, id) WHERE status <> 'reversed';

ALTER TABLE statements
    ALTER COLUMN kind TYPE TEXT USING kind::text,
    ADD CONSTRAINT statements_kind_check
        CHECK (kind IN ('site_payout', 'funder_bill', 'commission', 'credit_note'));

ALTER TABLE programs
    ALTER COLUMN status DROP DEFAULT,
    ALTER COLUMN status TYPE TEXT USING status::text,
    ALTER COLUMN status SET DEFAULT 'open',
    ADD CONSTRAINT programs_status_check CHECK (status IN ('open', 'closed'));

DROP TYPE program_status;
DROP TYPE statement_kind;
DROP TYPE redemption_status;
DROP TYPE checkbook_status;
DROP TYPE ticket_status;
