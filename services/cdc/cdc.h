/* cdc.h — the cdc role: one change reader per configured source (DESIGN §1). */
#ifndef STOCKMESH_CDC_H
#define STOCKMESH_CDC_H

#include <stddef.h>

struct runtime;
struct cdc;

/* Starts a reader for every source. NULL with the reason in err. */
struct cdc *cdc_new(struct runtime *rt, char *err, size_t errlen);

/* Stops every reader. */
void cdc_free(struct cdc *c);

#endif
