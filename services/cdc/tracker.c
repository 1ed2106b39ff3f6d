/* tracker.c — see tracker.h. */
#include "tracker.h"

#include "stockmesh/config.h"
#include "stockmesh/event.h"
#include "stockmesh/kafka.h"
#include "stockmesh/log.h"
#include "stockmesh/metrics.h"
#include "stockmesh/redis.h"
#include "stockmesh/runtime.h"
#include "stockmesh/store.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRACKER_MAX_PARTITIONS 256

struct tracker {
    struct runtime *rt;
    struct redis *redis;
    char source[128];
    char **topics;
    size_t ntables;
    tracker_confirm_cb confirm;
    tracker_error_cb error;
    void *arg;

    struct kafka_producer *producer;
    char applied_key[128];
    char safe_key[192];           /* when something was last seen applied (unix ms) */
    char rewind_key[192];         /* bumped by merge when the backbone lost events */
    int64_t *applied;             /* [table * TRACKER_MAX_PARTITIONS + partition] next offset */
    int applied_query_in_flight;
    int rewind_query_in_flight;
    long long rewinds_seen;       /* -1 until first read */
    int64_t safe_written_ms;

    struct tracker_entry *ring;   /* oldest first from head */
    size_t cap, head, count;
    uint64_t next_id;
    uint64_t unapplied;
    int64_t last_event_ms;
    struct metric *m_events;
};

static struct tracker_entry *at(struct tracker *t, size_t i)
{
    return &t->ring[(t->head + i) % t->cap];
}

struct tracker_entry *tracker_find(struct tracker *t, uint64_t id)
{
    if (!t->count || !id) return NULL;
    uint64_t first = at(t, 0)->id;
    if (id < first || id - first >= t->count) return NULL;
    return at(t, (size_t)(id - first));
}

struct tracker_entry *tracker_push(struct tracker *t)
{
    if (t->count == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        struct tracker_entry *ring = malloc(cap * sizeof *ring);
        if (!ring) return NULL;
        for (size_t i = 0; i < t->count; i++) {
            struct tracker_entry *old = at(t, i);
            ring[i] = *old;
            if (old->parts == old->inline_parts) ring[i].parts = ring[i].inline_parts;
        }
        free(t->ring);
        t->ring = ring;
        t->cap = cap;
        t->head = 0;
    }
    struct tracker_entry *e = &t->ring[(t->head + t->count) % t->cap];
    memset(e, 0, sizeof *e);
    e->id = t->next_id++;
    e->parts = e->inline_parts;
    e->parts_cap = TRACKER_INLINE_PARTS;
    e->chunk_table = -1;
    t->count++;
    return e;
}

static void pop(struct tracker *t)
{
    struct tracker_entry *e = at(t, 0);
    if (!e->satisfied_us) t->unapplied -= e->events;
    if (e->parts != e->inline_parts) free(e->parts);
    json_decref(e->chunk_after);
    free(e->end_text);
    t->head = (t->head + 1) % t->cap;
    t->count--;
}

void tracker_clear(struct tracker *t)
{
    while (t->count) pop(t);
    t->unapplied = 0;
}

static void note_offset(struct tracker_entry *e, int table, int32_t partition, int64_t offset)
{
    for (size_t i = 0; i < e->nparts; i++)
        if (e->parts[i].table == table && e->parts[i].partition == partition) {
            if (offset > e->parts[i].offset) e->parts[i].offset = offset;
            return;
        }
    if (e->nparts == e->parts_cap) {
        size_t cap = e->parts_cap * 2;
        struct tracker_part *p = malloc(cap * sizeof *p);
        if (!p) return; /* the ack count still holds the entry back safely */
        memcpy(p, e->parts, e->nparts * sizeof *p);
        if (e->parts != e->inline_parts) free(e->parts);
        e->parts = p;
        e->parts_cap = cap;
    }
    e->parts[e->nparts++] = (struct tracker_part){table, partition, offset};
}

/* The opaque of a message: the entry id in the high bits, the table index in the low
 * 16 (more tables than that are refused at start). Id 0 marks side documents. */
static void *pack_opaque(uint64_t id, int table)
{
    return (void *)(uintptr_t)((id << 16) | (uint64_t)table);
}

static void delivered(void *arg, void *opaque, int err, const char *errstr, int32_t partition,
                      int64_t offset)
{
    struct tracker *t = arg;
    uint64_t id = (uint64_t)(uintptr_t)opaque >> 16;
    int table = (int)((uintptr_t)opaque & 0xffff);
    if (!id) {
        if (err) log_error("cdc", "%s: the backbone refused a schema or alert event: %s",
                           t->source, errstr);
        return;
    }
    struct tracker_entry *e = tracker_find(t, id);
    if (!e) return; /* from before a failure: already forgotten */
    if (err) {
        char why[512];
        snprintf(why, sizeof why, "the backbone refused an event (%s); reading again from the "
                                  "last confirmed position", errstr);
        t->error(t->arg, why);
        return;
    }
    e->acked++;
    note_offset(e, table, partition, offset);
}

