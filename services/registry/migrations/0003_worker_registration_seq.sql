-- The registry's own registration order: a number from this database's sequence, not a host's clock
-- (instances' clocks differ and NTP steps them; `registered_at` stays, as information for people).
-- Published in registry.worker-registered.v1 so that sponsorship drains its waitlist in this order.
ALTER TABLE worker ADD COLUMN registration_seq bigint;

-- Workers registered before this migration are numbered in the order they were registered:
-- registered_at (this database's now(), one clock), then the order their submissions arrived (one
-- transaction registers a whole batch with one now()), then the id, so the numbering is total.
UPDATE worker w SET registration_seq = numbered.n
FROM (
    SELECT w2.worker_id,
           row_number() OVER (ORDER BY w2.registered_at, s.first_submission, w2.worker_id) AS n
    FROM worker w2
    LEFT JOIN LATERAL (
        SELECT min(id) AS first_submission FROM submission WHERE submission.worker_id = w2.worker_id
    ) s ON true
) numbered
WHERE w.worker_id = numbered.worker_id;

-- From here on the database numbers each new worker itself (GENERATED ALWAYS: nobody supplies one).
-- CACHE 1 (the default, said out loud): with a cache each connection would hand out its own block
-- of numbers, and a worker registered later could get a smaller one.
ALTER TABLE worker
    ALTER COLUMN registration_seq SET NOT NULL,
    ALTER COLUMN registration_seq ADD GENERATED ALWAYS AS IDENTITY (CACHE 1);
SELECT setval(
    pg_get_serial_sequence('worker', 'registration_seq'),
    (SELECT coalesce(max(registration_seq), 0) + 1 FROM worker),
    false
);
ALTER TABLE worker ADD CONSTRAINT worker_registration_seq_key UNIQUE (registration_seq);
