/* sqlvalue.h -- exact JSON from the text of a source database's values.
 *
 * The rules both readers apply to what PostgreSQL (pgoutput, libpq) and MariaDB
 * (the binlog connector) print, so that a value means the same in an event whatever
 * its source:
 *   - text is strict UTF-8, as jansson accepts it;
 *   - an integer is "[-]digits" within int64;
 *   - an exact decimal (numeric, DECIMAL) becomes an integer without a point, a real
 *     when a double holds it exactly at 15 significant digits, else a string of its
 *     text; a number inside a JSON document that neither int64 nor that rule holds
 *     exactly becomes a string too.
 * "Exactly at 15 significant digits" is what documents dumped with
 * JSON_REAL_PRECISION(15) (PGOUTPUT_JSON_DUMP_FLAGS, BINLOG_JSON_DUMP_FLAGS) print:
 * 19.99 stays 19.99. Pure functions; strtod() and snprintf() want LC_NUMERIC "C".
 */
#ifndef STOCKMESH_SQLVALUE_H
#define STOCKMESH_SQLVALUE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Significant digits any decimal keeps through a double and back (DBL_DIG); the
 * dump flags print reals with as many. */
#define SQLVALUE_EXACT_DIGITS 15

/* 1 when the len bytes at s are strict UTF-8 (no overlong forms, surrogates, code
 * points above U+10FFFF or truncated sequences; NUL bytes pass), else 0. */
int sqlvalue_utf8_valid(const char *s, size_t len);

/* Parses "[-]digits" within int64 (no '+', blanks or empty digits) into *out;
 * -1 for anything else, *out untouched. */
int sqlvalue_parse_int64(const char *s, size_t len, int64_t *out);

/* Maps decimal text "[-]int[.frac]", int or frac possibly empty (MariaDB writes
 * "-.50"), to a new JSON value in *out (the caller owns it): without a point an
 * integer within int64; with one a real when it has at most 15 significant digits
 * that a double holds exactly (zero is 0.0); else a string of the text, with a "0"
 * before a bare point ("-.5..." -> "-0.5..."). Returns 0 (with *out NULL when out of
 * memory), or -1 with *out NULL when s is not such text (NaN, Infinity, exponents). */
int sqlvalue_decimal_json(const char *s, size_t len, json_t **out);

/* Parses JSON text (JSON_DECODE_ANY, NULs allowed in strings) into a new value the
 * caller owns; a number that int64 or sqlvalue_decimal_json()'s 15-digit rule cannot
 * hold exactly (20-digit integers, 1e400, 0.1234567890123456789) becomes a string of
 * its text instead of failing ("too big integer") or changing silently. NULL with
 * err set when the text is no JSON or memory runs out. */
json_t *sqlvalue_json_load(const char *s, size_t len, json_error_t *err);

#endif
