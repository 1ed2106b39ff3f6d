/* test_pg_types — the change-event envelope carries the right JSON for every PostgreSQL
 * type a retailer's tables use, the same for snapshot rows (op "r", read with libpq) and
 * streamed rows (op "c"/"u", pgoutput), and unchanged TOASTed values are completed from
 * the old row under REPLICA IDENTITY FULL and left out (never null) under the default.
 *
 * Real PostgreSQL and Redis; stockmeshd runs only the cdc role and the test reads its
 * topics straight from the embedded backbone (<state_dir>/backbone names it). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "servers.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define SOURCE "erp"
#define TOPIC_TYPED "stockmesh." SOURCE ".public.typed"
#define TOPIC_FULL "stockmesh." SOURCE ".public.toast_full"
#define WAIT_MS 20000
#define BIG_CHUNKS 3200 /* md5 chunks of 32 hex digits: 102400 characters */

struct message {
    char *topic;
    char *payload; /* NUL-terminated copy */
};

struct world {
    struct servers_server pg, redis;
    char dir[256];
    char config_path[512];
    char log_path[512];
    pid_t daemon;
    rd_kafka_t *consumer;
    struct message *seen;
    size_t nseen, capseen;
};

static struct world W;

static double now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return tv.tv_sec * 1000.0 + tv.tv_usec / 1000.0;
}

static void show_daemon_log(void)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "tail -n 40 %s >&2", W.log_path);
    if (system(cmd) != 0) fprintf(stderr, "(no daemon log)\n");
}

