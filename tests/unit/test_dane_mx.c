/*
 * test_dane_mx.c: kw_dane_mx_lookup against a resolver on loopback
 * (udpresp.h): a mail domain with more MX hosts than are DANE-checked
 * lists the first KW_DANE_MX_MAX and counts the others in truncated (the
 * dane-check job warns with the count), instead of a bare flag.
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

#include "dane/dane_check.h"
#include "udpresp.h"

#define MANY 40

/* MX of many.test: MANY exchanges; of few.test: two; else nothing. */
static ldns_pkt *answer(const ldns_pkt *q, const char *qname,
                        ldns_rr_type type)
{
    ldns_pkt *a = udpresp_reply(q);
    int i, n = type != LDNS_RR_TYPE_MX              ? 0
               : strcmp(qname, "many.test.") == 0 ? MANY
               : strcmp(qname, "few.test.") == 0  ? 2
                                                   : 0;

    for (i = 0; i < n; i++)
        udpresp_add(a, LDNS_SECTION_ANSWER, "%s 60 IN MX 10 m%d.%s", qname,
                    i, qname);
    return a;
}

static void test_mx_past_bound(void **state)
{
    udpresp r;
    kw_dns_server res;
    kw_dane_mx *set = calloc(1, sizeof(*set));
    kw_diag d = {{0}};

    (void)state;
    assert_non_null(set);
    assert_int_equal(udpresp_start(&r, answer), 0);
    memset(&res, 0, sizeof(res));
    snprintf(res.addr, sizeof(res.addr), "127.0.0.1");
    res.port = r.port;
    assert_int_equal(kw_dane_mx_lookup(&res, "many.test", 3000, set, &d), 0);
    assert_int_equal(set->n, KW_DANE_MX_MAX);
    assert_int_equal(set->n, 32);
    assert_int_equal(set->truncated, MANY - KW_DANE_MX_MAX);
    assert_string_equal(set->host[31], "m31.many.test");
    assert_int_equal(kw_dane_mx_lookup(&res, "few.test", 3000, set, &d), 0);
    assert_int_equal(set->n, 2);
    assert_int_equal(set->truncated, 0);
    udpresp_stop(&r);
    free(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mx_past_bound),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
