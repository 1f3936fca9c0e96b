/*
 * test_dane_judge.c: kw_dane_judge on hand-made observations: answers
 * built as a resolver and authoritative servers send them (ldns), chains
 * and certificate files made at test time.  Each case is one way a DANE
 * deployment is right or breaks, and the finding (code, severity, server,
 * fix) it must produce.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <ldns/ldns.h>
#include <openssl/x509.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netdb.h>
#include "dane/dane_check.h"
#include "dane/dane_match.h"
#include "testpki.h"
#include "tmpdir.h"

#define NOW 1800000000LL
#define QNAME "_25._tcp.mx.example.test."

static EVP_PKEY *ca_k, *leaf_k, *new_k;
static X509 *ca, *leaf, *fresh;
static char r_leaf[80], r_fresh[80], r_ca[80];

static int setup(void **st)
{
    static const char *const names[] = { "mx.example.test", NULL };
    tp_spec s = { 0 };

    (void)st;
    ca_k = tp_key_ec();
    leaf_k = tp_key_ec();
    new_k = tp_key_ec();
    s.cn = "CA";
    s.is_ca = 1;
    s.serial = 1;
    s.not_before = NOW - 86400;
    s.not_after = NOW + 900 * 86400;
    s.key = ca_k;
    ca = tp_cert(&s);
    s.cn = "mx.example.test";
    s.dns = names;
    s.is_ca = 0;
    s.key = leaf_k;
    s.issuer = ca;
    s.issuer_key = ca_k;
    leaf = tp_cert(&s);
    /* The renewal on disk, with a new key. */
    s.key = new_k;
    fresh = tp_cert(&s);
    assert_int_equal(kw_dane_tlsa_text_for(leaf, 3, 1, 1, r_leaf,
                                           sizeof(r_leaf), NULL), 0);
    assert_int_equal(kw_dane_tlsa_text_for(fresh, 3, 1, 1, r_fresh,
                                           sizeof(r_fresh), NULL), 0);
    assert_int_equal(kw_dane_tlsa_text_for(ca, 2, 1, 1, r_ca, sizeof(r_ca),
                                           NULL), 0);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    X509_free(ca);
    X509_free(leaf);
    X509_free(fresh);
    EVP_PKEY_free(ca_k);
    EVP_PKEY_free(leaf_k);
    EVP_PKEY_free(new_k);
    return 0;
}

/* An answer to QNAME TLSA: rcode, AD, AA and the records' RDATA texts
 * (NULL-terminated list, "3 1 1 HEX"). */
static void answer(kw_dnssec_ans *a, int rcode, int ad, int aa,
                   const char *const *recs)
{
    ldns_pkt *p = ldns_pkt_new();
    ldns_rr *q = NULL;
    size_t i;

    assert_non_null(p);
    ldns_pkt_set_qr(p, 1);
    ldns_pkt_set_ad(p, (bool)ad);
    ldns_pkt_set_aa(p, (bool)aa);
    ldns_pkt_set_rcode(p, (uint8_t)rcode);
    assert_int_equal(ldns_rr_new_question_frm_str(&q, QNAME " IN TLSA",
                                                  NULL, NULL),
                     LDNS_STATUS_OK);
    ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, q);
    for (i = 0; recs != NULL && recs[i] != NULL; i++) {
        char text[600];
        ldns_rr *rr = NULL;

        snprintf(text, sizeof(text), QNAME " 300 IN TLSA %s", recs[i]);
        assert_int_equal(ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL),
                         LDNS_STATUS_OK);
        ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
    }
    memset(a, 0, sizeof(*a));
    assert_int_equal(ldns_pkt2wire(&a->wire, p, &a->len), LDNS_STATUS_OK);
    ldns_pkt_free(p);
}

/* The resolver's answer to mx.example.test A: rcode, AD, one address
 * unless rcode says otherwise. */
