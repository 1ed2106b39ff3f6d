/* log.c — see log.h. */
#include "stockmesh/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static enum log_level min_level = LOG_INFO;
static const char *program = "stockmesh";
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"debug", "info", "warning", "error"};
/* syslog priorities: debug 7, info 6, warning 4, err 3 */
static const int level_priority[] = {7, 6, 4, 3};

void log_set_level(enum log_level level) { min_level = level; }

void log_set_ident(const char *ident) { program = ident; }

int log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0) return i;
    if (strcmp(name, "warn") == 0) return LOG_WARNING;
    return -1;
}

void log_write(enum log_level level, const char *module, const char *fmt, ...)
{
    if (level < min_level) return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* one line per record: a newline inside a message would split it in the journal */
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';

    pthread_mutex_lock(&log_lock);
    if (getenv("JOURNAL_STREAM")) {
        fprintf(stderr, "<%d>%s: %s\n", level_priority[level], module, msg);
    } else {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        struct tm tm;
        gmtime_r(&tv.tv_sec, &tm);
        char when[32];
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
        fprintf(stderr, "%s.%03dZ %s %-7s %s: %s\n", when, (int)(tv.tv_usec / 1000), program,
                level_names[level], module, msg);
    }
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
}
