/* bench — `make bench`: stockmesh's latency, throughput and cost against real servers.
 *
 * Starts PostgreSQL and Redis through tests/lib, creates a retail estate (SKUs ×
 * locations, the locations spread over one or more source databases), a signature-
 * verifying channel receiver and the release stockmeshd, then drives single-row stock
 * changes at fixed rates, open-loop: every change has a scheduled send time, so a slow
 * pipeline cannot slow the load down and hide its latency; a generator that falls
 * behind its schedule is reported as such. Each change carries its source commit time
 * (pgoutput) to the channel; the receiver records commit → receipt per update.
 *
 * Per rate: latency percentiles, per-stage latency from /metrics histogram deltas, CPU
 * per 1k changes, RSS. Then the highest rate with p99 under the limit, and baselines
 * run in the same session: pg_recvlogical vs stockmesh's reader on the same WAL,
 * redis-benchmark calling the merge function with merge's arguments vs merge (draining a
 * backlog through the whole pipeline, and alone: a merge-only process draining a backlog
 * a cdc-only one left on the backbone), a Kafka round trip on the
 * same embedded backbone, and the MariaDB binlog reader's decode rate and commit → event
 * latency (tests/bench/mariadb_baseline.c, once the PostgreSQL servers are stopped).
 * Writes bench/results/bench-<time>.json, latest.json, a gnuplot PNG, and prints a
 * one-screen summary. Every server it started is stopped by
 * PID, on failure too (and by the parent-death signal if it is killed).
 *
 * Settings (environment; the first eight also as flags, see --help; more in bench/README.md):
 *   BENCH_SKUS 5000, BENCH_LOCATIONS 20, BENCH_SOURCES 1, BENCH_RATES "1000 5000 20000",
 *   BENCH_SECONDS 20, BENCH_CONNECTIONS 4, BENCH_SEARCH_STEPS 4, BENCH_P99_LIMIT_MS 1000,
 *   BENCH_BASELINE_UPDATES 200000, BENCH_OUT bench/results, STOCKMESHD build/stockmeshd,
 *   BENCH_MARIADB_UPDATES 100000, BENCH_MARIADB_RATE 1000, BENCH_MARIADB_SECONDS 10,
 *   BENCH_ENGINE_CALLS 50000, BENCH_ENGINE_LOCATIONS 5000, BENCH_ENGINE_SKUS 5000,
 *   BENCH_PERF_MERGE (a file: perf record of the merge-alone baseline's merge process).
 *
 * Once the servers are stopped, the merge function alone (tests/bench/merge_engine.c): its
 * cost for a SKU at 5 locations vs one at 5000, and Redis bytes per (sku, location);
 * `bench --engine-only` runs just that.
 */
#include "mariadb_baseline.h"
#include "merge_engine.h"
#include "procstat.h"
#include "receiver.h"
#include "servers.h"
#include "stockmesh/store.h"

#include <curl/curl.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SECRET "stockmesh-bench-secret"
#define CHANNEL "web"
#define START_ON_HAND 10000
#define MAX_INFLIGHT 2048          /* per load connection; beyond it the generator lags */
#define MAX_RATES 16
#define SWEEP_MS 1e11              /* a latency this large means ts_ms 0: a sweep delivery */
#define SEND_LAG_OK_MS 100.0       /* generator on schedule: p99 send lag below this … */
#define ACK_LAG_OK_MS 250.0        /* … and PostgreSQL committing within this of schedule */
#define WARMUP_RATE 500
#define WARMUP_SECONDS 3

/* ------------------------------------------------------------------ settings */

struct options {
    int skus, locations, sources, seconds, connections, search_steps, drain_s;
    double rates[MAX_RATES];
    size_t nrates;
    double p99_limit_ms;
    long baseline_updates, redis_requests;
    int kafka_rate, kafka_seconds;
    int persist_delay_ms, wal_writer_delay_ms, synchronous_commit;
    int initial_snapshot;         /* 1: the estate is read by the initial snapshot */
    int engine_only;              /* --engine-only: the merge function's measurements alone */
    int redis_pipeline;           /* merge's redis.pipeline (and redis-benchmark's -P) */
    int window;                   /* backbone.window of the measured stockmeshd */
    int partitions;               /* backbone.partitions of the measured stockmeshd */
    long mariadb_updates;         /* the MariaDB baseline's backlog (0: no decode rate) */
    int mariadb_rate, mariadb_seconds; /* its latency run (seconds 0: none) */
    long engine_calls;            /* merge engine: timed calls per SKU size (0: skipped) */
    int engine_locations;         /* … the large SKU's locations */
    int engine_skus;              /* … SKUs of the typical-size memory fill */
    const char *out_dir, *stockmeshd, *rtt_bin;
};

/* ------------------------------------------------------------------ load generator */

struct gen_conn {
    int id, source;
    PGconn *c;
    uint64_t rng;
    const int *locs;              /* location numbers (1-based) of this connection's source */
    int nlocs;
    /* one run */
    int64_t t0_ns, next_i, stride, total;
    double ns_per_change;         /* 0: burst, everything due at t0 */
    int64_t fifo[MAX_INFLIGHT];   /* scheduled time of each change in flight */
    size_t fhead, fcount;
    float *send_lag, *ack_lag;    /* ms per change */
    size_t nsend, nack, cap;
    int64_t sent, acked, failed, last_send_ns, last_ack_ns;
    int after_query, broken;
    char err[256];
};

struct gen_result {
    double target_rate, achieved_rate, send_seconds;
    int64_t scheduled, sent, acked, failed;
    double send_lag_p50, send_lag_p99, send_lag_max, ack_lag_p50, ack_lag_p99, ack_lag_max;
    int kept_up;
    char err[256];
};

/* ------------------------------------------------------------------ measurements */

#define HIST_MAX 40
struct hist {
    size_t n;
    double le[HIST_MAX];          /* upper bounds, INFINITY last */
    double cum[HIST_MAX];
};

struct quantiles {
    double p50, p95, p99;
    double count;
};

#define THREAD_GROUPS 12
struct cpu {
    double daemon, daemon_loop, postgres, redis, self, machine_busy, machine_total; /* seconds */
    /* stockmeshd's threads grouped by name (the event loop is "stockmeshd"; librdkafka's
       are rdk:main, rdk:brokerN, rdk:mock…) */
    char group[THREAD_GROUPS][16];
    double group_s[THREAD_GROUPS];
    int ngroups;
};

enum stage { STAGE_READ, STAGE_MERGE, STAGE_PUSH, STAGE_RECEIPT, STAGE_APPLIED, STAGE_DELIVERED,
             NSTAGES };
static const char *const stage_metric[NSTAGES] = {
    "stockmesh_cdc_commit_to_read_seconds",       "stockmesh_push_read_to_merge_seconds",
    "stockmesh_push_merge_to_sent_seconds",       "stockmesh_push_sent_to_accepted_seconds",
    "stockmesh_merge_commit_to_applied_seconds", "stockmesh_push_commit_to_delivered_seconds"};
static const char *const stage_name[NSTAGES] = {"source_to_reader", "reader_to_merge",
                                                "merge_to_push",    "push_to_receipt",
                                                "commit_to_applied", "commit_to_accepted"};
static const char *const stage_label[NSTAGES] = {"source→reader", "reader→merge", "merge→push",
                                                 "push→receipt", "commit→applied",
                                                 "commit→accepted"};

struct step {
    double rate;
    struct gen_result gen;
    size_t samples, sweep_samples;
    double p50, p95, p99, max, mean;
    struct quantiles stage[NSTAGES];
    double committed, read, merged, published, delivered, requests, received, stale;
    struct cpu cpu_load, cpu_total; /* during the load; load + drain */
    double load_seconds, drain_seconds, total_seconds;
    int drained, pass;
    long rss_kb, hwm_kb;
    char verdict[640];
};

struct baselines {
    /* reader */
    int reader_ok;
    long updates;
    double gen_rate, gen_seconds;
    double reader_seconds, reader_rate, reader_start_seconds;
    double reader_whole_rate, recvlogical_whole_rate; /* start to end, not 10 %–90 % */
    double reader_cpu, reader_server_cpu, recvlogical_cpu, recvlogical_server_cpu;
    double reader_other, recvlogical_other; /* other processes' CPU meanwhile, % of a core */
    double recvlogical_seconds, recvlogical_rate;
    int recvlogical_complete;
    long recvlogical_changes;
    char reader_note[256];
    /* merge */
    int merge_ok;
    double drain_seconds, drain_rate, merge_rate;
    double redis_rate;
    int redis_pipeline;
    int redis_args;               /* arguments per FCALL redis-benchmark sent */
    char redis_command[2048];     /* its command line */
    struct cpu redis_bench_cpu;   /* while it ran */
    double redis_bench_wall, redis_bench_client_cpu;
    struct cpu drain_cpu;
    double drain_wall;
    double drain_in_flight, drain_backlog; /* sums over samples between 10 % and 90 % */
    int drain_samples;
    char merge_note[256];
    /* merge alone: a cdc-only stockmeshd holds the backlog on its backbone, a merge-only
       one drains it into the reader baseline's Redis */
    int alone_ok;
    int alone_partitions;
    double alone_rate, alone_whole_rate, alone_start_seconds;
    struct cpu alone_cpu;         /* 10 % to 90 %: daemon = the merge-only process */
    double alone_wall, alone_cdc_cpu, alone_in_flight;
    int alone_samples;
    char alone_note[256], alone_perf[512];
    /* backbone */
    int kafka_ok;
    double kafka_rate, kafka_p50, kafka_p95, kafka_p99, kafka_max;
    char kafka_note[256];
    /* MariaDB binlog reader */
    struct mariadb_baseline mariadb;
    /* the merge function alone */
    struct merge_engine engine;
};

/* ------------------------------------------------------------------ the world */

struct world {
    struct options o;
    char dir[400];
    struct servers_server pg, redis, redis2; /* redis2: the reader baseline's own */
    int pg_up, redis_up, redis2_up;
    struct receiver *rx;
    pid_t daemon, reader;
    pid_t merger;                 /* the merge-alone baseline's merge-only stockmeshd */
    int console_port, reader_port;
    char config_path[512], log_path[512], reader_config_path[512], reader_log_path[512];
    char secret_path[512];
    CURL *curl;
    struct gen_conn *conns;
    int nconns;
    int **source_locs;
    int *source_nlocs;
    long long rows;
    double snapshot_seconds;
    double idle_daemon_pct;       /* stockmeshd's CPU with no load, % of a core */
    struct cpu idle_cpu;
    double idle_seconds;
    double redis_used_before, redis_used_after;
    double redis_bytes_used_memory, redis_bytes_memory_usage;
    struct step steps[64];
    size_t nsteps;
    struct baselines base;
    long final_rss_kb, final_hwm_kb;
    char stamp[32];
    int keep_dir;                 /* something went wrong: leave the logs for a look */
    FILE *rx_log;
    double aof_delayed_fsync;     /* Redis held AOF writes back for a slow fsync */
};

static struct world W;
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double mono_s(void) { return (double)mono_ns() / 1e9; }

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR && !interrupted)
        ;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted values. */
static double pct_d(const double *v, size_t n, double q)
{
    if (!n) return NAN;
    size_t i = (size_t)ceil(q * (double)n);
    return v[i ? i - 1 : 0];
}

static double pct_f(const float *v, size_t n, double q)
{
    if (!n) return NAN;
    size_t i = (size_t)ceil(q * (double)n);
    return v[i ? i - 1 : 0];
}

/* ------------------------------------------------------------------ settings */

static int env_int(const char *name, int def, int lo, int hi)
{
    const char *v = getenv(name);
    if (!v || !*v) return def;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < lo || n > hi) {
        fprintf(stderr, "bench: %s=%s is not a whole number in %d..%d\n", name, v, lo, hi);
        exit(2);
    }
    return (int)n;
}

static int parse_rates(const char *text, struct options *o)
{
    o->nrates = 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", text);
    for (char *save = NULL, *t = strtok_r(buf, " ,", &save); t; t = strtok_r(NULL, " ,", &save)) {
        char *end;
        double r = strtod(t, &end);
        if (*end || r < 1 || r > 1e7 || o->nrates == MAX_RATES) return -1;
        o->rates[o->nrates++] = r;
    }
    return o->nrates ? 0 : -1;
}

static void usage(FILE *to)
{
    fprintf(to,
            "usage: bench [--skus N] [--locations N] [--sources N] [--rates \"R1 R2 ..\"]\n"
            "             [--seconds N] [--connections N] [--search-steps N] [--out DIR]\n"
            "       bench --engine-only   (the merge function alone: cost by SKU size, memory)\n"
            "Environment: BENCH_SKUS (5000), BENCH_LOCATIONS (20), BENCH_SOURCES (1),\n"
            "  BENCH_RATES (\"1000 5000 20000\"), BENCH_SECONDS (20), BENCH_CONNECTIONS (4),\n"
            "  BENCH_SEARCH_STEPS (4), BENCH_P99_LIMIT_MS (1000), BENCH_BASELINE_UPDATES\n"
            "  (200000), BENCH_PERSIST_DELAY_MS (0), BENCH_WAL_WRITER_DELAY_MS (1),\n"
            "  BENCH_SYNCHRONOUS_COMMIT (0), BENCH_INITIAL (stream | snapshot),\n"
            "  BENCH_REDIS_PIPELINE (1000), BENCH_WINDOW (20000), BENCH_PARTITIONS (4),\n"
            "  BENCH_DRAIN_SECONDS (60), BENCH_REDIS_REQUESTS (200000), BENCH_KAFKA_RATE (5000),\n"
            "  BENCH_KAFKA_SECONDS (5), BENCH_MARIADB_UPDATES (100000), BENCH_MARIADB_RATE\n"
            "  (1000), BENCH_MARIADB_SECONDS (10), BENCH_ENGINE_CALLS (50000; 0 skips the merge\n"
            "  engine), BENCH_ENGINE_LOCATIONS (5000), BENCH_ENGINE_SKUS (5000),\n"
            "  BENCH_PERF_MERGE (file: perf record of the merge-alone baseline),\n"
            "  BENCH_RECEIVER_LOG (file), BENCH_OUT (bench/results),\n"
            "  STOCKMESHD (build/stockmeshd), BACKBONE_RTT (build/bench/backbone_rtt).\n");
}

