/* test_mariadb_types — the change-event envelope carries the right JSON for the MariaDB
 * types a retailer's tables use, and the same JSON for a row read by the snapshot (text
 * protocol) as for the same row read from the binlog: one row is written before
 * stockmeshd starts (op "r"), the same values again after it streams (op "c").
 * Real MariaDB and Redis; the events are read from the daemon's embedded backbone. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "daemon.h"
#include "servers.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOPIC "stockmesh.pos.pos.typed"
#define TOPIC2 "stockmesh.pos.pos.typed2"

struct world {
    struct servers_server db, redis;
    char dir[256];
    struct daemon d;
};

static struct world W;

static const char *const COLUMNS =
    "(id INT PRIMARY KEY, c_tiny TINYINT, c_small_u SMALLINT UNSIGNED, c_int INT, "
    "c_big BIGINT, c_big_u BIGINT UNSIGNED, c_dec DECIMAL(12,2), c_dec_wide DECIMAL(30,10), "
    "c_float FLOAT, c_double DOUBLE, c_varchar VARCHAR(64), c_text TEXT, c_date DATE, "
    "c_datetime DATETIME(3), c_ts TIMESTAMP(6) NULL DEFAULT NULL, c_time TIME(2), c_year YEAR, "
    "c_bit BIT(8), c_bin VARBINARY(8), c_null_int INT, c_json JSON, c_double_long DOUBLE, c_char CHAR(4), c_enum ENUM('a','b','c'), "
    "c_set SET('x','y','z'), sku VARCHAR(32), loc VARCHAR(8), "
    "qty INT)";

static const char *const VALUES =
    "-5, 65535, -2147483648, 9223372036854775807, 18446744073709551615, 19.99, "
    "12345678901234567890.1234567890, 0.5, 2.25, 'h\xc3\xa9llo', 'plain text', '2026-11-24', "
    "'2026-11-24 10:00:00.123', '2026-11-24 10:00:00.654321', '-01:02:03.45', 2026, b'10100101', "
    "0x0102, NULL, '{\"a\": 1, \"b\": [true, \"x\"]}', 0.1 + 0.2, 'L01', 'b', 'x,z', 'SKU-1', 'L01', 7";

/* What every row's "after" holds besides its id. */
static const char *const EXPECTED =
    "{\"c_tiny\": -5, \"c_small_u\": 65535, \"c_int\": -2147483648, "
    "\"c_big\": 9223372036854775807, \"c_big_u\": \"18446744073709551615\", \"c_dec\": 19.99, "
    "\"c_dec_wide\": \"12345678901234567890.1234567890\", \"c_float\": 0.5, \"c_double\": 2.25, "
    "\"c_varchar\": \"h\\u00e9llo\", \"c_text\": \"plain text\", \"c_date\": \"2026-11-24\", "
    "\"c_datetime\": \"2026-11-24T10:00:00.123\", \"c_ts\": \"2026-11-24T10:00:00.654321Z\", "
    "\"c_time\": \"-01:02:03.45\", \"c_year\": 2026, \"c_bit\": 165, \"c_bin\": \"AQI=\", "
    "\"c_null_int\": null, \"c_json\": {\"a\": 1, \"b\": [true, \"x\"]}, "
    "\"c_double_long\": 0.3, \"c_char\": \"L01\", \"c_enum\": \"b\", "
    "\"c_set\": [\"x\", \"z\"], \"sku\": \"SKU-1\", \"loc\": \"L01\", \"qty\": 7}";

static void insert_row(const char *table, int id)
{
    char sql[1400], err[512];
    snprintf(sql, sizeof sql, "INSERT INTO %s VALUES (%d, %s)", table, id, VALUES);
    if (servers_mariadb_exec(&W.db, "pos", sql, err, sizeof err) != 0) fail_msg("%s", err);
}

/* The "after" of the event with this op and id, or NULL. */
static json_t *find_after(const char *contents, char op, int id)
{
    json_t *found = NULL;
    for (const char *line = contents; line && *line && !found;) {
        const char *nl = strchr(line, '\n');
        json_t *ev = json_loadb(line, nl ? (size_t)(nl - line) : strlen(line), 0, NULL);
        const char *evop = json_string_value(json_object_get(ev, "op"));
        json_t *after = json_object_get(ev, "after");
        if (evop && evop[0] == op && json_integer_value(json_object_get(after, "id")) == id)
            found = json_incref(after);
        json_decref(ev);
        line = nl ? nl + 1 : NULL;
    }
    return found;
}

