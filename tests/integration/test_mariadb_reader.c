/* test_mariadb_reader — the MariaDB reader against a real server: an initial snapshot
 * taken without a global read lock while writes go on, then the binlog from its GTID;
 * Redis ends equal to the source through a kill -9 of stockmeshd while streaming and a
 * MariaDB crash and restart; a server without ROW binlogs gets an error naming the fix.
 * MARIADB_READER_ROWS (default 20000) sets the table's size. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "daemon.h"
#include "servers.h"
#include "stockmesh/store.h"

#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <mysql.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define NLOCATIONS 20

struct world {
    struct servers_server db, redis;
    char dir[256];
    long rows, skus;
};

static struct world W;

static struct daemon D;

static double now_ms(void)
{
    return daemon_now_ms();
}

static void show_daemon_log(void)
{
    daemon_show_log(&D, 40);
}

static void start_daemon(void)
{
    assert_int_equal(daemon_start(&D), 0);
}

static void stop_daemon(int sig)
{
    daemon_stop(&D, sig);
}

static double metric(const char *name)
{
    return daemon_metric(&D, name);
}

/* A value of the daemon's state database (scope source:erp); NULL when absent. */
static char *state_value(const char *key)
{
    return daemon_state_value(&D, "source:erp", key);
}

static int wait_for(const char *what, int timeout_s, int (*cond)(void))
{
    double deadline = now_ms() + timeout_s * 1000.0;
    while (now_ms() < deadline) {
        if (cond()) return 0;
        usleep(200 * 1000);
    }
    show_daemon_log();
    fail_msg("timed out after %d s waiting for %s", timeout_s, what);
    return -1;
}

static int is_streaming(void)
{
    return metric("stockmesh_cdc_state") == 3;
}

static int snapshot_finished(void)
{
    char *v = state_value("snapshot");
    free(v);
    return v != NULL;
}

static MYSQL *db_connect(void)
{
    MYSQL *m = mysql_init(NULL);
    if (!mysql_real_connect(m, "127.0.0.1", "root", "", "pos", (unsigned)W.db.port, NULL, 0)) {
        mysql_close(m);
        return NULL;
    }
    return m;
}

/* Compares every (sku, location) of the source with the stock layer. */
static int compare(char *why, size_t whylen)
{
    MYSQL *m = db_connect();
    if (!m) {
        snprintf(why, whylen, "cannot connect to MariaDB");
        return -1;
    }
    const char *sql = "SELECT sku, location_code, on_hand, committed, unavailable FROM "
                      "stock_levels ORDER BY sku, location_code";
    MYSQL_RES *res = mysql_real_query(m, sql, strlen(sql)) == 0 ? mysql_store_result(m) : NULL;
    redisContext *rc = redisConnect("127.0.0.1", W.redis.port);
    int ok = res && rc && !rc->err;
    MYSQL_ROW row;
    long n = 0;
    while (ok && (row = mysql_fetch_row(res))) {
        redisReply *reply = redisCommand(rc, "HGET sm:{%s} %s", row[0], row[1]);
        char want[96], got[96] = "(absent)";
        snprintf(want, sizeof want, "%s|%s|%s", row[2], row[3], row[4]);
        if (reply && reply->type == REDIS_REPLY_STRING) {
            snprintf(got, sizeof got, "%s", reply->str);
            /* keep on_hand|committed|unavailable; drop available and flags */
            char *bar = strchr(got, '|');
            if (bar) bar = strchr(bar + 1, '|');
            if (bar) bar = strchr(bar + 1, '|');
            if (bar) *bar = 0;
        }
        freeReplyObject(reply);
        if (strcmp(want, got) != 0) {
            snprintf(why, whylen, "%s at %s: source %s, Redis %s", row[0], row[1], want, got);
            ok = 0;
        }
        n++;
    }
    if (res) mysql_free_result(res);
    if (rc) redisFree(rc);
    mysql_close(m);
    return ok ? 0 : -1;
}

