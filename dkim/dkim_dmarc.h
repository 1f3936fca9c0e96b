/*
 * dkim_dmarc.h: DMARC records (RFC 7489 section 6.3 and 6.4), the
 * organizational domain of a name (section 3.2) and identifier alignment
 * (section 3.1).
 *
 * kw_dmarc_record_parse reads the text of one TXT record at _dmarc.DOMAIN
 * (character strings concatenated by the caller) into a kw_dmarc_record
 * the caller owns.  What makes receivers discard the record, or what does
 * not follow the grammar, is an error (KW_EPARSE with the tag and the
 * offset in the kw_diag); what receivers apply but weakens the policy or
 * loses reports (p=none, pct below 100, a reporting URI that is not
 * valid) is a warning in the result, with a code and a message.
 *
 * The organizational domain comes from the Public Suffix List through
 * libpsl: the list Debian's publicsuffix package keeps current
 * (/usr/share/publicsuffix), or libpsl's built-in copy when that file is
 * missing.  The list is loaded once per process, on the first call of
 * kw_dmarc_org_domain or kw_dmarc_aligned, which then BLOCKS to read it;
 * every other function is pure computation.  All are thread-safe.
 */
#ifndef KW_DKIM_DMARC_H
#define KW_DKIM_DMARC_H

#include <stddef.h>
#include <stdint.h>

#include "../common/kw_err.h"
#include "dkim_tags.h"

typedef enum kw_dmarc_policy {
    KW_DMARC_POLICY_UNSET = 0, /* the tag is absent (sp=: p applies) */
    KW_DMARC_POLICY_NONE,
    KW_DMARC_POLICY_QUARANTINE,
    KW_DMARC_POLICY_REJECT,
} kw_dmarc_policy;

/* Warning codes (kw_dkim_warning.code). */
enum {
    KW_DMARC_W_P_NONE = 100,  /* p=none: monitoring only */
    KW_DMARC_W_SP_NONE,       /* sp=none under a stricter p= */
    KW_DMARC_W_PCT,           /* pct below 100 */
    KW_DMARC_W_P_FALLBACK,    /* no valid p=; rua= makes receivers use none */
    KW_DMARC_W_P_NOT_SECOND,  /* p= not right after v= (the grammar's order) */
    KW_DMARC_W_NO_RUA,        /* no aggregate reports are asked for */
    KW_DMARC_W_BAD_URI,       /* a rua=/ruf= URI that is not valid */
    KW_DMARC_W_NOT_MAILTO,    /* a URI receivers need not support */
    KW_DMARC_W_MANY_URIS,     /* more URIs than receivers must serve (2) */
};

/* One reporting URI as written, its mailto: address's domain (for the
 * external destination check of RFC 7489 section 7.1), its size limit. */
typedef struct kw_dmarc_uri {
    char uri[320];
    char domain[254];   /* "" when not a mailto: URI */
    uint64_t max_size;  /* bytes from the "!" suffix; 0 = no limit */
} kw_dmarc_uri;

#define KW_DMARC_URI_MAX 8  /* valid URIs kept per tag; more are counted */

/* fo= options (bits). */
enum {
    KW_DMARC_FO_0 = 1, KW_DMARC_FO_1 = 2, KW_DMARC_FO_D = 4, KW_DMARC_FO_S = 8
};

typedef struct kw_dmarc_record {
    kw_dmarc_policy p;   /* what receivers apply (none after the fallback) */
    kw_dmarc_policy sp;  /* UNSET when absent or invalid */
    char adkim, aspf;    /* 'r' (default) or 's' */
    int pct;             /* 0..100, default 100 */
    uint32_t ri;         /* seconds, default 86400 */
    unsigned fo;         /* KW_DMARC_FO_* bits, default KW_DMARC_FO_0 */
    char rf[64];         /* rf= as written, default "afrf" */
    kw_dmarc_uri rua[KW_DMARC_URI_MAX];
    size_t n_rua;        /* valid URIs in rua= (may exceed the kept ones) */
    kw_dmarc_uri ruf[KW_DMARC_URI_MAX];
    size_t n_ruf;
    kw_dkim_warning warn[KW_DKIM_WARN_MAX];
    size_t n_warn;
} kw_dmarc_record;

/* Parse txt (len bytes).  Returns 0 (warnings in out->warn) or KW_EPARSE /
 * KW_ETOOBIG with the tag and offset in d.  out is cleared first. */
int kw_dmarc_record_parse(const char *txt, size_t len, kw_dmarc_record *out,
                          kw_diag *d);

/* 1 when a TXT record at _dmarc.NAME is a DMARC record as receivers
 * select them (RFC 7489 section 6.6.3: it starts with v=DMARC1), valid or
 * not.  Receivers apply no policy when two records do. */
int kw_dmarc_record_is_dmarc(const char *txt, size_t len);

/* "none", "quarantine", "reject" or "unset". */
const char *kw_dmarc_policy_name(kw_dmarc_policy p);

/* The organizational domain of name (a host name, any case, with or
 * without the final dot, IDNs as A-labels) into out (lower case, no final dot): the public
 * suffix plus one label.  A name that is itself a public suffix is its
 * own organizational domain.  Returns 0, KW_EINVAL for a name that is not
 * a host name, KW_ETOOBIG when out is too small (254 bytes always do),
 * KW_ENOMEM when the list cannot be loaded. */
int kw_dmarc_org_domain(const char *name, char *out, size_t cap, kw_diag *d);

/* Is domain a aligned with domain b (RFC 7489 section 3.1)?  mode 's':
 * the same name; 'r': the same organizational domain.  Returns 1, 0, or a
 * negative KW_E* code (a name that is not a host name, a bad mode). */
int kw_dmarc_aligned(const char *a, const char *b, char mode, kw_diag *d);

#endif
