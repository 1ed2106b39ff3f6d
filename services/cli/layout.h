/* layout.h — the unified layer's Redis values read back (layout v3 of
 * appliance/redis/stockmesh.lua), for the operator commands that inspect and compare
 * them. Plain functions over strings: the Lua library stays the only writer.
 *
 *   sm:{sku}    "<location>|<source>" -> "<ms>|<pos o>|<on_hand>|<pos c>|<committed>|
 *                                         <pos u>|<unavailable>", or "<ms>|<pos>|<on_hand>|
 *                                         <committed>|<unavailable>" (one position for all)
 *               "<location>"          -> "<on_hand>|<committed>|<unavailable>|<available>"
 *                                        ["|<flags>"]
 *   sm:{sku}:c  "<channel>" -> "<sum>|<available>|<version>", "<channel>#d" -> delivered
 *               version, "#v" -> the SKU's version, "<channel>@<location>" ->
 *               "<available>|<version>" a pickup store's figure until it is delivered
 *
 * Positions are stored compact (event.h) and decoded here to their full form. */
#ifndef STOCKMESH_CLI_LAYOUT_H
#define STOCKMESH_CLI_LAYOUT_H

#include "stockmesh/config.h"
#include "stockmesh/event.h"

#include <stddef.h>

/* The rules a location breaks, as the merge function's FLAG_* bits. */
#define LAYOUT_FLAG_MISMATCH 1u
#define LAYOUT_FLAG_NEGATIVE 2u
#define LAYOUT_FLAG_OVERCOMMITTED 4u

/* One source's figures at one location; a kind it does not give has bit (1 << kind)
 * clear in present, an empty position and quantity 0. */
struct layout_fact {
    long long time_ms;          /* the row's time column when mapped, else its commit */
    char position[CONFIG_QUANTITY_KINDS][EVENT_POSITION_LEN + 1];
    long long quantity[CONFIG_QUANTITY_KINDS];
    unsigned present;
};

/* A location's figures from the authoritative source of each kind. */
struct layout_row {
    long long on_hand, committed, unavailable, available;
    unsigned flags;
};

/* A channel field's availability. */
struct layout_channel {
    long long sum, available, version;
};

/* Decodes a fact value ("=" repeats the previous kind's position; positions come out
 * in their full form). 0, or -1 when the value does not have the v3 shape. */
int layout_fact_decode(const char *value, struct layout_fact *f);

/* Decodes a location row. 0, or -1 when malformed. */
int layout_row_decode(const char *value, struct layout_row *r);

/* Decodes a channel value. 0, or -1 when malformed. */
int layout_channel_decode(const char *value, struct layout_channel *c);

/* Decodes a pickup store's waiting figure ("<channel>@<location>"; sum = available).
 * 0, or -1 when malformed. */
int layout_pickup_decode(const char *value, struct layout_channel *c);

/* Splits a field of sm:{sku} at its first '|' into location and source: 1 for a fact
 * field, 0 for a location row field (location only; source ""), -1 when a part does
 * not fit its buffer. */
int layout_split_field(const char *field, char *location, size_t locationlen, char *source,
                       size_t sourcelen);

/* The SKU of a key: 0 with it in sku for "sm:{<sku>}", -1 for every other key (the
 * channel hash ":c", crosswalks "sm:{xw:…}", keys that are not the layout's). */
int layout_sku_of_key(const char *key, size_t keylen, char *sku, size_t skulen);

/* What one flag means, for people: "sources disagree beyond the tolerance", … NULL
 * for an unknown bit. */
const char *layout_flag_text(unsigned flag);

/* The short rule name of one flag ("mismatch", "negative_stock", "overcommitted"), as
 * alerts name them; NULL for an unknown bit. */
const char *layout_flag_name(unsigned flag);

#endif
