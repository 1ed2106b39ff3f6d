/* demo-receiver — the demo estate's online channel: a webhook receiver that verifies
 * stockmesh's signed availability updates and prints one line per update.
 *
 *   demo-receiver [--port 9090] --secret-file FILE
 *
 * Runs until SIGINT or SIGTERM; a summary of what it received goes to stderr.
 */
#include "receiver.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_PORT 9090
#define MAX_SECRET_BYTES 4096

static void usage(FILE *to)
{
    fprintf(to, "usage: demo-receiver [--port N] --secret-file FILE\n"
                "  --port N            listen on 127.0.0.1:N (default %d, 0 picks a free port)\n"
                "  --secret-file FILE  the channel's HMAC secret (surrounding whitespace ignored)\n",
            DEFAULT_PORT);
}

/* Reads the secret, trimmed of surrounding whitespace; 0 or -1 with a message printed. */
static int read_secret(const char *path, char *out, size_t outlen)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        fprintf(stderr, "demo-receiver: cannot read secret file %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t n = fread(out, 1, outlen - 1, f);
    int too_long = n == outlen - 1 && fgetc(f) != EOF;
    fclose(f);
    if (too_long) {
        fprintf(stderr, "demo-receiver: secret file %s is longer than %zu bytes\n", path,
                outlen - 2);
        return -1;
    }
    out[n] = '\0';
    while (n > 0 && strchr(" \t\r\n", out[n - 1]))
        out[--n] = '\0';
    size_t lead = strspn(out, " \t\r\n");
    memmove(out, out + lead, n - lead + 1);
    if (out[0] == '\0') {
        fprintf(stderr, "demo-receiver: secret file %s is empty\n", path);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int port = DEFAULT_PORT;
    const char *secret_file = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (end == argv[i] || *end != '\0' || v < 0 || v > 65535) {
                fprintf(stderr, "demo-receiver: invalid port '%s'\n", argv[i]);
                return 2;
            }
            port = (int)v;
        } else if (strcmp(argv[i], "--secret-file") == 0 && i + 1 < argc) {
            secret_file = argv[++i];
        } else {
            fprintf(stderr, "demo-receiver: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (secret_file == NULL) {
        fprintf(stderr, "demo-receiver: --secret-file is required\n");
        usage(stderr);
        return 2;
    }
    static char secret[MAX_SECRET_BYTES + 2];
    if (read_secret(secret_file, secret, sizeof secret) == -1)
        return 1;

    /* Block the stop signals before the receiver's thread exists; sigwait takes them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN); /* a closed stdout pipe must not kill us mid-line */

    char err[256];
    struct receiver *r = receiver_new(secret, port, err, sizeof err);
    explicit_bzero(secret, sizeof secret);
    if (r == NULL) {
        fprintf(stderr, "demo-receiver: %s\n", err);
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    receiver_set_log(r, stdout);
    fprintf(stderr, "demo-receiver: listening on http://127.0.0.1:%d/ (Ctrl-C to stop)\n",
            receiver_port(r));

    int sig = 0;
    sigwait(&stop, &sig);

    receiver_set_log(r, NULL);
    struct receiver_stats st;
    receiver_stats(r, &st);
    fprintf(stderr,
            "demo-receiver: %s; %llu requests, %llu updates (%llu applied, %llu stale), "
            "%llu SKUs, %llu duplicate deliveries, rejected: %llu signature, %llu timestamp, "
            "%llu malformed\n",
            strsignal(sig), st.requests, st.updates, st.applied, st.stale_versions, st.skus,
            st.duplicate_deliveries, st.rejected_signature, st.rejected_stale_ts,
            st.rejected_malformed);
    receiver_free(r);
    return 0;
}
