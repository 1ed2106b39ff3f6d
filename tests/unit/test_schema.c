/* test_schema.c — schema changes of a captured table as the readers see them: which
 * changes propagate and which park the table (DESIGN §3), what the schema-changes event
 * says about them, and the persisted form surviving a round trip and hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"

enum {
    BOOL = 16, INT8 = 20, INT2 = 21, INT4 = 23, TEXT = 25, JSON = 114, FLOAT4 = 700,
    FLOAT8 = 701, BPCHAR = 1042, VARCHAR = 1043, DATE = 1082, TIMESTAMP = 1114,
    TIMESTAMPTZ = 1184, NUMERIC = 1700, UUID = 2950, JSONB = 3802,
};

/* typmods as PostgreSQL stores them */
#define LEN(n) ((n) + 4)
#define NUM(p, s) ((int32_t)((((p) << 16) | ((s) & 0x7FF)) + 4))

struct col {
    const char *name;
    uint32_t oid;
    int32_t typmod;
    int key;
};

/* A table as a Relation message with these columns would give it. */
static struct schema_table table_of(const struct col *cols, size_t n)
{
    struct schema_table t;
    schema_table_init(&t);
    for (size_t i = 0; i < n; i++) {
        struct schema_column c;
        char err[256];
        if (schema_column_from_pg(&c, cols[i].name, cols[i].oid, cols[i].typmod, cols[i].key,
                                  err, sizeof err) != 0 ||
            schema_table_add(&t, &c, err, sizeof err) != 0)
            fail_msg("column %s: %s", cols[i].name, err);
    }
    return t;
}
#define TABLE(...) table_of((const struct col[]){__VA_ARGS__}, \
                            sizeof((const struct col[]){__VA_ARGS__}) / sizeof(struct col))

/* public.stock_levels as the ERP has it; the mapping reads sku, location_code, qty. */
#define STOCK_SKU {"sku", VARCHAR, LEN(20), 1}
#define STOCK_LOC {"location_code", VARCHAR, LEN(8), 1}
#define STOCK_QTY {"qty", INT4, -1, 0}
#define STOCK_NOTE {"note", TEXT, -1, 0}
static const char *const MAPPED[] = {"sku", "location_code", "qty", NULL};

static size_t array_len(const json_t *details, const char *key)
{
    const json_t *a = json_object_get(details, key);
    assert_true(json_is_array(a));
    return json_array_size(a);
}

static const char *item_str(const json_t *details, const char *key, size_t i, const char *field)
{
    const char *s = json_string_value(json_object_get(json_array_get(json_object_get(details, key), i), field));
    assert_non_null(s);
    return s;
}

static int has_reason(const json_t *details, const char *reason)
{
    const json_t *r = json_object_get(details, "reasons");
    for (size_t i = 0; i < json_array_size(r); i++)
        if (strcmp(json_string_value(json_array_get(r, i)), reason) == 0)
            return 1;
    return 0;
}

/* Compares, checks the details' shape and the verdict/compatible agreement. */
static enum schema_change compare(const struct schema_table *old, const struct schema_table *new_,
                                  const char *const *mapped, json_t **details)
{
    enum schema_change v = schema_compare(old, new_, mapped, details);
    assert_non_null(*details);
    assert_true(json_is_boolean(json_object_get(*details, "key_changed")));
    assert_true(json_is_boolean(json_object_get(*details, "compatible")));
    assert_int_equal(json_is_true(json_object_get(*details, "compatible")), v != SCHEMA_INCOMPATIBLE);
    assert_int_equal(array_len(*details, "reasons") == 0, v != SCHEMA_INCOMPATIBLE);
    assert_int_equal(json_object_size(*details), 6);
    /* the verdict does not depend on whether details are asked for */
    assert_int_equal(schema_compare(old, new_, mapped, NULL), v);
    return v;
}

/* ---- from PostgreSQL ---------------------------------------------------------- */

static void expect_pg(const char *name, uint32_t oid, int32_t typmod, const char *type,
                      enum schema_type_family family, int size, int scale, unsigned flags)
{
    struct schema_column c;
    char err[256] = "";
    if (schema_column_from_pg(&c, name, oid, typmod, 0, err, sizeof err) != 0)
        fail_msg("oid %u typmod %d: %s", oid, typmod, err);
    assert_string_equal(c.name, name);
    assert_string_equal(c.type, type);
    assert_int_equal(c.family, family);
    assert_int_equal(c.size, size);
    assert_int_equal(c.scale, scale);
    assert_int_equal(c.flags, flags);
    assert_int_equal(c.key, 0);
}

static void test_pg_builtin_types(void **state)
{
    (void)state;
    expect_pg("a", INT2, -1, "int2", SCHEMA_INT, 2, 0, 0);
    expect_pg("a", INT4, -1, "int4", SCHEMA_INT, 4, 0, 0);
    expect_pg("a", INT8, -1, "int8", SCHEMA_INT, 8, 0, 0);
    expect_pg("a", NUMERIC, -1, "numeric", SCHEMA_NUMERIC, -1, -1, 0);
    expect_pg("a", NUMERIC, NUM(12, 2), "numeric(12,2)", SCHEMA_NUMERIC, 12, 2, 0);
    expect_pg("a", NUMERIC, NUM(1000, 1000), "numeric(1000,1000)", SCHEMA_NUMERIC, 1000, 1000, 0);
    expect_pg("a", NUMERIC, NUM(5, -2), "numeric(5,-2)", SCHEMA_NUMERIC, 5, -2, 0);  /* PG 15+ */
    expect_pg("a", NUMERIC, NUM(2, 5), "numeric(2,5)", SCHEMA_NUMERIC, 2, 5, 0);
    expect_pg("a", FLOAT4, -1, "float4", SCHEMA_FLOAT, 4, 0, 0);
    expect_pg("a", FLOAT8, -1, "float8", SCHEMA_FLOAT, 8, 0, 0);
    expect_pg("a", TEXT, -1, "text", SCHEMA_TEXT, -1, 0, 0);
    expect_pg("a", VARCHAR, LEN(20), "varchar(20)", SCHEMA_TEXT, 20, 0, 0);
    expect_pg("a", VARCHAR, -1, "varchar", SCHEMA_TEXT, -1, 0, 0);
    expect_pg("a", BPCHAR, LEN(3), "bpchar(3)", SCHEMA_TEXT, 3, 0, SCHEMA_PADDED);
    expect_pg("a", BPCHAR, -1, "bpchar", SCHEMA_TEXT, -1, 0, SCHEMA_PADDED);
    expect_pg("a", BOOL, -1, "bool", SCHEMA_BOOL, 0, 0, 0);
    expect_pg("a", DATE, -1, "date", SCHEMA_DATE, 0, 0, 0);
    expect_pg("a", TIMESTAMP, -1, "timestamp", SCHEMA_TIMESTAMP, 6, 0, 0);
    expect_pg("a", TIMESTAMP, 3, "timestamp(3)", SCHEMA_TIMESTAMP, 3, 0, 0);
    expect_pg("a", TIMESTAMP, 0, "timestamp(0)", SCHEMA_TIMESTAMP, 0, 0, 0);
    expect_pg("a", TIMESTAMPTZ, -1, "timestamptz", SCHEMA_TIMESTAMPTZ, 6, 0, 0);
    expect_pg("a", UUID, -1, "uuid", SCHEMA_UUID, 0, 0, 0);
    expect_pg("a", JSON, -1, "json", SCHEMA_JSON, 0, 0, 0);
    expect_pg("a", JSONB, -1, "jsonb", SCHEMA_JSON, 0, 0, SCHEMA_BINARY);
    expect_pg("a", 1007, -1, "oid:1007", SCHEMA_OTHER, 0, 0, 0);            /* int4[] */
    expect_pg("a", 4294967295u, 12, "oid:4294967295", SCHEMA_OTHER, 0, 0, 0);
    /* identifiers are kept as delivered: case, spaces, UTF-8 */
    expect_pg("Qty On Hand", INT4, -1, "int4", SCHEMA_INT, 4, 0, 0);
    expect_pg("quantité", INT4, -1, "int4", SCHEMA_INT, 4, 0, 0);

    struct schema_column c;
    assert_int_equal(schema_column_from_pg(&c, "id", INT8, -1, 7, NULL, 0), 0);
    assert_int_equal(c.key, 1);
}

