/* pgconn.c — see pgconn.h. */
#include "pgconn.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum conn_phase { PHASE_CONNECTING, PHASE_READY, PHASE_COPY, PHASE_BROKEN };

struct query {
    struct query *next;
    char *sql;
    int nparams;
    char **params;
    pgconn_result_cb cb;
    void *arg;
};

struct pgconn {
    struct event_base *base;
    PGconn *pg;
    enum conn_phase phase;
    struct event *io;             /* the socket: connect polling, then query results */
    struct event *deadline;       /* connect timeout */
    int sock;                     /* the socket io watches; libpq may change it while connecting */
    pgconn_state_cb state_cb;
    void *state_arg;
    struct query *head, *tail;
    int running;                  /* head has been sent */
    PGresult *kept;               /* the result reported when the running query ends */
    int in_callback;
    int freed;                    /* pgconn_free() called from a callback */
};

static void query_free(struct query *q)
{
    if (!q) return;
    free(q->sql);
    for (int i = 0; i < q->nparams && q->params; i++) free(q->params[i]);
    free(q->params);
    free(q);
}

void pgconn_error_text(const PGresult *res, PGconn *conn, char *out, size_t outlen)
{
    const char *text = res ? PQresultErrorMessage(res) : "";
    if (!text[0] && conn) text = PQerrorMessage(conn);
    if (!text[0]) text = "no error text";
    /* libpq prefixes severity; keep the message, on one line */
    snprintf(out, outlen, "%s", text);
    for (char *p = out; *p; p++)
        if (*p == '\n' || *p == '\r') *p = (p[1] ? ' ' : 0);
    size_t n = strlen(out);
    while (n && out[n - 1] == ' ') out[--n] = 0;
}

static void destroy(struct pgconn *c)
{
    if (c->io) event_free(c->io);
    if (c->deadline) event_free(c->deadline);
    while (c->head) {
        struct query *q = c->head;
        c->head = q->next;
        query_free(q);
    }
    PQclear(c->kept);
    if (c->pg) PQfinish(c->pg);
    free(c);
}

/* Brackets a callback, which may free the connection: leave() returns 1 then. */
static void enter(struct pgconn *c)
{
    c->in_callback++;
}

static int leave(struct pgconn *c)
{
    c->in_callback--;
    if (!c->in_callback && c->freed) {
        destroy(c);
        return 1;
    }
    return c->freed;
}

static void io_cb(evutil_socket_t fd, short what, void *arg);

static int watch(struct pgconn *c, short what)
{
    if (c->io) event_free(c->io);
    c->io = NULL;
    c->sock = PQsocket(c->pg);
    if (c->sock < 0) return -1;
    c->io = event_new(c->base, c->sock, what | EV_PERSIST, io_cb, c);
    if (!c->io) return -1;
    event_add(c->io, NULL);
    return 0;
}

static void broken(struct pgconn *c, const char *why)
{
    if (c->phase == PHASE_BROKEN) return;
    int was_connecting = c->phase == PHASE_CONNECTING;
    c->phase = PHASE_BROKEN;
    if (c->io) event_del(c->io);
    if (c->deadline) event_del(c->deadline);
    char msg[1024];
    if (why)
        snprintf(msg, sizeof msg, "%s", why);
    else
        pgconn_error_text(NULL, c->pg, msg, sizeof msg);
    enter(c);
    /* a query waiting for its answer learns of the break first */
    if (!was_connecting && c->running && c->head && c->head->cb) {
        c->running = 0;
        c->head->cb(c, NULL, c->head->arg);
        if (c->freed) {
            leave(c);
            return;
        }
    }
    if (c->state_cb) c->state_cb(c, msg, c->state_arg);
    leave(c);
}

static void send_next(struct pgconn *c)
{
    if (c->phase != PHASE_READY || c->running || !c->head) return;
    struct query *q = c->head;
    int ok = q->nparams ? PQsendQueryParams(c->pg, q->sql, q->nparams, NULL,
                                            (const char *const *)q->params, NULL, NULL, 0)
                        : PQsendQuery(c->pg, q->sql);
    if (!ok) {
        broken(c, NULL);
        return;
    }
    c->running = 1;
    int flushed = PQflush(c->pg);
    if (flushed < 0) {
        broken(c, NULL);
        return;
    }
    /* a long statement may not fit the socket buffer at once */
    watch(c, flushed ? EV_READ | EV_WRITE : EV_READ);
}

static void finish_query(struct pgconn *c)
{
    struct query *q = c->head;
    c->head = q->next;
    if (!c->head) c->tail = NULL;
    c->running = 0;
    PGresult *res = c->kept;
    c->kept = NULL;
    enter(c);
    if (q->cb)
        q->cb(c, res, q->arg);
    else
        PQclear(res);
    query_free(q);
    if (leave(c)) return;
    send_next(c);
}

