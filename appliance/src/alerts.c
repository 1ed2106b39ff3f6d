/* alerts.c — see alerts.h. */
#include "stockmesh/alerts.h"

#include "stockmesh/store.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An e-mail address is at most 254 bytes; a longer contact is no address. */
#define CONTACT_MAX 255

/* The column order read_row() expects. */
#define COLUMNS                                                                               \
    "id, rule, dedup_key, severity, sku, location, source, summary, details, contacts, "     \
    "state, opened_ms, last_seen_ms, count, acknowledged_ms, acknowledged_by, resolved_ms, " \
    "resolved_by, note"

/* alerts_list() statements are prepared on first use, one per shape of filter: state
 * (none, one, unresolved) times the five optional conditions. */
enum { LIST_STATE_ANY, LIST_STATE_ONE, LIST_STATE_UNRESOLVED, LIST_STATE_KINDS };
enum {
    LIST_LOCATION = 1 << 0,
    LIST_RULE = 1 << 1,
    LIST_SKU = 1 << 2,
    LIST_SINCE = 1 << 3,
    LIST_BEFORE = 1 << 4,
    LIST_CONDITIONS = 1 << 5,
};

struct alerts {
    sqlite3 *db;
    sqlite3_stmt *raise, *clear, *ack, *resolve, *get, *find, *unresolved, *count, *purge;
    sqlite3_stmt *list[LIST_STATE_KINDS * LIST_CONDITIONS];
    enum alerts_error errcode;
    char errstr[512];
};

static int fail(struct alerts *a, enum alerts_error code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct alerts *a, enum alerts_error code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->errstr, sizeof a->errstr, fmt, ap);
    va_end(ap);
    a->errcode = code;
    return -1;
}

/* Starts a public call: a success must not report the previous call's error. */
static void begin(struct alerts *a)
{
    a->errcode = ALERTS_OK;
    a->errstr[0] = 0;
}

/* Length of the well-formed UTF-8 sequence at s, 0 when it is not one. The string is
 * NUL-terminated and NUL is never a continuation byte, so this never reads past it. */
static size_t utf8_sequence(const unsigned char *s)
{
    unsigned char lo = 0x80, hi = 0xBF;
    size_t n;
    if (s[0] < 0x80) return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) n = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        n = 3;
        if (s[0] == 0xE0) lo = 0xA0;      /* overlong */
        else if (s[0] == 0xED) hi = 0x9F; /* surrogates */
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        n = 4;
        if (s[0] == 0xF0) lo = 0x90;      /* overlong */
        else if (s[0] == 0xF4) hi = 0x8F; /* above U+10FFFF */
    } else
        return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return n;
}

/* Copies src (NULL is "") into dst of cap bytes as valid UTF-8: a byte that is not UTF-8
 * becomes U+FFFD, and a cut falls between characters. Text from a source database must
 * not make the JSON encoder refuse a whole alert list later. Returns the length. */
static size_t clean_text(char *dst, size_t cap, const char *src)
{
    static const char replacement[] = "\xEF\xBF\xBD";
    size_t out = 0;
    for (const unsigned char *p = (const unsigned char *)(src ? src : ""); *p;) {
        size_t n = utf8_sequence(p);
        const char *piece = n ? (const char *)p : replacement;
        size_t len = n ? n : sizeof replacement - 1;
        if (out + len > cap - 1) break;
        memcpy(dst + out, piece, len);
        out += len;
        p += n ? n : 1;
    }
    dst[out] = 0;
    return out;
}

/* clean_text() into a new heap string of at most cap bytes; NULL when out of memory. */
static char *clean_dup(const char *src, size_t cap)
{
    size_t need = src ? strlen(src) * 3 + 1 : 1; /* every byte may become U+FFFD */
    if (need > cap) need = cap;
    char *s = malloc(need);
    if (s) clean_text(s, need, src);
    return s;
}

void alert_release(struct alert *al)
{
    if (!al) return;
    free(al->summary);
    free(al->note);
    json_decref(al->details);
    json_decref(al->contacts);
    memset(al, 0, sizeof *al);
}

