# fluxakafka - developer entry points. `make test` and `make demo` work on a fresh Debian
# machine: they install what is missing, build, start a local broker and clean up after.

CC       ?= cc
CFLAGS   ?= -O2 -g
WARN      = -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror
# LuaJIT headers: LUAJIT_PREFIX when given (e.g. make LUAJIT_PREFIX=/usr/local/openresty/luajit),
# else pkg-config's luajit (Debian's luajit2 and luajit both provide it), else OpenResty's own.
# The module links no LuaJIT library, so one build serves nginx and the luajit command alike.
OPENRESTY_LUAJIT = /usr/local/openresty/luajit
ifneq ($(LUAJIT_PREFIX),)
LUAJIT_INC ?= -I$(LUAJIT_PREFIX)/include/luajit-2.1
LUAJIT     ?= $(LUAJIT_PREFIX)/bin/luajit
else ifneq ($(shell pkg-config --exists luajit 2>/dev/null && echo yes),yes)
ifneq ($(wildcard $(OPENRESTY_LUAJIT)/include/luajit-2.1/lua.h),)
LUAJIT_INC ?= -I$(OPENRESTY_LUAJIT)/include/luajit-2.1
LUAJIT     ?= $(OPENRESTY_LUAJIT)/bin/luajit
endif
endif
LUAJIT_INC ?= $(shell pkg-config --cflags luajit 2>/dev/null || echo -I/usr/include/luajit-2.1)
LUAJIT     ?= luajit
export LUAJIT
LIBS      = -lrdkafka -lyaml -lmsgpackc -lm

