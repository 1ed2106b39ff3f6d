/* rebuild.c — see rebuild.h.
 *
 * The arguments differ between SKUs only by item class (its safety stock replaces the
 * locations', its tolerances the rules'), so the plan holds one argument vector per
 * class plus one for SKUs of no class, and a SKU only swaps in its two keys. */
#include "rebuild.h"

#include "progress.h"
#include "redisconn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 300
/* The pickup channels' buffers the layer was last rebuilt with (see resend_pickup of
 * stockmesh_rebuild in appliance/redis/stockmesh.lua). */
#define PICKUP_BUFFERS_KEY "stockmesh:pickup_buffers"
#define RESEND_ARG 5 /* argv index of resend_pickup */

struct variant {
    const char **argv;
    size_t *lens;
};

struct rebuild_plan {
    const struct config *cfg;
    int argc;
    struct variant *variants;   /* [0]: no item class; [1 + i]: item_classes[i] */
    size_t nvariants;
    char **pool;                /* every string the vectors point to */
    size_t npool, cappool;
    char key_s[KEY_MAX], key_c[KEY_MAX];
    const char *pickup_buffers; /* "<channel>=<buffer>\n" per pickup channel */
    int resend;                 /* -1 until rebuild_skus decided it */
};

static const char *keep(struct rebuild_plan *p, char *s)
{
    if (!s) return NULL;
    if (p->npool == p->cappool) {
        size_t cap = p->cappool ? p->cappool * 2 : 64;
        char **grown = realloc(p->pool, cap * sizeof *grown);
        if (!grown) {
            free(s);
            return NULL;
        }
        p->pool = grown;
        p->cappool = cap;
    }
    p->pool[p->npool++] = s;
    return s;
}

static const char *format(struct rebuild_plan *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : keep(p, s);
}

/* Appends to a vector being built; a NULL string (out of memory) marks it failed. */
struct builder {
    const char **argv;
    int argc, cap, failed;
};

static void add(struct builder *b, const char *s)
{
    if (!s) b->failed = 1;
    if (b->argc == b->cap) {
        int cap = b->cap ? b->cap * 2 : 64;
        const char **grown = realloc(b->argv, (size_t)cap * sizeof *grown);
        if (!grown) {
            b->failed = 1;
            return;
        }
        b->argv = grown;
        b->cap = cap;
    }
    b->argv[b->argc++] = s ? s : "";
}

/* The field a channel has for a location's stock: "<channel>", or "<channel>@<code>"
 * for a pickup channel, whose availability is per store. */
static const char *channel_field(struct rebuild_plan *p, const struct config_channel *ch,
                                 const struct config_location *loc)
{
    if (ch->fulfilment == CONFIG_PICKUP) return format(p, "%s@%s", ch->name, loc->code);
    return ch->name;
}

