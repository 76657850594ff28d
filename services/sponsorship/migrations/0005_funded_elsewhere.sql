-- Workers another payer already funds (registry.worker-funded-elsewhere.v1: a funder list, e.g.
-- the regency's APBD scheme PAKE KELAMBU, imported after they registered). The programme must
-- not pay twice: a waitlisted worker is withdrawn (status 'funded_elsewhere', never matched
-- again: the waitlist reads only 'waitlisted'); a worker whose enrollment is requested or
-- confirmed keeps it (cancelling is the office's decision) and is flagged here for the office.
--
-- One row per worker, the first notice kept (a later one, another funder's or a repeat, changes
-- nothing). No foreign key: the notice may come before the worker's registry.worker-registered
-- (two topics, no order between them); such a worker is added already withdrawn.
CREATE TABLE funded_elsewhere (
    worker_id    uuid PRIMARY KEY,
    funder       text NOT NULL,
    source_code  text NOT NULL,
    description  text,
    import_id    uuid NOT NULL,
    noticed_at   timestamptz NOT NULL,   -- the registry's time of the notice
    received_at  timestamptz NOT NULL DEFAULT now(),
    -- What the worker was here when the notice came: waitlisted (withdrawn), matched or enrolled
    -- (flagged), failed, or NULL (not announced yet: withdrawn when they are).
    status_then  text
);

ALTER TABLE worker DROP CONSTRAINT worker_status_check;
ALTER TABLE worker ADD CONSTRAINT worker_status_check
    CHECK (status IN ('waitlisted', 'matched', 'enrolled', 'failed', 'funded_elsewhere'));
