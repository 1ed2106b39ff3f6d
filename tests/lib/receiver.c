/* receiver — webhook receiver playing an online channel; see receiver.h. */
#include "receiver.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#define TIMESTAMP_TOLERANCE_MS (5 * 60 * 1000LL)
#define MAX_BODY_BYTES (16u * 1024 * 1024)
#define CONNECTION_TIMEOUT_S 60
#define DELIVERY_MEMORY 65536 /* delivery ids remembered for de-duplication */
#define LATENCY_MEMORY (1u << 20)
#define SHA256_BYTES 32
#define MAX_KEY_BYTES 1024 /* channel + '\0' + sku */

/* One chained hash table serves both the stored values and the delivery ids. */
struct node {
    struct node *next;
    uint64_t hash;
    long long available;
    long long version;
    double received_ms;
    size_t keylen;
    char key[]; /* channel '\0' sku, or a delivery id */
};

struct table {
    struct node **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
};

struct receiver {
    char *secret;
    size_t secret_len;
    EVP_MAC *mac;
    struct event_base *base;
    struct evhttp *http;
    int port;
    pthread_t thread;
    atomic_int stopping;

    pthread_mutex_t lock; /* everything below */
    pthread_cond_t changed;
    struct table values;
    struct table deliveries;
    struct node **delivery_ring; /* oldest first, to forget ids beyond DELIVERY_MEMORY */
    size_t delivery_head;
    double *latencies; /* a ring of LATENCY_MEMORY samples at most */
    size_t latency_cap, latency_count, latency_next;
    struct receiver_stats stats;
    int fail_status, fail_count, fail_retry_after;
    int stall_ms, stall_count;
    FILE *log;
};

/* ------------------------------------------------------------------ table */

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static int table_init(struct table *t, size_t nbuckets)
{
    t->buckets = calloc(nbuckets, sizeof *t->buckets);
    t->nbuckets = nbuckets;
    t->count = 0;
    return t->buckets ? 0 : -1;
}

static void table_release(struct table *t)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct node *n = t->buckets[i];
        while (n) {
            struct node *next = n->next;
            free(n);
            n = next;
        }
    }
    free(t->buckets);
    t->buckets = NULL;
}

static struct node *table_find(const struct table *t, const char *key, size_t keylen)
{
    uint64_t h = hash_bytes(key, keylen);
    for (struct node *n = t->buckets[h & (t->nbuckets - 1)]; n; n = n->next)
        if (n->hash == h && n->keylen == keylen && memcmp(n->key, key, keylen) == 0)
            return n;
    return NULL;
}

static void table_grow(struct table *t)
{
    size_t nb = t->nbuckets * 2;
    struct node **b = calloc(nb, sizeof *b);
    if (b == NULL)
        return; /* keep working with longer chains */
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct node *n = t->buckets[i];
        while (n) {
            struct node *next = n->next;
            n->next = b[n->hash & (nb - 1)];
            b[n->hash & (nb - 1)] = n;
            n = next;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = nb;
}

/* Inserts a new zeroed node for key (which must not be present); NULL when out of memory. */
static struct node *table_insert(struct table *t, const char *key, size_t keylen, int can_grow)
{
    struct node *n = calloc(1, sizeof *n + keylen);
    if (n == NULL)
        return NULL;
    n->hash = hash_bytes(key, keylen);
    n->keylen = keylen;
    memcpy(n->key, key, keylen);
    if (can_grow && t->count >= t->nbuckets)
        table_grow(t);
    struct node **b = &t->buckets[n->hash & (t->nbuckets - 1)];
    n->next = *b;
    *b = n;
    t->count++;
    return n;
}

static void table_remove(struct table *t, struct node *victim)
{
    for (struct node **p = &t->buckets[victim->hash & (t->nbuckets - 1)]; *p; p = &(*p)->next) {
        if (*p == victim) {
            *p = victim->next;
            t->count--;
            free(victim);
            return;
        }
    }
}

/* "channel\0sku" into buf; its length, or 0 when it does not fit. */
static size_t value_key(char *buf, size_t buflen, const char *channel, const char *sku)
{
    size_t c = strlen(channel), s = strlen(sku);
    if (c + 1 + s > buflen)
        return 0;
    memcpy(buf, channel, c);
    buf[c] = '\0';
    memcpy(buf + c + 1, sku, s);
    return c + 1 + s;
}

/* ------------------------------------------------------------------ helpers */

static double wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void set_err(char *err, size_t errlen, const char *msg, const char *detail)
{
    if (err && errlen)
        snprintf(err, errlen, "%s%s%s", msg, detail ? ": " : "", detail ? detail : "");
}

static void reply(struct evhttp_request *req, int status, const char *json)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json");
    struct evbuffer *body = evbuffer_new();
    if (body)
        evbuffer_add_printf(body, "%s\n", json);
    evhttp_send_reply(req, status, NULL, body);
    if (body)
        evbuffer_free(body);
}

