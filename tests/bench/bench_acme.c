/*
 * bench_acme: certificates from an ACME CA, keywarden beside its peers.
 *
 *   bench_acme [--quick] [--peers | --no-peers] [--count N] [--dir DIR]
 *              [--keep]
 *
 * Against Debian's Pebble 2.4 on loopback (PEBBLE_VA_NOSLEEP=1, its
 * default 5 % badNonce rejection and 50 % authz reuse left on; started
 * fresh for every tool and scenario, so no account, authorization or
 * nonce carries over), all ECDSA P-256:
 *
 *   (a) 1 certificate with 1 name          c0.example.com
 *   (b) N certificates of one name each    c0 ... c{N-1}.example.com
 *   (c) 1 certificate with N names         the same N names
 *
 * keywarden: one configuration with N [certificate "cN"] sections, its
 * built-in http-01 responder on the port Pebble's VA dials, concurrency =
 * N, and one `keywarden renew`.  The peers, each the way it is naturally
 * used (one process per certificate, one after another; and where the
 * tool allows it, N processes at once), trusting Pebble's TLS CA:
 *
 *   lego 4.9     --http --http.port (its own responder); in parallel
 *                --http.webroot served by nginx (one port for all), each
 *                process with its own --path (account)
 *   certbot 2.1  certonly --standalone (one process at a time: its lock
 *                and the port)
 *   uacme 1.7.4  the shipped uacme.sh hook writing into a webroot that
 *                nginx serves; `new` once, then `issue` per certificate;
 *                in parallel too.  uacme has no CA option (libcurl-gnutls
 *                trusts /etc/ssl/certs): each uacme process runs in its
 *                own mount namespace where /etc/ssl/certs is a bind mount
 *                of a folder holding Pebble's TLS CA; the system's store
 *                is never touched.  Without that (not root), it is
 *                skipped with the reason printed.
 *
 * Measured per (tool, scenario): wall time from the first process started
 * to the last one reaped (account creation included), CPU (user + system
 * of every process and its reaped descendants, from wait4) per
 * certificate asked for, the largest peak RSS of one process (ru_maxrss),
 * and certificates issued out of expected: keywarden's from its "NAME:
 * issued:" lines, a peer's from its exit status and the certificate file
 * it wrote.  Every failure is printed.  Pebble, nginx and the responders'
 * CPU is not counted for anyone (keywarden's responder is in-process and
 * is counted).
 *
 * --quick: keywarden only, (a) and (b) with 5 certificates (CI, so the
 * benchmark cannot rot; exits 1 if a certificate is missing).  --peers
 * adds the peers to --quick; --no-peers leaves them out of a full run.
 */
#include "tests/integration/pebble.h"
#include "tests/integration/proc.h"
#include "tests/integration/servers.h"
#include "testpki.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LEGO "/usr/bin/lego"
#define CERTBOT "/usr/bin/certbot"
#define UACME "/usr/bin/uacme"
#define UACME_HOOK "/usr/share/uacme/uacme.sh"
#define CMD_TIMEOUT 900.0 /* seconds, per process */
#define MAXARGS 200
#define PLEN 1024

static char g_work[PLEN];
static pb_pki g_pki;
static pb_dns g_dns;
static int g_n = 50;

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

