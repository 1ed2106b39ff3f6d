/* alerting.c — see alerting.h.
 *
 * Suspects live in the sorted set stockmesh:suspects, member "<rule>|<sku>|<location>",
 * score = when the condition was first seen (ms). The sweep takes those older than the
 * grace period; when every source is drained it asks the merge function to judge the
 * location again, raises or clears, and pushes the score on by the re-check interval,
 * so an open alert is looked at again even when no fact touches it. Being in Redis,
 * the set survives a restart of the merge role and is shared by its instances. */
#include "alerting.h"

#include "mapping.h"
#include "rules.h"
#include "stockmesh/alertbus.h"
#include "stockmesh/config.h"
#include "stockmesh/event.h"
#include "stockmesh/kafka.h"
#include "stockmesh/log.h"
#include "stockmesh/metrics.h"
#include "stockmesh/redis.h"
#include "stockmesh/runtime.h"
#include "stockmesh/store.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUSPECTS_KEY "stockmesh:suspects"
#define SWEEP_MS 1000
#define SWEEP_BATCH 200
#define RECHECK_MS 60000
#define STALE_CHECK_MS 5000

struct alerting {
    struct runtime *rt;
    const struct config *cfg;
    struct redis *redis;
    struct alertbus *bus;
    struct alerts *alerts;        /* the bus's store */
    struct event *sweep_timer, *stale_timer;
    int sweep_in_flight;
    struct metric *m_opened, *m_resolved, *m_open, *m_acknowledged, *m_waiting;
};

/* One judgement asked of Redis for a suspect. */
struct judgement {
    struct alerting *al;
    char member[300];
    char rule[32], sku[MAPPING_SKU_MAX], location[64];
};

static int64_t now_ms(void) { return event_now_us() / 1000; }

static void update_counts(struct alerting *al)
{
    struct alert_counts c;
    if (alerts_count(al->alerts, &c, NULL, NULL) != 0) return;
    metrics_set(al->m_open, (double)c.open);
    metrics_set(al->m_acknowledged, (double)c.acknowledged);
}

static void raise_alert(struct alerting *al, const struct alert_input *in)
{
    if (alertbus_raise(al->bus, in) != ALERT_OPENED) return;
    metrics_inc(al->m_opened, 1);
    update_counts(al);
}

static void clear_alert(struct alerting *al, const char *key)
{
    if (alertbus_clear(al->bus, key) != ALERT_RESOLVED) return;
    metrics_inc(al->m_resolved, 1);
    update_counts(al);
}

void alerting_note(struct alerting *al, const struct stock_fact *f, unsigned before,
                   unsigned after, int applied, const char *detail)
{
    (void)detail;
    if (!al) return;
    for (unsigned flag = 1; flag < (1u << RULES_NFLAGS); flag <<= 1) {
        int was = !!(before & flag), is = !!(after & flag);
        /* a duplicate says nothing changed, but the note of a first delivery that
           died with its process may never have reached the set: say it again */
        if (is && (!was || !applied)) {
            char member[300];
            if (rules_key(member, sizeof member, rules_name(flag), f->sku, f->location->code))
                continue;
            char score[24];
            snprintf(score, sizeof score, "%lld", (long long)now_ms());
            redis_sendf(al->redis, NULL, NULL, "ZADD %s NX %s %s", SUSPECTS_KEY, score, member);
        } else if (was && !is) {
            char member[300];
            if (rules_key(member, sizeof member, rules_name(flag), f->sku, f->location->code))
                continue;
            redis_sendf(al->redis, NULL, NULL, "ZREM %s %s", SUSPECTS_KEY, member);
            clear_alert(al, member);
        }
    }
}

/* 1 when every source has applied all it produced: a disagreement judged earlier may
 * be a change still on its way. */
static int all_drained(struct alerting *al)
{
    int64_t now = now_ms();
    for (size_t i = 0; i < al->cfg->nsources; i++) {
        char scope[160], status[16384];
        snprintf(scope, sizeof scope, "source:%s", al->cfg->sources[i].name);
        if (store_get(al->rt->store, scope, "status", status, sizeof status) != 0 ||
            !rules_source_drained(status, now))
            return 0;
    }
    return 1;
}

