/*
 * The certificate reader, checked against OpenSSL's full X509 API on
 * certificates made at test time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/kw_str.h"
#include "keystore/ks_cert.h"
#include "testpki.h"

#define NOW INT64_C(1795651200) /* 2026-11-26T00:00:00Z */
#define DAY INT64_C(86400)

static EVP_PKEY *g_ca_key, *g_leaf_key;
static X509 *g_root, *g_inter;

static int setup(void **state)
{
    (void)state;
    g_ca_key = tp_key_ec();
    g_leaf_key = tp_key_ec();
    g_root = tp_cert(&(tp_spec){.cn = "Test Root", .org = "Test",
                                .not_before = NOW - 10 * DAY,
                                .not_after = NOW + 3650 * DAY, .is_ca = 1,
                                .serial = 1, .key = g_ca_key});
    g_inter = tp_cert(&(tp_spec){.cn = "Test Issuing CA", .org = "Test",
                                 .not_before = NOW - 10 * DAY,
                                 .not_after = NOW + 365 * DAY, .is_ca = 1,
                                 .serial = 2, .key = g_ca_key,
                                 .issuer = g_root, .issuer_key = g_ca_key});
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    X509_free(g_root);
    X509_free(g_inter);
    EVP_PKEY_free(g_ca_key);
    EVP_PKEY_free(g_leaf_key);
    return 0;
}

static X509 *leaf(const char *cn, const char *const *dns,
                  const char *const *ips, EVP_PKEY *key, int64_t nb,
                  int64_t na, long serial)
{
    return tp_cert(&(tp_spec){.cn = cn, .dns = dns, .ips = ips,
                              .not_before = nb, .not_after = na,
                              .serial = serial, .key = key,
                              .issuer = g_inter, .issuer_key = g_ca_key});
}

static void decode(X509 *x, ks_cert *c)
{
    size_t len;
    unsigned char *der = tp_der(x, &len);
    kw_diag d;
    int r = ks_cert_decode(der, len, 0, c, NULL, &d);

    if (r != 0)
        fail_msg("decode failed: %s", d.msg);
    OPENSSL_free(der);
}

static int64_t openssl_time(const ASN1_TIME *t)
{
    struct tm tm;

    ASN1_TIME_to_tm(t, &tm);
    return (int64_t)timegm(&tm);
}

static void fields_match_openssl(void **state)
{
    static const char *const dns[] = {"mail.example.com",
                                      "xn--mnchen-3ya.example", NULL};
    static const char *const ips[] = {"192.0.2.1", "2001:db8::1", NULL};
    X509 *x = leaf("mail.example.com", dns, ips, g_leaf_key, NOW - DAY,
                   NOW + 89 * DAY, 0x1234567);
    unsigned char md[32];
    unsigned int mdlen;
    char hex[65];
    ks_cert c;

    (void)state;
    decode(x, &c);
    assert_string_equal(c.cn, "mail.example.com");
    assert_string_equal(c.subject, "CN=mail.example.com");
    assert_string_equal(c.issuer, "CN=Test Issuing CA, O=Test");
    assert_string_equal(c.serial, "01234567");
    assert_int_equal(c.not_before, openssl_time(X509_get0_notBefore(x)));
    assert_int_equal(c.not_after, openssl_time(X509_get0_notAfter(x)));
    assert_int_equal(c.not_after, NOW + 89 * DAY);
    X509_digest(x, EVP_sha256(), md, &mdlen);
    assert_int_equal(mdlen, 32);
    assert_memory_equal(c.fingerprint, md, 32);
    kw_hex(c.fingerprint, 32, 0, hex);
    assert_int_equal(strlen(hex), 64);
    assert_string_equal(c.key_type, "EC");
    assert_string_equal(c.key_curve, "P-256");
    assert_int_equal(c.key_bits, 256);
    assert_int_equal(c.is_ca, 0);
    assert_int_equal(c.self_signed, 0);
    assert_int_equal(c.nsans, 4);
    assert_string_equal(c.sans[0], "mail.example.com");
    assert_string_equal(c.sans[1], "xn--mnchen-3ya.example");
    assert_string_equal(c.sans[2], "192.0.2.1");
    assert_string_equal(c.sans[3], "2001:db8::1");
    assert_int_equal(c.san_types[2], KS_SAN_IP);
    assert_string_equal(ks_cert_name(&c), "mail.example.com");
    ks_cert_clear(&c);
    X509_free(x);
}

