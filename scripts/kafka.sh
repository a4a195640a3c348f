#!/usr/bin/env bash
# A local single-node Apache Kafka (KRaft, broker and controller in one JVM) for tests, demos
# and benchmarks, from Maven Central jars.
#
#   scripts/kafka.sh fetch [VERSION]   download the jars once (into .cache/, or $FK_KAFKA_CACHE)
#   scripts/kafka.sh up [VERSION]      start it (harmless when that version already runs); returns
#                                      once it answers
#
# VERSION (or $FK_KAFKA_VERSION) is any Apache Kafka 3.x or 4.x on Maven Central; 3.9.1 when not
# given. CI runs the suite on 3.9.1 and on the newest 4.x (see .ci/README.md).
#   scripts/kafka.sh down     stop it and remove its data
#   scripts/kafka.sh status   exit 0 when ours runs and answers
#
# Listeners: PLAINTEXT 127.0.0.1:9092, controller 127.0.0.1:9093, SASL_PLAINTEXT 127.0.0.1:9094
# (PLAIN fluxa/fluxa-secret, SCRAM-SHA-256 scram256/scram256-secret, SCRAM-SHA-512
# scram512/scram512-secret), SSL 127.0.0.1:9095 and SASL_SSL 127.0.0.1:9096 (same users) with a
# test CA made here: .kafka/tls/ca.pem, and a client certificate .kafka/tls/client.{pem,key}.
set -euo pipefail

KAFKA_VERSION="${2:-${FK_KAFKA_VERSION:-3.9.1}}"
[[ "$KAFKA_VERSION" =~ ^[34]\.[0-9]+\.[0-9]+$ ]] \
  || { echo "kafka.sh: Kafka version '$KAFKA_VERSION' is not one this script knows how to run (3.x.y or 4.x.y)" >&2; exit 2; }
KAFKA_MAJOR="${KAFKA_VERSION%%.*}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${FK_KAFKA_CACHE:-$root/.cache}/kafka-$KAFKA_VERSION"
libs="$cache/libs"
# FK_KAFKA_PORT_BASE moves the five listeners (base .. base+4) so that a second broker, of another
# version say, can run beside the usual one (9192 is free; kafka-cluster.sh takes 19092-39094); its
# state then lives in .kafka-BASE.
PORT_BASE="${FK_KAFKA_PORT_BASE:-9092}"
P_PLAIN=$PORT_BASE P_CONTROLLER=$((PORT_BASE + 1)) P_SASL=$((PORT_BASE + 2)) P_SSL=$((PORT_BASE + 3)) P_SASL_SSL=$((PORT_BASE + 4))
state="$root/.kafka"
[ "$PORT_BASE" = 9092 ] || state="$root/.kafka-$PORT_BASE"
pidfile="$state/kafka.pid"
log="$state/server.log"
PORTS=($P_PLAIN $P_CONTROLLER $P_SASL $P_SSL $P_SASL_SSL)
# The ports are machine-wide, so the lock is too: two checkouts or two test runs calling up/down at
# once must not format, start or delete the same broker concurrently.
lockfile="${TMPDIR:-/tmp}/fluxakafka-kafka-$PORT_BASE.lock"

