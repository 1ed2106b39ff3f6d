/* test_timeconv.c — source timestamps become UTC milliseconds (DESIGN §3): the instant
 * an operator sees for a count taken at a store's wall-clock time, across zones,
 * daylight saving changes and the formats sources write.
 *
 * Expected instants are worked out by hand from 2024-01-01T00:00:00Z = 1704067200 s
 * (and checked against Python's datetime), never with the code under test.
 * Europe/Berlin is CET (+01:00) in winter and CEST (+02:00) from 2024-03-31 01:00Z
 * to 2024-10-27 01:00Z. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stockmesh/timeconv.h"

#define HOUR_MS 3600000LL

/* 2024-01-15T10:30:00Z: 1704067200 + 14 days + 10.5 h */
#define JAN15_1030Z 1705314600000LL
/* 2024-07-15T10:30:00Z */
#define JUL15_1030Z 1721039400000LL
/* 2024-03-31T01:00:00Z: the spring-forward instant in the EU */
#define MAR31_0100Z 1711846800000LL
/* 2024-10-27T01:00:00Z: the fall-back instant in the EU */
#define OCT27_0100Z 1729990800000LL

static struct timeconv *make(const char *zone, const char *format)
{
    char err[256] = "";
    struct timeconv *tc = timeconv_new(zone, format, err, sizeof err);
    if (!tc) fail_msg("timeconv_new(%s, %s): %s", zone ? zone : "NULL",
                      format ? format : "NULL", err);
    return tc;
}

/* text converts to want in zone/format. */
static void assert_converts(const char *zone, const char *format, const char *text, int64_t want)
{
    struct timeconv *tc = make(zone, format);
    int64_t got = 12345;
    int rc = timeconv_parse(tc, text, &got);
    timeconv_free(tc);
    if (rc != 0) fail_msg("\"%s\" (zone %s) refused", text, zone ? zone : "NULL");
    if (got != want)
        fail_msg("\"%s\" (zone %s) gave %" PRId64 ", want %" PRId64 " (off by %" PRId64 " ms)",
                 text, zone ? zone : "NULL", got, want, got - want);
}

static void assert_refused(const char *zone, const char *format, const char *text)
{
    struct timeconv *tc = make(zone, format);
    int64_t got = 0;
    int rc = timeconv_parse(tc, text, &got);
    timeconv_free(tc);
    if (rc != -1) fail_msg("\"%s\" (format %s) was read as %" PRId64, text,
                           format ? format : "iso8601", got);
}

/* ------------------------------------------------------------------ zones */

static void test_utc(void **state)
{
    (void)state;
    assert_converts("UTC", NULL, "2024-01-15T10:30:00", JAN15_1030Z);
    assert_converts("UTC", NULL, "2024-01-15 10:30:00", JAN15_1030Z); /* SQL style */
    assert_converts("UTC", "iso8601", "2024-01-15T10:30", JAN15_1030Z);
    assert_converts(NULL, NULL, "2024-01-15T10:30:00", JAN15_1030Z); /* no zone: UTC */
    assert_converts("Z", NULL, "2024-01-15T10:30:00", JAN15_1030Z);
    assert_converts("UTC", NULL, "2000-01-01T00:00:00", 946684800000LL);
    assert_converts("UTC", NULL, "1970-01-01T00:00:00", 0);
    /* the second before the epoch is a time, not the error value of timegm() */
    assert_converts("UTC", NULL, "1969-12-31T23:59:59", -1000);
}

