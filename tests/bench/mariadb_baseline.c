/* mariadb_baseline.c — see mariadb_baseline.h.
 *
 * 1. MariaDB with a stock table of SKUS × LOCATIONS rows, a replication user, a Redis
 *    and a stockmeshd running cdc + merge, which snapshots the table and confirms it
 *    (the state database then holds "snapshot" and "gtid" for the source); stopped.
 * 2. Decode rate: the backlog is written with the reader down (single-row autocommit
 *    UPDATEs, BATCH of them per round trip, each its own binlog transaction), then a
 *    cdc-only stockmeshd starts and is timed from streaming (stockmesh_cdc_state 3)
 *    until stockmesh_cdc_events_total reaches the backlog; like the PostgreSQL reader
 *    baseline, the rate is taken between 10 % and 90 % of it.
 * 3. Latency: with that reader streaming, one connection sends single-row UPDATEs at a
 *    fixed rate, change i setting on_hand to LATENCY_BASE + i; a consumer thread on the
 *    daemon's embedded backbone stamps each event of the source's topic on arrival.
 *    Latency is that arrival minus the client's commit acknowledgement, both on this
 *    process's monotonic clock: the binlog's own timestamps have 1 s resolution. */
#include "mariadb_baseline.h"

#include "daemon.h"
#include "procstat.h"
#include "servers.h"

#include <curl/curl.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <mysql.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SOURCE "mdb"
#define DATABASE "retail"
#define TABLE "stock_levels"
#define TOPIC "stockmesh." SOURCE "." DATABASE "." TABLE
#define SKUS 500
#define LOCATIONS 20
#define PASSWORD "stockmesh-bench"
#define BATCH 100                  /* backlog UPDATEs per round trip (multi-statement) */
#define LATENCY_BASE 1000000000LL  /* on_hand of the latency run's change i: BASE + i */
#define WARMUP_S 1                 /* latency run: first second not counted */
#define SNAPSHOT_TIMEOUT_S 120
#define DECODE_TIMEOUT_S 180
#define EVENTS_WAIT_S 10           /* after the last latency change, for its events */

struct run {
    const struct mariadb_baseline_options *o;
    struct servers_server db, redis;
    int db_up, redis_up;
    struct daemon d;
    CURL *curl;
};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench: mariadb: ");
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

