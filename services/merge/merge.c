/* merge.c — see merge.h.
 *
 * Messages are taken in arrival order into a fixed ring of in-flight work. Each one's
 * facts go to Redis as pipelined FCALLs on one connection, so replies return in send
 * order. Work completes only from the head of the ring: that keeps per-partition
 * order for the offsets merge reports as applied, which the readers use to decide
 * what they may confirm to their sources (DESIGN §4). */
#include "merge.h"

#include "mapping.h"
#include "stockmesh/config.h"
#include "stockmesh/event.h"
#include "stockmesh/kafka.h"
#include "stockmesh/log.h"
#include "stockmesh/metrics.h"
#include "stockmesh/redis.h"
#include "stockmesh/runtime.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MERGE_FLUSH_MS 5
#define MERGE_RETRY_MS 500

struct work {
    struct merge *m;
    struct change_event ev;
    int table;                    /* index into mapping.tables */
    int32_t partition;
    int64_t offset;
    struct stock_fact facts[2];
    int nfacts;
    int remaining;                /* calls sent and not answered */
    int lost;                     /* a call got no answer: send all again */
    int64_t consumed_us;
};

/* Highest applied offset per (topic, partition), reported to Kafka and Redis. */
struct applied {
    int table;
    int32_t partition;
    int64_t next_offset;
    int dirty;
};

/* The channels one location feeds, with their buffers as strings for FCALL. */
struct location_channels {
    size_t n;
    const struct config_channel **channels;
    char (*buffer)[24];
};

struct merge {
    struct runtime *rt;
    const struct config *cfg;
    struct mapping mapping;
    struct location_channels *by_location;
    struct redis *redis;
    struct kafka_consumer *consumer;
    struct kafka_producer *producer;
    char availability_topic[256];
    char dlq_topic[256];
    char applied_key[128];

    struct work *ring;
    size_t cap, head, count;
    int consumer_full;
    int closing;

    struct applied *applied;
    size_t napplied, applied_cap;
    struct event *flush_timer;
    struct event *retry_timer;

    struct metric *m_events, *m_facts, *m_duplicates, *m_changes, *m_dlq, *m_inflight;
    struct metric *m_latency;
};

static void merge_send(struct merge *m, struct work *w);

static struct work *ring_at(struct merge *m, size_t i) { return &m->ring[(m->head + i) % m->cap]; }

static void mark_applied(struct merge *m, int table, int32_t partition, int64_t next_offset)
{
    for (size_t i = 0; i < m->napplied; i++)
        if (m->applied[i].table == table && m->applied[i].partition == partition) {
            if (next_offset > m->applied[i].next_offset) {
                m->applied[i].next_offset = next_offset;
                m->applied[i].dirty = 1;
            }
            goto schedule;
        }
    if (m->napplied == m->applied_cap) {
        size_t cap = m->applied_cap ? m->applied_cap * 2 : 16;
        struct applied *a = realloc(m->applied, cap * sizeof *a);
        if (!a) return; /* reported again with the next message of this partition */
        m->applied = a;
        m->applied_cap = cap;
    }
    m->applied[m->napplied++] = (struct applied){table, partition, next_offset, 1};
schedule:
    if (!evtimer_pending(m->flush_timer, NULL)) {
        struct timeval tv = {0, MERGE_FLUSH_MS * 1000};
        evtimer_add(m->flush_timer, &tv);
    }
}

static void flush_applied(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct merge *m = arg;
    for (size_t i = 0; i < m->napplied; i++) {
        struct applied *a = &m->applied[i];
        if (!a->dirty) continue;
        const char *topic = m->mapping.tables[a->table].topic;
        kafka_consumer_done(m->consumer, topic, a->partition, a->next_offset);
        /* sent after the facts on the same connection, so Redis never records an offset
           ahead of the data it covers */
        if (redis_sendf(m->redis, NULL, NULL, "HSET %s %s|%d %lld", m->applied_key, topic,
                        (int)a->partition, (long long)a->next_offset) == 0)
            a->dirty = 0;
    }
}

