/* test_redis_rollback — DESIGN §4: "If Redis comes back older than what the sources were
 * told is safe, the affected tables are re-snapshotted automatically." Redis is put back
 * to a copy of its data taken before changes that PostgreSQL has since been told are
 * durable (its slot moved past them, so the stream will never send them again); the
 * restarted reader notices and takes a new snapshot, and Redis ends equal to the
 * source. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "daemon.h"
#include "servers.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NSKUS 200

struct world {
    struct servers_server pg, redis;
    char dir[256], redis_dir[320];
    int redis_port;
};

static struct world W;
static struct daemon D;

static int sql(const char *text)
{
    char err[1024];
    if (servers_pg_exec(&W.pg, "erp", text, err, sizeof err) != 0) {
        fprintf(stderr, "erp: %s\n", err);
        return -1;
    }
    return 0;
}

static int redis_start(void)
{
    char err[1024];
    if (servers_start(&W.redis, SERVERS_REDIS, W.redis_dir, W.redis_port, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    W.redis_port = W.redis.port;
    return 0;
}

/* "on_hand|committed|unavailable" of a location row in Redis, or "(absent)". */
static void redis_row(const char *sku, char *out, size_t outlen)
{
    char err[256];
    char *v = servers_redis_command(&W.redis, err, sizeof err, "HGET sm:{%s} S12", sku);
    snprintf(out, outlen, "%s", v ? v : "(absent)");
    char *bar = strchr(out, '|');
    if (bar) bar = strchr(bar + 1, '|');
    if (bar) bar = strchr(bar + 1, '|');
    if (bar) *bar = 0;
    free(v);
}

static int redis_equals_source(char *why, size_t whylen)
{
    for (int i = 1; i <= NSKUS; i++) {
        char sku[32], q[200], want[64], got[128];
        snprintf(sku, sizeof sku, "SKU-%04d", i);
        snprintf(q, sizeof q, "SELECT on_hand || '|0|0' FROM stock WHERE sku = '%s'", sku);
        char *v = servers_pg_query_value(&W.pg, "erp", q);
        snprintf(want, sizeof want, "%s", v ? v : "?");
        free(v);
        redis_row(sku, got, sizeof got);
        if (strcmp(want, got) != 0) {
            snprintf(why, whylen, "%s: source %s, Redis %s", sku, want, got);
            return 0;
        }
    }
    return 1;
}

static void assert_converges(const char *when, int timeout_s)
{
    double deadline = daemon_now_ms() + timeout_s * 1000.0, t0 = daemon_now_ms();
    char why[256] = "";
    while (daemon_now_ms() < deadline) {
        if (redis_equals_source(why, sizeof why)) {
            printf("%s: Redis equals the source after %.1f s\n", when,
                   (daemon_now_ms() - t0) / 1000);
            return;
        }
        sleep(1);
    }
    daemon_show_log(&D, 40);
    fail_msg("%s: no convergence within %d s: %s", when, timeout_s, why);
}

