/* test_binlog_rows.c — the rows part of WRITE/UPDATE/DELETE_ROWS events decoded by
 * binlog_rows.c: table maps and row bytes built by hand the way a MariaDB 10.11 server
 * writes them (CHAR(4) and CHAR(255) in utf8mb4, ENUM/SET, every other type, NULLs,
 * UPDATE before/after images in v1 and v2 form, partial images), the values compared
 * with what Connector/C fills and mapped through binlog_row_to_json(), and row data cut
 * at every byte or made of random bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binlog_rows.h"

/* ---- table maps ------------------------------------------------------------------ */

#define UTF8MB4 45
#define BINARY 63

struct col {
    const char *name;
    unsigned type;
    unsigned m0, m1;
    int is_unsigned;
    int collation;          /* 0: utf8mb4 for character columns */
    const char *labels;     /* "a|b|c" for ENUM and SET */
    unsigned pk;
};

#define INT(n) {.name = n, .type = MYSQL_TYPE_LONG}
#define TINYINT(n) {.name = n, .type = MYSQL_TYPE_TINY}
#define TINYINT_U(n) {.name = n, .type = MYSQL_TYPE_TINY, .is_unsigned = 1}
#define SMALLINT(n) {.name = n, .type = MYSQL_TYPE_SHORT}
#define MEDIUMINT(n) {.name = n, .type = MYSQL_TYPE_INT24}
#define BIGINT_U(n) {.name = n, .type = MYSQL_TYPE_LONGLONG, .is_unsigned = 1}
#define DECIMAL(n, p, s) {.name = n, .type = MYSQL_TYPE_NEWDECIMAL, .m0 = p, .m1 = s}
#define FLOAT(n) {.name = n, .type = MYSQL_TYPE_FLOAT, .m0 = 4}
#define DOUBLE(n) {.name = n, .type = MYSQL_TYPE_DOUBLE, .m0 = 8}
#define BIT(n, bits) {.name = n, .type = MYSQL_TYPE_BIT, .m0 = (bits) % 8, .m1 = (bits) / 8}
#define YEAR(n) {.name = n, .type = MYSQL_TYPE_YEAR}
#define DATE(n) {.name = n, .type = MYSQL_TYPE_DATE}
#define DATETIME(n, fsp) {.name = n, .type = MYSQL_TYPE_DATETIME2, .m0 = fsp}
#define TIMESTAMP(n, fsp) {.name = n, .type = MYSQL_TYPE_TIMESTAMP2, .m0 = fsp}
#define TIME(n, fsp) {.name = n, .type = MYSQL_TYPE_TIME2, .m0 = fsp}
#define VARCHAR(n, bytes) {.name = n, .type = MYSQL_TYPE_VARCHAR, .m0 = (bytes) & 0xff, .m1 = (bytes) >> 8}
/* CHAR/BINARY of len bytes: the real type's byte keeps bits 8-9 of the length, inverted
 * (what the server writes, MySQL bug #37426) */
#define CHARB(n, len) {.name = n, .type = MYSQL_TYPE_STRING, .m0 = 0xfe ^ (((len) & 0x300) >> 4), .m1 = (len) & 0xff}
#define BINARYCOL(n, len) {.name = n, .type = MYSQL_TYPE_STRING, .m0 = 0xfe, .m1 = len, .collation = BINARY}
#define TEXT(n) {.name = n, .type = MYSQL_TYPE_BLOB, .m0 = 2}
#define LONGBLOB(n) {.name = n, .type = MYSQL_TYPE_BLOB, .m0 = 4, .collation = BINARY}
#define ENUM(n, bytes, l) {.name = n, .type = MYSQL_TYPE_STRING, .m0 = MYSQL_TYPE_ENUM, .m1 = bytes, .labels = l}
#define SET(n, bytes, l) {.name = n, .type = MYSQL_TYPE_STRING, .m0 = MYSQL_TYPE_SET, .m1 = bytes, .labels = l}
#define PK_INT(n) {.name = n, .type = MYSQL_TYPE_LONG, .pk = 1}
#define PK_CHARB(n, len) {.name = n, .type = MYSQL_TYPE_STRING, .m0 = 0xfe ^ (((len) & 0x300) >> 4), .m1 = (len) & 0xff, .pk = 1}
#define NCOLS(...) (sizeof((const struct col[]){__VA_ARGS__}) / sizeof(struct col))
#define COLS(...) (const struct col[]){__VA_ARGS__}, NCOLS(__VA_ARGS__)

struct buf {
    unsigned char *b;
    size_t n, cap;
};

static void put_bytes(struct buf *b, const void *s, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->b = realloc(b->b, b->cap);
        assert_non_null(b->b);
    }
    if (n)
        memcpy(b->b + b->n, s, n);
    b->n += n;
}

static void put(struct buf *b, unsigned v)
{
    unsigned char c = (unsigned char)v;
    put_bytes(b, &c, 1);
}

static void put_le(struct buf *b, uint64_t v, unsigned n)
{
    for (unsigned k = 0; k < n; k++)
        put(b, (unsigned)(v >> (8 * k)) & 0xff);
}

static void put_lenenc(struct buf *b, uint64_t v)
{
    if (v < 251) {
        put(b, (unsigned)v);
    } else {
        put(b, 0xfc);
        put_le(b, v, 2);
    }
}

static void put_str(struct buf *b, const char *s, size_t len)
{
    put_lenenc(b, len);
    put_bytes(b, s, len);
}

static void put_labels(struct buf *b, const char *labels)
{
    size_t n = 1;
    for (const char *p = labels; *p; p++)
        n += *p == '|';
    put_lenenc(b, n);
    const char *s = labels;
    for (size_t k = 0; k < n; k++) {
        const char *bar = strchr(s, '|');
        size_t len = bar ? (size_t)(bar - s) : strlen(s);
        put_str(b, s, len);
        s += len + 1;
    }
}

static int meta_bytes(unsigned type)
{
    switch (type) {
    case MYSQL_TYPE_FLOAT: case MYSQL_TYPE_DOUBLE: case MYSQL_TYPE_BLOB:
    case MYSQL_TYPE_TIMESTAMP2: case MYSQL_TYPE_DATETIME2: case MYSQL_TYPE_TIME2:
        return 1;
    case MYSQL_TYPE_VARCHAR: case MYSQL_TYPE_STRING: case MYSQL_TYPE_NEWDECIMAL:
    case MYSQL_TYPE_BIT:
        return 2;
    default:
        return 0;
    }
}

static int is_numeric(unsigned type)
{
    return type == MYSQL_TYPE_TINY || type == MYSQL_TYPE_SHORT || type == MYSQL_TYPE_INT24 ||
           type == MYSQL_TYPE_LONG || type == MYSQL_TYPE_LONGLONG ||
           type == MYSQL_TYPE_NEWDECIMAL || type == MYSQL_TYPE_FLOAT || type == MYSQL_TYPE_DOUBLE;
}

static int is_character(const struct col *c)
{
    if (c->type == MYSQL_TYPE_STRING)
        return c->m0 != MYSQL_TYPE_ENUM && c->m0 != MYSQL_TYPE_SET;
    return c->type == MYSQL_TYPE_VARCHAR || c->type == MYSQL_TYPE_BLOB;
}

