/*
 * test_dane_check.c: keywarden dane check against real servers on
 * loopback, on the DNSSEC bed (dnssec_bed.h): Knot signs the parent
 * test. and child.test. (its DS in test.), serves mail.test. unsigned
 * and broken.test. signed under a DS that names no key of it; unbound
 * validates with test.'s KSK; a private Postfix (servers.h) offers
 * STARTTLS on a free port with a leaf and its CA made here.  Each host
 * name under those zones has the TLSA record of one case:
 *   mx.child.test   3 1 1 of the served key: ok (unbound: AD);
 *   bad.child.test  3 1 1 of another key: critical, the served key's
 *                   record in the fix;
 *   ta.child.test   2 1 1 of the CA: ok but warned (intermediates change);
 *   mx.child.test   with --cert naming a renewal with a new key: critical
 *                   before the reload, naming the record to publish;
 *   mx.mail.test    in an unsigned zone: warning (unbound: no AD);
 *   mx.broken.test  under a broken DS: critical (unbound: SERVFAIL);
 *   alias.child.test a CNAME to mx.mail.test, its TLSA (another key's)
 *                   signed, its address not: Postfix still enforces the
 *                   record, so critical;
 *   two.child.test  two addresses, Postfix on one: that one matches,
 *                   the other unknown, by name;
 *   www.child.test  no TLSA: ok, DANE not in use.
 * and then that renewal deployed and Postfix reloaded onto it (SIGHUP to
 * its master): critical, as the sender now refuses it, and back.
 * The records are computed here with OpenSSL, not by the code under
 * test.  Where Postfix's posttls-finger is installed (package postfix)
 * it is the judge of what a DANE sender does: posttls-finger -l dane
 * "[HOST]:PORT" with its DNS through an LD_PRELOAD shim
 * (tests/tools/resport.c, __res_ninit pointed at the bed's unbound),
 * which works on loopback: "Verified TLS connection" with "Matched DANE
 * EE certificate" for the matching record, "no matching DANE TLSA
 * records" for another key's (a dane-level smtp client defers), plain
 * "Untrusted TLS" in the unsigned zone, and "Host not found, try again"
 * under the broken DS (the address lookup fails: the mail waits).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>
#include <ldns/ldns.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "dnssec_bed.h"
#include "kwrun.h"
#include "proc.h"
#include "servers.h"
#include "testpki.h"

static int smtp_port;
static pid_t postfix_pid;
static char rec_a[100], rec_b[100], rec_c[100], rec_ca[100];
static char cert_new[700], cert_same[700], key_new[700];
static char served_cert[700], served_key[700];

static X509 *leaf_of(EVP_PKEY *k, X509 *ca, EVP_PKEY *ca_k, long serial)
{
    static const char *const names[] = { "mx.child.test", "bad.child.test",
                                         "ta.child.test", "mx.mail.test",
                                         "mx.broken.test", NULL };
    int64_t now = time(NULL);
    tp_spec s = { 0 };

    s.cn = "mx.child.test";
    s.dns = names;
    s.not_before = now - 3600;
    s.not_after = now + 60 * 86400;
    s.serial = serial;
    s.key = k;
    s.issuer = ca;
    s.issuer_key = ca_k;
    return tp_cert(&s);
}

/* The keys and certificates; the served pair written for Postfix. */
static void pki(char *cert, char *key, size_t cap)
{
    EVP_PKEY *ca_k = tp_key_ec(), *ka = tp_key_ec(), *kb = tp_key_ec(),
             *kc = tp_key_ec();
    int64_t now = time(NULL);
    X509 *ca, *a, *b, *c;

    ca = tp_ca("Test DANE CA", ca_k, now);
    a = leaf_of(ka, ca, ca_k, 2);
    b = leaf_of(kb, ca, ca_k, 3);
    c = leaf_of(kc, ca, ca_k, 4);
    tp_tlsa_spki(a, 3, rec_a, sizeof(rec_a));
    tp_tlsa_spki(b, 3, rec_b, sizeof(rec_b));
    tp_tlsa_spki(c, 3, rec_c, sizeof(rec_c));
    tp_tlsa_spki(ca, 2, rec_ca, sizeof(rec_ca));
    tp_write_served(bed.dir, "served", a, ca, ka, cert, key, cap);
    /* The renewal on disk: a new key, not yet served. */
    tp_write_served(bed.dir, "renewed", c, ca, kc, cert_new, key_new,
                    sizeof(cert_new));
    tp_write_served(bed.dir, "same", a, ca, NULL, cert_same, NULL,
                    sizeof(cert_same));
    X509_free(ca);
    X509_free(a);
    X509_free(b);
    X509_free(c);
    EVP_PKEY_free(ca_k);
    EVP_PKEY_free(ka);
    EVP_PKEY_free(kb);
    EVP_PKEY_free(kc);
}