static void addr_answer(kw_dnssec_ans *a, int rcode, int ad)
{
    ldns_pkt *p = ldns_pkt_new();
    ldns_rr *q = NULL, *rr = NULL;

    assert_non_null(p);
    ldns_pkt_set_qr(p, 1);
    ldns_pkt_set_ad(p, (bool)ad);
    ldns_pkt_set_rcode(p, (uint8_t)rcode);
    assert_int_equal(ldns_rr_new_question_frm_str(&q, "mx.example.test. IN A",
                                                  NULL, NULL),
                     LDNS_STATUS_OK);
    ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, q);
    if (rcode == LDNS_RCODE_NOERROR) {
        assert_int_equal(ldns_rr_new_frm_str(&rr, "mx.example.test. 300 IN "
                                             "A 192.0.2.25", 0, NULL, NULL),
                         LDNS_STATUS_OK);
        ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
    }
    memset(a, 0, sizeof(*a));
    assert_int_equal(ldns_pkt2wire(&a->wire, p, &a->len), LDNS_STATUS_OK);
    ldns_pkt_free(p);
}

static void chain(kw_dane_chain *c, X509 *const *xs, size_t n)
{
    size_t i;

    memset(c, 0, sizeof(*c));
    for (i = 0; i < n; i++) {
        unsigned char *der = NULL;
        int len = i2d_X509(xs[i], &der);

        assert_true(len > 0);
        c->der[i] = der;
        c->len[i] = (size_t)len;
    }
    c->n = n;
}

/* An observation: the resolver's answer, the servers' (all the same
 * records unless one is given for the second), the served chain. */
static void obs_make(kw_dane_obs *o, int rcode, int ad,
                     const char *const *recs, const char *const *second)
{
    X509 *served[] = { leaf, ca };

    memset(o, 0, sizeof(*o));
    snprintf(o->host, sizeof(o->host), "mx.example.test");
    o->port = 25;
    snprintf(o->qname, sizeof(o->qname), "_25._tcp.mx.example.test");
    snprintf(o->zone, sizeof(o->zone), "example.test");
    snprintf(o->resolver, sizeof(o->resolver), "127.0.0.1:53");
    answer(&o->res, rcode, ad, 0, recs);
    o->nservers = 2;
    snprintf(o->srv[0].name, sizeof(o->srv[0].name), "127.0.0.1:5300");
    snprintf(o->srv[1].name, sizeof(o->srv[1].name), "127.0.0.2:5300");
    answer(&o->srv[0].ans, 0, 0, 1, recs);
    answer(&o->srv[1].ans, 0, 0, 1, second != NULL ? second : recs);
    o->probed = 1;
    o->npeers = 1;
    snprintf(o->peer[0].address, sizeof(o->peer[0].address), "127.0.0.1");
    chain(&o->peer[0].chain, served, 2);
}

static void disk(kw_dane_obs *o, X509 *x)
{
    X509 *xs[] = { x, ca };

    snprintf(o->disk_path, sizeof(o->disk_path), "/etc/ssl/mx.pem");
    chain(&o->disk, xs, 2);
}

static const kw_dnssec_live_find *find(const kw_dane_result *r,
                                       const char *code)
{
    size_t i;

    for (i = 0; i < r->nfind; i++)
        if (strcmp(r->find[i].code, code) == 0)
            return &r->find[i];
    return NULL;
}

static void dump(const kw_dane_result *r)
{
    size_t i;

    for (i = 0; i < r->nfind; i++)
        fprintf(stderr, "  %d %s [%s] %s: %s | %s\n", r->find[i].severity,
                r->find[i].code, r->find[i].server, r->find[i].record,
                r->find[i].text, r->find[i].fix);
}

/* Judges o, frees it, checks the health and (code != NULL) that the
 * finding is there with that severity; returns the result. */
