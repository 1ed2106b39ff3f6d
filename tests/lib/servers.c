/* servers — starts and stops real database servers for integration tests.
 *
 * Everything that runs between fork() and exec() is async-signal-safe: callers are
 * multi-threaded (a receiver thread, libevent, librdkafka), so the child may not
 * allocate, lock or format. All strings are prepared before fork().
 */
#include "servers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <mysql.h>

#define START_TIMEOUT_MS 60000
#define INIT_TIMEOUT_MS 180000
#define STOP_TIMEOUT_MS 20000
#define KILL_TIMEOUT_MS 10000
#define PORT_ATTEMPTS 5
#define OWNED_DIR_PREFIX "stockmesh-"
#define UNIX_SOCKET_MAX 107 /* sizeof(sun_path) - 1 */

/* ------------------------------------------------------------------ small helpers */

static long long monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Joins dir and name into out; -1 when it does not fit. */
static int path_join(char *out, size_t outlen, const char *dir, const char *name)
{
    size_t dlen = strlen(dir), nlen = strlen(name);
    if (dlen + 1 + nlen + 1 > outlen)
        return -1;
    memcpy(out, dir, dlen);
    out[dlen] = '/';
    memcpy(out + dlen + 1, name, nlen + 1);
    return 0;
}

static int path_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return errno == ENOENT;
    struct dirent *e;
    int empty = 1;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            empty = 0;
            break;
        }
    }
    closedir(d);
    return empty;
}

static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[PATH_MAX];
    if (strlen(path) >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(tmp, path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, mode) == -1 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, mode) == -1 && errno != EEXIST)
        return -1;
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) == -1 && errno != ENOENT)
        return -1;
    return 0;
}

static int rm_rf(const char *path)
{
    if (!path_exists(path))
        return 0;
    return nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS);
}

/* Reads what the log gained since offset (its last sizeof-1 bytes at most); its length. */
static size_t log_read_since(const char *path, off_t offset, char *buf, size_t size)
{
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return 0;
    off_t end = lseek(fd, 0, SEEK_END);
    off_t from = end - (off_t)(size - 1) > offset ? end - (off_t)(size - 1) : offset;
    ssize_t n = from < end ? pread(fd, buf, size - 1, from) : 0;
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return (size_t)n;
}

/* The line of the log since offset that best explains a failure: the first error
 * (FATAL, PANIC, [ERROR], "error:"), else the last non-empty line; "" when none. */
static void log_reason(const char *path, off_t offset, char *out, size_t outlen)
{
    static const char *const markers[] = { "FATAL:", "PANIC:", "[ERROR]", "error:" };
    char buf[16384];
    size_t n = log_read_since(path, offset, buf, sizeof buf);
    while (n > 0 && strchr("\r\n ", buf[n - 1]))
        buf[--n] = '\0';
    const char *line = NULL;
    for (size_t i = 0; i < sizeof markers / sizeof markers[0] && line == NULL; i++) {
        const char *hit = strstr(buf, markers[i]);
        if (hit == NULL)
            continue;
        while (hit > buf && hit[-1] != '\n')
            hit--;
        line = hit;
    }
    if (line == NULL) {
        line = strrchr(buf, '\n');
        line = line ? line + 1 : buf;
    }
    size_t len = strcspn(line, "\r\n");
    if (len >= outlen)
        len = outlen - 1;
    memcpy(out, line, len);
    out[len] = '\0';
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : 0;
}

/* Finds an executable by name in $PATH and the sbin directories root's PATH may lack. */
static int find_program(const char *name, char *out, size_t outlen)
{
    const char *env = getenv("PATH");
    char path[4096];
    snprintf(path, sizeof path, "%s:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             env ? env : "");
    char *save = NULL;
    for (char *dir = strtok_r(path, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        if (dir[0] != '/')
            continue;
        if (path_join(out, outlen, dir, name) == 0 && access(out, X_OK) == 0)
            return 0;
    }
    return -1;
}

/* The bin directory of the newest PostgreSQL under /usr/lib/postgresql. */
static int find_pg_bindir(char *out, size_t outlen)
{
    DIR *d = opendir("/usr/lib/postgresql");
    if (d == NULL)
        return -1;
    long best = -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long v = strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end != '\0' || v <= best)
            continue;
        char probe[PATH_MAX];
        snprintf(probe, sizeof probe, "/usr/lib/postgresql/%s/bin/postgres", e->d_name);
        if (access(probe, X_OK) == 0)
            best = v;
    }
    closedir(d);
    if (best < 0)
        return -1;
    int n = snprintf(out, outlen, "/usr/lib/postgresql/%ld/bin", best);
    return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
}

/* ------------------------------------------------------------------ processes */

/* Alive and not a zombie (a zombie's parent may never reap it, e.g. a bare PID 1). */
static int process_alive(pid_t pid)
{
    if (pid <= 0)
        return 0;
    if (kill(pid, 0) == -1 && errno == ESRCH)
        return 0;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return errno != ENOENT;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')'); /* comm may contain spaces and parentheses */
    return !(rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'));
}

/* Parent of pid per /proc, or -1 when gone or a zombie. */
static pid_t live_parent(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    char state;
    int ppid;
    if (rp == NULL || sscanf(rp + 1, " %c %d", &state, &ppid) != 2 || state == 'Z' ||
        state == 'X')
        return -1;
    return (pid_t)ppid;
}

/* Collects the live descendants of root into out (at most max); returns how many. */
static size_t descendants(pid_t root, pid_t *out, size_t max)
{
    size_t n = 0;
    int grew = 1;
    /* Repeat until no new generation appears; process trees here are shallow. */
    while (grew && n < max) {
        grew = 0;
        DIR *d = opendir("/proc");
        if (d == NULL)
            break;
        struct dirent *e;
        while ((e = readdir(d)) != NULL && n < max) {
            char *end;
            long pid = strtol(e->d_name, &end, 10);
            if (end == e->d_name || *end != '\0')
                continue;
            pid_t ppid = live_parent((pid_t)pid);
            if (ppid <= 0)
                continue;
            int known = 0, parent_known = ppid == root;
            for (size_t i = 0; i < n; i++) {
                known = known || out[i] == (pid_t)pid;
                parent_known = parent_known || out[i] == ppid;
            }
            if (!known && parent_known) {
                out[n++] = (pid_t)pid;
                grew = 1;
            }
        }
        closedir(d);
    }
    return n;
}

