/*
 * test_dnssec_live.c: dnssec_live.h against real servers on loopback.
 *
 * Knot signs a parent zone test. (one CSK) and children child.test. (KSK
 * and ZSK, automatic key management) and short.test. (signatures that
 * live 60 s), with their DS records in test.; a second knotd on
 * 127.0.0.2 is a secondary of child.test.; unbound validates with test.'s
 * KSK as its only trust anchor: it is the judge of what a resolver does.
 * Cases: secure (keywarden ok, unbound AD); a lagging secondary (warning
 * naming it); a wrong DS in the parent (unbound SERVFAIL, keywarden
 * critical, and both well again once the right DS is back); short.test.'s
 * signer frozen (keywarden warning, then critical, before unbound fails,
 * on the pinned clock and then live); bad.test., signed ahead of time
 * (zsign.c) and served by Knot as it is, with its apex TXT altered after
 * signing (unbound SERVFAIL for that RRset, keywarden critical through
 * its sample of the zone's RRsets, naming the server and the record).
 * dnsviz (dnsviz.c) probes the same servers in the secure, wrong-DS,
 * altered-TXT and expired cases: its verdict must agree with keywarden's
 * (docs/testing.md has the table the "agreement:" lines print).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <poll.h>
#include <sys/stat.h>
#include <cmocka.h>

#include <ldns/ldns.h>

#include "dns/dns_raw.h"
#include "dnssec/dnssec_live.h"
#include "dnssec_bed.h"
#include "knot.h"
#include "kwrun.h"
#include "proc.h"
#include "tmpdir.h"
#include "dnsviz.h"
#include "zsign.h"

static char bad_ds[300];   /* bad.test.'s DS, as zs_ds writes it */

static void judge(const char *zone, const kw_dnssec_live_params *p,
                  int64_t now, kw_dnssec_live *r)
{
    kw_dns_server prim_srv = { "127.0.0.1", 0 };
    kw_dnssec_live_where w = { 0 };
    kw_diag d = {{0}};
    size_t i;

    prim_srv.port = bed.port;
    w.resolver = &prim_srv;
    w.port = bed.port;
    w.ds_server = &prim_srv;
    w.timeout_ms = 2000;
    assert_int_equal(kw_dnssec_live_run(zone, &w, p, now, r, &d), 0);
    fprintf(stderr, "%s: health %d, %zu finding(s)\n", zone, r->health,
            r->nfind);
    for (i = 0; i < r->nfind; i++)
        fprintf(stderr, "  %d %s [%s] %s: %s\n", r->find[i].severity,
                r->find[i].code, r->find[i].server, r->find[i].record,
                r->find[i].text);
}

/* keywarden dnssec check ARGS... zone against the test's servers, which
 * must exit with want. */
static kwres kw_dnssec(int want, const char *json, const char *zone)
{
    char srv[64], p[16];
    const char *args[] = { "dnssec", "check", "--server", srv, "--ds-server",
                           srv, "--port", p, zone, json, NULL };

    snprintf(srv, sizeof(srv), "127.0.0.1:%d", bed.port);
    snprintf(p, sizeof(p), "%d", bed.port);
    return kw_expect(want, kw_path(bed.dir, "state"), kw_path(bed.dir, "none.conf"),
                     args);
}

static const kw_dnssec_live_find *has(const kw_dnssec_live *r,
                                      const char *code)
{
    size_t i;

    for (i = 0; i < r->nfind; i++)
        if (strcmp(r->find[i].code, code) == 0)
            return &r->find[i];
    return NULL;
}

/* bad.test., signed here for 30 days (Knot serves it as it is: no
 * dnssec-signing), then its apex TXT altered under the old signature. */