static void test_fixed_offsets(void **state)
{
    (void)state;
    /* India: 10:30 at +05:30 is 05:00Z */
    assert_converts("+05:30", NULL, "2024-01-15T10:30:00", JAN15_1030Z - 5 * HOUR_MS - HOUR_MS / 2);
    assert_converts("+0530", NULL, "2024-01-15T10:30:00", JAN15_1030Z - 5 * HOUR_MS - HOUR_MS / 2);
    /* California in winter: 10:30 at -08:00 is 18:30Z */
    assert_converts("-0800", NULL, "2024-01-15T10:30:00", JAN15_1030Z + 8 * HOUR_MS);
    assert_converts("-08:00", NULL, "2024-01-15T10:30:00", JAN15_1030Z + 8 * HOUR_MS);
    assert_converts("+01", NULL, "2024-01-15T10:30:00", JAN15_1030Z - HOUR_MS);
    /* a fixed offset knows no summer time */
    assert_converts("+01:00", NULL, "2024-07-15T10:30:00", JUL15_1030Z - HOUR_MS);

    struct timeconv *tc = make("+05:30", NULL);
    assert_int_equal(timeconv_offset_at(tc, 0), 19800);
    assert_int_equal(timeconv_offset_at(tc, JUL15_1030Z / 1000), 19800);
    timeconv_free(tc);
    tc = make("-0800", NULL);
    assert_int_equal(timeconv_offset_at(tc, JAN15_1030Z / 1000), -28800);
    timeconv_free(tc);
}

static void test_iana_zone_winter_and_summer(void **state)
{
    (void)state;
    /* Berlin: CET in January, CEST in July */
    assert_converts("Europe/Berlin", NULL, "2024-01-15T10:30:00", JAN15_1030Z - HOUR_MS);
    assert_converts("Europe/Berlin", NULL, "2024-07-15T10:30:00", JUL15_1030Z - 2 * HOUR_MS);
    /* an IANA zone without summer time agrees with its fixed offset */
    assert_converts("Asia/Kolkata", NULL, "2024-07-15T10:30:00",
                    JUL15_1030Z - 5 * HOUR_MS - HOUR_MS / 2);
    /* New York: EST in January (-05:00), EDT in July (-04:00) */
    assert_converts("America/New_York", NULL, "2024-01-15T10:30:00", JAN15_1030Z + 5 * HOUR_MS);
    assert_converts("America/New_York", NULL, "2024-07-15T10:30:00", JUL15_1030Z + 4 * HOUR_MS);

    struct timeconv *tc = make("Europe/Berlin", NULL);
    assert_int_equal(timeconv_offset_at(tc, JAN15_1030Z / 1000), 3600);
    assert_int_equal(timeconv_offset_at(tc, JUL15_1030Z / 1000), 7200);
    /* the change happens at the transition second */
    assert_int_equal(timeconv_offset_at(tc, MAR31_0100Z / 1000 - 1), 3600);
    assert_int_equal(timeconv_offset_at(tc, MAR31_0100Z / 1000), 7200);
    assert_int_equal(timeconv_offset_at(tc, OCT27_0100Z / 1000 - 1), 7200);
    assert_int_equal(timeconv_offset_at(tc, OCT27_0100Z / 1000), 3600);
    timeconv_free(tc);
}

/* On 2024-03-31 Berlin clocks jump from 02:00 to 03:00: 02:30 never happens. The
 * documented rule reads such a time with the offset before the gap (+01:00). */
static void test_spring_forward_gap(void **state)
{
    (void)state;
    assert_converts("Europe/Berlin", NULL, "2024-03-31T01:59:59", MAR31_0100Z - 1000);
    assert_converts("Europe/Berlin", NULL, "2024-03-31T02:00:00", MAR31_0100Z);
    assert_converts("Europe/Berlin", NULL, "2024-03-31T02:30:00", MAR31_0100Z + HOUR_MS / 2);
    assert_converts("Europe/Berlin", NULL, "2024-03-31T02:59:59", MAR31_0100Z + HOUR_MS - 1000);
    /* 03:00 CEST is the same instant as the (non-existent) 02:00 CET */
    assert_converts("Europe/Berlin", NULL, "2024-03-31T03:00:00", MAR31_0100Z);
    assert_converts("Europe/Berlin", NULL, "2024-03-31T03:30:00", MAR31_0100Z + HOUR_MS / 2);
}

