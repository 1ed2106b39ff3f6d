/* test_metrics.c — what Prometheus scrapes from /metrics: valid text exposition, one
 * HELP/TYPE per family, cumulative histogram buckets, and exact counts under
 * concurrent updates from reader threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stockmesh/metrics.h"

/* ------------------------------------------------------------------ helpers */

static int count_occurrences(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* The value on the sample line that starts with exactly `series ` (name and labels). */
static double sample_value(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        if (!end) end = line + strlen(line);
        if ((size_t)(end - line) > n && strncmp(line, series, n) == 0 && line[n] == ' ') {
            char *stop;
            double v = strtod(line + n + 1, &stop);
            if (stop != end) fail_msg("sample \"%.*s\" has a malformed value", (int)(end - line), line);
            return v;
        }
        line = *end ? end + 1 : end;
    }
    fail_msg("no sample \"%s\" in:\n%s", series, text);
    return NAN;
}

/* Checks the whole exposition against the Prometheus text format (version 0.0.4):
 * every line a comment (# HELP / # TYPE) or a sample; HELP and TYPE at most once per
 * family and before its samples; a family's samples contiguous; no duplicate series;
 * histogram buckets ascending in le, cumulative, ending in +Inf = _count. */
static void assert_valid_exposition(const char *text)
{
    regex_t help_re, type_re, sample_re;
    assert_int_equal(regcomp(&help_re, "^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*$", REG_EXTENDED), 0);
    assert_int_equal(regcomp(&type_re,
                             "^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) "
                             "(counter|gauge|histogram|summary|untyped)$",
                             REG_EXTENDED),
                     0);
    assert_int_equal(
        regcomp(&sample_re,
                "^([a-zA-Z_:][a-zA-Z0-9_:]*)"
                "(\\{([a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\""
                "(,[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\")*)?\\})? "
                "(-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|NaN|[+-]Inf)$",
                REG_EXTENDED),
        0);

    char *copy = strdup(text);
    size_t len = strlen(copy);
    assert_true(len == 0 || copy[len - 1] == '\n'); /* last line ends with a newline */

    char families[64][128] = {{0}};   /* families seen, in order */
    char types[64][16] = {{0}};
    int nfamilies = 0;
    char current[128] = "";
    char seen_series[512][256];
    int nseries = 0;
    double last_le = -INFINITY, last_bucket = -1;
    char bucket_labels[256] = "";
    double inf_bucket = -1;

    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        regmatch_t mt[10];
        if (regexec(&help_re, line, 2, mt, 0) == 0 || regexec(&type_re, line, 3, mt, 0) == 0) {
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)(mt[1].rm_eo - mt[1].rm_so), line + mt[1].rm_so);
            int is_type = strncmp(line, "# TYPE", 6) == 0;
            int idx = -1;
            for (int i = 0; i < nfamilies; i++)
                if (strcmp(families[i], name) == 0) idx = i;
            if (idx < 0) {
                if (nfamilies == 64) fail_msg("too many families for this test");
                idx = nfamilies++;
                snprintf(families[idx], sizeof families[idx], "%s", name);
            } else if (strcmp(current, name) != 0) {
                fail_msg("family %s described again after other families:\n%s", name, text);
            }
            if (is_type) {
                if (types[idx][0]) fail_msg("TYPE of %s written twice:\n%s", name, text);
                snprintf(types[idx], sizeof types[idx], "%.*s", (int)(mt[2].rm_eo - mt[2].rm_so),
                         line + mt[2].rm_so);
            }
            snprintf(current, sizeof current, "%s", name);
            continue;
        }
        if (line[0] == '#') fail_msg("unexpected comment line \"%s\"", line);
        if (regexec(&sample_re, line, 10, mt, 0) != 0) fail_msg("malformed sample line \"%s\"", line);

        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(mt[1].rm_eo - mt[1].rm_so), line);
        /* which family the sample belongs to: exact name or a histogram suffix */
        const char *family = current;
        size_t flen = strlen(family);
        int idx = -1;
        for (int i = 0; i < nfamilies; i++)
            if (strcmp(families[i], family) == 0) idx = i;
        if (idx < 0) fail_msg("sample \"%s\" before any HELP/TYPE", line);
        const char *suffix = name + flen;
        if (strncmp(name, family, flen) != 0)
            fail_msg("sample \"%s\" outside its family (current family %s)", line, family);
        if (strcmp(types[idx], "histogram") == 0) {
            if (strcmp(suffix, "_bucket") && strcmp(suffix, "_sum") && strcmp(suffix, "_count"))
                fail_msg("histogram sample \"%s\" has no _bucket/_sum/_count suffix", line);
        } else if (*suffix) {
            fail_msg("sample \"%s\" does not belong to family %s", line, family);
        }

        char series[256];
        const char *space = strrchr(line, ' ');
        snprintf(series, sizeof series, "%.*s", (int)(space - line), line);
        for (int i = 0; i < nseries; i++)
            if (strcmp(seen_series[i], series) == 0) fail_msg("series %s twice", series);
        if (nseries < 512) snprintf(seen_series[nseries++], sizeof seen_series[0], "%s", series);

        double value = strtod(space + 1, NULL);
        if (strcmp(suffix, "_bucket") == 0) {
            const char *le = strstr(series, "le=\"");
            if (!le) fail_msg("bucket without le: %s", line);
            /* labels other than le identify the histogram series */
            char others[256];
            snprintf(others, sizeof others, "%.*s", (int)(le - series), series);
            if (strcmp(others, bucket_labels) != 0) {
                snprintf(bucket_labels, sizeof bucket_labels, "%s", others);
                last_le = -INFINITY;
                last_bucket = -1;
                inf_bucket = -1;
            }
            double bound = strncmp(le + 4, "+Inf", 4) == 0 ? INFINITY : strtod(le + 4, NULL);
            if (!(bound > last_le)) fail_msg("bucket bounds not ascending at %s", line);
            if (value < last_bucket) fail_msg("buckets not cumulative at %s", line);
            last_le = bound;
            last_bucket = value;
            if (isinf(bound)) inf_bucket = value;
        } else if (strcmp(suffix, "_count") == 0 && strcmp(types[idx], "histogram") == 0) {
            if (inf_bucket < 0) fail_msg("_count before a +Inf bucket: %s", line);
            if (value != inf_bucket)
                fail_msg("%s: _count %g differs from the +Inf bucket %g", line, value, inf_bucket);
            bucket_labels[0] = 0;
            inf_bucket = -1;
        }
    }
    for (int i = 0; i < nfamilies; i++)
        if (!types[i][0]) fail_msg("family %s has no TYPE", families[i]);
    free(copy);
    regfree(&help_re);
    regfree(&type_re);
    regfree(&sample_re);
}

