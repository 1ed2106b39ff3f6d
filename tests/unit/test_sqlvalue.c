/* test_sqlvalue.c — the value rules both CDC readers share: which bytes are UTF-8, which
 * text is an int64, and the exact JSON an event carries for a decimal (PostgreSQL
 * numeric, MariaDB DECIMAL) or for a number inside a JSON document, as dumped with
 * JSON_REAL_PRECISION(15) like every event. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlvalue.h"

#define DUMP_FLAGS (JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15))

/* ---- UTF-8 ----------------------------------------------------------------------- */

#define UTF8_OK(lit) assert_int_equal(sqlvalue_utf8_valid(lit, sizeof(lit) - 1), 1)
#define UTF8_BAD(lit) assert_int_equal(sqlvalue_utf8_valid(lit, sizeof(lit) - 1), 0)

static void test_utf8_accepts_every_length_and_the_boundaries(void **state)
{
    (void)state;
    UTF8_OK("");
    UTF8_OK("plain ascii");
    UTF8_OK("a\0b");                          /* NUL is a character; jansson keeps it */
    UTF8_OK("Gr\xc3\xb6\xc3\x9f" "e");         /* U+00F6 U+00DF */
    UTF8_OK("\xc2\x80");                       /* U+0080, smallest two-byte */
    UTF8_OK("\xdf\xbf");                       /* U+07FF */
    UTF8_OK("\xe0\xa0\x80");                   /* U+0800, smallest three-byte */
    UTF8_OK("\xe2\x82\xac");                   /* U+20AC euro */
    UTF8_OK("\xed\x9f\xbf");                   /* U+D7FF, just below the surrogates */
    UTF8_OK("\xee\x80\x80");                   /* U+E000, just above them */
    UTF8_OK("\xef\xbf\xbf");                   /* U+FFFF */
    UTF8_OK("\xf0\x90\x80\x80");               /* U+10000, smallest four-byte */
    UTF8_OK("\xf0\x9f\x98\x80");               /* U+1F600 */
    UTF8_OK("\xf4\x8f\xbf\xbf");               /* U+10FFFF, the last code point */
}

static void test_utf8_refuses_what_jansson_refuses(void **state)
{
    (void)state;
    /* overlong forms */
    UTF8_BAD("\xc0\x80");
    UTF8_BAD("\xc1\xbf");
    UTF8_BAD("\xe0\x80\x80");
    UTF8_BAD("\xe0\x9f\xbf");
    UTF8_BAD("\xf0\x80\x80\x80");
    UTF8_BAD("\xf0\x8f\xbf\xbf");
    /* surrogates */
    UTF8_BAD("\xed\xa0\x80");
    UTF8_BAD("\xed\xbf\xbf");
    /* above U+10FFFF, and lead bytes that can only start such */
    UTF8_BAD("\xf4\x90\x80\x80");
    UTF8_BAD("\xf5\x80\x80\x80");
    UTF8_BAD("\xf8\x88\x80\x80\x80");
    UTF8_BAD("\xff");
    UTF8_BAD("\xfe");
    /* truncated at the end, cut by another character, or a stray continuation */
    UTF8_BAD("\xc3");
    UTF8_BAD("ok \xe2\x82");
    UTF8_BAD("\xf0\x9f\x98");
    UTF8_BAD("\xc3(");
    UTF8_BAD("\xe2(\xac");
    UTF8_BAD("\x80");
    UTF8_BAD("a\xbf" "b");
    /* the length bounds the check: a valid prefix passes, a cut sequence does not */
    assert_int_equal(sqlvalue_utf8_valid("ab\xff", 2), 1);
    assert_int_equal(sqlvalue_utf8_valid("\xe2\x82\xac", 2), 0);
}

/* ---- int64 ----------------------------------------------------------------------- */

