/* redis.h — an asynchronous Redis connection on the libevent loop (hiredis).
 *
 * On every (re)connect it authenticates when a password file is configured and loads
 * stockmesh's function library (appliance/redis/stockmesh.lua, compiled in) with
 * FUNCTION LOAD REPLACE, and only then reports itself ready. A lost connection is
 * retried with exponential backoff; commands in flight at that moment get a NULL
 * reply so their owners can resend. */
#ifndef STOCKMESH_REDIS_H
#define STOCKMESH_REDIS_H

#include <stddef.h>

struct event_base;
struct config;
struct metrics;
struct redisReply;
struct redis;

/* Reply callback; reply is NULL when the connection was lost before the answer. */
typedef void (*redis_reply_cb)(void *arg, struct redisReply *reply);

/* Readiness callback: ready is 1 once the library is loaded, 0 when the link drops. */
typedef void (*redis_state_cb)(void *arg, int ready);

/* Starts connecting (name shows in CLIENT LIST and logs). NULL with err on bad
 * arguments; an unreachable server is not an error here, it is retried. */
struct redis *redis_new(struct event_base *base, const struct config *cfg,
                        struct metrics *metrics, const char *name, char *err, size_t errlen);

/* Closes the connection; pending callbacks get NULL replies. */
void redis_free(struct redis *r);

/* Registers the readiness callback (one per connection). */
void redis_on_state(struct redis *r, redis_state_cb cb, void *arg);

/* 1 when connected and the function library is loaded. */
int redis_ready(const struct redis *r);

/* Sends a command given as argument vectors. -1 when not ready. */
int redis_send(struct redis *r, redis_reply_cb cb, void *arg, int argc, const char **argv,
               const size_t *argvlen);

/* Sends a printf-style command (hiredis format: %s, %b, %d…). -1 when not ready. */
int redis_sendf(struct redis *r, redis_reply_cb cb, void *arg, const char *fmt, ...);

/* Commands sent and not yet answered. */
size_t redis_in_flight(const struct redis *r);

/* Reads the first line of a password file into out; -1 with err when unreadable. */
int redis_read_password(const char *path, char *out, size_t outlen, char *err, size_t errlen);

#endif
