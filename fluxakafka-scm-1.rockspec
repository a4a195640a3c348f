rockspec_format = "3.0"
package = "fluxakafka"
version = "scm-1"
source = {
  url = "git+file://.",
}
description = {
  summary = "Kafka pools, producers, consumer groups and topic schema management for Lua",
  detailed = [[
fluxakafka gives Lua (LuaJIT, OpenResty) Kafka pools with a producer, consumer groups built
with a fluent builder, YAML or table configuration, SASL, and declarative topic management.
The core is C on librdkafka.
]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.1",
}
external_dependencies = {
  RDKAFKA = { header = "librdkafka/rdkafka.h", library = "rdkafka" },
  YAML = { header = "yaml.h", library = "yaml" },
  MSGPACK = { header = "msgpack.h", library = "msgpackc" },
}
build = {
  type = "builtin",
  install = { bin = { fluxakafka = "bin/fluxakafka" } },
  modules = {
    ["fluxakafka"] = "lua/fluxakafka.lua",
    ["fluxakafka.cli"] = "lua/fluxakafka/cli.lua",
    ["fluxakafka.cli_common"] = "lua/fluxakafka/cli_common.lua",
    ["fluxakafka.cli_data"] = "lua/fluxakafka/cli_data.lua",
    ["fluxakafka.ffi_fetches"] = "lua/fluxakafka/ffi_fetches.lua",
    ["fluxakafka.ffi_produce"] = "lua/fluxakafka/ffi_produce.lua",
    ["fluxakafka.async_sql"] = "lua/fluxakafka/async_sql.lua",
    ["fluxakafka.rebalance"] = "lua/fluxakafka/rebalance.lua",
    ["fluxakafka.nginx"] = "lua/fluxakafka/nginx.lua",
    ["fluxakafka.await"] = "lua/fluxakafka/await.lua",
    ["fluxakafka.resty.kafka.producer"] = "lua/fluxakafka/resty/kafka/producer.lua",
    ["fluxakafka.resty.kafka.client"] = "lua/fluxakafka/resty/kafka/client.lua",
    ["fluxakafka.resty.kafka.basic-consumer"] = "lua/fluxakafka/resty/kafka/basic-consumer.lua",
    ["fluxakafka.resty.kafka.protocol.consumer"] = "lua/fluxakafka/resty/kafka/protocol/consumer.lua",
    ["fluxakafka.resty_compat.resty.kafka.producer"] = "lua/fluxakafka/resty_compat/resty/kafka/producer.lua",
    ["fluxakafka.resty_compat.resty.kafka.client"] = "lua/fluxakafka/resty_compat/resty/kafka/client.lua",
    ["fluxakafka.resty_compat.resty.kafka.basic-consumer"] = "lua/fluxakafka/resty_compat/resty/kafka/basic-consumer.lua",
    ["fluxakafka.resty_compat.resty.kafka.protocol.consumer"] = "lua/fluxakafka/resty_compat/resty/kafka/protocol/consumer.lua",
    ["fluxakafka.core"] = {
      sources = {
        "csrc/fk_util.c", "csrc/fk_registry.c", "csrc/fk_pool.c", "csrc/fk_consumer.c", "csrc/fk_headers.c",
        "csrc/fk_admin.c", "csrc/fk_doc.c", "csrc/fk_yaml.c", "csrc/fk_config.c", "csrc/fk_async_sql.c",
        "csrc/fk_rdconf.c", "csrc/fk_inspect.c", "csrc/fk_stats.c", "csrc/fk_options.c", "csrc/fk_job.c",
        "csrc/fk_client.c", "csrc/fk_commit.c", "csrc/fk_consumer_close.c", "csrc/fk_consumer_control.c",
        "csrc/fk_consumer_open.c", "csrc/fk_fetch.c", "csrc/fk_log.c", "csrc/fk_producer.c", "csrc/fk_secret.c", "csrc/fk_stage.c",
        "csrc/fk_admin_call.c", "csrc/fk_offsets.c", "csrc/fk_rdcompat.c", "csrc/fk_read.c", "csrc/lua/lfk_read.c",
        "csrc/lua/lfk_job.c", "csrc/lua/lfk_inspect.c",
        "csrc/lua/lfk_admin.c", "csrc/lua/lfk_config.c",
        "csrc/lua/lfk_module.c", "csrc/lua/lfk_registry.c", "csrc/lua/lfk_pool.c",
        "csrc/lua/lfk_consumer.c", "csrc/lua/lfk_async_sql.c", "csrc/lua/lfk_options.c",
        "csrc/lua/lfk_support.c", "csrc/lua/lfk_hooks.c",
      },
      libraries = { "rdkafka", "yaml", "msgpackc", "m" },
      incdirs = { "$(RDKAFKA_INCDIR)", "$(YAML_INCDIR)", "$(MSGPACK_INCDIR)" },
      libdirs = { "$(RDKAFKA_LIBDIR)", "$(YAML_LIBDIR)", "$(MSGPACK_LIBDIR)" },
      defines = { "_POSIX_C_SOURCE=200809L" },
    },
  },
}
