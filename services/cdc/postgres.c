/* postgres.c — see postgres.h.
 *
 * Connections, all asynchronous (pgconn.c): a replication connection (slot commands,
 * then the copy stream), a control connection (setup, heartbeats, slot lag,
 * watermark chunks) and, during an initial snapshot, worker connections that share
 * the slot's exported snapshot and read tables in parallel.
 *
 * States: connecting → waiting for Redis's snapshot marker → setup → snapshot →
 * streaming. Any error closes everything, forgets what was not confirmed and
 * connects again after a backoff.
 *
 * Confirmation: a FIFO of entries (stream transactions, or segments of a big one;
 * snapshot chunks; heartbeats) tracks, per entry, the events the backbone
 * acknowledged and the highest offset written to each partition. An entry is
 * applied when every partition it wrote to has been applied past that offset; the
 * oldest applied entries are confirmed to PostgreSQL after the persistence delay.
 *
 * Snapshots: the initial one reads every table inside the slot's exported snapshot,
 * in primary-key chunks, snapshot_parallel tables at a time; each confirmed chunk
 * records the last key it read, so after a crash the remaining chunks are read while
 * streaming, DBLog-style: a low watermark message, the chunk query, a high watermark
 * message; rows of the chunk whose key changed in the stream between the two
 * watermarks are dropped (the stream holds a newer image), the rest are emitted at
 * the high watermark's position. `stockmesh snapshot` re-reads one table the same way. */
#include "postgres.h"

#include "pgconn.h"
#include "pgoutput.h"
#include "schema.h"
#include "shapes.h"
#include "cdcmetrics.h"
#include "tracker.h"
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
#define PG_STATUS_EVERY_TICKS 20       /* status and requests: once a second */
#define PG_STATUS_INTERVAL_US 1000000
#define PG_BACKOFF_MIN_MS 500
#define PG_BACKOFF_MAX_MS 30000
#define PG_CONNECT_TIMEOUT_MS 10000
#define PG_SETUP_TIMEOUT_MS 60000
#define PG_MAX_WORKERS 16
#define PG_EXACT_COUNT_BELOW 200000.0  /* larger tables get the planner's estimate */
#define WATERMARK_PREFIX "stockmesh.watermark"
#define HEARTBEAT_PREFIX "stockmesh.heartbeat"

enum pg_state { PG_DOWN, PG_CONNECTING, PG_WAIT_REDIS, PG_SETUP, PG_SNAPSHOT, PG_STREAMING };
static const char *const state_names[] = {"down", "connecting", "waiting_for_redis", "setup",
                                          "snapshot", "streaming"};
static const int state_metric[] = {0, 1, 1, 1, 2, 3};

enum table_snap { TS_NONE, TS_QUEUED, TS_READING, TS_READ };
enum snap_kind { SK_INITIAL, SK_RESUMED, SK_REQUESTED };
static const char *const kind_names[] = {"initial", "resumed", "requested"};

struct table_info {
    const struct config_table *cfg;
    char topic[512];
    char qualified[300];          /* quoted "schema"."name" */
    char label[260];              /* schema.name, for keys, metrics and messages */
    char **key_columns;           /* row key, NULL-terminated */
    const char *mapped[CONFIG_TABLE_COLUMNS_MAX + 1];
    struct schema_table schema;   /* last known shape */
    int have_schema;
    struct schema_table catalog;  /* shape read at setup */
    int have_catalog;
    int parked;
    char parked_reason[768];
    /* snapshot of this table */
    enum table_snap snap;
    enum snap_kind kind;
    json_t *after_key;            /* read past this key; NULL = from the start */
    int64_t rows_done, rows_total;
    struct cdc_table_metrics m;
    int requested;                /* a re-snapshot asked for, its columns being checked */
};

struct worker {
    struct pg_reader *r;
    struct pgconn *conn;
    int ready, imported;
    int table;                    /* the table being read, or -1 */
    int busy;                     /* a query is running */
    int waiting;                  /* paused by the window */
    int finished;
};

enum wm_phase { WM_IDLE, WM_COUNT, WM_LOW, WM_SETTLE, WM_SELECT, WM_HIGH, WM_WAIT_HIGH };

struct pg_reader {
    struct runtime *rt;
    const struct config_source *src;
    enum pg_state state;
    int64_t state_since_ms;
    char scope[128];              /* state-store scope "source:<name>" */
    char password[256];
    char user[128];
    char dbname[128];

    struct pgconn *repl;          /* replication=database connection */
    struct pgconn *ctl;           /* setup, heartbeats, lag, watermark chunks */
    int repl_ready, ctl_ready;
    struct event *repl_ev, *tick, *reconnect;
    int backoff_ms;
    int reading_paused;
    uint64_t ticks;
    int64_t next_attempt_ms;
    uint64_t reconnects;
    char last_error[1024];
    int64_t last_error_ms;

    struct pgoutput *decoder;
    struct tracker *tracker;
    struct redis *redis;
    char schema_topic[256], alert_topic[256];

    struct table_info *tables;
    size_t ntables;
    size_t setup_table;           /* setup walks the tables one query at a time */
    char redis_token[64];
    int have_redis_token;

    /* the transaction being streamed: its entry in the tracker, 0 between transactions */
    uint64_t current_id;
    uint64_t current_final_lsn;
    int64_t current_commit_us;
    uint32_t current_xid;
    uint32_t current_index;

    uint64_t confirmed_lsn;
    uint64_t server_wal_end;
    int64_t last_status_us;
    int64_t last_heartbeat_ms, heartbeat_sent_ms;
    int64_t slot_lag, retained;   /* -1 unknown */
    int lag_query_in_flight, heartbeat_in_flight;

    /* initial snapshot */
    uint64_t consistent_lsn;
    char snapshot_name[128];
    char snapshot_token[64];
    int64_t snapshot_commit_us;
    struct worker workers[PG_MAX_WORKERS];
    int nworkers;
    int snapshot_pending_end;     /* a resumed initial snapshot still needs its end entry */

    /* watermark chunk */
    enum wm_phase wm;
    int wm_table;
    uint64_t wm_id;
    int wm_open;
    PGresult *wm_rows;
    char **seen;                  /* keys changed between the watermarks */
    size_t nseen, seen_cap;

    struct cdc_metrics m;
    struct metric *m_lag, *m_confirmed, *m_truncates, *m_slot_lag, *m_retained, *m_heartbeat,
        *m_toast_missing, *m_superseded;
};