/* Every field of a TABLE_MAP in its own exact-size allocation, as binlog_table_init()
 * reads it; the table keeps copies, so they are freed right after. */
static void *dup_bytes(const void *s, size_t n)
{
    if (n == 0)
        return NULL;
    void *p = malloc(n);
    assert_non_null(p);
    memcpy(p, s, n);
    return p;
}

static void table_of(struct binlog_table *t, const struct col *cols, size_t n)
{
    struct buf types = {0}, meta = {0}, names = {0}, charsets = {0}, enums = {0}, sets = {0},
               pk = {0};
    unsigned char signedness[512] = {0};
    size_t numeric = 0;
    for (size_t i = 0; i < n; i++) {
        const struct col *c = &cols[i];
        put(&types, c->type);
        if (meta_bytes(c->type) >= 1)
            put(&meta, c->m0);
        if (meta_bytes(c->type) >= 2)
            put(&meta, c->m1);
        if (is_numeric(c->type)) {
            if (c->is_unsigned)
                signedness[numeric / 8] |= (unsigned char)(0x80 >> (numeric % 8));
            numeric++;
        }
        put_str(&names, c->name, strlen(c->name));
        if (is_character(c))
            put_lenenc(&charsets, c->collation ? (unsigned)c->collation : UTF8MB4);
        if (c->labels)
            put_labels(c->m0 == MYSQL_TYPE_ENUM ? &enums : &sets, c->labels);
    }
    for (unsigned k = 1; k <= n; k++)
        for (size_t i = 0; i < n; i++)
            if (cols[i].pk == k)
                put_lenenc(&pk, i);
    struct st_mariadb_rpl_table_map_event tm;
    memset(&tm, 0, sizeof tm);
    tm.table_id = 42;
    tm.database.str = dup_bytes("shop", 4);
    tm.database.length = 4;
    tm.table.str = dup_bytes("stock", 5);
    tm.table.length = 5;
    tm.column_count = (uint32_t)n;
    tm.column_types.str = dup_bytes(types.b, types.n);
    tm.column_types.length = types.n;
    tm.metadata.str = dup_bytes(meta.b, meta.n);
    tm.metadata.length = meta.n;
    tm.signed_indicator = numeric ? dup_bytes(signedness, (numeric + 7) / 8) : NULL;
    tm.column_charsets.data = dup_bytes(charsets.b, charsets.n);
    tm.column_charsets.length = charsets.n;
    tm.column_names.data = dup_bytes(names.b, names.n);
    tm.column_names.length = names.n;
    tm.enum_values.data = dup_bytes(enums.b, enums.n);
    tm.enum_values.length = enums.n;
    tm.set_values.data = dup_bytes(sets.b, sets.n);
    tm.set_values.length = sets.n;
    tm.simple_primary_keys.data = dup_bytes(pk.b, pk.n);
    tm.simple_primary_keys.length = pk.n;
    char err[256];
    if (binlog_table_init(t, &tm, err, sizeof err) != 0)
        fail_msg("table map refused: %s", err);
    free(tm.database.str);
    free(tm.table.str);
    free(tm.column_types.str);
    free(tm.metadata.str);
    free(tm.signed_indicator);
    free((void *)tm.column_charsets.data);
    free((void *)tm.column_names.data);
    free((void *)tm.enum_values.data);
    free((void *)tm.set_values.data);
    free((void *)tm.simple_primary_keys.data);
    free(types.b);
    free(meta.b);
    free(names.b);
    free(charsets.b);
    free(enums.b);
    free(sets.b);
    free(pk.b);
}

/* ---- rows events ----------------------------------------------------------------- */

/* A rows event as mariadb_rpl_fetch() fills it, every part in an exact-size
 * allocation so that ASan sees any read past it. */
struct event {
    struct st_mariadb_rpl_rows_event ev;
};

/* Every column present (filled in main()). */
static unsigned char ALL[512];

static void event_init(struct event *e, enum mariadb_row_event_type type, uint32_t ncolumns,
                       const unsigned char *bitmap, const unsigned char *update_bitmap,
                       const void *data, size_t len)
{
    memset(e, 0, sizeof *e);
    e->ev.type = type;
    e->ev.table_id = 42;
    e->ev.column_count = ncolumns;
    e->ev.column_bitmap = dup_bytes(bitmap ? bitmap : ALL, (ncolumns + 7) / 8);
    if (update_bitmap)
        e->ev.column_update_bitmap = dup_bytes(update_bitmap, (ncolumns + 7) / 8);
    e->ev.row_data = dup_bytes(data, len);
    e->ev.row_data_size = len;
}

static void event_release(struct event *e)
{
    free(e->ev.column_bitmap);
    free(e->ev.column_update_bitmap);
    free(e->ev.row_data);
    memset(e, 0, sizeof *e);
}

/* A string literal's bytes, embedded NULs included. */
#define B(lit) (const unsigned char *)(lit), (sizeof(lit) - 1)
#define BM(lit) ((const unsigned char *)(lit))

static char *dump(const json_t *j)
{
    char *s = json_dumps(j, BINLOG_JSON_DUMP_FLAGS | JSON_SORT_KEYS | JSON_COMPACT |
                                JSON_ENCODE_ANY);
    assert_non_null(s);
    return s;
}

static void assert_row_json(const struct binlog_table *t, const MARIADB_RPL_ROW *row,
                            const char *expected)
{
    char err[300];
    assert_non_null(row);
    json_t *j = binlog_row_to_json(t, row, err, sizeof err);
    if (!j)
        fail_msg("row does not map: %s", err);
    char *s = dump(j);
    if (strcmp(s, expected) != 0)
        fail_msg("got %s\nexpected %s", s, expected);
    free(s);
    json_decref(j);
}

static void assert_err_has(const char *err, const char *part)
{
    if (!strstr(err, part))
        fail_msg("error \"%s\" does not mention \"%s\"", err, part);
}

/* Decodes and expects success; the event is freed at once, so every row must live in r. */
static void decode(struct binlog_rows *r, const struct binlog_table *t, struct event *e)
{
    char err[300] = "";
    if (binlog_rows_init(r, t, &e->ev, err, sizeof err) != 0)
        fail_msg("rows refused: %s", err);
    event_release(e);
}

static void decode_fails(const struct binlog_table *t, struct event *e, const char *part1,
                         const char *part2)
{
    struct binlog_rows r;
    char err[300] = "";
    if (binlog_rows_init(&r, t, &e->ev, err, sizeof err) == 0)
        fail_msg("rows decoded (%zu images), expected an error about %s", r.nimages, part1);
    assert_null(r.first);
    assert_int_equal(r.nimages, 0);
    assert_err_has(err, part1);
    if (part2)
        assert_err_has(err, part2);
    binlog_rows_release(&r);
    event_release(e);
}

static const MARIADB_RPL_ROW *image(const struct binlog_rows *r, size_t k)
{
    const MARIADB_RPL_ROW *row = r->first;
    for (size_t i = 0; i < k && row; i++)
        row = row->next;
    assert_non_null(row);
    return row;
}

/* ---- every type --------------------------------------------------------------------- */

