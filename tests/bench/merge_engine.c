/* merge_engine.c — see merge_engine.h.
 *
 * 1. Cost by SKU size: a configuration of large_locations locations (L0001 a warehouse,
 *    the others stores), one ship channel over all of them and a pickup channel over the
 *    stores, one source authoritative everywhere. Three SKUs are filled through the
 *    function at their first 5, 20 and large_locations locations; then, per round and
 *    SKU, `calls` pipelined calls each change on_hand at one of that SKU's locations
 *    (random, fresh position, all three quantities given, as the bench's table does).
 *    Reported per SKU size: wall time per call, Redis's own time per FCALL (INFO
 *    commandstats, reset before each run) and Redis's CPU per call, from the median of
 *    the rounds; the rounds interleave the sizes so that a change in the machine's load
 *    affects them alike.
 * 2. Memory: used_memory before and after filling skus × locations through the
 *    function, on an emptied Redis, for a typical SKU size (20 locations: the hashes
 *    stay listpacks) and for large_locations (hashtables), with MEMORY USAGE of both
 *    keys of sampled SKUs as a cross-check, and what a location's share consists of.
 *    Measured twice: right after the fill, when every channel figure still waits for
 *    delivery, and after everything pending was recorded as delivered the way push
 *    records it (stockmesh_pending, stockmesh_delivered): the steady state. */
#include "merge_engine.h"

#include "procstat.h"
#include "servers.h"
#include "stockmesh/embedded.h"

#include <hiredis/hiredis.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define SOURCE "src0"
#define SECRET "stockmesh-bench-engine"
#define TYPICAL_LOCATIONS 20
#define LARGE_MEMORY_SKUS 20
#define MEMORY_SAMPLES 200
#define POSITION_INDEX 1           /* the low 8 hex digits of a PostgreSQL position */

static const int small_sizes[ENGINE_SIZES - 1] = {5, TYPICAL_LOCATIONS};

struct location_channels {
    size_t n;
    char (*name)[160];
    char (*buffer)[24];
    const char *auth[CONFIG_QUANTITY_KINDS];
};

struct apply_channels {
    struct location_channels *loc;
};

struct run {
    const struct merge_engine_options *o;
    struct merge_engine *e;
    struct servers_server redis;
    int redis_up;
    redisContext *c;
    uint64_t lsn;                  /* position of the next call: only grows */
    long long ms;                  /* commit time of the next call */
    uint64_t rng;
    char err[512];
};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench: merge engine: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static json_t *num(double v) { return isnan(v) || isinf(v) ? json_null() : json_real(v); }

static int stopped(const struct run *r) { return *r->o->interrupted != 0; }

/* ------------------------------------------------------------------ the call merge sends */

struct apply_channels *apply_channels_new(const struct config *cfg)
{
    struct apply_channels *ac = calloc(1, sizeof *ac);
    if (!ac) return NULL;
    ac->loc = calloc(cfg->nlocations ? cfg->nlocations : 1, sizeof *ac->loc);
    if (!ac->loc) {
        free(ac);
        return NULL;
    }
    size_t nch = cfg->nchannels ? cfg->nchannels : 1;
    for (size_t i = 0; i < cfg->nlocations; i++) {
        const struct config_location *loc = &cfg->locations[i];
        struct location_channels *lc = &ac->loc[i];
        lc->name = calloc(nch, sizeof *lc->name);
        lc->buffer = calloc(nch, sizeof *lc->buffer);
        if (!lc->name || !lc->buffer) {
            apply_channels_free(ac, cfg);
            return NULL;
        }
        for (size_t j = 0; j < cfg->nchannels; j++) {
            const struct config_channel *ch = &cfg->channels[j];
            if (!config_channel_has_location(ch, loc)) continue;
            if (ch->fulfilment == CONFIG_PICKUP)
                snprintf(lc->name[lc->n], sizeof lc->name[lc->n], "%s@%s", ch->name, loc->code);
            else
                snprintf(lc->name[lc->n], sizeof lc->name[lc->n], "%s", ch->name);
            snprintf(lc->buffer[lc->n], sizeof lc->buffer[lc->n], "%lld", ch->buffer);
            lc->n++;
        }
        for (int k = 0; k < CONFIG_QUANTITY_KINDS; k++) {
            const char *a = config_authority_for(cfg, loc->type, k);
            lc->auth[k] = a ? a : "";
        }
    }
    return ac;
}

void apply_channels_free(struct apply_channels *ac, const struct config *cfg)
{
    if (!ac) return;
    for (size_t i = 0; ac->loc && i < cfg->nlocations; i++) {
        free(ac->loc[i].name);
        free(ac->loc[i].buffer);
    }
    free(ac->loc);
    free(ac);
}

