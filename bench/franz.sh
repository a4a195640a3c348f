#!/usr/bin/env bash
# fluxakafka against franz-go (FluxaORM's Go client, bench/franz/franz_bench.go), the CPU each
# spends per record: the client process (all its threads, getrusage) and the broker's JVM
# (/proc/<pid>/stat) over each program's timed span. Producing at linger 0 and at linger 5 ms
# (acks=all) and consuming with every record field read. Plain C on librdkafka
# (bench/baseline.c, consuming the payload length only: the least a librdkafka consumer
# costs) runs in the same rounds as the ceiling of any client built on librdkafka. Writes the
# "franz" section of bench/RESULTS.md. make bench runs it after bench/run.sh.
# Environment: N (1000000) records of SIZE (100) bytes, RUNS (7 rounds; medians, and ratios
# paired within each round, the two clients in the opposite order every other round),
# FK_BROKERS (127.0.0.1:9092), FK_BROKER_PID (the broker JVM's pid; default the one in
# .kafka/kafka.pid, which scripts/kafka.sh writes), RUN_TIMEOUT (300 s per program run),
# FRANZ_GO_VERSION (v1.22.3). Needs Go (PATH, or /usr/local/go/bin) and the Go module proxy;
# franz-go is built once per source version outside the checkout (spec/go_build.lua).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
N="${N:-1000000}"
SIZE="${SIZE:-100}"
RUNS="${RUNS:-7}"
RUN_TIMEOUT="${RUN_TIMEOUT:-300}"
FRANZ_GO_VERSION="${FRANZ_GO_VERSION:-v1.22.3}"
export FK_BROKERS="${FK_BROKERS:-127.0.0.1:9092}" ACKS=-1
export LUA_PATH="$root/lua/?.lua;$root/lua/?/init.lua;$root/spec/?.lua;;" LUA_CPATH="$root/build/?.so;;"
export PATH="$PATH:/usr/local/go/bin"
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
FK_BROKER_PID="$(broker_pid)"
export FK_BROKER_PID

[ -x build/bench-baseline ] || cc -O2 -Wall -Wextra -Werror bench/baseline.c -lrdkafka -lm -o build/bench-baseline
franz="$(luajit -e 'io.write(require("go_build").build("bench/franz/franz_bench.go",
  { "github.com/twmb/franz-go/pkg/kgo@'"$FRANZ_GO_VERSION"'" }))')"
logs="build/bench-logs/franz-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$logs"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

# the command of a client for a mode: produce0, produce5 (linger in ms) or consume
run_client() {
  local cl="$1" mode="$2" topic="$3" linger=0
  [ "$mode" = produce5 ] && linger=5
  local -a cmd=(luajit bench/fluxakafka_bench.lua)
  [ "$cl" = go ] && cmd=("$franz")
  [ "$cl" = c ] && cmd=(./build/bench-baseline)
  if [ "$mode" = consume ]; then
    bench "$cl-$mode-$run" "${cmd[@]}" consume "$FK_BROKERS" "$topic" "$N"
  else
    LINGER_MS=$linger bench "$cl-$mode-$run" "${cmd[@]}" produce "$FK_BROKERS" "$topic" "$N" "$SIZE"
  fi
}
declare -A results=()   # results[client/mode/client|broker] = the runs' ns per record
failures=0
tstamp="$(date +%s)"
modes=(produce0 produce5 consume)
for run in $(seq "$RUNS"); do
  order=(lua go c)
  [ $((run % 2)) -eq 0 ] && order=(c go lua)
  echo "round $run/$RUNS (${order[*]}): $N records of $SIZE bytes" >&2
  for mode in "${modes[@]}"; do
    for cl in "${order[@]}"; do
      topic="bench-franz-$cl-$tstamp-$run"   # consume reads what produce0 wrote
      [ "$mode" = produce5 ] && topic="$topic-l5"
      # a failed run (a record not delivered, too few consumed) counts in no median
      if [ "$(run_client "$cl" "$mode" "$topic")" = FAIL ] ||
         ! line="$(grep '^PROCCPU' "$logs/$cl-$mode-$run.log" | tail -n 1)"; then
        failures=$((failures + 1))
        line="PROCCPU $mode FAIL FAIL"
      fi
      read -r _ _ client broker <<<"$line"
      results[$cl/$mode/client]+=" $client"
      results[$cl/$mode/broker]+=" $broker"
    done
  done