static void expect_pg_error(const char *name, uint32_t oid, int32_t typmod, const char *needle)
{
    struct schema_column c;
    char err[256] = "";
    assert_int_equal(schema_column_from_pg(&c, name, oid, typmod, 0, err, sizeof err), -1);
    if (!strstr(err, needle))
        fail_msg("error \"%s\" lacks \"%s\"", err, needle);
}

static void test_pg_rejects_bad_names_and_typmods(void **state)
{
    (void)state;
    char name63[64], name64[65];
    memset(name63, 'n', 63);
    name63[63] = '\0';
    memset(name64, 'n', 64);
    name64[64] = '\0';
    expect_pg("x", INT4, -1, "int4", SCHEMA_INT, 4, 0, 0);
    expect_pg(name63, INT4, -1, "int4", SCHEMA_INT, 4, 0, 0);

    expect_pg_error("", INT4, -1, "empty column name");
    expect_pg_error(NULL, INT4, -1, "empty column name");
    expect_pg_error(name64, INT4, -1, "64 bytes or longer");
    expect_pg_error("bad\xff", INT4, -1, "not valid UTF-8");
    expect_pg_error("\xc0\xaf", INT4, -1, "not valid UTF-8");        /* overlong '/' */
    expect_pg_error("\xed\xa0\x80", INT4, -1, "not valid UTF-8");    /* surrogate */
    expect_pg_error("trunc\xe2\x82", INT4, -1, "not valid UTF-8");
    expect_pg_error("qty", NUMERIC, 3, "invalid numeric typmod");
    expect_pg_error("qty", NUMERIC, -2, "invalid numeric typmod");
    expect_pg_error("qty", NUMERIC, NUM(0, 0), "invalid numeric typmod");
    expect_pg_error("qty", NUMERIC, NUM(1001, 0), "invalid numeric typmod");
    expect_pg_error("qty", NUMERIC, NUM(10, 0) | 0x8000, "invalid numeric typmod");
    expect_pg_error("sku", VARCHAR, 4, "invalid varchar typmod");
    expect_pg_error("sku", VARCHAR, 0, "invalid varchar typmod");
    expect_pg_error("sku", VARCHAR, LEN(10485761), "invalid varchar typmod");
    expect_pg_error("sku", BPCHAR, -5, "invalid bpchar typmod");
    expect_pg_error("at", TIMESTAMP, 7, "invalid timestamp typmod");
    expect_pg_error("at", TIMESTAMPTZ, -3, "invalid timestamptz typmod");

    /* a NULL or empty error buffer is tolerated */
    struct schema_column c;
    assert_int_equal(schema_column_from_pg(&c, "", INT4, -1, 0, NULL, 0), -1);
    char tiny[1] = "x";
    assert_int_equal(schema_column_from_pg(&c, "", INT4, -1, 0, tiny, 0), -1);
    assert_int_equal(tiny[0], 'x');
}

/* ---- building a table --------------------------------------------------------- */

static void test_table_rejects_duplicates_and_invalid_columns(void **state)
{
    (void)state;
    struct schema_table t = TABLE(STOCK_SKU, STOCK_QTY);
    struct schema_column c;
    char err[256];

    assert_int_equal(schema_column_from_pg(&c, "qty", INT8, -1, 0, err, sizeof err), 0);
    assert_int_equal(schema_table_add(&t, &c, err, sizeof err), -1);
    assert_string_equal(err, "duplicate column name qty");
    assert_int_equal(t.ncolumns, 2);

    /* names are case sensitive: "Qty" is another column */
    assert_int_equal(schema_column_from_pg(&c, "Qty", INT8, -1, 0, err, sizeof err), 0);
    assert_int_equal(schema_table_add(&t, &c, err, sizeof err), 0);
    assert_int_equal(schema_table_find(&t, "Qty")->size, 8);
    assert_int_equal(schema_table_find(&t, "qty")->size, 4);
    assert_null(schema_table_find(&t, "QTY"));

    /* columns a MariaDB reader fills by hand are checked as strictly */
    struct schema_column good = {.name = "n", .type = "int", .family = SCHEMA_INT, .size = 4};
    struct {
        struct schema_column c;
        const char *needle;
    } bad[] = {
        {{.name = "", .type = "int", .family = SCHEMA_INT, .size = 4}, "empty column name"},
        {{.name = "n", .type = "", .family = SCHEMA_INT, .size = 4}, "column n: empty type"},
        {{.name = "n", .type = "int", .family = (enum schema_type_family)42, .size = 4}, "unknown type family"},
        {{.name = "n", .type = "int", .family = SCHEMA_INT, .size = 5}, "size 5 out of range"},
        {{.name = "n", .type = "int", .family = SCHEMA_INT, .size = 4, .scale = 1}, "scale 1"},
        {{.name = "n", .type = "dec", .family = SCHEMA_NUMERIC, .size = -1, .scale = 2}, "scale 2"},
        {{.name = "n", .type = "dec", .family = SCHEMA_NUMERIC, .size = 1001}, "size 1001"},
        {{.name = "n", .type = "dec", .family = SCHEMA_NUMERIC, .size = 10, .scale = 1001}, "scale 1001"},
        {{.name = "n", .type = "s", .family = SCHEMA_TEXT, .size = 0}, "size 0"},
        {{.name = "n", .type = "s", .family = SCHEMA_TEXT, .size = -2}, "size -2"},
        {{.name = "n", .type = "f", .family = SCHEMA_FLOAT, .size = 2}, "size 2"},
        {{.name = "n", .type = "ts", .family = SCHEMA_TIMESTAMP, .size = 7}, "size 7"},
        {{.name = "n", .type = "b", .family = SCHEMA_BOOL, .size = 1}, "size 1"},
        {{.name = "n", .type = "s", .family = SCHEMA_TEXT, .size = 3, .flags = SCHEMA_UNSIGNED}, "flag unsigned is only for int"},
        {{.name = "n", .type = "int", .family = SCHEMA_INT, .size = 4, .flags = SCHEMA_BINARY}, "flag binary"},
        {{.name = "n", .type = "int", .family = SCHEMA_INT, .size = 4, .flags = 0x80}, "unknown flags"},
        {{.name = "n", .type = "int", .family = SCHEMA_INT, .size = 4, .key = 2}, "key is 2"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(schema_table_add(&t, &bad[i].c, err, sizeof err), -1);
        if (!strstr(err, bad[i].needle))
            fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, err, bad[i].needle);
    }
    /* a name filling all 64 bytes, without a terminating NUL */
    struct schema_column unterminated = good;
    memset(unterminated.name, 'x', sizeof unterminated.name);
    assert_int_equal(schema_table_add(&t, &unterminated, err, sizeof err), -1);
    assert_int_equal(t.ncolumns, 3);
    assert_int_equal(schema_table_add(&t, &good, err, sizeof err), 0);
    assert_int_equal(t.ncolumns, 4);

    schema_table_release(&t);
    assert_int_equal(t.ncolumns, 0);
    assert_null(t.columns);
    schema_table_release(&t);  /* twice is harmless */
}

