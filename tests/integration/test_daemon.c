/*
 * keywarden serve, as a process: it scans at start, picks up changed
 * files through inotify, refuses a second daemon, keeps its configuration
 * when a reload brings a broken file, stops within seconds on SIGTERM, and
 * resumes a scan that kill -9 interrupted.  No sleeping blindly: every
 * wait polls the database or the log for the condition.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <linux/fuse.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <time.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "kwrun.h"
#include "proc.h"
#include "testpki.h"
#include "tmpdir.h"

static char g_dir[256];

/* Every daemon started, so that a failed test leaves none running. */
static pid_t g_started[32];
static int g_nstarted;

/* A FUSE server and its mount point, left by a failed test. */
static pid_t g_fuse_server = -1;
static char g_fuse_mnt[600];

typedef struct daemon_t {
    char state[512], conf[512], log[512], db[600];
    pid_t pid;
} daemon_t;

static void write_file(const char *path, const char *text)
{
    tp_write_bytes(path, text, strlen(text), 0644);
}

static void daemon_init(daemon_t *d, const char *name, const char *tree,
                        const char *extra)
{
    char text[2048], sub[300];

    snprintf(sub, sizeof(sub), "%s", name);
    path_join(d->state, sizeof(d->state), g_dir, sub);
    snprintf(sub, sizeof(sub), "%s.conf", name);
    path_join(d->conf, sizeof(d->conf), g_dir, sub);
    snprintf(sub, sizeof(sub), "%s.log", name);
    path_join(d->log, sizeof(d->log), g_dir, sub);
    snprintf(d->db, sizeof(d->db), "%s/keywarden.db", d->state);
    snprintf(text, sizeof(text),
             "[daemon]\nlog_level = info\nmetrics_listen = off\n[scan]\n"
             "path = %s\ninterval = 1h\n%s",
             tree, extra != NULL ? extra : "");
    write_file(d->conf, text);
}

/* Run the CLI against d's state and configuration; stdout (with stderr
 * appended) in *out, exit status returned. */
static int kw_cli_v(const daemon_t *d, char **out, char **args, size_t n);

static int kw_cli(const daemon_t *d, char **out, ...)
{
    char *args[11];
    size_t n = 0;
    const char *a;
    va_list ap;

    va_start(ap, out);
    while ((a = va_arg(ap, const char *)) != NULL && n < 10)
        args[n++] = (char *)a;
    va_end(ap);
    return kw_cli_v(d, out, args, n);
}

static int unix_connect(const char *path)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path))
        return -1;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Everything until the peer closes (or 10 s). */