static void bad_zone(void)
{
    zs_zone z;
    char path[700];
    int64_t now = time(NULL);

    assert_int_equal(zs_sign("bad.test",
                             "@ SOA ns1 hostmaster 1 60 10 86400 10\n"
                             "@ NS ns1\nns1 A 127.0.0.1\n@ A 127.0.0.1\n"
                             "@ TXT \"signed\"\nwww A 127.0.0.1\n",
                             now - 3600, now + 30 * 86400, &z), 0);
    assert_int_equal(zs_tamper(&z, "bad.test", LDNS_RR_TYPE_TXT,
                               "\"altered\""), 0);
    snprintf(path, sizeof(path), "%s/zones/bad.test.zone", bed.dir);
    assert_int_equal(zs_write(&z, path), 0);
    assert_int_equal(zs_ds(&z, bad_ds, sizeof(bad_ds)), 0);
    zs_free(&z);
}

static int setup(void **st)
{
    char text[6000];
    size_t n;
    char tag[10], alg[10], hex[200];

    (void)st;
    if (bed_init("dnssec_live") != 0)
        return -1;
    bed_zone_file("test", "child NS ns1.child.test.\nchild NS ns2.child.test.\n"
              "ns1.child A 127.0.0.1\nns2.child A 127.0.0.2\n"
              "short NS ns1.short.test.\nns1.short A 127.0.0.1\n"
              "bad NS ns1.bad.test.\nns1.bad A 127.0.0.1\n"
              "n3 NS ns1.n3.test.\nns1.n3 A 127.0.0.1\n");
    bed_zone_file("n3.test", "* A 127.0.0.3\n");
    bad_zone();
    bed_zone_file("child.test", "@ NS ns2.child.test.\nns2 A 127.0.0.2\n");
    bed_zone_file("short.test", "");
    snprintf(text, sizeof(text),
             "remote:\n  - id: secondary\n    address: 127.0.0.2@%d\n"
             "acl:\n  - id: xfr\n    address: 127.0.0.0/8\n"
             "    action: transfer\n", bed.port);
    bed_primary_conf(text,
        "  - id: n3\n    algorithm: ecdsap256sha256\n"
        "    dnskey-ttl: 10\n    zone-max-ttl: 10\n    nsec3: on\n"
        "    nsec3-iterations: 0\n    nsec3-salt-length: 0\n"
        "  - id: short\n    algorithm: ecdsap256sha256\n"
        "    dnskey-ttl: 10\n    zone-max-ttl: 10\n"
        "    propagation-delay: 1s\n    rrsig-lifetime: 60s\n"
        "    rrsig-refresh: 30s\n    rrsig-pre-refresh: 1s\n",
        "    acl: [xfr]\n    notify: secondary\n",
        "  - domain: short.test.\n    dnssec-signing: on\n"
        "    dnssec-policy: short\n"
        "  - domain: bad.test.\n    zonefile-load: whole\n"
        "  - domain: n3.test.\n    dnssec-signing: on\n"
        "    dnssec-policy: n3\n");
    snprintf(bed.sconf, sizeof(bed.sconf), "%s/sec/knot.conf", bed.dir);
    n = bed_prologue(text, sizeof(text), "/sec", "127.0.0.2");
    snprintf(text + n, sizeof(text) - n,
        "remote:\n  - id: primary\n    address: 127.0.0.1@%d\n"
        "acl:\n  - id: notify\n    address: 127.0.0.1\n    action: notify\n"
        "template:\n  - id: default\n    storage: \"%s/sec\"\n"
        "    file: \"%%s.zone\"\n"
        "zone:\n  - domain: child.test.\n    master: primary\n"
        "    acl: [notify]\n",
        bed.port, bed.dir);
    bed_put_text(bed.sconf, text);

    bed_start_knotd(&bed.prim, bed.pconf, "knotd.out", "127.0.0.1",
                    "test.");
    assert_true(proc_until(bed_has_dnskey, (void *)"child.test.", 15000));
    assert_true(proc_until(bed_has_dnskey, (void *)"short.test.", 15000));
    assert_true(proc_until(bed_has_dnskey, (void *)"test.", 15000));
    bed_start_knotd(&bed.sec, bed.sconf, "sec/knotd.out", "127.0.0.2",
                    "child.test.");
    assert_int_equal(kn_wait_serial("127.0.0.2", bed.port, "child.test.",
                                    bed_serial_of("127.0.0.1", "child.test."),
                                    15000), 0);

    bed_ds_of("child.test.", tag, alg, hex);
    bed_set_ds("child", tag, alg, hex);
    bed_ds_of("short.test.", tag, alg, hex);
    bed_set_ds("short", tag, alg, hex);
    assert_true(proc_until(bed_has_dnskey, (void *)"n3.test.", 15000));
    bed_ds_of("n3.test.", tag, alg, hex);
    bed_set_ds("n3", tag, alg, hex);
    assert_true(proc_until(bed_has_dnskey, (void *)"bad.test.", 15000));
    assert_int_equal(sscanf(bad_ds, "%*s %*s %*s DS %9s %9s %*s %199s", tag,
                            alg, hex), 3);
    bed_set_ds("bad", tag, alg, hex);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    bed_stop();
    return 0;
}