static int stopped(const struct run *r) { return *r->o->interrupted != 0; }

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void sleep_until(int64_t t_ns)
{
    struct timespec ts = {(time_t)(t_ns / 1000000000LL), (long)(t_ns % 1000000000LL)};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL); /* EINTR: caller checks */
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted values. */
static double pct(const double *v, size_t n, double q)
{
    if (!n) return NAN;
    size_t i = (size_t)ceil(q * (double)n);
    return v[i ? i - 1 : 0];
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* ------------------------------------------------------------------ processes */

/* SIGTERM, SIGKILL after 10 s. */
static void stop_daemon(struct run *r)
{
    if (r->d.pid <= 0) return;
    kill(r->d.pid, SIGTERM);
    for (int i = 0; i < 200; i++) {
        pid_t w = waitpid(r->d.pid, NULL, WNOHANG);
        if (w == r->d.pid || (w < 0 && errno == ECHILD)) {
            r->d.pid = 0;
            return;
        }
        sleep_ms(50);
    }
    say("stockmeshd (pid %d) ignored SIGTERM for 10 s; killing it", (int)r->d.pid);
    kill(r->d.pid, SIGKILL);
    waitpid(r->d.pid, NULL, 0);
    r->d.pid = 0;
}

/* Whether the daemon is still running (reaps it when it ended). */
static int daemon_alive(struct run *r)
{
    if (r->d.pid <= 0) return 0;
    if (waitpid(r->d.pid, NULL, WNOHANG) == r->d.pid) {
        r->d.pid = 0;
        return 0;
    }
    return 1;
}

static int start_daemon(struct run *r, const char *roles)
{
    r->d.roles = roles;
    return daemon_start(&r->d);
}

static void release(struct run *r)
{
    stop_daemon(r);
    if (r->db_up) servers_stop(&r->db);
    if (r->redis_up) servers_stop(&r->redis);
    r->db_up = r->redis_up = 0;
    if (r->curl) curl_easy_cleanup(r->curl);
    r->curl = NULL;
}

/* ------------------------------------------------------------------ /metrics */

struct textbuf {
    char *data;
    size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
    struct textbuf *b = arg;
    char *d = realloc(b->data, b->len + size * n + 1);
    if (!d) return 0;
    memcpy(d + b->len, p, size * n);
    b->data = d;
    b->len += size * n;
    d[b->len] = 0;
    return size * n;
}

/* The daemon's /metrics text (malloc'd) or NULL; one connection kept across calls. */
static char *metrics_fetch(struct run *r)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", r->d.console_port);
    struct textbuf b = {0};
    curl_easy_setopt(r->curl, CURLOPT_URL, url);
    curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(r->curl, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    if (curl_easy_perform(r->curl) != CURLE_OK ||
        curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status != 200) {
        free(b.data);
        return NULL;
    }
    return b.data;
}

/* Sum of a metric's series; NAN when absent. */
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

/* ------------------------------------------------------------------ setup */

static int write_config(struct run *r, const char *dir, char *err, size_t errlen)
{
    char pw[600];
    snprintf(pw, sizeof pw, "%.500s/mariadb.password", dir);
    FILE *f = fopen(pw, "w");
    if (f) {
        fputs(PASSWORD "\n", f);
        fclose(f);
    }
    f = fopen(r->d.config_path, "w");
    if (!f) {
        snprintf(err, errlen, "cannot write %.400s", r->d.config_path);
        return -1;
    }
    /* The window never fills: a cdc-only daemon has no merge to confirm anything.
       heartbeat_ms 1000: the reader thread notices a stop only when its blocking binlog
       fetch returns, so with the default 10 s a stop takes up to 10 s. */
    fprintf(f,
            "state_dir: %s\n"
            "log:\n  level: info\n"
            "backbone:\n  brokers: embedded\n  window: 10000000\n"
            "redis:\n  host: 127.0.0.1\n  port: %d\n  persist_delay_ms: 0\n"
            "console:\n  listen: 127.0.0.1:%d\n"
            "sources:\n"
            "  - name: " SOURCE "\n    type: mariadb\n"
            "    dsn: \"host=127.0.0.1 port=%d user=stockmesh dbname=" DATABASE "\"\n"
            "    password_file: %s\n"
            "    heartbeat_ms: 1000\n"
            "    tables:\n"
            "      - table: " DATABASE "." TABLE "\n        sku: sku\n"
            "        location: location_code\n        on_hand: on_hand\n"
            "        committed: committed\n        unavailable: unavailable\n"
            "locations:\n",
            r->d.state_dir, r->redis.port, r->d.console_port, r->db.port, pw);
    for (int l = 1; l <= LOCATIONS; l++) fprintf(f, "  - code: L%03d\n    type: store\n", l);
    fprintf(f, "channels:\n"
               "  - name: web\n    url: http://127.0.0.1:9/web\n    secret: not-used-here\n"
               "    location_types: [store]\n");
    if (fclose(f) != 0) {
        snprintf(err, errlen, "cannot write %.400s", r->d.config_path);
        return -1;
    }
    return 0;
}

static int create_table(struct run *r, char *err, size_t errlen)
{
    char sql[1400];
    snprintf(sql, sizeof sql,
             "CREATE TABLE " TABLE " (sku VARCHAR(32) NOT NULL, location_code VARCHAR(8) NOT "
             "NULL, on_hand INT NOT NULL, committed INT NOT NULL DEFAULT 0, unavailable INT NOT "
             "NULL DEFAULT 0, PRIMARY KEY (sku, location_code)) ENGINE=InnoDB;"
             "INSERT INTO " TABLE " SELECT CONCAT('SKU-', LPAD(s.seq, 6, '0')), "
             "CONCAT('L', LPAD(l.seq, 3, '0')), 10000, 0, 0 FROM seq_1_to_%d s CROSS JOIN "
             "seq_1_to_%d l;"
             "CREATE USER 'stockmesh'@'127.0.0.1' IDENTIFIED BY '" PASSWORD "';"
             "GRANT SELECT, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'stockmesh'@'127.0.0.1';",
             SKUS, LOCATIONS);
    if (servers_mariadb_exec(&r->db, NULL, "CREATE DATABASE " DATABASE, err, errlen) != 0 ||
        servers_mariadb_exec(&r->db, DATABASE, sql, err, errlen) != 0)
        return -1;
    return 0;
}

static void read_settings(struct run *r, struct mariadb_baseline *b)
{
    char *v = servers_mariadb_query_value(&r->db, NULL, "SELECT @@version");
    snprintf(b->version, sizeof b->version, "%s", v ? v : "?");
    free(v);
    v = servers_mariadb_query_value(&r->db, NULL, "SELECT @@innodb_flush_log_at_trx_commit");
    b->flush_log_at_trx_commit = v ? atoi(v) : -1;
    free(v);
    v = servers_mariadb_query_value(&r->db, NULL, "SELECT @@sync_binlog");
    b->sync_binlog = v ? atoi(v) : -1;
    free(v);
}

static int snapshot_confirmed(struct run *r)
{
    char *snap = daemon_state_value(&r->d, "source:" SOURCE, "snapshot");
    char *gtid = snap ? daemon_state_value(&r->d, "source:" SOURCE, "gtid") : NULL;
    int done = snap && gtid;
    free(snap);
    free(gtid);
    return done;
}

/* cdc + merge read the table's snapshot into Redis and confirm it, then stop: the
 * measured reader resumes from the confirmed GTID without a snapshot of its own. */
static int take_snapshot(struct run *r, char *err, size_t errlen)
{
    if (start_daemon(r, "cdc,merge,console") != 0) {
        snprintf(err, errlen, "cannot start %.400s", r->d.binary);
        return -1;
    }
    double deadline = mono_s() + SNAPSHOT_TIMEOUT_S;
    while (!stopped(r) && mono_s() < deadline && daemon_alive(r) && !snapshot_confirmed(r))
        sleep_ms(200);
    int done = snapshot_confirmed(r);
    if (!done && !stopped(r)) daemon_show_log(&r->d, 20);
    stop_daemon(r);
    if (!done)
        snprintf(err, errlen, "stockmeshd did not confirm its snapshot within %d s (log %.200s)",
                 SNAPSHOT_TIMEOUT_S, r->d.log_path);
    return done ? 0 : -1;
}

static MYSQL *db_connect(struct run *r, unsigned long flags, char *err, size_t errlen)
{
    MYSQL *m = mysql_init(NULL);
    if (m && mysql_real_connect(m, "127.0.0.1", "root", "", DATABASE, (unsigned)r->db.port, NULL,
                                flags))
        return m;
    snprintf(err, errlen, "cannot connect to MariaDB: %s", m ? mysql_error(m) : "out of memory");
    if (m) mysql_close(m);
    return NULL;
}

/* ------------------------------------------------------------------ decode rate */

/* Amount done over time; the rate is taken between 10 % and 90 % of the total. */
struct progress {
    double *t, *v;
    size_t n, cap;
};

static void progress_note(struct progress *p, double t, double v)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4096;
        double *nt = realloc(p->t, cap * sizeof *nt);
        if (nt) p->t = nt;
        double *nv = realloc(p->v, cap * sizeof *nv);
        if (nv) p->v = nv;
        if (!nt || !nv) return;
        p->cap = cap;
    }
    p->t[p->n] = t;
    p->v[p->n] = v;
    p->n++;
}