static void key_types(void **state)
{
    static const struct {
        const char *type;
        int bits;
    } want[] = {{"RSA", 2048}, {"EC", 384}, {"Ed25519", 256}};
    EVP_PKEY *keys[3];
    size_t i;

    (void)state;
    keys[0] = tp_key_rsa(2048);
    keys[1] = tp_key_ec384();
    keys[2] = tp_key_ed25519();
    for (i = 0; i < 3; i++) {
        X509 *x = tp_cert(&(tp_spec){.cn = "k.example", .not_before = NOW,
                                     .not_after = NOW + DAY, .key = keys[i]});
        ks_cert c;

        decode(x, &c);
        assert_string_equal(c.key_type, want[i].type);
        assert_int_equal(c.key_bits, want[i].bits);
        assert_int_equal(c.self_signed, 1);
        ks_cert_clear(&c);
        X509_free(x);
        EVP_PKEY_free(keys[i]);
    }
}

static void ca_flags_and_names(void **state)
{
    ks_cert c;
    X509 *x;

    (void)state;
    decode(g_root, &c);
    assert_int_equal(c.is_ca, 1);
    assert_int_equal(c.self_signed, 1);
    assert_string_equal(c.subject, "CN=Test Root, O=Test");
    ks_cert_clear(&c);
    decode(g_inter, &c);
    assert_int_equal(c.is_ca, 1);
    assert_int_equal(c.self_signed, 0);
    ks_cert_clear(&c);

    /* RFC 4514 escaping, and control characters made visible. */
    x = tp_cert(&(tp_spec){.cn = "a,b+c\x1b[0m", .not_before = NOW,
                           .not_after = NOW + DAY, .key = g_leaf_key});
    decode(x, &c);
    assert_string_equal(c.subject, "CN=a\\,b\\+c\\x1b[0m");
    assert_string_equal(c.cn, "a,b+c\\x1b[0m");
    ks_cert_clear(&c);
    X509_free(x);

    /* No CN: the name falls back to the first DNS SAN. */
    {
        static const char *const dns[] = {"nocn.example", NULL};
        x = leaf(NULL, dns, NULL, g_leaf_key, NOW, NOW + DAY, 5);
        decode(x, &c);
        assert_null(c.cn);
        assert_string_equal(ks_cert_name(&c), "nocn.example");
        ks_cert_clear(&c);
        X509_free(x);
    }
}

/* Every prefix of a real certificate is rejected with a reason, and never
 * crashes or reads past the end (ASan watches). */
static void der_truncated_at_every_length(void **state)
{
    static const char *const dns[] = {"t.example", NULL};
    X509 *x = leaf("t.example", dns, NULL, g_leaf_key, NOW, NOW + DAY, 9);
    size_t len, n;
    unsigned char *der = tp_der(x, &len);
    unsigned char *copy;
    ks_cert c;
    kw_diag d;

    (void)state;
    for (n = 0; n < len; n++) {
        /* An exact-size heap copy, so ASan catches any over-read. */
        copy = malloc(n > 0 ? n : 1);
        memcpy(copy, der, n);
        d.msg[0] = '\0';
        assert_int_not_equal(ks_cert_decode(copy, n, 0, &c, NULL, &d), 0);
        assert_true(d.msg[0] != '\0');
        if (n > 4 && strstr(d.msg, "truncated") == NULL)
            fail_msg("length %zu: \"%s\" does not say truncated", n, d.msg);
        free(copy);
    }
    assert_int_equal(ks_cert_decode(der, len, 0, &c, NULL, &d), 0);
    ks_cert_clear(&c);
    OPENSSL_free(der);
    X509_free(x);
}

static unsigned char g_scratch[1 << 20];

static int parse_text(const char *text, size_t len, ks_certfile *f,
                      kw_diag *d)
{
    return ks_certfile_parse((const unsigned char *)text, len, g_scratch,
                             sizeof(g_scratch), f, d);
}