#define EVERY_TYPE                                                                          \
    PK_INT("id"), TINYINT("ti"), TINYINT_U("tiu"), SMALLINT("si"), MEDIUMINT("mi"),        \
        BIGINT_U("bi"), DECIMAL("d", 10, 2), FLOAT("f"), DOUBLE("db"), BIT("bt", 10),       \
        YEAR("yr"), DATE("dt"), DATETIME("dt3", 3), TIMESTAMP("ts2", 2), TIME("tm", 0),     \
        TIME("tm6", 6), VARCHAR("vc", 256), VARCHAR("vs", 40), CHARB("loc", 16), TEXT("txt"), \
        LONGBLOB("lb"), ENUM("st", 1, "new|open|closed"), SET("tags", 1, "a|b|c"), INT("n")

/* One row of EVERY_TYPE as a 10.11 server writes it; its last column is NULL. */
static const unsigned char EVERY_ROW[] =
    "\x00\x00\x80"                         /* NULL bitmap: column 24 (n) */
    "\x07\x00\x00\x00"                     /* id 7 */
    "\x80"                                 /* ti -128 */
    "\xff"                                 /* tiu 255 */
    "\xfe\xff"                             /* si -2 */
    "\x00\x00\x80"                         /* mi -8388608 */
    "\xff\xff\xff\xff\xff\xff\xff\xff"     /* bi 18446744073709551615 */
    "\x80\x00\x00\x13\x63"                 /* d 19.99 */
    "\xcd\xcc\xcc\x3d"                     /* f 0.1 */
    "\x9a\x99\x99\x99\x99\x99\xb9\x3f"     /* db 0.1 */
    "\x02\xaa"                             /* bt b'1010101010' */
    "\x7c"                                 /* yr 2024 */
    "\x78\xd5\x0f"                         /* dt 2026-11-24 */
    "\x99\xbb\x70\xa0\x00\x04\xce"         /* dt3 2026-11-24 10:00:00.123 */
    "\x6b\x05\x60\x20\x32"                 /* ts2 1795514400.50 */
    "\xb4\x6e\xfb"                         /* tm 838:59:59 */
    "\x7f\xff\xfe\xf8\x5e\xe0"             /* tm6 -00:00:01.500000 */
    "\x06\x00h\xc3\xa9llo"                 /* vc 'héllo', two length bytes (256 max) */
    "\x00"                                 /* vs '' */
    "\x03L01"                              /* loc CHAR(4) 'L01' */
    "\x02\x00ok"                           /* txt 'ok' */
    "\x02\x00\x00\x00\x00\xff"             /* lb x'00ff' */
    "\x02"                                 /* st 'open' */
    "\x05";                                /* tags 'a,c' */

#define EVERY_JSON                                                                          \
    "{\"bi\":\"18446744073709551615\",\"bt\":682,\"d\":19.99,\"db\":0.1,\"dt\":\"2026-11-24\"," \
    "\"dt3\":\"2026-11-24T10:00:00.123\",\"f\":0.1,\"id\":7,\"lb\":\"AP8=\",\"loc\":\"L01\","   \
    "\"mi\":-8388608,\"n\":null,\"si\":-2,\"st\":\"open\",\"tags\":[\"a\",\"c\"],\"ti\":-128,"  \
    "\"tiu\":255,\"tm\":\"838:59:59\",\"tm6\":\"-00:00:01.500000\","                         \
    "\"ts2\":\"2026-11-24T10:00:00.50Z\",\"txt\":\"ok\",\"vc\":\"h\xc3\xa9llo\",\"vs\":\"\","  \
    "\"yr\":2024}"

static void test_every_type_as_the_connector_fills_it(void **state)
{
    (void)state;
    struct binlog_table t;
    struct binlog_rows r;
    struct event e;
    table_of(&t, COLS(EVERY_TYPE));
    assert_int_equal(t.ncolumns, 24);
    event_init(&e, WRITE_ROWS, 24, NULL, NULL, B(EVERY_ROW));
    decode(&r, &t, &e);
    assert_int_equal(r.nimages, 1);
    assert_int_equal(r.nabsent, 0);
    const MARIADB_RPL_ROW *row = r.first;
    assert_null(row->next);
    assert_int_equal(row->column_count, 24);
    const MARIADB_RPL_VALUE *v = row->columns;

    /* integers zero-extended, never is_signed */
    assert_int_equal(v[0].field_type, MYSQL_TYPE_LONG);
    assert_int_equal(v[0].val.ull, 7);
    assert_int_equal(v[1].val.ull, 0x80);
    assert_int_equal(v[2].val.ull, 0xff);
    assert_int_equal(v[3].val.ull, 0xfffe);
    assert_int_equal(v[4].val.ull, 0x800000);
    assert_true(v[5].val.ull == UINT64_MAX);
    for (int i = 0; i < 24; i++)
        assert_int_equal(v[i].is_signed, 0);
    assert_int_equal(v[6].field_type, MYSQL_TYPE_NEWDECIMAL);
    assert_int_equal(v[6].val.str.length, 5);
    assert_memory_equal(v[6].val.str.str, "19.99", 5);
    assert_true(v[7].val.f == 0.1f);
    assert_true(v[8].val.d == 0.1);
    assert_int_equal(v[9].val.str.length, 2);
    assert_memory_equal(v[9].val.str.str, "\x02\xaa", 2);
    assert_int_equal(v[10].val.ull, 2024);
    assert_int_equal(v[11].field_type, MYSQL_TYPE_DATE);
    assert_int_equal(v[11].val.tm.year, 2026);
    assert_int_equal(v[11].val.tm.month, 11);
    assert_int_equal(v[11].val.tm.day, 24);
    /* DATETIME2 arrives as DATETIME, TIME2 as TIME, TIMESTAMP2 stays */
    assert_int_equal(v[12].field_type, MYSQL_TYPE_DATETIME);
    assert_int_equal(v[12].val.tm.hour, 10);
    assert_int_equal(v[12].val.tm.second_part, 123000);
    assert_int_equal(v[13].field_type, MYSQL_TYPE_TIMESTAMP2);
    assert_int_equal(v[13].val.ts.second, 1795514400);
    assert_int_equal(v[13].val.ts.second_part, 500000);
    assert_int_equal(v[14].field_type, MYSQL_TYPE_TIME);
    assert_int_equal(v[14].val.tm.hour, 838);
    assert_int_equal(v[14].val.tm.neg, 0);
    /* a negative TIME with a fraction comes out right, not in its on-disk form */
    assert_int_equal(v[15].val.tm.neg, 1);
    assert_int_equal(v[15].val.tm.second, 1);
    assert_int_equal(v[15].val.tm.second_part, 500000);
    assert_int_equal(v[16].field_type, MYSQL_TYPE_VARCHAR);
    assert_int_equal(v[16].val.str.length, 6);
    assert_int_equal(v[17].val.str.length, 0);
    assert_non_null(v[17].val.str.str);
    /* CHAR without its length byte */
    assert_int_equal(v[18].field_type, MYSQL_TYPE_STRING);
    assert_int_equal(v[18].val.str.length, 3);
    assert_memory_equal(v[18].val.str.str, "L01", 3);
    /* BLOBs named by their length bytes */
    assert_int_equal(v[19].field_type, MYSQL_TYPE_BLOB);
    assert_int_equal(v[20].field_type, MYSQL_TYPE_LONG_BLOB);
    assert_int_equal(v[21].field_type, MYSQL_TYPE_ENUM);
    assert_int_equal(v[21].val.ull, 2);
    assert_int_equal(v[22].field_type, MYSQL_TYPE_SET);
    assert_int_equal(v[22].val.ull, 5);
    assert_int_equal(v[23].is_null, 1);
    assert_int_equal(v[23].field_type, MYSQL_TYPE_LONG);

    assert_row_json(&t, row, EVERY_JSON);
    char err[300];
    json_t *key = binlog_row_key_json(&t, row, NULL, err, sizeof err);
    assert_non_null(key);
    char *s = dump(key);
    assert_string_equal(s, "{\"id\":7}");
    free(s);
    json_decref(key);
    binlog_rows_release(&r);
    assert_null(r.first);
    binlog_rows_release(&r);  /* twice is harmless */
    binlog_table_release(&t);
}

