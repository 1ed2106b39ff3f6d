/* test_event.c — change events in Debezium's envelope: what a reader writes is what
 * merge and any "debezium-json" consumer read back; bad input gets a clear reason;
 * positions sort in commit order as plain strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stockmesh/event.h"

/* ------------------------------------------------------------------ helpers */

static json_t *json_of(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, 0, &jerr);
    if (!v) fail_msg("test JSON does not parse: %s: %s", text, jerr.text);
    return v;
}

/* A fully populated update event; the caller decrefs before and after. */
static struct change_event sample_event(void)
{
    struct change_event ev = {0};
    ev.op = 'u';
    ev.before = json_of("{\"sku\":\"A-100\",\"location_code\":\"WH1\",\"on_hand\":4}");
    ev.after = json_of("{\"sku\":\"A-100\",\"location_code\":\"WH1\",\"on_hand\":7,"
                       "\"note\":\"caf\\u00e9 \\\"quoted\\\"\",\"price\":12.5,\"gone\":null}");
    ev.connector = "postgresql";
    ev.source = "erp";
    ev.db = "retail";
    ev.schema = "public";
    ev.table = "stock_levels";
    ev.lsn = 0x1A2B3C4D5EULL; /* above 2^32 */
    ev.txid = 4000000123ULL;
    event_position_pg(ev.position, ev.lsn, 7);
    ev.commit_us = 1700000000123456LL;
    ev.read_us = 1700000000654321LL;
    ev.snapshot = 0;
    return ev;
}

static void release_sample(struct change_event *ev)
{
    json_decref(ev->before);
    json_decref(ev->after);
}

/* Encodes, then decodes; fails the test on either error. */
static void round_trip(const struct change_event *in, struct change_event *out)
{
    size_t len = 0;
    char *text = event_encode(in, &len);
    assert_non_null(text);
    assert_int_equal(len, strlen(text));
    char err[256] = "";
    if (event_decode(out, text, len, err, sizeof err) != 0) fail_msg("decode: %s (%s)", err, text);
    free(text);
}

/* Decoding text fails and the reason contains want. */
static void assert_refused(const char *text, const char *want)
{
    struct change_event ev;
    char err[256] = "";
    int rc = event_decode(&ev, text, strlen(text), err, sizeof err);
    if (rc == 0) {
        event_release(&ev);
        fail_msg("decoded, expected refusal \"%s\": %s", want, text);
    }
    assert_int_equal(rc, -1);
    assert_null(ev.root);
    if (!strstr(err, want)) fail_msg("reason \"%s\" does not contain \"%s\"", err, want);
}

/* A valid event document with the given op/before/after/source parts spliced in. */
static void assert_refused_parts(const char *parts, const char *want)
{
    char text[1024];
    snprintf(text, sizeof text, "{%s,\"ts_ms\":1700000000000}", parts);
    assert_refused(text, want);
}

#define GOOD_SOURCE                                                                            \
    "\"source\":{\"connector\":\"postgresql\",\"name\":\"erp\",\"db\":\"retail\","           \
    "\"schema\":\"public\",\"table\":\"stock_levels\",\"lsn\":1,\"txId\":2,"                  \
    "\"ts_ms\":1700000000000,\"snapshot\":\"false\",\"position\":\"000000000000000100000000\"}"

/* ------------------------------------------------------------------ round trip */

static void test_round_trip_keeps_every_field(void **state)
{
    (void)state;
    struct change_event in = sample_event();
    struct change_event out;
    round_trip(&in, &out);

    assert_int_equal(out.op, 'u');
    assert_true(json_equal(out.before, in.before));
    assert_true(json_equal(out.after, in.after));
    assert_string_equal(out.connector, "postgresql");
    assert_string_equal(out.source, "erp");
    assert_string_equal(out.db, "retail");
    assert_string_equal(out.schema, "public");
    assert_string_equal(out.table, "stock_levels");
    assert_true(out.lsn == in.lsn);
    assert_true(out.txid == in.txid);
    assert_string_equal(out.position, in.position);
    assert_true(out.commit_us == in.commit_us); /* microseconds survive, not only ms */
    assert_true(out.read_us == in.read_us);
    assert_int_equal(out.snapshot, 0);
    assert_non_null(out.root);

    event_release(&out);
    assert_null(out.root);
    release_sample(&in);
}

