/* fuzz_http.c — libFuzzer target for the console's HTTP server: appliance/src/http.c on
 * libevent's evhttp, with routes that answer the way services/console/console.c does.
 *
 *   make build/fuzz/fuzz_http           (tests/fuzz/fuzz.mk; clang, ASan, UBSan)
 *   build/fuzz/fuzz_http -max_total_time=60 build/fuzz/corpus/fuzz_http tests/fuzz/corpus/http
 *
 * An input is the raw bytes a client sends on one connection (one request, several
 * pipelined ones, or garbage). The server is made once: http_server_new() on 127.0.0.1
 * port 0 with these routes:
 *   /healthz, /metrics   console.c's handlers (GET/HEAD only, else 405 with Allow), with a
 *                        fixed status instead of a Redis and a real metrics registry;
 *   /api/echo            a stand-in for the console's coming REST API: takes a JSON body
 *                        (POST/PUT/PATCH), answers 201 with it, or http_reply_error();
 *   anything else        http.c's own 404 handler.
 * Per input the harness connects over loopback, writes the bytes, shuts its write side
 * down and runs the loop until the server closes the connection (so nothing of the
 * connection survives into the next input), then resets its socket so that no TIME_WAIT
 * piles up. The write side is shut only once the server has gone quiet, so pipelined
 * requests on a kept-alive connection are all answered.
 *
 * It checks that the server has answered and closed within CLOSE_TIMEOUT_MS of the
 * connection, that it keeps no connection from one input to the next, that every answer starts with a well-formed status line, and
 * that every JSON error body parses. libevent itself is not instrumented, so the harness
 * feeds libFuzzer what the server did (handler, method, status of each answer, sizes)
 * through extra coverage counters. */
#include <sys/queue.h> /* TAILQ_*, before libevent's own fallback definitions */

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "stockmesh/http.h"
#include "stockmesh/metrics.h"

#define CLOSE_TIMEOUT_MS 5000
#define RESPONSE_KEEP (2 * 1024 * 1024)
#define QUIET_PASSES 8 /* loop passes without news that mean the server is idle */

static void must(int condition)
{
    if (!condition) __builtin_trap();
}

/* ---- feedback for libFuzzer: one byte per (what the server did) ---- */

enum { H_NONE, H_HEALTHZ, H_METRICS, H_ECHO, H_COUNT };
enum { FB_HANDLER = 0, FB_STATUS = FB_HANDLER + H_COUNT * 16 * 4 * 4, FB_END = FB_STATUS + 24 * 4,
       FB_SIZE = FB_END + 8, FB_TOTAL = FB_SIZE + 32 };

__attribute__((section("__libfuzzer_extra_counters"), used)) static uint8_t feedback[FB_TOTAL];

static void feed(unsigned index)
{
    if (index < FB_TOTAL && feedback[index] < 255) feedback[index]++;
}

static unsigned log2_bucket(size_t n)
{
    unsigned b = 0;
    while (n && b < 31) {
        n >>= 1;
        b++;
    }
    return b;
}

static unsigned method_index(enum evhttp_cmd_type cmd)
{
    for (unsigned i = 0; i < 15; i++)
        if ((unsigned)cmd == 1u << i) return i;
    return 15;
}

static void feed_handler(int handler, struct evhttp_request *req, size_t body_len)
{
    unsigned headers = 0;
    struct evkeyval *h;
    TAILQ_FOREACH(h, evhttp_request_get_input_headers(req), next) headers++;
    feed(FB_HANDLER + ((unsigned)handler * 16 + method_index(evhttp_request_get_command(req))) * 16 +
         (body_len ? 1 + (log2_bucket(body_len) > 20 ? 2 : log2_bucket(body_len) > 10) : 0) * 4 +
         (headers > 2 ? 3 : headers));
}

/* ---- the routes: what console.c does, without a runtime ---- */

static struct event_base *base;
static struct http_server *server;
static struct metrics *registry;
static int port;
static int show; /* FUZZ_HTTP_SHOW=1: print what the server answered */