/* First time the amount reached v, interpolated between samples. */
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

/* Single-row autocommit UPDATEs, BATCH per round trip: each still commits (and is
 * logged) as its own transaction. */
static int write_backlog(struct run *r, long n, char *err, size_t errlen)
{
    MYSQL *m = db_connect(r, CLIENT_MULTI_STATEMENTS, err, errlen);
    if (!m) return -1;
    size_t cap = BATCH * 128;
    char *q = malloc(cap);
    uint64_t rng = 0x9E3779B97F4A7C15ULL;
    int rc = q ? 0 : -1;
    for (long i = 0; i < n && rc == 0 && !stopped(r);) {
        size_t used = 0;
        for (int k = 0; k < BATCH && i < n; k++, i++) {
            int sku = (int)(rng_next(&rng) % SKUS) + 1, loc = (int)(rng_next(&rng) % LOCATIONS) + 1;
            used += (size_t)snprintf(q + used, cap - used,
                                     "UPDATE " TABLE " SET on_hand = %ld WHERE sku = 'SKU-%06d' "
                                     "AND location_code = 'L%03d';",
                                     i + 1, sku, loc);
        }
        if (mysql_real_query(m, q, used) != 0) {
            rc = -1;
            break;
        }
        int more;
        do {
            MYSQL_RES *res = mysql_store_result(m);
            if (res) mysql_free_result(res);
            else if (mysql_field_count(m) != 0) rc = -1;
        } while (rc == 0 && (more = mysql_next_result(m)) == 0);
        if (rc == 0 && more > 0) rc = -1;
    }
    if (rc != 0) snprintf(err, errlen, "writing the backlog: %s", q ? mysql_error(m) : "no memory");
    free(q);
    mysql_close(m);
    return stopped(r) ? -1 : rc;
}

