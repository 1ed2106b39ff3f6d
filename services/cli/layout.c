/* layout.c — see layout.h. */
#include "layout.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Splits s at '|' into at most max parts (pointers into the copy buf); returns how
 * many, or -1 when there are more than max or s does not fit buf. */
static int split(const char *s, char *buf, size_t buflen, char **parts, int max)
{
    size_t len = strlen(s);
    if (len >= buflen) return -1;
    memcpy(buf, s, len + 1);
    int n = 0;
    char *p = buf;
    for (;;) {
        if (n == max) return -1;
        parts[n++] = p;
        char *bar = strchr(p, '|');
        if (!bar) return n;
        *bar = 0;
        p = bar + 1;
    }
}

/* A whole number, the only form the Lua library writes ("%d"). */
static int whole(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno) return -1;
    *out = v;
    return 0;
}

/* Stores the full form of compact position pos as kind k's. */
static int take_position(struct layout_fact *f, int k, const char *pos)
{
    return event_position_expand(pos, strlen(pos), f->position[k]);
}

int layout_fact_decode(const char *value, struct layout_fact *f)
{
    char buf[512], *p[1 + 2 * CONFIG_QUANTITY_KINDS];
    memset(f, 0, sizeof *f);
    int n = split(value, buf, sizeof buf, p, 1 + 2 * CONFIG_QUANTITY_KINDS);
    if (n < 0 || whole(p[0], &f->time_ms) != 0) return -1;
    if (n == 2 + CONFIG_QUANTITY_KINDS) { /* every kind at one position */
        for (int k = 0; k < CONFIG_QUANTITY_KINDS; k++)
            if (take_position(f, k, p[1]) != 0 || whole(p[2 + k], &f->quantity[k]) != 0)
                return -1;
        f->present = (1u << CONFIG_QUANTITY_KINDS) - 1;
        return 0;
    }
    if (n != 1 + 2 * CONFIG_QUANTITY_KINDS) return -1;
    const char *last = "";
    for (int k = 0; k < CONFIG_QUANTITY_KINDS; k++) {
        const char *pos = p[1 + 2 * k], *qty = p[2 + 2 * k];
        if (strcmp(pos, "=") == 0) {
            if (!*last) return -1; /* "=" needs an earlier position */
            pos = last;
        }
        if (!*pos != !*qty) return -1;
        if (!*pos) continue;
        if (whole(qty, &f->quantity[k]) != 0 || take_position(f, k, pos) != 0) return -1;
        f->present |= 1u << k;
        last = pos;
    }
    return 0;
}

int layout_row_decode(const char *value, struct layout_row *r)
{
    char buf[256], *p[5];
    long long flags = 0;
    memset(r, 0, sizeof *r);
    int n = split(value, buf, sizeof buf, p, 5);
    if (n < 4 || whole(p[0], &r->on_hand) != 0 || whole(p[1], &r->committed) != 0 ||
        whole(p[2], &r->unavailable) != 0 || whole(p[3], &r->available) != 0 ||
        (n == 5 && (whole(p[4], &flags) != 0 || flags <= 0)))
        return -1;
    r->flags = (unsigned)flags;
    return 0;
}

int layout_channel_decode(const char *value, struct layout_channel *c)
{
    char buf[128], *p[3];
    memset(c, 0, sizeof *c);
    if (split(value, buf, sizeof buf, p, 3) != 3 || whole(p[0], &c->sum) != 0 ||
        whole(p[1], &c->available) != 0 || whole(p[2], &c->version) != 0)
        return -1;
    return 0;
}

int layout_pickup_decode(const char *value, struct layout_channel *c)
{
    char buf[128], *p[2];
    memset(c, 0, sizeof *c);
    if (split(value, buf, sizeof buf, p, 2) != 2 || whole(p[0], &c->available) != 0 ||
        whole(p[1], &c->version) != 0)
        return -1;
    c->sum = c->available;
    return 0;
}

int layout_split_field(const char *field, char *location, size_t locationlen, char *source,
                       size_t sourcelen)
{
    const char *bar = strchr(field, '|');
    size_t nloc = bar ? (size_t)(bar - field) : strlen(field);
    const char *src = bar ? bar + 1 : "";
    if (nloc >= locationlen || strlen(src) >= sourcelen) return -1;
    memcpy(location, field, nloc);
    location[nloc] = 0;
    memcpy(source, src, strlen(src) + 1);
    return bar ? 1 : 0;
}

int layout_sku_of_key(const char *key, size_t keylen, char *sku, size_t skulen)
{
    /* the hash tag ends at the first '}': a SKU key ends right there */
    if (keylen < 6 || strncmp(key, "sm:{", 4) != 0 || strncmp(key, "sm:{xw:", 7) == 0)
        return -1;
    const char *close = memchr(key + 4, '}', keylen - 4);
    if (!close || (size_t)(close - key) != keylen - 1) return -1;
    size_t n = keylen - 5;
    if (n == 0 || n >= skulen) return -1;
    memcpy(sku, key + 4, n);
    sku[n] = 0;
    return 0;
}

static const struct {
    unsigned flag;
    const char *name, *text;
} flags[] = {
    {LAYOUT_FLAG_MISMATCH, "mismatch", "sources disagree beyond the tolerance"},
    {LAYOUT_FLAG_NEGATIVE, "negative_stock", "on hand below zero"},
    {LAYOUT_FLAG_OVERCOMMITTED, "overcommitted", "committed above on hand"},
};

const char *layout_flag_text(unsigned flag)
{
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (flags[i].flag == flag) return flags[i].text;
    return NULL;
}

const char *layout_flag_name(unsigned flag)
{
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (flags[i].flag == flag) return flags[i].name;
    return NULL;
}
