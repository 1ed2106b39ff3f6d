/* The integration-test harness itself: real PostgreSQL, MariaDB and Redis servers start,
 * answer, survive kill -9 with their data, and stop; the webhook receiver accepts only
 * what a real channel would. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "receiver.h"
#include "servers.h"

#define SECRET "test-channel-secret"

/* ------------------------------------------------------------------ helpers */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int dir_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static void start_or_fail(struct servers_server *s, enum servers_kind kind, const char *dir,
                          int port)
{
    char err[1024] = "";
    if (servers_start(s, kind, dir, port, err, sizeof err) != 0)
        fail_msg("starting %s: %s", servers_kind_name(kind), err);
    assert_true(s->pid > 0);
    assert_true(s->port > 0);
}

static void pg_exec_ok(const struct servers_server *s, const char *sql)
{
    char err[1024] = "";
    if (servers_pg_exec(s, NULL, sql, err, sizeof err) != 0)
        fail_msg("PostgreSQL: %s", err);
}

static void mariadb_exec_ok(const struct servers_server *s, const char *sql)
{
    char err[1024] = "";
    if (servers_mariadb_exec(s, NULL, sql, err, sizeof err) != 0)
        fail_msg("MariaDB: %s", err);
}

/* Asserts that a malloc'd query result equals expected; frees it either way. */
static void assert_value(char *got, const char *expected)
{
    if (got == NULL)
        fail_msg("expected \"%s\", got no value", expected);
    int same = strcmp(got, expected) == 0;
    if (!same)
        print_error("expected \"%s\", got \"%s\"\n", expected, got);
    free(got);
    assert_true(same);
}

static void assert_redis(const struct servers_server *s, const char *expected, const char *fmt,
                         const char *a, const char *b)
{
    char err[512] = "";
    assert_value(servers_redis_command(s, err, sizeof err, fmt, a, b), expected);
}

/* ------------------------------------------------------------------ servers */

/* Each server test gets a zeroed server in *state; teardown stops it even after a failure. */
static int setup_server(void **state)
{
    *state = calloc(1, sizeof(struct servers_server));
    return *state ? 0 : -1;
}

static int teardown_server(void **state)
{
    struct servers_server *s = *state;
    int rc = servers_stop(s);
    free(s);
    return rc;
}

static void test_spawn_captures_output_and_exit_status(void **state)
{
    (void)state;
    char dir[] = "/tmp/stockmesh-spawn-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char log[64];
    snprintf(log, sizeof log, "%s/out.log", dir);
    char *argv[] = { "/bin/sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3", NULL };
    pid_t pid = servers_spawn(argv, log);
    assert_true(pid > 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 3);

    char text[256] = "";
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    assert_non_null(strstr(text, "to-stdout"));
    assert_non_null(strstr(text, "to-stderr"));

    char *missing[] = { "/nonexistent/program", NULL };
    assert_int_equal(servers_spawn(missing, log), -1);
    unlink(log);
    rmdir(dir);
}

static void test_wait_port_times_out_on_a_closed_port(void **state)
{
    (void)state;
    int port = servers_free_port();
    assert_true(port > 0 && port < 65536);
    assert_int_equal(servers_wait_port(port, 200), -1);
}

static void test_postgres_keeps_data_across_kill_9(void **state)
{
    struct servers_server *pg = *state;
    start_or_fail(pg, SERVERS_POSTGRES, NULL, 0);
    assert_true(pg->owns_dir);

    assert_value(servers_pg_query_value(pg, NULL, "SHOW wal_level"), "logical");
    pg_exec_ok(pg, "CREATE TABLE stock (sku text PRIMARY KEY, qty int NOT NULL);"
                   "INSERT INTO stock VALUES ('A-1', 7), ('B-2', 3);"
                   "UPDATE stock SET qty = qty + 1 WHERE sku = 'A-1'");
    assert_value(servers_pg_query_value(pg, NULL, "SELECT qty FROM stock WHERE sku = 'A-1'"),
                 "8");
    /* What CDC relies on: logical decoding and a replication connection over TCP. */
    pg_exec_ok(pg, "SELECT pg_create_logical_replication_slot('harness', 'pgoutput')");
    char conninfo[128];
    snprintf(conninfo, sizeof conninfo,
             "host=127.0.0.1 port=%d user=postgres dbname=postgres replication=database",
             pg->port);
    PGconn *repl = PQconnectdb(conninfo);
    int repl_ok = PQstatus(repl) == CONNECTION_OK;
    if (!repl_ok)
        print_error("replication connection: %s", PQerrorMessage(repl));
    PQfinish(repl);
    assert_true(repl_ok);

    char err[1024] = "";
    assert_int_not_equal(servers_pg_exec(pg, NULL, "SELECT * FROM no_such_table", err,
                                         sizeof err), 0);
    assert_non_null(strstr(err, "no_such_table"));

    int port = pg->port;
    assert_int_equal(servers_kill(pg), 0);
    assert_int_equal(pg->pid, 0);
    assert_int_not_equal(servers_wait_port(port, 100), 0);

    start_or_fail(pg, pg->kind, pg->dir, pg->port);
    assert_int_equal(pg->port, port);
    assert_true(pg->owns_dir);
    assert_value(servers_pg_query_value(pg, NULL, "SELECT qty FROM stock WHERE sku = 'A-1'"),
                 "8");
    assert_value(servers_pg_query_value(pg, NULL, "SELECT count(*) FROM pg_replication_slots"),
                 "1");

    char dir[sizeof pg->dir];
    strcpy(dir, pg->dir);
    assert_int_equal(servers_stop(pg), 0);
    assert_int_equal(pg->pid, 0);
    assert_false(dir_exists(dir));
}

