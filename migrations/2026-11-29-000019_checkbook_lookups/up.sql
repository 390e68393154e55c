-- What the prescriber's pages look up (issue 13): the last mail of each checkbook
-- (its state on the checkbook's page and in its list), its print runs, and the
-- handed-out checkbooks whose validity ends soon ("Expirent bientôt").
CREATE INDEX outbox_related ON outbox (related_id, created_at) WHERE related_id IS NOT NULL;
CREATE INDEX print_runs_prescriber ON print_runs (prescriber_id, id);
CREATE INDEX checkbooks_prescriber_valid_until ON checkbooks (prescriber_id, valid_until)
    WHERE status = 'handed_out';
