/* postgres.c — see postgres.h.
 *
 * States: connect → (snapshot) → stream; any error closes everything, forgets what
 * was not confirmed and connects again after a backoff. Events are produced with
 * the transaction's id as opaque; a FIFO of transactions tracks, per transaction,
 * the events the backbone acknowledged and the highest offset written to each
 * partition, so the confirmation check is "every partition this transaction wrote
 * to has been applied past that offset". */
#include "postgres.h"

#include "pgoutput.h"
#include "stockmesh/config.h"
#include "stockmesh/event.h"
#include "stockmesh/kafka.h"
#include "stockmesh/log.h"
#include "stockmesh/metrics.h"
#include "stockmesh/redis.h"
#include "stockmesh/runtime.h"
#include "stockmesh/store.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define PG_TICK_MS 50
#define PG_STATUS_INTERVAL_US 1000000
#define PG_BACKOFF_MIN_MS 500
#define PG_BACKOFF_MAX_MS 30000
#define PG_SNAPSHOT_FETCH 2000
#define PG_MAX_PARTITIONS 256
#define PG_TXN_PARTS 4

enum pg_state { PG_DOWN, PG_WAIT_REDIS, PG_SNAPSHOT, PG_STREAMING };

struct part_max {
    int table;
    int32_t partition;
    int64_t offset;
};

struct txn {
    uint64_t id;
    uint64_t end_lsn;             /* what to confirm once durable */
    uint64_t events, acked;
    int closed;                   /* all events produced (Commit seen / snapshot read) */
    int is_snapshot;              /* the marker closing a snapshot (after its chunks) */
    int64_t satisfied_us;         /* when it was first seen applied, 0 before */
    struct part_max inline_parts[PG_TXN_PARTS];
    struct part_max *parts;
    size_t nparts, parts_cap;
};

struct table_info {
    const struct config_table *cfg;
    char topic[512];
    char qualified[300];          /* quoted "schema"."name" */
    char **key_columns;           /* primary key, NULL-terminated */
};

struct pg_reader {
    struct runtime *rt;
    const struct config_source *src;
    enum pg_state state;
    char scope[128];              /* state-store scope "source:<name>" */
    char password[256];

    PGconn *repl;                 /* replication=database connection */
    PGconn *sql;                  /* ordinary connection: setup and snapshot */
    struct event *repl_ev, *sql_ev, *tick, *reconnect;
    int backoff_ms;
    int reading_paused;

    struct pgoutput *decoder;
    struct kafka_producer *producer;
    struct redis *redis;
    char applied_key[128];
    int64_t *applied;             /* [table * PG_MAX_PARTITIONS + partition] next offset */
    int applied_query_in_flight;

    struct table_info *tables;
    size_t ntables;

    /* transactions not yet confirmed, oldest first */
    struct txn *fifo;
    size_t fifo_cap, fifo_head, fifo_count;
    uint64_t next_txn_id;
    uint64_t unapplied;           /* events produced and not yet seen applied: the window */

    /* the transaction being streamed */
    struct txn *current;
    uint64_t current_final_lsn;
    int64_t current_commit_us;
    uint32_t current_xid;
    uint32_t current_index;

    uint64_t confirmed_lsn;
    uint64_t server_wal_end;
    int64_t last_status_us;

    /* snapshot */
    uint64_t consistent_lsn;
    char snapshot_token[64];
    size_t snapshot_table;
    int snapshot_cursor_open;
    int snapshot_waiting;         /* paused by the window */
    int64_t snapshot_commit_us;

    struct metric *m_events, *m_txns, *m_snapshot_rows, *m_errors, *m_lag, *m_state,
        *m_confirmed, *m_truncates, *m_read_latency;
};

