/* kafka.h — the Kafka backbone: producers and consumers driven by the libevent loop.
 *
 * With `backbone.brokers: embedded` the first stockmeshd to start hosts librdkafka's
 * mock cluster (a real Kafka protocol server) and publishes its bootstrap address,
 * its PID and an epoch in `<state_dir>/backbone`; other processes of the same
 * appliance join it. The epoch changes whenever the embedded cluster is born again
 * (it keeps nothing across a restart), so offsets recorded under an old epoch are
 * recognisably stale. */
#ifndef STOCKMESH_KAFKA_H
#define STOCKMESH_KAFKA_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct config;
struct metrics;
struct kafka;
struct kafka_producer;
struct kafka_consumer;

struct kafka_message {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *key;
    size_t key_len;
    const void *value;
    size_t len;
    int64_t timestamp_ms;
};

/* Called on the loop for each delivery report: err 0 when the cluster acknowledged. */
typedef void (*kafka_delivery_cb)(void *arg, void *opaque, int err, const char *errstr,
                                  int32_t partition, int64_t offset);

/* Called on the loop for each consumed message; the message is valid during the call.
 * Return 0 for more, or 1 when full: no more messages are handed over until
 * kafka_consumer_resume(). */
typedef int (*kafka_message_cb)(void *arg, const struct kafka_message *msg);

/* Connects to (or, when embedded and nobody hosts one, starts) the backbone.
 * NULL with the reason in err. */
struct kafka *kafka_new(struct event_base *base, const struct config *cfg,
                        struct metrics *metrics, char *err, size_t errlen);

/* Frees the backbone handle; a hosted embedded cluster stops with it. */
void kafka_free(struct kafka *k);

/* Bootstrap servers in use ("127.0.0.1:40123"). */
const char *kafka_bootstrap(const struct kafka *k);

/* Epoch of the backbone: random per embedded cluster life, "external" otherwise. */
const char *kafka_epoch(const struct kafka *k);

/* 1 when this process joined an embedded backbone whose host has since gone; the loop
 * was stopped and the process should exit non-zero to be restarted. */
int kafka_host_lost(const struct kafka *k);

/* 1 when the backbone is the embedded mock cluster. */
int kafka_embedded(const struct kafka *k);

/* Writes "<prefix>.<suffix>" into out. */
void kafka_topic(const struct kafka *k, char *out, size_t outlen, const char *suffix);

/* Makes sure a topic exists (embedded: created with backbone.partitions; external:
 * left to the cluster's policy). */
int kafka_topic_ensure(struct kafka *k, const char *topic, char *err, size_t errlen);

/* Creates an idempotent producer (acks=all). NULL with the reason in err. */
struct kafka_producer *kafka_producer_new(struct kafka *k, kafka_delivery_cb cb, void *arg,
                                          char *err, size_t errlen);

/* Queues one message (copied). -1 when the local queue is full or the topic is bad;
 * the caller keeps the data and retries after the next delivery report. */
int kafka_producer_send(struct kafka_producer *p, const char *topic, const void *key,
                        size_t keylen, const void *value, size_t len, void *opaque);

/* Messages queued and not yet reported. */
size_t kafka_producer_pending(const struct kafka_producer *p);

/* Waits up to timeout_ms for queued messages, then frees the producer. */
void kafka_producer_free(struct kafka_producer *p, int timeout_ms);

/* Creates a consumer in a group subscribed to the topics. NULL with err. */
struct kafka_consumer *kafka_consumer_new(struct kafka *k, const char *group,
                                          const char *const *topics, size_t ntopics,
                                          kafka_message_cb cb, void *arg, char *err,
                                          size_t errlen);

/* Records that everything before next_offset in the partition is processed; the
 * consumer commits it to the group in the background. */
int kafka_consumer_done(struct kafka_consumer *c, const char *topic, int32_t partition,
                        int64_t next_offset);

/* Hands messages to the callback again after it returned 1. */
void kafka_consumer_resume(struct kafka_consumer *c);

/* Leaves the group and frees the consumer. */
void kafka_consumer_free(struct kafka_consumer *c);

#endif
