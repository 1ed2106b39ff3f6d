/* test_webhook.c — the channel payload a receiver gets (DESIGN §6): the JSON body it
 * parses and the signature it verifies with its own HMAC-SHA256 implementation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webhook.h"

/* ------------------------------------------------------------------ helpers */

static json_t *parse(const char *body, size_t len)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) fail_msg("body is not JSON (%s): %.*s", jerr.text, (int)len, body);
    return root;
}

/* What a receiver computes: "sha256=" + hex HMAC-SHA256(secret, "<timestamp>.<body>"),
 * with OpenSSL's one-shot HMAC(), independent of webhook_sign()'s EVP_MAC path. */
static void receiver_signature(const char *secret, long long timestamp_ms, const char *body,
                               size_t len, char out[WEBHOOK_SIGNATURE_LEN + 1])
{
    char prefix[32];
    int plen = snprintf(prefix, sizeof prefix, "%lld.", timestamp_ms);
    unsigned char *message = malloc((size_t)plen + len + 1);
    memcpy(message, prefix, (size_t)plen);
    memcpy(message + plen, body, len);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    assert_non_null(HMAC(EVP_sha256(), secret, (int)strlen(secret), message, (size_t)plen + len, mac,
                         &mac_len));
    assert_int_equal(mac_len, 32);
    free(message);
    strcpy(out, "sha256=");
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < mac_len; i++) {
        out[7 + 2 * i] = hex[mac[i] >> 4];
        out[7 + 2 * i + 1] = hex[mac[i] & 15];
    }
    out[WEBHOOK_SIGNATURE_LEN] = 0;
}

/* ------------------------------------------------------------------ body */

static void test_body_shape(void **state)
{
    (void)state;
    const struct webhook_update updates[] = {
        {.sku = "A-100", .available = 12, .version = 7, .ts_ms = 1700000000123LL},
        {.sku = "4006381333931", .available = 0, .version = 9007199254740993LL,
         .ts_ms = 1700000000999LL},
    };
    size_t len = 0;
    char *body = webhook_body("web", updates, 2, &len);
    assert_non_null(body);
    assert_int_equal(len, strlen(body));

    json_t *root = parse(body, len);
    assert_true(json_is_object(root));
    assert_int_equal(json_object_size(root), 2);
    assert_string_equal(json_string_value(json_object_get(root, "channel")), "web");
    json_t *list = json_object_get(root, "updates");
    assert_true(json_is_array(list));
    assert_int_equal(json_array_size(list), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *u = json_array_get(list, i);
        assert_true(json_is_object(u));
        assert_int_equal(json_object_size(u), 4); /* sku, available, version, ts_ms — no more */
        assert_string_equal(json_string_value(json_object_get(u, "sku")), updates[i].sku);
        assert_true(json_is_integer(json_object_get(u, "available")));
        assert_true(json_integer_value(json_object_get(u, "available")) == updates[i].available);
        assert_true(json_is_integer(json_object_get(u, "version")));
        assert_true(json_integer_value(json_object_get(u, "version")) == updates[i].version);
        assert_true(json_is_integer(json_object_get(u, "ts_ms")));
        assert_true(json_integer_value(json_object_get(u, "ts_ms")) == updates[i].ts_ms);
    }
    /* compact: what is signed is exactly what is sent, no pretty-printing */
    assert_null(strchr(body, '\n'));
    json_decref(root);
    free(body);
}

static void test_body_without_updates(void **state)
{
    (void)state;
    size_t len = 0;
    char *body = webhook_body("pickup-s12", NULL, 0, &len);
    assert_non_null(body);
    json_t *root = parse(body, len);
    assert_string_equal(json_string_value(json_object_get(root, "channel")), "pickup-s12");
    assert_true(json_is_array(json_object_get(root, "updates")));
    assert_int_equal(json_array_size(json_object_get(root, "updates")), 0);
    json_decref(root);
    free(body);
}

static void test_body_escapes_skus(void **state)
{
    (void)state;
    /* SKUs come from source rows; quotes, backslashes, control and non-ASCII characters
       must arrive unchanged */
    const char *sku = "A\"1\\B/\xc3\xa9\t\xe2\x82\xac";
    const struct webhook_update u = {.sku = sku, .available = 3, .version = 1, .ts_ms = 5};
    size_t len = 0;
    char *body = webhook_body("web", &u, 1, &len);
    assert_non_null(body);
    json_t *root = parse(body, len);
    json_t *first = json_array_get(json_object_get(root, "updates"), 0);
    assert_string_equal(json_string_value(json_object_get(first, "sku")), sku);
    json_decref(root);
    free(body);
}

