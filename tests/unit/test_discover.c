/*
 * Discovery against configuration files written the way Debian ships
 * them: Postfix continuation lines and $parameters, master.cf overrides,
 * Dovecot includes and "<file" values, nginx includes and server blocks;
 * nginx -T output (canned), and nginx -T run through stand-in programs
 * that print a configuration, fail, hang or flood.  (The real nginx -T is
 * in tests/integration/test_served.c.)
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
#include <time.h>
#include <unistd.h>

#include "keystore/ks_inventory.h"
#include "keystore/ks_scan.h"
#include "probe/discover.h"
#include "testpki.h"
#include "tmpdir.h"

static char g_dir[256];

static void put(const char *rel, const char *text)
{
    char p[600], d[600], *slash;

    path_join(p, sizeof(p), g_dir, rel);
    snprintf(d, sizeof(d), "%s", p);
    slash = strrchr(d, '/');
    *slash = '\0';
    tp_mkdirs(d);
    tp_write_bytes(p, text, strlen(text), 0644);
}

static const kw_usage *find_usage(const kw_discovery *disc,
                                  const char *daemon, const char *directive,
                                  const char *path)
{
    size_t i;

    for (i = 0; i < disc->nusages; i++)
        if (strcmp(disc->usages[i].daemon, daemon) == 0 &&
            strcmp(disc->usages[i].directive, directive) == 0 &&
            strcmp(disc->usages[i].path, path) == 0)
            return &disc->usages[i];
    fail_msg("no %s %s %s", daemon, directive, path);
    return NULL;
}

static const kw_proposal *find_proposal(const kw_discovery *disc, int port)
{
    size_t i;

    for (i = 0; i < disc->nproposals; i++)
        if (disc->proposals[i].port == port)
            return &disc->proposals[i];
    fail_msg("no endpoint proposed on port %d", port);
    return NULL;
}

static void all_three(void **state)
{
    char pf[512], dc[512], nx[512];
    kw_discover_paths paths;
    kw_discovery disc;
    const kw_usage *u;
    const kw_proposal *p;
    size_t i;

    (void)state;
    tmpdir_make(g_dir, sizeof(g_dir), "disc");
    put("postfix/main.cf",
        "# main.cf\n"
        "myhostname = mail.example.net\n"
        "certs = /etc/ssl/mail\n"
        "smtpd_tls_cert_file = ${certs}/cert.pem\n"
        "smtpd_tls_key_file =\n"
        "    $certs/key.pem\n"
        "smtpd_tls_chain_files = /etc/ssl/mail/ec.key,\n"
        "  /etc/ssl/mail/ec.pem\n");
    put("postfix/master.cf",
        "smtp      inet  n       -       y       -       -       smtpd\n"
        "submission inet n       -       y       -       -       smtpd\n"
        "  -o smtpd_tls_cert_file=/etc/ssl/sub/cert.pem\n"
        "smtps     inet  n       -       y       -       -       smtpd\n"
        "pickup    unix  n       -       y       60      1       pickup\n");
    /* Debian: each protocol package adds itself to the list. */
    put("dovecot/dovecot.conf",
        "!include_try protocols.d/*.protocol\n!include conf.d/*.conf\n"
        "!include_try local.conf\n");
    put("dovecot/protocols.d/imapd.protocol", "protocols = $protocols imap\n");
    put("dovecot/protocols.d/pop3d.protocol", "protocols = $protocols pop3\n");
    put("dovecot/conf.d/10-ssl.conf",
        "ssl = required\nssl_cert = </etc/dovecot/private/dovecot.pem\n"
        "ssl_key = </etc/dovecot/private/dovecot.key\n");
    put("nginx/nginx.conf",
        "events {}\nhttp {\n  include sites-enabled/*;\n"
        "  include missing.conf;\n}\n");
    put("nginx/sites-enabled/shop",
        "server {\n  listen 443 ssl http2; # TLS\n"
        "  server_name shop.example.com www.shop.example.com;\n"
        "  ssl_certificate \"/etc/letsencrypt/live/shop/fullchain.pem\";\n"
        "  ssl_certificate_key /etc/letsencrypt/live/shop/privkey.pem;\n"
        "  location / { return 200; }\n}\n"
        "server { listen 80; server_name plain.example.com; }\n"
        "server { listen 8443 ssl; ssl_certificate $ssl_server_name.crt; }\n");

    path_join(pf, sizeof(pf), g_dir, "postfix");
    path_join(dc, sizeof(dc), g_dir, "dovecot/dovecot.conf");
    path_join(nx, sizeof(nx), g_dir, "nginx/nginx.conf");
    memset(&paths, 0, sizeof(paths));
    paths.nginx_bin = ""; /* the file parser; nginx -T is tested below */
    paths.postfix_dir = pf;
    paths.dovecot_conf = dc;
    paths.nginx_conf = nx;
    assert_int_equal(kw_discover(&paths, &disc), 0);

    u = find_usage(&disc, "postfix", "smtpd_tls_cert_file",
                   "/etc/ssl/mail/cert.pem");
    assert_int_equal(u->line, 4);
    assert_non_null(strstr(u->config, "postfix/main.cf"));
    u = find_usage(&disc, "postfix", "smtpd_tls_key_file",
                   "/etc/ssl/mail/key.pem");
    assert_int_equal(u->line, 5); /* where the logical line starts */
    assert_int_equal(u->is_key, 1);
    find_usage(&disc, "postfix", "smtpd_tls_chain_files",
               "/etc/ssl/mail/ec.pem");
    u = find_usage(&disc, "postfix", "smtpd_tls_cert_file",
                   "/etc/ssl/sub/cert.pem");
    assert_non_null(strstr(u->config, "master.cf"));
    assert_int_equal(u->line, 3);
    u = find_usage(&disc, "dovecot", "ssl_cert",
                   "/etc/dovecot/private/dovecot.pem");
    assert_non_null(strstr(u->config, "conf.d/10-ssl.conf"));
    assert_int_equal(u->line, 2);
    u = find_usage(&disc, "nginx", "ssl_certificate",
                   "/etc/letsencrypt/live/shop/fullchain.pem");
    assert_int_equal(u->line, 4);
    find_usage(&disc, "nginx", "ssl_certificate_key",
               "/etc/letsencrypt/live/shop/privkey.pem");

    p = find_proposal(&disc, 25);
    assert_int_equal(p->starttls, KW_TLS_SMTP);
    assert_string_equal(p->sni, "mail.example.net");
    assert_int_equal(find_proposal(&disc, 587)->starttls, KW_TLS_SMTP);
    assert_int_equal(find_proposal(&disc, 465)->starttls, KW_TLS_IMPLICIT);
    find_proposal(&disc, 993);
    find_proposal(&disc, 995);
    p = find_proposal(&disc, 443);
    assert_string_equal(p->sni, "shop.example.com");
    find_proposal(&disc, 8443);
    for (i = 0; i < disc.nproposals; i++)
        assert_int_not_equal(disc.proposals[i].port, 80);

    /* What could not be followed is said, not skipped. */
    {
        int var = 0, missing = 0;
        for (i = 0; i < disc.nnotes; i++) {
            var |= strstr(disc.notes[i], "$ssl_server_name.crt: a variable")
                   != NULL;
            missing |= strstr(disc.notes[i], "missing.conf: no such file")
                       != NULL;
        }
        assert_true(var);
        assert_true(missing);
    }
    kw_discovery_free(&disc);
    tmpdir_remove(g_dir);
}

