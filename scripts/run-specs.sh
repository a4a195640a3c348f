#!/usr/bin/env bash
# Runs the busted specs under LuaJIT against the broker at $FK_TEST_BROKERS (default
# 127.0.0.1:9092) and ends with "N passed, N failed" counted from busted's TAP output.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export LUA_PATH="$root/lua/?.lua;$root/lua/?/init.lua;;"
export LUA_CPATH="${FK_TEST_CPATH:-$root/build/?.so};;"
mkdir -p .test-output
tap=.test-output/busted.tap
# librdkafka's connection logs go to stderr; keep them out of the TAP stream
luajit /usr/bin/busted -o TAP "${@:-spec}" > "$tap" 2> .test-output/stderr.log
busted_status=$?
cat "$tap"
passed=$(grep -cE '^ok [0-9]+' "$tap")
failed=$(grep -cE '^not ok [0-9]+' "$tap")
if ! grep -qE '^1\.\.[0-9]+' "$tap"; then
  echo "busted did not finish (exit $busted_status); its stderr:" >&2
  tail -n 30 .test-output/stderr.log >&2
  failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