static void expect_int64(const char *text, int64_t want)
{
    int64_t v = 42;

    if (sqlvalue_parse_int64(text, strlen(text), &v) != 0)
        fail_msg("\"%s\" refused", text);
    if (v != want)
        fail_msg("\"%s\": got %lld, want %lld", text, (long long)v, (long long)want);
}

static void expect_not_int64(const char *text)
{
    int64_t v = 42;

    if (sqlvalue_parse_int64(text, strlen(text), &v) == 0)
        fail_msg("\"%s\" accepted as %lld", text, (long long)v);
    assert_int_equal(v, 42);    /* untouched */
}

static void test_int64_edges(void **state)
{
    int64_t v = 0;

    (void)state;
    expect_int64("0", 0);
    expect_int64("-0", 0);
    expect_int64("007", 7);
    expect_int64("-12", -12);
    expect_int64("9223372036854775807", INT64_MAX);
    expect_int64("-9223372036854775808", INT64_MIN);
    expect_int64("00000000000000000000009223372036854775807", INT64_MAX);
    expect_not_int64("9223372036854775808");
    expect_not_int64("-9223372036854775809");
    expect_not_int64("99999999999999999999");
    expect_not_int64("");
    expect_not_int64("-");
    expect_not_int64("+1");
    expect_not_int64(" 1");
    expect_not_int64("1 ");
    expect_not_int64("1.0");
    expect_not_int64("1e3");
    expect_not_int64("12a");
    expect_not_int64("--1");
    /* the text need not end after the digits: the length says where it does */
    assert_int_equal(sqlvalue_parse_int64("123abc", 3, &v), 0);
    assert_int_equal(v, 123);
}

/* ---- decimals --------------------------------------------------------------------- */

/* Maps text and compares the type and the exact text an event carries. */
static void expect_decimal_len(const char *text, size_t len, json_type type, const char *dumped)
{
    json_t *j = (json_t *)1;
    char *s;

    if (sqlvalue_decimal_json(text, len, &j) != 0)
        fail_msg("\"%.*s\" refused", (int)(len > 60 ? 60 : len), text);
    assert_non_null(j);
    s = json_dumps(j, DUMP_FLAGS);
    assert_non_null(s);
    if (json_typeof(j) != type || strcmp(s, dumped) != 0)
        fail_msg("\"%.*s\": got %s (type %d), want %s (type %d)", (int)(len > 60 ? 60 : len),
                 text, s, json_typeof(j), dumped, type);
    free(s);
    json_decref(j);
}
#define expect_decimal(text, type, dumped) expect_decimal_len(text, strlen(text), type, dumped)

static void expect_not_decimal(const char *text)
{
    json_t *j = (json_t *)1;

    if (sqlvalue_decimal_json(text, strlen(text), &j) != -1)
        fail_msg("\"%s\" accepted", text);
    assert_null(j);
}

/* A long decimal's text, returned as a JSON string with its text unchanged. */
static void expect_decimal_string(const char *text)
{
    char *want = malloc(strlen(text) + 3);

    assert_non_null(want);
    sprintf(want, "\"%s\"", text);
    expect_decimal(text, JSON_STRING, want);
    free(want);
}

