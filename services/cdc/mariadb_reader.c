/* mariadb_reader.c — see mariadb_reader.h.
 *
 * Two sides. The reader thread owns every MYSQL handle: it connects, checks the
 * server's binlog settings, reads the snapshot when one is needed, then streams the
 * binlog from a GTID; it decodes rows into JSON and queues them. The event loop
 * drains the queue into the tracker (which produces and confirms), keeps the source's
 * status, and decides at start whether the stream can go on from the confirmed GTID
 * or a snapshot is needed (Redis no longer holds this source's data). The queue is
 * bounded and the loop stops draining while the in-flight window is full, so a fast
 * source waits on its own socket rather than filling memory. */
#include "mariadb_reader.h"

#include "binlog.h"
#include "mysqltext.h"
#include "binlog_rows.h"
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

#include <mysql.h>
#include <mariadb_rpl.h>

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define MY_TICK_MS 50
#define MY_QUEUE_MAX 8192
#define MY_BACKOFF_MIN_MS 500
#define MY_BACKOFF_MAX_MS 30000
#define MY_DRAIN_BATCH 2000

enum my_state { MY_DOWN, MY_CONNECTING, MY_SNAPSHOT, MY_STREAMING };
static const char *const state_names[] = {"down", "connecting", "snapshot", "streaming"};
static const int state_metric[] = {0, 1, 2, 3};

enum item_kind {
    IT_SESSION,        /* a new session starts: forget what the last one left in flight */
    IT_STATE,          /* the thread's state changed (state) */
    IT_ERROR,          /* the session failed (text); the thread retries after a backoff */
    IT_SNAPSHOT_BEGIN, /* a snapshot starts; the stream will follow from text (a GTID list) */
    IT_TABLE_BEGIN,    /* a table's snapshot starts (rows: rows expected) */
    IT_ROW,            /* one change or snapshot row */
    IT_CHUNK_END,      /* a table's snapshot chunk ends (after_key, rows so far, last) */
    IT_SNAPSHOT_END,   /* the snapshot is read; streaming follows from text */
    IT_BEGIN,          /* a transaction starts (text: its GTID) */
    IT_COMMIT,         /* it commits (text: the GTID list after it) */
    IT_HEARTBEAT,
    IT_SHAPE,          /* a mapped table's shape as the binlog's table map shows it (text: JSON) */
};

struct item {
    struct item *next;
    enum item_kind kind;
    enum my_state state;
    int table;
    char op;
    json_t *before, *after, *key;
    uint64_t seq;
    uint32_t index;
    int64_t commit_us;
    char *text;
    json_t *after_key;
    int64_t rows;
    int last;
};

struct table_info {
    const struct config_table *cfg;
    char topic[512];
    char label[260];
    char **key_columns;           /* thread-owned, NULL-terminated */
    char **bytes_columns;         /* thread-owned: binary strings (base64 in events) */
    char **json_columns;          /* thread-owned: JSON columns (parsed in events) */
    char *last_shape;             /* thread-owned: the shape last reported, as JSON */
    const char *mapped[CONFIG_TABLE_COLUMNS_MAX + 1];
    int parked;                   /* loop side */
    char parked_reason[768];
    struct metric *m_rows;
    struct cdc_table_metrics m;
    /* the snapshot plan, written by the loop and copied by the thread under lock */
    int plan_done;                /* nothing (more) to read */
    json_t *plan_after;           /* resume after this key; NULL = from the start */
    int64_t plan_rows;
    int plan_taken;               /* a snapshot worker has it (thread side) */
    /* loop side */
    int snap_state;               /* 0 none, 1 queued, 2 reading, 3 read */
    int reread;                   /* the snapshot under way was requested */
    int64_t rows_done, rows_total;
    uint64_t chunk_entry;
};

struct mariadb_reader {
    struct runtime *rt;
    const struct config_source *src;
    char scope[128];
    char password[256];
    char host[256], user[128], database[128];
    unsigned port;
    uint32_t server_id;

    struct table_info *tables;
    size_t ntables;

    /* shared between the thread and the loop, under lock */
    pthread_mutex_t lock;
    pthread_cond_t space;
    struct item *head, *tail;
    size_t queued;
    int stopping;
    int restart;                  /* the loop asks the thread to read again from the confirmed GTID */
    int stream_fd;                /* the binlog connection's socket while streaming, else -1 */
    int thread_started;
    int snapshot_needed;          /* the thread reads a snapshot before streaming */
    int reread_pending;           /* tables to re-read while streaming (`stockmesh snapshot`) */
    char start_gtid[1024];        /* where the stream resumes (confirmed) */
    char snapshot_start[1024];    /* a resumed snapshot streams from here; "" = take it now */
    pthread_t thread;
    int wake[2];                  /* thread -> loop: the queue has items */

    /* loop side */
    enum my_state state;
    int64_t state_since_ms;
    struct event *wake_ev, *tick, *start;
    struct redis *redis;
    struct tracker *tracker;
    char schema_topic[256], alert_topic[256];
    uint64_t current_id;
    char current_gtid[64];
    char snapshot_token[64];
    int draining_paused;
    uint64_t reconnects;
    char last_error[1024];
    int64_t last_error_ms, last_heartbeat_ms;
    char confirmed_gtid[1024];
    uint64_t ticks;
    struct cdc_metrics m;
    struct metric *m_heartbeats;
};

static int64_t now_ms(void)
{
    return event_now_us() / 1000;
}

/* ---- the queue ---- */

static void item_free(struct item *it)
{
    if (!it) return;
    json_decref(it->before);
    json_decref(it->after);
    json_decref(it->key);
    json_decref(it->after_key);
    free(it->text);
    free(it);
}

/* Thread side: appends it, waiting while the queue is full. 0, or -1 when stopping. */
static int post(struct mariadb_reader *r, struct item *it)
{
    pthread_mutex_lock(&r->lock);
    while (r->queued >= MY_QUEUE_MAX && !r->stopping) pthread_cond_wait(&r->space, &r->lock);
    if (r->stopping) {
        pthread_mutex_unlock(&r->lock);
        item_free(it);
        return -1;
    }
    int was_empty = !r->head;
    if (r->tail)
        r->tail->next = it;
    else
        r->head = it;
    r->tail = it;
    r->queued++;
    pthread_mutex_unlock(&r->lock);
    if (was_empty) {
        char c = 1;
        if (write(r->wake[1], &c, 1) < 0 && errno != EAGAIN) { /* the loop polls anyway */
        }
    }
    return 0;
}

static struct item *item_new(enum item_kind kind, const char *text)
{
    struct item *it = calloc(1, sizeof *it);
    if (it && text && !(it->text = strdup(text))) {
        free(it);
        return NULL;
    }
    if (it) it->kind = kind;
    return it;
}

static int post_simple(struct mariadb_reader *r, enum item_kind kind, const char *text)
{
    struct item *it = item_new(kind, text);
    return it ? post(r, it) : -1;
}

static int post_state(struct mariadb_reader *r, enum my_state s)
{
    struct item *it = item_new(IT_STATE, NULL);
    if (!it) return -1;
    it->state = s;
    return post(r, it);
}

static int stopping(struct mariadb_reader *r)
{
    pthread_mutex_lock(&r->lock);
    int s = r->stopping;
    pthread_mutex_unlock(&r->lock);
    return s;
}

/* The session must end: stopping, or the loop wants what is in flight read again. */
static int session_over(struct mariadb_reader *r)
{
    pthread_mutex_lock(&r->lock);
    int s = r->stopping || r->restart;
    pthread_mutex_unlock(&r->lock);
    return s;
}

/* ---- the thread: one session after another ---- */

/* Appends the fix to the errors an operator meets when setting a source up. */
static void explain(const struct mariadb_reader *r, unsigned code, const char *msg, char *out,
                    size_t outlen)
{
    const char *hint = "";
    char buf[400];
    if (code == 1045) {
        hint = " (check the source's user and password_file)";
    } else if (code == 1227 || code == 1044 || strstr(msg, "REPLICATION SLAVE") ||
               strstr(msg, "BINLOG MONITOR")) {
        snprintf(buf, sizeof buf,
                 " (grant it: GRANT SELECT, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO '%s'@'%%')",
                 r->user);
        hint = buf;
    } else if (code == 2002 || code == 2003 || code == 2013) {
        hint = " (is MariaDB running and listening at the dsn's host and port?)";
    } else if (code == 1236) {
        hint = " (the binlog holding the confirmed GTID is gone — purged or a new server; "
               "Redis is re-filled by a new snapshot: delete the source's state with "
               "`stockmesh snapshot` or let it be taken automatically)";
    }
    snprintf(out, outlen, "%s%s", msg, hint);
}

static int fail_query(struct mariadb_reader *r, MYSQL *m, const char *what, char *err, size_t errlen)
{
    char msg[700];
    snprintf(msg, sizeof msg, "%s: %s", what, mysql_error(m));
    explain(r, mysql_errno(m), msg, err, errlen);
    return -1;
}

static MYSQL *connect_db(struct mariadb_reader *r, char *err, size_t errlen)
{
    MYSQL *m = mysql_init(NULL);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    unsigned timeout = 10;
    mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (!mysql_real_connect(m, r->host, r->user, r->password[0] ? r->password : NULL,
                            r->database, r->port, NULL, 0)) {
        char msg[700];
        snprintf(msg, sizeof msg, "cannot connect: %s", mysql_error(m));
        explain(r, mysql_errno(m), msg, err, errlen);
        mysql_close(m);
        return NULL;
    }
    return m;
}

