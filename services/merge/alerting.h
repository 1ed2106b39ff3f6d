/* alerting.h — the merge role's side of the alert rules (DESIGN §6): it remembers in
 * Redis which (sku, location) conditions the merge function reported, and once one
 * has lasted rules.mismatch_grace_s with the sources drained it asks again and raises
 * an alert — in the alert store, routed to the location's ops contacts, and on
 * stockmesh.alerts. A condition that clears resolves its alert by itself. It also
 * watches each source's status for the stale-source rule. */
#ifndef STOCKMESH_ALERTING_H
#define STOCKMESH_ALERTING_H

#include <stddef.h>

struct runtime;
struct redis;
struct kafka_producer;
struct stock_fact;
struct alerting;

/* Starts the rule sweeps on the merge's Redis connection and producer (both
 * borrowed). NULL with err. */
struct alerting *alerting_new(struct runtime *rt, struct redis *redis,
                              struct kafka_producer *producer, char *err, size_t errlen);

/* Stops the sweeps; NULL is fine. */
void alerting_free(struct alerting *al);

/* What the merge function reported for a fact's location: the rule flags before and
 * after it, whether the fact was new, and the mismatch description. */
void alerting_note(struct alerting *al, const struct stock_fact *f, unsigned before,
                   unsigned after, int applied, const char *detail);

#endif