static int setup(void **state)
{
    (void)state;
    char err[1024];
    if (daemon_workdir_make(W.dir, sizeof W.dir, "rollback") != 0) return -1;
    snprintf(W.redis_dir, sizeof W.redis_dir, "%s/redis", W.dir);
    if (servers_start(&W.pg, SERVERS_POSTGRES, NULL, 0, err, sizeof err) != 0 ||
        redis_start() != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    if (servers_pg_exec(&W.pg, NULL, "CREATE DATABASE erp", err, sizeof err) != 0) return -1;
    char seed[512];
    snprintf(seed, sizeof seed,
             "CREATE TABLE stock (sku text PRIMARY KEY, on_hand int NOT NULL);"
             "INSERT INTO stock SELECT 'SKU-' || lpad(s::text, 4, '0'), s FROM "
             "generate_series(1, %d) s;"
             "CREATE ROLE stockmesh LOGIN REPLICATION;"
             "ALTER TABLE stock OWNER TO stockmesh;"
             "GRANT CREATE ON DATABASE erp TO stockmesh;",
             NSKUS);
    if (sql(seed) != 0) return -1;
    snprintf(D.state_dir, sizeof D.state_dir, "%s/state", W.dir);
    snprintf(D.config_path, sizeof D.config_path, "%s/stockmesh.yaml", W.dir);
    snprintf(D.log_path, sizeof D.log_path, "%s/stockmeshd.log", W.dir);
    D.console_port = servers_free_port();
    D.binary = daemon_binary(0);
    D.roles = "cdc,merge,console";
    FILE *f = fopen(D.config_path, "w");
    fprintf(f,
            "state_dir: %s\n"
            "backbone:\n  brokers: embedded\n  partitions: 2\n"
            "redis:\n  host: 127.0.0.1\n  port: %d\n  persist_delay_ms: 300\n"
            "console:\n  listen: 127.0.0.1:%d\n"
            "sources:\n"
            "  - name: erp\n    type: postgres\n"
            "    dsn: \"host=127.0.0.1 port=%d dbname=erp user=stockmesh\"\n"
            "    heartbeat_ms: 300\n"
            "    tables:\n"
            "      - table: stock\n        sku: sku\n        location_code: S12\n"
            "        on_hand: on_hand\n"
            "locations:\n  - {code: S12, type: store}\n",
            D.state_dir, W.redis_port, D.console_port, W.pg.port);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    daemon_stop(&D, SIGTERM);
    int clean = daemon_log_clean(&D);
    servers_stop(&W.pg);
    servers_stop(&W.redis);
    daemon_workdir_remove(W.dir);
    return clean;
}

static int confirmed_past(const char *lsn)
{
    char q[200];
    snprintf(q, sizeof q,
             "SELECT confirmed_flush_lsn >= '%s' FROM pg_replication_slots WHERE slot_name = "
             "'stockmesh_erp'",
             lsn);
    char *v = servers_pg_query_value(&W.pg, "erp", q);
    int ok = v && strcmp(v, "t") == 0;
    free(v);
    return ok;
}

static void test_redis_restored_from_an_older_copy_is_refilled_by_a_new_snapshot(void **state)
{
    (void)state;
    assert_int_equal(daemon_start(&D), 0);
    assert_converges("initial snapshot", 120);

    /* a copy of Redis as it is now, taken with Redis stopped cleanly */
    daemon_stop(&D, SIGTERM);
    servers_stop(&W.redis);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp -a %s/data %s/data.old", W.redis_dir, W.redis_dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(redis_start(), 0);
    assert_int_equal(daemon_start(&D), 0);

    /* changes that PostgreSQL is then told are safe: the slot moves past them */
    assert_int_equal(sql("UPDATE stock SET on_hand = on_hand + 1000 WHERE sku <= 'SKU-0050'"), 0);
    char *lsn = servers_pg_query_value(&W.pg, "erp", "SELECT pg_current_wal_lsn()::text");
    assert_non_null(lsn);
    assert_converges("after the changes", 60);
    double deadline = daemon_now_ms() + 60000;
    while (!confirmed_past(lsn) && daemon_now_ms() < deadline) usleep(200 * 1000);
    assert_true(confirmed_past(lsn));
    free(lsn);
    daemon_stop(&D, SIGTERM);
    servers_stop(&W.redis);

    /* Redis comes back from the older copy */
    snprintf(cmd, sizeof cmd, "rm -rf %s/data && mv %s/data.old %s/data", W.redis_dir, W.redis_dir,
             W.redis_dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(redis_start(), 0);
    char why[256];
    assert_false(redis_equals_source(why, sizeof why)); /* the changes are gone from Redis */
    assert_int_equal(daemon_start(&D), 0);
    assert_converges("after Redis came back older", 120);

    assert_true(daemon_log_has(&D, "Redis holds less than PostgreSQL was told is safe"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_restored_from_an_older_copy_is_refilled_by_a_new_snapshot),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
