/* fuzz_binlog.c — libFuzzer target for the MariaDB binlog decoders: binlog_table_init()
 * on a TABLE_MAP's metadata (services/cdc/binlog.c), binlog_rows_init() on a rows
 * event's bytes against it (services/cdc/binlog_rows.c), then what the reader does with
 * every row: binlog_row_to_json(), binlog_row_key_json(), binlog_table_schema(). A slice
 * of each input also goes through the GTID parsers.
 *
 *   make build/fuzz/fuzz_binlog          (tests/fuzz/fuzz.mk; clang, ASan, UBSan)
 *   build/fuzz/fuzz_binlog -max_total_time=60 build/fuzz/corpus/fuzz_binlog tests/fuzz/corpus/binlog
 *
 * An input is a table map and one rows event of it, laid out as below (u16 is
 * little-endian; a field cut short by the end of the input is short, a fixed-size one
 * is zero-filled, so that every input is a valid layout):
 *
 *   flags              u8: 0x01 name the columns c1..cN with binlog_table_set_names()
 *                      when the map has no names; 0x02 the primary key field is the
 *                      PREFIXED form (index, prefix pairs) instead of SIMPLE; 0x04 set
 *                      the kind of one column (binlog_table_set_kind()); 0x08 also map
 *                      a row built from row_data the way Connector/C fills values (see
 *                      connector_row()); 0x10 signed_indicator NULL; 0x20 the rows event
 *                      names another table id; 0x40 the rows event has one column more;
 *                      0x80 the rows event has no column bitmap
 *   gtid               u8 length, then that many bytes of GTID list text
 *   column count N     u16
 *   column_types       N bytes
 *   metadata           u16 length, bytes
 *   signed_indicator   exactly (numeric columns + 7) / 8 bytes (binlog.h: the field has
 *                      no length, the connector points it at exactly that many), NULL
 *                      when there is no numeric column
 *   null_indicator     (N + 7) / 8 bytes
 *   default_charset    u16
 *   column names, column charsets, ENUM labels, SET labels, primary key
 *                      each u16 length, bytes (the optional-metadata block: lenenc
 *                      strings / integers as the server writes them)
 *   database, table    each u8 length, bytes
 *   kind column, kind  u8 each: column index mod N, kind mod 4 (3: invalid), used with
 *                      flag 0x04; the kind column and the last one are also the explicit
 *                      key handed to binlog_row_key_json() and binlog_table_schema()
 *   event type         u8: 23/24/25/30/31/32 as such (v1/v2 WRITE/UPDATE/DELETE); 0xFF an
 *                      unknown row event type; anything else one of the six by value mod 6
 *   column_bitmap      (count + 7) / 8 bytes, count = N (N + 1 with flag 0x40)
 *   update bitmap      (count + 7) / 8 bytes, for a v1 UPDATE (24) only: a v2 UPDATE
 *                      (31) carries it at the start of row_data, where the decoder reads it
 *   row_data           the rest of the input
 *
 * The seeds (tests/fuzz/corpus/binlog/, named for what they hold) are such inputs built
 * the way test_binlog_rows.c builds its events, as a MariaDB 10.11 server writes them.
 *
 * Every field lives in its own exact-size allocation, freed right after the call that
 * reads it (the table and the rows must not point into the events), so ASan sees any
 * read past a length or after a free. Besides crashes, leaks and undefined behaviour it
 * checks what the reader relies on: a refusal has a reason and leaves nothing behind;
 * decoded rows have the table's column count and an UPDATE pairs its images; every JSON
 * value dumps; a table's shape survives schema_table_to_json() and back and compares
 * SCHEMA_SAME with itself; a parsed GTID list formats and parses back to itself.
 *
 * Known product bugs are stepped around (see KNOWN BUGS below) so that the smoke run in
 * `make test` stays meaningful; FUZZ_STRICT=1 in the environment turns the guards off. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binlog.h"
#include "binlog_rows.h"
#include "schema.h"

/* Mapping every image of a huge event adds time, not coverage. */
#define MAX_MAPPED_IMAGES 256

