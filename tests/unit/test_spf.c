/*
 * SPF without a network: the record parser (every term kind, every
 * error with its offset), macro expansion (RFC 7208 §7.4's examples),
 * check_host() and the static walk over a table-driven fake DNS.
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

#include "dkim/dkim_spf.h"
#include "fakedns.h"

/* ----- the fake DNS (fakedns.h) ----- */

static const fake_rr zone[] = {
    {"ex.test", KW_DNS_TXT, 0, "v=spf1 ip4:192.0.2.0/28 ip6:2001:db8::/32 "
                               "include:inc.ex.test ~all"},
    {"ex.test", KW_DNS_TXT, 0, "google-site-verification=abc"},
    {"inc.ex.test", KW_DNS_TXT, 0, "v=spf1 a:host.ex.test mx -all"},
    {"inc.ex.test", KW_DNS_MX, 0, "mx1.ex.test"},
    {"host.ex.test", KW_DNS_A, 0, "198.51.100.7"},
    {"mx1.ex.test", KW_DNS_A, 0, "198.51.100.25"},
    {"mx1.ex.test", KW_DNS_AAAA, 0, "2001:db9::25"},
    {"neutral.test", KW_DNS_TXT, 0, "v=spf1 ?ip4:192.0.2.1 -ip4:192.0.2.2"},
    {"redir.test", KW_DNS_TXT, 0, "v=spf1 ip4:203.0.113.1 "
                                  "redirect=ex.test"},
    {"two.test", KW_DNS_TXT, 0, "v=spf1 -all"},
    {"two.test", KW_DNS_TXT, 0, "v=spf1 +all"},
    {"bad.test", KW_DNS_TXT, 0, "v=spf1 ip4:192.0.2.300 -all"},
    {"noinc.test", KW_DNS_TXT, 0, "v=spf1 include:nothing.test -all"},
    {"void.test", KW_DNS_TXT, 0, "v=spf1 a:v1.test a:v2.test a:v3.test "
                                 "-all"},
    {"temp.test", KW_DNS_TXT, 0, "v=spf1 ip4:192.0.2.1 include:slow.test "
                                 "-all"},
    {"slow.test", KW_DNS_TXT, KW_ETIMEDOUT, NULL},
    {"exists.test", KW_DNS_TXT, 0, "v=spf1 exists:%{ir}.%{l}._ok.%{d} "
                                   "-all"},
    {"1.2.0.192.alice._ok.exists.test", KW_DNS_A, 0, "127.0.0.2"},
    {"ptr.test", KW_DNS_TXT, 0, "v=spf1 ptr -all"},
    {"5.2.0.192.in-addr.arpa", KW_DNS_PTR, 0, "mail.ptr.test"},
    {"6.2.0.192.in-addr.arpa", KW_DNS_PTR, 0, "mail.elsewhere.test"},
    {"mail.ptr.test", KW_DNS_A, 0, "192.0.2.5"},
    {"mail.elsewhere.test", KW_DNS_A, 0, "192.0.2.6"},
    {"mxmany.test", KW_DNS_TXT, 0, "v=spf1 mx -all"},
    {"mxmany.test", KW_DNS_MX, 0, "m1.test"}, {"mxmany.test", KW_DNS_MX, 0, "m2.test"},
    {"mxmany.test", KW_DNS_MX, 0, "m3.test"}, {"mxmany.test", KW_DNS_MX, 0, "m4.test"},
    {"mxmany.test", KW_DNS_MX, 0, "m5.test"}, {"mxmany.test", KW_DNS_MX, 0, "m6.test"},
    {"mxmany.test", KW_DNS_MX, 0, "m7.test"}, {"mxmany.test", KW_DNS_MX, 0, "m8.test"},
    {"mxmany.test", KW_DNS_MX, 0, "m9.test"}, {"mxmany.test", KW_DNS_MX, 0, "m10.test"},
    {"mxmany.test", KW_DNS_MX, 0, "m11.test"},
    /* Eleven includes; the first one alone lists 192.0.2.1. */
    {"many.test", KW_DNS_TXT, 0, "v=spf1 include:i1.test include:i2.test "
     "include:i3.test include:i4.test include:i5.test include:i6.test "
     "include:i7.test include:i8.test include:i9.test include:i10.test "
     "include:i11.test -all"},
    {"i1.test", KW_DNS_TXT, 0, "v=spf1 ip4:192.0.2.1 -all"},
    {"i2.test", KW_DNS_TXT, 0, "v=spf1 ip4:192.0.2.2 -all"},
    {"i3.test", KW_DNS_TXT, 0, "v=spf1 ip4:192.0.2.3 -all"},
    {"i4.test", KW_DNS_TXT, 0, "v=spf1 ip4:192.0.2.4 -all"},
    {"i5.test", KW_DNS_TXT, 0, "v=spf1 ip4:192.0.2.5 -all"},
    {"i6.test", KW_DNS_TXT, 0, "v=spf1 ip4:192.0.2.6 -all"},
    {"i7.test", KW_DNS_TXT, 0, "v=spf1 ip4:192.0.2.7 -all"},
    {"i8.test", KW_DNS_TXT, 0, "v=spf1 ip4:192.0.2.8 -all"},
    {"i9.test", KW_DNS_TXT, 0, "v=spf1 ip4:192.0.2.9 -all"},
    {"i10.test", KW_DNS_TXT, 0, "v=spf1 ip4:192.0.2.10 -all"},
    {"i11.test", KW_DNS_TXT, 0, "v=spf1 ip4:192.0.2.11 -all"},
    {"loop.test", KW_DNS_TXT, 0, "v=spf1 include:loop2.test -all"},
    {"loop2.test", KW_DNS_TXT, 0, "v=spf1 include:loop.test -all"},
    {"open.test", KW_DNS_TXT, 0, "v=spf1 a +all"},
    {"open.test", KW_DNS_A, 0, "192.0.2.80"},
    {"neutralinc.test", KW_DNS_TXT, 0, "v=spf1 include:qall.test -all"},
    {"qall.test", KW_DNS_TXT, 0, "v=spf1 ip4:192.0.2.1 ?all"},
    {"after.test", KW_DNS_TXT, 0, "v=spf1 -all include:i1.test a "
                                  "redirect=ex.test"},
    {NULL, 0, 0, NULL},
};

