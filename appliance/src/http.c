/* http.c — see http.h. */
#include "stockmesh/http.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#define HTTP_MAX_BODY (1024 * 1024)
#define HTTP_MAX_HEADERS (64 * 1024)

#define HTTP_MAX_PREFIX_ROUTES 16

struct prefix_route {
    char prefix[128];
    http_handler fn;
    void *arg;
};

struct http_server {
    struct evhttp *http;
    struct evhttp_bound_socket *socket;
    int port;
    struct prefix_route prefixes[HTTP_MAX_PREFIX_ROUTES];
    size_t nprefixes;
};

static const char *status_reason(int code)
{
    switch (code) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

void http_reply(struct evhttp_request *req, int code, const char *content_type, const char *body,
                size_t len)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    evhttp_add_header(out, "Content-Type", content_type);
    evhttp_add_header(out, "Cache-Control", "no-store");
    evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
    struct evbuffer *buf = evbuffer_new();
    if (buf && len) evbuffer_add(buf, body, len);
    evhttp_send_reply(req, code, status_reason(code), buf);
    if (buf) evbuffer_free(buf);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3
                               : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (!len || len > n || (len == 2 && s[0] < 0xc2)) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if (len == 3 && ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0))) return 0;
    if (len == 4 && ((s[0] == 0xf0 && s[1] < 0x90) || s[0] > 0xf4 || (s[0] == 0xf4 && s[1] >= 0x90)))
        return 0;
    return len;
}

/* Messages may quote what a client sent (a path, a field): keep them valid UTF-8 for
 * the JSON body, replacing bad bytes and a character cut at the end by '?'. */
static void utf8_clean(char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t len = utf8_sequence((const unsigned char *)s + i, n - i);
        if (len) {
            i += len;
        } else {
            s[i++] = '?';
        }
    }
}

void http_reply_error(struct evhttp_request *req, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    utf8_clean(msg);
    json_t *o = json_pack("{s:s}", "error", msg);
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (body) http_reply(req, code, "application/json", body, strlen(body));
    else http_reply(req, code, "application/json", "{\"error\":\"internal\"}", 20);
    free(body);
    json_decref(o);
}

/* Paths no exact route claims: the longest matching prefix route, else 404. */
static void not_found(struct evhttp_request *req, void *arg)
{
    struct http_server *srv = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    const struct prefix_route *best = NULL;
    for (size_t i = 0; path && i < srv->nprefixes; i++) {
        const struct prefix_route *p = &srv->prefixes[i];
        if (strncmp(path, p->prefix, strlen(p->prefix)) == 0 &&
            (!best || strlen(p->prefix) > strlen(best->prefix)))
            best = p;
    }
    if (best) {
        best->fn(req, best->arg);
        return;
    }
    http_reply_error(req, 404, "no such path: %s", evhttp_request_get_uri(req));
}

struct http_server *http_server_new(struct event_base *base, const char *host, int port,
                                    char *err, size_t errlen)
{
    struct http_server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    srv->http = evhttp_new(base);
    if (!srv->http) {
        snprintf(err, errlen, "cannot create the HTTP server");
        free(srv);
        return NULL;
    }
    evhttp_set_max_body_size(srv->http, HTTP_MAX_BODY);
    evhttp_set_max_headers_size(srv->http, HTTP_MAX_HEADERS);
    evhttp_set_timeout(srv->http, 30);
    evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                              EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD |
                                              EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(srv->http, not_found, srv);
    srv->socket = evhttp_bind_socket_with_handle(srv->http, host, (unsigned short)port);
    if (!srv->socket) {
        snprintf(err, errlen, "cannot listen on %s:%d (in use, or not a local address?)", host,
                 port);
        evhttp_free(srv->http);
        free(srv);
        return NULL;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    evutil_socket_t fd = evhttp_bound_socket_get_fd(srv->socket);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) srv->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6) srv->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return srv;
}

void http_server_free(struct http_server *srv)
{
    if (!srv) return;
    evhttp_free(srv->http);
    free(srv);
}

int http_server_route(struct http_server *srv, const char *path, http_handler fn, void *arg)
{
    return evhttp_set_cb(srv->http, path, fn, arg) == 0 ? 0 : -1;
}

int http_server_route_prefix(struct http_server *srv, const char *prefix, http_handler fn,
                             void *arg)
{
    if (srv->nprefixes == HTTP_MAX_PREFIX_ROUTES || strlen(prefix) >= sizeof srv->prefixes[0].prefix)
        return -1;
    struct prefix_route *p = &srv->prefixes[srv->nprefixes++];
    snprintf(p->prefix, sizeof p->prefix, "%s", prefix);
    p->fn = fn;
    p->arg = arg;
    return 0;
}

int http_server_port(const struct http_server *srv) { return srv->port; }
