/* shapes.c — see shapes.h. */
#include "shapes.h"

#include "stockmesh/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define SHAPE_TEXT_MAX 65536

enum schema_change shapes_judge(const struct schema_table *old, const struct schema_table *new_,
                                const char *const *mapped, const struct shapes_where *w,
                                json_t **event, json_t **alert, char *reason, size_t reasonlen)
{
    *event = *alert = NULL;
    if (reasonlen) reason[0] = 0;
    json_t *details = NULL;
    enum schema_change verdict = schema_compare(old, new_, mapped, &details);
    if (verdict == SCHEMA_SAME) {
        json_decref(details);
        return verdict;
    }
    int incompatible = verdict == SCHEMA_INCOMPATIBLE;
    char summary[400] = "";
    json_t *reasons = details ? json_object_get(details, "reasons") : NULL;
    size_t i;
    json_t *text;
    json_array_foreach(reasons, i, text) {
        size_t used = strlen(summary);
        snprintf(summary + used, sizeof summary - used, "%s%s", used ? "; " : "",
                 json_string_value(text) ? json_string_value(text) : "");
    }
    *event = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:O?, s:o, s:b}", "source",
                       w->source, "schema", w->schema, "table", w->table, "verdict",
                       incompatible ? "incompatible" : "compatible", "position", w->position,
                       "ts_ms", (json_int_t)w->ts_ms, "seen_in", w->seen_in, "change", details,
                       "columns", schema_table_to_json(new_), "parked", incompatible);
    json_decref(details);
    if (!incompatible) {
        snprintf(reason, reasonlen, "%s", summary);
        return verdict;
    }
    snprintf(reason, reasonlen,
             "incompatible schema change: %.300s; fix the mapping, then run `stockmesh snapshot "
             "%.64s %.100s`",
             summary[0] ? summary : "see stockmesh.schema-changes", w->source, w->label);
    *alert = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "rule", "schema_change", "severity",
                       "critical", "source", w->source, "table", w->label, "summary", reason,
                       "ts_ms", (json_int_t)w->ts_ms);
    return verdict;
}

int shapes_load(struct store *st, const char *scope, const char *label, struct schema_table *out)
{
    char key[320], err[256];
    snprintf(key, sizeof key, "schema.%s", label);
    char *text = malloc(SHAPE_TEXT_MAX);
    int rc = -1;
    if (text && store_get(st, scope, key, text, SHAPE_TEXT_MAX) == 0) {
        json_t *doc = json_loads(text, 0, NULL);
        if (doc && schema_table_from_json(out, doc, err, sizeof err) == 0) rc = 0;
        json_decref(doc);
    }
    free(text);
    return rc;
}

int shapes_save(struct store *st, const char *scope, const char *label,
                const struct schema_table *shape)
{
    char key[320];
    snprintf(key, sizeof key, "schema.%s", label);
    json_t *doc = schema_table_to_json(shape);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    int rc = text ? store_set(st, scope, key, text) : -1;
    free(text);
    json_decref(doc);
    return rc;
}

int shapes_parked(struct store *st, const char *scope, const char *label, char *reason,
                  size_t reasonlen)
{
    char key[320];
    snprintf(key, sizeof key, "parked.%s", label);
    return store_get(st, scope, key, reason, reasonlen) == 0;
}

int shapes_park(struct store *st, const char *scope, const char *label, const char *reason)
{
    char key[320];
    snprintf(key, sizeof key, "parked.%s", label);
    return reason ? store_set(st, scope, key, reason) : store_delete(st, scope, key);
}

void snapshot_done_save(struct store *store, const char *scope, const char *label)
{
    char key[320], value[24];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    snprintf(key, sizeof key, "snapshot.done.%s", label);
    snprintf(value, sizeof value, "%lld", (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000);
    store_set(store, scope, key, value);
}
