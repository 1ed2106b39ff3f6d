/* schema.c — the shape of a captured table and the verdict on a change of it. */
#include "schema.h"
#include "sqlvalue.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Type OIDs from pg_type.dat; hand-assigned, stable across major versions. */
enum {
    OID_BOOL = 16,
    OID_INT8 = 20,
    OID_INT2 = 21,
    OID_INT4 = 23,
    OID_TEXT = 25,
    OID_JSON = 114,
    OID_FLOAT4 = 700,
    OID_FLOAT8 = 701,
    OID_BPCHAR = 1042,
    OID_VARCHAR = 1043,
    OID_DATE = 1082,
    OID_TIMESTAMP = 1114,
    OID_TIMESTAMPTZ = 1184,
    OID_NUMERIC = 1700,
    OID_UUID = 2950,
    OID_JSONB = 3802,
};

#define PG_VARHDRSZ 4
#define PG_MAX_VARCHAR 10485760     /* MaxAttrSize: varchar(n) and char(n) refuse more */
#define NUMERIC_MAX_PRECISION 1000
#define NUMERIC_MIN_SCALE (-1000)
#define NUMERIC_MAX_SCALE 1000
#define TIMESTAMP_MAX_PRECISION 6

static const char *const FAMILY_NAMES[] = {
    [SCHEMA_INT] = "int",
    [SCHEMA_NUMERIC] = "numeric",
    [SCHEMA_FLOAT] = "float",
    [SCHEMA_TEXT] = "text",
    [SCHEMA_BOOL] = "bool",
    [SCHEMA_DATE] = "date",
    [SCHEMA_TIMESTAMP] = "timestamp",
    [SCHEMA_TIMESTAMPTZ] = "timestamptz",
    [SCHEMA_UUID] = "uuid",
    [SCHEMA_JSON] = "json",
    [SCHEMA_OTHER] = "other",
};
#define NFAMILIES (sizeof FAMILY_NAMES / sizeof FAMILY_NAMES[0])

static const struct {
    unsigned bit;
    const char *name;
    enum schema_type_family family;
} FLAGS[] = {
    {SCHEMA_UNSIGNED, "unsigned", SCHEMA_INT},
    {SCHEMA_PADDED, "padded", SCHEMA_TEXT},
    {SCHEMA_BINARY, "binary", SCHEMA_JSON},
};
#define NFLAGS (sizeof FLAGS / sizeof FLAGS[0])

/* Keys of a column object in the persisted form; from_json refuses any other. */
#define COLUMN_JSON_KEYS 7

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* what: "column name" or "type"; s need not be NUL-terminated within SCHEMA_NAME_MAX. */
static int check_name(const char *what, const char *s, char *err, size_t errlen)
{
    size_t len = strnlen(s, SCHEMA_NAME_MAX);
    if (len == 0) {
        set_err(err, errlen, "empty %s", what);
        return -1;
    }
    if (len >= SCHEMA_NAME_MAX) {
        set_err(err, errlen, "%s is %d bytes or longer (limit %d)", what, SCHEMA_NAME_MAX,
                SCHEMA_NAME_MAX - 1);
        return -1;
    }
    if (!sqlvalue_utf8_valid(s, len)) {
        set_err(err, errlen, "%s is not valid UTF-8", what);
        return -1;
    }
    return 0;
}