/* dnsviz's verdict on zone ("child.test.") from the test's primary, with
 * test.'s KSK as its trust anchor (the file start_unbound wrote), printed
 * beside keywarden's health for the agreement table in docs/testing.md. */
static void viz(const char *zone, const char *cas, ks_health kw,
                dv_verdict *v)
{
    char x1[100], x2[400], anchor[700];
    const char *xs[2] = { x1, x2 };
    static const char *const hn[] = { "ok", "warning", "critical" };

    assert_true(dv_available());
    snprintf(x1, sizeof(x1), "test.+:ns1.test=127.0.0.1:%d", bed.port);
    snprintf(x2, sizeof(x2), "%s:ns1.%s=127.0.0.1:%d", zone, zone, bed.port);
    snprintf(anchor, sizeof(anchor), "%s/test.anchor", bed.dir);
    assert_int_equal(dv_judge(bed.dir, anchor, xs, 2, zone, v), 0);
    fprintf(stderr, "agreement: %s | dnsviz %s (errors: %s; warnings: %s) "
            "| keywarden %s\n", cas, v->status,
            v->errors[0] ? v->errors : "none",
            v->warnings[0] ? v->warnings : "none",
            kw <= KS_HEALTH_CRITICAL ? hn[kw] : "unknown");
}

/* Secure: keywarden ok, unbound AD; both servers seen. */
static void test_secure(void **st)
{
    static kw_dnssec_live r;
    dv_verdict v;
    kwres cli;

    (void)st;
    bed_start_unbound();
    judge("child.test", NULL, time(NULL), &r);
    assert_int_equal(r.health, KS_HEALTH_OK);
    assert_int_equal(r.nfind, 0);
    assert_true(r.is_signed && r.has_ds);
    assert_true(r.serial[0] != 0 && r.serial[1] != 0);
    assert_int_equal(r.nds, 1);
    assert_true(r.ds[0].matched);
    assert_int_equal(bed_ub_verdict("www.child.test."), 1);
    viz("child.test.", "secure child", r.health, &v);
    assert_string_equal(v.status, "SECURE");
    assert_string_equal(v.errors, "");
    cli = kw_dnssec(0, NULL, "child.test");
    assert_contains(cli.out, "child.test: ok (signed, DS at the parent)");
    assert_contains(cli.out, "signs the DNSKEY set, named by the DS");
    kwres_free(&cli);
}