/* NULL values of every type: only the NULL bitmap, three bytes for 24 columns. NULL
 * ENUM/SET values are named by their real type, NULL BLOB and DATETIME2 keep the map's. */
static void test_nulls_across_bitmap_bytes(void **state)
{
    (void)state;
    struct binlog_table t;
    struct binlog_rows r;
    struct event e;
    table_of(&t, COLS(EVERY_TYPE));
    event_init(&e, WRITE_ROWS, 24, NULL, NULL, B("\xfe\xff\xff\x09\x00\x00\x00"));
    decode(&r, &t, &e);
    const MARIADB_RPL_VALUE *v = r.first->columns;
    assert_int_equal(v[0].is_null, 0);
    assert_int_equal(v[0].val.ull, 9);
    for (int i = 1; i < 24; i++)
        assert_int_equal(v[i].is_null, 1);
    assert_int_equal(v[12].field_type, MYSQL_TYPE_DATETIME2);
    assert_int_equal(v[19].field_type, MYSQL_TYPE_BLOB);
    assert_int_equal(v[21].field_type, MYSQL_TYPE_ENUM);
    assert_int_equal(v[22].field_type, MYSQL_TYPE_SET);
    assert_row_json(&t, r.first,
                    "{\"bi\":null,\"bt\":null,\"d\":null,\"db\":null,\"dt\":null,\"dt3\":null,"
                    "\"f\":null,\"id\":9,\"lb\":null,\"loc\":null,\"mi\":null,\"n\":null,"
                    "\"si\":null,\"st\":null,\"tags\":null,\"ti\":null,\"tiu\":null,"
                    "\"tm\":null,\"tm6\":null,\"ts2\":null,\"txt\":null,\"vc\":null,"
                    "\"vs\":null,\"yr\":null}");
    binlog_rows_release(&r);
    binlog_table_release(&t);
}

/* ---- CHAR ----------------------------------------------------------------------------- */

/* CHAR(4) holds 16 bytes in utf8mb4 (one length byte), CHAR(63) 252, CHAR(64) 256 (two
 * length bytes), CHAR(255) 1020: its length needs the bits kept in the type byte. */
static void test_char_columns_of_every_width(void **state)
{
    (void)state;
    struct binlog_table t;
    struct binlog_rows r;
    struct event e;
    table_of(&t, COLS(PK_CHARB("loc", 16), CHARB("wide", 1020), BINARYCOL("code", 4),
                      CHARB("c63", 252), CHARB("c64", 256), INT("qty")));
    assert_int_equal(t.columns[1].length, 1020);
    assert_int_equal(t.columns[4].length, 256);

    struct buf row = {0};
    put(&row, 0x00);                         /* NULL bitmap */
    put_bytes(&row, "\x03L01", 4);
    put_le(&row, 1020, 2);                   /* 255 four-byte characters */
    for (int k = 0; k < 255; k++)
        put_bytes(&row, "\xf0\x9f\x98\x80", 4);
    put_bytes(&row, "\x02\x01\x02", 3);      /* BINARY(4) x'01020000': zeros stripped */
    put_bytes(&row, "\x01x", 2);
    put_bytes(&row, "\x02\x00yz", 4);
    put_le(&row, 12, 4);
    /* a second row: 'A', 300 bytes of 'é' in CHAR(255), empty strings */
    put(&row, 0x00);
    put_bytes(&row, "\x01" "A", 2);
    put_le(&row, 300, 2);
    for (int k = 0; k < 150; k++)
        put_bytes(&row, "\xc3\xa9", 2);
    put_bytes(&row, "\x00\x00\x00\x00", 4);
    put_le(&row, 0, 4);
    event_init(&e, WRITE_ROWS, 6, NULL, NULL, row.b, row.n);
    decode(&r, &t, &e);
    assert_int_equal(r.nimages, 2);
    const MARIADB_RPL_VALUE *v = image(&r, 0)->columns;
    assert_int_equal(v[0].val.str.length, 3);
    assert_memory_equal(v[0].val.str.str, "L01", 3);
    assert_int_equal(v[1].val.str.length, 1020);
    assert_memory_equal(v[1].val.str.str + 1016, "\xf0\x9f\x98\x80", 4);
    assert_int_equal(v[2].val.str.length, 2);
    assert_int_equal(v[3].val.str.length, 1);
    assert_int_equal(v[4].val.str.length, 2);
    assert_memory_equal(v[4].val.str.str, "yz", 2);
    assert_int_equal(v[5].val.ull, 12);

    char *wide = malloc(1020 * 2 + 64);
    assert_non_null(wide);
    char *expected = malloc(4096);
    assert_non_null(expected);
    wide[0] = '\0';
    for (int k = 0; k < 255; k++)
        strcat(wide, "\xf0\x9f\x98\x80");
    snprintf(expected, 4096,
             "{\"c63\":\"x\",\"c64\":\"yz\",\"code\":\"AQI=\",\"loc\":\"L01\",\"qty\":12,"
             "\"wide\":\"%s\"}", wide);
    assert_row_json(&t, image(&r, 0), expected);
    wide[0] = '\0';
    for (int k = 0; k < 150; k++)
        strcat(wide, "\xc3\xa9");
    snprintf(expected, 4096,
             "{\"c63\":\"\",\"c64\":\"\",\"code\":\"\",\"loc\":\"A\",\"qty\":0,\"wide\":\"%s\"}",
             wide);
    assert_row_json(&t, image(&r, 1), expected);
    free(wide);
    free(expected);
    free(row.b);
    binlog_rows_release(&r);
    binlog_table_release(&t);
}

/* ---- ENUM and SET ----------------------------------------------------------------- */

static char *labels(const char *prefix, int n)
{
    char *s = malloc((size_t)n * 8 + 1);
    assert_non_null(s);
    s[0] = '\0';
    for (int k = 1; k <= n; k++)
        sprintf(s + strlen(s), "%s%s%d", k > 1 ? "|" : "", prefix, k);
    return s;
}

