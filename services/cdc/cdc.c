/* cdc.c — see cdc.h. */
#include "cdc.h"

#include "mariadb_reader.h"
#include "postgres.h"
#include "stockmesh/config.h"
#include "stockmesh/log.h"
#include "stockmesh/runtime.h"

#include <stdio.h>
#include <stdlib.h>

struct cdc {
    struct pg_reader **pg;
    size_t npg;
    struct mariadb_reader **my;
    size_t nmy;
};

struct cdc *cdc_new(struct runtime *rt, char *err, size_t errlen)
{
    struct cdc *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    const struct config *cfg = rt->cfg;
    c->pg = calloc(cfg->nsources ? cfg->nsources : 1, sizeof *c->pg);
    c->my = calloc(cfg->nsources ? cfg->nsources : 1, sizeof *c->my);
    if (!c->pg || !c->my) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < cfg->nsources; i++) {
        const struct config_source *src = &cfg->sources[i];
        char why[512];
        if (src->type == CONFIG_SOURCE_POSTGRES) {
            c->pg[c->npg] = pg_reader_new(rt, src, why, sizeof why);
            if (!c->pg[c->npg]) goto bad_source;
            c->npg++;
        } else {
            c->my[c->nmy] = mariadb_reader_new(rt, src, why, sizeof why);
            if (!c->my[c->nmy]) goto bad_source;
            c->nmy++;
        }
        continue;
    bad_source:
        snprintf(err, errlen, "source %s: %s", src->name, why);
        goto fail;
    }
    log_info("cdc", "reading %zu sources (%zu PostgreSQL, %zu MariaDB)", c->npg + c->nmy, c->npg,
             c->nmy);
    return c;
fail:
    cdc_free(c);
    return NULL;
}

void cdc_free(struct cdc *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->npg; i++) pg_reader_free(c->pg[i]);
    for (size_t i = 0; i < c->nmy; i++) mariadb_reader_free(c->my[i]);
    free(c->pg);
    free(c->my);
    free(c);
}
