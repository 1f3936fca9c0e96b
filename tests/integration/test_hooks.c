/*
 * Hooks against the real daemons they reload, on loopback: Debian's
 * Pebble issues, nginx serves the http-01 answers, and the certificate is
 * served by a private Postfix (STARTTLS) and nginx (TLS); OpenDKIM signs
 * through its milter.  Each test runs the real keywarden binary.
 *
 *   renew_reloads_daemons  keywarden renew --force: the built-in postfix,
 *                          nginx and dovecot reloads (and reload = auto)
 *                          run, and STARTTLS and TLS probes see the new
 *                          certificate
 *   serve_verifies         keywarden serve renews on its own, reloads
 *                          Postfix, probes the endpoints until they serve
 *                          the new leaf; the endpoint whose "reload" does
 *                          nothing is flagged stale (probe.stale, check
 *                          CRITICAL); /metrics counts the runs
 *   kill9_mid_hook         keywarden killed -9 while its hook runs: the
 *                          next start runs the hook again
 *   failing_hook_is_loud   a hook that fails for good: renew exits 1,
 *                          check and list say CRITICAL with its output
 *   opendkim_signs_new_key the KeyTable changed, the built-in opendkim
 *                          reload (SIGUSR1 after opendkim -n) makes the
 *                          milter sign with the new selector, verified by
 *                          dkimpy
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
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kwrun.h"
#include "opendkim.h"
#include "pebble.h"
#include "proc.h"
#include "servers.h"
#include "testpki.h"
#include "tmpdir.h"

static char g_dir[256];
/* Postfix instances started and not yet stopped: their masters are not
 * our children, so the teardown stops them by their pid files. */
static struct {
    char dir[512];
    pid_t pid;
} g_postfix[4];
static pb_pki g_pki;
static pb_dns g_dns;
static pebble g_peb;
static size_t g_mark;

typedef struct tdir {
    char dir[512], state[600], conf[600], db[700], certs[700], webroot[700];
    int smtp_port, https_port;
    pid_t postfix, nginx_tls, nginx_web;
    char nginx_conf[800];
} tdir;

static void tdir_make(tdir *t, const char *tag)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->dir, sizeof(t->dir), "%s/%s", g_dir, tag);
    snprintf(t->state, sizeof(t->state), "%s/state", t->dir);
    snprintf(t->conf, sizeof(t->conf), "%s/keywarden.conf", t->dir);
    snprintf(t->db, sizeof(t->db), "%s/keywarden.db", t->state);
    snprintf(t->certs, sizeof(t->certs), "%s/certs", t->state);
    snprintf(t->webroot, sizeof(t->webroot), "%s/webroot", t->dir);
    tp_mkdirs(t->state);
    tp_mkdirs(t->webroot);
}

