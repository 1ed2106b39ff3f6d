/* timeconv.h — source timestamps to UTC milliseconds (DESIGN §3: sources declare
 * their time zone and format).
 *
 * A zone is "UTC", a fixed offset "+01:00" / "-0530", or an IANA name read from the
 * system's zoneinfo (TZif files), so no process-wide TZ variable is touched: readers
 * run threads, and setenv("TZ") under them is undefined behaviour. */
#ifndef STOCKMESH_TIMECONV_H
#define STOCKMESH_TIMECONV_H

#include <stddef.h>
#include <stdint.h>

struct timeconv;

/* 0 when name is a zone timeconv_new() accepts; -1 with the reason in why. */
int timeconv_zone_check(const char *name, char *why, size_t whylen);

/* A converter for texts in format — NULL or "iso8601" (ISO 8601, with or without an
 * offset), "epoch_s", "epoch_ms", or a strptime(3) format — whose wall-clock times
 * are in zone. NULL with the reason in err. Free with timeconv_free(). */
struct timeconv *timeconv_new(const char *zone, const char *format, char *err, size_t errlen);

/* Frees a converter; NULL is fine. */
void timeconv_free(struct timeconv *tc);

/* Converts text to UTC ms. A text carrying its own offset ("Z", "+02:00") keeps it.
 * 0, or -1 when text does not match the format. */
int timeconv_parse(const struct timeconv *tc, const char *text, int64_t *utc_ms);

/* The zone's offset from UTC, in seconds, at utc_s. */
long timeconv_offset_at(const struct timeconv *tc, int64_t utc_s);

#endif