static void test_round_trip_of_each_op(void **state)
{
    (void)state;
    struct change_event in = sample_event();
    const char ops[] = "rcud";
    for (const char *op = ops; *op; op++) {
        in.op = *op;
        json_t *before = in.before, *after = in.after;
        if (*op == 'r' || *op == 'c') in.before = NULL; /* inserts have no before image */
        if (*op == 'd') in.after = NULL;                /* deletes have no after image */
        in.snapshot = *op == 'r';
        struct change_event out;
        round_trip(&in, &out);
        assert_int_equal(out.op, *op);
        assert_int_equal(out.snapshot, *op == 'r');
        if (in.before) assert_true(json_equal(out.before, in.before));
        else assert_null(out.before);
        if (in.after) assert_true(json_equal(out.after, in.after));
        else assert_null(out.after);
        event_release(&out);
        in.before = before;
        in.after = after;
    }
    release_sample(&in);
}

static void test_round_trip_of_extreme_numbers(void **state)
{
    (void)state;
    struct change_event in = sample_event();
    in.lsn = 0xFFFFFFFFFFFFFF00ULL; /* above INT64_MAX: still comes back unchanged */
    in.txid = 0xFFFFFFFFULL;
    event_position_pg(in.position, in.lsn, 0xFFFFFFFFu);
    in.commit_us = 0;
    in.read_us = 4102444800000000LL; /* year 2100 */
    struct change_event out;
    round_trip(&in, &out);
    assert_true(out.lsn == in.lsn);
    assert_true(out.txid == in.txid);
    assert_string_equal(out.position, "FFFFFFFFFFFFFF00FFFFFFFF");
    assert_true(out.commit_us == 0);
    assert_true(out.read_us == in.read_us);
    event_release(&out);
    release_sample(&in);
}

static void test_decode_leaves_out_optional_source_fields(void **state)
{
    (void)state;
    struct change_event in = sample_event();
    in.db = NULL;
    in.schema = NULL;
    struct change_event out;
    round_trip(&in, &out);
    assert_null(out.db);
    assert_null(out.schema);
    assert_string_equal(out.table, "stock_levels");
    event_release(&out);
    release_sample(&in);
}

/* ------------------------------------------------------------------ Debezium shape */

static void test_encoded_event_has_debezium_shape(void **state)
{
    (void)state;
    struct change_event in = sample_event();
    char *text = event_encode(&in, NULL);
    assert_non_null(text);
    json_t *root = json_of(text);
    free(text);

    assert_true(json_is_object(root));
    assert_true(json_equal(json_object_get(root, "before"), in.before));
    assert_true(json_equal(json_object_get(root, "after"), in.after));
    assert_string_equal(json_string_value(json_object_get(root, "op")), "u");
    json_t *ts_ms = json_object_get(root, "ts_ms");
    assert_true(json_is_integer(ts_ms));
    assert_true(json_integer_value(ts_ms) == in.read_us / 1000);

    json_t *source = json_object_get(root, "source");
    assert_true(json_is_object(source));
    assert_string_equal(json_string_value(json_object_get(source, "connector")), "postgresql");
    assert_string_equal(json_string_value(json_object_get(source, "name")), "erp");
    assert_string_equal(json_string_value(json_object_get(source, "db")), "retail");
    assert_string_equal(json_string_value(json_object_get(source, "schema")), "public");
    assert_string_equal(json_string_value(json_object_get(source, "table")), "stock_levels");
    json_t *lsn = json_object_get(source, "lsn");
    assert_true(json_is_integer(lsn));
    assert_true((uint64_t)json_integer_value(lsn) == in.lsn);
    json_t *txid = json_object_get(source, "txId");
    assert_true(json_is_integer(txid));
    assert_true((uint64_t)json_integer_value(txid) == in.txid);
    json_t *commit_ms = json_object_get(source, "ts_ms");
    assert_true(json_is_integer(commit_ms));
    assert_true(json_integer_value(commit_ms) == in.commit_us / 1000);
    /* Debezium writes snapshot as a string, not a boolean */
    assert_true(json_is_string(json_object_get(source, "snapshot")));
    assert_string_equal(json_string_value(json_object_get(source, "snapshot")), "false");
    assert_string_equal(json_string_value(json_object_get(source, "position")), in.position);
    json_decref(root);

    in.op = 'r';
    in.snapshot = 1;
    text = event_encode(&in, NULL);
    root = json_of(text);
    free(text);
    assert_string_equal(json_string_value(json_object_get(root, "op")), "r");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(root, "source"), "snapshot")), "true");
    json_decref(root);
    release_sample(&in);
}

