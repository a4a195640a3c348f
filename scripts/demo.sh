#!/usr/bin/env bash
# The main job: the quick start (produce, consume, commit), then schema management with the
# migration command line on examples/migrations: plan, apply, and plan again.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export LUA_PATH="$root/lua/?.lua;$root/lua/?/init.lua;;" LUA_CPATH="$root/build/?.so;;"
echo "== examples/quickstart.lua"
luajit examples/quickstart.lua 2>/dev/null
echo
echo "== fluxakafka plan examples/migrations/*.lua"
set +e
luajit bin/fluxakafka plan examples/migrations/*.lua 2>/dev/null
echo "(exit $?: 2 means something is pending)"
echo
echo "== fluxakafka apply examples/migrations/*.lua   (deletions are listed but need --allow-delete)"
luajit bin/fluxakafka apply examples/migrations/*.lua 2>/dev/null
status=$?
echo
echo "== fluxakafka plan examples/migrations/*.lua   (again)"
luajit bin/fluxakafka plan examples/migrations/*.lua 2>/dev/null
echo "(exit $?)"
exit $status
