#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "keystore/ks_pem.h"

static unsigned char scratch[1 << 16];

/* Iterate all blocks of text; return the count, or the error code. */
static int count_blocks(const char *text, kw_diag *d, ks_pem_block *last)
{
    ks_pem_iter it;
    ks_pem_block b;
    int r, n = 0;

    ks_pem_iter_init(&it, (const unsigned char *)text, strlen(text), scratch,
                     sizeof(scratch));
    while ((r = ks_pem_next(&it, &b, d)) == 1) {
        n++;
        if (last != NULL)
            *last = b;
    }
    return r < 0 ? r : n;
}

static void several_blocks_crlf_and_text_between(void **state)
{
    const char *text =
        "Certificate:\r\n    Data: something openssl -text prints\r\n"
        "-----BEGIN CERTIFICATE-----\r\nAAEC\r\n-----END CERTIFICATE-----\r\n"
        "comment between blocks\n"
        "-----BEGIN PRIVATE KEY-----\nAwQF\nBg==\n-----END PRIVATE KEY-----\n";
    ks_pem_block b;
    kw_diag d;

    (void)state;
    assert_int_equal(count_blocks(text, &d, &b), 2);
    assert_string_equal(b.label, "PRIVATE KEY");
    assert_int_equal(b.index, 2);
    assert_int_equal(b.line, 7);
    assert_int_equal(b.der_len, 4);
    assert_memory_equal(b.der, "\x03\x04\x05\x06", 4);
}

static void rfc1421_headers(void **state)
{
    const char *text = "-----BEGIN RSA PRIVATE KEY-----\n"
                       "Proc-Type: 4,ENCRYPTED\n"
                       "DEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n"
                       "\n"
                       "AAEC\n"
                       "-----END RSA PRIVATE KEY-----\n";
    ks_pem_block b;
    kw_diag d;

    (void)state;
    assert_int_equal(count_blocks(text, &d, &b), 1);
    assert_int_equal(b.encrypted, 1);
    assert_int_equal(b.der_len, 3);
}

static void bad_base64_names_the_line(void **state)
{
    const char *text = "junk\n-----BEGIN CERTIFICATE-----\nAAEC\nAA!C\n"
                       "-----END CERTIFICATE-----\n";
    kw_diag d;

    (void)state;
    assert_int_equal(count_blocks(text, &d, NULL), KW_EPARSE);
    assert_non_null(strstr(d.msg, "block 1"));
    assert_non_null(strstr(d.msg, "CERTIFICATE"));
    assert_non_null(strstr(d.msg, "'!'"));
    assert_non_null(strstr(d.msg, "line 4"));
}

static void private_key_labels_are_secret(void **state)
{
    static const struct {
        const char *label;
        int secret;
    } cases[] = {
        {"PRIVATE KEY", 1},           {"RSA PRIVATE KEY", 1},
        {"EC PRIVATE KEY", 1},        {"DSA PRIVATE KEY", 1},
        {"ENCRYPTED PRIVATE KEY", 1}, {"OPENSSH PRIVATE KEY", 1},
        {"ANY PRIVATE KEY", 1},       {"CERTIFICATE", 0},
        {"PUBLIC KEY", 0},            {"CERTIFICATE REQUEST", 0},
    };
    char text[256];
    ks_pem_block b;
    kw_diag d;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text),
                 "-----BEGIN %s-----\nAAEC\n-----END %s-----\n",
                 cases[i].label, cases[i].label);
        assert_int_equal(count_blocks(text, &d, &b), 1);
        if (b.secret != cases[i].secret)
            fail_msg("%s: secret is %d", cases[i].label, b.secret);
    }
}

/* A private key whose base64 breaks half-way: what was decoded so far is
 * wiped before the error returns, whatever the error. */
