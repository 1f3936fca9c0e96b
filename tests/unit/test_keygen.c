/*
 * test_keygen.c: key types, generation, atomic key files with their mode
 * and group, reading back, CSRs checked with OpenSSL's own parser, and
 * key/certificate matching.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "keystore/ks_keygen.h"
#include "testpki.h"
#include "tmpdir.h"

typedef struct {
    char dir[256];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    tmpdir_make(f->dir, sizeof(f->dir), "keygen");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    tmpdir_remove(f->dir);
    free(f);
    return 0;
}

/* Number of entries in dir other than . and .. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

#define KW_EPERM_TEST (-EPERM)

static int in_group(gid_t g)
{
    gid_t groups[256];
    int n = getgroups(256, groups), i;

    if (getegid() == g)
        return 1;
    for (i = 0; i < n; i++)
        if (groups[i] == g)
            return 1;
    return 0;
}

static void type_words(void **state)
{
    static const struct {
        const char *s;
        ks_key_type t;
    } ok[] = {
        {"ec256", KS_KEY_EC256},     {"p256", KS_KEY_EC256},
        {"ecdsa", KS_KEY_EC256},     {"EC256", KS_KEY_EC256},
        {"ec384", KS_KEY_EC384},     {"p384", KS_KEY_EC384},
        {"rsa2048", KS_KEY_RSA2048}, {"rsa3072", KS_KEY_RSA3072},
        {"rsa4096", KS_KEY_RSA4096}, {"ed25519", KS_KEY_ED25519},
    };
    static const char *const bad[] = {"", "rsa", "rsa1024", "ec521",
                                      "ec256 ", "ed448"};
    ks_key_type t;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        t = KS_KEY_ED25519;
        assert_int_equal(ks_key_type_parse(ok[i].s, &t), 0);
        assert_int_equal(t, ok[i].t);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t = KS_KEY_RSA3072;
        assert_int_equal(ks_key_type_parse(bad[i], &t), -1);
        assert_int_equal(t, KS_KEY_RSA3072); /* untouched on failure */
    }
    assert_int_equal(ks_key_type_parse(NULL, &t), -1);
    /* Every word parses back to its type. */
    for (t = KS_KEY_EC256; t <= KS_KEY_ED25519; t++) {
        ks_key_type back;

        assert_int_equal(ks_key_type_parse(ks_key_type_word(t), &back), 0);
        assert_int_equal(back, t);
    }
    assert_string_equal(ks_key_type_word((ks_key_type)99), "unknown");
}

/* Generate, write 0600, stat, read back, compare. */
static void roundtrip(fixture *f, ks_key_type t, const char *want_type,
                      int want_bits)
{
    char path[512];
    struct stat st;
    EVP_PKEY *k, *back;
    char *text;
    size_t len;
    kw_diag d;

    k = ks_keygen(t, &d);
    assert_non_null(k);
    assert_true(EVP_PKEY_is_a(k, want_type));
    assert_int_equal(EVP_PKEY_get_bits(k), want_bits);
    path_join(path, sizeof(path), f->dir, ks_key_type_word(t));
    assert_int_equal(ks_key_write(path, k, 0600, (gid_t)-1, &d), 0);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    text = slurp(path, &len);
    assert_non_null(text);
    /* PKCS#8, unencrypted. */
    assert_int_equal(strncmp(text, "-----BEGIN PRIVATE KEY-----\n", 28), 0);
    free(text);
    back = ks_key_read(path, &d);
    assert_non_null(back);
    assert_int_equal(EVP_PKEY_eq(k, back), 1);
    EVP_PKEY_free(back);
    EVP_PKEY_free(k);
}

static void keygen_each_type(void **state)
{
    fixture *f = *state;

    roundtrip(f, KS_KEY_EC256, "EC", 256);
    roundtrip(f, KS_KEY_EC384, "EC", 384);
    roundtrip(f, KS_KEY_RSA2048, "RSA", 2048);
    roundtrip(f, KS_KEY_RSA3072, "RSA", 3072);
    roundtrip(f, KS_KEY_RSA4096, "RSA", 4096);
    roundtrip(f, KS_KEY_ED25519, "ED25519", 256);
    /* Nothing but the six keys: no temporary left behind. */
    assert_int_equal(count_entries(f->dir), 6);
}