static char *render(struct metrics *m)
{
    size_t len = 0;
    char *text = metrics_render(m, &len);
    assert_non_null(text);
    assert_int_equal(len, strlen(text));
    assert_valid_exposition(text);
    return text;
}

/* ------------------------------------------------------------------ tests */

static void test_empty_registry_renders_nothing(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    char *text = render(m);
    assert_string_equal(text, "");
    free(text);
    metrics_free(m);
}

static void test_counter_family_with_several_label_sets(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    struct metric *erp = metrics_counter(m, "stockmesh_cdc_events_total", "Change events read.",
                                         "source=\"erp\"");
    /* another family registered in between must not split the first one */
    struct metric *up = metrics_gauge(m, "stockmesh_redis_up", "1 when Redis answers.", NULL);
    struct metric *pos = metrics_counter(m, "stockmesh_cdc_events_total", "Change events read.",
                                         "source=\"pos\"");
    struct metric *wms = metrics_counter(m, "stockmesh_cdc_events_total", "Change events read.",
                                         "source=\"wms\",table=\"bins\"");
    metrics_inc(erp, 3);
    metrics_inc(erp, 2);
    metrics_inc(pos, 1);
    metrics_set(up, 1);

    char *text = render(m);
    assert_int_equal(count_occurrences(text, "# HELP stockmesh_cdc_events_total "), 1);
    assert_int_equal(count_occurrences(text, "# TYPE stockmesh_cdc_events_total counter\n"), 1);
    assert_int_equal(count_occurrences(text, "# HELP stockmesh_redis_up "), 1);
    assert_int_equal(count_occurrences(text, "# TYPE stockmesh_redis_up gauge\n"), 1);
    assert_non_null(strstr(text, "# HELP stockmesh_cdc_events_total Change events read.\n"));
    assert_non_null(strstr(text, "stockmesh_cdc_events_total{source=\"erp\"} 5\n"));
    assert_non_null(strstr(text, "stockmesh_cdc_events_total{source=\"pos\"} 1\n"));
    assert_non_null(strstr(text, "stockmesh_cdc_events_total{source=\"wms\",table=\"bins\"} 0\n"));
    assert_non_null(strstr(text, "stockmesh_redis_up 1\n"));
    assert_true(metrics_value(erp) == 5);
    assert_true(metrics_value(wms) == 0);
    free(text);
    metrics_free(m);
}

