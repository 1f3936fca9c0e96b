/*
 * dkim_check.h: the DNS check of the inventory's DKIM selectors, and SPF
 * and DMARC of their signing domains.
 *
 * Two halves.  The judge (kw_dkim_judge, kw_dkim_judge_domain) is pure:
 * a selector's facts, its DNS survey (dns/dns_survey.h) and the clock in,
 * findings out, each with a health, a code a program may test, one line
 * of text, the fix (for a record: the exact record to publish) and the
 * server that said so; unit tests feed it hand-made surveys.  The domain
 * judge asks DNS only through a kw_dns_lookup (a table in tests).
 *
 * The runner (kw_dkim_check_run) reads every dkim object of the store,
 * surveys each selector (a few threads at once, each survey bounded in
 * time, so one slow zone never starves the others), walks SPF and reads
 * DMARC once per signing domain, judges, and writes each object's
 * findings with ks_dkim_findings_replace, one transaction per object.
 * SPF and DMARC findings (codes spf.* and dmarc.*) are attached to every
 * signing selector of their domain, so `list` and `check` carry them with
 * one exit code.  The runner BLOCKS on DNS and the database: the daemon
 * runs it on the libuv pool.  The report it returns is the caller's,
 * freed with kw_dkim_report_free; it holds copies, no pointers into the
 * store.  Nothing here keeps global state.
 */
#ifndef KW_DKIM_CHECK_H
#define KW_DKIM_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "../common/kw_err.h"
#include "../dns/dns_lookup.h"
#include "../dns/dns_survey.h"
#include "../keystore/ks_dkim.h"
#include "dkim_key.h"
#include "dkim_source.h"
#include "dkim_spf.h"

/* Findings kept per selector (the worst first when there are more). */
#define KW_DKIM_FINDINGS_MAX 24

/* One finding; the strings are the finding's own. */
typedef struct kw_dkim_find {
    ks_health severity;
    char code[32];      /* "missing", "mismatch", "spf.limit", ... */
    char text[600];     /* what is wrong, one line */
    char fix[1400];     /* what to do; "publish NAME. TXT \"...\"" */
    char server[80];    /* the server that said so; "" the resolver or
                         * every server */
} kw_dkim_find;

typedef struct kw_dkim_findings {
    size_t n;
    size_t dropped;     /* findings beyond KW_DKIM_FINDINGS_MAX */
    /* Last, so a copy may be cut to its n findings. */
    kw_dkim_find f[KW_DKIM_FINDINGS_MAX];
} kw_dkim_findings;

/* Orders findings worst first (then by code). */
void kw_dkim_findings_sort(kw_dkim_findings *f);

/* A selector's facts as the judge needs them (strings borrowed). */
typedef struct kw_dkim_facts {
    const char *domain, *selector;
    const char *role;       /* "signing", "published", "orphan" */
    const char *algorithm;  /* "rsa", "ed25519"; NULL: key not read */
    int bits;
    const char *record;     /* the record to publish; NULL: key not read */
    /* Ed25519 signing keys: 1 when an RSA signing selector of the same
     * domain stands beside it. */
    int rsa_beside;
} kw_dkim_facts;

/* Judges one selector's survey into out (cleared first).  Pure. */
void kw_dkim_judge(const kw_dkim_facts *k, const kw_dns_survey *sv,
                   int64_t now, const kw_dkim_params *p,
                   kw_dkim_findings *out);

/* SPF and DMARC of one signing domain. */
typedef struct kw_dkim_domain {
    char domain[256];
    kw_spf_tree spf;          /* the walk (root NULL when not walked);
                               * its root's problems say when the domain
                               * has no v=spf1 record, or two */
    size_t nout;              /* outbound addresses checked */
    char (*out_ip)[64];
    kw_spf_check *out_check;
    char dmarc_name[300];     /* where the DMARC record was found, or "" */
    char dmarc_text[1024];    /* the record, or "" */
    int dmarc_status;         /* 0, or why it could not be read */
    char dmarc_error[512];
    char dmarc_policy[16];    /* "none", "quarantine", "reject", "" */
    kw_dkim_findings findings; /* codes spf.* and dmarc.* */
} kw_dkim_domain;

/* Walks SPF, checks each outbound address (outbound[0..nout)), reads
 * DMARC (at _dmarc.DOMAIN, else at the organizational domain) and judges
 * them into out (cleared first; free with kw_dkim_domain_clear).  0 or
 * KW_ENOMEM / KW_EINVAL; DNS failures are findings, not errors.  BLOCKS
 * with a production lookup. */
int kw_dkim_judge_domain(const kw_dns_lookup *lookup, const char *domain,
                         const char *const *outbound, size_t nout,
                         kw_dkim_domain *out, kw_diag *d);

void kw_dkim_domain_clear(kw_dkim_domain *dom);

/* ----- the runner ----- */

/* [dkim] resolver: what kw_dns_server_parse reads, or ADDRESS@PORT.  0 or
 * KW_EINVAL with d. */
int kw_dkim_resolver_parse(const char *v, kw_dns_server *out, kw_diag *d);

typedef struct kw_dkim_report kw_dkim_report; /* opaque */

/* BLOCKS (pool).  Checks every dkim object in the store (domains NULL/0:
 * all; else only those signing domains), writes each object's findings
 * with ks_dkim_findings_replace (its own transaction per object), and
 * returns the report.  0 or KW_E* with d. */
int kw_dkim_check_run(ks_store *s, const kw_dkim_params *p,
                      const char *const *domains, size_t ndomains,
                      int64_t now, kw_dkim_report **out, kw_diag *d);

/* The report as JSON: {"checked_at","health","selectors":[...],
 * "domains":[...]}.  New reference. */
json_t *kw_dkim_report_json(const kw_dkim_report *r);

/* What `keywarden dkim check` prints.  0 or KW_EIO. */
int kw_dkim_report_text(const kw_dkim_report *r, FILE *f);

/* How many selectors and signing domains were checked, and the worst
 * health among them (by ks_health_rank). */
void kw_dkim_report_summary(const kw_dkim_report *r, size_t *selectors,
                            size_t *domains, ks_health *worst);

/* How many selectors had a DNS or SPF/DMARC finding that is unknown (a
 * server that did not answer, a TempError), whatever their worst health:
 * a critical elsewhere must not hide that something was not heard. */
size_t kw_dkim_report_unknown(const kw_dkim_report *r);

void kw_dkim_report_free(kw_dkim_report *r);

#endif
