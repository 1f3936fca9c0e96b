/*
 * What is served, against real servers from Debian's packages on
 * loopback: nginx (TLS), Postfix (SMTP STARTTLS) and Dovecot (IMAP and
 * POP3 STARTTLS, IMAPS, POP3S).  The daemon and `keywarden probe` probe
 * them; a certificate renewed on disk but not reloaded is reported stale
 * and clears after the reload; a stopped Dovecot is a refused, critical
 * probe; discovery reads the running nginx's configuration through
 * `nginx -T` (and falls back to its files when nginx rejects one);
 * /metrics parses strictly; malformed, oversized, slow and too many HTTP
 * clients do not stall the daemon; a port that accepts and never answers
 * times out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "servers.h"
#include "testpki.h"
#include "tmpdir.h"

static char g_dir[256], g_certs[512], g_state[512], g_db[600], g_log[512];
static char g_conf[512];
static int nginx_port, smtp_port, metrics_port, silent_port;
static int dv_ports[DV_NPORTS];
static pid_t nginx_pid, postfix_pid, dovecot_pid, kw_pid;
static int silent_fd = -1;
static int have_postfix, have_dovecot;
static const char *dovecot_skip;
/* SHA-256 of the leaf Dovecot serves at start, and of its renewal. */
static char imap_fp[65], imap_fp_new[65];

/* Dovecot's endpoints in keywarden.conf, in DV_* order. */
static const char *const dv_name[DV_NPORTS] = {"imap", "imaps", "pop3",
                                               "pop3s"};
static const char *const dv_starttls[DV_NPORTS] = {"imap", "none", "pop3",
                                                   "none"};
static const char *const dv_scheme[DV_NPORTS] = {"imap", "tls", "pop3",
                                                 "tls"};
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
 * g_certs/NAME.crt and NAME.key; fp (may be NULL) gets the leaf's SHA-256
 * in hex. */
static void issue(const char *name, int days, long serial, char fp[65])
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
    if (fp != NULL) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0, i;

        if (X509_digest(c, EVP_sha256(), md, &n) != 1 || n != 32)
            abort();
        for (i = 0; i < n; i++)
            snprintf(fp + 2 * i, 3, "%02x", md[i]);
    }
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
 * master in the foreground as our child (start-fg; servers.c). */
static int start_postfix(void)
{
    char cert[700], key[700];

    snprintf(cert, sizeof(cert), "%s/mail.example.net.crt", g_certs);
    snprintf(key, sizeof(key), "%s/mail.example.net.key", g_certs);
    postfix_pid = postfix_start(g_dir, smtp_port, cert, key, NULL, NULL);
    if (postfix_pid < 0) {
        print_error("postfix did not listen on %d (see %s/postfix/"
                    "postfix.out)\n",
                    smtp_port, g_dir);
        postfix_pid = 0;
        return -1;
    }
    return postfix_pid > 0;
}

/* A free port not already taken by this test. */
static int fresh_port(void)
{
    for (;;) {
        int p = free_port(), i, dup = p == nginx_port || p == smtp_port ||
                                      p == metrics_port || p == silent_port;
        for (i = 0; i < DV_NPORTS; i++)
            dup |= p == dv_ports[i];
        if (!dup)
            return p;
    }
}

/* A private Dovecot: dovecot -F as our child, its configuration, sockets,
 * state and log under g_dir/dovecot (servers.c). */
