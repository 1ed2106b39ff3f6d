/* test_rules.c — the alert rules as an operator meets them: the names and dedup keys
 * of alerts, what an alert says (which source disagrees with which, by how much), who
 * is told, and when a source counts as stale or as drained (only then is a
 * disagreement judged). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"
#include "stockmesh/config.h"

/* Warehouses believe the ERP for everything; in stores the POS counts what is on the
 * shelf (on_hand) while the ERP owns orders (committed) and blocked stock. */
static const char CONFIG_YAML[] =
    "sources:\n"
    "  - name: erp\n"
    "    type: postgres\n"
    "    dsn: host=127.0.0.1 dbname=retail\n"
    "    tables:\n"
    "      - {table: stock_levels, sku: sku, location: loc, on_hand: oh, committed: cm,\n"
    "         unavailable: un}\n"
    "  - name: pos\n"
    "    type: mariadb\n"
    "    dsn: host=127.0.0.1 port=3306 user=stockmesh dbname=pos\n"
    "    heartbeat_ms: 10000\n"
    "    tables:\n"
    "      - {table: pos.shelf, sku: sku, location: store, on_hand: qty}\n"
    "locations:\n"
    "  - {code: WH1, type: warehouse}\n"
    "  - code: S12\n"
    "    type: store\n"
    "    contacts: [\"store12@example.com\", \"+49 30 1234\"]\n"
    "authority:\n"
    "  - {location_type: warehouse, source: erp}\n"
    "  - {location_type: store, source: pos, quantities: [on_hand]}\n"
    "  - {location_type: store, source: erp, quantities: [committed, unavailable]}\n"
    "rules:\n"
    "  stale_source_s: 60\n"
    "  contacts: [\"ops@example.com\"]\n";

#define NOW_MS 1700000000000LL /* 2023-11-14T22:13:20Z */

struct fixture {
    struct config *cfg;
    const struct config_location *wh1, *s12;
    const struct config_source *erp, *pos;
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    char err[2048];
    fx->cfg = config_load_string(CONFIG_YAML, strlen(CONFIG_YAML), "rules.yaml", err, sizeof err);
    if (!fx->cfg) {
        fprintf(stderr, "config: %s\n", err);
        free(fx);
        return -1;
    }
    fx->wh1 = config_location(fx->cfg, "WH1");
    fx->s12 = config_location(fx->cfg, "S12");
    fx->erp = config_source(fx->cfg, "erp");
    fx->pos = config_source(fx->cfg, "pos");
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    config_free(fx->cfg);
    free(fx);
    return 0;
}

/* ------------------------------------------------------------------ names and keys */

static void test_rule_names_round_trip(void **state)
{
    (void)state;
    static const struct {
        unsigned flag;
        const char *name;
    } rules[] = {{RULES_MISMATCH, "mismatch"},
                 {RULES_NEGATIVE, "negative_stock"},
                 {RULES_OVERCOMMITTED, "overcommitted"}};
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        assert_string_equal(rules_name(rules[i].flag), rules[i].name);
        assert_int_equal(rules_flag(rules[i].name), rules[i].flag);
        assert_int_equal(rules_flag(rules_name(rules[i].flag)), rules[i].flag);
    }
    /* every flag below 1 << RULES_NFLAGS that is a single bit has a name */
    for (unsigned flag = 1; flag < (1u << RULES_NFLAGS); flag <<= 1)
        assert_non_null(rules_name(flag));
    /* combinations and unknown bits are no rule */
    assert_null(rules_name(0));
    assert_null(rules_name(RULES_MISMATCH | RULES_NEGATIVE));
    assert_null(rules_name(1u << RULES_NFLAGS));
    /* an alert of a rule this version no longer knows: 0, not a crash */
    assert_int_equal(rules_flag("stale_source"), 0);
    assert_int_equal(rules_flag("Mismatch"), 0);
    assert_int_equal(rules_flag(""), 0);
    assert_int_equal(rules_flag(NULL), 0);
}