static kw_dane_result *judge(kw_dane_obs *o, ks_health health,
                             const char *code, ks_health sev)
{
    static kw_dane_result r;
    const kw_dnssec_live_find *f;

    kw_dane_judge(o, NOW, &r);
    kw_dane_obs_free(o);
    if (r.health != health) {
        dump(&r);
        fail_msg("health %d, want %d", r.health, health);
    }
    if (code != NULL) {
        f = find(&r, code);
        if (f == NULL || f->severity != sev) {
            dump(&r);
            fail_msg("no %s finding of severity %d", code, sev);
        }
    }
    return &r;
}

static void test_none(void **st)
{
    kw_dane_obs o;
    kw_dane_result *r;

    (void)st;
    obs_make(&o, LDNS_RCODE_NXDOMAIN, 1, NULL, NULL);
    r = judge(&o, KS_HEALTH_OK, "dane.none", KS_HEALTH_OK);
    assert_int_equal(r->dnssec, KW_DANE_SECURE);
    assert_int_equal(r->nfind, 1);
}

static void test_match(void **st)
{
    const char *recs[] = { r_leaf, NULL };
    kw_dane_obs o;
    kw_dane_result *r;

    (void)st;
    obs_make(&o, 0, 1, recs, NULL);
    disk(&o, leaf);
    r = judge(&o, KS_HEALTH_OK, NULL, KS_HEALTH_OK);
    assert_int_equal(r->nfind, 0);
    assert_int_equal(r->nrec, 1);
    assert_true(r->rec[0].usable && r->rec[0].served_match &&
                r->rec[0].disk_match);
    assert_true(r->served_ok && r->disk_ok);
    assert_string_equal(r->served_311, r_leaf);
}

static void test_no_match(void **st)
{
    const char *recs[] = { r_fresh, NULL };
    const kw_dnssec_live_find *f;
    kw_dane_obs o;
    kw_dane_result *r;

    (void)st;
    obs_make(&o, 0, 1, recs, NULL);
    r = judge(&o, KS_HEALTH_CRITICAL, "dane.nomatch", KS_HEALTH_CRITICAL);
    f = find(r, "dane.nomatch");
    assert_non_null(strstr(f->text, "defer all mail"));
    assert_non_null(strstr(f->fix, r_leaf));
    assert_false(r->rec[0].served_match);
}

/* The served chain matches, the file that the next reload serves does
 * not: critical now, with the record to publish. */
static void test_reload(void **st)
{
    const char *recs[] = { r_leaf, NULL };
    const char *both[] = { r_leaf, r_fresh, NULL };
    const kw_dnssec_live_find *f;
    kw_dane_obs o;
    kw_dane_result *r;
    char want[120];

    (void)st;
    obs_make(&o, 0, 1, recs, NULL);
    disk(&o, fresh);
    r = judge(&o, KS_HEALTH_CRITICAL, "dane.reload", KS_HEALTH_CRITICAL);
    f = find(r, "dane.reload");
    snprintf(want, sizeof(want), "publish TLSA %s first", r_fresh);
    assert_non_null(strstr(f->fix, want));
    assert_non_null(strstr(f->text, "/etc/ssl/mx.pem"));
    assert_non_null(strstr(f->text, "while the served one does"));
    assert_null(find(r, "dane.nomatch"));
    assert_string_equal(r->disk_311, r_fresh);
    /* Published beside the old one: all well, before and after. */
    obs_make(&o, 0, 1, both, NULL);
    disk(&o, fresh);
    r = judge(&o, KS_HEALTH_OK, NULL, KS_HEALTH_OK);
    assert_int_equal(r->nfind, 0);
    /* Deployed and reloaded but the record still the old key's: the
     * served chain matches nothing, the reload is not the way out. */
    obs_make(&o, 0, 1, recs, NULL);
    kw_dane_chain_free(&o.peer[0].chain);
    {
        X509 *xs[] = { fresh, ca };

        chain(&o.peer[0].chain, xs, 2);
    }
    disk(&o, fresh);
    r = judge(&o, KS_HEALTH_CRITICAL, "dane.nomatch", KS_HEALTH_CRITICAL);
    assert_non_null(strstr(find(r, "dane.reload")->text, "either"));
}

