/* test_redis_function.c — the Redis function library (appliance/redis/stockmesh.lua)
 * against a real Redis: replays and reordering are harmless, availability follows the
 * quantity model of DESIGN §3 (clamp per location, safety stock, channel buffer), the
 * per-SKU version grows only with real changes, and what a channel has not received is
 * always listed as pending.
 *
 * The library is read from the source tree (tests run from the repository root) and
 * loaded with FUNCTION LOAD REPLACE, as the daemon does at connect. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "servers.h"
#include "stockmesh/event.h"

#define LIBRARY_PATH "appliance/redis/stockmesh.lua"
#define TS "1700000000000"

static struct servers_server server;
static redisContext *redis;

/* ------------------------------------------------------------------ server */

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[n] = 0;
    return buf;
}

static int group_setup(void **state)
{
    (void)state;
    char err[1024];
    if (servers_start(&server, SERVERS_REDIS, NULL, 0, err, sizeof err) != 0) {
        fprintf(stderr, "cannot start redis: %s\n", err);
        servers_stop(&server);
        return -1;
    }
    redis = redisConnect("127.0.0.1", server.port);
    if (!redis || redis->err) {
        fprintf(stderr, "cannot connect to redis: %s\n", redis ? redis->errstr : "no memory");
        return -1;
    }
    char *lua = read_file(LIBRARY_PATH);
    if (!lua) {
        fprintf(stderr, "cannot read %s (run from the repository root)\n", LIBRARY_PATH);
        return -1;
    }
    redisReply *r = redisCommand(redis, "FUNCTION LOAD REPLACE %s", lua);
    free(lua);
    int ok = r && r->type == REDIS_REPLY_STRING && strcmp(r->str, "stockmesh") == 0;
    if (!ok) fprintf(stderr, "FUNCTION LOAD: %s\n", r && r->str ? r->str : "no reply");
    freeReplyObject(r);
    return ok ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    if (redis) redisFree(redis);
    servers_stop(&server);
    return 0;
}

static int flush(void **state)
{
    (void)state;
    redisReply *r = redisCommand(redis, "FLUSHALL");
    int ok = r && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    return ok ? 0 : -1;
}

/* ------------------------------------------------------------------ calls */

#define MAX_CHANNELS 8

struct applied {
    long long applied;
    long long version;
    int n;                             /* channels whose availability changed */
    char channel[MAX_CHANNELS][32];
    long long available[MAX_CHANNELS];
};

/* One fact: quantities as text, "" when the row lacks that kind. channels is
 * "name:buffer,name:buffer" — the channels the location feeds, or "". */
static struct applied apply_fact(const char *sku, const char *location, const char *source,
                                 const char *position, int authoritative, long long safety,
                                 const char *on_hand, const char *committed,
                                 const char *unavailable, const char *channels)
{
    char kf[160], kl[160], kc[160], safety_s[24];
    snprintf(kf, sizeof kf, "sm:{%s}:f", sku);
    snprintf(kl, sizeof kl, "sm:{%s}:l", sku);
    snprintf(kc, sizeof kc, "sm:{%s}:c", sku);
    snprintf(safety_s, sizeof safety_s, "%lld", safety);
    const char *argv[16 + 2 * MAX_CHANNELS];
    int argc = 0;
    argv[argc++] = "FCALL";
    argv[argc++] = "stockmesh_apply";
    argv[argc++] = "3";
    argv[argc++] = kf;
    argv[argc++] = kl;
    argv[argc++] = kc;
    argv[argc++] = location;
    argv[argc++] = source;
    argv[argc++] = position;
    argv[argc++] = TS;
    argv[argc++] = authoritative ? "1" : "0";
    argv[argc++] = safety_s;
    argv[argc++] = on_hand;
    argv[argc++] = committed;
    argv[argc++] = unavailable;
    char list[256], *save = NULL;
    snprintf(list, sizeof list, "%s", channels);
    for (char *item = strtok_r(list, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(item, ':');
        assert_non_null(colon);
        *colon = 0;
        argv[argc++] = item;
        argv[argc++] = colon + 1;
    }
    redisReply *r = redisCommandArgv(redis, argc, argv, NULL);
    if (!r) fail_msg("FCALL stockmesh_apply: %s", redis->errstr);
    if (r->type != REDIS_REPLY_ARRAY) fail_msg("stockmesh_apply: %s", r->str ? r->str : "not an array");
    assert_true(r->elements >= 2 && r->elements % 2 == 0);
    struct applied out = {0};
    assert_int_equal(r->element[0]->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->element[1]->type, REDIS_REPLY_INTEGER);
    out.applied = r->element[0]->integer;
    out.version = r->element[1]->integer;
    for (size_t i = 2; i + 1 < r->elements; i += 2) {
        assert_true(out.n < MAX_CHANNELS);
        assert_int_equal(r->element[i]->type, REDIS_REPLY_STRING);
        assert_int_equal(r->element[i + 1]->type, REDIS_REPLY_INTEGER);
        snprintf(out.channel[out.n], sizeof out.channel[0], "%s", r->element[i]->str);
        out.available[out.n] = r->element[i + 1]->integer;
        out.n++;
    }
    freeReplyObject(r);
    return out;
}

/* A position that sorts by n; the LSNs straddle the 32-bit boundary around n = 256. */
static const char *P(unsigned n)
{
    static char ring[16][EVENT_POSITION_LEN + 1];
    static unsigned next;
    char *p = ring[next++ % 16];
    event_position_pg(p, 0xFFFFFF00ULL + n, n % 3);
    return p;
}

/* Available reported for channel in a reply, or -1 when the channel is not listed. */
static long long reported(const struct applied *a, const char *channel)
{
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->channel[i], channel) == 0) return a->available[i];
    return -1;
}

