/* rules.h — the alert rules of DESIGN §6 as plain functions: which conditions a
 * location's figures break, what an alert about them says and to whom, and when a
 * source counts as stale or drained. No sockets: the merge role's alerting.c asks
 * Redis and the state database and hands the answers here. */
#ifndef STOCKMESH_RULES_H
#define STOCKMESH_RULES_H

#include "stockmesh/config.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Conditions of one (sku, location), as the merge function reports them (its FLAG_*). */
enum rules_flag {
    RULES_MISMATCH = 1,      /* an observing source disagrees beyond the tolerance */
    RULES_NEGATIVE = 2,      /* on_hand below zero */
    RULES_OVERCOMMITTED = 4, /* committed above on_hand */
};
#define RULES_NFLAGS 3

/* The rule name of one flag: "mismatch", "negative_stock", "overcommitted"; NULL for
 * anything else. */
const char *rules_name(unsigned flag);

/* The flag of a rule name, or 0. */
unsigned rules_flag(const char *name);

/* The dedup key of a condition, "<rule>|<sku>|<location>", into out. -1 when it does
 * not fit. */
int rules_key(char *out, size_t outlen, const char *rule, const char *sku, const char *location);

/* Splits a key made by rules_key(); the SKU may itself hold '|'. -1 when malformed. */
int rules_parse_key(const char *key, char *rule, size_t rulelen, char *sku, size_t skulen,
                    char *location, size_t locationlen);

/* What an alert about one condition says. detail is the merge function's mismatch
 * description "<source>|<kind>|<observed>|<authoritative>" (or ""), and oh/cm/un the
 * location's authoritative figures. Writes a one-sentence summary and returns a new
 * details object (caller decrefs), or NULL when out of memory. */
json_t *rules_describe(const struct config *cfg, unsigned flag, const char *sku,
                       const struct config_location *loc, const char *detail, long long oh,
                       long long cm, long long un, char *summary, size_t summarylen);

/* Who hears about a location: its contacts, or rules.contacts when it has none (and
 * for loc NULL). *n gets the count; the strings are the config's. */
const char *const *rules_contacts(const struct config *cfg, const struct config_location *loc,
                                  size_t *n);

/* 1 when a source is stale at now_ms — its reader has not written its status, has not
 * streamed, or has not heard a heartbeat for rules.stale_source_s — with the reason
 * in why; 0 when fresh. status is the reader's status JSON (NULL: never written). */
int rules_source_stale(const struct config *cfg, const struct config_source *src,
                       const char *status, int64_t now_ms, char *why, size_t whylen);

/* 1 when everything a source's reader produced has been applied to Redis (it streams
 * and its status, written within the last 5 s, counts no unapplied events); only then
 * may a disagreement be judged. */
int rules_source_drained(const char *status, int64_t now_ms);

#endif
