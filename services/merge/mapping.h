/* mapping.h — turns change events into stock facts through the configured table
 * mappings (DESIGN §3). Plain functions: no sockets, no Redis.
 *
 * A row yields one fact per (sku, location); an UPDATE that moves a row to another
 * SKU or location also yields a zero fact for where it was, and a DELETE yields a
 * zero fact for every configured quantity. Rows that cannot be mapped are refused
 * with a reason and a short reason code for metrics and the DLQ. */
#ifndef STOCKMESH_MAPPING_H
#define STOCKMESH_MAPPING_H

#include "stockmesh/config.h"
#include "stockmesh/event.h"

#include <stdint.h>

#define MAPPING_SKU_MAX 128
#define MAPPING_QUANTITY_MAX 1000000000000LL /* 10^12 units */

struct stock_fact {
    char sku[MAPPING_SKU_MAX];
    const struct config_location *location;
    const struct config_source *source;
    long long quantity[CONFIG_QUANTITY_KINDS];
    unsigned present;             /* bit (1 << kind) set when quantity[kind] is given */
    const char *position;         /* points into the event */
    int64_t commit_us;
};

struct mapping_table {
    char topic[512];
    const struct config_source *source;
    const struct config_table *table;
};

struct mapping {
    const struct config *cfg;
    struct mapping_table *tables;
    size_t ntables;
};

/* Builds the topic → table index for every source table in the config, with topic
 * names "<prefix>.<source>.<schema>.<table>". -1 with err when out of memory. */
int mapping_init(struct mapping *m, const struct config *cfg, char *err, size_t errlen);

/* Frees what mapping_init() allocated. */
void mapping_release(struct mapping *m);

/* The table mapped to a topic, or NULL. */
const struct mapping_table *mapping_find(const struct mapping *m, const char *topic);

/* Derives up to two facts from an event. Returns the number of facts, or -1 with a
 * human reason in err and a stable reason code ("unknown_location", "bad_quantity",
 * "missing_sku", …) in *code. */
int mapping_facts(const struct mapping *m, const struct mapping_table *t,
                  const struct change_event *ev, struct stock_fact facts[2], const char **code,
                  char *err, size_t errlen);

#endif
