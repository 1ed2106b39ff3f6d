/* snapread.c — see snapread.h. */
#include "snapread.h"

#include "cdc/mysqltext.h"

#include "cdc/pgoutput.h"
#include "cdc/sqlvalue.h"
#include "positions.h"
#include "stockmesh/redis.h"

#include <errno.h>
#include <libpq-fe.h>
#include <math.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONNECT_TIMEOUT_S 10

/* ---- PostgreSQL ---------------------------------------------------------------- */

static int pg_fail(PGconn *c, PGresult *res, const char *what, char *err, size_t errlen)
{
    const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(c);
    snprintf(err, errlen, "%s: %.*s", what, (int)strcspn(msg, "\n"), msg);
    PQclear(res);
    return -1;
}

static int pg_exec(PGconn *c, const char *sql, ExecStatusType want, const char *what, char *err,
                   size_t errlen)
{
    PGresult *res = PQexec(c, sql);
    if (PQresultStatus(res) != want) return pg_fail(c, res, what, err, errlen);
    PQclear(res);
    return 0;
}

static int pg_lsn(PGconn *c, uint64_t *lsn, char *err, size_t errlen)
{
    PGresult *res = PQexec(c, "SELECT pg_current_wal_lsn()::text");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        return pg_fail(c, res, "reading the WAL position", err, errlen);
    int rc = positions_parse(CONFIG_SOURCE_POSTGRES, PQgetvalue(res, 0, 0), lsn);
    if (rc != 0) snprintf(err, errlen, "unexpected WAL position \"%s\"", PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

/* SELECT "c1", "c2" FROM "schema"."table": identifiers quoted by the server's rules. */
static char *pg_select(PGconn *c, const struct config_table *t)
{
    const char *cols[CONFIG_TABLE_COLUMNS_MAX];
    size_t n = config_table_columns(t, cols);
    size_t cap = 64, len = 0;
    char *sql = malloc(cap);
    if (!sql) return NULL;
    len = (size_t)snprintf(sql, cap, "SELECT ");
    for (size_t i = 0; i <= n + 1; i++) {
        const char *name = i < n ? cols[i] : i == n ? t->schema : t->name;
        char *q = PQescapeIdentifier(c, name, strlen(name));
        if (!q) {
            free(sql);
            return NULL;
        }
        const char *sep = i == 0 ? "" : i < n ? ", " : i == n ? " FROM " : ".";
        size_t need = len + strlen(sep) + strlen(q) + 1;
        if (need > cap) {
            while (cap < need) cap *= 2;
            char *grown = realloc(sql, cap);
            if (!grown) {
                PQfreemem(q);
                free(sql);
                return NULL;
            }
            sql = grown;
        }
        len += (size_t)snprintf(sql + len, cap - len, "%s%s", sep, q);
        PQfreemem(q);
    }
    return sql;
}

/* Streams one table's rows (single-row mode: memory stays flat however big it is). */
static int pg_table(PGconn *c, struct pgoutput *decoder, const struct config_table *t,
                    snapread_row_cb on_row, void *arg, char *err, size_t errlen)
{
    char *sql = pg_select(c, t);
    if (!sql) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int sent = PQsendQuery(c, sql);
    free(sql);
    if (!sent || !PQsetSingleRowMode(c)) return pg_fail(c, NULL, "reading a table", err, errlen);
    int rc = 0;
    char what[300];
    snprintf(what, sizeof what, "reading %s.%s", t->schema, t->name);
    PGresult *res;
    while ((res = PQgetResult(c))) {
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_TUPLES_OK) {
            PQclear(res);
            continue;
        }
        if (st != PGRES_SINGLE_TUPLE) {
            if (rc == 0) pg_fail(c, res, what, err, errlen);
            else PQclear(res);
            rc = -1;
            continue; /* drain to the end: the connection stays usable */
        }
        if (rc != 0) {
            PQclear(res);
            continue;
        }
        int ncols = PQnfields(res);
        struct pgoutput_column cols[CONFIG_TABLE_COLUMNS_MAX];
        struct pgoutput_value vals[CONFIG_TABLE_COLUMNS_MAX];
        for (int i = 0; i < ncols && i < CONFIG_TABLE_COLUMNS_MAX; i++) {
            cols[i] = (struct pgoutput_column){.name = PQfname(res, i), .type_oid = PQftype(res, i),
                                               .typmod = PQfmod(res, i)};
            vals[i] = (struct pgoutput_value){
                .kind = PQgetisnull(res, 0, i) ? PGOUTPUT_VALUE_NULL : PGOUTPUT_VALUE_TEXT,
                .len = (uint32_t)PQgetlength(res, 0, i), .data = PQgetvalue(res, 0, i)};
        }
        /* the readers' own type mapping: describe the result as a relation */
        struct pgoutput_relation rel = {.schema = t->schema, .name = t->name,
                                        .replica_identity = 'd', .ncols = (uint16_t)ncols,
                                        .columns = cols};
        struct pgoutput_tuple tuple = {.ncols = (uint16_t)ncols, .values = vals};
        json_t *row = pgoutput_tuple_to_json(decoder, &rel, &tuple, NULL, NULL);
        PQclear(res);
        if (!row) {
            snprintf(err, errlen, "%s: %s", what, decoder->errstr);
            rc = -1;
            continue;
        }
        if (on_row(arg, t, row) != 0) {
            snprintf(err, errlen, "%s: stopped", what);
            rc = -1;
        }
        json_decref(row);
    }
    return rc;
}

static int pg_source(const struct config_source *src, struct snapread_point *point,
                     snapread_table_cb on_table, snapread_row_cb on_row, void *arg, char *err,
                     size_t errlen)
{
    char password[256] = "";
    if (src->password_file &&
        redis_read_password(src->password_file, password, sizeof password, err, errlen) != 0)
        return -1;
    const char *keys[8], *values[8];
    int n = 0;
    keys[n] = "dbname", values[n++] = src->dsn;
    keys[n] = "client_encoding", values[n++] = "UTF8";
    keys[n] = "application_name", values[n++] = "stockmesh-reconcile";
    /* values as text in the formats the reader's sessions use */
    keys[n] = "options", values[n++] = "-c DateStyle=ISO -c TimeZone=UTC -c IntervalStyle=iso_8601 "
                                       "-c extra_float_digits=3";
    keys[n] = "connect_timeout", values[n++] = "10";
    if (password[0]) keys[n] = "password", values[n++] = password;
    keys[n] = NULL, values[n] = NULL;
    PGconn *c = PQconnectdbParams(keys, values, 1);
    memset(password, 0, sizeof password);
    struct pgoutput *decoder = pgoutput_new();
    int rc = -1;
    if (!c || !decoder) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        pg_fail(c, NULL, "cannot connect", err, errlen);
        goto out;
    }
    /* the point first, then the snapshot: what the snapshot lacks came at or after it */
    if (pg_lsn(c, &point->before, err, errlen) != 0 ||
        pg_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", PGRES_COMMAND_OK,
                "opening a snapshot", err, errlen) != 0 ||
        /* the first statement takes the snapshot; its LSN is read after that */
        pg_lsn(c, &point->after, err, errlen) != 0)
        goto out;
    for (size_t i = 0; i < src->ntables; i++) {
        const struct config_table *t = &src->tables[i];
        if (t->defines_crosswalk) continue;
        if (on_table) on_table(arg, t);
        if (pg_table(c, decoder, t, on_row, arg, err, errlen) != 0) goto out;
    }
    rc = pg_exec(c, "COMMIT", PGRES_COMMAND_OK, "closing the snapshot", err, errlen);