static void test_insert_and_delete_carry_null_images(void **state)
{
    (void)state;
    struct change_event in = sample_event();
    json_t *before = in.before, *after = in.after;

    in.op = 'c';
    in.before = NULL;
    char *text = event_encode(&in, NULL);
    json_t *root = json_of(text);
    free(text);
    assert_true(json_is_null(json_object_get(root, "before")));
    assert_true(json_is_object(json_object_get(root, "after")));
    json_decref(root);

    in.op = 'd';
    in.before = before;
    in.after = NULL;
    text = event_encode(&in, NULL);
    root = json_of(text);
    free(text);
    assert_true(json_is_object(json_object_get(root, "before")));
    assert_true(json_is_null(json_object_get(root, "after")));
    json_decref(root);

    in.after = after;
    release_sample(&in);
}

/* What another Debezium-style producer writes: no ts_us, snapshot "last". */
static void test_decodes_plain_debezium_event(void **state)
{
    (void)state;
    const char *text =
        "{\"before\":null,\"after\":{\"sku\":\"A\",\"on_hand\":3},\"op\":\"r\",\"ts_ms\":5,"
        "\"source\":{\"connector\":\"postgresql\",\"name\":\"erp\",\"db\":\"retail\","
        "\"schema\":\"public\",\"table\":\"stock\",\"lsn\":123,\"txId\":9,"
        "\"ts_ms\":1700000000123,\"snapshot\":\"last\",\"position\":\"00000000000000"
        "7B00000000\"}}";
    struct change_event ev;
    char err[256];
    if (event_decode(&ev, text, strlen(text), err, sizeof err) != 0) fail_msg("%s", err);
    assert_int_equal(ev.op, 'r');
    assert_null(ev.before);
    assert_int_equal(json_integer_value(json_object_get(ev.after, "on_hand")), 3);
    assert_true(ev.commit_us == 1700000000123000LL); /* ts_ms in µs */
    assert_true(ev.lsn == 123);
    assert_true(ev.txid == 9);
    assert_int_equal(ev.snapshot, 1); /* "last" is still a snapshot row */
    assert_string_equal(ev.position, "000000000000007B00000000");
    event_release(&ev);
}

static void test_decode_reads_only_len_bytes(void **state)
{
    (void)state;
    struct change_event in = sample_event();
    size_t len;
    char *text = event_encode(&in, &len);
    char *padded = malloc(len + 8);
    memcpy(padded, text, len);
    memcpy(padded + len, "garbage!", 8); /* not NUL-terminated, trailing junk */
    struct change_event out;
    char err[256];
    if (event_decode(&out, padded, len, err, sizeof err) != 0) fail_msg("%s", err);
    assert_string_equal(out.position, in.position);
    event_release(&out);
    free(padded);
    free(text);
    release_sample(&in);
}

/* ------------------------------------------------------------------ refusals */

static void test_refuses_what_is_not_json(void **state)
{
    (void)state;
    assert_refused("", "not JSON");
    assert_refused("{\"op\":\"c\"", "not JSON");
    assert_refused("hello", "not JSON");
    assert_refused("{\"op\":\"c\",\"op\":\"u\"}", "not JSON"); /* duplicate key */
}

static void test_refuses_what_is_not_an_object(void **state)
{
    (void)state;
    assert_refused("[1,2]", "event is not a JSON object");
    assert_refused("[]", "event is not a JSON object");
    /* a bare scalar is refused by the JSON parser itself, which says what it expected */
    assert_refused("\"event\"", "'[' or '{' expected");
    assert_refused("42", "'[' or '{' expected");
    assert_refused("null", "'[' or '{' expected");
}

static void test_refuses_bad_op(void **state)
{
    (void)state;
    const char *want = "field \"op\" must be one of r, c, u, d";
    assert_refused_parts("\"before\":null,\"after\":{}," GOOD_SOURCE, want); /* missing */
    assert_refused_parts("\"op\":\"x\",\"after\":{}," GOOD_SOURCE, want);
    assert_refused_parts("\"op\":\"\",\"after\":{}," GOOD_SOURCE, want);
    assert_refused_parts("\"op\":\"cu\",\"after\":{}," GOOD_SOURCE, want);
    assert_refused_parts("\"op\":\"C\",\"after\":{}," GOOD_SOURCE, want);
    assert_refused_parts("\"op\":99,\"after\":{}," GOOD_SOURCE, want);
    assert_refused_parts("\"op\":null,\"after\":{}," GOOD_SOURCE, want);
}

