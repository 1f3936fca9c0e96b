/*
 * The survey's judgement of single answers, from wire-format messages
 * (built with ldns, or by hand when they must be broken), and its
 * comparison of servers, without a network: TXT strings joined, several
 * records, NXDOMAIN with the zone's serial, no data, CNAME chains, error
 * rcodes, garbage, loops; agreement, disagreement with serials, lame and
 * silent servers; the arguments refused before anything is sent.
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

#include "dns/dns_survey.h"

#define QNAME "s1._domainkey.example.net"

/* An answer to QNAME TXT: flags (LDNS_AA...), rcode, then records as
 * zone file lines, "--" switching to the authority section. */
static uint8_t *vanswer(size_t *len, int aa, ldns_pkt_rcode rcode,
                        va_list ap)
{
    ldns_pkt *p = NULL;
    ldns_pkt_section sec = LDNS_SECTION_ANSWER;
    uint8_t *wire = NULL;
    const char *line;

    assert_int_equal(ldns_pkt_query_new_frm_str(&p, QNAME, LDNS_RR_TYPE_TXT,
                                                LDNS_RR_CLASS_IN, 0),
                     LDNS_STATUS_OK);
    ldns_pkt_set_id(p, 0x4242);
    ldns_pkt_set_qr(p, 1);
    ldns_pkt_set_aa(p, aa);
    ldns_pkt_set_rcode(p, rcode);
    while ((line = va_arg(ap, const char *)) != NULL) {
        ldns_rr *rr = NULL;

        if (strcmp(line, "--") == 0) {
            sec = LDNS_SECTION_AUTHORITY;
            continue;
        }
        if (ldns_rr_new_frm_str(&rr, line, 60, NULL, NULL) !=
            LDNS_STATUS_OK)
            fail_msg("bad record in the test: %s", line);
        ldns_pkt_push_rr(p, sec, rr);
    }
    assert_int_equal(ldns_pkt2wire(&wire, p, len), LDNS_STATUS_OK);
    ldns_pkt_free(p);
    return wire;
}

static int judge(uint8_t *wire, size_t len, kw_dns_answer *a)
{
    int rc;

    memset(a, 0, sizeof(*a));
    rc = kw_dns_survey_judge_wire(wire, len, QNAME, a);
    free(wire);
    return rc;
}

static uint8_t *answer(size_t *len, int aa, ldns_pkt_rcode rcode, ...)
{
    uint8_t *w;
    va_list ap;

    va_start(ap, rcode);
    w = vanswer(len, aa, rcode, ap);
    va_end(ap);
    return w;
}

/* Builds the answer (as answer()) and judges it into *a. */
static int judged(kw_dns_answer *a, int aa, ldns_pkt_rcode rcode, ...)
{
    uint8_t *w;
    size_t len;
    va_list ap;

    va_start(ap, rcode);
    w = vanswer(&len, aa, rcode, ap);
    va_end(ap);
    return judge(w, len, a);
}

static void joined_strings(void **state)
{
    kw_dns_answer a;

    (void)state;
    assert_int_equal(judged(&a, 1, LDNS_RCODE_NOERROR,
            QNAME ". TXT \"v=DKIM1; k=rsa; \" \"p=MIIB\" \"IjAN\"",
            NULL), 0);
    assert_int_equal(a.rcode, 0);
    assert_true(a.aa);
    assert_false(a.nxdomain);
    assert_false(a.nodata);
    assert_int_equal(a.ntxt, 1);
    assert_string_equal(a.txt[0].s, "v=DKIM1; k=rsa; p=MIIBIjAN");
    assert_int_equal(a.txt[0].len, 26);
    assert_string_equal(a.cname, "");
    assert_false(a.has_serial);
    kw_dns_answer_clear(&a);
    assert_null(a.txt);

    /* Two records, and one at another name that is not counted. */
    assert_int_equal(judged(&a, 1, LDNS_RCODE_NOERROR,
            QNAME ". TXT \"v=DKIM1; p=AAAA\"",
            "S1._DOMAINKEY.example.net. TXT \"v=DKIM1; p=BBBB\"",
            "other.example.net. TXT \"v=DKIM1; p=CCCC\"", NULL), 0);
    assert_int_equal(a.ntxt, 2);
    assert_string_equal(a.txt[0].s, "v=DKIM1; p=AAAA");
    assert_string_equal(a.txt[1].s, "v=DKIM1; p=BBBB");
    kw_dns_answer_clear(&a);

    /* An empty string and a NUL octet inside: lengths, not strlen. */
    assert_int_equal(judged(&a, 1, LDNS_RCODE_NOERROR,
            QNAME ". TXT \"a\\000b\" \"\"", NULL), 0);
    assert_int_equal(a.ntxt, 1);
    assert_int_equal(a.txt[0].len, 3);
    assert_memory_equal(a.txt[0].s, "a\0b", 3);
    kw_dns_answer_clear(&a);
}