static void test_table_grows_to_the_column_limit(void **state)
{
    (void)state;
    struct schema_table t;
    schema_table_init(&t);
    char err[256];
    for (int i = 0; i < SCHEMA_MAX_COLUMNS; i++) {
        char name[16];
        snprintf(name, sizeof name, "c%d", i);
        struct schema_column c;
        assert_int_equal(schema_column_from_pg(&c, name, INT4, -1, i == 0, err, sizeof err), 0);
        if (schema_table_add(&t, &c, err, sizeof err) != 0)
            fail_msg("column %d: %s", i, err);
    }
    for (int i = 0; i < SCHEMA_MAX_COLUMNS; i += 97) {
        char name[16];
        snprintf(name, sizeof name, "c%d", i);
        assert_string_equal(schema_table_find(&t, name)->name, name);
    }
    struct schema_column c;
    assert_int_equal(schema_column_from_pg(&c, "one_more", INT4, -1, 0, err, sizeof err), 0);
    assert_int_equal(schema_table_add(&t, &c, err, sizeof err), -1);
    assert_string_equal(err, "more than 4096 columns");
    schema_table_release(&t);
}

/* ---- comparison: same and compatible ------------------------------------------ */

static void test_identical_and_reordered_tables_are_same(void **state)
{
    (void)state;
    struct schema_table old = TABLE(STOCK_SKU, STOCK_LOC, STOCK_QTY, STOCK_NOTE);
    struct schema_table same = TABLE(STOCK_SKU, STOCK_LOC, STOCK_QTY, STOCK_NOTE);
    struct schema_table reordered = TABLE(STOCK_NOTE, STOCK_QTY, STOCK_LOC, STOCK_SKU);
    struct schema_table empty;
    schema_table_init(&empty);
    json_t *d;

    assert_int_equal(compare(&old, &same, MAPPED, &d), SCHEMA_SAME);
    assert_int_equal(array_len(d, "added") + array_len(d, "dropped") + array_len(d, "retyped"), 0);
    assert_true(json_is_false(json_object_get(d, "key_changed")));
    json_decref(d);

    assert_int_equal(compare(&old, &reordered, MAPPED, &d), SCHEMA_SAME);
    json_decref(d);
    assert_int_equal(compare(&empty, &empty, NULL, &d), SCHEMA_SAME);
    json_decref(d);

    schema_table_release(&old);
    schema_table_release(&same);
    schema_table_release(&reordered);
}

static void test_added_column_is_compatible(void **state)
{
    (void)state;
    struct schema_table old = TABLE(STOCK_SKU, STOCK_LOC, STOCK_QTY);
    struct schema_table new_ = TABLE(STOCK_SKU, {"reserved", INT4, -1, 0}, STOCK_LOC, STOCK_QTY,
                                     {"updated_at", TIMESTAMPTZ, 3, 0});
    json_t *d;
    assert_int_equal(compare(&old, &new_, MAPPED, &d), SCHEMA_COMPATIBLE);
    assert_int_equal(array_len(d, "added"), 2);
    assert_string_equal(item_str(d, "added", 0, "name"), "reserved");
    assert_string_equal(item_str(d, "added", 0, "type"), "int4");
    assert_string_equal(item_str(d, "added", 1, "name"), "updated_at");
    assert_string_equal(item_str(d, "added", 1, "type"), "timestamptz(3)");
    assert_int_equal(array_len(d, "dropped") + array_len(d, "retyped"), 0);
    assert_true(json_is_true(json_object_get(d, "compatible")));
    json_decref(d);
    schema_table_release(&old);
    schema_table_release(&new_);
}

struct retype {
    uint32_t from_oid;
    int32_t from_typmod;
    uint32_t to_oid;
    int32_t to_typmod;
    int widened;
};

static const struct retype RETYPES[] = {
    /* integers grow */
    {INT2, -1, INT4, -1, 1},
    {INT4, -1, INT8, -1, 1},
    {INT2, -1, INT8, -1, 1},
    {INT8, -1, INT4, -1, 0},
    {INT4, -1, INT2, -1, 0},
    /* integers into numerics wide enough for every value */
    {INT2, -1, NUMERIC, NUM(5, 0), 1},
    {INT2, -1, NUMERIC, NUM(4, 0), 0},
    {INT4, -1, NUMERIC, NUM(10, 0), 1},
    {INT4, -1, NUMERIC, NUM(12, 2), 1},
    {INT4, -1, NUMERIC, NUM(9, 0), 0},
    {INT4, -1, NUMERIC, NUM(12, 3), 0},
    {INT4, -1, NUMERIC, NUM(12, -2), 0},  /* rounds to hundreds */
    {INT8, -1, NUMERIC, NUM(19, 0), 1},
    {INT8, -1, NUMERIC, NUM(18, 0), 0},
    {INT8, -1, NUMERIC, -1, 1},
    {NUMERIC, NUM(10, 0), INT8, -1, 0},
    {NUMERIC, -1, INT8, -1, 0},
    /* numerics: integer digits and scale both kept */
    {NUMERIC, NUM(12, 2), NUMERIC, NUM(14, 4), 1},
    {NUMERIC, NUM(12, 2), NUMERIC, NUM(13, 2), 1},
    {NUMERIC, NUM(12, 2), NUMERIC, NUM(12, 3), 0},
    {NUMERIC, NUM(12, 2), NUMERIC, NUM(13, 1), 0},
    {NUMERIC, NUM(12, 2), NUMERIC, NUM(11, 2), 0},
    {NUMERIC, NUM(12, 2), NUMERIC, -1, 1},
    {NUMERIC, -1, NUMERIC, NUM(1000, 20), 0},
    {NUMERIC, NUM(5, -2), NUMERIC, NUM(7, 0), 1},
    {NUMERIC, NUM(5, -2), NUMERIC, NUM(6, 0), 0},
    /* floats */
    {FLOAT4, -1, FLOAT8, -1, 1},
    {FLOAT8, -1, FLOAT4, -1, 0},
    {INT4, -1, FLOAT8, -1, 0},
    {FLOAT8, -1, NUMERIC, -1, 0},
    /* strings */
    {VARCHAR, LEN(20), VARCHAR, LEN(40), 1},
    {VARCHAR, LEN(20), VARCHAR, LEN(10), 0},
    {VARCHAR, LEN(20), TEXT, -1, 1},
    {VARCHAR, LEN(20), VARCHAR, -1, 1},
    {VARCHAR, -1, TEXT, -1, 1},           /* only the spelling changes */
    {TEXT, -1, VARCHAR, -1, 1},
    {TEXT, -1, VARCHAR, LEN(100), 0},
    {BPCHAR, LEN(3), TEXT, -1, 0},        /* trailing blanks dropped: values change */
    {BPCHAR, LEN(3), VARCHAR, LEN(3), 0},
    {BPCHAR, LEN(3), VARCHAR, LEN(2), 0},
    {BPCHAR, LEN(3), BPCHAR, LEN(5), 0},  /* values get re-padded */
    {VARCHAR, LEN(3), BPCHAR, LEN(5), 0},
    {TEXT, -1, BPCHAR, -1, 0},
    {INT4, -1, TEXT, -1, 0},
    {TEXT, -1, INT4, -1, 0},
    /* times */
    {TIMESTAMP, -1, TIMESTAMPTZ, -1, 0},
    {TIMESTAMPTZ, -1, TIMESTAMP, -1, 0},
    {TIMESTAMP, 3, TIMESTAMP, -1, 1},
    {TIMESTAMP, 3, TIMESTAMP, 6, 1},
    {TIMESTAMP, -1, TIMESTAMP, 3, 0},
    {TIMESTAMPTZ, 0, TIMESTAMPTZ, 3, 1},
    {DATE, -1, TIMESTAMP, -1, 0},
    /* json */
    {JSON, -1, JSONB, -1, 1},
    {JSONB, -1, JSON, -1, 0},
    {TEXT, -1, JSONB, -1, 0},
    /* the rest */
    {BOOL, -1, INT2, -1, 0},
    {UUID, -1, TEXT, -1, 0},
    {1007, -1, 1016, -1, 0},              /* int4[] -> int8[]: unknown types */
    {600, -1, 25, -1, 0},
};

