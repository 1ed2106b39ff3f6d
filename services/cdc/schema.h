/* schema.h — the shape of a captured table and the verdict on a change of it
 * (DESIGN §3): compatible changes are propagated, incompatible ones park the table.
 *
 * Pure functions: no sockets, no database, no I/O. Columns are described in a
 * DB-neutral way (a type family plus size, scale and flags) so that the PostgreSQL
 * reader (schema_column_from_pg) and the MariaDB reader feed the same comparison;
 * the source's own type name is kept for people and for the schema-changes event.
 *
 * Columns are identified by name, compared exactly (PostgreSQL delivers identifiers
 * case-sensitively); their order does not matter. A rename cannot be told apart from
 * a drop plus an add, and is reported as such.
 *
 * The key is whatever the reader marks as key. Note that pgoutput flags every column
 * as part of the replica identity under REPLICA IDENTITY FULL, so there an added
 * column changes the key set, which is incompatible.
 */
#ifndef STOCKMESH_SCHEMA_H
#define STOCKMESH_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define SCHEMA_NAME_MAX 64          /* bytes for a name or type, NUL included */
#define SCHEMA_MAX_COLUMNS 4096     /* MariaDB's limit; PostgreSQL's is 1600 */
#define SCHEMA_JSON_VERSION 1

enum schema_type_family {
    SCHEMA_INT,
    SCHEMA_NUMERIC,
    SCHEMA_FLOAT,
    SCHEMA_TEXT,
    SCHEMA_BOOL,
    SCHEMA_DATE,
    SCHEMA_TIMESTAMP,
    SCHEMA_TIMESTAMPTZ,
    SCHEMA_UUID,
    SCHEMA_JSON,
    SCHEMA_OTHER,   /* compared by type name only */
};

/* schema_column.flags; each is valid for one family only */
#define SCHEMA_UNSIGNED 0x1u    /* SCHEMA_INT: unsigned (MariaDB INT UNSIGNED) */
#define SCHEMA_PADDED 0x2u      /* SCHEMA_TEXT: blank-padded fixed length (SQL CHAR(n), bpchar) */
#define SCHEMA_BINARY 0x4u      /* SCHEMA_JSON: stored parsed (PostgreSQL jsonb) */

struct schema_column {
    char name[SCHEMA_NAME_MAX];
    char type[SCHEMA_NAME_MAX];     /* source's type as a person reads it: "int4", "varchar(20)" */
    enum schema_type_family family;
    /* INT, FLOAT: bytes (INT 1/2/3/4/8, FLOAT 4/8); TEXT: max length, -1 unbounded;
     * NUMERIC: precision 1..1000, -1 unbounded; TIMESTAMP(TZ): fractional second
     * digits 0..6; 0 for every other family */
    int size;
    /* NUMERIC: scale, -1000..1000 (PostgreSQL 15 allows negative), -1 when size is -1;
     * 0 for every other family */
    int scale;
    unsigned flags;                 /* SCHEMA_UNSIGNED, SCHEMA_PADDED, SCHEMA_BINARY */
    int key;                        /* part of the row key: 0 or 1 */
};

struct schema_table {
    size_t ncolumns;
    struct schema_column *columns;  /* owned */
};

enum schema_change {
    SCHEMA_SAME,            /* same columns, types and key (order may differ) */
    SCHEMA_COMPATIBLE,      /* propagate: see schema_compare() */
    SCHEMA_INCOMPATIBLE,    /* alert and park the table */
};

/* Fills c from a PostgreSQL type OID and typmod (built-in types; any other OID
 * becomes SCHEMA_OTHER with type "oid:<n>"). -1 with err when the name is empty,
 * too long or not UTF-8, or the typmod is invalid for the type. */
int schema_column_from_pg(struct schema_column *c, const char *name, uint32_t type_oid,
                          int32_t typmod, int key, char *err, size_t errlen);

/* Makes t an empty table. */
void schema_table_init(struct schema_table *t);

/* Frees t's columns and leaves t empty. */
void schema_table_release(struct schema_table *t);

/* Appends a copy of c. -1 with err when c is invalid (name empty, too long, not
 * UTF-8; size, scale or flags out of range for its family), its name is already
 * in t, t is full or memory runs out; t is unchanged then. */
int schema_table_add(struct schema_table *t, const struct schema_column *c, char *err,
                     size_t errlen);

/* The column of t with exactly this name, or NULL. Points into t. */
const struct schema_column *schema_table_find(const struct schema_table *t, const char *name);

/* Compares old and new_ by column name. mapped: NULL-terminated names the stock
 * mapping reads (NULL for none). Compatible: columns added; types widened; unmapped,
 * non-key columns dropped or retyped. Incompatible: a mapped or key column dropped
 * (renames included) or retyped without widening; the set of key columns changed.
 * If details is not NULL, *details gets a new object the caller owns (NULL when out
 * of memory): {"added":[{name,type}], "dropped":[{name,type}],
 * "retyped":[{name,from,to,widened}], "key_changed", "compatible", "reasons":[…]};
 * reasons explain incompatibility and are empty exactly when compatible. */
enum schema_change schema_compare(const struct schema_table *old, const struct schema_table *new_,
                                  const char *const *mapped, json_t **details);

/* New JSON object for t, {"version":1,"columns":[…]}, for the state database;
 * the caller owns it. NULL when out of memory. */
json_t *schema_table_to_json(const struct schema_table *t);

/* Fills t (overwritten, to be released by the caller) from what
 * schema_table_to_json() wrote. -1 with err on anything else (wrong types, missing
 * or unknown fields, invalid columns, duplicate names); t is empty then. */
int schema_table_from_json(struct schema_table *t, const json_t *j, char *err, size_t errlen);

#endif
