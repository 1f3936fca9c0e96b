/*
 * test_dnssec_live_sample.c: the judge of dnssec_live.h over the sample of
 * a zone's RRsets (apex A, AAAA, MX, TXT, the denial of a name that does
 * not exist), with answers made by tests/integration/zsign.c from a zone
 * signed here as a server would send them: one case per way a sampled
 * RRset goes bogus, and the clock walking a sampled signature to expiry.
 * Also kw_dnssec_live_run_many: zones that fail alone, and every result
 * in its place, against servers that refuse connections.
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
#include "tests/integration/zsign.h"

#define ZONE "child.test"
#define NOW  1800000000
#define DAY  86400
#define LABEL "kw-000000000000"

static const char *const records =
    "@ SOA ns1 h 5 60 60 600 10\n"
    "@ NS ns1\n"
    "@ A 192.0.2.1\n"
    "@ MX 10 mail\n"
    "@ TXT \"v=spf1 -all\"\n"
    "ns1 A 192.0.2.2\n"
    "mail A 192.0.2.3\n";

static void put(const zs_zone *z, const char *name, int type,
                kw_dnssec_ans *a)
{
    a->rc = zs_answer(z, name, type, &a->wire, &a->len);
    assert_int_equal(a->rc, 0);
}

/* obs of one server (127.0.0.1:53) serving z, and its DS at the parent. */
static kw_dnssec_obs *observe(const zs_zone *z)
{
    kw_dnssec_obs *o = calloc(1, sizeof(*o));
    ldns_pkt *p;
    ldns_rr *ds;
    size_t s;
    int q;

    assert_non_null(o);
    snprintf(o->zone, sizeof(o->zone), ZONE);
    kw_dnssec_sample_names(o, LABEL);
    o->nservers = 1;
    snprintf(o->srv[0].name, sizeof(o->srv[0].name), "127.0.0.1:53");
    for (q = 0; q < KW_DNSSEC_Q_N; q++)
        put(z, ZONE, kw_dnssec_q_type((kw_dnssec_q)q), &o->srv[0].a[q]);
    for (s = 0; s < o->nsample; s++)
        put(z, o->sample_name[s], o->sample_type[s], &o->srv[0].sample[s]);
    snprintf(o->ds_from, sizeof(o->ds_from), "127.0.0.9:53");
    p = ldns_pkt_query_new(ldns_dname_new_frm_str(ZONE "."),
                           LDNS_RR_TYPE_DS, LDNS_RR_CLASS_IN, 0);
    ldns_pkt_set_qr(p, 1);
    ds = ldns_key_rr2ds(z->dnskey, LDNS_SHA256);
    ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, ds);
    assert_int_equal(ldns_pkt2wire(&o->ds.wire, p, &o->ds.len),
                     LDNS_STATUS_OK);
    ldns_pkt_free(p);
    return o;
}

static void obs_done(kw_dnssec_obs *o)
{
    kw_dnssec_obs_free(o);
    free(o);
}

static kw_dnssec_live res;

static const kw_dnssec_live_find *find(const char *code, const char *rec)
{
    size_t i;

    for (i = 0; i < res.nfind; i++)
        if (strcmp(res.find[i].code, code) == 0 &&
            (rec == NULL || strstr(res.find[i].record, rec) != NULL))
            return &res.find[i];
    return NULL;
}

static void judge(const kw_dnssec_obs *o, int64_t now)
{
    size_t i;

    kw_dnssec_live_judge(o, NULL, now, &res);
    for (i = 0; i < res.nfind; i++)
        fprintf(stderr, "  %d %s [%s] %s: %s\n", res.find[i].severity,
                res.find[i].code, res.find[i].server, res.find[i].record,
                res.find[i].text);
}

static void sign(zs_zone *z)
{
    assert_int_equal(zs_sign(ZONE, records, NOW - 3600, NOW + 30 * DAY, z),
                     0);
}