/* On 2024-10-27 Berlin clocks go back from 03:00 to 02:00: 02:30 happens twice, at
 * 00:30Z (CEST) and 01:30Z (CET). The documented rule takes the earlier instant. */
static void test_autumn_overlap(void **state)
{
    (void)state;
    assert_converts("Europe/Berlin", NULL, "2024-10-27T01:59:59", OCT27_0100Z - HOUR_MS - 1000);
    assert_converts("Europe/Berlin", NULL, "2024-10-27T02:00:00", OCT27_0100Z - HOUR_MS);
    assert_converts("Europe/Berlin", NULL, "2024-10-27T02:30:00", OCT27_0100Z - HOUR_MS / 2);
    assert_converts("Europe/Berlin", NULL, "2024-10-27T02:59:59", OCT27_0100Z - 1000);
    assert_converts("Europe/Berlin", NULL, "2024-10-27T03:00:00", OCT27_0100Z + HOUR_MS);
}

/* ------------------------------------------------------------------ texts */

static void test_text_with_its_own_offset_keeps_it(void **state)
{
    (void)state;
    /* whatever the source's zone, "Z" or an offset in the text decides */
    assert_converts("Europe/Berlin", NULL, "2024-07-15T10:30:00Z", JUL15_1030Z);
    assert_converts("Europe/Berlin", NULL, "2024-07-15T10:30:00+02:00", JUL15_1030Z - 2 * HOUR_MS);
    assert_converts("Europe/Berlin", NULL, "2024-07-15T10:30:00-0500", JUL15_1030Z + 5 * HOUR_MS);
    assert_converts("+05:30", NULL, "2024-07-15T10:30:00+00:00", JUL15_1030Z);
    assert_converts("UTC", NULL, "2024-07-15 10:30:00+01", JUL15_1030Z - HOUR_MS);
    /* a text inside Berlin's gap or overlap is unambiguous with its offset */
    assert_converts("Europe/Berlin", NULL, "2024-10-27T02:30:00+01:00",
                    OCT27_0100Z + HOUR_MS / 2);
    assert_converts("Europe/Berlin", NULL, "2024-10-27T02:30:00+02:00",
                    OCT27_0100Z - HOUR_MS / 2);
}

static void test_fractions_of_a_second(void **state)
{
    (void)state;
    assert_converts("UTC", NULL, "2024-01-15T10:30:00.123", JAN15_1030Z + 123);
    assert_converts("UTC", NULL, "2024-01-15T10:30:00.5", JAN15_1030Z + 500);
    assert_converts("UTC", NULL, "2024-01-15T10:30:00,25", JAN15_1030Z + 250);
    /* PostgreSQL writes microseconds: whole milliseconds are kept */
    assert_converts("UTC", NULL, "2024-01-15T10:30:00.123456", JAN15_1030Z + 123);
    assert_converts("UTC", NULL, "2024-01-15T10:30:00.999999Z", JAN15_1030Z + 999);
    assert_converts("Europe/Berlin", NULL, "2024-01-15T10:30:00.042+01:00",
                    JAN15_1030Z - HOUR_MS + 42);
    /* before the epoch the fraction still counts forward */
    assert_converts("UTC", NULL, "1969-12-31T23:59:59.250", -750);
    assert_refused("UTC", NULL, "2024-01-15T10:30:00.");
}

static void test_date_only(void **state)
{
    (void)state;
    /* midnight at the source: 2024-01-15T00:00 Berlin is 2024-01-14T23:00Z */
    assert_converts("UTC", NULL, "2024-01-15", JAN15_1030Z - 10 * HOUR_MS - HOUR_MS / 2);
    assert_converts("Europe/Berlin", NULL, "2024-01-15", 1705273200000LL);
    assert_converts("UTC", NULL, "2024-02-29", 1709164800000LL); /* a leap day */
    /* 24:00 ends a day: the next midnight */
    assert_converts("UTC", NULL, "2024-01-15T24:00:00", 1705363200000LL);
}

