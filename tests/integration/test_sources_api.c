/* test_sources_api — what an operator sees of the sources: GET /api/v1/sources and
 * /api/v1/sources/<name> (status objects in configuration order, "stale" when the
 * reader stopped reporting, "unknown" before it ever did, JSON 404 and 405), and the
 * `stockmesh status` and `stockmesh snapshot` commands. The test plays the CDC reader:
 * it writes status objects into the state database and takes snapshot requests, as
 * the reader's contract says. Only the console role runs; no database is needed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "servers.h"
#include "stockmesh/store.h"

#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

struct world {
    char dir[256];
    char config_path[400];
    char daemon_log[400];
    int port;
    pid_t daemon;
    struct store *store;
};

static struct world W;

static long long now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void show_daemon_log(void)
{
    char cmd[500];
    snprintf(cmd, sizeof cmd, "tail -n 30 %s >&2", W.daemon_log);
    if (system(cmd) != 0) fprintf(stderr, "(no daemon log)\n");
}

/* --- HTTP ------------------------------------------------------------------------- */

struct response {
    long status;
    char body[65536];
    size_t len;
    char headers[4096];
    size_t headers_len;
};

static size_t take(char *data, size_t size, size_t n, char *buf, size_t cap, size_t *len)
{
    size_t bytes = size * n, room = cap - 1 - *len;
    memcpy(buf + *len, data, bytes < room ? bytes : room);
    *len += bytes < room ? bytes : room;
    buf[*len] = 0;
    return bytes;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct response *r = arg;
    return take(data, size, n, r->body, sizeof r->body, &r->len);
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    struct response *r = arg;
    return take(data, size, n, r->headers, sizeof r->headers, &r->headers_len);
}

static void request(const char *method, const char *path, struct response *r)
{
    memset(r, 0, sizeof *r);
    char url[300];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", W.port, path);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        show_daemon_log();
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(c);
}

/* GETs path, expects status and a JSON object body; the caller frees the result. */
static json_t *get_json(const char *path, long status)
{
    struct response r;
    request("GET", path, &r);
    if (r.status != status)
        fail_msg("GET %s: status %ld, wanted %ld: %s", path, r.status, status, r.body);
    if (!strstr(r.headers, "application/json"))
        fail_msg("GET %s: not JSON: %s", path, r.headers);
    json_error_t jerr;
    json_t *o = json_loads(r.body, 0, &jerr);
    if (!json_is_object(o)) fail_msg("GET %s: bad JSON (%s): %s", path, jerr.text, r.body);
    return o;
}

/* --- what the reader would write ------------------------------------------------- */

static void write_status(const char *source, const char *state, long long updated_ms)
{
    char scope[64], value[2048];
    snprintf(scope, sizeof scope, "source:%s", source);
    snprintf(value, sizeof value,
             "{\"source\":\"%s\",\"type\":\"postgresql\",\"state\":\"%s\",\"since_ms\":%lld,"
             "\"updated_ms\":%lld,\"last_error\":\"connection refused\",\"last_error_ms\":%lld,"
             "\"reconnects\":2,\"next_attempt_ms\":null,\"confirmed_position\":\"0/16B3748\","
             "\"slot_lag_bytes\":4096,\"retained_wal_bytes\":65536,\"last_heartbeat_ms\":%lld,"
             "\"last_event_ms\":%lld,\"tables\":["
             "{\"schema\":\"public\",\"name\":\"stock\",\"state\":\"streaming\","
             "\"snapshot\":null,\"parked_reason\":null},"
             "{\"schema\":\"inv\",\"name\":\"reservations\",\"state\":\"snapshot\","
             "\"snapshot\":{\"kind\":\"requested\",\"rows_done\":1200,\"rows_total\":5000},"
             "\"parked_reason\":null}]}",
             source, state, updated_ms - 60000, updated_ms, updated_ms - 120000,
             updated_ms - 2000, updated_ms - 500);
    if (store_set(W.store, scope, "status", value) != 0)
        fail_msg("store_set: %s", store_errstr(W.store));
}

/* 1 with the value when the key is there. */
static int read_key(const char *scope, const char *key, char *out, size_t len)
{
    int rc = store_get(W.store, scope, key, out, len);
    if (rc < 0) fail_msg("store_get: %s", store_errstr(W.store));
    return rc == 0;
}

/* --- the CLI ---------------------------------------------------------------------- */

struct outcome {
    int status;
    char output[16384];
};

static pid_t cli_start(const char *const *args, const char *log)
{
    const char *bin = getenv("STOCKMESH") ? getenv("STOCKMESH") : "build/asan/stockmesh";
    char *argv[16];
    int n = 0;
    argv[n++] = (char *)bin;
    argv[n++] = "-c";
    argv[n++] = W.config_path;
    for (; *args && n < 15; args++) argv[n++] = (char *)*args;
    argv[n] = NULL;
    unlink(log);
    pid_t pid = servers_spawn(argv, log);
    assert_true(pid > 0);
    return pid;
}