/* Waits until pid is gone: reaped when it is our child, else no longer alive.
 * Returns 0 when gone, -1 on timeout. *status gets the wait status when we reaped it. */
static int wait_gone(pid_t pid, int timeout_ms, int *status)
{
    long long deadline = monotonic_ms() + timeout_ms;
    if (status)
        *status = -1;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            if (status)
                *status = st;
            return 0;
        }
        if (r == -1 && errno == ECHILD && !process_alive(pid))
            return 0;
        if (monotonic_ms() >= deadline)
            return -1;
        sleep_ms(20);
    }
}

#define MAX_TREE 256

/* SIGKILL of pid, its process group and every descendant (PostgreSQL backends make
 * themselves group leaders, so the group alone misses them), then waits until all are
 * gone: a restart must not meet old backends still attached to shared memory.
 * Stopping pid first keeps it from forking while we collect its children. */
static int kill_tree(pid_t pid, int timeout_ms)
{
    pid_t tree[MAX_TREE];
    kill(pid, SIGSTOP);
    size_t n = descendants(pid, tree, MAX_TREE);
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    for (size_t i = 0; i < n; i++)
        kill(tree[i], SIGKILL);
    int rc = wait_gone(pid, timeout_ms, NULL);
    long long deadline = monotonic_ms() + timeout_ms;
    for (size_t i = 0; i < n; i++)
        while (process_alive(tree[i]) && monotonic_ms() < deadline)
            sleep_ms(10);
    return rc;
}

static void describe_status(int status, char *out, size_t outlen)
{
    if (status == -1)
        snprintf(out, outlen, "exited");
    else if (WIFEXITED(status))
        snprintf(out, outlen, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, outlen, "was killed by signal %d (SIG%s)", WTERMSIG(status),
                 sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?");
    else
        snprintf(out, outlen, "stopped");
}

struct spawn_opts {
    int detached;       /* own session, no parent-death signal */
    int switch_user;    /* run as uid/gid (root starting PostgreSQL) */
    uid_t uid;
    gid_t gid;
    const char *user;   /* for messages */
    const char *workdir; /* chdir here; must be accessible to the (switched) user */
};

/* What a child reports through the close-on-exec pipe when it cannot exec. */
struct spawn_failure {
    int stage;
    int err;
};

enum { STAGE_SETUP, STAGE_USER, STAGE_WORKDIR, STAGE_EXEC };

static const char *const stage_names[] = {
    [STAGE_SETUP] = "set up the child process",
    [STAGE_USER] = "switch to the server's user for",
    [STAGE_WORKDIR] = "enter the server directory",
    [STAGE_EXEC] = "execute",
};

static int fd_at_least_3(int fd)
{
    if (fd < 0 || fd >= 3)
        return fd;
    int hi = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return hi;
}

static void child_fail(int report_fd, int stage)
{
    struct spawn_failure f = { stage, errno };
    ssize_t w = write(report_fd, &f, sizeof f);
    (void)w;
    _exit(127);
}

/* Forks and execs argv[0]; 0 with *pid_out set, or -1 with err set. */
static int spawn_process(char *const argv[], const char *log_path, const struct spawn_opts *o,
                         pid_t *pid_out, char *err, size_t errlen)
{
    int log_fd = -1, null_fd = -1, pipe_fd[2] = { -1, -1 };
    int max_fd = (int)sysconf(_SC_OPEN_MAX);
    if (max_fd < 0 || max_fd > 65536)
        max_fd = 65536;

    log_fd = fd_at_least_3(open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (log_fd == -1) {
        set_err(err, errlen, "cannot open log %s: %s", log_path, strerror(errno));
        goto fail;
    }
    null_fd = fd_at_least_3(open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (null_fd == -1 || pipe2(pipe_fd, O_CLOEXEC) == -1) {
        set_err(err, errlen, "cannot prepare to start %s: %s", argv[0], strerror(errno));
        goto fail;
    }
    pipe_fd[0] = fd_at_least_3(pipe_fd[0]);
    pipe_fd[1] = fd_at_least_3(pipe_fd[1]);
    if (pipe_fd[0] == -1 || pipe_fd[1] == -1) {
        set_err(err, errlen, "cannot prepare to start %s: %s", argv[0], strerror(errno));
        goto fail;
    }

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == -1) {
        set_err(err, errlen, "cannot fork to start %s: %s", argv[0], strerror(errno));
        goto fail;
    }
    if (pid == 0) {
        int rep = pipe_fd[1];
        if (o->detached ? setsid() == -1 : setpgid(0, 0) == -1)
            child_fail(rep, STAGE_SETUP);
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        for (int sig = 1; sig < NSIG; sig++)
            if (sig != SIGKILL && sig != SIGSTOP)
                sigaction(sig, &dfl, NULL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (o->switch_user) {
            if (setgroups(1, &o->gid) == -1 || setgid(o->gid) == -1 || setuid(o->uid) == -1)
                child_fail(rep, STAGE_USER);
        }
        /* After setuid: a credential change clears the parent-death signal. */
        if (!o->detached) {
            if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
                child_fail(rep, STAGE_SETUP);
            if (getppid() != parent)
                _exit(127); /* the parent died before the line above */
        }
        if (o->workdir && chdir(o->workdir) == -1)
            child_fail(rep, STAGE_WORKDIR);
        if (dup2(null_fd, 0) == -1 || dup2(log_fd, 1) == -1 || dup2(log_fd, 2) == -1 ||
            dup2(rep, 3) == -1 || fcntl(3, F_SETFD, FD_CLOEXEC) == -1)
            child_fail(rep, STAGE_SETUP);
        rep = 3;
        /* Drop every descriptor the test holds (listening sockets, database links). */
        if (close_range(4, ~0U, 0) == -1)
            for (int fd = 4; fd < max_fd; fd++)
                close(fd);
        execv(argv[0], argv);
        child_fail(rep, STAGE_EXEC);
    }

    close(pipe_fd[1]);
    pipe_fd[1] = -1;
    struct spawn_failure f;
    ssize_t n;
    do {
        n = read(pipe_fd[0], &f, sizeof f);
    } while (n == -1 && errno == EINTR);
    close(pipe_fd[0]);
    close(log_fd);
    close(null_fd);
    if (n == (ssize_t)sizeof f) {
        waitpid(pid, NULL, 0);
        if (f.stage < STAGE_SETUP || f.stage > STAGE_EXEC)
            f.stage = STAGE_SETUP;
        if (f.stage == STAGE_WORKDIR)
            set_err(err, errlen, "%s cannot enter %s as user %s: %s (every parent directory "
                    "must be searchable by that user)", argv[0], o->workdir,
                    o->user ? o->user : "(current)", strerror(f.err));
        else
            set_err(err, errlen, "cannot %s %s: %s", stage_names[f.stage], argv[0],
                    strerror(f.err));
        return -1;
    }
    *pid_out = pid;
    return 0;

fail:
    if (log_fd != -1)
        close(log_fd);
    if (null_fd != -1)
        close(null_fd);
    if (pipe_fd[0] != -1)
        close(pipe_fd[0]);
    if (pipe_fd[1] != -1)
        close(pipe_fd[1]);
    return -1;
}

pid_t servers_spawn(char *const argv[], const char *log_path)
{
    struct spawn_opts o = { 0 };
    pid_t pid;
    char err[512];
    if (spawn_process(argv, log_path, &o, &pid, err, sizeof err) == -1) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd != -1) {
            dprintf(fd, "servers_spawn: %s\n", err);
            close(fd);
        }
        return -1;
    }
    return pid;
}

/* Runs a program to completion (an init tool); 0 when it exited 0. */
static int run_to_completion(char *const argv[], const char *log_path, const struct spawn_opts *o,
                             const char *what, char *err, size_t errlen)
{
    off_t log_offset = file_size(log_path);
    pid_t pid;
    if (spawn_process(argv, log_path, o, &pid, err, errlen) == -1)
        return -1;
    int status;
    if (wait_gone(pid, INIT_TIMEOUT_MS, &status) == -1) {
        kill_tree(pid, KILL_TIMEOUT_MS);
        set_err(err, errlen, "%s did not finish within %d s, see %s", what,
                INIT_TIMEOUT_MS / 1000, log_path);
        return -1;
    }
    if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    char how[128], reason[256];
    describe_status(status, how, sizeof how);
    log_reason(log_path, log_offset, reason, sizeof reason);
    set_err(err, errlen, "%s %s, see %s: %s", what, how, log_path, reason);
    return -1;
}

/* ------------------------------------------------------------------ readiness */

int servers_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int tcp_connect(int port, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -1;
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == -1) {
        close(fd);
        return -1;
    }
    return fd;
}