static void arrangements(void **state)
{
    static const char *const dns[] = {"chain.example", NULL};
    X509 *l = leaf("chain.example", dns, NULL, g_leaf_key, NOW,
                   NOW + 90 * DAY, 10);
    X509 *in_order[3] = {l, g_inter, g_root};
    X509 *shuffled[3] = {g_inter, g_root, l};
    X509 *bundle[2] = {g_root, NULL};
    EVP_PKEY *k2 = tp_key_ec();
    X509 *other_root = tp_cert(&(tp_spec){.cn = "Other Root", .is_ca = 1,
                                          .not_before = NOW,
                                          .not_after = NOW + DAY,
                                          .key = k2});
    ks_certfile f;
    kw_diag d;
    size_t len;
    char *pem;

    (void)state;
    pem = tp_pem(in_order, 1, &len);
    assert_int_equal(parse_text(pem, len, &f, &d), 0);
    assert_int_equal(f.format, KS_FMT_PEM);
    assert_int_equal(f.arrangement, KS_ARR_SINGLE);
    ks_certfile_free(&f);
    free(pem);

    pem = tp_pem(in_order, 3, &len);
    assert_int_equal(parse_text(pem, len, &f, &d), 0);
    assert_int_equal(f.ncerts, 3);
    assert_int_equal(f.arrangement, KS_ARR_CHAIN);
    ks_certfile_free(&f);
    free(pem);

    pem = tp_pem(shuffled, 3, &len);
    assert_int_equal(parse_text(pem, len, &f, &d), 0);
    assert_int_equal(f.arrangement, KS_ARR_CHAIN_UNORDERED);
    assert_int_equal(f.order[0], 2); /* the leaf */
    assert_int_equal(f.order[1], 0);
    assert_int_equal(f.order[2], 1);
    ks_certfile_free(&f);
    free(pem);

    bundle[1] = other_root;
    pem = tp_pem(bundle, 2, &len);
    assert_int_equal(parse_text(pem, len, &f, &d), 0);
    assert_int_equal(f.arrangement, KS_ARR_BUNDLE);
    ks_certfile_free(&f);
    free(pem);

    X509_free(l);
    X509_free(other_root);
    EVP_PKEY_free(k2);
}

static void key_in_same_file(void **state)
{
    static const char *const dns[] = {"combo.example", NULL};
    EVP_PKEY *k = tp_key_rsa(2048);
    X509 *l = leaf("combo.example", dns, NULL, k, NOW, NOW + DAY, 11);
    BIO *b = BIO_new(BIO_s_mem());
    ks_certfile f;
    kw_diag d;
    char *data;
    long n;

    (void)state;
    PEM_write_bio_X509(b, l);
    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    PEM_write_bio_PrivateKey(b, g_leaf_key, EVP_aes_128_cbc(),
                             (unsigned char *)"pw", 2, NULL, NULL);
    n = BIO_get_mem_data(b, &data);
    assert_int_equal(parse_text(data, (size_t)n, &f, &d), 0);
    assert_int_equal(f.ncerts, 1);
    assert_int_equal(f.nkeys, 2);
    assert_int_equal(f.keys[0].parsed, 1);
    assert_memory_equal(f.keys[0].spki_hash, f.certs[0].spki_hash, 32);
    assert_string_equal(f.keys[0].key_type, "RSA");
    assert_int_equal(f.keys[1].encrypted, 1);
    assert_int_equal(f.keys[1].parsed, 0);
    ks_certfile_free(&f);
    BIO_free(b);
    X509_free(l);
    EVP_PKEY_free(k);
}

/* A SEC1 "EC PRIVATE KEY" is a plain key, not an encrypted one. */
static void sec1_ec_key_is_parsed(void **state)
{
    static const char *const dns[] = {"ec.example", NULL};
    X509 *l = leaf("ec.example", dns, NULL, g_leaf_key, NOW, NOW + DAY, 14);
    BIO *b = BIO_new(BIO_s_mem());
    ks_certfile f;
    kw_diag d;
    char *data;
    long n;

    (void)state;
    PEM_write_bio_X509(b, l);
    PEM_write_bio_PrivateKey_traditional(b, g_leaf_key, NULL, NULL, 0, NULL,
                                         NULL);
    n = BIO_get_mem_data(b, &data);
    assert_non_null(memmem(data, (size_t)n, "EC PRIVATE KEY", 14));
    assert_int_equal(parse_text(data, (size_t)n, &f, &d), 0);
    assert_int_equal(f.nkeys, 1);
    assert_int_equal(f.keys[0].encrypted, 0);
    assert_int_equal(f.keys[0].parsed, 1);
    assert_memory_equal(f.keys[0].spki_hash, f.certs[0].spki_hash, 32);
    assert_int_equal(f.saw_private, 1);
    ks_certfile_free(&f);
    BIO_free(b);
    X509_free(l);
}

/* Any "... PRIVATE KEY" block is secret: the file is flagged for wiping
 * and its decoded bytes do not stay in scratch, even when the block is
 * not a key we read (OpenSSH) or the file turns out to be malformed. */
