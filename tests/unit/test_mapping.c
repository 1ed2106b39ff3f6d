/* test_mapping.c — change rows become stock facts through the configured table
 * mappings: the quantities an operator sees, the reasons a row is refused (and sent to
 * the DLQ), deletes and moves that zero where stock was. Events travel the realistic
 * path: event_encode() as a reader writes them, event_decode() as merge reads them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapping.h"
#include "stockmesh/config.h"
#include "stockmesh/event.h"

static const char CONFIG_YAML[] =
    "backbone:\n"
    "  topic_prefix: retail\n"
    "sources:\n"
    "  - name: erp\n"
    "    type: postgres\n"
    "    dsn: host=127.0.0.1 dbname=retail user=stockmesh\n"
    "    tables:\n"
    "      - table: public.stock_levels\n"
    "        sku: sku\n"
    "        location: location_code\n"
    "        on_hand: on_hand\n"
    "        committed: committed\n"
    "        unavailable: unavailable\n"
    "      - table: wms.bin_stock\n"
    "        sku: item\n"
    "        location_code: WH1\n"
    "        on_hand: qty\n"
    "  - name: pos\n"
    "    type: postgres\n"
    "    dsn: host=127.0.0.1 dbname=pos\n"
    "    tables:\n"
    "      - table: sales\n"
    "        sku: upc\n"
    "        location: store\n"
    "        committed: reserved\n"
    "locations:\n"
    "  - {code: WH1, type: warehouse}\n"
    "  - {code: S12, type: store, safety_stock: 2}\n"
    "channels:\n"
    "  - name: web\n"
    "    url: http://127.0.0.1:9/web\n"
    "    secret: test-secret\n"
    "    location_types: [warehouse]\n"
    "authority:\n"
    "  - {location_type: warehouse, source: erp}\n"
    "  - {location_type: store, source: pos}\n";

#define ALL_KINDS ((1u << CONFIG_ON_HAND) | (1u << CONFIG_COMMITTED) | (1u << CONFIG_UNAVAILABLE))

struct fixture {
    struct config *cfg;
    struct mapping map;
    const struct mapping_table *stock;  /* erp public.stock_levels */
    const struct mapping_table *bins;   /* erp wms.bin_stock, constant location */
    const struct mapping_table *sales;  /* pos public.sales, committed only */
    struct change_event ev;
    int have_event;
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    char err[2048];
    fx->cfg = config_load_string(CONFIG_YAML, strlen(CONFIG_YAML), "mapping.yaml", err, sizeof err);
    if (!fx->cfg) {
        fprintf(stderr, "config: %s\n", err);
        free(fx);
        return -1;
    }
    if (mapping_init(&fx->map, fx->cfg, err, sizeof err) != 0) {
        fprintf(stderr, "mapping_init: %s\n", err);
        config_free(fx->cfg);
        free(fx);
        return -1;
    }
    fx->stock = mapping_find(&fx->map, "retail.erp.public.stock_levels");
    fx->bins = mapping_find(&fx->map, "retail.erp.wms.bin_stock");
    fx->sales = mapping_find(&fx->map, "retail.pos.public.sales");
    *state = fx;
    return fx->stock && fx->bins && fx->sales ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    if (fx->have_event) event_release(&fx->ev);
    mapping_release(&fx->map);
    config_free(fx->cfg);
    free(fx);
    return 0;
}

/* Builds the event a reader would publish for a change of t's table and decodes it into
 * fx->ev, as merge does. before/after are JSON text or NULL. */
