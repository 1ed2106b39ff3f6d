/* log.h — leveled logging to stderr, readable by people and by the journal.
 *
 * Under systemd (JOURNAL_STREAM set) each line starts with the syslog priority
 * "<N>" so journald files it at the right level; on a terminal each line carries a
 * UTC timestamp and the level name instead. */
#ifndef STOCKMESH_LOG_H
#define STOCKMESH_LOG_H

#include <stdarg.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARNING = 2, LOG_ERROR = 3 };

/* Sets the lowest level that is written; default LOG_INFO. */
void log_set_level(enum log_level level);

/* Parses "debug", "info", "warning", "error"; -1 when unknown. */
int log_level_parse(const char *name);

/* Sets the program name shown in each line (not copied; keep it alive). */
void log_set_ident(const char *ident);

/* Writes one line: module is a short tag such as "cdc.pg" or "merge". */
void log_write(enum log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(module, ...) log_write(LOG_DEBUG, module, __VA_ARGS__)
#define log_info(module, ...) log_write(LOG_INFO, module, __VA_ARGS__)
#define log_warning(module, ...) log_write(LOG_WARNING, module, __VA_ARGS__)
#define log_error(module, ...) log_write(LOG_ERROR, module, __VA_ARGS__)

#endif
