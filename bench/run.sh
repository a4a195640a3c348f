#!/usr/bin/env bash
# Throughput of fluxakafka against plain C on librdkafka (bench/baseline.c) and against the
# clients its users would pick instead, confluent-kafka-python (bench/confluent_bench.py) and
# kcat (bench/kcat_bench.sh), all on the same librdkafka, broker and settings, in one run;
# the latency of one acknowledged record (produce_sync), the peak RSS of every program; then
# the plan time of schema management over 1000 topics. Writes bench/RESULTS.md.
# Environment:
#   N (1000000) records of SIZE (100) bytes, RUNS (9; the tables show medians), LAT_N (2000
#   records timed one by one per latency run), FK_BROKERS (127.0.0.1:9092), producer
#   settings ACKS (-1), LINGER_MS (0), QUEUE_MAX (librdkafka's default) and MAX_IN_FLIGHT (5) for every client,
#   RUN_TIMEOUT (300 s per program run), ALTERS (1; 0 skips the schema management part),
#   WARMUP (1; 0 skips the untimed round that warms the broker's JVM up first), CLIENTS (1; 0
#   leaves confluent-kafka-python and kcat out), FRANZ (1; 0 skips bench/franz.sh, the CPU per
#   record of fluxakafka and franz-go, run after the rest with the same N and SIZE).
# Every run uses fresh topics (one per client) and new consumer groups; each program
# produces one warm-up record first (topic auto-creation), which is not timed. Program
# output is kept in build/bench-logs/<stamp>/. Exits 1 if a run failed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
N="${N:-1000000}"
SIZE="${SIZE:-100}"
RUNS="${RUNS:-9}"
RUN_TIMEOUT="${RUN_TIMEOUT:-300}"
ALTERS="${ALTERS:-1}"
WARMUP="${WARMUP:-1}"
CLIENTS="${CLIENTS:-1}"
LAT_N="${LAT_N:-2000}"
PYTHON=/usr/bin/python3   # Debian's, with python3-confluent-kafka (make deps-bench)
export FK_BROKERS="${FK_BROKERS:-127.0.0.1:9092}"
export ACKS="${ACKS:--1}" LINGER_MS="${LINGER_MS:-0}" QUEUE_MAX="${QUEUE_MAX:-}" MAX_IN_FLIGHT="${MAX_IN_FLIGHT:-5}"
export LUA_PATH="$root/lua/?.lua;$root/lua/?/init.lua;;" LUA_CPATH="$root/build/?.so;;"
BROKERS="$FK_BROKERS"
mkdir -p build
cc -O2 -Wall -Wextra -Werror bench/baseline.c -lrdkafka -lm -o build/bench-baseline

first_broker="${BROKERS%%,*}"
if ! timeout 5 bash -c "exec 3<>/dev/tcp/${first_broker%:*}/${first_broker##*:}" 2>/dev/null; then
  echo "bench: no broker answers on $first_broker (start one: bash scripts/kafka.sh up)" >&2
  exit 1
fi

stamp="$(date +%Y%m%d-%H%M%S)"
logs="build/bench-logs/$stamp"
mkdir -p "$logs"
failures=0
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
# peak RSS in MiB of the runs whose logs match a name pattern, median
rss_of() {
  local values=() f
  for f in "$logs"/$1.log.rss; do
    [ -f "$f" ] && values+=("$(awk '/^MAXRSS/ { printf "%.1f", $2 / 1024 }' "$f")")
  done
  median "${values[@]}"
}
# CPU ns per record of the calling thread ("CPU <mode>" lines) of the runs whose logs match a
# name pattern, median
cpu_of() {
  local values=() f
  for f in "$logs"/$1.log; do
    [ -f "$f" ] && values+=("$(awk '$1 == "CPU" { v = $3 } END { print v }' "$f")")
  done
  median "${values[@]}"
}
verdict() { awk -v r="$1" -v t="$2" 'BEGIN {print (r != "n/a" && r + 0 >= t) ? "PASS" : "MISS"}'; }
# records/s as "1.58M" / "234k"
human() { awk -v v="$1" 'BEGIN { if (v !~ /^[0-9.]+$/) print v; else if (v >= 1e6) printf "%.2fM", v / 1e6; else printf "%.0fk", v / 1e3 }'; }