static void test_insecure(void **st)
{
    const char *recs[] = { r_fresh, NULL };
    const kw_dnssec_live_find *f;
    kw_dane_obs o;
    kw_dane_result *r;

    (void)st;
    obs_make(&o, 0, 0, recs, NULL);
    r = judge(&o, KS_HEALTH_WARNING, "dane.insecure", KS_HEALTH_WARNING);
    assert_int_equal(r->dnssec, KW_DANE_INSECURE);
    f = find(r, "dane.insecure");
    assert_non_null(strstr(f->text, "worthless"));
    /* The mismatch is named, but it defers nothing yet. */
    assert_int_equal(find(r, "dane.nomatch")->severity, KS_HEALTH_WARNING);
}

static void test_bogus(void **st)
{
    const char *recs[] = { r_leaf, NULL };
    kw_dane_obs o;
    kw_dane_result *r;

    (void)st;
    obs_make(&o, 0, 0, recs, NULL);
    free(o.res.wire);
    answer(&o.res, LDNS_RCODE_SERVFAIL, 0, 0, NULL);
    r = judge(&o, KS_HEALTH_CRITICAL, "dane.bogus", KS_HEALTH_CRITICAL);
    assert_int_equal(r->dnssec, KW_DANE_BOGUS);
    /* What the servers publish is still shown, and matched. */
    assert_int_equal(r->nrec, 1);
    assert_true(r->rec[0].served_match);
}

static void test_disagree(void **st)
{
    const char *recs[] = { r_leaf, NULL };
    const char *two[] = { r_leaf, r_fresh, NULL };
    const kw_dnssec_live_find *f;
    kw_dane_obs o;
    kw_dane_result *r;

    (void)st;
    obs_make(&o, 0, 1, recs, two);
    r = judge(&o, KS_HEALTH_WARNING, "dane.disagree", KS_HEALTH_WARNING);
    f = find(r, "dane.disagree");
    assert_string_equal(f->server, "127.0.0.2:5300");
    assert_int_equal(r->nfind, 1);
    /* Another record in place of the resolver's. */
    {
        const char *other[] = { r_fresh, NULL };

        obs_make(&o, 0, 1, recs, other);
        r = judge(&o, KS_HEALTH_WARNING, "dane.disagree", KS_HEALTH_WARNING);
    }
    /* A server that has not got the record yet (none at all). */
    {
        const char *none[] = { NULL };

        obs_make(&o, 0, 1, recs, none);
        r = judge(&o, KS_HEALTH_WARNING, "dane.disagree", KS_HEALTH_WARNING);
        assert_non_null(strstr(find(r, "dane.disagree")->text,
                               "serves 0 TLSA records, not the 1"));
    }
    /* The same set in another order is the same RRset. */
    {
        const char *a[] = { r_leaf, r_fresh, NULL };
        const char *b[] = { r_fresh, r_leaf, NULL };

        obs_make(&o, 0, 1, a, b);
        r = judge(&o, KS_HEALTH_OK, NULL, KS_HEALTH_OK);
        assert_int_equal(r->nfind, 0);
    }
    /* A server that answers without authority (a lame delegation). */
    obs_make(&o, 0, 1, recs, NULL);
    free(o.srv[0].ans.wire);
    answer(&o.srv[0].ans, 0, 0, 0, NULL);
    r = judge(&o, KS_HEALTH_WARNING, "dane.server", KS_HEALTH_WARNING);
    assert_string_equal(find(r, "dane.server")->server, "127.0.0.1:5300");
    /* And one that does not answer. */
    obs_make(&o, 0, 1, recs, NULL);
    free(o.srv[1].ans.wire);
    o.srv[1].ans.wire = NULL;
    o.srv[1].ans.rc = KW_ETIMEDOUT;
    snprintf(o.srv[1].ans.err, sizeof(o.srv[1].ans.err), "timed out");
    r = judge(&o, KS_HEALTH_WARNING, "dane.server", KS_HEALTH_WARNING);
    assert_non_null(strstr(find(r, "dane.server")->text, "timed out"));
}

