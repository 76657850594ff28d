#!/usr/bin/env bash
# A real single-node Apache Kafka (KRaft, combined broker + controller) without Docker.
# The jars come from Maven Central through deploy/local/pom.xml; state lives in .cache/kafka.
#   deploy/local/kafka.sh up|down|status|fetch
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache="${MUBA_CACHE:-$root/.cache}/kafka"
libs="$cache/libs"
data="$cache/data"
conf="$cache/server.properties"
pidfile="$cache/kafka.pid"
log="$cache/kafka.log"
port="${KAFKA_PORT:-9092}"
controller_port="${KAFKA_CONTROLLER_PORT:-9093}"
heap="${KAFKA_HEAP:-512m}"

say() { printf 'kafka: %s\n' "$*"; }
die() { printf 'kafka: ERROR: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

running_pid() {
  [ -f "$pidfile" ] || return 1
  local pid; pid=$(cat "$pidfile")
  kill -0 "$pid" 2>/dev/null && echo "$pid"
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
  mkdir -p "$libs"
  if ! mvn -B -q -f "$here/pom.xml" \
      org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$libs" >"$cache/mvn.log" 2>&1; then
    tail -n 20 "$cache/mvn.log" >&2
    rm -rf "$libs"
    die "Maven could not download Kafka (see $cache/mvn.log)"
  fi
}

write_config() {
  mkdir -p "$data"
  cat >"$conf" <<CONF
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.quorum.bootstrap.servers=127.0.0.1:$controller_port
log.dirs=$data
num.partitions=${KAFKA_NUM_PARTITIONS:-4}
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.retention.hours=168
log.segment.bytes=67108864
message.max.bytes=2097152
CONF
  cat >"$cache/log4j2.yaml" <<'CONF'
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
CONF
}

java_opts() {
  opts=(-Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
        -Dlog4j2.configurationFile="$cache/log4j2.yaml" -cp "$libs/*")
}

java_run() { java_opts; java "${opts[@]}" "$@"; }

up() {
  if pid=$(running_pid); then
    say "already running (pid $pid) on 127.0.0.1:$port, version $(version)"
    return 0
  fi
  if port_open "$port"; then
    die "port $port is taken by another process (not ours); stop it or set KAFKA_PORT"
  fi
  if port_open "$controller_port"; then
    die "port $controller_port is taken by another process; stop it or set KAFKA_CONTROLLER_PORT"
  fi
  command -v java >/dev/null || die "Java is missing: install a JDK 17+ (apt-get install openjdk-17-jre-headless)"
  fetch
  write_config
  if [ ! -f "$data/meta.properties" ]; then
    local cluster_id
    cluster_id=$(java_run kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)
    java_run kafka.tools.StorageTool format -t "$cluster_id" -c "$conf" --standalone >"$cache/format.log" 2>&1 \
      || { cat "$cache/format.log" >&2; die "could not format the KRaft storage"; }
    say "formatted KRaft storage (cluster $cluster_id)"
  fi
  java_opts
  # setsid: the broker outlives the shell (and make) that started it.
  setsid java "${opts[@]}" kafka.Kafka "$conf" >"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  local waited=0
  until port_open "$port" && grep -q "Kafka Server started" "$log" 2>/dev/null; do
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      tail -n 30 "$log" >&2
      die "the broker exited during start-up (log: $log)"
    fi
    [ "$waited" -ge 120 ] && { tail -n 30 "$log" >&2; die "the broker did not answer on 127.0.0.1:$port within 60 s"; }
    sleep 0.5; waited=$((waited + 1))
  done
  say "up: Apache Kafka $(version) (KRaft, single node) on 127.0.0.1:$port, pid $(cat "$pidfile")"
}

down() {
  local pid
  if ! pid=$(running_pid); then
    say "not running"
    rm -f "$pidfile"
    return 0
  fi
  kill -TERM "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; say "stopped"; return 0; }
    sleep 0.5
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  say "killed after 30 s (did not stop on SIGTERM)"
}

status() {
  local pid
  if pid=$(running_pid) && port_open "$port"; then
    say "running: Apache Kafka $(version) (KRaft) on 127.0.0.1:$port, pid $pid"
  else
    say "not running"
    return 3
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  fetch) fetch; say "jars ready: Apache Kafka $(version)" ;;
  reset) down; rm -rf "$data"; say "storage removed" ;;
  *) echo "usage: $0 up|down|status|fetch|reset" >&2; exit 2 ;;
esac