static void reader_fail(struct pg_reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void stream_start(struct pg_reader *r);
static void worker_next(struct worker *w);
static void wm_next(struct pg_reader *r);
static void write_status(struct pg_reader *r);

static int64_t now_ms(void)
{
    return event_now_us() / 1000;
}

static void set_state(struct pg_reader *r, enum pg_state s)
{
    if (r->state == s) return;
    r->state = s;
    r->state_since_ms = now_ms();
    metrics_set(r->m.state, state_metric[s]);
    write_status(r);
}

static int table_for(struct pg_reader *r, const char *schema, const char *name)
{
    for (size_t i = 0; i < r->ntables; i++)
        if (strcmp(r->tables[i].cfg->schema, schema) == 0 &&
            strcmp(r->tables[i].cfg->name, name) == 0)
            return (int)i;
    return -1;
}

/* ---- state kept in the state database ---- */

static void progress_key(const struct table_info *t, char *out, size_t outlen)
{
    snprintf(out, outlen, "snapshot.progress.%s", t->label);
}

static void progress_save(struct pg_reader *r, const struct table_info *t, enum snap_kind kind,
                          const json_t *after, int done, int64_t rows)
{
    char key[320];
    progress_key(t, key, sizeof key);
    json_t *doc = json_pack("{s:s, s:O?, s:b, s:I}", "kind", kind_names[kind], "after", after,
                            "done", done, "rows", (json_int_t)rows);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (!text || store_set(r->rt->store, r->scope, key, text) != 0)
        log_error("cdc.pg", "%s: cannot record snapshot progress of %s: %s", r->src->name,
                  t->label, store_errstr(r->rt->store));
    free(text);
    json_decref(doc);
}

static void park_save(struct pg_reader *r, struct table_info *t)
{
    shapes_park(r->rt->store, r->scope, t->label, t->parked ? t->parked_reason : NULL);
    size_t n = 0;
    for (size_t i = 0; i < r->ntables; i++) n += r->tables[i].parked;
    metrics_set(r->m.parked, (double)n);
}

static void schema_save(struct pg_reader *r, struct table_info *t)
{
    if (shapes_save(r->rt->store, r->scope, t->label, &t->schema) != 0)
        log_error("cdc.pg", "%s: cannot record the schema of %s", r->src->name, t->label);
}

static void schema_load(struct pg_reader *r, struct table_info *t)
{
    if (t->have_schema) schema_table_release(&t->schema);
    t->have_schema = shapes_load(r->rt->store, r->scope, t->label, &t->schema) == 0;
    t->parked = shapes_parked(r->rt->store, r->scope, t->label, t->parked_reason,
                              sizeof t->parked_reason);
}

static void write_status(struct pg_reader *r)
{
    if (!r->m.state || !r->tracker) return; /* still being built */
    json_t *tables = json_array();
    for (size_t i = 0; i < r->ntables; i++) {
        struct table_info *t = &r->tables[i];
        const char *state = t->requested              ? "queued"
                            : t->parked               ? "parked"
                            : t->snap == TS_QUEUED    ? "queued"
                            : t->snap == TS_READING   ? "snapshot"
                                                      : "streaming";
        json_t *snap = t->snap == TS_NONE
                           ? json_null()
                           : json_pack("{s:s, s:I, s:I}", "kind", kind_names[t->kind],
                                       "rows_done", (json_int_t)t->rows_done, "rows_total",
                                       (json_int_t)t->rows_total);
        json_array_append_new(tables,
                              json_pack("{s:s, s:s, s:s, s:o, s:s?}", "schema", t->cfg->schema,
                                        "name", t->cfg->name, "state", state, "snapshot", snap,
                                        "parked_reason", t->parked ? t->parked_reason : NULL));
    }
    char lsn[PGOUTPUT_LSN_BUFLEN];
    pgoutput_format_lsn(r->confirmed_lsn, lsn);
#define OPT_MS(v) ((v) > 0 ? json_integer(v) : json_null())
    json_t *doc = json_pack(
        "{s:s, s:s, s:s, s:I, s:I, s:s?, s:o, s:I, s:o, s:s, s:o, s:o, s:o, s:o, s:o}", "source",
        r->src->name, "type", "postgresql", "state", state_names[r->state], "since_ms",
        (json_int_t)r->state_since_ms, "updated_ms", (json_int_t)now_ms(), "last_error",
        r->last_error[0] ? r->last_error : NULL, "last_error_ms", OPT_MS(r->last_error_ms),
        "reconnects", (json_int_t)r->reconnects, "next_attempt_ms",
        r->state == PG_DOWN ? OPT_MS(r->next_attempt_ms) : json_null(), "confirmed_position",
        lsn, "slot_lag_bytes", r->slot_lag >= 0 ? json_integer(r->slot_lag) : json_null(),
        "retained_wal_bytes", r->retained >= 0 ? json_integer(r->retained) : json_null(),
        "last_heartbeat_ms", OPT_MS(r->last_heartbeat_ms), "last_event_ms",
        OPT_MS(tracker_last_event_ms(r->tracker)), "tables", tables);
#undef OPT_MS
    /* what the merge has not applied yet: the mismatch rules wait for zero */
    if (doc)
        json_object_set_new(doc, "unapplied", json_integer((json_int_t)tracker_unapplied(r->tracker)));
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (text) store_set(r->rt->store, r->scope, "status", text);
    free(text);
    json_decref(doc);
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
    PGconn *pg = pgconn_pg(r->repl);
    if (PQputCopyData(pg, msg, (int)n) != 1 || PQflush(pg) < 0) {
        reader_fail(r, "cannot send the standby status: %s", PQerrorMessage(pg));
        return;
    }
    r->last_status_us = now;
}

static void snapshot_finished(struct pg_reader *r)
{
    if (store_set(r->rt->store, r->scope, "snapshot", r->snapshot_token) != 0)
        log_error("cdc.pg", "%s: cannot record the finished snapshot: %s", r->src->name,
                  store_errstr(r->rt->store));
    store_delete(r->rt->store, r->scope, "snapshot.pending");
    for (size_t i = 0; i < r->ntables; i++) {
        if (r->tables[i].snap == TS_READ && r->tables[i].kind != SK_REQUESTED)
            r->tables[i].snap = TS_NONE;
        char key[320], text[4096];
        progress_key(&r->tables[i], key, sizeof key);
        if (store_get(r->rt->store, r->scope, key, text, sizeof text) == 0 &&
            strstr(text, "\"kind\":\"requested\"") == NULL)
            store_delete(r->rt->store, r->scope, key);
    }
    log_info("cdc.pg", "%s: snapshot applied downstream; streaming only from now on",
             r->src->name);
}

/* A confirmed chunk: the progress a restart resumes from. */
static void chunk_confirmed(struct pg_reader *r, const struct tracker_entry *t)
{
    struct table_info *tab = &r->tables[t->chunk_table];
    if (t->chunk_last && t->chunk_kind == SK_REQUESTED) {
        char key[320];
        progress_key(tab, key, sizeof key);
        store_delete(r->rt->store, r->scope, key);
        /* what `stockmesh replay` and `reconcile` wait for before dropping what the
           re-read did not see */
        snapshot_done_save(r->rt->store, r->scope, tab->label);
        log_info("cdc.pg", "%s: snapshot of %s applied (%" PRId64 " rows)", r->src->name,
                 tab->label, t->chunk_rows);
        if (tab->snap == TS_READ) tab->snap = TS_NONE;
        return;
    }
    /* a resumed chunk belongs to the initial snapshot: a second crash resumes it again */
    progress_save(r, tab, t->chunk_kind == SK_REQUESTED ? SK_REQUESTED : SK_INITIAL,
                  t->chunk_after, t->chunk_last, t->chunk_rows);
}

static void update_lag(struct pg_reader *r)
{
    metrics_set(r->m_lag, r->server_wal_end > r->confirmed_lsn
                              ? (double)(r->server_wal_end - r->confirmed_lsn)
                              : 0);
}

/* An entry the tracker found durable downstream, oldest first; NULL ends a batch. */
static void entry_confirmed(void *arg, struct tracker_entry *e)
{
    struct pg_reader *r = arg;
    if (!e) {
        metrics_set(r->m_confirmed, (double)r->confirmed_lsn);
        update_lag(r);
        send_status(r, 1);
        return;
    }
    if (e->chunk_table >= 0) chunk_confirmed(r, e);
    if (e->is_snapshot_end) snapshot_finished(r);
    if (e->end_pos > r->confirmed_lsn) r->confirmed_lsn = e->end_pos;
    if (e->id == r->current_id) r->current_id = 0;
}

static void tracker_failed(void *arg, const char *why)
{
    reader_fail(arg, "%s", why);
}

static int window_full(const struct pg_reader *r)
{
    return tracker_unapplied(r->tracker) >= (uint64_t)r->rt->cfg->backbone.window;
}

static void resume_reading(struct pg_reader *r)
{
    if (tracker_unapplied(r->tracker) >= (uint64_t)r->rt->cfg->backbone.window / 2) return;
    if (r->reading_paused && r->state == PG_STREAMING && r->repl_ev) {
        r->reading_paused = 0;
        event_add(r->repl_ev, NULL);
        event_active(r->repl_ev, EV_READ, 0); /* data may already wait in libpq */
    }
    if (r->state == PG_SNAPSHOT)
        for (int i = 0; i < r->nworkers; i++)
            if (r->workers[i].waiting) {
                r->workers[i].waiting = 0;
                worker_next(&r->workers[i]);
            }
    if (r->state == PG_STREAMING) wm_next(r);
}

/* ---- failing and reconnecting ---- */

static void seen_clear(struct pg_reader *r)
{
    for (size_t i = 0; i < r->nseen; i++) free(r->seen[i]);
    r->nseen = 0;
}

static void close_connections(struct pg_reader *r)
{
    if (r->repl_ev) event_free(r->repl_ev);
    r->repl_ev = NULL;
    pgconn_free(r->repl);
    pgconn_free(r->ctl);
    r->repl = r->ctl = NULL;
    r->repl_ready = r->ctl_ready = 0;
    for (int i = 0; i < r->nworkers; i++) pgconn_free(r->workers[i].conn);
    memset(r->workers, 0, sizeof r->workers);
    r->nworkers = 0;
    PQclear(r->wm_rows);
    r->wm_rows = NULL;
    r->wm = WM_IDLE;
    r->wm_open = 0;
    seen_clear(r);
    r->lag_query_in_flight = r->heartbeat_in_flight = 0;
}

static void schedule_reconnect(struct pg_reader *r)
{
    struct timeval tv = {r->backoff_ms / 1000, (r->backoff_ms % 1000) * 1000};
    evtimer_add(r->reconnect, &tv);
    r->next_attempt_ms = now_ms() + r->backoff_ms;
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
    snprintf(r->last_error, sizeof r->last_error, "%s", msg);
    r->last_error_ms = now_ms();
    r->reconnects++;
    metrics_inc(r->m.errors, 1);
    close_connections(r);
    tracker_clear(r->tracker);
    r->current_id = 0;
    r->reading_paused = 0;
    r->snapshot_pending_end = 0;
    for (size_t i = 0; i < r->ntables; i++) {
        r->tables[i].snap = TS_NONE;
        r->tables[i].requested = 0; /* its request stays in the state database */
        json_decref(r->tables[i].after_key);
        r->tables[i].after_key = NULL;
    }
    schedule_reconnect(r);
    set_state(r, PG_DOWN);
}

/* Adds the fix to the connection errors an operator meets when setting a source up. */
static void explain_connect_error(struct pg_reader *r, int replication, const char *msg,
                                  char *out, size_t outlen)
{
    const char *user = r->user[0] ? r->user : "<user>";
    const char *hint = "";
    char buf[512];
    if (strstr(msg, "no pg_hba.conf entry")) {
        /* logical replication connections name a database: pg_hba.conf matches them with
           database lines, not `replication` ones (those are for physical replication) */
        snprintf(buf, sizeof buf,
                 " (add a line `host %s %s <stockmesh address>/32 scram-sha-256` to "
                 "pg_hba.conf, then SELECT pg_reload_conf())",
                 r->dbname[0] ? r->dbname : "<database>", user);
        hint = buf;
    } else if (strstr(msg, "must be superuser or replication role") ||
               strstr(msg, "permission denied to start WAL sender") ||
               strstr(msg, "must have the REPLICATION attribute")) {
        snprintf(buf, sizeof buf, " (grant it: ALTER ROLE %s REPLICATION)", user);
        hint = buf;
    } else if (strstr(msg, "password authentication failed")) {
        hint = " (check the source's password_file)";
    } else if (strstr(msg, "Connection refused") || strstr(msg, "timed out")) {
        hint = " (is PostgreSQL running and listening at the dsn's host and port?)";
    }
    snprintf(out, outlen, "cannot connect%s: %s%s", replication ? " for replication" : "", msg,
             hint);
}

static struct pgconn *open_conn(struct pg_reader *r, int replication, pgconn_state_cb cb,
                                void *arg)
{
    const char *keys[12], *values[12];
    int n = 0;
    keys[n] = "dbname", values[n++] = r->src->dsn;
    keys[n] = "client_encoding", values[n++] = "UTF8";
    keys[n] = "application_name", values[n++] = replication ? "stockmesh-cdc" : "stockmesh-setup";
    /* row values arrive as text in the session's formats: make them unambiguous */
    keys[n] = "options", values[n++] = "-c DateStyle=ISO -c TimeZone=UTC -c IntervalStyle=iso_8601 "
                                       "-c extra_float_digits=3";
    keys[n] = "keepalives_idle", values[n++] = "30";
    if (replication) keys[n] = "replication", values[n++] = "database";
    if (r->password[0]) keys[n] = "password", values[n++] = r->password;
    keys[n] = NULL, values[n] = NULL;
    char err[512];
    struct pgconn *c = pgconn_new(r->rt->base, keys, values, PG_CONNECT_TIMEOUT_MS, cb, arg, err,
                                  sizeof err);
    if (!c) reader_fail(r, "cannot connect: %s", err);
    return c;
}

/* Checks a result; on failure fails the reader with what, the server's text and hint. */
static int result_ok(struct pg_reader *r, struct pgconn *c, PGresult *res, const char *what)
{
    ExecStatusType st = PQresultStatus(res);
    if (res && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)) return 1;
    char why[600];
    pgconn_error_text(res, pgconn_pg(c), why, sizeof why);
    PQclear(res);
    reader_fail(r, "%s: %s", what, why);
    return 0;
}

/* ---- schema changes ---- */

static void schema_from_relation(const struct table_info *t, const struct pgoutput_relation *rel,
                                 struct schema_table *out)
{
    memset(out, 0, sizeof *out);
    out->columns = calloc(rel->ncols ? rel->ncols : 1, sizeof *out->columns);
    if (!out->columns) return;
    for (uint16_t i = 0; i < rel->ncols; i++) {
        int key = 0;
        for (char **k = t->key_columns; k && *k; k++) key |= strcmp(*k, rel->columns[i].name) == 0;
        char err[128];
        if (schema_column_from_pg(&out->columns[out->ncolumns], rel->columns[i].name,
                                  rel->columns[i].type_oid, rel->columns[i].typmod, key, err,
                                  sizeof err) == 0)
            out->ncolumns++;
    }
}

/* Compares a table's new shape with the last known one: a compatible change is
 * announced and taken; an incompatible one is announced, alerted and parks the table
 * until the mapping is fixed and the table re-snapshotted. */
static void schema_observe(struct pg_reader *r, int table, struct schema_table *shape,
                           const char *where)
{
    struct table_info *t = &r->tables[table];
    if (!t->have_schema) {
        t->schema = *shape;
        t->have_schema = 1;
        schema_save(r, t);
        return;
    }
    char lsn[PGOUTPUT_LSN_BUFLEN], reason[768];
    pgoutput_format_lsn(r->current_id ? r->current_final_lsn : r->server_wal_end, lsn);
    struct shapes_where w = {.source = r->src->name, .schema = t->cfg->schema,
                             .table = t->cfg->name, .label = t->label, .position = lsn,
                             .seen_in = where, .ts_ms = now_ms()};
    json_t *event, *alert;
    enum schema_change verdict = shapes_judge(&t->schema, shape, (const char *const *)t->mapped,
                                              &w, &event, &alert, reason, sizeof reason);
    if (verdict == SCHEMA_SAME) {
        schema_table_release(shape);
        return;
    }
    char key[400];
    snprintf(key, sizeof key, "%s.%s", r->src->name, t->label);
    if (event) tracker_produce_side(r->tracker, r->schema_topic, key, event);
    json_decref(event);
    schema_table_release(&t->schema);
    t->schema = *shape;
    schema_save(r, t);
    if (verdict == SCHEMA_COMPATIBLE) {
        metrics_inc(r->m.schema_compatible, 1);
        log_info("cdc.pg", "%s: compatible schema change of %s propagated%s%s", r->src->name,
                 t->label, reason[0] ? ": " : "", reason);
        return;
    }
    metrics_inc(r->m.schema_incompatible, 1);
    t->parked = 1;
    snprintf(t->parked_reason, sizeof t->parked_reason, "%s", reason);
    park_save(r, t);
    log_error("cdc.pg", "%s: table %s parked: %s", r->src->name, t->label, t->parked_reason);
    if (alert) tracker_produce_side(r->tracker, r->alert_topic, key, alert);
    json_decref(alert);
    write_status(r);
}

