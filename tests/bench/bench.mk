# make bench — latency, throughput and cost of the whole pipeline against real servers
# (tests/bench/bench.c). Release build only: performance of the sanitizer build means
# nothing. Results: bench/results/ (JSON, PNG plot); a summary on stdout.
#
#   BENCH_SKUS=5000 BENCH_LOCATIONS=20 BENCH_SOURCES=1 BENCH_RATES="1000 5000 20000" \
#   BENCH_SECONDS=20 make bench
#
# Its MariaDB baseline (tests/bench/mariadb_baseline.c, same run): BENCH_MARIADB_UPDATES=100000
# BENCH_MARIADB_RATE=1000 BENCH_MARIADB_SECONDS=10.

BENCH_BINS := $(BUILD)/bench/bench $(BUILD)/bench/backbone_rtt

.PHONY: bench bench-build

$(BUILD)/bench/bench: $(BUILD)/obj/tests/bench/bench.o $(BUILD)/obj/tests/bench/mariadb_baseline.o \
                      $(BUILD)/obj/tests/bench/merge_engine.o $(BUILD)/obj/tests/bench/procstat.o \
                      $(BUILD)/libtestlib.a $(BUILD)/libstockmesh.a
	@mkdir -p $(dir $@)
	$(CC) $(RELEASE_FLAGS) $^ $(PKG_LIBS) -o $@

$(BUILD)/bench/backbone_rtt: $(BUILD)/obj/tests/bench/backbone_rtt.o
	@mkdir -p $(dir $@)
	$(CC) $(RELEASE_FLAGS) $^ $(PKG_LIBS) -o $@

bench-build: $(BUILD)/stockmeshd $(BENCH_BINS)

bench:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory bench-build
	@STOCKMESHD=$(BUILD)/stockmeshd BACKBONE_RTT=$(BUILD)/bench/backbone_rtt $(BUILD)/bench/bench
