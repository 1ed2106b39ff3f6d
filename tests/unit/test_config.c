/* test_config.c — the YAML configuration: what loads, what every mistake reports.
 *
 * Fixtures live in tests/unit/config/; paths in them (secret files) are relative to
 * the source root, which the tests make their working directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stockmesh/config.h"
#include "stockmesh/log.h"

#define FIXTURES "tests/unit/config/"

static struct config *load_fixture(const char *name, char *err, size_t errlen)
{
    char path[256];
    snprintf(path, sizeof path, FIXTURES "%s", name);
    return config_load(path, err, errlen);
}

/* Loading the fixture fails with exactly "tests/unit/config/<name>:<expected>". */
static void assert_load_error(const char *name, const char *expected)
{
    char err[2048];
    struct config *cfg = load_fixture(name, err, sizeof err);
    if (cfg) {
        config_free(cfg);
        fail_msg("%s loaded, expected: %s", name, expected);
    }
    char want[2048];
    snprintf(want, sizeof want, FIXTURES "%s:%s", name, expected);
    assert_string_equal(err, want);
}

/* ------------------------------------------------------------------ valid files */

static void test_full_config_loads_every_field(void **state)
{
    (void)state;
    char err[1024];
    struct config *cfg = load_fixture("full.yaml", err, sizeof err);
    if (!cfg) fail_msg("%s", err);

    assert_string_equal(cfg->path, FIXTURES "full.yaml");
    assert_string_equal(cfg->state_dir, "/srv/stockmesh");
    assert_int_equal(cfg->log_level, LOG_DEBUG);

    assert_string_equal(cfg->backbone.brokers, "kafka1:9092,kafka2:9092");
    assert_string_equal(cfg->backbone.topic_prefix, "retail");
    assert_int_equal(cfg->backbone.partitions, 12);
    assert_int_equal(cfg->backbone.window, 5000);
    assert_int_equal(cfg->backbone.nproperties, 3);
    assert_string_equal(cfg->backbone.properties[0].key, "security.protocol");
    assert_string_equal(cfg->backbone.properties[0].value, "SASL_SSL");
    assert_string_equal(cfg->backbone.properties[1].key, "linger.ms");
    assert_string_equal(cfg->backbone.properties[1].value, "5");
    assert_string_equal(cfg->backbone.properties[2].key, "enable.idempotence");
    assert_string_equal(cfg->backbone.properties[2].value, "true");

    assert_string_equal(cfg->redis.host, "redis.internal");
    assert_int_equal(cfg->redis.port, 6380);
    assert_string_equal(cfg->redis.password_file, "/etc/stockmesh/redis.password");
    assert_int_equal(cfg->redis.pipeline, 500);
    assert_int_equal(cfg->redis.persist_delay_ms, 0);

    assert_string_equal(cfg->console.listen_host, "::1");
    assert_int_equal(cfg->console.listen_port, 8443);

    assert_int_equal(cfg->nsources, 2);
    const struct config_source *erp = &cfg->sources[0];
    assert_string_equal(erp->name, "erp");
    assert_int_equal(erp->type, CONFIG_SOURCE_POSTGRES);
    assert_string_equal(erp->dsn, "host=db1 dbname=retail user=stockmesh");
    assert_string_equal(erp->password_file, "/etc/stockmesh/erp.password");
    assert_string_equal(erp->slot, "erp_slot");
    assert_string_equal(erp->publication, "erp_pub");
    assert_string_equal(erp->timezone, "Europe/Berlin");
    assert_int_equal(erp->heartbeat_ms, 2000);
    assert_int_equal(erp->line, 23);
    assert_int_equal(erp->ntables, 1);
    const struct config_table *t = &erp->tables[0];
    assert_string_equal(t->schema, "inventory");
    assert_string_equal(t->name, "stock_levels");
    assert_string_equal(t->sku_column, "item_sku");
    assert_string_equal(t->location_column, "loc");
    assert_null(t->location_code);
    assert_string_equal(t->quantity_column[CONFIG_ON_HAND], "qty_on_hand");
    assert_string_equal(t->quantity_column[CONFIG_COMMITTED], "qty_committed");
    assert_string_equal(t->quantity_column[CONFIG_UNAVAILABLE], "qty_blocked");
    assert_int_equal(t->line, 32);

    const struct config_source *wms = &cfg->sources[1];
    assert_string_equal(wms->name, "wms_east");
    assert_int_equal(wms->type, CONFIG_SOURCE_MARIADB);
    assert_string_equal(wms->dsn, "mysql://stockmesh@wms-east:3306/wms");
    assert_null(wms->password_file);
    assert_string_equal(wms->slot, "stockmesh_wms_east");
    assert_string_equal(wms->publication, "stockmesh_wms_east");
    assert_string_equal(wms->timezone, "UTC");
    assert_int_equal(wms->heartbeat_ms, 10000);
    t = &wms->tables[0];
    assert_string_equal(t->schema, "public");
    assert_string_equal(t->name, "bins");
    assert_null(t->location_column);
    assert_string_equal(t->location_code, "WH1");
    assert_string_equal(t->quantity_column[CONFIG_ON_HAND], "quantity");
    assert_null(t->quantity_column[CONFIG_COMMITTED]);
    assert_null(t->quantity_column[CONFIG_UNAVAILABLE]);

    assert_int_equal(cfg->nlocations, 3);
    const struct config_location *s12 = &cfg->locations[1];
    assert_string_equal(s12->code, "S12");
    assert_string_equal(s12->type, "store");
    assert_int_equal(s12->ntags, 2);
    assert_string_equal(s12->tags[0], "ship-from-store");
    assert_string_equal(s12->tags[1], "pickup");
    assert_int_equal(s12->safety_stock, 2);
    assert_int_equal(s12->ncontacts, 2);
    assert_string_equal(s12->contacts[0], "store12-ops@example.com");
    assert_string_equal(s12->contacts[1], "+49 30 1234");
    assert_int_equal(s12->line, 50);
    assert_int_equal(cfg->locations[2].safety_stock, 0);
    assert_int_equal(cfg->locations[2].ncontacts, 0);
    assert_null(cfg->locations[2].contacts);

    assert_int_equal(cfg->nchannels, 2);
    const struct config_channel *web = &cfg->channels[0];
    assert_string_equal(web->name, "web");
    assert_string_equal(web->url, "https://shop.example.com/hooks/stock");
    assert_string_equal(web->secret_file, FIXTURES "secret.txt");
    assert_string_equal(web->secret, "s3cr3t-from-file"); /* first line, trimmed */
    assert_int_equal(web->nlocation_types, 1);
    assert_string_equal(web->location_types[0], "warehouse");
    assert_int_equal(web->nlocation_tags, 1);
    assert_string_equal(web->location_tags[0], "ship-from-store");
    assert_int_equal(web->nlocation_codes, 0);
    assert_int_equal(web->buffer, 3);
    assert_int_equal(web->batch_max, 50);
    assert_int_equal(web->batch_wait_ms, 20);
    assert_int_equal(web->timeout_ms, 2500);
    const struct config_channel *pickup = &cfg->channels[1];
    assert_string_equal(pickup->secret, "inline-key");
    assert_null(pickup->secret_file);
    assert_int_equal(pickup->nlocation_codes, 1);
    assert_string_equal(pickup->location_codes[0], "S14");
    assert_int_equal(pickup->buffer, 0);
    assert_int_equal(pickup->batch_max, 100);
    assert_int_equal(pickup->batch_wait_ms, 0);
    assert_int_equal(pickup->timeout_ms, 5000);

    assert_int_equal(cfg->nauthority, 2);
    assert_string_equal(cfg->authority[0].location_type, "warehouse");
    assert_string_equal(cfg->authority[0].source, "wms_east");
    assert_int_equal(cfg->authority[1].line, 75);
    config_free(cfg);
}

