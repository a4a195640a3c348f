#!/usr/bin/env bash
# Throughput of fluxakafka against plain C on librdkafka (bench/baseline.c), same broker,
# same settings, in one run; then the plan time of schema management over 1000 topics.
# Writes bench/RESULTS.md. Environment:
#   N (1000000) records of SIZE (100) bytes, RUNS (3; the table shows the median),
#   FK_BROKERS (127.0.0.1:9092), producer settings ACKS (-1), LINGER_MS (0) and QUEUE_MAX
#   (librdkafka's default) for both sides, RUN_TIMEOUT (300 s per program run),
#   ALTERS (1; 0 skips the schema management part), WARMUP (1; 0 skips the untimed
#   round that warms the broker's JVM up first).
# Every run uses fresh topics (C and Lua apart) and a new consumer group; each program
# produces one warm-up record first (topic auto-creation), which is not timed. Program
# output is kept in build/bench-logs/<stamp>/. Exits 1 if a run failed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
N="${N:-1000000}"
SIZE="${SIZE:-100}"
RUNS="${RUNS:-3}"
RUN_TIMEOUT="${RUN_TIMEOUT:-300}"
ALTERS="${ALTERS:-1}"
WARMUP="${WARMUP:-1}"
export FK_BROKERS="${FK_BROKERS:-127.0.0.1:9092}"
export ACKS="${ACKS:--1}" LINGER_MS="${LINGER_MS:-0}" QUEUE_MAX="${QUEUE_MAX:-}"
export LUA_PATH="$root/lua/?.lua;$root/lua/?/init.lua;;" LUA_CPATH="$root/build/?.so;;"
BROKERS="$FK_BROKERS"
mkdir -p build
cc -O2 -Wall -Wextra -Werror bench/baseline.c -lrdkafka -o build/bench-baseline

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

# bench <log name> <command...>: runs one program, bounded, and prints its records/s or FAIL
bench() {
  local name="$1" log="$logs/$1.log" rc=0 value
  shift
  timeout -k 10 "$RUN_TIMEOUT" "$@" >"$log" 2>&1 || rc=$?
  value="$(grep '^RESULT' "$log" | tail -n 1 | awk '{print $4}')"
  if [ "$rc" -ne 0 ] || [ -z "$value" ]; then
    echo "  FAILED (exit $rc): $*; last lines of $log:" >&2
    tail -n 5 "$log" | sed 's/^/    /' >&2
    echo FAIL
  else
    echo "  $name: $value records/s" >&2
    echo "$value"
  fi
}
# median of the numeric arguments ("n/a" if none)
median() {
  printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g |
    awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "n/a"}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a+0 > 0 && b+0 > 0) printf "%.2f", a / b; else print "n/a"}'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN {print (r != "n/a" && r + 0 >= t) ? "PASS" : "MISS"}'; }

declare -a c_prod=() lua_prod=() c_cons=() lua_cons=()
tstamp="$(date +%s)"
# a freshly started broker JVM is slow until its JIT has warmed up: one untimed round first
if [ "$WARMUP" != 0 ]; then
  echo "warm-up round (not counted): $N records through the broker" >&2
  bench warmup-produce ./build/bench-baseline produce "$BROKERS" "bench-warmup-$tstamp" "$N" "$SIZE" >/dev/null
  bench warmup-consume ./build/bench-baseline consume "$BROKERS" "bench-warmup-$tstamp" "$N" >/dev/null