static int build_variant(struct rebuild_plan *p, const struct config_item_class *cls,
                         const struct rebuild_cutoff *cutoffs, size_t ncutoffs, struct variant *v)
{
    const struct config *cfg = p->cfg;
    struct builder b = {0};
    add(&b, "FCALL");
    add(&b, "stockmesh_rebuild");
    add(&b, "2");
    add(&b, p->key_s);
    add(&b, p->key_c);
    add(&b, "0"); /* resend_pickup, set by rebuild_skus */
    add(&b, format(p, "%zu", ncutoffs));
    for (size_t i = 0; i < ncutoffs; i++) {
        char below[EVENT_POSITION_COMPACT_MAX + 1];
        /* the layer compares compact positions; a malformed one drops nothing */
        if (event_position_compact(cutoffs[i].below, below) < 0) below[0] = 0;
        add(&b, format(p, "%s", cutoffs[i].source));
        add(&b, format(p, "%s", below));
    }
    add(&b, format(p, "%zu", cfg->nlocations));
    for (size_t i = 0; i < cfg->nlocations; i++) {
        const struct config_location *loc = &cfg->locations[i];
        add(&b, loc->code);
        add(&b, format(p, "%lld", config_safety_stock(cls, loc)));
        for (int k = 0; k < CONFIG_QUANTITY_KINDS; k++) {
            const char *a = config_authority_for(cfg, loc->type, (enum config_quantity)k);
            add(&b, a ? a : "");
        }
        size_t nch = 0;
        for (size_t j = 0; j < cfg->nchannels; j++)
            nch += config_channel_has_location(&cfg->channels[j], loc) != 0;
        add(&b, format(p, "%zu", nch));
        for (size_t j = 0; j < cfg->nchannels; j++)
            if (config_channel_has_location(&cfg->channels[j], loc))
                add(&b, channel_field(p, &cfg->channels[j], loc));
    }
    long long tolerance;
    int percent;
    config_tolerance(cfg, cls, &tolerance, &percent);
    add(&b, format(p, "%lld", tolerance));
    add(&b, format(p, "%d", percent));
    add(&b, format(p, "%zu", cfg->nsources));
    for (size_t i = 0; i < cfg->nsources; i++) add(&b, cfg->sources[i].name);
    /* every channel field with its buffer: a field left out is taken as no longer
       configured and removed */
    size_t nfields = 0;
    for (size_t j = 0; j < cfg->nchannels; j++) {
        const struct config_channel *ch = &cfg->channels[j];
        if (ch->fulfilment != CONFIG_PICKUP) {
            nfields++;
            continue;
        }
        for (size_t i = 0; i < cfg->nlocations; i++)
            nfields += config_channel_has_location(ch, &cfg->locations[i]) != 0;
    }
    add(&b, format(p, "%zu", nfields));
    for (size_t j = 0; j < cfg->nchannels; j++) {
        const struct config_channel *ch = &cfg->channels[j];
        const char *buffer = format(p, "%lld", ch->buffer);
        if (ch->fulfilment != CONFIG_PICKUP) {
            add(&b, ch->name);
            add(&b, buffer);
            continue;
        }
        for (size_t i = 0; i < cfg->nlocations; i++) {
            if (!config_channel_has_location(ch, &cfg->locations[i])) continue;
            add(&b, channel_field(p, ch, &cfg->locations[i]));
            add(&b, buffer);
        }
    }
    if (b.failed) {
        free(b.argv);
        return -1;
    }
    v->argv = b.argv;
    v->lens = calloc((size_t)b.argc, sizeof *v->lens);
    if (!v->lens) return -1;
    for (int i = 0; i < b.argc; i++) v->lens[i] = strlen(b.argv[i]);
    p->argc = b.argc;
    return 0;
}

struct rebuild_plan *rebuild_plan_new(const struct config *cfg,
                                      const struct rebuild_cutoff *cutoffs, size_t ncutoffs,
                                      char *err, size_t errlen)
{
    struct rebuild_plan *p = calloc(1, sizeof *p);
    if (!p) goto oom;
    p->cfg = cfg;
    p->resend = -1;
    size_t len = 0;
    for (size_t j = 0; j < cfg->nchannels; j++)
        if (cfg->channels[j].fulfilment == CONFIG_PICKUP)
            len += strlen(cfg->channels[j].name) + 24;
    char *buffers = calloc(1, len + 1);
    if (!keep(p, buffers)) goto oom;
    for (size_t j = 0, at = 0; j < cfg->nchannels; j++)
        if (cfg->channels[j].fulfilment == CONFIG_PICKUP)
            at += (size_t)snprintf(buffers + at, len + 1 - at, "%s=%lld\n", cfg->channels[j].name,
                                   cfg->channels[j].buffer);
    p->pickup_buffers = buffers;
    p->nvariants = 1 + cfg->nitem_classes;
    p->variants = calloc(p->nvariants, sizeof *p->variants);
    if (!p->variants) goto oom;
    for (size_t i = 0; i < p->nvariants; i++)
        if (build_variant(p, i ? &cfg->item_classes[i - 1] : NULL, cutoffs, ncutoffs,
                          &p->variants[i]) != 0)
            goto oom;
    return p;
oom:
    rebuild_plan_free(p);
    snprintf(err, errlen, "out of memory");
    return NULL;
}

void rebuild_plan_free(struct rebuild_plan *p)
{
    if (!p) return;
    for (size_t i = 0; p->variants && i < p->nvariants; i++) {
        free(p->variants[i].argv);
        free(p->variants[i].lens);
    }
    free(p->variants);
    for (size_t i = 0; i < p->npool; i++) free(p->pool[i]);
    free(p->pool);
    free(p);
}