static struct change_event *make_event(struct fixture *fx, const struct mapping_table *t, char op,
                                       const char *before, const char *after)
{
    if (fx->have_event) event_release(&fx->ev);
    fx->have_event = 0;
    json_error_t jerr;
    struct change_event in = {0};
    in.op = op;
    in.before = before ? json_loads(before, 0, &jerr) : NULL;
    in.after = after ? json_loads(after, 0, &jerr) : NULL;
    if ((before && !in.before) || (after && !in.after)) fail_msg("bad test JSON: %s", jerr.text);
    in.connector = "postgresql";
    in.source = t->source->name;
    in.db = "retail";
    in.schema = t->table->schema;
    in.table = t->table->name;
    in.lsn = 0x100000A00ULL;
    in.txid = 777;
    event_position_pg(in.position, in.lsn, 3);
    in.commit_us = 1700000000123456LL;
    in.read_us = 1700000000200000LL;
    size_t len;
    char *text = event_encode(&in, &len);
    json_decref(in.before);
    json_decref(in.after);
    assert_non_null(text);
    char err[256];
    if (event_decode(&fx->ev, text, len, err, sizeof err) != 0) fail_msg("decode: %s", err);
    free(text);
    fx->have_event = 1;
    return &fx->ev;
}

/* Maps an event that must succeed; returns the number of facts. */
static int facts_ok(struct fixture *fx, const struct mapping_table *t, struct stock_fact facts[2])
{
    const char *code = NULL;
    char err[512] = "";
    int n = mapping_facts(&fx->map, t, &fx->ev, facts, &code, err, sizeof err);
    if (n < 0) fail_msg("refused (%s): %s", code ? code : "?", err);
    return n;
}

/* Maps an event that must be refused with this code and a reason containing each of the
 * NULL-terminated needles. */
static void assert_refused(struct fixture *fx, const struct mapping_table *t, const char *want_code,
                           ...)
{
    struct stock_fact facts[2];
    const char *code = NULL;
    char err[512] = "";
    int n = mapping_facts(&fx->map, t, &fx->ev, facts, &code, err, sizeof err);
    if (n >= 0) fail_msg("mapped to %d facts, expected refusal %s", n, want_code);
    assert_int_equal(n, -1);
    assert_non_null(code);
    assert_string_equal(code, want_code);
    va_list ap;
    va_start(ap, want_code);
    for (const char *needle; (needle = va_arg(ap, const char *));)
        if (!strstr(err, needle)) fail_msg("reason \"%s\" does not contain \"%s\"", err, needle);
    va_end(ap);
}

static void assert_fact(const struct stock_fact *f, struct fixture *fx, const char *sku,
                        const char *location, const char *source, unsigned present,
                        long long on_hand, long long committed, long long unavailable)
{
    assert_string_equal(f->sku, sku);
    assert_non_null(f->location);
    assert_string_equal(f->location->code, location);
    assert_ptr_equal(f->location, config_location(fx->cfg, location));
    assert_non_null(f->source);
    assert_string_equal(f->source->name, source);
    assert_int_equal(f->present, present);
    if (present & (1u << CONFIG_ON_HAND)) assert_int_equal(f->quantity[CONFIG_ON_HAND], on_hand);
    if (present & (1u << CONFIG_COMMITTED))
        assert_int_equal(f->quantity[CONFIG_COMMITTED], committed);
    if (present & (1u << CONFIG_UNAVAILABLE))
        assert_int_equal(f->quantity[CONFIG_UNAVAILABLE], unavailable);
    assert_string_equal(f->position, fx->ev.position);
    assert_true(f->commit_us == fx->ev.commit_us);
}

/* ------------------------------------------------------------------ topics */

static void test_find_by_topic_name(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(fx->map.ntables, 3);
    assert_string_equal(fx->stock->topic, "retail.erp.public.stock_levels");
    assert_string_equal(fx->stock->table->name, "stock_levels");
    assert_string_equal(fx->stock->source->name, "erp");
    assert_string_equal(fx->bins->table->schema, "wms");
    assert_string_equal(fx->bins->table->name, "bin_stock");
    /* "table: sales" means schema public */
    assert_string_equal(fx->sales->topic, "retail.pos.public.sales");
    assert_string_equal(fx->sales->source->name, "pos");

    assert_null(mapping_find(&fx->map, "stockmesh.erp.public.stock_levels")); /* other prefix */
    assert_null(mapping_find(&fx->map, "retail.pos.public.stock_levels"));     /* other source */
    assert_null(mapping_find(&fx->map, "retail.erp.public.stock_level"));
    assert_null(mapping_find(&fx->map, "retail.erp.public.stock_levels.x"));
    assert_null(mapping_find(&fx->map, "retail.availability"));
    assert_null(mapping_find(&fx->map, ""));
}

