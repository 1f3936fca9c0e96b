/*
 * dkim_record.h: the strict parser of DKIM key records (RFC 6376 section
 * 3.6.1, Ed25519 from RFC 8463), as a TXT record at
 * SELECTOR._domainkey.DOMAIN publishes them.
 *
 * The caller concatenates the TXT record's character strings (RFC 6376
 * section 3.6.2.2) and passes the result; the parser fills a
 * kw_dkim_record the caller owns.  It checks the tag-list syntax
 * (dkim_tags.h), v=DKIM1 first when present, k= (rsa by default, ed25519),
 * h= and s= colon lists, t= flags, and p= as base64 with whitespace
 * folded, decoded into a bounded buffer; an RSA p= must decode as a public
 * key (SubjectPublicKeyInfo or bare RSAPublicKey DER, what verifiers
 * accept) and an Ed25519 p= must be 32 bytes.  Unknown tags, unknown h=
 * algorithms, s= services and t= flags are ignored, as the RFC says.
 *
 * Errors return KW_EPARSE (or KW_ETOOBIG) with the tag and the byte offset
 * in the kw_diag; things receivers accept but the operator should see are
 * warnings in the result.  Pure computation (OpenSSL decodes the RSA key):
 * no I/O, thread-safe.
 */
#ifndef KW_DKIM_RECORD_H
#define KW_DKIM_RECORD_H

#include <stddef.h>

#include "../common/kw_err.h"
#include "dkim_key.h"
#include "dkim_tags.h"

/* Warning codes (kw_dkim_warning.code). */
enum {
    KW_DKIM_W_SHA1_ONLY = 1, /* h= allows only sha1, which RFC 8301 retired */
    KW_DKIM_W_NOT_EMAIL,     /* s= names neither email nor *: not for mail */
};

typedef struct kw_dkim_record {
    int has_v;           /* v=DKIM1 was there (it is optional) */
    kw_dkim_alg k;       /* RSA when k= is absent */
    char k_text[32];     /* k= as written, "" when absent */
    char h[64];          /* h= without whitespace ("" when absent: any);
                            cut with "..." when longer */
    char s[64];          /* s= likewise ("" when absent: "*") */
    int t_y;             /* t=y: testing mode */
    int t_s;             /* t=s: i= must equal d=, no subdomains */
    unsigned char p[KW_DKIM_P_MAX];
    size_t p_len;
    int revoked;         /* p= empty */
    /* Extensions to the agreed interface. */
    int h_sha1, h_sha256; /* what h= allows (both when h= is absent) */
    int bits;            /* RSA modulus bits, 256 for Ed25519, 0 revoked */
    size_t p_off;        /* offset of p='s value in the record */
    kw_dkim_warning warn[KW_DKIM_WARN_MAX];
    size_t n_warn;
} kw_dkim_record;

/* txt: the TXT record's character strings already concatenated, len
 * bytes (no NUL needed).  Returns 0 and fills out; or KW_EPARSE (bad
 * syntax, v= not DKIM1 or not first, unknown k=, no p=, bad base64, a
 * key that does not decode), KW_ETOOBIG (p= longer than KW_DKIM_P_MAX
 * decoded, more than KW_DKIM_TAGS_MAX tags, more than KW_DKIM_TXT_MAX
 * bytes), with the tag and offset in d. out is cleared first. */
int kw_dkim_record_parse(const char *txt, size_t len, kw_dkim_record *out,
                         kw_diag *d);

/* 1 when a TXT record at a selector's name looks like a DKIM key record,
 * valid or not: it starts with v=DKIM1 or has a p= tag.  Two such records
 * at one name is an error (verifiers pick either, or fail). */
int kw_dkim_record_looks_like(const char *txt, size_t len);

#endif