static void complete_head(struct merge *m)
{
    while (m->count) {
        struct work *w = ring_at(m, 0);
        if (w->remaining || w->lost) break;
        mark_applied(m, w->table, w->partition, w->offset + 1);
        double seconds = (double)(event_now_us() - w->ev.commit_us) / 1e6;
        if (w->ev.commit_us && seconds >= 0) metrics_observe(m->m_latency, seconds);
        event_release(&w->ev);
        m->head = (m->head + 1) % m->cap;
        m->count--;
    }
    metrics_set(m->m_inflight, (double)m->count);
    if (m->consumer_full && m->count < m->cap / 2) {
        m->consumer_full = 0;
        kafka_consumer_resume(m->consumer);
    }
}

static void send_dlq(struct merge *m, const struct kafka_message *msg, const char *code,
                     const char *reason)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:I, s:s%, s:I}", "code", code, "reason", reason,
                          "topic", msg->topic, "partition", (int)msg->partition, "offset",
                          (json_int_t)msg->offset, "event", (const char *)msg->value, msg->len,
                          "ts_ms", (json_int_t)(event_now_us() / 1000));
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (!body || kafka_producer_send(m->producer, m->dlq_topic, msg->key, msg->key_len, body,
                                     strlen(body), NULL) != 0)
        log_error("merge", "cannot write to %s; refused event was: %s (%s)", m->dlq_topic, code,
                  reason);
    free(body);
    json_decref(o);
    char labels[64];
    snprintf(labels, sizeof labels, "reason=\"%s\"", code);
    metrics_inc(metrics_counter(m->rt->metrics, "stockmesh_merge_dlq_total",
                                "Change events refused by merge and written to the DLQ.", labels),
                1);
    log_warning("merge", "to DLQ (%s): %s [%s partition %d offset %lld]", code, reason,
                msg->topic, (int)msg->partition, (long long)msg->offset);
}

static void publish_availability(struct merge *m, struct work *w, const struct stock_fact *f,
                                 const redisReply *r)
{
    json_t *channels = json_object();
    for (size_t i = 2; i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            json_object_set_new(channels, r->element[i]->str,
                                json_integer(r->element[i + 1]->integer));
    json_t *o = json_pack("{s:s, s:I, s:o, s:I, s:{s:I, s:I, s:I}}", "sku", f->sku, "version",
                          (json_int_t)r->element[1]->integer, "channels", channels, "ts_ms",
                          (json_int_t)(f->commit_us / 1000), "trace", "commit_us",
                          (json_int_t)f->commit_us, "read_us", (json_int_t)w->ev.read_us,
                          "merge_us", (json_int_t)event_now_us());
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    /* a lost notification delays nothing for long: push recomputes what is pending
       from Redis (DESIGN §4) */
    if (!body || kafka_producer_send(m->producer, m->availability_topic, f->sku, strlen(f->sku),
                                     body, strlen(body), NULL) != 0)
        log_warning("merge", "availability of %s not published; push will find it pending",
                    f->sku);
    else
        metrics_inc(m->m_changes, 1);
    free(body);
    json_decref(o);
}

/* Errors that describe the server's state, not the fact: worth sending again. */
static int retryable(const char *error)
{
    static const char *const transient[] = {"LOADING", "BUSY", "TRYAGAIN", "OOM", "MASTERDOWN",
                                            "READONLY", "CLUSTERDOWN", "NOREPLICAS"};
    for (size_t i = 0; i < sizeof transient / sizeof transient[0]; i++)
        if (strncmp(error, transient[i], strlen(transient[i])) == 0) return 1;
    /* a Redis that restarted empty of functions until the library is loaded again */
    return strstr(error, "Function not found") != NULL;
}

/* The reply's arg identifies the fact: the work item and the fact index in its low bit. */
static void applied_reply(void *arg, redisReply *reply)
{
    struct work *w = (struct work *)((uintptr_t)arg & ~(uintptr_t)1);
    int index = (int)((uintptr_t)arg & 1);
    struct merge *m = w->m;
    if (m->closing) return;
    w->remaining--;
    if (!reply) {
        w->lost = 1;
    } else if (reply->type == REDIS_REPLY_ERROR) {
        if (retryable(reply->str)) {
            log_warning("merge", "Redis refused a fact for now: %s; retrying", reply->str);
            w->lost = 1;
        } else {
            char reason[600];
            snprintf(reason, sizeof reason, "merge function failed on SKU %s: %.500s",
                     w->facts[index].sku, reply->str);
            size_t len = 0;
            char *original = event_encode(&w->ev, &len);
            struct kafka_message msg = {.topic = m->mapping.tables[w->table].topic,
                                        .partition = w->partition, .offset = w->offset,
                                        .key = w->facts[index].sku,
                                        .key_len = strlen(w->facts[index].sku),
                                        .value = original ? original : "", .len = len};
            send_dlq(m, &msg, "apply_failed", reason);
            free(original);
        }
    } else if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2) {
        metrics_inc(m->m_facts, 1);
        if (reply->element[0]->integer == 0) metrics_inc(m->m_duplicates, 1);
        if (reply->elements > 2) publish_availability(m, w, &w->facts[index], reply);
    }
    if (w->lost && !w->remaining && !evtimer_pending(m->retry_timer, NULL)) {
        struct timeval tv = {0, MERGE_RETRY_MS * 1000};
        evtimer_add(m->retry_timer, &tv);
    }
    complete_head(m);
}