static void test_default_topic_prefix(void **state)
{
    (void)state;
    static const char yaml[] = "sources:\n"
                               "  - name: erp\n"
                               "    type: postgres\n"
                               "    dsn: host=127.0.0.1 dbname=retail\n"
                               "    tables:\n"
                               "      - {table: stock_levels, sku: sku, location: loc, on_hand: q}\n"
                               "locations:\n"
                               "  - {code: WH1, type: warehouse}\n";
    char err[1024];
    struct config *cfg = config_load_string(yaml, strlen(yaml), "default.yaml", err, sizeof err);
    if (!cfg) fail_msg("%s", err);
    struct mapping m;
    assert_int_equal(mapping_init(&m, cfg, err, sizeof err), 0);
    const struct mapping_table *t = mapping_find(&m, "stockmesh.erp.public.stock_levels");
    assert_non_null(t);
    assert_string_equal(t->table->sku_column, "sku");
    mapping_release(&m);
    config_free(cfg);
}

/* ------------------------------------------------------------------ rows to facts */

static void test_insert_gives_one_fact_with_three_quantities(void **state)
{
    struct fixture *fx = *state;
    struct stock_fact facts[2];
    make_event(fx, fx->stock, 'c', NULL,
               "{\"sku\":\"A-100\",\"location_code\":\"WH1\",\"on_hand\":12,\"committed\":3,"
               "\"unavailable\":1,\"price\":9.99}");
    assert_int_equal(facts_ok(fx, fx->stock, facts), 1);
    assert_fact(&facts[0], fx, "A-100", "WH1", "erp", ALL_KINDS, 12, 3, 1);
}

static void test_snapshot_read_gives_one_fact(void **state)
{
    struct fixture *fx = *state;
    struct stock_fact facts[2];
    make_event(fx, fx->stock, 'r', NULL,
               "{\"sku\":\"A-100\",\"location_code\":\"S12\",\"on_hand\":5,\"committed\":0,"
               "\"unavailable\":0}");
    assert_int_equal(facts_ok(fx, fx->stock, facts), 1);
    assert_fact(&facts[0], fx, "A-100", "S12", "erp", ALL_KINDS, 5, 0, 0);
}

static void test_update_in_place_gives_one_fact(void **state)
{
    struct fixture *fx = *state;
    struct stock_fact facts[2];
    make_event(fx, fx->stock, 'u',
               "{\"sku\":\"A-100\",\"location_code\":\"WH1\",\"on_hand\":12,\"committed\":3,"
               "\"unavailable\":1}",
               "{\"sku\":\"A-100\",\"location_code\":\"WH1\",\"on_hand\":11,\"committed\":2,"
               "\"unavailable\":1}");
    assert_int_equal(facts_ok(fx, fx->stock, facts), 1);
    assert_fact(&facts[0], fx, "A-100", "WH1", "erp", ALL_KINDS, 11, 2, 1);

    /* no before image (REPLICA IDENTITY DEFAULT, key unchanged) */
    make_event(fx, fx->stock, 'u', NULL,
               "{\"sku\":\"A-100\",\"location_code\":\"WH1\",\"on_hand\":10,\"committed\":2,"
               "\"unavailable\":1}");
    assert_int_equal(facts_ok(fx, fx->stock, facts), 1);
    assert_fact(&facts[0], fx, "A-100", "WH1", "erp", ALL_KINDS, 10, 2, 1);

    /* a before image holding only some key columns is not a move */
    make_event(fx, fx->stock, 'u', "{\"sku\":\"A-100\"}",
               "{\"sku\":\"A-100\",\"location_code\":\"WH1\",\"on_hand\":9,\"committed\":2,"
               "\"unavailable\":1}");
    assert_int_equal(facts_ok(fx, fx->stock, facts), 1);
    assert_fact(&facts[0], fx, "A-100", "WH1", "erp", ALL_KINDS, 9, 2, 1);
}

