-- Issue 14, point 3: the follow-up (*évaluation*). A site that redeemed tickets of a
-- checkbook records the person's autonomy before and after the training (four
-- levels) and the themes covered. One row per checkbook and site: a second record
-- by the same site corrects it (the audit trail keeps the values before). No personal
-- data: levels and themes only, so erasing the beneficiary keeps the row (and the
-- statistics' counts).
CREATE TABLE evaluations (
    id UUID PRIMARY KEY,
    checkbook_id UUID NOT NULL REFERENCES checkbooks (id),
    site_id UUID NOT NULL REFERENCES organizations (id),
    -- The checkbook's program, copied so the statistics group without a join.
    program_id UUID NOT NULL REFERENCES programs (id),
    level_before SMALLINT NOT NULL CHECK (level_before BETWEEN 1 AND 4),
    level_after SMALLINT NOT NULL CHECK (level_after BETWEEN 1 AND 4),
    themes TEXT[] NOT NULL DEFAULT '{}',
    recorded_by UUID NOT NULL REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT evaluations_one_per_checkbook_and_site UNIQUE (checkbook_id, site_id)
);

CREATE INDEX evaluations_program ON evaluations (program_id, checkbook_id);
CREATE INDEX evaluations_site ON evaluations (site_id);