static void reply_error(struct evhttp_request *req, int status, const char *message)
{
    json_t *o = json_pack("{s:s}", "error", message);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    reply(req, status, text ? text : "{}");
    free(text);
    json_decref(o);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Checks "sha256=<hex>" against HMAC-SHA256(secret, "<timestamp>.<body>"). */
static int signature_valid(struct receiver *r, const char *timestamp, const char *signature,
                           const unsigned char *body, size_t body_len)
{
    static const char prefix[] = "sha256=";
    if (timestamp == NULL || signature == NULL ||
        strncmp(signature, prefix, sizeof prefix - 1) != 0)
        return 0;
    const char *hex = signature + sizeof prefix - 1;
    if (strlen(hex) != 2 * SHA256_BYTES)
        return 0;
    unsigned char given[SHA256_BYTES];
    for (size_t i = 0; i < SHA256_BYTES; i++) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return 0;
        given[i] = (unsigned char)(hi << 4 | lo);
    }

    unsigned char expected[EVP_MAX_MD_SIZE];
    size_t expected_len = 0;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(r->mac);
    int ok = ctx != NULL &&
             EVP_MAC_init(ctx, (const unsigned char *)r->secret, r->secret_len, params) == 1 &&
             EVP_MAC_update(ctx, (const unsigned char *)timestamp, strlen(timestamp)) == 1 &&
             EVP_MAC_update(ctx, (const unsigned char *)".", 1) == 1 &&
             EVP_MAC_update(ctx, body, body_len) == 1 &&
             EVP_MAC_final(ctx, expected, &expected_len, sizeof expected) == 1 &&
             expected_len == SHA256_BYTES;
    EVP_MAC_CTX_free(ctx);
    return ok && CRYPTO_memcmp(expected, given, SHA256_BYTES) == 0;
}

/* Parses a decimal Unix-ms timestamp; -1 when it is not one. */
static int parse_timestamp(const char *text, long long *out)
{
    if (text == NULL || *text < '0' || *text > '9')
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

/* Checks the payload shape; NULL when good, else why not. */
static const char *payload_problem(const json_t *doc)
{
    if (!json_is_object(doc))
        return "body must be a JSON object";
    const json_t *channel = json_object_get(doc, "channel");
    if (!json_is_string(channel) || json_string_length(channel) == 0)
        return "\"channel\" must be a non-empty string";
    const json_t *updates = json_object_get(doc, "updates");
    if (!json_is_array(updates))
        return "\"updates\" must be an array";
    size_t i;
    const json_t *u;
    json_array_foreach(updates, i, u) {
        const json_t *sku = json_object_get(u, "sku");
        if (!json_is_object(u) || !json_is_string(sku) || json_string_length(sku) == 0)
            return "each update needs a non-empty string \"sku\"";
        if (json_string_length(channel) + 1 + json_string_length(sku) > MAX_KEY_BYTES)
            return "\"channel\" and \"sku\" are too long";
        if (!json_is_integer(json_object_get(u, "available")) ||
            json_integer_value(json_object_get(u, "available")) < 0)
            return "each update needs an integer \"available\" >= 0";
        if (!json_is_integer(json_object_get(u, "version")))
            return "each update needs an integer \"version\"";
        if (!json_is_integer(json_object_get(u, "ts_ms")))
            return "each update needs an integer \"ts_ms\"";
    }
    return NULL;
}

static void format_iso_time(double ms, char *out, size_t outlen)
{
    time_t secs = (time_t)(ms / 1000.0);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, outlen, "%s.%03dZ", base, (int)((long long)ms % 1000));
}

static void remember_latency(struct receiver *r, double ms)
{
    if (r->latency_count == r->latency_cap && r->latency_cap < LATENCY_MEMORY) {
        /* Full before growing means next == 0: the samples are in order at [0, count). */
        size_t cap = r->latency_cap ? r->latency_cap * 2 : 1024;
        double *grown = realloc(r->latencies, cap * sizeof *grown);
        if (grown) {
            r->latencies = grown;
            r->latency_cap = cap;
            r->latency_next = r->latency_count;
        }
    }
    if (r->latency_cap == 0)
        return;
    r->latencies[r->latency_next] = ms;
    r->latency_next = (r->latency_next + 1) % r->latency_cap;
    if (r->latency_count < r->latency_cap)
        r->latency_count++;
}

