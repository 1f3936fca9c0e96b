/*
 * ks_keygen.c: private keys (generate, write, read) and CSRs.
 *
 * Key bytes exist outside OpenSSL's own structures only in two places:
 * the PEM text on its way to the file (a memory BIO) and the file's text
 * on its way in (a heap buffer).  Both are wiped with OPENSSL_cleanse
 * before they are freed, on every path.  No key byte is ever logged or
 * put in a diagnostic; errors name the file and what failed.
 */
#include "ks_keygen.h"

#include "../common/kw_fs.h"
#include "../common/kw_str.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* A PEM private key is a few kilobytes (RSA 4096: about 3.3 KiB); a file
 * far larger than that is not a key file. */
#define KS_KEY_FILE_MAX (64 * 1024)
#define KS_CERT_FILE_MAX (1024 * 1024)

static const char *openssl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

    return r != NULL ? r : "unknown error";
}

/* ---- key types --------------------------------------------------------- */

static const struct {
    const char *word;
    ks_key_type type;
} key_words[] = {
    {"ec256", KS_KEY_EC256},     {"p256", KS_KEY_EC256},
    {"ecdsa", KS_KEY_EC256},     {"ec384", KS_KEY_EC384},
    {"p384", KS_KEY_EC384},      {"rsa2048", KS_KEY_RSA2048},
    {"rsa3072", KS_KEY_RSA3072}, {"rsa4096", KS_KEY_RSA4096},
    {"ed25519", KS_KEY_ED25519},
};

int ks_key_type_parse(const char *s, ks_key_type *out)
{
    size_t i;

    if (s == NULL || out == NULL)
        return -1;
    for (i = 0; i < sizeof(key_words) / sizeof(key_words[0]); i++) {
        if (strcasecmp(s, key_words[i].word) == 0) {
            *out = key_words[i].type;
            return 0;
        }
    }
    return -1;
}

const char *ks_key_type_word(ks_key_type t)
{
    switch (t) {
    case KS_KEY_EC256: return "ec256";
    case KS_KEY_EC384: return "ec384";
    case KS_KEY_RSA2048: return "rsa2048";
    case KS_KEY_RSA3072: return "rsa3072";
    case KS_KEY_RSA4096: return "rsa4096";
    case KS_KEY_ED25519: return "ed25519";
    }
    return "unknown";
}

/* ---- generation -------------------------------------------------------- */

EVP_PKEY *ks_keygen(ks_key_type t, kw_diag *d)
{
    EVP_PKEY *k = NULL;

    ERR_clear_error();
    switch (t) {
    case KS_KEY_EC256:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        break;
    case KS_KEY_EC384:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        break;
    case KS_KEY_RSA2048:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
        break;
    case KS_KEY_RSA3072:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
        break;
    case KS_KEY_RSA4096:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
        break;
    case KS_KEY_ED25519:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        break;
    default:
        kw_diag_set(d, KW_EINVAL, "key generation: unknown key type %d",
                    (int)t);
        return NULL;
    }
    if (k == NULL)
        kw_diag_set(d, KW_ECRYPTO, "key generation (%s) failed (OpenSSL: %s)",
                    ks_key_type_word(t), openssl_reason());
    ERR_clear_error();
    return k;
}

