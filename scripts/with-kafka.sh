#!/usr/bin/env bash
# Runs a command with a local broker: uses the one already running, or starts one and stops
# it afterwards. The command's exit status is kept.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
started=0
# which Kafka (FK_KAFKA_VERSION, read by kafka.sh); specs whose expectations depend on it read it
export FK_TEST_KAFKA_VERSION="${FK_KAFKA_VERSION:-3.9.1}"
# a broker on other ports (FK_KAFKA_PORT_BASE, see kafka.sh): the specs are told where it is
if [ -n "${FK_KAFKA_PORT_BASE:-}" ] && [ "$FK_KAFKA_PORT_BASE" != 9092 ]; then
  base=$FK_KAFKA_PORT_BASE
  export FK_TEST_BROKERS="127.0.0.1:$base" FK_TEST_SASL_BROKERS="127.0.0.1:$((base + 2))" \
    FK_TEST_SSL_BROKERS="127.0.0.1:$((base + 3))" FK_TEST_SASL_SSL_BROKERS="127.0.0.1:$((base + 4))" \
    FK_TEST_TLS_DIR="$root/.kafka-$base/tls"
fi
if ! bash scripts/kafka.sh status >/dev/null 2>&1; then
  bash scripts/kafka.sh up || exit 1
  started=1
fi
"$@"
status=$?
if [ "$started" = 1 ] && [ -z "${FK_KEEP_KAFKA:-}" ]; then
  bash scripts/kafka.sh down >/dev/null 2>&1 || true
fi
exit $status
