/* redisconn.c — see redisconn.h. */
#include "redisconn.h"

#include "layout.h"
#include "stockmesh/config.h"
#include "stockmesh/embedded.h"
#include "stockmesh/redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define CONNECT_TIMEOUT_S 5
/* a command of ours blocks on one Redis call at most this long: FCALLs are short, a
   SCAN step of 1000 keys too */
#define COMMAND_TIMEOUT_S 60
#define SCAN_COUNT "1000"

redisContext *redisconn_open(const struct config *cfg, char *err, size_t errlen)
{
    struct timeval timeout = {CONNECT_TIMEOUT_S, 0};
    redisContext *c = redisConnectWithTimeout(cfg->redis.host, cfg->redis.port, timeout);
    if (!c || c->err) {
        snprintf(err, errlen, "cannot connect to Redis at %s:%d: %s", cfg->redis.host,
                 cfg->redis.port, c ? c->errstr : "out of memory");
        if (c) redisFree(c);
        return NULL;
    }
    struct timeval command_timeout = {COMMAND_TIMEOUT_S, 0};
    redisSetTimeout(c, command_timeout);
    if (cfg->redis.password_file) {
        char password[256];
        if (redis_read_password(cfg->redis.password_file, password, sizeof password, err,
                                errlen) != 0) {
            redisFree(c);
            return NULL;
        }
        redisReply *r = redisCommand(c, "AUTH %s", password);
        memset(password, 0, sizeof password);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "Redis at %s:%d refused the password of %s: %s",
                     cfg->redis.host, cfg->redis.port, cfg->redis.password_file,
                     redisconn_error(c, r));
            freeReplyObject(r);
            redisFree(c);
            return NULL;
        }
        freeReplyObject(r);
    }
    return c;
}

const char *redisconn_error(const redisContext *c, const redisReply *reply)
{
    if (reply && reply->type == REDIS_REPLY_ERROR) return reply->str;
    if (c && c->err) return c->errstr;
    return reply ? "unexpected reply" : "no reply";
}

/* The LIBRARY_VERSION this build's library declares; 0 when it cannot be found. */
static long long built_version(void)
{
    const char *p = strstr(embedded_redis_library, "LIBRARY_VERSION = ");
    return p ? strtoll(p + strlen("LIBRARY_VERSION = "), NULL, 10) : 0;
}

/* Whether the stock in Redis is in the library's layout: 0, or -1 with the reason. */
static int check_layout(redisContext *c, char *err, size_t errlen)
{
    redisReply *r = redisCommand(c, "FCALL stockmesh_layout 0");
    int ok = r && r->type == REDIS_REPLY_INTEGER;
    if (!ok) snprintf(err, errlen, "Redis: %s", redisconn_error(c, r));
    freeReplyObject(r);
    return ok ? 0 : -1;
}

int redisconn_need_library(redisContext *c, char *err, size_t errlen)
{
    redisReply *r = redisCommand(c, "FCALL stockmesh_version 0");
    if (r && r->type == REDIS_REPLY_INTEGER) {
        long long have = r->integer, want = built_version();
        freeReplyObject(r);
        if (have == want) return check_layout(c, err, errlen);
        /* loading ours over a daemon's other version would change its layout under it */
        snprintf(err, errlen, "Redis holds version %lld of the stockmesh function library, this "
                              "stockmesh speaks version %lld: use the stockmesh command of the "
                              "running stockmeshd", have, want);
        return -1;
    }
    if (!r) {
        snprintf(err, errlen, "Redis: %s", redisconn_error(c, r));
        return -1;
    }
    freeReplyObject(r);
    const char *argv[] = {"FUNCTION", "LOAD", "REPLACE", embedded_redis_library};
    size_t lens[] = {8, 4, 7, embedded_redis_library_len};
    r = redisCommandArgv(c, 4, argv, lens);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "cannot load the stockmesh function library into Redis (Redis 7 "
                              "or newer is required): %s", redisconn_error(c, r));
        freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    return check_layout(c, err, errlen);
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void redisconn_free_list(char **list, size_t n)
{
    for (size_t i = 0; list && i < n; i++) free(list[i]);
    free(list);
}

int redisconn_list_skus(redisContext *c, char ***skus, size_t *n, char *err, size_t errlen)
{
    char **list = NULL;
    size_t count = 0, cap = 0;
    char cursor[32] = "0";
    do {
        /* "sm:{*}" leaves out the channel hashes (":c") and crosswalk lists; the
           crosswalk hashes themselves are told apart by their "xw:" prefix */
        redisReply *r = redisCommand(c, "SCAN %s MATCH sm:{*} COUNT " SCAN_COUNT, cursor);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING) {
            snprintf(err, errlen, "scanning Redis for SKUs: %s", redisconn_error(c, r));
            freeReplyObject(r);
            redisconn_free_list(list, count);
            return -1;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            char sku[256];
            if (keys->element[i]->type != REDIS_REPLY_STRING ||
                layout_sku_of_key(keys->element[i]->str, keys->element[i]->len, sku,
                                  sizeof sku) != 0)
                continue;
            if (count == cap) {
                size_t ncap = cap ? cap * 2 : 1024;
                char **grown = realloc(list, ncap * sizeof *grown);
                if (!grown) goto oom;
                list = grown;
                cap = ncap;
            }
            if (!(list[count] = strdup(sku))) goto oom;
            count++;
            continue;
        oom:
            freeReplyObject(r);
            redisconn_free_list(list, count);
            snprintf(err, errlen, "out of memory listing SKUs");
            return -1;
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    /* SCAN may return a key twice (the table grew meanwhile) */
    if (count) qsort(list, count, sizeof *list, compare_strings);
    size_t kept = 0;
    for (size_t i = 0; i < count; i++) {
        if (kept && strcmp(list[kept - 1], list[i]) == 0) {
            free(list[i]);
            continue;
        }
        list[kept++] = list[i];
    }
    *skus = list;
    *n = kept;
    return 0;
}
