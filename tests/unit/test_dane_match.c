/*
 * test_dane_match.c: dane_match.h on certificates made at test time: the
 * parser's errors name the field, and every usage, selector and matching
 * type matches the certificate it names and nothing else.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "dane/dane_match.h"
#include "testpki.h"

#define NOW 1800000000LL
#define DAY 86400

static EVP_PKEY *root_k, *mid_k, *leaf_k, *other_k, *oca_k;
static X509 *root, *mid, *leaf, *other, *oca, *oleaf, *old_mid, *old_leaf;

static X509 *make(const char *cn, EVP_PKEY *k, int ca, X509 *iss,
                  EVP_PKEY *iss_k, int64_t nb, int64_t na)
{
    static const char *const names[] = { "mx.example.test", NULL };
    tp_spec s = { 0 };

    s.cn = cn;
    s.dns = ca ? NULL : names;
    s.not_before = nb;
    s.not_after = na;
    s.is_ca = ca;
    s.serial = 7;
    s.key = k;
    s.issuer = iss;
    s.issuer_key = iss_k;
    return tp_cert(&s);
}

static int setup(void **st)
{
    (void)st;
    root_k = tp_key_ec();
    mid_k = tp_key_ec();
    leaf_k = tp_key_ec();
    other_k = tp_key_ec();
    oca_k = tp_key_ec();
    root = make("Root", root_k, 1, NULL, NULL, NOW - 900 * DAY,
                NOW + 900 * DAY);
    mid = make("Mid", mid_k, 1, root, root_k, NOW - 90 * DAY,
               NOW + 300 * DAY);
    /* The same intermediate's key, expired: a DANE-TA chain fails. */
    old_mid = make("Mid", mid_k, 1, root, root_k, NOW - 900 * DAY,
                   NOW - 10 * DAY);
    leaf = make("mx.example.test", leaf_k, 0, mid, mid_k, NOW - DAY,
                NOW + 80 * DAY);
    /* The leaf expired: DANE-EE ignores validity (RFC 7671 5.1). */
    old_leaf = make("mx.example.test", leaf_k, 0, mid, mid_k,
                    NOW - 100 * DAY, NOW - DAY);
    other = make("mx.example.test", other_k, 0, mid, mid_k, NOW - 60 * DAY,
                 NOW + 80 * DAY);
    oca = make("Mid", oca_k, 1, NULL, NULL, NOW - DAY, NOW + 80 * DAY);
    oleaf = make("mx.example.test", leaf_k, 0, oca, oca_k, NOW - DAY,
                 NOW + 80 * DAY);
    return 0;
}

static int teardown(void **st)
{
    X509 *xs[] = { root, mid, leaf, other, oca, oleaf, old_mid, old_leaf };
    EVP_PKEY *ks[] = { root_k, mid_k, leaf_k, other_k, oca_k };
    size_t i;

    (void)st;
    for (i = 0; i < sizeof(xs) / sizeof(xs[0]); i++)
        X509_free(xs[i]);
    for (i = 0; i < sizeof(ks) / sizeof(ks[0]); i++)
        EVP_PKEY_free(ks[i]);
    return 0;
}

/* RDATA for usage/selector/mtype naming x, in buf; its length.  Made
 * with OpenSSL directly, not with the code under test. */
static size_t rdata(X509 *x, int u, int s, int m, uint8_t *buf, size_t cap)
{
    unsigned char *der = NULL;
    unsigned int mdlen = 0;
    int n = s == 0 ? i2d_X509(x, &der)
                   : i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);

    assert_true(n > 0 && (size_t)n + 3 <= cap);
    buf[0] = (uint8_t)u;
    buf[1] = (uint8_t)s;
    buf[2] = (uint8_t)m;
    if (m == 0) {
        memcpy(buf + 3, der, (size_t)n);
        mdlen = (unsigned)n;
    } else
        assert_int_equal(EVP_Digest(der, (size_t)n, buf + 3, &mdlen,
                                    m == 1 ? EVP_sha256() : EVP_sha512(),
                                    NULL), 1);
    OPENSSL_free(der);
    return mdlen + 3;
}

