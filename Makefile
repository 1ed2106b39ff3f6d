# stockmesh — build, run and test.
#
#   make run     install what is missing, build, start the demo appliance
#   make test    install what is missing, build, run every test
#
# Two build variants: build/ (optimised, what `make run` starts) and build/asan/
# (AddressSanitizer + UBSan, what the tests run).

CC      ?= gcc
BUILD   := build
PKGS    := rdkafka hiredis libevent libevent_pthreads libevent_openssl sqlite3 libpq jansson \
           yaml-0.1 libcurl openssl libsodium libmosquitto
WARN    := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror
INCLUDE := -Iappliance/include -Iservices -Itests/lib

# Evaluated once, on first use: before `make deps` the libraries may not exist yet.
PKG_CFLAGS = $(eval PKG_CFLAGS := $$(shell pkg-config --cflags $(PKGS)) $$(shell mariadb_config --cflags 2>/dev/null))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $$(shell pkg-config --libs $(PKGS)) $$(shell mariadb_config --libs 2>/dev/null) -lpthread -lm)$(PKG_LIBS)
CMOCKA_LIBS = $(eval CMOCKA_LIBS := $$(shell pkg-config --libs cmocka))$(CMOCKA_LIBS)

RELEASE_FLAGS := -O2 -g
ASAN_FLAGS    := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

APPLIANCE_SRC := $(wildcard appliance/src/*.c)
SERVICE_SRC   := $(wildcard services/*/*.c)
MAIN_SRC      := services/stockmeshd.c services/stockmesh.c
TESTLIB_SRC   := tests/lib/servers.c tests/lib/receiver.c tests/lib/daemon.c
UNIT_SRC      := $(wildcard tests/unit/test_*.c)
INTEG_SRC     := $(wildcard tests/integration/test_*.c)
FAULT_SRC     := $(wildcard tests/fault/test_*.c)
EMBED_FILES   := embedded_redis_library=appliance/redis/stockmesh.lua \
                 embedded_sql_001_initial=appliance/sql/001_initial.sql \
                 embedded_sql_002_alerts=appliance/sql/002_alerts.sql

.PHONY: all build deps run test unit integration soak clean help
# objects reached through pattern chains are kept, not deleted as intermediates
.SECONDARY:
.DEFAULT_GOAL := build

help:
	@echo "make run    install missing packages, build, start the demo appliance"
	@echo "make test   install missing packages, build, run every test"
	@echo "make build  build into build/ and build/asan/"
	@echo "make deps   install the Debian packages the build, demo and tests need"
	@echo "make soak   the fault harness for half an hour (FAULT_SECONDS, FAULT_KILLS)"
	@echo "make clean  remove build/"

deps:
	@./tools/deps.sh

# --- one variant: $(1) = output dir, $(2) = extra flags -------------------------
define variant
# tests reach into a role's own headers; the roles themselves may not
$(1)/obj/tests/%.o: INCLUDE += -Iservices/cdc -Iservices/merge -Iservices/push -Iservices/console

$(1)/obj/%.o: %.c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(WARN) $(2) $$(INCLUDE) $$(PKG_CFLAGS) -MMD -MP -c $$< -o $$@

$(1)/obj/gen/embedded.o: $(BUILD)/gen/embedded.c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(WARN) $(2) -c $$< -o $$@

$(1)/libstockmesh.a: $(patsubst %.c,$(1)/obj/%.o,$(APPLIANCE_SRC) $(SERVICE_SRC)) $(1)/obj/gen/embedded.o
	@rm -f $$@
	ar rcs $$@ $$^

$(1)/libtestlib.a: $(patsubst %.c,$(1)/obj/%.o,$(TESTLIB_SRC))
	@rm -f $$@
	ar rcs $$@ $$^

$(1)/stockmeshd: $(1)/obj/services/stockmeshd.o $(1)/libstockmesh.a
	$$(CC) $(2) $$^ $$(PKG_LIBS) -o $$@

$(1)/stockmesh: $(1)/obj/services/stockmesh.o $(1)/libstockmesh.a
	$$(CC) $(2) $$^ $$(PKG_LIBS) -o $$@

