/* binlog_rows.c -- the rows of a MariaDB/MySQL row event, decoded by stockmesh. */
#include "binlog_rows.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Server limits: DECIMAL at most 65 digits, 38 after the point; 6 fraction digits. */
#define MAX_DECIMAL_PRECISION 65
#define MAX_DECIMAL_SCALE 38
#define MAX_FSP 6
#define US_PER_SECOND 1000000UL
#define DIGITS_PER_GROUP 9
#define BLOCK_SIZE ((size_t)64 << 10)

/* ---- the arena ----------------------------------------------------------------------- */

struct binlog_rows_block {
    struct binlog_rows_block *next;
    size_t size, used;
    alignas(max_align_t) unsigned char data[];
};

struct decoder {
    struct binlog_rows *out;
    const struct binlog_table *t;
    const unsigned char *p;     /* the copy of row_data */
    size_t len, pos;
    size_t budget;              /* bytes of rows, values and DECIMAL text still allowed */
    size_t row;                 /* 1-based, for messages */
    const char *image;          /* "" or " (before image)" / " (after image)" */
    char *err;
    size_t errlen;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* size zeroed bytes that live until binlog_rows_release(); NULL when out of memory. */
static void *arena_alloc(struct binlog_rows *r, size_t size)
{
    const size_t align = alignof(max_align_t);
    if (size > SIZE_MAX - align)
        return NULL;
    size = size ? (size + align - 1) / align * align : align;
    struct binlog_rows_block *b = r->blocks;
    if (!b || b->size - b->used < size) {
        size_t cap = size > BLOCK_SIZE ? size : BLOCK_SIZE;
        if (cap > SIZE_MAX - sizeof *b || !(b = malloc(sizeof *b + cap)))
            return NULL;
        b->size = cap;
        b->used = 0;
        b->next = r->blocks;
        r->blocks = b;
    }
    void *p = b->data + b->used;
    b->used += size;
    memset(p, 0, size);
    return p;
}

void binlog_rows_release(struct binlog_rows *r)
{
    struct binlog_rows_block *b = r->blocks;
    while (b) {
        struct binlog_rows_block *next = b->next;
        free(b);
        b = next;
    }
    memset(r, 0, sizeof *r);
}

/* Like arena_alloc() for decoded structures, within the event's budget; NULL with the
 * error set. */
static void *budget_alloc(struct decoder *d, size_t size)
{
    if (size > d->budget) {
        set_err(d->err, d->errlen, "row %zu%s: the event decodes to more than %zu MiB of rows",
                d->row, d->image, BINLOG_ROWS_MAX_BYTES >> 20);
        return NULL;
    }
    d->budget -= size;
    void *p = arena_alloc(d->out, size);
    if (!p)
        set_err(d->err, d->errlen, "out of memory");
    return p;
}

/* ---- reading ------------------------------------------------------------------------- */

static const char *column_name(const struct decoder *d, uint32_t i, char *buf, size_t len)
{
    if (d->t->columns[i].name)
        return d->t->columns[i].name;
    snprintf(buf, len, "#%" PRIu32, i + 1);
    return buf;
}

/* An error about column i of the current row image; always -1. */
static int column_err(struct decoder *d, uint32_t i, const char *fmt, ...)
{
    char what[200], lb[16];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    set_err(d->err, d->errlen, "row %zu%s, column %s: %s", d->row, d->image,
            column_name(d, i, lb, sizeof lb), what);
    return -1;
}

/* The next n bytes of the row data, or NULL with an error naming column i. */
static const unsigned char *take(struct decoder *d, uint32_t i, size_t n, const char *what)
{
    if (d->len - d->pos < n) {
        column_err(d, i, "%s of %zu bytes runs past the row data (%zu of %zu bytes left)", what,
                   n, d->len - d->pos, d->len);
        return NULL;
    }
    const unsigned char *s = d->p + d->pos;
    d->pos += n;
    return s;
}

static uint64_t little_endian(const unsigned char *s, unsigned n)
{
    uint64_t v = 0;
    for (unsigned k = n; k > 0; k--)
        v = (v << 8) | s[k - 1];
    return v;
}

static uint64_t big_endian(const unsigned char *s, unsigned n)
{
    uint64_t v = 0;
    for (unsigned k = 0; k < n; k++)
        v = (v << 8) | s[k];
    return v;
}

static int bit_set(const unsigned char *bitmap, uint32_t i)
{
    return (bitmap[i / 8] >> (i % 8)) & 1;
}

/* ---- values ------------------------------------------------------------------------ */

static int read_int(struct decoder *d, uint32_t i, MARIADB_RPL_VALUE *v, unsigned n)
{
    const unsigned char *s = take(d, i, n, "integer");
    if (!s)
        return -1;
    v->val.ull = little_endian(s, n);
    return 0;
}

static int read_float(struct decoder *d, uint32_t i, MARIADB_RPL_VALUE *v, unsigned n)
{
    const unsigned char *s = take(d, i, n, n == 4 ? "FLOAT" : "DOUBLE");
    if (!s)
        return -1;
    uint64_t bits = little_endian(s, n);
    if (n == 4) {
        uint32_t b32 = (uint32_t)bits;
        memcpy(&v->val.f, &b32, sizeof b32);
    } else {
        memcpy(&v->val.d, &bits, sizeof bits);
    }
    return 0;
}

static const unsigned DIG2BYTES[DIGITS_PER_GROUP + 1] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};
static const uint32_t POW10[DIGITS_PER_GROUP + 1] = {
    1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000};

