/*
 * ks_keygen.h: private keys and certificate signing requests.
 *
 * Keys never leave this module as bytes except to a file written 0600 (or
 * a configured mode) atomically; every buffer that held key bytes is wiped
 * before it is freed.
 */
#ifndef KS_KEYGEN_H
#define KS_KEYGEN_H

#include "../common/kw_err.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <sys/types.h>

typedef enum ks_key_type {
    KS_KEY_EC256 = 0, /* ECDSA P-256: the default */
    KS_KEY_EC384,
    KS_KEY_RSA2048,
    KS_KEY_RSA3072,
    KS_KEY_RSA4096,
    KS_KEY_ED25519, /* account keys only where the CA offers EdDSA */
} ks_key_type;

/* "ec256" (also "p256", "ecdsa"), "ec384" ("p384"), "rsa2048", "rsa3072",
 * "rsa4096", "ed25519".  Returns 0, or -1 for anything else. */
int ks_key_type_parse(const char *s, ks_key_type *out);
const char *ks_key_type_word(ks_key_type t);

/* A fresh key of type t. */
EVP_PKEY *ks_keygen(ks_key_type t, kw_diag *d);

/* Writes key as PKCS#8 PEM to path: temp file in the same directory
 * created with mode (0600 unless a group needs 0640), fsynced, renamed,
 * directory fsynced.  gid (gid_t)-1 keeps the process's group. */
int ks_key_write(const char *path, EVP_PKEY *key, mode_t mode, gid_t gid,
                 kw_diag *d);

/* Reads a PEM private key (PKCS#8, or traditional EC/RSA).  Errors name
 * the file. */
EVP_PKEY *ks_key_read(const char *path, kw_diag *d);

/* The first PEM certificate in the file at path, read with
 * kw_fs_read_regular (a regular file of at most 1 MiB).  KW_ENOENT when
 * there is no such file, KW_EPARSE when it holds no certificate. */
int ks_cert_read(const char *path, X509 **out, kw_diag *d);

/* 1 when cert covers name, the one rule for "due" (does the live
 * certificate still cover the configured names?), "deployable" (does the
 * new one?) and "served" (does the probed one?): an IPv4 or IPv6 address
 * (as inet_pton reads it) must be an iPAddress SAN; anything else is a
 * DNS name, compared case-insensitively with the dNSName SANs (the
 * subject's CN only when there are none), a wildcard standing for
 * exactly one whole leftmost label (RFC 6125: "*.example.com" covers
 * "a.example.com", not "a.b.example.com", "example.com" or a partial
 * "f*.example.com").  A requested "*.example.com" is covered by the
 * certificate name "*.example.com". */
int ks_cert_covers(X509 *cert, const char *name);

/* A DER PKCS#10 CSR for names, signed by key (SHA-256; Ed25519 signs
 * without a digest).  Each name is a DNS name (wildcards allowed) or an IP
 * address (IPv4/IPv6 text), put in subjectAltName as dNSName or
 * iPAddress; the subject is empty (the CA takes the names from the SANs)
 * unless cn is non-NULL and at most 64 bytes.  Returns a malloc'd buffer
 * (free with free()) and its length. */
unsigned char *ks_csr_der(EVP_PKEY *key, const char *const *names,
                          size_t nnames, const char *cn, size_t *len,
                          kw_diag *d);

/* 1 when cert_pem's first certificate carries key's public key. */
int ks_key_matches_cert(EVP_PKEY *key, const char *cert_pem, size_t len);

#endif