/* ---- streaming ---- */

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void seen_add(struct pg_reader *r, json_t *key)
{
    if (!key) return;
    char *text = json_dumps(key, JSON_COMPACT | PGOUTPUT_JSON_DUMP_FLAGS);
    if (!text) return;
    if (r->nseen == r->seen_cap) {
        size_t cap = r->seen_cap ? r->seen_cap * 2 : 256;
        char **s = realloc(r->seen, cap * sizeof *s);
        if (!s) {
            free(text);
            return;
        }
        r->seen = s;
        r->seen_cap = cap;
    }
    r->seen[r->nseen++] = text;
}

/* Closes the current entry after a segment of a big transaction, so that its applied
 * events leave the window while the transaction goes on; only the last segment
 * confirms the commit. */
static int segment_if_big(struct pg_reader *r)
{
    uint64_t segment = (uint64_t)r->rt->cfg->backbone.window / 4;
    if (segment < 1) segment = 1;
    struct tracker_entry *e = tracker_find(r->tracker, r->current_id);
    if (!e || e->events < segment) return 0;
    e->closed = 1;
    e = tracker_push(r->tracker);
    r->current_id = e ? e->id : 0;
    if (!e) {
        reader_fail(r, "out of memory");
        return -1;
    }
    return 0;
}

static int handle_change(struct pg_reader *r, const struct pgoutput_msg *msg)
{
    const struct pgoutput_change *ch = &msg->change;
    int table = table_for(r, ch->relation->schema, ch->relation->name);
    if (table < 0) return 0; /* published but not mapped: nothing to do */
    struct tracker_entry *current = tracker_find(r->tracker, r->current_id);
    if (!current) {
        reader_fail(r, "change outside a transaction");
        return -1;
    }
    struct table_info *tab = &r->tables[table];
    if (tab->parked) {
        metrics_inc(r->m.parked_changes, 1);
        return 0;
    }
    struct change_event ev = {0};
    ev.op = msg->kind == PGOUTPUT_MSG_INSERT ? 'c' : msg->kind == PGOUTPUT_MSG_UPDATE ? 'u' : 'd';
    size_t missing = 0;
    json_t *after = NULL, *before = NULL, *key = NULL, *old_key = NULL;
    if (ch->old_kind) {
        before = pgoutput_tuple_to_json(r->decoder, ch->relation, &ch->old_tuple, NULL, NULL);
        if (!before) goto bad;
    }
    if (msg->kind != PGOUTPUT_MSG_DELETE) {
        /* unchanged TOAST values come from the old image when the table sends it
           (REPLICA IDENTITY FULL); otherwise they are left out, never nulled */
        after = pgoutput_tuple_to_json(r->decoder, ch->relation, &ch->new_tuple, before, &missing);
        if (!after) goto bad;
    }
    const struct pgoutput_tuple *key_tuple =
        msg->kind == PGOUTPUT_MSG_DELETE ? &ch->old_tuple : &ch->new_tuple;
    key = pgoutput_tuple_key_json(r->decoder, ch->relation, key_tuple, before,
                                  (const char *const *)tab->key_columns);
    if (!key) goto bad;
    if (missing) metrics_inc(r->m_toast_missing, missing);
    if (r->wm_open && r->wm_table == table) {
        seen_add(r, key);
        if (ch->old_kind && msg->kind == PGOUTPUT_MSG_UPDATE) {
            old_key = pgoutput_tuple_key_json(r->decoder, ch->relation, &ch->old_tuple, NULL,
                                              (const char *const *)tab->key_columns);
            seen_add(r, old_key); /* a key update: the old key changed too */
            json_decref(old_key);
        }
    }
    ev.before = before;
    ev.after = after;
    ev.connector = "postgresql";
    ev.source = r->src->name;
    ev.db = PQdb(pgconn_pg(r->repl));
    ev.schema = ch->relation->schema;
    ev.table = ch->relation->name;
    ev.lsn = r->current_final_lsn;
    ev.txid = r->current_xid;
    event_position_pg(ev.position, r->current_final_lsn, ++r->current_index);
    ev.commit_us = r->current_commit_us;
    ev.read_us = event_now_us();
    if (ev.commit_us && ev.read_us >= ev.commit_us)
        metrics_observe(r->m.read_latency, (double)(ev.read_us - ev.commit_us) / 1e6);
    int rc = tracker_produce(r->tracker, current, table, key, &ev);
    json_decref(after);
    json_decref(before);
    json_decref(key);
    if (rc != 0) {
        reader_fail(r, "the backbone's local queue is full");
        return -1;
    }
    return segment_if_big(r);
bad:
    json_decref(after);
    json_decref(before);
    json_decref(key);
    reader_fail(r, "cannot decode a row of %s.%s: %s", ch->relation->schema, ch->relation->name,
                r->decoder->errstr);
    return -1;
}

static void wm_emit(struct pg_reader *r, uint64_t lsn);

/* Our own logical messages: watermarks and heartbeats, tagged with the source name
 * because every slot of the database sees them. */
static int handle_message(struct pg_reader *r, const struct pgoutput_msg *m)
{
    int watermark = strcmp(m->message.prefix, WATERMARK_PREFIX) == 0;
    int heartbeat = strcmp(m->message.prefix, HEARTBEAT_PREFIX) == 0;
    if (!watermark && !heartbeat) return 0;
    char text[256];
    size_t n = m->message.content_len < sizeof text - 1 ? m->message.content_len : sizeof text - 1;
    memcpy(text, m->message.content, n);
    text[n] = 0;
    size_t name_len = strlen(r->src->name);
    if (strncmp(text, r->src->name, name_len) != 0 || text[name_len] != ' ') return 0;
    const char *rest = text + name_len + 1;
    if (heartbeat) {
        int64_t sent = strtoll(rest, NULL, 10);
        r->last_heartbeat_ms = now_ms();
        if (sent > 0 && r->last_heartbeat_ms >= sent)
            metrics_set(r->m_heartbeat, (double)(r->last_heartbeat_ms - sent) / 1000.0);
        if (!m->message.transactional) {
            /* confirmed in order like a transaction: idle sources advance their slot */
            struct tracker_entry *t = tracker_push(r->tracker);
            if (!t) {
                reader_fail(r, "out of memory");
                return -1;
            }
            t->closed = 1;
            t->end_pos = m->message.lsn;
        }
        return 0;
    }
    char which[8];
    unsigned long long id = 0;
    if (sscanf(rest, "%7s %llu", which, &id) != 2 || id != r->wm_id) return 0;
    if (strcmp(which, "low") == 0 && (r->wm == WM_SELECT || r->wm == WM_HIGH ||
                                      r->wm == WM_LOW || r->wm == WM_SETTLE ||
                                      r->wm == WM_WAIT_HIGH)) {
        r->wm_open = 1;
        seen_clear(r);
    } else if (strcmp(which, "high") == 0 && r->wm_open && r->wm_rows) {
        wm_emit(r, m->message.lsn);
    }
    return 0;
}

static int handle_frame(struct pg_reader *r, const struct pgoutput_frame *f)
{
    if (f->wal_end > r->server_wal_end) r->server_wal_end = f->wal_end;
    if (f->kind == PGOUTPUT_FRAME_KEEPALIVE) {
        /* nothing in flight and nothing open: everything the server sent is handled */
        if (!tracker_count(r->tracker) && f->wal_end > r->confirmed_lsn)
            r->confirmed_lsn = f->wal_end;
        if (f->reply_requested) send_status(r, 1);
        return 0;
    }
    const struct pgoutput_msg *m = &f->msg;
    switch (m->kind) {
    case PGOUTPUT_MSG_BEGIN: {
        struct tracker_entry *e = tracker_push(r->tracker);
        r->current_id = e ? e->id : 0;
        if (!e) {
            reader_fail(r, "out of memory");
            return -1;
        }
        r->current_final_lsn = m->begin.final_lsn;
        r->current_commit_us = m->begin.commit_time_us;
        r->current_xid = m->begin.xid;
        r->current_index = 0;
        return 0;
    }
    case PGOUTPUT_MSG_COMMIT: {
        struct tracker_entry *e = tracker_find(r->tracker, r->current_id);
        r->current_id = 0;
        if (!e) return 0;
        e->end_pos = m->commit.end_lsn;
        e->closed = 1;
        metrics_inc(r->m.txns, 1);
        return 0;
    }
    case PGOUTPUT_MSG_INSERT:
    case PGOUTPUT_MSG_UPDATE:
    case PGOUTPUT_MSG_DELETE:
        return handle_change(r, m);
    case PGOUTPUT_MSG_RELATION: {
        int table = table_for(r, m->relation->schema, m->relation->name);
        if (table < 0 || r->tables[table].parked) return 0;
        struct schema_table shape;
        schema_from_relation(&r->tables[table], m->relation, &shape);
        schema_observe(r, table, &shape, "stream");
        return 0;
    }
    case PGOUTPUT_MSG_MESSAGE:
        return handle_message(r, m);
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
        return 0; /* Type, Origin: the decoder caches what it needs */
    }
}