static int column_validate(const struct schema_column *c, char *err, size_t errlen)
{
    if (check_name("column name", c->name, err, errlen) < 0)
        return -1;
    char why[128];
    if (check_name("type", c->type, why, sizeof why) < 0) {
        set_err(err, errlen, "column %s: %s", c->name, why);
        return -1;
    }
    if ((unsigned)c->family >= NFAMILIES) {
        set_err(err, errlen, "column %s: unknown type family %d", c->name, (int)c->family);
        return -1;
    }
    for (size_t i = 0; i < NFLAGS; i++) {
        if ((c->flags & FLAGS[i].bit) && c->family != FLAGS[i].family) {
            set_err(err, errlen, "column %s: flag %s is only for %s columns", c->name,
                    FLAGS[i].name, FAMILY_NAMES[FLAGS[i].family]);
            return -1;
        }
    }
    if (c->flags & ~(SCHEMA_UNSIGNED | SCHEMA_PADDED | SCHEMA_BINARY)) {
        set_err(err, errlen, "column %s: unknown flags 0x%x", c->name, c->flags);
        return -1;
    }
    if (c->key != 0 && c->key != 1) {
        set_err(err, errlen, "column %s: key is %d, not 0 or 1", c->name, c->key);
        return -1;
    }
    int size_ok, scale_ok;
    switch (c->family) {
    case SCHEMA_INT:
        size_ok = c->size == 1 || c->size == 2 || c->size == 3 || c->size == 4 || c->size == 8;
        scale_ok = c->scale == 0;
        break;
    case SCHEMA_FLOAT:
        size_ok = c->size == 4 || c->size == 8;
        scale_ok = c->scale == 0;
        break;
    case SCHEMA_NUMERIC:
        if (c->size == -1) {
            size_ok = 1;
            scale_ok = c->scale == -1;
        } else {
            size_ok = c->size >= 1 && c->size <= NUMERIC_MAX_PRECISION;
            scale_ok = c->scale >= NUMERIC_MIN_SCALE && c->scale <= NUMERIC_MAX_SCALE;
        }
        break;
    case SCHEMA_TEXT:
        size_ok = c->size == -1 || c->size >= 1;
        scale_ok = c->scale == 0;
        break;
    case SCHEMA_TIMESTAMP:
    case SCHEMA_TIMESTAMPTZ:
        size_ok = c->size >= 0 && c->size <= TIMESTAMP_MAX_PRECISION;
        scale_ok = c->scale == 0;
        break;
    default:
        size_ok = c->size == 0;
        scale_ok = c->scale == 0;
        break;
    }
    if (!size_ok || !scale_ok) {
        set_err(err, errlen, "column %s: %s %d out of range for a %s column", c->name,
                size_ok ? "scale" : "size", size_ok ? c->scale : c->size,
                FAMILY_NAMES[c->family]);
        return -1;
    }
    return 0;
}

