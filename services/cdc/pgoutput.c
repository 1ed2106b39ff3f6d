/* pgoutput.c -- decoder for PostgreSQL logical replication (pgoutput, protocol v1).
 *
 * Wire format: PostgreSQL "Logical Replication Message Formats" and
 * "Streaming Replication Protocol" (CopyData 'w', 'k', 'r'), as written by
 * src/backend/replication/logical/proto.c. Everything is big-endian.
 */
#include "pgoutput.h"
#include "sqlvalue.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Type OIDs from pg_type.dat; hand-assigned, stable across major versions. */
enum {
    OID_BOOL = 16,
    OID_INT8 = 20,
    OID_INT2 = 21,
    OID_INT4 = 23,
    OID_OID = 26,
    OID_JSON = 114,
    OID_FLOAT4 = 700,
    OID_FLOAT8 = 701,
    OID_TIMESTAMP = 1114,
    OID_TIMESTAMPTZ = 1184,
    OID_NUMERIC = 1700,
    OID_UUID = 2950,
    OID_JSONB = 3802,
    /* FirstGenbkiObjectId: pgoutput sends a Type message for OIDs above it. */
    OID_FIRST_GENBKI = 10000,
};

/* Smallest wire size of one column in a Relation message: flags, empty name,
 * type OID, typmod. Bounds the column array before it is allocated. */
#define RELATION_COLUMN_MIN_BYTES 10
#define MAX_TYPES 65536

struct pgoutput_relcache {
    size_t cap;                 /* power of two */
    size_t count;
    struct pgoutput_relation **slots;
};

struct type_entry {
    uint32_t oid;
    uint32_t base_oid;          /* built-in OID the type maps like, 0 for "string" */
    int used;
};

struct pgoutput_typecache {
    size_t cap;
    size_t count;
    struct type_entry *slots;
};

struct reader {
    struct pgoutput *p;
    const unsigned char *buf;
    size_t len;
    size_t pos;
    const char *what;           /* message part named in errors */
};

enum json_kind {
    JK_STRING, JK_INTEGER, JK_NUMERIC, JK_FLOAT, JK_BOOL, JK_JSON,
    JK_TIMESTAMP, JK_TIMESTAMPTZ, JK_UUID,
};

#ifdef __GNUC__
__attribute__((format(printf, 2, 3)))
#endif
static void set_error(struct pgoutput *p, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(p->errstr, sizeof(p->errstr), fmt, ap);
    va_end(ap);
}

/* ---- hashing ------------------------------------------------------------- */

static size_t hash_oid(uint32_t oid, size_t cap)
{
    return (size_t)((oid * UINT32_C(2654435761)) & (cap - 1));
}

static struct pgoutput_relation **relcache_slot(const struct pgoutput_relcache *c,
                                                uint32_t oid)
{
    size_t i = hash_oid(oid, c->cap);

    while (c->slots[i] && c->slots[i]->oid != oid)
        i = (i + 1) & (c->cap - 1);
    return &c->slots[i];
}

/* Makes room for one more relation, keeping the load factor at most 1/2. */
static int relcache_reserve(struct pgoutput_relcache *c)
{
    struct pgoutput_relation **old = c->slots;
    size_t old_cap = c->cap, i;

    if ((c->count + 1) * 2 <= c->cap)
        return 0;
    c->cap = old_cap ? old_cap * 2 : 16;
    c->slots = calloc(c->cap, sizeof(*c->slots));
    if (!c->slots) {
        c->slots = old;
        c->cap = old_cap;
        return -1;
    }
    for (i = 0; i < old_cap; i++)
        if (old[i])
            *relcache_slot(c, old[i]->oid) = old[i];
    free(old);
    return 0;
}

static struct type_entry *typecache_slot(const struct pgoutput_typecache *c, uint32_t oid)
{
    size_t i = hash_oid(oid, c->cap);

    while (c->slots[i].used && c->slots[i].oid != oid)
        i = (i + 1) & (c->cap - 1);
    return &c->slots[i];
}

static int typecache_reserve(struct pgoutput_typecache *c)
{
    struct type_entry *old = c->slots;
    size_t old_cap = c->cap, i;

    if ((c->count + 1) * 2 <= c->cap)
        return 0;
    c->cap = old_cap ? old_cap * 2 : 16;
    c->slots = calloc(c->cap, sizeof(*c->slots));
    if (!c->slots) {
        c->slots = old;
        c->cap = old_cap;
        return -1;
    }
    for (i = 0; i < old_cap; i++)
        if (old[i].used)
            *typecache_slot(c, old[i].oid) = old[i];
    free(old);
    return 0;
}

/* ---- lifecycle ----------------------------------------------------------- */

struct pgoutput *pgoutput_new(void)
{
    struct pgoutput *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    p->rels = calloc(1, sizeof(*p->rels));
    p->types = calloc(1, sizeof(*p->types));
    if (!p->rels || !p->types) {
        pgoutput_free(p);
        return NULL;
    }
    return p;
}

void pgoutput_free(struct pgoutput *p)
{
    size_t i;

    if (!p)
        return;
    if (p->rels) {
        for (i = 0; i < p->rels->cap; i++)
            free(p->rels->slots[i]);
        free(p->rels->slots);
        free(p->rels);
    }
    if (p->types) {
        free(p->types->slots);
        free(p->types);
    }
    free(p->retired);
    free(p->values);
    free(p->truncated);
    free(p);
}

const struct pgoutput_relation *pgoutput_relation(const struct pgoutput *p, uint32_t oid)
{
    if (p->rels->count == 0)
        return NULL;
    return *relcache_slot(p->rels, oid);
}

/* ---- primitive readers --------------------------------------------------- */

