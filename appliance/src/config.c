/* config.c — see config.h.
 *
 * The YAML text is read twice. A first pass over libyaml's events refuses what a
 * configuration never needs but a hostile file can abuse (aliases, deep nesting, a
 * flood of nodes, a second document), so that the second pass, libyaml's document
 * loader, only ever builds a small tree whose nodes carry line numbers.
 *
 * One generic walker then fills the structs of config.h from declarative tables of
 * field descriptors; a key, its type, its limits and its default are one line of a
 * table, not a block of code. Checks that span several keys (references, unique
 * names, secrets) run after the walk, and only when the walk found nothing wrong, so
 * they can rely on every required field being present.
 *
 * Problems are collected rather than returned at the first one: `stockmesh config
 * check` names every error in one run. */
#include "stockmesh/config.h"

#include "stockmesh/log.h"
#include "stockmesh/timeconv.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

/* Limits far above any real estate (thousands of stores fit in a few hundred KB)
 * and low enough that a hostile file costs little memory and time. */
#define CONFIG_MAX_BYTES (8u << 20)
#define CONFIG_MAX_NODES 500000
#define CONFIG_MAX_DEPTH 32
#define PROBLEMS_KEPT 20      /* a longer list helps nobody; the count is still given */
#define SECRET_MAX 4096
#define EXCERPT_MAX 40        /* bytes of a user's value quoted back in a message */
#define EXCERPT_BUF (EXCERPT_MAX * 2 + 16)
#define QUOTED_BUF (EXCERPT_BUF + 2)  /* an excerpt in double quotes */
#define SUGGEST_MAX_KEY 64    /* longer unknown keys get no "did you mean" */
#define MAX_FIELDS 16         /* per mapping; checked at compile time below */
#define NO_LINE ((size_t)-1)

/* ------------------------------------------------------------------------ schema */

enum field_kind {
    K_STRING,    /* non-empty scalar, copied */
    K_INT,       /* decimal integer within [min, max]; int or long long member */
    K_BOOL,      /* true/false, yes/no, on/off; int member */
    K_ENUM,      /* one of names[]; int-sized member */
    K_STRLIST,   /* list of non-empty scalars: char ** at offset, size_t count at aux */
    K_STRMAP,    /* mapping of scalars: struct config_property * at offset, count at aux */
    K_GROUP,     /* mapping whose fields live in the same struct (offsets from its base) */
    K_OBJLIST,   /* list of mappings: array of sub->size elements at offset, count at aux */
    K_HOSTPORT,  /* "host:port": char * at offset, int port at aux */
    K_TABLENAME, /* "name" or "schema.name": schema char * at offset, name char * at aux */
};

enum { REQUIRED = 1u << 0, NONEMPTY = 1u << 1, SECRET = 1u << 2 };

struct enum_name {
    const char *name;
    int value;
};

struct schema;

struct field {
    const char *key;
    enum field_kind kind;
    unsigned flags;
    size_t offset;
    size_t aux;
    size_t width;              /* sizeof the integer member */
    long long min, max;
    long long def_int;
    const char *def_str;
    const struct enum_name *names;
    const struct schema *sub;
};

struct schema {
    const char *what;          /* one element, for messages: "source" */
    size_t size;               /* of one element of a K_OBJLIST */
    size_t line_offset;        /* int member receiving the element's line, or NO_LINE */
    const struct field *fields; /* ends with a zeroed entry */
};

#define MEMBER_SIZE(T, m) sizeof(((T *)0)->m)
#define F_STRING(T, k, m, fl, def) \
    { .key = k, .kind = K_STRING, .flags = (fl), .offset = offsetof(T, m), .def_str = def }
#define F_INT(T, k, m, lo, hi, def) \
    { .key = k, .kind = K_INT, .offset = offsetof(T, m), .width = MEMBER_SIZE(T, m), \
      .min = (lo), .max = (hi), .def_int = (def) }
#define F_BOOL(T, k, m, def) \
    { .key = k, .kind = K_BOOL, .offset = offsetof(T, m), .width = MEMBER_SIZE(T, m), \
      .def_int = (def) }
#define F_ENUM(T, k, m, fl, nm, def) \
    { .key = k, .kind = K_ENUM, .flags = (fl), .offset = offsetof(T, m), \
      .width = MEMBER_SIZE(T, m), .names = nm, .def_int = (def) }
#define F_STRLIST(T, k, m, n) \
    { .key = k, .kind = K_STRLIST, .offset = offsetof(T, m), .aux = offsetof(T, n) }
#define F_STRMAP(T, k, m, n) \
    { .key = k, .kind = K_STRMAP, .offset = offsetof(T, m), .aux = offsetof(T, n) }
#define F_GROUP(k, sc) { .key = k, .kind = K_GROUP, .sub = &(sc) }
#define F_OBJLIST(T, k, m, n, fl, sc) \
    { .key = k, .kind = K_OBJLIST, .flags = (fl), .offset = offsetof(T, m), \
      .aux = offsetof(T, n), .sub = &(sc) }
#define F_HOSTPORT(T, k, host, port, def) \
    { .key = k, .kind = K_HOSTPORT, .offset = offsetof(T, host), .aux = offsetof(T, port), \
      .def_str = def }
#define F_TABLENAME(T, k, schema_m, name_m, fl) \
    { .key = k, .kind = K_TABLENAME, .flags = (fl), .offset = offsetof(T, schema_m), \
      .aux = offsetof(T, name_m) }
#define FIELDS_FIT(a) _Static_assert(sizeof(a) / sizeof((a)[0]) <= MAX_FIELDS + 1, #a)

_Static_assert(sizeof(enum config_source_type) == sizeof(int), "enums are stored as int");

static const struct enum_name source_types[] = {
    {"postgres", CONFIG_SOURCE_POSTGRES}, {"mariadb", CONFIG_SOURCE_MARIADB}, {NULL, 0}};
static const struct enum_name fulfilments[] = {
    {"ship", CONFIG_SHIP}, {"pickup", CONFIG_PICKUP}, {NULL, 0}};
static const struct enum_name log_levels[] = {
    {"debug", LOG_DEBUG}, {"info", LOG_INFO}, {"warning", LOG_WARNING}, {"error", LOG_ERROR},
    {NULL, 0}};

static const struct field table_fields[] = {
    F_TABLENAME(struct config_table, "table", schema, name, REQUIRED),
    F_STRING(struct config_table, "sku", sku_column, 0, NULL),
    F_STRING(struct config_table, "item", item_column, 0, NULL),
    F_STRING(struct config_table, "crosswalk", crosswalk, 0, NULL),
    F_STRING(struct config_table, "defines_crosswalk", defines_crosswalk, 0, NULL),
    F_STRING(struct config_table, "code", code_column, 0, NULL),
    F_STRING(struct config_table, "time", time_column, 0, NULL),
    F_STRING(struct config_table, "location", location_column, 0, NULL),
    F_STRING(struct config_table, "location_code", location_code, 0, NULL),
    F_STRING(struct config_table, "on_hand", quantity_column[CONFIG_ON_HAND], 0, NULL),
    F_STRING(struct config_table, "committed", quantity_column[CONFIG_COMMITTED], 0, NULL),
    F_STRING(struct config_table, "unavailable", quantity_column[CONFIG_UNAVAILABLE], 0, NULL),
    {0}};
FIELDS_FIT(table_fields);
static const struct schema table_schema = {"table", sizeof(struct config_table),
                                           offsetof(struct config_table, line), table_fields};

static const struct field source_fields[] = {
    F_STRING(struct config_source, "name", name, REQUIRED, NULL),
    F_ENUM(struct config_source, "type", type, REQUIRED, source_types, 0),
    F_STRING(struct config_source, "dsn", dsn, REQUIRED, NULL),
    F_STRING(struct config_source, "password_file", password_file, 0, NULL),
    F_STRING(struct config_source, "slot", slot, 0, NULL),               /* default: checks */
    F_STRING(struct config_source, "publication", publication, 0, NULL), /* default: checks */
    F_STRING(struct config_source, "timezone", timezone, 0, "UTC"),
    F_STRING(struct config_source, "timestamp_format", timestamp_format, 0, NULL),
    F_INT(struct config_source, "heartbeat_ms", heartbeat_ms, 100, 3600000, 10000),
    F_INT(struct config_source, "snapshot_parallel", snapshot_parallel, 1, 16, 2),
    F_INT(struct config_source, "snapshot_chunk_rows", snapshot_chunk_rows, 10, 1000000, 5000),
    F_OBJLIST(struct config_source, "tables", tables, ntables, REQUIRED | NONEMPTY,
              table_schema),
    {0}};
FIELDS_FIT(source_fields);
static const struct schema source_schema = {"source", sizeof(struct config_source),
                                            offsetof(struct config_source, line), source_fields};

static const struct field location_fields[] = {
    F_STRING(struct config_location, "code", code, REQUIRED, NULL),
    F_STRING(struct config_location, "type", type, REQUIRED, NULL),
    F_STRLIST(struct config_location, "tags", tags, ntags),
    F_INT(struct config_location, "safety_stock", safety_stock, 0, 1000000000, 0),
    F_STRLIST(struct config_location, "contacts", contacts, ncontacts),
    {0}};
FIELDS_FIT(location_fields);
static const struct schema location_schema = {
    "location", sizeof(struct config_location), offsetof(struct config_location, line),
    location_fields};

