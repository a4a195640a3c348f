#!/usr/bin/env bash
# Throughput of fluxakafka against plain C on librdkafka (bench/baseline.c), same broker,
# same settings, in one run; then the plan time of schema management over 1000 topics.
# Writes bench/RESULTS.md. N (default 1000000), SIZE (100), RUNS (3) and
# FK_BROKERS (127.0.0.1:9092) may be set in the environment.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
N="${N:-1000000}"
SIZE="${SIZE:-100}"
RUNS="${RUNS:-3}"
BROKERS="${FK_BROKERS:-127.0.0.1:9092}"
export LUA_PATH="$root/lua/?.lua;;" LUA_CPATH="$root/build/?.so;;"
mkdir -p build
cc -O2 -Wall -Wextra -Werror bench/baseline.c -lrdkafka -o build/bench-baseline

result() { grep '^RESULT' | tail -n 1 | awk '{print $4}'; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -a c_prod lua_prod c_cons lua_cons
stamp="$(date +%s)"
for run in $(seq "$RUNS"); do
  ct="bench-c-$stamp-$run"; lt="bench-lua-$stamp-$run"
  echo "run $run/$RUNS: producing $N records of $SIZE bytes (C, then Lua)" >&2
  c_prod+=("$(./build/bench-baseline produce "$BROKERS" "$ct" "$N" "$SIZE" 2>/dev/null | result)")
  lua_prod+=("$(luajit bench/fluxakafka_bench.lua produce "$BROKERS" "$lt" "$N" "$SIZE" 2>/dev/null | result)")
  echo "run $run/$RUNS: consuming them back (C, then Lua)" >&2
  c_cons+=("$(./build/bench-baseline consume "$BROKERS" "$ct" "$N" 2>/dev/null | result)")
  lua_cons+=("$(luajit bench/fluxakafka_bench.lua consume "$BROKERS" "$lt" "$N" 2>/dev/null | result)")
done
cp=$(printf '%s\n' "${c_prod[@]}" | median); lp=$(printf '%s\n' "${lua_prod[@]}" | median)
cc_=$(printf '%s\n' "${c_cons[@]}" | median); lc=$(printf '%s\n' "${lua_cons[@]}" | median)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN {print (r >= t) ? "met" : "MISSED"}'; }
rp=$(ratio "$lp" "$cp"); rc=$(ratio "$lc" "$cc_")

echo "plan over 1000 registered topics" >&2
plan_line="$(luajit bench/alters_bench.lua 1000 "$BROKERS" 2>/dev/null | grep '^RESULT' | sed 's/^RESULT //')"

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
mem="$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
{
  echo "# Benchmark results"
  echo
  echo "Written by \`make bench\` (bench/run.sh) on $(date -u +%Y-%m-%d). Each number is the median of $RUNS runs."
  echo
  echo "- Machine: $(nproc) cores, $cpu, $mem"
  echo "- librdkafka $(luajit -e 'print(require("fluxakafka").librdkafka_version())'), $(luajit -v | head -n1), $(cc --version | head -n1), Apache Kafka 3.9.1 (single KRaft node on the same machine)"
  echo "- Settings, same for both: acks=all (-1), linger.ms=0, librdkafka's default queue limits, $N records of $SIZE bytes, topic auto-created with 1 partition; consumers are new groups starting at the earliest offset, timed from the first record received to the last"
  echo "- fluxakafka side: \`pool:produce(record)\` without callback then \`pool:flush()\`; \`cg:poll_fetches(1)\` and \`for rec in fetches:iter()\` building a full record table per record"
  echo
  echo "| work | plain C (records/s) | fluxakafka (records/s) | ratio | target |"
  echo "|---|---:|---:|---:|---|"
  echo "| produce | $cp | $lp | $rp | >= 0.9: $(verdict "$rp" 0.9) |"
  echo "| consume | $cc_ | $lc | $rc | >= 0.8: $(verdict "$rc" 0.8) |"
  echo
  echo "All runs (C / Lua): produce ${c_prod[*]} / ${lua_prod[*]}; consume ${c_cons[*]} / ${lua_cons[*]}"
  echo
  echo "## Schema management"
  echo
  echo "$plan_line (target: under 2 s)."
} > bench/RESULTS.md
cat bench/RESULTS.md