static void assert_converges(const char *when, int timeout_s)
{
    double deadline = now_ms() + timeout_s * 1000.0, t0 = now_ms();
    char why[512] = "";
    while (now_ms() < deadline) {
        if (compare(why, sizeof why) == 0) {
            printf("%s: Redis equals the source after %.1f s\n", when, (now_ms() - t0) / 1000);
            return;
        }
        sleep(1);
    }
    show_daemon_log();
    fail_msg("%s: no convergence within %d s: %s", when, timeout_s, why);
}

struct writer {
    pthread_t thread;
    volatile int stop;
    long done;
    unsigned seed;
};

static struct writer w;

static void *write_load(void *arg)
{
    struct writer *wr = arg;
    MYSQL *m = db_connect();
    while (m && !wr->stop) {
        char sql[320];
        long sku = 1 + (long)(rand_r(&wr->seed) % (unsigned)W.skus);
        int loc = 1 + (int)(rand_r(&wr->seed) % NLOCATIONS);
        if (rand_r(&wr->seed) % 10 == 0)
            snprintf(sql, sizeof sql,
                     "INSERT INTO stock_levels VALUES ('NEW-%06ld', 'L%02d', %d, 0, 0) ON "
                     "DUPLICATE KEY UPDATE on_hand = on_hand + 1",
                     wr->done, loc, (int)(rand_r(&wr->seed) % 50));
        else
            snprintf(sql, sizeof sql,
                     "UPDATE stock_levels SET on_hand = greatest(0, on_hand + %d), committed = "
                     "%d WHERE sku = 'SKU-%06ld' AND location_code = 'L%02d'",
                     (int)(rand_r(&wr->seed) % 9) - 4, (int)(rand_r(&wr->seed) % 5), sku, loc);
        if (mysql_real_query(m, sql, strlen(sql)) != 0) break;
        wr->done++;
        usleep(3000);
    }
    if (m) mysql_close(m);
    return NULL;
}

static void writer_start(unsigned seed)
{
    memset(&w, 0, sizeof w);
    w.seed = seed;
    pthread_create(&w.thread, NULL, write_load, &w);
}

static void writer_stop(void)
{
    w.stop = 1;
    pthread_join(w.thread, NULL);
}