static void test_quantity_forms_that_mean_whole_units(void **state)
{
    struct fixture *fx = *state;
    static const char *const forms[] = {"12", "12.0", "\"12\"", "\"12.000\"",
                                        "12.000000"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        char row[256];
        snprintf(row, sizeof row,
                 "{\"sku\":\"A-100\",\"location_code\":\"WH1\",\"on_hand\":%s,\"committed\":%s,"
                 "\"unavailable\":%s}",
                 forms[i], forms[i], forms[i]);
        struct stock_fact facts[2];
        make_event(fx, fx->stock, 'c', NULL, row);
        /* the real must really arrive as a real, not be rewritten on the way */
        if (strchr(forms[i], '.') && forms[i][0] != '"')
            assert_true(json_is_real(json_object_get(fx->ev.after, "on_hand")));
        assert_int_equal(facts_ok(fx, fx->stock, facts), 1);
        assert_fact(&facts[0], fx, "A-100", "WH1", "erp", ALL_KINDS, 12, 12, 12);
    }
}

static void test_negative_and_zero_quantities_are_kept(void **state)
{
    struct fixture *fx = *state;
    struct stock_fact facts[2];
    /* a negative figure is data (a shrinkage not booked yet); the merge clamps it */
    make_event(fx, fx->stock, 'c', NULL,
               "{\"sku\":\"A-100\",\"location_code\":\"WH1\",\"on_hand\":-4,\"committed\":\"-1\","
               "\"unavailable\":0.0}");
    assert_int_equal(facts_ok(fx, fx->stock, facts), 1);
    assert_fact(&facts[0], fx, "A-100", "WH1", "erp", ALL_KINDS, -4, -1, 0);
}

static void test_fraction_is_a_bad_quantity(void **state)
{
    struct fixture *fx = *state;
    make_event(fx, fx->stock, 'c', NULL,
               "{\"sku\":\"A-100\",\"location_code\":\"WH1\",\"on_hand\":\"12.5\",\"committed\":0,"
               "\"unavailable\":0}");
    assert_refused(fx, fx->stock, "bad_quantity", "\"on_hand\"", "12.5", NULL);

    make_event(fx, fx->stock, 'c', NULL,
               "{\"sku\":\"A-100\",\"location_code\":\"WH1\",\"on_hand\":1,\"committed\":2.5,"
               "\"unavailable\":0}");
    assert_refused(fx, fx->stock, "bad_quantity", "\"committed\"", "2.5", NULL);

    make_event(fx, fx->stock, 'c', NULL,
               "{\"sku\":\"A-100\",\"location_code\":\"WH1\",\"on_hand\":1,\"committed\":0,"
               "\"unavailable\":\"0.001\"}");
    assert_refused(fx, fx->stock, "bad_quantity", "\"unavailable\"", NULL);
}

static void test_text_is_a_bad_quantity(void **state)
{
    struct fixture *fx = *state;
    static const char *const bad[] = {"\"abc\"", "\"\"", "\"12abc\"", "\"1e3\"", "\"12 units\"",
                                      "true", "[12]", "{\"n\":12}", "1e300"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char row[256];
        snprintf(row, sizeof row,
                 "{\"sku\":\"A-100\",\"location_code\":\"WH1\",\"on_hand\":%s,\"committed\":0,"
                 "\"unavailable\":0}",
                 bad[i]);
        make_event(fx, fx->stock, 'c', NULL, row);
        assert_refused(fx, fx->stock, "bad_quantity", "\"on_hand\"", "stock_levels", NULL);
    }
}

/* The merge function computes in doubles (exact below 2^53) and sums locations: a
 * quantity beyond ±10^12 is refused in every form rather than rounded or wrapped. */
