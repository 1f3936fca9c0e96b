/*
 * What is served, against real servers from Debian's packages on
 * loopback: nginx (TLS) and Postfix (SMTP STARTTLS).  The daemon probes
 * them; a certificate renewed on disk but not reloaded is reported stale
 * and clears after the reload; /metrics parses strictly; malformed,
 * oversized, slow and too many HTTP clients do not stall the daemon; a
 * port that accepts and never answers times out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "servers.h"
#include "testpki.h"
#include "tmpdir.h"

static char g_dir[256], g_certs[512], g_state[512], g_db[600], g_log[512];
static char g_conf[512];
static int nginx_port, smtp_port, metrics_port, silent_port;
static pid_t nginx_pid, postfix_pid, kw_pid;
static int silent_fd = -1;
static int have_postfix;
static EVP_PKEY *g_ca_key;
static X509 *g_ca;

#define DAY 86400

/* A listener that accepts and never says a word. */
static int silent_listener(int *port)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 8) ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        abort();
    *port = ntohs(a.sin_port);
    return fd;
}

/* A certificate for name, valid `days` from now, with its key, written to
 * g_certs/NAME.crt and NAME.key. */
static void issue(const char *name, int days, long serial)
{
    const char *dns[] = {name, NULL};
    EVP_PKEY *k = tp_key_ec();
    time_t now = time(NULL);
    X509 *c = tp_cert(&(tp_spec){.cn = name, .dns = dns,
                                 .not_before = now - DAY,
                                 .not_after = now + (int64_t)days * DAY,
                                 .serial = serial, .key = k,
                                 .issuer = g_ca, .issuer_key = g_ca_key});
    X509 *chain[2] = {c, g_ca};
    char p[700];

    snprintf(p, sizeof(p), "%s/%s.crt", g_certs, name);
    tp_write_pem(p, chain, 2, NULL, 0644);
    snprintf(p, sizeof(p), "%s/%s.key", g_certs, name);
    tp_write_key(p, k, 0640);
    X509_free(c);
    EVP_PKEY_free(k);
}

static int start_nginx(void)
{
    char cert[700], key[700];

    snprintf(cert, sizeof(cert), "%s/web.example.com.crt", g_certs);
    snprintf(key, sizeof(key), "%s/web.example.com.key", g_certs);
    nginx_pid = nginx_start(g_dir, nginx_port, cert, key);
    if (nginx_pid < 0) {
        print_error("nginx did not listen on %d\n", nginx_port);
        return -1;
    }
    return 0;
}

/* A private Postfix instance: its own configuration, queue and port,
 * master in the foreground as our child (start-fg). */
