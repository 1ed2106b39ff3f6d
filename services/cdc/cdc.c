/* cdc.c — see cdc.h. */
#include "cdc.h"

#include "postgres.h"
#include "stockmesh/config.h"
#include "stockmesh/log.h"
#include "stockmesh/runtime.h"

#include <stdio.h>
#include <stdlib.h>

struct cdc {
    struct pg_reader **readers;
    size_t nreaders;
};

struct cdc *cdc_new(struct runtime *rt, char *err, size_t errlen)
{
    struct cdc *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    const struct config *cfg = rt->cfg;
    c->readers = calloc(cfg->nsources ? cfg->nsources : 1, sizeof *c->readers);
    if (!c->readers) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < cfg->nsources; i++) {
        const struct config_source *src = &cfg->sources[i];
        if (src->type != CONFIG_SOURCE_POSTGRES) {
            snprintf(err, errlen, "source %s: type mariadb is not supported by this build yet",
                     src->name);
            goto fail;
        }
        char why[512];
        c->readers[c->nreaders] = pg_reader_new(rt, src, why, sizeof why);
        if (!c->readers[c->nreaders]) {
            snprintf(err, errlen, "source %s: %s", src->name, why);
            goto fail;
        }
        c->nreaders++;
    }
    log_info("cdc", "reading %zu sources", c->nreaders);
    return c;
fail:
    cdc_free(c);
    return NULL;
}

void cdc_free(struct cdc *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->nreaders; i++) pg_reader_free(c->readers[i]);
    free(c->readers);
    free(c);
}