static void remember_delivery(struct receiver *r, const char *id)
{
    struct node *old = r->delivery_ring[r->delivery_head];
    if (old)
        table_remove(&r->deliveries, old);
    r->delivery_ring[r->delivery_head] = table_insert(&r->deliveries, id, strlen(id), 0);
    r->delivery_head = (r->delivery_head + 1) % DELIVERY_MEMORY;
}

/* Applies a validated payload under the lock; counts what happened. */
static void apply_payload(struct receiver *r, const json_t *doc, double received_ms,
                          long long *applied, long long *stale)
{
    const char *channel = json_string_value(json_object_get(doc, "channel"));
    const json_t *updates = json_object_get(doc, "updates");
    char stamp[40];
    format_iso_time(received_ms, stamp, sizeof stamp);
    size_t i;
    const json_t *u;
    json_array_foreach(updates, i, u) {
        const char *sku = json_string_value(json_object_get(u, "sku"));
        long long available = json_integer_value(json_object_get(u, "available"));
        long long version = json_integer_value(json_object_get(u, "version"));
        long long ts_ms = json_integer_value(json_object_get(u, "ts_ms"));
        double latency = received_ms - (double)ts_ms;
        r->stats.updates++;

        char key[MAX_KEY_BYTES];
        size_t keylen = value_key(key, sizeof key, channel, sku);
        struct node *n = keylen ? table_find(&r->values, key, keylen) : NULL;
        int is_stale = n != NULL && version <= n->version;
        if (!is_stale && keylen && n == NULL) {
            n = table_insert(&r->values, key, keylen, 1);
            if (n)
                r->stats.skus++;
        }
        if (is_stale || n == NULL) { /* n NULL: out of memory */
            r->stats.stale_versions += is_stale;
            (*stale)++;
        } else {
            n->available = available;
            n->version = version;
            n->received_ms = received_ms;
            r->stats.applied++;
            (*applied)++;
            remember_latency(r, latency);
        }
        if (r->log)
            fprintf(r->log, "%s channel=%s sku=%s available=%lld version=%lld latency_ms=%.3f%s\n",
                    stamp, channel, sku, available, version, latency, is_stale ? " stale" : "");
    }
    if (r->log)
        fflush(r->log);
    pthread_cond_broadcast(&r->changed);
}

/* ------------------------------------------------------------------ request handling */

static void stall(struct receiver *r, int ms)
{
    /* In slices, so that receiver_free need not wait out a long stall. */
    for (int left = ms; left > 0 && !atomic_load(&r->stopping); left -= 10) {
        struct timespec ts = { 0, (left < 10 ? left : 10) * 1000000L };
        nanosleep(&ts, NULL);
    }
}

