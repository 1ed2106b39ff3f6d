/* binlog.c -- MariaDB row-based binlog: row values to JSON, table shape, GTID positions. */
#include "binlog.h"
#include "sqlvalue.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* TABLE_MAP limits from the server: a table has at most 4096 columns, DECIMAL at most
 * 65 digits and 38 after the point, ENUM 65535 labels, SET 64. */
#define MAX_DECIMAL_PRECISION 65
#define MAX_DECIMAL_SCALE 38
#define MAX_ENUM_LABELS 65535
#define MAX_SET_LABELS 64
#define MAX_FSP 6
#define MAX_TIME_HOURS 838
#define COLLATION_BINARY 63
#define US_PER_SECOND 1000000UL

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- reading the table map's metadata --------------------------------------------- */

struct reader {
    const unsigned char *p;
    size_t len;
    size_t pos;
};

static void reader_init(struct reader *r, const void *p, size_t len)
{
    r->p = p;
    r->len = p ? len : 0;
    r->pos = 0;
}

static size_t reader_left(const struct reader *r)
{
    return r->len - r->pos;
}

/* A length-encoded integer as the protocol writes it; -1 when short or NULL (0xFB). */
static int read_lenenc(struct reader *r, uint64_t *out)
{
    if (reader_left(r) < 1)
        return -1;
    unsigned char first = r->p[r->pos];
    size_t n;
    if (first < 0xFB) {
        *out = first;
        r->pos++;
        return 0;
    }
    if (first == 0xFC)
        n = 2;
    else if (first == 0xFD)
        n = 3;
    else if (first == 0xFE)
        n = 8;
    else
        return -1;
    if (reader_left(r) < 1 + n)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)r->p[r->pos + 1 + i] << (8 * i);
    r->pos += 1 + n;
    *out = v;
    return 0;
}

static int read_lenenc_bytes(struct reader *r, const unsigned char **s, size_t *len)
{
    uint64_t n;
    if (read_lenenc(r, &n) < 0 || n > reader_left(r))
        return -1;
    *s = r->p + r->pos;
    *len = (size_t)n;
    r->pos += (size_t)n;
    return 0;
}

/* A NUL-terminated copy of len bytes; NULL when out of memory. */
static char *copy_bytes(const void *s, size_t len)
{
    char *c = malloc(len + 1);
    if (!c)
        return NULL;
    if (len)
        memcpy(c, s, len);
    c[len] = '\0';
    return c;
}

/* Metadata bytes per column in the TABLE_MAP, by binlog type; -1 when unknown (the
 * rest of the metadata cannot be read then). */
static int metadata_size(unsigned type)
{
    switch (type) {
    case MYSQL_TYPE_DECIMAL:
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_NULL:
    case MYSQL_TYPE_TIMESTAMP:
    case MYSQL_TYPE_LONGLONG:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_DATE:
    case MYSQL_TYPE_TIME:
    case MYSQL_TYPE_DATETIME:
    case MYSQL_TYPE_YEAR:
    case MYSQL_TYPE_NEWDATE:
        return 0;
    case MYSQL_TYPE_FLOAT:
    case MYSQL_TYPE_DOUBLE:
    case MYSQL_TYPE_TIMESTAMP2:
    case MYSQL_TYPE_DATETIME2:
    case MYSQL_TYPE_TIME2:
    case MYSQL_TYPE_JSON:
    case MYSQL_TYPE_TINY_BLOB:
    case MYSQL_TYPE_MEDIUM_BLOB:
    case MYSQL_TYPE_LONG_BLOB:
    case MYSQL_TYPE_BLOB:
    case MYSQL_TYPE_GEOMETRY:
        return 1;
    case MYSQL_TYPE_VARCHAR:
    case MYSQL_TYPE_BIT:
    case MYSQL_TYPE_NEWDECIMAL:
    case MYSQL_TYPE_ENUM:
    case MYSQL_TYPE_SET:
    case MYSQL_TYPE_VAR_STRING:
    case MYSQL_TYPE_STRING:
        return 2;
    default:
        return -1;
    }
}

static int is_blob_type(unsigned type)
{
    return type == MYSQL_TYPE_BLOB || type == MYSQL_TYPE_TINY_BLOB ||
           type == MYSQL_TYPE_MEDIUM_BLOB || type == MYSQL_TYPE_LONG_BLOB;
}

/* Columns the SIGNEDNESS metadata has a bit for (by binlog type). */
static int is_numeric_type(unsigned type)
{
    switch (type) {
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_LONGLONG:
    case MYSQL_TYPE_NEWDECIMAL:
    case MYSQL_TYPE_FLOAT:
    case MYSQL_TYPE_DOUBLE:
        return 1;
    default:
        return 0;
    }
}

/* Columns the charset metadata has an entry for (by real type): the server counts
 * geometry too, and gives ENUM and SET their own charset fields. */
static int is_character_type(unsigned type)
{
    return type == MYSQL_TYPE_STRING || type == MYSQL_TYPE_VAR_STRING ||
           type == MYSQL_TYPE_VARCHAR || is_blob_type(type) || type == MYSQL_TYPE_GEOMETRY;
}

static int is_string_type(unsigned type)
{
    return type == MYSQL_TYPE_STRING || type == MYSQL_TYPE_VAR_STRING ||
           type == MYSQL_TYPE_VARCHAR || is_blob_type(type);
}

/* "name" or "#3" for messages. */
static const char *column_label(const struct binlog_column *c, uint32_t i, char *buf, size_t len)
{
    if (c->name)
        return c->name;
    snprintf(buf, len, "#%" PRIu32, i + 1);
    return buf;
}