static void reader_fail(struct pg_reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void snapshot_next(struct pg_reader *r);
static void stream_start(struct pg_reader *r);

/* ---- the transaction FIFO ---- */

static struct txn *fifo_at(struct pg_reader *r, size_t i)
{
    return &r->fifo[(r->fifo_head + i) % r->fifo_cap];
}

static struct txn *fifo_find(struct pg_reader *r, uint64_t id)
{
    if (!r->fifo_count) return NULL;
    uint64_t first = fifo_at(r, 0)->id;
    if (id < first || id - first >= r->fifo_count) return NULL;
    return fifo_at(r, (size_t)(id - first));
}

static struct txn *fifo_push(struct pg_reader *r)
{
    if (r->fifo_count == r->fifo_cap) {
        size_t cap = r->fifo_cap ? r->fifo_cap * 2 : 1024;
        struct txn *f = malloc(cap * sizeof *f);
        if (!f) return NULL;
        for (size_t i = 0; i < r->fifo_count; i++) {
            f[i] = *fifo_at(r, i);
            if (f[i].parts == fifo_at(r, i)->inline_parts) f[i].parts = f[i].inline_parts;
        }
        free(r->fifo);
        r->fifo = f;
        r->fifo_cap = cap;
        r->fifo_head = 0;
        /* the current transaction moved with the ring */
        if (r->current) r->current = fifo_find(r, r->current->id);
    }
    struct txn *t = &r->fifo[(r->fifo_head + r->fifo_count) % r->fifo_cap];
    memset(t, 0, sizeof *t);
    t->id = r->next_txn_id++;
    t->parts = t->inline_parts;
    t->parts_cap = PG_TXN_PARTS;
    r->fifo_count++;
    return t;
}

static void txn_release(struct txn *t)
{
    if (t->parts != t->inline_parts) free(t->parts);
}

static void fifo_pop(struct pg_reader *r)
{
    struct txn *t = fifo_at(r, 0);
    if (!t->satisfied_us) r->unapplied -= t->events;
    txn_release(t);
    r->fifo_head = (r->fifo_head + 1) % r->fifo_cap;
    r->fifo_count--;
}

static void fifo_clear(struct pg_reader *r)
{
    while (r->fifo_count) fifo_pop(r);
    r->unapplied = 0;
    r->current = NULL;
}

static void txn_note_offset(struct txn *t, int table, int32_t partition, int64_t offset)
{
    for (size_t i = 0; i < t->nparts; i++)
        if (t->parts[i].table == table && t->parts[i].partition == partition) {
            if (offset > t->parts[i].offset) t->parts[i].offset = offset;
            return;
        }
    if (t->nparts == t->parts_cap) {
        size_t cap = t->parts_cap * 2;
        struct part_max *p = malloc(cap * sizeof *p);
        if (!p) return; /* the ack count still holds the transaction back safely */
        memcpy(p, t->parts, t->nparts * sizeof *p);
        if (t->parts != t->inline_parts) free(t->parts);
        t->parts = p;
        t->parts_cap = cap;
    }
    t->parts[t->nparts++] = (struct part_max){table, partition, offset};
}

/* ---- producing events ---- */

/* The opaque of a message: the transaction id in the high bits, the table index in
 * the low 16 (a source with more mapped tables than that is refused at start). */
static void *pack_opaque(uint64_t txn_id, int table)
{
    return (void *)(uintptr_t)((txn_id << 16) | (uint64_t)table);
}

static void delivered(void *arg, void *opaque, int err, const char *errstr, int32_t partition,
                      int64_t offset)
{
    struct pg_reader *r = arg;
    uint64_t id = (uint64_t)(uintptr_t)opaque >> 16;
    int table = (int)((uintptr_t)opaque & 0xffff);
    struct txn *t = fifo_find(r, id);
    if (!t) return; /* from before a reconnect: already forgotten */
    if (err) {
        reader_fail(r, "the backbone refused an event (%s); reading again from the last "
                       "confirmed position", errstr);
        return;
    }
    t->acked++;
    txn_note_offset(t, table, partition, offset);
}

static int produce(struct pg_reader *r, struct txn *t, int table, json_t *key,
                   const struct change_event *ev)
{
    size_t len, key_len;
    char *value = event_encode(ev, &len);
    char *key_text = key ? json_dumps(key, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    key_len = key_text ? strlen(key_text) : 0;
    int rc = -1;
    if (value)
        rc = kafka_producer_send(r->producer, r->tables[table].topic, key_text, key_len, value,
                                 len, pack_opaque(t->id, table));
    free(value);
    free(key_text);
    if (rc != 0) return -1;
    t->events++;
    r->unapplied++;
    metrics_inc(r->m_events, 1);
    return 0;
}

static int table_for(struct pg_reader *r, const char *schema, const char *name)
{
    for (size_t i = 0; i < r->ntables; i++)
        if (strcmp(r->tables[i].cfg->schema, schema) == 0 &&
            strcmp(r->tables[i].cfg->name, name) == 0)
            return (int)i;
    return -1;
}

/* ---- confirmation ---- */

static void send_status(struct pg_reader *r, int force)
{
    if (r->state != PG_STREAMING || !r->repl) return;
    int64_t now = event_now_us();
    if (!force && now - r->last_status_us < PG_STATUS_INTERVAL_US) return;
    char msg[PGOUTPUT_STANDBY_STATUS_LEN];
    size_t n = pgoutput_standby_status(msg, r->confirmed_lsn, r->confirmed_lsn, r->confirmed_lsn,
                                       now, 0);
    if (PQputCopyData(r->repl, msg, (int)n) != 1 || PQflush(r->repl) < 0) {
        reader_fail(r, "cannot send the standby status: %s", PQerrorMessage(r->repl));
        return;
    }
    r->last_status_us = now;
}

static int txn_applied(struct pg_reader *r, const struct txn *t)
{
    if (!t->closed || t->acked < t->events) return 0;
    if (!kafka_embedded(r->rt->kafka)) return 1; /* acks=all on a real cluster is durable */
    for (size_t i = 0; i < t->nparts; i++) {
        const struct part_max *p = &t->parts[i];
        if (p->partition < 0 || p->partition >= PG_MAX_PARTITIONS) return 0;
        if (r->applied[p->table * PG_MAX_PARTITIONS + p->partition] <= p->offset) return 0;
    }
    return 1;
}

static void snapshot_finished(struct pg_reader *r)
{
    if (store_set(r->rt->store, r->scope, "snapshot", r->snapshot_token) != 0)
        log_error("cdc.pg", "%s: cannot record the finished snapshot: %s", r->src->name,
                  store_errstr(r->rt->store));
    char key[192];
    snprintf(key, sizeof key, "stockmesh:snapshot:%s", r->src->name);
    redis_sendf(r->redis, NULL, NULL, "SET %s %s", key, r->snapshot_token);
    log_info("cdc.pg", "%s: snapshot applied downstream; streaming only from now on",
             r->src->name);
}

static void confirm_progress(struct pg_reader *r)
{
    int64_t now = event_now_us();
    int64_t delay = kafka_embedded(r->rt->kafka) ? (int64_t)r->rt->cfg->redis.persist_delay_ms * 1000
                                                 : 0;
    uint64_t before = r->confirmed_lsn;
    /* note when each transaction is seen applied, in order; applied events leave the
       window at once, while confirming them waits for the persistence delay */
    for (size_t i = 0; i < r->fifo_count; i++) {
        struct txn *t = fifo_at(r, i);
        if (t->satisfied_us) continue;
        if (!txn_applied(r, t)) break;
        t->satisfied_us = now;
        r->unapplied -= t->events;
    }
    while (r->fifo_count) {
        struct txn *t = fifo_at(r, 0);
        /* Redis may hold an AOF write back up to 2 s, then fsync within 1 s: wait that
           long before the source may drop what it holds */
        if (!t->satisfied_us || now - t->satisfied_us < delay) break;
        if (t->is_snapshot) snapshot_finished(r);
        if (t->end_lsn > r->confirmed_lsn) r->confirmed_lsn = t->end_lsn;
        if (r->current == t) r->current = NULL;
        fifo_pop(r);
    }
    if (r->confirmed_lsn != before) {
        metrics_set(r->m_confirmed, (double)r->confirmed_lsn);
        send_status(r, 1);
    }
    if (r->server_wal_end > r->confirmed_lsn)
        metrics_set(r->m_lag, (double)(r->server_wal_end - r->confirmed_lsn));
    else
        metrics_set(r->m_lag, 0);
}

static void applied_reply(void *arg, redisReply *reply)
{
    struct pg_reader *r = arg;
    r->applied_query_in_flight = 0;
    if (!reply || reply->type != REDIS_REPLY_ARRAY) return;
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        const char *field = reply->element[i]->str;
        const char *bar = strrchr(field, '|');
        if (!bar) continue;
        size_t topic_len = (size_t)(bar - field);
        for (size_t t = 0; t < r->ntables; t++) {
            if (strlen(r->tables[t].topic) != topic_len ||
                strncmp(r->tables[t].topic, field, topic_len) != 0)
                continue;
            long partition = strtol(bar + 1, NULL, 10);
            if (partition >= 0 && partition < PG_MAX_PARTITIONS)
                r->applied[t * PG_MAX_PARTITIONS + (size_t)partition] =
                    strtoll(reply->element[i + 1]->str, NULL, 10);
        }
    }
    confirm_progress(r);
}

static void resume_reading(struct pg_reader *r)
{
    if (r->reading_paused && r->unapplied < (uint64_t)r->rt->cfg->backbone.window / 2) {
        r->reading_paused = 0;
        if (r->state == PG_STREAMING && r->repl_ev) {
            event_add(r->repl_ev, NULL);
            event_active(r->repl_ev, EV_READ, 0); /* data may already wait in libpq */
        }
        if (r->state == PG_SNAPSHOT && r->snapshot_waiting) {
            r->snapshot_waiting = 0;
            snapshot_next(r);
        }
    }
}

/* ---- connecting ---- */

static void close_connections(struct pg_reader *r)
{
    if (r->repl_ev) event_free(r->repl_ev);
    if (r->sql_ev) event_free(r->sql_ev);
    r->repl_ev = r->sql_ev = NULL;
    if (r->repl) PQfinish(r->repl);
    if (r->sql) PQfinish(r->sql);
    r->repl = r->sql = NULL;
}

static void schedule_reconnect(struct pg_reader *r)
{
    struct timeval tv = {r->backoff_ms / 1000, (r->backoff_ms % 1000) * 1000};
    evtimer_add(r->reconnect, &tv);
    r->backoff_ms = r->backoff_ms * 2 > PG_BACKOFF_MAX_MS ? PG_BACKOFF_MAX_MS : r->backoff_ms * 2;
}

static void reader_fail(struct pg_reader *r, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r->state == PG_DOWN) return;
    log_error("cdc.pg", "%s: %s; reconnecting in %d ms", r->src->name, msg, r->backoff_ms);
    metrics_inc(r->m_errors, 1);
    close_connections(r);
    fifo_clear(r);
    r->state = PG_DOWN;
    r->reading_paused = 0;
    r->snapshot_cursor_open = 0;
    r->snapshot_waiting = 0;
    metrics_set(r->m_state, PG_DOWN);
    schedule_reconnect(r);
}

