/*
 * test_dnssec_live.c: the judge of dnssec_live.h over answers made here
 * with ldns (real keys, real signatures, times chosen per case), one case
 * per finding, and the pinned clock walking a signature to its expiry.
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

#include "dnssec/dnssec_live.h"

#define ZONE "child.test"
#define NOW  1800000000
#define DAY  86400

typedef struct zkeys {
    ldns_key *ksk, *zsk;
    ldns_rr *ksk_rr, *zsk_rr;
} zkeys;

static ldns_key *mk(ldns_signing_algorithm alg, int bits, int flags,
                    int64_t inc, int64_t exp)
{
    ldns_key *k = ldns_key_new_frm_algorithm(alg, (uint16_t)bits);
    ldns_rr *rr;

    assert_non_null(k);
    ldns_key_set_pubkey_owner(k, ldns_dname_new_frm_str(ZONE "."));
    ldns_key_set_flags(k, (uint16_t)flags);
    ldns_key_set_inception(k, (uint32_t)inc);
    ldns_key_set_expiration(k, (uint32_t)exp);
    rr = ldns_key2rr(k);
    ldns_key_set_keytag(k, ldns_calc_keytag(rr));
    ldns_rr_free(rr);
    return k;
}

static void zkeys_make(zkeys *z, ldns_signing_algorithm alg, int bits,
                       int64_t exp)
{
    z->ksk = mk(alg, bits, 257, NOW - 3600, exp);
    z->zsk = mk(alg, bits, 256, NOW - 3600, exp);
    z->ksk_rr = ldns_key2rr(z->ksk);
    z->zsk_rr = ldns_key2rr(z->zsk);
}

static void zkeys_free(zkeys *z)
{
    ldns_key_deep_free(z->ksk);
    ldns_key_deep_free(z->zsk);
    ldns_rr_free(z->ksk_rr);
    ldns_rr_free(z->zsk_rr);
}

/* A wire answer to ZONE/type: rrs and their signatures by signer (NULL:
 * unsigned); tamper alters the data after signing. */
static void answer(kw_dnssec_ans *a, ldns_rr_type type, ldns_rr_list *rrs,
                   ldns_key *signer, int tamper)
{
    ldns_pkt *p = ldns_pkt_query_new(ldns_dname_new_frm_str(ZONE "."), type,
                                     LDNS_RR_CLASS_IN, 0);
    ldns_rr_list *sigs = NULL;
    size_t i;

    ldns_pkt_set_qr(p, 1);
    ldns_pkt_set_aa(p, 1);
    if (signer != NULL) {
        ldns_key_list *kl = ldns_key_list_new();

        ldns_key_list_push_key(kl, signer);
        sigs = ldns_sign_public(rrs, kl);
        assert_non_null(sigs);
        /* The list borrows the key: empty it before freeing it. */
        ldns_key_list_set_key_count(kl, 0);
        ldns_key_list_free(kl);
    }
    for (i = 0; i < ldns_rr_list_rr_count(rrs); i++) {
        ldns_rr *c = ldns_rr_clone(ldns_rr_list_rr(rrs, i));

        if (tamper && i == 0)
            ldns_rr_set_ttl(c, ldns_rr_ttl(c) + 1),
                ldns_rdf_deep_free(ldns_rr_set_rdf(
                    c, ldns_native2rdf_int32(LDNS_RDF_TYPE_INT32, 999), 2));
        ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, c);
    }
    for (i = 0; sigs && i < ldns_rr_list_rr_count(sigs); i++)
        ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER,
                         ldns_rr_clone(ldns_rr_list_rr(sigs, i)));
    assert_int_equal(ldns_pkt2wire(&a->wire, p, &a->len), LDNS_STATUS_OK);
    a->rc = 0;
    ldns_rr_list_deep_free(sigs);
    ldns_pkt_free(p);
}

static ldns_rr_list *rrs_of(const char *line)
{
    ldns_rr_list *l = ldns_rr_list_new();
    ldns_rr *rr = NULL;

    assert_int_equal(ldns_rr_new_frm_str(&rr, line, 0, NULL, NULL),
                     LDNS_STATUS_OK);
    ldns_rr_list_push_rr(l, rr);
    return l;
}

