DROP INDEX checkbooks_prescriber_valid_until;
DROP INDEX print_runs_prescriber;
DROP INDEX outbox_related;
