-- A statement keeps its content (the CSV as issued): later renames of a site or a
-- program never change a document that was signed. The database checks that the
-- content is the one its SHA-256 names.
ALTER TABLE statements ADD COLUMN content TEXT NOT NULL DEFAULT '';
ALTER TABLE statements ALTER COLUMN content DROP DEFAULT;
ALTER TABLE statements ADD CONSTRAINT statements_content_matches_sha256
    CHECK (encode(sha256(convert_to(content, 'UTF8')), 'hex') = sha256) NOT VALID;