static void send_fact(struct merge *m, struct work *w, int index)
{
    const struct stock_fact *f = &w->facts[index];
    const struct location_channels *lc = &m->by_location[f->location - m->cfg->locations];
    const char *authority = config_authority_for(m->cfg, f->location->type);
    int authoritative = !authority || strcmp(authority, f->source->name) == 0;

    char key_f[MAPPING_SKU_MAX + 16], key_l[MAPPING_SKU_MAX + 16], key_c[MAPPING_SKU_MAX + 16];
    char ts[24], safety[24], qty[CONFIG_QUANTITY_KINDS][24];
    snprintf(key_f, sizeof key_f, "sm:{%s}:f", f->sku);
    snprintf(key_l, sizeof key_l, "sm:{%s}:l", f->sku);
    snprintf(key_c, sizeof key_c, "sm:{%s}:c", f->sku);
    snprintf(ts, sizeof ts, "%lld", (long long)(f->commit_us / 1000));
    snprintf(safety, sizeof safety, "%lld", f->location->safety_stock);
    for (int k = 0; k < CONFIG_QUANTITY_KINDS; k++) {
        if (f->present & (1u << k)) snprintf(qty[k], sizeof qty[k], "%lld", f->quantity[k]);
        else qty[k][0] = 0;
    }

    enum { FIXED = 3 + 3 + 9 };
    const char *argv[FIXED + 2 * 64];
    size_t lens[FIXED + 2 * 64];
    int argc = 0;
    argv[argc++] = "FCALL";
    argv[argc++] = "stockmesh_apply";
    argv[argc++] = "3";
    argv[argc++] = key_f;
    argv[argc++] = key_l;
    argv[argc++] = key_c;
    argv[argc++] = f->location->code;
    argv[argc++] = f->source->name;
    argv[argc++] = f->position;
    argv[argc++] = ts;
    argv[argc++] = authoritative ? "1" : "0";
    argv[argc++] = safety;
    for (int k = 0; k < CONFIG_QUANTITY_KINDS; k++) argv[argc++] = qty[k];
    for (size_t i = 0; i < lc->n && i < 64; i++) {
        argv[argc++] = lc->channels[i]->name;
        argv[argc++] = lc->buffer[i];
    }
    for (int i = 0; i < argc; i++) lens[i] = strlen(argv[i]);
    if (redis_send(m->redis, applied_reply, (void *)((uintptr_t)w | (uintptr_t)index), argc, argv,
                   lens) == 0) {
        w->remaining++;
    } else {
        w->lost = 1; /* not connected: the retry timer sends it once Redis is back */
    }
}

