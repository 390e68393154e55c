-- Factur-X for public funders (issue 17): the Chorus Pro service code of a funder,
-- the engagement number (numéro d'engagement) of a funder's line in a program.
ALTER TABLE organizations ADD COLUMN chorus_service_code text
    CHECK (chorus_service_code IS NULL OR length(chorus_service_code) BETWEEN 1 AND 100);
ALTER TABLE program_funders ADD COLUMN engagement_number text
    CHECK (engagement_number IS NULL OR length(engagement_number) BETWEEN 1 AND 50);