static int start_postfix(void)
{
    char etc[600], queue[600], data[600], p[700], text[4096];
    struct passwd *pw = getpwnam("postfix");
    char *argv[6];

    if (geteuid() != 0 || pw == NULL || access("/usr/sbin/postfix", X_OK))
        return 0;
    snprintf(etc, sizeof(etc), "%s/postfix/etc", g_dir);
    snprintf(queue, sizeof(queue), "%s/postfix/queue", g_dir);
    snprintf(data, sizeof(data), "%s/postfix/data", g_dir);
    tp_mkdirs(etc);
    tp_mkdirs(queue);
    tp_mkdirs(data);
    /* Postfix's unprivileged processes must reach their directories. */
    if (chown(data, pw->pw_uid, pw->pw_gid) != 0 || chmod(g_dir, 0711) != 0)
        return 0;
    /* Postfix reads the key as root before dropping privileges. */
    snprintf(p, sizeof(p), "%s/main.cf", etc);
    snprintf(text, sizeof(text),
             "compatibility_level = 3.6\nqueue_directory = %s\n"
             "data_directory = %s\nmail_owner = postfix\n"
             "myhostname = mail.example.net\ninet_interfaces = 127.0.0.1\n"
             "inet_protocols = ipv4\nmydestination =\n"
             "maillog_file = /dev/stdout\n"
             "smtpd_tls_cert_file = %s/mail.example.net.crt\n"
             "smtpd_tls_key_file = %s/mail.example.net.key\n"
             "smtpd_tls_security_level = may\n",
             queue, data, g_certs, g_certs);
    tp_write_bytes(p, text, strlen(text), 0644);
    snprintf(p, sizeof(p), "%s/master.cf", etc);
    snprintf(text, sizeof(text),
             "127.0.0.1:%d inet n - n - - smtpd\n"
             "pickup unix n - n 60 1 pickup\n"
             "cleanup unix n - n - 0 cleanup\n"
             "qmgr unix n - n 300 1 qmgr\n"
             "tlsmgr unix - - n 1000? 1 tlsmgr\n"
             "rewrite unix - - n - - trivial-rewrite\n"
             "bounce unix - - n - 0 bounce\n"
             "defer unix - - n - 0 bounce\n"
             "trace unix - - n - 0 bounce\n"
             "verify unix - - n - 1 verify\n"
             "flush unix n - n 1000? 0 flush\n"
             "proxymap unix - - n - - proxymap\n"
             "smtp unix - - n - - smtp\n"
             "relay unix - - n - - smtp\n"
             "showq unix n - n - - showq\n"
             "error unix - - n - - error\n"
             "retry unix - - n - - error\n"
             "discard unix - - n - - discard\n"
             "local unix - n n - - local\n"
             "anvil unix - - n - 1 anvil\n"
             "scache unix - - n - 1 scache\n"
             "postlog unix-dgram n - n - 1 postlogd\n",
             smtp_port);
    tp_write_bytes(p, text, strlen(text), 0644);
    argv[0] = (char *)"/usr/sbin/postfix";
    argv[1] = (char *)"-c";
    argv[2] = etc;
    argv[3] = (char *)"start-fg";
    argv[4] = NULL;
    snprintf(p, sizeof(p), "%s/postfix.out", g_dir);
    postfix_pid = proc_spawn_log(argv, p);
    if (!proc_until(port_open, &smtp_port, 20000)) {
        print_error("postfix did not listen on %d (see %s)\n", smtp_port,
                    p);
        return -1;
    }
    return 1;
}

static void start_keywarden(void)
{
    char text[2048];
    char *argv[] = {(char *)KEYWARDEN_BIN, (char *)"--config", g_conf,
                    (char *)"--state-dir", g_state, (char *)"serve", NULL};
    size_t n;

    n = (size_t)snprintf(
        text, sizeof(text),
        "[daemon]\nlog_level = info\nmetrics_listen = 127.0.0.1:%d\n"
        "[scan]\npath = %s\ninterval = 1h\n"
        "[endpoint \"web\"]\nhost = 127.0.0.1\nport = %d\n"
        "sni = web.example.com\ninterval = 1h\n"
        "[endpoint \"silent\"]\nhost = 127.0.0.1\nport = %d\ntimeout = 2s\n"
        "interval = 1h\n",
        metrics_port, g_certs, nginx_port, silent_port);
    if (have_postfix)
        snprintf(text + n, sizeof(text) - n,
                 "[endpoint \"mail\"]\nhost = 127.0.0.1\nport = %d\n"
                 "starttls = smtp\nsni = mail.example.net\ninterval = 1h\n",
                 smtp_port);
    tp_write_bytes(g_conf, text, strlen(text), 0644);
    kw_pid = proc_spawn_log(argv, g_log);
}

typedef struct dbq {
    const char *sql;
    int64_t want;
} dbq;

static int db_is(void *ctx)
{
    dbq *q = ctx;
    return db_int(g_db, q->sql) == q->want;
}

static void wait_db(const char *sql, int64_t want, int ms)
{
    dbq q = {sql, want};

    if (!proc_until(db_is, &q, ms))
        fail_msg("%s: %lld, not %lld after %d ms (log: %s)", sql,
                 (long long)db_int(g_db, sql), (long long)want, ms, g_log);
}