static void test_key_round_trip(void **state)
{
    (void)state;
    char key[300], rule[32], sku[128], location[64];
    assert_int_equal(rules_key(key, sizeof key, "negative_stock", "SKU-00017", "S12"), 0);
    assert_string_equal(key, "negative_stock|SKU-00017|S12");
    assert_int_equal(rules_parse_key(key, rule, sizeof rule, sku, sizeof sku, location,
                                     sizeof location),
                     0);
    assert_string_equal(rule, "negative_stock");
    assert_string_equal(sku, "SKU-00017");
    assert_string_equal(location, "S12");
}

/* SKUs come from the retailer's data and may hold '|': the key still splits right. */
static void test_key_with_bar_in_sku(void **state)
{
    (void)state;
    char key[300], rule[32], sku[128], location[64];
    assert_int_equal(rules_key(key, sizeof key, "mismatch", "A|B|C", "WH1"), 0);
    assert_string_equal(key, "mismatch|A|B|C|WH1");
    assert_int_equal(rules_parse_key(key, rule, sizeof rule, sku, sizeof sku, location,
                                     sizeof location),
                     0);
    assert_string_equal(rule, "mismatch");
    assert_string_equal(sku, "A|B|C");
    assert_string_equal(location, "WH1");

    assert_int_equal(rules_parse_key("overcommitted||S12", rule, sizeof rule, sku, sizeof sku,
                                     location, sizeof location),
                     -1); /* an empty SKU is no SKU */
    assert_int_equal(rules_parse_key("overcommitted|||S12", rule, sizeof rule, sku, sizeof sku,
                                     location, sizeof location),
                     0); /* … but a SKU "|" is one */
    assert_string_equal(sku, "|");
}

static void test_key_that_does_not_fit(void **state)
{
    (void)state;
    char key[16];
    /* "mismatch|A-1|S1" is 15 characters: fits exactly */
    assert_int_equal(rules_key(key, sizeof key, "mismatch", "A-1", "S1"), 0);
    assert_string_equal(key, "mismatch|A-1|S1");
    /* one more does not: refused, not cut into another SKU's key */
    assert_int_equal(rules_key(key, sizeof key, "mismatch", "A-10", "S1"), -1);

    char rule[32], sku[8], location[4];
    assert_int_equal(rules_parse_key("mismatch|SKU-0001|S12", rule, sizeof rule, sku, sizeof sku,
                                     location, sizeof location),
                     -1); /* SKU of 8 characters into 8 bytes */
    assert_int_equal(rules_parse_key("mismatch|SKU-001|S12", rule, sizeof rule, sku, sizeof sku,
                                     location, sizeof location),
                     0);
    assert_string_equal(sku, "SKU-001");
    assert_int_equal(rules_parse_key("mismatch|SKU-001|S123", rule, sizeof rule, sku, sizeof sku,
                                     location, sizeof location),
                     -1); /* location too long */
    assert_int_equal(rules_parse_key("mismatch|SKU-001|S12", rule, 8, sku, sizeof sku, location,
                                     sizeof location),
                     -1); /* rule too long */
}