static int parse_column_metadata(struct binlog_table *t, const MARIADB_STRING *metadata,
                                 char *err, size_t errlen)
{
    struct reader r;
    reader_init(&r, metadata->str, metadata->length);
    for (uint32_t i = 0; i < t->ncolumns; i++) {
        struct binlog_column *c = &t->columns[i];
        char lb[16];
        const char *label = column_label(c, i, lb, sizeof lb);
        int size = metadata_size(c->binlog_type);
        if (size < 0) {
            set_err(err, errlen, "column %s: unknown binlog type %u, whose metadata cannot be read",
                    label, c->binlog_type);
            return -1;
        }
        if (reader_left(&r) < (size_t)size) {
            set_err(err, errlen, "column %s: table map metadata ends early (%zu bytes)", label,
                    r.len);
            return -1;
        }
        /* no metadata at all (integers, dates) may come as a NULL block: no offset then */
        const unsigned char *m = size ? r.p + r.pos : NULL;
        r.pos += (size_t)size;
        c->type = c->binlog_type;
        switch (c->binlog_type) {
        case MYSQL_TYPE_FLOAT:
        case MYSQL_TYPE_DOUBLE:
            if (m[0] != (c->binlog_type == MYSQL_TYPE_FLOAT ? 4 : 8)) {
                set_err(err, errlen, "column %s: floating-point size %u", label, m[0]);
                return -1;
            }
            break;
        case MYSQL_TYPE_TIMESTAMP2:
        case MYSQL_TYPE_DATETIME2:
        case MYSQL_TYPE_TIME2:
            if (m[0] > MAX_FSP) {
                set_err(err, errlen, "column %s: %u fraction digits", label, m[0]);
                return -1;
            }
            c->fsp = m[0];
            break;
        case MYSQL_TYPE_JSON:
        case MYSQL_TYPE_TINY_BLOB:
        case MYSQL_TYPE_MEDIUM_BLOB:
        case MYSQL_TYPE_LONG_BLOB:
        case MYSQL_TYPE_BLOB:
        case MYSQL_TYPE_GEOMETRY:
            if (m[0] < 1 || m[0] > 4) {
                set_err(err, errlen, "column %s: %u length bytes", label, m[0]);
                return -1;
            }
            c->length = m[0];
            break;
        case MYSQL_TYPE_VARCHAR:
        case MYSQL_TYPE_VAR_STRING:
            c->length = (uint32_t)m[0] | ((uint32_t)m[1] << 8);
            break;
        case MYSQL_TYPE_BIT: {
            unsigned bits = (unsigned)m[1] * 8 + m[0];
            if (m[0] > 7 || bits < 1 || bits > 64) {
                set_err(err, errlen, "column %s: BIT metadata %02x%02x", label, m[0], m[1]);
                return -1;
            }
            c->length = bits;
            break;
        }
        case MYSQL_TYPE_NEWDECIMAL:
            if (m[0] < 1 || m[0] > MAX_DECIMAL_PRECISION || m[1] > MAX_DECIMAL_SCALE ||
                m[1] > m[0]) {
                set_err(err, errlen, "column %s: DECIMAL(%u,%u)", label, m[0], m[1]);
                return -1;
            }
            c->precision = m[0];
            c->scale = m[1];
            break;
        case MYSQL_TYPE_STRING:
        case MYSQL_TYPE_ENUM:
        case MYSQL_TYPE_SET: {
            /* real type, then length; CHAR over 255 bytes keeps two length bits in
             * the real type's byte (MySQL bug #37426) */
            unsigned real = m[0], len = m[1];
            if ((real & 0x30) != 0x30) {
                len |= ((real & 0x30) ^ 0x30) << 4;
                real |= 0x30;
            }
            if (real == MYSQL_TYPE_ENUM || real == MYSQL_TYPE_SET) {
                int ok = real == MYSQL_TYPE_ENUM ? (len == 1 || len == 2)
                                                 : (len == 1 || len == 2 || len == 3 ||
                                                    len == 4 || len == 8);
                if (!ok || m[0] != real) {
                    set_err(err, errlen, "column %s: %s of %u bytes", label,
                            real == MYSQL_TYPE_ENUM ? "ENUM" : "SET", len);
                    return -1;
                }
                c->type = (uint8_t)real;
            } else if (real == MYSQL_TYPE_STRING || real == MYSQL_TYPE_VAR_STRING) {
                c->type = MYSQL_TYPE_STRING;
            } else {
                set_err(err, errlen, "column %s: CHAR column with real type %u", label, real);
                return -1;
            }
            c->length = len;
            break;
        }
        default:
            break;
        }
    }
    if (reader_left(&r) != 0) {
        set_err(err, errlen, "table map metadata has %zu bytes; its columns use %zu", r.len,
                r.pos);
        return -1;
    }
    return 0;
}

static int check_name(const unsigned char *s, size_t len, const char *what, uint32_t i, char *err,
                      size_t errlen)
{
    if (len == 0 || memchr(s, '\0', len) || !sqlvalue_utf8_valid((const char *)s, len)) {
        set_err(err, errlen, "%s %" PRIu32 " is %s", what, i + 1,
                len == 0 ? "empty" : "not a valid UTF-8 name");
        return -1;
    }
    return 0;
}

static int parse_names(struct binlog_table *t, const MARIADB_CONST_DATA *names, char *err,
                       size_t errlen)
{
    if (!names->data || names->length == 0)
        return 0;
    struct reader r;
    reader_init(&r, names->data, names->length);
    for (uint32_t i = 0; i < t->ncolumns; i++) {
        const unsigned char *s;
        size_t len;
        if (read_lenenc_bytes(&r, &s, &len) < 0) {
            set_err(err, errlen, "column names metadata ends at column %" PRIu32 " of %" PRIu32,
                    i + 1, t->ncolumns);
            return -1;
        }
        if (check_name(s, len, "column name", i, err, errlen) < 0)
            return -1;
        for (uint32_t k = 0; k < i; k++) {
            if (strlen(t->columns[k].name) == len && memcmp(t->columns[k].name, s, len) == 0) {
                set_err(err, errlen, "column name %.*s appears twice", (int)len, (const char *)s);
                return -1;
            }
        }
        if (!(t->columns[i].name = copy_bytes(s, len))) {
            set_err(err, errlen, "out of memory");
            return -1;
        }
    }
    if (reader_left(&r) != 0) {
        set_err(err, errlen, "column names metadata has bytes past column %" PRIu32, t->ncolumns);
        return -1;
    }
    t->has_names = 1;
    return 0;
}

/* Bits are MSB first, one per numeric column in column order; 1 = UNSIGNED. */
static void parse_signedness(struct binlog_table *t, const unsigned char *bits)
{
    if (!bits)
        return;
    size_t k = 0;
    for (uint32_t i = 0; i < t->ncolumns; i++) {
        if (!is_numeric_type(t->columns[i].binlog_type))
            continue;
        t->columns[i].is_unsigned = (bits[k / 8] >> (7 - k % 8)) & 1;
        k++;
    }
}

static int parse_charsets(struct binlog_table *t, const struct st_mariadb_rpl_table_map_event *tm,
                          char *err, size_t errlen)
{
    struct reader r;
    reader_init(&r, tm->column_charsets.data, tm->column_charsets.length);
    for (uint32_t i = 0; i < t->ncolumns; i++) {
        struct binlog_column *c = &t->columns[i];
        if (!is_character_type(c->type))
            continue;
        c->collation = -1;
        if (r.len > 0) {
            uint64_t id;
            char lb[16];
            if (read_lenenc(&r, &id) < 0 || id > INT_MAX) {
                set_err(err, errlen, "column %s: column charset metadata is short or invalid",
                        column_label(c, i, lb, sizeof lb));
                return -1;
            }
            c->collation = (int)id;
        } else if (tm->default_charset != 0 && tm->default_charset < 251) {
            /* the connector keeps only the first byte of DEFAULT_CHARSET and drops its
             * per-column exceptions: right for the usual one-charset table. A first
             * byte of 251 or more is a length prefix (collations above 250, such as
             * utf8mb4_uca1400_ai_ci = 2304, arrive as 252): unknown then */
            c->collation = (int)tm->default_charset;
        }
        c->kind = c->collation == COLLATION_BINARY || c->type == MYSQL_TYPE_GEOMETRY
                      ? BINLOG_KIND_BYTES
                      : BINLOG_KIND_TEXT;
    }
    if (reader_left(&r) != 0) {
        set_err(err, errlen, "column charset metadata lists more collations than columns");
        return -1;
    }
    return 0;
}

