/* skuview.c — see skuview.h. The SKU is first gathered into the JSON object --json
 * prints; the text view is drawn from that same object, so both always agree. */
#include "skuview.h"

#include "layout.h"
#include "redisconn.h"
#include "stockmesh/config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NAME_MAX_LEN 256

/* "2026-11-24T10:00:00.123Z" */
static void iso_utc(long long ms, char *out, size_t outlen)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char day[32];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, outlen, "%s.%03lldZ", day, ms % 1000);
}

/* Where a location sorts: configuration order, unknown codes after every known one. */
static long location_rank(const struct config *cfg, const char *code)
{
    const struct config_location *l = config_location(cfg, code);
    return l ? (long)(l - cfg->locations) : (long)cfg->nlocations;
}

static long source_rank(const struct config *cfg, const char *name)
{
    const struct config_source *s = config_source(cfg, name);
    return s ? (long)(s - cfg->sources) : (long)cfg->nsources;
}

static const struct config *sort_cfg; /* qsort has no context argument in C11 */

static int by_location(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "location"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "location"));
    long rx = location_rank(sort_cfg, x), ry = location_rank(sort_cfg, y);
    return rx != ry ? (rx < ry ? -1 : 1) : strcmp(x, y);
}

static int by_source(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "source"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "source"));
    long rx = source_rank(sort_cfg, x), ry = source_rank(sort_cfg, y);
    return rx != ry ? (rx < ry ? -1 : 1) : strcmp(x, y);
}

static int by_field(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "field")),
                  json_string_value(json_object_get(*(json_t *const *)b, "field")));
}

/* Sorts a JSON array in place with cmp. */
static void sort_array(json_t *array, int (*cmp)(const void *, const void *))
{
    size_t n = json_array_size(array);
    if (n < 2) return;
    json_t **items = malloc(n * sizeof *items);
    if (!items) return; /* unsorted is still right */
    for (size_t i = 0; i < n; i++) items[i] = json_incref(json_array_get(array, i));
    qsort(items, n, sizeof *items, cmp);
    json_array_clear(array);
    for (size_t i = 0; i < n; i++) json_array_append_new(array, items[i]);
    free(items);
}

/* The entry of locations for code, made on first use; safety_stock is what the
 * configuration holds back there now (an item class's replaces the location's). */
static json_t *location_entry(json_t *locations, const struct config *cfg, const char *sku,
                              const char *code)
{
    size_t i;
    json_t *l;
    json_array_foreach(locations, i, l)
        if (strcmp(json_string_value(json_object_get(l, "location")), code) == 0) return l;
    const struct config_location *loc = config_location(cfg, code);
    l = json_pack("{s:s, s:b, s:n, s:n, s:n, s:n, s:n, s:n, s:[], s:[]}", "location", code,
                  "configured", loc != NULL, "on_hand", "committed", "unavailable", "available",
                  "safety_stock", "flags", "rules_broken", "sources");
    if (!l) return NULL;
    const struct config_item_class *cls = config_item_class_for(cfg, sku);
    if (loc)
        json_object_set_new(l, "safety_stock", json_integer(config_safety_stock(cls, loc)));
    json_array_append_new(locations, l);
    return l;
}

static int add_row(json_t *l, const char *value)
{
    struct layout_row r;
    if (layout_row_decode(value, &r) != 0) {
        json_object_set_new(l, "unreadable_row", json_string(value));
        return 0;
    }
    json_object_set_new(l, "on_hand", json_integer(r.on_hand));
    json_object_set_new(l, "committed", json_integer(r.committed));
    json_object_set_new(l, "unavailable", json_integer(r.unavailable));
    json_object_set_new(l, "available", json_integer(r.available));
    json_object_set_new(l, "flags", json_integer(r.flags));
    json_t *broken = json_object_get(l, "rules_broken");
    for (unsigned flag = 1; flag <= LAYOUT_FLAG_OVERCOMMITTED; flag <<= 1) {
        if (!(r.flags & flag)) continue;
        json_array_append_new(broken, json_pack("{s:s, s:s}", "rule", layout_flag_name(flag),
                                                "text", layout_flag_text(flag)));
    }
    return 0;
}

