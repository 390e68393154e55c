ALTER TABLE organizations
    DROP COLUMN iban,
    DROP COLUMN accessibility,
    DROP COLUMN opening_hours,
    DROP COLUMN website,
    DROP COLUMN phone;