static void path_fmt(char *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void path_fmt(char *out, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(out, PLEN, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= PLEN) {
        fprintf(stderr, "bench: path too long\n");
        exit(1);
    }
}

/* The whole file, NUL-terminated (NULL if unreadable). */
static char *slurp_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0, n;

    if (f == NULL)
        return NULL;
    do {
        if (cap - len < 65536) {
            char *nb = realloc(buf, cap + 65536 + 1);

            if (nb == NULL)
                abort();
            buf = nb;
            cap += 65536;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* ----- results ---------------------------------------------------------- */

enum { SC_A, SC_B, SC_C, SC_N };

typedef struct row {
    char tool[40];
    int scen;
    int peer;      /* 0: keywarden */
    int parallel;  /* processes at once */
    double wall, cpu;
    long rss_kb;
    int issued, expected;
    char skip[200]; /* non-empty: not measured, and why */
} row;

static row g_rows[64];
static int g_nrows;

static row *row_new(const char *tool, int scen, int peer, int parallel)
{
    row *r;

    if (g_nrows >= (int)(sizeof(g_rows) / sizeof(g_rows[0])))
        abort();
    r = &g_rows[g_nrows++];
    memset(r, 0, sizeof(*r));
    snprintf(r->tool, sizeof(r->tool), "%s", tool);
    r->scen = scen;
    r->peer = peer;
    r->parallel = parallel;
    r->expected = scen == SC_B ? g_n : 1;
    return r;
}

static const char *scen_name(int s)
{
    static char buf[SC_N][48];

    snprintf(buf[SC_A], sizeof(buf[SC_A]), "(a) 1 cert, 1 name");
    snprintf(buf[SC_B], sizeof(buf[SC_B]), "(b) %d certs, 1 name each", g_n);
    snprintf(buf[SC_C], sizeof(buf[SC_C]), "(c) 1 cert, %d names", g_n);
    return buf[s];
}

static const char *scen_tag(int s)
{
    return s == SC_A ? "a" : s == SC_B ? "b" : "c";
}

/* ----- processes -------------------------------------------------------- */

/* A copy of the environment without PEBBLE_* and without the keys extra
 * sets, then extra ("K=V", NULL-terminated).  Built before fork. */
static char **env_build(const char *const *extra)
{
    size_t n = 0, ne = 0, i, j, k = 0;
    char **envp;

    while (environ[n] != NULL)
        n++;
    while (extra != NULL && extra[ne] != NULL)
        ne++;
    envp = calloc(n + ne + 1, sizeof(char *));
    if (envp == NULL)
        abort();
    for (i = 0; i < n; i++) {
        int drop = strncmp(environ[i], "PEBBLE_", 7) == 0;

        for (j = 0; j < ne && !drop; j++) {
            size_t kl = strcspn(extra[j], "=");

            drop = strncmp(environ[i], extra[j], kl + 1) == 0;
        }
        if (!drop)
            envp[k++] = environ[i];
    }
    for (j = 0; j < ne; j++)
        envp[k++] = (char *)extra[j];
    envp[k] = NULL;
    return envp;
}

/* fork + exec argv with stdout to out and stderr to err (the same file
 * when err is NULL), stdin /dev/null.  With ca_dir, the child first moves
 * into a private mount namespace where /etc/ssl/certs is ca_dir (exit 126
 * if it cannot).  The child dies with us. */
static pid_t spawn(char *const argv[], char **envp, const char *out,
                   const char *err, const char *ca_dir)
{
    pid_t pid;
    int ofd, efd;

    ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    efd = err != NULL
              ? open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)
              : ofd;
    if (ofd < 0 || efd < 0) {
        fprintf(stderr, "bench: %s: %s\n", out, strerror(errno));
        exit(1);
    }
    pid = proc_fork_tied();
    if (pid == 0) {
        int nul = open("/dev/null", O_RDONLY);

        if (nul >= 0)
            dup2(nul, 0);
        dup2(ofd, 1);
        dup2(efd, 2);
        if (ca_dir != NULL &&
            (unshare(CLONE_NEWNS) != 0 ||
             mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
             mount(ca_dir, "/etc/ssl/certs", NULL, MS_BIND, NULL) != 0)) {
            dprintf(2, "bench: private /etc/ssl/certs: %s\n",
                    strerror(errno));
            _exit(126);
        }
        execve(argv[0], argv, envp);
        dprintf(2, "bench: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(ofd);
    if (efd != ofd)
        close(efd);
    return pid;
}

/* Reaps pid if it has ended: 1 (status, ru set), else 0. */
static int reap(pid_t pid, int *status, struct rusage *ru)
{
    pid_t r = wait4(pid, status, WNOHANG, ru);

    if (r == pid)
        return 1;
    if (r < 0 && errno != EINTR) {
        perror("wait4");
        exit(1);
    }
    return 0;
}

/* A command of a batch. */
typedef struct cmd {
    char *argv[MAXARGS];
    int argc;
    char log[PLEN], err[PLEN]; /* err empty: stderr into log */
    char check[PLEN];          /* must exist after a success ("" none) */
    char detail[PLEN];         /* the tool's own log, for the CA's error */
    int certs;                 /* certificates it should issue */
    char label[160];
    pid_t pid;
    double started;
    int status;
} cmd;

static void arg(cmd *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void arg(cmd *c, const char *fmt, ...)
{
    va_list ap;
    char *s;

    if (c->argc >= MAXARGS - 1)
        abort();
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    va_end(ap);
    c->argv[c->argc++] = s;
    c->argv[c->argc] = NULL;
}

static void cmd_clear(cmd *c)
{
    int i;

    for (i = 0; i < c->argc; i++)
        free(c->argv[i]);
    memset(c, 0, sizeof(*c));
}

/* The last line of path that says something about an error (else the
 * last non-empty line), at most cap-1 bytes. */
static void why_failed(const char *path, char *out, size_t cap)
{
    char *text = slurp_file(path), *line, *save = NULL;
    char last[400] = "", err[400] = "";

    out[0] = '\0';
    if (text == NULL)
        return;
    for (line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        while (*line == ' ' || *line == '\t')
            line++;
        if (*line == '\0')
            continue;
        snprintf(last, sizeof(last), "%s", line);
        if (strcasestr(line, "error") != NULL ||
            strcasestr(line, "fail") != NULL ||
            strcasestr(line, "invalid") != NULL ||
            strcasestr(line, "badNonce") != NULL)
            snprintf(err, sizeof(err), "%s", line);
    }
    free(text);
    snprintf(out, cap, "%s", err[0] != '\0' ? err : last);
}

/* The last line of path containing needle (from needle on), or "". */
static void last_match(const char *path, const char *needle, char *out,
                       size_t cap)
{
    char *text = slurp_file(path), *p, *found = NULL;

    out[0] = '\0';
    if (text == NULL)
        return;
    for (p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        found = p;
    if (found != NULL)
        snprintf(out, cap, "%.*s", (int)strcspn(found, "\n"), found);
    free(text);
}

/* Runs cmds[0..n) with at most parallel at once, in order; adds CPU, peak
 * RSS and issued certificates to r; prints every failure. */
static int run_batch(row *r, cmd *cmds, int n, int parallel,
                     const char *const *env, const char *ca_dir)
{
    char **envp = env_build(env);
    int next = 0, running = 0, i, failed = 0;

    while (next < n || running > 0) {
        int reaped = 0;

        while (running < parallel && next < n) {
            cmd *c = &cmds[next++];

            c->started = now_s();
            c->pid = spawn(c->argv, envp, c->log,
                           c->err[0] != '\0' ? c->err : NULL, ca_dir);
            running++;
        }
        for (i = 0; i < next; i++) {
            cmd *c = &cmds[i];
            struct rusage ru;
            int st;

            if (c->pid <= 0)
                continue;
            if (!reap(c->pid, &st, &ru)) {
                if (now_s() - c->started > CMD_TIMEOUT) {
                    kill(c->pid, SIGKILL);
                    fprintf(stderr, "bench: %s: killed after %.0f s\n",
                            c->label, CMD_TIMEOUT);
                }
                continue;
            }
            c->pid = 0;
            running--;
            reaped++;
            c->status = WIFEXITED(st) ? WEXITSTATUS(st)
                                      : 128 + WTERMSIG(st);
            r->cpu += (double)ru.ru_utime.tv_sec +
                      (double)ru.ru_utime.tv_usec / 1e6 +
                      (double)ru.ru_stime.tv_sec +
                      (double)ru.ru_stime.tv_usec / 1e6;
            if (ru.ru_maxrss > r->rss_kb)
                r->rss_kb = ru.ru_maxrss;
            if (c->status == 0 &&
                (c->check[0] == '\0' || access(c->check, F_OK) == 0)) {
                r->issued += c->certs;
            } else {
                char why[300], ca_err[300] = "";

                failed++;
                why_failed(c->err[0] != '\0' ? c->err : c->log, why,
                           sizeof(why));
                if (c->detail[0] != '\0')
                    last_match(c->detail, "urn:ietf:params:acme:error:",
                               ca_err, sizeof(ca_err));
                printf("  FAILED %s: exit %d%s: %s%s%s (log: %s)\n",
                       c->label, c->status,
                       c->status == 0 ? ", but no certificate file" : "",
                       why, ca_err[0] != '\0' ? "; last CA error: " : "",
                       ca_err, c->log);
                fflush(stdout);
            }
        }
        if (reaped == 0)
            sleep_ms(1);
    }
    free(envp);
    return failed;
}

/* ----- Pebble, fresh per run ------------------------------------------ */

typedef struct ca {
    pebble p;
    size_t mark;
    char dir[PLEN];   /* this run's own folder */
} ca;

static int ca_start(ca *c, const char *tool, int scen)
{
    pb_opts o = PB_OPTS_DEFAULT(g_dns.dns_port);
    char name[96];

    /* Pebble as it comes, minus the validation sleeps: 5 % badNonce and
     * 50 % authz reuse stay on; no -strict (the peers predate it). */
    o.nosleep = 1;
    o.strict = 0;
    snprintf(name, sizeof(name), "%s-%s", tool, scen_tag(scen));
    path_fmt(c->dir, "%s/%s", g_work, name);
    tp_mkdirs(c->dir);
    c->mark = pb_mark();
    if (pb_start(g_work, name, &g_pki, &o, &c->p) != 0) {
        pb_stop_to(c->mark);
        return -1;
    }
    return 0;
}

static void ca_stop(ca *c)
{
    pb_stop_to(c->mark);
}

/* ----- keywarden -------------------------------------------------------- */

static void kw_run(int scen)
{
    row *r = row_new("keywarden", scen, 0, 1);
    char conf[PLEN], state[PLEN];
    char *text;
    size_t cap = (size_t)g_n * 128 + 4096, pos = 0;
    int i, ncerts = scen == SC_B ? g_n : 1;
    double t0;
    cmd c;
    ca pb;

    if (ca_start(&pb, "keywarden", scen) != 0) {
        snprintf(r->skip, sizeof(r->skip), "Pebble did not start");
        return;
    }
    path_fmt(conf, "%s/keywarden.conf", pb.dir);
    path_fmt(state, "%s/state", pb.dir);
    tp_mkdirs(state);
    text = malloc(cap);
    if (text == NULL)
        abort();
    pos += (size_t)snprintf(text + pos, cap - pos,
                            "[daemon]\nmetrics_listen = off\n"
                            "[acme]\ndirectory = %s\nca_file = %s\n"
                            "http01_listen = 127.0.0.1:%d\n"
                            "contact = mailto:x@example.com\n"
                            "concurrency = %d\n"
                            /* keywarden's defaults, pre-check included,
                             * pointed at what Pebble's validator uses */
                            "resolver = 127.0.0.1:%d\n"
                            "validation_http_port = %d\n"
                            "validation_allow_private = yes\n",
                            pb.p.directory, g_pki.ca_pem, pb.p.http_port,
                            g_n > 256 ? 256 : g_n, g_dns.dns_port,
                            pb.p.http_port);
    if (scen == SC_C) {
        pos += (size_t)snprintf(text + pos, cap - pos,
                                "[certificate \"c0\"]\nnames = ");
        for (i = 0; i < g_n; i++)
            pos += (size_t)snprintf(text + pos, cap - pos,
                                    "%sc%d.example.com", i ? ", " : "", i);
        pos += (size_t)snprintf(text + pos, cap - pos, "\nkey_type = ec256\n");
    } else {
        for (i = 0; i < ncerts; i++)
            pos += (size_t)snprintf(text + pos, cap - pos,
                                    "[certificate \"c%d\"]\n"
                                    "names = c%d.example.com\n"
                                    "key_type = ec256\n",
                                    i, i);
    }
    tp_write_bytes(conf, text, pos, 0644);
    free(text);

    memset(&c, 0, sizeof(c));
    arg(&c, "%s", KEYWARDEN_BIN);
    arg(&c, "--state-dir");
    arg(&c, "%s", state);
    arg(&c, "--config");
    arg(&c, "%s", conf);
    arg(&c, "renew");
    path_fmt(c.log, "%s/renew.out", pb.dir);
    path_fmt(c.err, "%s/renew.err", pb.dir);
    snprintf(c.label, sizeof(c.label), "keywarden renew %s",
             scen_tag(scen));
    c.certs = 0; /* counted from the output below */
    t0 = now_s();
    run_batch(r, &c, 1, 1, NULL, NULL);
    r->wall = now_s() - t0;
    {
        char *out = slurp_file(c.log), head[64];
        int missing = 0;

        for (i = 0; i < ncerts; i++) {
            const char *p;

            snprintf(head, sizeof(head), "c%d: issued: ", i);
            p = out != NULL ? strstr(out, head) : NULL;
            if (p != NULL && (p == out || p[-1] == '\n')) {
                r->issued++;
                continue;
            }
            missing++;
            snprintf(head, sizeof(head), "c%d: ", i);
            p = out != NULL ? strstr(out, head) : NULL;
            if (p != NULL) {
                printf("  FAILED keywarden: %.*s\n",
                       (int)strcspn(p, "\n"), p);
            } else if (missing <= 5) {
                printf("  FAILED keywarden: no line for c%d (exit %d; "
                       "%s, %s)\n",
                       i, c.status, c.log, c.err);
            }
        }
        if (missing > 5)
            printf("  FAILED keywarden: %d certificates in all\n", missing);
        free(out);
    }
    cmd_clear(&c);
    ca_stop(&pb);
}

/* ----- the peers -------------------------------------------------------- */

static cmd *cmds_new(int n)
{
    cmd *c = calloc((size_t)n, sizeof(cmd));

    if (c == NULL)
        abort();
    return c;
}

static void cmds_free(cmd *c, int n)
{
    int i;

    for (i = 0; i < n; i++)
        cmd_clear(&c[i]);
    free(c);
}

/* The names of command k of scenario scen: -d flags or arguments. */
static int names_of(int scen, int k, int *first, int *count)
{
    if (scen == SC_B) {
        *first = k;
        *count = 1;
    } else {
        *first = 0;
        *count = scen == SC_C ? g_n : 1;
    }
    return 0;
}

static void lego_run(int scen, int parallel)
{
    char tool[40], lenv[PLEN + 32], henv[PLEN + 8], webroot[PLEN];
    const char *env[3];
    int n = scen == SC_B ? g_n : 1, k, j, first, count;
    row *r;
    cmd *cs;
    ca pb;
    pid_t web = 0;
    double t0;

    snprintf(tool, sizeof(tool), parallel > 1 ? "lego x%d procs" : "lego",
             parallel);
    r = row_new(tool, scen, 1, parallel);
    if (access(LEGO, X_OK) != 0) {
        snprintf(r->skip, sizeof(r->skip), "%s not installed", LEGO);
        return;
    }
    if (ca_start(&pb, parallel > 1 ? "lego-par" : "lego", scen) != 0) {
        snprintf(r->skip, sizeof(r->skip), "Pebble did not start");
        return;
    }
    if (parallel > 1) {
        /* One port for N processes: their webroot behind nginx. */
        path_fmt(webroot, "%s/webroot", pb.dir);
        tp_mkdirs(webroot);
        web = pb_nginx_webroot(pb.dir, "nginx", pb.p.http_port, webroot);
        if (web < 0) {
            snprintf(r->skip, sizeof(r->skip), "nginx did not start");
            ca_stop(&pb);
            return;
        }
    }
    snprintf(lenv, sizeof(lenv), "LEGO_CA_CERTIFICATES=%s", g_pki.ca_pem);
    snprintf(henv, sizeof(henv), "HOME=%s", pb.dir);
    env[0] = lenv;
    env[1] = henv;
    env[2] = NULL;
    cs = cmds_new(n);
    for (k = 0; k < n; k++) {
        cmd *c = &cs[k];
        char path[PLEN];

        names_of(scen, k, &first, &count);
        if (parallel > 1)
            path_fmt(path, "%s/lego-%d", pb.dir, k);
        else
            path_fmt(path, "%s/lego", pb.dir);
        arg(c, LEGO);
        arg(c, "--server");
        arg(c, "%s", pb.p.directory);
        arg(c, "--email");
        arg(c, "x@example.com");
        arg(c, "--accept-tos");
        arg(c, "--http");
        if (parallel > 1) {
            arg(c, "--http.webroot");
            arg(c, "%s", webroot);
        } else {
            arg(c, "--http.port");
            arg(c, "127.0.0.1:%d", pb.p.http_port);
        }
        arg(c, "--key-type");
        arg(c, "ec256");
        arg(c, "--path");
        arg(c, "%s", path);
        for (j = first; j < first + count; j++) {
            arg(c, "-d");
            arg(c, "c%d.example.com", j);
        }
        arg(c, "run");
        path_fmt(c->log, "%s/lego-%d.log", pb.dir, k);
        path_fmt(c->check, "%s/certificates/c%d.example.com.crt", path,
                 first);
        c->certs = 1;
        snprintf(c->label, sizeof(c->label), "%s (%s) c%d%s", tool,
                 scen_tag(scen), first, count > 1 ? "+" : "");
    }
    t0 = now_s();
    run_batch(r, cs, n, parallel, env, NULL);
    r->wall = now_s() - t0;
    cmds_free(cs, n);
    if (web > 0)
        pb_stop(web);
    ca_stop(&pb);
}

static void certbot_run(int scen)
{
    char henv[PLEN + 8], renv[PLEN + 32], base[PLEN];
    const char *env[3];
    int n = scen == SC_B ? g_n : 1, k, j, first, count;
    row *r = row_new("certbot", scen, 1, 1);
    cmd *cs;
    ca pb;
    double t0;

    if (access(CERTBOT, X_OK) != 0) {
        snprintf(r->skip, sizeof(r->skip), "%s not installed", CERTBOT);
        return;
    }
    if (ca_start(&pb, "certbot", scen) != 0) {
        snprintf(r->skip, sizeof(r->skip), "Pebble did not start");
        return;
    }
    path_fmt(base, "%s/certbot", pb.dir);
    snprintf(renv, sizeof(renv), "REQUESTS_CA_BUNDLE=%s", g_pki.ca_pem);
    snprintf(henv, sizeof(henv), "HOME=%s", pb.dir);
    env[0] = renv;
    env[1] = henv;
    env[2] = NULL;
    cs = cmds_new(n);
    for (k = 0; k < n; k++) {
        cmd *c = &cs[k];

        names_of(scen, k, &first, &count);
        arg(c, CERTBOT);
        arg(c, "certonly");
        arg(c, "--standalone");
        arg(c, "--preferred-challenges");
        arg(c, "http");
        arg(c, "--http-01-port");
        arg(c, "%d", pb.p.http_port);
        arg(c, "--http-01-address");
        arg(c, "127.0.0.1");
        arg(c, "--server");
        arg(c, "%s", pb.p.directory);
        arg(c, "--non-interactive");
        arg(c, "--agree-tos");
        arg(c, "-m");
        arg(c, "x@example.com");
        arg(c, "--no-eff-email");
        arg(c, "--key-type");
        arg(c, "ecdsa");
        arg(c, "--elliptic-curve");
        arg(c, "secp256r1");
        arg(c, "--config-dir");
        arg(c, "%s/config", base);
        arg(c, "--work-dir");
        arg(c, "%s/work", base);
        arg(c, "--logs-dir");
        arg(c, "%s/logs", base);
        for (j = first; j < first + count; j++) {
            arg(c, "-d");
            arg(c, "c%d.example.com", j);
        }
        path_fmt(c->log, "%s/certbot-%d.log", pb.dir, k);
        path_fmt(c->check, "%s/config/live/c%d.example.com/fullchain.pem",
                 base, first);
        path_fmt(c->detail, "%s/logs/letsencrypt.log", base);
        c->certs = 1;
        snprintf(c->label, sizeof(c->label), "certbot (%s) c%d%s",
                 scen_tag(scen), first, count > 1 ? "+" : "");
    }
    t0 = now_s();
    run_batch(r, cs, n, 1, env, NULL);
    r->wall = now_s() - t0;
    cmds_free(cs, n);
    ca_stop(&pb);
}

/* Can a child see its own /etc/ssl/certs?  NULL, or why not. */
static const char *private_certs_ok(const char *ca_dir)
{
    static char why[200];
    pid_t pid = fork();
    int st;

    if (pid < 0)
        abort();
    if (pid == 0) {
        if (unshare(CLONE_NEWNS) != 0)
            _exit(1);
        if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
            _exit(2);
        if (mount(ca_dir, "/etc/ssl/certs", NULL, MS_BIND, NULL) != 0)
            _exit(3);
        _exit(0);
    }
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return "the namespace probe died";
    if (WEXITSTATUS(st) == 0)
        return NULL;
    snprintf(why, sizeof(why),
             "uacme has no CA option and a private mount namespace for "
             "/etc/ssl/certs is not available here (step %d failed; needs "
             "root)",
             WEXITSTATUS(st));
    return why;
}

static void uacme_run(int scen, int parallel)
{
    char tool[40], cenv[PLEN + 32], henv[PLEN + 8], webroot[PLEN];
    char chal[PLEN], cadir[PLEN], conf[PLEN], capem[PLEN];
    const char *env[3], *why;
    int n = scen == SC_B ? g_n : 1, k, j, first, count;
    row *r;
    cmd *cs, nw;
    ca pb;
    pid_t web;
    double t0;

    snprintf(tool, sizeof(tool), parallel > 1 ? "uacme x%d procs" : "uacme",
             parallel);
    r = row_new(tool, scen, 1, parallel);
    if (access(UACME, X_OK) != 0 || access(UACME_HOOK, X_OK) != 0) {
        snprintf(r->skip, sizeof(r->skip), "%s or %s not installed", UACME,
                 UACME_HOOK);
        return;
    }
    /* Its own trust store: only Pebble's TLS CA, seen by uacme alone. */
    path_fmt(cadir, "%s/uacme-ca", g_work);
    tp_mkdirs(cadir);
    path_fmt(capem, "%s/ca-certificates.crt", cadir);
    {
        char *pem = slurp_file(g_pki.ca_pem);

        if (pem == NULL)
            abort();
        tp_write_bytes(capem, pem, strlen(pem), 0644);
        free(pem);
    }
    if ((why = private_certs_ok(cadir)) != NULL) {
        snprintf(r->skip, sizeof(r->skip), "%s", why);
        return;
    }
    if (ca_start(&pb, parallel > 1 ? "uacme-par" : "uacme", scen) != 0) {
        snprintf(r->skip, sizeof(r->skip), "Pebble did not start");
        return;
    }
    path_fmt(webroot, "%s/webroot", pb.dir);
    path_fmt(chal, "%s/.well-known/acme-challenge", webroot);
    tp_mkdirs(chal);
    web = pb_nginx_webroot(pb.dir, "nginx", pb.p.http_port, webroot);
    if (web < 0) {
        snprintf(r->skip, sizeof(r->skip), "nginx did not start");
        ca_stop(&pb);
        return;
    }
    path_fmt(conf, "%s/uacme", pb.dir);
    snprintf(cenv, sizeof(cenv), "UACME_CHALLENGE_PATH=%s", chal);
    snprintf(henv, sizeof(henv), "HOME=%s", pb.dir);
    env[0] = cenv;
    env[1] = henv;
    env[2] = NULL;

    memset(&nw, 0, sizeof(nw));
    arg(&nw, UACME);
    arg(&nw, "-y");
    arg(&nw, "-v");
    arg(&nw, "-c");
    arg(&nw, "%s", conf);
    arg(&nw, "-a");
    arg(&nw, "%s", pb.p.directory);
    arg(&nw, "-t");
    arg(&nw, "EC");
    arg(&nw, "new");
    arg(&nw, "x@example.com");
    path_fmt(nw.log, "%s/uacme-new.log", pb.dir);
    path_fmt(nw.check, "%s/private/key.pem", conf);
    snprintf(nw.label, sizeof(nw.label), "%s (%s) new account", tool,
             scen_tag(scen));

    cs = cmds_new(n);
    for (k = 0; k < n; k++) {
        cmd *c = &cs[k];

        names_of(scen, k, &first, &count);
        arg(c, UACME);
        arg(c, "-v");
        arg(c, "-c");
        arg(c, "%s", conf);
        arg(c, "-a");
        arg(c, "%s", pb.p.directory);
        arg(c, "-t");
        arg(c, "EC");
        arg(c, "-h");
        arg(c, UACME_HOOK);
        arg(c, "issue");
        for (j = first; j < first + count; j++)
            arg(c, "c%d.example.com", j);
        path_fmt(c->log, "%s/uacme-%d.log", pb.dir, k);
        path_fmt(c->check, "%s/c%d.example.com/cert.pem", conf, first);
        c->certs = 1;
        snprintf(c->label, sizeof(c->label), "%s (%s) c%d%s", tool,
                 scen_tag(scen), first, count > 1 ? "+" : "");
    }
    t0 = now_s();
    if (run_batch(r, &nw, 1, 1, env, cadir) == 0)
        run_batch(r, cs, n, parallel, env, cadir);
    else
        printf("  uacme: no account, so no certificate asked for\n");
    r->wall = now_s() - t0;
    cmd_clear(&nw);
    cmds_free(cs, n);
    pb_stop(web);
    ca_stop(&pb);
}

/* ----- report ----------------------------------------------------------- */

static void row_line(const row *r)
{
    char tool[64];

    snprintf(tool, sizeof(tool), "%s", r->tool);
    if (r->skip[0] != '\0') {
        printf("%-18s %-26s skipped: %s\n", tool, scen_name(r->scen),
               r->skip);
        return;
    }
    printf("%-18s %-26s %8.2f %11.3f %13.1f %9d/%d%s\n", tool,
           scen_name(r->scen), r->wall, r->cpu / r->expected,
           r->rss_kb / 1024.0, r->issued, r->expected,
           r->issued < r->expected ? "  <- FAILURES" : "");
    fflush(stdout);
}

static void header(void)
{
    printf("%-18s %-26s %8s %11s %13s %11s\n", "tool", "scenario", "wall s",
           "CPU s/cert", "peak RSS MiB", "issued");
}

static const row *find(const char *tool, int scen)
{
    int i;

    for (i = 0; i < g_nrows; i++)
        if (strcmp(g_rows[i].tool, tool) == 0 && g_rows[i].scen == scen &&
            g_rows[i].skip[0] == '\0')
            return &g_rows[i];
    return NULL;
}

static void targets(void)
{
    const row *kw = find("keywarden", SC_B), *best = NULL, *best_seq = NULL;
    int i, s;

    printf("\ntargets (this run):\n");
    for (i = 0; i < g_nrows; i++) {
        const row *r = &g_rows[i];

        if (!r->peer || r->scen != SC_B || r->skip[0] != '\0')
            continue;
        if (best == NULL || r->wall < best->wall)
            best = r;
        if (r->parallel == 1 && (best_seq == NULL || r->wall < best_seq->wall))
            best_seq = r;
    }
    if (kw != NULL && best != NULL)
        printf("  %d certificates >= 10x faster (wall) than the fastest "
               "peer: keywarden %.2f s, %s %.2f s (%d/%d issued): %.1fx: "
               "%s\n",
               g_n, kw->wall, best->tool, best->wall, best->issued,
               best->expected, best->wall / kw->wall,
               best->wall >= 10 * kw->wall ? "met" : "MISSED");
    if (kw != NULL && best_seq != NULL && best_seq != best)
        printf("  (fastest peer one process at a time: %s %.2f s: %.1fx)\n",
               best_seq->tool, best_seq->wall, best_seq->wall / kw->wall);
    for (s = 0; s < SC_N; s++) {
        const row *k = find("keywarden", s), *u = find("uacme", s);
        const row *low = NULL;

        if (k == NULL)
            continue;
        if (u != NULL)
            printf("  CPU per certificate below uacme's, %s: keywarden "
                   "%.3f s, uacme %.3f s: %s\n",
                   scen_name(s), k->cpu / k->expected, u->cpu / u->expected,
                   k->cpu / k->expected < u->cpu / u->expected ? "met"
                                                               : "MISSED");
        for (i = 0; i < g_nrows; i++) {
            const row *r = &g_rows[i];

            if (r->peer && r->scen == s && r->skip[0] == '\0' &&
                (low == NULL || r->rss_kb < low->rss_kb))
                low = r;
        }
        if (low != NULL)
            printf("  peak RSS below every peer, %s: keywarden %.1f MiB, "
                   "lowest peer %s %.1f MiB: %s\n",
                   scen_name(s), k->rss_kb / 1024.0, low->tool,
                   low->rss_kb / 1024.0,
                   k->rss_kb < low->rss_kb ? "met" : "MISSED");
    }
}

/* ----- main ------------------------------------------------------------- */

static void rm_rf(const char *dir)
{
    char *argv[] = {(char *)"/bin/rm", (char *)"-rf", (char *)dir, NULL};
    int o, e;
    char *a, *b;
    pid_t p = proc_spawn_pipes(argv, &o, &e);

    proc_drain(o, e, &a, &b);
    free(a);
    free(b);
    proc_wait(p, 120000);
}

static void stop_all(void)
{
    pb_stop_to(0);
}

int main(int argc, char **argv)
{
    const char *dir = "/tmp";
    int quick = 0, peers = -1, keep = 0, i, s, kw_missing = 0;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--peers") == 0)
            peers = 1;
        else if (strcmp(argv[i], "--no-peers") == 0)
            peers = 0;
        else if (strcmp(argv[i], "--keep") == 0)
            keep = 1;
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc &&
                 atoi(argv[i + 1]) > 0 && atoi(argv[i + 1]) <= 100)
            g_n = atoi(argv[++i]);
        else {
            fprintf(stderr,
                    "usage: bench_acme [--quick] [--peers | --no-peers] "
                    "[--count N (1-100)] [--dir DIR] [--keep]\n");
            return 2;
        }
    }
    if (quick && g_n == 50)
        g_n = 5;
    if (peers < 0)
        peers = !quick;
    if (access("/usr/bin/pebble", X_OK) != 0 ||
        access("/usr/bin/pebble-challtestsrv", X_OK) != 0) {
        fprintf(stderr, "bench: pebble and pebble-challtestsrv are needed "
                        "(Debian package pebble)\n");
        return 1;
    }
    path_fmt(g_work, "%s/kw-bench-acme", dir);
    rm_rf(g_work);
    tp_mkdirs(g_work);
    atexit(stop_all);
    pb_pki_make(g_work, "pebble-tls", "Pebble TLS Bench CA", &g_pki);
    if (pb_dns_start(g_work, &g_dns) != 0) {
        fprintf(stderr, "bench: pebble-challtestsrv did not start\n");
        return 1;
    }
    printf("keywarden ACME benchmark (%ld CPUs online)%s: Pebble 2.4, "
           "PEBBLE_VA_NOSLEEP=1, 5%% badNonce, ECDSA P-256, a fresh Pebble "
           "per row\n",
           sysconf(_SC_NPROCESSORS_ONLN), quick ? " [quick]" : "");
    printf("CPU = user+system of the tool's processes (and what they "
           "reaped) per certificate asked for; RSS = the largest of one "
           "process\n");
    header();
    fflush(stdout);

    for (s = 0; s < SC_N; s++) {
        if (quick && s == SC_C)
            continue;
        kw_run(s);
        row_line(&g_rows[g_nrows - 1]);
    }
    if (peers) {
        for (s = 0; s < SC_N; s++) {
            if (quick && s == SC_C)
                continue;
            uacme_run(s, 1);
            row_line(&g_rows[g_nrows - 1]);
            certbot_run(s);
            row_line(&g_rows[g_nrows - 1]);
            lego_run(s, 1);
            row_line(&g_rows[g_nrows - 1]);
            if (s == SC_B) {
                uacme_run(s, g_n);
                row_line(&g_rows[g_nrows - 1]);
                lego_run(s, g_n);
                row_line(&g_rows[g_nrows - 1]);
            }
        }
    }

    printf("\n");
    header();
    for (s = 0; s < SC_N; s++)
        for (i = 0; i < g_nrows; i++)
            if (g_rows[i].scen == s)
                row_line(&g_rows[i]);
    for (i = 0; i < g_nrows; i++)
        if (!g_rows[i].peer)
            kw_missing += g_rows[i].skip[0] != '\0'
                              ? g_rows[i].expected
                              : g_rows[i].expected - g_rows[i].issued;
    if (peers)
        targets();
    fflush(stdout);
    pb_stop_to(0);
    if (!keep)
        rm_rf(g_work);
    else
        printf("kept: %s\n", g_work);
    if (kw_missing > 0) {
        fprintf(stderr, "bench: keywarden missed %d certificates\n",
                kw_missing);
        return 1;
    }
    return 0;
}