static PGconn *connect_pg(struct pg_reader *r, int replication, char *err, size_t errlen)
{
    const char *keys[10], *values[10];
    int n = 0;
    keys[n] = "dbname", values[n++] = r->src->dsn;
    keys[n] = "client_encoding", values[n++] = "UTF8";
    keys[n] = "application_name", values[n++] = replication ? "stockmesh-cdc" : "stockmesh-setup";
    keys[n] = "connect_timeout", values[n++] = "10";
    /* row values arrive as text in the session's formats: make them unambiguous */
    keys[n] = "options", values[n++] = "-c DateStyle=ISO -c TimeZone=UTC -c IntervalStyle=iso_8601";
    if (replication) keys[n] = "replication", values[n++] = "database";
    if (r->password[0]) keys[n] = "password", values[n++] = r->password;
    keys[n] = NULL, values[n] = NULL;
    PGconn *c = PQconnectdbParams(keys, values, 1);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        snprintf(err, errlen, "cannot connect%s: %s", replication ? " for replication" : "",
                 c ? PQerrorMessage(c) : "out of memory");
        for (char *p = err; *p; p++)
            if (*p == '\n') *p = ' ';
        if (c) PQfinish(c);
        return NULL;
    }
    return c;
}

/* Runs one statement synchronously on the setup connection; NULL with err on failure.
 * Used only during setup, before any streaming. */
static PGresult *sql_exec(struct pg_reader *r, const char *sql, char *err, size_t errlen)
{
    PGresult *res = PQexec(r->sql, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(res));
        err[strcspn(err, "\n")] = 0;
        PQclear(res);
        return NULL;
    }
    return res;
}

static PGresult *repl_exec(struct pg_reader *r, const char *sql, char *err, size_t errlen)
{
    PGresult *res = PQexec(r->repl, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(res));
        err[strcspn(err, "\n")] = 0;
        PQclear(res);
        return NULL;
    }
    return res;
}

static void free_key_columns(struct table_info *t)
{
    if (!t->key_columns) return;
    for (char **k = t->key_columns; *k; k++) free(*k);
    free(t->key_columns);
    t->key_columns = NULL;
}

