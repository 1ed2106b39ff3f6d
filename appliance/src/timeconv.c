/* timeconv.c — see timeconv.h.
 *
 * Zone files are TZif (RFC 8536). Only the transition table is used, not the POSIX
 * rule in the footer: Debian ships "fat" files whose tables run to 2037, and a time
 * after the last transition keeps the last offset. */
#include "stockmesh/timeconv.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ZONEINFO_DIR "/usr/share/zoneinfo"
#define TZIF_MAX_BYTES (1 << 20)

enum timeconv_format { FORMAT_ISO8601, FORMAT_EPOCH_S, FORMAT_EPOCH_MS, FORMAT_STRPTIME };

struct timeconv {
    enum timeconv_format format;
    char *strptime_format;
    long fixed_offset;            /* seconds east of UTC when ntransitions is 0 */
    size_t ntransitions;
    int64_t *transition_at;       /* UTC seconds, ascending */
    long *offset_after;           /* offset in force from transition_at[i] on */
    long offset_before;           /* before the first transition */
};

static void set_err(char *err, size_t errlen, const char *fmt, const char *arg)
{
    if (err && errlen) snprintf(err, errlen, fmt, arg);
}

/* "+HH:MM", "-HHMM", "+HH": 0 with the offset in seconds, -1 otherwise. */
static int parse_offset(const char *s, long *seconds, const char **end)
{
    if (*s != '+' && *s != '-') return -1;
    int sign = *s == '-' ? -1 : 1;
    s++;
    if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1])) return -1;
    long h = (s[0] - '0') * 10 + (s[1] - '0'), m = 0;
    s += 2;
    int colon = *s == ':';
    if (colon) s++;
    if (isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1])) {
        m = (s[0] - '0') * 10 + (s[1] - '0');
        s += 2;
    } else if (colon) {
        return -1; /* "+05:" */
    }
    if (h > 18 || m > 59) return -1;
    *seconds = sign * (h * 3600 + m * 60);
    if (end) *end = s;
    return 0;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const unsigned char *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }

static int zone_name_safe(const char *name)
{
    if (!*name || name[0] == '/' || strstr(name, "..")) return 0;
    for (const char *c = name; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("/_+-", *c)) return 0;
    return 1;
}

/* Reads the TZif file of an IANA zone into tc. 0, or -1 with err. */
static int load_tzif(struct timeconv *tc, const char *name, char *err, size_t errlen)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", ZONEINFO_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "unknown time zone \"%.100s\": use UTC, an offset such as "
                             "+01:00, or an IANA name such as Europe/Berlin", name);
        return -1;
    }
    unsigned char *buf = malloc(TZIF_MAX_BYTES);
    size_t n = buf ? fread(buf, 1, TZIF_MAX_BYTES, f) : 0;
    fclose(f);
    int rc = -1;
    if (!buf || n < 44 || memcmp(buf, "TZif", 4) != 0) goto bad;
    const unsigned char *h = buf;
    int wide = 0;
    for (;;) {
        uint32_t isut = be32(h + 20), isstd = be32(h + 24), leap = be32(h + 28),
                 timecnt = be32(h + 32), typecnt = be32(h + 36), charcnt = be32(h + 40);
        size_t tsize = wide ? 8 : 4;
        size_t body = timecnt * tsize + timecnt + typecnt * 6 + charcnt +
                      leap * (tsize + 4) + isstd + isut;
        const unsigned char *d = h + 44;
        if (typecnt == 0 || timecnt > 100000 || typecnt > 256 || (size_t)(d - buf) + body > n)
            goto bad;
        if (!wide && h[4] >= '2') { /* skip to the 64-bit block */
            h = d + body;
            if ((size_t)(h - buf) + 44 > n || memcmp(h, "TZif", 4) != 0) goto bad;
            wide = 1;
            continue;
        }
        const unsigned char *idx = d + timecnt * tsize, *types = idx + timecnt;
        tc->transition_at = calloc(timecnt ? timecnt : 1, sizeof *tc->transition_at);
        tc->offset_after = calloc(timecnt ? timecnt : 1, sizeof *tc->offset_after);
        if (!tc->transition_at || !tc->offset_after) goto bad;
        for (uint32_t i = 0; i < timecnt; i++) {
            if (idx[i] >= typecnt) goto bad;
            tc->transition_at[i] = wide ? (int64_t)be64(d + i * 8) : (int32_t)be32(d + i * 4);
            tc->offset_after[i] = (int32_t)be32(types + idx[i] * 6);
        }
        tc->ntransitions = timecnt;
        /* before the first transition: the first standard-time type (RFC 8536 §3.2) */
        tc->offset_before = (int32_t)be32(types);
        for (uint32_t t = 0; t < typecnt; t++)
            if (!types[t * 6 + 4]) {
                tc->offset_before = (int32_t)be32(types + t * 6);
                break;
            }
        tc->fixed_offset = tc->offset_before;
        rc = 0;
        break;
    }
