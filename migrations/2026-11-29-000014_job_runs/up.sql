-- The daily jobs of `passnum serve` (src/jobs.rs): one row per job and French day.
--
-- The row is the lock: a node claims (job, day) by inserting it — or, when a run was
-- left unfinished, by updating it — in the same transaction as the job's work, and
-- sets `finished_at` before committing. Another node claiming the same (job, day)
-- waits on the primary key (or the row) until that transaction ends: committed, it
-- finds the run finished and does nothing; rolled back (the node died, the job
-- failed), it runs the job itself. So a job runs to completion exactly once a day,
-- and its record commits with its effects. `attempts` counts the claims; `last_error`
-- keeps why an attempt failed (written after its rollback).
CREATE TABLE job_runs (
    job text NOT NULL,
    day date NOT NULL,
    node text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    outcome jsonb,
    attempts integer NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    last_error text,
    PRIMARY KEY (job, day),
    CONSTRAINT job_runs_outcome_when_finished CHECK ((finished_at IS NULL) = (outcome IS NULL))
);