static void options_load(struct options *o, int argc, char **argv)
{
    o->skus = env_int("BENCH_SKUS", 5000, 1, 10000000);
    o->locations = env_int("BENCH_LOCATIONS", 20, 1, 999);
    o->sources = env_int("BENCH_SOURCES", 1, 1, 16);
    o->seconds = env_int("BENCH_SECONDS", 20, 1, 3600);
    o->connections = env_int("BENCH_CONNECTIONS", 4, 1, 64);
    o->search_steps = env_int("BENCH_SEARCH_STEPS", 4, 0, 20);
    o->drain_s = env_int("BENCH_DRAIN_SECONDS", 60, 5, 3600);
    o->p99_limit_ms = env_int("BENCH_P99_LIMIT_MS", 1000, 1, 3600000);
    o->baseline_updates = env_int("BENCH_BASELINE_UPDATES", 200000, 0, 10000000);
    o->redis_requests = env_int("BENCH_REDIS_REQUESTS", 200000, 1000, 100000000);
    o->kafka_rate = env_int("BENCH_KAFKA_RATE", 5000, 1, 1000000);
    o->kafka_seconds = env_int("BENCH_KAFKA_SECONDS", 5, 1, 600);
    /* 0, not the product's 3000: see the note printed with the results */
    o->persist_delay_ms = env_int("BENCH_PERSIST_DELAY_MS", 0, 0, 60000);
    o->wal_writer_delay_ms = env_int("BENCH_WAL_WRITER_DELAY_MS", 1, 1, 10000);
    o->synchronous_commit = env_int("BENCH_SYNCHRONOUS_COMMIT", 0, 0, 1);
    o->redis_pipeline = env_int("BENCH_REDIS_PIPELINE", 1000, 1, 100000);
    o->window = env_int("BENCH_WINDOW", 20000, 1, 10000000);
    o->partitions = env_int("BENCH_PARTITIONS", 4, 1, 1024);
    o->mariadb_updates = env_int("BENCH_MARIADB_UPDATES", 100000, 0, 10000000);
    o->mariadb_rate = env_int("BENCH_MARIADB_RATE", 1000, 1, 20000);
    o->mariadb_seconds = env_int("BENCH_MARIADB_SECONDS", 10, 0, 600);
    o->engine_calls = env_int("BENCH_ENGINE_CALLS", 50000, 0, 10000000);
    o->engine_locations = env_int("BENCH_ENGINE_LOCATIONS", 5000, 21, 100000);
    o->engine_skus = env_int("BENCH_ENGINE_SKUS", 5000, 1, 1000000);
    const char *initial = getenv("BENCH_INITIAL");
    o->initial_snapshot = initial && strcmp(initial, "snapshot") == 0;
    if (initial && *initial && !o->initial_snapshot && strcmp(initial, "stream") != 0) {
        fprintf(stderr, "bench: BENCH_INITIAL is stream or snapshot\n");
        exit(2);
    }
    o->out_dir = getenv("BENCH_OUT") && *getenv("BENCH_OUT") ? getenv("BENCH_OUT") : "bench/results";
    o->stockmeshd = getenv("STOCKMESHD") && *getenv("STOCKMESHD") ? getenv("STOCKMESHD")
                                                                  : "build/stockmeshd";
    o->rtt_bin = getenv("BACKBONE_RTT") && *getenv("BACKBONE_RTT") ? getenv("BACKBONE_RTT")
                                                                  : "build/bench/backbone_rtt";
    const char *rates = getenv("BENCH_RATES");
    if (parse_rates(rates && *rates ? rates : "1000 5000 20000", o) != 0) {
        fprintf(stderr, "bench: BENCH_RATES must list 1 to %d rates (changes/s)\n", MAX_RATES);
        exit(2);
    }
    static const struct option longopts[] = {
        {"skus", required_argument, NULL, 'k'},      {"locations", required_argument, NULL, 'l'},
        {"sources", required_argument, NULL, 's'},   {"rates", required_argument, NULL, 'r'},
        {"seconds", required_argument, NULL, 't'},   {"connections", required_argument, NULL, 'c'},
        {"search-steps", required_argument, NULL, 'x'}, {"out", required_argument, NULL, 'o'},
        {"engine-only", no_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int n = optarg ? atoi(optarg) : 0;
        switch (ch) {
        case 'k': o->skus = n; break;
        case 'l': o->locations = n; break;
        case 's': o->sources = n; break;
        case 't': o->seconds = n; break;
        case 'c': o->connections = n; break;
        case 'x': o->search_steps = n; break;
        case 'o': o->out_dir = optarg; break;
        case 'r':
            if (parse_rates(optarg, o) != 0) {
                fprintf(stderr, "bench: --rates needs 1 to %d rates\n", MAX_RATES);
                exit(2);
            }
            break;
        case 'e': o->engine_only = 1; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (o->skus < 1 || o->locations < 1 || o->sources < 1 || o->sources > o->locations ||
        o->seconds < 1 || o->connections < 1) {
        fprintf(stderr, "bench: need skus, locations, seconds, connections >= 1 and "
                        "1 <= sources <= locations\n");
        exit(2);
    }
    /* every source gets the same number of load connections */
    o->connections = ((o->connections + o->sources - 1) / o->sources) * o->sources;
}

/* ------------------------------------------------------------------ /proc */

/* tid > 0: that thread of pid only. */
static int proc_times_of(pid_t pid, pid_t tid, long long *ppid, double *self_s,
                         double *children_s)
{
    char path[96], buf[2048];
    if (tid > 0) snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
    else snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    char state;
    long long pp;
    double ut, st, cut, cst;
    if (sscanf(p + 2, "%c %lld %*s %*s %*s %*s %*s %*s %*s %*s %*s %lf %lf %lf %lf", &state, &pp,
               &ut, &st, &cut, &cst) != 6)
        return -1;
    double tck = (double)sysconf(_SC_CLK_TCK);
    if (ppid) *ppid = pp;
    if (self_s) *self_s = (ut + st) / tck;
    if (children_s) *children_s = (cut + cst) / tck;
    return 0;
}

static int proc_times(pid_t pid, long long *ppid, double *self_s, double *children_s)
{
    return proc_times_of(pid, 0, ppid, self_s, children_s);
}

/* CPU of a process tree one level deep: the process, its live children, and the
 * children it already reaped (how PostgreSQL's backends are accounted). */
static double tree_cpu(pid_t root)
{
    double self = 0, reaped = 0, total = 0;
    if (root <= 0 || proc_times(root, NULL, &self, &reaped) != 0) return 0;
    total = self + reaped;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        long long pp;
        double s;
        if (proc_times((pid_t)atoi(e->d_name), &pp, &s, NULL) == 0 && pp == root) total += s;
    }
    if (d) closedir(d);
    return total;
}

static void machine_cpu(double *busy, double *total)
{
    *busy = *total = 0;
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return;
    unsigned long long v[10] = {0};
    if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
               &v[5], &v[6], &v[7]) == 8) {
        double tck = (double)sysconf(_SC_CLK_TCK);
        double all = 0;
        for (int i = 0; i < 8; i++) all += (double)v[i];
        *total = all / tck;
        *busy = (all - (double)v[3] - (double)v[4]) / tck;
    }
    fclose(f);
}

/* A stockmeshd's threads by name without their digits ("rdk:broker1" and
 * "rdk:broker-1" are one group). */
static void daemon_thread_groups(pid_t pid, struct cpu *c)
{
    c->ngroups = 0;
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
    DIR *d = pid > 0 ? opendir(dir) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        char path[400], comm[32] = "";
        snprintf(path, sizeof path, "%s/%s/comm", dir, e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (!fgets(comm, sizeof comm, f)) comm[0] = 0;
        fclose(f);
        comm[strcspn(comm, "\n")] = 0;
        size_t len = strlen(comm);
        while (len && (isdigit((unsigned char)comm[len - 1]) || comm[len - 1] == '-')) len--;
        comm[len < 15 ? len : 15] = 0;
        double t = 0;
        if (proc_times_of(pid, (pid_t)atoi(e->d_name), NULL, &t, NULL) != 0) continue;
        int g = 0;
        while (g < c->ngroups && strcmp(c->group[g], comm) != 0) g++;
        if (g == c->ngroups) {
            if (g == THREAD_GROUPS) continue;
            snprintf(c->group[g], sizeof c->group[g], "%s", comm);
            c->group_s[g] = 0;
            c->ngroups++;
        }
        c->group_s[g] += t;
    }
    if (d) closedir(d);
}

/* What the machine was busy with beyond the CPU we can name, in % of a core. */
static double other_pct(double machine_busy, double known, double seconds)
{
    double other = machine_busy - known;
    return seconds > 0 && other > 0 ? 100.0 * other / seconds : 0;
}

/* CPU of a stockmeshd (daemon) and a Redis, PostgreSQL, this process and the machine. */
static void cpu_sample_of(struct cpu *c, pid_t daemon, pid_t redis)
{
    double self = 0;
    c->daemon = 0;
    if (daemon > 0) proc_times(daemon, NULL, &self, NULL);
    c->daemon = self;
    /* the main thread runs the event loop every role shares */
    self = 0;
    if (daemon > 0) proc_times_of(daemon, daemon, NULL, &self, NULL);
    c->daemon_loop = self;
    daemon_thread_groups(daemon, c);
    c->postgres = tree_cpu(W.pg.pid);
    self = 0;
    if (redis > 0) proc_times(redis, NULL, &self, NULL);
    c->redis = self;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    c->self = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
              (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    machine_cpu(&c->machine_busy, &c->machine_total);
}

static void cpu_sample(struct cpu *c) { cpu_sample_of(c, W.daemon, W.redis.pid); }

static void cpu_delta(const struct cpu *a, const struct cpu *b, struct cpu *d)
{
    d->ngroups = b->ngroups;
    for (int g = 0; g < b->ngroups; g++) {
        memcpy(d->group[g], b->group[g], sizeof d->group[g]);
        d->group_s[g] = b->group_s[g];
        for (int h = 0; h < a->ngroups; h++)
            if (strcmp(a->group[h], b->group[g]) == 0) d->group_s[g] -= a->group_s[h];
    }
    d->daemon = b->daemon - a->daemon;
    d->daemon_loop = b->daemon_loop - a->daemon_loop;
    d->postgres = b->postgres - a->postgres;
    d->redis = b->redis - a->redis;
    d->self = b->self - a->self;
    d->machine_busy = b->machine_busy - a->machine_busy;
    d->machine_total = b->machine_total - a->machine_total;
}

static void proc_memory(pid_t pid, long *rss_kb, long *hwm_kb)
{
    *rss_kb = *hwm_kb = -1;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) *rss_kb = atol(line + 6);
        if (strncmp(line, "VmHWM:", 6) == 0) *hwm_kb = atol(line + 6);
    }
    fclose(f);
}

/* ------------------------------------------------------------------ /metrics */

struct textbuf {
    char *data;
    size_t len, cap;
};

static size_t curl_collect(char *p, size_t size, size_t n, void *arg)
{
    struct textbuf *b = arg;
    size_t add = size * n;
    if (b->len + add + 1 > b->cap) {
        size_t cap = (b->cap + add + 1) * 2;
        char *d = realloc(b->data, cap);
        if (!d) return 0;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, add);
    b->len += add;
    b->data[b->len] = 0;
    return add;
}

