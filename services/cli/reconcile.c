/* reconcile.c — see reconcile.h.
 *
 * Where each source's snapshot stands decides what Redis must agree with:
 *   PostgreSQL  the WAL position read just before the snapshot opened ("before"): a
 *               figure Redis holds at a position below it came from a transaction the
 *               snapshot saw, and nothing after it touched the row (that change would
 *               have a newer position, once the reader confirmed "after", the position
 *               read inside the snapshot).
 *   MariaDB     the snapshot's own GTID: the snapshot holds exactly the transactions up
 *               to that sequence number, so positions below the next one are compared.
 * Rows a source holds are first gathered (translated through the crosswalks in Redis),
 * then Redis is scanned once, SKU by SKU, pipelined. */
#include "reconcile.h"

#include "drift.h"
#include "layout.h"
#include "merge/mapping.h"
#include "positions.h"
#include "progress.h"
#include "rebuild.h"
#include "redisconn.h"
#include "snapread.h"
#include "srcstatus.h"
#include "stockmesh/alerts.h"
#include "stockmesh/config.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IN_FLIGHT 100
#define LOCATION_MAX 64

struct finding {
    char sku[MAPPING_SKU_MAX], item[MAPPING_SKU_MAX], location[LOCATION_MAX];
    const struct config_table *table;
    struct drift d;
};

struct table_count {
    long long rows, unmappable, differences, unknown_items;
    char first_unmappable[300];
};

struct source_run {
    const struct config_source *src;
    struct snapread_point point;
    char compare_below[EVENT_POSITION_LEN + 1];  /* Redis must agree below this */
    char stale_below[EVENT_POSITION_LEN + 1];    /* a repair's cutoff */
    uint64_t confirm_at;                         /* the reader must confirm this */
    struct table_count *tables;                  /* one per src->tables[i] */
    long long rows, figures, differences, ambiguous, unreadable;
    char first_unreadable[320];                  /* "<sku> <field>: \"<value>\"" */
    int missed_delete;
    struct finding found[RECONCILE_KEEP];
    size_t nfound;
};

/* What one source's snapshot holds for one (SKU, location). */
struct expect {
    char *sku, *item;                 /* item: NULL for a table that names the SKU */
    const char *crosswalk;
    const struct config_location *loc;
    size_t src;                       /* index into run.srcs */
    const struct config_table *table[CONFIG_QUANTITY_KINDS];
    struct drift_expect e;
    int matched, skip;
};

struct run {
    const struct config *cfg;
    redisContext *redis;
    struct mapping mapping;
    int quiet;
    struct source_run *srcs;
    size_t nsrcs, cur;
    struct expect *expect;
    size_t nexpect, capexpect;
    struct progress bar;
    const struct config_table *table;   /* being read */
    char err[2000];
};

/* ---- gathering what the sources hold --------------------------------------------- */

static const struct mapping_table *mapping_of(const struct mapping *m,
                                              const struct config_table *t)
{
    for (size_t i = 0; i < m->ntables; i++)
        if (m->tables[i].table == t) return &m->tables[i];
    return NULL;
}

static int add_expect(struct run *r, const struct stock_fact *f, const struct config_table *t)
{
    if (r->nexpect == r->capexpect) {
        size_t cap = r->capexpect ? r->capexpect * 2 : 1024;
        struct expect *grown = realloc(r->expect, cap * sizeof *grown);
        if (!grown) return -1;
        r->expect = grown;
        r->capexpect = cap;
    }
    struct expect *e = &r->expect[r->nexpect];
    memset(e, 0, sizeof *e);
    e->sku = strdup(f->sku);
    e->item = f->item[0] ? strdup(f->item) : NULL;
    if (!e->sku || (f->item[0] && !e->item)) {
        free(e->sku);
        free(e->item);
        return -1;
    }
    e->crosswalk = f->crosswalk;
    e->loc = f->location;
    e->src = r->cur;
    for (int k = 0; k < CONFIG_QUANTITY_KINDS; k++) {
        if (!(f->present & (1u << k))) continue;
        e->e.present |= 1u << k;
        e->e.quantity[k] = f->quantity[k];
        e->table[k] = t;
    }
    r->nexpect++;
    return 0;
}

/* Ends the progress of the table being read with its row count. */
static void table_read(struct run *r)
{
    if (r->table) {
        const struct source_run *s = &r->srcs[r->cur];
        progress_update(&r->bar, s->tables[r->table - s->src->tables].rows, 0, "read", 1);
    }
    progress_done(&r->bar);
    r->table = NULL;
}