/* Appends the next group of digits of a binary decimal to digits; -1 when the group
 * holds no such number. */
static int decimal_group(const unsigned char *bin, size_t *at, unsigned ndigits, char *digits,
                         size_t *nd)
{
    unsigned nbytes = DIG2BYTES[ndigits];
    uint64_t x = big_endian(bin + *at, nbytes);
    *at += nbytes;
    if (x >= POW10[ndigits])
        return -1;
    for (unsigned k = ndigits; k > 0; k--) {
        digits[*nd + k - 1] = (char)('0' + x % 10);
        x /= 10;
    }
    *nd += ndigits;
    return 0;
}

/* NEWDECIMAL: groups of 9 digits in 4 big-endian bytes, the leading and trailing
 * partial groups in fewer; the sign bit flipped, every byte inverted when negative.
 * Written as the connector's decimal2string() writes it: "19.99", "-.50", "0". */
static int read_decimal(struct decoder *d, uint32_t i, MARIADB_RPL_VALUE *v)
{
    const struct binlog_column *c = &d->t->columns[i];
    unsigned precision = c->precision, scale = c->scale;
    if (precision < 1 || precision > MAX_DECIMAL_PRECISION || scale > MAX_DECIMAL_SCALE ||
        scale > precision)
        return column_err(d, i, "DECIMAL(%u,%u) cannot be decoded", precision, scale);
    unsigned intg = precision - scale;
    size_t size = (intg / DIGITS_PER_GROUP) * 4 + DIG2BYTES[intg % DIGITS_PER_GROUP] +
                  (scale / DIGITS_PER_GROUP) * 4 + DIG2BYTES[scale % DIGITS_PER_GROUP];
    const unsigned char *s = take(d, i, size, "DECIMAL");
    if (!s)
        return -1;
    unsigned char bin[40];
    memcpy(bin, s, size);
    int neg = !(bin[0] & 0x80);
    bin[0] ^= 0x80;
    if (neg)
        for (size_t k = 0; k < size; k++)
            bin[k] ^= 0xFF;

    char digits[MAX_DECIMAL_PRECISION];
    size_t at = 0, nd = 0;
    int ok = 1;
    if (intg % DIGITS_PER_GROUP)
        ok &= decimal_group(bin, &at, intg % DIGITS_PER_GROUP, digits, &nd) == 0;
    for (unsigned g = 0; g < intg / DIGITS_PER_GROUP; g++)
        ok &= decimal_group(bin, &at, DIGITS_PER_GROUP, digits, &nd) == 0;
    for (unsigned g = 0; g < scale / DIGITS_PER_GROUP; g++)
        ok &= decimal_group(bin, &at, DIGITS_PER_GROUP, digits, &nd) == 0;
    if (scale % DIGITS_PER_GROUP)
        ok &= decimal_group(bin, &at, scale % DIGITS_PER_GROUP, digits, &nd) == 0;
    if (!ok)
        return column_err(d, i, "DECIMAL(%u,%u) bytes hold no decimal number", precision, scale);

    /* sign, integer digits without leading zeros ("0" only when there is no fraction),
     * the point and every fraction digit */
    char text[MAX_DECIMAL_PRECISION + 3];
    size_t n = 0, first = 0;
    if (neg)
        text[n++] = '-';
    while (first < intg && digits[first] == '0')
        first++;
    memcpy(text + n, digits + first, intg - first);
    n += intg - first;
    if (scale) {
        text[n++] = '.';
        memcpy(text + n, digits + intg, scale);
        n += scale;
    } else if (first == intg) {
        text[n++] = '0';
    }
    char *copy = budget_alloc(d, n + 1);
    if (!copy)
        return -1;
    memcpy(copy, text, n);
    copy[n] = '\0';
    v->val.str.str = copy;
    v->val.str.length = n;
    return 0;
}