static void check_retype(size_t i, const struct retype *r, int mapped, int key,
                         enum schema_change expected)
{
    struct schema_table old = TABLE({"id", INT8, -1, 1}, {"c", r->from_oid, r->from_typmod, key});
    struct schema_table new_ = TABLE({"c", r->to_oid, r->to_typmod, key}, {"id", INT8, -1, 1});
    const char *const names[] = {"c", NULL};
    json_t *d;
    enum schema_change v = compare(&old, &new_, mapped ? names : NULL, &d);
    if (v != expected)
        fail_msg("case %zu (%s -> %s, mapped %d, key %d): verdict %d, expected %d", i,
                 old.columns[1].type, new_.columns[0].type, mapped, key, v, expected);
    assert_int_equal(array_len(d, "retyped"), 1);
    assert_string_equal(item_str(d, "retyped", 0, "name"), "c");
    assert_string_equal(item_str(d, "retyped", 0, "from"), old.columns[1].type);
    assert_string_equal(item_str(d, "retyped", 0, "to"), new_.columns[0].type);
    const json_t *w = json_object_get(json_array_get(json_object_get(d, "retyped"), 0), "widened");
    assert_true(json_is_boolean(w));
    if (json_is_true(w) != r->widened)
        fail_msg("case %zu (%s -> %s): widened %d", i, old.columns[1].type,
                 new_.columns[0].type, json_is_true(w));
    assert_int_equal(array_len(d, "added") + array_len(d, "dropped"), 0);
    if (expected == SCHEMA_INCOMPATIBLE) {
        char reason[256];
        snprintf(reason, sizeof reason, "%s column c retyped from %s to %s without widening",
                 mapped && key ? "mapped key" : mapped ? "mapped" : "key", old.columns[1].type,
                 new_.columns[0].type);
        if (!has_reason(d, reason))
            fail_msg("case %zu: no reason \"%s\"", i, reason);
    }
    json_decref(d);
    schema_table_release(&old);
    schema_table_release(&new_);
}

/* Each retype on a mapped column, a key column and a column nothing reads. */
static void test_retyped_columns(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof RETYPES / sizeof RETYPES[0]; i++) {
        const struct retype *r = &RETYPES[i];
        enum schema_change guarded = r->widened ? SCHEMA_COMPATIBLE : SCHEMA_INCOMPATIBLE;
        check_retype(i, r, 1, 0, guarded);
        check_retype(i, r, 0, 1, guarded);
        check_retype(i, r, 1, 1, guarded);
        check_retype(i, r, 0, 0, SCHEMA_COMPATIBLE);
    }
}