static void test_strptime_formats(void **state)
{
    (void)state;
    const char *de = "%d.%m.%Y %H:%M:%S";
    assert_converts("Europe/Berlin", de, "15.01.2024 10:30:00", JAN15_1030Z - HOUR_MS);
    assert_converts("Europe/Berlin", de, "15.07.2024 10:30:00", JUL15_1030Z - 2 * HOUR_MS);
    assert_converts("Europe/Berlin", de, "27.10.2024 02:30:00", OCT27_0100Z - HOUR_MS / 2);
    assert_converts("UTC", "%Y%m%d%H%M%S", "20240115103000", JAN15_1030Z);
    assert_converts("-0800", "%m/%d/%Y %I:%M %p", "01/15/2024 10:30 AM",
                    JAN15_1030Z + 8 * HOUR_MS);
    /* a format with %z: the text's offset wins over the source's zone */
    assert_converts("Europe/Berlin", "%Y-%m-%d %H:%M:%S %z", "2024-07-15 10:30:00 +0000",
                    JUL15_1030Z);
    assert_converts("UTC", "%Y-%m-%d %H:%M:%S %z", "2024-07-15 10:30:00 -0500",
                    JUL15_1030Z + 5 * HOUR_MS);

    assert_refused("Europe/Berlin", de, "2024-01-15T10:30:00"); /* ISO, not this format */
    assert_refused("Europe/Berlin", de, "15.01.2024 10:30:00 CET"); /* trailing text */
    assert_refused("Europe/Berlin", de, "15.01.2024");
    assert_refused("Europe/Berlin", de, "32.01.2024 10:30:00");
    assert_refused("Europe/Berlin", de, "15.13.2024 10:30:00");
    assert_refused("Europe/Berlin", de, "15.01.2024 25:30:00");
    /* a day its month does not have is refused, not moved into the next month */
    assert_refused("Europe/Berlin", de, "31.02.2024 10:30:00");
    assert_refused("Europe/Berlin", de, "31.04.2024 10:30:00");
    assert_refused("Europe/Berlin", de, "29.02.2023 10:30:00");
    assert_converts("UTC", de, "29.02.2024 00:00:00", 1709164800000LL);
    assert_refused("Europe/Berlin", de, "");
}

static void test_epoch_seconds_and_milliseconds(void **state)
{
    (void)state;
    assert_converts("UTC", "epoch_s", "1705314600", JAN15_1030Z);
    assert_converts("UTC", "epoch_ms", "1705314600123", JAN15_1030Z + 123);
    /* epoch numbers are UTC by definition: the source's zone does not shift them */
    assert_converts("Europe/Berlin", "epoch_s", "1705314600", JAN15_1030Z);
    assert_converts("-0800", "epoch_ms", "1705314600123", JAN15_1030Z + 123);
    assert_converts("UTC", "epoch_s", "0", 0);
    assert_converts("UTC", "epoch_s", "-86400", -86400000LL);

    static const char *const bad[] = {"", "abc", "1705314600.5", "1705314600s", "1.7e9",
                                      "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_refused("UTC", "epoch_s", bad[i]);
        assert_refused("UTC", "epoch_ms", bad[i]);
    }
    /* seconds that overflow once made milliseconds */
    assert_refused("UTC", "epoch_s", "9223372036854776");
    assert_refused("UTC", "epoch_s", "-9223372036854776");
    assert_converts("UTC", "epoch_ms", "9223372036854775807", INT64_MAX);
}

