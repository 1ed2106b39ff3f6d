/* tracker.h — what a CDC reader produced, and which of it is durable downstream.
 *
 * A reader appends entries in source order (a transaction or a segment of one, a
 * snapshot chunk, a heartbeat) and produces its change events through the tracker.
 * The tracker counts, per entry, the events the backbone acknowledged and the highest
 * offset written to each partition. An entry is applied when every partition it wrote
 * to has been applied past that offset (the merge records applied offsets in Redis
 * under the embedded backbone's epoch) or, with an external Kafka cluster, as soon as
 * every event is acknowledged (acks=all). Applied entries leave the in-flight window
 * at once; the oldest are handed back to the reader to confirm to its source once
 * redis.persist_delay_ms has passed (DESIGN §4). */
#ifndef STOCKMESH_TRACKER_H
#define STOCKMESH_TRACKER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct runtime;
struct redis;
struct change_event;
struct tracker;

#define TRACKER_INLINE_PARTS 4

struct tracker_part {
    int table;
    int32_t partition;
    int64_t offset;
};

/* Fields above the line belong to the reader; the tracker only moves them along (and
 * frees end_text and chunk_after when the entry leaves). */
struct tracker_entry {
    uint64_t id;
    uint64_t end_pos;             /* source position to confirm once durable; 0 = none */
    char *end_text;               /* or a textual one (a GTID list), owned; NULL = none */
    int closed;                   /* every event of the entry has been produced */
    int is_snapshot_end;          /* confirms that the initial snapshot is complete */
    int chunk_table;              /* a snapshot chunk of this table, or -1 */
    int chunk_last;               /* the table's last chunk */
    int chunk_kind;
    int64_t chunk_rows;           /* the table's rows read up to and including this chunk */
    json_t *chunk_after;          /* the chunk's last key */
    /* ---- */
    uint64_t events, acked;
    int64_t satisfied_us;         /* when it was first seen applied, 0 before */
    struct tracker_part inline_parts[TRACKER_INLINE_PARTS];
    struct tracker_part *parts;
    size_t nparts, parts_cap;
};

/* Called with each entry leaving the tracker confirmed, oldest first, then once with
 * NULL after a batch. */
typedef void (*tracker_confirm_cb)(void *arg, struct tracker_entry *e);

/* Called when the backbone refused an event: the reader must forget what is in flight
 * (tracker_clear) and read again from its last confirmed position. */
typedef void (*tracker_error_cb)(void *arg, const char *why);

/* A tracker for one source whose tables' events go to topics[0..ntables-1] (copied).
 * redis is the reader's connection (borrowed). NULL with err. Free with tracker_free(). */
struct tracker *tracker_new(struct runtime *rt, struct redis *redis, const char *source,
                            const char *const *topics, size_t ntables, tracker_confirm_cb confirm,
                            tracker_error_cb error, void *arg, char *err, size_t errlen);

/* Waits up to timeout_ms for queued events to leave, then frees everything. */
void tracker_free(struct tracker *t, int timeout_ms);

/* Appends an empty entry; the pointer (like any other entry pointer) stays valid only
 * until the next tracker_push(). NULL when out of memory. */
struct tracker_entry *tracker_push(struct tracker *t);

/* The entry with this id, or NULL when it has left (or never was). */
struct tracker_entry *tracker_find(struct tracker *t, uint64_t id);

/* Produces a change event of table as part of e, keyed by key (may be NULL). 0, or -1
 * when the backbone's local queue refuses it. */
int tracker_produce(struct tracker *t, struct tracker_entry *e, int table, json_t *key,
                    const struct change_event *ev);

/* Produces a document no entry waits for (schema changes, alerts). */
void tracker_produce_side(struct tracker *t, const char *topic, const char *key, json_t *doc);

/* Asks what has been applied (embedded backbone) or confirms what is acknowledged
 * (external cluster); call from the reader's tick. */
void tracker_tick(struct tracker *t);

/* The reader's Redis connection dropped: a question in flight got no answer. */
void tracker_redis_lost(struct tracker *t);

/* Forgets every entry (after a failure: the source sends it all again). */
void tracker_clear(struct tracker *t);

/* 1 when Redis holds less than the source was told is safe: redis_safe (the value of
 * "stockmesh:safe:<source>", NULL when absent) is older than the state database's mark
 * of the last confirmation. The reader then takes a new snapshot (DESIGN §4). */
int tracker_redis_behind(struct runtime *rt, const char *source, const char *redis_safe);

/* Events produced and not yet seen applied: the in-flight window. */
uint64_t tracker_unapplied(const struct tracker *t);

/* Entries not yet confirmed. */
size_t tracker_count(const struct tracker *t);

/* Unix ms of the last event produced, 0 before the first. */
int64_t tracker_last_event_ms(const struct tracker *t);

#endif