/* ENUM_STR_VALUE / SET_STR_VALUE: per column of that type, a count then the labels. */
static int parse_labels(struct binlog_table *t, const MARIADB_CONST_DATA *data, unsigned type,
                        char *err, size_t errlen)
{
    const char *what = type == MYSQL_TYPE_ENUM ? "ENUM" : "SET";
    uint64_t limit = type == MYSQL_TYPE_ENUM ? MAX_ENUM_LABELS : MAX_SET_LABELS;
    if (!data->data || data->length == 0)
        return 0;
    struct reader r;
    reader_init(&r, data->data, data->length);
    for (uint32_t i = 0; i < t->ncolumns; i++) {
        struct binlog_column *c = &t->columns[i];
        char lb[16];
        const char *label = column_label(c, i, lb, sizeof lb);
        if (c->type != type)
            continue;
        uint64_t n;
        /* every label takes at least its length byte */
        if (read_lenenc(&r, &n) < 0 || n > limit || n > reader_left(&r)) {
            set_err(err, errlen, "column %s: %s labels metadata is short or invalid", label, what);
            return -1;
        }
        size_t start = r.pos, total = 0;
        for (uint64_t k = 0; k < n; k++) {
            const unsigned char *s;
            size_t len;
            if (read_lenenc_bytes(&r, &s, &len) < 0) {
                set_err(err, errlen, "column %s: %s label %" PRIu64 " runs past the metadata",
                        label, what, k + 1);
                return -1;
            }
            total += len + 1;
        }
        /* one block: the label pointers, then the NUL-terminated labels */
        char **block = malloc((size_t)n * sizeof *block + total + 1);
        c->label_lens = calloc(n ? (size_t)n : 1, sizeof *c->label_lens);
        if (!block || !c->label_lens) {
            free(block);
            set_err(err, errlen, "out of memory");
            return -1;
        }
        c->labels = block;
        char *store = (char *)(block + n);
        r.pos = start;
        for (uint64_t k = 0; k < n; k++) {
            const unsigned char *s = NULL;
            size_t len = 0;
            if (read_lenenc_bytes(&r, &s, &len) < 0)
                break;  /* not reached: the first pass read the same bytes */
            memcpy(store, s, len);
            store[len] = '\0';
            c->labels[k] = store;
            c->label_lens[k] = len;
            store += len + 1;
        }
        c->nlabels = (uint32_t)n;
    }
    if (reader_left(&r) != 0) {
        set_err(err, errlen, "%s labels metadata has labels for more columns than the table has",
                what);
        return -1;
    }
    return 0;
}

static int set_key_column(struct binlog_table *t, uint64_t index, char *err, size_t errlen)
{
    if (index >= t->ncolumns) {
        set_err(err, errlen, "primary key metadata names column %" PRIu64 " of %" PRIu32,
                index + 1, t->ncolumns);
        return -1;
    }
    if (t->columns[index].key) {
        set_err(err, errlen, "primary key metadata names column %" PRIu64 " twice", index + 1);
        return -1;
    }
    t->columns[index].key = ++t->nkey;
    return 0;
}

static int parse_keys(struct binlog_table *t, const struct st_mariadb_rpl_table_map_event *tm,
                      char *err, size_t errlen)
{
    struct reader r;
    uint64_t index, prefix;
    reader_init(&r, tm->simple_primary_keys.data, tm->simple_primary_keys.length);
    while (reader_left(&r) > 0) {
        if (read_lenenc(&r, &index) < 0) {
            set_err(err, errlen, "primary key metadata is malformed");
            return -1;
        }
        if (set_key_column(t, index, err, errlen) < 0)
            return -1;
    }
    reader_init(&r, tm->prefixed_primary_keys.data, tm->prefixed_primary_keys.length);
    while (reader_left(&r) > 0) {
        if (read_lenenc(&r, &index) < 0 || read_lenenc(&r, &prefix) < 0) {
            set_err(err, errlen, "prefixed primary key metadata is malformed");
            return -1;
        }
        if (set_key_column(t, index, err, errlen) < 0)
            return -1;
    }
    /* binlog_row_metadata=FULL sends names and the key together: with names, no key
     * metadata means the table has no primary key */
    t->has_key_metadata = t->nkey > 0 || t->has_names;
    return 0;
}

static void table_zero(struct binlog_table *t)
{
    memset(t, 0, sizeof *t);
}

void binlog_table_release(struct binlog_table *t)
{
    for (uint32_t i = 0; t->columns && i < t->ncolumns; i++) {
        struct binlog_column *c = &t->columns[i];
        free(c->name);
        free(c->labels);
        free(c->label_lens);
    }
    free(t->columns);
    free(t->database);
    free(t->name);
    table_zero(t);
}

int binlog_table_init(struct binlog_table *t, const struct st_mariadb_rpl_table_map_event *tm,
                      char *err, size_t errlen)
{
    table_zero(t);
    if (!tm) {
        set_err(err, errlen, "no table map");
        return -1;
    }
    if (tm->column_count == 0 || tm->column_count > SCHEMA_MAX_COLUMNS) {
        set_err(err, errlen, "table map has %u columns (1 to %d allowed)", tm->column_count,
                SCHEMA_MAX_COLUMNS);
        return -1;
    }
    if (!tm->column_types.str || tm->column_types.length != tm->column_count) {
        set_err(err, errlen, "table map has %zu column types for %u columns",
                tm->column_types.str ? tm->column_types.length : 0, tm->column_count);
        return -1;
    }
    if ((tm->database.length && !tm->database.str) || (tm->table.length && !tm->table.str) ||
        (tm->database.str && memchr(tm->database.str, '\0', tm->database.length)) ||
        (tm->table.str && memchr(tm->table.str, '\0', tm->table.length))) {
        set_err(err, errlen, "table map has an invalid database or table name");
        return -1;
    }
    t->table_id = tm->table_id;
    t->ncolumns = tm->column_count;
    t->columns = calloc(t->ncolumns, sizeof *t->columns);
    t->database = copy_bytes(tm->database.str, tm->database.length);
    t->name = copy_bytes(tm->table.str, tm->table.length);
    if (!t->columns || !t->database || !t->name) {
        set_err(err, errlen, "out of memory");
        goto fail;
    }
    for (uint32_t i = 0; i < t->ncolumns; i++) {
        t->columns[i].binlog_type = (uint8_t)tm->column_types.str[i];
        t->columns[i].collation = -1;
    }
    if (parse_names(t, &tm->column_names, err, errlen) < 0 ||
        parse_column_metadata(t, &tm->metadata, err, errlen) < 0)
        goto fail;
    parse_signedness(t, tm->signed_indicator);
    if (parse_charsets(t, tm, err, errlen) < 0 ||
        parse_labels(t, &tm->enum_values, MYSQL_TYPE_ENUM, err, errlen) < 0 ||
        parse_labels(t, &tm->set_values, MYSQL_TYPE_SET, err, errlen) < 0 ||
        parse_keys(t, tm, err, errlen) < 0)
        goto fail;
    return 0;
fail:
    binlog_table_release(t);
    return -1;
}

int binlog_table_set_names(struct binlog_table *t, const char *const *names, size_t n,
                           char *err, size_t errlen)
{
    if (n != t->ncolumns || !names) {
        set_err(err, errlen, "%zu names for %" PRIu32 " columns", n, t->ncolumns);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!names[i] ||
            check_name((const unsigned char *)names[i], strlen(names[i]), "name", (uint32_t)i,
                       err, errlen) < 0) {
            if (!names[i])
                set_err(err, errlen, "name %zu is missing", i + 1);
            return -1;
        }
        for (size_t k = 0; k < i; k++) {
            if (strcmp(names[k], names[i]) == 0) {
                set_err(err, errlen, "column name %s appears twice", names[i]);
                return -1;
            }
        }
    }
    char **copies = calloc(n, sizeof *copies);
    if (!copies) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!(copies[i] = copy_bytes(names[i], strlen(names[i])))) {
            for (size_t k = 0; k < i; k++)
                free(copies[k]);
            free(copies);
            set_err(err, errlen, "out of memory");
            return -1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(t->columns[i].name);
        t->columns[i].name = copies[i];
    }
    free(copies);
    t->has_names = 1;
    return 0;
}

static int find_column(const struct binlog_table *t, const char *name)
{
    for (uint32_t i = 0; i < t->ncolumns; i++)
        if (t->columns[i].name && strcmp(t->columns[i].name, name) == 0)
            return (int)i;
    return -1;
}

