/*
 * test_dns_zone_servers.c: kw_dns_zone_servers against a small UDP
 * responder on loopback (udpresp.h): a zone with more NS names than it
 * looks up, or more addresses than the caller has room for, fails naming the zone and the counts instead of leaving the
 * servers past the bound unasked; a zone within the bounds is listed
 * whole.
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

#include "dns/dns_update.h"
#include "udpresp.h"

/* NS names of wide.test (past the 32 looked up), of small.test. */
#define WIDE_NS 34
#define SMALL_NS 3

/* The answer to q: NS of wide.test (no glue: each name's A is asked),
 * NS of small.test with glue, A of nN.wide.test; NOERROR and empty for
 * the rest. */
static ldns_pkt *answer(const ldns_pkt *q, const char *qname,
                        ldns_rr_type type)
{
    ldns_pkt *a = udpresp_reply(q);
    int i;

    if (type == LDNS_RR_TYPE_NS && strcmp(qname, "wide.test.") == 0) {
        for (i = 0; i < WIDE_NS; i++)
            udpresp_add(a, LDNS_SECTION_ANSWER,
                        "wide.test. 60 IN NS n%d.wide.test.", i);
    } else if (type == LDNS_RR_TYPE_NS &&
               strcmp(qname, "small.test.") == 0) {
        for (i = 0; i < SMALL_NS; i++) {
            udpresp_add(a, LDNS_SECTION_ANSWER,
                        "small.test. 60 IN NS n%d.small.test.", i);
            udpresp_add(a, LDNS_SECTION_ADDITIONAL,
                        "n%d.small.test. 60 IN A 127.0.2.%d", i, i + 1);
        }
    } else if (type == LDNS_RR_TYPE_A &&
               sscanf(qname, "n%d.wide.test.", &i) == 1) {
        udpresp_add(a, LDNS_SECTION_ANSWER, "%s 60 IN A 127.0.1.%d", qname,
                    i + 1);
    }
    return a;
}

static int setup(void **state)
{
    udpresp *r = calloc(1, sizeof(*r));

    assert_non_null(r);
    assert_int_equal(udpresp_start(r, answer), 0);
    *state = r;
    return 0;
}

static int teardown(void **state)
{
    udpresp *r = *state;

    udpresp_stop(r);
    free(r);
    return 0;
}

static void ask(udpresp *r, kw_dns_server *srv)
{
    memset(srv, 0, sizeof(*srv));
    snprintf(srv->addr, sizeof(srv->addr), "127.0.0.1");
    srv->port = r->port;
}

/* 34 NS names: the first 32 are looked up, and the call says the rest
 * were not. */
static void test_ns_past_bound(void **state)
{
    kw_dns_server srv, out[KW_DNS_SERVERS_MAX];
    kw_diag d = {""};
    size_t n = 0;

    ask(*state, &srv);
    assert_int_equal(kw_dns_zone_servers(&srv, "wide.test", 53, out,
                                         KW_DNS_SERVERS_MAX, &n, 5000, &d),
                     KW_ETOOBIG);
    assert_int_equal(n, 32);
    assert_non_null(strstr(d.msg, "zone wide.test has 34 NS names"));
    assert_non_null(strstr(d.msg, "only the first 32"));
}

/* Three addresses and room for two: refused, naming the counts. */
static void test_addresses_past_max(void **state)
{
    kw_dns_server srv, out[SMALL_NS];
    kw_diag d = {""};
    size_t n = 0;

    ask(*state, &srv);
    assert_int_equal(kw_dns_zone_servers(&srv, "small.test", 53, out, 2, &n,
                                         5000, &d), KW_ETOOBIG);
    assert_int_equal(n, 2);
    assert_non_null(strstr(d.msg, "zone small.test"));
    assert_non_null(strstr(d.msg, "3 addresses; only 2 can be asked"));
    /* With room for all three, all three. */
    assert_int_equal(kw_dns_zone_servers(&srv, "small.test", 53, out,
                                         SMALL_NS, &n, 5000, &d), 0);
    assert_int_equal(n, 3);
    assert_string_equal(out[2].addr, "127.0.2.3");
    assert_int_equal(out[2].port, 53);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ns_past_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_addresses_past_max, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