enum {
    F_SET_NAMES = 0x01,
    F_PREFIXED_PK = 0x02,
    F_SET_KIND = 0x04,
    F_CONNECTOR_ROW = 0x08,
    F_NO_SIGNEDNESS = 0x10,
    F_OTHER_TABLE = 0x20,
    F_EXTRA_COLUMN = 0x40,
    F_NO_BITMAP = 0x80,
};

static int strict;

static void must(int condition)
{
    if (!condition)
        __builtin_trap();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *s = getenv("FUZZ_STRICT");
    strict = s && *s && strcmp(s, "0") != 0;
    return 0;
}

/* ---- KNOWN BUGS: inputs that reach a reported product bug are stepped around unless strict
 *
 * binlog.c parse_column_metadata() computes r.p + r.pos for every column, also when the
 * map's metadata is NULL (length 0: a table of integers, DATE, YEAR... only), and NULL + 0
 * is undefined in C (UBSan: "applying zero offset to null pointer", binlog.c:220). The
 * connector points metadata into the event, never NULL; the unit tests pass NULL for
 * empty fields. The guard gives an empty, non-NULL block (malloc(0): ASan still sees any
 * byte read from it). */
static void step_around_null_metadata(struct st_mariadb_rpl_table_map_event *tm)
{
    if (strict || tm->metadata.str)
        return;
    tm->metadata.str = malloc(0);
}

/* ---- reading the input ---------------------------------------------------------- */

struct input {
    const uint8_t *p;
    size_t len, pos;
};

/* Up to want bytes at the cursor; *n says how many there were. */
static const uint8_t *take(struct input *in, size_t want, size_t *n)
{
    size_t left = in->len - in->pos;
    const uint8_t *s = in->p + in->pos;
    *n = want < left ? want : left;
    in->pos += *n;
    return s;
}

static unsigned get_u8(struct input *in)
{
    size_t n;
    const uint8_t *s = take(in, 1, &n);
    return n ? s[0] : 0;
}

static unsigned get_u16(struct input *in)
{
    unsigned lo = get_u8(in);
    return lo | get_u8(in) << 8;
}

/* An exact-size copy of n bytes; NULL when n is 0 (as the connector leaves absent fields). */
static void *dup_bytes(const void *s, size_t n)
{
    if (n == 0)
        return NULL;
    void *c = malloc(n);
    must(c != NULL);
    memcpy(c, s, n);
    return c;
}

/* want bytes exactly, zero-filled past the end of the input; NULL when want is 0. */
static unsigned char *take_exact(struct input *in, size_t want)
{
    if (want == 0)
        return NULL;
    unsigned char *c = calloc(1, want);
    size_t n;
    const uint8_t *s = take(in, want, &n);
    must(c != NULL);
    if (n)
        memcpy(c, s, n);
    return c;
}

static void take_string(struct input *in, MARIADB_STRING *out, size_t want)
{
    size_t n;
    const uint8_t *s = take(in, want, &n);
    out->str = dup_bytes(s, n);
    out->length = n;
}

static void take_data(struct input *in, MARIADB_CONST_DATA *out)
{
    size_t n;
    const uint8_t *s = take(in, get_u16(in), &n);
    out->data = dup_bytes(s, n);
    out->length = n;
}

/* Touches every byte a decoder said is there, so ASan sees any lie. */
static size_t touch(const void *s, size_t len)
{
    const unsigned char *p = s;
    size_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum += p[i];
    return sum;
}

/* ---- GTIDs ------------------------------------------------------------------------ */

static int same_pos(const struct binlog_gtid_pos *a, const struct binlog_gtid_pos *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (a->gtids[i].domain != b->gtids[i].domain || a->gtids[i].server != b->gtids[i].server ||
            a->gtids[i].seq != b->gtids[i].seq)
            return 0;
    return 1;
}