static const struct field channel_fields[] = {
    F_STRING(struct config_channel, "name", name, REQUIRED, NULL),
    F_STRING(struct config_channel, "url", url, REQUIRED, NULL),
    F_STRING(struct config_channel, "secret", secret, SECRET, NULL),
    F_STRING(struct config_channel, "secret_file", secret_file, 0, NULL),
    F_STRLIST(struct config_channel, "location_types", location_types, nlocation_types),
    F_STRLIST(struct config_channel, "location_tags", location_tags, nlocation_tags),
    F_STRLIST(struct config_channel, "locations", location_codes, nlocation_codes),
    F_INT(struct config_channel, "buffer", buffer, 0, 1000000000, 0),
    F_ENUM(struct config_channel, "fulfilment", fulfilment, 0, fulfilments, CONFIG_SHIP),
    F_INT(struct config_channel, "batch_max", batch_max, 1, 10000, 100),
    F_INT(struct config_channel, "batch_wait_ms", batch_wait_ms, 0, 60000, 0),
    F_INT(struct config_channel, "timeout_ms", timeout_ms, 1, 600000, 5000),
    F_INT(struct config_channel, "down_alert_s", down_alert_s, 1, 86400, 60),
    {0}};
FIELDS_FIT(channel_fields);
static const struct schema channel_schema = {
    "channel", sizeof(struct config_channel), offsetof(struct config_channel, line),
    channel_fields};

static const struct field authority_fields[] = {
    F_STRING(struct config_authority, "location_type", location_type, REQUIRED, NULL),
    F_STRING(struct config_authority, "source", source, REQUIRED, NULL),
    F_STRLIST(struct config_authority, "quantities", quantities, nquantities),
    {0}};
FIELDS_FIT(authority_fields);
static const struct schema authority_schema = {
    "authority rule", sizeof(struct config_authority), offsetof(struct config_authority, line),
    authority_fields};

static const struct field item_class_fields[] = {
    F_STRING(struct config_item_class, "name", name, REQUIRED, NULL),
    F_STRLIST(struct config_item_class, "skus", skus, nskus),
    F_INT(struct config_item_class, "safety_stock", safety_stock, 0, 1000000000, -1),
    F_INT(struct config_item_class, "tolerance", tolerance, 0, 1000000000, -1),
    F_INT(struct config_item_class, "tolerance_percent", tolerance_percent, 0, 100, -1),
    {0}};
FIELDS_FIT(item_class_fields);
static const struct schema item_class_schema = {
    "item class", sizeof(struct config_item_class), offsetof(struct config_item_class, line),
    item_class_fields};

static const struct field skus_fields[] = {
    F_STRING(struct config, "pattern", skus.pattern, 0, NULL), {0}};
FIELDS_FIT(skus_fields);
static const struct schema skus_schema = {"SKU settings", 0, NO_LINE, skus_fields};

static const struct field rules_fields[] = {
    F_INT(struct config, "mismatch_grace_s", rules.mismatch_grace_s, 0, 86400, 60),
    F_INT(struct config, "tolerance", rules.tolerance, 0, 1000000000, 0),
    F_INT(struct config, "tolerance_percent", rules.tolerance_percent, 0, 100, 0),
    F_INT(struct config, "stale_source_s", rules.stale_source_s, 10, 604800, 300),
    F_INT(struct config, "unknown_item_after_s", rules.unknown_item_after_s, 0, 604800, 300),
    F_STRLIST(struct config, "contacts", rules.contacts, rules.ncontacts),
    {0}};
FIELDS_FIT(rules_fields);
static const struct schema rules_schema = {"rule settings", 0, NO_LINE, rules_fields};

static const struct field log_fields[] = {
    F_ENUM(struct config, "level", log_level, 0, log_levels, LOG_INFO), {0}};
FIELDS_FIT(log_fields);
static const struct schema log_schema = {"log settings", 0, NO_LINE, log_fields};

static const struct field backbone_fields[] = {
    F_STRING(struct config, "brokers", backbone.brokers, 0, "embedded"),
    F_STRING(struct config, "topic_prefix", backbone.topic_prefix, 0, "stockmesh"),
    F_INT(struct config, "partitions", backbone.partitions, 1, 1024, 4),
    F_INT(struct config, "window", backbone.window, 1, 10000000, 20000),
    F_STRMAP(struct config, "properties", backbone.properties, backbone.nproperties),
    {0}};
FIELDS_FIT(backbone_fields);
static const struct schema backbone_schema = {"backbone settings", 0, NO_LINE,
                                              backbone_fields};

static const struct field redis_fields[] = {
    F_STRING(struct config, "host", redis.host, 0, "127.0.0.1"),
    F_INT(struct config, "port", redis.port, 1, 65535, 6379),
    F_STRING(struct config, "password_file", redis.password_file, 0, NULL),
    F_INT(struct config, "pipeline", redis.pipeline, 1, 100000, 1000),
    F_INT(struct config, "persist_delay_ms", redis.persist_delay_ms, 0, 60000, 3000),
    {0}};
FIELDS_FIT(redis_fields);
static const struct schema redis_schema = {"redis settings", 0, NO_LINE, redis_fields};

static const struct field console_fields[] = {
    F_HOSTPORT(struct config, "listen", console.listen_host, console.listen_port,
               "127.0.0.1:8080"),
    {0}};
FIELDS_FIT(console_fields);
static const struct schema console_schema = {"console settings", 0, NO_LINE, console_fields};

static const struct field config_fields[] = {
    F_STRING(struct config, "state_dir", state_dir, 0, "/var/lib/stockmesh"),
    F_GROUP("log", log_schema),
    F_GROUP("backbone", backbone_schema),
    F_GROUP("redis", redis_schema),
    F_GROUP("console", console_schema),
    F_OBJLIST(struct config, "sources", sources, nsources, REQUIRED | NONEMPTY, source_schema),
    F_OBJLIST(struct config, "locations", locations, nlocations, REQUIRED | NONEMPTY,
              location_schema),
    F_OBJLIST(struct config, "channels", channels, nchannels, 0, channel_schema),
    F_OBJLIST(struct config, "authority", authority, nauthority, 0, authority_schema),
    F_OBJLIST(struct config, "item_classes", item_classes, nitem_classes, 0, item_class_schema),
    F_GROUP("skus", skus_schema),
    F_GROUP("rules", rules_schema),
    {0}};
FIELDS_FIT(config_fields);
static const struct schema config_schema = {"configuration", sizeof(struct config), NO_LINE,
                                            config_fields};

/* ------------------------------------------------------------------------ loader */

struct problem {
    int line;                  /* 0: about the file as a whole */
    size_t seq;                /* discovery order, to keep sorting stable */
    char *text;                /* "key.path: problem" */
};

struct line_note {
    const void *addr;          /* a member of the config that was read from the YAML */
    int line;
};

struct loader {
    const char *name;
    const unsigned char *text;
    size_t len;
    yaml_document_t doc;
    struct problem problems[PROBLEMS_KEPT];
    size_t nproblems;
    size_t nomitted;
    struct line_note *notes;   /* sorted by address once the walk is over */
    size_t nnotes, capnotes;
    int notes_sorted;
    int oom;
};

struct path {
    char buf[256];
    size_t len;
};

static int loader_full(const struct loader *ld) { return ld->nproblems >= PROBLEMS_KEPT; }

static void report(struct loader *ld, int line, const struct path *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Records "path: problem" at a line; line 0 means the file as a whole. */
static void report(struct loader *ld, int line, const struct path *path, const char *fmt, ...)
{
    if (loader_full(ld)) {
        ld->nomitted++;
        return;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *text;
    int n;
    if (path && path->len)
        n = asprintf(&text, "%s: %s", path->buf, msg);
    else
        n = asprintf(&text, "%s", msg);
    if (n < 0) {
        ld->oom = 1;
        return;
    }
    ld->problems[ld->nproblems] = (struct problem){line, ld->nproblems, text};
    ld->nproblems++;
}

static void *oom_check(struct loader *ld, void *p)
{
    if (!p) ld->oom = 1;
    return p;
}

static char *dup_string(struct loader *ld, const char *s)
{
    return oom_check(ld, strdup(s));
}

/* Remembers the line a stored value came from, for the checks after the walk. */
static void note_line(struct loader *ld, const void *addr, int line)
{
    if (ld->nnotes == ld->capnotes) {
        size_t cap = ld->capnotes ? ld->capnotes * 2 : 256;
        struct line_note *notes = realloc(ld->notes, cap * sizeof *notes);
        if (!oom_check(ld, notes)) return;
        ld->notes = notes;
        ld->capnotes = cap;
    }
    ld->notes[ld->nnotes++] = (struct line_note){addr, line};
}

static int note_cmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const struct line_note *)a)->addr;
    uintptr_t y = (uintptr_t)((const struct line_note *)b)->addr;
    return x < y ? -1 : x > y;
}

/* Called once the walk is over: the checks look lines up by address. */
static void sort_notes(struct loader *ld)
{
    if (ld->nnotes) qsort(ld->notes, ld->nnotes, sizeof *ld->notes, note_cmp);
    ld->notes_sorted = 1;
}

static int line_of(const struct loader *ld, const void *addr, int fallback)
{
    if (ld->notes_sorted) {
        struct line_note key = {addr, 0};
        const struct line_note *hit =
            ld->nnotes ? bsearch(&key, ld->notes, ld->nnotes, sizeof key, note_cmp) : NULL;
        return hit ? hit->line : fallback;
    }
    for (size_t i = ld->nnotes; i-- > 0;)
        if (ld->notes[i].addr == addr) return ld->notes[i].line;
    return fallback;
}

