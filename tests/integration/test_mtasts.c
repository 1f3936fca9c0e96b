/*
 * test_mtasts.c: `keywarden mta-sts check` against real servers.
 *
 * Knot serves good.test, uncov.test, wrongcert.test, redir.test,
 * ctype.test, bad.test and slow.test (MX,
 * the mta-sts host's address, `_mta-sts` and `_smtp._tls` TXT) and is
 * asked directly as the resolver; nginx serves every domain's policy
 * over HTTPS from its own directory (root www/$host) with a certificate
 * from a CA made here, and answers a redirect for mta-sts.redir.test; a
 * private Postfix offers STARTTLS with a certificate for mx.good.test.
 * The binary reaches mta-sts.DOMAIN through the address Knot gives and
 * --https-port (libcurl's CONNECT_TO keeps the URL's name for SNI and
 * verification), and each MX the same way with --smtp-port; /etc/hosts
 * is never touched.  Then: a good policy is ok; an MX the policy does
 * not cover, an MX serving a certificate for another name and a redirect
 * are critical; a policy in testing mode served as text/html warns; the
 * policy host's certificate expiring within 7 days, or expired, is
 * critical; two _mta-sts records, a policy over 64 KiB and a TLS-RPT
 * record with an ftp: URI are each said; an MX that never speaks is a
 * critical within --timeout; the policy edited under the same id warns on the next
 * run until the id changes; the TLS-RPT record removed warns; nginx
 * stopped is a critical naming the URL; no DNS answer is unknown (3),
 * and an untrusted CA fails both the policy fetch and the MX.  And
 * serve's mta-sts-check job (test_serve_job), with [mta-sts "good.test"]
 * and [mta-sts "uncov.test"]: both become objects of kind mta-sts,
 * uncov.test critical in check, list --json and /metrics with the mx:
 * line to add and a health.changed event, good.test ok.  With [dkim
 * "DOMAIN"] sections instead (test_serve_dkim_domains): uncov.test, which
 * publishes _mta-sts, is checked and critical; nosts.test, which does
 * not, has no object; good.test, named by both sections, is one object.
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
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "knot.h"
#include "kwrun.h"
#include "proc.h"
#include "servers.h"
#include "testpki.h"
#include "tmpdir.h"

#define DAY 86400

static char dir[256], state[512], conf[512], cafile[600], resolver[80];
static char https_port_s[16], smtp_port_s[16];
static int https_port, smtp_port;
static pid_t nginx_pid, postfix_pid;
static knot g_knot;
static const char *skip_why;

static const char *at(const char *rel)
{
    return kw_path(dir, rel);
}

/* The policy nginx serves for mta-sts.DOMAIN. */
static void policy(const char *domain, const char *body)
{
    char p[700];

    snprintf(p, sizeof(p), "%s/www/mta-sts.%s/.well-known", dir, domain);
    tp_mkdirs(p);
    strcat(p, "/mta-sts.txt");
    assert_int_equal(tp_write_bytes(p, body, strlen(body), 0644), 0);
}

static void zone(char *buf, size_t cap, const char *domain, const char *mx,
                 const char *id)
{
    snprintf(buf, cap,
             "@ MX 10 %s\n"
             "mta-sts A 127.0.0.1\n"
             "mx A 127.0.0.1\n"
             "_mta-sts TXT \"v=spf1 -all\"\n"
             "_mta-sts TXT \"v=STSv1; id=%s\"\n"
             "_smtp._tls TXT \"v=TLSRPTv1; rua=mailto:tls@%s\"\n",
             mx, id, domain);
}