static void private_key_blocks_are_wiped(void **state)
{
    static const char *const dns[] = {"ssh.example", NULL};
    /* 48 bytes of 'Z' (0x5a), a pattern to look for in scratch. */
    static const char body[] =
        "WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpa\n";
    static const char *const labels[] = {"OPENSSH PRIVATE KEY",
                                         "ANY PRIVATE KEY"};
    unsigned char zs[48];
    X509 *l = leaf("ssh.example", dns, NULL, g_leaf_key, NOW, NOW + DAY, 15);
    X509 *certs[1] = {l};
    size_t len, i;
    char *pem = tp_pem(certs, 1, &len);
    char *text = malloc(len + 512);
    ks_certfile f;
    kw_diag d;

    (void)state;
    memset(zs, 'Z', sizeof(zs));

    /* A certificate alone: nothing secret. */
    assert_int_equal(parse_text(pem, len, &f, &d), 0);
    assert_int_equal(f.saw_private, 0);
    ks_certfile_free(&f);

    for (i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
        memset(g_scratch, 0, sizeof(g_scratch));
        snprintf(text, len + 512, "%s-----BEGIN %s-----\n%s-----END %s-----\n",
                 pem, labels[i], body, labels[i]);
        assert_int_equal(parse_text(text, strlen(text), &f, &d), 0);
        assert_int_equal(f.ncerts, 1);
        assert_int_equal(f.nkeys, 0);
        assert_int_equal(f.other_blocks, 1);
        assert_int_equal(f.saw_private, 1);
        assert_null(memmem(g_scratch, sizeof(g_scratch), zs, sizeof(zs)));
        ks_certfile_free(&f);
    }

    /* A private key that fails half-way: an error, still flagged. */
    memset(g_scratch, 0, sizeof(g_scratch));
    snprintf(text, len + 512,
             "%s-----BEGIN PRIVATE KEY-----\n%sAA!C\n"
             "-----END PRIVATE KEY-----\n",
             pem, body);
    assert_int_equal(parse_text(text, strlen(text), &f, &d), KW_EPARSE);
    assert_non_null(strstr(d.msg, "PEM block 2 (PRIVATE KEY"));
    assert_int_equal(f.ncerts, 0);
    assert_int_equal(f.saw_private, 1);
    assert_null(memmem(g_scratch, sizeof(g_scratch), zs, sizeof(zs)));

    /* A private key that decodes but is not a key. */
    memset(g_scratch, 0, sizeof(g_scratch));
    snprintf(text, len + 512,
             "%s-----BEGIN RSA PRIVATE KEY-----\n%s"
             "-----END RSA PRIVATE KEY-----\n",
             pem, body);
    assert_int_equal(parse_text(text, strlen(text), &f, &d), KW_EPARSE);
    assert_non_null(strstr(d.msg, "not a valid private key"));
    assert_int_equal(f.saw_private, 1);
    assert_null(memmem(g_scratch, sizeof(g_scratch), zs, sizeof(zs)));

    free(text);
    free(pem);
    X509_free(l);
}

/* Hundreds of names: all are read, and the names key holds every one of
 * them (a key cut at a fixed size made distinct certificates collide). */
static void many_sans_names_key(void **state)
{
    enum { NSANS = 500 };
    X509 *x = leaf("many.example", NULL, NULL, g_leaf_key, NOW, NOW + DAY,
                   16);
    GENERAL_NAMES *gens = GENERAL_NAMES_new();
    const char *last = "host499.many-names.example";
    size_t namelen = strlen(last);
    char name[64], *key;
    ks_cert c;
    int i;

    (void)state;
    /* Added in reverse order, upper case: the key is sorted, lower case. */
    for (i = NSANS - 1; i >= 0; i--) {
        GENERAL_NAME *g = GENERAL_NAME_new();
        ASN1_IA5STRING *s = ASN1_IA5STRING_new();

        snprintf(name, sizeof(name), "HOST%03d.many-names.example", i);
        assert_int_equal(strlen(name), namelen);
        assert_int_equal(ASN1_STRING_set(s, name, -1), 1);
        GENERAL_NAME_set0_value(g, GEN_DNS, s);
        assert_true(sk_GENERAL_NAME_push(gens, g) > 0);
    }
    assert_int_equal(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
                                       X509V3_ADD_DEFAULT),
                     1);
    GENERAL_NAMES_free(gens);
    assert_true(X509_sign(x, g_ca_key, EVP_sha256()) > 0);

    decode(x, &c);
    assert_int_equal(c.nsans, NSANS);
    assert_string_equal(c.sans[0], "HOST499.many-names.example");
    key = ks_cert_names_key(&c);
    assert_non_null(key);
    assert_true(strlen(key) > 4096);
    assert_int_equal(strlen(key), NSANS * namelen + (NSANS - 1));
    assert_int_equal(strncmp(key, "host000.many-names.example,", namelen + 1),
                     0);
    assert_true(kw_str_endswith(key, ",host499.many-names.example"));
    assert_non_null(strstr(key, last));
    free(key);

    /* Duplicates (case-insensitive) collapse; a CA keys on its subject. */
    free(c.sans[1]);
    c.sans[1] = strdup("host499.MANY-NAMES.example");
    key = ks_cert_names_key(&c);
    assert_int_equal(strlen(key), (NSANS - 1) * namelen + (NSANS - 2));
    free(key);
    c.is_ca = 1;
    key = ks_cert_names_key(&c);
    assert_string_equal(key, "subject:CN=many.example");
    free(key);
    ks_cert_clear(&c);
    X509_free(x);
}