static void test_postgres_start_failure_names_the_log(void **state)
{
    struct servers_server *pg = *state;
    /* Someone else holds the port. */
    int busy = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    assert_int_equal(bind(busy, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(busy, 1), 0);
    assert_int_equal(getsockname(busy, (struct sockaddr *)&a, &len), 0);

    char err[1024] = "";
    int rc = servers_start(pg, SERVERS_POSTGRES, NULL, ntohs(a.sin_port), err, sizeof err);
    close(busy);
    assert_int_equal(rc, -1);
    assert_int_equal(pg->pid, 0);
    assert_non_null(strstr(err, "postgres"));
    assert_non_null(strstr(err, pg->log_path));
    assert_true(dir_exists(pg->log_path)); /* kept for reading until servers_stop */
}

static void test_mariadb_runs_with_row_binlog_and_survives_kill_9(void **state)
{
    struct servers_server *db = *state;
    start_or_fail(db, SERVERS_MARIADB, NULL, 0);

    assert_value(servers_mariadb_query_value(db, NULL,
                                             "SELECT CONCAT_WS(' ', IF(@@log_bin, 'on', 'off'), "
                                             "@@binlog_format, @@binlog_row_image, "
                                             "@@binlog_row_metadata)"),
                 "on ROW FULL FULL");
    mariadb_exec_ok(db, "CREATE DATABASE shop;"
                        "CREATE TABLE shop.stock (sku VARCHAR(32) PRIMARY KEY, qty INT) "
                        "ENGINE=InnoDB;"
                        "INSERT INTO shop.stock VALUES ('A-1', 7), ('B-2', 3);"
                        "SELECT 1;"
                        "UPDATE shop.stock SET qty = 9 WHERE sku = 'B-2'");
    assert_value(servers_mariadb_query_value(db, "shop", "SELECT qty FROM stock WHERE sku='B-2'"),
                 "9");

    char err[1024] = "";
    assert_int_not_equal(servers_mariadb_exec(db, "shop", "SELECT 1; SELECT * FROM nope", err,
                                              sizeof err), 0);
    assert_non_null(strstr(err, "nope"));

    int port = db->port;
    assert_int_equal(servers_kill(db), 0);
    start_or_fail(db, db->kind, db->dir, db->port);
    assert_int_equal(db->port, port);
    assert_value(servers_mariadb_query_value(db, "shop", "SELECT SUM(qty) FROM stock"), "16");
}

static void test_redis_answers_and_keeps_aof_across_kill_9(void **state)
{
    struct servers_server *rd = *state;
    start_or_fail(rd, SERVERS_REDIS, NULL, 0);

    assert_redis(rd, "PONG", "PING", NULL, NULL);
    assert_redis(rd, "appendonly\nyes", "CONFIG GET %s", "appendonly", NULL);
    assert_redis(rd, "OK", "SET %s %s", "{A-1}:web", "5");
    assert_redis(rd, "6", "INCRBY %s %s", "{A-1}:web", "1");

    char err[256] = "";
    assert_null(servers_redis_command(rd, err, sizeof err, "GET %s", "missing"));
    assert_string_equal(err, "");
    assert_null(servers_redis_command(rd, err, sizeof err, "NOSUCHCOMMAND"));
    assert_non_null(strstr(err, "unknown command"));

    /* With appendfsync everysec the AOF write normally happens before the reply, but
       Redis postpones it up to 2 s while an earlier fsync is slow (a busy disk); past
       that, kill -9 of the process loses nothing. stockmesh's readers wait longer than
       this (redis.persist_delay_ms) before confirming anything to a source. */
    usleep(2500 * 1000);
    int port = rd->port;
    assert_int_equal(servers_kill(rd), 0);
    start_or_fail(rd, rd->kind, rd->dir, rd->port);
    assert_int_equal(rd->port, port);
    assert_redis(rd, "6", "GET %s", "{A-1}:web", NULL);
}

static void test_start_refuses_a_dir_in_use(void **state)
{
    struct servers_server *rd = *state, other;
    start_or_fail(rd, SERVERS_REDIS, NULL, 0);
    char err[1024] = "";
    assert_int_equal(servers_start(&other, SERVERS_REDIS, rd->dir, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "already running"));
    assert_int_equal(servers_start(&other, SERVERS_POSTGRES, rd->dir, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "holds a redis server"));

    struct servers_server probed;
    assert_int_equal(servers_probe_dir(rd->dir, &probed), 0);
    assert_int_equal(probed.pid, rd->pid);
    assert_int_equal(probed.port, rd->port);
}

/* ------------------------------------------------------------------ receiver */

struct response {
    long status;
    char retry_after[32];
    char body[512];
    size_t body_len;
    double seconds;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct response *r = arg;
    size_t len = size * n, room = sizeof r->body - 1 - r->body_len;
    size_t take = len < room ? len : room;
    memcpy(r->body + r->body_len, data, take);
    r->body_len += take;
    r->body[r->body_len] = '\0';
    return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    struct response *r = arg;
    size_t len = size * n;
    if (len > 12 && strncasecmp(data, "Retry-After:", 12) == 0)
        snprintf(r->retry_after, sizeof r->retry_after, "%.*s", (int)(len - 12), data + 12);
    return len;
}

static void sign(const char *secret, const char *timestamp, const char *body, char *out)
{
    char *msg = NULL;
    assert_true(asprintf(&msg, "%s.%s", timestamp, body) > 0);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    assert_non_null(HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)msg,
                         strlen(msg), mac, &mac_len));
    free(msg);
    strcpy(out, "sha256=");
    for (unsigned int i = 0; i < mac_len; i++)
        sprintf(out + 7 + 2 * i, "%02x", mac[i]);
}