static int64_t db_q(const tdir *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int64_t db_q(const tdir *t, const char *fmt, ...)
{
    char sql[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    return db_int(t->db, sql);
}

/* The configuration: Pebble, the certificate "mail" (http-01 through the
 * nginx webroot), and what the test adds (hooks, endpoints). */
static void conf_write(const tdir *t, const char *extra)
{
    write_text(t->conf,
               "[daemon]\nmetrics_listen = off\n"
               "[acme]\ndirectory = %s\nca_file = %s\n"
               "contact = mailto:ops@example.net\n"
               "resolver = 127.0.0.1:%d\nvalidation_http_port = %d\n"
               "validation_allow_private = yes\n"
               "[certificate \"mail\"]\nnames = mail.example.net\n"
               "http01 = webroot\nwebroot = %s\n%s",
               g_peb.directory, g_pki.ca_pem, g_dns.dns_port,
               g_peb.http_port, t->webroot, extra);
}

/* SHA-256 of the first certificate in a PEM file, as hex. */
static void file_fp(const char *path, char out[65])
{
    FILE *f = fopen(path, "r");
    X509 *x;
    unsigned char md[32];
    unsigned int n = 0, i;

    assert_non_null(f);
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    assert_int_equal(X509_digest(x, EVP_sha256(), md, &n), 1);
    for (i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    X509_free(x);
}

typedef struct served {
    const tdir *t;
    const char *args[8];
    char fp[65];
} served;

/* Does the endpoint serve the certificate with fingerprint fp? */
static int serves(void *ctx)
{
    served *s = ctx;
    kwres r = kw_argv(s->t->state, s->t->conf, s->args);
    int ok = r.status == 0 && strstr(r.out, s->fp) != NULL;

    kwres_free(&r);
    return ok;
}

static void wait_served(const tdir *t, const char *target,
                        const char *starttls, const char *fp)
{
    served s;
    int i = 0;

    memset(&s, 0, sizeof(s));
    s.t = t;
    s.args[i++] = "probe";
    s.args[i++] = target;
    if (starttls != NULL) {
        s.args[i++] = "--starttls";
        s.args[i++] = starttls;
    }
    s.args[i++] = "--json";
    snprintf(s.fp, sizeof(s.fp), "%s", fp);
    if (!proc_until(serves, &s, 15000)) {
        kwres r = kw_argv(t->state, t->conf, s.args);

        fail_msg("%s does not serve %s:\n%s%s", target, fp, r.out, r.err);
    }
}

/* nginx as it runs in production, a master and a worker (a reload starts
 * new workers; the tests' single-process nginx is not made for reloads),
 * in the foreground as our child: stopping the master by its PID stops
 * the worker. */
static pid_t nginx_master(tdir *t, const char *cert, const char *key)
{
    char prefix[700], log[800];
    char *argv[6];
    pid_t pid;

    snprintf(prefix, sizeof(prefix), "%s/nginx-tls/", t->dir);
    tp_mkdirs(prefix);
    snprintf(t->nginx_conf, sizeof(t->nginx_conf), "%snginx.conf", prefix);
    snprintf(log, sizeof(log), "%snginx.out", prefix);
    write_text(t->nginx_conf,
               "daemon off;\nmaster_process on;\nworker_processes 1;\n"
               "pid %snginx.pid;\nerror_log %serror.log info;\n"
               "events { worker_connections 64; }\n"
               "http {\n access_log off;\n"
               " client_body_temp_path %sbody;\n proxy_temp_path %sproxy;\n"
               " fastcgi_temp_path %sfcgi;\n uwsgi_temp_path %suwsgi;\n"
               " scgi_temp_path %sscgi;\n"
               " server {\n  listen 127.0.0.1:%d ssl;\n  server_name _;\n"
               "  ssl_certificate %s;\n  ssl_certificate_key %s;\n"
               "  return 200 \"ok\\n\";\n }\n}\n",
               prefix, prefix, prefix, prefix, prefix, prefix, prefix,
               t->https_port, cert, key);
    argv[0] = (char *)"/usr/sbin/nginx";
    argv[1] = (char *)"-c";
    argv[2] = t->nginx_conf;
    argv[3] = (char *)"-p";
    argv[4] = prefix;
    argv[5] = NULL;
    pid = pb_spawn(argv, NULL, log);
    if (pid > 0 && !proc_until(port_open, &t->https_port, 10000))
        return -1;
    return pid;
}

/* Issue version 1, then start Postfix and nginx on the live files. */
static void daemons_up(tdir *t)
{
    char cert[800], key[800], target[64];
    const char *skip = NULL;
    kwres r;

    t->nginx_web = pb_nginx_webroot(t->dir, "nginx-web", g_peb.http_port,
                                    t->webroot);
    assert_true(t->nginx_web > 0);
    conf_write(t, "");
    r = kw_ok(t->state, t->conf, "renew");
    assert_contains(r.out, "mail: issued: version 1 is live");
    kwres_free(&r);
    snprintf(cert, sizeof(cert), "%s/live/mail/fullchain.pem", t->certs);
    snprintf(key, sizeof(key), "%s/live/mail/privkey.pem", t->certs);
    t->smtp_port = free_port();
    t->postfix = postfix_start(t->dir, t->smtp_port, cert, key, NULL, &skip);
    if (t->postfix == 0)
        skip();
    assert_true(t->postfix > 0);
    for (size_t i = 0; i < sizeof(g_postfix) / sizeof(g_postfix[0]); i++)
        if (g_postfix[i].pid == 0) {
            snprintf(g_postfix[i].dir, sizeof(g_postfix[i].dir), "%s",
                     t->dir);
            g_postfix[i].pid = t->postfix;
            break;
        }
    t->https_port = free_port();
    t->nginx_tls = nginx_master(t, cert, key);
    assert_true(t->nginx_tls > 0);
    snprintf(target, sizeof(target), "127.0.0.1:%d", t->smtp_port);
}

static void postfix_all_stop(void)
{
    for (size_t i = 0; i < sizeof(g_postfix) / sizeof(g_postfix[0]); i++)
        if (g_postfix[i].pid > 0) {
            postfix_stop(g_postfix[i].dir, g_postfix[i].pid);
            g_postfix[i].pid = 0;
        }
}

static void daemons_down(tdir *t)
{
    postfix_all_stop();
    if (t->nginx_tls > 0)
        pb_stop(t->nginx_tls);
    if (t->nginx_web > 0)
        pb_stop(t->nginx_web);
}

/* ----- setup ----------------------------------------------------------------- */

static int group_setup(void **state)
{
    pb_opts o;

    (void)state;
    unsetenv("KEYWARDEN_NOW");
    if (access("/usr/bin/pebble", X_OK) != 0) {
        print_error("pebble is needed (Debian package pebble)\n");
        return -1;
    }
    tmpdir_make(g_dir, sizeof(g_dir), "hooks-it");
    /* Postfix's unprivileged processes must reach their directories. */
    chmod(g_dir, 0711);
    pb_pki_make(g_dir, "pebble-tls", "Pebble TLS Test CA", &g_pki);
    if (pb_dns_start(g_dir, &g_dns) != 0)
        return -1;
    o = PB_OPTS_DEFAULT(g_dns.dns_port);
    o.nosleep = 1;
    if (pb_start(g_dir, "pebble", &g_pki, &o, &g_peb) != 0)
        return -1;
    g_mark = pb_mark();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    postfix_all_stop();
    pb_stop_to(0);
    if (g_dir[0] != '\0' && getenv("KW_KEEP_TMP") == NULL)
        tmpdir_remove(g_dir);
    return 0;
}

static int group_setup_or_clean(void **state)
{
    if (group_setup(state) != 0) {
        group_teardown(state);
        return -1;
    }
    return 0;
}

static int stop_extras(void **state)
{
    (void)state;
    postfix_all_stop();
    pb_stop_to(g_mark);
    return 0;
}

/* ----- 1. keywarden renew reloads Postfix and nginx ------------------------- */

static void renew_reloads_daemons(void **state)
{
    char hooks[4000], fp1[65], fp2[65], path[800], smtp[64], https[64];
    char imaps[64];
    int dv_ports[DV_NPORTS];
    pid_t dovecot = 0;
    tdir t;
    kwres r;

    (void)state;
    tdir_make(&t, "renew");
    daemons_up(&t);
    snprintf(path, sizeof(path), "%s/live/mail/cert.pem", t.certs);
    file_fp(path, fp1);
    snprintf(smtp, sizeof(smtp), "127.0.0.1:%d", t.smtp_port);
    snprintf(https, sizeof(https), "127.0.0.1:%d", t.https_port);
    wait_served(&t, smtp, "smtp", fp1);
    wait_served(&t, https, NULL, fp1);
    /* Dovecot too, on the same live files. */
    {
        char cert[800], key[800];
        const char *skip = NULL;

        for (int i = 0; i < DV_NPORTS; i++)
            dv_ports[i] = free_port();
        snprintf(cert, sizeof(cert), "%s/live/mail/fullchain.pem", t.certs);
        snprintf(key, sizeof(key), "%s/live/mail/privkey.pem", t.certs);
        dovecot = dovecot_start(t.dir, dv_ports, cert, key, &skip);
        if (dovecot == 0)
            print_message("Dovecot skipped: %s\n", skip);
        else
            assert_true(dovecot > 0);
        if (dovecot > 0)
            pb_track(dovecot);
        snprintf(imaps, sizeof(imaps), "127.0.0.1:%d", dv_ports[DV_IMAPS]);
    }

    /* reload = auto reloads what discovery saw using the files: here the
     * private Postfix (nginx and Dovecot are looked for elsewhere). */
    snprintf(path, sizeof(path), "%s/postfix/etc", t.dir);
    r = kw_ok(t.state, t.conf, "discover", "--postfix", path, "--nginx",
              "/nonexistent/nginx.conf", "--dovecot",
              "/nonexistent/dovecot.conf");
    kwres_free(&r);
    snprintf(hooks, sizeof(hooks),
             "[hook \"postfix\"]\non = cert.renewed\nreload = postfix\n"
             "config = %s/postfix/etc\n"
             "[hook \"nginx\"]\non = cert.renewed\nreload = nginx\n"
             "config = %s\n"
             "[hook \"auto\"]\non = cert.renewed\nreload = auto\n"
             "[hook \"dovecot\"]\non = cert.renewed\nreload = dovecot\n"
             "config = %s/dovecot/dovecot.conf\nobjects = %s\n",
             t.dir, t.nginx_conf, t.dir, dovecot > 0 ? "mail" : "none");
    conf_write(&t, hooks);
    r = kw_ok(t.state, t.conf, "renew", "--force");
    assert_contains(r.out, "mail: issued: version 2 is live");
    assert_contains(r.out, "hook postfix: ok");
    assert_contains(r.out, "hook nginx: ok");
    assert_contains(r.out, "hook auto: ok");
    kwres_free(&r);
    r = kw_ok(t.state, t.conf, "hooks", "history", "auto", "--output");
    assert_contains(r.out, "reload = auto: postfix: ");
    assert_contains(r.out, "main.cf:");
    assert_contains(r.out, "/usr/sbin/postfix -c ");
    kwres_free(&r);
    snprintf(path, sizeof(path), "%s/live/mail/cert.pem", t.certs);
    file_fp(path, fp2);
    assert_string_not_equal(fp1, fp2);
    /* Nobody touched Postfix or nginx: they serve version 2. */
    wait_served(&t, smtp, "smtp", fp2);
    wait_served(&t, https, NULL, fp2);
    if (dovecot > 0)
        wait_served(&t, imaps, NULL, fp2);

    /* Every run is recorded, with the commands it ran. */
    r = kw_ok(t.state, t.conf, "hooks", "history", "--output");
    assert_contains(r.out, "/usr/sbin/postfix -c");
    assert_contains(r.out, "/usr/sbin/nginx -c");
    assert_contains(r.out, " -t");
    assert_contains(r.out, "-s reload");
    kwres_free(&r);
    assert_int_equal(db_q(&t, "SELECT COUNT(*) FROM hook_runs WHERE result "
                              "= 'ok' AND event_type = 'cert.renewed'"),
                     dovecot > 0 ? 4 : 3);
    r = kw_ok(t.state, t.conf, "hooks", "list");
    assert_contains(r.out, "runs: 1 ok, 0 failed");
    kwres_free(&r);
    daemons_down(&t);
}

/* ----- 2. serve: reload, then verify ------------------------------------------ */

static int event_seen(void *ctx)
{
    const tdir *t = ctx;

    return db_q(t, "SELECT COUNT(*) FROM events WHERE type = 'probe.stale' "
                   "AND json_extract(detail, '$.after_reload')") > 0;
}

static void serve_verifies(void **state)
{
    char hooks[3000], later[64], log[800], path[800], fp[65], smtp[64];
    char url[128], *body = NULL;
    const char *env[2];
    char *argv[10];
    int metrics = free_port();
    size_t len = 0;
    tdir t;
    kwres r;
    pid_t pid;

    (void)state;
    tdir_make(&t, "serve");
    daemons_up(&t);
    /* Postfix is reloaded for real; nginx's "reload" does nothing, as a
     * forgotten or broken one would.  (No coalescing window: the clock
     * is pinned four years on, and a window never ends on a pinned
     * clock; test_hooks in unit/ covers coalescing.) */
    snprintf(hooks, sizeof(hooks),
             "[hook \"postfix\"]\non = cert.renewed\nreload = postfix\n"
             "config = %s/postfix/etc\ncoalesce = 0s\n"
             "[hook \"nginx\"]\non = cert.renewed\nrun = /bin/true\n"
             "[endpoint \"smtp\"]\nhost = 127.0.0.1\nport = %d\n"
             "starttls = smtp\nsni = mail.example.net\n"
             "[endpoint \"https\"]\nhost = 127.0.0.1\nport = %d\n"
             "sni = mail.example.net\n",
             t.dir, t.smtp_port, t.https_port);
    conf_write(&t, hooks);
    /* metrics on: replace the [daemon] line. */
    {
        char *text = slurp(t.conf, NULL), *p;
        char head[64];

        assert_non_null(text);
        p = strstr(text, "metrics_listen = off");
        assert_non_null(p);
        snprintf(head, sizeof(head), "metrics_listen = 127.0.0.1:%d",
                 metrics);
        write_text(t.conf, "%.*s%s%s", (int)(p - text), text, head,
                   p + strlen("metrics_listen = off"));
        free(text);
    }
    /* Four years on, the certificate is due: serve renews at start. */
    snprintf(later, sizeof(later), "KEYWARDEN_NOW=%lld",
             (long long)time(NULL) + 4LL * 365 * 86400);
    env[0] = later;
    env[1] = NULL;
    snprintf(log, sizeof(log), "%s/serve.log", t.dir);
    argv[0] = (char *)KEYWARDEN_BIN;
    argv[1] = (char *)"--state-dir";
    argv[2] = t.state;
    argv[3] = (char *)"--config";
    argv[4] = t.conf;
    argv[5] = (char *)"--log-level";
    argv[6] = (char *)"info";
    argv[7] = (char *)"serve";
    argv[8] = NULL;
    pid = pb_spawn(argv, env, log);
    assert_true(pid > 0);
    if (!proc_until(event_seen, &t, 90000)) {
        char *text = slurp(log, NULL);

        fail_msg("no probe.stale after the reload; log:\n%s", text);
    }
    snprintf(path, sizeof(path), "%s/live/mail/cert.pem", t.certs);
    file_fp(path, fp);
    snprintf(smtp, sizeof(smtp), "127.0.0.1:%d", t.smtp_port);
    /* Postfix was reloaded and serves version 2 ... */
    wait_served(&t, smtp, "smtp", fp);
    assert_true(file_contains(log, "endpoint smtp serves the new "
                                   "certificate"));
    /* ... nginx still serves version 1, and that is loud. */
    assert_true(file_contains(log, "endpoint https (127.0.0.1"));
    assert_int_equal(db_q(&t, "SELECT COUNT(*) FROM events WHERE type = "
                              "'probe.stale' AND json_extract(detail, "
                              "'$.endpoint') = 'https' AND "
                              "json_extract(detail, '$.expected') = '%s'",
                          fp),
                     1);
    r = kw_argv(t.state, t.conf, (const char *[]){"check", NULL});
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "stale: the daemon serving");
    kwres_free(&r);
    /* /metrics counts the runs. */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", metrics);
    assert_int_equal(pb_http_get(url, NULL, &body, &len), 200);
    assert_non_null(
        strstr(body, "keywarden_hook_runs_total{hook=\"postfix\","
                     "result=\"ok\"} 1"));
    assert_non_null(strstr(body, "keywarden_hook_last_success_timestamp_"
                                 "seconds{hook=\"nginx\"}"));
    free(body);
    kill(pid, SIGTERM);
    assert_int_equal(proc_wait(pid, 20000), 0);
    pb_forget(pid);
    daemons_down(&t);
}

/* ----- 3. kill -9 while the hook runs -------------------------------------------- */

static int marked(void *ctx)
{
    return file_contains(ctx, "start");
}

static int second_run(void *ctx)
{
    return file_contains(ctx, "second");
}

static void kill9_mid_hook(void **state)
{
    char hooks[4400], mark[800], first[800], pidf[800], log[800];
    char *argv[10], *text;
    tdir t;
    kwres r;
    pid_t pid, hook_pid;

    (void)state;
    tdir_make(&t, "kill9");
    t.nginx_web = pb_nginx_webroot(t.dir, "nginx-web", g_peb.http_port,
                                   t.webroot);
    assert_true(t.nginx_web > 0);
    snprintf(mark, sizeof(mark), "%s/mark", t.dir);
    snprintf(first, sizeof(first), "%s/first", t.dir);
    snprintf(pidf, sizeof(pidf), "%s/hook.pid", t.dir);
    /* The first run hangs after starting; a run after that finishes. */
    snprintf(hooks, sizeof(hooks),
             "[hook \"slow\"]\non = cert.renewed\n"
             "run = /bin/sh -c \"if [ -e '%s' ]; then echo second >> '%s'; "
             "else touch '%s'; echo $$ > '%s'; echo start >> '%s'; sleep "
             "60; fi\"\n"
             "timeout = 2m\n",
             first, mark, first, pidf, mark);
    conf_write(&t, hooks);
    /* keywarden renew issues, then runs the hook, and dies mid-run. */
    argv[0] = (char *)KEYWARDEN_BIN;
    argv[1] = (char *)"--state-dir";
    argv[2] = t.state;
    argv[3] = (char *)"--config";
    argv[4] = t.conf;
    argv[5] = (char *)"renew";
    argv[6] = NULL;
    snprintf(log, sizeof(log), "%s/renew.log", t.dir);
    pid = pb_spawn(argv, NULL, log);
    assert_true(pid > 0);
    assert_true(proc_until(marked, mark, 60000));
    kill(pid, SIGKILL);
    proc_wait(pid, 5000);
    pb_forget(pid);
    /* What a crash leaves: the hook orphaned (killed here too, with its
     * group), the delivery claimed. */
    text = slurp(pidf, NULL);
    assert_non_null(text);
    hook_pid = (pid_t)strtol(text, NULL, 10);
    free(text);
    kill(-hook_pid, SIGKILL);
    assert_int_equal(db_q(&t, "SELECT COUNT(*) FROM outbox WHERE state = "
                              "'running'"),
                     1);
    assert_int_equal(db_q(&t, "SELECT live_version FROM certificates"), 1);
    /* The next start runs it again. */
    snprintf(log, sizeof(log), "%s/serve.log", t.dir);
    argv[5] = (char *)"serve";
    pid = pb_spawn(argv, NULL, log);
    assert_true(pid > 0);
    if (!proc_until(second_run, mark, 30000)) {
        text = slurp(log, NULL);
        fail_msg("the hook did not run again; log:\n%s", text);
    }
    kill(pid, SIGTERM);
    assert_int_equal(proc_wait(pid, 20000), 0);
    pb_forget(pid);
    assert_true(file_contains(log, "interrupted by the last stop"));
    assert_int_equal(db_q(&t, "SELECT COUNT(*) FROM outbox WHERE state = "
                              "'done'"),
                     1);
    r = kw_ok(t.state, t.conf, "hooks", "history", "slow");
    assert_contains(r.out, "ok      exit 0");
    kwres_free(&r);
    pb_stop(t.nginx_web);
}

/* ----- 4. a failing hook cannot be missed ----------------------------------------- */

static void failing_hook_is_loud(void **state)
{
    char hooks[1000];
    tdir t;
    kwres r;

    (void)state;
    tdir_make(&t, "failing");
    t.nginx_web = pb_nginx_webroot(t.dir, "nginx-web", g_peb.http_port,
                                   t.webroot);
    assert_true(t.nginx_web > 0);
    snprintf(hooks, sizeof(hooks),
             "[hook \"deploy\"]\non = cert.renewed\n"
             "run = /bin/sh -c \"echo copying; echo 'scp: mx2: Connection "
             "refused' >&2; exit 3\"\nretry = 0\n");
    conf_write(&t, hooks);
    r = kw_fail(t.state, t.conf, "renew");
    assert_contains(r.out, "mail: issued: version 1 is live");
    assert_contains(r.out, "hook deploy: FAILED (failed, attempt 1) for "
                           "cert.renewed mail: scp: mx2: Connection "
                           "refused");
    kwres_free(&r);
    /* check: CRITICAL, the live certificate's object, the hook's words. */
    r = kw_argv(t.state, t.conf, (const char *[]){"check", NULL});
    assert_int_equal(r.status, 2);
    assert_contains(r.out, "hook deploy failed for mail (cert.renewed, 1 "
                           "attempt): scp: mx2: Connection refused");
    kwres_free(&r);
    r = kw_ok(t.state, t.conf, "list");
    assert_contains(r.out, "critical  hook deploy failed for mail");
    kwres_free(&r);
    r = kw_fail(t.state, t.conf, "hooks", "list");
    assert_contains(r.out, "1 FAILED");
    kwres_free(&r);
    r = kw_ok(t.state, t.conf, "hooks", "history", "--json");
    assert_contains(r.out, "\"exit_status\": 3");
    assert_contains(r.out, "copying\\n");
    kwres_free(&r);
    /* Fixed and retried: the object is ok again. */
    conf_write(&t, "[hook \"deploy\"]\non = cert.renewed\nrun = /bin/true\n");
    r = kw_ok(t.state, t.conf, "hooks", "retry", "deploy");
    assert_contains(r.out, "1 failed delivery is pending again");
    kwres_free(&r);
    r = kw_ok(t.state, t.conf, "hooks", "run");
    assert_contains(r.out, "hook deploy: ok");
    kwres_free(&r);
    r = kw_argv(t.state, t.conf, (const char *[]){"check", NULL});
    assert_not_contains(r.out, "hook deploy failed");
    kwres_free(&r);
    pb_stop(t.nginx_web);
}

/* ----- 5. OpenDKIM signs with the new key after the reload ----------------------- */

static void opendkim_signs_new_key(void **state)
{
    static const char msg[] =
        "From: ops@example.net\r\nTo: someone@example.org\r\n"
        "Subject: hook test\r\nDate: Fri, 27 Nov 2026 07:00:00 +0000\r\n"
        "Message-ID: <hook-test@example.net>\r\n\r\nHello.\r\n";
    char k1[800], k2[800], txt1[2048], txt2[2048], why[512], hooks[2000];
    char *signed_msg = NULL, sql[512];
    const char *skip = NULL;
    odk_paths od;
    sqlite3 *db;
    int port = free_port();
    tdir t;
    kwres r;
    pid_t pid;

    (void)state;
    tdir_make(&t, "opendkim");
    snprintf(k1, sizeof(k1), "%s/s1.key", t.dir);
    snprintf(k2, sizeof(k2), "%s/s2.key", t.dir);
    assert_int_equal(dkim_make_key(k1, txt1, sizeof(txt1)), 0);
    assert_int_equal(dkim_make_key(k2, txt2, sizeof(txt2)), 0);
    assert_int_equal(opendkim_paths(t.dir, &od), 0);
    pid = opendkim_start(t.dir, port, "example.net", "s1", k1, &skip);
    if (pid == 0)
        skip();
    assert_true(pid > 0);
    pb_track(pid);
    assert_int_equal(opendkim_sign(t.dir, port, msg, &signed_msg), 0);
    assert_int_equal(dkim_verify(signed_msg, "s1", "example.net", txt1, why,
                                 sizeof(why)),
                     1);
    free(signed_msg);

    /* The DKIM rotation switches the KeyTable and emits dkim.activated;
     * the hook reloads OpenDKIM. */
    conf_write(&t, "");
    snprintf(hooks, sizeof(hooks),
             "[hook \"opendkim\"]\non = dkim.activated\nreload = opendkim\n"
             "config = %s\ncoalesce = 0s\n",
             od.conf);
    conf_write(&t, hooks);
    /* Creates the database (nothing to deliver yet). */
    r = kw_ok(t.state, t.conf, "hooks", "run");
    kwres_free(&r);
    opendkim_set_key(t.dir, "example.net", "s2", k2);
    assert_int_equal(sqlite3_open(t.db, &db), SQLITE_OK);
    snprintf(sql, sizeof(sql),
             "INSERT INTO events (at, type, detail) VALUES (%lld, "
             "'dkim.activated', '{\"object\":\"example.net\",\"kind\":"
             "\"dkim\",\"domain\":\"example.net\",\"selector\":\"s2\"}')",
             (long long)time(NULL));
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    r = kw_ok(t.state, t.conf, "hooks", "run");
    assert_contains(r.out, "hook opendkim: ok");
    kwres_free(&r);
    r = kw_ok(t.state, t.conf, "hooks", "history", "--output");
    assert_contains(r.out, "opendkim -n -x");
    assert_contains(r.out, "sent SIGUSR1 to opendkim");
    kwres_free(&r);
    assert_int_equal(opendkim_sign(t.dir, port, msg, &signed_msg), 0);
    assert_non_null(strstr(signed_msg, "s=s2"));
    assert_int_equal(dkim_verify(signed_msg, "s2", "example.net", txt2, why,
                                 sizeof(why)),
                     1);
    /* ... and not with the old key. */
    assert_int_equal(dkim_verify(signed_msg, "s2", "example.net", txt1, why,
                                 sizeof(why)),
                     0);
    free(signed_msg);
    opendkim_stop(pid);
    pb_forget(pid);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(renew_reloads_daemons, stop_extras),
        cmocka_unit_test_teardown(serve_verifies, stop_extras),
        cmocka_unit_test_teardown(kill9_mid_hook, stop_extras),
        cmocka_unit_test_teardown(failing_hook_is_loud, stop_extras),
        cmocka_unit_test_teardown(opendkim_signs_new_key, stop_extras),
    };

    return cmocka_run_group_tests(tests, group_setup_or_clean,
                                  group_teardown);
}