static void test_refuses_op_without_its_row_image(void **state)
{
    (void)state;
    assert_refused_parts("\"op\":\"u\",\"before\":{\"a\":1},\"after\":null," GOOD_SOURCE,
                         "op \"u\" without the row image it needs (\"after\")");
    assert_refused_parts("\"op\":\"u\",\"before\":{\"a\":1}," GOOD_SOURCE, "(\"after\")");
    assert_refused_parts("\"op\":\"c\",\"after\":[1]," GOOD_SOURCE,
                         "op \"c\" without the row image it needs (\"after\")");
    assert_refused_parts("\"op\":\"r\"," GOOD_SOURCE, "(\"after\")");
    assert_refused_parts("\"op\":\"d\",\"before\":null,\"after\":{\"a\":1}," GOOD_SOURCE,
                         "op \"d\" without the row image it needs (\"before\")");
    assert_refused_parts("\"op\":\"d\",\"after\":null," GOOD_SOURCE, "(\"before\")");
}

static void test_refuses_missing_source(void **state)
{
    (void)state;
    const char *want = "field \"source\" missing or not an object";
    assert_refused_parts("\"op\":\"c\",\"after\":{}", want);
    assert_refused_parts("\"op\":\"c\",\"after\":{},\"source\":null", want);
    assert_refused_parts("\"op\":\"c\",\"after\":{},\"source\":\"erp\"", want);
    assert_refused_parts("\"op\":\"c\",\"after\":{},\"source\":{\"table\":\"t\",\"ts_ms\":1,"
                         "\"position\":\"000000000000000100000000\"}",
                         "field \"source.name\" missing");
    assert_refused_parts("\"op\":\"c\",\"after\":{},\"source\":{\"name\":\"erp\",\"ts_ms\":1,"
                         "\"position\":\"000000000000000100000000\"}",
                         "field \"source.table\" missing");
}

static void test_refuses_missing_or_short_position(void **state)
{
    (void)state;
    const char *want =
        "field \"source.position\" missing or not 24 upper-case hexadecimal digits";
    assert_refused_parts("\"op\":\"c\",\"after\":{},\"source\":{\"name\":\"erp\",\"table\":\"t\","
                         "\"ts_ms\":1}",
                         want);
    assert_refused_parts("\"op\":\"c\",\"after\":{},\"source\":{\"name\":\"erp\",\"table\":\"t\","
                         "\"ts_ms\":1,\"position\":\"00000000000000010000000\"}", /* 23 */
                         want);
    assert_refused_parts("\"op\":\"c\",\"after\":{},\"source\":{\"name\":\"erp\",\"table\":\"t\","
                         "\"ts_ms\":1,\"position\":\"0000000000000001000000000\"}", /* 25 */
                         want);
    assert_refused_parts("\"op\":\"c\",\"after\":{},\"source\":{\"name\":\"erp\",\"table\":\"t\","
                         "\"ts_ms\":1,\"position\":\"\"}",
                         want);
    assert_refused_parts("\"op\":\"c\",\"after\":{},\"source\":{\"name\":\"erp\",\"table\":\"t\","
                         "\"ts_ms\":1,\"position\":1}",
                         want);
    assert_refused_parts("\"op\":\"c\",\"after\":{},\"source\":{\"name\":\"erp\",\"table\":\"t\","
                         "\"ts_ms\":1,\"position\":\"00000000000000010000000g\"}",
                         want);
}

static void test_refuses_missing_commit_time(void **state)
{
    (void)state;
    assert_refused_parts("\"op\":\"c\",\"after\":{},\"source\":{\"name\":\"erp\",\"table\":\"t\","
                         "\"position\":\"000000000000000100000000\"}",
                         "field \"source.ts_ms\" missing, not an integer or out of range");
    /* milliseconds that cannot be microseconds in 64 bits */
    assert_refused_parts("\"op\":\"c\",\"after\":{},\"source\":{\"name\":\"erp\",\"table\":\"t\","
                         "\"ts_ms\":9223372036854775807,\"position\":\"000000000000000100000000\"}",
                         "out of range");
    assert_refused_parts("\"op\":\"c\",\"after\":{},\"source\":{\"name\":\"erp\",\"table\":\"t\","
                         "\"ts_ms\":\"yesterday\",\"position\":\"000000000000000100000000\"}",
                         "source.ts_ms");
}

