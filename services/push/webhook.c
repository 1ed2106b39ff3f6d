/* webhook.c — see webhook.h. */
#include "webhook.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <stdio.h>
#include <string.h>

char *webhook_body(const char *channel, const struct webhook_update *updates, size_t n,
                   size_t *len)
{
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *u = json_pack("{s:s, s:I, s:I, s:I}", "sku", updates[i].sku, "available",
                              (json_int_t)updates[i].available, "version",
                              (json_int_t)updates[i].version, "ts_ms", (json_int_t)updates[i].ts_ms);
        if (u && updates[i].location)
            json_object_set_new(u, "location", json_string(updates[i].location));
        json_array_append_new(list, u);
    }
    json_t *root = json_pack("{s:s, s:o}", "channel", channel, "updates", list);
    char *body = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (body && len) *len = strlen(body);
    return body;
}

void webhook_sign(const char *secret, long long timestamp_ms, const char *body, size_t len,
                  char out[WEBHOOK_SIGNATURE_LEN + 1])
{
    /* fetching the algorithm is costly; it is immutable and safe to share */
    static EVP_MAC *hmac;
    if (!hmac) hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    char stamp[32];
    int stamp_len = snprintf(stamp, sizeof stamp, "%lld.", timestamp_ms);
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    EVP_MAC_CTX *ctx = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
    if (!ctx || !EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret), params) ||
        !EVP_MAC_update(ctx, (const unsigned char *)stamp, (size_t)stamp_len) ||
        !EVP_MAC_update(ctx, (const unsigned char *)body, len) ||
        !EVP_MAC_final(ctx, mac, &mac_len, sizeof mac) || mac_len != 32) {
        /* an unsigned request is refused by any receiver: better than a wrong one */
        memset(mac, 0, sizeof mac);
    }
    EVP_MAC_CTX_free(ctx);
    memcpy(out, "sha256=", 7);
    for (size_t i = 0; i < 32; i++) sprintf(out + 7 + 2 * i, "%02x", mac[i]);
    out[WEBHOOK_SIGNATURE_LEN] = 0;
}
