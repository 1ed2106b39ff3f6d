/* test_redis_function.c — the Redis function library v3 (appliance/redis/stockmesh.lua)
 * against a real Redis: replays and reordering are harmless, availability follows the
 * quantity model of DESIGN §3 (clamp per location, safety stock, channel buffer), each
 * kind comes from the source authoritative for it, the rules flag what an operator must
 * look at, the per-SKU version grows only with real changes, a rebuild agrees with the
 * incremental sums, what a channel has not received is always listed as pending, and
 * facts whose item code is unknown wait for the crosswalk.
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

enum { FLAG_MISMATCH = 1, FLAG_NEGATIVE = 2, FLAG_OVERCOMMITTED = 4 };

static struct servers_server server;
static redisContext *redis;
/* resend_pickup of the next rebuilds: what the caller passes when a pickup channel's
 * buffer changed since the last complete rebuild. */
static int resend_pickup;

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
    resend_pickup = 0;
    redisReply *r = redisCommand(redis, "FLUSHALL");
    int ok = r && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    return ok ? 0 : -1;
}

/* ------------------------------------------------------------------ calls */

#define MAX_CHANNELS 8
#define MAX_SOURCES 4

/* What merge passes for a location: the source authoritative for each kind ("" = none),
 * the mismatch tolerances and every configured source. */
struct rules {
    const char *auth[3];
    long long tolerance;
    int percent;
    const char *sources[MAX_SOURCES]; /* NULL-terminated */
};

/* one source that is the authority for everything, as in a single-ERP estate */
static const struct rules ERP = {{"erp", "erp", "erp"}, 0, 0, {"erp", NULL}};
/* three sources; a store counts its shelf through the till, the ERP knows its orders */
static const struct rules STORE = {{"pos", "erp", "erp"}, 0, 0, {"erp", "pos", "wms", NULL}};
static const struct rules WAREHOUSE = {{"wms", "wms", "wms"}, 0, 0, {"erp", "pos", "wms", NULL}};

struct applied {
    long long applied;
    long long version;
    long long flags_before, flags_after;
    char detail[128];
    int n;                             /* channels whose availability changed */
    char channel[MAX_CHANNELS][32];
    long long available[MAX_CHANNELS];
};

/* Appends the rule arguments as merge sends them. */
static int push_rules(const char **argv, int argc, const struct rules *r, char *tol, char *pct)
{
    for (int k = 0; k < 3; k++) argv[argc++] = r->auth[k];
    snprintf(tol, 24, "%lld", r->tolerance);
    snprintf(pct, 24, "%d", r->percent);
    argv[argc++] = tol;
    argv[argc++] = pct;
    static char counts[8][8];
    static int next;
    char *nsrc = counts[next++ % 8];
    int n = 0;
    while (n < MAX_SOURCES && r->sources[n]) n++;
    snprintf(nsrc, 8, "%d", n);
    argv[argc++] = nsrc;
    for (int i = 0; i < n; i++) argv[argc++] = r->sources[i];
    return argc;
}

/* One fact: quantities as text, "" when the row lacks that kind. channels is
 * "name:buffer,name:buffer" — the channels the location feeds, or "". */
static struct applied apply_fact(const char *sku, const char *location, const char *source,
                                 const char *position, long long safety, const char *on_hand,
                                 const char *committed, const char *unavailable,
                                 const struct rules *rules, const char *channels)
{
    char ks[160], kc[160], safety_s[24], tol[24], pct[24];
    snprintf(ks, sizeof ks, "sm:{%s}", sku);
    snprintf(kc, sizeof kc, "sm:{%s}:c", sku);
    snprintf(safety_s, sizeof safety_s, "%lld", safety);
    const char *argv[32 + MAX_SOURCES + 2 * MAX_CHANNELS];
    int argc = 0;
    argv[argc++] = "FCALL";
    argv[argc++] = "stockmesh_apply";
    argv[argc++] = "2";
    argv[argc++] = ks;
    argv[argc++] = kc;
    argv[argc++] = location;
    argv[argc++] = source;
    argv[argc++] = position;
    argv[argc++] = TS;
    argv[argc++] = safety_s;
    argv[argc++] = on_hand;
    argv[argc++] = committed;
    argv[argc++] = unavailable;
    argc = push_rules(argv, argc, rules, tol, pct);
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
    if (r->type != REDIS_REPLY_ARRAY)
        fail_msg("stockmesh_apply: %s", r->str ? r->str : "not an array");
    assert_true(r->elements >= 5 && (r->elements - 5) % 2 == 0);
    struct applied out = {0};
    for (int i = 0; i < 4; i++) assert_int_equal(r->element[i]->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->element[4]->type, REDIS_REPLY_STRING);
    out.applied = r->element[0]->integer;
    out.version = r->element[1]->integer;
    out.flags_before = r->element[2]->integer;
    out.flags_after = r->element[3]->integer;
    snprintf(out.detail, sizeof out.detail, "%s", r->element[4]->str);
    for (size_t i = 5; i + 1 < r->elements; i += 2) {
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

/* The single-source case: erp is the authority for every kind. */
static struct applied fact(const char *sku, const char *location, const char *position,
                           long long safety, const char *on_hand, const char *committed,
                           const char *unavailable, const char *channels)
{
    return apply_fact(sku, location, "erp", position, safety, on_hand, committed, unavailable,
                      &ERP, channels);
}

struct judged {
    long long flags;
    char detail[128];
    long long on_hand, committed, unavailable;
};

static struct judged judge(const char *sku, const char *location, const struct rules *rules)
{
    char ks[160], tol[24], pct[24];
    snprintf(ks, sizeof ks, "sm:{%s}", sku);
    const char *argv[16 + MAX_SOURCES];
    int argc = 0;
    argv[argc++] = "FCALL";
    argv[argc++] = "stockmesh_judge";
    argv[argc++] = "1";
    argv[argc++] = ks;
    argv[argc++] = location;
    argc = push_rules(argv, argc, rules, tol, pct);
    redisReply *r = redisCommandArgv(redis, argc, argv, NULL);
    assert_non_null(r);
    if (r->type != REDIS_REPLY_ARRAY) fail_msg("stockmesh_judge: %s", r->str ? r->str : "?");
    assert_int_equal(r->elements, 5);
    struct judged j = {0};
    j.flags = r->element[0]->integer;
    assert_int_equal(r->element[1]->type, REDIS_REPLY_STRING);
    snprintf(j.detail, sizeof j.detail, "%s", r->element[1]->str);
    j.on_hand = r->element[2]->integer;
    j.committed = r->element[3]->integer;
    j.unavailable = r->element[4]->integer;
    freeReplyObject(r);
    return j;
}

/* A position that sorts by n, in the compact form merge sends; the LSNs straddle the
 * 32-bit boundary around n = 256. */
static const char *P(unsigned n)
{
    static char ring[32][EVENT_POSITION_COMPACT_MAX + 1];
    static unsigned next;
    char *p = ring[next++ % 32], full[EVENT_POSITION_LEN + 1];
    event_position_pg(full, 0xFFFFFF00ULL + n, n % 3);
    event_position_compact(full, p);
    return p;
}

/* Available reported for channel in a reply, or -1 when the channel is not listed. */
static long long reported(const struct applied *a, const char *channel)
{
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->channel[i], channel) == 0) return a->available[i];
    return -1;
}

/* HGET as a malloc'd string; NULL when the field is absent. key: 's' for sm:{sku},
 * 'c' for sm:{sku}:c. */