static int setup(void **st)
{
    static char zgood[1024], zuncov[1024], zwrong[1024], zredir[1024],
        zctype[1024], zslow[1024], big[70000];
    static const char *const web[] = {"mta-sts.good.test",
                                      "mta-sts.uncov.test",
                                      "mta-sts.wrongcert.test",
                                      "mta-sts.redir.test",
                                      "mta-sts.ctype.test",
                                      "mta-sts.bad.test", NULL};
    static const char *const mx[] = {"mx.good.test", NULL};
    time_t now = time(NULL);
    EVP_PKEY *cakey = tp_key_ec(), *wk = tp_key_ec(), *mk = tp_key_ec();
    X509 *ca, *wc, *mc, *soon, *old, *chain[2];
    kn_zone more[7];
    kn_opts o;
    char text[2048];

    (void)st;
    tmpdir_make(dir, sizeof(dir), "mtasts");
    /* Postfix's unprivileged processes walk down to their queue. */
    chmod(dir, 0711);
    snprintf(state, sizeof(state), "%s/state", dir);
    snprintf(conf, sizeof(conf), "%s/keywarden.conf", dir);
    mkdir(state, 0700);
    write_text(conf, "# no sections: mta-sts check takes its options\n");

    ca = tp_cert(&(tp_spec){.cn = "MTA-STS test CA", .is_ca = 1,
                            .not_before = now - DAY,
                            .not_after = now + 365 * DAY, .serial = 1,
                            .key = cakey});
    wc = tp_cert(&(tp_spec){.cn = "mta-sts.good.test", .dns = web,
                            .not_before = now - DAY,
                            .not_after = now + 90 * DAY, .serial = 2,
                            .key = wk, .issuer = ca, .issuer_key = cakey});
    /* The policy host's certificate near its end, and past it. */
    soon = tp_cert(&(tp_spec){.cn = "mta-sts.good.test", .dns = web,
                              .not_before = now - 80 * DAY,
                              .not_after = now + 5 * DAY, .serial = 4,
                              .key = wk, .issuer = ca, .issuer_key = cakey});
    old = tp_cert(&(tp_spec){.cn = "mta-sts.good.test", .dns = web,
                             .not_before = now - 90 * DAY,
                             .not_after = now - DAY, .serial = 5, .key = wk,
                             .issuer = ca, .issuer_key = cakey});
    mc = tp_cert(&(tp_spec){.cn = "mx.good.test", .dns = mx,
                            .not_before = now - DAY,
                            .not_after = now + 90 * DAY, .serial = 3,
                            .key = mk, .issuer = ca, .issuer_key = cakey});
    snprintf(cafile, sizeof(cafile), "%s/ca.pem", dir);
    assert_int_equal(tp_write_pem(cafile, &ca, 1, NULL, 0644), 0);
    chain[0] = wc;
    chain[1] = ca;
    assert_int_equal(tp_write_pem(at("web.crt"), chain, 2, NULL, 0644), 0);
    assert_int_equal(tp_write_key(at("web.key"), wk, 0600), 0);
    chain[0] = soon;
    assert_int_equal(tp_write_pem(at("soon.crt"), chain, 2, NULL, 0644), 0);
    chain[0] = old;
    assert_int_equal(tp_write_pem(at("old.crt"), chain, 2, NULL, 0644), 0);
    chain[0] = mc;
    assert_int_equal(tp_write_pem(at("mx.crt"), chain, 2, NULL, 0644), 0);
    assert_int_equal(tp_write_key(at("mx.key"), mk, 0640), 0);
    X509_free(ca);
    X509_free(wc);
    X509_free(mc);
    X509_free(soon);
    X509_free(old);
    EVP_PKEY_free(cakey);
    EVP_PKEY_free(wk);
    EVP_PKEY_free(mk);

    /* good.test: all is well.  uncov.test: its MX is good.test's, which
     * its policy does not name.  wrongcert.test: its MX serves
     * mx.good.test's certificate.  redir.test: its policy URL
     * redirects.  ctype.test: in testing mode, not covering its MX,
     * served as text/html.  bad.test: two _mta-sts records, a policy
     * over 64 KiB, a TLS-RPT record with an ftp: URI.  slow.test: its
     * MX and policy host on 127.0.0.2, where an SMTP listener never
     * speaks and nothing serves HTTPS. */
    zone(zgood, sizeof(zgood), "good.test", "mx.good.test.", "1");
    zone(zuncov, sizeof(zuncov), "uncov.test", "mx.good.test.", "1");
    zone(zwrong, sizeof(zwrong), "wrongcert.test", "mx", "1");
    zone(zredir, sizeof(zredir), "redir.test", "mx.good.test.", "1");
    zone(zctype, sizeof(zctype), "ctype.test", "mx.good.test.", "1");
    snprintf(zslow, sizeof(zslow),
             "@ MX 10 mx\nmx A 127.0.0.2\nmta-sts A 127.0.0.2\n"
             "_mta-sts TXT \"v=STSv1; id=1\"\n"
             "_smtp._tls TXT \"v=TLSRPTv1; rua=mailto:t@slow.test\"\n");
    policy("good.test", "version: STSv1\nmode: enforce\nmx: mx.good.test\n"
                        "max_age: 604800\n");
    policy("uncov.test", "version: STSv1\r\nmode: enforce\r\n"
                         "mx: *.uncov.test\r\nmax_age: 604800\r\n");
    policy("wrongcert.test", "version: STSv1\nmode: enforce\n"
                             "mx: mx.wrongcert.test\nmax_age: 604800\n");
    policy("redir.test", "version: STSv1\nmode: enforce\n"
                         "mx: mx.good.test\nmax_age: 604800\n");
    /* A valid policy padded with an extension line past 64 KiB. */
    snprintf(big, sizeof(big), "version: STSv1\nmode: enforce\n"
                               "mx: mx.good.test\nmax_age: 604800\npad: ");
    memset(big + strlen(big), 'p', 66000);
    big[sizeof(big) - 2] = '\n';
    big[sizeof(big) - 1] = '\0';
    policy("bad.test", big);
    tp_mkdirs(at("www/mta-sts.ctype.test"));
    write_text(at("www/mta-sts.ctype.test/ctype.html"),
               "version: STSv1\nmode: testing\nmx: *.ctype.test\n"
               "max_age: 604800\n");

    memset(&o, 0, sizeof(o));
    memset(more, 0, sizeof(more));
    o.zone = "good.test";
    o.records = zgood;
    more[0] = (kn_zone){"uncov.test", zuncov};
    more[1] = (kn_zone){"wrongcert.test", zwrong};
    more[2] = (kn_zone){"redir.test", zredir};
    more[3] = (kn_zone){"ctype.test", zctype};
    more[4] = (kn_zone){"bad.test",
                        "@ MX 10 mx.good.test.\n"
                        "mta-sts A 127.0.0.1\n"
                        "_mta-sts TXT \"v=STSv1; id=1\"\n"
                        "_mta-sts TXT \"v=STSv1; id=2\"\n"
                        "_smtp._tls TXT \"v=TLSRPTv1; "
                        "rua=ftp://r.bad.test/\"\n"};
    more[5] = (kn_zone){"slow.test", zslow};
    /* A mail domain that publishes no MTA-STS. */
    more[6] = (kn_zone){"nosts.test", "@ MX 10 mx.good.test.\n"};
    o.more = more;
    o.nmore = 7;
    if (kn_primary_start(dir, "knot", &o, &g_knot) != 0)
        return -1;
    snprintf(resolver, sizeof(resolver), "%s:%d", g_knot.addr, g_knot.port);

    /* nginx: one root per host name; the redirect for redir.test; for
     * ctype.test a file nginx types text/html. */
    tp_mkdirs(at("nginx/conf.d"));
    snprintf(text, sizeof(text),
             "root %s/www/$host;\n"
             "location = /.well-known/mta-sts.txt {\n"
             "  if ($host = mta-sts.redir.test) {\n"
             "    return 301 https://www.redir.test/mta-sts.txt;\n"
             "  }\n"
             "  if ($host = mta-sts.ctype.test) {\n"
             "    rewrite ^ /ctype.html last;\n"
             "  }\n"
             "}\n"
             "location = /ctype.html { }\n",
             dir);
    write_text(at("nginx/conf.d/mtasts.conf"), "%s", text);
    https_port = free_port();
    nginx_pid = nginx_start(dir, https_port, at("web.crt"), at("web.key"));
    if (nginx_pid < 0) {
        print_error("nginx did not start (see %s/nginx/error.log)\n", dir);
        return -1;
    }
    do
        smtp_port = free_port();
    while (smtp_port == https_port);
    postfix_pid = postfix_start(dir, smtp_port, at("mx.crt"), at("mx.key"),
                                NULL, &skip_why);
    if (postfix_pid < 0) {
        print_error("postfix did not start (see %s/postfix/postfix.out)\n",
                    dir);
        postfix_pid = 0;
        return -1;
    }
    snprintf(https_port_s, sizeof(https_port_s), "%d", https_port);
    snprintf(smtp_port_s, sizeof(smtp_port_s), "%d", smtp_port);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    if (nginx_pid > 0) {
        kill(nginx_pid, SIGTERM);
        proc_wait(nginx_pid, 5000);
    }
    postfix_stop(dir, postfix_pid);
    kn_stop(&g_knot);
    tmpdir_remove(dir);
    return 0;
}