int servers_wait_port(int port, int timeout_ms)
{
    long long deadline = monotonic_ms() + timeout_ms;
    for (;;) {
        int fd = tcp_connect(port, 1000);
        if (fd != -1) {
            close(fd);
            return 0;
        }
        if (monotonic_ms() >= deadline)
            return -1;
        sleep_ms(25);
    }
}

enum ready { READY_NO, READY_YES, READY_NEVER };

static enum ready pg_ready(int port)
{
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", port);
    const char *keys[] = { "host", "port", "dbname", "user", "connect_timeout", NULL };
    const char *vals[] = { "127.0.0.1", port_s, "postgres", "postgres", "2", NULL };
    return PQpingParams(keys, vals, 0) == PQPING_OK ? READY_YES : READY_NO;
}

static MYSQL *maria_connect(int port, const char *db, unsigned long flags, char *err,
                            size_t errlen, unsigned int *errnum)
{
    MYSQL *m = mysql_init(NULL);
    if (m == NULL) {
        set_err(err, errlen, "mysql_init: out of memory");
        return NULL;
    }
    unsigned int timeout = 5;
    mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    if (mysql_real_connect(m, "127.0.0.1", "root", "", db, (unsigned)port, NULL, flags) == NULL) {
        set_err(err, errlen, "cannot connect to MariaDB on 127.0.0.1:%d as root: %s", port,
                mysql_error(m));
        if (errnum)
            *errnum = mysql_errno(m);
        mysql_close(m);
        return NULL;
    }
    return m;
}

static enum ready mariadb_ready(int port, char *err, size_t errlen)
{
    unsigned int errnum = 0;
    MYSQL *m = maria_connect(port, NULL, 0, err, errlen, &errnum);
    if (m != NULL) {
        mysql_close(m);
        return READY_YES;
    }
    /* Access denied / host not allowed: waiting will not help. */
    return (errnum == 1045 || errnum == 1130) ? READY_NEVER : READY_NO;
}

static enum ready redis_ready(int port)
{
    int fd = tcp_connect(port, 2000);
    if (fd == -1)
        return READY_NO;
    char buf[128];
    ssize_t n = -1;
    if (send(fd, "PING\r\n", 6, MSG_NOSIGNAL) == 6)
        n = recv(fd, buf, sizeof buf - 1, 0);
    close(fd);
    /* "-LOADING" while the AOF is replayed after a restart. */
    return (n >= 5 && memcmp(buf, "+PONG", 5) == 0) ? READY_YES : READY_NO;
}

/* ------------------------------------------------------------------ start / stop */