int rebuild_plan_command(struct rebuild_plan *p, const char *sku, const char ***argv,
                         const size_t **lens)
{
    int n = snprintf(p->key_s, sizeof p->key_s, "sm:{%s}", sku);
    if (n < 0 || (size_t)n >= sizeof p->key_s) return -1;
    snprintf(p->key_c, sizeof p->key_c, "sm:{%s}:c", sku);
    const struct config_item_class *cls = config_item_class_for(p->cfg, sku);
    struct variant *v = &p->variants[cls ? 1 + (size_t)(cls - p->cfg->item_classes) : 0];
    v->lens[3] = strlen(p->key_s);
    v->lens[4] = strlen(p->key_c);
    *argv = v->argv;
    *lens = v->lens;
    return p->argc;
}

/* Books one SKU's answer: {version or 0, dropped, channel_1, available_1, …}. */
static void count_reply(const char *sku, const redisReply *r, struct rebuild_totals *t)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_INTEGER) {
        if (!t->failed++)
            snprintf(t->first_error, sizeof t->first_error, "SKU %s: %s", sku,
                     r && r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        return;
    }
    t->skus++;
    t->dropped += r->element[1]->integer;
    t->changes += (long long)(r->elements - 2) / 2;
    if (r->element[0]->integer > 0) t->skus_changed++;
}

/* Whether the pickup channels' buffers differ from those of the last complete rebuild:
 * their stores' figures are then sent again. 1, 0, or -1 with err. */
static int pickup_buffers_changed(redisContext *c, const struct rebuild_plan *p, char *err,
                                  size_t errlen)
{
    redisReply *r = redisCommand(c, "GET " PICKUP_BUFFERS_KEY);
    if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL)) {
        snprintf(err, errlen, "Redis: %s", redisconn_error(c, r));
        freeReplyObject(r);
        return -1;
    }
    int changed = r->type == REDIS_REPLY_NIL || strcmp(r->str, p->pickup_buffers) != 0;
    freeReplyObject(r);
    return changed;
}

int rebuild_skus(redisContext *c, struct rebuild_plan *p, char *const *skus, size_t n,
                 int quiet, struct rebuild_totals *totals, char *err, size_t errlen)
{
    if (p->resend < 0) {
        p->resend = pickup_buffers_changed(c, p, err, errlen);
        if (p->resend < 0) return -1;
        for (size_t i = 0; i < p->nvariants; i++)
            p->variants[i].argv[RESEND_ARG] = p->resend ? "1" : "0";
    }
    size_t failed_before = totals->failed;
    struct progress bar;
    progress_init(&bar, "rebuilding", "SKUs", quiet);
    size_t sent = 0, answered = 0;
    while (answered < n) {
        while (sent < n && sent - answered < REBUILD_IN_FLIGHT) {
            const char **argv;
            const size_t *lens;
            int argc = rebuild_plan_command(p, skus[sent], &argv, &lens);
            if (argc < 0) {
                progress_done(&bar);
                snprintf(err, errlen, "SKU %.100s…: too long for a key", skus[sent]);
                return -1;
            }
            if (redisAppendCommandArgv(c, argc, argv, lens) != REDIS_OK) {
                progress_done(&bar);
                snprintf(err, errlen, "Redis: %s", redisconn_error(c, NULL));
                return -1;
            }
            sent++;
        }
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK) {
            progress_done(&bar);
            snprintf(err, errlen, "Redis connection lost after %zu of %zu SKUs: %s", answered, n,
                     redisconn_error(c, NULL));
            return -1;
        }
        count_reply(skus[answered], r, totals);
        freeReplyObject(r);
        answered++;
        progress_update(&bar, (long long)answered, (long long)n, NULL, answered == n);
    }
    progress_done(&bar);
    if (totals->failed == failed_before) {
        /* every SKU got today's buffers: the next rebuild need not resend */
        redisReply *r = redisCommand(c, "SET " PICKUP_BUFFERS_KEY " %s", p->pickup_buffers);
        freeReplyObject(r);
    }
    return 0;
}
