/* cdcmetrics.h — the metrics every CDC reader reports, registered once with one name
 * and help text whatever the source type, so dashboards read both readers alike. */
#ifndef STOCKMESH_CDCMETRICS_H
#define STOCKMESH_CDCMETRICS_H

struct metrics;
struct metric;

/* A source's series (labelled source="<name>"); owned by the metrics registry. */
struct cdc_metrics {
    struct metric *state, *errors, *txns, *snapshot_rows, *resumes, *read_latency,
        *schema_compatible, *schema_incompatible, *parked, *parked_changes;
};

/* A table's snapshot progress (labelled source, table="schema.name"). */
struct cdc_table_metrics {
    struct metric *rows_read, *rows_expected;
};

/* Registers (or finds) the series of source. */
void cdc_metrics_init(struct cdc_metrics *m, struct metrics *mx, const char *source);

/* Registers (or finds) the series of one table of source; label is "schema.name". */
void cdc_metrics_table_init(struct cdc_table_metrics *m, struct metrics *mx, const char *source,
                            const char *label);

#endif
