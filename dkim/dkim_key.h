/*
 * dkim_key.h: a DKIM signing key's public half, read from its private key
 * file, and the DNS record that should publish it.
 *
 * kw_dkim_key_load reads RSA and Ed25519 (RFC 8463) private keys in the
 * formats signers write: PEM (PKCS#8 "PRIVATE KEY", as opendkim-genkey's
 * .private and rspamadm's RSA keys; traditional "RSA PRIVATE KEY"), DER,
 * and rspamadm's raw base64 Ed25519 key (64 bytes: seed then public key,
 * or the 32-byte seed alone).  Only the public half leaves the call; the
 * file's bytes and anything decoded from them are cleansed before they are
 * freed.  RSA keys of any size load (a 512-bit key is reported by the
 * health rules, not refused here).  Loading BLOCKS on the file system.
 */
#ifndef KW_DKIM_KEY_H
#define KW_DKIM_KEY_H

#include "../common/kw_err.h"

#include <stddef.h>

typedef enum kw_dkim_alg {
    KW_DKIM_ALG_NONE = 0,
    KW_DKIM_ALG_RSA,
    KW_DKIM_ALG_ED25519
} kw_dkim_alg;

#define KW_DKIM_P_MAX 1200 /* bytes of a p= value, decoded */

/* The largest key file read: a 16384-bit RSA PEM is about 13 KB. */
#define KW_DKIM_KEY_FILE_MAX (64 * 1024)

typedef struct kw_dkim_pub {
    kw_dkim_alg alg;
    int bits;                     /* RSA modulus bits; 256 for Ed25519 */
    /* What p= should carry: RSA SubjectPublicKeyInfo DER (as
     * opendkim-genkey publishes), Ed25519 the raw 32-byte public key
     * (RFC 8463). */
    unsigned char p[KW_DKIM_P_MAX];
    size_t p_len;
    /* Hex SHA-256 of the public key's SubjectPublicKeyInfo DER (for both
     * algorithms), as the inventory stores TLS keys' spki_hash. */
    char hash[65];
} kw_dkim_pub;

/* "rsa", "ed25519", or "none". */
const char *kw_dkim_alg_name(kw_dkim_alg alg);

/* Read the private key at path and fill out with its public half.
 * KW_ENOENT missing, KW_EACCES not readable by us, KW_ETOOBIG larger than
 * KW_DKIM_KEY_FILE_MAX, KW_EPARSE not a key in a known format (encrypted,
 * or an algorithm DKIM has no use for, such as EC), each naming path. */
int kw_dkim_key_load(const char *path, kw_dkim_pub *out, kw_diag *d);

/* 1 when record bytes p (k= alg) name the same public key as key: RSA p=
 * may be SubjectPublicKeyInfo or bare RSAPublicKey DER; compare keys, not
 * bytes.  0 otherwise (including p that does not parse). */
int kw_dkim_pub_matches(const kw_dkim_pub *key, kw_dkim_alg k,
                        const unsigned char *p, size_t n);

/* "v=DKIM1; k=rsa; p=BASE64": the exact record to publish, into buf.
 * KW_ETOOBIG when cap is too small, KW_EINVAL for an empty key. */
int kw_dkim_pub_record(const kw_dkim_pub *key, char *buf, size_t cap);

#endif