static char *read_all(int fd)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    struct pollfd p = {fd, POLLIN, 0};
    ssize_t r;

    while (n + 1 < cap && poll(&p, 1, 10000) == 1 &&
           (r = read(fd, buf + n, cap - n - 1)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    return buf;
}

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static pid_t daemon_start(daemon_t *d)
{
    char *argv[] = {(char *)KEYWARDEN_BIN, (char *)"--config", d->conf,
                    (char *)"--state-dir", d->state, (char *)"serve", NULL};

    d->pid = proc_spawn_log(argv, d->log);
    if (g_nstarted < 32)
        g_started[g_nstarted++] = d->pid;
    return d->pid;
}

typedef struct dbq {
    const char *db;
    const char *sql;
    int64_t min;
} dbq;

static int db_at_least(void *ctx)
{
    dbq *q = ctx;
    return db_int(q->db, q->sql) >= q->min;
}

typedef struct logq {
    const char *path;
    const char *needle;
} logq;

static int log_has(void *ctx)
{
    logq *q = ctx;
    return file_contains(q->path, q->needle);
}

static void wait_log(const daemon_t *d, const char *needle, int ms)
{
    logq q = {d->log, needle};

    if (!proc_until(log_has, &q, ms))
        fail_msg("\"%s\" did not appear in %s within %d ms", needle, d->log,
                 ms);
}

static void wait_objects(const daemon_t *d, int64_t n, int ms)
{
    dbq q = {d->db, "SELECT count(*) FROM objects", n};

    if (!proc_until(db_at_least, &q, ms))
        fail_msg("fewer than %lld objects after %d ms (%lld)", (long long)n,
                 ms, (long long)db_int(d->db, "SELECT count(*) FROM objects"));
}

static void stop(daemon_t *d, int within_ms)
{
    int st;

    kill(d->pid, SIGTERM);
    st = proc_wait(d->pid, within_ms);
    if (st < 0) {
        kill(d->pid, SIGKILL);
        proc_wait(d->pid, 5000);
        fail_msg("the daemon did not stop within %d ms of SIGTERM",
                 within_ms);
    }
    assert_int_equal(st, 0);
}

static int setup(void **state)
{
    (void)state;
    unsetenv("KEYWARDEN_NOW");
    tmpdir_make(g_dir, sizeof(g_dir), "daemon");
    return 0;
}

static int teardown(void **state)
{
    int i;

    (void)state;
    for (i = 0; i < g_nstarted; i++)
        if (proc_wait(g_started[i], 0) == -1) {
            kill(g_started[i], SIGKILL);
            proc_wait(g_started[i], 5000);
        }
    if (g_fuse_server > 0) {
        umount2(g_fuse_mnt, MNT_DETACH);
        kill(g_fuse_server, SIGKILL);
        waitpid(g_fuse_server, NULL, 0);
    }
    tmpdir_remove(g_dir);
    return 0;
}

static void scans_and_watches(void **state)
{
    daemon_t d, other;
    char tree[512], extra[600];
    int st;

    (void)state;
    path_join(tree, sizeof(tree), g_dir, "demo");
    tp_make_demo(tree, (int64_t)time(NULL));
    daemon_init(&d, "a", tree, NULL);
    daemon_start(&d);
    wait_log(&d, "scan: 26 files", 30000);
    wait_objects(&d, 15, 1000);

    /* A second daemon on the same state directory is refused. */
    daemon_init(&other, "a", tree, NULL);
    snprintf(other.log, sizeof(other.log), "%s/other.log", g_dir);
    daemon_start(&other);
    st = proc_wait(other.pid, 10000);
    assert_int_equal(st, 1);
    wait_log(&other, "a keywarden daemon (keywarden serve, pid", 100);

    /* A new certificate file is picked up without waiting an hour. */
    path_join(extra, sizeof(extra), tree, "misc/added.pem");
    {
        char src[600];
        size_t len;
        char *text;

        path_join(src, sizeof(src), tree, "nginx/shop.example.com.crt");
        text = slurp(src, &len);
        tp_write_bytes(extra, text, len, 0644);
        free(text);
    }
    wait_objects(&d, 16, 20000);
    stop(&d, 5000);
    wait_log(&d, "stopped", 100);
}

/* A datagram socket standing in for systemd's NOTIFY_SOCKET. */
static int notify_socket(const char *path)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path))
        fail_msg("%s: too long for a socket path", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        fail_msg("notify socket %s: %s", path, strerror(errno));
    return fd;
}

static void expect_notify(int fd, const char *want)
{
    struct pollfd p = {fd, POLLIN, 0};
    char msg[256];
    ssize_t n;

    for (;;) {
        if (poll(&p, 1, 10000) != 1)
            fail_msg("no \"%s\" from sd_notify within 10 s", want);
        n = recv(fd, msg, sizeof(msg) - 1, 0);
        assert_true(n > 0);
        msg[n] = '\0';
        if (strcmp(msg, want) == 0)
            return;
    }
}