bad:
    free(buf);
    if (rc) set_err(err, errlen, "time zone file of \"%.100s\" is unreadable or not TZif", name);
    return rc;
}

static int zone_init(struct timeconv *tc, const char *zone, char *err, size_t errlen)
{
    if (!zone || !*zone || !strcmp(zone, "UTC") || !strcmp(zone, "Z")) return 0;
    const char *end;
    if (parse_offset(zone, &tc->fixed_offset, &end) == 0 && !*end) return 0;
    if (!zone_name_safe(zone)) {
        set_err(err, errlen, "\"%.100s\" is not a time zone: use UTC, an offset such as "
                             "+01:00, or an IANA name such as Europe/Berlin", zone);
        return -1;
    }
    return load_tzif(tc, zone, err, errlen);
}

int timeconv_zone_check(const char *name, char *why, size_t whylen)
{
    struct timeconv *tc = timeconv_new(name, NULL, why, whylen);
    if (!tc) return -1;
    timeconv_free(tc);
    return 0;
}

struct timeconv *timeconv_new(const char *zone, const char *format, char *err, size_t errlen)
{
    struct timeconv *tc = calloc(1, sizeof *tc);
    if (!tc) {
        set_err(err, errlen, "%s", "out of memory");
        return NULL;
    }
    if (!format || !strcmp(format, "iso8601"))
        tc->format = FORMAT_ISO8601;
    else if (!strcmp(format, "epoch_s"))
        tc->format = FORMAT_EPOCH_S;
    else if (!strcmp(format, "epoch_ms"))
        tc->format = FORMAT_EPOCH_MS;
    else {
        tc->format = FORMAT_STRPTIME;
        tc->strptime_format = strdup(format);
        if (!tc->strptime_format) {
            set_err(err, errlen, "%s", "out of memory");
            timeconv_free(tc);
            return NULL;
        }
    }
    if (zone_init(tc, zone, err, errlen) != 0) {
        timeconv_free(tc);
        return NULL;
    }
    return tc;
}

void timeconv_free(struct timeconv *tc)
{
    if (!tc) return;
    free(tc->strptime_format);
    free(tc->transition_at);
    free(tc->offset_after);
    free(tc);
}

long timeconv_offset_at(const struct timeconv *tc, int64_t utc_s)
{
    if (!tc->ntransitions) return tc->fixed_offset;
    if (utc_s < tc->transition_at[0]) return tc->offset_before;
    size_t lo = 0, hi = tc->ntransitions; /* last transition <= utc_s */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tc->transition_at[mid] <= utc_s) lo = mid;
        else hi = mid;
    }
    return tc->offset_after[lo];
}

/* Wall-clock seconds in the zone → UTC seconds. In a gap (spring forward) the time
 * is read with the offset before it; in an overlap, the earlier instant wins. */
static int64_t local_to_utc(const struct timeconv *tc, int64_t local_s)
{
    /* the offsets in force a day either side; transitions are further apart than that */
    long before = timeconv_offset_at(tc, local_s - 86400);
    long after = timeconv_offset_at(tc, local_s + 86400);
    int64_t u1 = local_s - before, u2 = local_s - after;
    int valid1 = timeconv_offset_at(tc, u1) == before, valid2 = timeconv_offset_at(tc, u2) == after;
    if (valid1 && valid2) return u1 < u2 ? u1 : u2;
    if (valid2) return u2;
    return u1;
}

