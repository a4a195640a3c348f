#!/usr/bin/env bash
# fluxakafka against lua-resty-kafka inside one nginx (2 workers) at fixed request rates
# (vegeta), one 100-byte record per request, acks=-1: fluxakafka's async produce with its
# defaults, Debian's lua-resty-kafka (nginx.kafka.producer) async, the same lua-resty-kafka
# handler on fluxakafka's compatibility layer (resty.kafka.producer), and the request without
# Kafka. For each: CPU of the workers (every thread) plus the broker JVM per 1,000 requests,
# from /proc, and vegeta's p50/p99. Every record answered 200 is counted back from its topic
# (count.lua); a run short of one fails. Writes the "nginx-rates" section of
# bench/RESULTS.md; make bench-nginx runs it after bench/nginx/run.sh.
# Environment: RATES ("2000 5000 10000" req/s), DURATION (20 s per run), RUNS (3 rounds, the
# clients in the opposite order every other round; medians, ratios paired within a round),
# FK_BROKERS (127.0.0.1:9092), FK_BROKER_PID (the broker JVM; default .kafka/kafka.pid),
# PORT (18091), VEGETA_VERSION (v12.13.0). vegeta is built from the Go module proxy once per
# version outside the checkout (Go on PATH or in /usr/local/go/bin).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
RATES="${RATES:-2000 5000 10000}"
DURATION="${DURATION:-20}"
RUNS="${RUNS:-3}"
PORT="${PORT:-18091}"
VEGETA_VERSION="${VEGETA_VERSION:-v12.13.0}"
export FK_BROKERS="${FK_BROKERS:-127.0.0.1:9092}"
export LUA_PATH="$root/lua/?.lua;$root/lua/?/init.lua;;" LUA_CPATH="$root/build/?.so;;"
export PATH="$PATH:/usr/local/go/bin"
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
broker="$(broker_pid)"

vegeta_dir="${TMPDIR:-/tmp}/fluxakafka-go-vegeta-$VEGETA_VERSION"
vegeta="$vegeta_dir/vegeta"
if [ ! -x "$vegeta" ]; then
  mkdir -p "$vegeta_dir"
  (cd "$vegeta_dir" && GOBIN="$vegeta_dir" go install "github.com/tsenart/vegeta/v12@$VEGETA_VERSION")
fi

logs="build/bench-logs/nginx-rates-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$logs"
# shellcheck source=bench/nginx/nginx.sh
source "$root/bench/nginx/nginx.sh"
start_nginx
trap 'stop_nginx; rm -rf "$nginx_prefix"' EXIT
workers="$(nginx_workers | tr '\n' ' ')"
hz="$(getconf CLK_TCK)"
stamp="$(date +%s)"

# utime+stime (ticks) of the given processes: /proc/<pid>/stat sums every thread of one
cpu_ticks() {
  local total=0 pid f
  for pid in "$@"; do
    read -r -a f <<<"$(sed 's/^.*) //' "/proc/$pid/stat")"
    total=$((total + f[11] + f[12]))   # fields 14 and 15, counted from the state (field 3)
  done
  echo "$total"
}
per_1k() { awk -v t="$1" -v hz="$hz" -v n="$2" 'BEGIN {printf "%.4f", (n > 0) ? t / hz / n * 1000 : 0}'; }

# vegeta at RATE req/s on a handler for DURATION s into TOPIC, results in $logs/NAME.json
attack() {
  local kind="$1" rate="$2" topic="$3" name="$4" duration="${5:-$DURATION}"
  echo "GET http://127.0.0.1:$PORT/$kind?topic=$topic" |
    "$vegeta" attack -rate="$rate/s" -duration="${duration}s" >"$logs/$name.bin"
  "$vegeta" report -type=json <"$logs/$name.bin" >"$logs/$name.json"
}

