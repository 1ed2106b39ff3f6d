/* test_alerts.c — the alert store: one unresolved alert per condition however often it is
 * raised, the open → acknowledged → resolved lifecycle with the reasons an operator is
 * refused, the dashboard's filters, and alerts that survive a restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stockmesh/alerts.h"
#include "stockmesh/embedded.h"
#include "stockmesh/store.h"

struct fixture {
    char dir[PATH_MAX];
    char path[PATH_MAX + 16];
    struct store *store;
    struct alerts *alerts;
};

static void open_both(struct fixture *fx)
{
    char err[1024] = "";
    fx->store = store_new(fx->path, err, sizeof err);
    if (!fx->store) fail_msg("store_new(%s): %s", fx->path, err);
    fx->alerts = alerts_new(fx->store, err, sizeof err);
    if (!fx->alerts) fail_msg("alerts_new: %s", err);
}

static void close_both(struct fixture *fx)
{
    alerts_free(fx->alerts);
    store_free(fx->store);
    fx->alerts = NULL;
    fx->store = NULL;
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    const char *tmp = getenv("TMPDIR");
    snprintf(fx->dir, sizeof fx->dir, "%s/test_alerts.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(fx->dir)) {
        perror("mkdtemp");
        free(fx);
        return -1;
    }
    snprintf(fx->path, sizeof fx->path, "%s/state.db", fx->dir);
    open_both(fx);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    close_both(fx);
    DIR *d = opendir(fx->dir);
    if (d) {
        for (struct dirent *e; (e = readdir(d));) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            char p[PATH_MAX * 2];
            snprintf(p, sizeof p, "%s/%s", fx->dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static const char *const store12_contacts[] = {"store12-ops@example.com",
                                               "regional-ops@example.com"};

/* A mismatch alert about one SKU at one location. */
static struct alert_input mismatch(const char *key, const char *sku, const char *location,
                                   const char *summary)
{
    struct alert_input in = {
        .rule = "mismatch",
        .key = key,
        .severity = "warning",
        .sku = sku,
        .location = location,
        .source = "pos",
        .summary = summary,
        .details = "{\"pos\":12,\"erp\":9,\"tolerance\":2}",
        .contacts = store12_contacts,
        .ncontacts = 2,
    };
    return in;
}

/* Raises in, expecting success and transition want; returns the alert's id. */
static int64_t raise_ok(struct alerts *a, const struct alert_input *in, int64_t now_ms,
                        enum alert_transition want)
{
    struct alert al;
    enum alert_transition t = ALERT_NONE;
    if (alerts_raise(a, in, now_ms, &al, &t) != 0) fail_msg("raise %s: %s", in->key,
                                                            alerts_errstr(a));
    assert_int_equal(t, want);
    int64_t id = al.id;
    alert_release(&al);
    return id;
}

static struct alert get_ok(struct alerts *a, int64_t id)
{
    struct alert al;
    if (alerts_get(a, id, &al) != 0) fail_msg("get %lld: %s", (long long)id, alerts_errstr(a));
    return al;
}

static void assert_contains(const char *text, const char *want)
{
    if (!strstr(text, want)) fail_msg("\"%s\" does not contain \"%s\"", text, want);
}

/* ------------------------------------------------------------------ tests */

static void test_raising_twice_is_one_alert_counted_twice(void **state)
{
    struct fixture *fx = *state;
    struct alert_input in = mismatch("mismatch|SKU-00042|S12", "SKU-00042", "S12",
                                     "POS says 12, ERP says 9");
    int64_t id = raise_ok(fx->alerts, &in, 1000, ALERT_OPENED);

    in.summary = "POS says 14, ERP says 9";
    in.severity = "critical";
    in.details = "{\"pos\":14,\"erp\":9}";
    struct alert al;
    enum alert_transition t;
    assert_int_equal(alerts_raise(fx->alerts, &in, 2500, &al, &t), 0);
    assert_int_equal(t, ALERT_UPDATED);
    assert_int_equal(al.id, id);
    assert_int_equal(al.count, 2);
    assert_string_equal(al.state, "open");
    assert_int_equal(al.opened_ms, 1000);
    assert_int_equal(al.last_seen_ms, 2500);
    assert_string_equal(al.summary, "POS says 14, ERP says 9"); /* the latest word */
    assert_string_equal(al.severity, "critical");
    assert_int_equal(json_integer_value(json_object_get(al.details, "pos")), 14);
    assert_null(json_object_get(al.details, "tolerance"));
    alert_release(&al);

    struct alert *list;
    size_t n;
    struct alert_filter f = {.state = "unresolved"};
    assert_int_equal(alerts_list(fx->alerts, &f, &list, &n), 0);
    assert_int_equal(n, 1);
    alerts_list_free(list, n);

    struct alert found;
    assert_int_equal(alerts_find_unresolved(fx->alerts, "mismatch|SKU-00042|S12", &found), 0);
    assert_int_equal(found.id, id);
    alert_release(&found);
    assert_int_equal(alerts_find_unresolved(fx->alerts, "mismatch|SKU-00042|S13", NULL), 1);
}

