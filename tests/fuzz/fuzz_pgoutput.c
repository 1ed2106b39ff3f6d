/* libFuzzer target for services/cdc/pgoutput.c.
 *
 * Build and run (from the repository root):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
 *       -Iservices/cdc services/cdc/pgoutput.c tests/fuzz/fuzz_pgoutput.c \
 *       $(pkg-config --cflags --libs jansson) -o build/fuzz_pgoutput
 *   mkdir -p build/fuzz-pgoutput
 *   build/fuzz_pgoutput -max_total_time=60 build/fuzz-pgoutput tests/fuzz/corpus/pgoutput
 *
 * An input is one CopyData payload (the seed corpus holds payloads captured
 * from PostgreSQL), decoded on a decoder that persists across inputs so that
 * Relation and Type messages seen earlier are in the cache when a later
 * Insert/Update/Delete/Truncate arrives. An input starting with "SMSQ" is
 * instead a sequence of records (big-endian UInt16 length, payload) decoded
 * in order on a fresh decoder: the same caching, reproducible from one file.
 * To replay a crash that needed earlier inputs, pass the inputs in order:
 * build/fuzz_pgoutput seed1 seed2 crash-file.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pgoutput.h"

/* Bounds the persistent cache: relations grow with the inputs that define them. */
#define RESET_EVERY 4096

static void must(int condition)
{
    if (!condition)
        __builtin_trap();
}

static void check_json(json_t *j, struct pgoutput *p)
{
    char *text;

    if (!j) {
        must(p->errstr[0] != '\0');
        return;
    }
    text = json_dumps(j, JSON_COMPACT | PGOUTPUT_JSON_DUMP_FLAGS);
    must(text != NULL);
    free(text);
}

/* Keeps the last "after" image to feed back as `previous` for unchanged TOAST. */
static json_t *last_image;

/* Every decoded value is also mapped alone, copied into its own heap block so
 * that it ends there (values are not NUL-terminated: ASan then sees any
 * overread), as each of these types, whatever its Relation message declared. */
static const uint32_t mapped_types[] = {
    20 /* int8 */, 1700 /* numeric */, 701 /* float8 */, 700 /* float4 */,
    16 /* bool */, 3802 /* jsonb */, 114 /* json */, 25 /* text */, 1114 /* timestamp */,
    1184 /* timestamptz */, 2950 /* uuid */, 1082 /* date */,
};

static void exercise_types(struct pgoutput *p, const struct pgoutput_tuple *t)
{
    struct pgoutput_column col = {"v", 0, -1, 1};
    struct pgoutput_relation one = {1, "fuzz", "one", 'd', 1, &col};
    uint16_t c;
    size_t k;

    for (c = 0; c < t->ncols; c++) {
        struct pgoutput_value v = t->values[c];
        struct pgoutput_tuple single = {1, &v};
        char *copy = malloc(v.len ? v.len : 1);

        must(copy != NULL);
        if (v.len)
            memcpy(copy, v.data, v.len);
        v.data = v.data ? copy : NULL;
        for (k = 0; k < sizeof(mapped_types) / sizeof(mapped_types[0]); k++) {
            json_t *j;

            col.type_oid = mapped_types[k];
            j = pgoutput_tuple_to_json(p, &one, &single, last_image, NULL);
            check_json(j, p);
            json_decref(j);
        }
        free(copy);
    }
}

static void exercise_change(struct pgoutput *p, const struct pgoutput_change *c)
{
    const struct pgoutput_relation *rel = c->relation;
    const char *key[2] = {rel->ncols ? rel->columns[rel->ncols - 1].name : "none", NULL};
    size_t missing = 0;
    json_t *j;

    exercise_types(p, &c->old_tuple);
    exercise_types(p, &c->new_tuple);
    if (c->old_kind || c->new_tuple.ncols == 0) {
        j = pgoutput_tuple_to_json(p, rel, &c->old_tuple, NULL, &missing);
        check_json(j, p);
        json_decref(j);
        j = pgoutput_tuple_key_json(p, rel, &c->old_tuple, NULL, NULL);
        check_json(j, p);
        json_decref(j);
    }
    if (c->new_tuple.ncols || rel->ncols == 0) {
        j = pgoutput_tuple_to_json(p, rel, &c->new_tuple, last_image, &missing);
        check_json(j, p);
        if (j) {
            must(missing <= rel->ncols);
            json_decref(last_image);
            last_image = j;
        }
        j = pgoutput_tuple_key_json(p, rel, &c->new_tuple, last_image, key);
        check_json(j, p);
        json_decref(j);
        j = pgoutput_tuple_key_json(p, rel, &c->new_tuple, NULL, NULL);
        check_json(j, p);
        json_decref(j);
    }
}

