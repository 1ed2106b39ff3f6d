/* push.c — see push.h.
 *
 * Per channel, what is waiting to go out lives in a table keyed by SKU, so a newer
 * value replaces an older one that was not sent yet (coalescing). One request per
 * channel is in flight; a failed request is retried unchanged (same body, same
 * delivery id, fresh timestamp and signature) with exponential backoff and jitter.
 * The availability topic is only the fast path: a sweep over Redis finds every SKU
 * whose current version a channel has not been given (DESIGN §4), at start, on a
 * timer and when a channel comes back. */
#include "push.h"

#include "stockmesh/alertbus.h"
#include "stockmesh/config.h"
#include "stockmesh/event.h"
#include "stockmesh/http_client.h"
#include "stockmesh/kafka.h"
#include "stockmesh/log.h"
#include "stockmesh/metrics.h"
#include "stockmesh/redis.h"
#include "stockmesh/runtime.h"
#include "webhook.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define PUSH_SKU_MAX 128
#define PUSH_LOCATION_MAX 64
#define PUSH_BACKOFF_MIN_MS 100
#define PUSH_BACKOFF_MAX_MS 30000
#define PUSH_SWEEP_INTERVAL_S 30

struct update {
    char sku[PUSH_SKU_MAX];
    char location[PUSH_LOCATION_MAX]; /* pickup channels: the store; "" otherwise */
    long long available;
    long long version;
    int64_t commit_us;
    int64_t merge_us;             /* when merge published it (trace), 0 when unknown */
    int used;
};

struct channel {
    struct push *p;
    const struct config_channel *cfg;
    struct update *slots;         /* open addressing by SKU, linear probing */
    size_t cap, count;

    int in_flight;
    struct update *batch;
    struct webhook_update *wire;
    size_t nbatch;
    char *body;
    size_t body_len;
    char delivery_id[33];
    int attempt;
    int64_t failing_since_us;
    int64_t sent_us;              /* when the request in flight was (re)sent */
    int down_reported;
    struct event *retry_timer;
    struct event *batch_timer;

    struct metric *m_delivered, *m_failed, *m_retried, *m_pending, *m_latency, *m_requests;
    struct metric *m_merge_to_sent, *m_sent_to_accepted;
};

struct push {
    struct runtime *rt;
    struct redis *redis;
    struct http_client *http;
    struct kafka_consumer *consumer;
    struct kafka_producer *producer;
    char dlq_topic[256];
    struct alertbus *alerts;
    struct channel *channels;
    size_t nchannels;
    struct event *sweep_timer;
    int sweeping;
    long long sweep_cursor;
    struct metric *m_read_to_merge;
};

/* ---- the per-channel table of waiting updates ---- */

static size_t sku_hash(const char *s, const char *location)
{
    size_t h = 1469598103934665603u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211u;
    for (h = (h ^ 0x1f) * 1099511628211u; *location; location++)
        h = (h ^ (unsigned char)*location) * 1099511628211u;
    return h;
}

static int table_grow(struct channel *c)
{
    size_t cap = c->cap ? c->cap * 2 : 256;
    struct update *slots = calloc(cap, sizeof *slots);
    if (!slots) return -1;
    for (size_t i = 0; i < c->cap; i++) {
        if (!c->slots[i].used) continue;
        size_t j = sku_hash(c->slots[i].sku, c->slots[i].location) & (cap - 1);
        while (slots[j].used) j = (j + 1) & (cap - 1);
        slots[j] = c->slots[i];
    }
    free(c->slots);
    c->slots = slots;
    c->cap = cap;
    return 0;
}

/* Keeps the newest version per SKU (and store, for a pickup channel). */
static void table_put(struct channel *c, const char *sku, const char *location,
                      long long available, long long version, int64_t commit_us, int64_t merge_us)
{
    if (strlen(sku) >= PUSH_SKU_MAX || strlen(location) >= PUSH_LOCATION_MAX) return;
    if ((c->count + 1) * 4 > c->cap * 3 && table_grow(c) != 0) {
        log_error("push", "%s: out of memory queueing %s; the sweep will find it", c->cfg->name,
                  sku);
        return;
    }
    size_t i = sku_hash(sku, location) & (c->cap - 1);
    while (c->slots[i].used &&
           (strcmp(c->slots[i].sku, sku) != 0 || strcmp(c->slots[i].location, location) != 0))
        i = (i + 1) & (c->cap - 1);
    struct update *u = &c->slots[i];
    if (u->used && u->version >= version) return;
    if (!u->used) c->count++;
    u->used = 1;
    snprintf(u->sku, sizeof u->sku, "%s", sku);
    snprintf(u->location, sizeof u->location, "%s", location);
    u->available = available;
    u->version = version;
    u->commit_us = commit_us;
    u->merge_us = merge_us;
}