/* The sample's questions: the four apex types, then the denial. */
static void test_sample_names(void **st)
{
    kw_dnssec_obs *o = calloc(1, sizeof(*o));
    char longzone[250];

    (void)st;
    snprintf(o->zone, sizeof(o->zone), ZONE);
    kw_dnssec_sample_names(o, LABEL);
    assert_int_equal(o->nsample, 5);
    assert_string_equal(o->sample_name[0], ZONE);
    assert_int_equal(o->sample_type[0], LDNS_RR_TYPE_A);
    assert_int_equal(o->sample_type[1], LDNS_RR_TYPE_AAAA);
    assert_int_equal(o->sample_type[2], LDNS_RR_TYPE_MX);
    assert_int_equal(o->sample_type[3], LDNS_RR_TYPE_TXT);
    assert_string_equal(o->sample_name[4], LABEL "." ZONE);
    /* A name that cannot take the label goes without the denial. */
    memset(longzone, 'a', sizeof(longzone) - 1);
    longzone[sizeof(longzone) - 1] = '\0';
    snprintf(o->zone, sizeof(o->zone), "%s", longzone);
    kw_dnssec_sample_names(o, LABEL);
    assert_int_equal(o->nsample, 4);
    free(o);
}

/* A healthy zone: nothing to say, and the sample was judged (its
 * signatures' expiry is the one seen); AAAA has no data and is skipped. */
static void test_secure(void **st)
{
    zs_zone z;
    kw_dnssec_obs *o;

    (void)st;
    sign(&z);
    o = observe(&z);
    judge(o, NOW);
    assert_int_equal(res.health, KS_HEALTH_OK);
    assert_int_equal(res.nfind, 0);
    assert_int_equal(res.next_expiry, NOW + 30 * DAY);
    obs_done(o);
    zs_free(&z);
}

/* TXT altered under its old signature: critical, naming the server and
 * the record; the rest of the sample is fine. */
static void test_bogus_txt(void **st)
{
    zs_zone z;
    kw_dnssec_obs *o;
    const kw_dnssec_live_find *f;

    (void)st;
    sign(&z);
    assert_int_equal(zs_tamper(&z, ZONE, LDNS_RR_TYPE_TXT, "\"altered\""),
                     0);
    o = observe(&z);
    judge(o, NOW);
    assert_int_equal(res.health, KS_HEALTH_CRITICAL);
    f = find("rrsig.bad", NULL);
    assert_non_null(f);
    assert_string_equal(f->record, ZONE ". TXT");
    assert_string_equal(f->server, "127.0.0.1:53");
    assert_int_equal(res.nfind, 1);
    obs_done(o);
    zs_free(&z);
}

/* MX served without its RRSIG: critical. */
static void test_missing_mx_sig(void **st)
{
    zs_zone z;
    kw_dnssec_obs *o;

    (void)st;
    sign(&z);
    assert_int_equal(zs_strip(&z, ZONE, LDNS_RR_TYPE_MX), 0);
    o = observe(&z);
    judge(o, NOW);
    assert_int_equal(res.health, KS_HEALTH_CRITICAL);
    assert_non_null(find("rrsig.missing", ZONE ". MX"));
    obs_done(o);
    zs_free(&z);
}

/* The denial: its NSEC altered, then stripped of its RRSIG, then signed
 * but not covering the name, then gone. */
