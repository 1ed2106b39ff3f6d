/* console.c — see console.h. */
#include "console.h"

#include "api.h"

#include "stockmesh/config.h"
#include "stockmesh/http.h"
#include "stockmesh/kafka.h"
#include "stockmesh/log.h"
#include "stockmesh/metrics.h"
#include "stockmesh/redis.h"
#include "stockmesh/runtime.h"

#include <event2/http.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct console {
    struct runtime *rt;
    struct http_server *http;
    struct api *api;
    struct redis *redis;
    time_t started;
};

static int only_get(struct evhttp_request *req)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD) return 1;
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
    http_reply_error(req, 405, "only GET is allowed here");
    return 0;
}

static void healthz(struct evhttp_request *req, void *arg)
{
    struct console *c = arg;
    if (!only_get(req)) return;
    int redis_up = redis_ready(c->redis);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I}", "status", redis_up ? "ok" : "degraded",
                          "redis", redis_up ? "up" : "unreachable", "backbone",
                          kafka_embedded(c->rt->kafka) ? "embedded" : "external", "epoch",
                          kafka_epoch(c->rt->kafka), "uptime_s",
                          (json_int_t)(time(NULL) - c->started));
    char *body = json_dumps(o, JSON_COMPACT);
    http_reply(req, redis_up ? 200 : 503, "application/json", body, strlen(body));
    free(body);
    json_decref(o);
}

static void metrics_page(struct evhttp_request *req, void *arg)
{
    struct console *c = arg;
    if (!only_get(req)) return;
    size_t len;
    char *text = metrics_render(c->rt->metrics, &len);
    if (!text) {
        http_reply_error(req, 500, "out of memory");
        return;
    }
    http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

struct console *console_new(struct runtime *rt, char *err, size_t errlen)
{
    struct console *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->rt = rt;
    c->started = time(NULL);
    const struct config *cfg = rt->cfg;
    c->http = http_server_new(rt->base, cfg->console.listen_host, cfg->console.listen_port, err,
                              errlen);
    if (!c->http) goto fail;
    c->redis = redis_new(rt->base, cfg, rt->metrics, "console", err, errlen);
    if (!c->redis) goto fail;
    http_server_route(c->http, "/healthz", healthz, c);
    http_server_route(c->http, "/metrics", metrics_page, c);
    c->api = api_new(rt, c->http, err, errlen);
    if (!c->api) goto fail;
    log_info("console", "listening on http://%s:%d", cfg->console.listen_host,
             http_server_port(c->http));
    return c;
fail:
    console_free(c);
    return NULL;
}

int console_port(const struct console *c) { return http_server_port(c->http); }

void console_free(struct console *c)
{
    if (!c) return;
    http_server_free(c->http);
    api_free(c->api);
    redis_free(c->redis);
    free(c);
}