static void repl_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_reader *r = arg;
    if (!r->repl || r->state != PG_STREAMING) return;
    PGconn *pg = pgconn_pg(r->repl);
    if (!PQconsumeInput(pg)) {
        reader_fail(r, "replication connection lost: %s", PQerrorMessage(pg));
        return;
    }
    for (int n = 0; n < 5000; n++) {
        if (window_full(r)) {
            /* bounded window: let the merge catch up before reading on (DESIGN §4) */
            r->reading_paused = 1;
            event_del(r->repl_ev);
            return;
        }
        char *buf = NULL;
        int len = PQgetCopyData(pg, &buf, 1);
        if (len == 0) return;
        if (len < 0) {
            PGresult *res = PQgetResult(pg);
            char why[512];
            pgconn_error_text(res, pg, why, sizeof why);
            PQclear(res);
            reader_fail(r, "replication stream ended: %s", why);
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

static void stream_started(struct pgconn *c, PGresult *res, void *arg)
{
    struct pg_reader *r = arg;
    if (!res || PQresultStatus(res) != PGRES_COPY_BOTH) {
        char why[600];
        pgconn_error_text(res, pgconn_pg(c), why, sizeof why);
        PQclear(res);
        reader_fail(r, "START_REPLICATION failed: %s", why);
        return;
    }
    PQclear(res);
    PGconn *pg = pgconn_pg(r->repl);
    r->repl_ev = event_new(r->rt->base, PQsocket(pg), EV_READ | EV_PERSIST, repl_readable, r);
    if (!r->repl_ev) {
        reader_fail(r, "out of memory");
        return;
    }
    event_add(r->repl_ev, NULL);
    r->backoff_ms = PG_BACKOFF_MIN_MS;
    set_state(r, PG_STREAMING);
    char lsn[PGOUTPUT_LSN_BUFLEN];
    pgoutput_format_lsn(r->confirmed_lsn, lsn);
    log_info("cdc.pg", "%s: streaming from slot %s at %s", r->src->name, r->src->slot, lsn);
    event_active(r->repl_ev, EV_READ, 0);
    wm_next(r);
}

static void stream_start(struct pg_reader *r)
{
    char lsn[PGOUTPUT_LSN_BUFLEN];
    pgoutput_format_lsn(r->confirmed_lsn, lsn);
    PGconn *pg = pgconn_pg(r->repl);
    char *slot = PQescapeIdentifier(pg, r->src->slot, strlen(r->src->slot));
    char *pub = PQescapeLiteral(pg, r->src->publication, strlen(r->src->publication));
    char sql[1024];
    /* messages: the watermarks and heartbeats travel in the stream */
    snprintf(sql, sizeof sql,
             "START_REPLICATION SLOT %s LOGICAL %s (proto_version '1', publication_names %s, "
             "messages 'true')",
             slot ? slot : "", lsn, pub ? pub : "''");
    PQfreemem(slot);
    PQfreemem(pub);
    if (pgconn_query(r->repl, sql, 0, NULL, stream_started, r) != 0)
        reader_fail(r, "cannot start replication: the connection is gone");
}

/* ---- reading rows (both kinds of snapshot) ---- */

/* Produces the rows of a chunk result as one entry. Rows whose key is in skip (sorted,
 * may be NULL) are left out. Returns the entry, or NULL after failing the reader. */
static struct tracker_entry *emit_rows(struct pg_reader *r, int table, PGresult *res, uint64_t lsn,
                             int64_t commit_us, char **skip, size_t nskip, int64_t *emitted)
{
    struct table_info *t = &r->tables[table];
    int ncols = PQnfields(res);
    struct pgoutput_column *cols = calloc((size_t)ncols + 1, sizeof *cols);
    struct pgoutput_value *vals = calloc((size_t)ncols + 1, sizeof *vals);
    struct tracker_entry *e = tracker_push(r->tracker);
    if (!cols || !vals || !e) {
        free(cols);
        free(vals);
        reader_fail(r, "out of memory reading the snapshot");
        return NULL;
    }
    e->end_pos = lsn;
    e->closed = 1;
    e->chunk_table = table;
    for (int c = 0; c < ncols; c++) {
        cols[c].name = PQfname(res, c);
        cols[c].type_oid = PQftype(res, c);
        cols[c].typmod = PQfmod(res, c);
    }
    /* the same type mapping as streamed rows: describe the result as a relation */
    struct pgoutput_relation rel = {.oid = 0, .schema = t->cfg->schema, .name = t->cfg->name,
                                    .replica_identity = 'd', .ncols = (uint16_t)ncols,
                                    .columns = cols};
    int nrows = PQntuples(res);
    uint32_t index = 0;
    const char *db = PQdb(pgconn_pg(r->ctl));
    for (int row = 0; row < nrows; row++) {
        for (int c = 0; c < ncols; c++) {
            vals[c].kind = PQgetisnull(res, row, c) ? PGOUTPUT_VALUE_NULL : PGOUTPUT_VALUE_TEXT;
            vals[c].data = PQgetvalue(res, row, c);
            vals[c].len = (uint32_t)PQgetlength(res, row, c);
        }
        struct pgoutput_tuple tuple = {.ncols = (uint16_t)ncols, .values = vals};
        json_t *key = pgoutput_tuple_key_json(r->decoder, &rel, &tuple, NULL,
                                              (const char *const *)t->key_columns);
        if (!key) goto bad;
        if (row == nrows - 1) {
            /* the resume point: the key's text values, as the next chunk query takes them */
            json_t *after = json_array();
            for (char **k = t->key_columns; k && *k; k++) {
                int c = PQfnumber(res, *k);
                json_array_append_new(after, c >= 0 ? json_string(PQgetvalue(res, row, c))
                                                    : json_null());
            }
            e->chunk_after = after;
        }
        if (nskip) {
            char *text = json_dumps(key, JSON_COMPACT | PGOUTPUT_JSON_DUMP_FLAGS);
            int skipped = text && bsearch(&text, skip, nskip, sizeof *skip, key_cmp);
            free(text);
            if (skipped) {
                json_decref(key);
                continue;
            }
        }
        json_t *after = pgoutput_tuple_to_json(r->decoder, &rel, &tuple, NULL, NULL);
        if (!after) {
            json_decref(key);
            goto bad;
        }
        struct change_event ev = {.op = 'r', .after = after, .connector = "postgresql",
                                  .source = r->src->name, .db = db,
                                  .schema = t->cfg->schema, .table = t->cfg->name,
                                  .lsn = lsn, .commit_us = commit_us,
                                  .read_us = event_now_us(), .snapshot = 1};
        event_position_pg(ev.position, lsn, index++);
        int rc = tracker_produce(r->tracker, e, table, key, &ev);
        json_decref(after);
        json_decref(key);
        if (rc != 0) {
            free(cols);
            free(vals);
            reader_fail(r, "the backbone's local queue is full");
            return NULL;
        }
        (*emitted)++;
        metrics_inc(r->m.snapshot_rows, 1);
    }
    free(cols);
    free(vals);
    return e;
bad:
    free(cols);
    free(vals);
    reader_fail(r, "cannot read a snapshot row of %s: %s", t->label, r->decoder->errstr);
    return NULL;
}

/* The chunk query: rows after the last key, in key order. */
static char *chunk_sql(struct pg_reader *r, struct pgconn *c, const struct table_info *t,
                       int *nparams)
{
    PGconn *pg = pgconn_pg(c);
    char cols[2048] = "", params[1024] = "";
    int n = 0;
    for (char **k = t->key_columns; k && *k; k++, n++) {
        char *id = PQescapeIdentifier(pg, *k, strlen(*k));
        if (!id) return NULL;
        size_t used = strlen(cols);
        snprintf(cols + used, sizeof cols - used, "%s%s", n ? ", " : "", id);
        PQfreemem(id);
        used = strlen(params);
        snprintf(params + used, sizeof params - used, "%s$%d", n ? ", " : "", n + 1);
    }
    size_t len = strlen(cols) * 2 + strlen(params) + strlen(t->qualified) + 128;
    char *sql = malloc(len);
    if (!sql) return NULL;
    if (t->after_key)
        snprintf(sql, len, "SELECT * FROM %s WHERE (%s) > (%s) ORDER BY %s LIMIT %d",
                 t->qualified, cols, params, cols, r->src->snapshot_chunk_rows);
    else
        snprintf(sql, len, "SELECT * FROM %s ORDER BY %s LIMIT %d", t->qualified, cols,
                 r->src->snapshot_chunk_rows);
    *nparams = t->after_key ? n : 0;
    return sql;
}

static const char **after_params(const struct table_info *t)
{
    size_t n = json_array_size(t->after_key);
    const char **p = calloc(n + 1, sizeof *p);
    for (size_t i = 0; p && i < n; i++) p[i] = json_string_value(json_array_get(t->after_key, i));
    return p;
}

static void set_rows_total(struct table_info *t, PGresult *res)
{
    double total = PQntuples(res) ? strtod(PQgetvalue(res, 0, 0), NULL) : 0;
    t->rows_total = total > 0 ? (int64_t)total : 0;
    if (t->rows_total < t->rows_done) t->rows_total = t->rows_done;
    metrics_set(t->m.rows_expected, (double)t->rows_total);
}

/* Rows to expect: exact for small tables (inside the snapshot when a worker asks), the
 * planner's estimate for big ones, where counting would cost a scan of its own. The
 * count's subquery runs only when its CASE branch is taken. The caller frees. */
static char *count_sql(const struct table_info *t)
{
    char *sql = malloc(1024);
    if (sql)
        snprintf(sql, 1024,
                 "SELECT CASE WHEN c.reltuples >= %.0f THEN c.reltuples::int8 ELSE (SELECT "
                 "count(*) FROM %s) END FROM pg_class c WHERE c.oid = '%s'::regclass",
                 PG_EXACT_COUNT_BELOW, t->qualified, t->qualified);
    return sql;
}

/* Books a read chunk as entry e: its position, the table's progress and resume point.
 * Returns 1 when it was the table's last chunk. */
static int chunk_account(struct pg_reader *r, struct tracker_entry *e, int table, uint64_t lsn,
                         int64_t rows_read)
{
    struct table_info *t = &r->tables[table];
    e->closed = 1;
    e->end_pos = lsn;
    e->chunk_table = table;
    e->chunk_kind = t->kind;
    t->rows_done += rows_read;
    if (t->rows_done > t->rows_total) t->rows_total = t->rows_done;
    metrics_set(t->m.rows_read, (double)t->rows_done);
    metrics_set(t->m.rows_expected, (double)t->rows_total);
    e->chunk_rows = t->rows_done;
    if (e->chunk_after) {
        json_decref(t->after_key);
        t->after_key = json_incref(e->chunk_after);
    } else if (t->after_key) {
        e->chunk_after = json_incref(t->after_key);
    }
    if (rows_read >= r->src->snapshot_chunk_rows) return 0;
    e->chunk_last = 1;
    t->snap = TS_READ;
    log_info("cdc.pg", "%s: %s snapshot of %s read (%" PRId64 " rows)", r->src->name,
             kind_names[t->kind], t->label, t->rows_done);
    write_status(r);
    return 1;
}

/* ---- the initial snapshot: workers in the exported snapshot ---- */

static void worker_query_failed(struct worker *w, PGresult *res, const char *what)
{
    struct pg_reader *r = w->r;
    char why[600];
    pgconn_error_text(res, pgconn_pg(w->conn), why, sizeof why);
    PQclear(res);
    reader_fail(r, "%s: %s", what, why);
}

static void all_workers_done(struct pg_reader *r)
{
    for (int i = 0; i < r->nworkers; i++)
        if (!r->workers[i].finished) return;
    for (int i = 0; i < r->nworkers; i++) {
        pgconn_free(r->workers[i].conn);
        r->workers[i].conn = NULL;
    }
    r->nworkers = 0;
    struct tracker_entry *end = tracker_push(r->tracker);
    if (!end) {
        reader_fail(r, "out of memory");
        return;
    }
    end->is_snapshot_end = 1; /* confirmed, in order, only after every chunk */
    end->end_pos = r->consistent_lsn;
    end->closed = 1;
    log_info("cdc.pg", "%s: snapshot read (%.0f rows); waiting for it to be applied while "
                       "streaming", r->src->name, metrics_value(r->m.snapshot_rows));
    stream_start(r);
}

static void worker_chunk(struct pgconn *c, PGresult *res, void *arg)
{
    struct worker *w = arg;
    struct pg_reader *r = w->r;
    w->busy = 0;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        char what[400];
        snprintf(what, sizeof what, "snapshot query of %s failed", r->tables[w->table].label);
        worker_query_failed(w, res, what);
        return;
    }
    (void)c;
    int64_t emitted = 0;
    int nrows = PQntuples(res);
    struct tracker_entry *e = nrows ? emit_rows(r, w->table, res, r->consistent_lsn, r->snapshot_commit_us,
                                      NULL, 0, &emitted)
                          : tracker_push(r->tracker);
    PQclear(res);
    if (!e) {
        if (r->state != PG_DOWN) reader_fail(r, "out of memory");
        return;
    }
    if (r->state != PG_SNAPSHOT) return;
    (void)emitted; /* no rows are skipped inside the exported snapshot */
    if (chunk_account(r, e, w->table, r->consistent_lsn, nrows)) w->table = -1;
    worker_next(w);
}

static void worker_send_chunk(struct worker *w)
{
    struct pg_reader *r = w->r;
    struct table_info *t = &r->tables[w->table];
    int nparams = 0;
    char *sql = chunk_sql(r, w->conn, t, &nparams);
    const char **params = nparams ? after_params(t) : NULL;
    if (!sql || (nparams && !params) ||
        pgconn_query(w->conn, sql, nparams, params, worker_chunk, w) != 0) {
        free(sql);
        free(params);
        reader_fail(r, "cannot query the snapshot of %s", t->label);
        return;
    }
    free(sql);
    free(params);
    w->busy = 1;
}

static void worker_counted(struct pgconn *c, PGresult *res, void *arg)
{
    struct worker *w = arg;
    w->busy = 0;
    if (!result_ok(w->r, c, res, "counting a table's rows")) return;
    set_rows_total(&w->r->tables[w->table], res);
    PQclear(res);
    worker_next(w);
}

static void worker_next(struct worker *w)
{
    struct pg_reader *r = w->r;
    if (r->state != PG_SNAPSHOT || w->busy || w->finished) return;
    if (window_full(r)) {
        w->waiting = 1; /* resumed from the tick once merge catches up */
        r->reading_paused = 1;
        return;
    }
    if (w->table < 0) {
        for (size_t i = 0; i < r->ntables; i++)
            if (r->tables[i].snap == TS_QUEUED && !r->tables[i].parked) {
                w->table = (int)i;
                r->tables[i].snap = TS_READING;
                w->busy = 1;
                char *sql = count_sql(&r->tables[i]);
                if (!sql || pgconn_query(w->conn, sql, 0, NULL, worker_counted, w) != 0)
                    reader_fail(r, "the snapshot connection is gone");
                free(sql);
                write_status(r);
                return;
            }
        w->finished = 1;
        all_workers_done(r);
        return;
    }
    worker_send_chunk(w);
}

static void worker_imported(struct pgconn *c, PGresult *res, void *arg)
{
    struct worker *w = arg;
    struct pg_reader *r = w->r;
    if (!result_ok(r, c, res, "importing the slot's snapshot")) return;
    if (w == &r->workers[0] && PQntuples(res) > 0)
        r->snapshot_commit_us = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    w->imported = 1;
    for (int i = 0; i < r->nworkers; i++)
        if (!r->workers[i].imported) return;

    /* every worker holds the snapshot: the replication connection is free again */
    unsigned char raw[8];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) memset(raw, 0, sizeof raw);
    char lsn[PGOUTPUT_LSN_BUFLEN];
    pgoutput_format_lsn(r->consistent_lsn, lsn);
    snprintf(r->snapshot_token, sizeof r->snapshot_token, "%s-%02x%02x%02x%02x%02x%02x%02x%02x",
             lsn, raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7]);
    /* Redis and the state database name the same snapshot from its start: a restart
       resumes it only while Redis still holds what was applied of it */
    char key[192];
    snprintf(key, sizeof key, "stockmesh:snapshot:%s", r->src->name);
    redis_sendf(r->redis, NULL, NULL, "SET %s %s", key, r->snapshot_token);
    store_set(r->rt->store, r->scope, "snapshot.pending", r->snapshot_token);
    r->confirmed_lsn = r->consistent_lsn;
    set_state(r, PG_SNAPSHOT);
    log_info("cdc.pg", "%s: slot %s created at %s; reading %zu tables, %d at a time",
             r->src->name, r->src->slot, lsn, r->ntables, r->nworkers);
    for (int i = 0; i < r->nworkers; i++) worker_next(&r->workers[i]);
}