static void negative_answers(void **state)
{
    kw_dns_answer a;

    (void)state;
    assert_int_equal(judged(&a, 1, LDNS_RCODE_NXDOMAIN, "--",
            "example.net. SOA ns1.example.net. h.example.net. 2026120401 "
            "3600 600 86400 60", NULL), 0);
    assert_true(a.nxdomain);
    assert_false(a.nodata);
    assert_int_equal(a.ntxt, 0);
    assert_true(a.has_serial);
    assert_int_equal(a.serial, 2026120401u);
    kw_dns_answer_clear(&a);

    assert_int_equal(judged(&a, 1, LDNS_RCODE_NOERROR, "--",
            "example.net. SOA ns1.example.net. h.example.net. 7 "
            "3600 600 86400 60", NULL), 0);
    assert_false(a.nxdomain);
    assert_true(a.nodata);
    assert_int_equal(a.serial, 7);
    kw_dns_answer_clear(&a);
}

static void cnames(void **state)
{
    kw_dns_answer a;

    (void)state;
    /* An authoritative server's answer: the CNAME only. */
    assert_int_equal(judged(&a, 1, LDNS_RCODE_NOERROR,
            QNAME ". CNAME S1._domainkey.Provider.ORG.", NULL), 0);
    assert_string_equal(a.cname, "s1._domainkey.provider.org");
    assert_false(a.nodata);
    assert_int_equal(a.ntxt, 0);
    kw_dns_answer_clear(&a);

    /* A resolver's: the chain, then the TXT at its end (a TXT at a link
     * in the middle is not the receivers'). */
    assert_int_equal(judged(&a, 0, LDNS_RCODE_NOERROR,
            QNAME ". CNAME a.provider.org.",
            "a.provider.org. CNAME b.provider.org.",
            "a.provider.org. TXT \"not this\"",
            "b.provider.org. TXT \"v=DKIM1; p=END\"", NULL), 0);
    assert_false(a.aa);
    assert_string_equal(a.cname, "a.provider.org");
    assert_int_equal(a.ntxt, 1);
    assert_string_equal(a.txt[0].s, "v=DKIM1; p=END");
    kw_dns_answer_clear(&a);

    /* A loop. */
    assert_int_equal(judged(&a, 1, LDNS_RCODE_NOERROR,
            QNAME ". CNAME l.example.net.",
            "l.example.net. CNAME " QNAME ".", NULL), KW_ELOOP);
    assert_non_null(strstr(a.error, "loop"));
    kw_dns_answer_clear(&a);
}

static void error_rcodes(void **state)
{
    kw_dns_answer a;

    (void)state;
    assert_int_equal(judged(&a, 0, LDNS_RCODE_SERVFAIL, NULL), KW_EIO);
    assert_int_equal(a.rcode, LDNS_RCODE_SERVFAIL);
    assert_non_null(strstr(a.error, "SERVFAIL"));
    kw_dns_answer_clear(&a);

    assert_int_equal(judged(&a, 0, LDNS_RCODE_REFUSED, NULL), KW_EACCES);
    assert_non_null(strstr(a.error, "REFUSED"));
    assert_non_null(strstr(a.error, "serve the zone"));
    kw_dns_answer_clear(&a);
}

