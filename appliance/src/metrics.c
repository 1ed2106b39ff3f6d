/* metrics.c — see metrics.h. */
#include "stockmesh/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metric {
    enum metric_type type;
    char *name;
    char *help;
    char *labels;                 /* "" when none */
    _Atomic uint64_t count;       /* counter value; histogram count */
    _Atomic uint64_t bits;        /* gauge value / histogram sum, as double bits */
    double *bounds;
    _Atomic uint64_t *buckets;    /* per bound, not cumulative */
    size_t nbounds;
    struct metric *next;
};

struct metrics {
    pthread_mutex_t lock;         /* guards registration and rendering, not updates */
    struct metric *head, *tail;
};

const double metrics_latency_buckets[] = {0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                          0.05,    0.1,    0.25,  0.5,    1,     2.5,   5, 10};
const size_t metrics_latency_nbuckets =
    sizeof metrics_latency_buckets / sizeof metrics_latency_buckets[0];

static uint64_t double_bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

static double bits_double(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

struct metrics *metrics_new(void)
{
    struct metrics *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

void metrics_free(struct metrics *m)
{
    if (!m) return;
    struct metric *x = m->head;
    while (x) {
        struct metric *next = x->next;
        free(x->name);
        free(x->help);
        free(x->labels);
        free(x->bounds);
        free(x->buckets);
        free(x);
        x = next;
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static struct metric *metrics_register(struct metrics *m, enum metric_type type, const char *name,
                                       const char *help, const char *labels, const double *bounds,
                                       size_t nbounds)
{
    if (!labels) labels = "";
    pthread_mutex_lock(&m->lock);
    for (struct metric *x = m->head; x; x = x->next)
        if (strcmp(x->name, name) == 0 && strcmp(x->labels, labels) == 0) {
            pthread_mutex_unlock(&m->lock);
            return x;
        }
    struct metric *x = calloc(1, sizeof *x);
    if (!x) abort(); /* registration happens at start-up; no memory there is fatal */
    x->type = type;
    x->name = strdup(name);
    x->help = strdup(help);
    x->labels = strdup(labels);
    if (!x->name || !x->help || !x->labels) abort();
    if (type == METRIC_HISTOGRAM) {
        x->nbounds = nbounds;
        x->bounds = malloc(nbounds * sizeof *x->bounds);
        x->buckets = calloc(nbounds + 1, sizeof *x->buckets);
        if (!x->bounds || !x->buckets) abort();
        memcpy(x->bounds, bounds, nbounds * sizeof *bounds);
    }
    x->bits = double_bits(0);
    /* keep series of one family together so HELP/TYPE are written once */
    struct metric *after = NULL;
    for (struct metric *y = m->head; y; y = y->next)
        if (strcmp(y->name, name) == 0) after = y;
    if (after) {
        x->next = after->next;
        after->next = x;
        if (m->tail == after) m->tail = x;
    } else if (m->tail) {
        m->tail->next = x;
        m->tail = x;
    } else {
        m->head = m->tail = x;
    }
    pthread_mutex_unlock(&m->lock);
    return x;
}

struct metric *metrics_counter(struct metrics *m, const char *name, const char *help,
                               const char *labels)
{
    return metrics_register(m, METRIC_COUNTER, name, help, labels, NULL, 0);
}

struct metric *metrics_gauge(struct metrics *m, const char *name, const char *help,
                             const char *labels)
{
    return metrics_register(m, METRIC_GAUGE, name, help, labels, NULL, 0);
}

struct metric *metrics_histogram(struct metrics *m, const char *name, const char *help,
                                 const char *labels, const double *bounds, size_t nbounds)
{
    return metrics_register(m, METRIC_HISTOGRAM, name, help, labels, bounds, nbounds);
}

void metrics_inc(struct metric *x, uint64_t n)
{
    atomic_fetch_add_explicit(&x->count, n, memory_order_relaxed);
}

void metrics_set(struct metric *x, double value)
{
    atomic_store_explicit(&x->bits, double_bits(value), memory_order_relaxed);
}

static void atomic_add_double(_Atomic uint64_t *bits, double delta)
{
    uint64_t old = atomic_load_explicit(bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(bits, &old, double_bits(bits_double(old) + delta),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

void metrics_add(struct metric *x, double delta) { atomic_add_double(&x->bits, delta); }

void metrics_observe(struct metric *x, double value)
{
    size_t i = 0;
    while (i < x->nbounds && value > x->bounds[i]) i++;
    atomic_fetch_add_explicit(&x->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&x->count, 1, memory_order_relaxed);
    atomic_add_double(&x->bits, value);
}

double metrics_value(const struct metric *x)
{
    if (x->type == METRIC_GAUGE) return bits_double(atomic_load(&x->bits));
    return (double)atomic_load(&x->count);
}

struct text {
    char *buf;
    size_t len, cap;
};

static void text_printf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_printf(struct text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n + 1;
        char *buf = realloc(t->buf, cap);
        if (!buf) return;
        t->buf = buf;
        t->cap = cap;
    }
}

static void format_number(char *out, size_t len, double v)
{
    if (isnan(v)) snprintf(out, len, "NaN");
    else if (isinf(v)) snprintf(out, len, v > 0 ? "+Inf" : "-Inf");
    else if (v == (double)(long long)v && fabs(v) < 9e15) snprintf(out, len, "%lld", (long long)v);
    else {
        /* the shortest form that reads back as the same double: 0.1, not 0.10000000000000001 */
        for (int digits = 15; digits <= 17; digits++) {
            snprintf(out, len, "%.*g", digits, v);
            if (strtod(out, NULL) == v) break;
        }
    }
}

static void render_series(struct text *t, const struct metric *x)
{
    char num[64];
    const char *sep = x->labels[0] ? "," : "";
    switch (x->type) {
    case METRIC_COUNTER:
        text_printf(t, "%s%s%s%s %llu\n", x->name, x->labels[0] ? "{" : "", x->labels,
                    x->labels[0] ? "}" : "", (unsigned long long)atomic_load(&x->count));
        break;
    case METRIC_GAUGE:
        format_number(num, sizeof num, bits_double(atomic_load(&x->bits)));
        text_printf(t, "%s%s%s%s %s\n", x->name, x->labels[0] ? "{" : "", x->labels,
                    x->labels[0] ? "}" : "", num);
        break;
    case METRIC_HISTOGRAM: {
        uint64_t cumulative = 0;
        for (size_t i = 0; i < x->nbounds; i++) {
            cumulative += atomic_load(&x->buckets[i]);
            format_number(num, sizeof num, x->bounds[i]);
            text_printf(t, "%s_bucket{%s%sle=\"%s\"} %llu\n", x->name, x->labels, sep, num,
                        (unsigned long long)cumulative);
        }
        cumulative += atomic_load(&x->buckets[x->nbounds]);
        text_printf(t, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", x->name, x->labels, sep,
                    (unsigned long long)cumulative);
        format_number(num, sizeof num, bits_double(atomic_load(&x->bits)));
        text_printf(t, "%s_sum%s%s%s %s\n", x->name, x->labels[0] ? "{" : "", x->labels,
                    x->labels[0] ? "}" : "", num);
        /* the count line reuses the bucket total so the exposition stays consistent
           even while observations land concurrently */
        text_printf(t, "%s_count%s%s%s %llu\n", x->name, x->labels[0] ? "{" : "", x->labels,
                    x->labels[0] ? "}" : "", (unsigned long long)cumulative);
        break;
    }
    }
}

char *metrics_render(struct metrics *m, size_t *len)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    struct text t = {.buf = malloc(4096), .cap = 4096};
    if (!t.buf) return NULL;
    t.buf[0] = 0;
    pthread_mutex_lock(&m->lock);
    const char *family = NULL;
    for (struct metric *x = m->head; x; x = x->next) {
        if (!family || strcmp(family, x->name) != 0) {
            text_printf(&t, "# HELP %s %s\n# TYPE %s %s\n", x->name, x->help, x->name,
                        type_names[x->type]);
            family = x->name;
        }
        render_series(&t, x);
    }
    pthread_mutex_unlock(&m->lock);
    if (len) *len = t.len;
    return t.buf;
}