/* Quotes a user's value for a message: bounded, on one line, not cut inside a UTF-8
 * sequence. out holds at least EXCERPT_BUF bytes. */
static void excerpt(char *out, size_t outlen, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int continuation = (c & 0xC0) == 0x80;
        if ((i >= EXCERPT_MAX && !continuation) || o + 2 + 4 > outlen) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c == '"' || c == '\\') out[o++] = '\\';
        out[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    out[o] = '\0';
}

static size_t path_push_key(struct path *p, const char *key, size_t keylen)
{
    size_t old = p->len;
    char shown[EXCERPT_BUF];
    excerpt(shown, sizeof shown, key, keylen);
    int n = snprintf(p->buf + p->len, sizeof p->buf - p->len, "%s%s", p->len ? "." : "", shown);
    if (n > 0) p->len = p->len + (size_t)n < sizeof p->buf ? p->len + (size_t)n : sizeof p->buf - 1;
    return old;
}

static size_t path_push_index(struct path *p, size_t index)
{
    size_t old = p->len;
    int n = snprintf(p->buf + p->len, sizeof p->buf - p->len, "[%zu]", index);
    if (n > 0) p->len = p->len + (size_t)n < sizeof p->buf ? p->len + (size_t)n : sizeof p->buf - 1;
    return old;
}

static void path_pop(struct path *p, size_t old)
{
    p->len = old;
    p->buf[old] = '\0';
}

/* --------------------------------------------------------------------- nodes */

static yaml_node_t *node_at(struct loader *ld, int index)
{
    return yaml_document_get_node(&ld->doc, index);
}

static int node_line(const yaml_node_t *n)
{
    size_t line = n->start_mark.line + 1;
    return line > INT_MAX ? INT_MAX : (int)line;
}

static const char *scalar_text(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static int is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *s = scalar_text(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

/* What the user wrote instead, for "expected X, got Y". */
static const char *describe(const yaml_node_t *n, char *buf, size_t len)
{
    if (is_null(n)) return "nothing";
    if (n->type == YAML_SEQUENCE_NODE) return "a list";
    if (n->type == YAML_MAPPING_NODE) return "a mapping";
    char shown[EXCERPT_BUF];
    excerpt(shown, sizeof shown, scalar_text(n), n->data.scalar.length);
    snprintf(buf, len, "\"%s\"", shown);
    return buf;
}

static void report_expected(struct loader *ld, const yaml_node_t *n, const struct path *p,
                            const char *expected)
{
    char buf[QUOTED_BUF];
    report(ld, node_line(n), p, "expected %s, got %s", expected, describe(n, buf, sizeof buf));
}

/* A scalar usable as text: not null, no NUL byte. NULL after reporting otherwise. */
static const char *scalar_or_report(struct loader *ld, const yaml_node_t *n,
                                    const struct path *p, const char *expected)
{
    if (n->type != YAML_SCALAR_NODE || is_null(n)) {
        report_expected(ld, n, p, expected);
        return NULL;
    }
    if (memchr(n->data.scalar.value, '\0', n->data.scalar.length)) {
        report(ld, node_line(n), p, "must not contain a NUL character");
        return NULL;
    }
    return scalar_text(n);
}

static const char *string_or_report(struct loader *ld, const yaml_node_t *n,
                                    const struct path *p)
{
    const char *s = scalar_or_report(ld, n, p, "a string");
    if (s && !*s) {
        report(ld, node_line(n), p, "must not be empty");
        return NULL;
    }
    return s;
}

/* 0 and the value; -1 not a decimal integer; -2 beyond long long. */
static int parse_integer(const char *s, long long *out)
{
    const char *digits = (*s == '+' || *s == '-') ? s + 1 : s;
    if (!*digits) return -1;
    for (const char *c = digits; *c; c++)
        if (*c < '0' || *c > '9') return -1;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno == ERANGE) return -2;
    *out = v;
    return 0;
}

static void store_int(void *dst, size_t width, long long v)
{
    if (width == sizeof(int)) {
        int i = (int)v;
        memcpy(dst, &i, sizeof i);
    } else {
        memcpy(dst, &v, sizeof v);
    }
}

/* "a, b or c" */
static void enum_choices(const struct enum_name *names, char *buf, size_t len)
{
    size_t n = 0, o = 0;
    while (names[n].name) n++;
    buf[0] = '\0';
    for (size_t i = 0; i < n && o < len; i++) {
        const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
        int w = snprintf(buf + o, len - o, "%s%s", sep, names[i].name);
        if (w < 0) break;
        o += (size_t)w;
    }
}

/* "host:port" or "[v6]:port"; 0 with a new host string, -1 when malformed. */
static int parse_hostport(const char *s, char **host, int *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s) return -1;
    const char *h = s;
    size_t hlen = (size_t)(colon - s);
    if (*s == '[') {
        if (hlen < 3 || s[hlen - 1] != ']') return -1;
        h++;
        hlen -= 2;
    }
    if (memchr(h, ':', hlen) && *s != '[') return -1;
    if (memchr(h, '[', hlen) || memchr(h, ']', hlen) || memchr(h, ' ', hlen)) return -1;
    long long p;
    if (colon[1] == '+' || colon[1] == '-' || parse_integer(colon + 1, &p) != 0 || p < 1 ||
        p > 65535)
        return -1;
    *host = strndup(h, hlen);
    if (!*host) return -2;
    *port = (int)p;
    return 0;
}

/* --------------------------------------------------------------------- walk */

static void walk_mapping(struct loader *ld, yaml_node_t *map, const struct schema *sc,
                         char *base, struct path *p);

static void store_string(struct loader *ld, const yaml_node_t *v, const struct path *p,
                         char **dst)
{
    const char *s = string_or_report(ld, v, p);
    if (!s) return;
    *dst = dup_string(ld, s);
    note_line(ld, dst, node_line(v));
}

static void walk_strlist(struct loader *ld, yaml_node_t *v, const struct field *f, char *base,
                         struct path *p)
{
    if (v->type != YAML_SEQUENCE_NODE) {
        report_expected(ld, v, p, "a list");
        return;
    }
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    char **items = n ? oom_check(ld, calloc(n, sizeof *items)) : NULL;
    if (n && !items) return;
    memcpy(base + f->offset, &items, sizeof items);
    memcpy(base + f->aux, &n, sizeof n);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = node_at(ld, v->data.sequence.items.start[i]);
        if (!item) continue;
        size_t old = path_push_index(p, i);
        store_string(ld, item, p, &items[i]);
        path_pop(p, old);
    }
}

static int property_cmp(const void *a, const void *b)
{
    const struct config_property *x = *(struct config_property *const *)a;
    const struct config_property *y = *(struct config_property *const *)b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x < y ? -1 : x > y);
}

static void walk_strmap(struct loader *ld, yaml_node_t *v, const struct field *f, char *base,
                        struct path *p)
{
    if (v->type != YAML_MAPPING_NODE) {
        report_expected(ld, v, p, "a mapping");
        return;
    }
    size_t n = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
    struct config_property *props = n ? oom_check(ld, calloc(n, sizeof *props)) : NULL;
    if (n && !props) return;
    memcpy(base + f->offset, &props, sizeof props);
    memcpy(base + f->aux, &n, sizeof n);
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *pair = &v->data.mapping.pairs.start[i];
        yaml_node_t *k = node_at(ld, pair->key), *val = node_at(ld, pair->value);
        if (!k || !val) continue;
        const char *key = scalar_or_report(ld, k, p, "a key");
        if (!key || !*key) {
            if (key) report(ld, node_line(k), p, "keys must not be empty");
            continue;
        }
        size_t old = path_push_key(p, key, k->data.scalar.length);
        const char *text = scalar_or_report(ld, val, p, "a string, number or boolean");
        if (text) {
            props[i].key = dup_string(ld, key);
            props[i].value = dup_string(ld, text);
            note_line(ld, &props[i], node_line(k));
        }
        path_pop(p, old);
    }
    /* duplicates by sorting, so that a hostile mapping of many keys stays cheap */
    struct config_property **sorted = oom_check(ld, malloc(n * sizeof *sorted));
    if (!sorted) return;
    size_t nsorted = 0;
    for (size_t i = 0; i < n; i++)
        if (props[i].key) sorted[nsorted++] = &props[i];
    n = nsorted;
    if (n) qsort(sorted, n, sizeof *sorted, property_cmp);
    size_t first = 0;
    for (size_t i = 1; i < n; i++) {
        if (strcmp(sorted[i]->key, sorted[first]->key)) {
            first = i;
        } else if (loader_full(ld)) {
            ld->nomitted++;
        } else {
            size_t old = path_push_key(p, sorted[i]->key, strlen(sorted[i]->key));
            report(ld, line_of(ld, sorted[i], 0), p, "duplicate key (first at line %d)",
                   line_of(ld, sorted[first], 0));
            path_pop(p, old);
        }
    }
    free(sorted);
}

static void walk_objlist(struct loader *ld, yaml_node_t *v, const struct field *f, char *base,
                         struct path *p)
{
    const struct schema *sc = f->sub;
    if (v->type != YAML_SEQUENCE_NODE) {
        report_expected(ld, v, p, "a list");
        return;
    }
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n == 0 && (f->flags & NONEMPTY)) {
        report(ld, node_line(v), p, "must list at least one %s", sc->what);
        return;
    }
    char *elems = n ? oom_check(ld, calloc(n, sc->size)) : NULL;
    if (n && !elems) return;
    memcpy(base + f->offset, &elems, sizeof elems);
    memcpy(base + f->aux, &n, sizeof n);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = node_at(ld, v->data.sequence.items.start[i]);
        if (!item) continue;
        char *elem = elems + i * sc->size;
        size_t old = path_push_index(p, i);
        if (sc->line_offset != NO_LINE) {
            int line = node_line(item);
            memcpy(elem + sc->line_offset, &line, sizeof line);
        }
        if (item->type == YAML_MAPPING_NODE)
            walk_mapping(ld, item, sc, elem, p);
        else
            report_expected(ld, item, p, "a mapping");
        path_pop(p, old);
    }
}