int apply_call_fill(struct apply_call *call, const struct config *cfg,
                    const struct apply_channels *ac, const struct config_location *loc,
                    const char *source, const char *sku, const char *position,
                    const char *commit_ms, const char *const qty[CONFIG_QUANTITY_KINDS])
{
    if (loc < cfg->locations || loc >= cfg->locations + cfg->nlocations) return -1;
    const struct location_channels *lc = &ac->loc[loc - cfg->locations];
    const struct config_item_class *cls = config_item_class_for(cfg, sku);
    long long safety = config_safety_stock(cls, loc), tolerance;
    int percent;
    config_tolerance(cfg, cls, &tolerance, &percent);
    snprintf(call->key_s, sizeof call->key_s, "sm:{%s}", sku);
    snprintf(call->key_c, sizeof call->key_c, "sm:{%s}:c", sku);
    /* merge sends positions in the layer's compact form */
    if (event_position_compact(position, call->position) < 0)
        snprintf(call->position, sizeof call->position, "%s", position);
    snprintf(call->ms, sizeof call->ms, "%s", commit_ms);
    snprintf(call->safety, sizeof call->safety, "%lld", safety);
    snprintf(call->tol, sizeof call->tol, "%lld", tolerance);
    snprintf(call->pct, sizeof call->pct, "%d", percent);
    snprintf(call->nsrc, sizeof call->nsrc, "%zu", cfg->nsources);
    for (int k = 0; k < CONFIG_QUANTITY_KINDS; k++)
        snprintf(call->qty[k], sizeof call->qty[k], "%s", qty[k] ? qty[k] : "");

    int n = 0;
    call->argv[n++] = "FCALL";
    call->argv[n++] = "stockmesh_apply";
    call->argv[n++] = "2";
    call->argv[n++] = call->key_s;
    call->argv[n++] = call->key_c;
    call->argv[n++] = loc->code;
    call->argv[n++] = source;
    call->argv[n++] = call->position;
    call->argv[n++] = call->ms;
    call->argv[n++] = call->safety;
    for (int k = 0; k < CONFIG_QUANTITY_KINDS; k++) call->argv[n++] = call->qty[k];
    for (int k = 0; k < CONFIG_QUANTITY_KINDS; k++) call->argv[n++] = lc->auth[k];
    call->argv[n++] = call->tol;
    call->argv[n++] = call->pct;
    call->argv[n++] = call->nsrc;
    for (size_t i = 0; i < cfg->nsources && i < 64; i++) call->argv[n++] = cfg->sources[i].name;
    for (size_t i = 0; i < lc->n && i < 256; i++) {
        call->argv[n++] = lc->name[i];
        call->argv[n++] = lc->buffer[i];
    }
    call->argc = n;
    for (int i = 0; i < n; i++) call->len[i] = strlen(call->argv[i]);
    return 0;
}

/* ------------------------------------------------------------------ processes */

/* CPU of the machine, Redis and this process at one moment. */
struct sample {
    double t, busy, redis, self;
};

static void sample_now(const struct run *r, struct sample *s)
{
    s->t = mono_s();
    s->busy = procstat_machine_busy();
    s->redis = procstat_cpu(r->redis.pid);
    s->self = procstat_self_cpu();
}

/* What else kept the machine busy between a and b, in % of a core. */
static double other_pct(const struct sample *a, const struct sample *b)
{
    double other = (b->busy - a->busy) - (b->redis - a->redis) - (b->self - a->self);
    double wall = b->t - a->t;
    return wall > 0 && other > 0 ? 100.0 * other / wall : 0;
}

/* ------------------------------------------------------------------ Redis */