static void cli_finish(pid_t pid, const char *log, struct outcome *out)
{
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    out->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    FILE *f = fopen(log, "r");
    size_t len = f ? fread(out->output, 1, sizeof out->output - 1, f) : 0;
    out->output[len] = 0;
    if (f) fclose(f);
}

/* Runs `stockmesh -c CONFIG args…` to the end: its exit status and output. */
static void cli(const char *const *args, struct outcome *out)
{
    char log[400];
    snprintf(log, sizeof log, "%s/cli.log", W.dir);
    cli_finish(cli_start(args, log), log, out);
}

static void expect_output(const struct outcome *out, const char *text)
{
    if (!strstr(out->output, text)) fail_msg("wanted \"%s\" in: %s", text, out->output);
}

/* --- setup ------------------------------------------------------------------------ */

static int setup(void **state)
{
    (void)state;
    snprintf(W.dir, sizeof W.dir, "%s/stockmesh-sources-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(W.dir)) return -1;
    snprintf(W.config_path, sizeof W.config_path, "%s/stockmesh.yaml", W.dir);
    snprintf(W.daemon_log, sizeof W.daemon_log, "%s/stockmeshd.log", W.dir);
    W.port = servers_free_port();
    FILE *f = fopen(W.config_path, "w");
    if (!f) return -1;
    /* Redis and the databases are unreachable on purpose: the console needs neither */
    fprintf(f,
            "state_dir: %s/state\n"
            "backbone:\n  brokers: embedded\n"
            "redis:\n  port: %d\n"
            "console:\n  listen: 127.0.0.1:%d\n"
            "sources:\n"
            "  - name: wms\n    type: postgres\n    dsn: \"host=127.0.0.1 port=%d dbname=wms\"\n"
            "    tables:\n"
            "      - {table: stock, sku: sku, location: loc, on_hand: qty}\n"
            "      - {table: inv.reservations, sku: sku, location: loc, committed: qty}\n"
            "  - name: pos\n    type: mariadb\n    dsn: \"mariadb://127.0.0.1:%d/pos\"\n"
            "    tables:\n"
            "      - {table: shop.levels, sku: sku, location: loc, on_hand: qty}\n"
            "locations:\n  - {code: WH1, type: warehouse}\n"
            "authority:\n  - {location_type: warehouse, source: wms}\n",
            W.dir, servers_free_port(), W.port, servers_free_port(), servers_free_port());
    fclose(f);
    const char *bin = getenv("STOCKMESHD") ? getenv("STOCKMESHD") : "build/asan/stockmeshd";
    char *const argv[] = {(char *)bin, "-c", W.config_path, "--roles", "console", NULL};
    W.daemon = servers_spawn(argv, W.daemon_log);
    if (W.daemon <= 0 || servers_wait_port(W.port, 15000) != 0) {
        show_daemon_log();
        return -1;
    }
    /* the daemon created and migrated it before it listened */
    char db[400], err[512];
    snprintf(db, sizeof db, "%s/state/state.db", W.dir);
    W.store = store_new(db, err, sizeof err);
    if (!W.store) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    store_free(W.store);
    int clean = 1;
    if (W.daemon > 0) {
        kill(W.daemon, SIGTERM);
        int status = -1;
        for (int i = 0; i < 150 && waitpid(W.daemon, &status, WNOHANG) == 0; i++)
            usleep(100 * 1000);
        if (status == -1) {
            kill(W.daemon, SIGKILL);
            waitpid(W.daemon, NULL, 0);
        }
        /* a clean stop, and nothing for the sanitizers to say */
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "stockmeshd did not stop cleanly (status %d)\n", status);
            show_daemon_log();
            clean = 0;
        }
    }
    curl_global_cleanup();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", W.dir);
    return system(cmd) == 0 && clean ? 0 : -1;
}

/* --- the API ---------------------------------------------------------------------- */