static void test_usages(void **st)
{
    const char *ta[] = { r_ca, NULL };
    char pkix[80], bad[80];
    const char *p[] = { pkix, NULL };
    const char *b[] = { bad, r_leaf, NULL };
    kw_dane_obs o;
    kw_dane_result *r;

    (void)st;
    /* 2 1 1 of the CA: matches, warned about. */
    obs_make(&o, 0, 1, ta, NULL);
    r = judge(&o, KS_HEALTH_WARNING, "tlsa.ta", KS_HEALTH_WARNING);
    assert_true(r->served_ok);
    assert_null(find(r, "dane.nomatch"));
    /* 1 1 1 of the leaf: matches, but no SMTP sender uses it. */
    snprintf(pkix, sizeof(pkix), "1%s", r_leaf + 1);
    obs_make(&o, 0, 1, p, NULL);
    r = judge(&o, KS_HEALTH_WARNING, "tlsa.pkix", KS_HEALTH_WARNING);
    assert_non_null(strstr(find(r, "tlsa.pkix")->text, "RFC 7672"));
    assert_non_null(find(r, "dane.unusable"));
    assert_true(r->rec[0].served_match);
    assert_false(r->served_ok);
    /* A digest of the wrong length beside a good record. */
    snprintf(bad, sizeof(bad), "3 1 1 abcdef");
    obs_make(&o, 0, 1, b, NULL);
    r = judge(&o, KS_HEALTH_WARNING, "tlsa.unusable", KS_HEALTH_WARNING);
    assert_non_null(strstr(find(r, "tlsa.unusable")->text, "SHA-256"));
    assert_true(r->served_ok);
}

/* The host's address: bogus, the sender cannot find the host at all;
 * merely insecure (a CNAME into an unsigned zone), the secure TLSA
 * records still rule (as Postfix's posttls-finger shows in
 * test_dane_check). */
static void test_address(void **st)
{
    const char *recs[] = { r_fresh, NULL };
    const char *good[] = { r_leaf, NULL };
    kw_dane_obs o;

    (void)st;
    obs_make(&o, 0, 1, recs, NULL);
    addr_answer(&o.addr[0], LDNS_RCODE_NOERROR, 1);
    (void)judge(&o, KS_HEALTH_CRITICAL, "dane.nomatch", KS_HEALTH_CRITICAL);
    obs_make(&o, 0, 1, recs, NULL);
    addr_answer(&o.addr[0], LDNS_RCODE_NOERROR, 0);
    (void)judge(&o, KS_HEALTH_CRITICAL, "dane.nomatch", KS_HEALTH_CRITICAL);
    obs_make(&o, 0, 1, good, NULL);
    addr_answer(&o.addr[0], LDNS_RCODE_SERVFAIL, 0);
    (void)judge(&o, KS_HEALTH_CRITICAL, "dane.addr.bogus",
                KS_HEALTH_CRITICAL);
    /* No TLSA: the address's state is not DANE's business. */
    obs_make(&o, 0, 1, NULL, NULL);
    addr_answer(&o.addr[0], LDNS_RCODE_SERVFAIL, 0);
    (void)judge(&o, KS_HEALTH_OK, "dane.none", KS_HEALTH_OK);
}

/* The MX sets naming the host (kw_dane_mx_apply): a stale record is
 * critical when some domain's MX lookup is secure, a warning led by
 * dane.mx.insecure when only insecure ones name the host; a bogus MX
 * set is critical even beside a secure one; an address that does not
 * validate stays critical; no TLSA record, no insecure finding. */
