-- One database, one schema per service (and `bpjs`, the BPJS simulator's inbox and outbox), each
-- owned by its own login role that can use only its own schema. Run as a superuser by
-- deploy/local/postgres.sh and by the postgres image's /docker-entrypoint-initdb.d. Idempotent.
-- Passwords come from psql variables.
\set ON_ERROR_STOP on
SET client_min_messages = warning;

SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', r.name, r.password)
FROM (VALUES ('registry', :'registry_password'),
             ('sponsorship', :'sponsorship_password'),
             ('notifications', :'notifications_password'),
             ('bpjs', :'bpjs_password')) AS r(name, password)
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r.name)
\gexec

REVOKE ALL ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON DATABASE :"dbname" FROM PUBLIC;

SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', current_database(), r)
FROM unnest(ARRAY['registry', 'sponsorship', 'notifications', 'bpjs']) AS r
\gexec

SELECT format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', r, r)
FROM unnest(ARRAY['registry', 'sponsorship', 'notifications', 'bpjs']) AS r
\gexec

SELECT format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', r)
FROM unnest(ARRAY['registry', 'sponsorship', 'notifications', 'bpjs']) AS r
\gexec

SELECT format('ALTER ROLE %I IN DATABASE %I SET search_path = %I', r, current_database(), r)
FROM unnest(ARRAY['registry', 'sponsorship', 'notifications', 'bpjs']) AS r
\gexec

-- Liveness bounds: a frozen or lost client (SIGSTOP, a dead host, a partition) cannot hold its
-- locks (inbox keys, kecamatan advisory locks, row locks) for long. Sized for the services' work:
-- a batch is one short transaction, so one idle for 10 s belongs to a frozen instance, and its
-- locks are free before its consumer-group session (10 s, shared/runtime.py) hands its partitions
-- to a twin. The BPJS simulator keeps its batch open through its simulated processing time (up
-- to 30 s, simulators/bpjs/settings.py): 40 s for it. Migrations lift the first two for their own
-- session (shared/db.py); the outbox relay's session adds a short idle_session_timeout.
--   statement_timeout                   30 s   one statement; the batch is then retried
--   lock_timeout                        10 s   waiting for a lock another instance holds
--   idle_in_transaction_session_timeout 10 s   a transaction left open by a frozen instance
--                                       (bpjs 40 s)
--   tcp_keepalives_*                    10/5/3 a silent peer is noticed within ~25 s
SELECT format('ALTER ROLE %I IN DATABASE %I SET %s = %L', r, current_database(), s.name,
              CASE WHEN s.name = 'idle_in_transaction_session_timeout' AND r = 'bpjs' THEN '40s'
                   ELSE s.value END)
FROM unnest(ARRAY['registry', 'sponsorship', 'notifications', 'bpjs']) AS r,
     (VALUES ('statement_timeout', '30s'),
             ('lock_timeout', '10s'),
             ('idle_in_transaction_session_timeout', '10s'),
             ('tcp_keepalives_idle', '10'),
             ('tcp_keepalives_interval', '5'),
             ('tcp_keepalives_count', '3')) AS s(name, value)
\gexec
