/* http_client.c — see http_client.h. */
#include "stockmesh/http_client.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BODY_KEEP 4096

struct http_client {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    size_t in_flight;
    struct request *requests;     /* in flight, for aborting them at free */
};

struct request {
    struct http_client *c;
    struct request *prev, *next;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    http_client_cb cb;
    void *arg;
    char response[BODY_KEEP];
    size_t response_len;
    int retry_after_s;
    char error[CURL_ERROR_SIZE];
};

static void request_unlink(struct http_client *c, struct request *r)
{
    if (r->prev) r->prev->next = r->next;
    else c->requests = r->next;
    if (r->next) r->next->prev = r->prev;
}

static void request_free(struct request *r)
{
    if (r->easy) curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    free(r->body);
    free(r);
}

struct socket_watch {
    struct event *ev;
};

static void check_done(struct http_client *c)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        struct request *r;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        struct http_client_result res = {.retry_after_s = r->retry_after_s};
        long status = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(r->easy, CURLINFO_TOTAL_TIME, &res.seconds);
        if (msg->data.result != CURLE_OK) {
            res.status = 0;
            res.error = r->error[0] ? r->error : curl_easy_strerror(msg->data.result);
        } else {
            res.status = (int)status;
        }
        res.body = r->response;
        res.body_len = r->response_len;
        curl_multi_remove_handle(c->multi, r->easy);
        request_unlink(c, r);
        c->in_flight--;
        r->cb(r->arg, &res);
        request_free(r);
    }
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
    struct http_client *c = arg;
    int flags = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(c->multi, fd, flags, &running);
    check_done(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct http_client *c = arg;
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(c);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    struct http_client *c = userp;
    struct socket_watch *w = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (w) {
            event_free(w->ev);
            free(w);
            curl_multi_assign(c->multi, s, NULL);
        }
        return 0;
    }
    short events = EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) |
                   (what & CURL_POLL_OUT ? EV_WRITE : 0);
    if (!w) {
        w = calloc(1, sizeof *w);
        if (!w) return -1;
        curl_multi_assign(c->multi, s, w);
    } else {
        event_free(w->ev);
    }
    w->ev = event_new(c->base, s, events, on_socket_event, c);
    if (!w->ev) return -1;
    event_add(w->ev, NULL);
    return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct http_client *c = userp;
    if (timeout_ms < 0) {
        evtimer_del(c->timer);
        return 0;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
    return 0;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    struct request *r = userp;
    size_t n = size * nmemb;
    size_t keep = BODY_KEEP - 1 - r->response_len;
    if (keep > n) keep = n;
    memcpy(r->response + r->response_len, data, keep);
    r->response_len += keep;
    r->response[r->response_len] = 0;
    return n;
}

static size_t header_cb(char *data, size_t size, size_t nitems, void *userp)
{
    struct request *r = userp;
    size_t n = size * nitems;
    if (n > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
        char value[32];
        size_t len = n - 12 < sizeof value - 1 ? n - 12 : sizeof value - 1;
        memcpy(value, data + 12, len);
        value[len] = 0;
        char *end;
        long s = strtol(value, &end, 10);
        /* an HTTP-date is rare for rate limits; treat it as "soon" rather than parse it */
        r->retry_after_s = end != value && s >= 0 ? (int)(s > 86400 ? 86400 : s) : 1;
    }
    return n;
}

struct http_client *http_client_new(struct event_base *base, int max_per_host, char *err,
                                    size_t errlen)
{
    static int global_done;
    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
            snprintf(err, errlen, "libcurl initialisation failed");
            return NULL;
        }
        global_done = 1;
    }
    struct http_client *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->base = base;
    c->multi = curl_multi_init();
    c->timer = evtimer_new(base, on_timer, c);
    if (!c->multi || !c->timer) {
        snprintf(err, errlen, "cannot create the HTTP client");
        http_client_free(c);
        return NULL;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)max_per_host);
    return c;
}

void http_client_free(struct http_client *c)
{
    if (!c) return;
    if (c->multi) {
        while (c->requests) {
            struct request *r = c->requests;
            request_unlink(c, r);
            curl_multi_remove_handle(c->multi, r->easy);
            request_free(r);
        }
        curl_multi_cleanup(c->multi);
    }
    if (c->timer) event_free(c->timer);
    free(c);
}

int http_client_post(struct http_client *c, const char *url, const char *const *headers,
                     size_t nheaders, const char *body, size_t len, int timeout_ms,
                     http_client_cb cb, void *arg)
{
    struct request *r = calloc(1, sizeof *r);
    if (!r) return -1;
    r->c = c;
    r->cb = cb;
    r->arg = arg;
    r->retry_after_s = -1;
    r->body = malloc(len + 1);
    r->easy = curl_easy_init();
    if (!r->body || !r->easy) goto fail;
    memcpy(r->body, body, len);
    r->body[len] = 0;
    /* an empty Expect: stops libcurl from waiting for 100-continue on larger bodies */
    r->headers = curl_slist_append(NULL, "Expect:");
    r->headers = curl_slist_append(r->headers, "Content-Type: application/json");
    for (size_t i = 0; i < nheaders && r->headers; i++)
        r->headers = curl_slist_append(r->headers, headers[i]);
    if (!r->headers) goto fail;
    curl_easy_setopt(r->easy, CURLOPT_URL, url);
    curl_easy_setopt(r->easy, CURLOPT_POST, 1L);
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout_ms < 3000 ? timeout_ms : 3000));
    curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "stockmesh");
    curl_easy_setopt(r->easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->error);
    curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
    if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) goto fail;
    r->next = c->requests;
    if (c->requests) c->requests->prev = r;
    c->requests = r;
    c->in_flight++;
    return 0;
fail:
    request_free(r);
    return -1;
}

size_t http_client_in_flight(const struct http_client *c) { return c->in_flight; }
