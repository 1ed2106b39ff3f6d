/* test_mismatch_alerts — store ops hear when systems disagree about stock. The ERP
 * (PostgreSQL, authoritative for stores) says store 12 holds 0 of a SKU while the
 * store's POS (MariaDB, observing) says 5: after the grace period exactly one alert
 * opens, in the alert store and on stockmesh.alerts, routed to store 12's contact.
 * Correcting the data resolves it by itself. A disagreement shorter than the grace
 * period, and SKUs on which the systems agree, raise nothing; a negative on_hand
 * raises its own alert; a source that goes away becomes a stale_source alert for the
 * operations contacts, resolved when it streams again. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "daemon.h"
#include "servers.h"
#include "stockmesh/alerts.h"
#include "stockmesh/store.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GRACE_S 3

struct world {
    struct servers_server pg, maria, redis;
    char dir[256];
};

static struct world W;
static struct daemon D;

static int erp(const char *sql)
{
    char err[1024];
    if (servers_pg_exec(&W.pg, "erp", sql, err, sizeof err) != 0) {
        fprintf(stderr, "erp: %s\n", err);
        return -1;
    }
    return 0;
}

static int pos(const char *sql)
{
    char err[1024];
    if (servers_mariadb_exec(&W.maria, "pos", sql, err, sizeof err) != 0) {
        fprintf(stderr, "pos: %s\n", err);
        return -1;
    }
    return 0;
}

/* Every alert of the appliance, newest first; the caller frees with alerts_list_free. */
static size_t list_alerts(const char *rule, struct alert **out)
{
    char path[600], err[600];
    snprintf(path, sizeof path, "%s/state.db", D.state_dir);
    struct store *s = store_new(path, err, sizeof err);
    assert_non_null(s);
    struct alerts *a = alerts_new(s, err, sizeof err);
    assert_non_null(a);
    struct alert_filter f = {.rule = rule};
    size_t n = 0;
    assert_int_equal(alerts_list(a, &f, out, &n), 0);
    alerts_free(a);
    store_free(s);
    return n;
}

static int streaming_both(void)
{
    return daemon_metric(&D, "stockmesh_cdc_state") == 6; /* 3 = streaming, per source */
}

static void wait_for(const char *what, int timeout_s, int (*cond)(void))
{
    double deadline = daemon_now_ms() + timeout_s * 1000.0;
    while (daemon_now_ms() < deadline) {
        if (cond()) return;
        usleep(200 * 1000);
    }
    daemon_show_log(&D, 60);
    fail_msg("timed out after %d s waiting for %s", timeout_s, what);
}

static const char *want_state;
static const char *want_rule = "mismatch";

static int alert_in_state(void)
{
    struct alert *list = NULL;
    size_t n = list_alerts(want_rule, &list);
    int found = n > 0 && strcmp(list[0].state, want_state) == 0;
    alerts_list_free(list, n);
    return found;
}

