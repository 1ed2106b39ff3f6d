/* daemon.h — a stockmeshd under test: started with a config, stopped by PID, read
 * through its /metrics, its state database and its log. */
#ifndef STOCKMESH_TEST_DAEMON_H
#define STOCKMESH_TEST_DAEMON_H

#include <stddef.h>
#include <sys/types.h>

struct daemon {
    const char *binary;           /* daemon_binary() unless the test sets it */
    char config_path[512];
    char log_path[512];
    char state_dir[512];          /* the config's state_dir */
    const char *roles;            /* --roles, or NULL for all */
    int console_port;             /* the config's console port, for /metrics */
    pid_t pid;
};

/* Milliseconds of the wall clock, for deadlines and measurements. */
double daemon_now_ms(void);

/* The stockmeshd to run: $STOCKMESHD_FAST (the optimised build, for scale tests) when
 * fast and set, else $STOCKMESHD, else build/asan/stockmeshd. */
const char *daemon_binary(int fast);

/* Starts it (log to log_path); 0, or -1 when it cannot be spawned. */
int daemon_start(struct daemon *d);

/* Sends sig and waits for it to end; returns its wait status, or -1 when not running. */
int daemon_stop(struct daemon *d, int sig);

/* 0 when its log holds no sanitizer report (ASan, LeakSanitizer, UBSan), else -1
 * after printing the first report's lines to stderr. */
int daemon_log_clean(const struct daemon *d);

/* Prints the last lines of its log to stderr. */
void daemon_show_log(const struct daemon *d, int lines);

/* Sum of every sample of a metric on its /metrics (all label sets, or one when name
 * carries them: "x{a=\"b\"}"); NAN when /metrics cannot be read. */
double daemon_metric(const struct daemon *d, const char *name);

/* A value of its state database; NULL when absent. The caller frees. */
char *daemon_state_value(const struct daemon *d, const char *scope, const char *key);

/* Every message of a topic on its embedded backbone, values joined by newlines (the
 * caller frees); NULL when the backbone cannot be read. */
char *daemon_topic_contents(const struct daemon *d, const char *topic);

/* 1 when a line of its log contains text. */
int daemon_log_has(const struct daemon *d, const char *text);

/* Creates a fresh work directory $TMPDIR/stockmesh-<name>-XXXXXX into out; 0 or -1. */
int daemon_workdir_make(char *out, size_t outlen, const char *name);

/* Removes a work directory, or keeps it (and says where) when TEST_KEEP is set, for
 * reading the logs after a failure. */
void daemon_workdir_remove(const char *dir);

#endif