static int load_table_keys(struct pg_reader *r, char *err, size_t errlen)
{
    for (size_t i = 0; i < r->ntables; i++) {
        struct table_info *t = &r->tables[i];
        free_key_columns(t);
        const char *params[] = {t->qualified};
        PGresult *res = PQexecParams(
            r->sql,
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY (i.indkey) WHERE i.indrelid = $1::regclass AND i.indisprimary "
            "ORDER BY array_position(i.indkey::int2[], a.attnum)",
            1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            snprintf(err, errlen, "table %s.%s: %s", t->cfg->schema, t->cfg->name,
                     PQresultErrorMessage(res));
            err[strcspn(err, "\n")] = 0;
            PQclear(res);
            return -1;
        }
        int n = PQntuples(res);
        if (n == 0) {
            snprintf(err, errlen, "table %s.%s has no primary key; stockmesh keys change events "
                                  "by it (add one)", t->cfg->schema, t->cfg->name);
            PQclear(res);
            return -1;
        }
        t->key_columns = calloc((size_t)n + 1, sizeof *t->key_columns);
        for (int j = 0; j < n && t->key_columns; j++) t->key_columns[j] = strdup(PQgetvalue(res, j, 0));
        PQclear(res);
        if (!t->key_columns) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

static int ensure_publication(struct pg_reader *r, char *err, size_t errlen)
{
    char *pub = PQescapeIdentifier(r->sql, r->src->publication, strlen(r->src->publication));
    if (!pub) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t cap = 256;
    for (size_t i = 0; i < r->ntables; i++) cap += strlen(r->tables[i].qualified) + 2;
    char *list = calloc(1, cap);
    if (!list) {
        PQfreemem(pub);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < r->ntables; i++) {
        if (i) strcat(list, ", ");
        strcat(list, r->tables[i].qualified);
    }
    const char *params[] = {r->src->publication};
    PGresult *res = PQexecParams(r->sql, "SELECT 1 FROM pg_publication WHERE pubname = $1", 1,
                                 NULL, params, NULL, NULL, 0);
    int exists = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0;
    PQclear(res);
    size_t sql_len = cap + strlen(pub) + 64;
    char *sql = malloc(sql_len);
    int rc = -1;
    if (sql) {
        snprintf(sql, sql_len, exists ? "ALTER PUBLICATION %s SET TABLE %s"
                                      : "CREATE PUBLICATION %s FOR TABLE %s",
                 pub, list);
        char why[512];
        res = sql_exec(r, sql, why, sizeof why);
        if (res) {
            PQclear(res);
            rc = 0;
        } else {
            snprintf(err, errlen,
                     "cannot %s publication %s: %s (the source's user needs CREATE on the "
                     "database and ownership of the mapped tables; or create it as an admin: "
                     "CREATE PUBLICATION %s FOR TABLE %s)",
                     exists ? "alter" : "create", r->src->publication, why, pub, list);
        }
    }
    free(sql);
    free(list);
    PQfreemem(pub);
    return rc;
}

/* ---- streaming ---- */

static int handle_change(struct pg_reader *r, const struct pgoutput_msg *msg)
{
    const struct pgoutput_change *ch = &msg->change;
    int table = table_for(r, ch->relation->schema, ch->relation->name);
    if (table < 0) return 0; /* published but not mapped: nothing to do */
    if (!r->current) {
        reader_fail(r, "change outside a transaction");
        return -1;
    }
    struct change_event ev = {0};
    ev.op = msg->kind == PGOUTPUT_MSG_INSERT ? 'c' : msg->kind == PGOUTPUT_MSG_UPDATE ? 'u' : 'd';
    size_t missing = 0;
    json_t *after = NULL, *before = NULL, *key = NULL;
    if (msg->kind != PGOUTPUT_MSG_DELETE) {
        after = pgoutput_tuple_to_json(r->decoder, ch->relation, &ch->new_tuple, NULL, &missing);
        if (!after) goto bad;
    }
    if (ch->old_kind) {
        before = pgoutput_tuple_to_json(r->decoder, ch->relation, &ch->old_tuple, NULL, NULL);
        if (!before) goto bad;
    }
    const struct pgoutput_tuple *key_tuple =
        msg->kind == PGOUTPUT_MSG_DELETE ? &ch->old_tuple : &ch->new_tuple;
    key = pgoutput_tuple_key_json(r->decoder, ch->relation, key_tuple, NULL,
                                  (const char *const *)r->tables[table].key_columns);
    if (!key) goto bad;
    if (missing)
        log_warning("cdc.pg", "%s: %zu unchanged TOAST column(s) of %s.%s left out of the event",
                    r->src->name, missing, ch->relation->schema, ch->relation->name);
    ev.before = before;
    ev.after = after;
    ev.connector = "postgresql";
    ev.source = r->src->name;
    ev.db = PQdb(r->repl);
    ev.schema = ch->relation->schema;
    ev.table = ch->relation->name;
    ev.lsn = r->current_final_lsn;
    ev.txid = r->current_xid;
    event_position_pg(ev.position, r->current_final_lsn, ++r->current_index);
    ev.commit_us = r->current_commit_us;
    ev.read_us = event_now_us();
    if (ev.commit_us && ev.read_us >= ev.commit_us)
        metrics_observe(r->m_read_latency, (double)(ev.read_us - ev.commit_us) / 1e6);
    int rc = produce(r, r->current, table, key, &ev);
    json_decref(after);
    json_decref(before);
    json_decref(key);
    if (rc != 0) reader_fail(r, "the backbone's local queue is full");
    return rc;
bad:
    json_decref(after);
    json_decref(before);
    json_decref(key);
    reader_fail(r, "cannot decode a row of %s.%s: %s", ch->relation->schema, ch->relation->name,
                r->decoder->errstr);
    return -1;
}

static int handle_frame(struct pg_reader *r, const struct pgoutput_frame *f)
{
    if (f->wal_end > r->server_wal_end) r->server_wal_end = f->wal_end;
    if (f->kind == PGOUTPUT_FRAME_KEEPALIVE) {
        /* nothing in flight and nothing open: everything the server sent is handled */
        if (!r->fifo_count && f->wal_end > r->confirmed_lsn) r->confirmed_lsn = f->wal_end;
        if (f->reply_requested) send_status(r, 1);
        return 0;
    }
    const struct pgoutput_msg *m = &f->msg;
    switch (m->kind) {
    case PGOUTPUT_MSG_BEGIN:
        r->current = fifo_push(r);
        if (!r->current) {
            reader_fail(r, "out of memory");
            return -1;
        }
        r->current_final_lsn = m->begin.final_lsn;
        r->current_commit_us = m->begin.commit_time_us;
        r->current_xid = m->begin.xid;
        r->current_index = 0;
        return 0;
    case PGOUTPUT_MSG_COMMIT:
        if (!r->current) return 0;
        r->current->end_lsn = m->commit.end_lsn;
        r->current->closed = 1;
        r->current = NULL;
        metrics_inc(r->m_txns, 1);
        return 0;
    case PGOUTPUT_MSG_INSERT:
    case PGOUTPUT_MSG_UPDATE:
    case PGOUTPUT_MSG_DELETE:
        return handle_change(r, m);
    case PGOUTPUT_MSG_TRUNCATE:
        for (uint32_t i = 0; i < m->truncate.nrelations; i++)
            if (table_for(r, m->truncate.relations[i]->schema, m->truncate.relations[i]->name) >= 0) {
                metrics_inc(r->m_truncates, 1);
                log_error("cdc.pg", "%s: TRUNCATE of mapped table %s.%s is not propagated; run "
                                    "`stockmesh reconcile` to repair the stock layer",
                          r->src->name, m->truncate.relations[i]->schema,
                          m->truncate.relations[i]->name);
            }
        return 0;
    default:
        return 0; /* Relation, Type, Origin, Message: the decoder caches what it needs */
    }
}

static void repl_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_reader *r = arg;
    if (!r->repl || r->state != PG_STREAMING) return;
    if (!PQconsumeInput(r->repl)) {
        reader_fail(r, "replication connection lost: %s", PQerrorMessage(r->repl));
        return;
    }
    for (int n = 0; n < 5000; n++) {
        if (r->unapplied >= (uint64_t)r->rt->cfg->backbone.window) {
            /* bounded window: let the merge catch up before reading on (DESIGN §4) */
            r->reading_paused = 1;
            event_del(r->repl_ev);
            return;
        }
        char *buf = NULL;
        int len = PQgetCopyData(r->repl, &buf, 1);
        if (len == 0) return;
        if (len < 0) {
            PGresult *res = PQgetResult(r->repl);
            char why[512];
            snprintf(why, sizeof why, "%s", res ? PQresultErrorMessage(res) : PQerrorMessage(r->repl));
            PQclear(res);
            reader_fail(r, "replication stream ended: %s", why[0] ? why : "server closed it");
            return;
        }
        struct pgoutput_frame frame;
        int rc = pgoutput_decode_copydata(r->decoder, buf, (size_t)len, &frame);
        if (rc != 0) {
            reader_fail(r, "cannot decode the replication stream: %s", r->decoder->errstr);
            PQfreemem(buf);
            return;
        }
        rc = handle_frame(r, &frame);
        PQfreemem(buf);
        if (rc != 0 || r->state != PG_STREAMING) return;
    }
    event_active(r->repl_ev, EV_READ, 0); /* more may be buffered: yield, then go on */
}

static void stream_start(struct pg_reader *r)
{
    char lsn[PGOUTPUT_LSN_BUFLEN];
    pgoutput_format_lsn(r->confirmed_lsn, lsn);
    char *slot = PQescapeIdentifier(r->repl, r->src->slot, strlen(r->src->slot));
    char *pub = PQescapeLiteral(r->repl, r->src->publication, strlen(r->src->publication));
    char sql[1024];
    snprintf(sql, sizeof sql,
             "START_REPLICATION SLOT %s LOGICAL %s (proto_version '1', publication_names %s)",
             slot ? slot : "", lsn, pub ? pub : "''");
    PQfreemem(slot);
    PQfreemem(pub);
    PGresult *res = PQexec(r->repl, sql);
    if (PQresultStatus(res) != PGRES_COPY_BOTH) {
        char why[512];
        snprintf(why, sizeof why, "%s", PQresultErrorMessage(res));
        PQclear(res);
        reader_fail(r, "START_REPLICATION failed: %s", why);
        return;
    }
    PQclear(res);
    PQsetnonblocking(r->repl, 1);
    r->repl_ev = event_new(r->rt->base, PQsocket(r->repl), EV_READ | EV_PERSIST, repl_readable, r);
    event_add(r->repl_ev, NULL);
    r->state = PG_STREAMING;
    r->backoff_ms = PG_BACKOFF_MIN_MS;
    metrics_set(r->m_state, PG_STREAMING);
    log_info("cdc.pg", "%s: streaming from slot %s at %s", r->src->name, r->src->slot, lsn);
    event_active(r->repl_ev, EV_READ, 0);
}

/* ---- snapshot ---- */

static void snapshot_rows(struct pg_reader *r, PGresult *res)
{
    struct table_info *t = &r->tables[r->snapshot_table];
    int ncols = PQnfields(res);
    struct pgoutput_column *cols = calloc((size_t)ncols + 1, sizeof *cols);
    struct pgoutput_value *vals = calloc((size_t)ncols + 1, sizeof *vals);
    if (!cols || !vals) {
        free(cols);
        free(vals);
        reader_fail(r, "out of memory reading the snapshot");
        return;
    }
    for (int c = 0; c < ncols; c++) {
        cols[c].name = PQfname(res, c);
        cols[c].type_oid = PQftype(res, c);
        cols[c].typmod = PQfmod(res, c);
    }
    /* the same type mapping as streamed rows: describe the result as a relation */
    struct pgoutput_relation rel = {.oid = 0, .schema = t->cfg->schema, .name = t->cfg->name,
                                    .replica_identity = 'd', .ncols = (uint16_t)ncols,
                                    .columns = cols};
    /* each fetched chunk is its own entry, so applied chunks free the window while the
       snapshot goes on; all carry the consistent point as their position */
    struct txn *snap = fifo_push(r);
    if (!snap) {
        free(cols);
        free(vals);
        reader_fail(r, "out of memory reading the snapshot");
        return;
    }
    snap->end_lsn = r->consistent_lsn;
    snap->closed = 1;
    for (int row = 0; row < PQntuples(res) && r->state == PG_SNAPSHOT; row++) {
        for (int c = 0; c < ncols; c++) {
            vals[c].kind = PQgetisnull(res, row, c) ? PGOUTPUT_VALUE_NULL : PGOUTPUT_VALUE_TEXT;
            vals[c].data = PQgetvalue(res, row, c);
            vals[c].len = (uint32_t)PQgetlength(res, row, c);
        }
        struct pgoutput_tuple tuple = {.ncols = (uint16_t)ncols, .values = vals};
        json_t *after = pgoutput_tuple_to_json(r->decoder, &rel, &tuple, NULL, NULL);
        json_t *key = after ? pgoutput_tuple_key_json(r->decoder, &rel, &tuple, NULL,
                                                      (const char *const *)t->key_columns)
                            : NULL;
        if (!after || !key) {
            json_decref(after);
            json_decref(key);
            reader_fail(r, "cannot read a snapshot row of %s.%s: %s", t->cfg->schema,
                        t->cfg->name, r->decoder->errstr);
            break;
        }
        struct change_event ev = {.op = 'r', .after = after, .connector = "postgresql",
                                  .source = r->src->name, .db = PQdb(r->sql),
                                  .schema = t->cfg->schema, .table = t->cfg->name,
                                  .lsn = r->consistent_lsn, .commit_us = r->snapshot_commit_us,
                                  .read_us = event_now_us(), .snapshot = 1};
        event_position_pg(ev.position, r->consistent_lsn, 0);
        int rc = produce(r, snap, (int)r->snapshot_table, key, &ev);
        json_decref(after);
        json_decref(key);
        if (rc != 0) {
            reader_fail(r, "the backbone's local queue is full");
            break;
        }
        metrics_inc(r->m_snapshot_rows, 1);
    }
    free(cols);
    free(vals);
}

static void sql_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_reader *r = arg;
    if (r->state != PG_SNAPSHOT || !r->sql) return;
    if (!PQconsumeInput(r->sql)) {
        reader_fail(r, "snapshot connection lost: %s", PQerrorMessage(r->sql));
        return;
    }
    if (PQisBusy(r->sql)) return;
    PGresult *res;
    int fetched = -1;
    while ((res = PQgetResult(r->sql))) {
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_TUPLES_OK) {
            fetched = PQntuples(res);
            snapshot_rows(r, res);
        } else if (st != PGRES_COMMAND_OK) {
            char why[512];
            snprintf(why, sizeof why, "%s", PQresultErrorMessage(res));
            PQclear(res);
            reader_fail(r, "snapshot query failed: %s", why);
            return;
        }
        PQclear(res);
        if (r->state != PG_SNAPSHOT) return;
    }
    if (fetched == 0) { /* this table is done */
        r->snapshot_cursor_open = 0;
        log_info("cdc.pg", "%s: snapshot of %s.%s read", r->src->name,
                 r->tables[r->snapshot_table].cfg->schema, r->tables[r->snapshot_table].cfg->name);
        r->snapshot_table++;
    }
    snapshot_next(r);
}