/* Reads the current row of a statement selecting COLUMNS. */
static int read_row(struct alerts *a, sqlite3_stmt *st, struct alert *al)
{
    memset(al, 0, sizeof *al);
    al->id = sqlite3_column_int64(st, 0);
    clean_text(al->rule, sizeof al->rule, (const char *)sqlite3_column_text(st, 1));
    clean_text(al->key, sizeof al->key, (const char *)sqlite3_column_text(st, 2));
    clean_text(al->severity, sizeof al->severity, (const char *)sqlite3_column_text(st, 3));
    clean_text(al->sku, sizeof al->sku, (const char *)sqlite3_column_text(st, 4));
    clean_text(al->location, sizeof al->location, (const char *)sqlite3_column_text(st, 5));
    clean_text(al->source, sizeof al->source, (const char *)sqlite3_column_text(st, 6));
    al->summary = clean_dup((const char *)sqlite3_column_text(st, 7), ALERT_SUMMARY_MAX);
    /* only this module writes these columns, always valid JSON; should a row hold anything
     * else, showing the alert without its details beats failing the whole list */
    const char *details = (const char *)sqlite3_column_text(st, 8);
    al->details = details ? json_loads(details, 0, NULL) : NULL;
    if (!json_is_object(al->details)) {
        json_decref(al->details);
        al->details = json_object();
    }
    const char *contacts = (const char *)sqlite3_column_text(st, 9);
    al->contacts = contacts ? json_loads(contacts, 0, NULL) : NULL;
    if (!json_is_array(al->contacts)) {
        json_decref(al->contacts);
        al->contacts = json_array();
    }
    clean_text(al->state, sizeof al->state, (const char *)sqlite3_column_text(st, 10));
    al->opened_ms = sqlite3_column_int64(st, 11);
    al->last_seen_ms = sqlite3_column_int64(st, 12);
    al->count = sqlite3_column_int64(st, 13);
    al->acknowledged_ms = sqlite3_column_int64(st, 14);
    clean_text(al->acknowledged_by, sizeof al->acknowledged_by,
               (const char *)sqlite3_column_text(st, 15));
    al->resolved_ms = sqlite3_column_int64(st, 16);
    clean_text(al->resolved_by, sizeof al->resolved_by, (const char *)sqlite3_column_text(st, 17));
    const char *note = (const char *)sqlite3_column_text(st, 18);
    if (note) al->note = clean_dup(note, ALERT_NOTE_MAX);
    if (!al->summary || !al->details || !al->contacts || (note && !al->note)) {
        int64_t id = al->id;
        alert_release(al);
        return fail(a, ALERTS_DB, "out of memory reading alert %" PRId64, id);
    }
    return 0;
}

/* Runs a statement yielding at most one alert row to its end, so that the write it made
 * is committed before out is filled: on -1 out is untouched. 0 row, 1 no row, -1 error. */
static int step_one(struct alerts *a, sqlite3_stmt *st, const char *what, struct alert *out)
{
    struct alert got;
    int found = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (found) continue;
        if (read_row(a, st, &got) != 0) {
            sqlite3_reset(st);
            return -1;
        }
        found = 1;
    }
    if (rc != SQLITE_DONE) {
        fail(a, ALERTS_DB, "%s: %s", what, sqlite3_errmsg(a->db));
        sqlite3_reset(st);
        if (found) alert_release(&got);
        return -1;
    }
    sqlite3_reset(st);
    if (!found) return 1;
    if (out)
        *out = got;
    else
        alert_release(&got);
    return 0;
}

/* Binds text cut and cleaned like the fixed fields of struct alert, so what is stored
 * is exactly what is read back; NULL or "" binds NULL when nullable. buf outlives the
 * statement's step (SQLITE_STATIC). */
static void bind_text(sqlite3_stmt *st, int i, const char *s, char *buf, size_t cap, int nullable)
{
    if (nullable && (!s || !*s)) {
        sqlite3_bind_null(st, i);
        return;
    }
    size_t n = clean_text(buf, cap, s);
    sqlite3_bind_text(st, i, buf, (int)n, SQLITE_STATIC);
}

