/* api.h — the console's REST API under /api/v1 (DESIGN §6). For now the sources:
 *
 *   GET /api/v1/sources          {"sources": [status, …]} in configuration order
 *   GET /api/v1/sources/<name>   the status object of one source (404 when not configured)
 *
 * The objects are the CDC readers' own status (see sources.h) plus "stale". Every error
 * is a JSON object naming the problem; methods other than GET/HEAD answer 405. Like
 * /metrics these read-only pages are not authenticated yet. */
#ifndef STOCKMESH_CONSOLE_API_H
#define STOCKMESH_CONSOLE_API_H

#include <stddef.h>

struct http_server;
struct runtime;
struct api;

/* Routes the API on http, reading the state database of rt. NULL with the reason in err;
 * the caller frees it with api_free() before the server. */
struct api *api_new(struct runtime *rt, struct http_server *http, char *err, size_t errlen);

/* Frees the API's own state (the routes go with the server). NULL is fine. */
void api_free(struct api *a);

#endif