static void test_huge_quantity_is_refused(void **state)
{
    struct fixture *fx = *state;
    static const char *const huge[] = {"9223372036854775807", "\"9223372036854775807\"",
                                       "1000000000001", "-1000000000001", "1e15"};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        char row[256];
        snprintf(row, sizeof row,
                 "{\"sku\":\"A-100\",\"location_code\":\"WH1\",\"on_hand\":%s,\"committed\":0,"
                 "\"unavailable\":0}",
                 huge[i]);
        make_event(fx, fx->stock, 'c', NULL, row);
        assert_refused(fx, fx->stock, "bad_quantity", "\"on_hand\"", NULL);
    }
    make_event(fx, fx->stock, 'c', NULL,
               "{\"sku\":\"A-100\",\"location_code\":\"WH1\",\"on_hand\":1000000000000,"
               "\"committed\":0,\"unavailable\":0}");
    struct stock_fact facts[2];
    assert_int_equal(facts_ok(fx, fx->stock, facts), 1);
    assert_true(facts[0].quantity[CONFIG_ON_HAND] == 1000000000000LL);
}

static void test_null_or_missing_quantity_is_bad(void **state)
{
    struct fixture *fx = *state;
    make_event(fx, fx->stock, 'c', NULL,
               "{\"sku\":\"A-100\",\"location_code\":\"WH1\",\"on_hand\":null,\"committed\":0,"
               "\"unavailable\":0}");
    assert_refused(fx, fx->stock, "bad_quantity", "\"on_hand\"", "null", NULL);

    make_event(fx, fx->stock, 'c', NULL,
               "{\"sku\":\"A-100\",\"location_code\":\"WH1\",\"on_hand\":4,\"unavailable\":0}");
    assert_refused(fx, fx->stock, "bad_quantity", "\"committed\"", "missing", NULL);

    make_event(fx, fx->bins, 'c', NULL, "{\"item\":\"A-100\"}");
    assert_refused(fx, fx->bins, "bad_quantity", "\"qty\"", NULL);
}

static void test_unknown_location_is_named(void **state)
{
    struct fixture *fx = *state;
    make_event(fx, fx->stock, 'c', NULL,
               "{\"sku\":\"A-100\",\"location_code\":\"ZZ9\",\"on_hand\":1,\"committed\":0,"
               "\"unavailable\":0}");
    assert_refused(fx, fx->stock, "unknown_location", "\"ZZ9\"", NULL);

    /* codes are exact: no case folding */
    make_event(fx, fx->stock, 'c', NULL,
               "{\"sku\":\"A-100\",\"location_code\":\"wh1\",\"on_hand\":1,\"committed\":0,"
               "\"unavailable\":0}");
    assert_refused(fx, fx->stock, "unknown_location", "\"wh1\"", NULL);

    /* a numeric store number is a code too, and named as such */
    make_event(fx, fx->stock, 'c', NULL,
               "{\"sku\":\"A-100\",\"location_code\":12,\"on_hand\":1,\"committed\":0,"
               "\"unavailable\":0}");
    assert_refused(fx, fx->stock, "unknown_location", "\"12\"", NULL);
}

static void test_missing_location_column(void **state)
{
    struct fixture *fx = *state;
    make_event(fx, fx->stock, 'c', NULL,
               "{\"sku\":\"A-100\",\"on_hand\":1,\"committed\":0,\"unavailable\":0}");
    assert_refused(fx, fx->stock, "missing_location", "\"location_code\"", NULL);

    make_event(fx, fx->stock, 'c', NULL,
               "{\"sku\":\"A-100\",\"location_code\":null,\"on_hand\":1,\"committed\":0,"
               "\"unavailable\":0}");
    assert_refused(fx, fx->stock, "missing_location", "\"location_code\"", NULL);
}

static void test_missing_sku(void **state)
{
    struct fixture *fx = *state;
    static const char *const rows[] = {
        "{\"location_code\":\"WH1\",\"on_hand\":1,\"committed\":0,\"unavailable\":0}",
        "{\"sku\":null,\"location_code\":\"WH1\",\"on_hand\":1,\"committed\":0,\"unavailable\":0}",
        "{\"sku\":\"\",\"location_code\":\"WH1\",\"on_hand\":1,\"committed\":0,\"unavailable\":0}",
        "{\"sku\":1.5,\"location_code\":\"WH1\",\"on_hand\":1,\"committed\":0,\"unavailable\":0}",
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        make_event(fx, fx->stock, 'c', NULL, rows[i]);
        assert_refused(fx, fx->stock, "missing_sku", "\"sku\"", NULL);
    }

    /* longer than the SKU buffer: refused, not cut short into another SKU */
    char row[512], sku[MAPPING_SKU_MAX + 1];
    memset(sku, 'X', MAPPING_SKU_MAX);
    sku[MAPPING_SKU_MAX] = 0;
    snprintf(row, sizeof row,
             "{\"sku\":\"%s\",\"location_code\":\"WH1\",\"on_hand\":1,\"committed\":0,"
             "\"unavailable\":0}",
             sku);
    make_event(fx, fx->stock, 'c', NULL, row);
    assert_refused(fx, fx->stock, "missing_sku", NULL);
}