static void test_minimal_config_takes_defaults(void **state)
{
    (void)state;
    char err[1024];
    struct config *cfg = load_fixture("minimal.yaml", err, sizeof err);
    if (!cfg) fail_msg("%s", err);
    assert_string_equal(cfg->state_dir, "/var/lib/stockmesh");
    assert_int_equal(cfg->log_level, LOG_INFO);
    assert_string_equal(cfg->backbone.brokers, "embedded");
    assert_string_equal(cfg->backbone.topic_prefix, "stockmesh");
    assert_int_equal(cfg->backbone.partitions, 4);
    assert_int_equal(cfg->backbone.window, 20000);
    assert_int_equal(cfg->backbone.nproperties, 0);
    assert_null(cfg->backbone.properties);
    assert_string_equal(cfg->redis.host, "127.0.0.1");
    assert_int_equal(cfg->redis.port, 6379);
    assert_null(cfg->redis.password_file);
    assert_int_equal(cfg->redis.pipeline, 1000);
    assert_int_equal(cfg->redis.persist_delay_ms, 3000);
    assert_string_equal(cfg->console.listen_host, "127.0.0.1");
    assert_int_equal(cfg->console.listen_port, 8080);
    const struct config_source *src = &cfg->sources[0];
    assert_string_equal(src->slot, "stockmesh_erp");
    assert_string_equal(src->publication, "stockmesh_erp");
    assert_string_equal(src->timezone, "UTC");
    assert_int_equal(src->heartbeat_ms, 10000);
    assert_string_equal(src->tables[0].schema, "public");
    assert_int_equal(cfg->locations[0].ntags, 0);
    assert_int_equal(cfg->locations[0].safety_stock, 0);
    assert_int_equal(cfg->nchannels, 0);
    assert_null(cfg->channels);
    assert_int_equal(cfg->nauthority, 0);
    assert_null(config_authority_for(cfg, "warehouse", CONFIG_ON_HAND));
    /* the keys of the merge rules */
    assert_null(src->timestamp_format); /* ISO 8601 */
    const struct config_table *t = &src->tables[0];
    assert_null(t->item_column);
    assert_null(t->crosswalk);
    assert_null(t->defines_crosswalk);
    assert_null(t->code_column);
    assert_null(t->time_column);
    assert_int_equal(cfg->nitem_classes, 0);
    assert_null(cfg->item_classes);
    assert_null(config_item_class_for(cfg, "SKU-00001"));
    assert_null(cfg->skus.pattern);
    assert_true(config_sku_valid(cfg, "anything at all"));
    assert_int_equal(cfg->rules.mismatch_grace_s, 60);
    assert_true(cfg->rules.tolerance == 0);
    assert_int_equal(cfg->rules.tolerance_percent, 0);
    assert_int_equal(cfg->rules.stale_source_s, 300);
    assert_int_equal(cfg->rules.unknown_item_after_s, 300);
    assert_int_equal(cfg->rules.ncontacts, 0);
    assert_null(cfg->rules.contacts);
    assert_null(config_crosswalk(cfg, "upc", NULL));
    config_free(cfg);
}

/* A channel's fulfilment defaults to ship; an authority rule without quantities
 * covers all three. */
static void test_channel_and_authority_defaults(void **state)
{
    (void)state;
    char err[1024];
    struct config *cfg = load_fixture("full.yaml", err, sizeof err);
    if (!cfg) fail_msg("%s", err);
    for (size_t i = 0; i < cfg->nchannels; i++)
        assert_int_equal(cfg->channels[i].fulfilment, CONFIG_SHIP);
    for (size_t i = 0; i < cfg->nauthority; i++) {
        assert_int_equal(cfg->authority[i].nquantities, 0);
        assert_int_equal(cfg->authority[i].kinds, 7u);
    }
    config_free(cfg);
}