/* HGET as a malloc'd string; NULL when the field is absent. */
static char *hget(const char *sku, char kind, const char *field)
{
    char key[160];
    snprintf(key, sizeof key, "sm:{%s}:%c", sku, kind);
    redisReply *r = redisCommand(redis, "HGET %s %s", key, field);
    assert_non_null(r);
    char *out = r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
    if (r->type != REDIS_REPLY_STRING) assert_int_equal(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    return out;
}

static void assert_field(const char *sku, char kind, const char *field, const char *want)
{
    char *got = hget(sku, kind, field);
    if (!want && got) fail_msg("sm:{%s}:%c %s is \"%s\", expected absent", sku, kind, field, got);
    if (want && !got) fail_msg("sm:{%s}:%c %s is absent, expected \"%s\"", sku, kind, field, want);
    if (want && strcmp(got, want) != 0)
        fail_msg("sm:{%s}:%c %s is \"%s\", expected \"%s\"", sku, kind, field, got, want);
    free(got);
}

static long long sku_version(const char *sku)
{
    char *v = hget(sku, 'c', "#v");
    long long n = v ? atoll(v) : 0;
    free(v);
    return n;
}

/* Channel's available value (the middle of "<sum>|<available>|<version>"), 0 if absent. */
static long long channel_available(const char *sku, const char *channel, long long *sum,
                                   long long *version)
{
    char *v = hget(sku, 'c', channel);
    long long s = 0, a = 0, ver = 0;
    if (v) assert_int_equal(sscanf(v, "%lld|%lld|%lld", &s, &a, &ver), 3);
    free(v);
    if (sum) *sum = s;
    if (version) *version = ver;
    return a;
}

/* Everything stored for a SKU, as one sorted text, to show that nothing changed. */
static char *dump_sku(const char *sku)
{
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    out[0] = 0;
    static const char kinds[] = "flc";
    for (int k = 0; k < 3; k++) {
        char key[160];
        snprintf(key, sizeof key, "sm:{%s}:%c", sku, kinds[k]);
        redisReply *r = redisCommand(redis, "HGETALL %s", key);
        assert_non_null(r);
        assert_int_equal(r->type, REDIS_REPLY_ARRAY);
        /* sort pairs by field for a stable text */
        for (size_t i = 0; i < r->elements; i += 2)
            for (size_t j = i + 2; j < r->elements; j += 2)
                if (strcmp(r->element[j]->str, r->element[i]->str) < 0) {
                    redisReply *t = r->element[i];
                    r->element[i] = r->element[j];
                    r->element[j] = t;
                    t = r->element[i + 1];
                    r->element[i + 1] = r->element[j + 1];
                    r->element[j + 1] = t;
                }
        for (size_t i = 0; i + 1 < r->elements; i += 2)
            len += (size_t)snprintf(out + len, cap - len, "%c %s=%s\n", kinds[k],
                                    r->element[i]->str, r->element[i + 1]->str);
        freeReplyObject(r);
    }
    return out;
}

static long long delivered(const char *sku, const char *channel, long long version)
{
    char key[160], v[24];
    snprintf(key, sizeof key, "sm:{%s}:c", sku);
    snprintf(v, sizeof v, "%lld", version);
    redisReply *r = redisCommand(redis, "FCALL stockmesh_delivered 1 %s %s %s", key, channel, v);
    assert_non_null(r);
    if (r->type != REDIS_REPLY_INTEGER) fail_msg("stockmesh_delivered: %s", r->str ? r->str : "?");
    long long n = r->integer;
    freeReplyObject(r);
    return n;
}

struct pending {
    int n;
    char channel[MAX_CHANNELS][32];
    long long available[MAX_CHANNELS], version[MAX_CHANNELS];
};

static struct pending pending(const char *sku)
{
    char key[160];
    snprintf(key, sizeof key, "sm:{%s}:c", sku);
    redisReply *r = redisCommand(redis, "FCALL stockmesh_pending 1 %s", key);
    assert_non_null(r);
    if (r->type != REDIS_REPLY_ARRAY) fail_msg("stockmesh_pending: %s", r->str ? r->str : "?");
    assert_int_equal(r->elements % 3, 0);
    struct pending p = {0};
    for (size_t i = 0; i < r->elements; i += 3) {
        assert_true(p.n < MAX_CHANNELS);
        assert_int_equal(r->element[i]->type, REDIS_REPLY_STRING);
        assert_int_equal(r->element[i + 1]->type, REDIS_REPLY_INTEGER);
        assert_int_equal(r->element[i + 2]->type, REDIS_REPLY_INTEGER);
        snprintf(p.channel[p.n], sizeof p.channel[0], "%s", r->element[i]->str);
        p.available[p.n] = r->element[i + 1]->integer;
        p.version[p.n] = r->element[i + 2]->integer;
        p.n++;
    }
    freeReplyObject(r);
    return p;
}

static int pending_index(const struct pending *p, const char *channel)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->channel[i], channel) == 0) return i;
    return -1;
}