static void on_table(void *arg, const struct config_table *t)
{
    struct run *r = arg;
    char label[200];
    table_read(r);
    snprintf(label, sizeof label, "reading %s %s.%s", r->srcs[r->cur].src->name, t->schema,
             t->name);
    progress_init(&r->bar, label, "rows", r->quiet);
    r->table = t;
}

static int on_row(void *arg, const struct config_table *t, json_t *row)
{
    struct run *r = arg;
    struct source_run *s = &r->srcs[r->cur];
    struct table_count *tc = &s->tables[t - s->src->tables];
    tc->rows++;
    s->rows++;
    progress_update(&r->bar, tc->rows, 0, NULL, 0);
    const struct mapping_table *mt = mapping_of(&r->mapping, t);
    struct change_event ev = {.op = 'r', .after = row,
                              .connector = s->src->type == CONFIG_SOURCE_POSTGRES ? "postgresql"
                                                                                  : "mysql",
                              .source = s->src->name, .db = t->schema, .schema = t->schema,
                              .table = t->name, .snapshot = 1};
    struct stock_fact facts[2];
    const char *code = "";
    char why[300] = "the table has no mapping";
    int n = mt ? mapping_facts(&r->mapping, mt, &ev, facts, &code, why, sizeof why) : -1;
    if (n < 1) {
        /* the merge sends such a row to the DLQ: it never reaches Redis either */
        if (!tc->unmappable++) snprintf(tc->first_unmappable, sizeof tc->first_unmappable, "%s", why);
        return 0;
    }
    return add_expect(r, &facts[0], t);
}

/* ---- differences ------------------------------------------------------------------ */

/* The table a figure of kind at loc comes from when only Redis has it. */
static const struct config_table *table_for(const struct config_source *src,
                                            const char *location, int kind)
{
    const struct config_table *any = NULL;
    for (size_t i = 0; i < src->ntables; i++) {
        const struct config_table *t = &src->tables[i];
        if (t->defines_crosswalk) continue;
        if (!any) any = t;
        if (kind >= 0 && !t->quantity_column[kind]) continue;
        if (t->location_code && strcmp(t->location_code, location) != 0) continue;
        return t;
    }
    return any;
}

static void note(struct source_run *s, const char *sku, const char *item, const char *location,
                 const struct config_table *table, const struct drift *d)
{
    s->differences++;
    if (d->problem == DRIFT_NOT_IN_SOURCE) s->missed_delete = 1;
    if (!table) table = table_for(s->src, location, d->kind);
    if (table) {
        struct table_count *tc = &s->tables[table - s->src->tables];
        tc->differences++;
        if (d->problem == DRIFT_UNKNOWN_ITEM) tc->unknown_items++;
    }
    if (s->nfound == RECONCILE_KEEP) return;
    struct finding *f = &s->found[s->nfound++];
    snprintf(f->sku, sizeof f->sku, "%s", sku ? sku : "");
    snprintf(f->item, sizeof f->item, "%s", item ? item : "");
    snprintf(f->location, sizeof f->location, "%s", location);
    f->table = table;
    f->d = *d;
}

static const struct run *sort_run; /* qsort has no context argument in C11 */

static int by_item(const void *a, const void *b)
{
    const struct expect *x = &sort_run->expect[*(const size_t *)a];
    const struct expect *y = &sort_run->expect[*(const size_t *)b];
    int c = strcmp(x->crosswalk, y->crosswalk);
    return c ? c : strcmp(x->item, y->item);
}