int binlog_table_set_kind(struct binlog_table *t, const char *column, enum binlog_kind kind,
                          char *err, size_t errlen)
{
    int i = column ? find_column(t, column) : -1;
    if (i < 0) {
        set_err(err, errlen, "no column %s", column ? column : "(null)");
        return -1;
    }
    if (!is_string_type(t->columns[i].type)) {
        set_err(err, errlen, "column %s is not a string column (type %u)", column,
                t->columns[i].type);
        return -1;
    }
    if (kind != BINLOG_KIND_TEXT && kind != BINLOG_KIND_BYTES && kind != BINLOG_KIND_JSON) {
        set_err(err, errlen, "column %s: unknown kind %d", column, (int)kind);
        return -1;
    }
    t->columns[i].kind = kind;
    return 0;
}

/* ---- numbers ------------------------------------------------------------------- */

static json_t *uint64_to_json(uint64_t u)
{
    if (u <= INT64_MAX)
        return json_integer((json_int_t)u);
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, u);
    return json_string(buf);
}

/* The connector zero-extends every integer into val.ull and never sets is_signed:
 * the column's signedness says how to read the low bytes. */
static json_t *integer_to_json(const struct binlog_column *c, uint64_t raw, unsigned bytes)
{
    uint64_t mask = bytes >= 8 ? UINT64_MAX : (UINT64_C(1) << (8 * bytes)) - 1;
    uint64_t u = raw & mask;
    if (c->is_unsigned)
        return uint64_to_json(u);
    if (bytes < 8 && ((u >> (8 * bytes - 1)) & 1))
        u |= ~mask;
    return json_integer((json_int_t)(int64_t)u);
}

static json_t *float_special(double x)
{
    if (isnan(x))
        return json_string("NaN");
    if (isinf(x))
        return json_string(x > 0 ? "Infinity" : "-Infinity");
    return NULL;
}

/* FLOAT by its shortest decimal (0.1f -> 0.1), as a double that prints the same. */
static json_t *float_to_json(float f)
{
    json_t *special = float_special(f);
    if (special)
        return special;
    char buf[48];
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        if (strtof(buf, NULL) == f)
            break;
    }
    double x = strtod(buf, NULL);
    return json_real(x);
}

/* DOUBLE as a real, as PostgreSQL's float8 and the snapshot's text rows give it: events
 * print reals at 15 significant digits, so 0.1 + 0.2 reads 0.3 from every source. */
static json_t *double_to_json(double x)
{
    json_t *special = float_special(x);
    return special ? special : json_real(x);
}

/* ---- dates and times --------------------------------------------------------------- */

static const unsigned long FRACTION_UNIT[MAX_FSP + 1] = {1000000, 100000, 10000, 1000, 100, 10, 1};

/* Appends ".f" with fsp digits; -1 when us is out of range or finer than fsp. */
static int append_fraction(char *buf, size_t len, unsigned fsp, unsigned long us)
{
    if (us >= US_PER_SECOND || fsp > MAX_FSP || us % FRACTION_UNIT[fsp] != 0)
        return -1;
    if (fsp > 0) {
        size_t at = strlen(buf);
        snprintf(buf + at, len - at, ".%0*lu", (int)fsp, us / FRACTION_UNIT[fsp]);
    }
    return 0;
}

/* NULL with *is_zero for zero dates and zero-in-date dates. */
static int format_date(const MYSQL_TIME *tm, char *buf, size_t len, int *is_zero)
{
    *is_zero = tm->month == 0 || tm->day == 0;
    if (*is_zero)
        return 0;
    if (tm->year > 9999 || tm->month > 12 || tm->day > 31)
        return -1;
    snprintf(buf, len, "%04u-%02u-%02u", tm->year, tm->month, tm->day);
    return 0;
}

static int format_clock(char *buf, size_t len, unsigned long h, unsigned m, unsigned s,
                        unsigned fsp, unsigned long us)
{
    size_t at = strlen(buf);
    if (m > 59 || s > 59)
        return -1;
    snprintf(buf + at, len - at, "%02lu:%02u:%02u", h, m, s);
    return append_fraction(buf, len, fsp, us);
}

/* Days since 1970-01-01 to a civil date (proleptic Gregorian; H. Hinnant's method). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* The connector reads TIME2 bytes as if the integer part and fraction were separate;
 * for negative values with a fraction the server stores them as one number (integer
 * part rounded away from zero, fraction reversed), so undo that. Such values have
 * second_part >= 1000000. Returns the value as neg, hours, minutes, seconds, us. */
static int decode_time(const MYSQL_TIME *tm, unsigned fsp, int *neg, unsigned long *h, unsigned *m,
                       unsigned *s, unsigned long *us)
{
    *neg = tm->neg != 0;
    *h = (unsigned long)tm->day * 24 + tm->hour;
    *m = tm->minute;
    *s = tm->second;
    *us = tm->second_part;
    if (*us < US_PER_SECOND)
        return 0;
    if (!*neg || *h >= 1024 || *m >= 64 || *s >= 64 || fsp == 0 || fsp > MAX_FSP)
        return -1;
    int64_t intpart = -(int64_t)((*h << 12) | ((unsigned long)*m << 6) | *s);
    int64_t frac, packed;
    if (fsp <= 2) {
        frac = (int64_t)((tm->second_part / 10000) & 0xFF);
        if (intpart < 0 && frac) {
            intpart++;
            frac -= 0x100;
        }
        packed = intpart * (INT64_C(1) << 24) + frac * 10000;
    } else if (fsp <= 4) {
        /* 3.3.20 sign-extends these two bytes; undo either way */
        frac = (int64_t)(((unsigned long long)((long long)tm->second_part / 100)) & 0xFFFF);
        if (intpart < 0 && frac) {
            intpart++;
            frac -= 0x10000;
        }
        packed = intpart * (INT64_C(1) << 24) + frac * 100;
    } else {
        packed = intpart * (INT64_C(1) << 24) + (int64_t)(tm->second_part & 0xFFFFFF);
    }
    if (packed >= 0)
        return -1;
    uint64_t abs_packed = (uint64_t)(-packed);
    uint64_t hms = abs_packed >> 24;
    *us = (unsigned long)(abs_packed & 0xFFFFFF);
    *h = (unsigned long)((hms >> 12) & 0x3FF);
    *m = (unsigned)((hms >> 6) & 0x3F);
    *s = (unsigned)(hms & 0x3F);
    return 0;
}

/* ---- values ------------------------------------------------------------------------ */

/* Whether the connector's field_type fits the column: it reports DATETIME2 as DATETIME,
 * TIME2 as TIME, BLOB by its length bytes and ENUM/SET by their real type. */
static int value_type_fits(const struct binlog_column *c, unsigned vt)
{
    if (vt == c->binlog_type || vt == c->type)
        return 1;
    switch (c->binlog_type) {
    case MYSQL_TYPE_DATETIME2:
        return vt == MYSQL_TYPE_DATETIME;
    case MYSQL_TYPE_TIME2:
        return vt == MYSQL_TYPE_TIME;
    case MYSQL_TYPE_TIMESTAMP2:
        return vt == MYSQL_TYPE_TIMESTAMP;
    case MYSQL_TYPE_DATE:
        return vt == MYSQL_TYPE_NEWDATE;
    case MYSQL_TYPE_NEWDATE:
        return vt == MYSQL_TYPE_DATE;
    default:
        return is_blob_type(c->binlog_type) && is_blob_type(vt);
    }
}

static uint64_t max_blob_length(uint32_t length_bytes)
{
    return length_bytes >= 4 ? UINT32_MAX : (UINT64_C(1) << (8 * length_bytes)) - 1;
}

static json_t *bytes_to_base64(const unsigned char *s, size_t len)
{
    size_t b64len = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64len);
    if (!b64)
        return NULL;
    sodium_bin2base64(b64, b64len, s, len, sodium_base64_VARIANT_ORIGINAL);
    json_t *j = json_string(b64);
    free(b64);
    return j;
}