static void slot_created(struct pgconn *c, PGresult *res, void *arg)
{
    struct pg_reader *r = arg;
    if (!result_ok(r, c, res, "cannot create the replication slot")) return;
    int ok = 0;
    r->consistent_lsn = PQntuples(res) ? pgoutput_parse_lsn(PQgetvalue(res, 0, 1), &ok) : 0;
    snprintf(r->snapshot_name, sizeof r->snapshot_name, "%s",
             PQntuples(res) ? PQgetvalue(res, 0, 2) : "");
    PQclear(res);
    if (!ok || !r->snapshot_name[0]) {
        reader_fail(r, "CREATE_REPLICATION_SLOT returned no consistent point or snapshot");
        return;
    }
    /* the exported snapshot lives only until the next command on the replication
       connection: every worker imports it before anything else is sent there */
    for (int i = 0; i < r->nworkers; i++) {
        struct worker *w = &r->workers[i];
        char *lit = PQescapeLiteral(pgconn_pg(w->conn), r->snapshot_name, strlen(r->snapshot_name));
        char sql[512];
        snprintf(sql, sizeof sql,
                 "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT %s; "
                 "SELECT (extract(epoch from now()) * 1000000)::int8",
                 lit ? lit : "''");
        PQfreemem(lit);
        if (pgconn_query(w->conn, sql, 0, NULL, worker_imported, w) != 0) {
            reader_fail(r, "a snapshot connection is gone");
            return;
        }
    }
}

static void worker_state(struct pgconn *c, const char *err, void *arg)
{
    (void)c;
    struct worker *w = arg;
    struct pg_reader *r = w->r;
    if (err) {
        char msg[1024];
        explain_connect_error(r, 0, err, msg, sizeof msg);
        reader_fail(r, "snapshot connection: %s", msg);
        return;
    }
    w->ready = 1;
    for (int i = 0; i < r->nworkers; i++)
        if (!r->workers[i].ready) return;
    PGconn *pg = pgconn_pg(r->repl);
    char *slot = PQescapeIdentifier(pg, r->src->slot, strlen(r->src->slot));
    char sql[512];
    snprintf(sql, sizeof sql, "CREATE_REPLICATION_SLOT %s LOGICAL pgoutput EXPORT_SNAPSHOT",
             slot ? slot : "");
    PQfreemem(slot);
    if (pgconn_query(r->repl, sql, 0, NULL, slot_created, r) != 0)
        reader_fail(r, "the replication connection is gone");
}

static void snapshot_fresh(struct pg_reader *r)
{
    store_delete(r->rt->store, r->scope, "snapshot");
    store_delete(r->rt->store, r->scope, "snapshot.pending");
    size_t queued = 0;
    for (size_t i = 0; i < r->ntables; i++) {
        struct table_info *t = &r->tables[i];
        char key[320];
        progress_key(t, key, sizeof key);
        store_delete(r->rt->store, r->scope, key);
        t->rows_done = t->rows_total = 0;
        metrics_set(t->m.rows_read, 0);
        metrics_set(t->m.rows_expected, 0);
        json_decref(t->after_key);
        t->after_key = NULL;
        t->kind = SK_INITIAL;
        /* the snapshot reads the tables as they are now */
        if (t->have_catalog && !t->parked) {
            if (t->have_schema) schema_table_release(&t->schema);
            t->schema = t->catalog;
            memset(&t->catalog, 0, sizeof t->catalog);
            t->have_catalog = 0;
            t->have_schema = 1;
            schema_save(r, t);
        }
        t->snap = t->parked ? TS_NONE : TS_QUEUED;
        queued += !t->parked;
    }
    int n = r->src->snapshot_parallel;
    if ((size_t)n > queued) n = (int)queued;
    if (n < 1) n = 1;
    if (n > PG_MAX_WORKERS) n = PG_MAX_WORKERS;
    r->nworkers = n;
    for (int i = 0; i < n; i++) {
        struct worker *w = &r->workers[i];
        memset(w, 0, sizeof *w);
        w->r = r;
        w->table = -1;
        w->conn = open_conn(r, 0, worker_state, w);
        if (!w->conn) return;
    }
}

/* ---- watermark chunks while streaming (resumed and requested snapshots) ---- */

static void wm_emit(struct pg_reader *r, uint64_t lsn)
{
    if (r->nseen) qsort(r->seen, r->nseen, sizeof *r->seen, key_cmp);
    int nrows = PQntuples(r->wm_rows);
    int64_t emitted = 0;
    struct tracker_entry *e = nrows ? emit_rows(r, r->wm_table, r->wm_rows, lsn, event_now_us(), r->seen,
                                      r->nseen, &emitted)
                          : tracker_push(r->tracker);
    if (!e) {
        if (r->state != PG_DOWN) reader_fail(r, "out of memory");
        return;
    }
    PQclear(r->wm_rows);
    r->wm_rows = NULL;
    r->wm_open = 0;
    seen_clear(r);
    /* rows changed between the watermarks: the stream carried a newer image */
    metrics_inc(r->m_superseded, (uint64_t)(nrows - emitted));
    chunk_account(r, e, r->wm_table, lsn, nrows);
    r->wm = WM_IDLE;
    wm_next(r);
}

static void wm_high_sent(struct pgconn *c, PGresult *res, void *arg)
{
    struct pg_reader *r = arg;
    if (!result_ok(r, c, res, "writing a high watermark")) return;
    PQclear(res);
    if (r->wm == WM_HIGH) r->wm = WM_WAIT_HIGH; /* the stream emits the chunk when it sees it */
}

/* The low watermark also returns the transactions in progress as it was written (see
 * wm_low_sent). */
static int wm_message(struct pg_reader *r, const char *which, pgconn_result_cb cb)
{
    char content[256], sql[480];
    snprintf(content, sizeof content, "%s %s %" PRIu64, r->src->name, which, r->wm_id);
    char *lit = PQescapeLiteral(pgconn_pg(r->ctl), content, strlen(content));
    snprintf(sql, sizeof sql, "SELECT pg_logical_emit_message(false, '%s', %s)%s", WATERMARK_PREFIX,
             lit ? lit : "''", strcmp(which, "low") == 0 ? ", pg_current_snapshot()::text" : "");
    PQfreemem(lit);
    return pgconn_query(r->ctl, sql, 0, NULL, cb, r);
}

static void wm_selected(struct pgconn *c, PGresult *res, void *arg)
{
    struct pg_reader *r = arg;
    if (!result_ok(r, c, res, "reading a snapshot chunk")) return;
    PQclear(r->wm_rows);
    r->wm_rows = res;
    r->wm = WM_HIGH;
    if (wm_message(r, "high", wm_high_sent) != 0) reader_fail(r, "the control connection is gone");
}

static void wm_settled(struct pgconn *c, PGresult *res, void *arg)
{
    struct pg_reader *r = arg;
    if (!result_ok(r, c, res, "waiting for transactions to finish")) return;
    PQclear(res);
    struct table_info *t = &r->tables[r->wm_table];
    int nparams = 0;
    char *sql = chunk_sql(r, r->ctl, t, &nparams);
    const char **params = nparams ? after_params(t) : NULL;
    r->wm = WM_SELECT;
    if (!sql || (nparams && !params) ||
        pgconn_query(r->ctl, sql, nparams, params, wm_selected, r) != 0)
        reader_fail(r, "cannot query a snapshot chunk of %s", t->label);
    free(sql);
    free(params);
}

/* A transaction whose commit record precedes the low watermark may still be invisible
 * for a moment (PostgreSQL writes the record and marks the commit log, then publishes
 * the commit to new snapshots; pg_xact_status already says committed). A chunk read
 * then would miss it although the stream put it before the watermark, and the chunk's
 * older row, emitted at the high watermark, would overwrite it. So the chunk waits
 * until every transaction in progress at the low watermark has finished (up to 1 s:
 * one still running by then had not committed when the watermark was written, and its
 * commit falls between the watermarks, where it supersedes the chunk's row). */
