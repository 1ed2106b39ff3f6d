/* binlog.h -- MariaDB row-based binlog: row values to JSON, table shape, GTID positions.
 *
 * Pure functions over what MariaDB Connector/C 3.3 hands the binlog reader: no
 * sockets, no MYSQL handle, no I/O.
 *
 * A TABLE_MAP event is parsed once into a struct binlog_table (which copies what it
 * needs: the event may be freed afterwards); every row of that table is then mapped
 * with binlog_row_to_json(). Safe on hostile input: every length in the table map is
 * checked against the bytes present, and no allocation is sized by a count beyond
 * what those bytes can hold. The one field the connector gives without a length is
 * signed_indicator: it must hold one bit per numeric column (the connector points it
 * into the event, where the server wrote exactly that many bytes), or be NULL.
 *
 * Server settings this module assumes (PLATFORM-NOTES): binlog_format=ROW,
 * binlog_row_image=FULL (a row must carry every column), binlog_row_metadata=FULL
 * (column names, ENUM/SET labels, charsets and the primary key come with the table
 * map; without them give names with binlog_table_set_names() and keys by name).
 *
 * What the values look like -- as mariadb_rpl_extract_rows() of Connector/C 3.3.20
 * fills MARIADB_RPL_VALUE (read in libmariadb/mariadb_rpl.c and checked against a
 * MariaDB 10.11 server); hand-made values must look the same:
 *   - integers (TINY, SHORT, INT24, LONG, LONGLONG): val.ull holds the column's bytes
 *     zero-extended (TINYINT -1 arrives as 255; val.ll is the same bits) and
 *     is_signed is never set: the sign comes from the table map's signedness.
 *   - YEAR: val.ull is the stored byte + 1900, so YEAR 0000 arrives as 1900.
 *   - NEWDECIMAL: val.str is decimal2string() text, without a leading zero: "19.99",
 *     "-.50", ".0000000001", "0".
 *   - FLOAT: val.f (not val.d); DOUBLE: val.d.
 *   - BIT: val.str is the column's (bits + 7) / 8 bytes, big-endian.
 *   - DATE: val.tm; DATETIME2 arrives as field_type DATETIME with val.tm (second_part
 *     in microseconds); TIMESTAMP/TIMESTAMP2: val.ts (UTC epoch seconds, microseconds).
 *   - TIME2 arrives as field_type TIME with val.tm, but a negative value with a
 *     fraction keeps the on-disk encoding (-00:00:01.5 arrives as neg, 00:00:02,
 *     second_part 2060000 for TIME(1)); this module undoes that. Such values are
 *     recognised by second_part >= 1000000, which no correct value has, so a fixed
 *     connector keeps working.
 *   - strings and blobs: val.str, raw bytes in the column's charset; an empty value
 *     has val.str.length 0 and may have val.str.str NULL. BLOB-family columns arrive
 *     as TINY_/MEDIUM_/LONG_BLOB by their length bytes.
 *   - ENUM and SET columns are logged as STRING with the real type in the metadata;
 *     their values carry field_type ENUM / SET, and by the connector's source val.ull
 *     is the 1-based ENUM index (0 = the '' error value) or the SET bit mask.
 *   Connector/C 3.3.20 cannot extract rows with a CHAR/BINARY column or a non-NULL
 *   ENUM or SET value: it reads their length from the next column's metadata and
 *   fails the whole event ("Malformed row data packet stream"). The reader has to
 *   decode such rows another way; this module takes CHAR values as val.str holding
 *   the logged bytes without their length prefix, ENUM/SET as above.
 *
 * Text must be valid UTF-8 (use utf8mb4/utf8mb3 or ascii columns); binary columns
 * (charset 63: BINARY, VARBINARY, BLOB) become base64 strings. JSON columns cannot be
 * told from LONGTEXT in the binlog: mark them with binlog_table_set_kind(). Charsets
 * come from the map's COLUMN_CHARSET field when the server sends that form; when it
 * sends DEFAULT_CHARSET the connector keeps only its first byte (the default
 * collation if below 251, else a length prefix: unknown) and drops the per-column
 * exceptions, so a binary column in an otherwise text table reads as text until it
 * is marked BINLOG_KIND_BYTES.
 */
#ifndef STOCKMESH_BINLOG_H
#define STOCKMESH_BINLOG_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <mysql.h>  /* before mariadb_rpl.h, which needs its types */
#include <mariadb_rpl.h>

#include "schema.h"

/* json_dumps() flags for documents holding values from binlog_row_to_json(): reals
 * are exact at 15 significant digits (decimal 19.99 prints as 19.99). The same as
 * PGOUTPUT_JSON_DUMP_FLAGS. */
#define BINLOG_JSON_DUMP_FLAGS JSON_REAL_PRECISION(15)

/* Bytes for one formatted GTID, NUL included ("4294967295-4294967295-" + 20 digits). */
#define BINLOG_GTID_BUFLEN 43