static void test_denial(void **st)
{
    zs_zone z;
    kw_dnssec_obs *o;
    const kw_dnssec_live_find *f;
    size_t s;

    (void)st;
    /* The NSEC that covers kw-0... under the zone is the apex's (the
     * next name is mail). */
    sign(&z);
    assert_int_equal(zs_tamper(&z, ZONE, LDNS_RR_TYPE_NSEC,
                               "zzz." ZONE ". A NS SOA MX TXT RRSIG NSEC "
                               "DNSKEY"), 0);
    o = observe(&z);
    judge(o, NOW);
    assert_int_equal(res.health, KS_HEALTH_CRITICAL);
    f = find("rrsig.bad", "NSEC");
    assert_non_null(f);
    assert_string_equal(f->record, ZONE ". NSEC (denial)");
    obs_done(o);
    zs_free(&z);

    sign(&z);
    assert_int_equal(zs_strip(&z, ZONE, LDNS_RR_TYPE_NSEC), 0);
    o = observe(&z);
    judge(o, NOW);
    assert_non_null(find("rrsig.missing", ZONE ". NSEC (denial"));
    obs_done(o);
    zs_free(&z);

    /* A validly signed NSEC chain that no longer covers the name (the
     * apex's next name set to aaa and signed again): bogus. */
    sign(&z);
    assert_int_equal(zs_tamper(&z, ZONE, LDNS_RR_TYPE_NSEC,
                               "aaa." ZONE ". A NS SOA MX TXT RRSIG NSEC "
                               "DNSKEY"), 0);
    assert_int_equal(zs_resign(&z, ZONE, LDNS_RR_TYPE_NSEC, NOW - 3600,
                               NOW + 30 * DAY), 0);
    o = observe(&z);
    judge(o, NOW);
    assert_int_equal(res.health, KS_HEALTH_CRITICAL);
    assert_int_equal(res.nfind, 1);
    f = find("denial.bogus", ZONE ". NSEC (denial)");
    assert_non_null(f);
    assert_non_null(strstr(f->text, LABEL "." ZONE "."));
    obs_done(o);
    zs_free(&z);

    /* An NXDOMAIN with the SOA only. */
    sign(&z);
    o = observe(&z);
    s = o->nsample - 1;
    free(o->srv[0].sample[s].wire);
    o->srv[0].sample[s].wire = NULL;
    {
        ldns_pkt *p = ldns_pkt_query_new(
            ldns_dname_new_frm_str(LABEL "." ZONE "."), LDNS_RR_TYPE_A,
            LDNS_RR_CLASS_IN, 0);
        ldns_rr *soa = ldns_rr_clone(ldns_zone_soa(z.z));

        ldns_pkt_set_qr(p, 1);
        ldns_pkt_set_aa(p, 1);
        ldns_pkt_set_rcode(p, LDNS_RCODE_NXDOMAIN);
        ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY, soa);
        assert_int_equal(ldns_pkt2wire(&o->srv[0].sample[s].wire, p,
                                       &o->srv[0].sample[s].len),
                         LDNS_STATUS_OK);
        ldns_pkt_free(p);
    }
    judge(o, NOW);
    assert_int_equal(res.health, KS_HEALTH_CRITICAL);
    assert_non_null(find("denial.missing", ZONE ". NSEC/NSEC3 (denial)"));
    assert_non_null(strstr(find("denial.missing", NULL)->text,
                           LABEL "." ZONE "."));

    /* An NSEC3 record that covers neither the name nor the wildcard:
     * named unsigned, and its denial bogus. */
    free(o->srv[0].sample[s].wire);
    o->srv[0].sample[s].wire = NULL;
    {
        ldns_pkt *p = ldns_pkt_query_new(
            ldns_dname_new_frm_str(LABEL "." ZONE "."), LDNS_RR_TYPE_A,
            LDNS_RR_CLASS_IN, 0);
        ldns_rr *n3 = NULL;

        assert_int_equal(ldns_rr_new_frm_str(&n3,
            "00000000000000000000000000000000." ZONE ". 10 IN NSEC3 1 0 0 "
            "- 00000000000000000000000000000001 A", 0, NULL, NULL),
            LDNS_STATUS_OK);
        ldns_pkt_set_qr(p, 1);
        ldns_pkt_set_aa(p, 1);
        ldns_pkt_set_rcode(p, LDNS_RCODE_NXDOMAIN);
        ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY,
                         ldns_rr_clone(ldns_zone_soa(z.z)));
        ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY, n3);
        assert_int_equal(ldns_pkt2wire(&o->srv[0].sample[s].wire, p,
                                       &o->srv[0].sample[s].len),
                         LDNS_STATUS_OK);
        ldns_pkt_free(p);
    }
    judge(o, NOW);
    assert_non_null(find("rrsig.missing", "NSEC3 (denial)"));
    assert_non_null(find("denial.bogus", ZONE ". NSEC3 (denial)"));
    obs_done(o);
    zs_free(&z);
}

/* The apex A signed again to expire in 10 days, the rest in 30: the
 * clock walked from ok to warning, critical and expired, naming A. */
