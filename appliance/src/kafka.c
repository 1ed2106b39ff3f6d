/* kafka.c — see kafka.h. */
#include "stockmesh/kafka.h"

#include "stockmesh/config.h"
#include "stockmesh/log.h"
#include "stockmesh/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Messages handed to a callback per loop wake-up, so one busy consumer cannot starve
 * the rest of the loop. */
#define KAFKA_DRAIN_BATCH 2000

struct kafka {
    struct event_base *base;
    const struct config *cfg;
    struct metrics *metrics;
    char bootstrap[256];
    char epoch[40];
    int embedded;
    rd_kafka_t *host_rk;             /* handle owning the mock cluster when we host it */
    rd_kafka_mock_cluster_t *mock;
    int lock_fd;                     /* flock held for as long as we host */
    struct event *host_watch;        /* a joiner checks that the host still holds it */
    int host_lost;
    char backbone_path[1024];
    struct metric *produced, *produce_errors, *consumed, *consume_errors;
};

/* A librdkafka queue whose readiness wakes the libevent loop through a pipe. */
struct queue_waker {
    int pipe_fd[2];
    struct event *readable;
    struct event *again;             /* re-run a drain that stopped at the batch limit */
};

struct kafka_producer {
    struct kafka *k;
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue;
    struct queue_waker waker;
    kafka_delivery_cb cb;
    void *arg;
};

struct kafka_consumer {
    struct kafka *k;
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue;
    struct queue_waker waker;
    struct event *keepalive;      /* polls an idle consumer: see kafka_consumer_new() */
    kafka_message_cb cb;
    void *arg;
    int paused;
};

static void librdkafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    enum log_level l = level <= 3 ? LOG_ERROR : level <= 4 ? LOG_WARNING : level <= 6 ? LOG_INFO
                                                                                  : LOG_DEBUG;
    log_write(l, "kafka", "%s: %s", fac, buf);
}

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *err,
                    size_t errlen)
{
    char why[256];
    if (rd_kafka_conf_set(conf, key, value, why, sizeof why) != RD_KAFKA_CONF_OK) {
        /* the value may be a credential: name the key only */
        snprintf(err, errlen, "backbone property %s: %s", key, why);
        return -1;
    }
    return 0;
}

static rd_kafka_conf_t *base_conf(struct kafka *k, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, librdkafka_log);
    if (conf_set(conf, "bootstrap.servers", k->bootstrap, err, errlen) != 0) goto fail;
    for (size_t i = 0; i < k->cfg->backbone.nproperties; i++)
        if (conf_set(conf, k->cfg->backbone.properties[i].key,
                     k->cfg->backbone.properties[i].value, err, errlen) != 0)
            goto fail;
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

static int port_accepts(const char *hostport)
{
    char host[128];
    const char *colon = strrchr(hostport, ':');
    if (!colon || (size_t)(colon - hostport) >= sizeof host) return 0;
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = 0;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) return 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

static void random_hex(char *out, size_t bytes)
{
    unsigned char raw[32];
    if (bytes > sizeof raw) bytes = sizeof raw;
    if (getrandom(raw, bytes, 0) != (ssize_t)bytes) {
        /* getrandom on Linux does not fail for small sizes once booted; fall back to
           something unique per process rather than failing start-up */
        unsigned long long v = (unsigned long long)getpid() ^ (unsigned long long)time(NULL);
        memcpy(raw, &v, sizeof v < bytes ? sizeof v : bytes);
    }
    for (size_t i = 0; i < bytes; i++) sprintf(out + 2 * i, "%02x", raw[i]);
}

static int write_backbone_file(struct kafka *k, char *err, size_t errlen)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", k->backbone_path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        return -1;
    }
    fprintf(f, "bootstrap=%s\npid=%d\nepoch=%s\n", k->bootstrap, (int)getpid(), k->epoch);
    if (fclose(f) != 0 || rename(tmp, k->backbone_path) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", k->backbone_path, strerror(errno));
        return -1;
    }
    return 0;
}