static kwres check(const char *domain, int json)
{
    const char *args[] = {"mta-sts", "check", "--resolver", resolver,
                          "--cafile", cafile, "--https-port", https_port_s,
                          "--smtp-port", smtp_port_s, domain,
                          json ? "--json" : NULL, NULL};

    return kw_argv(state, conf, args);
}

static void need_postfix(void)
{
    if (postfix_pid == 0) {
        print_message("skipped: %s\n",
                      skip_why ? skip_why : "Postfix cannot run here");
        skip();
    }
}

static void test_good(void **st)
{
    kwres r;
    json_t *j, *o;

    (void)st;
    need_postfix();
    r = check("good.test", 0);
    if (r.status != 0)
        fail_msg("exit %d:\n%s\n%s", r.status, r.out, r.err);
    assert_contains(r.out, "good.test: ok");
    assert_contains(r.out, "id      1");
    assert_contains(r.out, "mode enforce, max_age 604800");
    assert_contains(r.out, "mx.good.test 127.0.0.1 (certificate verified)");
    assert_contains(r.out, "TLS-RPT mailto:tls@good.test");
    kwres_free(&r);
    r = check("good.test", 1);
    assert_int_equal(r.status, 0);
    j = json_loads(r.out, 0, NULL);
    assert_non_null(j);
    o = json_array_get(j, 0);
    assert_string_equal(json_string_value(json_object_get(o, "health")),
                        "ok");
    assert_string_equal(json_string_value(json_object_get(o, "url")),
                        "https://mta-sts.good.test/.well-known/mta-sts.txt");
    assert_true(json_is_true(json_object_get(
        json_array_get(json_object_get(o, "mx"), 0), "verified")));
    assert_int_equal(json_array_size(json_object_get(o, "findings")), 0);
    json_decref(j);
    kwres_free(&r);
}