/* ------------------------------------------------------------------ apply */

static void test_first_fact_sets_availability(void **state)
{
    (void)state;
    struct applied a = apply_fact("A", "WH1", "erp", P(1), 1, 0, "10", "2", "1", "web:0");
    assert_int_equal(a.applied, 1);
    assert_int_equal(a.version, 1);
    assert_int_equal(a.n, 1);
    assert_int_equal(reported(&a, "web"), 7);
    assert_field("A", 'l', "WH1", "10|2|1|7");
    assert_field("A", 'c', "web", "7|7|1");
    assert_int_equal(sku_version("A"), 1);
    char want[64];
    snprintf(want, sizeof want, "%s|10|" TS, P(1));
    assert_field("A", 'f', "WH1|erp|o", want);
    snprintf(want, sizeof want, "%s|2|" TS, P(1));
    assert_field("A", 'f', "WH1|erp|c", want);
    snprintf(want, sizeof want, "%s|1|" TS, P(1));
    assert_field("A", 'f', "WH1|erp|u", want);
    /* other SKUs are untouched */
    assert_field("B", 'l', "WH1", NULL);
}

static void test_same_or_older_position_changes_nothing(void **state)
{
    (void)state;
    apply_fact("A", "WH1", "erp", P(5), 1, 0, "10", "0", "0", "web:0");
    apply_fact("A", "S12", "erp", P(6), 1, 0, "4", "0", "0", "web:0,pickup:0");
    char *before = dump_sku("A");

    struct applied a = apply_fact("A", "WH1", "erp", P(5), 1, 0, "99", "1", "1", "web:0");
    assert_int_equal(a.applied, 0); /* replay of the same position */
    assert_int_equal(a.version, 0);
    assert_int_equal(a.n, 0);
    a = apply_fact("A", "WH1", "erp", P(4), 1, 0, "50", "0", "0", "web:0");
    assert_int_equal(a.applied, 0); /* older */
    assert_int_equal(a.n, 0);
    a = apply_fact("A", "WH1", "erp", P(5), 1, 0, "", "7", "", "web:0");
    assert_int_equal(a.applied, 0); /* a partial replay too */

    char *after = dump_sku("A");
    assert_string_equal(after, before);
    free(before);
    free(after);
    assert_int_equal(channel_available("A", "web", NULL, NULL), 14);
}

static void test_newer_position_wins_in_any_arrival_order(void **state)
{
    (void)state;
    /* three changes of one row, delivered in all six orders: P(3) is the truth */
    static const int orders[6][3] = {{1, 2, 3}, {1, 3, 2}, {2, 1, 3},
                                     {2, 3, 1}, {3, 1, 2}, {3, 2, 1}};
    static const char *const on_hand[4] = {NULL, "3", "9", "5"};
    for (int o = 0; o < 6; o++) {
        char sku[16];
        snprintf(sku, sizeof sku, "ORD%d", o);
        for (int i = 0; i < 3; i++) {
            int n = orders[o][i];
            apply_fact(sku, "WH1", "erp", P((unsigned)(250 + n * 4)), 1, 0, on_hand[n], "0", "0",
                       "web:0"); /* 254, 258, 262: on both sides of the 32-bit boundary */
        }
        assert_field(sku, 'l', "WH1", "5|0|0|5");
        assert_int_equal(channel_available(sku, "web", NULL, NULL), 5);
    }
}