static int setup(void **st)
{
    char cert[700], key[700], zone[2000];
    const char *skip = NULL;

    (void)st;
    if (bed_init("dane_check") != 0)
        return -1;
    smtp_port = free_port();
    pki(cert, key, sizeof(cert));
    snprintf(served_cert, sizeof(served_cert), "%s", cert);
    snprintf(served_key, sizeof(served_key), "%s", key);
    bed_zone_file("test", "child NS ns1.child.test.\n"
                  "ns1.child A 127.0.0.1\n"
                  "mail NS ns1.mail.test.\nns1.mail A 127.0.0.1\n"
                  "broken NS ns1.broken.test.\nns1.broken A 127.0.0.1\n");
    snprintf(zone, sizeof(zone),
             "mx A 127.0.0.1\nbad A 127.0.0.1\nta A 127.0.0.1\n"
             "alias CNAME mx.mail.test.\ntwo A 127.0.0.1\ntwo A 127.0.0.2\n"
             "_%d._tcp.mx TLSA %s\n_%d._tcp.bad TLSA %s\n"
             "_%d._tcp.ta TLSA %s\n_%d._tcp.alias TLSA %s\n"
             "_%d._tcp.two TLSA %s\n", smtp_port, rec_a, smtp_port, rec_b,
             smtp_port, rec_ca, smtp_port, rec_b, smtp_port, rec_a);
    bed_zone_file("child.test", zone);
    snprintf(zone, sizeof(zone), "mx A 127.0.0.1\n_%d._tcp.mx TLSA %s\n",
             smtp_port, rec_a);
    bed_zone_file("mail.test", zone);
    bed_zone_file("broken.test", zone);
    bed_start_chain(BED_MAIL_BROKEN_ZONES);
    bed_break_broken();
    bed_start_unbound();

    postfix_pid = postfix_start(bed.dir, smtp_port, cert, key, NULL, &skip);
    if (postfix_pid == 0) {
        fprintf(stderr, "Postfix cannot run here: %s\n", skip);
        return -1;
    }
    assert_true(postfix_pid > 0);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    postfix_stop(bed.dir, postfix_pid);
    bed_stop();
    return 0;
}

/* keywarden dane check --json for host (and --cert cert), which must exit
 * with want; its one result, parsed (the caller frees it). */
