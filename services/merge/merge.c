/* merge.c — see merge.h.
 *
 * Messages are taken in arrival order into a fixed ring of in-flight work. Each one's
 * facts go to Redis as pipelined FCALLs on one connection, so replies return in send
 * order. Work completes only from the head of the ring: that keeps per-partition
 * order for the offsets merge reports as applied, which the readers use to decide
 * what they may confirm to their sources (DESIGN §4). */
#include "merge.h"

#include "alerting.h"
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

enum fact_state { FACT_APPLY, FACT_TRANSLATE, FACT_DONE };

struct work {
    struct merge *m;
    /* The event's JSON tree is released as soon as its rows are mapped: freeing it a
       ring's worth of events later costs the event loop far more (cache misses, malloc
       bins). What is needed afterwards is kept: the event as read (for the DLQ and for
       facts deferred until their item code is known) and its two times. */
    char *original;
    size_t original_len;
    int64_t commit_us, read_us;
    int table;                    /* index into mapping.tables */
    int32_t partition;
    int64_t offset;
    struct stock_fact facts[2];
    unsigned char state[2];       /* enum fact_state of each fact */
    char *deferral[2];            /* a fact's text kept while its item code is unknown */
    int nfacts;
    struct crosswalk_change xw[2]; /* or, for a crosswalk table, its changes */
    int nxw;
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

/* The next offset expected per (topic, partition), to notice events the backbone
 * dropped before they were read (DESIGN §4). */
struct consumed {
    int table;
    int32_t partition;
    int64_t next;
};

/* What the merge function needs to know about one location: the channels it feeds
 * (a pickup channel as "<channel>@<location>") with their buffers as strings, and the
 * source authoritative for each kind ("" = none). */
struct location_channels {
    size_t n;
    char (*name)[160];
    char (*buffer)[24];
    const char *auth[CONFIG_QUANTITY_KINDS];
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
    struct metric *m_deferred, *m_translated, *m_crosswalk;
    struct metric *m_latency;
    struct alerting *alerting;
    struct event *expiry_timer;
    struct consumed *consumed;
    size_t nconsumed, consumed_cap;
    struct metric *m_gaps;
};

/* A message that may follow a gap, checked against what Redis says was applied. */
struct gap_check {
    struct merge *m;
    int table;
    int32_t partition;
    int64_t offset;
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
        double seconds = (double)(event_now_us() - w->commit_us) / 1e6;
        if (w->commit_us && seconds >= 0) metrics_observe(m->m_latency, seconds);
        free(w->original);
        free(w->deferral[0]);
        free(w->deferral[1]);
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

#define REPLY_CHANNELS 5 /* stockmesh_apply: applied, version, flags before, after, detail */

/* The availability message's text, on the stack while it fits. Written directly: building
 * it as a jansson tree and dumping it cost the event loop more than the rest of a
 * fact's reply. */
struct body {
    char *text;
    size_t len, cap;
    int failed;
    char stack[1024];
};

static void body_add(struct body *b, const char *s, size_t n)
{
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = 2 * (b->len + n + 1);
        char *p = b->text == b->stack ? malloc(cap) : realloc(b->text, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        if (b->text == b->stack) memcpy(p, b->stack, b->len);
        b->text = p;
        b->cap = cap;
    }
    memcpy(b->text + b->len, s, n);
    b->len += n;
    b->text[b->len] = 0;
}

#define body_literal(b, s) body_add((b), (s), sizeof(s) - 1)

static void body_int(struct body *b, long long v)
{
    char digits[24];
    body_add(b, digits, (size_t)snprintf(digits, sizeof digits, "%lld", v));
}

/* s as a JSON string, escaped as jansson's json_dumps escapes it: quote, backslash and
 * control characters; UTF-8 as it is. */
static void body_string(struct body *b, const char *s)
{
    body_add(b, "\"", 1);
    const char *run = s;
    for (const char *p = s;; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        body_add(b, run, (size_t)(p - run));
        if (!c) break;
        char esc[8];
        switch (c) {
        case '"': strcpy(esc, "\\\""); break;
        case '\\': strcpy(esc, "\\\\"); break;
        case '\b': strcpy(esc, "\\b"); break;
        case '\f': strcpy(esc, "\\f"); break;
        case '\n': strcpy(esc, "\\n"); break;
        case '\r': strcpy(esc, "\\r"); break;
        case '\t': strcpy(esc, "\\t"); break;
        default: snprintf(esc, sizeof esc, "\\u%04X", c);
        }
        body_add(b, esc, strlen(esc));
        run = p + 1;
    }
    body_add(b, "\"", 1);
}

static void publish_availability(struct merge *m, int64_t read_us, const struct stock_fact *f,
                                 const redisReply *r)
{
    struct body b = {.text = NULL, .len = 0, .cap = sizeof b.stack};
    b.text = b.stack;
    body_literal(&b, "{\"sku\":");
    body_string(&b, f->sku);
    body_literal(&b, ",\"version\":");
    body_int(&b, r->element[1]->integer);
    body_literal(&b, ",\"channels\":{");
    int first = 1;
    for (size_t i = REPLY_CHANNELS; i + 1 < r->elements; i += 2) {
        if (r->element[i]->type != REDIS_REPLY_STRING) continue;
        if (!first) body_literal(&b, ",");
        first = 0;
        body_string(&b, r->element[i]->str);
        body_literal(&b, ":");
        body_int(&b, r->element[i + 1]->integer);
    }
    body_literal(&b, "},\"ts_ms\":");
    body_int(&b, f->commit_us / 1000);
    body_literal(&b, ",\"trace\":{\"commit_us\":");
    body_int(&b, f->commit_us);
    body_literal(&b, ",\"read_us\":");
    body_int(&b, read_us);
    body_literal(&b, ",\"merge_us\":");
    body_int(&b, event_now_us());
    body_literal(&b, "}}");
    /* a lost notification delays nothing for long: push recomputes what is pending
       from Redis (DESIGN §4) */
    if (b.failed || kafka_producer_send(m->producer, m->availability_topic, f->sku,
                                        strlen(f->sku), b.text, b.len, NULL) != 0)
        log_warning("merge", "availability of %s not published; push will find it pending",
                    f->sku);
    else
        metrics_inc(m->m_changes, 1);
    if (b.text != b.stack) free(b.text);
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

static void schedule_retry(struct merge *m, struct work *w)
{
    if (w->lost && !w->remaining && !evtimer_pending(m->retry_timer, NULL)) {
        struct timeval tv = {0, MERGE_RETRY_MS * 1000};
        evtimer_add(m->retry_timer, &tv);
    }
}

/* Sends the work's original event to the DLQ with a reason about one of its facts. */
static void dlq_work(struct merge *m, struct work *w, const char *sku, const char *code,
                     const char *reason)
{
    struct kafka_message msg = {.topic = m->mapping.tables[w->table].topic,
                                .partition = w->partition, .offset = w->offset, .key = sku,
                                .key_len = strlen(sku), .value = w->original ? w->original : "",
                                .len = w->original ? w->original_len : 0};
    send_dlq(m, &msg, code, reason);
}

/* A reply of stockmesh_apply, for w's fact (or a deferred one): 0 done, -1 lost. */
static int apply_result(struct merge *m, struct work *w, const struct stock_fact *f,
                        const redisReply *reply)
{
    if (!reply) return -1;
    if (reply->type == REDIS_REPLY_ERROR) {
        if (retryable(reply->str)) {
            log_warning("merge", "Redis refused a fact for now: %s; retrying", reply->str);
            return -1;
        }
        char reason[600];
        snprintf(reason, sizeof reason, "merge function failed on SKU %.100s: %.400s", f->sku,
                 reply->str);
        dlq_work(m, w, f->sku, "apply_failed", reason);
        return 0;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < REPLY_CHANNELS) return 0;
    metrics_inc(m->m_facts, 1);
    int applied = (int)reply->element[0]->integer;
    if (!applied) metrics_inc(m->m_duplicates, 1);
    const redisReply *detail = reply->element[4];
    alerting_note(m->alerting, f, (unsigned)reply->element[2]->integer,
                  (unsigned)reply->element[3]->integer, applied,
                  detail->type == REDIS_REPLY_STRING ? detail->str : "");
    if (reply->elements > REPLY_CHANNELS) publish_availability(m, w->read_us, f, reply);
    return 0;
}

/* The reply's arg identifies the fact: the work item and the fact index in its low bit. */
static void applied_reply(void *arg, redisReply *reply)
{
    struct work *w = (struct work *)((uintptr_t)arg & ~(uintptr_t)1);
    int index = (int)((uintptr_t)arg & 1);
    struct merge *m = w->m;
    if (m->closing) return;
    w->remaining--;
    if (apply_result(m, w, &w->facts[index], reply) != 0)
        w->lost = 1;
    else
        w->state[index] = FACT_DONE;
    schedule_retry(m, w);
    complete_head(m);
}

static void send_apply(struct merge *m, const struct stock_fact *f, redis_reply_cb cb, void *arg,
                       int *sent, int *lost)
{
    const struct location_channels *lc = &m->by_location[f->location - m->cfg->locations];
    const struct config_item_class *cls = config_item_class_for(m->cfg, f->sku);
    long long safety = config_safety_stock(cls, f->location), tolerance;
    int percent;
    config_tolerance(m->cfg, cls, &tolerance, &percent);

    char key_s[MAPPING_SKU_MAX + 8], key_c[MAPPING_SKU_MAX + 8];
    char ts[24], safety_text[24], qty[CONFIG_QUANTITY_KINDS][24], tol[24], pct[8], nsrc[8];
    snprintf(key_s, sizeof key_s, "sm:{%s}", f->sku);
    snprintf(key_c, sizeof key_c, "sm:{%s}:c", f->sku);
    /* the time shown for the figures: when the row says it was counted, else its commit */
    snprintf(ts, sizeof ts, "%lld",
             (long long)(f->counted_ms ? f->counted_ms : f->commit_us / 1000));
    snprintf(safety_text, sizeof safety_text, "%lld", safety);
    snprintf(tol, sizeof tol, "%lld", tolerance);
    snprintf(pct, sizeof pct, "%d", percent);
    snprintf(nsrc, sizeof nsrc, "%zu", m->cfg->nsources);
    char position[EVENT_POSITION_COMPACT_MAX + 1];
    /* the event decoder accepted only well-formed positions */
    event_position_compact(f->position, position);
    for (int k = 0; k < CONFIG_QUANTITY_KINDS; k++) {
        if (f->present & (1u << k)) snprintf(qty[k], sizeof qty[k], "%lld", f->quantity[k]);
        else qty[k][0] = 0;
    }

    enum { FIXED = 4 + 14, MAX_SOURCES = 64, MAX_CHANNELS = 256 };
    const char *argv[FIXED + MAX_SOURCES + 2 * MAX_CHANNELS];
    size_t lens[FIXED + MAX_SOURCES + 2 * MAX_CHANNELS];
    int argc = 0;
    argv[argc++] = "FCALL";
    argv[argc++] = "stockmesh_apply";
    argv[argc++] = "2";
    argv[argc++] = key_s;
    argv[argc++] = key_c;
    argv[argc++] = f->location->code;
    argv[argc++] = f->source->name;
    argv[argc++] = position;
    argv[argc++] = ts;
    argv[argc++] = safety_text;
    for (int k = 0; k < CONFIG_QUANTITY_KINDS; k++) argv[argc++] = qty[k];
    for (int k = 0; k < CONFIG_QUANTITY_KINDS; k++) argv[argc++] = lc->auth[k];
    argv[argc++] = tol;
    argv[argc++] = pct;
    argv[argc++] = nsrc;
    for (size_t i = 0; i < m->cfg->nsources && i < MAX_SOURCES; i++)
        argv[argc++] = m->cfg->sources[i].name;
    for (size_t i = 0; i < lc->n && i < MAX_CHANNELS; i++) {
        argv[argc++] = lc->name[i];
        argv[argc++] = lc->buffer[i];
    }
    for (int i = 0; i < argc; i++) lens[i] = strlen(argv[i]);
    if (redis_send(m->redis, cb, arg, argc, argv, lens) == 0)
        (*sent)++;
    else
        *lost = 1; /* not connected: the retry timer sends it once Redis is back */
}

static void crosswalk_keys(const char *crosswalk, char *key, size_t keylen, char *pending,
                           size_t pendinglen)
{
    snprintf(key, keylen, "sm:{xw:%s}", crosswalk);
    snprintf(pending, pendinglen, "sm:{xw:%s}:pending", crosswalk);
}

static void translated_reply(void *arg, redisReply *reply)
{
    struct work *w = (struct work *)((uintptr_t)arg & ~(uintptr_t)1);
    int index = (int)((uintptr_t)arg & 1);
    struct merge *m = w->m;
    if (m->closing) return;
    w->remaining--;
    struct stock_fact *f = &w->facts[index];
    if (!reply || (reply->type == REDIS_REPLY_ERROR && retryable(reply->str))) {
        w->lost = 1;
    } else if (reply->type == REDIS_REPLY_STRING && reply->len < sizeof f->sku && reply->len) {
        memcpy(f->sku, reply->str, reply->len + 1);
        metrics_inc(m->m_translated, 1);
        const char *code;
        char err[400];
        if (mapping_check_sku(&m->mapping, f, &code, err, sizeof err) != 0) {
            dlq_work(m, w, f->item, code, err);
            w->state[index] = FACT_DONE;
        } else {
            w->state[index] = FACT_APPLY;
            send_apply(m, f, applied_reply, (void *)((uintptr_t)w | (uintptr_t)index),
                       &w->remaining, &w->lost);
        }
    } else if (reply->type == REDIS_REPLY_NIL) {
        /* kept in Redis until the crosswalk learns the code, or it expires to the DLQ */
        metrics_inc(m->m_deferred, 1);
        w->state[index] = FACT_DONE;
    } else {
        char reason[600];
        snprintf(reason, sizeof reason, "translating item %s through crosswalk %s failed: %.400s",
                 f->item, f->crosswalk, reply->type == REDIS_REPLY_ERROR ? reply->str : "bad reply");
        dlq_work(m, w, f->item, "translate_failed", reason);
        w->state[index] = FACT_DONE;
    }
    schedule_retry(m, w);
    complete_head(m);
}

static void send_translate(struct merge *m, struct work *w, int index)
{
    struct stock_fact *f = &w->facts[index];
    if (!w->deferral[index]) {
        w->deferral[index] = mapping_fact_encode(f, m->mapping.tables[w->table].topic,
                                                 w->original ? w->original : "",
                                                 w->original ? w->original_len : 0);
        if (!w->deferral[index]) {
            w->lost = 1;
            return;
        }
    }
    char key[200], pending[220], now[24];
    crosswalk_keys(f->crosswalk, key, sizeof key, pending, sizeof pending);
    snprintf(now, sizeof now, "%lld", (long long)(event_now_us() / 1000));
    const char *argv[] = {"FCALL", "stockmesh_translate", "2", key, pending, f->item, now,
                          w->deferral[index]};
    size_t lens[8];
    for (int i = 0; i < 8; i++) lens[i] = strlen(argv[i]);
    if (redis_send(m->redis, translated_reply, (void *)((uintptr_t)w | (uintptr_t)index), 8, argv,
                   lens) == 0)
        w->remaining++;
    else
        w->lost = 1;
}

/* ---- crosswalk changes: record the translation, then apply what waited for it ---- */

/* One crosswalk change in flight with the facts that waited for its code. */
struct crosswalk_batch {
    struct work *w;
    int index;                    /* into w->xw */
    size_t total;                 /* deferred facts the change returned */
    size_t sent, answered;
    int lost;
};

/* A fact that waited for its item code, applied after the crosswalk learnt it. */
struct deferred_apply {
    struct crosswalk_batch *b;
    struct stock_fact fact;
};

static void crosswalk_done_reply(void *arg, redisReply *reply)
{
    struct work *w = arg;
    struct merge *m = w->m;
    if (m->closing) return;
    w->remaining--;
    if (!reply || reply->type == REDIS_REPLY_ERROR) w->lost = 1;
    schedule_retry(m, w);
    complete_head(m);
}

static void send_crosswalk_done(struct merge *m, struct crosswalk_batch *b)
{
    struct work *w = b->w;
    const struct crosswalk_change *c = &w->xw[b->index];
    char key[200], pending[220], n[24];
    crosswalk_keys(c->crosswalk, key, sizeof key, pending, sizeof pending);
    snprintf(n, sizeof n, "%zu", b->total);
    if (redis_sendf(m->redis, crosswalk_done_reply, w, "FCALL stockmesh_crosswalk_done 1 %s %s %s",
                    pending, c->code, n) == 0)
        w->remaining++;
    else
        w->lost = 1;
}

static void batch_answered(struct merge *m, struct crosswalk_batch *b)
{
    if (++b->answered < b->sent) return;
    /* only once every waiting fact is applied may they leave the waiting list */
    if (b->lost) b->w->lost = 1;
    else send_crosswalk_done(m, b);
    free(b);
}

static void deferred_applied(void *arg, redisReply *reply)
{
    struct deferred_apply *d = arg;
    struct crosswalk_batch *b = d->b;
    struct work *w = b->w;
    struct merge *m = w->m;
    if (m->closing) {
        free(d);
        return;
    }
    w->remaining--;
    if (apply_result(m, w, &d->fact, reply) != 0) b->lost = 1;
    free(d);
    batch_answered(m, b);
    schedule_retry(m, w);
    complete_head(m);
}

static void crosswalk_reply(void *arg, redisReply *reply)
{
    struct crosswalk_batch *b = arg;
    struct work *w = b->w;
    struct merge *m = w->m;
    if (m->closing) {
        free(b);
        return;
    }
    w->remaining--;
    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        if (reply && reply->type == REDIS_REPLY_ERROR && !retryable(reply->str)) {
            char reason[600];
            snprintf(reason, sizeof reason, "crosswalk %s: recording item %s failed: %.400s",
                     w->xw[b->index].crosswalk, w->xw[b->index].code, reply->str);
            dlq_work(m, w, w->xw[b->index].code, "crosswalk_failed", reason);
        } else {
            w->lost = 1;
        }
        free(b);
        schedule_retry(m, w);
        complete_head(m);
        return;
    }
    metrics_inc(m->m_crosswalk, 1);
    b->total = reply->elements;
    b->sent = 1; /* held until the loop ends, so the batch outlives early answers */
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *e = reply->element[i];
        struct deferred_apply *d = calloc(1, sizeof *d);
        char *topic = NULL, *event = NULL;
        if (!d) {
            b->lost = 1;
            break;
        }
        d->b = b;
        if (e->type != REDIS_REPLY_STRING ||
            mapping_fact_decode(&m->mapping, e->str, e->len, &d->fact, &topic, &event) != 0) {
            /* kept by an older configuration: its location or source is gone */
            struct kafka_message msg = {.topic = m->mapping.tables[w->table].topic,
                                        .partition = w->partition, .offset = w->offset,
                                        .key = w->xw[b->index].code,
                                        .key_len = strlen(w->xw[b->index].code),
                                        .value = e->type == REDIS_REPLY_STRING ? e->str : "",
                                        .len = e->type == REDIS_REPLY_STRING ? e->len : 0};
            send_dlq(m, &msg, "bad_deferred_fact",
                     "a fact waiting for this item code no longer maps (configuration changed)");
            free(d);
            continue;
        }
        snprintf(d->fact.sku, sizeof d->fact.sku, "%s", w->xw[b->index].sku);
        const char *code;
        char err[400];
        if (mapping_check_sku(&m->mapping, &d->fact, &code, err, sizeof err) != 0) {
            struct kafka_message msg = {.topic = topic, .partition = -1, .offset = -1,
                                        .key = d->fact.item, .key_len = strlen(d->fact.item),
                                        .value = event, .len = strlen(event)};
            send_dlq(m, &msg, code, err);
            free(d);
        } else {
            int sent = 0;
            send_apply(m, &d->fact, deferred_applied, d, &sent, &b->lost);
            if (sent) {
                w->remaining++;
                b->sent++;
            } else {
                free(d);
            }
        }
        free(topic);
        free(event);
    }
    batch_answered(m, b); /* the hold taken above */
    schedule_retry(m, w);
    complete_head(m);
}

static void send_crosswalk(struct merge *m, struct work *w, int index)
{
    const struct crosswalk_change *c = &w->xw[index];
    struct crosswalk_batch *b = calloc(1, sizeof *b);
    if (!b) {
        w->lost = 1;
        return;
    }
    b->w = w;
    b->index = index;
    char key[200], pending[220];
    crosswalk_keys(c->crosswalk, key, sizeof key, pending, sizeof pending);
    const char *argv[] = {"FCALL", "stockmesh_crosswalk", "2", key, pending, c->code, c->sku};
    size_t lens[7];
    for (int i = 0; i < 7; i++) lens[i] = strlen(argv[i]);
    if (redis_send(m->redis, crosswalk_reply, b, 7, argv, lens) == 0) {
        w->remaining++;
    } else {
        free(b);
        w->lost = 1;
    }
}

static void merge_send(struct merge *m, struct work *w)
{
    w->lost = 0;
    for (int i = 0; i < w->nfacts; i++) {
        if (w->state[i] == FACT_APPLY)
            send_apply(m, &w->facts[i], applied_reply, (void *)((uintptr_t)w | (uintptr_t)i),
                       &w->remaining, &w->lost);
        else if (w->state[i] == FACT_TRANSLATE)
            send_translate(m, w, i);
    }
    for (int i = 0; i < w->nxw; i++) send_crosswalk(m, w, i);
    schedule_retry(m, w);
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

static void gap_reply(void *arg, redisReply *reply)
{
    struct gap_check *g = arg;
    struct merge *m = g->m;
    if (!m->closing && reply && reply->type == REDIS_REPLY_STRING) {
        long long applied = strtoll(reply->str, NULL, 10);
        if (g->offset > applied) {
            const struct mapping_table *t = &m->mapping.tables[g->table];
            metrics_inc(m->m_gaps, 1);
            log_error("merge", "%s partition %d: the backbone dropped offsets %lld to %lld "
                               "before they were read; source %s reads them again from its "
                               "last confirmed position",
                      t->topic, (int)g->partition, applied, (long long)g->offset - 1,
                      t->source->name);
            redis_sendf(m->redis, NULL, NULL, "INCR stockmesh:rewind:%s:%s",
                        kafka_epoch(m->rt->kafka), t->source->name);
        }
    }
    free(g);
}

/* Notices a jump in a partition's offsets: the first message after a (re)start, or
 * one past the next expected, is checked against the applied offset in Redis. */
static void check_offset(struct merge *m, int table, const struct kafka_message *msg)
{
    if (!kafka_embedded(m->rt->kafka)) return; /* a real cluster keeps what it acked */
    struct consumed *c = NULL;
    for (size_t i = 0; i < m->nconsumed && !c; i++)
        if (m->consumed[i].table == table && m->consumed[i].partition == msg->partition)
            c = &m->consumed[i];
    if (!c) {
        if (m->nconsumed == m->consumed_cap) {
            size_t cap = m->consumed_cap ? m->consumed_cap * 2 : 16;
            struct consumed *more = realloc(m->consumed, cap * sizeof *more);
            if (!more) return;
            m->consumed = more;
            m->consumed_cap = cap;
        }
        c = &m->consumed[m->nconsumed++];
        *c = (struct consumed){table, msg->partition, -1};
    }
    int jump = c->next < 0 || msg->offset > c->next;
    c->next = msg->offset + 1;
    if (!jump) return;
    struct gap_check *g = malloc(sizeof *g);
    if (!g) return;
    *g = (struct gap_check){m, table, msg->partition, msg->offset};
    if (redis_sendf(m->redis, gap_reply, g, "HGET %s %s|%d", m->applied_key,
                    m->mapping.tables[table].topic, (int)msg->partition) != 0)
        free(g);
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
    check_offset(m, (int)(t - m->mapping.tables), msg);
    struct work *w = ring_at(m, m->count);
    memset(w, 0, sizeof *w);
    w->m = m;
    w->table = (int)(t - m->mapping.tables);
    w->partition = msg->partition;
    w->offset = msg->offset;
    w->consumed_us = event_now_us();
    char err[512];
    const char *code = "malformed_event";
    struct change_event ev;
    if (event_decode(&ev, msg->value, msg->len, err, sizeof err) != 0) {
        send_dlq(m, msg, code, err);
    } else {
        w->commit_us = ev.commit_us;
        w->read_us = ev.read_us;
        if (t->table->defines_crosswalk) {
            int n = mapping_crosswalk(&m->mapping, t, &ev, w->xw, &code, err, sizeof err);
            if (n < 0) send_dlq(m, msg, code, err);
            w->nxw = n < 0 ? 0 : n;
        } else {
            int n = mapping_facts(&m->mapping, t, &ev, w->facts, &code, err, sizeof err);
            if (n < 0) {
                send_dlq(m, msg, code, err);
                n = 0;
            }
            w->nfacts = n;
            for (int i = 0; i < n; i++)
                w->state[i] = w->facts[i].sku[0] ? FACT_APPLY : FACT_TRANSLATE;
        }
        event_release(&ev);
        if (w->nfacts || w->nxw) {
            /* without it a refused fact reaches the DLQ without its event: not fatal */
            w->original = malloc(msg->len + 1);
            if (w->original) {
                memcpy(w->original, msg->value, msg->len);
                w->original[msg->len] = 0;
                w->original_len = msg->len;
            }
        }
    }
    /* refused messages still take their place in the ring, so offsets stay in order */
    m->count++;
    if (w->nfacts || w->nxw) merge_send(m, w);
    complete_head(m);
    if (m->count == m->cap) {
        m->consumer_full = 1;
        return 1;
    }
    return 0;
}

/* Facts whose item code stayed unknown past rules.unknown_item_after_s go to the DLQ
 * with the event they came from. */
static void expired_reply(void *arg, redisReply *reply)
{
    struct merge *m = arg;
    if (m->closing || !reply || reply->type != REDIS_REPLY_ARRAY) return;
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        const redisReply *code = reply->element[i], *facts = reply->element[i + 1];
        if (code->type != REDIS_REPLY_STRING || facts->type != REDIS_REPLY_ARRAY) continue;
        for (size_t j = 0; j < facts->elements; j++) {
            const redisReply *e = facts->element[j];
            if (e->type != REDIS_REPLY_STRING) continue;
            struct stock_fact f;
            char *topic = NULL, *event = NULL;
            char reason[400];
            int ok = mapping_fact_decode(&m->mapping, e->str, e->len, &f, &topic, &event) == 0;
            snprintf(reason, sizeof reason,
                     "item code \"%.100s\" is unknown to crosswalk %.60s after %d s",
                     code->str, ok ? f.crosswalk : "?", m->cfg->rules.unknown_item_after_s);
            struct kafka_message msg = {.topic = ok ? topic : "", .partition = -1,
                                        .offset = -1, .key = code->str, .key_len = code->len,
                                        .value = ok ? event : e->str,
                                        .len = ok ? strlen(event) : e->len};
            send_dlq(m, &msg, "unknown_item", reason);
            free(topic);
            free(event);
        }
    }
}

static void expire_deferred(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct merge *m = arg;
    if (!redis_ready(m->redis)) return;
    char older[24];
    snprintf(older, sizeof older, "%lld",
             (long long)(event_now_us() / 1000 - m->cfg->rules.unknown_item_after_s * 1000LL));
    for (size_t i = 0; i < m->mapping.ntables; i++) {
        const char *name = m->mapping.tables[i].table->defines_crosswalk;
        if (!name) continue;
        char key[200], pending[220];
        crosswalk_keys(name, key, sizeof key, pending, sizeof pending);
        redis_sendf(m->redis, expired_reply, m, "FCALL stockmesh_expired_codes 1 %s %s 100",
                    pending, older);
    }
}

static int build_location_channels(struct merge *m)
{
    const struct config *cfg = m->cfg;
    m->by_location = calloc(cfg->nlocations ? cfg->nlocations : 1, sizeof *m->by_location);
    if (!m->by_location) return -1;
    for (size_t i = 0; i < cfg->nlocations; i++) {
        const struct config_location *loc = &cfg->locations[i];
        struct location_channels *lc = &m->by_location[i];
        lc->name = calloc(cfg->nchannels ? cfg->nchannels : 1, sizeof *lc->name);
        lc->buffer = calloc(cfg->nchannels ? cfg->nchannels : 1, sizeof *lc->buffer);
        if (!lc->name || !lc->buffer) return -1;
        for (size_t j = 0; j < cfg->nchannels; j++) {
            const struct config_channel *ch = &cfg->channels[j];
            if (!config_channel_has_location(ch, loc)) continue;
            if (ch->fulfilment == CONFIG_PICKUP)
                snprintf(lc->name[lc->n], sizeof lc->name[lc->n], "%s@%s", ch->name, loc->code);
            else
                snprintf(lc->name[lc->n], sizeof lc->name[lc->n], "%s", ch->name);
            snprintf(lc->buffer[lc->n], sizeof lc->buffer[lc->n], "%lld", ch->buffer);
            lc->n++;
        }
        for (int k = 0; k < CONFIG_QUANTITY_KINDS; k++) {
            const char *a = config_authority_for(cfg, loc->type, k);
            lc->auth[k] = a ? a : "";
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
    m->m_deferred = metrics_counter(mx, "stockmesh_merge_deferred_total",
                                    "Facts kept until the crosswalk knows their item code.", NULL);
    m->m_translated = metrics_counter(mx, "stockmesh_merge_translated_total",
                                      "Item codes translated to SKUs through a crosswalk.", NULL);
    m->m_crosswalk = metrics_counter(mx, "stockmesh_merge_crosswalk_changes_total",
                                     "Crosswalk rows recorded.", NULL);
    m->m_gaps = metrics_counter(mx, "stockmesh_merge_backbone_gaps_total",
                                "Times the embedded backbone dropped events before merge read "
                                "them (the source read them again).", NULL);
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
    m->expiry_timer = event_new(rt->base, -1, EV_PERSIST, expire_deferred, m);
    struct timeval every = {5, 0};
    if (!m->expiry_timer || event_add(m->expiry_timer, &every) != 0) {
        snprintf(err, errlen, "out of memory");
        free(topics);
        goto fail;
    }

    m->producer = kafka_producer_new(rt->kafka, NULL, NULL, err, errlen);
    if (!m->producer) {
        free(topics);
        goto fail;
    }
    m->alerting = alerting_new(rt, m->redis, m->producer, err, errlen);
    if (!m->alerting) {
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
    for (size_t i = 0; i < m->count; i++) {
        struct work *w = ring_at(m, i);
        free(w->original);
        free(w->deferral[0]);
        free(w->deferral[1]);
    }
    alerting_free(m->alerting);
    if (m->expiry_timer) event_free(m->expiry_timer);
    if (m->flush_timer) event_free(m->flush_timer);
    if (m->retry_timer) event_free(m->retry_timer);
    if (m->by_location) {
        for (size_t i = 0; i < m->cfg->nlocations; i++) {
            free(m->by_location[i].name);
            free(m->by_location[i].buffer);
        }
        free(m->by_location);
    }
    mapping_release(&m->mapping);
    free(m->applied);
    free(m->consumed);
    free(m->ring);
    free(m);
}
