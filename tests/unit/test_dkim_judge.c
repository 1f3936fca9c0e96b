/*
 * test_dkim_check.c: the judge of dkim_check.h over hand-made surveys
 * (one table row per finding), and SPF/DMARC per domain over a table of
 * DNS answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "dkim/dkim_check.h"
#include "dkim/dkim_rotate.h"
#include "fakedns.h"

/* ----- keys and records, made once ----- */

static char rec_a[1200], rec_b[1200], rec_512[1200], rec_1024[1200];
static char rec_ed[200];

static void make_rec(const char *alg, int bits, const char *extra, char *out,
                     size_t cap)
{
    EVP_PKEY *k = bits > 0 ? EVP_PKEY_Q_keygen(NULL, NULL, alg, (size_t)bits)
                           : EVP_PKEY_Q_keygen(NULL, NULL, alg);
    unsigned char *der = NULL, b64[800], raw[32];
    size_t rl = sizeof(raw);
    int n;

    assert_non_null(k);
    if (bits > 0) {
        n = i2d_PUBKEY(k, &der);
        assert_true(n > 0);
        EVP_EncodeBlock(b64, der, n);
        OPENSSL_free(der);
        snprintf(out, cap, "v=DKIM1; %sk=rsa; p=%s", extra, b64);
    } else {
        assert_int_equal(EVP_PKEY_get_raw_public_key(k, raw, &rl), 1);
        EVP_EncodeBlock(b64, raw, (int)rl);
        snprintf(out, cap, "v=DKIM1; k=ed25519; p=%s", b64);
    }
    EVP_PKEY_free(k);
}

static int setup(void **st)
{
    (void)st;
    make_rec("RSA", 2048, "", rec_a, sizeof(rec_a));
    make_rec("RSA", 2048, "", rec_b, sizeof(rec_b));
    make_rec("RSA", 512, "", rec_512, sizeof(rec_512));
    make_rec("RSA", 1024, "", rec_1024, sizeof(rec_1024));
    make_rec("ED25519", 0, "", rec_ed, sizeof(rec_ed));
    return 0;
}

/* ----- hand-made surveys ----- */

typedef struct fake_answer {
    int status;          /* 0, or KW_ETIMEDOUT... */
    int nx;              /* NXDOMAIN */
    const char *txt[3];  /* records, NULL-terminated */
    const char *cname;
    int serial;          /* 0: none */
} fake_answer;

typedef struct survey_buf {
    kw_dns_survey sv;
    kw_dns_answer auth[2][3];
    kw_dns_txt txt[8][3];
    size_t used;
} survey_buf;

static void fill(survey_buf *b, kw_dns_answer *a, const char *addr,
                 const fake_answer *f)
{
    kw_dns_txt *t = b->txt[b->used++];
    size_t i;

    memset(a, 0, sizeof(*a));
    snprintf(a->server.addr, sizeof(a->server.addr), "%s", addr);
    a->server.port = 53;
    a->status = f->status;
    if (f->status != 0) {
        a->rcode = -1;
        snprintf(a->error, sizeof(a->error), "%s:53: no answer within 3000 ms",
                 addr);
        return;
    }
    a->aa = 1;
    a->nxdomain = f->nx;
    for (i = 0; i < 3 && f->txt[i] != NULL; i++) {
        t[i].s = f->txt[i];
        t[i].len = strlen(f->txt[i]);
    }
    a->txt = t;
    a->ntxt = i;
    if (f->cname != NULL)
        snprintf(a->cname, sizeof(a->cname), "%s", f->cname);
    a->nodata = !f->nx && i == 0 && f->cname == NULL;
    a->has_serial = f->serial != 0;
    a->serial = (uint32_t)f->serial;
}

/* A survey of s1._domainkey.example.com: the resolver's answer and two
 * authoritative servers' (127.0.0.1, 127.0.0.2). */