static redisReply *command(struct run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(r->c, fmt, ap);
    va_end(ap);
    if (!rep) {
        snprintf(r->err, sizeof r->err, "Redis: %s", r->c->errstr);
        return NULL;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        snprintf(r->err, sizeof r->err, "Redis: %.400s", rep->str);
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

/* A number after "field:" in INFO section. */
static double info_number(struct run *r, const char *section, const char *field)
{
    redisReply *rep = command(r, "INFO %s", section);
    if (!rep) return NAN;
    char key[96];
    snprintf(key, sizeof key, "%s:", field);
    const char *p = rep->type == REDIS_REPLY_STRING ? strstr(rep->str, key) : NULL;
    double v = p ? strtod(p + strlen(key), NULL) : NAN;
    freeReplyObject(rep);
    return v;
}

/* Calls and microseconds of FCALL since the last CONFIG RESETSTAT. */
static int fcall_stats(struct run *r, double *calls, double *usec)
{
    redisReply *rep = command(r, "INFO commandstats");
    if (!rep) return -1;
    const char *p = rep->type == REDIS_REPLY_STRING ? strstr(rep->str, "cmdstat_fcall:") : NULL;
    int ok = p && sscanf(p, "cmdstat_fcall:calls=%lf,usec=%lf", calls, usec) == 2;
    freeReplyObject(rep);
    return ok ? 0 : -1;
}

static void object_encoding(struct run *r, const char *key, char *out, size_t outlen)
{
    redisReply *rep = command(r, "OBJECT ENCODING %s", key);
    snprintf(out, outlen, "%s", rep && rep->type == REDIS_REPLY_STRING ? rep->str : "?");
    if (rep) freeReplyObject(rep);
}

static double memory_usage(struct run *r, const char *key)
{
    redisReply *rep = command(r, "MEMORY USAGE %s SAMPLES 0", key);
    double v = rep && rep->type == REDIS_REPLY_INTEGER ? (double)rep->integer : NAN;
    if (rep) freeReplyObject(rep);
    return v;
}

/* Produces call i of a run. */
typedef void (*fill_fn)(struct run *r, void *arg, long i, struct apply_call *call);

/* n calls with at most `depth` in flight, written in batches of half that; counts the
 * replies that name a changed channel. 0 or -1 (r->err). */
static int pipelined(struct run *r, long n, fill_fn fill, void *arg, long *changed)
{
    long depth = r->o->pipeline > 0 ? r->o->pipeline : 1;
    struct apply_call *call = malloc(sizeof *call);
    if (!call) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    long sent = 0, got = 0;
    int rc = 0;
    if (changed) *changed = 0;
    while (got < n && rc == 0) {
        if (sent - got <= depth / 2)
            while (sent < n && sent - got < depth) {
                fill(r, arg, sent, call);
                redisAppendCommandArgv(r->c, call->argc, call->argv, call->len);
                sent++;
            }
        redisReply *rep = NULL;
        if (redisGetReply(r->c, (void **)&rep) != REDIS_OK || !rep) {
            snprintf(r->err, sizeof r->err, "Redis: %s", r->c->errstr);
            rc = -1;
            break;
        }
        if (rep->type == REDIS_REPLY_ERROR) {
            snprintf(r->err, sizeof r->err, "stockmesh_apply: %.400s", rep->str);
            rc = -1;
        } else if (changed && rep->type == REDIS_REPLY_ARRAY && rep->elements > 5) {
            (*changed)++;
        }
        freeReplyObject(rep);
        got++;
    }
    free(call);
    return rc;
}

/* ------------------------------------------------------------------ configurations */

/* L001…: location 1 a warehouse, the others stores; one source authoritative for all
 * of them; a ship channel over every location and a pickup channel over the stores,
 * like the demo's web and pickup. */
static struct config *engine_config(struct run *r, int nlocations, const char *name)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s.yaml", r->o->work_dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(r->err, sizeof r->err, "cannot write %.450s", path);
        return NULL;
    }
    fprintf(f,
            "state_dir: %s/engine-state\n"
            "sources:\n"
            "  - name: " SOURCE "\n    type: postgres\n"
            "    dsn: \"host=127.0.0.1 dbname=retail user=stockmesh\"\n"
            "    tables:\n"
            "      - table: public.stock_levels\n        sku: sku\n"
            "        location: location_code\n        on_hand: on_hand\n"
            "        committed: committed\n        unavailable: unavailable\n"
            "locations:\n",
            r->o->work_dir);
    int width = nlocations >= 1000 ? 4 : 3;
    for (int l = 1; l <= nlocations; l++)
        fprintf(f, "  - code: L%0*d\n    type: %s\n", width, l, l == 1 ? "warehouse" : "store");
    fprintf(f,
            "channels:\n"
            "  - name: web\n    url: http://127.0.0.1:9/web\n    secret: " SECRET "\n"
            "    location_types: [warehouse, store]\n"
            "  - name: pickup\n    url: http://127.0.0.1:9/pickup\n    secret: " SECRET "\n"
            "    fulfilment: pickup\n    location_types: [store]\n"
            "authority:\n"
            "  - location_type: warehouse\n    source: " SOURCE "\n"
            "  - location_type: store\n    source: " SOURCE "\n");
    if (fclose(f) != 0) {
        snprintf(r->err, sizeof r->err, "cannot write %.450s", path);
        return NULL;
    }
    char err[1024];
    struct config *cfg = config_load(path, err, sizeof err);
    if (!cfg) snprintf(r->err, sizeof r->err, "%.500s", err);
    return cfg;
}

/* ------------------------------------------------------------------ fills */