static char *hget(const char *sku, char key, const char *field)
{
    char k[160];
    snprintf(k, sizeof k, key == 'c' ? "sm:{%s}:c" : "sm:{%s}", sku);
    redisReply *r = redisCommand(redis, "HGET %s %s", k, field);
    assert_non_null(r);
    char *out = r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
    if (r->type != REDIS_REPLY_STRING) assert_int_equal(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    return out;
}

static void assert_field(const char *sku, char key, const char *field, const char *want)
{
    char *got = hget(sku, key, field);
    const char *name = key == 'c' ? ":c" : "";
    if (!want && got) fail_msg("sm:{%s}%s %s is \"%s\", expected absent", sku, name, field, got);
    if (want && !got) fail_msg("sm:{%s}%s %s is absent, expected \"%s\"", sku, name, field, want);
    if (want && strcmp(got, want) != 0)
        fail_msg("sm:{%s}%s %s is \"%s\", expected \"%s\"", sku, name, field, got, want);
    free(got);
}

/* The stored text of a source's figures, built from its parts: positions given as they
 * must be stored ("=" for the same as the previous kind's). */
static const char *fact_text(const char *p1, const char *q1, const char *p2, const char *q2,
                             const char *p3, const char *q3)
{
    static char out[4][256];
    static int next;
    char *o = out[next++ % 4];
    if (strcmp(p2, "=") == 0 && strcmp(p3, "=") == 0 && *q1 && *q2 && *q3)
        snprintf(o, 256, TS "|%s|%s|%s|%s", p1, q1, q2, q3); /* one position for all */
    else
        snprintf(o, 256, TS "|%s|%s|%s|%s|%s|%s", p1, q1, p2, q2, p3, q3);
    return o;
}

static long long sku_version(const char *sku)
{
    char *v = hget(sku, 'c', "#v");
    long long n = v ? atoll(v) : 0;
    free(v);
    return n;
}

/* Channel's available value (the middle of "<sum>|<available>|<version>"; a pickup
 * store's "<available>|<version>", kept until delivered), 0 if absent. */
static long long channel_available(const char *sku, const char *channel, long long *sum,
                                   long long *version)
{
    char *v = hget(sku, 'c', channel);
    long long s = 0, a = 0, ver = 0;
    if (v && strchr(channel, '@')) {
        assert_int_equal(sscanf(v, "%lld|%lld", &a, &ver), 2);
        s = a;
    } else if (v) {
        assert_int_equal(sscanf(v, "%lld|%lld|%lld", &s, &a, &ver), 3);
    }
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
    assert_non_null(out);
    out[0] = 0;
    static const char *const suffixes[] = {"", ":c"};
    for (int k = 0; k < 2; k++) {
        char key[160];
        snprintf(key, sizeof key, "sm:{%s}%s", sku, suffixes[k]);
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
        for (size_t i = 0; i + 1 < r->elements && len < cap; i += 2)
            len += (size_t)snprintf(out + len, cap - len, "%s %s=%s\n", key, r->element[i]->str,
                                    r->element[i + 1]->str);
        freeReplyObject(r);
    }
    return out;
}

/* Fails naming the first line where two dumps differ; frees both. */
static void assert_same_dump(char *before, char *after, const char *what)
{
    if (strcmp(before, after) == 0) {
        free(before);
        free(after);
        return;
    }
    const char *b = before, *a = after;
    while (*b && *a) {
        size_t lb = strcspn(b, "\n"), la = strcspn(a, "\n");
        if (lb != la || memcmp(a, b, lb) != 0) break;
        b += lb + (b[lb] == '\n');
        a += la + (a[la] == '\n');
    }
    char was[256], now[256];
    snprintf(was, sizeof was, "%.*s", (int)strcspn(b, "\n"), b);
    snprintf(now, sizeof now, "%.*s", (int)strcspn(a, "\n"), a);
    free(before);
    free(after);
    fail_msg("%s changed what is stored: \"%s\" became \"%s\"", what, was, now);
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

/* One location as stockmesh_rebuild is told about it. */
struct rb_location {
    const char *code;
    long long safety;
    const char *auth[3];
    const char *channels[MAX_CHANNELS]; /* NULL-terminated */
};

struct rb_channel {
    const char *name;
    long long buffer;
};

struct rebuilt {
    long long version, dropped;
    int n;
    char channel[MAX_CHANNELS][32];
    long long available[MAX_CHANNELS];
};

/* stale: "source:position" items separated by commas, or "". */
static struct rebuilt rebuild(const char *sku, const char *stale, const struct rb_location *locs,
                              int nlocs, long long tolerance, int percent,
                              const char *const *sources, const struct rb_channel *channels,
                              int nchannels)
{
    enum { MAXARGS = 512 };
    const char *argv[MAXARGS];
    char nums[64][24];
    int nnums = 0, argc = 0;
#define NUM(v) (snprintf(nums[nnums], 24, "%lld", (long long)(v)), nums[nnums++])
    char ks[160], kc[160], list[256], *save = NULL;
    snprintf(ks, sizeof ks, "sm:{%s}", sku);
    snprintf(kc, sizeof kc, "sm:{%s}:c", sku);
    argv[argc++] = "FCALL";
    argv[argc++] = "stockmesh_rebuild";
    argv[argc++] = "2";
    argv[argc++] = ks;
    argv[argc++] = kc;
    argv[argc++] = resend_pickup ? "1" : "0";
    snprintf(list, sizeof list, "%s", stale);
    int nstale_at = argc++, nstale = 0;
    for (char *item = strtok_r(list, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(item, ':');
        assert_non_null(colon);
        *colon = 0;
        argv[argc++] = item;
        argv[argc++] = colon + 1;
        nstale++;
    }
    argv[nstale_at] = NUM(nstale);
    argv[argc++] = NUM(nlocs);
    for (int i = 0; i < nlocs; i++) {
        argv[argc++] = locs[i].code;
        argv[argc++] = NUM(locs[i].safety);
        for (int k = 0; k < 3; k++) argv[argc++] = locs[i].auth[k];
        int n = 0;
        while (n < MAX_CHANNELS && locs[i].channels[n]) n++;
        argv[argc++] = NUM(n);
        for (int c = 0; c < n; c++) argv[argc++] = locs[i].channels[c];
    }
    argv[argc++] = NUM(tolerance);
    argv[argc++] = NUM(percent);
    int ns = 0;
    while (sources[ns]) ns++;
    argv[argc++] = NUM(ns);
    for (int i = 0; i < ns; i++) argv[argc++] = sources[i];
    argv[argc++] = NUM(nchannels);
    for (int i = 0; i < nchannels; i++) {
        argv[argc++] = channels[i].name;
        argv[argc++] = NUM(channels[i].buffer);
    }
#undef NUM
    assert_true(argc < MAXARGS && nnums <= 64);
    redisReply *r = redisCommandArgv(redis, argc, argv, NULL);
    assert_non_null(r);
    if (r->type != REDIS_REPLY_ARRAY) fail_msg("stockmesh_rebuild: %s", r->str ? r->str : "?");
    assert_true(r->elements >= 2 && r->elements % 2 == 0);
    struct rebuilt out = {0};
    out.version = r->element[0]->integer;
    out.dropped = r->element[1]->integer;
    for (size_t i = 2; i + 1 < r->elements; i += 2) {
        assert_true(out.n < MAX_CHANNELS);
        snprintf(out.channel[out.n], sizeof out.channel[0], "%s", r->element[i]->str);
        out.available[out.n] = r->element[i + 1]->integer;
        out.n++;
    }
    freeReplyObject(r);
    return out;
}

static long long rebuilt_channel(const struct rebuilt *b, const char *channel)
{
    for (int i = 0; i < b->n; i++)
        if (strcmp(b->channel[i], channel) == 0) return b->available[i];
    return -1;
}

/* ------------------------------------------------------------------ apply */

static void test_first_fact_sets_availability(void **state)
{
    (void)state;
    struct applied a = fact("A", "WH1", P(1), 0, "10", "2", "1", "web:0");
    assert_int_equal(a.applied, 1);
    assert_int_equal(a.version, 1);
    assert_int_equal(a.flags_before, 0);
    assert_int_equal(a.flags_after, 0);
    assert_string_equal(a.detail, "");
    assert_int_equal(a.n, 1);
    assert_int_equal(reported(&a, "web"), 7);
    assert_field("A", 's', "WH1", "10|2|1|7");
    assert_field("A", 'c', "web", "7|7|1");
    assert_int_equal(sku_version("A"), 1);
    /* one table gave all three kinds: the position is written once */
    assert_field("A", 's', "WH1|erp", fact_text(P(1), "10", "=", "2", "=", "1"));
    /* other SKUs are untouched */
    assert_field("B", 's', "WH1", NULL);
    assert_field("B", 'c', "#v", NULL);
}

static void test_same_or_older_position_changes_nothing(void **state)
{
    (void)state;
    fact("A", "WH1", P(5), 0, "10", "0", "0", "web:0");
    fact("A", "S12", P(6), 0, "4", "0", "0", "web:0,pickup@S12:0");
    struct applied a = fact("A", "S14", P(7), 0, "-2", "1", "0", "pickup@S14:0");
    assert_int_equal(a.flags_after, FLAG_NEGATIVE | FLAG_OVERCOMMITTED);
    char *before = dump_sku("A");

    a = fact("A", "WH1", P(5), 0, "99", "1", "1", "web:0");
    assert_int_equal(a.applied, 0); /* replay of the same position */
    assert_int_equal(a.version, 0);
    assert_int_equal(a.n, 0);
    a = fact("A", "WH1", P(4), 0, "50", "0", "0", "web:0");
    assert_int_equal(a.applied, 0); /* older */
    assert_int_equal(a.n, 0);
    a = fact("A", "WH1", P(5), 0, "", "7", "", "web:0");
    assert_int_equal(a.applied, 0); /* a partial replay too */
    /* a duplicate reports the location's current flags, unchanged */
    a = fact("A", "S14", P(7), 0, "5", "0", "0", "pickup@S14:0");
    assert_int_equal(a.applied, 0);
    assert_int_equal(a.version, 0);
    assert_int_equal(a.flags_before, FLAG_NEGATIVE | FLAG_OVERCOMMITTED);
    assert_int_equal(a.flags_after, FLAG_NEGATIVE | FLAG_OVERCOMMITTED);

    char *after = dump_sku("A");
    assert_same_dump(before, after, "a replay");
    assert_int_equal(channel_available("A", "web", NULL, NULL), 14);
    assert_int_equal(sku_version("A"), 2);
}

static void test_newer_position_wins_in_any_arrival_order(void **state)
{
    (void)state;
    /* three changes of one row, delivered in all six orders: P(262) is the truth */
    static const int orders[6][3] = {{1, 2, 3}, {1, 3, 2}, {2, 1, 3},
                                     {2, 3, 1}, {3, 1, 2}, {3, 2, 1}};
    static const char *const on_hand[4] = {NULL, "3", "9", "5"};
    for (int o = 0; o < 6; o++) {
        char sku[16];
        snprintf(sku, sizeof sku, "ORD%d", o);
        for (int i = 0; i < 3; i++) {
            int n = orders[o][i];
            /* 254, 258, 262: on both sides of the 32-bit boundary */
            fact(sku, "WH1", P((unsigned)(250 + n * 4)), 0, on_hand[n], "0", "0", "web:0");
        }
        assert_field(sku, 's', "WH1", "5|0|0|5");
        assert_int_equal(channel_available(sku, "web", NULL, NULL), 5);
    }
}

static void test_locations_are_clamped_before_summing(void **state)
{
    (void)state;
    /* WH1 is oversold (2 on hand, 5 committed): its -3 must not eat S12's 4 */
    struct applied a = fact("A", "WH1", P(1), 0, "2", "5", "0", "web:0");
    assert_int_equal(a.applied, 1);
    assert_int_equal(a.n, 0); /* 0 stays 0 */
    assert_field("A", 's', "WH1", "2|5|0|0|4");
    a = fact("A", "S12", P(2), 0, "4", "0", "0", "web:0");
    assert_int_equal(reported(&a, "web"), 4);
    assert_int_equal(channel_available("A", "web", NULL, NULL), 4);

    /* the other order */
    fact("B", "S12", P(2), 0, "4", "0", "0", "web:0");
    a = fact("B", "WH1", P(1), 0, "2", "5", "0", "web:0");
    assert_int_equal(a.applied, 1);
    assert_int_equal(a.version, 0);
    assert_int_equal(a.n, 0);
    assert_int_equal(channel_available("B", "web", NULL, NULL), 4);

    /* negative on hand, and unavailable above on hand, clamp the same way */
    a = fact("B", "WH1", P(3), 0, "-6", "0", "0", "web:0");
    assert_int_equal(a.n, 0);
    a = fact("B", "WH2", P(4), 0, "1", "0", "9", "web:0");
    assert_int_equal(a.n, 0);
    assert_field("B", 's', "WH2", "1|0|9|0");
    assert_int_equal(channel_available("B", "web", NULL, NULL), 4);
    long long sum;
    channel_available("B", "web", &sum, NULL);
    assert_int_equal(sum, 4); /* the sum is of clamped figures too */
    /* and recover: WH1 back to 3 adds exactly 3 */
    a = fact("B", "WH1", P(5), 0, "3", "0", "0", "web:0");
    assert_int_equal(reported(&a, "web"), 7);
}

static void test_safety_stock_is_held_back(void **state)
{
    (void)state;
    struct applied a = fact("A", "S12", P(1), 2, "5", "0", "0", "web:0");
    assert_int_equal(reported(&a, "web"), 3);
    assert_field("A", 's', "S12", "5|0|0|3");
    a = fact("A", "S12", P(2), 2, "6", "1", "1", "web:0");
    assert_int_equal(reported(&a, "web"), 2); /* 6 - 1 - 1 - 2 */
    assert_field("A", 's', "S12", "6|1|1|2");
    /* a location without safety stock adds its whole figure */
    a = fact("A", "WH1", P(3), 0, "10", "0", "0", "web:0");
    assert_int_equal(reported(&a, "web"), 12);
}

static void test_safety_stock_never_goes_negative(void **state)
{
    (void)state;
    fact("A", "WH1", P(1), 0, "10", "0", "0", "web:0");
    struct applied a = fact("A", "S12", P(2), 2, "1", "0", "0", "web:0");
    assert_int_equal(a.applied, 1);
    assert_int_equal(a.n, 0); /* 1 - 2 clamps to 0: web stays 10, not 9 */
    assert_field("A", 's', "S12", "1|0|0|0");
    assert_int_equal(channel_available("A", "web", NULL, NULL), 10);
    a = fact("A", "S12", P(3), 2, "5", "0", "0", "web:0");
    assert_int_equal(reported(&a, "web"), 13);
}

static void test_channel_buffer_is_subtracted_and_floored(void **state)
{
    (void)state;
    struct applied a = fact("A", "WH1", P(1), 0, "5", "0", "0", "web:3");
    assert_int_equal(reported(&a, "web"), 2);
    assert_field("A", 'c', "web", "5|2|1");
    a = fact("A", "WH1", P(2), 0, "2", "0", "0", "web:3");
    assert_int_equal(reported(&a, "web"), 0); /* 2 - 3 floors at 0 */
    assert_int_equal(a.version, 2);
    a = fact("A", "WH1", P(3), 0, "1", "0", "0", "web:3");
    assert_int_equal(a.applied, 1); /* still 0 on the channel: no change to report */
    assert_int_equal(a.version, 0);
    assert_int_equal(a.n, 0);
    long long sum, version;
    assert_int_equal(channel_available("A", "web", &sum, &version), 0);
    assert_int_equal(sum, 1); /* the sum keeps counting below the buffer */
    assert_int_equal(version, 2);
    a = fact("A", "WH1", P(4), 0, "4", "0", "0", "web:3");
    assert_int_equal(reported(&a, "web"), 1);
}

static void test_only_changed_channels_are_returned(void **state)
{
    (void)state;
    /* S12 feeds web (no buffer) and marketplace (buffer 10); WH1 feeds web only */
    struct applied a = fact("A", "S12", P(1), 0, "5", "0", "0", "web:0,marketplace:10");
    assert_int_equal(a.n, 1);
    assert_int_equal(reported(&a, "web"), 5);
    assert_int_equal(reported(&a, "marketplace"), -1); /* 5 - 10 is still 0 */

    a = fact("A", "S12", P(2), 0, "12", "0", "0", "web:0,marketplace:10");
    assert_int_equal(a.n, 2);
    assert_int_equal(reported(&a, "web"), 12);
    assert_int_equal(reported(&a, "marketplace"), 2);

    a = fact("A", "WH1", P(3), 0, "8", "0", "0", "web:0");
    assert_int_equal(a.n, 1);
    assert_int_equal(reported(&a, "web"), 20);
    assert_int_equal(channel_available("A", "marketplace", NULL, NULL), 2);

    /* a change that cancels out on the location reports nothing */
    a = fact("A", "S12", P(4), 0, "13", "1", "0", "web:0,marketplace:10");
    assert_int_equal(a.applied, 1);
    assert_int_equal(a.n, 0);
    assert_int_equal(a.version, 0);
}

static void test_version_grows_by_one_per_change(void **state)
{
    (void)state;
    struct applied a = fact("A", "S12", P(1), 0, "5", "0", "0", "web:0,pickup@S12:0");
    assert_int_equal(a.version, 1);
    assert_int_equal(a.n, 2); /* two channels changed: still one version */
    assert_int_equal(sku_version("A"), 1);
    long long v_web, v_pickup;
    channel_available("A", "web", NULL, &v_web);
    channel_available("A", "pickup@S12", NULL, &v_pickup);
    assert_int_equal(v_web, 1);
    assert_int_equal(v_pickup, 1);

    /* newer position, same figures: applied, no change, no version */
    a = fact("A", "S12", P(2), 0, "5", "0", "0", "web:0,pickup@S12:0");
    assert_int_equal(a.applied, 1);
    assert_int_equal(a.version, 0);
    assert_int_equal(sku_version("A"), 1);

    /* duplicate: no version */
    a = fact("A", "S12", P(2), 0, "6", "0", "0", "web:0,pickup@S12:0");
    assert_int_equal(a.applied, 0);
    assert_int_equal(sku_version("A"), 1);

    a = fact("A", "WH1", P(3), 0, "2", "0", "0", "web:0");
    assert_int_equal(a.version, 2);
    channel_available("A", "web", NULL, &v_web);
    channel_available("A", "pickup@S12", NULL, &v_pickup);
    assert_int_equal(v_web, 2);
    assert_int_equal(v_pickup, 1); /* unchanged channels keep their version */

    a = fact("A", "S12", P(4), 0, "1", "0", "0", "web:0,pickup@S12:0");
    assert_int_equal(a.version, 3);
    assert_int_equal(sku_version("A"), 3);

    /* a change of a location that feeds no channel moves no version */
    a = fact("A", "DC9", P(5), 0, "40", "0", "0", "");
    assert_int_equal(a.applied, 1);
    assert_int_equal(a.version, 0);
    assert_int_equal(sku_version("A"), 3);

    /* versions are per SKU */
    a = fact("B", "S12", P(1), 0, "1", "0", "0", "web:0,pickup@S12:0");
    assert_int_equal(a.version, 1);
}

static void test_authority_is_per_kind(void **state)
{
    (void)state;
    const char *ch = "web:0,pickup@S12:0";
    /* the till is the authority for a store's on hand */
    struct applied a = apply_fact("A", "S12", "pos", P(1), 0, "10", "", "", &STORE, ch);
    assert_int_equal(reported(&a, "web"), 10);
    assert_field("A", 's', "S12", "10|0|0|10");
    assert_field("A", 's', "S12|pos", fact_text(P(1), "10", "", "", "", ""));

    /* the ERP's committed and unavailable count; its on hand is only kept */
    a = apply_fact("A", "S12", "erp", P(1), 0, "10", "2", "1", &STORE, ch);
    assert_int_equal(a.applied, 1);
    assert_int_equal(reported(&a, "web"), 7);
    assert_field("A", 's', "S12", "10|2|1|7");
    a = apply_fact("A", "S12", "erp", P(2), 0, "11", "2", "1", &STORE, ch);
    assert_int_equal(a.applied, 1); /* a figure that does not count moves nothing */
    assert_int_equal(a.version, 0);
    assert_int_equal(a.n, 0);
    assert_field("A", 's', "S12", "10|2|1|7|1"); /* but the location now disagrees */
    assert_field("A", 's', "S12|erp", fact_text(P(2), "11", "=", "2", "=", "1"));
    long long version = sku_version("A");

    /* the warehouse system counts nothing at a store; its figures are kept */
    a = apply_fact("A", "S12", "wms", P(9), 0, "10", "2", "1", &STORE, ch);
    assert_int_equal(a.applied, 1);
    assert_int_equal(a.version, 0);
    assert_int_equal(a.n, 0);
    assert_field("A", 's', "S12|wms", fact_text(P(9), "10", "=", "2", "=", "1"));
    /* and a till figure for committed does not count either */
    a = apply_fact("A", "S12", "pos", P(2), 0, "", "0", "", &STORE, ch);
    assert_int_equal(a.applied, 1);
    assert_int_equal(a.n, 0);
    assert_field("A", 's', "S12|pos", fact_text(P(1), "10", P(2), "0", "", ""));
    assert_field("A", 's', "S12", "10|2|1|7|1");
    assert_int_equal(sku_version("A"), version);

    /* each source's positions are its own: pos P(1) is old for pos, not for erp */
    a = apply_fact("A", "S12", "pos", P(1), 0, "4", "", "", &STORE, ch);
    assert_int_equal(a.applied, 0);
    a = apply_fact("A", "S12", "pos", P(3), 0, "4", "", "", &STORE, ch);
    assert_int_equal(reported(&a, "web"), 1);
    assert_int_equal(reported(&a, "pickup@S12"), 1);
    assert_field("A", 's', "S12", "4|2|1|1|1");

    /* at a warehouse the same ERP figures count for nothing */
    a = apply_fact("A", "WH1", "erp", P(4), 0, "50", "0", "0", &WAREHOUSE, "web:0");
    assert_int_equal(a.applied, 1);
    assert_int_equal(a.n, 0);
    assert_field("A", 's', "WH1", "0|0|0|0");
    a = apply_fact("A", "WH1", "wms", P(1), 0, "50", "5", "0", &WAREHOUSE, "web:0");
    assert_int_equal(reported(&a, "web"), 46);
    assert_field("A", 's', "WH1", "50|5|0|45|1"); /* erp's committed 0 is not wms's 5 */
}

/* Applies and checks that stockmesh_judge, asked right after, says the same. */
static struct applied apply_judged(const char *sku, const char *location, const char *source,
                                   const char *position, const char *on_hand,
                                   const char *committed, const char *unavailable,
                                   const struct rules *rules)
{
    struct applied a =
        apply_fact(sku, location, source, position, 0, on_hand, committed, unavailable, rules, "");
    char *before = dump_sku(sku);
    struct judged j = judge(sku, location, rules);
    char *after = dump_sku(sku);
    assert_same_dump(before, after, "stockmesh_judge"); /* read-only */
    assert_int_equal(j.flags, a.flags_after);
    assert_string_equal(j.detail, a.detail);
    char *row = hget(sku, 's', location);
    assert_non_null(row);
    long long oh, cm, un, av, fl = 0;
    /* the flags are written only when a rule is broken */
    assert_true(sscanf(row, "%lld|%lld|%lld|%lld|%lld", &oh, &cm, &un, &av, &fl) >= 4);
    free(row);
    assert_int_equal(j.on_hand, oh);
    assert_int_equal(j.committed, cm);
    assert_int_equal(j.unavailable, un);
    assert_int_equal(fl, a.flags_after);
    return a;
}

static void test_mismatch_within_absolute_tolerance(void **state)
{
    (void)state;
    struct rules r = STORE;
    r.tolerance = 2;
    struct applied a = apply_judged("A", "S12", "pos", P(1), "10", "", "", &r);
    assert_int_equal(a.flags_after, 0);
    a = apply_judged("A", "S12", "erp", P(1), "12", "0", "0", &r);
    assert_int_equal(a.flags_after, 0); /* 2 apart: within the tolerance */
    assert_string_equal(a.detail, "");
    a = apply_judged("A", "S12", "erp", P(2), "13", "0", "0", &r);
    assert_int_equal(a.flags_before, 0);
    assert_int_equal(a.flags_after, FLAG_MISMATCH);
    assert_string_equal(a.detail, "erp|on_hand|13|10");
    /* the authority moving closer clears it, moving away raises it again */
    a = apply_judged("A", "S12", "pos", P(2), "11", "", "", &r);
    assert_int_equal(a.flags_before, FLAG_MISMATCH);
    assert_int_equal(a.flags_after, 0);
    assert_string_equal(a.detail, "");
    a = apply_judged("A", "S12", "pos", P(3), "20", "", "", &r);
    assert_int_equal(a.flags_after, FLAG_MISMATCH);
    assert_string_equal(a.detail, "erp|on_hand|13|20");
    /* a duplicate changes nothing and says what holds */
    a = apply_fact("A", "S12", "pos", P(3), 0, "13", "", "", &r, "");
    assert_int_equal(a.applied, 0);
    assert_int_equal(a.flags_before, FLAG_MISMATCH);
    assert_int_equal(a.flags_after, FLAG_MISMATCH);

    /* every kind is compared with its own authority, and the kind is named */
    apply_judged("A", "S14", "pos", P(4), "10", "", "", &r);
    a = apply_judged("A", "S14", "erp", P(3), "", "4", "", &r);
    assert_int_equal(a.flags_after, 0); /* nobody else says anything about committed */
    a = apply_judged("A", "S14", "wms", P(1), "", "7", "", &r);
    assert_int_equal(a.flags_after, FLAG_MISMATCH);
    assert_string_equal(a.detail, "wms|committed|7|4");
    a = apply_judged("A", "S14", "wms", P(2), "", "6", "", &r);
    assert_int_equal(a.flags_after, 0);

    /* no authoritative figure: nothing to disagree with */
    a = apply_judged("A", "S16", "wms", P(3), "100", "100", "100", &r);
    assert_int_equal(a.flags_after, 0);
    assert_string_equal(a.detail, "");
}

static void test_mismatch_within_percent_tolerance(void **state)
{
    (void)state;
    struct rules r = STORE;
    r.percent = 10;
    apply_judged("B", "S12", "pos", P(1), "50", "", "", &r);
    struct applied a = apply_judged("B", "S12", "erp", P(1), "55", "", "", &r);
    assert_int_equal(a.flags_after, 0); /* 10 % of 50 */
    a = apply_judged("B", "S12", "erp", P(2), "56", "", "", &r);
    assert_int_equal(a.flags_after, FLAG_MISMATCH);
    assert_string_equal(a.detail, "erp|on_hand|56|50");
    a = apply_judged("B", "S12", "erp", P(3), "44", "", "", &r);
    assert_string_equal(a.detail, "erp|on_hand|44|50"); /* below as well as above */
    a = apply_judged("B", "S12", "erp", P(4), "45", "", "", &r);
    assert_int_equal(a.flags_after, 0);

    /* both given: the larger allowance holds */
    r.tolerance = 3;
    apply_judged("C", "S12", "pos", P(1), "10", "", "", &r);
    a = apply_judged("C", "S12", "erp", P(1), "13", "", "", &r);
    assert_int_equal(a.flags_after, 0); /* 3 units beat 10 % of 10 */
    a = apply_judged("C", "S12", "erp", P(2), "14", "", "", &r);
    assert_int_equal(a.flags_after, FLAG_MISMATCH);
    apply_judged("C", "S12", "pos", P(2), "100", "", "", &r);
    a = apply_judged("C", "S12", "erp", P(3), "110", "", "", &r);
    assert_int_equal(a.flags_after, 0); /* 10 % of 100 beats 3 units */
    a = apply_judged("C", "S12", "erp", P(4), "111", "", "", &r);
    assert_int_equal(a.flags_after, FLAG_MISMATCH);
    assert_string_equal(a.detail, "erp|on_hand|111|100");

    /* judge recomputes under the rules it is given, it does not echo the stored flags */
    struct rules loose = r;
    loose.tolerance = 50;
    struct judged j = judge("C", "S12", &loose);
    assert_int_equal(j.flags, 0);
    assert_string_equal(j.detail, "");
    assert_field("C", 's', "S12", "100|0|0|100|1");
}

static void test_negative_and_overcommitted_are_flagged(void **state)
{
    (void)state;
    struct applied a = apply_judged("A", "WH1", "erp", P(1), "5", "2", "0", &ERP);
    assert_int_equal(a.flags_after, 0);
    a = apply_judged("A", "WH1", "erp", P(2), "5", "6", "0", &ERP);
    assert_int_equal(a.flags_after, FLAG_OVERCOMMITTED);
    assert_string_equal(a.detail, "");
    a = apply_judged("A", "WH1", "erp", P(3), "5", "5", "0", &ERP);
    assert_int_equal(a.flags_after, 0); /* all promised is not over-promised */
    a = apply_judged("A", "WH1", "erp", P(4), "-2", "1", "0", &ERP);
    assert_int_equal(a.flags_before, 0);
    assert_int_equal(a.flags_after, FLAG_NEGATIVE | FLAG_OVERCOMMITTED);
    assert_field("A", 's', "WH1", "-2|1|0|0|6");
    a = apply_judged("A", "WH1", "erp", P(5), "-1", "", "", &ERP);
    assert_true(a.flags_after & FLAG_NEGATIVE);
    a = apply_judged("A", "WH1", "erp", P(6), "0", "0", "0", &ERP);
    assert_int_equal(a.flags_before & FLAG_NEGATIVE, FLAG_NEGATIVE);
    assert_int_equal(a.flags_after, 0);

    /* the rules read the authoritative figures: a non-authoritative negative is only a
       disagreement */
    struct applied b = apply_judged("A", "S12", "pos", P(1), "3", "", "", &STORE);
    assert_int_equal(b.flags_after, 0);
    b = apply_judged("A", "S12", "erp", P(1), "-4", "0", "0", &STORE);
    assert_int_equal(b.flags_after, FLAG_MISMATCH);
    assert_string_equal(b.detail, "erp|on_hand|-4|3");
    b = apply_judged("A", "S12", "erp", P(2), "3", "7", "0", &STORE);
    assert_int_equal(b.flags_after, FLAG_OVERCOMMITTED); /* committed is the ERP's */
}

static void test_pickup_is_per_location(void **state)
{
    (void)state;
    struct applied a = fact("A", "S12", P(1), 0, "5", "0", "0", "web:0,pickup@S12:1");
    assert_int_equal(reported(&a, "web"), 5);
    assert_int_equal(reported(&a, "pickup@S12"), 4);
    a = fact("A", "S14", P(2), 1, "3", "0", "0", "pickup@S14:1");
    assert_int_equal(a.n, 1); /* S14 ships nothing: web is not touched */
    assert_int_equal(reported(&a, "pickup@S14"), 1);
    /* "<available>|<version>", kept until delivered */
    assert_field("A", 'c', "pickup@S12", "4|1");
    assert_field("A", 'c', "pickup@S14", "1|2");
    assert_field("A", 'c', "pickup", NULL); /* never summed across stores */
    assert_field("A", 'c', "web", "5|5|1");

    a = fact("A", "S12", P(3), 0, "1", "0", "0", "web:0,pickup@S12:1");
    assert_int_equal(reported(&a, "pickup@S12"), 0);
    assert_int_equal(reported(&a, "pickup@S14"), -1);
    assert_int_equal(channel_available("A", "pickup@S14", NULL, NULL), 1);

    /* each store's pickup is delivered and pending on its own */
    struct pending p = pending("A");
    assert_int_equal(p.n, 3);
    assert_int_equal(delivered("A", "pickup@S14", 2), 1);
    /* delivered, the store's figure is its row: nothing is kept per store */
    assert_field("A", 'c', "pickup@S14", NULL);
    assert_field("A", 'c', "pickup@S14#d", NULL);
    p = pending("A");
    assert_int_equal(p.n, 2);
    assert_int_equal(pending_index(&p, "pickup@S14"), -1);
    int i = pending_index(&p, "pickup@S12");
    assert_true(i >= 0);
    assert_int_equal(p.available[i], 0);
    assert_int_equal(p.version[i], 3);
    /* a delivered store's next change is measured from its row */
    a = fact("A", "S14", P(4), 1, "7", "0", "0", "pickup@S14:1");
    assert_int_equal(reported(&a, "pickup@S14"), 5);
    assert_field("A", 'c', "pickup@S14", "5|4");
}

static void test_positions_per_kind_round_trip(void **state)
{
    (void)state;
    /* the ERP gives on hand and unavailable in one table, committed in another: their
       positions differ, and what is stored must keep each kind's own */
    fact("A", "WH1", P(3), 0, "10", "2", "1", "web:0");
    assert_field("A", 's', "WH1|erp", fact_text(P(3), "10", "=", "2", "=", "1"));
    /* "=" reads back as P(3): an older committed is refused */
    struct applied a = fact("A", "WH1", P(2), 0, "", "9", "", "web:0");
    assert_int_equal(a.applied, 0);
    a = fact("A", "WH1", P(7), 0, "", "3", "", "web:0");
    assert_int_equal(a.applied, 1);
    assert_field("A", 's', "WH1|erp", fact_text(P(3), "10", P(7), "3", P(3), "1"));
    /* the first table's next change, older than the committed one */
    a = fact("A", "WH1", P(5), 0, "12", "", "0", "web:0");
    assert_int_equal(a.applied, 1);
    assert_field("A", 's', "WH1|erp", fact_text(P(5), "12", P(7), "3", P(5), "0"));
    assert_field("A", 's', "WH1", "12|3|0|9");
    /* a fact with all three at P(6): committed is stale, the others are not */
    a = fact("A", "WH1", P(6), 0, "20", "0", "2", "web:0");
    assert_int_equal(a.applied, 1);
    assert_int_equal(reported(&a, "web"), 15);
    assert_field("A", 's', "WH1", "20|3|2|15");
    assert_field("A", 's', "WH1|erp", fact_text(P(6), "20", P(7), "3", P(6), "2"));
    /* and one newer than all: back to one position */
    fact("A", "WH1", P(8), 0, "20", "3", "2", "web:0");
    assert_field("A", 's', "WH1|erp", fact_text(P(8), "20", "=", "3", "=", "2"));

    /* a kind never given stays empty, and "=" refers to the last given position */
    fact("B", "WH1", P(4), 0, "", "2", "1", "web:0");
    assert_field("B", 's', "WH1|erp", fact_text("", "", P(4), "2", "=", "1"));
    a = fact("B", "WH1", P(3), 0, "", "", "5", "web:0");
    assert_int_equal(a.applied, 0);
    a = fact("B", "WH1", P(2), 0, "10", "", "", "web:0");
    assert_int_equal(a.applied, 1); /* on hand had no position yet */
    assert_field("B", 's', "WH1|erp", fact_text(P(2), "10", P(4), "2", "=", "1"));
    assert_field("B", 's', "WH1", "10|2|1|7");
    a = fact("B", "WH1", P(4), 0, "", "", "5", "web:0");
    assert_int_equal(a.applied, 0);
    a = fact("B", "WH1", P(5), 0, "", "", "5", "web:0");
    assert_int_equal(a.applied, 1);
    assert_field("B", 's', "WH1|erp", fact_text(P(2), "10", P(4), "2", P(5), "5"));
    assert_field("B", 's', "WH1", "10|2|5|3");
}

static void test_partial_quantities_keep_stored_kinds(void **state)
{
    (void)state;
    fact("A", "WH1", P(1), 0, "10", "2", "1", "web:0");
    struct applied a = fact("A", "WH1", P(2), 0, "", "5", "", "web:0");
    assert_int_equal(reported(&a, "web"), 4);
    assert_field("A", 's', "WH1", "10|5|1|4");
    a = fact("A", "WH1", P(3), 0, "12", "", "", "web:0");
    assert_int_equal(reported(&a, "web"), 6);
    assert_field("A", 's', "WH1", "12|5|1|6");
    a = fact("A", "WH1", P(4), 0, "", "", "0", "web:0");
    assert_int_equal(reported(&a, "web"), 7);
    assert_field("A", 's', "WH1", "12|5|0|7");
    assert_field("A", 's', "WH1|erp", fact_text(P(3), "12", P(2), "5", P(4), "0"));
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
    fact("A", "S12", P(1), 0, "5", "0", "0", "pickup@S12:0"); /* version 1 */
    fact("A", "S12", P(2), 0, "4", "0", "0", "pickup@S12:0"); /* version 2 */
    assert_int_equal(delivered("A", "pickup@S12", 1), 0); /* version 2 still waits */
    assert_field("A", 'c', "pickup@S12", "4|2");
    assert_int_equal(delivered("A", "pickup@S12", 2), 1);
    assert_field("A", 'c', "pickup@S12", NULL);
    assert_int_equal(delivered("A", "pickup@S12", 2), 0); /* nothing left to deliver */
    assert_field("A", 'c', "web#d", "10");
}

static void test_pending_lists_undelivered_channels(void **state)
{
    (void)state;
    struct pending p = pending("A");
    assert_int_equal(p.n, 0); /* nothing known yet */

    /* web and pickup change; marketplace is fed but its buffer keeps it at 0 */
    fact("A", "S12", P(1), 0, "5", "0", "0", "web:0,pickup@S12:1,marketplace:100");
    fact("A", "WH1", P(2), 0, "4", "0", "0", "web:0,marketplace:100");
    p = pending("A");
    assert_int_equal(p.n, 2);
    int w = pending_index(&p, "web"), k = pending_index(&p, "pickup@S12");
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
    assert_string_equal(p.channel[0], "pickup@S12");

    /* an older delivery does not clear what is newer */
    assert_int_equal(delivered("A", "pickup@S12", 0), 0);
    p = pending("A");
    assert_int_equal(p.n, 1);

    assert_int_equal(delivered("A", "pickup@S12", 1), 1);
    p = pending("A");
    assert_int_equal(p.n, 0);

    /* a new change makes the channel pending again, with the latest value only */
    fact("A", "WH1", P(3), 0, "7", "0", "0", "web:0,marketplace:100");
    fact("A", "WH1", P(4), 0, "8", "0", "0", "web:0,marketplace:100");
    p = pending("A");
    assert_int_equal(p.n, 1);
    assert_string_equal(p.channel[0], "web");
    assert_int_equal(p.available[0], 13);
    assert_int_equal(p.version[0], 4);
    /* a replay of what was delivered makes nothing pending */
    fact("A", "S12", P(1), 0, "5", "0", "0", "web:0,pickup@S12:1,marketplace:100");
    p = pending("A");
    assert_int_equal(p.n, 1);
}

/* ------------------------------------------------------------------ rebuild */

static const char *const ERP_ONLY[] = {"erp", NULL};

static void test_rebuild_applies_a_new_safety_stock(void **state)
{
    (void)state;
    fact("A", "S12", P(1), 2, "10", "1", "0", "web:0,pickup@S12:0");
    struct applied a = fact("A", "WH1", P(2), 0, "5", "0", "0", "web:0");
    assert_int_equal(reported(&a, "web"), 12);
    assert_int_equal(sku_version("A"), 2);

    /* S12's safety stock goes from 2 to 4 */
    struct rb_location locs[] = {
        {"WH1", 0, {"erp", "erp", "erp"}, {"web", NULL}},
        {"S12", 4, {"erp", "erp", "erp"}, {"web", "pickup@S12", NULL}},
    };
    struct rb_channel chans[] = {{"web", 0}, {"pickup@S12", 0}};
    struct rebuilt b = rebuild("A", "", locs, 2, 0, 0, ERP_ONLY, chans, 2);
    assert_int_equal(b.version, 3); /* one version for the whole rebuild */
    assert_int_equal(b.dropped, 0);
    assert_int_equal(b.n, 2);
    assert_int_equal(rebuilt_channel(&b, "web"), 10);
    assert_int_equal(rebuilt_channel(&b, "pickup@S12"), 5);
    assert_field("A", 's', "S12", "10|1|0|5");
    assert_field("A", 's', "WH1", "5|0|0|5");
    assert_field("A", 'c', "web", "10|10|3");
    assert_field("A", 'c', "pickup@S12", "5|3");
    assert_int_equal(sku_version("A"), 3);

    /* the same configuration again: nothing changes, no version */
    char *before = dump_sku("A");
    b = rebuild("A", "", locs, 2, 0, 0, ERP_ONLY, chans, 2);
    assert_int_equal(b.version, 0);
    assert_int_equal(b.n, 0);
    assert_same_dump(before, dump_sku("A"), "a second rebuild");

    /* a new safety stock that moves no availability (S14 holds its only unit back
       either way) moves no version */
    a = fact("A", "S14", P(3), 1, "1", "0", "0", "web:0");
    assert_int_equal(a.n, 0);
    long long version = sku_version("A");
    struct rb_location more[] = {
        locs[0], locs[1], {"S14", 3, {"erp", "erp", "erp"}, {"web", NULL}}};
    b = rebuild("A", "", more, 3, 0, 0, ERP_ONLY, chans, 2);
    assert_int_equal(b.version, 0);
    assert_int_equal(b.n, 0);
    assert_int_equal(sku_version("A"), version);
    assert_field("A", 's', "S14", "1|0|0|0");

    /* and later facts carry on from the rebuilt sums */
    a = fact("A", "S12", P(4), 4, "12", "1", "0", "web:0,pickup@S12:0");
    assert_int_equal(reported(&a, "web"), 12);
    assert_int_equal(reported(&a, "pickup@S12"), 7);
}

static void test_rebuild_resends_pickup_only_when_asked(void **state)
{
    (void)state;
    fact("A", "S12", P(1), 0, "10", "0", "0", "web:0,pickup@S12:2");
    fact("A", "S14", P(2), 0, "4", "0", "0", "web:0,pickup@S14:2");
    assert_int_equal(delivered("A", "pickup@S12", 1), 1);
    assert_int_equal(delivered("A", "pickup@S14", 2), 1);
    assert_int_equal(delivered("A", "web", 2), 1);
    assert_int_equal(pending("A").n, 0);
    struct rb_location locs[] = {
        {"S12", 0, {"erp", "erp", "erp"}, {"web", "pickup@S12", NULL}},
        {"S14", 0, {"erp", "erp", "erp"}, {"web", "pickup@S14", NULL}},
    };
    /* the same buffers: the delivered figures are the rows', nothing goes out */
    struct rb_channel same[] = {{"web", 0}, {"pickup@S12", 2}, {"pickup@S14", 2}};
    struct rebuilt b = rebuild("A", "", locs, 2, 0, 0, ERP_ONLY, same, 3);
    assert_int_equal(b.n, 0);
    assert_int_equal(pending("A").n, 0);
    /* pickup's buffer went from 2 to 3: the caller asks for every store again */
    struct rb_channel changed[] = {{"web", 0}, {"pickup@S12", 3}, {"pickup@S14", 3}};
    resend_pickup = 1;
    b = rebuild("A", "", locs, 2, 0, 0, ERP_ONLY, changed, 3);
    assert_int_equal(b.n, 2);
    assert_int_equal(rebuilt_channel(&b, "pickup@S12"), 7);
    assert_int_equal(rebuilt_channel(&b, "pickup@S14"), 1);
    assert_field("A", 'c', "pickup@S12", "7|3");
    assert_int_equal(pending("A").n, 2);
}

static void test_rebuild_drops_what_a_reread_did_not_see(void **state)
{
    (void)state;
    fact("A", "WH1", P(1), 0, "4", "0", "0", "web:0");
    fact("A", "WH2", P(5), 0, "6", "0", "0", "web:0");
    fact("A", "S12", P(3), 0, "3", "0", "0", "web:0");
    /* the till's figures at S12 are not the ERP's and are not re-read */
    apply_fact("A", "S12", "pos", P(1), 0, "3", "", "", &ERP, "web:0");
    /* two ERP tables at WH3: one seen again by the re-read (P(6)), one not (P(2)) */
    fact("A", "WH3", P(2), 0, "2", "", "", "web:0");
    fact("A", "WH3", P(6), 0, "", "1", "", "web:0");
    assert_int_equal(channel_available("A", "web", NULL, NULL), 14);
    long long version = sku_version("A");

    struct rb_location locs[] = {
        {"WH1", 0, {"erp", "erp", "erp"}, {"web", NULL}},
        {"WH2", 0, {"erp", "erp", "erp"}, {"web", NULL}},
        {"WH3", 0, {"erp", "erp", "erp"}, {"web", NULL}},
        {"S12", 0, {"erp", "erp", "erp"}, {"web", NULL}},
    };
    struct rb_channel chans[] = {{"web", 0}};
    static const char *const sources[] = {"erp", "pos", NULL};
    char stale[64];
    snprintf(stale, sizeof stale, "erp:%s", P(4));
    struct rebuilt b = rebuild("A", stale, locs, 4, 0, 0, sources, chans, 1);
    assert_int_equal(b.dropped, 2); /* WH1 and S12 of erp */
    assert_int_equal(b.version, version + 1);
    assert_int_equal(rebuilt_channel(&b, "web"), 7); /* WH2 6 + WH3 2 - 1 */
    assert_field("A", 's', "WH1|erp", NULL);
    assert_field("A", 's', "WH1", NULL); /* nothing left there */
    assert_field("A", 's', "S12|erp", NULL);
    assert_field("A", 's', "S12|pos", fact_text(P(1), "3", "", "", "", ""));
    assert_field("A", 's', "S12", "0|0|0|0");
    assert_field("A", 's', "WH2", "6|0|0|6");
    assert_field("A", 's', "WH3", "2|1|0|1");
    char want[64];
    snprintf(want, sizeof want, "7|7|%lld", version + 1);
    assert_field("A", 'c', "web", want);

    /* a replay of what was dropped is refused no more: the rows are gone, the re-read
       that found them gone is the truth until the source says otherwise */
    struct applied a = fact("A", "WH1", P(7), 0, "5", "0", "0", "web:0");
    assert_int_equal(reported(&a, "web"), 12);
}

static void test_rebuild_removes_channels_no_longer_configured(void **state)
{
    (void)state;
    fact("A", "WH1", P(1), 0, "8", "0", "0", "web:0,marketplace:2");
    fact("A", "S12", P(2), 0, "3", "0", "0", "web:0,pickup@S12:0");
    assert_int_equal(delivered("A", "marketplace", 1), 1);
    assert_int_equal(delivered("A", "pickup@S12", 2), 1);
    assert_field("A", 'c', "marketplace", "8|6|1");

    /* marketplace and S12's pickup are gone from the configuration; outlet is new */
    struct rb_location locs[] = {
        {"WH1", 0, {"erp", "erp", "erp"}, {"web", "outlet", NULL}},
        {"S12", 0, {"erp", "erp", "erp"}, {"web", NULL}},
    };
    struct rb_channel chans[] = {{"web", 0}, {"outlet", 5}};
    struct rebuilt b = rebuild("A", "", locs, 2, 0, 0, ERP_ONLY, chans, 2);
    assert_int_equal(b.version, 3);
    assert_int_equal(b.n, 1);
    assert_int_equal(rebuilt_channel(&b, "outlet"), 3);
    assert_field("A", 'c', "marketplace", NULL);
    assert_field("A", 'c', "marketplace#d", NULL);
    assert_field("A", 'c', "pickup@S12", NULL);
    assert_field("A", 'c', "pickup@S12#d", NULL);
    assert_field("A", 'c', "web", "11|11|2");
    assert_field("A", 'c', "outlet", "8|3|3");
    struct pending p = pending("A");
    assert_int_equal(p.n, 2);
    assert_true(pending_index(&p, "web") >= 0);
    assert_true(pending_index(&p, "outlet") >= 0);

    /* a location no longer configured leaves the sums and its row goes */
    struct rb_location fewer[] = {locs[0]};
    b = rebuild("A", "", fewer, 1, 0, 0, ERP_ONLY, chans, 2);
    assert_int_equal(b.version, 4);
    assert_int_equal(rebuilt_channel(&b, "web"), 8);
    assert_field("A", 's', "S12", NULL);
    assert_field("A", 's', "S12|erp", fact_text(P(2), "3", "=", "0", "=", "0"));
}

/* ------------------------------------------------------------------ crosswalk */

#define XW "sm:{xw:items}"
#define XW_PENDING "sm:{xw:items}:pending"

/* stockmesh_translate: the SKU, or NULL when the code is unknown (the fact waits). */
static char *translate(const char *code, const char *now_ms, const char *deferred)
{
    redisReply *r = redisCommand(redis, "FCALL stockmesh_translate 2 %s %s %s %s %s", XW,
                                 XW_PENDING, code, now_ms, deferred);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR) fail_msg("stockmesh_translate: %s", r->str);
    char *out = r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
    if (!out) assert_int_equal(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    return out;
}

/* A list reply joined with commas. */
static char *joined(redisReply *r)
{
    assert_non_null(r);
    if (r->type != REDIS_REPLY_ARRAY) fail_msg("expected a list: %s", r->str ? r->str : "?");
    char *out = calloc(1, 4096);
    assert_non_null(out);
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        size_t len = strlen(out);
        if (e->type == REDIS_REPLY_ARRAY) {
            char *inner = joined((redisReply *)e);
            snprintf(out + len, 4096 - len, "%s[%s]", i ? "," : "", inner);
            free(inner);
        } else {
            snprintf(out + len, 4096 - len, "%s%s", i ? "," : "", e->str);
        }
    }
    return out;
}

static char *crosswalk(const char *code, const char *sku)
{
    redisReply *r = redisCommand(redis, "FCALL stockmesh_crosswalk 2 %s %s %s %s", XW,
                                 XW_PENDING, code, sku);
    char *out = joined(r);
    freeReplyObject(r);
    return out;
}

static void crosswalk_done(const char *code, int n)
{
    redisReply *r = redisCommand(redis, "FCALL stockmesh_crosswalk_done 1 %s %s %d", XW_PENDING,
                                 code, n);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    freeReplyObject(r);
}

static char *expired_codes(const char *older_than_ms, int limit)
{
    redisReply *r = redisCommand(redis, "FCALL stockmesh_expired_codes 1 %s %s %d", XW_PENDING,
                                 older_than_ms, limit);
    char *out = joined(r);
    freeReplyObject(r);
    return out;
}

static char *redis_text(const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    redisReply *r = redisvCommand(redis, format, ap);
    va_end(ap);
    assert_non_null(r);
    char *out = NULL;
    if (r->type == REDIS_REPLY_STRING) out = strdup(r->str);
    else if (r->type == REDIS_REPLY_INTEGER) {
        out = malloc(24);
        assert_non_null(out);
        snprintf(out, 24, "%lld", r->integer);
    }
    else if (r->type == REDIS_REPLY_ARRAY) out = joined(r);
    freeReplyObject(r);
    return out;
}

static void assert_text(char *got, const char *want)
{
    if (!want && got) fail_msg("got \"%s\", expected nothing", got);
    if (want && !got) fail_msg("got nothing, expected \"%s\"", want);
    if (want) assert_string_equal(got, want);
    free(got);
}

static void test_unknown_item_waits_for_the_crosswalk(void **state)
{
    (void)state;
    assert_text(translate("U1", "1000", "fact-1"), NULL);
    assert_text(translate("U1", "2000", "fact-2"), NULL);
    assert_text(translate("U2", "5000", "other-1"), NULL);
    /* the code waits since its first fact */
    assert_text(redis_text("ZSCORE %s U1", XW_PENDING), "1000");
    assert_text(redis_text("LRANGE %s:U1 0 -1", XW_PENDING), "fact-1,fact-2");

    /* the crosswalk learns U1: its facts come back oldest first, for the caller to apply */
    assert_text(crosswalk("U1", "SKU-1"), "fact-1,fact-2");
    assert_text(translate("U1", "3000", "fact-3"), "SKU-1"); /* translated, not kept */
    assert_text(redis_text("LRANGE %s:U1 0 -1", XW_PENDING), "fact-1,fact-2");
    assert_text(redis_text("HGET %s U1", XW), "SKU-1");

    /* no longer waiting for the crosswalk: the expiry sweep leaves them alone while
       the caller applies them */
    assert_text(redis_text("ZSCORE %s U1", XW_PENDING), NULL);
    /* done with one of them: the other is still kept until applied */
    crosswalk_done("U1", 1);
    assert_text(redis_text("LRANGE %s:U1 0 -1", XW_PENDING), "fact-2");
    crosswalk_done("U1", 1);
    assert_text(redis_text("EXISTS %s:U1", XW_PENDING), "0");
    assert_text(redis_text("ZSCORE %s U1", XW_PENDING), NULL);
    /* U2 is not affected */
    assert_text(redis_text("ZSCORE %s U2", XW_PENDING), "5000");

    /* a code the crosswalk forgets defers again */
    assert_text(crosswalk("U1", ""), "");
    assert_text(redis_text("HGET %s U1", XW), NULL);
    assert_text(translate("U1", "9000", "fact-4"), NULL);
    assert_text(redis_text("ZSCORE %s U1", XW_PENDING), "9000");
}

static void test_expired_codes_are_handed_over_once(void **state)
{
    (void)state;
    assert_text(translate("V1", "100", "v1-a"), NULL);
    assert_text(translate("V1", "150", "v1-b"), NULL);
    assert_text(translate("V2", "200", "v2-a"), NULL);
    assert_text(translate("V3", "300", "v3-a"), NULL);
    assert_text(translate("V4", "5000", "v4-a"), NULL);

    /* the oldest first, at most limit codes per call */
    assert_text(expired_codes("1000", 2), "V1,[v1-a,v1-b],V2,[v2-a]");
    assert_text(redis_text("EXISTS %s:V1", XW_PENDING), "0");
    assert_text(redis_text("ZSCORE %s V1", XW_PENDING), NULL);
    assert_text(expired_codes("1000", 2), "V3,[v3-a]");
    assert_text(expired_codes("1000", 2), "");
    /* a code unknown for less long stays */
    assert_text(redis_text("LRANGE %s:V4 0 -1", XW_PENDING), "v4-a");
    assert_text(crosswalk("V4", "SKU-4"), "v4-a");
}

static void test_layout_refuses_stock_of_another_layout(void **state)
{
    (void)state;
    /* an empty Redis takes this layout and keeps it */
    redisReply *r = redisCommand(redis, "FCALL stockmesh_layout 0");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->integer, 3);
    freeReplyObject(r);
    fact("A", "WH1", P(1), 0, "10", "0", "0", "web:0");
    r = redisCommand(redis, "FCALL stockmesh_layout 0");
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    /* stock written before the layout was recorded is an older stockmesh's */
    r = redisCommand(redis, "DEL stockmesh:layout");
    freeReplyObject(r);
    r = redisCommand(redis, "FCALL stockmesh_layout 0");
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    assert_non_null(strstr(r->str, "holds stock in layout 2"));
    freeReplyObject(r);
    r = redisCommand(redis, "SET stockmesh:layout 4");
    freeReplyObject(r);
    r = redisCommand(redis, "FCALL stockmesh_layout 0");
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    assert_non_null(strstr(r->str, "layout 4, this stockmesh reads and writes layout 3"));
    freeReplyObject(r);
}

static void test_library_version(void **state)
{
    (void)state;
    redisReply *r = redisCommand(redis, "FCALL stockmesh_version 0");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->integer, 3);
    freeReplyObject(r);
    /* read-only functions run on a replica too */
    r = redisCommand(redis, "FCALL_RO stockmesh_version 0");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    freeReplyObject(r);
}

