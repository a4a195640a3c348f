#!/usr/bin/env bash
# Runs a command (make test-netfaults: the specs in spec-netfaults/) with the private broker of
# scripts/kafka-netfaults.sh and a toxiproxy server (scripts/toxiproxy.sh) started for it, and
# stops both afterwards; the command's exit status is kept. The command gets
#   FK_NETFAULTS_PROXY     where the proxy listens (the address the broker advertises)
#   FK_NETFAULTS_UPSTREAM  the broker's listener behind the proxy
#   FK_NETFAULTS_CLEAN     the broker's listener no fault touches (set-up, read-back)
#   FK_TOXIPROXY_API       toxiproxy's HTTP API (host:port)
# The ports start at FK_NETFAULTS_PORT_BASE (default 9392; see kafka-netfaults.sh).
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
base="${FK_NETFAULTS_PORT_BASE:-9392}"
export FK_NETFAULTS_PORT_BASE="$base"
export FK_NETFAULTS_PROXY="127.0.0.1:$base" FK_NETFAULTS_UPSTREAM="127.0.0.1:$((base + 1))"
export FK_NETFAULTS_CLEAN="127.0.0.1:$((base + 2))"

stop() {
  bash scripts/toxiproxy.sh down || true
  bash scripts/kafka-netfaults.sh down || true
}
trap stop EXIT
bash scripts/toxiproxy.sh build || exit 1
FK_TOXIPROXY_API="$(bash scripts/toxiproxy.sh up)" || exit 1
export FK_TOXIPROXY_API
bash scripts/kafka-netfaults.sh up || exit 1
# the results table holds this run's scenarios only
mkdir -p .test-output
rm -f .test-output/netfaults.tsv
"$@"