static void test_counter_keeps_large_values_exact(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    struct metric *bytes = metrics_counter(m, "stockmesh_bytes_total", "Bytes.", NULL);
    metrics_inc(bytes, 9007199254740993ULL); /* 2^53 + 1: not representable as a double */
    char *text = render(m);
    assert_non_null(strstr(text, "stockmesh_bytes_total 9007199254740993\n"));
    free(text);
    metrics_free(m);
}

static void test_gauge_set_and_add(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    struct metric *lag = metrics_gauge(m, "stockmesh_cdc_unconfirmed_bytes", "WAL not confirmed.",
                                       "source=\"erp\"");
    struct metric *flight = metrics_gauge(m, "stockmesh_merge_in_flight", "Events in flight.", NULL);
    metrics_set(lag, 4096);
    metrics_set(flight, 3);
    metrics_add(flight, -1.5);
    assert_true(metrics_value(flight) == 1.5);
    char *text = render(m);
    assert_non_null(strstr(text, "stockmesh_cdc_unconfirmed_bytes{source=\"erp\"} 4096\n"));
    assert_true(sample_value(text, "stockmesh_merge_in_flight") == 1.5);
    free(text);

    metrics_add(flight, -4.5);
    text = render(m);
    assert_true(sample_value(text, "stockmesh_merge_in_flight") == -3);
    free(text);
    metrics_free(m);
}

/* Values are written so that they read back exactly. */
static void test_values_round_trip_exactly(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    struct metric *g = metrics_gauge(m, "stockmesh_last_seconds", "A time.", NULL);
    static const double values[] = {1712345678.9, 0.1, 123456789.123456, 1e15 + 1, -2.5e-7};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        metrics_set(g, values[i]);
        char *text = render(m);
        assert_true(sample_value(text, "stockmesh_last_seconds") == values[i]);
        free(text);
    }
    metrics_free(m);
}

static void test_histogram_buckets_are_cumulative(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    static const double bounds[] = {0.1, 0.5, 1};
    struct metric *h = metrics_histogram(m, "stockmesh_push_seconds", "Commit to delivered.",
                                         "channel=\"web\"", bounds, 3);
    struct metric *plain = metrics_histogram(m, "stockmesh_apply_seconds", "Apply time.", NULL,
                                             bounds, 3);
    static const double values[] = {0.05, 0.1 /* on the bound: le is inclusive */, 0.3, 0.7,
                                    2, 5};
    double sum = 0;
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        metrics_observe(h, values[i]);
        sum += values[i];
    }
    metrics_observe(plain, 0.2);

    char *text = render(m);
    assert_int_equal(count_occurrences(text, "# TYPE stockmesh_push_seconds histogram\n"), 1);
    assert_true(sample_value(text, "stockmesh_push_seconds_bucket{channel=\"web\",le=\"0.1\"}") == 2);
    assert_true(sample_value(text, "stockmesh_push_seconds_bucket{channel=\"web\",le=\"0.5\"}") == 3);
    assert_true(sample_value(text, "stockmesh_push_seconds_bucket{channel=\"web\",le=\"1\"}") == 4);
    assert_true(sample_value(text, "stockmesh_push_seconds_bucket{channel=\"web\",le=\"+Inf\"}") == 6);
    assert_true(sample_value(text, "stockmesh_push_seconds_count{channel=\"web\"}") == 6);
    assert_true(fabs(sample_value(text, "stockmesh_push_seconds_sum{channel=\"web\"}") - sum) < 1e-6);

    /* without labels, le is the only label */
    assert_true(sample_value(text, "stockmesh_apply_seconds_bucket{le=\"0.1\"}") == 0);
    assert_true(sample_value(text, "stockmesh_apply_seconds_bucket{le=\"0.5\"}") == 1);
    assert_true(sample_value(text, "stockmesh_apply_seconds_bucket{le=\"+Inf\"}") == 1);
    assert_true(fabs(sample_value(text, "stockmesh_apply_seconds_sum") - 0.2) < 1e-9);
    assert_true(sample_value(text, "stockmesh_apply_seconds_count") == 1);
    free(text);
    metrics_free(m);
}

