-- The /produce handler of nginx_faults_spec.lua (content_by_lua_file): one produce_sync through
-- the proxy per request, ?topic=&id= (key and value: id). Answers "ok <offset>", or 503 and
-- "error <code> <persisted> <message>".
local pool = package.loaded.netfaults_pool
if not pool then
  local fk = require "fluxakafka"
  local r = fk.new_registry()
  r:register_kafka({ os.getenv("FK_NETFAULTS_PROXY") }, "proxied")
  pool = assert(r:validate()):kafka("proxied")
  package.loaded.netfaults_pool = pool
end
local rec = { topic = ngx.var.arg_topic, key = ngx.var.arg_id, value = ngx.var.arg_id }
local ok, err, code = pool:produce_sync(rec)
if ok then
  ngx.say("ok ", rec.offset)
else
  ngx.status = 503
  ngx.say("error ", tostring(code), " ", tostring(rec.persisted), " ", tostring(err))
end