static void test_enum_and_set_values(void **state)
{
    (void)state;
    struct binlog_table t;
    struct binlog_rows r;
    struct event e;
    char *e300 = labels("e", 300), *s64 = labels("s", 64);
    struct col cols[] = {PK_INT("id"), ENUM("st", 1, "new|open|closed"), ENUM("big", 2, e300),
                         SET("tags", 1, "a|b|c"), SET("many", 8, s64), CHARB("loc", 16)};
    table_of(&t, cols, 6);
    event_init(&e, WRITE_ROWS, 6, NULL, NULL,
               B("\x00" "\x01\x00\x00\x00" "\x03" "\x2c\x01" "\x07"
                 "\x01\x00\x00\x00\x00\x00\x00\x80" "\x03L02"
                 /* invalid ENUM input stored as index 0, empty SET, NULL ENUM and SET */
                 "\x12" "\x02\x00\x00\x00" "\x00\x00" "\x00" "\x00"));
    decode(&r, &t, &e);
    assert_int_equal(r.nimages, 2);
    const MARIADB_RPL_VALUE *v = image(&r, 0)->columns;
    assert_int_equal(v[1].field_type, MYSQL_TYPE_ENUM);
    assert_int_equal(v[1].val.ull, 3);
    assert_int_equal(v[2].val.ull, 300);
    assert_int_equal(v[3].field_type, MYSQL_TYPE_SET);
    assert_int_equal(v[3].val.ull, 7);
    assert_true(v[4].val.ull == ((UINT64_C(1) << 63) | 1));
    assert_row_json(&t, image(&r, 0),
                    "{\"big\":\"e300\",\"id\":1,\"loc\":\"L02\",\"many\":[\"s1\",\"s64\"],"
                    "\"st\":\"closed\",\"tags\":[\"a\",\"b\",\"c\"]}");
    v = image(&r, 1)->columns;
    assert_int_equal(v[1].is_null, 1);
    assert_int_equal(v[1].field_type, MYSQL_TYPE_ENUM);
    assert_int_equal(v[4].is_null, 1);
    assert_int_equal(v[4].field_type, MYSQL_TYPE_SET);
    assert_row_json(&t, image(&r, 1),
                    "{\"big\":\"\",\"id\":2,\"loc\":\"\",\"many\":null,\"st\":null,"
                    "\"tags\":[]}");
    binlog_rows_release(&r);
    binlog_table_release(&t);
    free(e300);
    free(s64);
}

/* ---- numbers and times -------------------------------------------------------------- */

struct decimal_case {
    unsigned precision, scale;
    const char *bytes;
    const char *text;
};

/* The first two are the examples in the server's strings/decimal.c. */
static const struct decimal_case DECIMALS[] = {
    {14, 4, "\x81\x0d\xfb\x38\xd2\x04\xd2", "1234567890.1234"},
    {14, 4, "\x7e\xf2\x04\xc7\x2d\xfb\x2d", "-1234567890.1234"},
    {10, 2, "\x80\x00\x00\x13\x63", "19.99"},
    {10, 2, "\x7f\xff\xff\xff\xcd", "-.50"},
    {10, 2, "\x80\x00\x00\x00\x00", ".00"},
    {5, 0, "\x80\x00\x00", "0"},
    {20, 10, "\x80\x00\x00\x00\x00\x00\x00\x00\x00\x01", ".0000000001"},
    {30, 10, "\x73\xeb\x65\x5b\xca\xf2\x04\xc7\x2d\xf8\xa4\x32\xea\xff",
     "-12345678901234567890.1234567890"},
    {65, 30,
     "\x85\xf5\xe0\xff\x3b\x9a\xc9\xff\x3b\x9a\xc9\xff\x3b\x9a\xc9\xff\x3b\x9a\xc9\xff\x3b\x9a"
     "\xc9\xff\x3b\x9a\xc9\xff\x03\xe7",
     "99999999999999999999999999999999999.999999999999999999999999999999"},
};

static size_t decimal_size(unsigned p, unsigned s)
{
    static const size_t d2b[10] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};
    return (p - s) / 9 * 4 + d2b[(p - s) % 9] + s / 9 * 4 + d2b[s % 9];
}

static void test_decimals_as_decimal2string_writes_them(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof DECIMALS / sizeof DECIMALS[0]; k++) {
        const struct decimal_case *c = &DECIMALS[k];
        struct binlog_table t;
        struct binlog_rows r;
        struct event e;
        struct col cols[] = {DECIMAL("d", c->precision, c->scale)};
        table_of(&t, cols, 1);
        struct buf row = {0};
        put(&row, 0);
        put_bytes(&row, c->bytes, decimal_size(c->precision, c->scale));
        event_init(&e, WRITE_ROWS, 1, NULL, NULL, row.b, row.n);
        decode(&r, &t, &e);
        const MARIADB_RPL_VALUE *v = r.first->columns;
        if (v->val.str.length != strlen(c->text) ||
            memcmp(v->val.str.str, c->text, v->val.str.length) != 0)
            fail_msg("DECIMAL(%u,%u): got \"%.*s\", expected \"%s\"", c->precision, c->scale,
                     (int)v->val.str.length, v->val.str.str, c->text);
        assert_int_equal(v->val.str.str[v->val.str.length], '\0');
        binlog_rows_release(&r);
        free(row.b);
        binlog_table_release(&t);
    }
}

/* TIME2 in every fraction width, negative ones too (the server writes a negative value
 * with a short fraction as its integer part rounded down plus a fraction counted up);
 * YEAR 0000; the pre-5.6 TIME, DATETIME and TIMESTAMP. */
static void test_times_in_every_encoding(void **state)
{
    (void)state;
    struct binlog_table t;
    struct binlog_rows r;
    struct event e;
    table_of(&t, COLS(TIME("t1", 1), TIME("t3", 3), TIME("t6", 6), TIME("t0", 0),
                      TIME("t2", 2), TIME("t3p", 3), YEAR("y"),
                      {.name = "old_t", .type = MYSQL_TYPE_TIME},
                      {.name = "old_dt", .type = MYSQL_TYPE_DATETIME},
                      {.name = "old_ts", .type = MYSQL_TYPE_TIMESTAMP},
                      DATETIME("dt6", 6), TIMESTAMP("ts0", 0)));
    event_init(&e, WRITE_ROWS, 12, NULL, NULL,
               B("\x00\x00"
                 "\x7f\xff\xfe\xce"                 /* -00:00:01.5 */
                 "\x7f\xff\xfe\xec\x78"             /* -00:00:01.500 */
                 "\x7f\xff\xfe\xf8\x5e\xe0"         /* -00:00:01.500000 */
                 "\x4b\x91\x05"                     /* -838:59:59 */
                 "\x7f\xff\xff\xff"                 /* -00:00:00.01 */
                 "\x80\xc8\xb8\x1e\xd2"             /* 12:34:56.789 */
                 "\x00"                             /* YEAR 0000 */
                 "\x9c\xff\xff"                     /* old TIME -00:01:00 (-100) */
                 "\xa0\xcf\x1a\x69\x6d\x12\x00\x00" /* old DATETIME 2026-11-24 10:00:00 */
                 "\x20\x60\x05\x6b"                 /* old TIMESTAMP 1795514400 */
                 "\x99\xbb\x70\xa0\x00\x0f\x42\x3f" /* 2026-11-24 10:00:00.999999 */
                 "\x00\x00\x00\x00"));              /* TIMESTAMP 0 */
    decode(&r, &t, &e);
    const MARIADB_RPL_VALUE *v = r.first->columns;
    assert_int_equal(v[7].field_type, MYSQL_TYPE_TIME);
    assert_int_equal(v[7].val.tm.neg, 1);
    assert_int_equal(v[7].val.tm.minute, 1);
    assert_int_equal(v[6].val.ull, 1900);
    assert_int_equal(v[8].val.tm.year, 2026);
    assert_int_equal(v[9].val.ts.second, 1795514400);
    assert_row_json(&t, r.first,
                    "{\"dt6\":\"2026-11-24T10:00:00.999999\",\"old_dt\":\"2026-11-24T10:00:00\","
                    "\"old_t\":\"-00:01:00\",\"old_ts\":\"2026-11-24T10:00:00Z\","
                    "\"t0\":\"-838:59:59\",\"t1\":\"-00:00:01.5\",\"t2\":\"-00:00:00.01\","
                    "\"t3\":\"-00:00:01.500\",\"t3p\":\"12:34:56.789\","
                    "\"t6\":\"-00:00:01.500000\",\"ts0\":null,\"y\":0}");
    binlog_rows_release(&r);
    binlog_table_release(&t);
}

