#!/usr/bin/env bash
# Starts one Kafka node of deploy/compose.yaml (and compose.ha.yaml) in the apache/kafka image,
# instead of the image's own /etc/kafka/docker/run, for two things that image cannot do:
#   - the passwords stay in compose secrets (files under /run/secrets): the JAAS lines that carry
#     them are written here into the node's server.properties (mode 0600, inside the container),
#     never into compose.yaml or the container's environment;
#   - the admin and broker SCRAM credentials exist before the first client connects: the storage is
#     formatted once with `kafka-storage format --add-scram` (SCRAM credentials live in the
#     metadata log, so the broker could not otherwise authenticate itself to itself).
#
# Everything else is the image's own convention: every KAFKA_* variable of the container is a
# broker property (KAFKA_NODE_ID -> node.id; `__` -> `_`, `___` -> `-`), except the JVM ones that
# kafka-run-class.sh reads. CLUSTER_ID formats the storage.
#
# Secrets read (compose mounts them): kafka_broker_password (SCRAM, inter-broker), kafka_controller_password
# (SASL/PLAIN on the controller listener: KRaft controllers cannot use SCRAM, whose credentials are
# in the log they have not read yet), kafka_admin_password (the provisioning principal, SCRAM),
# kafka_broker_keystore (PEM key + certificate of the EXTERNAL listener).
# It also writes $config_dir/muba-client.properties (SASL as the broker principal) for the healthcheck.
#
# KAFKA_BIN, MUBA_KAFKA_SECRETS and MUBA_KAFKA_CONFIG_DIR default to the image's paths;
# tests/unit/test_compose.py renders this file's properties without a container.
set -euo pipefail

bin="${KAFKA_BIN:-/opt/kafka/bin}"
secrets="${MUBA_KAFKA_SECRETS:-/run/secrets}"
config_dir="${MUBA_KAFKA_CONFIG_DIR:-/opt/kafka/config}"
props="$config_dir/muba-server.properties"
client="$config_dir/muba-client.properties"

die() { printf 'kafka-start: ERROR: %s\n' "$*" >&2; exit 1; }

# A secret file's text without its trailing CR/LF (the services read theirs the same way).
secret() {
  local file="$secrets/$1" value
  [ -r "$file" ] || die "secret $1 is missing ($file): run deploy/compose/secrets.sh"
  value=$(cat -- "$file" && printf x)
  value=${value%x}
  while [[ $value == *$'\n' || $value == *$'\r' ]]; do value=${value%?}; done
  [ -n "$value" ] || die "secret $1 is empty"
  printf '%s' "$value"
}

# A password goes into JAAS lines and --add-scram arguments: refuse what those cannot carry.
password() {
  local value
  value=$(secret "$1")
  [[ $value =~ ^[A-Za-z0-9._~+/=-]+$ ]] \
    || die "secret $1 has characters Kafka's JAAS and SCRAM syntax cannot carry; use [A-Za-z0-9._~+/=-] (deploy/compose/secrets.sh does)"
  printf '%s' "$value"
}

# KAFKA_A_B -> a.b, KAFKA_A__B -> a_b, KAFKA_A___B -> a-b (the apache/kafka image's rule).
property_name() {
  local name=${1#KAFKA_}
  name=${name//___/-}
  name=${name//__/$'\x01'}
  name=${name//_/.}
  name=${name//$'\x01'/_}
  printf '%s' "${name,,}"
}

# A value in .properties syntax: backslashes doubled (the only escape our values could need).
property_value() { printf '%s' "${1//\\/\\\\}"; }

render() {
  local name value
  printf '# Written by deploy/compose/kafka-start.sh from the KAFKA_* environment and the secrets.\n'
  while IFS= read -r name; do
    case "$name" in
      KAFKA_HEAP_OPTS | KAFKA_HEAP_OPT | KAFKA_OPTS | KAFKA_JVM_PERFORMANCE_OPTS | KAFKA_GC_LOG_OPTS | \
        KAFKA_LOG4J_OPTS | KAFKA_JMX_OPTS | KAFKA_JMX_PORT | KAFKA_JMX_HOSTNAME | KAFKA_DEBUG | \
        KAFKA_VERSION | KAFKA_LOG4J_ROOT_LOGLEVEL | KAFKA_LOG4J_LOGGERS | KAFKA_TOOLS_LOG4J_LOGLEVEL | KAFKA_BIN)
        continue ;;
    esac
    value=${!name}
    [[ $value == *$'\n'* ]] && die "$name spans several lines"
    printf '%s=%s\n' "$(property_name "$name")" "$(property_value "$value")"
  done < <(compgen -e | grep '^KAFKA_' | LC_ALL=C sort)
  # The controller listener: SASL/PLAIN, with the one controller user (the controllers and the
  # broker side of each node log in as it).
  local controller=${KAFKA_CONTROLLER_LISTENER_NAMES:?KAFKA_CONTROLLER_LISTENER_NAMES is not set}
  local inter=${KAFKA_INTER_BROKER_LISTENER_NAME:?KAFKA_INTER_BROKER_LISTENER_NAME is not set}
  printf 'listener.name.%s.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="controller" password="%s" user_controller="%s";\n' \
    "${controller,,}" "$controller_password" "$controller_password"
  # Every other listener: SCRAM-SHA-512; the inter-broker one also logs the broker in as `broker`.
  local entry listener entries
  IFS=',' read -ra entries <<<"${KAFKA_LISTENER_SECURITY_PROTOCOL_MAP:?KAFKA_LISTENER_SECURITY_PROTOCOL_MAP is not set}"
  for entry in "${entries[@]}"; do
    listener=${entry%%:*}
    [ "$listener" = "$controller" ] && continue
    [[ ${entry#*:} == SASL_* ]] || die "listener $listener is ${entry#*:}: every listener must be SASL"
    if [ "$listener" = "$inter" ]; then
      printf 'listener.name.%s.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="%s";\n' \
        "${listener,,}" "$broker_password"
    else
      printf 'listener.name.%s.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;\n' \
        "${listener,,}"
    fi
  done
}

[ -n "${CLUSTER_ID:-}" ] || die "CLUSTER_ID is not set"
[ -n "${KAFKA_LOG_DIRS:-}" ] || die "KAFKA_LOG_DIRS is not set"
broker_password=$(password kafka_broker_password)
controller_password=$(password kafka_controller_password)
admin_password=$(password kafka_admin_password)
[ -r "$secrets/kafka_broker_keystore" ] || die "secret kafka_broker_keystore is missing: run deploy/compose/secrets.sh"

mkdir -p "$config_dir"
umask 077
render >"$props.tmp"
mv "$props.tmp" "$props"
printf 'security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="%s";\n' \
  "$broker_password" >"$client"

if [ "${1:-}" = "render" ]; then  # print the properties (tests), start nothing
  cat "$props"
  exit 0
fi

# First start of this volume: format it with the cluster id and the two SCRAM credentials the
# cluster needs before anyone can create others (the provisioning job then adds the rest as admin).
if [ ! -f "$KAFKA_LOG_DIRS/meta.properties" ]; then
  "$bin/kafka-storage.sh" format --cluster-id "$CLUSTER_ID" --config "$props" \
    --add-scram "SCRAM-SHA-512=[name=admin,password=$admin_password]" \
    --add-scram "SCRAM-SHA-512=[name=broker,password=$broker_password]"
fi
unset admin_password
exec "$bin/kafka-server-start.sh" "$props"