done
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

declare -A label=([produce0]="produce linger 0" [produce5]="produce linger 5" [consume]="consume")
section="$logs/section.md"
{
  echo "## Against franz-go"
  echo
  echo "Written by \`make bench\` (bench/franz.sh) on $(date -u '+%Y-%m-%d %H:%M UTC'): fluxakafka (bench/fluxakafka_bench.lua), franz-go (bench/franz/franz_bench.go) and plain C on librdkafka (bench/baseline.c), $N records of $SIZE bytes, $RUNS rounds, the three in the opposite order every other round; each figure is the median over the rounds, each ratio (fluxakafka / franz-go, plain C / franz-go) the median of the ratios within a round. Client CPU: utime+stime of the whole process (every thread: librdkafka's or the Go runtime's included; getrusage RUSAGE_SELF) over the timed span, per record. Broker CPU: utime+stime of the broker JVM (/proc/<pid>/stat, 10 ms ticks) over the same span, per record; the broker is shared with whatever else runs on the machine, so this column is the noisier one."
  echo
  echo "- Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'); load average before: $load_before, after: $load_after"
  echo "- Versions: fluxakafka $(luajit -e 'print(require("fluxakafka").VERSION or "")' 2>/dev/null) on librdkafka $(luajit -e 'print(require("fluxakafka").librdkafka_version())' 2>/dev/null), $(luajit -v | cut -d' ' -f1-2); franz-go $FRANZ_GO_VERSION built with $(go version | cut -d' ' -f3); Apache Kafka ${KAFKA_VERSION:-3.9.1}, single KRaft node on the same machine ($FK_BROKERS)"
  echo "- Produce: acks=all, linger.ms 0 or 5, no compression (franz-go's default would be snappy), each client's other defaults (franz-go: idempotent, up to 5 requests in flight per broker); a fresh topic per client and round, auto-created with 1 partition by one untimed record; timed from the first record to the end of the flush. fluxakafka: \`pool:produce({topic =, value =})\` without a callback (the burst is staged and handed to librdkafka 64 records at a time, csrc/fk_stage.c); franz-go: \`Produce\` with a promise counting failures; plain C: \`rd_kafka_producev\` per record with a delivery callback, the same settings as fluxakafka. Consume: a new group reading the linger-0 topic from the start; every field of every record read (topic, partition, offset, key, value, headers, timestamp); plain C reads only each payload's length (the least a consumer on librdkafka costs); the CPU span starts before the consumer is created (every client fetches ahead while it joins) and ends at the ${N}th record."
  echo
  echo "| work | fluxakafka ns/record | franz-go ns/record | ratio | fluxakafka broker ns/record | franz-go broker ns/record | broker ratio | plain C ns/record | plain C / franz-go |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  for mode in "${modes[@]}"; do
    row="| ${label[$mode]}"
    for side in client broker; do
      # shellcheck disable=SC2086
      row+=" | $(median ${results[lua/$mode/$side]}) | $(median ${results[go/$mode/$side]}) | $(median $(paired_ratios "${results[lua/$mode/$side]}" "${results[go/$mode/$side]}"))"
    done
    # shellcheck disable=SC2086
    row+=" | $(median ${results[c/$mode/client]}) | $(median $(paired_ratios "${results[c/$mode/client]}" "${results[go/$mode/client]}"))"
    echo "$row |"
  done
  echo
  echo "All rounds (ns per record, client / broker):"
  for mode in "${modes[@]}"; do
    echo "- ${label[$mode]}: fluxakafka${results[lua/$mode/client]} / ${results[lua/$mode/broker]# }; franz-go${results[go/$mode/client]} / ${results[go/$mode/broker]# }; plain C${results[c/$mode/client]} / ${results[c/$mode/broker]# }"
  done
} > "$section"
bash bench/section.sh franz "$section"
if [ "$failures" -ne 0 ]; then
  echo "franz.sh: $failures run(s) failed; see $logs/" >&2
  exit 1
fi