/* ------------------------------------------------------------------ positions */

static void test_position_is_fixed_width_hex(void **state)
{
    (void)state;
    char p[EVENT_POSITION_LEN + 1];
    event_position_pg(p, 0, 0);
    assert_string_equal(p, "000000000000000000000000");
    event_position_pg(p, 0x16B3748ULL, 2);
    assert_string_equal(p, "00000000016B374800000002");
    assert_int_equal(strlen(p), EVENT_POSITION_LEN);
    event_position_pg(p, UINT64_MAX, UINT32_MAX);
    assert_string_equal(p, "FFFFFFFFFFFFFFFFFFFFFFFF");
}

static int sign(int v) { return (v > 0) - (v < 0); }

static int natural_order(uint64_t lsn_a, uint32_t idx_a, uint64_t lsn_b, uint32_t idx_b)
{
    if (lsn_a != lsn_b) return lsn_a < lsn_b ? -1 : 1;
    if (idx_a != idx_b) return idx_a < idx_b ? -1 : 1;
    return 0;
}

static void test_position_sorts_in_lsn_then_index_order(void **state)
{
    (void)state;
    static const struct {
        uint64_t lsn;
        uint32_t index;
    } points[] = {
        {0, 0},
        {0, 1},
        {1, 0},
        {9, 0},
        {10, 0}, /* "A" after "9" */
        {0xF, 0xFFFFFFFF},
        {0x10, 0},
        {0x7FFFFFFF, 5},
        {0x80000000, 0},           /* sign bit of 32 bits */
        {0xFFFFFFFF, 0},
        {0xFFFFFFFF, 0xFFFFFFFF},
        {0x100000000ULL, 0},       /* crosses 2^32: 0/FFFFFFFF → 1/00000000 */
        {0x100000001ULL, 0},
        {0x1FFFFFFFFULL, 3},
        {0x200000000ULL, 0},
        {0xABCDEF0123ULL, 1},
        {0x7FFFFFFFFFFFFFFFULL, 0},
        {0x8000000000000000ULL, 0}, /* sign bit of 64 bits */
        {UINT64_MAX, 0},
        {UINT64_MAX, UINT32_MAX},
    };
    size_t n = sizeof points / sizeof points[0];
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            char a[EVENT_POSITION_LEN + 1], b[EVENT_POSITION_LEN + 1];
            event_position_pg(a, points[i].lsn, points[i].index);
            event_position_pg(b, points[j].lsn, points[j].index);
            int want = natural_order(points[i].lsn, points[i].index, points[j].lsn,
                                     points[j].index);
            if (sign(strcmp(a, b)) != want)
                fail_msg("(%" PRIx64 ", %" PRIu32 ") vs (%" PRIx64 ", %" PRIu32
                         "): strcmp(%s, %s) = %d, want %d",
                         points[i].lsn, points[i].index, points[j].lsn, points[j].index, a, b,
                         strcmp(a, b), want);
        }
}

static void test_position_random_pairs_sort_like_numbers(void **state)
{
    (void)state;
    srand(20240601);
    for (int i = 0; i < 20000; i++) {
        uint64_t la = ((uint64_t)rand() << 33) ^ ((uint64_t)rand() << 2) ^ (uint64_t)(rand() & 3);
        uint64_t lb = (i & 1) ? la + (uint64_t)(rand() % 3) - 1 : la ^ ((uint64_t)rand() << 20);
        if (i % 7 == 0) { /* straddle 32-bit boundaries */
            la = ((uint64_t)(rand() % 8) << 32) | 0xFFFFFFF0u | (uint64_t)(rand() & 15);
            lb = la + (uint64_t)(rand() % 40);
        }
        uint32_t ia = (uint32_t)rand() % 4, ib = (uint32_t)rand() % 4;
        char a[EVENT_POSITION_LEN + 1], b[EVENT_POSITION_LEN + 1];
        event_position_pg(a, la, ia);
        event_position_pg(b, lb, ib);
        if (sign(strcmp(a, b)) != natural_order(la, ia, lb, ib))
            fail_msg("%s vs %s sorts wrongly", a, b);
    }
}