/* ---- UPDATE, DELETE, several rows ---------------------------------------------------- */

#define SMALL_TABLE PK_INT("id"), CHARB("loc", 16), INT("qty"), ENUM("st", 1, "new|open|closed")

/* Two updates: (1,'L01',5,new) -> (1,'L02',4,open); (2,'L01',NULL,new) -> (2,'L01',7,closed). */
#define UPDATE_PAIRS                                                                      \
    "\x00\x01\x00\x00\x00\x03L01\x05\x00\x00\x00\x01"                                      \
    "\x00\x01\x00\x00\x00\x03L02\x04\x00\x00\x00\x02"                                      \
    "\x04\x02\x00\x00\x00\x03L01\x01"                                                      \
    "\x00\x02\x00\x00\x00\x03L01\x07\x00\x00\x00\x03"

static void check_update_pairs(const struct binlog_table *t, const struct binlog_rows *r)
{
    assert_int_equal(r->nimages, 4);
    assert_int_equal(r->nabsent, 0);
    assert_row_json(t, image(r, 0), "{\"id\":1,\"loc\":\"L01\",\"qty\":5,\"st\":\"new\"}");
    assert_row_json(t, image(r, 1), "{\"id\":1,\"loc\":\"L02\",\"qty\":4,\"st\":\"open\"}");
    assert_row_json(t, image(r, 2), "{\"id\":2,\"loc\":\"L01\",\"qty\":null,\"st\":\"new\"}");
    assert_row_json(t, image(r, 3), "{\"id\":2,\"loc\":\"L01\",\"qty\":7,\"st\":\"closed\"}");
    assert_null(image(r, 3)->next);
}

static void test_update_gives_before_then_after(void **state)
{
    (void)state;
    struct binlog_table t;
    struct binlog_rows r;
    struct event e;
    table_of(&t, COLS(SMALL_TABLE));
    /* v1 (type 24): the connector hands over both bitmaps */
    event_init(&e, UPDATE_ROWS, 4, ALL, ALL, B(UPDATE_PAIRS));
    decode(&r, &t, &e);
    check_update_pairs(&t, &r);
    binlog_rows_release(&r);
    /* v2 (type 31): the after-image bitmap is still at the start of row_data */
    event_init(&e, UPDATE_ROWS, 4, ALL, NULL, B("\x0f" UPDATE_PAIRS));
    decode(&r, &t, &e);
    check_update_pairs(&t, &r);
    binlog_rows_release(&r);
    binlog_table_release(&t);
}

static void test_several_rows_per_event(void **state)
{
    (void)state;
    struct binlog_table t;
    struct binlog_rows r;
    struct event e;
    table_of(&t, COLS(SMALL_TABLE));
    event_init(&e, WRITE_ROWS, 4, NULL, NULL,
               B("\x00\x01\x00\x00\x00\x03L01\x05\x00\x00\x00\x01"
                 "\x00\x02\x00\x00\x00\x04L01A\x06\x00\x00\x00\x02"
                 "\x0e\x03\x00\x00\x00"));
    decode(&r, &t, &e);
    assert_int_equal(r.nimages, 3);
    assert_row_json(&t, image(&r, 0), "{\"id\":1,\"loc\":\"L01\",\"qty\":5,\"st\":\"new\"}");
    assert_row_json(&t, image(&r, 1), "{\"id\":2,\"loc\":\"L01A\",\"qty\":6,\"st\":\"open\"}");
    assert_row_json(&t, image(&r, 2), "{\"id\":3,\"loc\":null,\"qty\":null,\"st\":null}");
    binlog_rows_release(&r);
    event_init(&e, DELETE_ROWS, 4, NULL, NULL,
               B("\x00\x01\x00\x00\x00\x03L01\x05\x00\x00\x00\x01"
                 "\x00\x02\x00\x00\x00\x04L01A\x06\x00\x00\x00\x02"));
    decode(&r, &t, &e);
    assert_int_equal(r.nimages, 2);
    assert_row_json(&t, image(&r, 1), "{\"id\":2,\"loc\":\"L01A\",\"qty\":6,\"st\":\"open\"}");
    binlog_rows_release(&r);
    /* no row data: no rows */
    event_init(&e, WRITE_ROWS, 4, NULL, NULL, NULL, 0);
    decode(&r, &t, &e);
    assert_int_equal(r.nimages, 0);
    assert_null(r.first);
    binlog_rows_release(&r);
    binlog_table_release(&t);
}

/* binlog_row_image=MINIMAL in the writing session: only the key before, only the
 * changed columns after (the after NULL bitmap counts two columns). */
#define MINIMAL_PAIRS                                                                     \
    "\x00\x05\x00\x00\x00" "\x01" "\x01"                                                  \
    "\x00\x06\x00\x00\x00" "\x00\x09\x00\x00\x00\x03"

/* The missing columns are not SQL NULL. */
static void check_minimal_pairs(const struct binlog_table *t, const struct binlog_rows *r)
{
    char err[300];
    assert_int_equal(r->nimages, 4);
    assert_int_equal(r->nabsent, 4);
    const MARIADB_RPL_VALUE *before = image(r, 0)->columns, *after = image(r, 1)->columns;
    assert_int_equal(before[0].val.ull, 5);
    assert_int_equal(before[1].field_type, MYSQL_TYPE_NULL);
    assert_int_equal(before[1].is_null, 1);
    assert_int_equal(after[0].field_type, MYSQL_TYPE_NULL);
    assert_int_equal(after[2].is_null, 1);
    assert_int_equal(after[2].field_type, MYSQL_TYPE_LONG);
    assert_int_equal(after[3].val.ull, 1);
    assert_int_equal(image(r, 2)->columns[0].val.ull, 6);
    assert_int_equal(image(r, 3)->columns[2].val.ull, 9);
    assert_int_equal(image(r, 3)->columns[3].val.ull, 3);
    /* the key maps; the whole row is refused rather than read as NULLs */
    json_t *key = binlog_row_key_json(t, image(r, 0), NULL, err, sizeof err);
    assert_non_null(key);
    char *s = dump(key);
    assert_string_equal(s, "{\"id\":5}");
    free(s);
    json_decref(key);
    assert_null(binlog_row_to_json(t, image(r, 0), err, sizeof err));
    assert_err_has(err, "loc");
    assert_null(binlog_row_to_json(t, image(r, 1), err, sizeof err));
    assert_err_has(err, "id");
}

