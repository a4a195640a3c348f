#!/usr/bin/env bash
# Installs what fluxakafka needs on Debian 12, only when something is missing.
set -euo pipefail
PACKAGES=(build-essential pkg-config librdkafka-dev libyaml-dev luajit libluajit-5.1-dev
          luarocks lua-busted default-jre-headless maven valgrind openssl)
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
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