/* Integer columns as the MariaDB reader would describe them: sizes 1..8, signedness. */
static void test_neutral_integer_widening(void **state)
{
    (void)state;
    struct {
        int from_size;
        unsigned from_flags;
        enum schema_type_family to_family;
        int to_size, to_scale;
        unsigned to_flags;
        int widened;
    } cases[] = {
        {1, 0, SCHEMA_INT, 3, 0, 0, 1},                      /* tinyint -> mediumint */
        {3, 0, SCHEMA_INT, 4, 0, 0, 1},
        {4, SCHEMA_UNSIGNED, SCHEMA_INT, 8, 0, 0, 1},        /* int unsigned -> bigint */
        {4, SCHEMA_UNSIGNED, SCHEMA_INT, 4, 0, 0, 0},        /* int unsigned -> int */
        {4, 0, SCHEMA_INT, 4, 0, SCHEMA_UNSIGNED, 0},        /* int -> int unsigned */
        {4, 0, SCHEMA_INT, 8, 0, SCHEMA_UNSIGNED, 0},        /* negatives lost */
        {4, SCHEMA_UNSIGNED, SCHEMA_INT, 8, 0, SCHEMA_UNSIGNED, 1},
        {8, SCHEMA_UNSIGNED, SCHEMA_NUMERIC, 20, 0, 0, 1},   /* 18446744073709551615 */
        {8, SCHEMA_UNSIGNED, SCHEMA_NUMERIC, 19, 0, 0, 0},
        {8, 0, SCHEMA_NUMERIC, 19, 0, 0, 1},                 /* 9223372036854775807 */
        {3, 0, SCHEMA_NUMERIC, 7, 0, 0, 1},                  /* 8388607 */
        {3, SCHEMA_UNSIGNED, SCHEMA_NUMERIC, 7, 0, 0, 0},    /* 16777215 */
        {1, SCHEMA_UNSIGNED, SCHEMA_NUMERIC, 3, 0, 0, 1},    /* 255 */
        {1, 0, SCHEMA_NUMERIC, 65, 30, 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct schema_column from = {.name = "qty", .type = "from", .family = SCHEMA_INT,
                                     .size = cases[i].from_size, .flags = cases[i].from_flags};
        struct schema_column to = {.name = "qty", .type = "to", .family = cases[i].to_family,
                                   .size = cases[i].to_size, .scale = cases[i].to_scale,
                                   .flags = cases[i].to_flags};
        struct schema_table old, new_;
        schema_table_init(&old);
        schema_table_init(&new_);
        char err[256];
        assert_int_equal(schema_table_add(&old, &from, err, sizeof err), 0);
        if (schema_table_add(&new_, &to, err, sizeof err) != 0)
            fail_msg("case %zu: %s", i, err);
        json_t *d;
        enum schema_change v = compare(&old, &new_, MAPPED, &d);
        if (v != (cases[i].widened ? SCHEMA_COMPATIBLE : SCHEMA_INCOMPATIBLE))
            fail_msg("case %zu: verdict %d", i, v);
        json_decref(d);
        schema_table_release(&old);
        schema_table_release(&new_);
    }

    /* a display-width-only change (int(11) -> int(10)) is reported but harmless */
    struct schema_table old, new_;
    schema_table_init(&old);
    schema_table_init(&new_);
    struct schema_column a = {.name = "qty", .type = "int(11)", .family = SCHEMA_INT, .size = 4};
    struct schema_column b = {.name = "qty", .type = "int(10)", .family = SCHEMA_INT, .size = 4};
    assert_int_equal(schema_table_add(&old, &a, NULL, 0), 0);
    assert_int_equal(schema_table_add(&new_, &b, NULL, 0), 0);
    json_t *d;
    assert_int_equal(compare(&old, &new_, MAPPED, &d), SCHEMA_COMPATIBLE);
    assert_int_equal(array_len(d, "retyped"), 1);
    json_decref(d);
    schema_table_release(&old);
    schema_table_release(&new_);
}

/* ---- comparison: drops, renames, keys ----------------------------------------- */

static void test_unmapped_column_dropped_or_renamed_is_compatible(void **state)
{
    (void)state;
    struct schema_table old = TABLE(STOCK_SKU, STOCK_LOC, STOCK_QTY, STOCK_NOTE);
    struct schema_table dropped = TABLE(STOCK_SKU, STOCK_LOC, STOCK_QTY);
    struct schema_table renamed = TABLE(STOCK_SKU, STOCK_LOC, STOCK_QTY, {"remark", TEXT, -1, 0});
    json_t *d;

    assert_int_equal(compare(&old, &dropped, MAPPED, &d), SCHEMA_COMPATIBLE);
    assert_int_equal(array_len(d, "dropped"), 1);
    assert_string_equal(item_str(d, "dropped", 0, "name"), "note");
    assert_string_equal(item_str(d, "dropped", 0, "type"), "text");
    json_decref(d);

    assert_int_equal(compare(&old, &renamed, MAPPED, &d), SCHEMA_COMPATIBLE);
    assert_string_equal(item_str(d, "dropped", 0, "name"), "note");
    assert_string_equal(item_str(d, "added", 0, "name"), "remark");
    json_decref(d);

    schema_table_release(&old);
    schema_table_release(&dropped);
    schema_table_release(&renamed);
}

static void test_mapped_column_dropped_or_renamed_is_incompatible(void **state)
{
    (void)state;
    struct schema_table old = TABLE(STOCK_SKU, STOCK_LOC, STOCK_QTY, STOCK_NOTE);
    struct schema_table dropped = TABLE(STOCK_SKU, STOCK_LOC, STOCK_NOTE);
    struct schema_table renamed = TABLE(STOCK_SKU, STOCK_LOC, {"quantity", INT4, -1, 0}, STOCK_NOTE);
    struct schema_table recased = TABLE(STOCK_SKU, STOCK_LOC, {"Qty", INT4, -1, 0}, STOCK_NOTE);
    json_t *d;

    assert_int_equal(compare(&old, &dropped, MAPPED, &d), SCHEMA_INCOMPATIBLE);
    assert_string_equal(item_str(d, "dropped", 0, "name"), "qty");
    assert_true(has_reason(d, "mapped column qty dropped"));
    assert_int_equal(array_len(d, "reasons"), 1);
    assert_true(json_is_false(json_object_get(d, "key_changed")));
    json_decref(d);

    assert_int_equal(compare(&old, &renamed, MAPPED, &d), SCHEMA_INCOMPATIBLE);
    assert_string_equal(item_str(d, "dropped", 0, "name"), "qty");
    assert_string_equal(item_str(d, "added", 0, "name"), "quantity");
    assert_true(has_reason(d, "mapped column qty dropped"));
    json_decref(d);

    /* identifiers compare exactly: "Qty" is not "qty" */
    assert_int_equal(compare(&old, &recased, MAPPED, &d), SCHEMA_INCOMPATIBLE);
    assert_string_equal(item_str(d, "added", 0, "name"), "Qty");
    json_decref(d);

    /* nothing mapped: the same drop only loses an unread column */
    assert_int_equal(compare(&old, &dropped, NULL, &d), SCHEMA_COMPATIBLE);
    json_decref(d);

    schema_table_release(&old);
    schema_table_release(&dropped);
    schema_table_release(&renamed);
    schema_table_release(&recased);
}

static void test_key_column_dropped_or_renamed_is_incompatible(void **state)
{
    (void)state;
    struct schema_table old = TABLE({"id", INT8, -1, 1}, STOCK_QTY, STOCK_NOTE);
    struct schema_table dropped = TABLE(STOCK_QTY, STOCK_NOTE);
    struct schema_table renamed = TABLE({"row_id", INT8, -1, 1}, STOCK_QTY, STOCK_NOTE);
    json_t *d;

    assert_int_equal(compare(&old, &dropped, MAPPED, &d), SCHEMA_INCOMPATIBLE);
    assert_true(has_reason(d, "key column id dropped"));
    assert_true(has_reason(d, "key columns changed from (id) to ()"));
    assert_true(json_is_true(json_object_get(d, "key_changed")));
    json_decref(d);

    assert_int_equal(compare(&old, &renamed, NULL, &d), SCHEMA_INCOMPATIBLE);
    assert_string_equal(item_str(d, "dropped", 0, "name"), "id");
    assert_string_equal(item_str(d, "added", 0, "name"), "row_id");
    assert_true(has_reason(d, "key column id dropped"));
    assert_true(has_reason(d, "key columns changed from (id) to (row_id)"));
    json_decref(d);

    /* a column both mapped and key */
    struct schema_table stock = TABLE(STOCK_SKU, STOCK_LOC, STOCK_QTY);
    struct schema_table no_sku = TABLE(STOCK_LOC, STOCK_QTY);
    assert_int_equal(compare(&stock, &no_sku, MAPPED, &d), SCHEMA_INCOMPATIBLE);
    assert_true(has_reason(d, "mapped key column sku dropped"));
    assert_true(has_reason(d, "key columns changed from (sku, location_code) to (location_code)"));
    json_decref(d);

    schema_table_release(&old);
    schema_table_release(&dropped);
    schema_table_release(&renamed);
    schema_table_release(&stock);
    schema_table_release(&no_sku);
}

static void test_key_set_change_is_incompatible(void **state)
{
    (void)state;
    struct schema_table old = TABLE({"id", INT8, -1, 1}, STOCK_SKU, STOCK_QTY);
    struct schema_table wider = TABLE({"id", INT8, -1, 1}, {"sku", VARCHAR, LEN(20), 1}, STOCK_QTY);
    struct schema_table moved = TABLE({"id", INT8, -1, 0}, {"sku", VARCHAR, LEN(20), 1}, STOCK_QTY);
    struct schema_table new_key_col = TABLE({"id", INT8, -1, 1}, STOCK_SKU, STOCK_QTY,
                                            {"tenant", INT4, -1, 1});
    struct schema_table no_key = TABLE({"id", INT8, -1, 0}, STOCK_SKU, STOCK_QTY);
    struct schema_table reordered_key = TABLE(STOCK_QTY, {"sku", VARCHAR, LEN(20), 1},
                                              {"id", INT8, -1, 1});
    json_t *d;

    /* sku of STOCK_SKU is already key, so build old with id alone as the key */
    old.columns[1].key = 0;

    assert_int_equal(compare(&old, &wider, NULL, &d), SCHEMA_INCOMPATIBLE);
    assert_true(json_is_true(json_object_get(d, "key_changed")));
    assert_true(has_reason(d, "key columns changed from (id) to (id, sku)"));
    assert_int_equal(array_len(d, "added") + array_len(d, "dropped") + array_len(d, "retyped"), 0);
    json_decref(d);

    assert_int_equal(compare(&old, &moved, NULL, &d), SCHEMA_INCOMPATIBLE);
    assert_true(has_reason(d, "key columns changed from (id) to (sku)"));
    json_decref(d);

    new_key_col.columns[1].key = 0;
    assert_int_equal(compare(&old, &new_key_col, NULL, &d), SCHEMA_INCOMPATIBLE);
    assert_string_equal(item_str(d, "added", 0, "name"), "tenant");
    assert_true(has_reason(d, "key columns changed from (id) to (id, tenant)"));
    json_decref(d);

    no_key.columns[1].key = 0;
    assert_int_equal(compare(&old, &no_key, NULL, &d), SCHEMA_INCOMPATIBLE);
    assert_true(has_reason(d, "key columns changed from (id) to ()"));
    json_decref(d);

    /* the key is a set: reordering its columns changes nothing */
    assert_int_equal(compare(&wider, &reordered_key, MAPPED, &d), SCHEMA_SAME);
    json_decref(d);

    schema_table_release(&old);
    schema_table_release(&wider);
    schema_table_release(&moved);
    schema_table_release(&new_key_col);
    schema_table_release(&no_key);
    schema_table_release(&reordered_key);
}

/* Several changes at once: every one is reported, any incompatible one decides. */
static void test_mixed_changes_report_everything(void **state)
{
    (void)state;
    struct schema_table old = TABLE(STOCK_SKU, STOCK_LOC, STOCK_QTY, STOCK_NOTE,
                                    {"price", NUMERIC, NUM(10, 2), 0});
    struct schema_table new_ = TABLE(STOCK_LOC, {"sku", VARCHAR, LEN(40), 1},
                                     {"qty", INT2, -1, 0}, {"price", NUMERIC, NUM(8, 2), 0},
                                     {"remark", TEXT, -1, 0});
    json_t *d;
    assert_int_equal(compare(&old, &new_, MAPPED, &d), SCHEMA_INCOMPATIBLE);
    assert_int_equal(array_len(d, "added"), 1);
    assert_int_equal(array_len(d, "dropped"), 1);
    assert_int_equal(array_len(d, "retyped"), 3);
    assert_string_equal(item_str(d, "retyped", 0, "name"), "sku");
    assert_string_equal(item_str(d, "retyped", 1, "name"), "qty");
    assert_string_equal(item_str(d, "retyped", 2, "name"), "price");
    assert_int_equal(array_len(d, "reasons"), 1);
    assert_true(has_reason(d, "mapped column qty retyped from int4 to int2 without widening"));

    /* the details serialise for the schema-changes topic */
    char *text = json_dumps(d, JSON_SORT_KEYS | JSON_COMPACT);
    assert_non_null(text);
    assert_non_null(strstr(text, "{\"from\":\"varchar(20)\",\"name\":\"sku\",\"to\":\"varchar(40)\",\"widened\":true}"));
    free(text);
    json_decref(d);
    schema_table_release(&old);
    schema_table_release(&new_);
}

/* ---- persisted form ----------------------------------------------------------- */

static void assert_tables_equal(const struct schema_table *a, const struct schema_table *b)
{
    assert_int_equal(a->ncolumns, b->ncolumns);
    for (size_t i = 0; i < a->ncolumns; i++) {
        const struct schema_column *x = &a->columns[i], *y = &b->columns[i];
        assert_string_equal(x->name, y->name);
        assert_string_equal(x->type, y->type);
        assert_int_equal(x->family, y->family);
        assert_int_equal(x->size, y->size);
        assert_int_equal(x->scale, y->scale);
        assert_int_equal(x->flags, y->flags);
        assert_int_equal(x->key, y->key);
    }
}

static struct schema_table every_kind_of_column(void)
{
    struct schema_table t = TABLE(
        {"id", INT8, -1, 1}, {"small", INT2, -1, 0}, {"n", INT4, -1, 0},
        {"price", NUMERIC, NUM(12, 2), 0}, {"hundreds", NUMERIC, NUM(5, -2), 0},
        {"any_number", NUMERIC, -1, 0}, {"ratio", FLOAT4, -1, 0}, {"weight", FLOAT8, -1, 0},
        {"Sku", VARCHAR, LEN(20), 1}, {"code", BPCHAR, LEN(3), 0}, {"note", TEXT, -1, 0},
        {"active", BOOL, -1, 0}, {"day", DATE, -1, 0}, {"at", TIMESTAMP, 3, 0},
        {"at_tz", TIMESTAMPTZ, -1, 0}, {"uid", UUID, -1, 0}, {"doc", JSON, -1, 0},
        {"docb", JSONB, -1, 0}, {"tags", 1009, -1, 0}, {"größe", INT4, -1, 0});
    struct schema_column u = {.name = "stock", .type = "int(10) unsigned", .family = SCHEMA_INT,
                              .size = 4, .flags = SCHEMA_UNSIGNED};
    char err[256];
    if (schema_table_add(&t, &u, err, sizeof err) != 0)
        fail_msg("%s", err);
    return t;
}

static void test_json_round_trip(void **state)
{
    (void)state;
    struct schema_table t = every_kind_of_column();
    json_t *j = schema_table_to_json(&t);
    assert_non_null(j);
    char *text = json_dumps(j, JSON_COMPACT);
    assert_non_null(text);
    json_decref(j);

    /* the stored text, as the state database would hand it back */
    json_error_t jerr;
    json_t *loaded = json_loads(text, 0, &jerr);
    free(text);
    assert_non_null(loaded);
    struct schema_table back;
    char err[256] = "";
    if (schema_table_from_json(&back, loaded, err, sizeof err) != 0)
        fail_msg("%s", err);
    json_decref(loaded);
    assert_tables_equal(&t, &back);

    json_t *d;
    assert_int_equal(compare(&t, &back, MAPPED, &d), SCHEMA_SAME);
    json_decref(d);
    schema_table_release(&back);

    /* the format itself is pinned: it outlives the program that wrote it */
    j = schema_table_to_json(&t);
    text = json_dumps(json_array_get(json_object_get(j, "columns"), 9), JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(text, "{\"family\":\"text\",\"flags\":[\"padded\"],\"key\":false,\"name\":"
                              "\"code\",\"scale\":0,\"size\":3,\"type\":\"bpchar(3)\"}");
    free(text);
    assert_int_equal(json_integer_value(json_object_get(j, "version")), 1);
    json_decref(j);

    /* an empty table */
    struct schema_table empty;
    schema_table_init(&empty);
    j = schema_table_to_json(&empty);
    text = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(text, "{\"columns\":[],\"version\":1}");
    free(text);
    assert_int_equal(schema_table_from_json(&back, j, err, sizeof err), 0);
    assert_int_equal(back.ncolumns, 0);
    schema_table_release(&back);
    json_decref(j);

    schema_table_release(&t);
}

/* A table whose name bytes were never checked cannot make a JSON string. */
static void test_to_json_refuses_non_utf8(void **state)
{
    (void)state;
    struct schema_table t = TABLE(STOCK_SKU);
    memcpy(t.columns[0].name, "s\xffku", 5);
    assert_null(schema_table_to_json(&t));
    schema_table_release(&t);
}

static void expect_json_error(const char *text, const char *needle)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!j)
        fail_msg("bad test JSON %s: %s", text, jerr.text);
    struct schema_table t = {.ncolumns = 99, .columns = (struct schema_column *)1};
    char err[256] = "";
    if (schema_table_from_json(&t, j, err, sizeof err) != -1)
        fail_msg("accepted %s", text);
    assert_int_equal(t.ncolumns, 0);
    assert_null(t.columns);
    if (!strstr(err, needle))
        fail_msg("%s: error \"%s\" lacks \"%s\"", text, err, needle);
    json_decref(j);
}