static int need(struct reader *r, size_t n)
{
    if (r->len - r->pos < n) {
        set_error(r->p, "pgoutput: truncated %s at byte %zu", r->what, r->pos);
        return -1;
    }
    return 0;
}

static uint64_t be64(const unsigned char *b)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++)
        v = (v << 8) | b[i];
    return v;
}

static uint32_t be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static int read_u8(struct reader *r, uint8_t *out)
{
    if (need(r, 1))
        return -1;
    *out = r->buf[r->pos++];
    return 0;
}

static int read_u16(struct reader *r, uint16_t *out)
{
    if (need(r, 2))
        return -1;
    *out = (uint16_t)(r->buf[r->pos] << 8 | r->buf[r->pos + 1]);
    r->pos += 2;
    return 0;
}

static int read_u32(struct reader *r, uint32_t *out)
{
    if (need(r, 4))
        return -1;
    *out = be32(r->buf + r->pos);
    r->pos += 4;
    return 0;
}

static int read_u64(struct reader *r, uint64_t *out)
{
    if (need(r, 8))
        return -1;
    *out = be64(r->buf + r->pos);
    r->pos += 8;
    return 0;
}

static int read_i64(struct reader *r, int64_t *out)
{
    uint64_t v;

    if (read_u64(r, &v))
        return -1;
    /* Two's complement reinterpretation without implementation-defined casts. */
    *out = v <= INT64_MAX ? (int64_t)v : -(int64_t)(UINT64_MAX - v) - 1;
    return 0;
}

/* Reads a length field that the protocol declares as a signed Int32 and that
 * must fit in the rest of the message. */
static int read_length(struct reader *r, uint32_t *out)
{
    size_t at = r->pos;

    if (read_u32(r, out))
        return -1;
    if (*out > INT32_MAX) {
        set_error(r->p, "pgoutput: negative length in %s at byte %zu", r->what, at);
        return -1;
    }
    if (*out > r->len - r->pos) {
        set_error(r->p, "pgoutput: truncated %s at byte %zu", r->what, r->len);
        return -1;
    }
    return 0;
}

/* A String is NUL-terminated inside the message; the result points into buf. */
static int read_string(struct reader *r, const char **out, size_t *len)
{
    const unsigned char *start = r->buf + r->pos;
    const unsigned char *nul = memchr(start, '\0', r->len - r->pos);

    if (!nul) {
        set_error(r->p, "pgoutput: unterminated string in %s at byte %zu", r->what, r->pos);
        return -1;
    }
    *out = (const char *)start;
    if (len)
        *len = (size_t)(nul - start);
    r->pos += (size_t)(nul - start) + 1;
    return 0;
}

/* ---- message decoders ---------------------------------------------------- */

static int decode_begin(struct reader *r, struct pgoutput_msg *m)
{
    int64_t t;

    if (read_u64(r, &m->begin.final_lsn) || read_i64(r, &t) || read_u32(r, &m->begin.xid))
        return -1;
    m->begin.commit_time_us = pgoutput_pg_to_unix_us(t);
    return 0;
}

static int decode_commit(struct reader *r, struct pgoutput_msg *m)
{
    int64_t t;

    if (read_u8(r, &m->commit.flags) || read_u64(r, &m->commit.commit_lsn) ||
        read_u64(r, &m->commit.end_lsn) || read_i64(r, &t))
        return -1;
    m->commit.commit_time_us = pgoutput_pg_to_unix_us(t);
    return 0;
}

static int decode_origin(struct reader *r, struct pgoutput_msg *m)
{
    return read_u64(r, &m->origin.commit_lsn) || read_string(r, &m->origin.name, NULL) ? -1 : 0;
}

static int decode_message(struct reader *r, struct pgoutput_msg *m)
{
    uint8_t flags;
    uint32_t n;

    if (read_u8(r, &flags) || read_u64(r, &m->message.lsn) ||
        read_string(r, &m->message.prefix, NULL) || read_length(r, &n))
        return -1;
    m->message.transactional = flags & 1;
    m->message.content = (const char *)r->buf + r->pos;
    m->message.content_len = n;
    r->pos += n;
    return 0;
}

/* The built-in OID a pg_catalog base type name maps like, or 0. */
static uint32_t builtin_oid_by_name(const char *name)
{
    static const struct { const char *name; uint32_t oid; } map[] = {
        {"bool", OID_BOOL}, {"int8", OID_INT8}, {"int2", OID_INT2},
        {"int4", OID_INT4}, {"oid", OID_OID}, {"json", OID_JSON},
        {"float4", OID_FLOAT4}, {"float8", OID_FLOAT8},
        {"numeric", OID_NUMERIC}, {"jsonb", OID_JSONB},
        {"timestamp", OID_TIMESTAMP}, {"timestamptz", OID_TIMESTAMPTZ}, {"uuid", OID_UUID},
    };
    size_t i;

    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i].name, name) == 0)
            return map[i].oid;
    return 0;
}

static int decode_type(struct reader *r, struct pgoutput_msg *m)
{
    struct pgoutput_typecache *c = r->p->types;
    struct type_entry *e;
    uint32_t base;

    if (read_u32(r, &m->type.oid) || read_string(r, &m->type.schema, NULL) ||
        read_string(r, &m->type.name, NULL))
        return -1;
    if (m->type.schema[0] == '\0')
        m->type.schema = "pg_catalog";
    if (r->pos != r->len)
        return 0;   /* the caller reports trailing bytes; leave the cache alone */

    base = strcmp(m->type.schema, "pg_catalog") == 0 ? builtin_oid_by_name(m->type.name) : 0;
    e = c->cap ? typecache_slot(c, m->type.oid) : NULL;
    if (e && e->used) {
        e->base_oid = base;
        return 0;
    }
    if (c->count >= MAX_TYPES) {
        set_error(r->p, "pgoutput: type cache full (%d types)", MAX_TYPES);
        return -1;
    }
    if (typecache_reserve(c)) {
        set_error(r->p, "pgoutput: out of memory caching type %u", m->type.oid);
        return -1;
    }
    e = typecache_slot(c, m->type.oid);
    e->oid = m->type.oid;
    e->base_oid = base;
    e->used = 1;
    c->count++;
    return 0;
}