/* Removes slot i, shifting later entries of its probe run back (no tombstones). */
static void table_remove(struct channel *c, size_t i)
{
    c->slots[i].used = 0;
    c->count--;
    size_t j = i;
    for (;;) {
        j = (j + 1) & (c->cap - 1);
        if (!c->slots[j].used) return;
        size_t home = sku_hash(c->slots[j].sku, c->slots[j].location) & (c->cap - 1);
        /* move j into the hole at i unless its home lies cyclically in (i, j] */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            c->slots[i] = c->slots[j];
            c->slots[j].used = 0;
            i = j;
        }
    }
}

/* ---- delivery ---- */

static void channel_kick(struct channel *c);

static void random_id(char out[33])
{
    unsigned char raw[16];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        for (size_t i = 0; i < sizeof raw; i++) raw[i] = (unsigned char)rand();
    for (size_t i = 0; i < sizeof raw; i++) sprintf(out + 2 * i, "%02x", raw[i]);
}

static void channel_post(struct channel *c);

static void record_delivered(struct push *p, struct channel *c)
{
    char key[PUSH_SKU_MAX + 16], version[24], field[256];
    for (size_t i = 0; i < c->nbatch; i++) {
        snprintf(key, sizeof key, "sm:{%s}:c", c->batch[i].sku);
        snprintf(version, sizeof version, "%lld", c->batch[i].version);
        if (c->batch[i].location[0])
            snprintf(field, sizeof field, "%s@%s", c->cfg->name, c->batch[i].location);
        else
            snprintf(field, sizeof field, "%s", c->cfg->name);
        const char *argv[] = {"FCALL", "stockmesh_delivered", "1", key, field, version};
        size_t lens[6];
        for (int k = 0; k < 6; k++) lens[k] = strlen(argv[k]);
        /* not recorded (Redis away) only means the sweep sends it once more */
        redis_send(p->redis, NULL, NULL, 6, argv, lens);
    }
}

static void batch_done(struct channel *c)
{
    free(c->body);
    c->body = NULL;
    c->nbatch = 0;
    c->in_flight = 0;
    c->attempt = 0;
}

/* ---- alerts: a channel down, a channel refusing what it is sent ---- */

/* Opens (or counts again) the channel's alert of rule; takes details (a JSON object). */
static void raise_channel_alert(struct channel *c, const char *rule, const char *severity,
                                const char *summary, json_t *details)
{
    char key[300];
    snprintf(key, sizeof key, "%s:%s", rule, c->cfg->name);
    char *text = details ? json_dumps(details, JSON_COMPACT) : NULL;
    json_decref(details);
    const struct config *cfg = c->p->rt->cfg;
    struct alert_input in = {.rule = rule, .key = key, .severity = severity, .summary = summary,
                             .details = text,
                             .contacts = (const char *const *)cfg->rules.contacts,
                             .ncontacts = cfg->rules.ncontacts};
    alertbus_raise(c->p->alerts, &in);
    free(text);
}

/* Resolves the channel's channel_down alert, if one is open: it delivers again. */
static void clear_channel_down(struct channel *c)
{
    char key[300];
    snprintf(key, sizeof key, "channel_down:%s", c->cfg->name);
    alertbus_clear(c->p->alerts, key);
}

static void send_to_dlq(struct channel *c, int status, const char *response)
{
    struct push *p = c->p;
    json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:s, s:I}", "code", "channel_rejected", "channel",
                          c->cfg->name, "status", status, "response", response ? response : "",
                          "delivery", c->delivery_id, "ts_ms",
                          (json_int_t)(event_now_us() / 1000));
    json_t *body = json_loads(c->body, 0, NULL);
    if (o && body) json_object_set_new(o, "request", body);
    else json_decref(body);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (!text || kafka_producer_send(p->producer, p->dlq_topic, c->cfg->name,
                                     strlen(c->cfg->name), text, strlen(text), NULL) != 0)
        log_error("push", "%s: cannot write the rejected delivery %s to %s", c->cfg->name,
                  c->delivery_id, p->dlq_topic);
    free(text);
    json_decref(o);
}

