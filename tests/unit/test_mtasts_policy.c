/*
 * MTA-STS and TLS-RPT texts (mtasts/mtasts_policy.h): the _mta-sts
 * record and its selection among a name's TXT records, the policy file
 * (every field, LF and CRLF, the size bound, extensions), the mx:
 * wildcard of RFC 8461 section 4.1, and the _smtp._tls record.  Every
 * error is checked for the words that name the line or field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mtasts/mtasts_policy.h"

typedef struct tcase {
    const char *txt;
    int rc;
    const char *want; /* the id, or a part of the error */
} tcase;

static void test_txt(void **state)
{
    static const tcase cases[] = {
        {"v=STSv1; id=20240101", 0, "20240101"},
        {"v=STSv1;id=abc;", 0, "abc"},
        {"v=STSv1 ;  id=A1b2 ; ", 0, "A1b2"},
        {"v=STSv1; id=x; ext_1=val.ue", 0, "x"},
        {"v=STSv1; ext=1; id=12345678901234567890123456789012", 0,
         "12345678901234567890123456789012"},
        {"v=STSv1; id=123456789012345678901234567890123", KW_EPARSE,
         "33 characters long"},
        {"v=STSv1; id=2024-01-01", KW_EPARSE, "holds \"-\""},
        {"v=STSv1", KW_EPARSE, "no id= field"},
        {"v=STSv1;", KW_EPARSE, "no id= field"},
        {"v=STSv1; id=1; id=2", KW_EPARSE, "id= appears twice"},
        {"v=STSv2; id=1", KW_EPARSE, "does not start with v=STSv1"},
        {"id=1; v=STSv1", KW_EPARSE, "does not start with v=STSv1"},
        {"v=STSv1 id=1", KW_EPARSE, "a \";\" was expected"},
        {"v=STSv1; id", KW_EPARSE, "not a name=value field"},
        {"v=STSv1; =1", KW_EPARSE, "not a name=value field"},
        {"v=STSv1; id=", KW_EPARSE, "has no value"},
        {"v=STSv1; id=1; _x=1", KW_EPARSE, "field name \"_x\""},
        {"v=STSv1; id=1; x=a=b", KW_EPARSE, "character not allowed"},
    };
    kw_mtasts_txt t;
    kw_diag d;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc;

        memset(&d, 0, sizeof(d));
        rc = kw_mtasts_txt_parse(cases[i].txt, strlen(cases[i].txt), &t, &d);
        if (rc != cases[i].rc)
            fail_msg("%s: rc %d, want %d (%s)", cases[i].txt, rc,
                     cases[i].rc, d.msg);
        if (rc == 0 && strcmp(t.id, cases[i].want) != 0)
            fail_msg("%s: id %s", cases[i].txt, t.id);
        if (rc != 0 && strstr(d.msg, cases[i].want) == NULL)
            fail_msg("%s: \"%s\" lacks \"%s\"", cases[i].txt, d.msg,
                     cases[i].want);
    }
}

static int sel(const char *const *r, size_t n, kw_mtasts_txt *t, kw_diag *d)
{
    size_t lens[8], i;

    for (i = 0; i < n; i++)
        lens[i] = strlen(r[i]);
    return kw_mtasts_txt_select(r, lens, n, t, d);
}

static void test_txt_select(void **state)
{
    const char *one[] = {"v=spf1 -all", "v=STSv1; id=7", "google-site=x"};
    const char *two[] = {"v=STSv1; id=7", "v=STSv1; id=8"};
    const char *bad[] = {"v=STSv1; id=7-7"};
    const char *none[] = {"v=spf1 -all", "v=STSv10; id=1"};
    const char *spaced[] = {"v=STSv1 ; id=7"};
    const char *bare[] = {"v=STSv1"};
    kw_mtasts_txt t;
    kw_diag d;

    (void)state;
    assert_int_equal(sel(one, 3, &t, &d), 0);
    assert_string_equal(t.id, "7");
    assert_int_equal(sel(two, 2, &t, &d), KW_EPARSE);
    assert_non_null(strstr(d.msg, "2 _mta-sts records"));
    assert_non_null(strstr(d.msg, "no valid policy"));
    assert_int_equal(sel(bad, 1, &t, &d), KW_EPARSE);
    assert_non_null(strstr(d.msg, "only letters and digits"));
    assert_non_null(strstr(d.msg, "no valid policy"));
    assert_int_equal(sel(none, 2, &t, &d), KW_ENOTFOUND);
    assert_int_equal(sel(none, 0, &t, &d), KW_ENOTFOUND);
    /* Valid by the grammar, but senders select records by the literal
     * "v=STSv1;" and discard this one. */
    assert_int_equal(kw_mtasts_txt_parse(spaced[0], strlen(spaced[0]), &t,
                                         &d), 0);
    assert_int_equal(sel(spaced, 1, &t, &d), KW_EPARSE);
    assert_non_null(strstr(d.msg, "does not start with \"v=STSv1;\": "
                                  "senders discard it"));
    assert_int_equal(sel(bare, 1, &t, &d), KW_EPARSE);
    assert_string_equal(t.id, "");
}