/* Reads one value into the member(s) its field describes. */
static void walk_value(struct loader *ld, yaml_node_t *v, const struct field *f, char *base,
                       struct path *p)
{
    char choices[128];
    const char *s;
    long long num;
    switch (f->kind) {
    case K_STRING:
        store_string(ld, v, p, (char **)(base + f->offset));
        break;
    case K_INT: {
        if (!(s = scalar_or_report(ld, v, p, "an integer"))) break;
        int rc = parse_integer(s, &num);
        if (rc == -1)
            report_expected(ld, v, p, "an integer");
        else if (rc == -2 || num < f->min || num > f->max)
            report(ld, node_line(v), p, "must be between %lld and %lld", f->min, f->max);
        else
            store_int(base + f->offset, f->width, num);
        break;
    }
    case K_BOOL:
        if (!(s = scalar_or_report(ld, v, p, "true or false"))) break;
        if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on"))
            store_int(base + f->offset, f->width, 1);
        else if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcasecmp(s, "off"))
            store_int(base + f->offset, f->width, 0);
        else
            report_expected(ld, v, p, "true or false");
        break;
    case K_ENUM: {
        enum_choices(f->names, choices, sizeof choices);
        if (!(s = scalar_or_report(ld, v, p, choices))) break;
        const struct enum_name *e = f->names;
        while (e->name && strcmp(s, e->name)) e++;
        if (e->name)
            store_int(base + f->offset, f->width, e->value);
        else
            report_expected(ld, v, p, choices);
        break;
    }
    case K_HOSTPORT: {
        const char *hint = "host:port (for example 127.0.0.1:8080)";
        if (!(s = scalar_or_report(ld, v, p, hint))) break;
        char *host = NULL;
        int port = 0;
        int rc = parse_hostport(s, &host, &port);
        if (rc == -2) ld->oom = 1;
        if (rc == -1) report_expected(ld, v, p, hint);
        if (rc) break;
        memcpy(base + f->offset, &host, sizeof host);
        memcpy(base + f->aux, &port, sizeof port);
        note_line(ld, base + f->offset, node_line(v));
        break;
    }
    case K_TABLENAME: {
        const char *hint = "\"name\" or \"schema.name\"";
        if (!(s = string_or_report(ld, v, p))) break;
        const char *dot = strchr(s, '.');
        if (dot == s || (dot && (!dot[1] || strchr(dot + 1, '.')))) {
            report_expected(ld, v, p, hint);
            break;
        }
        char *schema = oom_check(ld, dot ? strndup(s, (size_t)(dot - s)) : strdup("public"));
        char *name = dup_string(ld, dot ? dot + 1 : s);
        memcpy(base + f->offset, &schema, sizeof schema);
        memcpy(base + f->aux, &name, sizeof name);
        note_line(ld, base + f->aux, node_line(v));
        break;
    }
    case K_STRLIST:
        walk_strlist(ld, v, f, base, p);
        break;
    case K_STRMAP:
        walk_strmap(ld, v, f, base, p);
        break;
    case K_GROUP:
        if (v->type == YAML_MAPPING_NODE)
            walk_mapping(ld, v, f->sub, base, p);
        else
            report_expected(ld, v, p, "a mapping");
        break;
    case K_OBJLIST:
        walk_objlist(ld, v, f, base, p);
        break;
    }
}

static const char *expected_name(const struct field *f, char *buf, size_t len)
{
    switch (f->kind) {
    case K_INT: return "an integer";
    case K_BOOL: return "true or false";
    case K_ENUM: enum_choices(f->names, buf, len); return buf;
    case K_STRLIST:
    case K_OBJLIST: return "a list";
    case K_STRMAP:
    case K_GROUP: return "a mapping";
    default: return "a string";
    }
}

/* Fills a field the YAML left out. */
static void apply_default(struct loader *ld, const struct field *f, char *base)
{
    switch (f->kind) {
    case K_STRING:
        if (f->def_str) {
            char *s = dup_string(ld, f->def_str);
            memcpy(base + f->offset, &s, sizeof s);
        }
        break;
    case K_INT:
    case K_BOOL:
    case K_ENUM:
        store_int(base + f->offset, f->width, f->def_int);
        break;
    case K_HOSTPORT: {
        char *host = NULL;
        int port = 0;
        if (f->def_str && parse_hostport(f->def_str, &host, &port) == 0) {
            memcpy(base + f->offset, &host, sizeof host);
            memcpy(base + f->aux, &port, sizeof port);
        } else if (f->def_str) {
            ld->oom = 1;
        }
        break;
    }
    case K_GROUP:
        for (const struct field *g = f->sub->fields; g->key; g++) apply_default(ld, g, base);
        break;
    default:
        break;
    }
}

/* Optimal string alignment distance, so that a swapped pair of letters costs one. */
static size_t edit_distance(const char *a, size_t na, const char *b, size_t nb)
{
    size_t d[SUGGEST_MAX_KEY + 1][SUGGEST_MAX_KEY + 1];
    for (size_t i = 0; i <= na; i++) d[i][0] = i;
    for (size_t j = 0; j <= nb; j++) d[0][j] = j;
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < best) best = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[na][nb];
}

static const struct field *closest_key(const struct schema *sc, const char *key, size_t keylen)
{
    if (keylen > SUGGEST_MAX_KEY) return NULL;
    const struct field *best = NULL;
    size_t best_distance = 3;
    for (const struct field *f = sc->fields; f->key; f++) {
        size_t flen = strlen(f->key);
        if (flen > SUGGEST_MAX_KEY) continue;
        size_t d = edit_distance(key, keylen, f->key, flen);
        if (d < best_distance && d < keylen) {
            best = f;
            best_distance = d;
        }
    }
    return best;
}

static void walk_mapping(struct loader *ld, yaml_node_t *map, const struct schema *sc,
                         char *base, struct path *p)
{
    int first_line[MAX_FIELDS] = {0}; /* line where a known key appeared; 0 = absent */
    int given[MAX_FIELDS] = {0};      /* a non-null value was there */
    int misspelt[MAX_FIELDS] = {0};   /* an unknown key was reported as its misspelling */
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start;
         pair < map->data.mapping.pairs.top; pair++) {
        yaml_node_t *k = node_at(ld, pair->key), *v = node_at(ld, pair->value);
        if (!k || !v) continue;
        if (k->type != YAML_SCALAR_NODE || is_null(k)) {
            char buf[QUOTED_BUF];
            report(ld, node_line(k), p, "keys must be plain words, got %s",
                   describe(k, buf, sizeof buf));
            continue;
        }
        const char *key = scalar_text(k);
        size_t keylen = k->data.scalar.length;
        size_t old = path_push_key(p, key, keylen);
        const struct field *f = NULL;
        if (strlen(key) == keylen)
            for (const struct field *c = sc->fields; c->key && !f; c++)
                if (!strcmp(c->key, key)) f = c;
        if (!f) {
            const struct field *hint = loader_full(ld) ? NULL : closest_key(sc, key, keylen);
            if (hint) {
                misspelt[hint - sc->fields] = 1;
                report(ld, node_line(k), p, "unknown key (did you mean \"%s\"?)", hint->key);
            } else
                report(ld, node_line(k), p, "unknown key");
        } else {
            size_t i = (size_t)(f - sc->fields);
            if (first_line[i]) {
                report(ld, node_line(k), p, "duplicate key (first at line %d)", first_line[i]);
            } else {
                first_line[i] = node_line(k);
                if (!is_null(v)) {
                    given[i] = 1;
                    walk_value(ld, v, f, base, p);
                } else if (f->flags & REQUIRED) {
                    char buf[128];
                    given[i] = 1; /* reported here, not again as missing */
                    report_expected(ld, v, p, expected_name(f, buf, sizeof buf));
                }
            }
        }
        path_pop(p, old);
    }
    for (const struct field *f = sc->fields; f->key; f++) {
        size_t i = (size_t)(f - sc->fields);
        if (given[i]) continue;
        if ((f->flags & REQUIRED) && !misspelt[i])
            report(ld, node_line(map), p, "missing required key \"%s\"", f->key);
        else
            apply_default(ld, f, base);
    }
}

/* ------------------------------------------------------------------- free */

static void free_fields(const struct field *fields, char *base)
{
    for (const struct field *f = fields; f->key; f++) {
        char *s, **list, *elems;
        struct config_property *props;
        size_t n;
        switch (f->kind) {
        case K_STRING:
        case K_HOSTPORT:
            memcpy(&s, base + f->offset, sizeof s);
            if (s && (f->flags & SECRET)) explicit_bzero(s, strlen(s));
            free(s);
            break;
        case K_TABLENAME:
            memcpy(&s, base + f->offset, sizeof s);
            free(s);
            memcpy(&s, base + f->aux, sizeof s);
            free(s);
            break;
        case K_STRLIST:
            memcpy(&list, base + f->offset, sizeof list);
            memcpy(&n, base + f->aux, sizeof n);
            for (size_t i = 0; list && i < n; i++) free(list[i]);
            free(list);
            break;
        case K_STRMAP:
            memcpy(&props, base + f->offset, sizeof props);
            memcpy(&n, base + f->aux, sizeof n);
            for (size_t i = 0; props && i < n; i++) {
                free(props[i].key);
                free(props[i].value);
            }
            free(props);
            break;
        case K_GROUP:
            free_fields(f->sub->fields, base);
            break;
        case K_OBJLIST:
            memcpy(&elems, base + f->offset, sizeof elems);
            memcpy(&n, base + f->aux, sizeof n);
            for (size_t i = 0; elems && i < n; i++)
                free_fields(f->sub->fields, elems + i * f->sub->size);
            free(elems);
            break;
        default:
            break;
        }
    }
}

