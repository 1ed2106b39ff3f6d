/* rules.c — see rules.h. */
#include "rules.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATUS_FRESH_MS 5000

static const struct {
    unsigned flag;
    const char *name;
} names[] = {{RULES_MISMATCH, "mismatch"},
             {RULES_NEGATIVE, "negative_stock"},
             {RULES_OVERCOMMITTED, "overcommitted"}};

const char *rules_name(unsigned flag)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].flag == flag) return names[i].name;
    return NULL;
}

unsigned rules_flag(const char *name)
{
    for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(names[i].name, name)) return names[i].flag;
    return 0;
}

int rules_key(char *out, size_t outlen, const char *rule, const char *sku, const char *location)
{
    int n = snprintf(out, outlen, "%s|%s|%s", rule, sku, location);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int rules_parse_key(const char *key, char *rule, size_t rulelen, char *sku, size_t skulen,
                    char *location, size_t locationlen)
{
    /* rule and location never hold '|' (config validation); the SKU may */
    const char *first = strchr(key, '|'), *last = strrchr(key, '|');
    if (!first || first == last) return -1;
    size_t nrule = (size_t)(first - key), nsku = (size_t)(last - first - 1),
           nloc = strlen(last + 1);
    if (!nrule || !nsku || !nloc || nrule >= rulelen || nsku >= skulen || nloc >= locationlen)
        return -1;
    memcpy(rule, key, nrule);
    rule[nrule] = 0;
    memcpy(sku, first + 1, nsku);
    sku[nsku] = 0;
    memcpy(location, last + 1, nloc + 1);
    return 0;
}

/* A figure of a mismatch detail: a whole number, small enough that the difference of
 * two cannot overflow. */
static int parse_figure(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno || v > LLONG_MAX / 2 || v < LLONG_MIN / 2) return -1;
    *out = v;
    return 0;
}

/* Splits "<source>|<kind>|<observed>|<authoritative>"; 0 when it has exactly that shape
 * (four fields, a known kind, whole numbers). Anything else is -1: a garbled detail
 * must not make an alert name a wrong quantity, source or figure. */
static int parse_detail(const char *detail, char *source, size_t sourcelen,
                        enum config_quantity *kind, long long *observed, long long *authoritative)
{
    char copy[256];
    if (!detail || strlen(detail) >= sizeof copy) return -1;
    memcpy(copy, detail, strlen(detail) + 1);
    char *field[4], *p = copy;
    for (int i = 0; i < 4; i++) {
        field[i] = p;
        char *bar = strchr(p, '|');
        if (i < 3 && !bar) return -1;
        if (i == 3 && bar) return -1;
        if (bar) {
            *bar = 0;
            p = bar + 1;
        }
    }
    if (!*field[0] || strlen(field[0]) >= sourcelen) return -1;
    int k = 0;
    while (k < CONFIG_QUANTITY_KINDS && strcmp(field[1], config_quantity_name(k))) k++;
    if (k == CONFIG_QUANTITY_KINDS || parse_figure(field[2], observed) != 0 ||
        parse_figure(field[3], authoritative) != 0)
        return -1;
    memcpy(source, field[0], strlen(field[0]) + 1);
    *kind = (enum config_quantity)k;
    return 0;
}

