/* stockmesh — the operator's command line.
 *
 *   stockmesh [-c FILE] config check     validate the configuration, naming each error
 *   stockmesh [-c FILE] sku SKU          stock per location and source, availability per channel
 */
#include "stockmesh/config.h"
#include "stockmesh/redis.h"

#include <getopt.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define DEFAULT_CONFIG "/etc/stockmesh/stockmesh.yaml"

static void usage(FILE *to)
{
    fprintf(to, "usage: stockmesh [-c FILE] config check\n"
                "       stockmesh [-c FILE] sku SKU\n");
}

static redisContext *connect_redis(const struct config *cfg)
{
    struct timeval timeout = {5, 0};
    redisContext *c = redisConnectWithTimeout(cfg->redis.host, cfg->redis.port, timeout);
    if (!c || c->err) {
        fprintf(stderr, "stockmesh: cannot connect to Redis at %s:%d: %s\n", cfg->redis.host,
                cfg->redis.port, c ? c->errstr : "out of memory");
        if (c) redisFree(c);
        return NULL;
    }
    if (cfg->redis.password_file) {
        char password[256], err[512];
        if (redis_read_password(cfg->redis.password_file, password, sizeof password, err,
                                sizeof err) != 0) {
            fprintf(stderr, "stockmesh: %s\n", err);
            redisFree(c);
            return NULL;
        }
        redisReply *r = redisCommand(c, "AUTH %s", password);
        int ok = r && r->type != REDIS_REPLY_ERROR;
        freeReplyObject(r);
        if (!ok) {
            fprintf(stderr, "stockmesh: Redis refused the password\n");
            redisFree(c);
            return NULL;
        }
    }
    return c;
}

static redisReply *hgetall(redisContext *c, const char *sku, const char *suffix)
{
    return redisCommand(c, "HGETALL sm:{%s}:%s", sku, suffix);
}

static int show_sku(const struct config *cfg, const char *sku)
{
    redisContext *c = connect_redis(cfg);
    if (!c) return 1;
    redisReply *facts = hgetall(c, sku, "f");
    redisReply *locs = hgetall(c, sku, "l");
    redisReply *chans = hgetall(c, sku, "c");
    int status = 0;
    if (!facts || !locs || !chans || facts->type != REDIS_REPLY_ARRAY) {
        fprintf(stderr, "stockmesh: Redis error: %s\n", c->errstr[0] ? c->errstr : "bad reply");
        status = 1;
        goto out;
    }
    if (facts->elements == 0) {
        printf("SKU %s: no stock known\n", sku);
        status = 3;
        goto out;
    }
    printf("SKU %s\n\nper location (authoritative figures):\n", sku);
    printf("  %-12s %9s %9s %11s %9s\n", "location", "on_hand", "committed", "unavailable",
           "available");
    for (size_t i = 0; i + 1 < locs->elements; i += 2) {
        long long oh, cm, un, av;
        if (sscanf(locs->element[i + 1]->str, "%lld|%lld|%lld|%lld", &oh, &cm, &un, &av) == 4)
            printf("  %-12s %9lld %9lld %11lld %9lld\n", locs->element[i]->str, oh, cm, un, av);
    }
    printf("\nper location and source:\n  %-12s %-12s %-11s %9s %-24s %s\n", "location",
           "source", "quantity", "value", "position", "committed at (UTC)");
    for (size_t i = 0; i + 1 < facts->elements; i += 2) {
        char loc[128], src[128], pos[64];
        char kind;
        long long qty, ts;
        if (sscanf(facts->element[i]->str, "%127[^|]|%127[^|]|%c", loc, src, &kind) != 3) continue;
        if (sscanf(facts->element[i + 1]->str, "%63[^|]|%lld|%lld", pos, &qty, &ts) != 3) continue;
        time_t secs = (time_t)(ts / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        char when[32];
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
        printf("  %-12s %-12s %-11s %9lld %-24s %s\n", loc, src,
               kind == 'o' ? "on_hand" : kind == 'c' ? "committed" : "unavailable", qty, pos, when);
    }
    printf("\nper channel:\n  %-16s %9s %8s %10s\n", "channel", "available", "version",
           "delivered");
    for (size_t i = 0; i + 1 < chans->elements; i += 2) {
        const char *field = chans->element[i]->str;
        if (strchr(field, '#')) continue;
        long long sum, av, ver;
        if (sscanf(chans->element[i + 1]->str, "%lld|%lld|%lld", &sum, &av, &ver) != 3) continue;
        long long delivered = 0;
        char dfield[256];
        snprintf(dfield, sizeof dfield, "%s#d", field);
        for (size_t j = 0; j + 1 < chans->elements; j += 2)
            if (strcmp(chans->element[j]->str, dfield) == 0)
                delivered = strtoll(chans->element[j + 1]->str, NULL, 10);
        printf("  %-16s %9lld %8lld %10lld%s\n", field, av, ver, delivered,
               delivered < ver ? "  (pending)" : "");
    }
out:
    freeReplyObject(facts);
    freeReplyObject(locs);
    freeReplyObject(chans);
    redisFree(c);
    return status;
}

int main(int argc, char **argv)
{
    const char *config_path = DEFAULT_CONFIG;
    static const struct option options[] = {{"config", required_argument, NULL, 'c'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "+c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[optind];
    char err[1024];
    if (strcmp(cmd, "config") == 0) {
        if (optind + 1 >= argc || strcmp(argv[optind + 1], "check") != 0) {
            usage(stderr);
            return 2;
        }
        if (optind + 2 < argc) config_path = argv[optind + 2];
        struct config *cfg = config_load(config_path, err, sizeof err);
        if (!cfg) {
            fprintf(stderr, "%s\n", err);
            return 2;
        }
        printf("%s: configuration is valid (%zu sources, %zu locations, %zu channels)\n",
               config_path, cfg->nsources, cfg->nlocations, cfg->nchannels);
        config_free(cfg);
        return 0;
    }
    if (strcmp(cmd, "sku") == 0) {
        if (optind + 1 >= argc) {
            usage(stderr);
            return 2;
        }
        struct config *cfg = config_load(config_path, err, sizeof err);
        if (!cfg) {
            fprintf(stderr, "%s\n", err);
            return 2;
        }
        int rc = show_sku(cfg, argv[optind + 1]);
        config_free(cfg);
        return rc;
    }
    fprintf(stderr, "stockmesh: unknown command \"%s\"\n", cmd);
    usage(stderr);
    return 2;
}