static int matches(const uint8_t *rd, size_t len, X509 *const *chain,
                   size_t n, int64_t now, kw_dane_match_res *r)
{
    kw_tlsa t;
    kw_diag d = {{0}};

    assert_int_equal(kw_dane_tlsa_parse(rd, len, &t, &d), 0);
    assert_int_equal(kw_dane_match(&t, chain, n, now, r, &d), 0);
    return r->matched;
}

static void parse_error(const uint8_t *rd, size_t len, const char *word)
{
    kw_tlsa t;
    kw_diag d = {{0}};

    assert_int_equal(kw_dane_tlsa_parse(rd, len, &t, &d), KW_EPARSE);
    if (strstr(d.msg, word) == NULL)
        fail_msg("\"%s\" does not name %s", d.msg, word);
}

static void test_parse_errors(void **st)
{
    uint8_t rd[3 + 64] = { 3, 1, 1 };

    (void)st;
    memset(rd + 3, 0xab, 64);
    parse_error(rd, 2, "3");
    parse_error(rd, 3, "empty");
    parse_error(rd, 3 + 31, "SHA-256");
    parse_error(rd, 3 + 33, "SHA-256");
    rd[2] = 2;
    parse_error(rd, 3 + 32, "SHA-512");
    rd[2] = 3;
    parse_error(rd, 3 + 32, "matching type 3");
    rd[2] = 1;
    rd[1] = 2;
    parse_error(rd, 3 + 32, "selector 2");
    rd[1] = 1;
    rd[0] = 4;
    parse_error(rd, 3 + 32, "usage 4");
    rd[0] = 255;
    parse_error(rd, 3 + 32, "usage 255");
    rd[0] = 3;
    parse_error(NULL, 0, "3");
    {
        kw_tlsa t;

        assert_int_equal(kw_dane_tlsa_parse(rd, 3 + 32, &t, NULL), 0);
        assert_int_equal(t.usage, 3);
        assert_int_equal(t.selector, 1);
        assert_int_equal(t.mtype, 1);
        assert_int_equal(t.len, 32);
        assert_ptr_equal(t.data, rd + 3);
        rd[2] = 0;
        assert_int_equal(kw_dane_tlsa_parse(rd, 3 + 17, &t, NULL), 0);
        assert_int_equal(t.len, 17);
    }
}

/* Every usage, selector and matching type: the record made from the
 * certificate it names matches; made from another key, it does not. */
static void test_every_combination(void **st)
{
    X509 *chain[] = { leaf, mid, root };
    X509 *wrong_chain[] = { other, mid };
    uint8_t rd[4096];
    kw_dane_match_res r;
    int u, s, m;

    (void)st;
    for (u = 0; u <= 3; u++)
        for (s = 0; s <= 1; s++)
            for (m = 0; m <= 2; m++) {
                int ee = u == 1 || u == 3;
                size_t len = rdata(ee ? leaf : mid, u, s, m, rd,
                                   sizeof(rd));

                if (!matches(rd, len, chain, 3, NOW, &r))
                    fail_msg("%d %d %d: %s", u, s, m, r.why);
                assert_int_equal(r.at, ee ? 0 : 1);
                /* A leaf with another key matches no EE record; the TA
                 * records still match (the same intermediate). */
                assert_int_equal(matches(rd, len, wrong_chain, 2, NOW, &r),
                                 !ee);
                /* The record of the other key matches nothing here. */
                len = rdata(ee ? other : oca, u, s, m, rd, sizeof(rd));
                assert_false(matches(rd, len, chain, 3, NOW, &r));
                assert_int_equal(r.at, -1);
                assert_true(r.why[0] != '\0');
                /* Selector 1 follows the key, not the certificate: a
                 * new certificate for the same key still matches. */
                len = rdata(ee ? oleaf : oca, u, s, m, rd, sizeof(rd));
                if (ee)
                    assert_int_equal(matches(rd, len, chain, 3, NOW, &r),
                                     s == 1);
            }
}