json_t *rules_describe(const struct config *cfg, unsigned flag, const char *sku,
                       const struct config_location *loc, const char *detail, long long oh,
                       long long cm, long long un, char *summary, size_t summarylen)
{
    const char *where = loc ? loc->code : "?";
    json_t *d = json_pack("{s:s, s:s, s:I, s:I, s:I}", "sku", sku, "location", where, "on_hand",
                          (json_int_t)oh, "committed", (json_int_t)cm, "unavailable",
                          (json_int_t)un);
    if (!d) return NULL;
    char source[256];
    enum config_quantity quantity;
    long long observed, authoritative;
    switch (flag) {
    case RULES_MISMATCH:
        if (parse_detail(detail, source, sizeof source, &quantity, &observed, &authoritative) ==
            0) {
            const char *kind = config_quantity_name(quantity);
            const char *auth = loc ? config_authority_for(cfg, loc->type, quantity) : NULL;
            snprintf(summary, summarylen,
                     "%s at %s: %s says %s is %lld, %s (authoritative) says %lld", sku, where,
                     source, kind, observed, auth ? auth : "the authoritative source",
                     authoritative);
            json_object_set_new(d, "observing_source", json_string(source));
            json_object_set_new(d, "authoritative_source", auth ? json_string(auth) : json_null());
            json_object_set_new(d, "quantity", json_string(kind));
            json_object_set_new(d, "observed", json_integer(observed));
            json_object_set_new(d, "authoritative", json_integer(authoritative));
            json_object_set_new(d, "difference", json_integer(observed - authoritative));
        } else {
            snprintf(summary, summarylen, "%s at %s: the sources disagree", sku, where);
        }
        break;
    case RULES_NEGATIVE:
        snprintf(summary, summarylen, "%s at %s: on_hand is negative (%lld)", sku, where, oh);
        break;
    case RULES_OVERCOMMITTED:
        snprintf(summary, summarylen, "%s at %s: committed (%lld) is above on_hand (%lld)", sku,
                 where, cm, oh);
        break;
    default:
        snprintf(summary, summarylen, "%s at %s: unknown condition %u", sku, where, flag);
        break;
    }
    return d;
}

const char *const *rules_contacts(const struct config *cfg, const struct config_location *loc,
                                  size_t *n)
{
    if (loc && loc->ncontacts) {
        *n = loc->ncontacts;
        return (const char *const *)loc->contacts;
    }
    *n = cfg->rules.ncontacts;
    return (const char *const *)cfg->rules.contacts;
}

static int64_t int_field(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

int rules_source_stale(const struct config *cfg, const struct config_source *src,
                       const char *status, int64_t now_ms, char *why, size_t whylen)
{
    int64_t limit = (int64_t)cfg->rules.stale_source_s * 1000;
    json_t *o = status ? json_loads(status, 0, NULL) : NULL;
    int stale = 0;
    if (!o) {
        snprintf(why, whylen, "source %s: its reader has never reported", src->name);
        stale = 1;
        goto out;
    }
    const char *state = json_string_value(json_object_get(o, "state"));
    int64_t updated = int_field(o, "updated_ms"), since = int_field(o, "since_ms");
    int64_t heartbeat = int_field(o, "last_heartbeat_ms");
    const char *error = json_string_value(json_object_get(o, "last_error"));
    if (now_ms - updated > limit) {
        snprintf(why, whylen, "source %s: its reader has not reported for %" PRId64 " s",
                 src->name, (now_ms - updated) / 1000);
        stale = 1;
    } else if (!state || (strcmp(state, "streaming") && strcmp(state, "snapshot"))) {
        if (now_ms - since > limit) {
            snprintf(why, whylen, "source %s: %s for %" PRId64 " s%s%.300s", src->name,
                     state ? state : "not streaming", (now_ms - since) / 1000,
                     error ? "; last error: " : "", error ? error : "");
            stale = 1;
        }
    } else if (!strcmp(state, "streaming") && heartbeat &&
               now_ms - heartbeat > limit + src->heartbeat_ms) {
        snprintf(why, whylen, "source %s: no heartbeat came back for %" PRId64 " s", src->name,
                 (now_ms - heartbeat) / 1000);
        stale = 1;
    }
out:
    json_decref(o);
    return stale;
}

int rules_source_drained(const char *status, int64_t now_ms)
{
    json_t *o = status ? json_loads(status, 0, NULL) : NULL;
    if (!o) return 0;
    const char *state = json_string_value(json_object_get(o, "state"));
    json_t *unapplied = json_object_get(o, "unapplied");
    int drained = state && !strcmp(state, "streaming") && json_is_integer(unapplied) &&
                  json_integer_value(unapplied) == 0 &&
                  now_ms - int_field(o, "updated_ms") <= STATUS_FRESH_MS;
    json_decref(o);
    return drained;
}