static void snapshot_next(struct pg_reader *r)
{
    if (r->state != PG_SNAPSHOT) return;
    if (r->unapplied >= (uint64_t)r->rt->cfg->backbone.window) {
        r->snapshot_waiting = 1; /* resumed from the tick once merge catches up */
        r->reading_paused = 1;
        return;
    }
    char sql[1024];
    if (r->snapshot_table >= r->ntables) {
        PGresult *res = PQexec(r->sql, "COMMIT");
        PQclear(res);
        event_free(r->sql_ev);
        r->sql_ev = NULL;
        PQfinish(r->sql);
        r->sql = NULL;
        struct txn *end = fifo_push(r);
        if (!end) {
            reader_fail(r, "out of memory");
            return;
        }
        end->is_snapshot = 1; /* confirmed, in order, only after every chunk */
        end->end_lsn = r->consistent_lsn;
        end->closed = 1;
        log_info("cdc.pg", "%s: snapshot read (%.0f rows); waiting for it to be applied while "
                           "streaming", r->src->name, metrics_value(r->m_snapshot_rows));
        stream_start(r);
        return;
    }
    /* one cursor per table: a finished one stays open until the transaction ends */
    if (!r->snapshot_cursor_open) {
        snprintf(sql, sizeof sql,
                 "DECLARE stockmesh_snapshot_%zu NO SCROLL CURSOR FOR SELECT * FROM %s; "
                 "FETCH %d FROM stockmesh_snapshot_%zu",
                 r->snapshot_table, r->tables[r->snapshot_table].qualified, PG_SNAPSHOT_FETCH,
                 r->snapshot_table);
        r->snapshot_cursor_open = 1;
    } else {
        snprintf(sql, sizeof sql, "FETCH %d FROM stockmesh_snapshot_%zu", PG_SNAPSHOT_FETCH,
                 r->snapshot_table);
    }
    if (!PQsendQuery(r->sql, sql)) {
        reader_fail(r, "cannot query the snapshot: %s", PQerrorMessage(r->sql));
        return;
    }
}

