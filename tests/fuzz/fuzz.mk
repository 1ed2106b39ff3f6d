# tests/fuzz/fuzz.mk — libFuzzer targets for every parser stockmesh has (included by the
# Makefile).
#
#   make fuzz-build        build every target into build/fuzz/
#   make fuzz              fuzz each target for FUZZ_SECONDS (default 60) on a copy of its
#                          seed corpus; fails naming any new crash under build/fuzz/crashes/
#   make fuzz-smoke        each target over its seeds plus FUZZ_SMOKE_SECONDS (default 10)
#                          of fuzzing: what `make test` runs (tests/fuzz/run-fuzz-smoke.sh)
#   make fuzz FUZZ_TARGETS=fuzz_event FUZZ_SECONDS=600      one target, longer
#
# Targets and their seed corpora (tests/fuzz/corpus/<name>/):
#   fuzz_config    config_load_string()                          corpus/config
#   fuzz_pgoutput  the pgoutput (logical replication) decoder    corpus/pgoutput
#   fuzz_event     event_decode() + merge's mapping_facts()      corpus/event
#   fuzz_http      the console's HTTP server (http.c on evhttp)  corpus/http
#   fuzz_binlog    the MariaDB binlog decoders: TABLE_MAP        corpus/binlog
#                  metadata (binlog.c), rows events (binlog_rows.c), rows to JSON,
#                  table shapes and GTID positions
#
# Everything is compiled here with clang and libFuzzer's sanitizers, product sources
# included: the gcc-built libstockmesh.a is never linked (two sanitizer runtimes do not
# mix). The generated inputs, the crash files and the logs stay under build/fuzz/.

FUZZ_CC            ?= clang
FUZZ_DIR           := $(BUILD)/fuzz
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_SANITIZE      := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS        := -g -O1 -fno-omit-frame-pointer $(FUZZ_SANITIZE)
FUZZ_TARGETS       ?= fuzz_config fuzz_pgoutput fuzz_event fuzz_http fuzz_binlog
FUZZ_BINS          := $(addprefix $(FUZZ_DIR)/,$(FUZZ_TARGETS))
# What `make test` hands tests/run-tests.sh (it finds the binaries in build/fuzz/).
FUZZ_SMOKE         := tests/fuzz/run-fuzz-smoke.sh

# The product sources each target compiles in, besides tests/fuzz/<target>.c.
FUZZ_SRC_fuzz_config   := appliance/src/config.c appliance/src/timeconv.c appliance/src/log.c
FUZZ_SRC_fuzz_pgoutput := services/cdc/pgoutput.c services/cdc/sqlvalue.c
FUZZ_SRC_fuzz_event    := appliance/src/event.c appliance/src/config.c appliance/src/timeconv.c appliance/src/log.c \
                          services/merge/mapping.c
FUZZ_SRC_fuzz_http     := appliance/src/http.c appliance/src/metrics.c appliance/src/log.c
FUZZ_SRC_fuzz_binlog   := services/cdc/binlog.c services/cdc/binlog_rows.c services/cdc/schema.c \
                          services/cdc/sqlvalue.c

.PHONY: fuzz fuzz-build fuzz-smoke

# The harnesses reach into the roles' own headers, as the unit tests do.
$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(WARN) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(INCLUDE) -Iservices/cdc \
	    -Iservices/merge $(PKG_CFLAGS) -MMD -MP -c $< -o $@

define fuzz_target
$(FUZZ_DIR)/$(1): $(FUZZ_DIR)/obj/tests/fuzz/$(1).o $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(FUZZ_SRC_$(1)))
	$$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $$^ $$(PKG_LIBS) -o $$@
endef
$(foreach t,fuzz_config fuzz_pgoutput fuzz_event fuzz_http fuzz_binlog,$(eval $(call fuzz_target,$(t))))

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	@FUZZ_DIR=$(FUZZ_DIR) ./tests/fuzz/run-fuzz.sh --seconds $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-smoke: fuzz-build
	@FUZZ_DIR=$(FUZZ_DIR) FUZZ_SMOKE_SECONDS=$(FUZZ_SMOKE_SECONDS) ./$(FUZZ_SMOKE) $(FUZZ_TARGETS)
