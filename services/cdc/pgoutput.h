/* pgoutput.h -- decoder for PostgreSQL logical replication (pgoutput, protocol v1).
 *
 * Pure functions over bytes: no sockets, no libpq. The caller hands in each
 * CopyData payload it got from PQgetCopyData() during START_REPLICATION and gets
 * back a decoded frame. Safe on hostile input: every length is checked against
 * the bytes actually present, and no allocation is sized by a length field
 * beyond what the input itself carries.
 *
 * Lifetimes (zero copy):
 *   - Tuple values, strings of Begin/Origin/Type/Message and the tuple value
 *     arrays point into the caller's buffer or into the decoder's scratch
 *     space; they are valid until the next pgoutput_decode_copydata() call or
 *     until the buffer is released, whichever comes first.
 *   - A relation returned by the decoder stays valid until a Relation message
 *     with the same OID and a different shape is decoded; the replaced one
 *     stays valid until the next pgoutput_decode_copydata() call after that,
 *     then it is freed. A Relation message identical to the cached one keeps
 *     the cached pointer (PostgreSQL re-sends relations after every
 *     reconnect and cache invalidation).
 *
 * Text values arrive in the replication connection's client_encoding: put
 * client_encoding=UTF8 in the conninfo, since JSON strings must be UTF-8.
 * Float parsing uses strtod(): keep LC_NUMERIC at "C" (the default).
 */
#ifndef STOCKMESH_PGOUTPUT_H
#define STOCKMESH_PGOUTPUT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* json_dumps() flags for documents holding values from pgoutput_tuple_to_json():
 * numeric reals are exact at 15 significant digits, and jansson's default of 17
 * would print numeric 19.99 as 19.989999999999998. */
#define PGOUTPUT_JSON_DUMP_FLAGS JSON_REAL_PRECISION(15)

/* Microseconds from 1970-01-01 to 2000-01-01 (PostgreSQL's epoch). */
#define PGOUTPUT_EPOCH_OFFSET_US INT64_C(946684800000000)
#define PGOUTPUT_STANDBY_STATUS_LEN 34
#define PGOUTPUT_LSN_BUFLEN 32
/* Decoding fails beyond this many cached relations (memory bound). */
#define PGOUTPUT_MAX_RELATIONS 65536

struct pgoutput_column {
    const char *name;
    uint32_t type_oid;      /* atttypid; a domain's own OID, not its base type */
    int32_t typmod;         /* atttypmod, -1 when none */
    int is_key;             /* part of the replica identity (every column under FULL) */
};

struct pgoutput_relation {
    uint32_t oid;
    const char *schema;     /* "pg_catalog" when the wire says "" */
    const char *name;
    char replica_identity;  /* 'd' default, 'n' nothing, 'f' full, 'i' index */
    uint16_t ncols;
    const struct pgoutput_column *columns;
};

enum pgoutput_value_kind {
    PGOUTPUT_VALUE_NULL = 'n',
    PGOUTPUT_VALUE_UNCHANGED = 'u',  /* unchanged TOASTed value: not sent */
    PGOUTPUT_VALUE_TEXT = 't',
    PGOUTPUT_VALUE_BINARY = 'b',
};

struct pgoutput_value {
    char kind;              /* enum pgoutput_value_kind */
    uint32_t len;           /* bytes at data ('t' and 'b' only) */
    const char *data;       /* into the CopyData buffer; not NUL-terminated */
};

struct pgoutput_tuple {
    uint16_t ncols;         /* always the relation's ncols when decoded */
    const struct pgoutput_value *values;
};

enum pgoutput_msg_kind {
    PGOUTPUT_MSG_BEGIN = 'B',
    PGOUTPUT_MSG_COMMIT = 'C',
    PGOUTPUT_MSG_ORIGIN = 'O',
    PGOUTPUT_MSG_RELATION = 'R',
    PGOUTPUT_MSG_TYPE = 'Y',
    PGOUTPUT_MSG_INSERT = 'I',
    PGOUTPUT_MSG_UPDATE = 'U',
    PGOUTPUT_MSG_DELETE = 'D',
    PGOUTPUT_MSG_TRUNCATE = 'T',
    PGOUTPUT_MSG_MESSAGE = 'M',
};