static int digits(const char **s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*s)++) {
        if (!isdigit((unsigned char)**s)) return -1;
        v = v * 10 + (**s - '0');
    }
    *out = v;
    return 0;
}

/* ISO 8601: date, or date and time ('T' or ' '), optional fraction, optional offset. */
static int parse_iso(const char *s, struct tm *tm, long *ms, int *has_offset, long *offset)
{
    int y, mo, d, h = 0, mi = 0, sec = 0;
    if (digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) || *s++ != '-' ||
        digits(&s, 2, &d))
        return -1;
    *ms = 0;
    *has_offset = 0;
    if (*s == 'T' || *s == ' ') {
        s++;
        if (digits(&s, 2, &h) || *s++ != ':' || digits(&s, 2, &mi)) return -1;
        if (*s == ':') {
            s++;
            if (digits(&s, 2, &sec)) return -1;
            if (*s == '.' || *s == ',') {
                s++;
                int scale = 100, any = 0;
                for (; isdigit((unsigned char)*s); s++, any = 1) {
                    *ms += (*s - '0') * scale;
                    scale /= 10;
                }
                if (!any) return -1;
            }
        }
        if (*s == 'Z') {
            *has_offset = 1;
            *offset = 0;
            s++;
        } else if (*s == '+' || *s == '-') {
            if (parse_offset(s, offset, &s) != 0) return -1;
            *has_offset = 1;
        }
    }
    if (*s) return -1;
    /* 24:00:00 is the end of a day (ISO 8601); 24:30 is no time */
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || sec > 60 ||
        (h == 24 && (mi || sec || *ms)))
        return -1;
    memset(tm, 0, sizeof *tm);
    tm->tm_year = y - 1900;
    tm->tm_mon = mo - 1;
    tm->tm_mday = d;
    tm->tm_hour = h;
    tm->tm_min = mi;
    tm->tm_sec = sec;
    return 0;
}

static int parse_epoch(const char *text, int64_t scale_ms, int64_t *utc_ms)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end || errno) return -1;
    if (v > INT64_MAX / scale_ms || v < INT64_MIN / scale_ms) return -1;
    *utc_ms = (int64_t)v * scale_ms;
    return 0;
}

static int leap_year(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* 1 when tm's day exists in its month: timegm() would quietly turn 30 February
 * into 1 March, and a wrong count time is worse than a refused row. */
static int day_exists(const struct tm *tm)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (tm->tm_mon < 0 || tm->tm_mon > 11 || tm->tm_mday < 1) return 0;
    int n = days[tm->tm_mon] + (tm->tm_mon == 1 && leap_year(tm->tm_year + 1900));
    return tm->tm_mday <= n;
}

int timeconv_parse(const struct timeconv *tc, const char *text, int64_t *utc_ms)
{
    if (!text) return -1;
    if (tc->format == FORMAT_EPOCH_S) return parse_epoch(text, 1000, utc_ms);
    if (tc->format == FORMAT_EPOCH_MS) return parse_epoch(text, 1, utc_ms);
    struct tm tm;
    long ms = 0, offset = 0;
    int has_offset = 0;
    if (tc->format == FORMAT_ISO8601) {
        if (parse_iso(text, &tm, &ms, &has_offset, &offset) != 0) return -1;
    } else {
        memset(&tm, 0, sizeof tm);
        tm.tm_mday = 1;
        const char *end = strptime(text, tc->strptime_format, &tm);
        if (!end || *end) return -1;
        if (strstr(tc->strptime_format, "%z")) { /* the text carries its offset */
            has_offset = 1;
            offset = tm.tm_gmtoff;
        }
    }
    if (!day_exists(&tm)) return -1;
    /* timegm reads tm as UTC, whatever the process's TZ: the wall clock as seconds */
    time_t wall = timegm(&tm);
    if (wall == (time_t)-1 && !(tm.tm_year == 69 && tm.tm_mon == 11 && tm.tm_mday == 31))
        return -1;
    int64_t utc_s = has_offset ? (int64_t)wall - offset : local_to_utc(tc, (int64_t)wall);
    *utc_ms = utc_s * 1000 + ms;
    return 0;
}