/* ------------------------------------------------------------------ property */

#define PSKUS 5
#define PLOCS 4
#define PSRC 3
#define PCHANNELS 3
#define PUNIQUE 1600
#define PFACTS 2000
#define PTOL 1
#define PPCT 20

static const char *const psource[PSRC] = {"erp", "pos", "wms"};
static const char *const ploc[PLOCS] = {"L0", "L1", "L2", "L3"};
static const long long psafety[PLOCS] = {0, 1, 3, 0};
/* L0 is a warehouse: wms counts everything; L1-L3 are stores: the till counts the
   shelf, the ERP the orders and the damaged */
static const int pauth[PLOCS][3] = {{2, 2, 2}, {1, 0, 0}, {1, 0, 0}, {1, 0, 0}};
static const char *const pchannel[PCHANNELS] = {"web", "pickup@L2", "pickup@L3"};
static const long long pbuffer[PCHANNELS] = {2, 0, 1};
static const int pmember[PCHANNELS][PLOCS] = {{1, 1, 1, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}};

struct pfact {
    int sku, loc, src;
    char position[EVENT_POSITION_COMPACT_MAX + 1];
    int present[3];
    long long q[3];
};

/* the newest figure seen so far per (sku, location, source, kind) */
struct pcell {
    int set;
    char pos[EVENT_POSITION_COMPACT_MAX + 1];
    long long q;
};