static void test_mx_security(void **st)
{
    const char *stale[] = { r_fresh, NULL };
    const char *good[] = { r_leaf, NULL };
    const kw_dnssec_live_find *f;
    kw_dane_result *r;
    kw_dane_obs o;

    (void)st;
    obs_make(&o, 0, 1, stale, NULL);
    r = judge(&o, KS_HEALTH_CRITICAL, "dane.nomatch", KS_HEALTH_CRITICAL);
    kw_dane_mx_apply(r, "a.test", "b.test", NULL);
    assert_int_equal(r->health, KS_HEALTH_CRITICAL);
    assert_int_equal(find(r, "dane.nomatch")->severity, KS_HEALTH_CRITICAL);
    f = find(r, "dane.mx.secure");
    assert_non_null(f);
    assert_non_null(strstr(f->text, "MX lookup for a.test is secure"));
    assert_null(find(r, "dane.mx.insecure"));

    obs_make(&o, 0, 1, stale, NULL);
    r = judge(&o, KS_HEALTH_CRITICAL, "dane.nomatch", KS_HEALTH_CRITICAL);
    kw_dane_mx_apply(r, "", "b.test", NULL);
    assert_int_equal(r->health, KS_HEALTH_WARNING);
    assert_string_equal(r->find[0].code, "dane.mx.insecure");
    assert_non_null(strstr(r->find[0].text, "the MX lookup for b.test is "
                           "insecure: DANE senders ignore these TLSA "
                           "records (sign b.test or"));
    assert_int_equal(find(r, "dane.nomatch")->severity, KS_HEALTH_WARNING);

    obs_make(&o, 0, 1, good, NULL);
    r = judge(&o, KS_HEALTH_OK, NULL, KS_HEALTH_OK);
    kw_dane_mx_apply(r, "a.test", NULL, "c.test");
    assert_int_equal(r->health, KS_HEALTH_CRITICAL);
    f = find(r, "dane.mx.bogus");
    assert_non_null(f);
    assert_non_null(strstr(f->text, "DANE senders defer all mail for "
                           "c.test: its MX RRset does not validate"));

    obs_make(&o, 0, 1, good, NULL);
    addr_answer(&o.addr[0], LDNS_RCODE_SERVFAIL, 0);
    r = judge(&o, KS_HEALTH_CRITICAL, "dane.addr.bogus", KS_HEALTH_CRITICAL);
    kw_dane_mx_apply(r, NULL, "b.test", NULL);
    assert_int_equal(r->health, KS_HEALTH_CRITICAL);

    obs_make(&o, 0, 0, NULL, NULL);
    r = judge(&o, KS_HEALTH_OK, "dane.none", KS_HEALTH_OK);
    kw_dane_mx_apply(r, NULL, "b.test", NULL);
    assert_int_equal(r->health, KS_HEALTH_OK);
    assert_null(find(r, "dane.mx.insecure"));
}

/* Two addresses, the second serving the renewal's key: the record
 * matches one, so the second is critical by name and the first is not;
 * the record does not count as matching "the served chain". */
