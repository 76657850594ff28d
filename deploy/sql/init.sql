-- One database, one schema per service, each owned by its own login role that can use only
-- its own schema. Run as a superuser by deploy/local/postgres.sh and by the postgres image's
-- /docker-entrypoint-initdb.d. Idempotent. Passwords come from psql variables.
\set ON_ERROR_STOP on
SET client_min_messages = warning;

SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', r.name, r.password)
FROM (VALUES ('registry', :'registry_password'),
             ('sponsorship', :'sponsorship_password'),
             ('notifications', :'notifications_password')) AS r(name, password)
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r.name)
\gexec

REVOKE ALL ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON DATABASE :"dbname" FROM PUBLIC;

SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', current_database(), r)
FROM unnest(ARRAY['registry', 'sponsorship', 'notifications']) AS r
\gexec

SELECT format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', r, r)
FROM unnest(ARRAY['registry', 'sponsorship', 'notifications']) AS r
\gexec

SELECT format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', r)
FROM unnest(ARRAY['registry', 'sponsorship', 'notifications']) AS r
\gexec

SELECT format('ALTER ROLE %I IN DATABASE %I SET search_path = %I', r, current_database(), r)
FROM unnest(ARRAY['registry', 'sponsorship', 'notifications']) AS r
\gexec