static void nothing_installed(void **state)
{
    /* nginx_bin unset: even where nginx is installed, it is not run for
     * a configuration that is not there. */
    kw_discover_paths paths = {.postfix_dir = "/nonexistent/postfix",
                               .dovecot_conf = "/nonexistent/dovecot.conf",
                               .nginx_conf = "/nonexistent/nginx.conf"};
    kw_discovery disc;

    (void)state;
    assert_int_equal(kw_discover(&paths, &disc), 0);
    assert_int_equal(disc.nusages, 0);
    assert_int_equal(disc.nproposals, 0);
    assert_int_equal(disc.nnotes, 0);
    assert_null(disc.nginx_dump);
    kw_discovery_free(&disc);
}

/* What `nginx -T` prints for two files (Debian's nginx 1.22): the main
 * file with a relative include inside a server block, and the included
 * file, which has no final newline (nginx adds one after every file).
 * Neither file exists: everything must come from the text. */
static const char dump_two_files[] =
    "# configuration file /nonexistent/kw-nginx/nginx.conf:\n"
    "events {}\n"                                       /* 1 */
    "http {\n"                                          /* 2 */
    "    server {\n"                                    /* 3 */
    "        listen 443 ssl;\n"                         /* 4 */
    "        server_name shop.example.com;\n"           /* 5 */
    "        include snippets/*.conf;\n"                /* 6 */
    "    }\n"                                           /* 7 */
    "    server { listen 8443 ssl;\n"                   /* 8 */
    "             ssl_certificate certs/alt.pem; }\n"   /* 9 */
    "}\n"                                               /* 10 */
    "\n"
    "# configuration file /nonexistent/kw-nginx/snippets/tls.conf:\n"
    "# configuration file names are not markers inside a file\n" /* 1 */
    "\n"                                                /* 2 */
    "ssl_certificate /etc/ssl/shop/fullchain.pem;\n"    /* 3 */
    "ssl_certificate_key\n"                             /* 4 */
    "    /etc/ssl/shop/privkey.pem;"                    /* 5 */
    "\n";

