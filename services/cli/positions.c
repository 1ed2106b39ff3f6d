/* positions.c — see positions.h. */
#include "positions.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "hex/hex" with 1-8 digits each, nothing else. */
static int parse_lsn(const char *text, uint64_t *value)
{
    const char *slash = strchr(text, '/');
    if (!slash || slash == text || slash - text > 8 || !slash[1] || strlen(slash + 1) > 8)
        return -1;
    uint64_t parts[2] = {0, 0};
    const char *p = text;
    for (int i = 0; i < 2; i++, p++) {
        for (; *p && *p != '/'; p++) {
            int d = *p >= '0' && *p <= '9'   ? *p - '0'
                    : *p >= 'A' && *p <= 'F' ? *p - 'A' + 10
                    : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
                                             : -1;
            if (d < 0) return -1;
            parts[i] = parts[i] << 4 | (uint64_t)d;
        }
        if (i == 0 && *p != '/') return -1;
    }
    *value = parts[0] << 32 | parts[1];
    return 0;
}

/* "d-s-n[,d-s-n…]": n of the first entry. */
static int parse_gtid(const char *text, uint64_t *value)
{
    while (*text == ' ' || *text == '\n') text++;
    if (!*text) {
        *value = 0;
        return 0;
    }
    const char *p = text;
    for (int dash = 0; dash < 2; dash++) {
        const char *d = strchr(p, '-');
        if (!d || d == p) return -1;
        for (const char *c = p; c < d; c++)
            if (*c < '0' || *c > '9') return -1;
        p = d + 1;
    }
    if (*p < '0' || *p > '9') return -1;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(p, &end, 10);
    if (errno || (*end && *end != ',' && *end != '\n' && *end != ' ')) return -1;
    *value = n;
    return 0;
}

int positions_parse(enum config_source_type type, const char *text, uint64_t *value)
{
    if (!text) return -1;
    return type == CONFIG_SOURCE_POSTGRES ? parse_lsn(text, value) : parse_gtid(text, value);
}

void positions_format(uint64_t value, uint32_t index, char out[EVENT_POSITION_LEN + 1])
{
    snprintf(out, EVENT_POSITION_LEN + 1, "%016" PRIX64 "%08" PRIX32, value, index);
}

void positions_describe(enum config_source_type type, uint64_t value, char *out, size_t outlen)
{
    if (type == CONFIG_SOURCE_POSTGRES)
        snprintf(out, outlen, "%X/%X", (unsigned)(value >> 32), (unsigned)value);
    else
        snprintf(out, outlen, "GTID seq %" PRIu64, value);
}