/* Translates every item code through its crosswalk in Redis, as the merge would. */
static int translate(struct run *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nexpect; i++) n += r->expect[i].item != NULL;
    if (!n) return 0;
    size_t *idx = malloc(n * sizeof *idx);
    if (!idx) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    n = 0;
    for (size_t i = 0; i < r->nexpect; i++)
        if (r->expect[i].item) idx[n++] = i;
    sort_run = r;
    qsort(idx, n, sizeof *idx, by_item);
    /* one HGET per distinct code (equal ones are neighbours now), IN_FLIGHT at a time */
    size_t sent = 0, answered = 0;
    int rc = 0;
    while (answered < n && rc == 0) {
        while (sent < n && sent - answered < IN_FLIGHT) {
            const struct expect *e = &r->expect[idx[sent]];
            redisAppendCommand(r->redis, "HGET sm:{xw:%s} %s", e->crosswalk, e->item);
            sent++;
            while (sent < n && by_item(&idx[sent - 1], &idx[sent]) == 0) sent++;
        }
        redisReply *reply = NULL;
        if (redisGetReply(r->redis, (void **)&reply) != REDIS_OK || !reply ||
            (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_NIL)) {
            snprintf(r->err, sizeof r->err, "reading a crosswalk from Redis: %s",
                     redisconn_error(r->redis, reply));
            freeReplyObject(reply);
            rc = -1;
            break;
        }
        size_t end = answered + 1;
        while (end < n && by_item(&idx[end - 1], &idx[end]) == 0) end++;
        for (size_t i = answered; i < end; i++) {
            struct expect *e = &r->expect[idx[i]];
            struct source_run *s = &r->srcs[e->src];
            const struct config_table *t = NULL;
            for (int k = 0; k < CONFIG_QUANTITY_KINDS && !t; k++) t = e->table[k];
            if (reply->type == REDIS_REPLY_NIL) {
                struct drift d = {.problem = DRIFT_UNKNOWN_ITEM, .kind = -1};
                note(s, NULL, e->item, e->loc->code, t, &d);
                e->skip = 1;
                continue;
            }
            char *sku = strdup(reply->str);
            if (!sku) {
                snprintf(r->err, sizeof r->err, "out of memory");
                rc = -1;
                break;
            }
            free(e->sku);
            e->sku = sku;
            if (!config_sku_valid(r->cfg, sku) && t) { /* the merge's DLQ: "unknown_sku" */
                struct table_count *tc = &s->tables[t - s->src->tables];
                if (!tc->unmappable++)
                    snprintf(tc->first_unmappable, sizeof tc->first_unmappable,
                             "SKU \"%.100s\" (item %.100s) does not match skus.pattern", sku,
                             e->item);
                e->skip = 1;
            }
        }
        freeReplyObject(reply);
        answered = end;
    }
    free(idx);
    return rc;
}

static int by_place(const void *a, const void *b)
{
    const struct expect *x = a, *y = b;
    int c = strcmp(x->sku, y->sku);
    if (c) return c;
    c = strcmp(x->loc->code, y->loc->code);
    if (c) return c;
    return x->src < y->src ? -1 : x->src > y->src;
}

/* Sorts the gathered figures by (SKU, location, source) and folds rows that land on
 * the same place: kinds from different tables add up, a kind given twice is
 * ambiguous (the merge keeps whichever came last) and left out of the comparison. */
static void fold(struct run *r)
{
    size_t kept = 0;
    for (size_t i = 0; i < r->nexpect; i++) {
        if (r->expect[i].skip) {
            free(r->expect[i].sku);
            free(r->expect[i].item);
            continue;
        }
        r->expect[kept++] = r->expect[i];
    }
    r->nexpect = kept;
    if (kept > 1) qsort(r->expect, kept, sizeof *r->expect, by_place);
    kept = 0;
    for (size_t i = 0; i < r->nexpect; i++) {
        struct expect *e = &r->expect[i];
        if (kept && by_place(&r->expect[kept - 1], e) == 0) {
            struct expect *into = &r->expect[kept - 1];
            for (int k = 0; k < CONFIG_QUANTITY_KINDS; k++) {
                unsigned bit = 1u << k;
                if (!(e->e.present & bit)) continue;
                if (into->e.present & bit) {
                    if (!(into->e.ambiguous & bit)) r->srcs[e->src].ambiguous++;
                    into->e.ambiguous |= bit;
                }
                into->e.present |= bit;
                into->e.quantity[k] = e->e.quantity[k];
                into->table[k] = e->table[k];
            }
            free(e->sku);
            free(e->item);
            continue;
        }
        r->expect[kept++] = *e;
    }
    r->nexpect = kept;
    for (size_t i = 0; i < r->nexpect; i++) r->srcs[r->expect[i].src].figures++;
}

/* The first gathered figure of sku (sorted), or nexpect. */
static size_t lower_bound(const struct run *r, const char *sku)
{
    size_t lo = 0, hi = r->nexpect;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(r->expect[mid].sku, sku) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static long source_index(const struct run *r, const char *name)
{
    for (size_t i = 0; i < r->nsrcs; i++)
        if (strcmp(r->srcs[i].src->name, name) == 0) return (long)i;
    return -1;
}

/* Compares one SKU's hash (HGETALL reply) with what the sources hold. */
static void compare_sku(struct run *r, const char *sku, const redisReply *h)
{
    size_t first = lower_bound(r, sku), end = first;
    while (end < r->nexpect && strcmp(r->expect[end].sku, sku) == 0) end++;
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        char location[LOCATION_MAX], source[128];
        if (layout_split_field(h->element[i]->str, location, sizeof location, source,
                               sizeof source) != 1)
            continue; /* a location row: derived, rebuilt by the repair */
        long s = source_index(r, source);
        if (s < 0) continue;
        struct layout_fact fact;
        if (layout_fact_decode(h->element[i + 1]->str, &fact) != 0) {
            if (!r->srcs[s].unreadable++)
                snprintf(r->srcs[s].first_unreadable, sizeof r->srcs[s].first_unreadable,
                         "%.60s %.100s: \"%.120s\"", sku, h->element[i]->str,
                         h->element[i + 1]->str);
            continue;
        }
        struct expect *e = NULL;
        for (size_t j = first; j < end && !e; j++)
            if (r->expect[j].src == (size_t)s && strcmp(r->expect[j].loc->code, location) == 0)
                e = &r->expect[j];
        if (e) e->matched = 1;
        struct drift d[CONFIG_QUANTITY_KINDS];
        int n = drift_compare(e ? &e->e : NULL, &fact, r->srcs[s].compare_below, d);
        for (int k = 0; k < n; k++)
            note(&r->srcs[s], sku, e ? e->item : NULL, location,
                 e && d[k].kind >= 0 ? e->table[d[k].kind] : NULL, &d[k]);
    }
}

