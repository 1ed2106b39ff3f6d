/* test_mapping.c — change rows become stock facts through the configured table
 * mappings: the quantities an operator sees, the reasons a row is refused (and sent to
 * the DLQ), deletes and moves that zero where stock was, item codes waiting for their
 * crosswalk, and the time a row was counted in its source's zone. Events travel the
 * realistic path: event_encode() as a reader writes them, event_decode() as merge reads
 * them. */
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

/* Stores count shelves in the POS, which knows items only by UPC: its rows go through
 * the crosswalk the ERP replicates. Times are written as each source writes them. */
static const char ITEMS_YAML[] =
    "backbone:\n"
    "  topic_prefix: retail\n"
    "skus:\n"
    "  pattern: \"SKU-?????\"\n"
    "sources:\n"
    "  - name: erp\n"
    "    type: postgres\n"
    "    dsn: host=127.0.0.1 dbname=retail\n"
    "    timezone: Europe/Berlin\n"
    "    timestamp_format: \"%d.%m.%Y %H:%M:%S\"\n"
    "    tables:\n"
    "      - table: stock_levels\n"
    "        sku: sku\n"
    "        location: location_code\n"
    "        on_hand: on_hand\n"
    "        time: counted_at\n"
    "      - table: item_codes\n"
    "        defines_crosswalk: upc\n"
    "        code: upc\n"
    "        sku: sku\n"
    "  - name: pos\n"
    "    type: mariadb\n"
    "    dsn: host=127.0.0.1 port=3306 user=stockmesh dbname=pos\n"
    "    timezone: \"+02:00\"\n"
    "    tables:\n"
    "      - table: pos.shelf_counts\n"
    "        item: upc\n"
    "        crosswalk: upc\n"
    "        location: store\n"
    "        on_hand: qty\n"
    "        time: counted_at\n"
    "  - name: orders\n"
    "    type: postgres\n"
    "    dsn: host=127.0.0.1 dbname=orders\n"
    "    timestamp_format: epoch_ms\n"
    "    tables:\n"
    "      - {table: reservations, sku: sku, location_code: WH1, committed: reserved,\n"
    "         time: reserved_at}\n"
    "locations:\n"
    "  - {code: WH1, type: warehouse}\n"
    "  - {code: S12, type: store}\n"
    "authority:\n"
    "  - {location_type: warehouse, source: erp}\n"
    "  - {location_type: store, source: erp}\n";

/* 2024-01-15T10:30:00Z and 2024-07-15T10:30:00Z in ms (1704067200 s is 2024-01-01). */
#define JAN15_1030Z 1705314600000LL
#define JUL15_1030Z 1721039400000LL
#define HOUR_MS 3600000LL
#define UPC "4006381333931"

#define ALL_KINDS ((1u << CONFIG_ON_HAND) | (1u << CONFIG_COMMITTED) | (1u << CONFIG_UNAVAILABLE))

struct fixture {
    struct config *cfg;
    struct mapping map;
    const struct mapping_table *stock;  /* erp public.stock_levels */
    const struct mapping_table *bins;   /* erp wms.bin_stock, constant location */
    const struct mapping_table *sales;  /* pos public.sales, committed only */
    /* ITEMS_YAML */
    const struct mapping_table *levels; /* erp public.stock_levels, time in Berlin */
    const struct mapping_table *codes;  /* erp public.item_codes, crosswalk upc */
    const struct mapping_table *shelf;  /* pos pos.shelf_counts, item through upc */
    const struct mapping_table *resv;   /* orders public.reservations, epoch_ms */
    struct change_event ev;
    int have_event;
};

static struct fixture *load_fixture(const char *yaml)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    char err[2048];
    fx->cfg = config_load_string(yaml, strlen(yaml), "mapping.yaml", err, sizeof err);
    if (!fx->cfg) {
        fprintf(stderr, "config: %s\n", err);
        free(fx);
        return NULL;
    }
    if (mapping_init(&fx->map, fx->cfg, err, sizeof err) != 0) {
        fprintf(stderr, "mapping_init: %s\n", err);
        config_free(fx->cfg);
        free(fx);
        return NULL;
    }
    return fx;
}