static void nginx_dump_text(void **state)
{
    char text[sizeof(dump_two_files)];
    kw_discovery disc;
    const kw_usage *u;
    const kw_proposal *p;

    (void)state;
    memcpy(text, dump_two_files, sizeof(text));
    assert_int_equal(kw_discover_nginx_dump(text, sizeof(text) - 1, &disc),
                     0);
    assert_int_equal(disc.nnotes, 0);
    assert_int_equal(disc.nusages, 3);
    u = find_usage(&disc, "nginx", "ssl_certificate",
                   "/etc/ssl/shop/fullchain.pem");
    assert_string_equal(u->config, "/nonexistent/kw-nginx/snippets/tls.conf");
    assert_int_equal(u->line, 3);
    assert_int_equal(u->is_key, 0);
    u = find_usage(&disc, "nginx", "ssl_certificate_key",
                   "/etc/ssl/shop/privkey.pem");
    assert_string_equal(u->config, "/nonexistent/kw-nginx/snippets/tls.conf");
    assert_int_equal(u->line, 4);
    assert_int_equal(u->is_key, 1);
    /* Relative to nginx's prefix, the main file's directory. */
    u = find_usage(&disc, "nginx", "ssl_certificate",
                   "/nonexistent/kw-nginx/certs/alt.pem");
    assert_string_equal(u->config, "/nonexistent/kw-nginx/nginx.conf");
    assert_int_equal(u->line, 9);
    /* The included file's directives belong to the including server. */
    p = find_proposal(&disc, 443);
    assert_string_equal(p->sni, "shop.example.com");
    assert_string_equal(p->config, "/nonexistent/kw-nginx/nginx.conf");
    assert_int_equal(p->line, 4);
    assert_null(find_proposal(&disc, 8443)->sni);
    assert_int_equal(disc.nproposals, 2);
    kw_discovery_free(&disc);

    /* What nginx prints on stderr is not a configuration. */
    {
        char bad[] = "nginx: the configuration file /etc/nginx/nginx.conf "
                     "syntax is ok\n";
        char empty[] = "";
        assert_int_equal(kw_discover_nginx_dump(bad, strlen(bad), &disc),
                         KW_EPARSE);
        assert_int_equal(disc.nusages + disc.nnotes + disc.nproposals, 0);
        assert_int_equal(kw_discover_nginx_dump(empty, 0, &disc),
                         KW_EPARSE);
    }
}

/* ---- nginx -T through stand-in programs ---------------------------------- */

/* A shell script standing in for nginx: it records its arguments in
 * g_dir/args, then runs body. */
static void fake_nginx(char *path, size_t len, const char *body)
{
    char text[2048];

    path_join(path, len, g_dir, "fake-nginx");
    unlink(path); /* a fresh inode: no "Text file busy" */
    snprintf(text, sizeof(text),
             "#!/bin/sh\necho \"$@\" > '%s/args'\n%s\n", g_dir, body);
    tp_write_bytes(path, text, strlen(text), 0755);
}

