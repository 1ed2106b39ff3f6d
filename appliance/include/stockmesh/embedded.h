/* embedded.h — files compiled into the binary by tools/embed.c (see Makefile). */
#ifndef STOCKMESH_EMBEDDED_H
#define STOCKMESH_EMBEDDED_H

#include <stddef.h>

/* appliance/redis/stockmesh.lua: the Redis function library. */
extern const char embedded_redis_library[];
extern const size_t embedded_redis_library_len;

/* appliance/sql/NNN_*.sql: state database migrations, in order. */
extern const char embedded_sql_001_initial[];
extern const size_t embedded_sql_001_initial_len;
extern const char embedded_sql_002_alerts[];
extern const size_t embedded_sql_002_alerts_len;

#endif