static void test_uncovered(void **st)
{
    kwres r;

    (void)st;
    need_postfix();
    r = check("uncov.test", 0);
    if (r.status != 2)
        fail_msg("exit %d:\n%s\n%s", r.status, r.out, r.err);
    assert_contains(r.out, "uncov.test: critical");
    assert_contains(r.out, "critical mx.uncovered: no mx: line of the "
                           "policy matches mx.good.test: senders that "
                           "honour MTA-STS refuse to deliver to "
                           "mx.good.test");
    assert_contains(r.out, "fix: add \"mx: mx.good.test\"");
    /* The MX itself is fine. */
    assert_not_contains(r.out, "mx.cert");
    kwres_free(&r);
}

static void test_wrong_cert(void **st)
{
    kwres r;

    (void)st;
    need_postfix();
    r = check("wrongcert.test", 0);
    if (r.status != 2)
        fail_msg("exit %d:\n%s\n%s", r.status, r.out, r.err);
    assert_contains(r.out, "critical mx.cert_name: mx.wrongcert.test "
                           "serves a certificate for CN=mx.good.test that "
                           "does not cover mx.wrongcert.test");
    assert_not_contains(r.out, "mx.uncovered");
    kwres_free(&r);
}

static void test_untrusted(void **st)
{
    const char *args[] = {"mta-sts", "check", "--resolver", resolver,
                          "--https-port", https_port_s, "--smtp-port",
                          smtp_port_s, "good.test", NULL};
    kwres r;

    (void)st;
    need_postfix();
    /* Without --cafile the test CA is not trusted: neither the policy
     * host nor the MX verify. */
    r = kw_argv(state, conf, args);
    if (r.status != 2)
        fail_msg("exit %d:\n%s\n%s", r.status, r.out, r.err);
    assert_contains(r.out, "critical policy.fetch: https://mta-sts.good.test"
                           "/.well-known/mta-sts.txt: SSL certificate");
    assert_contains(r.out, "mx.cert_invalid: mx.good.test: its certificate "
                           "(CN=mx.good.test) does not verify");
    kwres_free(&r);
}

static void test_redirect(void **st)
{
    kwres r;

    (void)st;
    need_postfix();
    r = check("redir.test", 0);
    if (r.status != 2)
        fail_msg("exit %d:\n%s\n%s", r.status, r.out, r.err);
    assert_contains(r.out, "critical policy.redirect: "
                           "https://mta-sts.redir.test/.well-known/"
                           "mta-sts.txt answers HTTP 301 to "
                           "https://www.redir.test/mta-sts.txt: senders "
                           "follow no redirect");
    kwres_free(&r);
}