static void test_histogram_family_with_two_channels(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    struct metric *web = metrics_histogram(m, "stockmesh_push_commit_to_delivered_seconds",
                                           "Commit to delivered.", "channel=\"web\"",
                                           metrics_latency_buckets, metrics_latency_nbuckets);
    struct metric *pickup = metrics_histogram(m, "stockmesh_push_commit_to_delivered_seconds",
                                              "Commit to delivered.", "channel=\"pickup\"",
                                              metrics_latency_buckets, metrics_latency_nbuckets);
    metrics_observe(web, 0.0002);
    metrics_observe(web, 0.003);
    metrics_observe(web, 60);
    metrics_observe(pickup, 0.00025);
    char *text = render(m);
    assert_int_equal(
        count_occurrences(text, "# HELP stockmesh_push_commit_to_delivered_seconds "), 1);
    assert_int_equal(
        count_occurrences(text, "# TYPE stockmesh_push_commit_to_delivered_seconds histogram"), 1);
    /* every configured bound appears, plus +Inf, per series */
    assert_int_equal(count_occurrences(text, "_bucket{channel=\"web\","),
                     (int)metrics_latency_nbuckets + 1);
    assert_int_equal(count_occurrences(text, "_bucket{channel=\"pickup\","),
                     (int)metrics_latency_nbuckets + 1);
    assert_true(sample_value(text, "stockmesh_push_commit_to_delivered_seconds_bucket{channel=\"web\","
                                   "le=\"0.00025\"}") == 1);
    assert_true(sample_value(text, "stockmesh_push_commit_to_delivered_seconds_bucket{channel=\"web\","
                                   "le=\"0.005\"}") == 2);
    assert_true(sample_value(text, "stockmesh_push_commit_to_delivered_seconds_bucket{channel=\"web\","
                                   "le=\"10\"}") == 2);
    assert_true(sample_value(text, "stockmesh_push_commit_to_delivered_seconds_bucket{channel=\"web\","
                                   "le=\"+Inf\"}") == 3);
    assert_true(sample_value(text, "stockmesh_push_commit_to_delivered_seconds_count{channel=\"web\"}") ==
                3);
    assert_true(sample_value(text, "stockmesh_push_commit_to_delivered_seconds_bucket{channel=\"pickup\","
                                   "le=\"0.00025\"}") == 1);
    assert_true(sample_value(text, "stockmesh_push_commit_to_delivered_seconds_count{channel=\"pickup\"}") ==
                1);
    free(text);
    metrics_free(m);
}

static void test_registering_twice_returns_the_same_series(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    struct metric *a = metrics_counter(m, "stockmesh_merge_dlq_total", "Rows sent to the DLQ.",
                                       "reason=\"bad_quantity\"");
    struct metric *b = metrics_counter(m, "stockmesh_merge_dlq_total", "Rows sent to the DLQ.",
                                       "reason=\"bad_quantity\"");
    struct metric *c = metrics_counter(m, "stockmesh_merge_dlq_total", "Rows sent to the DLQ.",
                                       "reason=\"missing_sku\"");
    assert_ptr_equal(a, b);
    assert_ptr_not_equal(a, c);
    metrics_inc(a, 1);
    metrics_inc(b, 1);
    assert_true(metrics_value(a) == 2);
    assert_true(metrics_value(c) == 0);

    struct metric *g1 = metrics_gauge(m, "stockmesh_redis_up", "Up.", NULL);
    struct metric *g2 = metrics_gauge(m, "stockmesh_redis_up", "Up.", "");
    assert_ptr_equal(g1, g2); /* no labels written either way */

    static const double bounds[] = {1, 2};
    struct metric *h1 = metrics_histogram(m, "stockmesh_h_seconds", "H.", NULL, bounds, 2);
    struct metric *h2 = metrics_histogram(m, "stockmesh_h_seconds", "H.", NULL, bounds, 2);
    assert_ptr_equal(h1, h2);

    char *text = render(m);
    assert_int_equal(count_occurrences(text, "stockmesh_merge_dlq_total{reason=\"bad_quantity\"} "),
                     1);
    assert_true(sample_value(text, "stockmesh_merge_dlq_total{reason=\"bad_quantity\"}") == 2);
    assert_int_equal(count_occurrences(text, "\nstockmesh_redis_up "), 1);
    assert_int_equal(count_occurrences(text, "stockmesh_h_seconds_count"), 1);
    free(text);
    metrics_free(m);
}