static kw_dns_survey *survey(survey_buf *b, const fake_answer *res,
                             const fake_answer *a1, const fake_answer *a2)
{
    memset(b, 0, sizeof(*b));
    snprintf(b->sv.name, sizeof(b->sv.name), "s1._domainkey.example.com");
    fill(b, &b->sv.resolver, "192.0.2.53", res);
    b->sv.nsteps = 1;
    snprintf(b->sv.steps[0].name, sizeof(b->sv.steps[0].name), "%s",
             b->sv.name);
    snprintf(b->sv.steps[0].zone, sizeof(b->sv.steps[0].zone),
             "example.com");
    b->sv.steps[0].auth = b->auth[0];
    fill(b, &b->auth[0][0], "127.0.0.1", a1);
    fill(b, &b->auth[0][1], "127.0.0.2", a2 != NULL ? a2 : a1);
    b->sv.steps[0].nauth = 2;
    return &b->sv;
}

static kw_dkim_facts facts(const char *role, const char *record)
{
    kw_dkim_facts k;

    memset(&k, 0, sizeof(k));
    k.domain = "example.com";
    k.selector = "s1";
    k.role = role;
    k.algorithm = record != NULL ? "rsa" : NULL;
    k.bits = record != NULL ? 2048 : 0;
    k.record = record;
    return k;
}

static const kw_dkim_find *find(const kw_dkim_findings *f, const char *code)
{
    size_t i;

    for (i = 0; i < f->n; i++)
        if (strcmp(f->f[i].code, code) == 0)
            return &f->f[i];
    return NULL;
}

static ks_health worst(const kw_dkim_findings *f)
{
    ks_health h = KS_HEALTH_OK;
    size_t i;

    for (i = 0; i < f->n; i++)
        if (ks_health_rank(f->f[i].severity) > ks_health_rank(h))
            h = f->f[i].severity;
    return h;
}

static void expect(const kw_dkim_findings *f, const char *code, ks_health h,
                   const char *needle)
{
    const kw_dkim_find *x = find(f, code);
    size_t i;

    if (x == NULL) {
        for (i = 0; i < f->n; i++)
            fprintf(stderr, "  %s %s: %s\n", ks_health_word(f->f[i].severity),
                    f->f[i].code, f->f[i].text);
        fail_msg("no finding %s", code);
    }
    assert_string_equal(ks_health_word(x->severity), ks_health_word(h));
    if (needle != NULL && strstr(x->text, needle) == NULL &&
        strstr(x->server, needle) == NULL && strstr(x->fix, needle) == NULL)
        fail_msg("%s: \"%s\" not in \"%s\" / \"%s\"", code, needle, x->text,
                 x->fix);
}

static void judge(const kw_dkim_facts *k, const kw_dns_survey *sv,
                  kw_dkim_findings *out)
{
    kw_dkim_params p;

    kw_dkim_params_defaults(&p);
    kw_dkim_judge(k, sv, 0, &p, out);
    kw_dkim_params_free(&p);
}

static void test_match(void **st)
{
    survey_buf b;
    kw_dkim_findings f;
    fake_answer a = {.txt = {rec_a}, .serial = 5};
    kw_dkim_facts k = facts("signing", rec_a);

    (void)st;
    judge(&k, survey(&b, &a, &a, NULL), &f);
    expect(&f, "match", KS_HEALTH_OK, NULL);
    assert_int_equal(worst(&f), KS_HEALTH_OK);
    /* Other TXT records beside the key record are no concern. */
    a.txt[1] = "google-site-verification=x";
    judge(&k, survey(&b, &a, &a, NULL), &f);
    assert_int_equal(worst(&f), KS_HEALTH_OK);
}

static void test_missing(void **st)
{
    survey_buf b;
    kw_dkim_findings f;
    fake_answer nx = {.nx = 1, .serial = 5}, nodata = {.serial = 5};
    kw_dkim_facts k = facts("signing", rec_a);

    (void)st;
    judge(&k, survey(&b, &nx, &nx, NULL), &f);
    expect(&f, "missing", KS_HEALTH_CRITICAL,
           "publish s1._domainkey.example.com. TXT \"v=DKIM1; k=rsa; p=");
    judge(&k, survey(&b, &nodata, &nodata, NULL), &f);
    expect(&f, "missing", KS_HEALTH_CRITICAL, "no DKIM record");
    /* A published key whose record is gone: a warning; an orphan's
     * absence is what an orphan is. */
    k = facts("published", rec_a);
    judge(&k, survey(&b, &nx, &nx, NULL), &f);
    expect(&f, "missing", KS_HEALTH_WARNING, NULL);
    k = facts("orphan", rec_a);
    judge(&k, survey(&b, &nx, &nx, NULL), &f);
    assert_null(find(&f, "missing"));
    assert_int_equal(worst(&f), KS_HEALTH_OK);
}

