-- The statuses become PostgreSQL enum types: a value the type does not know is
-- refused when the query is planned (`invalid input value for enum`), a typo in a
-- literal included, and the Rust enums of src/statuses.rs bind and read these types
-- (their labels are compared with `enum_range` by tests/api/statuses.rs). The order
-- of the labels is the order of the former CHECK lists.
--
-- The CHECK constraints and partial indexes that compare these columns with text
-- literals cannot be converted in place (there is no `enum = text` operator): they
-- are dropped, the columns converted, then they are made again on the enum. The
-- defaults likewise. Converting rewrites the four tables.

CREATE TYPE ticket_status AS ENUM ('issued', 'redeemed', 'settled', 'cancelled', 'expired');
CREATE TYPE checkbook_status AS ENUM ('stock', 'handed_out', 'cancelled');
CREATE TYPE redemption_status AS ENUM ('redeemed', 'reversed', 'settled');
CREATE TYPE statement_kind AS ENUM ('site_payout', 'funder_bill', 'commission', 'credit_note');
CREATE TYPE program_status AS ENUM ('open', 'closed');

ALTER TABLE programs
    DROP CONSTRAINT programs_status_check,
    ALTER COLUMN status DROP DEFAULT,
    ALTER COLUMN status TYPE program_status USING status::program_status,
    ALTER COLUMN status SET DEFAULT 'open';

DROP INDEX checkbooks_program;
ALTER TABLE checkbooks
    DROP CONSTRAINT checkbooks_status_check,
    DROP CONSTRAINT checkbooks_check,
    DROP CONSTRAINT checkbooks_check1,
    ALTER COLUMN status TYPE checkbook_status USING status::checkbook_status,
    ADD CONSTRAINT checkbooks_check CHECK ((status = 'stock') = (beneficiary_reference IS NULL)
                                          OR status = 'cancelled'),
    ADD CONSTRAINT checkbooks_check1 CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL));
CREATE INDEX checkbooks_program ON checkbooks (program_id, prescriber_id) WHERE status <> 'cancelled';

ALTER TABLE tickets
    DROP CONSTRAINT tickets_status_check,
    ALTER COLUMN status DROP DEFAULT,
    ALTER COLUMN status TYPE ticket_status USING status::ticket_status,
    ALTER COLUMN status SET DEFAULT 'issued';

DROP INDEX redemptions_one_live_per_ticket;
DROP INDEX redemptions_time;
ALTER TABLE redemptions
    DROP CONSTRAINT redemptions_status_check,
    DROP CONSTRAINT redemptions_check1,
    ALTER COLUMN status DROP DEFAULT,
    ALTER COLUMN status TYPE redemption_status USING status::redemption_status,
    ALTER COLUMN status SET DEFAULT 'redeemed',
    ADD CONSTRAINT redemptions_check1 CHECK ((status = 'reversed') = (reversed_at IS NOT NULL));
CREATE UNIQUE INDEX redemptions_one_live_per_ticket ON redemptions (ticket_id) WHERE status <> 'reversed';
CREATE INDEX redemptions_time ON redemptions (redeemed_at, id) WHERE status <> 'reversed';

ALTER TABLE statements
    DROP CONSTRAINT statements_kind_check,
    ALTER COLUMN kind TYPE statement_kind USING kind::statement_kind;
