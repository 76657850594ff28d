#!/usr/bin/env bash
# The secrets deploy/compose.yaml mounts, generated with random values into deploy/secrets/
# (gitignored; the folder is 0700). Run it once before the first `docker compose up`:
#   bash deploy/compose/secrets.sh            # every missing secret; an existing one is never replaced
#   bash deploy/compose/secrets.sh partner NAME   # a partner's Kafka password (principal partner-NAME)
#   bash deploy/compose/secrets.sh tls        # a new broker certificate (after changing the host name)
#   bash deploy/compose/secrets.sh check      # is everything compose needs there?
#
# What it writes (MUBA_SECRETS_OUT moves the folder, for tests):
#   kafka/<principal>        SCRAM password of admin, broker, registry, sponsorship, notifications,
#                            bpjs, operator; the PLAIN password of controller (design10.md)
#   postgres/<role>          the superuser's (postgres) and each service role's password (and the
#                            BPJS simulator's, bpjs)
#   registry/nik-key         the registry's key for the funder lists' NIK hashes (REGISTRY_NIK_KEY_FILE);
#                            a new key makes the imported lists unusable until they are imported again
#   notifications/webhook-key  the key every company's webhook signing secret is derived from
#                            (NOTIFICATIONS_WEBHOOK_KEY_FILE); a new key gives each company a new secret
#   sponsorship/feed-key     the key of the public feed's worker pseudonyms (SPONSORSHIP_FEED_KEY_FILE);
#                            a new key gives every worker a new pseudonym on the feed
#   http/office-token        the office token (MUBA_OPERATOR_TOKEN_FILE: the services and the muba CLI)
#   http/api-tokens          the other tokens (MUBA_API_TOKENS_FILE), `NAME ROLE TOKEN` a line
#                            (shared/http_access.py): an auditor's; add company:<id> lines yourself
#   tls/ca.pem, tls/ca.key   the project's CA (clients off the host trust ca.pem; ca.key stays here)
#   tls/broker-keystore.pem  the brokers' key and certificate (Kafka's PEM keystore), signed by the
#                            CA for $MUBA_KAFKA_EXTERNAL_HOST, localhost and 127.0.0.1
#
# Files are 0644 inside the 0700 folder: compose bind-mounts each secret as it is on the host
# (it cannot change owner or mode), and the containers' own users (the app's 10001, Kafka's
# appuser, PostgreSQL's postgres) must be able to read them; the folder keeps other host users out.
# The CA key is 0600 and is never mounted.
#
# The host name in the certificate is MUBA_KAFKA_EXTERNAL_HOST from the environment, else from
# deploy/.env, else localhost: the name clients off this host use (KAFKA_ADVERTISED_LISTENERS).
#
# Passwords are 256 random bits, URL-safe base64 ([A-Za-z0-9_-]): nothing to escape in a JAAS
# line, a SCRAM argument, a URL or a shell.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
deploy=$(cd "$here/.." && pwd)
out="${MUBA_SECRETS_OUT:-$deploy/secrets}"

KAFKA_PRINCIPALS=(admin broker controller registry sponsorship notifications bpjs operator subscriber)
DB_ROLES=(postgres registry sponsorship notifications bpjs)
# Kept in step with the brokers' host names in compose.yaml and compose.ha.yaml.
INTERNAL_HOSTS=(kafka kafka-2 kafka-3)

say() { printf 'secrets: %s\n' "$*"; }
die() { printf 'secrets: ERROR: %s\n' "$*" >&2; exit 1; }

command -v openssl >/dev/null || die "openssl is missing (apt-get install openssl)"

random_secret() { openssl rand -base64 32 | tr -d '\n=' | tr '+/' '-_'; }

# Write $2 into $1 unless it exists; never replace a secret a running deployment already uses.
put() {
  local file=$1 value=$2
  if [ -e "$file" ]; then return 0; fi
  mkdir -p "$(dirname "$file")"
  chmod 0700 "$out"
  (umask 022; printf '%s\n' "$value" >"$file.tmp")
  chmod 0644 "$file.tmp"
  mv "$file.tmp" "$file"
  say "created ${file#"$out"/}"
}

external_host() {
  local host="${MUBA_KAFKA_EXTERNAL_HOST:-}"
  if [ -z "$host" ] && [ -f "$deploy/.env" ]; then
    host=$(sed -n 's/^[[:space:]]*MUBA_KAFKA_EXTERNAL_HOST[[:space:]]*=[[:space:]]*//p' "$deploy/.env" \
      | tail -n1 | tr -d "\"'\r" | sed 's/[[:space:]]*$//')
  fi
  printf '%s' "${host:-localhost}"
}

is_ip() { [[ $1 =~ ^[0-9]+(\.[0-9]+){3}$ || $1 == *:* ]]; }

