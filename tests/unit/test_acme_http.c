/*
 * The ACME client's reading of response headers: Link (several entries,
 * quoted and bare rel, commas inside <...>), Retry-After (seconds, an
 * HTTP-date, garbage, absurd values), case-insensitive names, and a
 * 100 Continue that must not leak its headers into the real response.
 * Also the classification of problem types.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "acme/acme_client.h"
#include "acme/acme_http.h"

#define NOW INT64_C(1795651200) /* 2026-11-26T00:00:00Z */

static void feed(acme_resp *r, const char *text)
{
    const char *p = text;

    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t n = nl != NULL ? (size_t)(nl - p) + 1 : strlen(p);

        acme_resp_header(r, p, n, NOW);
        p += n;
    }
}

static void links(void **state)
{
    acme_resp r;

    (void)state;
    memset(&r, 0, sizeof(r));
    r.retry_after = -1;
    feed(&r, "HTTP/1.1 200 OK\r\n"
             "LINK: <https://ca/dir>;rel=\"index\", "
             "<https://ca/alt,1>; rel=\"alternate\"\r\n"
             "Link: <https://ca/issuer>;rel=up\r\n"
             "Link: <https://ca/alt/2>;rel=\"alternate\"\r\n"
             "replay-nonce:  n0nce_-  \r\n"
             "Location: https://ca/order/7\r\n");
    assert_string_equal(r.link_up, "https://ca/issuer");
    assert_int_equal(r.nalternate, 2);
    assert_string_equal(r.link_alternate[0], "https://ca/alt,1");
    assert_string_equal(r.link_alternate[1], "https://ca/alt/2");
    assert_string_equal(r.nonce, "n0nce_-");
    assert_string_equal(r.location, "https://ca/order/7");
    /* A new status line (after 100 Continue) starts over. */
    feed(&r, "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n");
    assert_null(r.link_up);
    assert_null(r.nonce);
    assert_int_equal(r.nalternate, 0);
    assert_string_equal(r.content_type, "application/json");
    /* Unterminated, empty and header-less lines are ignored. */
    feed(&r, "Link: <https://ca/x\r\nLink:\r\nno colon here\r\n");
    assert_null(r.link_up);
    acme_resp_clear(&r);
}

static void retry_after(void **state)
{
    (void)state;
    assert_int_equal(acme_retry_after_parse("120", NOW), 120);
    assert_int_equal(acme_retry_after_parse(" 0 ", NOW), 0);
    assert_int_equal(acme_retry_after_parse("12x", NOW), -1);
    assert_int_equal(acme_retry_after_parse("soon", NOW), -1);
    assert_int_equal(acme_retry_after_parse("", NOW), -1);
    assert_int_equal(
        acme_retry_after_parse("Thu, 26 Nov 2026 01:00:00 GMT", NOW), 3600);
    /* In the past: now. */
    assert_int_equal(
        acme_retry_after_parse("Wed, 25 Nov 2026 01:00:00 GMT", NOW), 0);
    /* Absurd values are capped at a year and a day (found by fuzzing:
     * a date in 7907 was not). */
    assert_int_equal(acme_retry_after_parse("99999999999", NOW),
                     366 * 86400);
    assert_int_equal(
        acme_retry_after_parse("Wed, 21 Oct 7907 07:28:00 GMT", NOW),
        366 * 86400);
}

static void problem_classes(void **state)
{
    (void)state;
    assert_int_equal(acme_problem_class("urn:ietf:params:acme:error:"
                                        "rateLimited"),
                     ACME_FAIL_RATELIMIT);
    assert_int_equal(acme_problem_class("urn:ietf:params:acme:error:"
                                        "rejectedIdentifier"),
                     ACME_FAIL_PERMANENT);
    assert_int_equal(acme_problem_class("urn:ietf:params:acme:error:"
                                        "connection"),
                     ACME_FAIL_VALIDATION);
    assert_int_equal(acme_problem_class("urn:ietf:params:acme:error:"
                                        "serverInternal"),
                     ACME_FAIL_TRANSIENT);
    assert_int_equal(acme_problem_class("about:blank"), ACME_FAIL_TRANSIENT);
    assert_int_equal(acme_problem_class(NULL), ACME_FAIL_TRANSIENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(links),
        cmocka_unit_test(retry_after),
        cmocka_unit_test(problem_classes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