/* A secondary that holds an older serial is named. */
static void test_secondary_lags(void **st)
{
    static kw_dnssec_live r;
    const kw_dnssec_live_find *f;
    uint32_t before = bed_serial_of("127.0.0.1", "child.test.");
    char who[80];

    (void)st;
    assert_int_equal(bed_knotc(bed.sconf, "zone-freeze", "child.test.", NULL), 0);
    assert_int_equal(bed_knotc(bed.pconf, "zone-begin", "child.test.", NULL), 0);
    assert_int_equal(bed_knotc(bed.pconf, "zone-set", "child.test.", "new", "10",
                           "TXT", "lag", NULL), 0);
    assert_int_equal(bed_knotc(bed.pconf, "zone-commit", "child.test.", NULL), 0);
    assert_int_equal(kn_wait_serial("127.0.0.1", bed.port, "child.test.",
                                    before + 1, 10000), 0);
    judge("child.test", NULL, time(NULL), &r);
    assert_int_equal(r.health, KS_HEALTH_WARNING);
    f = has(&r, "soa.serial");
    assert_non_null(f);
    snprintf(who, sizeof(who), "127.0.0.2:%d", bed.port);
    assert_string_equal(f->server, who);
    assert_int_equal(bed_knotc(bed.sconf, "zone-thaw", "child.test.", NULL), 0);
    assert_int_equal(kn_wait_serial("127.0.0.2", bed.port, "child.test.",
                                    bed_serial_of("127.0.0.1", "child.test."),
                                    15000), 0);
    judge("child.test", NULL, time(NULL), &r);
    assert_int_equal(r.health, KS_HEALTH_OK);
}

/* A wrong DS: unbound SERVFAIL and keywarden critical together; the
 * DS keywarden says to submit makes both well again. */
static void test_wrong_ds(void **st)
{
    static kw_dnssec_live r;
    const kw_dnssec_live_find *f;
    char tag[10], alg[10], hex[200], z[300], t[10], a[10], dt[10], h[200];
    char zeros[65];
    dv_verdict v;
    kwres cli;

    (void)st;
    bed_ds_of("child.test.", tag, alg, hex);
    memset(zeros, '0', 64);
    zeros[64] = '\0';
    bed_set_ds("child", tag, alg, zeros);
    assert_int_equal(bed_ub_verdict("www.child.test."), 0);
    judge("child.test", NULL, time(NULL), &r);
    assert_int_equal(r.health, KS_HEALTH_CRITICAL);
    f = has(&r, "ds.mismatch");
    assert_non_null(f);
    assert_non_null(strstr(f->text, "SERVFAIL for the whole zone"));
    viz("child.test.", "wrong DS at the parent", r.health, &v);
    assert_string_equal(v.status, "BOGUS");
    assert_non_null(strstr(v.errors, "DIGEST_INVALID"));
    cli = kw_dnssec(2, "--json", "child.test");
    assert_contains(cli.out, "\"code\": \"ds.mismatch\"");
    assert_contains(cli.out, "\"health\": \"critical\"");
    kwres_free(&cli);
    /* The fix carries the DS to submit: put exactly that in. */
    h[0] = '\0';
    assert_int_equal(sscanf(strstr(f->fix, "with: ") + 6,
                            "%299s %*s %*s DS %9s %9s %9s %199s", z, t, a,
                            dt, h), 5);
    assert_string_equal(t, tag);
    assert_string_equal(h, hex);
    bed_set_ds("child", t, a, h);
    assert_int_equal(bed_ub_verdict("www.child.test."), 1);
    judge("child.test", NULL, time(NULL), &r);
    assert_int_equal(r.health, KS_HEALTH_OK);
}

/* short.test.'s signer frozen: warning, then critical, before unbound
 * fails; first on the pinned clock, then live until unbound fails. */