#define VALUE_ERR(...)                                                                     \
    do {                                                                                   \
        set_err(err, errlen, __VA_ARGS__);                                                 \
        return NULL;                                                                       \
    } while (0)

static json_t *string_to_json(const struct binlog_column *c, const char *name,
                              const MARIADB_RPL_VALUE *v, char *err, size_t errlen)
{
    const unsigned char *s = (const unsigned char *)v->val.str.str;
    size_t len = v->val.str.length;
    if (len > 0 && !s)
        VALUE_ERR("column %s: %zu bytes without data", name, len);
    if (!s)
        s = (const unsigned char *)"";
    uint64_t max = is_blob_type(c->type) ? max_blob_length(c->length) : c->length;
    if ((uint64_t)len > max)
        VALUE_ERR("column %s: %zu bytes, more than the column holds (%" PRIu64 ")", name, len,
                  max);
    json_t *j;
    switch (c->kind) {
    case BINLOG_KIND_BYTES:
        j = bytes_to_base64(s, len);
        break;
    case BINLOG_KIND_JSON: {
        json_error_t jerr;
        if (!sqlvalue_utf8_valid((const char *)s, len))
            VALUE_ERR("column %s: JSON text is not valid UTF-8", name);
        j = sqlvalue_json_load((const char *)s, len, &jerr);
        if (!j)
            VALUE_ERR("column %s: invalid JSON: %s", name, jerr.text);
        return j;
    }
    default:
        if (!sqlvalue_utf8_valid((const char *)s, len))
            VALUE_ERR("column %s: text is not valid UTF-8 (collation %d)", name, c->collation);
        j = json_stringn((const char *)s, len);
        break;
    }
    if (!j)
        VALUE_ERR("out of memory");
    return j;
}

static json_t *label_to_json(const struct binlog_column *c, const char *name, uint64_t index,
                             char *err, size_t errlen)
{
    const char *s = c->labels[index];
    size_t len = c->label_lens[index];
    if (!sqlvalue_utf8_valid(s, len))
        VALUE_ERR("column %s: label %" PRIu64 " is not valid UTF-8", name, index + 1);
    json_t *j = json_stringn(s, len);
    if (!j)
        VALUE_ERR("out of memory");
    return j;
}

static json_t *enum_to_json(const struct binlog_column *c, const char *name, uint64_t index,
                            char *err, size_t errlen)
{
    if (index == 0)
        return json_string("");  /* the error value MariaDB stores for invalid input */
    if (!c->labels)
        VALUE_ERR("column %s: the table map has no ENUM labels (binlog_row_metadata=FULL)", name);
    if (index > c->nlabels)
        VALUE_ERR("column %s: ENUM index %" PRIu64 " of %" PRIu32 " labels", name, index,
                  c->nlabels);
    return label_to_json(c, name, index - 1, err, errlen);
}

static json_t *set_to_json(const struct binlog_column *c, const char *name, uint64_t mask,
                           char *err, size_t errlen)
{
    if (mask && !c->labels)
        VALUE_ERR("column %s: the table map has no SET labels (binlog_row_metadata=FULL)", name);
    if (c->nlabels < 64 && (mask >> c->nlabels) != 0)
        VALUE_ERR("column %s: SET bits 0x%" PRIx64 " beyond its %" PRIu32 " labels", name, mask,
                  c->nlabels);
    json_t *array = json_array();
    if (!array)
        VALUE_ERR("out of memory");
    for (uint32_t k = 0; k < c->nlabels && k < 64; k++) {
        if (!((mask >> k) & 1))
            continue;
        json_t *label = label_to_json(c, name, k, err, errlen);
        if (!label || json_array_append_new(array, label) < 0) {
            json_decref(array);
            if (label)
                set_err(err, errlen, "out of memory");
            return NULL;
        }
    }
    return array;
}

static json_t *bit_to_json(const struct binlog_column *c, const char *name,
                           const MARIADB_RPL_VALUE *v, char *err, size_t errlen)
{
    const unsigned char *s = (const unsigned char *)v->val.str.str;
    size_t len = v->val.str.length;
    if (len != (c->length + 7) / 8 || !s)
        VALUE_ERR("column %s: BIT(%" PRIu32 ") value of %zu bytes", name, c->length, len);
    uint64_t u = 0;
    for (size_t i = 0; i < len; i++)
        u = (u << 8) | s[i];
    if (c->length < 64 && (u >> c->length) != 0)
        VALUE_ERR("column %s: value has more than %" PRIu32 " bits", name, c->length);
    return uint64_to_json(u);
}

static json_t *year_to_json(const char *name, uint64_t year, char *err, size_t errlen)
{
    /* the connector adds 1900 to the stored byte, so YEAR 0000 arrives as 1900 */
    if (year == 0 || year == 1900)
        return json_integer(0);
    if (year < 1901 || year > 2155)
        VALUE_ERR("column %s: YEAR %" PRIu64 " out of range", name, year);
    return json_integer((json_int_t)year);
}

static json_t *datetime_to_json(const struct binlog_column *c, const char *name,
                                const MYSQL_TIME *tm, char *err, size_t errlen)
{
    char buf[48];
    int is_zero;
    if (format_date(tm, buf, sizeof buf, &is_zero) < 0)
        VALUE_ERR("column %s: invalid date %u-%u-%u", name, tm->year, tm->month, tm->day);
    if (is_zero)
        return json_null();
    if (c->type == MYSQL_TYPE_DATE || c->type == MYSQL_TYPE_NEWDATE)
        return json_string(buf);
    strcat(buf, "T");
    if (tm->hour > 23 ||
        format_clock(buf, sizeof buf, tm->hour, tm->minute, tm->second, c->fsp, tm->second_part) < 0)
        VALUE_ERR("column %s: invalid DATETIME(%u) time %u:%u:%u.%lu", name, c->fsp, tm->hour,
                  tm->minute, tm->second, tm->second_part);
    return json_string(buf);
}

static json_t *timestamp_to_json(const struct binlog_column *c, const char *name,
                                 const MARIADB_TIMESTAMP *ts, char *err, size_t errlen)
{
    if (ts->second == 0 && ts->second_part == 0)
        return json_null();  /* '0000-00-00 00:00:00' */
    int64_t days = ts->second / 86400;
    uint32_t rem = ts->second % 86400;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    char buf[48];
    snprintf(buf, sizeof buf, "%04" PRId64 "-%02u-%02uT", y, m, d);
    if (format_clock(buf, sizeof buf, rem / 3600, rem / 60 % 60, rem % 60, c->fsp,
                     ts->second_part) < 0)
        VALUE_ERR("column %s: TIMESTAMP(%u) fraction %" PRIu32 " out of range", name, c->fsp,
                  ts->second_part);
    strcat(buf, "Z");
    return json_string(buf);
}

static json_t *time_to_json(const struct binlog_column *c, const char *name, const MYSQL_TIME *tm,
                            char *err, size_t errlen)
{
    int neg;
    unsigned long h, us;
    unsigned m, s;
    char buf[48] = "";
    if (decode_time(tm, c->fsp, &neg, &h, &m, &s, &us) < 0 || h > MAX_TIME_HOURS)
        VALUE_ERR("column %s: invalid TIME(%u) %s%u:%u:%u.%lu", name, c->fsp, tm->neg ? "-" : "",
                  tm->hour, tm->minute, tm->second, tm->second_part);
    if (neg && (h || m || s || us))
        strcpy(buf, "-");
    if (format_clock(buf, sizeof buf, h, m, s, c->fsp, us) < 0)
        VALUE_ERR("column %s: invalid TIME(%u) %s%lu:%u:%u.%lu", name, c->fsp, neg ? "-" : "", h,
                  m, s, us);
    return json_string(buf);
}

