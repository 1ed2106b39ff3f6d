/* srcstatus.h — the CDC readers followed through the state database (the status each
 * writes every second, the re-snapshot requests it takes; console/sources.h): what a
 * reader has confirmed, and re-snapshots requested and followed to their end, for the
 * commands that rebuild and repair the unified layer. */
#ifndef STOCKMESH_CLI_SRCSTATUS_H
#define STOCKMESH_CLI_SRCSTATUS_H

#include "stockmesh/config.h"

#include <stddef.h>
#include <stdint.h>

struct store;

/* One table to read again. */
struct srcstatus_table {
    const struct config_source *src;
    const struct config_table *table;
};

/* The sources a command works on: those named (duplicates once), or every configured
 * one when n is 0, into a new array (*out, caller frees) of *nout. 0, or -1 with an
 * unknown name and the configured ones in err. */
int srcstatus_select(const struct config *cfg, const char *const *names, size_t n,
                     const struct config_source ***out, size_t *nout, char *err,
                     size_t errlen);

/* The position src's reader last confirmed (positions_parse() of confirmed_position)
 * into *value. 0, or -1 with the reason in err: no status, a status older than
 * SOURCES_STALE_MS (no reader runs), no position in it. */
int srcstatus_confirmed(struct store *store, const struct config_source *src, uint64_t *value,
                        char *err, size_t errlen);

/* Requests a re-snapshot of each table (as `stockmesh snapshot` does) and follows them,
 * with a progress bar over the rows read unless quiet, until every one streams again
 * and each of their sources reports nothing left unapplied by the merge. 0, or -1 with
 * the reason in err (a table parked, timeout_s passed). */
int srcstatus_resnapshot(struct store *store, const struct srcstatus_table *tables, size_t n,
                         long timeout_s, int quiet, char *err, size_t errlen);

/* Waits until src's reader has confirmed at least want (so Redis holds everything
 * committed before it), giving up at deadline_ms (unix ms). 0, or -1 with err. */
int srcstatus_wait_confirmed(struct store *store, const struct config_source *src,
                             uint64_t want, long long deadline_ms, int quiet, char *err,
                             size_t errlen);

#endif
