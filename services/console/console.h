/* console.h — the console role: the local HTTP face of the appliance. For now
 * /healthz (200 when Redis is reachable, 503 otherwise, with the reason), /metrics
 * (Prometheus text of every role in this process) and the REST API's sources (api.h). */
#ifndef STOCKMESH_CONSOLE_H
#define STOCKMESH_CONSOLE_H

#include <stddef.h>

struct runtime;
struct console;

/* Listens on console.listen. NULL with the reason in err. */
struct console *console_new(struct runtime *rt, char *err, size_t errlen);

/* The port actually listened on. */
int console_port(const struct console *c);

/* Stops listening. */
void console_free(struct console *c);

#endif
