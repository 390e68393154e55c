ALTER TABLE program_funders DROP COLUMN engagement_number;
ALTER TABLE organizations DROP COLUMN chorus_service_code;
