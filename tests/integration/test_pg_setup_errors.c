/* test_pg_setup_errors — a PostgreSQL source set up wrong gets an error that names the
 * fix, in the source's status (API, `stockmesh status`) and the log, and the reader keeps
 * retrying until it is fixed: wal_level, the REPLICATION attribute, a missing pg_hba
 * replication line, SELECT privilege, a table without a usable key. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "servers.h"
#include "stockmesh/store.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

struct world {
    struct servers_server pg, redis;
    char dir[256];
    char config_path[512];
    char log_path[512];
    char state_dir[512];
    pid_t daemon;
};

static struct world W;

static double now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return tv.tv_sec * 1000.0 + tv.tv_usec / 1000.0;
}

static void write_config(const char *user, const char *table)
{
    FILE *f = fopen(W.config_path, "w");
    fprintf(f,
            "state_dir: %s\n"
            "backbone:\n  brokers: embedded\n"
            "redis:\n  host: 127.0.0.1\n  port: %d\n"
            "console:\n  listen: 127.0.0.1:%d\n"
            "sources:\n"
            "  - name: erp\n    type: postgres\n"
            "    dsn: \"host=127.0.0.1 port=%d dbname=retail user=%s\"\n"
            "    tables:\n"
            "      - table: %s\n        sku: sku\n        location_code: L01\n"
            "        on_hand: on_hand\n"
            "locations:\n  - code: L01\n    type: store\n"
            "channels:\n  - name: web\n    url: http://127.0.0.1:9/web\n    secret: x\n"
            "    location_types: [store]\n",
            W.state_dir, W.redis.port, servers_free_port(), W.pg.port, user, table);
    fclose(f);
}

static void start_daemon(void)
{
    const char *bin = getenv("STOCKMESHD");
    char *const argv[] = {(char *)(bin ? bin : "build/asan/stockmeshd"), "-c", W.config_path,
                          "--roles", "cdc", NULL};
    W.daemon = servers_spawn(argv, W.log_path);
    assert_true(W.daemon > 0);
}

static void stop_daemon(void)
{
    if (W.daemon <= 0) return;
    kill(W.daemon, SIGTERM);
    int status;
    waitpid(W.daemon, &status, 0);
    W.daemon = 0;
}

static char *status_json(void)
{
    char path[600], err[256];
    snprintf(path, sizeof path, "%s/state.db", W.state_dir);
    struct store *s = store_new(path, err, sizeof err);
    if (!s) return NULL;
    char *out = malloc(65536);
    if (out && store_get(s, "source:erp", "status", out, 65536) != 0) {
        free(out);
        out = NULL;
    }
    store_free(s);
    return out;
}

/* Runs the daemon until the source's last error holds every needle; 0, or -1 after
 * printing what it saw. */
static int run_until_error(const char *user, const char *table, const char *const *needles)
{
    write_config(user, table);
    start_daemon();
    double deadline = now_ms() + 30000;
    char *status = NULL;
    int found = 0;
    while (!found && now_ms() < deadline) {
        usleep(300 * 1000);
        free(status);
        status = status_json();
        found = status != NULL;
        for (const char *const *n = needles; found && *n; n++) found = strstr(status, *n) != NULL;
    }
    stop_daemon();
    if (!found) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "tail -n 20 %s >&2", W.log_path);
        if (system(cmd) != 0) fprintf(stderr, "(no log)\n");
        fprintf(stderr, "status never named the fix (%s); last status: %s\n", needles[0],
                status ? status : "(none)");
        free(status);
        return -1;
    }
    printf("%s: %.300s\n", needles[0], strstr(status, "\"last_error\""));
    free(status);
    return 0;
}

static void expect_error(const char *user, const char *table, const char *const *needles)
{
    assert_int_equal(run_until_error(user, table, needles), 0);
}