const char *servers_kind_name(enum servers_kind kind)
{
    switch (kind) {
    case SERVERS_POSTGRES: return "postgres";
    case SERVERS_MARIADB: return "mariadb";
    case SERVERS_REDIS: return "redis";
    }
    return "unknown";
}

int servers_kind_parse(const char *name, enum servers_kind *kind)
{
    static const enum servers_kind all[] = { SERVERS_POSTGRES, SERVERS_MARIADB, SERVERS_REDIS };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(name, servers_kind_name(all[i])) == 0) {
            *kind = all[i];
            return 0;
        }
    }
    return -1;
}

/* The paths of one server directory. */
struct layout {
    char data[PATH_MAX];
    char pid_file[PATH_MAX];
    char info_file[PATH_MAX];
    char socket[PATH_MAX];
};

static int layout_init(struct layout *l, const struct servers_server *s, char *err, size_t errlen)
{
    if (path_join(l->data, sizeof l->data, s->dir, "data") == -1 ||
        path_join(l->pid_file, sizeof l->pid_file, s->dir, "server.pid") == -1 ||
        path_join(l->info_file, sizeof l->info_file, s->dir, "server.info") == -1) {
        set_err(err, errlen, "server directory path too long: %s", s->dir);
        return -1;
    }
    /* PostgreSQL puts ".s.PGSQL.<port>" in the directory; MariaDB uses mysqld.sock. */
    const char *sock = s->kind == SERVERS_POSTGRES ? ".s.PGSQL.65535" : "mysqld.sock";
    if (path_join(l->socket, sizeof l->socket, s->dir, sock) == -1 ||
        (s->kind != SERVERS_REDIS && strlen(l->socket) > UNIX_SOCKET_MAX)) {
        set_err(err, errlen, "server directory path too long for a Unix socket (%d bytes max): %s",
                UNIX_SOCKET_MAX, l->socket);
        return -1;
    }
    return 0;
}

static pid_t read_pid_file(const char *path)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return 0;
    long pid = 0;
    if (fscanf(f, "%ld", &pid) != 1 || pid <= 0 || pid > INT32_MAX)
        pid = 0;
    fclose(f);
    return (pid_t)pid;
}

/* Whether pid is a live server working in data_dir (all three servers chdir there);
 * guards against a stale pid file whose pid now belongs to someone else. */
static int pid_serves_dir(pid_t pid, const char *data_dir)
{
    if (!process_alive(pid))
        return 0;
    char link[64], cwd[PATH_MAX], real[PATH_MAX];
    snprintf(link, sizeof link, "/proc/%d/cwd", (int)pid);
    ssize_t n = readlink(link, cwd, sizeof cwd - 1);
    if (n <= 0)
        return errno == EACCES; /* cannot tell: assume it is ours, the safe answer */
    cwd[n] = '\0';
    if (realpath(data_dir, real) == NULL)
        return 0;
    return strcmp(cwd, real) == 0;
}

static int read_info(const char *path, enum servers_kind *kind, int *port)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    char name[32];
    int ok = fscanf(f, "%31s %d", name, port) == 2 && servers_kind_parse(name, kind) == 0;
    fclose(f);
    return ok ? 0 : -1;
}

static int write_info(const struct servers_server *s, const struct layout *l, char *err,
                      size_t errlen)
{
    FILE *f = fopen(l->info_file, "we");
    if (f == NULL || fprintf(f, "%s %d\n", servers_kind_name(s->kind), s->port) < 0 ||
        fclose(f) != 0) {
        set_err(err, errlen, "cannot write %s: %s", l->info_file, strerror(errno));
        return -1;
    }
    return 0;
}