static int relations_equal(const struct pgoutput_relation *a, const struct pgoutput_relation *b)
{
    uint16_t i;

    if (a->oid != b->oid || a->replica_identity != b->replica_identity ||
        a->ncols != b->ncols || strcmp(a->schema, b->schema) != 0 ||
        strcmp(a->name, b->name) != 0)
        return 0;
    for (i = 0; i < a->ncols; i++) {
        const struct pgoutput_column *x = &a->columns[i], *y = &b->columns[i];

        if (x->type_oid != y->type_oid || x->typmod != y->typmod ||
            x->is_key != y->is_key || strcmp(x->name, y->name) != 0)
            return 0;
    }
    return 1;
}

/* Grows the scratch arrays so that decoding tuples and truncates of cached
 * relations never allocates: tuples must have exactly their relation's column
 * count (two tuples per Update), and a Truncate lists known relations only. */
static int reserve_scratch(struct pgoutput *p, size_t ncols, size_t nrels)
{
    /* Never left NULL: slot arithmetic on a NULL base is undefined even for 0 columns. */
    size_t want = ncols * 2 < 16 ? 16 : ncols * 2;

    if (want > p->values_cap) {
        struct pgoutput_value *v = realloc(p->values, want * sizeof(*v));

        if (!v)
            return -1;
        p->values = v;
        p->values_cap = want;
    }
    if (nrels > p->truncated_cap) {
        size_t cap = p->truncated_cap ? p->truncated_cap : 16;
        const struct pgoutput_relation **t;

        while (cap < nrels)
            cap *= 2;
        t = realloc(p->truncated, cap * sizeof(*t));
        if (!t)
            return -1;
        p->truncated = t;
        p->truncated_cap = cap;
    }
    return 0;
}

static int decode_relation(struct reader *r, struct pgoutput_msg *m)
{
    struct pgoutput *p = r->p;
    uint32_t oid, type_oid, typmod = 0;
    uint8_t ident, flags = 0;
    uint16_t ncols, i;
    const char *schema, *name, *colname = "";
    size_t schema_len, name_len, colname_len = 0, strings, cols_at, size;
    struct pgoutput_relation *rel, **slot, *old;
    struct pgoutput_column *cols;
    char *s;

    if (read_u32(r, &oid) || read_string(r, &schema, &schema_len) ||
        read_string(r, &name, &name_len) || read_u8(r, &ident) || read_u16(r, &ncols))
        return -1;
    if (ident != 'd' && ident != 'n' && ident != 'f' && ident != 'i') {
        set_error(p, "pgoutput: bad replica identity 0x%02x in Relation %u", ident, oid);
        return -1;
    }
    if ((size_t)ncols * RELATION_COLUMN_MIN_BYTES > r->len - r->pos) {
        set_error(p, "pgoutput: truncated Relation at byte %zu (%u columns announced)",
                  r->len, ncols);
        return -1;
    }
    if (schema_len == 0) {
        schema = "pg_catalog";
        schema_len = strlen(schema);
    }

    /* First pass validates and sizes; nothing is allocated on a bad message. */
    cols_at = r->pos;
    strings = schema_len + 1 + name_len + 1;
    for (i = 0; i < ncols; i++) {
        if (read_u8(r, &flags) || read_string(r, &colname, &colname_len) ||
            read_u32(r, &type_oid) || read_u32(r, &typmod))
            return -1;
        strings += colname_len + 1;
    }
    if (r->pos != r->len)
        return 0;   /* the caller reports trailing bytes */

    slot = p->rels->cap ? relcache_slot(p->rels, oid) : NULL;
    if ((!slot || !*slot) && p->rels->count >= PGOUTPUT_MAX_RELATIONS) {
        set_error(p, "pgoutput: relation cache full (%d relations)", PGOUTPUT_MAX_RELATIONS);
        return -1;
    }
    if (reserve_scratch(p, ncols, p->rels->count + 1) || relcache_reserve(p->rels))
        goto oom;

    size = sizeof(*rel) + (size_t)ncols * sizeof(*cols) + strings;
    rel = malloc(size);
    if (!rel)
        goto oom;
    cols = (struct pgoutput_column *)(rel + 1);
    s = (char *)(cols + ncols);
    rel->oid = oid;
    rel->replica_identity = (char)ident;
    rel->ncols = ncols;
    rel->columns = cols;
    rel->schema = memcpy(s, schema, schema_len + 1);
    s += schema_len + 1;
    rel->name = memcpy(s, name, name_len + 1);
    s += name_len + 1;

    /* Second pass over bytes already validated: these reads cannot fail (the
     * initialisers above only quiet gcc's -Wmaybe-uninitialized). */
    r->pos = cols_at;
    for (i = 0; i < ncols; i++) {
        read_u8(r, &flags);
        read_string(r, &colname, &colname_len);
        read_u32(r, &cols[i].type_oid);
        read_u32(r, &typmod);
        cols[i].typmod = typmod <= INT32_MAX ? (int32_t)typmod : -(int32_t)(UINT32_MAX - typmod) - 1;
        cols[i].is_key = flags & 1;
        cols[i].name = memcpy(s, colname, colname_len + 1);
        s += colname_len + 1;
    }

    slot = relcache_slot(p->rels, oid);
    old = *slot;
    if (old && relations_equal(old, rel)) {
        free(rel);
        m->relation = old;
        return 0;
    }
    if (old) {
        free(p->retired);   /* normally NULL: retired entries go at each decode */
        p->retired = old;
    } else {
        p->rels->count++;
    }
    *slot = rel;
    m->relation = rel;
    return 0;

oom:
    set_error(p, "pgoutput: out of memory caching relation %u", oid);
    return -1;
}