static int prepare(struct alerts *a, sqlite3_stmt **st, const char *sql, char *err, size_t errlen)
{
    if (sqlite3_prepare_v3(a->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) == SQLITE_OK)
        return 0;
    snprintf(err, errlen, "alert store: %s (is the state database migrated?)",
             sqlite3_errmsg(a->db));
    return -1;
}

struct alerts *alerts_new(struct store *store, char *err, size_t errlen)
{
    if (!store) {
        snprintf(err, errlen, "alert store: no state database");
        return NULL;
    }
    struct alerts *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->db = store_db(store);
    /* The conflict target names the partial index, so a raise racing another process's
     * raise of the same key updates the winner's alert instead of failing. max() keeps
     * last_seen from going back when two processes' clocks differ. */
    if (prepare(a, &a->raise,
                "INSERT INTO alerts (rule, dedup_key, severity, sku, location, source, summary, "
                "details, contacts, state, opened_ms, last_seen_ms, count) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'open', ?10, ?10, 1) "
                "ON CONFLICT (dedup_key) WHERE state != 'resolved' DO UPDATE SET "
                "last_seen_ms = max(last_seen_ms, excluded.last_seen_ms), count = count + 1, "
                "severity = excluded.severity, summary = excluded.summary, "
                "details = excluded.details, contacts = excluded.contacts "
                "RETURNING " COLUMNS,
                err, errlen) != 0 ||
        prepare(a, &a->clear,
                "UPDATE alerts SET state = 'resolved', resolved_ms = ?2, resolved_by = 'auto' "
                "WHERE dedup_key = ?1 AND state != 'resolved' RETURNING " COLUMNS,
                err, errlen) != 0 ||
        prepare(a, &a->ack,
                "UPDATE alerts SET state = 'acknowledged', acknowledged_ms = ?2, "
                "acknowledged_by = ?3, note = coalesce(?4, note) "
                "WHERE id = ?1 AND state = 'open' RETURNING " COLUMNS,
                err, errlen) != 0 ||
        prepare(a, &a->resolve,
                "UPDATE alerts SET state = 'resolved', resolved_ms = ?2, resolved_by = ?3, "
                "note = coalesce(?4, note) "
                "WHERE id = ?1 AND state != 'resolved' RETURNING " COLUMNS,
                err, errlen) != 0 ||
        prepare(a, &a->get, "SELECT " COLUMNS " FROM alerts WHERE id = ?1", err, errlen) != 0 ||
        prepare(a, &a->find,
                "SELECT " COLUMNS " FROM alerts WHERE dedup_key = ?1 AND state != 'resolved'",
                err, errlen) != 0 ||
        prepare(a, &a->unresolved,
                "SELECT " COLUMNS " FROM alerts WHERE state != 'resolved' ORDER BY id", err,
                errlen) != 0 ||
        prepare(a, &a->count,
                "SELECT rule, state, count(*) FROM alerts GROUP BY rule, state ORDER BY rule, "
                "state",
                err, errlen) != 0 ||
        prepare(a, &a->purge,
                "DELETE FROM alerts WHERE state = 'resolved' AND resolved_ms < ?1", err,
                errlen) != 0) {
        alerts_free(a);
        return NULL;
    }
    return a;
}

void alerts_free(struct alerts *a)
{
    if (!a) return;
    sqlite3_stmt *all[] = {a->raise, a->clear,      a->ack,   a->resolve, a->get,
                           a->find,  a->unresolved, a->count, a->purge};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) sqlite3_finalize(all[i]);
    for (size_t i = 0; i < sizeof a->list / sizeof a->list[0]; i++) sqlite3_finalize(a->list[i]);
    free(a);
}

/* The details as compact JSON text (caller frees), or NULL with the error set. */
static char *details_text(struct alerts *a, const char *text)
{
    if (!text || !*text) text = "{}";
    size_t len = strlen(text);
    if (len > ALERT_DETAILS_MAX) {
        fail(a, ALERTS_INVALID, "alert details are %zu bytes, more than the %d allowed", len,
             ALERT_DETAILS_MAX);
        return NULL;
    }
    json_error_t jerr;
    json_t *j = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
    if (!j) {
        fail(a, ALERTS_INVALID, "alert details are not JSON: %s at line %d column %d",
             jerr.text, jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        fail(a, ALERTS_INVALID, "alert details must be a JSON object");
        return NULL;
    }
    char *out = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!out) fail(a, ALERTS_DB, "out of memory");
    return out;
}