void config_free(struct config *cfg)
{
    if (!cfg) return;
    free_fields(config_fields, (char *)cfg);
    free(cfg->path);
    free(cfg);
}

/* ---------------------------------------------------------------- YAML layer */

static void position_of(const struct loader *ld, size_t offset, size_t *line, size_t *column)
{
    *line = 1;
    *column = 1;
    for (size_t i = 0; i < offset && i < ld->len; i++) {
        if (ld->text[i] == '\n') {
            (*line)++;
            *column = 1;
        } else {
            (*column)++;
        }
    }
}

static void report_yaml_error(struct loader *ld, const yaml_parser_t *parser)
{
    if (parser->error == YAML_MEMORY_ERROR) {
        ld->oom = 1;
        return;
    }
    size_t line, column;
    if (parser->error == YAML_READER_ERROR) {
        position_of(ld, parser->problem_offset, &line, &column);
    } else {
        line = parser->problem_mark.line + 1;
        column = parser->problem_mark.column + 1;
    }
    report(ld, line > INT_MAX ? INT_MAX : (int)line, NULL, "YAML syntax: %s (column %zu)",
           parser->problem ? parser->problem : "malformed document", column);
}

/* The event pass: refuses aliases, deep nesting, node floods and extra documents
 * before the loader builds anything. 0 when the text may be loaded. */
static int yaml_prescan(struct loader *ld)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        ld->oom = 1;
        return -1;
    }
    yaml_parser_set_input_string(&parser, ld->text, ld->len);
    size_t depth = 0, nodes = 0, documents = 0;
    int rc = 0;
    while (rc == 0) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            report_yaml_error(ld, &parser);
            rc = -1;
            break;
        }
        int line = (int)(ev.start_mark.line + 1 > INT_MAX ? INT_MAX : ev.start_mark.line + 1);
        char shown[EXCERPT_BUF];
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            rc = 1;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++documents > 1) {
                report(ld, line, NULL,
                       "YAML: only one document is allowed, a second one starts here");
                rc = -1;
            }
            break;
        case YAML_ALIAS_EVENT:
            excerpt(shown, sizeof shown, (const char *)ev.data.alias.anchor,
                    strlen((const char *)ev.data.alias.anchor));
            report(ld, line, NULL,
                   "YAML aliases are not supported (*%s): write the value out in full", shown);
            rc = -1;
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
        case YAML_SCALAR_EVENT:
            if (ev.type != YAML_SCALAR_EVENT && ++depth > CONFIG_MAX_DEPTH) {
                report(ld, line, NULL, "YAML: nested more than %d levels deep",
                       CONFIG_MAX_DEPTH);
                rc = -1;
            } else if (++nodes > CONFIG_MAX_NODES) {
                report(ld, line, NULL, "YAML: more than %d values", CONFIG_MAX_NODES);
                rc = -1;
            }
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return rc < 0 ? -1 : 0;
}

static int yaml_load(struct loader *ld)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        ld->oom = 1;
        return -1;
    }
    yaml_parser_set_input_string(&parser, ld->text, ld->len);
    int ok = yaml_parser_load(&parser, &ld->doc);
    if (!ok) report_yaml_error(ld, &parser);
    yaml_parser_delete(&parser);
    return ok ? 0 : -1;
}

/* ---------------------------------------------------------------- checks */

/* "list[i]", the path of one element, for messages of the checks. */
static void item_path(struct path *p, const struct path *list, size_t i)
{
    *p = *list;
    path_push_index(p, i);
}

static void report_key(struct loader *ld, int line, const struct path *item, const char *key,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* report() at "item.key" (or at item when key is NULL). */
static void report_key(struct loader *ld, int line, const struct path *item, const char *key,
                       const char *fmt, ...)
{
    if (loader_full(ld)) {
        ld->nomitted++;
        return;
    }
    struct path p = *item;
    if (key) path_push_key(&p, key, strlen(key));
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    report(ld, line, &p, "%s", msg);
}

static const char *shown(const char *s, char *buf, size_t len)
{
    excerpt(buf, len, s, strlen(s));
    return buf;
}

struct name_ref {
    const char *a, *b;         /* b: second part of a two-part name, or NULL */
    size_t index;
    int line;
};

static int name_ref_cmp(const void *x, const void *y)
{
    const struct name_ref *r = x, *s = y;
    int c = strcmp(r->a, s->a);
    if (!c && r->b && s->b) c = strcmp(r->b, s->b);
    if (c) return c;
    return r->index < s->index ? -1 : r->index > s->index;
}

static int same_name(const struct name_ref *r, const struct name_ref *s)
{
    return !strcmp(r->a, s->a) && (!r->b || !s->b || !strcmp(r->b, s->b));
}

/* Sorts refs and reports each entry repeating an earlier one, at "list[i].key". */
static void check_unique(struct loader *ld, struct name_ref *refs, size_t n,
                         const struct path *list, const char *key, const char *what)
{
    if (n < 2) return;
    qsort(refs, n, sizeof *refs, name_ref_cmp);
    size_t first = 0;
    for (size_t i = 1; i < n; i++) {
        if (!same_name(&refs[first], &refs[i])) {
            first = i;
            continue;
        }
        struct path item;
        item_path(&item, list, refs[i].index);
        char a[EXCERPT_BUF], b[EXCERPT_BUF] = "";
        if (refs[i].b) shown(refs[i].b, b, sizeof b);
        report_key(ld, refs[i].line, &item, key, "duplicate %s \"%s%s%s\" (first at line %d)",
                   what, shown(refs[i].a, a, sizeof a), refs[i].b ? "." : "", b,
                   refs[first].line);
    }
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A sorted, duplicate-free array of borrowed strings, for membership tests. */
struct name_set {
    const char **names;
    size_t n;
};

static void set_add(struct name_set *s, const char *name) { s->names[s->n++] = name; }

static void set_seal(struct name_set *s)
{
    if (!s->n) return;
    qsort(s->names, s->n, sizeof *s->names, str_cmp);
    size_t o = 1;
    for (size_t i = 1; i < s->n; i++)
        if (strcmp(s->names[i], s->names[o - 1])) s->names[o++] = s->names[i];
    s->n = o;
}

static int set_has(const struct name_set *s, const char *name)
{
    return s->n && bsearch(&name, s->names, s->n, sizeof *s->names, str_cmp) != NULL;
}

static int set_has_any(const struct name_set *s, char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (set_has(s, names[i])) return 1;
    return 0;
}

static int only_chars(const char *s, const char *extra)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || strchr(extra, *s)))
            return 0;
    return 1;
}

/* The password belongs in password_file: a DSN gets logged and shown. */
static int dsn_has_password(const char *dsn)
{
    for (const char *s = dsn; *s; s++)
        if (!strncasecmp(s, "password", 8)) {
            const char *t = s + 8;
            while (*t == ' ') t++;
            if (*t == '=') return 1;
        }
    const char *scheme = strstr(dsn, "://");
    if (scheme) {
        const char *auth = scheme + 3;
        size_t hostpart = strcspn(auth, "/?#");
        const char *at = memchr(auth, '@', hostpart);
        if (at && memchr(auth, ':', (size_t)(at - auth))) return 1;
    }
    return 0;
}

/* The crosswalk names the tables of every source define, for references. */
static void crosswalk_names(const struct config *cfg, struct name_set *set)
{
    for (size_t i = 0; i < cfg->nsources; i++)
        for (size_t j = 0; j < cfg->sources[i].ntables; j++)
            if (cfg->sources[i].tables[j].defines_crosswalk)
                set_add(set, cfg->sources[i].tables[j].defines_crosswalk);
}

/* Two tables defining one crosswalk would share its Redis hash: a delete in one would
 * forget a code the other still defines. */
static void check_crosswalks_unique(struct loader *ld, const struct config *cfg)
{
    for (size_t i = 0; i < cfg->nsources; i++)
        for (size_t j = 0; j < cfg->sources[i].ntables; j++) {
            const struct config_table *t = &cfg->sources[i].tables[j];
            if (!t->defines_crosswalk) continue;
            const struct config_source *first_src = NULL;
            const struct config_table *first = config_crosswalk(cfg, t->defines_crosswalk,
                                                                &first_src);
            if (first == t) continue;
            struct path p = {.len = 0};
            path_push_key(&p, "sources", 7);
            path_push_index(&p, i);
            path_push_key(&p, "tables", 6);
            path_push_index(&p, j);
            char buf[EXCERPT_BUF];
            report_key(ld, line_of(ld, &t->defines_crosswalk, t->line), &p, "defines_crosswalk",
                       "crosswalk \"%s\" is already defined by %s.%s (line %d)",
                       shown(t->defines_crosswalk, buf, sizeof buf), first->schema, first->name,
                       first->line);
        }
}

