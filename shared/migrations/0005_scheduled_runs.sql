-- The record of the scheduler's runs (shared/scheduler.py): one row per job and due moment, written
-- in the same transaction as the job's own work and outbox rows, so a moment runs exactly once
-- across instances (the primary key) and a failed run leaves no row (it is run again).
-- due_at is programme time (shared/clock.py); ran_at is the database's real time.
CREATE TABLE scheduled_run (
    job              text NOT NULL,
    due_at           timestamptz NOT NULL,
    ran_at           timestamptz NOT NULL DEFAULT now(),
    programme_ran_at timestamptz NOT NULL,
    instance         text NOT NULL,
    PRIMARY KEY (job, due_at)
);