out:
    pgoutput_free(decoder);
    PQfinish(c);
    return rc;
}

/* ---- MariaDB --------------------------------------------------------------------- */

struct my_dsn {
    char host[256], user[128], database[128];
    unsigned port;
};

/* "host=… port=… user=… dbname=…", as the reader reads it. */
static int my_parse_dsn(const char *dsn, struct my_dsn *d, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    snprintf(d->host, sizeof d->host, "127.0.0.1");
    d->port = 3306;
    for (const char *p = dsn; *p;) {
        while (*p == ' ') p++;
        if (!*p) break;
        const char *eq = strchr(p, '='), *end = strchr(p, ' ');
        if (!end) end = p + strlen(p);
        if (!eq || eq > end) {
            snprintf(err, errlen, "dsn: expected key=value, found \"%.*s\"", (int)(end - p), p);
            return -1;
        }
        char key[32], value[256];
        snprintf(key, sizeof key, "%.*s", (int)(eq - p), p);
        snprintf(value, sizeof value, "%.*s", (int)(end - eq - 1), eq + 1);
        if (!strcmp(key, "host")) snprintf(d->host, sizeof d->host, "%s", value);
        else if (!strcmp(key, "port")) d->port = (unsigned)strtoul(value, NULL, 10);
        else if (!strcmp(key, "user")) snprintf(d->user, sizeof d->user, "%.127s", value);
        else if (!strcmp(key, "dbname") || !strcmp(key, "database"))
            snprintf(d->database, sizeof d->database, "%.127s", value);
        else {
            snprintf(err, errlen, "dsn: unknown key %s (host, port, user, dbname)", key);
            return -1;
        }
        p = end;
    }
    if (!d->user[0]) {
        snprintf(err, errlen, "dsn: user= is required");
        return -1;
    }
    return 0;
}