static int setup(void **state)
{
    (void)state;
    char err[1024];
    if (daemon_workdir_make(W.dir, sizeof W.dir, "mismatch") != 0) return -1;
    if (servers_start(&W.pg, SERVERS_POSTGRES, NULL, 0, err, sizeof err) != 0 ||
        servers_start(&W.maria, SERVERS_MARIADB, NULL, 0, err, sizeof err) != 0 ||
        servers_start(&W.redis, SERVERS_REDIS, NULL, 0, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    if (servers_pg_exec(&W.pg, NULL, "CREATE DATABASE erp", err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    /* the ERP: every location's stock; authoritative */
    if (erp("CREATE TABLE stock_levels (sku text, location_code text, on_hand int NOT NULL, "
            "committed int NOT NULL DEFAULT 0, PRIMARY KEY (sku, location_code));"
            "INSERT INTO stock_levels VALUES ('SKU-1', 'S12', 0, 0), ('SKU-2', 'S12', 7, 1), "
            "('SKU-3', 'S12', 4, 0), ('SKU-1', 'S14', 3, 0), ('SKU-1', 'WH1', 100, 0);"
            "CREATE ROLE stockmesh LOGIN REPLICATION;"
            "ALTER TABLE stock_levels OWNER TO stockmesh;"
            "GRANT CREATE ON DATABASE erp TO stockmesh;") != 0)
        return -1;
    /* the stores' POS: what the shelves hold; observing */
    if (servers_mariadb_exec(&W.maria, NULL, "CREATE DATABASE pos", err, sizeof err) != 0 ||
        pos("CREATE TABLE shelf_counts (sku VARCHAR(32) NOT NULL, store VARCHAR(8) NOT NULL, "
            "qty INT NOT NULL, counted_at DATETIME NOT NULL, PRIMARY KEY (sku, store)) "
            "ENGINE=InnoDB;"
            "INSERT INTO shelf_counts VALUES ('SKU-1', 'S12', 5, '2026-11-24 09:00:00'), "
            "('SKU-2', 'S12', 7, '2026-11-24 09:00:00'), ('SKU-3', 'S12', 4, "
            "'2026-11-24 09:00:00'), ('SKU-1', 'S14', 3, '2026-11-24 09:00:00');"
            "CREATE USER 'stockmesh'@'127.0.0.1' IDENTIFIED BY 'stockmesh-test';"
            "GRANT SELECT, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO "
            "'stockmesh'@'127.0.0.1';") != 0)
        return -1;

    snprintf(D.state_dir, sizeof D.state_dir, "%s/state", W.dir);
    snprintf(D.config_path, sizeof D.config_path, "%s/stockmesh.yaml", W.dir);
    snprintf(D.log_path, sizeof D.log_path, "%s/stockmeshd.log", W.dir);
    char pw_path[600];
    snprintf(pw_path, sizeof pw_path, "%s/pos.password", W.dir);
    FILE *f = fopen(pw_path, "w");
    fprintf(f, "stockmesh-test\n");
    fclose(f);
    D.console_port = servers_free_port();
    D.binary = daemon_binary(0);
    D.roles = "cdc,merge,console";
    f = fopen(D.config_path, "w");
    fprintf(f,
            "state_dir: %s\n"
            "backbone:\n  brokers: embedded\n  partitions: 2\n"
            "redis:\n  host: 127.0.0.1\n  port: %d\n  persist_delay_ms: 200\n"
            "console:\n  listen: 127.0.0.1:%d\n"
            "sources:\n"
            "  - name: erp\n    type: postgres\n"
            "    dsn: \"host=127.0.0.1 port=%d dbname=erp user=stockmesh\"\n"
            "    heartbeat_ms: 500\n"
            "    tables:\n"
            "      - table: stock_levels\n        sku: sku\n        location: location_code\n"
            "        on_hand: on_hand\n        committed: committed\n"
            "  - name: pos\n    type: mariadb\n"
            "    dsn: \"host=127.0.0.1 port=%d user=stockmesh dbname=pos\"\n"
            "    password_file: %s\n    heartbeat_ms: 500\n"
            "    timezone: Europe/Berlin\n"
            "    tables:\n"
            "      - table: pos.shelf_counts\n        sku: sku\n        location: store\n"
            "        on_hand: qty\n        time: counted_at\n"
            "locations:\n"
            "  - {code: WH1, type: warehouse, contacts: [wh-ops@example.com]}\n"
            "  - {code: S12, type: store, contacts: [store12-ops@example.com]}\n"
            "  - {code: S14, type: store, contacts: [store14-ops@example.com]}\n"
            "authority:\n"
            "  - {location_type: store, source: erp}\n"
            "  - {location_type: warehouse, source: erp}\n"
            "rules:\n"
            "  stale_source_s: 10\n"
            "  mismatch_grace_s: %d\n"
            "  contacts: [ops@example.com]\n",
            D.state_dir, W.redis.port, D.console_port, W.pg.port, W.maria.port, pw_path,
            GRACE_S);
    fclose(f);
    if (daemon_start(&D) != 0) return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    daemon_stop(&D, SIGTERM);
    int clean = daemon_log_clean(&D);
    servers_stop(&W.pg);
    servers_stop(&W.maria);
    servers_stop(&W.redis);
    daemon_workdir_remove(W.dir);
    return clean;
}

static void test_disagreement_raises_one_alert_for_the_store_and_clears_itself(void **state)
{
    (void)state;
    wait_for("both sources streaming", 120, streaming_both);
    double t0 = daemon_now_ms();

    /* a disagreement shorter than the grace period is not an alert: SKU-3 differs for
       one second, then the POS count is corrected */
    assert_int_equal(pos("UPDATE shelf_counts SET qty = 9 WHERE sku = 'SKU-3'"), 0);
    sleep(1);
    assert_int_equal(pos("UPDATE shelf_counts SET qty = 4 WHERE sku = 'SKU-3'"), 0);

    want_state = "open";
    wait_for("the mismatch alert", 60, alert_in_state);
    printf("alert opened %.1f s after both sources streamed (grace %d s)\n",
           (daemon_now_ms() - t0) / 1000, GRACE_S);
    sleep(GRACE_S + 2); /* time for any wrong second alert to show */

    struct alert *list = NULL;
    size_t n = list_alerts("mismatch", &list);
    assert_int_equal(n, 1); /* exactly one, for SKU-1 at S12 */
    assert_string_equal(list[0].sku, "SKU-1");
    assert_string_equal(list[0].location, "S12");
    assert_string_equal(list[0].state, "open");
    assert_string_equal(list[0].source, "pos");
    assert_int_equal(json_array_size(list[0].contacts), 1);
    assert_string_equal(json_string_value(json_array_get(list[0].contacts, 0)),
                        "store12-ops@example.com");
    assert_int_equal(json_integer_value(json_object_get(list[0].details, "observed")), 5);
    assert_int_equal(json_integer_value(json_object_get(list[0].details, "authoritative")), 0);
    assert_non_null(strstr(list[0].summary, "pos says on_hand is 5"));
    assert_non_null(strstr(list[0].summary, "erp (authoritative) says 0"));
    int64_t id = list[0].id;
    alerts_list_free(list, n);

    /* the same alert went to the backbone, with the contact */
    char *topic = daemon_topic_contents(&D, "stockmesh.alerts");
    assert_non_null(topic);
    assert_non_null(strstr(topic, "\"transition\":\"opened\""));
    assert_non_null(strstr(topic, "store12-ops@example.com"));
    assert_null(strstr(topic, "SKU-3"));
    free(topic);

    /* the ERP is corrected: the alert resolves by itself */
    assert_int_equal(erp("UPDATE stock_levels SET on_hand = 5 WHERE sku = 'SKU-1' AND "
                         "location_code = 'S12'"),
                     0);
    want_state = "resolved";
    wait_for("the alert to resolve by itself", 60, alert_in_state);
    n = list_alerts("mismatch", &list);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].id, id);
    assert_string_equal(list[0].resolved_by, "auto");
    alerts_list_free(list, n);
    topic = daemon_topic_contents(&D, "stockmesh.alerts");
    assert_non_null(strstr(topic, "\"transition\":\"resolved\""));
    free(topic);
}

static void test_negative_stock_alerts_the_store(void **state)
{
    (void)state;
    assert_int_equal(erp("UPDATE stock_levels SET on_hand = -2 WHERE sku = 'SKU-1' AND "
                         "location_code = 'S14'"),
                     0);
    assert_int_equal(pos("UPDATE shelf_counts SET qty = -2 WHERE sku = 'SKU-1' AND store = 'S14'"),
                     0);
    want_rule = "negative_stock";
    want_state = "open";
    wait_for("the negative stock alert", 60, alert_in_state);
    struct alert *list = NULL;
    size_t n = list_alerts("negative_stock", &list);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].location, "S14");
    assert_string_equal(list[0].severity, "critical");
    assert_string_equal(json_string_value(json_array_get(list[0].contacts, 0)),
                        "store14-ops@example.com");
    alerts_list_free(list, n);
    /* no mismatch alert: both systems say -2 */
    n = list_alerts("mismatch", &list);
    for (size_t i = 0; i < n; i++) assert_string_not_equal(list[i].state, "open");
    alerts_list_free(list, n);
    want_rule = "mismatch";
}

static void test_a_source_gone_is_stale_until_it_streams_again(void **state)
{
    (void)state;
    char err[1024];
    int port = W.maria.port;
    char dir[512];
    snprintf(dir, sizeof dir, "%s", W.maria.dir);
    assert_int_equal(servers_kill(&W.maria), 0);
    want_rule = "stale_source";
    want_state = "open";
    wait_for("the stale source alert", 60, alert_in_state);
    struct alert *list = NULL;
    size_t n = list_alerts("stale_source", &list);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].source, "pos");
    assert_string_equal(list[0].severity, "critical");
    assert_string_equal(json_string_value(json_array_get(list[0].contacts, 0)), "ops@example.com");
    printf("stale: %s\n", list[0].summary);
    alerts_list_free(list, n);

    assert_int_equal(servers_start(&W.maria, SERVERS_MARIADB, dir, port, err, sizeof err), 0);
    want_state = "resolved";
    wait_for("the stale source alert to resolve", 120, alert_in_state);
    want_rule = "mismatch";
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disagreement_raises_one_alert_for_the_store_and_clears_itself),
        cmocka_unit_test(test_negative_stock_alerts_the_store),
        cmocka_unit_test(test_a_source_gone_is_stale_until_it_streams_again),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
