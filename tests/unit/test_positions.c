/* test_positions.c — where a source stands, as the commands read it (a reader's
 * confirmed_position, a database's current position) and as Redis orders positions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "cli/positions.h"
#include "stockmesh/event.h"

static void test_postgres_lsn(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(positions_parse(CONFIG_SOURCE_POSTGRES, "16/B374D848", &v), 0);
    assert_true(v == ((uint64_t)0x16 << 32 | 0xB374D848u));
    assert_int_equal(positions_parse(CONFIG_SOURCE_POSTGRES, "0/1928d98", &v), 0);
    assert_true(v == 0x1928D98u);
    assert_int_equal(positions_parse(CONFIG_SOURCE_POSTGRES, "16B374D848", &v), -1);
    assert_int_equal(positions_parse(CONFIG_SOURCE_POSTGRES, "16/", &v), -1);
    assert_int_equal(positions_parse(CONFIG_SOURCE_POSTGRES, "/1", &v), -1);
    assert_int_equal(positions_parse(CONFIG_SOURCE_POSTGRES, "1/G", &v), -1);
    assert_int_equal(positions_parse(CONFIG_SOURCE_POSTGRES, "123456789/1", &v), -1);
    assert_int_equal(positions_parse(CONFIG_SOURCE_POSTGRES, NULL, &v), -1);
}

static void test_mariadb_gtid(void **state)
{
    (void)state;
    uint64_t v = 99;
    assert_int_equal(positions_parse(CONFIG_SOURCE_MARIADB, "0-1-42", &v), 0);
    assert_true(v == 42);
    assert_int_equal(positions_parse(CONFIG_SOURCE_MARIADB, "0-1-42,1-2-7", &v), 0);
    assert_true(v == 42);
    assert_int_equal(positions_parse(CONFIG_SOURCE_MARIADB, "", &v), 0); /* nothing yet */
    assert_true(v == 0);
    assert_int_equal(positions_parse(CONFIG_SOURCE_MARIADB, "0-1", &v), -1);
    assert_int_equal(positions_parse(CONFIG_SOURCE_MARIADB, "0-1-x", &v), -1);
    assert_int_equal(positions_parse(CONFIG_SOURCE_MARIADB, "a-1-2", &v), -1);
}

static void test_positions_sort_as_the_readers_write_them(void **state)
{
    (void)state;
    char a[EVENT_POSITION_LEN + 1], b[EVENT_POSITION_LEN + 1];
    positions_format((uint64_t)0x16 << 32 | 0xB374D848u, 0, a);
    assert_string_equal(a, "00000016B374D84800000000");
    event_position_pg(b, (uint64_t)0x16 << 32 | 0xB374D848u, 3);
    assert_true(strcmp(a, b) < 0); /* a cutoff at index 0 sorts before the transaction */
    char text[64];
    positions_describe(CONFIG_SOURCE_POSTGRES, (uint64_t)0x16 << 32 | 0xB374D848u, text, sizeof text);
    assert_string_equal(text, "16/B374D848");
    positions_describe(CONFIG_SOURCE_MARIADB, 42, text, sizeof text);
    assert_string_equal(text, "GTID seq 42");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_postgres_lsn),
        cmocka_unit_test(test_mariadb_gtid),
        cmocka_unit_test(test_positions_sort_as_the_readers_write_them),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
