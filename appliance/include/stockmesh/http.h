/* http.h — a small HTTP server on the libevent loop (evhttp), for the console's API,
 * /healthz and /metrics. Bodies are bounded (413 past the limit) and every error is a
 * JSON object naming the problem. */
#ifndef STOCKMESH_HTTP_H
#define STOCKMESH_HTTP_H

#include <stddef.h>

struct event_base;
struct evhttp_request;
struct http_server;

typedef void (*http_handler)(struct evhttp_request *req, void *arg);

/* Listens on host:port (port 0 picks a free one). NULL with the reason in err. */
struct http_server *http_server_new(struct event_base *base, const char *host, int port,
                                    char *err, size_t errlen);

/* Stops listening and frees the server. */
void http_server_free(struct http_server *srv);

/* Routes an exact path to a handler; unknown paths answer 404. */
int http_server_route(struct http_server *srv, const char *path, http_handler fn, void *arg);

/* Routes every path starting with prefix that no exact route claims (the longest
 * prefix wins); the handler reads the rest of the path itself. 0 or -1 when full. */
int http_server_route_prefix(struct http_server *srv, const char *prefix, http_handler fn,
                             void *arg);

/* The port actually bound. */
int http_server_port(const struct http_server *srv);

/* Replies with a body of the given content type. */
void http_reply(struct evhttp_request *req, int code, const char *content_type,
                const char *body, size_t len);

/* Replies {"error": "<message>"} with the given status. */
void http_reply_error(struct evhttp_request *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
