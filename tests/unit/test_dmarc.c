/*
 * DMARC records (dkim/dkim_dmarc.h): tags, the p= fallback of RFC 7489
 * section 6.6.3, reporting URIs, warnings against errors; the
 * organizational domain through the Public Suffix List, and alignment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dkim/dkim_dmarc.h"

#define RUA "; rua=mailto:dmarc@example.com"

typedef struct dcase {
    const char *name;
    const char *txt;
    int rc;
    const char *msg;          /* part of the error, or of the warnings */
    kw_dmarc_policy p, sp;
    int warns[4];             /* the warning codes, in order, 0-ended */
} dcase;

#define N KW_DMARC_POLICY_NONE
#define Q KW_DMARC_POLICY_QUARANTINE
#define R KW_DMARC_POLICY_REJECT
#define U KW_DMARC_POLICY_UNSET

static const dcase cases[] = {
    {"reject with rua", "v=DMARC1; p=reject" RUA, 0, NULL, R, U, {0}},
    {"p=none warns, no rua warns", "v=DMARC1; p=none", 0,
     "p=none: receivers only report", N, U,
     {KW_DMARC_W_P_NONE, KW_DMARC_W_NO_RUA}},
    {"sp=none under quarantine", "v=DMARC1; p=quarantine; sp=none" RUA, 0,
     "sp=none under p=quarantine", Q, N, {KW_DMARC_W_SP_NONE}},
    {"sp=reject", "v=DMARC1; p=quarantine; sp=reject" RUA, 0, NULL, Q, R,
     {0}},
    {"pct=50", "v=DMARC1; p=reject; pct=50" RUA, 0,
     "pct=50: the policy applies to 50% of failing mail", R, U,
     {KW_DMARC_W_PCT}},
    {"pct=0", "v=DMARC1; p=reject; pct=0" RUA, 0, "pct=0", R, U,
     {KW_DMARC_W_PCT}},
    {"pct=100", "v=DMARC1; p=reject; pct=100" RUA, 0, NULL, R, U, {0}},
    {"every tag", "v=DMARC1; p=reject; sp=quarantine; adkim=s; aspf=s; "
     "pct=100; ri=3600; fo=1:d:s; rf=afrf; rua=mailto:a@example.com!10m, "
     "mailto:b@example.net ; ruf=mailto:f@example.com", 0, NULL, R, Q, {0}},
    {"values and names without case",
     "v=DMARC1; P=Reject; ADKIM=S; Rua=MAILTO:A@Example.COM", 0, NULL, R, U,
     {0}},
    {"whitespace and trailing semicolon",
     "v = DMARC1 ;\tp = quarantine ; rua = mailto:a@example.com ; ", 0, NULL,
     Q, U, {0}},
    {"unknown tags ignored (DMARCbis np=, psd=)",
     "v=DMARC1; p=reject; np=reject; psd=n; t=n" RUA, 0, NULL, R, U, {0}},
    {"no p= but rua: receivers use none", "v=DMARC1" RUA, 0,
     "no p= tag (it is required): receivers act as if p=none", N, U,
     {KW_DMARC_W_P_FALLBACK}},
    {"bad p= but rua", "v=DMARC1; p=rejects" RUA, 0,
     "tag p= (offset 12): \"rejects\" is not none, quarantine or reject: "
     "receivers act as if p=none", N, U, {KW_DMARC_W_P_FALLBACK}},
    {"bad sp= but rua", "v=DMARC1; p=reject; sp=nope" RUA, 0,
     "tag sp= (offset 23): \"nope\"", N, U, {KW_DMARC_W_P_FALLBACK}},
    {"p= not second", "v=DMARC1; rua=mailto:a@example.com; p=reject", 0,
     "p= is tag 3, not right after v=", R, U, {KW_DMARC_W_P_NOT_SECOND}},
    {"one bad rua URI beside a good one",
     "v=DMARC1; p=reject; rua=mailto:dmarc@@example.com,mailto:ok@example.com",
     0, "rua=: \"mailto:dmarc@@example.com\" (offset 24): two '@'", R, U,
     {KW_DMARC_W_BAD_URI}},
    {"bad ruf URI", "v=DMARC1; p=reject; ruf=mailto:f@example" RUA, 0,
     "ruf=: \"mailto:f@example\" (offset 24): the mailto: address's domain "
     "is not a host name; receivers send no reports there", R, U,
     {KW_DMARC_W_BAD_URI}},
    {"URIs separated by space only",
     "v=DMARC1; p=reject; rua=mailto:a@example.com mailto:b@example.com", 0,
     "offset 45: URIs must be separated by ','", R, U, {KW_DMARC_W_BAD_URI}},
    {"https URI", "v=DMARC1; p=reject; rua=https://example.com/dmarc", 0,
     "rua=: 1 URI(s) not mailto:", R, U, {KW_DMARC_W_NOT_MAILTO}},
    {"three URIs", "v=DMARC1; p=reject; rua=mailto:a@example.com,"
     "mailto:b@example.com,mailto:c@example.com", 0,
     "rua=: 3 URIs; receivers may send to the first two only", R, U,
     {KW_DMARC_W_MANY_URIS}},
    {"p=none, bad rua, pct", "v=DMARC1; p=none; pct=10; rua=mailto:x", 0,
     "no '@'", N, U,
     {KW_DMARC_W_BAD_URI, KW_DMARC_W_P_NONE, KW_DMARC_W_PCT}},

    {"empty", "", KW_EPARSE, "DMARC record: empty record", U, U, {0}},
    {"v=DMARC2", "v=DMARC2; p=none", KW_EPARSE,
     "must start with v=DMARC1 (receivers discard it otherwise); it starts "
     "with \"v=DMARC2; p=none\"", U, U, {0}},
    {"v=DMARC12", "v=DMARC12; p=none", KW_EPARSE, "must start with v=DMARC1",
     U, U, {0}},
    {"v= lower case", "v=dmarc1; p=none", KW_EPARSE, "must start with v=DMARC1",
     U, U, {0}},
    {"v= not first", "p=none; v=DMARC1", KW_EPARSE, "must start with v=DMARC1",
     U, U, {0}},
    {"spf record", "v=spf1 -all", KW_EPARSE, "it starts with \"v=spf1 -all\"", U, U,
     {0}},
    {"no p=, no rua", "v=DMARC1; ruf=mailto:a@example.com", KW_EPARSE,
     "no p= tag (it is required), and no valid rua= URI: receivers apply no "
     "DMARC policy", U, U, {0}},
    {"bad p=, no rua", "v=DMARC1; p=rejected", KW_EPARSE,
     "tag p= (offset 12): \"rejected\" is not none, quarantine or reject, and "
     "no valid rua=", U, U, {0}},
    {"no p=, bad rua", "v=DMARC1; rua=mailto:bad", KW_EPARSE,
     "no p= tag (it is required), and no valid rua= URI", U, U, {0}},
    {"adkim=x", "v=DMARC1; p=reject; adkim=x" RUA, KW_EPARSE,
     "tag adkim= (offset 26): \"x\" is neither r (relaxed) nor s (strict)", U,
     U, {0}},
    {"aspf=relaxed", "v=DMARC1; p=reject; aspf=relaxed", KW_EPARSE,
     "tag aspf= (offset 25): \"relaxed\" is neither", U, U, {0}},
    {"pct=101", "v=DMARC1; p=reject; pct=101", KW_EPARSE,
     "tag pct= (offset 24): \"101\" is not a whole number from 0 to 100", U, U,
     {0}},
    {"pct=0100", "v=DMARC1; p=reject; pct=0100", KW_EPARSE, "\"0100\"", U, U,
     {0}},
    {"pct=-1", "v=DMARC1; p=reject; pct=-1", KW_EPARSE, "\"-1\"", U, U, {0}},
    {"pct=50%", "v=DMARC1; p=reject; pct=50%", KW_EPARSE, "\"50%\"", U, U,
     {0}},
    {"pct empty", "v=DMARC1; p=reject; pct=", KW_EPARSE, "pct= (offset 24)",
     U, U, {0}},
    {"ri too large", "v=DMARC1; p=reject; ri=4294967296", KW_EPARSE,
     "tag ri= (offset 23): \"4294967296\" is not a number of seconds", U, U,
     {0}},
    {"fo=2", "v=DMARC1; p=reject; fo=0:2", KW_EPARSE,
     "tag fo= (offset 25): unknown value \"2\"", U, U, {0}},
    {"duplicate p= in another case", "v=DMARC1; p=reject; P=none", KW_EPARSE,
     "tag P= appears twice (offsets 10 and 20)", U, U, {0}},
    {"empty tag", "v=DMARC1; p=reject;; rua=mailto:a@example.com", KW_EPARSE,
     "offset 19: empty tag", U, U, {0}},
    {"8-bit byte", "v=DMARC1; p=reject; rua=mailto:\xc3\xa9@example.com",
     KW_EPARSE, "tag rua= (offset 31): '\\xc3' is not allowed", U, U, {0}},
};