static int run(struct mariadb_reader *r, MYSQL *m, const char *sql, char *err, size_t errlen)
{
    if (mysql_real_query(m, sql, strlen(sql)) != 0) return fail_query(r, m, sql, err, errlen);
    MYSQL_RES *res = mysql_store_result(m);
    mysql_free_result(res);
    return 0;
}

/* The server must write what a change reader needs into its binlog. */
static int check_server(struct mariadb_reader *r, MYSQL *m, char *err, size_t errlen)
{
    const char *sql = "SELECT @@log_bin, @@binlog_format, @@binlog_row_image, "
                      "@@binlog_row_metadata, @@version, @@log_bin_compress";
    if (mysql_real_query(m, sql, strlen(sql)) != 0)
        return fail_query(r, m, "cannot read the binlog settings", err, errlen);
    MYSQL_RES *res = mysql_store_result(m);
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    if (!row) {
        mysql_free_result(res);
        return fail_query(r, m, "cannot read the binlog settings", err, errlen);
    }
    int rc = 0;
    if (!row[0] || strcmp(row[0], "1") != 0) {
        snprintf(err, errlen, "the server writes no binlog: start it with log_bin (and a "
                              "server_id) in its configuration");
        rc = -1;
    } else if (!row[1] || strcasecmp(row[1], "ROW") != 0) {
        snprintf(err, errlen, "the server runs with binlog_format=%s; set binlog_format=ROW",
                 row[1] ? row[1] : "?");
        rc = -1;
    } else if (!row[2] || strcasecmp(row[2], "FULL") != 0) {
        snprintf(err, errlen, "the server runs with binlog_row_image=%s; set "
                              "binlog_row_image=FULL", row[2] ? row[2] : "?");
        rc = -1;
    } else if (row[5] && strcmp(row[5], "0") != 0) {
        snprintf(err, errlen, "the server compresses its binlog (log_bin_compress=ON), which "
                              "stockmesh does not read yet; set log_bin_compress=OFF");
        rc = -1;
    } else if (!row[3] || strcasecmp(row[3], "FULL") != 0) {
        snprintf(err, errlen, "the server runs with binlog_row_metadata=%s; set "
                              "binlog_row_metadata=FULL (column names travel in the binlog "
                              "then)", row[3] ? row[3] : "?");
        rc = -1;
    }
    mysql_free_result(res);
    if (rc != 0) return rc;
    /* the binlog dump needs REPLICATION SLAVE: say so now, not after a whole snapshot */
    sql = "SHOW GRANTS FOR CURRENT_USER()";
    if (mysql_real_query(m, sql, strlen(sql)) != 0)
        return fail_query(r, m, "cannot read the source user's grants", err, errlen);
    res = mysql_store_result(m);
    int can_replicate = 0;
    while (res && (row = mysql_fetch_row(res)))
        can_replicate |= row[0] && (strstr(row[0], "REPLICATION SLAVE") ||
                                    strstr(row[0], "REPLICATION REPLICA") ||
                                    strstr(row[0], "ALL PRIVILEGES"));
    mysql_free_result(res);
    if (!can_replicate) {
        snprintf(err, errlen, "the source's user %s may not read the binlog (grant it: GRANT "
                              "SELECT, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO '%s'@'%%')",
                 r->user, r->user);
        return -1;
    }
    return 0;
}

static void free_list(char ***list)
{
    if (!*list) return;
    for (char **k = *list; *k; k++) free(*k);
    free(*list);
    *list = NULL;
}

static void free_keys(struct table_info *t)
{
    free_list(&t->key_columns);
    free_list(&t->bytes_columns);
    free_list(&t->json_columns);
}

static int list_has(char *const *list, const char *name)
{
    for (char *const *k = list; k && *k; k++)
        if (strcmp(*k, name) == 0) return 1;
    return 0;
}

/* The first column of every row of sql, as a NULL-terminated list; -1 on error. */
static int query_list(struct mariadb_reader *r, MYSQL *m, const char *sql, char ***out, char *err,
                      size_t errlen)
{
    if (mysql_real_query(m, sql, strlen(sql)) != 0)
        return fail_query(r, m, "cannot read a mapped table's definition", err, errlen);
    MYSQL_RES *res = mysql_store_result(m);
    my_ulonglong n = res ? mysql_num_rows(res) : 0;
    *out = calloc((size_t)n + 1, sizeof **out);
    MYSQL_ROW row;
    size_t k = 0;
    while (*out && res && (row = mysql_fetch_row(res)))
        if (row[0]) (*out)[k++] = strdup(row[0]);
    mysql_free_result(res);
    if (!*out) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return (int)k;
}

static int load_keys(struct mariadb_reader *r, MYSQL *m, char *err, size_t errlen)
{
    for (size_t i = 0; i < r->ntables; i++) {
        struct table_info *t = &r->tables[i];
        char schema[200], name[200], sql[800];
        mysql_real_escape_string(m, schema, t->cfg->schema, strlen(t->cfg->schema));
        mysql_real_escape_string(m, name, t->cfg->name, strlen(t->cfg->name));
        snprintf(sql, sizeof sql,
                 "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE "
                 "TABLE_SCHEMA = '%s' AND TABLE_NAME = '%s' AND CONSTRAINT_NAME = 'PRIMARY' "
                 "ORDER BY ORDINAL_POSITION",
                 schema, name);
        free_keys(t);
        int n = query_list(r, m, sql, &t->key_columns, err, errlen);
        if (n < 0) return -1;
        if (n == 0) {
            snprintf(err, errlen, "table %s has no primary key (or does not exist, or the "
                                  "source's user cannot see it); stockmesh keys change events "
                                  "by it: add one", t->label);
            return -1;
        }
        /* the binlog cannot tell these from text: the table's definition can */
        snprintf(sql, sizeof sql,
                 "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '%s' "
                 "AND TABLE_NAME = '%s' AND DATA_TYPE IN ('binary', 'varbinary', 'tinyblob', "
                 "'blob', 'mediumblob', 'longblob')",
                 schema, name);
        if (query_list(r, m, sql, &t->bytes_columns, err, errlen) < 0) return -1;
        snprintf(sql, sizeof sql,
                 "SELECT CONSTRAINT_NAME FROM information_schema.CHECK_CONSTRAINTS WHERE "
                 "CONSTRAINT_SCHEMA = '%s' AND TABLE_NAME = '%s' AND CHECK_CLAUSE LIKE "
                 "'json_valid(%%'",
                 schema, name);
        if (query_list(r, m, sql, &t->json_columns, err, errlen) < 0) return -1;
    }
    return 0;
}

/* The seq of the first domain of a GTID list ("0-1-42,1-2-7" -> 42): the position of
 * snapshot rows (one GTID domain per source; see the README). */
static uint64_t gtid_seq(const char *list)
{
    struct binlog_gtid_pos pos;
    char err[128];
    if (binlog_gtid_pos_parse(&pos, list, err, sizeof err) != 0) return 0;
    uint64_t seq = pos.n ? pos.gtids[0].seq : 0;
    binlog_gtid_pos_release(&pos);
    return seq;
}

/* ---- snapshot rows (text protocol) mapped as binlog.c maps binlog rows ---- */

static json_t *text_row_to_json(const struct table_info *t, const MYSQL_FIELD *fields,
                                unsigned nfields, MYSQL_ROW row, const unsigned long *lengths,
                                char *err, size_t errlen)
{
    json_t *o = json_object();
    for (unsigned i = 0; o && i < nfields; i++) {
        json_t *v = row[i] && list_has(t->json_columns, fields[i].name)
                        ? json_loadb(row[i], lengths[i], JSON_DECODE_ANY, NULL)
                        : mysqltext_value(&fields[i], row[i], lengths[i]);
        if (!v) {
            snprintf(err, errlen, "column %s: value does not map (invalid UTF-8 or JSON, or out "
                                  "of range)", fields[i].name);
            json_decref(o);
            return NULL;
        }
        json_object_set_new(o, fields[i].name, v);
    }
    return o;
}

