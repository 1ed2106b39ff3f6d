/* mapping.c — see mapping.h. */
#include "mapping.h"

#include "stockmesh/timeconv.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mapping_init(struct mapping *m, const struct config *cfg, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    m->cfg = cfg;
    size_t n = 0;
    for (size_t i = 0; i < cfg->nsources; i++) n += cfg->sources[i].ntables;
    m->tables = calloc(n ? n : 1, sizeof *m->tables);
    if (!m->tables) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < cfg->nsources; i++) {
        const struct config_source *s = &cfg->sources[i];
        for (size_t j = 0; j < s->ntables; j++) {
            struct mapping_table *t = &m->tables[m->ntables++];
            t->source = s;
            t->table = &s->tables[j];
            snprintf(t->topic, sizeof t->topic, "%s.%s.%s.%s", cfg->backbone.topic_prefix,
                     s->name, t->table->schema, t->table->name);
            if (!t->table->time_column) continue;
            char why[300];
            t->times = timeconv_new(s->timezone, s->timestamp_format, why, sizeof why);
            if (!t->times) {
                snprintf(err, errlen, "source %s: %s", s->name, why);
                mapping_release(m);
                return -1;
            }
        }
    }
    return 0;
}

void mapping_release(struct mapping *m)
{
    for (size_t i = 0; i < m->ntables; i++) timeconv_free(m->tables[i].times);
    free(m->tables);
    m->tables = NULL;
    m->ntables = 0;
}

const struct mapping_table *mapping_find(const struct mapping *m, const char *topic)
{
    for (size_t i = 0; i < m->ntables; i++)
        if (strcmp(m->tables[i].topic, topic) == 0) return &m->tables[i];
    return NULL;
}

/* Text of a scalar column: strings as they are, integers in decimal. */
static int column_text(json_t *row, const char *column, char *out, size_t outlen)
{
    json_t *v = json_object_get(row, column);
    if (json_is_string(v)) {
        if (json_string_length(v) == 0 || json_string_length(v) >= outlen) return -1;
        memcpy(out, json_string_value(v), json_string_length(v) + 1);
        return 0;
    }
    if (json_is_integer(v)) {
        snprintf(out, outlen, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return 0;
    }
    return -1;
}

/* Quantities are whole units within ±MAPPING_QUANTITY_MAX: the merge function
 * computes in doubles, exact only below 2^53, and sums many locations. */
static int quantity_in_range(long long q)
{
    return q >= -MAPPING_QUANTITY_MAX && q <= MAPPING_QUANTITY_MAX;
}

/* A numeric column may arrive as integer, as a real with no fraction, or as a decimal
 * string. */
static int column_quantity(json_t *row, const char *column, long long *out)
{
    json_t *v = json_object_get(row, column);
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return quantity_in_range(*out) ? 0 : -1;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!isfinite(d) || d != floor(d) || fabs(d) > (double)MAPPING_QUANTITY_MAX) return -1;
        *out = (long long)d;
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        long long q = strtoll(s, &end, 10);
        if (end == s || errno) return -1;
        if (*end == '.') { /* "12.000" is 12; "12.5" is not a whole unit */
            for (end++; *end == '0'; end++)
                ;
        }
        if (*end) return -1;
        *out = q;
        return quantity_in_range(q) ? 0 : -1;
    }
    return -1;
}

/* The row's time column in UTC ms: text in the source's format and zone, or a number
 * of seconds / ms when the source declares epoch_s / epoch_ms. */