static int add_fact(json_t *l, const char *source, const char *value)
{
    struct layout_fact f;
    json_t *s;
    if (layout_fact_decode(value, &f) != 0) {
        s = json_pack("{s:s, s:s}", "source", source, "unreadable", value);
    } else {
        char when[40];
        iso_utc(f.time_ms, when, sizeof when);
        s = json_pack("{s:s, s:I, s:s}", "source", source, "as_of_ms", (json_int_t)f.time_ms,
                      "as_of", when);
        for (int k = 0; s && k < CONFIG_QUANTITY_KINDS; k++) {
            json_t *kind = f.present & (1u << k)
                               ? json_pack("{s:I, s:s}", "quantity", (json_int_t)f.quantity[k],
                                           "position", f.position[k])
                               : json_null();
            json_object_set_new(s, config_quantity_name((enum config_quantity)k), kind);
        }
    }
    return s ? json_array_append_new(json_object_get(l, "sources"), s) : -1;
}

/* The delivered version of a channel field, 0 when none was recorded. */
static long long delivered_of(const redisReply *chans, const char *field)
{
    size_t len = strlen(field);
    for (size_t i = 0; i + 1 < chans->elements; i += 2) {
        const redisReply *f = chans->element[i];
        if (f->len == len + 2 && strncmp(f->str, field, len) == 0 &&
            strcmp(f->str + len, "#d") == 0)
            return strtoll(chans->element[i + 1]->str, NULL, 10);
    }
    return 0;
}

/* Pickup stores whose figure was delivered have no field of their own: their figure is
 * the store's available less the channel's buffer. Adds them, version and delivered
 * null (the store row does not keep which version carried it). */
static int add_delivered_pickup(const struct config *cfg, json_t *locations, json_t *channels)
{
    for (size_t j = 0; j < cfg->nchannels; j++) {
        const struct config_channel *ch = &cfg->channels[j];
        if (ch->fulfilment != CONFIG_PICKUP) continue;
        size_t i;
        json_t *l;
        json_array_foreach(locations, i, l) {
            const char *code = json_string_value(json_object_get(l, "location"));
            const struct config_location *loc = config_location(cfg, code);
            const json_t *avail = json_object_get(l, "available");
            if (!loc || !json_is_integer(avail) || !config_channel_has_location(ch, loc)) continue;
            char field[2 * NAME_MAX_LEN];
            snprintf(field, sizeof field, "%s@%s", ch->name, code);
            size_t k;
            json_t *have;
            int found = 0;
            json_array_foreach(channels, k, have)
                found |= strcmp(json_string_value(json_object_get(have, "field")), field) == 0;
            if (found) continue;
            long long now = json_integer_value(avail) - ch->buffer;
            json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:n, s:n, s:b}", "field", field, "channel",
                                  ch->name, "location", code, "available",
                                  (json_int_t)(now < 0 ? 0 : now), "version", "delivered",
                                  "pending", 0);
            if (!o || json_array_append_new(channels, o) != 0) return -1;
        }
    }
    return 0;
}