# one run: prints "workers broker p50 p99" (s per 1,000 requests, ms) or FAIL; appends what
# was answered and delivered to $logs/checks
run_one() {
  local kind="$1" rate="$2" name="$1-$2-$3" topic="bench-rates-$1-$2-$stamp-$3" primed=0
  if [ "$kind" != noop ]; then   # creates the topic with one record, outside the span
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/fk_sync?topic=$topic")" = 200 ] || { echo FAIL; return; }
    primed=1
  fi
  local w0 b0 w1 b1 sent answered delivered=-
  w0="$(cpu_ticks $workers)"; b0="$(cpu_ticks $broker)"
  attack "$kind" "$rate" "$topic" "$name"
  sent="$(jq '.requests' "$logs/$name.json")"
  answered="$(jq '.status_codes["200"] // 0' "$logs/$name.json")"
  # the span ends when the broker holds every answered record: a client that batches for 1 s
  # pays for its last batch inside it
  [ "$kind" = noop ] || luajit bench/nginx/count.lua "$FK_BROKERS" "$topic" "$((answered + primed))" wait >/dev/null
  w1="$(cpu_ticks $workers)"; b1="$(cpu_ticks $broker)"
  [ "$kind" = noop ] || delivered=$(($(luajit bench/nginx/count.lua "$FK_BROKERS" "$topic" "$((answered + primed))") - primed))
  echo "$kind $rate $3 $delivered/$answered/$sent $(jq '.rate | floor' "$logs/$name.json")" >>"$logs/checks"
  echo "  $name: $answered of $sent answered 200, $delivered in the topic, workers $((w1 - w0)) broker $((b1 - b0)) ticks" >&2
  if [ "$answered" -ne "$sent" ] || { [ "$kind" != noop ] && [ "$delivered" -lt "$answered" ]; }; then
    echo FAIL
    return
  fi
  echo "$(per_1k $((w1 - w0)) "$answered") $(per_1k $((b1 - b0)) "$answered")" \
    "$(jq '.latencies["50th"] / 1e6, .latencies["99th"] / 1e6' "$logs/$name.json" | xargs printf '%.2f ')"
}

kinds=(fk_async resty_acks_all compat_acks_all noop)
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
read -r -a rates <<<"$RATES"
echo "warm-up (not counted): each handler for 3 s at ${rates[0]} req/s" >&2
for kind in "${kinds[@]}"; do attack "$kind" "${rates[0]}" "bench-rates-warmup-$stamp" "warmup-$kind" 3; done
declare -A results=()   # results[kind/rate/field] = the runs' values
failures=0
for run in $(seq "$RUNS"); do
  order=("${kinds[@]}")
  [ $((run % 2)) -eq 0 ] && order=(noop compat_acks_all resty_acks_all fk_async)
  for rate in "${rates[@]}"; do
    echo "round $run/$RUNS, $rate req/s for $DURATION s (${order[*]})" >&2
    for kind in "${order[@]}"; do
      line="$(run_one "$kind" "$rate" "$run")"
      if [ "$line" = FAIL ]; then failures=$((failures + 1)); line="FAIL FAIL FAIL FAIL"; fi
      read -r w b p50 p99 <<<"$line"
      results[$kind/$rate/workers]+=" $w"; results[$kind/$rate/broker]+=" $b"
      results[$kind/$rate/total]+=" $(awk -v w="$w" -v b="$b" 'BEGIN {if (w ~ /^[0-9.]+$/) printf "%.4f", w + b; else print "FAIL"}')"
      results[$kind/$rate/p50]+=" $p50"; results[$kind/$rate/p99]+=" $p99"
    done
  done
done
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