static json_t *check(int want, const char *host, const char *cert,
                     int auto_servers)
{
    char res[64], srv[64], port[16], target[300];
    const char *args[16] = { "dane", "check", "--json", "--resolver", res,
                             "--starttls", "smtp" };
    size_t n = 7;
    json_t *all, *one;
    json_error_t e;
    kwres r;

    snprintf(res, sizeof(res), "127.0.0.1:%d", bed.ub.port);
    snprintf(srv, sizeof(srv), "127.0.0.1:%d", bed.port);
    snprintf(port, sizeof(port), "%d", bed.port);
    snprintf(target, sizeof(target), "%s:%d", host, smtp_port);
    /* Each case from an empty cache: the bed's unbound reaches the
     * child zones by asking Knot directly for test. (it serves them all),
     * but once it holds a child's NS set (keywarden asks for it) it
     * follows that delegation to the NS address at port 53, where
     * nothing listens here. */
    bed_ub_flush();
    if (auto_servers) {
        /* The zone's NS set through the resolver, at the bed's port. */
        args[n++] = "--port";
        args[n++] = port;
    } else {
        args[n++] = "--server";
        args[n++] = srv;
    }
    if (cert != NULL) {
        args[n++] = "--cert";
        args[n++] = cert;
    }
    args[n++] = target;
    args[n] = NULL;
    r = kw_expect(want, kw_path(bed.dir, "state"),
                  kw_path(bed.dir, "none.conf"), args);
    fprintf(stderr, "%s", r.out);
    all = json_loads(r.out, 0, &e);
    if (all == NULL)
        fail_msg("not JSON (%s): %s", e.text, r.out);
    kwres_free(&r);
    assert_int_equal(json_array_size(all), 1);
    one = json_incref(json_array_get(all, 0));
    json_decref(all);
    return one;
}

/* The finding with code in result o, or NULL. */
static json_t *finding(json_t *o, const char *code)
{
    json_t *a = json_object_get(o, "findings"), *f;
    size_t i;

    json_array_foreach(a, i, f)
        if (strcmp(json_string_value(json_object_get(f, "code")), code) == 0)
            return f;
    return NULL;
}

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    assert_non_null(s);
    return s;
}

static void want_finding(json_t *o, const char *code, const char *sev)
{
    json_t *f = finding(o, code);

    if (f == NULL)
        fail_msg("no finding %s", code);
    assert_string_equal(str(f, "severity"), sev);
}

/* unbound's verdict on host's TLSA name (dnssec_bed's: 1 AD, 0 SERVFAIL,
 * -1 neither). */
static int ub_tlsa(const char *host)
{
    char name[300];

    snprintf(name, sizeof(name), "_%d._tcp.%s", smtp_port, host);
    return bed_ub_ask_type(name, LDNS_RR_TYPE_TLSA, 1);
}

#define POSTTLS_FINGER "/usr/sbin/posttls-finger"

/* What Postfix's own DANE client makes of host: posttls-finger -l dane
 * with its DNS through the shim (resport.c) at the bed's unbound.  Its
 * output (malloc'd), or NULL when posttls-finger is not installed. */
static char *dane_sender(const char *host)
{
    char pre[600], port[40], dest[300], conf[700];
    char *argv[] = { (char *)"/usr/bin/env", pre, port, conf,
                     (char *)POSTTLS_FINGER, (char *)"-t", (char *)"30",
                     (char *)"-c", (char *)"-l", (char *)"dane", dest,
                     NULL };
    char *out = NULL, *err = NULL, *all;
    int ofd, efd;
    pid_t pid;

    if (access(POSTTLS_FINGER, X_OK) != 0)
        return NULL;
    snprintf(pre, sizeof(pre), "LD_PRELOAD=%s", KW_RESPORT);
    snprintf(port, sizeof(port), "RESPORT_PORT=%d", bed.ub.port);
    snprintf(dest, sizeof(dest), "[%s]:%d", host, smtp_port);
    /* The private instance's main.cf (postfix_start's). */
    snprintf(conf, sizeof(conf), "MAIL_CONFIG=%s/postfix/etc", bed.dir);
    bed_ub_flush();
    pid = proc_spawn_pipes(argv, &ofd, &efd);
    assert_true(pid > 0);
    proc_drain(ofd, efd, &out, &err);
    (void)proc_wait(pid, 60000);
    all = malloc(strlen(out ? out : "") + strlen(err ? err : "") + 1);
    assert_non_null(all);
    strcpy(all, out ? out : "");
    strcat(all, err ? err : "");
    free(out);
    free(err);
    fprintf(stderr, "posttls-finger %s:\n%s", dest, all);
    return all;
}