static void judged(void *arg, redisReply *reply)
{
    struct judgement *j = arg;
    struct alerting *al = j->al;
    if (!al || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 5) {
        if (al && reply && reply->type == REDIS_REPLY_ERROR)
            log_warning("alerts", "judging %s failed: %s", j->member, reply->str);
        free(j);
        return;
    }
    unsigned flags = (unsigned)reply->element[0]->integer;
    unsigned flag = rules_flag(j->rule);
    const struct config_location *loc = config_location(al->cfg, j->location);
    if (!flag || !loc) {
        /* the rule or the location left the configuration */
        redis_sendf(al->redis, NULL, NULL, "ZREM %s %s", SUSPECTS_KEY, j->member);
        clear_alert(al, j->member);
    } else if (flags & flag) {
        char summary[600];
        const char *detail = reply->element[1]->type == REDIS_REPLY_STRING ? reply->element[1]->str
                                                                            : "";
        json_t *details = rules_describe(al->cfg, flag, j->sku, loc, detail,
                                         reply->element[2]->integer, reply->element[3]->integer,
                                         reply->element[4]->integer, summary, sizeof summary);
        char *details_text = details ? json_dumps(details, JSON_COMPACT) : NULL;
        size_t ncontacts;
        const char *const *contacts = rules_contacts(al->cfg, loc, &ncontacts);
        json_t *observer = details ? json_object_get(details, "observing_source") : NULL;
        struct alert_input in = {.rule = j->rule, .key = j->member,
                                 .severity = flag == RULES_NEGATIVE ? "critical" : "warning",
                                 .sku = j->sku, .location = j->location,
                                 .source = json_string_value(observer), .summary = summary,
                                 .details = details_text, .contacts = contacts,
                                 .ncontacts = ncontacts};
        raise_alert(al, &in);
        free(details_text);
        json_decref(details);
        char score[24];
        snprintf(score, sizeof score, "%lld", (long long)(now_ms() + RECHECK_MS));
        redis_sendf(al->redis, NULL, NULL, "ZADD %s XX %s %s", SUSPECTS_KEY, score, j->member);
    } else {
        redis_sendf(al->redis, NULL, NULL, "ZREM %s %s", SUSPECTS_KEY, j->member);
        clear_alert(al, j->member);
    }
    free(j);
}

static void judge(struct alerting *al, const char *member)
{
    struct judgement *j = calloc(1, sizeof *j);
    if (!j) return;
    j->al = al;
    snprintf(j->member, sizeof j->member, "%s", member);
    if (rules_parse_key(member, j->rule, sizeof j->rule, j->sku, sizeof j->sku, j->location,
                        sizeof j->location) != 0) {
        redis_sendf(al->redis, NULL, NULL, "ZREM %s %s", SUSPECTS_KEY, member);
        free(j);
        return;
    }
    const struct config_location *loc = config_location(al->cfg, j->location);
    if (!loc) {
        judged(j, NULL); /* frees j; the suspect stays until the configuration has it */
        return;
    }
    const struct config_item_class *cls = config_item_class_for(al->cfg, j->sku);
    long long tolerance;
    int percent;
    config_tolerance(al->cfg, cls, &tolerance, &percent);
    char key[MAPPING_SKU_MAX + 8], tol[24], pct[8], nsrc[8];
    snprintf(key, sizeof key, "sm:{%s}", j->sku);
    snprintf(tol, sizeof tol, "%lld", tolerance);
    snprintf(pct, sizeof pct, "%d", percent);
    snprintf(nsrc, sizeof nsrc, "%zu", al->cfg->nsources);
    const char *argv[11 + 64];
    size_t lens[11 + 64];
    int argc = 0;
    argv[argc++] = "FCALL";
    argv[argc++] = "stockmesh_judge";
    argv[argc++] = "1";
    argv[argc++] = key;
    argv[argc++] = j->location;
    for (int k = 0; k < CONFIG_QUANTITY_KINDS; k++) {
        const char *a = config_authority_for(al->cfg, loc->type, k);
        argv[argc++] = a ? a : "";
    }
    argv[argc++] = tol;
    argv[argc++] = pct;
    argv[argc++] = nsrc;
    for (size_t i = 0; i < al->cfg->nsources && i < 64; i++) argv[argc++] = al->cfg->sources[i].name;
    for (int i = 0; i < argc; i++) lens[i] = strlen(argv[i]);
    if (redis_send(al->redis, judged, j, argc, argv, lens) != 0) free(j);
}