static void garbage(void **state)
{
    static const uint8_t hdr_only[] = {0x42, 0x42, 0x84, 0x00, 0, 1, 0, 1,
                                       0,    0,    0,    0};
    kw_dns_answer a;
    uint8_t *w, *bad;
    size_t len, i;

    (void)state;
    memset(&a, 0, sizeof(a));
    assert_int_equal(kw_dns_survey_judge_wire(hdr_only, sizeof(hdr_only),
                                              QNAME, &a), KW_EPARSE);
    assert_int_equal(a.rcode, -1);
    assert_non_null(strstr(a.error, "not a valid DNS message"));
    kw_dns_answer_clear(&a);
    assert_int_equal(kw_dns_survey_judge_wire((const uint8_t *)"", 0, QNAME,
                                              &a), KW_EPARSE);
    kw_dns_answer_clear(&a);

    /* A TXT whose character string claims more octets than its record
     * holds; and every shorter cut of a good answer. */
    w = answer(&len, 1, LDNS_RCODE_NOERROR, QNAME ". TXT \"v=DKIM1\"",
               NULL);
    bad = malloc(len);
    assert_non_null(bad);
    memcpy(bad, w, len);
    bad[len - 8] = 200; /* the string's length octet */
    memset(&a, 0, sizeof(a));
    assert_int_equal(kw_dns_survey_judge_wire(bad, len, QNAME, &a),
                     KW_EPARSE);
    kw_dns_answer_clear(&a);
    for (i = 0; i < len; i++) {
        memset(&a, 0, sizeof(a));
        assert_int_equal(kw_dns_survey_judge_wire(w, i, QNAME, &a),
                         KW_EPARSE);
        kw_dns_answer_clear(&a);
    }
    free(bad);
    free(w);
}

/* One authoritative answer for a hand-made survey. */
static void fake(kw_dns_answer *a, const char *addr, uint32_t serial,
                 const char *txt)
{
    char line[512];

    /* Character strings of at most 255 octets: split at 200. */
    snprintf(line, sizeof(line), QNAME ". TXT \"%.200s\" \"%s\"", txt,
             strlen(txt) > 200 ? txt + 200 : "");
    assert_int_equal(judged(a, 1, LDNS_RCODE_NOERROR, line, NULL), 0);
    snprintf(a->server.addr, sizeof(a->server.addr), "%s", addr);
    a->server.port = 53;
    a->has_serial = 1;
    a->serial = serial;
}

/* An answer with two TXT records. */
static void two(kw_dns_answer *a, const char *t1, const char *t2)
{
    char l1[128], l2[128];

    snprintf(l1, sizeof(l1), QNAME ". TXT \"%s\"", t1);
    snprintf(l2, sizeof(l2), QNAME ". TXT \"%s\"", t2);
    assert_int_equal(judged(a, 1, LDNS_RCODE_NOERROR, l1, l2, NULL), 0);
}

static kw_dns_survey *hand_survey(size_t n)
{
    kw_dns_survey *s = calloc(1, sizeof(*s));

    assert_non_null(s);
    snprintf(s->name, sizeof(s->name), QNAME);
    s->nsteps = 1;
    snprintf(s->steps[0].name, sizeof(s->steps[0].name), QNAME);
    snprintf(s->steps[0].zone, sizeof(s->steps[0].zone), "example.net");
    s->steps[0].auth = calloc(n, sizeof(kw_dns_answer));
    assert_non_null(s->steps[0].auth);
    s->steps[0].nauth = n;
    return s;
}