static void check_crosswalk_table(struct loader *ld, struct config_table *t, const struct path *tp)
{
    if (!t->code_column)
        report_key(ld, t->line, tp, NULL,
                   "defines a crosswalk: set code (the column holding the item code)");
    if (!t->sku_column)
        report_key(ld, t->line, tp, NULL,
                   "defines a crosswalk: set sku (the column holding the canonical SKU)");
    if (t->item_column || t->crosswalk || t->location_column || t->location_code ||
        t->time_column || t->quantity_column[0] || t->quantity_column[1] ||
        t->quantity_column[2])
        report_key(ld, t->line, tp, NULL,
                   "a crosswalk table maps only code and sku: remove item, crosswalk, "
                   "location, location_code, time and the quantities");
    if (!only_chars(t->defines_crosswalk, "_-")) {
        char buf[EXCERPT_BUF];
        report_key(ld, line_of(ld, &t->defines_crosswalk, t->line), tp, "defines_crosswalk",
                   "must contain only a-z, 0-9, _ and -, got \"%s\"",
                   shown(t->defines_crosswalk, buf, sizeof buf));
    }
}

static void check_tables(struct loader *ld, struct config_source *src, const struct path *sp,
                         const struct name_set *codes, const struct name_set *crosswalks)
{
    struct name_ref *refs = oom_check(ld, calloc(src->ntables + 1, sizeof *refs));
    if (!refs) return;
    struct path list = *sp;
    path_push_key(&list, "tables", 6);
    char buf[EXCERPT_BUF];
    for (size_t i = 0; i < src->ntables; i++) {
        struct config_table *t = &src->tables[i];
        struct path tp;
        item_path(&tp, &list, i);
        refs[i] = (struct name_ref){t->schema, t->name, i, line_of(ld, &t->name, t->line)};
        if (t->defines_crosswalk) {
            check_crosswalk_table(ld, t, &tp);
            continue;
        }
        if (t->code_column)
            report_key(ld, line_of(ld, &t->code_column, t->line), &tp, "code",
                       "belongs to a crosswalk table (with defines_crosswalk)");
        if (t->sku_column && (t->item_column || t->crosswalk))
            report_key(ld, t->line, &tp, NULL,
                       "set either sku (a column holding the canonical SKU) or item and "
                       "crosswalk (an item code translated to the SKU), not both");
        else if (!t->sku_column && !t->item_column && !t->crosswalk)
            report_key(ld, t->line, &tp, NULL,
                       "needs sku (the column holding the canonical SKU), or item and "
                       "crosswalk");
        else if (!t->sku_column && (!t->item_column || !t->crosswalk))
            report_key(ld, t->line, &tp, NULL,
                       "item and crosswalk go together: the item code column and the "
                       "crosswalk that translates it");
        else if (t->crosswalk && !set_has(crosswalks, t->crosswalk))
            report_key(ld, line_of(ld, &t->crosswalk, t->line), &tp, "crosswalk",
                       "no table defines crosswalk \"%s\" (defines_crosswalk: %s)",
                       shown(t->crosswalk, buf, sizeof buf), shown(t->crosswalk, buf, sizeof buf));
        if (t->location_column && t->location_code)
            report_key(ld, t->line, &tp, NULL,
                       "set either location (a column) or location_code (one fixed "
                       "location), not both");
        else if (!t->location_column && !t->location_code)
            report_key(ld, t->line, &tp, NULL,
                       "needs location (the column holding the location code) or "
                       "location_code (one fixed location)");
        if (t->location_code && !set_has(codes, t->location_code))
            report_key(ld, line_of(ld, &t->location_code, t->line), &tp, "location_code",
                       "no location has code \"%s\"", shown(t->location_code, buf, sizeof buf));
        int quantities = 0;
        for (int k = 0; k < CONFIG_QUANTITY_KINDS; k++) quantities += !!t->quantity_column[k];
        if (!quantities)
            report_key(ld, t->line, &tp, NULL,
                       "maps no quantity: set at least one of on_hand, committed, unavailable");
    }
    check_unique(ld, refs, src->ntables, &list, "table", "table");
    free(refs);
}

/* The slot and publication default to "stockmesh_<name>". 0, or -1 out of memory. */
static int default_names(struct loader *ld, struct config_source *src)
{
    if (!src->slot && asprintf(&src->slot, "stockmesh_%s", src->name) < 0) src->slot = NULL;
    if (!src->publication && asprintf(&src->publication, "stockmesh_%s", src->name) < 0)
        src->publication = NULL;
    if (src->slot && src->publication) return 0;
    ld->oom = 1;
    return -1;
}

static void check_sources(struct loader *ld, struct config *cfg, const struct name_set *codes,
                          const struct name_set *crosswalks)
{
    struct name_ref *refs = oom_check(ld, calloc(cfg->nsources + 1, sizeof *refs));
    if (!refs) return;
    struct path list = {.len = 0};
    path_push_key(&list, "sources", 7);
    char buf[EXCERPT_BUF];
    for (size_t i = 0; i < cfg->nsources; i++) {
        struct config_source *src = &cfg->sources[i];
        struct path sp;
        item_path(&sp, &list, i);
        int name_line = line_of(ld, &src->name, src->line);
        refs[i] = (struct name_ref){src->name, NULL, i, name_line};
        if (!only_chars(src->name, "_"))
            report_key(ld, name_line, &sp, "name", "must contain only a-z, 0-9 and _, got \"%s\"",
                       shown(src->name, buf, sizeof buf));
        if (dsn_has_password(src->dsn))
            report_key(ld, line_of(ld, &src->dsn, src->line), &sp, "dsn",
                       "must not contain the password: put it in password_file");
        if (default_names(ld, src) != 0) break;
        /* a default slot derived from a bad name needs no second message */
        int slot_given = line_of(ld, &src->slot, 0) != 0;
        if (src->type == CONFIG_SOURCE_POSTGRES && (slot_given || only_chars(src->name, "_"))) {
            if (strlen(src->slot) > 63 || !only_chars(src->slot, "_"))
                report_key(ld, line_of(ld, &src->slot, name_line), &sp, "slot",
                           "\"%s\" is not a PostgreSQL replication slot name (1 to 63 of "
                           "a-z, 0-9 and _)",
                           shown(src->slot, buf, sizeof buf));
            if (strlen(src->publication) > 63)
                report_key(ld, line_of(ld, &src->publication, name_line), &sp, "publication",
                           "must be at most 63 bytes long");
        }
        char why[256];
        if (timeconv_zone_check(src->timezone, why, sizeof why) != 0)
            report_key(ld, line_of(ld, &src->timezone, src->line), &sp, "timezone", "%s", why);
        /* the named formats timeconv_new() knows, or a strptime(3) format */
        const char *tf = src->timestamp_format;
        if (tf && strcmp(tf, "iso8601") && strcmp(tf, "epoch_s") && strcmp(tf, "epoch_ms") &&
            !strchr(tf, '%'))
            report_key(ld, line_of(ld, &src->timestamp_format, src->line), &sp,
                       "timestamp_format",
                       "expected iso8601, epoch_s, epoch_ms or a strptime format (with %% "
                       "conversions such as \"%%d.%%m.%%Y %%H:%%M:%%S\"), got \"%s\"",
                       shown(tf, buf, sizeof buf));
        check_tables(ld, src, &sp, codes, crosswalks);
    }
    check_unique(ld, refs, cfg->nsources, &list, "name", "source name");
    free(refs);
}

/* Reads the first line of the channel's secret file, trimmed, into ch->secret.
 * The secret never goes into a message; the path does. */
static void read_secret(struct loader *ld, struct config_channel *ch, const struct path *cp)
{
    char buf[EXCERPT_BUF];
    int line = line_of(ld, &ch->secret_file, ch->line);
    const char *path = ch->secret_file;
    /* O_NONBLOCK: a FIFO or a device named here must not hang the loader */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        report_key(ld, line, cp, "secret_file", "cannot read \"%s\": %s",
                   shown(path, buf, sizeof buf), strerror(errno));
        if (fd >= 0) close(fd);
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        report_key(ld, line, cp, "secret_file", "\"%s\" is not a regular file",
                   shown(path, buf, sizeof buf));
        close(fd);
        return;
    }
    char data[SECRET_MAX + 1];
    size_t n = 0;
    int read_errno = 0;
    while (n < sizeof data) {
        ssize_t r = read(fd, data + n, sizeof data - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) read_errno = errno;
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(fd);
    size_t end = 0;
    while (end < n && data[end] != '\n' && data[end] != '\r') end++;
    size_t start = 0;
    while (start < end && (data[start] == ' ' || data[start] == '\t')) start++;
    while (end > start && (data[end - 1] == ' ' || data[end - 1] == '\t')) end--;
    const char *problem = NULL;
    if (read_errno)
        problem = strerror(read_errno);
    else if (end - start > SECRET_MAX)
        problem = "its first line is longer than 4096 bytes";
    else if (end == start)
        problem = "its first line is empty";
    else if (memchr(data + start, '\0', end - start))
        problem = "its first line contains a NUL byte";
    if (problem)
        report_key(ld, line, cp, "secret_file", "cannot use \"%s\": %s",
                   shown(path, buf, sizeof buf), problem);
    else
        ch->secret = oom_check(ld, strndup(data + start, end - start));
    explicit_bzero(data, sizeof data);
}

