/* test_push — channel delivery as an online channel sees it, against a real HTTP
 * receiver that verifies every signature and can be told to fail, stall or answer 429
 * (tests/lib/receiver), fed by the whole pipeline (PostgreSQL → stockmeshd → Redis).
 *
 * - An outage: the channel answers 503 while stock keeps changing; past the channel's
 *   down_alert_s a channel_down alert opens (stockmesh.alerts), and it resolves by
 *   itself when the channel is back. The channel ends with the latest value of every
 *   SKU and receives far fewer updates than there were changes (the latest per SKU, not
 *   every intermediate one). Nothing is lost and nothing accepted is delivered twice.
 * - 429 with Retry-After: the next attempt waits as long as the channel asked.
 * - A stalled channel (no answer within the channel's timeout) is retried.
 * - 422: the channel refuses the payload; the request goes to the DLQ with the status,
 *   a channel_rejected alert opens, and delivery goes on. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "daemon.h"
#include "receiver.h"
#include "servers.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NSKUS 30
#define SECRET "push-test-secret"

struct world {
    struct servers_server pg, redis;
    struct receiver *receiver;
    struct daemon d;
    char dir[256];
};

static struct world W;

/* The web channel's figure of a SKU: WH1 and S12 ship, S12 holds 2 back. */
static long long truth_web(int sku)
{
    char q[300], name[32];
    snprintf(name, sizeof name, "SKU-%05d", sku);
    snprintf(q, sizeof q,
             "SELECT coalesce(sum(greatest(0, on_hand - committed - unavailable - "
             "CASE location_code WHEN 'S12' THEN 2 ELSE 0 END)), 0) FROM stock_levels "
             "WHERE sku = '%s' AND location_code IN ('WH1', 'S12')",
             name);
    char *v = servers_pg_query_value(&W.pg, "retail", q);
    assert_non_null(v);
    long long n = atoll(v);
    free(v);
    return n;
}

/* Waits until the receiver holds the source's figure for every SKU. */
static int channel_converged(int timeout_ms, char *why, size_t whylen)
{
    double deadline = daemon_now_ms() + timeout_ms;
    do {
        int sku = 1;
        for (; sku <= NSKUS; sku++) {
            char name[32];
            snprintf(name, sizeof name, "SKU-%05d", sku);
            long long want = truth_web(sku), got = -1;
            if (receiver_get(W.receiver, "web", name, &got, NULL) != 0 || got != want) {
                snprintf(why, whylen, "%s: channel has %lld, source says %lld", name, got, want);
                break;
            }
        }
        if (sku > NSKUS) return 0;
        usleep(100 * 1000);
    } while (daemon_now_ms() < deadline);
    return -1;
}

static void assert_converged(const char *when)
{
    char why[256] = "";
    if (channel_converged(30000, why, sizeof why) != 0) {
        daemon_show_log(&W.d, 40);
        fail_msg("%s: the channel did not converge: %s", when, why);
    }
}

/* Waits until stockmesh.alerts holds a message containing both texts. */
static int alert_published(const char *a, const char *b, int timeout_ms)
{
    double deadline = daemon_now_ms() + timeout_ms;
    do {
        char *topic = daemon_topic_contents(&W.d, "stockmesh.alerts");
        int found = 0;
        for (char *line = topic ? strtok(topic, "\n") : NULL; line && !found;
             line = strtok(NULL, "\n"))
            found = strstr(line, a) && strstr(line, b);
        free(topic);
        if (found) return 1;
        usleep(200 * 1000);
    } while (daemon_now_ms() < deadline);
    return 0;
}

static void change_stock(int rounds)
{
    char err[512];
    for (int r = 0; r < rounds; r++) {
        char sql[300];
        snprintf(sql, sizeof sql,
                 "UPDATE stock_levels SET on_hand = on_hand + %d WHERE location_code = 'WH1'",
                 r % 2 ? -3 : 5);
        if (servers_pg_exec(&W.pg, "retail", sql, err, sizeof err) != 0) fail_msg("%s", err);
    }
}

static int setup(void **state)
{
    (void)state;
    char err[1024];
    if (daemon_workdir_make(W.dir, sizeof W.dir, "push") != 0) return -1;
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
             "s %% 3, 0 FROM generate_series(1, %d) s, unnest(ARRAY['WH1','S12']) l;"
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
    W.d.binary = daemon_binary(0);
    snprintf(W.d.config_path, sizeof W.d.config_path, "%s/stockmesh.yaml", W.dir);
    snprintf(W.d.log_path, sizeof W.d.log_path, "%s/stockmeshd.log", W.dir);
    snprintf(W.d.state_dir, sizeof W.d.state_dir, "%s/state", W.dir);
    W.d.console_port = servers_free_port();
    f = fopen(W.d.config_path, "w");
    fprintf(f,
            "state_dir: %s\n"
            "log:\n  level: info\n"
            "backbone:\n  brokers: embedded\n"
            "redis:\n  host: 127.0.0.1\n  port: %d\n  persist_delay_ms: 100\n"
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
            "  - code: WH1\n    type: warehouse\n"
            "  - code: S12\n    type: store\n    tags: [ship-from-store]\n    safety_stock: 2\n"
            "channels:\n"
            "  - name: web\n    url: http://127.0.0.1:%d/web\n    secret_file: %s\n"
            "    location_types: [warehouse]\n    location_tags: [ship-from-store]\n"
            "    batch_max: 10\n    timeout_ms: 1000\n    down_alert_s: 2\n"
            "authority:\n  - location_type: warehouse\n    source: erp\n"
            "  - location_type: store\n    source: erp\n",
            W.d.state_dir, W.redis.port, W.d.console_port, W.pg.port, receiver_port(W.receiver),
            secret_path);
    fclose(f);
    if (daemon_start(&W.d) != 0) return -1;
    assert_converged("after the initial snapshot");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int clean = 0;
    if (W.d.pid > 0) {
        daemon_stop(&W.d, SIGTERM);
        clean = daemon_log_clean(&W.d);
    }
    receiver_free(W.receiver);
    servers_stop(&W.pg);
    servers_stop(&W.redis);
    daemon_workdir_remove(W.dir);
    return clean;
}

