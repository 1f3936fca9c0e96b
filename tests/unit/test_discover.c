/*
 * Discovery against configuration files written the way Debian ships
 * them: Postfix continuation lines and $parameters, master.cf overrides,
 * Dovecot includes and "<file" values, nginx includes and server blocks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "service/discover.h"
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
    put("dovecot/dovecot.conf",
        "protocols = imap pop3\n!include conf.d/*.conf\n"
        "!include_try local.conf\n");
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
    kw_discover_paths paths = {"/nonexistent/postfix",
                               "/nonexistent/dovecot.conf",
                               "/nonexistent/nginx.conf"};
    kw_discovery disc;

    (void)state;
    assert_int_equal(kw_discover(&paths, &disc), 0);
    assert_int_equal(disc.nusages, 0);
    assert_int_equal(disc.nproposals, 0);
    assert_int_equal(disc.nnotes, 0);
    kw_discovery_free(&disc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(all_three),
        cmocka_unit_test(nothing_installed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