$(1)/demo-receiver: $(1)/obj/examples/demo-receiver.o $(1)/libtestlib.a $(1)/libstockmesh.a
	$$(CC) $(2) $$^ $$(PKG_LIBS) -o $$@

$(1)/serverctl: $(1)/obj/tests/lib/serverctl.o $(1)/libtestlib.a $(1)/libstockmesh.a
	$$(CC) $(2) $$^ $$(PKG_LIBS) -o $$@

$(1)/tests/%: $(1)/obj/tests/unit/%.o $(1)/libtestlib.a $(1)/libstockmesh.a
	@mkdir -p $$(dir $$@)
	$$(CC) $(2) $$^ $$(PKG_LIBS) $$(CMOCKA_LIBS) -o $$@

$(1)/itests/%: $(1)/obj/tests/integration/%.o $(1)/libtestlib.a $(1)/libstockmesh.a
	@mkdir -p $$(dir $$@)
	$$(CC) $(2) $$^ $$(PKG_LIBS) $$(CMOCKA_LIBS) -o $$@

$(1)/fault/%: $(1)/obj/tests/fault/%.o $(1)/libtestlib.a $(1)/libstockmesh.a
	@mkdir -p $$(dir $$@)
	$$(CC) $(2) $$^ $$(PKG_LIBS) $$(CMOCKA_LIBS) -o $$@
endef

$(eval $(call variant,$(BUILD),$(RELEASE_FLAGS)))
$(eval $(call variant,$(BUILD)/asan,$(ASAN_FLAGS)))

$(BUILD)/embed: tools/embed.c
	@mkdir -p $(BUILD)
	$(CC) $(WARN) -O2 $< -o $@

$(BUILD)/gen/embedded.c: $(BUILD)/embed appliance/redis/stockmesh.lua $(wildcard appliance/sql/*.sql)
	@mkdir -p $(dir $@)
	$(BUILD)/embed $@ $(EMBED_FILES)

PROGRAMS   := stockmeshd stockmesh demo-receiver serverctl
UNIT_BINS  := $(patsubst tests/unit/%.c,$(BUILD)/asan/tests/%,$(UNIT_SRC))
INTEG_BINS := $(patsubst tests/integration/%.c,$(BUILD)/asan/itests/%,$(INTEG_SRC))
FAULT_BINS := $(patsubst tests/fault/%.c,$(BUILD)/asan/fault/%,$(FAULT_SRC))

build: $(addprefix $(BUILD)/,$(PROGRAMS)) $(addprefix $(BUILD)/asan/,$(PROGRAMS)) $(UNIT_BINS) \
       $(INTEG_BINS) $(FAULT_BINS)

run:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory -j$$(nproc) $(addprefix $(BUILD)/,$(PROGRAMS))
	@./tools/run-demo.sh

test:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory -j$$(nproc) build fuzz-build
	@STOCKMESHD=$(BUILD)/asan/stockmeshd STOCKMESH=$(BUILD)/asan/stockmesh STOCKMESHD_FAST=$(BUILD)/stockmeshd \
	  ./tests/run-tests.sh $(UNIT_BINS) $(INTEG_BINS) $(FUZZ_SMOKE) $(FAULT_BINS)

# the fault harness for a long time: kills every few seconds for half an hour
soak:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory -j$$(nproc) build
	@STOCKMESHD=$(BUILD)/asan/stockmeshd FAULT_SECONDS=$${FAULT_SECONDS:-1800} \
	  FAULT_KILLS=$${FAULT_KILLS:-600} TEST_TIMEOUT=4000 ./tests/run-tests.sh $(FAULT_BINS)

unit: $(UNIT_BINS)
	@./tests/run-tests.sh $(UNIT_BINS)

integration: build
	@STOCKMESHD=$(BUILD)/asan/stockmeshd STOCKMESH=$(BUILD)/asan/stockmesh STOCKMESHD_FAST=$(BUILD)/stockmeshd \
	  ./tests/run-tests.sh $(INTEG_BINS)

clean:
	rm -rf $(BUILD)

# measurement and robustness tools (issue-sized pieces, each in its own file)
-include tests/fuzz/fuzz.mk
-include tests/bench/bench.mk

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