static void bad_base64_wipes_partial_key(void **state)
{
    static const char *const bodies[] = {
        "////////\nAA!C\n", /* bad character */
        "////////\nAA=C\n", /* misplaced padding */
        "////////\nAAE\n",  /* truncated */
    };
    char text[256];
    kw_diag d;
    size_t i, j;

    (void)state;
    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        snprintf(text, sizeof(text),
                 "-----BEGIN PRIVATE KEY-----\n%s-----END PRIVATE KEY-----\n",
                 bodies[i]);
        memset(scratch, 0xaa, 64);
        assert_int_equal(count_blocks(text, &d, NULL), KW_EPARSE);
        for (j = 0; j < 64; j++)
            if (scratch[j] == 0xff)
                fail_msg("body %zu: decoded key byte %zu left in scratch", i,
                         j);
    }
}

static void malformed_cases(void **state)
{
    static const struct {
        const char *text;
        const char *expect;
    } cases[] = {
        {"-----BEGIN CERTIFICATE-----\nAAEC\n", "no END line"},
        {"-----BEGIN CERTIFICATE-----\nAAEC\n-----END PRIVATE KEY-----\n",
         "expected"},
        {"-----BEGIN CERTIFICATE-----\nAAEC\n-----BEGIN CERTIFICATE-----\n"
         "AAEC\n-----END CERTIFICATE-----\n",
         "before the next BEGIN"},
        {"-----BEGIN CERTIFICATE-----\n\n-----END CERTIFICATE-----\n",
         "empty body"},
        {"-----BEGIN CERTIFICATE-----\nAAE\n-----END CERTIFICATE-----\n",
         "truncated or has bad padding"},
        {"-----BEGIN CERTIFICATE-----\nAA=C\n-----END CERTIFICATE-----\n",
         "padding"},
        {"-----BEGIN CERTIFICATE-----\nA===\n-----END CERTIFICATE-----\n",
         "padding"},
        {"-----BEGIN -----\nAAEC\n-----END -----\n", "malformed BEGIN"},
        {"-----BEGIN cert-----\nAAEC\n-----END cert-----\n",
         "malformed BEGIN"},
        {"-----BEGIN CERTIFICATE-----\nAA\x01\x02\n-----END CERTIFICATE-----\n",
         "0x01"},
    };
    size_t i;
    kw_diag d;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        d.msg[0] = '\0';
        if (count_blocks(cases[i].text, &d, NULL) != KW_EPARSE)
            fail_msg("case %zu was accepted", i);
        if (strstr(d.msg, cases[i].expect) == NULL)
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, d.msg,
                     cases[i].expect);
    }
}

static void padding_variants(void **state)
{
    ks_pem_block b;
    kw_diag d;

    (void)state;
    assert_int_equal(count_blocks("-----BEGIN X-----\nAA==\n-----END X-----\n",
                                  &d, &b),
                     1);
    assert_int_equal(b.der_len, 1);
    assert_int_equal(count_blocks("-----BEGIN X-----\nAAA=\n-----END X-----\n",
                                  &d, &b),
                     1);
    assert_int_equal(b.der_len, 2);
    /* Non-zero bits in the padding of the last quantum are rejected. */
    assert_int_equal(
        count_blocks("-----BEGIN X-----\nAB==\n-----END X-----\n", &d, NULL),
        KW_EPARSE);
}

static void no_pem_at_all(void **state)
{
    kw_diag d;

    (void)state;
    assert_int_equal(count_blocks("just text\n", &d, NULL), 0);
    assert_int_equal(count_blocks("", &d, NULL), 0);
    assert_false(ks_pem_present((const unsigned char *)"abc", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(several_blocks_crlf_and_text_between),
        cmocka_unit_test(rfc1421_headers),
        cmocka_unit_test(bad_base64_names_the_line),
        cmocka_unit_test(private_key_labels_are_secret),
        cmocka_unit_test(bad_base64_wipes_partial_key),
        cmocka_unit_test(malformed_cases),
        cmocka_unit_test(padding_variants),
        cmocka_unit_test(no_pem_at_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