/* Starts the cdc-only daemon and times it through the backlog (n > 0), or only waits
 * until it streams (n == 0). */
static int read_backlog(struct run *r, struct mariadb_baseline *b, long n, char *err,
                        size_t errlen)
{
    struct progress prog = {0};
    double t0 = mono_s(), streaming_at = 0, done_at = 0, cpu0 = 0, srv0 = 0, busy0 = 0, self0 = 0;
    if (start_daemon(r, "cdc,console") != 0) {
        snprintf(err, errlen, "cannot start %.400s", r->d.binary);
        return -1;
    }
    while (!stopped(r) && mono_s() - t0 < DECODE_TIMEOUT_S && daemon_alive(r)) {
        char *m = metrics_fetch(r);
        double state = m ? metric_sum(m, "stockmesh_cdc_state") : NAN;
        double v = m ? metric_sum(m, "stockmesh_cdc_events_total") : NAN;
        free(m);
        double now = mono_s();
        if (isnan(v)) v = 0;
        progress_note(&prog, now, v);
        if (!streaming_at && state == 3) {
            streaming_at = now;
            cpu0 = procstat_cpu(r->d.pid);
            srv0 = procstat_cpu(r->db.pid);
            busy0 = procstat_machine_busy();
            self0 = procstat_self_cpu();
            if (n <= 0) break;
        }
        if (streaming_at && v >= (double)n) {
            done_at = now;
            b->daemon_cpu_s = procstat_cpu(r->d.pid) - cpu0;
            b->server_cpu_s = procstat_cpu(r->db.pid) - srv0;
            double other = procstat_machine_busy() - busy0 - b->daemon_cpu_s - b->server_cpu_s -
                           (procstat_self_cpu() - self0);
            b->other_pct = other > 0 ? 100.0 * other / (done_at - streaming_at) : 0;
            break;
        }
        sleep_ms(5);
    }
    int rc = 0;
    if (!stopped(r) && !daemon_alive(r) && (!streaming_at || (n > 0 && !done_at))) {
        snprintf(err, errlen, "the cdc-only stockmeshd exited (log %.200s)", r->d.log_path);
        rc = -1;
    } else if (!streaming_at) {
        snprintf(err, errlen, "the cdc-only stockmeshd did not stream within %d s (log %.200s)",
                 DECODE_TIMEOUT_S, r->d.log_path);
        rc = -1;
    } else if (n > 0 && !done_at) {
        snprintf(err, errlen, "the reader did not read the %ld-update backlog within %d s (log %.200s)",
                 n, DECODE_TIMEOUT_S, r->d.log_path);
        rc = -1;
    } else if (n > 0) {
        b->start_to_streaming_s = streaming_at - t0;
        b->decode_seconds = done_at - streaming_at;
        b->decode_whole_rate = (double)n / b->decode_seconds;
        double t10 = progress_time(&prog, 0.1 * (double)n), t90 = progress_time(&prog, 0.9 * (double)n);
        b->decode_rate = t90 > t10 ? 0.8 * (double)n / (t90 - t10) : NAN;
    }
    if (rc != 0 && !stopped(r)) daemon_show_log(&r->d, 20);
    free(prog.t);
    free(prog.v);
    return stopped(r) ? -1 : rc;
}

/* ------------------------------------------------------------------ latency */

struct consumer {
    rd_kafka_t *rk;
    int64_t *arrive;              /* by change index; 0: not seen */
    long n;
    atomic_long seen;
    atomic_int stop;
    pthread_t thread;
};