static int setup(void **state)
{
    (void)state;
    unsetenv("KEYWARDEN_NOW");
    tmpdir_make(g_dir, sizeof(g_dir), "served");
    path_join(g_certs, sizeof(g_certs), g_dir, "certs");
    path_join(g_state, sizeof(g_state), g_dir, "state");
    path_join(g_log, sizeof(g_log), g_dir, "keywarden.log");
    path_join(g_conf, sizeof(g_conf), g_dir, "keywarden.conf");
    snprintf(g_db, sizeof(g_db), "%s/keywarden.db", g_state);
    tp_mkdirs(g_certs);
    g_ca_key = tp_key_ec();
    g_ca = tp_cert(&(tp_spec){.cn = "Served Test CA", .is_ca = 1,
                              .not_before = time(NULL) - DAY,
                              .not_after = time(NULL) + 900 * DAY,
                              .serial = 1, .key = g_ca_key});
    issue("web.example.com", 40, 10);
    issue("mail.example.net", 40, 20);
    nginx_port = free_port();
    smtp_port = free_port();
    metrics_port = free_port();
    silent_fd = silent_listener(&silent_port);
    if (start_nginx() != 0)
        return -1;
    have_postfix = start_postfix();
    if (have_postfix < 0)
        return -1;
    start_keywarden();
    return 0;
}

static int teardown(void **state);

/* cmocka skips the group teardown when setup fails: stop what started. */
static int setup_or_clean(void **state)
{
    if (setup(state) != 0) {
        teardown(state);
        return -1;
    }
    return 0;
}

static void stop_pid(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    if (proc_wait(pid, 10000) < 0) {
        kill(pid, SIGKILL);
        proc_wait(pid, 5000);
    }
}

/* Postfix's master keeps its pid in the queue directory. */
static pid_t postfix_master(void)
{
    char p[700], *text;
    pid_t pid = 0;

    snprintf(p, sizeof(p), "%s/postfix/queue/pid/master.pid", g_dir);
    text = slurp(p, NULL);
    if (text != NULL)
        pid = (pid_t)atol(text);
    free(text);
    return pid;
}

static int gone(void *ctx)
{
    return kill(*(pid_t *)ctx, 0) != 0;
}

static int teardown(void **state)
{
    pid_t master = have_postfix ? postfix_master() : 0;

    (void)state;
    /* Only what this test started, by PID. */
    stop_pid(kw_pid);
    stop_pid(nginx_pid);
    if (master > 0) {
        kill(master, SIGTERM);
        proc_until(gone, &master, 10000);
    }
    stop_pid(postfix_pid);
    if (silent_fd >= 0)
        close(silent_fd);
    X509_free(g_ca);
    EVP_PKEY_free(g_ca_key);
    tmpdir_remove(g_dir);
    return 0;
}

