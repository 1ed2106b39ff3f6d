/* redis.c — see redis.h. */
#include "stockmesh/redis.h"

#include "stockmesh/config.h"
#include "stockmesh/embedded.h"
#include "stockmesh/log.h"
#include "stockmesh/metrics.h"

#include <errno.h>
#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REDIS_BACKOFF_MIN_MS 100
#define REDIS_BACKOFF_MAX_MS 5000

/* Per-command context, recycled through a free list so the hot path does not
 * allocate once the pool has grown to the pipeline depth. */
struct pending {
    redis_reply_cb cb;
    void *arg;
    struct redis *r;
    struct pending *next_free;
};

struct redis {
    struct event_base *base;
    const struct config *cfg;
    char name[64];
    char password[256];
    redisAsyncContext *ac;
    int ready;
    int closing;
    int backoff_ms;
    struct event *retry;
    size_t in_flight;
    struct pending *free_list;
    redis_state_cb state_cb;
    void *state_arg;
    struct metric *m_commands, *m_errors, *m_reconnects, *m_up;
};

static void redis_connect(struct redis *r);

int redis_read_password(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read password file %s: %s", path, strerror(errno));
        return -1;
    }
    if (!fgets(out, (int)outlen, f)) out[0] = 0;
    fclose(f);
    out[strcspn(out, "\r\n")] = 0;
    return 0;
}

static struct pending *pending_get(struct redis *r)
{
    struct pending *p = r->free_list;
    if (p) r->free_list = p->next_free;
    else p = malloc(sizeof *p);
    if (p) p->r = r;
    return p;
}

static void pending_put(struct redis *r, struct pending *p)
{
    p->next_free = r->free_list;
    r->free_list = p;
}

static void set_ready(struct redis *r, int ready)
{
    if (r->ready == ready) return;
    r->ready = ready;
    metrics_set(r->m_up, ready);
    if (r->state_cb) r->state_cb(r->state_arg, ready);
}

static void schedule_retry(struct redis *r)
{
    if (r->closing) return;
    struct timeval tv = {r->backoff_ms / 1000, (r->backoff_ms % 1000) * 1000};
    evtimer_add(r->retry, &tv);
    r->backoff_ms = r->backoff_ms * 2 > REDIS_BACKOFF_MAX_MS ? REDIS_BACKOFF_MAX_MS
                                                             : r->backoff_ms * 2;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    struct pending *p = privdata;
    struct redis *r = p->r;
    r->in_flight--;
    redisReply *rep = reply;
    if (rep && rep->type == REDIS_REPLY_ERROR) metrics_inc(r->m_errors, 1);
    redis_reply_cb cb = p->cb;
    void *arg = p->arg;
    pending_put(r, p);
    if (cb) cb(arg, rep);
}

static int send_argv(struct redis *r, redis_reply_cb cb, void *arg, int argc, const char **argv,
                     const size_t *argvlen)
{
    struct pending *p = pending_get(r);
    if (!p) return -1;
    p->cb = cb;
    p->arg = arg;
    if (redisAsyncCommandArgv(r->ac, on_reply, p, argc, argv, argvlen) != REDIS_OK) {
        pending_put(r, p);
        return -1;
    }
    r->in_flight++;
    metrics_inc(r->m_commands, 1);
    return 0;
}

static void layout_checked(void *arg, redisReply *reply)
{
    struct redis *r = arg;
    if (!reply) return;
    if (reply->type == REDIS_REPLY_ERROR) {
        /* writing into stock of another layout would corrupt it: stay away, and say so
           at every retry */
        log_error("redis", "%s: Redis at %s:%d: %s", r->name, r->cfg->redis.host,
                  r->cfg->redis.port, reply->str);
        redisAsyncDisconnect(r->ac);
        return;
    }
    r->backoff_ms = REDIS_BACKOFF_MIN_MS;
    log_info("redis", "%s: connected to %s:%d, function library loaded", r->name,
             r->cfg->redis.host, r->cfg->redis.port);
    set_ready(r, 1);
}

static void library_loaded(void *arg, redisReply *reply)
{
    struct redis *r = arg;
    if (!reply) return; /* connection lost; the disconnect path retries */
    if (reply->type == REDIS_REPLY_ERROR) {
        log_error("redis", "%s: FUNCTION LOAD of the stockmesh library failed: %s (Redis 7 or "
                           "newer is required)", r->name, reply->str);
        redisAsyncDisconnect(r->ac);
        return;
    }
    const char *argv[] = {"FCALL", "stockmesh_layout", "0"};
    size_t lens[] = {5, 16, 1};
    send_argv(r, layout_checked, r, 3, argv, lens);
}