typedef struct srv_opts {
    uint32_t serial;
    int tamper_soa;     /* SOA altered after signing */
    int unsigned_zone;  /* no DNSKEY, no RRSIG */
    const char *nsec3;  /* NSEC3PARAM rdata, or NULL: none (NODATA) */
    ldns_key *zsk_over; /* sign SOA/NS with this key instead */
    ldns_rr *cds_of;    /* publish CDS and CDNSKEY of this key */
    const char *cds_rr; /* or this one CDS record */
} srv_opts;

/* The CDS and CDNSKEY answers of server i (NODATA unless so asks). */
static void cds_answers(kw_dnssec_obs *o, size_t i, const zkeys *z,
                        const srv_opts *so)
{
    ldns_rr_list *cds = ldns_rr_list_new(), *cdn = ldns_rr_list_new();

    if (so->cds_of != NULL) {
        ldns_rr *ds = ldns_key_rr2ds(so->cds_of, LDNS_SHA256);
        ldns_rr *k = ldns_rr_clone(so->cds_of);

        ldns_rr_set_type(ds, LDNS_RR_TYPE_CDS);
        ldns_rr_set_type(k, LDNS_RR_TYPE_CDNSKEY);
        ldns_rr_list_push_rr(cds, ds);
        ldns_rr_list_push_rr(cdn, k);
    } else if (so->cds_rr != NULL) {
        ldns_rr_list_deep_free(cds);
        cds = rrs_of(so->cds_rr);
    }
    answer(&o->srv[i].a[KW_DNSSEC_Q_CDS], LDNS_RR_TYPE_CDS, cds,
           ldns_rr_list_rr_count(cds) ? z->ksk : NULL, 0);
    answer(&o->srv[i].a[KW_DNSSEC_Q_CDNSKEY], LDNS_RR_TYPE_CDNSKEY, cdn,
           ldns_rr_list_rr_count(cdn) ? z->ksk : NULL, 0);
    ldns_rr_list_deep_free(cds);
    ldns_rr_list_deep_free(cdn);
}

static void server(kw_dnssec_obs *o, const char *name, const zkeys *z,
                   const srv_opts *so)
{
    size_t i = o->nservers++;
    char soa[200];
    ldns_rr_list *l;
    ldns_key *zsk = so->zsk_over ? so->zsk_over : z->zsk;

    snprintf(o->srv[i].name, sizeof(o->srv[i].name), "%s", name);
    snprintf(soa, sizeof(soa), ZONE ". 10 IN SOA ns1." ZONE ". h." ZONE
             ". %u 60 60 600 10", so->serial);
    l = rrs_of(soa);
    answer(&o->srv[i].a[KW_DNSSEC_Q_SOA], LDNS_RR_TYPE_SOA, l,
           so->unsigned_zone ? NULL : zsk, so->tamper_soa);
    ldns_rr_list_deep_free(l);
    l = ldns_rr_list_new();
    if (!so->unsigned_zone) {
        ldns_rr_list_push_rr(l, ldns_rr_clone(z->ksk_rr));
        ldns_rr_list_push_rr(l, ldns_rr_clone(z->zsk_rr));
    }
    answer(&o->srv[i].a[KW_DNSSEC_Q_DNSKEY], LDNS_RR_TYPE_DNSKEY, l,
           so->unsigned_zone ? NULL : z->ksk, 0);
    ldns_rr_list_deep_free(l);
    l = rrs_of(ZONE ". 10 IN NS ns1." ZONE ".");
    answer(&o->srv[i].a[KW_DNSSEC_Q_NS], LDNS_RR_TYPE_NS, l,
           so->unsigned_zone ? NULL : zsk, 0);
    ldns_rr_list_deep_free(l);
    if (so->nsec3 != NULL) {
        char line[200];

        snprintf(line, sizeof(line), ZONE ". 0 IN NSEC3PARAM %s",
                 so->nsec3);
        l = rrs_of(line);
    } else {
        l = ldns_rr_list_new();
    }
    answer(&o->srv[i].a[KW_DNSSEC_Q_NSEC3PARAM], LDNS_RR_TYPE_NSEC3PARAM,
           l, so->unsigned_zone || so->nsec3 == NULL ? NULL : zsk, 0);
    ldns_rr_list_deep_free(l);
    cds_answers(o, i, z, so);
}

