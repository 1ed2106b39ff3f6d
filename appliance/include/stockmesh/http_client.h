/* http_client.h — outbound HTTP(S) requests on the libevent loop (libcurl multi).
 *
 * Connections are kept alive and reused per host; TLS peers are verified. Each
 * request reports once, on the loop, with the status (0 when no response came) and a
 * transport error text. */
#ifndef STOCKMESH_HTTP_CLIENT_H
#define STOCKMESH_HTTP_CLIENT_H

#include <stddef.h>

struct event_base;
struct http_client;

struct http_client_result {
    int status;                   /* HTTP status, 0 on a transport error */
    const char *error;            /* transport error text, or NULL */
    const char *body;             /* first bytes of the response body */
    size_t body_len;
    int retry_after_s;            /* from a Retry-After header in seconds, or -1 */
    double seconds;               /* total time of the request */
};

typedef void (*http_client_cb)(void *arg, const struct http_client_result *res);

/* Creates a client (max_per_host bounds connections per host). NULL with err. */
struct http_client *http_client_new(struct event_base *base, int max_per_host, char *err,
                                    size_t errlen);

/* Aborts requests in flight (their callbacks are not called) and frees the client. */
void http_client_free(struct http_client *c);

/* POSTs body (copied) with extra "Name: value" headers. -1 when it cannot start. */
int http_client_post(struct http_client *c, const char *url, const char *const *headers,
                     size_t nheaders, const char *body, size_t len, int timeout_ms,
                     http_client_cb cb, void *arg);

/* Requests in flight. */
size_t http_client_in_flight(const struct http_client *c);

#endif