static void *consume(void *arg)
{
    struct consumer *c = arg;
    while (!atomic_load(&c->stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 10);
        if (!m) continue;
        int64_t now = mono_ns();
        if (!m->err && m->len) {
            json_t *root = json_loadb(m->payload, m->len, 0, NULL);
            json_t *v = json_object_get(json_object_get(root, "after"), "on_hand");
            long long i = json_is_integer(v) ? json_integer_value(v) - LATENCY_BASE : -1;
            if (i >= 0 && i < c->n && !c->arrive[i]) {
                c->arrive[i] = now;
                atomic_fetch_add(&c->seen, 1);
            }
            json_decref(root);
        }
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

/* A consumer of the source's topic on the daemon's embedded backbone, assigned at each
 * partition's end (stockmesh's consumer setting fetch.wait.max.ms=1). */
static rd_kafka_t *consumer_new(struct run *r, char *err, size_t errlen)
{
    char path[600], line[512], bootstrap[256] = "";
    snprintf(path, sizeof path, "%s/backbone", r->d.state_dir);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "bootstrap=", 10) == 0)
            snprintf(bootstrap, sizeof bootstrap, "%.*s", (int)strcspn(line + 10, "\r\n"),
                     line + 10);
    if (f) fclose(f);
    if (!bootstrap[0]) {
        snprintf(err, errlen, "no bootstrap= in %.400s", path);
        return NULL;
    }
    static const char *const kv[] = {"bootstrap.servers", NULL, "group.id",
                                     "stockmesh-bench-mariadb", "enable.auto.commit", "false",
                                     "fetch.wait.max.ms", "1", "enable.partition.eof", "false"};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i += 2)
        if (rd_kafka_conf_set(conf, kv[i], kv[i + 1] ? kv[i + 1] : bootstrap, err, errlen) !=
            RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
    if (!rk) return NULL;
    rd_kafka_poll_set_consumer(rk);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, TOPIC, NULL);
    int npart = 0;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt)
        npart = md->topics[0].partition_cnt;
    if (md) rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    if (npart <= 0) {
        snprintf(err, errlen, "topic %s not on the backbone at %s", TOPIC, bootstrap);
        rd_kafka_destroy(rk);
        return NULL;
    }
    /* explicit end offsets: nothing written from here on can be missed */
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(npart);
    for (int p = 0; p < npart; p++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_topic_partition_list_add(parts, TOPIC, p)->offset =
            rd_kafka_query_watermark_offsets(rk, TOPIC, p, &lo, &hi, 5000) == 0
                ? hi
                : RD_KAFKA_OFFSET_END;
    }
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    return rk;
}

