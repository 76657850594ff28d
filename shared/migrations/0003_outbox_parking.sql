-- A row the broker or the producer can never take as it is (too large, unknown or invalid topic,
-- refused by the broker) is parked: kept with its reason, skipped by the relay, listed by
-- `muba outbox parked`, sent again once an operator un-parks it (README, "Parked outbox rows").
ALTER TABLE outbox
    ADD COLUMN parked_at   timestamptz,
    ADD COLUMN park_reason text,
    -- Sends that failed for this row alone (a retry after which it was still refused).
    ADD COLUMN attempts    integer NOT NULL DEFAULT 0,
    ADD COLUMN last_error  text;

-- What the relay reads: neither published nor parked, in insertion order.
DROP INDEX outbox_unpublished;
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL AND parked_at IS NULL;
-- Later rows of a parked row's topic and key are held behind it (per-key order); keys are bytes
-- of any length, so the index holds their digest.
CREATE INDEX outbox_parked ON outbox (topic, sha256(key), id)
    WHERE parked_at IS NOT NULL AND published_at IS NULL;

-- The relay's lead, as a lease on the database's clock. A session advisory lock is not enough:
-- a leader frozen between two protocol messages of one statement (SIGSTOP at the wrong moment)
-- leaves its session "active", where no idle timeout ends it, and holds the lock for ever.
-- The holder renews the lease every cycle and while it waits on Kafka; a standby takes it once
-- it has expired, or at once when the holder's session is gone (a killed process). One row,
-- written by upsert (a truncated table is no obstacle).
CREATE TABLE outbox_lease (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    holder     text NOT NULL,
    pid        integer NOT NULL,  -- the holder's backend (pg_stat_activity)
    taken_at   timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