/* The parent's DS answer: a DS of each key given, digest type dt. */
static void parent_ds(kw_dnssec_obs *o, ldns_rr *k1, ldns_rr *k2,
                      ldns_hash dt)
{
    ldns_rr_list *l = ldns_rr_list_new();

    snprintf(o->ds_from, sizeof(o->ds_from), "127.0.0.9:53");
    if (k1 != NULL)
        ldns_rr_list_push_rr(l, ldns_key_rr2ds(k1, dt));
    if (k2 != NULL)
        ldns_rr_list_push_rr(l, ldns_key_rr2ds(k2, dt));
    answer(&o->ds, LDNS_RR_TYPE_DS, l, NULL, 0);
    ldns_rr_list_deep_free(l);
}

static kw_dnssec_obs *obs_new(void)
{
    kw_dnssec_obs *o = calloc(1, sizeof(*o));

    assert_non_null(o);
    snprintf(o->zone, sizeof(o->zone), ZONE);
    return o;
}

/* Frees the answers and starts again with no server. */
static void obs_reset(kw_dnssec_obs *o)
{
    kw_dnssec_obs_free(o);
    memset(o, 0, sizeof(*o));
    snprintf(o->zone, sizeof(o->zone), ZONE);
}

static void obs_done(kw_dnssec_obs *o)
{
    kw_dnssec_obs_free(o);
    free(o);
}

/* One server with a signed zone (serial 5, signatures until exp) and the
 * parent's DS of its KSK with digest dt. */
static kw_dnssec_obs *signed_zone(zkeys *z, ldns_signing_algorithm alg,
                                  int bits, int64_t exp, ldns_hash dt)
{
    kw_dnssec_obs *o = obs_new();
    srv_opts so = { .serial = 5 };

    zkeys_make(z, alg, bits, exp);
    server(o, "127.0.0.1:53", z, &so);
    parent_ds(o, z->ksk_rr, NULL, dt);
    return o;
}