/* Reads the rest of one table's rows, chunk by chunk, inside m's consistent snapshot. */
static int snapshot_table(struct mariadb_reader *r, MYSQL *m, int table, json_t *after_key,
                          int64_t rows, uint64_t seq, int64_t read_us, char *err, size_t errlen)
{
    struct table_info *t = &r->tables[table];
    char sql[2400];
    char keys[600] = "", cond[1300] = "";
    for (char **k = t->key_columns; *k; k++)
        snprintf(keys + strlen(keys), sizeof keys - strlen(keys), "%s`%s`",
                 k == t->key_columns ? "" : ", ", *k);
    for (;;) {
        if (session_over(r)) {
            json_decref(after_key);
            snprintf(err, errlen, "stopping");
            return -1;
        }
        cond[0] = 0;
        if (after_key) {
            char vals[600] = "";
            size_t i;
            json_t *v;
            json_array_foreach(after_key, i, v) {
                const char *s = json_string_value(v);
                char esc[260];
                size_t len = s ? strlen(s) : 0;
                mysql_real_escape_string(m, esc, s ? s : "", len > 120 ? 120 : len);
                snprintf(vals + strlen(vals), sizeof vals - strlen(vals), "%s'%s'", i ? ", " : "",
                         esc);
            }
            snprintf(cond, sizeof cond, " WHERE (%s) > (%s)", keys, vals);
        }
        snprintf(sql, sizeof sql, "SELECT * FROM `%s`.`%s`%s ORDER BY %s LIMIT %d",
                 t->cfg->schema, t->cfg->name, cond, keys, r->src->snapshot_chunk_rows);
        if (mysql_real_query(m, sql, strlen(sql)) != 0) {
            json_decref(after_key);
            return fail_query(r, m, "snapshot query failed", err, errlen);
        }
        MYSQL_RES *res = mysql_store_result(m);
        if (!res) {
            json_decref(after_key);
            return fail_query(r, m, "snapshot query failed", err, errlen);
        }
        unsigned nfields = mysql_num_fields(res);
        MYSQL_FIELD *fields = mysql_fetch_fields(res);
        MYSQL_ROW row;
        int nrows = 0;
        uint32_t index = 0;
        while ((row = mysql_fetch_row(res))) {
            unsigned long *lengths = mysql_fetch_lengths(res);
            char why[300];
            json_t *after = text_row_to_json(t, fields, nfields, row, lengths, why, sizeof why);
            json_t *key = after ? json_object() : NULL;
            json_t *last = json_array();
            for (char **k = t->key_columns; after && *k; k++) {
                json_object_set(key, *k, json_object_get(after, *k));
                for (unsigned f = 0; f < nfields; f++)
                    if (strcmp(fields[f].name, *k) == 0)
                        json_array_append_new(last, json_stringn(row[f] ? row[f] : "",
                                                                 row[f] ? lengths[f] : 0));
            }
            struct item *it = after ? item_new(IT_ROW, NULL) : NULL;
            if (!it) {
                json_decref(after);
                json_decref(key);
                json_decref(last);
                mysql_free_result(res);
                json_decref(after_key);
                snprintf(err, errlen, "cannot read a snapshot row of %s: %s", t->label,
                         after ? "out of memory" : why);
                return -1;
            }
            json_decref(after_key);
            after_key = last;
            it->table = table;
            it->op = 'r';
            it->after = after;
            it->key = key;
            it->seq = seq;
            it->index = index++;
            it->commit_us = read_us;
            if (post(r, it) != 0) {
                mysql_free_result(res);
                json_decref(after_key);
                snprintf(err, errlen, "stopping");
                return -1;
            }
            nrows++;
        }
        mysql_free_result(res);
        rows += nrows;
        struct item *end = item_new(IT_CHUNK_END, NULL);
        if (!end) {
            json_decref(after_key);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        end->table = table;
        end->after_key = after_key ? json_incref(after_key) : NULL;
        end->rows = rows;
        end->last = nrows < r->src->snapshot_chunk_rows;
        int last = end->last;
        if (post(r, end) != 0) {
            json_decref(after_key);
            return -1;
        }
        if (last) break;
    }
    json_decref(after_key);
    return 0;
}

/* Takes a consistent snapshot on m (no global lock) and the GTID it corresponds to
 * (binlog_snapshot_file/position through BINLOG_GTID_POS). */
static int consistent_snapshot(struct mariadb_reader *r, MYSQL *m, char *gtid, size_t gtidlen,
                               char *err, size_t errlen)
{
    if (run(r, m, "SET SESSION time_zone = '+00:00'", err, errlen) != 0 ||
        run(r, m, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", err, errlen) != 0 ||
        run(r, m, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY", err, errlen) != 0)
        return -1;
    const char *sql = "SHOW STATUS LIKE 'binlog_snapshot_%'";
    if (mysql_real_query(m, sql, strlen(sql)) != 0)
        return fail_query(r, m, "cannot read the snapshot's binlog position", err, errlen);
    MYSQL_RES *res = mysql_store_result(m);
    char file[256] = "", pos[32] = "";
    MYSQL_ROW row;
    while (res && (row = mysql_fetch_row(res))) {
        if (strcmp(row[0], "Binlog_snapshot_file") == 0) snprintf(file, sizeof file, "%s", row[1]);
        if (strcmp(row[0], "Binlog_snapshot_position") == 0) snprintf(pos, sizeof pos, "%s", row[1]);
    }
    mysql_free_result(res);
    if (!file[0] || !pos[0]) {
        snprintf(err, errlen, "the server reports no binlog snapshot position");
        return -1;
    }
    char esc[520], q[700];
    mysql_real_escape_string(m, esc, file, strlen(file));
    snprintf(q, sizeof q, "SELECT BINLOG_GTID_POS('%s', %s)", esc, pos);
    if (mysql_real_query(m, q, strlen(q)) != 0)
        return fail_query(r, m, "cannot translate the snapshot position to a GTID", err, errlen);
    res = mysql_store_result(m);
    row = res ? mysql_fetch_row(res) : NULL;
    snprintf(gtid, gtidlen, "%s", row && row[0] ? row[0] : "");
    mysql_free_result(res);
    return 0;
}

/* Rows to expect: exact for small tables, the storage engine's estimate for big ones. */
static int64_t expected_rows(MYSQL *m, const struct table_info *t)
{
    char sql[700];
    snprintf(sql, sizeof sql,
             "SELECT IF(TABLE_ROWS >= 200000, TABLE_ROWS, (SELECT COUNT(*) FROM `%s`.`%s`)) "
             "FROM information_schema.TABLES WHERE TABLE_SCHEMA = '%s' AND TABLE_NAME = '%s'",
             t->cfg->schema, t->cfg->name, t->cfg->schema, t->cfg->name);
    if (mysql_real_query(m, sql, strlen(sql)) != 0) return 0;
    MYSQL_RES *res = mysql_store_result(m);
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    int64_t n = row && row[0] ? strtoll(row[0], NULL, 10) : 0;
    mysql_free_result(res);
    return n;
}

struct worker {
    struct mariadb_reader *r;
    pthread_t thread;
    char err[1024];
    int failed;
};

/* One snapshot connection: takes the next table nobody reads yet, reads it inside a
 * consistent snapshot of its own, and so on. Each table's rows carry the position of
 * its own snapshot, so tables read at different moments still merge in order: a change
 * older than a table's snapshot is older than its rows. */
static void *snapshot_worker(void *arg)
{
    struct worker *w = arg;
    struct mariadb_reader *r = w->r;
    mysql_thread_init();
    MYSQL *m = NULL;
    for (;;) {
        int table = -1;
        json_t *after = NULL;
        int64_t rows = 0;
        pthread_mutex_lock(&r->lock);
        for (size_t i = 0; i < r->ntables && table < 0; i++)
            if (!r->tables[i].plan_done && !r->tables[i].plan_taken) {
                table = (int)i;
                r->tables[i].plan_taken = 1;
                after = r->tables[i].plan_after ? json_deep_copy(r->tables[i].plan_after) : NULL;
                rows = r->tables[i].plan_rows;
            }
        pthread_mutex_unlock(&r->lock);
        if (table < 0) break;
        if (m) mysql_close(m); /* a new consistent snapshot for every table */
        m = connect_db(r, w->err, sizeof w->err);
        char gtid[1024];
        if (!m || consistent_snapshot(r, m, gtid, sizeof gtid, w->err, sizeof w->err) != 0) {
            json_decref(after);
            w->failed = 1;
            break;
        }
        struct item *it = item_new(IT_TABLE_BEGIN, gtid);
        if (it) {
            it->table = table;
            it->rows = expected_rows(m, &r->tables[table]);
        }
        if (!it || post(r, it) != 0 ||
            snapshot_table(r, m, table, after, rows, gtid_seq(gtid), event_now_us(), w->err,
                           sizeof w->err) != 0) {
            w->failed = 1;
            break;
        }
        run(r, m, "COMMIT", w->err, sizeof w->err);
    }
    if (w->failed) { /* the other workers stop too: the session starts over */
        pthread_mutex_lock(&r->lock);
        r->restart = 1;
        pthread_mutex_unlock(&r->lock);
    }
    if (m) mysql_close(m);
    mysql_thread_end();
    return NULL;
}

/* The snapshot: the stream will start from a GTID taken before any table's snapshot
 * (or the one an interrupted snapshot started from), then snapshot_parallel workers
 * read the tables not read yet. */
static int snapshot(struct mariadb_reader *r, MYSQL *m, char *gtid, size_t gtidlen, char *err,
                    size_t errlen)
{
    post_state(r, MY_SNAPSHOT);
    pthread_mutex_lock(&r->lock);
    snprintf(gtid, gtidlen, "%s", r->snapshot_start);
    int resumed = r->snapshot_start[0] != 0;
    size_t todo = 0;
    for (size_t i = 0; i < r->ntables; i++) {
        r->tables[i].plan_taken = 0;
        todo += !r->tables[i].plan_done;
    }
    pthread_mutex_unlock(&r->lock);
    if (!resumed) {
        const char *sql = "SELECT @@gtid_binlog_pos";
        if (mysql_real_query(m, sql, strlen(sql)) != 0)
            return fail_query(r, m, "cannot read the binlog's GTID position", err, errlen);
        MYSQL_RES *res = mysql_store_result(m);
        MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
        snprintf(gtid, gtidlen, "%s", row && row[0] ? row[0] : "");
        mysql_free_result(res);
    }
    if (post_simple(r, IT_SNAPSHOT_BEGIN, gtid) != 0) return -1;
    size_t n = (size_t)r->src->snapshot_parallel;
    if (n > todo) n = todo;
    struct worker workers[16];
    memset(workers, 0, sizeof workers);
    size_t started = 0;
    for (size_t i = 0; i < n && i < 16; i++) {
        workers[i].r = r;
        if (pthread_create(&workers[i].thread, NULL, snapshot_worker, &workers[i]) != 0) break;
        started++;
    }
    int failed = started < n;
    for (size_t i = 0; i < started; i++) {
        pthread_join(workers[i].thread, NULL);
        if (workers[i].failed && !failed) {
            failed = 1;
            snprintf(err, errlen, "%s", workers[i].err);
        }
    }
    if (failed) {
        if (!err[0]) snprintf(err, errlen, "cannot start a snapshot worker");
        return -1;
    }
    return post_simple(r, IT_SNAPSHOT_END, gtid);
}

/* ---- streaming ---- */

struct table_map {
    uint64_t table_id;
    int table;                    /* ours, or -1 */
    MARIADB_RPL_EVENT *event;     /* kept while rows of it are extracted */
    struct binlog_table decoder;
    int have_decoder;
};

struct stream {
    struct table_map *maps;
    size_t nmaps, cap;
    char gtid[64];                /* the current transaction's */
    uint64_t seq;
    uint32_t index;
    int64_t commit_us;
    struct binlog_gtid_pos state;
};

static void stream_release(struct stream *s)
{
    for (size_t i = 0; i < s->nmaps; i++) {
        mariadb_free_rpl_event(s->maps[i].event);
        if (s->maps[i].have_decoder) binlog_table_release(&s->maps[i].decoder);
    }
    free(s->maps);
    binlog_gtid_pos_release(&s->state);
}

static int table_for(struct mariadb_reader *r, const char *schema, size_t schema_len, const char *name,
                     size_t name_len)
{
    for (size_t i = 0; i < r->ntables; i++)
        if (strlen(r->tables[i].cfg->schema) == schema_len &&
            strncmp(r->tables[i].cfg->schema, schema, schema_len) == 0 &&
            strlen(r->tables[i].cfg->name) == name_len &&
            strncmp(r->tables[i].cfg->name, name, name_len) == 0)
            return (int)i;
    return -1;
}

static int remember_map(struct mariadb_reader *r, struct stream *s, MARIADB_RPL_EVENT *ev, char *err,
                        size_t errlen)
{
    const struct st_mariadb_rpl_table_map_event *tm = &ev->event.table_map;
    struct table_map *slot = NULL;
    for (size_t i = 0; i < s->nmaps; i++)
        if (s->maps[i].table_id == tm->table_id) slot = &s->maps[i];
    if (!slot) {
        if (s->nmaps == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 16;
            struct table_map *m = realloc(s->maps, cap * sizeof *m);
            if (!m) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            s->maps = m;
            s->cap = cap;
        }
        slot = &s->maps[s->nmaps++];
        memset(slot, 0, sizeof *slot);
    } else {
        mariadb_free_rpl_event(slot->event);
        if (slot->have_decoder) binlog_table_release(&slot->decoder);
        slot->have_decoder = 0;
    }
    slot->table_id = tm->table_id;
    slot->event = ev;
    slot->table = table_for(r, tm->database.str, tm->database.length, tm->table.str,
                            tm->table.length);
    if (slot->table >= 0) {
        if (binlog_table_init(&slot->decoder, tm, err, errlen) != 0) return -1;
        slot->have_decoder = 1;
        struct table_info *tab = &r->tables[slot->table];
        char kind_err[256];
        for (char **c = tab->bytes_columns; c && *c; c++)
            binlog_table_set_kind(&slot->decoder, *c, BINLOG_KIND_BYTES, kind_err,
                                  sizeof kind_err);
        for (char **c = tab->json_columns; c && *c; c++)
            binlog_table_set_kind(&slot->decoder, *c, BINLOG_KIND_JSON, kind_err,
                                  sizeof kind_err);
        /* every table map carries the table's shape (binlog_row_metadata=FULL): a change
           is seen at the first row after it, and a restart depends on no DDL history */
        struct table_info *t = &r->tables[slot->table];
        struct schema_table shape;
        char why[256];
        if (binlog_table_schema(&slot->decoder, (const char *const *)t->key_columns, &shape, why,
                                sizeof why) == 0) {
            json_t *doc = schema_table_to_json(&shape);
            char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
            json_decref(doc);
            schema_table_release(&shape);
            if (text && (!t->last_shape || strcmp(text, t->last_shape) != 0)) {
                struct item *it = item_new(IT_SHAPE, text);
                if (it) {
                    it->table = slot->table;
                    if (post(r, it) != 0) {
                        free(text);
                        return -1;
                    }
                }
                free(t->last_shape);
                t->last_shape = text;
            } else {
                free(text);
            }
        }
    }
    return 0;
}

static int post_row(struct mariadb_reader *r, struct stream *s, int table, char op, json_t *before,
                    json_t *after, json_t *key)
{
    struct item *it = item_new(IT_ROW, s->gtid);
    if (!it) {
        json_decref(before);
        json_decref(after);
        json_decref(key);
        return -1;
    }
    it->table = table;
    it->op = op;
    it->before = before;
    it->after = after;
    it->key = key;
    it->seq = s->seq;
    it->index = ++s->index;
    it->commit_us = s->commit_us;
    return post(r, it);
}

/* Decodes a rows event ourselves (binlog_rows.c): Connector/C 3.3's
 * mariadb_rpl_extract_rows() fails on CHAR, ENUM and SET values, on tables of integers
 * and dates only and on some DECIMALs, and reports no row count to notice it by. */
static int handle_rows(struct mariadb_reader *r, struct stream *s, MARIADB_RPL_EVENT *ev,
                       char *err, size_t errlen)
{
    struct table_map *map = NULL;
    for (size_t i = 0; i < s->nmaps; i++)
        if (s->maps[i].table_id == ev->event.rows.table_id) map = &s->maps[i];
    if (!map || map->table < 0) return 0; /* not a mapped table */
    const char *label = r->tables[map->table].label;
    struct binlog_rows decoded;
    char why[300];
    if (binlog_rows_init(&decoded, &map->decoder, &ev->event.rows, why, sizeof why) != 0) {
        snprintf(err, errlen, "cannot decode rows of %s: %s", label, why);
        return -1;
    }
    if (decoded.nabsent) {
        /* a session wrote partial rows: stopping is loud, a row with holes would be silent */
        snprintf(err, errlen, "rows of %s lack %u columns: a session wrote them with "
                              "binlog_row_image=MINIMAL or NOBLOB; stockmesh needs FULL",
                 label, decoded.nabsent);
        binlog_rows_release(&decoded);
        return -1;
    }
    enum mariadb_row_event_type type = ev->event.rows.type;
    const char *const *keys = (const char *const *)r->tables[map->table].key_columns;
    int rc = 0;
    for (MARIADB_RPL_ROW *row = decoded.first; row && rc == 0; row = row->next) {
        json_t *before = NULL, *after = NULL;
        MARIADB_RPL_ROW *image = row;
        if (type == UPDATE_ROWS) {
            before = binlog_row_to_json(&map->decoder, row, why, sizeof why);
            image = row = row->next; /* the after image follows the before image */
            if (!row || !before) {
                json_decref(before);
                snprintf(err, errlen, "cannot decode an update of %s: %s", label,
                         before ? "no after image" : why);
                rc = -1;
                break;
            }
        }
        json_t *values = binlog_row_to_json(&map->decoder, image, why, sizeof why);
        json_t *key = values ? binlog_row_key_json(&map->decoder, image, keys, why, sizeof why)
                             : NULL;
        if (!values || !key) {
            json_decref(before);
            json_decref(values);
            snprintf(err, errlen, "cannot decode a row of %s: %s", label, why);
            rc = -1;
            break;
        }
        if (type == DELETE_ROWS)
            before = values;
        else
            after = values;
        char op = type == WRITE_ROWS ? 'c' : type == UPDATE_ROWS ? 'u' : 'd';
        rc = post_row(r, s, map->table, op, before, after, key);
    }
    binlog_rows_release(&decoded);
    return rc;
}

static int stream(struct mariadb_reader *r, MYSQL *m, const char *start_gtid, char *err,
                  size_t errlen)
{
    char sql[1400], esc[1100];
    unsigned long long heartbeat_ns = (unsigned long long)r->src->heartbeat_ms * 1000000ULL;
    mysql_real_escape_string(m, esc, start_gtid, strlen(start_gtid));
    /* Connector/C 3.3's GTID options do not work: the server is asked the way a MariaDB
       replica asks it */
    if (run(r, m, "SET @master_binlog_checksum = @@global.binlog_checksum", err, errlen) != 0 ||
        run(r, m, "SET @mariadb_slave_capability = 4", err, errlen) != 0)
        return -1;
    snprintf(sql, sizeof sql, "SET @slave_connect_state = '%s'", esc);
    if (run(r, m, sql, err, errlen) != 0 ||
        run(r, m, "SET @slave_gtid_strict_mode = 1", err, errlen) != 0)
        return -1;
    snprintf(sql, sizeof sql, "SET @master_heartbeat_period = %llu", heartbeat_ns);
    if (run(r, m, sql, err, errlen) != 0) return -1;
    MARIADB_RPL *rpl = mariadb_rpl_init(m);
    if (!rpl) {
        snprintf(err, errlen, "cannot start a binlog reader: out of memory");
        return -1;
    }
    unsigned int start = 4;
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_SERVER_ID, r->server_id);
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_FILENAME, "", (size_t)0);
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_START, start);
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_FLAGS, 0);
    if (mariadb_rpl_open(rpl) != 0) {
        fail_query(r, m, "cannot start reading the binlog", err, errlen);
        mariadb_rpl_close(rpl);
        return -1;
    }
    struct stream s = {.maps = NULL};
    if (binlog_gtid_pos_parse(&s.state, start_gtid, err, errlen) != 0) {
        mariadb_rpl_close(rpl);
        return -1;
    }
    pthread_mutex_lock(&r->lock);
    r->stream_fd = (int)mysql_get_socket(m);
    int stop_now = r->stopping;
    pthread_mutex_unlock(&r->lock);
    if (stop_now) shutdown(r->stream_fd, SHUT_RDWR); /* stopped while opening */
    post_state(r, MY_STREAMING);
    int rc = 0;
    struct worker rereads[16];
    size_t nrereads = 0;
    while (!session_over(r)) {
        /* `stockmesh snapshot`: a table read again in a consistent snapshot of its own
           while the binlog goes on; its rows carry that snapshot's position */
        pthread_mutex_lock(&r->lock);
        int reread = r->reread_pending;
        r->reread_pending = 0;
        pthread_mutex_unlock(&r->lock);
        if (reread && nrereads < 16) {
            memset(&rereads[nrereads], 0, sizeof rereads[nrereads]);
            rereads[nrereads].r = r;
            if (pthread_create(&rereads[nrereads].thread, NULL, snapshot_worker,
                               &rereads[nrereads]) == 0)
                nrereads++;
        }
        MARIADB_RPL_EVENT *ev = mariadb_rpl_fetch(rpl, NULL);
        if (!ev) {
            rc = fail_query(r, m, "the binlog stream ended", err, errlen);
            break;
        }
        int keep = 0;
        switch (ev->event_type) {
        case GTID_EVENT: {
            snprintf(s.gtid, sizeof s.gtid, "%u-%u-%llu", ev->event.gtid.domain_id, ev->server_id,
                     (unsigned long long)ev->event.gtid.sequence_nr);
            s.seq = ev->event.gtid.sequence_nr;
            s.index = 0;
            s.commit_us = (int64_t)ev->timestamp * 1000000;
            rc = post_simple(r, IT_BEGIN, s.gtid);
            break;
        }
        case TABLE_MAP_EVENT:
            rc = remember_map(r, &s, ev, err, errlen);
            keep = rc == 0;
            break;
        case WRITE_ROWS_EVENT_V1:
        case UPDATE_ROWS_EVENT_V1:
        case DELETE_ROWS_EVENT_V1:
        case WRITE_ROWS_EVENT:
        case UPDATE_ROWS_EVENT:
        case DELETE_ROWS_EVENT:
            rc = handle_rows(r, &s, ev, err, errlen);
            break;
        case XID_EVENT:
        case QUERY_EVENT: {
            /* a transaction ends with XID (transactional engines) or a COMMIT query;
               a DDL is a query of its own (its GTID is "standalone") */
            int is_commit = ev->event_type == XID_EVENT ||
                            (ev->event.query.statement.length == 6 &&
                             strncasecmp(ev->event.query.statement.str, "COMMIT", 6) == 0);
            int standalone = ev->event_type == QUERY_EVENT && !is_commit &&
                             !(ev->event.query.statement.length == 5 &&
                               strncasecmp(ev->event.query.statement.str, "BEGIN", 5) == 0);
            if ((is_commit || standalone) && s.gtid[0]) {
                struct binlog_gtid g;
                char list[1024];
                rc = binlog_gtid_parse(&g, s.gtid, err, errlen) == 0 &&
                             binlog_gtid_pos_update(&s.state, &g, err, errlen) == 0 &&
                             binlog_gtid_pos_format(&s.state, list, sizeof list, err, errlen) == 0
                         ? post_simple(r, IT_COMMIT, list)
                         : -1;
                s.gtid[0] = 0;
            }
            break;
        }
        case HEARTBEAT_LOG_EVENT:
            rc = post_simple(r, IT_HEARTBEAT, NULL);
            break;
        default:
            break;
        }
        if (!keep) mariadb_free_rpl_event(ev);
        if (rc != 0) {
            if (!err[0]) snprintf(err, errlen, "stopping");
            break;
        }
    }
    if (nrereads) { /* the session ends: so do its re-reads (the next one resumes them) */
        pthread_mutex_lock(&r->lock);
        r->restart = 1;
        pthread_mutex_unlock(&r->lock);
    }
    for (size_t i = 0; i < nrereads; i++) {
        pthread_join(rereads[i].thread, NULL);
        if (rereads[i].failed && rc == 0) {
            snprintf(err, errlen, "%s", rereads[i].err);
            rc = -1;
        }
    }
    pthread_mutex_lock(&r->lock);
    r->stream_fd = -1;
    pthread_mutex_unlock(&r->lock);
    stream_release(&s);
    mariadb_rpl_close(rpl);
    return rc;
}

