/*
 * bench_daemon: the service's footprint and speed, beside a peer.
 *
 *   bench_daemon [--quick] [--dir DIR]
 *
 *   - TLS probes per second against a local nginx (keywarden's probe
 *     engine, 64 at a time on one loop), and in the same run the peer:
 *     `openssl s_client` in a loop, one process per probe;
 *   - an idle daemon with 10,000 inventoried certificates and 100
 *     endpoints: resident memory and CPU time over 60 s once its first
 *     scan and probes are done (nothing is due: it should sleep);
 *   - /metrics render time for those objects (best of 5, over HTTP).
 * --quick shrinks it for a smoke run in CI.
 */
#include "probe/probe.h"
#include "tests/integration/proc.h"
#include "tests/integration/servers.h"
#include "testpki.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DAY 86400

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- probes ---------------------------------------------------------------- */

typedef struct pb {
    uv_loop_t *loop;
    kw_endpoint_conf ep;
    int total, started, done, ok, inflight;
} pb;

static void start_more(pb *b);

static void on_probe(void *ctx, kw_probe_result *res)
{
    pb *b = ctx;

    b->done++;
    b->inflight--;
    b->ok += res->ok;
    kw_probe_result_clear(res);
    start_more(b);
}

static void start_more(pb *b)
{
    while (b->inflight < 64 && b->started < b->total) {
        if (kw_probe_start(b->loop, &b->ep, on_probe, b, NULL) != 0)
            abort();
        b->started++;
        b->inflight++;
    }
}

static void probe_bench(int port, int total, int peer_runs)
{
    uv_loop_t loop;
    pb b;
    double t0, secs, peer;
    char target[64];
    char *argv[8];
    int i, ok = 0;

    memset(&b, 0, sizeof(b));
    uv_loop_init(&loop);
    b.loop = &loop;
    b.total = total;
    b.ep.host = (char *)"127.0.0.1";
    b.ep.sni = (char *)"web.example.com";
    b.ep.port = port;
    b.ep.timeout = 10;
    t0 = now_s();
    start_more(&b);
    uv_run(&loop, UV_RUN_DEFAULT);
    secs = now_s() - t0;
    uv_loop_close(&loop);

    snprintf(target, sizeof(target), "127.0.0.1:%d", port);
    argv[0] = (char *)"/usr/bin/openssl";
    argv[1] = (char *)"s_client";
    argv[2] = (char *)"-connect";
    argv[3] = target;
    argv[4] = (char *)"-servername";
    argv[5] = (char *)"web.example.com";
    argv[6] = NULL;
    t0 = now_s();
    for (i = 0; i < peer_runs; i++) {
        int ofd, efd;
        char *o, *e;
        pid_t pid = proc_spawn_pipes(argv, &ofd, &efd);
        /* s_client reads stdin: our pipes end give it EOF at once. */
        proc_drain(ofd, efd, &o, &e);
        ok += strstr(o, "BEGIN CERTIFICATE") != NULL ||
              strstr(o, "Server certificate") != NULL;
        free(o);
        free(e);
        proc_wait(pid, 10000);
    }
    peer = now_s() - t0;
    printf("probes: %d TLS probes of nginx in %.2f s: %.0f probes/s (%d "
           "ok), 64 at a time on one loop\n",
           total, secs, total / secs, b.ok);
    printf("peer:   openssl s_client, %d runs one after another: %.2f s, "
           "%.0f probes/s (%d ok)\n",
           peer_runs, peer, peer_runs / peer, ok);
    fflush(stdout);
}

/* ---- the idle daemon ---------------------------------------------------------- */

static long proc_field(pid_t pid, const char *file, const char *key)
{
    char path[64], line[256];
    FILE *f;
    long v = -1;

    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, key, strlen(key)) == 0) {
            v = atol(line + strlen(key));
            break;
        }
    fclose(f);
    return v;
}

/* utime + stime of pid, in clock ticks. */
static long cpu_ticks(pid_t pid)
{
    char path[64], buf[2048], *p;
    FILE *f;
    long ut = 0, st = 0;
    int i;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    if (fgets(buf, sizeof(buf), f) == NULL) {
        fclose(f);
        return -1;
    }
    fclose(f);
    p = strrchr(buf, ')'); /* the command may hold spaces */
    for (i = 0; p != NULL && i < 12; i++)
        p = strchr(p + 1, ' ');
    if (p == NULL || sscanf(p + 1, "%ld %ld", &ut, &st) != 2)
        return -1;
    return ut + st;
}

typedef struct dbq {
    const char *db, *sql;
    int64_t want;
} dbq;

static int db_reached(void *ctx)
{
    dbq *q = ctx;
    return db_int(q->db, q->sql) >= q->want;
}

static double http_get_ms(int port, size_t *bytes)
{
    struct sockaddr_in a;
    char buf[65536];
    const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    double t0 = now_s();
    ssize_t n;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    *bytes = 0;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
        close(fd);
        return -1;
    }
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        *bytes += (size_t)n;
    close(fd);
    return (now_s() - t0) * 1000;
}

