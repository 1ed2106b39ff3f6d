/* postgres.h — the PostgreSQL change reader of one source: logical replication with
 * pgoutput, an initial snapshot read inside the slot's exported snapshot, and change
 * events on "<prefix>.<source>.<schema>.<table>".
 *
 * It confirms a position to the server (confirmed_flush_lsn) only when every event
 * up to it is durable downstream (DESIGN §4): acknowledged by an external Kafka
 * cluster, or applied to Redis and past its persistence delay when the backbone is
 * the embedded one. Until then the server keeps the WAL, so a crash anywhere replays
 * from the last confirmed position and the idempotent merge absorbs the repeats. */
#ifndef STOCKMESH_POSTGRES_H
#define STOCKMESH_POSTGRES_H

#include <stddef.h>

struct runtime;
struct config_source;
struct pg_reader;

/* Starts reading a source (connects in the background, retrying with backoff).
 * NULL with the reason in err on bad configuration. */
struct pg_reader *pg_reader_new(struct runtime *rt, const struct config_source *src, char *err,
                                size_t errlen);

/* Stops reading; nothing unconfirmed is confirmed. */
void pg_reader_free(struct pg_reader *r);

#endif