static const struct pgoutput_relation *lookup_relation(struct reader *r, const char *msg,
                                                       uint32_t oid)
{
    const struct pgoutput_relation *rel = pgoutput_relation(r->p, oid);

    if (!rel)
        set_error(r->p, "pgoutput: %s for unknown relation %u", msg, oid);
    return rel;
}

static int read_tuple(struct reader *r, const char *msg, const struct pgoutput_relation *rel,
                      struct pgoutput_value *slots, struct pgoutput_tuple *t)
{
    const char *saved = r->what;
    uint16_t ncols, i;
    uint8_t kind;
    uint32_t len;

    r->what = "TupleData";
    if (read_u16(r, &ncols))
        return -1;
    if (ncols != rel->ncols) {
        set_error(r->p, "pgoutput: %s for relation %u has %u columns, its Relation message %u",
                  msg, rel->oid, ncols, rel->ncols);
        return -1;
    }
    for (i = 0; i < ncols; i++) {
        size_t at = r->pos;

        if (read_u8(r, &kind))
            return -1;
        slots[i].kind = (char)kind;
        slots[i].len = 0;
        slots[i].data = NULL;
        switch (kind) {
        case PGOUTPUT_VALUE_NULL:
        case PGOUTPUT_VALUE_UNCHANGED:
            break;
        case PGOUTPUT_VALUE_TEXT:
        case PGOUTPUT_VALUE_BINARY:
            if (read_length(r, &len))
                return -1;
            slots[i].len = len;
            slots[i].data = (const char *)r->buf + r->pos;
            r->pos += len;
            break;
        default:
            set_error(r->p, "pgoutput: bad TupleData kind 0x%02x at byte %zu", kind, at);
            return -1;
        }
    }
    t->ncols = ncols;
    t->values = slots;
    r->what = saved;
    return 0;
}

static int expect_tag(struct reader *r, const char *msg, uint8_t *tag, const char *allowed)
{
    size_t at = r->pos;

    if (read_u8(r, tag))
        return -1;
    if (*tag == '\0' || !strchr(allowed, *tag)) {
        set_error(r->p, "pgoutput: %s has tuple tag 0x%02x at byte %zu, expected one of %s",
                  msg, *tag, at, allowed);
        return -1;
    }
    return 0;
}

static int decode_change(struct reader *r, struct pgoutput_msg *m, const char *msg)
{
    struct pgoutput_change *c = &m->change;
    const struct pgoutput_relation *rel;
    uint32_t oid;
    uint8_t tag;
    struct pgoutput_value *slots = r->p->values;

    memset(c, 0, sizeof(*c));
    if (read_u32(r, &oid) || !(rel = lookup_relation(r, msg, oid)))
        return -1;
    c->relation = rel;

    switch (m->kind) {
    case PGOUTPUT_MSG_INSERT:
        if (expect_tag(r, msg, &tag, "N"))
            return -1;
        break;
    case PGOUTPUT_MSG_UPDATE:
        if (expect_tag(r, msg, &tag, "KON"))
            return -1;
        if (tag != 'N') {
            c->old_kind = (char)tag;
            if (read_tuple(r, msg, rel, slots, &c->old_tuple) || expect_tag(r, msg, &tag, "N"))
                return -1;
        }
        break;
    default: /* Delete */
        if (expect_tag(r, msg, &tag, "KO"))
            return -1;
        c->old_kind = (char)tag;
        return read_tuple(r, msg, rel, slots, &c->old_tuple);
    }
    return read_tuple(r, msg, rel, slots + rel->ncols, &c->new_tuple);
}

static int decode_truncate(struct reader *r, struct pgoutput_msg *m)
{
    struct pgoutput *p = r->p;
    uint32_t n, i, oid = 0;

    if (read_u32(r, &n) || read_u8(r, &m->truncate.flags))
        return -1;
    if ((uint64_t)n * 4 > r->len - r->pos) {
        set_error(p, "pgoutput: truncated Truncate at byte %zu (%u relations announced)",
                  r->len, n);
        return -1;
    }
    /* A real Truncate names distinct relations already described. */
    if (n > p->rels->count) {
        set_error(p, "pgoutput: Truncate lists %u relations, only %zu are known",
                  n, p->rels->count);
        return -1;
    }
    for (i = 0; i < n; i++) {
        read_u32(r, &oid);
        if (!(p->truncated[i] = lookup_relation(r, "Truncate", oid)))
            return -1;
    }
    m->truncate.nrelations = n;
    m->truncate.relations = p->truncated;
    return 0;
}

static int decode_pgoutput(struct pgoutput *p, const unsigned char *buf, size_t len, size_t pos,
                           struct pgoutput_msg *m)
{
    struct reader r = {p, buf, len, pos + 1, NULL};
    int rc;