static void authenticated(void *arg, redisReply *reply)
{
    struct redis *r = arg;
    if (!reply) return;
    if (reply->type == REDIS_REPLY_ERROR) {
        log_error("redis", "%s: authentication refused: %s", r->name, reply->str);
        redisAsyncDisconnect(r->ac);
        return;
    }
    const char *argv[] = {"FUNCTION", "LOAD", "REPLACE", embedded_redis_library};
    size_t lens[] = {8, 4, 7, embedded_redis_library_len};
    send_argv(r, library_loaded, r, 4, argv, lens);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct redis *r = ac->data;
    if (status != REDIS_OK) {
        log_warning("redis", "%s: cannot connect to %s:%d: %s; retrying in %d ms", r->name,
                    r->cfg->redis.host, r->cfg->redis.port, ac->errstr, r->backoff_ms);
        r->ac = NULL; /* hiredis frees the context after this callback */
        schedule_retry(r);
        return;
    }
    char setname[96];
    snprintf(setname, sizeof setname, "stockmesh-%s", r->name);
    redisAsyncCommand(r->ac, NULL, NULL, "CLIENT SETNAME %s", setname);
    if (r->password[0]) {
        const char *argv[] = {"AUTH", r->password};
        size_t lens[] = {4, strlen(r->password)};
        send_argv(r, authenticated, r, 2, argv, lens);
    } else {
        authenticated(r, &(redisReply){.type = REDIS_REPLY_STATUS});
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct redis *r = ac->data;
    r->ac = NULL;
    set_ready(r, 0);
    if (r->closing) return;
    metrics_inc(r->m_reconnects, 1);
    log_warning("redis", "%s: connection lost%s%s; reconnecting", r->name,
                status == REDIS_OK ? "" : ": ", status == REDIS_OK ? "" : ac->errstr);
    schedule_retry(r);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    redis_connect(arg);
}

static void redis_connect(struct redis *r)
{
    r->ac = redisAsyncConnect(r->cfg->redis.host, r->cfg->redis.port);
    if (!r->ac || r->ac->err) {
        log_warning("redis", "%s: cannot connect to %s:%d: %s", r->name, r->cfg->redis.host,
                    r->cfg->redis.port, r->ac ? r->ac->errstr : "out of memory");
        if (r->ac) redisAsyncFree(r->ac);
        r->ac = NULL;
        schedule_retry(r);
        return;
    }
    r->ac->data = r;
    redisLibeventAttach(r->ac, r->base);
    redisAsyncSetConnectCallback(r->ac, on_connect);
    redisAsyncSetDisconnectCallback(r->ac, on_disconnect);
}

struct redis *redis_new(struct event_base *base, const struct config *cfg,
                        struct metrics *metrics, const char *name, char *err, size_t errlen)
{
    struct redis *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->base = base;
    r->cfg = cfg;
    snprintf(r->name, sizeof r->name, "%s", name);
    if (cfg->redis.password_file &&
        redis_read_password(cfg->redis.password_file, r->password, sizeof r->password, err,
                            errlen) != 0) {
        free(r);
        return NULL;
    }
    char labels[96];
    snprintf(labels, sizeof labels, "client=\"%s\"", name);
    r->m_commands = metrics_counter(metrics, "stockmesh_redis_commands_total",
                                    "Commands sent to Redis.", labels);
    r->m_errors = metrics_counter(metrics, "stockmesh_redis_errors_total",
                                  "Error replies from Redis.", labels);
    r->m_reconnects = metrics_counter(metrics, "stockmesh_redis_reconnects_total",
                                      "Times the Redis connection was lost.", labels);
    r->m_up = metrics_gauge(metrics, "stockmesh_redis_up",
                            "1 when connected to Redis with the function library loaded.", labels);
    r->backoff_ms = REDIS_BACKOFF_MIN_MS;
    r->retry = evtimer_new(base, retry_cb, r);
    if (!r->retry) {
        snprintf(err, errlen, "out of memory");
        free(r);
        return NULL;
    }
    redis_connect(r);
    return r;
}

void redis_free(struct redis *r)
{
    if (!r) return;
    r->closing = 1;
    if (r->ac) redisAsyncFree(r->ac); /* calls pending callbacks with NULL replies */
    event_free(r->retry);
    while (r->free_list) {
        struct pending *p = r->free_list;
        r->free_list = p->next_free;
        free(p);
    }
    free(r);
}

void redis_on_state(struct redis *r, redis_state_cb cb, void *arg)
{
    r->state_cb = cb;
    r->state_arg = arg;
}

int redis_ready(const struct redis *r) { return r->ready; }

size_t redis_in_flight(const struct redis *r) { return r->in_flight; }

int redis_send(struct redis *r, redis_reply_cb cb, void *arg, int argc, const char **argv,
               const size_t *argvlen)
{
    if (!r->ready || !r->ac) return -1;
    return send_argv(r, cb, arg, argc, argv, argvlen);
}

int redis_sendf(struct redis *r, redis_reply_cb cb, void *arg, const char *fmt, ...)
{
    if (!r->ready || !r->ac) return -1;
    struct pending *p = pending_get(r);
    if (!p) return -1;
    p->cb = cb;
    p->arg = arg;
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAsyncCommand(r->ac, on_reply, p, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK) {
        pending_put(r, p);
        return -1;
    }
    r->in_flight++;
    metrics_inc(r->m_commands, 1);
    return 0;
}