/* examples/demo.yaml, read from a scratch directory holding its var/demo-secret. */
static void test_demo_config_loads(void **state)
{
    (void)state;
    char demo[PATH_MAX], root[PATH_MAX];
    assert_non_null(realpath("examples/demo.yaml", demo));
    assert_non_null(getcwd(root, sizeof root));
    char scratch[] = "/tmp/test_config.XXXXXX";
    assert_non_null(mkdtemp(scratch));
    assert_int_equal(chdir(scratch), 0);
    assert_int_equal(mkdir("var", 0700), 0);
    FILE *f = fopen("var/demo-secret", "w");
    assert_non_null(f);
    fputs("demo-webhook-key\n", f);
    fclose(f);

    char err[1024];
    struct config *cfg = config_load(demo, err, sizeof err);
    unlink("var/demo-secret");
    rmdir("var");
    assert_int_equal(chdir(root), 0);
    rmdir(scratch);
    if (!cfg) fail_msg("%s", err);

    assert_string_equal(cfg->state_dir, "var/state");
    assert_int_equal(cfg->log_level, LOG_INFO);
    assert_string_equal(cfg->backbone.brokers, "embedded");
    assert_string_equal(cfg->redis.host, "127.0.0.1");
    assert_int_equal(cfg->redis.port, 56379);
    assert_string_equal(cfg->console.listen_host, "127.0.0.1");
    assert_int_equal(cfg->console.listen_port, 8080);
    assert_int_equal(cfg->nsources, 2);
    const struct config_source *erp = config_source(cfg, "erp");
    assert_non_null(erp);
    assert_int_equal(erp->type, CONFIG_SOURCE_POSTGRES);
    assert_string_equal(erp->dsn, "host=127.0.0.1 port=55432 dbname=retail user=stockmesh");
    assert_int_equal(erp->ntables, 2);
    assert_string_equal(erp->tables[0].schema, "public");
    assert_string_equal(erp->tables[0].name, "stock_levels");
    assert_string_equal(erp->tables[0].sku_column, "sku");
    assert_string_equal(erp->tables[0].location_column, "location_code");
    assert_string_equal(erp->tables[0].quantity_column[CONFIG_ON_HAND], "on_hand");
    assert_string_equal(erp->tables[0].quantity_column[CONFIG_COMMITTED], "committed");
    assert_string_equal(erp->tables[0].quantity_column[CONFIG_UNAVAILABLE], "unavailable");
    /* the stores' POS knows items by UPC, translated through the ERP's crosswalk */
    const struct config_source *xs = NULL;
    assert_ptr_equal(config_crosswalk(cfg, "upc", &xs), &erp->tables[1]);
    assert_ptr_equal(xs, erp);
    const struct config_source *pos = config_source(cfg, "pos");
    assert_non_null(pos);
    assert_int_equal(pos->type, CONFIG_SOURCE_MARIADB);
    assert_string_equal(pos->password_file, "var/pos.password");
    assert_null(pos->tables[0].sku_column);
    assert_string_equal(pos->tables[0].item_column, "upc");
    assert_string_equal(pos->tables[0].crosswalk, "upc");
    assert_string_equal(pos->tables[0].time_column, "counted_at");
    assert_int_equal(cfg->nlocations, 3);
    assert_int_equal(config_location(cfg, "S12")->safety_stock, 2);
    assert_string_equal(config_location(cfg, "S14")->contacts[0], "store14-ops@example.com");
    assert_int_equal(cfg->nchannels, 2);
    const struct config_channel *web = config_channel(cfg, "web");
    assert_string_equal(web->secret, "demo-webhook-key");
    assert_int_equal(web->batch_max, 100);
    assert_int_equal(web->batch_wait_ms, 0);
    assert_true(config_channel_has_location(web, config_location(cfg, "WH1")));
    assert_true(config_channel_has_location(web, config_location(cfg, "S12")));
    assert_false(config_channel_has_location(web, config_location(cfg, "S14")));
    assert_int_equal(web->fulfilment, CONFIG_SHIP);
    const struct config_channel *pickup = config_channel(cfg, "pickup");
    assert_non_null(pickup);
    assert_int_equal(pickup->fulfilment, CONFIG_PICKUP);
    assert_true(config_channel_has_location(pickup, config_location(cfg, "S12")));
    assert_true(config_channel_has_location(pickup, config_location(cfg, "S14")));
    assert_false(config_channel_has_location(pickup, config_location(cfg, "WH1")));
    for (int k = 0; k < CONFIG_QUANTITY_KINDS; k++) {
        assert_string_equal(config_authority_for(cfg, "warehouse", k), "erp");
        assert_string_equal(config_authority_for(cfg, "store", k), "erp");
    }
    assert_string_equal(cfg->skus.pattern, "SKU-?????");
    assert_true(config_sku_valid(cfg, "SKU-00017"));
    assert_false(config_sku_valid(cfg, "4006381333931"));
    assert_string_equal(config_item_class_for(cfg, "SKU-00217")->name, "bulky");
    assert_null(config_item_class_for(cfg, "SKU-00117"));
    assert_int_equal(cfg->rules.mismatch_grace_s, 30);
    assert_int_equal(cfg->rules.ncontacts, 1);
    config_free(cfg);
}

static void test_load_string_uses_given_name(void **state)
{
    (void)state;
    static const char text[] = "sources: []\n";
    char err[256];
    assert_null(config_load_string(text, sizeof text - 1, "inline.yaml", err, sizeof err));
    assert_string_equal(err, "inline.yaml:1: sources: must list at least one source\n"
                             "inline.yaml:1: missing required key \"locations\"");
}

/* ------------------------------------------------------------------ structure */

static void test_unknown_key_suggests_closest(void **state)
{
    (void)state;
    /* the misspelt required key is not reported a second time as missing */
    assert_load_error("unknown_key.yaml",
                      "5: sources[0].tabels: unknown key (did you mean \"tables\"?)");
}

static void test_unknown_key_without_close_match(void **state)
{
    (void)state;
    assert_load_error("unknown_key_no_suggestion.yaml", "13: locations[0].colour: unknown key");
}

static void test_integer_not_a_number(void **state)
{
    (void)state;
    assert_load_error("int_not_integer.yaml", "10: redis.port: expected an integer, got \"sixty\"");
}

static void test_integer_out_of_range(void **state)
{
    (void)state;
    assert_load_error("int_out_of_range.yaml", "10: redis.port: must be between 1 and 65535");
}

static void test_missing_required_key_names_the_mapping(void **state)
{
    (void)state;
    assert_load_error("missing_required.yaml", "7: sources[1]: missing required key \"dsn\"");
}

static void test_wrong_type_names_what_was_found(void **state)
{
    (void)state;
    assert_load_error("wrong_type.yaml", "3: backbone.brokers: expected a string, got a list");
}

static void test_empty_value_for_required_key(void **state)
{
    (void)state;
    assert_load_error("null_required.yaml", "4: sources[0].dsn: expected a string, got nothing");
}

static void test_empty_string_refused(void **state)
{
    (void)state;
    assert_load_error("brokers_empty.yaml", "2: backbone.brokers: must not be empty");
}

static void test_nul_character_refused(void **state)
{
    (void)state;
    assert_load_error("nul_in_value.yaml",
                      "4: sources[0].dsn: must not contain a NUL character");
}

static void test_duplicate_key(void **state)
{
    (void)state;
    assert_load_error("duplicate_key.yaml", "4: redis.port: duplicate key (first at line 2)");
}

static void test_required_lists(void **state)
{
    (void)state;
    assert_load_error("required_lists.yaml",
                      "1: missing required key \"locations\"\n" FIXTURES
                      "required_lists.yaml:2: sources: must list at least one source");
}

static void test_enum_values(void **state)
{
    (void)state;
    assert_load_error("source_type.yaml",
                      "3: sources[0].type: expected postgres or mariadb, got \"mysql\"");
    assert_load_error("log_level.yaml",
                      "2: log.level: expected debug, info, warning or error, got \"verbose\"");
}

static void test_every_error_is_reported_by_line(void **state)
{
    (void)state;
    const char *f = FIXTURES "many_errors.yaml";
    char want[1024];
    snprintf(want, sizeof want,
             "%s:2: log.level: expected debug, info, warning or error, got \"loud\"\n"
             "%s:4: redis.port: must be between 1 and 65535\n"
             "%s:12: locations[0].safety_stock: must be between 0 and 1000000000\n"
             "%s:14: console.listen: expected host:port (for example 127.0.0.1:8080), "
             "got \"127.0.0.1:http\"",
             f, f, f, f);
    char err[1024];
    assert_null(config_load(f, err, sizeof err));
    assert_string_equal(err, want);
}

static void test_small_error_buffer_keeps_whole_lines(void **state)
{
    (void)state;
    char err[100];
    assert_null(load_fixture("many_errors.yaml", err, sizeof err));
    /* only the first line fits: the second is left out, not cut */
    assert_string_equal(err, FIXTURES "many_errors.yaml:2: log.level: expected debug, info, "
                             "warning or error, got \"loud\"");
}