static void exercise_gtids(const uint8_t *s, size_t len)
{
    char *text = malloc(len + 1), err[256];
    struct binlog_gtid g, again;
    struct binlog_gtid_pos p, q;
    char one[BINLOG_GTID_BUFLEN];

    must(text != NULL);
    if (len)
        memcpy(text, s, len);
    text[len] = '\0';

    err[0] = '\0';
    if (binlog_gtid_parse(&g, text, err, sizeof err) == 0) {
        binlog_gtid_format(&g, one);
        must(binlog_gtid_parse(&again, one, err, sizeof err) == 0);
        must(again.domain == g.domain && again.server == g.server && again.seq == g.seq);
    } else {
        must(err[0] != '\0');
    }

    err[0] = '\0';
    if (binlog_gtid_pos_parse(&p, text, err, sizeof err) != 0) {
        must(err[0] != '\0' && p.n == 0 && p.gtids == NULL);
        free(text);
        return;
    }
    size_t cap = p.n * BINLOG_GTID_BUFLEN + 1;
    char *out = malloc(cap);
    must(out != NULL);
    must(binlog_gtid_pos_format(&p, out, cap, err, sizeof err) == 0);
    must(binlog_gtid_pos_parse(&q, out, err, sizeof err) == 0);
    must(same_pos(&p, &q));
    must(binlog_gtid_pos_le(&p, &q) && binlog_gtid_pos_le(&q, &p));
    for (size_t i = 0; i < p.n; i++) {
        must(i == 0 || p.gtids[i - 1].domain < p.gtids[i].domain);
        must(binlog_gtid_pos_covers(&p, &p.gtids[i]));
        must(binlog_gtid_pos_find(&p, p.gtids[i].domain) == &p.gtids[i]);
    }
    /* one byte short of the text: refused, out left empty */
    if (p.n > 0) {
        size_t need = strlen(out) + 1;
        must(binlog_gtid_pos_format(&p, out, need - 1, err, sizeof err) == -1 && out[0] == '\0');
    }
    /* a later GTID in a new domain and in the first one: q moves past p */
    struct binlog_gtid later = {p.n ? p.gtids[p.n - 1].domain + 1 : 0, 7, 1};
    if (later.domain != 0 || p.n == 0) {
        must(binlog_gtid_pos_update(&q, &later, err, sizeof err) == 0);
        must(binlog_gtid_pos_covers(&q, &later) && !binlog_gtid_pos_covers(&p, &later));
        must(binlog_gtid_pos_le(&p, &q));
    }
    if (p.n > 0 && p.gtids[0].seq < UINT64_MAX) {
        struct binlog_gtid next = p.gtids[0];
        next.seq++;
        must(binlog_gtid_pos_update(&q, &next, err, sizeof err) == 0);
        must(!binlog_gtid_pos_le(&q, &p) && binlog_gtid_pos_le(&p, &q));
    }
    free(out);
    binlog_gtid_pos_release(&q);
    binlog_gtid_pos_release(&p);
    must(p.n == 0 && p.gtids == NULL);
    free(text);
}

/* ---- the table map ----------------------------------------------------------------- */

/* The types binlog.c keeps a signedness bit for. */
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

static void read_table_map(struct input *in, unsigned flags, struct st_mariadb_rpl_table_map_event *tm)
{
    memset(tm, 0, sizeof *tm);
    tm->table_id = 42;
    tm->column_count = get_u16(in);
    take_string(in, &tm->column_types, tm->column_count);
    take_string(in, &tm->metadata, get_u16(in));
    step_around_null_metadata(tm);
    size_t numeric = 0;
    for (size_t i = 0; i < tm->column_types.length; i++)
        numeric += (size_t)is_numeric_type((unsigned char)tm->column_types.str[i]);
    tm->signed_indicator = take_exact(in, (numeric + 7) / 8);
    if (flags & F_NO_SIGNEDNESS) {
        free(tm->signed_indicator);
        tm->signed_indicator = NULL;
    }
    tm->null_indicator = take_exact(in, ((size_t)tm->column_count + 7) / 8);
    tm->default_charset = get_u16(in);
    take_data(in, &tm->column_names);
    take_data(in, &tm->column_charsets);
    take_data(in, &tm->enum_values);
    take_data(in, &tm->set_values);
    take_data(in, flags & F_PREFIXED_PK ? &tm->prefixed_primary_keys : &tm->simple_primary_keys);
    take_string(in, &tm->database, get_u8(in));
    take_string(in, &tm->table, get_u8(in));
}