static int read_backbone_file(struct kafka *k)
{
    FILE *f = fopen(k->backbone_path, "r");
    if (!f) return -1;
    char line[512];
    k->bootstrap[0] = k->epoch[0] = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (strncmp(line, "bootstrap=", 10) == 0)
            snprintf(k->bootstrap, sizeof k->bootstrap, "%.*s", (int)sizeof k->bootstrap - 1, line + 10);
        else if (strncmp(line, "epoch=", 6) == 0)
            snprintf(k->epoch, sizeof k->epoch, "%.*s", (int)sizeof k->epoch - 1, line + 6);
    }
    fclose(f);
    return k->bootstrap[0] && k->epoch[0] ? 0 : -1;
}

/* Hosts the embedded cluster, or joins the one another process of this appliance
 * hosts. The host holds an exclusive lock on backbone.lock for its whole life, so a
 * process that gets the lock knows no cluster is alive. */
static int embedded_start(struct kafka *k, char *err, size_t errlen)
{
    char lock_path[1100];
    snprintf(k->backbone_path, sizeof k->backbone_path, "%s/backbone", k->cfg->state_dir);
    snprintf(lock_path, sizeof lock_path, "%s/backbone.lock", k->cfg->state_dir);
    k->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (k->lock_fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", lock_path, strerror(errno));
        return -1;
    }
    for (int attempt = 0; attempt < 100; attempt++) {
        if (flock(k->lock_fd, LOCK_EX | LOCK_NB) == 0) break;
        if (read_backbone_file(k) == 0 && port_accepts(k->bootstrap)) {
            /* the descriptor stays open: host_watch tries the lock with it */
            log_info("kafka", "joined the embedded backbone at %s (epoch %s)", k->bootstrap,
                     k->epoch);
            return 0;
        }
        usleep(100 * 1000); /* the host is still starting */
    }
    if (k->lock_fd >= 0 && flock(k->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errlen, "another process holds %s but publishes no reachable backbone",
                 lock_path);
        return -1;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, librdkafka_log);
    char why[256];
    /* this handle only owns the cluster; it connects nowhere, so its warning about
       having no bootstrap servers is noise */
    rd_kafka_conf_set(conf, "log_level", "3", why, sizeof why);
    k->host_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!k->host_rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "cannot create the embedded backbone: %s", why);
        return -1;
    }
    k->mock = rd_kafka_mock_cluster_new(k->host_rk, 1);
    if (!k->mock) {
        snprintf(err, errlen, "cannot start librdkafka's mock cluster");
        return -1;
    }
    snprintf(k->bootstrap, sizeof k->bootstrap, "%s", rd_kafka_mock_cluster_bootstraps(k->mock));
    random_hex(k->epoch, 8);
    if (write_backbone_file(k, err, errlen) != 0) return -1;
    log_info("kafka", "hosting the embedded backbone at %s (epoch %s)", k->bootstrap, k->epoch);
    return 0;
}

/* The embedded cluster lives and dies with its host, and keeps nothing: when the host
 * is gone, every client here points at a dead address. Stop, so the service manager
 * restarts this process onto the new cluster; the readers then replay from their
 * confirmed positions (DESIGN §4). */