static int has_text(const kw_dmarc_record *rec, const kw_diag *d, int rc,
                    const char *msg)
{
    size_t i;

    if (msg == NULL)
        return 1;
    if (rc != 0)
        return strstr(d->msg, msg) != NULL;
    for (i = 0; i < rec->n_warn; i++)
        if (strstr(rec->warn[i].msg, msg) != NULL)
            return 1;
    return 0;
}

static void record_table(void **state)
{
    size_t i, j;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const dcase *c = &cases[i];
        kw_dmarc_record rec;
        kw_diag d = {""};
        int r = kw_dmarc_record_parse(c->txt, strlen(c->txt), &rec, &d);
        int ok = r == c->rc && has_text(&rec, &d, r, c->msg);

        if (ok && r == 0) {
            ok = rec.p == c->p && rec.sp == c->sp;
            for (j = 0; ok && j < rec.n_warn; j++)
                ok = rec.warn[j].code == c->warns[j];
            ok = ok && j < 4 && c->warns[j] == 0;
        }
        if (!ok)
            fail_msg("case \"%s\": rc %d (want %d), msg \"%s\"; p %d sp %d, "
                     "%zu warnings, first \"%s\"", c->name, r, c->rc, d.msg,
                     rec.p, rec.sp, rec.n_warn,
                     rec.n_warn > 0 ? rec.warn[0].msg : "");
    }
}

