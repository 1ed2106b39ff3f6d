/* stockmesh — the operator's command line: options and dispatch. The commands' work
 * lives in the modules of services/cli/ (status and snapshot: console/sources.h and the
 * printing below).
 *
 *   stockmesh [-c FILE] config check     validate the configuration, naming each error
 *   stockmesh [-c FILE] sku SKU          stock per location and source, availability per channel
 *   stockmesh [-c FILE] status           state, lag and snapshot progress of each source
 *   stockmesh [-c FILE] snapshot S T     ask source S's reader to snapshot table T again
 *   stockmesh [-c FILE] alerts …         list, acknowledge, resolve alerts
 *   stockmesh [-c FILE] replay           rebuild the unified layer from a fresh snapshot
 *   stockmesh [-c FILE] reconcile        compare the sources with Redis, report, repair
 *
 * Exit status: 0 done, 1 runtime error (unreachable, timed out), 2 usage or
 * configuration error, 3 SKU not known, 4 reconcile found differences.
 */
#include "cli/alertview.h"
#include "cli/reconcile.h"
#include "cli/replay.h"
#include "cli/skuview.h"
#include "console/sources.h"
#include "stockmesh/alerts.h"
#include "stockmesh/config.h"
#include "stockmesh/store.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_CONFIG "/etc/stockmesh/stockmesh.yaml"
#define DEFAULT_WAIT_TIMEOUT_S 3600
#define RECONCILE_SHOW_DEFAULT 20
/* a reader confirms within its heartbeat interval plus the persist delay; minutes
   mean something is wrong */
#define RECONCILE_TIMEOUT_S 600
#define WAIT_POLL_MS 250

static void usage(FILE *to)
{
    fprintf(to,
            "usage: stockmesh [-c FILE] config check [FILE]\n"
            "       stockmesh [-c FILE] sku [--json] SKU\n"
            "       stockmesh [-c FILE] status [--json] [SOURCE]\n"
            "       stockmesh [-c FILE] snapshot [--wait [--timeout SECONDS]] SOURCE TABLE\n"
            "       stockmesh [-c FILE] alerts [--json] [--state STATE] [--location CODE]\n"
            "                                  [--rule RULE] [--sku SKU] [--limit N]\n"
            "       stockmesh [-c FILE] alerts ack ID [--note TEXT]\n"
            "       stockmesh [-c FILE] alerts resolve ID [--note TEXT]\n"
            "       stockmesh [-c FILE] replay [--source NAME]... [--rebuild-only]\n"
            "                                  [--timeout SECONDS]\n"
            "       stockmesh [-c FILE] reconcile [--source NAME]... [--repair|--no-repair]\n"
            "                                  [--json] [--limit N] [--timeout SECONDS]\n"
            "\n"
            "  -c, --config FILE  configuration (default " DEFAULT_CONFIG ")\n"
            "  config check       validate the configuration, naming the line of each error\n"
            "  sku SKU            per location: on_hand, committed, unavailable, safety stock,\n"
            "                     available and the rules it breaks; per location and source:\n"
            "                     each kind's quantity, position and commit time (UTC); per\n"
            "                     channel (pickup channels per location): available, version,\n"
            "                     version delivered, pending. --json prints one object\n"
            "  status             per source: state and since when, last error, lag,\n"
            "                     heartbeat age, each table's state and snapshot progress;\n"
            "                     --json prints the status objects (as GET /api/v1/sources)\n"
            "  snapshot           ask SOURCE's reader to snapshot TABLE (\"schema.name\", or\n"
            "                     \"name\" in schema public) again; un-parks a parked table.\n"
            "                     --wait follows it until the table streams again, giving\n"
            "                     up after --timeout seconds (default %d)\n"
            "  alerts             the alerts, newest first: --state open, acknowledged,\n"
            "                     resolved, unresolved (the default) or all; --location,\n"
            "                     --rule, --sku narrow it down; --limit N (default %d)\n"
            "  alerts ack ID      acknowledge an open alert as the login user, with a note\n"
            "  alerts resolve ID  resolve an open or acknowledged alert, with a note\n"
            "  replay             rebuild the unified layer from a fresh snapshot: every table\n"
            "                     of each source (--source, repeatable; default all) is read\n"
            "                     again by its reader and applied, then every SKU is rebuilt\n"
            "                     and figures the sources no longer have are dropped.\n"
            "                     --rebuild-only skips the re-read and only rebuilds: the way\n"
            "                     to apply configuration changes (safety stock, channel\n"
            "                     membership, authority) to the stock already in Redis.\n"
            "                     Changed availability reaches the channels through the push\n"
            "                     role. --timeout bounds the wait for the re-read (default %d)\n"
            "  reconcile          read each source (--source, repeatable; default all) in one\n"
            "                     consistent snapshot, compare it with Redis once the reader\n"
            "                     has confirmed that point, list the differences (the first\n"
            "                     --limit, default %d) and raise one alert per source with\n"
            "                     differences (rule reconcile_drift; resolved by a clean run).\n"
            "                     Repairs by default: the tables concerned are read again and\n"
            "                     the unified layer rebuilt, dropping missed deletes, then\n"
            "                     compared again; --no-repair only reports. --json prints one\n"
            "                     document. --timeout bounds each wait (default %d)\n"
            "\n"
            "exit status: 0 done, 1 runtime error or timeout, 2 usage or configuration error,\n"
            "3 SKU not known, 4 reconcile found differences (repaired or not)\n",
            DEFAULT_WAIT_TIMEOUT_S, ALERT_LIST_DEFAULT, DEFAULT_WAIT_TIMEOUT_S,
            RECONCILE_SHOW_DEFAULT, RECONCILE_TIMEOUT_S);
}