int schema_column_from_pg(struct schema_column *c, const char *name, uint32_t type_oid,
                          int32_t typmod, int key, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    if (!name) {
        set_err(err, errlen, "empty column name");
        return -1;
    }
    if (check_name("column name", name, err, errlen) < 0)
        return -1;
    memcpy(c->name, name, strlen(name) + 1);
    c->key = key ? 1 : 0;

    const char *base = NULL;
    switch (type_oid) {
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
        c->family = SCHEMA_INT;
        c->size = type_oid == OID_INT2 ? 2 : type_oid == OID_INT4 ? 4 : 8;
        snprintf(c->type, sizeof c->type, "int%d", c->size);
        return 0;
    case OID_FLOAT4:
    case OID_FLOAT8:
        c->family = SCHEMA_FLOAT;
        c->size = type_oid == OID_FLOAT4 ? 4 : 8;
        snprintf(c->type, sizeof c->type, "float%d", c->size);
        return 0;
    case OID_NUMERIC:
        c->family = SCHEMA_NUMERIC;
        if (typmod == -1) {
            c->size = c->scale = -1;
            snprintf(c->type, sizeof c->type, "numeric");
            return 0;
        }
        if (typmod >= PG_VARHDRSZ) {
            /* precision in the high 16 bits, scale as an 11-bit two's complement
             * number in the low ones (negative scales since PostgreSQL 15) */
            int32_t m = typmod - PG_VARHDRSZ;
            int precision = m >> 16;
            int scale = ((m & 0x7FF) ^ 1024) - 1024;
            if ((m & 0xF800) == 0 && precision >= 1 && precision <= NUMERIC_MAX_PRECISION) {
                c->size = precision;
                c->scale = scale;
                snprintf(c->type, sizeof c->type, "numeric(%d,%d)", precision, scale);
                return 0;
            }
        }
        set_err(err, errlen, "column %s: invalid numeric typmod %d", name, (int)typmod);
        return -1;
    case OID_TEXT:
        c->family = SCHEMA_TEXT;
        c->size = -1;
        snprintf(c->type, sizeof c->type, "text");
        return 0;
    case OID_VARCHAR:
    case OID_BPCHAR:
        c->family = SCHEMA_TEXT;
        base = type_oid == OID_VARCHAR ? "varchar" : "bpchar";
        if (type_oid == OID_BPCHAR)
            c->flags = SCHEMA_PADDED;
        if (typmod == -1) {
            c->size = -1;
            snprintf(c->type, sizeof c->type, "%s", base);
            return 0;
        }
        if (typmod > PG_VARHDRSZ && typmod - PG_VARHDRSZ <= PG_MAX_VARCHAR) {
            c->size = typmod - PG_VARHDRSZ;
            snprintf(c->type, sizeof c->type, "%s(%d)", base, c->size);
            return 0;
        }
        set_err(err, errlen, "column %s: invalid %s typmod %d", name, base, (int)typmod);
        return -1;
    case OID_TIMESTAMP:
    case OID_TIMESTAMPTZ:
        c->family = type_oid == OID_TIMESTAMP ? SCHEMA_TIMESTAMP : SCHEMA_TIMESTAMPTZ;
        base = type_oid == OID_TIMESTAMP ? "timestamp" : "timestamptz";
        if (typmod == -1) {
            c->size = TIMESTAMP_MAX_PRECISION;  /* microseconds, PostgreSQL's default */
            snprintf(c->type, sizeof c->type, "%s", base);
            return 0;
        }
        if (typmod >= 0 && typmod <= TIMESTAMP_MAX_PRECISION) {
            c->size = typmod;
            snprintf(c->type, sizeof c->type, "%s(%d)", base, c->size);
            return 0;
        }
        set_err(err, errlen, "column %s: invalid %s typmod %d", name, base, (int)typmod);
        return -1;
    case OID_BOOL:
        c->family = SCHEMA_BOOL;
        snprintf(c->type, sizeof c->type, "bool");
        return 0;
    case OID_DATE:
        c->family = SCHEMA_DATE;
        snprintf(c->type, sizeof c->type, "date");
        return 0;
    case OID_UUID:
        c->family = SCHEMA_UUID;
        snprintf(c->type, sizeof c->type, "uuid");
        return 0;
    case OID_JSON:
    case OID_JSONB:
        c->family = SCHEMA_JSON;
        c->flags = type_oid == OID_JSONB ? SCHEMA_BINARY : 0;
        snprintf(c->type, sizeof c->type, "%s", type_oid == OID_JSONB ? "jsonb" : "json");
        return 0;
    default:
        /* domains, enums, arrays, extension types: the OID is all we know here */
        c->family = SCHEMA_OTHER;
        snprintf(c->type, sizeof c->type, "oid:%lu", (unsigned long)type_oid);
        return 0;
    }
}

void schema_table_init(struct schema_table *t)
{
    t->ncolumns = 0;
    t->columns = NULL;
}

void schema_table_release(struct schema_table *t)
{
    free(t->columns);
    schema_table_init(t);
}

const struct schema_column *schema_table_find(const struct schema_table *t, const char *name)
{
    for (size_t i = 0; i < t->ncolumns; i++)
        if (strcmp(t->columns[i].name, name) == 0)
            return &t->columns[i];
    return NULL;
}

