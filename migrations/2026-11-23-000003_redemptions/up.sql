-- Redemptions: a site's agent scanned (or typed) a ticket; its value is owed to the
-- site. At most one live redemption per ticket, whatever the application does.


CREATE TABLE redemptions (
    id                     UUID PRIMARY KEY,
    ticket_id              UUID NOT NULL REFERENCES tickets (id),
    program_id             UUID NOT NULL REFERENCES programs (id),
    site_id                UUID NOT NULL REFERENCES organizations (id),
    redeemed_by            UUID NOT NULL REFERENCES users (id),
    -- 'code' (scanned) or 'serial' (typed).
    method                 TEXT NOT NULL CHECK (method IN ('code', 'serial')),
    value                  NUMERIC(10, 2) NOT NULL CHECK (value > 0),
    commission             NUMERIC(10, 2) NOT NULL CHECK (commission >= 0),
    amount_payable         NUMERIC(10, 2) NOT NULL CHECK (amount_payable >= 0),
    status                 TEXT NOT NULL DEFAULT 'redeemed' CHECK (status IN ('redeemed', 'reversed', 'settled')),
    -- When the phone scanned it (offline scans arrive later) and when it arrived.
    scanned_at             TIMESTAMPTZ NOT NULL,
    redeemed_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    reversed_at            TIMESTAMPTZ,
    ledger_transaction_id  UUID NOT NULL REFERENCES ledger_transactions (id),
    reversal_transaction_id UUID REFERENCES ledger_transactions (id),
    CHECK (value = commission + amount_payable),
    CHECK ((status = 'reversed') = (reversed_at IS NOT NULL))
);
CREATE UNIQUE INDEX redemptions_one_live_per_ticket ON redemptions (ticket_id) WHERE status <> 'reversed';
CREATE INDEX redemptions_site_time ON redemptions (site_id, redeemed_at);
CREATE INDEX redemptions_program_status ON redemptions (program_id, status, redeemed_at);

-- Idempotent answers may now be refusals too (a redemption refused stays refused
-- for the same key): nothing else changes.
