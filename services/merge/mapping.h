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

struct timeconv;

struct stock_fact {
    char sku[MAPPING_SKU_MAX];    /* canonical SKU; "" until item is translated */
    char item[MAPPING_SKU_MAX];   /* item code to translate through crosswalk, or "" */
    const char *crosswalk;        /* crosswalk name (config-owned), or NULL */
    const struct config_location *location;
    const struct config_source *source;
    long long quantity[CONFIG_QUANTITY_KINDS];
    unsigned present;             /* bit (1 << kind) set when quantity[kind] is given */
    char position[EVENT_POSITION_LEN + 1];
    int64_t commit_us;
    int64_t counted_ms;           /* from the table's time column, UTC; 0 without one */
};

/* A crosswalk table's row: an item code and its SKU ("" = the code is gone). */
struct crosswalk_change {
    const char *crosswalk;        /* config-owned name */
    char code[MAPPING_SKU_MAX];
    char sku[MAPPING_SKU_MAX];
};

struct mapping_table {
    char topic[512];
    const struct config_source *source;
    const struct config_table *table;
    struct timeconv *times;       /* the source's zone and format; NULL without time column */
};

struct mapping {
    const struct config *cfg;
    struct mapping_table *tables;
    size_t ntables;
};

/* Builds the topic → table index for every source table in the config, with topic
 * names "<prefix>.<source>.<schema>.<table>". -1 with err (out of memory, a time zone
 * that cannot be read). */
int mapping_init(struct mapping *m, const struct config *cfg, char *err, size_t errlen);

/* Frees what mapping_init() allocated. */
void mapping_release(struct mapping *m);

/* The table mapped to a topic, or NULL. */
const struct mapping_table *mapping_find(const struct mapping *m, const char *topic);

/* Derives up to two facts from an event of a stock table. Returns the number of
 * facts, or -1 with a human reason in err and a stable reason code
 * ("unknown_location", "bad_quantity", "missing_sku", "unknown_sku", "bad_time", …) in
 * *code. A fact whose table maps an item code has item and crosswalk set and sku "". */
int mapping_facts(const struct mapping *m, const struct mapping_table *t,
                  const struct change_event *ev, struct stock_fact facts[2], const char **code,
                  char *err, size_t errlen);

/* Derives the crosswalk changes of an event of a crosswalk table (defines_crosswalk):
 * up to two (a row whose code changed forgets the old code). Count or -1 as
 * mapping_facts(). */
int mapping_crosswalk(const struct mapping *m, const struct mapping_table *t,
                      const struct change_event *ev, struct crosswalk_change out[2],
                      const char **code, char *err, size_t errlen);

/* Checks a translated (or direct) SKU against skus.pattern: 0, or -1 with the reason. */
int mapping_check_sku(const struct mapping *m, const struct stock_fact *f, const char **code,
                      char *err, size_t errlen);

/* Serialises a fact waiting for its item code, with the event it came from (for the
 * DLQ should the code stay unknown). Caller frees. NULL when out of memory. */
char *mapping_fact_encode(const struct stock_fact *f, const char *topic, const char *event,
                          size_t event_len);

/* Reads back mapping_fact_encode()'s text; the event, when wanted, is a new string the
 * caller frees. -1 when the text is not such a fact or names an unknown location or
 * source (the configuration changed meanwhile). */
int mapping_fact_decode(const struct mapping *m, const char *text, size_t len,
                        struct stock_fact *f, char **topic, char **event);

#endif