/* posttls-finger's verdict on host must contain want (and not lack);
 * said and skipped when posttls-finger is not installed. */
static void sender_says(const char *host, const char *want,
                        const char *not_want)
{
    char *out = dane_sender(host);

    if (out == NULL) {
        fprintf(stderr, "posttls-finger not installed (package postfix): "
                "no DANE sender to compare with\n");
        return;
    }
    assert_contains(out, want);
    if (not_want != NULL)
        assert_not_contains(out, not_want);
    free(out);
}

static void test_match(void **st)
{
    json_t *o, *t;
    int auto_servers;

    (void)st;
    assert_int_equal(ub_tlsa("mx.child.test"), 1);
    sender_says("mx.child.test", "Verified TLS connection established",
                NULL);
    for (auto_servers = 0; auto_servers <= 1; auto_servers++) {
        o = check(0, "mx.child.test", NULL, auto_servers);
        assert_string_equal(str(o, "health"), "ok");
        assert_string_equal(str(o, "dnssec"), "secure");
        assert_string_equal(str(o, "zone"), "child.test");
        assert_string_equal(str(o, "served_3_1_1"), rec_a);
        t = json_array_get(json_object_get(o, "tlsa"), 0);
        assert_string_equal(str(t, "record"), rec_a);
        assert_true(json_is_true(json_object_get(t, "matches_served")));
        assert_int_equal(json_array_size(json_object_get(o, "findings")), 0);
        json_decref(o);
    }
}

static void test_other_key(void **st)
{
    json_t *o, *f;

    (void)st;
    /* unbound validates the record that names another key. */
    assert_int_equal(ub_tlsa("bad.child.test"), 1);
    sender_says("bad.child.test", "no matching DANE TLSA records",
                "Verified TLS");
    o = check(2, "bad.child.test", NULL, 0);
    assert_string_equal(str(o, "dnssec"), "secure");
    want_finding(o, "dane.nomatch", "critical");
    f = finding(o, "dane.nomatch");
    assert_contains(str(f, "text"), "defer all mail");
    assert_contains(str(f, "fix"), rec_a);
    json_decref(o);
}

static void test_ta(void **st)
{
    json_t *o, *t;

    (void)st;
    o = check(1, "ta.child.test", NULL, 0);
    want_finding(o, "tlsa.ta", "warning");
    t = json_array_get(json_object_get(o, "tlsa"), 0);
    assert_string_equal(str(t, "record"), rec_ca);
    assert_true(json_is_true(json_object_get(t, "matches_served")));
    assert_null(finding(o, "dane.nomatch"));
    json_decref(o);
}

/* The certificate on disk replaced by a renewal with a new key, not yet
 * served: critical now, naming the record to publish first. */