/* Every field of a record that sets them all. */
static void fields(void **state)
{
    static const char txt[] =
        "v=DMARC1; p=reject; sp=quarantine; adkim=s; aspf=S; pct=100; "
        "ri=3600; fo=1:D:s; rf=afrf:x-new; rua=mailto:a@Example.com!10m, "
        "mailto:b%2c1@example.net!7 ; ruf=mailto:f@example.org?subject=x";
    kw_dmarc_record rec;
    kw_diag d;

    (void)state;
    assert_int_equal(kw_dmarc_record_parse(txt, strlen(txt), &rec, &d), 0);
    assert_int_equal(rec.adkim, 's');
    assert_int_equal(rec.aspf, 's');
    assert_int_equal(rec.ri, 3600);
    assert_int_equal(rec.fo, KW_DMARC_FO_1 | KW_DMARC_FO_D | KW_DMARC_FO_S);
    assert_string_equal(rec.rf, "afrf:x-new");
    assert_int_equal(rec.n_rua, 2);
    assert_string_equal(rec.rua[0].uri, "mailto:a@Example.com");
    assert_string_equal(rec.rua[0].domain, "example.com");
    assert_int_equal(rec.rua[0].max_size, 10u * 1024 * 1024);
    assert_string_equal(rec.rua[1].uri, "mailto:b%2c1@example.net");
    assert_int_equal(rec.rua[1].max_size, 7);
    assert_int_equal(rec.n_ruf, 1);
    assert_string_equal(rec.ruf[0].domain, "example.org");
    assert_int_equal(rec.n_warn, 0);

    /* The defaults. */
    assert_int_equal(kw_dmarc_record_parse("v=DMARC1;p=none", 15, &rec, &d),
                     0);
    assert_int_equal(rec.adkim, 'r');
    assert_int_equal(rec.aspf, 'r');
    assert_int_equal(rec.pct, 100);
    assert_int_equal(rec.ri, 86400);
    assert_int_equal(rec.fo, KW_DMARC_FO_0);
    assert_string_equal(rec.rf, "afrf");
    assert_string_equal(kw_dmarc_policy_name(rec.p), "none");
    assert_string_equal(kw_dmarc_policy_name(rec.sp), "unset");
}