int tracker_produce(struct tracker *t, struct tracker_entry *e, int table, json_t *key,
                    const struct change_event *ev)
{
    size_t len;
    char *value = event_encode(ev, &len);
    char *key_text = key ? json_dumps(key, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    int rc = -1;
    if (value)
        rc = kafka_producer_send(t->producer, t->topics[table], key_text,
                                 key_text ? strlen(key_text) : 0, value, len,
                                 pack_opaque(e->id, table));
    free(value);
    free(key_text);
    if (rc != 0) return -1;
    e->events++;
    t->unapplied++;
    t->last_event_ms = event_now_us() / 1000;
    metrics_inc(t->m_events, 1);
    return 0;
}

void tracker_produce_side(struct tracker *t, const char *topic, const char *key, json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (!text || kafka_producer_send(t->producer, topic, key, strlen(key), text, strlen(text),
                                     pack_opaque(0, 0)) != 0)
        log_error("cdc", "%s: cannot queue an event on %s", t->source, topic);
    free(text);
}

static int applied(struct tracker *t, const struct tracker_entry *e)
{
    if (!e->closed || e->acked < e->events) return 0;
    if (!kafka_embedded(t->rt->kafka)) return 1; /* acks=all on a real cluster is durable */
    for (size_t i = 0; i < e->nparts; i++) {
        const struct tracker_part *p = &e->parts[i];
        if (p->partition < 0 || p->partition >= TRACKER_MAX_PARTITIONS) return 0;
        if (t->applied[(size_t)p->table * TRACKER_MAX_PARTITIONS + (size_t)p->partition] <=
            p->offset)
            return 0;
    }
    return 1;
}

static void confirm(struct tracker *t)
{
    int64_t now = event_now_us();
    int64_t delay = kafka_embedded(t->rt->kafka)
                        ? (int64_t)t->rt->cfg->redis.persist_delay_ms * 1000
                        : 0;
    /* note when each entry is seen applied, in order; applied events leave the window at
       once, while confirming them waits for the persistence delay */
    for (size_t i = 0; i < t->count; i++) {
        struct tracker_entry *e = at(t, i);
        if (e->satisfied_us) continue;
        if (!applied(t, e)) break;
        e->satisfied_us = now;
        t->unapplied -= e->events;
    }
    /* Redis learns first, the state database only once the source is told: a Redis
       that later holds an older mark than the state database lost writes the source
       was told were safe (tracker_redis_behind) */
    int embedded = kafka_embedded(t->rt->kafka);
    int64_t newest_ms = 0;
    for (size_t i = 0; embedded && i < t->count && at(t, i)->satisfied_us; i++)
        newest_ms = at(t, i)->satisfied_us / 1000;
    if (newest_ms > t->safe_written_ms && redis_ready(t->redis) &&
        redis_sendf(t->redis, NULL, NULL, "SET %s %lld", t->safe_key, (long long)newest_ms) == 0)
        t->safe_written_ms = newest_ms;
    int any = 0;
    int64_t confirmed_ms = 0;
    while (t->count) {
        struct tracker_entry *e = at(t, 0);
        /* Redis may hold an AOF write back up to 2 s, then fsync within 1 s: wait that
           long before the source may drop what it holds */
        if (!e->satisfied_us || now - e->satisfied_us < delay) break;
        if (embedded && e->satisfied_us / 1000 > t->safe_written_ms) break; /* not in Redis */
        confirmed_ms = e->satisfied_us / 1000;
        t->confirm(t->arg, e);
        pop(t);
        any = 1;
    }
    if (any && embedded) {
        char scope[160], value[24];
        snprintf(scope, sizeof scope, "source:%s", t->source);
        snprintf(value, sizeof value, "%lld", (long long)confirmed_ms);
        store_set(t->rt->store, scope, "safe_ms", value);
    }
    if (any) t->confirm(t->arg, NULL);
}

int tracker_redis_behind(struct runtime *rt, const char *source, const char *redis_safe)
{
    char scope[160], value[32];
    snprintf(scope, sizeof scope, "source:%s", source);
    if (store_get(rt->store, scope, "safe_ms", value, sizeof value) != 0) return 0;
    return !redis_safe || strtoll(redis_safe, NULL, 10) < strtoll(value, NULL, 10);
}

static void rewind_reply(void *arg, redisReply *reply)
{
    struct tracker *t = arg;
    t->rewind_query_in_flight = 0;
    if (!reply || (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_NIL)) return;
    long long n = reply->type == REDIS_REPLY_STRING ? strtoll(reply->str, NULL, 10) : 0;
    if (t->rewinds_seen >= 0 && n != t->rewinds_seen) {
        t->rewinds_seen = n;
        /* DESIGN §4: the embedded backbone dropped events before the merge read them;
           everything unconfirmed is read from the source again */
        t->error(t->arg, "the backbone dropped events the merge had not read yet; reading "
                         "again from the last confirmed position");
        return;
    }
    t->rewinds_seen = n;
}

static void applied_reply(void *arg, redisReply *reply)
{
    struct tracker *t = arg;
    t->applied_query_in_flight = 0;
    if (!reply || reply->type != REDIS_REPLY_ARRAY) return;
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        const char *field = reply->element[i]->str;
        const char *bar = field ? strrchr(field, '|') : NULL;
        if (!bar || !reply->element[i + 1]->str) continue;
        size_t topic_len = (size_t)(bar - field);
        for (size_t tab = 0; tab < t->ntables; tab++) {
            if (strlen(t->topics[tab]) != topic_len ||
                strncmp(t->topics[tab], field, topic_len) != 0)
                continue;
            long partition = strtol(bar + 1, NULL, 10);
            if (partition >= 0 && partition < TRACKER_MAX_PARTITIONS)
                t->applied[tab * TRACKER_MAX_PARTITIONS + (size_t)partition] =
                    strtoll(reply->element[i + 1]->str, NULL, 10);
        }
    }
    confirm(t);
}