static void free_table_map(struct st_mariadb_rpl_table_map_event *tm)
{
    free(tm->column_types.str);
    free(tm->metadata.str);
    free(tm->signed_indicator);
    free(tm->null_indicator);
    free((void *)tm->column_names.data);
    free((void *)tm->column_charsets.data);
    free((void *)tm->enum_values.data);
    free((void *)tm->set_values.data);
    free((void *)tm->simple_primary_keys.data);
    free((void *)tm->prefixed_primary_keys.data);
    free(tm->database.str);
    free(tm->table.str);
    memset(tm, 0, sizeof *tm);
}

static void check_table(const struct binlog_table *t)
{
    volatile size_t sink = strlen(t->database) + strlen(t->name);
    unsigned keys = 0;
    must(t->ncolumns >= 1 && t->ncolumns <= SCHEMA_MAX_COLUMNS && t->columns != NULL);
    for (uint32_t i = 0; i < t->ncolumns; i++) {
        const struct binlog_column *c = &t->columns[i];
        must(!t->has_names || c->name != NULL);
        if (c->name)
            sink += strlen(c->name);
        must(c->key <= t->nkey);
        keys += c->key > 0;
        must(c->fsp <= 6);
        for (uint32_t k = 0; c->labels && k < c->nlabels; k++) {
            must(strlen(c->labels[k]) <= c->label_lens[k]);
            sink += touch(c->labels[k], c->label_lens[k] + 1);
        }
    }
    must(keys == t->nkey);
    (void)sink;
}

/* The table's shape survives the state database and is the same as itself. */
static void exercise_schema(const struct binlog_table *t, const char *const *key_columns)
{
    struct schema_table s, back;
    char err[512] = "";
    if (binlog_table_schema(t, key_columns, &s, err, sizeof err) != 0) {
        must(err[0] != '\0' && s.ncolumns == 0);
        schema_table_release(&s);
        return;
    }
    must(s.ncolumns == t->ncolumns);
    must(schema_compare(&s, &s, NULL, NULL) == SCHEMA_SAME);
    json_t *j = schema_table_to_json(&s);
    must(j != NULL);
    must(schema_table_from_json(&back, j, err, sizeof err) == 0);
    must(schema_compare(&s, &back, NULL, NULL) == SCHEMA_SAME);
    json_decref(j);
    schema_table_release(&back);
    schema_table_release(&s);
}

/* ---- rows ------------------------------------------------------------------------ */

static void check_json(json_t *j, const char *err)
{
    if (!j) {
        must(err[0] != '\0');
        return;
    }
    must(json_is_object(j));
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | BINLOG_JSON_DUMP_FLAGS);
    must(text != NULL);
    free(text);
}

static void map_row(const struct binlog_table *t, const MARIADB_RPL_ROW *row,
                    const char *const *key_columns)
{
    char err[512];
    json_t *j;

    err[0] = '\0';
    j = binlog_row_to_json(t, row, err, sizeof err);
    check_json(j, err);
    if (j)
        must(json_object_size(j) == t->ncolumns);
    json_decref(j);

    err[0] = '\0';
    j = binlog_row_key_json(t, row, NULL, err, sizeof err);
    check_json(j, err);
    if (j)
        must(json_object_size(j) == t->nkey);
    json_decref(j);

    if (key_columns) {
        err[0] = '\0';
        j = binlog_row_key_json(t, row, key_columns, err, sizeof err);
        check_json(j, err);
        json_decref(j);
    }
}