static int has_note(const kw_discovery *disc, const char *needle)
{
    size_t i;

    for (i = 0; i < disc->nnotes; i++)
        if (strstr(disc->notes[i], needle) != NULL)
            return 1;
    return 0;
}

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static void nginx_T_runs(void **state)
{
    char bin[600], conf[600], dump[600], body[1400], *args;
    kw_discover_paths paths;
    kw_discovery disc;
    const kw_usage *u;
    double t0;

    (void)state;
    tmpdir_make(g_dir, sizeof(g_dir), "disc-T");
    /* On disk: a configuration the file parser reads; what the stand-in
     * prints differs, so each test can tell which one was used. */
    put("nginx/nginx.conf", "events {}\nhttp {\n  include conf.d/*.conf;\n}\n");
    put("nginx/conf.d/disk.conf",
        "server {\n  listen 443 ssl;\n  ssl_certificate /disk/cert.pem;\n}\n");
    path_join(conf, sizeof(conf), g_dir, "nginx/nginx.conf");
    path_join(dump, sizeof(dump), g_dir, "dump.txt");
    tp_write_bytes(dump, dump_two_files, strlen(dump_two_files), 0644);
    memset(&paths, 0, sizeof(paths));
    paths.postfix_dir = "/nonexistent/postfix";
    paths.dovecot_conf = "/nonexistent/dovecot.conf";
    paths.nginx_conf = conf;
    paths.nginx_bin = bin;

    /* It prints a configuration: that is what is parsed. */
    snprintf(body, sizeof(body), "echo 'nginx: [warn] ignored' >&2\n"
                                 "exec cat '%s'", dump);
    fake_nginx(bin, sizeof(bin), body);
    assert_int_equal(kw_discover(&paths, &disc), 0);
    assert_string_equal(disc.nginx_dump, bin);
    assert_int_equal(disc.nnotes, 0);
    u = find_usage(&disc, "nginx", "ssl_certificate",
                   "/etc/ssl/shop/fullchain.pem");
    assert_int_equal(u->line, 3);
    assert_int_equal(disc.nusages, 3);
    kw_discovery_free(&disc);
    path_join(body, sizeof(body), g_dir, "args");
    args = slurp(body, NULL);
    assert_non_null(args);
    {
        char want[700];
        snprintf(want, sizeof(want), "-T -q -c %s\n", conf);
        assert_string_equal(args, want);
    }
    free(args);

    /* A relative configuration path reaches nginx absolute (nginx would
     * take it relative to its compiled-in prefix). */
    {
        char cwd[1024], want[700];

        assert_non_null(getcwd(cwd, sizeof(cwd)));
        assert_int_equal(chdir(g_dir), 0);
        paths.nginx_conf = "nginx/nginx.conf";
        assert_int_equal(kw_discover(&paths, &disc), 0);
        assert_int_equal(chdir(cwd), 0);
        paths.nginx_conf = conf;
        assert_non_null(disc.nginx_dump);
        kw_discovery_free(&disc);
        path_join(body, sizeof(body), g_dir, "args");
        args = slurp(body, NULL);
        snprintf(want, sizeof(want), "-T -q -c %s\n", conf);
        assert_string_equal(args, want);
        free(args);
    }

    /* It fails: its first [emerg] line is the note, and the files on disk
     * are read. */
    fake_nginx(bin, sizeof(bin),
               "echo '2026/11/27 03:29:56 [alert] 9#9: could not open error "
               "log file' >&2\n"
               "echo '2026/11/27 03:29:56 [emerg] 9#9: unknown directive "
               "\"bogus\" in /x/nginx.conf:6' >&2\n"
               "echo 'nginx: configuration file /x/nginx.conf test failed' "
               ">&2\nexit 1");
    assert_int_equal(kw_discover(&paths, &disc), 0);
    assert_null(disc.nginx_dump);
    assert_true(has_note(&disc, "-T -c "));
    assert_true(has_note(&disc, " failed: unknown directive \"bogus\" in "
                                "/x/nginx.conf:6; nginx's files were read "
                                "directly"));
    find_usage(&disc, "nginx", "ssl_certificate", "/disk/cert.pem");
    kw_discovery_free(&disc);

    /* It dies without a word. */
    fake_nginx(bin, sizeof(bin), "kill -9 $$");
    assert_int_equal(kw_discover(&paths, &disc), 0);
    assert_true(has_note(&disc, "failed: killed by signal 9"));
    find_usage(&disc, "nginx", "ssl_certificate", "/disk/cert.pem");
    kw_discovery_free(&disc);

    /* It succeeds but prints something else. */
    fake_nginx(bin, sizeof(bin), "echo 'hello'");
    assert_int_equal(kw_discover(&paths, &disc), 0);
    assert_true(has_note(&disc, "printed no \"# configuration file \" line"));
    find_usage(&disc, "nginx", "ssl_certificate", "/disk/cert.pem");
    kw_discovery_free(&disc);

    /* It hangs, holding its output open: killed at the timeout. */
    fake_nginx(bin, sizeof(bin), "exec sleep 30");
    paths.nginx_timeout_ms = 300;
    t0 = now_s();
    assert_int_equal(kw_discover(&paths, &disc), 0);
    assert_true(now_s() - t0 < 5);
    assert_true(has_note(&disc, "did not finish within 300 ms and was "
                                "killed"));
    find_usage(&disc, "nginx", "ssl_certificate", "/disk/cert.pem");
    kw_discovery_free(&disc);

    /* It closes its output and lingers: killed at the timeout too. */
    fake_nginx(bin, sizeof(bin), "exec sleep 30 >/dev/null 2>&1");
    t0 = now_s();
    assert_int_equal(kw_discover(&paths, &disc), 0);
    assert_true(now_s() - t0 < 5);
    assert_true(has_note(&disc, "did not finish within 300 ms"));
    kw_discovery_free(&disc);
    paths.nginx_timeout_ms = 0;

    /* It floods: killed past 4 MiB. */
    fake_nginx(bin, sizeof(bin), "echo '# configuration file /x:'\n"
                                 "exec yes 'server { listen 1 ssl; }'");
    t0 = now_s();
    assert_int_equal(kw_discover(&paths, &disc), 0);
    assert_true(now_s() - t0 < 5);
    assert_true(has_note(&disc, "printed more than 4 MiB and was killed"));
    find_usage(&disc, "nginx", "ssl_certificate", "/disk/cert.pem");
    kw_discovery_free(&disc);

    /* Not there, not executable. */
    paths.nginx_bin = "/nonexistent/nginx";
    assert_int_equal(kw_discover(&paths, &disc), 0);
    assert_true(has_note(&disc, "cannot run /nonexistent/nginx -T"));
    find_usage(&disc, "nginx", "ssl_certificate", "/disk/cert.pem");
    kw_discovery_free(&disc);

    tmpdir_remove(g_dir);
}