/* How a string column's bytes become JSON (binlog_table_set_kind()). */
enum binlog_kind {
    BINLOG_KIND_TEXT,   /* UTF-8 string */
    BINLOG_KIND_BYTES,  /* base64 string */
    BINLOG_KIND_JSON,   /* the parsed document */
};

struct binlog_column {
    char *name;                 /* NULL when the table map has none */
    uint8_t binlog_type;        /* column_types[i] */
    uint8_t type;               /* real type: ENUM or SET for STRING columns holding them */
    int is_unsigned;            /* numeric columns, from the signedness metadata */
    uint32_t length;            /* VARCHAR/CHAR: max bytes; BLOB: length bytes 1-4;
                                 * ENUM/SET: value bytes; BIT: bits */
    uint8_t precision, scale;   /* NEWDECIMAL */
    uint8_t fsp;                /* TIME2/DATETIME2/TIMESTAMP2: fraction digits 0-6 */
    int collation;              /* string columns: collation id, -1 unknown, 63 binary */
    enum binlog_kind kind;      /* string columns */
    unsigned key;               /* 1-based position in the primary key, 0 if not in it */
    uint32_t nlabels;           /* ENUM/SET labels; labels NULL when the map has none */
    char **labels;
    size_t *label_lens;
};

/* A parsed TABLE_MAP. All fields are read-only for callers; everything is owned. */
struct binlog_table {
    uint64_t table_id;
    char *database;
    char *name;
    uint32_t ncolumns;
    struct binlog_column *columns;
    int has_names;              /* every column has a name */
    int has_key_metadata;       /* the map said which columns form the primary key */
    unsigned nkey;              /* columns in the primary key (0: none or unknown) */
};

/* Parses tm into t (overwritten; release with binlog_table_release()). -1 with err
 * when the map is malformed (lengths, counts, metadata sizes, an unknown column type
 * whose metadata size is unknown); t is then empty. */
int binlog_table_init(struct binlog_table *t, const struct st_mariadb_rpl_table_map_event *tm,
                      char *err, size_t errlen);

/* Frees what t owns and leaves it empty. */
void binlog_table_release(struct binlog_table *t);

/* Names the columns in order (names[0..n-1], e.g. information_schema.COLUMNS by
 * ORDINAL_POSITION) when the map carries none. -1 with err when n is not the column
 * count, a name is empty, not UTF-8 or repeated. */
int binlog_table_set_names(struct binlog_table *t, const char *const *names, size_t n,
                           char *err, size_t errlen);

/* Sets how the string column named column maps (BINLOG_KIND_JSON for MariaDB JSON
 * columns; BINLOG_KIND_BYTES/TEXT where the map's charsets are missing or lossy).
 * -1 with err when there is no such column or it is not a string column. */
int binlog_table_set_kind(struct binlog_table *t, const char *column, enum binlog_kind kind,
                          char *err, size_t errlen);

/* Maps one row image of t to a new JSON object keyed by column name (the caller owns
 * the reference). NULL -> null; otherwise by type:
 *   TINYINT..BIGINT, signed or unsigned -> integer; BIGINT UNSIGNED above INT64_MAX
 *     -> string of its decimal digits.
 *   DECIMAL -> as pgoutput maps numeric: no fraction and within int64 -> integer;
 *     with a fraction and at most 15 significant digits -> real; otherwise string
 *     ("-0.50" style, a leading zero added where the server left it out).
 *   FLOAT, DOUBLE -> real (FLOAT by its shortest decimal: 0.1 stays 0.1); NaN and
 *     +-Infinity -> string ("NaN", "Infinity", "-Infinity"); a DOUBLE prints at 15
 *     significant digits like PostgreSQL's float8 (0.1 + 0.2 -> 0.3).
 *   BIT(n) -> integer (above INT64_MAX: string of digits). YEAR -> integer (0000 -> 0).
 *   CHAR, VARCHAR, TEXT family -> string; invalid UTF-8 is an error naming the column.
 *   BINARY, VARBINARY, BLOB family (charset 63) -> base64 string (RFC 4648, padded).
 *   Columns marked BINLOG_KIND_JSON -> the parsed document; numbers in it that int64
 *     or the decimal rule cannot hold exactly become strings of their text.
 *   ENUM -> its label; index 0 (the '' error value) -> "". SET -> array of labels in
 *     definition order.
 *   DATE -> "YYYY-MM-DD"; DATETIME(p) -> "YYYY-MM-DDTHH:MM:SS[.f]" with p fraction
 *     digits; TIMESTAMP(p) -> the same in UTC with "Z". Zero dates and dates with a
 *     zero month or day ("0000-00-00", "2026-00-00", zero TIMESTAMP) -> null: they are
 *     no date a reader can parse.
 *   TIME(p) -> "[-]HH:MM:SS[.f]", hours may exceed 24 (up to 838).
 *   Other types (GEOMETRY, ...) -> error naming the column and type number.
 * Returns NULL with err when the row does not fit t (column count, value types) or a
 * value is invalid for its column, or out of memory. */
json_t *binlog_row_to_json(const struct binlog_table *t, const MARIADB_RPL_ROW *row,
                           char *err, size_t errlen);