/* Decimal text as the sources print it, and what an event carries for it. */
static const struct {
    const char *text;
    json_type type;
    const char *dumped;
} DECIMALS[] = {
    /* without a point: an integer within int64, else the exact text */
    {"12", JSON_INTEGER, "12"},
    {"-40", JSON_INTEGER, "-40"},
    {"0", JSON_INTEGER, "0"},
    {"-0", JSON_INTEGER, "0"},
    {"9223372036854775807", JSON_INTEGER, "9223372036854775807"},
    {"-9223372036854775808", JSON_INTEGER, "-9223372036854775808"},
    {"9223372036854775808", JSON_STRING, "\"9223372036854775808\""},
    {"-9223372036854775809", JSON_STRING, "\"-9223372036854775809\""},
    {"123456789012345678901234567890", JSON_STRING, "\"123456789012345678901234567890\""},
    /* with a point: a real when exact, even for a whole number (one type per column) */
    {"19.99", JSON_REAL, "19.99"},
    {"-19.99", JSON_REAL, "-19.99"},
    {"0.1", JSON_REAL, "0.1"},
    {"12.00", JSON_REAL, "12.0"},
    {"5.", JSON_REAL, "5.0"},
    {"0.000", JSON_REAL, "0.0"},
    {"-0.00", JSON_REAL, "0.0"},                        /* never -0.0 */
    {"0.000001234", JSON_REAL, "1.234e-6"},
    {"1.50000000000000000000000", JSON_REAL, "1.5"},    /* trailing zeros do not count */
    {"9999999999.99", JSON_REAL, "9999999999.99"},
    /* MariaDB's decimal2string() leaves out the zero before the point; a string gets
     * it back, so that it reads as a number */
    {"-.50", JSON_REAL, "-0.5"},
    {".5", JSON_REAL, "0.5"},
    {".00", JSON_REAL, "0.0"},
    {".0000000001", JSON_REAL, "1e-10"},
    {".12345678901234567890123456789", JSON_STRING, "\"0.12345678901234567890123456789\""},
    {"-.12345678901234567890123456789", JSON_STRING, "\"-0.12345678901234567890123456789\""},
    /* 15 significant digits are a real, 16 and more the exact text */
    {"12345678901234.5", JSON_REAL, "12345678901234.5"},
    {"3.14159265358979", JSON_REAL, "3.14159265358979"},
    {"0.000123456789012345", JSON_REAL, "0.000123456789012345"},
    {"3.141592653589793", JSON_STRING, "\"3.141592653589793\""},
    {"0.1234567890123456", JSON_STRING, "\"0.1234567890123456\""},
    {"1234567890123456.5", JSON_STRING, "\"1234567890123456.5\""},
    {"9007199254740993.0", JSON_STRING, "\"9007199254740993.0\""},     /* 2^53 + 1 */
    {"-1234567890123456789012345678.90", JSON_STRING, "\"-1234567890123456789012345678.90\""},
};

static void test_decimal_mapping(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof DECIMALS / sizeof DECIMALS[0]; i++)
        expect_decimal(DECIMALS[i].text, DECIMALS[i].type, DECIMALS[i].dumped);
}

static void test_decimal_beyond_a_double(void **state)
{
    char big[700];

    (void)state;
    /* 1 followed by 600 zeros, with a fraction: finite decimal, infinite double */
    big[0] = '1';
    memset(big + 1, '0', 600);
    memcpy(big + 601, ".5", 3);
    expect_decimal_string(big);
    /* 0.000...0001 with 600 zeros: underflows a double */
    memcpy(big, "0.", 2);
    memset(big + 2, '0', 600);
    memcpy(big + 602, "1", 2);
    expect_decimal_string(big);
    /* 1e-320 is subnormal: its double prints as 9.99988671826831e-321 at 15 digits */
    memcpy(big, "0.", 2);
    memset(big + 2, '0', 319);
    memcpy(big + 321, "1", 2);
    expect_decimal_string(big);
    /* a long text with few significant digits is still a number */
    memcpy(big, "0.5", 3);
    memset(big + 3, '0', 300);
    big[303] = '\0';
    expect_decimal(big, JSON_REAL, "0.5");
}

static void test_decimal_refuses_other_text(void **state)
{
    (void)state;
    expect_not_decimal("NaN");
    expect_not_decimal("Infinity");
    expect_not_decimal("-Infinity");
    expect_not_decimal("");
    expect_not_decimal("-");
    expect_not_decimal(".");
    expect_not_decimal("-.");
    expect_not_decimal("1e5");       /* neither source writes exponents in a decimal */
    expect_not_decimal("1.5E3");
    expect_not_decimal("1.2.3");
    expect_not_decimal("+1");
    expect_not_decimal(" 1");
    expect_not_decimal("1 ");
    expect_not_decimal("0x10");
    /* the length says where the text ends */
    expect_decimal_len("19.99xyz", 5, JSON_REAL, "19.99");
}