static void test_cleared_condition_resolves_and_its_return_is_a_new_alert(void **state)
{
    struct fixture *fx = *state;
    struct alert_input in = {.rule = "stale_source", .key = "stale_source|pos",
                             .severity = "critical", .source = "pos",
                             .summary = "pos has sent nothing for 5 minutes"};
    int64_t first = raise_ok(fx->alerts, &in, 1000, ALERT_OPENED);
    raise_ok(fx->alerts, &in, 2000, ALERT_UPDATED);

    struct alert al;
    enum alert_transition t;
    assert_int_equal(alerts_clear(fx->alerts, "stale_source|pos", 3000, &al, &t), 0);
    assert_int_equal(t, ALERT_RESOLVED);
    assert_int_equal(al.id, first);
    assert_string_equal(al.state, "resolved");
    assert_string_equal(al.resolved_by, "auto");
    assert_int_equal(al.resolved_ms, 3000);
    alert_release(&al);

    /* nothing left to clear: out untouched */
    struct alert untouched;
    memset(&untouched, 0x5a, sizeof untouched);
    assert_int_equal(alerts_clear(fx->alerts, "stale_source|pos", 3500, &untouched, &t), 0);
    assert_int_equal(t, ALERT_NONE);
    assert_int_equal(untouched.id, 0x5a5a5a5a5a5a5a5a);

    int64_t second = raise_ok(fx->alerts, &in, 4000, ALERT_OPENED);
    assert_true(second > first);
    al = get_ok(fx->alerts, second);
    assert_int_equal(al.count, 1);
    assert_string_equal(al.state, "open");
    assert_int_equal(al.opened_ms, 4000);
    alert_release(&al);

    /* the first one is history, untouched by the new one */
    al = get_ok(fx->alerts, first);
    assert_string_equal(al.state, "resolved");
    assert_int_equal(al.count, 2);
    assert_int_equal(al.last_seen_ms, 2000);
    alert_release(&al);
}

static void test_acknowledged_alert_is_resolved_when_its_condition_clears(void **state)
{
    struct fixture *fx = *state;
    struct alert_input in = mismatch("mismatch|SKU-1|S12", "SKU-1", "S12", "counts differ");
    int64_t id = raise_ok(fx->alerts, &in, 1000, ALERT_OPENED);

    struct alert al;
    assert_int_equal(alerts_acknowledge(fx->alerts, id, "maria", "recounting the shelf", 1500,
                                        &al),
                     0);
    assert_string_equal(al.state, "acknowledged");
    assert_string_equal(al.acknowledged_by, "maria");
    assert_int_equal(al.acknowledged_ms, 1500);
    assert_string_equal(al.note, "recounting the shelf");
    alert_release(&al);

    /* still there while acknowledged: counted, not reopened */
    raise_ok(fx->alerts, &in, 2000, ALERT_UPDATED);
    al = get_ok(fx->alerts, id);
    assert_string_equal(al.state, "acknowledged");
    assert_int_equal(al.count, 2);
    alert_release(&al);

    enum alert_transition t;
    assert_int_equal(alerts_clear(fx->alerts, "mismatch|SKU-1|S12", 2600, &al, &t), 0);
    assert_int_equal(t, ALERT_RESOLVED);
    assert_int_equal(al.id, id);
    assert_string_equal(al.state, "resolved");
    assert_string_equal(al.resolved_by, "auto");
    assert_string_equal(al.acknowledged_by, "maria"); /* who looked at it stays on record */
    assert_string_equal(al.note, "recounting the shelf");
    alert_release(&al);
}