static void test_garbage_and_out_of_range_are_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "yesterday",
        "2024",
        "2024-01",
        "2024-1-15",
        "24-01-15",
        "2024/01/15",
        "2024-01-15T",
        "2024-01-15T10",
        "2024-01-15T10:3",
        "2024-01-15T10:30:0",
        "2024-01-15X10:30:00",
        "2024-01-15T10:30:00 trailing",
        "2024-01-15T10:30:00ZZ",
        "2024-01-15T10:30:00+",
        "2024-01-15T10:30:00+5",
        "2024-01-15T10:30:00+05:",
        "2024-01-15T10:30:00+05:3",
        "2024-01-15T10:30:00+19:00",
        "2024-01-15T10:30:00+05:60",
        " 2024-01-15T10:30:00",
        "2024-00-15",
        "2024-13-15",
        "2024-01-00",
        "2024-01-32",
        "2024-02-30",
        "2023-02-29",
        "2024-04-31",
        "2024-01-15T25:00:00",
        "2024-01-15T24:30:00",
        "2024-01-15T24:00:01",
        "2024-01-15T10:60:00",
        "2024-01-15T10:30:61",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_refused("UTC", NULL, bad[i]);
        assert_refused("Europe/Berlin", NULL, bad[i]);
    }
    struct timeconv *tc = make("UTC", NULL);
    int64_t ms;
    assert_int_equal(timeconv_parse(tc, NULL, &ms), -1);
    timeconv_free(tc);
}

/* ------------------------------------------------------------------ zone names */

static void assert_zone_refused(const char *zone, const char *needle)
{
    char why[256] = "";
    if (timeconv_zone_check(zone, why, sizeof why) != -1) fail_msg("zone \"%s\" accepted", zone);
    if (!strstr(why, needle)) fail_msg("zone \"%s\": \"%s\" lacks \"%s\"", zone, why, needle);
    /* and a converter is refused the same way */
    char err[256] = "";
    assert_null(timeconv_new(zone, NULL, err, sizeof err));
    assert_string_equal(err, why);
}

static void test_zone_check(void **state)
{
    (void)state;
    static const char *const good[] = {"UTC", "Z", "+05:30", "-0800", "+01", "Europe/Berlin",
                                       "America/Argentina/Buenos_Aires", "Etc/GMT+5"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char why[256] = "";
        if (timeconv_zone_check(good[i], why, sizeof why) != 0)
            fail_msg("zone \"%s\" refused: %s", good[i], why);
    }
    assert_zone_refused("Mars/Olympus_Mons", "unknown time zone \"Mars/Olympus_Mons\"");
    assert_zone_refused("Mars/Olympus_Mons", "Europe/Berlin"); /* says what would do */
    assert_zone_refused("europe/berlin", "unknown time zone"); /* names are exact */
    /* names that would read files outside the zone database */
    assert_zone_refused("../etc/passwd", "\"../etc/passwd\" is not a time zone");
    assert_zone_refused("Europe/../../../etc/passwd", "is not a time zone");
    assert_zone_refused("/etc/localtime", "\"/etc/localtime\" is not a time zone");
    assert_zone_refused("Europe/Berlin ", "is not a time zone");
    assert_zone_refused("CET;rm", "is not a time zone");
    /* an offset beyond any real zone, and a directory of the database */
    assert_zone_refused("+25:00", "is not a time zone");
    assert_zone_refused("Europe", "\"Europe\" is unreadable or not TZif");

    /* the reason is cut to the caller's buffer */
    char small[16];
    assert_int_equal(timeconv_zone_check("Mars/Olympus_Mons", small, sizeof small), -1);
    assert_int_equal(strlen(small), sizeof small - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utc),
        cmocka_unit_test(test_fixed_offsets),
        cmocka_unit_test(test_iana_zone_winter_and_summer),
        cmocka_unit_test(test_spring_forward_gap),
        cmocka_unit_test(test_autumn_overlap),
        cmocka_unit_test(test_text_with_its_own_offset_keeps_it),
        cmocka_unit_test(test_fractions_of_a_second),
        cmocka_unit_test(test_date_only),
        cmocka_unit_test(test_strptime_formats),
        cmocka_unit_test(test_epoch_seconds_and_milliseconds),
        cmocka_unit_test(test_garbage_and_out_of_range_are_refused),
        cmocka_unit_test(test_zone_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