static struct pcell pbest[PSKUS][PLOCS][PSRC][3];

static struct rules prules(int loc)
{
    struct rules r = {{psource[pauth[loc][0]], psource[pauth[loc][1]], psource[pauth[loc][2]]},
                      PTOL, PPCT, {"erp", "pos", "wms", NULL}};
    return r;
}

/* DESIGN §3 and the rules, from the model: the row's figures, its flags and the first
   disagreement (kinds in order, then sources in configured order). */
static long long pmodel_row(int s, int l, long long row[3], char *detail, size_t len)
{
    static const char *const kind_name[3] = {"on_hand", "committed", "unavailable"};
    detail[0] = 0;
    for (int k = 0; k < 3; k++) {
        const struct pcell *c = &pbest[s][l][pauth[l][k]][k];
        row[k] = c->set ? c->q : 0;
    }
    long long flags = 0;
    if (row[0] < 0) flags |= FLAG_NEGATIVE;
    if (row[1] > 0 && row[1] > row[0]) flags |= FLAG_OVERCOMMITTED;
    for (int k = 0; k < 3 && !detail[0]; k++) {
        int a = pauth[l][k];
        if (!pbest[s][l][a][k].set) continue;
        long long want = pbest[s][l][a][k].q;
        for (int src = 0; src < PSRC && !detail[0]; src++) {
            if (src == a || !pbest[s][l][src][k].set) continue;
            long long seen = pbest[s][l][src][k].q;
            long long diff = llabs(seen - want), allowed = 100LL * PTOL;
            if (PPCT * llabs(want) > allowed) allowed = PPCT * llabs(want);
            if (100 * diff > allowed)
                snprintf(detail, len, "%s|%s|%lld|%lld", psource[src], kind_name[k], seen, want);
        }
    }
    if (detail[0]) flags |= FLAG_MISMATCH;
    return flags;
}