/* The fraction of a second after TIME2/DATETIME2/TIMESTAMP2: (fsp + 1) / 2 big-endian
 * bytes counting 10^(6 - 2 * bytes) microseconds. */
static int read_fraction(struct decoder *d, uint32_t i, unsigned fsp, const char *what,
                         uint64_t *raw, unsigned *nbytes)
{
    if (fsp > MAX_FSP)
        return column_err(d, i, "%s with %u fraction digits", what, fsp);
    *nbytes = (fsp + 1) / 2;
    const unsigned char *s = take(d, i, *nbytes, what);
    if (!s)
        return -1;
    *raw = big_endian(s, *nbytes);
    return 0;
}

static unsigned long fraction_us(uint64_t raw, unsigned nbytes)
{
    static const unsigned long UNIT[4] = {0, 10000, 100, 1};
    return (unsigned long)(raw * UNIT[nbytes]);
}

static int check_us(struct decoder *d, uint32_t i, const char *what, unsigned long us)
{
    if (us >= US_PER_SECOND)
        return column_err(d, i, "%s fraction %lu is a second or more", what, us);
    return 0;
}

static int read_timestamp2(struct decoder *d, uint32_t i, MARIADB_RPL_VALUE *v)
{
    const struct binlog_column *c = &d->t->columns[i];
    const unsigned char *s = take(d, i, 4, "TIMESTAMP");
    uint64_t raw;
    unsigned nbytes;
    if (!s || read_fraction(d, i, c->fsp, "TIMESTAMP", &raw, &nbytes) < 0)
        return -1;
    v->val.ts.second = (uint32_t)big_endian(s, 4);
    unsigned long us = fraction_us(raw, nbytes);
    if (check_us(d, i, "TIMESTAMP", us) < 0)
        return -1;
    v->val.ts.second_part = (uint32_t)us;
    return 0;
}

/* DATETIME2: 40 bits big-endian, offset by 2^39: year * 13 + month (17 bits), day (5),
 * hour (5), minute (6), second (6); then the fraction. */
static int read_datetime2(struct decoder *d, uint32_t i, MARIADB_RPL_VALUE *v)
{
    const struct binlog_column *c = &d->t->columns[i];
    const unsigned char *s = take(d, i, 5, "DATETIME");
    uint64_t raw;
    unsigned nbytes;
    if (!s || read_fraction(d, i, c->fsp, "DATETIME", &raw, &nbytes) < 0)
        return -1;
    uint64_t packed = big_endian(s, 5);
    if (packed < (UINT64_C(1) << 39))
        return column_err(d, i, "negative DATETIME");
    packed -= UINT64_C(1) << 39;
    uint64_t ymd = packed >> 17, ym = ymd >> 5, hms = packed & 0x1FFFF;
    MYSQL_TIME *tm = &v->val.tm;
    tm->year = (unsigned)(ym / 13);
    tm->month = (unsigned)(ym % 13);
    tm->day = (unsigned)(ymd & 31);
    tm->hour = (unsigned)(hms >> 12);
    tm->minute = (unsigned)((hms >> 6) & 63);
    tm->second = (unsigned)(hms & 63);
    tm->second_part = fraction_us(raw, nbytes);
    tm->time_type = MYSQL_TIMESTAMP_DATETIME;
    v->field_type = MYSQL_TYPE_DATETIME;
    return check_us(d, i, "DATETIME", tm->second_part);
}