static void wm_low_sent(struct pgconn *c, PGresult *res, void *arg)
{
    struct pg_reader *r = arg;
    if (!result_ok(r, c, res, "writing a low watermark")) return;
    char *snap = PQntuples(res) && PQnfields(res) > 1
                     ? PQescapeLiteral(pgconn_pg(c), PQgetvalue(res, 0, 1),
                                       strlen(PQgetvalue(res, 0, 1)))
                     : NULL;
    PQclear(res);
    char sql[1024];
    if (snap && strlen(snap) < 600) {
        snprintf(sql, sizeof sql,
                 "DO $$ DECLARE s pg_snapshot := %s; i int := 0; BEGIN "
                 "WHILE i < 200 AND EXISTS (SELECT 1 FROM pg_snapshot_xip(s) AS x(xid) "
                 "WHERE NOT pg_visible_in_snapshot(x.xid, pg_current_snapshot())) LOOP "
                 "PERFORM pg_sleep(0.005); i := i + 1; END LOOP; END $$",
                 snap);
    } else {
        /* a snapshot listing many transactions: wait for them in bulk */
        snprintf(sql, sizeof sql, "SELECT pg_sleep(0.05)");
    }
    PQfreemem(snap);
    r->wm = WM_SETTLE;
    if (pgconn_query(r->ctl, sql, 0, NULL, wm_settled, r) != 0)
        reader_fail(r, "the control connection is gone");
}

static void wm_start_chunk(struct pg_reader *r)
{
    r->wm_id++;
    r->wm_open = 0;
    seen_clear(r);
    r->wm = WM_LOW;
    if (wm_message(r, "low", wm_low_sent) != 0) reader_fail(r, "the control connection is gone");
}

static void wm_counted(struct pgconn *c, PGresult *res, void *arg)
{
    struct pg_reader *r = arg;
    if (!result_ok(r, c, res, "counting a table's rows")) return;
    set_rows_total(&r->tables[r->wm_table], res);
    PQclear(res);
    wm_start_chunk(r);
}

static void wm_next(struct pg_reader *r)
{
    if (r->state != PG_STREAMING || r->wm != WM_IDLE || !r->ctl) return;
    if (r->wm_table >= 0 && (size_t)r->wm_table < r->ntables &&
        r->tables[r->wm_table].snap == TS_READING && !r->tables[r->wm_table].parked) {
        if (window_full(r)) return; /* the tick tries again */
        wm_start_chunk(r);
        return;
    }
    for (size_t i = 0; i < r->ntables; i++) {
        struct table_info *t = &r->tables[i];
        if (t->snap != TS_QUEUED || t->parked) continue;
        if (window_full(r)) return;
        t->snap = TS_READING;
        r->wm_table = (int)i;
        r->wm = WM_COUNT;
        log_info("cdc.pg", "%s: %s snapshot of %s%s", r->src->name, kind_names[t->kind], t->label,
                 t->after_key ? " continues after the last confirmed chunk" : " starts");
        char *sql = count_sql(t);
        if (!sql || pgconn_query(r->ctl, sql, 0, NULL, wm_counted, r) != 0)
            reader_fail(r, "the control connection is gone");
        free(sql);
        write_status(r);
        return;
    }
    r->wm_table = -1;
    if (r->snapshot_pending_end) {
        /* the resumed initial snapshot is read: its end confirms like the original would */
        for (size_t i = 0; i < r->ntables; i++)
            if (r->tables[i].kind == SK_RESUMED && r->tables[i].snap == TS_READING) return;
        r->snapshot_pending_end = 0;
        struct tracker_entry *end = tracker_push(r->tracker);
        if (!end) {
            reader_fail(r, "out of memory");
            return;
        }
        end->is_snapshot_end = 1;
        end->closed = 1;
    }
}

/* ---- setup ---- */

static void setup_tables(struct pg_reader *r);
static void setup_publication(struct pg_reader *r);

static void decide(struct pg_reader *r, int slot_exists, uint64_t slot_lsn);

static void slot_dropped(struct pgconn *c, PGresult *res, void *arg)
{
    struct pg_reader *r = arg;
    if (!result_ok(r, c, res, "cannot drop the old replication slot")) return;
    PQclear(res);
    snapshot_fresh(r);
}

static void slot_read(struct pgconn *c, PGresult *res, void *arg)
{
    struct pg_reader *r = arg;
    if (!result_ok(r, c, res, "cannot read pg_replication_slots")) return;
    int exists = PQntuples(res) > 0;
    uint64_t lsn = 0;
    if (exists) {
        int ok = 0;
        lsn = pgoutput_parse_lsn(PQgetvalue(res, 0, 0), &ok);
        if (strcmp(PQgetvalue(res, 0, 1), "pgoutput") != 0) {
            char plugin[64];
            snprintf(plugin, sizeof plugin, "%s", PQgetvalue(res, 0, 1));
            PQclear(res);
            reader_fail(r, "slot %s exists with plugin %s, not pgoutput: drop it "
                           "(SELECT pg_drop_replication_slot('%s')) or configure another slot",
                        r->src->slot, plugin, r->src->slot);
            return;
        }
    }
    PQclear(res);
    decide(r, exists, lsn);
}

/* Picks up where the last run stopped: stream on, resume an unfinished snapshot, or
 * start over with a new slot when Redis no longer holds this source's data. */
static void decide(struct pg_reader *r, int slot_exists, uint64_t slot_lsn)
{
    char done[64] = "", pending[64] = "";
    int have_done = store_get(r->rt->store, r->scope, "snapshot", done, sizeof done) == 0;
    int have_pending =
        store_get(r->rt->store, r->scope, "snapshot.pending", pending, sizeof pending) == 0;
    int redis_done = have_done && r->have_redis_token && strcmp(done, r->redis_token) == 0;
    int redis_pending = have_pending && r->have_redis_token && strcmp(pending, r->redis_token) == 0;
    if (slot_exists && (redis_done || redis_pending)) {
        r->confirmed_lsn = slot_lsn;
        if (redis_pending) snprintf(r->snapshot_token, sizeof r->snapshot_token, "%s", pending);
        /* unfinished tables: the initial snapshot's, or requested re-snapshots */
        size_t resumed = 0;
        for (size_t i = 0; i < r->ntables; i++) {
            struct table_info *t = &r->tables[i];
            char key[320], text[8192];
            progress_key(t, key, sizeof key);
            json_t *doc = NULL;
            if (store_get(r->rt->store, r->scope, key, text, sizeof text) == 0)
                doc = json_loads(text, 0, NULL);
            const char *kind = doc ? json_string_value(json_object_get(doc, "kind")) : NULL;
            int is_done = doc && json_is_true(json_object_get(doc, "done"));
            int requested = kind && strcmp(kind, "requested") == 0;
            if ((redis_pending && !is_done) || (requested && !is_done)) {
                json_t *after = doc ? json_object_get(doc, "after") : NULL;
                json_decref(t->after_key);
                t->after_key = json_is_array(after) ? json_incref(after) : NULL;
                t->rows_done = doc ? json_integer_value(json_object_get(doc, "rows")) : 0;
                t->kind = requested ? SK_REQUESTED : SK_RESUMED;
                t->snap = t->parked ? TS_NONE : TS_QUEUED;
                resumed++;
            }
            json_decref(doc);
        }
        r->snapshot_pending_end = redis_pending;
        if (resumed) {
            metrics_inc(r->m.resumes, 1);
            log_info("cdc.pg", "%s: resuming the snapshot of %zu table(s) from their last "
                               "confirmed chunks while streaming", r->src->name, resumed);
        }
        stream_start(r);
        return;
    }
    if (slot_exists) {
        log_warning("cdc.pg", "%s: %s; dropping slot %s and taking a new snapshot", r->src->name,
                    !have_done && !have_pending ? "this appliance has no record of the slot"
                                                : "Redis does not hold this source's snapshot "
                                                  "(new or older Redis)",
                    r->src->slot);
        PGconn *pg = pgconn_pg(r->repl);
        char *slot = PQescapeIdentifier(pg, r->src->slot, strlen(r->src->slot));
        char sql[512];
        snprintf(sql, sizeof sql, "DROP_REPLICATION_SLOT %s WAIT", slot ? slot : "");
        PQfreemem(slot);
        if (pgconn_query(r->repl, sql, 0, NULL, slot_dropped, r) != 0)
            reader_fail(r, "the replication connection is gone");
        return;
    }
    snapshot_fresh(r);
}

static void publication_done(struct pgconn *c, PGresult *res, void *arg)
{
    struct pg_reader *r = arg;
    if (res && PQresultStatus(res) != PGRES_COMMAND_OK) {
        char why[600];
        pgconn_error_text(res, pgconn_pg(c), why, sizeof why);
        PQclear(res);
        reader_fail(r, "cannot create or alter publication %s: %s (the source's user needs "
                       "CREATE on the database and ownership of the mapped tables; or create "
                       "it as an admin: CREATE PUBLICATION %s FOR TABLE <the mapped tables>)",
                    r->src->publication, why, r->src->publication);
        return;
    }
    PQclear(res);
    const char *params[] = {r->src->slot};
    if (pgconn_query(r->ctl,
                     "SELECT confirmed_flush_lsn::text, plugin FROM pg_replication_slots WHERE "
                     "slot_name = $1",
                     1, params, slot_read, r) != 0)
        reader_fail(r, "the control connection is gone");
}

static void publication_read(struct pgconn *c, PGresult *res, void *arg)
{
    struct pg_reader *r = arg;
    if (!result_ok(r, c, res, "cannot read the publication")) return;
    /* row 0: does it exist; following rows: its tables */
    int exists = PQntuples(res) > 0 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    size_t matching = 0, published = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        if (PQgetisnull(res, i, 1)) continue;
        published++;
        if (table_for(r, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2)) >= 0) matching++;
    }
    PQclear(res);
    if (exists && matching == r->ntables && published == r->ntables) {
        publication_done(c, NULL, r);
        return;
    }
    PGconn *pg = pgconn_pg(c);
    char *pub = PQescapeIdentifier(pg, r->src->publication, strlen(r->src->publication));
    size_t cap = 256 + (pub ? strlen(pub) : 0);
    for (size_t i = 0; i < r->ntables; i++) cap += strlen(r->tables[i].qualified) + 2;
    char *sql = malloc(cap);
    if (!pub || !sql) {
        PQfreemem(pub);
        free(sql);
        reader_fail(r, "out of memory");
        return;
    }
    snprintf(sql, cap, exists ? "ALTER PUBLICATION %s SET TABLE " : "CREATE PUBLICATION %s FOR TABLE ",
             pub);
    for (size_t i = 0; i < r->ntables; i++) {
        if (i) strcat(sql, ", ");
        strcat(sql, r->tables[i].qualified);
    }
    PQfreemem(pub);
    if (pgconn_query(c, sql, 0, NULL, publication_done, r) != 0)
        reader_fail(r, "the control connection is gone");
    free(sql);
}

static void setup_publication(struct pg_reader *r)
{
    const char *params[] = {r->src->publication};
    if (pgconn_query(r->ctl,
                     "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1), NULL, NULL "
                     "UNION ALL SELECT true, schemaname::text, tablename::text FROM "
                     "pg_publication_tables WHERE pubname = $1",
                     1, params, publication_read, r) != 0)
        reader_fail(r, "the control connection is gone");
}

static void free_key_columns(struct table_info *t)
{
    if (!t->key_columns) return;
    for (char **k = t->key_columns; *k; k++) free(*k);
    free(t->key_columns);
    t->key_columns = NULL;
}

/* The shape of a table from a catalog query (attname, atttypid, atttypmod rows). */
static int shape_from_catalog(const struct table_info *t, PGresult *res, struct schema_table *out)
{
    memset(out, 0, sizeof *out);
    int n = PQntuples(res);
    out->columns = calloc(n ? (size_t)n : 1, sizeof *out->columns);
    if (!out->columns) return -1;
    for (int i = 0; i < n; i++) {
        const char *name = PQgetvalue(res, i, 0);
        int key = 0;
        for (char **k = t->key_columns; k && *k; k++) key |= strcmp(*k, name) == 0;
        char err[128];
        if (schema_column_from_pg(&out->columns[out->ncolumns], name,
                                  (uint32_t)strtoul(PQgetvalue(res, i, 1), NULL, 10),
                                  (int32_t)strtol(PQgetvalue(res, i, 2), NULL, 10), key, err,
                                  sizeof err) == 0)
            out->ncolumns++;
    }
    return 0;
}