/* GET http://127.0.0.1:port/metrics; malloc'd text or NULL. */
static char *metrics_fetch(int port)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    struct textbuf b = {0};
    curl_easy_setopt(W.curl, CURLOPT_URL, url);
    curl_easy_setopt(W.curl, CURLOPT_WRITEFUNCTION, curl_collect);
    curl_easy_setopt(W.curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(W.curl, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(W.curl, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    if (curl_easy_perform(W.curl) != CURLE_OK ||
        curl_easy_getinfo(W.curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status != 200 ||
        !b.data) {
        free(b.data);
        return NULL;
    }
    return b.data;
}

/* Sum of every series of a counter or gauge (over its labels); NAN when absent. */
static double metric_sum(const char *text, const char *name)
{
    size_t n = strlen(name);
    double total = 0;
    int found = 0;
    for (const char *line = text; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (line[0] != '#' && len > n && strncmp(line, name, n) == 0 &&
            (line[n] == ' ' || line[n] == '{')) {
            const char *sp = line + len;
            while (sp > line && sp[-1] != ' ') sp--;
            total += strtod(sp, NULL);
            found = 1;
        }
        line = eol ? eol + 1 : NULL;
    }
    return found ? total : NAN;
}

static double metric_or0(const char *text, const char *name)
{
    double v = text ? metric_sum(text, name) : NAN;
    return isnan(v) ? 0 : v;
}

/* Cumulative buckets of a histogram, summed over its label sets. */
static void hist_read(const char *text, const char *name, struct hist *h)
{
    memset(h, 0, sizeof *h);
    if (!text) return;
    char prefix[160];
    snprintf(prefix, sizeof prefix, "%s_bucket{", name);
    size_t plen = strlen(prefix);
    for (const char *line = text; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (len > plen && strncmp(line, prefix, plen) == 0) {
            const char *le = strstr(line, "le=\"");
            if (le && le < line + len) {
                le += 4;
                double bound = strncmp(le, "+Inf", 4) == 0 ? INFINITY : strtod(le, NULL);
                const char *sp = line + len;
                while (sp > line && sp[-1] != ' ') sp--;
                double v = strtod(sp, NULL);
                size_t i = 0;
                while (i < h->n && h->le[i] < bound) i++;
                if (i < h->n && h->le[i] == bound) {
                    h->cum[i] += v;
                } else if (h->n < HIST_MAX) {
                    memmove(&h->le[i + 1], &h->le[i], (h->n - i) * sizeof h->le[0]);
                    memmove(&h->cum[i + 1], &h->cum[i], (h->n - i) * sizeof h->cum[0]);
                    h->le[i] = bound;
                    h->cum[i] = v;
                    h->n++;
                }
            }
        }
        line = eol ? eol + 1 : NULL;
    }
}

/* Quantiles of what was observed between two scrapes, interpolated inside a bucket as
 * Prometheus's histogram_quantile does; in ms. A quantile in the +Inf bucket reads as
 * the last finite bound. */
static struct quantiles hist_window(const char *before, const char *after, const char *name)
{
    struct hist a, b;
    hist_read(before, name, &a);
    hist_read(after, name, &b);
    struct quantiles q = {NAN, NAN, NAN, 0};
    if (!b.n) return q;
    double cum[HIST_MAX];
    for (size_t i = 0; i < b.n; i++) {
        double prev = 0;
        for (size_t j = 0; j < a.n; j++)
            if (a.le[j] == b.le[i]) prev = a.cum[j];
        cum[i] = b.cum[i] - prev;
    }
    double total = cum[b.n - 1];
    q.count = total;
    if (total <= 0) return q;
    double qs[3] = {0.5, 0.95, 0.99}, *out[3] = {&q.p50, &q.p95, &q.p99};
    for (int k = 0; k < 3; k++) {
        double rank = qs[k] * total;
        size_t i = 0;
        while (i < b.n && cum[i] < rank) i++;
        if (i >= b.n) i = b.n - 1;
        if (isinf(b.le[i])) {
            *out[k] = (i > 0 ? b.le[i - 1] : 0) * 1000;
            continue;
        }
        double lo = i ? b.le[i - 1] : 0, below = i ? cum[i - 1] : 0;
        double in = cum[i] - below;
        double frac = in > 0 ? (rank - below) / in : 1;
        *out[k] = (lo + (b.le[i] - lo) * frac) * 1000;
    }
    return q;
}

/* ------------------------------------------------------------------ processes */

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    int ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static void tail_log(const char *path, int lines)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "tail -n %d '%s' >&2", lines, path);
    if (system(cmd) != 0) say("(cannot show %s)", path);
}

static void stop_process(pid_t *pid, const char *what)
{
    if (*pid <= 0) return;
    kill(*pid, SIGCONT); /* a paused daemon cannot act on SIGTERM */
    kill(*pid, SIGTERM);
    for (int i = 0; i < 200; i++) {
        int status;
        pid_t r = waitpid(*pid, &status, WNOHANG);
        if (r == *pid || (r < 0 && errno == ECHILD)) {
            *pid = 0;
            return;
        }
        sleep_ms(50);
    }
    say("%s (pid %d) ignored SIGTERM for 10 s; killing it", what, (int)*pid);
    kill(*pid, SIGKILL);
    waitpid(*pid, NULL, 0);
    *pid = 0;
}

static void cleanup(void)
{
    stop_process(&W.merger, "the merge-alone baseline's stockmeshd");
    stop_process(&W.reader, "the reader baseline's stockmeshd");
    stop_process(&W.daemon, "stockmeshd");
    for (int i = 0; i < W.nconns; i++)
        if (W.conns[i].c) {
            PQfinish(W.conns[i].c);
            W.conns[i].c = NULL;
        }
    if (W.rx) receiver_free(W.rx);
    W.rx = NULL;
    if (W.rx_log) fclose(W.rx_log);
    W.rx_log = NULL;
    if (W.pg_up) servers_stop(&W.pg);
    if (W.redis_up) servers_stop(&W.redis);
    if (W.redis2_up) servers_stop(&W.redis2);
    W.pg_up = W.redis_up = W.redis2_up = 0;
}

/* Runs argv to completion with stdout captured into out (may be NULL); exit status or -1.
 * seconds (may be NULL): wall time; cpu (may be NULL): the child's CPU seconds. */
static int run_capture_cpu(char *const argv[], char *out, size_t outlen, double *seconds,
                           double *cpu)
{
    int fds[2];
    if (pipe(fds) != 0) return -1;
    double t0 = mono_s();
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    size_t used = 0;
    char scratch[4096];
    for (;;) {
        char *dst = out && used + 1 < outlen ? out + used : scratch;
        size_t room = out && used + 1 < outlen ? outlen - used - 1 : sizeof scratch;
        ssize_t n = read(fds[0], dst, room);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (dst != scratch) used += (size_t)n;
    }
    if (out && outlen) out[used] = 0;
    close(fds[0]);
    int status;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
        ;
    if (seconds) *seconds = mono_s() - t0;
    if (cpu)
        *cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int run_capture(char *const argv[], char *out, size_t outlen, double *seconds)
{
    return run_capture_cpu(argv, out, outlen, seconds, NULL);
}

/* ------------------------------------------------------------------ the estate */

static int source_of_location(int loc) { return (loc - 1) % W.o.sources; }

/* Inserts SKUs from..to (1-based, inclusive) at every location of source s, in one
 * transaction. */
static int estate_insert(int s, int from, int to, char *err, size_t errlen)
{
    size_t cap = (size_t)W.source_nlocs[s] * 8 + 1024;
    char *q = malloc(cap);
    if (!q) return -1;
    size_t used = (size_t)snprintf(q, cap,
                                   "INSERT INTO stock_levels SELECT 'SKU-' || lpad(s::text, 6, "
                                   "'0'), l, %d, 0, 0 FROM generate_series(%d, %d) s, unnest(ARRAY[",
                                   START_ON_HAND, from, to);
    for (int i = 0; i < W.source_nlocs[s]; i++)
        used += (size_t)snprintf(q + used, cap - used, "%s'L%03d'", i ? "," : "",
                                 W.source_locs[s][i]);
    snprintf(q + used, cap - used, "]) l");
    char db[32];
    snprintf(db, sizeof db, "retail_%d", s);
    int rc = servers_pg_exec(&W.pg, db, q, err, errlen);
    free(q);
    return rc;
}

/* The databases, tables and the stockmesh role; the rows too when they are to be read
 * by the initial snapshot. */
static int create_estate(int with_rows, char *err, size_t errlen)
{
    const struct options *o = &W.o;
    if (servers_pg_exec(&W.pg, NULL, "CREATE ROLE stockmesh LOGIN REPLICATION", err, errlen) != 0)
        return -1;
    W.source_locs = calloc((size_t)o->sources, sizeof *W.source_locs);
    W.source_nlocs = calloc((size_t)o->sources, sizeof *W.source_nlocs);
    for (int s = 0; s < o->sources; s++) {
        W.source_locs[s] = calloc((size_t)o->locations, sizeof **W.source_locs);
        for (int l = 1; l <= o->locations; l++)
            if (source_of_location(l) == s) W.source_locs[s][W.source_nlocs[s]++] = l;
        char sql[512], db[32];
        snprintf(db, sizeof db, "retail_%d", s);
        snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
        if (servers_pg_exec(&W.pg, NULL, sql, err, errlen) != 0) return -1;
        snprintf(sql, sizeof sql,
                 "CREATE TABLE stock_levels (sku text NOT NULL, location_code text NOT NULL, "
                 "on_hand integer NOT NULL, committed integer NOT NULL DEFAULT 0, "
                 "unavailable integer NOT NULL DEFAULT 0, PRIMARY KEY (sku, location_code));"
                 "ALTER TABLE stock_levels OWNER TO stockmesh;"
                 "GRANT CREATE ON DATABASE %s TO stockmesh;",
                 db);
        if (servers_pg_exec(&W.pg, db, sql, err, errlen) != 0) return -1;
        if (with_rows && estate_insert(s, 1, o->skus, err, errlen) != 0) return -1;
        W.rows += (long long)o->skus * W.source_nlocs[s];
    }
    return 0;
}

/* Streams the estate in: transactions of at most 2000 rows, each well inside the
 * backbone window. */
static int estate_stream(char *err, size_t errlen)
{
    for (int s = 0; s < W.o.sources; s++) {
        int per = 2000 / W.source_nlocs[s];
        if (per < 1) per = 1;
        for (int from = 1; from <= W.o.skus && !interrupted; from += per) {
            int to = from + per - 1 < W.o.skus ? from + per - 1 : W.o.skus;
            if (estate_insert(s, from, to, err, errlen) != 0) return -1;
        }
    }
    return 0;
}

static int estate_analyze(char *err, size_t errlen)
{
    for (int s = 0; s < W.o.sources; s++) {
        char db[32];
        snprintf(db, sizeof db, "retail_%d", s);
        /* VACUUM refuses to run in the transaction a multi-statement string makes */
        if (servers_pg_exec(&W.pg, db, "VACUUM ANALYZE stock_levels", err, errlen) != 0)
            return -1;
    }
    return 0;
}

/* L001 is the warehouse (source 0); the others are stores, typed by their source so
 * that each source can be the authority for its own. */
static const char *store_type(int source, char *out, size_t outlen)
{
    if (W.o.sources == 1) return "store";
    snprintf(out, outlen, "store-src%d", source);
    return out;
}

static const char *location_type(int loc, char *out, size_t outlen)
{
    return loc == 1 ? "warehouse" : store_type(source_of_location(loc), out, outlen);
}

/* Whether source s holds a store (a location other than the warehouse). */
static int source_has_store(int s)
{
    for (int l = 2; l <= W.o.locations; l++)
        if (source_of_location(l) == s) return 1;
    return 0;
}

/* The stockmeshd configuration: every location in one channel, so every stock change
 * changes that channel's availability and is pushed. */
static int write_config(const char *path, const char *state_dir, int console_port,
                        int redis_port, int window, int partitions, const char *source_prefix,
                        int only_source)
{
    const struct options *o = &W.o;
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    char window_line[96] = "";
    /* the reader baseline never pauses for a merge that is not there */
    if (window) snprintf(window_line, sizeof window_line, "  window: %d\n", window);
    if (partitions)
        snprintf(window_line + strlen(window_line), sizeof window_line - strlen(window_line),
                 "  partitions: %d\n", partitions);
    fprintf(f,
            "state_dir: %s\n"
            "log:\n  level: info\n"
            "backbone:\n  brokers: embedded\n%s"
            "redis:\n  host: 127.0.0.1\n  port: %d\n  persist_delay_ms: %d\n  pipeline: %d\n"
            "console:\n  listen: 127.0.0.1:%d\n"
            "sources:\n",
            state_dir, window_line, redis_port, o->persist_delay_ms, o->redis_pipeline,
            console_port);
    for (int s = 0; s < o->sources; s++) {
        if (only_source >= 0 && s != only_source) continue;
        fprintf(f,
                "  - name: %s%d\n    type: postgres\n"
                "    dsn: \"host=127.0.0.1 port=%d dbname=retail_%d user=stockmesh\"\n"
                "    tables:\n"
                "      - table: public.stock_levels\n        sku: sku\n"
                "        location: location_code\n        on_hand: on_hand\n"
                "        committed: committed\n        unavailable: unavailable\n",
                source_prefix, s, W.pg.port, s);
    }
    fprintf(f, "locations:\n");
    char type[32];
    for (int l = 1; l <= o->locations; l++)
        fprintf(f, "  - code: L%03d\n    type: %s\n", l, location_type(l, type, sizeof type));
    fprintf(f,
            "channels:\n"
            "  - name: " CHANNEL "\n    url: http://127.0.0.1:%d/" CHANNEL "\n"
            "    secret_file: %s\n    location_types: [warehouse",
            receiver_port(W.rx), W.secret_path);
    for (int s = 0; s < o->sources; s++)
        if (source_has_store(s)) fprintf(f, ", %s", store_type(s, type, sizeof type));
    fprintf(f, "]\nauthority:\n");
    /* each source is the authority for the locations it holds */
    fprintf(f, "  - location_type: warehouse\n    source: %s0\n", source_prefix);
    for (int s = 0; s < o->sources; s++)
        if ((only_source < 0 || s == only_source) && source_has_store(s))
            fprintf(f, "  - location_type: %s\n    source: %s%d\n",
                    store_type(s, type, sizeof type), source_prefix, s);
    return fclose(f) == 0 ? 0 : -1;
}

static pid_t start_daemon(const char *config, const char *log, const char *roles)
{
    char *argv[6];
    int n = 0;
    argv[n++] = (char *)W.o.stockmeshd;
    argv[n++] = "-c";
    argv[n++] = (char *)config;
    if (roles) {
        argv[n++] = "--roles";
        argv[n++] = (char *)roles;
    }
    argv[n] = NULL;
    return servers_spawn(argv, log);
}

/* ------------------------------------------------------------------ load generator */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static int gen_connect(struct gen_conn *g, char *err, size_t errlen)
{
    char conninfo[256];
    snprintf(conninfo, sizeof conninfo,
             "host=127.0.0.1 port=%d dbname=retail_%d user=postgres application_name=bench-load",
             W.pg.port, g->source);
    g->c = PQconnectdb(conninfo);
    if (PQstatus(g->c) != CONNECTION_OK) {
        snprintf(err, errlen, "load connection: %s", PQerrorMessage(g->c));
        return -1;
    }
    /* PostgreSQL keeps up on 2 cores only without a WAL flush per commit; the commit
       time each change carries is unaffected */
    PGresult *r = PQexec(g->c, W.o.synchronous_commit ? "SET synchronous_commit = on"
                                                      : "SET synchronous_commit = off");
    PQclear(r);
    r = PQprepare(g->c, "change",
                  "UPDATE stock_levels SET on_hand = on_hand + $1::int "
                  "WHERE sku = $2 AND location_code = $3",
                  3, NULL);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok || PQsetnonblocking(g->c, 1) != 0 || PQenterPipelineMode(g->c) != 1) {
        snprintf(err, errlen, "load connection setup: %s", PQerrorMessage(g->c));
        return -1;
    }
    return 0;
}

static void gen_fail(struct gen_conn *g, const char *what)
{
    if (!g->broken) snprintf(g->err, sizeof g->err, "%s: %s", what, PQerrorMessage(g->c));
    g->err[strcspn(g->err, "\n")] = 0;
    g->broken = 1;
}

static void gen_read_results(struct gen_conn *g)
{
    if (!PQconsumeInput(g->c)) {
        gen_fail(g, "reading results");
        return;
    }
    while (!PQisBusy(g->c)) {
        PGresult *res = PQgetResult(g->c);
        if (!res) {
            if (g->after_query) {
                g->after_query = 0;
                continue;
            }
            break;
        }
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            continue;
        }
        g->after_query = 1;
        int64_t now = mono_ns();
        if (g->fcount) {
            int64_t due = g->fifo[g->fhead];
            g->fhead = (g->fhead + 1) % MAX_INFLIGHT;
            g->fcount--;
            if (st == PGRES_COMMAND_OK && strcmp(PQcmdTuples(res), "1") == 0) {
                g->acked++;
                g->last_ack_ns = now;
                if (g->nack < g->cap) g->ack_lag[g->nack++] = (float)((double)(now - due) / 1e6);
            } else {
                g->failed++;
                if (!g->err[0])
                    snprintf(g->err, sizeof g->err, "UPDATE %s: %s", PQcmdTuples(res),
                             PQresultErrorMessage(res));
                g->err[strcspn(g->err, "\n")] = 0;
            }
        }
        PQclear(res);
    }
}

static void *gen_run(void *arg)
{
    struct gen_conn *g = arg;
    int64_t hard_end = g->t0_ns +
                       (int64_t)((double)g->total * g->ns_per_change) + 120000000000LL;
    while (!g->broken && !interrupted) {
        int64_t now = mono_ns();
        int burst = 0;
        while (g->next_i < g->total && g->fcount < MAX_INFLIGHT && burst < 512) {
            int64_t due = g->t0_ns + (int64_t)((double)g->next_i * g->ns_per_change);
            if (due > now) break;
            char delta[16], sku[24], loc[16];
            uint64_t r = rng_next(&g->rng);
            int d = (int)(r % 5) + 1;
            snprintf(delta, sizeof delta, "%d", (r >> 8) & 1 ? d : -d);
            snprintf(sku, sizeof sku, "SKU-%06d", (int)((r >> 16) % (uint64_t)W.o.skus) + 1);
            snprintf(loc, sizeof loc, "L%03d", g->locs[(r >> 48) % (uint64_t)g->nlocs]);
            const char *params[3] = {delta, sku, loc};
            if (!PQsendQueryPrepared(g->c, "change", 3, params, NULL, NULL, 0) ||
                !PQpipelineSync(g->c)) {
                gen_fail(g, "sending");
                break;
            }
            g->fifo[(g->fhead + g->fcount) % MAX_INFLIGHT] = due;
            g->fcount++;
            g->sent++;
            g->last_send_ns = now;
            if (g->nsend < g->cap) g->send_lag[g->nsend++] = (float)((double)(now - due) / 1e6);
            g->next_i += g->stride;
            burst++;
        }
        int want_write = PQflush(g->c) == 1;
        gen_read_results(g);
        if (g->broken) break;
        if (g->next_i >= g->total && g->fcount == 0) break;
        now = mono_ns();
        if (now > hard_end) {
            snprintf(g->err, sizeof g->err, "%zu changes never acknowledged", g->fcount);
            g->broken = 1;
            break;
        }
        int64_t wait_ns = 20000000LL;
        if (g->next_i < g->total && g->fcount < MAX_INFLIGHT) {
            int64_t due = g->t0_ns + (int64_t)((double)g->next_i * g->ns_per_change);
            if (due - now < wait_ns) wait_ns = due - now;
        }
        if (wait_ns <= 0 && !want_write) continue;
        if (wait_ns < 0) wait_ns = 0;
        struct pollfd pfd = {PQsocket(g->c), (short)(POLLIN | (want_write ? POLLOUT : 0)), 0};
        struct timespec ts = {(time_t)(wait_ns / 1000000000LL), (long)(wait_ns % 1000000000LL)};
        ppoll(&pfd, 1, &ts, NULL);
    }
    return NULL;
}

/* Runs `total` changes at `rate` per second (0: as fast as PostgreSQL takes them) over
 * the load connections of `only_source` (-1: all). */
static void gen_load(double rate, int64_t total, int only_source, struct gen_result *out)
{
    memset(out, 0, sizeof *out);
    out->target_rate = rate;
    out->scheduled = total;
    int idx[64], n = 0;
    for (int i = 0; i < W.nconns; i++)
        if (only_source < 0 || W.conns[i].source == only_source) idx[n++] = i;
    if (!n) {
        snprintf(out->err, sizeof out->err, "no load connection for source %d", only_source);
        return;
    }
    int64_t t0 = mono_ns() + 50000000LL;
    pthread_t threads[64];
    for (int k = 0; k < n; k++) {
        struct gen_conn *g = &W.conns[idx[k]];
        g->t0_ns = t0;
        g->next_i = k;
        g->stride = n;
        g->total = total;
        g->ns_per_change = rate > 0 ? 1e9 / rate : 0;
        g->fhead = g->fcount = 0;
        g->cap = (size_t)(total / n + 2);
        g->send_lag = malloc(g->cap * sizeof *g->send_lag);
        g->ack_lag = malloc(g->cap * sizeof *g->ack_lag);
        g->nsend = g->nack = 0;
        g->sent = g->acked = g->failed = 0;
        g->last_send_ns = g->last_ack_ns = t0;
        g->err[0] = 0;
        if (!g->send_lag || !g->ack_lag) g->cap = 0;
        pthread_create(&threads[k], NULL, gen_run, g);
    }
    size_t cap = 0;
    int64_t last_send = t0, last_ack = t0;
    for (int k = 0; k < n; k++) {
        pthread_join(threads[k], NULL);
        struct gen_conn *g = &W.conns[idx[k]];
        cap += g->nsend > g->nack ? g->nsend : g->nack;
        out->sent += g->sent;
        out->acked += g->acked;
        out->failed += g->failed;
        if (g->last_send_ns > last_send) last_send = g->last_send_ns;
        if (g->last_ack_ns > last_ack) last_ack = g->last_ack_ns;
        if (g->err[0] && !out->err[0]) snprintf(out->err, sizeof out->err, "%s", g->err);
    }
    float *send = malloc((cap + 1) * sizeof *send), *ack = malloc((cap + 1) * sizeof *ack);
    size_t ns = 0, na = 0;
    for (int k = 0; k < n; k++) {
        struct gen_conn *g = &W.conns[idx[k]];
        if (send) memcpy(send + ns, g->send_lag, g->nsend * sizeof *send), ns += g->nsend;
        if (ack) memcpy(ack + na, g->ack_lag, g->nack * sizeof *ack), na += g->nack;
        free(g->send_lag);
        free(g->ack_lag);
        g->send_lag = g->ack_lag = NULL;
    }
    if (send) qsort(send, ns, sizeof *send, cmp_float);
    if (ack) qsort(ack, na, sizeof *ack, cmp_float);
    out->send_lag_p50 = send ? pct_f(send, ns, 0.5) : NAN;
    out->send_lag_p99 = send ? pct_f(send, ns, 0.99) : NAN;
    out->send_lag_max = send && ns ? send[ns - 1] : NAN;
    out->ack_lag_p50 = ack ? pct_f(ack, na, 0.5) : NAN;
    out->ack_lag_p99 = ack ? pct_f(ack, na, 0.99) : NAN;
    out->ack_lag_max = ack && na ? ack[na - 1] : NAN;
    free(send);
    free(ack);
    double scheduled_s = rate > 0 ? (double)total / rate : 0;
    out->send_seconds = (double)((rate > 0 ? last_send : last_ack) - t0) / 1e9;
    double span = out->send_seconds > scheduled_s ? out->send_seconds : scheduled_s;
    if (rate <= 0) span = (double)(last_ack - t0) / 1e9;
    out->achieved_rate = span > 0 ? (double)out->acked / span : 0;
    out->kept_up = rate > 0 && !out->err[0] && out->sent == total && out->failed == 0 &&
                   out->achieved_rate >= 0.98 * rate && out->send_lag_p99 < SEND_LAG_OK_MS &&
                   out->ack_lag_p99 < ACK_LAG_OK_MS;
}

/* ------------------------------------------------------------------ steps */

struct flow {
    double events, merged, published, delivered, requests, pending, in_flight;
};

static void flow_read(const char *m, struct flow *f)
{
    f->events = metric_or0(m, "stockmesh_cdc_events_total");
    f->merged = metric_or0(m, "stockmesh_merge_events_total");
    f->published = metric_or0(m, "stockmesh_merge_availability_changes_total");
    f->delivered = metric_or0(m, "stockmesh_push_delivered_total");
    f->requests = metric_or0(m, "stockmesh_push_requests_total");
    f->pending = metric_or0(m, "stockmesh_push_pending");
    f->in_flight = metric_or0(m, "stockmesh_merge_in_flight");
}

/* Waits until what `expected` changes set off has gone all the way through: read,
 * merged, nothing pending in push, and the receiver quiet for a moment. */