static void reload_keeps_config_on_error(void **state)
{
    daemon_t d;
    char tree[512], sock[512];
    int nfd;

    (void)state;
    path_join(tree, sizeof(tree), g_dir, "small");
    tp_make_tree(tree, 20, (int64_t)time(NULL), 5);
    daemon_init(&d, "b", tree, NULL);
    /* Type=notify: READY=1 once started, RELOADING=1 then READY=1 around
     * a reload. */
    path_join(sock, sizeof(sock), g_dir, "notify.sock");
    nfd = notify_socket(sock);
    setenv("NOTIFY_SOCKET", sock, 1);
    daemon_start(&d);
    unsetenv("NOTIFY_SOCKET");
    expect_notify(nfd, "READY=1");
    wait_log(&d, "scan: ", 30000);

    write_file(d.conf, "[scan]\nintervall = 1h\n");
    kill(d.pid, SIGHUP);
    wait_log(&d, "b.conf:2: intervall: unknown key in [scan]", 10000);
    wait_log(&d, "keeping the running configuration", 100);
    assert_int_equal(proc_wait(d.pid, 0), -1); /* still running */

    expect_notify(nfd, "RELOADING=1");
    expect_notify(nfd, "READY=1");
    /* `keywarden reload` waits for the outcome: the daemon's error and
     * exit 1, not "ok". */
    {
        char *out;

        assert_int_equal(kw_cli(&d, &out, "reload", NULL), 1);
        assert_contains(out, "b.conf:2: intervall: unknown key in [scan]");
        assert_contains(out, "the running configuration stays");
        assert_not_contains(out, "reload: ok");
        free(out);
        expect_notify(nfd, "RELOADING=1");
        expect_notify(nfd, "READY=1");
    }
    daemon_init(&d, "b", tree, "[endpoint \"x\"]\nhost = 127.0.0.1\n");
    kill(d.pid, SIGHUP);
    wait_log(&d, "loaded: 1 scan paths, 1 endpoints", 10000);

    /* The control socket: status, run-job, and a scan the CLI hands to
     * the running daemon. */
    {
        char *out;
        assert_int_equal(kw_cli(&d, &out, "status", NULL), 0);
        assert_non_null(strstr(out, "keywarden is running"));
        assert_non_null(strstr(out, "scan   all"));
        free(out);
        assert_int_equal(kw_cli(&d, &out, "run-job", "probe:x", NULL), 0);
        free(out);
        assert_int_equal(kw_cli(&d, &out, "run-job", "probe:nope", NULL), 1);
        free(out);
        assert_int_equal(kw_cli(&d, &out, "scan", tree, NULL), 0);
        assert_non_null(strstr(out, "scanned by the running daemon"));
        free(out);
    }
    /* Garbage, an oversized request and a silent client on the control
     * socket: each is refused or dropped, and status still answers. */
    {
        char sockp[700], *big, *out;
        int fd;

        snprintf(sockp, sizeof(sockp), "%s/keywarden.sock", d.state);
        fd = unix_connect(sockp);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "not json\n", 9), 9);
        out = read_all(fd);
        assert_non_null(strstr(out, "\"ok\":false"));
        free(out);
        close(fd);
        big = malloc(1100000);
        memset(big, 'x', 1100000);
        fd = unix_connect(sockp);
        (void)!send(fd, big, 1100000, MSG_NOSIGNAL);
        out = read_all(fd);
        assert_non_null(strstr(out, "larger than 1 MiB"));
        free(out);
        free(big);
        close(fd);
        fd = unix_connect(sockp); /* says nothing; dropped after 5 s */
        assert_int_equal(kw_cli(&d, &out, "status", NULL), 0);
        free(out);
        out = read_all(fd);
        free(out);
        close(fd);
        assert_int_equal(kw_cli(&d, &out, "status", NULL), 0);
        free(out);
    }
    stop(&d, 5000);
    expect_notify(nfd, "STOPPING=1");
    close(nfd);
    {
        char *out;
        assert_int_equal(kw_cli(&d, &out, "status", NULL), 1);
        assert_non_null(strstr(out, "not running"));
        free(out);
    }
}

/* kill -9 in the middle of a scan, restart: the job is resumed and the
 * inventory ends up exactly as a clean scan makes it. */