static int measure_latency(struct run *r, struct mariadb_baseline *b, char *err, size_t errlen)
{
    const struct mariadb_baseline_options *o = r->o;
    long warm = (long)o->rate * WARMUP_S, n = (long)o->rate * o->seconds, total = warm + n;
    b->target_rate = o->rate;
    b->latency_seconds = o->seconds;
    b->changes = n;
    struct consumer c = {.n = total};
    int64_t *sent = calloc((size_t)total, sizeof *sent), *acked = calloc((size_t)total, sizeof *acked);
    c.arrive = calloc((size_t)total, sizeof *c.arrive);
    double *lat = malloc((size_t)n * sizeof *lat), *rtt = malloc((size_t)n * sizeof *rtt),
           *lag = malloc((size_t)n * sizeof *lag);
    MYSQL *m = NULL;
    int rc = -1, thread = 0;
    if (!sent || !acked || !c.arrive || !lat || !rtt || !lag) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (!(m = db_connect(r, 0, err, errlen)) || !(c.rk = consumer_new(r, err, errlen))) goto out;
    if (pthread_create(&c.thread, NULL, consume, &c) != 0) {
        snprintf(err, errlen, "cannot start the consumer thread");
        goto out;
    }
    thread = 1;
    sleep_ms(500); /* the fetchers start from the assigned offsets */
    uint64_t rng = 0x2545F4914F6CDD1DULL;
    double cpu0 = procstat_cpu(r->d.pid), t0s = mono_s();
    int64_t t0 = mono_ns() + 10000000LL;
    long i;
    for (i = 0; i < total && !stopped(r); i++) {
        int64_t due = t0 + (int64_t)((double)i * 1e9 / o->rate);
        sleep_until(due);
        int sku = (int)(rng_next(&rng) % SKUS) + 1, loc = (int)(rng_next(&rng) % LOCATIONS) + 1;
        char sql[200];
        int len = snprintf(sql, sizeof sql,
                           "UPDATE " TABLE " SET on_hand = %lld WHERE sku = 'SKU-%06d' AND "
                           "location_code = 'L%03d'",
                           LATENCY_BASE + i, sku, loc);
        sent[i] = mono_ns();
        if (mysql_real_query(m, sql, (unsigned long)len) != 0) {
            snprintf(err, errlen, "UPDATE: %s", mysql_error(m));
            goto out;
        }
        acked[i] = mono_ns();
        if (i >= warm) lag[i - warm] = (double)(sent[i] - due) / 1e6;
    }
    if (stopped(r)) goto out;
    /* the last events: until all are in, or none came for a while */
    double last_new = mono_s(), deadline = last_new + EVENTS_WAIT_S;
    long seen = -1;
    while (!stopped(r) && mono_s() < deadline && atomic_load(&c.seen) < total &&
           mono_s() - last_new < 2) {
        long s = atomic_load(&c.seen);
        if (s != seen) last_new = mono_s();
        seen = s;
        sleep_ms(20);
    }
    b->daemon_cpu_pct = 100.0 * (procstat_cpu(r->d.pid) - cpu0) / (mono_s() - t0s);
    atomic_store(&c.stop, 1);
    pthread_join(c.thread, NULL);
    thread = 0;
    size_t k = 0;
    for (long j = warm; j < total; j++) {
        rtt[j - warm] = (double)(acked[j] - sent[j]) / 1e6;
        if (c.arrive[j]) lat[k++] = (double)(c.arrive[j] - acked[j]) / 1e6;
    }
    b->events = (long)k;
    if (n > 1) b->achieved_rate = (double)(n - 1) * 1e9 / (double)(sent[total - 1] - sent[warm]);
    qsort(lat, k, sizeof *lat, cmp_double);
    qsort(rtt, (size_t)n, sizeof *rtt, cmp_double);
    qsort(lag, (size_t)n, sizeof *lag, cmp_double);
    b->p50_ms = pct(lat, k, 0.50);
    b->p95_ms = pct(lat, k, 0.95);
    b->p99_ms = pct(lat, k, 0.99);
    b->max_ms = k ? lat[k - 1] : NAN;
    b->min_ms = k ? lat[0] : NAN;
    b->ack_p50_ms = pct(rtt, (size_t)n, 0.50);
    b->ack_p99_ms = pct(rtt, (size_t)n, 0.99);
    b->send_lag_p99_ms = pct(lag, (size_t)n, 0.99);
    if (k < (size_t)n)
        snprintf(b->latency_note, sizeof b->latency_note,
                 "%ld of %ld changes' events not seen on the backbone within %d s", n - (long)k,
                 n, EVENTS_WAIT_S);
    rc = k ? 0 : -1;
    if (!k) snprintf(err, errlen, "no event of the %ld changes reached the backbone", n);
out:
    if (thread) {
        atomic_store(&c.stop, 1);
        pthread_join(c.thread, NULL);
    }
    if (c.rk) {
        rd_kafka_consumer_close(c.rk);
        rd_kafka_destroy(c.rk);
    }
    if (m) mysql_close(m);
    free(sent);
    free(acked);
    free(c.arrive);
    free(lat);
    free(rtt);
    free(lag);
    return rc;
}

/* ------------------------------------------------------------------ run */