static void handle_request(struct evhttp_request *req, void *arg)
{
    struct receiver *r = arg;
    int stall_ms = 0, fail_status = 0, retry_after = 0;
    pthread_mutex_lock(&r->lock);
    r->stats.requests++;
    if (r->stall_count > 0) {
        r->stall_count--;
        stall_ms = r->stall_ms;
    }
    if (r->fail_count > 0) {
        r->fail_count--;
        fail_status = r->fail_status;
        retry_after = r->fail_retry_after;
        r->stats.forced_failures++;
    }
    pthread_mutex_unlock(&r->lock);

    if (stall_ms > 0)
        stall(r, stall_ms);
    if (fail_status) {
        if (retry_after > 0) {
            char value[16];
            snprintf(value, sizeof value, "%d", retry_after);
            evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", value);
        }
        reply_error(req, fail_status, "failure injected by the test");
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST");
        reply_error(req, 405, "only POST is accepted");
        return;
    }

    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *timestamp = evhttp_find_header(in, "X-Stockmesh-Timestamp");
    const char *signature = evhttp_find_header(in, "X-Stockmesh-Signature");
    const char *delivery = evhttp_find_header(in, "X-Stockmesh-Delivery");
    struct evbuffer *input = evhttp_request_get_input_buffer(req);
    size_t body_len = evbuffer_get_length(input);
    const unsigned char *body = body_len ? evbuffer_pullup(input, -1) : (const unsigned char *)"";

    /* Authenticate before reading a byte of the body. */
    if (!signature_valid(r, timestamp, signature, body, body_len)) {
        pthread_mutex_lock(&r->lock);
        r->stats.rejected_signature++;
        pthread_mutex_unlock(&r->lock);
        reply_error(req, 401, "missing or invalid X-Stockmesh-Signature");
        return;
    }
    double now = wall_ms();
    long long ts;
    if (parse_timestamp(timestamp, &ts) == -1 || (double)ts < now - TIMESTAMP_TOLERANCE_MS ||
        (double)ts > now + TIMESTAMP_TOLERANCE_MS) {
        pthread_mutex_lock(&r->lock);
        r->stats.rejected_stale_ts++;
        pthread_mutex_unlock(&r->lock);
        reply_error(req, 400, "X-Stockmesh-Timestamp is not within 5 minutes of now");
        return;
    }

    json_error_t jerr;
    json_t *doc = json_loadb((const char *)body, body_len, 0, &jerr);
    const char *problem = doc ? payload_problem(doc) : jerr.text;
    if (problem) {
        pthread_mutex_lock(&r->lock);
        r->stats.rejected_malformed++;
        pthread_mutex_unlock(&r->lock);
        reply_error(req, 400, problem);
        json_decref(doc);
        return;
    }

    long long applied = 0, stale = 0;
    int duplicate = 0;
    pthread_mutex_lock(&r->lock);
    if (delivery && *delivery && table_find(&r->deliveries, delivery, strlen(delivery))) {
        /* A retry of something already accepted: acknowledge, change nothing. */
        r->stats.duplicate_deliveries++;
        duplicate = 1;
    } else {
        apply_payload(r, doc, now, &applied, &stale);
        if (delivery && *delivery)
            remember_delivery(r, delivery);
    }
    pthread_mutex_unlock(&r->lock);
    json_decref(doc);

    char text[128];
    snprintf(text, sizeof text, "{\"applied\":%lld,\"stale\":%lld,\"duplicate\":%s}", applied,
             stale, duplicate ? "true" : "false");
    reply(req, 200, text);
}

