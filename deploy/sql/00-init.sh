#!/usr/bin/env bash
# First-start initialisation for the postgres image (deploy/compose.yaml mounts this file in
# /docker-entrypoint-initdb.d): runs init.sql, the same file deploy/local/postgres.sh applies, with
# the same psql variables and the same password defaults.
#
# init.sql is mounted outside /docker-entrypoint-initdb.d (at /muba-sql/init.sql) on purpose: the
# image also runs every *.sql file in that folder by itself, through psql without variables, and
# init.sql would then fail on :'registry_password' and abort the initialisation.
#
# The image runs this file when it is executable and sources it otherwise, so it sets only the
# shell options the entrypoint itself uses (set -u would leak into it) and does not call exit.
set -Eeo pipefail

psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v dbname="$POSTGRES_DB" \
  -v registry_password="${REGISTRY_DB_PASSWORD:-registry}" \
  -v sponsorship_password="${SPONSORSHIP_DB_PASSWORD:-sponsorship}" \
  -v notifications_password="${NOTIFICATIONS_DB_PASSWORD:-notifications}" \
  -f "${MUBA_INIT_SQL:-/muba-sql/init.sql}"