static void request_done(void *arg, const struct http_client_result *res)
{
    struct channel *c = arg;
    metrics_inc(c->m_requests, 1);
    if (res->status >= 200 && res->status < 300) {
        int64_t now = event_now_us();
        metrics_observe(c->m_sent_to_accepted, (double)(now - c->sent_us) / 1e6);
        for (size_t i = 0; i < c->nbatch; i++)
            if (c->batch[i].commit_us)
                metrics_observe(c->m_latency, (double)(now - c->batch[i].commit_us) / 1e6);
        metrics_inc(c->m_delivered, c->nbatch);
        record_delivered(c->p, c);
        if (c->failing_since_us) {
            log_info("push", "%s: delivering again after %.1f s of failures", c->cfg->name,
                     (double)(now - c->failing_since_us) / 1e6);
            c->failing_since_us = 0;
            if (c->down_reported) clear_channel_down(c);
            c->down_reported = 0;
        }
        batch_done(c);
        channel_kick(c);
        return;
    }
    metrics_inc(c->m_failed, 1);
    int permanent = res->status >= 400 && res->status < 500 && res->status != 408 &&
                    res->status != 429;
    if (permanent) {
        log_error("push", "%s: channel refused delivery %s with HTTP %d (%.200s); %zu updates "
                          "written to the DLQ",
                  c->cfg->name, c->delivery_id, res->status, res->body ? res->body : "",
                  c->nbatch);
        send_to_dlq(c, res->status, res->body);
        char summary[400];
        snprintf(summary, sizeof summary,
                 "channel %s refused %zu availability updates with HTTP %d; they are in %s",
                 c->cfg->name, c->nbatch, res->status, c->p->dlq_topic);
        raise_channel_alert(c, "channel_rejected", "warning", summary,
                            json_pack("{s:s, s:i, s:s}", "channel", c->cfg->name, "status",
                                      res->status, "delivery", c->delivery_id));
        batch_done(c);
        channel_kick(c);
        return;
    }
    int64_t now = event_now_us();
    if (!c->failing_since_us) c->failing_since_us = now;
    if (!c->down_reported &&
        now - c->failing_since_us > (int64_t)c->cfg->down_alert_s * 1000000) {
        char why[160], summary[400];
        if (res->status) snprintf(why, sizeof why, "HTTP %d", res->status);
        else snprintf(why, sizeof why, "%.150s", res->error ? res->error : "no answer");
        log_error("push", "%s: channel down for more than %d s (%s)", c->cfg->name,
                  c->cfg->down_alert_s, why);
        snprintf(summary, sizeof summary,
                 "channel %s has not accepted a delivery for more than %d s (%s); its updates "
                 "wait and it will get the latest value per SKU when it is back",
                 c->cfg->name, c->cfg->down_alert_s, why);
        raise_channel_alert(c, "channel_down", "critical", summary,
                            json_pack("{s:s, s:s, s:I}", "channel", c->cfg->name, "last_failure",
                                      why, "failing_since_ms",
                                      (json_int_t)(c->failing_since_us / 1000)));
        c->down_reported = 1;
    }
    long long backoff = PUSH_BACKOFF_MIN_MS;
    for (int i = 0; i < c->attempt && backoff < PUSH_BACKOFF_MAX_MS; i++) backoff *= 2;
    if (backoff > PUSH_BACKOFF_MAX_MS) backoff = PUSH_BACKOFF_MAX_MS;
    backoff = backoff / 2 + rand() % (backoff / 2 + 1); /* jitter: spread retries */
    if (res->status == 429 && res->retry_after_s >= 0) backoff = res->retry_after_s * 1000LL;
    c->attempt++;
    metrics_inc(c->m_retried, 1);
    log_warning("push", "%s: delivery %s failed (%s%s%d); retry %d in %lld ms", c->cfg->name,
                c->delivery_id, res->status ? "HTTP " : res->error, res->status ? "" : ", ",
                res->status, c->attempt, backoff);
    struct timeval tv = {backoff / 1000, (backoff % 1000) * 1000};
    evtimer_add(c->retry_timer, &tv);
}