static void merge_send(struct merge *m, struct work *w)
{
    w->lost = 0;
    for (int i = 0; i < w->nfacts; i++) send_fact(m, w, i);
    if (w->lost && !w->remaining && !evtimer_pending(m->retry_timer, NULL)) {
        struct timeval tv = {0, MERGE_RETRY_MS * 1000};
        evtimer_add(m->retry_timer, &tv);
    }
}

static void retry_lost(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct merge *m = arg;
    if (!redis_ready(m->redis)) {
        struct timeval tv = {0, MERGE_RETRY_MS * 1000};
        evtimer_add(m->retry_timer, &tv);
        return;
    }
    for (size_t i = 0; i < m->count; i++) {
        struct work *w = ring_at(m, i);
        if (w->lost && !w->remaining) merge_send(m, w);
    }
    complete_head(m);
}

static void redis_state(void *arg, int ready)
{
    struct merge *m = arg;
    if (ready) retry_lost(-1, 0, m);
}

static int on_message(void *arg, const struct kafka_message *msg)
{
    struct merge *m = arg;
    metrics_inc(m->m_events, 1);
    const struct mapping_table *t = mapping_find(&m->mapping, msg->topic);
    if (!t) {
        send_dlq(m, msg, "unmapped_table", "no table mapping for this topic");
        return 0;
    }
    struct work *w = ring_at(m, m->count);
    memset(w, 0, sizeof *w);
    w->m = m;
    w->table = (int)(t - m->mapping.tables);
    w->partition = msg->partition;
    w->offset = msg->offset;
    w->consumed_us = event_now_us();
    char err[512];
    const char *code = "malformed_event";
    if (event_decode(&w->ev, msg->value, msg->len, err, sizeof err) != 0) {
        send_dlq(m, msg, code, err);
        w->nfacts = 0;
    } else {
        int n = mapping_facts(&m->mapping, t, &w->ev, w->facts, &code, err, sizeof err);
        if (n < 0) {
            send_dlq(m, msg, code, err);
            n = 0;
        }
        w->nfacts = n;
    }
    /* refused messages still take their place in the ring, so offsets stay in order */
    m->count++;
    if (w->nfacts) merge_send(m, w);
    complete_head(m);
    if (m->count == m->cap) {
        m->consumer_full = 1;
        return 1;
    }
    return 0;
}

static int build_location_channels(struct merge *m)
{
    const struct config *cfg = m->cfg;
    m->by_location = calloc(cfg->nlocations ? cfg->nlocations : 1, sizeof *m->by_location);
    if (!m->by_location) return -1;
    for (size_t i = 0; i < cfg->nlocations; i++) {
        struct location_channels *lc = &m->by_location[i];
        lc->channels = calloc(cfg->nchannels ? cfg->nchannels : 1, sizeof *lc->channels);
        lc->buffer = calloc(cfg->nchannels ? cfg->nchannels : 1, sizeof *lc->buffer);
        if (!lc->channels || !lc->buffer) return -1;
        for (size_t j = 0; j < cfg->nchannels; j++)
            if (config_channel_has_location(&cfg->channels[j], &cfg->locations[i])) {
                lc->channels[lc->n] = &cfg->channels[j];
                snprintf(lc->buffer[lc->n], sizeof lc->buffer[lc->n], "%lld",
                         cfg->channels[j].buffer);
                lc->n++;
            }
    }
    return 0;
}

