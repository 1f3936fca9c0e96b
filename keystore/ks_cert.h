/*
 * ks_cert.h: what the inventory knows about a certificate file.
 *
 * ks_certfile_parse() reads one file's bytes (PEM or DER) and returns the
 * certificates, private keys and their arrangement (single, ordered chain,
 * unordered chain, bundle of unrelated certificates).  It decodes only the
 * fields the inventory needs, with OpenSSL's ASN.1 template machinery, so
 * a certificate costs a few microseconds instead of a full d2i_X509
 * (which builds the public key through the provider layer).  All strings
 * in the results are valid UTF-8 without control characters.
 *
 * Inputs are untrusted: every length is checked by OpenSSL's DER decoder,
 * the counts are capped below, and a fuzz target (tests/fuzz) compares
 * the results with d2i_X509 on every input both accept.
 */
#ifndef KS_CERT_H
#define KS_CERT_H

#include "../common/kw_err.h"

#include <stddef.h>
#include <stdint.h>

#define KS_MAX_CERTS_PER_FILE 4096
#define KS_MAX_KEYS_PER_FILE 64
#define KS_MAX_SANS 1000

enum ks_san_type { KS_SAN_DNS = 'D', KS_SAN_IP = 'I' };

typedef struct ks_cert {
    char *subject;   /* RFC 4514 order: "CN=a.example, O=Org" */
    char *issuer;
    char *cn;        /* last CN of the subject, or NULL */
    char *serial;    /* lower-case hex, "-" prefix if negative */
    char *sig_alg;   /* "ecdsa-with-SHA256", ... */
    int64_t not_before;
    int64_t not_after;
    unsigned char fingerprint[32]; /* SHA-256 of the DER */
    unsigned char spki_hash[32];   /* SHA-256 of the subjectPublicKey bits */
    char key_type[16];             /* "RSA", "EC", "Ed25519", ... */
    char key_curve[24];            /* "P-256", ... or "" */
    int key_bits;                  /* 0 when unknown */
    int is_ca;
    int self_signed; /* issuer == subject and key identifiers agree */
    char **sans;     /* DNS names (as in the certificate) and IP texts */
    char *san_types; /* KS_SAN_DNS or KS_SAN_IP, one per sans[i] */
    size_t nsans;
    /* Raw DER of the names and key identifiers, for chain linking. */
    unsigned char *subject_der, *issuer_der;
    size_t subject_der_len, issuer_der_len;
    unsigned char ski[64], aki[64];
    size_t ski_len, aki_len;
} ks_cert;

typedef struct ks_key_info {
    int block;        /* PEM block index (1-based), 0 for a DER file */
    int encrypted;    /* cannot be matched without a passphrase */
    int parsed;       /* spki_hash is valid */
    unsigned char spki_hash[32];
    char key_type[16];
    int key_bits;
} ks_key_info;

enum ks_arrangement {
    KS_ARR_NONE = 0,      /* no certificates */
    KS_ARR_SINGLE,        /* one certificate */
    KS_ARR_CHAIN,         /* each certificate issued by the next */
    KS_ARR_CHAIN_UNORDERED, /* one chain, but not leaf-first in order */
    KS_ARR_BUNDLE,        /* unrelated certificates (a CA bundle) */
};

enum ks_format { KS_FMT_NONE = 0, KS_FMT_PEM, KS_FMT_DER };

typedef struct ks_certfile {
    enum ks_format format;
    ks_cert *certs;
    size_t ncerts;
    ks_key_info *keys;
    size_t nkeys;
    int other_blocks;          /* PEM blocks neither cert nor key */
    int saw_private;           /* held private key bytes (any "... PRIVATE
                                * KEY" block, parsed or not, or a DER key):
                                * the caller must wipe the file buffer;
                                * kept even when parsing fails */
    enum ks_arrangement arrangement;
    size_t *order;             /* chains: order[0] is the leaf */
} ks_certfile;

/* Fetch what decoding needs once, before threads use this module. */
void ks_cert_init(void);

/* Release what the calling thread cached (call before a thread exits). */
void ks_cert_thread_done(void);

/* Parse buf.  scratch must hold len bytes (decoded PEM bodies; private
 * key bytes pass through it and are wiped before return).  On success
 * the caller frees *out with ks_certfile_free().  A file that holds no
 * PEM block and is not DER returns 0 with format KS_FMT_NONE.  A malformed
 * file returns KW_EPARSE (or KW_ETOOBIG, KW_ENOMEM) with the reason in d
 * and *out empty but for saw_private.  buf is left as it was: when
 * out->saw_private is set (or parsing failed) the caller wipes it. */
int ks_certfile_parse(const unsigned char *buf, size_t len,
                      unsigned char *scratch, size_t scratch_cap,
                      ks_certfile *out, kw_diag *d);

void ks_certfile_free(ks_certfile *f);

/* Decode one DER certificate of exactly len bytes (trailing bytes are an
 * error unless allow_trailing, in which case *used tells how many bytes
 * the certificate took). */
int ks_cert_decode(const unsigned char *der, size_t len, int allow_trailing,
                   ks_cert *out, size_t *used, kw_diag *d);

void ks_cert_clear(ks_cert *c);

/* Derive the public-key hash (as in ks_cert.spki_hash) from a DER private
 * key (PKCS#8, PKCS#1 RSA or SEC1 EC). */
int ks_privkey_info(const unsigned char *der, size_t len, ks_key_info *out,
                    kw_diag *d);

/* The key that groups versions of "the same" certificate: its sorted,
 * lower-cased, de-duplicated names, or for a CA (or a certificate without
 * names) "subject:" and its subject.  Caller frees; NULL if out of
 * memory. */
char *ks_cert_names_key(const ks_cert *c);

/* A certificate's display name: the first DNS SAN, else the CN, else the
 * subject. */
const char *ks_cert_name(const ks_cert *c);

#endif