java_cp() { echo "$libs/*"; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The pid of the broker this script started, if it still runs. The command line is checked, not
# just kill -0: after a reboot or a crash the pid may belong to an unrelated process, which down
# must never kill. (A zombie has an empty command line, so it does not count as running either.)
our_pid() {
  [ -f "$pidfile" ] || return 1
  local pid cmd
  pid="$(cat "$pidfile" 2>/dev/null)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  cmd="$(tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline")" || return 1
  [[ "$cmd" == *"kafka.Kafka $state/server.properties"* ]] || return 1
  echo "$pid"
}

# Who listens on a port, for the error message when it is not our broker.
port_owner() { ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'users:(([^)]*' | head -n 1 | sed 's/users:((//'; }

with_lock() {
  exec 9>"$lockfile"
  flock -w 180 9 || { echo "kafka.sh: another kafka.sh still holds $lockfile after 180 s" >&2; exit 1; }
  "$@"
}

fetch() {
  if [ -f "$libs/kafka_2.13-$KAFKA_VERSION.jar" ]; then return 0; fi
  command -v mvn >/dev/null || { echo "kafka.sh: maven is missing (make deps installs it)" >&2; exit 1; }
  echo "kafka.sh: fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into $libs"
  rm -rf "$libs.partial"   # left over from an interrupted download
  mkdir -p "$libs.partial"
  # Maven's output goes to a file (it is noise when all goes well) and is shown when it fails.
  local pom="$root/scripts/kafka-pom.xml"
  [ "$KAFKA_MAJOR" = 4 ] && pom="$root/scripts/kafka4-pom.xml"
  mkdir -p "$cache"
  mvn -q -B -Dstyle.color=never -f "$pom" -Dkafka.version="$KAFKA_VERSION" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$libs.partial" > "$cache/fetch.log" 2>&1 \
    || { echo "kafka.sh: maven could not fetch the jars:" >&2; tail -n 40 "$cache/fetch.log" >&2; exit 1; }
  rm -rf "$libs"
  mv "$libs.partial" "$libs"   # only a complete download becomes the cache
}

# A throw-away CA, a broker certificate for 127.0.0.1/localhost and a client certificate.
make_certs() {
  local tls="$state/tls"
  mkdir -p "$tls"
  (
    cd "$tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=fluxakafka test CA" \
      -keyout ca.key -out ca.pem 2>/dev/null
    for who in broker client; do
      openssl req -newkey rsa:2048 -nodes -subj "/CN=$who" -keyout "$who.key" -out "$who.csr" 2>/dev/null
      printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$who.ext"
      openssl x509 -req -in "$who.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
        -extfile "$who.ext" -out "$who.pem" 2>/dev/null
    done
    # the broker reads its key and certificate from one PEM file (PKCS#8 key first)
    openssl pkcs8 -topk8 -nocrypt -in broker.key -out broker.p8
    cat broker.p8 broker.pem > broker-keystore.pem
  )
}

write_config() {
  mkdir -p "$state"
  make_certs
  # PLAIN users live in the listener's JAAS line; SCRAM users are added at format time
  cat > "$state/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$P_CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$P_PLAIN,CONTROLLER://127.0.0.1:$P_CONTROLLER,SASL_PLAINTEXT://127.0.0.1:$P_SASL,SSL://127.0.0.1:$P_SSL,SASL_SSL://127.0.0.1:$P_SASL_SSL
advertised.listeners=PLAINTEXT://127.0.0.1:$P_PLAIN,SASL_PLAINTEXT://127.0.0.1:$P_SASL,SSL://127.0.0.1:$P_SSL,SASL_SSL://127.0.0.1:$P_SASL_SSL
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_fluxa="fluxa-secret";
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_fluxa="fluxa-secret";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location=$state/tls/broker-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$state/tls/ca.pem
ssl.client.auth=requested
log.dirs=$state/data
# quick group joins and single-replica internal topics: this is a one-node test broker
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=true
delete.topic.enable=true
PROPS
  # 3.x logs through reload4j (log4j 1 syntax), 4.x through log4j2
  if [ "$KAFKA_MAJOR" = 3 ]; then
    cat > "$state/log4j.properties" <<PROPS
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
PROPS
  else
    cat > "$state/log4j2.properties" <<PROPS
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=file
appender.file.type=File
appender.file.name=file
appender.file.fileName=$log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
PROPS
  fi
  echo "$KAFKA_VERSION" > "$state/version"
}

log_config() {
  if [ "$KAFKA_MAJOR" = 3 ]; then echo "-Dlog4j.configuration=file:$state/log4j.properties"
  else echo "-Dlog4j2.configurationFile=file:$state/log4j2.properties"; fi
}

# Ready means both: the broker logged the end of its startup, and every client listener accepts
# TCP. An open port alone can come before the broker serves requests, and the log line alone says
# nothing about a listener that failed to come up; clients of either kind must not race it.
answers() { port_open $P_PLAIN && port_open $P_SASL && port_open $P_SSL && port_open $P_SASL_SSL && grep -q "Kafka Server started" "$log" 2>/dev/null; }

up() {
  if our_pid >/dev/null && answers && [ "$(cat "$state/version" 2>/dev/null)" = "$KAFKA_VERSION" ]; then
    echo "kafka.sh: Apache Kafka $KAFKA_VERSION already running (pid $(our_pid))"
    return 0
  fi
  if our_pid >/dev/null; then down; fi
  # Nothing of ours runs now, so a listening port belongs to someone else (another broker, an old
  # run from a different checkout): starting would only fail later with a bind error in the log.
  local port
  for port in "${PORTS[@]}"; do
    if port_open "$port"; then
      echo "kafka.sh: 127.0.0.1:$port is already in use by a process this script did not start ($(port_owner "$port"))" >&2
      echo "kafka.sh: stop it (or free ports ${PORTS[*]}) and run up again" >&2
      exit 1
    fi
  done
  fetch
  # Every start is a fresh cluster: tests must not depend on topics or offsets of an earlier run.
  rm -rf "$state"
  write_config
  local cluster_id
  cluster_id="$(java -cp "$(java_cp)" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)" \
    || { echo "kafka.sh: kafka.tools.StorageTool random-uuid failed (is $libs complete?)" >&2; exit 1; }
  # SCRAM credentials live in the KRaft metadata log, so they are written at format time (-S) and
  # exist before any client connects; PLAIN users are in the JAAS line of server.properties.
  java -cp "$(java_cp)" "$(log_config)" kafka.tools.StorageTool format \
    -t "$cluster_id" -c "$state/server.properties" \
    -S 'SCRAM-SHA-256=[name=scram256,password=scram256-secret]' \
    -S 'SCRAM-SHA-512=[name=scram512,password=scram512-secret]' > "$state/format.log" 2>&1 \
    || { echo "kafka.sh: formatting the storage failed:" >&2; cat "$state/format.log" >&2; exit 1; }
  # 9>&-: the broker must not inherit the lock's descriptor, or it would hold the lock for its life.
  nohup java -Xms256m -Xmx512m "$(log_config)" \
    -cp "$(java_cp)" kafka.Kafka "$state/server.properties" > "$state/stdout.log" 2>&1 9>&- &
  echo $! > "$pidfile"
  local deadline=$((SECONDS + 90))
  until answers; do
    if ! our_pid >/dev/null || [ $SECONDS -ge $deadline ]; then
      echo "kafka.sh: the broker did not start; last lines of its log:" >&2
      tail -n 40 "$log" "$state/stdout.log" >&2 2>/dev/null || true
      down >/dev/null 2>&1 || true
      exit 1
    fi
    sleep 0.2
  done
  echo "kafka.sh: Apache Kafka $KAFKA_VERSION running on 127.0.0.1:$P_PLAIN (SASL $P_SASL, SSL $P_SSL, SASL_SSL $P_SASL_SSL), pid $(our_pid)"
}

down() {
  local pid
  if pid="$(our_pid)"; then
    # SIGTERM lets the broker shut down cleanly (usually a few seconds); SIGKILL only if it hangs.
    kill "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 30))
    while our_pid >/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    if our_pid >/dev/null; then
      echo "kafka.sh: broker did not stop within 30 s; killing it" >&2
      kill -9 "$pid" 2>/dev/null || true
    fi
    echo "kafka.sh: broker stopped"
  fi
  rm -rf "$state"
}

status() { our_pid >/dev/null && answers && [ "$(cat "$state/version" 2>/dev/null)" = "$KAFKA_VERSION" ]; }

case "${1:-}" in
  fetch) with_lock fetch ;;
  up) with_lock up ;;
  down) with_lock down ;;
  status) status ;;   # read-only: no lock, so it never waits behind a starting broker
  *) echo "usage: $0 fetch|up|down|status" >&2; exit 2 ;;
esac