static int compare_redis(struct run *r)
{
    char **skus = NULL;
    size_t n = 0;
    if (redisconn_list_skus(r->redis, &skus, &n, r->err, sizeof r->err) != 0) return -1;
    progress_init(&r->bar, "comparing with Redis", "SKUs", r->quiet);
    size_t sent = 0, answered = 0;
    int rc = 0;
    while (answered < n) {
        while (sent < n && sent - answered < IN_FLIGHT)
            redisAppendCommand(r->redis, "HGETALL sm:{%s}", skus[sent++]);
        redisReply *h = NULL;
        if (redisGetReply(r->redis, (void **)&h) != REDIS_OK || !h || h->type != REDIS_REPLY_ARRAY) {
            snprintf(r->err, sizeof r->err, "reading SKU %s from Redis: %s", skus[answered],
                     redisconn_error(r->redis, h));
            freeReplyObject(h);
            rc = -1;
            break;
        }
        compare_sku(r, skus[answered], h);
        freeReplyObject(h);
        answered++;
        progress_update(&r->bar, (long long)answered, (long long)n, NULL, answered == n);
    }
    progress_done(&r->bar);
    redisconn_free_list(skus, n);
    if (rc != 0) return -1;
    /* what no SKU hash held at all */
    for (size_t i = 0; i < r->nexpect; i++) {
        struct expect *e = &r->expect[i];
        if (e->matched) continue;
        struct drift d[CONFIG_QUANTITY_KINDS];
        int k = drift_compare(&e->e, NULL, r->srcs[e->src].compare_below, d);
        for (int j = 0; j < k; j++)
            note(&r->srcs[e->src], e->sku, e->item, e->loc->code, e->table[d[j].kind], &d[j]);
    }
    return 0;
}

/* ---- one comparison of every selected source ------------------------------------- */

static void run_release(struct run *r)
{
    for (size_t i = 0; i < r->nexpect; i++) {
        free(r->expect[i].sku);
        free(r->expect[i].item);
    }
    free(r->expect);
    r->expect = NULL;
    r->nexpect = r->capexpect = 0;
    for (size_t i = 0; r->srcs && i < r->nsrcs; i++) free(r->srcs[i].tables);
    free(r->srcs);
    r->srcs = NULL;
    mapping_release(&r->mapping);
}

static int by_finding(const void *a, const void *b)
{
    const struct finding *x = a, *y = b;
    int c = strcmp(x->sku[0] ? x->sku : x->item, y->sku[0] ? y->sku : y->item);
    if (!c) c = strcmp(x->location, y->location);
    return c ? c : x->d.kind - y->d.kind;
}

/* Where Redis must agree, and what the reader must confirm first (see the top). */
static void set_points(struct source_run *s)
{
    const struct snapread_point *p = &s->point;
    if (s->src->type == CONFIG_SOURCE_MARIADB && p->exact)
        positions_format(p->before + 1, 0, s->compare_below);
    else
        positions_format(p->before, 0, s->compare_below);
    positions_format(p->before, 0, s->stale_below);
    s->confirm_at = p->after;
}