static void test_sample_expiry(void **st)
{
    zs_zone z;
    kw_dnssec_obs *o;
    int64_t e = NOW + 10 * DAY;

    (void)st;
    sign(&z);
    assert_int_equal(zs_resign(&z, ZONE, LDNS_RR_TYPE_A, NOW - 3600, e), 0);
    o = observe(&z);
    judge(o, NOW);
    assert_int_equal(res.health, KS_HEALTH_OK);
    assert_int_equal(res.next_expiry, e);
    judge(o, e - 5 * DAY);
    assert_int_equal(res.health, KS_HEALTH_WARNING);
    assert_non_null(find("rrsig.expiring", ZONE ". A"));
    assert_int_equal(res.nfind, 1);
    judge(o, e - DAY);
    assert_int_equal(res.health, KS_HEALTH_CRITICAL);
    assert_non_null(find("rrsig.expiring", ZONE ". A"));
    judge(o, e + 1);
    assert_non_null(find("rrsig.expired", ZONE ". A"));
    obs_done(o);
    zs_free(&z);
}

/* A sample question without an answer, or garbage: a warning naming it;
 * a server that answered nothing at all is one finding, not six. */
static void test_sample_noanswer(void **st)
{
    zs_zone z;
    kw_dnssec_obs *o;
    int q;
    size_t s;

    (void)st;
    sign(&z);
    o = observe(&z);
    free(o->srv[0].sample[2].wire);
    o->srv[0].sample[2].wire = NULL;
    o->srv[0].sample[2].rc = -110;
    snprintf(o->srv[0].sample[2].err, sizeof(o->srv[0].sample[2].err),
             "timed out");
    o->srv[0].sample[3].wire[0] ^= 0xff;
    o->srv[0].sample[3].len = 5;
    judge(o, NOW);
    assert_int_equal(res.health, KS_HEALTH_WARNING);
    assert_non_null(find("server.noanswer", ZONE ". MX"));
    assert_non_null(find("server.garbage", ZONE ". TXT"));
    for (q = 0; q < KW_DNSSEC_Q_N; q++) {
        free(o->srv[0].a[q].wire);
        o->srv[0].a[q].wire = NULL;
        o->srv[0].a[q].rc = -110;
    }
    for (s = 0; s < o->nsample; s++) {
        free(o->srv[0].sample[s].wire);
        o->srv[0].sample[s].wire = NULL;
        o->srv[0].sample[s].rc = -110;
    }
    judge(o, NOW);
    assert_null(find("server.noanswer", ZONE ". MX"));
    assert_non_null(find("server.none", NULL));
    obs_done(o);
    zs_free(&z);
}

/* run_many: each zone's result in its own slot, a zone that cannot be
 * checked (a bad name) its own error, the others judged (nobody listens
 * on the servers given: each is named as not answering). */
static void test_run_many(void **st)
{
    static kw_dnssec_live_res outs[7];
    const char *zones[7] = { "a.test", "b.test", "bad..name", "c.test",
                             "d.test", "e.test", "f.test" };
    kw_dns_server srv = { "127.0.0.1", 1 };
    kw_dnssec_live_where w = { 0 };
    kw_diag d = {{0}};
    size_t i;

    (void)st;
    w.servers = &srv;
    w.nservers = 1;
    w.ds_server = &srv;
    w.timeout_ms = 300;
    assert_int_equal(kw_dnssec_live_run_many(zones, 7, &w, NULL, NOW, 3,
                                             outs, &d), 0);
    for (i = 0; i < 7; i++) {
        if (i == 2) {
            assert_true(outs[i].rc != 0);
            assert_non_null(strstr(outs[i].diag.msg, "bad..name"));
            continue;
        }
        assert_int_equal(outs[i].rc, 0);
        assert_string_equal(outs[i].live.zone, zones[i]);
        assert_int_equal(outs[i].live.health, KS_HEALTH_CRITICAL);
    }
    assert_int_equal(kw_dnssec_live_run_many(zones, 7, NULL, NULL, NOW, 3,
                                             outs, &d), KW_EINVAL);
    assert_int_equal(kw_dnssec_live_run_many(NULL, 0, &w, NULL, NOW, 0,
                                             NULL, &d), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_names),
        cmocka_unit_test(test_secure),
        cmocka_unit_test(test_bogus_txt),
        cmocka_unit_test(test_missing_mx_sig),
        cmocka_unit_test(test_denial),
        cmocka_unit_test(test_sample_expiry),
        cmocka_unit_test(test_sample_noanswer),
        cmocka_unit_test(test_run_many),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
