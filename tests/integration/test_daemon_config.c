/* test_daemon_config — a bad configuration stops stockmeshd (and `stockmesh config
 * check`) with a non-zero exit and a message naming file:line and the key. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "servers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char GOOD[] =
    "state_dir: /tmp/stockmesh-config-test-state\n"        /* 1 */
    "backbone:\n"                                           /* 2 */
    "  brokers: embedded\n"                                 /* 3 */
    "redis:\n"                                              /* 4 */
    "  port: 6379\n"                                        /* 5 */
    "sources:\n"                                            /* 6 */
    "  - name: erp\n"                                       /* 7 */
    "    type: postgres\n"                                  /* 8 */
    "    dsn: \"host=127.0.0.1 dbname=retail\"\n"           /* 9 */
    "    tables:\n"                                         /* 10 */
    "      - table: public.stock_levels\n"                  /* 11 */
    "        sku: sku\n"                                    /* 12 */
    "        location: location_code\n"                     /* 13 */
    "        on_hand: on_hand\n"                            /* 14 */
    "locations:\n"                                          /* 15 */
    "  - code: WH1\n"                                       /* 16 */
    "    type: warehouse\n";                                /* 17 */

struct outcome {
    int status;
    char output[4096];
};

/* Writes yaml to a temp file, runs the program on it, returns exit status and output. */
static void run_on(const char *program_env, const char *fallback, const char *const *args,
                   const char *yaml, char *path_out, size_t path_len, struct outcome *out)
{
    char dir[] = "/tmp/stockmesh-cfg-XXXXXX";
    assert_non_null(mkdtemp(dir));
    snprintf(path_out, path_len, "%s/stockmesh.yaml", dir);
    FILE *f = fopen(path_out, "w");
    fputs(yaml, f);
    fclose(f);
    char log[300];
    snprintf(log, sizeof log, "%s/out.log", dir);
    const char *bin = getenv(program_env) ? getenv(program_env) : fallback;
    char *argv[8];
    int n = 0;
    argv[n++] = (char *)bin;
    for (; *args; args++) argv[n++] = strcmp(*args, "@") == 0 ? path_out : (char *)*args;
    argv[n] = NULL;
    pid_t pid = servers_spawn(argv, log);
    assert_true(pid > 0);
    int status;
    waitpid(pid, &status, 0);
    out->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    f = fopen(log, "r");
    size_t len = f ? fread(out->output, 1, sizeof out->output - 1, f) : 0;
    out->output[len] = 0;
    if (f) fclose(f);
    unlink(log);
    /* the path stays valid for the message check; the file itself goes */
    unlink(path_out);
    rmdir(dir);
}

static void expect_error(const char *yaml, const char *where_key_problem)
{
    static const char *const daemon_args[] = {"-c", "@", NULL};
    static const char *const cli_args[] = {"config", "check", "@", NULL};
    char path[256], expected[512];
    struct outcome out;

    run_on("STOCKMESHD", "build/asan/stockmeshd", daemon_args, yaml, path, sizeof path, &out);
    snprintf(expected, sizeof expected, "%s:%s", path, where_key_problem);
    if (out.status == 0 || !strstr(out.output, expected))
        fail_msg("stockmeshd: exit %d, wanted \"%s\" in: %s", out.status, expected, out.output);

    run_on("STOCKMESH", "build/asan/stockmesh", cli_args, yaml, path, sizeof path, &out);
    snprintf(expected, sizeof expected, "%s:%s", path, where_key_problem);
    if (out.status == 0 || !strstr(out.output, expected))
        fail_msg("stockmesh config check: exit %d, wanted \"%s\" in: %s", out.status, expected,
                 out.output);
}

static char *replace(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    assert_non_null(at);
    char *out = malloc(strlen(text) + strlen(to) + 1);
    sprintf(out, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    return out;
}

static void test_good_config_passes_the_check(void **state)
{
    (void)state;
    static const char *const cli_args[] = {"config", "check", "@", NULL};
    char path[256];
    struct outcome out;
    run_on("STOCKMESH", "build/asan/stockmesh", cli_args, GOOD, path, sizeof path, &out);
    assert_int_equal(out.status, 0);
    assert_non_null(strstr(out.output, "configuration is valid"));
}

static void test_unknown_key_names_line_and_key(void **state)
{
    (void)state;
    char *yaml = replace(GOOD, "        sku: sku\n", "        skew: sku\n");
    expect_error(yaml, "12: sources[0].tables[0].skew: unknown key");
    free(yaml);
}

static void test_wrong_type_names_line_and_key(void **state)
{
    (void)state;
    char *yaml = replace(GOOD, "  port: 6379\n", "  port: sixty\n");
    expect_error(yaml, "5: redis.port: expected an integer, got \"sixty\"");
    free(yaml);
}

static void test_missing_required_field_names_line_and_key(void **state)
{
    (void)state;
    char *yaml = replace(GOOD, "    dsn: \"host=127.0.0.1 dbname=retail\"\n", "");
    expect_error(yaml, "7: sources[0]: missing required key \"dsn\"");
    free(yaml);
}

static void test_unreadable_file_is_named(void **state)
{
    (void)state;
    char log[] = "/tmp/stockmesh-cfg-missing.log";
    const char *bin = getenv("STOCKMESHD") ? getenv("STOCKMESHD") : "build/asan/stockmeshd";
    char *argv[] = {(char *)bin, "-c", "/nonexistent/stockmesh.yaml", NULL};
    pid_t pid = servers_spawn(argv, log);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    FILE *f = fopen(log, "r");
    char text[1024] = "";
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    unlink(log);
    assert_non_null(strstr(text, "/nonexistent/stockmesh.yaml"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_config_passes_the_check),
        cmocka_unit_test(test_unknown_key_names_line_and_key),
        cmocka_unit_test(test_wrong_type_names_line_and_key),
        cmocka_unit_test(test_missing_required_field_names_line_and_key),
        cmocka_unit_test(test_unreadable_file_is_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
