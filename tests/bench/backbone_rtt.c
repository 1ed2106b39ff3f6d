/* backbone_rtt — produce→consume round trip on a running stockmeshd's Kafka backbone.
 *
 * `make bench` runs it as a baseline: the same librdkafka settings stockmesh uses
 * (idempotent producer, acks=all, linger.ms=0; consumer fetch.wait.max.ms=1), against the
 * bootstrap address stockmeshd publishes in <state_dir>/backbone. Messages go out at a
 * fixed rate, open-loop; each carries its send time, and the consumer (same process,
 * same clock) records send → receipt. One JSON object on stdout.
 *
 *   backbone_rtt BACKBONE_FILE [RATE [SECONDS [BYTES]]]      defaults 5000 5 600
 */
#include <librdkafka/rdkafka.h>

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TOPIC "stockmesh.bench.roundtrip"
#define WARMUP_S 1.0
#define MAX_PARTITIONS 64

struct run {
    rd_kafka_t *producer;
    double rate;
    double seconds;
    size_t bytes;
    int64_t t0_ns;
    long long produced, produce_errors;
    volatile int done;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_until(int64_t t_ns)
{
    struct timespec ts = {(time_t)(t_ns / 1000000000LL), (long)(t_ns % 1000000000LL)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
        ;
}

static int read_bootstrap(const char *path, char *out, size_t outlen)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[512];
    int found = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "bootstrap=", 10) == 0) {
            line[strcspn(line, "\r\n")] = 0;
            snprintf(out, outlen, "%.250s", line + 10);
            found = 1;
        }
    fclose(f);
    return found ? 0 : -1;
}

static rd_kafka_conf_t *conf_with(const char *bootstrap, const char *const *kv)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char why[256];
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, why, sizeof why) != 0) goto bad;
    for (; kv[0]; kv += 2)
        if (rd_kafka_conf_set(conf, kv[0], kv[1], why, sizeof why) != 0) goto bad;
    return conf;