/* --- status and snapshot: the sources, through the state database ------------------ */

/* Opens the state database stockmeshd keeps for cfg. NULL after saying why. It is never
 * created here: a database made by the operator's account could lock the daemon out. */
static struct store *open_state(const struct config *cfg)
{
    char path[1100], err[1400];
    snprintf(path, sizeof path, "%s/state.db", cfg->state_dir);
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT) {
        fprintf(stderr,
                "stockmesh: no state database at %s: stockmeshd has not run with this "
                "configuration (state_dir in %s)\n",
                path, cfg->path);
        return NULL;
    }
    struct store *store = store_new(path, err, sizeof err);
    if (!store) fprintf(stderr, "stockmesh: %s\n", err);
    return store;
}

/* 1 with the value when o[key] is a number, 0 when absent or null. */
static int number_at(const json_t *o, const char *key, long long *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_number(v)) return 0;
    *out = (long long)json_number_value(v);
    return 1;
}

static const char *string_at(const json_t *o, const char *key, const char *fallback)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : fallback;
}

/* Durations for people, to the second: 42s, 3m12s, 2h05m, 3d04h. */
static const char *duration(long long ms, char *buf, size_t len)
{
    long long s = ms < 0 ? 0 : ms / 1000;
    if (s < 60) snprintf(buf, len, "%llds", s);
    else if (s < 3600) snprintf(buf, len, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400) snprintf(buf, len, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    else snprintf(buf, len, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
    return buf;
}

static const char *bytes(long long n, char *buf, size_t len)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    if (n < 1024) {
        snprintf(buf, len, "%lld bytes", n);
        return buf;
    }
    double v = (double)n;
    int u = -1;
    while (v >= 1024 && u < 3) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, "%lld bytes (%.1f %s)", n, v, units[u]);
    return buf;
}

static const char *utc(long long ms, char *buf, size_t len)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return buf;
}