# shellcheck disable=SC2086
med() { median ${results[$1]}; }
# a table row: a client against lua-resty-kafka at one rate
row() {
  local kind="$1" rate="$2" label="$3"
  # shellcheck disable=SC2086
  echo "| $label | $(med "$kind/$rate/total") | $(med "resty_acks_all/$rate/total") | $(median $(paired_ratios "${results[$kind/$rate/total]}" "${results[resty_acks_all/$rate/total]}")) | $(med "$kind/$rate/p50") | $(med "$kind/$rate/p99") | $(med "resty_acks_all/$rate/p50") | $(med "resty_acks_all/$rate/p99") |"
}
declare -A label=([fk_async]="fluxakafka" [resty_acks_all]="lua-resty-kafka" [compat_acks_all]="compat layer" [noop]="nginx alone")
section="$logs/section.md"
{
  echo "## nginx at fixed rates"
  echo
  echo "Written by \`make bench-nginx\` (bench/nginx/rates.sh) on $(date -u '+%Y-%m-%d %H:%M UTC'): vegeta at a fixed rate for ${DURATION} s per run, one 100-byte record per request into a fresh topic per run (auto-created with 1 partition by one record before the run), nginx with 2 workers; $RUNS rounds through the rates ${RATES// /, } req/s, the clients in the opposite order every other round, after an uncounted warm-up of 3 s per handler. Each figure is the median over the rounds, each ratio (against lua-resty-kafka) the median of the ratios within a round. CPU: utime+stime of both nginx worker processes (every thread, librdkafka's included) plus the broker JVM's (/proc/<pid>/stat, 10 ms ticks), from just before the attack until the topic's high watermark holds every record answered 200 (so a client that batches for 1 s pays for its last batch inside the span), per 1,000 requests answered 200. Latency: vegeta's p50 and p99 (request sent to response read). Every record answered 200 is read back from its topic; a run short of one counts as failed and in no median."
  echo
  echo "- Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM; load average before: $load_before, after: $load_after. vegeta, nginx and the broker share these CPUs, and the broker serves whatever else runs on the machine at the time (other people's tests on this one), which lands in the broker column."
  echo "- Versions: fluxakafka $(luajit -e 'print(require("fluxakafka").VERSION or "")') on librdkafka $(luajit -e 'print(require("fluxakafka").librdkafka_version())'); nginx $(nginx -v 2>&1 | sed 's/.*\///') with lua-nginx-module $(dpkg-query -W -f '${Version}' libnginx-mod-http-lua 2>/dev/null || echo '?'); lua-resty-kafka $(dpkg-query -W -f '${Version}' lua-nginx-kafka 2>/dev/null || echo '?') (Debian's lua-nginx-kafka, modules nginx.kafka.*; the current release, 0.23, is not obtainable from a package registry here: Debian ships 0.07 and LuaRocks is not reachable); vegeta $VEGETA_VERSION built with $(go version | cut -d' ' -f3); Apache Kafka ${KAFKA_VERSION:-3.9.1}, single KRaft node on the same machine ($FK_BROKERS)$([ -n "$broker" ] || echo '; **broker CPU not measured** (no broker pid)')"
  echo "- Clients, all acks=-1: **fluxakafka** \`pool:produce({topic =, value =})\` per request, the pool's defaults (producer_linger 5 ms, max_in_flight 5); **lua-resty-kafka** \`producer:new(brokers, {producer_type = \"async\", required_acks = -1})\` and \`send(topic, nil, value)\`, its other defaults (batches of up to 200 records, flushed every 1 s); **compat layer** the same lua-resty-kafka handler with \`require \"resty.kafka.producer\"\` served by fluxakafka (fk.resty_compat_path() first on lua_package_path), whose pool takes those settings (linger = flush_time 1 s, batch.num.messages 200); **nginx alone** the same request with no Kafka call (bench/nginx/app.lua)."
  echo
  echo "| rate | fluxakafka CPU s/1k | lua-resty-kafka CPU s/1k | ratio | fluxakafka p50 ms | fluxakafka p99 ms | lua-resty-kafka p50 ms | lua-resty-kafka p99 ms |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  for rate in "${rates[@]}"; do row fk_async "$rate" "$rate req/s"; done
  for rate in "${rates[@]}"; do row compat_acks_all "$rate" "$rate req/s, compat layer (in the fluxakafka columns)"; done
  echo
  echo "Where the CPU goes (s per 1,000 requests, medians). The broker column of 'nginx alone' is what the broker spent while no record came from here: its own background work and other clients', a floor under every broker figure of that rate (its span is shorter: no wait for records)."
  echo
  echo "| rate | client | workers | broker | workers + broker | p50 ms | p99 ms |"
  echo "|---|---|---:|---:|---:|---:|---:|"
  for rate in "${rates[@]}"; do
    for kind in "${kinds[@]}"; do
      echo "| $rate req/s | ${label[$kind]} | $(med "$kind/$rate/workers") | $(med "$kind/$rate/broker") | $(med "$kind/$rate/total") | $(med "$kind/$rate/p50") | $(med "$kind/$rate/p99") |"
    done
  done
  echo
  echo "All rounds (workers + broker s/1k; records in the topic / requests answered 200 / sent, and vegeta's achieved rate):"
  for rate in "${rates[@]}"; do
    for kind in "${kinds[@]}"; do
      echo "- $rate req/s, ${label[$kind]}:${results[$kind/$rate/total]}; $(awk -v k="$kind" -v r="$rate" '$1 == k && $2 == r {printf "%s%s at %s/s", sep, $4, $5; sep = ", "}' "$logs/checks")"
    done
  done
} >"$section"
bash bench/section.sh nginx-rates "$section"
if [ "$failures" -ne 0 ]; then
  echo "rates.sh: $failures run(s) failed; see $logs/" >&2
  exit 1
fi