static void test_outage_ends_with_the_latest_values(void **state)
{
    (void)state;
    struct receiver_stats before, after;
    receiver_stats(W.receiver, &before);
    /* the channel is down: every request answered 503, for a while */
    receiver_fail_next(W.receiver, 503, 1000000, 0);
    change_stock(20); /* 20 changes of every SKU */
    double t0 = daemon_now_ms();
    while (daemon_now_ms() - t0 < 3000) {
        struct receiver_stats s;
        receiver_stats(W.receiver, &s);
        if (s.forced_failures > before.forced_failures + 2) break;
        usleep(50 * 1000);
    }
    struct receiver_stats down;
    receiver_stats(W.receiver, &down);
    assert_true(down.forced_failures > before.forced_failures); /* it was tried */
    assert_int_equal(down.updates, before.updates);             /* and got nothing */
    assert_true(daemon_metric(&W.d, "stockmesh_push_retries_total") > 0);
    /* down longer than down_alert_s (2 s): store ops hear of it */
    if (!alert_published("\"transition\":\"opened\"", "\"key\":\"channel_down:web\"", 15000)) {
        daemon_show_log(&W.d, 30);
        fail_msg("no channel_down alert after the channel failed for longer than 2 s");
    }

    receiver_fail_next(W.receiver, 0, 0, 0); /* back */
    assert_converged("after the outage");
    if (!alert_published("\"transition\":\"resolved\"", "\"key\":\"channel_down:web\"", 10000))
        fail_msg("the channel_down alert did not resolve once the channel accepted again");
    receiver_stats(W.receiver, &after);
    /* the latest value per SKU, not 20 intermediate ones each */
    unsigned long long delivered = after.updates - before.updates;
    printf("outage: %llu requests refused, then %llu updates for %d SKUs changed 20 times\n",
           down.forced_failures - before.forced_failures, delivered, NSKUS);
    if (delivered > 4 * NSKUS)
        fail_msg("%llu updates after the outage for %d SKUs changed 20 times each: not "
                 "coalesced",
                 delivered, NSKUS);
    assert_int_equal(after.duplicate_deliveries, before.duplicate_deliveries);
    assert_int_equal(after.rejected_signature, 0);
    assert_int_equal(after.rejected_malformed, 0);
}

static void test_429_waits_as_long_as_asked(void **state)
{
    (void)state;
    struct receiver_stats before;
    receiver_stats(W.receiver, &before);
    receiver_fail_next(W.receiver, 429, 1, 2);
    double t0 = daemon_now_ms();
    change_stock(1);
    assert_converged("after a 429");
    double took = daemon_now_ms() - t0;
    struct receiver_stats after;
    receiver_stats(W.receiver, &after);
    assert_int_equal(after.forced_failures, before.forced_failures + 1);
    if (took < 1900) fail_msg("delivered %.0f ms after a 429 with Retry-After: 2", took);
}

static void test_stalled_channel_is_retried(void **state)
{
    (void)state;
    /* longer than the channel's timeout_ms (1000): the request is given up and sent
       again, with the same delivery id */
    receiver_stall_next(W.receiver, 1500, 1);
    change_stock(1);
    assert_converged("after a stalled request");
    struct receiver_stats s;
    receiver_stats(W.receiver, &s);
    /* the stalled request may have been applied too: then the retry is its identical
       re-delivery, which a channel recognises by its delivery id */
    assert_true(s.duplicate_deliveries <= 1);
}

static void test_refused_payload_goes_to_the_dlq(void **state)
{
    (void)state;
    receiver_fail_next(W.receiver, 422, 1, 0);
    change_stock(1);
    double t0 = daemon_now_ms();
    char *dlq = NULL;
    while (daemon_now_ms() - t0 < 10000) {
        free(dlq);
        dlq = daemon_topic_contents(&W.d, "stockmesh.dlq");
        if (dlq && strstr(dlq, "channel_rejected")) break;
        usleep(100 * 1000);
    }
    assert_non_null(dlq);
    if (!strstr(dlq, "\"status\":422")) fail_msg("DLQ holds no refused delivery: %s", dlq);
    assert_non_null(strstr(dlq, "\"channel\":\"web\""));
    assert_non_null(strstr(dlq, "\"updates\"")); /* the request itself */
    assert_null(strstr(dlq, SECRET));
    free(dlq);
    assert_true(alert_published("\"key\":\"channel_rejected:web\"", "HTTP 422", 10000));
    /* delivery goes on: the next change reaches the channel */
    change_stock(1);
    assert_converged("after a refused payload");
    assert_false(daemon_log_has(&W.d, SECRET));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outage_ends_with_the_latest_values),
        cmocka_unit_test(test_429_waits_as_long_as_asked),
        cmocka_unit_test(test_stalled_channel_is_retried),
        cmocka_unit_test(test_refused_payload_goes_to_the_dlq),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