static void test_partial_images_read_present_columns_only(void **state)
{
    (void)state;
    struct binlog_table t;
    struct binlog_rows r;
    struct event e;
    table_of(&t, COLS(SMALL_TABLE));
    event_init(&e, UPDATE_ROWS, 4, BM("\x01"), BM("\x0c"), B(MINIMAL_PAIRS));
    decode(&r, &t, &e);
    check_minimal_pairs(&t, &r);
    binlog_rows_release(&r);
    /* v2: the after-image bitmap leads the row data */
    event_init(&e, UPDATE_ROWS, 4, BM("\x01"), NULL, B("\x0c" MINIMAL_PAIRS));
    decode(&r, &t, &e);
    check_minimal_pairs(&t, &r);
    binlog_rows_release(&r);
    /* a DELETE of the key only */
    event_init(&e, DELETE_ROWS, 4, BM("\x01"), NULL, B("\x00\x05\x00\x00\x00"));
    decode(&r, &t, &e);
    assert_int_equal(r.nimages, 1);
    assert_int_equal(r.nabsent, 3);
    binlog_rows_release(&r);
    binlog_table_release(&t);
}

/* ---- hostile and truncated data ------------------------------------------------------ */

/* Cuts the row data of an event at every length: a cut inside a row is an error that
 * names the row (and the column once past the NULL bitmap); a cut between rows gives
 * the rows before it, as a shorter event would. Nothing is read past the cut (ASan). */
static void cut_everywhere(const struct binlog_table *t, enum mariadb_row_event_type type,
                           const unsigned char *update_bitmap, const unsigned char *data,
                           size_t len, size_t images_per_row)
{
    struct binlog_rows full;
    struct event e;
    event_init(&e, type, t->ncolumns, NULL, update_bitmap, data, len);
    decode(&full, t, &e);
    size_t boundaries = 0;
    for (size_t cut = 0; cut < len; cut++) {
        struct binlog_rows r;
        char err[300] = "";
        event_init(&e, type, t->ncolumns, NULL, update_bitmap, data, cut);
        int rc = binlog_rows_init(&r, t, &e.ev, err, sizeof err);
        event_release(&e);
        if (rc == 0) {
            /* only a cut between rows (or before the first) decodes */
            assert_int_equal(r.nimages % images_per_row, 0);
            assert_true(r.nimages < full.nimages);
            const MARIADB_RPL_ROW *a = r.first, *b = full.first;
            for (size_t k = 0; k < r.nimages; k++, a = a->next, b = b->next) {
                char e1[300], e2[300];
                json_t *ja = binlog_row_to_json(t, a, e1, sizeof e1);
                json_t *jb = binlog_row_to_json(t, b, e2, sizeof e2);
                assert_non_null(ja);
                assert_non_null(jb);
                assert_true(json_equal(ja, jb));
                json_decref(ja);
                json_decref(jb);
            }
            boundaries++;
        } else {
            assert_null(r.first);
            assert_err_has(err, "row ");
            assert_true(strstr(err, "column ") || strstr(err, "NULL bitmap") ||
                        strstr(err, "bitmap"));
        }
        binlog_rows_release(&r);
    }
    /* one boundary per row (the first at 0) */
    assert_int_equal(boundaries, full.nimages / images_per_row);
    binlog_rows_release(&full);
}

static void test_truncated_row_data_at_every_byte(void **state)
{
    (void)state;
    struct binlog_table every, small, chars;
    table_of(&every, COLS(EVERY_TYPE));
    table_of(&small, COLS(SMALL_TABLE));
    table_of(&chars, COLS(PK_CHARB("loc", 16), CHARB("wide", 1020), ENUM("st", 1, "a|b"),
                          SET("tags", 8, "x|y")));
    cut_everywhere(&every, WRITE_ROWS, NULL, B(EVERY_ROW), 1);
    cut_everywhere(&small, UPDATE_ROWS, ALL, B(UPDATE_PAIRS), 2);
    cut_everywhere(&small, DELETE_ROWS, NULL, B(UPDATE_PAIRS), 1);

    struct buf row = {0};
    put_bytes(&row, "\x00\x03L01", 5);
    put_le(&row, 400, 2);
    for (int k = 0; k < 400; k++)
        put(&row, 'a' + k % 26);
    put_bytes(&row, "\x02\x03\x00\x00\x00\x00\x00\x00\x00", 9);
    cut_everywhere(&chars, WRITE_ROWS, NULL, row.b, row.n, 1);

    /* a cut inside a CHAR value names it */
    struct binlog_rows r;
    struct event e;
    char err[300];
    event_init(&e, WRITE_ROWS, 4, NULL, NULL, row.b, 200);
    assert_int_equal(binlog_rows_init(&r, &chars, &e.ev, err, sizeof err), -1);
    assert_err_has(err, "row 1, column wide: CHAR value of 400 bytes runs past");
    event_release(&e);
    /* the v2 UPDATE's own bitmap cut short */
    event_init(&e, UPDATE_ROWS, 24, NULL, NULL, B("\xff\xff"));
    assert_int_equal(binlog_rows_init(&r, &every, &e.ev, err, sizeof err), -1);
    assert_err_has(err, "after-image column bitmap");
    event_release(&e);
    free(row.b);
    binlog_table_release(&every);
    binlog_table_release(&small);
    binlog_table_release(&chars);
}