static void test_testing_mode(void **st)
{
    kwres r;

    (void)st;
    need_postfix();
    /* Testing mode: what enforce makes critical is a warning, and the
     * mode is noted; text/html is a warning of its own. */
    r = check("ctype.test", 0);
    if (r.status != 1)
        fail_msg("exit %d:\n%s\n%s", r.status, r.out, r.err);
    assert_contains(r.out, "ctype.test: warning");
    assert_contains(r.out, "warning  mx.uncovered: no mx: line of the policy "
                           "matches mx.good.test: senders in testing mode "
                           "report failures for mx.good.test");
    assert_contains(r.out, "warning  policy.content_type: "
                           "https://mta-sts.ctype.test/.well-known/"
                           "mta-sts.txt is served as \"text/html\"");
    assert_contains(r.out, "ok       policy.mode: mode testing");
    kwres_free(&r);
}

static void test_bad_records(void **st)
{
    kwres r;

    (void)st;
    need_postfix();
    r = check("bad.test", 0);
    if (r.status != 2)
        fail_msg("exit %d:\n%s\n%s", r.status, r.out, r.err);
    assert_contains(r.out, "critical txt.invalid: _mta-sts.bad.test: 2 "
                           "_mta-sts records start with v=STSv1: senders "
                           "treat the domain as having no valid policy");
    assert_contains(r.out, "policy.fetch: https://mta-sts.bad.test/"
                           ".well-known/mta-sts.txt: the policy is larger "
                           "than 64 KiB");
    assert_contains(r.out, "warning  tlsrpt.invalid: _smtp._tls.bad.test: "
                           "_smtp._tls record: rua URI \"ftp://r.bad.test/\" "
                           "is neither mailto: nor https:");
    kwres_free(&r);
}

/* A listener on 127.0.0.2:port that accepts (the kernel's backlog) and
 * never says a word. */
static int silent_listener(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(0x7f000002);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 8))
        fail_msg("cannot listen on 127.0.0.2:%d", port);
    return fd;
}

static void test_silent_mx(void **st)
{
    const char *args[] = {"mta-sts", "check", "--resolver", resolver,
                          "--cafile", cafile, "--https-port", https_port_s,
                          "--smtp-port", smtp_port_s, "--timeout", "2s",
                          "slow.test", NULL};
    int fd;
    kwres r;

    (void)st;
    need_postfix();
    fd = silent_listener(smtp_port);
    r = kw_argv(state, conf, args);
    close(fd);
    if (r.status != 2)
        fail_msg("exit %d:\n%s\n%s", r.status, r.out, r.err);
    /* No policy was had, so the MX is a warning ("senders would"). */
    assert_contains(r.out, "warning  mx.starttls: mx.slow.test (127.0.0.2): "
                           "timed out after 2 s while waiting for the "
                           "server's greeting");
    assert_contains(r.out, "critical policy.fetch: https://mta-sts.slow.test/"
                           ".well-known/mta-sts.txt: ");
    /* Each wait is bounded by --timeout, not by the peer. */
    if (r.secs > 15)
        fail_msg("took %.1f s", r.secs);
    kwres_free(&r);
}

static void test_id_unchanged(void **st)
{
    kwres r;

    (void)st;
    need_postfix();
    /* good.test was seen with id 1 by test_good; its policy changes. */
    policy("good.test", "version: STSv1\nmode: enforce\nmx: mx.good.test\n"
                        "mx: backup.good.test\nmax_age: 604800\n");
    r = check("good.test", 0);
    if (r.status != 1)
        fail_msg("exit %d:\n%s\n%s", r.status, r.out, r.err);
    assert_contains(r.out, "warning  policy.id_unchanged: the policy "
                           "changed while the id stayed \"1\": senders keep "
                           "the old policy until max_age: change the id");
    assert_contains(r.out, "fix: publish _mta-sts.good.test. TXT \"v=STSv1; "
                           "id=");
    kwres_free(&r);
    /* Still so on a second run: the hash kept is the id's first. */
    r = check("good.test", 0);
    assert_int_equal(r.status, 1);
    assert_contains(r.out, "policy.id_unchanged");
    kwres_free(&r);
    /* A new id: ok again. */
    assert_int_equal(
        kn_update(&g_knot, "good.test",
                  "update delete _mta-sts.good.test. TXT \"v=STSv1; id=1\"\n"
                  "update add _mta-sts.good.test. 60 TXT "
                  "\"v=STSv1; id=2\"\n"),
        0);
    r = check("good.test", 0);
    if (r.status != 0)
        fail_msg("exit %d:\n%s\n%s", r.status, r.out, r.err);
    assert_contains(r.out, "id      2");
    kwres_free(&r);
}