static int compare_all(struct run *r, const struct config *cfg, struct store *store,
                       redisContext *redis, const struct config_source *const *srcs, size_t n,
                       int quiet, long timeout_s)
{
    memset(r, 0, sizeof *r);
    r->cfg = cfg;
    r->redis = redis;
    r->quiet = quiet;
    r->nsrcs = n;
    if (mapping_init(&r->mapping, cfg, r->err, sizeof r->err) != 0) return -1;
    r->srcs = calloc(n ? n : 1, sizeof *r->srcs);
    if (!r->srcs) goto oom;
    for (size_t i = 0; i < n; i++) {
        r->srcs[i].src = srcs[i];
        r->srcs[i].tables = calloc(srcs[i]->ntables ? srcs[i]->ntables : 1,
                                   sizeof *r->srcs[i].tables);
        if (!r->srcs[i].tables) goto oom;
    }
    for (r->cur = 0; r->cur < n; r->cur++) {
        struct source_run *s = &r->srcs[r->cur];
        r->table = NULL;
        progress_init(&r->bar, "reading", "rows", quiet);
        int rc = snapread_source(s->src, &s->point, on_table, on_row, r, r->err, sizeof r->err);
        if (rc == 0) table_read(r);
        progress_done(&r->bar);
        if (rc != 0) return -1;
        set_points(s);
    }
    /* Redis holds everything the snapshots hold, crosswalk changes included, once the
       readers confirmed the snapshots' positions: translate and compare after that */
    long long deadline = progress_now_ms() + (long long)timeout_s * 1000;
    for (size_t i = 0; i < n; i++)
        if (srcstatus_wait_confirmed(store, r->srcs[i].src, r->srcs[i].confirm_at, deadline,
                                     quiet, r->err, sizeof r->err) != 0)
            return -1;
    if (translate(r) != 0) return -1;
    fold(r);
    if (compare_redis(r) != 0) return -1;
    for (size_t i = 0; i < n; i++) /* listed in order, not as found */
        qsort(r->srcs[i].found, r->srcs[i].nfound, sizeof r->srcs[i].found[0], by_finding);
    return 0;
oom:
    snprintf(r->err, sizeof r->err, "out of memory");
    return -1;
}

static long long total_differences(const struct run *r)
{
    long long n = 0;
    for (size_t i = 0; i < r->nsrcs; i++) n += r->srcs[i].differences;
    return n;
}

/* ---- report ------------------------------------------------------------------------ */

static json_t *finding_json(const struct finding *f)
{
    json_t *o = json_pack("{s:s?, s:s?, s:s, s:s?, s:s, s:s, s:s?}", "sku", f->sku[0] ? f->sku : NULL,
                          "item", f->item[0] ? f->item : NULL, "location", f->location, "kind",
                          f->d.kind >= 0 ? config_quantity_name((enum config_quantity)f->d.kind)
                                         : NULL,
                          "problem", drift_problem_name(f->d.problem), "text",
                          drift_problem_text(f->d.problem), "redis_position",
                          f->d.redis_position[0] ? f->d.redis_position : NULL);
    if (!o) return NULL;
    json_object_set_new(o, "source_value",
                        f->d.has_source_value ? json_integer(f->d.source_value) : json_null());
    json_object_set_new(o, "redis_value",
                        f->d.has_redis_value ? json_integer(f->d.redis_value) : json_null());
    if (f->table) {
        char name[300];
        snprintf(name, sizeof name, "%s.%s", f->table->schema, f->table->name);
        json_object_set_new(o, "table", json_string(name));
    }
    return o;
}

static json_t *source_json(const struct source_run *s, size_t show)
{
    char before[64], after[64];
    positions_describe(s->src->type, s->point.before, before, sizeof before);
    positions_describe(s->src->type, s->point.after, after, sizeof after);
    json_t *tables = json_array(), *shown = json_array();
    for (size_t i = 0; tables && i < s->src->ntables; i++) {
        const struct config_table *t = &s->src->tables[i];
        if (t->defines_crosswalk) continue;
        const struct table_count *tc = &s->tables[i];
        char name[300];
        snprintf(name, sizeof name, "%s.%s", t->schema, t->name);
        json_array_append_new(tables, json_pack("{s:s, s:I, s:I, s:s?, s:I}", "table", name,
                                                "rows", (json_int_t)tc->rows, "unmappable",
                                                (json_int_t)tc->unmappable, "first_unmappable",
                                                tc->first_unmappable[0] ? tc->first_unmappable
                                                                        : NULL,
                                                "differences", (json_int_t)tc->differences));
    }
    for (size_t i = 0; shown && i < s->nfound && i < show; i++)
        json_array_append_new(shown, finding_json(&s->found[i]));
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:b}, s:I, s:I, s:I, s:I, s:o, s:o}", "source",
                     s->src->name, "type",
                     s->src->type == CONFIG_SOURCE_POSTGRES ? "postgresql" : "mariadb", "point",
                     "before", before, "after", after, "compared_below", s->compare_below,
                     "exact", s->point.exact, "rows", (json_int_t)s->rows, "figures",
                     (json_int_t)s->figures, "differences", (json_int_t)s->differences,
                     "ambiguous", (json_int_t)s->ambiguous, "tables", tables, "shown", shown);
}

static void value_text(int has, long long v, char *buf, size_t len)
{
    if (has) snprintf(buf, len, "%lld", v);
    else snprintf(buf, len, "-");
}