static void test_mismatch_names_servers(void **st)
{
    survey_buf b;
    kw_dkim_findings f;
    fake_answer good = {.txt = {rec_a}, .serial = 9},
                bad = {.txt = {rec_b}, .serial = 9};
    kw_dkim_facts k = facts("signing", rec_a);
    const kw_dkim_find *x;

    (void)st;
    judge(&k, survey(&b, &bad, &good, &bad), &f);
    expect(&f, "mismatch", KS_HEALTH_CRITICAL, "another key");
    x = find(&f, "mismatch");
    /* The resolver and 127.0.0.2 serve the other key, 127.0.0.1 ours. */
    assert_non_null(strstr(x->text, "resolver 192.0.2.53:53, 127.0.0.2:53 "
                                    "(serial 9) serve another key"));
    assert_non_null(strstr(x->text, "127.0.0.1:53 (serial 9) serves the key "
                                    "file's"));
    /* A published key with another key in DNS: a warning. */
    k = facts("published", rec_a);
    judge(&k, survey(&b, &bad, &bad, NULL), &f);
    expect(&f, "mismatch", KS_HEALTH_WARNING, NULL);
}

static void test_revoked(void **st)
{
    survey_buf b;
    kw_dkim_findings f;
    fake_answer rev = {.txt = {"v=DKIM1; k=rsa; p="}};
    kw_dkim_facts k = facts("signing", rec_a);

    (void)st;
    judge(&k, survey(&b, &rev, &rev, NULL), &f);
    expect(&f, "revoked", KS_HEALTH_CRITICAL, "empty p=");
    /* Revoking a key nothing signs with is the end of a rotation. */
    k = facts("published", rec_a);
    judge(&k, survey(&b, &rev, &rev, NULL), &f);
    expect(&f, "revoked", KS_HEALTH_OK, NULL);
}

static void test_testing_duplicate_syntax(void **st)
{
    survey_buf b;
    kw_dkim_findings f;
    char ty[1300];
    fake_answer a = {.txt = {ty}}, two = {.txt = {rec_a, rec_b}},
                bad = {.txt = {"v=DKIM1; k=rsa; p=!!notbase64"}};
    kw_dkim_facts k = facts("signing", rec_a);

    (void)st;
    snprintf(ty, sizeof(ty), "v=DKIM1; t=y; %s", rec_a + 9);
    judge(&k, survey(&b, &a, &a, NULL), &f);
    expect(&f, "testing", KS_HEALTH_WARNING, "t=y");
    expect(&f, "match", KS_HEALTH_OK, NULL);
    judge(&k, survey(&b, &two, &two, NULL), &f);
    expect(&f, "duplicate", KS_HEALTH_CRITICAL, "two or more");
    judge(&k, survey(&b, &bad, &bad, NULL), &f);
    expect(&f, "syntax", KS_HEALTH_CRITICAL, "does not parse");
}

static void test_unanswered_is_unknown(void **st)
{
    survey_buf b;
    kw_dkim_findings f;
    fake_answer good = {.txt = {rec_a}}, dead = {.status = KW_ETIMEDOUT};
    kw_dkim_facts k = facts("signing", rec_a);

    (void)st;
    judge(&k, survey(&b, &good, &good, &dead), &f);
    expect(&f, "dns.unanswered", KS_HEALTH_UNKNOWN,
           "127.0.0.2:53 did not answer s1._domainkey.example.com TXT");
    assert_int_equal(worst(&f), KS_HEALTH_UNKNOWN);
    /* Nobody answers: unknown, and never ok. */
    judge(&k, survey(&b, &dead, &dead, &dead), &f);
    assert_int_equal(worst(&f), KS_HEALTH_UNKNOWN);
    assert_null(find(&f, "match"));
    assert_null(find(&f, "missing"));
}

