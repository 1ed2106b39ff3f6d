/* pgconn.h — one libpq connection driven by the libevent loop, never blocking it.
 *
 * Connecting (PQconnectStartParams/PQconnectPoll, with a deadline of our own since
 * libpq's connect_timeout does not apply to the asynchronous API) and queries queued
 * one at a time (PQsendQuery/PQsendQueryParams), each answered through a callback.
 * A query whose result is COPY_BOTH (START_REPLICATION) ends the connection's own
 * watching of the socket: the caller reads the copy stream itself from then on.
 *
 * Freeing a connection from inside one of its callbacks is allowed. */
#ifndef STOCKMESH_PGCONN_H
#define STOCKMESH_PGCONN_H

#include <libpq-fe.h>
#include <stddef.h>

struct event_base;
struct pgconn;

/* Called once when the connection is up (err NULL) or failed (err says why), and
 * again with err set if an established connection breaks later. */
typedef void (*pgconn_state_cb)(struct pgconn *c, const char *err, void *arg);

/* Called with a query's result: the first error result when a statement failed,
 * else the last one. The callback owns res (PQclear it). res is NULL only when the
 * connection broke before the answer; the state callback follows. */
typedef void (*pgconn_result_cb)(struct pgconn *c, PGresult *res, void *arg);

/* Starts connecting with the NULL-terminated keyword/value arrays of libpq;
 * timeout_ms bounds the whole connection attempt. NULL when out of memory or
 * libpq refuses the parameters (err says why). The caller frees with pgconn_free(). */
struct pgconn *pgconn_new(struct event_base *base, const char *const *keys,
                          const char *const *values, int timeout_ms, pgconn_state_cb cb,
                          void *arg, char *err, size_t errlen);

/* Queues a statement (parameters as text, nparams may be 0; replication connections
 * take no parameters). 0, or -1 when the connection is not usable. */
int pgconn_query(struct pgconn *c, const char *sql, int nparams, const char *const *params,
                 pgconn_result_cb cb, void *arg);

/* The libpq handle (for PQescape*, PQgetCopyData, …); owned by the pgconn. */
PGconn *pgconn_pg(struct pgconn *c);

/* 1 when connected and no query is queued or running. */
int pgconn_idle(const struct pgconn *c);

/* Closes the connection; queued callbacks are dropped without being called. */
void pgconn_free(struct pgconn *c);

/* The text of a failed result or connection, first line only, into out. */
void pgconn_error_text(const PGresult *res, PGconn *conn, char *out, size_t outlen);

#endif