/* POSTs body signed with secret at timestamp ts_ms (signature NULL: a correct one). */
static struct response post(const struct receiver *rcv, const char *secret, long long ts_ms,
                            const char *body, const char *delivery, const char *signature)
{
    struct response res;
    memset(&res, 0, sizeof res);
    char url[64], ts[32], sig[128], h_ts[64], h_sig[160], h_del[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/channels/web", receiver_port(rcv));
    snprintf(ts, sizeof ts, "%lld", ts_ms);
    if (signature == NULL) {
        sign(secret, ts, body, sig);
        signature = sig;
    }
    snprintf(h_ts, sizeof h_ts, "X-Stockmesh-Timestamp: %s", ts);
    snprintf(h_sig, sizeof h_sig, "X-Stockmesh-Signature: %s", signature);
    snprintf(h_del, sizeof h_del, "X-Stockmesh-Delivery: %s", delivery ? delivery : "");

    CURL *c = curl_easy_init();
    assert_non_null(c);
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    h = curl_slist_append(h, h_ts);
    h = curl_slist_append(h, h_sig);
    if (delivery)
        h = curl_slist_append(h, h_del);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &res);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &res);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fail_msg("POST %s: %s", url, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res.status);
    curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &res.seconds);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return res;
}

static char *payload(const char *sku, long long available, long long version, long long ts_ms)
{
    char *body = NULL;
    assert_true(asprintf(&body,
                         "{\"channel\":\"web\",\"updates\":[{\"sku\":\"%s\",\"available\":%lld,"
                         "\"version\":%lld,\"ts_ms\":%lld}]}",
                         sku, available, version, ts_ms) > 0);
    return body;
}

