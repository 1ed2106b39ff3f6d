/* sqlvalue.c -- exact JSON from the text of a source database's values. */
#include "sqlvalue.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Exponents beyond this are outside any double whatever the mantissa. */
#define EXPONENT_CAP 100000

int sqlvalue_utf8_valid(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;

    while (i < len) {
        unsigned char b = s[i];
        size_t n;
        uint32_t cp;

        if (b < 0x80) {
            i++;
            continue;
        } else if ((b & 0xE0) == 0xC0) {
            n = 1;
            cp = b & 0x1F;
        } else if ((b & 0xF0) == 0xE0) {
            n = 2;
            cp = b & 0x0F;
        } else if ((b & 0xF8) == 0xF0) {
            n = 3;
            cp = b & 0x07;
        } else {
            return 0;
        }
        if (len - i <= n)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += n + 1;
    }
    return 1;
}

int sqlvalue_parse_int64(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    int64_t v = 0;

    if (len > 0 && s[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i == len)
        return -1;
    for (; i < len; i++) {
        int d;

        if (s[i] < '0' || s[i] > '9')
            return -1;
        d = s[i] - '0';
        /* Accumulate negatively: INT64_MIN has no positive counterpart. */
        if (v < (INT64_MIN + d) / 10)
            return -1;
        v = v * 10 - d;
    }
    if (!neg) {
        if (v == INT64_MIN)
            return -1;
        v = -v;
    }
    *out = v;
    return 0;
}

/* Significant digits of a decimal: value = 0.<digits> * 10^exp. */
struct decimal {
    int neg;
    int has_point;
    size_t int_digits;
    size_t ndigits;         /* all significant digits; digits keeps the first 17 */
    char digits[18];
    long long exp;
};

/* Parses "[-]int[.frac][e[+-]exp]" (exponent only when allow_exp; int may be empty
 * when frac is not, and frac may be empty after the point). -1 when s is anything
 * else. Linear in len, no copies: PostgreSQL numeric text can be 100k+ digits. */
static int parse_decimal(const char *s, size_t len, int allow_exp, struct decimal *d)
{
    size_t i = 0, frac_digits = 0, digits_at, mantissa_end;
    long long e = 0, weight;
    size_t trailing_zeros = 0;
    int seen = 0;

    memset(d, 0, sizeof *d);
    if (i < len && s[i] == '-') {
        d->neg = 1;
        i++;
    }
    digits_at = i;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
        d->int_digits++;
    if (i < len && s[i] == '.') {
        d->has_point = 1;
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            frac_digits++;
    }
    if (d->int_digits + frac_digits == 0)
        return -1;
    mantissa_end = i;
    if (i < len && allow_exp && (s[i] == 'e' || s[i] == 'E')) {
        int exp_neg = 0;

        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            exp_neg = s[i++] == '-';
        if (i == len)
            return -1;
        for (; i < len; i++) {
            if (s[i] < '0' || s[i] > '9')
                return -1;
            if (e < EXPONENT_CAP)
                e = e * 10 + (s[i] - '0');
        }
        if (exp_neg)
            e = -e;
    }
    if (i != len)
        return -1;

    /* Digit k (over int then frac digits) weighs 10^(int_digits - 1 - k); the first
     * significant one at weight 10^w gives exp = w + 1. */
    weight = (long long)d->int_digits;
    for (i = digits_at; i < mantissa_end; i++) {
        if (s[i] == '.')
            continue;
        weight--;
        if (!seen && s[i] == '0')
            continue;
        if (!seen) {
            seen = 1;
            d->exp = weight + 1 + e;
        }
        if (d->ndigits < sizeof d->digits - 1)
            d->digits[d->ndigits] = s[i];
        d->ndigits++;
        trailing_zeros = s[i] == '0' ? trailing_zeros + 1 : 0;
    }
    d->ndigits -= trailing_zeros;
    if (d->ndigits < sizeof d->digits)
        d->digits[d->ndigits] = '\0';
    return 0;
}

/* Whether ax (> 0) printed with prec significant digits ("%.*e"), trailing zeros
 * dropped, has d's digits and exponent. */
static int prints_as(double ax, int prec, const struct decimal *d)
{
    char buf[48], digits[SQLVALUE_EXACT_DIGITS + 1];
    size_t n = 0;
    const char *c;

    snprintf(buf, sizeof buf, "%.*e", prec - 1, ax);
    for (c = buf; *c && *c != 'e'; c++)
        if (*c != '.')
            digits[n++] = *c;
    while (n > 1 && digits[n - 1] == '0')
        n--;
    return n == d->ndigits && memcmp(digits, d->digits, n) == 0 &&
           strtol(c + 1, NULL, 10) + 1 == d->exp;
}

/* Sets *x to d's value and returns 1 when a double holds it exactly at
 * SQLVALUE_EXACT_DIGITS significant digits (zero included); 0 otherwise. Exactly
 * means both: printed at that many digits (as the dump flags do) it is d's text, and
 * no fewer digits read back as it (a reader printing its shortest form sees d too).
 * For normal doubles DBL_DIG makes the first imply the second; below DBL_MIN fewer
 * digits survive and either can fail alone (1e-320, 4.94065645841247e-324). */
static int decimal_fits_double(const struct decimal *d, double *x)
{
    char buf[64];
    double ax;

    if (d->ndigits == 0) {
        *x = 0.0;
        return 1;
    }
    if (d->ndigits > SQLVALUE_EXACT_DIGITS)
        return 0;
    snprintf(buf, sizeof buf, "%s0.%.*se%lld", d->neg ? "-" : "", (int)d->ndigits, d->digits,
             d->exp);
    *x = strtod(buf, NULL);
    if (!isfinite(*x) || *x == 0.0)
        return 0;
    ax = fabs(*x);
    if (!prints_as(ax, SQLVALUE_EXACT_DIGITS, d))
        return 0;
    if (ax < DBL_MIN) {
        for (int prec = 1; prec < (int)d->ndigits; prec++) {
            snprintf(buf, sizeof buf, "%.*e", prec - 1, ax);
            if (strtod(buf, NULL) == ax)
                return 0;
        }
    }
    return 1;
}

/* The text as a JSON string with a "0" before its bare point: "-.5" -> "-0.5". */
static json_t *string_with_zero(const char *s, size_t len, int neg)
{
    size_t sign = neg ? 1 : 0;
    char *fixed = malloc(len + 2);
    json_t *j;

    if (!fixed)
        return NULL;
    memcpy(fixed, s, sign);
    fixed[sign] = '0';
    memcpy(fixed + sign + 1, s + sign, len - sign);
    j = json_stringn(fixed, len + 1);
    free(fixed);
    return j;
}

int sqlvalue_decimal_json(const char *s, size_t len, json_t **out)
{
    struct decimal d;
    int64_t iv;
    double x;

    *out = NULL;
    if (parse_decimal(s, len, 0, &d))
        return -1;
    /* One JSON type per column: numeric(p,0) -> integer, with a scale -> real. */
    if (!d.has_point)
        *out = sqlvalue_parse_int64(s, len, &iv) == 0 ? json_integer((json_int_t)iv)
                                                      : json_stringn(s, len);
    else if (decimal_fits_double(&d, &x))
        *out = json_real(x);
    else if (d.int_digits > 0)
        *out = json_stringn(s, len);
    else
        *out = string_with_zero(s, len, d.neg);
    return 0;
}

/* Whether jansson reads the JSON number token s exactly and prints it back
 * unchanged at 15 digits: integers within int64, other numbers under the decimal
 * rule. A token that is no number "fits": jansson reports it. */
static int json_number_fits(const char *s, size_t len)
{
    struct decimal d;
    int64_t iv;
    double x;

    if (parse_decimal(s, len, 1, &d) < 0)
        return 1;
    if (!d.has_point && !memchr(s, 'e', len) && !memchr(s, 'E', len))
        return sqlvalue_parse_int64(s, len, &iv) == 0;
    return decimal_fits_double(&d, &x);
}

json_t *sqlvalue_json_load(const char *s, size_t len, json_error_t *err)
{
    char *fixed = NULL;
    size_t i = 0, out = 0, done = 0;
    int in_string = 0;
    json_t *j;

    while (i < len) {
        char c = s[i];
        size_t start;

        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
            i++;
            continue;
        }
        if (c == '"') {
            in_string = 1;
            i++;
            continue;
        }
        if (c != '-' && (c < '0' || c > '9')) {
            i++;
            continue;
        }
        start = i;
        while (i < len && s[i] != '\0' && strchr("0123456789+-.eE", s[i]))
            i++;
        if (json_number_fits(s + start, i - start))
            continue;
        if (!fixed) {
            /* a token that does not fit has two characters or more (one digit or a
             * lone '-' always "fits"), so quoting at most doubles the text */
            if (len > (SIZE_MAX - 1) / 2 || !(fixed = malloc(len * 2 + 1))) {
                snprintf(err->text, sizeof err->text, "out of memory");
                return NULL;
            }
        }
        memcpy(fixed + out, s + done, start - done);
        out += start - done;
        fixed[out++] = '"';
        memcpy(fixed + out, s + start, i - start);
        out += i - start;
        fixed[out++] = '"';
        done = i;
    }
    if (!fixed)
        return json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, err);
    memcpy(fixed + out, s + done, len - done);
    out += len - done;
    j = json_loadb(fixed, out, JSON_DECODE_ANY | JSON_ALLOW_NUL, err);
    free(fixed);
    return j;
}