static void kill9_resumes(void **state)
{
    daemon_t d;
    char tree[512], clean[512], cdb[600];
    char *argv[7];
    int ofd, efd;
    char *o, *e;
    dbq first = {NULL, "SELECT count(*) FROM files", 1};
    pid_t pid;

    (void)state;
    path_join(tree, sizeof(tree), g_dir, "big");
    tp_make_tree(tree, 30000, (int64_t)time(NULL), 9);
    daemon_init(&d, "c", tree, NULL);
    first.db = d.db;
    daemon_start(&d);
    if (!proc_until(db_at_least, &first, 60000))
        fail_msg("no batch committed");
    kill(d.pid, SIGKILL);
    assert_int_equal(proc_wait(d.pid, 5000), 128 + SIGKILL);
    assert_true(db_int(d.db, "SELECT count(*) FROM jobs WHERE state = "
                             "'running'") == 1);

    daemon_start(&d);
    wait_log(&d, "resuming 1 job interrupted by the last stop", 30000);
    wait_log(&d, "scan: ", 120000);

    /* The same tree scanned by the CLI into a fresh inventory. */
    path_join(clean, sizeof(clean), g_dir, "c-clean");
    snprintf(cdb, sizeof(cdb), "%s/keywarden.db", clean);
    argv[0] = (char *)KEYWARDEN_BIN;
    argv[1] = (char *)"--state-dir";
    argv[2] = clean;
    argv[3] = (char *)"scan";
    argv[4] = (char *)"-q";
    argv[5] = tree;
    argv[6] = NULL;
    pid = proc_spawn_pipes(argv, &ofd, &efd);
    proc_drain(ofd, efd, &o, &e);
    free(o);
    free(e);
    assert_int_equal(proc_wait(pid, 120000), 0);
    assert_int_equal(db_int(d.db, "SELECT count(*) FROM objects"),
                     db_int(cdb, "SELECT count(*) FROM objects"));
    assert_int_equal(db_int(d.db, "SELECT count(*) FROM objects WHERE state "
                                  "!= 'ok'"),
                     0);
    assert_int_equal(db_int(d.db, "SELECT count(*) FROM events WHERE type = "
                                  "'job.resumed'"),
                     1);
    stop(&d, 5000);

    /* SIGTERM during a scan: the daemon is gone within seconds and the
     * job is due again for the next start. */
    unlink(d.db);
    {
        char p[700];
        snprintf(p, sizeof(p), "%s-wal", d.db);
        unlink(p);
        snprintf(p, sizeof(p), "%s-shm", d.db);
        unlink(p);
    }
    snprintf(d.log, sizeof(d.log), "%s/c-term.log", g_dir);
    daemon_start(&d);
    if (!proc_until(db_at_least, &first, 60000))
        fail_msg("no batch committed");
    stop(&d, 5000);
    /* Unless the scan won the race and finished first, it was stopped. */
    if (!file_contains(d.log, "scan: "))
        wait_log(&d, "stopped; it resumes at the next start", 100);
    assert_int_equal(db_int(d.db, "SELECT count(*) FROM jobs WHERE state = "
                                  "'pending' AND type = 'scan'"),
                     1);
}


/* A daemon named name over a small tree of its own (tree, 512 bytes),
 * started, its first scan done. */
static void start_small(daemon_t *d, const char *name, char *tree,
                        unsigned seed)
{
    char sub[300];

    snprintf(sub, sizeof(sub), "%s-tree", name);
    path_join(tree, 512, g_dir, sub);
    tp_make_tree(tree, 2, (int64_t)time(NULL), seed);
    daemon_init(d, name, tree, NULL);
    daemon_start(d);
    wait_log(d, "scan: ", 30000);
}

/* The configuration path replaced by a FIFO: SIGHUP and `keywarden
 * reload` refuse it at once and say so (no thread blocks in open()), the
 * daemon keeps answering, and SIGTERM ends it within seconds. */
