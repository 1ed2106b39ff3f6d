/* config.h — the stockmesh YAML configuration: loading, validation, lookup.
 *
 * One YAML file describes the whole appliance (DESIGN §6). Every error names the
 * file, the line and the key path ("sources[0].tables[1].sku"), so an operator can
 * fix it without reading code. */
#ifndef STOCKMESH_CONFIG_H
#define STOCKMESH_CONFIG_H

#include <stddef.h>

enum log_level;

enum config_source_type { CONFIG_SOURCE_POSTGRES = 1, CONFIG_SOURCE_MARIADB = 2 };

enum config_quantity { CONFIG_ON_HAND = 0, CONFIG_COMMITTED = 1, CONFIG_UNAVAILABLE = 2 };
#define CONFIG_QUANTITY_KINDS 3

/* A key/value pair passed through untouched (librdkafka properties). */
struct config_property {
    char *key;
    char *value;
};

/* How the rows of one source table become stock facts, or (defines_crosswalk) how
 * they translate item codes to SKUs. */
struct config_table {
    char *schema;              /* "public" when the YAML says only "stock" */
    char *name;
    char *sku_column;          /* column holding the canonical SKU, or NULL with item */
    char *item_column;         /* column holding an item code, translated through */
    char *crosswalk;           /* this crosswalk; both NULL or both set */
    char *defines_crosswalk;   /* the table is the crosswalk of this name: code → sku */
    char *code_column;         /* with defines_crosswalk: the item code column */
    char *time_column;         /* when the row was counted, or NULL; source's zone/format */
    char *location_column;     /* column holding the location code, or NULL */
    char *location_code;       /* constant location for the whole table, or NULL */
    char *quantity_column[CONFIG_QUANTITY_KINDS]; /* NULL when the table lacks that kind */
    int line;                  /* YAML line, for later error messages */
};

struct config_source {
    char *name;                /* [a-z0-9_]+, unique */
    enum config_source_type type;
    char *dsn;                 /* libpq conninfo / MariaDB URI, never holds the password */
    char *password_file;       /* NULL or path whose first line is the password */
    char *slot;                /* default "stockmesh_<name>" */
    char *publication;         /* default "stockmesh_<name>" */
    char *timezone;            /* default "UTC"; an IANA zone name or ±HH:MM */
    char *timestamp_format;    /* how time columns read: "iso8601", "epoch_s", "epoch_ms"
                                  or a strptime format; default NULL: ISO 8601 */
    int heartbeat_ms;          /* default 10000 */
    int snapshot_parallel;     /* tables read at once by the initial snapshot; default 2 */
    int snapshot_chunk_rows;   /* rows per primary-key chunk; default 5000 */
    struct config_table *tables;
    size_t ntables;
    int line;
};

struct config_location {
    char *code;
    char *type;                /* "warehouse", "store", … */
    char **tags;
    size_t ntags;
    long long safety_stock;    /* default 0 */
    char **contacts;           /* store ops contacts for alerts */
    size_t ncontacts;
    int line;
};

struct config_channel {
    char *name;
    char *url;                 /* http:// or https:// */
    char *secret;              /* HMAC key (from secret_file or secret); never logged */
    char *secret_file;         /* NULL, or the file the secret was read from */
    char **location_types;     /* member locations: by type, */
    size_t nlocation_types;
    char **location_tags;      /* by tag, */
    size_t nlocation_tags;
    char **location_codes;     /* or by code */
    size_t nlocation_codes;
    long long buffer;          /* subtracted from the channel sum; default 0 */
    int fulfilment;            /* enum config_fulfilment; default ship */
    int batch_max;             /* updates per request; default 100 */
    int batch_wait_ms;         /* wait to fill a batch; default 0 (latency first) */
    int timeout_ms;            /* per request; default 5000 */
    int down_alert_s;          /* failing this long opens a channel_down alert; default 60 */
    int line;
};

/* Which source is authoritative for the quantities at locations of one type. */
struct config_authority {
    char *location_type;
    char *source;
    char **quantities;         /* names of the kinds it covers; none = all three */
    size_t nquantities;
    unsigned kinds;            /* bit (1 << kind) per covered kind, from quantities */
    int line;
};

/* SKUs sharing tolerances and safety stock, chosen by glob patterns. */
struct config_item_class {
    char *name;
    char **skus;               /* fnmatch(3) patterns */
    size_t nskus;
    long long safety_stock;    /* replaces the location's; -1 (default) keeps it */
    long long tolerance;       /* mismatch tolerance in units; -1: rules.tolerance */
    int tolerance_percent;     /* of the authoritative figure; -1: rules' */
    int line;
};

