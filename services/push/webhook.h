/* webhook.h — the channel payload of DESIGN §6: body and signature. Plain functions.
 *
 *   POST {"channel":"web","updates":[{"sku","available","version","ts_ms"},…]}
 *   (a pickup channel's updates also carry "location": availability per store)
 *   X-Stockmesh-Timestamp: <unix ms>
 *   X-Stockmesh-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
 *   X-Stockmesh-Delivery: <id, stable across retries> */
#ifndef STOCKMESH_WEBHOOK_H
#define STOCKMESH_WEBHOOK_H

#include <stddef.h>

#define WEBHOOK_SIGNATURE_LEN (7 + 64)

struct webhook_update {
    const char *sku;
    const char *location;         /* pickup channels: the store; NULL for ship channels */
    long long available;
    long long version;
    long long ts_ms;              /* source commit time of the change */
};

/* Builds the JSON body; caller frees it. NULL when out of memory. */
char *webhook_body(const char *channel, const struct webhook_update *updates, size_t n,
                   size_t *len);

/* Writes "sha256=<hex>" (NUL-terminated) for the body sent at timestamp_ms. */
void webhook_sign(const char *secret, long long timestamp_ms, const char *body, size_t len,
                  char out[WEBHOOK_SIGNATURE_LEN + 1]);

#endif