int schema_table_add(struct schema_table *t, const struct schema_column *c, char *err,
                     size_t errlen)
{
    if (column_validate(c, err, errlen) < 0)
        return -1;
    if (schema_table_find(t, c->name)) {
        set_err(err, errlen, "duplicate column name %s", c->name);
        return -1;
    }
    if (t->ncolumns >= SCHEMA_MAX_COLUMNS) {
        set_err(err, errlen, "more than %d columns", SCHEMA_MAX_COLUMNS);
        return -1;
    }
    /* capacity: 8, then the next power of two; grow when the count reaches it */
    size_t n = t->ncolumns;
    if (n == 0 || (n >= 8 && (n & (n - 1)) == 0)) {
        size_t cap = n == 0 ? 8 : n * 2;
        struct schema_column *grown = realloc(t->columns, cap * sizeof *grown);
        if (!grown) {
            set_err(err, errlen, "out of memory");
            return -1;
        }
        t->columns = grown;
    }
    t->columns[n] = *c;
    t->ncolumns = n + 1;
    return 0;
}

/* ---- comparison -------------------------------------------------------------- */

static int same_type(const struct schema_column *a, const struct schema_column *b)
{
    return a->family == b->family && a->size == b->size && a->scale == b->scale &&
           a->flags == b->flags && strcmp(a->type, b->type) == 0;
}

/* Decimal digits of the largest value an integer column holds. */
static int int_digits(const struct schema_column *c)
{
    unsigned bits = 8u * (unsigned)c->size - ((c->flags & SCHEMA_UNSIGNED) ? 0u : 1u);
    uint64_t max = bits >= 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
    int digits = 0;
    do {
        digits++;
        max /= 10;
    } while (max);
    return digits;
}

/* Whether every value of from is stored unchanged, and reads the same in the change
 * event, after the column became to. */
static int widens(const struct schema_column *from, const struct schema_column *to)
{
    /* only the source's spelling changed (varchar -> text, int(11) -> int(10)) */
    if (from->family == to->family && from->family != SCHEMA_OTHER && from->size == to->size &&
        from->scale == to->scale && from->flags == to->flags)
        return 1;

    switch (from->family) {
    case SCHEMA_INT:
        if (to->family == SCHEMA_INT) {
            int from_unsigned = (from->flags & SCHEMA_UNSIGNED) != 0;
            int to_unsigned = (to->flags & SCHEMA_UNSIGNED) != 0;
            if (from_unsigned == to_unsigned)
                return to->size >= from->size;
            return from_unsigned && to->size > from->size;
        }
        if (to->family == SCHEMA_NUMERIC)
            return to->size == -1 || (to->scale >= 0 && to->size - to->scale >= int_digits(from));
        return 0;
    case SCHEMA_NUMERIC:
        if (to->family != SCHEMA_NUMERIC)
            return 0;
        if (to->size == -1)
            return 1;
        if (from->size == -1)
            return 0;
        return to->size - to->scale >= from->size - from->scale && to->scale >= from->scale;
    case SCHEMA_FLOAT:
        return to->family == SCHEMA_FLOAT && to->size >= from->size;
    case SCHEMA_TEXT:
        if (to->family != SCHEMA_TEXT)
            return 0;
        /* blank-padded values are re-padded to any other length, and lose their trailing
         * blanks when converted to varchar or text ("A  " becomes "A", another SKU):
         * to or from padded is never a widening */
        if ((to->flags | from->flags) & SCHEMA_PADDED)
            return 0;
        if (to->size == -1)
            return 1;
        return from->size != -1 && to->size >= from->size;
    case SCHEMA_TIMESTAMP:
    case SCHEMA_TIMESTAMPTZ:
        /* timestamp <-> timestamptz changes what the values mean: different families */
        return to->family == from->family && to->size >= from->size;
    case SCHEMA_JSON:
        return to->family == SCHEMA_JSON && !(from->flags & SCHEMA_BINARY) &&
               (to->flags & SCHEMA_BINARY);
    default:
        return 0;
    }
}

