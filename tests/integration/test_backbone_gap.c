/* test_backbone_gap — DESIGN §4: the embedded backbone keeps about 5 MB per partition;
 * "a consumer that still finds its offset gone makes the readers rewind to their
 * confirmed positions". The merge runs as its own process and is frozen (SIGSTOP)
 * while the source writes far more than the backbone keeps, with the in-flight window
 * opened wide so nothing holds the reader back. When the merge thaws, its offsets are
 * gone: it notices the gap, the reader reads again from its last confirmed position,
 * and Redis ends equal to the source. */
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

#define NSKUS 2000
#define ROUNDS 12 /* updates of every row while the merge is frozen: ~24k events */

struct world {
    struct servers_server pg, redis;
    char dir[256];
};

static struct world W;
static struct daemon READER, MERGE;

static int sql(const char *text)
{
    char err[1024];
    if (servers_pg_exec(&W.pg, "erp", text, err, sizeof err) != 0) {
        fprintf(stderr, "erp: %s\n", err);
        return -1;
    }
    return 0;
}

static int redis_equals_source(char *why, size_t whylen)
{
    char *want = servers_pg_query_value(&W.pg, "erp", "SELECT sum(on_hand) FROM stock");
    char err[256];
    /* the channel's sum over every SKU would need a scan; sample rows instead */
    int ok = want != NULL;
    for (int i = 1; ok && i <= NSKUS; i += 97) {
        char q[200], sku[32];
        snprintf(sku, sizeof sku, "SKU-%05d", i);
        snprintf(q, sizeof q, "SELECT on_hand FROM stock WHERE sku = '%s'", sku);
        char *v = servers_pg_query_value(&W.pg, "erp", q);
        char *r = servers_redis_command(&W.redis, err, sizeof err, "HGET sm:{%s} S12", sku);
        char got[64] = "(absent)";
        if (r) {
            snprintf(got, sizeof got, "%s", r);
            char *bar = strchr(got, '|');
            if (bar) *bar = 0;
        }
        if (!v || strcmp(v, got) != 0) {
            snprintf(why, whylen, "%s: source %s, Redis %s", sku, v ? v : "?", got);
            ok = 0;
        }
        free(v);
        free(r);
    }
    free(want);
    return ok;
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
    daemon_show_log(&READER, 30);
    daemon_show_log(&MERGE, 30);
    fail_msg("%s: no convergence within %d s: %s", when, timeout_s, why);
}

static int setup(void **state)
{
    (void)state;
    char err[1024];
    if (daemon_workdir_make(W.dir, sizeof W.dir, "gap") != 0) return -1;
    if (servers_start(&W.pg, SERVERS_POSTGRES, NULL, 0, err, sizeof err) != 0 ||
        servers_start(&W.redis, SERVERS_REDIS, NULL, 0, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    if (servers_pg_exec(&W.pg, NULL, "CREATE DATABASE erp", err, sizeof err) != 0) return -1;
    char seed[600];
    /* a wide filler column makes each event big, so the backbone's few MB fill fast */
    snprintf(seed, sizeof seed,
             "CREATE TABLE stock (sku text PRIMARY KEY, on_hand int NOT NULL, note text);"
             "INSERT INTO stock SELECT 'SKU-' || lpad(s::text, 5, '0'), s, repeat('x', 300) "
             "FROM generate_series(1, %d) s;"
             "CREATE ROLE stockmesh LOGIN REPLICATION;"
             "ALTER TABLE stock OWNER TO stockmesh;"
             "GRANT CREATE ON DATABASE erp TO stockmesh;",
             NSKUS);
    if (sql(seed) != 0) return -1;
    struct daemon *both[] = {&READER, &MERGE};
    for (int i = 0; i < 2; i++) {
        snprintf(both[i]->state_dir, sizeof both[i]->state_dir, "%s/state", W.dir);
        snprintf(both[i]->config_path, sizeof both[i]->config_path, "%s/stockmesh.yaml", W.dir);
        snprintf(both[i]->log_path, sizeof both[i]->log_path, "%s/%s.log", W.dir,
                 i ? "merge" : "reader");
        both[i]->binary = daemon_binary(0);
    }
    READER.console_port = servers_free_port();
    READER.roles = "cdc,console";
    MERGE.roles = "merge";
    FILE *f = fopen(READER.config_path, "w");
    fprintf(f,
            "state_dir: %s/state\n"
            "backbone:\n  brokers: embedded\n  partitions: 1\n  window: 10000000\n"
            "redis:\n  host: 127.0.0.1\n  port: %d\n  persist_delay_ms: 300\n"
            "console:\n  listen: 127.0.0.1:%d\n"
            "sources:\n"
            "  - name: erp\n    type: postgres\n"
            "    dsn: \"host=127.0.0.1 port=%d dbname=erp user=stockmesh\"\n"
            "    heartbeat_ms: 500\n"
            "    tables:\n"
            "      - table: stock\n        sku: sku\n        location_code: S12\n"
            "        on_hand: on_hand\n"
            "locations:\n  - {code: S12, type: store}\n",
            W.dir, W.redis.port, READER.console_port, W.pg.port);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (MERGE.pid > 0) kill(MERGE.pid, SIGCONT);
    daemon_stop(&MERGE, SIGTERM);
    daemon_stop(&READER, SIGTERM);
    int clean = daemon_log_clean(&READER) | daemon_log_clean(&MERGE);
    servers_stop(&W.pg);
    servers_stop(&W.redis);
    daemon_workdir_remove(W.dir);
    return clean;
}

static void test_offsets_gone_make_the_reader_read_again(void **state)
{
    (void)state;
    assert_int_equal(daemon_start(&READER), 0);
    double deadline = daemon_now_ms() + 60000;
    char path[600];
    snprintf(path, sizeof path, "%s/state/backbone", W.dir);
    while (access(path, R_OK) != 0 && daemon_now_ms() < deadline) usleep(100 * 1000);
    assert_int_equal(daemon_start(&MERGE), 0);
    assert_converges("initial snapshot", 120);

    assert_int_equal(kill(MERGE.pid, SIGSTOP), 0);
    for (int round = 1; round <= ROUNDS; round++) {
        char q[200];
        snprintf(q, sizeof q, "UPDATE stock SET on_hand = on_hand + 1");
        assert_int_equal(sql(q), 0);
    }
    /* let the reader push it all through the backbone, which drops the oldest */
    sleep(8);
    assert_int_equal(kill(MERGE.pid, SIGCONT), 0);
    assert_converges("after the merge found its offsets gone", 240);

    assert_true(daemon_log_has(&MERGE, "the backbone dropped offsets"));
    assert_true(daemon_log_has(&READER, "reading again from the last confirmed position"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offsets_gone_make_the_reader_read_again),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