static void test_reload(void **st)
{
    char want[200];
    json_t *o, *f;

    (void)st;
    o = check(2, "mx.child.test", cert_new, 0);
    want_finding(o, "dane.reload", "critical");
    f = finding(o, "dane.reload");
    snprintf(want, sizeof(want), "publish TLSA %s first", rec_c);
    assert_contains(str(f, "fix"), want);
    assert_contains(str(f, "text"), cert_new);
    assert_null(finding(o, "dane.nomatch"));
    assert_string_equal(str(o, "cert_3_1_1"), rec_c);
    json_decref(o);
    /* The text form says the same, with the fix on its own line. */
    {
        char res[64], srv[64], target[300], fix[200];
        const char *args[] = { "dane", "check", "--resolver", res,
                               "--server", srv, "--starttls", "smtp",
                               "--cert", cert_new, target, NULL };
        kwres t;

        snprintf(res, sizeof(res), "127.0.0.1:%d", bed.ub.port);
        snprintf(srv, sizeof(srv), "127.0.0.1:%d", bed.port);
        snprintf(target, sizeof(target), "mx.child.test:%d", smtp_port);
        bed_ub_flush();
        t = kw_expect(2, kw_path(bed.dir, "state"),
                      kw_path(bed.dir, "none.conf"), args);
        assert_contains(t.out, "critical dane.reload");
        assert_contains(t.out, "matches the served, does not match the "
                        "file");
        snprintf(fix, sizeof(fix), "fix: publish TLSA %s first", rec_c);
        assert_contains(t.out, fix);
        kwres_free(&t);
    }
    /* A certificate file that cannot be read is said, not skipped. */
    o = check(1, "mx.child.test", kw_path(bed.dir, "no-such.pem"), 0);
    want_finding(o, "dane.cert", "warning");
    assert_contains(str(finding(o, "dane.cert"), "text"), "no-such.pem");
    json_decref(o);
    /* The same certificate on disk as served: nothing to say. */
    o = check(0, "mx.child.test", cert_same, 0);
    assert_int_equal(json_array_size(json_object_get(o, "findings")), 0);
    json_decref(o);
}

/* Copies the file from to to (small files). */
static void copy_file(const char *from, const char *to, mode_t mode)
{
    char buf[16384];
    size_t n;
    FILE *f = fopen(from, "rb");

    assert_non_null(f);
    n = fread(buf, 1, sizeof(buf), f);
    assert_true(n > 0 && n < sizeof(buf));
    fclose(f);
    assert_int_equal(tp_write_bytes(to, buf, n, mode), 0);
}

/* Does the check see ctx's "3 1 1 HEX" served now? */
static int serves_rec(void *ctx)
{
    char res[64], srv[64], target[300];
    const char *args[] = { "dane", "check", "--json", "--resolver", res,
                           "--server", srv, "--starttls", "smtp", target,
                           NULL };
    kwres r;
    int yes;

    snprintf(res, sizeof(res), "127.0.0.1:%d", bed.ub.port);
    snprintf(srv, sizeof(srv), "127.0.0.1:%d", bed.port);
    snprintf(target, sizeof(target), "mx.child.test:%d", smtp_port);
    r = kw_argv(kw_path(bed.dir, "state"), kw_path(bed.dir, "none.conf"),
                args);
    yes = r.out != NULL && strstr(r.out, (const char *)ctx) != NULL;
    kwres_free(&r);
    return yes;
}

/* Postfix reloaded onto the files in place (what a renewal's hook
 * does), until the check sees rec served. */
static void reload_postfix(const char *rec)
{
    pid_t master = postfix_master_pid(bed.dir);

    assert_true(master > 0);
    assert_int_equal(kill(master, SIGHUP), 0);
    if (!proc_until(serves_rec, (void *)rec, 20000))
        fail_msg("Postfix does not serve %s after the reload", rec);
}

/* The reload test_reload warned about, made: the renewal with the new
 * key deployed and Postfix reloaded without its TLSA record published.
 * keywarden now says what the DANE sender does: no record matches. */
static void test_reload_applied(void **st)
{
    char old_key[700];
    json_t *o;

    (void)st;
    snprintf(old_key, sizeof(old_key), "%s/old.key", bed.dir);
    copy_file(served_key, old_key, 0600);
    copy_file(cert_new, served_cert, 0644);
    copy_file(key_new, served_key, 0600);
    reload_postfix(rec_c);
    sender_says("mx.child.test", "no matching DANE TLSA records",
                "Verified TLS");
    o = check(2, "mx.child.test", cert_new, 0);
    want_finding(o, "dane.nomatch", "critical");
    assert_contains(str(finding(o, "dane.nomatch"), "fix"), rec_c);
    json_decref(o);
    /* Back to the published key, for the other cases. */
    copy_file(cert_same, served_cert, 0644);
    copy_file(old_key, served_key, 0600);
    reload_postfix(rec_a);
    sender_says("mx.child.test", "Verified TLS connection established",
                NULL);
}