static int is_mapped(const char *const *mapped, const char *name)
{
    for (; mapped && *mapped; mapped++)
        if (strcmp(*mapped, name) == 0)
            return 1;
    return 0;
}

static const char *role(int mapped, int key)
{
    return mapped && key ? "mapped key" : mapped ? "mapped" : "key";
}

/* Collects the details document; any failure to build it only loses the document. */
struct report {
    json_t *doc;
    json_t *added, *dropped, *retyped, *reasons;
    int failed;
    size_t nadded, ndropped, nretyped, nreasons;
};

static void report_append(struct report *r, json_t *array, json_t *item)
{
    if (!r->doc || r->failed) {
        json_decref(item);
        return;
    }
    if (!item || json_array_append_new(array, item) < 0)
        r->failed = 1;
}

static void report_reason(struct report *r, const char *fmt, ...)
{
    r->nreasons++;
    if (!r->doc || r->failed)
        return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    report_append(r, r->reasons, json_string(buf));
}

/* "(a, b)" of t's key columns, in t's order. NULL when out of memory; caller frees. */
static char *key_list(const struct schema_table *t)
{
    size_t len = 3;
    for (size_t i = 0; i < t->ncolumns; i++)
        if (t->columns[i].key)
            len += strnlen(t->columns[i].name, SCHEMA_NAME_MAX) + 2;
    char *s = malloc(len);
    if (!s)
        return NULL;
    size_t at = 0;
    s[at++] = '(';
    for (size_t i = 0; i < t->ncolumns; i++) {
        if (!t->columns[i].key)
            continue;
        if (at > 1) {
            s[at++] = ',';
            s[at++] = ' ';
        }
        size_t n = strnlen(t->columns[i].name, SCHEMA_NAME_MAX);
        memcpy(s + at, t->columns[i].name, n);
        at += n;
    }
    s[at++] = ')';
    s[at] = '\0';
    return s;
}

static int key_set_equal(const struct schema_table *a, const struct schema_table *b)
{
    size_t na = 0, nb = 0;
    for (size_t i = 0; i < a->ncolumns; i++) {
        if (!a->columns[i].key)
            continue;
        na++;
        const struct schema_column *other = schema_table_find(b, a->columns[i].name);
        if (!other || !other->key)
            return 0;
    }
    for (size_t i = 0; i < b->ncolumns; i++)
        nb += b->columns[i].key ? 1 : 0;
    return na == nb;
}