typedef struct pcase {
    const char *body;
    int rc;
    const char *want; /* part of the error */
    kw_mtasts_mode mode;
    int64_t max_age;
    size_t nmx;
} pcase;

#define GOOD "version: STSv1\nmode: enforce\nmx: mx.example.com\n" \
             "max_age: 604800\n"

static void test_policy(void **state)
{
    static const pcase cases[] = {
        {GOOD, 0, NULL, KW_MTASTS_ENFORCE, 604800, 1},
        {"version: STSv1\r\nmode: testing\r\nmx: *.example.com\r\n"
         "mx: mx2.example.net\r\nmax_age: 86400\r\n",
         0, NULL, KW_MTASTS_TESTING, 86400, 2},
        {"version:STSv1\nmode:none\nmax_age:0", 0, NULL, KW_MTASTS_NONE, 0,
         0},
        {"version: STSv1\nmode: enforce\nmx: MX.Example.COM  \n"
         "max_age: 31557600\nfuture_ext: anything at all\n\n",
         0, NULL, KW_MTASTS_ENFORCE, 31557600, 1},
        {"version: STSv1\nmode: enforce\nmx: m.example.com\n"
         "max_age: 31557601\n",
         KW_EPARSE, "line 4: max_age \"31557601\"", 0, 0, 0},
        {"version: STSv1\nmode: enforce\nmx: m.example.com\nmax_age: -1\n",
         KW_EPARSE, "line 4: max_age", 0, 0, 0},
        {"version: STSv1\nmode: enforce\nmx: m.example.com\n"
         "max_age: 12345678901\n",
         KW_EPARSE, "max_age", 0, 0, 0},
        {"version: STSv2\nmode: enforce\n", KW_EPARSE,
         "line 1: version \"STSv2\"", 0, 0, 0},
        {"version: STSv1\nmode: strict\n", KW_EPARSE,
         "line 2: mode \"strict\"", 0, 0, 0},
        {"version: STSv1\nversion: STSv1\n", KW_EPARSE,
         "line 2: version appears twice", 0, 0, 0},
        {"version: STSv1\nmode: none\nmode: none\n", KW_EPARSE,
         "line 3: mode appears twice", 0, 0, 0},
        {"version: STSv1\nmode: none\nmax_age: 1\nmax_age: 2\n", KW_EPARSE,
         "line 4: max_age appears twice", 0, 0, 0},
        {"version: STSv1\nmode: enforce\nmx: *.*.example.com\n", KW_EPARSE,
         "line 3: mx \"*.*.example.com\"", 0, 0, 0},
        {"version: STSv1\nmode: enforce\nmx: com\n", KW_EPARSE,
         "line 3: mx \"com\"", 0, 0, 0},
        {"version: STSv1\nmode: enforce\nmx: mx.example.com.\n", KW_EPARSE,
         "line 3: mx", 0, 0, 0},
        {"version: STSv1\nmode: enforce\nmx: -mx.example.com\n", KW_EPARSE,
         "line 3: mx", 0, 0, 0},
        {"version: STSv1\nmode: enforce\nmx: mx_1.example.com\n", KW_EPARSE,
         "line 3: mx", 0, 0, 0},
        {"version: STSv1\nmode: enforce\nmx: \n", KW_EPARSE, "line 3: mx",
         0, 0, 0},
        {"version STSv1\n", KW_EPARSE, "line 1 (\"version STSv1\")", 0, 0,
         0},
        {": STSv1\n", KW_EPARSE, "line 1", 0, 0, 0},
        {"ver sion: STSv1\n", KW_EPARSE, "line 1: key \"ver sion\"", 0, 0,
         0},
        {"version: STSv1\nmode: en\x01orce\n", KW_EPARSE,
         "line 2 (mode): the value holds a control character", 0, 0, 0},
        {"mode: enforce\nmx: m.example.com\nmax_age: 1\n", KW_EPARSE,
         "no version field", 0, 0, 0},
        {"version: STSv1\nmx: m.example.com\nmax_age: 1\n", KW_EPARSE,
         "no mode field", 0, 0, 0},
        {"version: STSv1\nmode: enforce\nmx: m.example.com\n", KW_EPARSE,
         "no max_age field", 0, 0, 0},
        {"version: STSv1\nmode: testing\nmax_age: 1\n", KW_EPARSE,
         "mode testing without any mx line", 0, 0, 0},
        {"", KW_EPARSE, "no version field", 0, 0, 0},
    };
    kw_mtasts_policy p;
    kw_diag d;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const pcase *c = &cases[i];
        int rc;

        memset(&d, 0, sizeof(d));
        rc = kw_mtasts_policy_parse(c->body, strlen(c->body), &p, &d);
        if (rc != c->rc)
            fail_msg("case %zu: rc %d, want %d (%s)", i, rc, c->rc, d.msg);
        if (rc != 0) {
            if (strstr(d.msg, c->want) == NULL)
                fail_msg("case %zu: \"%s\" lacks \"%s\"", i, d.msg, c->want);
            assert_int_equal(p.nmx, 0);
            continue;
        }
        assert_int_equal(p.mode, c->mode);
        assert_int_equal(p.max_age, c->max_age);
        assert_int_equal(p.nmx, c->nmx);
    }
    /* Case is folded, white space trimmed. */
    assert_int_equal(kw_mtasts_policy_parse(cases[3].body,
                                            strlen(cases[3].body), &p, &d),
                     0);
    assert_string_equal(p.mx[0], "mx.example.com");
}

