-- Every message the service decided to send, one row per (event, template, audience, channel,
-- recipient): `dedupe_key` makes a replayed event a no-op. The row holds the real address and
-- the text because the delivery worker needs them to send; nothing else leaves this schema
-- unmasked.
CREATE TABLE notification (
    id              bigserial PRIMARY KEY,
    dedupe_key      text NOT NULL UNIQUE,
    event_id        text NOT NULL,
    worker_id       uuid,
    template        text NOT NULL,
    audience        text NOT NULL CHECK (audience IN ('worker', 'company', 'office')),
    channel         text NOT NULL CHECK (channel IN ('sms', 'whatsapp', 'email', 'webhook')),
    recipient       text NOT NULL,
    subject         text,
    body            text NOT NULL,
    status          text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'delivered')),
    -- A failed send stays queued and is tried again later, with backoff.
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
);
-- What the delivery worker claims: queued rows that are due, oldest first.
CREATE INDEX notification_due ON notification (next_attempt_at, id) WHERE status = 'queued';
CREATE INDEX notification_worker ON notification (worker_id, id) WHERE worker_id IS NOT NULL;