static int session(struct mariadb_reader *r, char *err, size_t errlen)
{
    post_state(r, MY_CONNECTING);
    MYSQL *m = connect_db(r, err, errlen);
    if (!m) return -1;
    int rc = -1;
    char gtid[1024];
    for (size_t i = 0; i < r->ntables; i++) {
        free(r->tables[i].last_shape);
        r->tables[i].last_shape = NULL;
    }
    pthread_mutex_lock(&r->lock);
    r->restart = 0;
    int need_snapshot = r->snapshot_needed;
    snprintf(gtid, sizeof gtid, "%s", r->start_gtid);
    pthread_mutex_unlock(&r->lock);
    if (check_server(r, m, err, errlen) != 0 || load_keys(r, m, err, errlen) != 0) goto out;
    if (post_simple(r, IT_SESSION, NULL) != 0) goto out;
    if (need_snapshot && snapshot(r, m, gtid, sizeof gtid, err, errlen) != 0) goto out;
    rc = stream(r, m, gtid, err, errlen);
out:
    mysql_close(m);
    return rc;
}

static void *reader_thread(void *arg)
{
    struct mariadb_reader *r = arg;
    mysql_thread_init();
    int backoff = MY_BACKOFF_MIN_MS;
    while (!stopping(r)) {
        char err[1024] = "";
        int64_t started = now_ms();
        session(r, err, sizeof err);
        if (stopping(r)) break;
        if (now_ms() - started > 60000) backoff = MY_BACKOFF_MIN_MS; /* it ran a while */
        char msg[1100];
        snprintf(msg, sizeof msg, "%s; reconnecting in %d ms", err[0] ? err : "session ended",
                 backoff);
        post_simple(r, IT_ERROR, msg);
        post_state(r, MY_DOWN);
        for (int waited = 0; waited < backoff && !stopping(r); waited += 100) usleep(100 * 1000);
        backoff = backoff * 2 > MY_BACKOFF_MAX_MS ? MY_BACKOFF_MAX_MS : backoff * 2;
    }
    mysql_thread_end();
    return NULL;
}

