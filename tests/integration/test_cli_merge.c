/* test_cli_merge — the operator commands on the unified layer, against real PostgreSQL,
 * Redis and stockmeshd: `stockmesh sku` shows the per-location breakdown and the rules
 * broken; `stockmesh replay` applies a changed safety stock and drops figures the
 * source no longer has; `stockmesh reconcile` finds drift made by writing Redis
 * directly (a wrong figure and location row, a lost figure, a missed delete), raises
 * an alert, repairs it, and a second run is clean and resolves the alert; `stockmesh
 * alerts` acknowledges and resolves, with clear refusals. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "daemon.h"
#include "receiver.h"
#include "servers.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NSKUS 10
#define SECRET "cli-merge-test-secret"

struct world {
    struct servers_server pg, redis;
    struct receiver *receiver;
    struct daemon d;
    char dir[256];
    char secret_path[400];
    long long s12_safety;
};

static struct world W;

/* --- the configuration ------------------------------------------------------------ */

static void write_config(void)
{
    FILE *f = fopen(W.d.config_path, "w");
    assert_non_null(f);
    fprintf(f,
            "state_dir: %s\n"
            "log:\n  level: info\n"
            "backbone:\n  brokers: embedded\n"
            "redis:\n  host: 127.0.0.1\n  port: %d\n  persist_delay_ms: 200\n"
            "console:\n  listen: 127.0.0.1:%d\n"
            "sources:\n"
            "  - name: erp\n    type: postgres\n"
            "    dsn: \"host=127.0.0.1 port=%d dbname=retail user=stockmesh\"\n"
            /* confirms an idle source every second: reconcile waits for that */
            "    heartbeat_ms: 1000\n"
            "    tables:\n"
            "      - {table: public.stock_levels, sku: sku, location: location_code, "
            "on_hand: on_hand, committed: committed, unavailable: unavailable}\n"
            "locations:\n"
            "  - {code: WH1, type: warehouse, tags: [ship]}\n"
            "  - {code: S12, type: store, tags: [ship-from-store, pickup], safety_stock: %lld}\n"
            "  - {code: S14, type: store, tags: [pickup], safety_stock: 1}\n"
            "channels:\n"
            "  - name: web\n    url: http://127.0.0.1:%d/web\n    secret_file: %s\n"
            "    location_types: [warehouse]\n    location_tags: [ship-from-store]\n"
            "  - name: pickup\n    url: http://127.0.0.1:%d/pickup\n    secret_file: %s\n"
            "    fulfilment: pickup\n    location_tags: [pickup]\n"
            "authority:\n  - {location_type: warehouse, source: erp}\n"
            "  - {location_type: store, source: erp}\n"
            "rules:\n  contacts: [\"ops@example.com\"]\n",
            W.d.state_dir, W.redis.port, W.d.console_port, W.pg.port, W.s12_safety,
            receiver_port(W.receiver), W.secret_path, receiver_port(W.receiver), W.secret_path);
    fclose(f);
}

/* --- the truth, from the source, and what Redis holds ------------------------------- */