struct fill_arg {
    const struct config *cfg;
    const struct apply_channels *ac;
    const char *sku;               /* one SKU … */
    int skus;                      /* … or SKU-<n> for n < skus, location-major */
    int nlocations;                /* the SKU's locations: cfg's first ones */
    int random_location;           /* 1: a random one of them per call; 0: call i's */
    int realistic;                 /* 1: varied quantities; 0: on_hand changes, 3, 1 */
};

static void next_position(struct run *r, char *position, size_t plen, char *ms, size_t mslen)
{
    snprintf(position, plen, "%016llX%08X", (unsigned long long)r->lsn, POSITION_INDEX);
    r->lsn += 0x58; /* one single-row transaction's WAL, roughly */
    snprintf(ms, mslen, "%lld", r->ms++);
}

static void fill_call(struct run *r, void *arg, long i, struct apply_call *call)
{
    const struct fill_arg *a = arg;
    char position[40], ms[24], sku[64], q[CONFIG_QUANTITY_KINDS][24];
    next_position(r, position, sizeof position, ms, sizeof ms);
    int loc;
    const char *which = a->sku;
    if (a->sku) {
        loc = a->random_location ? (int)(rng_next(&r->rng) % (uint64_t)a->nlocations)
                                 : (int)(i % a->nlocations);
    } else {
        snprintf(sku, sizeof sku, "SKU-%06ld", i / a->nlocations);
        which = sku;
        loc = (int)(i % a->nlocations);
    }
    if (a->realistic) {
        uint64_t x = rng_next(&r->rng);
        snprintf(q[0], sizeof q[0], "%d", (int)(x % 500));
        snprintf(q[1], sizeof q[1], "%d", (int)((x >> 16) % 20));
        snprintf(q[2], sizeof q[2], "%d", (int)((x >> 32) % 4));
    } else {
        snprintf(q[0], sizeof q[0], "%ld", 100 + (long)(r->lsn / 0x58 % 1000));
        snprintf(q[1], sizeof q[1], "3");
        snprintf(q[2], sizeof q[2], "1");
    }
    const char *qty[CONFIG_QUANTITY_KINDS] = {q[0], q[1], q[2]};
    apply_call_fill(call, a->cfg, a->ac, &a->cfg->locations[loc], SOURCE, which, position, ms, qty);
}

/* ------------------------------------------------------------------ 1. cost by size */

/* One timed run of a SKU size: wall time, Redis's time and CPU per call, other load. */
struct timed {
    double wall_us, server_us, cpu_us, other_pct;
    long changed;
};

static int measure_cost(struct run *r, const struct fill_arg *a, struct timed *t)
{
    redisReply *rep = command(r, "CONFIG RESETSTAT");
    if (!rep) return -1;
    freeReplyObject(rep);
    struct sample s0, s1;
    sample_now(r, &s0);
    if (pipelined(r, r->o->calls, fill_call, (void *)a, &t->changed) != 0) return -1;
    sample_now(r, &s1);
    double calls = 0, usec = 0;
    if (fcall_stats(r, &calls, &usec) != 0 || calls < 1) {
        snprintf(r->err, sizeof r->err, "no FCALL in INFO commandstats");
        return -1;
    }
    double n = (double)r->o->calls;
    t->server_us = usec / calls;
    t->wall_us = 1e6 * (s1.t - s0.t) / n;
    t->cpu_us = 1e6 * (s1.redis - s0.redis) / n;
    t->other_pct = other_pct(&s0, &s1);
    return 0;
}