static void fifo_config_refused(void **state)
{
    daemon_t d;
    char tree[512], *out;
    double t0;

    (void)state;
    start_small(&d, "f", tree, 3);

    assert_int_equal(unlink(d.conf), 0);
    assert_int_equal(mkfifo(d.conf, 0600), 0);
    kill(d.pid, SIGHUP);
    wait_log(&d, "f.conf: a FIFO, not a regular file", 10000);
    assert_int_equal(kw_cli(&d, &out, "reload", NULL), 1);
    assert_contains(out, "f.conf: a FIFO, not a regular file");
    free(out);
    /* A second SIGHUP is not silently lost either. */
    kill(d.pid, SIGHUP);
    assert_int_equal(kw_cli(&d, &out, "status", NULL), 0);
    free(out);

    t0 = now_s();
    kill(d.pid, SIGTERM);
    if (proc_wait(d.pid, 10000) < 0) {
        kill(d.pid, SIGKILL);
        proc_wait(d.pid, 5000);
        fail_msg("pid %ld still running 10 s after SIGTERM", (long)d.pid);
    }
    assert_true(now_s() - t0 < 10.0);
    unlink(d.conf);
}

/* Run keywarden with argv (after --config/--state-dir of d), n args. */
static int kw_cli_v(const daemon_t *d, char **out, char **args, size_t n)
{
    char **argv = calloc(n + 6, sizeof(char *)), *o, *e;
    size_t i;
    int ofd, efd;
    pid_t pid;

    argv[0] = (char *)KEYWARDEN_BIN;
    argv[1] = (char *)"--config";
    argv[2] = (char *)d->conf;
    argv[3] = (char *)"--state-dir";
    argv[4] = (char *)d->state;
    for (i = 0; i < n; i++)
        argv[5 + i] = args[i];
    pid = proc_spawn_pipes(argv, &ofd, &efd);
    proc_drain(ofd, efd, &o, &e);
    *out = malloc(strlen(o) + strlen(e) + 1);
    strcpy(*out, o);
    strcat(*out, e);
    free(o);
    free(e);
    free(argv);
    return proc_wait(pid, 120000);
}

/* `keywarden scan` hands its paths to the running daemon as bytes: a
 * directory whose name is not UTF-8, and 300 directories (far more than
 * 16 KiB of paths), are scanned by the daemon, not refused. */
static void scan_paths_through_daemon(void **state)
{
    daemon_t d;
    char tree[512], odd[600], *out, *args[302];
    int64_t before;
    size_t i;

    (void)state;
    start_small(&d, "g", tree, 4);
    wait_objects(&d, 1, 10000);

    snprintf(odd, sizeof(odd), "%s/odd-\xff\xfe-name", g_dir);
    tp_make_tree(odd, 1, (int64_t)time(NULL), 5);
    before = db_int(d.db, "SELECT count(*) FROM objects");
    assert_int_equal(kw_cli(&d, &out, "scan", odd, NULL), 0);
    assert_contains(out, "scanned by the running daemon");
    free(out);
    assert_true(db_int(d.db, "SELECT count(*) FROM objects") > before);
    assert_true(db_int(d.db, "SELECT count(*) FROM files WHERE "
                             "instr(CAST(path AS BLOB), x'fffe') > 0") >= 1);

    /* 300 directories with long names; a certificate only in the last,
     * so it is found only if every path travelled. */
    args[0] = (char *)"scan";
    for (i = 0; i < 300; i++) {
        char p[700];

        snprintf(p, sizeof(p),
                 "%s/many/directory-with-a-rather-long-name-to-pass-16-KiB-"
                 "%03zu",
                 g_dir, i);
        if (i == 299)
            tp_make_tree(p, 1, (int64_t)time(NULL), 6);
        else
            tp_mkdirs(p);
        args[1 + i] = strdup(p);
    }
    before = db_int(d.db, "SELECT count(*) FROM objects");
    assert_int_equal(kw_cli_v(&d, &out, args, 301), 0);
    assert_contains(out, "scanned by the running daemon");
    assert_not_contains(out, "another keywarden");
    free(out);
    assert_true(db_int(d.db, "SELECT count(*) FROM objects") > before);
    for (i = 0; i < 300; i++)
        free(args[1 + i]);
    stop(&d, 5000);
}