/* TIME2: hours (10 bits), minutes (6), seconds (6) and the fraction as one signed
 * number, hms * 2^24 + microseconds, stored big-endian with an offset. A negative value
 * with a one- or two-byte fraction stores its integer part rounded down and the
 * fraction counted up from it: put them back together before taking the sign off. */
static int read_time2(struct decoder *d, uint32_t i, MARIADB_RPL_VALUE *v)
{
    const struct binlog_column *c = &d->t->columns[i];
    const unsigned char *s = take(d, i, 3, "TIME");
    uint64_t raw;
    unsigned nbytes;
    if (!s || read_fraction(d, i, c->fsp, "TIME", &raw, &nbytes) < 0)
        return -1;
    int64_t intpart = (int64_t)big_endian(s, 3) - 0x800000;
    int64_t frac = (int64_t)raw, packed;
    switch (nbytes) {
    case 1:
    case 2:
        if (intpart < 0 && frac) {
            intpart++;
            frac -= nbytes == 1 ? 0x100 : 0x10000;
        }
        packed = intpart * (INT64_C(1) << 24) + frac * (nbytes == 1 ? 10000 : 100);
        break;
    case 3:
        packed = intpart * (INT64_C(1) << 24) + frac;
        break;
    default:
        packed = intpart * (INT64_C(1) << 24);
        break;
    }
    MYSQL_TIME *tm = &v->val.tm;
    tm->neg = packed < 0;
    uint64_t abs_packed = packed < 0 ? (uint64_t)-packed : (uint64_t)packed;
    uint64_t hms = abs_packed >> 24;
    tm->hour = (unsigned)((hms >> 12) & 0x3FF);
    tm->minute = (unsigned)((hms >> 6) & 63);
    tm->second = (unsigned)(hms & 63);
    tm->second_part = (unsigned long)(abs_packed & 0xFFFFFF);
    tm->time_type = MYSQL_TIMESTAMP_TIME;
    v->field_type = MYSQL_TYPE_TIME;
    return check_us(d, i, "TIME", tm->second_part);
}

/* DATE: 3 little-endian bytes, day (5 bits), month (4), year. */
static int read_date(struct decoder *d, uint32_t i, MARIADB_RPL_VALUE *v)
{
    const unsigned char *s = take(d, i, 3, "DATE");
    if (!s)
        return -1;
    uint32_t x = (uint32_t)little_endian(s, 3);
    v->val.tm.day = x & 31;
    v->val.tm.month = (x >> 5) & 15;
    v->val.tm.year = x >> 9;
    v->val.tm.time_type = MYSQL_TIMESTAMP_DATE;
    return 0;
}

/* The pre-5.6 temporal types: TIME as signed HHMMSS, DATETIME as YYYYMMDDHHMMSS,
 * TIMESTAMP as epoch seconds, all little-endian. */
static int read_old_temporal(struct decoder *d, uint32_t i, MARIADB_RPL_VALUE *v)
{
    MYSQL_TIME *tm = &v->val.tm;
    const unsigned char *s;
    switch (d->t->columns[i].type) {
    case MYSQL_TYPE_TIME: {
        if (!(s = take(d, i, 3, "TIME")))
            return -1;
        uint32_t x = (uint32_t)little_endian(s, 3);
        int32_t hhmmss = x & 0x800000 ? (int32_t)x - 0x1000000 : (int32_t)x;
        uint32_t a = hhmmss < 0 ? (uint32_t)-hhmmss : (uint32_t)hhmmss;
        tm->neg = hhmmss < 0;
        tm->hour = a / 10000;
        tm->minute = a / 100 % 100;
        tm->second = a % 100;
        tm->time_type = MYSQL_TIMESTAMP_TIME;
        return 0;
    }
    case MYSQL_TYPE_DATETIME: {
        if (!(s = take(d, i, 8, "DATETIME")))
            return -1;
        uint64_t x = little_endian(s, 8);
        uint64_t date = x / 1000000, clock = x % 1000000;
        tm->year = (unsigned)(date / 10000);  /* below 2^32: x / 10^10 */
        tm->month = (unsigned)(date / 100 % 100);
        tm->day = (unsigned)(date % 100);
        tm->hour = (unsigned)(clock / 10000);
        tm->minute = (unsigned)(clock / 100 % 100);
        tm->second = (unsigned)(clock % 100);
        tm->time_type = MYSQL_TIMESTAMP_DATETIME;
        return 0;
    }
    default: /* MYSQL_TYPE_TIMESTAMP */
        if (!(s = take(d, i, 4, "TIMESTAMP")))
            return -1;
        v->val.ts.second = (uint32_t)little_endian(s, 4);
        v->val.ts.second_part = 0;
        return 0;
    }
}