static void probes_and_stale(void **state)
{
    int64_t before;

    (void)state;
    wait_db("SELECT count(*) FROM endpoints WHERE name = 'web' AND ok = 1", 1,
            30000);
    wait_db("SELECT count(*) FROM endpoints WHERE name = 'silent' AND ok = 0 "
            "AND error LIKE 'timed out after 2 s during the TLS handshake%'",
            1, 30000);
    if (have_postfix)
        wait_db("SELECT count(*) FROM endpoints WHERE name = 'mail' AND ok = 1"
                " AND tls_version LIKE 'TLSv1.%'",
                1, 30000);
    wait_db("SELECT count(*) FROM endpoints WHERE stale_of IS NOT NULL", 0,
            100);

    /* Renewed on disk, nginx not reloaded: stale within seconds (the
     * rescan that inotify triggers re-decides it). */
    before = db_int(g_db, "SELECT count(*) FROM events WHERE type = "
                          "'probe.stale'");
    issue("web.example.com", 90, 11);
    wait_db("SELECT count(*) FROM endpoints WHERE name = 'web' AND stale_of "
            "IS NOT NULL",
            1, 30000);
    assert_true(db_int(g_db, "SELECT count(*) FROM events WHERE type = "
                             "'probe.stale'") > before);

    /* nginx reloads; keywarden is asked to look again (SIGHUP). */
    kill(nginx_pid, SIGHUP);
    {
        /* nginx answers with the new certificate once its new worker
         * runs: keep asking keywarden until the probe sees it. */
        int i;
        for (i = 0; i < 60; i++) {
            kill(kw_pid, SIGHUP);
            if (proc_until(db_is,
                           &(dbq){"SELECT count(*) FROM endpoints WHERE "
                                  "name = 'web' AND stale_of IS NULL",
                                  1},
                           500))
                break;
        }
        assert_true(i < 60);
    }

    if (!have_postfix)
        return;
    issue("mail.example.net", 90, 21);
    wait_db("SELECT count(*) FROM endpoints WHERE name = 'mail' AND stale_of "
            "IS NOT NULL",
            1, 30000);
    /* "postfix reload" is a SIGHUP to master (whose pid Postfix keeps in
     * its queue directory); new smtpd processes load the new
     * certificate. */
    assert_int_equal(kill(postfix_master(), SIGHUP), 0);
    {
        int i;
        for (i = 0; i < 60; i++) {
            kill(kw_pid, SIGHUP);
            if (proc_until(db_is,
                           &(dbq){"SELECT count(*) FROM endpoints WHERE "
                                  "name = 'mail' AND stale_of IS NULL",
                                  1},
                           500))
                break;
        }
        assert_true(i < 60);
    }
}

/* ---- HTTP ------------------------------------------------------------------- */