static void check_channels(struct loader *ld, struct config *cfg, const struct name_set *codes,
                           const struct name_set *types, const struct name_set *tags)
{
    struct name_ref *refs = oom_check(ld, calloc(cfg->nchannels + 1, sizeof *refs));
    if (!refs) return;
    struct path list = {.len = 0};
    path_push_key(&list, "channels", 8);
    char buf[EXCERPT_BUF];
    for (size_t i = 0; i < cfg->nchannels; i++) {
        struct config_channel *ch = &cfg->channels[i];
        struct path cp;
        item_path(&cp, &list, i);
        int name_line = line_of(ld, &ch->name, ch->line);
        refs[i] = (struct name_ref){ch->name, NULL, i, name_line};
        if (!only_chars(ch->name, "_-"))
            report_key(ld, name_line, &cp, "name",
                       "must contain only a-z, 0-9, _ and -, got \"%s\"",
                       shown(ch->name, buf, sizeof buf));
        /* the URL is not quoted back: it may carry credentials */
        const char *url = ch->url;
        size_t scheme = !strncmp(url, "http://", 7) ? 7 : !strncmp(url, "https://", 8) ? 8 : 0;
        if (!scheme || !url[scheme])
            report_key(ld, line_of(ld, &ch->url, ch->line), &cp, "url",
                       "must start with http:// or https:// and name a host");
        if (ch->secret && ch->secret_file)
            report_key(ld, ch->line, &cp, NULL, "set either secret or secret_file, not both");
        else if (!ch->secret && !ch->secret_file)
            report_key(ld, ch->line, &cp, NULL,
                       "needs a signing secret: set secret_file (or secret)");
        else if (ch->secret_file)
            read_secret(ld, ch, &cp);
        for (size_t k = 0; k < ch->nlocation_codes; k++) {
            if (set_has(codes, ch->location_codes[k])) continue;
            struct path lp = cp;
            path_push_key(&lp, "locations", 9);
            path_push_index(&lp, k);
            report_key(ld, line_of(ld, &ch->location_codes[k], ch->line), &lp, NULL,
                       "no location has code \"%s\"",
                       shown(ch->location_codes[k], buf, sizeof buf));
        }
        if (!ch->nlocation_codes && !ch->nlocation_types && !ch->nlocation_tags)
            report_key(ld, ch->line, &cp, NULL,
                       "selects no locations: set location_types, location_tags or locations");
        else if (!set_has_any(codes, ch->location_codes, ch->nlocation_codes) &&
                 !set_has_any(types, ch->location_types, ch->nlocation_types) &&
                 !set_has_any(tags, ch->location_tags, ch->nlocation_tags))
            report_key(ld, ch->line, &cp, NULL,
                       "selects no configured location: no location has one of its "
                       "location_types, location_tags or locations");
    }
    check_unique(ld, refs, cfg->nchannels, &list, "name", "channel name");
    free(refs);
}

static unsigned kinds_mapped(const struct config *cfg)
{
    unsigned kinds = 0;
    for (size_t i = 0; i < cfg->nsources; i++)
        for (size_t j = 0; j < cfg->sources[i].ntables; j++)
            for (int k = 0; k < CONFIG_QUANTITY_KINDS; k++)
                if (cfg->sources[i].tables[j].quantity_column[k]) kinds |= 1u << k;
    return kinds;
}

static void check_authority(struct loader *ld, struct config *cfg, const struct name_set *types,
                            const struct name_set *sources)
{
    struct path list = {.len = 0};
    path_push_key(&list, "authority", 9);
    char buf[EXCERPT_BUF], buf2[EXCERPT_BUF];
    for (size_t i = 0; i < cfg->nauthority; i++) {
        struct config_authority *a = &cfg->authority[i];
        struct path ap;
        item_path(&ap, &list, i);
        int type_line = line_of(ld, &a->location_type, a->line);
        if (!set_has(types, a->location_type))
            report_key(ld, type_line, &ap, "location_type", "no location has type \"%s\"",
                       shown(a->location_type, buf, sizeof buf));
        if (!set_has(sources, a->source))
            report_key(ld, line_of(ld, &a->source, a->line), &ap, "source",
                       "no source is named \"%s\"", shown(a->source, buf, sizeof buf));
        a->kinds = a->nquantities ? 0 : (1u << CONFIG_QUANTITY_KINDS) - 1;
        for (size_t q = 0; q < a->nquantities; q++) {
            int k = 0;
            while (k < CONFIG_QUANTITY_KINDS && strcmp(a->quantities[q], config_quantity_name(k)))
                k++;
            if (k == CONFIG_QUANTITY_KINDS) {
                struct path qp = ap;
                path_push_key(&qp, "quantities", 10);
                path_push_index(&qp, q);
                report_key(ld, line_of(ld, &a->quantities[q], a->line), &qp, NULL,
                           "expected on_hand, committed or unavailable, got \"%s\"",
                           shown(a->quantities[q], buf, sizeof buf));
            } else {
                a->kinds |= 1u << k;
            }
        }
        for (size_t j = 0; j < i; j++) {
            const struct config_authority *e = &cfg->authority[j];
            if (strcmp(e->location_type, a->location_type) || !(e->kinds & a->kinds)) continue;
            report_key(ld, type_line, &ap, NULL,
                       "a second source for the same quantity of type \"%s\" (rule at line "
                       "%d names %s): each quantity has one authoritative source",
                       shown(a->location_type, buf, sizeof buf), e->line,
                       shown(e->source, buf2, sizeof buf2));
            break;
        }
    }
    /* With several sources, figures for one location may come from more than one of
       them, and their positions cannot be compared: someone must be authoritative. */
    if (cfg->nsources < 2) return;
    unsigned mapped = kinds_mapped(cfg);
    for (size_t i = 0; i < cfg->nlocations; i++) {
        const struct config_location *loc = &cfg->locations[i];
        int first_of_type = 1;
        for (size_t j = 0; j < i && first_of_type; j++)
            if (!strcmp(cfg->locations[j].type, loc->type)) first_of_type = 0;
        if (!first_of_type) continue;
        for (int k = 0; k < CONFIG_QUANTITY_KINDS; k++) {
            if (!(mapped & (1u << k)) || config_authority_for(cfg, loc->type, k)) continue;
            struct path lp = {.len = 0};
            path_push_key(&lp, "locations", 9);
            struct path ip;
            item_path(&ip, &lp, i);
            report_key(ld, line_of(ld, &loc->type, loc->line), &ip, "type",
                       "no authority rule names %s at type \"%s\", and %zu sources are "
                       "configured: add one under authority (location_type: %s, source: …)",
                       config_quantity_name(k), shown(loc->type, buf, sizeof buf),
                       cfg->nsources, shown(loc->type, buf2, sizeof buf2));
            break;
        }
    }
}

static void check_item_classes(struct loader *ld, struct config *cfg)
{
    struct name_ref *refs = oom_check(ld, calloc(cfg->nitem_classes + 1, sizeof *refs));
    if (!refs) return;
    struct path list = {.len = 0};
    path_push_key(&list, "item_classes", 12);
    for (size_t i = 0; i < cfg->nitem_classes; i++) {
        struct config_item_class *c = &cfg->item_classes[i];
        struct path cp;
        item_path(&cp, &list, i);
        refs[i] = (struct name_ref){c->name, NULL, i, line_of(ld, &c->name, c->line)};
        if (!c->nskus)
            report_key(ld, c->line, &cp, "skus",
                       "selects no SKU: list glob patterns such as \"SKU-01*\"");
    }
    check_unique(ld, refs, cfg->nitem_classes, &list, "name", "item class");
    free(refs);
}

/* The checks that span several keys; the walk has filled every required field. */
static void check_config(struct loader *ld, struct config *cfg)
{
    size_t ntags = 0;
    for (size_t i = 0; i < cfg->nlocations; i++) ntags += cfg->locations[i].ntags;
    struct name_set codes = {calloc(cfg->nlocations + 1, sizeof(char *)), 0};
    struct name_set types = {calloc(cfg->nlocations + 1, sizeof(char *)), 0};
    struct name_set tags = {calloc(ntags + 1, sizeof(char *)), 0};
    struct name_set sources = {calloc(cfg->nsources + 1, sizeof(char *)), 0};
    size_t ntables = 0;
    for (size_t i = 0; i < cfg->nsources; i++) ntables += cfg->sources[i].ntables;
    struct name_set crosswalks = {calloc(ntables + 1, sizeof(char *)), 0};
    struct name_ref *refs = calloc(cfg->nlocations + 1, sizeof *refs);
    if (!codes.names || !types.names || !tags.names || !sources.names || !crosswalks.names ||
        !refs) {
        ld->oom = 1;
        goto out;
    }
    for (size_t i = 0; i < cfg->nlocations; i++) {
        struct config_location *loc = &cfg->locations[i];
        refs[i] = (struct name_ref){loc->code, NULL, i, line_of(ld, &loc->code, loc->line)};
        set_add(&codes, loc->code);
        set_add(&types, loc->type);
        for (size_t t = 0; t < loc->ntags; t++) set_add(&tags, loc->tags[t]);
    }
    for (size_t i = 0; i < cfg->nsources; i++) set_add(&sources, cfg->sources[i].name);
    set_seal(&codes);
    set_seal(&types);
    set_seal(&tags);
    set_seal(&sources);
    crosswalk_names(cfg, &crosswalks);
    size_t ndefined = crosswalks.n;
    set_seal(&crosswalks);
    if (crosswalks.n != ndefined) check_crosswalks_unique(ld, cfg);

    struct path list = {.len = 0};
    path_push_key(&list, "locations", 9);
    /* "<location>|<source>" names a source's figures in Redis and "<rule>|<sku>|<location>"
       an alert: a '|' in a code would split into another location */
    for (size_t i = 0; i < cfg->nlocations; i++) {
        if (!strchr(cfg->locations[i].code, '|')) continue;
        struct path ip;
        item_path(&ip, &list, i);
        char buf[EXCERPT_BUF];
        report_key(ld, refs[i].line, &ip, "code", "must not contain '|', got \"%s\"",
                   shown(cfg->locations[i].code, buf, sizeof buf));
    }
    check_unique(ld, refs, cfg->nlocations, &list, "code", "location code");
    check_sources(ld, cfg, &codes, &crosswalks);
    check_channels(ld, cfg, &codes, &types, &tags);
    check_authority(ld, cfg, &types, &sources);
    check_item_classes(ld, cfg);
out:
    free(crosswalks.names);
    free(codes.names);
    free(types.names);
    free(tags.names);
    free(sources.names);
    free(refs);
}

