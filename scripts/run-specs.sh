#!/usr/bin/env bash
# Runs the busted specs under LuaJIT against the broker at $FK_TEST_BROKERS (default
# 127.0.0.1:9092) and ends with "N passed, N failed" counted from busted's TAP output.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export LUA_PATH="$root/lua/?.lua;$root/lua/?/init.lua;;"
export LUA_CPATH="${FK_TEST_CPATH:-$root/build/?.so};;"
mkdir -p .test-output
# librdkafka's connection logs go to stderr; keep them out of the TAP stream
passed=0
failed=0
# run_pass NAME [env...] -- files: one busted run, its TAP kept and counted
run_pass() {
  local name="$1"; shift
  local out=".test-output/$name.tap"
  # FK_TEST_PRELOAD (make test-asan) reaches luajit only, not the shell tools around it
  env "$@" ${FK_TEST_PRELOAD:+LD_PRELOAD="$FK_TEST_PRELOAD"} ${FK_TEST_ASAN_OPTIONS:+ASAN_OPTIONS="$FK_TEST_ASAN_OPTIONS"} \
    luajit /usr/bin/busted -o TAP "${files[@]}" > "$out" 2> ".test-output/$name.stderr.log"
  local status=$?
  cat "$out"
  passed=$((passed + $(grep -cE '^ok [0-9]+' "$out")))
  failed=$((failed + $(grep -cE '^not ok [0-9]+' "$out")))
  if [ "$status" = 23 ] || grep -q "ERROR: \(Leak\|Address\)Sanitizer" ".test-output/$name.stderr.log"; then
    echo "AddressSanitizer reported a problem in the $name pass:" >&2
    grep -A 20 "ERROR: " ".test-output/$name.stderr.log" | head -n 60 >&2
    failed=$((failed + 1))
  fi
  if ! grep -qE '^1\.\.[0-9]+' "$out"; then
    echo "busted ($name) did not finish (exit $status); its stderr:" >&2
    tail -n 30 ".test-output/$name.stderr.log" >&2
    failed=$((failed + 1))
  fi
}
if [ $# -gt 0 ]; then files=("$@"); else files=(spec); fi
run_pass busted FK_SPEC_PASS=ffi
# Under LuaJIT records are built through the FFI; the C API path (plain Lua 5.1) is checked
# again on the specs that read records.
if [ $# -eq 0 ]; then
  files=(spec/producer_spec.lua spec/consumer_spec.lua spec/lifetime_spec.lua)
  echo "# the same record specs through the C API record builder (FLUXAKAFKA_NO_FFI=1)"
  run_pass busted-c-api FLUXAKAFKA_NO_FFI=1 FK_SPEC_PASS=c-api
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