#define PGOUTPUT_TRUNCATE_CASCADE 1
#define PGOUTPUT_TRUNCATE_RESTART_IDENTITY 2

struct pgoutput_change {        /* Insert, Update, Delete */
    const struct pgoutput_relation *relation;
    char old_kind;              /* 0 none, 'K' key columns only (others null), 'O' full row */
    struct pgoutput_tuple old_tuple;  /* Delete always has one; Update only if old_kind */
    struct pgoutput_tuple new_tuple;  /* Insert and Update; ncols 0 for Delete */
};

struct pgoutput_msg {
    char kind;                  /* enum pgoutput_msg_kind */
    union {
        struct {
            uint64_t final_lsn;
            int64_t commit_time_us;     /* Unix epoch */
            uint32_t xid;
        } begin;
        struct {
            uint8_t flags;
            uint64_t commit_lsn;
            uint64_t end_lsn;           /* confirm this one once the txn is durable */
            int64_t commit_time_us;     /* Unix epoch */
        } commit;
        struct {
            uint64_t commit_lsn;
            const char *name;
        } origin;
        const struct pgoutput_relation *relation;
        struct {
            uint32_t oid;
            const char *schema;         /* of the base type for a domain */
            const char *name;           /* base type name for a domain */
        } type;
        struct pgoutput_change change;
        struct {
            uint8_t flags;              /* PGOUTPUT_TRUNCATE_* */
            uint32_t nrelations;
            const struct pgoutput_relation *const *relations;
        } truncate;
        struct {
            int transactional;
            uint64_t lsn;
            const char *prefix;
            const char *content;        /* not NUL-terminated */
            uint32_t content_len;
        } message;
    };
};

enum pgoutput_frame_kind {
    PGOUTPUT_FRAME_XLOGDATA = 'w',
    PGOUTPUT_FRAME_KEEPALIVE = 'k',
};

struct pgoutput_frame {
    char kind;                  /* enum pgoutput_frame_kind */
    uint64_t wal_start;         /* 'w' only */
    uint64_t wal_end;
    int64_t send_time_us;       /* Unix epoch */
    int reply_requested;        /* 'k' only: answer with a standby status update now */
    struct pgoutput_msg msg;    /* 'w' only */
};

struct pgoutput_relcache;
struct pgoutput_typecache;

/* Fields other than errstr are private. */
struct pgoutput {
    char errstr[256];
    struct pgoutput_relcache *rels;
    struct pgoutput_typecache *types;
    struct pgoutput_relation *retired;  /* replaced relation, freed on next decode */
    struct pgoutput_value *values;      /* scratch for decoded tuples */
    size_t values_cap;
    const struct pgoutput_relation **truncated;  /* scratch for Truncate */
    size_t truncated_cap;
};

/* Returns a decoder with an empty relation cache, or NULL when out of memory.
 * The caller owns it and releases it with pgoutput_free(). */
struct pgoutput *pgoutput_new(void);

/* Frees the decoder and every relation it cached. NULL is allowed. */
void pgoutput_free(struct pgoutput *p);

/* Decodes one CopyData payload ('w' XLogData or 'k' keepalive) into out. For
 * 'w', decodes the pgoutput message inside and updates the relation and type
 * caches. Returns 0, or -1 with the reason in p->errstr (out is then
 * unspecified and the caches are unchanged). Pointers in out live as
 * described at the top of this file. */
int pgoutput_decode_copydata(struct pgoutput *p, const char *buf, size_t len,
                             struct pgoutput_frame *out);

/* Returns the cached relation with this OID, or NULL. Owned by the decoder. */
const struct pgoutput_relation *pgoutput_relation(const struct pgoutput *p,
                                                  uint32_t oid);

/* Converts PostgreSQL-epoch microseconds to Unix-epoch microseconds,
 * saturating at the int64 range (so +-infinity timestamps stay extreme). */
int64_t pgoutput_pg_to_unix_us(int64_t pg_us);

/* Converts Unix-epoch microseconds to PostgreSQL-epoch microseconds, saturating. */
int64_t pgoutput_unix_to_pg_us(int64_t unix_us);