/* "snapshot (requested) 1200/5000 (24.0%)", "parked: <reason>", "streaming". */
static const char *table_line(const json_t *t, char *buf, size_t len)
{
    const char *state = string_at(t, "state", "unknown");
    const json_t *snap = json_object_get(t, "snapshot");
    long long done = 0, total = 0;
    if (json_is_object(snap) && strcmp(state, "snapshot") == 0) {
        int have_done = number_at(snap, "rows_done", &done);
        int have_total = number_at(snap, "rows_total", &total);
        char pct[32] = "?";
        if (have_done && have_total && total > 0)
            snprintf(pct, sizeof pct, "%.1f%%", done >= total ? 100.0 : 100.0 * done / total);
        snprintf(buf, len, "snapshot (%s) %lld/%lld (%s)", string_at(snap, "kind", "?"), done,
                 total, pct);
    } else if (strcmp(state, "parked") == 0) {
        snprintf(buf, len, "parked: %s", string_at(t, "parked_reason", "no reason given"));
    } else {
        snprintf(buf, len, "%s", state);
    }
    return buf;
}

/* "12s ago" for a timestamp field, "-" when it is absent or null. */
static const char *ago(const json_t *o, const char *key, long long now, char *buf, size_t len)
{
    long long ms;
    char d[64];
    if (!number_at(o, key, &ms)) return "-";
    snprintf(buf, len, "%s ago", duration(now - ms, d, sizeof d));
    return buf;
}

/* One source as a block of lines: state, reader health, lag, then one line per table. */
static void print_source(const json_t *o, long long now)
{
    char a[64], b[64], c[128];
    long long ms;
    const char *name = string_at(o, "source", "?");
    printf("%s (%s): %s", name, string_at(o, "type", "?"), string_at(o, "state", "unknown"));
    if (number_at(o, "since_ms", &ms))
        printf(" for %s (since %s)", duration(now - ms, a, sizeof a), utc(ms, b, sizeof b));
    printf("\n");
    if (json_is_true(json_object_get(o, "stale"))) {
        if (number_at(o, "updated_ms", &ms))
            printf("  STALE: no status from the reader for %s; is the cdc role running?\n",
                   duration(now - ms, a, sizeof a));
        else
            printf("  STALE: the reader has not reported yet; is the cdc role running?\n");
    }
    if (json_is_string(json_object_get(o, "status_error")))
        printf("  status error   %s\n", string_at(o, "status_error", ""));
    const char *error = string_at(o, "last_error", NULL);
    if (error)
        printf("  last error     %s (%s)\n", error, ago(o, "last_error_ms", now, a, sizeof a));
    else
        printf("  last error     none\n");
    long long reconnects = 0;
    number_at(o, "reconnects", &reconnects);
    printf("  reconnects     %lld\n", reconnects);
    if (number_at(o, "next_attempt_ms", &ms))
        printf("  next attempt   in %s\n", duration(ms - now, a, sizeof a));
    printf("  position       %s\n", string_at(o, "confirmed_position", "-"));
    printf("  lag            %s", number_at(o, "slot_lag_bytes", &ms) ? bytes(ms, c, sizeof c)
                                                                     : "-");
    if (number_at(o, "retained_wal_bytes", &ms))
        printf("; WAL retained %s", bytes(ms, c, sizeof c));
    printf("\n");
    printf("  heartbeat      %s\n", ago(o, "last_heartbeat_ms", now, a, sizeof a));
    printf("  last event     %s\n", ago(o, "last_event_ms", now, a, sizeof a));
    printf("  tables\n");
    const json_t *tables = json_object_get(o, "tables"), *t;
    size_t i;
    int width = 0;
    json_array_foreach(tables, i, t) {
        int w = (int)(strlen(string_at(t, "schema", "?")) + 1 + strlen(string_at(t, "name", "?")));
        if (w > width) width = w;
    }
    json_array_foreach(tables, i, t) {
        char full[300], line[600];
        snprintf(full, sizeof full, "%s.%s", string_at(t, "schema", "?"),
                 string_at(t, "name", "?"));
        printf("    %-*s  %s\n", width, full, table_line(t, line, sizeof line));
    }
    if (json_array_size(tables) == 0) printf("    (none reported)\n");
}