static void test_signer_stopped(void **st)
{
    static kw_dnssec_live r;
    kw_dnssec_live_params p = { 25, 12 };
    int64_t e, end, crit_at = 0, fail_at = 0;
    dv_verdict dv;

    (void)st;
    assert_int_equal(bed_knotc(bed.pconf, "zone-freeze", "short.test.", NULL), 0);
    judge("short.test", &p, time(NULL), &r);
    assert_int_equal(bed_ub_verdict("www.short.test."), 1);
    e = r.next_expiry;
    assert_true(e > time(NULL));
    judge("short.test", &p, e - 40, &r);
    assert_int_equal(r.health, KS_HEALTH_OK);
    judge("short.test", &p, e - 20, &r);
    assert_int_equal(r.health, KS_HEALTH_WARNING);
    assert_non_null(has(&r, "rrsig.expiring"));
    judge("short.test", &p, e - 5, &r);
    assert_int_equal(r.health, KS_HEALTH_CRITICAL);
    judge("short.test", &p, e + 1, &r);
    assert_non_null(has(&r, "rrsig.expired"));

    /* Live: poll both until unbound fails. */
    end = time(NULL) + 90;
    while (time(NULL) < end && fail_at == 0) {
        int v;

        judge("short.test", &p, time(NULL), &r);
        if (r.health == KS_HEALTH_CRITICAL && crit_at == 0)
            crit_at = time(NULL);
        v = bed_ub_verdict("www.short.test.");
        if (v == 0)
            fail_at = time(NULL);
        else
            poll(NULL, 0, 1000);
    }
    fprintf(stderr, "critical at %lld, unbound SERVFAIL at %lld\n",
            (long long)crit_at, (long long)fail_at);
    assert_true(fail_at != 0);
    assert_true(crit_at != 0 && crit_at < fail_at);
    judge("short.test", &p, time(NULL), &r);
    assert_non_null(has(&r, "rrsig.expired"));
    viz("short.test.", "signatures expired (signer frozen)", r.health,
        &dv);
    assert_string_equal(dv.status, "BOGUS");
    assert_non_null(strstr(dv.errors, "EXPIRATION_IN_PAST"));
    assert_int_equal(bed_knotc(bed.pconf, "zone-thaw", "short.test.", NULL), 0);
}

/* A server that never answers and one that answers garbage, given as
 * the zone's servers beside the primary: each named, the primary still
 * judged, the DS chain still checked. */
static void test_bad_servers(void **st)
{
    static kw_dnssec_live r;
    kn_fake silent, garbage;
    kw_dns_server list[3], prim_srv = { "127.0.0.1", 0 };
    kw_dnssec_live_where w = { 0 };
    kw_diag d = {{0}};
    char who[80];
    size_t i;

    (void)st;
    assert_int_equal(kn_fake_start("127.0.0.1", kn_free_port("127.0.0.1"),
                                   KN_FAKE_SILENT, &silent), 0);
    assert_int_equal(kn_fake_start("127.0.0.1", kn_free_port("127.0.0.1"),
                                   KN_FAKE_GARBAGE, &garbage), 0);
    prim_srv.port = bed.port;
    list[0] = prim_srv;
    snprintf(list[1].addr, sizeof(list[1].addr), "127.0.0.1");
    list[1].port = silent.port;
    snprintf(list[2].addr, sizeof(list[2].addr), "127.0.0.1");
    list[2].port = garbage.port;
    w.servers = list;
    w.nservers = 3;
    w.ds_server = &prim_srv;
    w.timeout_ms = 500;
    assert_int_equal(kw_dnssec_live_run("child.test", &w, NULL, time(NULL),
                                        &r, &d), 0);
    kn_fake_stop(&silent);
    kn_fake_stop(&garbage);
    for (i = 0; i < r.nfind; i++)
        fprintf(stderr, "  %d %s [%s] %s\n", r.find[i].severity,
                r.find[i].code, r.find[i].server, r.find[i].text);
    assert_int_equal(r.health, KS_HEALTH_WARNING);
    snprintf(who, sizeof(who), "127.0.0.1:%d", silent.port);
    assert_string_equal(has(&r, "server.noanswer")->server, who);
    assert_non_null(has(&r, "server.garbage"));
    assert_true(r.serial[0] != 0);
    assert_true(r.has_ds && r.ds[0].matched);
    assert_null(has(&r, "ds.mismatch"));
}