static long long truth_web(const char *sku)
{
    char sql[600];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(sum(greatest(0, on_hand - committed - unavailable - CASE "
             "location_code WHEN 'S12' THEN %lld ELSE 0 END)), 0) FROM stock_levels WHERE sku = "
             "'%s' AND location_code IN ('WH1', 'S12')",
             W.s12_safety, sku);
    char *v = servers_pg_query_value(&W.pg, "retail", sql);
    assert_non_null(v);
    long long n = atoll(v);
    free(v);
    return n;
}

static char *redis(const char *fmt, const char *a, const char *b, const char *c)
{
    char err[256];
    return servers_redis_command(&W.redis, err, sizeof err, fmt, a, b, c);
}

/* Runs a Redis command whose answer does not matter. */
static void redis_do(const char *fmt, const char *a, const char *b, const char *c)
{
    free(redis(fmt, a, b, c));
}

/* A channel field's available figure, -1 when absent. */
static long long redis_channel(const char *sku, const char *field)
{
    char key[64];
    snprintf(key, sizeof key, "sm:{%s}:c", sku);
    char *v = redis("HGET %s %s", key, field, NULL);
    long long sum, avail = -1, ver;
    if (v && strchr(field, '@')) { /* a pickup store's figure, kept until delivered */
        if (sscanf(v, "%lld|%lld", &avail, &ver) != 2) avail = -1;
    } else if (v && sscanf(v, "%lld|%lld|%lld", &sum, &avail, &ver) != 3) {
        avail = -1;
    }
    free(v);
    return avail;
}

static void sku_name(char out[32], int i) { snprintf(out, 32, "SKU-%05d", i); }

/* Waits until the web channel in Redis agrees with the source for every SKU. */
static int converged(int timeout_ms, char *why, size_t whylen)
{
    double deadline = daemon_now_ms() + timeout_ms;
    for (;;) {
        int bad = 0;
        for (int i = 1; i <= NSKUS && !bad; i++) {
            char sku[32];
            sku_name(sku, i);
            long long truth = truth_web(sku), got = redis_channel(sku, "web");
            if (got != truth) {
                snprintf(why, whylen, "%s: source says %lld, Redis %lld", sku, truth, got);
                bad = 1;
            }
        }
        if (!bad) return 0;
        if (daemon_now_ms() > deadline) return -1;
        usleep(200 * 1000);
    }
}

static void sql(const char *text)
{
    char err[512];
    if (servers_pg_exec(&W.pg, "retail", text, err, sizeof err) != 0) fail_msg("%s: %s", text, err);
}

/* Waits until the reader of erp reports itself streaming, afresh (after a restart). */
static void wait_streaming(void)
{
    double deadline = daemon_now_ms() + 30000;
    for (;;) {
        char *text = daemon_state_value(&W.d, "source:erp", "status");
        json_t *o = text ? json_loads(text, 0, NULL) : NULL;
        free(text);
        const char *st = json_string_value(json_object_get(o, "state"));
        double updated = json_number_value(json_object_get(o, "updated_ms"));
        int ok = st && !strcmp(st, "streaming") && daemon_now_ms() - updated < 3000 &&
                 json_is_string(json_object_get(o, "confirmed_position"));
        json_decref(o);
        if (ok) return;
        if (daemon_now_ms() > deadline) {
            daemon_show_log(&W.d, 30);
            fail_msg("the reader of erp did not stream again");
        }
        usleep(200 * 1000);
    }
}

/* --- the CLI ---------------------------------------------------------------------- */

struct outcome {
    int status;
    char output[65536];
};

static void cli(struct outcome *out, const char *const *args)
{
    const char *bin = getenv("STOCKMESH") ? getenv("STOCKMESH") : "build/asan/stockmesh";
    char *argv[24], log[400];
    int n = 0;
    argv[n++] = (char *)bin;
    argv[n++] = "-c";
    argv[n++] = W.d.config_path;
    for (; *args && n < 23; args++) argv[n++] = (char *)*args;
    argv[n] = NULL;
    snprintf(log, sizeof log, "%s/cli.log", W.dir);
    unlink(log);
    pid_t pid = servers_spawn(argv, log);
    assert_true(pid > 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    out->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    FILE *f = fopen(log, "r");
    size_t len = f ? fread(out->output, 1, sizeof out->output - 1, f) : 0;
    out->output[len] = 0;
    if (f) fclose(f);
    if (strstr(out->output, "ERROR: AddressSanitizer") || strstr(out->output, "runtime error:") ||
        strstr(out->output, "ERROR: LeakSanitizer"))
        fail_msg("the sanitizers reported on `stockmesh %s`:\n%s", argv[3], out->output);
}

#define CLI(out, ...) cli(out, (const char *const[]){__VA_ARGS__, NULL})

static void expect_status(const struct outcome *out, int status, const char *what)
{
    if (out->status != status) {
        daemon_show_log(&W.d, 30);
        fail_msg("%s: exit status %d, wanted %d:\n%s", what, out->status, status, out->output);
    }
}

static void expect_output(const struct outcome *out, const char *text)
{
    if (!strstr(out->output, text)) fail_msg("wanted \"%s\" in:\n%s", text, out->output);
}

/* The JSON document a --json command printed (its whole output). */
static json_t *output_json(const struct outcome *out)
{
    json_error_t jerr;
    json_t *o = json_loads(out->output, 0, &jerr);
    if (!json_is_object(o)) fail_msg("not a JSON object (%s):\n%s", jerr.text, out->output);
    return o;
}

/* The id of the newest alert of rule in state, 0 when there is none. */
static long long alert_id(const char *rule, const char *state, json_t **alert)
{
    struct outcome out;
    CLI(&out, "alerts", "--json", "--state", state, "--rule", rule);
    expect_status(&out, 0, "stockmesh alerts --json");
    json_t *o = output_json(&out);
    json_t *first = json_array_get(json_object_get(o, "alerts"), 0);
    long long id = first ? json_integer_value(json_object_get(first, "id")) : 0;
    if (alert) *alert = first ? json_incref(first) : NULL;
    json_decref(o);
    return id;
}

/* --- setup ------------------------------------------------------------------------ */

static int setup(void **state)
{
    (void)state;
    char err[1024];
    snprintf(W.dir, sizeof W.dir, "%s/stockmesh-cli-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(W.dir)) return -1;
    if (servers_start(&W.pg, SERVERS_POSTGRES, NULL, 0, err, sizeof err) != 0 ||
        servers_start(&W.redis, SERVERS_REDIS, NULL, 0, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    if (servers_pg_exec(&W.pg, NULL, "CREATE DATABASE retail", err, sizeof err) != 0) return -1;
    char text[2048];
    snprintf(text, sizeof text,
             "CREATE TABLE stock_levels (sku text NOT NULL, location_code text NOT NULL, "
             "on_hand integer NOT NULL DEFAULT 0, committed integer NOT NULL DEFAULT 0, "
             "unavailable integer NOT NULL DEFAULT 0, PRIMARY KEY (sku, location_code));"
             "INSERT INTO stock_levels SELECT 'SKU-' || lpad(s::text, 5, '0'), l, 10 + s, "
             "s %% 3, 0 FROM generate_series(1, %d) s, unnest(ARRAY['WH1','S12','S14']) l;"
             "CREATE ROLE stockmesh LOGIN REPLICATION;"
             "ALTER TABLE stock_levels OWNER TO stockmesh;"
             "GRANT CREATE ON DATABASE retail TO stockmesh;",
             NSKUS);
    if (servers_pg_exec(&W.pg, "retail", text, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    W.receiver = receiver_new(SECRET, 0, err, sizeof err);
    if (!W.receiver) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    snprintf(W.secret_path, sizeof W.secret_path, "%s/secret", W.dir);
    FILE *f = fopen(W.secret_path, "w");
    if (!f) return -1;
    fprintf(f, "%s\n", SECRET);
    fclose(f);
    snprintf(W.d.config_path, sizeof W.d.config_path, "%s/stockmesh.yaml", W.dir);
    snprintf(W.d.log_path, sizeof W.d.log_path, "%s/stockmeshd.log", W.dir);
    snprintf(W.d.state_dir, sizeof W.d.state_dir, "%s/state", W.dir);
    W.d.console_port = servers_free_port();
    W.s12_safety = 2;
    write_config();
    if (daemon_start(&W.d) != 0) return -1;
    char why[256];
    if (converged(60000, why, sizeof why) != 0) {
        daemon_show_log(&W.d, 40);
        fprintf(stderr, "the initial snapshot did not converge: %s\n", why);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int clean = 1;
    if (W.d.pid > 0) {
        int status = daemon_stop(&W.d, SIGTERM);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || daemon_log_clean(&W.d) != 0) {
            fprintf(stderr, "stockmeshd did not stop cleanly (status %d)\n", status);
            daemon_show_log(&W.d, 30);
            clean = 0;
        }
    }
    receiver_free(W.receiver);
    servers_stop(&W.pg);
    servers_stop(&W.redis);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", W.dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", W.dir);
    return clean ? 0 : -1;
}

/* --- the tests -------------------------------------------------------------------- */

static void test_sku_shows_the_per_location_breakdown(void **state)
{
    (void)state;
    /* S14 promises more than it holds: a rule the view spells out */
    sql("UPDATE stock_levels SET committed = 40 WHERE sku = 'SKU-00003' AND location_code = 'S14'");
    struct outcome out;
    double deadline = daemon_now_ms() + 15000;
    do {
        CLI(&out, "sku", "SKU-00003");
        expect_status(&out, 0, "stockmesh sku SKU-00003");
        if (strstr(out.output, "committed above on hand")) break;
        usleep(200 * 1000);
    } while (daemon_now_ms() < deadline);
    expect_output(&out, "committed above on hand");
    expect_output(&out, "per location");
    expect_output(&out, "per location and source");
    expect_output(&out, "per channel");
    expect_output(&out, "WH1");
    expect_output(&out, "unavailable");
    expect_output(&out, "pickup");
    printf("%s", out.output);

    CLI(&out, "sku", "--json", "SKU-00003");
    expect_status(&out, 0, "stockmesh sku --json");
    json_t *o = output_json(&out);
    json_t *locations = json_object_get(o, "locations");
    assert_int_equal(json_array_size(locations), 3);
    json_t *wh1 = json_array_get(locations, 0); /* configuration order */
    assert_string_equal(json_string_value(json_object_get(wh1, "location")), "WH1");
    assert_int_equal(json_integer_value(json_object_get(wh1, "on_hand")), 13);
    assert_int_equal(json_integer_value(json_object_get(wh1, "committed")), 0);
    assert_int_equal(json_integer_value(json_object_get(wh1, "available")), 13);
    json_t *erp = json_array_get(json_object_get(wh1, "sources"), 0);
    assert_string_equal(json_string_value(json_object_get(erp, "source")), "erp");
    json_t *on_hand = json_object_get(erp, "on_hand");
    assert_int_equal(json_integer_value(json_object_get(on_hand, "quantity")), 13);
    assert_int_equal(strlen(json_string_value(json_object_get(on_hand, "position"))), 24);
    json_t *s14 = json_array_get(locations, 2);
    assert_string_equal(json_string_value(json_object_get(s14, "location")), "S14");
    assert_int_equal(json_integer_value(json_object_get(s14, "flags")) & 4, 4);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(s14, "rules_broken"), 0), "rule")),
                        "overcommitted");
    int pickups = 0;
    size_t i;
    json_t *ch;
    json_array_foreach(json_object_get(o, "channels"), i, ch)
        pickups += !strcmp(json_string_value(json_object_get(ch, "channel")), "pickup");
    assert_int_equal(pickups, 2); /* one per store */
    json_decref(o);

    CLI(&out, "sku", "NO-SUCH-SKU");
    expect_status(&out, 3, "stockmesh sku of an unknown SKU");
    expect_output(&out, "not known");
}

static void test_replay_applies_a_new_safety_stock(void **state)
{
    (void)state;
    /* more safety stock at S12: nothing changes in Redis until a replay */
    W.s12_safety = 5;
    daemon_stop(&W.d, SIGTERM);
    write_config();
    assert_int_equal(daemon_start(&W.d), 0);
    long long before = redis_channel("SKU-00007", "web");
    assert_true(before != truth_web("SKU-00007"));
    char *version_before = redis("HGET sm:{%s}:c %s", "SKU-00007", "#v", NULL);
    assert_non_null(version_before);

    struct outcome out;
    CLI(&out, "replay", "--rebuild-only");
    expect_status(&out, 0, "stockmesh replay --rebuild-only");
    expect_output(&out, "SKUs rebuilt");
    printf("%s", out.output);
    char why[256];
    if (converged(1000, why, sizeof why) != 0) fail_msg("after the replay: %s", why);
    /* the version grew: the push role finds it pending and delivers it */
    char *version_after = redis("HGET sm:{%s}:c %s", "SKU-00007", "#v", NULL);
    assert_non_null(version_after);
    assert_true(atoll(version_after) > atoll(version_before));
    free(version_before);
    free(version_after);

    /* a figure the source never had (a delete the pipeline missed): a full replay
       reads the source again and drops it */
    redis_do("HSET sm:{%s} %s %s", "SKU-09999", "WH1|erp", "1000|0100|7|0|0");
    redis_do("HSET sm:{%s} %s %s", "SKU-09999", "WH1", "7|0|0|7");
    redis_do("HSET sm:{%s}:c %s %s", "SKU-09999", "web", "7|7|1");
    wait_streaming();
    CLI(&out, "replay", "--source", "erp", "--timeout", "60");
    expect_status(&out, 0, "stockmesh replay");
    expect_output(&out, "1 fact dropped");
    printf("%s", out.output);
    assert_int_equal(redis_channel("SKU-09999", "web"), 0);
    if (converged(5000, why, sizeof why) != 0) fail_msg("after the full replay: %s", why);

    CLI(&out, "replay", "--source", "nope");
    expect_status(&out, 2, "stockmesh replay of an unknown source");
    expect_output(&out, "no source named \"nope\"");
}

/* Makes drift behind the pipeline's back: a wrong figure and location row, a lost
 * figure, a figure of a row the source does not have. */
static void make_drift(void)
{
    char *fact = redis("HGET sm:{%s} %s", "SKU-00004", "WH1|erp", NULL);
    assert_non_null(fact);
    char ms[32], pos[32], rest[128];
    long long qty;
    assert_int_equal(sscanf(fact, "%31[^|]|%31[^|]|%lld|%127s", ms, pos, &qty, rest), 4);
    free(fact);
    char wrong[256];
    snprintf(wrong, sizeof wrong, "%s|%s|999|%s", ms, pos, rest);
    redis_do("HSET sm:{%s} %s %s", "SKU-00004", "WH1|erp", wrong);
    redis_do("HSET sm:{%s} %s %s", "SKU-00004", "WH1", "999|1|0|998");
    redis_do("HDEL sm:{%s} %s", "SKU-00006", "S12|erp", NULL);
    redis_do("HSET sm:{%s} %s %s", "SKU-09998", "WH1|erp", "1000|0100|5|0|0");
    redis_do("HSET sm:{%s} %s %s", "SKU-09998", "WH1", "5|0|0|5");
}

static void test_reconcile_finds_reports_and_repairs_drift(void **state)
{
    (void)state;
    struct outcome out;
    CLI(&out, "reconcile");
    expect_status(&out, 0, "stockmesh reconcile before any drift");
    expect_output(&out, "0 differences");

    make_drift();
    CLI(&out, "reconcile", "--no-repair");
    expect_status(&out, 4, "stockmesh reconcile --no-repair");
    printf("%s", out.output);
    /* the lost figure counts once per kind it had */
    expect_output(&out, "5 differences");
    expect_output(&out, "SKU-00004");
    expect_output(&out, "value differs");
    expect_output(&out, "SKU-00006");
    expect_output(&out, "missing in Redis");
    expect_output(&out, "SKU-09998");
    expect_output(&out, "missed delete");
    expect_output(&out, "reconcile_drift|erp");
    json_t *alert = NULL;
    long long id = alert_id("reconcile_drift", "open", &alert);
    assert_true(id > 0);
    assert_string_equal(json_string_value(json_object_get(alert, "source")), "erp");
    assert_string_equal(json_string_value(json_object_get(alert, "severity")), "warning");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(alert, "details"),
                                                        "differences")),
                     5);
    assert_string_equal(json_string_value(json_array_get(json_object_get(alert, "contacts"), 0)),
                        "ops@example.com");
    json_decref(alert);
    CLI(&out, "alerts");
    expect_status(&out, 0, "stockmesh alerts");
    expect_output(&out, "reconcile_drift");

    CLI(&out, "reconcile", "--json");
    expect_status(&out, 4, "stockmesh reconcile (repairing)");
    json_t *o = output_json(&out);
    assert_int_equal(json_integer_value(json_object_get(o, "differences")), 5);
    json_t *repair = json_object_get(o, "repair");
    assert_int_equal(json_integer_value(json_object_get(repair, "remaining")), 0);
    assert_int_equal(json_integer_value(json_object_get(repair, "dropped")), 1);
    json_decref(o);
    char why[256];
    if (converged(5000, why, sizeof why) != 0) fail_msg("after the repair: %s", why);
    assert_true(redis_channel("SKU-09998", "web") <= 0); /* 0, or no field: nothing there */

    CLI(&out, "reconcile");
    expect_status(&out, 0, "stockmesh reconcile after the repair");
    expect_output(&out, "resolved");
    assert_int_equal(alert_id("reconcile_drift", "unresolved", NULL), 0);
    assert_int_equal(alert_id("reconcile_drift", "resolved", &alert), id);
    assert_string_equal(json_string_value(json_object_get(alert, "resolved_by")), "auto");
    json_decref(alert);
}

