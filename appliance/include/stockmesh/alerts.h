/* alerts.h — the alert store: every alert's lifecycle (open → acknowledged → resolved)
 * kept in the local state database (table `alerts`, appliance/sql/002_alerts.sql).
 *
 * An alert is a condition a rule found, named by a dedup key ("mismatch|SKU-00042|S12",
 * "stale_source|pos"). While a key has an unresolved (open or acknowledged) alert, raising
 * it again only updates that alert and counts; a partial unique index keeps it at one even
 * when several processes raise at once. Once resolved (by a person, or "auto" when the rule
 * clears it), the condition coming back opens a new alert with a new id.
 *
 * Every transition is one prepared statement, hence atomic without a transaction. The
 * object borrows the store's SQLite connection: one per thread, and the store outlives it.
 * Inputs longer than the fixed fields below are cut (at a UTF-8 boundary), never overflow. */
#ifndef STOCKMESH_ALERTS_H
#define STOCKMESH_ALERTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct alerts;

#define ALERT_RULE_MAX 32
#define ALERT_KEY_MAX 256
#define ALERT_SKU_MAX 128
#define ALERT_LOCATION_MAX 64
#define ALERT_SOURCE_MAX 64
#define ALERT_SEVERITY_MAX 16
#define ALERT_STATE_MAX 16
#define ALERT_BY_MAX 64
#define ALERT_SUMMARY_MAX 1024   /* bytes kept of a summary */
#define ALERT_NOTE_MAX 2048      /* bytes kept of a note */
#define ALERT_DETAILS_MAX 65536  /* longer details JSON is refused, not cut */
#define ALERT_CONTACTS_MAX 64    /* contacts kept per alert */
#define ALERT_LIST_DEFAULT 100
#define ALERT_LIST_MAX 1000

/* One alert as stored. Text is "" and times are 0 where the value is absent (JSON null).
 * summary, note, details and contacts are owned by the struct: alert_release() frees them.
 * Every function filling an alert overwrites it without freeing what it held. */
struct alert {
    int64_t id;
    char rule[ALERT_RULE_MAX];
    char key[ALERT_KEY_MAX];
    char severity[ALERT_SEVERITY_MAX];   /* "warning" or "critical" */
    char sku[ALERT_SKU_MAX];
    char location[ALERT_LOCATION_MAX];
    char source[ALERT_SOURCE_MAX];
    char state[ALERT_STATE_MAX];         /* "open", "acknowledged" or "resolved" */
    char *summary;                       /* never NULL in a filled alert */
    char *note;                          /* NULL when none was given */
    json_t *details;                     /* a JSON object, never NULL in a filled alert */
    json_t *contacts;                    /* a JSON array of strings, never NULL when filled */
    int64_t opened_ms;
    int64_t last_seen_ms;
    int64_t count;                       /* times raised while unresolved */
    int64_t acknowledged_ms;
    char acknowledged_by[ALERT_BY_MAX];
    int64_t resolved_ms;
    char resolved_by[ALERT_BY_MAX];      /* a user name, or "auto" */
};

/* What a rule found. Only rule, key, severity and summary are required. */
struct alert_input {
    const char *rule;                    /* "mismatch", "negative_stock", … */
    const char *key;                     /* the dedup key */
    const char *severity;                /* "warning" or "critical" */
    const char *sku, *location, *source; /* NULL or "" when not about one */
    const char *summary;                 /* one human sentence */
    const char *details;                 /* JSON object text; NULL means {} */
    const char *const *contacts;         /* who to tell, e.g. the location's ops contacts */
    size_t ncontacts;
};

/* What a call did to the stored alert. */
enum alert_transition {
    ALERT_NONE,          /* nothing to do (alerts_clear with no unresolved alert) */
    ALERT_OPENED,        /* a new alert */
    ALERT_UPDATED,       /* raised again while unresolved: count, last_seen, text updated */
    ALERT_ACKNOWLEDGED,
    ALERT_RESOLVED,
};

/* Why the last call failed, so an API can answer 400, 404 or 409. */
enum alerts_error {
    ALERTS_OK,
    ALERTS_INVALID,      /* bad input: missing field, unknown severity, bad JSON */
    ALERTS_NOT_FOUND,    /* no alert with that id */
    ALERTS_CONFLICT,     /* the alert is in the wrong state for that */
    ALERTS_DB,           /* the database failed */
};