/* Touches every byte the decoder said is there, so ASan sees any lie. */
static size_t touch(const char *s, size_t len)
{
    size_t i, sum = 0;

    for (i = 0; i < len; i++)
        sum += (unsigned char)s[i];
    return sum;
}

static void decode_one(struct pgoutput *p, const char *buf, size_t len)
{
    struct pgoutput_frame f;
    const struct pgoutput_msg *m = &f.msg;
    volatile size_t sink = 0;
    uint32_t i;
    uint16_t c;

    if (pgoutput_decode_copydata(p, buf, len, &f) != 0) {
        must(p->errstr[0] != '\0');
        return;
    }
    if (f.kind == PGOUTPUT_FRAME_KEEPALIVE)
        return;
    switch (m->kind) {
    case PGOUTPUT_MSG_RELATION:
        must(pgoutput_relation(p, m->relation->oid) == m->relation);
        sink += strlen(m->relation->schema) + strlen(m->relation->name);
        for (c = 0; c < m->relation->ncols; c++)
            sink += strlen(m->relation->columns[c].name);
        break;
    case PGOUTPUT_MSG_TYPE:
        sink += strlen(m->type.schema) + strlen(m->type.name);
        break;
    case PGOUTPUT_MSG_ORIGIN:
        sink += strlen(m->origin.name);
        break;
    case PGOUTPUT_MSG_MESSAGE:
        sink += strlen(m->message.prefix) + touch(m->message.content, m->message.content_len);
        break;
    case PGOUTPUT_MSG_TRUNCATE:
        for (i = 0; i < m->truncate.nrelations; i++)
            sink += strlen(m->truncate.relations[i]->name);
        break;
    case PGOUTPUT_MSG_INSERT:
    case PGOUTPUT_MSG_UPDATE:
    case PGOUTPUT_MSG_DELETE:
        for (c = 0; c < m->change.old_tuple.ncols; c++)
            sink += touch(m->change.old_tuple.values[c].data, m->change.old_tuple.values[c].len);
        for (c = 0; c < m->change.new_tuple.ncols; c++)
            sink += touch(m->change.new_tuple.values[c].data, m->change.new_tuple.values[c].len);
        exercise_change(p, &m->change);
        break;
    default:
        break;
    }
    (void)sink;
}

static void check_lsn(const uint8_t *data, size_t size)
{
    char text[40], again[PGOUTPUT_LSN_BUFLEN];
    size_t n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
    uint64_t lsn;
    int ok;

    memcpy(text, data, n);
    text[n] = '\0';
    lsn = pgoutput_parse_lsn(text, &ok);
    if (!ok)
        return;
    pgoutput_format_lsn(lsn, again);
    must(pgoutput_parse_lsn(again, &ok) == lsn && ok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct pgoutput *persistent;
    static unsigned inputs;
    struct pgoutput *p;
    size_t pos;

    check_lsn(data, size);

    if (size >= 4 && memcmp(data, "SMSQ", 4) == 0) {
        json_decref(last_image);
        last_image = NULL;
        p = pgoutput_new();
        must(p != NULL);
        for (pos = 4; size - pos >= 2;) {
            size_t len = (size_t)data[pos] << 8 | data[pos + 1];
            char *copy;

            pos += 2;
            if (len > size - pos)
                len = size - pos;
            /* Own heap block per record: ASan catches reads past its end. */
            copy = malloc(len ? len : 1);
            must(copy != NULL);
            memcpy(copy, data + pos, len);
            decode_one(p, copy, len);
            free(copy);
            pos += len;
        }
        pgoutput_free(p);
        return 0;
    }

    if (!persistent || ++inputs % RESET_EVERY == 0) {
        pgoutput_free(persistent);
        json_decref(last_image);
        last_image = NULL;
        persistent = pgoutput_new();
        must(persistent != NULL);
    }
    decode_one(persistent, (const char *)data, size);
    return 0;
}