static int snapshot_begin(struct pg_reader *r, char *err, size_t errlen)
{
    char *slot = PQescapeIdentifier(r->repl, r->src->slot, strlen(r->src->slot));
    char sql[512];
    snprintf(sql, sizeof sql, "CREATE_REPLICATION_SLOT %s LOGICAL pgoutput EXPORT_SNAPSHOT",
             slot ? slot : "");
    PQfreemem(slot);
    PGresult *res = repl_exec(r, sql, err, errlen);
    if (!res) return -1;
    int ok = 0;
    r->consistent_lsn = pgoutput_parse_lsn(PQgetvalue(res, 0, 1), &ok);
    char snapshot_name[128];
    snprintf(snapshot_name, sizeof snapshot_name, "%s", PQgetvalue(res, 0, 2));
    PQclear(res);
    if (!ok) {
        snprintf(err, errlen, "CREATE_REPLICATION_SLOT returned no consistent point");
        return -1;
    }
    /* the exported snapshot lives only until the next command on the replication
       connection: import it right away */
    res = sql_exec(r, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err, errlen);
    if (!res) return -1;
    PQclear(res);
    char *lit = PQescapeLiteral(r->sql, snapshot_name, strlen(snapshot_name));
    snprintf(sql, sizeof sql, "SET TRANSACTION SNAPSHOT %s", lit ? lit : "''");
    PQfreemem(lit);
    res = sql_exec(r, sql, err, errlen);
    if (!res) return -1;
    PQclear(res);
    res = sql_exec(r, "SELECT (extract(epoch from now()) * 1000000)::int8", err, errlen);
    if (!res) return -1;
    r->snapshot_commit_us = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);

    unsigned char raw[8];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) memset(raw, 0, sizeof raw);
    char lsn[PGOUTPUT_LSN_BUFLEN];
    pgoutput_format_lsn(r->consistent_lsn, lsn);
    snprintf(r->snapshot_token, sizeof r->snapshot_token, "%s-%02x%02x%02x%02x%02x%02x%02x%02x",
             lsn, raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7]);

    r->confirmed_lsn = r->consistent_lsn;
    r->snapshot_table = 0;
    r->snapshot_cursor_open = 0;
    PQsetnonblocking(r->sql, 1);
    r->sql_ev = event_new(r->rt->base, PQsocket(r->sql), EV_READ | EV_PERSIST, sql_readable, r);
    event_add(r->sql_ev, NULL);
    r->state = PG_SNAPSHOT;
    metrics_set(r->m_state, PG_SNAPSHOT);
    log_info("cdc.pg", "%s: slot %s created at %s; reading the snapshot of %zu tables",
             r->src->name, r->src->slot, lsn, r->ntables);
    snapshot_next(r);
    return 0;
}