static void test_lagging_secondary(void **st)
{
    survey_buf b;
    kw_dkim_findings f;
    char newer[1300];
    fake_answer now = {.txt = {newer}, .serial = 9},
                old = {.txt = {rec_a}, .serial = 7};
    kw_dkim_facts k = facts("signing", rec_a);
    const kw_dkim_find *x;

    (void)st;
    snprintf(newer, sizeof(newer), "v=DKIM1; s=email; %s", rec_a + 9);
    judge(&k, survey(&b, &now, &now, &old), &f);
    expect(&f, "dns.disagree", KS_HEALTH_WARNING, "serial 7");
    x = find(&f, "dns.disagree");
    assert_string_equal(x->server, "127.0.0.2:53 (serial 7)");
    assert_int_equal(worst(&f), KS_HEALTH_WARNING);
}

static void test_cname_followed(void **st)
{
    survey_buf b;
    kw_dkim_findings f;
    fake_answer res = {.txt = {rec_a}, .cname = "s1.provider.net"},
                hop = {.cname = "s1.provider.net", .serial = 3},
                there = {.txt = {rec_b}, .serial = 4};
    kw_dkim_facts k = facts("signing", rec_a);
    kw_dns_survey *sv = survey(&b, &res, &hop, NULL);

    (void)st;
    sv->nsteps = 2;
    snprintf(sv->steps[1].name, sizeof(sv->steps[1].name),
             "s1.provider.net");
    snprintf(sv->steps[1].zone, sizeof(sv->steps[1].zone), "provider.net");
    sv->steps[1].auth = b.auth[1];
    fill(&b, &b.auth[1][0], "127.0.0.3", &there);
    sv->steps[1].nauth = 1;
    judge(&k, sv, &f);
    expect(&f, "cname", KS_HEALTH_OK, "delegated by CNAME to s1.provider.net");
    /* The provider's server serves another key: the record to publish
     * is at the CNAME's target. */
    expect(&f, "mismatch", KS_HEALTH_CRITICAL, "127.0.0.3:53 (serial 4)");
    expect(&f, "mismatch", KS_HEALTH_CRITICAL,
           "publish s1.provider.net. TXT \"v=DKIM1;");
    /* A server of the first zone that does not answer is unknown too. */
    b.auth[0][1].status = KW_ETIMEDOUT;
    b.auth[0][1].has_serial = 0;
    judge(&k, sv, &f);
    expect(&f, "dns.unanswered", KS_HEALTH_UNKNOWN,
           "127.0.0.2:53 did not answer s1._domainkey.example.com TXT");
    /* So is one that answers there without authority. */
    b.auth[0][1].status = 0;
    b.auth[0][1].aa = 0;
    judge(&k, sv, &f);
    expect(&f, "dns.unanswered", KS_HEALTH_UNKNOWN,
           "127.0.0.2:53 did not answer s1._domainkey.example.com TXT with "
           "authority");
}

/* A slot of a dedicated zone (zone =): its CNAME at the mail domain is
 * judged on every server that answered there; missing or pointing
 * elsewhere, the finding names the CNAME to add. */