bad:
    fprintf(stderr, "backbone_rtt: %s\n", why);
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* Payload: 8 bytes of send time (monotonic ns), then a warm-up flag, then padding. */
static void *produce_loop(void *arg)
{
    struct run *r = arg;
    char *payload = calloc(1, r->bytes);
    long long total = (long long)(r->rate * (r->seconds + WARMUP_S));
    for (long long i = 0; i < total && payload; i++) {
        int64_t due = r->t0_ns + (int64_t)((double)i * 1e9 / r->rate);
        sleep_until(due);
        int64_t now = mono_ns();
        memcpy(payload, &now, sizeof now);
        payload[8] = (double)(due - r->t0_ns) / 1e9 < WARMUP_S;
        char key[24];
        int keylen = snprintf(key, sizeof key, "k%lld", i % 5000);
        if (rd_kafka_producev(r->producer, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_KEY(key, (size_t)keylen),
                              RD_KAFKA_V_VALUE(payload, r->bytes),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END) != 0)
            r->produce_errors++;
        else
            r->produced++;
        rd_kafka_poll(r->producer, 0);
    }
    rd_kafka_flush(r->producer, 10000);
    free(payload);
    r->done = 1;
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double q)
{
    if (!n) return NAN;
    size_t i = (size_t)ceil(q * (double)n);
    return v[i ? i - 1 : 0];
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: backbone_rtt BACKBONE_FILE [RATE [SECONDS [BYTES]]]\n");
        return 2;
    }
    struct run r = {.rate = argc > 2 ? atof(argv[2]) : 5000,
                    .seconds = argc > 3 ? atof(argv[3]) : 5,
                    .bytes = argc > 4 ? (size_t)atol(argv[4]) : 600};
    if (r.rate <= 0 || r.seconds <= 0 || r.bytes < 16) {
        fprintf(stderr, "backbone_rtt: bad rate, seconds or size\n");
        return 2;
    }
    char bootstrap[256];
    if (read_bootstrap(argv[1], bootstrap, sizeof bootstrap) != 0) {
        fprintf(stderr, "backbone_rtt: no bootstrap= line in %s\n", argv[1]);
        return 1;
    }
    static const char *const producer_kv[] = {"enable.idempotence", "true", "acks", "all",
                                              "linger.ms", "0", NULL};
    static const char *const consumer_kv[] = {"group.id", "stockmesh-bench-rtt",
                                              "enable.auto.commit", "false",
                                              "fetch.wait.max.ms", "1",
                                              "enable.partition.eof", "false", NULL};
    char why[256];
    rd_kafka_conf_t *pc = conf_with(bootstrap, producer_kv);
    rd_kafka_conf_t *cc = conf_with(bootstrap, consumer_kv);
    if (!pc || !cc) return 1;
    r.producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, why, sizeof why);
    rd_kafka_t *consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cc, why, sizeof why);
    if (!r.producer || !consumer) {
        fprintf(stderr, "backbone_rtt: %s\n", why);
        return 1;
    }
    rd_kafka_poll_set_consumer(consumer);

    /* One message first: the embedded cluster creates the topic on first use. */
    char first[16] = {0};
    rd_kafka_producev(r.producer, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_VALUE(first, sizeof first),
                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (rd_kafka_flush(r.producer, 10000) != 0) {
        fprintf(stderr, "backbone_rtt: the backbone at %s did not take a message\n", bootstrap);
        return 1;
    }
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(r.producer, TOPIC, NULL);
    int partitions = 0;
    if (rd_kafka_metadata(r.producer, 0, t, &md, 5000) == 0 && md->topic_cnt == 1)
        partitions = md->topics[0].partition_cnt;
    if (md) rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    if (partitions <= 0 || partitions > MAX_PARTITIONS) {
        fprintf(stderr, "backbone_rtt: cannot read the partitions of %s\n", TOPIC);
        return 1;
    }
    /* Assigned, not subscribed: a group join would take seconds and is not the point. */
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(parts, TOPIC, p)->offset = RD_KAFKA_OFFSET_END;
    rd_kafka_assign(consumer, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    /* let the fetchers resolve their start offsets before the clock starts */
    for (int i = 0; i < 50; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 20);
        if (m) rd_kafka_message_destroy(m);
    }

    size_t cap = (size_t)(r.rate * r.seconds) + 1024, n = 0;
    double *lat = malloc(cap * sizeof *lat);
    long long received = 0;
    r.t0_ns = mono_ns() + 50000000LL;
    pthread_t producer_thread;
    pthread_create(&producer_thread, NULL, produce_loop, &r);
    int64_t quiet_since = 0;
    for (;;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 10);
        int64_t now = mono_ns();
        if (m) {
            if (!m->err && m->len >= 9) {
                int64_t sent;
                memcpy(&sent, m->payload, sizeof sent);
                received++;
                if (!((const char *)m->payload)[8] && n < cap && lat)
                    lat[n++] = (double)(now - sent) / 1e6;
            }
            rd_kafka_message_destroy(m);
            quiet_since = 0;
        } else if (r.done) {
            if (!quiet_since) quiet_since = now;
            if (received >= r.produced || now - quiet_since > 3000000000LL) break;
        }
    }
    pthread_join(producer_thread, NULL);
    if (!lat) return 1;
    qsort(lat, n, sizeof *lat, cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += lat[i];
    printf("{\"rate\":%.0f,\"seconds\":%.1f,\"bytes\":%zu,\"partitions\":%d,\"produced\":%lld,"
           "\"received\":%lld,\"produce_errors\":%lld,\"samples\":%zu,\"mean_ms\":%.3f,"
           "\"p50_ms\":%.3f,\"p95_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}\n",
           r.rate, r.seconds, r.bytes, partitions, r.produced, received, r.produce_errors, n,
           n ? sum / (double)n : NAN, pct(lat, n, 0.5), pct(lat, n, 0.95), pct(lat, n, 0.99),
           n ? lat[n - 1] : NAN);
    free(lat);
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    rd_kafka_destroy(r.producer);
    return received >= r.produced && n > 0 ? 0 : 1;
}
