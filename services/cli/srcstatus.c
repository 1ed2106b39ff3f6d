/* srcstatus.c — see srcstatus.h. */
#include "srcstatus.h"

#include "console/sources.h"
#include "positions.h"
#include "progress.h"
#include "stockmesh/store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_MS 250

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static long long number_or(const json_t *o, const char *key, long long fallback)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? (long long)json_number_value(v) : fallback;
}

static const char *string_or(const json_t *o, const char *key, const char *fallback)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : fallback;
}

/* 1 when the reader recorded the requested re-read of the table as applied downstream
 * (its last chunk confirmed to the source) at or after since_ms: that record, not a
 * status that may predate the re-read or outlive a failed one, is what allows dropping
 * figures the re-read did not see. */
static int reread_complete(struct store *store, const struct config_source *src,
                           const struct config_table *t, long long since_ms)
{
    char scope[160], key[400], value[32];
    snprintf(scope, sizeof scope, "source:%s", src->name);
    snprintf(key, sizeof key, "snapshot.done.%s.%s", t->schema, t->name);
    return store_get(store, scope, key, value, sizeof value) == 0 &&
           strtoll(value, NULL, 10) >= since_ms;
}


int srcstatus_select(const struct config *cfg, const char *const *names, size_t n,
                     const struct config_source ***out, size_t *nout, char *err,
                     size_t errlen)
{
    size_t want = n ? n : cfg->nsources;
    const struct config_source **list = calloc(want ? want : 1, sizeof *list);
    if (!list) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < want; i++) {
        const struct config_source *s = n ? config_source(cfg, names[i]) : &cfg->sources[i];
        if (!s) {
            char known[1000];
            sources_name_list(cfg, known, sizeof known);
            snprintf(err, errlen, "no source named \"%s\" in %s (configured sources: %s)",
                     names[i], cfg->path, known);
            free(list);
            return -1;
        }
        size_t j = 0;
        while (j < k && list[j] != s) j++;
        if (j == k) list[k++] = s;
    }
    *out = list;
    *nout = k;
    return 0;
}

int srcstatus_confirmed(struct store *store, const struct config_source *src, uint64_t *value,
                        char *err, size_t errlen)
{
    long long now = sources_now_ms();
    json_t *status = sources_status(store, src, now);
    if (!status) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = -1;
    const char *confirmed = string_or(status, "confirmed_position", NULL);
    if (json_is_string(json_object_get(status, "status_error")))
        snprintf(err, errlen, "source %s: %s", src->name, string_or(status, "status_error", ""));
    else if (json_is_true(json_object_get(status, "stale")))
        snprintf(err, errlen, "source %s: its reader is not running (%s); start the cdc role "
                              "of stockmeshd first",
                 src->name, json_is_number(json_object_get(status, "updated_ms"))
                                ? "no status for more than 10 s"
                                : "it never reported");
    else if (!confirmed || positions_parse(src->type, confirmed, value) != 0)
        snprintf(err, errlen, "source %s: its reader reports no confirmed position yet (%s)",
                 src->name, confirmed ? confirmed : "none");
    else
        rc = 0;
    json_decref(status);
    return rc;
}

/* The entry of tables in a status for t; NULL when not reported. */
static const json_t *table_entry(const json_t *status, const struct config_table *t)
{
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(status, "tables"), i, e)
        if (strcmp(string_or(e, "schema", ""), t->schema) == 0 &&
            strcmp(string_or(e, "name", ""), t->name) == 0)
            return e;
    return NULL;
}

struct follow {
    long long taken_ms;      /* 0 while the reader has not taken the request */
    int done;
    long long rows_total;    /* the largest total seen, for a table already done */
    char state[32];
};

/* Rows read of rows to read while the readers report them; a snapshot too quick to be
 * seen in a status is counted in tables instead. */
static void show_progress(struct progress *bar, long long rows_done, long long rows_total,
                          size_t tables_done, size_t tables, const char *note, int force)
{
    int by_rows = rows_total > 0;
    snprintf(bar->unit, sizeof bar->unit, "%s", by_rows ? "rows" : "tables");
    progress_update(bar, by_rows ? rows_done : (long long)tables_done,
                    by_rows ? rows_total : (long long)tables, note, force);
}

