/* skuview.h — `stockmesh sku SKU [--json]`: what the unified layer holds for one SKU,
 * read straight from Redis: per location the authoritative figures and the rules they
 * break, per location and source every kind's quantity, position and commit time, per
 * channel (pickup channels per location) the availability, its version, the version
 * delivered and whether the newest is still pending. */
#ifndef STOCKMESH_CLI_SKUVIEW_H
#define STOCKMESH_CLI_SKUVIEW_H

struct config;

/* Exit status of `stockmesh sku` for an unknown SKU. */
#define SKUVIEW_UNKNOWN 3

/* Prints sku as text, or as one JSON object when as_json. Returns the command's exit
 * status: 0, 1 (Redis unreachable or unreadable), SKUVIEW_UNKNOWN. */
int skuview_show(const struct config *cfg, const char *sku, int as_json);

#endif