#define COL_REST "\"family\":\"int\",\"size\":4,\"scale\":0,\"flags\":[],\"key\":false"
#define COL(name) "{\"name\":\"" name "\",\"type\":\"int4\"," COL_REST "}"
/* a column with every field given as JSON text */
#define COLX(name, type, family, size, scale, flags, key)                                      \
    "{\"name\":" name ",\"type\":" type ",\"family\":" family ",\"size\":" size               \
    ",\"scale\":" scale ",\"flags\":" flags ",\"key\":" key "}"
/* column "a" of type int4 with size, scale, flags and key given as JSON text */
#define INT_COL(size, scale, flags, key) COLX("\"a\"", "\"int4\"", "\"int\"", size, scale, flags, key)
#define DOC(cols) "{\"version\":1,\"columns\":[" cols "]}"

static void test_from_json_rejects_hostile_input(void **state)
{
    (void)state;
    /* the whole document */
    expect_json_error("null", "not a JSON object");
    expect_json_error("[]", "not a JSON object");
    expect_json_error("\"columns\"", "not a JSON object");
    expect_json_error("{}", "version is missing");
    expect_json_error("{\"columns\":[]}", "version is missing");
    expect_json_error("{\"version\":2,\"columns\":[]}", "version is not supported");
    expect_json_error("{\"version\":\"1\",\"columns\":[]}", "version is not supported");
    expect_json_error("{\"version\":1.0,\"columns\":[]}", "version is not supported");
    expect_json_error("{\"version\":1}", "columns is missing");
    expect_json_error("{\"version\":1,\"columns\":{}}", "columns is not an array");
    expect_json_error("{\"version\":1,\"columns\":null}", "columns is not an array");
    expect_json_error("{\"version\":1,\"columns\":[],\"extra\":0}", "unknown fields");
    /* a column */
    expect_json_error(DOC("1"), "columns[0]: not an object");
    expect_json_error(DOC(COL("a") ",[]"), "columns[1]: not an object");
    expect_json_error(DOC("{" COL_REST "}"), "name is missing");
    expect_json_error(DOC("{\"name\":\"a\"," COL_REST "}"), "type is missing");
    expect_json_error(DOC("{\"name\":1,\"type\":\"int4\"," COL_REST "}"), "name is not a string");
    expect_json_error(DOC("{\"name\":null,\"type\":\"int4\"," COL_REST "}"), "name is not a string");
    expect_json_error(DOC("{\"name\":\"a\",\"type\":[]," COL_REST "}"), "type is not a string");
    expect_json_error(DOC("{\"name\":\"a\",\"type\":\"int4\",\"size\":4,\"scale\":0,\"flags\":[],\"key\":false}"),
                      "family is missing");
    expect_json_error(DOC(COLX("\"a\"", "\"int4\"", "\"integer\"", "4", "0", "[]", "false")),
                      "unknown family integer");
    expect_json_error(DOC(INT_COL("\"4\"", "0", "[]", "false")),
                      "size is not an integer");
    expect_json_error(DOC(INT_COL("4.0", "0", "[]", "false")),
                      "size is not an integer");
    expect_json_error(DOC(INT_COL("4294967300", "0", "[]", "false")),
                      "size is out of range");
    expect_json_error(DOC(INT_COL("4", "-9223372036854775807", "[]", "false")),
                      "scale is out of range");
    expect_json_error(DOC("{\"name\":\"a\",\"type\":\"int4\",\"family\":\"int\",\"size\":4,\"flags\":[],\"key\":false}"),
                      "scale is missing");
    expect_json_error(DOC("{\"name\":\"a\",\"type\":\"int4\",\"family\":\"int\",\"size\":4,\"scale\":0,\"key\":false}"),
                      "flags is missing");
    expect_json_error(DOC(INT_COL("4", "0", "\"unsigned\"", "false")),
                      "flags is not an array");
    expect_json_error(DOC(INT_COL("4", "0", "[1]", "false")),
                      "flags[0] is not a known flag");
    expect_json_error(DOC(INT_COL("4", "0", "[\"unsigned\",\"weird\"]", "false")),
                      "flags[1] is not a known flag");
    expect_json_error(DOC(INT_COL("4", "0", "[\"unsigned\\u0000x\"]", "false")),
                      "flags[0] is not a known flag");
    expect_json_error(DOC(INT_COL("4", "0", "[\"padded\"]", "false")),
                      "flag padded is only for text columns");
    expect_json_error(DOC("{\"name\":\"a\",\"type\":\"int4\",\"family\":\"int\",\"size\":4,\"scale\":0,\"flags\":[]}"),
                      "key is missing");
    expect_json_error(DOC(INT_COL("4", "0", "[]", "1")),
                      "key is not a boolean");
    expect_json_error(DOC(INT_COL("4", "0", "[]", "\"true\"")),
                      "key is not a boolean");
    expect_json_error(DOC("{\"name\":\"a\",\"type\":\"int4\"," COL_REST ",\"default\":0}"), "unknown fields");
    /* names */
    expect_json_error(DOC(COL("")), "empty column name");
    expect_json_error(DOC(COL("a\\u0000b")), "name holds a NUL character");
    expect_json_error(DOC(COL("nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn")),
                      "name is 64 bytes");
    expect_json_error(DOC(COL("qty") "," COL("sku") "," COL("qty")), "columns[2]: duplicate column name qty");
    expect_json_error(DOC("{\"name\":\"a\",\"type\":\"\"," COL_REST "}"), "empty type");
    /* sizes that make no sense for the family */
    expect_json_error(DOC(COLX("\"a\"", "\"x\"", "\"int\"", "16", "0", "[]", "false")),
                      "size 16 out of range");
    expect_json_error(DOC(COLX("\"a\"", "\"x\"", "\"numeric\"", "-1", "2", "[]", "false")),
                      "scale 2 out of range");
    expect_json_error(DOC(COLX("\"a\"", "\"x\"", "\"text\"", "0", "0", "[]", "false")),
                      "size 0 out of range");
    expect_json_error(DOC(COLX("\"a\"", "\"x\"", "\"uuid\"", "16", "0", "[]", "false")),
                      "size 16 out of range");

    /* a 63-byte name is fine, and accepted names are kept byte for byte */
    json_t *j = json_loads(DOC(COL("nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn") "," COL("Größe")),
                           0, NULL);
    struct schema_table t;
    char err[256];
    assert_int_equal(schema_table_from_json(&t, j, err, sizeof err), 0);
    assert_int_equal(strlen(t.columns[0].name), 63);
    assert_string_equal(t.columns[1].name, "Größe");
    schema_table_release(&t);
    json_decref(j);
    assert_int_equal(schema_table_from_json(&t, NULL, err, sizeof err), -1);
}