static int setup(void **state)
{
    struct fixture *fx = load_fixture(CONFIG_YAML);
    if (!fx) return -1;
    fx->stock = mapping_find(&fx->map, "retail.erp.public.stock_levels");
    fx->bins = mapping_find(&fx->map, "retail.erp.wms.bin_stock");
    fx->sales = mapping_find(&fx->map, "retail.pos.public.sales");
    *state = fx;
    return fx->stock && fx->bins && fx->sales ? 0 : -1;
}

static int setup_items(void **state)
{
    struct fixture *fx = load_fixture(ITEMS_YAML);
    if (!fx) return -1;
    fx->levels = mapping_find(&fx->map, "retail.erp.public.stock_levels");
    fx->codes = mapping_find(&fx->map, "retail.erp.public.item_codes");
    fx->shelf = mapping_find(&fx->map, "retail.pos.pos.shelf_counts");
    fx->resv = mapping_find(&fx->map, "retail.orders.public.reservations");
    *state = fx;
    return fx->levels && fx->codes && fx->shelf && fx->resv ? 0 : -1;
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

static void assert_reason(int n, const char *code, const char *err, const char *want_code,
                          va_list ap)
{
    if (n >= 0) fail_msg("mapped to %d, expected refusal %s", n, want_code);
    assert_int_equal(n, -1);
    assert_non_null(code);
    assert_string_equal(code, want_code);
    for (const char *needle; (needle = va_arg(ap, const char *));)
        if (!strstr(err, needle)) fail_msg("reason \"%s\" does not contain \"%s\"", err, needle);
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
    va_list ap;
    va_start(ap, want_code);
    assert_reason(n, code, err, want_code, ap);
    va_end(ap);
}

/* The same for a crosswalk table's event. */
static void assert_crosswalk_refused(struct fixture *fx, const struct mapping_table *t,
                                     const char *want_code, ...)
{
    struct crosswalk_change out[2];
    const char *code = NULL;
    char err[512] = "";
    int n = mapping_crosswalk(&fx->map, t, &fx->ev, out, &code, err, sizeof err);
    va_list ap;
    va_start(ap, want_code);
    assert_reason(n, code, err, want_code, ap);
    va_end(ap);
}

/* The exact reason a refused event gets. */
static void assert_reason_is(struct fixture *fx, const struct mapping_table *t,
                             const char *want_code, const char *want)
{
    struct stock_fact facts[2];
    const char *code = NULL;
    char err[512] = "";
    assert_int_equal(mapping_facts(&fx->map, t, &fx->ev, facts, &code, err, sizeof err), -1);
    assert_string_equal(code, want_code);
    assert_string_equal(err, want);
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

/* ------------------------------------------------------------------ items and crosswalks */

/* The fact of a row that names its item by a code another system assigned. */
static void assert_item_fact(const struct stock_fact *f, struct fixture *fx, const char *item,
                             const char *location, long long on_hand)
{
    assert_string_equal(f->sku, ""); /* not known until the crosswalk translates it */
    assert_string_equal(f->item, item);
    assert_non_null(f->crosswalk);
    assert_string_equal(f->crosswalk, "upc");
    assert_ptr_equal(f->location, config_location(fx->cfg, location));
    assert_ptr_equal(f->source, config_source(fx->cfg, "pos"));
    assert_int_equal(f->present, 1u << CONFIG_ON_HAND);
    assert_true(f->quantity[CONFIG_ON_HAND] == on_hand);
    assert_string_equal(f->position, fx->ev.position);
}

static void test_item_code_waits_for_the_crosswalk(void **state)
{
    struct fixture *fx = *state;
    struct stock_fact facts[2];
    make_event(fx, fx->shelf, 'c', NULL,
               "{\"upc\":\"" UPC "\",\"store\":\"S12\",\"qty\":7,"
               "\"counted_at\":\"2024-07-15T10:30:00\"}");
    assert_int_equal(facts_ok(fx, fx->shelf, facts), 1);
    assert_item_fact(&facts[0], fx, UPC, "S12", 7);
    /* the POS writes its own wall clock, +02:00 */
    assert_true(facts[0].counted_ms == JUL15_1030Z - 2 * HOUR_MS);

    /* a UPC held as a number is the same code */
    make_event(fx, fx->shelf, 'r', NULL,
               "{\"upc\":" UPC ",\"store\":\"S12\",\"qty\":\"3\","
               "\"counted_at\":\"2024-07-15T10:30:00Z\"}");
    assert_int_equal(facts_ok(fx, fx->shelf, facts), 1);
    assert_item_fact(&facts[0], fx, UPC, "S12", 3);
    assert_true(facts[0].counted_ms == JUL15_1030Z); /* the text's own offset */
}

static void test_missing_item_code_is_named(void **state)
{
    struct fixture *fx = *state;
    static const char *const rows[] = {
        "{\"store\":\"S12\",\"qty\":7,\"counted_at\":\"2024-07-15T10:30:00\"}",
        "{\"upc\":\"\",\"store\":\"S12\",\"qty\":7,\"counted_at\":\"2024-07-15T10:30:00\"}",
        "{\"upc\":null,\"store\":\"S12\",\"qty\":7,\"counted_at\":\"2024-07-15T10:30:00\"}",
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        make_event(fx, fx->shelf, 'c', NULL, rows[i]);
        assert_refused(fx, fx->shelf, "missing_item", "pos.shelf_counts", "\"upc\"", "item code",
                       NULL);
    }
}

static void test_item_code_change_and_delete_zero_the_old_item(void **state)
{
    struct fixture *fx = *state;
    struct stock_fact facts[2];
    /* relabelled on the shelf: the old code drops to zero first */
    make_event(fx, fx->shelf, 'u',
               "{\"upc\":\"0000000000111\",\"store\":\"S12\",\"qty\":5,"
               "\"counted_at\":\"2024-07-15T10:00:00\"}",
               "{\"upc\":\"0000000000222\",\"store\":\"S12\",\"qty\":5,"
               "\"counted_at\":\"2024-07-15T10:30:00\"}");
    assert_int_equal(facts_ok(fx, fx->shelf, facts), 2);
    assert_item_fact(&facts[0], fx, "0000000000111", "S12", 0);
    assert_item_fact(&facts[1], fx, "0000000000222", "S12", 5);

    /* the count is gone: zero, and no time is needed for that */
    make_event(fx, fx->shelf, 'd', "{\"upc\":\"" UPC "\",\"store\":\"S12\"}", NULL);
    assert_int_equal(facts_ok(fx, fx->shelf, facts), 1);
    assert_item_fact(&facts[0], fx, UPC, "S12", 0);
    assert_true(facts[0].counted_ms == 0);
}

static int crosswalk_ok(struct fixture *fx, struct crosswalk_change out[2])
{
    const char *code = NULL;
    char err[512] = "";
    int n = mapping_crosswalk(&fx->map, fx->codes, &fx->ev, out, &code, err, sizeof err);
    if (n < 0) fail_msg("refused (%s): %s", code ? code : "?", err);
    return n;
}

static void assert_change(struct fixture *fx, const struct crosswalk_change *c, const char *code,
                          const char *sku)
{
    assert_ptr_equal(c->crosswalk, fx->codes->table->defines_crosswalk);
    assert_string_equal(c->crosswalk, "upc");
    assert_string_equal(c->code, code);
    assert_string_equal(c->sku, sku);
}

static void test_crosswalk_insert_teaches_a_code(void **state)
{
    struct fixture *fx = *state;
    struct crosswalk_change out[2];
    make_event(fx, fx->codes, 'c', NULL, "{\"upc\":\"" UPC "\",\"sku\":\"SKU-00001\",\"note\":1}");
    assert_int_equal(crosswalk_ok(fx, out), 1);
    assert_change(fx, &out[0], UPC, "SKU-00001");

    make_event(fx, fx->codes, 'r', NULL, "{\"upc\":" UPC ",\"sku\":\"SKU-00002\"}");
    assert_int_equal(crosswalk_ok(fx, out), 1);
    assert_change(fx, &out[0], UPC, "SKU-00002");
}

static void test_crosswalk_delete_forgets_the_code(void **state)
{
    struct fixture *fx = *state;
    struct crosswalk_change out[2];
    make_event(fx, fx->codes, 'd', "{\"upc\":\"" UPC "\",\"sku\":\"SKU-00001\"}", NULL);
    assert_int_equal(crosswalk_ok(fx, out), 1);
    assert_change(fx, &out[0], UPC, ""); /* "" = the code is gone */

    /* a before image with the key only is enough */
    make_event(fx, fx->codes, 'd', "{\"upc\":\"" UPC "\"}", NULL);
    assert_int_equal(crosswalk_ok(fx, out), 1);
    assert_change(fx, &out[0], UPC, "");

    make_event(fx, fx->codes, 'd', "{\"sku\":\"SKU-00001\"}", NULL);
    assert_crosswalk_refused(fx, fx->codes, "missing_item", "\"upc\"", NULL);
}

static void test_crosswalk_update_changing_the_code_forgets_the_old_one_first(void **state)
{
    struct fixture *fx = *state;
    struct crosswalk_change out[2];
    make_event(fx, fx->codes, 'u', "{\"upc\":\"0000000000111\",\"sku\":\"SKU-00001\"}",
               "{\"upc\":\"0000000000222\",\"sku\":\"SKU-00001\"}");
    assert_int_equal(crosswalk_ok(fx, out), 2);
    assert_change(fx, &out[0], "0000000000111", "");
    assert_change(fx, &out[1], "0000000000222", "SKU-00001");

    /* the same code now meaning another SKU: one change */
    make_event(fx, fx->codes, 'u', "{\"upc\":\"" UPC "\",\"sku\":\"SKU-00001\"}",
               "{\"upc\":\"" UPC "\",\"sku\":\"SKU-00009\"}");
    assert_int_equal(crosswalk_ok(fx, out), 1);
    assert_change(fx, &out[0], UPC, "SKU-00009");

    /* no before image, or one without the code: nothing to forget */
    make_event(fx, fx->codes, 'u', NULL, "{\"upc\":\"" UPC "\",\"sku\":\"SKU-00003\"}");
    assert_int_equal(crosswalk_ok(fx, out), 1);
    assert_change(fx, &out[0], UPC, "SKU-00003");
    make_event(fx, fx->codes, 'u', "{\"sku\":\"SKU-00001\"}",
               "{\"upc\":\"" UPC "\",\"sku\":\"SKU-00003\"}");
    assert_int_equal(crosswalk_ok(fx, out), 1);
}

static void test_crosswalk_row_without_code_or_sku_is_refused(void **state)
{
    struct fixture *fx = *state;
    make_event(fx, fx->codes, 'c', NULL, "{\"upc\":\"" UPC "\"}");
    assert_crosswalk_refused(fx, fx->codes, "missing_sku", "public.item_codes", "\"sku\"", NULL);
    make_event(fx, fx->codes, 'c', NULL, "{\"upc\":\"" UPC "\",\"sku\":\"\"}");
    assert_crosswalk_refused(fx, fx->codes, "missing_sku", "\"sku\"", NULL);
    make_event(fx, fx->codes, 'c', NULL, "{\"sku\":\"SKU-00001\"}");
    assert_crosswalk_refused(fx, fx->codes, "missing_item", "public.item_codes", "\"upc\"",
                             NULL);
}

/* A crosswalk table holds no stock and a stock table teaches no codes: each is refused
 * by the other's function, with the table named. */
static void test_crosswalk_and_stock_tables_are_not_mixed_up(void **state)
{
    struct fixture *fx = *state;
    make_event(fx, fx->codes, 'c', NULL, "{\"upc\":\"" UPC "\",\"sku\":\"SKU-00001\"}");
    assert_reason_is(fx, fx->codes, "not_stock",
                     "public.item_codes is a crosswalk table, not stock");

    make_event(fx, fx->levels, 'c', NULL,
               "{\"sku\":\"SKU-00001\",\"location_code\":\"WH1\",\"on_hand\":1,"
               "\"counted_at\":\"15.01.2024 10:30:00\"}");
    assert_crosswalk_refused(fx, fx->levels, "not_crosswalk",
                             "public.stock_levels is not a crosswalk table", NULL);
}

/* ------------------------------------------------------------------ time columns */

static void test_time_column_in_the_source_zone_and_format(void **state)
{
    struct fixture *fx = *state;
    struct stock_fact facts[2];
    /* the ERP writes German wall-clock text: CET in January … */
    make_event(fx, fx->levels, 'c', NULL,
               "{\"sku\":\"SKU-00001\",\"location_code\":\"WH1\",\"on_hand\":4,"
               "\"counted_at\":\"15.01.2024 10:30:00\"}");
    assert_int_equal(facts_ok(fx, fx->levels, facts), 1);
    assert_true(facts[0].counted_ms == JAN15_1030Z - HOUR_MS);
    /* … CEST in July */
    make_event(fx, fx->levels, 'u', NULL,
               "{\"sku\":\"SKU-00001\",\"location_code\":\"WH1\",\"on_hand\":4,"
               "\"counted_at\":\"15.07.2024 10:30:00\"}");
    assert_int_equal(facts_ok(fx, fx->levels, facts), 1);
    assert_true(facts[0].counted_ms == JUL15_1030Z - 2 * HOUR_MS);

    /* the order system writes epoch milliseconds, as a number or as text */
    make_event(fx, fx->resv, 'c', NULL,
               "{\"sku\":\"SKU-00001\",\"reserved\":2,\"reserved_at\":1705314600123}");
    assert_int_equal(facts_ok(fx, fx->resv, facts), 1);
    assert_true(facts[0].counted_ms == JAN15_1030Z + 123);
    assert_int_equal(facts[0].present, 1u << CONFIG_COMMITTED);
    make_event(fx, fx->resv, 'c', NULL,
               "{\"sku\":\"SKU-00001\",\"reserved\":2,\"reserved_at\":\"1705314600123\"}");
    assert_int_equal(facts_ok(fx, fx->resv, facts), 1);
    assert_true(facts[0].counted_ms == JAN15_1030Z + 123);

    /* a delete needs no time */
    make_event(fx, fx->levels, 'd', "{\"sku\":\"SKU-00001\",\"location_code\":\"WH1\"}", NULL);
    assert_int_equal(facts_ok(fx, fx->levels, facts), 1);
    assert_true(facts[0].counted_ms == 0);
}

static void test_table_without_time_column_counts_zero(void **state)
{
    struct fixture *fx = *state;
    struct stock_fact facts[2];
    make_event(fx, fx->stock, 'c', NULL,
               "{\"sku\":\"A-100\",\"location_code\":\"WH1\",\"on_hand\":1,\"committed\":0,"
               "\"unavailable\":0,\"counted_at\":\"2024-01-15T10:30:00\"}");
    assert_int_equal(facts_ok(fx, fx->stock, facts), 1);
    assert_true(facts[0].counted_ms == 0);
    assert_null(fx->stock->times);
}

static void test_bad_time_is_named(void **state)
{
    struct fixture *fx = *state;
    /* ISO text where the source declared its own format */
    make_event(fx, fx->levels, 'c', NULL,
               "{\"sku\":\"SKU-00001\",\"location_code\":\"WH1\",\"on_hand\":4,"
               "\"counted_at\":\"2024-01-15T10:30:00\"}");
    assert_reason_is(fx, fx->levels, "bad_time",
                     "public.stock_levels: column \"counted_at\" (time) does not read as "
                     "%d.%m.%Y %H:%M:%S in zone Europe/Berlin: \"2024-01-15T10:30:00\"");

    make_event(fx, fx->levels, 'c', NULL,
               "{\"sku\":\"SKU-00001\",\"location_code\":\"WH1\",\"on_hand\":4,"
               "\"counted_at\":null}");
    assert_refused(fx, fx->levels, "bad_time", "\"counted_at\"", ": null", NULL);
    make_event(fx, fx->levels, 'c', NULL,
               "{\"sku\":\"SKU-00001\",\"location_code\":\"WH1\",\"on_hand\":4}");
    assert_refused(fx, fx->levels, "bad_time", "\"counted_at\"", ": missing", NULL);
    make_event(fx, fx->levels, 'c', NULL,
               "{\"sku\":\"SKU-00001\",\"location_code\":\"WH1\",\"on_hand\":4,"
               "\"counted_at\":true}");
    assert_refused(fx, fx->levels, "bad_time", "\"counted_at\"", NULL);
    /* a day February does not have is refused, not moved into March */
    make_event(fx, fx->levels, 'c', NULL,
               "{\"sku\":\"SKU-00001\",\"location_code\":\"WH1\",\"on_hand\":4,"
               "\"counted_at\":\"30.02.2024 10:30:00\"}");
    assert_refused(fx, fx->levels, "bad_time", "30.02.2024", NULL);

    /* the POS declares no format: ISO 8601 in its zone */
    make_event(fx, fx->shelf, 'c', NULL,
               "{\"upc\":\"" UPC "\",\"store\":\"S12\",\"qty\":7,\"counted_at\":\"15.07.2024\"}");
    assert_reason_is(fx, fx->shelf, "bad_time",
                     "pos.shelf_counts: column \"counted_at\" (time) does not read as ISO 8601 "
                     "in zone +02:00: \"15.07.2024\"");

    /* a long value is shown cut, the reason stays readable */
    char row[512], junk[201];
    memset(junk, '9', sizeof junk - 1);
    junk[sizeof junk - 1] = 0;
    snprintf(row, sizeof row,
             "{\"upc\":\"" UPC "\",\"store\":\"S12\",\"qty\":7,\"counted_at\":\"%s\"}", junk);
    make_event(fx, fx->shelf, 'c', NULL, row);
    assert_refused(fx, fx->shelf, "bad_time", "\"counted_at\"", "\"9999999999", NULL);

    /* epoch_ms that is not a number */
    make_event(fx, fx->resv, 'c', NULL,
               "{\"sku\":\"SKU-00001\",\"reserved\":2,\"reserved_at\":\"2024-01-15\"}");
    assert_refused(fx, fx->resv, "bad_time", "epoch_ms", "\"2024-01-15\"", NULL);
}

/* ------------------------------------------------------------------ SKU pattern */

static void test_sku_outside_the_pattern_is_unknown(void **state)
{
    struct fixture *fx = *state;
    make_event(fx, fx->levels, 'c', NULL,
               "{\"sku\":\"BOGUS-1\",\"location_code\":\"WH1\",\"on_hand\":4,"
               "\"counted_at\":\"15.01.2024 10:30:00\"}");
    assert_reason_is(fx, fx->levels, "unknown_sku",
                     "SKU \"BOGUS-1\" does not match skus.pattern \"SKU-?????\"");
    make_event(fx, fx->resv, 'c', NULL,
               "{\"sku\":\"SKU-1\",\"reserved\":2,\"reserved_at\":1705314600123}");
    assert_refused(fx, fx->resv, "unknown_sku", "\"SKU-1\"", NULL);
    make_event(fx, fx->resv, 'c', NULL,
               "{\"sku\":\"sku-00001\",\"reserved\":2,\"reserved_at\":1705314600123}");
    assert_refused(fx, fx->resv, "unknown_sku", NULL); /* patterns are case-sensitive */

    struct stock_fact facts[2];
    make_event(fx, fx->resv, 'c', NULL,
               "{\"sku\":\"SKU-00001\",\"reserved\":2,\"reserved_at\":1705314600123}");
    assert_int_equal(facts_ok(fx, fx->resv, facts), 1);
    assert_string_equal(facts[0].sku, "SKU-00001");
}

/* A translated SKU is checked once the crosswalk gave it, naming the item it came from. */
static void test_translated_sku_is_checked_with_its_item(void **state)
{
    struct fixture *fx = *state;
    struct stock_fact facts[2];
    make_event(fx, fx->shelf, 'c', NULL,
               "{\"upc\":\"" UPC "\",\"store\":\"S12\",\"qty\":7,"
               "\"counted_at\":\"2024-07-15T10:30:00\"}");
    assert_int_equal(facts_ok(fx, fx->shelf, facts), 1);

    const char *code = NULL;
    char err[512] = "";
    snprintf(facts[0].sku, sizeof facts[0].sku, "%s", "LEGACY-9");
    assert_int_equal(mapping_check_sku(&fx->map, &facts[0], &code, err, sizeof err), -1);
    assert_string_equal(code, "unknown_sku");
    assert_string_equal(err, "SKU \"LEGACY-9\" (item " UPC ") does not match skus.pattern "
                             "\"SKU-?????\"");

    snprintf(facts[0].sku, sizeof facts[0].sku, "%s", "SKU-00042");
    code = NULL;
    assert_int_equal(mapping_check_sku(&fx->map, &facts[0], &code, err, sizeof err), 0);
    assert_null(code);
}

/* ------------------------------------------------------------------ waiting facts */

static void test_waiting_fact_round_trip(void **state)
{
    struct fixture *fx = *state;
    struct stock_fact facts[2];
    make_event(fx, fx->shelf, 'c', NULL,
               "{\"upc\":\"" UPC "\",\"store\":\"S12\",\"qty\":-3,"
               "\"counted_at\":\"2024-07-15T10:30:00.250\"}");
    assert_int_equal(facts_ok(fx, fx->shelf, facts), 1);
    const struct stock_fact *f = &facts[0];
    static const char event[] = "{\"op\":\"c\",\"after\":{\"upc\":\"" UPC "\"}}";

    char *text = mapping_fact_encode(f, fx->shelf->topic, event, strlen(event));
    assert_non_null(text);

    struct stock_fact back;
    memset(&back, 0x5a, sizeof back);
    char *topic = NULL, *ev = NULL;
    assert_int_equal(mapping_fact_decode(&fx->map, text, strlen(text), &back, &topic, &ev), 0);
    assert_string_equal(back.sku, "");
    assert_string_equal(back.item, UPC);
    assert_string_equal(back.crosswalk, "upc");
    assert_ptr_equal(back.location, f->location);
    assert_ptr_equal(back.source, f->source);
    assert_int_equal(back.present, f->present);
    assert_true(back.quantity[CONFIG_ON_HAND] == -3);
    assert_string_equal(back.position, f->position);
    assert_true(back.commit_us == f->commit_us);
    assert_true(back.counted_ms == JUL15_1030Z - 2 * HOUR_MS + 250);
    assert_string_equal(topic, "retail.pos.pos.shelf_counts");
    assert_string_equal(ev, event);
    free(topic);
    free(ev);

    /* topic and event only when wanted */
    assert_int_equal(mapping_fact_decode(&fx->map, text, strlen(text), &back, NULL, NULL), 0);
    assert_string_equal(back.item, UPC);
    free(text);

    /* a zero fact keeps which kinds it zeroes; no event given */
    make_event(fx, fx->shelf, 'd', "{\"upc\":\"" UPC "\",\"store\":\"S12\"}", NULL);
    assert_int_equal(facts_ok(fx, fx->shelf, facts), 1);
    text = mapping_fact_encode(&facts[0], NULL, NULL, 0);
    assert_non_null(text);
    assert_int_equal(mapping_fact_decode(&fx->map, text, strlen(text), &back, &topic, &ev), 0);
    assert_int_equal(back.present, 1u << CONFIG_ON_HAND);
    assert_true(back.quantity[CONFIG_ON_HAND] == 0);
    assert_true(back.quantity[CONFIG_COMMITTED] == 0);
    assert_string_equal(topic, "");
    assert_string_equal(ev, "");
    free(topic);
    free(ev);
    free(text);
}

/* Replaces the first "from" in text (which has room) by "to". */
static void replace(char *text, size_t size, const char *from, const char *to)
{
    char *at = strstr(text, from);
    if (!at) fail_msg("\"%s\" not in %s", from, text);
    size_t tail = strlen(at + strlen(from));
    if (strlen(text) - strlen(from) + strlen(to) >= size) fail_msg("no room");
    memmove(at + strlen(to), at + strlen(from), tail + 1);
    memcpy(at, to, strlen(to));
}

/* A fact waits in Redis while the configuration may change under it: one whose
 * location, source or crosswalk is gone is refused (and goes to the DLQ), not applied
 * to the wrong place. */
static void test_waiting_fact_whose_location_is_gone_is_refused(void **state)
{
    struct fixture *fx = *state;
    struct stock_fact facts[2];
    make_event(fx, fx->shelf, 'c', NULL,
               "{\"upc\":\"" UPC "\",\"store\":\"S12\",\"qty\":7,"
               "\"counted_at\":\"2024-07-15T10:30:00\"}");
    assert_int_equal(facts_ok(fx, fx->shelf, facts), 1);
    char *text = mapping_fact_encode(&facts[0], fx->shelf->topic, "{}", 2);
    assert_non_null(text);

    /* the same estate after store S12 closed (S13 opened) */
    char yaml[sizeof ITEMS_YAML];
    memcpy(yaml, ITEMS_YAML, sizeof yaml);
    replace(yaml, sizeof yaml, "{code: S12, type: store}", "{code: S13, type: store}");
    struct fixture *later = load_fixture(yaml);
    assert_non_null(later);
    struct stock_fact back;
    char *topic = NULL, *ev = NULL;
    assert_int_equal(
        mapping_fact_decode(&later->map, text, strlen(text), &back, &topic, &ev), -1);
    assert_null(topic);
    assert_null(ev);
    mapping_release(&later->map);
    config_free(later->cfg);
    free(later);

    /* a source or crosswalk the configuration no longer has */
    char copy[2048];
    snprintf(copy, sizeof copy, "%s", text);
    replace(copy, sizeof copy, "\"source\":\"pos\"", "\"source\":\"wms\"");
    assert_int_equal(mapping_fact_decode(&fx->map, copy, strlen(copy), &back, NULL, NULL), -1);
    snprintf(copy, sizeof copy, "%s", text);
    replace(copy, sizeof copy, "\"crosswalk\":\"upc\"", "\"crosswalk\":\"ean\"");
    assert_int_equal(mapping_fact_decode(&fx->map, copy, strlen(copy), &back, NULL, NULL), -1);
    snprintf(copy, sizeof copy, "%s", text);
    replace(copy, sizeof copy, "\"location\":\"S12\"", "\"location\":\"S99\"");
    assert_int_equal(mapping_fact_decode(&fx->map, copy, strlen(copy), &back, NULL, NULL), -1);

    /* not such a fact at all */
    static const char *const junk[] = {"", "null", "{}", "[1,2,3]", "{\"item\":\"" UPC "\"}"};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
        assert_int_equal(
            mapping_fact_decode(&fx->map, junk[i], strlen(junk[i]), &back, NULL, NULL), -1);
    /* cut short */
    assert_int_equal(mapping_fact_decode(&fx->map, text, strlen(text) - 2, &back, NULL, NULL),
                     -1);
    /* quantities that are not three integers or nulls */
    snprintf(copy, sizeof copy, "%s", text);
    replace(copy, sizeof copy, "\"quantities\":[7,null,null]", "\"quantities\":[7,null]");
    assert_int_equal(mapping_fact_decode(&fx->map, copy, strlen(copy), &back, NULL, NULL), -1);
    snprintf(copy, sizeof copy, "%s", text);
    replace(copy, sizeof copy, "\"quantities\":[7,null,null]", "\"quantities\":[\"7\",null,null]");
    assert_int_equal(mapping_fact_decode(&fx->map, copy, strlen(copy), &back, NULL, NULL), -1);
    free(text);
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
        cmocka_unit_test_setup_teardown(test_item_code_waits_for_the_crosswalk, setup_items,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_missing_item_code_is_named, setup_items, teardown),
        cmocka_unit_test_setup_teardown(test_item_code_change_and_delete_zero_the_old_item,
                                        setup_items, teardown),
        cmocka_unit_test_setup_teardown(test_crosswalk_insert_teaches_a_code, setup_items,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_crosswalk_delete_forgets_the_code, setup_items,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_crosswalk_update_changing_the_code_forgets_the_old_one_first, setup_items,
            teardown),
        cmocka_unit_test_setup_teardown(test_crosswalk_row_without_code_or_sku_is_refused,
                                        setup_items, teardown),
        cmocka_unit_test_setup_teardown(test_crosswalk_and_stock_tables_are_not_mixed_up,
                                        setup_items, teardown),
        cmocka_unit_test_setup_teardown(test_time_column_in_the_source_zone_and_format,
                                        setup_items, teardown),
        cmocka_unit_test_setup_teardown(test_table_without_time_column_counts_zero, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_time_is_named, setup_items, teardown),
        cmocka_unit_test_setup_teardown(test_sku_outside_the_pattern_is_unknown, setup_items,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_translated_sku_is_checked_with_its_item,
                                        setup_items, teardown),
        cmocka_unit_test_setup_teardown(test_waiting_fact_round_trip, setup_items, teardown),
        cmocka_unit_test_setup_teardown(test_waiting_fact_whose_location_is_gone_is_refused,
                                        setup_items, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