static void test_slot_cname(void **st)
{
    static const char want[] = "s1._domainkey.example.com.dkim.example.net";
    survey_buf b;
    kw_dkim_findings f;
    kw_dkim_params p;
    kw_dkim_rot_params rp;
    fake_answer none = {.txt = {rec_a}, .serial = 3},
                res = {.txt = {rec_a}, .cname = want},
                hop = {.cname = want, .serial = 3},
                other = {.cname = "s1.provider.net", .serial = 3},
                there = {.txt = {rec_a}, .serial = 4};
    kw_dkim_facts k = facts("signing", rec_a);
    kw_dns_survey *sv;

    (void)st;
    kw_dkim_params_defaults(&p);
    kw_dkim_rot_params_defaults(&rp);
    rp.domain = (char *)"example.com";
    rp.selector = (char *)"s%n";
    rp.zone = (char *)"dkim.example.net";
    p.rot = &rp;
    p.nrot = 1;
    /* Published at the mail domain itself, no CNAME: missing. */
    sv = survey(&b, &none, &none, NULL);
    kw_dkim_judge(&k, sv, 0, &p, &f);
    expect(&f, "cname.missing", KS_HEALTH_CRITICAL,
           "s1._domainkey.example.com. CNAME " "s1._domainkey.example.com."
           "dkim.example.net.");
    expect(&f, "cname.missing", KS_HEALTH_CRITICAL,
           "resolver 192.0.2.53:53, 127.0.0.1:53 (serial 3), 127.0.0.2:53 "
           "(serial 3)");
    /* The CNAME everywhere, the record at its target: no finding. */
    sv = survey(&b, &res, &hop, NULL);
    sv->nsteps = 2;
    snprintf(sv->steps[1].name, sizeof(sv->steps[1].name), "%s", want);
    snprintf(sv->steps[1].zone, sizeof(sv->steps[1].zone),
             "dkim.example.net");
    sv->steps[1].auth = b.auth[1];
    fill(&b, &b.auth[1][0], "127.0.0.3", &there);
    sv->steps[1].nauth = 1;
    kw_dkim_judge(&k, sv, 0, &p, &f);
    assert_null(find(&f, "cname.missing"));
    assert_null(find(&f, "cname.wrong"));
    expect(&f, "match", KS_HEALTH_OK, want);
    /* One server of the mail domain points elsewhere. */
    fill(&b, &b.auth[0][1], "127.0.0.2", &other);
    kw_dkim_judge(&k, sv, 0, &p, &f);
    expect(&f, "cname.wrong", KS_HEALTH_CRITICAL,
           "points to s1.provider.net at 127.0.0.2:53 (serial 3)");
    /* Another selector of the domain is not a slot: not judged so. */
    k.selector = "x1";
    sv = survey(&b, &none, &none, NULL);
    kw_dkim_judge(&k, sv, 0, &p, &f);
    assert_null(find(&f, "cname.missing"));
    p.rot = NULL;
    p.nrot = 0;
    kw_dkim_params_free(&p);
}

static void test_weak_record_of_unread_key(void **st)
{
    survey_buf b;
    kw_dkim_findings f;
    fake_answer w512 = {.txt = {rec_512}}, w1024 = {.txt = {rec_1024}};
    kw_dkim_facts k = facts("signing", NULL);

    (void)st;
    judge(&k, survey(&b, &w512, &w512, NULL), &f);
    expect(&f, "weak", KS_HEALTH_CRITICAL, "512-bit");
    judge(&k, survey(&b, &w1024, &w1024, NULL), &f);
    expect(&f, "weak", KS_HEALTH_WARNING, "1024-bit");
    /* A key file we read: its size is the inventory's local fact. */
    k = facts("signing", rec_512);
    judge(&k, survey(&b, &w512, &w512, NULL), &f);
    assert_null(find(&f, "weak"));
}

static void test_ed25519_alone(void **st)
{
    survey_buf b;
    kw_dkim_findings f;
    fake_answer a = {.txt = {rec_ed}};
    kw_dkim_facts k = facts("signing", rec_ed);

    (void)st;
    k.algorithm = "ed25519";
    judge(&k, survey(&b, &a, &a, NULL), &f);
    expect(&f, "ed25519_alone", KS_HEALTH_WARNING, "Ed25519 only");
    expect(&f, "match", KS_HEALTH_OK, NULL);
    k.rsa_beside = 1;
    judge(&k, survey(&b, &a, &a, NULL), &f);
    assert_null(find(&f, "ed25519_alone"));
}

