/*
 * The dns module without a network: names, TSIG algorithms, rcodes,
 * server addresses, and the arguments kw_dns_* refuse before sending
 * anything.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dns/dns_update.h"

/* TEST-NET-1: nothing is ever sent there, the checks come first. */
static const kw_dns_server nowhere = {"192.0.2.1", 53};

static void names(void **state)
{
    char longname[300], label64[80];
    kw_diag d = {""};
    size_t i;

    (void)state;
    assert_int_equal(kw_dns_name_check("example.com", &d), 0);
    assert_int_equal(kw_dns_name_check("example.com.", &d), 0);
    assert_int_equal(kw_dns_name_check("_acme-challenge.www.example.com",
                                       &d), 0);
    assert_int_equal(kw_dns_name_check("sel._domainkey.Example.COM", &d), 0);
    assert_int_equal(kw_dns_name_check("xn--mnchen-3ya.de", &d), 0);
    assert_int_equal(kw_dns_name_check("com", &d), 0);

    assert_int_equal(kw_dns_name_check(NULL, &d), KW_EINVAL);
    assert_int_equal(kw_dns_name_check("", &d), KW_EINVAL);
    assert_int_equal(kw_dns_name_check(".", &d), KW_EINVAL);
    assert_int_equal(kw_dns_name_check("a..b", &d), KW_EINVAL);
    assert_non_null(strstr(d.msg, "empty label"));
    assert_int_equal(kw_dns_name_check(".example.com", &d), KW_EINVAL);
    assert_int_equal(kw_dns_name_check("example.com..", &d), KW_EINVAL);
    assert_int_equal(kw_dns_name_check("-a.example.com", &d), KW_EINVAL);
    assert_int_equal(kw_dns_name_check("a-.example.com", &d), KW_EINVAL);
    assert_int_equal(kw_dns_name_check("a b.example.com", &d), KW_EINVAL);
    assert_non_null(strstr(d.msg, "0x20"));
    assert_int_equal(kw_dns_name_check("a;rm -rf /.com", &d), KW_EINVAL);
    assert_int_equal(kw_dns_name_check("*.example.com", &d), KW_EINVAL);
    assert_int_equal(kw_dns_name_check("m\xc3\xbcnchen.de", &d), KW_EINVAL);
    assert_non_null(strstr(d.msg, "xn--"));
    assert_int_equal(kw_dns_name_check("a\\.b.com", &d), KW_EINVAL);

    /* 63 octets per label, 253 in all. */
    memset(label64, 'a', 64);
    label64[64] = '\0';
    assert_int_equal(kw_dns_name_check(label64, &d), KW_EINVAL);
    label64[63] = '\0';
    assert_int_equal(kw_dns_name_check(label64, &d), 0);
    for (i = 0; i < 253; i++)
        longname[i] = i % 2 ? '.' : 'a';
    longname[253] = '\0';              /* "a.a.....a": 253 octets */
    assert_int_equal(kw_dns_name_check(longname, &d), 0);
    longname[253] = '.';
    longname[254] = '\0';              /* with the final dot */
    assert_int_equal(kw_dns_name_check(longname, &d), 0);
    longname[253] = 'a';
    longname[254] = '\0';              /* 254: ends "...a.aa" */
    assert_int_equal(kw_dns_name_check(longname, &d), KW_EINVAL);
    assert_non_null(strstr(d.msg, "253"));
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(kw_dns_name_check(longname, &d), KW_EINVAL);
}