static void test_policy_bounds(void **state)
{
    char *big = malloc(KW_MTASTS_POLICY_MAX + 2);
    char *many = malloc(64 * 40);
    kw_mtasts_policy p;
    kw_diag d;
    size_t len, i;

    (void)state;
    assert_non_null(big);
    assert_non_null(many);
    /* Padding with an extension line up to exactly the bound parses. */
    len = strlen(GOOD);
    memcpy(big, GOOD, len);
    memcpy(big + len, "x: ", 3);
    memset(big + len + 3, 'a', KW_MTASTS_POLICY_MAX - len - 3);
    assert_int_equal(kw_mtasts_policy_parse(big, KW_MTASTS_POLICY_MAX, &p,
                                            &d), 0);
    big[KW_MTASTS_POLICY_MAX] = 'a';
    assert_int_equal(kw_mtasts_policy_parse(big, KW_MTASTS_POLICY_MAX + 1,
                                            &p, &d), KW_ETOOBIG);
    assert_non_null(strstr(d.msg, "at most 65536"));
    /* More mx lines than kept. */
    len = (size_t)sprintf(many, "version: STSv1\nmode: enforce\n");
    for (i = 0; i <= KW_MTASTS_MX_MAX; i++)
        len += (size_t)sprintf(many + len, "mx: m%zu.example.com\n", i);
    assert_int_equal(kw_mtasts_policy_parse(many, len, &p, &d), KW_ETOOBIG);
    assert_non_null(strstr(d.msg, "more than 32 mx lines"));
    free(big);
    free(many);
}

static void test_mx_match(void **state)
{
    kw_mtasts_policy p;
    kw_diag d;

    (void)state;
    assert_int_equal(kw_mtasts_mx_match("mx.example.com", "mx.example.com"),
                     1);
    assert_int_equal(kw_mtasts_mx_match("mx.example.com", "MX.example.com."),
                     1);
    assert_int_equal(kw_mtasts_mx_match("mx.example.com", "mx.example.co"),
                     0);
    assert_int_equal(kw_mtasts_mx_match("*.example.com", "mx.example.com"),
                     1);
    /* The wildcard is one label: not two, not none. */
    assert_int_equal(kw_mtasts_mx_match("*.example.com", "a.b.example.com"),
                     0);
    assert_int_equal(kw_mtasts_mx_match("*.example.com", "example.com"), 0);
    assert_int_equal(kw_mtasts_mx_match("*.example.com", ".example.com"), 0);
    assert_int_equal(kw_mtasts_mx_match("*.example.com", "mxexample.com"), 0);
    static const char two[] = "version: STSv1\nmode: enforce\n"
                              "mx: a.example.com\nmx: *.mail.example.com\n"
                              "max_age: 86400\n";

    assert_int_equal(kw_mtasts_policy_parse(two, strlen(two), &p, &d), 0);
    assert_int_equal(kw_mtasts_policy_covers(&p, "a.example.com"), 0);
    assert_int_equal(kw_mtasts_policy_covers(&p, "x.mail.example.com"), 1);
    assert_int_equal(kw_mtasts_policy_covers(&p, "b.example.com"), -1);
    assert_string_equal(kw_mtasts_mode_name(KW_MTASTS_ENFORCE), "enforce");
    assert_string_equal(kw_mtasts_mode_name(KW_MTASTS_TESTING), "testing");
    assert_string_equal(kw_mtasts_mode_name(KW_MTASTS_NONE), "none");
}