fi
for run in $(seq "$RUNS"); do
  ct="bench-c-$tstamp-$run"; lt="bench-lua-$tstamp-$run"
  echo "run $run/$RUNS: producing $N records of $SIZE bytes (C to $ct, then Lua to $lt)" >&2
  c_prod+=("$(bench "c-produce-$run" ./build/bench-baseline produce "$BROKERS" "$ct" "$N" "$SIZE")")
  lua_prod+=("$(bench "lua-produce-$run" luajit bench/fluxakafka_bench.lua produce "$BROKERS" "$lt" "$N" "$SIZE")")
  echo "run $run/$RUNS: consuming them back, new groups (C, then Lua)" >&2
  c_cons+=("$(bench "c-consume-$run" ./build/bench-baseline consume "$BROKERS" "$ct" "$N")")
  lua_cons+=("$(bench "lua-consume-$run" luajit bench/fluxakafka_bench.lua consume "$BROKERS" "$lt" "$N")")
done
# bench runs in a subshell: count its failures here (a failed warm-up shows in the runs)
for v in "${c_prod[@]}" "${lua_prod[@]}" "${c_cons[@]}" "${lua_cons[@]}"; do
  [ "$v" = FAIL ] && failures=$((failures + 1))
done
cp=$(median "${c_prod[@]}"); lp=$(median "${lua_prod[@]}")
cc_=$(median "${c_cons[@]}"); lc=$(median "${lua_cons[@]}")
rp=$(ratio "$lp" "$cp"); rc=$(ratio "$lc" "$cc_")

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
  echo "Written by \`make bench\` (bench/run.sh) on $(date -u '+%Y-%m-%d %H:%M UTC'). Each number is the median of $RUNS runs."
  echo
  echo "- Machine: $(nproc) CPUs, $cpu, $mem RAM; load average before the runs: $load_before"
  echo "- Versions: librdkafka $rdk_run (Debian librdkafka-dev $rdk_pkg), $(luajit -v | head -n1), $(cc --version | head -n1), Apache Kafka $kafka_version (single KRaft node on the same machine, PLAINTEXT $BROKERS)"
  echo "- Settings, same for both: acks=$ACKS, linger.ms=$LINGER_MS, queue.buffering.max.messages=${QUEUE_MAX:-librdkafka default (100000)}, queue.buffering.max.kbytes=65536 (fluxakafka's limit), partitioner murmur2_random, message.timeout.ms=30000 (fluxakafka: 29000, its delivery-timeout margin), $N records of $SIZE bytes, fresh topic per run auto-created with 1 partition and warmed up by one untimed record, after one untimed round of the C programs to warm the broker up; produce timed from the first record to the end of the flush; consumers are new groups starting at the earliest offset, timed from the first record received to the last"
  echo "- C side (bench/baseline.c): \`rd_kafka_producev\` (topic by name, copy) with a delivery callback counting successes and failures, \`rd_kafka_poll(rk, 0)\` every 16 records, \`rd_kafka_poll(rk, 100)\` and retry on a full queue, then \`rd_kafka_flush\`; consuming with \`rd_kafka_consumer_poll\` for the first message and \`rd_kafka_consume_batch_queue\` for the rest of what is ready, touching each payload's length"
  echo "- fluxakafka side (bench/fluxakafka_bench.lua, LuaJIT): \`pool:produce({topic = T, value = payload})\` (a new record table per call, no callback) then \`pool:flush(60)\`; \`cg:poll_fetches(1)\` and \`for rec in fetches:iter()\` (a full record table per record) touching \`#rec.value\`"
  echo
  echo "| work | plain C (records/s) | fluxakafka (records/s) | Lua/C | target | verdict |"
  echo "|---|---:|---:|---:|---|---|"
  echo "| produce | $cp | $lp | $rp | >= 0.9 | $(verdict "$rp" 0.9) |"
  echo "| consume | $cc_ | $lc | $rc | >= 0.8 | $(verdict "$rc" 0.8) |"
  echo
  echo "All runs (C / Lua): produce ${c_prod[*]} / ${lua_prod[*]}; consume ${c_cons[*]} / ${lua_cons[*]}. Program output: \`$logs/\`."
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
} > bench/RESULTS.md
cat bench/RESULTS.md
if [ "$failures" -ne 0 ]; then
  echo "bench: $failures run(s) failed; see $logs/" >&2
  exit 1
fi