static void test_locations_are_clamped_before_summing(void **state)
{
    (void)state;
    /* WH1 is oversold (2 on hand, 5 committed): its -3 must not eat S12's 4 */
    struct applied a = apply_fact("A", "WH1", "erp", P(1), 1, 0, "2", "5", "0", "web:0");
    assert_int_equal(a.applied, 1);
    assert_int_equal(a.n, 0); /* 0 stays 0 */
    assert_field("A", 'l', "WH1", "2|5|0|0");
    a = apply_fact("A", "S12", "erp", P(2), 1, 0, "4", "0", "0", "web:0");
    assert_int_equal(reported(&a, "web"), 4);
    assert_int_equal(channel_available("A", "web", NULL, NULL), 4);

    /* the other order */
    apply_fact("B", "S12", "erp", P(2), 1, 0, "4", "0", "0", "web:0");
    a = apply_fact("B", "WH1", "erp", P(1), 1, 0, "2", "5", "0", "web:0");
    assert_int_equal(a.applied, 1);
    assert_int_equal(a.version, 0);
    assert_int_equal(a.n, 0);
    assert_int_equal(channel_available("B", "web", NULL, NULL), 4);

    /* negative on hand, and unavailable above on hand, clamp the same way */
    a = apply_fact("B", "WH1", "erp", P(3), 1, 0, "-6", "0", "0", "web:0");
    assert_int_equal(a.n, 0);
    a = apply_fact("B", "WH2", "erp", P(4), 1, 0, "1", "0", "9", "web:0");
    assert_int_equal(a.n, 0);
    assert_int_equal(channel_available("B", "web", NULL, NULL), 4);
    /* and recover: WH1 back to 3 adds exactly 3 */
    a = apply_fact("B", "WH1", "erp", P(5), 1, 0, "3", "0", "0", "web:0");
    assert_int_equal(reported(&a, "web"), 7);
}

static void test_safety_stock_is_held_back(void **state)
{
    (void)state;
    struct applied a = apply_fact("A", "S12", "erp", P(1), 1, 2, "5", "0", "0", "web:0");
    assert_int_equal(reported(&a, "web"), 3);
    assert_field("A", 'l', "S12", "5|0|0|3");
    a = apply_fact("A", "S12", "erp", P(2), 1, 2, "6", "1", "1", "web:0");
    assert_int_equal(reported(&a, "web"), 2); /* 6 - 1 - 1 - 2 */
    assert_field("A", 'l', "S12", "6|1|1|2");
    /* a location without safety stock adds its whole figure */
    a = apply_fact("A", "WH1", "erp", P(3), 1, 0, "10", "0", "0", "web:0");
    assert_int_equal(reported(&a, "web"), 12);
}

static void test_safety_stock_never_goes_negative(void **state)
{
    (void)state;
    apply_fact("A", "WH1", "erp", P(1), 1, 0, "10", "0", "0", "web:0");
    struct applied a = apply_fact("A", "S12", "erp", P(2), 1, 2, "1", "0", "0", "web:0");
    assert_int_equal(a.applied, 1);
    assert_int_equal(a.n, 0); /* 1 - 2 clamps to 0: web stays 10, not 9 */
    assert_field("A", 'l', "S12", "1|0|0|0");
    assert_int_equal(channel_available("A", "web", NULL, NULL), 10);
    a = apply_fact("A", "S12", "erp", P(3), 1, 2, "5", "0", "0", "web:0");
    assert_int_equal(reported(&a, "web"), 13);
}

static void test_channel_buffer_is_subtracted_and_floored(void **state)
{
    (void)state;
    struct applied a = apply_fact("A", "WH1", "erp", P(1), 1, 0, "5", "0", "0", "web:3");
    assert_int_equal(reported(&a, "web"), 2);
    assert_field("A", 'c', "web", "5|2|1");
    a = apply_fact("A", "WH1", "erp", P(2), 1, 0, "2", "0", "0", "web:3");
    assert_int_equal(reported(&a, "web"), 0); /* 2 - 3 floors at 0 */
    assert_int_equal(a.version, 2);
    a = apply_fact("A", "WH1", "erp", P(3), 1, 0, "1", "0", "0", "web:3");
    assert_int_equal(a.applied, 1); /* still 0 on the channel: no change to report */
    assert_int_equal(a.version, 0);
    assert_int_equal(a.n, 0);
    long long sum, version;
    assert_int_equal(channel_available("A", "web", &sum, &version), 0);
    assert_int_equal(sum, 1); /* the sum keeps counting below the buffer */
    assert_int_equal(version, 2);
    a = apply_fact("A", "WH1", "erp", P(4), 1, 0, "4", "0", "0", "web:3");
    assert_int_equal(reported(&a, "web"), 1);
}