static void der_files(void **state)
{
    static const char *const dns[] = {"der.example", NULL};
    X509 *l = leaf("der.example", dns, NULL, g_leaf_key, NOW, NOW + DAY, 12);
    size_t a, b;
    unsigned char *da = tp_der(l, &a), *db = tp_der(g_inter, &b);
    unsigned char *both = malloc(a + b + 1);
    unsigned char *key = NULL;
    int klen;
    ks_certfile f;
    kw_diag d;

    (void)state;
    memcpy(both, da, a);
    memcpy(both + a, db, b);
    assert_int_equal(parse_text((char *)both, a + b, &f, &d), 0);
    assert_int_equal(f.format, KS_FMT_DER);
    assert_int_equal(f.ncerts, 2);
    assert_int_equal(f.arrangement, KS_ARR_CHAIN);
    ks_certfile_free(&f);

    both[a + b] = 0x00; /* one stray byte after a DER certificate */
    assert_int_equal(parse_text((char *)both, a + 1, &f, &d), KW_EPARSE);
    assert_non_null(strstr(d.msg, "DER certificate 2"));

    /* A DER private key (PKCS#8) is recognised as a key file. */
    klen = i2d_PrivateKey(g_leaf_key, &key);
    assert_true(klen > 0);
    assert_int_equal(parse_text((char *)key, (size_t)klen, &f, &d), 0);
    assert_int_equal(f.ncerts, 0);
    assert_int_equal(f.nkeys, 1);
    ks_certfile_free(&f);

    OPENSSL_free(key);
    free(both);
    OPENSSL_free(da);
    OPENSSL_free(db);
    X509_free(l);
}

static void not_certificates(void **state)
{
    ks_certfile f;
    kw_diag d;

    (void)state;
    /* Text, and text that starts with "0" (an OpenSSL serial file). */
    assert_int_equal(parse_text("hello\n", 6, &f, &d), 0);
    assert_int_equal(f.format, KS_FMT_NONE);
    assert_int_equal(parse_text("0\n", 2, &f, &d), 0);
    assert_int_equal(f.format, KS_FMT_NONE);
    assert_int_equal(parse_text("01\n", 3, &f, &d), 0);
    assert_int_equal(f.format, KS_FMT_NONE);
    assert_int_equal(parse_text("", 0, &f, &d), 0);
    /* A PEM block that is not a certificate: counted, not an error. */
    {
        const char *csr = "-----BEGIN CERTIFICATE REQUEST-----\nAAEC\n"
                          "-----END CERTIFICATE REQUEST-----\n";
        assert_int_equal(parse_text(csr, strlen(csr), &f, &d), 0);
    }
    assert_int_equal(f.other_blocks, 1);
    ks_certfile_free(&f);
    /* A certificate block whose body is not a certificate. */
    {
        const char *bad = "-----BEGIN CERTIFICATE-----\nAAEC\n"
                          "-----END CERTIFICATE-----\n";
        assert_int_equal(parse_text(bad, strlen(bad), &f, &d), KW_EPARSE);
    }
    assert_non_null(strstr(d.msg, "PEM block 1 (CERTIFICATE, line 1)"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fields_match_openssl),
        cmocka_unit_test(key_types),
        cmocka_unit_test(ca_flags_and_names),
        cmocka_unit_test(der_truncated_at_every_length),
        cmocka_unit_test(arrangements),
        cmocka_unit_test(key_in_same_file),
        cmocka_unit_test(sec1_ec_key_is_parsed),
        cmocka_unit_test(private_key_blocks_are_wiped),
        cmocka_unit_test(many_sans_names_key),
        cmocka_unit_test(der_files),
        cmocka_unit_test(not_certificates),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
