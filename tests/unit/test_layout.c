/* test_layout.c — the unified layer's Redis values read back as the operator commands
 * show and compare them: facts with one position for all kinds, "=" positions and
 * kinds a source does not give (positions stored compact, shown in full), location
 * rows, channel values, pickup figures waiting for delivery, and which keys are SKUs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "cli/layout.h"

static void test_fact_with_shared_positions(void **state)
{
    (void)state;
    struct layout_fact f;
    assert_int_equal(layout_fact_decode("1700000000123|61928C9008|13|=|2|=|0", &f), 0);
    assert_int_equal(f.time_ms, 1700000000123LL);
    assert_int_equal(f.present, 7);
    assert_int_equal(f.quantity[CONFIG_ON_HAND], 13);
    assert_int_equal(f.quantity[CONFIG_COMMITTED], 2);
    assert_int_equal(f.quantity[CONFIG_UNAVAILABLE], 0);
    for (int k = 0; k < CONFIG_QUANTITY_KINDS; k++)
        assert_string_equal(f.position[k], "0000000001928C9000000008");
    /* the short form of the same */
    assert_int_equal(layout_fact_decode("1700000000123|61928C9008|13|2|0", &f), 0);
    assert_int_equal(f.present, 7);
    assert_int_equal(f.quantity[CONFIG_COMMITTED], 2);
    assert_string_equal(f.position[CONFIG_UNAVAILABLE], "0000000001928C9000000008");
}

static void test_fact_with_a_kind_not_given(void **state)
{
    (void)state;
    struct layout_fact f;
    /* on_hand and committed at positions of their own, no unavailable */
    assert_int_equal(layout_fact_decode("5|031A1|8|021A1|-4||", &f), 0);
    assert_int_equal(f.present, 3);
    assert_int_equal(f.quantity[CONFIG_COMMITTED], -4);
    assert_string_equal(f.position[CONFIG_COMMITTED], "0000000000000002000000A1");
    assert_string_equal(f.position[CONFIG_UNAVAILABLE], "");
    assert_int_equal(layout_fact_decode("5|||021A1|7||", &f), 0);
    assert_int_equal(f.present, 2);
}

static void test_malformed_facts_are_refused(void **state)
{
    (void)state;
    struct layout_fact f;
    assert_int_equal(layout_fact_decode("", &f), -1);
    assert_int_equal(layout_fact_decode("1|00|1|=", &f), -1);           /* too few parts */
    assert_int_equal(layout_fact_decode("1|A|1|2|3", &f), -1);          /* not a position */
    assert_int_equal(layout_fact_decode("1|0000000000000002000000A1|1|2|3", &f), -1); /* v2 */
    assert_int_equal(layout_fact_decode("1|=|1|=|2|=|3", &f), -1);      /* "=" first */
    assert_int_equal(layout_fact_decode("1|A|x|=|2|=|3", &f), -1);      /* not a number */
    assert_int_equal(layout_fact_decode("1|A|1|=|2|=|3|4", &f), -1);    /* too many */
    assert_int_equal(layout_fact_decode("1|A||=|2|=|3", &f), -1);       /* position, no value */
}

static void test_rows_and_channels(void **state)
{
    (void)state;
    struct layout_row r;
    assert_int_equal(layout_row_decode("13|40|0|0|4", &r), 0);
    assert_int_equal(r.on_hand, 13);
    assert_int_equal(r.committed, 40);
    assert_int_equal(r.flags, LAYOUT_FLAG_OVERCOMMITTED);
    assert_int_equal(layout_row_decode("13|4|0|9", &r), 0); /* no rule broken */
    assert_int_equal(r.available, 9);
    assert_int_equal(r.flags, 0);
    assert_int_equal(layout_row_decode("13|40|0", &r), -1);
    assert_int_equal(layout_row_decode("13|40|0|0|0", &r), -1); /* flags only when some */
    struct layout_channel c;
    assert_int_equal(layout_channel_decode("24|21|7", &c), 0);
    assert_int_equal(c.sum, 24);
    assert_int_equal(c.available, 21);
    assert_int_equal(c.version, 7);
    assert_int_equal(layout_channel_decode("24|21", &c), -1);
    assert_int_equal(layout_pickup_decode("21|9", &c), 0);
    assert_int_equal(c.available, 21);
    assert_int_equal(c.version, 9);
    assert_int_equal(layout_pickup_decode("24|21|7", &c), -1);
    assert_string_equal(layout_flag_name(LAYOUT_FLAG_NEGATIVE), "negative_stock");
    assert_string_equal(layout_flag_text(LAYOUT_FLAG_OVERCOMMITTED), "committed above on hand");
    assert_null(layout_flag_text(8));
}

static void test_fields_and_keys(void **state)
{
    (void)state;
    char loc[16], src[16], sku[16];
    assert_int_equal(layout_split_field("S12|erp", loc, sizeof loc, src, sizeof src), 1);
    assert_string_equal(loc, "S12");
    assert_string_equal(src, "erp");
    assert_int_equal(layout_split_field("S12", loc, sizeof loc, src, sizeof src), 0);
    assert_string_equal(src, "");
    assert_int_equal(layout_split_field("a-very-long-location|x", loc, 8, src, sizeof src), -1);

    assert_int_equal(layout_sku_of_key("sm:{SKU-1}", 10, sku, sizeof sku), 0);
    assert_string_equal(sku, "SKU-1");
    assert_int_equal(layout_sku_of_key("sm:{SKU-1}:c", 12, sku, sizeof sku), -1);
    assert_int_equal(layout_sku_of_key("sm:{xw:items}", 13, sku, sizeof sku), -1);
    assert_int_equal(layout_sku_of_key("sm:{xw:items}:pending", 21, sku, sizeof sku), -1);
    assert_int_equal(layout_sku_of_key("sm:{}", 5, sku, sizeof sku), -1);
    assert_int_equal(layout_sku_of_key("stockmesh:suspects", 18, sku, sizeof sku), -1);
    assert_int_equal(layout_sku_of_key("sm:{0123456789ABCDEF}", 21, sku, sizeof sku), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fact_with_shared_positions),
        cmocka_unit_test(test_fact_with_a_kind_not_given),
        cmocka_unit_test(test_malformed_facts_are_refused),
        cmocka_unit_test(test_rows_and_channels),
        cmocka_unit_test(test_fields_and_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