void mariadb_baseline_run(struct mariadb_baseline *b, const struct mariadb_baseline_options *o)
{
    memset(b, 0, sizeof *b);
    b->updates = o->updates;
    b->target_rate = o->rate;
    b->latency_seconds = o->seconds;
    if (o->updates <= 0 && o->seconds <= 0) {
        snprintf(b->note, sizeof b->note, "skipped (BENCH_MARIADB_UPDATES=0, BENCH_MARIADB_SECONDS=0)");
        return;
    }
    struct run r = {.o = o};
    char err[512] = "", dir[440];
    double t0 = mono_s();
    snprintf(dir, sizeof dir, "%.400s/mariadb", o->work_dir);
    mkdir(dir, 0755);
    r.curl = curl_easy_init();
    r.d.binary = o->stockmeshd;
    r.d.console_port = servers_free_port();
    snprintf(r.d.config_path, sizeof r.d.config_path, "%s/stockmesh.yaml", dir);
    snprintf(r.d.log_path, sizeof r.d.log_path, "%s/stockmeshd.log", dir);
    snprintf(r.d.state_dir, sizeof r.d.state_dir, "%s/state", dir);

    say("starting MariaDB and Redis ...");
    if (servers_start(&r.db, SERVERS_MARIADB, NULL, 0, err, sizeof err) != 0) {
        snprintf(b->note, sizeof b->note, "MariaDB did not start: %.200s", err);
        servers_stop(&r.db); /* what a failed start left */
        goto out;
    }
    r.db_up = 1;
    if (create_table(&r, err, sizeof err) != 0) {
        snprintf(b->note, sizeof b->note, "creating the table: %.200s", err);
        goto out;
    }
    read_settings(&r, b);
    b->rows = (long)SKUS * LOCATIONS;
    if (servers_start(&r.redis, SERVERS_REDIS, NULL, 0, err, sizeof err) != 0) {
        snprintf(b->note, sizeof b->note, "Redis did not start: %.200s", err);
        servers_stop(&r.redis);
        goto out;
    }
    r.redis_up = 1;
    if (write_config(&r, dir, err, sizeof err) != 0) {
        snprintf(b->note, sizeof b->note, "%.200s", err);
        goto out;
    }
    say("snapshot of %ld rows by stockmeshd (cdc, merge) ...", b->rows);
    if (take_snapshot(&r, err, sizeof err) != 0) {
        snprintf(b->note, sizeof b->note, "%.250s", err);
        goto out;
    }
    b->ran = 1;

    if (o->updates > 0) {
        say("writing %ld single-row UPDATE transactions with the reader down ...", o->updates);
        double w0 = mono_s();
        if (write_backlog(&r, o->updates, err, sizeof err) != 0) {
            snprintf(b->decode_note, sizeof b->decode_note, "%.250s", err);
            goto out;
        }
        b->write_seconds = mono_s() - w0;
        b->write_rate = (double)o->updates / b->write_seconds;
        say("MariaDB took them at %.0f/s; the cdc-only stockmeshd reads them ...", b->write_rate);
    }
    if (read_backlog(&r, b, o->updates, err, sizeof err) != 0) {
        snprintf(o->updates > 0 ? b->decode_note : b->latency_note, sizeof b->decode_note,
                 "%.250s", err);
        goto out;
    }
    b->decode_ok = o->updates > 0;
    if (o->updates > 0)
        say("read at %.0f events/s (10 %%..90 %%)", b->decode_rate);

    if (o->seconds > 0) {
        say("commit -> event latency: %d single-row UPDATEs/s for %d s (+%d s warm-up) ...",
            o->rate, o->seconds, WARMUP_S);
        if (measure_latency(&r, b, err, sizeof err) != 0) {
            if (!stopped(&r)) daemon_show_log(&r.d, 20);
            snprintf(b->latency_note, sizeof b->latency_note, "%.250s", err);
            goto out;
        }
        b->latency_ok = 1;
        say("p50 %.2f ms, p99 %.2f ms, max %.2f ms", b->p50_ms, b->p99_ms, b->max_ms);
    }
out:
    if (stopped(&r) && !b->note[0]) snprintf(b->note, sizeof b->note, "interrupted");
    release(&r);
    b->seconds = mono_s() - t0;
}

/* ------------------------------------------------------------------ output */

static json_t *num(double v) { return isnan(v) || isinf(v) ? json_null() : json_real(v); }