/* ---- JSON documents ----------------------------------------------------------------- */

static void expect_load(const char *text, const char *dumped)
{
    json_error_t err;
    json_t *j = sqlvalue_json_load(text, strlen(text), &err);
    char *s;

    if (!j)
        fail_msg("%s: %s", text, err.text);
    s = json_dumps(j, DUMP_FLAGS);
    assert_non_null(s);
    if (strcmp(s, dumped) != 0)
        fail_msg("%s: got %s, want %s", text, s, dumped);
    free(s);
    json_decref(j);
}

static void test_json_numbers_that_fit_stay_numbers(void **state)
{
    (void)state;
    expect_load("{\"price\": 19.99, \"qty\": -3, \"ok\": true}",
                "{\"price\":19.99,\"qty\":-3,\"ok\":true}");
    expect_load("[-9223372036854775808, 9223372036854775807]",
                "[-9223372036854775808,9223372036854775807]");
    expect_load("[2.5E+3, 1.5e-7, 0, -0.0, 1e308, 2.3e-308, 123456789012345e10]",
                "[2500.0,1.5e-7,0,-0.0,1e308,2.3e-308,1.23456789012345e24]");
    expect_load("42", "42");
    expect_load("\"a\\u0000b\"", "\"a\\u0000b\"");
}

static void test_json_numbers_that_do_not_fit_become_their_text(void **state)
{
    (void)state;
    expect_load("[9223372036854775808, -9223372036854775809, 12345678901234567890]",
                "[\"9223372036854775808\",\"-9223372036854775809\",\"12345678901234567890\"]");
    expect_load("[0.1234567890123456789, 1234567890123456e3]",
                "[\"0.1234567890123456789\",\"1234567890123456e3\"]");     /* 16+ digits */
    expect_load("[1e400, -1e400, 1e-400]", "[\"1e400\",\"-1e400\",\"1e-400\"]");
    expect_load("1e99999999999999999999", "\"1e99999999999999999999\"");
    /* subnormal: 1e-320 would print as 9.99988671826831e-321, and 4.94065645841247e-324
     * (the smallest double at 15 digits) reads back as 5e-324 */
    expect_load("[1e-320, 4.94065645841247e-324]", "[\"1e-320\",\"4.94065645841247e-324\"]");
}

static void test_json_text_in_strings_is_not_a_number(void **state)
{
    json_error_t err;

    (void)state;
    expect_load("{\"a\\\"1\": 99999999999999999999, \"b\": \"1e400 \\\\\"}",
                "{\"a\\\"1\":\"99999999999999999999\",\"b\":\"1e400 \\\\\"}");
    expect_load("{\"12345678901234567890\": [1]}", "{\"12345678901234567890\":[1]}");
    /* not JSON stays an error, with jansson's reason */
    assert_null(sqlvalue_json_load("[1-]", 4, &err));
    assert_true(err.text[0] != '\0');
    assert_null(sqlvalue_json_load("[12345678901234567890", 21, &err));
    assert_null(sqlvalue_json_load("-", 1, &err));
    assert_null(sqlvalue_json_load("", 0, &err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_accepts_every_length_and_the_boundaries),
        cmocka_unit_test(test_utf8_refuses_what_jansson_refuses),
        cmocka_unit_test(test_int64_edges),
        cmocka_unit_test(test_decimal_mapping),
        cmocka_unit_test(test_decimal_beyond_a_double),
        cmocka_unit_test(test_decimal_refuses_other_text),
        cmocka_unit_test(test_json_numbers_that_fit_stay_numbers),
        cmocka_unit_test(test_json_numbers_that_do_not_fit_become_their_text),
        cmocka_unit_test(test_json_text_in_strings_is_not_a_number),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