static void test_sources_come_in_config_order_with_stale_and_unknown(void **state)
{
    (void)state;
    long long now = now_ms();
    write_status("wms", "streaming", now);
    json_t *o = get_json("/api/v1/sources", 200);
    json_t *list = json_object_get(o, "sources");
    assert_int_equal(json_array_size(list), 2);

    json_t *wms = json_array_get(list, 0);
    assert_string_equal(json_string_value(json_object_get(wms, "source")), "wms");
    assert_string_equal(json_string_value(json_object_get(wms, "state")), "streaming");
    assert_true(json_is_false(json_object_get(wms, "stale")));
    assert_int_equal(json_integer_value(json_object_get(wms, "updated_ms")), now);
    assert_string_equal(json_string_value(json_object_get(wms, "confirmed_position")),
                        "0/16B3748");
    json_t *reservations = json_array_get(json_object_get(wms, "tables"), 1);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(reservations, "snapshot"), "rows_done")),
                     1200);

    /* configured, never reported: the configuration's view, and stale */
    json_t *pos = json_array_get(list, 1);
    assert_string_equal(json_string_value(json_object_get(pos, "source")), "pos");
    assert_string_equal(json_string_value(json_object_get(pos, "type")), "mariadb");
    assert_string_equal(json_string_value(json_object_get(pos, "state")), "unknown");
    assert_true(json_is_true(json_object_get(pos, "stale")));
    assert_true(json_is_null(json_object_get(pos, "updated_ms")));
    json_t *levels = json_array_get(json_object_get(pos, "tables"), 0);
    assert_string_equal(json_string_value(json_object_get(levels, "schema")), "shop");
    assert_string_equal(json_string_value(json_object_get(levels, "name")), "levels");
    json_decref(o);

    /* the reader stopped writing 15 s ago */
    write_status("wms", "streaming", now_ms() - 15000);
    o = get_json("/api/v1/sources/wms", 200);
    assert_string_equal(json_string_value(json_object_get(o, "source")), "wms");
    assert_true(json_is_true(json_object_get(o, "stale")));
    json_decref(o);

    o = get_json("/api/v1/sources/pos", 200);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "unknown");
    json_decref(o);
}

static void test_unknown_source_and_other_methods_are_json_errors(void **state)
{
    (void)state;
    json_t *o = get_json("/api/v1/sources/nope", 404);
    const char *error = json_string_value(json_object_get(o, "error"));
    assert_non_null(error);
    if (!strstr(error, "no source named \"nope\"")) fail_msg("404 does not name the source: %s", error);
    json_decref(o);

    static const char *const methods[][2] = {{"POST", "/api/v1/sources"},
                                             {"DELETE", "/api/v1/sources/wms"},
                                             {"PUT", "/api/v1/sources/pos"}};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        struct response r;
        request(methods[i][0], methods[i][1], &r);
        if (r.status != 405)
            fail_msg("%s %s: %ld: %s", methods[i][0], methods[i][1], r.status, r.body);
        json_t *e = json_loads(r.body, 0, NULL);
        const char *text = json_string_value(json_object_get(e, "error"));
        if (!text || !strstr(text, methods[i][0]))
            fail_msg("405 does not name the method: %s", r.body);
        if (!strstr(r.headers, "Allow: GET")) fail_msg("no Allow header: %s", r.headers);
        json_decref(e);
    }
}

/* --- the CLI ---------------------------------------------------------------------- */

static void test_status_prints_blocks_and_json(void **state)
{
    (void)state;
    write_status("wms", "streaming", now_ms());
    struct outcome out;
    static const char *const json_args[] = {"status", "--json", NULL};
    cli(json_args, &out);
    if (out.status != 0) fail_msg("status --json: exit %d: %s", out.status, out.output);
    json_error_t jerr;
    json_t *o = json_loads(out.output, 0, &jerr);
    if (!o) fail_msg("status --json is not JSON (%s): %s", jerr.text, out.output);
    json_t *list = json_object_get(o, "sources");
    assert_int_equal(json_array_size(list), 2);
    json_t *wms = json_array_get(list, 0), *pos = json_array_get(list, 1);
    assert_string_equal(json_string_value(json_object_get(wms, "state")), "streaming");
    assert_true(json_is_false(json_object_get(wms, "stale")));
    assert_int_equal(json_integer_value(json_object_get(wms, "slot_lag_bytes")), 4096);
    assert_string_equal(json_string_value(json_object_get(pos, "state")), "unknown");
    json_decref(o);

    static const char *const args[] = {"status", NULL};
    cli(args, &out);
    if (out.status != 0) fail_msg("status: exit %d: %s", out.status, out.output);
    expect_output(&out, "wms (postgresql): streaming");
    expect_output(&out, "connection refused");
    expect_output(&out, "4096 bytes");
    expect_output(&out, "inv.reservations  snapshot (requested) 1200/5000 (24.0%)");
    expect_output(&out, "pos (mariadb): unknown");

    static const char *const unknown[] = {"status", "nope", NULL};
    cli(unknown, &out);
    assert_int_equal(out.status, 2);
    expect_output(&out, "\"nope\"");
}

