#!/usr/bin/env bash
# A real PostgreSQL from Debian's packages, without Docker: installs it when absent, runs a
# private cluster on 127.0.0.1:${PGPORT:-5432} with the database "muba" and one schema and
# login role per service and the BPJS simulator (deploy/sql/init.sql).
#   deploy/local/postgres.sh up|down|status|install|psql
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
port="${PGPORT:-5432}"
dbname="${MUBA_DB_NAME:-muba}"
# The cluster runs as the "postgres" OS user when we are root, so its files must live where that
# user can reach them (a checkout under a 0700 temp folder cannot): default /var/tmp/muba-postgres.
if [ "$(id -u)" = 0 ]; then
  base="${MUBA_PG_DIR:-/var/tmp/muba-postgres-$port}"
else
  base="${MUBA_PG_DIR:-${MUBA_CACHE:-$root/.cache}/postgres}"
fi
data="$base/data"
log="$base/postgres.log"

say() { printf 'postgres: %s\n' "$*"; }
die() { printf 'postgres: ERROR: %s\n' "$*" >&2; exit 1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  [ -n "$d" ] && echo "$d"
}

install() {
  if bindir >/dev/null; then return 0; fi
  [ "$(id -u)" = 0 ] || die "PostgreSQL is not installed; run as root or: sudo apt-get install -y postgresql"
  say "installing PostgreSQL from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die "apt-get update failed"
  # policy-rc.d keeps the package from starting its own cluster on our port.
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends postgresql postgresql-contrib >/dev/null \
    || die "apt-get install postgresql failed"
  rm -f /usr/sbin/policy-rc.d
}

as_owner() {
  # From / : the postgres user may not be allowed into the checkout (e.g. under a 0700 temp dir).
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

version() { "$(bindir)/postgres" --version | awk '{print $3}'; }

superuser_psql() {
  "$(bindir)/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres "$@"
}

up() {
  install
  local bin; bin=$(bindir)
  if as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    say "already running: PostgreSQL $(version) on 127.0.0.1:$port ($data)"
  else
    port_open "$port" && die "port $port is taken by another process; stop it (pg_lsclusters) or set PGPORT"
    if [ ! -f "$data/PG_VERSION" ]; then
      mkdir -p "$base"
      [ "$(id -u)" = 0 ] && chown postgres:postgres "$base"
      as_owner "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$base/initdb.log" 2>&1 \
        || { cat "$base/initdb.log" >&2; die "initdb failed"; }
      cat >>"$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$base'
max_connections = 200
shared_buffers = 256MB
fsync = on
synchronous_commit = on
log_min_messages = warning
CONF
      # The superuser is trusted on loopback (scripts, tests); service roles log in with passwords.
      cat >"$data/pg_hba.conf" <<CONF
local all all trust
host all postgres 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
CONF
      say "initialised a cluster in $data"
    fi
    as_owner "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null \
      || { tail -n 20 "$log" >&2; die "the server did not start (log: $log)"; }
  fi
  if [ -z "$(superuser_psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$dbname'")" ]; then
    superuser_psql -d postgres -c "CREATE DATABASE $dbname"
  fi
  superuser_psql -d "$dbname" \
    -v dbname="$dbname" \
    -v registry_password="${REGISTRY_DB_PASSWORD:-registry}" \
    -v sponsorship_password="${SPONSORSHIP_DB_PASSWORD:-sponsorship}" \
    -v notifications_password="${NOTIFICATIONS_DB_PASSWORD:-notifications}" \
    -v bpjs_password="${BPJS_DB_PASSWORD:-bpjs}" \
    -f "$here/../sql/init.sql" >/dev/null
  say "up: PostgreSQL $(version) on 127.0.0.1:$port, database $dbname with schemas registry, sponsorship, notifications, bpjs"
}

down() {
  local bin; bin=$(bindir) || { say "not installed"; return 0; }
  if as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    say "stopped"
  else
    say "not running"
  fi
}

status() {
  local bin; bin=$(bindir) || { say "not installed"; return 3; }
  if as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    say "running: PostgreSQL $(version) on 127.0.0.1:$port ($data)"
  else
    say "not running"; return 3
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  install) install ;;
  psql) shift; superuser_psql -d "$dbname" "$@" ;;
  reset) down; rm -rf "$data"; say "cluster removed" ;;
  *) echo "usage: $0 up|down|status|install|psql|reset" >&2; exit 2 ;;
esac
