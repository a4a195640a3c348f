# Helpers shared by bench/run.sh, bench/franz.sh and bench/nginx/rates.sh; bench() expects
# $logs (a directory for the programs' output) and RUN_TIMEOUT (seconds per program run),
# broker_pid() $root (the checkout).

# bench <log name> <command...>: runs one program, bounded and under /usr/bin/time (peak
# RSS into <log>.rss), and prints what its RESULT line gives after the count (records/s, or
# "p50 p99" for latency), or FAIL
bench() {
  local name="$1" log="$logs/$1.log" rc=0 value
  shift
  timeout -k 10 "$RUN_TIMEOUT" /usr/bin/time -f "MAXRSS %M" -o "$log.rss" "$@" >"$log" 2>&1 || rc=$?
  value="$(grep '^RESULT' "$log" | tail -n 1 | cut -d' ' -f4-)"
  if [ "$rc" -ne 0 ] || [ -z "$value" ]; then
    echo "  FAILED (exit $rc): $*; last lines of $log:" >&2
    tail -n 5 "$log" | sed 's/^/    /' >&2
    echo FAIL
  else
    echo "  $name: $value" >&2
    echo "$value"
  fi
}
# median of the numeric arguments ("n/a" if none)
median() {
  printf '%s\n' "$@" | { grep -E '^[0-9.]+$' || true; } | sort -g |
    awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "n/a"}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a+0 > 0 && b+0 > 0) printf "%.2f", a / b; else print "n/a"}'; }
# the ratio of each run of two space-separated lists of runs: the programs of one run ran one
# after the other, so a machine whose speed drifts between runs (a JIT warming up, a
# neighbour) moves both sides of it alike
paired_ratios() {
  local -a a b
  local i
  read -r -a a <<<"$1"
  read -r -a b <<<"$2"
  for i in "${!a[@]}"; do printf ' %s' "$(ratio "${a[i]}" "${b[i]:-}")"; done
}
# the broker JVM's pid: FK_BROKER_PID, else the one scripts/kafka.sh wrote into this
# checkout's .kafka/kafka.pid; nothing (and a warning) when neither is a running process
broker_pid() {
  local pid="${FK_BROKER_PID:-}"
  [ -z "$pid" ] && [ -f "$root/.kafka/kafka.pid" ] && pid="$(cat "$root/.kafka/kafka.pid")"
  if [ -n "$pid" ] && [ -r "/proc/$pid/stat" ]; then
    echo "$pid"
  else
    echo "$(basename "$0"): no broker pid (FK_BROKER_PID or .kafka/kafka.pid): broker CPU is not measured" >&2
  fi
}
