-- Who read what through the HTTP API (shared/http_access.py): one row per call to /api/* by a
-- known token, written before the answer leaves. Parameters are stored masked (NIKs and phone
-- numbers never appear here); the token itself is never stored, only the name it was given.
-- Rows are kept: they are the office's record of access to personal data (UU PDP 27/2022).
CREATE TABLE api_audit (
    id            bigserial PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    caller_name   text NOT NULL,
    caller_role   text NOT NULL CHECK (caller_role IN ('office', 'company', 'auditor')),
    company_id    text CHECK ((caller_role = 'company') = (company_id IS NOT NULL)),
    endpoint      text NOT NULL,
    params        jsonb NOT NULL DEFAULT '{}',
    status        integer NOT NULL,
    personal_data boolean NOT NULL,
    client        text NOT NULL DEFAULT ''
);
CREATE INDEX api_audit_caller ON api_audit (caller_name, id);
