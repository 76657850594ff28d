#!/usr/bin/env bash
# First-start initialisation for the postgres image (deploy/compose.yaml mounts this file in
# /docker-entrypoint-initdb.d): runs init.sql, the same file deploy/local/postgres.sh applies, with
# the same psql variables and the same password defaults.
#
# Each role's password comes from <SERVICE>_DB_PASSWORD_FILE when it is set (compose mounts the
# generated secrets, deploy/compose/secrets.sh), else from <SERVICE>_DB_PASSWORD, else the local
# default (the service's name). A file's trailing CR/LF are not part of the password (the services
# read it the same way: shared/db.py read_secret_file). psql quotes the values (:'var' in
# init.sql), so any character works.
#
# init.sql is mounted outside /docker-entrypoint-initdb.d (at /muba-sql/init.sql) on purpose: the
# image also runs every *.sql file in that folder by itself, through psql without variables, and
# init.sql would then fail on :'registry_password' and abort the initialisation.
#
# The image runs this file when it is executable and sources it otherwise, so it sets only the
# shell options the entrypoint itself uses (set -u would leak into it) and does not call exit.
set -Eeo pipefail

muba_secret_file() {
  local value
  value=$(cat -- "$1" && printf x) || return 1
  value=${value%x}
  while [[ $value == *$'\n' || $value == *$'\r' ]]; do value=${value%?}; done
  [ -n "$value" ] || { echo "00-init.sh: $1 is empty" >&2; return 1; }
  printf '%s' "$value"
}

for muba_service in REGISTRY SPONSORSHIP NOTIFICATIONS BPJS; do
  muba_file_var="${muba_service}_DB_PASSWORD_FILE"
  if [ -n "${!muba_file_var:-}" ]; then
    muba_value=$(muba_secret_file "${!muba_file_var}")
    export "${muba_service}_DB_PASSWORD=$muba_value"
  fi
done
unset muba_service muba_file_var muba_value

psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v dbname="$POSTGRES_DB" \
  -v registry_password="${REGISTRY_DB_PASSWORD:-registry}" \
  -v sponsorship_password="${SPONSORSHIP_DB_PASSWORD:-sponsorship}" \
  -v notifications_password="${NOTIFICATIONS_DB_PASSWORD:-notifications}" \
  -v bpjs_password="${BPJS_DB_PASSWORD:-bpjs}" \
  -f "${MUBA_INIT_SQL:-/muba-sql/init.sql}"