static int is_text_type(unsigned type)
{
    switch (type) {
    case MYSQL_TYPE_STRING:
    case MYSQL_TYPE_VARCHAR:
    case MYSQL_TYPE_VAR_STRING:
    case MYSQL_TYPE_TINY_BLOB:
    case MYSQL_TYPE_MEDIUM_BLOB:
    case MYSQL_TYPE_LONG_BLOB:
    case MYSQL_TYPE_BLOB:
    case MYSQL_TYPE_JSON:
    case MYSQL_TYPE_GEOMETRY:
    case MYSQL_TYPE_BIT:
    case MYSQL_TYPE_NEWDECIMAL:
        return 1;
    default:
        return 0;
    }
}

static void check_rows(const struct binlog_table *t, const struct binlog_rows *r, int is_update,
                       const char *const *key_columns)
{
    size_t n = 0;
    volatile size_t sink = 0;
    for (const MARIADB_RPL_ROW *row = r->first; row; row = row->next, n++) {
        must(row->column_count == t->ncolumns && row->columns != NULL);
        for (uint32_t i = 0; i < t->ncolumns; i++) {
            const MARIADB_RPL_VALUE *v = &row->columns[i];
            unsigned type = t->columns[i].type;
            if (v->is_null || !is_text_type(type))
                continue;
            must(v->val.str.str != NULL);
            sink += touch(v->val.str.str, v->val.str.length);
            if (type == MYSQL_TYPE_NEWDECIMAL)
                must(v->val.str.str[v->val.str.length] == '\0');
        }
        if (n < MAX_MAPPED_IMAGES)
            map_row(t, row, key_columns);
    }
    must(n == r->nimages);
    must(!is_update || n % 2 == 0);
    (void)sink;
}

static const unsigned EVENT_TYPES[6] = {23, 24, 25, 30, 31, 32};

static unsigned event_number(unsigned b)
{
    for (size_t k = 0; k < 6; k++)
        if (b == EVENT_TYPES[k])
            return b;
    return b == 0xFF ? 0 : EVENT_TYPES[b % 6];
}

/* ---- values as Connector/C fills them ------------------------------------------------ */

/* One row of t with each column's value taken from in the way mariadb_rpl_extract_rows()
 * fills MARIADB_RPL_VALUE (binlog.h), not through binlog_rows.c: per column a control
 * byte (0x01 NULL, 0x02 a field_type byte follows), then the value: integers, YEAR,
 * ENUM and SET 8 bytes; FLOAT 4; DOUBLE 8; DECIMAL, BIT and strings u8 length and bytes
 * (each in its own block, DECIMAL NUL-terminated); dates and times year u16, month,
 * day, hour u16, minute, second, second_part u32, neg; TIMESTAMP second u32,
 * second_part u32. It reaches what binlog_rows.c never produces, such as the connector's
 * TIME2 encoding of negative values with a fraction. */
