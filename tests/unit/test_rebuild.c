/* test_rebuild.c — the arguments `stockmesh replay` hands the rebuild function for a
 * SKU: every location with its safety stock (an item class's replacing it), authority
 * and channel fields (a pickup channel per store), the tolerances, every source, every
 * channel field with its buffer, and the cutoffs of re-read sources. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/rebuild.h"
#include "stockmesh/config.h"

static const char CONFIG_YAML[] =
    "sources:\n"
    "  - name: erp\n"
    "    type: postgres\n"
    "    dsn: host=127.0.0.1 dbname=retail\n"
    "    tables:\n"
    "      - {table: stock, sku: sku, location: loc, on_hand: qty}\n"
    "  - name: pos\n"
    "    type: postgres\n"
    "    dsn: host=127.0.0.1 dbname=pos\n"
    "    tables:\n"
    "      - {table: sales, sku: sku, location: loc, committed: qty}\n"
    "locations:\n"
    "  - {code: WH1, type: warehouse}\n"
    "  - {code: S12, type: store, tags: [ship-from-store, pickup], safety_stock: 2}\n"
    "  - {code: S14, type: store, tags: [pickup], safety_stock: 1}\n"
    "channels:\n"
    "  - {name: web, url: \"http://127.0.0.1:9/web\", secret: s, buffer: 3,\n"
    "     location_types: [warehouse], location_tags: [ship-from-store]}\n"
    "  - {name: pickup, url: \"http://127.0.0.1:9/p\", secret: s, fulfilment: pickup,\n"
    "     location_tags: [pickup]}\n"
    "authority:\n"
    "  - {location_type: warehouse, source: erp}\n"
    "  - {location_type: store, source: pos, quantities: [committed]}\n"
    "  - {location_type: store, source: erp, quantities: [on_hand, unavailable]}\n"
    "item_classes:\n"
    "  - {name: bulky, skus: [\"BULK-*\"], safety_stock: 0, tolerance: 5, tolerance_percent: 10}\n"
    "rules:\n"
    "  tolerance: 1\n";

/* The command as one line, arguments joined by spaces ('' for an empty one). */
static void joined(struct rebuild_plan *p, const char *sku, char *out, size_t len)
{
    const char **argv;
    const size_t *lens;
    int argc = rebuild_plan_command(p, sku, &argv, &lens);
    assert_true(argc > 5);
    size_t used = 0;
    for (int i = 0; i < argc; i++) {
        assert_int_equal(lens[i], strlen(argv[i]));
        used += (size_t)snprintf(out + used, len - used, "%s%s", i ? " " : "",
                                 *argv[i] ? argv[i] : "''");
    }
}

static void test_arguments_per_item_class(void **state)
{
    (void)state;
    char err[2048];
    struct config *cfg = config_load_string(CONFIG_YAML, strlen(CONFIG_YAML), "t.yaml", err, sizeof err);
    if (!cfg) fail_msg("%s", err);
    struct rebuild_cutoff cut = {.source = "erp", .below = "000000000192000000000000"};
    struct rebuild_plan *p = rebuild_plan_new(cfg, &cut, 1, err, sizeof err);
    assert_non_null(p);
    char line[2048];
    joined(p, "SKU-1", line, sizeof line);
    assert_string_equal(line,
                        "FCALL stockmesh_rebuild 2 sm:{SKU-1} sm:{SKU-1}:c "
                        "0 1 erp 6192000000 " /* resend_pickup, the cutoff compact */
                        "3 WH1 0 erp erp erp 1 web "
                        "S12 2 erp pos erp 2 web pickup@S12 "
                        "S14 1 erp pos erp 1 pickup@S14 "
                        "1 0 2 erp pos "
                        "3 web 3 pickup@S12 0 pickup@S14 0");
    /* an item class replaces the locations' safety stock and the rules' tolerances */
    joined(p, "BULK-7", line, sizeof line);
    assert_string_equal(line,
                        "FCALL stockmesh_rebuild 2 sm:{BULK-7} sm:{BULK-7}:c "
                        "0 1 erp 6192000000 "
                        "3 WH1 0 erp erp erp 1 web "
                        "S12 0 erp pos erp 2 web pickup@S12 "
                        "S14 0 erp pos erp 1 pickup@S14 "
                        "5 10 2 erp pos "
                        "3 web 3 pickup@S12 0 pickup@S14 0");
    rebuild_plan_free(p);
    /* no cutoffs: a rebuild under the configuration only */
    p = rebuild_plan_new(cfg, NULL, 0, err, sizeof err);
    assert_non_null(p);
    joined(p, "SKU-1", line, sizeof line);
    assert_non_null(strstr(line, "sm:{SKU-1}:c 0 0 3 WH1 "));
    rebuild_plan_free(p);
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arguments_per_item_class),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
