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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "testpki.h"
#include "tmpdir.h"

static char g_dir[256];

/* Every daemon started, so that a failed test leaves none running. */
static pid_t g_started[32];
static int g_nstarted;

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
static int kw_cli(const daemon_t *d, char **out, ...)
{
    char *argv[16], *o, *e;
    int argc = 0, ofd, efd;
    const char *a;
    va_list ap;
    pid_t pid;

    argv[argc++] = (char *)KEYWARDEN_BIN;
    argv[argc++] = (char *)"--config";
    argv[argc++] = (char *)d->conf;
    argv[argc++] = (char *)"--state-dir";
    argv[argc++] = (char *)d->state;
    va_start(ap, out);
    while ((a = va_arg(ap, const char *)) != NULL && argc < 15)
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    pid = proc_spawn_pipes(argv, &ofd, &efd);
    proc_drain(ofd, efd, &o, &e);
    *out = malloc(strlen(o) + strlen(e) + 1);
    strcpy(*out, o);
    strcat(*out, e);
    free(o);
    free(e);
    return proc_wait(pid, 60000);
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
    wait_log(&other, "another keywarden daemon", 100);

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
        big = malloc(20000);
        memset(big, 'x', 20000);
        fd = unix_connect(sockp);
        (void)!write(fd, big, 20000);
        out = read_all(fd);
        assert_non_null(strstr(out, "larger than 16 KiB"));
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scans_and_watches),
        cmocka_unit_test(reload_keeps_config_on_error),
        cmocka_unit_test(kill9_resumes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
