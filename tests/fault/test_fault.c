/* test_fault — kill -9 and restart the parts of a running appliance at random moments
 * under load, then check that nothing was lost.
 *
 * The roles run as separate stockmeshd processes (cdc, merge, push, console), each
 * supervised here the way systemd would (restarted when it exits), next to real
 * PostgreSQL and Redis servers. A writer thread keeps changing stock (updates,
 * deletes, re-inserts) and reconnects when PostgreSQL goes away. After the last kill
 * the pipeline must converge: for every SKU and channel, Redis and what the channel
 * receiver last got must equal the truth computed by SQL from the source through the
 * same mapping.
 *
 *   FAULT_SECONDS (default 90)  how long kills go on
 *   FAULT_KILLS   (default 24)  how many kills
 *   FAULT_SEED    (default time) random seed, printed for reproduction
 *
 * One kill in three is a double fault: a second role dies while the first is still
 * down, the way a host losing power or an operator's mistake takes out more than one
 * part (merge down while the backbone's host dies is the case that tests the
 * confirmation rule hardest: events the sources sent are then only in a backbone
 * that is gone).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "receiver.h"
#include "servers.h"

#include <hiredis/hiredis.h>

#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NSKUS 60          /* hot: changed many times a second, every location */
#define NCOLD 600         /* cold: each changed exactly once while the faults go on, so a
                             lost change cannot be healed by a later one */
#define ALL_SKUS (NSKUS + NCOLD)
#define SECRET "fault-test-secret"
#define CONVERGE_TIMEOUT_MS 240000

enum part { PART_CDC, PART_MERGE, PART_PUSH, PART_CONSOLE, PART_REDIS, PART_POSTGRES, NPARTS };
static const char *const PART_NAMES[NPARTS] = {"cdc", "merge", "push", "console", "redis",
                                               "postgres"};
static const char *const LOCATIONS[] = {"WH1", "S12", "S14"};

struct world {
    struct servers_server pg, redis;
    struct receiver *receiver;
    char dir[256];
    char config_path[512];
    pid_t role_pid[4];
    char role_log[4][512];
    int kills[NPARTS];
    int self_restarts;
    int double_faults;
    unsigned seed;
};

static struct world W;

static double now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return tv.tv_sec * 1000.0 + tv.tv_usec / 1000.0;
}

static void start_role(int role)
{
    const char *bin = getenv("STOCKMESHD") ? getenv("STOCKMESHD") : "build/asan/stockmeshd";
    char *const argv[] = {(char *)bin, "-c", W.config_path, "--roles",
                          (char *)PART_NAMES[role], NULL};
    W.role_pid[role] = servers_spawn(argv, W.role_log[role]);
    assert_true(W.role_pid[role] > 0);
}

static void kill_role(int role, int sig)
{
    if (W.role_pid[role] <= 0) return;
    kill(W.role_pid[role], sig);
    waitpid(W.role_pid[role], NULL, 0);
    W.role_pid[role] = 0;
}

/* Restarts roles that exited by themselves, as a service manager would: a role that
 * joined an embedded backbone whose host died exits so it can be restarted. */
static void supervise(void)
{
    for (int role = 0; role < 4; role++) {
        if (W.role_pid[role] <= 0) continue;
        int status;
        if (waitpid(W.role_pid[role], &status, WNOHANG) == W.role_pid[role]) {
            W.role_pid[role] = 0;
            W.self_restarts++;
            start_role(role);
        }
    }
}

static void sleep_supervised(int ms)
{
    double until = now_ms() + ms;
    while (now_ms() < until) {
        supervise();
        usleep(50 * 1000);
    }
}

/* ---- the truth, by SQL through the same mapping as the config below ---- */

static const char *const CHANNELS[] = {"web", "pickup"};

/* web: warehouse WH1 plus ship-from-store S12 (safety stock 2);
   pickup: S12 only, minus its buffer of 1. Per location clamped at 0 first. */
static const char TRUTH_SQL[] =
    "SELECT substr(sku, 5)::int, coalesce(sum(greatest(0, on_hand - committed - unavailable - "
    "CASE location_code WHEN 'S12' THEN 2 ELSE 0 END)) FILTER (WHERE location_code IN ('WH1', "
    "'S12')), 0), greatest(0, coalesce(sum(greatest(0, on_hand - committed - unavailable - 2)) "
    "FILTER (WHERE location_code = 'S12'), 0) - 1) FROM stock_levels GROUP BY sku";

static void sku_of(char out[32], int index)
{
    /* hot SKUs are 1..NSKUS, cold ones 10001..10000+NCOLD */
    snprintf(out, 32, "SKU-%05d", index <= NSKUS ? index : 10000 + index - NSKUS);
}

static int index_of(int number) { return number <= NSKUS ? number : number - 10000 + NSKUS; }

