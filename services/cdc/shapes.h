/* shapes.h — a captured table's last known shape in the state database, and what a
 * change of it means (DESIGN §3): compatible changes are announced and taken, an
 * incompatible one is announced, alerted and parks the table until the mapping is
 * fixed and the table re-read. Shared by the PostgreSQL and MariaDB readers. */
#ifndef STOCKMESH_SHAPES_H
#define STOCKMESH_SHAPES_H

#include "schema.h"

#include <jansson.h>
#include <stddef.h>

struct store;

/* Where a change was seen, for the documents it produces. */
struct shapes_where {
    const char *source;
    const char *schema;           /* the table's schema (PostgreSQL) or database (MariaDB) */
    const char *table;
    const char *label;            /* "schema.table", as `stockmesh snapshot` takes it */
    const char *position;         /* the source position the change was seen at */
    const char *seen_in;          /* "stream", "setup", … */
    long long ts_ms;
};

/* Compares old with new_ for a table whose mapping reads mapped (NULL-terminated).
 * For a change, *event gets the stockmesh.schema-changes document; for an incompatible
 * one also *alert (a stockmesh.alerts document) and the parked reason in reason. The
 * caller owns the documents (NULL when nothing is to be said). */
enum schema_change shapes_judge(const struct schema_table *old, const struct schema_table *new_,
                                const char *const *mapped, const struct shapes_where *where,
                                json_t **event, json_t **alert, char *reason, size_t reasonlen);

/* Reads the stored shape of label into out (to be released); 0, or -1 when none is
 * stored or it does not parse. */
int shapes_load(struct store *st, const char *scope, const char *label, struct schema_table *out);

/* Stores shape as label's last known shape. 0 or -1. */
int shapes_save(struct store *st, const char *scope, const char *label,
                const struct schema_table *shape);

/* Reads whether label is parked: 1 with the reason in reason, else 0. */
int shapes_parked(struct store *st, const char *scope, const char *label, char *reason,
                  size_t reasonlen);

/* Parks label with reason, or un-parks it when reason is NULL. 0 or -1. */
int shapes_park(struct store *st, const char *scope, const char *label, const char *reason);

/* Records that a requested re-read of table label is applied downstream: state key
 * "snapshot.done.<label>" = unix ms. */
void snapshot_done_save(struct store *store, const char *scope, const char *label);

#endif
