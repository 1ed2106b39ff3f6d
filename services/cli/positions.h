/* positions.h — where a source stands, as the unified layer orders positions: the
 * 24-hex-digit strings of event.h, "%016X%08X" of (PostgreSQL commit LSN | MariaDB GTID
 * sequence number, index in the transaction). The commands read what the readers
 * confirmed (PostgreSQL "X/Y", MariaDB "domain-server-seq[,…]") and what a database
 * reports now, and turn both into such strings to compare with Redis. */
#ifndef STOCKMESH_CLI_POSITIONS_H
#define STOCKMESH_CLI_POSITIONS_H

#include "stockmesh/config.h"
#include "stockmesh/event.h"

#include <stdint.h>

/* The LSN (PostgreSQL "16/B374D848") or sequence number (MariaDB GTID list; its first
 * domain, as the reader positions snapshot rows; "" is 0: nothing logged yet) of text
 * into *value. 0, or -1 when text is not of that form. */
int positions_parse(enum config_source_type type, const char *text, uint64_t *value);

/* The position string of (value, index) into out. */
void positions_format(uint64_t value, uint32_t index, char out[EVENT_POSITION_LEN + 1]);

/* value as the source's type prints it ("16/B374D848", "seq 42"), for messages. */
void positions_describe(enum config_source_type type, uint64_t value, char *out, size_t outlen);

#endif