/* The first mapped column the shape lacks, or NULL. */
static const char *missing_mapped(const struct table_info *t, const struct schema_table *shape)
{
    for (const char *const *m = t->mapped; *m; m++)
        if (!schema_table_find(shape, *m)) return *m;
    return NULL;
}

static void columns_read(struct pgconn *c, PGresult *res, void *arg)
{
    struct pg_reader *r = arg;
    if (!result_ok(r, c, res, "cannot read the columns of a mapped table")) return;
    struct table_info *t = &r->tables[r->setup_table];
    if (t->have_catalog) schema_table_release(&t->catalog);
    int rc = shape_from_catalog(t, res, &t->catalog);
    PQclear(res);
    if (rc != 0) {
        reader_fail(r, "out of memory");
        return;
    }
    t->have_catalog = 1;
    /* the mapping must find its columns; otherwise the table waits, parked */
    const char *missing = missing_mapped(t, &t->catalog);
    if (missing && !t->parked) {
        t->parked = 1;
        snprintf(t->parked_reason, sizeof t->parked_reason,
                 "the mapping reads column %.64s, which %.100s does not have; fix the mapping "
                 "or the table, then run `stockmesh snapshot %.64s %.100s`",
                 missing, t->label, r->src->name, t->label);
        park_save(r, t);
        log_error("cdc.pg", "%s: table %s parked: %s", r->src->name, t->label, t->parked_reason);
    }
    if (!t->have_schema && !t->parked) {
        t->schema = t->catalog;
        t->have_schema = 1;
        memset(&t->catalog, 0, sizeof t->catalog);
        t->have_catalog = 0;
        schema_save(r, t);
    }
    r->setup_table++;
    setup_tables(r);
}

static void keys_read(struct pgconn *c, PGresult *res, void *arg)
{
    struct pg_reader *r = arg;
    struct table_info *t = &r->tables[r->setup_table];
    char what[400];
    snprintf(what, sizeof what, "cannot read the key of %s", t->label);
    if (!result_ok(r, c, res, what)) return;
    int n = PQntuples(res);
    if (n == 0) {
        PQclear(res);
        reader_fail(r, "table %s does not exist in database %s (or the source's user %s cannot "
                       "see it)", t->label, PQdb(pgconn_pg(c)), r->user);
        return;
    }
    char ident = PQgetvalue(res, 0, 0)[0];
    int can_select = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    if (!can_select) {
        PQclear(res);
        reader_fail(r, "the source's user %s may not read %s: GRANT SELECT ON %s TO %s", r->user,
                    t->label, t->qualified, r->user);
        return;
    }
    if (ident == 'n') {
        PQclear(res);
        reader_fail(r, "table %s has REPLICA IDENTITY NOTHING, so its updates and deletes carry "
                       "no key: ALTER TABLE %s REPLICA IDENTITY DEFAULT (with a primary key)",
                    t->label, t->qualified);
        return;
    }
    if (PQgetisnull(res, 0, 2)) {
        PQclear(res);
        if (ident == 'i')
            reader_fail(r, "table %s: its replica identity index is gone; ALTER TABLE %s REPLICA "
                           "IDENTITY DEFAULT and add a primary key", t->label, t->qualified);
        else
            reader_fail(r, "table %s has no primary key, so change events have no key (and "
                           "publishing its updates would make them fail at the source): add "
                           "one, or ALTER TABLE %s REPLICA IDENTITY USING INDEX <a unique index "
                           "on NOT NULL columns>", t->label, t->qualified);
        return;
    }
    free_key_columns(t);
    t->key_columns = calloc((size_t)n + 1, sizeof *t->key_columns);
    for (int j = 0; j < n && t->key_columns; j++) t->key_columns[j] = strdup(PQgetvalue(res, j, 2));
    PQclear(res);
    if (!t->key_columns) {
        reader_fail(r, "out of memory");
        return;
    }
    /* an UPDATE moving stock, or a DELETE, must say where the stock was: the old image
       holds only the key unless the table sends whole rows */
    const char *where[] = {t->cfg->defines_crosswalk ? t->cfg->code_column
                           : t->cfg->sku_column     ? t->cfg->sku_column
                                                    : t->cfg->item_column,
                           t->cfg->location_column};
    for (size_t w = 0; ident != 'f' && w < sizeof where / sizeof where[0]; w++) {
        if (!where[w]) continue;
        int in_key = 0;
        for (int j = 0; t->key_columns[j]; j++) in_key |= strcmp(t->key_columns[j], where[w]) == 0;
        if (in_key) continue;
        reader_fail(r, "table %s: column \"%s\" is not part of its key, so its updates and "
                       "deletes would not say which %s the stock was at: ALTER TABLE %s REPLICA "
                       "IDENTITY FULL",
                    t->label, where[w], w ? "location" : "item", t->qualified);
        return;
    }
    const char *params[] = {t->qualified};
    if (pgconn_query(c,
                     "SELECT a.attname, a.atttypid::int8, a.atttypmod FROM pg_attribute a "
                     "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped "
                     "ORDER BY a.attnum",
                     1, params, columns_read, r) != 0)
        reader_fail(r, "the control connection is gone");
}

/* One table at a time: its key (replica identity), privileges, then its columns. */
static void setup_tables(struct pg_reader *r)
{
    if (r->setup_table >= r->ntables) {
        setup_publication(r);
        return;
    }
    struct table_info *t = &r->tables[r->setup_table];
    schema_load(r, t);
    const char *params[] = {t->qualified};
    if (pgconn_query(r->ctl,
                     "SELECT c.relreplident::text, has_table_privilege(c.oid, 'SELECT'), "
                     "a.attname FROM pg_class c LEFT JOIN pg_index i ON i.indrelid = c.oid AND "
                     "CASE WHEN c.relreplident = 'i' THEN i.indisreplident ELSE i.indisprimary "
                     "END LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY "
                     "(i.indkey) WHERE c.oid = to_regclass($1) ORDER BY "
                     "array_position(i.indkey::int2[], a.attnum)",
                     1, params, keys_read, r) != 0)
        reader_fail(r, "the control connection is gone");
}

static void wal_level_read(struct pgconn *c, PGresult *res, void *arg)
{
    struct pg_reader *r = arg;
    if (!result_ok(r, c, res, "cannot read wal_level")) return;
    char level[32];
    snprintf(level, sizeof level, "%s", PQntuples(res) ? PQgetvalue(res, 0, 0) : "?");
    snprintf(r->user, sizeof r->user, "%s", PQntuples(res) ? PQgetvalue(res, 0, 1) : "");
    long version = PQntuples(res) ? strtol(PQgetvalue(res, 0, 2), NULL, 10) : 0;
    char version_text[64];
    snprintf(version_text, sizeof version_text, "%s", PQntuples(res) ? PQgetvalue(res, 0, 3) : "?");
    PQclear(res);
    if (version < 140000) {
        /* pgoutput's logical messages (watermarks, heartbeats) arrived in 14 */
        reader_fail(r, "PostgreSQL %s is too old: stockmesh needs 14 or later", version_text);
        return;
    }
    if (strcmp(level, "logical") != 0) {
        reader_fail(r, "the server runs with wal_level=%s; set wal_level=logical in "
                       "postgresql.conf (ALTER SYSTEM SET wal_level = logical) and restart "
                       "PostgreSQL", level);
        return;
    }
    r->setup_table = 0;
    setup_tables(r);
}

static void snapshot_token_reply(void *arg, redisReply *reply)
{
    struct pg_reader *r = arg;
    if (r->state != PG_WAIT_REDIS) return;
    /* {snapshot marker, safe mark} */
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        reader_fail(r, "cannot read the snapshot marker from Redis");
        return;
    }
    const redisReply *marker = reply->element[0], *safe = reply->element[1];
    r->have_redis_token = marker->type == REDIS_REPLY_STRING;
    snprintf(r->redis_token, sizeof r->redis_token, "%s",
             r->have_redis_token ? marker->str : "");
    if (r->have_redis_token &&
        tracker_redis_behind(r->rt, r->src->name,
                             safe->type == REDIS_REPLY_STRING ? safe->str : NULL)) {
        log_warning("cdc.postgres", "%s: Redis holds less than PostgreSQL was told is safe "
                                    "(restored from an older state?): reading a new snapshot",
                    r->src->name);
        r->have_redis_token = 0;
        r->redis_token[0] = 0;
    }
    set_state(r, PG_SETUP);
    if (pgconn_query(r->ctl,
                     "SELECT current_setting('wal_level'), current_user, "
                     "current_setting('server_version_num')::int, current_setting('server_version')",
                     0, NULL, wal_level_read, r) != 0)
        reader_fail(r, "the control connection is gone");
}

static void both_connected(struct pg_reader *r)
{
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
    set_state(r, PG_WAIT_REDIS);
    char key[192];
    snprintf(key, sizeof key, "stockmesh:snapshot:%s", r->src->name);
    if (redis_sendf(r->redis, snapshot_token_reply, r, "MGET %s stockmesh:safe:%s", key,
                    r->src->name) != 0)
        reader_fail(r, "Redis is not reachable");
}

static void conn_state(struct pg_reader *r, struct pgconn *c, const char *err)
{
    int replication = c == r->repl;
    if (err) {
        char msg[1400];
        explain_connect_error(r, replication, err, msg, sizeof msg);
        if (r->state == PG_CONNECTING)
            reader_fail(r, "%s", msg);
        else
            reader_fail(r, "%s connection lost: %s", replication ? "replication" : "control", err);
        return;
    }
    if (replication)
        r->repl_ready = 1;
    else
        r->ctl_ready = 1;
    if (r->repl_ready && r->ctl_ready && r->state == PG_CONNECTING) both_connected(r);
}

static void repl_state(struct pgconn *c, const char *err, void *arg)
{
    conn_state(arg, c, err);
}

static void ctl_state(struct pgconn *c, const char *err, void *arg)
{
    conn_state(arg, c, err);
}

static void connect_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_reader *r = arg;
    set_state(r, PG_CONNECTING); /* from here on, failures go through reader_fail */
    r->wm_table = -1;
    r->repl = open_conn(r, 1, repl_state, r);
    if (!r->repl) return;
    r->ctl = open_conn(r, 0, ctl_state, r);
}

/* ---- periodic work ---- */

static void lag_read(struct pgconn *c, PGresult *res, void *arg)
{
    (void)c;
    struct pg_reader *r = arg;
    r->lag_query_in_flight = 0;
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0) {
        r->slot_lag = PQgetisnull(res, 0, 0) ? -1 : strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        r->retained = PQgetisnull(res, 0, 1) ? -1 : strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        metrics_set(r->m_slot_lag, (double)(r->slot_lag > 0 ? r->slot_lag : 0));
        metrics_set(r->m_retained, (double)(r->retained > 0 ? r->retained : 0));
    }
    PQclear(res);
}

static void heartbeat_sent(struct pgconn *c, PGresult *res, void *arg)
{
    struct pg_reader *r = arg;
    r->heartbeat_in_flight = 0;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        char why[600];
        pgconn_error_text(res, pgconn_pg(c), why, sizeof why);
        log_warning("cdc.pg", "%s: cannot write a heartbeat: %s", r->src->name, why);
    }
    PQclear(res);
}