static void test_snapshot_writes_the_request_key(void **state)
{
    (void)state;
    char value[64];
    store_delete(W.store, "source:wms", "snapshot.request.public.stock");
    store_delete(W.store, "source:wms", "snapshot.request.inv.reservations");
    long long before = now_ms();
    struct outcome out;
    static const char *const by_name[] = {"snapshot", "wms", "stock", NULL};
    cli(by_name, &out);
    if (out.status != 0) fail_msg("snapshot wms stock: exit %d: %s", out.status, out.output);
    expect_output(&out, "public.stock");
    assert_true(read_key("source:wms", "snapshot.request.public.stock", value, sizeof value));
    long long at = atoll(value);
    if (at < before || at > now_ms()) fail_msg("request time %s not in [%lld, now]", value, before);

    static const char *const qualified[] = {"snapshot", "wms", "inv.reservations", NULL};
    cli(qualified, &out);
    assert_int_equal(out.status, 0);
    assert_true(read_key("source:wms", "snapshot.request.inv.reservations", value, sizeof value));
}

static void test_snapshot_rejects_what_is_not_configured(void **state)
{
    (void)state;
    char value[64];
    struct outcome out;
    static const char *const no_source[] = {"snapshot", "nope", "stock", NULL};
    cli(no_source, &out);
    assert_int_equal(out.status, 2);
    expect_output(&out, "\"nope\"");
    expect_output(&out, "wms, pos");
    assert_false(read_key("source:nope", "snapshot.request.public.stock", value, sizeof value));

    static const char *const no_table[] = {"snapshot", "wms", "levels", NULL};
    cli(no_table, &out);
    assert_int_equal(out.status, 2);
    expect_output(&out, "public.levels");
    expect_output(&out, "public.stock, inv.reservations");
    assert_false(read_key("source:wms", "snapshot.request.public.levels", value, sizeof value));

    /* a table of another source is not this source's */
    static const char *const other[] = {"snapshot", "wms", "shop.levels", NULL};
    cli(other, &out);
    assert_int_equal(out.status, 2);

    static const char *const missing[] = {"snapshot", "wms", NULL};
    cli(missing, &out);
    assert_int_equal(out.status, 2);
}

/* --wait follows the request through the reader's pick-up and the snapshot to the
 * end; the test plays the reader, a step every 300 ms. */
static void test_snapshot_wait_follows_the_reader(void **state)
{
    (void)state;
    char value[64], log[400];
    snprintf(log, sizeof log, "%s/wait.log", W.dir);
    store_delete(W.store, "source:wms", "snapshot.request.inv.reservations");
    write_status("wms", "streaming", now_ms());
    static const char *const args[] = {"snapshot", "--wait", "--timeout", "20", "wms",
                                       "inv.reservations", NULL};
    pid_t pid = cli_start(args, log);
    int requested = 0;
    for (int i = 0; i < 100 && !requested; i++) {
        usleep(100 * 1000);
        requested = read_key("source:wms", "snapshot.request.inv.reservations", value,
                             sizeof value);
    }
    assert_true(requested);
    /* still streaming as before the request: must not count as done */
    write_status("wms", "streaming", now_ms());
    usleep(600 * 1000);
    assert_int_equal(waitpid(pid, NULL, WNOHANG), 0);
    /* the reader takes the request */
    store_delete(W.store, "source:wms", "snapshot.request.inv.reservations");
    for (int step = 0; step < 3; step++) {
        write_status("wms", "streaming", now_ms()); /* reservations: "snapshot" 1200/5000 */
        usleep(300 * 1000);
    }
    assert_int_equal(waitpid(pid, NULL, WNOHANG), 0);
    /* done: every table streams */
    char done[1024];
    long long now = now_ms();
    snprintf(done, sizeof done,
             "{\"source\":\"wms\",\"type\":\"postgresql\",\"state\":\"streaming\","
             "\"since_ms\":%lld,\"updated_ms\":%lld,\"tables\":["
             "{\"schema\":\"public\",\"name\":\"stock\",\"state\":\"streaming\"},"
             "{\"schema\":\"inv\",\"name\":\"reservations\",\"state\":\"streaming\"}]}",
             now - 60000, now);
    assert_int_equal(store_set(W.store, "source:wms", "status", done), 0);
    struct outcome out;
    cli_finish(pid, log, &out);
    if (out.status != 0) fail_msg("snapshot --wait: exit %d: %s", out.status, out.output);
    expect_output(&out, "1200/5000");
    expect_output(&out, "finished");

    /* nobody takes the request: the timeout ends it with status 1 */
    static const char *const timeout[] = {"snapshot", "--wait", "--timeout", "1", "wms", "stock",
                                          NULL};
    cli(timeout, &out);
    assert_int_equal(out.status, 1);
    expect_output(&out, "gave up after 1 s");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sources_come_in_config_order_with_stale_and_unknown),
        cmocka_unit_test(test_unknown_source_and_other_methods_are_json_errors),
        cmocka_unit_test(test_status_prints_blocks_and_json),
        cmocka_unit_test(test_snapshot_writes_the_request_key),
        cmocka_unit_test(test_snapshot_rejects_what_is_not_configured),
        cmocka_unit_test(test_snapshot_wait_follows_the_reader),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
