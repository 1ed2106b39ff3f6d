/* event.h — change events in Debezium's JSON envelope (DESIGN §3).
 *
 *   {"before":…, "after":…, "op":"r|c|u|d", "ts_ms":…, "ts_us":…,
 *    "source":{"connector","name","db","schema","table","lsn","txId","ts_ms","ts_us",
 *              "snapshot","position"}}
 *
 * "position" is stockmesh's addition: a fixed-width string that sorts in the source's
 * commit order (for PostgreSQL: commit LSN then the change's index within the
 * transaction, in hex), which the merge function compares to ignore replays.
 * Readers that only know Debezium ignore it. */
#ifndef STOCKMESH_EVENT_H
#define STOCKMESH_EVENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define EVENT_POSITION_LEN 24

struct change_event {
    char op;                      /* 'r' snapshot read, 'c' insert, 'u' update, 'd' delete */
    json_t *before;               /* row image before the change, or NULL */
    json_t *after;                /* row image after the change, or NULL */
    const char *connector;        /* "postgresql", "mysql" */
    const char *source;           /* the configured source name */
    const char *db;
    const char *schema;
    const char *table;
    uint64_t lsn;                 /* PostgreSQL commit LSN (0 for other sources) */
    const char *gtid;             /* MariaDB: the transaction's GTID ("domain-server-seq"), or NULL */
    uint64_t txid;
    char position[EVENT_POSITION_LEN + 1];
    int64_t commit_us;            /* source commit time, unix µs */
    int64_t read_us;              /* when the reader emitted the event, unix µs */
    int snapshot;                 /* 1 for rows read by a snapshot */
    json_t *root;                 /* owning reference after event_decode() */
};

/* Builds the position string of a PostgreSQL change: commit LSN + index in txn. */
void event_position_pg(char out[EVENT_POSITION_LEN + 1], uint64_t commit_lsn, uint32_t index);

/* The unified layer in Redis stores positions in a shorter form that sorts the same
 * way: each part of the position (16 digits, then 8) without its leading zeros, after
 * one hex digit that gives its number of digits minus one; "0000000001A2B3C400000000"
 * becomes "61A2B3C400" (10 characters instead of 24; at most 26). */
#define EVENT_POSITION_COMPACT_MAX (EVENT_POSITION_LEN + 2)

/* Writes the compact form of a 24-hex-digit position into out. Its length, or -1 when
 * position is not 24 hex digits (out is then ""). */
int event_position_compact(const char *position, char out[EVENT_POSITION_COMPACT_MAX + 1]);

/* Writes the 24-hex-digit position of a compact one of len bytes into out. 0, or -1
 * when it is not a compact position (out is then ""). */
int event_position_expand(const char *compact, size_t len, char out[EVENT_POSITION_LEN + 1]);

/* Encodes an event as compact JSON; caller frees the result. NULL when out of memory. */
char *event_encode(const struct change_event *ev, size_t *len);

/* Parses an encoded event. The fields point into ev->root; release with
 * event_release(). -1 with a reason naming the bad field in err. */
int event_decode(struct change_event *ev, const void *buf, size_t len, char *err, size_t errlen);

/* Drops what event_decode() holds. */
void event_release(struct change_event *ev);

/* Current time in unix microseconds (realtime clock: compared across processes). */
int64_t event_now_us(void);

#endif