/* A sampled RRset with a broken signature: unbound SERVFAIL for that
 * name and type while the rest of the zone validates; keywarden critical,
 * naming the server and the record, and nothing else wrong. */
static void test_bogus_sample(void **st)
{
    static kw_dnssec_live r;
    const kw_dnssec_live_find *f;
    char who[80];
    dv_verdict v;
    kwres cli;

    (void)st;
    assert_int_equal(bed_ub_ask_type("bad.test.", LDNS_RR_TYPE_TXT, 1), 0);
    assert_int_equal(bed_ub_ask_type("www.bad.test.", LDNS_RR_TYPE_A, 1), 1);
    judge("bad.test", NULL, time(NULL), &r);
    assert_int_equal(r.health, KS_HEALTH_CRITICAL);
    assert_int_equal(r.nfind, 1);
    f = has(&r, "rrsig.bad");
    assert_non_null(f);
    assert_string_equal(f->record, "bad.test. TXT");
    snprintf(who, sizeof(who), "127.0.0.1:%d", bed.port);
    assert_string_equal(f->server, who);
    assert_true(r.has_ds && r.ds[0].matched);
    viz("bad.test.", "apex TXT altered after signing", r.health, &v);
    assert_non_null(strstr(v.errors, "SIGNATURE_INVALID"));
    cli = kw_dnssec(2, "--json", "bad.test");
    assert_contains(cli.out, "\"record\": \"bad.test. TXT\"");
    kwres_free(&cli);
}

/* NSEC3 (Knot, 0 iterations, no salt) and a wildcard: the sample's name
 * answered from the wildcard, its signature verified as expanded, no
 * finding, unbound secure. */
static void test_nsec3(void **st)
{
    static kw_dnssec_live r;

    (void)st;
    judge("n3.test", NULL, time(NULL), &r);
    assert_int_equal(r.health, KS_HEALTH_OK);
    assert_int_equal(r.nfind, 0);
    assert_int_equal(bed_ub_verdict("www.n3.test."), 1);
}

/* Several zones at once: each result in its place, the zone that cannot
 * be checked (no such delegation) its own error. */
static void test_run_many(void **st)
{
    static kw_dnssec_live_res outs[4];
    const char *zones[4] = { "child.test", "bad.test", "missing.test",
                             "n3.test" };
    kw_dns_server prim_srv = { "127.0.0.1", 0 };
    kw_dnssec_live_where w = { 0 };
    kw_diag d = {{0}};

    (void)st;
    prim_srv.port = bed.port;
    w.resolver = &prim_srv;
    w.port = bed.port;
    w.ds_server = &prim_srv;
    w.timeout_ms = 2000;
    assert_int_equal(kw_dnssec_live_run_many(zones, 4, &w, NULL, time(NULL),
                                             2, outs, &d), 0);
    assert_int_equal(outs[0].rc, 0);
    assert_int_equal(outs[0].live.health, KS_HEALTH_OK);
    assert_int_equal(outs[1].rc, 0);
    assert_int_equal(outs[1].live.health, KS_HEALTH_CRITICAL);
    assert_string_equal(outs[1].live.find[0].record, "bad.test. TXT");
    assert_true(outs[2].rc != 0);
    fprintf(stderr, "missing.test: %s\n", outs[2].diag.msg);
    assert_non_null(strstr(outs[2].diag.msg, "missing.test"));
    assert_int_equal(outs[3].rc, 0);
    assert_int_equal(outs[3].live.health, KS_HEALTH_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secure),
        cmocka_unit_test(test_secondary_lags),
        cmocka_unit_test(test_wrong_ds),
        cmocka_unit_test(test_bad_servers),
        cmocka_unit_test(test_bogus_sample),
        cmocka_unit_test(test_nsec3),
        cmocka_unit_test(test_run_many),
        cmocka_unit_test(test_signer_stopped),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