static void test_tlsrpt_removed(void **st)
{
    kwres r;

    (void)st;
    need_postfix();
    assert_int_equal(kn_update(&g_knot, "good.test",
                               "update delete _smtp._tls.good.test. TXT\n"),
                     0);
    r = check("good.test", 0);
    if (r.status != 1)
        fail_msg("exit %d:\n%s\n%s", r.status, r.out, r.err);
    assert_contains(r.out, "warning  tlsrpt.missing: _smtp._tls.good.test: "
                           "no such name (NXDOMAIN): ");
    assert_contains(r.out, "no reports of failed deliveries reach you");
    assert_contains(r.out, "fix: publish _smtp._tls.good.test. TXT "
                           "\"v=TLSRPTv1; rua=mailto:");
    kwres_free(&r);
}

static void test_resolver_down(void **st)
{
    char res[64];
    const char *args[] = {"mta-sts", "check", "--resolver", res,
                          "--cafile", cafile, "good.test", NULL};
    kwres r;

    (void)st;
    /* Nothing answers DNS: unknown (3), each question named, not a
     * verdict on the domain. */
    snprintf(res, sizeof(res), "127.0.0.1:%d", free_port());
    r = kw_argv(state, conf, args);
    if (r.status != 3)
        fail_msg("exit %d:\n%s\n%s", r.status, r.out, r.err);
    assert_contains(r.out, "good.test: unknown");
    assert_contains(r.out, "unknown  txt.lookup: _mta-sts.good.test: no "
                           "answer: ");
    assert_contains(r.out, "unknown  mx.lookup: MX of good.test: ");
    assert_not_contains(r.out, "critical");
    kwres_free(&r);
}

/* nginx again on the same port, serving cert. */
static void restart_nginx(const char *cert)
{
    kill(nginx_pid, SIGTERM);
    assert_int_equal(proc_wait(nginx_pid, 10000), 0);
    nginx_pid = nginx_start(dir, https_port, cert, at("web.key"));
    assert_true(nginx_pid > 0);
}

static void test_host_cert(void **st)
{
    kwres r;

    (void)st;
    need_postfix();
    /* Five days left: the policy is still fetched, and it is critical. */
    restart_nginx(at("soon.crt"));
    r = check("good.test", 0);
    if (r.status != 2)
        fail_msg("exit %d:\n%s\n%s", r.status, r.out, r.err);
    assert_contains(r.out, "critical host.cert_expiry: mta-sts.good.test: "
                           "its certificate (CN=mta-sts.good.test) expires ");
    assert_contains(r.out, "(mode enforce, max_age 604800)");
    assert_not_contains(r.out, "policy.fetch");
    kwres_free(&r);
    /* Expired: senders cannot fetch the policy; both are said. */
    restart_nginx(at("old.crt"));
    r = check("good.test", 0);
    if (r.status != 2)
        fail_msg("exit %d:\n%s\n%s", r.status, r.out, r.err);
    assert_contains(r.out, "critical host.cert_expiry: mta-sts.good.test: "
                           "its certificate (CN=mta-sts.good.test) expired ");
    assert_contains(r.out, "critical policy.fetch: https://mta-sts.good.test"
                           "/.well-known/mta-sts.txt: SSL certificate "
                           "problem: certificate has expired");
    kwres_free(&r);
}

static void test_nginx_stopped(void **st)
{
    kwres r;

    (void)st;
    need_postfix();
    kill(nginx_pid, SIGTERM);
    assert_int_equal(proc_wait(nginx_pid, 10000), 0);
    nginx_pid = 0;
    r = check("good.test", 0);
    if (r.status != 2)
        fail_msg("exit %d:\n%s\n%s", r.status, r.out, r.err);
    assert_contains(r.out, "critical policy.fetch: "
                           "https://mta-sts.good.test/.well-known/"
                           "mta-sts.txt: Failed to connect");
    assert_contains(r.out, "senders fetching the policy get none");
    kwres_free(&r);
}