static int run_cost(struct run *r)
{
    struct merge_engine *e = r->e;
    int large = r->o->large_locations;
    struct config *cfg = engine_config(r, large, "engine-cost");
    if (!cfg) return -1;
    struct apply_channels *ac = apply_channels_new(cfg);
    int rc = -1;
    if (!ac) {
        snprintf(r->err, sizeof r->err, "out of memory");
        goto out;
    }
    int sizes[ENGINE_SIZES] = {small_sizes[0], small_sizes[1], large};
    char skus[ENGINE_SIZES][32];
    struct fill_arg args[ENGINE_SIZES];
    e->ncost = ENGINE_SIZES;
    for (int s = 0; s < ENGINE_SIZES; s++) {
        struct merge_engine_cost *c = &e->cost[s];
        c->locations = sizes[s] <= large ? sizes[s] : large;
        snprintf(skus[s], sizeof skus[s], "SKU-AT-%d", c->locations);
        args[s] = (struct fill_arg){cfg, ac, skus[s], 0, c->locations, 0, 1};
        say("filling %s at %d locations ...", skus[s], c->locations);
        if (pipelined(r, c->locations, fill_call, &args[s], NULL) != 0) goto out;
        char key[64];
        snprintf(key, sizeof key, "sm:{%s}", skus[s]);
        object_encoding(r, key, c->encoding_s, sizeof c->encoding_s);
        snprintf(key, sizeof key, "sm:{%s}:c", skus[s]);
        object_encoding(r, key, c->encoding_c, sizeof c->encoding_c);
        /* a store's call (the warehouse is in no pickup channel: two arguments fewer) */
        struct apply_call probe;
        fill_call(r, &args[s], c->locations - 1, &probe);
        c->args = probe.argc;
        args[s].random_location = 1;
        args[s].realistic = 0;
    }
    struct timed t[ENGINE_SIZES][ENGINE_ROUNDS];
    for (int round = 0; round < ENGINE_ROUNDS && !stopped(r); round++) {
        say("round %d of %d: %ld calls per SKU size, %d in flight ...", round + 1,
            ENGINE_ROUNDS, r->o->calls, r->o->pipeline);
        for (int s = 0; s < ENGINE_SIZES && !stopped(r); s++) {
            if (measure_cost(r, &args[s], &t[s][round]) != 0) goto out;
            e->cost[s].round_server_us[round] = t[s][round].server_us;
        }
    }
    if (stopped(r)) goto out;
    /* per size, the round with the median wall time */
    for (int s = 0; s < ENGINE_SIZES; s++) {
        struct merge_engine_cost *c = &e->cost[s];
        double sorted[ENGINE_ROUNDS];
        for (int k = 0; k < ENGINE_ROUNDS; k++) sorted[k] = t[s][k].wall_us;
        qsort(sorted, ENGINE_ROUNDS, sizeof sorted[0], cmp_double);
        int median = 0;
        for (int k = 0; k < ENGINE_ROUNDS; k++)
            if (t[s][k].wall_us == sorted[ENGINE_ROUNDS / 2]) median = k;
        c->calls = r->o->calls;
        c->changed = t[s][median].changed;
        c->wall_us = t[s][median].wall_us;
        c->server_us = t[s][median].server_us;
        c->redis_cpu_us = t[s][median].cpu_us;
        c->other_pct = t[s][median].other_pct;
    }
    const struct merge_engine_cost *lo = &e->cost[0], *hi = &e->cost[ENGINE_SIZES - 1];
    e->ratio_wall = hi->wall_us / lo->wall_us;
    e->ratio_server = hi->server_us / lo->server_us;
    e->ratio_cpu = lo->redis_cpu_us > 0 ? hi->redis_cpu_us / lo->redis_cpu_us : NAN;
    rc = 0;
out:
    apply_channels_free(ac, cfg);
    config_free(cfg);
    return rc;
}

/* ------------------------------------------------------------------ 2. memory */

/* Lengths of what one SKU's keys hold, per location. */
static void payload(struct run *r, const char *sku, int nlocations, struct merge_engine_memory *m)
{
    char key[64];
    snprintf(key, sizeof key, "sm:{%s}", sku);
    redisReply *rep = command(r, "HGETALL %s", key);
    double n = nlocations;
    if (rep && rep->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i + 1 < rep->elements; i += 2) {
            const redisReply *f = rep->element[i], *v = rep->element[i + 1];
            if (!memchr(f->str, '|', f->len)) {
                m->row_field += (double)f->len / n;
                m->row_value += (double)v->len / n;
                continue;
            }
            m->fact_field += (double)f->len / n;
            m->fact_value += (double)v->len / n;
            /* "<ms>|<pos>|<on_hand>|<committed>|<unavailable>" when one position holds
               for all, else "<ms>|<pos o>|<on_hand>|<pos c>|<committed>|<pos u>|
               <unavailable>" */
            const char *p = v->str, *end = v->str + v->len;
            int parts = 1;
            for (const char *q = p; q < end; q++) parts += *q == '|';
            for (int part = 0; p <= end; part++) {
                const char *bar = memchr(p, '|', (size_t)(end - p));
                size_t len = (size_t)((bar ? bar : end) - p);
                if (part == 0) m->commit_ms += (double)len / n;
                else if (parts == 5 ? part == 1 : part % 2 == 1) m->positions += (double)len / n;
                if (!bar) break;
                p = bar + 1;
            }
        }
    }
    if (rep) freeReplyObject(rep);
    snprintf(key, sizeof key, "sm:{%s}:c", sku);
    rep = command(r, "HGETALL %s", key);
    if (rep && rep->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i + 1 < rep->elements; i += 2) {
            m->channel_fields += (double)rep->element[i]->len / n;
            m->channel_values += (double)rep->element[i + 1]->len / n;
        }
    if (rep) freeReplyObject(rep);
}