json_t *mariadb_baseline_json(const struct mariadb_baseline *b)
{
    json_t *decode = json_pack(
        "{s:I, s:s, s:o, s:o, s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:s}", "updates",
        (json_int_t)b->updates, "write",
        "single-row autocommit UPDATEs, 100 per round trip (multi-statement), one connection",
        "mariadb_write_txn_per_s", num(b->write_rate), "mariadb_write_s", num(b->write_seconds),
        "stockmesh_reader_events_per_s", num(b->decode_ok ? b->decode_rate : NAN),
        "stockmesh_reader_events_per_s_start_to_end",
        num(b->decode_ok ? b->decode_whole_rate : NAN), "rates_are",
        "10 % to 90 % of the backlog, from stockmesh_cdc_events_total",
        "stockmesh_reader_s", num(b->decode_ok ? b->decode_seconds : NAN),
        "stockmesh_reader_start_to_streaming_s", num(b->decode_ok ? b->start_to_streaming_s : NAN),
        "stockmeshd_cpu_s", num(b->decode_ok ? b->daemon_cpu_s : NAN), "mariadb_cpu_s",
        num(b->decode_ok ? b->server_cpu_s : NAN), "other_processes_pct",
        num(b->decode_ok ? b->other_pct : NAN), "note", b->decode_note);
    json_t *latency = json_pack(
        "{s:o, s:o, s:i, s:I, s:I, s:{s:o, s:o, s:o, s:o, s:o}, s:s, s:s, s:{s:o, s:o}, s:o, "
        "s:o, s:s}",
        "target_rate", num(b->target_rate), "achieved_rate", num(b->achieved_rate), "seconds",
        b->latency_seconds, "changes", (json_int_t)b->changes, "events_seen",
        (json_int_t)b->events, "commit_ack_to_event_ms", "p50",
        num(b->latency_ok ? b->p50_ms : NAN), "p95", num(b->latency_ok ? b->p95_ms : NAN), "p99",
        num(b->latency_ok ? b->p99_ms : NAN), "max", num(b->latency_ok ? b->max_ms : NAN), "min",
        num(b->latency_ok ? b->min_ms : NAN), "from",
        "the client's commit acknowledgement (binlog timestamps have 1 s resolution)", "to",
        "arrival at a consumer of the source's topic on stockmeshd's embedded backbone "
        "(fetch.wait.max.ms=1); negative: the event arrived before the client's ack",
        "client_update_round_trip_ms", "p50", num(b->latency_ok ? b->ack_p50_ms : NAN), "p99",
        num(b->latency_ok ? b->ack_p99_ms : NAN), "send_lag_p99_ms",
        num(b->latency_ok ? b->send_lag_p99_ms : NAN), "stockmeshd_cpu_pct_of_one_core",
        num(b->latency_ok ? b->daemon_cpu_pct : NAN), "note", b->latency_note);
    return json_pack("{s:b, s:s, s:i, s:i, s:s, s:I, s:s, s:o, s:o, s:o, s:s}", "ran", b->ran,
                     "server", b->version, "innodb_flush_log_at_trx_commit",
                     b->flush_log_at_trx_commit, "sync_binlog", b->sync_binlog, "binlog",
                     "ROW, binlog_row_image=FULL, binlog_row_metadata=FULL", "rows",
                     (json_int_t)b->rows, "stockmeshd", "roles cdc,console, own Redis and backbone",
                     "decode", decode, "latency", latency, "seconds", num(b->seconds), "note",
                     b->note);
}

void mariadb_baseline_print(const struct mariadb_baseline *b, FILE *out)
{
    if (!b->ran) {
        fprintf(out, "  mariadb  %s\n", b->note[0] ? b->note : "not measured");
        return;
    }
    if (b->decode_ok)
        fprintf(out,
                "  mariadb  binlog decode %.0f events/s (%.0f start to end) on %ld single-row "
                "UPDATEs; MariaDB took them at %.0f txn/s\n"
                "           CPU s stockmeshd %.2f, mariadbd %.2f; other processes ~%.0f%% of a "
                "core meanwhile\n",
                b->decode_rate, b->decode_whole_rate, b->updates, b->write_rate, b->daemon_cpu_s,
                b->server_cpu_s, b->other_pct);
    else
        fprintf(out, "  mariadb  binlog decode: %s\n",
                b->decode_note[0] ? b->decode_note : "not measured");
    if (b->latency_ok)
        fprintf(out,
                "           commit ack -> event on the backbone at %.0f/s (%.0f achieved), %ld "
                "changes: p50 %.2f / p95 %.2f / p99 %.2f / max %.2f ms\n"
                "           (client UPDATE round trip p50 %.2f ms; binlog timestamps have 1 s "
                "resolution, so timed from the client's ack)%s%s\n",
                b->target_rate, b->achieved_rate, b->events, b->p50_ms, b->p95_ms, b->p99_ms,
                b->max_ms, b->ack_p50_ms, b->latency_note[0] ? "; " : "", b->latency_note);
    else
        fprintf(out, "           commit -> event: %s\n",
                b->latency_note[0] ? b->latency_note : "not measured");
}