int ks_key_write(const char *path, EVP_PKEY *key, mode_t mode, gid_t gid,
                 kw_diag *d)
{
    BIO *bio = NULL;
    char *pem = NULL;
    long n;
    int r;

    if (path == NULL || *path == '\0' || key == NULL)
        return kw_diag_set(d, KW_EINVAL, "key write: no path or no key");
    /* A private key is for its owner and at most one group: no access for
     * others, no execute, no set-id or sticky bits. */
    if ((mode & ~(mode_t)0660) != 0)
        return kw_diag_set(d, KW_EINVAL,
                           "%s: refusing mode %04o for a private key (at "
                           "most 0660; 0600 or 0640)",
                           path, (unsigned)mode);
    ERR_clear_error();
    bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        r = kw_diag_set(d, KW_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    /* PEM_write_bio_PrivateKey writes PKCS#8 ("BEGIN PRIVATE KEY"). */
    if (PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1) {
        r = kw_diag_set(d, KW_ECRYPTO,
                        "%s: cannot encode the private key (OpenSSL: %s)",
                        path, openssl_reason());
        goto out;
    }
    n = BIO_get_mem_data(bio, &pem);
    if (n <= 0 || pem == NULL) {
        r = kw_diag_set(d, KW_ECRYPTO, "%s: encoding gave no bytes", path);
        goto out;
    }
    r = kw_write_atomic_gid(path, (const unsigned char *)pem, (size_t)n, mode,
                         gid, d);
out:
    if (bio != NULL) {
        n = BIO_get_mem_data(bio, &pem);
        if (n > 0 && pem != NULL)
            OPENSSL_cleanse(pem, (size_t)n);
        BIO_free(bio);
    }
    ERR_clear_error();
    return r;
}

/* ---- read -------------------------------------------------------------- */

/* Never ask for a passphrase: keywarden runs unattended, and OpenSSL's
 * default callback would prompt on a terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

EVP_PKEY *ks_key_read(const char *path, kw_diag *d)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    EVP_PKEY *key = NULL;
    BIO *bio = NULL;

    if (path == NULL || *path == '\0') {
        kw_diag_set(d, KW_EINVAL, "key read: no path");
        return NULL;
    }
    if (kw_fs_read_regular(path, KS_KEY_FILE_MAX, &buf, &len, d) != 0)
        return NULL;
    if (memmem(buf, len, "-----BEGIN ENCRYPTED PRIVATE KEY-----", 37) !=
            NULL ||
        memmem(buf, len, "Proc-Type: 4,ENCRYPTED", 22) != NULL) {
        kw_diag_set(d, KW_EINVAL,
                    "%s: the private key is encrypted; keywarden needs an "
                    "unencrypted key (0600) it can read unattended",
                    path);
        goto out;
    }
    ERR_clear_error();
    bio = BIO_new_mem_buf(buf, (int)len);
    if (bio == NULL) {
        kw_diag_set(d, KW_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    if (key == NULL)
        kw_diag_set(d, KW_EPARSE,
                    "%s: no readable PEM private key (OpenSSL: %s)", path,
                    openssl_reason());
out:
    BIO_free(bio);
    OPENSSL_cleanse(buf, len);
    free(buf);
    ERR_clear_error();
    return key;
}

int ks_cert_read(const char *path, X509 **out, kw_diag *d)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    BIO *bio;
    int r;

    *out = NULL;
    if ((r = kw_fs_read_regular(path, KS_CERT_FILE_MAX, &buf, &len, d)) != 0)
        return r;
    bio = BIO_new_mem_buf(buf, (int)len);
    if (bio != NULL)
        *out = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    r = 0;
    if (*out == NULL)
        r = kw_diag_set(d, bio == NULL ? KW_ENOMEM : KW_EPARSE,
                        "%s: no certificate in it", path);
    BIO_free(bio);
    free(buf);
    ERR_clear_error();
    return r;
}

int ks_cert_covers(X509 *cert, const char *name)
{
    unsigned char a[16];

    if (inet_pton(AF_INET, name, a) == 1 || inet_pton(AF_INET6, name, a) == 1)
        return X509_check_ip_asc(cert, name, 0) == 1;
    return X509_check_host(cert, name, strlen(name),
                           X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1;
}

/* ---- CSR --------------------------------------------------------------- */

/* A DNS name as a CA takes it: LDH labels (underscore tolerated, some CAs
 * issue for it), 1..63 bytes each, 253 in all, an optional "*." first
 * label, no empty label (so no trailing dot).  Internationalised names
 * must already be A-labels. */
static int dns_name_ok(const char *s)
{
    size_t n = strlen(s), label = 0, i;

    if (n == 0 || n > 253)
        return 0;
    if (s[0] == '*') {
        if (s[1] != '.' || s[2] == '\0')
            return 0;
        s += 2;
        n -= 2;
    }
    for (i = 0; i <= n; i++) {
        char c = s[i];

        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63)
                return 0;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return 0;
        label++;
    }
    return 1;
}

/* One GENERAL_NAME for s: iPAddress when s parses as IPv4 or IPv6 text,
 * else dNSName.  NULL with *bad set when s is neither. */
static GENERAL_NAME *make_gen(const char *s, int *bad)
{
    unsigned char ip[16];
    int iplen = 0;
    GENERAL_NAME *g = NULL;
    ASN1_OCTET_STRING *os = NULL;
    ASN1_IA5STRING *ia5 = NULL;

    *bad = 0;
    if (inet_pton(AF_INET, s, ip) == 1)
        iplen = 4;
    else if (inet_pton(AF_INET6, s, ip) == 1)
        iplen = 16;
    else if (!dns_name_ok(s)) {
        *bad = 1;
        return NULL;
    }
    g = GENERAL_NAME_new();
    if (g == NULL)
        return NULL;
    if (iplen > 0) {
        os = ASN1_OCTET_STRING_new();
        if (os == NULL || ASN1_OCTET_STRING_set(os, ip, iplen) != 1)
            goto fail;
        GENERAL_NAME_set0_value(g, GEN_IPADD, os);
    } else {
        ia5 = ASN1_IA5STRING_new();
        if (ia5 == NULL || ASN1_STRING_set(ia5, s, (int)strlen(s)) != 1)
            goto fail;
        GENERAL_NAME_set0_value(g, GEN_DNS, ia5);
    }
    return g;
fail:
    ASN1_OCTET_STRING_free(os);
    ASN1_IA5STRING_free(ia5);
    GENERAL_NAME_free(g);
    return NULL;
}

