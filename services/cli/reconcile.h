/* reconcile.h — `stockmesh reconcile`: anti-entropy between the sources and the
 * unified layer (DESIGN §4). Each selected source is read in one consistent snapshot,
 * its rows mapped to facts as the merge maps them, and — once its reader has confirmed
 * everything the snapshot holds — compared with Redis figure by figure. Differences
 * are reported, raise one alert per source ("reconcile_drift|<source>"; a clean run
 * resolves it), and are repaired unless --no-repair: the tables concerned are read
 * again by their reader (DBLog-style, ordered with the stream), and the unified layer
 * is rebuilt with the source's point as the cutoff, so a missed delete is dropped.
 * A second comparison then says what remains. */
#ifndef STOCKMESH_CLI_RECONCILE_H
#define STOCKMESH_CLI_RECONCILE_H

#include <stddef.h>

struct config;
struct store;

/* Exit status when differences were found (whether or not they were repaired). */
#define RECONCILE_DRIFT 4

/* Differences listed per source: in an alert's details and, at most, on screen. */
#define RECONCILE_KEEP 50

struct reconcile_options {
    const char *const *sources;  /* names given with --source; none: every source */
    size_t nsources;
    int repair;                  /* read again and rebuild what differs */
    int as_json;                 /* one JSON document on stdout, no progress */
    long timeout_s;              /* per wait: confirmation, re-read */
    size_t show;                 /* differences printed (text), at most RECONCILE_KEEP */
};

/* Runs the reconcile. Returns the exit status: 0 no difference, RECONCILE_DRIFT
 * differences found, 1 runtime error (unreachable, timeout), 2 unknown source. */
int reconcile_run(const struct config *cfg, struct store *store,
                  const struct reconcile_options *o);

#endif