static void print_source(const struct source_run *s, size_t show)
{
    char before[64];
    positions_describe(s->src->type, s->point.before, before, sizeof before);
    size_t ntables = 0;
    for (size_t i = 0; i < s->src->ntables; i++) ntables += !s->src->tables[i].defines_crosswalk;
    printf("%s (%s) read at %s: %lld row%s from %zu table%s, %lld figure%s; %lld difference%s\n",
           s->src->name, s->src->type == CONFIG_SOURCE_POSTGRES ? "postgresql" : "mariadb",
           before, s->rows, s->rows == 1 ? "" : "s", ntables, ntables == 1 ? "" : "s",
           s->figures, s->figures == 1 ? "" : "s", s->differences,
           s->differences == 1 ? "" : "s");
    for (size_t i = 0; i < s->src->ntables; i++) {
        const struct config_table *t = &s->src->tables[i];
        if (t->defines_crosswalk) continue;
        const struct table_count *tc = &s->tables[i];
        char name[300];
        snprintf(name, sizeof name, "%s.%s", t->schema, t->name);
        printf("  %-28s %lld rows, %lld not mappable, %lld difference%s\n", name, tc->rows,
               tc->unmappable, tc->differences, tc->differences == 1 ? "" : "s");
        if (tc->unmappable)
            printf("  %-28s (the merge sends them to the DLQ; the first: %s)\n", "",
                   tc->first_unmappable);
    }
    if (s->ambiguous)
        printf("  %lld figure%s given by several rows of the source not compared\n", s->ambiguous,
               s->ambiguous == 1 ? "" : "s");
    if (s->unreadable)
        printf("  %lld figure%s in Redis not readable (not the v3 layout), the first: %s\n",
               s->unreadable, s->unreadable == 1 ? "" : "s", s->first_unreadable);
    if (!s->nfound || !show) return;
    printf("  %-16s %-10s %-11s %-38s %8s %8s  %s\n", "sku", "location", "kind", "problem",
           "source", "redis", "redis position");
    for (size_t i = 0; i < s->nfound && i < show; i++) {
        const struct finding *f = &s->found[i];
        char sv[32], rv[32], who[300];
        value_text(f->d.has_source_value, f->d.source_value, sv, sizeof sv);
        value_text(f->d.has_redis_value, f->d.redis_value, rv, sizeof rv);
        if (f->item[0] && !f->sku[0]) snprintf(who, sizeof who, "item %s", f->item);
        else snprintf(who, sizeof who, "%s", f->sku);
        printf("  %-16s %-10s %-11s %-38s %8s %8s  %s\n", who, f->location,
               f->d.kind >= 0 ? config_quantity_name((enum config_quantity)f->d.kind) : "-",
               drift_problem_text(f->d.problem), sv, rv,
               f->d.redis_position[0] ? f->d.redis_position : "-");
    }
    if (s->differences > (long long)show && show)
        printf("  … and %lld more\n", s->differences - (long long)(s->nfound < show ? s->nfound : show));
}

/* ---- alerts ------------------------------------------------------------------------ */

/* Raises (differences) or clears (none) the source's drift alert; adds what happened
 * to the source's JSON (may be NULL) and says it on stdout unless quiet. 0 or -1. */
static int alert_source(const struct config *cfg, struct alerts *a, const struct source_run *s,
                        json_t *sj, int quiet)
{
    char key[ALERT_KEY_MAX], summary[600];
    snprintf(key, sizeof key, "reconcile_drift|%s", s->src->name);
    int64_t now = progress_now_ms();
    struct alert al = {0};
    enum alert_transition t = ALERT_NONE;
    if (!s->differences) {
        if (alerts_clear(a, key, now, &al, &t) != 0) return -1;
        if (t == ALERT_RESOLVED) {
            if (!quiet) printf("alert %" PRId64 " (%s) resolved: no difference any more\n", al.id, key);
            if (sj) json_object_set_new(sj, "alert", json_pack("{s:I, s:s}", "id", (json_int_t)al.id,
                                                               "transition", "resolved"));
            alert_release(&al);
        }
        return 0;
    }
    const struct finding *f = &s->found[0];
    char first[400];
    if (f->d.kind >= 0)
        snprintf(first, sizeof first, "%s at %s, %s: %s", f->sku, f->location,
                 config_quantity_name((enum config_quantity)f->d.kind),
                 drift_problem_text(f->d.problem));
    else
        snprintf(first, sizeof first, "item %s at %s: %s", f->item, f->location,
                 drift_problem_text(f->d.problem));
    snprintf(summary, sizeof summary,
             "reconcile found %lld difference%s between source %s and the unified layer "
             "(first: %s)",
             s->differences, s->differences == 1 ? "" : "s", s->src->name, first);
    json_t *details = source_json(s, RECONCILE_KEEP);
    char *text = details ? json_dumps(details, JSON_COMPACT) : NULL;
    json_decref(details);
    struct alert_input in = {.rule = "reconcile_drift", .key = key, .severity = "warning",
                             .source = s->src->name, .summary = summary, .details = text,
                             .contacts = (const char *const *)cfg->rules.contacts,
                             .ncontacts = cfg->rules.ncontacts};
    int rc = text ? alerts_raise(a, &in, now, &al, &t) : -1;
    free(text);
    if (rc != 0) return -1;
    const char *what = t == ALERT_OPENED ? "opened" : "updated";
    if (!quiet) printf("alert %" PRId64 " (%s) %s: %s\n", al.id, key, what, summary);
    if (sj) json_object_set_new(sj, "alert", json_pack("{s:I, s:s}", "id", (json_int_t)al.id,
                                                       "transition", what));
    alert_release(&al);
    return 0;
}