/* ---- the loop side ---- */

static void set_state(struct mariadb_reader *r, enum my_state s);

static void write_status(struct mariadb_reader *r)
{
    if (!r->tracker) return;
    static const char *const snap_states[] = {"streaming", "queued", "snapshot", "streaming"};
    json_t *tables = json_array();
    for (size_t i = 0; i < r->ntables; i++) {
        const struct table_info *t = &r->tables[i];
        json_t *snap = t->snap_state == 0
                           ? json_null()
                           : json_pack("{s:s, s:I, s:I}", "kind",
                                       t->reread ? "requested" : "initial", "rows_done",
                                       (json_int_t)t->rows_done, "rows_total",
                                       (json_int_t)t->rows_total);
        json_array_append_new(tables, json_pack("{s:s, s:s, s:s, s:o, s:s?}", "schema",
                                                t->cfg->schema, "name", t->cfg->name, "state",
                                                t->parked ? "parked" : snap_states[t->snap_state],
                                                "snapshot", snap, "parked_reason",
                                                t->parked ? t->parked_reason : NULL));
    }
#define OPT_MS(v) ((v) > 0 ? json_integer(v) : json_null())
    json_t *doc = json_pack(
        "{s:s, s:s, s:s, s:I, s:I, s:s?, s:o, s:I, s:n, s:s, s:n, s:n, s:o, s:o, s:o}", "source",
        r->src->name, "type", "mariadb", "state", state_names[r->state], "since_ms",
        (json_int_t)r->state_since_ms, "updated_ms", (json_int_t)now_ms(), "last_error",
        r->last_error[0] ? r->last_error : NULL, "last_error_ms", OPT_MS(r->last_error_ms),
        "reconnects", (json_int_t)r->reconnects, "next_attempt_ms", "confirmed_position",
        r->confirmed_gtid, "slot_lag_bytes", "retained_wal_bytes", "last_heartbeat_ms",
        OPT_MS(r->last_heartbeat_ms), "last_event_ms",
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

static void set_state(struct mariadb_reader *r, enum my_state s)
{
    if (r->state == s) return;
    r->state = s;
    r->state_since_ms = now_ms();
    metrics_set(r->m.state, state_metric[s]);
    write_status(r);
}

static void progress_key(const struct table_info *t, char *out, size_t outlen)
{
    snprintf(out, outlen, "snapshot.progress.%s", t->label);
}

/* What the snapshot still has to read, from what was confirmed (never more): every
 * table from the start for a new snapshot, the unconfirmed rest for an interrupted one. */
static void plan_snapshot(struct mariadb_reader *r, int fresh)
{
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->ntables; i++) {
        struct table_info *t = &r->tables[i];
        char key[320], text[8192];
        progress_key(t, key, sizeof key);
        json_decref(t->plan_after);
        t->plan_after = NULL;
        t->plan_done = 0;
        t->plan_rows = 0;
        json_t *doc = NULL;
        if (fresh) {
            store_delete(r->rt->store, r->scope, key);
            char shape_key[320];
            snprintf(shape_key, sizeof shape_key, "schema.%s", t->label);
            store_delete(r->rt->store, r->scope, shape_key); /* the snapshot's maps set it */
        }
        else if (store_get(r->rt->store, r->scope, key, text, sizeof text) == 0)
            doc = json_loads(text, 0, NULL);
        if (doc) {
            json_t *after = json_object_get(doc, "after");
            t->plan_after = json_is_array(after) ? json_deep_copy(after) : NULL;
            t->plan_done = json_is_true(json_object_get(doc, "done"));
            t->plan_rows = json_integer_value(json_object_get(doc, "rows"));
        }
        json_decref(doc);
        t->snap_state = t->plan_done ? 3 : 1;
        t->rows_done = t->plan_rows;
    }
    pthread_mutex_unlock(&r->lock);
}

static void progress_save(struct mariadb_reader *r, const struct table_info *t, int requested,
                          const json_t *after, int done, int64_t rows)
{
    char key[320];
    progress_key(t, key, sizeof key);
    json_t *doc = json_pack("{s:s, s:O?, s:b, s:I}", "kind", requested ? "requested" : "initial",
                            "after", after, "done", done, "rows", (json_int_t)rows);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (!text || store_set(r->rt->store, r->scope, key, text) != 0)
        log_error("cdc.mariadb", "%s: cannot record snapshot progress of %s", r->src->name,
                  t->label);
    free(text);
    json_decref(doc);
}

static void chunk_confirmed(struct mariadb_reader *r, const struct tracker_entry *e)
{
    struct table_info *t = &r->tables[e->chunk_table];
    if (e->chunk_kind && e->chunk_last) { /* a requested re-read is complete */
        char key[320];
        progress_key(t, key, sizeof key);
        store_delete(r->rt->store, r->scope, key);
        /* what `stockmesh replay` and `reconcile` wait for before dropping what the
           re-read did not see */
        snapshot_done_save(r->rt->store, r->scope, t->label);
        t->reread = 0;
        t->snap_state = 0;
        log_info("cdc.mariadb", "%s: snapshot of %s applied (%" PRId64 " rows)", r->src->name,
                 t->label, e->chunk_rows);
        write_status(r);
        return;
    }
    progress_save(r, t, e->chunk_kind, e->chunk_after, e->chunk_last, e->chunk_rows);
}

/* Plans a table to be read again while streaming, from after (NULL: the start). */
static void plan_reread(struct mariadb_reader *r, struct table_info *t, json_t *after,
                        int64_t rows)
{
    pthread_mutex_lock(&r->lock);
    json_decref(t->plan_after);
    t->plan_after = after ? json_deep_copy(after) : NULL;
    t->plan_rows = rows;
    t->plan_done = 0;
    t->plan_taken = 0;
    r->reread_pending = 1;
    pthread_mutex_unlock(&r->lock);
    t->reread = 1;
    t->snap_state = 1;
    t->rows_done = rows;
}

/* `stockmesh snapshot <source> <table>` leaves a request in the state database. */
static void poll_requests(struct mariadb_reader *r)
{
    for (size_t i = 0; i < r->ntables; i++) {
        struct table_info *t = &r->tables[i];
        char key[320], value[64];
        snprintf(key, sizeof key, "snapshot.request.%s", t->label);
        if (store_get(r->rt->store, r->scope, key, value, sizeof value) != 0) continue;
        store_delete(r->rt->store, r->scope, key);
        if (t->reread) {
            log_info("cdc.mariadb", "%s: a snapshot of %s is already under way", r->src->name,
                     t->label);
            continue;
        }
        if (t->parked) {
            /* the operator fixed the mapping or the table: the next table map sets the
               shape afresh, and the re-read replaces what the parked changes missed */
            t->parked = 0;
            t->parked_reason[0] = 0;
            shapes_park(r->rt->store, r->scope, t->label, NULL);
            char shape_key[320];
            snprintf(shape_key, sizeof shape_key, "schema.%s", t->label);
            store_delete(r->rt->store, r->scope, shape_key);
            metrics_add(r->m.parked, -1);
            log_info("cdc.mariadb", "%s: %s un-parked; re-reading it", r->src->name, t->label);
        } else {
            log_info("cdc.mariadb", "%s: snapshot of %s requested", r->src->name, t->label);
        }
        progress_save(r, t, 1, NULL, 0, 0);
        plan_reread(r, t, NULL, 0);
        write_status(r);
    }
}

static void snapshot_finished(struct mariadb_reader *r)
{
    store_set(r->rt->store, r->scope, "snapshot", r->snapshot_token);
    store_delete(r->rt->store, r->scope, "snapshot.pending");
    store_delete(r->rt->store, r->scope, "snapshot.start");
    for (size_t i = 0; i < r->ntables; i++) {
        char key[320];
        progress_key(&r->tables[i], key, sizeof key);
        store_delete(r->rt->store, r->scope, key);
        r->tables[i].snap_state = 0;
    }
    pthread_mutex_lock(&r->lock);
    r->snapshot_needed = 0;
    r->snapshot_start[0] = 0;
    pthread_mutex_unlock(&r->lock);
    log_info("cdc.mariadb", "%s: snapshot applied downstream; streaming only from now on",
             r->src->name);
}

static void entry_confirmed(void *arg, struct tracker_entry *e)
{
    struct mariadb_reader *r = arg;
    if (!e) {
        if (!r->snapshot_needed) store_set(r->rt->store, r->scope, "gtid", r->confirmed_gtid);
        pthread_mutex_lock(&r->lock);
        snprintf(r->start_gtid, sizeof r->start_gtid, "%s", r->confirmed_gtid);
        pthread_mutex_unlock(&r->lock);
        return;
    }
    if (e->end_text) snprintf(r->confirmed_gtid, sizeof r->confirmed_gtid, "%s", e->end_text);
    if (e->chunk_table >= 0) chunk_confirmed(r, e);
    if (e->is_snapshot_end) snapshot_finished(r);
    if (e->id == r->current_id) r->current_id = 0;
}

static void tracker_failed(void *arg, const char *why)
{
    struct mariadb_reader *r = arg;
    /* read again from the confirmed GTID: the thread ends its session and starts over */
    log_error("cdc.mariadb", "%s: %s", r->src->name, why);
    metrics_inc(r->m.errors, 1);
    pthread_mutex_lock(&r->lock);
    r->restart = 1;
    pthread_mutex_unlock(&r->lock);
}

static struct tracker_entry *current(struct mariadb_reader *r)
{
    struct tracker_entry *e = tracker_find(r->tracker, r->current_id);
    if (!e) {
        e = tracker_push(r->tracker);
        r->current_id = e ? e->id : 0;
    }
    return e;
}

static int produce_row(struct mariadb_reader *r, struct item *it)
{
    struct table_info *t = &r->tables[it->table];
    struct tracker_entry *e;
    if (it->op == 'r') { /* workers interleave tables: a chunk entry per table */
        e = tracker_find(r->tracker, t->chunk_entry);
        if (!e) {
            e = tracker_push(r->tracker);
            t->chunk_entry = e ? e->id : 0;
        }
    } else {
        e = current(r);
    }
    if (!e) return -1;
    struct change_event ev = {.op = it->op, .before = it->before, .after = it->after,
                              .connector = "mysql", .source = r->src->name,
                              .db = t->cfg->schema, .schema = t->cfg->schema,
                              .table = t->cfg->name, .gtid = it->text,
                              .commit_us = it->commit_us, .read_us = event_now_us(),
                              .snapshot = it->op == 'r'};
    event_position_pg(ev.position, it->seq, it->index);
    if (it->op != 'r' && ev.commit_us && ev.read_us >= ev.commit_us)
        metrics_observe(r->m.read_latency, (double)(ev.read_us - ev.commit_us) / 1e6);
    if (tracker_produce(r->tracker, e, it->table, it->key, &ev) != 0) return -1;
    if (it->op == 'r') {
        metrics_inc(r->m.snapshot_rows, 1);
        t->rows_done++;
        metrics_set(t->m.rows_read, (double)t->rows_done);
        return 0; /* chunks are far below the window */
    }
    metrics_inc(t->m_rows, 1);
    /* a big transaction closes in segments, so the window never waits on it */
    if (e->events >= (uint64_t)r->rt->cfg->backbone.window / 4) {
        e->closed = 1;
        r->current_id = 0;
    }
    return 0;
}

static void close_current(struct mariadb_reader *r, const char *gtid_list, int snapshot_end)
{
    struct tracker_entry *e = current(r);
    if (!e) return;
    e->closed = 1;
    if (gtid_list) e->end_text = strdup(gtid_list);
    e->is_snapshot_end = snapshot_end;
    r->current_id = 0;
}

/* A table map showed a mapped table's shape: compare it with the last known one. */
static void shape_seen(struct mariadb_reader *r, struct item *it)
{
    struct table_info *t = &r->tables[it->table];
    json_t *doc = json_loads(it->text, 0, NULL);
    struct schema_table shape, old;
    char err[256];
    int ok = doc && schema_table_from_json(&shape, doc, err, sizeof err) == 0;
    json_decref(doc);
    if (!ok) return;
    if (t->parked || shapes_load(r->rt->store, r->scope, t->label, &old) != 0) {
        if (!t->parked) shapes_save(r->rt->store, r->scope, t->label, &shape);
        schema_table_release(&shape);
        return;
    }
    char reason[768];
    struct shapes_where w = {.source = r->src->name, .schema = t->cfg->schema,
                             .table = t->cfg->name, .label = t->label,
                             .position = r->confirmed_gtid, .seen_in = "binlog",
                             .ts_ms = now_ms()};
    json_t *event, *alert;
    enum schema_change verdict = shapes_judge(&old, &shape, t->mapped, &w, &event, &alert, reason,
                                              sizeof reason);
    schema_table_release(&old);
    if (verdict != SCHEMA_SAME) {
        char key[400];
        snprintf(key, sizeof key, "%s.%s", r->src->name, t->label);
        if (event) tracker_produce_side(r->tracker, r->schema_topic, key, event);
        shapes_save(r->rt->store, r->scope, t->label, &shape);
        if (verdict == SCHEMA_COMPATIBLE) {
            metrics_inc(r->m.schema_compatible, 1);
            log_info("cdc.mariadb", "%s: compatible schema change of %s propagated%s%s",
                     r->src->name, t->label, reason[0] ? ": " : "", reason);
        } else {
            metrics_inc(r->m.schema_incompatible, 1);
            t->parked = 1;
            snprintf(t->parked_reason, sizeof t->parked_reason, "%s", reason);
            shapes_park(r->rt->store, r->scope, t->label, reason);
            metrics_add(r->m.parked, 1);
            log_error("cdc.mariadb", "%s: table %s parked: %s", r->src->name, t->label, reason);
            if (alert) tracker_produce_side(r->tracker, r->alert_topic, key, alert);
            write_status(r);
        }
    }
    json_decref(event);
    json_decref(alert);
    schema_table_release(&shape);
}

static void handle_item(struct mariadb_reader *r, struct item *it)
{
    switch (it->kind) {
    case IT_SESSION:
        tracker_clear(r->tracker);
        r->current_id = 0;
        for (size_t i = 0; i < r->ntables; i++) r->tables[i].chunk_entry = 0;
        break;
    case IT_STATE:
        set_state(r, it->state);
        break;
    case IT_ERROR:
        log_error("cdc.mariadb", "%s: %s", r->src->name, it->text);
        snprintf(r->last_error, sizeof r->last_error, "%s", it->text);
        r->last_error_ms = now_ms();
        r->reconnects++;
        metrics_inc(r->m.errors, 1);
        if (r->snapshot_needed) plan_snapshot(r, 0); /* the next session reads what is unconfirmed */
        write_status(r);
        break;
    case IT_SNAPSHOT_BEGIN: {
        char pending[64] = "";
        int resumed = store_get(r->rt->store, r->scope, "snapshot.pending", pending,
                                sizeof pending) == 0 &&
                      strcmp(pending, r->snapshot_token) == 0;
        if (!resumed) {
            /* Redis and the state database name the same snapshot from its start: a
               restart resumes it only while Redis still holds what was applied of it */
            unsigned char raw[8];
            if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) memset(raw, 0, sizeof raw);
            snprintf(r->snapshot_token, sizeof r->snapshot_token,
                     "%.24s-%02x%02x%02x%02x%02x%02x%02x%02x", it->text[0] ? it->text : "0",
                     raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7]);
            char key[192];
            snprintf(key, sizeof key, "stockmesh:snapshot:%s", r->src->name);
            redis_sendf(r->redis, NULL, NULL, "SET %s %s", key, r->snapshot_token);
            store_delete(r->rt->store, r->scope, "snapshot");
            store_set(r->rt->store, r->scope, "snapshot.pending", r->snapshot_token);
            store_set(r->rt->store, r->scope, "snapshot.start", it->text);
            pthread_mutex_lock(&r->lock);
            snprintf(r->snapshot_start, sizeof r->snapshot_start, "%s", it->text);
            pthread_mutex_unlock(&r->lock);
        }
        log_info("cdc.mariadb", "%s: %s the snapshot; the binlog follows from GTID %s",
                 r->src->name, resumed ? "resuming" : "reading", it->text[0] ? it->text : "(start)");
        if (resumed) metrics_inc(r->m.resumes, 1);
        break;
    }
    case IT_TABLE_BEGIN: {
        struct table_info *t = &r->tables[it->table];
        t->snap_state = 2;
        t->rows_total = it->rows > t->rows_done ? it->rows : t->rows_done;
        metrics_set(t->m.rows_expected, (double)t->rows_total);
        log_info("cdc.mariadb", "%s: snapshot of %s at GTID %s%s", r->src->name, t->label,
                 it->text[0] ? it->text : "(start)",
                 t->rows_done ? " continues after the last confirmed chunk" : "");
        write_status(r);
        break;
    }
    case IT_ROW:
        if (r->tables[it->table].parked) {
            metrics_inc(r->m.parked_changes, 1);
            break;
        }
        if (produce_row(r, it) != 0) tracker_failed(r, "the backbone's local queue is full");
        break;
    case IT_SHAPE:
        shape_seen(r, it);
        break;
    case IT_CHUNK_END: {
        struct table_info *t = &r->tables[it->table];
        struct tracker_entry *e = tracker_find(r->tracker, t->chunk_entry);
        if (!e) e = tracker_push(r->tracker);
        t->chunk_entry = 0;
        if (!e) break;
        e->closed = 1;
        e->chunk_table = it->table;
        e->chunk_after = it->after_key;
        it->after_key = NULL;
        e->chunk_rows = it->rows;
        e->chunk_last = it->last;
        e->chunk_kind = t->reread;
        if (it->rows > t->rows_total) t->rows_total = it->rows;
        if (it->last) {
            t->snap_state = 3;
            log_info("cdc.mariadb", "%s: snapshot of %s read (%" PRId64 " rows)", r->src->name,
                     t->label, it->rows);
            write_status(r);
        }
        break;
    }
    case IT_SNAPSHOT_END: {
        struct tracker_entry *e = tracker_push(r->tracker);
        if (!e) break;
        e->closed = 1;
        e->is_snapshot_end = 1;
        e->end_text = strdup(it->text);
        log_info("cdc.mariadb", "%s: snapshot read; waiting for it to be applied while "
                                "streaming", r->src->name);
        break;
    }
    case IT_BEGIN:
        close_current(r, NULL, 0);
        break;
    case IT_COMMIT:
        close_current(r, it->text, 0);
        metrics_inc(r->m.txns, 1);
        break;
    case IT_HEARTBEAT:
        r->last_heartbeat_ms = now_ms();
        metrics_inc(r->m_heartbeats, 1);
        break;
    }
}

