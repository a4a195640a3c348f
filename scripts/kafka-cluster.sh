#!/usr/bin/env bash
# A local 3-node Apache Kafka cluster (KRaft; each node broker and controller in one JVM) for
# fault tests, from the same jars as scripts/kafka.sh (.cache/). It does not touch the
# single broker of scripts/kafka.sh: node i listens on 127.0.0.1:i9092 (PLAINTEXT) and
# 127.0.0.1:i9093 (controller), i = 1..3, with its own log dir under $FK_CLUSTER_DIR
# (default ${TMPDIR:-/tmp}/fluxakafka-cluster-$UID), one cluster id, replication factor 3 and
# min.insync.replicas 2; brokers count as gone 3 s after their last heartbeat.
#
#   scripts/kafka-cluster.sh up            start the three nodes (a fresh cluster); returns once
#                                          every node answers
#   scripts/kafka-cluster.sh down          stop them and remove the cluster's data
#   scripts/kafka-cluster.sh status        exit 0 when all three of ours run
#   scripts/kafka-cluster.sh pid N         the pid of node N (only a process this script started)
#   scripts/kafka-cluster.sh start-node N  start node N again (after a test killed it)
set -euo pipefail

KAFKA_VERSION=3.9.1
NODES=(1 2 3)
root="$(cd "$(dirname "$0")/.." && pwd)"
libs="${FK_KAFKA_CACHE:-$root/.cache}/kafka-$KAFKA_VERSION/libs"
state="${FK_CLUSTER_DIR:-${TMPDIR:-/tmp}/fluxakafka-cluster-$(id -u)}"
lockfile="${TMPDIR:-/tmp}/fluxakafka-cluster.lock"