static void comparison(void **state)
{
    char words[2048], longkey[400];
    kw_dns_survey *s;
    kw_dns_answer *a;

    (void)state;
    memset(longkey, 'Q', sizeof(longkey));
    memcpy(longkey, "v=DKIM1; p=MIIB", 15);
    memcpy(longkey + 380, "TAILoneIDAQAB", 14);

    s = hand_survey(3);
    a = s->steps[0].auth;
    fake(&a[0], "192.0.2.1", 5, longkey);
    fake(&a[1], "192.0.2.2", 5, longkey);
    fake(&a[2], "2001:db8::3", 5, longkey);
    assert_int_equal(kw_dns_survey_compare(s, words, sizeof(words)),
                     KW_DNS_AGREE);

    /* The third serves another key at an older serial. */
    kw_dns_answer_clear(&a[2]);
    memcpy(longkey + 380, "TAILtwoIDAQAB", 14);
    fake(&a[2], "2001:db8::3", 4, longkey);
    assert_int_equal(kw_dns_survey_compare(s, words, sizeof(words)),
                     KW_DNS_DISAGREE);
    assert_non_null(strstr(words, "192.0.2.1:53 (serial 5), 192.0.2.2:53 "
                                  "(serial 5) serve TXT \"v=DKIM1; "));
    assert_non_null(strstr(words, "TAILoneIDAQAB\""));
    assert_non_null(strstr(words, "[2001:db8::3]:53 (serial 4) serves TXT"));
    assert_non_null(strstr(words, "TAILtwoIDAQAB\""));

    /* Silent and lame servers: incomplete when the rest agree, named. */
    kw_dns_answer_clear(&a[2]);
    a[2].status = KW_ETIMEDOUT;
    a[2].rcode = -1;
    snprintf(a[2].error, sizeof(a[2].error), "no answer within 1500 ms");
    assert_int_equal(kw_dns_survey_compare(s, words, sizeof(words)),
                     KW_DNS_INCOMPLETE);
    assert_non_null(strstr(words, "[2001:db8::3]:53: no answer within"));
    a[1].aa = 0;
    assert_int_equal(kw_dns_survey_compare(s, words, sizeof(words)),
                     KW_DNS_INCOMPLETE);
    assert_non_null(strstr(words, "192.0.2.2:53 (serial 5): answered "
                                  "without authority"));

    /* Two records in another order are the same; a missing one is not. */
    kw_dns_survey_free(s);
    s = hand_survey(2);
    a = s->steps[0].auth;
    two(&a[0], "one", "two");
    two(&a[1], "two", "one");
    assert_int_equal(kw_dns_survey_compare(s, words, sizeof(words)),
                     KW_DNS_AGREE);
    /* An NS name without an address leaves the picture incomplete. */
    snprintf(s->steps[0].error, sizeof(s->steps[0].error), "no address "
             "for ns3.example.net");
    assert_int_equal(kw_dns_survey_compare(s, words, sizeof(words)),
                     KW_DNS_INCOMPLETE);
    assert_non_null(strstr(words, "no address for ns3.example.net"));
    s->steps[0].error[0] = '\0';
    kw_dns_answer_clear(&a[1]);
    two(&a[1], "two", "two-b");
    assert_int_equal(kw_dns_survey_compare(s, words, sizeof(words)),
                     KW_DNS_DISAGREE);
    assert_non_null(strstr(words, "2 TXT records"));
    /* A zone that could not be found is said. */
    s->steps[0].status = KW_ETIMEDOUT;
    snprintf(s->steps[0].error, sizeof(s->steps[0].error), "resolver "
             "silent");
    assert_int_equal(kw_dns_survey_compare(s, words, sizeof(words)),
                     KW_DNS_DISAGREE);
    assert_non_null(strstr(words, "servers unknown: resolver silent"));
    kw_dns_survey_free(s);
}

static void arguments(void **state)
{
    static const kw_dns_server nowhere = {"192.0.2.1", 53};
    kw_dns_survey_opts o = {.timeout_ms = 1000};
    kw_dns_survey *s = (kw_dns_survey *)&s;
    kw_diag d = {""};

    (void)state;
    assert_int_equal(kw_dns_survey_run(NULL, QNAME, &o, &s, &d), KW_EINVAL);
    assert_null(s);
    assert_int_equal(kw_dns_survey_run(&nowhere, "a b.example", &o, &s, &d),
                     KW_EINVAL);
    assert_non_null(strstr(d.msg, "DNS survey"));
    o.timeout_ms = 0;
    assert_int_equal(kw_dns_survey_run(&nowhere, QNAME, &o, &s, &d),
                     KW_EINVAL);
    o.timeout_ms = 1000;
    o.auth_port = 70000;
    assert_int_equal(kw_dns_survey_run(&nowhere, QNAME, &o, &s, &d),
                     KW_EINVAL);
    kw_dns_survey_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(joined_strings),
        cmocka_unit_test(negative_answers),
        cmocka_unit_test(cnames),
        cmocka_unit_test(error_rcodes),
        cmocka_unit_test(garbage),
        cmocka_unit_test(comparison),
        cmocka_unit_test(arguments),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
