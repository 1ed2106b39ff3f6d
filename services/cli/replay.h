/* replay.h — `stockmesh replay`: rebuilds the unified layer from a fresh snapshot.
 * Each selected source is read again completely (a re-snapshot of every table, taken
 * by its reader DBLog-style, ordered with the stream) and applied by the merge; then
 * every SKU is rebuilt under the current configuration, and what the source did not
 * show again — rows deleted while a change was missed — is dropped. With
 * --rebuild-only the sources are not read again: the way to apply a configuration
 * change (safety stock, channel membership, authority) to the stock in Redis. */
#ifndef STOCKMESH_CLI_REPLAY_H
#define STOCKMESH_CLI_REPLAY_H

#include <stddef.h>

struct config;
struct store;

struct replay_options {
    const char *const *sources;  /* names given with --source; none: every source */
    size_t nsources;
    int rebuild_only;
    long timeout_s;              /* for the re-read */
};

/* Runs the replay (store may be NULL with rebuild_only). Returns the exit status: 0,
 * 1 (unreachable, a source not running, timeout, Redis refused SKUs), 2 (an unknown
 * source name). */
int replay_run(const struct config *cfg, struct store *store, const struct replay_options *o);

#endif