/* The contacts as a compact JSON array (caller frees), or NULL with the error set. */
static char *contacts_text(struct alerts *a, const char *const *contacts, size_t n)
{
    json_t *arr = json_array();
    char buf[CONTACT_MAX];
    for (size_t i = 0; arr && i < n && json_array_size(arr) < ALERT_CONTACTS_MAX; i++) {
        if (!contacts[i] || !*contacts[i]) continue;
        clean_text(buf, sizeof buf, contacts[i]);
        if (json_array_append_new(arr, json_string(buf)) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    char *out = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    if (!out) fail(a, ALERTS_DB, "out of memory");
    return out;
}

int alerts_raise(struct alerts *a, const struct alert_input *in, int64_t now_ms,
                 struct alert *out, enum alert_transition *t)
{
    begin(a);
    if (t) *t = ALERT_NONE;
    if (!in || !in->rule || !*in->rule) return fail(a, ALERTS_INVALID, "an alert needs a rule");
    if (!in->key || !*in->key)
        return fail(a, ALERTS_INVALID, "a %s alert needs a dedup key", in->rule);
    if (!in->severity || (strcmp(in->severity, "warning") != 0 &&
                          strcmp(in->severity, "critical") != 0))
        return fail(a, ALERTS_INVALID, "alert %.200s: severity must be warning or critical",
                    in->key);
    if (!in->summary || !*in->summary)
        return fail(a, ALERTS_INVALID, "alert %.200s needs a summary", in->key);

    char *details = details_text(a, in->details);
    if (!details) return -1;
    char *contacts = contacts_text(a, in->contacts, in->ncontacts);
    if (!contacts) {
        free(details);
        return -1;
    }
    char rule[ALERT_RULE_MAX], key[ALERT_KEY_MAX], severity[ALERT_SEVERITY_MAX];
    char sku[ALERT_SKU_MAX], location[ALERT_LOCATION_MAX], source[ALERT_SOURCE_MAX];
    char summary[ALERT_SUMMARY_MAX];
    sqlite3_stmt *st = a->raise;
    bind_text(st, 1, in->rule, rule, sizeof rule, 0);
    bind_text(st, 2, in->key, key, sizeof key, 0);
    bind_text(st, 3, in->severity, severity, sizeof severity, 0);
    bind_text(st, 4, in->sku, sku, sizeof sku, 1);
    bind_text(st, 5, in->location, location, sizeof location, 1);
    bind_text(st, 6, in->source, source, sizeof source, 1);
    bind_text(st, 7, in->summary, summary, sizeof summary, 0);
    sqlite3_bind_text(st, 8, details, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, contacts, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 10, now_ms);

    struct alert got;
    int rc = step_one(a, st, "raising an alert", &got);
    free(details);
    free(contacts);
    if (rc != 0) return rc < 0 ? -1 : fail(a, ALERTS_DB, "raising alert %s stored nothing", key);
    /* a new row starts at count 1; the update path always makes it 2 or more */
    if (t) *t = got.count == 1 ? ALERT_OPENED : ALERT_UPDATED;
    if (out)
        *out = got;
    else
        alert_release(&got);
    return 0;
}

int alerts_clear(struct alerts *a, const char *key, int64_t now_ms, struct alert *out,
                 enum alert_transition *t)
{
    begin(a);
    if (t) *t = ALERT_NONE;
    if (!key || !*key) return fail(a, ALERTS_INVALID, "clearing an alert needs its dedup key");
    char k[ALERT_KEY_MAX];
    bind_text(a->clear, 1, key, k, sizeof k, 0);
    sqlite3_bind_int64(a->clear, 2, now_ms);
    int rc = step_one(a, a->clear, "resolving an alert", out);
    if (rc < 0) return -1;
    if (rc == 0 && t) *t = ALERT_RESOLVED;
    return 0;
}

/* After an id-addressed transition matched no row: says whether the alert is missing or
 * in which state it is. The state may have moved on since, which only changes the words. */
static int explain_refusal(struct alerts *a, int64_t id, const char *verb)
{
    struct alert al;
    sqlite3_bind_int64(a->get, 1, id);
    int rc = step_one(a, a->get, "reading an alert", &al);
    if (rc < 0) return -1;
    if (rc == 1) return fail(a, ALERTS_NOT_FOUND, "alert %" PRId64 " does not exist", id);
    int already = strcmp(al.state, verb) == 0;
    fail(a, ALERTS_CONFLICT, "alert %" PRId64 " is %s%s", id, already ? "already " : "",
         al.state);
    alert_release(&al);
    return -1;
}

/* Acknowledge and resolve by a person: same bindings, different statements. */
static int transition_by_id(struct alerts *a, sqlite3_stmt *st, const char *verb, int64_t id,
                            const char *by, const char *note, int64_t now_ms,
                            struct alert *out)
{
    begin(a);
    if (!by || !*by)
        return fail(a, ALERTS_INVALID, "alert %" PRId64 " can only be %s by someone", id, verb);
    char who[ALERT_BY_MAX], text[ALERT_NOTE_MAX];
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now_ms);
    bind_text(st, 3, by, who, sizeof who, 0);
    bind_text(st, 4, note, text, sizeof text, 1);
    char what[96];
    snprintf(what, sizeof what, "alert %" PRId64 " not %s", id, verb);
    int rc = step_one(a, st, what, out);
    if (rc < 0) return -1;
    if (rc == 1) return explain_refusal(a, id, verb);
    return 0;
}

int alerts_acknowledge(struct alerts *a, int64_t id, const char *by, const char *note,
                       int64_t now_ms, struct alert *out)
{
    return transition_by_id(a, a->ack, "acknowledged", id, by, note, now_ms, out);
}

int alerts_resolve(struct alerts *a, int64_t id, const char *by, const char *note,
                   int64_t now_ms, struct alert *out)
{
    return transition_by_id(a, a->resolve, "resolved", id, by, note, now_ms, out);
}

int alerts_get(struct alerts *a, int64_t id, struct alert *out)
{
    begin(a);
    sqlite3_bind_int64(a->get, 1, id);
    int rc = step_one(a, a->get, "reading an alert", out);
    if (rc == 1) return fail(a, ALERTS_NOT_FOUND, "alert %" PRId64 " does not exist", id);
    return rc;
}

int alerts_find_unresolved(struct alerts *a, const char *key, struct alert *out)
{
    begin(a);
    if (!key || !*key) return fail(a, ALERTS_INVALID, "finding an alert needs its dedup key");
    char k[ALERT_KEY_MAX];
    bind_text(a->find, 1, key, k, sizeof k, 0);
    return step_one(a, a->find, "finding an alert", out);
}

static sqlite3_stmt *list_statement(struct alerts *a, int state_kind, int conditions)
{
    sqlite3_stmt **slot = &a->list[state_kind * LIST_CONDITIONS + conditions];
    if (*slot) return *slot;
    char sql[1024];
    int n = snprintf(sql, sizeof sql, "SELECT " COLUMNS " FROM alerts WHERE 1%s%s%s%s%s%s "
                     "ORDER BY id DESC LIMIT :limit",
                     state_kind == LIST_STATE_ONE          ? " AND state = :state"
                     : state_kind == LIST_STATE_UNRESOLVED ? " AND state != 'resolved'"
                                                           : "",
                     conditions & LIST_LOCATION ? " AND location = :location" : "",
                     conditions & LIST_RULE ? " AND rule = :rule" : "",
                     conditions & LIST_SKU ? " AND sku = :sku" : "",
                     conditions & LIST_SINCE ? " AND id > :since" : "",
                     conditions & LIST_BEFORE ? " AND id < :before" : "");
    if (n < 0 || (size_t)n >= sizeof sql ||
        sqlite3_prepare_v3(a->db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL) != SQLITE_OK) {
        fail(a, ALERTS_DB, "listing alerts: %s", sqlite3_errmsg(a->db));
        *slot = NULL;
    }
    return *slot;
}

static void bind_named(sqlite3_stmt *st, const char *name, const char *value)
{
    int i = sqlite3_bind_parameter_index(st, name);
    if (i > 0) sqlite3_bind_text(st, i, value, -1, SQLITE_STATIC);
}

static void bind_named_int(sqlite3_stmt *st, const char *name, int64_t value)
{
    int i = sqlite3_bind_parameter_index(st, name);
    if (i > 0) sqlite3_bind_int64(st, i, value);
}

/* Appends the current row to a growing array. */
static int append_row(struct alerts *a, sqlite3_stmt *st, struct alert **list, size_t *n,
                      size_t *cap)
{
    if (*n == *cap) {
        size_t grown = *cap ? *cap * 2 : 16;
        struct alert *more = realloc(*list, grown * sizeof **list);
        if (!more) return fail(a, ALERTS_DB, "out of memory listing alerts");
        *list = more;
        *cap = grown;
    }
    if (read_row(a, st, &(*list)[*n]) != 0) return -1;
    (*n)++;
    return 0;
}

/* Steps st to its end collecting every row; on -1 nothing is left allocated. */
static int collect(struct alerts *a, sqlite3_stmt *st, const char *what, struct alert **out,
                   size_t *nout)
{
    struct alert *list = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (append_row(a, st, &list, &n, &cap) != 0) break;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        fail(a, ALERTS_DB, "%s: %s", what, sqlite3_errmsg(a->db));
    sqlite3_reset(st);
    sqlite3_clear_bindings(st); /* they point into the caller's filter */
    if (rc != SQLITE_DONE) {
        alerts_list_free(list, n);
        return -1;
    }
    *out = list;
    *nout = n;
    return 0;
}

int alerts_list(struct alerts *a, const struct alert_filter *f, struct alert **out, size_t *n)
{
    begin(a);
    *out = NULL;
    *n = 0;
    static const struct alert_filter everything;
    if (!f) f = &everything;

    int state_kind = LIST_STATE_ANY;
    if (f->state && *f->state && strcmp(f->state, "all") != 0) {
        if (strcmp(f->state, "unresolved") == 0)
            state_kind = LIST_STATE_UNRESOLVED;
        else if (strcmp(f->state, "open") == 0 || strcmp(f->state, "acknowledged") == 0 ||
                 strcmp(f->state, "resolved") == 0)
            state_kind = LIST_STATE_ONE;
        else
            return fail(a, ALERTS_INVALID,
                        "unknown alert state \"%.64s\" (open, acknowledged, resolved, "
                        "unresolved or all)",
                        f->state);
    }
    int conditions = (f->location && *f->location ? LIST_LOCATION : 0) |
                     (f->rule && *f->rule ? LIST_RULE : 0) | (f->sku && *f->sku ? LIST_SKU : 0) |
                     (f->since_id > 0 ? LIST_SINCE : 0) | (f->before_id > 0 ? LIST_BEFORE : 0);
    sqlite3_stmt *st = list_statement(a, state_kind, conditions);
    if (!st) return -1;
    size_t limit = f->limit ? f->limit : ALERT_LIST_DEFAULT;
    if (limit > ALERT_LIST_MAX) limit = ALERT_LIST_MAX;

    /* cut like the stored values, or a long filter would never match what was stored */
    char location[ALERT_LOCATION_MAX], rule[ALERT_RULE_MAX], sku[ALERT_SKU_MAX];
    clean_text(location, sizeof location, f->location);
    clean_text(rule, sizeof rule, f->rule);
    clean_text(sku, sizeof sku, f->sku);
    bind_named(st, ":state", f->state);
    bind_named(st, ":location", location);
    bind_named(st, ":rule", rule);
    bind_named(st, ":sku", sku);
    bind_named_int(st, ":since", f->since_id);
    bind_named_int(st, ":before", f->before_id);
    bind_named_int(st, ":limit", (int64_t)limit);
    return collect(a, st, "listing alerts", out, n);
}

void alerts_list_free(struct alert *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++) alert_release(&list[i]);
    free(list);
}