static int setup(void **state)
{
    (void)state;
    char err[1024];
    snprintf(W.dir, sizeof W.dir, "%s/stockmesh-pgerr-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(W.dir)) return -1;
    if (servers_start(&W.pg, SERVERS_POSTGRES, NULL, 0, err, sizeof err) != 0 ||
        servers_start(&W.redis, SERVERS_REDIS, NULL, 0, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    if (servers_pg_exec(&W.pg, NULL, "CREATE DATABASE retail", err, sizeof err) != 0 ||
        servers_pg_exec(&W.pg, "retail",
                        "CREATE TABLE stock (sku text PRIMARY KEY, on_hand int NOT NULL);"
                        "CREATE TABLE nokey (sku text NOT NULL, on_hand int NOT NULL);"
                        "CREATE TABLE byid (id int PRIMARY KEY, sku text NOT NULL, "
                        "on_hand int NOT NULL);"
                        "CREATE TABLE secret (sku text PRIMARY KEY, on_hand int NOT NULL);"
                        "CREATE ROLE plain LOGIN;"
                        "CREATE ROLE repl LOGIN REPLICATION;"
                        "ALTER TABLE stock OWNER TO repl; ALTER TABLE nokey OWNER TO repl;"
                        "ALTER TABLE byid OWNER TO repl;"
                        "GRANT CREATE ON DATABASE retail TO repl;",
                        err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    snprintf(W.state_dir, sizeof W.state_dir, "%s/state", W.dir);
    snprintf(W.config_path, sizeof W.config_path, "%s/stockmesh.yaml", W.dir);
    snprintf(W.log_path, sizeof W.log_path, "%s/stockmeshd.log", W.dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    stop_daemon();
    servers_stop(&W.pg);
    servers_stop(&W.redis);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", W.dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", W.dir);
    return 0;
}

static void test_user_without_replication(void **state)
{
    (void)state;
    const char *needles[] = {"ALTER ROLE plain REPLICATION", NULL};
    expect_error("plain", "public.stock", needles);
}

static void test_table_without_key(void **state)
{
    (void)state;
    const char *needles[] = {"public.nokey has no primary key", "REPLICA IDENTITY USING INDEX",
                             NULL};
    expect_error("repl", "public.nokey", needles);
}

/* Keyed by a surrogate id, its DELETEs would carry only the id: not which SKU lost
 * its stock. */
static void test_table_whose_key_does_not_name_the_sku(void **state)
{
    (void)state;
    const char *needles[] = {"column \\\"sku\\\" is not part of its key",
                             "REPLICA IDENTITY FULL", NULL};
    expect_error("repl", "public.byid", needles);
}

static void test_table_not_readable(void **state)
{
    (void)state;
    const char *needles[] = {"GRANT SELECT ON \\\"public\\\".\\\"secret\\\" TO repl", NULL};
    expect_error("repl", "public.secret", needles);
}

/* Logical replication connections name a database, so pg_hba.conf matches them with
 * database lines (a `replication` line is for physical replication only). */
static void test_missing_pg_hba_line(void **state)
{
    (void)state;
    char path[700], err[512];
    char *hba = servers_pg_query_value(&W.pg, NULL, "SHOW hba_file");
    assert_non_null(hba);
    snprintf(path, sizeof path, "%s", hba);
    free(hba);
    char cmd[3200];
    snprintf(cmd, sizeof cmd,
             "cp %s %s.orig && printf 'local all all trust\\nhost all postgres 127.0.0.1/32 "
             "trust\\n' > %s",
             path, path, path);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(servers_pg_exec(&W.pg, NULL, "SELECT pg_reload_conf()", err, sizeof err), 0);
    const char *needles[] = {"no pg_hba.conf entry", "host retail repl", NULL};
    int rc = run_until_error("repl", "public.stock", needles);
    snprintf(cmd, sizeof cmd, "cp %s.orig %s", path, path);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(servers_pg_exec(&W.pg, NULL, "SELECT pg_reload_conf()", err, sizeof err), 0);
    assert_int_equal(rc, 0);
}

static void test_wal_level_not_logical(void **state)
{
    (void)state;
    char err[512];
    int port = W.pg.port;
    char dir[512];
    snprintf(dir, sizeof dir, "%s", W.pg.dir);
    W.pg.owns_dir = 0;
    servers_stop(&W.pg);
    setenv("SERVERS_PG_WAL_LEVEL", "replica", 1);
    int rc = servers_start(&W.pg, SERVERS_POSTGRES, dir, port, err, sizeof err);
    unsetenv("SERVERS_PG_WAL_LEVEL");
    assert_int_equal(rc, 0);
    W.pg.owns_dir = 1;
    const char *needles[] = {"wal_level=replica", "wal_level=logical", NULL};
    expect_error("repl", "public.stock", needles);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_without_replication),
        cmocka_unit_test(test_table_without_key),
        cmocka_unit_test(test_table_whose_key_does_not_name_the_sku),
        cmocka_unit_test(test_table_not_readable),
        cmocka_unit_test(test_missing_pg_hba_line),
        cmocka_unit_test(test_wal_level_not_logical),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
