#!/usr/bin/env bash
# bench/section.sh NAME FILE: puts FILE into bench/RESULTS.md as section NAME (between
# <!-- NAME --> markers), replacing that section if present and leaving the others alone.
set -euo pipefail
name="$1"; file="$2"
results="$(cd "$(dirname "$0")" && pwd)/RESULTS.md"
[ -f "$results" ] || echo "# Benchmark results" > "$results"
tmp="$(mktemp)"
awk -v name="$name" -v file="$file" '
  $0 == "<!-- " name " -->" { skip = 1; next }
  $0 == "<!-- /" name " -->" { skip = 0; next }
  !skip { print }
' "$results" > "$tmp"
{ cat "$tmp"; echo; echo "<!-- $name -->"; cat "$file"; echo "<!-- /$name -->"; } | cat -s > "$results"
rm -f "$tmp"
cat "$file"
