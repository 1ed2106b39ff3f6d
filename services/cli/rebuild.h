/* rebuild.h — recomputes the unified layer of every SKU in Redis from the stored
 * figures under the current configuration (FCALL stockmesh_rebuild, pipelined): every
 * location row and channel sum, with safety stock, authority and channel membership
 * as configured now, dropping a re-read source's figures that the re-read did not
 * see again. What `stockmesh replay` and `stockmesh reconcile --repair` end with. */
#ifndef STOCKMESH_CLI_REBUILD_H
#define STOCKMESH_CLI_REBUILD_H

#include "stockmesh/config.h"
#include "stockmesh/event.h"

#include <hiredis/hiredis.h>
#include <stddef.h>

/* Calls kept in flight: enough to hide the round trip (PLATFORM-NOTES: 100 in flight
 * reach 40 % of the peak), few enough not to hold up the merge's own calls. */
#define REBUILD_IN_FLIGHT 100

/* A source read again completely: its figures whose newest position is below `below`
 * were not seen again, their rows are gone. */
struct rebuild_cutoff {
    const char *source;                     /* config-owned name */
    char below[EVENT_POSITION_LEN + 1];
};

struct rebuild_totals {
    size_t skus;              /* SKUs rebuilt */
    long long dropped;        /* figures dropped: gone from their source */
    long long changes;        /* channel availabilities that changed */
    size_t skus_changed;      /* SKUs whose version grew */
    size_t failed;            /* SKUs Redis refused to rebuild */
    char first_error[256];    /* why the first of them failed */
};

/* The arguments of FCALL stockmesh_rebuild for every SKU under one configuration;
 * built once, then filled in per SKU. */
struct rebuild_plan;

/* Builds the plan for cfg and the cutoffs (copied; may be 0). NULL with err. */
struct rebuild_plan *rebuild_plan_new(const struct config *cfg,
                                      const struct rebuild_cutoff *cutoffs, size_t ncutoffs,
                                      char *err, size_t errlen);

/* Frees a plan; NULL is fine. */
void rebuild_plan_free(struct rebuild_plan *p);

/* The full command for sku ("FCALL", "stockmesh_rebuild", "2", keys, args…): *argv and
 * *lens point into the plan and stay valid until the next call or rebuild_plan_free().
 * Returns argc, or -1 when sku is too long. */
int rebuild_plan_command(struct rebuild_plan *p, const char *sku, const char ***argv,
                         const size_t **lens);

/* Rebuilds each of the n SKUs, REBUILD_IN_FLIGHT calls at a time, with a progress bar
 * unless quiet, adding to *totals. 0 once every SKU was answered (refusals count in
 * totals->failed), -1 with err when the connection failed. */
int rebuild_skus(redisContext *c, struct rebuild_plan *p, char *const *skus, size_t n,
                 int quiet, struct rebuild_totals *totals, char *err, size_t errlen);

#endif