static void tsig_algorithms(void **state)
{
    kw_diag d = {""};
    const char *w;

    (void)state;
    assert_int_equal(kw_dns_tsig_alg(NULL, &w, &d), 0);
    assert_string_equal(w, "hmac-sha256.");
    assert_int_equal(kw_dns_tsig_alg("hmac-sha256", &w, &d), 0);
    assert_string_equal(w, "hmac-sha256.");
    assert_int_equal(kw_dns_tsig_alg("HMAC-SHA384.", &w, &d), 0);
    assert_string_equal(w, "hmac-sha384.");
    assert_int_equal(kw_dns_tsig_alg("hmac-sha512", &w, &d), 0);
    assert_string_equal(w, "hmac-sha512.");

    /* MD5 only by exactly its name; never a default. */
    assert_int_equal(kw_dns_tsig_alg("hmac-md5", &w, &d), 0);
    assert_string_equal(w, "hmac-md5.sig-alg.reg.int.");
    assert_int_equal(kw_dns_tsig_alg("HMAC-MD5", &w, &d), KW_EINVAL);
    assert_null(w);
    assert_int_equal(kw_dns_tsig_alg("hmac-md5.", &w, &d), KW_EINVAL);
    assert_int_equal(kw_dns_tsig_alg("hmac-md5.sig-alg.reg.int", &w, &d),
                     KW_EINVAL);
    assert_int_equal(kw_dns_tsig_alg("md5", &w, &d), KW_EINVAL);

    assert_int_equal(kw_dns_tsig_alg("hmac-sha1", &w, &d), KW_EINVAL);
    assert_non_null(strstr(d.msg, "hmac-sha1"));
    assert_non_null(strstr(d.msg, "hmac-sha256"));
    assert_int_equal(kw_dns_tsig_alg("", &w, &d), KW_EINVAL);
    assert_int_equal(kw_dns_tsig_alg("hmac-sha2566", &w, &d), KW_EINVAL);
}

static void rcode_words(void **state)
{
    (void)state;
    assert_string_equal(kw_dns_rcode_words(0), "NOERROR");
    assert_non_null(strstr(kw_dns_rcode_words(9),
                           "the TSIG key was not accepted"));
    assert_non_null(strstr(kw_dns_rcode_words(9), "NOTAUTH"));
    assert_non_null(strstr(kw_dns_rcode_words(5),
                           "the server refuses updates from us (check its "
                           "acl)"));
    assert_non_null(strstr(kw_dns_rcode_words(5), "REFUSED"));
    assert_non_null(strstr(kw_dns_rcode_words(10), "NOTZONE"));
    assert_non_null(strstr(kw_dns_rcode_words(2), "SERVFAIL"));
    assert_non_null(strstr(kw_dns_rcode_words(3), "NXDOMAIN"));
    assert_non_null(strstr(kw_dns_rcode_words(4), "NOTIMP"));
    assert_non_null(strstr(kw_dns_rcode_words(1), "FORMERR"));
    assert_non_null(strstr(kw_dns_rcode_words(8), "NXRRSET"));
    assert_non_null(kw_dns_rcode_words(-1));
    assert_non_null(kw_dns_rcode_words(4095));
}

static void server_addresses(void **state)
{
    kw_dns_server s;
    kw_diag d = {""};
    char buf[96];

    (void)state;
    assert_int_equal(kw_dns_server_parse("192.0.2.1", 53, &s, &d), 0);
    assert_string_equal(s.addr, "192.0.2.1");
    assert_int_equal(s.port, 53);
    assert_int_equal(kw_dns_server_parse("192.0.2.1:5353", 53, &s, &d), 0);
    assert_int_equal(s.port, 5353);
    kw_dns_server_str(&s, buf, sizeof(buf));
    assert_string_equal(buf, "192.0.2.1:5353");
    assert_int_equal(kw_dns_server_parse("2001:db8::1", 53, &s, &d), 0);
    assert_string_equal(s.addr, "2001:db8::1");
    assert_int_equal(s.port, 53);
    assert_int_equal(kw_dns_server_parse("[2001:db8::1]:8053", 53, &s, &d),
                     0);
    assert_string_equal(s.addr, "2001:db8::1");
    assert_int_equal(s.port, 8053);
    kw_dns_server_str(&s, buf, sizeof(buf));
    assert_string_equal(buf, "[2001:db8::1]:8053");

    assert_int_equal(kw_dns_server_parse("ns1.example.com", 53, &s, &d),
                     KW_EINVAL);
    assert_non_null(strstr(d.msg, "not resolved"));
    assert_int_equal(kw_dns_server_parse("192.0.2.1:0", 53, &s, &d),
                     KW_EINVAL);
    assert_int_equal(kw_dns_server_parse("192.0.2.1:65536", 53, &s, &d),
                     KW_EINVAL);
    assert_int_equal(kw_dns_server_parse("192.0.2.1:53x", 53, &s, &d),
                     KW_EINVAL);
    assert_int_equal(kw_dns_server_parse("[2001:db8::1", 53, &s, &d),
                     KW_EINVAL);
    assert_int_equal(kw_dns_server_parse("[2001:db8::1]x", 53, &s, &d),
                     KW_EINVAL);
    assert_int_equal(kw_dns_server_parse("", 53, &s, &d), KW_EINVAL);
    assert_int_equal(kw_dns_server_parse("192.0.2.1", 0, &s, &d), KW_EINVAL);
}

