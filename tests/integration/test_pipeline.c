/* test_pipeline — the whole slice against real servers: a stock change committed in
 * PostgreSQL reaches a webhook channel with a valid signature; kill -9 of stockmeshd
 * mid-stream loses nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "receiver.h"
#include "servers.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NSKUS 40
#define SECRET "pipeline-test-secret"

struct world {
    struct servers_server pg, redis;
    struct receiver *receiver;
    char dir[256];
    char config_path[512];
    char log_path[512];
    pid_t daemon;
};

static struct world W;

static double now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return tv.tv_sec * 1000.0 + tv.tv_usec / 1000.0;
}

static void show_daemon_log(void)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "tail -n 40 %s >&2", W.log_path);
    if (system(cmd) != 0) fprintf(stderr, "(no daemon log)\n");
}

static void start_daemon(void)
{
    const char *bin = getenv("STOCKMESHD");
    char *const argv[] = {(char *)(bin ? bin : "build/asan/stockmeshd"), "-c", W.config_path,
                          NULL};
    W.daemon = servers_spawn(argv, W.log_path);
    assert_true(W.daemon > 0);
}

static void kill_daemon(int sig)
{
    if (W.daemon <= 0) return;
    kill(W.daemon, sig);
    int status;
    waitpid(W.daemon, &status, 0);
    W.daemon = 0;
}

static const char *const LOCATIONS[] = {"WH1", "S12", "S14"};

/* The web channel's availability computed from the source by SQL: warehouse WH1
 * plus ship-from-store S12 (safety stock 2), each clamped at 0 before summing. */
