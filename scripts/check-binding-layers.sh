#!/usr/bin/env bash
# The binding's files call downward only: lfk_support.c at the bottom, the files of each
# class above it, lfk_module.c (which opens them all) on top. Compiles each file alone,
# reads what its object defines and what it needs from the others (nm), and fails when the
# file -> file references form a circle, printing each circle with a symbol of each step.
# On success it prints the layers, bottom first: a file calls only files of lower layers.
#
#   bash scripts/check-binding-layers.sh                 csrc/lua/*.c (run by `make check-binding`)
#   bash scripts/check-binding-layers.sh FILE.c...       those files only
#
# CC and LUAJIT_INC come from the environment (the Makefile passes its own). Only direct
# references count (calls and data): a lower file reaching up through a function pointer
# it was handed (a job's answer function, a lua_CFunction) is the intended way up.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
CC="${CC:-cc}"
NM="${NM:-nm}"
LUAJIT_INC="${LUAJIT_INC:-$(pkg-config --cflags luajit 2>/dev/null || echo -I/usr/include/luajit-2.1)}"
if [ $# -gt 0 ]; then sources=("$@"); else sources=(csrc/lua/*.c); fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/check-binding.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# one line per symbol: "<file> D <name>" for a global definition, "<file> U <name>" for a need
i=0
for src in "${sources[@]}"; do
  i=$((i + 1))
  # shellcheck disable=SC2086  # LUAJIT_INC holds several flags
  $CC -std=c99 -D_POSIX_C_SOURCE=200809L -fPIC $LUAJIT_INC -c -o "$tmp/$i.o" "$src"
  "$NM" -P "$tmp/$i.o" | awk -v f="${src##*/}" '
    $2 == "U" { print f, "U", $1; next }
    $2 ~ /^[A-Z]$/ { print f, "D", $1 }'
  echo "${src##*/} F -"   # every file, even one that defines and needs nothing
done > "$tmp/symbols"

awk '
  $2 == "F" { files[++nfiles] = $1; next }
  $2 == "D" { defined_in[$3] = $1; next }
  $2 == "U" { needs[++nneeds] = $1 " " $3 }

  # dfs(v): colour 1 while v is on the stack, 2 when done; a step to a file still on the
  # stack closes a circle, printed from that file round to it again
  function dfs(v,    n, succ, k, w, j, line) {
    colour[v] = 1
    stack[++depth] = v
    n = split(out[v], succ, " ")
    for (k = 1; k <= n; k++) {
      w = succ[k]
      if (colour[w] == 1) {
        line = ""
        for (j = depth; stack[j] != w; j--) {}
        for (; j <= depth; j++)
          line = line stack[j] " -(" via[stack[j], j < depth ? stack[j + 1] : w] ")-> "
        report = report "  " line w "\n"
        circles++
      } else if (!colour[w]) {
        dfs(w)
      }
    }
    depth--
    colour[v] = 2
  }

  # layer(v): 0 for a file that calls no other, else one above the highest it calls
  function layer(v,    n, succ, k, l) {
    if (v in level) return level[v]
    level[v] = 0
    n = split(out[v], succ, " ")
    for (k = 1; k <= n; k++) if ((l = layer(succ[k]) + 1) > level[v]) level[v] = l
    return level[v]
  }

  END {
    for (i = 1; i <= nneeds; i++) {
      split(needs[i], p, " ")
      a = p[1]; s = p[2]
      if (!(s in defined_in) || (b = defined_in[s]) == a) continue
      if (!((a, b) in via)) { via[a, b] = s; out[a] = out[a] " " b }
    }
    for (i = 1; i <= nfiles; i++) if (!colour[files[i]]) dfs(files[i])
    if (circles) {
      printf "check-binding-layers: %d circle(s) among the binding'"'"'s files (a -(symbol)-> b: a uses b'"'"'s symbol):\n%s", circles, report
      exit 1
    }
    top = 0
    for (i = 1; i <= nfiles; i++) if (layer(files[i]) > top) top = level[files[i]]
    print "binding layers, bottom first (a file calls only files of the layers above its line):"
    for (l = 0; l <= top; l++) {
      line = ""
      for (i = 1; i <= nfiles; i++) if (level[files[i]] == l) line = line " " files[i]
      printf "  %d:%s\n", l, line
    }
    printf "no circle among %d files\n", nfiles
  }' "$tmp/symbols"
