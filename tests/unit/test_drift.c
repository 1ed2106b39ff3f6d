/* test_drift.c — what `stockmesh reconcile` calls a difference between a source's
 * snapshot and Redis: differing values, figures missing on either side, the zero a
 * delete leaves behind (no difference), and figures newer than the snapshot's point
 * (the stream is ahead: not compared). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "cli/drift.h"

#define POINT "0000000000000100" "00000000"
#define OLD "0000000000000090" "00000003"
#define NEW "0000000000000110" "00000001"

static struct layout_fact fact(long long oh, long long cm, long long un, const char *pos)
{
    struct layout_fact f = {.time_ms = 1, .present = 7, .quantity = {oh, cm, un}};
    for (int k = 0; k < CONFIG_QUANTITY_KINDS; k++) strcpy(f.position[k], pos);
    return f;
}

static void test_equal_figures_agree(void **state)
{
    (void)state;
    struct drift_expect e = {.quantity = {5, 1, 0}, .present = 7};
    struct layout_fact f = fact(5, 1, 0, OLD);
    struct drift d[3];
    assert_int_equal(drift_compare(&e, &f, POINT, d), 0);
}

static void test_a_different_value_is_reported_per_kind(void **state)
{
    (void)state;
    struct drift_expect e = {.quantity = {5, 1, 0}, .present = 7};
    struct layout_fact f = fact(999, 1, 2, OLD);
    struct drift d[3];
    assert_int_equal(drift_compare(&e, &f, POINT, d), 2);
    assert_int_equal(d[0].problem, DRIFT_VALUE);
    assert_int_equal(d[0].kind, CONFIG_ON_HAND);
    assert_int_equal(d[0].source_value, 5);
    assert_int_equal(d[0].redis_value, 999);
    assert_string_equal(d[0].redis_position, OLD);
    assert_int_equal(d[1].kind, CONFIG_UNAVAILABLE);
}

static void test_a_newer_position_is_not_compared(void **state)
{
    (void)state;
    struct drift_expect e = {.quantity = {5, 1, 0}, .present = 7};
    struct layout_fact f = fact(999, 1, 0, NEW);
    struct drift d[3];
    assert_int_equal(drift_compare(&e, &f, POINT, d), 0);
    /* the point itself is not below the point */
    f = fact(999, 1, 0, POINT);
    assert_int_equal(drift_compare(&e, &f, POINT, d), 0);
    assert_int_equal(drift_compare(NULL, &f, POINT, d), 0);
}

static void test_missing_in_redis(void **state)
{
    (void)state;
    struct drift_expect e = {.quantity = {5, 0, 0}, .present = 1 << CONFIG_ON_HAND};
    struct drift d[3];
    assert_int_equal(drift_compare(&e, NULL, POINT, d), 1);
    assert_int_equal(d[0].problem, DRIFT_NOT_IN_REDIS);
    assert_true(d[0].has_source_value);
    assert_false(d[0].has_redis_value);
    assert_string_equal(d[0].redis_position, "");
}

static void test_a_missed_delete_but_not_a_zero(void **state)
{
    (void)state;
    struct drift d[3];
    struct layout_fact f = fact(0, 0, 0, OLD); /* what a delete leaves */
    assert_int_equal(drift_compare(NULL, &f, POINT, d), 0);
    f = fact(7, 0, 0, OLD);
    assert_int_equal(drift_compare(NULL, &f, POINT, d), 1);
    assert_int_equal(d[0].problem, DRIFT_NOT_IN_SOURCE);
    assert_int_equal(d[0].redis_value, 7);
    assert_false(d[0].has_source_value);
}

static void test_ambiguous_kinds_are_left_out(void **state)
{
    (void)state;
    struct drift_expect e = {.quantity = {5, 1, 0}, .present = 7, .ambiguous = 1 << CONFIG_ON_HAND};
    struct layout_fact f = fact(999, 1, 0, OLD);
    struct drift d[3];
    assert_int_equal(drift_compare(&e, &f, POINT, d), 0);
    assert_string_equal(drift_problem_name(DRIFT_NOT_IN_SOURCE), "missing_in_source");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal_figures_agree),
        cmocka_unit_test(test_a_different_value_is_reported_per_kind),
        cmocka_unit_test(test_a_newer_position_is_not_compared),
        cmocka_unit_test(test_missing_in_redis),
        cmocka_unit_test(test_a_missed_delete_but_not_a_zero),
        cmocka_unit_test(test_ambiguous_kinds_are_left_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