    memset(m, 0, sizeof(*m));
    if (pos >= len) {
        set_error(p, "pgoutput: XLogData without a message at byte %zu", pos);
        return -1;
    }
    m->kind = (char)buf[pos];
    switch (m->kind) {
    case PGOUTPUT_MSG_BEGIN:    r.what = "Begin";    rc = decode_begin(&r, m); break;
    case PGOUTPUT_MSG_COMMIT:   r.what = "Commit";   rc = decode_commit(&r, m); break;
    case PGOUTPUT_MSG_ORIGIN:   r.what = "Origin";   rc = decode_origin(&r, m); break;
    case PGOUTPUT_MSG_RELATION: r.what = "Relation"; rc = decode_relation(&r, m); break;
    case PGOUTPUT_MSG_TYPE:     r.what = "Type";     rc = decode_type(&r, m); break;
    case PGOUTPUT_MSG_INSERT:   r.what = "Insert";   rc = decode_change(&r, m, "Insert"); break;
    case PGOUTPUT_MSG_UPDATE:   r.what = "Update";   rc = decode_change(&r, m, "Update"); break;
    case PGOUTPUT_MSG_DELETE:   r.what = "Delete";   rc = decode_change(&r, m, "Delete"); break;
    case PGOUTPUT_MSG_TRUNCATE: r.what = "Truncate"; rc = decode_truncate(&r, m); break;
    case PGOUTPUT_MSG_MESSAGE:  r.what = "Message";  rc = decode_message(&r, m); break;
    default:
        /* Stream and two-phase messages ('S','E','c','A','b','P','K','r')
         * need protocol v2/v3, which we never ask for. */
        set_error(p, "pgoutput: unknown message tag 0x%02x at byte %zu",
                  (unsigned char)m->kind, pos);
        return -1;
    }
    if (rc)
        return -1;
    if (r.pos != len) {
        set_error(p, "pgoutput: %zu trailing bytes after %s at byte %zu",
                  len - r.pos, r.what, r.pos);
        return -1;
    }
    return 0;
}

int pgoutput_decode_copydata(struct pgoutput *p, const char *buf, size_t len,
                             struct pgoutput_frame *out)
{
    const unsigned char *b = (const unsigned char *)buf;
    struct reader r = {p, b, len, 1, NULL};
    int64_t t;
    uint8_t reply;

    free(p->retired);
    p->retired = NULL;
    p->errstr[0] = '\0';
    memset(out, 0, sizeof(*out));
    if (len == 0) {
        set_error(p, "pgoutput: empty CopyData");
        return -1;
    }
    out->kind = (char)b[0];
    switch (b[0]) {
    case PGOUTPUT_FRAME_XLOGDATA:
        r.what = "XLogData header";
        if (read_u64(&r, &out->wal_start) || read_u64(&r, &out->wal_end) || read_i64(&r, &t))
            return -1;
        out->send_time_us = pgoutput_pg_to_unix_us(t);
        return decode_pgoutput(p, b, len, r.pos, &out->msg);
    case PGOUTPUT_FRAME_KEEPALIVE:
        r.what = "keepalive";
        if (read_u64(&r, &out->wal_end) || read_i64(&r, &t) || read_u8(&r, &reply))
            return -1;
        if (r.pos != len) {
            set_error(p, "pgoutput: %zu trailing bytes after keepalive", len - r.pos);
            return -1;
        }
        out->send_time_us = pgoutput_pg_to_unix_us(t);
        out->reply_requested = reply != 0;
        return 0;
    default:
        set_error(p, "pgoutput: unknown CopyData tag 0x%02x", b[0]);
        return -1;
    }
}

/* ---- time, LSN, standby status ------------------------------------------ */

int64_t pgoutput_pg_to_unix_us(int64_t pg_us)
{
    if (pg_us > INT64_MAX - PGOUTPUT_EPOCH_OFFSET_US)
        return INT64_MAX;
    return pg_us + PGOUTPUT_EPOCH_OFFSET_US;
}

int64_t pgoutput_unix_to_pg_us(int64_t unix_us)
{
    if (unix_us < INT64_MIN + PGOUTPUT_EPOCH_OFFSET_US)
        return INT64_MIN;
    return unix_us - PGOUTPUT_EPOCH_OFFSET_US;
}

static void put_be64(char *out, uint64_t v)
{
    int i;

    for (i = 7; i >= 0; i--) {
        out[i] = (char)(v & 0xff);
        v >>= 8;
    }
}

