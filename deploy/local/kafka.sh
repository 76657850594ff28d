#!/usr/bin/env bash
# A real Apache Kafka (KRaft, combined broker + controller nodes) without Docker.
#   KAFKA_BROKERS=1 (default): one node, replication factor 1: fine for a laptop, loses what is on
#     its disk if that disk goes; acks=all then means acks=1.
#   KAFKA_BROKERS=3 (make infra-up BROKERS=3): three nodes on loopback with a 3-voter controller
#     quorum, replication factor 3 and min.insync.replicas=2: an acknowledged record survives the
#     loss of any one node, and the cluster keeps accepting writes while one node is down.
# Node N listens for clients on KAFKA_PORT + 2(N-1) (9092, 9094, 9096: SASL_PLAINTEXT, loopback),
# for clients over TLS on KAFKA_TLS_PORT + 2(N-1) (9192, 9194, 9196: SASL_SSL, advertised as
# KAFKA_TLS_HOST, default localhost) and for its controller on KAFKA_CONTROLLER_PORT + 2(N-1)
# (9093, 9095, 9097). Topics are never auto-created: the project creates them (python -m
# shared.kafka_admin provision; make infra-up does it).
# Security: no listener without SASL. Clients authenticate with SCRAM-SHA-512 (credentials in the
# metadata log: `broker` and `admin` are written at format time, every other principal by
# provisioning); the controller listener uses SASL/PLAIN (Kafka cannot check SCRAM there, where
# the metadata log is not readable yet). The StandardAuthorizer denies whatever no ACL allows
# (shared/access.py holds the ACLs). Passwords (one file per principal) and the TLS CA live in
# MUBA_SECRETS_DIR (default .cache/secrets), created here on first use, never committed.
# The jars come from Maven Central through deploy/local/pom.xml into MUBA_KAFKA_LIBS (default
# .cache/kafka/libs); state lives in .cache/kafka (one node) or .cache/kafka/node-N (three).
#   deploy/local/kafka.sh up|down|status|fetch|reset|bootstrap
#   deploy/local/kafka.sh stop-node N|kill-node N|start-node N   one node of the cluster (faults)
#   deploy/local/kafka.sh config N                               node N's server.properties
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache="${MUBA_CACHE:-$root/.cache}/kafka"
libs="${MUBA_KAFKA_LIBS:-$cache/libs}"
brokers="${KAFKA_BROKERS:-1}"
port="${KAFKA_PORT:-9092}"
controller_port="${KAFKA_CONTROLLER_PORT:-$((port + 1))}"
tls_port="${KAFKA_TLS_PORT:-$((port + 100))}"
tls_host="${KAFKA_TLS_HOST:-localhost}"  # the name clients use; KAFKA_TLS_BIND=0.0.0.0 opens it off the host
secrets="${MUBA_SECRETS_DIR:-${MUBA_CACHE:-$root/.cache}/secrets}"
# Every principal of shared/access.py that is not a partner (partners: `muba partners add`).
PRINCIPALS="admin broker controller registry sponsorship notifications bpjs operator subscriber"

say() { printf 'kafka: %s\n' "$*"; }
die() { printf 'kafka: ERROR: %s\n' "$*" >&2; exit 1; }

case "$brokers" in
  1) rf=1; min_isr=1; heap="${KAFKA_HEAP:-512m}" ;;
  # 384m each: three nodes fit a 2-core 24 GiB machine next to PostgreSQL and the services.
  3) rf=3; min_isr=2; heap="${KAFKA_HEAP:-384m}" ;;
  *) die "KAFKA_BROKERS must be 1 or 3, not '$brokers'" ;;
esac

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- where node N lives -------------------------------------------------------------------------
# One node keeps the layout it always had (.cache/kafka/data, kafka.pid, ...), so an existing
# single broker keeps its data; the three nodes of a cluster get a folder each.
node_dir() { if [ "$brokers" = 1 ]; then echo "$cache"; else echo "$cache/node-$1"; fi; }
client_port() { echo $((port + 2 * ($1 - 1))); }
node_controller_port() { echo $((controller_port + 2 * ($1 - 1))); }
node_tls_port() { echo $((tls_port + 2 * ($1 - 1))); }
nodes() { seq 1 "$brokers"; }

