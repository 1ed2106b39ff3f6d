/* metrics.h — counters, gauges and histograms rendered in the Prometheus text format.
 *
 * A series is registered once (name + fixed label set) and then updated with plain
 * atomic operations, so updating is cheap on the hot path and safe from reader
 * threads. Labels never carry a SKU: cardinality stays bounded by configuration. */
#ifndef STOCKMESH_METRICS_H
#define STOCKMESH_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct metrics;
struct metric;

/* Creates an empty registry; free with metrics_free(). */
struct metrics *metrics_new(void);

/* Frees the registry and every series it holds. */
void metrics_free(struct metrics *m);

/* Registers (or finds) a counter; labels like `source="erp",table="stock"` or NULL.
 * The registry owns the returned series. */
struct metric *metrics_counter(struct metrics *m, const char *name, const char *help,
                               const char *labels);

/* Registers (or finds) a gauge; see metrics_counter(). */
struct metric *metrics_gauge(struct metrics *m, const char *name, const char *help,
                             const char *labels);

/* Registers (or finds) a histogram with ascending upper bounds (seconds, bytes…). */
struct metric *metrics_histogram(struct metrics *m, const char *name, const char *help,
                                 const char *labels, const double *bounds, size_t nbounds);

/* Adds n to a counter. */
void metrics_inc(struct metric *x, uint64_t n);

/* Sets a gauge. */
void metrics_set(struct metric *x, double value);

/* Adds delta to a gauge. */
void metrics_add(struct metric *x, double delta);

/* Records one observation in a histogram. */
void metrics_observe(struct metric *x, double value);

/* Current value of a counter or gauge (for tests and status output). */
double metrics_value(const struct metric *x);

/* Renders every series as Prometheus text; caller frees the result. */
char *metrics_render(struct metrics *m, size_t *len);

/* Latency buckets in seconds shared by every latency histogram (0.25 ms … 10 s). */
extern const double metrics_latency_buckets[];
extern const size_t metrics_latency_nbuckets;

#endif
