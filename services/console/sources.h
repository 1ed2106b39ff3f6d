/* sources.h — the state of each configured source as its CDC reader reports it, and
 * re-snapshot requests, both through the state database (scope "source:<name>"):
 *
 *   key "status"                               the reader's status object (JSON), written
 *                                              about once a second and on every change
 *   key "snapshot.request.<schema>.<table>"    unix ms of a re-snapshot request; the
 *                                              reader deletes it when it starts the work
 *
 * Plain functions over a store, shared by the console's API and the `stockmesh` CLI. */
#ifndef STOCKMESH_CONSOLE_SOURCES_H
#define STOCKMESH_CONSOLE_SOURCES_H

#include "stockmesh/config.h"

#include <stddef.h>

struct json_t;
struct store;

/* A status not rewritten for this long means no reader is running for the source. */
#define SOURCES_STALE_MS 10000

/* Wall-clock unix milliseconds, the clock the reader stamps its status with. */
long long sources_now_ms(void);

/* "postgresql" or "mariadb", as the status object names the type. */
const char *sources_type_name(enum config_source_type type);

/* The status object of one configured source plus "stale" (true when updated_ms is more
 * than SOURCES_STALE_MS before now_ms, or absent). Without a stored status: state
 * "unknown" with the configured tables; an unreadable one adds "status_error". The
 * caller owns the result (json_decref); NULL only when out of memory. */
struct json_t *sources_status(struct store *store, const struct config_source *src,
                              long long now_ms);

/* {"sources": [status, …]} in configuration order; caller owns; NULL when out of memory. */
struct json_t *sources_status_all(struct store *store, const struct config *cfg,
                                  long long now_ms);

/* The table of src named "schema.name", or "name" meaning schema public; NULL if none. */
const struct config_table *sources_table(const struct config_source *src, const char *spec);

/* Lists src's tables as "schema.name, schema.name" into out (for error messages). */
void sources_table_list(const struct config_source *src, char *out, size_t outlen);

/* Lists the configured source names as "a, b" into out (for error messages). */
void sources_name_list(const struct config *cfg, char *out, size_t outlen);

/* Asks the reader of src to snapshot table again, stamped requested_ms. 0, or -1 with
 * the reason in err. */
int sources_request_snapshot(struct store *store, const struct config_source *src,
                             const struct config_table *table, long long requested_ms,
                             char *err, size_t errlen);

/* 1 while the re-snapshot request of table is waiting for the reader, 0 once the reader
 * took it (or none was made), -1 with the reason in err. */
int sources_snapshot_pending(struct store *store, const struct config_source *src,
                             const struct config_table *table, char *err, size_t errlen);

#endif