static void watch_host(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct kafka *k = arg;
    if (flock(k->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        /* held: by our host, or by a new one that took over between two checks */
        char epoch[sizeof k->epoch], bootstrap[sizeof k->bootstrap];
        memcpy(epoch, k->epoch, sizeof epoch);
        memcpy(bootstrap, k->bootstrap, sizeof bootstrap);
        int same = read_backbone_file(k) != 0 || strcmp(epoch, k->epoch) == 0;
        memcpy(k->epoch, epoch, sizeof epoch);
        memcpy(k->bootstrap, bootstrap, sizeof bootstrap);
        if (same) return;
    } else {
        flock(k->lock_fd, LOCK_UN);
    }
    log_error("kafka", "the process hosting the embedded backbone at %s has gone; stopping so "
                       "this process is restarted on the new backbone", k->bootstrap);
    k->host_lost = 1;
    event_base_loopexit(k->base, NULL);
}

int kafka_host_lost(const struct kafka *k) { return k->host_lost; }

struct kafka *kafka_new(struct event_base *base, const struct config *cfg,
                        struct metrics *metrics, char *err, size_t errlen)
{
    struct kafka *k = calloc(1, sizeof *k);
    if (!k) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    k->base = base;
    k->cfg = cfg;
    k->metrics = metrics;
    k->lock_fd = -1;
    k->produced = metrics_counter(metrics, "stockmesh_backbone_produced_total",
                                  "Messages acknowledged by the backbone.", NULL);
    k->produce_errors = metrics_counter(metrics, "stockmesh_backbone_produce_errors_total",
                                        "Messages the backbone failed to take.", NULL);
    k->consumed = metrics_counter(metrics, "stockmesh_backbone_consumed_total",
                                  "Messages read from the backbone.", NULL);
    k->consume_errors = metrics_counter(metrics, "stockmesh_backbone_consume_errors_total",
                                        "Errors reported by backbone consumers.", NULL);
    if (strcmp(cfg->backbone.brokers, "embedded") == 0) {
        k->embedded = 1;
        if (embedded_start(k, err, errlen) != 0) {
            kafka_free(k);
            return NULL;
        }
        if (!k->mock) {
            k->host_watch = event_new(base, -1, EV_PERSIST, watch_host, k);
            struct timeval every = {0, 500 * 1000};
            if (!k->host_watch || event_add(k->host_watch, &every) != 0) {
                snprintf(err, errlen, "out of memory");
                kafka_free(k);
                return NULL;
            }
        }
    } else {
        snprintf(k->bootstrap, sizeof k->bootstrap, "%s", cfg->backbone.brokers);
        snprintf(k->epoch, sizeof k->epoch, "external");
    }
    return k;
}

void kafka_free(struct kafka *k)
{
    if (!k) return;
    if (k->host_watch) event_free(k->host_watch);
    if (k->mock) {
        /* remove the address first, so nobody joins a cluster that is going away */
        unlink(k->backbone_path);
        rd_kafka_mock_cluster_destroy(k->mock);
    }
    if (k->host_rk) rd_kafka_destroy(k->host_rk);
    if (k->lock_fd >= 0) close(k->lock_fd);
    free(k);
}

const char *kafka_bootstrap(const struct kafka *k) { return k->bootstrap; }

const char *kafka_epoch(const struct kafka *k) { return k->epoch; }

int kafka_embedded(const struct kafka *k) { return k->embedded; }

void kafka_topic(const struct kafka *k, char *out, size_t outlen, const char *suffix)
{
    snprintf(out, outlen, "%s.%s", k->cfg->backbone.topic_prefix, suffix);
}

int kafka_topic_ensure(struct kafka *k, const char *topic, char *err, size_t errlen)
{
    if (!k->mock) return 0;
    rd_kafka_resp_err_t e =
        rd_kafka_mock_topic_create(k->mock, topic, k->cfg->backbone.partitions, 1);
    if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        snprintf(err, errlen, "cannot create topic %s: %s", topic, rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

/* ---- waking the loop from librdkafka queues ---- */

static int waker_init(struct queue_waker *w, struct event_base *base, rd_kafka_queue_t *q,
                      event_callback_fn fn, void *arg)
{
    if (pipe2(w->pipe_fd, O_NONBLOCK | O_CLOEXEC) != 0) return -1;
    w->readable = event_new(base, w->pipe_fd[0], EV_READ | EV_PERSIST, fn, arg);
    w->again = event_new(base, -1, 0, fn, arg);
    if (!w->readable || !w->again) return -1;
    event_add(w->readable, NULL);
    rd_kafka_queue_io_event_enable(q, w->pipe_fd[1], "1", 1);
    return 0;
}

static void waker_drain_pipe(struct queue_waker *w)
{
    char buf[256];
    while (read(w->pipe_fd[0], buf, sizeof buf) > 0)
        ;
}

static void waker_release(struct queue_waker *w, rd_kafka_queue_t *q)
{
    if (q) rd_kafka_queue_io_event_enable(q, -1, NULL, 0);
    if (w->readable) event_free(w->readable);
    if (w->again) event_free(w->again);
    if (w->pipe_fd[0] > 0) close(w->pipe_fd[0]);
    if (w->pipe_fd[1] > 0) close(w->pipe_fd[1]);
    memset(w, 0, sizeof *w);
}

/* ---- producer ---- */

static void delivery_report(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct kafka_producer *p = opaque;
    if (m->err) {
        metrics_inc(p->k->produce_errors, 1);
    } else {
        metrics_inc(p->k->produced, 1);
    }
    if (p->cb)
        p->cb(p->arg, m->_private, m->err ? -1 : 0, m->err ? rd_kafka_err2str(m->err) : NULL,
              m->partition, m->offset);
}

static void producer_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct kafka_producer *p = arg;
    waker_drain_pipe(&p->waker);
    while (rd_kafka_poll(p->rk, 0) > 0)
        ;
}

struct kafka_producer *kafka_producer_new(struct kafka *k, kafka_delivery_cb cb, void *arg,
                                          char *err, size_t errlen)
{
    struct kafka_producer *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->k = k;
    p->cb = cb;
    p->arg = arg;
    rd_kafka_conf_t *conf = base_conf(k, err, errlen);
    if (!conf) goto fail;
    if (conf_set(conf, "enable.idempotence", "true", err, errlen) ||
        conf_set(conf, "acks", "all", err, errlen) ||
        conf_set(conf, "linger.ms", "0", err, errlen) ||
        conf_set(conf, "queue.buffering.max.messages", "1000000", err, errlen)) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, delivery_report);
    rd_kafka_conf_set_opaque(conf, p);
    char why[256];
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!p->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "cannot create a backbone producer: %s", why);
        goto fail;
    }
    p->queue = rd_kafka_queue_get_main(p->rk);
    if (waker_init(&p->waker, k->base, p->queue, producer_wake, p) != 0) {
        snprintf(err, errlen, "cannot create the producer's wake-up pipe");
        goto fail;
    }
    return p;