static int no_such_source(const struct config *cfg, const char *name)
{
    char names[1000];
    sources_name_list(cfg, names, sizeof names);
    fprintf(stderr, "stockmesh: no source named \"%s\" in %s (configured sources: %s)\n", name,
            cfg->path, names);
    return 2;
}

static int show_status(const struct config *cfg, const char *only, int as_json)
{
    const struct config_source *src = only ? config_source(cfg, only) : NULL;
    if (only && !src) return no_such_source(cfg, only);
    struct store *store = open_state(cfg);
    if (!store) return 1;
    long long now = sources_now_ms();
    json_t *o = src ? sources_status(store, src, now) : sources_status_all(store, cfg, now);
    store_free(store);
    if (!o) {
        fprintf(stderr, "stockmesh: out of memory\n");
        return 1;
    }
    if (as_json) {
        char *text = json_dumps(o, JSON_INDENT(2));
        if (text) printf("%s\n", text);
        free(text);
    } else if (src) {
        print_source(o, now);
    } else {
        size_t i;
        json_t *one;
        json_array_foreach(json_object_get(o, "sources"), i, one) {
            if (i) printf("\n");
            print_source(one, now);
        }
    }
    json_decref(o);
    return 0;
}

/* The entry of tables in a status object for t; NULL when not reported. */
static const json_t *table_status(const json_t *status, const struct config_table *t)
{
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(status, "tables"), i, e)
        if (strcmp(string_at(e, "schema", ""), t->schema) == 0 &&
            strcmp(string_at(e, "name", ""), t->name) == 0)
            return e;
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Terminal width for the progress line, 80 when unknown. */
static int terminal_columns(void)
{
    struct winsize ws;
    return ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10 ? ws.ws_col : 80;
}

/* One line on how a requested snapshot of t is doing, from the source's status. */
static void progress_line(const json_t *status, const struct config_source *src,
                          const struct config_table *t, int taken, long long elapsed_ms,
                          long long now, char *line, size_t len)
{
    char a[64], b[64], text[600];
    const json_t *ts = table_status(status, t);
    const char *source_state = string_at(status, "state", "unknown");
    if (!taken)
        snprintf(text, sizeof text, "waiting for the reader of %s to take the request", src->name);
    else if (ts)
        table_line(ts, text, sizeof text);
    else
        snprintf(text, sizeof text, "not in the reader's status yet");
    int used = snprintf(line, len, "%s.%s: %s, %s", t->schema, t->name, text,
                        duration(elapsed_ms, a, sizeof a));
    if (used < 0 || (size_t)used >= len) return;
    long long updated;
    if (json_is_true(json_object_get(status, "stale"))) {
        if (number_at(status, "updated_ms", &updated))
            snprintf(line + used, len - (size_t)used, " (no report from the reader for %s)",
                     duration(now - updated, b, sizeof b));
        else
            snprintf(line + used, len - (size_t)used, " (no report from the reader yet)");
    } else if (strcmp(source_state, "streaming") != 0 && strcmp(source_state, "snapshot") != 0) {
        const char *error = string_at(status, "last_error", NULL);
        snprintf(line + used, len - (size_t)used, " (source %s %s%s%s)", src->name,
                 source_state, error ? ": " : "", error ? error : "");
    }
}

/* Follows a requested snapshot until the table streams again. The reader deletes the
 * request when it takes it; only a status written after that moment can say the
 * snapshot is over (an older one still shows the table streaming as before). */