/* Distinct sources of the tables, in order. */
static size_t distinct_sources(const struct srcstatus_table *tables, size_t n,
                               const struct config_source **out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < k && out[j] != tables[i].src) j++;
        if (j == k) out[k++] = tables[i].src;
    }
    return k;
}

int srcstatus_resnapshot(struct store *store, const struct srcstatus_table *tables, size_t n,
                         long timeout_s, int quiet, char *err, size_t errlen)
{
    if (n == 0) return 0;
    struct follow *f = calloc(n, sizeof *f);
    const struct config_source **srcs = calloc(n, sizeof *srcs);
    json_t **status = calloc(n, sizeof *status);
    if (!f || !srcs || !status) {
        free(f);
        free(srcs);
        free(status);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t nsrcs = distinct_sources(tables, n, srcs);
    int rc = -1;
    long long started = sources_now_ms(), deadline = started + (long long)timeout_s * 1000;
    for (size_t i = 0; i < n; i++) {
        if (sources_request_snapshot(store, tables[i].src, tables[i].table, started, err,
                                     errlen) != 0)
            goto out;
    }
    struct progress bar;
    progress_init(&bar, "re-reading", "rows", quiet);
    long long all_done_ms = 0;
    for (;;) {
        long long now = sources_now_ms();
        for (size_t j = 0; j < nsrcs; j++) {
            json_decref(status[j]);
            if (!(status[j] = sources_status(store, srcs[j], now))) {
                progress_done(&bar);
                snprintf(err, errlen, "out of memory");
                goto out;
            }
        }
        long long rows_done = 0, rows_total = 0;
        size_t ndone = 0;
        for (size_t i = 0; i < n; i++) {
            const struct srcstatus_table *t = &tables[i];
            if (!f[i].taken_ms) {
                int pending = sources_snapshot_pending(store, t->src, t->table, err, errlen);
                if (pending < 0) {
                    progress_done(&bar);
                    goto out;
                }
                if (!pending) f[i].taken_ms = now;
            }
            size_t j = 0;
            while (srcs[j] != t->src) j++;
            const json_t *e = table_entry(status[j], t->table);
            const char *state = e ? string_or(e, "state", "unknown") : "unknown";
            snprintf(f[i].state, sizeof f[i].state, "%s", state);
            const json_t *snap = e ? json_object_get(e, "snapshot") : NULL;
            long long done = number_or(snap, "rows_done", 0), total = number_or(snap, "rows_total", 0);
            long long updated = number_or(status[j], "updated_ms", 0);
            if (f[i].taken_ms && !f[i].done && updated >= f[i].taken_ms) {
                if (!strcmp(state, "parked")) {
                    progress_done(&bar);
                    snprintf(err, errlen, "%s.%s of source %s was parked during its snapshot: %s",
                             t->table->schema, t->table->name, t->src->name,
                             string_or(e, "parked_reason", "no reason given"));
                    goto out;
                }
                if (!strcmp(state, "streaming") &&
                    reread_complete(store, t->src, t->table, started))
                    f[i].done = 1;
            }
            if (f[i].taken_ms && !strcmp(state, "snapshot") && !f[i].done) {
                if (total > f[i].rows_total) f[i].rows_total = total;
                rows_done += done;
                rows_total += total > done ? total : done;
            } else if (f[i].done) {
                rows_done += f[i].rows_total;
                rows_total += f[i].rows_total;
            }
            ndone += f[i].done;
        }
        char note[600];
        if (ndone < n) {
            size_t waiting = 0;
            for (size_t i = 0; i < n; i++) waiting += !f[i].taken_ms;
            if (waiting)
                snprintf(note, sizeof note, "%zu of %zu tables done, %zu waiting for their reader",
                         ndone, n, waiting);
            else
                snprintf(note, sizeof note, "%zu of %zu tables done", ndone, n);
        } else {
            if (!all_done_ms) all_done_ms = now;
            /* the re-read rows are on their way: done once the merge applied them all */
            long long unapplied = 0;
            int settled = 1;
            for (size_t j = 0; j < nsrcs; j++) {
                long long u = number_or(status[j], "unapplied", -1);
                if (number_or(status[j], "updated_ms", 0) < all_done_ms || u != 0 ||
                    strcmp(string_or(status[j], "state", ""), "streaming") != 0)
                    settled = 0;
                if (u > 0) unapplied += u;
            }
            if (settled) {
                show_progress(&bar, rows_done, rows_total, ndone, n, "applied", 1);
                progress_done(&bar);
                rc = 0;
                goto out;
            }
            snprintf(note, sizeof note, "all %zu tables read, the merge has %lld events to apply",
                     n, unapplied);
        }
        for (size_t j = 0; j < nsrcs; j++) {
            if (json_is_true(json_object_get(status[j], "stale"))) {
                size_t used = strlen(note);
                snprintf(note + used, sizeof note - used, " (no report from the reader of %s)",
                         srcs[j]->name);
            }
        }
        show_progress(&bar, rows_done, rows_total, ndone, n, note, 0);
        if (now >= deadline) {
            progress_done(&bar);
            int used = snprintf(err, errlen, "gave up after %ld s waiting for the re-read:", timeout_s);
            for (size_t i = 0; i < n && used > 0 && (size_t)used < errlen; i++) {
                if (f[i].done) continue;
                used += snprintf(err + used, errlen - (size_t)used, " %s %s.%s %s;",
                                 tables[i].src->name, tables[i].table->schema,
                                 tables[i].table->name,
                                 f[i].taken_ms ? f[i].state : "not taken by its reader");
            }
            if (used > 0 && (size_t)used < errlen)
                snprintf(err + used, errlen - (size_t)used, " %s",
                         ndone == n ? "the merge has not applied everything yet"
                                    : "the readers go on with it");
            goto out;
        }
        sleep_ms(POLL_MS);
    }
out:
    for (size_t j = 0; j < nsrcs; j++) json_decref(status[j]);
    free(status);
    free(srcs);
    free(f);
    return rc;
}

/* 1 when no reader reports for src (no status, or none for SOURCES_STALE_MS). */
static int reader_absent(struct store *store, const struct config_source *src)
{
    json_t *status = sources_status(store, src, sources_now_ms());
    int absent = !status || json_is_true(json_object_get(status, "stale"));
    json_decref(status);
    return absent;
}

int srcstatus_wait_confirmed(struct store *store, const struct config_source *src,
                             uint64_t want, long long deadline_ms, int quiet, char *err,
                             size_t errlen)
{
    char label[160], want_text[64];
    positions_describe(src->type, want, want_text, sizeof want_text);
    snprintf(label, sizeof label, "waiting for %s to confirm %s", src->name, want_text);
    struct progress bar;
    progress_init(&bar, label, "", quiet);
    for (;;) {
        uint64_t have = 0;
        char why[512];
        int rc = srcstatus_confirmed(store, src, &have, why, sizeof why);
        if (rc == 0 && have >= want) {
            progress_done(&bar);
            return 0;
        }
        if (rc != 0 && reader_absent(store, src)) {
            /* nobody will confirm anything: say so now, not after the timeout */
            progress_done(&bar);
            snprintf(err, errlen, "%s", why);
            return -1;
        }
        char note[600];
        if (rc == 0) {
            char have_text[64];
            positions_describe(src->type, have, have_text, sizeof have_text);
            snprintf(note, sizeof note, "confirmed %s", have_text);
        } else {
            snprintf(note, sizeof note, "%s", why);
        }
        progress_update(&bar, 0, -1, note, 0);
        if (sources_now_ms() >= deadline_ms) {
            progress_done(&bar);
            snprintf(err, errlen, "source %s: its reader did not confirm %s in time (%s)",
                     src->name, want_text, note);
            return -1;
        }
        sleep_ms(POLL_MS);
    }
}