fail:
    kafka_producer_free(p, 0);
    return NULL;
}

int kafka_producer_send(struct kafka_producer *p, const char *topic, const void *key,
                        size_t keylen, const void *value, size_t len, void *opaque)
{
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, keylen),
        RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (e) {
        metrics_inc(p->k->produce_errors, 1);
        return -1;
    }
    return 0;
}

size_t kafka_producer_pending(const struct kafka_producer *p)
{
    return (size_t)rd_kafka_outq_len(p->rk);
}

void kafka_producer_free(struct kafka_producer *p, int timeout_ms)
{
    if (!p) return;
    if (p->rk) {
        if (timeout_ms > 0) rd_kafka_flush(p->rk, timeout_ms);
        waker_release(&p->waker, p->queue);
        if (p->queue) rd_kafka_queue_destroy(p->queue);
        rd_kafka_destroy(p->rk);
    }
    free(p);
}

/* ---- consumer ---- */

static void consumer_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct kafka_consumer *c = arg;
    waker_drain_pipe(&c->waker);
    for (int n = 0; n < KAFKA_DRAIN_BATCH; n++) {
        if (c->paused) return; /* the queue keeps what was fetched until resume */
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 0);
        if (!m) return;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                metrics_inc(c->k->consume_errors, 1);
                log_warning("kafka", "consumer: %s%s%s", rd_kafka_message_errstr(m),
                            m->rkt ? " on " : "", m->rkt ? rd_kafka_topic_name(m->rkt) : "");
            }
        } else {
            metrics_inc(c->k->consumed, 1);
            rd_kafka_timestamp_type_t tstype;
            struct kafka_message msg = {
                .topic = rd_kafka_topic_name(m->rkt),
                .partition = m->partition,
                .offset = m->offset,
                .key = m->key,
                .key_len = m->key_len,
                .value = m->payload,
                .len = m->len,
                .timestamp_ms = rd_kafka_message_timestamp(m, &tstype),
            };
            if (c->cb(c->arg, &msg) != 0) c->paused = 1;
        }
        rd_kafka_message_destroy(m);
    }
    /* more may be queued: the pipe only signals the empty → non-empty edge */
    event_active(c->waker.again, EV_TIMEOUT, 0);
}