/* What the inventory says about one path: its state, health and reason. */
typedef struct seen {
    const char *path;
    int found;
    char state[16];
    ks_health health;
    char reason[256];
    int64_t id;
} seen;

static int seen_cb(void *ctx, const ks_object *o)
{
    seen *w = ctx;
    ks_thresholds t;
    ks_verdict v;

    if (o->source == NULL || strcmp(o->source, w->path) != 0)
        return 0;
    ks_thresholds_default(&t);
    ks_health_tls(&o->facts, 1795651200, &t, &v);
    w->found++;
    w->id = o->id;
    snprintf(w->state, sizeof(w->state), "%s", o->facts.state);
    w->health = v.health;
    snprintf(w->reason, sizeof(w->reason), "%s", v.reason);
    return 0;
}

static seen look(ks_store *s, const char *path)
{
    ks_filter f;
    kw_diag d;
    seen w;

    memset(&w, 0, sizeof(w));
    w.path = path;
    memset(&f, 0, sizeof(f));
    f.include_hidden = 1;
    assert_int_equal(ks_inventory_each(s, &f, seen_cb, &w, &d), 0);
    return w;
}

/* Paths that find only g_dir/dovecot/dovecot.conf (its path in dc). */
static void dovecot_only(kw_discover_paths *paths, char *dc, size_t len)
{
    path_join(dc, len, g_dir, "dovecot/dovecot.conf");
    memset(paths, 0, sizeof(*paths));
    paths->nginx_bin = "";
    paths->postfix_dir = "/nonexistent/postfix";
    paths->dovecot_conf = dc;
    paths->nginx_conf = "/nonexistent/nginx.conf";
}

static void discover_apply(ks_store *s, const kw_discover_paths *paths,
                           kw_discovery *disc)
{
    ks_scan_stats st;
    kw_diag d;

    assert_int_equal(kw_discover(paths, disc), 0);
    if (kw_discover_apply(s, disc, 1795651200, &st, &d) != 0)
        fail_msg("kw_discover_apply: %s", d.msg);
}

/* Debian's stock Dovecot names /etc/dovecot/private/dovecot.pem, which is
 * not there until ssl-cert makes it: the file a daemon loads and cannot
 * find is an object in state missing, critical with the configuration
 * file and line; it recovers when the file appears, a key's stand-in
 * leaves when the key appears, and one no configuration names any more
 * leaves too.  Each endpoint names the line that enabled it. */