/* console.c only_get() */
static int only_get(struct evhttp_request *req)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD) return 1;
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
    http_reply_error(req, 405, "only GET is allowed here");
    return 0;
}

/* console.c healthz(), with Redis "up" and a fixed uptime */
static void healthz(struct evhttp_request *req, void *arg)
{
    (void)arg;
    feed_handler(H_HEALTHZ, req, evbuffer_get_length(evhttp_request_get_input_buffer(req)));
    if (!only_get(req)) return;
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I}", "status", "ok", "redis", "up", "backbone",
                          "embedded", "epoch", (json_int_t)1, "uptime_s", (json_int_t)42);
    char *body = json_dumps(o, JSON_COMPACT);
    must(body != NULL);
    http_reply(req, 200, "application/json", body, strlen(body));
    free(body);
    json_decref(o);
}

/* console.c metrics_page() */
static void metrics_page(struct evhttp_request *req, void *arg)
{
    (void)arg;
    feed_handler(H_METRICS, req, evbuffer_get_length(evhttp_request_get_input_buffer(req)));
    if (!only_get(req)) return;
    size_t len;
    char *text = metrics_render(registry, &len);
    if (!text) {
        http_reply_error(req, 500, "out of memory");
        return;
    }
    http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

/* The shape every body-taking API route will have: method check, content type, bounded
 * JSON body, query string, errors through http_reply_error() with caller text in them. */
static void api_echo(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    feed_handler(H_ECHO, req, len);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (cmd != EVHTTP_REQ_POST && cmd != EVHTTP_REQ_PUT && cmd != EVHTTP_REQ_PATCH) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST, PUT, PATCH");
        http_reply_error(req, 405, "only POST, PUT and PATCH are allowed here");
        return;
    }
    const char *type = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    if (!type || strncmp(type, "application/json", 16) != 0) {
        http_reply_error(req, 400, "expected Content-Type application/json, not %s",
                         type ? type : "(none)");
        return;
    }
    struct evkeyvalq query;
    TAILQ_INIT(&query);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
    if (q && evhttp_parse_query_str(q, &query) != 0) {
        http_reply_error(req, 400, "bad query string: %s", q);
        return;
    }
    int pretty = evhttp_find_header(&query, "pretty") != NULL;
    evhttp_clear_headers(&query);
    json_error_t jerr;
    json_t *body = json_loadb((const char *)evbuffer_pullup(in, -1), len, JSON_REJECT_DUPLICATES,
                              &jerr);
    if (!body) {
        http_reply_error(req, 400, "body is not JSON: %s at byte %d", jerr.text, jerr.position);
        return;
    }
    char *text = json_dumps(body, pretty ? JSON_INDENT(2) : JSON_COMPACT);
    json_decref(body);
    if (!text) {
        http_reply_error(req, 500, "cannot encode the answer");
        return;
    }
    http_reply(req, 201, "application/json", text, strlen(text));
    free(text);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[512];
    signal(SIGPIPE, SIG_IGN);
    show = getenv("FUZZ_HTTP_SHOW") != NULL;
    base = event_base_new();
    registry = metrics_new();
    must(base && registry);
    metrics_inc(metrics_counter(registry, "stockmesh_events_total", "Change events read.",
                                "source=\"erp\",table=\"public.stock_levels\""), 1234);
    metrics_set(metrics_gauge(registry, "stockmesh_merge_inflight", "Facts in flight.", NULL), 3);
    struct metric *h = metrics_histogram(registry, "stockmesh_commit_to_applied_seconds",
                                         "Source commit to applied in Redis.", NULL,
                                         metrics_latency_buckets, metrics_latency_nbuckets);
    metrics_observe(h, 0.0042);
    metrics_observe(h, 1.5);
    server = http_server_new(base, "127.0.0.1", 0, err, sizeof err);
    if (!server) {
        fprintf(stderr, "fuzz_http: %s\n", err);
        abort();
    }
    port = http_server_port(server);
    must(port > 0);
    must(http_server_route(server, "/healthz", healthz, NULL) == 0);
    must(http_server_route(server, "/metrics", metrics_page, NULL) == 0);
    must(http_server_route(server, "/api/echo", api_echo, NULL) == 0);
    return 0;
}

