-- One call of toxiproxy's HTTP API (shared by the specs and their fault driver).
local http = require "socket.http"
local ltn12 = require "ltn12"

-- api: host:port; body: JSON text or nil. Returns the HTTP status and the answer's body.
return function(api, method, path, body)
  local out = {}
  local _, status = http.request({
    url = "http://" .. api .. path, method = method, sink = ltn12.sink.table(out),
    source = body and ltn12.source.string(body) or nil,
    headers = body and { ["content-type"] = "application/json", ["content-length"] = #body } or nil,
  })
  return status, table.concat(out)
end