static void write_mode_group_and_replace(void **state)
{
    fixture *f = *state;
    char path[512];
    struct stat st;
    EVP_PKEY *a = ks_keygen(KS_KEY_EC256, NULL);
    EVP_PKEY *b = ks_keygen(KS_KEY_EC256, NULL);
    EVP_PKEY *back;
    mode_t old_umask;
    kw_diag d;

    (void)state;
    path_join(path, sizeof(path), f->dir, "privkey.pem");
    /* The mode is exact whatever the umask. */
    old_umask = umask(0077);
    assert_int_equal(ks_key_write(path, a, 0640, getgid(), &d), 0);
    umask(old_umask);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_int_equal(st.st_gid, getgid());
    /* Replacing: the new key is there, in a new file, no temporary left. */
    assert_int_equal(ks_key_write(path, b, 0600, (gid_t)-1, &d), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    back = ks_key_read(path, &d);
    assert_int_equal(EVP_PKEY_eq(back, b), 1);
    assert_int_not_equal(EVP_PKEY_eq(back, a), 1);
    EVP_PKEY_free(back);
    assert_int_equal(count_entries(f->dir), 1);
    /* A group we may not give files to: the error says so, the old key
     * stays, and no temporary is left behind. */
    if (geteuid() != 0 && !in_group(0)) {
        assert_int_equal(ks_key_write(path, a, 0640, 0, &d), KW_EPERM_TEST);
        assert_non_null(strstr(d.msg, "group 0"));
        back = ks_key_read(path, &d);
        assert_int_equal(EVP_PKEY_eq(back, b), 1);
        EVP_PKEY_free(back);
        assert_int_equal(count_entries(f->dir), 1);
    }
    /* Modes that would expose a private key are refused. */
    assert_int_equal(ks_key_write(path, a, 0644, (gid_t)-1, &d), KW_EINVAL);
    assert_non_null(strstr(d.msg, "0644"));
    assert_int_equal(ks_key_write(path, a, 0700, (gid_t)-1, &d), KW_EINVAL);
    assert_int_equal(ks_key_write(path, a, 04600, (gid_t)-1, &d), KW_EINVAL);
    /* A directory that does not exist: the error names the path. */
    path_join(path, sizeof(path), f->dir, "missing/privkey.pem");
    assert_int_equal(ks_key_write(path, a, 0600, (gid_t)-1, &d), KW_ENOENT);
    assert_non_null(strstr(d.msg, "missing/privkey.pem"));
    assert_int_equal(count_entries(f->dir), 1);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
}

static void read_errors_and_formats(void **state)
{
    fixture *f = *state;
    char path[512];
    EVP_PKEY *k = tp_key_ec(), *back;
    BIO *bio;
    FILE *fp;
    kw_diag d;

    path_join(path, sizeof(path), f->dir, "nope.pem");
    assert_null(ks_key_read(path, &d));
    assert_non_null(strstr(d.msg, "nope.pem"));

    path_join(path, sizeof(path), f->dir, "garbage.pem");
    tp_write_bytes(path, "hello\n", 6, 0600);
    assert_null(ks_key_read(path, &d));
    assert_non_null(strstr(d.msg, "garbage.pem"));

    /* A certificate file holds no private key. */
    {
        tp_spec s = {.cn = "x", .not_before = 0, .not_after = 2000000000,
                     .serial = 1, .key = k};
        X509 *c = tp_cert(&s);

        path_join(path, sizeof(path), f->dir, "cert.pem");
        tp_write_pem(path, &c, 1, NULL, 0644);
        assert_null(ks_key_read(path, &d));
        assert_non_null(strstr(d.msg, "cert.pem"));
        /* With the key after the certificate, the key is found. */
        tp_write_pem(path, &c, 1, k, 0600);
        back = ks_key_read(path, &d);
        assert_non_null(back);
        assert_int_equal(EVP_PKEY_eq(back, k), 1);
        EVP_PKEY_free(back);
        X509_free(c);
    }

    /* Traditional "EC PRIVATE KEY". */
    path_join(path, sizeof(path), f->dir, "trad.pem");
    fp = fopen(path, "w");
    assert_non_null(fp);
    bio = BIO_new_fp(fp, BIO_NOCLOSE);
    assert_int_equal(PEM_write_bio_PrivateKey_traditional(bio, k, NULL, NULL,
                                                          0, NULL, NULL),
                     1);
    BIO_free(bio);
    fclose(fp);
    back = ks_key_read(path, &d);
    assert_non_null(back);
    assert_int_equal(EVP_PKEY_eq(back, k), 1);
    EVP_PKEY_free(back);

    /* Encrypted PKCS#8: refused with a clear word, never a prompt. */
    path_join(path, sizeof(path), f->dir, "enc.pem");
    fp = fopen(path, "w");
    assert_non_null(fp);
    bio = BIO_new_fp(fp, BIO_NOCLOSE);
    assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, k, EVP_aes_256_cbc(),
                                                   "secret", 6, NULL, NULL),
                     1);
    BIO_free(bio);
    fclose(fp);
    assert_null(ks_key_read(path, &d));
    assert_non_null(strstr(d.msg, "encrypted"));
    assert_non_null(strstr(d.msg, "enc.pem"));

    /* Far too big to be a key. */
    {
        size_t n = 200 * 1024;
        char *big = malloc(n);

        memset(big, 'A', n);
        path_join(path, sizeof(path), f->dir, "big.pem");
        tp_write_bytes(path, big, n, 0600);
        free(big);
        assert_null(ks_key_read(path, &d));
        assert_non_null(strstr(d.msg, "big.pem"));
    }
    EVP_PKEY_free(k);
}