/* ---------------------------------------------------------------- entry points */

static int problem_cmp(const void *a, const void *b)
{
    const struct problem *x = a, *y = b;
    if (x->line != y->line) return x->line < y->line ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Writes every kept problem, one "file:line: path: problem" per line, by line; a line
 * that does not fit whole is left out (the first is truncated instead). */
static void write_problems(struct loader *ld, char *err, size_t errlen)
{
    if (!err || !errlen) return;
    err[0] = '\0';
    if (ld->oom) {
        snprintf(err, errlen, "%s: out of memory while loading the configuration", ld->name);
        return;
    }
    qsort(ld->problems, ld->nproblems, sizeof *ld->problems, problem_cmp);
    size_t o = 0, left_out = ld->nomitted;
    for (size_t i = 0; i < ld->nproblems; i++) {
        char line[16] = "";
        if (ld->problems[i].line > 0) snprintf(line, sizeof line, ":%d", ld->problems[i].line);
        int n = snprintf(err + o, errlen - o, "%s%s%s: %s", i ? "\n" : "", ld->name, line,
                         ld->problems[i].text);
        if (n < 0 || o + (size_t)n >= errlen) {
            if (i == 0) return;
            err[o] = '\0';
            left_out += ld->nproblems - i;
            break;
        }
        o += (size_t)n;
    }
    if (left_out) {
        int n = snprintf(err + o, errlen - o, "\n%s: %zu more problems not shown", ld->name,
                         left_out);
        if (n < 0 || o + (size_t)n >= errlen) err[o] = '\0';
    }
}

static void loader_release(struct loader *ld)
{
    for (size_t i = 0; i < ld->nproblems; i++) free(ld->problems[i].text);
    free(ld->notes);
}

struct config *config_load_string(const char *yaml, size_t len, const char *name, char *err,
                                  size_t errlen)
{
    /* libyaml asserts on a NULL input string */
    struct loader ld = {.name = name ? name : "<config>",
                        .text = (const unsigned char *)(yaml ? yaml : ""),
                        .len = yaml ? len : 0};
    struct config *cfg = NULL;
    int have_doc = 0;
    if (err && errlen) err[0] = '\0';

    if (ld.len > CONFIG_MAX_BYTES) {
        report(&ld, 0, NULL, "larger than %u MiB; this is not a configuration file",
               CONFIG_MAX_BYTES >> 20);
        goto fail;
    }
    if (yaml_prescan(&ld) != 0 || yaml_load(&ld) != 0) goto fail;
    have_doc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&ld.doc);
    if (!root || is_null(root)) {
        report(&ld, 1, NULL,
               "the configuration is empty: it needs at least \"sources\" and \"locations\"");
        goto fail;
    }
    if (root->type != YAML_MAPPING_NODE) {
        char buf[QUOTED_BUF];
        report(&ld, node_line(root), NULL,
               "expected a mapping of settings (key: value) at the top level, got %s",
               describe(root, buf, sizeof buf));
        goto fail;
    }
    cfg = oom_check(&ld, calloc(1, sizeof *cfg));
    if (!cfg) goto fail;
    cfg->path = dup_string(&ld, ld.name);
    struct path path = {.len = 0};
    walk_mapping(&ld, root, &config_schema, (char *)cfg, &path);
    if (ld.nproblems || ld.nomitted || ld.oom) goto fail;
    sort_notes(&ld);
    check_config(&ld, cfg);
    if (ld.nproblems || ld.nomitted || ld.oom) goto fail;

    yaml_document_delete(&ld.doc);
    loader_release(&ld);
    return cfg;

fail:
    if (!ld.nproblems && !ld.oom) report(&ld, 0, NULL, "invalid configuration");
    write_problems(&ld, err, errlen);
    if (have_doc) yaml_document_delete(&ld.doc);
    loader_release(&ld);
    config_free(cfg);
    return NULL;
}

struct config *config_load(const char *path, char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (err && errlen) snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 64 * 1024, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap || cap > CONFIG_MAX_BYTES) break;
        char *bigger = realloc(buf, cap * 2);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    int failed = ferror(f);
    int saved = errno;
    fclose(f);
    if (!buf || failed) {
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot read: %s", path,
                     buf ? strerror(saved) : "out of memory");
        free(buf);
        return NULL;
    }
    /* n > CONFIG_MAX_BYTES when too large: config_load_string says so */
    struct config *cfg = config_load_string(buf, n, path, err, errlen);
    free(buf);
    return cfg;
}

/* ---------------------------------------------------------------- lookups */

const struct config_source *config_source(const struct config *cfg, const char *name)
{
    for (size_t i = 0; cfg && name && i < cfg->nsources; i++)
        if (!strcmp(cfg->sources[i].name, name)) return &cfg->sources[i];
    return NULL;
}

const struct config_location *config_location(const struct config *cfg, const char *code)
{
    for (size_t i = 0; cfg && code && i < cfg->nlocations; i++)
        if (!strcmp(cfg->locations[i].code, code)) return &cfg->locations[i];
    return NULL;
}

const struct config_channel *config_channel(const struct config *cfg, const char *name)
{
    for (size_t i = 0; cfg && name && i < cfg->nchannels; i++)
        if (!strcmp(cfg->channels[i].name, name)) return &cfg->channels[i];
    return NULL;
}

static int list_has(char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i], s)) return 1;
    return 0;
}

int config_channel_has_location(const struct config_channel *ch,
                                const struct config_location *loc)
{
    if (!ch || !loc) return 0;
    if (list_has(ch->location_codes, ch->nlocation_codes, loc->code)) return 1;
    if (list_has(ch->location_types, ch->nlocation_types, loc->type)) return 1;
    for (size_t i = 0; i < loc->ntags; i++)
        if (list_has(ch->location_tags, ch->nlocation_tags, loc->tags[i])) return 1;
    return 0;
}

const char *config_authority_for(const struct config *cfg, const char *location_type,
                                 enum config_quantity kind)
{
    for (size_t i = 0; cfg && location_type && i < cfg->nauthority; i++)
        if (!strcmp(cfg->authority[i].location_type, location_type) &&
            (cfg->authority[i].kinds & (1u << kind)))
            return cfg->authority[i].source;
    return NULL;
}

const struct config_item_class *config_item_class_for(const struct config *cfg,
                                                      const char *sku)
{
    for (size_t i = 0; cfg && sku && i < cfg->nitem_classes; i++)
        for (size_t j = 0; j < cfg->item_classes[i].nskus; j++)
            if (fnmatch(cfg->item_classes[i].skus[j], sku, 0) == 0) return &cfg->item_classes[i];
    return NULL;
}

long long config_safety_stock(const struct config_item_class *cls,
                              const struct config_location *loc)
{
    return cls && cls->safety_stock >= 0 ? cls->safety_stock : loc->safety_stock;
}

void config_tolerance(const struct config *cfg, const struct config_item_class *cls,
                      long long *absolute, int *percent)
{
    *absolute = cls && cls->tolerance >= 0 ? cls->tolerance : cfg->rules.tolerance;
    *percent = cls && cls->tolerance_percent >= 0 ? cls->tolerance_percent
                                                  : cfg->rules.tolerance_percent;
}

int config_sku_valid(const struct config *cfg, const char *sku)
{
    return !cfg->skus.pattern || fnmatch(cfg->skus.pattern, sku, 0) == 0;
}

const struct config_table *config_crosswalk(const struct config *cfg, const char *name,
                                            const struct config_source **src)
{
    for (size_t i = 0; cfg && name && i < cfg->nsources; i++)
        for (size_t j = 0; j < cfg->sources[i].ntables; j++) {
            const struct config_table *t = &cfg->sources[i].tables[j];
            if (t->defines_crosswalk && !strcmp(t->defines_crosswalk, name)) {
                if (src) *src = &cfg->sources[i];
                return t;
            }
        }
    return NULL;
}

size_t config_table_columns(const struct config_table *t,
                            const char *out[CONFIG_TABLE_COLUMNS_MAX])
{
    size_t n = 0;
    const char *fixed[] = {t->sku_column, t->item_column, t->code_column, t->location_column,
                           t->time_column};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (fixed[i]) out[n++] = fixed[i];
    for (int k = 0; k < CONFIG_QUANTITY_KINDS; k++)
        if (t->quantity_column[k]) out[n++] = t->quantity_column[k];
    return n;
}

const char *config_quantity_name(enum config_quantity kind)
{
    switch (kind) {
    case CONFIG_ON_HAND: return "on_hand";
    case CONFIG_COMMITTED: return "committed";
    case CONFIG_UNAVAILABLE: return "unavailable";
    }
    return "unknown";
}