static void suspects_due(void *arg, redisReply *reply)
{
    struct alerting *al = arg;
    al->sweep_in_flight = 0;
    if (!reply || reply->type != REDIS_REPLY_ARRAY) return;
    metrics_set(al->m_waiting, (double)reply->elements);
    if (!reply->elements || !all_drained(al)) return;
    for (size_t i = 0; i < reply->elements; i++)
        if (reply->element[i]->type == REDIS_REPLY_STRING) judge(al, reply->element[i]->str);
}

static void sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct alerting *al = arg;
    if (al->sweep_in_flight || !redis_ready(al->redis)) return;
    char due[24];
    snprintf(due, sizeof due, "%lld",
             (long long)(now_ms() - al->cfg->rules.mismatch_grace_s * 1000LL));
    if (redis_sendf(al->redis, suspects_due, al, "ZRANGEBYSCORE %s -inf %s LIMIT 0 %d",
                    SUSPECTS_KEY, due, SWEEP_BATCH) == 0)
        al->sweep_in_flight = 1;
}

static void check_stale(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct alerting *al = arg;
    int64_t now = now_ms();
    for (size_t i = 0; i < al->cfg->nsources; i++) {
        const struct config_source *src = &al->cfg->sources[i];
        char scope[160], status[16384], why[512], key[160];
        snprintf(scope, sizeof scope, "source:%s", src->name);
        snprintf(key, sizeof key, "stale_source|%s", src->name);
        int rc = store_get(al->rt->store, scope, "status", status, sizeof status);
        if (rc < 0) continue;
        if (rules_source_stale(al->cfg, src, rc == 0 ? status : NULL, now, why, sizeof why)) {
            size_t ncontacts;
            const char *const *contacts = rules_contacts(al->cfg, NULL, &ncontacts);
            struct alert_input in = {.rule = "stale_source", .key = key, .severity = "critical",
                                     .source = src->name, .summary = why,
                                     .contacts = contacts, .ncontacts = ncontacts};
            raise_alert(al, &in);
        } else {
            clear_alert(al, key);
        }
    }
}

struct alerting *alerting_new(struct runtime *rt, struct redis *redis,
                              struct kafka_producer *producer, char *err, size_t errlen)
{
    struct alerting *al = calloc(1, sizeof *al);
    if (!al) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    al->rt = rt;
    al->cfg = rt->cfg;
    al->redis = redis;
    al->bus = alertbus_new(rt, producer, err, errlen);
    if (!al->bus) goto fail;
    al->alerts = alertbus_alerts(al->bus);
    struct metrics *mx = rt->metrics;
    al->m_opened = metrics_counter(mx, "stockmesh_alerts_opened_total", "Alerts opened.", NULL);
    al->m_resolved = metrics_counter(mx, "stockmesh_alerts_auto_resolved_total",
                                     "Alerts resolved because their condition cleared.", NULL);
    al->m_open = metrics_gauge(mx, "stockmesh_alerts", "Alerts by state.", "state=\"open\"");
    al->m_acknowledged = metrics_gauge(mx, "stockmesh_alerts", "Alerts by state.",
                                       "state=\"acknowledged\"");
    al->m_waiting = metrics_gauge(mx, "stockmesh_alerts_conditions_due",
                                  "Conditions past their grace period, waiting to be judged.",
                                  NULL);
    update_counts(al);
    al->sweep_timer = event_new(rt->base, -1, EV_PERSIST, sweep, al);
    al->stale_timer = event_new(rt->base, -1, EV_PERSIST, check_stale, al);
    struct timeval every = {0, SWEEP_MS * 1000}, stale_every = {STALE_CHECK_MS / 1000, 0};
    if (!al->sweep_timer || !al->stale_timer || event_add(al->sweep_timer, &every) != 0 ||
        event_add(al->stale_timer, &stale_every) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    return al;
fail:
    alerting_free(al);
    return NULL;
}

void alerting_free(struct alerting *al)
{
    if (!al) return;
    if (al->sweep_timer) event_free(al->sweep_timer);
    if (al->stale_timer) event_free(al->stale_timer);
    alertbus_free(al->bus);
    free(al);
}