/* Appends the pg_hba.conf lines stockmesh relies on when initdb did not write them. */
static int pg_ensure_hba(const char *data_dir, char *err, size_t errlen)
{
    static const char *const needed[][5] = {
        { "host", "replication", "all", "127.0.0.1/32", "trust" },
        { "host", "all", "all", "127.0.0.1/32", "trust" },
    };
    char path[PATH_MAX];
    if (path_join(path, sizeof path, data_dir, "pg_hba.conf") == -1) {
        set_err(err, errlen, "path too long: %s/pg_hba.conf", data_dir);
        return -1;
    }
    int have[2] = { 0, 0 };
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        set_err(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        char t[5][128];
        if (sscanf(line, "%127s %127s %127s %127s %127s", t[0], t[1], t[2], t[3], t[4]) != 5)
            continue;
        for (int i = 0; i < 2; i++) {
            int match = 1;
            for (int j = 0; j < 5; j++)
                match = match && strcmp(t[j], needed[i][j]) == 0;
            have[i] = have[i] || match;
        }
    }
    fclose(f);
    if (have[0] && have[1])
        return 0;
    f = fopen(path, "ae");
    if (f == NULL) {
        set_err(err, errlen, "cannot append to %s: %s", path, strerror(errno));
        return -1;
    }
    for (int i = 0; i < 2; i++)
        if (!have[i])
            fprintf(f, "%s\t%s\t%s\t%s\t%s\n", needed[i][0], needed[i][1], needed[i][2],
                    needed[i][3], needed[i][4]);
    if (fclose(f) != 0) {
        set_err(err, errlen, "cannot append to %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Everything one start needs, prepared before any fork. */
struct plan {
    struct layout l;
    struct spawn_opts opts;
    char bin[PATH_MAX];      /* the server binary */
    char init_bin[PATH_MAX]; /* its init tool, when it has one */
};

static int plan_binaries(struct plan *p, enum servers_kind kind, char *err, size_t errlen)
{
    switch (kind) {
    case SERVERS_POSTGRES: {
        char bindir[PATH_MAX - 16];
        if (find_pg_bindir(bindir, sizeof bindir) == -1) {
            set_err(err, errlen, "no PostgreSQL found under /usr/lib/postgresql/<version>/bin "
                    "(install the postgresql package)");
            return -1;
        }
        snprintf(p->bin, sizeof p->bin, "%s/postgres", bindir);
        snprintf(p->init_bin, sizeof p->init_bin, "%s/initdb", bindir);
        return 0;
    }
    case SERVERS_MARIADB:
        if (find_program("mariadbd", p->bin, sizeof p->bin) == -1 ||
            find_program("mariadb-install-db", p->init_bin, sizeof p->init_bin) == -1) {
            set_err(err, errlen, "mariadbd or mariadb-install-db not found in PATH or /usr/sbin "
                    "(install the mariadb-server package)");
            return -1;
        }
        return 0;
    case SERVERS_REDIS:
        if (find_program("redis-server", p->bin, sizeof p->bin) == -1) {
            set_err(err, errlen, "redis-server not found in PATH (install the redis-server "
                    "package)");
            return -1;
        }
        return 0;
    }
    set_err(err, errlen, "unknown server kind %d", (int)kind);
    return -1;
}

/* PostgreSQL refuses to run as root: run it as the postgres system user then. */
static int plan_user(struct plan *p, const struct servers_server *s, char *err, size_t errlen)
{
    p->opts.workdir = s->dir;
    if (s->kind != SERVERS_POSTGRES || geteuid() != 0)
        return 0;
    struct passwd pwbuf, *pw = NULL;
    char strings[4096];
    if (getpwnam_r("postgres", &pwbuf, strings, sizeof strings, &pw) != 0 || pw == NULL) {
        set_err(err, errlen, "running as root, and PostgreSQL refuses root, but there is no "
                "'postgres' user to run it as");
        return -1;
    }
    p->opts.switch_user = 1;
    p->opts.uid = pw->pw_uid;
    p->opts.gid = pw->pw_gid;
    p->opts.user = "postgres";
    if (chown(s->dir, pw->pw_uid, pw->pw_gid) == -1) {
        set_err(err, errlen, "cannot hand %s to user postgres: %s", s->dir, strerror(errno));
        return -1;
    }
    /* The server writes its log through the inherited descriptor; let it reopen it too. */
    if (path_exists(s->log_path) && chown(s->log_path, pw->pw_uid, pw->pw_gid) == -1) {
        set_err(err, errlen, "cannot hand %s to user postgres: %s", s->log_path, strerror(errno));
        return -1;
    }
    return 0;
}

static int init_data_dir(struct servers_server *s, struct plan *p, char *err, size_t errlen)
{
    const char *data = p->l.data;
    switch (s->kind) {
    case SERVERS_POSTGRES: {
        char marker[PATH_MAX];
        path_join(marker, sizeof marker, data, "PG_VERSION");
        if (!path_exists(marker)) {
            if (!dir_is_empty(data)) {
                set_err(err, errlen, "%s exists but is not a PostgreSQL data directory", data);
                return -1;
            }
            char pgdata[PATH_MAX + 16];
            snprintf(pgdata, sizeof pgdata, "--pgdata=%s", data);
            char *argv[] = { p->init_bin, pgdata, "--auth=trust", "--username=postgres",
                             "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync", NULL };
            if (run_to_completion(argv, s->log_path, &p->opts, "initdb", err, errlen) == -1)
                return -1;
        }
        return pg_ensure_hba(data, err, errlen);
    }
    case SERVERS_MARIADB: {
        char marker[PATH_MAX];
        path_join(marker, sizeof marker, data, "mysql");
        if (path_exists(marker))
            return 0;
        if (!dir_is_empty(data)) {
            set_err(err, errlen, "%s exists but is not a MariaDB data directory", data);
            return -1;
        }
        char datadir[PATH_MAX + 16];
        snprintf(datadir, sizeof datadir, "--datadir=%s", data);
        char *argv[16];
        int n = 0;
        argv[n++] = p->init_bin;
        argv[n++] = "--no-defaults";
        argv[n++] = datadir;
        argv[n++] = "--auth-root-authentication-method=normal";
        argv[n++] = "--skip-test-db";
        argv[n++] = "--innodb-buffer-pool-size=32M";
        argv[n++] = "--innodb-log-file-size=16M";
        argv[n++] = "--character-set-server=utf8mb4";
        if (geteuid() == 0)
            argv[n++] = "--user=root";
        argv[n] = NULL;
        if (run_to_completion(argv, s->log_path, &p->opts, "mariadb-install-db", err, errlen) ==
            -1) {
            rm_rf(data); /* a half-made data dir would be taken for a good one next time */
            return -1;
        }
        return 0;
    }
    case SERVERS_REDIS:
        if (mkdir(data, 0755) == -1 && errno != EEXIST) {
            set_err(err, errlen, "cannot create %s: %s", data, strerror(errno));
            return -1;
        }
        return 0;
    }
    return -1;
}

/* Launches the server process on s->port; 0 with s->pid set. */
static int launch(struct servers_server *s, struct plan *p, char *err, size_t errlen)
{
    char port_s[16], wal_level[40];
    snprintf(port_s, sizeof port_s, "%d", s->port);
    char a[8][PATH_MAX + 32];
    char *argv[40];
    int n = 0;
    argv[n++] = p->bin;
    switch (s->kind) {
    case SERVERS_POSTGRES:
        snprintf(a[0], sizeof a[0], "external_pid_file=%s", p->l.pid_file);
        argv[n++] = "-D";
        argv[n++] = p->l.data;
        argv[n++] = "-p";
        argv[n++] = port_s;
        argv[n++] = "-k";
        argv[n++] = s->dir;
        argv[n++] = "-c";
        argv[n++] = "listen_addresses=127.0.0.1";
        argv[n++] = "-c";
        /* SERVERS_PG_WAL_LEVEL: a source set up wrong, for tests of the errors it gets */
        snprintf(wal_level, sizeof wal_level, "wal_level=%.20s",
                 getenv("SERVERS_PG_WAL_LEVEL") ? getenv("SERVERS_PG_WAL_LEVEL") : "logical");
        argv[n++] = wal_level;
        argv[n++] = "-c";
        argv[n++] = "max_replication_slots=20";
        argv[n++] = "-c";
        argv[n++] = "max_wal_senders=20";
        argv[n++] = "-c";
        argv[n++] = "fsync=on";
        argv[n++] = "-c";
        argv[n++] = "shared_buffers=128MB";
        argv[n++] = "-c";
        argv[n++] = a[0];
        break;
    case SERVERS_MARIADB:
        snprintf(a[0], sizeof a[0], "--datadir=%s", p->l.data);
        snprintf(a[1], sizeof a[1], "--port=%d", s->port);
        snprintf(a[2], sizeof a[2], "--socket=%s", p->l.socket);
        snprintf(a[3], sizeof a[3], "--pid-file=%s", p->l.pid_file);
        snprintf(a[4], sizeof a[4], "--log-bin=%s/mariadb-bin", p->l.data);
        snprintf(a[5], sizeof a[5], "--log-error=%s", s->log_path);
        snprintf(a[6], sizeof a[6], "--tmpdir=%s", s->dir);
        argv[n++] = "--no-defaults";
        for (int i = 0; i <= 6; i++)
            argv[n++] = a[i];
        argv[n++] = "--bind-address=127.0.0.1";
        argv[n++] = "--binlog-format=ROW";
        argv[n++] = "--binlog-row-image=FULL";
        argv[n++] = "--binlog-row-metadata=FULL";
        argv[n++] = "--server-id=1";
        argv[n++] = "--skip-name-resolve";
        argv[n++] = "--character-set-server=utf8mb4";
        argv[n++] = "--innodb-buffer-pool-size=32M";
        argv[n++] = "--innodb-log-file-size=16M";
        if (geteuid() == 0)
            argv[n++] = "--user=root";
        break;
    case SERVERS_REDIS:
        argv[n++] = "--port";
        argv[n++] = port_s;
        argv[n++] = "--bind";
        argv[n++] = "127.0.0.1";
        argv[n++] = "--dir";
        argv[n++] = p->l.data;
        argv[n++] = "--appendonly";
        argv[n++] = "yes";
        argv[n++] = "--appendfsync";
        argv[n++] = "everysec";
        argv[n++] = "--save";
        argv[n++] = "";
        argv[n++] = "--daemonize";
        argv[n++] = "no";
        argv[n++] = "--logfile";
        argv[n++] = s->log_path;
        argv[n++] = "--pidfile";
        argv[n++] = p->l.pid_file;
        break;
    }
    argv[n] = NULL;
    return spawn_process(argv, s->log_path, &p->opts, &s->pid, err, errlen);
}

/* Waits until the server answers; on failure stops it and explains. */
static int await_ready(struct servers_server *s, off_t log_offset, int *port_taken, char *err,
                       size_t errlen)
{
    const char *name = servers_kind_name(s->kind);
    long long deadline = monotonic_ms() + START_TIMEOUT_MS;
    char why[512] = "";
    *port_taken = 0;
    for (;;) {
        enum ready r = READY_NO;
        switch (s->kind) {
        case SERVERS_POSTGRES: r = pg_ready(s->port); break;
        case SERVERS_MARIADB: r = mariadb_ready(s->port, why, sizeof why); break;
        case SERVERS_REDIS: r = redis_ready(s->port); break;
        }
        if (r == READY_YES)
            return 0;
        if (r == READY_NEVER) {
            set_err(err, errlen, "%s started but refuses us: %s; see %s", name, why, s->log_path);
            break;
        }
        int status;
        if (wait_gone(s->pid, 0, &status) == 0) {
            char how[128], reason[256], since[16384];
            describe_status(status, how, sizeof how);
            log_reason(s->log_path, log_offset, reason, sizeof reason);
            log_read_since(s->log_path, log_offset, since, sizeof since);
            *port_taken = strstr(since, "already in use") != NULL;
            set_err(err, errlen, "%s %s during startup on port %d, see %s: %s", name, how,
                    s->port, s->log_path, reason);
            s->pid = 0;
            return -1;
        }
        if (monotonic_ms() >= deadline) {
            set_err(err, errlen, "%s did not accept connections on 127.0.0.1:%d within %d s, "
                    "see %s", name, s->port, START_TIMEOUT_MS / 1000, s->log_path);
            break;
        }
        sleep_ms(50);
    }
    kill_tree(s->pid, KILL_TIMEOUT_MS);
    s->pid = 0;
    return -1;
}

static int start_server(struct servers_server *s, enum servers_kind kind, const char *dir_arg,
                        int port, int detached, char *err, size_t errlen)
{
    if (kind != SERVERS_POSTGRES && kind != SERVERS_MARIADB && kind != SERVERS_REDIS) {
        set_err(err, errlen, "unknown server kind %d", (int)kind);
        return -1;
    }
    if (port < 0 || port > 65535) {
        set_err(err, errlen, "invalid port %d", port);
        return -1;
    }
    /* Restart idiom: servers_start(s, s->kind, s->dir, s->port, ...) keeps ownership. */
    int keep_owned = dir_arg == s->dir && s->owns_dir;
    char dir[sizeof s->dir];
    if (dir_arg != NULL) {
        if (strlen(dir_arg) >= sizeof dir) {
            set_err(err, errlen, "server directory path too long: %s", dir_arg);
            return -1;
        }
        strcpy(dir, dir_arg);
    }

    memset(s, 0, sizeof *s);
    s->kind = kind;
    if (dir_arg == NULL) {
        const char *tmp = getenv("TMPDIR");
        if (tmp == NULL || tmp[0] == '\0')
            tmp = "/tmp";
        int n = snprintf(s->dir, sizeof s->dir, "%s/" OWNED_DIR_PREFIX "%s-XXXXXX", tmp,
                         servers_kind_name(kind));
        if (n < 0 || (size_t)n >= sizeof s->dir || mkdtemp(s->dir) == NULL) {
            set_err(err, errlen, "cannot create a temp dir under %s: %s", tmp,
                    n >= 0 && (size_t)n < sizeof s->dir ? strerror(errno) : "path too long");
            s->dir[0] = '\0';
            return -1;
        }
        s->owns_dir = 1;
    } else {
        char real[PATH_MAX];
        if (mkdir_p(dir, 0755) == -1 || realpath(dir, real) == NULL) {
            set_err(err, errlen, "cannot create %s: %s", dir, strerror(errno));
            return -1;
        }
        if (strlen(real) >= sizeof s->dir) {
            set_err(err, errlen, "server directory path too long: %s", real);
            return -1;
        }
        strcpy(s->dir, real);
        s->owns_dir = keep_owned;
    }
    path_join(s->log_path, sizeof s->log_path, s->dir, "server.log"); /* fits: 600 > 512+11 */

    struct plan p;
    memset(&p, 0, sizeof p);
    p.opts.detached = detached;
    if (layout_init(&p.l, s, err, errlen) == -1 || plan_binaries(&p, kind, err, errlen) == -1)
        return -1;

    enum servers_kind prev_kind;
    int prev_port;
    if (read_info(p.l.info_file, &prev_kind, &prev_port) == 0 && prev_kind != kind) {
        set_err(err, errlen, "%s holds a %s server, not %s", s->dir, servers_kind_name(prev_kind),
                servers_kind_name(kind));
        return -1;
    }
    pid_t running = read_pid_file(p.l.pid_file);
    if (running > 0 && pid_serves_dir(running, p.l.data)) {
        set_err(err, errlen, "a %s server is already running in %s (pid %d); stop it first",
                servers_kind_name(kind), s->dir, (int)running);
        return -1;
    }

    if (plan_user(&p, s, err, errlen) == -1 || init_data_dir(s, &p, err, errlen) == -1)
        return -1;

    int attempts = port == 0 ? PORT_ATTEMPTS : 1;
    for (int i = 0; i < attempts; i++) {
        s->port = port ? port : servers_free_port();
        if (s->port <= 0) {
            set_err(err, errlen, "cannot find a free port on 127.0.0.1: %s", strerror(errno));
            return -1;
        }
        if (write_info(s, &p.l, err, errlen) == -1)
            return -1;
        off_t log_offset = file_size(s->log_path);
        int port_taken = 0;
        if (launch(s, &p, err, errlen) == 0 &&
            await_ready(s, log_offset, &port_taken, err, errlen) == 0)
            return 0;
        /* Someone took the free port between our probe and the server's bind: retry. */
        if (!port_taken)
            break;
    }
    s->pid = 0;
    return -1;
}

int servers_start(struct servers_server *s, enum servers_kind kind, const char *dir, int port,
                  char *err, size_t errlen)
{
    return start_server(s, kind, dir, port, 0, err, errlen);
}

int servers_start_detached(struct servers_server *s, enum servers_kind kind, const char *dir,
                           int port, char *err, size_t errlen)
{
    return start_server(s, kind, dir, port, 1, err, errlen);
}

/* PostgreSQL's SIGTERM ("smart") waits for every client to leave; SIGINT ("fast") is the
 * clean shutdown that does not hang on a forgotten connection. */
static int stop_signal(enum servers_kind kind)
{
    return kind == SERVERS_POSTGRES ? SIGINT : SIGTERM;
}

/* Clean stop of pid (leader of its process group), SIGKILL of its tree after 20 s. */
static int stop_pid(pid_t pid, enum servers_kind kind)
{
    if (kill(pid, stop_signal(kind)) == -1 && errno == ESRCH) {
        wait_gone(pid, 0, NULL); /* reap it if it died on its own */
        return 0;
    }
    if (wait_gone(pid, STOP_TIMEOUT_MS, NULL) == -1)
        return kill_tree(pid, KILL_TIMEOUT_MS);
    kill(-pid, SIGKILL); /* a straggler left in its group, e.g. a Redis rewrite child */
    return 0;
}

int servers_stop(struct servers_server *s)
{
    int rc = 0;
    if (s->pid > 0) {
        rc = stop_pid(s->pid, s->kind);
        s->pid = 0;
    }
    /* Only ever delete a directory we made with mkdtemp. */
    if (s->owns_dir && s->dir[0] != '\0') {
        const char *base = strrchr(s->dir, '/');
        base = base ? base + 1 : s->dir;
        if (strncmp(base, OWNED_DIR_PREFIX, strlen(OWNED_DIR_PREFIX)) == 0 && rm_rf(s->dir) == -1)
            rc = -1;
        s->owns_dir = 0;
    }
    return rc;
}

int servers_probe_dir(const char *dir, struct servers_server *out)
{
    memset(out, 0, sizeof *out);
    if (strlen(dir) >= sizeof out->dir)
        return -1;
    strcpy(out->dir, dir);
    out->kind = SERVERS_REDIS; /* until server.info says otherwise: no socket path to check */
    struct layout l;
    if (layout_init(&l, out, NULL, 0) == -1)
        return -1;
    path_join(out->log_path, sizeof out->log_path, out->dir, "server.log");
    if (read_info(l.info_file, &out->kind, &out->port) == -1)
        return -1;
    pid_t pid = read_pid_file(l.pid_file);
    if (pid <= 0 || !pid_serves_dir(pid, l.data))
        return -1;
    out->pid = pid;
    return 0;
}

int servers_stop_dir(const char *dir, char *err, size_t errlen)
{
    struct servers_server s;
    if (servers_probe_dir(dir, &s) == -1)
        return 0;
    if (stop_pid(s.pid, s.kind) == -1) {
        set_err(err, errlen, "%s server (pid %d) in %s did not stop even after SIGKILL",
                servers_kind_name(s.kind), (int)s.pid, dir);
        return -1;
    }
    return 0;
}

int servers_kill(struct servers_server *s)
{
    if (s->pid <= 0)
        return -1;
    int rc = kill_tree(s->pid, KILL_TIMEOUT_MS);
    s->pid = 0;
    return rc;
}

/* ------------------------------------------------------------------ clients */

static PGconn *pg_connect(const struct servers_server *s, const char *db, char *err,
                          size_t errlen)
{
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", s->port);
    const char *keys[] = { "host", "port", "dbname", "user", "connect_timeout", NULL };
    const char *vals[] = { "127.0.0.1", port_s, db ? db : "postgres", "postgres", "10", NULL };
    PGconn *c = PQconnectdbParams(keys, vals, 0);
    if (c == NULL || PQstatus(c) != CONNECTION_OK) {
        set_err(err, errlen, "cannot connect to PostgreSQL on 127.0.0.1:%d db %s: %s", s->port,
                vals[2], c ? PQerrorMessage(c) : "out of memory");
        PQfinish(c);
        return NULL;
    }
    return c;
}

int servers_pg_exec(const struct servers_server *s, const char *db, const char *sql, char *err,
                    size_t errlen)
{
    PGconn *c = pg_connect(s, db, err, errlen);
    if (c == NULL)
        return -1;
    /* Simple query protocol: several statements run, and stop at the first error. */
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
        set_err(err, errlen, "PostgreSQL error: %s", PQerrorMessage(c));
        rc = -1;
    }
    PQclear(r);
    PQfinish(c);
    return rc;
}

char *servers_pg_query_value(const struct servers_server *s, const char *db, const char *sql)
{
    PGconn *c = pg_connect(s, db, NULL, 0);
    if (c == NULL)
        return NULL;
    PGresult *r = PQexec(c, sql);
    char *v = NULL;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && PQnfields(r) > 0 &&
        !PQgetisnull(r, 0, 0))
        v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return v;
}

/* Runs sql; keeps the first value of the first result set when value is not NULL. */
static int mariadb_run(const struct servers_server *s, const char *db, const char *sql,
                       char **value, char *err, size_t errlen)
{
    MYSQL *m = maria_connect(s->port, db, CLIENT_MULTI_STATEMENTS, err, errlen, NULL);
    if (m == NULL)
        return -1;
    int rc = 0;
    if (mysql_real_query(m, sql, strlen(sql)) != 0) {
        set_err(err, errlen, "MariaDB error %u: %s", mysql_errno(m), mysql_error(m));
        mysql_close(m);
        return -1;
    }
    for (;;) {
        MYSQL_RES *res = mysql_store_result(m);
        if (res != NULL) {
            MYSQL_ROW row = mysql_fetch_row(res);
            if (value && *value == NULL && row && mysql_num_fields(res) > 0 && row[0])
                *value = strdup(row[0]);
            mysql_free_result(res);
        } else if (mysql_field_count(m) != 0) {
            set_err(err, errlen, "MariaDB error %u: %s", mysql_errno(m), mysql_error(m));
            rc = -1;
            break;
        }
        int next = mysql_next_result(m);
        if (next == -1)
            break;
        if (next > 0) {
            set_err(err, errlen, "MariaDB error %u: %s", mysql_errno(m), mysql_error(m));
            rc = -1;
            break;
        }
    }
    mysql_close(m);
    return rc;
}

int servers_mariadb_exec(const struct servers_server *s, const char *db, const char *sql,
                         char *err, size_t errlen)
{
    return mariadb_run(s, db, sql, NULL, err, errlen);
}

char *servers_mariadb_query_value(const struct servers_server *s, const char *db,
                                  const char *sql)
{
    char *v = NULL;
    if (mariadb_run(s, db, sql, &v, NULL, 0) == -1) {
        free(v);
        return NULL;
    }
    return v;
}

static int buf_append(char **buf, size_t *len, const char *text, size_t n)
{
    char *grown = realloc(*buf, *len + n + 1);
    if (grown == NULL)
        return -1;
    memcpy(grown + *len, text, n);
    *len += n;
    grown[*len] = '\0';
    *buf = grown;
    return 0;
}

/* Appends a reply to a growing string; arrays one element per line, nil as "". */
static int reply_append(const redisReply *r, char **buf, size_t *len)
{
    char num[32];
    switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        return buf_append(buf, len, r->str, r->len);
    case REDIS_REPLY_INTEGER:
        return buf_append(buf, len, num, (size_t)snprintf(num, sizeof num, "%lld", r->integer));
    case REDIS_REPLY_ARRAY:
        for (size_t i = 0; i < r->elements; i++) {
            if ((i > 0 && buf_append(buf, len, "\n", 1) == -1) ||
                reply_append(r->element[i], buf, len) == -1)
                return -1;
        }
        return 0;
    default:
        return buf_append(buf, len, "", 0);
    }
}

char *servers_redis_command(const struct servers_server *s, char *err, size_t errlen,
                            const char *format, ...)
{
    set_err(err, errlen, "%s", "");
    struct timeval tv = { 10, 0 };
    redisContext *c = redisConnectWithTimeout("127.0.0.1", s->port, tv);
    if (c == NULL || c->err) {
        set_err(err, errlen, "cannot connect to Redis on 127.0.0.1:%d: %s", s->port,
                c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    va_list ap;
    va_start(ap, format);
    redisReply *r = redisvCommand(c, format, ap);
    va_end(ap);
    char *out = NULL;
    if (r == NULL) {
        set_err(err, errlen, "Redis on 127.0.0.1:%d: %s", s->port, c->errstr);
    } else if (r->type == REDIS_REPLY_ERROR) {
        set_err(err, errlen, "Redis error: %s", r->str);
    } else if (r->type != REDIS_REPLY_NIL) {
        size_t len = 0;
        if (buf_append(&out, &len, "", 0) == -1 || reply_append(r, &out, &len) == -1) {
            free(out);
            out = NULL;
            set_err(err, errlen, "out of memory");
        }
    }
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return out;
}