static int column_time(const struct mapping_table *t, json_t *row, const char *column,
                       int64_t *ms)
{
    json_t *v = json_object_get(row, column);
    char text[64];
    if (json_is_string(v)) {
        if (json_string_length(v) >= sizeof text) return -1;
        memcpy(text, json_string_value(v), json_string_length(v) + 1);
    } else if (json_is_integer(v)) {
        snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else {
        return -1;
    }
    return timeconv_parse(t->times, text, ms);
}

static int row_fact(const struct mapping *m, const struct mapping_table *t, json_t *row,
                    int zero, const struct change_event *ev, struct stock_fact *f,
                    const char **code, char *err, size_t errlen)
{
    const struct config_table *ct = t->table;
    memset(f, 0, sizeof *f);
    if (ct->sku_column) {
        if (column_text(row, ct->sku_column, f->sku, sizeof f->sku) != 0) {
            *code = "missing_sku";
            snprintf(err, errlen, "%s.%s: column \"%s\" (SKU) is missing, empty, too long or "
                                  "not text", ct->schema, ct->name, ct->sku_column);
            return -1;
        }
    } else {
        if (column_text(row, ct->item_column, f->item, sizeof f->item) != 0) {
            *code = "missing_item";
            snprintf(err, errlen, "%s.%s: column \"%s\" (item code) is missing, empty, too "
                                  "long or not text", ct->schema, ct->name, ct->item_column);
            return -1;
        }
        f->crosswalk = ct->crosswalk;
    }
    if (ct->location_code) {
        f->location = config_location(m->cfg, ct->location_code);
    } else {
        char code_text[128];
        if (column_text(row, ct->location_column, code_text, sizeof code_text) != 0) {
            *code = "missing_location";
            snprintf(err, errlen, "%s.%s: column \"%s\" (location) is missing, empty or not "
                                  "text", ct->schema, ct->name, ct->location_column);
            return -1;
        }
        f->location = config_location(m->cfg, code_text);
        if (!f->location) {
            *code = "unknown_location";
            snprintf(err, errlen, "%s.%s: location \"%s\" is not configured", ct->schema,
                     ct->name, code_text);
            return -1;
        }
    }
    for (int k = 0; k < CONFIG_QUANTITY_KINDS; k++) {
        const char *column = ct->quantity_column[k];
        if (!column) continue;
        f->present |= 1u << k;
        if (zero) continue;
        if (column_quantity(row, column, &f->quantity[k]) != 0) {
            *code = "bad_quantity";
            json_t *v = json_object_get(row, column);
            char *shown = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
            snprintf(err, errlen, "%s.%s: column \"%s\" (%s) is not a whole number within ±10^12: %.60s",
                     ct->schema, ct->name, column, config_quantity_name(k),
                     shown ? shown : "missing");
            free(shown);
            return -1;
        }
    }
    if (ct->time_column && !zero && column_time(t, row, ct->time_column, &f->counted_ms) != 0) {
        *code = "bad_time";
        json_t *v = json_object_get(row, ct->time_column);
        char *shown = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        snprintf(err, errlen, "%s.%s: column \"%s\" (time) does not read as %s in zone %s: %.60s",
                 ct->schema, ct->name, ct->time_column,
                 t->source->timestamp_format ? t->source->timestamp_format : "ISO 8601",
                 t->source->timezone, shown ? shown : "missing");
        free(shown);
        return -1;
    }
    f->source = t->source;
    memcpy(f->position, ev->position, sizeof f->position);
    f->commit_us = ev->commit_us;
    if (f->sku[0] && mapping_check_sku(m, f, code, err, errlen) != 0) return -1;
    return 0;
}

int mapping_check_sku(const struct mapping *m, const struct stock_fact *f, const char **code,
                      char *err, size_t errlen)
{
    if (config_sku_valid(m->cfg, f->sku)) return 0;
    *code = "unknown_sku";
    snprintf(err, errlen, "SKU \"%.100s\"%s%.100s%s does not match skus.pattern \"%.100s\"",
             f->sku, f->item[0] ? " (item " : "", f->item, f->item[0] ? ")" : "",
             m->cfg->skus.pattern);
    return -1;
}

static int same_place(const struct stock_fact *a, const struct stock_fact *b)
{
    return a->location == b->location && !strcmp(a->sku, b->sku) && !strcmp(a->item, b->item);
}

int mapping_facts(const struct mapping *m, const struct mapping_table *t,
                  const struct change_event *ev, struct stock_fact facts[2], const char **code,
                  char *err, size_t errlen)
{
    if (t->table->defines_crosswalk) {
        *code = "not_stock";
        snprintf(err, errlen, "%s.%s is a crosswalk table, not stock", t->table->schema,
                 t->table->name);
        return -1;
    }
    if (ev->op == 'd')
        return row_fact(m, t, ev->before, 1, ev, &facts[0], code, err, errlen) == 0 ? 1 : -1;
    if (row_fact(m, t, ev->after, 0, ev, &facts[0], code, err, errlen) != 0) return -1;
    if (ev->op != 'u' || !ev->before) return 1;
    /* the old image may hold only the key columns; a move shows as a different SKU or
       location there, and where it was must drop to zero */
    struct stock_fact old;
    char ignored[256];
    const char *ignored_code;
    if (row_fact(m, t, ev->before, 1, ev, &old, &ignored_code, ignored, sizeof ignored) != 0)
        return 1;
    if (same_place(&old, &facts[0])) return 1;
    facts[1] = facts[0];
    facts[0] = old; /* zero the old place first: both share the position */
    return 2;
}

static int crosswalk_row(const struct mapping_table *t, json_t *row, int forget,
                         struct crosswalk_change *c, const char **code, char *err, size_t errlen)
{
    const struct config_table *ct = t->table;
    memset(c, 0, sizeof *c);
    c->crosswalk = ct->defines_crosswalk;
    if (column_text(row, ct->code_column, c->code, sizeof c->code) != 0) {
        *code = "missing_item";
        snprintf(err, errlen, "%s.%s: column \"%s\" (item code) is missing, empty, too long or "
                              "not text", ct->schema, ct->name, ct->code_column);
        return -1;
    }
    if (forget) return 0;
    if (column_text(row, ct->sku_column, c->sku, sizeof c->sku) != 0) {
        *code = "missing_sku";
        snprintf(err, errlen, "%s.%s: column \"%s\" (SKU) is missing, empty, too long or not "
                              "text", ct->schema, ct->name, ct->sku_column);
        return -1;
    }
    return 0;
}

int mapping_crosswalk(const struct mapping *m, const struct mapping_table *t,
                      const struct change_event *ev, struct crosswalk_change out[2],
                      const char **code, char *err, size_t errlen)
{
    (void)m;
    if (!t->table->defines_crosswalk) {
        *code = "not_crosswalk";
        snprintf(err, errlen, "%s.%s is not a crosswalk table", t->table->schema, t->table->name);
        return -1;
    }
    if (ev->op == 'd') return crosswalk_row(t, ev->before, 1, &out[0], code, err, errlen) ? -1 : 1;
    if (crosswalk_row(t, ev->after, 0, &out[0], code, err, errlen) != 0) return -1;
    if (ev->op != 'u' || !ev->before) return 1;
    struct crosswalk_change old;
    char ignored[256];
    const char *ignored_code;
    if (crosswalk_row(t, ev->before, 1, &old, &ignored_code, ignored, sizeof ignored) != 0 ||
        !strcmp(old.code, out[0].code))
        return 1;
    out[1] = out[0];
    out[0] = old; /* forget the old code first */
    return 2;
}

char *mapping_fact_encode(const struct stock_fact *f, const char *topic, const char *event,
                          size_t event_len)
{
    json_t *q = json_array();
    for (int k = 0; k < CONFIG_QUANTITY_KINDS; k++)
        json_array_append_new(q, (f->present & (1u << k)) ? json_integer(f->quantity[k])
                                                          : json_null());
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:I, s:I, s:s, s:s%}", "item", f->item,
                          "crosswalk", f->crosswalk ? f->crosswalk : "", "location",
                          f->location->code, "source", f->source->name, "position", f->position,
                          "quantities", q, "commit_us", (json_int_t)f->commit_us, "counted_ms",
                          (json_int_t)f->counted_ms, "topic", topic ? topic : "", "event",
                          event ? event : "", event ? event_len : 0);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

