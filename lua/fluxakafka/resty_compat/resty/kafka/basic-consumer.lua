-- resty.kafka.basic-consumer, served by fluxakafka when this directory comes first on lua_package_path
-- (see fk.resty_compat_path() in docs/API.md).
return require "fluxakafka.resty.kafka.basic-consumer"
