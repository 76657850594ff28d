-- A message's real state, as far as the programme can know it:
--
--     queued --(provider accepted: sent_at)--> sent --(receipt)--> delivered | failed
--        +--> failed (refused for good, or out of attempts)
--
-- `delivered` used to mean "the provider accepted it": those rows are `sent` now, except webhooks,
-- whose receiver is the company itself (its 2xx is the delivery). `provider` and
-- `provider_message_id` say who took the message and under which id (Twilio's SID, the e-mail's
-- Message-ID); a delivery receipt finds its message by them. `sms_segments` is what an SMS costs
-- (GSM-7 or UCS-2 segments), counted when the message is queued. `submission` is the rejected
-- registration a message is about (the events' key when there is no worker). `attachment_url` is
-- what the e-mail carries as an attachment (an invoice's CSV), fetched when it is sent.
ALTER TABLE notification DROP CONSTRAINT notification_status_check;
ALTER TABLE notification DROP CONSTRAINT notification_check;

ALTER TABLE notification
    ADD COLUMN sent_at             timestamptz,
    ADD COLUMN provider            text,
    ADD COLUMN provider_message_id text,
    ADD COLUMN sms_segments        integer CHECK (sms_segments > 0),
    ADD COLUMN submission          text,
    ADD COLUMN attachment_url      text;

UPDATE notification SET sent_at = delivered_at, provider = 'gateway' WHERE status = 'delivered';
UPDATE notification SET status = 'sent', delivered_at = NULL WHERE status = 'delivered' AND channel <> 'webhook';

ALTER TABLE notification
    ADD CONSTRAINT notification_status_check CHECK (status IN ('queued', 'sent', 'delivered', 'failed')),
    ADD CONSTRAINT notification_sent_at_check CHECK ((status IN ('sent', 'delivered')) <= (sent_at IS NOT NULL)),
    ADD CONSTRAINT notification_delivered_at_check CHECK ((status = 'delivered') = (delivered_at IS NOT NULL));

CREATE UNIQUE INDEX notification_provider_message ON notification (provider, provider_message_id)
    WHERE provider_message_id IS NOT NULL;

-- Every delivery receipt a provider sent us, verified (its signature) before it is written: a
-- receipt may come before our own record of the acceptance (the provider is quick), so it is kept
-- here and applied as soon as both are known. The same report twice is one row.
CREATE TABLE delivery_receipt (
    provider            text NOT NULL,
    provider_message_id text NOT NULL,
    status              text NOT NULL,
    error_code          text,
    received_at         timestamptz NOT NULL DEFAULT now(),
    applied_at          timestamptz,
    PRIMARY KEY (provider, provider_message_id, status)
);
CREATE INDEX delivery_receipt_unapplied ON delivery_receipt (provider, provider_message_id) WHERE applied_at IS NULL;