/* Compares every SKU and channel; returns the number that differ (0 = converged), or
 * -1 when the servers could not be asked. */
static int divergence(char *first, size_t len)
{
    static long long want[ALL_SKUS + 1][2];
    memset(want, 0, sizeof want); /* a SKU whose rows were all deleted has 0 */
    char conninfo[128];
    snprintf(conninfo, sizeof conninfo, "host=127.0.0.1 port=%d dbname=retail user=postgres",
             W.pg.port);
    PGconn *pg = PQconnectdb(conninfo);
    PGresult *res = PQexec(pg, TRUTH_SQL);
    int ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    for (int r = 0; ok && r < PQntuples(res); r++) {
        int i = index_of(atoi(PQgetvalue(res, r, 0)));
        if (i < 1 || i > ALL_SKUS) continue;
        want[i][0] = atoll(PQgetvalue(res, r, 1));
        want[i][1] = atoll(PQgetvalue(res, r, 2));
    }
    PQclear(res);
    PQfinish(pg);
    struct timeval timeout = {2, 0};
    redisContext *rc = redisConnectWithTimeout("127.0.0.1", W.redis.port, timeout);
    if (!ok || !rc || rc->err) {
        if (rc) redisFree(rc);
        snprintf(first, len, "source or Redis not reachable");
        return -1;
    }
    for (int i = 1; i <= ALL_SKUS; i++)
        for (int ch = 0; ch < 2; ch++) {
            char sku[32];
            sku_of(sku, i);
            redisAppendCommand(rc, "HGET sm:{%s}:c %s", sku, CHANNELS[ch]);
        }
    int bad = 0;
    first[0] = 0;
    for (int i = 1; i <= ALL_SKUS; i++)
        for (int ch = 0; ch < 2; ch++) {
            char sku[32];
            sku_of(sku, i);
            redisReply *reply = NULL;
            long long got = -1, seen = -1, version, sum, avail, ver;
            if (redisGetReply(rc, (void **)&reply) == REDIS_OK && reply &&
                reply->type == REDIS_REPLY_STRING &&
                sscanf(reply->str, "%lld|%lld|%lld", &sum, &avail, &ver) == 3)
                got = avail;
            freeReplyObject(reply);
            if (receiver_get(W.receiver, CHANNELS[ch], sku, &seen, &version) != 0) seen = -1;
            /* a channel never told about a SKU at 0 has nothing to unlearn */
            if (seen == -1 && want[i][ch] == 0 && got <= 0) continue;
            if (got != want[i][ch] || seen != want[i][ch]) {
                if (!bad)
                    snprintf(first, len, "%s on %s: source %lld, Redis %lld, channel %lld", sku,
                             CHANNELS[ch], want[i][ch], got, seen);
                bad++;
            }
        }
    redisFree(rc);
    return bad;
}

static int wait_converged(int timeout_ms, char *why, size_t len)
{
    double deadline = now_ms() + timeout_ms;
    int bad;
    while ((bad = divergence(why, len)) != 0 && now_ms() < deadline) sleep_supervised(1000);
    return bad;
}

/* ---- load ---- */

struct writer {
    int port;
    int cold_interval;            /* hot changes between two cold ones */
    atomic_int cold_done;
    atomic_int stop;
    atomic_long done;
    atomic_long failed;
};

static void *write_load(void *arg)
{
    struct writer *w = arg;
    char conninfo[128];
    snprintf(conninfo, sizeof conninfo,
             "host=127.0.0.1 port=%d dbname=retail user=postgres connect_timeout=2", w->port);
    unsigned seed = W.seed ^ 0x5eed;
    PGconn *c = NULL;
    while (!atomic_load(&w->stop)) {
        if (!c || PQstatus(c) != CONNECTION_OK) {
            if (c) PQfinish(c);
            c = PQconnectdb(conninfo);
            if (PQstatus(c) != CONNECTION_OK) {
                usleep(200 * 1000); /* PostgreSQL is being restarted */
                continue;
            }
        }
        char sql[512];
        if (atomic_load(&w->cold_done) < NCOLD && rand_r(&seed) % (unsigned)w->cold_interval == 0) {
            int n = atomic_load(&w->cold_done);
            snprintf(sql, sizeof sql,
                     "UPDATE stock_levels SET on_hand = %d WHERE sku = 'SKU-%05d' AND "
                     "location_code = 'WH1'",
                     1000 + n, 10001 + n);
            PGresult *r = PQexec(c, sql);
            if (PQresultStatus(r) == PGRES_COMMAND_OK && atoi(PQcmdTuples(r)) == 1)
                atomic_fetch_add(&w->cold_done, 1);
            PQclear(r);
            continue;
        }
        int sku = 1 + (int)(rand_r(&seed) % NSKUS);
        const char *loc = LOCATIONS[rand_r(&seed) % 3];
        int op = (int)(rand_r(&seed) % 100);
        if (op < 90)
            snprintf(sql, sizeof sql,
                     "UPDATE stock_levels SET on_hand = greatest(0, on_hand + %d), committed = "
                     "%d WHERE sku = 'SKU-%05d' AND location_code = '%s'",
                     (int)(rand_r(&seed) % 9) - 5, (int)(rand_r(&seed) % 4), sku, loc);
        else if (op < 95)
            snprintf(sql, sizeof sql,
                     "DELETE FROM stock_levels WHERE sku = 'SKU-%05d' AND location_code = '%s'",
                     sku, loc);
        else
            snprintf(sql, sizeof sql,
                     "INSERT INTO stock_levels VALUES ('SKU-%05d', '%s', %d, 0, %d) ON CONFLICT "
                     "(sku, location_code) DO UPDATE SET on_hand = excluded.on_hand",
                     sku, loc, (int)(rand_r(&seed) % 50), (int)(rand_r(&seed) % 2));
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) == PGRES_COMMAND_OK) atomic_fetch_add(&w->done, 1);
        else atomic_fetch_add(&w->failed, 1);
        PQclear(r);
        usleep(3000);
    }
    if (c) PQfinish(c);
    return NULL;
}