static void test_insecure(void **st)
{
    json_t *o;

    (void)st;
    assert_int_equal(ub_tlsa("mx.mail.test"), -1);
    /* The sender ignores the record: plain opportunistic TLS. */
    sender_says("mx.mail.test", "Untrusted TLS connection established",
                "Matched DANE");
    o = check(1, "mx.mail.test", NULL, 0);
    assert_string_equal(str(o, "dnssec"), "insecure");
    want_finding(o, "dane.insecure", "warning");
    assert_contains(str(finding(o, "dane.insecure"), "text"), "worthless");
    json_decref(o);
}

/* alias.child.test is a CNAME to mx.mail.test: its TLSA record (another
 * key's) is signed, its address is not.  Postfix still enforces the
 * record and refuses the key, so keywarden says critical too. */
static void test_alias(void **st)
{
    json_t *o;

    (void)st;
    assert_int_equal(ub_tlsa("alias.child.test"), 1);
    sender_says("alias.child.test", "no matching DANE TLSA records",
                "Verified TLS");
    o = check(2, "alias.child.test", NULL, 0);
    assert_string_equal(str(o, "dnssec"), "secure");
    want_finding(o, "dane.nomatch", "critical");
    json_decref(o);
}

/* two.child.test has two addresses; Postfix listens on the first only:
 * that one matches, the other is named as unknown (nothing answers). */
static void test_two_addresses(void **st)
{
    json_t *o, *a, *f;

    (void)st;
    o = check(3, "two.child.test", NULL, 0);
    a = json_object_get(o, "addresses");
    assert_int_equal(json_array_size(a), 2);
    /* In the order the resolver gave them. */
    if (strcmp(str(json_array_get(a, 0), "address"), "127.0.0.1") != 0)
        a = json_pack("[O, O]", json_array_get(a, 1), json_array_get(a, 0));
    else
        json_incref(a);
    assert_string_equal(str(json_array_get(a, 0), "address"), "127.0.0.1");
    assert_true(json_is_true(json_object_get(json_array_get(a, 0),
                                             "matched")));
    assert_string_equal(str(json_array_get(a, 0), "served_3_1_1"), rec_a);
    assert_string_equal(str(json_array_get(a, 1), "address"), "127.0.0.2");
    assert_string_equal(str(json_array_get(a, 1), "served_3_1_1"), "");
    json_decref(a);
    f = finding(o, "dane.probe");
    assert_non_null(f);
    assert_string_equal(str(f, "server"), "127.0.0.2");
    assert_null(finding(o, "dane.nomatch"));
    json_decref(o);
}

static void test_bogus(void **st)
{
    json_t *o;
    int auto_servers;

    (void)st;
    assert_int_equal(ub_tlsa("mx.broken.test"), 0);
    /* The sender cannot even find the address: the mail waits. */
    sender_says("mx.broken.test", "Host not found, try again",
                "TLS connection established");
    for (auto_servers = 0; auto_servers <= 1; auto_servers++) {
        o = check(2, "mx.broken.test", NULL, auto_servers);
        assert_string_equal(str(o, "dnssec"), "bogus");
        want_finding(o, "dane.bogus", "critical");
        json_decref(o);
    }
}

static void test_none(void **st)
{
    json_t *o;

    (void)st;
    o = check(0, "www.child.test", NULL, 0);
    want_finding(o, "dane.none", "ok");
    assert_string_equal(str(o, "dnssec"), "secure");
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_other_key),
        cmocka_unit_test(test_ta),
        cmocka_unit_test(test_reload),
        cmocka_unit_test(test_reload_applied),
        cmocka_unit_test(test_insecure),
        cmocka_unit_test(test_alias),
        cmocka_unit_test(test_two_addresses),
        cmocka_unit_test(test_bogus),
        cmocka_unit_test(test_none),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