/* Clients that connect and say nothing cannot keep `status` out. */
static void held_connections_do_not_starve_status(void **state)
{
    daemon_t d;
    char tree[512], sockp[700], *out;
    int fds[40], i;
    double t0;

    (void)state;
    start_small(&d, "h", tree, 7);
    snprintf(sockp, sizeof(sockp), "%s/keywarden.sock", d.state);
    for (i = 0; i < 40; i++) {
        fds[i] = unix_connect(sockp);
        assert_true(fds[i] >= 0);
    }
    t0 = now_s();
    assert_int_equal(kw_cli(&d, &out, "status", NULL), 0);
    assert_contains(out, "keywarden is running");
    free(out);
    assert_true(now_s() - t0 < 2.0);
    for (i = 0; i < 40; i++)
        close(fds[i]);
    stop(&d, 5000);
}

/* HEAD /metrics: the head of a GET, with its Content-Length, no body. */
static void head_metrics_has_no_body(void **state)
{
    daemon_t d;
    char tree[512], extra[128], *resp, *body;
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int fd, port;
    static const char req[] =
        "HEAD /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

    (void)state;
    /* A free port: bound by us, then released for the daemon. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    port = ntohs(sa.sin_port);
    close(fd);

    path_join(tree, sizeof(tree), g_dir, "head-tree");
    tp_make_tree(tree, 2, (int64_t)time(NULL), 8);
    daemon_init(&d, "m", tree, NULL);
    snprintf(extra, sizeof(extra), "metrics on http://127.0.0.1:%d/metrics",
             port);
    {
        char text[1024];

        snprintf(text, sizeof(text),
                 "[daemon]\nlog_level = info\nmetrics_listen = "
                 "127.0.0.1:%d\n[scan]\npath = %s\ninterval = 1h\n",
                 port, tree);
        write_file(d.conf, text);
    }
    daemon_start(&d);
    wait_log(&d, extra, 10000);
    wait_log(&d, "scan: ", 30000);

    fd = socket(AF_INET, SOCK_STREAM, 0);
    sa.sin_port = htons((uint16_t)port);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(write(fd, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
    resp = read_all(fd);
    close(fd);
    assert_contains(resp, "HTTP/1.1 200");
    assert_not_contains(resp, "Content-Length: 0\r\n");
    body = strstr(resp, "\r\n\r\n");
    assert_non_null(body);
    if (body[4] != '\0')
        fail_msg("HEAD /metrics sent a body:\n%s", body + 4);
    free(resp);
    stop(&d, 5000);
}

/* The lock names its holder: the daemon, or a renew or hooks run. */
static void lock_names_its_holder(void **state)
{
    daemon_t d;
    char tree[512], lock[700], text[64], *out;
    int fd, n;

    (void)state;
    path_join(tree, sizeof(tree), g_dir, "lock-tree");
    tp_make_tree(tree, 1, (int64_t)time(NULL), 9);
    daemon_init(&d, "l", tree, NULL);
    tp_mkdirs(d.state);
    snprintf(lock, sizeof(lock), "%s/keywarden.lock", d.state);

    /* Held as a `keywarden renew` holds it. */
    fd = open(lock, O_RDWR | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
    n = snprintf(text, sizeof(text), "%ld renew\n", (long)getpid());
    assert_int_equal(write(fd, text, (size_t)n), n);
    assert_int_equal(kw_cli(&d, &out, "hooks", "run", NULL), 1);
    snprintf(text, sizeof(text), "keywarden renew (pid %ld) is running",
             (long)getpid());
    assert_contains(out, text);
    assert_not_contains(out, "daemon (");
    free(out);
    close(fd);

    /* A daemon writes who it is; a renew then names it. */
    daemon_start(&d);
    wait_log(&d, "scan: ", 30000);
    out = slurp(lock, NULL);
    snprintf(text, sizeof(text), "%ld serve\n", (long)d.pid);
    assert_string_equal(out, text);
    free(out);
    assert_int_equal(kw_cli(&d, &out, "hooks", "run", NULL), 1);
    snprintf(text, sizeof(text), "keywarden serve, pid %ld", (long)d.pid);
    assert_contains(out, text);
    free(out);
    stop(&d, 5000);
}

/* ---- a file system whose reads never return --------------------------- */

/* A FUSE server (raw /dev/fuse, no libfuse) serving one file, "conf",
 * whose reads are never answered, as on a hung network file system; only
 * killing the reader ends its read (FUSE_INTERRUPT).  Writes "r" to
 * report each read it leaves waiting. */
static void fuse_reply(int fd, uint64_t unique, int error, const void *p,
                       size_t n)
{
    char buf[512];
    struct fuse_out_header h;

    h.len = (uint32_t)(sizeof(h) + n);
    h.error = error;
    h.unique = unique;
    memcpy(buf, &h, sizeof(h));
    if (n > 0)
        memcpy(buf + sizeof(h), p, n);
    (void)!write(fd, buf, sizeof(h) + n);
}

static void fuse_attr_of(struct fuse_attr *a, uint64_t ino)
{
    memset(a, 0, sizeof(*a));
    a->ino = ino;
    a->mode = ino == FUSE_ROOT_ID ? (S_IFDIR | 0755) : (S_IFREG | 0644);
    a->nlink = 1;
    a->size = ino == FUSE_ROOT_ID ? 0 : 64;
    a->blksize = 4096;
}

static void fuse_serve(int fd, int report)
{
    static char buf[(1 << 20) + 4096];

    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        struct fuse_in_header *h = (struct fuse_in_header *)buf;

        if (n < 0 && (errno == EINTR || errno == ENOENT))
            continue;
        if (n < (ssize_t)sizeof(*h))
            _exit(0);
        switch (h->opcode) {
        case FUSE_INIT: {
            struct fuse_init_out o;

            memset(&o, 0, sizeof(o));
            o.major = FUSE_KERNEL_VERSION;
            o.minor = 31;
            o.max_readahead = 65536;
            o.max_write = 65536;
            fuse_reply(fd, h->unique, 0, &o, sizeof(o));
            break;
        }
        case FUSE_LOOKUP: {
            struct fuse_entry_out o;

            memset(&o, 0, sizeof(o));
            if (strcmp(buf + sizeof(*h), "conf") != 0) {
                fuse_reply(fd, h->unique, -ENOENT, NULL, 0);
                break;
            }
            o.nodeid = 2;
            fuse_attr_of(&o.attr, 2);
            fuse_reply(fd, h->unique, 0, &o, sizeof(o));
            break;
        }
        case FUSE_GETATTR: {
            struct fuse_attr_out o;

            memset(&o, 0, sizeof(o));
            o.attr_valid = 3600;
            fuse_attr_of(&o.attr, h->nodeid);
            fuse_reply(fd, h->unique, 0, &o, sizeof(o));
            break;
        }
        case FUSE_OPEN: {
            struct fuse_open_out o;

            memset(&o, 0, sizeof(o));
            o.fh = 1;
            o.open_flags = FOPEN_DIRECT_IO;
            fuse_reply(fd, h->unique, 0, &o, sizeof(o));
            break;
        }
        case FUSE_READ:
            (void)!write(report, "r", 1); /* and no answer */
            break;
        case FUSE_INTERRUPT: {
            /* A signal for the reader (the kernel sends this when the
             * process is killed): the read fails, as an interruptible
             * network file system's would. */
            const struct fuse_interrupt_in *in =
                (const struct fuse_interrupt_in *)(buf + sizeof(*h));

            fuse_reply(fd, in->unique, -EINTR, NULL, 0);
            break;
        }
        case FUSE_FLUSH:
        case FUSE_RELEASE:
            fuse_reply(fd, h->unique, 0, NULL, 0);
            break;
        case FUSE_FORGET:
        case FUSE_BATCH_FORGET:
            break;
        default:
            fuse_reply(fd, h->unique, -ENOSYS, NULL, 0);
        }
    }
}

/* Mount the hanging file system on mnt; its server's pid, or -1 (with
 * why) when this machine cannot (no /dev/fuse, not root). */
static pid_t fuse_hang_mount(const char *mnt, int *report, char *why,
                             size_t len)
{
    char opts[128];
    int fd, p[2];
    pid_t pid;

    fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, len, "/dev/fuse: %s", strerror(errno));
        return -1;
    }
    snprintf(opts, sizeof(opts),
             "fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other", fd);
    tp_mkdirs(mnt);
    if (mount("kwtest", mnt, "fuse", MS_NOSUID | MS_NODEV, opts) != 0) {
        snprintf(why, len, "mount fuse on %.300s: %s", mnt, strerror(errno));
        close(fd);
        return -1;
    }
    assert_int_equal(pipe(p), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        fuse_serve(fd, p[1]);
        _exit(0);
    }
    close(fd);
    close(p[1]);
    *report = p[0];
    g_fuse_server = pid;
    snprintf(g_fuse_mnt, sizeof(g_fuse_mnt), "%s", mnt);
    return pid;
}