/* Builds the message-key object of a row (the caller owns the reference): the
 * columns named in key_columns (NULL-terminated) or, when key_columns is NULL, the
 * primary key of the table map in key order. A table with full metadata and no
 * primary key gives {}. Prefix keys (PRIMARY KEY (sku(8))) give the whole value.
 * NULL with err when a key column is unknown, the map does not say the key and no
 * names were given, or a value does not map. */
json_t *binlog_row_key_json(const struct binlog_table *t, const MARIADB_RPL_ROW *row,
                            const char *const *key_columns, char *err, size_t errlen);

/* Fills out (overwritten; the caller releases it) with t's shape for schema_compare():
 *   TINYINT/SMALLINT/MEDIUMINT/INT/BIGINT -> INT 1/2/3/4/8, "int unsigned" etc.,
 *     SCHEMA_UNSIGNED; BIT(n) -> INT unsigned, bytes rounded to 1/2/3/4/8, "bit(n)".
 *   DECIMAL(p,s) -> NUMERIC p, s, "decimal(p,s)"; FLOAT/DOUBLE -> FLOAT 4/8.
 *   CHAR/VARCHAR/TEXT family -> TEXT, size = max bytes (the binlog's unit; LONGTEXT
 *     -1), CHAR padded; the type names characters where the charset is known
 *     ("varchar(64)"), else bytes ("varchar(256 bytes)").
 *   BINARY/VARBINARY/BLOB family -> OTHER ("varbinary(16)"): base64 values must not
 *     look like a compatible retype of text. JSON-marked -> JSON, "json".
 *   DATE -> DATE; DATETIME(p) -> TIMESTAMP p; TIMESTAMP(p) -> TIMESTAMPTZ p.
 *   TIME(p), YEAR, ENUM, SET and unknown types -> OTHER ("time(2)", "year", "enum",
 *     "set", "geometry", "type 242").
 * key: the columns named in key_columns (NULL-terminated) or, when NULL, the table
 * map's primary key. -1 with err when a column has no name, a key name is unknown or
 * schema_table_add() refuses a column (out is then empty). */
int binlog_table_schema(const struct binlog_table *t, const char *const *key_columns,
                        struct schema_table *out, char *err, size_t errlen);

/* ---- GTIDs -------------------------------------------------------------------- */

struct binlog_gtid {
    uint32_t domain;
    uint32_t server;
    uint64_t seq;
};

/* The latest GTID per replication domain, sorted by domain: what
 * @slave_connect_state takes. Sequence numbers order GTIDs within a domain; the
 * server id does not. */
struct binlog_gtid_pos {
    size_t n;
    struct binlog_gtid *gtids;  /* owned */
};

/* Parses one GTID "domain-server-seq" (decimal, within uint32/uint32/uint64; blanks
 * around it allowed, nothing else). -1 with err when malformed. */
int binlog_gtid_parse(struct binlog_gtid *g, const char *text, char *err, size_t errlen);

/* Writes g as "domain-server-seq" into out. */
void binlog_gtid_format(const struct binlog_gtid *g, char out[BINLOG_GTID_BUFLEN]);

/* Makes p empty (no domain seen: the binlog's beginning). */
void binlog_gtid_pos_init(struct binlog_gtid_pos *p);

/* Frees p's GTIDs and leaves it empty. */
void binlog_gtid_pos_release(struct binlog_gtid_pos *p);

/* Parses a comma-separated list ("0-1-100,1-2-7"; "" is the empty position) into p
 * (overwritten, to be released). -1 with err on a malformed GTID, an empty element
 * or two GTIDs of one domain, as the server refuses them; p is then empty. */
int binlog_gtid_pos_parse(struct binlog_gtid_pos *p, const char *text, char *err,
                          size_t errlen);

/* Records g as its domain's latest GTID (replacing the one there: binlog order is the
 * truth; check binlog_gtid_pos_covers() first to drop replays). -1 with err when out
 * of memory; p is then unchanged. */
int binlog_gtid_pos_update(struct binlog_gtid_pos *p, const struct binlog_gtid *g, char *err,
                           size_t errlen);

/* g's domain's GTID in p, or NULL. Points into p. */
const struct binlog_gtid *binlog_gtid_pos_find(const struct binlog_gtid_pos *p,
                                               uint32_t domain);

/* 1 when p already includes g (its domain is in p with a sequence number >= g's),
 * else 0. */
int binlog_gtid_pos_covers(const struct binlog_gtid_pos *p, const struct binlog_gtid *g);

/* 1 when a is at or before b in every domain (each domain of a is in b with a
 * sequence number >= a's; domains only in b do not matter), else 0. */
int binlog_gtid_pos_le(const struct binlog_gtid_pos *a, const struct binlog_gtid_pos *b);

/* Writes p as the server writes a GTID list ("0-1-100,1-2-7", domains ascending; ""
 * when empty) into out. -1 with err when outlen is too small. */
int binlog_gtid_pos_format(const struct binlog_gtid_pos *p, char *out, size_t outlen,
                           char *err, size_t errlen);

#endif