static long long truth_web(const char *sku)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(sum(greatest(0, on_hand - committed - unavailable - CASE "
             "location_code WHEN 'S12' THEN 2 ELSE 0 END)), 0) FROM stock_levels WHERE sku = "
             "'%s' AND location_code IN ('WH1', 'S12')",
             sku);
    char *v = servers_pg_query_value(&W.pg, "retail", sql);
    assert_non_null(v);
    long long n = atoll(v);
    free(v);
    return n;
}

static long long redis_web(const char *sku)
{
    char err[256];
    char *v = servers_redis_command(&W.redis, err, sizeof err, "HGET sm:{%s}:c web", sku);
    if (!v) return -1;
    long long sum, avail, ver;
    int ok = sscanf(v, "%lld|%lld|%lld", &sum, &avail, &ver) == 3;
    free(v);
    return ok ? avail : -1;
}

static void sku_name(char out[32], int i) { snprintf(out, 32, "SKU-%05d", i); }

static int setup(void **state)
{
    (void)state;
    char err[1024];
    snprintf(W.dir, sizeof W.dir, "%s/stockmesh-pipeline-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(W.dir)) return -1;
    if (servers_start(&W.pg, SERVERS_POSTGRES, NULL, 0, err, sizeof err) != 0 ||
        servers_start(&W.redis, SERVERS_REDIS, NULL, 0, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    if (servers_pg_exec(&W.pg, NULL, "CREATE DATABASE retail", err, sizeof err) != 0) return -1;
    char sql[2048];
    snprintf(sql, sizeof sql,
             "CREATE TABLE stock_levels (sku text NOT NULL, location_code text NOT NULL, "
             "on_hand integer NOT NULL DEFAULT 0, committed integer NOT NULL DEFAULT 0, "
             "unavailable integer NOT NULL DEFAULT 0, PRIMARY KEY (sku, location_code));"
             "INSERT INTO stock_levels SELECT 'SKU-' || lpad(s::text, 5, '0'), l, 10 + s, "
             "s %% 3, 0 FROM generate_series(1, %d) s, unnest(ARRAY['WH1','S12','S14']) l;"
             "CREATE ROLE stockmesh LOGIN REPLICATION;"
             "ALTER TABLE stock_levels OWNER TO stockmesh;"
             "GRANT CREATE ON DATABASE retail TO stockmesh;",
             NSKUS);
    if (servers_pg_exec(&W.pg, "retail", sql, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    W.receiver = receiver_new(SECRET, 0, err, sizeof err);
    if (!W.receiver) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    char secret_path[400];
    snprintf(secret_path, sizeof secret_path, "%s/secret", W.dir);
    FILE *f = fopen(secret_path, "w");
    fprintf(f, "%s\n", SECRET);
    fclose(f);
    snprintf(W.config_path, sizeof W.config_path, "%s/stockmesh.yaml", W.dir);
    snprintf(W.log_path, sizeof W.log_path, "%s/stockmeshd.log", W.dir);
    f = fopen(W.config_path, "w");
    fprintf(f,
            "state_dir: %s/state\n"
            "log:\n  level: info\n"
            /* a window smaller than the snapshot (120 rows) and than the load: reading
               must go on as changes are applied, not stall until they are confirmed */
            "backbone:\n  brokers: embedded\n  window: 100\n"
            "redis:\n  host: 127.0.0.1\n  port: %d\n  persist_delay_ms: 200\n"
            "console:\n  listen: 127.0.0.1:%d\n"
            "sources:\n"
            "  - name: erp\n    type: postgres\n"
            "    dsn: \"host=127.0.0.1 port=%d dbname=retail user=stockmesh\"\n"
            "    tables:\n"
            "      - table: public.stock_levels\n        sku: sku\n        location: "
            "location_code\n"
            "        on_hand: on_hand\n        committed: committed\n        unavailable: "
            "unavailable\n"
            "locations:\n"
            "  - code: WH1\n    type: warehouse\n    tags: [ship]\n"
            "  - code: S12\n    type: store\n    tags: [ship-from-store, pickup]\n    "
            "safety_stock: 2\n"
            "  - code: S14\n    type: store\n    tags: [pickup]\n    safety_stock: 1\n"
            "channels:\n"
            "  - name: web\n    url: http://127.0.0.1:%d/web\n    secret_file: %s\n"
            "    location_types: [warehouse]\n    location_tags: [ship-from-store]\n"
            "authority:\n  - location_type: warehouse\n    source: erp\n"
            "  - location_type: store\n    source: erp\n",
            W.dir, W.redis.port, servers_free_port(), W.pg.port, receiver_port(W.receiver),
            secret_path);
    fclose(f);
    start_daemon();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kill_daemon(SIGTERM);
    receiver_free(W.receiver);
    servers_stop(&W.pg);
    servers_stop(&W.redis);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", W.dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", W.dir);
    return 0;
}

/* Waits until Redis and the receiver agree with the SQL truth for every SKU. */
static int converged(int timeout_ms, char *why, size_t whylen)
{
    double deadline = now_ms() + timeout_ms;
    for (;;) {
        int bad = 0;
        for (int i = 1; i <= NSKUS && !bad; i++) {
            char sku[32];
            sku_name(sku, i);
            long long truth = truth_web(sku), got = redis_web(sku), seen = -1, version;
            if (receiver_get(W.receiver, "web", sku, &seen, &version) != 0) seen = -1;
            if (got != truth || seen != truth) {
                snprintf(why, whylen, "%s: source says %lld, Redis %lld, channel %lld", sku,
                         truth, got, seen);
                bad = 1;
            }
        }
        if (!bad) return 0;
        if (now_ms() > deadline) return -1;
        usleep(200 * 1000);
    }
}

static void test_snapshot_reaches_the_channel(void **state)
{
    (void)state;
    char why[256];
    if (converged(90000, why, sizeof why) != 0) {
        show_daemon_log();
        fail_msg("initial snapshot did not converge: %s", why);
    }
    struct receiver_stats st;
    receiver_stats(W.receiver, &st);
    assert_int_equal(st.rejected_signature, 0);
}

static void test_update_reaches_the_channel_signed(void **state)
{
    (void)state;
    char err[512];
    long long before = truth_web("SKU-00007");
    assert_int_equal(servers_pg_exec(&W.pg, "retail",
                                     "UPDATE stock_levels SET on_hand = on_hand + 25 WHERE sku = "
                                     "'SKU-00007' AND location_code = 'WH1'",
                                     err, sizeof err),
                     0);
    long long expected = truth_web("SKU-00007");
    assert_int_equal(expected, before + 25);
    if (receiver_wait_value(W.receiver, "web", "SKU-00007", expected, 10000) != 0) {
        show_daemon_log();
        fail_msg("the channel never saw SKU-00007 = %lld", expected);
    }
    double received;
    assert_int_equal(receiver_received_ms(W.receiver, "web", "SKU-00007", &received), 0);
    /* the receiver measured ts_ms (the source commit time) → receipt */
    double lat[4096];
    size_t n = receiver_latencies(W.receiver, lat, 4096);
    assert_true(n > 0);
    printf("commit -> channel receipt latency for the UPDATE: %.1f ms\n", lat[n - 1]);
    struct receiver_stats st;
    receiver_stats(W.receiver, &st);
    assert_int_equal(st.rejected_signature, 0);
    assert_int_equal(st.rejected_stale_ts, 0);
    /* the counters of /metrics show the way it took */
    assert_true(redis_web("SKU-00007") == expected);
}

struct writer {
    int port;
    int updates;
    int done;
};

static void *write_load(void *arg)
{
    struct writer *w = arg;
    char conninfo[128];
    snprintf(conninfo, sizeof conninfo, "host=127.0.0.1 port=%d dbname=retail user=postgres",
             w->port);
    PGconn *c = PQconnectdb(conninfo);
    unsigned seed = 42;
    for (int i = 0; i < w->updates && PQstatus(c) == CONNECTION_OK; i++) {
        char sql[256];
        int sku = 1 + (int)(rand_r(&seed) % NSKUS);
        const char *loc = LOCATIONS[rand_r(&seed) % 3];
        int delta = (int)(rand_r(&seed) % 7) - 4;
        snprintf(sql, sizeof sql,
                 "UPDATE stock_levels SET on_hand = greatest(0, on_hand + %d), committed = %d "
                 "WHERE sku = 'SKU-%05d' AND location_code = '%s'",
                 delta, (int)(rand_r(&seed) % 4), sku, loc);
        PQclear(PQexec(c, sql));
        if (i % 50 == 0) usleep(20 * 1000);
    }
    PQfinish(c);
    w->done = 1;
    return NULL;
}

static void test_kill_9_mid_stream_loses_nothing(void **state)
{
    (void)state;
    struct writer w = {.port = W.pg.port, .updates = 3000};
    pthread_t t;
    pthread_create(&t, NULL, write_load, &w);
    usleep(700 * 1000);
    kill_daemon(SIGKILL);
    usleep(300 * 1000);
    start_daemon();
    usleep(1500 * 1000);
    kill_daemon(SIGKILL); /* and once more, while it catches up */
    start_daemon();
    pthread_join(t, NULL);
    char why[256];
    if (converged(120000, why, sizeof why) != 0) {
        show_daemon_log();
        fail_msg("after kill -9 the pipeline did not converge: %s", why);
    }
    struct receiver_stats st;
    receiver_stats(W.receiver, &st);
    assert_int_equal(st.rejected_signature, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_reaches_the_channel),
        cmocka_unit_test(test_update_reaches_the_channel_signed),
        cmocka_unit_test(test_kill_9_mid_stream_loses_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
