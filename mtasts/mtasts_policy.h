/*
 * mtasts_policy.h: the three texts MTA-STS is made of, parsed.
 *
 * The `_mta-sts.DOMAIN` TXT record (RFC 8461 section 3.1), the policy
 * file served at https://mta-sts.DOMAIN/.well-known/mta-sts.txt (section
 * 3.2) and the TLS-RPT record at `_smtp._tls.DOMAIN` (RFC 8460 section
 * 3).  Pure computation on bounded inputs: no I/O, no allocation, no
 * global state; the results are the caller's structs.  Every error is
 * KW_EPARSE (or KW_ETOOBIG) with the record, line and field in the
 * kw_diag, in the words senders would act on: a domain whose record does
 * not parse has no policy at all for them.
 */
#ifndef KW_MTASTS_POLICY_H
#define KW_MTASTS_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "../common/kw_err.h"

/* Section 3.2: a policy body is at most 64 KiB. */
#define KW_MTASTS_POLICY_MAX 65536
/* Section 3.2: max_age is at most 31557600 seconds (about a year). */
#define KW_MTASTS_MAX_AGE_MAX 31557600
/* mx: patterns kept; more is an error (no real policy has that many). */
#define KW_MTASTS_MX_MAX 32
/* TLS-RPT reporting URIs kept. */
#define KW_TLSRPT_RUA_MAX 8

typedef enum kw_mtasts_mode {
    KW_MTASTS_NONE = 0,
    KW_MTASTS_TESTING,
    KW_MTASTS_ENFORCE,
} kw_mtasts_mode;

/* The `_mta-sts` record: its id (1 to 32 alphanumerics). */
typedef struct kw_mtasts_txt {
    char id[33];
} kw_mtasts_txt;

/* Parses one TXT record's text (character strings joined). */
int kw_mtasts_txt_parse(const char *txt, size_t len, kw_mtasts_txt *out,
                        kw_diag *d);

/* Section 3.1: of the records at `_mta-sts.DOMAIN` (recs[i], lens[i]),
 * those starting with "v=STSv1;" count, as senders select them; none:
 * KW_ENOTFOUND; two or more, one that does not parse, or one that starts
 * "v=STSv1" without the ";" (valid by the grammar, discarded by
 * senders): KW_EPARSE ("the domain has no valid policy" and which
 * record).  Others (SPF, verification tokens) are ignored. */
int kw_mtasts_txt_select(const char *const *recs, const size_t *lens,
                         size_t n, kw_mtasts_txt *out, kw_diag *d);

typedef struct kw_mtasts_policy {
    kw_mtasts_mode mode;
    int64_t max_age;
    size_t nmx;
    char mx[KW_MTASTS_MX_MAX][254]; /* lower case, "*." kept */
} kw_mtasts_policy;

/* Parses a policy body (LF or CRLF lines, key: value).  version, mode
 * and max_age must each appear once, mx: at least once unless mode is
 * none; unknown keys are ignored (section 3.2's extension rule).  Errors
 * name the line and the field. */
int kw_mtasts_policy_parse(const char *body, size_t len,
                           kw_mtasts_policy *out, kw_diag *d);

/* Section 4.1: does pattern ("mx.example.com" or "*.example.com", the
 * wildcard standing for exactly one leftmost label) match host?  Case
 * blind, a final dot on host ignored.  1 or 0. */
int kw_mtasts_mx_match(const char *pattern, const char *host);

/* Does any of p's mx: patterns match host?  The index of the first that
 * does, or -1. */
int kw_mtasts_policy_covers(const kw_mtasts_policy *p, const char *host);

/* "none", "testing", "enforce". */
const char *kw_mtasts_mode_name(kw_mtasts_mode m);

/* The TLS-RPT record (RFC 8460 section 3): rua= URIs, mailto: or https:,
 * separated by commas. */
typedef struct kw_tlsrpt {
    size_t nrua;
    char rua[KW_TLSRPT_RUA_MAX][320];
} kw_tlsrpt;

int kw_tlsrpt_parse(const char *txt, size_t len, kw_tlsrpt *out,
                    kw_diag *d);

/* As kw_mtasts_txt_select, for records starting with "v=TLSRPTv1;"
 * (RFC 8460 section 3). */
int kw_tlsrpt_select(const char *const *recs, const size_t *lens, size_t n,
                     kw_tlsrpt *out, kw_diag *d);

#endif