static int start_dovecot(void)
{
    char cert[700], key[700];
    int i;

    for (i = 0; i < DV_NPORTS; i++)
        dv_ports[i] = fresh_port();
    snprintf(cert, sizeof(cert), "%s/imap.example.net.crt", g_certs);
    snprintf(key, sizeof(key), "%s/imap.example.net.key", g_certs);
    dovecot_pid = dovecot_start(g_dir, dv_ports, cert, key, &dovecot_skip);
    if (dovecot_pid < 0) {
        /* The directory goes with the teardown: say what Dovecot said. */
        char p[700], *out, *log;

        snprintf(p, sizeof(p), "%s/dovecot/dovecot.out", g_dir);
        out = slurp(p, NULL);
        snprintf(p, sizeof(p), "%s/dovecot/dovecot.log", g_dir);
        log = slurp(p, NULL);
        print_error("dovecot did not listen on %d, %d, %d, %d\n"
                    "stdout/stderr:\n%s\nlog:\n%s\n",
                    dv_ports[0], dv_ports[1], dv_ports[2], dv_ports[3],
                    out != NULL ? out : "-", log != NULL ? log : "-");
        free(out);
        free(log);
        dovecot_pid = 0;
        return -1;
    }
    if (dovecot_pid == 0) {
        print_message("Dovecot tests skipped: %s\n", dovecot_skip);
        return 0;
    }
    return 1;
}

