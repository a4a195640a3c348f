# fluxakafka - developer entry points. `make test` and `make demo` work on a fresh Debian
# machine: they install what is missing, build, start a local broker and clean up after.

CC       ?= cc
CFLAGS   ?= -O2 -g
WARN      = -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror
LUAJIT_INC ?= $(shell pkg-config --cflags luajit 2>/dev/null || echo -I/usr/include/luajit-2.1)
LIBS      = -lrdkafka -lyaml -lmsgpackc -lm

CORE_SRC    = $(wildcard csrc/*.c)
BINDING_SRC = $(wildcard csrc/lua/*.c)
HEADERS     = $(wildcard csrc/*.h csrc/lua/*.h)
MODULE      = build/fluxakafka/core.so

export LUA_PATH  := $(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;
export LUA_CPATH := $(CURDIR)/build/?.so;;

.PHONY: all deps build test test-asan demo bench fuzz kafka-up kafka-down clean check-core \
        mariadb-up mariadb-down example-async-sql bench-async-sql

all: build

build: $(MODULE)

$(MODULE): $(CORE_SRC) $(BINDING_SRC) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -fPIC -shared $(LUAJIT_INC) -o $@ $(CORE_SRC) $(BINDING_SRC) $(LIBS)

# The core must never depend on Lua.
check-core:
	@! grep -lE 'lua\.h|lauxlib|lua_State' csrc/*.c csrc/*.h || (echo "the core must not use the Lua API"; exit 1)

deps:
	bash scripts/install-deps.sh

kafka-up:
	bash scripts/kafka.sh up

kafka-down:
	bash scripts/kafka.sh down

# Runs the busted specs against a local broker, starting (and afterwards stopping) one if
# none is running. The last line is `N passed, N failed`.
test: deps
	$(MAKE) build
	bash scripts/with-kafka.sh bash scripts/run-specs.sh

demo: deps
	$(MAKE) build
	bash scripts/with-kafka.sh bash scripts/demo.sh

# The specs again with the module built with AddressSanitizer (leak checking on); LuaJIT
# loads it, so libasan is preloaded, and the module too so that leaks get symbols.
ASAN_MODULE = build-asan/fluxakafka/core.so
$(ASAN_MODULE): $(CORE_SRC) $(BINDING_SRC) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) -O1 -g -fsanitize=address -fno-omit-frame-pointer $(WARN) -fPIC -shared $(LUAJIT_INC) -o $@ $(CORE_SRC) $(BINDING_SRC) $(LIBS)

test-asan: deps $(ASAN_MODULE)
	FK_TEST_CPATH='$(CURDIR)/build-asan/?.so' FK_TEST_ASAN_OPTIONS=detect_leaks=1:exitcode=23 \
	FK_TEST_PRELOAD="$$($(CC) -print-file-name=libasan.so) $(CURDIR)/$(ASAN_MODULE)" \
	bash scripts/with-kafka.sh bash scripts/run-specs.sh

fuzz:
	$(MAKE) -C fuzz run

# A private MariaDB (scripts/mariadb.sh: Debian's mariadb-server under /tmp, port 3407) and
# the async SQL example applying flushed operations to it; the broker as for `make test`.
mariadb-up:
	bash scripts/mariadb.sh up

mariadb-down:
	bash scripts/mariadb.sh down

example-async-sql: deps mariadb-up
	$(MAKE) build
	env $$(bash scripts/mariadb.sh env) bash scripts/with-kafka.sh luajit examples/async_sql_mysql.lua

# Async SQL throughput (flush_async / consume against plain produce_sync / poll of the same bytes)
bench-async-sql: deps
	$(MAKE) build
	bash scripts/with-kafka.sh luajit bench/async_sql_bench.lua

bench: deps
	$(MAKE) build
	bash scripts/with-kafka.sh bash bench/run.sh

clean:
	rm -rf build build-asan .test-output
	$(MAKE) -C fuzz clean