static int pmodel_has_row(int s, int l)
{
    for (int src = 0; src < PSRC; src++)
        for (int k = 0; k < 3; k++)
            if (pbest[s][l][src][k].set) return 1;
    return 0;
}

/* Reads a stored "<ms>|<pos>|<qty>|…" back into positions and quantities per kind, with
   "=" meaning the previous given position. */
static void parse_fact(const char *text, char pos[3][EVENT_POSITION_COMPACT_MAX + 1], char qty[3][24])
{
    char copy[256], *field[8];
    snprintf(copy, sizeof copy, "%s", text);
    int n = 0;
    char *p = copy;
    field[n++] = p;
    while ((p = strchr(p, '|')) && n < 8) {
        *p++ = 0;
        field[n++] = p;
    }
    if (n == 5) { /* one position for every kind */
        for (int k = 0; k < 3; k++) {
            snprintf(pos[k], EVENT_POSITION_COMPACT_MAX + 1, "%s", field[1]);
            snprintf(qty[k], 24, "%s", field[2 + k]);
        }
        return;
    }
    if (n != 7) fail_msg("stored figures \"%s\" do not have 5 or 7 fields", text);
    const char *last = "";
    for (int k = 0; k < 3; k++) {
        const char *ps = field[1 + 2 * k];
        if (strcmp(ps, "=") == 0) {
            assert_true(last[0]);
            ps = last;
        } else if (ps[0]) {
            last = ps;
        }
        snprintf(pos[k], EVENT_POSITION_COMPACT_MAX + 1, "%s", ps);
        snprintf(qty[k], 24, "%s", field[2 + 2 * k]);
    }
}