/* ---- setup ---- */

static int setup(void **state)
{
    (void)state;
    char err[1024];
    const char *seed = getenv("FAULT_SEED");
    W.seed = seed ? (unsigned)strtoul(seed, NULL, 10) : (unsigned)time(NULL);
    snprintf(W.dir, sizeof W.dir, "%s/stockmesh-fault-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(W.dir)) return -1;
    if (servers_start(&W.pg, SERVERS_POSTGRES, NULL, 0, err, sizeof err) != 0 ||
        servers_start(&W.redis, SERVERS_REDIS, NULL, 0, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    char sql[2048];
    snprintf(sql, sizeof sql,
             "CREATE TABLE stock_levels (sku text NOT NULL, location_code text NOT NULL, "
             "on_hand integer NOT NULL DEFAULT 0, committed integer NOT NULL DEFAULT 0, "
             "unavailable integer NOT NULL DEFAULT 0, PRIMARY KEY (sku, location_code));"
             "INSERT INTO stock_levels SELECT 'SKU-' || lpad(s::text, 5, '0'), l, 10 + s %% 30, "
             "s %% 3, s %% 2 FROM generate_series(1, %d) s, unnest(ARRAY['WH1','S12','S14']) l;"
             "INSERT INTO stock_levels SELECT 'SKU-' || lpad(s::text, 5, '0'), 'WH1', 10, 0, 0 "
             "FROM generate_series(10001, %d) s;"
             "CREATE ROLE stockmesh LOGIN REPLICATION;"
             "ALTER TABLE stock_levels OWNER TO stockmesh;"
             "GRANT CREATE ON DATABASE retail TO stockmesh;",
             NSKUS, 10000 + NCOLD);
    if (servers_pg_exec(&W.pg, NULL, "CREATE DATABASE retail", err, sizeof err) != 0 ||
        servers_pg_exec(&W.pg, "retail", sql, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    W.receiver = receiver_new(SECRET, 0, err, sizeof err);
    if (!W.receiver) return -1;
    snprintf(W.config_path, sizeof W.config_path, "%s/stockmesh.yaml", W.dir);
    FILE *f = fopen(W.config_path, "w");
    fprintf(f,
            "state_dir: %s/state\n"
            "backbone:\n  brokers: embedded\n"
            "redis:\n  host: 127.0.0.1\n  port: %d\n" /* default persist delay: the real rule */
            "console:\n  listen: 127.0.0.1:%d\n"
            "sources:\n"
            "  - name: erp\n    type: postgres\n"
            "    dsn: \"host=127.0.0.1 port=%d dbname=retail user=stockmesh\"\n"
            "    tables:\n"
            "      - table: public.stock_levels\n        sku: sku\n"
            "        location: location_code\n        on_hand: on_hand\n"
            "        committed: committed\n        unavailable: unavailable\n"
            "locations:\n"
            "  - code: WH1\n    type: warehouse\n"
            "  - code: S12\n    type: store\n    tags: [ship-from-store]\n    safety_stock: 2\n"
            "  - code: S14\n    type: store\n    safety_stock: 1\n"
            "channels:\n"
            "  - name: web\n    url: http://127.0.0.1:%d/web\n    secret: %s\n"
            "    location_types: [warehouse]\n    location_tags: [ship-from-store]\n"
            "  - name: pickup\n    url: http://127.0.0.1:%d/pickup\n    secret: %s\n"
            "    locations: [S12]\n    buffer: 1\n"
            "authority:\n  - location_type: warehouse\n    source: erp\n"
            "  - location_type: store\n    source: erp\n",
            W.dir, W.redis.port, servers_free_port(), W.pg.port, receiver_port(W.receiver),
            SECRET, receiver_port(W.receiver), SECRET);
    fclose(f);
    for (int role = 0; role < 4; role++) {
        snprintf(W.role_log[role], sizeof W.role_log[role], "%s/%s.log", W.dir, PART_NAMES[role]);
        start_role(role);
        usleep(300 * 1000); /* cdc first: it hosts the embedded backbone */
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int role = 0; role < 4; role++) kill_role(role, SIGTERM);
    receiver_free(W.receiver);
    servers_stop(&W.pg);
    servers_stop(&W.redis);
    if (!getenv("FAULT_KEEP")) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf %s", W.dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", W.dir);
    }
    return 0;
}

static void show_logs(void)
{
    for (int role = 0; role < 4; role++) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "echo '--- %s'; grep -E 'error|warning' %s | tail -n 8 >&2",
                 PART_NAMES[role], W.role_log[role]);
        if (system(cmd) != 0) continue;
    }
}

static void test_random_kills_lose_nothing(void **state)
{
    (void)state;
    char why[256];
    if (wait_converged(CONVERGE_TIMEOUT_MS, why, sizeof why) != 0) {
        show_logs();
        fail_msg("the initial snapshot did not converge: %s", why);
    }
    int seconds = getenv("FAULT_SECONDS") ? atoi(getenv("FAULT_SECONDS")) : 90;
    int total = getenv("FAULT_KILLS") ? atoi(getenv("FAULT_KILLS")) : 24;
    printf("fault: seed %u, %d kills over %d s\n", W.seed, total, seconds);
    fflush(stdout);

    /* spread the cold changes over the whole fault period (~300 hot changes/s) */
    struct writer w = {.port = W.pg.port, .cold_interval = seconds * 300 / NCOLD + 1};
    pthread_t t;
    pthread_create(&t, NULL, write_load, &w);
    unsigned seed = W.seed;
    int interval = seconds * 1000 / (total > 0 ? total : 1);
    for (int k = 0; k < total; k++) {
        sleep_supervised(interval / 2 + (int)(rand_r(&seed) % (unsigned)(interval + 1)) / 2);
        enum part victim = (enum part)(rand_r(&seed) % NPARTS);
        int down_ms = 100 + (int)(rand_r(&seed) % 900);
        char err[512];
        W.kills[victim]++;
        switch (victim) {
        case PART_REDIS:
            servers_kill(&W.redis);
            sleep_supervised(down_ms);
            if (servers_start(&W.redis, SERVERS_REDIS, W.redis.dir, W.redis.port, err,
                              sizeof err) != 0)
                fail_msg("Redis did not come back: %s", err);
            break;
        case PART_POSTGRES:
            servers_kill(&W.pg);
            sleep_supervised(down_ms);
            if (servers_start(&W.pg, SERVERS_POSTGRES, W.pg.dir, W.pg.port, err, sizeof err) != 0)
                fail_msg("PostgreSQL did not come back: %s", err);
            break;
        default: {
            kill_role((int)victim, SIGKILL);
            int second = -1;
            if (rand_r(&seed) % 3 == 0) {
                /* double fault: while this one is down, another role dies too */
                second = (int)(rand_r(&seed) % 4);
                if (second == (int)victim) second = (second + 1) % 4;
                sleep_supervised(down_ms + 500 + (int)(rand_r(&seed) % 1500));
                kill_role(second, SIGKILL);
                W.kills[second]++;
                W.double_faults++;
            }
            sleep_supervised(down_ms);
            start_role((int)victim);
            if (second >= 0) start_role(second);
        }
        }
    }
    atomic_store(&w.stop, 1);
    pthread_join(t, NULL);

    double settle = now_ms();
    int bad = wait_converged(CONVERGE_TIMEOUT_MS, why, sizeof why);
    printf("fault: kills");
    for (int p = 0; p < NPARTS; p++) printf(" %s=%d", PART_NAMES[p], W.kills[p]);
    printf("; %d double faults; %d restarts after the backbone host died; %d cold SKUs "
           "changed once; %ld hot changes written (%ld refused while PostgreSQL was down); "
           "converged %.1f s after the last kill; %d of %d SKU-channel pairs diverge\n",
           W.double_faults, W.self_restarts, atomic_load(&w.cold_done), atomic_load(&w.done),
           atomic_load(&w.failed), (now_ms() - settle) / 1000.0, bad, ALL_SKUS * 2);
    if (bad) {
        show_logs();
        fail_msg("divergence after faults (seed %u): %s", W.seed, why);
    }
    struct receiver_stats st;
    receiver_stats(W.receiver, &st);
    assert_int_equal(st.rejected_signature, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_kills_lose_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