int alerts_each_unresolved(struct alerts *a, alerts_each_cb cb, void *arg)
{
    begin(a);
    struct alert *list;
    size_t n;
    /* read them all first: cb clearing an alert must not disturb the scan it came from */
    if (collect(a, a->unresolved, "reading unresolved alerts", &list, &n) != 0) return -1;
    for (size_t i = 0; i < n; i++)
        if (cb(arg, &list[i]) != 0) break;
    alerts_list_free(list, n);
    return 0;
}

int alerts_count(struct alerts *a, struct alert_counts *totals, alerts_count_cb cb, void *arg)
{
    begin(a);
    struct alert_counts sum = {0, 0, 0};
    int rc, stopped = 0;
    while ((rc = sqlite3_step(a->count)) == SQLITE_ROW) {
        const char *rule = (const char *)sqlite3_column_text(a->count, 0);
        const char *state = (const char *)sqlite3_column_text(a->count, 1);
        int64_t n = sqlite3_column_int64(a->count, 2);
        if (!rule || !state) continue;
        if (strcmp(state, "open") == 0) sum.open += n;
        else if (strcmp(state, "acknowledged") == 0) sum.acknowledged += n;
        else if (strcmp(state, "resolved") == 0) sum.resolved += n;
        if (cb && !stopped && cb(arg, rule, state, n) != 0) stopped = 1;
    }
    if (rc != SQLITE_DONE) fail(a, ALERTS_DB, "counting alerts: %s", sqlite3_errmsg(a->db));
    sqlite3_reset(a->count);
    if (rc != SQLITE_DONE) return -1;
    if (totals) *totals = sum;
    return 0;
}