/* A length prefix of prefix_bytes little-endian bytes, then that many bytes. */
static int read_counted(struct decoder *d, uint32_t i, MARIADB_RPL_VALUE *v, unsigned prefix_bytes,
                        uint64_t max, const char *what)
{
    const unsigned char *s = take(d, i, prefix_bytes, what);
    if (!s)
        return -1;
    uint64_t len = little_endian(s, prefix_bytes);
    if (len > max)
        return column_err(d, i, "%s value of %" PRIu64 " bytes, more than the column's %" PRIu64,
                          what, len, max);
    if (len > d->len - d->pos)
        return column_err(d, i, "%s value of %" PRIu64 " bytes runs past the row data (%zu of "
                          "%zu bytes left)", what, len, d->len - d->pos, d->len);
    v->val.str.str = (char *)(d->p + d->pos);
    v->val.str.length = (size_t)len;
    d->pos += (size_t)len;
    return 0;
}

static int read_blob(struct decoder *d, uint32_t i, MARIADB_RPL_VALUE *v)
{
    static const enum enum_field_types BY_LENGTH_BYTES[5] = {
        MYSQL_TYPE_BLOB, MYSQL_TYPE_TINY_BLOB, MYSQL_TYPE_BLOB, MYSQL_TYPE_MEDIUM_BLOB,
        MYSQL_TYPE_LONG_BLOB};
    const struct binlog_column *c = &d->t->columns[i];
    if (c->length < 1 || c->length > 4)
        return column_err(d, i, "BLOB with %" PRIu32 " length bytes", c->length);
    /* the connector names a BLOB value by its length bytes */
    if (c->binlog_type == MYSQL_TYPE_BLOB)
        v->field_type = BY_LENGTH_BYTES[c->length];
    uint64_t max = c->length == 4 ? UINT32_MAX : (UINT64_C(1) << (8 * c->length)) - 1;
    return read_counted(d, i, v, c->length, max, "BLOB");
}

/* ENUM: the 1-based index, SET: the bit mask, in the column's 1 to 8 bytes. */
static int read_enum_set(struct decoder *d, uint32_t i, MARIADB_RPL_VALUE *v)
{
    const struct binlog_column *c = &d->t->columns[i];
    int is_enum = c->type == MYSQL_TYPE_ENUM;
    int ok = is_enum ? (c->length == 1 || c->length == 2)
                     : (c->length >= 1 && c->length <= 4) || c->length == 8;
    if (!ok)
        return column_err(d, i, "%s of %" PRIu32 " bytes", is_enum ? "ENUM" : "SET", c->length);
    const unsigned char *s = take(d, i, c->length, is_enum ? "ENUM" : "SET");
    if (!s)
        return -1;
    v->val.ull = little_endian(s, (unsigned)c->length);
    return 0;
}

