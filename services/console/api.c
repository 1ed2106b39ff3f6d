/* api.c — see api.h. */
#include "api.h"

#include "sources.h"

#include "stockmesh/config.h"
#include "stockmesh/http.h"
#include "stockmesh/runtime.h"

#include <event2/http.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SOURCES_PATH "/api/v1/sources"

struct api {
    struct runtime *rt;
};

static const char *method_name(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
    }
    return "this method";
}

static const char *request_path(struct evhttp_request *req)
{
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    return path ? path : "";
}

/* 1 for GET and HEAD; otherwise answers 405 naming the method and the path. */
static int only_get(struct evhttp_request *req)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD) return 1;
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
    http_reply_error(req, 405, "%s is not allowed on %s: it is read-only (GET)", method_name(cmd),
                     request_path(req));
    return 0;
}

/* Replies 200 with o (which it frees) as compact JSON. */
static void reply_json(struct evhttp_request *req, json_t *o)
{
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!body) {
        http_reply_error(req, 500, "out of memory");
        return;
    }
    http_reply(req, 200, "application/json", body, strlen(body));
    free(body);
}

static void sources_all(struct evhttp_request *req, void *arg)
{
    struct api *a = arg;
    if (!only_get(req)) return;
    reply_json(req, sources_status_all(a->rt->store, a->rt->cfg, sources_now_ms()));
}

/* /api/v1/sources/<name>: the name comes from the path, not from the route, so that
 * the handler is also right for names that are not configured. */
static void sources_one(struct evhttp_request *req, void *arg)
{
    struct api *a = arg;
    if (!only_get(req)) return;
    const char *path = request_path(req);
    const char *prefix = SOURCES_PATH "/";
    char *name = evhttp_uridecode(strncmp(path, prefix, strlen(prefix)) == 0
                                      ? path + strlen(prefix) : path,
                                  0, NULL);
    if (!name) {
        http_reply_error(req, 500, "out of memory");
        return;
    }
    const struct config_source *src = config_source(a->rt->cfg, name);
    if (!src) {
        char names[300];
        sources_name_list(a->rt->cfg, names, sizeof names);
        http_reply_error(req, 404, "no source named \"%s\" is configured (sources: %s)", name,
                         names);
    } else {
        reply_json(req, sources_status(a->rt->store, src, sources_now_ms()));
    }
    free(name);
}

struct api *api_new(struct runtime *rt, struct http_server *http, char *err, size_t errlen)
{
    struct api *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->rt = rt;
    int bad = http_server_route(http, SOURCES_PATH, sources_all, a);
    bad |= http_server_route_prefix(http, SOURCES_PATH "/", sources_one, a);
    if (bad) {
        snprintf(err, errlen, "cannot route %s", SOURCES_PATH);
        free(a);
        return NULL;
    }
    return a;
}

void api_free(struct api *a) { free(a); }