static int wait_snapshot(struct store *store, const struct config_source *src,
                         const struct config_table *t, long long started, long timeout_s)
{
    int tty = isatty(STDOUT_FILENO);
    long long deadline = started + (long long)timeout_s * 1000, taken_at = 0;
    char shown[128] = "", line[1000] = "", err[700], a[64];
    for (;;) {
        long long now = sources_now_ms();
        if (!taken_at) {
            int pending = sources_snapshot_pending(store, src, t, err, sizeof err);
            if (pending < 0) {
                if (tty) printf("\n");
                fflush(stdout);
                fprintf(stderr, "stockmesh: %s\n", err);
                return 1;
            }
            if (!pending) taken_at = now;
        }
        json_t *status = sources_status(store, src, now);
        if (!status) {
            fprintf(stderr, "stockmesh: out of memory\n");
            return 1;
        }
        const json_t *ts = table_status(status, t);
        const char *state = ts ? string_at(ts, "state", "unknown") : "unknown";
        long long updated;
        int fresh = taken_at && number_at(status, "updated_ms", &updated) && updated >= taken_at;
        if (fresh && strcmp(state, "streaming") == 0) {
            if (tty) printf("\r\033[K");
            printf("snapshot of %s.%s from %s finished in %s; streaming again\n", t->schema,
                   t->name, src->name, duration(now - started, a, sizeof a));
            json_decref(status);
            return 0;
        }
        if (fresh && strcmp(state, "parked") == 0) {
            if (tty) printf("\r\033[K");
            fflush(stdout);
            fprintf(stderr, "stockmesh: %s.%s of %s was parked during the snapshot: %s\n",
                    t->schema, t->name, src->name,
                    string_at(ts, "parked_reason", "no reason given"));
            json_decref(status);
            return 1;
        }
        progress_line(status, src, t, taken_at != 0, now - started, now, line, sizeof line);
        char phase[128];
        snprintf(phase, sizeof phase, "%d/%s/%s/%d", taken_at != 0, state,
                 string_at(status, "state", "unknown"),
                 json_is_true(json_object_get(status, "stale")));
        json_decref(status);
        if (tty) {
            int cols = terminal_columns();
            if ((int)strlen(line) >= cols) line[cols - 1] = 0;
            printf("\r\033[K%s", line);
        } else if (strcmp(phase, shown) != 0) {
            /* not a terminal: a line per change of state, not per poll */
            printf("%s\n", line);
            snprintf(shown, sizeof shown, "%s", phase);
        }
        fflush(stdout);
        if (now >= deadline) {
            if (tty) printf("\n");
            fflush(stdout);
            fprintf(stderr,
                    "stockmesh: gave up after %ld s waiting for the snapshot of %s.%s from %s; "
                    "%s\n",
                    timeout_s, t->schema, t->name, src->name,
                    taken_at ? "the reader goes on with it"
                             : "the request stays queued in the state database for the reader");
            return 1;
        }
        sleep_ms(WAIT_POLL_MS);
    }
}