static void test_only_changed_channels_are_returned(void **state)
{
    (void)state;
    /* S12 feeds web (no buffer) and pickup (buffer 10); WH1 feeds web only */
    struct applied a = apply_fact("A", "S12", "erp", P(1), 1, 0, "5", "0", "0", "web:0,pickup:10");
    assert_int_equal(a.n, 1);
    assert_int_equal(reported(&a, "web"), 5);
    assert_int_equal(reported(&a, "pickup"), -1); /* 5 - 10 is still 0 */

    a = apply_fact("A", "S12", "erp", P(2), 1, 0, "12", "0", "0", "web:0,pickup:10");
    assert_int_equal(a.n, 2);
    assert_int_equal(reported(&a, "web"), 12);
    assert_int_equal(reported(&a, "pickup"), 2);

    a = apply_fact("A", "WH1", "erp", P(3), 1, 0, "8", "0", "0", "web:0");
    assert_int_equal(a.n, 1);
    assert_int_equal(reported(&a, "web"), 20);
    assert_int_equal(channel_available("A", "pickup", NULL, NULL), 2);

    /* a change that cancels out on the location reports nothing */
    a = apply_fact("A", "S12", "erp", P(4), 1, 0, "13", "1", "0", "web:0,pickup:10");
    assert_int_equal(a.applied, 1);
    assert_int_equal(a.n, 0);
}

static void test_version_grows_by_one_per_change(void **state)
{
    (void)state;
    struct applied a = apply_fact("A", "S12", "erp", P(1), 1, 0, "5", "0", "0", "web:0,pickup:0");
    assert_int_equal(a.version, 1);
    assert_int_equal(a.n, 2); /* two channels changed: still one version */
    assert_int_equal(sku_version("A"), 1);
    long long v_web, v_pickup;
    channel_available("A", "web", NULL, &v_web);
    channel_available("A", "pickup", NULL, &v_pickup);
    assert_int_equal(v_web, 1);
    assert_int_equal(v_pickup, 1);

    /* newer position, same figures: applied, no change, no version */
    a = apply_fact("A", "S12", "erp", P(2), 1, 0, "5", "0", "0", "web:0,pickup:0");
    assert_int_equal(a.applied, 1);
    assert_int_equal(a.version, 0);
    assert_int_equal(sku_version("A"), 1);

    /* duplicate: no version */
    a = apply_fact("A", "S12", "erp", P(2), 1, 0, "6", "0", "0", "web:0,pickup:0");
    assert_int_equal(a.applied, 0);
    assert_int_equal(sku_version("A"), 1);

    a = apply_fact("A", "WH1", "erp", P(3), 1, 0, "2", "0", "0", "web:0");
    assert_int_equal(a.version, 2);
    channel_available("A", "web", NULL, &v_web);
    channel_available("A", "pickup", NULL, &v_pickup);
    assert_int_equal(v_web, 2);
    assert_int_equal(v_pickup, 1); /* unchanged channels keep their version */

    a = apply_fact("A", "S12", "erp", P(4), 1, 0, "1", "0", "0", "web:0,pickup:0");
    assert_int_equal(a.version, 3);
    assert_int_equal(sku_version("A"), 3);

    /* versions are per SKU */
    a = apply_fact("B", "S12", "erp", P(1), 1, 0, "1", "0", "0", "web:0,pickup:0");
    assert_int_equal(a.version, 1);
}

static void test_non_authoritative_fact_is_kept_but_not_counted(void **state)
{
    (void)state;
    apply_fact("A", "S12", "erp", P(1), 1, 0, "10", "0", "0", "web:0");
    char *before_l = hget("A", 'l', "S12");
    char *before_c = hget("A", 'c', "web");

    struct applied a = apply_fact("A", "S12", "pos", P(9), 0, 0, "3", "", "", "web:0");
    assert_int_equal(a.applied, 1);
    assert_int_equal(a.version, 0);
    assert_int_equal(a.n, 0);
    char want[64];
    snprintf(want, sizeof want, "%s|3|" TS, P(9));
    assert_field("A", 'f', "S12|pos|o", want); /* kept for lookups and mismatch rules */
    assert_field("A", 'f', "S12|pos|c", NULL);
    assert_field("A", 'l', "S12", before_l);
    assert_field("A", 'c', "web", before_c);
    assert_int_equal(sku_version("A"), 1);

    /* its own positions are checked too */
    a = apply_fact("A", "S12", "pos", P(9), 0, 0, "4", "", "", "web:0");
    assert_int_equal(a.applied, 0);
    assert_field("A", 'f', "S12|pos|o", want);

    /* the authoritative source's positions are independent of it */
    a = apply_fact("A", "S12", "erp", P(2), 1, 0, "7", "0", "0", "web:0");
    assert_int_equal(reported(&a, "web"), 7);
    free(before_l);
    free(before_c);
}