static int my_fail(MYSQL *m, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s", what, mysql_error(m));
    return -1;
}

static int my_gtid(MYSQL *m, uint64_t *seq, char *err, size_t errlen)
{
    if (mysql_query(m, "SELECT @@gtid_binlog_pos") != 0)
        return my_fail(m, "reading the binlog's GTID position", err, errlen);
    MYSQL_RES *res = mysql_store_result(m);
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    int rc = -1;
    if (!row) my_fail(m, "reading the binlog's GTID position", err, errlen);
    else if (positions_parse(CONFIG_SOURCE_MARIADB, row[0] ? row[0] : "", seq) != 0)
        snprintf(err, errlen, "unexpected GTID position \"%s\"", row[0]);
    else
        rc = 0;
    if (res) mysql_free_result(res);
    return rc;
}

/* The GTID sequence number the consistent snapshot just opened stands at
 * (binlog_snapshot_file/position through BINLOG_GTID_POS, as the reader does). 0, or -1
 * when the server cannot tell (then the positions read around it are used). */
static int my_snapshot_gtid(MYSQL *m, uint64_t *seq)
{
    if (mysql_query(m, "SHOW STATUS LIKE 'binlog_snapshot_%'") != 0) return -1;
    MYSQL_RES *res = mysql_store_result(m);
    if (!res) return -1;
    char file[512] = "", pos[32] = "";
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res))) {
        if (!row[0] || !row[1]) continue;
        if (!strcmp(row[0], "Binlog_snapshot_file")) snprintf(file, sizeof file, "%s", row[1]);
        if (!strcmp(row[0], "Binlog_snapshot_position")) snprintf(pos, sizeof pos, "%s", row[1]);
    }
    mysql_free_result(res);
    if (!file[0] || !pos[0] || strspn(pos, "0123456789") != strlen(pos)) return -1;
    char esc[1100], q[1300];
    mysql_real_escape_string(m, esc, file, strlen(file));
    snprintf(q, sizeof q, "SELECT BINLOG_GTID_POS('%s', %s)", esc, pos);
    if (mysql_query(m, q) != 0 || !(res = mysql_store_result(m))) return -1;
    row = mysql_fetch_row(res);
    int rc = row && row[0] && positions_parse(CONFIG_SOURCE_MARIADB, row[0], seq) == 0 ? 0 : -1;
    mysql_free_result(res);
    return rc;
}

/* `name` with backquotes doubled: an identifier MariaDB reads back unchanged. */
static void my_ident(const char *name, char *out, size_t outlen)
{
    size_t j = 0;
    if (outlen < 3) return;
    out[j++] = '`';
    for (const char *p = name; *p && j + 3 < outlen; p++) {
        if (*p == '`') out[j++] = '`';
        out[j++] = *p;
    }
    out[j++] = '`';
    out[j] = 0;
}