static void missing_files_are_objects(void **state)
{
    char dc[512], cert[512], key[512], db[512], conf[512], want[1400];
    kw_discover_paths paths;
    kw_discovery disc;
    const kw_usage *u;
    const kw_proposal *p;
    ks_store *s;
    kw_diag d;
    seen w;
    EVP_PKEY *k;
    X509 *x;

    (void)state;
    tmpdir_make(g_dir, sizeof(g_dir), "disc-missing");
    path_join(cert, sizeof(cert), g_dir, "private/dovecot.pem");
    path_join(key, sizeof(key), g_dir, "private/dovecot.key");
    path_join(conf, sizeof(conf), g_dir, "dovecot/conf.d/10-ssl.conf");
    put("dovecot/dovecot.conf",
        "!include_try protocols.d/*.protocol\n!include conf.d/*.conf\n");
    put("dovecot/protocols.d/pop3d.protocol",
        "# pop3\n\nprotocols = $protocols pop3\n");
    snprintf(want, sizeof(want),
             "# Debian's default\nssl = yes\n\nssl_cert = <%s\n"
             "ssl_key = <%s\n",
             cert, key);
    put("dovecot/conf.d/10-ssl.conf", want);
    path_join(db, sizeof(db), g_dir, "kw.db");
    dovecot_only(&paths, dc, sizeof(dc));
    assert_int_equal(ks_open(db, KS_OPEN_CREATE, &s, &d), 0);

    discover_apply(s, &paths, &disc);
    u = find_usage(&disc, "dovecot", "ssl_cert", cert);
    assert_int_equal(u->err, ENOENT);
    assert_int_equal(u->line, 4);
    /* Endpoints carry the real line: the protocols line that enabled
     * them. */
    p = find_proposal(&disc, 995);
    assert_non_null(strstr(p->config, "protocols.d/pop3d.protocol"));
    assert_int_equal(p->line, 3);
    kw_discovery_free(&disc);

    w = look(s, cert);
    assert_int_equal(w.found, 1);
    assert_string_equal(w.state, "missing");
    assert_int_equal(w.health, KS_HEALTH_CRITICAL);
    snprintf(want, sizeof(want), "named by dovecot: %s line 4 (ssl_cert)",
             conf);
    if (strstr(w.reason, want) == NULL ||
        strstr(w.reason, "the daemon will not start or reload") == NULL)
        fail_msg("reason: %s", w.reason);
    w = look(s, key);
    assert_int_equal(w.found, 1);
    assert_int_equal(w.health, KS_HEALTH_CRITICAL);
    assert_non_null(strstr(w.reason, "line 5 (ssl_key)"));

    /* Discovered again, nothing new: still one object per file. */
    discover_apply(s, &paths, &disc);
    kw_discovery_free(&disc);
    assert_int_equal(look(s, cert).found, 1);

    /* The files appear: the certificate's object takes its facts, the
     * key's stand-in leaves (a key is not an object of its own). */
    k = tp_key_ec();
    {
        static const char *const dns[] = {"mail.example.com", NULL};
        tp_spec sp = {.cn = "mail.example.com", .dns = dns,
                      .not_before = 1795651200 - 86400,
                      .not_after = 1795651200 + 60 * 86400, .serial = 7,
                      .key = k};
        x = tp_cert(&sp);
    }
    path_join(want, sizeof(want), g_dir, "private");
    tp_mkdirs(want);
    assert_int_equal(tp_write_pem(cert, &x, 1, NULL, 0644), 0);
    assert_int_equal(tp_write_key(key, k, 0600), 0);
    discover_apply(s, &paths, &disc);
    assert_int_equal(find_usage(&disc, "dovecot", "ssl_cert", cert)->err, 0);
    kw_discovery_free(&disc);
    w = look(s, cert);
    assert_int_equal(w.found, 1);
    assert_string_equal(w.state, "ok");
    assert_int_equal(w.health, KS_HEALTH_OK);
    assert_int_equal(look(s, key).found, 0);

    /* Gone again: missing, and critical because Dovecot still loads it. */
    assert_int_equal(unlink(cert), 0);
    discover_apply(s, &paths, &disc);
    kw_discovery_free(&disc);
    w = look(s, cert);
    assert_string_equal(w.state, "missing");
    assert_int_equal(w.health, KS_HEALTH_CRITICAL);

    /* The operator points Dovecot elsewhere: the key's stand-in, which
     * never was a file, leaves; the certificate that was a file stays,
     * missing (a warning now that no daemon loads it). */
    assert_int_equal(unlink(key), 0);
    discover_apply(s, &paths, &disc);
    kw_discovery_free(&disc);
    assert_int_equal(look(s, key).found, 1);
    put("dovecot/conf.d/10-ssl.conf", "ssl = no\n");
    discover_apply(s, &paths, &disc);
    assert_int_equal(disc.nproposals, 0);
    kw_discovery_free(&disc);
    assert_int_equal(look(s, key).found, 0);
    w = look(s, cert);
    assert_int_equal(w.found, 1);
    assert_int_equal(w.health, KS_HEALTH_WARNING);

    X509_free(x);
    EVP_PKEY_free(k);
    ks_close(s);
    tmpdir_remove(g_dir);
}

