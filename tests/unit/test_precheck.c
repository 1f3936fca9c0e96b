/*
 * test_precheck.c: the HTTP-01 pre-check's pure parts (no network):
 * Boulder's redirect rules, relative Locations, loops, the count limit,
 * the missing slash, the 128-byte rule and body trimming.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme_precheck.h"

#define TOK "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
#define KA TOK ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
#define U0 "http://a.example/.well-known/acme-challenge/" TOK

static const acme_pc_rules R = {80, 443, 0};

static acme_pc_verdict jr(const char *url, long st, const char *loc,
                          size_t redirects, char *next)
{
    const char *seen[1] = {url};
    char why[1024];

    return acme_precheck_judge_redirect(&R, url, st, loc, redirects, seen, 1,
                                        next, ACME_PC_URL_MAX, why,
                                        sizeof(why));
}

static void relative_locations(void **state)
{
    char next[ACME_PC_URL_MAX];

    (void)state;
    assert_int_equal(jr(U0, 301, "https://a.example/.well-known/"
                                 "acme-challenge/" TOK, 0, next),
                     ACME_PC_OK);
    assert_string_equal(next, "https://a.example/.well-known/"
                              "acme-challenge/" TOK);
    assert_int_equal(jr(U0, 302, "/x/" TOK, 0, next), ACME_PC_OK);
    assert_string_equal(next, "http://a.example/x/" TOK);
    assert_int_equal(jr(U0, 307, "other", 0, next), ACME_PC_OK);
    assert_string_equal(next,
                        "http://a.example/.well-known/acme-challenge/other");
    assert_int_equal(jr(U0, 308, "//b.example/p", 0, next), ACME_PC_OK);
    assert_string_equal(next, "http://b.example/p");
    assert_int_equal(jr(U0, 301, "../../" TOK, 0, next), ACME_PC_OK);
    assert_string_equal(next, "http://a.example/" TOK);
    assert_int_equal(jr(U0, 301, "https://b.example:443/y#frag", 0, next),
                     ACME_PC_OK);
    assert_null(strchr(next, '#'));
    assert_int_equal(jr(U0, 301, "https://b.example/?q=1", 0, next),
                     ACME_PC_OK);
    assert_string_equal(next, "https://b.example/?q=1");
}

static void ports_and_schemes(void **state)
{
    char next[ACME_PC_URL_MAX], why[1024];
    const char *seen[1] = {U0};
    acme_pc_rules t = {8080, 8443, 1};

    (void)state;
    assert_int_equal(jr(U0, 301, "https://a.example:8443/", 0, next),
                     ACME_PC_BAD_PORT);
    assert_int_equal(jr(U0, 301, "http://a.example:8080/", 0, next),
                     ACME_PC_BAD_PORT);
    /* Either of the two ports is fine for either scheme (Boulder). */
    assert_int_equal(jr(U0, 301, "http://a.example:443/", 0, next),
                     ACME_PC_OK);
    assert_int_equal(jr(U0, 301, "https://a.example:80/", 0, next),
                     ACME_PC_OK);
    assert_int_equal(jr(U0, 301, "ftp://a.example/x", 0, next),
                     ACME_PC_BAD_SCHEME);
    assert_int_equal(jr(U0, 301, "gopher://a.example/x", 0, next),
                     ACME_PC_BAD_SCHEME);
    assert_int_equal(jr(U0, 301, "https://127.0.0.1/x", 0, next),
                     ACME_PC_BAD_HOST);
    assert_int_equal(jr(U0, 301, "https://[::1]/x", 0, next),
                     ACME_PC_BAD_HOST);
    assert_int_equal(jr(U0, 301, "https://10.1.2.3/x", 0, next),
                     ACME_PC_BAD_HOST);
    assert_int_equal(jr(U0, 301, "https://a_b!.example/x", 0, next),
                     ACME_PC_BAD_LOCATION);
    /* With other ports standing for 80 and 443 (tests), a URL without a
     * port gets the mapped one. */
    assert_int_equal(acme_precheck_judge_redirect(&t, U0, 301,
                                                  "https://a.example/z", 0,
                                                  seen, 1, next,
                                                  sizeof(next), why,
                                                  sizeof(why)),
                     ACME_PC_OK);
    assert_string_equal(next, "https://a.example:8443/z");
    assert_int_equal(acme_precheck_judge_redirect(&t, U0, 301,
                                                  "https://127.0.0.1:8443/z",
                                                  0, seen, 1, next,
                                                  sizeof(next), why,
                                                  sizeof(why)),
                     ACME_PC_OK);
    assert_int_equal(acme_precheck_judge_redirect(&t, U0, 301,
                                                  "https://a.example:443/z",
                                                  0, seen, 1, next,
                                                  sizeof(next), why,
                                                  sizeof(why)),
                     ACME_PC_BAD_PORT);
    assert_non_null(strstr(why, "8080 and 8443"));
}

