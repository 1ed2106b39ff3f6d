/* mapping.c — see mapping.h. */
#include "mapping.h"

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
        }
    }
    return 0;
}

void mapping_release(struct mapping *m)
{
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

static int row_fact(const struct mapping *m, const struct mapping_table *t, json_t *row,
                    int zero, const struct change_event *ev, struct stock_fact *f,
                    const char **code, char *err, size_t errlen)
{
    const struct config_table *ct = t->table;
    memset(f, 0, sizeof *f);
    if (column_text(row, ct->sku_column, f->sku, sizeof f->sku) != 0) {
        *code = "missing_sku";
        snprintf(err, errlen, "%s.%s: column \"%s\" (SKU) is missing, empty, too long or not "
                              "text", ct->schema, ct->name, ct->sku_column);
        return -1;
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
    f->source = t->source;
    f->position = ev->position;
    f->commit_us = ev->commit_us;
    return 0;
}

int mapping_facts(const struct mapping *m, const struct mapping_table *t,
                  const struct change_event *ev, struct stock_fact facts[2], const char **code,
                  char *err, size_t errlen)
{
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
    if (strcmp(old.sku, facts[0].sku) == 0 && old.location == facts[0].location) return 1;
    facts[1] = facts[0];
    facts[0] = old; /* zero the old place first: both share the position */
    return 2;
}
