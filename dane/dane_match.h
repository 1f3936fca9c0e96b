/*
 * dane_match.h: TLSA records (RFC 6698) parsed and matched against a
 * certificate chain as a DANE-validating SMTP sender matches them
 * (RFC 7671, RFC 7672).
 *
 * Pure: no I/O, no clock of its own (the time a DANE-TA chain is checked
 * at is passed in).  A kw_tlsa borrows its data from the RDATA it was
 * parsed from.  Usage 3 (DANE-EE) and 1 (PKIX-EE) match the leaf; usage 2
 * (DANE-TA) and 0 (PKIX-TA) match a CA certificate in the served chain
 * (the trust anchor as served, RFC 7671 section 5.2.2) that the leaf
 * chains up to at that time.  Selector 0 is the whole certificate's DER,
 * 1 its SubjectPublicKeyInfo's; matching type 0 the bytes themselves, 1
 * their SHA-256, 2 their SHA-512.
 */
#ifndef KW_DANE_MATCH_H
#define KW_DANE_MATCH_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "../common/kw_err.h"

enum { KW_DANE_PKIX_TA = 0, KW_DANE_PKIX_EE = 1, KW_DANE_DANE_TA = 2,
       KW_DANE_DANE_EE = 3 };

/* One TLSA record; data points into the RDATA parsed. */
typedef struct kw_tlsa {
    int usage;          /* 0..3 */
    int selector;       /* 0 full certificate, 1 SubjectPublicKeyInfo */
    int mtype;          /* 0 exact, 1 SHA-256, 2 SHA-512 */
    const uint8_t *data;
    size_t len;
} kw_tlsa;

/* Parses TLSA RDATA (usage, selector, matching type, data).  0, or
 * KW_EPARSE with d naming the field: a value RFC 6698 does not define
 * (senders treat the record as unusable), a digest of the wrong length
 * (32 octets for SHA-256, 64 for SHA-512), no data, or RDATA shorter
 * than its three fixed octets. */
int kw_dane_tlsa_parse(const uint8_t *rdata, size_t len, kw_tlsa *t,
                       kw_diag *d);

/* What a record of selector/mtype holds for certificate x, in *out
 * (malloc'd, the caller frees it) and *len.  0, KW_EINVAL (selector or
 * mtype not defined) or KW_ENOMEM/KW_ECRYPTO with d saying so. */
int kw_dane_cert_data(X509 *x, int selector, int mtype, uint8_t **out,
                      size_t *len, kw_diag *d);

/* The presentation form "U S M HEX" of the record of usage/selector/mtype
 * for x, in buf (cap octets; the SHA-256 forms need 72).  0, or KW_E*
 * as kw_dane_cert_data, KW_ETOOBIG when buf is too small. */
int kw_dane_tlsa_text_for(X509 *x, int usage, int selector, int mtype,
                          char *buf, size_t cap, kw_diag *d);

/* t in presentation form, the data abbreviated past 64 octets
 * ("3 0 0 3082...(1234 octets)"); always NUL-terminated. */
void kw_dane_tlsa_text(const kw_tlsa *t, char *buf, size_t cap);

typedef struct kw_dane_match_res {
    int matched;        /* the record matches chain[at] (and for a TA
                           usage, the leaf chains up to it at now) */
    int at;             /* the matching certificate's index, or -1 */
    char why[300];      /* when not matched: what was held against what */
} kw_dane_match_res;

/* Matches t against chain[0..n) (leaf first, as served) at now.  Fills
 * r; returns 0, or KW_E* for an internal failure (out of memory), d
 * saying so.  A leaf that does not chain to a matching TA is no match,
 * with the verifier's reason in r->why. */
int kw_dane_match(const kw_tlsa *t, X509 *const *chain, size_t n,
                  int64_t now, kw_dane_match_res *r, kw_diag *d);

/* "DANE-EE" etc.; "usage N" for others (buf 16 octets). */
const char *kw_dane_usage_name(int usage, char buf[16]);

#endif