static void test_two_addresses(void **st)
{
    const char *recs[] = { r_leaf, NULL };
    const kw_dnssec_live_find *f;
    X509 *xs[] = { fresh, ca };
    kw_dane_obs o;
    kw_dane_result *r;
    size_t i, n = 0;

    (void)st;
    obs_make(&o, 0, 1, recs, NULL);
    o.npeers = 2;
    snprintf(o.peer[1].address, sizeof(o.peer[1].address), "2001:db8::25");
    chain(&o.peer[1].chain, xs, 2);
    r = judge(&o, KS_HEALTH_CRITICAL, "dane.nomatch", KS_HEALTH_CRITICAL);
    f = find(r, "dane.nomatch");
    assert_string_equal(f->server, "2001:db8::25");
    assert_non_null(strstr(f->fix, r_fresh));
    for (i = 0; i < r->nfind; i++)
        n += strcmp(r->find[i].code, "dane.nomatch") == 0;
    assert_int_equal(n, 1);
    assert_false(r->served_ok);
    assert_false(r->rec[0].served_match);
    assert_int_equal(r->npeers, 2);
    assert_true(r->peer[0].ok);
    assert_false(r->peer[1].ok);
    assert_string_equal(r->peer[1].served_311, r_fresh);
    /* One address silent, the other matching: unknown, not critical. */
    obs_make(&o, 0, 1, recs, NULL);
    o.npeers = 2;
    snprintf(o.peer[1].address, sizeof(o.peer[1].address), "192.0.2.26");
    snprintf(o.peer[1].err, sizeof(o.peer[1].err), "port 25: refused");
    r = judge(&o, KS_HEALTH_UNKNOWN, "dane.probe", KS_HEALTH_UNKNOWN);
    assert_string_equal(find(r, "dane.probe")->server, "192.0.2.26");
    assert_true(r->served_ok);
    assert_true(r->rec[0].served_match);
}

static void test_unknown(void **st)
{
    const char *recs[] = { r_leaf, NULL };
    kw_dane_obs o;
    kw_dane_result *r;

    (void)st;
    obs_make(&o, 0, 1, recs, NULL);
    kw_dane_chain_free(&o.peer[0].chain);
    snprintf(o.peer[0].err, sizeof(o.peer[0].err), "connection refused");
    r = judge(&o, KS_HEALTH_UNKNOWN, "dane.probe", KS_HEALTH_UNKNOWN);
    assert_non_null(strstr(find(r, "dane.probe")->text, "refused"));
    obs_make(&o, 0, 1, recs, NULL);
    free(o.res.wire);
    memset(&o.res, 0, sizeof(o.res));
    o.res.rc = KW_ETIMEDOUT;
    r = judge(&o, KS_HEALTH_UNKNOWN, "dane.resolver", KS_HEALTH_UNKNOWN);
    /* Garbage from the resolver is no verdict either. */
    obs_make(&o, 0, 1, recs, NULL);
    o.res.len = 5;
    r = judge(&o, KS_HEALTH_UNKNOWN, "dane.resolver", KS_HEALTH_UNKNOWN);
    /* Critical outranks unknown. */
    obs_make(&o, 0, 1, recs, NULL);
    disk(&o, fresh);
    kw_dane_chain_free(&o.peer[0].chain);
    snprintf(o.peer[0].err, sizeof(o.peer[0].err), "timed out");
    r = judge(&o, KS_HEALTH_CRITICAL, "dane.reload", KS_HEALTH_CRITICAL);
}

/* The certificate file: PEM chains in file order, a DER certificate,
 * and the faults named with the path. */
static void test_read_chain(void **st)
{
    char dir[512], path[600];
    X509 *xs[] = { fresh, ca };
    kw_dane_chain c;
    kw_diag d = {{0}};
    unsigned char *der;
    size_t len;

    (void)st;
    tmpdir_make(dir, sizeof(dir), "dane_read");
    path_join(path, sizeof(path), dir, "full.pem");
    assert_int_equal(tp_write_pem(path, xs, 2, new_k, 0600), 0);
    assert_int_equal(kw_dane_read_chain(path, &c, &d), 0);
    assert_int_equal(c.n, 2);
    der = tp_der(fresh, &len);
    assert_int_equal(c.len[0], len);
    assert_memory_equal(c.der[0], der, len);
    OPENSSL_free(der);
    kw_dane_chain_free(&c);
    path_join(path, sizeof(path), dir, "leaf.der");
    assert_int_equal(tp_write_der(path, leaf), 0);
    assert_int_equal(kw_dane_read_chain(path, &c, &d), 0);
    assert_int_equal(c.n, 1);
    kw_dane_chain_free(&c);
    path_join(path, sizeof(path), dir, "garbage");
    assert_int_equal(tp_write_bytes(path, "not a certificate\n", 18, 0644),
                     0);
    assert_int_equal(kw_dane_read_chain(path, &c, &d), KW_EPARSE);
    assert_non_null(strstr(d.msg, path));
    assert_int_equal(c.n, 0);
    path_join(path, sizeof(path), dir, "missing.pem");
    assert_true(kw_dane_read_chain(path, &c, &d) < 0);
    assert_non_null(strstr(d.msg, "missing.pem"));
    /* A file past the limit is refused before it is read. */
    path_join(path, sizeof(path), dir, "big.pem");
    {
        FILE *f = fopen(path, "w");

        assert_non_null(f);
        assert_int_equal(fseek(f, 2 * 1024 * 1024, SEEK_SET), 0);
        fputc('x', f);
        fclose(f);
    }
    assert_int_equal(kw_dane_read_chain(path, &c, &d), KW_ETOOBIG);
    tmpdir_remove(dir);
}