size_t pgoutput_standby_status(char *out, uint64_t written, uint64_t flushed,
                               uint64_t applied, int64_t now_unix_us, int reply_requested)
{
    out[0] = 'r';
    put_be64(out + 1, written);
    put_be64(out + 9, flushed);
    put_be64(out + 17, applied);
    put_be64(out + 25, (uint64_t)pgoutput_unix_to_pg_us(now_unix_us));
    out[33] = reply_requested ? 1 : 0;
    return PGOUTPUT_STANDBY_STATUS_LEN;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parses 1-8 hex digits at *s, advancing it. */
static int parse_hex32(const char **s, uint32_t *out)
{
    int n = 0, d;
    uint32_t v = 0;

    while ((d = hex_digit(**s)) >= 0) {
        if (++n > 8)
            return -1;
        v = v << 4 | (uint32_t)d;
        (*s)++;
    }
    if (n == 0)
        return -1;
    *out = v;
    return 0;
}

uint64_t pgoutput_parse_lsn(const char *text, int *ok)
{
    uint32_t hi, lo;

    *ok = 0;
    if (!text || parse_hex32(&text, &hi) || *text++ != '/' || parse_hex32(&text, &lo) || *text)
        return 0;
    *ok = 1;
    return (uint64_t)hi << 32 | lo;
}

void pgoutput_format_lsn(uint64_t lsn, char out[PGOUTPUT_LSN_BUFLEN])
{
    snprintf(out, PGOUTPUT_LSN_BUFLEN, "%X/%X", (unsigned)(lsn >> 32), (unsigned)lsn);
}

/* ---- JSON mapping -------------------------------------------------------- */

static enum json_kind kind_of_builtin(uint32_t oid)
{
    switch (oid) {
    case OID_INT2: case OID_INT4: case OID_INT8: case OID_OID: return JK_INTEGER;
    case OID_NUMERIC: return JK_NUMERIC;
    case OID_FLOAT4: case OID_FLOAT8: return JK_FLOAT;
    case OID_BOOL: return JK_BOOL;
    case OID_JSON: case OID_JSONB: return JK_JSON;
    case OID_TIMESTAMP: return JK_TIMESTAMP;
    case OID_TIMESTAMPTZ: return JK_TIMESTAMPTZ;
    case OID_UUID: return JK_UUID;
    default: return JK_STRING;
    }
}

static enum json_kind kind_of_type(const struct pgoutput *p, uint32_t oid)
{
    const struct type_entry *e;

    if (oid < OID_FIRST_GENBKI)
        return kind_of_builtin(oid);
    if (p->types->count == 0)
        return JK_STRING;
    e = typecache_slot(p->types, oid);
    return e->used ? kind_of_builtin(e->base_oid) : JK_STRING;
}

static const char *kind_name(enum json_kind k)
{
    switch (k) {
    case JK_INTEGER: return "integer";
    case JK_NUMERIC: return "numeric";
    case JK_FLOAT: return "float";
    case JK_BOOL: return "bool";
    case JK_JSON: return "json";
    case JK_TIMESTAMP: return "timestamp";
    case JK_TIMESTAMPTZ: return "timestamptz";
    case JK_UUID: return "uuid";
    default: return "text";
    }
}

static json_t *numeric_to_json(const char *s, size_t len)
{
    json_t *j;

    if (sqlvalue_decimal_json(s, len, &j))
        return json_stringn(s, len);    /* NaN, Infinity, -Infinity */
    return j;
}

/* ---- timestamps and uuid -------------------------------------------------- */

/* A timestamp as timestamp_out/timestamptz_out print it with DateStyle=ISO. */
struct iso_time {
    int year, month, day, hour, minute, second;
    size_t frac_at, frac_len;   /* the '.' and its digits; frac_len 0 when none */
    size_t zone_at;             /* where the UTC offset starts; the length when none */
    int zone_parts;             /* 0 none, 1 "+HH", 2 "+HH:MM", 3 "+HH:MM:SS" */
    int zone_seconds;           /* signed offset east of UTC */
};

static int fixed_digits(const char *s, size_t len, size_t *i, int n, int *out)
{
    int v = 0, k;

    if (len - *i < (size_t)n)
        return -1;
    for (k = 0; k < n; k++) {
        char c = s[*i + (size_t)k];

        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *i += (size_t)n;
    *out = v;
    return 0;
}

static int skip_char(const char *s, size_t len, size_t *i, char c)
{
    if (*i >= len || s[*i] != c)
        return -1;
    (*i)++;
    return 0;
}

static int days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

    return days[month - 1] + (month == 2 && leap);
}

/* "YYYY-MM-DD HH:MM:SS[.f{1,6}]" plus, when with_zone, "+HH[:MM[:SS]]", for
 * years 1 to 9999 AD; -1 for anything else: infinity, BC, five-digit years,
 * another DateStyle. */
static int parse_iso_time(const char *s, size_t len, int with_zone, struct iso_time *t)
{
    size_t i = 0;
    int h = 0, m = 0, sec = 0, sign;

    memset(t, 0, sizeof(*t));
    if (fixed_digits(s, len, &i, 4, &t->year) || skip_char(s, len, &i, '-') ||
        fixed_digits(s, len, &i, 2, &t->month) || skip_char(s, len, &i, '-') ||
        fixed_digits(s, len, &i, 2, &t->day) || skip_char(s, len, &i, ' ') ||
        fixed_digits(s, len, &i, 2, &t->hour) || skip_char(s, len, &i, ':') ||
        fixed_digits(s, len, &i, 2, &t->minute) || skip_char(s, len, &i, ':') ||
        fixed_digits(s, len, &i, 2, &t->second))
        return -1;
    if (t->year < 1 || t->month < 1 || t->month > 12 || t->day < 1 ||
        t->day > days_in_month(t->year, t->month) || t->hour > 23 || t->minute > 59 ||
        t->second > 59)
        return -1;
    if (i < len && s[i] == '.') {
        t->frac_at = i++;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        t->frac_len = i - t->frac_at - 1;
        if (t->frac_len < 1 || t->frac_len > 6)
            return -1;
    }
    t->zone_at = i;
    if (!with_zone)
        return i == len ? 0 : -1;
    if (i >= len || (s[i] != '+' && s[i] != '-'))
        return -1;
    sign = s[i++] == '-' ? -1 : 1;
    if (fixed_digits(s, len, &i, 2, &h))
        return -1;
    t->zone_parts = 1;
    if (i < len && s[i] == ':') {
        i++;
        if (fixed_digits(s, len, &i, 2, &m))
            return -1;
        t->zone_parts = 2;
        if (i < len && s[i] == ':') {
            i++;
            if (fixed_digits(s, len, &i, 2, &sec))
                return -1;
            t->zone_parts = 3;
        }
    }
    if (i != len || h > 15 || m > 59 || sec > 59)
        return -1;
    t->zone_seconds = sign * (h * 3600 + m * 60 + sec);
    return 0;
}

/* timestamp: ISO 8601 local date-time, the server's fraction digits kept. */
static json_t *timestamp_to_json(const char *s, size_t len)
{
    struct iso_time t;
    char out[32];

    if (parse_iso_time(s, len, 0, &t))
        return json_stringn(s, len);
    memcpy(out, s, len);
    out[10] = 'T';
    return json_stringn(out, len);
}

/* Moves a valid date by delta days (-1, 0 or 1). */
static void add_days(struct iso_time *t, int delta)
{
    t->day += delta;
    if (t->day < 1) {
        if (--t->month < 1) {
            t->month = 12;
            t->year--;
        }
        t->day = days_in_month(t->year, t->month);
    } else if (t->day > days_in_month(t->year, t->month)) {
        t->day = 1;
        if (++t->month > 12) {
            t->month = 1;
            t->year++;
        }
    }
}

/* timestamptz: ISO 8601 in UTC with "Z". The reader's sessions print UTC
 * ("+00"); another offset is converted. When UTC would fall outside years
 * 1-9999 the offset is kept in ISO form ("+05:30"), and an offset with seconds
 * (local mean time), which ISO 8601 cannot write, keeps the server's text. */
static json_t *timestamptz_to_json(const char *s, size_t len)
{
    struct iso_time t, utc;
    char out[48];
    int sod, delta = 0;

    if (parse_iso_time(s, len, 1, &t))
        return json_stringn(s, len);
    if (t.zone_seconds == 0) {
        memcpy(out, s, t.zone_at);
        out[10] = 'T';
        out[t.zone_at] = 'Z';
        return json_stringn(out, t.zone_at + 1);
    }
    utc = t;
    sod = t.hour * 3600 + t.minute * 60 + t.second - t.zone_seconds;
    if (sod < 0) {
        sod += 86400;
        delta = -1;
    } else if (sod >= 86400) {
        sod -= 86400;
        delta = 1;
    }
    add_days(&utc, delta);
    if (utc.year >= 1 && utc.year <= 9999) {
        int n = snprintf(out, sizeof(out), "%04d-%02d-%02dT%02d:%02d:%02d%.*sZ", utc.year,
                         utc.month, utc.day, sod / 3600, sod / 60 % 60, sod % 60,
                         (int)(t.frac_len ? t.frac_len + 1 : 0), s + t.frac_at);

        return json_stringn(out, (size_t)n);
    }
    if (t.zone_parts == 3)
        return json_stringn(s, len);    /* no ISO form for a seconds offset: keep it */
    memcpy(out, s, t.zone_at);
    out[10] = 'T';
    snprintf(out + t.zone_at, sizeof(out) - t.zone_at, "%c%02d:%02d",
             t.zone_seconds < 0 ? '-' : '+', abs(t.zone_seconds) / 3600,
             abs(t.zone_seconds) / 60 % 60);
    return json_stringn(out, t.zone_at + 6);
}

/* uuid: lowercase, as RFC 4122 asks of output (uuid_out already prints it so). */
static json_t *uuid_to_json(const char *s, size_t len)
{
    char out[64];
    size_t i;

    if (len >= sizeof(out))
        return json_stringn(s, len);
    for (i = 0; i < len; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    return json_stringn(out, len);
}

static int is_float_special(const char *s, size_t len)
{
    static const char *const special[] = {"NaN", "Infinity", "-Infinity"};
    size_t i;

    for (i = 0; i < 3; i++)
        if (strlen(special[i]) == len && memcmp(special[i], s, len) == 0)
            return 1;
    return 0;
}

static json_t *float_to_json(const char *s, size_t len)
{
    char buf[64];
    char *end;
    double x;

    if (is_float_special(s, len))
        return json_stringn(s, len);
    /* Values are not terminated: copy before any str*() call. strtod accepts
     * things PostgreSQL never prints (leading blanks, hex, "inf"), so screen
     * the alphabet too. */
    if (len == 0 || len >= sizeof(buf))
        return NULL;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (strspn(buf, "0123456789+-.eE") != len)
        return NULL;
    x = strtod(buf, &end);
    if (end != buf + len)
        return NULL;
    if (!isfinite(x))
        return json_stringn(s, len);
    /* events print reals with 15 significant digits (JSON_REAL_PRECISION(15)); a
     * value that needs more (or that would print past DBL_MAX) keeps the server's
     * exact text instead of changing or becoming unreadable */
    char check[40];
    snprintf(check, sizeof check, "%.15g", x);
    if (strtod(check, NULL) != x)
        return json_stringn(s, len);
    return json_real(x);
}

static json_t *value_to_json(struct pgoutput *p, const struct pgoutput_relation *rel,
                             const struct pgoutput_column *col, const struct pgoutput_value *v)
{
    enum json_kind kind;
    json_t *j = NULL;
    json_error_t jerr;
    int64_t iv;

    if (v->kind == PGOUTPUT_VALUE_NULL)
        return json_null();
    if (v->kind != PGOUTPUT_VALUE_TEXT) {
        set_error(p, "pgoutput: %s.%s column \"%s\": %s value cannot be mapped%s",
                  rel->schema, rel->name, col->name,
                  v->kind == PGOUTPUT_VALUE_BINARY ? "binary-format" : "unexpected",
                  v->kind == PGOUTPUT_VALUE_BINARY ? " (start replication without binary)" : "");
        return NULL;
    }
    kind = kind_of_type(p, col->type_oid);
    switch (kind) {
    case JK_INTEGER:
        if (sqlvalue_parse_int64(v->data, v->len, &iv) == 0)
            j = json_integer((json_int_t)iv);
        break;
    case JK_NUMERIC:
        j = numeric_to_json(v->data, v->len);
        break;
    case JK_FLOAT:
        j = float_to_json(v->data, v->len);
        break;
    case JK_BOOL:
        if (v->len == 1 && (v->data[0] == 't' || v->data[0] == 'f'))
            j = json_boolean(v->data[0] == 't');
        break;
    case JK_JSON:
        j = sqlvalue_json_load(v->data, v->len, &jerr);
        if (!j) {
            set_error(p, "pgoutput: %s.%s column \"%s\" (json): %s", rel->schema, rel->name,
                      col->name, jerr.text);
            return NULL;
        }
        break;
    case JK_TIMESTAMP:
    case JK_TIMESTAMPTZ:
    case JK_UUID:
    case JK_STRING:
        j = kind == JK_TIMESTAMP ? timestamp_to_json(v->data, v->len)
            : kind == JK_TIMESTAMPTZ ? timestamptz_to_json(v->data, v->len)
            : kind == JK_UUID ? uuid_to_json(v->data, v->len)
            : json_stringn(v->data, v->len);
        if (!j) {
            set_error(p, "pgoutput: %s.%s column \"%s\": value is not valid UTF-8",
                      rel->schema, rel->name, col->name);
            return NULL;
        }
        break;
    }
    if (!j)
        set_error(p, "pgoutput: %s.%s column \"%s\": value is not a valid %s (type %u)",
                  rel->schema, rel->name, col->name, kind_name(kind), col->type_oid);
    return j;
}

static int check_tuple(struct pgoutput *p, const struct pgoutput_relation *rel,
                       const struct pgoutput_tuple *t)
{
    if (t->ncols != rel->ncols) {
        set_error(p, "pgoutput: tuple has %u columns, relation %s.%s has %u",
                  t->ncols, rel->schema, rel->name, rel->ncols);
        return -1;
    }
    return 0;
}

static int set_column(struct pgoutput *p, json_t *obj, const struct pgoutput_relation *rel,
                      const struct pgoutput_column *col, json_t *value)
{
    if (json_object_set_new(obj, col->name, value)) {
        set_error(p, "pgoutput: %s.%s: column name is not valid UTF-8", rel->schema, rel->name);
        return -1;
    }
    return 0;
}

/* The column's value in the previous image, or NULL. A null there never fills an
 * unchanged TOASTed value, which is not null: it is what a key-only old tuple
 * ('K') holds for every other column. */
static json_t *previous_value(const json_t *previous, const char *name)
{
    json_t *v = json_is_object(previous) ? json_object_get(previous, name) : NULL;

    return v && !json_is_null(v) ? json_incref(v) : NULL;
}

json_t *pgoutput_tuple_to_json(struct pgoutput *p, const struct pgoutput_relation *rel,
                               const struct pgoutput_tuple *t, const json_t *previous,
                               size_t *unchanged_missing)
{
    json_t *obj, *v;
    size_t missing = 0;
    uint16_t i;

    if (unchanged_missing)
        *unchanged_missing = 0;
    if (check_tuple(p, rel, t))
        return NULL;
    if (!(obj = json_object()))
        goto oom;
    for (i = 0; i < t->ncols; i++) {
        const struct pgoutput_column *col = &rel->columns[i];

        if (t->values[i].kind == PGOUTPUT_VALUE_UNCHANGED) {
            if (!(v = previous_value(previous, col->name))) {
                missing++;
                continue;
            }
        } else if (!(v = value_to_json(p, rel, col, &t->values[i]))) {
            json_decref(obj);
            return NULL;
        }
        if (set_column(p, obj, rel, col, v)) {
            json_decref(obj);
            return NULL;
        }
    }
    if (unchanged_missing)
        *unchanged_missing = missing;
    return obj;

oom:
    set_error(p, "pgoutput: out of memory");
    return NULL;
}

static int find_column(const struct pgoutput_relation *rel, const char *name)
{
    int i;

    for (i = 0; i < rel->ncols; i++)
        if (strcmp(rel->columns[i].name, name) == 0)
            return i;
    return -1;
}

static int add_key_column(struct pgoutput *p, json_t *obj, const struct pgoutput_relation *rel,
                          const struct pgoutput_tuple *t, const json_t *previous, int i)
{
    const struct pgoutput_column *col = &rel->columns[i];
    json_t *v;

    if (t->values[i].kind == PGOUTPUT_VALUE_UNCHANGED) {
        if (!(v = previous_value(previous, col->name))) {
            set_error(p, "pgoutput: %s.%s key column \"%s\" is an unchanged TOASTed value "
                      "and no previous image holds it", rel->schema, rel->name, col->name);
            return -1;
        }
    } else if (!(v = value_to_json(p, rel, col, &t->values[i]))) {
        return -1;
    }
    return set_column(p, obj, rel, col, v);
}

json_t *pgoutput_tuple_key_json(struct pgoutput *p, const struct pgoutput_relation *rel,
                                const struct pgoutput_tuple *t, const json_t *previous,
                                const char *const *key_columns)
{
    json_t *obj;
    int i;

    if (check_tuple(p, rel, t))
        return NULL;
    if (!(obj = json_object())) {
        set_error(p, "pgoutput: out of memory");
        return NULL;
    }
    if (key_columns) {
        for (; *key_columns; key_columns++) {
            if ((i = find_column(rel, *key_columns)) < 0) {
                set_error(p, "pgoutput: key column \"%s\" is not in %s.%s", *key_columns,
                          rel->schema, rel->name);
                goto fail;
            }
            if (add_key_column(p, obj, rel, t, previous, i))
                goto fail;
        }
        return obj;
    }
    for (i = 0; i < rel->ncols; i++)
        if (rel->columns[i].is_key && add_key_column(p, obj, rel, t, previous, i))
            goto fail;
    return obj;

fail:
    json_decref(obj);
    return NULL;
}
