/* event.c — see event.h. */
#include "stockmesh/event.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t event_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void event_position_pg(char out[EVENT_POSITION_LEN + 1], uint64_t commit_lsn, uint32_t index)
{
    snprintf(out, EVENT_POSITION_LEN + 1, "%016" PRIX64 "%08" PRIX32, commit_lsn, index);
}

static int hex_digit(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/* One part of a position: the digit count minus one in hex, then its digits without
 * leading zeros (at least one). Returns the length written. */
static int compact_part(const char *digits, int width, char *out)
{
    int skip = 0;
    while (skip < width - 1 && digits[skip] == '0') skip++;
    int n = width - skip;
    out[0] = "0123456789ABCDEF"[n - 1];
    memcpy(out + 1, digits + skip, (size_t)n);
    return n + 1;
}

int event_position_compact(const char *position, char out[EVENT_POSITION_COMPACT_MAX + 1])
{
    out[0] = 0;
    for (int i = 0; i < EVENT_POSITION_LEN; i++)
        if (!hex_digit(position[i])) return -1;
    if (position[EVENT_POSITION_LEN] != 0) return -1;
    int n = compact_part(position, 16, out);
    n += compact_part(position + 16, 8, out + n);
    out[n] = 0;
    return n;
}

/* Expands one part at *p (advanced past it) right-aligned into width digits of out. */
static int expand_part(const char **p, const char *end, int width, char *out)
{
    if (*p >= end || !hex_digit(**p)) return -1;
    int n = (**p <= '9' ? **p - '0' : **p - 'A' + 10) + 1;
    if (n > width || end - (*p + 1) < n) return -1;
    for (int i = 0; i < n; i++)
        if (!hex_digit((*p)[1 + i])) return -1;
    /* a leading zero would give one value two spellings, which would not sort */
    if (n > 1 && (*p)[1] == '0') return -1;
    memset(out, '0', (size_t)(width - n));
    memcpy(out + width - n, *p + 1, (size_t)n);
    *p += n + 1;
    return 0;
}

int event_position_expand(const char *compact, size_t len, char out[EVENT_POSITION_LEN + 1])
{
    const char *p = compact, *end = compact + len;
    if (expand_part(&p, end, 16, out) != 0 || expand_part(&p, end, 8, out + 16) != 0 ||
        p != end) {
        out[0] = 0;
        return -1;
    }
    out[EVENT_POSITION_LEN] = 0;
    return 0;
}

char *event_encode(const struct change_event *ev, size_t *len)
{
    char op[2] = {ev->op, 0};
    json_t *source = json_pack(
        "{s:s?, s:s, s:s?, s:s?, s:s?, s:I, s:I, s:I, s:I, s:s, s:s, s:s*}", "connector",
        ev->connector, "name", ev->source, "db", ev->db, "schema", ev->schema, "table", ev->table,
        "lsn", (json_int_t)ev->lsn, "txId", (json_int_t)ev->txid, "ts_ms",
        (json_int_t)(ev->commit_us / 1000), "ts_us", (json_int_t)ev->commit_us, "snapshot",
        ev->snapshot ? "true" : "false", "position", ev->position, "gtid", ev->gtid);
    if (!source) return NULL;
    json_t *root = json_pack("{s:O?, s:O?, s:s, s:I, s:I, s:o}", "before", ev->before, "after",
                             ev->after, "op", op, "ts_ms", (json_int_t)(ev->read_us / 1000),
                             "ts_us", (json_int_t)ev->read_us, "source", source);
    if (!root) return NULL;
    /* 15 significant digits: what a double holds exactly, so numeric 19.99 stays 19.99
       instead of 19.989999999999998 */
    char *out = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(root);
    if (out && len) *len = strlen(out);
    return out;
}

static const char *get_string(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int event_decode(struct change_event *ev, const void *buf, size_t len, char *err, size_t errlen)
{
    memset(ev, 0, sizeof *ev);
    json_error_t jerr;
    /* NUL inside strings is legal JSON (json columns may hold \u0000) */
    ev->root = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!ev->root) {
        snprintf(err, errlen, "not JSON: %s at byte %d", jerr.text, jerr.position);
        return -1;
    }
    if (!json_is_object(ev->root)) {
        snprintf(err, errlen, "event is not a JSON object");
        goto fail;
    }
    const char *op = get_string(ev->root, "op");
    if (!op || strlen(op) != 1 || !strchr("rcud", op[0])) {
        snprintf(err, errlen, "field \"op\" must be one of r, c, u, d");
        goto fail;
    }
    ev->op = op[0];
    json_t *before = json_object_get(ev->root, "before");
    json_t *after = json_object_get(ev->root, "after");
    ev->before = json_is_object(before) ? before : NULL;
    ev->after = json_is_object(after) ? after : NULL;
    if ((ev->op == 'd' && !ev->before) || (ev->op != 'd' && !ev->after)) {
        snprintf(err, errlen, "op \"%c\" without the row image it needs (\"%s\")", ev->op,
                 ev->op == 'd' ? "before" : "after");
        goto fail;
    }
    json_t *source = json_object_get(ev->root, "source");
    if (!json_is_object(source)) {
        snprintf(err, errlen, "field \"source\" missing or not an object");
        goto fail;
    }
    ev->connector = get_string(source, "connector");
    ev->source = get_string(source, "name");
    ev->db = get_string(source, "db");
    ev->schema = get_string(source, "schema");
    ev->table = get_string(source, "table");
    const char *position = get_string(source, "position");
    if (!ev->source || !ev->table) {
        snprintf(err, errlen, "field \"source.%s\" missing", ev->source ? "table" : "name");
        goto fail;
    }
    char compact[EVENT_POSITION_COMPACT_MAX + 1];
    if (!position || event_position_compact(position, compact) < 0) {
        snprintf(err, errlen,
                 "field \"source.position\" missing or not %d upper-case hexadecimal digits",
                 EVENT_POSITION_LEN);
        goto fail;
    }
    memcpy(ev->position, position, EVENT_POSITION_LEN + 1);
    ev->lsn = (uint64_t)json_integer_value(json_object_get(source, "lsn"));
    ev->txid = (uint64_t)json_integer_value(json_object_get(source, "txId"));
    json_t *commit_us = json_object_get(source, "ts_us");
    json_t *commit_ms = json_object_get(source, "ts_ms");
    /* milliseconds beyond this cannot become microseconds in 64 bits */
    const json_int_t ms_limit = INT64_MAX / 1000;
    if (json_is_integer(commit_us)) ev->commit_us = json_integer_value(commit_us);
    else if (json_is_integer(commit_ms) && json_integer_value(commit_ms) >= -ms_limit &&
             json_integer_value(commit_ms) <= ms_limit)
        ev->commit_us = json_integer_value(commit_ms) * 1000;
    else {
        snprintf(err, errlen, "field \"source.ts_ms\" missing, not an integer or out of range");
        goto fail;
    }
    json_t *read_us = json_object_get(ev->root, "ts_us");
    json_t *read_ms = json_object_get(ev->root, "ts_ms");
    /* events from other Debezium producers may carry only ts_ms */
    ev->read_us = json_is_integer(read_us) ? json_integer_value(read_us)
                  : json_is_integer(read_ms) && json_integer_value(read_ms) >= -ms_limit &&
                          json_integer_value(read_ms) <= ms_limit
                      ? json_integer_value(read_ms) * 1000
                      : 0;
    const char *snapshot = get_string(source, "snapshot");
    ev->snapshot = snapshot && strcmp(snapshot, "false") != 0;
    return 0;
fail:
    event_release(ev);
    return -1;
}

void event_release(struct change_event *ev)
{
    json_decref(ev->root);
    ev->root = NULL;
    ev->before = ev->after = NULL;
}