static json_t *gather(const struct config *cfg, const char *sku, const redisReply *facts,
                      const redisReply *chans)
{
    json_t *o = json_pack("{s:s, s:I, s:[], s:[]}", "sku", sku, "version", (json_int_t)0,
                          "locations", "channels");
    if (!o) return NULL;
    json_t *locations = json_object_get(o, "locations"), *channels = json_object_get(o, "channels");
    for (size_t i = 0; i + 1 < facts->elements; i += 2) {
        char location[NAME_MAX_LEN], source[NAME_MAX_LEN];
        int kind = layout_split_field(facts->element[i]->str, location, sizeof location, source,
                                      sizeof source);
        if (kind < 0) continue;
        json_t *l = location_entry(locations, cfg, sku, location);
        if (!l) goto oom;
        if ((kind == 0 ? add_row(l, facts->element[i + 1]->str)
                       : add_fact(l, source, facts->element[i + 1]->str)) != 0)
            goto oom;
    }
    for (size_t i = 0; i + 1 < chans->elements; i += 2) {
        const char *field = chans->element[i]->str, *value = chans->element[i + 1]->str;
        if (strcmp(field, "#v") == 0) {
            json_object_set_new(o, "version", json_integer(strtoll(value, NULL, 10)));
            continue;
        }
        if (strchr(field, '#')) continue;
        struct layout_channel c;
        const char *at = strchr(field, '@');
        char name[NAME_MAX_LEN];
        snprintf(name, sizeof name, "%.*s", at ? (int)(at - field) : (int)strlen(field), field);
        json_t *ch;
        if ((at ? layout_pickup_decode(value, &c) : layout_channel_decode(value, &c)) != 0) {
            ch = json_pack("{s:s, s:s, s:s?, s:s}", "field", field, "channel", name, "location",
                           at ? at + 1 : NULL, "unreadable", value);
        } else if (at) {
            /* a pickup store's figure is kept only until it is delivered */
            ch = json_pack("{s:s, s:s, s:s, s:I, s:I, s:n, s:b}", "field", field, "channel", name,
                           "location", at + 1, "available", (json_int_t)c.available, "version",
                           (json_int_t)c.version, "delivered", "pending", 1);
        } else {
            long long delivered = delivered_of(chans, field);
            ch = json_pack("{s:s, s:s, s:n, s:I, s:I, s:I, s:I, s:b}", "field", field,
                           "channel", name, "location", "sum", (json_int_t)c.sum, "available",
                           (json_int_t)c.available, "version", (json_int_t)c.version,
                           "delivered", (json_int_t)delivered, "pending", c.version > delivered);
        }
        if (!ch || json_array_append_new(channels, ch) != 0) goto oom;
    }
    if (add_delivered_pickup(cfg, locations, channels) != 0) goto oom;
    sort_cfg = cfg;
    sort_array(locations, by_location);
    size_t i;
    json_t *l;
    json_array_foreach(locations, i, l) sort_array(json_object_get(l, "sources"), by_source);
    sort_array(channels, by_field);
    return o;
oom:
    json_decref(o);
    return NULL;
}

/* A figure of a location, "-" when it has no row. */
static const char *figure(const json_t *l, const char *key, char *buf, size_t len)
{
    const json_t *v = json_object_get(l, key);
    if (!json_is_integer(v)) return "-";
    snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return buf;
}

