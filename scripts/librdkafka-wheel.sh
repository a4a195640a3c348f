#!/usr/bin/env bash
# A newer librdkafka for running fluxakafka against at run time, taken from the confluent-kafka
# wheel on PyPI (the wheel carries librdkafka as a shared library, with its own OpenSSL, SASL and
# compression libraries beside it). Nothing is built: fluxakafka stays compiled against the
# installed headers and only the loaded library changes.
#
#   scripts/librdkafka-wheel.sh [CONFLUENT_KAFKA_VERSION]   prints a directory for LD_LIBRARY_PATH
#
# The directory holds librdkafka.so.1 (a link to the wheel's renamed copy), so the dynamic loader
# picks it instead of Debian's when it is first on LD_LIBRARY_PATH.
set -euo pipefail
version="${1:-${FK_CONFLUENT_KAFKA_VERSION:-2.16.2}}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${FK_KAFKA_CACHE:-$root/.cache}/librdkafka-wheel-$version"
if [ ! -e "$dir/librdkafka.so.1" ]; then
  command -v pip >/dev/null || { echo "librdkafka-wheel.sh: pip is missing" >&2; exit 1; }
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  # the wheel for this machine's platform; which CPython it was built for does not matter here
  pip download -q --no-deps --only-binary=:all: --python-version 3.11 --platform manylinux_2_28_x86_64 \
    -d "$tmp" "confluent-kafka==$version" >&2 \
    || { echo "librdkafka-wheel.sh: pip could not download confluent-kafka $version" >&2; exit 1; }
  mkdir -p "$tmp/unpacked"
  python3 -m zipfile -e "$tmp"/confluent_kafka-*.whl "$tmp/unpacked"
  rm -rf "$dir.partial"
  mkdir -p "$dir.partial"
  cp "$tmp"/unpacked/confluent_kafka.libs/* "$dir.partial/"
  lib="$(cd "$dir.partial" && ls librdkafka-*.so.1 | head -n 1)"
  [ -n "$lib" ] || { echo "librdkafka-wheel.sh: no librdkafka in confluent-kafka $version's wheel" >&2; exit 1; }
  ln -s "$lib" "$dir.partial/librdkafka.so.1"
  rm -rf "$dir"
  mv "$dir.partial" "$dir"
fi
echo "$dir"