bootstrap() {
  local n out=()
  for n in $(nodes); do out+=("127.0.0.1:$(client_port "$n")"); done
  (IFS=,; echo "${out[*]}")
}

tls_bootstrap() {
  local n out=()
  for n in $(nodes); do out+=("$tls_host:$(node_tls_port "$n")"); done
  (IFS=,; echo "${out[*]}")
}

# --- secrets ------------------------------------------------------------------------------------
# The password of a principal; `config N` prints server.properties with "<secret>" instead.
mask_secrets=0
password_of() { if [ "$mask_secrets" = 1 ]; then echo "<secret>"; else cat "$secrets/kafka/$1"; fi; }

# One random password per principal (kept once made: the cluster stores their SCRAM hashes).
make_passwords() {
  local p
  mkdir -p "$secrets/kafka"
  chmod 700 "$secrets" "$secrets/kafka"
  for p in $PRINCIPALS; do
    [ -s "$secrets/kafka/$p" ] && continue
    (umask 077; head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$secrets/kafka/$p")
  done
  make_nik_key
  make_webhook_key
  make_feed_key
}

# Not Kafka's, but made with the local secrets: the registry's key for the funder lists' NIK
# hashes (services/registry/funders.py). Kept once made: a new key makes the lists unusable.
# `up` makes it even when Kafka already runs (a checkout older than the key).
make_nik_key() {
  mkdir -p "$secrets/registry"
  chmod 700 "$secrets" "$secrets/registry"
  [ -s "$secrets/registry/nik-key" ] && return 0
  (umask 077; head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$secrets/registry/nik-key")
}

# The notifications service's webhook key: each company's signing secret is derived from it
# (services/notifications/webhooks.py). Kept once made: a new key gives every company a new secret.
make_webhook_key() {
  mkdir -p "$secrets/notifications"
  chmod 700 "$secrets/notifications"
  [ -s "$secrets/notifications/webhook-key" ] && return 0
  (umask 077; head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$secrets/notifications/webhook-key")
}

# Sponsorship's key for the public feed's worker pseudonyms (services/sponsorship/domain/feed.py).
# Kept once made: a new key gives every worker a new pseudonym on the feed.
make_feed_key() {
  mkdir -p "$secrets/sponsorship"
  chmod 700 "$secrets/sponsorship"
  [ -s "$secrets/sponsorship/feed-key" ] && return 0
  (umask 077; head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$secrets/sponsorship/feed-key")
}

# A CA of our own and the brokers' certificate (SAN: localhost, 127.0.0.1 and KAFKA_TLS_HOST), for
# the SASL_SSL listener. Clients trust $secrets/tls/ca.pem and check the host name.
make_certificates() {
  local tls="$secrets/tls" san="DNS:localhost,IP:127.0.0.1"
  case "$tls_host" in
    localhost|127.0.0.1) ;;
    *[!0-9.]*) san="$san,DNS:$tls_host" ;;
    *) san="$san,IP:$tls_host" ;;
  esac
  local ca="$secrets/ca"
  mkdir -p "$ca"; chmod 700 "$ca"
  [ -s "$tls/ca.key" ] && mv -f "$tls/ca.key" "$ca/ca.key"
  if [ -s "$tls/broker.pem" ] && [ "$(cat "$tls/broker.san" 2>/dev/null)" = "$san" ]; then return 0; fi
  command -v openssl >/dev/null || die "openssl is missing: install it (apt-get install openssl)"
  mkdir -p "$tls"; chmod 700 "$tls"
  # The CA's key lives apart from what clients read (tls/ca.pem): whoever reads it could sign a
  # broker certificate for any name.
  if [ ! -s "$tls/ca.pem" ] || [ ! -s "$ca/ca.key" ]; then
    (umask 077; openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Muba BPJS programme local CA" \
      -keyout "$ca/ca.key" -out "$tls/ca.pem" >/dev/null 2>&1) || die "openssl could not make the CA"
  fi
  (umask 077
   openssl req -newkey rsa:2048 -nodes -subj "/CN=$tls_host" -keyout "$tls/broker.key.pem" \
     -out "$tls/broker.csr" >/dev/null 2>&1 \
   && printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san" >"$tls/broker.ext" \
   && openssl x509 -req -in "$tls/broker.csr" -CA "$tls/ca.pem" -CAkey "$ca/ca.key" -CAcreateserial \
     -days 825 -extfile "$tls/broker.ext" -out "$tls/broker.crt" >/dev/null 2>&1 \
   && openssl pkcs8 -topk8 -nocrypt -in "$tls/broker.key.pem" -out "$tls/broker.key" \
   && cat "$tls/broker.key" "$tls/broker.crt" "$tls/ca.pem" >"$tls/broker.pem") \
    || die "openssl could not make the broker certificate"
  rm -f "$tls/broker.csr" "$tls/broker.ext" "$tls/broker.key.pem"
  echo "$san" >"$tls/broker.san"
}

quorum_bootstrap() {
  local n out=()
  for n in $(nodes); do out+=("127.0.0.1:$(node_controller_port "$n")"); done
  (IFS=,; echo "${out[*]}")
}

pid_of() {  # pid file -> pid, if that process lives
  [ -f "$1" ] || return 1
  local pid; pid=$(cat "$1")
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

node_pid() { pid_of "$(node_dir "$1")/kafka.pid"; }

# Pid files of every layout in this cache, whatever KAFKA_BROKERS says now: down and reset must
# stop a cluster started in the other mode too.
all_pidfiles() {
  local f
  for f in "$cache/kafka.pid" "$cache"/node-*/kafka.pid; do
    [ -f "$f" ] && echo "$f"
  done
  return 0
}

version() {
  local jar; jar=$(ls "$libs"/kafka_2.13-*.jar 2>/dev/null | grep -v -- '-test' | head -n1)
  [ -n "$jar" ] && basename "$jar" .jar | sed 's/^kafka_2.13-//'
}

fetch() {
  if ls "$libs"/kafka_2.13-*.jar >/dev/null 2>&1; then return 0; fi
  command -v java >/dev/null || die "Java is missing: install a JDK 17+ (apt-get install openjdk-17-jre-headless)"
  command -v mvn >/dev/null || die "Maven is missing: install it (apt-get install maven)"
  say "fetching Apache Kafka jars with Maven into $libs"
  mkdir -p "$libs" "$cache"
  if ! mvn -B -q -f "$here/pom.xml" \
      org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$libs" >"$cache/mvn.log" 2>&1; then
    tail -n 20 "$cache/mvn.log" >&2
    rm -rf "$libs"
    die "Maven could not download Kafka (see $cache/mvn.log)"
  fi
}

# A Kafka Uuid: 16 random bytes, URL-safe base64 without padding (what `kafka-storage
# random-uuid` prints), not starting with '-' so that no tool takes it for an option.
random_uuid() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [ "${id:0:1}" != "-" ] && { echo "$id"; return; }
  done
}

# server.properties of node N, on stdout (tests/unit/test_compose.py compares it with compose).
render_config() {
  local n=$1 data; data="$(node_dir "$n")/data"
  cat <<CONF
process.roles=broker,controller
node.id=$n
listeners=CLIENT://127.0.0.1:$(client_port "$n"),TLS://${KAFKA_TLS_BIND:-127.0.0.1}:$(node_tls_port "$n"),CONTROLLER://127.0.0.1:$(node_controller_port "$n")
advertised.listeners=CLIENT://127.0.0.1:$(client_port "$n"),TLS://$tls_host:$(node_tls_port "$n")
controller.listener.names=CONTROLLER
listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,TLS:SASL_SSL,CONTROLLER:SASL_PLAINTEXT
inter.broker.listener.name=CLIENT
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
sasl.mechanism.controller.protocol=PLAIN
listener.name.client.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.tls.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="$(password_of broker)";
listener.name.tls.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="controller" password="$(password_of controller)" user_controller="$(password_of controller)";
listener.name.tls.ssl.keystore.type=PEM
listener.name.tls.ssl.keystore.location=$secrets/tls/broker.pem
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:broker;User:controller
controller.quorum.bootstrap.servers=$(quorum_bootstrap)
log.dirs=$data
num.partitions=${KAFKA_NUM_PARTITIONS:-4}
default.replication.factor=$rf
min.insync.replicas=$min_isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$min_isr
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$min_isr
unclean.leader.election.enable=false
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.retention.hours=168
log.segment.bytes=67108864
message.max.bytes=2097152
replica.fetch.max.bytes=4194304
CONF
}
# message.max.bytes is the default for topics: partner-facing topics take records up to 2 MiB.
# Dead-letter topics are provisioned with max.message.bytes=4 MiB (the original record plus the
# dead-letter headers), so followers fetch up to 4 MiB per partition (replica.fetch.max.bytes).

write_log_config() {
  cat >"$cache/log4j2.yaml" <<'YAML'
Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka
        level: WARN
      - name: org.apache.kafka
        level: WARN
      - name: kafka.server.KafkaRaftServer
        level: INFO
      - name: kafka.Kafka
        level: INFO
      - name: kafka.server.BrokerServer
        level: INFO
YAML
}

java_opts() {
  opts=(-Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
        -Dlog4j2.configurationFile="$cache/log4j2.yaml" -cp "$libs/*")
}

java_tool() {  # a Kafka tool in a small JVM of its own
  java -Xmx128m -Djava.awt.headless=true -Dlog4j2.configurationFile="$cache/log4j2.yaml" -cp "$libs/*" "$@"
}

# The other layout must not run from this cache: the ports and the meaning of `down` would clash.
refuse_other_mode() {
  local f
  if [ "$brokers" = 1 ]; then
    for f in "$cache"/node-*/kafka.pid; do
      [ -f "$f" ] && pid_of "$f" >/dev/null \
        && die "a 3-broker cluster runs from $cache; stop it first (deploy/local/kafka.sh down)"
    done
  elif pid_of "$cache/kafka.pid" >/dev/null; then
    die "a 1-broker Kafka runs from $cache; stop it first (deploy/local/kafka.sh down)"
  fi
  return 0
}

prepare() {
  command -v java >/dev/null || die "Java is missing: install a JDK 17+ (apt-get install openjdk-17-jre-headless)"
  fetch
  mkdir -p "$cache"
  write_log_config
  make_passwords
  make_certificates
  local n
  for n in $(nodes); do
    mkdir -p "$(node_dir "$n")/data"
    (umask 077; render_config "$n" >"$(node_dir "$n")/server.properties")
  done
}

# Format the storage of every node that has none. All nodes of a cluster are formatted together
# with the same cluster id and the same initial controllers (a dynamic KRaft quorum, KIP-853);
# a cluster with some nodes formatted and others not is refused (reset it).
format_storage() {
  local n formatted=0 cluster_id
  for n in $(nodes); do
    [ -f "$(node_dir "$n")/data/meta.properties" ] && formatted=$((formatted + 1))
  done
  if [ "$formatted" = "$brokers" ]; then
    for n in $(nodes); do
      [ -f "$(node_dir "$n")/data/.muba-sasl" ] \
        || die "node $n's storage was formatted before SASL (no SCRAM credentials in it); run deploy/local/kafka.sh reset"
    done
    return 0
  fi
  [ "$formatted" = 0 ] || die "only $formatted of $brokers nodes have storage; run deploy/local/kafka.sh reset"
  cluster_id=$(random_uuid)
  # The inter-broker principal and the admin exist from the first start; provisioning adds the rest.
  local scram=(--add-scram "SCRAM-SHA-512=[name=broker,password=$(password_of broker)]"
               --add-scram "SCRAM-SHA-512=[name=admin,password=$(password_of admin)]")
  if [ "$brokers" = 1 ]; then
    java_tool kafka.tools.StorageTool format -t "$cluster_id" -c "$cache/server.properties" --standalone "${scram[@]}" \
      >"$cache/format.log" 2>&1 || { cat "$cache/format.log" >&2; die "could not format the KRaft storage"; }
    touch "$cache/data/.muba-sasl"
    say "formatted KRaft storage (cluster $cluster_id)"
    return 0
  fi
  local voters=() pids=()
  for n in $(nodes); do voters+=("$n@127.0.0.1:$(node_controller_port "$n"):$(random_uuid)"); done
  local initial; initial=$(IFS=,; echo "${voters[*]}")
  for n in $(nodes); do
    java_tool kafka.tools.StorageTool format -t "$cluster_id" -c "$(node_dir "$n")/server.properties" \
      --initial-controllers "$initial" "${scram[@]}" >"$(node_dir "$n")/format.log" 2>&1 &
    pids+=($!)
  done
  local i=0 failed=0
  for n in $(nodes); do
    wait "${pids[$i]}" || { cat "$(node_dir "$n")/format.log" >&2; failed=1; }
    i=$((i + 1))
  done
  [ "$failed" = 0 ] || die "could not format the KRaft storage"
  for n in $(nodes); do touch "$(node_dir "$n")/data/.muba-sasl"; done
  say "formatted KRaft storage of $brokers nodes (cluster $cluster_id, controllers $initial)"
}

launch_node() {
  local n=$1 dir; dir=$(node_dir "$n")
  local cp; cp=$(client_port "$n")
  local ctl; ctl=$(node_controller_port "$n")
  port_open "$cp" && die "port $cp (node $n) is taken by another process (not ours); stop it or set KAFKA_PORT"
  port_open "$(node_tls_port "$n")" && die "port $(node_tls_port "$n") (node $n's TLS listener) is taken by another process; stop it or set KAFKA_TLS_PORT"
  port_open "$ctl" && die "port $ctl (node $n's controller) is taken by another process; stop it or set KAFKA_CONTROLLER_PORT"
  [ -f "$dir/kafka.log" ] && mv -f "$dir/kafka.log" "$dir/kafka.log.1"
  java_opts
  # setsid: the broker outlives the shell (and make) that started it.
  setsid java "${opts[@]}" kafka.Kafka "$dir/server.properties" >"$dir/kafka.log" 2>&1 </dev/null &
  echo $! >"$dir/kafka.pid"
}

wait_started() {  # node numbers...
  local n dir waited=0 pending=("$@") still
  while [ ${#pending[@]} -gt 0 ]; do
    still=()
    for n in "${pending[@]}"; do
      dir=$(node_dir "$n")
      if port_open "$(client_port "$n")" && grep -q "Kafka Server started" "$dir/kafka.log" 2>/dev/null; then
        continue
      fi
      if ! kill -0 "$(cat "$dir/kafka.pid")" 2>/dev/null; then
        tail -n 30 "$dir/kafka.log" >&2
        die "node $n exited during start-up (log: $dir/kafka.log)"
      fi
      still+=("$n")
    done
    [ ${#still[@]} -eq 0 ] && return 0
    if [ "$waited" -ge 240 ]; then
      for n in "${still[@]}"; do tail -n 30 "$(node_dir "$n")/kafka.log" >&2; done
      die "node(s) ${still[*]} did not start within 120 s"
    fi
    pending=("${still[@]}")
    sleep 0.5; waited=$((waited + 1))
  done
}

describe() {
  if [ "$brokers" = 1 ]; then
    echo "Apache Kafka $(version) (KRaft, single node, replication factor 1) on $(bootstrap) (SASL/SCRAM), $(tls_bootstrap) (SASL_SSL)"
  else
    echo "Apache Kafka $(version) (KRaft, $brokers nodes, replication factor $rf, min.insync.replicas $min_isr) on $(bootstrap) (SASL/SCRAM), $(tls_bootstrap) (SASL_SSL)"
  fi
}

up() {
  refuse_other_mode
  make_passwords  # what a newer checkout adds (a principal, a key), also when Kafka already runs
  local n missing=()
  for n in $(nodes); do node_pid "$n" >/dev/null || missing+=("$n"); done
  if [ ${#missing[@]} -eq 0 ]; then
    say "already running: $(describe)"
    return 0
  fi
  prepare
  format_storage
  for n in "${missing[@]}"; do launch_node "$n"; done
  wait_started "${missing[@]}"
  say "up: $(describe)"
}

stop_pidfile() {  # pidfile signal label
  local pid
  if ! pid=$(pid_of "$1"); then
    rm -f "$1"
    return 1
  fi
  kill "-$2" "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$1"; return 0; }
    sleep 0.5
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$1"
  say "$3: killed after 30 s (did not stop on SIG$2)"
}

down() {
  local f stopped=0 pids=()
  # In parallel: a node waiting for its peers' controlled shutdown must not wait for us.
  for f in $(all_pidfiles); do
    if pid_of "$f" >/dev/null; then
      stop_pidfile "$f" TERM "$(basename "$(dirname "$f")")" &
      pids+=($!)
      stopped=$((stopped + 1))
    else
      rm -f "$f"
    fi
  done
  for f in "${pids[@]}"; do wait "$f" || true; done
  if [ "$stopped" = 0 ]; then say "not running"; else say "stopped ($stopped node(s))"; fi
}

status() {
  local n up_count=0 pid lines=()
  for n in $(nodes); do
    if pid=$(node_pid "$n") && port_open "$(client_port "$n")"; then
      up_count=$((up_count + 1)); lines+=("node $n: running on 127.0.0.1:$(client_port "$n"), pid $pid")
    else
      lines+=("node $n: not running")
    fi
  done
  if [ "$up_count" = "$brokers" ]; then
    say "running: $(describe)"
  elif [ "$up_count" = 0 ]; then
    say "not running"
  else
    say "degraded: $up_count of $brokers nodes running"
  fi
  if [ "$brokers" != 1 ]; then
    for n in "${lines[@]}"; do say "  $n"; done
  fi
  [ "$up_count" = "$brokers" ] || return 3
}

node_arg() {
  local n=${1:-}
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le "$brokers" ] \
    || die "name a node from 1 to $brokers (KAFKA_BROKERS=$brokers)"
  echo "$n"
}

stop_node() {  # node signal
  local n; n=$(node_arg "$1")
  if stop_pidfile "$(node_dir "$n")/kafka.pid" "$2" "node $n"; then
    say "node $n stopped (SIG$2)"
  else
    say "node $n was not running"
  fi
}

start_node() {
  local n; n=$(node_arg "$1")
  refuse_other_mode
  if pid=$(node_pid "$n"); then say "node $n already running (pid $pid)"; return 0; fi
  [ -f "$(node_dir "$n")/data/meta.properties" ] || die "node $n has no storage; start the cluster with up"
  prepare
  launch_node "$n"
  wait_started "$n"
  say "node $n up on 127.0.0.1:$(client_port "$n"), pid $(cat "$(node_dir "$n")/kafka.pid")"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  fetch) fetch; say "jars ready: Apache Kafka $(version)" ;;
  reset) down; rm -rf "$cache/data" "$cache"/node-*; say "storage removed" ;;
  bootstrap) bootstrap ;;
  tls-bootstrap) tls_bootstrap ;;
  config) mask_secrets=1; render_config "$(node_arg "${2:-}")" ;;
  stop-node) stop_node "${2:-}" TERM ;;
  kill-node) stop_node "${2:-}" KILL ;;
  start-node) start_node "${2:-}" ;;
  *) echo "usage: $0 up|down|status|fetch|reset|bootstrap|config N|stop-node N|kill-node N|start-node N" >&2; exit 2 ;;
esac
