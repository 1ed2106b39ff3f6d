/* store.h — the local state database (SQLite, WAL mode) with versioned migrations.
 *
 * Migrations are the files appliance/sql/NNN_*.sql, compiled in and applied in order
 * at open, each in its own transaction; PRAGMA user_version records the last one. A
 * database newer than this build is refused rather than misread. */
#ifndef STOCKMESH_STORE_H
#define STOCKMESH_STORE_H

#include <stddef.h>

struct sqlite3;
struct store;

/* Opens (creating when missing) and migrates the database at path. NULL with err. */
struct store *store_new(const char *path, char *err, size_t errlen);

/* Closes the database. */
void store_free(struct store *s);

/* Schema version the database is at (number of migrations applied). */
int store_schema_version(struct store *s);

/* Number of migrations this build knows. */
int store_schema_latest(void);

/* Reads a state value into out. 0 found, 1 absent, -1 error (see store_errstr). */
int store_get(struct store *s, const char *scope, const char *key, char *out, size_t outlen);

/* Writes (inserts or replaces) a state value. 0 or -1. */
int store_set(struct store *s, const char *scope, const char *key, const char *value);

/* Deletes a state value; absent is fine. 0 or -1. */
int store_delete(struct store *s, const char *scope, const char *key);

/* The last error message. */
const char *store_errstr(const struct store *s);

/* The underlying handle, for modules that own tables of their own. */
struct sqlite3 *store_db(struct store *s);

#endif
