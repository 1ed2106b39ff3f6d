/* alertview.c — see alertview.h. */
#include "alertview.h"

#include "stockmesh/alerts.h"

#include <inttypes.h>
#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *const STATES[] = {"open", "acknowledged", "resolved", "unresolved", "all"};

int alertview_state_valid(const char *state)
{
    for (size_t i = 0; i < sizeof STATES / sizeof STATES[0]; i++)
        if (strcmp(state, STATES[i]) == 0) return 1;
    return 0;
}

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static const char *utc(int64_t ms, char *buf, size_t len)
{
    if (!ms) return "-";
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

static struct alerts *open_alerts(struct store *store)
{
    char err[600];
    struct alerts *a = alerts_new(store, err, sizeof err);
    if (!a) fprintf(stderr, "stockmesh: cannot open the alert store: %s\n", err);
    return a;
}

/* "SKU-1 at S12", "source erp", "-": what an alert is about. */
static const char *subject(const struct alert *al, char *buf, size_t len)
{
    if (al->sku[0] && al->location[0]) snprintf(buf, len, "%s at %s", al->sku, al->location);
    else if (al->sku[0]) snprintf(buf, len, "%s", al->sku);
    else if (al->location[0]) snprintf(buf, len, "location %s", al->location);
    else if (al->source[0]) snprintf(buf, len, "source %s", al->source);
    else snprintf(buf, len, "-");
    return buf;
}

static void print_alert(const struct alert *al)
{
    char opened[32], about[400], when[32];
    printf("%6" PRId64 "  %-12s  %-8s  %-16s  %-24s  %-19s  %5" PRId64 "  %s\n", al->id,
           al->state, al->severity, al->rule, subject(al, about, sizeof about),
           utc(al->opened_ms, opened, sizeof opened), al->count, al->summary);
    if (al->acknowledged_ms)
        printf("%6s  acknowledged by %s at %s UTC\n", "", al->acknowledged_by,
               utc(al->acknowledged_ms, when, sizeof when));
    if (al->resolved_ms)
        printf("%6s  resolved by %s at %s UTC\n", "", al->resolved_by,
               utc(al->resolved_ms, when, sizeof when));
    if (al->note) printf("%6s  note: %s\n", "", al->note);
}

int alertview_list(struct store *store, const struct alertview_query *q, int as_json)
{
    struct alerts *a = open_alerts(store);
    if (!a) return 1;
    struct alert_filter f = {.state = strcmp(q->state, "all") == 0 ? NULL : q->state,
                             .location = q->location, .rule = q->rule, .sku = q->sku,
                             .limit = q->limit};
    struct alert *list = NULL;
    size_t n = 0;
    if (alerts_list(a, &f, &list, &n) != 0) {
        fprintf(stderr, "stockmesh: cannot list alerts: %s\n", alerts_errstr(a));
        alerts_free(a);
        return 1;
    }
    int status = 0;
    if (as_json) {
        json_t *array = json_array();
        for (size_t i = 0; array && i < n; i++)
            if (json_array_append_new(array, alert_to_json(&list[i])) != 0) {
                json_decref(array);
                array = NULL;
            }
        json_t *doc = array ? json_pack("{s:o}", "alerts", array) : NULL;
        char *text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
        if (text)
            printf("%s\n", text);
        else {
            fprintf(stderr, "stockmesh: out of memory\n");
            status = 1;
        }
        free(text);
        json_decref(doc);
    } else if (n == 0) {
        int filtered = q->location || q->rule || q->sku;
        printf("no %s%salerts%s%s\n", f.state ? q->state : "", f.state ? " " : "",
               filtered ? " match" : "", f.state ? " (--state all lists every alert)" : "");
    } else {
        printf("%6s  %-12s  %-8s  %-16s  %-24s  %-19s  %5s  %s\n", "id", "state", "severity",
               "rule", "about", "opened (UTC)", "count", "summary");
        for (size_t i = 0; i < n; i++) print_alert(&list[i]);
        size_t limit = q->limit ? q->limit : ALERT_LIST_DEFAULT;
        if (n >= limit) printf("(the newest %zu shown; --limit N shows more)\n", n);
    }
    alerts_list_free(list, n);
    alerts_free(a);
    return status;
}

/* The login name of whoever runs the command, for the audit of who acknowledged. */
static void acting_user(char *out, size_t len)
{
    struct passwd *pw = getpwuid(geteuid());
    if (pw && pw->pw_name && *pw->pw_name)
        snprintf(out, len, "%s", pw->pw_name);
    else
        snprintf(out, len, "uid %u", (unsigned)geteuid());
}

int alertview_transition(struct store *store, int64_t id, int resolve, const char *note)
{
    struct alerts *a = open_alerts(store);
    if (!a) return 1;
    char user[ALERT_BY_MAX];
    acting_user(user, sizeof user);
    struct alert al = {0};
    int rc = resolve ? alerts_resolve(a, id, user, note, now_ms(), &al)
                     : alerts_acknowledge(a, id, user, note, now_ms(), &al);
    if (rc != 0) {
        int conflict = alerts_errcode(a) == ALERTS_CONFLICT;
        fprintf(stderr, "stockmesh: %s%s\n", alerts_errstr(a),
                !conflict ? ""
                : resolve ? " (only an open or acknowledged alert can be resolved)"
                          : " (only an open alert can be acknowledged)");
        alerts_free(a);
        return 1;
    }
    printf("alert %" PRId64 " %s by %s: %s\n", al.id, resolve ? "resolved" : "acknowledged", user,
           al.summary);
    alert_release(&al);
    alerts_free(a);
    return 0;
}
