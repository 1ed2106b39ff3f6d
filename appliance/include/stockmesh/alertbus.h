/* alertbus.h — an alert transition done once for every role that raises alerts: stored
 * in the alert store (alerts.h), logged, and published on stockmesh.alerts as
 *
 *   {"type":"alert","transition":"opened"|"resolved","alert":{…},"ts_ms":…}
 *
 * keyed by the alert's dedup key. */
#ifndef STOCKMESH_ALERTBUS_H
#define STOCKMESH_ALERTBUS_H

#include "stockmesh/alerts.h"

#include <stddef.h>

struct runtime;
struct kafka_producer;
struct alertbus;

/* Opens the alert store on rt's state database and makes sure the alerts topic exists;
 * publishes through producer (borrowed; must outlive it). NULL with err. */
struct alertbus *alertbus_new(struct runtime *rt, struct kafka_producer *producer, char *err,
                              size_t errlen);

/* Frees it and its alert store; NULL is fine. */
void alertbus_free(struct alertbus *b);

/* The alert store, for queries (borrowed; lives as long as b). */
struct alerts *alertbus_alerts(struct alertbus *b);

/* Raises a condition; an alert it opens is logged and published. Returns what it did
 * (ALERT_NONE when the store failed, which is logged). */
enum alert_transition alertbus_raise(struct alertbus *b, const struct alert_input *in);

/* Clears key's condition; an alert it resolves is logged and published. Returns what it
 * did (ALERT_NONE also when nothing was unresolved or the store failed, logged). */
enum alert_transition alertbus_clear(struct alertbus *b, const char *key);

#endif