static const kw_dns_lookup lk = {fake_dns, (void *)zone};

/* ----- the parser ----- */

static void parse_valid(void **state)
{
    static const char r[] = "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a "
        "mx:mail.example.com/24//64 -ptr:example.org include:_spf.example.com "
        "exists:%{ir}.%{l1r+-}._spf.%{d} ?a//96 ~all redirect=example.net "
        "exp=explain._spf.%{d} x-foo=%{s}bar";
    kw_spf_record *rec = malloc(sizeof(*rec));
    kw_diag d = {""};

    (void)state;
    assert_non_null(rec);
    assert_int_equal(kw_spf_parse(r, strlen(r), rec, &d), 0);
    assert_int_equal(rec->n, 12);
    assert_int_equal(rec->t[0].mech, KW_SPF_IP4);
    assert_int_equal(rec->t[0].cidr4, 24);
    assert_memory_equal(rec->t[0].ip, "\xc0\x00\x02\x00", 4);
    assert_int_equal(rec->t[1].mech, KW_SPF_IP6);
    assert_int_equal(rec->t[1].cidr6, 32);
    assert_int_equal(rec->t[2].mech, KW_SPF_A);
    assert_string_equal(rec->t[2].spec, "");
    assert_int_equal(rec->t[3].mech, KW_SPF_MX);
    assert_string_equal(rec->t[3].spec, "mail.example.com");
    assert_int_equal(rec->t[3].cidr4, 24);
    assert_int_equal(rec->t[3].cidr6, 64);
    assert_int_equal(rec->t[4].mech, KW_SPF_PTR);
    assert_int_equal(rec->t[4].qual, '-');
    assert_int_equal(rec->t[6].mech, KW_SPF_EXISTS);
    assert_int_equal(rec->t[7].cidr4, -1);
    assert_int_equal(rec->t[7].cidr6, 96);
    assert_int_equal(rec->t[8].qual, '~');
    assert_int_equal(rec->redirect, 9);
    assert_string_equal(rec->t[9].spec, "example.net");
    assert_int_equal(rec->exp, 10);
    assert_string_equal(rec->t[11].name, "x-foo");
    assert_int_equal(rec->t[5].offset, 88);
    /* Case does not matter; several spaces separate terms. */
    assert_int_equal(kw_spf_parse("V=SPF1  IP4:192.0.2.1   -ALL ", 29, rec,
                                  &d), 0);
    assert_int_equal(rec->n, 2);
    assert_int_equal(kw_spf_parse("v=spf1", 6, rec, &d), 0);
    assert_int_equal(rec->n, 0);
    free(rec);
}