static void test_hostile_values_are_refused(void **state)
{
    (void)state;
    struct binlog_table t, small;
    struct event e;
    table_of(&t, COLS(CHARB("loc", 16), VARCHAR("vc", 8), TEXT("txt"), LONGBLOB("lb"),
                      DECIMAL("d", 10, 2), TIME("tm", 2), DATETIME("dt", 0), TIMESTAMP("ts", 6)));
    table_of(&small, COLS(SMALL_TABLE));
    /* every column NULL but the one under test */
    event_init(&e, WRITE_ROWS, 8, NULL, NULL, B("\xfe" "\x11" "0123456789abcdefg"));
    decode_fails(&t, &e, "row 1, column loc", "17 bytes, more than the column's 16");
    event_init(&e, WRITE_ROWS, 8, NULL, NULL, B("\xfd" "\x09" "012345678"));
    decode_fails(&t, &e, "column vc", "more than the column's 8");
    event_init(&e, WRITE_ROWS, 8, NULL, NULL, B("\xfb" "\x05\x00" "abc"));
    decode_fails(&t, &e, "column txt", "runs past");
    event_init(&e, WRITE_ROWS, 8, NULL, NULL, B("\xf7" "\xff\xff\xff\xff" "abc"));
    decode_fails(&t, &e, "column lb", "4294967295 bytes runs past");
    event_init(&e, WRITE_ROWS, 8, NULL, NULL, B("\xef" "\x85\xf5\xe1\x00\x00"));
    decode_fails(&t, &e, "column d", "no decimal");
    event_init(&e, WRITE_ROWS, 8, NULL, NULL, B("\xef" "\x80\x00\x00\x00\x64"));
    decode_fails(&t, &e, "column d", "no decimal");
    event_init(&e, WRITE_ROWS, 8, NULL, NULL, B("\xdf" "\x80\x00\x00\x64"));
    decode_fails(&t, &e, "column tm", "fraction 1000000");
    event_init(&e, WRITE_ROWS, 8, NULL, NULL, B("\xbf" "\x00\x00\x00\x00\x00"));
    decode_fails(&t, &e, "column dt", "negative DATETIME");
    event_init(&e, WRITE_ROWS, 8, NULL, NULL, B("\x7f" "\x00\x00\x00\x00\x0f\x42\x40"));
    decode_fails(&t, &e, "column ts", "fraction 1000000");

    /* events that do not fit the table */
    event_init(&e, WRITE_ROWS, 5, NULL, NULL, B("\x00"));
    decode_fails(&small, &e, "5 columns", "has 4");
    event_init(&e, WRITE_ROWS, 4, NULL, NULL, B("\x00"));
    e.ev.table_id = 43;
    decode_fails(&small, &e, "table id 43", "shop.stock");
    event_init(&e, (enum mariadb_row_event_type)3, 4, NULL, NULL, B("\x00"));
    decode_fails(&small, &e, "unknown type 3", NULL);
    event_init(&e, WRITE_ROWS, 4, BM("\xf0"), NULL, B("\x00"));
    decode_fails(&small, &e, "no columns", NULL);
    event_init(&e, UPDATE_ROWS, 4, ALL, BM("\x00"), B("\x00"));
    decode_fails(&small, &e, "after image has no columns", NULL);
    event_init(&e, WRITE_ROWS, 4, NULL, NULL, B("\x00"));
    free(e.ev.column_bitmap);
    e.ev.column_bitmap = NULL;
    decode_fails(&small, &e, "column bitmap", NULL);
    event_init(&e, WRITE_ROWS, 4, NULL, NULL, NULL, 0);
    e.ev.row_data_size = 10;
    decode_fails(&small, &e, "without data", NULL);
    struct binlog_rows r;
    char err[300];
    assert_int_equal(binlog_rows_init(&r, &small, NULL, err, sizeof err), -1);
    assert_int_equal(binlog_rows_init(&r, NULL, NULL, err, sizeof err), -1);
    assert_err_has(err, "no table map");
    binlog_table_release(&t);

    /* old DECIMAL (type 0) passes the table map but its values have no known size */
    table_of(&t, COLS({.name = "old", .type = MYSQL_TYPE_DECIMAL}));
    event_init(&e, WRITE_ROWS, 1, NULL, NULL, B("\x00" "1.5"));
    decode_fails(&t, &e, "column old", "binlog type 0");
    binlog_table_release(&t);
    binlog_table_release(&small);
}

/* Random row data and bitmaps for the every-type table: never a crash, a read past the
 * data (ASan) or an image without its columns. */
static void test_random_row_data_never_overruns(void **state)
{
    (void)state;
    struct binlog_table t;
    table_of(&t, COLS(EVERY_TYPE));
    unsigned seed = 12345;
    size_t decoded = 0;
    for (int iter = 0; iter < 20000; iter++) {
        unsigned char data[160], bitmap[3], update[3];
        seed = seed * 1103515245 + 12345;
        size_t len = (seed >> 16) % sizeof data;
        for (size_t k = 0; k < len; k++) {
            seed = seed * 1103515245 + 12345;
            /* mostly small bytes, so that lengths often fit */
            data[k] = (unsigned char)(seed >> 16) & ((seed >> 28) & 1 ? 0xff : 0x07);
        }
        for (int k = 0; k < 3; k++) {
            seed = seed * 1103515245 + 12345;
            bitmap[k] = iter % 2 ? 0xff : (unsigned char)(seed >> 16);
            update[k] = iter % 3 ? 0xff : (unsigned char)(seed >> 20);
        }
        enum mariadb_row_event_type type = (enum mariadb_row_event_type)(iter % 3);
        struct event e;
        struct binlog_rows r;
        char err[300] = "";
        event_init(&e, type, 24, bitmap, iter % 5 ? update : NULL, data, len);
        if (binlog_rows_init(&r, &t, &e.ev, err, sizeof err) == 0) {
            decoded++;
            size_t n = 0;
            for (const MARIADB_RPL_ROW *row = r.first; row; row = row->next, n++) {
                assert_int_equal(row->column_count, 24);
                json_t *j = binlog_row_to_json(&t, row, err, sizeof err);
                json_decref(j);
            }
            assert_int_equal(n, r.nimages);
        } else {
            assert_true(err[0] != '\0');
        }
        binlog_rows_release(&r);
        event_release(&e);
    }
    assert_true(decoded > 0);
    binlog_table_release(&t);
}

/* One byte per image for a 4096-column table would otherwise ask for about 200 kB each. */
static void test_output_is_bounded(void **state)
{
    (void)state;
    struct col *cols = calloc(4096, sizeof *cols);
    char (*names)[16] = calloc(4096, sizeof *names);
    assert_non_null(cols);
    assert_non_null(names);
    for (int i = 0; i < 4096; i++) {
        snprintf(names[i], sizeof names[i], "c%d", i);
        cols[i].name = names[i];
        cols[i].type = MYSQL_TYPE_TINY;
    }
    struct binlog_table t;
    table_of(&t, cols, 4096);
    unsigned char bitmap[512] = {0x01};
    size_t n = 2 * 1500;
    unsigned char *data = calloc(n, 1);
    assert_non_null(data);
    struct event e;
    event_init(&e, DELETE_ROWS, 4096, bitmap, NULL, data, n);
    decode_fails(&t, &e, "more than 256 MiB", NULL);
    event_init(&e, DELETE_ROWS, 4096, bitmap, NULL, data, 200);
    struct binlog_rows r;
    decode(&r, &t, &e);
    assert_int_equal(r.nimages, 100);
    assert_int_equal(r.nabsent, 4095);
    binlog_rows_release(&r);
    free(data);
    binlog_table_release(&t);
    free(cols);
    free(names);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_type_as_the_connector_fills_it),
        cmocka_unit_test(test_nulls_across_bitmap_bytes),
        cmocka_unit_test(test_char_columns_of_every_width),
        cmocka_unit_test(test_enum_and_set_values),
        cmocka_unit_test(test_decimals_as_decimal2string_writes_them),
        cmocka_unit_test(test_times_in_every_encoding),
        cmocka_unit_test(test_update_gives_before_then_after),
        cmocka_unit_test(test_several_rows_per_event),
        cmocka_unit_test(test_partial_images_read_present_columns_only),
        cmocka_unit_test(test_truncated_row_data_at_every_byte),
        cmocka_unit_test(test_hostile_values_are_refused),
        cmocka_unit_test(test_random_row_data_never_overruns),
        cmocka_unit_test(test_output_is_bounded),
    };
    memset(ALL, 0xff, sizeof ALL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