static void test_tlsrpt(void **state)
{
    static const tcase cases[] = {
        {"v=TLSRPTv1; rua=mailto:tls@example.com", 0, "mailto:tls@example.com"},
        {"v=TLSRPTv1;rua=https://r.example.net/tls,mailto:a@b.example;", 0,
         "https://r.example.net/tls"},
        {"v=TLSRPTv1; rua=mailto:a@b.example; ext=1", 0, "mailto:a@b.example"},
        {"v=TLSRPTv1", KW_EPARSE, "no rua= field"},
        {"v=TLSRPTv1; rua=ftp://x.example", KW_EPARSE,
         "neither mailto: nor https:"},
        {"v=TLSRPTv1; rua=mailto:nobody", KW_EPARSE, "has no mail address"},
        {"v=TLSRPTv1; rua=mailto:@x.example", KW_EPARSE,
         "has no mail address"},
        {"v=TLSRPTv1; rua=mailto:a@", KW_EPARSE, "has no mail address"},
        {"v=TLSRPTv1; rua=mailto:a@b.example,", KW_EPARSE, "an empty URI"},
        {"v=TLSRPTv1; rua=mailto:a@b.example; rua=mailto:c@d.example",
         KW_EPARSE, "rua= appears twice"},
        {"v=TLSRPTv1; rua=https://x.example/\x7f", KW_EPARSE,
         "control character"},
        {"v=STSv1; rua=mailto:a@b.example", KW_EPARSE,
         "does not start with v=TLSRPTv1"},
    };
    const char *two[] = {"v=TLSRPTv1; rua=mailto:a@b.example",
                         "v=TLSRPTv1; rua=mailto:c@d.example"};
    const char *badsel[] = {"v=TLSRPTv1; rua=gopher://x"};
    size_t lens[2] = {strlen(two[0]), strlen(two[1])}, blen = strlen(badsel[0]);
    char many[1024];
    kw_tlsrpt t;
    kw_diag d;
    size_t i, n;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc;

        memset(&d, 0, sizeof(d));
        rc = kw_tlsrpt_parse(cases[i].txt, strlen(cases[i].txt), &t, &d);
        if (rc != cases[i].rc)
            fail_msg("%s: rc %d, want %d (%s)", cases[i].txt, rc,
                     cases[i].rc, d.msg);
        if (rc == 0 && strcmp(t.rua[0], cases[i].want) != 0)
            fail_msg("%s: rua %s", cases[i].txt, t.rua[0]);
        if (rc != 0 && strstr(d.msg, cases[i].want) == NULL)
            fail_msg("%s: \"%s\" lacks \"%s\"", cases[i].txt, d.msg,
                     cases[i].want);
    }
    n = (size_t)sprintf(many, "v=TLSRPTv1; rua=");
    for (i = 0; i <= KW_TLSRPT_RUA_MAX; i++)
        n += (size_t)sprintf(many + n, "%smailto:r%zu@x.example",
                             i ? "," : "", i);
    assert_int_equal(kw_tlsrpt_parse(many, n, &t, &d), KW_ETOOBIG);
    assert_int_equal(kw_tlsrpt_select(two, lens, 2, &t, &d), KW_EPARSE);
    assert_non_null(strstr(d.msg, "senders send no reports"));
    assert_int_equal(kw_tlsrpt_select(two, lens, 1, &t, &d), 0);
    assert_int_equal(t.nrua, 1);
    assert_int_equal(kw_tlsrpt_select(badsel, &blen, 1, &t, &d), KW_EPARSE);
    assert_non_null(strstr(d.msg, "gopher"));
    assert_int_equal(kw_tlsrpt_select(two, lens, 0, &t, &d), KW_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_txt),
        cmocka_unit_test(test_txt_select),
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_policy_bounds),
        cmocka_unit_test(test_mx_match),
        cmocka_unit_test(test_tlsrpt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