static void parse_errors(void **state)
{
    static const struct {
        const char *rec;
        const char *want;         /* in the message */
    } bad[] = {
        {"v=spf1 ip4:192.0.2.300 -all", "\"ip4:192.0.2.300\" at offset 7"},
        {"v=spf1 ip4:1.2.03.4", "not an IPv4 address"},
        {"v=spf1 ip4:192.0.2.1/33", "prefix length"},
        {"v=spf1 ip6:2001:db8::/129", "prefix length"},
        {"v=spf1 ip6:192.0.2.1", "not an IPv6 address"},
        {"v=spf1 a/33", "IPv4 prefix length"},
        {"v=spf1 mx//129", "IPv6 prefix length"},
        {"v=spf1 foo:bar.com", "unknown mechanism"},
        {"v=spf1 -all:x", "takes no argument"},
        {"v=spf1 -all/24", "takes no argument"},
        {"v=spf1 include", "needs"},
        {"v=spf1 include:", "needs"},
        {"v=spf1 exists", "needs"},
        {"v=spf1 a:localhost", "top label"},
        {"v=spf1 a:example.123", "top label"},
        {"v=spf1 include:example.com:8080", "top label"},
        {"v=spf1 a:%{x}.example.com", "bad macro"},
        {"v=spf1 a:%{d", "bad macro"},
        {"v=spf1 exists:%{c}.example.com", "bad macro"},
        {"v=spf1 a:100%.example.com", "bad macro"},
        {"v=spf1 a:example.%%{d}", "top label"},
        {"v=spf1 redirect=a.example.com redirect=b.example.com", "twice"},
        {"v=spf1 exp=a.example.com exp=b.example.com", "twice"},
        {"v=spf1 redirect=", "empty domain"},
        {"v=spf1 x-foo=%z", "bad macro"},
        {"v=spf1 =foo", "unknown mechanism"},
        {"v=spf10 -all", "not an SPF record"},
        {"spf1 -all", "not an SPF record"},
        {"v=spf1 -all\t", "character 0x09"},
    };
    kw_spf_record *rec = malloc(sizeof(*rec));
    char big[KW_SPF_RECORD_MAX + 20];
    size_t i;

    (void)state;
    assert_non_null(rec);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kw_diag d = {""};
        int rc = kw_spf_parse(bad[i].rec, strlen(bad[i].rec), rec, &d);

        if (rc != KW_EPARSE || strstr(d.msg, bad[i].want) == NULL)
            fail_msg("%s: rc %d, \"%s\" (want \"%s\")", bad[i].rec, rc,
                     d.msg, bad[i].want);
    }
    memset(big, 0, sizeof(big));
    memcpy(big, "v=spf1", 6);
    memset(big + 6, ' ', sizeof(big) - 7);
    assert_int_equal(kw_spf_parse(big, sizeof(big) - 1, rec, NULL),
                     KW_ETOOBIG);
    /* 129 terms. */
    {
        char many[KW_SPF_RECORD_MAX];
        size_t o = (size_t)snprintf(many, sizeof(many), "v=spf1");

        for (i = 0; i < 129; i++)
            o += (size_t)snprintf(many + o, sizeof(many) - o, " a");
        assert_int_equal(kw_spf_parse(many, o, rec, NULL), KW_ETOOBIG);
    }
    free(rec);
}

