#!/usr/bin/env bash
# A private single-node Kafka (KRaft) for the network-fault specs (make test-netfaults), from the
# jars of scripts/kafka.sh. A client follows the addresses the broker advertises, so a proxy in
# front of an ordinary broker would be used for the bootstrap only; this broker advertises the
# proxy's address on the listener the clients under test use:
#
#   BASE     (default 9392, $FK_NETFAULTS_PORT_BASE)  where toxiproxy listens; advertised by PROXIED
#   BASE+1   listener PROXIED, toxiproxy's upstream
#   BASE+2   listener CLEAN, advertised as itself: set-up and read-back that no fault touches
#   BASE+3   controller
#
#   scripts/kafka-netfaults.sh up | down | status
set -euo pipefail

KAFKA_VERSION=3.9.1
root="$(cd "$(dirname "$0")/.." && pwd)"
libs="${FK_KAFKA_CACHE:-$root/.cache}/kafka-$KAFKA_VERSION/libs"
BASE="${FK_NETFAULTS_PORT_BASE:-9392}"
P_PROXY=$BASE P_PROXIED=$((BASE + 1)) P_CLEAN=$((BASE + 2)) P_CONTROLLER=$((BASE + 3))
state="$root/.kafka-netfaults-$BASE"
log="$state/server.log"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# only a broker this script started counts (a recycled pid is never signalled)
our_pid() {
  local pid cmd
  pid="$(cat "$state/kafka.pid" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  cmd="$(tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline")" || return 1
  [[ "$cmd" == *"kafka.Kafka $state/server.properties"* ]] || return 1
  echo "$pid"
}

answers() { port_open $P_PROXIED && port_open $P_CLEAN && grep -q "Kafka Server started" "$log" 2>/dev/null; }

write_config() {
  mkdir -p "$state"
  cat > "$state/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$P_CONTROLLER
listeners=PROXIED://127.0.0.1:$P_PROXIED,CLEAN://127.0.0.1:$P_CLEAN,CONTROLLER://127.0.0.1:$P_CONTROLLER
advertised.listeners=PROXIED://127.0.0.1:$P_PROXY,CLEAN://127.0.0.1:$P_CLEAN
controller.listener.names=CONTROLLER
inter.broker.listener.name=CLEAN
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PROXIED:PLAINTEXT,CLEAN:PLAINTEXT
log.dirs=$state/data
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=true
PROPS
  cat > "$state/log4j.properties" <<PROPS
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
PROPS
}

up() {
  if our_pid >/dev/null && answers; then return 0; fi
  down
  local port
  for port in $P_PROXY $P_PROXIED $P_CLEAN $P_CONTROLLER; do
    if port_open "$port"; then
      echo "kafka-netfaults.sh: 127.0.0.1:$port is taken; set FK_NETFAULTS_PORT_BASE to a free base" >&2
      exit 1
    fi
  done
  bash "$root/scripts/kafka.sh" fetch
  write_config
  local java=(java -cp "$libs/*" -Dlog4j.configuration="file:$state/log4j.properties")
  "${java[@]}" kafka.tools.StorageTool format -t "$("${java[@]}" kafka.tools.StorageTool random-uuid | tail -n 1)" \
    -c "$state/server.properties" > "$state/format.log" 2>&1 \
    || { echo "kafka-netfaults.sh: formatting failed:" >&2; cat "$state/format.log" >&2; exit 1; }
  nohup "${java[@]}" -Xms256m -Xmx512m kafka.Kafka "$state/server.properties" > "$state/stdout.log" 2>&1 &
  echo $! > "$state/kafka.pid"
  local deadline=$((SECONDS + 90))
  until answers; do
    if ! our_pid >/dev/null || [ $SECONDS -ge $deadline ]; then
      echo "kafka-netfaults.sh: the broker did not start:" >&2
      tail -n 30 "$log" "$state/stdout.log" >&2 2>/dev/null || true
      down
      exit 1
    fi
    sleep 0.2
  done
  echo "kafka-netfaults.sh: broker up: proxied listener advertised as 127.0.0.1:$P_PROXY (upstream $P_PROXIED), clean 127.0.0.1:$P_CLEAN"
}

down() {
  local pid
  if pid="$(our_pid)"; then
    kill "$pid"
    local deadline=$((SECONDS + 30))
    while our_pid >/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    if our_pid >/dev/null; then kill -9 "$pid"; fi
  fi
  rm -rf "$state"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) our_pid >/dev/null && answers ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