enum schema_change schema_compare(const struct schema_table *old, const struct schema_table *new_,
                                  const char *const *mapped, json_t **details)
{
    struct report r = {0};
    if (details) {
        r.doc = json_object();
        r.added = json_array();
        r.dropped = json_array();
        r.retyped = json_array();
        r.reasons = json_array();
        if (!r.doc || !r.added || !r.dropped || !r.retyped || !r.reasons)
            r.failed = 1;
    }

    for (size_t i = 0; i < old->ncolumns; i++) {
        const struct schema_column *o = &old->columns[i];
        if (schema_table_find(new_, o->name))
            continue;
        r.ndropped++;
        report_append(&r, r.dropped, json_pack("{s:s, s:s}", "name", o->name, "type", o->type));
        int m = is_mapped(mapped, o->name);
        if (m || o->key)
            report_reason(&r, "%s column %s dropped", role(m, o->key), o->name);
    }

    for (size_t i = 0; i < new_->ncolumns; i++) {
        const struct schema_column *n = &new_->columns[i];
        const struct schema_column *o = schema_table_find(old, n->name);
        if (!o) {
            r.nadded++;
            report_append(&r, r.added, json_pack("{s:s, s:s}", "name", n->name, "type", n->type));
            continue;
        }
        if (same_type(o, n))
            continue;
        r.nretyped++;
        int widened = widens(o, n);
        report_append(&r, r.retyped,
                      json_pack("{s:s, s:s, s:s, s:b}", "name", n->name, "from", o->type, "to",
                                n->type, "widened", widened));
        int m = is_mapped(mapped, n->name);
        if (!widened && (m || o->key))
            report_reason(&r, "%s column %s retyped from %s to %s without widening",
                          role(m, o->key), n->name, o->type, n->type);
    }

    int key_changed = !key_set_equal(old, new_);
    if (key_changed) {
        char *from = NULL, *to = NULL;
        if (r.doc && !r.failed) {
            from = key_list(old);
            to = key_list(new_);
            if (!from || !to)
                r.failed = 1;
        }
        report_reason(&r, "key columns changed from %s to %s", from ? from : "?", to ? to : "?");
        free(from);
        free(to);
    }

    enum schema_change verdict = r.nreasons ? SCHEMA_INCOMPATIBLE
                                 : (r.nadded || r.ndropped || r.nretyped) ? SCHEMA_COMPATIBLE
                                                                         : SCHEMA_SAME;
    if (details) {
        if (!r.failed &&
            json_object_set_new(r.doc, "key_changed", json_boolean(key_changed)) == 0 &&
            json_object_set_new(r.doc, "compatible",
                                json_boolean(verdict != SCHEMA_INCOMPATIBLE)) == 0 &&
            json_object_set(r.doc, "added", r.added) == 0 &&
            json_object_set(r.doc, "dropped", r.dropped) == 0 &&
            json_object_set(r.doc, "retyped", r.retyped) == 0 &&
            json_object_set(r.doc, "reasons", r.reasons) == 0) {
            *details = r.doc;
        } else {
            json_decref(r.doc);
            *details = NULL;
        }
        json_decref(r.added);
        json_decref(r.dropped);
        json_decref(r.retyped);
        json_decref(r.reasons);
    }
    return verdict;
}

/* ---- persisted form ---------------------------------------------------------- */

json_t *schema_table_to_json(const struct schema_table *t)
{
    json_t *columns = json_array();
    json_t *doc = json_pack("{s:i, s:o}", "version", SCHEMA_JSON_VERSION, "columns", columns);
    if (!doc)
        return NULL;  /* json_pack released columns */
    for (size_t i = 0; i < t->ncolumns; i++) {
        const struct schema_column *c = &t->columns[i];
        if ((unsigned)c->family >= NFAMILIES)
            goto fail;
        json_t *flags = json_array();
        if (!flags)
            goto fail;
        for (size_t f = 0; f < NFLAGS; f++) {
            if ((c->flags & FLAGS[f].bit) &&
                json_array_append_new(flags, json_string(FLAGS[f].name)) < 0) {
                json_decref(flags);
                goto fail;
            }
        }
        json_t *col = json_pack("{s:s, s:s, s:s, s:i, s:i, s:o, s:b}", "name", c->name, "type",
                                c->type, "family", FAMILY_NAMES[c->family], "size", c->size,
                                "scale", c->scale, "flags", flags, "key", c->key);
        if (!col || json_array_append_new(columns, col) < 0)
            goto fail;
    }
    return doc;
fail:
    json_decref(doc);
    return NULL;
}

/* A string member without embedded NULs copied into out[SCHEMA_NAME_MAX]. */
static int get_string(const json_t *obj, const char *key, char *out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) {
        set_err(err, errlen, "%s %s", key, v ? "is not a string" : "is missing");
        return -1;
    }
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if (memchr(s, '\0', len)) {
        set_err(err, errlen, "%s holds a NUL character", key);
        return -1;
    }
    if (len >= SCHEMA_NAME_MAX) {
        set_err(err, errlen, "%s is %zu bytes (limit %d)", key, len, SCHEMA_NAME_MAX - 1);
        return -1;
    }
    memcpy(out, s, len + 1);
    return 0;
}