static int http_connect(void)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)metrics_port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Send raw bytes, read the whole answer (the server closes). */
static char *http_raw(const char *req, size_t len, int timeout_ms)
{
    int fd = http_connect();
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    struct pollfd p;

    assert_true(fd >= 0);
    if (len > 0 && write(fd, req, len) != (ssize_t)len)
        fail_msg("write: %s", strerror(errno));
    p.fd = fd;
    p.events = POLLIN;
    for (;;) {
        ssize_t r;

        if (poll(&p, 1, timeout_ms) <= 0)
            break;
        if (n + 4096 > cap)
            out = realloc(out, cap *= 2);
        r = read(fd, out + n, cap - n - 1);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    out[n] = '\0';
    close(fd);
    return out;
}

static char *http_get(const char *path)
{
    char req[512];

    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    return http_raw(req, strlen(req), 10000);
}

/* The text exposition format, line by line: comments, or
 * NAME{LABEL="VALUE",...} VALUE with escaped label values. */
static void check_exposition(const char *body)
{
    const char *line = body;
    int samples = 0;

    while (*line != '\0') {
        const char *end = strchr(line, '\n'), *p = line;
        char value[64];
        size_t vl;

        assert_non_null(end);
        if (*p == '#') {
            assert_true(strncmp(p, "# HELP ", 7) == 0 ||
                        strncmp(p, "# TYPE ", 7) == 0);
            line = end + 1;
            continue;
        }
        if (!(isalpha((unsigned char)*p) || *p == '_'))
            fail_msg("bad metric name at: %.60s", line);
        while (isalnum((unsigned char)*p) || *p == '_' || *p == ':')
            p++;
        if (*p == '{') {
            p++;
            while (*p != '}') {
                if (!(isalpha((unsigned char)*p) || *p == '_'))
                    fail_msg("bad label name at: %.60s", p);
                while (isalnum((unsigned char)*p) || *p == '_')
                    p++;
                if (p[0] != '=' || p[1] != '"')
                    fail_msg("expected =\" at: %.60s", p);
                p += 2;
                while (*p != '"') {
                    if (*p == '\n' || *p == '\0')
                        fail_msg("unterminated label value: %.60s", line);
                    if (*p == '\\') {
                        if (p[1] != '\\' && p[1] != '"' && p[1] != 'n')
                            fail_msg("bad escape: %.60s", line);
                        p++;
                    }
                    p++;
                }
                p++;
                if (*p == ',')
                    p++;
                else if (*p != '}')
                    fail_msg("expected , or } at: %.60s", p);
            }
            p++;
        }
        if (*p != ' ')
            fail_msg("expected a space before the value: %.60s", line);
        p++;
        vl = (size_t)(end - p);
        assert_true(vl > 0 && vl < sizeof(value));
        memcpy(value, p, vl);
        value[vl] = '\0';
        {
            char *e;
            (void)strtod(value, &e);
            if (*e != '\0')
                fail_msg("not a number: \"%s\"", value);
        }
        samples++;
        line = end + 1;
    }
    assert_true(samples > 10);
}

static void metrics_and_abuse(void **state)
{
    char *r, *body;
    char big[10000];
    int fds[80], i, n = 0;

    (void)state;
    wait_db("SELECT count(*) FROM endpoints WHERE name = 'web' AND ok = 1", 1,
            30000);
    r = http_get("/metrics");
    assert_true(strncmp(r, "HTTP/1.1 200", 12) == 0);
    assert_non_null(strstr(r, "version=0.0.4"));
    body = strstr(r, "\r\n\r\n");
    assert_non_null(body);
    check_exposition(body + 4);
    assert_non_null(strstr(body, "keywarden_object_not_after_timestamp_"
                                 "seconds{kind=\"tls\",name=\"web.example."
                                 "com\""));
    assert_non_null(strstr(body, "keywarden_probe_success{endpoint=\"tls://"
                                 "127.0.0.1:"));
    assert_non_null(strstr(body, "keywarden_object_health{"));
    free(r);

    r = http_get("/healthz");
    assert_non_null(strstr(r, "200 OK"));
    free(r);
    r = http_get("/nothing");
    assert_non_null(strstr(r, "404"));
    free(r);

    /* Malformed, oversized, with a body. */
    r = http_raw("NOT HTTP AT ALL\r\n\r\n", 19, 5000);
    assert_non_null(strstr(r, "400"));
    free(r);
    memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
    memset(big + 26, 'a', sizeof(big) - 31);
    memcpy(big + sizeof(big) - 5, "\r\n\r\n", 4);
    r = http_raw(big, sizeof(big) - 1, 5000);
    assert_non_null(strstr(r, "431"));
    free(r);
    r = http_raw("POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 50,
                 5000);
    assert_non_null(strstr(r, "413"));
    free(r);

    /* Slow clients and too many of them: 70 silent connections; the
     * daemon turns the surplus away and keeps answering. */
    for (i = 0; i < 70; i++)
        if ((fds[n] = http_connect()) >= 0)
            n++;
    r = http_get("/healthz");
    assert_true(strstr(r, "503") != NULL || strstr(r, "200") != NULL);
    free(r);
    for (i = 0; i < n; i++)
        close(fds[i]);
    {
        /* Freed slots are reused at once. */
        int ok = 0;
        for (i = 0; i < 50 && !ok; i++) {
            r = http_get("/healthz");
            ok = strstr(r, "200 OK") != NULL;
            free(r);
        }
        assert_true(ok);
    }
    /* One silent client is cut off after the 10 s limit. */
    {
        int fd = http_connect();
        struct pollfd p = {fd, POLLIN, 0};
        char c;
        assert_true(fd >= 0);
        assert_int_equal(poll(&p, 1, 15000), 1);
        assert_int_equal(read(fd, &c, 1), 0); /* closed by the server */
        close(fd);
    }
    /* And the daemon still serves. */
    r = http_get("/healthz");
    assert_non_null(strstr(r, "200 OK"));
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(probes_and_stale),
        cmocka_unit_test(metrics_and_abuse),
    };
    return cmocka_run_group_tests(tests, setup_or_clean, teardown);
}
