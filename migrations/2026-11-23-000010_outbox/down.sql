DROP TABLE invitations;
DROP TABLE outbox;