static int window_full(const struct mariadb_reader *r)
{
    return tracker_unapplied(r->tracker) >= (uint64_t)r->rt->cfg->backbone.window;
}

static void drain(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct mariadb_reader *r = arg;
    char buf[256];
    if (fd >= 0)
        while (read(fd, buf, sizeof buf) > 0) {
        }
    for (int n = 0; n < MY_DRAIN_BATCH; n++) {
        if (window_full(r)) {
            r->draining_paused = 1; /* the tick resumes once merge catches up */
            return;
        }
        pthread_mutex_lock(&r->lock);
        struct item *it = r->head;
        if (it) {
            r->head = it->next;
            if (!r->head) r->tail = NULL;
            r->queued--;
            pthread_cond_signal(&r->space);
        }
        pthread_mutex_unlock(&r->lock);
        if (!it) return;
        handle_item(r, it);
        item_free(it);
    }
    event_active(r->wake_ev, EV_READ, 0); /* more may wait: yield, then go on */
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct mariadb_reader *r = arg;
    tracker_tick(r->tracker);
    if (r->draining_paused &&
        tracker_unapplied(r->tracker) < (uint64_t)r->rt->cfg->backbone.window / 2) {
        r->draining_paused = 0;
        event_active(r->wake_ev, EV_READ, 0);
    }
    if (++r->ticks % 20 == 0) {
        if (r->state == MY_STREAMING && !r->snapshot_needed) poll_requests(r);
        write_status(r);
    }
}