static void channel_post(struct channel *c)
{
    char stamp_header[64], signature_header[WEBHOOK_SIGNATURE_LEN + 40], delivery_header[80];
    char signature[WEBHOOK_SIGNATURE_LEN + 1];
    long long now_ms = event_now_us() / 1000;
    webhook_sign(c->cfg->secret, now_ms, c->body, c->body_len, signature);
    snprintf(stamp_header, sizeof stamp_header, "X-Stockmesh-Timestamp: %lld", now_ms);
    snprintf(signature_header, sizeof signature_header, "X-Stockmesh-Signature: %s", signature);
    snprintf(delivery_header, sizeof delivery_header, "X-Stockmesh-Delivery: %s", c->delivery_id);
    const char *headers[] = {stamp_header, signature_header, delivery_header};
    c->sent_us = event_now_us();
    if (http_client_post(c->p->http, c->cfg->url, headers, 3, c->body, c->body_len,
                         c->cfg->timeout_ms, request_done, c) != 0) {
        struct http_client_result res = {.status = 0, .error = "cannot start the request"};
        request_done(c, &res);
    }
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    channel_post(arg);
}

static void channel_send_batch(struct channel *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->cap && n < (size_t)c->cfg->batch_max;) {
        if (!c->slots[i].used) {
            i++;
            continue;
        }
        c->batch[n++] = c->slots[i];
        table_remove(c, i); /* may shift a later entry into slot i: look at it again */
    }
    if (!n) return;
    int64_t now = event_now_us();
    for (size_t i = 0; i < n; i++)
        if (c->batch[i].merge_us && now >= c->batch[i].merge_us)
            metrics_observe(c->m_merge_to_sent, (double)(now - c->batch[i].merge_us) / 1e6);
    for (size_t i = 0; i < n; i++)
        c->wire[i] = (struct webhook_update){c->batch[i].sku,
                                             c->batch[i].location[0] ? c->batch[i].location : NULL,
                                             c->batch[i].available, c->batch[i].version,
                                             c->batch[i].commit_us / 1000};
    c->nbatch = n;
    c->body = webhook_body(c->cfg->name, c->wire, n, &c->body_len);
    if (!c->body) {
        log_error("push", "%s: out of memory building a request; the sweep will retry",
                  c->cfg->name);
        c->nbatch = 0;
        return;
    }
    random_id(c->delivery_id);
    c->in_flight = 1;
    c->attempt = 0;
    channel_post(c);
}

static void batch_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct channel *c = arg;
    if (!c->in_flight && c->count) channel_send_batch(c);
}

static void channel_kick(struct channel *c)
{
    metrics_set(c->m_pending, (double)c->count);
    if (c->in_flight || !c->count) return;
    if (c->cfg->batch_wait_ms > 0 && c->count < (size_t)c->cfg->batch_max) {
        if (!evtimer_pending(c->batch_timer, NULL)) {
            struct timeval tv = {c->cfg->batch_wait_ms / 1000, (c->cfg->batch_wait_ms % 1000) * 1000};
            evtimer_add(c->batch_timer, &tv);
        }
        return;
    }
    evtimer_del(c->batch_timer);
    channel_send_batch(c);
}

/* The channel of a field name of the unified layer: "<channel>" for a ship channel,
 * "<channel>@<location>" for a pickup channel, whose store goes to *location. */
static struct channel *find_channel(struct push *p, const char *name, const char **location)
{
    const char *at = strchr(name, '@');
    size_t len = at ? (size_t)(at - name) : strlen(name);
    *location = at ? at + 1 : "";
    for (size_t i = 0; i < p->nchannels; i++) {
        const struct config_channel *cfg = p->channels[i].cfg;
        if (strlen(cfg->name) == len && strncmp(cfg->name, name, len) == 0 &&
            (cfg->fulfilment == CONFIG_PICKUP) == (at != NULL))
            return &p->channels[i];
    }
    return NULL;
}

/* ---- the fast path: availability events ---- */