static int request_snapshot(const struct config *cfg, const char *source, const char *table,
                            int wait, long timeout_s)
{
    const struct config_source *src = config_source(cfg, source);
    if (!src) return no_such_source(cfg, source);
    const struct config_table *t = sources_table(src, table);
    if (!t) {
        char tables[2000];
        sources_table_list(src, tables, sizeof tables);
        fprintf(stderr, "stockmesh: source %s has no table \"%s\"%s%s%s in %s (its tables: %s)\n",
                src->name, table, strchr(table, '.') ? "" : " (read as public.",
                strchr(table, '.') ? "" : table, strchr(table, '.') ? "" : ")", cfg->path,
                tables);
        return 2;
    }
    struct store *store = open_state(cfg);
    if (!store) return 1;
    char err[800], a[64];
    long long now = sources_now_ms();
    if (sources_request_snapshot(store, src, t, now, err, sizeof err) != 0) {
        fprintf(stderr, "stockmesh: %s\n", err);
        store_free(store);
        return 1;
    }
    printf("requested a new snapshot of %s.%s from source %s (state database %s/state.db, "
           "scope source:%s, key snapshot.request.%s.%s)\n",
           t->schema, t->name, src->name, cfg->state_dir, src->name, t->schema, t->name);
    json_t *status = sources_status(store, src, now);
    const json_t *ts = status ? table_status(status, t) : NULL;
    long long updated;
    if (status && json_is_true(json_object_get(status, "stale"))) {
        if (number_at(status, "updated_ms", &updated))
            printf("note: the reader of %s last reported %s ago; the snapshot starts when its "
                   "cdc role runs again\n",
                   src->name, duration(now - updated, a, sizeof a));
        else
            printf("note: the reader of %s has not reported yet; the snapshot starts when its "
                   "cdc role runs\n",
                   src->name);
    } else if (ts && strcmp(string_at(ts, "state", ""), "parked") == 0) {
        printf("note: the table is parked (%s); the snapshot un-parks it\n",
               string_at(ts, "parked_reason", "no reason given"));
    }
    json_decref(status);
    fflush(stdout);
    int rc = wait ? wait_snapshot(store, src, t, now, timeout_s) : 0;
    store_free(store);
    return rc;
}

static struct config *load_config(const char *path)
{
    char err[4096];
    struct config *cfg = config_load(path, err, sizeof err);
    if (!cfg) fprintf(stderr, "%s\n", err);
    return cfg;
}

/* Options after a command, anywhere among the operands (argv[0] is the command);
 * the operands are left in argv[optind..]. */
#define MAX_SOURCE_OPTIONS 64
struct command_options {
    int json, wait, rebuild_only, repair;
    long timeout_s;
    int timeout_given;
    const char *state, *location, *rule, *sku, *note;
    long limit;
    int limit_given;
    const char *sources[MAX_SOURCE_OPTIONS];
    size_t nsources;
};

static const struct option command_option_table[] = {
    {"json", no_argument, NULL, 'j'},           {"wait", no_argument, NULL, 'w'},
    {"timeout", required_argument, NULL, 't'},  {"state", required_argument, NULL, 's'},
    {"location", required_argument, NULL, 'L'}, {"rule", required_argument, NULL, 'r'},
    {"sku", required_argument, NULL, 'k'},      {"limit", required_argument, NULL, 'l'},
    {"note", required_argument, NULL, 'n'},     {"source", required_argument, NULL, 'S'},
    {"rebuild-only", no_argument, NULL, 'b'},   {"repair", no_argument, NULL, 'R'},
    {"no-repair", no_argument, NULL, 'N'},      {"config", required_argument, NULL, 'c'},
    {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};

static const char *option_name(int opt)
{
    for (const struct option *o = command_option_table; o->name; o++)
        if (o->val == opt) return o->name;
    return "?";
}

/* A positive whole number for --timeout and --limit; -1 after saying what is wrong. */
static long positive(const char *cmd, const char *option, const char *text)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v <= 0) {
        fprintf(stderr, "stockmesh %s: --%s wants a positive whole number, not \"%s\"\n", cmd,
                option, text);
        return -1;
    }
    return v;
}