/* ----- macros: RFC 7208 §7.4 ----- */

static void macros(void **state)
{
    static const struct {
        const char *in, *out;
    } ex[] = {
        {"%{s}", "strong-bad@email.example.com"},
        {"%{o}", "email.example.com"},
        {"%{d}", "email.example.com"},
        {"%{d4}", "email.example.com"},
        {"%{d3}", "email.example.com"},
        {"%{d2}", "example.com"},
        {"%{d1}", "com"},
        {"%{dr}", "com.example.email"},
        {"%{d2r}", "example.email"},
        {"%{l}", "strong-bad"},
        {"%{l-}", "strong.bad"},
        {"%{lr}", "strong-bad"},
        {"%{lr-}", "bad.strong"},
        {"%{l1r-}", "strong"},
        {"%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"},
        {"%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"},
        {"%{lr-}.lp.%{ir}.%{v}._spf.%{d2}",
         "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"},
        {"%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}",
         "3.2.0.192.in-addr.strong.lp._spf.example.com"},
        {"%{d2}.trusted-domains.example.net",
         "example.com.trusted-domains.example.net"},
        {"%{h}", "mx.example.org"},
        {"%{S}", "strong-bad%40email.example.com"},
        {"%%%_%-x", "% %20x"},
    };
    kw_spf_env env = {"192.0.2.3", "strong-bad@email.example.com",
                      "mx.example.org", "email.example.com"};
    char buf[600], longname[600];
    kw_diag d = {""};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(ex) / sizeof(ex[0]); i++) {
        assert_int_equal(kw_spf_macro_expand(ex[i].in, &env, buf,
                                             sizeof(buf), &d), 0);
        assert_string_equal(buf, ex[i].out);
    }
    env.ip = "2001:db8::cb01";
    assert_int_equal(kw_spf_macro_expand("%{ir}.%{v}._spf.%{d2}", &env, buf,
                                         sizeof(buf), &d), 0);
    assert_string_equal(buf, "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
                             "0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com");
    /* A sender without a local part is postmaster. */
    env.sender = "example.org";
    assert_int_equal(kw_spf_macro_expand("%{l}@%{o}", &env, buf, sizeof(buf),
                                         &d), 0);
    assert_string_equal(buf, "postmaster@example.org");
    /* Longer than 253: labels go on the left. */
    memset(longname, 0, sizeof(longname));
    for (i = 0; i < 60; i++)
        memcpy(longname + i * 5, "abcd.", 5);
    memcpy(longname + 300, "%{d}", 4);
    assert_int_equal(kw_spf_macro_expand(longname, &env, buf, sizeof(buf),
                                         &d), 0);
    assert_true(strlen(buf) <= 253);
    assert_non_null(strstr(buf, "abcd.email.example.com"));
    assert_int_equal(buf[0], 'a');
    assert_int_equal(kw_spf_macro_expand("%{d0}", &env, buf, sizeof(buf),
                                         &d), KW_ETOOBIG);
    assert_int_equal(kw_spf_macro_expand("%{q}", &env, buf, sizeof(buf), &d),
                     KW_EPARSE);
}

/* ----- check_host() ----- */

static void check(const char *ip, const char *sender, kw_spf_result want,
                  const char *why)
{
    kw_spf_check c;
    kw_diag d = {""};

    assert_int_equal(kw_spf_check_host(&lk, ip, sender, "helo.test", &c,
                                       &d), 0);
    if (c.result != want || (why != NULL && strstr(c.reason, why) == NULL))
        fail_msg("%s from %s: %s (%s), want %s with \"%s\"", sender, ip,
                 kw_spf_result_name(c.result), c.reason,
                 kw_spf_result_name(want), why ? why : "");
}

