# nginx of the nginx benchmarks (bench/nginx/run.sh, rates.sh), sourced: 2 workers in a
# private prefix serving bench/nginx/app.lua on 127.0.0.1:$PORT. Expects $root and $PORT.
# fluxakafka's lua-resty-kafka compatibility directory comes first on lua_package_path, so
# app.lua's "resty.kafka.producer" is fluxakafka's; Debian's lua-resty-kafka is nginx.kafka.*.
nginx_prefix="$(mktemp -d)"
mkdir -p "$nginx_prefix/conf" "$nginx_prefix/logs"
nginx_modules=""
if [ -f /usr/lib/nginx/modules/ngx_http_lua_module.so ]; then
  nginx_modules="load_module /usr/lib/nginx/modules/ndk_http_module.so; load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;"
fi
resty_compat="$(luajit -e 'print(require("fluxakafka").resty_compat_path())')"
cat > "$nginx_prefix/conf/nginx.conf" <<CONF
$nginx_modules
worker_processes 2;
error_log logs/error.log warn;
pid logs/nginx.pid;
env FK_BROKERS;
events { worker_connections 4096; }
http {
  access_log off;
  lua_package_path "$resty_compat/?.lua;$root/lua/?.lua;$root/bench/nginx/?.lua;;";
  lua_package_cpath "$root/build/?.so;;";
  init_by_lua_block { require("app").init() }
  init_worker_by_lua_block { require("app").init_worker() }
  server {
    listen 127.0.0.1:$PORT backlog=4096;
    keepalive_requests 1000000;
    location ~ ^/(\w+)$ { content_by_lua_block { require("app").handle(ngx.var[1]) } }
  }
}
CONF
start_nginx() {
  nginx -p "$nginx_prefix" -c conf/nginx.conf
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
}
stop_nginx() {
  local pid
  pid="$(cat "$nginx_prefix/logs/nginx.pid" 2>/dev/null)" || return 0
  nginx -p "$nginx_prefix" -c conf/nginx.conf -s quit 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
}
# the worker processes' pids
nginx_workers() { pgrep -P "$(cat "$nginx_prefix/logs/nginx.pid")"; }