static void test_compact_position_is_short_and_expands_back(void **state)
{
    (void)state;
    char full[EVENT_POSITION_LEN + 1], compact[EVENT_POSITION_COMPACT_MAX + 1];
    event_position_pg(full, 0x1A2B3C4, 0);
    assert_int_equal(event_position_compact(full, compact), 10);
    assert_string_equal(compact, "61A2B3C400");
    event_position_pg(full, 0, 0);
    assert_int_equal(event_position_compact(full, compact), 4);
    assert_string_equal(compact, "0000");
    event_position_pg(full, UINT64_MAX, UINT32_MAX);
    assert_int_equal(event_position_compact(full, compact), EVENT_POSITION_COMPACT_MAX);
    char back[EVENT_POSITION_LEN + 1];
    assert_int_equal(event_position_expand(compact, strlen(compact), back), 0);
    assert_string_equal(back, full);
}

static void test_compact_position_refuses_what_is_not_one(void **state)
{
    (void)state;
    char compact[EVENT_POSITION_COMPACT_MAX + 1], back[EVENT_POSITION_LEN + 1];
    assert_int_equal(event_position_compact("0000000001a2b3c400000000", compact), -1);
    assert_string_equal(compact, "");
    assert_int_equal(event_position_compact("0000000001A2B3C4", compact), -1);
    const char *bad[] = {"", "6", "61A2B3C4", "61A2B3C4001", "601A2B3C00", "G0", "00=",
                         "0000000001A2B3C400000000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (event_position_expand(bad[i], strlen(bad[i]), back) != -1 || back[0])
            fail_msg("\"%s\" was taken for a compact position", bad[i]);
}

/* The merge function compares compact positions as strings: they must order exactly
 * like the full ones. */
static void test_compact_positions_sort_like_full_ones(void **state)
{
    (void)state;
    srand(20261125);
    for (int i = 0; i < 50000; i++) {
        int shift_a = rand() % 64, shift_b = rand() % 64;
        uint64_t la = ((uint64_t)rand() << 31 ^ (uint64_t)rand()) >> (63 - shift_a % 63);
        uint64_t lb = (i & 1) ? la + (uint64_t)(rand() % 3) - 1
                              : ((uint64_t)rand() << 31 ^ (uint64_t)rand()) >> (63 - shift_b % 63);
        uint32_t ia = (uint32_t)rand() >> (rand() % 31), ib = (i & 2) ? ia : (uint32_t)rand() % 300;
        char a[EVENT_POSITION_LEN + 1], b[EVENT_POSITION_LEN + 1];
        char ca[EVENT_POSITION_COMPACT_MAX + 1], cb[EVENT_POSITION_COMPACT_MAX + 1];
        event_position_pg(a, la, ia);
        event_position_pg(b, lb, ib);
        assert_true(event_position_compact(a, ca) > 0);
        assert_true(event_position_compact(b, cb) > 0);
        if (sign(strcmp(ca, cb)) != sign(strcmp(a, b)))
            fail_msg("%s vs %s sorts unlike %s vs %s", ca, cb, a, b);
        char back[EVENT_POSITION_LEN + 1];
        assert_int_equal(event_position_expand(ca, strlen(ca), back), 0);
        assert_string_equal(back, a);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_keeps_every_field),
        cmocka_unit_test(test_round_trip_of_each_op),
        cmocka_unit_test(test_round_trip_of_extreme_numbers),
        cmocka_unit_test(test_decode_leaves_out_optional_source_fields),
        cmocka_unit_test(test_encoded_event_has_debezium_shape),
        cmocka_unit_test(test_insert_and_delete_carry_null_images),
        cmocka_unit_test(test_decodes_plain_debezium_event),
        cmocka_unit_test(test_decode_reads_only_len_bytes),
        cmocka_unit_test(test_refuses_what_is_not_json),
        cmocka_unit_test(test_refuses_what_is_not_an_object),
        cmocka_unit_test(test_refuses_bad_op),
        cmocka_unit_test(test_refuses_op_without_its_row_image),
        cmocka_unit_test(test_refuses_missing_source),
        cmocka_unit_test(test_refuses_missing_or_short_position),
        cmocka_unit_test(test_refuses_missing_commit_time),
        cmocka_unit_test(test_position_is_fixed_width_hex),
        cmocka_unit_test(test_position_sorts_in_lsn_then_index_order),
        cmocka_unit_test(test_position_random_pairs_sort_like_numbers),
        cmocka_unit_test(test_compact_position_is_short_and_expands_back),
        cmocka_unit_test(test_compact_position_refuses_what_is_not_one),
        cmocka_unit_test(test_compact_positions_sort_like_full_ones),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