unsigned char *ks_csr_der(EVP_PKEY *key, const char *const *names,
                          size_t nnames, const char *cn, size_t *len,
                          kw_diag *d)
{
    X509_REQ *req = NULL;
    X509_NAME *subj = NULL;
    GENERAL_NAMES *gens = NULL;
    STACK_OF(X509_EXTENSION) *exts = NULL;
    const EVP_MD *md;
    unsigned char *der = NULL, *out = NULL;
    int derlen, use_cn, bad;
    size_t i;

    if (len != NULL)
        *len = 0;
    if (key == NULL || len == NULL) {
        kw_diag_set(d, KW_EINVAL, "CSR: no key or no length pointer");
        return NULL;
    }
    if (names == NULL || nnames == 0) {
        kw_diag_set(d, KW_EINVAL, "CSR: no names");
        return NULL;
    }
    ERR_clear_error();
    gens = GENERAL_NAMES_new();
    if (gens == NULL)
        goto nomem;
    for (i = 0; i < nnames; i++) {
        GENERAL_NAME *g;

        if (names[i] == NULL) {
            kw_diag_set(d, KW_EINVAL, "CSR: name %zu is missing", i + 1);
            goto out;
        }
        g = make_gen(names[i], &bad);
        if (g == NULL && bad) {
            char *clean = kw_str_clean((const unsigned char *)names[i],
                                       strnlen(names[i], 300));

            kw_diag_set(d, KW_EINVAL,
                        "CSR: \"%s\" is neither a DNS name nor an IP address",
                        clean != NULL ? clean : "?");
            free(clean);
            goto out;
        }
        if (g == NULL)
            goto nomem;
        if (sk_GENERAL_NAME_push(gens, g) <= 0) {
            GENERAL_NAME_free(g);
            goto nomem;
        }
    }
    req = X509_REQ_new();
    subj = X509_NAME_new();
    if (req == NULL || subj == NULL)
        goto nomem;
    /* A CN longer than the 64 bytes X.520 allows is left out, as CAs do:
     * the names travel in subjectAltName anyway. */
    use_cn = cn != NULL && *cn != '\0' && strlen(cn) <= 64;
    if (use_cn &&
        X509_NAME_add_entry_by_NID(subj, NID_commonName, MBSTRING_UTF8,
                                   (const unsigned char *)cn, -1, -1,
                                   0) != 1) {
        kw_diag_set(d, KW_EINVAL, "CSR: the common name is not valid UTF-8 "
                                  "(OpenSSL: %s)",
                    openssl_reason());
        goto out;
    }
    /* RFC 5280 section 4.2.1.6: with an empty subject, subjectAltName is
     * critical. */
    if (X509_REQ_set_version(req, 0) != 1 ||
        X509_REQ_set_subject_name(req, subj) != 1 ||
        X509_REQ_set_pubkey(req, key) != 1 ||
        X509V3_add1_i2d(&exts, NID_subject_alt_name, gens, use_cn ? 0 : 1,
                        X509V3_ADD_DEFAULT) != 1 ||
        X509_REQ_add_extensions(req, exts) != 1) {
        kw_diag_set(d, KW_ECRYPTO, "CSR: cannot build the request "
                                   "(OpenSSL: %s)",
                    openssl_reason());
        goto out;
    }
    /* Ed25519 signs the message itself; everything else SHA-256. */
    md = EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448")
             ? NULL
             : EVP_sha256();
    if (X509_REQ_sign(req, key, md) <= 0) {
        kw_diag_set(d, KW_ECRYPTO, "CSR: signing failed (OpenSSL: %s)",
                    openssl_reason());
        goto out;
    }
    derlen = i2d_X509_REQ(req, &der);
    if (derlen <= 0) {
        kw_diag_set(d, KW_ECRYPTO, "CSR: cannot encode (OpenSSL: %s)",
                    openssl_reason());
        goto out;
    }
    /* The header promises a buffer for free(), not OPENSSL_free(). */
    out = malloc((size_t)derlen);
    if (out == NULL)
        goto nomem;
    memcpy(out, der, (size_t)derlen);
    *len = (size_t)derlen;
    goto out;
nomem:
    kw_diag_set(d, KW_ENOMEM, "CSR: out of memory");
out:
    OPENSSL_free(der);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    GENERAL_NAMES_free(gens);
    X509_NAME_free(subj);
    X509_REQ_free(req);
    ERR_clear_error();
    return out;
}

/* ---- matching ---------------------------------------------------------- */

int ks_key_matches_cert(EVP_PKEY *key, const char *cert_pem, size_t len)
{
    BIO *bio;
    X509 *x;
    int match = 0;

    if (key == NULL || cert_pem == NULL || len == 0 || len > INT_MAX)
        return 0;
    bio = BIO_new_mem_buf(cert_pem, (int)len);
    if (bio == NULL)
        return 0;
    x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
    if (x != NULL) {
        EVP_PKEY *pub = X509_get0_pubkey(x);

        match = pub != NULL && EVP_PKEY_eq(key, pub) == 1;
    }
    X509_free(x);
    BIO_free(bio);
    ERR_clear_error();
    return match;
}