/* One URI at a time in rua=: valid or not, its domain and size. */
static void uris(void **state)
{
    static const struct {
        const char *uri;
        int valid;
        const char *domain;
        uint64_t size;
    } t[] = {
        {"mailto:a@example.com", 1, "example.com", 0},
        {"mailto:a@example.com!10", 1, "example.com", 10},
        {"mailto:a@example.com!10k", 1, "example.com", 10240},
        {"mailto:a@example.com!1G", 1, "example.com", 1u << 30},
        {"mailto:a@example.com!2t", 1, "example.com", UINT64_C(2) << 40},
        {"mailto:a%40b@example.com", 1, "example.com", 0},
        {"mailto:a@example.com?subject=dmarc", 1, "example.com", 0},
        {"mailto:a@sub.example.co.uk", 1, "sub.example.co.uk", 0},
        {"https://example.com/dmarc", 1, "", 0},
        {"mailto:a@example.com!", 0, NULL, 0},
        {"mailto:a@example.com!k", 0, NULL, 0},
        {"mailto:a@example.com!10x", 0, NULL, 0},
        {"mailto:a@example.com!99999999999999999999", 0, NULL, 0},
        {"mailto:a@example.com!20000000000t", 0, NULL, 0},
        {"mailto:a@b!c@example.com", 0, NULL, 0},
        {"mailto:", 0, NULL, 0},
        {"mailto:@example.com", 0, NULL, 0},
        {"mailto:a@", 0, NULL, 0},
        {"mailto:a@example", 0, NULL, 0},
        {"mailto:a@-example.com", 0, NULL, 0},
        {"mailto:a@example-.com", 0, NULL, 0},
        {"mailto:a@example..com", 0, NULL, 0},
        {"mailto:a%4@example.com", 0, NULL, 0},
        {"mailto:a\"b@example.com", 0, NULL, 0},
        {"mailto:a<b>@example.com", 0, NULL, 0},
        {"a@example.com", 0, NULL, 0},
        {"1mailto:a@example.com", 0, NULL, 0},
        {"example.com", 0, NULL, 0},
    };
    char txt[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        kw_dmarc_record rec;
        kw_diag d;
        int n = snprintf(txt, sizeof(txt), "v=DMARC1; p=reject; rua=%s",
                         t[i].uri);
        int r = kw_dmarc_record_parse(txt, (size_t)n, &rec, &d);
        int bad = 0;
        size_t j;

        for (j = 0; j < rec.n_warn; j++)
            bad |= rec.warn[j].code == KW_DMARC_W_BAD_URI;
        if (r != 0 || (size_t)t[i].valid != rec.n_rua || bad == t[i].valid ||
            (t[i].valid && (strcmp(rec.rua[0].domain, t[i].domain) != 0 ||
                            rec.rua[0].max_size != t[i].size)))
            fail_msg("URI \"%s\": rc %d, %zu valid, bad %d, domain \"%s\", "
                     "size %llu", t[i].uri, r, rec.n_rua, bad,
                     rec.n_rua ? rec.rua[0].domain : "",
                     rec.n_rua ? (unsigned long long)rec.rua[0].max_size : 0);
    }
}

/* More URIs than kept: counted, the first KW_DMARC_URI_MAX kept. */
static void uris_bounded(void **state)
{
    char txt[2048];
    size_t n, i;
    kw_dmarc_record rec;
    kw_diag d;

    (void)state;
    n = (size_t)snprintf(txt, sizeof(txt), "v=DMARC1; p=reject; rua=");
    for (i = 0; i < 20; i++)
        n += (size_t)snprintf(txt + n, sizeof(txt) - n,
                              "%smailto:r%zu@example.com", i ? "," : "", i);
    assert_int_equal(kw_dmarc_record_parse(txt, n, &rec, &d), 0);
    assert_int_equal(rec.n_rua, 20);
    assert_string_equal(rec.rua[KW_DMARC_URI_MAX - 1].uri,
                        "mailto:r7@example.com");
}

