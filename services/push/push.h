/* push.h — the push role: availability → the online channels (DESIGN §4, §6). */
#ifndef STOCKMESH_PUSH_H
#define STOCKMESH_PUSH_H

#include <stddef.h>

struct runtime;
struct push;

/* Joins the "stockmesh-push" group on the availability topic and starts delivering
 * to every configured channel. NULL with the reason in err. */
struct push *push_new(struct runtime *rt, char *err, size_t errlen);

/* Stops delivering; what was not delivered stays pending in Redis. */
void push_free(struct push *p);

#endif
