#!/usr/bin/env bash
# The work of bench/baseline.c through kcat (Debian's kcat, on the same librdkafka).
#
#   bash bench/kcat_bench.sh produce <brokers> <topic> <count> <size>
#   bash bench/kcat_bench.sh consume <brokers> <topic> <count>
#
# kcat has no timing of its own, so the whole process is timed: its start-up and metadata
# round trip are in the number (a few milliseconds against about a second of work).
# produce: one warm-up record first (auto-creates the topic, not timed), then `kcat -P -l`
# from a file of count lines of size bytes (written before the clock starts), with the
# producer settings of baseline.c; kcat flushes before it exits. consume: `kcat -C -o
# beginning -c` without a consumer group (kcat's usual way; partition 0 from the start),
# payloads written to /dev/null; the warm-up record is read too and counted.
# The last line is "RESULT <mode> <count> <records/s>".
set -euo pipefail
mode="$1" brokers="$2" topic="$3" count="$4"
now() { date +%s.%N; }
case "$mode" in
  produce)
    size="$5"
    input="$(mktemp "${TMPDIR:-/tmp}/kcat-bench.XXXXXX")"
    trap 'rm -f "$input"' EXIT
    awk -v n="$count" -v size="$size" 'BEGIN { s = sprintf("%*s", size, ""); gsub(/ /, "x", s); for (i = 0; i < n; i++) print s }' > "$input"
    echo warm-up | kcat -P -b "$brokers" -t "$topic"
    start="$(now)"
    kcat -P -b "$brokers" -t "$topic" -X acks="${ACKS:--1}" -X linger.ms="${LINGER_MS:-0}" \
      -X max.in.flight.requests.per.connection="${MAX_IN_FLIGHT:-5}" \
      -X queue.buffering.max.kbytes=65536 -X partitioner=murmur2_random -X message.timeout.ms=30000 \
      ${QUEUE_MAX:+-X queue.buffering.max.messages="$QUEUE_MAX"} -l "$input"
    end="$(now)"
    echo "produced $count records of $size bytes to '$topic' with kcat"
    ;;
  consume)
    count=$((count + 1))   # the warm-up record
    start="$(now)"
    got="$(kcat -C -b "$brokers" -t "$topic" -o beginning -c "$count" -e -q -X queued.min.messages=1000000 | wc -l)"
    end="$(now)"
    if [ "$got" -ne "$count" ]; then
      echo "kcat read $got of $count records from '$topic'" >&2
      exit 1
    fi
    echo "consumed $count records from '$topic' with kcat"
    ;;
  *)
    echo "usage: kcat_bench.sh produce|consume <brokers> <topic> <count> [size]" >&2
    exit 2
    ;;
esac
awk -v m="$mode" -v n="$count" -v s="$start" -v e="$end" 'BEGIN { printf "RESULT %s %d %.1f\n", m, n, n / (e - s) }'