/* With no authority rule every fact of the (single) source counts; configurations with
 * several sources must name an authority per location type (config validation), since
 * positions of different sources cannot be compared. */

static void test_partial_quantities_keep_stored_kinds(void **state)
{
    (void)state;
    apply_fact("A", "WH1", "erp", P(1), 1, 0, "10", "2", "1", "web:0");
    struct applied a = apply_fact("A", "WH1", "erp", P(2), 1, 0, "", "5", "", "web:0");
    assert_int_equal(reported(&a, "web"), 4);
    assert_field("A", 'l', "WH1", "10|5|1|4");
    a = apply_fact("A", "WH1", "erp", P(3), 1, 0, "12", "", "", "web:0");
    assert_int_equal(reported(&a, "web"), 6);
    assert_field("A", 'l', "WH1", "12|5|1|6");
    a = apply_fact("A", "WH1", "erp", P(4), 1, 0, "", "", "0", "web:0");
    assert_int_equal(reported(&a, "web"), 7);
    assert_field("A", 'l', "WH1", "12|5|0|7");
    /* the untouched kinds keep their own positions */
    char want[64];
    snprintf(want, sizeof want, "%s|12|" TS, P(3));
    assert_field("A", 'f', "WH1|erp|o", want);
    snprintf(want, sizeof want, "%s|5|" TS, P(2));
    assert_field("A", 'f', "WH1|erp|c", want);
}

static void test_fact_stale_for_one_kind_updates_only_the_fresh_kind(void **state)
{
    (void)state;
    /* on_hand comes from one table, committed from another: their positions differ */
    apply_fact("A", "WH1", "erp", P(10), 1, 0, "20", "", "", "web:0");
    apply_fact("A", "WH1", "erp", P(5), 1, 0, "", "3", "", "web:0");
    assert_field("A", 'l', "WH1", "20|3|0|17");
    /* P(7) is older than on_hand's P(10) but newer than committed's P(5) */
    struct applied a = apply_fact("A", "WH1", "erp", P(7), 1, 0, "1", "4", "", "web:0");
    assert_int_equal(a.applied, 1);
    assert_int_equal(reported(&a, "web"), 16);
    assert_field("A", 'l', "WH1", "20|4|0|16");
}

/* ------------------------------------------------------------------ delivery */

static void test_delivered_only_moves_forward(void **state)
{
    (void)state;
    assert_int_equal(delivered("A", "web", 3), 1);
    assert_field("A", 'c', "web#d", "3");
    assert_int_equal(delivered("A", "web", 2), 0); /* an older delivery finishing late */
    assert_int_equal(delivered("A", "web", 3), 0);
    assert_field("A", 'c', "web#d", "3");
    assert_int_equal(delivered("A", "web", 4), 1);
    assert_field("A", 'c', "web#d", "4");
    assert_int_equal(delivered("A", "web", 10), 1);
    assert_int_equal(delivered("A", "web", 9), 0);
    assert_field("A", 'c', "web#d", "10");
    /* channels are independent */
    assert_int_equal(delivered("A", "pickup", 1), 1);
    assert_field("A", 'c', "pickup#d", "1");
    assert_field("A", 'c', "web#d", "10");
}

static void test_pending_lists_undelivered_channels(void **state)
{
    (void)state;
    struct pending p = pending("A");
    assert_int_equal(p.n, 0); /* nothing known yet */

    /* web and pickup change; marketplace is fed but its buffer keeps it at 0 */
    apply_fact("A", "S12", "erp", P(1), 1, 0, "5", "0", "0", "web:0,pickup:1,marketplace:100");
    apply_fact("A", "WH1", "erp", P(2), 1, 0, "4", "0", "0", "web:0,marketplace:100");
    p = pending("A");
    assert_int_equal(p.n, 2);
    int w = pending_index(&p, "web"), k = pending_index(&p, "pickup");
    assert_true(w >= 0 && k >= 0);
    assert_int_equal(p.available[w], 9);
    assert_int_equal(p.version[w], 2);
    assert_int_equal(p.available[k], 4);
    assert_int_equal(p.version[k], 1);
    assert_int_equal(pending_index(&p, "marketplace"), -1);

    /* web received version 2: only pickup is pending */
    assert_int_equal(delivered("A", "web", 2), 1);
    p = pending("A");
    assert_int_equal(p.n, 1);
    assert_string_equal(p.channel[0], "pickup");

    /* an older delivery does not clear what is newer */
    assert_int_equal(delivered("A", "pickup", 0), 0);
    p = pending("A");
    assert_int_equal(p.n, 1);

    assert_int_equal(delivered("A", "pickup", 1), 1);
    p = pending("A");
    assert_int_equal(p.n, 0);

    /* a new change makes the channel pending again, with the latest value only */
    apply_fact("A", "WH1", "erp", P(3), 1, 0, "7", "0", "0", "web:0,marketplace:100");
    apply_fact("A", "WH1", "erp", P(4), 1, 0, "8", "0", "0", "web:0,marketplace:100");
    p = pending("A");
    assert_int_equal(p.n, 1);
    assert_string_equal(p.channel[0], "web");
    assert_int_equal(p.available[0], 13);
    assert_int_equal(p.version[0], 4);
}