int mapping_fact_decode(const struct mapping *m, const char *text, size_t len,
                        struct stock_fact *f, char **topic, char **event)
{
    memset(f, 0, sizeof *f);
    json_t *o = json_loadb(text, len, 0, NULL);
    const char *item, *crosswalk, *location, *source, *position, *t, *ev;
    json_t *q;
    json_int_t commit_us, counted_ms;
    int rc = -1;
    if (!o || json_unpack(o, "{s:s, s:s, s:s, s:s, s:s, s:o, s:I, s:I, s:s, s:s}", "item", &item,
                          "crosswalk", &crosswalk, "location", &location, "source", &source,
                          "position", &position, "quantities", &q, "commit_us", &commit_us,
                          "counted_ms", &counted_ms, "topic", &t, "event", &ev) != 0)
        goto out;
    f->location = config_location(m->cfg, location);
    f->source = config_source(m->cfg, source);
    const struct config_source *xs = NULL;
    const struct config_table *xt = config_crosswalk(m->cfg, crosswalk, &xs);
    char compact[EVENT_POSITION_COMPACT_MAX + 1];
    if (!f->location || !f->source || !xt || strlen(item) >= sizeof f->item ||
        event_position_compact(position, compact) < 0 || json_array_size(q) != CONFIG_QUANTITY_KINDS)
        goto out;
    f->crosswalk = xt->defines_crosswalk;
    memcpy(f->item, item, strlen(item) + 1);
    memcpy(f->position, position, EVENT_POSITION_LEN + 1);
    for (int k = 0; k < CONFIG_QUANTITY_KINDS; k++) {
        json_t *v = json_array_get(q, (size_t)k);
        if (json_is_null(v)) continue;
        if (!json_is_integer(v)) goto out;
        f->present |= 1u << k;
        f->quantity[k] = json_integer_value(v);
    }
    f->commit_us = commit_us;
    f->counted_ms = counted_ms;
    if (topic && !(*topic = strdup(t))) goto out;
    if (event && !(*event = strdup(ev))) {
        if (topic) free(*topic);
        goto out;
    }
    rc = 0;
out:
    json_decref(o);
    return rc;
}
