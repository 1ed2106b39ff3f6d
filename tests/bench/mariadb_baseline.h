/* mariadb_baseline — `make bench`'s MariaDB baseline: how fast stockmesh's binlog reader
 * decodes a backlog, and how long a change takes from the client's commit
 * acknowledgement to its event on the backbone.
 *
 * It starts a MariaDB (binlog ROW, full row image and metadata), a Redis and a
 * stockmeshd of its own (cdc and merge for the initial snapshot, then cdc only), and
 * stops every one of them by PID before it returns, on failure and interrupt too.
 * Servers started here die with the calling thread: call it from the main thread. */
#ifndef STOCKMESH_BENCH_MARIADB_BASELINE_H
#define STOCKMESH_BENCH_MARIADB_BASELINE_H

#include <jansson.h>
#include <signal.h>
#include <stdio.h>

struct mariadb_baseline_options {
    const char *stockmeshd;             /* the release daemon */
    const char *work_dir;               /* an existing directory for configs, logs, state */
    long updates;                       /* backlog for the decode rate; 0 skips it */
    int rate, seconds;                  /* the latency run; seconds 0 skips it */
    volatile sig_atomic_t *interrupted; /* set by the caller's signal handler */
};

struct mariadb_baseline {
    int ran;                            /* MariaDB started and the table was created */
    char version[96];
    int flush_log_at_trx_commit, sync_binlog;
    long rows;                          /* rows of the table (the snapshot) */
    double seconds;                     /* wall time of the whole baseline */
    char note[256];                     /* why it did not run */
    /* binlog decode rate: a backlog written while the reader is down, then read */
    int decode_ok;
    long updates;
    double write_seconds, write_rate;   /* MariaDB accepting the backlog */
    double start_to_streaming_s, decode_seconds;
    double decode_rate;                 /* events/s between 10 % and 90 % of the backlog */
    double decode_whole_rate;           /* events/s from streaming to the last one */
    double daemon_cpu_s, server_cpu_s;  /* stockmeshd (every thread), mariadbd meanwhile */
    double other_pct;                   /* other processes meanwhile, % of a core */
    char decode_note[256];
    /* commit -> event latency at a fixed rate from one connection */
    int latency_ok;
    double target_rate, achieved_rate;
    int latency_seconds;
    long changes, events;               /* measured changes; their events seen */
    double p50_ms, p95_ms, p99_ms, max_ms, min_ms;
    double ack_p50_ms, ack_p99_ms;      /* the client's UPDATE round trip (commit included) */
    double send_lag_p99_ms;             /* how late the client sent, against its schedule */
    double daemon_cpu_pct;              /* stockmeshd during the run, % of a core */
    char latency_note[256];
};

/* Runs the baseline and fills b; what failed is in b's notes. */
void mariadb_baseline_run(struct mariadb_baseline *b, const struct mariadb_baseline_options *o);

/* The results as a JSON object (new reference). */
json_t *mariadb_baseline_json(const struct mariadb_baseline *b);

/* The summary's lines for this baseline. */
void mariadb_baseline_print(const struct mariadb_baseline *b, FILE *out);

#endif