/* Which alerts alerts_list() returns; 0, NULL or "" means no condition. */
struct alert_filter {
    const char *state;     /* "open", "acknowledged", "resolved", "unresolved"; NULL: all */
    const char *location;
    const char *rule;
    const char *sku;
    int64_t since_id;      /* only ids above this (polling for what is new) */
    int64_t before_id;     /* only ids below this (paging back) */
    size_t limit;          /* 0: ALERT_LIST_DEFAULT; more is cut to ALERT_LIST_MAX */
};

/* Alerts per state, for metrics. */
struct alert_counts {
    int64_t open, acknowledged, resolved;
};

/* Per-rule count callback: n alerts of rule in state. Nonzero stops. */
typedef int (*alerts_count_cb)(void *arg, const char *rule, const char *state, int64_t n);

/* Unresolved-alert callback; al is borrowed for the call. Nonzero stops. */
typedef int (*alerts_each_cb)(void *arg, const struct alert *al);

/* Opens the alert store on a migrated state database (borrowed; must outlive it).
 * NULL with err. Free with alerts_free(). */
struct alerts *alerts_new(struct store *store, char *err, size_t errlen);

/* Frees the prepared statements and the object; the store stays open. */
void alerts_free(struct alerts *a);

/* Raises a condition: updates the key's unresolved alert (ALERT_UPDATED) or opens one
 * (ALERT_OPENED). out (may be NULL) receives the stored alert; release it. 0 or -1. */
int alerts_raise(struct alerts *a, const struct alert_input *in, int64_t now_ms,
                 struct alert *out, enum alert_transition *t);

/* The condition cleared: resolves the key's unresolved alert by "auto" (ALERT_RESOLVED),
 * or ALERT_NONE with out untouched when there is none. out may be NULL. 0 or -1. */
int alerts_clear(struct alerts *a, const char *key, int64_t now_ms, struct alert *out,
                 enum alert_transition *t);

/* Acknowledges an open alert (by = user name, note may be NULL). -1 with errcode
 * ALERTS_NOT_FOUND or ALERTS_CONFLICT (already acknowledged, resolved). out may be NULL. */
int alerts_acknowledge(struct alerts *a, int64_t id, const char *by, const char *note,
                       int64_t now_ms, struct alert *out);

/* Resolves an open or acknowledged alert by a person; a NULL note keeps the ack note.
 * -1 with ALERTS_NOT_FOUND or ALERTS_CONFLICT (already resolved). out may be NULL. */
int alerts_resolve(struct alerts *a, int64_t id, const char *by, const char *note,
                   int64_t now_ms, struct alert *out);

/* Reads one alert into out (release it). 0, or -1 with ALERTS_NOT_FOUND or ALERTS_DB. */
int alerts_get(struct alerts *a, int64_t id, struct alert *out);

/* The key's unresolved alert into out (release it; may be NULL). 0 found, 1 none, -1. */
int alerts_find_unresolved(struct alerts *a, const char *key, struct alert *out);

/* Alerts matching f (NULL: all), newest first, into a new array the caller frees with
 * alerts_list_free(). 0 or -1 (ALERTS_INVALID for an unknown state). */
int alerts_list(struct alerts *a, const struct alert_filter *f, struct alert **out, size_t *n);

/* Frees what alerts_list() returned. */
void alerts_list_free(struct alert *list, size_t n);

/* Calls cb for every unresolved alert, oldest first, so rules can re-check them after a
 * restart. They are read before the first call: cb may raise, clear or resolve. 0 or -1. */
int alerts_each_unresolved(struct alerts *a, alerts_each_cb cb, void *arg);

/* Fills totals (may be NULL) and calls cb (may be NULL) once per (rule, state). 0 or -1. */
int alerts_count(struct alerts *a, struct alert_counts *totals, alerts_count_cb cb, void *arg);

/* Deletes alerts resolved before before_ms (retention); *n (may be NULL) gets how many.
 * Unresolved alerts are never deleted. 0 or -1. */
int alerts_purge_resolved(struct alerts *a, int64_t before_ms, int64_t *n);

/* The last error message. */
const char *alerts_errstr(const struct alerts *a);

/* Why the last call failed (ALERTS_OK after a success). */
enum alerts_error alerts_errcode(const struct alerts *a);

/* The alert as the API's JSON object (nulls for absent values); caller decrefs. */
json_t *alert_to_json(const struct alert *al);

/* Frees an alert's heap fields and empties it; safe to call twice. */
void alert_release(struct alert *al);

#endif
