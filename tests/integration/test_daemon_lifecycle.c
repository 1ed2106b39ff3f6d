/* test_daemon_lifecycle — stockmeshd stops promptly whatever state the backbone is in:
 * SIGTERM with an unreachable Kafka exits cleanly within seconds, and a process that
 * joined an embedded backbone exits non-zero (to be restarted) when its host dies. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "servers.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/stockmesh-lifecycle-XXXXXX";

static double now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return tv.tv_sec * 1000.0 + tv.tv_usec / 1000.0;
}

/* Waits up to timeout_ms for pid; its exit status, or -1 when it is still running. */
static int wait_exit(pid_t pid, int timeout_ms)
{
    double deadline = now_ms() + timeout_ms;
    int status;
    while (now_ms() < deadline) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        usleep(50 * 1000);
    }
    return -1;
}

static void write_config(const char *path, const char *brokers, int console_port)
{
    /* Redis and PostgreSQL are unreachable on purpose: nothing here needs them up */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "state_dir: %s/state\n"
            "backbone:\n  brokers: \"%s\"\n"
            "redis:\n  port: %d\n"
            "console:\n  listen: 127.0.0.1:%d\n"
            "sources:\n"
            "  - name: erp\n    type: postgres\n    dsn: \"host=127.0.0.1 port=%d dbname=x\"\n"
            "    tables:\n      - {table: stock, sku: sku, location: loc, on_hand: qty}\n"
            "locations:\n  - {code: WH1, type: warehouse}\n"
            "channels:\n  - name: web\n    url: http://127.0.0.1:9/web\n    secret: s\n"
            "    location_types: [warehouse]\n",
            dir, brokers, servers_free_port(), console_port, servers_free_port());
    fclose(f);
}

static pid_t start(const char *config, const char *roles, const char *log)
{
    const char *bin = getenv("STOCKMESHD") ? getenv("STOCKMESHD") : "build/asan/stockmeshd";
    char *const argv[] = {(char *)bin, "-c", (char *)config, "--roles", (char *)roles, NULL};
    pid_t pid = servers_spawn(argv, log);
    assert_true(pid > 0);
    return pid;
}

/* Reads the bootstrap address an embedded backbone host published. */
static void published_bootstrap(char *out, size_t len)
{
    char path[300], line[256];
    snprintf(path, sizeof path, "%s/state/backbone", dir);
    for (int tries = 0; tries < 100; tries++) {
        FILE *f = fopen(path, "r");
        while (f && fgets(line, sizeof line, f))
            if (strncmp(line, "bootstrap=", 10) == 0) {
                line[strcspn(line, "\n")] = 0;
                snprintf(out, len, "%.*s", (int)len - 1, line + 10);
                fclose(f);
                return;
            }
        if (f) fclose(f);
        usleep(100 * 1000);
    }
    fail_msg("no backbone address published in %s", path);
}

/* A consumer that had its partitions when Kafka vanished must still stop on SIGTERM:
 * leaving the group cannot wait for a coordinator that is gone. */
static void test_sigterm_after_the_cluster_vanished_stops_promptly(void **state)
{
    (void)state;
    char host_config[300], config[300], host_log[300], log[300], brokers[128];
    snprintf(host_config, sizeof host_config, "%s/host.yaml", dir);
    snprintf(config, sizeof config, "%s/external.yaml", dir);
    snprintf(host_log, sizeof host_log, "%s/cluster.log", dir);
    snprintf(log, sizeof log, "%s/external.log", dir);
    write_config(host_config, "embedded", servers_free_port());
    pid_t cluster = start(host_config, "console", host_log);
    published_bootstrap(brokers, sizeof brokers);
    /* this one sees it as an external cluster: no host watch, a plain Kafka client */
    write_config(config, brokers, servers_free_port());
    pid_t pid = start(config, "merge,push,console", log);
    sleep(6); /* joined both groups and got partitions */
    kill(cluster, SIGKILL);
    waitpid(cluster, NULL, 0);
    sleep(1);
    kill(pid, SIGTERM);
    int status = wait_exit(pid, 15000);
    if (status < 0) kill(pid, SIGKILL);
    assert_int_equal(status, 0);
    unlink(host_config);
}

static void test_joiner_exits_when_the_embedded_host_dies(void **state)
{
    (void)state;
    char config[300], host_log[300], joiner_log[300];
    snprintf(config, sizeof config, "%s/embedded.yaml", dir);
    snprintf(host_log, sizeof host_log, "%s/host.log", dir);
    snprintf(joiner_log, sizeof joiner_log, "%s/joiner.log", dir);
    write_config(config, "embedded", servers_free_port());
    pid_t host = start(config, "console", host_log);
    sleep(1);
    pid_t joiner = start(config, "merge,push", joiner_log);
    sleep(3);
    assert_int_equal(wait_exit(joiner, 0), -1); /* joined and running */
    kill(host, SIGKILL);
    waitpid(host, NULL, 0);
    int status = wait_exit(joiner, 15000);
    if (status < 0) kill(joiner, SIGKILL);
    assert_int_equal(status, 1);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigterm_after_the_cluster_vanished_stops_promptly),
        cmocka_unit_test(test_joiner_exits_when_the_embedded_host_dies),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