/* The system resolver as the rollover's probe sees it: "many.test" has
 * more addresses than the probe covers; every other name is the real
 * getaddrinfo's. */
#define MANY_ADDRS (KW_DANE_SERVED_ADDRS_MAX + 1)
static struct addrinfo many_ai[MANY_ADDRS];
static struct sockaddr_in many_sa[MANY_ADDRS];

int getaddrinfo(const char *node, const char *service,
                const struct addrinfo *hints, struct addrinfo **res)
{
    int (*real)(const char *, const char *, const struct addrinfo *,
                struct addrinfo **);

    if (node != NULL && strcmp(node, "many.test") == 0) {
        for (int i = 0; i < MANY_ADDRS; i++) {
            memset(&many_ai[i], 0, sizeof(many_ai[i]));
            memset(&many_sa[i], 0, sizeof(many_sa[i]));
            many_sa[i].sin_family = AF_INET;
            many_sa[i].sin_addr.s_addr = htonl(0x7f000001u + (unsigned)i);
            many_ai[i].ai_family = AF_INET;
            many_ai[i].ai_socktype = SOCK_STREAM;
            many_ai[i].ai_addr = (struct sockaddr *)&many_sa[i];
            many_ai[i].ai_addrlen = sizeof(many_sa[i]);
            many_ai[i].ai_next = i + 1 < MANY_ADDRS ? &many_ai[i + 1] : NULL;
        }
        *res = &many_ai[0];
        return 0;
    }
    *(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
    return real(node, service, hints, res);
}

void freeaddrinfo(struct addrinfo *ai)
{
    void (*real)(struct addrinfo *);

    if (ai == &many_ai[0])
        return;
    *(void **)&real = dlsym(RTLD_NEXT, "freeaddrinfo");
    real(ai);
}

/* The rollover's probe proves every address or none: a host with more
 * addresses than it covers is refused, naming the count, not proven by
 * its first few (an unprobed one may serve the old key when the old
 * record goes). */
static void test_served_many_addresses(void **state)
{
    kw_diag d = {{0}};

    (void)state;
    assert_int_equal(kw_dane_served("many.test", 1, 0, NULL,
                                    "3 1 1 00", 2000, NULL, 0, &d),
                     KW_ETOOBIG);
    assert_non_null(strstr(d.msg, "has 33 addresses"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_none),
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_no_match),
        cmocka_unit_test(test_reload),
        cmocka_unit_test(test_insecure),
        cmocka_unit_test(test_bogus),
        cmocka_unit_test(test_disagree),
        cmocka_unit_test(test_usages),
        cmocka_unit_test(test_address),
        cmocka_unit_test(test_two_addresses),
        cmocka_unit_test(test_mx_security),
        cmocka_unit_test(test_unknown),
        cmocka_unit_test(test_read_chain),
        cmocka_unit_test(test_served_many_addresses),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
