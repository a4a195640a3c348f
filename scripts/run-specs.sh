#!/usr/bin/env bash
# Runs the busted specs under LuaJIT against the broker at $FK_TEST_BROKERS (default
# 127.0.0.1:9092) and ends with "N passed, N failed" counted from busted's TAP output.
#
#   bash scripts/run-specs.sh                         every spec, then the record specs again
#                                                     through the C API record builder
#   bash scripts/run-specs.sh spec/consumer_spec.lua  arguments go to busted as they are
#   bash scripts/run-specs.sh --filter='batches'      (files, --filter, --tags, ...)
#
# The TAP stream is shown as it comes and kept in .test-output/busted.tap (the C API pass in
# .test-output/busted-c-api.tap); librdkafka's stderr goes to .test-output/<pass>.stderr.log.
# Exit status: 1 when a test failed, when no test ran, or when busted did not finish (no
# "1..N" plan line, e.g. a crash); 0 otherwise.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export LUA_PATH="$root/lua/?.lua;$root/lua/?/init.lua;;"
export LUA_CPATH="${FK_TEST_CPATH:-$root/build/?.so};;"
mkdir -p .test-output
passed=0
failed=0
skipped=0
mine="$(mktemp "${TMPDIR:-/tmp}/fluxakafka-specs.XXXXXX")" || exit 1
trap 'rm -f "$mine"' EXIT

# prints "PASSED FAILED PLANNED SKIPPED" for a TAP file (PLANNED is 1 when a "1..N" line is
# there); a skipped test ("ok N # SKIP", busted's pending) ran nothing and is not a pass
count_tap() {
  awk '/^ok [0-9]+ - # SKIP/ { s++; next } /^ok [0-9]+/ { p++ } /^not ok [0-9]+/ { f++ }
       /^1\.\.[0-9]+/ { plan = 1 }
       END { printf "%d %d %d %d\n", p, f, plan, s }' "$1"
}

# the last N lines of a file
last_lines() {
  awk -v n="$1" '{ a[NR % n] = $0 } END { for (i = NR - n + 1; i <= NR; i++) if (i > 0) print a[i % n] }' "$2"
}

# run_pass NAME [VAR=value...] -- one busted run over "${args[@]}", its TAP shown, kept, counted
run_pass() {
  local name="$1"; shift
  local out=".test-output/$name.tap" err=".test-output/$name.stderr.log"
  # FK_TEST_PRELOAD (make test-asan) reaches luajit only, not the shell tools around it
  env "$@" ${FK_TEST_PRELOAD:+LD_PRELOAD="$FK_TEST_PRELOAD"} \
    ${FK_TEST_ASAN_OPTIONS:+ASAN_OPTIONS="$FK_TEST_ASAN_OPTIONS"} \
    "${LUAJIT:-luajit}" /usr/bin/busted -o TAP "${args[@]}" 2> "$err" | tee "$out" "$mine"
  local status=${PIPESTATUS[0]}
  local p f plan s
  # counted from this run's own copy: another run in the same checkout may rewrite $out
  read -r p f plan s < <(count_tap "$mine")
  passed=$((passed + p))
  failed=$((failed + f))
  skipped=$((skipped + s))
  if [ "$status" = 23 ] || awk '/ERROR: (Leak|Address)Sanitizer/ { found = 1 } END { exit !found }' "$err"; then
    echo "AddressSanitizer reported a problem in the $name pass:" >&2
    awk '/ERROR: / { n = 21 } n > 0 && shown < 60 { print; n--; shown++ }' "$err" >&2
    failed=$((failed + 1))
  fi
  if [ "$plan" != 1 ]; then
    echo "busted ($name) did not finish (exit $status); the end of its stderr:" >&2
    last_lines 30 "$err" >&2
    failed=$((failed + 1))
  fi
}

if [ $# -gt 0 ]; then args=("$@"); else args=(spec); fi
run_pass busted FK_SPEC_PASS=ffi
# Under LuaJIT records are built through the FFI; the C API path (plain Lua 5.1) is checked
# again on the specs that read records.
if [ $# -eq 0 ]; then
  args=(spec/producer_spec.lua spec/consumer_spec.lua spec/lifetime_spec.lua spec/gc_resurrection_spec.lua)
  echo "# the same record specs through the C API record builder (FLUXAKAFKA_NO_FFI=1)"
  run_pass busted-c-api FLUXAKAFKA_NO_FFI=1 FK_SPEC_PASS=c-api
fi
[ "$skipped" -gt 0 ] && echo "# $skipped skipped (pending: not run, not counted)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