static void test_zone_unknown(void **st)
{
    survey_buf b;
    kw_dkim_findings f;
    fake_answer a = {.txt = {rec_a}};
    kw_dkim_facts k = facts("signing", rec_a);
    kw_dns_survey *sv = survey(&b, &a, &a, NULL);

    (void)st;
    sv->steps[0].nauth = 0;
    sv->steps[0].status = KW_ETIMEDOUT;
    snprintf(sv->steps[0].error, sizeof(sv->steps[0].error),
             "NS example.com: no answer");
    judge(&k, sv, &f);
    expect(&f, "dns.zone", KS_HEALTH_UNKNOWN, "NS example.com");
}

/* A server that answers without authority (AA=0, a referral or a lame
 * delegation) says nothing of the record: the survey does not count it,
 * and the judge must not read its empty answer as "missing". */
static void test_lame_server_is_unknown(void **st)
{
    survey_buf b;
    kw_dkim_findings f;
    fake_answer good = {.txt = {rec_a}, .serial = 5}, empty = {0};
    kw_dkim_facts k = facts("signing", rec_a);
    kw_dns_survey *sv = survey(&b, &good, &good, &empty);

    (void)st;
    b.auth[0][1].aa = 0;
    judge(&k, sv, &f);
    assert_null(find(&f, "missing"));
    expect(&f, "dns.unanswered", KS_HEALTH_UNKNOWN,
           "127.0.0.2:53 did not answer s1._domainkey.example.com TXT with "
           "authority");
    /* The resolver never sets AA: its answer still counts. */
    b.sv.resolver.aa = 0;
    b.auth[0][1].aa = 1;
    judge(&k, sv, &f);
    expect(&f, "missing", KS_HEALTH_CRITICAL, "127.0.0.2:53");
    assert_null(find(&f, "dns.unanswered"));
}

/* Some of the zone's servers were not asked (an NS name without an
 * address): the servers that answered are not the whole picture. */
static void test_zone_partly_unknown(void **st)
{
    survey_buf b;
    kw_dkim_findings f;
    fake_answer a = {.txt = {rec_a}};
    kw_dkim_facts k = facts("signing", rec_a);
    kw_dns_survey *sv = survey(&b, &a, &a, NULL);

    (void)st;
    snprintf(sv->steps[0].error, sizeof(sv->steps[0].error),
             "zone example.com: 192.0.2.53:53 has no address for the name "
             "servers ns3.example.net (NXDOMAIN)");
    judge(&k, sv, &f);
    expect(&f, "dns.zone", KS_HEALTH_UNKNOWN, "ns3.example.net");
    assert_int_equal(worst(&f), KS_HEALTH_UNKNOWN);
}

/* An address this host has no route to was left out of the survey
 * (step.skipped): named, but the servers asked make the verdict. */
static void test_unroutable_server_named_not_unknown(void **st)
{
    survey_buf b;
    kw_dkim_findings f;
    fake_answer a = {.txt = {rec_a}};
    kw_dkim_facts k = facts("signing", rec_a);
    kw_dns_survey *sv = survey(&b, &a, &a, NULL);

    (void)st;
    snprintf(sv->steps[0].skipped, sizeof(sv->steps[0].skipped),
             "[2001:db8::53]:53: no IPv6 route from this host (Network is "
             "unreachable)");
    judge(&k, sv, &f);
    expect(&f, "dns.skipped", KS_HEALTH_OK, "[2001:db8::53]:53: no IPv6");
    assert_null(find(&f, "dns.zone"));
    assert_int_equal(worst(&f), KS_HEALTH_OK);
}

/* ----- SPF and DMARC over a table ----- */

static const fake_rr zone[] = {
    {"ok.example.com", KW_DNS_TXT, 0, "v=spf1 ip4:192.0.2.25 ~all"},
    {"_dmarc.ok.example.com", KW_DNS_TXT, 0,
     "v=DMARC1; p=reject; rua=mailto:d@example.com"},
    {"big.example.org", KW_DNS_TXT, 0,
     "v=spf1 a:h.example.com a:h.example.com a:h.example.com "
     "a:h.example.com a:h.example.com a:h.example.com a:h.example.com "
     "a:h.example.com a:h.example.com a:h.example.com a:h.example.com "
     "-all"},
    {"h.example.com", KW_DNS_A, 0, "192.0.2.1"},
    {"two.example.com", KW_DNS_TXT, 0, "v=spf1 -all"},
    {"two.example.com", KW_DNS_TXT, 0, "v=spf1 +all"},
    {"tmp.example.com", KW_DNS_TXT, 0, "v=spf1 include:dead.example.net -all"},
    {"dead.example.net", KW_DNS_TXT, KW_ETIMEDOUT, NULL},
    {"sub.example.com", KW_DNS_TXT, 0, "v=spf1 ip4:192.0.2.25 -all"},
    {"example.com", KW_DNS_TXT, 0, "v=spf1 -all"},
    {"_dmarc.example.com", KW_DNS_TXT, 0,
     "v=DMARC1; p=none; adkim=s; rua=mailto:d@example.com"},
    {NULL, 0, 0, NULL},
};

