/* merge_engine — `make bench`'s measurements of the merge function itself
 * (appliance/redis/stockmesh.lua, stockmesh_apply) on a Redis of its own with nothing
 * else of stockmesh running: what one call costs for a SKU held at a few locations
 * against one held at thousands, and how many bytes of Redis one (sku, location) takes.
 *
 * Every call carries the arguments merge sends (services/merge/merge.c, send_apply) for
 * a configuration loaded with config_load: the location's channels with their buffers,
 * the authority per kind, the rules' tolerances and every source. apply_call_fill is
 * also what the bench's redis-benchmark baseline is built from.
 * Servers started here die with the calling thread: call it from the main thread. */
#ifndef STOCKMESH_BENCH_MERGE_ENGINE_H
#define STOCKMESH_BENCH_MERGE_ENGINE_H

#include "stockmesh/config.h"
#include "stockmesh/event.h"

#include <jansson.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>

/* send_apply's bounds: 4 + 14 fixed arguments, 64 sources, 256 channels */
#define APPLY_MAX_ARGS (18 + 64 + 2 * 256)

/* One FCALL stockmesh_apply, as merge sends it. argv points into the call itself, the
 * config and the apply_channels it was filled from: they must outlive it. */
struct apply_call {
    int argc;
    const char *argv[APPLY_MAX_ARGS];
    size_t len[APPLY_MAX_ARGS];
    char key_s[192], key_c[200], position[EVENT_POSITION_COMPACT_MAX + 1], ms[24], safety[24], qty[CONFIG_QUANTITY_KINDS][24];
    char tol[24], pct[16], nsrc[16];
};

/* What merge keeps per location: its channels ("<channel>@<location>" for a pickup
 * channel) with their buffers, and the source authoritative for each kind. */
struct apply_channels;

/* Builds the per-location lists like merge's build_location_channels; NULL when out
 * of memory. Free with apply_channels_free. */
struct apply_channels *apply_channels_new(const struct config *cfg);
void apply_channels_free(struct apply_channels *ac, const struct config *cfg);

/* Fills call for a fact of `source` at `loc` (one of cfg's locations); qty[k] NULL when
 * the table does not give kind k. Strings are copied except the source name, which
 * must outlive the call. 0, or -1 when loc is not cfg's. */
int apply_call_fill(struct apply_call *call, const struct config *cfg,
                    const struct apply_channels *ac, const struct config_location *loc,
                    const char *source, const char *sku, const char *position,
                    const char *commit_ms, const char *const qty[CONFIG_QUANTITY_KINDS]);

struct merge_engine_options {
    const char *work_dir;               /* an existing directory for the configurations */
    int pipeline;                       /* calls in flight, as merge's redis.pipeline */
    long calls;                         /* timed calls per SKU size and round */
    int large_locations;                /* the large SKU's locations (5000) */
    int memory_skus;                    /* SKUs of the typical-size memory fill */
    volatile sig_atomic_t *interrupted; /* set by the caller's signal handler */
};

#define ENGINE_SIZES 3
#define ENGINE_ROUNDS 3

/* One SKU size: stockmesh_apply calls that each change one location's on_hand. */
struct merge_engine_cost {
    int locations;                      /* where the SKU is held */
    int args;                           /* arguments per FCALL (command and keys included) */
    long calls, changed;                /* timed calls (median round); those changing a channel */
    double wall_us;                     /* pipelined wall time per call, client included */
    double server_us;                   /* Redis's own time per FCALL (INFO commandstats) */
    double redis_cpu_us;                /* Redis process CPU per call */
    double round_server_us[ENGINE_ROUNDS];
    double other_pct;                   /* other processes meanwhile, % of a core */
    char encoding_s[16], encoding_c[16];/* OBJECT ENCODING of sm:{sku}, sm:{sku}:c */
};

/* A fill of skus × locations through the function, one source per location, all three
 * quantities. */
struct merge_engine_memory {
    int skus, locations, channels;      /* channels: fields per location in sm:{sku}:c */
    double used_memory_bytes;           /* used_memory delta / (skus × locations), delivered */
    double undelivered_bytes;           /* the same before anything was delivered */
    double memory_usage_bytes;          /* MEMORY USAGE of both keys / locations (sampled) */
    char encoding_s[16], encoding_c[16];
    /* payload bytes per location (strings as stored, no encoding overhead) */
    double fact_field, fact_value, positions, commit_ms, row_field, row_value;
    double channel_fields, channel_values;
    double other_pct;
};

struct merge_engine {
    int ran;
    char note[256];
    char redis_version[32];
    int pipeline;
    double loadavg1;                    /* /proc/loadavg when it started */
    double seconds;
    struct merge_engine_cost cost[ENGINE_SIZES];
    int ncost;
    double ratio_server, ratio_wall, ratio_cpu; /* large SKU / 5-location SKU */
    struct merge_engine_memory memory[2];
    int nmemory;
};

/* Runs the measurements and fills e; what failed is in e->note. */
void merge_engine_run(struct merge_engine *e, const struct merge_engine_options *o);

/* The results as a JSON object (new reference). */
json_t *merge_engine_json(const struct merge_engine *e);

/* The summary's lines. */
void merge_engine_print(const struct merge_engine *e, FILE *out);

#endif
