/* mariadb_reader.h — the MariaDB change reader of one source: the binlog (ROW format, full row
 * image and metadata) read from a GTID through Connector/C's replication API, after an
 * initial snapshot read inside START TRANSACTION WITH CONSISTENT SNAPSHOT (no global
 * read lock) whose binlog position becomes the GTID to stream from.
 *
 * The blocking Connector/C calls run on one thread per source; decoded rows are handed
 * to the event loop, which produces them and confirms (DESIGN §4) by recording the
 * GTID state in the state database once everything up to it is durable downstream. */
#ifndef STOCKMESH_MARIADB_READER_H
#define STOCKMESH_MARIADB_READER_H

#include <stddef.h>

struct runtime;
struct config_source;
struct mariadb_reader;

/* Starts reading a source (connects in the background, retrying with backoff).
 * NULL with the reason in err on bad configuration. */
struct mariadb_reader *mariadb_reader_new(struct runtime *rt, const struct config_source *src, char *err,
                                size_t errlen);

/* Stops reading (joins the thread); nothing unconfirmed is confirmed. */
void mariadb_reader_free(struct mariadb_reader *r);

#endif