CORE_SRC    = $(wildcard csrc/*.c)
BINDING_SRC = $(wildcard csrc/lua/*.c)
HEADERS     = $(wildcard csrc/*.h csrc/lua/*.h)
MODULE      = build/fluxakafka/core.so

export LUA_PATH  := $(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;
export LUA_CPATH := $(CURDIR)/build/?.so;;

.PHONY: all deps deps-bench deps-nginx build test test-asan test-nginx demo bench bench-nginx fuzz fuzz-api soak test-faults test-interop test-netfaults \
        kafka-up kafka-down clean check-core test-kafka4 test-kafka4-rdkafka-wheel rock mariadb-up mariadb-down example-async-sql bench-async-sql

all: build

build: $(MODULE)

$(MODULE): $(CORE_SRC) $(BINDING_SRC) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -fPIC -shared $(LUAJIT_INC) -o $@ $(CORE_SRC) $(BINDING_SRC) $(LIBS)

# The core must never depend on Lua, and its files call downward only (no circle of files
# calling each other: scripts/check-layers.lua reads the objects' symbols).
CORE_OBJ = $(patsubst csrc/%.c,build/core/%.o,$(CORE_SRC))
build/core/%.o: csrc/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -fPIC -c -o $@ $<

check-core: $(CORE_OBJ)
	@! grep -lE 'lua\.h|lauxlib|lua_State' csrc/*.c csrc/*.h || (echo "the core must not use the Lua API"; exit 1)
	$(LUAJIT) scripts/check-layers.lua $(CORE_OBJ)
	@# luarocks builds from the rockspec's own list of sources: a file missing there breaks the rock
	@missing=$$(for f in csrc/*.c csrc/lua/*.c; do grep -q "\"$$f\"" fluxakafka-scm-1.rockspec || echo "$$f"; done); \
	  [ -z "$$missing" ] || { echo "not in fluxakafka-scm-1.rockspec's sources:" $$missing; exit 1; }

# The binding's files call downward only (lfk_support.c <- one file per class <- lfk_module.c);
# fails printing each circle of calls between them.
.PHONY: check-binding
check-binding:
	CC='$(CC)' LUAJIT_INC='$(LUAJIT_INC)' bash scripts/check-binding-layers.sh

deps:
	bash scripts/install-deps.sh

# the clients make bench compares fluxakafka with: kcat, confluent-kafka-python (Debian's,
# on the same librdkafka) and GNU time for the peak RSS of each program
deps-bench:
	bash scripts/install-deps.sh kcat time python3-confluent-kafka

# nginx with lua-nginx-module, lua-resty-core, lua-resty-kafka, lua-socket, wrk and jq
deps-nginx:
	bash scripts/install-deps.sh nginx

kafka-up:
	bash scripts/kafka.sh up

kafka-down:
	bash scripts/kafka.sh down

# Runs the busted specs against a local broker, starting (and afterwards stopping) one if
# none is running. The last line is `N passed, N failed`.
test: deps
	$(MAKE) build check-core check-binding
	bash scripts/with-kafka.sh bash scripts/run-specs.sh

# The specs in spec-nginx/: a real nginx (2 workers) started by the specs, against the broker.
test-nginx: deps-nginx
	$(MAKE) build
	bash scripts/with-kafka.sh bash scripts/run-specs.sh spec-nginx

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

# The Lua API fuzzer (fuzz/api_fuzz.lua) for FUZZ_SECONDS, seeds 1, 2, ..., half of the time
# through the FFI paths and half through the C API, with the AddressSanitizer build. Needs
# the broker of FK_TEST_BROKERS (default 127.0.0.1:9092) running; starts none.
FUZZ_SECONDS ?= 300
FUZZ_CALLS   ?= 2000
fuzz-api: $(ASAN_MODULE)
	LUA_CPATH='$(CURDIR)/build-asan/?.so;;' ASAN_OPTIONS=detect_leaks=1:exitcode=23 \
	LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $(CURDIR)/$(ASAN_MODULE)" \
	luajit fuzz/api_fuzz.lua --seconds $$(( $(FUZZ_SECONDS) / 2 )) --calls $(FUZZ_CALLS)
	LUA_CPATH='$(CURDIR)/build-asan/?.so;;' ASAN_OPTIONS=detect_leaks=1:exitcode=23 FLUXAKAFKA_NO_FFI=1 \
	LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $(CURDIR)/$(ASAN_MODULE)" \
	luajit fuzz/api_fuzz.lua --seconds $$(( $(FUZZ_SECONDS) / 2 )) --calls $(FUZZ_CALLS) --seed 100001

# Memory soak (bench/soak.lua): RSS, descriptors and threads over 5 million async records
# consumed in the same process and 100,000 consumer_group()/close() cycles (scaled down when
# they would take over 10 minutes). Against the broker of FK_BROKERS; starts none.
soak: build
	bash -c 'set -o pipefail; luajit bench/soak.lua 2> build/soak-stderr.log | tee build/soak-summary.txt'

# Fault specs on a 3-node KRaft cluster of its own (ports 19092.., scripts/kafka-cluster.sh):
# the partition leader is killed (-9) and stopped (-STOP) under load, from Lua and under an
# nginx worker; no acknowledged record may be lost or duplicated. Starts and stops its cluster.
test-faults: deps-nginx
	$(MAKE) build
	bash scripts/kafka-cluster.sh up
	bash -c 'FK_CLUSTER_BROKERS=127.0.0.1:19092,127.0.0.1:29092,127.0.0.1:39092 \
	  bash scripts/run-specs.sh spec-faults; s=$$?; bash scripts/kafka-cluster.sh down; exit $$s'

# The compatibility matrix (see .ci/README.md). The specs whose behaviour depends on the broker's
# protocol versions or on librdkafka's (SASL, TLS, groups, admin, transactions, inspection) run on
# the newest Kafka 4.x, first with the installed librdkafka, then with a current librdkafka loaded
# at run time from the confluent-kafka wheel on PyPI (the module is not rebuilt).
KAFKA4_VERSION ?= 4.4.0
PROTOCOL_SPECS = spec/sasl_spec.lua spec/tls_spec.lua spec/client_control_spec.lua \
	spec/group_protocol_spec.lua spec/group_commit_spec.lua spec/group_control_spec.lua \
	spec/consumer_spec.lua spec/producer_spec.lua spec/alters_spec.lua spec/inspect_spec.lua \
	spec/transactions_spec.lua spec/kip848_spec.lua spec/admin_errors_spec.lua spec/describe_spec.lua \
	spec/read_spec.lua spec/staging_spec.lua

test-kafka4: deps
	$(MAKE) build
	FK_KAFKA_VERSION=$(KAFKA4_VERSION) bash scripts/with-kafka.sh bash scripts/run-specs.sh $(PROTOCOL_SPECS)

test-kafka4-rdkafka-wheel: deps
	$(MAKE) build
	LD_LIBRARY_PATH="$$(bash scripts/librdkafka-wheel.sh)" FK_KAFKA_VERSION=$(KAFKA4_VERSION) \
	  bash scripts/with-kafka.sh bash scripts/run-specs.sh $(PROTOCOL_SPECS)

# Network-fault specs (spec-netfaults/): toxiproxy (built from the Go module proxy into .cache/)
# between fluxakafka and a private broker that advertises the proxy's address (ports 9392..9395,
# FK_NETFAULTS_PORT_BASE), scenarios from latency to a 60 s black hole, from Lua and from one
# nginx worker; the counts go to .test-output/netfaults.tsv. Starts and stops the broker and proxy.
test-netfaults: deps-nginx
	@command -v go >/dev/null || [ -x /usr/local/go/bin/go ] || { echo "make test-netfaults needs the Go toolchain on PATH"; exit 1; }
	$(MAKE) build
	bash scripts/with-netfaults.sh bash scripts/run-specs.sh spec-netfaults

# The interop specs in spec-interop/: fluxakafka next to FluxaORM-shaped Go services (franz-go
# and shamaton/msgpack 1.2.1 from the Go module proxy, built by the specs) in one consumer group,
# with members killed and stopped. Needs the Go toolchain (>= 1.21) on PATH.
test-interop: deps
	@command -v go >/dev/null || { echo "make test-interop needs the Go toolchain (>= 1.21) on PATH"; exit 1; }
	$(MAKE) build
	bash scripts/with-kafka.sh bash scripts/run-specs.sh spec-interop

# Throughput, latency and memory against plain C, confluent-kafka-python and kcat
# (bench/run.sh), then CPU per record against franz-go (bench/franz.sh: Go toolchain on PATH or
# in /usr/local/go/bin, franz-go from the Go module proxy; FRANZ=0 skips it).
bench: deps deps-bench
	$(MAKE) build
	bash scripts/with-kafka.sh bash bench/run.sh

# fluxakafka against lua-resty-kafka in nginx, and RSS over a long run (bench/nginx/run.sh),
# then fixed rates of 2k, 5k and 10k req/s (bench/nginx/rates.sh): workers' plus the broker's
# CPU per 1,000 requests, p50/p99 from vegeta (built from the Go module proxy: Go on PATH or in
# /usr/local/go/bin), every record counted back; also the lua-resty-kafka API on fluxakafka's
# compatibility layer. FIXED_RATES=0 skips the fixed rates.
bench-nginx: deps-nginx
	$(MAKE) build
	bash scripts/with-kafka.sh bash bench/nginx/run.sh

# A packed source rock of the release in rockspecs/ (from its git tag, not the work tree):
# installable with `luarocks install dist/fluxakafka-$(VERSION)-1.src.rock`, no clone needed.
# The rockspec's source is this repository, so the copy packed points at its absolute path.
VERSION = $(shell sed -n 's/^\#define FK_VERSION "\(.*\)"/\1/p' csrc/fluxakafka.h)
rock:
	@mkdir -p dist
	sed 's|git+file://\.|git+file://$(CURDIR)|' rockspecs/fluxakafka-$(VERSION)-1.rockspec > dist/fluxakafka-$(VERSION)-1.rockspec
	cd dist && luarocks --lua-version=5.1 pack fluxakafka-$(VERSION)-1.rockspec

clean:
	rm -rf build build-asan .test-output dist
	$(MAKE) -C fuzz clean