void tracker_tick(struct tracker *t)
{
    if (kafka_embedded(t->rt->kafka) && !t->rewind_query_in_flight && redis_ready(t->redis) &&
        redis_sendf(t->redis, rewind_reply, t, "GET %s", t->rewind_key) == 0)
        t->rewind_query_in_flight = 1;
    if (kafka_embedded(t->rt->kafka) && t->count) {
        if (!t->applied_query_in_flight && redis_ready(t->redis) &&
            redis_sendf(t->redis, applied_reply, t, "HGETALL %s", t->applied_key) == 0)
            t->applied_query_in_flight = 1;
        return;
    }
    confirm(t); /* external cluster, or nothing whose applying must be asked about */
}

void tracker_redis_lost(struct tracker *t)
{
    t->applied_query_in_flight = 0;
    t->rewind_query_in_flight = 0;
}

uint64_t tracker_unapplied(const struct tracker *t)
{
    return t->unapplied;
}

size_t tracker_count(const struct tracker *t)
{
    return t->count;
}

int64_t tracker_last_event_ms(const struct tracker *t)
{
    return t->last_event_ms;
}

struct tracker *tracker_new(struct runtime *rt, struct redis *redis, const char *source,
                            const char *const *topics, size_t ntables, tracker_confirm_cb confirm_cb,
                            tracker_error_cb error, void *arg, char *err, size_t errlen)
{
    if (ntables > 0xffff) {
        snprintf(err, errlen, "source %s maps more than 65535 tables", source);
        return NULL;
    }
    struct tracker *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->rt = rt;
    t->redis = redis;
    t->confirm = confirm_cb;
    t->error = error;
    t->arg = arg;
    t->next_id = 1;
    t->ntables = ntables;
    snprintf(t->source, sizeof t->source, "%s", source);
    t->topics = calloc(ntables ? ntables : 1, sizeof *t->topics);
    t->applied = malloc((ntables ? ntables : 1) * TRACKER_MAX_PARTITIONS * sizeof *t->applied);
    if (!t->topics || !t->applied) goto oom;
    for (size_t i = 0; i < ntables; i++)
        if (!(t->topics[i] = strdup(topics[i]))) goto oom;
    for (size_t i = 0; i < ntables * TRACKER_MAX_PARTITIONS; i++) t->applied[i] = -1;
    snprintf(t->applied_key, sizeof t->applied_key, "stockmesh:applied:%s", kafka_epoch(rt->kafka));
    snprintf(t->safe_key, sizeof t->safe_key, "stockmesh:safe:%s", source);
    snprintf(t->rewind_key, sizeof t->rewind_key, "stockmesh:rewind:%s:%s", kafka_epoch(rt->kafka),
             source);
    t->rewinds_seen = -1;
    char labels[200];
    snprintf(labels, sizeof labels, "source=\"%s\"", source);
    t->m_events = metrics_counter(rt->metrics, "stockmesh_cdc_events_total",
                                  "Change events read from a source.", labels);
    t->producer = kafka_producer_new(rt->kafka, delivered, t, err, errlen);
    if (!t->producer) {
        tracker_free(t, 0);
        return NULL;
    }
    return t;
oom:
    snprintf(err, errlen, "out of memory");
    tracker_free(t, 0);
    return NULL;
}

void tracker_free(struct tracker *t, int timeout_ms)
{
    if (!t) return;
    if (t->producer) kafka_producer_free(t->producer, timeout_ms);
    tracker_clear(t);
    for (size_t i = 0; i < t->ntables && t->topics; i++) free(t->topics[i]);
    free(t->topics);
    free(t->applied);
    free(t->ring);
    free(t);
}