static void test_refusals_say_why(void **state)
{
    struct fixture *fx = *state;
    struct alert_input in = mismatch("mismatch|SKU-2|S12", "SKU-2", "S12", "counts differ");
    int64_t id = raise_ok(fx->alerts, &in, 1000, ALERT_OPENED);
    char want[128];

    assert_int_equal(alerts_acknowledge(fx->alerts, id, "maria", NULL, 1100, NULL), 0);
    assert_int_equal(alerts_errcode(fx->alerts), ALERTS_OK);
    assert_int_equal(alerts_acknowledge(fx->alerts, id, "tom", NULL, 1200, NULL), -1);
    assert_int_equal(alerts_errcode(fx->alerts), ALERTS_CONFLICT);
    snprintf(want, sizeof want, "alert %lld is already acknowledged", (long long)id);
    assert_string_equal(alerts_errstr(fx->alerts), want);
    struct alert al = get_ok(fx->alerts, id);
    assert_string_equal(al.acknowledged_by, "maria"); /* the refused one changed nothing */
    assert_int_equal(al.acknowledged_ms, 1100);
    alert_release(&al);

    assert_int_equal(alerts_resolve(fx->alerts, id, "maria", "shelf recounted", 1300, NULL), 0);
    assert_int_equal(alerts_acknowledge(fx->alerts, id, "tom", NULL, 1400, NULL), -1);
    assert_int_equal(alerts_errcode(fx->alerts), ALERTS_CONFLICT);
    snprintf(want, sizeof want, "alert %lld is resolved", (long long)id);
    assert_string_equal(alerts_errstr(fx->alerts), want);

    assert_int_equal(alerts_resolve(fx->alerts, id, "tom", NULL, 1500, NULL), -1);
    assert_int_equal(alerts_errcode(fx->alerts), ALERTS_CONFLICT);
    snprintf(want, sizeof want, "alert %lld is already resolved", (long long)id);
    assert_string_equal(alerts_errstr(fx->alerts), want);

    /* acknowledging needs a name */
    int64_t other = raise_ok(fx->alerts, &(struct alert_input){.rule = "negative_stock",
                                                               .key = "negative_stock|SKU-3|S12",
                                                               .severity = "warning",
                                                               .summary = "on hand is -2"},
                             1600, ALERT_OPENED);
    assert_int_equal(alerts_acknowledge(fx->alerts, other, "", NULL, 1700, NULL), -1);
    assert_int_equal(alerts_errcode(fx->alerts), ALERTS_INVALID);
    al = get_ok(fx->alerts, other);
    assert_string_equal(al.state, "open");
    alert_release(&al);
}

static void test_unknown_id_is_not_found(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(alerts_resolve(fx->alerts, 999, "maria", NULL, 1000, NULL), -1);
    assert_int_equal(alerts_errcode(fx->alerts), ALERTS_NOT_FOUND);
    assert_string_equal(alerts_errstr(fx->alerts), "alert 999 does not exist");

    assert_int_equal(alerts_acknowledge(fx->alerts, 999, "maria", NULL, 1000, NULL), -1);
    assert_int_equal(alerts_errcode(fx->alerts), ALERTS_NOT_FOUND);

    struct alert al;
    assert_int_equal(alerts_get(fx->alerts, 999, &al), -1);
    assert_int_equal(alerts_errcode(fx->alerts), ALERTS_NOT_FOUND);
}

static void test_resolving_by_hand_keeps_or_replaces_the_note(void **state)
{
    struct fixture *fx = *state;
    struct alert_input in = mismatch("mismatch|SKU-4|S12", "SKU-4", "S12", "counts differ");
    int64_t a = raise_ok(fx->alerts, &in, 1000, ALERT_OPENED);
    in.key = "mismatch|SKU-4|S13";
    int64_t b = raise_ok(fx->alerts, &in, 1000, ALERT_OPENED);

    assert_int_equal(alerts_acknowledge(fx->alerts, a, "maria", "truck arrives at 3", 1100,
                                        NULL),
                     0);
    struct alert al;
    assert_int_equal(alerts_resolve(fx->alerts, a, "tom", NULL, 1200, &al), 0);
    assert_string_equal(al.state, "resolved");
    assert_string_equal(al.resolved_by, "tom");
    assert_int_equal(al.resolved_ms, 1200);
    assert_string_equal(al.note, "truck arrives at 3");
    alert_release(&al);

    /* an open alert can be resolved without acknowledging it first */
    assert_int_equal(alerts_resolve(fx->alerts, b, "tom", "miscount, fixed in POS", 1300, &al),
                     0);
    assert_string_equal(al.note, "miscount, fixed in POS");
    assert_int_equal(al.acknowledged_ms, 0);
    assert_string_equal(al.acknowledged_by, "");
    alert_release(&al);
}