/* Records every pending channel figure of SKU-000000 … as delivered, as push does once
 * a channel accepted it. */
static int deliver_everything(struct run *r, int skus)
{
    enum { BATCH = 500 };
    for (int first = 0; first < skus; first += BATCH) {
        int n = skus - first < BATCH ? skus - first : BATCH;
        for (int i = 0; i < n; i++)
            redisAppendCommand(r->c, "FCALL stockmesh_pending 1 sm:{SKU-%06d}:c", first + i);
        long deliveries = 0;
        for (int i = 0; i < n; i++) {
            redisReply *rep = NULL;
            if (redisGetReply(r->c, (void **)&rep) != REDIS_OK || !rep ||
                rep->type != REDIS_REPLY_ARRAY) {
                snprintf(r->err, sizeof r->err, "stockmesh_pending: %s",
                         rep && rep->type == REDIS_REPLY_ERROR ? rep->str : r->c->errstr);
                if (rep) freeReplyObject(rep);
                return -1;
            }
            for (size_t j = 0; j + 2 < rep->elements; j += 3, deliveries++)
                redisAppendCommand(r->c, "FCALL stockmesh_delivered 1 sm:{SKU-%06d}:c %s %lld",
                                   first + i, rep->element[j]->str,
                                   rep->element[j + 2]->integer);
            freeReplyObject(rep);
        }
        for (long d = 0; d < deliveries; d++) {
            redisReply *rep = NULL;
            if (redisGetReply(r->c, (void **)&rep) != REDIS_OK || !rep ||
                rep->type != REDIS_REPLY_INTEGER) {
                snprintf(r->err, sizeof r->err, "stockmesh_delivered: %s",
                         rep && rep->type == REDIS_REPLY_ERROR ? rep->str : r->c->errstr);
                if (rep) freeReplyObject(rep);
                return -1;
            }
            freeReplyObject(rep);
        }
    }
    return 0;
}

static int run_memory(struct run *r, int skus, int nlocations, struct merge_engine_memory *m)
{
    struct config *cfg = engine_config(r, nlocations, nlocations == TYPICAL_LOCATIONS
                                                          ? "engine-memory-typical"
                                                          : "engine-memory-large");
    if (!cfg) return -1;
    struct apply_channels *ac = apply_channels_new(cfg);
    int rc = -1;
    if (!ac) {
        snprintf(r->err, sizeof r->err, "out of memory");
        goto out;
    }
    m->skus = skus;
    m->locations = nlocations;
    for (size_t i = 0; i < cfg->nlocations; i++) m->channels += (int)ac->loc[i].n;
    redisReply *rep = command(r, "FLUSHALL SYNC");
    if (!rep) goto out;
    freeReplyObject(rep);
    say("memory: %d SKUs x %d locations through the function ...", skus, nlocations);
    double before = info_number(r, "memory", "used_memory");
    struct sample s0, s1;
    sample_now(r, &s0);
    struct fill_arg a = {cfg, ac, NULL, skus, nlocations, 0, 1};
    if (pipelined(r, (long)skus * nlocations, fill_call, &a, NULL) != 0) goto out;
    sample_now(r, &s1);
    m->other_pct = other_pct(&s0, &s1);
    double filled = info_number(r, "memory", "used_memory");
    m->undelivered_bytes = (filled - before) / ((double)skus * nlocations);
    if (deliver_everything(r, skus) != 0) goto out;
    double after = info_number(r, "memory", "used_memory");
    m->used_memory_bytes = (after - before) / ((double)skus * nlocations);
    double total = 0;
    int sampled = 0, step = skus > MEMORY_SAMPLES ? skus / MEMORY_SAMPLES : 1;
    for (int s = 0; s < skus; s += step) {
        char key[64];
        snprintf(key, sizeof key, "sm:{SKU-%06d}", s);
        double a1 = memory_usage(r, key);
        snprintf(key, sizeof key, "sm:{SKU-%06d}:c", s);
        double a2 = memory_usage(r, key);
        if (isnan(a1) || isnan(a2)) continue;
        total += a1 + a2;
        sampled++;
    }
    m->memory_usage_bytes = sampled ? total / sampled / nlocations : NAN;
    object_encoding(r, "sm:{SKU-000000}", m->encoding_s, sizeof m->encoding_s);
    object_encoding(r, "sm:{SKU-000000}:c", m->encoding_c, sizeof m->encoding_c);
    payload(r, "SKU-000000", nlocations, m);
    rc = 0;
out:
    apply_channels_free(ac, cfg);
    config_free(cfg);
    return rc;
}

/* ------------------------------------------------------------------ run */