static void print_text(const json_t *o)
{
    const json_t *locations = json_object_get(o, "locations");
    const json_t *channels = json_object_get(o, "channels");
    printf("SKU %s (version %" JSON_INTEGER_FORMAT ")\n", json_string_value(json_object_get(o, "sku")),
           json_integer_value(json_object_get(o, "version")));

    printf("\nper location (the authoritative source's figures; available after safety stock):\n");
    printf("  %-12s %9s %9s %11s %7s %9s  %s\n", "location", "on_hand", "committed",
           "unavailable", "safety", "available", "rules broken");
    size_t i, j;
    const json_t *l, *s;
    json_array_foreach(locations, i, l) {
        char a[32], b[32], c[32], d[32], e[32], rules[300] = "";
        const json_t *rule;
        json_array_foreach(json_object_get(l, "rules_broken"), j, rule) {
            size_t used = strlen(rules);
            snprintf(rules + used, sizeof rules - used, "%s%s", j ? "; " : "",
                     json_string_value(json_object_get(rule, "text")));
        }
        if (!json_is_integer(json_object_get(l, "on_hand")))
            snprintf(rules, sizeof rules, "%s",
                     json_object_get(l, "unreadable_row") ? "(unreadable row)" : "(no row)");
        else if (!rules[0])
            snprintf(rules, sizeof rules, "none");
        const char *loc = json_string_value(json_object_get(l, "location"));
        printf("  %-12s %9s %9s %11s %7s %9s  %s%s\n", loc, figure(l, "on_hand", a, sizeof a),
               figure(l, "committed", b, sizeof b), figure(l, "unavailable", c, sizeof c),
               figure(l, "safety_stock", d, sizeof d), figure(l, "available", e, sizeof e), rules,
               json_is_true(json_object_get(l, "configured")) ? "" : " (location not configured)");
    }
    if (json_array_size(locations) == 0) printf("  (no stock figures)\n");

    printf("\nper location and source:\n");
    printf("  %-12s %-14s %-11s %9s  %-24s  %s\n", "location", "source", "kind", "quantity",
           "position", "as of (UTC)");
    json_array_foreach(locations, i, l) {
        const char *loc = json_string_value(json_object_get(l, "location"));
        json_array_foreach(json_object_get(l, "sources"), j, s) {
            const char *src = json_string_value(json_object_get(s, "source"));
            if (json_object_get(s, "unreadable")) {
                printf("  %-12s %-14s (unreadable: %s)\n", loc, src,
                       json_string_value(json_object_get(s, "unreadable")));
                continue;
            }
            const char *when = json_string_value(json_object_get(s, "as_of"));
            char shown[40];
            /* "2026-11-24T10:00:00.123Z" → "2026-11-24 10:00:00.123" */
            snprintf(shown, sizeof shown, "%.10s %.12s", when, when + 11);
            for (int k = 0; k < CONFIG_QUANTITY_KINDS; k++) {
                const char *kind = config_quantity_name((enum config_quantity)k);
                const json_t *q = json_object_get(s, kind);
                if (!json_is_object(q)) continue;
                printf("  %-12s %-14s %-11s %9" JSON_INTEGER_FORMAT "  %-24s  %s\n", loc, src,
                       kind, json_integer_value(json_object_get(q, "quantity")),
                       json_string_value(json_object_get(q, "position")), shown);
            }
        }
    }

    printf("\nper channel:\n");
    printf("  %-20s %-12s %9s %8s %9s\n", "channel", "location", "available", "version",
           "delivered");
    const json_t *ch;
    json_array_foreach(channels, i, ch) {
        const char *loc = json_string_value(json_object_get(ch, "location"));
        const char *name = json_string_value(json_object_get(ch, "channel"));
        if (json_object_get(ch, "unreadable")) {
            printf("  %-20s %-12s (unreadable: %s)\n", name, loc ? loc : "-",
                   json_string_value(json_object_get(ch, "unreadable")));
            continue;
        }
        char version[32], delivered[32];
        printf("  %-20s %-12s %9" JSON_INTEGER_FORMAT " %8s %9s%s\n", name, loc ? loc : "-",
               json_integer_value(json_object_get(ch, "available")),
               figure(ch, "version", version, sizeof version),
               figure(ch, "delivered", delivered, sizeof delivered),
               json_is_true(json_object_get(ch, "pending")) ? "  pending" : "");
    }
    if (json_array_size(channels) == 0) printf("  (none)\n");
}

int skuview_show(const struct config *cfg, const char *sku, int as_json)
{
    char err[600];
    redisContext *c = redisconn_open(cfg, err, sizeof err);
    if (!c) {
        fprintf(stderr, "stockmesh: %s\n", err);
        return 1;
    }
    redisReply *facts = redisCommand(c, "HGETALL sm:{%s}", sku);
    redisReply *chans = facts ? redisCommand(c, "HGETALL sm:{%s}:c", sku) : NULL;
    int status = 0;
    json_t *o = NULL;
    if (!facts || !chans || facts->type != REDIS_REPLY_ARRAY || chans->type != REDIS_REPLY_ARRAY) {
        fprintf(stderr, "stockmesh: reading SKU %s from Redis: %s\n", sku,
                redisconn_error(c, facts && facts->type == REDIS_REPLY_ERROR ? facts : chans));
        status = 1;
        goto out;
    }
    if (facts->elements == 0 && chans->elements == 0) {
        if (as_json) {
            json_t *e = json_pack("{s:s, s:s}", "sku", sku, "error", "unknown SKU");
            char *text = e ? json_dumps(e, JSON_INDENT(2)) : NULL;
            if (text) printf("%s\n", text);
            free(text);
            json_decref(e);
        } else
            fprintf(stderr, "stockmesh: SKU %s is not known: no source reported stock of it\n", sku);
        status = SKUVIEW_UNKNOWN;
        goto out;
    }
    o = gather(cfg, sku, facts, chans);
    if (!o) {
        fprintf(stderr, "stockmesh: out of memory\n");
        status = 1;
        goto out;
    }
    if (as_json) {
        char *text = json_dumps(o, JSON_INDENT(2));
        if (text) printf("%s\n", text);
        free(text);
    } else {
        print_text(o);
    }
out:
    json_decref(o);
    freeReplyObject(facts);
    freeReplyObject(chans);
    redisFree(c);
    return status;
}