/* ------------------------------------------------------------------ property */

#define PSKUS 5
#define PLOCS 4
#define PCHANNELS 2
#define PUNIQUE 1600
#define PFACTS 2000

static const long long safety_of[PLOCS] = {0, 1, 3, 0};
static const char *const channel_name[PCHANNELS] = {"web", "pickup"};
static const long long buffer_of[PCHANNELS] = {2, 0};
static const int member[PCHANNELS][PLOCS] = {{1, 1, 1, 0}, {0, 0, 1, 1}};

struct pfact {
    int sku, loc, authoritative; /* authoritative: source "erp", else "pos" */
    char position[EVENT_POSITION_LEN + 1];
    int present[3];
    long long q[3];
};

static void test_random_order_with_duplicates_converges(void **state)
{
    (void)state;
    unsigned seed = 0x5EED2024u;
    srand(seed);
    static struct pfact facts[PUNIQUE];
    /* distinct LSNs, shuffled, spanning the 32-bit boundary */
    static unsigned lsn_rank[PUNIQUE];
    for (unsigned i = 0; i < PUNIQUE; i++) lsn_rank[i] = i;
    for (unsigned i = PUNIQUE - 1; i > 0; i--) {
        unsigned j = (unsigned)rand() % (i + 1), t = lsn_rank[i];
        lsn_rank[i] = lsn_rank[j];
        lsn_rank[j] = t;
    }
    for (int i = 0; i < PUNIQUE; i++) {
        struct pfact *f = &facts[i];
        f->sku = rand() % PSKUS;
        f->loc = rand() % PLOCS;
        f->authoritative = rand() % 10 != 0;
        event_position_pg(f->position, 0xFFFFFC00ULL + 3ULL * lsn_rank[i], (uint32_t)(rand() % 3));
        int any = 0;
        for (int k = 0; k < 3; k++) {
            f->present[k] = rand() % 5 != 0;
            f->q[k] = rand() % 19 - 3; /* -3 … 15 */
            any |= f->present[k];
        }
        if (!any) f->present[rand() % 3] = 1;
    }
    static int order[PFACTS];
    for (int i = 0; i < PFACTS; i++) order[i] = i < PUNIQUE ? i : rand() % PUNIQUE;
    for (int i = PFACTS - 1; i > 0; i--) {
        int j = rand() % (i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }

    /* apply in that order, as merge would: each location with the channels it feeds */
    long long last_reported[PSKUS][PCHANNELS] = {{0}};
    long long last_version[PSKUS] = {0};
    int changes[PSKUS] = {0};
    for (int i = 0; i < PFACTS; i++) {
        const struct pfact *f = &facts[order[i]];
        char sku[16], loc[16], q[3][24], channels[64] = "";
        snprintf(sku, sizeof sku, "P%d", f->sku);
        snprintf(loc, sizeof loc, "L%d", f->loc);
        for (int k = 0; k < 3; k++) {
            if (f->present[k]) snprintf(q[k], sizeof q[k], "%lld", f->q[k]);
            else q[k][0] = 0;
        }
        for (int c = 0; c < PCHANNELS; c++)
            if (member[c][f->loc]) {
                size_t len = strlen(channels);
                snprintf(channels + len, sizeof channels - len, "%s%s:%lld", len ? "," : "",
                         channel_name[c], buffer_of[c]);
            }
        struct applied a = apply_fact(sku, loc, f->authoritative ? "erp" : "pos", f->position,
                                      f->authoritative, safety_of[f->loc], q[0], q[1], q[2],
                                      channels);
        if (!f->authoritative) {
            assert_int_equal(a.version, 0);
            assert_int_equal(a.n, 0);
        }
        if (a.version) {
            /* one version per change, in order, only when a channel changed */
            assert_int_equal(a.version, last_version[f->sku] + 1);
            assert_true(a.n > 0);
            last_version[f->sku] = a.version;
            changes[f->sku]++;
        } else {
            assert_int_equal(a.n, 0);
        }
        for (int c = 0; c < PCHANNELS; c++) {
            long long r = reported(&a, channel_name[c]);
            if (r >= 0) {
                assert_true(member[c][f->loc]);
                assert_true(r != last_reported[f->sku][c]); /* only real changes */
                last_reported[f->sku][c] = r;
            }
        }
    }

    /* the truth, computed independently: per (sku, location, source, kind) the value of
       the highest position that carried that kind */
    for (int s = 0; s < PSKUS; s++) {
        char sku[16];
        snprintf(sku, sizeof sku, "P%d", s);
        long long loc_available[PLOCS] = {0};
        for (int l = 0; l < PLOCS; l++) {
            char loc[16];
            snprintf(loc, sizeof loc, "L%d", l);
            int touched = 0;
            long long value[3] = {0, 0, 0};
            for (int src = 0; src < 2; src++) {
                int authoritative = src == 0;
                for (int k = 0; k < 3; k++) {
                    const struct pfact *best = NULL;
                    for (int i = 0; i < PUNIQUE; i++) {
                        const struct pfact *f = &facts[i];
                        if (f->sku != s || f->loc != l || f->authoritative != authoritative ||
                            !f->present[k])
                            continue;
                        if (!best || strcmp(f->position, best->position) > 0) best = f;
                    }
                    char field[32];
                    snprintf(field, sizeof field, "%s|%s|%c", loc, authoritative ? "erp" : "pos",
                             "ocu"[k]);
                    if (!best) {
                        assert_field(sku, 'f', field, NULL);
                        continue;
                    }
                    char want[64];
                    snprintf(want, sizeof want, "%s|%lld|" TS, best->position, best->q[k]);
                    assert_field(sku, 'f', field, want);
                    if (authoritative) {
                        value[k] = best->q[k];
                        touched = 1;
                    }
                }
            }
            long long avail = value[0] - value[1] - value[2] - safety_of[l];
            if (avail < 0) avail = 0;
            loc_available[l] = avail;
            if (touched) {
                char want[96];
                snprintf(want, sizeof want, "%lld|%lld|%lld|%lld", value[0], value[1], value[2],
                         avail);
                assert_field(sku, 'l', loc, want);
            } else {
                assert_field(sku, 'l', loc, NULL);
            }
        }
        for (int c = 0; c < PCHANNELS; c++) {
            long long want_sum = 0;
            for (int l = 0; l < PLOCS; l++)
                if (member[c][l]) want_sum += loc_available[l];
            long long want = want_sum - buffer_of[c] > 0 ? want_sum - buffer_of[c] : 0;
            long long sum, version;
            long long got = channel_available(sku, channel_name[c], &sum, &version);
            if (got != want || sum != want_sum)
                fail_msg("%s %s: stored sum %lld available %lld, truth sum %lld available %lld",
                         sku, channel_name[c], sum, got, want_sum, want);
            /* what was published last is what a channel ends up with */
            assert_int_equal(last_reported[s][c], want);
        }
        assert_int_equal(sku_version(sku), changes[s]);

        /* nothing delivered: exactly the channels that ever changed are pending, latest */
        struct pending p = pending(sku);
        for (int c = 0; c < PCHANNELS; c++) {
            long long version;
            long long avail = channel_available(sku, channel_name[c], NULL, &version);
            int i = pending_index(&p, channel_name[c]);
            if (version > 0) {
                assert_true(i >= 0);
                assert_int_equal(p.available[i], avail);
                assert_int_equal(p.version[i], version);
            } else {
                assert_int_equal(i, -1);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_first_fact_sets_availability, flush),
        cmocka_unit_test_setup(test_same_or_older_position_changes_nothing, flush),
        cmocka_unit_test_setup(test_newer_position_wins_in_any_arrival_order, flush),
        cmocka_unit_test_setup(test_locations_are_clamped_before_summing, flush),
        cmocka_unit_test_setup(test_safety_stock_is_held_back, flush),
        cmocka_unit_test_setup(test_safety_stock_never_goes_negative, flush),
        cmocka_unit_test_setup(test_channel_buffer_is_subtracted_and_floored, flush),
        cmocka_unit_test_setup(test_only_changed_channels_are_returned, flush),
        cmocka_unit_test_setup(test_version_grows_by_one_per_change, flush),
        cmocka_unit_test_setup(test_non_authoritative_fact_is_kept_but_not_counted, flush),
        cmocka_unit_test_setup(test_partial_quantities_keep_stored_kinds, flush),
        cmocka_unit_test_setup(test_fact_stale_for_one_kind_updates_only_the_fresh_kind, flush),
        cmocka_unit_test_setup(test_delivered_only_moves_forward, flush),
        cmocka_unit_test_setup(test_pending_lists_undelivered_channels, flush),
        cmocka_unit_test_setup(test_random_order_with_duplicates_converges, flush),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