static void update_arguments(void **state)
{
    kw_dns_tsig k = {"key", NULL, "c2VjcmV0c2VjcmV0c2VjcmV0"};
    kw_dns_tsig bad = k;
    kw_diag d = {""};
    char big[KW_DNS_TXT_MAX + 2];
    const char *name = "_acme-challenge.www.example.com";

    (void)state;
    /* The name must be in the zone. */
    assert_int_equal(kw_dns_txt_update(&nowhere, "example.com", &k, 1,
                                       "www.example.org", "v", 60, 100, &d),
                     KW_EINVAL);
    assert_non_null(strstr(d.msg, "not in the zone"));
    assert_non_null(strstr(d.msg, "192.0.2.1:53"));
    assert_int_equal(kw_dns_txt_update(&nowhere, "example.com", &k, 1,
                                       "wwwexample.com", "v", 60, 100, &d),
                     KW_EINVAL);
    assert_int_equal(kw_dns_txt_update(&nowhere, "example.com", &k, 1,
                                       "bad name.example.com", "v", 60, 100,
                                       &d), KW_EINVAL);
    assert_int_equal(kw_dns_txt_update(&nowhere, "exa mple.com", &k, 1,
                                       name, "v", 60, 100, &d), KW_EINVAL);
    assert_int_equal(kw_dns_txt_update(NULL, "example.com", &k, 1, name, "v",
                                       60, 100, &d), KW_EINVAL);
    /* Values: something to add, printable, bounded. */
    assert_int_equal(kw_dns_txt_update(&nowhere, "example.com", &k, 1, name,
                                       NULL, 60, 100, &d), KW_EINVAL);
    assert_int_equal(kw_dns_txt_update(&nowhere, "example.com", &k, 1, name,
                                       "a\nb", 60, 100, &d), KW_EINVAL);
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(kw_dns_txt_update(&nowhere, "example.com", &k, 1, name,
                                       big, 60, 100, &d), KW_EINVAL);
    assert_int_equal(kw_dns_txt_update(&nowhere, "example.com", &k, 1, name,
                                       "v", -1, 100, &d), KW_EINVAL);
    assert_int_equal(kw_dns_txt_update(&nowhere, "example.com", &k, 1, name,
                                       "v", 60, 0, &d), KW_EINVAL);
    /* TSIG: a known algorithm, md5 only by name, base64 secret. */
    bad.alg = "hmac-sha1";
    assert_int_equal(kw_dns_txt_update(&nowhere, "example.com", &bad, 1,
                                       name, "v", 60, 100, &d), KW_EINVAL);
    assert_non_null(strstr(d.msg, "hmac-sha1"));
    bad.alg = "HMAC-MD5";
    assert_int_equal(kw_dns_txt_update(&nowhere, "example.com", &bad, 1,
                                       name, "v", 60, 100, &d), KW_EINVAL);
    bad = k;
    bad.secret = "not base64!";
    assert_int_equal(kw_dns_txt_update(&nowhere, "example.com", &bad, 1,
                                       name, "v", 60, 100, &d), KW_EINVAL);
    assert_non_null(strstr(d.msg, "base64"));
    bad.secret = "abc";
    assert_int_equal(kw_dns_txt_update(&nowhere, "example.com", &bad, 1,
                                       name, "v", 60, 100, &d), KW_EINVAL);
    bad.secret = "ab=c";
    assert_int_equal(kw_dns_txt_update(&nowhere, "example.com", &bad, 1,
                                       name, "v", 60, 100, &d), KW_EINVAL);
    bad.secret = NULL;
    assert_int_equal(kw_dns_txt_update(&nowhere, "example.com", &bad, 1,
                                       name, "v", 60, 100, &d), KW_EINVAL);
    bad = k;
    bad.name = "bad key";
    assert_int_equal(kw_dns_txt_update(&nowhere, "example.com", &bad, 1,
                                       name, "v", 60, 100, &d), KW_EINVAL);
}