static void domain(const char *name, const char *ip, kw_dkim_domain *out)
{
    kw_dns_lookup lk = {fake_dns, (void *)zone};
    const char *out_ip[1] = {ip};
    kw_diag d;

    assert_int_equal(kw_dkim_judge_domain(&lk, name, out_ip, ip ? 1 : 0,
                                          out, &d),
                     0);
}

static void test_spf_dmarc(void **st)
{
    kw_dkim_domain dm;

    (void)st;
    domain("ok.example.com", "192.0.2.25", &dm);
    expect(&dm.findings, "spf.pass", KS_HEALTH_OK, "192.0.2.25");
    assert_int_equal(worst(&dm.findings), KS_HEALTH_OK);
    assert_string_equal(dm.dmarc_policy, "reject");
    kw_dkim_domain_clear(&dm);

    /* Not listed: softfail is a warning, fail critical. */
    domain("ok.example.com", "198.51.100.7", &dm);
    expect(&dm.findings, "spf.softfail", KS_HEALTH_WARNING, "198.51.100.7");
    kw_dkim_domain_clear(&dm);
    domain("sub.example.com", "198.51.100.7", &dm);
    expect(&dm.findings, "spf.fail", KS_HEALTH_CRITICAL, "198.51.100.7");
    /* DMARC found at the organizational domain: p=none, and adkim=s
     * leaves d=sub.example.com unaligned with From: example.com. */
    assert_string_equal(dm.dmarc_name, "_dmarc.example.com");
    expect(&dm.findings, "dmarc.p_none", KS_HEALTH_WARNING, NULL);
    expect(&dm.findings, "dmarc.alignment", KS_HEALTH_WARNING, "adkim=s");
    kw_dkim_domain_clear(&dm);

    domain("big.example.org", NULL, &dm);
    expect(&dm.findings, "spf.permerror", KS_HEALTH_CRITICAL, "11");
    assert_int_equal(dm.spf.lookups, 11);
    expect(&dm.findings, "dmarc.none", KS_HEALTH_WARNING, NULL);
    kw_dkim_domain_clear(&dm);

    domain("two.example.com", NULL, &dm);
    expect(&dm.findings, "spf.permerror", KS_HEALTH_CRITICAL, NULL);
    kw_dkim_domain_clear(&dm);

    domain("tmp.example.com", NULL, &dm);
    expect(&dm.findings, "spf.temperror", KS_HEALTH_UNKNOWN,
           "dead.example.net");
    kw_dkim_domain_clear(&dm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_missing),
        cmocka_unit_test(test_mismatch_names_servers),
        cmocka_unit_test(test_revoked),
        cmocka_unit_test(test_testing_duplicate_syntax),
        cmocka_unit_test(test_unanswered_is_unknown),
        cmocka_unit_test(test_lagging_secondary),
        cmocka_unit_test(test_cname_followed),
        cmocka_unit_test(test_slot_cname),
        cmocka_unit_test(test_weak_record_of_unread_key),
        cmocka_unit_test(test_ed25519_alone),
        cmocka_unit_test(test_zone_unknown),
        cmocka_unit_test(test_lame_server_is_unknown),
        cmocka_unit_test(test_zone_partly_unknown),
        cmocka_unit_test(test_unroutable_server_named_not_unknown),
        cmocka_unit_test(test_spf_dmarc),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
