-- Kafka keys and headers are bytes, not text: a partner's key or header may hold a NUL or be no
-- UTF-8 at all, and a dead letter must carry it verbatim (text and jsonb cannot hold a NUL).
ALTER TABLE outbox ALTER COLUMN key TYPE bytea USING convert_to(key, 'UTF8');
-- Headers sent before `headers`, exactly as they arrived (dead letters): JSON [[name, base64 | null], ...].
ALTER TABLE outbox ADD COLUMN raw_headers bytea;