static json_t *value_to_json(const struct binlog_table *t, uint32_t i, const MARIADB_RPL_VALUE *v,
                             char *err, size_t errlen)
{
    const struct binlog_column *c = &t->columns[i];
    const char *name = c->name;
    json_t *j = NULL;
    if (!value_type_fits(c, (unsigned)v->field_type))
        VALUE_ERR("column %s: value of type %d for a column of type %u", name, (int)v->field_type,
                  c->type);
    if (v->is_null)
        return json_null();
    switch (c->type) {
    case MYSQL_TYPE_TINY:
        j = integer_to_json(c, v->val.ull, 1);
        break;
    case MYSQL_TYPE_SHORT:
        j = integer_to_json(c, v->val.ull, 2);
        break;
    case MYSQL_TYPE_INT24:
        j = integer_to_json(c, v->val.ull, 3);
        break;
    case MYSQL_TYPE_LONG:
        j = integer_to_json(c, v->val.ull, 4);
        break;
    case MYSQL_TYPE_LONGLONG:
        j = integer_to_json(c, v->val.ull, 8);
        break;
    case MYSQL_TYPE_YEAR:
        return year_to_json(name, v->val.ull, err, errlen);
    case MYSQL_TYPE_BIT:
        return bit_to_json(c, name, v, err, errlen);
    case MYSQL_TYPE_NEWDECIMAL:
        if (!v->val.str.str)
            VALUE_ERR("column %s: DECIMAL value without text", name);
        /* decimal2string() text: "-.50" */
        if (sqlvalue_decimal_json(v->val.str.str, v->val.str.length, &j))
            VALUE_ERR("column %s: DECIMAL text \"%.*s\" is no number", name,
                      (int)(v->val.str.length > 80 ? 80 : v->val.str.length), v->val.str.str);
        break;
    case MYSQL_TYPE_FLOAT:
        j = float_to_json(v->val.f);
        break;
    case MYSQL_TYPE_DOUBLE:
        j = double_to_json(v->val.d);
        break;
    case MYSQL_TYPE_STRING:
    case MYSQL_TYPE_VARCHAR:
    case MYSQL_TYPE_VAR_STRING:
    case MYSQL_TYPE_TINY_BLOB:
    case MYSQL_TYPE_MEDIUM_BLOB:
    case MYSQL_TYPE_LONG_BLOB:
    case MYSQL_TYPE_BLOB:
        return string_to_json(c, name, v, err, errlen);
    case MYSQL_TYPE_ENUM:
        return enum_to_json(c, name, v->val.ull, err, errlen);
    case MYSQL_TYPE_SET:
        return set_to_json(c, name, v->val.ull, err, errlen);
    case MYSQL_TYPE_DATE:
    case MYSQL_TYPE_NEWDATE:
    case MYSQL_TYPE_DATETIME:
    case MYSQL_TYPE_DATETIME2:
        return datetime_to_json(c, name, &v->val.tm, err, errlen);
    case MYSQL_TYPE_TIMESTAMP:
    case MYSQL_TYPE_TIMESTAMP2:
        return timestamp_to_json(c, name, &v->val.ts, err, errlen);
    case MYSQL_TYPE_TIME:
    case MYSQL_TYPE_TIME2:
        return time_to_json(c, name, &v->val.tm, err, errlen);
    case MYSQL_TYPE_NULL:
        return json_null();
    default:
        VALUE_ERR("column %s: type %u is not supported", name, c->type);
    }
    if (!j)
        VALUE_ERR("out of memory");
    return j;
}

static int check_row(const struct binlog_table *t, const MARIADB_RPL_ROW *row, char *err,
                     size_t errlen)
{
    if (!t->columns) {
        set_err(err, errlen, "table not initialised");
        return -1;
    }
    if (!row || !row->columns || row->column_count != t->ncolumns) {
        set_err(err, errlen, "row has %u columns, table %s.%s has %" PRIu32,
                row && row->columns ? row->column_count : 0, t->database, t->name, t->ncolumns);
        return -1;
    }
    if (!t->has_names) {
        set_err(err, errlen,
                "table %s.%s has no column names: set binlog_row_metadata=FULL or call "
                "binlog_table_set_names()",
                t->database, t->name);
        return -1;
    }
    return 0;
}