static void check_host(void **state)
{
    kw_spf_check c;
    kw_diag d = {""};

    (void)state;
    check("192.0.2.1", "alice@ex.test", KW_SPF_PASS, "ip4:192.0.2.0/28");
    check("192.0.2.17", "alice@ex.test", KW_SPF_SOFTFAIL, "~all");
    check("2001:db8::1", "alice@ex.test", KW_SPF_PASS, "ip6:");
    check("198.51.100.7", "alice@ex.test", KW_SPF_PASS, "include:inc");
    check("198.51.100.25", "alice@ex.test", KW_SPF_PASS, "include:");
    check("2001:db9::25", "alice@ex.test", KW_SPF_PASS, "include:");
    check("::ffff:192.0.2.2", "alice@ex.test", KW_SPF_PASS, "ip4:");
    check("192.0.2.1", "x@neutral.test", KW_SPF_NEUTRAL, "?ip4");
    check("192.0.2.2", "x@neutral.test", KW_SPF_FAIL, "-ip4");
    check("192.0.2.3", "x@neutral.test", KW_SPF_NEUTRAL, "no mechanism");
    check("203.0.113.1", "x@redir.test", KW_SPF_PASS, "ip4:203.0.113.1");
    check("192.0.2.1", "x@redir.test", KW_SPF_PASS, "ex.test");
    check("192.0.2.99", "x@redir.test", KW_SPF_SOFTFAIL, "~all");
    check("192.0.2.1", "x@two.test", KW_SPF_PERMERROR, "2 \"v=spf1\"");
    check("192.0.2.1", "x@bad.test", KW_SPF_PERMERROR, "ip4:192.0.2.300");
    check("192.0.2.1", "x@noinc.test", KW_SPF_PERMERROR, "nothing.test");
    check("192.0.2.1", "x@void.test", KW_SPF_PERMERROR, "void lookups");
    check("192.0.2.1", "x@nowhere.test", KW_SPF_NONE, NULL);
    check("192.0.2.1", "x@temp.test", KW_SPF_PASS, NULL);
    check("192.0.2.2", "x@temp.test", KW_SPF_TEMPERROR, "slow.test TXT");
    check("192.0.2.1", "alice@exists.test", KW_SPF_PASS, "exists:");
    check("192.0.2.1", "bob@exists.test", KW_SPF_FAIL, "-all");
    check("192.0.2.5", "x@ptr.test", KW_SPF_PASS, "ptr");
    check("192.0.2.6", "x@ptr.test", KW_SPF_FAIL, "-all");
    check("192.0.2.1", "x@mxmany.test", KW_SPF_PERMERROR, "more than 10 MX");
    /* The first include matches before the limit is reached... */
    check("192.0.2.1", "x@many.test", KW_SPF_PASS, "i1.test");
    check("192.0.2.10", "x@many.test", KW_SPF_PASS, "i10.test");
    /* ...the eleventh does not. */
    check("192.0.2.11", "x@many.test", KW_SPF_PERMERROR, "more than 10 DNS");
    check("192.0.2.1", "x@loop.test", KW_SPF_PERMERROR, "more than 10 DNS");
    check("192.0.2.1", "x@open.test", KW_SPF_PASS, NULL);

    assert_int_equal(kw_spf_check_host(&lk, "192.0.2.300", "x@ex.test", "h",
                                       &c, &d), KW_EINVAL);
    assert_non_null(strstr(d.msg, "not an IP"));
    assert_int_equal(kw_spf_check_host(&lk, "192.0.2.1", NULL, NULL, &c, &d),
                     KW_EINVAL);
    /* A bounce: HELO's record decides. */
    assert_int_equal(kw_spf_check_host(&lk, "192.0.2.2", "", "neutral.test",
                                       &c, &d), 0);
    assert_int_equal(c.result, KW_SPF_FAIL);
    assert_int_equal(kw_spf_check_host(&lk, "192.0.2.1", "x@ex.test", "h",
                                       &c, &d), 0);
    assert_int_equal(c.lookups, 0);
    assert_int_equal(kw_spf_check_host(&lk, "192.0.2.17", "x@ex.test", "h",
                                       &c, &d), 0);
    assert_int_equal(c.lookups, 3);
}