static void test_receiver_accepts_only_signed_fresh_payloads(void **state)
{
    (void)state;
    char err[256] = "";
    struct receiver *rcv = receiver_new(SECRET, 0, err, sizeof err);
    if (rcv == NULL)
        fail_msg("receiver_new: %s", err);
    char *log_text = NULL;
    size_t log_len = 0;
    FILE *log = open_memstream(&log_text, &log_len);
    receiver_set_log(rcv, log);

    long long now = now_ms();
    char *good = payload("A-1", 5, 3, now - 20);
    struct response res = post(rcv, SECRET, now, good, "d-1", NULL);
    assert_int_equal(res.status, 200);
    long long available = -1, version = -1;
    assert_int_equal(receiver_get(rcv, "web", "A-1", &available, &version), 0);
    assert_int_equal(available, 5);
    assert_int_equal(version, 3);
    double received;
    assert_int_equal(receiver_received_ms(rcv, "web", "A-1", &received), 0);
    assert_true(received >= (double)now - 1000 && received <= (double)now_ms() + 1000);

    /* Wrong secret, and a tampered body under a once-good signature: 401, nothing stored. */
    char *other = payload("A-1", 99, 4, now);
    assert_int_equal(post(rcv, "not-the-secret", now, other, "d-2", NULL).status, 401);
    char good_sig[128], ts[32];
    snprintf(ts, sizeof ts, "%lld", now);
    sign(SECRET, ts, good, good_sig);
    assert_int_equal(post(rcv, SECRET, now, other, "d-3", good_sig).status, 401);
    assert_int_equal(post(rcv, SECRET, now, other, "d-4", "").status, 401);

    /* Correctly signed but six minutes old: a replay, 400. */
    long long old = now - 6 * 60 * 1000;
    assert_int_equal(post(rcv, SECRET, old, other, "d-5", NULL).status, 400);
    assert_int_equal(receiver_get(rcv, "web", "A-1", &available, &version), 0);
    assert_int_equal(available, 5);

    /* Signed garbage: 400. */
    assert_int_equal(post(rcv, SECRET, now, "{\"channel\":\"web\"", "d-6", NULL).status, 400);
    assert_int_equal(post(rcv, SECRET, now, "{\"channel\":\"web\",\"updates\":[{\"sku\":\"A-1\"}]}",
                          "d-7", NULL).status, 400);

    /* An older version arriving late is acknowledged but ignored. */
    char *stale = payload("A-1", 1, 2, now);
    assert_int_equal(post(rcv, SECRET, now, stale, "d-8", NULL).status, 200);
    assert_int_equal(receiver_get(rcv, "web", "A-1", &available, &version), 0);
    assert_int_equal(available, 5);
    assert_int_equal(version, 3);

    /* A retried delivery changes nothing the second time. */
    char *newer = payload("A-1", 4, 7, now);
    assert_int_equal(post(rcv, SECRET, now, newer, "d-9", NULL).status, 200);
    assert_int_equal(post(rcv, SECRET, now, newer, "d-9", NULL).status, 200);
    assert_int_equal(receiver_wait_value(rcv, "web", "A-1", 4, 1000), 0);
    assert_int_equal(receiver_wait_value(rcv, "web", "A-1", 5, 50), -1);
    assert_int_equal(receiver_get(rcv, "web", "B-2", NULL, NULL), -1);

    struct receiver_stats st;
    receiver_stats(rcv, &st);
    assert_int_equal(st.requests, 10);
    assert_int_equal(st.updates, 3);
    assert_int_equal(st.applied, 2);
    assert_int_equal(st.stale_versions, 1);
    assert_int_equal(st.rejected_signature, 3);
    assert_int_equal(st.rejected_stale_ts, 1);
    assert_int_equal(st.rejected_malformed, 2);
    assert_int_equal(st.duplicate_deliveries, 1);
    assert_int_equal(st.skus, 1);

    double lat[8];
    assert_int_equal(receiver_latencies(rcv, lat, 8), 2);
    assert_true(lat[0] >= 20.0 && lat[0] < 10000.0);

    receiver_set_log(rcv, NULL);
    fclose(log);
    assert_non_null(strstr(log_text, "Z channel=web sku=A-1 available=5 version=3 latency_ms="));
    assert_non_null(strstr(log_text, "channel=web sku=A-1 available=1 version=2 latency_ms="));
    free(log_text);

    free(good);
    free(other);
    free(stale);
    free(newer);
    receiver_free(rcv);
}

