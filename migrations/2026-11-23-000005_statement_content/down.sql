ALTER TABLE statements DROP CONSTRAINT statements_content_matches_sha256;
ALTER TABLE statements DROP COLUMN content;