static void daemon_bench(const char *work, int nginx_port, long ncerts,
                         int nendpoints, int idle_secs)
{
    char tree[1100], state[1100], conf[1100], log[1100], db[1200];
    char *text, *argv[7];
    size_t pos = 0, cap = 1 << 16, bytes = 0;
    int metrics_port = free_port(), i;
    long rss0, rss1, t0, t1, hz = sysconf(_SC_CLK_TCK);
    double best = 1e9;
    pid_t pid;
    dbq q;

    snprintf(tree, sizeof(tree), "%s/daemon-tree", work);
    snprintf(state, sizeof(state), "%s/daemon-state", work);
    snprintf(conf, sizeof(conf), "%s/daemon.conf", work);
    snprintf(log, sizeof(log), "%s/daemon.log", work);
    snprintf(db, sizeof(db), "%s/keywarden.db", state);
    tp_make_tree(tree, ncerts, (int64_t)time(NULL), 11);
    text = malloc(cap);
    pos += (size_t)snprintf(text + pos, cap - pos,
                            "[daemon]\nmetrics_listen = 127.0.0.1:%d\n"
                            "[scan]\npath = %s\ninterval = 1h\n",
                            metrics_port, tree);
    for (i = 0; i < nendpoints; i++)
        pos += (size_t)snprintf(text + pos, cap - pos,
                                "[endpoint \"e%d\"]\nhost = 127.0.0.1\n"
                                "port = %d\nsni = web.example.com\n"
                                "interval = 1h\n",
                                i, nginx_port);
    tp_write_bytes(conf, text, pos, 0644);
    free(text);

    argv[0] = (char *)KEYWARDEN_BIN;
    argv[1] = (char *)"--config";
    argv[2] = conf;
    argv[3] = (char *)"--state-dir";
    argv[4] = state;
    argv[5] = (char *)"serve";
    argv[6] = NULL;
    pid = proc_spawn_log(argv, log);
    q.db = db;
    q.sql = "SELECT count(*) FROM endpoints WHERE ok = 1";
    q.want = nendpoints;
    if (!proc_until(db_reached, &q, 300000)) {
        fprintf(stderr, "bench: the daemon did not probe its endpoints\n");
        kill(pid, SIGKILL);
        exit(1);
    }
    q.sql = "SELECT count(*) FROM jobs WHERE type = 'scan' AND state = "
            "'pending' AND next_at > strftime('%s', 'now') + 600";
    q.want = 1;
    proc_until(db_reached, &q, 300000);
    /* Settle, then measure a quiet window. */
    poll(NULL, 0, 1000);
    rss0 = proc_field(pid, "status", "VmRSS:");
    t0 = cpu_ticks(pid);
    poll(NULL, 0, idle_secs * 1000);
    rss1 = proc_field(pid, "status", "VmRSS:");
    t1 = cpu_ticks(pid);
    for (i = 0; i < 5; i++) {
        double ms = http_get_ms(metrics_port, &bytes);
        if (ms >= 0 && ms < best)
            best = ms;
    }
    printf("idle daemon, %ld certificates (%lld objects), %d endpoints: "
           "RSS %.1f MiB (%.1f MiB %d s before), CPU %.3f s over %d s\n",
           ncerts, (long long)db_int(db, "SELECT count(*) FROM objects"),
           nendpoints, rss1 / 1024.0, rss0 / 1024.0, idle_secs,
           (double)(t1 - t0) / (double)hz, idle_secs);
    printf("/metrics: %.1f ms for %zu bytes (best of 5, over HTTP)\n", best,
           bytes);
    kill(pid, SIGTERM);
    proc_wait(pid, 10000);
}

int main(int argc, char **argv)
{
    const char *dir = "/tmp";
    char work[1024], cert[1100], key[1100];
    int quick = 0, i, port;
    EVP_PKEY *ck, *k;
    X509 *ca, *c, *chain[2];
    const char *dns[] = {"web.example.com", NULL};
    time_t now = time(NULL);
    pid_t nginx;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else {
            fprintf(stderr, "usage: bench_daemon [--quick] [--dir DIR]\n");
            return 2;
        }
    }
    snprintf(work, sizeof(work), "%s/kw-bench-daemon", dir);
    mkdir(work, 0755);
    ck = tp_key_ec();
    k = tp_key_ec();
    ca = tp_cert(&(tp_spec){.cn = "Bench CA", .is_ca = 1,
                            .not_before = now - DAY,
                            .not_after = now + 900 * DAY, .serial = 1,
                            .key = ck});
    c = tp_cert(&(tp_spec){.cn = "web.example.com", .dns = dns,
                           .not_before = now - DAY,
                           .not_after = now + 90 * DAY, .serial = 2,
                           .key = k, .issuer = ca, .issuer_key = ck});
    chain[0] = c;
    chain[1] = ca;
    snprintf(cert, sizeof(cert), "%s/web.crt", work);
    snprintf(key, sizeof(key), "%s/web.key", work);
    tp_write_pem(cert, chain, 2, NULL, 0644);
    tp_write_key(key, k, 0600);
    port = free_port();
    nginx = nginx_start(work, port, cert, key);
    if (nginx < 0) {
        fprintf(stderr, "bench: cannot start nginx\n");
        return 1;
    }
    printf("keywarden daemon benchmark (%ld CPUs online)%s\n",
           sysconf(_SC_NPROCESSORS_ONLN), quick ? " [quick]" : "");
    probe_bench(port, quick ? 200 : 3000, quick ? 20 : 200);
    daemon_bench(work, port, quick ? 1000 : 10000, quick ? 10 : 100,
                 quick ? 5 : 60);
    kill(nginx, SIGTERM);
    proc_wait(nginx, 10000);
    {
        char *rm[] = {(char *)"/bin/rm", (char *)"-rf", work, NULL};
        int o, e;
        char *a, *b;
        pid_t p = proc_spawn_pipes(rm, &o, &e);
        proc_drain(o, e, &a, &b);
        free(a);
        free(b);
        proc_wait(p, 60000);
    }
    X509_free(ca);
    X509_free(c);
    EVP_PKEY_free(ck);
    EVP_PKEY_free(k);
    return 0;
}