static void test_integer_sku_is_text(void **state)
{
    struct fixture *fx = *state;
    struct stock_fact facts[2];
    make_event(fx, fx->stock, 'c', NULL,
               "{\"sku\":4006381333931,\"location_code\":\"S12\",\"on_hand\":3,\"committed\":0,"
               "\"unavailable\":0}");
    assert_int_equal(facts_ok(fx, fx->stock, facts), 1);
    assert_fact(&facts[0], fx, "4006381333931", "S12", "erp", ALL_KINDS, 3, 0, 0);

    /* a SKU of 127 characters still fits */
    char row[512], sku[MAPPING_SKU_MAX];
    memset(sku, 'Y', MAPPING_SKU_MAX - 1);
    sku[MAPPING_SKU_MAX - 1] = 0;
    snprintf(row, sizeof row,
             "{\"sku\":\"%s\",\"location_code\":\"WH1\",\"on_hand\":1,\"committed\":0,"
             "\"unavailable\":0}",
             sku);
    make_event(fx, fx->stock, 'c', NULL, row);
    assert_int_equal(facts_ok(fx, fx->stock, facts), 1);
    assert_string_equal(facts[0].sku, sku);
}

static void test_table_with_constant_location(void **state)
{
    struct fixture *fx = *state;
    struct stock_fact facts[2];
    make_event(fx, fx->bins, 'c', NULL, "{\"item\":\"B-7\",\"qty\":\"40.00\",\"bin\":\"A-01\"}");
    assert_int_equal(facts_ok(fx, fx->bins, facts), 1);
    /* the table carries only on_hand: the other kinds are absent, not zero */
    assert_fact(&facts[0], fx, "B-7", "WH1", "erp", 1u << CONFIG_ON_HAND, 40, 0, 0);

    /* a location column in the row of such a table is ignored */
    make_event(fx, fx->bins, 'c', NULL, "{\"item\":\"B-7\",\"qty\":1,\"location_code\":\"S12\"}");
    assert_int_equal(facts_ok(fx, fx->bins, facts), 1);
    assert_string_equal(facts[0].location->code, "WH1");
}

static void test_partial_table_gives_only_its_kind(void **state)
{
    struct fixture *fx = *state;
    struct stock_fact facts[2];
    make_event(fx, fx->sales, 'c', NULL, "{\"upc\":\"0123456789012\",\"store\":\"S12\",\"reserved\":2}");
    assert_int_equal(facts_ok(fx, fx->sales, facts), 1);
    assert_fact(&facts[0], fx, "0123456789012", "S12", "pos", 1u << CONFIG_COMMITTED, 0, 2, 0);
}

/* ------------------------------------------------------------------ deletes and moves */

static void test_delete_gives_one_zero_fact_with_every_kind(void **state)
{
    struct fixture *fx = *state;
    struct stock_fact facts[2];
    make_event(fx, fx->stock, 'd',
               "{\"sku\":\"A-100\",\"location_code\":\"S12\",\"on_hand\":12,\"committed\":3,"
               "\"unavailable\":1}",
               NULL);
    assert_int_equal(facts_ok(fx, fx->stock, facts), 1);
    assert_fact(&facts[0], fx, "A-100", "S12", "erp", ALL_KINDS, 0, 0, 0);

    /* the before image of a delete may hold only the key: still a zero fact */
    make_event(fx, fx->stock, 'd', "{\"sku\":\"A-100\",\"location_code\":\"S12\"}", NULL);
    assert_int_equal(facts_ok(fx, fx->stock, facts), 1);
    assert_fact(&facts[0], fx, "A-100", "S12", "erp", ALL_KINDS, 0, 0, 0);

    /* a table with one kind: zero for that kind only */
    make_event(fx, fx->bins, 'd', "{\"item\":\"B-7\"}", NULL);
    assert_int_equal(facts_ok(fx, fx->bins, facts), 1);
    assert_fact(&facts[0], fx, "B-7", "WH1", "erp", 1u << CONFIG_ON_HAND, 0, 0, 0);
}