static void is_dmarc(void **state)
{
    static const struct {
        const char *txt;
        int want;
    } t[] = {
        {"v=DMARC1; p=none", 1},
        {"v=DMARC1", 1},
        {"v = DMARC1 ;p=reject", 1},
        {"  v=DMARC1; p=none", 1},
        {"v=DMARC1;broken;;", 1},
        {"V=DMARC1; p=none", 1},
        {"\r\n v\r\n =\tDMARC1\r\n ;p=none", 1},
        {"v=DMARC10; p=none", 0},
        {"v=dmarc1; p=none", 0},
        {"p=none; v=DMARC1", 0},
        {"v=spf1 -all", 0},
        {"", 0},
        {"v=", 0},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (kw_dmarc_record_is_dmarc(t[i].txt, strlen(t[i].txt)) != t[i].want)
            fail_msg("is_dmarc(\"%s\") != %d", t[i].txt, t[i].want);
}

static void org_domain(void **state)
{
    static const struct {
        const char *name, *want;
    } t[] = {
        {"mail.example.com", "example.com"},
        {"example.com", "example.com"},
        {"Mail.Example.COM.", "example.com"},
        {"_dmarc.example.org", "example.org"},
        {"a.b.example.co.uk", "example.co.uk"},
        {"sub.example.xn--p1ai", "example.xn--p1ai"},
        /* A wildcard rule and its exception (*.kawasaki.jp,
         * !city.kawasaki.jp). */
        {"a.b.c.kawasaki.jp", "b.c.kawasaki.jp"},
        {"www.city.kawasaki.jp", "city.kawasaki.jp"},
        /* The private section counts: github.io hands out names. */
        {"a.example.github.io", "example.github.io"},
        /* An unknown top-level domain: the implicit "*" rule. */
        {"x.y.foo.unknowntld", "foo.unknowntld"},
        /* A public suffix is its own organizational domain. */
        {"com", "com"},
        {"co.uk", "co.uk"},
    };
    static const char *const bad[] = {"", ".", "a..b", "-a.com", "a-.com",
                                      "a b.com", "a.com..", "a@b.com",
                                      "caf\xc3\xa9.com"};
    char out[254], big[300];
    kw_diag d;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        int r = kw_dmarc_org_domain(t[i].name, out, sizeof(out), &d);

        if (r != 0 || strcmp(out, t[i].want) != 0)
            fail_msg("org_domain(%s): %d \"%s\", want \"%s\" (%s)", t[i].name,
                     r, r == 0 ? out : "", t[i].want, r == 0 ? "" : d.msg);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (kw_dmarc_org_domain(bad[i], out, sizeof(out), &d) != KW_EINVAL)
            fail_msg("org_domain(\"%s\") accepted", bad[i]);
    assert_non_null(strstr(d.msg, "is not a host name"));
    /* 254 octets is one too many; a 64-octet label too. */
    memset(big, 'a', sizeof(big));
    for (i = 63; i < 260; i += 64)
        big[i] = '.';
    big[254] = '\0';
    assert_int_equal(kw_dmarc_org_domain(big, out, sizeof(out), &d),
                     KW_EINVAL);
    big[253] = '\0';
    assert_int_equal(kw_dmarc_org_domain(big, out, sizeof(out), &d), 0);
    memset(big, 'a', 64);
    strcpy(big + 64, ".com");
    assert_int_equal(kw_dmarc_org_domain(big, out, sizeof(out), &d),
                     KW_EINVAL);
    assert_int_equal(kw_dmarc_org_domain("mail.example.com", out, 11, &d),
                     KW_ETOOBIG);
    assert_int_equal(kw_dmarc_org_domain("mail.example.com", out, 12, &d), 0);
}

static void aligned(void **state)
{
    static const struct {
        const char *a, *b;
        char mode;
        int want;
    } t[] = {
        {"mail.example.com", "example.com", 'r', 1},
        {"mail.example.com", "example.com", 's', 0},
        {"example.com", "EXAMPLE.com.", 's', 1},
        {"a.example.com", "b.example.com", 'r', 1},
        {"a.example.com", "b.example.com", 's', 0},
        {"example.com", "example.net", 'r', 0},
        {"a.example.co.uk", "b.example.co.uk", 'r', 1},
        {"example.co.uk", "other.co.uk", 'r', 0},
        {"x.github.io", "y.github.io", 'r', 0},
        {"example.com", "example.com", 'x', KW_EINVAL},
        {"example..com", "example.com", 'r', KW_EINVAL},
        {"example.com", "exa mple.com", 's', KW_EINVAL},
    };
    size_t i;
    kw_diag d;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        int r = kw_dmarc_aligned(t[i].a, t[i].b, t[i].mode, &d);

        if (r != t[i].want)
            fail_msg("aligned(%s, %s, %c) = %d, want %d", t[i].a, t[i].b,
                     t[i].mode, r, t[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(record_table),
        cmocka_unit_test(fields),
        cmocka_unit_test(uris),
        cmocka_unit_test(uris_bounded),
        cmocka_unit_test(is_dmarc),
        cmocka_unit_test(org_domain),
        cmocka_unit_test(aligned),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