static int my_table(MYSQL *m, const struct config_table *t, snapread_row_cb on_row, void *arg,
                    char *err, size_t errlen)
{
    const char *cols[CONFIG_TABLE_COLUMNS_MAX];
    size_t n = config_table_columns(t, cols);
    char sql[4096], ident[300];
    size_t len = (size_t)snprintf(sql, sizeof sql, "SELECT ");
    for (size_t i = 0; i < n && len < sizeof sql; i++) {
        my_ident(cols[i], ident, sizeof ident);
        len += (size_t)snprintf(sql + len, sizeof sql - len, "%s%s", i ? ", " : "", ident);
    }
    if (len < sizeof sql) {
        my_ident(t->schema, ident, sizeof ident);
        len += (size_t)snprintf(sql + len, sizeof sql - len, " FROM %s.", ident);
    }
    if (len < sizeof sql) {
        my_ident(t->name, ident, sizeof ident);
        len += (size_t)snprintf(sql + len, sizeof sql - len, "%s", ident);
    }
    char what[300];
    snprintf(what, sizeof what, "reading %s.%s", t->schema, t->name);
    if (len >= sizeof sql) {
        snprintf(err, errlen, "%s: names too long", what);
        return -1;
    }
    if (mysql_query(m, sql) != 0) return my_fail(m, what, err, errlen);
    MYSQL_RES *res = mysql_use_result(m); /* streamed, not held in memory */
    if (!res) return my_fail(m, what, err, errlen);
    unsigned nfields = mysql_num_fields(res);
    MYSQL_FIELD *fields = mysql_fetch_fields(res);
    MYSQL_ROW r;
    int rc = 0;
    while ((r = mysql_fetch_row(res))) {
        if (rc != 0) continue; /* read to the end: the connection stays usable */
        unsigned long *lengths = mysql_fetch_lengths(res);
        json_t *row = json_object();
        for (unsigned i = 0; row && i < nfields; i++)
        {
            /* mapped as the reader maps snapshot rows, so both compare equal */
            json_t *v = mysqltext_value(&fields[i], r[i], lengths[i]);
            if (json_object_set_new(row, fields[i].name, v ? v : json_null())) rc = -1;
        }
        if (!row || rc != 0) {
            snprintf(err, errlen, "%s: out of memory", what);
            rc = -1;
        } else if (on_row(arg, t, row) != 0) {
            snprintf(err, errlen, "%s: stopped", what);
            rc = -1;
        }
        json_decref(row);
    }
    if (rc == 0 && mysql_errno(m)) rc = my_fail(m, what, err, errlen);
    mysql_free_result(res);
    return rc;
}

static int my_source(const struct config_source *src, struct snapread_point *point,
                     snapread_table_cb on_table, snapread_row_cb on_row, void *arg, char *err,
                     size_t errlen)
{
    struct my_dsn d;
    point->exact = 0;
    char password[256] = "";
    if (my_parse_dsn(src->dsn, &d, err, errlen) != 0) return -1;
    if (src->password_file &&
        redis_read_password(src->password_file, password, sizeof password, err, errlen) != 0)
        return -1;
    MYSQL *m = mysql_init(NULL);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    unsigned timeout = CONNECT_TIMEOUT_S;
    mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    int rc = -1;
    if (!mysql_real_connect(m, d.host, d.user, password[0] ? password : NULL,
                            d.database[0] ? d.database : NULL, d.port, NULL, 0)) {
        my_fail(m, "cannot connect", err, errlen);
        goto out;
    }
    if (mysql_query(m, "SET SESSION time_zone = '+00:00'") != 0 ||
        mysql_query(m, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ") != 0) {
        my_fail(m, "preparing the session", err, errlen);
        goto out;
    }
    /* the point first, then the snapshot: what the snapshot lacks came after it */
    if (my_gtid(m, &point->before, err, errlen) != 0) goto out;
    if (mysql_query(m, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY") != 0) {
        my_fail(m, "opening a consistent snapshot", err, errlen);
        goto out;
    }
    if (my_gtid(m, &point->after, err, errlen) != 0) goto out;
    /* the binlog position the snapshot stands at, exactly: a transaction already in the
       binlog may not be visible yet (the binlog is written before the engine commits) */
    uint64_t exact;
    if (my_snapshot_gtid(m, &exact) == 0) {
        point->before = point->after = exact;
        point->exact = 1;
    }
    for (size_t i = 0; i < src->ntables; i++) {
        const struct config_table *t = &src->tables[i];
        if (t->defines_crosswalk) continue;
        if (on_table) on_table(arg, t);
        if (my_table(m, t, on_row, arg, err, errlen) != 0) goto out;
    }
    if (mysql_query(m, "COMMIT") != 0) {
        my_fail(m, "closing the snapshot", err, errlen);
        goto out;
    }
    rc = 0;
out:
    memset(password, 0, sizeof password);
    mysql_close(m);
    return rc;
}

int snapread_source(const struct config_source *src, struct snapread_point *point,
                    snapread_table_cb on_table, snapread_row_cb on_row, void *arg, char *err,
                    size_t errlen)
{
    int rc = src->type == CONFIG_SOURCE_POSTGRES
                 ? pg_source(src, point, on_table, on_row, arg, err, errlen)
                 : my_source(src, point, on_table, on_row, arg, err, errlen);
    if (rc != 0) {
        /* name the source in every message */
        char inner[1000];
        snprintf(inner, sizeof inner, "%s", err);
        snprintf(err, errlen, "source %s: %s", src->name, inner);
    }
    return rc;
}