static int setup(void **state)
{
    (void)state;
    char err[1024];
    const char *rows = getenv("MARIADB_READER_ROWS");
    W.rows = rows ? atol(rows) : 60000;
    W.skus = W.rows / NLOCATIONS > 0 ? W.rows / NLOCATIONS : 1;
    W.rows = W.skus * NLOCATIONS;
    snprintf(W.dir, sizeof W.dir, "%s/stockmesh-mariadb-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(W.dir)) return -1;
    if (servers_start(&W.db, SERVERS_MARIADB, NULL, 0, err, sizeof err) != 0 ||
        servers_start(&W.redis, SERVERS_REDIS, NULL, 0, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    char sql[2048];
    snprintf(sql, sizeof sql,
             "CREATE TABLE pos.stock_levels (sku VARCHAR(32) NOT NULL, location_code "
             "VARCHAR(8) NOT NULL, on_hand INT NOT NULL DEFAULT 0, committed INT NOT NULL "
             "DEFAULT 0, unavailable INT NOT NULL DEFAULT 0, PRIMARY KEY (sku, location_code)) "
             "ENGINE=InnoDB;"
             "INSERT INTO pos.stock_levels SELECT CONCAT('SKU-', LPAD(s.seq, 6, '0')), "
             "CONCAT('L', LPAD(l.seq, 2, '0')), (s.seq * 7 + l.seq) %% 500, (s.seq + l.seq) %% 4, "
             "s.seq %% 2 FROM seq_1_to_%ld s CROSS JOIN seq_1_to_%d l;"
             "CREATE USER 'stockmesh'@'127.0.0.1' IDENTIFIED BY 'stockmesh-test';"
             "GRANT SELECT, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO "
             "'stockmesh'@'127.0.0.1';",
             W.skus, NLOCATIONS);
    if (servers_mariadb_exec(&W.db, NULL, "CREATE DATABASE pos", err, sizeof err) != 0 ||
        servers_mariadb_exec(&W.db, "pos", sql, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    snprintf(D.state_dir, sizeof D.state_dir, "%s/state", W.dir);
    snprintf(D.config_path, sizeof D.config_path, "%s/stockmesh.yaml", W.dir);
    snprintf(D.log_path, sizeof D.log_path, "%s/stockmeshd.log", W.dir);
    char pw_path[600];
    snprintf(pw_path, sizeof pw_path, "%s/pos.password", W.dir);
    FILE *f = fopen(pw_path, "w");
    fprintf(f, "stockmesh-test\n");
    fclose(f);
    D.console_port = servers_free_port();
    D.binary = daemon_binary(0); /* the sanitizer build: the reader has threads */
    D.roles = "cdc,merge,console";
    f = fopen(D.config_path, "w");
    fprintf(f,
            "state_dir: %s\n"
            "backbone:\n  brokers: embedded\n"
            "redis:\n  host: 127.0.0.1\n  port: %d\n  persist_delay_ms: 200\n"
            "console:\n  listen: 127.0.0.1:%d\n"
            "sources:\n"
            "  - name: erp\n    type: mariadb\n"
            "    dsn: \"host=127.0.0.1 port=%d user=stockmesh dbname=pos\"\n"
            "    password_file: %s\n    heartbeat_ms: 1000\n"
            "    tables:\n"
            "      - table: pos.stock_levels\n        sku: sku\n        location: "
            "location_code\n"
            "        on_hand: on_hand\n        committed: committed\n        unavailable: "
            "unavailable\n"
            "locations:\n",
            D.state_dir, W.redis.port, D.console_port, W.db.port, pw_path);
    for (int l = 1; l <= NLOCATIONS; l++) fprintf(f, "  - code: L%02d\n    type: store\n", l);
    fprintf(f, "channels:\n"
               "  - name: web\n    url: http://127.0.0.1:9/web\n    secret: not-used-here\n"
               "    location_types: [store]\n");
    fclose(f);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    stop_daemon(SIGTERM);
    int clean = daemon_log_clean(&D);
    servers_stop(&W.db);
    servers_stop(&W.redis);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", W.dir);
    if (getenv("TEST_KEEP")) /* for reading the daemon's log after a failure */
        fprintf(stderr, "kept %s\n", W.dir);
    else if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", W.dir);
    curl_global_cleanup();
    return clean; /* a sanitizer report in any of the daemon's runs fails the group */
}

static int heartbeat_seen(void)
{
    return metric("stockmesh_cdc_heartbeats_total") >= 1;
}

static void test_snapshot_with_writes_converges(void **state)
{
    (void)state;
    writer_start(5);
    start_daemon();
    wait_for("the snapshot to finish", 300, snapshot_finished);
    wait_for("streaming", 60, is_streaming);
    sleep(2);
    writer_stop();
    printf("writer: %ld changes during the snapshot\n", w.done);
    assert_converges("after the snapshot with concurrent writes", 120);
    /* an idle source is told apart from a dead one by the server's heartbeats */
    wait_for("a heartbeat from the idle source", 15, heartbeat_seen);
}

static long confirmed_snapshot_rows(void)
{
    char *v = state_value("snapshot.progress.pos.stock_levels");
    const char *p = v ? strstr(v, "\"rows\":") : NULL;
    long n = p ? atol(p + 7) : 0;
    free(v);
    return n;
}

static long snapshot_cut;
static int snapshot_partly_confirmed(void)
{
    return confirmed_snapshot_rows() >= snapshot_cut;
}

/* A new snapshot (Redis emptied), killed once a fifth is confirmed: the restarted reader
 * reads only the rest, in a consistent snapshot of its own, and still converges. */
static void test_kill_9_during_snapshot_resumes(void **state)
{
    (void)state;
    stop_daemon(SIGTERM);
    char err[256];
    char *ok = servers_redis_command(&W.redis, err, sizeof err, "FLUSHALL");
    free(ok);
    snapshot_cut = W.rows / 5;
    writer_start(9);
    start_daemon();
    wait_for("a fifth of the snapshot confirmed", 300, snapshot_partly_confirmed);
    long cut = confirmed_snapshot_rows();
    stop_daemon(SIGKILL);
    start_daemon();
    wait_for("the resumed snapshot to finish", 300, snapshot_finished);
    double read_after = metric("stockmesh_cdc_snapshot_rows_total");
    printf("killed at %ld confirmed rows; the restarted reader read %.0f of %ld\n", cut,
           read_after, W.rows);
    assert_true(metric("stockmesh_cdc_snapshot_resumes_total") == 1);
    assert_true(read_after <= (double)(W.rows - cut) + 2 * 5000 + (double)w.done);
    sleep(2);
    writer_stop();
    assert_converges("after kill -9 during the snapshot", 120);
}

static void test_kill_9_while_streaming_converges(void **state)
{
    (void)state;
    if (D.pid <= 0) start_daemon();
    wait_for("streaming", 60, is_streaming);
    writer_start(6);
    sleep(2);
    stop_daemon(SIGKILL);
    sleep(1);
    start_daemon();
    sleep(2);
    writer_stop();
    wait_for("streaming again", 60, is_streaming);
    /* it resumed from the confirmed GTID: no new snapshot */
    assert_true(metric("stockmesh_cdc_snapshot_rows_total") == 0);
    assert_converges("after kill -9 while streaming", 120);
}

static void test_mariadb_restart_mid_stream(void **state)
{
    (void)state;
    if (D.pid <= 0) start_daemon();
    wait_for("streaming", 60, is_streaming);
    double errors = metric("stockmesh_cdc_errors_total");
    writer_start(7);
    sleep(2);
    char err[512];
    assert_int_equal(servers_kill(&W.db), 0);
    writer_stop();
    assert_int_equal(servers_start(&W.db, SERVERS_MARIADB, W.db.dir, W.db.port, err, sizeof err),
                     0);
    writer_start(8);
    sleep(2);
    writer_stop();
    wait_for("streaming again", 120, is_streaming);
    assert_true(metric("stockmesh_cdc_errors_total") > errors);
    assert_converges("after MariaDB was killed and restarted", 120);
}

static int error_names_binlog_format(void)
{
    char *v = state_value("status");
    int found = v && strstr(v, "binlog_format=STATEMENT") && strstr(v, "binlog_format=ROW");
    free(v);
    return found;
}

static int error_names_grant(void)
{
    char *v = state_value("status");
    int found = v && strstr(v, "REPLICATION SLAVE") && strstr(v, "GRANT");
    free(v);
    return found;
}

/* A user without the replication grant: the error says which GRANT to run. */
static void test_missing_grant_names_the_fix(void **state)
{
    (void)state;
    stop_daemon(SIGTERM);
    char err[512];
    assert_int_equal(servers_mariadb_exec(&W.db, NULL,
                                          "CREATE USER 'plain'@'127.0.0.1' IDENTIFIED BY "
                                          "'stockmesh-test'; GRANT SELECT ON *.* TO "
                                          "'plain'@'127.0.0.1'",
                                          err, sizeof err),
                     0);
    /* the same configuration with that user and a state directory of its own */
    char alt_config[400], cmd[2000];
    snprintf(alt_config, sizeof alt_config, "%s/plain.yaml", W.dir);
    snprintf(cmd, sizeof cmd, "sed -e 's/user=stockmesh/user=plain/' -e 's|^state_dir: .*|state_dir: %s/state-plain|' %s > %s",
             W.dir, D.config_path, alt_config);
    assert_int_equal(system(cmd), 0);
    struct daemon saved = D;
    snprintf(D.config_path, sizeof D.config_path, "%s", alt_config);
    snprintf(D.state_dir, sizeof D.state_dir, "%s/state-plain", W.dir);
    start_daemon();
    wait_for("an error naming the grant", 60, error_names_grant);
    stop_daemon(SIGTERM);
    D = saved;
}

static void test_statement_binlog_names_the_fix(void **state)
{
    (void)state;
    stop_daemon(SIGTERM);
    char err[512];
    assert_int_equal(servers_mariadb_exec(&W.db, NULL, "SET GLOBAL binlog_format = 'STATEMENT'",
                                          err, sizeof err),
                     0);
    start_daemon();
    wait_for("an error naming binlog_format", 60, error_names_binlog_format);
    stop_daemon(SIGTERM);
    assert_int_equal(servers_mariadb_exec(&W.db, NULL, "SET GLOBAL binlog_format = 'ROW'", err,
                                          sizeof err),
                     0);
}

static int compatible_seen(void)
{
    return metric("stockmesh_cdc_schema_changes_total{verdict=\"compatible\"}") >= 1;
}

static int parked_seen(void)
{
    return metric("stockmesh_cdc_tables_parked") == 1;
}

static int reread_done(void)
{
    char *v = state_value("status");
    int ok = v && !strstr(v, "\"parked\"") && !strstr(v, "\"queued\"") &&
             !strstr(v, "\"state\":\"snapshot\"") && !strstr(v, "\"kind\":\"requested\"");
    free(v);
    return ok && metric("stockmesh_cdc_tables_parked") == 0;
}

/* The shape comes with every table map: an added column is propagated; a mapped column
 * renamed parks the table, and its changes wait instead of being mis-mapped. */
static void test_schema_changes(void **state)
{
    (void)state;
    if (D.pid <= 0) start_daemon();
    wait_for("streaming", 60, is_streaming);
    char err[512];
    assert_int_equal(servers_mariadb_exec(&W.db, "pos",
                                          "ALTER TABLE stock_levels ADD COLUMN bin VARCHAR(8);"
                                          "UPDATE stock_levels SET on_hand = on_hand + 1, bin = "
                                          "'A1' WHERE sku = 'SKU-000001' AND location_code = 'L01'",
                                          err, sizeof err),
                     0);
    wait_for("a compatible schema change", 60, compatible_seen);
    assert_converges("after a compatible schema change", 60);
    /* a restart after the DDL decodes the new shape from the table maps alone */
    stop_daemon(SIGTERM);
    assert_int_equal(servers_mariadb_exec(&W.db, "pos",
                                          "UPDATE stock_levels SET on_hand = on_hand + 2, bin = "
                                          "'B2' WHERE sku = 'SKU-000003' AND location_code = 'L03'",
                                          err, sizeof err),
                     0);
    start_daemon();
    wait_for("streaming after the restart", 60, is_streaming);
    assert_converges("after a restart following the DDL", 60);
    assert_int_equal(servers_mariadb_exec(&W.db, "pos",
                                          "ALTER TABLE stock_levels CHANGE committed reserved INT "
                                          "NOT NULL DEFAULT 0;"
                                          "UPDATE stock_levels SET on_hand = 7777 WHERE sku = "
                                          "'SKU-000002' AND location_code = 'L02'",
                                          err, sizeof err),
                     0);
    wait_for("the table parked", 60, parked_seen);
    char *status = state_value("status");
    assert_non_null(status);
    assert_non_null(strstr(status, "\"parked\""));
    assert_non_null(strstr(status, "committed"));
    free(status);
    sleep(1);
    char *v = servers_redis_command(&W.redis, err, sizeof err, "HGET sm:{SKU-000002} L02");
    assert_non_null(v);
    assert_true(strncmp(v, "7777|", 5) != 0); /* parked: the change waits */
    free(v);

    /* fixed at the source; `stockmesh snapshot` re-reads the table while writes go on */
    assert_int_equal(servers_mariadb_exec(&W.db, "pos",
                                          "ALTER TABLE stock_levels CHANGE reserved committed INT "
                                          "NOT NULL DEFAULT 0",
                                          err, sizeof err),
                     0);
    writer_start(10);
    const char *cli = getenv("STOCKMESH");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s -c %s snapshot erp pos.stock_levels >/dev/null 2>&1",
             cli ? cli : "build/asan/stockmesh", D.config_path);
    assert_int_equal(system(cmd), 0);
    wait_for("the table re-read and un-parked", 300, reread_done);
    writer_stop();
    assert_converges("after the parked table was fixed and re-read", 120);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_with_writes_converges),
        cmocka_unit_test(test_kill_9_while_streaming_converges),
        cmocka_unit_test(test_kill_9_during_snapshot_resumes),
        cmocka_unit_test(test_mariadb_restart_mid_stream),
        cmocka_unit_test(test_statement_binlog_names_the_fix),
        cmocka_unit_test(test_missing_grant_names_the_fix),
        cmocka_unit_test(test_schema_changes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