static void test_body_with_many_updates(void **state)
{
    (void)state;
    enum { N = 1000 };
    struct webhook_update *u = calloc(N, sizeof *u);
    char (*skus)[16] = calloc(N, sizeof *skus);
    for (int i = 0; i < N; i++) {
        snprintf(skus[i], sizeof skus[i], "SKU-%04d", i);
        u[i] = (struct webhook_update){.sku = skus[i], .available = i, .version = i + 1,
                                       .ts_ms = 1700000000000LL + i};
    }
    size_t len = 0;
    char *body = webhook_body("web", u, N, &len);
    json_t *root = parse(body, len);
    json_t *list = json_object_get(root, "updates");
    assert_int_equal(json_array_size(list), N);
    for (int i = 0; i < N; i += 97) {
        json_t *x = json_array_get(list, (size_t)i);
        assert_string_equal(json_string_value(json_object_get(x, "sku")), skus[i]);
        assert_int_equal(json_integer_value(json_object_get(x, "available")), i);
    }
    json_decref(root);
    free(body);
    free(skus);
    free(u);
}

/* ------------------------------------------------------------------ signature */

static void test_signature_matches_independent_hmac(void **state)
{
    (void)state;
    const struct webhook_update u = {.sku = "A-100", .available = 12, .version = 7,
                                     .ts_ms = 1700000000123LL};
    size_t len = 0;
    char *body = webhook_body("web", &u, 1, &len);
    static const char *const secrets[] = {"s", "test-channel-secret",
                                          /* longer than the SHA-256 block: hashed first */
                                          "0123456789012345678901234567890123456789012345678901"
                                          "234567890123456789"};
    static const long long stamps[] = {0, 1700000000000LL, 4102444800000LL};
    for (size_t i = 0; i < 3; i++)
        for (size_t j = 0; j < 3; j++) {
            char got[WEBHOOK_SIGNATURE_LEN + 1], want[WEBHOOK_SIGNATURE_LEN + 1];
            memset(got, 'x', sizeof got);
            webhook_sign(secrets[i], stamps[j], body, len, got);
            receiver_signature(secrets[i], stamps[j], body, len, want);
            assert_int_equal(strlen(got), WEBHOOK_SIGNATURE_LEN);
            assert_string_equal(got, want);
        }
    free(body);
}

static void test_signature_known_answer(void **state)
{
    (void)state;
    /* printf '%s' '1700000000000.{"a":1}' | openssl dgst -sha256 -hmac secret */
    char got[WEBHOOK_SIGNATURE_LEN + 1];
    const char *body = "{\"a\":1}";
    webhook_sign("secret", 1700000000000LL, body, strlen(body), got);
    assert_string_equal(got,
                        "sha256=4ef2732b0d632a6897af3a6d02a6de287f60d6c5f15dabdb0ceb045a34e3c5a7");
}

static void test_signature_covers_only_len_bytes(void **state)
{
    (void)state;
    const char *body = "{\"a\":1}trailing";
    char got[WEBHOOK_SIGNATURE_LEN + 1];
    webhook_sign("secret", 1700000000000LL, body, 7, got);
    assert_string_equal(got,
                        "sha256=4ef2732b0d632a6897af3a6d02a6de287f60d6c5f15dabdb0ceb045a34e3c5a7");
}

static void test_signature_changes_with_secret_timestamp_and_body(void **state)
{
    (void)state;
    const char *body = "{\"channel\":\"web\",\"updates\":[]}";
    size_t len = strlen(body);
    char base[WEBHOOK_SIGNATURE_LEN + 1], other[WEBHOOK_SIGNATURE_LEN + 1];
    webhook_sign("secret", 1700000000000LL, body, len, base);

    webhook_sign("secreT", 1700000000000LL, body, len, other);
    assert_string_not_equal(base, other);
    webhook_sign("secret", 1700000000001LL, body, len, other); /* replayed with a new stamp */
    assert_string_not_equal(base, other);
    webhook_sign("secret", 1700000000000LL, "{\"channel\":\"web\",\"updates\":[ ]}", len + 1,
                 other);
    assert_string_not_equal(base, other);
    /* same input, same signature: retries of one delivery verify alike */
    webhook_sign("secret", 1700000000000LL, body, len, other);
    assert_string_equal(base, other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_shape),
        cmocka_unit_test(test_body_without_updates),
        cmocka_unit_test(test_body_escapes_skus),
        cmocka_unit_test(test_body_with_many_updates),
        cmocka_unit_test(test_signature_matches_independent_hmac),
        cmocka_unit_test(test_signature_known_answer),
        cmocka_unit_test(test_signature_covers_only_len_bytes),
        cmocka_unit_test(test_signature_changes_with_secret_timestamp_and_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