static void test_receiver_misbehaves_on_request(void **state)
{
    (void)state;
    char err[256] = "";
    struct receiver *rcv = receiver_new(SECRET, 0, err, sizeof err);
    if (rcv == NULL)
        fail_msg("receiver_new: %s", err);
    long long now = now_ms();
    char *body = payload("C-3", 11, 1, now);

    receiver_fail_next(rcv, 429, 2, 7);
    struct response res = post(rcv, SECRET, now, body, "d-1", NULL);
    assert_int_equal(res.status, 429);
    assert_int_equal(atoi(res.retry_after), 7);
    assert_int_equal(post(rcv, SECRET, now, body, "d-1", NULL).status, 429);
    assert_int_equal(receiver_get(rcv, "web", "C-3", NULL, NULL), -1);

    receiver_stall_next(rcv, 300, 1);
    res = post(rcv, SECRET, now, body, "d-1", NULL);
    assert_int_equal(res.status, 200);
    assert_true(res.seconds >= 0.3);
    assert_int_equal(receiver_wait_value(rcv, "web", "C-3", 11, 1000), 0);
    assert_true(post(rcv, SECRET, now, body, "d-1", NULL).seconds < 0.3);

    struct receiver_stats st;
    receiver_stats(rcv, &st);
    assert_int_equal(st.forced_failures, 2);
    assert_int_equal(st.requests, 4);
    assert_int_equal(st.applied, 1);
    assert_int_equal(st.duplicate_deliveries, 1);

    /* A taken port is an error that says so. */
    struct receiver *clash = receiver_new(SECRET, receiver_port(rcv), err, sizeof err);
    assert_null(clash);
    assert_non_null(strstr(err, "cannot listen"));

    free(body);
    receiver_free(rcv);
}

static void test_receiver_keeps_latencies_oldest_first(void **state)
{
    (void)state;
    char err[256] = "";
    struct receiver *rcv = receiver_new(SECRET, 0, err, sizeof err);
    if (rcv == NULL)
        fail_msg("receiver_new: %s", err);
    /* 3000 updates in one request share one receipt time, so update i's latency is
     * exactly 10 ms below update i-1's. */
    enum { N = 3000 };
    long long now = now_ms();
    size_t cap = 64 + (size_t)N * 96, len = 0;
    char *body = malloc(cap);
    assert_non_null(body);
    len += (size_t)snprintf(body + len, cap - len, "{\"channel\":\"web\",\"updates\":[");
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(body + len, cap - len,
                                "%s{\"sku\":\"S-%d\",\"available\":%d,\"version\":1,"
                                "\"ts_ms\":%lld}", i ? "," : "", i, i, now - 100000 + 10LL * i);
    snprintf(body + len, cap - len, "]}");
    assert_int_equal(post(rcv, SECRET, now, body, "bulk", NULL).status, 200);
    free(body);

    double *lat = calloc(N + 10, sizeof *lat);
    assert_non_null(lat);
    assert_int_equal(receiver_latencies(rcv, lat, N + 10), N);
    for (int i = 1; i < N; i++)
        assert_true(lat[i - 1] - lat[i] > 9.999 && lat[i - 1] - lat[i] < 10.001);
    assert_int_equal(receiver_latencies(rcv, lat, 2), 2); /* the newest two */
    assert_true(lat[0] - lat[1] > 9.999 && lat[0] - lat[1] < 10.001);
    assert_true(lat[1] < 100000.0 - 10.0 * (N - 2));
    free(lat);

    struct receiver_stats st;
    receiver_stats(rcv, &st);
    assert_int_equal(st.skus, N);
    long long available;
    assert_int_equal(receiver_get(rcv, "web", "S-2999", &available, NULL), 0);
    assert_int_equal(available, 2999);
    receiver_free(rcv);
}

static int setup_curl(void **state)
{
    (void)state;
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int teardown_curl(void **state)
{
    (void)state;
    curl_global_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spawn_captures_output_and_exit_status),
        cmocka_unit_test(test_wait_port_times_out_on_a_closed_port),
#define SERVER_TEST(t) cmocka_unit_test_setup_teardown(t, setup_server, teardown_server)
        SERVER_TEST(test_postgres_keeps_data_across_kill_9),
        SERVER_TEST(test_postgres_start_failure_names_the_log),
        SERVER_TEST(test_mariadb_runs_with_row_binlog_and_survives_kill_9),
        SERVER_TEST(test_redis_answers_and_keeps_aof_across_kill_9),
        SERVER_TEST(test_start_refuses_a_dir_in_use),
        cmocka_unit_test(test_receiver_accepts_only_signed_fresh_payloads),
        cmocka_unit_test(test_receiver_misbehaves_on_request),
        cmocka_unit_test(test_receiver_keeps_latencies_oldest_first),
    };
    return cmocka_run_group_tests_name("harness", tests, setup_curl, teardown_curl);
}