clients=(c lua)
[ "$CLIENTS" != 0 ] && clients+=(py kcat)
declare -A label=([c]="plain C" [lua]="fluxakafka" [py]="confluent-kafka-python" [kcat]="kcat")
# the command of a client for a mode (latency: kcat has no synchronous send)
command_of() {
  local client="$1" mode="$2"
  case "$client" in
    c) echo ./build/bench-baseline "$mode" ;;
    lua) echo luajit bench/fluxakafka_bench.lua "$mode" ;;
    py) echo "$PYTHON" bench/confluent_bench.py "$mode" ;;
    kcat) echo bash bench/kcat_bench.sh "$mode" ;;
  esac
}
declare -A results=()   # results[client/mode] = space-separated values of the runs
tstamp="$(date +%s)"
# a freshly started broker JVM is slow until its JIT has warmed up: one untimed round first
if [ "$WARMUP" != 0 ]; then
  echo "warm-up round (not counted): $N records through the broker" >&2
  bench warmup-produce ./build/bench-baseline produce "$BROKERS" "bench-warmup-$tstamp" "$N" "$SIZE" >/dev/null
  bench warmup-consume ./build/bench-baseline consume "$BROKERS" "bench-warmup-$tstamp" "$N" >/dev/null
fi
for run in $(seq "$RUNS"); do
  # every other run in the opposite order: a program that runs right after another one meets
  # a broker still busy with the last run's data (measured: that alone moved a ratio by 0.2)
  order=("${clients[@]}")
  if [ $((run % 2)) -eq 0 ]; then
    order=()
    for ((k = ${#clients[@]} - 1; k >= 0; k--)); do order+=("${clients[k]}"); done
  fi
  echo "run $run/$RUNS: producing $N records of $SIZE bytes (${order[*]}, a topic each)" >&2
  for cl in "${order[@]}"; do
    # shellcheck disable=SC2046
    results[$cl/produce]+=" $(bench "$cl-produce-$run" $(command_of "$cl" produce) "$BROKERS" "bench-$cl-$tstamp-$run" "$N" "$SIZE")"
  done
  echo "run $run/$RUNS: consuming them back, new groups" >&2
  for cl in "${order[@]}"; do
    # shellcheck disable=SC2046
    results[$cl/consume]+=" $(bench "$cl-consume-$run" $(command_of "$cl" consume) "$BROKERS" "bench-$cl-$tstamp-$run" "$N")"
    # plain C again, reading every field a record table carries (the same work as fluxakafka)
    if [ "$cl" = c ]; then
      results[c/records]+=" $(bench "c-records-$run" ./build/bench-baseline consume-records "$BROKERS" "bench-c-$tstamp-$run" "$N")"
    fi
  done
  # LuaJIT alone building the same record tables, no Kafka: the floor of a table per record
  results[lua/tables]+=" $(bench "lua-tables-$run" luajit bench/fluxakafka_bench.lua tables "$N")"
  echo "run $run/$RUNS: latency of one acknowledged record, $LAT_N records one by one" >&2
  for cl in "${order[@]}"; do
    [ "$cl" = kcat ] && continue
    lat="$(bench "$cl-latency-$run" $(command_of "$cl" latency) "$BROKERS" "bench-lat-$cl-$tstamp-$run" "$LAT_N" "$SIZE")"
    if [ "$lat" = FAIL ]; then results[$cl/p50]+=" FAIL"; results[$cl/p99]+=" FAIL"; continue; fi
    results[$cl/p50]+=" ${lat%% *}"
    results[$cl/p99]+=" ${lat##* }"
  done
done
# bench runs in a subshell: count its failures here (a failed warm-up shows in the runs)
for key in "${!results[@]}"; do
  [ "${key#*/}" = p99 ] && continue   # a failed latency run is counted once, by its p50
  for v in ${results[$key]}; do [ "$v" = FAIL ] && failures=$((failures + 1)); done
done
declare -A med=()
for key in "${!results[@]}"; do
  # shellcheck disable=SC2086
  med[$key]="$(median ${results[$key]})"
done
runs_p="$(paired_ratios "${results[lua/produce]}" "${results[c/produce]}")"
runs_c="$(paired_ratios "${results[lua/consume]}" "${results[c/consume]}")"
runs_r="$(paired_ratios "${results[lua/consume]}" "${results[c/records]}")"
# shellcheck disable=SC2086
rp="$(median $runs_p)"; rc="$(median $runs_c)"; rr="$(median $runs_r)"

plan_line=""
if [ "$ALTERS" != 0 ]; then
  echo "plan over 1000 registered topics" >&2
  plan_line="$(timeout -k 10 600 luajit bench/alters_bench.lua 1000 "$BROKERS" 2>"$logs/alters.err" | tee "$logs/alters.log" | grep '^RESULT' | sed 's/^RESULT //' || true)"
  [ -n "$plan_line" ] || { plan_line="FAILED (see $logs/alters.err)"; failures=$((failures + 1)); }
fi

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
mem="$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
rdk_pkg="$(dpkg-query -W -f '${Version}' librdkafka-dev 2>/dev/null || echo unknown)"
rdk_run="$(luajit -e 'print(require("fluxakafka").librdkafka_version())' 2>/dev/null || echo unknown)"
kafka_version="${KAFKA_VERSION:-3.9.1}"
# sections written by other benchmarks (the memory soak of bench/soak.lua) are kept
kept="$(sed -n '/^## Memory soak/,$p' bench/RESULTS.md 2>/dev/null || true)"
{
  echo "# Benchmark results"
  echo
  echo "Written by \`make bench\` (bench/run.sh) on $(date -u '+%Y-%m-%d %H:%M UTC'). Each number is the median of $RUNS runs; a fluxakafka/C ratio is the median of the ratios of each run (within a run the clients run one after the other, in the opposite order every other run)."
  echo
  echo "- Machine: $(nproc) CPUs, $cpu, $mem RAM; load average before the runs: $load_before"
  echo "- Versions: librdkafka $rdk_run (Debian librdkafka-dev $rdk_pkg), $(luajit -v | head -n1), $(cc --version | head -n1), Apache Kafka $kafka_version (single KRaft node on the same machine, PLAINTEXT $BROKERS)"
  echo "- Versions: plain C and fluxakafka as above; confluent-kafka-python $("$PYTHON" -c 'import confluent_kafka as c; print(c.version()[0])' 2>/dev/null || echo 'not run') (Debian python3-confluent-kafka, $("$PYTHON" -V 2>&1)), $(kcat -V 2>/dev/null | grep -o 'kcat - .*' | head -n1 | sed 's/ - Apache.*//' || true) $(dpkg-query -W -f '${Version}' kcat 2>/dev/null || echo 'not run') (Debian kcat); all four load the same librdkafka shared library"
  echo "- Settings, the same for every client: acks=$ACKS, linger.ms=$LINGER_MS, queue.buffering.max.messages=${QUEUE_MAX:-librdkafka default (100000)}, queue.buffering.max.kbytes=65536 (fluxakafka's limit), max.in.flight.requests.per.connection=$MAX_IN_FLIGHT (fluxakafka's max_in_flight default), partitioner murmur2_random, message.timeout.ms=30000 (fluxakafka's delivery_timeout), $N records of $SIZE bytes, a fresh topic per client and run, auto-created with 1 partition and warmed up by one untimed record, after one untimed round of the C programs to warm the broker up; produce timed from the first record to the last acknowledgement; consumers are new groups starting at the earliest offset with queued.min.messages=1000000 (what fluxakafka sets), timed from the first record received to the last"
  echo "- plain C (bench/baseline.c): \`rd_kafka_producev\` (topic by name, copy) with a delivery callback counting successes and failures, \`rd_kafka_poll(rk, 0)\` every 16 records, \`rd_kafka_poll(rk, 100)\` and retry on a full queue, then \`rd_kafka_flush\`; consuming with \`rd_kafka_consumer_poll\` for the first message and \`rd_kafka_consume_batch_queue\` for the rest of what is ready, touching each payload's length; the second consume row runs the same C consumer (\`consume-records\`) reading what a fluxakafka record holds, without copying: topic name, key, value, partition, offset, \`rd_kafka_message_timestamp\` and \`rd_kafka_message_headers\` with every header (librdkafka 2.0.2 parses the header block of each message on that call into a newly allocated buffer, even an empty one)"
  echo "- fluxakafka (bench/fluxakafka_bench.lua, LuaJIT): \`pool:produce({topic = T, value = payload})\` (a new record table per call, no callback) then \`pool:flush(60)\`; \`cg:poll_fetches(1)\` and \`for rec in fetches:iter()\` (a full record table per record: topic, partition, offset, key, value, timestamp, headers) touching \`#rec.value\`; a record without headers is recognised from the bytes around its value, so it skips librdkafka's header parser (csrc/fk_fetch.c, \`fk_message_has_no_headers\`)"
  echo "- confluent-kafka-python (bench/confluent_bench.py): \`produce(topic, payload)\` with a delivery callback, \`poll(0)\` every 16, then \`flush()\`; \`consume(num_messages=10000, timeout=1)\` touching \`len(m.value())\`"
  echo "- kcat (bench/kcat_bench.sh): \`kcat -P -l file\` (one record per line) and \`kcat -C -o beginning -c N\` (no consumer group) to /dev/null; kcat has no timer of its own, so its whole process is timed, start-up included"
  echo
  echo "| work | plain C | fluxakafka | confluent-kafka-python | kcat | fluxakafka/C | target | verdict |"
  echo "|---|---:|---:|---:|---:|---:|---|---|"
  for mode in produce consume; do
    r="$rp"; t=0.95
    [ "$mode" = consume ] && { r="$rc"; t=0.9; }
    echo "| $mode (records/s) | $(human "${med[c/$mode]}") | $(human "${med[lua/$mode]}") | $(human "${med[py/$mode]:-not run}") | $(human "${med[kcat/$mode]:-not run}") | $r | >= $t | $(verdict "$r" "$t") |"
  done
  echo "| consume, C reading every record field (records/s) | $(human "${med[c/records]}") | $(human "${med[lua/consume]}") | | | $rr | >= 0.9 | $(verdict "$rr" 0.9) |"
  echo
  echo "All runs (records/s):"
  for cl in "${clients[@]}"; do
    echo "- ${label[$cl]}: produce${results[$cl/produce]}; consume${results[$cl/consume]}"
  done
  echo "- plain C reading every record field: consume${results[c/records]}"
  echo "- fluxakafka/C of each run: produce$runs_p; consume$runs_c; consume against C reading every record field$runs_r"
  echo
  echo "### CPU per record of the application's thread"
  echo
  echo "CPU time of the thread that calls the client (\`CLOCK_THREAD_CPUTIME_ID\`; Python: \`time.thread_time()\`) over the timed span, per record, the median of $RUNS runs: for produce the thread that sends and serves delivery reports, for consume the one that reads. librdkafka's own threads are not counted: this is what the application's thread pays, an OpenResty worker for instance, and on this $(nproc)-CPU machine, which also runs the broker, every nanosecond of it is taken from librdkafka and the broker. The last row is LuaJIT alone building $N tables shaped like fluxakafka's records, with no Kafka (\`fluxakafka_bench.lua tables\`): the least any API that hands out one Lua table per record can cost."
  echo
  echo "| client | produce (ns per record) | consume (ns per record) |"
  echo "|---|---:|---:|"
  echo "| plain C (consume: payload length only) | $(cpu_of "c-produce-*") | $(cpu_of "c-consume-*") |"
  echo "| plain C reading every record field (librdkafka's public calls) | | $(cpu_of "c-records-*") |"
  echo "| fluxakafka (a record table per record) | $(cpu_of "lua-produce-*") | $(cpu_of "lua-consume-*") |"
  [ "$CLIENTS" != 0 ] && echo "| confluent-kafka-python (a Message object per record) | $(cpu_of "py-produce-*") | $(cpu_of "py-consume-*") |"
  # shellcheck disable=SC2086
  echo "| LuaJIT building the record tables alone, no Kafka | | $(median ${results[lua/tables]}) |"
  echo
  echo "### Latency of one acknowledged record"
  echo
  echo "$LAT_N records of $SIZE bytes sent one at a time to a fresh topic after 50 untimed ones, each waited for until the broker acknowledged it (acks=$ACKS); nearest-rank percentiles, the median of $RUNS runs. plain C and confluent-kafka-python produce and then flush; fluxakafka is \`pool:produce_sync(record)\`. kcat has no synchronous send."
  echo
  echo "| client | p50 (ms) | p99 (ms) |"
  echo "|---|---:|---:|"
  for cl in "${clients[@]}"; do
    [ "$cl" = kcat ] && continue
    echo "| ${label[$cl]} | ${med[$cl/p50]} | ${med[$cl/p99]} |"
  done
  echo
  echo "### Peak memory"
  echo
  echo "Maximum resident set size of each program (\`/usr/bin/time -f %M\`), the median of its $RUNS runs, in MiB. A consumer's peak is mostly librdkafka's pre-fetch queue (queued.min.messages=1000000, queued.max.messages.kbytes 65536 by default): it fills only when the consumer reads slower than the broker sends, which is why the C loop, the fastest reader, stays small. A group with \`:rdkafka({[\"queued.min.messages\"] = 100000})\` trades throughput for memory."
  echo
  echo "| client | produce | consume | latency |"
  echo "|---|---:|---:|---:|"
  for cl in "${clients[@]}"; do
    lat_rss=-
    [ "$cl" = kcat ] || lat_rss="$(rss_of "$cl-latency-*")"
    echo "| ${label[$cl]} | $(rss_of "$cl-produce-*") | $(rss_of "$cl-consume-*") | $lat_rss |"
  done
  if [ "$ALTERS" != 0 ]; then
    echo
    echo "## Schema management"
    echo
    echo "$plan_line (target: under 2 s)."
  fi
  if [ -n "$kept" ]; then
    echo
    echo "$kept"
  fi
} > bench/RESULTS.md.new
# replaced only once complete: a failure above leaves the kept sections where they were
mv bench/RESULTS.md.new bench/RESULTS.md
cat bench/RESULTS.md
if [ "${FRANZ:-1}" != 0 ]; then
  N="$N" SIZE="$SIZE" RUN_TIMEOUT="$RUN_TIMEOUT" bash bench/franz.sh || failures=$((failures + 1))
fi
if [ "$failures" -ne 0 ]; then
  echo "bench: $failures run(s) failed; see $logs/" >&2
  exit 1
fi
