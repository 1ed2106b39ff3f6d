/* mysqltext.c — see mysqltext.h. */
#include "mysqltext.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A DECIMAL as the binlog mapping gives it: an integer when whole and within int64, a
 * JSON number when 15 significant digits hold it exactly, else its text. */
static json_t *decimal_json(const char *text)
{
    int digits = 0, fraction = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '.') fraction = 1;
        else if (*p >= '0' && *p <= '9' && (digits || *p != '0' || fraction)) digits++;
    }
    if (!fraction) {
        char *end;
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (!errno && !*end) return json_integer(v);
        return json_string(text);
    }
    if (digits <= 15) return json_real(strtod(text, NULL));
    return json_string(text);
}

static json_t *base64_json(const unsigned char *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        *o++ = tab[v >> 18 & 63];
        *o++ = tab[v >> 12 & 63];
        *o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *o = 0;
    json_t *j = json_string(out);
    free(out);
    return j;
}

/* "2026-11-24 10:00:00.5" -> "2026-11-24T10:00:00.5" (+ "Z" for TIMESTAMP, read in a
 * UTC session); zero dates -> null, as the binlog mapping does. */
static json_t *datetime_json(const char *text, int utc)
{
    if (strncmp(text, "0000-00-00", 10) == 0 || strncmp(text + 4, "-00", 3) == 0 ||
        (strlen(text) >= 10 && strncmp(text + 7, "-00", 3) == 0))
        return json_null();
    char out[64];
    snprintf(out, sizeof out, "%.40s%s", text, utc ? "Z" : "");
    char *space = strchr(out, ' ');
    if (space) *space = 'T';
    return json_string(out);
}

json_t *mysqltext_value(const MYSQL_FIELD *f, const char *v, unsigned long len)
{
    if (!v) return json_null();
    switch (f->type) {
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_LONGLONG:
    case MYSQL_TYPE_YEAR: {
        char *end;
        errno = 0;
        if (f->flags & UNSIGNED_FLAG) {
            unsigned long long u = strtoull(v, &end, 10);
            if (!errno && u <= INT64_MAX) return json_integer((json_int_t)u);
            return json_string(v);
        }
        return json_integer(strtoll(v, &end, 10));
    }
    case MYSQL_TYPE_DECIMAL:
    case MYSQL_TYPE_NEWDECIMAL:
        return decimal_json(v);
    case MYSQL_TYPE_FLOAT:
    case MYSQL_TYPE_DOUBLE: {
        /* as PostgreSQL's float8: a real, printed at 15 significant digits */
        double d = strtod(v, NULL);
        return isfinite(d) ? json_real(d) : json_string(v);
    }
    case MYSQL_TYPE_BIT: {
        uint64_t u = 0;
        for (unsigned long i = 0; i < len; i++) u = u << 8 | (unsigned char)v[i];
        return u <= INT64_MAX ? json_integer((json_int_t)u) : NULL;
    }
    case MYSQL_TYPE_DATE:
    case MYSQL_TYPE_NEWDATE:
        return datetime_json(v, 0);
    case MYSQL_TYPE_DATETIME:
        return datetime_json(v, 0);
    case MYSQL_TYPE_TIMESTAMP:
        return datetime_json(v, 1);
    case MYSQL_TYPE_TIME:
        return json_stringn(v, len);
    default:
        break;
    }
    if (f->flags & SET_FLAG) {
        json_t *a = json_array();
        const char *p = v;
        while (a && *p) {
            const char *comma = strchr(p, ',');
            size_t n = comma ? (size_t)(comma - p) : strlen(p);
            json_array_append_new(a, json_stringn(p, n));
            p += n + (comma ? 1 : 0);
        }
        return a;
    }
    int stringish = f->type == MYSQL_TYPE_STRING || f->type == MYSQL_TYPE_VAR_STRING ||
                    f->type == MYSQL_TYPE_VARCHAR || f->type == MYSQL_TYPE_BLOB ||
                    f->type == MYSQL_TYPE_TINY_BLOB || f->type == MYSQL_TYPE_MEDIUM_BLOB ||
                    f->type == MYSQL_TYPE_LONG_BLOB;
    if (stringish && f->charsetnr == 63) return base64_json((const unsigned char *)v, len);
    return json_stringn(v, len); /* NULL when not UTF-8 */
}