/* ----- the walk ----- */

static int has_problem(const kw_spf_node *n, kw_spf_sev sev,
                       const char *text)
{
    size_t i;

    for (i = 0; i < n->nproblems; i++)
        if (n->problems[i].sev == sev && strstr(n->problems[i].text, text))
            return 1;
    return 0;
}

static void walk_counts(void **state)
{
    kw_spf_tree t;
    kw_diag d = {""};
    kw_spf_check c;
    char *text;
    json_t *j;

    (void)state;
    assert_int_equal(kw_spf_walk(&lk, "ex.test", NULL, &t, &d), 0);
    assert_int_equal(t.lookups, 3);        /* include, a, mx */
    assert_int_equal(t.voids, 0);
    assert_int_equal(t.permerror, 0);
    assert_int_equal(t.root->lookups, 1);
    assert_int_equal(t.root->nkids, 1);
    assert_string_equal(t.root->kids[0]->name, "inc.ex.test");
    assert_string_equal(t.root->kids[0]->via, "include");
    assert_int_equal(t.root->kids[0]->lookups, 2);
    assert_int_equal(t.root->subtree_lookups, 3);
    j = kw_spf_tree_json(&t);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "lookups")), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(
        json_object_get(json_object_get(j, "root"), "includes"), 0),
        "name")), "inc.ex.test");
    json_decref(j);
    text = kw_spf_tree_text(&t);
    assert_non_null(text);
    assert_non_null(strstr(text, "  include:inc.ex.test  [lookups: 2 here"));
    free(text);
    kw_spf_tree_free(&t);

    /* check_host passes 192.0.2.1 at the first include; the walk counts
     * all eleven and says PermError. */
    assert_int_equal(kw_spf_check_host(&lk, "192.0.2.1", "x@many.test", "h",
                                       &c, &d), 0);
    assert_int_equal(c.result, KW_SPF_PASS);
    assert_int_equal(kw_spf_walk(&lk, "many.test", NULL, &t, &d), 0);
    assert_int_equal(t.lookups, 11);
    assert_int_equal(t.root->nkids, 11);
    assert_true(t.permerror > 0);
    assert_true(has_problem(t.root, KW_SPF_SEV_PERMERROR,
                            "11 DNS-querying terms"));
    kw_spf_tree_free(&t);

    assert_int_equal(kw_spf_walk(&lk, "void.test", NULL, &t, &d), 0);
    assert_int_equal(t.voids, 3);
    assert_true(has_problem(t.root, KW_SPF_SEV_PERMERROR, "3 void lookups"));
    kw_spf_tree_free(&t);
}

