-- A site's public entry (phone, website, opening hours, accessibility) and the
-- account its payouts go to (IBAN, ISO 13616, stored without spaces, upper case).
-- Written by PATCH /organizations/{id}; the shapes are parsed in src/domain.rs and
-- the columns only guard the bounds, so a wrong value never lands even by hand.

ALTER TABLE organizations
    ADD COLUMN phone         TEXT CHECK (phone ~ '^\+?[0-9]{8,15}$'),
    ADD COLUMN website       TEXT CHECK (length(website) BETWEEN 1 AND 200),
    ADD COLUMN opening_hours TEXT CHECK (length(opening_hours) BETWEEN 1 AND 500),
    ADD COLUMN accessibility TEXT CHECK (length(accessibility) BETWEEN 1 AND 300),
    ADD COLUMN iban          TEXT CHECK (iban ~ '^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$');