java_cp() { echo "$libs/*"; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The pid of node N if it runs and is ours: the command line names its own properties file, so a
# recycled pid of an unrelated process never counts (and is never signalled).
node_pid() {
  local n="$1" pid cmd
  [ -f "$state/node$n.pid" ] || return 1
  pid="$(cat "$state/node$n.pid" 2>/dev/null)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  cmd="$(tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline")" || return 1
  [[ "$cmd" == *"kafka.Kafka $state/node$n/server.properties"* ]] || return 1
  echo "$pid"
}

node_answers() { port_open "${1}9092" && grep -q "Kafka Server started" "$state/node$1/server.log" 2>/dev/null; }

with_lock() {
  exec 9>"$lockfile"
  flock -w 180 9 || { echo "kafka-cluster.sh: another run holds $lockfile" >&2; exit 1; }
  "$@"
}

write_config() {
  local n="$1" dir="$state/node$1"
  mkdir -p "$dir"
  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$n
controller.quorum.voters=1@127.0.0.1:19093,2@127.0.0.1:29093,3@127.0.0.1:39093
listeners=PLAINTEXT://127.0.0.1:${n}9092,CONTROLLER://127.0.0.1:${n}9093
advertised.listeners=PLAINTEXT://127.0.0.1:${n}9092
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
# a broker that stops heartbeating loses its partitions' leadership after 3 s
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
offsets.topic.replication.factor=3
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
default.replication.factor=3
min.insync.replicas=2
num.partitions=1
auto.create.topics.enable=false
delete.topic.enable=true
unclean.leader.election.enable=false
PROPS
  cat > "$dir/log4j.properties" <<PROPS
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$dir/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
PROPS
}

# Ports 29092.. lie in Linux's ephemeral range: an outgoing connection of any client (TIME_WAIT
# included) may hold one for a while, and the node would fail to bind. Wait until both are free.
wait_ports_free() {
  local n="$1" deadline=$((SECONDS + 120)) p busy
  while :; do
    busy=""
    for p in "${n}9092" "${n}9093"; do
      if [ -n "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ]; then busy="$p"; fi
    done
    [ -z "$busy" ] && return 0
    if [ $SECONDS -ge $deadline ]; then
      echo "kafka-cluster.sh: 127.0.0.1:$busy stays in use (ss -tan); node $n cannot listen there" >&2
      return 1
    fi
    sleep 1
  done
}

start_node() {
  local n="$1" dir="$state/node$1"
  if node_pid "$n" >/dev/null; then return 0; fi
  wait_ports_free "$n" || return 1
  # a restart must wait for its own "started" line, not find the one of the last run
  if [ -f "$dir/server.log" ]; then mv "$dir/server.log" "$dir/server.log.$(date +%s)"; fi
  nohup java -Xms256m -Xmx512m -Dlog4j.configuration="file:$dir/log4j.properties" \
    -cp "$(java_cp)" kafka.Kafka "$dir/server.properties" >> "$dir/stdout.log" 2>&1 9>&- &
  echo $! > "$state/node$n.pid"
}

wait_nodes() {
  local deadline=$((SECONDS + 120)) n
  for n in "$@"; do
    until node_answers "$n"; do
      if ! node_pid "$n" >/dev/null || [ $SECONDS -ge $deadline ]; then
        echo "kafka-cluster.sh: node $n did not start; its first errors and last lines:" >&2
        grep -m 5 -E "ERROR|FATAL" "$state/node$n/server.log" >&2 2>/dev/null || true
        tail -n 10 "$state/node$n/server.log" "$state/node$n/stdout.log" >&2 2>/dev/null || true
        return 1
      fi
      sleep 0.2
    done
  done
}

up() {
  local n
  if status; then echo "kafka-cluster.sh: cluster already running"; return 0; fi
  down >/dev/null
  for n in "${NODES[@]}"; do
    for p in "${n}9092" "${n}9093"; do
      if port_open "$p"; then
        echo "kafka-cluster.sh: 127.0.0.1:$p is in use by a process this script did not start" >&2
        exit 1
      fi
    done
  done
  [ -f "$libs/kafka_2.13-$KAFKA_VERSION.jar" ] || bash "$root/scripts/kafka.sh" fetch
  mkdir -p "$state"
  local cluster_id
  cluster_id="$(java -cp "$(java_cp)" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
  for n in "${NODES[@]}"; do
    write_config "$n"
    java -cp "$(java_cp)" -Dlog4j.configuration="file:$state/node$n/log4j.properties" kafka.tools.StorageTool format \
      -t "$cluster_id" -c "$state/node$n/server.properties" > "$state/node$n/format.log" 2>&1 \
      || { echo "kafka-cluster.sh: formatting node $n failed:" >&2; cat "$state/node$n/format.log" >&2; exit 1; }
  done
  for n in "${NODES[@]}"; do start_node "$n" || { down >/dev/null 2>&1; exit 1; }; done
  # a port taken between the check and the bind fails the node: start it again, once
  for n in "${NODES[@]}"; do
    if ! wait_nodes "$n" 2>/dev/null; then
      echo "kafka-cluster.sh: node $n did not come up; starting it again" >&2
      { start_node "$n" && wait_nodes "$n"; } || { down >/dev/null 2>&1; exit 1; }
    fi
  done
  echo "kafka-cluster.sh: 3 nodes running on 127.0.0.1:19092,29092,39092 (cluster $cluster_id, data in $state)"
}

down() {
  local n pid
  for n in "${NODES[@]}"; do
    if pid="$(node_pid "$n")"; then
      kill -CONT "$pid" 2>/dev/null || true   # a stopped node cannot handle SIGTERM
      kill "$pid" 2>/dev/null || true
    fi
  done
  local deadline=$((SECONDS + 30))
  for n in "${NODES[@]}"; do
    while node_pid "$n" >/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    if pid="$(node_pid "$n")"; then kill -9 "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$state"
  echo "kafka-cluster.sh: cluster stopped"
}

status() {
  local n
  for n in "${NODES[@]}"; do node_pid "$n" >/dev/null && node_answers "$n" || return 1; done
}

case "${1:-}" in
  up) with_lock up ;;
  down) with_lock down ;;
  status) status ;;
  pid) node_pid "${2:?node number}" ;;
  start-node) start_node "${2:?node number}"; wait_nodes "$2" ;;
  *) echo "usage: $0 up|down|status|pid N|start-node N" >&2; exit 2 ;;
esac
