/* fuzz_config.c — libFuzzer target for the YAML configuration loader.
 *
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
 *       -Iappliance/include tests/fuzz/fuzz_config.c appliance/src/config.c \
 *       appliance/src/log.c $(pkg-config --cflags --libs yaml-0.1) -o fuzz_config
 *   ./fuzz_config -max_total_time=60 tests/fuzz/corpus/config
 *
 * Besides crashes and leaks, it checks the loader's promise: a config, or a message
 * that starts with the file name. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stockmesh/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char name[] = "fuzz.yaml";
    char err[1024];
    struct config *cfg = config_load_string((const char *)data, size, name, err, sizeof err);
    if (cfg) {
        /* touch what the lookups walk, so that a half-built config shows up here */
        for (size_t i = 0; i < cfg->nchannels; i++)
            for (size_t j = 0; j < cfg->nlocations; j++)
                config_channel_has_location(&cfg->channels[i], &cfg->locations[j]);
        for (size_t i = 0; i < cfg->nlocations; i++)
            config_authority_for(cfg, cfg->locations[i].type, CONFIG_ON_HAND);
        config_free(cfg);
    } else if (strncmp(err, name, sizeof name - 1) != 0) {
        abort();
    }
    return 0;
}