static void statuses(void **state)
{
    char next[ACME_PC_URL_MAX];

    (void)state;
    assert_int_equal(jr(U0, 303, "https://a.example/", 0, next),
                     ACME_PC_BAD_STATUS);
    assert_int_equal(jr(U0, 300, "https://a.example/", 0, next),
                     ACME_PC_BAD_STATUS);
    assert_int_equal(jr(U0, 301, NULL, 0, next), ACME_PC_BAD_STATUS);
    assert_int_equal(jr(U0, 301, "", 0, next), ACME_PC_BAD_STATUS);
    assert_int_equal(jr(U0, 200, "https://a.example/", 0, next),
                     ACME_PC_BAD_STATUS);
}

static void loops_and_count(void **state)
{
    char next[ACME_PC_URL_MAX], why[1024];
    const char *seen[2] = {U0, "https://a.example/x"};

    (void)state;
    assert_int_equal(jr(U0, 301, U0, 0, next), ACME_PC_LOOP);
    assert_int_equal(acme_precheck_judge_redirect(&R, "https://a.example/x",
                                                  301, U0, 1, seen, 2, next,
                                                  sizeof(next), why,
                                                  sizeof(why)),
                     ACME_PC_LOOP);
    /* Boulder: numRedirects > 10 is refused, checked before counting:
     * redirects number 1..11 are followed, the 12th is not. */
    assert_int_equal(jr(U0, 301, "/n11", 10, next), ACME_PC_OK);
    assert_int_equal(jr(U0, 301, "/n12", 11, next),
                     ACME_PC_TOO_MANY_REDIRECTS);
    assert_int_equal(jr(U0, 301, "/n12", 50, next),
                     ACME_PC_TOO_MANY_REDIRECTS);
}

static void missing_slash(void **state)
{
    char next[ACME_PC_URL_MAX];

    (void)state;
    /* Apache: Redirect / https://a.example  (no trailing slash) */
    assert_int_equal(jr(U0, 301, "https://a.example.well-known/"
                                 "acme-challenge/" TOK, 0, next),
                     ACME_PC_MISSING_SLASH);
    assert_int_equal(jr(U0, 301, "https://A.EXAMPLE.WELL-KNOWN/x", 0, next),
                     ACME_PC_MISSING_SLASH);
}

static void long_path(void **state)
{
    char next[ACME_PC_URL_MAX], loc[2100];

    (void)state;
    memset(loc, 'a', sizeof(loc) - 1);
    loc[0] = '/';
    loc[sizeof(loc) - 1] = '\0';
    assert_int_equal(jr(U0, 301, loc, 0, next), ACME_PC_BAD_LOCATION);
    loc[1990] = '\0';
    assert_int_equal(jr(U0, 301, loc, 0, next), ACME_PC_OK);
}

static acme_pc_verdict jf(long st, const char *ct, const char *body,
                          int trunc)
{
    char why[1024];

    return acme_precheck_judge_final(st, ct, body, strlen(body), trunc, KA,
                                     why, sizeof(why));
}