static int connect_redis(struct run *r)
{
    struct timeval tv = {30, 0};
    r->c = redisConnectWithTimeout("127.0.0.1", r->redis.port, tv);
    if (!r->c || r->c->err) {
        snprintf(r->err, sizeof r->err, "cannot connect to Redis: %s",
                 r->c ? r->c->errstr : "out of memory");
        return -1;
    }
    redisSetTimeout(r->c, tv);
    const char *argv[] = {"FUNCTION", "LOAD", "REPLACE", embedded_redis_library};
    size_t lens[] = {8, 4, 7, embedded_redis_library_len};
    redisReply *rep = redisCommandArgv(r->c, 4, argv, lens);
    int ok = rep && rep->type != REDIS_REPLY_ERROR;
    snprintf(r->err, sizeof r->err, "FUNCTION LOAD: %.400s",
             rep ? (rep->type == REDIS_REPLY_ERROR ? rep->str : "") : r->c->errstr);
    if (rep) freeReplyObject(rep);
    if (!ok) return -1;
    r->err[0] = 0;
    rep = command(r, "INFO server");
    const char *v = rep && rep->type == REDIS_REPLY_STRING ? strstr(rep->str, "redis_version:")
                                                           : NULL;
    if (v) sscanf(v + 14, "%31[^\r\n]", r->e->redis_version);
    if (rep) freeReplyObject(rep);
    return 0;
}

void merge_engine_run(struct merge_engine *e, const struct merge_engine_options *o)
{
    memset(e, 0, sizeof *e);
    e->pipeline = o->pipeline;
    e->ratio_server = e->ratio_wall = e->ratio_cpu = NAN;
    e->loadavg1 = procstat_loadavg1();
    /* LSN of a database that has written some 360 GB of WAL: positions as long as in
       production */
    struct run r = {.o = o, .e = e, .lsn = 0x5A3B2C1D00, .ms = 1700000000000LL,
                    .rng = 0x9E3779B97F4A7C15ULL};
    double t0 = mono_s();
    if (servers_start(&r.redis, SERVERS_REDIS, NULL, 0, r.err, sizeof r.err) != 0) {
        snprintf(e->note, sizeof e->note, "Redis: %.200s", r.err);
        servers_stop(&r.redis);
        return;
    }
    r.redis_up = 1;
    if (connect_redis(&r) == 0) {
        e->ran = 1;
        if (run_cost(&r) == 0 && !stopped(&r) &&
            run_memory(&r, o->memory_skus, TYPICAL_LOCATIONS, &e->memory[0]) == 0) {
            e->nmemory = 1;
            if (!stopped(&r) &&
                run_memory(&r, LARGE_MEMORY_SKUS, o->large_locations, &e->memory[1]) == 0)
                e->nmemory = 2;
        }
    }
    if (r.err[0]) snprintf(e->note, sizeof e->note, "%.250s", r.err);
    else if (stopped(&r)) snprintf(e->note, sizeof e->note, "interrupted");
    if (r.c) redisFree(r.c);
    servers_stop(&r.redis);
    e->seconds = mono_s() - t0;
}

/* ------------------------------------------------------------------ report */