static void test_ee_is_leaf_ta_is_ca(void **st)
{
    X509 *chain[] = { leaf, mid };
    X509 *alone[] = { leaf };
    uint8_t rd[200];
    kw_dane_match_res r;
    size_t len;

    (void)st;
    /* DANE-EE names the leaf only, never the intermediate. */
    len = rdata(mid, 3, 1, 1, rd, sizeof(rd));
    assert_false(matches(rd, len, chain, 2, NOW, &r));
    /* DANE-TA names a CA sent after the leaf, never the leaf itself. */
    len = rdata(leaf, 2, 1, 1, rd, sizeof(rd));
    assert_false(matches(rd, len, chain, 2, NOW, &r));
    len = rdata(mid, 2, 1, 1, rd, sizeof(rd));
    assert_false(matches(rd, len, alone, 1, NOW, &r));
    assert_false(matches(rd, len, chain, 0, NOW, &r));
}

/* DANE-TA: the matching CA must be the leaf's issuer chain, valid at
 * now; the served trust anchor is enough (no root needed). */
static void test_ta_chain(void **st)
{
    X509 *good[] = { other, mid };
    X509 *foreign[] = { oleaf, mid };
    X509 *expired[] = { other, old_mid };
    uint8_t rd[200];
    kw_dane_match_res r;
    size_t len = rdata(mid, 2, 1, 1, rd, sizeof(rd));

    (void)st;
    assert_true(matches(rd, len, good, 2, NOW, &r));
    /* The intermediate matches but did not issue this leaf. */
    assert_false(matches(rd, len, foreign, 2, NOW, &r));
    assert_int_equal(r.at, 1);
    assert_non_null(strstr(r.why, "does not chain up"));
    /* Same key, certificate expired: the chain fails at now... */
    assert_false(matches(rd, len, expired, 2, NOW, &r));
    assert_non_null(strstr(r.why, "expired"));
    /* ...and held at a time it was valid, it passes. */
    assert_true(matches(rd, len, expired, 2, NOW - 20 * DAY, &r));
    /* The leaf expired: a TA chain fails, DANE-EE does not. */
    {
        X509 *c[] = { old_leaf, mid };

        assert_false(matches(rd, len, c, 2, NOW, &r));
        len = rdata(leaf, 3, 1, 1, rd, sizeof(rd));
        assert_true(matches(rd, len, c, 2, NOW, &r));
    }
}

static void test_text(void **st)
{
    unsigned char *der = NULL, md[32];
    char buf[200], hex[65];
    int n;
    size_t i;
    uint8_t rd[4096];
    kw_tlsa t;

    (void)st;
    n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(leaf), &der);
    assert_true(n > 0);
    assert_int_equal(EVP_Digest(der, (size_t)n, md, NULL, EVP_sha256(),
                                NULL), 1);
    OPENSSL_free(der);
    for (i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    assert_int_equal(kw_dane_tlsa_text_for(leaf, 3, 1, 1, buf, sizeof(buf),
                                           NULL), 0);
    assert_string_equal(buf + 6, hex);
    assert_memory_equal(buf, "3 1 1 ", 6);
    assert_int_equal(kw_dane_tlsa_text_for(leaf, 3, 1, 1, buf, 60, NULL),
                     KW_ETOOBIG);
    assert_int_equal(kw_dane_tlsa_text_for(leaf, 3, 2, 1, buf, sizeof(buf),
                                           NULL), KW_EINVAL);
    /* The exact form is abbreviated, with its length. */
    n = (int)rdata(leaf, 3, 0, 0, rd, sizeof(rd));
    assert_int_equal(kw_dane_tlsa_parse(rd, (size_t)n, &t, NULL), 0);
    kw_dane_tlsa_text(&t, buf, sizeof(buf));
    assert_non_null(strstr(buf, "..."));
    snprintf(hex, sizeof(hex), "(%d octets)", n - 3);
    assert_non_null(strstr(buf, hex));
    assert_string_equal(kw_dane_usage_name(2, hex), "DANE-TA");
    assert_string_equal(kw_dane_usage_name(9, hex), "usage 9");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_every_combination),
        cmocka_unit_test(test_ee_is_leaf_ta_is_ca),
        cmocka_unit_test(test_ta_chain),
        cmocka_unit_test(test_text),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
