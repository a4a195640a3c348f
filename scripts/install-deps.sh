#!/usr/bin/env bash
# Installs what fluxakafka needs on Debian 12, only when something is missing: every package is
# checked with dpkg-query first, so with everything present this takes a fraction of a second
# and never touches the network (make test calls it each time).
#
#   bash scripts/install-deps.sh          the build, the specs and the test broker
#   bash scripts/install-deps.sh nginx    also nginx with its Lua module, lua-resty-core,
#                                         lua-resty-kafka (for make test-nginx and the bench)
#
# LuaJIT: Debian ships two that exclude each other. libnginx-mod-http-lua needs OpenResty's
# branch (luajit2, libluajit2-5.1-dev) and removes the other one (luajit, libluajit-5.1-dev)
# when installed. So whichever is installed is kept; on a machine with neither, OpenResty's
# branch is installed, because it is what nginx loads. An OpenResty install in
# /usr/local/openresty needs no Debian LuaJIT at all (the Makefile finds it).
set -euo pipefail
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# build-essential pkg-config librdkafka-dev libyaml-dev libmsgpack-dev: the C core; luarocks lua-busted: the
# Lua side and the specs; default-jdk-headless maven: the test broker (scripts/kafka.sh) and the
# Java client of the null-value interop spec; kcat: the same spec's other client; valgrind:
# leak checks; openssl: the test broker's throw-away TLS CA; lua-dkjson: decodes librdkafka's
# statistics for stats_callback (lua-cjson is used instead when installed).
PACKAGES=(build-essential pkg-config librdkafka-dev libyaml-dev libmsgpack-dev luarocks lua-busted
          default-jdk-headless maven kcat valgrind openssl lua-dkjson)
if installed libluajit-5.1-dev && installed luajit && ! installed libnginx-mod-http-lua \
   && [ "${1:-}" != nginx ]; then
  PACKAGES+=(luajit libluajit-5.1-dev)          # the plain LuaJIT is here already: keep it
elif [ -x /usr/local/openresty/luajit/bin/luajit ] && [ "${1:-}" != nginx ]; then
  :                                             # OpenResty's own LuaJIT
else
  PACKAGES+=(luajit2 libluajit2-5.1-dev)
fi
# nginx 1.22 with lua-nginx-module 0.10.23, lua-resty-core, lua-resty-kafka (Debian's
# lua-nginx-kafka), lua-socket and curl for the HTTP clients of the nginx specs, procps (pgrep),
# wrk for the bench, jq for vegeta's reports in the fixed-rate bench.
# Other arguments: only those packages are checked (make deps-bench: kcat time
# python3-confluent-kafka; scripts/mariadb.sh: mariadb-server
# lua-sql-mysql), so that a script's extra needs never touch the packages above.
if [ "${1:-}" = nginx ]; then
  PACKAGES+=(nginx libnginx-mod-http-lua lua-resty-core lua-nginx-kafka lua-socket wrk curl procps jq)
elif [ $# -gt 0 ]; then
  PACKAGES=("$@")
fi

missing=()
for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# One update, only now that something is missing: a fresh machine's package lists may be empty.
$sudo apt-get update -qq
# sudo drops the environment by default, so DEBIAN_FRONTEND is passed through env explicitly.
# The policy-rc.d guard keeps the nginx package from starting a system-wide nginx on port 80.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy" && made_policy=1
fi
status=0
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" || status=$?
[ "$made_policy" = 1 ] && $sudo rm -f "$policy"
exit $status
