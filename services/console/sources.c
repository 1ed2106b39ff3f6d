/* sources.c — see sources.h. */
#include "sources.h"

#include "stockmesh/config.h"
#include "stockmesh/store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

/* A status lists every table of a source; a few hundred bytes each. Past this it is
 * not a status but damage, and it is reported as unreadable. */
#define STATUS_MAX_BYTES (16 * 1024 * 1024)

long long sources_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

const char *sources_type_name(enum config_source_type type)
{
    switch (type) {
    case CONFIG_SOURCE_POSTGRES: return "postgresql";
    case CONFIG_SOURCE_MARIADB: return "mariadb";
    }
    return "unknown";
}

static void scope_of(const struct config_source *src, char *out, size_t outlen)
{
    snprintf(out, outlen, "source:%s", src->name);
}

static void request_key(const struct config_table *t, char *out, size_t outlen)
{
    snprintf(out, outlen, "snapshot.request.%s.%s", t->schema, t->name);
}

/* Reads a value whole into *out (caller frees): store_get cuts at the buffer's size, so
 * the buffer grows until the value fits. 0, 1 when absent, -1 with the reason in err. */
static int read_whole(struct store *store, const char *scope, const char *key, char **out,
                      char *err, size_t errlen)
{
    for (size_t len = 16 * 1024;; len *= 4) {
        char *buf = malloc(len);
        if (!buf) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        int rc = store_get(store, scope, key, buf, len);
        if (rc != 0) {
            if (rc < 0) snprintf(err, errlen, "%s", store_errstr(store));
            free(buf);
            return rc;
        }
        if (strlen(buf) < len - 1) {
            *out = buf;
            return 0;
        }
        free(buf);
        if (len >= STATUS_MAX_BYTES) {
            snprintf(err, errlen, "value larger than %d bytes", STATUS_MAX_BYTES);
            return -1;
        }
    }
}

/* What is known of a source whose reader never reported: the configuration. */
static json_t *unknown_status(const struct config_source *src)
{
    json_t *tables = json_array();
    for (size_t i = 0; tables && i < src->ntables; i++) {
        json_t *t = json_pack("{s:s, s:s, s:s, s:n, s:n}", "schema", src->tables[i].schema,
                              "name", src->tables[i].name, "state", "unknown", "snapshot",
                              "parked_reason");
        if (json_array_append_new(tables, t) != 0) {
            json_decref(tables);
            return NULL;
        }
    }
    if (!tables) return NULL;
    return json_pack("{s:s, s:s, s:s, s:n, s:n, s:n, s:n, s:i, s:n, s:n, s:n, s:n, s:n, s:n, "
                     "s:o}",
                     "source", src->name, "type", sources_type_name(src->type), "state",
                     "unknown", "since_ms", "updated_ms", "last_error", "last_error_ms",
                     "reconnects", 0, "next_attempt_ms", "confirmed_position",
                     "slot_lag_bytes", "retained_wal_bytes", "last_heartbeat_ms",
                     "last_event_ms", "tables", tables);
}

json_t *sources_status(struct store *store, const struct config_source *src, long long now_ms)
{
    char scope[160], cause[400] = "", why[600] = "";
    scope_of(src, scope, sizeof scope);
    char *text = NULL;
    json_t *o = NULL;
    int rc = read_whole(store, scope, "status", &text, cause, sizeof cause);
    if (rc == 0) {
        json_error_t jerr;
        o = json_loads(text, 0, &jerr);
        free(text);
        if (!json_is_object(o)) {
            snprintf(why, sizeof why, "the stored status is not a JSON object (%s)",
                     o ? "a JSON array" : jerr.text);
            json_decref(o);
            o = NULL;
            rc = -1;
        }
    } else if (rc < 0) {
        snprintf(why, sizeof why, "cannot read the state database: %s", cause);
    }
    if (!o && !(o = unknown_status(src))) return NULL;
    int bad = 0;
    if (rc < 0) bad |= json_object_set_new(o, "status_error", json_string(why));
    if (!json_is_string(json_object_get(o, "source")))
        bad |= json_object_set_new(o, "source", json_string(src->name));
    if (!json_is_string(json_object_get(o, "type")))
        bad |= json_object_set_new(o, "type", json_string(sources_type_name(src->type)));
    json_t *updated = json_object_get(o, "updated_ms");
    int stale = !json_is_number(updated) ||
                (double)now_ms - json_number_value(updated) > SOURCES_STALE_MS;
    bad |= json_object_set_new(o, "stale", json_boolean(stale));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *sources_status_all(struct store *store, const struct config *cfg, long long now_ms)
{
    json_t *list = json_array();
    for (size_t i = 0; list && i < cfg->nsources; i++) {
        if (json_array_append_new(list, sources_status(store, &cfg->sources[i], now_ms)) != 0) {
            json_decref(list);
            return NULL;
        }
    }
    return list ? json_pack("{s:o}", "sources", list) : NULL;
}

const struct config_table *sources_table(const struct config_source *src, const char *spec)
{
    const char *dot = strchr(spec, '.');
    const char *name = dot ? dot + 1 : spec;
    size_t schema_len = dot ? (size_t)(dot - spec) : strlen("public");
    const char *schema = dot ? spec : "public";
    for (size_t i = 0; i < src->ntables; i++) {
        const struct config_table *t = &src->tables[i];
        if (strlen(t->schema) == schema_len && strncmp(t->schema, schema, schema_len) == 0 &&
            strcmp(t->name, name) == 0)
            return t;
    }
    return NULL;
}

void sources_table_list(const struct config_source *src, char *out, size_t outlen)
{
    size_t used = 0;
    out[0] = 0;
    for (size_t i = 0; i < src->ntables && used < outlen; i++) {
        int n = snprintf(out + used, outlen - used, "%s%s.%s", i ? ", " : "",
                         src->tables[i].schema, src->tables[i].name);
        if (n < 0) break;
        used += (size_t)n;
    }
}

void sources_name_list(const struct config *cfg, char *out, size_t outlen)
{
    size_t used = 0;
    out[0] = 0;
    for (size_t i = 0; i < cfg->nsources && used < outlen; i++) {
        int n = snprintf(out + used, outlen - used, "%s%s", i ? ", " : "", cfg->sources[i].name);
        if (n < 0) break;
        used += (size_t)n;
    }
}

int sources_request_snapshot(struct store *store, const struct config_source *src,
                             const struct config_table *table, long long requested_ms,
                             char *err, size_t errlen)
{
    char scope[160], key[600], value[32];
    scope_of(src, scope, sizeof scope);
    request_key(table, key, sizeof key);
    snprintf(value, sizeof value, "%lld", requested_ms);
    if (store_set(store, scope, key, value) != 0) {
        snprintf(err, errlen, "cannot write %s %s to the state database: %s", scope, key,
                 store_errstr(store));
        return -1;
    }
    return 0;
}

int sources_snapshot_pending(struct store *store, const struct config_source *src,
                             const struct config_table *table, char *err, size_t errlen)
{
    char scope[160], key[600], value[64];
    scope_of(src, scope, sizeof scope);
    request_key(table, key, sizeof key);
    int rc = store_get(store, scope, key, value, sizeof value);
    if (rc < 0) {
        snprintf(err, errlen, "cannot read %s %s from the state database: %s", scope, key,
                 store_errstr(store));
        return -1;
    }
    return rc == 0 ? 1 : 0;
}