static int wait_drained(const struct flow *base, double expected, int timeout_s, char **metrics_out)
{
    double deadline = mono_s() + timeout_s;
    struct receiver_stats prev = {0};
    int quiet = 0;
    char *m = NULL;
    while (!interrupted) {
        free(m);
        m = metrics_fetch(W.console_port);
        struct flow f;
        flow_read(m, &f);
        struct receiver_stats st;
        receiver_stats(W.rx, &st);
        int through = m && f.events - base->events >= expected &&
                      f.merged - base->merged >= expected && f.pending == 0 && f.in_flight == 0;
        quiet = through && st.requests == prev.requests ? quiet + 1 : 0;
        prev = st;
        if (quiet >= 3) {
            *metrics_out = m;
            return 0;
        }
        if (mono_s() > deadline) break;
        sleep_ms(100);
    }
    *metrics_out = m;
    return -1;
}

static void describe_limit(struct step *s);

static int run_step(double rate, int seconds, struct step *s, int record)
{
    memset(s, 0, sizeof *s);
    s->rate = rate;
    char *m0 = metrics_fetch(W.console_port);
    if (!m0) {
        say("cannot read /metrics of stockmeshd");
        return -1;
    }
    struct flow f0, f1;
    flow_read(m0, &f0);
    struct receiver_stats r0, r1;
    receiver_stats(W.rx, &r0);
    struct cpu c0, c1, c2;
    cpu_sample(&c0);
    double t0 = mono_s();
    if (record) say("step: %.0f changes/s for %d s ...", rate, seconds);
    gen_load(rate, (int64_t)(rate * seconds), -1, &s->gen);
    double t1 = mono_s();
    cpu_sample(&c1);
    char *m1 = NULL;
    s->drained = wait_drained(&f0, (double)s->gen.acked, W.o.drain_s, &m1) == 0;
    double t2 = mono_s();
    cpu_sample(&c2);
    receiver_stats(W.rx, &r1);
    flow_read(m1, &f1);
    s->load_seconds = t1 - t0;
    s->drain_seconds = t2 - t1;
    s->total_seconds = t2 - t0;
    cpu_delta(&c0, &c1, &s->cpu_load);
    cpu_delta(&c0, &c2, &s->cpu_total);
    s->committed = (double)s->gen.acked;
    s->read = f1.events - f0.events;
    s->merged = f1.merged - f0.merged;
    s->published = f1.published - f0.published;
    s->delivered = f1.delivered - f0.delivered;
    s->requests = f1.requests - f0.requests;
    s->received = (double)(r1.applied - r0.applied);
    s->stale = (double)(r1.stale_versions - r0.stale_versions);
    for (int k = 0; k < NSTAGES; k++) s->stage[k] = hist_window(m0, m1, stage_metric[k]);
    proc_memory(W.daemon, &s->rss_kb, &s->hwm_kb);

    size_t want = (size_t)(r1.applied - r0.applied);
    double *lat = malloc((want + 1) * sizeof *lat);
    size_t got = lat ? receiver_latencies(W.rx, lat, want) : 0;
    size_t n = 0;
    double sum = 0;
    for (size_t i = 0; i < got; i++) {
        if (lat[i] > SWEEP_MS) {
            s->sweep_samples++;
            continue;
        }
        lat[n++] = lat[i];
        sum += lat[i];
    }
    qsort(lat, n, sizeof *lat, cmp_double);
    s->samples = n;
    s->p50 = pct_d(lat, n, 0.5);
    s->p95 = pct_d(lat, n, 0.95);
    s->p99 = pct_d(lat, n, 0.99);
    s->max = n ? lat[n - 1] : NAN;
    s->mean = n ? sum / (double)n : NAN;
    free(lat);
    free(m0);
    free(m1);
    s->pass = s->gen.kept_up && s->drained && n > 0 && s->p99 < W.o.p99_limit_ms;
    describe_limit(s);
    if (record)
        say("  achieved %.0f/s, p50 %.1f ms, p99 %.1f ms, max %.1f ms, %s", s->gen.achieved_rate,
            s->p50, s->p99, s->max, s->verdict);
    return 0;
}

static double pct_of(double cpu_s, double wall_s) { return wall_s > 0 ? 100.0 * cpu_s / wall_s : 0; }

/* Why a step failed (or "ok"), from the generator, the drain and where time went. */
static double rdk_seconds(const struct cpu *c)
{
    double t = 0;
    for (int g = 0; g < c->ngroups; g++)
        if (strncmp(c->group[g], "rdk:", 4) == 0) t += c->group_s[g];
    return t;
}

static void describe_limit(struct step *s)
{
    const struct cpu *c = &s->cpu_load;
    double cores = (double)sysconf(_SC_NPROCESSORS_ONLN);
    double busy = c->machine_total > 0 ? 100.0 * c->machine_busy / c->machine_total : 0;
    char cpu[300];
    double ours = c->daemon + c->postgres + c->redis + c->self;
    double other = c->machine_busy - ours; /* an estimate: reaped children land late */
    snprintf(cpu, sizeof cpu,
             "machine %.0f%% busy of %.0f cores; %% of a core: stockmeshd %.0f (event loop %.0f, "
             "librdkafka threads %.0f), postgres %.0f, redis %.0f, bench %.0f, other processes "
             "~%.0f",
             busy, cores, pct_of(c->daemon, s->load_seconds),
             pct_of(c->daemon_loop, s->load_seconds), pct_of(rdk_seconds(c), s->load_seconds),
             pct_of(c->postgres, s->load_seconds), pct_of(c->redis, s->load_seconds),
             pct_of(c->self, s->load_seconds), other > 0 ? pct_of(other, s->load_seconds) : 0);
    if (s->pass) {
        snprintf(s->verdict, sizeof s->verdict, "ok (%s)", cpu);
        return;
    }
    char why[320] = "";
    size_t used = 0;
    const struct gen_result *g = &s->gen;
    int sender_late = g->err[0] || g->failed || g->achieved_rate < 0.98 * s->rate ||
                      !(g->send_lag_p99 < SEND_LAG_OK_MS);
    if (!g->kept_up && sender_late)
        used += (size_t)snprintf(why + used, sizeof why - used,
                                 "the load generator fell behind schedule (achieved %.0f of "
                                 "%.0f/s, send lag p99 %.0f ms%s%.100s); ",
                                 g->achieved_rate, s->rate, g->send_lag_p99,
                                 g->err[0] ? ", " : "", g->err);
    else if (!g->kept_up)
        used += (size_t)snprintf(why + used, sizeof why - used,
                                 "PostgreSQL committed late (scheduled -> commit acknowledged "
                                 "p99 %.0f ms, over %.0f ms); ",
                                 g->ack_lag_p99, ACK_LAG_OK_MS);
    if (used < sizeof why && (!s->drained || !(s->p99 < W.o.p99_limit_ms))) {
        /* the stage whose p99 is largest is where the queue builds up */
        int worst = 0;
        for (int k = 1; k < 4; k++)
            if (!isnan(s->stage[k].p99) &&
                (isnan(s->stage[worst].p99) || s->stage[k].p99 > s->stage[worst].p99))
                worst = k;
        snprintf(why + used, sizeof why - used, "p99 %.0f ms%s, largest stage p99 %s %.0f ms; ",
                 s->p99, s->drained ? "" : ", pipeline did not drain in time", stage_label[worst],
                 s->stage[worst].p99);
    }
    snprintf(s->verdict, sizeof s->verdict, "%s%s", why, cpu);
}

/* ------------------------------------------------------------------ setup */

/* Waits until the sum of a metric's series reaches at_least. */
static int wait_metric(int port, const char *name, double at_least, int timeout_s)
{
    double deadline = mono_s() + timeout_s;
    while (!interrupted && mono_s() < deadline) {
        char *m = metrics_fetch(port);
        double v = m ? metric_sum(m, name) : NAN;
        free(m);
        if (!isnan(v) && v >= at_least) return 0;
        sleep_ms(100);
    }
    return -1;
}

static int wait_snapshot(int timeout_s)
{
    double deadline = mono_s() + timeout_s;
    while (!interrupted && mono_s() < deadline) {
        struct receiver_stats st;
        receiver_stats(W.rx, &st);
        char *m = metrics_fetch(W.console_port);
        double merged = metric_or0(m, "stockmesh_merge_events_total");
        double pending = metric_or0(m, "stockmesh_push_pending");
        free(m);
        if (st.skus >= (unsigned long long)W.o.skus && merged >= (double)W.rows && pending == 0)
            return 0;
        sleep_ms(200);
    }
    return -1;
}

/* A number from one INFO section ("aof_delayed_fsync" in "persistence"). */
static double redis_info_number(const char *section, const char *field)
{
    char err[256];
    char *info = servers_redis_command(&W.redis, err, sizeof err, "INFO %s", section);
    if (!info) return NAN;
    char key[64];
    snprintf(key, sizeof key, "%s:", field);
    char *p = strstr(info, key);
    double v = p ? strtod(p + strlen(key), NULL) : NAN;
    free(info);
    return v;
}

static double redis_used_memory(void)
{
    char err[256];
    char *info = servers_redis_command(&W.redis, err, sizeof err, "INFO memory");
    if (!info) return NAN;
    char *p = strstr(info, "used_memory:");
    double v = p ? strtod(p + 12, NULL) : NAN;
    free(info);
    return v;
}

/* MEMORY USAGE of a sample of SKUs' keys (sm:{sku} and sm:{sku}:c), per (sku, location). */
static double redis_sampled_bytes(int nsample)
{
    double total = 0;
    int n = 0;
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < nsample; i++) {
        int sku = (int)(rng_next(&rng) % (uint64_t)W.o.skus) + 1;
        double one = 0;
        int ok = 1;
        const char *suffix[] = {"", ":c"};
        for (int k = 0; k < 2; k++) {
            char err[128];
            char *v = servers_redis_command(&W.redis, err, sizeof err,
                                            "MEMORY USAGE sm:{SKU-%06d}%s SAMPLES 0", sku,
                                            suffix[k]);
            if (!v) {
                ok = 0;
                break;
            }
            one += atof(v);
            free(v);
        }
        if (ok) {
            total += one;
            n++;
        }
    }
    return n ? total / n / W.o.locations : NAN;
}

static int setup(char *err, size_t errlen)
{
    const struct options *o = &W.o;
    snprintf(W.dir, sizeof W.dir, "%s/stockmesh-bench-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(W.dir)) {
        snprintf(err, errlen, "mkdtemp: %s", strerror(errno));
        return -1;
    }
    chmod(W.dir, 0755);
    say("starting PostgreSQL and Redis (work dir %s) ...", W.dir);
    if (servers_start(&W.pg, SERVERS_POSTGRES, NULL, 0, err, errlen) != 0) return -1;
    W.pg_up = 1;
    if (servers_start(&W.redis, SERVERS_REDIS, NULL, 0, err, errlen) != 0) return -1;
    W.redis_up = 1;
    /* Asynchronous commits reach the WAL sender only once the WAL writer flushes them
       (every wal_writer_delay, 200 ms by default): flush about as promptly as a
       synchronous commit would, or source→reader latency measures this setting. */
    char sql[128];
    snprintf(sql, sizeof sql, "ALTER SYSTEM SET wal_writer_delay = '%dms'", o->wal_writer_delay_ms);
    if (servers_pg_exec(&W.pg, NULL, sql, err, errlen) != 0 ||
        servers_pg_exec(&W.pg, NULL, "SELECT pg_reload_conf()", err, errlen) != 0)
        return -1;
    say("creating the estate: %d SKUs x %d locations over %d source database(s) ...", o->skus,
        o->locations, o->sources);
    if (create_estate(o->initial_snapshot, err, errlen) != 0 ||
        (o->initial_snapshot && estate_analyze(err, errlen) != 0))
        return -1;

    W.rx = receiver_new(SECRET, 0, err, errlen);
    if (!W.rx) return -1;
    /* one line per update received, for looking at latency over time */
    const char *rx_log = getenv("BENCH_RECEIVER_LOG");
    if (rx_log && *rx_log) {
        W.rx_log = fopen(rx_log, "w");
        if (W.rx_log) receiver_set_log(W.rx, W.rx_log);
    }
    snprintf(W.secret_path, sizeof W.secret_path, "%s/secret", W.dir);
    snprintf(W.config_path, sizeof W.config_path, "%s/stockmesh.yaml", W.dir);
    snprintf(W.log_path, sizeof W.log_path, "%s/stockmeshd.log", W.dir);
    char state[480];
    snprintf(state, sizeof state, "%s/state", W.dir);
    W.console_port = servers_free_port();
    if (write_file(W.secret_path, SECRET "\n") != 0 ||
        write_config(W.config_path, state, W.console_port, W.redis.port,
                     o->window == 20000 ? 0 : o->window, o->partitions == 4 ? 0 : o->partitions,
                     "src", -1) != 0) {
        snprintf(err, errlen, "cannot write the configuration in %s", W.dir);
        return -1;
    }

    W.conns = calloc((size_t)o->connections, sizeof *W.conns);
    W.nconns = o->connections;
    for (int i = 0; i < W.nconns; i++) {
        struct gen_conn *g = &W.conns[i];
        g->id = i;
        g->source = i % o->sources;
        g->rng = 0x2545F4914F6CDD1DULL ^ ((uint64_t)(i + 1) * 0x9E3779B97F4A7C15ULL);
        g->locs = W.source_locs[g->source];
        g->nlocs = W.source_nlocs[g->source];
        if (gen_connect(g, err, errlen) != 0) return -1;
    }

    W.redis_used_before = redis_used_memory();
    say("starting stockmeshd (%s); the estate's %lld rows come in %s ...", o->stockmeshd,
        W.rows, o->initial_snapshot ? "by its initial snapshot"
                                    : "as 2000-row transactions once it streams");
    double t0 = mono_s();
    W.daemon = start_daemon(W.config_path, W.log_path, NULL);
    if (W.daemon <= 0 || servers_wait_port(W.console_port, 30000) != 0) {
        tail_log(W.log_path, 30);
        snprintf(err, errlen, "stockmeshd did not start; its log is %s", W.log_path);
        return -1;
    }
    if (!o->initial_snapshot) {
        if (wait_metric(W.console_port, "stockmesh_cdc_state", 3.0 * o->sources, 120) != 0) {
            tail_log(W.log_path, 30);
            snprintf(err, errlen, "stockmeshd did not start streaming");
            return -1;
        }
        t0 = mono_s();
        if (estate_stream(err, errlen) != 0 || estate_analyze(err, errlen) != 0) return -1;
    }
    /* start the measurements with no checkpoint owed */
    servers_pg_exec(&W.pg, NULL, "CHECKPOINT", err, errlen);
    if (wait_snapshot(600) != 0) {
        tail_log(W.log_path, 30);
        snprintf(err, errlen, "the estate did not reach the channel within 600 s%s",
                 o->initial_snapshot ? " (a snapshot larger than backbone.window stalls)" : "");
        return -1;
    }
    W.snapshot_seconds = mono_s() - t0;
    W.redis_used_after = redis_used_memory();
    W.redis_bytes_used_memory = (W.redis_used_after - W.redis_used_before) /
                                ((double)o->skus * o->locations);
    W.redis_bytes_memory_usage = redis_sampled_bytes(200);
    say("estate through to the channel in %.1f s; Redis %.0f B per (sku, location)",
        W.snapshot_seconds, W.redis_bytes_used_memory);
    return 0;
}

/* ------------------------------------------------------------------ baselines */

static void baseline_backbone(void)
{
    struct baselines *b = &W.base;
    char path[600], rate[24], secs[24];
    snprintf(path, sizeof path, "%s/state/backbone", W.dir);
    snprintf(rate, sizeof rate, "%d", W.o.kafka_rate);
    snprintf(secs, sizeof secs, "%d", W.o.kafka_seconds);
    char *argv[] = {(char *)W.o.rtt_bin, path, rate, secs, "600", NULL};
    char out[2048];
    say("baseline: Kafka produce->consume round trip on stockmeshd's backbone, %s msg/s ...",
        rate);
    int rc = run_capture(argv, out, sizeof out, NULL);
    json_t *j = json_loads(out, 0, NULL);
    if (rc != 0 || !j) {
        snprintf(b->kafka_note, sizeof b->kafka_note, "backbone_rtt failed (exit %d): %.150s", rc,
                 out);
        json_decref(j);
        return;
    }
    b->kafka_ok = 1;
    b->kafka_rate = json_number_value(json_object_get(j, "rate"));
    b->kafka_p50 = json_number_value(json_object_get(j, "p50_ms"));
    b->kafka_p95 = json_number_value(json_object_get(j, "p95_ms"));
    b->kafka_p99 = json_number_value(json_object_get(j, "p99_ms"));
    b->kafka_max = json_number_value(json_object_get(j, "max_ms"));
    json_decref(j);
}