int alerts_purge_resolved(struct alerts *a, int64_t before_ms, int64_t *n)
{
    begin(a);
    sqlite3_bind_int64(a->purge, 1, before_ms);
    int rc = sqlite3_step(a->purge);
    if (rc != SQLITE_DONE) fail(a, ALERTS_DB, "purging alerts: %s", sqlite3_errmsg(a->db));
    sqlite3_reset(a->purge);
    if (rc != SQLITE_DONE) return -1;
    if (n) *n = (int64_t)sqlite3_changes64(a->db);
    return 0;
}

const char *alerts_errstr(const struct alerts *a) { return a->errstr; }

enum alerts_error alerts_errcode(const struct alerts *a) { return a->errcode; }

static json_t *text_or_null(const char *s)
{
    json_t *j = s && *s ? json_string(s) : NULL;
    return j ? j : json_null();
}

static json_t *ms_or_null(int64_t ms) { return ms ? json_integer(ms) : json_null(); }

json_t *alert_to_json(const struct alert *al)
{
    json_t *j = json_object();
    if (!j) return NULL;
    json_t *details = al->details ? json_deep_copy(al->details) : json_object();
    json_t *contacts = al->contacts ? json_deep_copy(al->contacts) : json_array();
    int bad = json_object_set_new(j, "id", json_integer(al->id)) |
              json_object_set_new(j, "rule", text_or_null(al->rule)) |
              json_object_set_new(j, "key", text_or_null(al->key)) |
              json_object_set_new(j, "severity", text_or_null(al->severity)) |
              json_object_set_new(j, "sku", text_or_null(al->sku)) |
              json_object_set_new(j, "location", text_or_null(al->location)) |
              json_object_set_new(j, "source", text_or_null(al->source)) |
              json_object_set_new(j, "summary", text_or_null(al->summary)) |
              json_object_set_new(j, "details", details) |
              json_object_set_new(j, "contacts", contacts) |
              json_object_set_new(j, "state", text_or_null(al->state)) |
              json_object_set_new(j, "opened_ms", json_integer(al->opened_ms)) |
              json_object_set_new(j, "last_seen_ms", json_integer(al->last_seen_ms)) |
              json_object_set_new(j, "count", json_integer(al->count)) |
              json_object_set_new(j, "acknowledged_ms", ms_or_null(al->acknowledged_ms)) |
              json_object_set_new(j, "acknowledged_by", text_or_null(al->acknowledged_by)) |
              json_object_set_new(j, "resolved_ms", ms_or_null(al->resolved_ms)) |
              json_object_set_new(j, "resolved_by", text_or_null(al->resolved_by)) |
              json_object_set_new(j, "note", text_or_null(al->note));
    if (bad) {
        json_decref(j);
        return NULL;
    }
    return j;
}
