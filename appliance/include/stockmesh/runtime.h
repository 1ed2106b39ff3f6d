/* runtime.h — what every role of one stockmeshd process shares: the configuration,
 * the event loop, the metrics registry, the backbone and the state database. Roles
 * get it at creation and talk to each other only through the backbone, Redis and the
 * state database, never through this struct. */
#ifndef STOCKMESH_RUNTIME_H
#define STOCKMESH_RUNTIME_H

struct config;
struct event_base;
struct metrics;
struct kafka;
struct store;

struct runtime {
    const struct config *cfg;
    struct event_base *base;
    struct metrics *metrics;
    struct kafka *kafka;
    struct store *store;
};

#endif