/* ---- repair ------------------------------------------------------------------------- */

static void add_table(struct srcstatus_table *list, size_t *n, const struct config_source *src,
                      const struct config_table *t)
{
    for (size_t i = 0; i < *n; i++)
        if (list[i].table == t) return;
    list[(*n)++] = (struct srcstatus_table){.src = src, .table = t};
}

/* Reads again what differs and rebuilds. Fills the repair object. 0, or -1 with err. */
static int repair(const struct config *cfg, struct store *store, redisContext *redis,
                  const struct run *r, long timeout_s, int quiet, json_t *out, char *err,
                  size_t errlen)
{
    size_t cap = 0;
    for (size_t i = 0; i < cfg->nsources; i++) cap += cfg->sources[i].ntables;
    struct srcstatus_table *tables = calloc(cap ? cap : 1, sizeof *tables);
    struct rebuild_cutoff *cutoffs = calloc(r->nsrcs ? r->nsrcs : 1, sizeof *cutoffs);
    struct rebuild_plan *plan = NULL;
    char **skus = NULL;
    size_t ntables = 0, ncutoffs = 0, nskus = 0;
    int rc = -1;
    if (!tables || !cutoffs) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < r->nsrcs; i++) {
        const struct source_run *s = &r->srcs[i];
        if (!s->differences) continue;
        for (size_t t = 0; t < s->src->ntables; t++) {
            const struct config_table *tb = &s->src->tables[t];
            if (tb->defines_crosswalk) continue;
            /* dropping by cutoff is only right once every table was read again */
            if (s->missed_delete || s->tables[t].differences) add_table(tables, &ntables, s->src, tb);
            if (s->tables[t].unknown_items && tb->crosswalk) {
                const struct config_source *xsrc = NULL;
                const struct config_table *xt = config_crosswalk(cfg, tb->crosswalk, &xsrc);
                if (xt) add_table(tables, &ntables, xsrc, xt);
            }
        }
        if (s->missed_delete) {
            cutoffs[ncutoffs].source = s->src->name;
            memcpy(cutoffs[ncutoffs].below, s->stale_below, sizeof cutoffs[ncutoffs].below);
            ncutoffs++;
        }
    }
    json_t *names = json_array();
    for (size_t i = 0; i < ntables; i++) {
        char name[400];
        snprintf(name, sizeof name, "%s %s.%s", tables[i].src->name, tables[i].table->schema,
                 tables[i].table->name);
        json_array_append_new(names, json_string(name));
        if (!quiet) printf("%s%s", i ? ", " : "repair: reading again ", name);
    }
    json_object_set_new(out, "tables", names);
    if (!quiet) {
        printf("\n");
        fflush(stdout);
    }
    if (srcstatus_resnapshot(store, tables, ntables, timeout_s, quiet, err, errlen) != 0) goto out;
    if (redisconn_need_library(redis, err, errlen) != 0 ||
        redisconn_list_skus(redis, &skus, &nskus, err, errlen) != 0 ||
        !(plan = rebuild_plan_new(cfg, cutoffs, ncutoffs, err, errlen)))
        goto out;
    struct rebuild_totals t = {0};
    if (rebuild_skus(redis, plan, skus, nskus, quiet, &t, err, errlen) != 0) goto out;
    json_object_set_new(out, "rebuilt_skus", json_integer((json_int_t)t.skus));
    json_object_set_new(out, "dropped", json_integer(t.dropped));
    json_object_set_new(out, "availability_changes", json_integer(t.changes));
    if (!quiet)
        printf("repair: rebuilt %zu SKU%s: %lld fact%s dropped (gone from their source), %lld "
               "availabilit%s changed (the push role delivers them)\n",
               t.skus, t.skus == 1 ? "" : "s", t.dropped, t.dropped == 1 ? "" : "s", t.changes,
               t.changes == 1 ? "y" : "ies");
    if (t.failed) {
        snprintf(err, errlen, "Redis refused to rebuild %zu SKU%s; the first: %s", t.failed,
                 t.failed == 1 ? "" : "s", t.first_error);
        goto out;
    }
    rc = 0;
