-- The sender claims rows with a short lease instead of holding row locks across the sends, marks
-- each row right after its own send, gives up after a number of attempts and tells providers an
-- idempotency key.
--
-- * A claimed row stays `queued`; the claim pushes `next_attempt_at` forward by the lease and sets
--   `claim_id`, so no other sender takes it until the lease runs out (a crashed sender's rows come
--   back then). Only the claim's owner may postpone or fail it; a delivery counts whoever reports it.
-- * `failed` is final: attempts exhausted, or the provider refused the message for good.
--   `last_error` says why, with the address masked (it is shown to operators).
-- * `idempotency_key` follows from `dedupe_key` alone: the same message keeps it across retries,
--   sender instances and even a replay that queues it again.
ALTER TABLE notification DROP CONSTRAINT notification_status_check;

ALTER TABLE notification
    ADD CONSTRAINT notification_status_check CHECK (status IN ('queued', 'delivered', 'failed')),
    ADD COLUMN idempotency_key uuid NOT NULL
        GENERATED ALWAYS AS (md5('muba-notification:' || dedupe_key)::uuid) STORED,
    ADD COLUMN claim_id        uuid,
    ADD COLUMN last_error      text,
    ADD COLUMN failed_at       timestamptz,
    ADD CONSTRAINT notification_failed_at_check CHECK ((status = 'failed') = (failed_at IS NOT NULL));