/* serve's mta-sts-check job (state of its own, the clock pinned, made
 * due with run-job): the uncovered MX is critical on the mta-sts object
 * uncov.test in check, list --json and /metrics; good.test is ok. */
/* serve on the state dir TAG-state with [daemon], [scan], [mta-sts]
 * and sections, its mta-sts-check job run at once; returns when checks
 * rows counts the checked domains.  Paths into sstate, sconf, db. */
static pid_t serve_mtasts(const char *tag, const char *sections,
                          int checks, int mport, char *sstate, char *sconf,
                          char *db, char *log)
{
    char empty[600], now[40], q[200];
    time_t t = time(NULL);
    pid_t pid;
    kwres r;

    snprintf(sstate, 600, "%s/%s-state", dir, tag);
    snprintf(sconf, 600, "%s/%s.conf", dir, tag);
    snprintf(db, 700, "%s/keywarden.db", sstate);
    snprintf(log, 600, "%s/%s.log", dir, tag);
    snprintf(empty, sizeof(empty), "%s/empty", dir);
    tp_mkdirs(empty);
    write_text(sconf,
               "[daemon]\nmetrics_listen = 127.0.0.1:%d\n\n"
               "[scan]\npath = %s\n\n"
               "[mta-sts]\nresolver = %s\ncafile = %s\nhttps_port = %d\n"
               "smtp_port = %d\ntimeout = 5s\n\n%s",
               mport, empty, resolver, cafile, https_port, smtp_port,
               sections);
    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    pid = kw_serve_start(sstate, sconf, now, NULL, log);
    kw_await_sql(db, "SELECT count(*) FROM jobs WHERE type = "
                     "'mta-sts-check'", 30000, log);
    r = kw_expect(0, sstate, sconf,
                  (const char *[]){ "run-job", "mta-sts-check", NULL });
    kwres_free(&r);
    snprintf(q, sizeof(q), "SELECT count(*) = %d FROM checks WHERE checker "
                           "= 'mta-sts'", checks);
    kw_await_sql(db, q, 60000, log);
    return pid;
}

/* serve's /metrics, in which uncov.test is critical and good.test ok
 * (the caller frees it). */
static char *metrics_two_domains(int mport)
{
    char *m = kw_http_get(mport, "/metrics");

    assert_non_null(m);
    assert_string_equal(kw_metrics_health(m, "mta-sts", "uncov.test"),
                        "critical");
    assert_string_equal(kw_metrics_health(m, "mta-sts", "good.test"), "ok");
    return m;
}

static void test_serve_job(void **st)
{
    char sstate[600], sconf[600], db[700], log[600];
    int mport = free_port();
    json_t *all, *o;
    size_t i;
    pid_t pid;
    char *m;
    kwres r;

    (void)st;
    need_postfix();
    pid = serve_mtasts("serve", "[mta-sts \"good.test\"]\n\n"
                                "[mta-sts \"uncov.test\"]\n", 2, mport,
                       sstate, sconf, db, log);

    r = kw_expect(2, sstate, sconf,
                  (const char *[]){ "check", "--kind", "mta-sts", NULL });
    assert_contains(r.out, "CRITICAL: uncov.test");
    assert_contains(r.out, "MTA-STS: no mx: line of the policy matches "
                           "mx.good.test");
    assert_contains(r.out, "add \"mx: mx.good.test\"");
    assert_not_contains(r.out, ": good.test");
    kwres_free(&r);
    r = kw_expect(0, sstate, sconf,
                  (const char *[]){ "show", "uncov.test", NULL });
    fprintf(stderr, "%s", r.out);
    assert_contains(r.out, "MTA-STS: no mx: line of the policy matches "
                           "mx.good.test");
    kwres_free(&r);

    all = kw_list_json(sstate, sconf, "mta-sts", &r);
    assert_int_equal(json_array_size(all), 2);
    for (i = 0; i < json_array_size(all); i++) {
        const char *name, *health;

        o = json_array_get(all, i);
        name = json_string_value(json_object_get(o, "name"));
        health = json_string_value(json_object_get(o, "health"));
        assert_non_null(name);
        assert_string_equal(health, strcmp(name, "uncov.test") == 0
                                        ? "critical" : "ok");
    }
    json_decref(all);
    kwres_free(&r);

    m = metrics_two_domains(mport);
    free(m);
    kw_await_sql(db, "SELECT count(*) = 1 FROM events WHERE type = "
                     "'health.changed' AND json_extract(detail, '$.kind') "
                     "= 'mta-sts' AND json_extract(detail, '$.object') = "
                     "'uncov.test' AND json_extract(detail, '$.to') = "
                     "'critical'", 5000, log);
    kw_serve_stop(&pid);
}

