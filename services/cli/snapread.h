/* snapread.h — one consistent snapshot of a source database, read directly (libpq,
 * MariaDB Connector/C; synchronous) for `stockmesh reconcile`: every stock table's
 * mapped columns, each row a JSON object typed as the CDC readers type it (integers
 * for integer columns, exact decimals, ISO 8601 times, text as strings), so the merge
 * role's mapping turns it into the same facts it makes of the stream.
 *
 * The snapshot is bracketed by two positions of the source:
 *   before  read just before the snapshot opens: a change the snapshot lacks was
 *           committed at or after it;
 *   after   read in the snapshot, after it was taken: every change the snapshot
 *           holds was committed before it.
 * Both as positions_parse() values (PostgreSQL WAL LSN, MariaDB GTID sequence). For
 * MariaDB both are the snapshot's own binlog position when the server reports it: the
 * snapshot then holds exactly the transactions up to that sequence number. */
#ifndef STOCKMESH_CLI_SNAPREAD_H
#define STOCKMESH_CLI_SNAPREAD_H

#include "stockmesh/config.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct snapread_point {
    uint64_t before, after;
    int exact;            /* MariaDB: both are the snapshot's own position */
};

/* Called per row; row is borrowed for the call. Nonzero stops the read. */
typedef int (*snapread_row_cb)(void *arg, const struct config_table *table, json_t *row);

/* Called once per table before its rows (for progress); may be NULL. */
typedef void (*snapread_table_cb)(void *arg, const struct config_table *table);

/* Reads every table of src that holds stock (crosswalk tables are left out: items are
 * translated through Redis, as the merge does), in one consistent snapshot. 0, or -1
 * with the reason in err (connection, permission, a missing table, a callback that
 * stopped). */
int snapread_source(const struct config_source *src, struct snapread_point *point,
                    snapread_table_cb on_table, snapread_row_cb on_row, void *arg, char *err,
                    size_t errlen);

#endif