static json_t *wait_after(const char *topic, char op, int id)
{
    double deadline = daemon_now_ms() + 30000;
    while (daemon_now_ms() < deadline) {
        char *contents = daemon_topic_contents(&W.d, topic);
        json_t *after = contents ? find_after(contents, op, id) : NULL;
        free(contents);
        if (after) return after;
        usleep(300 * 1000);
    }
    daemon_show_log(&W.d, 30);
    fail_msg("no event op=%c id=%d on %s", op, id, topic);
    return NULL;
}

static void assert_expected(json_t *after, int id)
{
    json_t *want = json_loads(EXPECTED, 0, NULL);
    assert_non_null(want);
    json_object_set_new(want, "id", json_integer(id));
    char *got_text = json_dumps(after, JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
    char *want_text = json_dumps(want, JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
    if (!json_equal(after, want)) fail_msg("after\n  got  %s\n  want %s", got_text, want_text);
    free(got_text);
    free(want_text);
    json_decref(want);
}

static int setup(void **state)
{
    (void)state;
    char err[1024];
    snprintf(W.dir, sizeof W.dir, "%s/stockmesh-mdtypes-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(W.dir)) return -1;
    if (servers_start(&W.db, SERVERS_MARIADB, NULL, 0, err, sizeof err) != 0 ||
        servers_start(&W.redis, SERVERS_REDIS, NULL, 0, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    char sql[2800];
    snprintf(sql, sizeof sql, "CREATE TABLE typed %s; CREATE TABLE typed2 %s", COLUMNS, COLUMNS);
    if (servers_mariadb_exec(&W.db, NULL, "CREATE DATABASE pos", err, sizeof err) != 0 ||
        servers_mariadb_exec(&W.db, "pos", sql, err, sizeof err) != 0 ||
        servers_mariadb_exec(&W.db, NULL,
                             "CREATE USER 'stockmesh'@'127.0.0.1';"
                             "GRANT SELECT, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO "
                             "'stockmesh'@'127.0.0.1'",
                             err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    snprintf(W.d.state_dir, sizeof W.d.state_dir, "%s/state", W.dir);
    snprintf(W.d.config_path, sizeof W.d.config_path, "%s/stockmesh.yaml", W.dir);
    snprintf(W.d.log_path, sizeof W.d.log_path, "%s/stockmeshd.log", W.dir);
    W.d.console_port = servers_free_port();
    W.d.binary = daemon_binary(0);
    W.d.roles = "cdc,console";
    FILE *f = fopen(W.d.config_path, "w");
    fprintf(f,
            "state_dir: %s\n"
            "backbone:\n  brokers: embedded\n  partitions: 1\n"
            "redis:\n  host: 127.0.0.1\n  port: %d\n"
            "console:\n  listen: 127.0.0.1:%d\n"
            "sources:\n"
            "  - name: pos\n    type: mariadb\n"
            "    dsn: \"host=127.0.0.1 port=%d user=stockmesh dbname=pos\"\n"
            "    snapshot_parallel: 2\n"
            "    tables:\n"
            "      - table: pos.typed\n        sku: sku\n        location: loc\n"
            "        on_hand: qty\n"
            "      - table: pos.typed2\n        sku: sku\n        location: loc\n"
            "        on_hand: qty\n"
            "locations:\n  - code: L01\n    type: store\n"
            "channels:\n  - name: web\n    url: http://127.0.0.1:9/web\n    secret: x\n"
            "    location_types: [store]\n",
            W.d.state_dir, W.redis.port, W.d.console_port, W.db.port);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    daemon_stop(&W.d, SIGTERM);
    int clean = daemon_log_clean(&W.d);
    servers_stop(&W.db);
    servers_stop(&W.redis);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", W.dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", W.dir);
    return clean;
}

static void test_snapshot_and_binlog_rows_map_alike(void **state)
{
    (void)state;
    insert_row("typed", 1);
    insert_row("typed2", 1);
    assert_int_equal(daemon_start(&W.d), 0);
    /* two tables, two snapshot workers, each in a consistent snapshot of its own */
    json_t *snap = wait_after(TOPIC, 'r', 1);
    assert_expected(snap, 1);
    json_t *snap2 = wait_after(TOPIC2, 'r', 1);
    assert_expected(snap2, 1);
    insert_row("typed", 2);
    json_t *streamed = wait_after(TOPIC, 'c', 2);
    assert_expected(streamed, 2);
    json_decref(snap);
    json_decref(snap2);
    json_decref(streamed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_and_binlog_rows_map_alike),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