json_t *binlog_row_to_json(const struct binlog_table *t, const MARIADB_RPL_ROW *row, char *err,
                           size_t errlen)
{
    if (check_row(t, row, err, errlen) < 0)
        return NULL;
    json_t *obj = json_object();
    if (!obj) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    for (uint32_t i = 0; i < t->ncolumns; i++) {
        json_t *v = value_to_json(t, i, &row->columns[i], err, errlen);
        if (!v || json_object_set_new(obj, t->columns[i].name, v) < 0) {
            if (v)
                set_err(err, errlen, "out of memory");
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

static int add_key_value(json_t *obj, const struct binlog_table *t, uint32_t i,
                         const MARIADB_RPL_ROW *row, char *err, size_t errlen)
{
    json_t *v = value_to_json(t, i, &row->columns[i], err, errlen);
    if (!v || json_object_set_new(obj, t->columns[i].name, v) < 0) {
        if (v)
            set_err(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

json_t *binlog_row_key_json(const struct binlog_table *t, const MARIADB_RPL_ROW *row,
                            const char *const *key_columns, char *err, size_t errlen)
{
    if (check_row(t, row, err, errlen) < 0)
        return NULL;
    if (!key_columns && !t->has_key_metadata) {
        set_err(err, errlen,
                "table %s.%s: the table map does not say the primary key "
                "(binlog_row_metadata=FULL); pass the key columns",
                t->database, t->name);
        return NULL;
    }
    json_t *obj = json_object();
    if (!obj) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    if (key_columns) {
        for (size_t k = 0; key_columns[k]; k++) {
            int i = find_column(t, key_columns[k]);
            if (i < 0) {
                set_err(err, errlen, "table %s.%s has no key column %s", t->database, t->name,
                        key_columns[k]);
                goto fail;
            }
            if (add_key_value(obj, t, (uint32_t)i, row, err, errlen) < 0)
                goto fail;
        }
        return obj;
    }
    for (unsigned k = 1; k <= t->nkey; k++) {
        for (uint32_t i = 0; i < t->ncolumns; i++) {
            if (t->columns[i].key == k && add_key_value(obj, t, i, row, err, errlen) < 0)
                goto fail;
        }
    }
    return obj;
fail:
    json_decref(obj);
    return NULL;
}

/* ---- table shape ------------------------------------------------------------------- */

/* Most bytes one character takes in a collation's charset; 0 when unknown. Covers the
 * charsets an inventory table uses (MariaDB 10.11's ids, uca1400 included). */
static unsigned bytes_per_char(int collation)
{
    static const struct {
        int from, to;
        unsigned bytes;
    } RANGES[] = {
        {5, 5, 1}, {8, 8, 1}, {11, 11, 1}, {15, 15, 1}, {31, 31, 1}, {33, 33, 3},
        {45, 46, 4}, {47, 49, 1}, {63, 63, 1}, {65, 65, 1}, {83, 83, 3}, {94, 94, 1},
        {192, 215, 3}, {223, 223, 3}, {224, 247, 4}, {576, 578, 3}, {608, 610, 4},
        {1032, 1032, 1}, {1035, 1035, 1}, {1057, 1057, 3}, {1069, 1070, 4}, {1071, 1071, 1},
        {1089, 1089, 1}, {1107, 1107, 3}, {1216, 1216, 3}, {1238, 1238, 3}, {1248, 1248, 4},
        {1270, 1270, 4}, {2048, 2303, 3}, {2304, 2559, 4},
    };
    for (size_t i = 0; i < sizeof RANGES / sizeof RANGES[0]; i++)
        if (collation >= RANGES[i].from && collation <= RANGES[i].to)
            return RANGES[i].bytes;
    return 0;
}

/* "varchar(64)" when the charset tells characters, else "varchar(256 bytes)". */
static void sized_name(char *out, size_t len, const char *base, uint32_t bytes, int collation,
                       int binary)
{
    unsigned per = binary ? 1 : bytes_per_char(collation);
    if (per && bytes % per == 0)
        snprintf(out, len, "%s(%" PRIu32 ")", base, bytes / per);
    else
        snprintf(out, len, "%s(%" PRIu32 " bytes)", base, bytes);
}

static void column_shape(const struct binlog_column *c, struct schema_column *s)
{
    static const char *const INT_NAMES[] = {"", "tinyint", "smallint", "mediumint", "int", "", "",
                                            "", "bigint"};
    static const char *const TEXT_NAMES[] = {"", "tinytext", "text", "mediumtext", "longtext"};
    static const char *const BLOB_NAMES[] = {"", "tinyblob", "blob", "mediumblob", "longblob"};
    const char *uns = c->is_unsigned ? " unsigned" : "";
    int binary = c->kind == BINLOG_KIND_BYTES;
    unsigned bytes = 0;
    s->family = SCHEMA_OTHER;
    s->size = 0;
    s->scale = 0;
    s->flags = 0;
    switch (c->type) {
    case MYSQL_TYPE_TINY: bytes = 1; break;
    case MYSQL_TYPE_SHORT: bytes = 2; break;
    case MYSQL_TYPE_INT24: bytes = 3; break;
    case MYSQL_TYPE_LONG: bytes = 4; break;
    case MYSQL_TYPE_LONGLONG: bytes = 8; break;
    default: break;
    }
    if (bytes) {
        s->family = SCHEMA_INT;
        s->size = (int)bytes;
        s->flags = c->is_unsigned ? SCHEMA_UNSIGNED : 0;
        snprintf(s->type, sizeof s->type, "%s%s", INT_NAMES[bytes], uns);
        return;
    }
    switch (c->type) {
    case MYSQL_TYPE_BIT:
        bytes = (c->length + 7) / 8;
        s->family = SCHEMA_INT;
        s->size = bytes <= 4 ? (int)bytes : 8;
        s->flags = SCHEMA_UNSIGNED;
        snprintf(s->type, sizeof s->type, "bit(%" PRIu32 ")", c->length);
        break;
    case MYSQL_TYPE_NEWDECIMAL:
        s->family = SCHEMA_NUMERIC;
        s->size = c->precision;
        s->scale = c->scale;
        snprintf(s->type, sizeof s->type, "decimal(%u,%u)%s", c->precision, c->scale, uns);
        break;
    case MYSQL_TYPE_FLOAT:
    case MYSQL_TYPE_DOUBLE:
        s->family = SCHEMA_FLOAT;
        s->size = c->type == MYSQL_TYPE_FLOAT ? 4 : 8;
        snprintf(s->type, sizeof s->type, "%s%s", c->type == MYSQL_TYPE_FLOAT ? "float" : "double",
                 uns);
        break;
    case MYSQL_TYPE_STRING:
    case MYSQL_TYPE_VARCHAR:
    case MYSQL_TYPE_VAR_STRING: {
        int fixed = c->type == MYSQL_TYPE_STRING;
        const char *base = fixed ? (binary ? "binary" : "char") : (binary ? "varbinary" : "varchar");
        sized_name(s->type, sizeof s->type, base, c->length, c->collation, binary);
        if (c->kind == BINLOG_KIND_JSON) {
            s->family = SCHEMA_JSON;
            snprintf(s->type, sizeof s->type, "json");
        } else if (!binary && c->length > 0) {
            s->family = SCHEMA_TEXT;
            s->size = (int)c->length;
            s->flags = fixed ? SCHEMA_PADDED : 0;
        }
        break;
    }
    case MYSQL_TYPE_TINY_BLOB:
    case MYSQL_TYPE_MEDIUM_BLOB:
    case MYSQL_TYPE_LONG_BLOB:
    case MYSQL_TYPE_BLOB:
        if (c->kind == BINLOG_KIND_JSON) {
            s->family = SCHEMA_JSON;
            snprintf(s->type, sizeof s->type, "json");
        } else if (binary) {
            snprintf(s->type, sizeof s->type, "%s", BLOB_NAMES[c->length]);
        } else {
            s->family = SCHEMA_TEXT;
            s->size = c->length >= 4 ? -1 : (int)max_blob_length(c->length);
            snprintf(s->type, sizeof s->type, "%s", TEXT_NAMES[c->length]);
        }
        break;
    case MYSQL_TYPE_DATE:
    case MYSQL_TYPE_NEWDATE:
        s->family = SCHEMA_DATE;
        snprintf(s->type, sizeof s->type, "date");
        break;
    case MYSQL_TYPE_DATETIME:
    case MYSQL_TYPE_DATETIME2:
    case MYSQL_TYPE_TIMESTAMP:
    case MYSQL_TYPE_TIMESTAMP2: {
        int dt = c->type == MYSQL_TYPE_DATETIME || c->type == MYSQL_TYPE_DATETIME2;
        s->family = dt ? SCHEMA_TIMESTAMP : SCHEMA_TIMESTAMPTZ;
        s->size = c->fsp;
        if (c->fsp)
            snprintf(s->type, sizeof s->type, "%s(%u)", dt ? "datetime" : "timestamp", c->fsp);
        else
            snprintf(s->type, sizeof s->type, "%s", dt ? "datetime" : "timestamp");
        break;
    }
    case MYSQL_TYPE_TIME:
    case MYSQL_TYPE_TIME2:
        if (c->fsp)
            snprintf(s->type, sizeof s->type, "time(%u)", c->fsp);
        else
            snprintf(s->type, sizeof s->type, "time");
        break;
    case MYSQL_TYPE_YEAR: snprintf(s->type, sizeof s->type, "year"); break;
    case MYSQL_TYPE_ENUM: snprintf(s->type, sizeof s->type, "enum"); break;
    case MYSQL_TYPE_SET: snprintf(s->type, sizeof s->type, "set"); break;
    case MYSQL_TYPE_GEOMETRY: snprintf(s->type, sizeof s->type, "geometry"); break;
    case MYSQL_TYPE_NULL: snprintf(s->type, sizeof s->type, "null"); break;
    default: snprintf(s->type, sizeof s->type, "type %u", c->type); break;
    }
}

int binlog_table_schema(const struct binlog_table *t, const char *const *key_columns,
                        struct schema_table *out, char *err, size_t errlen)
{
    schema_table_init(out);
    if (!t->columns) {
        set_err(err, errlen, "table not initialised");
        return -1;
    }
    for (size_t k = 0; key_columns && key_columns[k]; k++) {
        if (find_column(t, key_columns[k]) < 0) {
            set_err(err, errlen, "table %s.%s has no key column %s", t->database, t->name,
                    key_columns[k]);
            return -1;
        }
    }
    for (uint32_t i = 0; i < t->ncolumns; i++) {
        const struct binlog_column *c = &t->columns[i];
        struct schema_column s;
        memset(&s, 0, sizeof s);
        if (!c->name) {
            set_err(err, errlen, "table %s.%s: column %" PRIu32 " has no name", t->database,
                    t->name, i + 1);
            goto fail;
        }
        if (strlen(c->name) >= sizeof s.name) {
            set_err(err, errlen, "column name %.80s is %zu bytes (limit %zu)", c->name,
                    strlen(c->name), sizeof s.name - 1);
            goto fail;
        }
        strcpy(s.name, c->name);
        column_shape(c, &s);
        if (key_columns) {
            for (size_t k = 0; key_columns[k]; k++)
                if (strcmp(key_columns[k], c->name) == 0)
                    s.key = 1;
        } else {
            s.key = c->key > 0;
        }
        if (schema_table_add(out, &s, err, errlen) < 0)
            goto fail;
    }
    return 0;
fail:
    schema_table_release(out);
    return -1;
}

/* ---- GTIDs ------------------------------------------------------------------------ */

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int parse_gtid_number(const char *s, size_t len, size_t *i, uint64_t max, uint64_t *out)
{
    size_t start = *i;
    uint64_t v = 0;
    while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
        unsigned d = (unsigned)(s[*i] - '0');
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
        (*i)++;
    }
    if (*i == start)
        return -1;
    *out = v;
    return 0;
}

static int parse_gtid_span(struct binlog_gtid *g, const char *s, size_t len, char *err,
                           size_t errlen)
{
    size_t i = 0, end = len;
    uint64_t domain, server, seq;
    while (i < end && is_blank(s[i]))
        i++;
    while (end > i && is_blank(s[end - 1]))
        end--;
    const char *what = "domain id";
    if (parse_gtid_number(s, end, &i, UINT32_MAX, &domain) < 0)
        goto bad;
    what = "'-' after the domain id";
    if (i >= end || s[i++] != '-')
        goto bad;
    what = "server id";
    if (parse_gtid_number(s, end, &i, UINT32_MAX, &server) < 0)
        goto bad;
    what = "'-' after the server id";
    if (i >= end || s[i++] != '-')
        goto bad;
    what = "sequence number";
    if (parse_gtid_number(s, end, &i, UINT64_MAX, &seq) < 0)
        goto bad;
    what = "end after the sequence number";
    if (i != end)
        goto bad;
    g->domain = (uint32_t)domain;
    g->server = (uint32_t)server;
    g->seq = seq;
    return 0;
bad:
    set_err(err, errlen,
            "GTID \"%.*s\" is not domain-server-sequence: expected a %s (domain and server "
            "id up to 4294967295, sequence up to 18446744073709551615)",
            (int)(len > 64 ? 64 : len), s, what);
    return -1;
}

int binlog_gtid_parse(struct binlog_gtid *g, const char *text, char *err, size_t errlen)
{
    if (!text) {
        set_err(err, errlen, "no GTID");
        return -1;
    }
    return parse_gtid_span(g, text, strlen(text), err, errlen);
}

void binlog_gtid_format(const struct binlog_gtid *g, char out[BINLOG_GTID_BUFLEN])
{
    snprintf(out, BINLOG_GTID_BUFLEN, "%" PRIu32 "-%" PRIu32 "-%" PRIu64, g->domain, g->server,
             g->seq);
}

void binlog_gtid_pos_init(struct binlog_gtid_pos *p)
{
    p->n = 0;
    p->gtids = NULL;
}

void binlog_gtid_pos_release(struct binlog_gtid_pos *p)
{
    free(p->gtids);
    binlog_gtid_pos_init(p);
}

/* By domain; within one, by server and sequence so that messages are deterministic. */
static int compare_gtids(const void *a, const void *b)
{
    const struct binlog_gtid *x = a, *y = b;
    if (x->domain != y->domain)
        return x->domain < y->domain ? -1 : 1;
    if (x->server != y->server)
        return x->server < y->server ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

int binlog_gtid_pos_parse(struct binlog_gtid_pos *p, const char *text, char *err, size_t errlen)
{
    binlog_gtid_pos_init(p);
    if (!text) {
        set_err(err, errlen, "no GTID list");
        return -1;
    }
    size_t len = strlen(text), blanks = 0;
    while (blanks < len && is_blank(text[blanks]))
        blanks++;
    if (blanks == len)
        return 0;
    size_t n = 1;
    for (size_t i = 0; i < len; i++)
        n += text[i] == ',';
    struct binlog_gtid *gtids = calloc(n, sizeof *gtids);
    if (!gtids) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    const char *s = text;
    for (size_t k = 0; k < n; k++) {
        const char *comma = strchr(s, ',');
        size_t span = comma ? (size_t)(comma - s) : strlen(s);
        if (parse_gtid_span(&gtids[k], s, span, err, errlen) < 0) {
            free(gtids);
            return -1;
        }
        s += span + 1;
    }
    qsort(gtids, n, sizeof *gtids, compare_gtids);
    for (size_t k = 1; k < n; k++) {
        if (gtids[k].domain == gtids[k - 1].domain) {
            char a[BINLOG_GTID_BUFLEN], b[BINLOG_GTID_BUFLEN];
            binlog_gtid_format(&gtids[k - 1], a);
            binlog_gtid_format(&gtids[k], b);
            set_err(err, errlen, "GTIDs %s and %s are both in domain %" PRIu32, a, b,
                    gtids[k].domain);
            free(gtids);
            return -1;
        }
    }
    p->n = n;
    p->gtids = gtids;
    return 0;
}

/* Index of domain in p, or of where it belongs (with *found 0). */
static size_t gtid_slot(const struct binlog_gtid_pos *p, uint32_t domain, int *found)
{
    size_t lo = 0, hi = p->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->gtids[mid].domain < domain)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < p->n && p->gtids[lo].domain == domain;
    return lo;
}

int binlog_gtid_pos_update(struct binlog_gtid_pos *p, const struct binlog_gtid *g, char *err,
                           size_t errlen)
{
    int found;
    size_t at = gtid_slot(p, g->domain, &found);
    if (found) {
        p->gtids[at] = *g;
        return 0;
    }
    struct binlog_gtid *grown = realloc(p->gtids, (p->n + 1) * sizeof *grown);
    if (!grown) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    memmove(grown + at + 1, grown + at, (p->n - at) * sizeof *grown);
    grown[at] = *g;
    p->gtids = grown;
    p->n++;
    return 0;
}

const struct binlog_gtid *binlog_gtid_pos_find(const struct binlog_gtid_pos *p, uint32_t domain)
{
    int found;
    size_t at = gtid_slot(p, domain, &found);
    return found ? &p->gtids[at] : NULL;
}

int binlog_gtid_pos_covers(const struct binlog_gtid_pos *p, const struct binlog_gtid *g)
{
    const struct binlog_gtid *have = binlog_gtid_pos_find(p, g->domain);
    return have && have->seq >= g->seq;
}

int binlog_gtid_pos_le(const struct binlog_gtid_pos *a, const struct binlog_gtid_pos *b)
{
    for (size_t i = 0; i < a->n; i++)
        if (!binlog_gtid_pos_covers(b, &a->gtids[i]))
            return 0;
    return 1;
}

int binlog_gtid_pos_format(const struct binlog_gtid_pos *p, char *out, size_t outlen, char *err,
                           size_t errlen)
{
    size_t used = 0;
    if (!out || outlen == 0) {
        set_err(err, errlen, "no room for the GTID list");
        return -1;
    }
    out[0] = '\0';
    for (size_t i = 0; i < p->n; i++) {
        char one[BINLOG_GTID_BUFLEN];
        binlog_gtid_format(&p->gtids[i], one);
        size_t need = strlen(one) + (i > 0);
        if (used + need >= outlen) {
            set_err(err, errlen, "GTID list needs more than %zu bytes", outlen);
            out[0] = '\0';
            return -1;
        }
        if (i > 0)
            out[used++] = ',';
        memcpy(out + used, one, strlen(one) + 1);
        used += strlen(one);
    }
    return 0;
}
