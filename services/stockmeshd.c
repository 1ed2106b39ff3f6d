/* stockmeshd — the stockmesh daemon. Runs the roles cdc, merge, push and console in
 * one process (the default) or the ones named with --roles (DESIGN §1). */
#include "cdc/cdc.h"
#include "console/console.h"
#include "merge/merge.h"
#include "push/push.h"
#include "stockmesh/config.h"
#include "stockmesh/kafka.h"
#include "stockmesh/log.h"
#include "stockmesh/metrics.h"
#include "stockmesh/runtime.h"
#include "stockmesh/store.h"

#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_CONFIG "/etc/stockmesh/stockmesh.yaml"

enum { ROLE_CDC = 1, ROLE_MERGE = 2, ROLE_PUSH = 4, ROLE_CONSOLE = 8, ROLE_ALL = 15 };

static void usage(FILE *to)
{
    fprintf(to,
            "usage: stockmeshd [-c FILE] [--roles cdc,merge,push,console] [--check]\n"
            "  -c, --config FILE   configuration (default " DEFAULT_CONFIG ")\n"
            "      --roles LIST    roles to run in this process (default: all)\n"
            "      --check         validate the configuration and exit\n");
}

static int parse_roles(const char *list, int *roles)
{
    *roles = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "cdc") == 0) *roles |= ROLE_CDC;
        else if (strcmp(tok, "merge") == 0) *roles |= ROLE_MERGE;
        else if (strcmp(tok, "push") == 0) *roles |= ROLE_PUSH;
        else if (strcmp(tok, "console") == 0) *roles |= ROLE_CONSOLE;
        else {
            fprintf(stderr, "stockmeshd: unknown role \"%s\" (roles: cdc, merge, push, console)\n",
                    tok);
            return -1;
        }
    }
    return *roles ? 0 : -1;
}

static int mkdir_p(const char *path)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0750) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(buf, 0750) != 0 && errno != EEXIST ? -1 : 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    log_info("stockmeshd", "%s received; stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
    const char *config_path = DEFAULT_CONFIG;
    int roles = ROLE_ALL, check_only = 0;
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'}, {"roles", required_argument, NULL, 'r'},
        {"check", no_argument, NULL, 'k'},        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 'r':
            if (parse_roles(optarg, &roles) != 0) return 2;
            break;
        case 'k': check_only = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    log_set_ident("stockmeshd");

    char err[1024];
    struct config *cfg = config_load(config_path, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "stockmeshd: %s\n", err);
        return 2;
    }
    if (check_only) {
        printf("%s: configuration is valid\n", config_path);
        config_free(cfg);
        return 0;
    }
    log_set_level((enum log_level)cfg->log_level);
    signal(SIGPIPE, SIG_IGN);

    int status = 1;
    struct runtime rt = {.cfg = cfg};
    struct cdc *cdc = NULL;
    struct merge *merge = NULL;
    struct push *push = NULL;
    struct console *console = NULL;
    struct event *sigint = NULL, *sigterm = NULL;

    if (mkdir_p(cfg->state_dir) != 0) {
        log_error("stockmeshd", "cannot create state directory %s: %s", cfg->state_dir,
                  strerror(errno));
        goto out;
    }
    char db_path[1100];
    snprintf(db_path, sizeof db_path, "%s/state.db", cfg->state_dir);
    rt.store = store_new(db_path, err, sizeof err);
    rt.base = event_base_new();
    rt.metrics = metrics_new();
    if (!rt.store || !rt.base || !rt.metrics) {
        log_error("stockmeshd", "%s", rt.store ? "out of memory" : err);
        goto out;
    }
    rt.kafka = kafka_new(rt.base, cfg, rt.metrics, err, sizeof err);
    if (!rt.kafka) {
        log_error("stockmeshd", "backbone: %s", err);
        goto out;
    }
    /* consumers first, so the first events find their readers waiting */
    if ((roles & ROLE_CONSOLE) && !(console = console_new(&rt, err, sizeof err))) {
        log_error("stockmeshd", "console: %s", err);
        goto out;
    }
    if ((roles & ROLE_PUSH) && !(push = push_new(&rt, err, sizeof err))) {
        log_error("stockmeshd", "push: %s", err);
        goto out;
    }
    if ((roles & ROLE_MERGE) && !(merge = merge_new(&rt, err, sizeof err))) {
        log_error("stockmeshd", "merge: %s", err);
        goto out;
    }
    if ((roles & ROLE_CDC) && !(cdc = cdc_new(&rt, err, sizeof err))) {
        log_error("stockmeshd", "cdc: %s", err);
        goto out;
    }
    sigint = evsignal_new(rt.base, SIGINT, on_signal, rt.base);
    sigterm = evsignal_new(rt.base, SIGTERM, on_signal, rt.base);
    evsignal_add(sigint, NULL);
    evsignal_add(sigterm, NULL);
    log_info("stockmeshd", "running (config %s, state %s, backbone %s)", config_path,
             cfg->state_dir, kafka_bootstrap(rt.kafka));
    event_base_dispatch(rt.base);
    status = kafka_host_lost(rt.kafka) ? 1 : 0;
out:
    cdc_free(cdc);
    merge_free(merge);
    push_free(push);
    console_free(console);
    if (sigint) event_free(sigint);
    if (sigterm) event_free(sigterm);
    kafka_free(rt.kafka);
    metrics_free(rt.metrics);
    store_free(rt.store);
    if (rt.base) event_base_free(rt.base);
    config_free(cfg);
    return status;
}