struct kafka_consumer *kafka_consumer_new(struct kafka *k, const char *group,
                                          const char *const *topics, size_t ntopics,
                                          kafka_message_cb cb, void *arg, char *err,
                                          size_t errlen)
{
    struct kafka_consumer *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->k = k;
    c->cb = cb;
    c->arg = arg;
    rd_kafka_conf_t *conf = base_conf(k, err, errlen);
    if (!conf) goto fail;
    if (conf_set(conf, "group.id", group, err, errlen) ||
        conf_set(conf, "enable.auto.commit", "true", err, errlen) ||
        conf_set(conf, "auto.commit.interval.ms", "200", err, errlen) ||
        conf_set(conf, "enable.auto.offset.store", "false", err, errlen) ||
        conf_set(conf, "auto.offset.reset", "earliest", err, errlen) ||
        conf_set(conf, "session.timeout.ms", "6000", err, errlen) ||
        conf_set(conf, "heartbeat.interval.ms", "500", err, errlen) ||
        conf_set(conf, "fetch.wait.max.ms", k->embedded ? "1" : "10", err, errlen) ||
        conf_set(conf, "fetch.error.backoff.ms", "50", err, errlen)) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    char why[256];
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
    if (!c->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "cannot create a backbone consumer: %s", why);
        goto fail;
    }
    rd_kafka_poll_set_consumer(c->rk);
    c->queue = rd_kafka_queue_get_consumer(c->rk);
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new((int)ntopics);
    for (size_t i = 0; i < ntopics; i++)
        rd_kafka_topic_partition_list_add(subs, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (e) {
        snprintf(err, errlen, "cannot subscribe group %s: %s", group, rd_kafka_err2str(e));
        goto fail;
    }
    if (waker_init(&c->waker, k->base, c->queue, consumer_wake, c) != 0) {
        snprintf(err, errlen, "cannot create the consumer's wake-up pipe");
        goto fail;
    }
    /* librdkafka evicts a consumer that has not polled for max.poll.interval.ms, and the
       queue only wakes us when it has something: poll now and then while idle */
    c->keepalive = event_new(k->base, -1, EV_PERSIST, consumer_wake, c);
    struct timeval every = {1, 0};
    if (!c->keepalive || event_add(c->keepalive, &every) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    event_active(c->waker.again, EV_TIMEOUT, 0);
    return c;
fail:
    kafka_consumer_free(c);
    return NULL;
}

int kafka_consumer_done(struct kafka_consumer *c, const char *topic, int32_t partition,
                        int64_t next_offset)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = next_offset;
    rd_kafka_resp_err_t e = rd_kafka_offsets_store(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    /* a partition revoked meanwhile refuses the store; its new owner re-reads and the
       merge function ignores what was already applied */
    return e ? -1 : 0;
}

void kafka_consumer_resume(struct kafka_consumer *c)
{
    if (!c->paused) return;
    c->paused = 0;
    event_active(c->waker.again, EV_TIMEOUT, 0);
}

/* Leaves the group, but not forever: rd_kafka_consumer_close() waits without limit for
 * a group coordinator, so with the backbone gone a stopping daemon would hang. */
static void consumer_close_bounded(rd_kafka_t *rk, int timeout_ms)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_error_t *e = rd_kafka_consumer_close_queue(rk, q);
    if (e) {
        log_warning("kafka", "consumer close: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    } else {
        struct timespec start, now;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
            if (rd_kafka_consumer_closed(rk)) break;
            clock_gettime(CLOCK_MONOTONIC, &now);
            long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
            if (elapsed >= timeout_ms) {
                log_warning("kafka", "left the consumer group without the coordinator's answer "
                                     "(backbone unreachable); its members rebalance after the "
                                     "session timeout");
                break;
            }
            rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 100);
            if (ev) rd_kafka_event_destroy(ev);
        }
    }
    rd_kafka_queue_destroy(q);
}

void kafka_consumer_free(struct kafka_consumer *c)
{
    if (!c) return;
    if (c->keepalive) event_free(c->keepalive);
    if (c->rk) {
        waker_release(&c->waker, c->queue);
        if (c->queue) rd_kafka_queue_destroy(c->queue);
        consumer_close_bounded(c->rk, c->k->host_lost ? 0 : 3000);
        rd_kafka_destroy_flags(c->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    }
    free(c);
}