static void *run_loop(void *arg)
{
    struct receiver *r = arg;
    event_base_loop(r->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

/* ------------------------------------------------------------------ public API */

static pthread_once_t threads_once = PTHREAD_ONCE_INIT;
static int threads_ok;

static void enable_libevent_threads(void)
{
    threads_ok = evthread_use_pthreads() == 0;
}

struct receiver *receiver_new(const char *secret, int port, char *err, size_t errlen)
{
    if (secret == NULL || secret[0] == '\0') {
        set_err(err, errlen, "receiver: the channel secret must not be empty", NULL);
        return NULL;
    }
    if (port < 0 || port > 65535) {
        set_err(err, errlen, "receiver: invalid port", NULL);
        return NULL;
    }
    pthread_once(&threads_once, enable_libevent_threads);
    if (!threads_ok) {
        set_err(err, errlen, "receiver: libevent thread support unavailable", NULL);
        return NULL;
    }
    struct receiver *r = calloc(1, sizeof *r);
    if (r == NULL) {
        set_err(err, errlen, "receiver: out of memory", NULL);
        return NULL;
    }
    pthread_mutex_init(&r->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->changed, &ca);
    pthread_condattr_destroy(&ca);

    r->secret = strdup(secret);
    r->secret_len = strlen(secret);
    r->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    r->delivery_ring = calloc(DELIVERY_MEMORY, sizeof *r->delivery_ring);
    if (r->secret == NULL || r->mac == NULL || r->delivery_ring == NULL ||
        table_init(&r->values, 1024) == -1 || table_init(&r->deliveries, 2 * DELIVERY_MEMORY) == -1) {
        set_err(err, errlen, "receiver: cannot set up HMAC or tables (out of memory?)", NULL);
        goto fail;
    }
    r->base = event_base_new();
    r->http = r->base ? evhttp_new(r->base) : NULL;
    if (r->http == NULL) {
        set_err(err, errlen, "receiver: cannot create the libevent HTTP server", NULL);
        goto fail;
    }
    evhttp_set_max_body_size(r->http, MAX_BODY_BYTES);
    evhttp_set_timeout(r->http, CONNECTION_TIMEOUT_S);
    evhttp_set_allowed_methods(r->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
    evhttp_set_gencb(r->http, handle_request, r);
    struct evhttp_bound_socket *bound =
        evhttp_bind_socket_with_handle(r->http, "127.0.0.1", (ev_uint16_t)port);
    if (bound == NULL) {
        char where[64];
        snprintf(where, sizeof where, "receiver: cannot listen on 127.0.0.1:%d", port);
        set_err(err, errlen, where, strerror(errno));
        goto fail;
    }
    struct sockaddr_in addr;
    socklen_t addrlen = sizeof addr;
    if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&addr, &addrlen) == -1) {
        set_err(err, errlen, "receiver: cannot read the listening port", strerror(errno));
        goto fail;
    }
    r->port = ntohs(addr.sin_port);

    /* The thread starts with every signal blocked: SIGPIPE from a client that hung up
     * becomes EPIPE, and SIGINT/SIGTERM go to the program's own threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&r->thread, NULL, run_loop, r);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        set_err(err, errlen, "receiver: cannot start its thread", strerror(rc));
        goto fail;
    }
    return r;

fail:
    if (r->http)
        evhttp_free(r->http);
    if (r->base)
        event_base_free(r->base);
    r->http = NULL;
    r->base = NULL;
    receiver_free(r);
    return NULL;
}

int receiver_port(const struct receiver *r)
{
    return r->port;
}

void receiver_free(struct receiver *r)
{
    if (r == NULL)
        return;
    if (r->base) {
        atomic_store(&r->stopping, 1);
        event_base_loopbreak(r->base);
        pthread_join(r->thread, NULL);
        evhttp_free(r->http);
        event_base_free(r->base);
    }
    if (r->values.buckets)
        table_release(&r->values);
    if (r->deliveries.buckets)
        table_release(&r->deliveries);
    free(r->delivery_ring);
    free(r->latencies);
    EVP_MAC_free(r->mac);
    free(r->secret);
    pthread_cond_destroy(&r->changed);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static struct node *find_value(struct receiver *r, const char *channel, const char *sku)
{
    char key[MAX_KEY_BYTES];
    size_t keylen = value_key(key, sizeof key, channel, sku);
    return keylen ? table_find(&r->values, key, keylen) : NULL;
}

int receiver_get(struct receiver *r, const char *channel, const char *sku, long long *available,
                 long long *version)
{
    pthread_mutex_lock(&r->lock);
    struct node *n = find_value(r, channel, sku);
    if (n) {
        if (available)
            *available = n->available;
        if (version)
            *version = n->version;
    }
    pthread_mutex_unlock(&r->lock);
    return n ? 0 : -1;
}

int receiver_received_ms(struct receiver *r, const char *channel, const char *sku,
                         double *received_ms)
{
    pthread_mutex_lock(&r->lock);
    struct node *n = find_value(r, channel, sku);
    if (n)
        *received_ms = n->received_ms;
    pthread_mutex_unlock(&r->lock);
    return n ? 0 : -1;
}

void receiver_stats(struct receiver *r, struct receiver_stats *out)
{
    pthread_mutex_lock(&r->lock);
    *out = r->stats;
    pthread_mutex_unlock(&r->lock);
}

size_t receiver_latencies(struct receiver *r, double *out, size_t max)
{
    pthread_mutex_lock(&r->lock);
    size_t n = r->latency_count < max ? r->latency_count : max;
    /* The newest sample sits just before latency_next. */
    size_t start = (r->latency_next + r->latency_cap - n) % (r->latency_cap ? r->latency_cap : 1);
    for (size_t i = 0; i < n; i++)
        out[i] = r->latencies[(start + i) % r->latency_cap];
    pthread_mutex_unlock(&r->lock);
    return n;
}

void receiver_fail_next(struct receiver *r, int status, int count, int retry_after_s)
{
    if (status < 100 || status > 599)
        count = 0;
    pthread_mutex_lock(&r->lock);
    r->fail_status = status;
    r->fail_count = count > 0 ? count : 0;
    r->fail_retry_after = retry_after_s;
    pthread_mutex_unlock(&r->lock);
}

void receiver_stall_next(struct receiver *r, int ms, int count)
{
    pthread_mutex_lock(&r->lock);
    r->stall_ms = ms > 0 ? ms : 0;
    r->stall_count = count > 0 ? count : 0;
    pthread_mutex_unlock(&r->lock);
}

void receiver_set_log(struct receiver *r, FILE *f)
{
    pthread_mutex_lock(&r->lock);
    r->log = f;
    pthread_mutex_unlock(&r->lock);
}

int receiver_wait_value(struct receiver *r, const char *channel, const char *sku,
                        long long available, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    int rc = -1, timed_out = 0;
    pthread_mutex_lock(&r->lock);
    for (;;) {
        struct node *n = find_value(r, channel, sku);
        if (n && n->available == available) {
            rc = 0;
            break;
        }
        if (timed_out)
            break;
        timed_out = pthread_cond_timedwait(&r->changed, &r->lock, &deadline) == ETIMEDOUT;
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}