static void start_thread(struct mariadb_reader *r)
{
    if (pthread_create(&r->thread, NULL, reader_thread, r) != 0) {
        log_error("cdc.mariadb", "%s: cannot start the reader thread", r->src->name);
        return;
    }
    r->thread_started = 1;
}

/* At start: stream on from the confirmed GTID while Redis holds this source's
 * snapshot; otherwise (new or older Redis, or no record) read a new snapshot. */
static void marker_reply(void *arg, redisReply *reply)
{
    struct mariadb_reader *r = arg;
    if (r->stopping) return;
    /* {snapshot marker, safe mark} */
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        struct timeval tv = {1, 0};
        evtimer_add(r->start, &tv);
        return;
    }
    const redisReply *safe = reply->element[1];
    reply = reply->element[0];
    char local[64] = "", pending[64] = "", gtid[1024] = "", start[1024] = "";
    int have_local = store_get(r->rt->store, r->scope, "snapshot", local, sizeof local) == 0;
    int have_pending =
        store_get(r->rt->store, r->scope, "snapshot.pending", pending, sizeof pending) == 0;
    int have_gtid = store_get(r->rt->store, r->scope, "gtid", gtid, sizeof gtid) == 0;
    int have_start =
        store_get(r->rt->store, r->scope, "snapshot.start", start, sizeof start) == 0;
    const char *marker = reply->type == REDIS_REPLY_STRING ? reply->str : "";
    if (*marker && tracker_redis_behind(r->rt, r->src->name,
                                        safe->type == REDIS_REPLY_STRING ? safe->str : NULL)) {
        log_warning("cdc.mariadb", "%s: Redis holds less than MariaDB was told is safe "
                                   "(restored from an older state?): reading a new snapshot",
                    r->src->name);
        marker = "";
    }
    int current = have_local && have_gtid && strcmp(marker, local) == 0;
    int resumable = !current && have_pending && have_start && strcmp(marker, pending) == 0;
    if (current) {
        snprintf(r->confirmed_gtid, sizeof r->confirmed_gtid, "%s", gtid);
        snprintf(r->snapshot_token, sizeof r->snapshot_token, "%s", local);
        log_info("cdc.mariadb", "%s: resuming the binlog at GTID %s", r->src->name, gtid);
        /* re-reads that a crash interrupted go on after their last confirmed chunk */
        for (size_t i = 0; i < r->ntables; i++) {
            struct table_info *t = &r->tables[i];
            char key[320], text[8192];
            progress_key(t, key, sizeof key);
            if (store_get(r->rt->store, r->scope, key, text, sizeof text) != 0) continue;
            json_t *doc = json_loads(text, 0, NULL);
            const char *kind = json_string_value(json_object_get(doc, "kind"));
            if (kind && strcmp(kind, "requested") == 0 &&
                !json_is_true(json_object_get(doc, "done"))) {
                json_t *after = json_object_get(doc, "after");
                plan_reread(r, t, json_is_array(after) ? after : NULL,
                            json_integer_value(json_object_get(doc, "rows")));
            }
            json_decref(doc);
        }
    } else if (resumable) {
        snprintf(r->snapshot_token, sizeof r->snapshot_token, "%s", pending);
        plan_snapshot(r, 0);
    } else {
        if (have_local || have_pending)
            log_warning("cdc.mariadb", "%s: Redis does not hold this source's snapshot (new or "
                                       "older Redis); taking a new one", r->src->name);
        store_delete(r->rt->store, r->scope, "snapshot.pending");
        store_delete(r->rt->store, r->scope, "snapshot.start");
        plan_snapshot(r, 1);
    }
    pthread_mutex_lock(&r->lock);
    r->snapshot_needed = !current;
    snprintf(r->start_gtid, sizeof r->start_gtid, "%s", current ? gtid : "");
    snprintf(r->snapshot_start, sizeof r->snapshot_start, "%s", resumable ? start : "");
    pthread_mutex_unlock(&r->lock);
    start_thread(r);
}

