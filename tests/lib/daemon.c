/* daemon.c — see daemon.h. */
#include "daemon.h"

#include "servers.h"
#include "stockmesh/store.h"

#include <curl/curl.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

double daemon_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return tv.tv_sec * 1000.0 + tv.tv_usec / 1000.0;
}

const char *daemon_binary(int fast)
{
    const char *bin = fast ? getenv("STOCKMESHD_FAST") : NULL;
    if (!bin) bin = getenv("STOCKMESHD");
    return bin ? bin : "build/asan/stockmeshd";
}

int daemon_start(struct daemon *d)
{
    char *argv[8];
    int n = 0;
    argv[n++] = (char *)(d->binary ? d->binary : daemon_binary(0));
    argv[n++] = "-c";
    argv[n++] = d->config_path;
    if (d->roles) {
        argv[n++] = "--roles";
        argv[n++] = (char *)d->roles;
    }
    argv[n] = NULL;
    d->pid = servers_spawn(argv, d->log_path);
    return d->pid > 0 ? 0 : -1;
}

int daemon_stop(struct daemon *d, int sig)
{
    if (d->pid <= 0) return -1;
    kill(d->pid, sig);
    int status = 0;
    waitpid(d->pid, &status, 0);
    d->pid = 0;
    return status;
}

int daemon_log_clean(const struct daemon *d)
{
    FILE *f = fopen(d->log_path, "r");
    if (!f) return 0;
    char line[1024];
    int found = 0, shown = 0;
    while (fgets(line, sizeof line, f) && shown < 30) {
        if (!found && (strstr(line, "ERROR: AddressSanitizer") ||
                       strstr(line, "ERROR: LeakSanitizer") || strstr(line, "runtime error:")))
            found = 1;
        if (found) {
            fputs(line, stderr);
            shown++;
        }
    }
    fclose(f);
    return found ? -1 : 0;
}

void daemon_show_log(const struct daemon *d, int lines)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "tail -n %d %s >&2", lines, d->log_path);
    if (system(cmd) != 0) fprintf(stderr, "(no daemon log at %s)\n", d->log_path);
}

struct buf {
    char *data;
    size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    char *data = realloc(b->data, b->len + size * n + 1);
    if (!data) return 0;
    memcpy(data + b->len, p, size * n);
    b->data = data;
    b->len += size * n;
    data[b->len] = 0;
    return size * n;
}

double daemon_metric(const struct daemon *d, const char *name)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", d->console_port);
    CURL *c = curl_easy_init();
    if (!c) return NAN;
    struct buf b = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 3000L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK || !b.data) {
        free(b.data);
        return NAN;
    }
    double sum = 0;
    size_t n = strlen(name);
    for (char *line = b.data; line && *line;) {
        char *next = strchr(line, '\n');
        if (strncmp(line, name, n) == 0 && (line[n] == ' ' || line[n] == '{')) {
            char *sp = strchr(line + n, ' ');
            if (sp) sum += strtod(sp + 1, NULL);
        }
        line = next ? next + 1 : NULL;
    }
    free(b.data);
    return sum;
}

char *daemon_state_value(const struct daemon *d, const char *scope, const char *key)
{
    char path[600], err[256];
    snprintf(path, sizeof path, "%s/state.db", d->state_dir);
    if (access(path, F_OK) != 0) return NULL; /* not yet: never create it under the daemon */
    struct store *s = store_new(path, err, sizeof err);
    if (!s) return NULL;
    char *out = malloc(65536);
    if (out && store_get(s, scope, key, out, 65536) != 0) {
        free(out);
        out = NULL;
    }
    store_free(s);
    return out;
}

char *daemon_topic_contents(const struct daemon *d, const char *topic)
{
    char path[600], line[512], bootstrap[256] = "", err[512];
    snprintf(path, sizeof path, "%s/backbone", d->state_dir);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "bootstrap=", 10) == 0)
            snprintf(bootstrap, sizeof bootstrap, "%.*s", (int)strcspn(line + 10, "\n"), line + 10);
    if (f) fclose(f);
    if (!bootstrap[0]) return NULL;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", "stockmesh-test-reader", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) return NULL;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int npart = 0;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt)
        npart = md->topics[0].partition_cnt;
    if (md) rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(npart ? npart : 1);
    for (int p = 0; p < npart; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    char *data = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&data, &len);
    double idle_until = daemon_now_ms() + 3000;
    while (daemon_now_ms() < idle_until) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) continue;
        if (!m->err && m->len) {
            fwrite(m->payload, 1, m->len, mem);
            fputc('\n', mem);
            idle_until = daemon_now_ms() + 1000;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    fclose(mem);
    return data;
}


int daemon_log_has(const struct daemon *d, const char *text)
{
    FILE *f = fopen(d->log_path, "r");
    if (!f) return 0;
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) found = strstr(line, text) != NULL;
    fclose(f);
    return found;
}

int daemon_workdir_make(char *out, size_t outlen, const char *name)
{
    const char *tmp = getenv("TMPDIR");
    int n = snprintf(out, outlen, "%s/stockmesh-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
    if (n < 0 || (size_t)n >= outlen) return -1;
    return mkdtemp(out) ? 0 : -1;
}

void daemon_workdir_remove(const char *dir)
{
    if (getenv("TEST_KEEP")) {
        fprintf(stderr, "kept %s\n", dir);
        return;
    }
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}