/* A reload whose read never returns (a hung file system): `keywarden
 * reload` says a reload is still reading, and SIGTERM still ends the
 * daemon, by the stop deadline, saying what it abandoned. */
static void stop_is_bounded_when_a_read_hangs(void **state)
{
    daemon_t d, cli;
    char tree[512], mnt[600], target[700], why[1024], c, *out;
    int report = -1;
    struct pollfd p;
    pid_t server;
    double t0, took;
    int st;

    (void)state;
    path_join(tree, sizeof(tree), g_dir, "hang-tree");
    tp_make_tree(tree, 2, (int64_t)time(NULL), 10);
    daemon_init(&d, "s", tree, NULL);
    /* The CLI reads a configuration of its own: the daemon's hangs. */
    daemon_init(&cli, "s-cli", tree, NULL);
    snprintf(cli.state, sizeof(cli.state), "%s", d.state);
    path_join(mnt, sizeof(mnt), g_dir, "hung-fs");
    server = fuse_hang_mount(mnt, &report, why, sizeof(why));
    if (server < 0) {
        fprintf(stderr, "skipped: %s\n", why);
        skip();
    }
    daemon_start(&d);
    wait_log(&d, "scan: ", 30000);

    snprintf(target, sizeof(target), "%s/conf", mnt);
    assert_int_equal(unlink(d.conf), 0);
    assert_int_equal(symlink(target, d.conf), 0);
    kill(d.pid, SIGHUP);
    p.fd = report;
    p.events = POLLIN;
    if (poll(&p, 1, 10000) != 1 || read(report, &c, 1) != 1)
        fail_msg("the daemon did not read %s within 10 s", target);
    assert_int_equal(kw_cli(&cli, &out, "reload", NULL), 1);
    assert_contains(out, "is still reading");
    free(out);

    t0 = now_s();
    kill(d.pid, SIGTERM);
    st = proc_wait(d.pid, 20000);
    took = now_s() - t0;
    umount2(mnt, MNT_DETACH);
    kill(server, SIGKILL);
    waitpid(server, NULL, 0);
    g_fuse_server = -1;
    close(report);
    if (st < 0) {
        kill(d.pid, SIGKILL);
        proc_wait(d.pid, 5000);
        out = slurp(d.log, NULL);
        fail_msg("pid %ld still running 20 s after SIGTERM; its log:\n%s",
                 (long)d.pid, out);
    }
    assert_int_equal(st, 1);
    assert_true(took < 15.0);
    wait_log(&d, "stop: still waiting after 10 s for a configuration reload "
                 "reading",
             100);
    unlink(d.conf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scans_and_watches),
        cmocka_unit_test(reload_keeps_config_on_error),
        cmocka_unit_test(kill9_resumes),
        cmocka_unit_test(fifo_config_refused),
        cmocka_unit_test(scan_paths_through_daemon),
        cmocka_unit_test(held_connections_do_not_starve_status),
        cmocka_unit_test(head_metrics_has_no_body),
        cmocka_unit_test(lock_names_its_holder),
        cmocka_unit_test(stop_is_bounded_when_a_read_hangs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
