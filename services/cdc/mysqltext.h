/* mysqltext.h — a MariaDB value read through the text protocol (snapshots, the
 * reconcile CLI) as the same JSON the binlog mapping gives the same value (binlog.c),
 * so a snapshot row and a streamed row compare equal. */
#ifndef STOCKMESH_MYSQLTEXT_H
#define STOCKMESH_MYSQLTEXT_H

#include <jansson.h>
#include <mysql.h>

/* The JSON value of column f's text v (len bytes; NULL = SQL NULL), as a new reference;
 * NULL when it does not map (invalid UTF-8, out of range). JSON columns are the
 * caller's: their text is the document itself. */
json_t *mysqltext_value(const MYSQL_FIELD *f, const char *v, unsigned long len);

#endif