/* ---- the client side of one connection ---- */

struct client {
    int fd;
    const uint8_t *data;
    size_t size, sent;
    int write_failed, shut;
    char *response;
    size_t response_len;
    size_t received;
    enum { END_NONE, END_EOF, END_RESET, END_TIMEOUT } end;
    struct event *rd, *wr, *timer;
};

static void finish(struct client *c, int end)
{
    if (c->end == END_NONE) c->end = end;
    event_base_loopbreak(base);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    struct client *c = arg;
    (void)what;
    while (c->sent < c->size) {
        ssize_t n = send(fd, c->data + c->sent, c->size - c->sent, MSG_NOSIGNAL);
        if (n > 0) {
            c->sent += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return; /* wait for room */
        c->write_failed = 1; /* the server closed or reset: it has said what it will */
        break;
    }
    event_del(c->wr);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    struct client *c = arg;
    char buf[65536];
    (void)what;
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
            size_t keep = c->response_len + (size_t)n <= RESPONSE_KEEP ? (size_t)n
                                                                      : RESPONSE_KEEP - c->response_len;
            memcpy(c->response + c->response_len, buf, keep);
            c->response_len += keep;
            c->received += (size_t)n;
            continue;
        }
        if (n == 0) finish(c, END_EOF);
        else if (errno != EAGAIN && errno != EINTR) finish(c, END_RESET);
        return;
    }
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    finish(arg, END_TIMEOUT);
}

/* "HTTP/<major>.<minor> ": libevent 2.1 answers with whatever version numbers the
 * request named, kept in a char ("HTTP/0.0", "HTTP/1.12", and "HTTP/1.-112" for a
 * request that said HTTP/1.8080). Returns the length of that prefix, or 0. */
static size_t starts_answer(const char *p, size_t left)
{
    size_t i = 5, digits;
    if (left < 9 || memcmp(p, "HTTP/", 5) != 0) return 0;
    if (p[i] == '-') i++;
    for (digits = 0; i < left && p[i] >= '0' && p[i] <= '9'; i++) digits++;
    if (!digits || i >= left || p[i++] != '.') return 0;
    if (i < left && p[i] == '-') i++;
    for (digits = 0; i < left && p[i] >= '0' && p[i] <= '9'; i++) digits++;
    if (!digits || i >= left || p[i++] != ' ') return 0;
    return i;
}

/* Every answer starts "HTTP/<version> NNN "; a JSON error body is an object with "error".
 * Walks the answers the client saw (several when requests were pipelined). An answer
 * without Content-Length (libevent's own error pages) runs to the close; an answer to
 * HEAD has a Content-Length and no body, which shows as the next answer right after. */