static void heartbeat(struct pg_reader *r)
{
    int64_t now = now_ms();
    if (now - r->heartbeat_sent_ms < r->src->heartbeat_ms) return;
    r->heartbeat_sent_ms = now;
    if (!r->heartbeat_in_flight) {
        char sql[400], content[200];
        snprintf(content, sizeof content, "%s %" PRId64, r->src->name, now);
        char *lit = PQescapeLiteral(pgconn_pg(r->ctl), content, strlen(content));
        snprintf(sql, sizeof sql, "SELECT pg_logical_emit_message(false, '%s', %s)",
                 HEARTBEAT_PREFIX, lit ? lit : "''");
        PQfreemem(lit);
        if (pgconn_query(r->ctl, sql, 0, NULL, heartbeat_sent, r) == 0) r->heartbeat_in_flight = 1;
    }
    if (!r->lag_query_in_flight) {
        const char *params[] = {r->src->slot};
        if (pgconn_query(r->ctl,
                         "SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::int8, "
                         "(pg_current_wal_lsn() - restart_lsn)::int8 FROM pg_replication_slots "
                         "WHERE slot_name = $1",
                         1, params, lag_read, r) == 0)
            r->lag_query_in_flight = 1;
    }
}

static void unpark_checked(struct pgconn *c, PGresult *res, void *arg);

struct unpark {
    struct pg_reader *r;
    int table;
};

/* `stockmesh snapshot <source> <table>`: a request in the state database. */
static void poll_requests(struct pg_reader *r)
{
    for (size_t i = 0; i < r->ntables; i++) {
        struct table_info *t = &r->tables[i];
        char key[320], value[64];
        snprintf(key, sizeof key, "snapshot.request.%s", t->label);
        if (t->requested || store_get(r->rt->store, r->scope, key, value, sizeof value) != 0)
            continue;
        if (t->snap == TS_QUEUED || t->snap == TS_READING) {
            store_delete(r->rt->store, r->scope, key);
            log_info("cdc.pg", "%s: a snapshot of %s is already under way", r->src->name,
                     t->label);
            continue;
        }
        log_info("cdc.pg", "%s: snapshot of %s requested", r->src->name, t->label);
        /* the table's current columns decide whether a parked table may go on */
        struct unpark *u = malloc(sizeof *u);
        if (!u) continue;
        u->r = r;
        u->table = (int)i;
        const char *params[] = {t->qualified};
        /* shown as queued from now on: `stockmesh snapshot --wait` must not see the
           table streaming before the re-read is queued; the request itself stays until
           then, so a failure meanwhile leaves it for the next connection */
        t->requested = 1;
        if (pgconn_query(r->ctl,
                         "SELECT a.attname, a.atttypid::int8, a.atttypmod FROM pg_attribute a "
                         "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT "
                         "a.attisdropped ORDER BY a.attnum",
                         1, params, unpark_checked, u) != 0) {
            t->requested = 0;
            free(u);
        }
    }
}

static void unpark_checked(struct pgconn *c, PGresult *res, void *arg)
{
    struct unpark *u = arg;
    struct pg_reader *r = u->r;
    struct table_info *t = &r->tables[u->table];
    free(u);
    t->requested = 0;
    if (!result_ok(r, c, res, "cannot read the columns of a table to re-snapshot")) return;
    char key[320];
    snprintf(key, sizeof key, "snapshot.request.%s", t->label);
    store_delete(r->rt->store, r->scope, key);
    struct schema_table shape;
    int rc = shape_from_catalog(t, res, &shape);
    PQclear(res);
    const char *missing = rc == 0 ? missing_mapped(t, &shape) : "(out of memory)";
    if (missing) {
        log_error("cdc.pg", "%s: %s stays parked: the mapping reads column %s, which the table "
                            "does not have", r->src->name, t->label, missing);
        schema_table_release(&shape);
        return;
    }
    if (t->have_schema) schema_table_release(&t->schema);
    t->schema = shape;
    t->have_schema = 1;
    schema_save(r, t);
    if (t->parked) {
        t->parked = 0;
        t->parked_reason[0] = 0;
        park_save(r, t);
        log_info("cdc.pg", "%s: %s un-parked; re-reading it", r->src->name, t->label);
    }
    json_decref(t->after_key);
    t->after_key = NULL;
    t->rows_done = 0;
    t->rows_total = 0;
    t->kind = SK_REQUESTED;
    t->snap = TS_QUEUED;
    progress_save(r, t, SK_REQUESTED, NULL, 0, 0);
    write_status(r);
    wm_next(r);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_reader *r = arg;
    r->ticks++;
    int every_second = r->ticks % PG_STATUS_EVERY_TICKS == 0;
    /* connecting and setting up are a few round trips: one that hangs (a lost answer,
       a server that accepts and stalls) must not leave the source silent forever */
    if ((r->state == PG_CONNECTING || r->state == PG_WAIT_REDIS || r->state == PG_SETUP) &&
        now_ms() - r->state_since_ms > PG_SETUP_TIMEOUT_MS) {
        reader_fail(r, "no progress for %d s while %s", PG_SETUP_TIMEOUT_MS / 1000,
                    state_names[r->state]);
        return;
    }
    if (r->state == PG_STREAMING || r->state == PG_SNAPSHOT) {
        tracker_tick(r->tracker);
        update_lag(r);
        resume_reading(r);
        send_status(r, 0);
    }
    if (r->state == PG_STREAMING) {
        heartbeat(r);
        if (every_second) poll_requests(r);
    }
    if (every_second) write_status(r);
}

static void redis_state(void *arg, int ready)
{
    struct pg_reader *r = arg;
    if (!ready) tracker_redis_lost(r->tracker);
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
    r->slot_lag = r->retained = -1;
    r->wm_table = -1;
    /* watermark ids stay unique across restarts: a replayed message of an earlier run
       never matches a chunk of this one */
    r->wm_id = (uint64_t)event_now_us();
    r->state_since_ms = now_ms();
    snprintf(r->scope, sizeof r->scope, "source:%s", src->name);
    /* the user, for the fixes error messages name */
    PQconninfoOption *opts = PQconninfoParse(src->dsn, NULL);
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (o->val && strcmp(o->keyword, "user") == 0)
            snprintf(r->user, sizeof r->user, "%s", o->val);
        else if (o->val && strcmp(o->keyword, "dbname") == 0)
            snprintf(r->dbname, sizeof r->dbname, "%s", o->val);
    PQconninfoFree(opts);
    if (src->password_file &&
        redis_read_password(src->password_file, r->password, sizeof r->password, err, errlen) != 0)
        goto fail;
    r->ntables = src->ntables;
    r->tables = calloc(r->ntables ? r->ntables : 1, sizeof *r->tables);
    if (!r->tables) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    char labels[600];
    struct metrics *mx = rt->metrics;
    for (size_t i = 0; i < r->ntables; i++) {
        struct table_info *t = &r->tables[i];
        t->cfg = &src->tables[i];
        char suffix[400];
        snprintf(suffix, sizeof suffix, "%s.%s.%s", src->name, t->cfg->schema, t->cfg->name);
        kafka_topic(rt->kafka, t->topic, sizeof t->topic, suffix);
        /* identifiers come from validated config: [A-Za-z0-9_] or quoted here */
        snprintf(t->qualified, sizeof t->qualified, "\"%s\".\"%s\"", t->cfg->schema, t->cfg->name);
        snprintf(t->label, sizeof t->label, "%s.%s", t->cfg->schema, t->cfg->name);
        t->mapped[config_table_columns(t->cfg, t->mapped)] = NULL;
        if (kafka_topic_ensure(rt->kafka, t->topic, err, errlen) != 0) goto fail;
        snprintf(labels, sizeof labels, "source=\"%s\",table=\"%s\"", src->name, t->label);
        cdc_metrics_table_init(&t->m, mx, src->name, t->label);
    }
    kafka_topic(rt->kafka, r->schema_topic, sizeof r->schema_topic, "schema-changes");
    kafka_topic(rt->kafka, r->alert_topic, sizeof r->alert_topic, "alerts");
    if (kafka_topic_ensure(rt->kafka, r->schema_topic, err, errlen) != 0 ||
        kafka_topic_ensure(rt->kafka, r->alert_topic, err, errlen) != 0)
        goto fail;
    snprintf(labels, sizeof labels, "source=\"%s\"", src->name);
    r->m_truncates = metrics_counter(mx, "stockmesh_cdc_truncates_total",
                                     "TRUNCATEs of mapped tables seen.", labels);
    cdc_metrics_init(&r->m, mx, src->name);
    r->m_lag = metrics_gauge(mx, "stockmesh_cdc_unconfirmed_bytes",
                             "WAL bytes between the server's stream end and the confirmed "
                             "position.", labels);
    r->m_slot_lag = metrics_gauge(mx, "stockmesh_cdc_slot_lag_bytes",
                                  "The slot's confirmed position behind the server's WAL end.",
                                  labels);
    r->m_retained = metrics_gauge(mx, "stockmesh_cdc_slot_retained_bytes",
                                  "WAL the server keeps for the slot (from its restart_lsn).",
                                  labels);
    r->m_heartbeat = metrics_gauge(mx, "stockmesh_cdc_heartbeat_lag_seconds",
                                   "Heartbeat written to the source until read back from the "
                                   "stream.", labels);
    r->m_confirmed = metrics_gauge(mx, "stockmesh_cdc_confirmed_lsn",
                                   "Last position confirmed to the source.", labels);
    r->m_toast_missing = metrics_counter(mx, "stockmesh_cdc_toast_omitted_total",
                                         "Unchanged out-of-line values left out of update "
                                         "events (REPLICA IDENTITY FULL carries them).", labels);
    r->m_superseded = metrics_counter(mx, "stockmesh_cdc_snapshot_rows_superseded_total",
                                      "Rows of a watermark chunk left out because the stream "
                                      "changed them while the chunk was read.", labels);
    r->redis = redis_new(rt->base, rt->cfg, rt->metrics, "cdc", err, errlen);
    if (!r->redis) goto fail;
    const char **topics = calloc(r->ntables ? r->ntables : 1, sizeof *topics);
    for (size_t i = 0; topics && i < r->ntables; i++) topics[i] = r->tables[i].topic;
    r->tracker = topics ? tracker_new(rt, r->redis, src->name, topics, r->ntables,
                                      entry_confirmed, tracker_failed, r, err, errlen)
                        : NULL;
    if (!topics) snprintf(err, errlen, "out of memory");
    free(topics);
    if (!r->tracker) goto fail;
    redis_on_state(r->redis, redis_state, r);
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
    write_status(r);
    return r;
fail:
    pg_reader_free(r);
    return NULL;
}

void pg_reader_free(struct pg_reader *r)
{
    if (!r) return;
    if (r->m.state) {
        r->state = PG_DOWN;
        write_status(r);
    }
    close_connections(r);
    /* Redis first: freeing it answers the questions in flight (with no reply), and the
       tracker asked some of them; it must not hear of the disconnect once gone */
    if (r->redis) {
        redis_on_state(r->redis, NULL, NULL);
        redis_free(r->redis);
    }
    tracker_free(r->tracker, 2000);
    if (r->tick) event_free(r->tick);
    if (r->reconnect) event_free(r->reconnect);
    pgoutput_free(r->decoder);
    for (size_t i = 0; i < r->ntables && r->tables; i++) {
        struct table_info *t = &r->tables[i];
        free_key_columns(t);
        if (t->have_schema) schema_table_release(&t->schema);
        if (t->have_catalog) schema_table_release(&t->catalog);
        json_decref(t->after_key);
    }
    seen_clear(r);
    free(r->seen);
    free(r->tables);
    free(r);
}