/* Without a protocols line Dovecot serves IMAP, and the endpoint's line
 * is the ssl_cert that makes it TLS, never "line 0". */
static void dovecot_endpoint_line(void **state)
{
    char dc[512];
    kw_discover_paths paths;
    kw_discovery disc;
    const kw_proposal *p;

    (void)state;
    tmpdir_make(g_dir, sizeof(g_dir), "disc-line");
    put("dovecot/dovecot.conf",
        "# one file\nssl = required\nssl_cert = </etc/ssl/mail.pem\n");
    dovecot_only(&paths, dc, sizeof(dc));
    assert_int_equal(kw_discover(&paths, &disc), 0);
    p = find_proposal(&disc, 993);
    assert_string_equal(p->config, dc);
    assert_int_equal(p->line, 3);
    kw_discovery_free(&disc);
    tmpdir_remove(g_dir);
}

/* The same for Postfix and nginx: whatever daemon names a file that is
 * not there, the object is critical with that daemon's file and line. */
static void missing_files_every_daemon(void **state)
{
    char pf[512], nx[512], db[512], pcert[512], ncert[512], text[1400];
    kw_discover_paths paths;
    kw_discovery disc;
    ks_store *s;
    kw_diag d;
    seen w;

    (void)state;
    tmpdir_make(g_dir, sizeof(g_dir), "disc-every");
    path_join(pcert, sizeof(pcert), g_dir, "ssl/postfix.pem");
    path_join(ncert, sizeof(ncert), g_dir, "ssl/shop.pem");
    snprintf(text, sizeof(text), "# main.cf\n\nsmtpd_tls_cert_file = %s\n",
             pcert);
    put("postfix/main.cf", text);
    snprintf(text, sizeof(text),
             "events {}\nhttp {\n  server {\n    listen 443 ssl;\n"
             "    ssl_certificate %s;\n  }\n}\n",
             ncert);
    put("nginx/nginx.conf", text);
    path_join(pf, sizeof(pf), g_dir, "postfix");
    path_join(nx, sizeof(nx), g_dir, "nginx/nginx.conf");
    path_join(db, sizeof(db), g_dir, "kw.db");
    memset(&paths, 0, sizeof(paths));
    paths.nginx_bin = "";
    paths.postfix_dir = pf;
    paths.dovecot_conf = "/nonexistent/dovecot.conf";
    paths.nginx_conf = nx;
    assert_int_equal(ks_open(db, KS_OPEN_CREATE, &s, &d), 0);
    discover_apply(s, &paths, &disc);
    kw_discovery_free(&disc);

    w = look(s, pcert);
    assert_int_equal(w.health, KS_HEALTH_CRITICAL);
    assert_non_null(strstr(w.reason, "named by postfix: "));
    assert_non_null(strstr(w.reason, "main.cf line 3 (smtpd_tls_cert_file)"));
    w = look(s, ncert);
    assert_int_equal(w.health, KS_HEALTH_CRITICAL);
    assert_non_null(strstr(w.reason, "named by nginx: "));
    assert_non_null(strstr(w.reason, "nginx.conf line 5 (ssl_certificate)"));
    ks_close(s);
    tmpdir_remove(g_dir);
}

/* main.cf's outbound addresses, read into o; the kw_discover_outbound
 * result. */
