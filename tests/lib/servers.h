/* servers — real PostgreSQL, MariaDB and Redis servers for integration tests.
 *
 * Each server runs on a loopback TCP port with its own directory:
 *   DIR/data/        the data directory (reused when it already exists)
 *   DIR/server.log   everything the server (and its init tool) printed
 *   DIR/server.pid   the server's pid file, written by the server itself
 *   DIR/server.info  "<kind> <port>", written by us, so a later start knows the kind
 * Servers are stopped by PID. A test that dies takes its servers with it
 * (PR_SET_PDEATHSIG, which fires when the *thread* that started the server ends: start
 * servers from a thread that outlives them), except servers started detached for
 * `make run`. As root, PostgreSQL runs as the `postgres` user, which owns DIR.
 */
#ifndef STOCKMESH_TESTS_SERVERS_H
#define STOCKMESH_TESTS_SERVERS_H

#include <stddef.h>
#include <sys/types.h>

enum servers_kind { SERVERS_POSTGRES, SERVERS_MARIADB, SERVERS_REDIS };

struct servers_server {
    enum servers_kind kind;
    pid_t pid;            /* the server process */
    int port;             /* TCP port on 127.0.0.1 */
    char dir[512];        /* data dir (temp or caller-given) */
    char log_path[600];   /* server log file inside dir */
    int owns_dir;         /* remove dir on stop */
};

/* Picks a free TCP port on 127.0.0.1 (bind port 0, read it back, close); -1 on error. */
int servers_free_port(void);

/* Starts a server and waits up to 60 s until it accepts connections. dir NULL: a new
 * temp dir under $TMPDIR, removed by servers_stop; port 0: a free port. A data
 * directory already in dir is reused. To restart after servers_kill, pass s->dir and
 * s->port of the same struct. 0, or -1 with a message naming the log in err; after a
 * failure s->dir and s->log_path stay for reading, and servers_stop(s) cleans up. */
int servers_start(struct servers_server *s, enum servers_kind kind, const char *dir, int port,
                  char *err, size_t errlen);

/* Like servers_start, but the server outlives the caller (own session, no parent-death
 * signal, not reaped by us); stop it with servers_stop_dir. */
int servers_start_detached(struct servers_server *s, enum servers_kind kind, const char *dir,
                           int port, char *err, size_t errlen);

/* Clean shutdown (SIGINT for PostgreSQL's fast mode, SIGTERM for the others), SIGKILL
 * of all its processes after 20 s; removes the dir when owned. Safe to call twice. */
int servers_stop(struct servers_server *s);

/* Stops the server whose pid file is in dir (e.g. one started detached); 0 also when
 * none is running, -1 with err set when it could not be stopped. */
int servers_stop_dir(const char *dir, char *err, size_t errlen);

/* Fills out (kind, pid, port, dir, log_path; owns_dir 0) for the server running in dir;
 * 0 when one is running, -1 when none is. */
int servers_probe_dir(const char *dir, struct servers_server *out);

/* SIGKILL of the server and all its processes, no cleanup (crash tests); returns once
 * they are gone. The dir stays for a restart. */
int servers_kill(struct servers_server *s);

/* Kind name as used on the command line: "postgres", "mariadb", "redis". */
const char *servers_kind_name(enum servers_kind kind);

/* Parses a kind name; 0 or -1 when unknown. */
int servers_kind_parse(const char *name, enum servers_kind *kind);

/* Runs SQL (several statements allowed) as user postgres in database db (NULL: postgres). */
int servers_pg_exec(const struct servers_server *s, const char *db, const char *sql, char *err,
                    size_t errlen);

/* Runs SQL (several statements allowed) as MariaDB root in database db (NULL: none). */
int servers_mariadb_exec(const struct servers_server *s, const char *db, const char *sql,
                         char *err, size_t errlen);

/* First column of the first row as a malloc'd string the caller frees; NULL on error,
 * no row or SQL NULL. */
char *servers_pg_query_value(const struct servers_server *s, const char *db, const char *sql);

/* Same as servers_pg_query_value for MariaDB. */
char *servers_mariadb_query_value(const struct servers_server *s, const char *db,
                                  const char *sql);

/* Runs one Redis command (hiredis format, e.g. "SET %s %s") and returns the reply as a
 * malloc'd string: integers in decimal, arrays one element per line. NULL for a nil
 * reply or on error; then err holds the error ("" for nil). */
char *servers_redis_command(const struct servers_server *s, char *err, size_t errlen,
                            const char *format, ...);

/* Spawns argv[0] (a path) in its own process group, killed when we die, stdin from
 * /dev/null, stdout+stderr appended to log_path; returns its pid or -1. */
pid_t servers_spawn(char *const argv[], const char *log_path);

/* Waits up to timeout_ms until 127.0.0.1:port accepts a TCP connection; 0 or -1. */
int servers_wait_port(int port, int timeout_ms);

#endif
