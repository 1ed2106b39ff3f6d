/* redisconn.h — the operator commands' synchronous Redis connection (hiredis): the
 * daemon's roles use the asynchronous one of appliance/redis.h on their event loop;
 * a command that runs once from top to bottom wants plain blocking calls. */
#ifndef STOCKMESH_CLI_REDISCONN_H
#define STOCKMESH_CLI_REDISCONN_H

#include <hiredis/hiredis.h>
#include <stddef.h>

struct config;

/* Connects to cfg's Redis, authenticating with redis.password_file when set. The
 * caller frees the context with redisFree(). NULL with the reason in err. */
redisContext *redisconn_open(const struct config *cfg, char *err, size_t errlen);

/* Makes sure the stockmesh function library is loaded (loads this build's when Redis
 * has none, as the daemon does on connecting) and is the version this build speaks.
 * 0, or -1 with the reason in err. */
int redisconn_need_library(redisContext *c, char *err, size_t errlen);

/* Every SKU holding a key "sm:{<sku>}" (crosswalks and channel hashes left out), found
 * with SCAN, sorted and without duplicates, into a new array of new strings the caller
 * frees with redisconn_free_list(). 0, or -1 with the reason in err. */
int redisconn_list_skus(redisContext *c, char ***skus, size_t *n, char *err, size_t errlen);

/* Frees what redisconn_list_skus() returned. */
void redisconn_free_list(char **list, size_t n);

/* The text of a failed reply or of the context's error, for messages. */
const char *redisconn_error(const redisContext *c, const redisReply *reply);

#endif