static int outbound_of(const char *rel, const char *main_cf, kw_outbound *o,
                       kw_diag *d)
{
    char dir[600], file[700];

    path_join(dir, sizeof(dir), g_dir, rel);
    if (main_cf != NULL) {
        snprintf(file, sizeof(file), "%s/main.cf", rel);
        put(file, main_cf);
    }
    return kw_discover_outbound(dir, o, d);
}

/* main.cf read without error into o. */
static void outbound_ok(const char *rel, const char *main_cf, kw_outbound *o)
{
    kw_diag d;

    assert_int_equal(outbound_of(rel, main_cf, o, &d), 0);
}

static void is_addr(const kw_outbound_addr *a, const char *addr,
                    const char *param, int line)
{
    assert_string_equal(a->addr, addr);
    assert_string_equal(a->param, param);
    assert_int_equal(a->line, line);
}

static void postfix_outbound(void **state)
{
    kw_outbound o;
    kw_diag d;

    (void)state;
    tmpdir_make(g_dir, sizeof(g_dir), "outbound");

    /* smtp_bind_address(6) win over inet_interfaces, per family. */
    outbound_ok("bind",
                "inet_interfaces = 192.0.2.25\n"
                "smtp_bind_address = 192.0.2.30\n"
                "smtp_bind_address6 = 2001:db8::30\n", &o);
    assert_int_equal(o.n, 2);
    is_addr(&o.a[0], "192.0.2.30", "smtp_bind_address", 2);
    is_addr(&o.a[1], "2001:db8::30", "smtp_bind_address6", 3);
    assert_string_equal(o.note, "");

    /* A continuation line and a $parameter; loopback, "localhost" and a
     * host name are no outbound address. */
    outbound_ok("inet",
                "# the public address\n"
                "myaddr = 192.0.2.25\n"
                "smtp_bind_address =\n"
                "inet_interfaces = $myaddr,\n"
                "    127.0.0.1, [::1]\n"
                "    # a comment within\n"
                "    localhost mail.example.com\n", &o);
    assert_int_equal(o.n, 1);
    is_addr(&o.a[0], "192.0.2.25", "inet_interfaces", 4);
    assert_non_null(strstr(o.note, "main.cf:4: inet_interfaces: "
                                   "mail.example.com is not an IP address"));
    /* Said once, though both families read the line. */
    assert_null(strstr(strstr(o.note, "mail.example.com") + 1,
                       "mail.example.com"));
    assert_non_null(strstr(o.main_cf, "/inet/main.cf"));

    /* Two of one family: both are checked, and the note says why. */
    outbound_ok("two",
                "inet_interfaces = 192.0.2.25 192.0.2.26 "
                "2001:db8::25\n", &o);
    assert_int_equal(o.n, 3);
    is_addr(&o.a[2], "2001:db8::25", "inet_interfaces", 1);
    assert_non_null(strstr(o.note, "lists 2 IPv4 addresses"));

    /* Debian's default: "all" names no address. */
    outbound_ok("all",
                "myhostname = mail.example.com\n"
                "inet_interfaces = all\n", &o);
    assert_int_equal(o.n, 0);
    assert_non_null(strstr(o.note, "main.cf:2: inet_interfaces = all: the "
                                   "outbound address is whatever the route "
                                   "picks; set [dkim] outbound"));

    outbound_ok("lo", "inet_interfaces = loopback-only\n", &o);
    assert_int_equal(o.n, 0);
    assert_non_null(strstr(o.note, "inet_interfaces = loopback-only: "));

    /* Not set: Postfix's default is all. */
    outbound_ok("unset", "smtp_bind_address = 127.0.0.1\n", &o);
    assert_int_equal(o.n, 0);
    assert_non_null(strstr(o.note, "inet_interfaces is not set (Postfix's "
                                   "default: all)"));

    /* No main.cf: Postfix is not installed; the file is named. */
    assert_int_equal(outbound_of("none", NULL, &o, &d), KW_ENOENT);
    assert_int_equal(o.n, 0);
    assert_non_null(strstr(d.msg, "/none/main.cf"));

    tmpdir_remove(g_dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(all_three),
        cmocka_unit_test(nothing_installed),
        cmocka_unit_test(nginx_dump_text),
        cmocka_unit_test(nginx_T_runs),
        cmocka_unit_test(missing_files_are_objects),
        cmocka_unit_test(dovecot_endpoint_line),
        cmocka_unit_test(missing_files_every_daemon),
        cmocka_unit_test(postfix_outbound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
