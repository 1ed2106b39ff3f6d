/* drift.c — see drift.h. */
#include "drift.h"

#include <string.h>

int drift_compare(const struct drift_expect *source, const struct layout_fact *redis,
                  const char *point, struct drift out[CONFIG_QUANTITY_KINDS])
{
    int n = 0;
    for (int k = 0; k < CONFIG_QUANTITY_KINDS; k++) {
        unsigned bit = 1u << k;
        if (source && (source->ambiguous & bit)) continue;
        int in_source = source && (source->present & bit);
        int in_redis = redis && (redis->present & bit);
        /* a newer position: the stream holds a change the snapshot predates */
        if (in_redis && strcmp(redis->position[k], point) >= 0) continue;
        struct drift d = {.kind = k};
        if (in_source && in_redis) {
            if (source->quantity[k] == redis->quantity[k]) continue;
            d.problem = DRIFT_VALUE;
        } else if (in_source) {
            d.problem = DRIFT_NOT_IN_REDIS;
        } else if (in_redis) {
            if (redis->quantity[k] == 0) continue; /* what a delete leaves behind */
            d.problem = DRIFT_NOT_IN_SOURCE;
        } else {
            continue;
        }
        if (in_source) {
            d.has_source_value = 1;
            d.source_value = source->quantity[k];
        }
        if (in_redis) {
            d.has_redis_value = 1;
            d.redis_value = redis->quantity[k];
            memcpy(d.redis_position, redis->position[k], sizeof d.redis_position);
        }
        out[n++] = d;
    }
    return n;
}

const char *drift_problem_text(enum drift_problem p)
{
    switch (p) {
    case DRIFT_VALUE: return "value differs";
    case DRIFT_NOT_IN_REDIS: return "missing in Redis";
    case DRIFT_NOT_IN_SOURCE: return "gone from the source (missed delete)";
    case DRIFT_UNKNOWN_ITEM: return "item code unknown to the crosswalk";
    }
    return "?";
}

const char *drift_problem_name(enum drift_problem p)
{
    switch (p) {
    case DRIFT_VALUE: return "value_differs";
    case DRIFT_NOT_IN_REDIS: return "missing_in_redis";
    case DRIFT_NOT_IN_SOURCE: return "missing_in_source";
    case DRIFT_UNKNOWN_ITEM: return "unknown_item";
    }
    return "unknown";
}
