/* cdcmetrics.c — see cdcmetrics.h. */
#include "cdcmetrics.h"

#include "stockmesh/metrics.h"

#include <stdio.h>

void cdc_metrics_init(struct cdc_metrics *m, struct metrics *mx, const char *source)
{
    char labels[200];
    snprintf(labels, sizeof labels, "source=\"%s\"", source);
    m->state = metrics_gauge(mx, "stockmesh_cdc_state",
                             "0 down, 1 connecting or setting up, 2 snapshot, 3 streaming.",
                             labels);
    m->errors = metrics_counter(mx, "stockmesh_cdc_errors_total",
                                "Reader failures (each followed by a reconnect).", labels);
    m->txns = metrics_counter(mx, "stockmesh_cdc_transactions_total",
                              "Source transactions read.", labels);
    m->snapshot_rows = metrics_counter(mx, "stockmesh_cdc_snapshot_rows_total",
                                       "Rows read by snapshots.", labels);
    m->resumes = metrics_counter(mx, "stockmesh_cdc_snapshot_resumes_total",
                                 "Snapshots resumed after a restart instead of started over.",
                                 labels);
    m->read_latency = metrics_histogram(mx, "stockmesh_cdc_commit_to_read_seconds",
                                        "Source commit to change event read (streaming).", labels,
                                        metrics_latency_buckets, metrics_latency_nbuckets);
    /* summed over sources: the schema-changes topic says which table changed */
    m->schema_compatible = metrics_counter(mx, "stockmesh_cdc_schema_changes_total",
                                           "Schema changes of mapped tables.",
                                           "verdict=\"compatible\"");
    m->schema_incompatible = metrics_counter(mx, "stockmesh_cdc_schema_changes_total",
                                             "Schema changes of mapped tables.",
                                             "verdict=\"incompatible\"");
    m->parked = metrics_gauge(mx, "stockmesh_cdc_tables_parked",
                              "Mapped tables parked by an incompatible schema change.", labels);
    m->parked_changes = metrics_counter(mx, "stockmesh_cdc_parked_changes_total",
                                        "Changes of parked tables left out (a re-snapshot "
                                        "restores them).", labels);
}

void cdc_metrics_table_init(struct cdc_table_metrics *m, struct metrics *mx, const char *source,
                            const char *label)
{
    char labels[600];
    snprintf(labels, sizeof labels, "source=\"%s\",table=\"%s\"", source, label);
    m->rows_read = metrics_gauge(mx, "stockmesh_cdc_snapshot_table_rows_read",
                                 "Rows read by the table's current or last snapshot.", labels);
    m->rows_expected = metrics_gauge(mx, "stockmesh_cdc_snapshot_table_rows_expected",
                                     "Rows the table's snapshot expects (exact below 200k rows, "
                                     "else the source's estimate).", labels);
}