static void check_response(const char *r, size_t len, int complete)
{
    size_t pos = 0;
    unsigned ordinal = 0;
    while (pos < len) {
        const char *p = r + pos;
        size_t left = len - pos;
        if (left < 13) {
            must(!complete || ordinal > 0); /* a server that closes mid-answer is fine */
            return;
        }
        size_t v = starts_answer(p, left);
        must(v != 0 && left - v >= 4);
        int code = (p[v] - '0') * 100 + (p[v + 1] - '0') * 10 + (p[v + 2] - '0');
        must(code >= 100 && code <= 599 && p[v + 3] == ' ');
        static const int known[] = {100, 200, 201, 204, 400, 401, 403, 404, 405,
                                    408, 411, 413, 414, 417, 431, 500, 501, 503, 505};
        unsigned bucket = 23;
        for (unsigned i = 0; i < sizeof known / sizeof known[0]; i++)
            if (known[i] == code) bucket = i;
        feed(FB_STATUS + bucket * 4 + (ordinal > 3 ? 3 : ordinal));

        const char *head_end = memmem(p, left, "\r\n\r\n", 4);
        if (!head_end) return;
        size_t head_len = (size_t)(head_end - p) + 4;
        size_t body_len = 0;
        int json = 0, has_length = 0;
        for (const char *line = memchr(p, '\n', head_len); line && line < head_end;
             line = memchr(line + 1, '\n', (size_t)(head_end - line))) {
            const char *l = line + 1;
            if (strncasecmp(l, "Content-Length:", 15) == 0) {
                body_len = strtoul(l + 15, NULL, 10);
                has_length = 1;
            }
            if (strncasecmp(l, "Content-Type: application/json", 30) == 0) json = 1;
        }
        if (code < 200 || code == 204 || code == 304) body_len = 0;
        else if (!has_length) return; /* the body is the rest of the stream */
        size_t next = head_len + body_len;
        if (body_len && starts_answer(p + head_len, left - head_len) &&
            (next > left || !starts_answer(p + next, left - next)))
            next = head_len, body_len = 0; /* HEAD */
        if (next > left) return; /* truncated: kept only a part */
        if (json && code >= 400 && body_len > 0) {
            json_error_t jerr;
            json_t *o = json_loadb(p + head_len, body_len, 0, &jerr);
            must(json_is_string(json_object_get(o, "error")));
            json_decref(o);
        }
        pos += next;
        ordinal++;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *response;
    if (!response) response = malloc(RESPONSE_KEEP);
    must(response != NULL);

    struct client c = {.data = data, .size = size, .response = response};
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    /* each input's connection is gone before the next: a server that kept one would
       push the lowest free descriptor number up */
    must(c.fd >= 0 && c.fd < 64);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    must(connect(c.fd, (struct sockaddr *)&sa, sizeof sa) == 0 || errno == EINPROGRESS);

    c.rd = event_new(base, c.fd, EV_READ | EV_PERSIST, on_read, &c);
    c.wr = event_new(base, c.fd, EV_WRITE | EV_PERSIST, on_write, &c);
    c.timer = evtimer_new(base, on_timeout, &c);
    must(c.rd && c.wr && c.timer);
    struct timeval limit = {CLOSE_TIMEOUT_MS / 1000, (CLOSE_TIMEOUT_MS % 1000) * 1000};
    event_add(c.rd, NULL);
    event_add(c.wr, NULL);
    event_add(c.timer, &limit);
    /* Everything is in this process and loopback delivers at once, so the server is done
       with what it was sent once a few loop passes in a row bring the client nothing new.
       Only then the client ends its input: libevent drops pipelined requests it has not
       answered yet when it sees the end of input. */
    int quiet = 0;
    size_t seen = 0;
    while (c.end == END_NONE) {
        if (c.shut) {
            event_base_loop(base, EVLOOP_ONCE);
            continue;
        }
        event_base_loop(base, EVLOOP_NONBLOCK);
        if (c.sent < c.size && !c.write_failed) continue;
        quiet = c.received == seen ? quiet + 1 : 0;
        seen = c.received;
        if (quiet >= QUIET_PASSES) {
            shutdown(c.fd, SHUT_WR);
            c.shut = 1;
        }
    }

    event_free(c.rd);
    event_free(c.wr);
    event_free(c.timer);
    /* reset rather than close: no TIME_WAIT per input */
    struct linger lg = {1, 0};
    setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(c.fd);

    if (show)
        fprintf(stderr, "fuzz_http: sent %zu of %zu bytes, ended by %s, received %zu:\n%.*s\n",
                c.sent, size, c.end == END_EOF ? "close" : c.end == END_RESET ? "reset" : "timeout",
                c.received, (int)c.response_len, response);
    feed(FB_END + (unsigned)c.end);
    feed(FB_SIZE + log2_bucket(c.received));
    if (c.end == END_TIMEOUT) {
        fprintf(stderr, "fuzz_http: the server had not closed the connection %d ms after it "
                        "opened (%zu of %zu bytes sent, %zu received)\n",
                CLOSE_TIMEOUT_MS, c.sent, size, c.received);
        must(0);
    }
    check_response(response, c.response_len, c.end == END_EOF && c.received == c.response_len);
    return 0;
}