/* ------------------------------------------------------------------ YAML level */

static void test_yaml_syntax_error(void **state)
{
    (void)state;
    assert_load_error("syntax_error.yaml",
                      "7: YAML syntax: found unexpected end of stream (column 1)");
    assert_load_error("bad_indentation.yaml",
                      "4: YAML syntax: did not find expected '-' indicator (column 4)");
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    assert_load_error("invalid_utf8.yaml",
                      "4: YAML syntax: invalid leading UTF-8 octet (column 15)");
}

static void test_empty_file(void **state)
{
    (void)state;
    assert_load_error("empty.yaml", "1: the configuration is empty: it needs at least "
                                    "\"sources\" and \"locations\"");
    char err[256];
    assert_null(config_load_string("", 0, "blank.yaml", err, sizeof err));
    assert_string_equal(err, "blank.yaml:1: the configuration is empty: it needs at least "
                             "\"sources\" and \"locations\"");
    assert_null(config_load_string(NULL, 0, "null.yaml", err, sizeof err));
    assert_string_equal(err, "null.yaml:1: the configuration is empty: it needs at least "
                             "\"sources\" and \"locations\"");
}

static void test_top_level_not_a_mapping(void **state)
{
    (void)state;
    assert_load_error("top_level_list.yaml", "1: expected a mapping of settings (key: value) "
                                             "at the top level, got a list");
}

static void test_aliases_refused(void **state)
{
    (void)state;
    assert_load_error("alias.yaml", "7: YAML aliases are not supported (*stock): write the "
                                    "value out in full");
}

static void test_second_document_refused(void **state)
{
    (void)state;
    assert_load_error("second_document.yaml",
                      "9: YAML: only one document is allowed, a second one starts here");
}

static void test_deep_nesting_refused(void **state)
{
    (void)state;
    size_t depth = 100000;
    char *text = malloc(2 * depth + 16);
    assert_non_null(text);
    size_t n = (size_t)sprintf(text, "sources: ");
    for (size_t i = 0; i < depth; i++) text[n++] = '[';
    for (size_t i = 0; i < depth; i++) text[n++] = ']';
    char err[256];
    assert_null(config_load_string(text, n, "deep.yaml", err, sizeof err));
    free(text);
    assert_string_equal(err, "deep.yaml:1: YAML: nested more than 32 levels deep");
}

static void test_huge_input_refused(void **state)
{
    (void)state;
    size_t len = (8u << 20) + 1;
    char *text = malloc(len);
    assert_non_null(text);
    memset(text, '#', len);
    char err[256];
    assert_null(config_load_string(text, len, "huge.yaml", err, sizeof err));
    free(text);
    assert_string_equal(err, "huge.yaml: larger than 8 MiB; this is not a configuration file");
}

static void test_missing_file(void **state)
{
    (void)state;
    char err[256];
    assert_null(config_load(FIXTURES "no-such.yaml", err, sizeof err));
    assert_string_equal(err, FIXTURES "no-such.yaml: cannot read: No such file or directory");
}

/* ------------------------------------------------------------------ sources, tables */

static void test_source_name_characters(void **state)
{
    (void)state;
    assert_load_error("source_name.yaml",
                      "2: sources[0].name: must contain only a-z, 0-9 and _, got \"ERP-1\"");
}

static void test_source_name_unique(void **state)
{
    (void)state;
    assert_load_error("source_duplicate.yaml",
                      "7: sources[1].name: duplicate source name \"erp\" (first at line 2)");
}

static void test_dsn_without_password(void **state)
{
    (void)state;
    char err[1024];
    assert_null(load_fixture("dsn_password.yaml", err, sizeof err));
    assert_null(strstr(err, "hunter2"));
    const char *f = FIXTURES "dsn_password.yaml";
    char want[1024];
    snprintf(want, sizeof want,
             "%s:4: sources[0].dsn: must not contain the password: put it in password_file\n"
             "%s:9: sources[1].dsn: must not contain the password: put it in password_file",
             f, f);
    assert_string_equal(err, want);
}

static void test_table_name_form(void **state)
{
    (void)state;
    assert_load_error("table_name.yaml",
                      "6: sources[0].tables[0].table: expected \"name\" or \"schema.name\", "
                      "got \"retail.public.stock\"");
}

static void test_table_unique_per_source(void **state)
{
    (void)state;
    /* "stock_levels" is public.stock_levels */
    assert_load_error("table_duplicate.yaml",
                      "10: sources[0].tables[1].table: duplicate table "
                      "\"public.stock_levels\" (first at line 6)");
}

static void test_table_location_column_or_code(void **state)
{
    (void)state;
    const char *f = FIXTURES "table_location.yaml";
    char want[1024];
    snprintf(want, sizeof want,
             "%s:6: sources[0].tables[0]: set either location (a column) or location_code "
             "(one fixed location), not both\n"
             "%s:7: sources[0].tables[1]: needs location (the column holding the location "
             "code) or location_code (one fixed location)\n"
             "%s:8: sources[0].tables[2].location_code: no location has code \"WH9\"",
             f, f, f);
    char err[1024];
    assert_null(config_load(f, err, sizeof err));
    assert_string_equal(err, want);
}

static void test_table_maps_a_quantity(void **state)
{
    (void)state;
    assert_load_error("table_no_quantity.yaml",
                      "6: sources[0].tables[0]: maps no quantity: set at least one of on_hand, "
                      "committed, unavailable");
}

/* ------------------------------------------------------------------ locations, channels */

static void test_location_code_unique(void **state)
{
    (void)state;
    assert_load_error("location_duplicate.yaml",
                      "12: locations[2].code: duplicate location code \"S12\" (first at line 8)");
}

static void test_channel_name_unique(void **state)
{
    (void)state;
    assert_load_error("channel_duplicate.yaml",
                      "11: channels[1].name: duplicate channel name \"web\" (first at line 10)");
}

static void test_channel_url_scheme(void **state)
{
    (void)state;
    char err[512];
    assert_null(load_fixture("channel_url.yaml", err, sizeof err));
    assert_null(strstr(err, "pa55")); /* a URL may carry credentials: never quoted */
    assert_load_error("channel_url.yaml", "11: channels[0].url: must start with http:// or "
                                          "https:// and name a host");
}

static void test_channel_needs_exactly_one_secret(void **state)
{
    (void)state;
    const char *f = FIXTURES "channel_secret.yaml";
    char want[1024];
    snprintf(want, sizeof want,
             "%s:10: channels[0]: set either secret or secret_file, not both\n"
             "%s:15: channels[1]: needs a signing secret: set secret_file (or secret)",
             f, f);
    char err[1024];
    assert_null(config_load(f, err, sizeof err));
    assert_string_equal(err, want);
}