static int on_availability(void *arg, const struct kafka_message *msg)
{
    struct push *p = arg;
    json_t *root = json_loadb(msg->value, msg->len, 0, NULL);
    const char *sku = json_string_value(json_object_get(root, "sku"));
    json_t *version = json_object_get(root, "version");
    json_t *channels = json_object_get(root, "channels");
    if (!sku || !json_is_integer(version) || !json_is_object(channels)) {
        log_warning("push", "ignoring a malformed availability event at %s partition %d offset "
                            "%lld",
                    msg->topic, (int)msg->partition, (long long)msg->offset);
    } else {
        json_t *trace = json_object_get(root, "trace");
        int64_t commit_us = json_integer_value(json_object_get(trace, "commit_us"));
        int64_t read_us = json_integer_value(json_object_get(trace, "read_us"));
        int64_t merge_us = json_integer_value(json_object_get(trace, "merge_us"));
        if (read_us && merge_us >= read_us)
            metrics_observe(p->m_read_to_merge, (double)(merge_us - read_us) / 1e6);
        const char *name;
        json_t *available;
        json_object_foreach(channels, name, available)
        {
            const char *location;
            struct channel *c = find_channel(p, name, &location);
            if (!c || !json_is_integer(available)) continue;
            table_put(c, sku, location, json_integer_value(available),
                      json_integer_value(version), commit_us, merge_us);
            channel_kick(c);
        }
    }
    json_decref(root);
    /* nothing to lose by committing now: what is pending is recomputed from Redis */
    kafka_consumer_done(p->consumer, msg->topic, msg->partition, msg->offset + 1);
    return 0;
}

/* ---- the sweep: everything not yet delivered, from Redis ---- */

static void sweep_next(struct push *p);

struct sweep_item {
    struct push *p;
    char sku[PUSH_SKU_MAX];
};

static void sku_pending_reply(void *arg, redisReply *reply)
{
    struct sweep_item *it = arg;
    struct push *p = it->p;
    if (reply && reply->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i + 2 < reply->elements; i += 3) {
            if (reply->element[i]->type != REDIS_REPLY_STRING) continue;
            const char *location;
            struct channel *c = find_channel(p, reply->element[i]->str, &location);
            if (!c) continue;
            /* a request in flight may carry this very version: sending it again is
               harmless, the receiver keeps the highest version */
            table_put(c, it->sku, location, reply->element[i + 1]->integer,
                      reply->element[i + 2]->integer, 0, 0);
            channel_kick(c);
        }
    }
    free(it);
}

static void scan_reply(void *arg, redisReply *reply)
{
    struct push *p = arg;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        p->sweeping = 0;
        return;
    }
    p->sweep_cursor = strtoll(reply->element[0]->str, NULL, 10);
    redisReply *keys = reply->element[1];
    for (size_t i = 0; i < keys->elements; i++) {
        const char *key = keys->element[i]->str;
        size_t len = keys->element[i]->len;
        /* "sm:{<sku>}:c" */
        if (len < 7 || strncmp(key, "sm:{", 4) != 0 || strcmp(key + len - 3, "}:c") != 0) continue;
        struct sweep_item *it = malloc(sizeof *it);
        if (!it) continue;
        it->p = p;
        snprintf(it->sku, sizeof it->sku, "%.*s", (int)(len - 7), key + 4);
        const char *argv[] = {"FCALL", "stockmesh_pending", "1", key};
        size_t lens[] = {5, 17, 1, len};
        if (redis_send(p->redis, sku_pending_reply, it, 4, argv, lens) != 0) free(it);
    }
    if (p->sweep_cursor == 0) {
        p->sweeping = 0;
        return;
    }
    sweep_next(p);
}

static void sweep_next(struct push *p)
{
    char cursor[24];
    snprintf(cursor, sizeof cursor, "%lld", p->sweep_cursor);
    if (redis_sendf(p->redis, scan_reply, p, "SCAN %s MATCH sm:{*}:c COUNT 1000", cursor) != 0)
        p->sweeping = 0;
}

static void sweep_start(struct push *p)
{
    if (p->sweeping || !redis_ready(p->redis)) return;
    p->sweeping = 1;
    p->sweep_cursor = 0;
    sweep_next(p);
}

static void sweep_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sweep_start(arg);
}

static void redis_state(void *arg, int ready)
{
    if (ready) sweep_start(arg);
}

/* ---- life cycle ---- */