static void test_from_json_too_many_columns(void **state)
{
    (void)state;
    json_t *cols = json_array();
    for (int i = 0; i <= SCHEMA_MAX_COLUMNS; i++)
        json_array_append_new(cols, json_integer(i));
    json_t *j = json_pack("{s:i, s:o}", "version", 1, "columns", cols);
    struct schema_table t;
    char err[256];
    assert_int_equal(schema_table_from_json(&t, j, err, sizeof err), -1);
    assert_string_equal(err, "table schema has more than 4096 columns");
    json_decref(j);
}

/* Every field of a valid document swapped for every kind of JSON value, or removed:
 * never a crash, and whatever is accepted is a valid table again. */
static void test_from_json_every_field_every_type(void **state)
{
    (void)state;
    struct schema_table t = every_kind_of_column();
    json_t *good = schema_table_to_json(&t);
    schema_table_release(&t);
    const char *values[] = {"null", "true", "false", "0", "-1", "1", "4", "6", "1000", "-1000",
                            "9223372036854775807", "1.5", "\"\"", "\"int\"", "\"text\"",
                            "\"padded\"", "[]", "[\"unsigned\"]", "[null]", "{}", "\"\\u0000\""};
    const char *fields[] = {"name", "type", "family", "size", "scale", "flags", "key"};
    size_t accepted = 0;
    json_t *cols = json_object_get(good, "columns");
    for (size_t ci = 0; ci < json_array_size(cols); ci++) {
        for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
            for (size_t v = 0; v <= sizeof values / sizeof values[0]; v++) {
                json_t *doc = json_deep_copy(good);
                json_t *col = json_array_get(json_object_get(doc, "columns"), ci);
                if (v == sizeof values / sizeof values[0]) {
                    json_object_del(col, fields[f]);
                } else {
                    json_t *val = json_loads(values[v], JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
                    assert_non_null(val);
                    json_object_set_new(col, fields[f], val);
                }
                char err[256];
                if (schema_table_from_json(&t, doc, err, sizeof err) == 0) {
                    accepted++;
                    json_t *again = schema_table_to_json(&t);
                    struct schema_table back;
                    assert_non_null(again);
                    assert_int_equal(schema_table_from_json(&back, again, err, sizeof err), 0);
                    assert_tables_equal(&t, &back);
                    schema_table_release(&back);
                    json_decref(again);
                    schema_table_release(&t);
                } else {
                    assert_true(err[0] != '\0');
                    assert_null(t.columns);
                }
                json_decref(doc);
            }
        }
    }
    /* some swaps are legitimate (another name, key true, another size), most are not */
    assert_true(accepted > 0);
    json_decref(good);
}

