/* alertbus.c — see alertbus.h. */
#include "stockmesh/alertbus.h"

#include "stockmesh/event.h"
#include "stockmesh/kafka.h"
#include "stockmesh/log.h"
#include "stockmesh/runtime.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct alertbus {
    struct alerts *alerts;
    struct kafka_producer *producer;
    char topic[256];
};

static int64_t now_ms(void) { return event_now_us() / 1000; }

struct alertbus *alertbus_new(struct runtime *rt, struct kafka_producer *producer, char *err,
                              size_t errlen)
{
    struct alertbus *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    b->producer = producer;
    kafka_topic(rt->kafka, b->topic, sizeof b->topic, "alerts");
    if (kafka_topic_ensure(rt->kafka, b->topic, err, errlen) != 0 ||
        !(b->alerts = alerts_new(rt->store, err, errlen))) {
        alertbus_free(b);
        return NULL;
    }
    return b;
}

void alertbus_free(struct alertbus *b)
{
    if (!b) return;
    alerts_free(b->alerts);
    free(b);
}

struct alerts *alertbus_alerts(struct alertbus *b) { return b->alerts; }

static void publish(struct alertbus *b, const char *transition, const struct alert *a)
{
    json_t *doc = json_pack("{s:s, s:s, s:o, s:I}", "type", "alert", "transition", transition,
                            "alert", alert_to_json(a), "ts_ms", (json_int_t)now_ms());
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!body || kafka_producer_send(b->producer, b->topic, a->key, strlen(a->key), body,
                                     strlen(body), NULL) != 0)
        log_warning("alerts", "alert %" PRId64 " (%s) not published to %s; it is in the alert "
                              "store", a->id, a->key, b->topic);
    free(body);
}

enum alert_transition alertbus_raise(struct alertbus *b, const struct alert_input *in)
{
    struct alert a = {0};
    enum alert_transition t = ALERT_NONE;
    if (alerts_raise(b->alerts, in, now_ms(), &a, &t) != 0) {
        log_error("alerts", "cannot store alert %s: %s", in->key, alerts_errstr(b->alerts));
        return ALERT_NONE;
    }
    if (t == ALERT_OPENED) {
        log_warning("alerts", "alert %" PRId64 " opened: %s", a.id, a.summary);
        publish(b, "opened", &a);
    }
    alert_release(&a);
    return t;
}

enum alert_transition alertbus_clear(struct alertbus *b, const char *key)
{
    struct alert a = {0};
    enum alert_transition t = ALERT_NONE;
    if (alerts_clear(b->alerts, key, now_ms(), &a, &t) != 0) {
        log_error("alerts", "cannot resolve alert %s: %s", key, alerts_errstr(b->alerts));
        return ALERT_NONE;
    }
    if (t == ALERT_RESOLVED) {
        log_info("alerts", "alert %" PRId64 " resolved by itself: %s", a.id, a.summary);
        publish(b, "resolved", &a);
    }
    alert_release(&a);
    return t;
}