san_for() {
  local host=$1 san
  san="DNS:localhost,IP:127.0.0.1"
  case "$host" in
    localhost | 127.0.0.1) ;;
    *) if is_ip "$host"; then san="IP:$host,$san"; else san="DNS:$host,$san"; fi ;;
  esac
  for h in "${INTERNAL_HOSTS[@]}"; do san+=",DNS:$h"; done
  printf '%s' "$san"
}

ca() {
  local tls=$out/tls
  [ -e "$tls/ca.pem" ] && return 0
  mkdir -p "$tls"
  chmod 0700 "$out"
  openssl req -x509 -new -nodes -newkey rsa:3072 -sha256 -days 3650 \
    -subj "/O=Muba BPJS programme/CN=Muba BPJS programme Kafka CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
  chmod 0600 "$tls/ca.key"
  chmod 0644 "$tls/ca.pem"
  say "created tls/ca.pem (the CA clients trust) and tls/ca.key"
}

broker_certificate() {
  local tls=$out/tls host work
  host=$(external_host)
  ca
  [ -f "$tls/ca.key" ] || die "tls/ca.key is missing: cannot sign a broker certificate"
  work=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" RETURN
  openssl req -new -nodes -newkey rsa:2048 -sha256 -subj "/O=Muba BPJS programme/CN=$host" \
    -keyout "$work/broker.key" -out "$work/broker.csr" 2>/dev/null
  printf 'subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' \
    "$(san_for "$host")" >"$work/ext"
  openssl x509 -req -sha256 -days 825 -in "$work/broker.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -extfile "$work/ext" -out "$work/broker.crt" 2>/dev/null
  # Kafka's PEM keystore: the private key (PKCS#8, unencrypted: the file is the secret) and the chain.
  openssl pkcs8 -topk8 -nocrypt -in "$work/broker.key" -out "$work/broker.p8"
  cat "$work/broker.p8" "$work/broker.crt" "$tls/ca.pem" >"$work/keystore.pem"
  chmod 0644 "$work/keystore.pem"
  mv "$work/keystore.pem" "$tls/broker-keystore.pem"
  say "created tls/broker-keystore.pem for $host ($(san_for "$host"))"
}

generate() {
  mkdir -p "$out"
  chmod 0700 "$out"
  for p in "${KAFKA_PRINCIPALS[@]}"; do put "$out/kafka/$p" "$(random_secret)"; done
  for r in "${DB_ROLES[@]}"; do put "$out/postgres/$r" "$(random_secret)"; done
  put "$out/registry/nik-key" "$(random_secret)"
  put "$out/notifications/webhook-key" "$(random_secret)"
  put "$out/sponsorship/feed-key" "$(random_secret)"
  put "$out/http/office-token" "$(random_secret)"
  put "$out/http/api-tokens" "$(printf '# NAME ROLE TOKEN (ROLE: office, auditor or company:<company_id>); shared/http_access.py\nauditor auditor %s' "$(random_secret)")"
  ca
  if [ ! -e "$out/tls/broker-keystore.pem" ]; then
    broker_certificate
  else
    local host
    host=$(external_host)
    if ! openssl x509 -noout -checkhost "$host" -in "$out/tls/broker-keystore.pem" | grep -q 'does match'; then
      if ! is_ip "$host" || ! openssl x509 -noout -checkip "$host" -in "$out/tls/broker-keystore.pem" | grep -q 'does match'; then
        say "WARNING: tls/broker-keystore.pem is not valid for $host: run '$0 tls' for a new one"
      fi
    fi
  fi
  check
}

partner() {
  local name=${1:-}
  [[ $name =~ ^[a-z0-9][a-z0-9-]*$ ]] || die "a partner's name is [a-z0-9][a-z0-9-]* (got '${name}')"
  [ -e "$out/kafka/partner-$name" ] && { say "kafka/partner-$name exists already"; return 0; }
  put "$out/kafka/partner-$name" "$(random_secret)"
  say "then: docker compose -f deploy/compose.yaml run --rm kafka-provision python -m shared.kafka_admin provision --partner $name"
  say "and give partner-$name its password and tls/ca.pem"
}

check() {
  local missing=0 f
  for p in "${KAFKA_PRINCIPALS[@]}"; do f="$out/kafka/$p"; [ -s "$f" ] || { say "missing kafka/$p"; missing=1; }; done
  for r in "${DB_ROLES[@]}"; do f="$out/postgres/$r"; [ -s "$f" ] || { say "missing postgres/$r"; missing=1; }; done
  for f in http/api-tokens http/office-token registry/nik-key notifications/webhook-key sponsorship/feed-key tls/ca.pem tls/broker-keystore.pem; do
    [ -s "$out/$f" ] || { say "missing $f"; missing=1; }
  done
  [ "$missing" = 0 ] || die "secrets are missing in $out: run $0"
  say "every secret compose needs is in $out"
}

case "${1:-generate}" in
  generate) generate ;;
  partner) shift; partner "${1:-}" ;;
  tls) broker_certificate ;;
  check) check ;;
  *) echo "usage: $0 [generate|partner NAME|tls|check]" >&2; exit 2 ;;
esac
