/*
 * testpki.h: certificates and keys made at test time, with the full
 * OpenSSL API (independent of the reader under test).  No private key is
 * ever committed to the repository.
 */
#ifndef KW_TESTPKI_H
#define KW_TESTPKI_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

EVP_PKEY *tp_key_ec(void);          /* P-256 */
EVP_PKEY *tp_key_ec384(void);
EVP_PKEY *tp_key_rsa(int bits);
EVP_PKEY *tp_key_ed25519(void);

typedef struct tp_spec {
    const char *cn;            /* NULL: no CN */
    const char *org;           /* NULL: none */
    const char *const *dns;    /* NULL-terminated, or NULL */
    const char *const *ips;    /* NULL-terminated, or NULL */
    int64_t not_before;
    int64_t not_after;
    int is_ca;
    long serial;
    EVP_PKEY *key;             /* the subject's key */
    X509 *issuer;              /* NULL: self-signed */
    EVP_PKEY *issuer_key;      /* NULL: key (self-signed) */
} tp_spec;

/* A self-signed CA named cn with key k, valid from a day before now for
 * 900 days, serial 1; aborts on failure. */
X509 *tp_ca(const char *cn, EVP_PKEY *k, int64_t now);

/* leaf and its issuer ca written as DIR/BASE.pem (leaf first, 0644) and,
 * when k is not NULL, k as DIR/BASE.key (0600); their paths in cert and
 * key (cap bytes each, key may be NULL without k).  Aborts on failure. */
void tp_write_served(const char *dir, const char *base, X509 *leaf, X509 *ca,
                     EVP_PKEY *k, char *cert, char *key, size_t cap);

/* The TLSA record "USAGE 1 1 HEX" of x: the SHA-256 of its
 * SubjectPublicKeyInfo, computed with OpenSSL directly (not by the code
 * under test); aborts on failure. */
void tp_tlsa_spki(X509 *x, int usage, char *buf, size_t cap);

/* Build and sign a certificate; aborts on failure (tests only). */
X509 *tp_cert(const tp_spec *s);

/* DER of a certificate; free with OPENSSL_free. */
unsigned char *tp_der(X509 *c, size_t *len);

/* Write certs (and optionally a key after them) as PEM.  Returns 0. */
int tp_write_pem(const char *path, X509 *const *certs, size_t n,
                 EVP_PKEY *key, mode_t mode);
int tp_write_der(const char *path, X509 *c);
int tp_write_key(const char *path, EVP_PKEY *k, mode_t mode);
int tp_write_bytes(const char *path, const void *p, size_t n, mode_t mode);

/* PEM text of certs in a malloc'd NUL-terminated buffer. */
char *tp_pem(X509 *const *certs, size_t n, size_t *len);

/* mkdir -p; aborts on failure. */
void tp_mkdirs(const char *path);

/* The demo set: a Let's Encrypt-style live/archive layout, a chain whose
 * intermediate expires first, expired and expiring certificates, a key
 * mismatch, a world-readable key, an IDN name, an unordered chain and a
 * corrupt file, relative to now. */
int tp_make_demo(const char *dir, int64_t now);

/* A benchmark tree of about ncerts certificates in mixed files (single
 * certificates, leaf+intermediate chains, bundles of 5), 200 files per
 * directory.  Deterministic for a given seed.  Returns the number of
 * certificates written. */
long tp_make_tree(const char *dir, long ncerts, int64_t now, unsigned seed);

#endif