/* ---- CSR -------------------------------------------------------------- */

static X509_REQ *parse_csr(const unsigned char *der, size_t len,
                           EVP_PKEY *key)
{
    const unsigned char *p = der;
    X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);

    assert_non_null(req);
    assert_ptr_equal(p, der + len);
    assert_int_equal(X509_REQ_verify(req, key), 1);
    return req;
}

static GENERAL_NAMES *csr_sans(X509_REQ *req, int *critical)
{
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
    GENERAL_NAMES *g;
    int i;

    assert_non_null(exts);
    i = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1);
    assert_true(i >= 0);
    *critical = X509_EXTENSION_get_critical(X509v3_get_ext(exts, i));
    g = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
    assert_non_null(g);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return g;
}

static void csr_sans_and_signature(void **state)
{
    const char *names[] = {"example.org", "*.example.org", "192.0.2.1",
                           "2001:db8::1", "_acme.example.org"};
    unsigned char v4[4], v6[16];
    ks_key_type types[] = {KS_KEY_EC256, KS_KEY_EC384, KS_KEY_RSA2048,
                           KS_KEY_ED25519};
    size_t ti;

    (void)state;
    assert_int_equal(inet_pton(AF_INET, "192.0.2.1", v4), 1);
    assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", v6), 1);
    for (ti = 0; ti < sizeof(types) / sizeof(types[0]); ti++) {
        EVP_PKEY *k = ks_keygen(types[ti], NULL);
        size_t len = 0, i;
        kw_diag d;
        unsigned char *der = ks_csr_der(k, names, 5, "example.org", &len, &d);
        X509_REQ *req;
        GENERAL_NAMES *g;
        X509_NAME *subj;
        char cn[80];
        int crit;

        assert_non_null(der);
        req = parse_csr(der, len, k);
        assert_int_equal(EVP_PKEY_eq(X509_REQ_get0_pubkey(req), k), 1);
        subj = X509_REQ_get_subject_name(req);
        assert_int_equal(X509_NAME_entry_count(subj), 1);
        assert_true(X509_NAME_get_text_by_NID(subj, NID_commonName, cn,
                                              sizeof(cn)) > 0);
        assert_string_equal(cn, "example.org");
        g = csr_sans(req, &crit);
        assert_int_equal(crit, 0); /* a subject is present */
        assert_int_equal(sk_GENERAL_NAME_num(g), 5);
        for (i = 0; i < 5; i++) {
            GENERAL_NAME *gn = sk_GENERAL_NAME_value(g, (int)i);
            int type;
            ASN1_STRING *v = GENERAL_NAME_get0_value(gn, &type);

            if (i == 2 || i == 3) {
                assert_int_equal(type, GEN_IPADD);
                assert_int_equal(ASN1_STRING_length(v), i == 2 ? 4 : 16);
                assert_memory_equal(ASN1_STRING_get0_data(v),
                                    i == 2 ? v4 : v6, i == 2 ? 4 : 16);
            } else {
                assert_int_equal(type, GEN_DNS);
                assert_int_equal((size_t)ASN1_STRING_length(v),
                                 strlen(names[i]));
                assert_memory_equal(ASN1_STRING_get0_data(v), names[i],
                                    strlen(names[i]));
            }
        }
        GENERAL_NAMES_free(g);
        X509_REQ_free(req);
        free(der);
        EVP_PKEY_free(k);
    }
}