static void test_alerts_ack_and_resolve(void **state)
{
    (void)state;
    redis_do("HSET sm:{%s} %s %s", "SKU-09997", "S14|erp", "1000|0100|3|0|0");
    struct outcome out;
    CLI(&out, "reconcile", "--no-repair");
    expect_status(&out, 4, "stockmesh reconcile --no-repair");
    long long id = alert_id("reconcile_drift", "open", NULL);
    assert_true(id > 0);
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", id);

    CLI(&out, "alerts", "ack", ids, "--note", "looking into it");
    expect_status(&out, 0, "stockmesh alerts ack");
    expect_output(&out, "acknowledged by");
    json_t *alert = NULL;
    assert_int_equal(alert_id("reconcile_drift", "acknowledged", &alert), id);
    assert_string_equal(json_string_value(json_object_get(alert, "note")), "looking into it");
    assert_true(strlen(json_string_value(json_object_get(alert, "acknowledged_by"))) > 0);
    json_decref(alert);
    CLI(&out, "alerts", "ack", ids);
    expect_status(&out, 1, "a second ack");
    expect_output(&out, "is already acknowledged");

    CLI(&out, "alerts", "resolve", ids, "--note", "fixed by hand");
    expect_status(&out, 0, "stockmesh alerts resolve");
    expect_output(&out, "resolved by");
    CLI(&out, "alerts", "resolve", ids);
    expect_status(&out, 1, "a second resolve");
    expect_output(&out, "is already resolved");
    CLI(&out, "alerts", "ack", ids);
    expect_status(&out, 1, "an ack of a resolved alert");
    expect_output(&out, "is resolved");

    CLI(&out, "alerts", "ack", "99999");
    expect_status(&out, 1, "an ack of an unknown alert");
    expect_output(&out, "alert 99999 does not exist");
    CLI(&out, "alerts", "resolve", "99999");
    expect_status(&out, 1, "a resolve of an unknown alert");
    expect_output(&out, "alert 99999 does not exist");
    CLI(&out, "alerts", "ack", "twelve");
    expect_status(&out, 2, "an ack of no number");
    CLI(&out, "alerts", "--state", "sideways");
    expect_status(&out, 2, "an unknown state");

    CLI(&out, "alerts", "--state", "all", "--rule", "reconcile_drift");
    expect_status(&out, 0, "stockmesh alerts --state all");
    expect_output(&out, "fixed by hand");

    /* the drift is still there: the repair drops it */
    CLI(&out, "reconcile");
    expect_status(&out, 4, "stockmesh reconcile (repairing)");
    printf("%s", out.output);
    expect_output(&out, "after the repair: 0 differences remain");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sku_shows_the_per_location_breakdown),
        cmocka_unit_test(test_replay_applies_a_new_safety_stock),
        cmocka_unit_test(test_reconcile_finds_reports_and_repairs_drift),
        cmocka_unit_test(test_alerts_ack_and_resolve),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
