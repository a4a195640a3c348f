#!/usr/bin/env bash
# fluxakafka against lua-resty-kafka inside one nginx (2 workers): wrk -c50 for DURATION
# seconds, one produce per request, each library with its defaults. Then a long run of
# fluxakafka's async produce with the workers' RSS after every round. Writes the "nginx"
# section of bench/RESULTS.md, then runs bench/nginx/rates.sh (fixed request rates with
# vegeta; FIXED_RATES=0 skips it). Environment: FK_BROKERS (127.0.0.1:9092), DURATION (10),
# CONNECTIONS (50), RUNS (3, medians), ROUNDS (12 rounds of the long run), PORT (18090).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
export FK_BROKERS="${FK_BROKERS:-127.0.0.1:9092}"
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-50}"
RUNS="${RUNS:-3}"
ROUNDS="${ROUNDS:-12}"
PORT="${PORT:-18090}"
export LUA_PATH="$root/lua/?.lua;$root/lua/?/init.lua;;" LUA_CPATH="$root/build/?.so;;"

# shellcheck source=bench/nginx/nginx.sh
source "$root/bench/nginx/nginx.sh"
start_nginx
trap 'stop_nginx; rm -rf "$nginx_prefix"' EXIT

workers_rss_mb() {
  local total=0 pid
  for pid in $(nginx_workers); do
    total=$((total + $(awk '/VmRSS/ {print $2}' "/proc/$pid/status")))
  done
  echo $((total / 1024))
}

# one wrk run: prints "req/s p99_ms acknowledged delivered"
run_one() {
  local kind="$1" topic="bench-nginx-$1-$(date +%s%N)"
  curl -s "http://127.0.0.1:$PORT/fk_sync?topic=$topic" >/dev/null   # creates the topic
  local out
  out="$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:$PORT/$kind?topic=$topic")"
  local rps p99 total non2xx acked delivered
  rps="$(awk '/^Requests\/sec/ {print $2}' <<< "$out")"
  p99="$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) sub(/ms/,"",v); else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' <<< "$out")"
  total="$(awk '/requests in/ {print $1}' <<< "$out")"
  non2xx="$(awk '/Non-2xx/ {print $5}' <<< "$out")"
  acked=$((total - ${non2xx:-0}))
  if [ "$kind" = noop ]; then echo "$rps $p99 $acked 0"; return; fi
  delivered="$(luajit bench/nginx/count.lua "$FK_BROKERS" "$topic" "$((acked + 1))" 2>/dev/null)"
  echo "$rps $p99 $acked $((delivered - 1))"
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A RPS P99 CHECK
for kind in noop fk_async resty_async fk_async_linger0 fk_sync resty_sync; do
  rs=(); ps=(); checks=""
  for run in $(seq "$RUNS"); do
    read -r rps p99 acked delivered < <(run_one "$kind")
    echo "$kind run $run: $rps req/s, p99 $p99 ms, $acked acknowledged, $delivered in the topic" >&2
    rs+=("$rps"); ps+=("$p99"); checks="$checks $delivered/$acked"
  done
  RPS[$kind]="$(median "${rs[@]}")"; P99[$kind]="$(median "${ps[@]}")"; CHECK[$kind]="${checks# }"
done

# the long run in a fresh nginx, so that its RSS starts from a worker that did nothing else
stop_nginx
start_nginx
rss_line="$(workers_rss_mb)"
long_topic="bench-nginx-long-$(date +%s)"
for round in $(seq "$ROUNDS"); do
  wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:$PORT/fk_async?topic=$long_topic" >/dev/null
  rss_line="$rss_line $(workers_rss_mb)"
  echo "long run round $round: workers' RSS $(workers_rss_mb) MB" >&2
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b+0 > 0) printf "%.2f", a / b; else print "n/a"}'; }
section="$(mktemp)"
{
  echo "## nginx: fluxakafka and lua-resty-kafka side by side"
  echo
  echo "Written by \`make bench-nginx\` (bench/nginx/run.sh) on $(date -u '+%Y-%m-%d %H:%M UTC'): nginx $(nginx -v 2>&1 | sed 's/.*\///') with lua-nginx-module $(dpkg-query -W -f '${Version}' libnginx-mod-http-lua 2>/dev/null || echo '?'), lua-resty-kafka $(dpkg-query -W -f '${Version}' lua-nginx-kafka 2>/dev/null || echo '?') (Debian's lua-nginx-kafka), 2 workers, \`wrk -t2 -c$CONNECTIONS -d${DURATION}s\`, one 100-byte record per request, wrk, nginx and the broker on the same $(nproc)-CPU machine. Medians of $RUNS runs. Each library with its defaults: fluxakafka acks=-1 and linger 5 ms (producer_linger default), lua-resty-kafka acks=1, async batches of 200 flushed every 1 s."
  echo
  echo "| work | fluxakafka req/s | p99 ms | lua-resty-kafka req/s | p99 ms | ratio |"
  echo "|---|---:|---:|---:|---:|---:|"
  echo "| async produce, defaults | ${RPS[fk_async]} | ${P99[fk_async]} | ${RPS[resty_async]} | ${P99[resty_async]} | $(ratio "${RPS[fk_async]}" "${RPS[resty_async]}") |"
  echo "| async produce, fluxakafka with producer_linger = 0 | ${RPS[fk_async_linger0]} | ${P99[fk_async_linger0]} | | | $(ratio "${RPS[fk_async_linger0]}" "${RPS[resty_async]}") |"
  echo "| sync produce | ${RPS[fk_sync]} | ${P99[fk_sync]} | ${RPS[resty_sync]} | ${P99[resty_sync]} | $(ratio "${RPS[fk_sync]}" "${RPS[resty_sync]}") |"
  echo "| (nginx alone: the same request without Kafka) | ${RPS[noop]} | ${P99[noop]} | | | |"
  echo
  echo "Records in the topic / requests answered 200, per run: fluxakafka async ${CHECK[fk_async]}; linger 0 ${CHECK[fk_async_linger0]}; sync ${CHECK[fk_sync]}; lua-resty-kafka async ${CHECK[resty_async]}; sync ${CHECK[resty_sync]}. (A run can hold a few more records than answers: wrk stops with requests in flight.)"
  echo
  echo "Workers' RSS (MB, both workers, in a fresh nginx) before the long run and after each of its $ROUNDS rounds of ${DURATION} s fluxakafka async produce: $rss_line."
  echo
  echo "Ceiling: the 'nginx alone' row is the same request with no Kafka call. fluxakafka's produce runs in librdkafka's threads of each worker, which share the 2 CPUs with nginx, wrk and the broker, so the ratio on this machine is bounded by how close either library gets to that row."
} > "$section"
bash bench/section.sh nginx "$section"
rm -f "$section"
stop_nginx   # the fixed-rate runs start an nginx of their own
[ "${FIXED_RATES:-1}" = 0 ] || bash bench/nginx/rates.sh