static void test_random_order_with_duplicates_converges(void **state)
{
    (void)state;
    /* STOCKMESH_SEED tries another sequence */
    const char *env = getenv("STOCKMESH_SEED");
    unsigned seed = env ? (unsigned)strtoul(env, NULL, 0) : 0x5EED2024u;
    if (env) printf("seed %u\n", seed);
    srand(seed);
    memset(pbest, 0, sizeof pbest);
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
        f->src = rand() % PSRC;
        char full[EVENT_POSITION_LEN + 1];
        event_position_pg(full, 0xFFFFFC00ULL + 3ULL * lsn_rank[i], (uint32_t)(rand() % 3));
        event_position_compact(full, f->position); /* as merge sends it */
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

    /* apply in that order, as merge would: each location with the channels it feeds,
       its authorities and the tolerances; check every reply against the model */
    long long last_reported[PSKUS][PCHANNELS] = {{0}};
    long long last_version[PSKUS] = {0};
    long long row_flags[PSKUS][PLOCS] = {{0}};
    int changes[PSKUS] = {0};
    for (int i = 0; i < PFACTS; i++) {
        const struct pfact *f = &facts[order[i]];
        char sku[16], q[3][24], channels[96] = "";
        snprintf(sku, sizeof sku, "P%d", f->sku);
        for (int k = 0; k < 3; k++) {
            if (f->present[k]) snprintf(q[k], sizeof q[k], "%lld", f->q[k]);
            else q[k][0] = 0;
        }
        for (int c = 0; c < PCHANNELS; c++)
            if (pmember[c][f->loc]) {
                size_t len = strlen(channels);
                snprintf(channels + len, sizeof channels - len, "%s%s:%lld", len ? "," : "",
                         pchannel[c], pbuffer[c]);
            }
        struct rules r = prules(f->loc);
        struct applied a = apply_fact(sku, ploc[f->loc], psource[f->src], f->position,
                                      psafety[f->loc], q[0], q[1], q[2], &r, channels);
        int fresh = 0, counts = 0;
        for (int k = 0; k < 3; k++) {
            struct pcell *c = &pbest[f->sku][f->loc][f->src][k];
            if (!f->present[k] || (c->set && strcmp(c->pos, f->position) >= 0)) continue;
            c->set = 1;
            memcpy(c->pos, f->position, sizeof c->pos);
            c->q = f->q[k];
            fresh = 1;
            counts |= pauth[f->loc][k] == f->src;
        }
        assert_int_equal(a.applied, fresh);
        assert_int_equal(a.flags_before, row_flags[f->sku][f->loc]);
        if (fresh) {
            long long row[3];
            char detail[128];
            row_flags[f->sku][f->loc] = pmodel_row(f->sku, f->loc, row, detail, sizeof detail);
            assert_string_equal(a.detail, detail);
        } else {
            assert_string_equal(a.detail, "");
        }
        assert_int_equal(a.flags_after, row_flags[f->sku][f->loc]);
        if (!counts) { /* only figures of sources that are not the authority here */
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
            long long rep = reported(&a, pchannel[c]);
            if (rep >= 0) {
                assert_true(pmember[c][f->loc]);
                assert_true(rep != last_reported[f->sku][c]); /* only real changes */
                last_reported[f->sku][c] = rep;
            }
        }
    }

    /* what is stored, against the truth computed independently: per (sku, location,
       source, kind) the value of the highest position that carried that kind */
    for (int s = 0; s < PSKUS; s++) {
        char sku[16];
        snprintf(sku, sizeof sku, "P%d", s);
        long long loc_available[PLOCS] = {0};
        for (int l = 0; l < PLOCS; l++) {
            for (int src = 0; src < PSRC; src++) {
                char field[32];
                snprintf(field, sizeof field, "%s|%s", ploc[l], psource[src]);
                char *stored = hget(sku, 's', field);
                int any = 0;
                for (int k = 0; k < 3; k++) any |= pbest[s][l][src][k].set;
                if (!any) {
                    if (stored)
                        fail_msg("%s %s: stored \"%s\", no fact was sent", sku, field, stored);
                    continue;
                }
                if (!stored) fail_msg("%s %s: nothing stored", sku, field);
                char pos[3][EVENT_POSITION_COMPACT_MAX + 1], qty[3][24];
                parse_fact(stored, pos, qty);
                for (int k = 0; k < 3; k++) {
                    const struct pcell *c = &pbest[s][l][src][k];
                    char want_q[24] = "";
                    if (c->set) snprintf(want_q, sizeof want_q, "%lld", c->q);
                    if (strcmp(pos[k], c->set ? c->pos : "") || strcmp(qty[k], want_q))
                        fail_msg("%s %s kind %d: stored \"%s\", truth %s %s", sku, field, k,
                                 stored, c->set ? c->pos : "-", want_q);
                }
                free(stored);
            }
            long long row[3];
            char detail[128], want[128];
            long long flags = pmodel_row(s, l, row, detail, sizeof detail);
            long long avail = row[0] - row[1] - row[2] - psafety[l];
            if (avail < 0) avail = 0;
            loc_available[l] = avail;
            int n = snprintf(want, sizeof want, "%lld|%lld|%lld|%lld", row[0], row[1], row[2],
                             avail);
            if (flags) snprintf(want + n, sizeof want - (size_t)n, "|%lld", flags);
            assert_field(sku, 's', ploc[l], pmodel_has_row(s, l) ? want : NULL);
            struct rules r = prules(l);
            if (pmodel_has_row(s, l)) {
                struct judged j = judge(sku, ploc[l], &r);
                assert_int_equal(j.flags, flags);
                assert_string_equal(j.detail, detail);
            }
        }
        for (int c = 0; c < PCHANNELS; c++) {
            long long want_sum = 0;
            for (int l = 0; l < PLOCS; l++)
                if (pmember[c][l]) want_sum += loc_available[l];
            long long want = want_sum - pbuffer[c] > 0 ? want_sum - pbuffer[c] : 0;
            long long sum, version;
            long long got = channel_available(sku, pchannel[c], &sum, &version);
            /* a pickup store's figure is kept only while it differs from what the
               channel had: its sum is the store's available */
            if (strchr(pchannel[c], '@')) sum = want_sum;
            if (got != want || sum != want_sum)
                fail_msg("%s %s: stored sum %lld available %lld, truth sum %lld available %lld",
                         sku, pchannel[c], sum, got, want_sum, want);
            /* what was published last is what a channel ends up with */
            assert_int_equal(last_reported[s][c], want);
        }
        assert_int_equal(sku_version(sku), changes[s]);

        /* nothing delivered: exactly the channels that ever changed are pending, latest */
        struct pending p = pending(sku);
        for (int c = 0; c < PCHANNELS; c++) {
            long long version;
            long long avail = channel_available(sku, pchannel[c], NULL, &version);
            int i = pending_index(&p, pchannel[c]);
            if (version > 0) {
                assert_true(i >= 0);
                assert_int_equal(p.available[i], avail);
                assert_int_equal(p.version[i], version);
            } else {
                assert_int_equal(i, -1);
            }
        }

        /* the incremental sums are what a rebuild from scratch finds: nothing to change */
        struct rb_location locs[PLOCS];
        for (int l = 0; l < PLOCS; l++) {
            memset(&locs[l], 0, sizeof locs[l]);
            locs[l].code = ploc[l];
            locs[l].safety = psafety[l];
            for (int k = 0; k < 3; k++) locs[l].auth[k] = psource[pauth[l][k]];
            int n = 0;
            for (int c = 0; c < PCHANNELS; c++)
                if (pmember[c][l]) locs[l].channels[n++] = pchannel[c];
        }
        struct rb_channel chans[PCHANNELS];
        for (int c = 0; c < PCHANNELS; c++) chans[c] = (struct rb_channel){pchannel[c], pbuffer[c]};
        static const char *const all_sources[] = {"erp", "pos", "wms", NULL};
        char *before = dump_sku(sku);
        struct rebuilt b = rebuild(sku, "", locs, PLOCS, PTOL, PPCT, all_sources, chans, PCHANNELS);
        assert_same_dump(before, dump_sku(sku), "a rebuild under the same configuration");
        assert_int_equal(b.version, 0);
        assert_int_equal(b.dropped, 0);
        assert_int_equal(b.n, 0);
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
        cmocka_unit_test_setup(test_authority_is_per_kind, flush),
        cmocka_unit_test_setup(test_mismatch_within_absolute_tolerance, flush),
        cmocka_unit_test_setup(test_mismatch_within_percent_tolerance, flush),
        cmocka_unit_test_setup(test_negative_and_overcommitted_are_flagged, flush),
        cmocka_unit_test_setup(test_pickup_is_per_location, flush),
        cmocka_unit_test_setup(test_positions_per_kind_round_trip, flush),
        cmocka_unit_test_setup(test_partial_quantities_keep_stored_kinds, flush),
        cmocka_unit_test_setup(test_delivered_only_moves_forward, flush),
        cmocka_unit_test_setup(test_pending_lists_undelivered_channels, flush),
        cmocka_unit_test_setup(test_rebuild_applies_a_new_safety_stock, flush),
        cmocka_unit_test_setup(test_rebuild_resends_pickup_only_when_asked, flush),
        cmocka_unit_test_setup(test_rebuild_drops_what_a_reread_did_not_see, flush),
        cmocka_unit_test_setup(test_rebuild_removes_channels_no_longer_configured, flush),
        cmocka_unit_test_setup(test_unknown_item_waits_for_the_crosswalk, flush),
        cmocka_unit_test_setup(test_expired_codes_are_handed_over_once, flush),
        cmocka_unit_test_setup(test_library_version, flush),
        cmocka_unit_test_setup(test_layout_refuses_stock_of_another_layout, flush),
        cmocka_unit_test_setup(test_random_order_with_duplicates_converges, flush),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