static void read_results(struct pgconn *c)
{
    if (!PQconsumeInput(c->pg)) {
        broken(c, NULL);
        return;
    }
    while (c->running && !PQisBusy(c->pg)) {
        PGresult *res = PQgetResult(c->pg);
        if (!res) {
            finish_query(c);
            return;
        }
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_COPY_BOTH || st == PGRES_COPY_OUT || st == PGRES_COPY_IN) {
            /* the caller owns the socket from here on */
            c->phase = PHASE_COPY;
            if (c->io) event_del(c->io);
            PQclear(c->kept);
            c->kept = res;
            finish_query(c);
            return;
        }
        int is_error = st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE ||
                       st == PGRES_NONFATAL_ERROR;
        int kept_error = c->kept && PQresultStatus(c->kept) == PGRES_FATAL_ERROR;
        if (kept_error && !is_error) {
            PQclear(res);
        } else {
            PQclear(c->kept);
            c->kept = res;
        }
    }
}

static void connect_step(struct pgconn *c)
{
    for (;;) {
        PostgresPollingStatusType st = PQconnectPoll(c->pg);
        if (st == PGRES_POLLING_OK) {
            event_del(c->deadline);
            if (PQsetnonblocking(c->pg, 1) != 0) {
                broken(c, NULL);
                return;
            }
            c->phase = PHASE_READY;
            watch(c, EV_READ);
            enter(c);
            if (c->state_cb) c->state_cb(c, NULL, c->state_arg);
            if (leave(c)) return;
            send_next(c);
            return;
        }
        if (st == PGRES_POLLING_FAILED) {
            broken(c, NULL);
            return;
        }
        short what = st == PGRES_POLLING_READING ? EV_READ : EV_WRITE;
        if (watch(c, what) != 0) {
            broken(c, NULL);
            return;
        }
        return;
    }
}

static void io_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    struct pgconn *c = arg;
    if (c->phase == PHASE_CONNECTING) {
        connect_step(c);
        return;
    }
    if (c->phase != PHASE_READY) return;
    if (what & EV_WRITE) {
        int flushed = PQflush(c->pg);
        if (flushed < 0) {
            broken(c, NULL);
            return;
        }
        if (!flushed) watch(c, EV_READ);
    }
    if (what & EV_READ) {
        if (!c->running) {
            /* notices or the server closing an idle connection */
            if (!PQconsumeInput(c->pg)) broken(c, NULL);
            return;
        }
        read_results(c);
    }
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pgconn *c = arg;
    if (c->phase == PHASE_CONNECTING) broken(c, "timed out connecting");
}

struct pgconn *pgconn_new(struct event_base *base, const char *const *keys,
                          const char *const *values, int timeout_ms, pgconn_state_cb cb,
                          void *arg, char *err, size_t errlen)
{
    struct pgconn *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->base = base;
    c->state_cb = cb;
    c->state_arg = arg;
    c->sock = -1;
    c->pg = PQconnectStartParams(keys, values, 1); /* dbname may hold a conninfo */
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        if (c->pg)
            pgconn_error_text(NULL, c->pg, err, errlen);
        else
            snprintf(err, errlen, "out of memory");
        destroy(c);
        return NULL;
    }
    c->deadline = evtimer_new(base, deadline_cb, c);
    if (!c->deadline) {
        snprintf(err, errlen, "out of memory");
        destroy(c);
        return NULL;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(c->deadline, &tv);
    /* libpq wants the first poll once the socket is writable */
    if (watch(c, EV_WRITE) != 0) {
        snprintf(err, errlen, "cannot watch the connection's socket");
        destroy(c);
        return NULL;
    }
    return c;
}

int pgconn_query(struct pgconn *c, const char *sql, int nparams, const char *const *params,
                 pgconn_result_cb cb, void *arg)
{
    if (!c || c->phase == PHASE_BROKEN || c->phase == PHASE_COPY || c->freed) return -1;
    struct query *q = calloc(1, sizeof *q);
    if (!q) return -1;
    q->sql = strdup(sql);
    q->cb = cb;
    q->arg = arg;
    if (nparams > 0) {
        q->params = calloc((size_t)nparams, sizeof *q->params);
        if (!q->params) {
            query_free(q);
            return -1;
        }
        q->nparams = nparams;
        for (int i = 0; i < nparams; i++)
            if (params[i] && !(q->params[i] = strdup(params[i]))) {
                query_free(q);
                return -1;
            }
    }
    if (!q->sql) {
        query_free(q);
        return -1;
    }
    if (c->tail)
        c->tail->next = q;
    else
        c->head = q;
    c->tail = q;
    /* from inside one of this connection's callbacks, finish_query() or connect_step()
       sends it once the callback returns */
    if (!c->in_callback) send_next(c);
    return 0;
}

PGconn *pgconn_pg(struct pgconn *c)
{
    return c ? c->pg : NULL;
}

int pgconn_idle(const struct pgconn *c)
{
    return c && c->phase == PHASE_READY && !c->head;
}

void pgconn_free(struct pgconn *c)
{
    if (!c) return;
    if (c->in_callback) {
        c->freed = 1;
        c->state_cb = NULL;
        if (c->io) event_del(c->io);
        if (c->deadline) event_del(c->deadline);
        return;
    }
    destroy(c);
}