static void test_malformed_keys(void **state)
{
    (void)state;
    char rule[32], sku[64], location[64];
    static const char *const bad[] = {"",          "mismatch",    "mismatch|SKU-1",
                                      "|SKU-1|S12", "mismatch|SKU-1|", "||"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (rules_parse_key(bad[i], rule, sizeof rule, sku, sizeof sku, location,
                            sizeof location) != -1)
            fail_msg("key \"%s\" was accepted", bad[i]);
}

/* ------------------------------------------------------------------ what an alert says */

static void assert_int_field(json_t *d, const char *key, long long want)
{
    json_t *v = json_object_get(d, key);
    if (!json_is_integer(v)) fail_msg("details.%s is missing or not an integer", key);
    assert_true(json_integer_value(v) == want);
}

static void assert_string_field(json_t *d, const char *key, const char *want)
{
    json_t *v = json_object_get(d, key);
    if (!json_is_string(v)) fail_msg("details.%s is missing or not a string", key);
    assert_string_equal(json_string_value(v), want);
}

static void test_describe_mismatch_names_the_authoritative_source(void **state)
{
    struct fixture *fx = *state;
    char summary[300];
    /* on_hand in a store: the POS is authoritative, the ERP observes */
    json_t *d = rules_describe(fx->cfg, RULES_MISMATCH, "SKU-00017", fx->s12, "erp|on_hand|7|5",
                               5, 1, 0, summary, sizeof summary);
    assert_non_null(d);
    assert_string_equal(summary,
                        "SKU-00017 at S12: erp says on_hand is 7, pos (authoritative) says 5");
    assert_string_field(d, "sku", "SKU-00017");
    assert_string_field(d, "location", "S12");
    assert_string_field(d, "observing_source", "erp");
    assert_string_field(d, "authoritative_source", "pos");
    assert_string_field(d, "quantity", "on_hand");
    assert_int_field(d, "observed", 7);
    assert_int_field(d, "authoritative", 5);
    assert_int_field(d, "difference", 2);
    /* the location's authoritative figures */
    assert_int_field(d, "on_hand", 5);
    assert_int_field(d, "committed", 1);
    assert_int_field(d, "unavailable", 0);
    json_decref(d);

    /* committed in the same store belongs to the ERP: the rule per quantity decides */
    d = rules_describe(fx->cfg, RULES_MISMATCH, "SKU-00017", fx->s12, "pos|committed|0|-3", 5, -3,
                       0, summary, sizeof summary);
    assert_non_null(d);
    assert_string_equal(summary,
                        "SKU-00017 at S12: pos says committed is 0, erp (authoritative) says -3");
    assert_string_field(d, "authoritative_source", "erp");
    assert_string_field(d, "quantity", "committed");
    assert_int_field(d, "difference", 3);
    json_decref(d);

    /* a warehouse: the ERP for every quantity */
    d = rules_describe(fx->cfg, RULES_MISMATCH, "SKU-00017", fx->wh1, "pos|unavailable|2|9", 40, 0,
                       9, summary, sizeof summary);
    assert_string_equal(summary,
                        "SKU-00017 at WH1: pos says unavailable is 2, erp (authoritative) says 9");
    assert_string_field(d, "authoritative_source", "erp");
    assert_int_field(d, "difference", -7);
    json_decref(d);
}

static void test_describe_mismatch_without_location(void **state)
{
    struct fixture *fx = *state;
    char summary[300];
    json_t *d = rules_describe(fx->cfg, RULES_MISMATCH, "SKU-00017", NULL, "erp|on_hand|7|5", 5, 0,
                               0, summary, sizeof summary);
    assert_non_null(d);
    assert_string_equal(summary, "SKU-00017 at ?: erp says on_hand is 7, the authoritative "
                                 "source (authoritative) says 5");
    assert_true(json_is_null(json_object_get(d, "authoritative_source")));
    json_decref(d);
}

/* A detail that is not exactly "<source>|<kind>|<observed>|<authoritative>" must not
 * make the alert name a wrong source, quantity or figure: it says only that the
 * sources disagree. */
static void test_describe_malformed_mismatch_detail(void **state)
{
    struct fixture *fx = *state;
    static const char *const bad[] = {
        "",                         /* none */
        "erp|on_hand|7",            /* three fields */
        "erp|on_hand|7|5|1",        /* five */
        "|on_hand|7|5",             /* no source */
        "erp||7|5",                 /* no quantity */
        "erp|stock|7|5",            /* not a quantity */
        "erp|on_hand|seven|5",      /* not a number */
        "erp|on_hand|7|",           /* no authoritative figure */
        "erp|on_hand|7.5|5",        /* not whole */
        "erp|on_hand|99999999999999999999|5", /* out of range */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char summary[300];
        json_t *d = rules_describe(fx->cfg, RULES_MISMATCH, "SKU-00017", fx->s12, bad[i], 5, 1, 0,
                                   summary, sizeof summary);
        assert_non_null(d);
        if (strcmp(summary, "SKU-00017 at S12: the sources disagree"))
            fail_msg("detail \"%s\" gave \"%s\"", bad[i], summary);
        assert_null(json_object_get(d, "observing_source"));
        assert_null(json_object_get(d, "quantity"));
        assert_int_field(d, "on_hand", 5);
        json_decref(d);
    }
    char summary[300];
    json_t *d = rules_describe(fx->cfg, RULES_MISMATCH, "SKU-00017", fx->s12, NULL, 5, 1, 0,
                               summary, sizeof summary);
    assert_string_equal(summary, "SKU-00017 at S12: the sources disagree");
    json_decref(d);

    /* a detail longer than any real one */
    char longer[400];
    memset(longer, 'e', sizeof longer - 1);
    longer[sizeof longer - 1] = 0;
    memcpy(longer + sizeof longer - 1 - 12, "|on_hand|7|5", 12);
    d = rules_describe(fx->cfg, RULES_MISMATCH, "SKU-00017", fx->s12, longer, 5, 1, 0, summary,
                       sizeof summary);
    assert_string_equal(summary, "SKU-00017 at S12: the sources disagree");
    json_decref(d);
}

static void test_describe_negative_and_overcommitted(void **state)
{
    struct fixture *fx = *state;
    char summary[300];
    json_t *d = rules_describe(fx->cfg, RULES_NEGATIVE, "SKU-00017", fx->wh1, "", -3, 0, 0,
                               summary, sizeof summary);
    assert_non_null(d);
    assert_string_equal(summary, "SKU-00017 at WH1: on_hand is negative (-3)");
    assert_string_field(d, "location", "WH1");
    assert_int_field(d, "on_hand", -3);
    assert_null(json_object_get(d, "observing_source"));
    json_decref(d);

    d = rules_describe(fx->cfg, RULES_OVERCOMMITTED, "SKU-00017", fx->s12, "", 4, 9, 1, summary,
                       sizeof summary);
    assert_non_null(d);
    assert_string_equal(summary, "SKU-00017 at S12: committed (9) is above on_hand (4)");
    assert_int_field(d, "on_hand", 4);
    assert_int_field(d, "committed", 9);
    assert_int_field(d, "unavailable", 1);
    json_decref(d);

    d = rules_describe(fx->cfg, 8, "SKU-00017", fx->s12, "", 4, 9, 1, summary, sizeof summary);
    assert_non_null(d);
    assert_string_equal(summary, "SKU-00017 at S12: unknown condition 8");
    json_decref(d);
}

static void test_describe_summary_is_cut_to_its_buffer(void **state)
{
    struct fixture *fx = *state;
    char summary[24];
    memset(summary, 'x', sizeof summary);
    json_t *d = rules_describe(fx->cfg, RULES_MISMATCH, "SKU-00017", fx->s12, "erp|on_hand|7|5", 5,
                               1, 0, summary, sizeof summary);
    assert_non_null(d);
    assert_int_equal(strlen(summary), sizeof summary - 1);
    assert_memory_equal(summary, "SKU-00017 at S12: erp s", sizeof summary);
    json_decref(d);
}

/* ------------------------------------------------------------------ who is told */

static void test_contacts_of_a_location_else_the_rules(void **state)
{
    struct fixture *fx = *state;
    size_t n = 99;
    const char *const *c = rules_contacts(fx->cfg, fx->s12, &n);
    assert_int_equal(n, 2);
    assert_string_equal(c[0], "store12@example.com");
    assert_string_equal(c[1], "+49 30 1234");

    /* a warehouse without contacts of its own: the general ones */
    c = rules_contacts(fx->cfg, fx->wh1, &n);
    assert_int_equal(n, 1);
    assert_string_equal(c[0], "ops@example.com");

    /* no location at all (a stale source) */
    n = 99;
    c = rules_contacts(fx->cfg, NULL, &n);
    assert_int_equal(n, 1);
    assert_string_equal(c[0], "ops@example.com");
}

static void test_no_contacts_anywhere(void **state)
{
    (void)state;
    static const char yaml[] = "sources:\n"
                               "  - name: erp\n"
                               "    type: postgres\n"
                               "    dsn: host=127.0.0.1 dbname=retail\n"
                               "    tables:\n"
                               "      - {table: stock, sku: sku, location: loc, on_hand: q}\n"
                               "locations:\n"
                               "  - {code: WH1, type: warehouse}\n";
    char err[1024];
    struct config *cfg = config_load_string(yaml, strlen(yaml), "bare.yaml", err, sizeof err);
    if (!cfg) fail_msg("%s", err);
    size_t n = 99;
    rules_contacts(cfg, config_location(cfg, "WH1"), &n);
    assert_int_equal(n, 0);
    n = 99;
    rules_contacts(cfg, NULL, &n);
    assert_int_equal(n, 0);
    config_free(cfg);
}

/* ------------------------------------------------------------------ stale sources */

/* rules.stale_source_s is 60 in the fixture. */
static int stale(struct fixture *fx, const struct config_source *src, const char *status,
                 char *why, size_t whylen)
{
    strcpy(why, "(untouched)");
    return rules_source_stale(fx->cfg, src, status, NOW_MS, why, whylen);
}

static void test_never_reported_is_stale(void **state)
{
    struct fixture *fx = *state;
    char why[512];
    assert_int_equal(stale(fx, fx->erp, NULL, why, sizeof why), 1);
    assert_string_equal(why, "source erp: its reader has never reported");
    /* a status that is not JSON is as good as none */
    assert_int_equal(stale(fx, fx->pos, "{\"state\":", why, sizeof why), 1);
    assert_string_equal(why, "source pos: its reader has never reported");
}

static void test_status_not_updated_is_stale(void **state)
{
    struct fixture *fx = *state;
    char why[512], status[256];
    /* streaming, but the reader stopped writing its status 61 s ago (it died) */
    snprintf(status, sizeof status,
             "{\"state\":\"streaming\",\"since_ms\":%lld,\"updated_ms\":%lld,"
             "\"last_heartbeat_ms\":%lld}",
             NOW_MS - 3600000, NOW_MS - 61000, NOW_MS - 61000);
    assert_int_equal(stale(fx, fx->erp, status, why, sizeof why), 1);
    assert_string_equal(why, "source erp: its reader has not reported for 61 s");

    /* 60 s is still within stale_source_s */
    snprintf(status, sizeof status,
             "{\"state\":\"streaming\",\"since_ms\":%lld,\"updated_ms\":%lld,"
             "\"last_heartbeat_ms\":%lld}",
             NOW_MS - 3600000, NOW_MS - 60000, NOW_MS - 60000);
    assert_int_equal(stale(fx, fx->erp, status, why, sizeof why), 0);

    /* a status without updated_ms at all */
    assert_int_equal(stale(fx, fx->erp, "{\"state\":\"streaming\"}", why, sizeof why), 1);
    assert_non_null(strstr(why, "its reader has not reported for"));
}

static void test_not_streaming_for_too_long_names_the_last_error(void **state)
{
    struct fixture *fx = *state;
    char why[512], status[512];
    snprintf(status, sizeof status,
             "{\"state\":\"connecting\",\"since_ms\":%lld,\"updated_ms\":%lld,"
             "\"last_error\":\"connection to 10.0.0.5:5432 refused\"}",
             NOW_MS - 125000, NOW_MS - 1000);
    assert_int_equal(stale(fx, fx->erp, status, why, sizeof why), 1);
    assert_string_equal(why, "source erp: connecting for 125 s; last error: connection to "
                             "10.0.0.5:5432 refused");

    /* no error recorded: no "last error" */
    snprintf(status, sizeof status,
             "{\"state\":\"down\",\"since_ms\":%lld,\"updated_ms\":%lld,\"last_error\":null}",
             NOW_MS - 600000, NOW_MS);
    assert_int_equal(stale(fx, fx->pos, status, why, sizeof why), 1);
    assert_string_equal(why, "source pos: down for 600 s");

    /* down for a short while (a restart, a failover): not yet stale */
    snprintf(status, sizeof status,
             "{\"state\":\"down\",\"since_ms\":%lld,\"updated_ms\":%lld,"
             "\"last_error\":\"server closed the connection\"}",
             NOW_MS - 30000, NOW_MS);
    assert_int_equal(stale(fx, fx->erp, status, why, sizeof why), 0);

    /* a state this version does not know counts as not streaming */
    snprintf(status, sizeof status, "{\"since_ms\":%lld,\"updated_ms\":%lld}", NOW_MS - 90000,
             NOW_MS);
    assert_int_equal(stale(fx, fx->erp, status, why, sizeof why), 1);
    assert_string_equal(why, "source erp: not streaming for 90 s");

    /* a very long error is cut, the message stays within its buffer */
    char error[1000];
    memset(error, 'E', sizeof error - 1);
    error[sizeof error - 1] = 0;
    char big[1200];
    snprintf(big, sizeof big,
             "{\"state\":\"connecting\",\"since_ms\":%lld,\"updated_ms\":%lld,"
             "\"last_error\":\"%s\"}",
             NOW_MS - 125000, NOW_MS, error);
    char small[64];
    assert_int_equal(stale(fx, fx->erp, big, small, sizeof small), 1);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_int_equal(strncmp(small, "source erp: connecting for 125 s; last error: EEE", 49), 0);
}

static void test_heartbeat_too_old_is_stale(void **state)
{
    struct fixture *fx = *state;
    char why[512], status[256];
    /* streaming and reporting, but no heartbeat came back for 200 s: the source is
       silent (a hung connection, a replica that stopped) */
    snprintf(status, sizeof status,
             "{\"state\":\"streaming\",\"since_ms\":%lld,\"updated_ms\":%lld,"
             "\"last_heartbeat_ms\":%lld,\"unapplied\":0}",
             NOW_MS - 3600000, NOW_MS - 500, NOW_MS - 200000);
    assert_int_equal(stale(fx, fx->pos, status, why, sizeof why), 1);
    assert_string_equal(why, "source pos: no heartbeat came back for 200 s");

    /* allowed: stale_source_s plus one heartbeat interval (10 s) */
    snprintf(status, sizeof status,
             "{\"state\":\"streaming\",\"since_ms\":%lld,\"updated_ms\":%lld,"
             "\"last_heartbeat_ms\":%lld}",
             NOW_MS - 3600000, NOW_MS - 500, NOW_MS - 70000);
    assert_int_equal(stale(fx, fx->pos, status, why, sizeof why), 0);
    snprintf(status, sizeof status,
             "{\"state\":\"streaming\",\"since_ms\":%lld,\"updated_ms\":%lld,"
             "\"last_heartbeat_ms\":%lld}",
             NOW_MS - 3600000, NOW_MS - 500, NOW_MS - 70001);
    assert_int_equal(stale(fx, fx->pos, status, why, sizeof why), 1);
}

static void test_fresh_source_is_not_stale(void **state)
{
    struct fixture *fx = *state;
    char why[512], status[256];
    snprintf(status, sizeof status,
             "{\"state\":\"streaming\",\"since_ms\":%lld,\"updated_ms\":%lld,"
             "\"last_heartbeat_ms\":%lld,\"last_error\":\"an old hiccup\",\"unapplied\":12}",
             NOW_MS - 86400000, NOW_MS - 1000, NOW_MS - 5000);
    assert_int_equal(stale(fx, fx->erp, status, why, sizeof why), 0);

    /* streaming before the first heartbeat came back */
    snprintf(status, sizeof status,
             "{\"state\":\"streaming\",\"since_ms\":%lld,\"updated_ms\":%lld,"
             "\"last_heartbeat_ms\":null}",
             NOW_MS - 2000, NOW_MS - 1000);
    assert_int_equal(stale(fx, fx->erp, status, why, sizeof why), 0);

    /* a long initial snapshot is work, not silence */
    snprintf(status, sizeof status,
             "{\"state\":\"snapshot\",\"since_ms\":%lld,\"updated_ms\":%lld}", NOW_MS - 7200000,
             NOW_MS - 1000);
    assert_int_equal(stale(fx, fx->erp, status, why, sizeof why), 0);
}

/* ------------------------------------------------------------------ drained sources */

static void test_streaming_with_nothing_unapplied_is_drained(void **state)
{
    (void)state;
    char status[256];
    snprintf(status, sizeof status,
             "{\"state\":\"streaming\",\"updated_ms\":%lld,\"unapplied\":0}", NOW_MS - 1000);
    assert_int_equal(rules_source_drained(status, NOW_MS), 1);
    /* written exactly 5 s ago still counts */
    snprintf(status, sizeof status,
             "{\"state\":\"streaming\",\"updated_ms\":%lld,\"unapplied\":0}", NOW_MS - 5000);
    assert_int_equal(rules_source_drained(status, NOW_MS), 1);
}

static void test_unapplied_events_are_not_drained(void **state)
{
    (void)state;
    char status[256];
    snprintf(status, sizeof status,
             "{\"state\":\"streaming\",\"updated_ms\":%lld,\"unapplied\":3}", NOW_MS - 1000);
    assert_int_equal(rules_source_drained(status, NOW_MS), 0);
    /* a reader that does not count (an older version) is not known to be drained */
    snprintf(status, sizeof status, "{\"state\":\"streaming\",\"updated_ms\":%lld}",
             NOW_MS - 1000);
    assert_int_equal(rules_source_drained(status, NOW_MS), 0);
    snprintf(status, sizeof status,
             "{\"state\":\"streaming\",\"updated_ms\":%lld,\"unapplied\":\"0\"}", NOW_MS - 1000);
    assert_int_equal(rules_source_drained(status, NOW_MS), 0);
}

static void test_old_status_is_not_drained(void **state)
{
    (void)state;
    char status[256];
    snprintf(status, sizeof status,
             "{\"state\":\"streaming\",\"updated_ms\":%lld,\"unapplied\":0}", NOW_MS - 5001);
    assert_int_equal(rules_source_drained(status, NOW_MS), 0);
    assert_int_equal(rules_source_drained("{\"state\":\"streaming\",\"unapplied\":0}", NOW_MS),
                     0);
}

static void test_snapshot_or_down_is_not_drained(void **state)
{
    (void)state;
    static const char *const states[] = {"snapshot", "connecting", "down", "setup"};
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
        char status[256];
        snprintf(status, sizeof status,
                 "{\"state\":\"%s\",\"updated_ms\":%lld,\"unapplied\":0}", states[i],
                 NOW_MS - 1000);
        if (rules_source_drained(status, NOW_MS) != 0) fail_msg("state %s counts as drained",
                                                                 states[i]);
    }
    assert_int_equal(rules_source_drained(NULL, NOW_MS), 0);
    assert_int_equal(rules_source_drained("", NOW_MS), 0);
    assert_int_equal(rules_source_drained("[]", NOW_MS), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_names_round_trip),
        cmocka_unit_test(test_key_round_trip),
        cmocka_unit_test(test_key_with_bar_in_sku),
        cmocka_unit_test(test_key_that_does_not_fit),
        cmocka_unit_test(test_malformed_keys),
        cmocka_unit_test_setup_teardown(test_describe_mismatch_names_the_authoritative_source,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_describe_mismatch_without_location, setup, teardown),
        cmocka_unit_test_setup_teardown(test_describe_malformed_mismatch_detail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_describe_negative_and_overcommitted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_describe_summary_is_cut_to_its_buffer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_contacts_of_a_location_else_the_rules, setup,
                                        teardown),
        cmocka_unit_test(test_no_contacts_anywhere),
        cmocka_unit_test_setup_teardown(test_never_reported_is_stale, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_not_updated_is_stale, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_streaming_for_too_long_names_the_last_error,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat_too_old_is_stale, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fresh_source_is_not_stale, setup, teardown),
        cmocka_unit_test(test_streaming_with_nothing_unapplied_is_drained),
        cmocka_unit_test(test_unapplied_events_are_not_drained),
        cmocka_unit_test(test_old_status_is_not_drained),
        cmocka_unit_test(test_snapshot_or_down_is_not_drained),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
