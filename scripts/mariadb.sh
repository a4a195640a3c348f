#!/usr/bin/env bash
# A throw-away MariaDB for examples/async_sql_mysql.lua: Debian's mariadb-server, started with
# no system configuration, its data, socket and log under one directory, on a private port.
#
#   bash scripts/mariadb.sh up      installs mariadb-server and lua-sql-mysql when missing,
#                                   starts the server (when not running) and creates the
#                                   database `fluxa` with user fluxa/fluxa-secret
#   bash scripts/mariadb.sh down    stops it (the data directory stays for the next `up`)
#   bash scripts/mariadb.sh env     prints the connection settings as shell assignments
#
# FK_MARIADB_DIR (default /tmp/fluxakafka-mariadb) and FK_MARIADB_PORT (default 3407) choose
# where. As root the server runs as the `mysql` user the package creates.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${FK_MARIADB_DIR:-/tmp/fluxakafka-mariadb}"
port="${FK_MARIADB_PORT:-3407}"
sock="$dir/mariadb.sock"
pidfile="$dir/mariadb.pid"

running() {
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

client() {
  mariadb --no-defaults --socket="$sock" -u root "$@"
}

up() {
  bash "$root/scripts/install-deps.sh" mariadb-server lua-sql-mysql
  if running; then
    echo "mariadb: already running on 127.0.0.1:$port (pid $(cat "$pidfile"))"
    return 0
  fi
  local user=()
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then
    user=(--user=mysql)
    chown mysql: "$dir"
  fi
  if [ ! -d "$dir/data/mysql" ]; then
    mariadb-install-db --no-defaults "${user[@]}" --datadir="$dir/data" --auth-root-authentication-method=socket \
      --skip-test-db > "$dir/install.log" 2>&1 || { cat "$dir/install.log" >&2; exit 1; }
  fi
  mariadbd --no-defaults "${user[@]}" --datadir="$dir/data" --socket="$sock" --port="$port" \
    --bind-address=127.0.0.1 --skip-name-resolve --pid-file="$pidfile" --log-error="$dir/error.log" \
    --innodb-buffer-pool-size=32M --performance-schema=OFF > /dev/null 2>&1 &
  local pid=$!
  # ready when the server answers on its socket (bounded: 60 s)
  for _ in $(seq 1 600); do
    if mariadb-admin --no-defaults --socket="$sock" -u root ping > /dev/null 2>&1; then break; fi
    kill -0 "$pid" 2>/dev/null || { echo "mariadb: the server exited; its log:" >&2; tail -20 "$dir/error.log" >&2; exit 1; }
    sleep 0.1
  done
  mariadb-admin --no-defaults --socket="$sock" -u root ping > /dev/null 2>&1 ||
    { echo "mariadb: no answer within 60 s; its log:" >&2; tail -20 "$dir/error.log" >&2; exit 1; }
  client -e "CREATE DATABASE IF NOT EXISTS fluxa;
             CREATE USER IF NOT EXISTS 'fluxa'@'%' IDENTIFIED BY 'fluxa-secret';
             GRANT ALL ON fluxa.* TO 'fluxa'@'%';"
  echo "mariadb: running on 127.0.0.1:$port (socket $sock, pid $(cat "$pidfile"))"
}

down() {
  if ! running; then
    echo "mariadb: not running"
    return 0
  fi
  local pid
  pid="$(cat "$pidfile")"
  mariadb-admin --no-defaults --socket="$sock" -u root shutdown 2>/dev/null || kill "$pid"
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  echo "mariadb: stopped"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  env) echo "FK_MYSQL_HOST=127.0.0.1 FK_MYSQL_PORT=$port FK_MYSQL_DB=fluxa FK_MYSQL_USER=fluxa FK_MYSQL_PASSWORD=fluxa-secret" ;;
  *) echo "usage: $0 up | down | env" >&2; exit 2 ;;
esac