/* Decides between resuming the stream and starting over with a snapshot. */
static int setup(struct pg_reader *r, const char *redis_token, char *err, size_t errlen)
{
    PGresult *res = sql_exec(r, "SHOW wal_level", err, errlen);
    if (!res) return -1;
    int logical = strcmp(PQgetvalue(res, 0, 0), "logical") == 0;
    char level[32];
    snprintf(level, sizeof level, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    if (!logical) {
        snprintf(err, errlen, "the server runs with wal_level=%s; set wal_level=logical in "
                              "postgresql.conf and restart PostgreSQL", level);
        return -1;
    }
    if (load_table_keys(r, err, errlen) != 0 || ensure_publication(r, err, errlen) != 0)
        return -1;

    const char *params[] = {r->src->slot};
    res = PQexecParams(r->sql,
                       "SELECT confirmed_flush_lsn::text, plugin FROM pg_replication_slots WHERE "
                       "slot_name = $1",
                       1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "cannot read pg_replication_slots: %s", PQresultErrorMessage(res));
        PQclear(res);
        return -1;
    }
    int slot_exists = PQntuples(res) > 0;
    uint64_t slot_lsn = 0;
    if (slot_exists) {
        int ok = 0;
        slot_lsn = pgoutput_parse_lsn(PQgetvalue(res, 0, 0), &ok);
    }
    PQclear(res);

    char local_token[64] = "";
    int have_local = store_get(r->rt->store, r->scope, "snapshot", local_token,
                               sizeof local_token) == 0;
    int redis_current = have_local && redis_token && strcmp(local_token, redis_token) == 0;
    if (slot_exists && redis_current) {
        r->confirmed_lsn = slot_lsn;
        stream_start(r);
        return r->state == PG_STREAMING ? 0 : -1;
    }
    if (slot_exists) {
        log_warning("cdc.pg", "%s: %s; dropping slot %s and taking a new snapshot", r->src->name,
                    !have_local ? "the last snapshot never finished"
                                : "Redis does not hold this source's snapshot (new or older "
                                  "Redis)",
                    r->src->slot);
        char *slot = PQescapeIdentifier(r->repl, r->src->slot, strlen(r->src->slot));
        char sql[512];
        snprintf(sql, sizeof sql, "DROP_REPLICATION_SLOT %s WAIT", slot ? slot : "");
        PQfreemem(slot);
        res = repl_exec(r, sql, err, errlen);
        if (!res) return -1;
        PQclear(res);
    }
    store_delete(r->rt->store, r->scope, "snapshot");
    return snapshot_begin(r, err, errlen);
}

static void snapshot_token_reply(void *arg, redisReply *reply)
{
    struct pg_reader *r = arg;
    if (r->state != PG_WAIT_REDIS) return;
    if (!reply || (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_NIL)) {
        reader_fail(r, "cannot read the snapshot marker from Redis");
        return;
    }
    char err[1024];
    if (setup(r, reply->type == REDIS_REPLY_STRING ? reply->str : NULL, err, sizeof err) != 0 &&
        r->state != PG_DOWN)
        reader_fail(r, "%s", err);
}