static void done(kw_dnssec_obs *o, zkeys *z)
{
    zkeys_free(z);
    obs_done(o);
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

static void dump(const kw_dnssec_live *r)
{
    size_t i;

    for (i = 0; i < r->nfind; i++)
        fprintf(stderr, "  %d %s [%s] %s: %s | fix: %s\n",
                r->find[i].severity, r->find[i].code, r->find[i].server,
                r->find[i].record, r->find[i].text, r->find[i].fix);
}

static kw_dnssec_live res;

static void judge(const kw_dnssec_obs *o, int64_t now)
{
    kw_dnssec_live_judge(o, NULL, now, &res);
    dump(&res);
}

static void test_secure(void **st)
{
    kw_dnssec_obs *o = obs_new();
    zkeys z;
    srv_opts so = { .serial = 5 };

    (void)st;
    zkeys_make(&z, LDNS_SIGN_ECDSAP256SHA256, 256, NOW + 30 * DAY);
    server(o, "127.0.0.1:53", &z, &so);
    server(o, "127.0.0.2:53", &z, &so);
    parent_ds(o, z.ksk_rr, NULL, LDNS_SHA256);
    judge(o, NOW);
    assert_int_equal(res.health, KS_HEALTH_OK);
    assert_int_equal(res.nfind, 0);
    assert_true(res.is_signed && res.has_ds);
    assert_int_equal(res.nkeys, 2);
    assert_int_equal(res.nds, 1);
    assert_true(res.ds[0].matched);
    assert_int_equal(res.next_expiry, NOW + 30 * DAY);
    done(o, &z);
}

static void test_wrong_ds(void **st)
{
    kw_dnssec_obs *o = obs_new();
    zkeys z, other;
    srv_opts so = { .serial = 5 };
    const kw_dnssec_live_find *f;

    (void)st;
    zkeys_make(&z, LDNS_SIGN_ECDSAP256SHA256, 256, NOW + 30 * DAY);
    zkeys_make(&other, LDNS_SIGN_ECDSAP256SHA256, 256, NOW + 30 * DAY);
    server(o, "127.0.0.1:53", &z, &so);
    parent_ds(o, other.ksk_rr, NULL, LDNS_SHA256);
    judge(o, NOW);
    assert_int_equal(res.health, KS_HEALTH_CRITICAL);
    f = has(&res, "ds.mismatch");
    assert_non_null(f);
    assert_non_null(strstr(f->text, "SERVFAIL for the whole zone"));
    /* The fix names the DS of the real KSK. */
    assert_non_null(strstr(f->fix, "IN\tDS"));
    assert_int_equal(has(&res, "ds.nokey")->severity, KS_HEALTH_CRITICAL);

    /* A DS that matches the ZSK (which does not sign DNSKEY) is no chain
     * either. */
    obs_reset(o);
    server(o, "127.0.0.1:53", &z, &so);
    parent_ds(o, z.zsk_rr, NULL, LDNS_SHA256);
    judge(o, NOW);
    assert_non_null(has(&res, "ds.mismatch"));

    /* A stale DS beside the right one: resolvers still validate. */
    obs_reset(o);
    server(o, "127.0.0.1:53", &z, &so);
    parent_ds(o, z.ksk_rr, other.ksk_rr, LDNS_SHA256);
    judge(o, NOW);
    assert_int_equal(res.health, KS_HEALTH_WARNING);
    assert_null(has(&res, "ds.mismatch"));
    assert_int_equal(has(&res, "ds.nokey")->severity, KS_HEALTH_WARNING);
    zkeys_free(&z);
    zkeys_free(&other);
    obs_done(o);
}

static void test_sha1_only(void **st)
{
    zkeys z;
    kw_dnssec_obs *o = signed_zone(&z, LDNS_SIGN_ECDSAP256SHA256, 256,
                                   NOW + 30 * DAY, LDNS_SHA1);

    (void)st;
    judge(o, NOW);
    assert_int_equal(res.health, KS_HEALTH_WARNING);
    assert_non_null(has(&res, "ds.sha1"));
    done(o, &z);
}

/* The clock walks towards the expiry: ok, warning, critical, expired. */
static void test_expiry_clock(void **st)
{
    zkeys z;
    int64_t exp = NOW + 30 * DAY;
    kw_dnssec_obs *o = signed_zone(&z, LDNS_SIGN_ECDSAP256SHA256, 256, exp,
                                   LDNS_SHA256);
    kw_dnssec_live_params p = { 2 * 3600, 3600 };

    (void)st;
    judge(o, exp - 8 * DAY);
    assert_int_equal(res.health, KS_HEALTH_OK);
    judge(o, exp - 5 * DAY);
    assert_int_equal(res.health, KS_HEALTH_WARNING);
    assert_non_null(has(&res, "rrsig.expiring"));
    assert_string_equal(has(&res, "rrsig.expiring")->server, "127.0.0.1:53");
    judge(o, exp - 2 * DAY);
    assert_int_equal(res.health, KS_HEALTH_CRITICAL);
    assert_int_equal(has(&res, "rrsig.expiring")->severity,
                     KS_HEALTH_CRITICAL);
    judge(o, exp + 1);
    assert_non_null(has(&res, "rrsig.expired"));
    /* Thresholds from the caller. */
    kw_dnssec_live_judge(o, &p, exp - 3 * 3600, &res);
    assert_int_equal(res.health, KS_HEALTH_OK);
    kw_dnssec_live_judge(o, &p, exp - 90 * 60, &res);
    assert_int_equal(res.health, KS_HEALTH_WARNING);
    kw_dnssec_live_judge(o, &p, exp - 30 * 60, &res);
    assert_int_equal(res.health, KS_HEALTH_CRITICAL);
    /* Before the inception, no signature counts yet. */
    judge(o, NOW - 2 * 3600);
    assert_non_null(has(&res, "rrsig.future"));
    done(o, &z);
}

static void test_bad_signature(void **st)
{
    kw_dnssec_obs *o = obs_new();
    zkeys z, other;
    srv_opts good = { .serial = 5 }, bad = { .serial = 5, .tamper_soa = 1 };
    srv_opts foreign = { .serial = 5 };
    const kw_dnssec_live_find *f;

    (void)st;
    zkeys_make(&z, LDNS_SIGN_ECDSAP256SHA256, 256, NOW + 30 * DAY);
    zkeys_make(&other, LDNS_SIGN_ECDSAP256SHA256, 256, NOW + 30 * DAY);
    foreign.zsk_over = other.zsk;
    server(o, "127.0.0.1:53", &z, &good);
    server(o, "127.0.0.2:53", &z, &bad);
    server(o, "127.0.0.3:53", &z, &foreign);
    parent_ds(o, z.ksk_rr, NULL, LDNS_SHA256);
    judge(o, NOW);
    assert_int_equal(res.health, KS_HEALTH_CRITICAL);
    f = has(&res, "rrsig.bad");
    assert_non_null(f);
    assert_string_equal(f->server, "127.0.0.2:53");
    assert_string_equal(f->record, ZONE ". SOA");
    f = has(&res, "rrsig.nokey");
    assert_non_null(f);
    assert_string_equal(f->server, "127.0.0.3:53");
    zkeys_free(&z);
    zkeys_free(&other);
    obs_done(o);
}

static void test_serial_lag(void **st)
{
    kw_dnssec_obs *o = obs_new();
    zkeys z;
    srv_opts a = { .serial = 7 }, b = { .serial = 6 };
    const kw_dnssec_live_find *f;

    (void)st;
    zkeys_make(&z, LDNS_SIGN_ECDSAP256SHA256, 256, NOW + 30 * DAY);
    server(o, "127.0.0.1:53", &z, &a);
    server(o, "127.0.0.2:53", &z, &b);
    parent_ds(o, z.ksk_rr, NULL, LDNS_SHA256);
    judge(o, NOW);
    assert_int_equal(res.health, KS_HEALTH_WARNING);
    f = has(&res, "soa.serial");
    assert_non_null(f);
    assert_string_equal(f->server, "127.0.0.2:53");
    assert_non_null(strstr(f->text, "serial 6"));
    done(o, &z);
}

static void test_unsigned_and_island(void **st)
{
    kw_dnssec_obs *o = obs_new();
    zkeys z;
    srv_opts u = { .serial = 5, .unsigned_zone = 1 }, s = { .serial = 5 };

    (void)st;
    zkeys_make(&z, LDNS_SIGN_ECDSAP256SHA256, 256, NOW + 30 * DAY);
    server(o, "127.0.0.1:53", &z, &u);
    parent_ds(o, z.ksk_rr, NULL, LDNS_SHA256);
    judge(o, NOW);
    assert_int_equal(res.health, KS_HEALTH_CRITICAL);
    assert_non_null(has(&res, "ds.unsigned"));

    obs_reset(o);
    server(o, "127.0.0.1:53", &z, &s);
    parent_ds(o, NULL, NULL, LDNS_SHA256);
    judge(o, NOW);
    assert_int_equal(res.health, KS_HEALTH_WARNING);
    assert_non_null(has(&res, "ds.island"));
    assert_non_null(strstr(has(&res, "ds.island")->fix, "DS"));

    /* Unsigned and no DS: nothing to say. */
    obs_reset(o);
    server(o, "127.0.0.1:53", &z, &u);
    parent_ds(o, NULL, NULL, LDNS_SHA256);
    judge(o, NOW);
    assert_int_equal(res.health, KS_HEALTH_OK);
    done(o, &z);
}

static void test_weak_algorithms(void **st)
{
    zkeys z;
    kw_dnssec_obs *o = signed_zone(&z, LDNS_SIGN_RSASHA1, 1024,
                                   NOW + 30 * DAY, LDNS_SHA256);
    const kw_dnssec_live_find *f;

    (void)st;
    judge(o, NOW);
    assert_int_equal(res.health, KS_HEALTH_WARNING);
    f = has(&res, "alg.deprecated");
    assert_non_null(f);
    assert_non_null(strstr(f->text, "RSASHA1"));
    f = has(&res, "alg.weak");
    assert_non_null(f);
    assert_non_null(strstr(f->text, "1024"));
    done(o, &z);
}

/* A silent server and a garbage answer are named; the rest is judged. */
static void test_bad_servers(void **st)
{
    kw_dnssec_obs *o = obs_new();
    zkeys z;
    srv_opts so = { .serial = 5 };
    size_t i;
    int q;

    (void)st;
    zkeys_make(&z, LDNS_SIGN_ECDSAP256SHA256, 256, NOW + 30 * DAY);
    server(o, "127.0.0.1:53", &z, &so);
    i = o->nservers++;
    snprintf(o->srv[i].name, sizeof(o->srv[i].name), "127.0.0.5:53");
    for (q = 0; q < KW_DNSSEC_Q_N; q++) {
        o->srv[i].a[q].rc = -110;
        snprintf(o->srv[i].a[q].err, sizeof(o->srv[i].a[q].err),
                 "no answer within 3000 ms");
    }
    i = o->nservers++;
    snprintf(o->srv[i].name, sizeof(o->srv[i].name), "127.0.0.6:53");
    for (q = 0; q < KW_DNSSEC_Q_N; q++) {
        o->srv[i].a[q].wire = malloc(5);
        memcpy(o->srv[i].a[q].wire, "\x12\x34\x84\x00\x00", 5);
        o->srv[i].a[q].len = 5;
    }
    parent_ds(o, z.ksk_rr, NULL, LDNS_SHA256);
    judge(o, NOW);
    assert_int_equal(res.health, KS_HEALTH_WARNING);
    assert_string_equal(has(&res, "server.noanswer")->server, "127.0.0.5:53");
    assert_string_equal(has(&res, "server.garbage")->server, "127.0.0.6:53");
    assert_true(res.ds[0].matched);

    /* No DS answer at all: said, not taken for an island. */
    free(o->ds.wire);
    o->ds.wire = NULL;
    o->ds.rc = -110;
    judge(o, NOW);
    assert_non_null(has(&res, "ds.noanswer"));
    assert_null(has(&res, "ds.island"));
    /* Garbage from the parent side is said as such. */
    o->ds.rc = KW_EPARSE;
    judge(o, NOW);
    assert_non_null(has(&res, "ds.garbage"));
    assert_null(has(&res, "ds.noanswer"));
    done(o, &z);
}

/* RFC 9276: NSEC3 with iterations or a salt; 0 and none is fine. */
static void test_nsec3(void **st)
{
    kw_dnssec_obs *o = obs_new();
    zkeys z;
    srv_opts bad = { .serial = 5, .nsec3 = "1 0 151 aabbccdd" };
    srv_opts good = { .serial = 5, .nsec3 = "1 0 0 -" };
    const kw_dnssec_live_find *f;

    (void)st;
    zkeys_make(&z, LDNS_SIGN_ECDSAP256SHA256, 256, NOW + 30 * DAY);
    server(o, "127.0.0.1:53", &z, &bad);
    parent_ds(o, z.ksk_rr, NULL, LDNS_SHA256);
    judge(o, NOW);
    assert_int_equal(res.health, KS_HEALTH_WARNING);
    f = has(&res, "nsec3.params");
    assert_non_null(f);
    assert_non_null(strstr(f->text, "151 extra iteration(s)"));
    assert_non_null(strstr(f->text, "salt of 4 octet(s)"));
    obs_reset(o);
    server(o, "127.0.0.1:53", &z, &good);
    parent_ds(o, z.ksk_rr, NULL, LDNS_SHA256);
    judge(o, NOW);
    assert_int_equal(res.health, KS_HEALTH_OK);
    done(o, &z);
}

static size_t key_at(const kw_dnssec_live *r, unsigned tag)
{
    size_t i;

    for (i = 0; i < r->nkeys; i++)
        if (r->keys[i].tag == tag)
            return i;
    fail_msg("no key %u", tag);
    return 0;
}

/* RFC 7344/8078: CDS/CDNSKEY naming the KSK on both servers; one server
 * without them; a CDS for a key nobody publishes; the delete form. */
static void test_cds(void **st)
{
    kw_dnssec_obs *o = obs_new();
    zkeys z, other;
    srv_opts so = { .serial = 5 }, none = { .serial = 5 };
    unsigned ksk, zsk;
    char line[300];

    (void)st;
    zkeys_make(&z, LDNS_SIGN_ECDSAP256SHA256, 256, NOW + 30 * DAY);
    zkeys_make(&other, LDNS_SIGN_ECDSAP256SHA256, 256, NOW + 30 * DAY);
    ksk = ldns_calc_keytag(z.ksk_rr);
    zsk = ldns_calc_keytag(z.zsk_rr);
    so.cds_of = z.ksk_rr;
    server(o, "127.0.0.1:53", &z, &so);
    server(o, "127.0.0.2:53", &z, &so);
    parent_ds(o, z.ksk_rr, NULL, LDNS_SHA256);
    judge(o, NOW);
    assert_int_equal(res.health, KS_HEALTH_OK);
    assert_true(res.cds_published);
    assert_false(res.cds_inconsistent || res.cds_delete);
    assert_true(res.keys[key_at(&res, ksk)].cds);
    assert_true(res.keys[key_at(&res, ksk)].cdnskey);
    assert_false(res.keys[key_at(&res, zsk)].cds);
    assert_false(res.keys[key_at(&res, zsk)].cdnskey);

    /* The second server publishes none: not the same set. */
    obs_reset(o);
    server(o, "127.0.0.1:53", &z, &so);
    server(o, "127.0.0.2:53", &z, &none);
    parent_ds(o, z.ksk_rr, NULL, LDNS_SHA256);
    judge(o, NOW);
    assert_true(res.cds_inconsistent);
    assert_string_equal(has(&res, "cds.inconsistent")->server,
                        "127.0.0.2:53");
    assert_int_equal(res.health, KS_HEALTH_WARNING);

    /* None anywhere: nothing published, nothing said. */
    obs_reset(o);
    server(o, "127.0.0.1:53", &z, &none);
    parent_ds(o, z.ksk_rr, NULL, LDNS_SHA256);
    judge(o, NOW);
    assert_false(res.cds_published);
    assert_false(res.keys[key_at(&res, ksk)].cds);
    assert_int_equal(res.nfind, 0);

    /* A CDS and CDNSKEY of a key the zone does not publish. */
    obs_reset(o);
    so.cds_of = other.ksk_rr;
    server(o, "127.0.0.1:53", &z, &so);
    parent_ds(o, z.ksk_rr, NULL, LDNS_SHA256);
    judge(o, NOW);
    assert_non_null(has(&res, "cds.nokey"));
    assert_false(res.keys[key_at(&res, ksk)].cds);

    /* RFC 8078's delete request. */
    obs_reset(o);
    so.cds_of = NULL;
    snprintf(line, sizeof(line), ZONE ". 0 IN CDS 0 0 0 00");
    so.cds_rr = line;
    server(o, "127.0.0.1:53", &z, &so);
    parent_ds(o, z.ksk_rr, NULL, LDNS_SHA256);
    judge(o, NOW);
    assert_true(res.cds_published && res.cds_delete);
    assert_null(has(&res, "cds.nokey"));
    zkeys_free(&other);
    done(o, &z);
}

/* The parent's DS TTL, and the negative TTL (RFC 2308) without a DS. */
static void test_ds_ttl(void **st)
{
    kw_dnssec_obs *o = obs_new();
    zkeys z;
    srv_opts so = { .serial = 5 };
    ldns_pkt *p;
    ldns_rr *soa = NULL;

    (void)st;
    zkeys_make(&z, LDNS_SIGN_ECDSAP256SHA256, 256, NOW + 30 * DAY);
    server(o, "127.0.0.1:53", &z, &so);
    {
        ldns_rr_list *l = ldns_rr_list_new();
        ldns_rr *ds = ldns_key_rr2ds(z.ksk_rr, LDNS_SHA256);

        ldns_rr_set_ttl(ds, 1234);
        ldns_rr_list_push_rr(l, ds);
        answer(&o->ds, LDNS_RR_TYPE_DS, l, NULL, 0);
        ldns_rr_list_deep_free(l);
    }
    judge(o, NOW);
    assert_int_equal(res.ds_ttl, 1234);

    /* NODATA with the parent's SOA: the lower of its TTL and minimum. */
    free(o->ds.wire);
    p = ldns_pkt_query_new(ldns_dname_new_frm_str(ZONE "."),
                           LDNS_RR_TYPE_DS, LDNS_RR_CLASS_IN, 0);
    ldns_pkt_set_qr(p, 1);
    ldns_pkt_set_aa(p, 1);
    assert_int_equal(ldns_rr_new_frm_str(&soa, "test. 900 IN SOA ns.test. "
                                         "h.test. 1 60 60 600 300", 0, NULL,
                                         NULL), LDNS_STATUS_OK);
    ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY, soa);
    assert_int_equal(ldns_pkt2wire(&o->ds.wire, p, &o->ds.len),
                     LDNS_STATUS_OK);
    ldns_pkt_free(p);
    judge(o, NOW);
    assert_false(res.has_ds);
    assert_int_equal(res.ds_ttl, 300);

    /* No answer: not known. */
    free(o->ds.wire);
    o->ds.wire = NULL;
    o->ds.rc = -110;
    judge(o, NOW);
    assert_int_equal(res.ds_ttl, -1);
    done(o, &z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secure),
        cmocka_unit_test(test_wrong_ds),
        cmocka_unit_test(test_sha1_only),
        cmocka_unit_test(test_expiry_clock),
        cmocka_unit_test(test_bad_signature),
        cmocka_unit_test(test_serial_lag),
        cmocka_unit_test(test_unsigned_and_island),
        cmocka_unit_test(test_weak_algorithms),
        cmocka_unit_test(test_bad_servers),
        cmocka_unit_test(test_nsec3),
        cmocka_unit_test(test_cds),
        cmocka_unit_test(test_ds_ttl),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