static int parse_command_options(int argc, char **argv, const char *allowed,
                                 const char **config_path, struct command_options *o)
{
    *o = (struct command_options){.timeout_s = DEFAULT_WAIT_TIMEOUT_S, .repair = 1};
    optind = 0; /* GNU: start over, argv[0] being the command */
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:h", command_option_table, NULL)) != -1) {
        if (opt == 'h') {
            usage(stdout);
            exit(0);
        }
        if (opt == '?') {
            fprintf(stderr, "stockmesh %s: unknown option, or one missing its value: %s\n",
                    argv[0], argv[optind - 1]);
            usage(stderr);
            return -1;
        }
        if (opt != 'c' && !strchr(allowed, opt)) {
            fprintf(stderr, "stockmesh %s: --%s does not apply to this command\n", argv[0],
                    option_name(opt));
            usage(stderr);
            return -1;
        }
        switch (opt) {
        case 'c': *config_path = optarg; break;
        case 'j': o->json = 1; break;
        case 'w': o->wait = 1; break;
        case 't':
            if ((o->timeout_s = positive(argv[0], "timeout", optarg)) < 0) return -1;
            o->timeout_given = 1;
            break;
        case 's': o->state = optarg; break;
        case 'L': o->location = optarg; break;
        case 'r': o->rule = optarg; break;
        case 'k': o->sku = optarg; break;
        case 'n': o->note = optarg; break;
        case 'l':
            if ((o->limit = positive(argv[0], "limit", optarg)) < 0) return -1;
            o->limit_given = 1;
            break;
        case 'S':
            if (o->nsources == MAX_SOURCE_OPTIONS) {
                fprintf(stderr, "stockmesh %s: at most %d --source options\n", argv[0],
                        MAX_SOURCE_OPTIONS);
                return -1;
            }
            o->sources[o->nsources++] = optarg;
            break;
        case 'b': o->rebuild_only = 1; break;
        case 'R': o->repair = 1; break;
        case 'N': o->repair = 0; break;
        }
    }
    return 0;
}

/* `stockmesh alerts …`: list, or ack / resolve ID. operands are argv[optind..]. */
static int alerts_command(const struct config *cfg, int argc, char **argv,
                          const struct command_options *o)
{
    int operands = argc - optind;
    const char *verb = operands ? argv[optind] : NULL;
    if (verb && strcmp(verb, "ack") && strcmp(verb, "acknowledge") && strcmp(verb, "resolve")) {
        fprintf(stderr, "stockmesh alerts: unknown subcommand \"%s\" (ack, resolve)\n", verb);
        return 2;
    }
    if (!verb) {
        if (o->note) {
            fprintf(stderr, "stockmesh alerts: --note goes with ack or resolve\n");
            return 2;
        }
        const char *state = o->state ? o->state : "unresolved";
        if (!alertview_state_valid(state)) {
            fprintf(stderr, "stockmesh alerts: --state is open, acknowledged, resolved, "
                            "unresolved or all, not \"%s\"\n", state);
            return 2;
        }
        struct store *store = open_state(cfg);
        if (!store) return 1;
        struct alertview_query q = {.state = state, .location = o->location, .rule = o->rule,
                                    .sku = o->sku, .limit = o->limit_given ? (size_t)o->limit : 0};
        int rc = alertview_list(store, &q, o->json);
        store_free(store);
        return rc;
    }
    if (o->json || o->state || o->location || o->rule || o->sku || o->limit_given) {
        fprintf(stderr, "stockmesh alerts %s: only --note applies\n", verb);
        return 2;
    }
    char *end;
    errno = 0;
    long long id = operands == 2 ? strtoll(argv[optind + 1], &end, 10) : 0;
    if (operands != 2 || errno || end == argv[optind + 1] || *end || id <= 0) {
        fprintf(stderr, "stockmesh alerts %s: wants one alert ID (a positive number)%s%s%s\n",
                verb, operands >= 2 ? ", not \"" : "", operands >= 2 ? argv[optind + 1] : "",
                operands >= 2 ? "\"" : "");
        return 2;
    }
    struct store *store = open_state(cfg);
    if (!store) return 1;
    int rc = alertview_transition(store, id, strcmp(verb, "resolve") == 0, o->note);
    store_free(store);
    return rc;
}

