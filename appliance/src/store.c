/* store.c — see store.h. */
#include "stockmesh/store.h"

#include "stockmesh/embedded.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

struct store {
    sqlite3 *db;
    sqlite3_stmt *get, *set, *del;
    char errstr[512];
};

static const char *const migrations[] = {
    embedded_sql_001_initial,
    embedded_sql_002_alerts,
};
#define NMIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

int store_schema_latest(void) { return NMIGRATIONS; }

static long long now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static int exec(struct store *s, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(s->errstr, sizeof s->errstr, "%s", msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

int store_schema_version(struct store *s)
{
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) return -1;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int migrate(struct store *s)
{
    int v = store_schema_version(s);
    if (v < 0) {
        snprintf(s->errstr, sizeof s->errstr, "cannot read the schema version: %s",
                 sqlite3_errmsg(s->db));
        return -1;
    }
    if (v > NMIGRATIONS) {
        snprintf(s->errstr, sizeof s->errstr,
                 "state database is at schema %d, newer than this build knows (%d); refusing "
                 "to touch it",
                 v, NMIGRATIONS);
        return -1;
    }
    for (int i = v; i < NMIGRATIONS; i++) {
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d", i + 1);
        if (exec(s, "BEGIN IMMEDIATE") != 0) return -1;
        if (exec(s, migrations[i]) != 0 || exec(s, bump) != 0) {
            char why[400];
            snprintf(why, sizeof why, "%.*s", (int)sizeof why - 1, s->errstr);
            exec(s, "ROLLBACK");
            snprintf(s->errstr, sizeof s->errstr, "migration %03d failed: %s", i + 1, why);
            return -1;
        }
        if (exec(s, "COMMIT") != 0) return -1;
    }
    return 0;
}

struct store *store_new(const char *path, char *err, size_t errlen)
{
    struct store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        snprintf(err, errlen, "cannot open state database %s: %s", path,
                 s->db ? sqlite3_errmsg(s->db) : "out of memory");
        store_free(s);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, 5000);
    /* refuse a newer database before changing anything in it, journal mode included */
    if (store_schema_version(s) > NMIGRATIONS ||
        exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON") != 0 ||
        migrate(s) != 0) {
        if (store_schema_version(s) > NMIGRATIONS) migrate(s); /* only to word the refusal */
        snprintf(err, errlen, "%s: %s", path, s->errstr);
        store_free(s);
        return NULL;
    }
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM state WHERE scope = ?1 AND key = ?2", -1,
                           &s->get, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "INSERT INTO state (scope, key, value, updated_ms) VALUES (?1, ?2, "
                           "?3, ?4) ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value, "
                           "updated_ms = excluded.updated_ms",
                           -1, &s->set, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "DELETE FROM state WHERE scope = ?1 AND key = ?2", -1, &s->del,
                           NULL) != SQLITE_OK) {
        snprintf(err, errlen, "state database %s: %s", path, sqlite3_errmsg(s->db));
        store_free(s);
        return NULL;
    }
    return s;
}

void store_free(struct store *s)
{
    if (!s) return;
    sqlite3_finalize(s->get);
    sqlite3_finalize(s->set);
    sqlite3_finalize(s->del);
    sqlite3_close(s->db);
    free(s);
}

int store_get(struct store *s, const char *scope, const char *key, char *out, size_t outlen)
{
    sqlite3_reset(s->get);
    sqlite3_bind_text(s->get, 1, scope, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->get, 2, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s->get);
    if (rc == SQLITE_ROW) {
        snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(s->get, 0));
        sqlite3_reset(s->get);
        return 0;
    }
    sqlite3_reset(s->get);
    if (rc == SQLITE_DONE) return 1;
    snprintf(s->errstr, sizeof s->errstr, "%s", sqlite3_errmsg(s->db));
    return -1;
}

int store_set(struct store *s, const char *scope, const char *key, const char *value)
{
    sqlite3_reset(s->set);
    sqlite3_bind_text(s->set, 1, scope, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->set, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->set, 3, value, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->set, 4, now_ms());
    int rc = sqlite3_step(s->set);
    sqlite3_reset(s->set);
    if (rc == SQLITE_DONE) return 0;
    snprintf(s->errstr, sizeof s->errstr, "%s", sqlite3_errmsg(s->db));
    return -1;
}

int store_delete(struct store *s, const char *scope, const char *key)
{
    sqlite3_reset(s->del);
    sqlite3_bind_text(s->del, 1, scope, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->del, 2, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s->del);
    sqlite3_reset(s->del);
    if (rc == SQLITE_DONE) return 0;
    snprintf(s->errstr, sizeof s->errstr, "%s", sqlite3_errmsg(s->db));
    return -1;
}

const char *store_errstr(const struct store *s) { return s->errstr; }

struct sqlite3 *store_db(struct store *s) { return s->db; }