out:
    rebuild_plan_free(plan);
    redisconn_free_list(skus, nskus);
    free(cutoffs);
    free(tables);
    return rc;
}

/* ---- the command -------------------------------------------------------------------- */

int reconcile_run(const struct config *cfg, struct store *store,
                  const struct reconcile_options *o)
{
    const struct config_source **srcs = NULL;
    size_t n = 0;
    char err[2000];
    if (srcstatus_select(cfg, o->sources, o->nsources, &srcs, &n, err, sizeof err) != 0) {
        fprintf(stderr, "stockmesh reconcile: %s\n", err);
        return 2;
    }
    int status = 1, quiet = o->as_json;
    size_t show = o->show > RECONCILE_KEEP ? RECONCILE_KEEP : o->show;
    struct run r = {0}, again = {0};
    struct alerts *alerts = NULL;
    json_t *doc = json_pack("{s:[], s:I, s:n}", "sources", "differences", (json_int_t)0, "repair");
    redisContext *redis = redisconn_open(cfg, err, sizeof err);
    if (!redis || !doc) {
        fprintf(stderr, "stockmesh reconcile: %s\n", redis ? "out of memory" : err);
        goto out;
    }
    if (!(alerts = alerts_new(store, err, sizeof err))) {
        fprintf(stderr, "stockmesh reconcile: cannot open the alert store: %s\n", err);
        goto out;
    }
    if (compare_all(&r, cfg, store, redis, srcs, n, quiet, o->timeout_s) != 0) {
        fprintf(stderr, "stockmesh reconcile: %s\n", r.err);
        goto out;
    }
    long long found = total_differences(&r);
    json_object_set_new(doc, "differences", json_integer(found));
    for (size_t i = 0; i < r.nsrcs; i++) {
        json_t *sj = source_json(&r.srcs[i], o->as_json ? RECONCILE_KEEP : show);
        if (!quiet) print_source(&r.srcs[i], show);
        if (alert_source(cfg, alerts, &r.srcs[i], sj, quiet) != 0) {
            fprintf(stderr, "stockmesh reconcile: cannot record the drift alert of %s: %s\n",
                    r.srcs[i].src->name, alerts_errstr(alerts));
            json_decref(sj);
            goto out;
        }
        json_array_append_new(json_object_get(doc, "sources"), sj);
    }
    if (found && o->repair) {
        json_t *rep = json_object();
        json_object_set_new(doc, "repair", rep);
        if (repair(cfg, store, redis, &r, o->timeout_s, quiet, rep, err, sizeof err) != 0) {
            fprintf(stderr, "stockmesh reconcile: repair failed: %s\n", err);
            goto out;
        }
        /* the same comparison again: what the repair did not fix */
        if (!quiet) {
            printf("comparing again\n");
            fflush(stdout);
        }
        if (compare_all(&again, cfg, store, redis, srcs, n, quiet, o->timeout_s) != 0) {
            fprintf(stderr, "stockmesh reconcile: comparing after the repair: %s\n", again.err);
            goto out;
        }
        long long remaining = total_differences(&again);
        json_object_set_new(rep, "remaining", json_integer(remaining));
        if (!quiet) {
            printf("after the repair: %lld difference%s remain%s\n", remaining,
                   remaining == 1 ? "" : "s", remaining == 1 ? "s" : "");
            for (size_t i = 0; remaining && i < again.nsrcs; i++) print_source(&again.srcs[i], show);
        }
    } else if (found && !quiet) {
        printf("not repaired (--no-repair); `stockmesh reconcile` without it reads the tables "
               "concerned again and rebuilds\n");
    }
    if (!quiet)
        printf("reconcile: %lld difference%s found\n", found, found == 1 ? "" : "s");
    status = found ? RECONCILE_DRIFT : 0;
out:
    if (o->as_json && doc && status != 1) {
        char *text = json_dumps(doc, JSON_INDENT(2));
        if (text) printf("%s\n", text);
        free(text);
    }
    json_decref(doc);
    run_release(&r);
    run_release(&again);
    alerts_free(alerts);
    if (redis) redisFree(redis);
    free(srcs);
    return status;
}
