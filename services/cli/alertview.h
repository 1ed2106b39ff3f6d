/* alertview.h — `stockmesh alerts`: the alert store (stockmesh/alerts.h) for the
 * operator at the console — list with filters, acknowledge, resolve. An alert changed
 * here is changed for the dashboard too: both work on the state database. */
#ifndef STOCKMESH_CLI_ALERTVIEW_H
#define STOCKMESH_CLI_ALERTVIEW_H

#include <stddef.h>
#include <stdint.h>

struct store;

/* Which alerts to list. */
struct alertview_query {
    const char *state;         /* open, acknowledged, resolved, unresolved or all */
    const char *location, *rule, *sku; /* NULL: any */
    size_t limit;              /* 0: the store's default */
};

/* 1 when state is one `--state` accepts. */
int alertview_state_valid(const char *state);

/* Prints the matching alerts, newest first, as a table or ({"alerts": […]}) JSON.
 * Returns the exit status: 0, or 1 when the store fails. */
int alertview_list(struct store *store, const struct alertview_query *q, int as_json);

/* Acknowledges (resolve 0) or resolves (resolve 1) alert id as the login user, with an
 * optional note. Returns the exit status: 0, or 1 after saying why on stderr
 * ("alert 12 does not exist", "alert 12 is already resolved"). */
int alertview_transition(struct store *store, int64_t id, int resolve, const char *note);

#endif
