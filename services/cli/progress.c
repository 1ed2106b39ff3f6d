/* progress.c — see progress.h. */
#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <unistd.h>

#define TTY_REDRAW_MS 100
#define BAR_WIDTH 30

long long progress_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

void progress_init(struct progress *p, const char *label, const char *unit, int quiet)
{
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label);
    snprintf(p->unit, sizeof p->unit, "%s", unit);
    p->tty = isatty(STDOUT_FILENO);
    p->quiet = quiet;
    p->started_ms = progress_now_ms();
    /* in a log, a quick step shows only its forced last line */
    if (!p->tty) p->shown_ms = p->started_ms;
}

static int columns(void)
{
    struct winsize ws;
    return ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20 ? ws.ws_col : 80;
}

void progress_update(struct progress *p, long long done, long long total, const char *note,
                     int force)
{
    if (p->quiet) return;
    long long now = progress_now_ms();
    long long every = p->tty ? TTY_REDRAW_MS : PROGRESS_PLAIN_INTERVAL_MS;
    if (!force && p->shown_ms && now - p->shown_ms < every) return;
    p->shown_ms = now;
    char counts[96] = "", line[512];
    if (total > 0) {
        double pct = done >= total ? 100.0 : 100.0 * (double)done / (double)total;
        snprintf(counts, sizeof counts, "%lld/%lld %s (%.1f%%) ", done, total, p->unit, pct);
    } else if (total == 0) {
        snprintf(counts, sizeof counts, "%lld %s ", done, p->unit);
    }
    long long secs = (now - p->started_ms) / 1000;
    const char *sep = note && *note ? ", " : "";
    if (p->tty) {
        char bar[BAR_WIDTH + 4] = "";
        if (total >= 0) {
            int filled = total > 0 ? (int)(done >= total ? BAR_WIDTH : BAR_WIDTH * done / total) : 0;
            bar[0] = '[';
            for (int i = 0; i < BAR_WIDTH; i++) bar[1 + i] = i < filled ? '#' : '.';
            bar[BAR_WIDTH + 1] = ']';
            bar[BAR_WIDTH + 2] = ' ';
            bar[BAR_WIDTH + 3] = 0;
        }
        snprintf(line, sizeof line, "%s %s%s%llds%s%s", p->label, bar, counts, secs, sep,
                 note ? note : "");
        int cols = columns();
        if ((int)strlen(line) >= cols) line[cols - 1] = 0;
        printf("\r\033[K%s", line);
        p->drawn = 1;
    } else {
        printf("%s: %safter %llds%s%s\n", p->label, counts, secs, sep, note ? note : "");
    }
    fflush(stdout);
}

void progress_done(struct progress *p)
{
    if (p->quiet) return;
    if (p->drawn) printf("\r\033[K");
    p->drawn = 0;
    fflush(stdout);
}