static void query_arguments(void **state)
{
    kw_dns_server out[4];
    kw_diag d = {""};
    char zone[64];
    size_t n = 99;

    (void)state;
    assert_int_equal(kw_dns_zone_servers(&nowhere, "bad zone", 0, out, 4, &n,
                                         100, &d), KW_EINVAL);
    assert_int_equal(n, 0);
    assert_int_equal(kw_dns_zone_servers(&nowhere, "example.com", 70000, out,
                                         4, &n, 100, &d), KW_EINVAL);
    assert_int_equal(kw_dns_zone_servers(&nowhere, "example.com", 0, out, 0,
                                         &n, 100, &d), KW_EINVAL);
    assert_int_equal(kw_dns_txt_wait(&nowhere, 0, "example.com", "v", 100, 0,
                                     &d), KW_EINVAL);
    assert_int_equal(kw_dns_txt_wait(&nowhere, KW_DNS_SERVERS_MAX + 1,
                                     "example.com", "v", 100, 0, &d),
                     KW_EINVAL);
    assert_int_equal(kw_dns_txt_wait(&nowhere, 1, "a..b", "v", 100, 0, &d),
                     KW_EINVAL);
    assert_int_equal(kw_dns_txt_wait(&nowhere, 1, "example.com", "v", 0, 0,
                                     &d), KW_EINVAL);
    strcpy(zone, "junk");
    assert_int_equal(kw_dns_find_zone(&nowhere, "a b", zone, sizeof(zone),
                                      100, &d), KW_EINVAL);
    assert_string_equal(zone, "");
    assert_int_equal(kw_dns_find_zone(&nowhere, "example.com", zone, 0, 100,
                                      &d), KW_EINVAL);
    /* An address that is not one is refused before any socket. */
    {
        kw_dns_server bad = {"ns1.example.com", 53};

        assert_int_equal(kw_dns_find_zone(&bad, "example.com", zone,
                                          sizeof(zone), 100, &d), KW_EINVAL);
        assert_non_null(strstr(d.msg, "ns1.example.com"));
    }
}

/* A TLSA owner given with its final dot is asked and updated like any
 * other (it was refused as "not TLSA data": the record text had "name.."
 * in it). */
static void tlsa_owner_final_dot(void **state)
{
    /* Nothing listens on port 1 of the loopback: the answer is a refusal
     * or silence, never a refusal of the arguments. */
    static const kw_dns_server closed = {"127.0.0.1", 1};
    const char *rdata = "3 1 1 0123456789abcdef0123456789abcdef0123456789"
                        "abcdef0123456789abcdef";
    char status[160];
    int rc;

    (void)state;
    rc = kw_dns_tlsa_look(&closed, "_25._tcp.mx.example.com.", rdata, 1,
                          300, status, sizeof(status));
    assert_int_not_equal(rc, KW_EINVAL);
    assert_null(strstr(status, "not TLSA data"));
    rc = kw_dns_tlsa_look(&closed, "_25._tcp.mx.example.com", rdata, 1, 300,
                          status, sizeof(status));
    assert_int_not_equal(rc, KW_EINVAL);
    /* The update that publishes it, likewise. */
    {
        kw_diag d = {""};

        rc = kw_dns_tlsa_update(&closed, "example.com", NULL, 1,
                                "_25._tcp.mx.example.com.", rdata, 300, 300,
                                &d);
        assert_int_not_equal(rc, KW_EINVAL);
        assert_null(strstr(d.msg, "not TLSA data"));
    }
    /* Bad data is still refused before anything is sent. */
    assert_int_equal(kw_dns_tlsa_look(&closed, "_25._tcp.mx.example.com",
                                      "3 1 1 zz", 1, 300, status,
                                      sizeof(status)),
                     KW_EINVAL);
    assert_non_null(strstr(status, "not TLSA data"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names),
        cmocka_unit_test(tsig_algorithms),
        cmocka_unit_test(rcode_words),
        cmocka_unit_test(server_addresses),
        cmocka_unit_test(update_arguments),
        cmocka_unit_test(query_arguments),
        cmocka_unit_test(tlsa_owner_final_dot),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