/* ------------------------------------------------------------------ concurrency */

#define THREADS 4
#define ROUNDS 100000

struct worker {
    struct metrics *m;
    struct metric *counter, *gauge, *hist;
    struct metric *registered; /* what this thread got back from registering */
};

static void *work(void *arg)
{
    struct worker *w = arg;
    w->registered = metrics_counter(w->m, "stockmesh_race_total", "Registered from threads.",
                                    "role=\"merge\"");
    for (int i = 0; i < ROUNDS; i++) {
        metrics_inc(w->counter, 1);
        metrics_inc(w->registered, 2);
        if (i % 10 == 0) {
            metrics_add(w->gauge, 1.0);
            metrics_observe(w->hist, (i % 20 == 0) ? 0.25 : 0.75);
        }
        if (i % 25000 == 0) free(metrics_render(w->m, NULL)); /* a scrape meanwhile */
    }
    return NULL;
}

static void test_concurrent_updates_sum_exactly(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    static const double bounds[] = {0.5};
    struct worker w[THREADS];
    struct metric *counter = metrics_counter(m, "stockmesh_merge_facts_total", "Facts.", NULL);
    struct metric *gauge = metrics_gauge(m, "stockmesh_merge_in_flight", "In flight.", NULL);
    struct metric *hist = metrics_histogram(m, "stockmesh_merge_seconds", "Apply.", NULL, bounds, 1);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.m = m, .counter = counter, .gauge = gauge, .hist = hist};
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) assert_int_equal(pthread_join(t[i], NULL), 0);

    for (int i = 1; i < THREADS; i++) assert_ptr_equal(w[i].registered, w[0].registered);
    assert_true(metrics_value(counter) == (double)THREADS * ROUNDS);
    assert_true(metrics_value(w[0].registered) == 2.0 * THREADS * ROUNDS);
    assert_true(metrics_value(gauge) == (double)THREADS * ROUNDS / 10);

    char *text = render(m);
    char want[128];
    snprintf(want, sizeof want, "stockmesh_merge_facts_total %d\n", THREADS * ROUNDS);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof want, "stockmesh_race_total{role=\"merge\"} %d\n", 2 * THREADS * ROUNDS);
    assert_non_null(strstr(text, want));
    assert_int_equal(count_occurrences(text, "stockmesh_race_total{"), 1);
    assert_true(sample_value(text, "stockmesh_merge_seconds_count") == THREADS * ROUNDS / 10);
    assert_true(sample_value(text, "stockmesh_merge_seconds_bucket{le=\"0.5\"}") ==
                THREADS * ROUNDS / 20);
    /* 0.25 and 0.75 are exact in binary, so the sum is exact too */
    assert_true(sample_value(text, "stockmesh_merge_seconds_sum") ==
                THREADS * (ROUNDS / 20) * 0.25 + THREADS * (ROUNDS / 20) * 0.75);
    free(text);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_registry_renders_nothing),
        cmocka_unit_test(test_counter_family_with_several_label_sets),
        cmocka_unit_test(test_counter_keeps_large_values_exact),
        cmocka_unit_test(test_gauge_set_and_add),
        cmocka_unit_test(test_values_round_trip_exactly),
        cmocka_unit_test(test_histogram_buckets_are_cumulative),
        cmocka_unit_test(test_histogram_family_with_two_channels),
        cmocka_unit_test(test_registering_twice_returns_the_same_series),
        cmocka_unit_test(test_concurrent_updates_sum_exactly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
