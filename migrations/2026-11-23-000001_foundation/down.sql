DROP TABLE site_labels;
DROP FUNCTION site_labels_only_sites();
DROP TABLE users;
DROP TABLE organizations;
