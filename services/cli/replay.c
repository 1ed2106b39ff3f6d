/* replay.c — see replay.h.
 *
 * The cutoff of a source is what its reader had confirmed before the re-read was
 * requested: every row the re-read emits carries a later position (PostgreSQL: its
 * high watermark; MariaDB: its snapshot's GTID, never before the confirmed one), so a
 * figure still below the cutoff afterwards belongs to a row the source no longer has. */
#include "replay.h"

#include "positions.h"
#include "progress.h"
#include "rebuild.h"
#include "redisconn.h"
#include "srcstatus.h"
#include "stockmesh/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads the selected sources again; fills one cutoff per source. 0 or -1 (said). */
static int reread(const struct config *cfg, struct store *store,
                  const struct config_source **srcs, size_t n, long timeout_s,
                  struct rebuild_cutoff *cutoffs)
{
    (void)cfg;
    size_t ntables = 0;
    for (size_t i = 0; i < n; i++) ntables += srcs[i]->ntables;
    struct srcstatus_table *tables = calloc(ntables ? ntables : 1, sizeof *tables);
    if (!tables) {
        fprintf(stderr, "stockmesh: out of memory\n");
        return -1;
    }
    char err[2000];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t confirmed;
        if (srcstatus_confirmed(store, srcs[i], &confirmed, err, sizeof err) != 0) {
            fprintf(stderr, "stockmesh replay: %s\n", err);
            free(tables);
            return -1;
        }
        cutoffs[i].source = srcs[i]->name;
        positions_format(confirmed, 0, cutoffs[i].below);
        char text[64];
        positions_describe(srcs[i]->type, confirmed, text, sizeof text);
        printf("  %s: %zu table%s, confirmed %s: its figures not seen again below %s are "
               "dropped\n",
               srcs[i]->name, srcs[i]->ntables, srcs[i]->ntables == 1 ? "" : "s", text,
               cutoffs[i].below);
        for (size_t t = 0; t < srcs[i]->ntables; t++) {
            tables[k].src = srcs[i];
            tables[k].table = &srcs[i]->tables[t];
            k++;
        }
    }
    fflush(stdout);
    long long started = progress_now_ms();
    int rc = srcstatus_resnapshot(store, tables, ntables, timeout_s, 0, err, sizeof err);
    free(tables);
    if (rc != 0) {
        fprintf(stderr, "stockmesh replay: %s\n", err);
        return -1;
    }
    printf("re-read %zu table%s in %llds; the merge has applied every row\n", ntables,
           ntables == 1 ? "" : "s", (progress_now_ms() - started) / 1000);
    return 0;
}

int replay_run(const struct config *cfg, struct store *store, const struct replay_options *o)
{
    size_t n = 0;
    const struct config_source **srcs = NULL;
    char err[2000];
    if (srcstatus_select(cfg, o->sources, o->nsources, &srcs, &n, err, sizeof err) != 0) {
        fprintf(stderr, "stockmesh replay: %s\n", err);
        return 2;
    }
    int status = 1;
    struct rebuild_cutoff *cutoffs = calloc(n ? n : 1, sizeof *cutoffs);
    redisContext *c = NULL;
    struct rebuild_plan *plan = NULL;
    char **skus = NULL;
    size_t nskus = 0;
    if (!cutoffs) {
        fprintf(stderr, "stockmesh: out of memory\n");
        goto out;
    }
    long long started = progress_now_ms();
    if (!o->rebuild_only) {
        printf("replay: reading %zu source%s again from a fresh snapshot\n", n, n == 1 ? "" : "s");
        fflush(stdout);
        if (reread(cfg, store, srcs, n, o->timeout_s, cutoffs) != 0) goto out;
    } else {
        printf("replay: rebuilding from the figures in Redis under the current configuration "
               "(no source is read again)\n");
    }
    if (!(c = redisconn_open(cfg, err, sizeof err)) ||
        redisconn_need_library(c, err, sizeof err) != 0 ||
        redisconn_list_skus(c, &skus, &nskus, err, sizeof err) != 0 ||
        !(plan = rebuild_plan_new(cfg, cutoffs, o->rebuild_only ? 0 : n, err, sizeof err))) {
        fprintf(stderr, "stockmesh replay: %s\n", err);
        goto out;
    }
    printf("rebuilding %zu SKU%s\n", nskus, nskus == 1 ? "" : "s");
    fflush(stdout);
    struct rebuild_totals t = {0};
    if (rebuild_skus(c, plan, skus, nskus, 0, &t, err, sizeof err) != 0) {
        fprintf(stderr, "stockmesh replay: %s\n", err);
        goto out;
    }
    printf("replay done in %llds: %zu SKU%s rebuilt, %lld fact%s dropped (gone from their "
           "source), %lld availabilit%s changed on %zu SKU%s%s\n",
           (progress_now_ms() - started) / 1000, t.skus, t.skus == 1 ? "" : "s", t.dropped,
           t.dropped == 1 ? "" : "s", t.changes, t.changes == 1 ? "y" : "ies", t.skus_changed,
           t.skus_changed == 1 ? "" : "s",
           t.changes ? " (their versions grew: the push role delivers them to the channels as "
                       "pending)"
                     : "");
    if (t.failed) {
        fprintf(stderr, "stockmesh replay: Redis refused to rebuild %zu SKU%s; the first: %s\n",
                t.failed, t.failed == 1 ? "" : "s", t.first_error);
        goto out;
    }
    status = 0;
out:
    rebuild_plan_free(plan);
    redisconn_free_list(skus, nskus);
    if (c) redisFree(c);
    free(cutoffs);
    free(srcs);
    return status;
}
