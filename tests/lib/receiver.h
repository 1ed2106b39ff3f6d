/* receiver — a real HTTP webhook receiver playing an online channel (DESIGN §6,
 * "Channel payload"), for integration tests and the demo.
 *
 * It listens on 127.0.0.1 and answers every POST in a thread of its own: it verifies
 * X-Stockmesh-Signature (HMAC-SHA256 of "<timestamp>.<body>") before reading the body,
 * rejects timestamps more than 5 minutes away from its clock, and keeps per
 * (channel, sku) the value with the highest version, as a real channel would.
 * Every function is safe to call from any thread.
 */
#ifndef STOCKMESH_TESTS_RECEIVER_H
#define STOCKMESH_TESTS_RECEIVER_H

#include <stddef.h>
#include <stdio.h>

struct receiver;

struct receiver_stats {
    unsigned long long requests;             /* every HTTP request received */
    unsigned long long updates;              /* updates in accepted requests, stale ones too */
    unsigned long long applied;              /* updates that became the stored value */
    unsigned long long stale_versions;       /* updates with version <= the stored one */
    unsigned long long rejected_signature;   /* 401: missing or wrong signature */
    unsigned long long rejected_stale_ts;    /* 400: timestamp older (or newer) than 5 min */
    unsigned long long rejected_malformed;   /* 400: body is not a channel payload */
    unsigned long long forced_failures;      /* answered as told by receiver_fail_next */
    unsigned long long duplicate_deliveries; /* accepted X-Stockmesh-Delivery seen again */
    unsigned long long skus;                 /* distinct (channel, sku) pairs stored */
};

/* Starts listening on 127.0.0.1:port (0: a free port) and its thread; NULL with err set. */
struct receiver *receiver_new(const char *secret, int port, char *err, size_t errlen);

/* The TCP port it listens on. */
int receiver_port(const struct receiver *r);

/* Stops the thread, closes every connection and frees r (NULL is fine). */
void receiver_free(struct receiver *r);

/* Latest value stored for (channel, sku): 0 found, -1 not. Either out may be NULL. */
int receiver_get(struct receiver *r, const char *channel, const char *sku, long long *available,
                 long long *version);

/* Wall-clock ms (Unix epoch) at which the stored value of (channel, sku) arrived; 0 or -1. */
int receiver_received_ms(struct receiver *r, const char *channel, const char *sku,
                         double *received_ms);

/* A snapshot of the counters. */
void receiver_stats(struct receiver *r, struct receiver_stats *out);

/* Copies the most recent (at most max) latency samples, oldest first, in ms from an
 * update's ts_ms to its receipt; one per applied update. Returns how many. */
size_t receiver_latencies(struct receiver *r, double *out, size_t max);

/* Answers the next count requests with status (e.g. 500, 429), with a Retry-After header
 * when retry_after_s > 0, without looking at them. count 0 cancels. */
void receiver_fail_next(struct receiver *r, int status, int count, int retry_after_s);

/* Stalls the next count requests by ms before handling them; the whole receiver stalls
 * meanwhile, like a hung server. count 0 cancels. */
void receiver_stall_next(struct receiver *r, int ms, int count);

/* Writes one line per update to f (NULL: stop); the caller keeps ownership of f. */
void receiver_set_log(struct receiver *r, FILE *f);

/* Waits up to timeout_ms until the stored value of (channel, sku) equals available;
 * 0 when it does, -1 on timeout. */
int receiver_wait_value(struct receiver *r, const char *channel, const char *sku,
                        long long available, int timeout_ms);

#endif