static void baseline_redis(void)
{
    struct baselines *b = &W.base;
    b->redis_pipeline = W.o.redis_pipeline; /* merge's in-flight limit, redis.pipeline */
    /* exactly what merge sends for a change at a store of this configuration (the
       warehouse's call differs only in its location code): its channels with buffers,
       authority, tolerances, every source */
    char err[1024];
    struct config *cfg = config_load(W.config_path, err, sizeof err);
    struct apply_channels *ac = cfg ? apply_channels_new(cfg) : NULL;
    int loc_no = W.o.locations > 1 ? 2 : 1;
    char code[16];
    snprintf(code, sizeof code, "L%03d", loc_no);
    const struct config_location *loc = cfg ? config_location(cfg, code) : NULL;
    int src = source_of_location(loc_no);
    if (!ac || !loc || (size_t)src >= cfg->nsources) {
        snprintf(b->merge_note, sizeof b->merge_note, "redis-benchmark not run: %.200s",
                 cfg ? "cannot build the merge's call" : err);
        apply_channels_free(ac, cfg);
        config_free(cfg);
        return;
    }
    /* New SKUs (random over 10^8, so every call takes the full path: fact, location row,
       channel sum, version), a fresh position in the compact form merge sends (event.h:
       "B" then 12 digits, then "00"), an on_hand that changes
       availability, the table's committed and unavailable as the estate has them (0).
       redis-benchmark draws each __rand_int__ on its own: the two keys name different
       SKUs, both new, which costs Redis what one new SKU costs. */
    const char *qty[CONFIG_QUANTITY_KINDS] = {"__rand_int__", "0", "0"};
    struct apply_call call;
    apply_call_fill(&call, cfg, ac, loc, cfg->sources[src].name, "bench-__rand_int__",
                    "B__rand_int__00", "1700000000000", qty);
    char port[16], n[24], pipeline[16];
    snprintf(port, sizeof port, "%d", W.redis.port);
    snprintf(n, sizeof n, "%ld", W.o.redis_requests);
    snprintf(pipeline, sizeof pipeline, "%d", b->redis_pipeline);
    char *argv[16 + APPLY_MAX_ARGS] = {"/usr/bin/redis-benchmark", "-h", "127.0.0.1", "-p", port,
                                       "-c", "1", "-P", pipeline, "-n", n, "-r", "100000000",
                                       "--csv"};
    int argc = 14;
    for (int i = 0; i < call.argc; i++) argv[argc++] = (char *)call.argv[i];
    argv[argc] = NULL;
    b->redis_args = call.argc;
    size_t used = 0;
    for (int i = 0; i < argc && used < sizeof b->redis_command; i++)
        used += (size_t)snprintf(b->redis_command + used, sizeof b->redis_command - used, "%s%s",
                                 i ? " " : "", argv[i]);
    char out[4096];
    say("baseline: redis-benchmark FCALL stockmesh_apply (%d arguments, as merge sends) -P %s "
        "x %s ...", call.argc, pipeline, n);
    struct cpu c0, c1;
    cpu_sample(&c0);
    int rc = run_capture_cpu(argv, out, sizeof out, &b->redis_bench_wall,
                             &b->redis_bench_client_cpu);
    cpu_sample(&c1);
    cpu_delta(&c0, &c1, &b->redis_bench_cpu);
    apply_channels_free(ac, cfg);
    config_free(cfg);
    /* last line: "FCALL …","<rps>",… */
    char *last = NULL;
    for (char *p = strtok(out, "\n"); p; p = strtok(NULL, "\n")) last = p;
    double rps = NAN;
    if (last) {
        char *q = strstr(last, "\",\"");
        if (q) rps = strtod(q + 3, NULL);
    }
    /* redis-benchmark counts error replies as requests too: one call must succeed */
    char *check = NULL;
    if (rc == 0 && !isnan(rps) && rps > 0) {
        const char *probe[CONFIG_QUANTITY_KINDS] = {"1", "0", "0"};
        cfg = config_load(W.config_path, err, sizeof err);
        ac = cfg ? apply_channels_new(cfg) : NULL;
        loc = cfg ? config_location(cfg, code) : NULL;
        if (ac && loc) {
            apply_call_fill(&call, cfg, ac, loc, cfg->sources[src].name, "bench-probe",
                            "000000000000000000000001", "1700000000000", probe);
            redisContext *c = redisConnect("127.0.0.1", W.redis.port);
            redisReply *r = c && !c->err ? redisCommandArgv(c, call.argc, call.argv, call.len)
                                         : NULL;
            if (!r || r->type != REDIS_REPLY_ARRAY) {
                snprintf(err, sizeof err, "%.300s", r && r->type == REDIS_REPLY_ERROR ? r->str
                                                    : "no answer");
                check = err;
            }
            if (r) freeReplyObject(r);
            if (c) redisFree(c);
        }
        apply_channels_free(ac, cfg);
        config_free(cfg);
    }
    if (rc != 0 || isnan(rps) || rps <= 0 || check) {
        snprintf(b->merge_note, sizeof b->merge_note, "redis-benchmark failed (exit %d)%s%.150s",
                 rc, check ? ": the call it repeats fails: " : "", check ? check : "");
        return;
    }
    b->redis_rate = rps;
}

/* Counts the row changes and commits in what pg_recvlogical wrote: pgoutput (protocol
 * 1) messages, each followed by a newline. -1 when the file does not parse. */
struct walker {
    const unsigned char *p, *end;
    int bad;
};

static void walk_skip(struct walker *w, size_t n)
{
    if ((size_t)(w->end - w->p) < n) w->bad = 1;
    else w->p += n;
}

static unsigned walk_u8(struct walker *w)
{
    if (w->p >= w->end) {
        w->bad = 1;
        return 0;
    }
    return *w->p++;
}

static uint32_t walk_u32(struct walker *w)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v = v << 8 | walk_u8(w);
    return v;
}

static void walk_string(struct walker *w)
{
    const unsigned char *nul = w->p < w->end ? memchr(w->p, 0, (size_t)(w->end - w->p)) : NULL;
    if (!nul) w->bad = 1;
    else w->p = nul + 1;
}

static void walk_tuple(struct walker *w)
{
    unsigned ncols = walk_u8(w) << 8;
    ncols |= walk_u8(w);
    for (unsigned i = 0; i < ncols && !w->bad; i++) {
        unsigned kind = walk_u8(w);
        if (kind == 't' || kind == 'b') walk_skip(w, walk_u32(w));
        else if (kind != 'n' && kind != 'u') w->bad = 1;
    }
}

static int count_pgoutput(const char *path, long *changes, long *commits)
{
    *changes = *commits = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    unsigned char *buf = size > 0 ? malloc((size_t)size) : NULL;
    int ok = buf && fread(buf, 1, (size_t)size, f) == (size_t)size;
    fclose(f);
    struct walker w = {buf, buf + (ok ? size : 0), !ok};
    while (!w.bad && w.p < w.end) {
        unsigned type = walk_u8(&w);
        switch (type) {
        case 'B': walk_skip(&w, 20); break;
        case 'C': walk_skip(&w, 25); (*commits)++; break;
        case 'O': walk_skip(&w, 8); walk_string(&w); break;
        case 'Y': walk_skip(&w, 4); walk_string(&w); walk_string(&w); break;
        case 'R': {
            walk_skip(&w, 4);
            walk_string(&w);
            walk_string(&w);
            walk_skip(&w, 1);
            unsigned ncols = walk_u8(&w) << 8;
            ncols |= walk_u8(&w);
            for (unsigned i = 0; i < ncols && !w.bad; i++) {
                walk_skip(&w, 1);
                walk_string(&w);
                walk_skip(&w, 8);
            }
            break;
        }
        case 'I': walk_skip(&w, 5); walk_tuple(&w); (*changes)++; break;
        case 'U': {
            walk_skip(&w, 4);
            unsigned k = walk_u8(&w);
            if (k == 'K' || k == 'O') {
                walk_tuple(&w);
                k = walk_u8(&w);
            }
            if (k != 'N') w.bad = 1;
            walk_tuple(&w);
            (*changes)++;
            break;
        }
        case 'D': walk_skip(&w, 5); walk_tuple(&w); (*changes)++; break;
        case 'T': {
            uint32_t n = walk_u32(&w);
            walk_skip(&w, 1 + 4 * (size_t)n);
            break;
        }
        default: w.bad = 1;
        }
        if (walk_u8(&w) != '\n') w.bad = 1;
    }
    free(buf);
    return w.bad ? -1 : 0;
}

/* Progress samples of a run: (time, amount done). The rate is taken between 10 % and
 * 90 % of the total, so neither start-up nor the last straggling poll counts. */
#define PROGRESS_MAX 20000
struct progress {
    double t[PROGRESS_MAX], v[PROGRESS_MAX];
    size_t n;
};

static void progress_note(struct progress *p, double t, double v)
{
    if (p->n < PROGRESS_MAX) {
        p->t[p->n] = t;
        p->v[p->n] = v;
        p->n++;
    }
}

/* First time at which the amount reached v, interpolated between samples. */
static double progress_time(const struct progress *p, double v)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->v[i] >= v) {
            if (!i || p->v[i] == p->v[i - 1]) return p->t[i];
            return p->t[i - 1] +
                   (p->t[i] - p->t[i - 1]) * (v - p->v[i - 1]) / (p->v[i] - p->v[i - 1]);
        }
    return NAN;
}

/* Items per second between 10 % and 90 % of total items, scaled from the samples'
 * own unit (bytes, events) by their final value. */
static double progress_rate(const struct progress *p, double total_items)
{
    if (p->n < 2) return NAN;
    double last = p->v[p->n - 1];
    double t10 = progress_time(p, 0.1 * last), t90 = progress_time(p, 0.9 * last);
    return t90 > t10 ? 0.8 * total_items / (t90 - t10) : NAN;
}

