-- The registry's registration order (registry.worker-registered.v1 `registration_seq`): the waitlist
-- is drained in it, not in `registered_at` (a host's clock: skew or an NTP step reorders it).
-- Workers announced before the registry numbered them keep NULL here.
ALTER TABLE worker ADD COLUMN registration_seq bigint CHECK (registration_seq > 0);

-- The waitlist's order, total and deterministic (services/sponsorship/domain.py `waitlist_position`):
--   1. coalesce(registration_seq, 0): un-numbered workers (announced by a registry from before
--      the number existed, so registered before every numbered one) first, then by the number;
--   2. registered_at: decides among the un-numbered only (the registry numbers a worker once);
--   3. seq: this table's own arrival number, so that no two rows ever tie.
DROP INDEX worker_waitlist;
CREATE INDEX worker_waitlist ON worker ((coalesce(registration_seq, 0)), registered_at, seq)
    WHERE status = 'waitlisted';