static int read_value(struct decoder *d, uint32_t i, MARIADB_RPL_VALUE *v)
{
    const struct binlog_column *c = &d->t->columns[i];
    switch (c->type) {
    case MYSQL_TYPE_NULL:
        v->is_null = 1;
        return 0;
    case MYSQL_TYPE_TINY:
        return read_int(d, i, v, 1);
    case MYSQL_TYPE_SHORT:
        return read_int(d, i, v, 2);
    case MYSQL_TYPE_INT24:
        return read_int(d, i, v, 3);
    case MYSQL_TYPE_LONG:
        return read_int(d, i, v, 4);
    case MYSQL_TYPE_LONGLONG:
        return read_int(d, i, v, 8);
    case MYSQL_TYPE_YEAR:
        if (read_int(d, i, v, 1) < 0)
            return -1;
        v->val.ull += 1900;  /* as the connector gives it: YEAR 0000 arrives as 1900 */
        return 0;
    case MYSQL_TYPE_FLOAT:
        return read_float(d, i, v, 4);
    case MYSQL_TYPE_DOUBLE:
        return read_float(d, i, v, 8);
    case MYSQL_TYPE_NEWDECIMAL:
        return read_decimal(d, i, v);
    case MYSQL_TYPE_BIT: {
        if (c->length < 1 || c->length > 64)
            return column_err(d, i, "BIT(%" PRIu32 ") cannot be decoded", c->length);
        size_t n = (c->length + 7) / 8;
        const unsigned char *s = take(d, i, n, "BIT");
        if (!s)
            return -1;
        v->val.str.str = (char *)s;
        v->val.str.length = n;
        return 0;
    }
    case MYSQL_TYPE_DATE:
    case MYSQL_TYPE_NEWDATE:
        return read_date(d, i, v);
    case MYSQL_TYPE_TIMESTAMP2:
        return read_timestamp2(d, i, v);
    case MYSQL_TYPE_DATETIME2:
        return read_datetime2(d, i, v);
    case MYSQL_TYPE_TIME2:
        return read_time2(d, i, v);
    case MYSQL_TYPE_TIME:
    case MYSQL_TYPE_DATETIME:
    case MYSQL_TYPE_TIMESTAMP:
        return read_old_temporal(d, i, v);
    case MYSQL_TYPE_STRING:
        /* CHAR and BINARY: trailing pad stripped, one length byte, two when the column
         * holds more than 255 bytes (CHAR(64) and up in utf8mb4) */
        return read_counted(d, i, v, c->length > 255 ? 2 : 1, c->length, "CHAR");
    case MYSQL_TYPE_VARCHAR:
    case MYSQL_TYPE_VAR_STRING:
        return read_counted(d, i, v, c->length > 255 ? 2 : 1, c->length, "VARCHAR");
    case MYSQL_TYPE_ENUM:
    case MYSQL_TYPE_SET:
        return read_enum_set(d, i, v);
    case MYSQL_TYPE_TINY_BLOB:
    case MYSQL_TYPE_MEDIUM_BLOB:
    case MYSQL_TYPE_LONG_BLOB:
    case MYSQL_TYPE_BLOB:
    case MYSQL_TYPE_JSON:
    case MYSQL_TYPE_GEOMETRY:
        return read_blob(d, i, v);
    default:
        return column_err(d, i, "values of binlog type %u cannot be decoded", c->type);
    }
}

/* ---- rows -------------------------------------------------------------------------- */

/* One row image: a NULL bit per column present in bitmap, then the non-NULL values. */
static int read_image(struct decoder *d, const unsigned char *bitmap, uint32_t npresent,
                      MARIADB_RPL_ROW **tail)
{
    const struct binlog_table *t = d->t;
    MARIADB_RPL_ROW *row = budget_alloc(d, sizeof *row);
    MARIADB_RPL_VALUE *values = row ? budget_alloc(d, (size_t)t->ncolumns * sizeof *values) : NULL;
    if (!values)
        return -1;
    row->column_count = t->ncolumns;
    row->columns = values;

    size_t nullbytes = ((size_t)npresent + 7) / 8;
    if (d->len - d->pos < nullbytes) {
        set_err(d->err, d->errlen, "row %zu%s: NULL bitmap of %zu bytes runs past the row data "
                "(%zu of %zu bytes left)", d->row, d->image, nullbytes, d->len - d->pos, d->len);
        return -1;
    }
    const unsigned char *nulls = d->p + d->pos;
    d->pos += nullbytes;

    uint32_t k = 0;
    for (uint32_t i = 0; i < t->ncolumns; i++) {
        const struct binlog_column *c = &t->columns[i];
        MARIADB_RPL_VALUE *v = &values[i];
        if (!bit_set(bitmap, i)) {
            v->field_type = MYSQL_TYPE_NULL;
            v->is_null = 1;
            continue;
        }
        /* ENUM and SET values are named by their real type, NULL ones too */
        int enum_or_set = c->type == MYSQL_TYPE_ENUM || c->type == MYSQL_TYPE_SET;
        v->field_type = (enum enum_field_types)(enum_or_set ? c->type : c->binlog_type);
        if (bit_set(nulls, k++)) {
            v->is_null = 1;
            continue;
        }
        if (read_value(d, i, v) < 0)
            return -1;
    }
    row->next = NULL;
    *tail = row;
    d->out->nimages++;
    return 0;
}