/* jansson allocations fail after a budget, to walk every out-of-memory path */
static long alloc_budget = -1;

static void *budget_malloc(size_t n)
{
    if (alloc_budget == 0)
        return NULL;
    if (alloc_budget > 0)
        alloc_budget--;
    return malloc(n);
}

/* Out of memory loses the details or the JSON, never the verdict, never memory. */
static void test_out_of_memory_in_json(void **state)
{
    (void)state;
    struct schema_table old = TABLE(STOCK_SKU, STOCK_LOC, STOCK_QTY, STOCK_NOTE);
    struct schema_table new_ = TABLE(STOCK_LOC, {"sku", VARCHAR, LEN(40), 1}, {"qty", INT2, -1, 1},
                                     {"remark", TEXT, -1, 0});
    json_set_alloc_funcs(budget_malloc, free);
    int completed_compare = 0, completed_json = 0;
    for (long budget = 0; budget < 400 && !(completed_compare && completed_json); budget++) {
        json_t *d = NULL;
        alloc_budget = budget;
        enum schema_change v = schema_compare(&old, &new_, MAPPED, &d);
        alloc_budget = -1;
        assert_int_equal(v, SCHEMA_INCOMPATIBLE);
        if (d) {
            /* a document is whole or absent */
            assert_int_equal(json_object_size(d), 6);
            assert_int_equal(array_len(d, "reasons"), 2);  /* qty narrowed, key set changed */
            completed_compare = 1;
            json_decref(d);
        }
        alloc_budget = budget;
        json_t *j = schema_table_to_json(&old);
        alloc_budget = -1;
        if (j) {
            assert_int_equal(json_array_size(json_object_get(j, "columns")), 4);
            completed_json = 1;
            json_decref(j);
        }
    }
    json_set_alloc_funcs(malloc, free);
    assert_true(completed_compare && completed_json);
    schema_table_release(&old);
    schema_table_release(&new_);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_builtin_types),
        cmocka_unit_test(test_pg_rejects_bad_names_and_typmods),
        cmocka_unit_test(test_table_rejects_duplicates_and_invalid_columns),
        cmocka_unit_test(test_table_grows_to_the_column_limit),
        cmocka_unit_test(test_identical_and_reordered_tables_are_same),
        cmocka_unit_test(test_added_column_is_compatible),
        cmocka_unit_test(test_retyped_columns),
        cmocka_unit_test(test_neutral_integer_widening),
        cmocka_unit_test(test_unmapped_column_dropped_or_renamed_is_compatible),
        cmocka_unit_test(test_mapped_column_dropped_or_renamed_is_incompatible),
        cmocka_unit_test(test_key_column_dropped_or_renamed_is_incompatible),
        cmocka_unit_test(test_key_set_change_is_incompatible),
        cmocka_unit_test(test_mixed_changes_report_everything),
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_to_json_refuses_non_utf8),
        cmocka_unit_test(test_from_json_rejects_hostile_input),
        cmocka_unit_test(test_from_json_too_many_columns),
        cmocka_unit_test(test_from_json_every_field_every_type),
        cmocka_unit_test(test_out_of_memory_in_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