enum config_fulfilment { CONFIG_SHIP = 0, CONFIG_PICKUP = 1 };

struct config {
    char *path;
    char *state_dir;           /* default "/var/lib/stockmesh" */
    int log_level;             /* enum log_level; default LOG_INFO */

    struct {
        char *brokers;         /* "embedded" or "host:port,…" */
        char *topic_prefix;    /* default "stockmesh" */
        int partitions;        /* embedded topics; default 4 */
        int window;            /* max unapplied events per source; default 20000 */
        struct config_property *properties; /* passed to librdkafka */
        size_t nproperties;
    } backbone;

    struct {
        char *host;            /* default "127.0.0.1" */
        int port;              /* default 6379 */
        char *password_file;
        int pipeline;          /* max calls in flight; default 1000 */
        int persist_delay_ms;  /* applied → confirmable; default 3000: with AOF everysec
                                  Redis may hold a write back up to 2 s, then fsync */
    } redis;

    struct {
        char *listen_host;     /* from "listen: host:port"; default 127.0.0.1:8080 */
        int listen_port;
    } console;

    struct config_source *sources;
    size_t nsources;
    struct config_location *locations;
    size_t nlocations;
    struct config_channel *channels;
    size_t nchannels;
    struct config_authority *authority;
    size_t nauthority;
    struct config_item_class *item_classes;
    size_t nitem_classes;

    struct {
        char *pattern;         /* glob every canonical SKU matches; NULL: any */
    } skus;

    struct {
        int mismatch_grace_s;  /* a disagreement must last this long; default 60 */
        long long tolerance;   /* default absolute tolerance; default 0 */
        int tolerance_percent; /* default relative tolerance; default 0 */
        int stale_source_s;    /* a source silent this long is stale; default 300 */
        int unknown_item_after_s; /* an item code the crosswalk lacks this long → DLQ;
                                     default 300 */
        char **contacts;       /* for alerts about no location (a stale source) */
        size_t ncontacts;
    } rules;
};

/* Loads and validates a YAML file. Returns a config the caller frees with
 * config_free(), or NULL with "file:line: key: problem" in err: one line per
 * problem (several when there are several), in line order. Relative paths in the
 * file (secret_file) are relative to the working directory. */
struct config *config_load(const char *path, char *err, size_t errlen);

/* Same as config_load() but from a string; name is used in messages. */
struct config *config_load_string(const char *yaml, size_t len, const char *name,
                                  char *err, size_t errlen);

/* Frees a config and everything it owns; NULL is fine. */
void config_free(struct config *cfg);

/* Finds a source / location / channel by name; NULL when absent. */
const struct config_source *config_source(const struct config *cfg, const char *name);
const struct config_location *config_location(const struct config *cfg, const char *code);
const struct config_channel *config_channel(const struct config *cfg, const char *name);

/* 1 when the channel serves stock held at the location. */
int config_channel_has_location(const struct config_channel *ch,
                                const struct config_location *loc);

/* The source authoritative for quantity kind at locations of this type; NULL when
 * no rule names the type (then every source is believed: the newest change wins). */
const char *config_authority_for(const struct config *cfg, const char *location_type,
                                 enum config_quantity kind);

/* The first item class whose patterns match sku, or NULL. */
const struct config_item_class *config_item_class_for(const struct config *cfg,
                                                      const char *sku);

/* The safety stock held back at loc for SKUs of item class cls (NULL: none): the
 * class's when it sets one, else the location's. */
long long config_safety_stock(const struct config_item_class *cls,
                              const struct config_location *loc);

/* The mismatch tolerances for SKUs of item class cls (NULL: none): the class's where it
 * sets them, else rules.tolerance and rules.tolerance_percent. */
void config_tolerance(const struct config *cfg, const struct config_item_class *cls,
                      long long *absolute, int *percent);

/* 1 when sku matches skus.pattern (or no pattern is set). */
int config_sku_valid(const struct config *cfg, const char *sku);

/* The crosswalk table defining name, with its source in *src; NULL when none. */
const struct config_table *config_crosswalk(const struct config *cfg, const char *name,
                                            const struct config_source **src);

#define CONFIG_TABLE_COLUMNS_MAX (6 + CONFIG_QUANTITY_KINDS)

/* The columns a table's mapping reads (sku or item, code, location, time, the
 * quantities), stored into out; returns how many. */
size_t config_table_columns(const struct config_table *t,
                            const char *out[CONFIG_TABLE_COLUMNS_MAX]);

/* Name of the quantity kind: "on_hand", "committed", "unavailable". */
const char *config_quantity_name(enum config_quantity kind);

#endif