/* [dkim "DOMAIN"] domains get the MTA-STS check while they publish
 * _mta-sts: uncov.test (its policy leaves its MX out) is critical on an
 * object of kind mta-sts; nosts.test (no _mta-sts) gets no object and
 * no finding; good.test, named by [dkim] and [mta-sts] both, is one
 * object, ok. */
static void test_serve_dkim_domains(void **st)
{
    char sstate[600], sconf[600], db[700], log[600], key[600];
    char sections[4000];
    int mport = free_port();
    EVP_PKEY *k = tp_key_rsa(2048);
    json_t *all, *o;
    const char *src;
    pid_t pid;
    char *m;
    kwres r;

    (void)st;
    need_postfix();
    snprintf(key, sizeof(key), "%s/dkim-k1.pem", dir);
    assert_int_equal(tp_write_key(key, k, 0600), 0);
    EVP_PKEY_free(k);
    snprintf(sections, sizeof(sections),
             "[dkim]\nresolver = %s\n\n"
             "[dkim \"uncov.test\"]\nselector = k1\nkey = %s\n\n"
             "[dkim \"nosts.test\"]\nselector = k1\nkey = %s\n\n"
             "[dkim \"good.test\"]\nselector = k1\nkey = %s\n\n"
             "[mta-sts \"good.test\"]\n",
             resolver, key, key, key);
    pid = serve_mtasts("dkim", sections, 2, mport, sstate, sconf, db, log);

    all = kw_list_json(sstate, sconf, "mta-sts", &r);
    /* good.test once, uncov.test, and nothing of nosts.test. */
    assert_int_equal(json_array_size(all), 2);
    assert_not_contains(r.out, "nosts.test");
    o = json_array_get(all, 0);
    if (strcmp(json_string_value(json_object_get(o, "name")),
               "uncov.test") != 0)
        o = json_array_get(all, 1);
    assert_string_equal(json_string_value(json_object_get(o, "name")),
                        "uncov.test");
    assert_string_equal(json_string_value(json_object_get(o, "health")),
                        "critical");
    src = json_string_value(json_object_get(o, "source"));
    assert_non_null(src);
    assert_contains(src, "[dkim \"uncov.test\"]");
    assert_contains(r.out, "MTA-STS: no mx: line of the policy matches "
                           "mx.good.test");
    json_decref(all);
    kwres_free(&r);
    r = kw_expect(2, sstate, sconf,
                  (const char *[]){ "check", "--kind", "mta-sts", NULL });
    fprintf(stderr, "%s", r.out);
    assert_contains(r.out, "CRITICAL: uncov.test");
    assert_not_contains(r.out, "nosts.test");
    kwres_free(&r);
    m = metrics_two_domains(mport);
    /* The [dkim] domain's selectors are there; no MTA-STS object. */
    assert_string_equal(kw_metrics_health(m, "mta-sts", "nosts.test"), "");
    assert_null(strstr(m, "kind=\"mta-sts\",name=\"nosts.test\""));
    free(m);
    kw_serve_stop(&pid);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_uncovered),
        cmocka_unit_test(test_serve_job),
        cmocka_unit_test(test_serve_dkim_domains),
        cmocka_unit_test(test_wrong_cert),
        cmocka_unit_test(test_untrusted),
        cmocka_unit_test(test_redirect),
        cmocka_unit_test(test_testing_mode),
        cmocka_unit_test(test_bad_records),
        cmocka_unit_test(test_silent_mx),
        cmocka_unit_test(test_id_unchanged),
        cmocka_unit_test(test_tlsrpt_removed),
        cmocka_unit_test(test_resolver_down),
        cmocka_unit_test(test_host_cert),
        cmocka_unit_test(test_nginx_stopped),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