static MARIADB_RPL_ROW *connector_row(const struct binlog_table *t, struct input *in, char ***blocks)
{
    MARIADB_RPL_ROW *row = calloc(1, sizeof *row);
    MARIADB_RPL_VALUE *values = calloc(t->ncolumns, sizeof *values);
    char **owned = calloc(t->ncolumns, sizeof *owned);
    must(row && values && owned);
    row->column_count = t->ncolumns;
    row->columns = values;
    for (uint32_t i = 0; i < t->ncolumns; i++) {
        const struct binlog_column *c = &t->columns[i];
        MARIADB_RPL_VALUE *v = &values[i];
        unsigned ctl = get_u8(in);
        int enum_or_set = c->type == MYSQL_TYPE_ENUM || c->type == MYSQL_TYPE_SET;
        v->field_type = (enum enum_field_types)(enum_or_set ? c->type : c->binlog_type);
        if (c->binlog_type == MYSQL_TYPE_DATETIME2)
            v->field_type = MYSQL_TYPE_DATETIME;
        else if (c->binlog_type == MYSQL_TYPE_TIME2)
            v->field_type = MYSQL_TYPE_TIME;
        if (ctl & 0x02)
            v->field_type = (enum enum_field_types)get_u8(in);
        if (ctl & 0x01) {
            v->is_null = 1;
            continue;
        }
        switch (c->type) {
        case MYSQL_TYPE_TINY:
        case MYSQL_TYPE_SHORT:
        case MYSQL_TYPE_INT24:
        case MYSQL_TYPE_LONG:
        case MYSQL_TYPE_LONGLONG:
        case MYSQL_TYPE_YEAR:
        case MYSQL_TYPE_ENUM:
        case MYSQL_TYPE_SET:
            for (int k = 0; k < 8; k++)
                v->val.ull |= (uint64_t)get_u8(in) << (8 * k);
            break;
        case MYSQL_TYPE_FLOAT: {
            uint32_t bits = get_u16(in);
            bits |= (uint32_t)get_u16(in) << 16;
            memcpy(&v->val.f, &bits, sizeof bits);
            break;
        }
        case MYSQL_TYPE_DOUBLE: {
            uint64_t bits = 0;
            for (int k = 0; k < 8; k++)
                bits |= (uint64_t)get_u8(in) << (8 * k);
            memcpy(&v->val.d, &bits, sizeof bits);
            break;
        }
        case MYSQL_TYPE_DATE:
        case MYSQL_TYPE_NEWDATE:
        case MYSQL_TYPE_DATETIME:
        case MYSQL_TYPE_DATETIME2:
        case MYSQL_TYPE_TIME:
        case MYSQL_TYPE_TIME2: {
            MYSQL_TIME *tm = &v->val.tm;
            tm->year = get_u16(in);
            tm->month = get_u8(in);
            tm->day = get_u8(in);
            tm->hour = get_u16(in);
            tm->minute = get_u8(in);
            tm->second = get_u8(in);
            tm->second_part = get_u16(in);
            tm->second_part |= (unsigned long)get_u16(in) << 16;
            tm->neg = (my_bool)(get_u8(in) & 1);
            break;
        }
        case MYSQL_TYPE_TIMESTAMP:
        case MYSQL_TYPE_TIMESTAMP2:
            v->val.ts.second = get_u16(in);
            v->val.ts.second |= (uint32_t)get_u16(in) << 16;
            v->val.ts.second_part = get_u16(in);
            v->val.ts.second_part |= (uint32_t)get_u16(in) << 16;
            break;
        default:
            if (is_text_type(c->type)) {
                size_t n;
                const uint8_t *s = take(in, get_u8(in), &n);
                int nul = c->type == MYSQL_TYPE_NEWDECIMAL;
                owned[i] = malloc(n + (size_t)nul + (n + (size_t)nul == 0));
                must(owned[i] != NULL);
                if (n)
                    memcpy(owned[i], s, n);
                if (nul)
                    owned[i][n] = '\0';
                v->val.str.str = owned[i];
                v->val.str.length = n;
            }
            break;
        }
    }
    *blocks = owned;
    return row;
}

static void free_connector_row(const struct binlog_table *t, MARIADB_RPL_ROW *row, char **blocks)
{
    for (uint32_t i = 0; i < t->ncolumns; i++)
        free(blocks[i]);
    free(blocks);
    free(row->columns);
    free(row);
}