json_t *merge_engine_json(const struct merge_engine *e)
{
    json_t *cost = json_array();
    for (int s = 0; s < e->ncost; s++) {
        const struct merge_engine_cost *c = &e->cost[s];
        json_t *rounds = json_array();
        for (int k = 0; k < ENGINE_ROUNDS; k++) json_array_append_new(rounds, num(c->round_server_us[k]));
        json_array_append_new(
            cost, json_pack("{s:i, s:i, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:{s:s, s:s}}",
                            "locations", c->locations, "args_per_call", c->args, "calls",
                            (json_int_t)c->calls, "calls_changing_availability",
                            (json_int_t)c->changed, "wall_us_per_call", num(c->wall_us),
                            "calls_per_s", num(c->wall_us > 0 ? 1e6 / c->wall_us : NAN),
                            "redis_us_per_fcall", num(c->server_us),
                            "redis_us_per_fcall_each_round", rounds, "redis_cpu_us_per_call",
                            num(c->redis_cpu_us), "other_processes_pct_of_one_core",
                            num(c->other_pct), "encoding", "sm:{sku}", c->encoding_s,
                            "sm:{sku}:c", c->encoding_c));
    }
    json_t *memory = json_array();
    for (int i = 0; i < e->nmemory; i++) {
        const struct merge_engine_memory *m = &e->memory[i];
        double fields = m->fact_field + m->fact_value + m->row_field + m->row_value +
                        m->channel_fields + m->channel_values;
        json_array_append_new(
            memory,
            json_pack("{s:i, s:i, s:o, s:o, s:o, s:o, s:o, s:{s:s, s:s}, s:{s:o, s:o, s:o, s:o, s:o, "
                      "s:o, s:o, s:o, s:o}, s:o, s:o}",
                      "skus", m->skus, "locations", m->locations, "channel_fields_per_location",
                      num((double)m->channels / m->locations), "bytes_per_sku_location_used_memory",
                      num(m->used_memory_bytes), "bytes_per_sku_location_before_delivery",
                      num(m->undelivered_bytes), "bytes_per_sku_location_memory_usage",
                      num(m->memory_usage_bytes), "target_max_bytes", num(100), "encoding",
                      "sm:{sku}", m->encoding_s, "sm:{sku}:c", m->encoding_c,
                      "payload_bytes_per_location", "fact_field", num(m->fact_field),
                      "fact_value", num(m->fact_value), "of_which_positions", num(m->positions),
                      "of_which_commit_ms", num(m->commit_ms), "row_field", num(m->row_field),
                      "row_value", num(m->row_value), "channel_fields", num(m->channel_fields),
                      "channel_values", num(m->channel_values), "total", num(fields),
                      "encoding_overhead_bytes_per_location",
                      num(m->used_memory_bytes - fields), "other_processes_pct_of_one_core",
                      num(m->other_pct)));
    }
    json_t *o = json_pack(
        "{s:b, s:s, s:s, s:s, s:i, s:o, s:s, s:o, s:o, s:{s:o, s:o, s:o, s:o}, s:o, s:s}", "ran",
        e->ran, "redis", e->redis_version, "setup",
        "own redis-server (tests/lib defaults: AOF everysec), the library loaded, nothing else "
        "of stockmesh running; calls built as merge's send_apply builds them from a "
        "configuration loaded with config_load",
        "configuration",
        "location 1 a warehouse, the others stores; one source authoritative for all; channel "
        "web (ship) over every location, channel pickup (pickup) over the stores",
        "pipeline", e->pipeline, "loadavg_1m_at_start", num(e->loadavg1), "cost_calls",
        "each changes on_hand at a random one of the SKU's locations, fresh position, all "
        "three quantities; per size the round with the median wall time",
        "cost_by_locations", cost, "seconds", num(e->seconds), "ratio_largest_to_5_locations",
        "wall", num(e->ratio_wall), "redis_us_per_fcall", num(e->ratio_server), "redis_cpu",
        num(e->ratio_cpu), "target_max", num(1.5), "memory", memory, "note", e->note);
    return o;
}

void merge_engine_print(const struct merge_engine *e, FILE *out)
{
    if (!e->ran || e->ncost == 0) {
        fprintf(out, "  engine   %s\n", e->note[0] ? e->note : "not measured");
        return;
    }
    fprintf(out, "  engine   stockmesh_apply alone, -P %d, own Redis %s (load average %.2f "
                 "at start):\n",
            e->pipeline, e->redis_version, e->loadavg1);
    for (int s = 0; s < e->ncost; s++) {
        const struct merge_engine_cost *c = &e->cost[s];
        fprintf(out,
                "           SKU at %4d locations: %5.2f us/call wall (%6.0f/s), Redis %5.2f us "
                "per FCALL, Redis CPU %5.2f us; hashes %s/%s; other processes ~%.0f%%\n",
                c->locations, c->wall_us, c->wall_us > 0 ? 1e6 / c->wall_us : NAN, c->server_us,
                c->redis_cpu_us, c->encoding_s, c->encoding_c, c->other_pct);
    }
    fprintf(out, "           %d locations vs 5: %.2fx wall, %.2fx Redis time (target <= 1.5x)\n",
            e->cost[e->ncost - 1].locations, e->ratio_wall, e->ratio_server);
    for (int i = 0; i < e->nmemory; i++) {
        const struct merge_engine_memory *m = &e->memory[i];
        fprintf(out,
                "           Redis per (sku, location), %d SKUs x %d locations (%s/%s), everything "
                "delivered: %.0f B used_memory, %.0f B MEMORY USAGE (target <= 100 B); before "
                "delivery %.0f B\n"
                "             payload per location: fact %.0f+%.0f B (positions %.0f, commit ms "
                "%.0f), row %.0f+%.0f B, channels %.0f+%.0f B; the rest is encoding\n",
                m->skus, m->locations, m->encoding_s, m->encoding_c, m->used_memory_bytes,
                m->memory_usage_bytes, m->undelivered_bytes, m->fact_field, m->fact_value, m->positions, m->commit_ms,
                m->row_field, m->row_value, m->channel_fields, m->channel_values);
    }
    if (e->note[0]) fprintf(out, "           note: %s\n", e->note);
}