static int get_int(const json_t *obj, const char *key, int *out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v)) {
        set_err(err, errlen, "%s %s", key, v ? "is not an integer" : "is missing");
        return -1;
    }
    json_int_t i = json_integer_value(v);
    if (i < INT_MIN || i > INT_MAX) {
        set_err(err, errlen, "%s is out of range", key);
        return -1;
    }
    *out = (int)i;
    return 0;
}

static int column_from_json(struct schema_column *c, const json_t *j, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    if (!json_is_object(j)) {
        set_err(err, errlen, "not an object");
        return -1;
    }
    char family[SCHEMA_NAME_MAX];
    if (get_string(j, "name", c->name, err, errlen) < 0 ||
        get_string(j, "type", c->type, err, errlen) < 0 ||
        get_string(j, "family", family, err, errlen) < 0 ||
        get_int(j, "size", &c->size, err, errlen) < 0 ||
        get_int(j, "scale", &c->scale, err, errlen) < 0)
        return -1;

    size_t f;
    for (f = 0; f < NFAMILIES; f++)
        if (strcmp(family, FAMILY_NAMES[f]) == 0)
            break;
    if (f == NFAMILIES) {
        set_err(err, errlen, "unknown family %s", family);
        return -1;
    }
    c->family = (enum schema_type_family)f;

    const json_t *flags = json_object_get(j, "flags");
    if (!json_is_array(flags)) {
        set_err(err, errlen, "flags %s", flags ? "is not an array" : "is missing");
        return -1;
    }
    size_t k;
    const json_t *flag;
    json_array_foreach(flags, k, flag) {
        const char *name = json_string_value(flag);
        size_t i;
        for (i = 0; name && i < NFLAGS; i++)
            if (strcmp(name, FLAGS[i].name) == 0 && strlen(name) == json_string_length(flag))
                break;
        if (!name || i == NFLAGS) {
            set_err(err, errlen, "flags[%zu] is not a known flag", k);
            return -1;
        }
        c->flags |= FLAGS[i].bit;
    }

    const json_t *key = json_object_get(j, "key");
    if (!json_is_boolean(key)) {
        set_err(err, errlen, "key %s", key ? "is not a boolean" : "is missing");
        return -1;
    }
    c->key = json_is_true(key);

    if (json_object_size(j) != COLUMN_JSON_KEYS) {
        set_err(err, errlen, "unknown fields");
        return -1;
    }
    return 0;
}

int schema_table_from_json(struct schema_table *t, const json_t *j, char *err, size_t errlen)
{
    schema_table_init(t);
    if (!json_is_object(j)) {
        set_err(err, errlen, "table schema is not a JSON object");
        return -1;
    }
    const json_t *version = json_object_get(j, "version");
    if (!json_is_integer(version) || json_integer_value(version) != SCHEMA_JSON_VERSION) {
        set_err(err, errlen, "table schema version is %s, expected %d",
                version ? "not supported" : "missing", SCHEMA_JSON_VERSION);
        return -1;
    }
    const json_t *columns = json_object_get(j, "columns");
    if (!json_is_array(columns)) {
        set_err(err, errlen, "table schema columns %s", columns ? "is not an array" : "is missing");
        return -1;
    }
    if (json_object_size(j) != 2) {
        set_err(err, errlen, "table schema has unknown fields");
        return -1;
    }
    if (json_array_size(columns) > SCHEMA_MAX_COLUMNS) {
        set_err(err, errlen, "table schema has more than %d columns", SCHEMA_MAX_COLUMNS);
        return -1;
    }
    size_t i;
    const json_t *col;
    json_array_foreach(columns, i, col) {
        struct schema_column c;
        char why[256] = "";
        if (column_from_json(&c, col, why, sizeof why) < 0 ||
            schema_table_add(t, &c, why, sizeof why) < 0) {
            set_err(err, errlen, "table schema columns[%zu]: %s", i, why);
            schema_table_release(t);
            return -1;
        }
    }
    return 0;
}
