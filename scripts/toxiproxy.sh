#!/usr/bin/env bash
# Toxiproxy (github.com/Shopify/toxiproxy, a TCP proxy whose faults are set over HTTP) for the
# network-fault specs (make test-netfaults). Built from the Go module proxy, never vendored.
#
#   scripts/toxiproxy.sh build   build the server once into .cache/toxiproxy-VERSION/ (needs Go)
#   scripts/toxiproxy.sh up      start it on a free port of 127.0.0.1; prints its API address
#   scripts/toxiproxy.sh down    stop the server this script started
#   scripts/toxiproxy.sh api     print the API address of the running server (exit 1: none)
set -euo pipefail

TOXIPROXY_VERSION=v2.5.0
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${FK_TOXIPROXY_CACHE:-$root/.cache}/toxiproxy-$TOXIPROXY_VERSION/toxiproxy-server"
state="$root/.toxiproxy"
export PATH="$PATH:/usr/local/go/bin"

build() {
  [ -x "$bin" ] && return 0
  command -v go >/dev/null || { echo "toxiproxy.sh: the Go toolchain is missing" >&2; exit 1; }
  echo "toxiproxy.sh: building toxiproxy $TOXIPROXY_VERSION from the Go module proxy"
  mkdir -p "$(dirname "$bin")"
  # GOBIN is where `go install pkg@version` puts the binary; it is named after the package (server)
  local tmp
  tmp="$(mktemp -d)"
  GOBIN="$tmp" go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION"
  mv "$tmp/server" "$bin"
  rmdir "$tmp"
}

# The pid of the server this script started, if it still runs (the command line is checked so a
# recycled pid is never taken for ours).
our_pid() {
  local pid cmd
  pid="$(cat "$state/pid" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  cmd="$(tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline")" || return 1
  [[ "$cmd" == "$bin "* ]] || return 1
  echo "$pid"
}

api() { our_pid >/dev/null && echo "127.0.0.1:$(cat "$state/port")"; }

# A port the kernel hands out as free (bound and released at once; the server binds it next).
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

up() {
  if api; then return 0; fi
  build
  mkdir -p "$state"
  local port
  port="$(free_port)"
  echo "$port" > "$state/port"
  nohup "$bin" -host 127.0.0.1 -port "$port" > "$state/server.log" 2>&1 &
  echo $! > "$state/pid"
  local deadline=$((SECONDS + 20))
  until curl -sf "http://127.0.0.1:$port/version" >/dev/null; do
    if ! our_pid >/dev/null || [ $SECONDS -ge $deadline ]; then
      echo "toxiproxy.sh: the server did not start:" >&2
      tail -n 20 "$state/server.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  api
}

down() {
  local pid
  if pid="$(our_pid)"; then
    kill "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -rf "$state"
}

case "${1:-}" in
  build) build ;;
  up) up ;;
  down) down ;;
  api) api ;;
  *) echo "usage: $0 build|up|down|api" >&2; exit 2 ;;
esac