static int sql(const char *text)
{
    char err[1024];
    if (servers_pg_exec(&W.pg, "shop", text, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

/* ---- the rows ------------------------------------------------------------------ */

/* Every column of public.typed, in order: what is inserted and the exact JSON the
 * event's "after" must hold (event.c's compact dump). */
#define TYPED_COLUMNS                                                                     \
    "id, c_int2, c_int4, c_int8, c_numeric, c_numeric_free, c_text, c_varchar, c_bpchar, " \
    "c_bool, c_date, c_ts, c_tstz, c_uuid, c_json, c_jsonb, c_big"

struct typed_row {
    const char *values; /* SQL after the id */
    const char *after;  /* JSON after "{\"id\":N," */
};

static const struct typed_row ROWS[] = {
    {"32767, -2147483648, 9223372036854775807, 19.99, 123456789012345678901234567890, "
     "'Gr\xc3\xb6\xc3\x9f" "e \"q\" \\ end', 'varchar-20', 'AB', true, '2026-11-24', "
     "'2026-11-24 10:00:00.5', '2026-11-24 10:00:00.5+00', "
     "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '{\"b\": 1, \"a\": [1, 2.5, \"x\"]}', "
     "'{\"b\": 1, \"a\": 12345678901234567890}', 'small'",
     "\"c_int2\":32767,\"c_int4\":-2147483648,\"c_int8\":9223372036854775807,"
     "\"c_numeric\":19.99,\"c_numeric_free\":\"123456789012345678901234567890\","
     "\"c_text\":\"Gr\xc3\xb6\xc3\x9f" "e \\\"q\\\" \\\\ end\",\"c_varchar\":\"varchar-20\","
     "\"c_bpchar\":\"AB   \",\"c_bool\":true,\"c_date\":\"2026-11-24\","
     "\"c_ts\":\"2026-11-24T10:00:00.5\",\"c_tstz\":\"2026-11-24T10:00:00.5Z\","
     "\"c_uuid\":\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\","
     "\"c_json\":{\"b\":1,\"a\":[1,2.5,\"x\"]},"
     "\"c_jsonb\":{\"a\":\"12345678901234567890\",\"b\":1},\"c_big\":\"small\"}"},
    {"-32768, 2147483647, -9223372036854775808, -0.01, 'NaN', '', 'x', '', false, "
     "'infinity', '-infinity', '2026-11-24 15:30:00.123456+05:30', "
     "'00000000-0000-0000-0000-000000000000', '123456789012345678901234567890.5', "
     "'\"str\"', NULL",
     "\"c_int2\":-32768,\"c_int4\":2147483647,\"c_int8\":-9223372036854775808,"
     "\"c_numeric\":-0.01,\"c_numeric_free\":\"NaN\",\"c_text\":\"\",\"c_varchar\":\"x\","
     "\"c_bpchar\":\"     \",\"c_bool\":false,\"c_date\":\"infinity\","
     "\"c_ts\":\"-infinity\",\"c_tstz\":\"2026-11-24T10:00:00.123456Z\","
     "\"c_uuid\":\"00000000-0000-0000-0000-000000000000\","
     "\"c_json\":\"123456789012345678901234567890.5\",\"c_jsonb\":\"str\",\"c_big\":null}"},
    {"0, 0, 0, 9999999999.99, -9223372036854775808, 'plain', '12345678901234567890', "
     "'ABCDE', true, '0044-03-15 BC', '2024-02-29 23:59:59.999999', "
     "'0044-03-15 10:00:00+00 BC', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', "
     "'{\"n\": 0.1, \"deep\": {\"x\": null}}', '[1, -2.5, true, null]', 'x'",
     "\"c_int2\":0,\"c_int4\":0,\"c_int8\":0,\"c_numeric\":9999999999.99,"
     "\"c_numeric_free\":-9223372036854775808,\"c_text\":\"plain\","
     "\"c_varchar\":\"12345678901234567890\",\"c_bpchar\":\"ABCDE\",\"c_bool\":true,"
     "\"c_date\":\"0044-03-15 BC\",\"c_ts\":\"2024-02-29T23:59:59.999999\","
     "\"c_tstz\":\"0044-03-15 10:00:00+00 BC\","
     "\"c_uuid\":\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\","
     "\"c_json\":{\"n\":0.1,\"deep\":{\"x\":null}},\"c_jsonb\":[1,-2.5,true,null],"
     "\"c_big\":\"x\"}"},
    {"NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
     "NULL, NULL",
     "\"c_int2\":null,\"c_int4\":null,\"c_int8\":null,\"c_numeric\":null,"
     "\"c_numeric_free\":null,\"c_text\":null,\"c_varchar\":null,\"c_bpchar\":null,"
     "\"c_bool\":null,\"c_date\":null,\"c_ts\":null,\"c_tstz\":null,\"c_uuid\":null,"
     "\"c_json\":null,\"c_jsonb\":null,\"c_big\":null}"},
};
#define NROWS (sizeof ROWS / sizeof ROWS[0])
#define STREAMED_ID(i) (100 + (int)(i))

static int insert_typed(int id, const struct typed_row *row)
{
    char text[2048];
    snprintf(text, sizeof text, "INSERT INTO typed (" TYPED_COLUMNS ") VALUES (%d, %s)", id,
             row->values);
    return sql(text);
}

static char *expected_after(int id, const char *rest)
{
    char *s;
    if (asprintf(&s, "{\"id\":%d,%s", id, rest) < 0) return NULL;
    return s;
}

/* ---- the daemon and the backbone --------------------------------------------- */

static int start_daemon(void)
{
    const char *bin = getenv("STOCKMESHD");
    char *const argv[] = {(char *)(bin ? bin : "build/asan/stockmeshd"), "-c", W.config_path,
                          "--roles", "cdc", NULL};
    W.daemon = servers_spawn(argv, W.log_path);
    return W.daemon > 0 ? 0 : -1;
}

static void stop_daemon(void)
{
    if (W.daemon <= 0) return;
    kill(W.daemon, SIGTERM);
    int status;
    waitpid(W.daemon, &status, 0);
    W.daemon = 0;
}

/* The bootstrap address the daemon published in <state_dir>/backbone ("bootstrap=…"). */
static int read_bootstrap(char *out, size_t outlen, int timeout_ms)
{
    char path[600];
    snprintf(path, sizeof path, "%s/state/backbone", W.dir);
    double deadline = now_ms() + timeout_ms;
    do {
        FILE *f = fopen(path, "r");
        if (f) {
            char line[512];
            int found = 0;
            while (!found && fgets(line, sizeof line, f)) {
                line[strcspn(line, "\n")] = 0;
                if (strncmp(line, "bootstrap=", 10) == 0 && line[10]) {
                    snprintf(out, outlen, "%.*s", (int)outlen - 1, line + 10);
                    found = 1;
                }
            }
            fclose(f);
            if (found) return 0;
        }
        usleep(100 * 1000);
    } while (now_ms() < deadline);
    return -1;
}

/* Partition 0 of each topic from the beginning (the config asks for one partition,
 * so each table's events keep their order). Waits until the daemon created them: a
 * metadata request for all topics never auto-creates one with the mock's default. */
static int start_consumer(void)
{
    char bootstrap[256], err[512];
    if (read_bootstrap(bootstrap, sizeof bootstrap, WAIT_MS) != 0) {
        fprintf(stderr, "no backbone file\n");
        return -1;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err) ||
        rd_kafka_conf_set(conf, "group.id", "test-pg-types", err, sizeof err) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err) ||
        rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", err, sizeof err)) {
        fprintf(stderr, "consumer config: %s\n", err);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    W.consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!W.consumer) {
        fprintf(stderr, "consumer: %s\n", err);
        return -1;
    }
    static const char *const topics[] = {TOPIC_TYPED, TOPIC_FULL};
    double deadline = now_ms() + WAIT_MS;
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        size_t found = 0;
        if (rd_kafka_metadata(W.consumer, 1, NULL, &md, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            for (int i = 0; i < md->topic_cnt; i++)
                for (size_t t = 0; t < 2; t++)
                    if (strcmp(md->topics[i].topic, topics[t]) == 0 && !md->topics[i].err &&
                        md->topics[i].partition_cnt == 1)
                        found++;
            rd_kafka_metadata_destroy(md);
        }
        if (found == 2) break;
        if (now_ms() > deadline) {
            fprintf(stderr, "the daemon never created its topics\n");
            return -1;
        }
        usleep(200 * 1000);
    }
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(2);
    for (size_t t = 0; t < 2; t++)
        rd_kafka_topic_partition_list_add(parts, topics[t], 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t e = rd_kafka_assign(W.consumer, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (e) {
        fprintf(stderr, "assign: %s\n", rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

static void remember(const rd_kafka_message_t *m)
{
    if (W.nseen == W.capseen) {
        size_t cap = W.capseen ? W.capseen * 2 : 64;
        struct message *seen = realloc(W.seen, cap * sizeof *seen);
        assert_non_null(seen);
        W.seen = seen;
        W.capseen = cap;
    }
    struct message *s = &W.seen[W.nseen++];
    s->topic = strdup(rd_kafka_topic_name(m->rkt));
    s->payload = malloc(m->len + 1);
    assert_non_null(s->topic);
    assert_non_null(s->payload);
    memcpy(s->payload, m->payload, m->len);
    s->payload[m->len] = '\0';
}

/* The n-th (0-based) event of topic with this op and after.id / before.id, or NULL. */
static const char *find_event(const char *topic, char op, long long id, int nth)
{
    for (size_t i = 0; i < W.nseen; i++) {
        if (strcmp(W.seen[i].topic, topic) != 0) continue;
        json_t *root = json_loads(W.seen[i].payload, 0, NULL);
        const char *got_op = json_string_value(json_object_get(root, "op"));
        json_t *row = json_object_get(root, op == 'd' ? "before" : "after");
        int match = got_op && got_op[0] == op &&
                    json_integer_value(json_object_get(row, "id")) == id;
        json_decref(root);
        if (match && nth-- == 0) return W.seen[i].payload;
    }
    return NULL;
}

/* Consumes until the event is there; NULL after timeout_ms. */
static const char *wait_event(const char *topic, char op, long long id, int nth, int timeout_ms)
{
    double deadline = now_ms() + timeout_ms;
    for (;;) {
        const char *found = find_event(topic, op, id, nth);
        if (found) return found;
        if (now_ms() > deadline) return NULL;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(W.consumer, 100);
        if (!m) continue;
        if (!m->err)
            remember(m);
        else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            fprintf(stderr, "consume: %s\n", rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
    }
}

static const char *must_event(const char *topic, char op, long long id, int nth)
{
    const char *payload = wait_event(topic, op, id, nth, WAIT_MS);
    if (!payload) {
        show_daemon_log();
        fail_msg("no op \"%c\" event for id %lld on %s", op, id, topic);
    }
    return payload;
}

/* The event's "after" exactly as it was written: the text between "after": and
 * ,"op": (neither can occur unescaped inside a JSON string). malloc'd. */
static char *raw_after(const char *payload)
{
    const char *start = strstr(payload, "\"after\":");
    const char *end = start ? strstr(start, ",\"op\":\"") : NULL;
    if (!start || !end) fail_msg("event without after: %.300s", payload);
    start += strlen("\"after\":");
    return strndup(start, (size_t)(end - start));
}

static json_t *parsed_after(const char *payload)
{
    json_error_t jerr;
    json_t *root = json_loads(payload, 0, &jerr);
    if (!root) fail_msg("event is not JSON: %s", jerr.text);
    json_t *after = json_incref(json_object_get(root, "after"));
    json_decref(root);
    if (!json_is_object(after)) fail_msg("event without an after object: %.300s", payload);
    return after;
}

static void assert_after(const char *payload, int id, const char *rest)
{
    char *want = expected_after(id, rest);
    char *got = raw_after(payload);
    assert_non_null(want);
    if (strcmp(got, want) != 0) fail_msg("after of id %d:\n got  %s\n want %s", id, got, want);
    free(want);
    free(got);
}

/* ---- setup ----------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    char err[1024];
    snprintf(W.dir, sizeof W.dir, "%s/stockmesh-pgtypes-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(W.dir)) return -1;
    if (servers_start(&W.pg, SERVERS_POSTGRES, NULL, 0, err, sizeof err) != 0 ||
        servers_start(&W.redis, SERVERS_REDIS, NULL, 0, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    if (servers_pg_exec(&W.pg, NULL, "CREATE DATABASE shop", err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    if (sql("CREATE TABLE typed (id int8 PRIMARY KEY, c_int2 int2, c_int4 int4, c_int8 int8, "
            "c_numeric numeric(12,2), c_numeric_free numeric, c_text text, "
            "c_varchar varchar(20), c_bpchar char(5), c_bool bool, c_date date, "
            "c_ts timestamp, c_tstz timestamptz, c_uuid uuid, c_json json, c_jsonb jsonb, "
            "c_big text);"
            "CREATE TABLE toast_full (id int8 PRIMARY KEY, c_int4 int4, c_text text, "
            "c_big text);"
            "ALTER TABLE toast_full REPLICA IDENTITY FULL;"
            "CREATE ROLE stockmesh LOGIN REPLICATION;"
            "ALTER TABLE typed OWNER TO stockmesh;"
            "ALTER TABLE toast_full OWNER TO stockmesh;"
            "GRANT CREATE ON DATABASE shop TO stockmesh;") != 0)
        return -1;
    /* rows written before the daemon starts come through the snapshot */
    for (size_t i = 0; i < NROWS; i++)
        if (insert_typed((int)i + 1, &ROWS[i]) != 0) return -1;

    snprintf(W.config_path, sizeof W.config_path, "%s/stockmesh.yaml", W.dir);
    snprintf(W.log_path, sizeof W.log_path, "%s/stockmeshd.log", W.dir);
    FILE *f = fopen(W.config_path, "w");
    if (!f) return -1;
    fprintf(f,
            "state_dir: %s/state\n"
            "log:\n  level: info\n"
            "backbone:\n  brokers: embedded\n  partitions: 1\n"
            "redis:\n  host: 127.0.0.1\n  port: %d\n  persist_delay_ms: 200\n"
            "sources:\n"
            "  - name: " SOURCE "\n    type: postgres\n"
            "    dsn: \"host=127.0.0.1 port=%d dbname=shop user=stockmesh\"\n"
            "    tables:\n"
            "      - table: public.typed\n        sku: id\n        location_code: WH1\n"
            "        on_hand: c_int4\n"
            "      - table: public.toast_full\n        sku: c_text\n"
            "        location_code: WH1\n        on_hand: c_int4\n"
            "locations:\n  - code: WH1\n    type: warehouse\n",
            W.dir, W.redis.port, W.pg.port);
    fclose(f);
    if (start_daemon() != 0 || start_consumer() != 0) {
        show_daemon_log();
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (W.consumer) {
        rd_kafka_consumer_close(W.consumer);
        rd_kafka_destroy(W.consumer);
        W.consumer = NULL;
    }
    stop_daemon();
    servers_stop(&W.pg);
    servers_stop(&W.redis);
    for (size_t i = 0; i < W.nseen; i++) {
        free(W.seen[i].topic);
        free(W.seen[i].payload);
    }
    free(W.seen);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", W.dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", W.dir);
    return 0;
}

/* ---- tests ----------------------------------------------------------------------- */

static void test_snapshot_rows(void **state)
{
    (void)state;
    for (size_t i = 0; i < NROWS; i++) {
        const char *payload = must_event(TOPIC_TYPED, 'r', (long long)i + 1, 0);
        assert_after(payload, (int)i + 1, ROWS[i].after);
    }
}

static void test_streamed_rows(void **state)
{
    (void)state;
    /* the snapshot's events are on the topic, so the slot exists: these are streamed */
    assert_non_null(must_event(TOPIC_TYPED, 'r', 1, 0));
    for (size_t i = 0; i < NROWS; i++)
        assert_int_equal(insert_typed(STREAMED_ID(i), &ROWS[i]), 0);
    for (size_t i = 0; i < NROWS; i++) {
        const char *payload = must_event(TOPIC_TYPED, 'c', STREAMED_ID(i), 0);
        assert_after(payload, STREAMED_ID(i), ROWS[i].after);
    }
    /* an UPDATE carries the whole new row; numeric with a scale, another offset */
    char text[256];
    snprintf(text, sizeof text,
             "UPDATE typed SET c_numeric_free = -12.50, c_tstz = '2026-01-01 02:00:00+03', "
             "c_bool = NULL WHERE id = %d",
             STREAMED_ID(0));
    assert_int_equal(sql(text), 0);
    const char *payload = must_event(TOPIC_TYPED, 'u', STREAMED_ID(0), 0);
    json_t *after = parsed_after(payload);
    char *dumped = json_dumps(after, JSON_COMPACT | JSON_REAL_PRECISION(15));
    assert_non_null(dumped);
    char *raw = raw_after(payload);
    assert_string_equal(raw, dumped); /* the raw text is jansson's: compare by fields */
    free(raw);
    free(dumped);
    static const char *const changed[][2] = {
        {"c_numeric_free", "-12.5"}, {"c_tstz", "\"2025-12-31T23:00:00Z\""}, {"c_bool", "null"},
        {"c_numeric", "19.99"}, {"c_int8", "9223372036854775807"},
        {"c_ts", "\"2026-11-24T10:00:00.5\""},
    };
    for (size_t i = 0; i < sizeof changed / sizeof changed[0]; i++) {
        json_t *v = json_object_get(after, changed[i][0]);
        char *got = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15))
                      : NULL;
        if (!got || strcmp(got, changed[i][1]) != 0)
            fail_msg("update: %s is %s, want %s", changed[i][0], got ? got : "(absent)",
                     changed[i][1]);
        free(got);
    }
    json_decref(after);
}

/* The 100 kB value PostgreSQL holds for the row, after checking that the table's
 * TOAST relation holds chunks (only this row's c_big is big enough to go there), so
 * an UPDATE of another column leaves it as an unchanged TOAST pointer. */
static char *stored_big(const char *table, int id)
{
    char text[256];
    snprintf(text, sizeof text, "SELECT reltoastrelid::regclass FROM pg_class WHERE relname = '%s'",
             table);
    char *toast = servers_pg_query_value(&W.pg, "shop", text);
    assert_non_null(toast);
    snprintf(text, sizeof text, "SELECT count(*) > 0 FROM %s", toast);
    free(toast);
    char *ok = servers_pg_query_value(&W.pg, "shop", text);
    assert_non_null(ok);
    assert_string_equal(ok, "t");
    free(ok);
    snprintf(text, sizeof text, "SELECT c_big FROM %s WHERE id = %d", table, id);
    char *big = servers_pg_query_value(&W.pg, "shop", text);
    assert_non_null(big);
    assert_int_equal(strlen(big), BIG_CHUNKS * 32);
    return big;
}

static void insert_big(const char *table, int id)
{
    char text[512];
    /* md5 chunks: deterministic, and too random for pglz to fit in a page */
    snprintf(text, sizeof text,
             "INSERT INTO %s (id, c_int4, c_text, c_big) SELECT %d, 1, 'big', "
             "string_agg(md5('stockmesh-' || i), '' ORDER BY i) FROM generate_series(1, %d) i",
             table, id, BIG_CHUNKS);
    assert_int_equal(sql(text), 0);
}

/* Default replica identity: the UPDATE's unchanged TOASTed column is absent from after,
 * not null and not a placeholder. */
static void test_toast_default_identity_omits(void **state)
{
    (void)state;
    insert_big("typed", 500);
    char *big = stored_big("typed", 500);
    json_t *after = parsed_after(must_event(TOPIC_TYPED, 'c', 500, 0));
    assert_string_equal(json_string_value(json_object_get(after, "c_big")), big);
    json_decref(after);

    assert_int_equal(sql("UPDATE typed SET c_int4 = 2 WHERE id = 500"), 0);
    after = parsed_after(must_event(TOPIC_TYPED, 'u', 500, 0));
    assert_int_equal(json_integer_value(json_object_get(after, "c_int4")), 2);
    assert_string_equal(json_string_value(json_object_get(after, "c_text")), "big");
    assert_true(json_is_null(json_object_get(after, "c_jsonb")));   /* a real NULL stays */
    json_t *v = json_object_get(after, "c_big");
    if (v)
        fail_msg("unchanged TOAST under the default identity must be absent, got a%s",
                 json_is_null(v) ? " null" : json_is_string(v) ? " string" : "nother value");
    json_decref(after);
    free(big);
}

/* REPLICA IDENTITY FULL: the old row carries the value, so the UPDATE's after has it.
 * Needs the reader (services/cdc/postgres.c) to pass the decoded old tuple as
 * pgoutput_tuple_to_json's previous. */
static void test_toast_full_identity_completes(void **state)
{
    (void)state;
    insert_big("toast_full", 1);
    char *big = stored_big("toast_full", 1);
    json_t *after = parsed_after(must_event(TOPIC_FULL, 'c', 1, 0));
    assert_string_equal(json_string_value(json_object_get(after, "c_big")), big);
    json_decref(after);

    assert_int_equal(sql("UPDATE toast_full SET c_int4 = 2 WHERE id = 1"), 0);
    const char *payload = must_event(TOPIC_FULL, 'u', 1, 0);
    after = parsed_after(payload);
    assert_int_equal(json_integer_value(json_object_get(after, "c_int4")), 2);
    json_t *v = json_object_get(after, "c_big");
    const char *problem = !v ? "absent" : !json_is_string(v) ? "not a string"
                          : strcmp(json_string_value(v), big) != 0 ? "a different value" : NULL;
    json_decref(after);
    free(big);
    if (problem)
        fail_msg("after.c_big under REPLICA IDENTITY FULL is %s, want the %d-character value "
                 "(does the reader pass the decoded old tuple as previous?)",
                 problem, BIG_CHUNKS * 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_rows),
        cmocka_unit_test(test_streamed_rows),
        cmocka_unit_test(test_toast_default_identity_omits),
        cmocka_unit_test(test_toast_full_identity_completes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