static void test_channel_secret_file_problems_name_the_path(void **state)
{
    (void)state;
    const char *f = FIXTURES "channel_secret_file.yaml";
    char want[1024];
    snprintf(want, sizeof want,
             "%s:12: channels[0].secret_file: cannot read \"tests/unit/config/no-such-secret\": "
             "No such file or directory\n"
             "%s:16: channels[1].secret_file: \"tests/unit/config\" is not a regular file\n"
             "%s:20: channels[2].secret_file: cannot use "
             "\"tests/unit/config/empty-secret.txt\": its first line is empty",
             f, f, f);
    char err[1024];
    assert_null(config_load(f, err, sizeof err));
    assert_string_equal(err, want);
}

static void test_secret_never_echoed(void **state)
{
    (void)state;
    char err[2048];
    assert_null(load_fixture("secret_not_echoed.yaml", err, sizeof err));
    assert_null(strstr(err, "s3cr3t"));
    assert_null(strstr(err, "inline-s3cr3t"));
    assert_string_equal(err, FIXTURES "secret_not_echoed.yaml:14: channels[0].buffer: "
                             "expected an integer, got \"lots\"");

    /* after the structural errors are gone, the checks run; still no secret */
    char text[4096];
    FILE *f = fopen(FIXTURES "secret_not_echoed.yaml", "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    char *lots = strstr(text, "    buffer: lots\n");
    assert_non_null(lots);
    memmove(lots, lots + 17, strlen(lots + 17) + 1);
    assert_null(config_load_string(text, strlen(text), "checks.yaml", err, sizeof err));
    assert_null(strstr(err, "s3cr3t"));
    assert_string_equal(err, "checks.yaml:15: channels[1].url: must start with http:// or "
                             "https:// and name a host\n"
                             "checks.yaml:18: channels[2]: set either secret or secret_file, "
                             "not both");
}

static void test_channel_location_references(void **state)
{
    (void)state;
    const char *f = FIXTURES "channel_locations.yaml";
    char want[1024];
    snprintf(want, sizeof want,
             "%s:15: channels[0].locations[1]: no location has code \"S99\"\n"
             "%s:16: channels[1]: selects no configured location: no location has one of its "
             "location_types, location_tags or locations\n"
             "%s:21: channels[2]: selects no locations: set location_types, location_tags or "
             "locations",
             f, f, f);
    char err[1024];
    assert_null(config_load(f, err, sizeof err));
    assert_string_equal(err, want);
}

/* ------------------------------------------------------------------ the rest */

static void test_authority_references(void **state)
{
    (void)state;
    const char *f = FIXTURES "authority.yaml";
    char want[1024];
    snprintf(want, sizeof want,
             "%s:11: authority[0].source: no source is named \"wms\"\n"
             "%s:12: authority[1].location_type: no location has type \"stroe\"\n"
             "%s:14: authority[2]: a second source for the same quantity of type "
             "\"warehouse\" (rule at line 10 names wms): each quantity has one "
             "authoritative source",
             f, f, f);
    char err[1024];
    assert_null(config_load(f, err, sizeof err));
    assert_string_equal(err, want);
}

/* Positions of different sources cannot be compared: with several sources, each
 * location type needs an authoritative one (named once, at its first location). */
static void test_several_sources_need_an_authority_per_type(void **state)
{
    (void)state;
    assert_load_error("authority_missing.yaml",
                      "23: locations[1].type: no authority rule names on_hand at type \"store\", "
                      "and 2 "
                      "sources are configured: add one under authority (location_type: store, "
                      "source: …)");
}

static void test_console_listen_host_port(void **state)
{
    (void)state;
    assert_load_error("console_listen.yaml",
                      "2: console.listen: expected host:port (for example 127.0.0.1:8080), "
                      "got \"localhost\"");
}

static void test_backbone_properties_are_scalars(void **state)
{
    (void)state;
    const char *f = FIXTURES "properties.yaml";
    char want[1024];
    snprintf(want, sizeof want,
             "%s:5: backbone.properties.sasl: expected a string, number or boolean, got a "
             "mapping\n"
             "%s:7: backbone.properties.acks: duplicate key (first at line 6)",
             f, f);
    char err[1024];
    assert_null(config_load(f, err, sizeof err));
    assert_string_equal(err, want);
}

/* ------------------------------------------------------------------ lookups */

static void test_lookups(void **state)
{
    (void)state;
    char err[1024];
    struct config *cfg = load_fixture("full.yaml", err, sizeof err);
    if (!cfg) fail_msg("%s", err);
    assert_ptr_equal(config_source(cfg, "wms_east"), &cfg->sources[1]);
    assert_null(config_source(cfg, "wms"));
    assert_ptr_equal(config_location(cfg, "S14"), &cfg->locations[2]);
    assert_null(config_location(cfg, "s14"));
    assert_ptr_equal(config_channel(cfg, "pickup-s14"), &cfg->channels[1]);
    assert_null(config_channel(cfg, "pickup"));
    assert_null(config_source(NULL, "erp"));
    assert_null(config_location(cfg, NULL));
    config_free(cfg);
}

static void test_channel_has_location_by_type_tag_and_code(void **state)
{
    (void)state;
    char err[1024];
    struct config *cfg = load_fixture("full.yaml", err, sizeof err);
    if (!cfg) fail_msg("%s", err);
    const struct config_channel *web = config_channel(cfg, "web");
    const struct config_channel *pickup = config_channel(cfg, "pickup-s14");
    const struct config_location *wh1 = config_location(cfg, "WH1");
    const struct config_location *s12 = config_location(cfg, "S12");
    const struct config_location *s14 = config_location(cfg, "S14");
    assert_true(config_channel_has_location(web, wh1));     /* type warehouse */
    assert_true(config_channel_has_location(web, s12));     /* tag ship-from-store */
    assert_false(config_channel_has_location(web, s14));    /* a store tagged pickup only */
    assert_true(config_channel_has_location(pickup, s14));  /* code */
    assert_false(config_channel_has_location(pickup, s12)); /* tag pickup is not selected */
    assert_false(config_channel_has_location(pickup, wh1));
    assert_false(config_channel_has_location(NULL, wh1));
    assert_false(config_channel_has_location(web, NULL));
    config_free(cfg);
}

static void test_authority_for(void **state)
{
    (void)state;
    char err[1024];
    struct config *cfg = load_fixture("full.yaml", err, sizeof err);
    if (!cfg) fail_msg("%s", err);
    assert_string_equal(config_authority_for(cfg, "warehouse", CONFIG_ON_HAND), "wms_east");
    assert_string_equal(config_authority_for(cfg, "store", CONFIG_ON_HAND), "erp");
    assert_null(config_authority_for(cfg, "depot", CONFIG_ON_HAND));
    assert_null(config_authority_for(cfg, NULL, CONFIG_ON_HAND));
    config_free(cfg);
}

static void test_quantity_names(void **state)
{
    (void)state;
    assert_string_equal(config_quantity_name(CONFIG_ON_HAND), "on_hand");
    assert_string_equal(config_quantity_name(CONFIG_COMMITTED), "committed");
    assert_string_equal(config_quantity_name(CONFIG_UNAVAILABLE), "unavailable");
    config_free(NULL);
}

/* ------------------------------------------------------------------ merge rules */

static void test_merge_keys_load(void **state)
{
    (void)state;
    char err[1024];
    struct config *cfg = load_fixture("merge_keys.yaml", err, sizeof err);
    if (!cfg) fail_msg("%s", err);

    const struct config_source *erp = &cfg->sources[0], *pos = &cfg->sources[1];
    assert_string_equal(erp->timezone, "Europe/Berlin");
    assert_string_equal(erp->timestamp_format, "%d.%m.%Y %H:%M:%S");
    assert_string_equal(pos->timezone, "-05:00");
    assert_string_equal(pos->timestamp_format, "epoch_ms");

    const struct config_table *stock = &erp->tables[0];
    assert_string_equal(stock->sku_column, "sku");
    assert_string_equal(stock->time_column, "counted_at");
    assert_null(stock->item_column);
    assert_null(stock->defines_crosswalk);

    const struct config_table *codes = &erp->tables[1];
    assert_string_equal(codes->schema, "catalog");
    assert_string_equal(codes->name, "item_codes");
    assert_string_equal(codes->defines_crosswalk, "upc");
    assert_string_equal(codes->code_column, "upc");
    assert_string_equal(codes->sku_column, "sku");
    assert_int_equal(codes->line, 16);
    for (int k = 0; k < CONFIG_QUANTITY_KINDS; k++) assert_null(codes->quantity_column[k]);

    const struct config_table *shelf = &pos->tables[0];
    assert_null(shelf->sku_column);
    assert_string_equal(shelf->item_column, "upc");
    assert_string_equal(shelf->crosswalk, "upc");
    assert_null(shelf->time_column);

    assert_int_equal(cfg->channels[0].fulfilment, CONFIG_SHIP);
    assert_int_equal(cfg->channels[1].fulfilment, CONFIG_PICKUP);

    assert_int_equal(cfg->nauthority, 3);
    assert_int_equal(cfg->authority[0].nquantities, 0);
    assert_int_equal(cfg->authority[0].kinds, 7u);
    assert_int_equal(cfg->authority[1].nquantities, 1);
    assert_string_equal(cfg->authority[1].quantities[0], "on_hand");
    assert_int_equal(cfg->authority[1].kinds, 1u << CONFIG_ON_HAND);
    assert_int_equal(cfg->authority[2].nquantities, 2);
    assert_int_equal(cfg->authority[2].kinds,
                     (1u << CONFIG_COMMITTED) | (1u << CONFIG_UNAVAILABLE));
    assert_int_equal(cfg->authority[2].line, 49);

    assert_string_equal(cfg->skus.pattern, "SKU-[0-9][0-9][0-9][0-9][0-9]");

    assert_int_equal(cfg->nitem_classes, 2);
    const struct config_item_class *bulky = &cfg->item_classes[0];
    assert_string_equal(bulky->name, "bulky");
    assert_int_equal(bulky->nskus, 2);
    assert_string_equal(bulky->skus[0], "SKU-002*");
    assert_string_equal(bulky->skus[1], "SKU-003*");
    assert_true(bulky->safety_stock == 1);
    assert_true(bulky->tolerance == 2);
    assert_int_equal(bulky->tolerance_percent, 10);
    assert_int_equal(bulky->line, 55);
    /* unset: keep the location's safety stock and the rules' tolerances */
    const struct config_item_class *all = &cfg->item_classes[1];
    assert_true(all->safety_stock == -1);
    assert_true(all->tolerance == -1);
    assert_int_equal(all->tolerance_percent, -1);

    assert_int_equal(cfg->rules.mismatch_grace_s, 30);
    assert_true(cfg->rules.tolerance == 1);
    assert_int_equal(cfg->rules.tolerance_percent, 5);
    assert_int_equal(cfg->rules.stale_source_s, 120);
    assert_int_equal(cfg->rules.unknown_item_after_s, 600);
    assert_int_equal(cfg->rules.ncontacts, 2);
    assert_string_equal(cfg->rules.contacts[0], "ops@example.com");
    assert_string_equal(cfg->rules.contacts[1], "oncall@example.com");
    config_free(cfg);
}

static void test_crosswalk_mistakes(void **state)
{
    (void)state;
    const char *f = FIXTURES "crosswalk_errors.yaml";
    char want[2048];
    snprintf(want, sizeof want,
             "%s:7: sources[0].tables[0]: item and crosswalk go together: the item code column "
             "and the crosswalk that translates it\n"
             "%s:8: sources[0].tables[1]: set either sku (a column holding the canonical SKU) "
             "or item and crosswalk (an item code translated to the SKU), not both\n"
             "%s:9: sources[0].tables[2].crosswalk: no table defines crosswalk \"ean\" "
             "(defines_crosswalk: ean)\n"
             "%s:10: sources[0].tables[3]: a crosswalk table maps only code and sku: remove "
             "item, crosswalk, location, location_code, time and the quantities\n"
             "%s:11: sources[0].tables[4]: defines a crosswalk: set code (the column holding "
             "the item code)\n"
             "%s:11: sources[0].tables[4].defines_crosswalk: must contain only a-z, 0-9, _ and "
             "-, got \"EAN\"\n"
             "%s:12: sources[0].tables[5].code: belongs to a crosswalk table (with "
             "defines_crosswalk)\n"
             "%s:13: sources[0].tables[6]: needs sku (the column holding the canonical SKU), "
             "or item and crosswalk\n"
             "%s:14: sources[0].tables[7]: item and crosswalk go together: the item code "
             "column and the crosswalk that translates it",
             f, f, f, f, f, f, f, f, f);
    char err[2048];
    assert_null(config_load(f, err, sizeof err));
    assert_string_equal(err, want);
}

static void test_authority_quantities(void **state)
{
    (void)state;
    const char *f = FIXTURES "authority_quantities.yaml";
    char want[1024];
    snprintf(want, sizeof want,
             "%s:18: authority[1].quantities[1]: expected on_hand, committed or unavailable, "
             "got \"reserved\"\n"
             "%s:19: authority[2]: a second source for the same quantity of type \"store\" "
             "(rule at line 18 names pos): each quantity has one authoritative source",
             f, f);
    char err[1024];
    assert_null(config_load(f, err, sizeof err));
    assert_string_equal(err, want);
}

/* With several sources, every quantity some table maps needs an authority at every
 * location type: on_hand alone is not enough when committed is mapped too. */
static void test_authority_needed_for_every_mapped_quantity(void **state)
{
    (void)state;
    assert_load_error("authority_quantity_missing.yaml",
                      "15: locations[1].type: no authority rule names committed at type "
                      "\"store\", and 2 sources are configured: add one under authority "
                      "(location_type: store, source: …)");
}

static void test_source_time_zone_and_format(void **state)
{
    (void)state;
    const char *f = FIXTURES "source_times.yaml";
    char want[1024];
    snprintf(want, sizeof want,
             "%s:6: sources[0].timezone: unknown time zone \"Europe/Berln\": use UTC, an "
             "offset such as +01:00, or an IANA name such as Europe/Berlin\n"
             "%s:7: sources[0].timestamp_format: expected iso8601, epoch_s, epoch_ms or a "
             "strptime format (with %% conversions such as \"%%d.%%m.%%Y %%H:%%M:%%S\"), got "
             "\"dd.mm.yyyy\"\n"
             "%s:13: sources[1].timezone: \"../../etc/passwd\" is not a time zone: use UTC, an "
             "offset such as +01:00, or an IANA name such as Europe/Berlin",
             f, f, f);
    char err[1024];
    assert_null(config_load(f, err, sizeof err));
    assert_string_equal(err, want);
}

static void test_item_classes_select_skus(void **state)
{
    (void)state;
    const char *f = FIXTURES "item_classes.yaml";
    char want[1024];
    snprintf(want, sizeof want,
             "%s:11: item_classes[0].skus: selects no SKU: list glob patterns such as "
             "\"SKU-01*\"\n"
             "%s:13: item_classes[1].skus: selects no SKU: list glob patterns such as "
             "\"SKU-01*\"\n"
             "%s:15: item_classes[2].name: duplicate item class \"bulky\" (first at line 11)",
             f, f, f);
    char err[1024];
    assert_null(config_load(f, err, sizeof err));
    assert_string_equal(err, want);
}

/* '|' separates a location from a source in Redis and the parts of an alert's key: a
 * code holding one would be read back as another location. */
static void test_location_code_without_bar(void **state)
{
    (void)state;
    assert_load_error("location_bar.yaml",
                      "10: locations[1].code: must not contain '|', got \"S|12\"");
}

static void test_rule_values_and_fulfilment(void **state)
{
    (void)state;
    const char *f = FIXTURES "rules_values.yaml";
    char want[1024];
    snprintf(want, sizeof want,
             "%s:15: channels[0].fulfilment: expected ship or pickup, got \"deliver\"\n"
             "%s:17: rules.stale_source_s: must be between 10 and 604800\n"
             "%s:18: rules.tolerance_percent: must be between 0 and 100\n"
             "%s:19: rules.mismatch_grace: unknown key (did you mean \"mismatch_grace_s\"?)\n"
             "%s:21: skus.pattern: must not be empty",
             f, f, f, f, f);
    char err[1024];
    assert_null(config_load(f, err, sizeof err));
    assert_string_equal(err, want);
}

static void test_authority_for_each_quantity(void **state)
{
    (void)state;
    char err[1024];
    struct config *cfg = load_fixture("merge_keys.yaml", err, sizeof err);
    if (!cfg) fail_msg("%s", err);
    /* warehouses: one rule for all three */
    assert_string_equal(config_authority_for(cfg, "warehouse", CONFIG_ON_HAND), "erp");
    assert_string_equal(config_authority_for(cfg, "warehouse", CONFIG_COMMITTED), "erp");
    assert_string_equal(config_authority_for(cfg, "warehouse", CONFIG_UNAVAILABLE), "erp");
    /* stores: the shelf count from the POS, orders and blocked stock from the ERP */
    assert_string_equal(config_authority_for(cfg, "store", CONFIG_ON_HAND), "pos");
    assert_string_equal(config_authority_for(cfg, "store", CONFIG_COMMITTED), "erp");
    assert_string_equal(config_authority_for(cfg, "store", CONFIG_UNAVAILABLE), "erp");
    assert_null(config_authority_for(cfg, "depot", CONFIG_ON_HAND));
    assert_null(config_authority_for(cfg, "Store", CONFIG_ON_HAND));
    assert_null(config_authority_for(NULL, "store", CONFIG_ON_HAND));
    config_free(cfg);
}

static void test_item_class_first_match_wins(void **state)
{
    (void)state;
    char err[1024];
    struct config *cfg = load_fixture("merge_keys.yaml", err, sizeof err);
    if (!cfg) fail_msg("%s", err);
    const struct config_item_class *bulky = &cfg->item_classes[0], *all = &cfg->item_classes[1];
    assert_ptr_equal(config_item_class_for(cfg, "SKU-00217"), bulky); /* SKU-002* */
    assert_ptr_equal(config_item_class_for(cfg, "SKU-00399"), bulky); /* second pattern */
    assert_ptr_equal(config_item_class_for(cfg, "SKU-00117"), all);   /* only SKU-* */
    assert_ptr_equal(config_item_class_for(cfg, "SKU-"), all);
    assert_null(config_item_class_for(cfg, "sku-00217")); /* globs are case-sensitive */
    assert_null(config_item_class_for(cfg, "4006381333931"));
    assert_null(config_item_class_for(cfg, ""));
    assert_null(config_item_class_for(cfg, NULL));
    assert_null(config_item_class_for(NULL, "SKU-00217"));
    config_free(cfg);
}

static void test_sku_valid(void **state)
{
    (void)state;
    char err[1024];
    struct config *cfg = load_fixture("merge_keys.yaml", err, sizeof err);
    if (!cfg) fail_msg("%s", err);
    assert_true(config_sku_valid(cfg, "SKU-00001"));
    assert_true(config_sku_valid(cfg, "SKU-99999"));
    assert_false(config_sku_valid(cfg, "SKU-0001"));
    assert_false(config_sku_valid(cfg, "SKU-000001"));
    assert_false(config_sku_valid(cfg, "SKU-0000A"));
    assert_false(config_sku_valid(cfg, "sku-00001"));
    assert_false(config_sku_valid(cfg, " SKU-00001"));
    assert_false(config_sku_valid(cfg, ""));
    config_free(cfg);
}

static void test_crosswalk_lookup(void **state)
{
    (void)state;
    char err[1024];
    struct config *cfg = load_fixture("merge_keys.yaml", err, sizeof err);
    if (!cfg) fail_msg("%s", err);
    const struct config_source *src = NULL;
    const struct config_table *t = config_crosswalk(cfg, "upc", &src);
    assert_ptr_equal(t, &cfg->sources[0].tables[1]);
    assert_ptr_equal(src, &cfg->sources[0]);
    assert_ptr_equal(config_crosswalk(cfg, "upc", NULL), t);

    src = &cfg->sources[1];
    assert_null(config_crosswalk(cfg, "ean", &src));
    assert_null(config_crosswalk(cfg, "UPC", &src));
    assert_null(config_crosswalk(cfg, NULL, &src));
    assert_null(config_crosswalk(NULL, "upc", &src));
    assert_ptr_equal(src, &cfg->sources[1]); /* untouched when there is none */
    /* a table that uses a crosswalk does not define it */
    assert_string_equal(cfg->sources[1].tables[0].crosswalk, "upc");
    config_free(cfg);
}

/* The columns a reader must keep in a row image for the mapping: nothing more. */
static void test_table_columns(void **state)
{
    (void)state;
    char err[1024];
    struct config *cfg = load_fixture("merge_keys.yaml", err, sizeof err);
    if (!cfg) fail_msg("%s", err);
    const char *cols[CONFIG_TABLE_COLUMNS_MAX];

    size_t n = config_table_columns(&cfg->sources[0].tables[0], cols);
    assert_int_equal(n, 5);
    assert_string_equal(cols[0], "sku");
    assert_string_equal(cols[1], "loc");
    assert_string_equal(cols[2], "counted_at");
    assert_string_equal(cols[3], "qty");
    assert_string_equal(cols[4], "reserved");

    n = config_table_columns(&cfg->sources[0].tables[1], cols); /* the crosswalk */
    assert_int_equal(n, 2);
    assert_string_equal(cols[0], "sku");
    assert_string_equal(cols[1], "upc");

    n = config_table_columns(&cfg->sources[1].tables[0], cols); /* by item code */
    assert_int_equal(n, 3);
    assert_string_equal(cols[0], "upc");
    assert_string_equal(cols[1], "store");
    assert_string_equal(cols[2], "qty");
    config_free(cfg);

    /* a fixed location is no column */
    cfg = load_fixture("full.yaml", err, sizeof err);
    if (!cfg) fail_msg("%s", err);
    n = config_table_columns(&cfg->sources[1].tables[0], cols);
    assert_int_equal(n, 2);
    assert_string_equal(cols[0], "sku");
    assert_string_equal(cols[1], "quantity");
    n = config_table_columns(&cfg->sources[0].tables[0], cols);
    assert_int_equal(n, 5);
    assert_string_equal(cols[0], "item_sku");
    assert_string_equal(cols[4], "qty_blocked");
    config_free(cfg);
}

/* The fixtures name paths relative to the source root: run from there. */
static int enter_source_root(void)
{
    const char *self = __FILE__, *suffix = "tests/unit/test_config.c";
    size_t n = strlen(self), m = strlen(suffix);
    if (n < m || strcmp(self + n - m, suffix)) return 0;
    if (n == m) return 0;
    char root[PATH_MAX];
    snprintf(root, sizeof root, "%.*s", (int)(n - m), self);
    if (access(root, F_OK) != 0) return 0; /* built elsewhere: assume the cwd is the root */
    return chdir(root);
}

/* Two tables feeding one crosswalk would forget each other's codes on delete. */
static void test_crosswalk_defined_twice(void **state)
{
    (void)state;
    static const char text[] =
        "sources:\n"
        "  - name: a\n    type: postgres\n    dsn: host=x\n    tables:\n"
        "      - {table: t1, defines_crosswalk: upc, code: c, sku: s}\n"
        "      - {table: t2, defines_crosswalk: upc, code: c, sku: s}\n"
        "      - {table: t3, item: i, crosswalk: upc, location_code: L, on_hand: q}\n"
        "locations:\n  - {code: L, type: store}\n";
    char err[512];
    assert_null(config_load_string(text, sizeof text - 1, "x.yaml", err, sizeof err));
    assert_string_equal(err, "x.yaml:7: sources[0].tables[1].defines_crosswalk: crosswalk \"upc\" "
                             "is already defined by public.t1 (line 6)");
}

int main(void)
{
    if (enter_source_root() != 0 || access(FIXTURES "full.yaml", R_OK) != 0) {
        fprintf(stderr, "test_config: run from the source root (fixtures in %s)\n", FIXTURES);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_config_loads_every_field),
        cmocka_unit_test(test_minimal_config_takes_defaults),
        cmocka_unit_test(test_demo_config_loads),
        cmocka_unit_test(test_load_string_uses_given_name),
        cmocka_unit_test(test_unknown_key_suggests_closest),
        cmocka_unit_test(test_unknown_key_without_close_match),
        cmocka_unit_test(test_integer_not_a_number),
        cmocka_unit_test(test_integer_out_of_range),
        cmocka_unit_test(test_missing_required_key_names_the_mapping),
        cmocka_unit_test(test_wrong_type_names_what_was_found),
        cmocka_unit_test(test_empty_value_for_required_key),
        cmocka_unit_test(test_empty_string_refused),
        cmocka_unit_test(test_nul_character_refused),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_required_lists),
        cmocka_unit_test(test_enum_values),
        cmocka_unit_test(test_every_error_is_reported_by_line),
        cmocka_unit_test(test_small_error_buffer_keeps_whole_lines),
        cmocka_unit_test(test_yaml_syntax_error),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_top_level_not_a_mapping),
        cmocka_unit_test(test_aliases_refused),
        cmocka_unit_test(test_second_document_refused),
        cmocka_unit_test(test_deep_nesting_refused),
        cmocka_unit_test(test_huge_input_refused),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_source_name_characters),
        cmocka_unit_test(test_source_name_unique),
        cmocka_unit_test(test_dsn_without_password),
        cmocka_unit_test(test_table_name_form),
        cmocka_unit_test(test_table_unique_per_source),
        cmocka_unit_test(test_table_location_column_or_code),
        cmocka_unit_test(test_table_maps_a_quantity),
        cmocka_unit_test(test_location_code_unique),
        cmocka_unit_test(test_channel_name_unique),
        cmocka_unit_test(test_channel_url_scheme),
        cmocka_unit_test(test_channel_needs_exactly_one_secret),
        cmocka_unit_test(test_channel_secret_file_problems_name_the_path),
        cmocka_unit_test(test_secret_never_echoed),
        cmocka_unit_test(test_channel_location_references),
        cmocka_unit_test(test_authority_references),
        cmocka_unit_test(test_several_sources_need_an_authority_per_type),
        cmocka_unit_test(test_console_listen_host_port),
        cmocka_unit_test(test_backbone_properties_are_scalars),
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_channel_has_location_by_type_tag_and_code),
        cmocka_unit_test(test_authority_for),
        cmocka_unit_test(test_quantity_names),
        cmocka_unit_test(test_crosswalk_defined_twice),
        cmocka_unit_test(test_channel_and_authority_defaults),
        cmocka_unit_test(test_merge_keys_load),
        cmocka_unit_test(test_crosswalk_mistakes),
        cmocka_unit_test(test_authority_quantities),
        cmocka_unit_test(test_authority_needed_for_every_mapped_quantity),
        cmocka_unit_test(test_source_time_zone_and_format),
        cmocka_unit_test(test_item_classes_select_skus),
        cmocka_unit_test(test_location_code_without_bar),
        cmocka_unit_test(test_rule_values_and_fulfilment),
        cmocka_unit_test(test_authority_for_each_quantity),
        cmocka_unit_test(test_item_class_first_match_wins),
        cmocka_unit_test(test_sku_valid),
        cmocka_unit_test(test_crosswalk_lookup),
        cmocka_unit_test(test_table_columns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