static void test_delete_without_sku_is_refused(void **state)
{
    struct fixture *fx = *state;
    make_event(fx, fx->stock, 'd', "{\"id\":17}", NULL);
    assert_refused(fx, fx->stock, "missing_sku", NULL);
}

static void test_update_moving_location_zeroes_the_old_place_first(void **state)
{
    struct fixture *fx = *state;
    struct stock_fact facts[2];
    make_event(fx, fx->stock, 'u',
               "{\"sku\":\"A-100\",\"location_code\":\"S12\",\"on_hand\":12,\"committed\":3,"
               "\"unavailable\":1}",
               "{\"sku\":\"A-100\",\"location_code\":\"WH1\",\"on_hand\":12,\"committed\":3,"
               "\"unavailable\":1}");
    assert_int_equal(facts_ok(fx, fx->stock, facts), 2);
    assert_fact(&facts[0], fx, "A-100", "S12", "erp", ALL_KINDS, 0, 0, 0);
    assert_fact(&facts[1], fx, "A-100", "WH1", "erp", ALL_KINDS, 12, 3, 1);
}

static void test_update_changing_sku_zeroes_the_old_sku_first(void **state)
{
    struct fixture *fx = *state;
    struct stock_fact facts[2];
    make_event(fx, fx->stock, 'u',
               "{\"sku\":\"A-100\",\"location_code\":\"WH1\",\"on_hand\":5,\"committed\":0,"
               "\"unavailable\":0}",
               "{\"sku\":\"A-101\",\"location_code\":\"WH1\",\"on_hand\":5,\"committed\":0,"
               "\"unavailable\":0}");
    assert_int_equal(facts_ok(fx, fx->stock, facts), 2);
    assert_fact(&facts[0], fx, "A-100", "WH1", "erp", ALL_KINDS, 0, 0, 0);
    assert_fact(&facts[1], fx, "A-101", "WH1", "erp", ALL_KINDS, 5, 0, 0);
}

static void test_update_with_bad_new_row_is_refused_whole(void **state)
{
    struct fixture *fx = *state;
    make_event(fx, fx->stock, 'u',
               "{\"sku\":\"A-100\",\"location_code\":\"S12\",\"on_hand\":12,\"committed\":3,"
               "\"unavailable\":1}",
               "{\"sku\":\"A-100\",\"location_code\":\"XX\",\"on_hand\":12,\"committed\":3,"
               "\"unavailable\":1}");
    assert_refused(fx, fx->stock, "unknown_location", "\"XX\"", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_find_by_topic_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_huge_quantity_is_refused, setup, teardown),
        cmocka_unit_test(test_default_topic_prefix),
        cmocka_unit_test_setup_teardown(test_insert_gives_one_fact_with_three_quantities, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_read_gives_one_fact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_in_place_gives_one_fact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quantity_forms_that_mean_whole_units, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_negative_and_zero_quantities_are_kept, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fraction_is_a_bad_quantity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_is_a_bad_quantity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_null_or_missing_quantity_is_bad, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_location_is_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_location_column, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_sku, setup, teardown),
        cmocka_unit_test_setup_teardown(test_integer_sku_is_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_table_with_constant_location, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_table_gives_only_its_kind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_gives_one_zero_fact_with_every_kind, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_delete_without_sku_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_moving_location_zeroes_the_old_place_first,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_changing_sku_zeroes_the_old_sku_first, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_update_with_bad_new_row_is_refused_whole, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