static void walk_problems(void **state)
{
    kw_spf_tree t;
    kw_diag d = {""};

    (void)state;
    assert_int_equal(kw_spf_walk(&lk, "loop.test", NULL, &t, &d), 0);
    assert_int_equal(t.root->nkids, 1);
    assert_true(has_problem(t.root->kids[0], KW_SPF_SEV_PERMERROR,
                            "include loop back to loop.test"));
    kw_spf_tree_free(&t);

    assert_int_equal(kw_spf_walk(&lk, "two.test", NULL, &t, &d), 0);
    assert_true(has_problem(t.root, KW_SPF_SEV_PERMERROR, "exactly one"));
    kw_spf_tree_free(&t);

    assert_int_equal(kw_spf_walk(&lk, "temp.test", NULL, &t, &d), 0);
    assert_int_equal(t.temperror, 1);
    assert_true(has_problem(t.root->kids[0], KW_SPF_SEV_TEMPERROR,
                            "slow.test TXT at 127.0.0.1:53"));
    kw_spf_tree_free(&t);

    assert_int_equal(kw_spf_walk(&lk, "open.test", NULL, &t, &d), 0);
    assert_true(has_problem(t.root, KW_SPF_SEV_WARN, "every address"));
    assert_int_equal(t.permerror, 0);
    kw_spf_tree_free(&t);

    assert_int_equal(kw_spf_walk(&lk, "mxmany.test", NULL, &t, &d), 0);
    assert_true(has_problem(t.root, KW_SPF_SEV_PERMERROR, "11 MX"));
    kw_spf_tree_free(&t);

    assert_int_equal(kw_spf_walk(&lk, "noinc.test", NULL, &t, &d), 0);
    assert_true(has_problem(t.root->kids[0], KW_SPF_SEV_PERMERROR,
                            "nothing.test has no TXT"));
    assert_int_equal(t.voids, 1);
    kw_spf_tree_free(&t);

    assert_int_equal(kw_spf_walk(&lk, "exists.test", NULL, &t, &d), 0);
    assert_int_equal(t.lookups, 1);
    kw_spf_tree_free(&t);

    assert_int_equal(kw_spf_walk(&lk, "ptr.test", NULL, &t, &d), 0);
    assert_true(has_problem(t.root, KW_SPF_SEV_WARN, "ptr is slow"));
    kw_spf_tree_free(&t);

    /* "?all" at the top is a warning; in an include it is harmless. */
    assert_int_equal(kw_spf_walk(&lk, "qall.test", NULL, &t, &d), 0);
    assert_true(has_problem(t.root, KW_SPF_SEV_WARN, "protects nothing"));
    kw_spf_tree_free(&t);
    assert_int_equal(kw_spf_walk(&lk, "neutralinc.test", NULL, &t, &d), 0);
    assert_int_equal(t.warnings, 0);
    kw_spf_tree_free(&t);

    /* Nothing after "all" is evaluated, so nothing there counts. */
    assert_int_equal(kw_spf_walk(&lk, "after.test", NULL, &t, &d), 0);
    assert_int_equal(t.lookups, 0);
    assert_int_equal(t.root->nkids, 0);
    assert_true(has_problem(t.root, KW_SPF_SEV_WARN, "never evaluated"));
    assert_true(has_problem(t.root, KW_SPF_SEV_WARN, "redirect= is ignored"));
    kw_spf_tree_free(&t);

    assert_int_equal(kw_spf_walk(&lk, "nowhere.test", NULL, &t, &d), 0);
    assert_true(has_problem(t.root, KW_SPF_SEV_WARN, "no SPF record"));
    kw_spf_tree_free(&t);

    assert_int_equal(kw_spf_walk(NULL, "x.test", NULL, &t, &d), KW_EINVAL);
}

/* A name with more TXT records than one answer keeps (verification
 * tokens pile up at a domain's apex): the v=spf1 record may be among
 * those not kept, so "no SPF record" would be a guess.  TempError: the
 * answer could not be read whole. */
static void many_txt_records(void **state)
{
    static fake_rr big[KW_DNS_RRSET_MAX + 2];
    kw_dns_lookup blk = {fake_dns, big};
    kw_spf_tree t;
    kw_spf_check c;
    kw_diag d = {""};
    size_t i;

    (void)state;
    for (i = 0; i < KW_DNS_RRSET_MAX; i++)
        big[i] = (fake_rr){"big.test", KW_DNS_TXT, 0, "site-verification=x"};
    big[i++] = (fake_rr){"big.test", KW_DNS_TXT, 0, "v=spf1 -all"};
    big[i] = (fake_rr){NULL, 0, 0, NULL};
    assert_int_equal(kw_spf_walk(&blk, "big.test", NULL, &t, &d), 0);
    assert_false(has_problem(t.root, KW_SPF_SEV_WARN, "no SPF record"));
    assert_true(has_problem(t.root, KW_SPF_SEV_TEMPERROR,
                            "more TXT records"));
    kw_spf_tree_free(&t);
    assert_int_equal(kw_spf_check_host(&blk, "192.0.2.1", "x@big.test", "h",
                                       &c, &d),
                     0);
    assert_int_equal(c.result, KW_SPF_TEMPERROR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_valid),
        cmocka_unit_test(parse_errors),
        cmocka_unit_test(macros),
        cmocka_unit_test(check_host),
        cmocka_unit_test(walk_counts),
        cmocka_unit_test(walk_problems),
        cmocka_unit_test(many_txt_records),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
