/* drift.h — how a source's rows and the unified layer disagree about one (SKU,
 * location, source): the comparison `stockmesh reconcile` makes, as a plain function.
 *
 * Redis is only held to a kind whose stored position is below the point the source
 * was read at: a later position means the stream already carries a newer change than
 * the snapshot shows. A delete leaves a zero figure behind, so a zero in Redis for a
 * row the source no longer has is no difference. */
#ifndef STOCKMESH_CLI_DRIFT_H
#define STOCKMESH_CLI_DRIFT_H

#include "layout.h"
#include "stockmesh/config.h"

enum drift_problem {
    DRIFT_VALUE,          /* both hold the figure, with different values */
    DRIFT_NOT_IN_REDIS,   /* the source has it, Redis does not */
    DRIFT_NOT_IN_SOURCE,  /* Redis holds a figure the source no longer has: a missed delete */
    DRIFT_UNKNOWN_ITEM,   /* the row's item code is unknown to its crosswalk */
};

/* What a source's snapshot holds for one (SKU, location). */
struct drift_expect {
    long long quantity[CONFIG_QUANTITY_KINDS];
    unsigned present;     /* bit (1 << kind): the source gives the kind */
    unsigned ambiguous;   /* bit (1 << kind): several rows give it; not compared */
};

struct drift {
    enum drift_problem problem;
    int kind;                         /* enum config_quantity; -1 for an unknown item */
    long long source_value, redis_value;
    int has_source_value, has_redis_value;
    char redis_position[EVENT_POSITION_LEN + 1]; /* "" without a Redis figure */
};

/* Compares what the source holds (NULL: no row) with Redis's figures (NULL: none) for
 * the kinds whose Redis position is below point. Writes the differences to out, one
 * per kind at most, and returns how many. */
int drift_compare(const struct drift_expect *source, const struct layout_fact *redis,
                  const char *point, struct drift out[CONFIG_QUANTITY_KINDS]);

/* "value differs", "missing in Redis", …: a problem for people. */
const char *drift_problem_text(enum drift_problem p);

/* "value_differs", "missing_in_redis", …: a problem for machines (--json, alerts). */
const char *drift_problem_name(enum drift_problem p);

#endif
