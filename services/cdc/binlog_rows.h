/* binlog_rows.h -- the rows of a MariaDB/MySQL row event, decoded by stockmesh.
 *
 * Connector/C 3.3.20's mariadb_rpl_extract_rows() cannot decode a row event of a table
 * with a CHAR/BINARY column or a non-NULL ENUM or SET value (binlog.h). This module
 * decodes the rows part of WRITE/UPDATE/DELETE_ROWS events (types 23/24/25 and
 * 30/31/32) itself, from what mariadb_rpl_fetch() has already parsed, into the same
 * MARIADB_RPL_ROW list the connector builds, filled the way binlog.h describes, so
 * binlog_row_to_json() and binlog_row_key_json() take the rows unchanged. A pure
 * function: no MARIADB_RPL handle, no I/O.
 *
 * What it reads of struct st_mariadb_rpl_rows_event (as mariadb_rpl_fetch() fills it):
 *   type, table_id, column_count; column_bitmap: the columns present in each row
 *   (the before image for UPDATE), (column_count + 7) / 8 bytes, bit i of byte i / 8
 *   for column i; column_update_bitmap: an UPDATE's after-image columns. The connector
 *   sets it for v1 UPDATE (24) only: for a v2 UPDATE (31) it leaves it NULL and the
 *   after-image bitmap is the first bytes of row_data, where this module then reads it.
 *   row_data/row_data_size: the row images, after the v2 extra data, which the
 *   connector has already skipped. Like binlog.h's signed_indicator, the two bitmaps
 *   come without a length: they must hold (column_count + 7) / 8 bytes (the connector
 *   points them into the event after checking those bytes are there). Every length in
 *   row_data is checked against row_data_size; an error names the row and the column.
 *
 * Each row image is a NULL bitmap with one bit per present column, then the values of
 * the present non-NULL columns. A column missing from an image (the writing session
 * ran binlog_row_image=MINIMAL or NOBLOB) has is_null 1 and field_type
 * MYSQL_TYPE_NULL: binlog_row_to_json() refuses such a row instead of reading the
 * column as SQL NULL; nabsent says it happened. Values beyond what the connector fills:
 *   - NEWDECIMAL bytes that are no decimal, TIME2/DATETIME2/TIMESTAMP2 fractions of a
 *     second >= 1000000, negative DATETIME2 values, CHAR/VARCHAR values longer than the
 *     column and BIT/ENUM/SET/DECIMAL/BLOB metadata the server never writes are errors.
 *   - TIME2 values are correct where the connector keeps the on-disk encoding of
 *     negative values with a fraction (-00:00:01.5 is neg, 00:00:01, 500000); the old
 *     TIME type (11) keeps its sign.
 *   - strings point into this module's copy of row_data (an empty one too, so val.str.str
 *     is never NULL for a non-NULL string); DECIMAL text is NUL-terminated.
 *   - a rows event with no row data gives no rows (no error: nothing to misread).
 * Compressed row events (166-171) must be uncompressed first (the connector does that
 * for v1); MySQL's PARTIAL_UPDATE_ROWS_EVENT (39) and the MariaDB 5.3 fractional
 * temporal formats (mysql56_temporal_format=OFF) are not decoded.
 */
#ifndef STOCKMESH_BINLOG_ROWS_H
#define STOCKMESH_BINLOG_ROWS_H

#include <stddef.h>
#include <stdint.h>

#include "binlog.h"

/* Most bytes of rows, values and DECIMAL text one event may decode to (the copy of
 * row_data not counted): every image of a 4096-column table takes about 200 kB, however
 * few bytes the event spends on it. */
#define BINLOG_ROWS_MAX_BYTES ((size_t)256 << 20)

struct binlog_rows_block;

/* The decoded rows of one event. Read-only for callers; everything is owned. */
struct binlog_rows {
    MARIADB_RPL_ROW *first;     /* the images in event order, NULL when none; UPDATE:
                                 * each row's before image, then its after image */
    size_t nimages;
    uint32_t nabsent;           /* columns missing from the images; 0 with FULL images */
    struct binlog_rows_block *blocks;   /* private: where rows, values and strings live */
};

/* Decodes the rows of ev, a rows event of table t (t's table map, from
 * binlog_table_init()), into r (overwritten; release with binlog_rows_release()). The
 * rows do not point into ev: ev may be freed afterwards. -1 with err (naming the row
 * and column) when ev does not fit t, a value runs past row_data or is invalid for its
 * column, or out of memory; r is then empty. */
int binlog_rows_init(struct binlog_rows *r, const struct binlog_table *t,
                     const struct st_mariadb_rpl_rows_event *ev, char *err, size_t errlen);

/* Frees every row of r and leaves it empty. */
void binlog_rows_release(struct binlog_rows *r);

#endif