static void start_keywarden(void)
{
    char text[4096];
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
        n += (size_t)snprintf(
            text + n, sizeof(text) - n,
            "[endpoint \"mail\"]\nhost = 127.0.0.1\nport = %d\n"
            "starttls = smtp\nsni = mail.example.net\ninterval = 1h\n",
            smtp_port);
    if (have_dovecot) {
        int i;
        for (i = 0; i < DV_NPORTS; i++)
            n += (size_t)snprintf(
                text + n, sizeof(text) - n,
                "[endpoint \"%s\"]\nhost = 127.0.0.1\nport = %d\n"
                "starttls = %s\nsni = imap.example.net\ninterval = 1h\n",
                dv_name[i], dv_ports[i], dv_starttls[i]);
    }
    if (n >= sizeof(text))
        abort();
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
    issue("web.example.com", 40, 10, NULL);
    issue("mail.example.net", 40, 20, NULL);
    issue("imap.example.net", 40, 30, imap_fp);
    nginx_port = fresh_port();
    smtp_port = fresh_port();
    metrics_port = fresh_port();
    silent_fd = silent_listener(&silent_port);
    if (start_nginx() != 0)
        return -1;
    have_postfix = start_postfix();
    if (have_postfix < 0)
        return -1;
    have_dovecot = start_dovecot();
    if (have_dovecot < 0)
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

static int teardown(void **state)
{
    (void)state;
    /* Only what this test started, by PID. */
    stop_pid(kw_pid);
    stop_pid(nginx_pid);
    /* dovecot -F is the master; it stops its own children. */
    stop_pid(dovecot_pid);
    /* Postfix's master (its pid file), then the start-fg process. */
    postfix_stop(g_dir, postfix_pid);
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
    issue("web.example.com", 90, 11, NULL);
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
    issue("mail.example.net", 90, 21, NULL);
    wait_db("SELECT count(*) FROM endpoints WHERE name = 'mail' AND stale_of "
            "IS NOT NULL",
            1, 30000);
    /* "postfix reload" is a SIGHUP to master (whose pid Postfix keeps in
     * its queue directory); new smtpd processes load the new
     * certificate. */
    assert_int_equal(kill(postfix_master_pid(g_dir), SIGHUP), 0);
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
    int fds[280], i, n = 0;

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

    /* Slow clients and too many of them: 270 silent connections, past
     * the 256 the server takes; it turns the surplus away and keeps
     * answering. */
    for (i = 0; i < 270; i++)
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

/* ---- the command line ------------------------------------------------------- */

typedef struct result {
    int status;
    char *out, *err;
} result;

/* keywarden --state-dir g_state ARGS... (NULL-terminated). */
static result kw(const char *a, ...)
{
    char *argv[32];
    int argc = 0, ofd, efd, status;
    va_list ap;
    result r;
    pid_t pid;

    argv[argc++] = (char *)KEYWARDEN_BIN;
    argv[argc++] = (char *)"--state-dir";
    argv[argc++] = g_state;
    va_start(ap, a);
    for (; a != NULL && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    pid = proc_spawn_pipes(argv, &ofd, &efd);
    proc_drain(ofd, efd, &r.out, &r.err);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status)
                                 : 128 + WTERMSIG(status);
    return r;
}

static json_t *parse_json(result *r)
{
    json_error_t e;
    json_t *j = json_loads(r->out, 0, &e);

    if (j == NULL)
        fail_msg("not JSON (%s): %s\nstderr: %s", e.text, r->out, r->err);
    free(r->out);
    free(r->err);
    return j;
}

static const char *jstr(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* `keywarden probe --json` of Dovecot's listener i. */
static json_t *probe_dovecot(int i, int *status)
{
    char hp[64];
    result r;

    snprintf(hp, sizeof(hp), "127.0.0.1:%d", dv_ports[i]);
    r = kw("probe", "--json", "--starttls", dv_starttls[i], "--sni",
           "imap.example.net", "--timeout", "5s", hp, NULL);
    *status = r.status;
    return parse_json(&r);
}

/* The object `list --json` shows for Dovecot's endpoint i. */
static json_t *listed_dovecot(json_t *arr, int i)
{
    char src[64];
    size_t k;
    json_t *o;

    snprintf(src, sizeof(src), "%s://127.0.0.1:%d", dv_scheme[i],
             dv_ports[i]);
    json_array_foreach(arr, k, o)
    {
        const char *v = jstr(o, "source");
        if (v != NULL && strcmp(v, src) == 0)
            return o;
    }
    fail_msg("list --json shows no object with source %s", src);
    return NULL;
}

static json_t *list_json(void)
{
    result r = kw("list", "--json", "--all", NULL);

    if (r.status != 0)
        fail_msg("list --json: exit %d: %s", r.status, r.err);
    return parse_json(&r);
}

/* How many of Dovecot's endpoints match the SQL condition on endpoints e
 * joined with their objects o. */
static char *dv_count_sql(char *buf, size_t len, const char *cond)
{
    snprintf(buf, len,
             "SELECT count(*) FROM endpoints e JOIN objects o ON o.id = "
             "e.object_id WHERE e.name IN ('imap', 'imaps', 'pop3', 'pop3s')"
             " AND %s",
             cond);
    return buf;
}

/* Every one of Dovecot's listeners, through the command line: a TLS 1.3
 * handshake after the STARTTLS dialogue (or at once), the leaf we issued
 * first, then our CA. */
static void cli_probes_see(const char *fp)
{
    int i, status;

    for (i = 0; i < DV_NPORTS; i++) {
        json_t *j = probe_dovecot(i, &status), *chain;

        if (status != 0 || !json_is_true(json_object_get(j, "ok")))
            fail_msg("probe %s (port %d): exit %d, %s", dv_name[i],
                     dv_ports[i], status, jstr(j, "error"));
        assert_string_equal(jstr(j, "starttls"), dv_starttls[i]);
        assert_string_equal(jstr(j, "tls_version"), "TLSv1.3");
        assert_true(json_is_true(json_object_get(j, "name_matches")));
        chain = json_object_get(j, "chain");
        assert_int_equal(json_array_size(chain), 2);
        assert_string_equal(
            jstr(json_array_get(chain, 0), "fingerprint_sha256"), fp);
        assert_non_null(
            strstr(jstr(json_array_get(chain, 1), "subject"), "Served Test CA"));
        json_decref(j);
    }
}

static void dovecot_probes(void **state)
{
    char sql[600], cond[300];
    json_t *arr;
    int i;

    (void)state;
    if (!have_dovecot)
        skip();
    cli_probes_see(imap_fp);

    /* The daemon's [endpoint]s: each probed, with the same leaf. */
    snprintf(cond, sizeof(cond),
             "e.ok = 1 AND e.tls_version = 'TLSv1.3' AND e.name_matches = 1"
             " AND o.fingerprint = '%s'",
             imap_fp);
    wait_db(dv_count_sql(sql, sizeof(sql), cond), DV_NPORTS, 30000);
    wait_db(dv_count_sql(sql, sizeof(sql),
                         "((e.name = 'imap' AND e.starttls = 'imap') OR "
                         "(e.name = 'pop3' AND e.starttls = 'pop3') OR "
                         "(e.name IN ('imaps', 'pop3s') AND e.starttls = "
                         "'none'))"),
            DV_NPORTS, 100);
    arr = list_json();
    for (i = 0; i < DV_NPORTS; i++) {
        json_t *o = listed_dovecot(arr, i);
        if (strcmp(jstr(o, "health"), "ok") != 0)
            fail_msg("%s: %s: %s", dv_name[i], jstr(o, "health"),
                     jstr(o, "reason"));
    }
    json_decref(arr);
}

/* As for Postfix in probes_and_stale: renewed on disk, Dovecot not
 * reloaded, every listener is stale (critical); `doveadm reload` (SIGHUP
 * to the master) and a re-probe clear it. */
static void dovecot_stale(void **state)
{
    char sql[600], cond[300], want[200];
    int64_t before;
    json_t *arr;
    int i;

    (void)state;
    if (!have_dovecot)
        skip();
    wait_db(dv_count_sql(sql, sizeof(sql), "e.ok = 1 AND e.stale_of IS NULL"),
            DV_NPORTS, 30000);
    before = db_int(g_db, "SELECT count(*) FROM events WHERE type = "
                          "'probe.stale'");
    issue("imap.example.net", 90, 31, imap_fp_new);
    wait_db(dv_count_sql(sql, sizeof(sql), "e.stale_of IS NOT NULL"),
            DV_NPORTS, 30000);
    assert_true(db_int(g_db, "SELECT count(*) FROM events WHERE type = "
                             "'probe.stale'") >= before + DV_NPORTS);
    arr = list_json();
    for (i = 0; i < DV_NPORTS; i++) {
        json_t *o = listed_dovecot(arr, i);

        snprintf(want, sizeof(want),
                 "stale: the daemon serving 127.0.0.1:%d was not reloaded: "
                 "it serves the certificate expiring ",
                 dv_ports[i]);
        assert_string_equal(jstr(o, "health"), "critical");
        if (strncmp(jstr(o, "reason"), want, strlen(want)) != 0 ||
            strstr(jstr(o, "reason"), "imap.example.net.crt holds one "
                                      "expiring ") == NULL)
            fail_msg("%s: reason \"%s\"", dv_name[i], jstr(o, "reason"));
    }
    json_decref(arr);
    /* It really is the old certificate that is served. */
    cli_probes_see(imap_fp);

    assert_int_equal(kill(dovecot_pid, SIGHUP), 0);
    for (i = 0; i < 60; i++) {
        kill(kw_pid, SIGHUP);
        if (proc_until(db_is,
                       &(dbq){dv_count_sql(sql, sizeof(sql),
                                           "e.ok = 1 AND e.stale_of IS NULL"),
                              DV_NPORTS},
                       500))
            break;
    }
    assert_true(i < 60);
    snprintf(cond, sizeof(cond), "e.ok = 1 AND o.fingerprint = '%s'",
             imap_fp_new);
    wait_db(dv_count_sql(sql, sizeof(sql), cond), DV_NPORTS, 10000);
    cli_probes_see(imap_fp_new);
    arr = list_json();
    for (i = 0; i < DV_NPORTS; i++)
        assert_string_equal(jstr(listed_dovecot(arr, i), "health"), "ok");
    json_decref(arr);
}

/* Dovecot stopped: every listener refuses; the command line says so and
 * exits 1, the daemon's endpoints turn critical, /metrics says 0. */
static void dovecot_stopped(void **state)
{
    char sql[600], want[200], *r;
    json_t *arr;
    int i, status;

    (void)state;
    if (!have_dovecot)
        skip();
    stop_pid(dovecot_pid);
    dovecot_pid = 0;
    for (i = 0; i < DV_NPORTS; i++) {
        json_t *j = probe_dovecot(i, &status);

        snprintf(want, sizeof(want),
                 "connecting to 127.0.0.1:%d: connection refused",
                 dv_ports[i]);
        assert_int_equal(status, 1);
        assert_true(json_is_false(json_object_get(j, "ok")));
        assert_string_equal(jstr(j, "error"), want);
        assert_int_equal(json_array_size(json_object_get(j, "chain")), 0);
        json_decref(j);
    }
    for (i = 0; i < 60; i++) {
        kill(kw_pid, SIGHUP);
        if (proc_until(db_is,
                       &(dbq){dv_count_sql(sql, sizeof(sql),
                                           "e.ok = 0 AND e.error LIKE "
                                           "'connecting to 127.0.0.1:%: "
                                           "connection refused'"),
                              DV_NPORTS},
                       500))
            break;
    }
    assert_true(i < 60);
    arr = list_json();
    for (i = 0; i < DV_NPORTS; i++) {
        json_t *o = listed_dovecot(arr, i);

        snprintf(want, sizeof(want),
                 "probe of 127.0.0.1:%d failed: connecting to 127.0.0.1:%d: "
                 "connection refused",
                 dv_ports[i], dv_ports[i]);
        assert_string_equal(jstr(o, "health"), "critical");
        assert_string_equal(jstr(o, "reason"), want);
        assert_false(json_is_true(
            json_object_get(json_object_get(o, "endpoint"), "probe_ok")));
    }
    json_decref(arr);
    assert_true(db_int(g_db, "SELECT count(*) FROM events WHERE type = "
                             "'probe.failed'") >= DV_NPORTS);
    r = http_get("/metrics");
    for (i = 0; i < DV_NPORTS; i++) {
        snprintf(want, sizeof(want),
                 "keywarden_probe_success{endpoint=\"%s://127.0.0.1:%d\"} 0\n",
                 dv_scheme[i], dv_ports[i]);
        if (strstr(r, want) == NULL)
            fail_msg("/metrics lacks %s", want);
    }
    free(r);
}

/* ---- discovery through nginx -T ------------------------------------------------ */

static const json_t *find_file(json_t *files, const char *directive,
                               const char *path)
{
    size_t k;
    json_t *o;

    json_array_foreach(files, k, o)
    {
        if (strcmp(jstr(o, "daemon"), "nginx") == 0 &&
            strcmp(jstr(o, "directive"), directive) == 0 &&
            strcmp(jstr(o, "path"), path) == 0)
            return o;
    }
    fail_msg("discover found no nginx %s %s", directive, path);
    return NULL;
}

static json_t *discover_json(const char *conf)
{
    result r = kw("discover", "--dry-run", "--json", "--postfix",
                  "/nonexistent", "--dovecot", "/nonexistent", "--nginx",
                  conf, NULL);

    if (r.status != 0)
        fail_msg("discover: exit %d: %s", r.status, r.err);
    return parse_json(&r);
}

/* The running nginx's configuration names the certificate in an included
 * file (servers.c: conf.d/tls.conf, lines 2 and 3).  Discovery runs
 * `nginx -T` on it, finds that file and line, and disturbs nothing; a
 * configuration nginx rejects is read from its files, with nginx's error
 * as a note. */
static void nginx_discovery(void **state)
{
    char conf[600], tls[600], cert[700], key[700], pidf[600], *pid_before,
        *pid_after, text[1024], broken[600];
    json_t *j, *files, *eps, *o;
    const json_t *u;
    size_t k;
    int found = 0;

    (void)state;
    snprintf(conf, sizeof(conf), "%s/nginx/nginx.conf", g_dir);
    snprintf(tls, sizeof(tls), "%s/nginx/conf.d/tls.conf", g_dir);
    snprintf(cert, sizeof(cert), "%s/web.example.com.crt", g_certs);
    snprintf(key, sizeof(key), "%s/web.example.com.key", g_certs);
    snprintf(pidf, sizeof(pidf), "%s/nginx/nginx.pid", g_dir);
    pid_before = slurp(pidf, NULL);
    assert_non_null(pid_before);
    assert_int_equal(atol(pid_before), nginx_pid);

    j = discover_json(conf);
    if (!json_is_string(json_object_get(j, "nginx_dump")))
        fail_msg("nginx -T was not used: notes %s",
                 json_dumps(json_object_get(j, "notes"), 0));
    assert_non_null(strstr(jstr(j, "nginx_dump"), "nginx"));
    assert_int_equal(json_array_size(json_object_get(j, "notes")), 0);
    files = json_object_get(j, "files");
    u = find_file(files, "ssl_certificate", cert);
    assert_string_equal(jstr((json_t *)u, "config"), tls);
    assert_int_equal(json_integer_value(json_object_get(u, "line")), 2);
    u = find_file(files, "ssl_certificate_key", key);
    assert_string_equal(jstr((json_t *)u, "config"), tls);
    assert_int_equal(json_integer_value(json_object_get(u, "line")), 3);
    assert_true(json_is_true(json_object_get(u, "is_key")));
    assert_int_equal(json_array_size(files), 2);
    eps = json_object_get(j, "endpoints");
    json_array_foreach(eps, k, o)
    {
        if (json_integer_value(json_object_get(o, "port")) == nginx_port) {
            assert_string_equal(jstr(o, "sni"), "web.example.com");
            assert_string_equal(jstr(o, "starttls"), "none");
            found = 1;
        }
    }
    assert_true(found);
    json_decref(j);
    /* nginx -T left the running nginx alone. */
    pid_after = slurp(pidf, NULL);
    assert_string_equal(pid_before, pid_after);
    free(pid_before);
    free(pid_after);
    assert_int_equal(kill(nginx_pid, 0), 0);
    assert_true(port_open(&nginx_port));

    /* A configuration nginx rejects: its error is the note, and the files
     * are read, include and all. */
    snprintf(broken, sizeof(broken), "%s/nginx-broken", g_dir);
    tp_mkdirs(broken);
    snprintf(broken, sizeof(broken), "%s/nginx-broken/nginx.conf", g_dir);
    snprintf(text, sizeof(text),
             "events {}\nhttp {\n  kw_no_such_directive on;\n"
             "  server {\n    listen 127.0.0.1:1 ssl;\n"
             "    include %s/nginx/conf.d/*.conf;\n  }\n}\n",
             g_dir);
    tp_write_bytes(broken, text, strlen(text), 0644);
    j = discover_json(broken);
    assert_true(json_is_null(json_object_get(j, "nginx_dump")));
    {
        json_t *notes = json_object_get(j, "notes");
        char want[1400];

        snprintf(want, sizeof(want),
                 " -T -c %s failed: unknown directive "
                 "\"kw_no_such_directive\" in %s:3; nginx's files were "
                 "read directly",
                 broken, broken);
        assert_int_equal(json_array_size(notes), 1);
        if (strstr(json_string_value(json_array_get(notes, 0)), want) ==
            NULL)
            fail_msg("note \"%s\" lacks \"%s\"",
                     json_string_value(json_array_get(notes, 0)), want);
    }
    u = find_file(json_object_get(j, "files"), "ssl_certificate", cert);
    assert_string_equal(jstr((json_t *)u, "config"), tls);
    assert_int_equal(json_integer_value(json_object_get(u, "line")), 2);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(probes_and_stale),
        cmocka_unit_test(dovecot_probes),
        cmocka_unit_test(dovecot_stale),
        cmocka_unit_test(nginx_discovery),
        cmocka_unit_test(metrics_and_abuse),
        cmocka_unit_test(dovecot_stopped),
    };
    return cmocka_run_group_tests(tests, setup_or_clean, teardown);
}