struct push *push_new(struct runtime *rt, char *err, size_t errlen)
{
    struct push *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->rt = rt;
    const struct config *cfg = rt->cfg;
    p->nchannels = cfg->nchannels;
    p->channels = calloc(p->nchannels ? p->nchannels : 1, sizeof *p->channels);
    if (!p->channels) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < p->nchannels; i++) {
        struct channel *c = &p->channels[i];
        c->p = p;
        c->cfg = &cfg->channels[i];
        c->batch = calloc((size_t)c->cfg->batch_max, sizeof *c->batch);
        c->wire = calloc((size_t)c->cfg->batch_max, sizeof *c->wire);
        c->retry_timer = evtimer_new(rt->base, retry_cb, c);
        c->batch_timer = evtimer_new(rt->base, batch_timer_cb, c);
        if (!c->batch || !c->wire || !c->retry_timer || !c->batch_timer || table_grow(c) != 0) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        char labels[160];
        snprintf(labels, sizeof labels, "channel=\"%s\"", c->cfg->name);
        c->m_delivered = metrics_counter(rt->metrics, "stockmesh_push_delivered_total",
                                         "Availability updates a channel accepted.", labels);
        c->m_failed = metrics_counter(rt->metrics, "stockmesh_push_failed_requests_total",
                                      "Requests a channel did not accept.", labels);
        c->m_retried = metrics_counter(rt->metrics, "stockmesh_push_retries_total",
                                       "Requests sent again after a failure.", labels);
        c->m_requests = metrics_counter(rt->metrics, "stockmesh_push_requests_total",
                                        "Requests sent to a channel.", labels);
        c->m_pending = metrics_gauge(rt->metrics, "stockmesh_push_pending",
                                     "Updates waiting to be sent to a channel.", labels);
        c->m_latency = metrics_histogram(rt->metrics, "stockmesh_push_commit_to_delivered_seconds",
                                         "Source commit to accepted by the channel.", labels,
                                         metrics_latency_buckets, metrics_latency_nbuckets);
        c->m_merge_to_sent = metrics_histogram(
            rt->metrics, "stockmesh_push_merge_to_sent_seconds",
            "Availability published by merge to its request sent (backbone, queue, coalescing).",
            labels, metrics_latency_buckets, metrics_latency_nbuckets);
        c->m_sent_to_accepted = metrics_histogram(
            rt->metrics, "stockmesh_push_sent_to_accepted_seconds",
            "Request sent to accepted by the channel (one per request).", labels,
            metrics_latency_buckets, metrics_latency_nbuckets);
    }
    p->m_read_to_merge = metrics_histogram(
        rt->metrics, "stockmesh_push_read_to_merge_seconds",
        "Change event read at the source to availability published by merge (event trace).",
        NULL, metrics_latency_buckets, metrics_latency_nbuckets);
    kafka_topic(rt->kafka, p->dlq_topic, sizeof p->dlq_topic, "dlq");
    char topic[256];
    kafka_topic(rt->kafka, topic, sizeof topic, "availability");
    if (kafka_topic_ensure(rt->kafka, topic, err, errlen) != 0 ||
        kafka_topic_ensure(rt->kafka, p->dlq_topic, err, errlen) != 0)
        goto fail;
    p->http = http_client_new(rt->base, 8, err, errlen);
    if (!p->http) goto fail;
    p->redis = redis_new(rt->base, cfg, rt->metrics, "push", err, errlen);
    if (!p->redis) goto fail;
    redis_on_state(p->redis, redis_state, p);
    p->producer = kafka_producer_new(rt->kafka, NULL, NULL, err, errlen);
    if (!p->producer) goto fail;
    p->alerts = alertbus_new(rt, p->producer, err, errlen);
    if (!p->alerts) goto fail;
    const char *topics[] = {topic};
    p->consumer = kafka_consumer_new(rt->kafka, "stockmesh-push", topics, 1, on_availability, p,
                                     err, errlen);
    if (!p->consumer) goto fail;
    p->sweep_timer = event_new(rt->base, -1, EV_PERSIST, sweep_timer_cb, p);
    if (!p->sweep_timer) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    struct timeval every = {PUSH_SWEEP_INTERVAL_S, 0};
    evtimer_add(p->sweep_timer, &every);
    log_info("push", "delivering availability to %zu channels", p->nchannels);
    return p;
fail:
    push_free(p);
    return NULL;
}

void push_free(struct push *p)
{
    if (!p) return;
    if (p->consumer) kafka_consumer_free(p->consumer);
    if (p->http) http_client_free(p->http);
    if (p->redis) redis_free(p->redis);
    alertbus_free(p->alerts);
    if (p->producer) kafka_producer_free(p->producer, 2000);
    if (p->sweep_timer) event_free(p->sweep_timer);
    for (size_t i = 0; i < p->nchannels; i++) {
        struct channel *c = &p->channels[i];
        if (c->retry_timer) event_free(c->retry_timer);
        if (c->batch_timer) event_free(c->batch_timer);
        free(c->slots);
        free(c->batch);
        free(c->wire);
        free(c->body);
    }
    free(p->channels);
    free(p);
}