static uint32_t count_present(const unsigned char *bitmap, uint32_t ncolumns)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < ncolumns; i++)
        n += (uint32_t)bit_set(bitmap, i);
    return n;
}

int binlog_rows_init(struct binlog_rows *r, const struct binlog_table *t,
                     const struct st_mariadb_rpl_rows_event *ev, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    if (!t || !t->columns || t->ncolumns == 0) {
        set_err(err, errlen, "no table map for the rows event");
        return -1;
    }
    if (!ev) {
        set_err(err, errlen, "no rows event");
        return -1;
    }
    if (ev->table_id != t->table_id) {
        set_err(err, errlen, "rows event of table id %" PRIu64 " with the table map of %s.%s "
                "(table id %" PRIu64 ")", ev->table_id, t->database, t->name, t->table_id);
        return -1;
    }
    if (ev->type != WRITE_ROWS && ev->type != UPDATE_ROWS && ev->type != DELETE_ROWS) {
        set_err(err, errlen, "rows event of unknown type %d", (int)ev->type);
        return -1;
    }
    if (ev->column_count != t->ncolumns) {
        set_err(err, errlen, "rows event has %" PRIu32 " columns, table %s.%s has %" PRIu32,
                ev->column_count, t->database, t->name, t->ncolumns);
        return -1;
    }
    if (!ev->column_bitmap) {
        set_err(err, errlen, "rows event without its column bitmap");
        return -1;
    }
    if (ev->row_data_size > 0 && !ev->row_data) {
        set_err(err, errlen, "rows event of %zu bytes without data", ev->row_data_size);
        return -1;
    }
    if (ev->row_data_size == 0)
        return 0;

    struct decoder d = {.out = r, .t = t, .len = ev->row_data_size, .budget = BINLOG_ROWS_MAX_BYTES,
                        .image = "", .err = err, .errlen = errlen};
    unsigned char *copy = arena_alloc(r, ev->row_data_size);
    if (!copy) {
        set_err(err, errlen, "out of memory");
        goto fail;
    }
    memcpy(copy, ev->row_data, ev->row_data_size);
    d.p = copy;

    const unsigned char *before = ev->column_bitmap, *after = NULL;
    int is_update = ev->type == UPDATE_ROWS;
    if (is_update) {
        after = ev->column_update_bitmap;
        if (!after) {
            /* a v2 UPDATE: the connector leaves the after-image bitmap in row_data */
            size_t len = ((size_t)t->ncolumns + 7) / 8;
            if (d.len < len) {
                set_err(err, errlen, "UPDATE rows event of %zu bytes is too short for its "
                        "%zu-byte after-image column bitmap", d.len, len);
                goto fail;
            }
            after = copy;
            d.pos = len;
        }
    }
    uint32_t nbefore = count_present(before, t->ncolumns);
    uint32_t nafter = after ? count_present(after, t->ncolumns) : 0;
    /* an image without columns takes no bytes: the event would never end */
    if (nbefore == 0 || (after && nafter == 0)) {
        set_err(err, errlen, "rows event whose %s image has no columns",
                nbefore == 0 ? (is_update ? "before" : "row") : "after");
        goto fail;
    }
    for (uint32_t i = 0; i < t->ncolumns; i++)
        r->nabsent += (uint32_t)(!bit_set(before, i) || (after && !bit_set(after, i)));

    MARIADB_RPL_ROW **tail = &r->first;
    while (d.pos < d.len) {
        d.row++;
        d.image = is_update ? " (before image)" : "";
        if (read_image(&d, before, nbefore, tail) < 0)
            goto fail;
        tail = &(*tail)->next;
        if (!is_update)
            continue;
        d.image = " (after image)";
        if (read_image(&d, after, nafter, tail) < 0)
            goto fail;
        tail = &(*tail)->next;
    }
    return 0;
fail:
    binlog_rows_release(r);
    return -1;
}