struct merge *merge_new(struct runtime *rt, char *err, size_t errlen)
{
    struct merge *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->rt = rt;
    m->cfg = rt->cfg;
    if (mapping_init(&m->mapping, rt->cfg, err, errlen) != 0) goto fail;
    if (build_location_channels(m) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    m->cap = (size_t)rt->cfg->redis.pipeline;
    m->ring = calloc(m->cap, sizeof *m->ring);
    if (!m->ring) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    struct metrics *mx = rt->metrics;
    m->m_events = metrics_counter(mx, "stockmesh_merge_events_total",
                                  "Change events read by merge.", NULL);
    m->m_facts = metrics_counter(mx, "stockmesh_merge_facts_total",
                                 "Stock facts applied through the merge function.", NULL);
    m->m_duplicates = metrics_counter(mx, "stockmesh_merge_duplicates_total",
                                      "Facts ignored as already applied (replays, duplicates).",
                                      NULL);
    m->m_changes = metrics_counter(mx, "stockmesh_merge_availability_changes_total",
                                   "Availability changes published.", NULL);
    m->m_dlq = metrics_counter(mx, "stockmesh_merge_dlq_total",
                               "Change events refused by merge and written to the DLQ.",
                               "reason=\"malformed_event\"");
    m->m_inflight = metrics_gauge(mx, "stockmesh_merge_in_flight",
                                  "Change events being applied to Redis.", NULL);
    m->m_latency = metrics_histogram(mx, "stockmesh_merge_commit_to_applied_seconds",
                                     "Source commit to applied in Redis.", NULL,
                                     metrics_latency_buckets, metrics_latency_nbuckets);

    kafka_topic(rt->kafka, m->availability_topic, sizeof m->availability_topic, "availability");
    kafka_topic(rt->kafka, m->dlq_topic, sizeof m->dlq_topic, "dlq");
    snprintf(m->applied_key, sizeof m->applied_key, "stockmesh:applied:%s", kafka_epoch(rt->kafka));
    if (kafka_topic_ensure(rt->kafka, m->availability_topic, err, errlen) != 0 ||
        kafka_topic_ensure(rt->kafka, m->dlq_topic, err, errlen) != 0)
        goto fail;
    const char **topics = calloc(m->mapping.ntables ? m->mapping.ntables : 1, sizeof *topics);
    if (!topics) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < m->mapping.ntables; i++) {
        topics[i] = m->mapping.tables[i].topic;
        if (kafka_topic_ensure(rt->kafka, topics[i], err, errlen) != 0) {
            free(topics);
            goto fail;
        }
    }
    m->flush_timer = evtimer_new(rt->base, flush_applied, m);
    m->retry_timer = evtimer_new(rt->base, retry_lost, m);
    m->redis = redis_new(rt->base, rt->cfg, rt->metrics, "merge", err, errlen);
    if (!m->flush_timer || !m->retry_timer || !m->redis) {
        free(topics);
        goto fail;
    }
    redis_on_state(m->redis, redis_state, m);
    m->producer = kafka_producer_new(rt->kafka, NULL, NULL, err, errlen);
    if (!m->producer) {
        free(topics);
        goto fail;
    }
    m->consumer = kafka_consumer_new(rt->kafka, "stockmesh-merge", topics, m->mapping.ntables,
                                     on_message, m, err, errlen);
    free(topics);
    if (!m->consumer) goto fail;
    log_info("merge", "merging %zu source tables into Redis %s:%d", m->mapping.ntables,
             rt->cfg->redis.host, rt->cfg->redis.port);
    return m;
fail:
    merge_free(m);
    return NULL;
}

void merge_free(struct merge *m)
{
    if (!m) return;
    m->closing = 1;
    if (m->consumer) kafka_consumer_free(m->consumer);
    if (m->producer) kafka_producer_free(m->producer, 2000);
    if (m->redis) redis_free(m->redis);
    for (size_t i = 0; i < m->count; i++) event_release(&ring_at(m, i)->ev);
    if (m->flush_timer) event_free(m->flush_timer);
    if (m->retry_timer) event_free(m->retry_timer);
    if (m->by_location) {
        for (size_t i = 0; i < m->cfg->nlocations; i++) {
            free(m->by_location[i].channels);
            free(m->by_location[i].buffer);
        }
        free(m->by_location);
    }
    mapping_release(&m->mapping);
    free(m->applied);
    free(m->ring);
    free(m);
}
