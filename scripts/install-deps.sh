#!/usr/bin/env bash
# Installs what fluxakafka needs on Debian 12, only when something is missing: every package is
# checked with dpkg-query first, so with everything present this takes a fraction of a second
# and never touches the network (make test calls it each time).
set -euo pipefail
# build-essential pkg-config librdkafka-dev libyaml-dev libmsgpack-dev: the C core; luajit libluajit-5.1-dev
# luarocks lua-busted: the Lua side and the specs; default-jre-headless maven: the test broker
# (scripts/kafka.sh); valgrind: leak checks; openssl: the test broker's throw-away TLS CA.
PACKAGES=(build-essential pkg-config librdkafka-dev libyaml-dev libmsgpack-dev luajit libluajit-5.1-dev
          luarocks lua-busted default-jre-headless maven valgrind openssl)
# With arguments, only those packages are checked (scripts/mariadb.sh: mariadb-server
# lua-sql-mysql), so that a script's extra needs never touch the packages above.
[ $# -gt 0 ] && PACKAGES=("$@")
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
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
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