/* ---- one input --------------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size, 0};
    struct st_mariadb_rpl_table_map_event tm;
    struct st_mariadb_rpl_rows_event ev;
    struct binlog_table t;
    struct binlog_rows r;
    char err[512];
    size_t n;

    unsigned flags = get_u8(&in);
    const uint8_t *gtid = take(&in, get_u8(&in), &n);
    exercise_gtids(gtid, n);

    read_table_map(&in, flags, &tm);
    err[0] = '\0';
    int ok = binlog_table_init(&t, &tm, err, sizeof err) == 0;
    free_table_map(&tm);  /* the table keeps copies */
    if (!ok) {
        must(err[0] != '\0' && t.columns == NULL && t.ncolumns == 0);
        binlog_table_release(&t);
        return 0;
    }
    check_table(&t);

    if (!t.has_names && (flags & F_SET_NAMES)) {
        char **names = calloc(t.ncolumns, sizeof *names);
        must(names != NULL);
        for (uint32_t i = 0; i < t.ncolumns; i++) {
            names[i] = malloc(16);
            must(names[i] != NULL);
            snprintf(names[i], 16, "c%" PRIu32, i + 1);
        }
        must(binlog_table_set_names(&t, (const char *const *)names, t.ncolumns, err,
                                    sizeof err) == 0);
        for (uint32_t i = 0; i < t.ncolumns; i++)
            free(names[i]);
        free(names);
        must(t.has_names);
    }
    unsigned kind_column = get_u8(&in) % t.ncolumns, kind = get_u8(&in) % 4;
    if ((flags & F_SET_KIND) && t.columns[kind_column].name) {
        err[0] = '\0';
        if (binlog_table_set_kind(&t, t.columns[kind_column].name, (enum binlog_kind)kind, err,
                                  sizeof err) != 0)
            must(err[0] != '\0');
    }
    /* an explicit key: the kind column, then the last one */
    const char *key_columns[3] = {t.columns[kind_column].name, t.columns[t.ncolumns - 1].name,
                                  NULL};
    const char *const *keys = key_columns[0] && key_columns[1] ? key_columns : NULL;
    exercise_schema(&t, NULL);
    if (keys)
        exercise_schema(&t, keys);

    /* the rows event */
    memset(&ev, 0, sizeof ev);
    unsigned number = event_number(get_u8(&in));
    ev.type = number == 0 ? (enum mariadb_row_event_type)3
              : number == 23 || number == 30 ? WRITE_ROWS
              : number == 24 || number == 31 ? UPDATE_ROWS
                                             : DELETE_ROWS;
    ev.table_id = flags & F_OTHER_TABLE ? t.table_id + 1 : t.table_id;
    ev.column_count = t.ncolumns + (flags & F_EXTRA_COLUMN ? 1 : 0);
    size_t bitmap_len = ((size_t)ev.column_count + 7) / 8;
    ev.column_bitmap = take_exact(&in, bitmap_len);
    if (flags & F_NO_BITMAP) {
        free(ev.column_bitmap);
        ev.column_bitmap = NULL;
    }
    if (number == 24)
        ev.column_update_bitmap = take_exact(&in, bitmap_len);
    size_t row_start = in.pos;
    const uint8_t *rows = take(&in, in.len - in.pos, &n);
    ev.row_data = dup_bytes(rows, n);
    ev.row_data_size = n;

    err[0] = '\0';
    ok = binlog_rows_init(&r, &t, &ev, err, sizeof err) == 0;
    free(ev.column_bitmap);  /* the rows do not point into the event */
    free(ev.column_update_bitmap);
    free(ev.row_data);
    if (ok) {
        check_rows(&t, &r, ev.type == UPDATE_ROWS, keys);
    } else {
        must(err[0] != '\0' && r.first == NULL && r.nimages == 0 && r.blocks == NULL);
    }
    binlog_rows_release(&r);
    must(r.first == NULL && r.blocks == NULL);

    if (flags & F_CONNECTOR_ROW) {
        char **blocks;
        in.pos = row_start;
        MARIADB_RPL_ROW *row = connector_row(&t, &in, &blocks);
        map_row(&t, row, keys);
        free_connector_row(&t, row, blocks);
    }

    binlog_table_release(&t);
    must(t.columns == NULL && t.database == NULL && t.name == NULL);
    return 0;
}