static void csr_without_cn(void **state)
{
    const char *names[] = {"a.example"};
    char longcn[80];
    EVP_PKEY *k = tp_key_ec();
    size_t len;
    unsigned char *der;
    X509_REQ *req;
    GENERAL_NAMES *g;
    int crit;
    kw_diag d;

    (void)state;
    der = ks_csr_der(k, names, 1, NULL, &len, &d);
    assert_non_null(der);
    req = parse_csr(der, len, k);
    assert_int_equal(X509_NAME_entry_count(X509_REQ_get_subject_name(req)),
                     0);
    g = csr_sans(req, &crit);
    assert_int_equal(crit, 1); /* empty subject: SAN critical */
    GENERAL_NAMES_free(g);
    X509_REQ_free(req);
    free(der);

    /* A CN over 64 bytes is left out. */
    memset(longcn, 'a', 65);
    longcn[65] = '\0';
    der = ks_csr_der(k, names, 1, longcn, &len, &d);
    assert_non_null(der);
    req = parse_csr(der, len, k);
    assert_int_equal(X509_NAME_entry_count(X509_REQ_get_subject_name(req)),
                     0);
    X509_REQ_free(req);
    free(der);
    EVP_PKEY_free(k);
}

static void csr_rejects(void **state)
{
    static const char *const bad[] = {
        "", "exa mple.org", "example.org.", "a..b", "*", "*.", "a.*.b",
        "foo*.example", "ex\xc3\xa4mple.org", "1.2.3.4.5.6:", "a\nb",
    };
    EVP_PKEY *k = tp_key_ec();
    size_t len = 7, i;
    kw_diag d;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *names[] = {"ok.example", bad[i]};

        d.msg[0] = '\0';
        if (ks_csr_der(k, names, 2, NULL, &len, &d) != NULL)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_int_equal(len, 0);
        assert_non_null(strstr(d.msg, "neither"));
        /* The diagnostic never carries raw control characters. */
        assert_null(strchr(d.msg, '\n'));
    }
    assert_null(ks_csr_der(k, NULL, 0, NULL, &len, &d));
    assert_non_null(strstr(d.msg, "no names"));
    {
        char label[80], name[100];

        memset(label, 'a', 64);
        label[64] = '\0';
        snprintf(name, sizeof(name), "%s.example", label);
        {
            const char *names[] = {name};

            assert_null(ks_csr_der(k, names, 1, NULL, &len, &d));
        }
    }
    EVP_PKEY_free(k);
}

/* ---- matching --------------------------------------------------------- */

static void key_matches_cert(void **state)
{
    EVP_PKEY *k = tp_key_ec(), *other = tp_key_ec(), *rsa = tp_key_rsa(2048);
    const char *dns[] = {"example.org", NULL};
    tp_spec s = {.cn = "example.org", .dns = dns, .not_before = 0,
                 .not_after = 2000000000, .serial = 7, .key = k};
    X509 *c = tp_cert(&s);
    size_t len;
    char *pem = tp_pem(&c, 1, &len);

    (void)state;
    assert_int_equal(ks_key_matches_cert(k, pem, len), 1);
    assert_int_equal(ks_key_matches_cert(other, pem, len), 0);
    assert_int_equal(ks_key_matches_cert(rsa, pem, len), 0);
    assert_int_equal(ks_key_matches_cert(k, "garbage", 7), 0);
    assert_int_equal(ks_key_matches_cert(k, pem, 0), 0);
    assert_int_equal(ks_key_matches_cert(NULL, pem, len), 0);
    /* Only the first certificate counts. */
    {
        tp_spec s2 = s;
        X509 *pair[2];
        char *pem2;
        size_t len2;

        s2.key = other;
        pair[0] = tp_cert(&s2);
        pair[1] = c;
        pem2 = tp_pem(pair, 2, &len2);
        assert_int_equal(ks_key_matches_cert(other, pem2, len2), 1);
        assert_int_equal(ks_key_matches_cert(k, pem2, len2), 0);
        free(pem2);
        X509_free(pair[0]);
    }
    free(pem);
    X509_free(c);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
    EVP_PKEY_free(rsa);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(type_words),
        cmocka_unit_test_setup_teardown(keygen_each_type, setup, teardown),
        cmocka_unit_test_setup_teardown(write_mode_group_and_replace, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(read_errors_and_formats, setup,
                                        teardown),
        cmocka_unit_test(csr_sans_and_signature),
        cmocka_unit_test(csr_without_cn),
        cmocka_unit_test(csr_rejects),
        cmocka_unit_test(key_matches_cert),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
