/* serverctl — starts and stops the local database servers of `make run`.
 *
 *   serverctl start postgres|mariadb|redis DIR PORT   prints "PID PORT" once it accepts
 *   serverctl stop DIR                                stops the server running in DIR
 *   serverctl status DIR                              prints "KIND PID PORT", exit 1 if down
 *
 * A started server keeps running after serverctl exits; its data stays in DIR/data and
 * its log in DIR/server.log. PORT 0 picks a free port.
 */
#include "servers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
    fprintf(stderr, "usage: serverctl start postgres|mariadb|redis DIR PORT\n"
                    "       serverctl stop DIR\n"
                    "       serverctl status DIR\n");
    return 2;
}

static int parse_port(const char *text, int *port)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (end == text || *end != '\0' || v < 0 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

static int cmd_start(const char *kind_name, const char *dir, const char *port_text)
{
    enum servers_kind kind;
    int port;
    if (servers_kind_parse(kind_name, &kind) == -1) {
        fprintf(stderr, "serverctl: unknown server kind '%s' (postgres, mariadb or redis)\n",
                kind_name);
        return 2;
    }
    if (parse_port(port_text, &port) == -1) {
        fprintf(stderr, "serverctl: invalid port '%s' (0-65535, 0 picks a free one)\n",
                port_text);
        return 2;
    }
    struct servers_server s;
    if (servers_probe_dir(dir, &s) == 0) {
        if (s.kind != kind || (port != 0 && port != s.port)) {
            fprintf(stderr, "serverctl: a %s server is already running in %s on port %d "
                    "(pid %d); stop it first\n", servers_kind_name(s.kind), dir, s.port,
                    (int)s.pid);
            return 1;
        }
        fprintf(stderr, "serverctl: %s already running in %s\n", kind_name, dir);
        printf("%d %d\n", (int)s.pid, s.port);
        return 0;
    }
    char err[1024];
    if (servers_start_detached(&s, kind, dir, port, err, sizeof err) == -1) {
        fprintf(stderr, "serverctl: %s\n", err);
        return 1;
    }
    printf("%d %d\n", (int)s.pid, s.port);
    return 0;
}

static int cmd_stop(const char *dir)
{
    char err[1024];
    if (servers_stop_dir(dir, err, sizeof err) == -1) {
        fprintf(stderr, "serverctl: %s\n", err);
        return 1;
    }
    return 0;
}

static int cmd_status(const char *dir)
{
    struct servers_server s;
    if (servers_probe_dir(dir, &s) == -1) {
        fprintf(stderr, "serverctl: no server running in %s\n", dir);
        return 1;
    }
    printf("%s %d %d\n", servers_kind_name(s.kind), (int)s.pid, s.port);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "start") == 0)
        return cmd_start(argv[2], argv[3], argv[4]);
    if (argc == 3 && strcmp(argv[1], "stop") == 0)
        return cmd_stop(argv[2]);
    if (argc == 3 && strcmp(argv[1], "status") == 0)
        return cmd_status(argv[2]);
    return usage();
}
