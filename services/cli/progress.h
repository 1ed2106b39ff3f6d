/* progress.h — progress of a long operator command: on a terminal one line redrawn in
 * place with a bar; otherwise (a log, a pipe, a test) a plain line every few seconds,
 * so the output stays readable and small. */
#ifndef STOCKMESH_CLI_PROGRESS_H
#define STOCKMESH_CLI_PROGRESS_H

/* Milliseconds between plain lines when the output is not a terminal. */
#define PROGRESS_PLAIN_INTERVAL_MS 5000

struct progress {
    char label[160];
    char unit[16];           /* what is counted: "rows", "SKUs" */
    int tty;                 /* stdout is a terminal */
    int quiet;               /* nothing is printed (--json: stdout is for the document) */
    long long started_ms;
    long long shown_ms;      /* when a line was last printed */
    int drawn;               /* a redrawn line is on the terminal */
};

/* Starts showing the progress of label, counting unit ("rows"); quiet prints nothing. */
void progress_init(struct progress *p, const char *label, const char *unit, int quiet);

/* Shows done of total (0: unknown; below 0: no counts at all) and an optional note.
 * Redraws at most ten times a second on a terminal; force prints now either way. */
void progress_update(struct progress *p, long long done, long long total, const char *note,
                     int force);

/* Ends the progress: clears the redrawn line, so what follows starts on a clean one. */
void progress_done(struct progress *p);

/* Unix milliseconds of the wall clock. */
long long progress_now_ms(void);

#endif