static void test_list_filters_newest_first_with_limit(void **state)
{
    struct fixture *fx = *state;
    int64_t ids[6];
    ids[0] = raise_ok(fx->alerts, &(struct alert_input){.rule = "mismatch", .key = "m|1|S12",
                                                        .severity = "warning", .sku = "SKU-1",
                                                        .location = "S12", .summary = "x"},
                      1000, ALERT_OPENED);
    ids[1] = raise_ok(fx->alerts, &(struct alert_input){.rule = "negative_stock", .key = "n|1|S12",
                                                        .severity = "critical", .sku = "SKU-1",
                                                        .location = "S12", .summary = "x"},
                      1001, ALERT_OPENED);
    ids[2] = raise_ok(fx->alerts, &(struct alert_input){.rule = "mismatch", .key = "m|2|S13",
                                                        .severity = "warning", .sku = "SKU-2",
                                                        .location = "S13", .summary = "x"},
                      1002, ALERT_OPENED);
    ids[3] = raise_ok(fx->alerts, &(struct alert_input){.rule = "stale_source", .key = "s|pos",
                                                        .severity = "critical", .source = "pos",
                                                        .summary = "x"},
                      1003, ALERT_OPENED);
    ids[4] = raise_ok(fx->alerts, &(struct alert_input){.rule = "mismatch", .key = "m|3|S12",
                                                        .severity = "warning", .sku = "SKU-3",
                                                        .location = "S12", .summary = "x"},
                      1004, ALERT_OPENED);
    ids[5] = raise_ok(fx->alerts, &(struct alert_input){.rule = "mismatch", .key = "m|4|S12",
                                                        .severity = "warning", .sku = "SKU-4",
                                                        .location = "S12", .summary = "x"},
                      1005, ALERT_OPENED);
    assert_int_equal(alerts_acknowledge(fx->alerts, ids[4], "maria", NULL, 1100, NULL), 0);
    assert_int_equal(alerts_clear(fx->alerts, "m|1|S12", 1200, NULL, NULL), 0);

    struct alert *list;
    size_t n;

    /* everything, newest first */
    assert_int_equal(alerts_list(fx->alerts, NULL, &list, &n), 0);
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++) assert_int_equal(list[i].id, ids[5 - i]);
    alerts_list_free(list, n);

    struct alert_filter f = {.state = "unresolved"};
    assert_int_equal(alerts_list(fx->alerts, &f, &list, &n), 0);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) assert_int_not_equal(list[i].id, ids[0]);
    alerts_list_free(list, n);

    f = (struct alert_filter){.state = "open"};
    assert_int_equal(alerts_list(fx->alerts, &f, &list, &n), 0);
    assert_int_equal(n, 4);
    alerts_list_free(list, n);

    f = (struct alert_filter){.state = "acknowledged"};
    assert_int_equal(alerts_list(fx->alerts, &f, &list, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].id, ids[4]);
    alerts_list_free(list, n);

    f = (struct alert_filter){.state = "resolved"};
    assert_int_equal(alerts_list(fx->alerts, &f, &list, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].id, ids[0]);
    alerts_list_free(list, n);

    /* one store's unresolved mismatches: what its ops team sees */
    f = (struct alert_filter){.state = "unresolved", .location = "S12", .rule = "mismatch"};
    assert_int_equal(alerts_list(fx->alerts, &f, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(list[0].id, ids[5]);
    assert_int_equal(list[1].id, ids[4]);
    alerts_list_free(list, n);

    f = (struct alert_filter){.location = "S12"};
    assert_int_equal(alerts_list(fx->alerts, &f, &list, &n), 0);
    assert_int_equal(n, 4);
    alerts_list_free(list, n);

    f = (struct alert_filter){.rule = "stale_source"};
    assert_int_equal(alerts_list(fx->alerts, &f, &list, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].source, "pos");
    assert_string_equal(list[0].location, "");
    alerts_list_free(list, n);

    f = (struct alert_filter){.sku = "SKU-1"};
    assert_int_equal(alerts_list(fx->alerts, &f, &list, &n), 0);
    assert_int_equal(n, 2);
    alerts_list_free(list, n);

    /* a page of two, then the next page, then what is new since the first */
    f = (struct alert_filter){.limit = 2};
    assert_int_equal(alerts_list(fx->alerts, &f, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(list[0].id, ids[5]);
    assert_int_equal(list[1].id, ids[4]);
    int64_t last = list[1].id;
    alerts_list_free(list, n);
    f = (struct alert_filter){.limit = 2, .before_id = last};
    assert_int_equal(alerts_list(fx->alerts, &f, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(list[0].id, ids[3]);
    assert_int_equal(list[1].id, ids[2]);
    alerts_list_free(list, n);
    f = (struct alert_filter){.since_id = ids[3]};
    assert_int_equal(alerts_list(fx->alerts, &f, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(list[0].id, ids[5]);
    alerts_list_free(list, n);

    /* nothing matches: an empty list, not an error */
    f = (struct alert_filter){.location = "S99"};
    assert_int_equal(alerts_list(fx->alerts, &f, &list, &n), 0);
    assert_int_equal(n, 0);
    alerts_list_free(list, n);

    f = (struct alert_filter){.state = "closed"};
    assert_int_equal(alerts_list(fx->alerts, &f, &list, &n), -1);
    assert_int_equal(alerts_errcode(fx->alerts), ALERTS_INVALID);
    assert_contains(alerts_errstr(fx->alerts), "closed");
}

static void test_list_limit_defaults_and_is_capped(void **state)
{
    struct fixture *fx = *state;
    char key[32];
    for (int i = 0; i < ALERT_LIST_MAX + 5; i++) {
        snprintf(key, sizeof key, "m|%d", i);
        struct alert_input in = {.rule = "mismatch", .key = key, .severity = "warning",
                                 .summary = "x"};
        assert_int_equal(alerts_raise(fx->alerts, &in, 1000 + i, NULL, NULL), 0);
    }
    struct alert *list;
    size_t n;
    assert_int_equal(alerts_list(fx->alerts, NULL, &list, &n), 0);
    assert_int_equal(n, ALERT_LIST_DEFAULT);
    alerts_list_free(list, n);
    struct alert_filter f = {.limit = 1000000};
    assert_int_equal(alerts_list(fx->alerts, &f, &list, &n), 0);
    assert_int_equal(n, ALERT_LIST_MAX);
    alerts_list_free(list, n);
}

static void test_one_unresolved_alert_per_key_is_a_database_constraint(void **state)
{
    struct fixture *fx = *state;
    struct alert_input in = mismatch("mismatch|SKU-5|S12", "SKU-5", "S12", "counts differ");
    raise_ok(fx->alerts, &in, 1000, ALERT_OPENED);

    sqlite3 *db = store_db(fx->store);
    const char *insert =
        "INSERT INTO alerts (rule, dedup_key, severity, summary, state, opened_ms, last_seen_ms) "
        "VALUES ('mismatch', 'mismatch|SKU-5|S12', 'warning', 'racing raise', '%s', 1, 1)";
    char sql[512];
    snprintf(sql, sizeof sql, insert, "open");
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_CONSTRAINT);
    snprintf(sql, sizeof sql, insert, "acknowledged");
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_CONSTRAINT);
    snprintf(sql, sizeof sql, insert, "resolved"); /* history may hold many */
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);

    /* a second process raising the same condition joins the first one's alert */
    char err[1024];
    struct store *s2 = store_new(fx->path, err, sizeof err);
    assert_non_null(s2);
    struct alerts *a2 = alerts_new(s2, err, sizeof err);
    assert_non_null(a2);
    raise_ok(a2, &in, 2000, ALERT_UPDATED);
    alerts_free(a2);
    store_free(s2);
    struct alert al;
    assert_int_equal(alerts_find_unresolved(fx->alerts, "mismatch|SKU-5|S12", &al), 0);
    assert_int_equal(al.count, 2);
    alert_release(&al);
}

static void test_alerts_survive_a_restart(void **state)
{
    struct fixture *fx = *state;
    struct alert_input in = mismatch("mismatch|SKU-6|S12", "SKU-6", "S12", "counts differ");
    int64_t id = raise_ok(fx->alerts, &in, 1000, ALERT_OPENED);
    raise_ok(fx->alerts, &in, 2000, ALERT_UPDATED);
    assert_int_equal(alerts_acknowledge(fx->alerts, id, "maria", "on it", 3000, NULL), 0);
    in.key = "mismatch|SKU-6|S13";
    int64_t gone = raise_ok(fx->alerts, &in, 1000, ALERT_OPENED);
    assert_int_equal(alerts_clear(fx->alerts, in.key, 4000, NULL, NULL), 0);
    close_both(fx);

    open_both(fx);
    assert_int_equal(store_schema_version(fx->store), store_schema_latest());
    struct alert al = get_ok(fx->alerts, id);
    assert_string_equal(al.rule, "mismatch");
    assert_string_equal(al.key, "mismatch|SKU-6|S12");
    assert_string_equal(al.severity, "warning");
    assert_string_equal(al.sku, "SKU-6");
    assert_string_equal(al.location, "S12");
    assert_string_equal(al.source, "pos");
    assert_string_equal(al.summary, "counts differ");
    assert_int_equal(json_integer_value(json_object_get(al.details, "erp")), 9);
    assert_int_equal(json_array_size(al.contacts), 2);
    assert_string_equal(json_string_value(json_array_get(al.contacts, 0)),
                        "store12-ops@example.com");
    assert_string_equal(al.state, "acknowledged");
    assert_int_equal(al.opened_ms, 1000);
    assert_int_equal(al.last_seen_ms, 2000);
    assert_int_equal(al.count, 2);
    assert_int_equal(al.acknowledged_ms, 3000);
    assert_string_equal(al.acknowledged_by, "maria");
    assert_string_equal(al.note, "on it");
    alert_release(&al);
    al = get_ok(fx->alerts, gone);
    assert_string_equal(al.state, "resolved");
    assert_int_equal(al.resolved_ms, 4000);
    alert_release(&al);

    /* after the restart the rule engine still finds it and keeps counting it */
    struct alert_input again = mismatch("mismatch|SKU-6|S12", "SKU-6", "S12", "counts differ");
    assert_int_equal(raise_ok(fx->alerts, &again, 5000, ALERT_UPDATED), id);
}

struct seen {
    char keys[8][ALERT_KEY_MAX];
    int n;
    struct alerts *alerts;
};

/* What a rule engine does after a restart: re-check each, clear what no longer holds. */
static int recheck(void *arg, const struct alert *al)
{
    struct seen *s = arg;
    snprintf(s->keys[s->n++], ALERT_KEY_MAX, "%s", al->key);
    if (strcmp(al->rule, "stale_source") == 0)
        assert_int_equal(alerts_clear(s->alerts, al->key, 9000, NULL, NULL), 0);
    return 0;
}

static void test_unresolved_alerts_can_be_rechecked_after_a_restart(void **state)
{
    struct fixture *fx = *state;
    struct alert_input a = mismatch("mismatch|SKU-7|S12", "SKU-7", "S12", "counts differ");
    struct alert_input b = {.rule = "stale_source", .key = "stale_source|pos",
                            .severity = "critical", .source = "pos", .summary = "silent"};
    struct alert_input c = mismatch("mismatch|SKU-8|S12", "SKU-8", "S12", "counts differ");
    raise_ok(fx->alerts, &a, 1000, ALERT_OPENED);
    int64_t acked = raise_ok(fx->alerts, &b, 1001, ALERT_OPENED);
    raise_ok(fx->alerts, &c, 1002, ALERT_OPENED);
    assert_int_equal(alerts_acknowledge(fx->alerts, acked, "maria", NULL, 1100, NULL), 0);
    assert_int_equal(alerts_clear(fx->alerts, c.key, 1200, NULL, NULL), 0);

    struct seen s = {.alerts = fx->alerts};
    assert_int_equal(alerts_each_unresolved(fx->alerts, recheck, &s), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.keys[0], "mismatch|SKU-7|S12"); /* oldest first */
    assert_string_equal(s.keys[1], "stale_source|pos");
    assert_int_equal(alerts_find_unresolved(fx->alerts, "stale_source|pos", NULL), 1);
}

struct rule_count {
    int64_t mismatch_open, negative_resolved;
};

static int count_rule(void *arg, const char *rule, const char *state, int64_t n)
{
    struct rule_count *c = arg;
    if (strcmp(rule, "mismatch") == 0 && strcmp(state, "open") == 0) c->mismatch_open = n;
    if (strcmp(rule, "negative_stock") == 0 && strcmp(state, "resolved") == 0)
        c->negative_resolved = n;
    return 0;
}

static void test_counts_per_state_and_rule(void **state)
{
    struct fixture *fx = *state;
    struct alert_counts c;
    assert_int_equal(alerts_count(fx->alerts, &c, NULL, NULL), 0);
    assert_int_equal(c.open + c.acknowledged + c.resolved, 0);

    struct alert_input m1 = mismatch("m|1", "SKU-1", "S12", "x");
    struct alert_input m2 = mismatch("m|2", "SKU-2", "S12", "x");
    struct alert_input m3 = mismatch("m|3", "SKU-3", "S12", "x");
    struct alert_input neg = {.rule = "negative_stock", .key = "n|1", .severity = "critical",
                              .summary = "x"};
    raise_ok(fx->alerts, &m1, 1000, ALERT_OPENED);
    raise_ok(fx->alerts, &m1, 1001, ALERT_UPDATED); /* counts alerts, not raises */
    raise_ok(fx->alerts, &m2, 1000, ALERT_OPENED);
    int64_t id3 = raise_ok(fx->alerts, &m3, 1000, ALERT_OPENED);
    raise_ok(fx->alerts, &neg, 1000, ALERT_OPENED);
    assert_int_equal(alerts_acknowledge(fx->alerts, id3, "maria", NULL, 1100, NULL), 0);
    assert_int_equal(alerts_clear(fx->alerts, "n|1", 1200, NULL, NULL), 0);

    struct rule_count rc = {0, 0};
    assert_int_equal(alerts_count(fx->alerts, &c, count_rule, &rc), 0);
    assert_int_equal(c.open, 2);
    assert_int_equal(c.acknowledged, 1);
    assert_int_equal(c.resolved, 1);
    assert_int_equal(rc.mismatch_open, 2);
    assert_int_equal(rc.negative_resolved, 1);
}

static void test_alert_json_has_the_api_field_names(void **state)
{
    struct fixture *fx = *state;
    struct alert_input in = {.rule = "stale_source", .key = "stale_source|pos",
                             .severity = "critical", .source = "pos",
                             .summary = "pos has sent nothing for 5 minutes"};
    struct alert al;
    assert_int_equal(alerts_raise(fx->alerts, &in, 1000, &al, NULL), 0);
    int64_t id = al.id;
    json_t *j = alert_to_json(&al);
    alert_release(&al);
    assert_non_null(j);

    static const char *const fields[] = {
        "id",          "rule",         "key",   "severity",        "sku",
        "location",    "source",       "summary", "details",       "contacts",
        "state",       "opened_ms",    "last_seen_ms", "count",    "acknowledged_ms",
        "acknowledged_by", "resolved_ms", "resolved_by", "note",
    };
    const size_t nfields = sizeof fields / sizeof fields[0];
    assert_int_equal(json_object_size(j), nfields);
    for (size_t i = 0; i < nfields; i++)
        if (!json_object_get(j, fields[i])) fail_msg("no \"%s\" in the alert's JSON", fields[i]);

    assert_string_equal(json_string_value(json_object_get(j, "key")), "stale_source|pos");
    assert_string_equal(json_string_value(json_object_get(j, "state")), "open");
    assert_string_equal(json_string_value(json_object_get(j, "source")), "pos");
    assert_true(json_is_integer(json_object_get(j, "id")));
    assert_int_equal(json_integer_value(json_object_get(j, "count")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "opened_ms")), 1000);
    assert_true(json_is_object(json_object_get(j, "details")));
    assert_true(json_is_array(json_object_get(j, "contacts")));
    const char *absent[] = {"sku", "location", "acknowledged_ms", "acknowledged_by",
                            "resolved_ms", "resolved_by", "note"};
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
        if (!json_is_null(json_object_get(j, absent[i])))
            fail_msg("\"%s\" should be null when absent", absent[i]);
    json_decref(j);

    /* after an acknowledgement the fields are filled */
    assert_int_equal(alerts_acknowledge(fx->alerts, id, "maria", "looking", 1500, &al), 0);
    j = alert_to_json(&al);
    alert_release(&al);
    assert_string_equal(json_string_value(json_object_get(j, "acknowledged_by")), "maria");
    assert_int_equal(json_integer_value(json_object_get(j, "acknowledged_ms")), 1500);
    assert_string_equal(json_string_value(json_object_get(j, "note")), "looking");
    json_decref(j);
}

static void test_bad_input_is_refused_and_stores_nothing(void **state)
{
    struct fixture *fx = *state;
    struct alert_input in = mismatch("mismatch|SKU-9|S12", "SKU-9", "S12", "counts differ");
    enum alert_transition t = ALERT_OPENED;

    in.details = "{\"pos\": 12,";
    assert_int_equal(alerts_raise(fx->alerts, &in, 1000, NULL, &t), -1);
    assert_int_equal(alerts_errcode(fx->alerts), ALERTS_INVALID);
    assert_contains(alerts_errstr(fx->alerts), "not JSON");
    assert_int_equal(t, ALERT_NONE);

    in.details = "[1, 2]";
    assert_int_equal(alerts_raise(fx->alerts, &in, 1000, NULL, NULL), -1);
    assert_contains(alerts_errstr(fx->alerts), "object");

    in.details = NULL;
    in.severity = "info";
    assert_int_equal(alerts_raise(fx->alerts, &in, 1000, NULL, NULL), -1);
    assert_contains(alerts_errstr(fx->alerts), "severity");

    in.severity = "warning";
    in.key = "";
    assert_int_equal(alerts_raise(fx->alerts, &in, 1000, NULL, NULL), -1);
    assert_int_equal(alerts_errcode(fx->alerts), ALERTS_INVALID);

    struct alert_counts c;
    assert_int_equal(alerts_count(fx->alerts, &c, NULL, NULL), 0);
    assert_int_equal(c.open, 0);

    /* without details: an empty object */
    in.key = "mismatch|SKU-9|S12";
    struct alert al;
    assert_int_equal(alerts_raise(fx->alerts, &in, 1000, &al, NULL), 0);
    assert_true(json_is_object(al.details));
    assert_int_equal(json_object_size(al.details), 0);
    alert_release(&al);
    alert_release(&al); /* twice is harmless */
}

static void test_long_and_broken_text_is_cut_safely(void **state)
{
    struct fixture *fx = *state;
    char key[1000], sku[600], summary[5000], location[300];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = 0;
    memset(sku, 's', sizeof sku - 1);
    sku[sizeof sku - 1] = 0;
    /* 2-byte characters, so a cut in the middle of one would be easy */
    for (size_t i = 0; i + 2 < sizeof summary; i += 2) memcpy(summary + i, "\xc3\xa9", 2);
    summary[sizeof summary - 2] = 0;
    snprintf(location, sizeof location, "S12\xff\xfe");
    struct alert_input in = mismatch(key, sku, location, summary);
    struct alert al;
    assert_int_equal(alerts_raise(fx->alerts, &in, 1000, &al, NULL), 0);
    assert_int_equal(strlen(al.key), ALERT_KEY_MAX - 1);
    assert_int_equal(strlen(al.sku), ALERT_SKU_MAX - 1);
    assert_true(strlen(al.summary) < ALERT_SUMMARY_MAX);
    assert_int_equal(strlen(al.summary) % 2, 0); /* whole characters only */
    assert_string_equal(al.location, "S12\xef\xbf\xbd\xef\xbf\xbd");
    int64_t id = al.id;
    json_t *j = alert_to_json(&al); /* valid UTF-8 throughout, so the JSON is whole */
    assert_non_null(j);
    assert_true(json_is_string(json_object_get(j, "summary")));
    json_decref(j);
    alert_release(&al);

    /* the same long key is the same condition */
    assert_int_equal(raise_ok(fx->alerts, &in, 2000, ALERT_UPDATED), id);
    struct alert_filter f = {.sku = sku, .location = location};
    struct alert *list;
    size_t n;
    assert_int_equal(alerts_list(fx->alerts, &f, &list, &n), 0);
    assert_int_equal(n, 1);
    alerts_list_free(list, n);
    assert_int_equal(alerts_clear(fx->alerts, key, 3000, NULL, NULL), 0);
    assert_int_equal(alerts_find_unresolved(fx->alerts, key, NULL), 1);
}

static void test_purge_drops_old_history_and_never_reuses_ids(void **state)
{
    struct fixture *fx = *state;
    struct alert_input old = mismatch("m|old", "SKU-1", "S12", "x");
    struct alert_input still = mismatch("m|still", "SKU-2", "S12", "x");
    raise_ok(fx->alerts, &old, 1000, ALERT_OPENED);
    raise_ok(fx->alerts, &still, 1000, ALERT_OPENED);
    struct alert_input newest = mismatch("m|newest", "SKU-3", "S12", "x");
    int64_t newest_id = raise_ok(fx->alerts, &newest, 1000, ALERT_OPENED);
    assert_int_equal(alerts_clear(fx->alerts, "m|old", 2000, NULL, NULL), 0);
    assert_int_equal(alerts_clear(fx->alerts, "m|newest", 2000, NULL, NULL), 0);

    int64_t n = -1;
    assert_int_equal(alerts_purge_resolved(fx->alerts, 1500, &n), 0);
    assert_int_equal(n, 0); /* resolved after the cut-off: kept */
    assert_int_equal(alerts_purge_resolved(fx->alerts, 2001, &n), 0);
    assert_int_equal(n, 2);
    struct alert_counts c;
    assert_int_equal(alerts_count(fx->alerts, &c, NULL, NULL), 0);
    assert_int_equal(c.open, 1);
    assert_int_equal(c.resolved, 0);

    /* "alert 3" in yesterday's mail must not name a different alert today */
    assert_true(raise_ok(fx->alerts, &newest, 3000, ALERT_OPENED) > newest_id);
}

static void test_database_of_the_previous_release_gains_alerts(void **state)
{
    struct fixture *fx = *state;
    close_both(fx);
    unlink(fx->path);
    char wal[PATH_MAX + 32];
    snprintf(wal, sizeof wal, "%s-wal", fx->path);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", fx->path);
    unlink(wal);

    /* what a box updated from the release before alerts holds */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, embedded_sql_001_initial, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO state VALUES ('source:erp', 'confirmed_lsn', "
                                  "'0/16B3748', 1); PRAGMA user_version = 1",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    open_both(fx);
    assert_int_equal(store_schema_version(fx->store), store_schema_latest());
    char out[64];
    assert_int_equal(store_get(fx->store, "source:erp", "confirmed_lsn", out, sizeof out), 0);
    assert_string_equal(out, "0/16B3748");
    struct alert_input in = mismatch("mismatch|SKU-1|S12", "SKU-1", "S12", "counts differ");
    raise_ok(fx->alerts, &in, 1000, ALERT_OPENED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_raising_twice_is_one_alert_counted_twice, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_cleared_condition_resolves_and_its_return_is_a_new_alert, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_acknowledged_alert_is_resolved_when_its_condition_clears, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals_say_why, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_id_is_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolving_by_hand_keeps_or_replaces_the_note, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_list_filters_newest_first_with_limit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_list_limit_defaults_and_is_capped, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_one_unresolved_alert_per_key_is_a_database_constraint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alerts_survive_a_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unresolved_alerts_can_be_rechecked_after_a_restart,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_counts_per_state_and_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_json_has_the_api_field_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input_is_refused_and_stores_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_long_and_broken_text_is_cut_safely, setup, teardown),
        cmocka_unit_test_setup_teardown(test_purge_drops_old_history_and_never_reuses_ids, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_database_of_the_previous_release_gains_alerts,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