/* Runs argv to completion while sampling the size of the file it writes. */
static int run_watching_file(char *const argv[], const char *path, struct progress *prog,
                             double *seconds, double *cpu)
{
    double t0 = mono_s();
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) dup2(null, 1);
        execv(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    for (;;) {
        pid_t r = wait4(pid, &status, WNOHANG, &ru);
        struct stat st;
        progress_note(prog, mono_s(), stat(path, &st) == 0 ? (double)st.st_size : 0);
        if (r == pid || (r < 0 && errno != EINTR)) break;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    *seconds = mono_s() - t0;
    *cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The merge role alone draining the reader baseline's n updates, nothing else of
 * stockmesh competing for the cores: the reader baseline's stockmeshd reads them again
 * (its slot was never confirmed) cdc-only into a backbone with enough partitions to keep
 * them all (the embedded backbone keeps about 5 MB per partition), then a second
 * process with only merge and console joins that backbone and applies them to the
 * reader baseline's Redis. Rates and CPU between 10 % and 90 % of the backlog. With
 * BENCH_PERF_MERGE=FILE, `perf record -g` samples the merge process meanwhile. */
static void baseline_merge_alone(long n, const char *state)
{
    struct baselines *b = &W.base;
    char cdc_config[600], merge_config[600], merge_log[600];
    snprintf(cdc_config, sizeof cdc_config, "%s/alone-cdc.yaml", W.dir);
    snprintf(merge_config, sizeof merge_config, "%s/alone-merge.yaml", W.dir);
    snprintf(merge_log, sizeof merge_log, "%s/alone-merge.log", W.dir);
    int merge_port = servers_free_port();
    /* an event takes about 500 B there: 1000 B each in 4 MB of the 5 MB per partition
       leave room, with as few partitions as that allows (every partition costs the merge
       an offset to report every few milliseconds) */
    long long parts = (long long)n * 1000 / (4 * 1024 * 1024) + 4;
    b->alone_partitions = parts > 1024 ? 1024 : (int)parts;
    if (write_config(cdc_config, state, W.reader_port, W.redis2.port, 10000000,
                     b->alone_partitions, "rb", 0) != 0 ||
        write_config(merge_config, state, merge_port, W.redis2.port, 10000000,
                     b->alone_partitions, "rb", 0) != 0) {
        snprintf(b->alone_note, sizeof b->alone_note, "cannot write %.200s", merge_config);
        return;
    }
    say("baseline: merge alone: the %ld updates read again, cdc-only, into %d partitions ...", n,
        b->alone_partitions);
    W.reader = start_daemon(cdc_config, W.reader_log_path, "cdc,console");
    if (W.reader <= 0 ||
        wait_metric(W.reader_port, "stockmesh_cdc_events_total", (double)n, 300) != 0) {
        tail_log(W.reader_log_path, 20);
        snprintf(b->alone_note, sizeof b->alone_note, "the cdc-only stockmeshd did not read "
                                                      "the backlog again");
        stop_process(&W.reader, "the reader baseline's stockmeshd");
        return;
    }
    say("baseline: merge alone: a merge-only stockmeshd drains them ...");
    const char *perf_out = getenv("BENCH_PERF_MERGE");
    pid_t perf = 0;
    struct cpu a0, a1;
    double cdc0 = 0, cdc1 = 0, t0 = mono_s(), first = 0, t10 = 0, t90 = 0, done_at = 0;
    W.merger = start_daemon(merge_config, merge_log, "merge,console");
    while (W.merger > 0 && !interrupted && mono_s() - t0 < W.o.drain_s + 30) {
        char *m = metrics_fetch(merge_port);
        double facts = metric_or0(m, "stockmesh_merge_facts_total");
        double in_flight = metric_or0(m, "stockmesh_merge_in_flight");
        free(m);
        double now = mono_s();
        if (waitpid(W.merger, NULL, WNOHANG) == W.merger) {
            W.merger = 0; /* it ended: its log says why */
            break;
        }
        if (!first && facts > 0) first = now;
        if (t10 && !t90) {
            b->alone_samples++;
            b->alone_in_flight += in_flight;
        }
        if (!t10 && facts >= 0.1 * n) {
            t10 = now;
            cpu_sample_of(&a0, W.merger, W.redis2.pid);
            proc_times(W.reader, NULL, &cdc0, NULL);
            if (perf_out && *perf_out) {
                char pid_s[16];
                snprintf(pid_s, sizeof pid_s, "%d", (int)W.merger);
                char *pargv[] = {"/usr/bin/perf", "record", "-q", "--call-graph", "dwarf", "-F", "499", "-p", pid_s,
                                 "-o", (char *)perf_out, NULL};
                char perf_log[600];
                snprintf(perf_log, sizeof perf_log, "%s/perf.log", W.dir);
                perf = servers_spawn(pargv, perf_log);
            }
        }
        if (!t90 && facts >= 0.9 * n) {
            t90 = now;
            cpu_sample_of(&a1, W.merger, W.redis2.pid);
            proc_times(W.reader, NULL, &cdc1, NULL);
            if (perf > 0) {
                kill(perf, SIGINT);
                waitpid(perf, NULL, 0);
                snprintf(b->alone_perf, sizeof b->alone_perf, "%s", perf_out);
                perf = 0;
            }
        }
        if (facts >= (double)n) {
            done_at = now;
            break;
        }
        sleep_ms(20); /* each /metrics page costs the merge's event loop: not too often */
    }
    if (perf > 0) {
        kill(perf, SIGINT);
        waitpid(perf, NULL, 0);
    }
    if (done_at > 0 && t90 > t10) {
        b->alone_ok = 1;
        b->alone_rate = 0.8 * (double)n / (t90 - t10);
        b->alone_whole_rate = done_at > first ? (double)n / (done_at - first) : NAN;
        b->alone_start_seconds = first - t0;
        b->alone_wall = t90 - t10;
        cpu_delta(&a0, &a1, &b->alone_cpu);
        b->alone_cdc_cpu = cdc1 - cdc0;
    } else {
        tail_log(merge_log, 20);
        snprintf(b->alone_note, sizeof b->alone_note,
                 "the merge-only stockmeshd did not apply the %ld updates within %d s", n,
                 W.o.drain_s + 30);
    }
    stop_process(&W.merger, "the merge-alone baseline's stockmeshd");
    stop_process(&W.reader, "the reader baseline's stockmeshd");
}

/* Reader: a second stockmeshd with only cdc (and console), a window too large to ever
 * pause, on source 0; pg_recvlogical on its own pgoutput slot; both paused while the
 * same N updates are written, then each catches up alone. Merge: the main daemon,
 * paused meanwhile, then drains the same backlog through the whole pipeline. */
static void baseline_reader_and_drain(void)
{
    struct baselines *b = &W.base;
    long n = W.o.baseline_updates;
    b->updates = n;
    if (n <= 0) {
        snprintf(b->reader_note, sizeof b->reader_note, "skipped (BENCH_BASELINE_UPDATES=0)");
        return;
    }
    char err[512], state[480];
    snprintf(W.reader_config_path, sizeof W.reader_config_path, "%s/reader.yaml", W.dir);
    snprintf(W.reader_log_path, sizeof W.reader_log_path, "%s/reader.log", W.dir);
    snprintf(state, sizeof state, "%s/state-reader", W.dir);
    W.reader_port = servers_free_port();
    if (servers_start(&W.redis2, SERVERS_REDIS, NULL, 0, err, sizeof err) != 0) {
        snprintf(b->reader_note, sizeof b->reader_note, "second Redis: %.200s", err);
        return;
    }
    W.redis2_up = 1;
    /* The window is huge so that the measured reader never pauses for the merge; and so
       that the embedded backbone (about 5 MB per partition) keeps what the merge has not
       applied of the snapshot yet, many partitions. The measured run afterwards has the
       default partitions. */
    char snapshot_config[600];
    snprintf(snapshot_config, sizeof snapshot_config, "%s/reader-snapshot.yaml", W.dir);
    long long rows0 = (long long)W.o.skus * W.source_nlocs[0];
    int partitions = (int)(rows0 * 1000 / (2 * 1024 * 1024)) + 4;
    if (partitions > 1024) partitions = 1024;
    if (write_config(snapshot_config, state, W.reader_port, W.redis2.port, 10000000, partitions,
                     "rb", 0) != 0 ||
        write_config(W.reader_config_path, state, W.reader_port, W.redis2.port, 10000000, 0, "rb",
                     0) != 0) {
        snprintf(b->reader_note, sizeof b->reader_note, "cannot write %.200s", W.reader_config_path);
        return;
    }
    /* A reader that stays connected while the backlog is written would find much of it
       decoded into its socket buffers already. So: a second stockmeshd (own Redis, own
       backbone) takes its snapshot with a merge and confirms it, stops, and comes back
       cdc-only after the writes, like pg_recvlogical, which connects only then. */
    say("baseline: reader vs pg_recvlogical on the same %ld updates ...", n);
    W.reader = start_daemon(snapshot_config, W.reader_log_path, "cdc,merge,console");
    double deadline = mono_s() + 300;
    int snapshot_done = 0;
    while (W.reader > 0 && !interrupted && mono_s() < deadline && !snapshot_done) {
        /* the reader records a snapshot as finished once it is applied downstream */
        char db_path[600], token[128];
        snprintf(db_path, sizeof db_path, "%s/state.db", state);
        struct store *st = access(db_path, F_OK) == 0 ? store_new(db_path, err, sizeof err) : NULL;
        snapshot_done = st && store_get(st, "source:rb0", "snapshot", token, sizeof token) == 0;
        store_free(st);
        if (!snapshot_done) sleep_ms(200);
    }
    stop_process(&W.reader, "the reader baseline's stockmeshd");
    if (!snapshot_done) {
        tail_log(W.reader_log_path, 20);
        snprintf(b->reader_note, sizeof b->reader_note,
                 "the baseline stockmeshd did not finish its snapshot");
        return;
    }
    if (servers_pg_exec(&W.pg, "retail_0",
                        "SELECT pg_create_logical_replication_slot('bench_recvlogical', "
                        "'pgoutput')",
                        err, sizeof err) != 0) {
        snprintf(b->reader_note, sizeof b->reader_note, "slot: %.200s", err);
        return;
    }
    char *m = metrics_fetch(W.console_port);
    struct flow main_before;
    flow_read(m, &main_before);
    free(m);

    /* stockmeshd paused: PostgreSQL alone takes the writes */
    kill(W.daemon, SIGSTOP);
    struct gen_result g;
    gen_load(0, n, 0, &g);
    b->gen_seconds = g.achieved_rate > 0 ? (double)g.acked / g.achieved_rate : 0;
    b->gen_rate = g.achieved_rate;
    char *end_lsn = servers_pg_query_value(&W.pg, "retail_0", "SELECT pg_current_wal_lsn()::text");
    /* a durable commit flushes the WAL the asynchronous ones left unflushed: decoding
       sends only flushed WAL */
    servers_pg_exec(&W.pg, "retail_0", "SET synchronous_commit = on; SELECT txid_current()", err,
                    sizeof err);
    if (g.acked != n || !end_lsn) {
        kill(W.daemon, SIGCONT);
        snprintf(b->reader_note, sizeof b->reader_note, "writing the backlog failed: %.200s", g.err);
        free(end_lsn);
        return;
    }

    /* the updates leave autovacuum work behind: do it now, with a checkpoint, so that it
       runs during neither reader's turn */
    servers_pg_exec(&W.pg, "retail_0", "VACUUM stock_levels", err, sizeof err);
    servers_pg_exec(&W.pg, NULL, "CHECKPOINT", err, sizeof err);

    /* pg_recvlogical alone */
    char port[16], endpos[64];
    snprintf(port, sizeof port, "%d", W.pg.port);
    snprintf(endpos, sizeof endpos, "%s", end_lsn);
    char out_path[600];
    snprintf(out_path, sizeof out_path, "%s/recvlogical.out", W.dir);
    char *argv[] = {"/usr/lib/postgresql/15/bin/pg_recvlogical", "-h", "127.0.0.1", "-p", port,
                    "-U", "postgres", "-d", "retail_0", "-S", "bench_recvlogical", "--start",
                    "-o", "proto_version=1", "-o", "publication_names=stockmesh_rb0", "-E",
                    endpos, "--no-loop", "-f", out_path, NULL};
    /* its progress is the size of what it wrote: sampled to time the steady middle */
    double pg0 = tree_cpu(W.pg.pid), busy0, total0, self0 = procstat_self_cpu();
    machine_cpu(&busy0, &total0);
    struct progress prog = {0};
    int rc = run_watching_file(argv, out_path, &prog, &b->recvlogical_seconds,
                               &b->recvlogical_cpu);
    sleep_ms(300); /* its WAL sender's CPU counts once the postmaster has reaped it */
    b->recvlogical_server_cpu = tree_cpu(W.pg.pid) - pg0;
    double busy1, total1;
    machine_cpu(&busy1, &total1);
    b->recvlogical_other = other_pct(busy1 - busy0, b->recvlogical_server_cpu +
                                     b->recvlogical_cpu + procstat_self_cpu() - self0,
                                     b->recvlogical_seconds);
    long changes = 0, commits = 0;
    int parsed = count_pgoutput(out_path, &changes, &commits) == 0;
    unlink(out_path);
    b->recvlogical_changes = changes;
    b->recvlogical_complete = rc == 0 && parsed && changes >= n;
    if (!b->recvlogical_complete)
        snprintf(b->reader_note, sizeof b->reader_note,
                 "pg_recvlogical exit %d, output %s, %ld of %ld changes before its -E endpos",
                 rc, parsed ? "parsed" : "not parseable", changes, n);
    b->recvlogical_whole_rate =
        b->recvlogical_seconds > 0 ? (double)changes / b->recvlogical_seconds : 0;
    b->recvlogical_rate = progress_rate(&prog, (double)changes);

    /* stockmesh's reader alone: timed from when it streams to when it read them all */
    double t0 = mono_s(), streaming_at = 0, done_at = 0, reader_cpu0 = 0, pg1 = 0;
    struct progress rprog = {0};
    W.reader = start_daemon(W.reader_config_path, W.reader_log_path, "cdc,console");
    while (W.reader > 0 && !interrupted && mono_s() - t0 < 300) {
        m = metrics_fetch(W.reader_port);
        double state_now = m ? metric_sum(m, "stockmesh_cdc_state") : NAN;
        double v = metric_or0(m, "stockmesh_cdc_events_total");
        free(m);
        progress_note(&rprog, mono_s(), v);
        if (!streaming_at && state_now == 3) {
            streaming_at = mono_s();
            proc_times(W.reader, NULL, &reader_cpu0, NULL);
            pg1 = tree_cpu(W.pg.pid);
            machine_cpu(&busy0, &total0);
            self0 = procstat_self_cpu();
        }
        if (streaming_at && v >= (double)n) {
            done_at = mono_s();
            double c = 0;
            proc_times(W.reader, NULL, &c, NULL);
            b->reader_cpu = c - reader_cpu0;
            b->reader_server_cpu = tree_cpu(W.pg.pid) - pg1;
            machine_cpu(&busy1, &total1);
            b->reader_other = other_pct(busy1 - busy0, b->reader_server_cpu + b->reader_cpu +
                                        procstat_self_cpu() - self0, done_at - streaming_at);
            break;
        }
        sleep_ms(5);
    }
    if (done_at > 0) {
        b->reader_seconds = done_at - streaming_at;
        b->reader_start_seconds = streaming_at - t0;
        b->reader_whole_rate = (double)n / b->reader_seconds;
        b->reader_rate = progress_rate(&rprog, (double)n);
        b->reader_ok = 1;
    } else {
        tail_log(W.reader_log_path, 20);
        snprintf(b->reader_note, sizeof b->reader_note, "the reader did not read the backlog");
    }
    stop_process(&W.reader, "the reader baseline's stockmeshd");
    if (b->reader_ok && !interrupted) baseline_merge_alone(n, state);

    /* the whole pipeline drains the same backlog */
    say("baseline: the pipeline drains the %ld-change backlog ...", n);
    struct cpu d0, d1;
    cpu_sample(&d0);
    t0 = mono_s();
    kill(W.daemon, SIGCONT);
    double t10 = 0, t90 = 0;
    struct flow f = main_before;
    while (!interrupted && mono_s() - t0 < W.o.drain_s) {
        m = metrics_fetch(W.console_port);
        flow_read(m, &f);
        free(m);
        double done = f.merged - main_before.merged, now = mono_s();
        if (done > 0.1 * n && done < 0.9 * n) {
            b->drain_samples++;
            b->drain_in_flight += f.in_flight;
            b->drain_backlog += f.events - f.merged;
        }
        if (!t10 && done >= 0.1 * n) t10 = now;
        if (!t90 && done >= 0.9 * n) t90 = now;
        if (done >= (double)n && f.pending == 0) {
            b->drain_seconds = now - t0;
            break;
        }
        sleep_ms(50);
    }
    cpu_sample(&d1);
    cpu_delta(&d0, &d1, &b->drain_cpu);
    b->drain_wall = mono_s() - t0;
    if (b->drain_seconds > 0 && t90 > t10) {
        b->merge_ok = 1;
        b->drain_rate = (double)n / b->drain_seconds;
        b->merge_rate = 0.8 * (double)n / (t90 - t10);
    } else {
        snprintf(b->merge_note, sizeof b->merge_note,
                 "the pipeline did not drain the backlog within %d s: read %.0f, merged %.0f "
                 "of %ld, %.0f pending in push",
                 W.o.drain_s, f.events - main_before.events, f.merged - main_before.merged, n,
                 f.pending);
        char path[600];
        snprintf(path, sizeof path, "%s/metrics-after-drain.txt", W.dir);
        m = metrics_fetch(W.console_port);
        if (m) write_file(path, m);
        free(m);
        W.keep_dir = 1;
    }
    servers_pg_exec(&W.pg, "retail_0",
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE "
                    "slot_name IN ('bench_recvlogical', 'stockmesh_rb0')",
                    err, sizeof err);
    free(end_lsn);
    /* let the main daemon settle (confirmations, push) before anything else */
    char *m1 = NULL;
    wait_drained(&main_before, (double)n, 30, &m1);
    free(m1);
}

/* ------------------------------------------------------------------ search */

static int search_next(double *next)
{
    double best = 0, fail = INFINITY;
    for (size_t i = 0; i < W.nsteps; i++) {
        if (W.steps[i].pass && W.steps[i].rate > best) best = W.steps[i].rate;
        if (!W.steps[i].pass && W.steps[i].rate < fail) fail = W.steps[i].rate;
    }
    double r;
    if (best == 0) {
        r = round(fail / 2 / 250) * 250;
        if (r < 250) return -1;
    } else {
        if (fail / best < 1.15) return -1; /* resolution reached */
        r = round(best * 1.5 / 250) * 250;
        if (r >= fail) r = round((best + fail) / 2 / 250) * 250;
    }
    for (size_t i = 0; i < W.nsteps; i++)
        if (fabs(W.steps[i].rate - r) < 1) return -1;
    *next = r;
    return 0;
}

/* ------------------------------------------------------------------ output */

static json_t *num(double v) { return isnan(v) || isinf(v) ? json_null() : json_real(v); }

static json_t *quantiles_json(const struct quantiles *q)
{
    return json_pack("{s:o, s:o, s:o, s:o}", "p50_ms", num(q->p50), "p95_ms", num(q->p95),
                     "p99_ms", num(q->p99), "observations", num(q->count));
}

static json_t *cpu_json(const struct cpu *c, double seconds, double changes)
{
    double per_1k = changes > 0 ? 1000.0 / changes : NAN;
    json_t *threads = json_object();
    for (int g = 0; g < c->ngroups; g++)
        json_object_set_new(threads, c->group[g], num(pct_of(c->group_s[g], seconds)));
    json_t *o = json_pack(
        "{s:o, s:o, s:o, s:o, s:o, s:{s:o, s:o, s:o, s:o, s:o, s:o}}", "stockmeshd_s",
        num(c->daemon),
        "stockmeshd_s_per_1k_changes", num(c->daemon * per_1k), "all_s_per_1k_changes",
        num((c->daemon + c->postgres + c->redis + c->self) * per_1k), "postgres_s",
        num(c->postgres), "redis_s", num(c->redis), "utilisation_pct_of_one_core",
        "stockmeshd", num(pct_of(c->daemon, seconds)), "stockmeshd_event_loop_thread",
        num(pct_of(c->daemon_loop, seconds)), "postgres",
        num(pct_of(c->postgres, seconds)), "redis", num(pct_of(c->redis, seconds)), "bench",
        num(pct_of(c->self, seconds)), "machine_pct_of_all_cores",
        num(c->machine_total > 0 ? 100.0 * c->machine_busy / c->machine_total : NAN));
    json_object_set_new(o, "stockmeshd_threads_pct_of_one_core", threads);
    return o;
}

static json_t *step_json(const struct step *s)
{
    json_t *stages = json_object();
    for (int k = 0; k < NSTAGES; k++)
        json_object_set_new(stages, stage_name[k], quantiles_json(&s->stage[k]));
    const struct gen_result *g = &s->gen;
    return json_pack(
        "{s:o, s:o, s:b, s:b, s:s, s:{s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
        "s:s}, s:{s:I, s:I, s:o, s:o, s:o, s:o, s:o}, s:o, s:{s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
        "s:o, s:o}, s:o, s:o, s:{s:o, s:o, s:o, s:b}, s:{s:I, s:I}}",
        "target_rate", num(s->rate), "achieved_rate", num(g->achieved_rate), "pass", s->pass,
        "load_kept_up", g->kept_up, "verdict", s->verdict, "load", "scheduled",
        (json_int_t)g->scheduled, "sent", (json_int_t)g->sent, "committed", (json_int_t)g->acked,
        "failed", (json_int_t)g->failed, "send_seconds", num(g->send_seconds),
        "send_lag_p50_ms", num(g->send_lag_p50), "send_lag_p99_ms", num(g->send_lag_p99),
        "send_lag_max_ms", num(g->send_lag_max), "commit_ack_lag_p50_ms", num(g->ack_lag_p50),
        "commit_ack_lag_p99_ms", num(g->ack_lag_p99), "commit_ack_lag_max_ms",
        num(g->ack_lag_max), "error", g->err, "latency_commit_to_channel_ms", "samples",
        (json_int_t)s->samples, "sweep_samples_without_commit_time",
        (json_int_t)s->sweep_samples, "p50", num(s->p50), "p95", num(s->p95), "p99", num(s->p99),
        "max", num(s->max), "mean", num(s->mean), "stages", stages, "flow", "changes_committed",
        num(s->committed), "events_read", num(s->read), "events_merged", num(s->merged),
        "availability_changes", num(s->published), "updates_delivered", num(s->delivered),
        "coalesced_in_push", num(s->published - s->delivered), "requests", num(s->requests),
        "received_newer_version", num(s->received), "received_stale", num(s->stale),
        "cpu_during_load", cpu_json(&s->cpu_load, s->load_seconds, s->committed),
        "cpu_load_and_drain", cpu_json(&s->cpu_total, s->total_seconds, s->committed), "time",
        "load_s", num(s->load_seconds), "drain_s", num(s->drain_seconds), "total_s",
        num(s->total_seconds), "drained", s->drained, "stockmeshd_memory", "rss_kb",
        (json_int_t)s->rss_kb, "peak_rss_kb", (json_int_t)s->hwm_kb);
}

static const struct step *best_step(void)
{
    const struct step *best = NULL;
    for (size_t i = 0; i < W.nsteps; i++)
        if (W.steps[i].pass && (!best || W.steps[i].rate > best->rate)) best = &W.steps[i];
    return best;
}

/* The failing step just above the best passing one: what limited the rate. */
static const struct step *limit_step(void)
{
    const struct step *best = best_step(), *lim = NULL;
    for (size_t i = 0; i < W.nsteps; i++) {
        const struct step *s = &W.steps[i];
        if (s->pass || (best && s->rate < best->rate)) continue;
        if (!lim || s->rate < lim->rate) lim = s;
    }
    return lim;
}

static double ratio(double a, double b) { return a > 0 && b > 0 ? a / b : NAN; }

static const struct step *lowest_step(void)
{
    const struct step *low = NULL;
    for (size_t i = 0; i < W.nsteps; i++)
        if (!low || W.steps[i].rate < low->rate) low = &W.steps[i];
    return low;
}

static const struct step *nearest_step(double rate)
{
    const struct step *near = NULL;
    for (size_t i = 0; i < W.nsteps; i++)
        if (!near || fabs(log(W.steps[i].rate / rate)) < fabs(log(near->rate / rate)))
            near = &W.steps[i];
    return near;
}

static int mkdir_p(const char *path)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static int write_results(char *json_path, size_t json_len, char *png_path, size_t png_len)
{
    const struct options *o = &W.o;
    const struct baselines *b = &W.base;
    if (mkdir_p(o->out_dir) != 0) return -1;
    char gi[600];
    snprintf(gi, sizeof gi, "%s/.gitignore", o->out_dir);
    struct stat st;
    if (stat(gi, &st) != 0) write_file(gi, "*\n!.gitignore\n");

    json_t *steps = json_array();
    for (size_t i = 0; i < W.nsteps; i++) json_array_append_new(steps, step_json(&W.steps[i]));
    const struct step *best = best_step(), *lim = limit_step();
    const struct step *mid = nearest_step(b->kafka_rate);
    struct utsname un;
    uname(&un);
    json_t *root = json_pack(
        "{s:i, s:s, s:{s:i, s:s, s:s}, s:{s:i, s:i, s:i, s:I, s:i, s:i, s:s, s:o, s:s, s:s}, "
        "s:{s:s, s:o, s:o, s:o}}",
        "format", 1, "time", W.stamp, "host", "cpus", (int)sysconf(_SC_NPROCESSORS_ONLN),
        "kernel", un.release, "machine", un.machine, "estate", "skus", o->skus, "locations",
        o->locations, "sources", o->sources, "rows", (json_int_t)W.rows, "seconds_per_rate",
        o->seconds, "load_connections", o->connections, "load",
        "open-loop, single-row UPDATE per transaction, libpq pipeline mode, "
        "synchronous_commit=off on the load connections",
        "p99_limit_ms", num(o->p99_limit_ms), "stockmeshd", o->stockmeshd, "channel",
        "one webhook channel holding every location; batch_max 100, batch_wait_ms 0",
        "setup", "initial_load", o->initial_snapshot ? "snapshot" : "streamed, 2000-row transactions",
        "estate_to_channel_s", num(W.snapshot_seconds),
        "redis_bytes_per_sku_location_used_memory", num(W.redis_bytes_used_memory),
        "redis_bytes_per_sku_location_memory_usage", num(W.redis_bytes_memory_usage));
    json_object_set_new(root, "steps", steps);
    json_object_set_new(
        root, "settings",
        json_pack("{s:i, s:i, s:i, s:s, s:i, s:s, s:i, s:s, s:o}", "backbone_partitions",
                  o->partitions, "backbone_window", o->window,
                  "redis_pipeline", o->redis_pipeline,
                  "synchronous_commit",
                  o->synchronous_commit ? "on" : "off", "wal_writer_delay_ms",
                  o->wal_writer_delay_ms, "why_wal_writer_delay",
                  "asynchronous commits reach logical decoding only once flushed",
                  "redis_persist_delay_ms", o->persist_delay_ms, "why_persist_delay",
                  "with a non-zero delay the reader confirms one transaction per delay period "
                  "and stops reading once backbone.window changes are unconfirmed",
                  "stockmeshd_idle_cpu_pct_of_one_core", num(W.idle_daemon_pct)));
    json_object_set_new(root, "idle", cpu_json(&W.idle_cpu, W.idle_seconds, 0));
    json_object_set_new(root, "redis_aof_delayed_fsync", num(W.aof_delayed_fsync));
    json_object_set_new(
        root, "max_sustained",
        json_pack("{s:o, s:o, s:s}", "rate", num(best ? best->rate : NAN), "p99_ms",
                  num(best ? best->p99 : NAN), "limited_by",
                  lim ? lim->verdict : "not reached within the search steps"));
    json_object_set_new(root, "stockmeshd_memory",
                        json_pack("{s:I, s:I}", "rss_kb", (json_int_t)W.final_rss_kb,
                                  "peak_rss_kb", (json_int_t)W.final_hwm_kb));
    json_t *kafka_stockmesh = mid ? num(mid->stage[STAGE_MERGE].p50) : json_null();
    json_object_set_new(
        root, "baselines",
        json_pack("{s:{s:I, s:o, s:o, s:o, s:o, s:b, s:o, s:s}, s:{s:o, s:o, s:o, s:i, s:o, "
                  "s:s}, s:{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:s}}",
                  "reader", "updates", (json_int_t)b->updates, "write_rate", num(b->gen_rate),
                  "stockmesh_reader_events_per_s", num(b->reader_ok ? b->reader_rate : NAN),
                  "pg_recvlogical_txn_per_s", num(b->recvlogical_rate),
                  "ratio_stockmesh_to_pg_recvlogical",
                  num(b->reader_ok ? ratio(b->reader_rate, b->recvlogical_rate) : NAN),
                  "pg_recvlogical_reached_endpos", b->recvlogical_complete, "pg_recvlogical_s",
                  num(b->recvlogical_seconds), "note", b->reader_note, "merge",
                  "stockmesh_merge_facts_per_s", num(b->merge_ok ? b->merge_rate : NAN),
                  "pipeline_drain_changes_per_s", num(b->merge_ok ? b->drain_rate : NAN),
                  "redis_benchmark_fcall_per_s", num(b->redis_rate), "pipeline",
                  b->redis_pipeline, "ratio_merge_to_redis_benchmark",
                  num(b->merge_ok ? ratio(b->merge_rate, b->redis_rate) : NAN), "note",
                  b->merge_note, "backbone", "rate", num(b->kafka_rate), "p50_ms",
                  num(b->kafka_ok ? b->kafka_p50 : NAN), "p95_ms",
                  num(b->kafka_ok ? b->kafka_p95 : NAN), "p99_ms",
                  num(b->kafka_ok ? b->kafka_p99 : NAN), "max_ms",
                  num(b->kafka_ok ? b->kafka_max : NAN), "stockmesh_reader_to_merge_p50_ms",
                  kafka_stockmesh, "ratio_reader_to_merge_p50_to_kafka_p50",
                  num(mid && b->kafka_ok ? ratio(mid->stage[STAGE_MERGE].p50, b->kafka_p50)
                                         : NAN),
                  "note", b->kafka_note));
    json_t *reader = json_object_get(json_object_get(root, "baselines"), "reader");
    json_object_set_new(reader, "stockmesh_reader_s", num(b->reader_ok ? b->reader_seconds : NAN));
    json_object_set_new(reader, "stockmesh_reader_start_to_streaming_s",
                        num(b->reader_ok ? b->reader_start_seconds : NAN));
    json_object_set_new(reader, "pg_recvlogical_changes", json_integer(b->recvlogical_changes));
    json_object_set_new(reader, "stockmesh_reader_cpu_s", num(b->reader_cpu));
    json_object_set_new(reader, "rates_are", json_string("10 % to 90 % of the backlog"));
    json_object_set_new(reader, "stockmesh_reader_events_per_s_start_to_end",
                        num(b->reader_ok ? b->reader_whole_rate : NAN));
    json_object_set_new(reader, "pg_recvlogical_txn_per_s_start_to_end",
                        num(b->recvlogical_whole_rate));
    json_object_set_new(reader, "stockmesh_reader_postgres_cpu_s", num(b->reader_server_cpu));
    json_object_set_new(reader, "pg_recvlogical_cpu_s", num(b->recvlogical_cpu));
    json_object_set_new(reader, "pg_recvlogical_postgres_cpu_s", num(b->recvlogical_server_cpu));
    json_object_set_new(reader, "other_processes_pct_during_stockmesh", num(b->reader_other));
    json_object_set_new(reader, "other_processes_pct_during_pg_recvlogical",
                        num(b->recvlogical_other));
    json_t *merge = json_object_get(json_object_get(root, "baselines"), "merge");
    json_object_set_new(merge, "cpu_during_drain",
                        cpu_json(&b->drain_cpu, b->drain_wall, (double)b->updates));
    json_object_set_new(merge, "mean_merge_in_flight",
                        num(b->drain_samples ? b->drain_in_flight / b->drain_samples : NAN));
    json_object_set_new(merge, "mean_read_not_merged",
                        num(b->drain_samples ? b->drain_backlog / b->drain_samples : NAN));
    const struct cpu *ac = &b->alone_cpu;
    json_t *alone = json_pack(
        "{s:o, s:o, s:o, s:o, s:i, s:o, s:s, s:s}", "stockmesh_merge_facts_per_s",
        num(b->alone_ok ? b->alone_rate : NAN), "ratio_merge_alone_to_redis_benchmark",
        num(b->alone_ok ? ratio(b->alone_rate, b->redis_rate) : NAN), "target_min_ratio",
        num(0.7),
        "facts_per_s_first_to_last", num(b->alone_ok ? b->alone_whole_rate : NAN),
        "backbone_partitions", b->alone_partitions, "start_to_first_fact_s",
        num(b->alone_ok ? b->alone_start_seconds : NAN), "how",
        "the reader baseline's updates read again by a cdc-only stockmeshd, then drained by a "
        "merge-only stockmeshd (--roles merge,console) joining its backbone, into the reader "
        "baseline's Redis; rate and CPU between 10 % and 90 %",
        "note", b->alone_note);
    if (b->alone_ok) {
        json_object_set_new(alone, "cpu", cpu_json(ac, b->alone_wall, 0.8 * (double)b->updates));
        json_object_set_new(alone, "cdc_only_process_cpu_s", num(b->alone_cdc_cpu));
        /* robust against other load, unlike the rates: what each fact costs */
        double per = 1e6 / (0.8 * (double)b->updates);
        json_object_set_new(
            alone, "cpu_us_per_fact",
            json_pack("{s:o, s:o, s:o, s:o}", "merge_process", num(ac->daemon * per),
                      "event_loop_thread", num(ac->daemon_loop * per), "librdkafka_threads",
                      num(rdk_seconds(ac) * per), "redis", num(ac->redis * per)));
        json_object_set_new(alone, "mean_merge_in_flight",
                            num(b->alone_samples ? b->alone_in_flight / b->alone_samples : NAN));
        json_object_set_new(alone, "other_processes_pct",
                            num(other_pct(ac->machine_busy,
                                          ac->daemon + ac->postgres + ac->redis + ac->self +
                                              b->alone_cdc_cpu,
                                          b->alone_wall)));
    }
    if (b->alone_perf[0]) json_object_set_new(alone, "perf_data", json_string(b->alone_perf));
    json_object_set_new(merge, "merge_alone", alone);
    json_object_set_new(merge, "redis_benchmark_command", json_string(b->redis_command));
    json_object_set_new(merge, "redis_benchmark_args_per_call", json_integer(b->redis_args));
    json_object_set_new(merge, "redis_benchmark_calls_are",
                        json_string("the call merge sends for a change at a store of this "
                                    "configuration; new random SKUs, fresh position"));
    json_object_set_new(merge, "cpu_during_redis_benchmark",
                        cpu_json(&b->redis_bench_cpu, b->redis_bench_wall, 0));
    json_object_set_new(merge, "redis_benchmark_client_cpu_s", num(b->redis_bench_client_cpu));
    if (b->redis_rate > 0) {
        double calls = b->redis_rate * b->redis_bench_wall;
        json_object_set_new(merge, "redis_benchmark_cpu_us_per_call",
                            json_pack("{s:o, s:o}", "redis",
                                      num(1e6 * b->redis_bench_cpu.redis / calls), "client",
                                      num(1e6 * b->redis_bench_client_cpu / calls)));
    }
    json_object_set_new(
        merge, "other_processes_pct_during_redis_benchmark",
        num(other_pct(b->redis_bench_cpu.machine_busy,
                      b->redis_bench_cpu.daemon + b->redis_bench_cpu.postgres +
                          b->redis_bench_cpu.redis + b->redis_bench_cpu.self +
                          b->redis_bench_client_cpu,
                      b->redis_bench_wall)));
    json_object_set_new(
        merge, "other_processes_pct_during_drain",
        num(other_pct(b->drain_cpu.machine_busy,
                      b->drain_cpu.daemon + b->drain_cpu.postgres + b->drain_cpu.redis +
                          b->drain_cpu.self,
                      b->drain_wall)));
    json_object_set_new(json_object_get(root, "baselines"), "mariadb",
                        mariadb_baseline_json(&b->mariadb));
    json_object_set_new(root, "merge_engine", merge_engine_json(&b->engine));
    snprintf(json_path, json_len, "%s/bench-%s.json", o->out_dir, W.stamp);
    if (json_dump_file(root, json_path, JSON_INDENT(2) | JSON_REAL_PRECISION(6)) != 0) {
        json_decref(root);
        return -1;
    }
    char latest[600];
    snprintf(latest, sizeof latest, "%s/latest.json", o->out_dir);
    json_dump_file(root, latest, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    json_decref(root);

    /* the plot: latency percentiles against offered rate */
    char dat[600], gp[600];
    snprintf(dat, sizeof dat, "%s/latency-%s.dat", o->out_dir, W.stamp);
    snprintf(gp, sizeof gp, "%s/latency-%s.gp", o->out_dir, W.stamp);
    snprintf(png_path, png_len, "%s/latency.png", o->out_dir);
    FILE *f = fopen(dat, "w");
    if (!f) return -1;
    fprintf(f, "# rate achieved p50_ms p95_ms p99_ms max_ms pass\n");
    size_t order[64];
    for (size_t i = 0; i < W.nsteps; i++) order[i] = i;
    for (size_t i = 1; i < W.nsteps; i++)
        for (size_t j = i; j > 0 && W.steps[order[j]].rate < W.steps[order[j - 1]].rate; j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (size_t i = 0; i < W.nsteps; i++) {
        const struct step *s = &W.steps[order[i]];
        if (!s->samples) continue;
        fprintf(f, "%.0f %.0f %.3f %.3f %.3f %.3f %d\n", s->rate, s->gen.achieved_rate,
                s->p50 > 0.1 ? s->p50 : 0.1, s->p95 > 0.1 ? s->p95 : 0.1,
                s->p99 > 0.1 ? s->p99 : 0.1, s->max > 0.1 ? s->max : 0.1, s->pass);
    }
    fclose(f);
    double xmin = INFINITY, xmax = 0;
    for (size_t i = 0; i < W.nsteps; i++) {
        if (W.steps[i].rate < xmin) xmin = W.steps[i].rate;
        if (W.steps[i].rate > xmax) xmax = W.steps[i].rate;
    }
    char xtics[512] = "set xtics (";
    for (size_t i = 0; i < W.nsteps; i++)
        snprintf(xtics + strlen(xtics), sizeof xtics - strlen(xtics), "%s\"%.0f\" %.0f",
                 i ? ", " : "", W.steps[order[i]].rate, W.steps[order[i]].rate);
    snprintf(xtics + strlen(xtics), sizeof xtics - strlen(xtics), ") rotate by -30\n");
    char best_label[256] = "";
    if (best)
        snprintf(best_label, sizeof best_label,
                 "set label 'highest sustained: %.0f/s' at first %g, first %g center offset "
                 "0,-1.5 tc rgb '#006600'\n",
                 best->rate, best->rate, best->p99 > 0.5 ? best->p99 : 0.5);
    f = fopen(gp, "w");
    if (!f) return -1;
    fprintf(f,
            "set terminal pngcairo size 1000,620 font 'DejaVu Sans,10'\n"
            "set output '%s'\n"
            "set title \"stockmesh: commit -> channel receipt latency vs offered rate\\n"
            "%d SKUs x %d locations x %d source(s), %d s per rate, open-loop load\"\n"
            "set xlabel 'offered stock changes per second'\n"
            "set ylabel 'latency (ms, log scale)'\n"
            "set logscale y\nset logscale x\nset grid xtics ytics mytics\n"
            "set key top left box opaque\n"
            "set yrange [0.5:*]\n"
            "set xrange [%g:%g]\n"
            "%s%s"
            "set arrow from graph 0, first %g to graph 1, first %g nohead lc rgb '#cc0000' dt 2\n"
            "set label 'p99 objective %g ms' at graph 0.02, first %g offset 0,0.7 tc rgb '#cc0000'\n"
            "plot '%s' using 1:3 with linespoints lw 2 pt 7 title 'p50', \\\n"
            "     '' using 1:4 with linespoints lw 2 pt 5 title 'p95', \\\n"
            "     '' using 1:5 with linespoints lw 2 pt 9 title 'p99', \\\n"
            "     '' using 1:6 with linespoints lw 1 pt 2 dt 3 title 'max', \\\n"
            "     '' using 1:($7==0 ? $5 : 1/0) with points pt 6 ps 3 lc rgb '#cc0000' "
            "title 'failed step (p99 or load)'\n",
            png_path, o->skus, o->locations, o->sources, o->seconds, xmin / 1.3, xmax * 1.3,
            xtics, best_label, o->p99_limit_ms, o->p99_limit_ms, o->p99_limit_ms, o->p99_limit_ms, dat);
    fclose(f);
    char *argv[] = {"/usr/bin/gnuplot", gp, NULL};
    if (run_capture(argv, NULL, 0, NULL) != 0) {
        say("gnuplot failed; the data is in %s", dat);
        png_path[0] = 0;
    }
    return 0;
}

/* "event loop 30%, rdk:main 41%, …": the biggest thread groups of stockmeshd. */
static void thread_summary(const struct cpu *c, double seconds, char *out, size_t outlen)
{
    int order[THREAD_GROUPS];
    for (int g = 0; g < c->ngroups; g++) order[g] = g;
    for (int i = 1; i < c->ngroups; i++)
        for (int j = i; j > 0 && c->group_s[order[j]] > c->group_s[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    size_t used = 0;
    out[0] = 0;
    for (int i = 0; i < c->ngroups && i < 5 && used < outlen; i++) {
        const char *name = strcmp(c->group[order[i]], "stockmeshd") == 0 ? "event loop"
                                                                         : c->group[order[i]];
        used += (size_t)snprintf(out + used, outlen - used, "%s%s %.0f%%", i ? ", " : "", name,
                                 pct_of(c->group_s[order[i]], seconds));
    }
}

static void print_summary(const char *json_path, const char *png_path)
{
    const struct options *o = &W.o;
    const struct baselines *b = &W.base;
    char pipeline_note[96] = "";
    if (o->redis_pipeline != 1000)
        snprintf(pipeline_note, sizeof pipeline_note, ", redis.pipeline=%d", o->redis_pipeline);
    if (o->window != 20000)
        snprintf(pipeline_note + strlen(pipeline_note),
                 sizeof pipeline_note - strlen(pipeline_note), ", backbone.window=%d", o->window);
    if (o->partitions != 4)
        snprintf(pipeline_note + strlen(pipeline_note),
                 sizeof pipeline_note - strlen(pipeline_note), ", backbone.partitions=%d",
                 o->partitions);
    printf("\nstockmesh bench: %d SKUs x %d locations x %d source(s) = %lld rows, %d s per rate\n"
           "load: open-loop, %d libpq connections in pipeline mode, one single-row UPDATE per "
           "transaction,\n      synchronous_commit=%s, wal_writer_delay=%d ms; stockmeshd "
           "defaults but redis.persist_delay_ms=%d%s (bench/README.md)\n",
           o->skus, o->locations, o->sources, W.rows, o->seconds, o->connections,
           o->synchronous_commit ? "on" : "off", o->wal_writer_delay_ms, o->persist_delay_ms,
           pipeline_note);
    printf("estate %s the channel in %.1f s; Redis %.0f B per (sku, location) (used_memory; "
           "MEMORY USAGE of sampled keys: %.0f B)\n\n",
           o->initial_snapshot ? "snapshot to" : "streamed in, through to", W.snapshot_seconds,
           W.redis_bytes_used_memory, W.redis_bytes_memory_usage);
    printf("  offered achieved |   commit->channel ms: p50    p95    p99    max | delivered "
           "coalesced ts0 | CPU s/1k smd  all | busy | smd loop rdk oth %%\n");
    for (size_t i = 0; i < W.nsteps; i++) {
        const struct step *s = &W.steps[i];
        double per1k = s->committed > 0 ? 1000.0 / s->committed : NAN;
        double all = s->cpu_total.daemon + s->cpu_total.postgres + s->cpu_total.redis +
                     s->cpu_total.self;
        double busy = s->cpu_load.machine_total > 0
                          ? 100.0 * s->cpu_load.machine_busy / s->cpu_load.machine_total
                          : NAN;
        double coalesced = s->published - s->delivered;
        printf("  %7.0f %8.0f | %4s %16.1f %6.0f %6.0f %6.0f | %9.0f %9.0f %3zu | %12.3f %4.2f | "
               "%3.0f%% | %3.0f %4.0f %3.0f %3.0f\n",
               s->rate, s->gen.achieved_rate, s->pass ? "ok" : "FAIL", s->p50, s->p95, s->p99,
               s->max, s->delivered, coalesced > 0 ? coalesced : 0, s->sweep_samples,
               s->cpu_total.daemon * per1k, all * per1k, busy,
               pct_of(s->cpu_load.daemon, s->load_seconds),
               pct_of(s->cpu_load.daemon_loop, s->load_seconds),
               pct_of(rdk_seconds(&s->cpu_load), s->load_seconds),
               other_pct(s->cpu_load.machine_busy,
                         s->cpu_load.daemon + s->cpu_load.postgres + s->cpu_load.redis +
                             s->cpu_load.self,
                         s->load_seconds));
    }
    const struct step *best = best_step(), *lim = limit_step();
    if (best)
        printf("\nhighest sustained rate with p99 < %.0f ms: %.0f changes/s (p99 %.0f ms)\n",
               o->p99_limit_ms, best->rate, best->p99);
    else
        printf("\nno rate sustained p99 < %.0f ms\n", o->p99_limit_ms);
    if (lim) printf("next step, %.0f/s: %s\n", lim->rate, lim->verdict);
    char threads[300];
    if (best) printf("at %.0f/s: %s\n", best->rate, best->verdict);
    thread_summary(&W.idle_cpu, W.idle_seconds, threads, sizeof threads);
    printf("stockmeshd idle: %.0f%% of a core (%s); RSS %.0f MB, peak %.0f MB\n",
           W.idle_daemon_pct, threads, W.final_rss_kb / 1024.0, W.final_hwm_kb / 1024.0);
    printf("\nper stage, p50 / p99 ms (histogram deltas from /metrics):\n");
    printf("  %7s   %-17s %-17s %-17s %-17s\n", "offered", stage_label[0], stage_label[1],
           stage_label[2], stage_label[3]);
    for (size_t i = 0; i < W.nsteps; i++) {
        const struct step *s = &W.steps[i];
        printf("  %7.0f  ", s->rate);
        for (int k = 0; k < 4; k++) {
            char cell[40];
            snprintf(cell, sizeof cell, "%.1f / %.0f", s->stage[k].p50, s->stage[k].p99);
            printf(" %-17s", cell);
        }
        printf("\n");
    }
    printf("\nbaselines, same run:\n");
    if (b->reader_ok)
        printf("  reader   stockmesh %.0f events/s vs pg_recvlogical (pgoutput) %.0f txn/s, same "
               "%ld updates: %.2fx%s\n"
               "           CPU s client/PostgreSQL: stockmesh %.2f/%.2f, pg_recvlogical "
               "%.2f/%.2f; other processes ~%.0f%% / ~%.0f%% of a core meanwhile\n",
               b->reader_rate, b->recvlogical_rate, b->updates,
               ratio(b->reader_rate, b->recvlogical_rate),
               b->recvlogical_complete ? "" : " (pg_recvlogical stopped early)", b->reader_cpu,
               b->reader_server_cpu, b->recvlogical_cpu, b->recvlogical_server_cpu,
               b->reader_other, b->recvlogical_other);
    else
        printf("  reader   %s\n", b->reader_note);
    if (b->merge_ok && b->redis_rate > 0)
        printf("  merge    stockmesh %.0f facts/s draining that backlog vs redis-benchmark FCALL "
               "-P %d %.0f/s: %.2fx\n"
               "           (%% of a core: stockmeshd %.0f, event loop %.0f, librdkafka %.0f, redis "
               "%.0f, other processes ~%.0f;\n            mean in flight to Redis %.0f, read but "
               "not merged %.0f)\n",
               b->merge_rate, b->redis_pipeline, b->redis_rate,
               ratio(b->merge_rate, b->redis_rate), pct_of(b->drain_cpu.daemon, b->drain_wall),
               pct_of(b->drain_cpu.daemon_loop, b->drain_wall),
               pct_of(rdk_seconds(&b->drain_cpu), b->drain_wall),
               pct_of(b->drain_cpu.redis, b->drain_wall),
               other_pct(b->drain_cpu.machine_busy,
                         b->drain_cpu.daemon + b->drain_cpu.postgres + b->drain_cpu.redis +
                             b->drain_cpu.self,
                         b->drain_wall),
               b->drain_samples ? b->drain_in_flight / b->drain_samples : NAN,
               b->drain_samples ? b->drain_backlog / b->drain_samples : NAN);
    else
        printf("  merge    %s\n", b->merge_note[0] ? b->merge_note : "not measured");
    if (b->alone_ok && b->redis_rate > 0) {
        const struct cpu *ac = &b->alone_cpu;
        char threads[300];
        thread_summary(ac, b->alone_wall, threads, sizeof threads);
        double per = 1e6 / (0.8 * (double)b->updates);
        printf("           merge alone (merge-only stockmeshd, backlog on the backbone): %.0f "
               "facts/s: %.2fx redis-benchmark (target >= 0.7x)\n"
               "           CPU us per fact: stockmeshd %.1f (event loop %.1f, librdkafka %.1f), "
               "redis %.1f\n"
               "           (%% of a core: %s; redis %.0f, other processes ~%.0f)\n",
               b->alone_rate, ratio(b->alone_rate, b->redis_rate), ac->daemon * per,
               ac->daemon_loop * per, rdk_seconds(ac) * per, ac->redis * per, threads,
               pct_of(ac->redis, b->alone_wall),
               other_pct(ac->machine_busy,
                         ac->daemon + ac->postgres + ac->redis + ac->self + b->alone_cdc_cpu,
                         b->alone_wall));
    } else if (b->alone_note[0]) {
        printf("           merge alone: %s\n", b->alone_note);
    }
    if (b->redis_rate > 0)
        printf("           redis-benchmark: %d arguments per FCALL as merge sends them; CPU us "
               "per call: redis %.1f, client %.1f;\n"
               "           redis %.0f%% of a core, other processes ~%.0f%%\n",
               b->redis_args, 1e6 * b->redis_bench_cpu.redis / (b->redis_rate * b->redis_bench_wall),
               1e6 * b->redis_bench_client_cpu / (b->redis_rate * b->redis_bench_wall),
               pct_of(b->redis_bench_cpu.redis, b->redis_bench_wall),
               other_pct(b->redis_bench_cpu.machine_busy,
                         b->redis_bench_cpu.daemon + b->redis_bench_cpu.postgres +
                             b->redis_bench_cpu.redis + b->redis_bench_cpu.self +
                             b->redis_bench_client_cpu,
                         b->redis_bench_wall));
    const struct step *low = lowest_step(), *near = nearest_step(b->kafka_rate);
    if (b->kafka_ok && low && near)
        printf("  backbone produce->consume p50 %.2f / p99 %.2f ms at %.0f msg/s; stockmesh "
               "reader->merge p50 %.1f ms at %.0f/s (%.1fx), %.1f ms at %.0f/s (%.1fx)\n",
               b->kafka_p50, b->kafka_p99, b->kafka_rate, low->stage[STAGE_MERGE].p50, low->rate,
               ratio(low->stage[STAGE_MERGE].p50, b->kafka_p50), near->stage[STAGE_MERGE].p50,
               near->rate, ratio(near->stage[STAGE_MERGE].p50, b->kafka_p50));
    else
        printf("  backbone %s\n", b->kafka_note[0] ? b->kafka_note : "not measured");
    mariadb_baseline_print(&b->mariadb, stdout);
    merge_engine_print(&b->engine, stdout);
    double worst_other = 0;
    for (size_t i = 0; i < W.nsteps; i++) {
        const struct cpu *c = &W.steps[i].cpu_load;
        double o = other_pct(c->machine_busy, c->daemon + c->postgres + c->redis + c->self,
                             W.steps[i].load_seconds);
        if (o > worst_other) worst_other = o;
    }
    if (b->reader_other > worst_other) worst_other = b->reader_other;
    if (b->recvlogical_other > worst_other) worst_other = b->recvlogical_other;
    if (b->mariadb.decode_ok && b->mariadb.other_pct > worst_other)
        worst_other = b->mariadb.other_pct;
    if (worst_other > 20)
        printf("\nWARNING: other processes on this machine used up to %.0f%% of a core during the "
               "measurements (column oth): these numbers understate what stockmesh does alone.\n",
               worst_other);
    printf("\n%s%s%s\n", json_path, png_path[0] ? "  " : "", png_path);
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv)
{
    options_load(&W.o, argc, argv);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    W.curl = curl_easy_init();
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(W.stamp, sizeof W.stamp, "%Y%m%dT%H%M%SZ", &tm);

    char err[1024] = "";
    int failed = 0;
    if (W.o.engine_only) {
        snprintf(W.dir, sizeof W.dir, "%s/stockmesh-bench-XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(W.dir)) {
            say("mkdtemp: %s", strerror(errno));
            return 1;
        }
        struct merge_engine_options eo = {
            .work_dir = W.dir, .pipeline = W.o.redis_pipeline,
            .calls = W.o.engine_calls > 0 ? W.o.engine_calls : 50000,
            .large_locations = W.o.engine_locations, .memory_skus = W.o.engine_skus,
            .interrupted = &interrupted};
        merge_engine_run(&W.base.engine, &eo);
        json_t *j = merge_engine_json(&W.base.engine);
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
        json_decref(j);
        printf("\n");
        merge_engine_print(&W.base.engine, stdout);
        snprintf(err, sizeof err, "rm -rf '%s'", W.dir);
        if (system(err) != 0) say("could not remove %s", W.dir);
        return W.base.engine.ran && !W.base.engine.note[0] ? 0 : 1;
    }
    if (access(W.o.stockmeshd, X_OK) != 0 || access(W.o.rtt_bin, X_OK) != 0) {
        say("%s or %s is missing: run `make bench`", W.o.stockmeshd, W.o.rtt_bin);
        return 2;
    }
    if (setup(err, sizeof err) != 0) {
        say("setup failed: %s", err);
        failed = 1;
        goto out;
    }
    say("warm-up: %d changes/s for %d s", WARMUP_RATE, WARMUP_SECONDS);
    struct step warm;
    if (run_step(WARMUP_RATE, WARMUP_SECONDS, &warm, 0) != 0) {
        failed = 1;
        goto out;
    }
    struct cpu idle0, idle1, idle;
    cpu_sample(&idle0);
    double idle_t0 = mono_s();
    sleep_ms(5000);
    cpu_sample(&idle1);
    cpu_delta(&idle0, &idle1, &idle);
    W.idle_seconds = mono_s() - idle_t0;
    W.idle_cpu = idle;
    W.idle_daemon_pct = pct_of(idle.daemon, W.idle_seconds);
    say("idle: stockmeshd uses %.1f%% of a core", W.idle_daemon_pct);
    for (size_t i = 0; i < W.o.nrates && !interrupted; i++) {
        if (run_step(W.o.rates[i], W.o.seconds, &W.steps[W.nsteps], 1) != 0) {
            failed = 1;
            goto out;
        }
        W.nsteps++;
    }
    for (int i = 0; i < W.o.search_steps && !interrupted && W.nsteps < 64; i++) {
        double next;
        if (search_next(&next) != 0) break;
        if (run_step(next, W.o.seconds, &W.steps[W.nsteps], 1) != 0) {
            failed = 1;
            goto out;
        }
        W.nsteps++;
    }
    if (!interrupted) baseline_backbone();
    if (!interrupted) baseline_redis();
    if (!interrupted) baseline_reader_and_drain();
    proc_memory(W.daemon, &W.final_rss_kb, &W.final_hwm_kb);
    W.aof_delayed_fsync = redis_info_number("persistence", "aof_delayed_fsync");
out:
    if (failed && W.log_path[0]) tail_log(W.log_path, 20);
    cleanup();
    /* with PostgreSQL, Redis and stockmeshd stopped: the cores are theirs */
    if (!failed && !interrupted && W.o.engine_calls > 0) {
        struct merge_engine_options eo = {
            .work_dir = W.dir, .pipeline = W.o.redis_pipeline, .calls = W.o.engine_calls,
            .large_locations = W.o.engine_locations, .memory_skus = W.o.engine_skus,
            .interrupted = &interrupted};
        say("merge engine: stockmesh_apply alone on its own Redis ...");
        merge_engine_run(&W.base.engine, &eo);
    } else {
        snprintf(W.base.engine.note, sizeof W.base.engine.note, "%s",
                 W.o.engine_calls > 0 ? "not run: the bench failed or was interrupted before it"
                                      : "skipped (BENCH_ENGINE_CALLS=0)");
    }
    if (!failed && !interrupted) {
        struct mariadb_baseline_options mo = {
            .stockmeshd = W.o.stockmeshd, .work_dir = W.dir, .updates = W.o.mariadb_updates,
            .rate = W.o.mariadb_rate, .seconds = W.o.mariadb_seconds, .interrupted = &interrupted};
        say("baseline: MariaDB binlog reader (own MariaDB, Redis and cdc-only stockmeshd) ...");
        mariadb_baseline_run(&W.base.mariadb, &mo);
    } else {
        snprintf(W.base.mariadb.note, sizeof W.base.mariadb.note,
                 "not run: the bench failed or was interrupted before it");
    }
    if (interrupted) {
        if (W.dir[0] && !failed) {
            char cmd[600];
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", W.dir);
            if (system(cmd) != 0) say("could not remove %s", W.dir);
        }
        say("interrupted; every server was stopped");
        return 130;
    }
    if (W.nsteps) {
        char json_path[700] = "", png_path[700] = "";
        if (write_results(json_path, sizeof json_path, png_path, sizeof png_path) != 0)
            say("cannot write the results under %s", W.o.out_dir);
        print_summary(json_path, png_path);
    }
    if (!failed && !W.keep_dir) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", W.dir);
        if (system(cmd) != 0) say("could not remove %s", W.dir);
    } else {
        say("work dir kept for inspection: %s", W.dir);
    }
    curl_easy_cleanup(W.curl);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
