/* merge.h — the merge role: change events → stock facts → the unified stock layer in
 * Redis → availability events (DESIGN §1, §3, §4). */
#ifndef STOCKMESH_MERGE_H
#define STOCKMESH_MERGE_H

#include <stddef.h>

struct runtime;
struct merge;

/* Joins the "stockmesh-merge" group on every mapped table's topic and starts merging.
 * NULL with the reason in err. */
struct merge *merge_new(struct runtime *rt, char *err, size_t errlen);

/* Stops merging; work in flight is left for the group to re-deliver. */
void merge_free(struct merge *m);

#endif