int main(int argc, char **argv)
{
    const char *config_path = DEFAULT_CONFIG;
    static const struct option options[] = {{"config", required_argument, NULL, 'c'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "+c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[optind];
    char err[1024];
    if (strcmp(cmd, "config") == 0) {
        if (optind + 1 >= argc || strcmp(argv[optind + 1], "check") != 0) {
            usage(stderr);
            return 2;
        }
        if (optind + 2 < argc) config_path = argv[optind + 2];
        struct config *cfg = config_load(config_path, err, sizeof err);
        if (!cfg) {
            fprintf(stderr, "%s\n", err);
            return 2;
        }
        printf("%s: configuration is valid (%zu sources, %zu locations, %zu channels)\n",
               config_path, cfg->nsources, cfg->nlocations, cfg->nchannels);
        config_free(cfg);
        return 0;
    }
    /* the options each command takes, as command_option_table's short codes */
    static const struct {
        const char *name, *allowed;
        int min_operands, max_operands;
        const char *operands;
    } commands[] = {
        {"sku", "j", 1, 1, "wants one SKU"},
        {"status", "j", 0, 1, "at most one SOURCE"},
        {"snapshot", "wt", 2, 2, "wants SOURCE and TABLE"},
        {"alerts", "jsLrkln", 0, 2, "takes ack ID or resolve ID"},
        {"replay", "Sbt", 0, 0, "takes no operands (name sources with --source)"},
        {"reconcile", "SRNjlt", 0, 0, "takes no operands (name sources with --source)"},
    };
    size_t c = 0;
    while (c < sizeof commands / sizeof commands[0] && strcmp(commands[c].name, cmd) != 0) c++;
    if (c == sizeof commands / sizeof commands[0]) {
        fprintf(stderr, "stockmesh: unknown command \"%s\"\n", cmd);
        usage(stderr);
        return 2;
    }
    int cargc = argc - optind;
    char **cargv = argv + optind;
    struct command_options o;
    if (parse_command_options(cargc, cargv, commands[c].allowed, &config_path, &o) != 0)
        return 2;
    int operands = cargc - optind;
    if (operands < commands[c].min_operands || operands > commands[c].max_operands) {
        fprintf(stderr, "stockmesh %s: %s\n", cmd, commands[c].operands);
        usage(stderr);
        return 2;
    }
    if (o.timeout_given && !strcmp(cmd, "snapshot") && !o.wait) {
        fprintf(stderr, "stockmesh snapshot: --timeout goes with --wait\n");
        return 2;
    }
    if (!strcmp(cmd, "reconcile") && !o.timeout_given) o.timeout_s = RECONCILE_TIMEOUT_S;
    struct config *cfg = load_config(config_path);
    if (!cfg) return 2;
    int rc = 2;
    if (!strcmp(cmd, "sku")) {
        rc = skuview_show(cfg, cargv[optind], o.json);
    } else if (!strcmp(cmd, "status")) {
        rc = show_status(cfg, operands ? cargv[optind] : NULL, o.json);
    } else if (!strcmp(cmd, "snapshot")) {
        rc = request_snapshot(cfg, cargv[optind], cargv[optind + 1], o.wait, o.timeout_s);
    } else if (!strcmp(cmd, "alerts")) {
        rc = alerts_command(cfg, cargc, cargv, &o);
    } else if (!strcmp(cmd, "replay")) {
        struct replay_options ro = {.sources = o.sources, .nsources = o.nsources,
                                    .rebuild_only = o.rebuild_only, .timeout_s = o.timeout_s};
        struct store *store = o.rebuild_only ? NULL : open_state(cfg);
        rc = o.rebuild_only || store ? replay_run(cfg, store, &ro) : 1;
        store_free(store);
    } else if (!strcmp(cmd, "reconcile")) {
        struct reconcile_options ro = {.sources = o.sources, .nsources = o.nsources,
                                       .repair = o.repair, .as_json = o.json,
                                       .timeout_s = o.timeout_s,
                                       .show = o.limit_given ? (size_t)o.limit
                                                             : RECONCILE_SHOW_DEFAULT};
        struct store *store = open_state(cfg);
        rc = store ? reconcile_run(cfg, store, &ro) : 1;
        store_free(store);
    }
    config_free(cfg);
    return rc;
}
