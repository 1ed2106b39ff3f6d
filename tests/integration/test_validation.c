/* test_validation — rows a retailer's systems really hold that cannot become stock:
 * an unknown store code, a SKU outside the catalog's pattern, a quantity typed as
 * "twelve" in a legacy text column, a count time that does not parse in the source's
 * format. Each goes to stockmesh.dlq with its reason and the original event and is
 * counted per reason; the good rows around them are applied and the pipeline goes on. */
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

struct world {
    struct servers_server pg, redis;
    char dir[256];
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

static int setup(void **state)
{
    (void)state;
    char err[1024];
    if (daemon_workdir_make(W.dir, sizeof W.dir, "validation") != 0) return -1;
    if (servers_start(&W.pg, SERVERS_POSTGRES, NULL, 0, err, sizeof err) != 0 ||
        servers_start(&W.redis, SERVERS_REDIS, NULL, 0, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    if (servers_pg_exec(&W.pg, NULL, "CREATE DATABASE erp", err, sizeof err) != 0) return -1;
    /* a legacy stock-count table: quantities and times kept as text, local time */
    if (sql("CREATE TABLE counts (sku text, store text, qty text, counted text, "
            "PRIMARY KEY (sku, store));"
            "INSERT INTO counts VALUES ('SKU-1', 'S12', '12', '24.11.2026 10:00');"
            "CREATE ROLE stockmesh LOGIN REPLICATION;"
            "ALTER TABLE counts OWNER TO stockmesh;"
            "GRANT CREATE ON DATABASE erp TO stockmesh;") != 0)
        return -1;
    snprintf(D.state_dir, sizeof D.state_dir, "%s/state", W.dir);
    snprintf(D.config_path, sizeof D.config_path, "%s/stockmesh.yaml", W.dir);
    snprintf(D.log_path, sizeof D.log_path, "%s/stockmeshd.log", W.dir);
    D.console_port = servers_free_port();
    D.binary = daemon_binary(0);
    D.roles = "cdc,merge,console";
    FILE *f = fopen(D.config_path, "w");
    fprintf(f,
            "state_dir: %s\n"
            "backbone:\n  brokers: embedded\n  partitions: 1\n"
            "redis:\n  host: 127.0.0.1\n  port: %d\n  persist_delay_ms: 200\n"
            "console:\n  listen: 127.0.0.1:%d\n"
            "sources:\n"
            "  - name: erp\n    type: postgres\n"
            "    dsn: \"host=127.0.0.1 port=%d dbname=erp user=stockmesh\"\n"
            "    timezone: Europe/Berlin\n"
            "    timestamp_format: \"%%d.%%m.%%Y %%H:%%M\"\n"
            "    tables:\n"
            "      - table: counts\n        sku: sku\n        location: store\n"
            "        on_hand: qty\n        time: counted\n"
            "locations:\n  - {code: S12, type: store}\n  - {code: S14, type: store}\n"
            "skus:\n  pattern: \"SKU-*\"\n",
            D.state_dir, W.redis.port, D.console_port, W.pg.port);
    fclose(f);
    return daemon_start(&D);
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

static char *on_hand_in_redis(const char *sku, const char *store)
{
    char err[256];
    char *v = servers_redis_command(&W.redis, err, sizeof err, "HGET sm:{%s} %s", sku, store);
    if (v) {
        char *bar = strchr(v, '|');
        if (bar) *bar = 0;
    }
    return v;
}

static double dlq(const char *reason)
{
    char name[160];
    snprintf(name, sizeof name, "stockmesh_merge_dlq_total{reason=\"%s\"}", reason);
    return daemon_metric(&D, name);
}

static void test_bad_rows_go_to_the_dlq_and_good_ones_through(void **state)
{
    (void)state;
    double deadline = daemon_now_ms() + 120000;
    char *v = NULL;
    while (daemon_now_ms() < deadline) {
        free(v);
        v = on_hand_in_redis("SKU-1", "S12");
        if (v && strcmp(v, "12") == 0) break;
        usleep(200 * 1000);
    }
    assert_non_null(v);
    assert_string_equal(v, "12");
    free(v);

    assert_int_equal(sql("INSERT INTO counts VALUES "
                         "('SKU-2', 'S99', '1', '24.11.2026 10:00'),"    /* unknown store */
                         "('ABC-7', 'S12', '1', '24.11.2026 10:00'),"    /* not a SKU */
                         "('SKU-3', 'S14', 'twelve', '24.11.2026 10:00')," /* not a number */
                         "('SKU-4', 'S14', '2.5', '24.11.2026 10:00'),"  /* half a unit */
                         "('SKU-5', 'S14', '3', 'yesterday'),"            /* not a time */
                         "('SKU-6', 'S14', '7', '24.11.2026 11:30')"),    /* good */
                     0);
    deadline = daemon_now_ms() + 60000;
    while (daemon_now_ms() < deadline) {
        v = on_hand_in_redis("SKU-6", "S14");
        int done = v && strcmp(v, "7") == 0 && dlq("bad_time") >= 1;
        free(v);
        if (done) break;
        usleep(200 * 1000);
    }
    v = on_hand_in_redis("SKU-6", "S14");
    assert_non_null(v);
    assert_string_equal(v, "7"); /* the pipeline went on past the bad rows */
    free(v);
    assert_true(dlq("unknown_location") == 1);
    assert_true(dlq("unknown_sku") == 1);
    assert_true(dlq("bad_quantity") == 2);
    assert_true(dlq("bad_time") == 1);

    char *topic = daemon_topic_contents(&D, "stockmesh.dlq");
    assert_non_null(topic);
    /* each entry: the reason in words and the original event */
    assert_non_null(strstr(topic, "location \\\"S99\\\" is not configured"));
    assert_non_null(strstr(topic, "SKU \\\"ABC-7\\\" does not match skus.pattern"));
    assert_non_null(strstr(topic, "column \\\"qty\\\" (on_hand) is not a whole number"));
    assert_non_null(strstr(topic, "column \\\"counted\\\" (time) does not read as %d.%m.%Y %H:%M "
                                  "in zone Europe/Berlin"));
    assert_non_null(strstr(topic, "twelve"));  /* the original event is there */
    assert_null(strstr(topic, "SKU-6"));
    free(topic);

    /* the count time is local (Europe/Berlin, UTC+1 in November): 10:30 UTC */
    char err[256];
    char *fact = servers_redis_command(&W.redis, err, sizeof err, "HGET sm:{SKU-6} S14|erp");
    assert_non_null(fact);
    assert_true(strncmp(fact, "1795516200000|", 14) == 0); /* 2026-11-24T10:30:00Z */
    free(fact);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_rows_go_to_the_dlq_and_good_ones_through),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