static void bodies(void **state)
{
    char big[200];

    (void)state;
    assert_int_equal(jf(200, "text/plain", KA, 0), ACME_PC_OK);
    assert_int_equal(jf(200, NULL, KA "\n", 0), ACME_PC_OK);
    assert_int_equal(jf(200, NULL, KA " \r\n\t \n", 0), ACME_PC_OK);
    /* Only trailing whitespace is trimmed. */
    assert_int_equal(jf(200, NULL, " " KA, 0), ACME_PC_WRONG_BODY);
    assert_int_equal(jf(200, NULL, KA "x", 0), ACME_PC_WRONG_BODY);
    assert_int_equal(jf(200, NULL, "", 0), ACME_PC_WRONG_BODY);
    assert_int_equal(jf(404, NULL, KA, 0), ACME_PC_BAD_STATUS);
    assert_int_equal(jf(201, NULL, KA, 0), ACME_PC_BAD_STATUS);
    assert_int_equal(jf(200, "text/html", "<p>hi</p>", 0),
                     ACME_PC_HTML_BODY);
    assert_int_equal(jf(200, NULL, "<!DOCTYPE html><title>x</title>", 0),
                     ACME_PC_HTML_BODY);
    /* The 128-byte rule: 127 bytes may match, 128 never does, even if it
     * starts with the key authorization followed by spaces. */
    memset(big, ' ', sizeof(big));
    memcpy(big, KA, strlen(KA));
    big[127] = '\0';
    assert_int_equal(jf(200, NULL, big, 0), ACME_PC_OK);
    big[127] = ' ';
    big[128] = '\0';
    assert_int_equal(jf(200, NULL, big, 0), ACME_PC_HTML_BODY);
    assert_int_equal(jf(200, NULL, KA, 1), ACME_PC_HTML_BODY);
}

static void path_and_ips(void **state)
{
    (void)state;
    assert_true(acme_precheck_path_kept(U0, TOK));
    assert_true(acme_precheck_path_kept("https://b.example/acme/" TOK, TOK));
    assert_false(acme_precheck_path_kept("https://a.example/", TOK));
    assert_false(acme_precheck_path_kept("https://a.example/login?next=x",
                                         TOK));
    assert_int_equal(acme_precheck_reserved_ip("127.0.0.1"), 1);
    assert_int_equal(acme_precheck_reserved_ip("192.168.1.1"), 1);
    assert_int_equal(acme_precheck_reserved_ip("172.31.0.1"), 1);
    assert_int_equal(acme_precheck_reserved_ip("100.64.0.1"), 1);
    assert_int_equal(acme_precheck_reserved_ip("169.254.169.254"), 1);
    assert_int_equal(acme_precheck_reserved_ip("8.8.8.8"), 0);
    assert_int_equal(acme_precheck_reserved_ip("172.32.0.1"), 0);
    assert_int_equal(acme_precheck_reserved_ip("::1"), 1);
    assert_int_equal(acme_precheck_reserved_ip("fe80::1"), 1);
    assert_int_equal(acme_precheck_reserved_ip("fd00::1"), 1);
    assert_int_equal(acme_precheck_reserved_ip("::ffff:10.0.0.1"), 1);
    assert_int_equal(acme_precheck_reserved_ip("2001:db8::1"), 1);
    assert_int_equal(acme_precheck_reserved_ip("2606:4700::1111"), 0);
    assert_int_equal(acme_precheck_reserved_ip("a.example"), -1);
}

static void verdict_words(void **state)
{
    acme_precheck_result *r = calloc(1, sizeof(*r));
    int v;

    (void)state;
    assert_non_null(r);
    snprintf(r->name, sizeof(r->name), "a.example");
    for (v = 0; v < ACME_PC_NVERDICTS; v++) {
        assert_string_not_equal(acme_pc_verdict_name((acme_pc_verdict)v),
                                "UNKNOWN");
        r->verdict = (acme_pc_verdict)v;
        acme_precheck_fix(r, TOK);
        if (v != ACME_PC_OK)
            assert_true(strlen(r->fix) > 20);
    }
    r->verdict = ACME_PC_PATH_DROPPED;
    acme_precheck_fix(r, TOK);
    assert_non_null(strstr(r->fix, "location ^~ /.well-known/acme-challenge/"));
    assert_non_null(strstr(r->fix, "RewriteCond %{REQUEST_URI}"));
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(relative_locations),
        cmocka_unit_test(ports_and_schemes),
        cmocka_unit_test(statuses),
        cmocka_unit_test(loops_and_count),
        cmocka_unit_test(missing_slash),
        cmocka_unit_test(long_path),
        cmocka_unit_test(bodies),
        cmocka_unit_test(path_and_ips),
        cmocka_unit_test(verdict_words),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