/* Writes a Standby Status Update ('r') into out, which must hold
 * PGOUTPUT_STANDBY_STATUS_LEN bytes; returns that length. Send it with
 * PQputCopyData(). flushed is what the server records as confirmed_flush_lsn. */
size_t pgoutput_standby_status(char *out, uint64_t written, uint64_t flushed,
                               uint64_t applied, int64_t now_unix_us,
                               int reply_requested);

/* Maps a tuple of rel to a new JSON object keyed by column name (the caller
 * owns the reference). Streamed rows (pgoutput text) and snapshot rows (libpq
 * text, through a synthetic relation) map alike. Text values become JSON by
 * type, as PostgreSQL prints them with DateStyle=ISO, TimeZone=UTC:
 *   int2/int4/int8/oid -> integer.
 *   numeric without a scale ("12") -> integer within int64; with a scale
 *     ("12.50") -> real when it has at most 15 significant digits (exact through
 *     a double and through PGOUTPUT_JSON_DUMP_FLAGS: 19.99 stays 19.99); else
 *     string with the server's text (NaN, +-Infinity, 30 digits, over-precise).
 *   float4/float8 -> real (NaN, +-Infinity, or needing over 15 digits -> string).
 *   bool -> true/false.
 *   timestamp "2026-11-24 10:00:00.5" -> "2026-11-24T10:00:00.5" (fraction
 *     digits as the server gives them).
 *   timestamptz "2026-11-24 10:00:00.5+00" -> "2026-11-24T10:00:00.5Z"; another
 *     offset is converted to UTC ("...12:00:00+02" -> "...10:00:00Z"), or kept as
 *     "+HH:MM" when UTC would leave years 1-9999.
 *   timestamp/timestamptz that are infinity, -infinity, BC or past 9999, and
 *     anything not in the ISO shape -> string exactly as PostgreSQL printed it.
 *   uuid -> lowercase string.
 *   json/jsonb -> the parsed value; a number in it that int64 or the numeric
 *     rule above cannot hold exactly becomes a string of its text.
 *   date ("2026-11-24"; BC and infinity as printed), text, varchar, bpchar
 *     (padding kept), and anything else -> string.
 * Domains declared by a Type message map like their base type. 'n' -> null.
 * 'u' (unchanged TOAST) -> the same column of previous (the row's last known
 * image, e.g. the old tuple under REPLICA IDENTITY FULL; may be NULL) when it
 * holds a non-null value there; otherwise the column is omitted (never null,
 * never a placeholder) and counted in *unchanged_missing (may be NULL): fetch
 * the row to complete it. Returns NULL with p->errstr set on a value that does
 * not parse as its type, invalid UTF-8, or a binary-format value. */
json_t *pgoutput_tuple_to_json(struct pgoutput *p,
                               const struct pgoutput_relation *rel,
                               const struct pgoutput_tuple *t,
                               const json_t *previous,
                               size_t *unchanged_missing);

/* Builds the message-key object of a tuple (the caller owns the reference):
 * the columns named in key_columns (a NULL-terminated list) or, when
 * key_columns is NULL, the columns flagged as replica identity. Under REPLICA
 * IDENTITY FULL every column is flagged, so pass the primary key columns then.
 * An empty object means the relation has no key (REPLICA IDENTITY NOTHING).
 * 'u' values come from previous. Returns NULL with p->errstr when a key column
 * is unknown, unresolvable or does not parse. */
json_t *pgoutput_tuple_key_json(struct pgoutput *p,
                                const struct pgoutput_relation *rel,
                                const struct pgoutput_tuple *t,
                                const json_t *previous,
                                const char *const *key_columns);

/* Parses "16/B374D848" (1-8 hex digits, '/', 1-8 hex digits, nothing else).
 * Sets *ok to 1 and returns the LSN, or sets *ok to 0 and returns 0. */
uint64_t pgoutput_parse_lsn(const char *text, int *ok);

/* Writes lsn as PostgreSQL prints it ("16/B374D848") into out. */
void pgoutput_format_lsn(uint64_t lsn, char out[PGOUTPUT_LSN_BUFLEN]);

#endif