static void start_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct mariadb_reader *r = arg;
    char key[192];
    snprintf(key, sizeof key, "stockmesh:snapshot:%s", r->src->name);
    if (!redis_ready(r->redis) ||
        redis_sendf(r->redis, marker_reply, r, "MGET %s stockmesh:safe:%s", key, r->src->name) !=
            0) {
        struct timeval tv = {0, 500 * 1000};
        evtimer_add(r->start, &tv);
    }
}

static void redis_state(void *arg, int ready)
{
    struct mariadb_reader *r = arg;
    if (!ready) tracker_redis_lost(r->tracker);
}

/* "host=… port=… user=… dbname=…" (the libpq style every source's dsn uses). */
static int parse_dsn(struct mariadb_reader *r, const char *dsn, char *err, size_t errlen)
{
    snprintf(r->host, sizeof r->host, "127.0.0.1");
    r->port = 3306;
    const char *p = dsn;
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        const char *eq = strchr(p, '=');
        const char *end = strchr(p, ' ');
        if (!end) end = p + strlen(p);
        if (!eq || eq > end) {
            snprintf(err, errlen, "dsn: expected key=value, found \"%.*s\"", (int)(end - p), p);
            return -1;
        }
        char key[32], value[256];
        snprintf(key, sizeof key, "%.*s", (int)(eq - p), p);
        snprintf(value, sizeof value, "%.*s", (int)(end - eq - 1), eq + 1);
        if (strcmp(key, "host") == 0)
            snprintf(r->host, sizeof r->host, "%s", value);
        else if (strcmp(key, "port") == 0)
            r->port = (unsigned)strtoul(value, NULL, 10);
        else if (strcmp(key, "user") == 0)
            snprintf(r->user, sizeof r->user, "%.127s", value);
        else if (strcmp(key, "dbname") == 0 || strcmp(key, "database") == 0)
            snprintf(r->database, sizeof r->database, "%.127s", value);
        else {
            snprintf(err, errlen, "dsn: unknown key %s (host, port, user, dbname)", key);
            return -1;
        }
        p = end;
    }
    if (!r->user[0]) {
        snprintf(err, errlen, "dsn: user= is required");
        return -1;
    }
    return 0;
}

struct mariadb_reader *mariadb_reader_new(struct runtime *rt, const struct config_source *src, char *err,
                                size_t errlen)
{
    struct mariadb_reader *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->rt = rt;
    r->src = src;
    r->wake[0] = r->wake[1] = -1;
    r->stream_fd = -1;
    r->state_since_ms = now_ms();
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->space, NULL);
    snprintf(r->scope, sizeof r->scope, "source:%s", src->name);
    if (parse_dsn(r, src->dsn, err, errlen) != 0) goto fail;
    if (src->password_file &&
        redis_read_password(src->password_file, r->password, sizeof r->password, err, errlen) != 0)
        goto fail;
    /* a replica id of our own: the server drops a second dump with the same one */
    uint32_t h = 2166136261u;
    for (const char *c = src->name; *c; c++) h = (h ^ (unsigned char)*c) * 16777619u;
    r->server_id = 0x50000000u | (h & 0x0fffffffu);
    r->ntables = src->ntables;
    r->tables = calloc(r->ntables ? r->ntables : 1, sizeof *r->tables);
    const char **topics = calloc(r->ntables ? r->ntables : 1, sizeof *topics);
    if (!r->tables || !topics) {
        free(topics);
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    char labels[600];
    for (size_t i = 0; i < r->ntables; i++) {
        struct table_info *t = &r->tables[i];
        t->cfg = &src->tables[i];
        char suffix[400];
        snprintf(suffix, sizeof suffix, "%s.%s.%s", src->name, t->cfg->schema, t->cfg->name);
        kafka_topic(rt->kafka, t->topic, sizeof t->topic, suffix);
        snprintf(t->label, sizeof t->label, "%s.%s", t->cfg->schema, t->cfg->name);
        topics[i] = t->topic;
        t->mapped[config_table_columns(t->cfg, t->mapped)] = NULL;
        t->parked = shapes_parked(rt->store, r->scope, t->label, t->parked_reason,
                                  sizeof t->parked_reason);
        snprintf(labels, sizeof labels, "source=\"%s\",table=\"%s\"", src->name, t->label);
        t->m_rows = metrics_counter(rt->metrics, "stockmesh_cdc_table_events_total",
                                    "Change events read per table.", labels);
        cdc_metrics_table_init(&t->m, rt->metrics, src->name, t->label);
        if (kafka_topic_ensure(rt->kafka, t->topic, err, errlen) != 0) {
            free(topics);
            goto fail;
        }
    }
    kafka_topic(rt->kafka, r->schema_topic, sizeof r->schema_topic, "schema-changes");
    kafka_topic(rt->kafka, r->alert_topic, sizeof r->alert_topic, "alerts");
    if (kafka_topic_ensure(rt->kafka, r->schema_topic, err, errlen) != 0 ||
        kafka_topic_ensure(rt->kafka, r->alert_topic, err, errlen) != 0) {
        free(topics);
        goto fail;
    }
    snprintf(labels, sizeof labels, "source=\"%s\"", src->name);
    struct metrics *mx = rt->metrics;
    cdc_metrics_init(&r->m, mx, src->name);
    r->m_heartbeats = metrics_counter(mx, "stockmesh_cdc_heartbeats_total",
                                      "Heartbeats received from the source.", labels);
    r->redis = redis_new(rt->base, rt->cfg, rt->metrics, "cdc", err, errlen);
    if (!r->redis) {
        free(topics);
        goto fail;
    }
    r->tracker = tracker_new(rt, r->redis, src->name, topics, r->ntables, entry_confirmed,
                             tracker_failed, r, err, errlen);
    free(topics);
    if (!r->tracker) goto fail;
    redis_on_state(r->redis, redis_state, r);
    if (pipe2(r->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        snprintf(err, errlen, "cannot create a pipe: %s", strerror(errno));
        goto fail;
    }
    r->wake_ev = event_new(rt->base, r->wake[0], EV_READ | EV_PERSIST, drain, r);
    r->tick = event_new(rt->base, -1, EV_PERSIST, tick_cb, r);
    r->start = evtimer_new(rt->base, start_cb, r);
    if (!r->wake_ev || !r->tick || !r->start) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    event_add(r->wake_ev, NULL);
    struct timeval tick = {0, MY_TICK_MS * 1000};
    evtimer_add(r->tick, &tick);
    struct timeval soon = {0, 200 * 1000}; /* give Redis a moment to connect first */
    evtimer_add(r->start, &soon);
    write_status(r);
    return r;
fail:
    mariadb_reader_free(r);
    return NULL;
}

void mariadb_reader_free(struct mariadb_reader *r)
{
    if (!r) return;
    pthread_mutex_lock(&r->lock);
    r->stopping = 1;
    pthread_cond_broadcast(&r->space);
    /* a fetch blocked on the binlog returns at once instead of at the next heartbeat */
    if (r->stream_fd >= 0) shutdown(r->stream_fd, SHUT_RDWR);
    pthread_mutex_unlock(&r->lock);
    if (r->thread_started) pthread_join(r->thread, NULL);
    if (r->tracker) {
        r->state = MY_DOWN;
        write_status(r);
    }
    while (r->head) {
        struct item *it = r->head;
        r->head = it->next;
        item_free(it);
    }
    /* Redis first: freeing it answers the questions in flight (with no reply), and the
       tracker asked some of them; it must not hear of the disconnect once gone */
    if (r->redis) {
        redis_on_state(r->redis, NULL, NULL);
        redis_free(r->redis);
    }
    tracker_free(r->tracker, 2000);
    if (r->wake_ev) event_free(r->wake_ev);
    if (r->tick) event_free(r->tick);
    if (r->start) event_free(r->start);
    if (r->wake[0] >= 0) close(r->wake[0]);
    if (r->wake[1] >= 0) close(r->wake[1]);
    for (size_t i = 0; i < r->ntables && r->tables; i++) {
        free_keys(&r->tables[i]);
        free(r->tables[i].last_shape);
        json_decref(r->tables[i].plan_after);
    }
    free(r->tables);
    pthread_cond_destroy(&r->space);
    pthread_mutex_destroy(&r->lock);
    free(r);
}