static void connect_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_reader *r = arg;
    char err[1024];
    r->state = PG_WAIT_REDIS; /* from here on, failures go through reader_fail */
    r->repl = connect_pg(r, 1, err, sizeof err);
    if (r->repl) r->sql = connect_pg(r, 0, err, sizeof err);
    if (!r->repl || !r->sql) {
        reader_fail(r, "%s", err);
        return;
    }
    pgoutput_free(r->decoder); /* relations are sent again on every new stream */
    r->decoder = pgoutput_new();
    if (!r->decoder) {
        reader_fail(r, "out of memory");
        return;
    }
    if (!redis_ready(r->redis)) {
        reader_fail(r, "Redis is not reachable yet");
        return;
    }
    char key[192];
    snprintf(key, sizeof key, "stockmesh:snapshot:%s", r->src->name);
    if (redis_sendf(r->redis, snapshot_token_reply, r, "GET %s", key) != 0)
        reader_fail(r, "Redis is not reachable");
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_reader *r = arg;
    if (r->state != PG_STREAMING && r->state != PG_SNAPSHOT) return;
    if (kafka_embedded(r->rt->kafka)) {
        if (!r->applied_query_in_flight && r->fifo_count &&
            redis_sendf(r->redis, applied_reply, r, "HGETALL %s", r->applied_key) == 0)
            r->applied_query_in_flight = 1;
    } else {
        confirm_progress(r);
    }
    if (!r->fifo_count) confirm_progress(r);
    resume_reading(r);
    send_status(r, 0);
}

static void redis_state(void *arg, int ready)
{
    struct pg_reader *r = arg;
    if (!ready) r->applied_query_in_flight = 0;
}

struct pg_reader *pg_reader_new(struct runtime *rt, const struct config_source *src, char *err,
                                size_t errlen)
{
    if (src->ntables > 0xffff) {
        snprintf(err, errlen, "source %s maps more than 65535 tables", src->name);
        return NULL;
    }
    struct pg_reader *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->rt = rt;
    r->src = src;
    r->backoff_ms = PG_BACKOFF_MIN_MS;
    r->next_txn_id = 1;
    snprintf(r->scope, sizeof r->scope, "source:%s", src->name);
    if (src->password_file &&
        redis_read_password(src->password_file, r->password, sizeof r->password, err, errlen) != 0)
        goto fail;
    r->ntables = src->ntables;
    r->tables = calloc(r->ntables ? r->ntables : 1, sizeof *r->tables);
    r->applied = malloc((r->ntables ? r->ntables : 1) * PG_MAX_PARTITIONS * sizeof *r->applied);
    if (!r->tables || !r->applied) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < r->ntables * PG_MAX_PARTITIONS; i++) r->applied[i] = -1;
    for (size_t i = 0; i < r->ntables; i++) {
        struct table_info *t = &r->tables[i];
        t->cfg = &src->tables[i];
        char suffix[400];
        snprintf(suffix, sizeof suffix, "%s.%s.%s", src->name, t->cfg->schema, t->cfg->name);
        kafka_topic(rt->kafka, t->topic, sizeof t->topic, suffix);
        /* identifiers come from validated config: [A-Za-z0-9_] or quoted here */
        snprintf(t->qualified, sizeof t->qualified, "\"%s\".\"%s\"", t->cfg->schema, t->cfg->name);
        if (kafka_topic_ensure(rt->kafka, t->topic, err, errlen) != 0) goto fail;
    }
    char labels[160];
    snprintf(labels, sizeof labels, "source=\"%s\"", src->name);
    struct metrics *mx = rt->metrics;
    r->m_events = metrics_counter(mx, "stockmesh_cdc_events_total",
                                  "Change events read from a source.", labels);
    r->m_txns = metrics_counter(mx, "stockmesh_cdc_transactions_total",
                                "Source transactions read.", labels);
    r->m_snapshot_rows = metrics_counter(mx, "stockmesh_cdc_snapshot_rows_total",
                                         "Rows read by initial snapshots.", labels);
    r->m_errors = metrics_counter(mx, "stockmesh_cdc_errors_total",
                                  "Reader failures (each followed by a reconnect).", labels);
    r->m_truncates = metrics_counter(mx, "stockmesh_cdc_truncates_total",
                                     "TRUNCATEs of mapped tables seen.", labels);
    r->m_lag = metrics_gauge(mx, "stockmesh_cdc_unconfirmed_bytes",
                             "WAL bytes the server holds for this reader (server end minus "
                             "confirmed).", labels);
    r->m_state = metrics_gauge(mx, "stockmesh_cdc_state",
                               "0 down, 1 waiting for Redis, 2 snapshot, 3 streaming.", labels);
    r->m_confirmed = metrics_gauge(mx, "stockmesh_cdc_confirmed_lsn",
                                   "Last position confirmed to the source.", labels);
    r->m_read_latency = metrics_histogram(mx, "stockmesh_cdc_commit_to_read_seconds",
                                          "Source commit to change event read (streaming).",
                                          labels, metrics_latency_buckets,
                                          metrics_latency_nbuckets);
    r->producer = kafka_producer_new(rt->kafka, delivered, r, err, errlen);
    if (!r->producer) goto fail;
    r->redis = redis_new(rt->base, rt->cfg, rt->metrics, "cdc", err, errlen);
    if (!r->redis) goto fail;
    redis_on_state(r->redis, redis_state, r);
    snprintf(r->applied_key, sizeof r->applied_key, "stockmesh:applied:%s", kafka_epoch(rt->kafka));
    r->tick = event_new(rt->base, -1, EV_PERSIST, tick_cb, r);
    r->reconnect = evtimer_new(rt->base, connect_cb, r);
    if (!r->tick || !r->reconnect) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    struct timeval tick = {0, PG_TICK_MS * 1000};
    evtimer_add(r->tick, &tick);
    struct timeval soon = {0, 200 * 1000}; /* give Redis a moment to connect first */
    evtimer_add(r->reconnect, &soon);
    return r;
fail:
    pg_reader_free(r);
    return NULL;
}

void pg_reader_free(struct pg_reader *r)
{
    if (!r) return;
    r->state = PG_DOWN;
    close_connections(r);
    if (r->tick) event_free(r->tick);
    if (r->reconnect) event_free(r->reconnect);
    if (r->producer) kafka_producer_free(r->producer, 2000);
    fifo_clear(r);
    if (r->redis) redis_free(r->redis);
    pgoutput_free(r->decoder);
    for (size_t i = 0; i < r->ntables && r->tables; i++) free_key_columns(&r->tables[i]);
    free(r->tables);
    free(r->applied);
    free(r->fifo);
    free(r);
}
