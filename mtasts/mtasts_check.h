/*
 * mtasts_check.h: the MTA-STS check of one mail domain.
 *
 * Two halves, as dkim_check.h has them.  The gatherer
 * (kw_mtasts_gather, mtasts_check_run.c) BLOCKS: it asks the resolver for
 * the `_mta-sts` and `_smtp._tls` TXT records and the MX set, fetches the
 * policy with libcurl (bounded in size and time, redirects never
 * followed, the certificate verified), probes the policy host and every
 * MX (probe.h, STARTTLS for SMTP) on a private libuv loop, and verifies
 * each MX's certificate with libcurl's SMTP STARTTLS; not from inside a
 * libuv pool work callback, since the probes' address lookups need the
 * pool (see mtasts.h).  Everything it learns goes into a
 * kw_mtasts_facts, failures included (they are facts the judge turns
 * into findings, not errors).  The judge
 * (kw_mtasts_judge) is pure: facts and the clock in, findings out; unit
 * tests feed it hand-made facts.
 *
 * kw_mtasts_check runs both and keeps, per domain, the policy body's
 * SHA-256 first seen under the current id (keystore/ks_mtasts.h), so a
 * policy edited without a new id is found on the next run.  Nothing here
 * keeps global state; the facts and findings are the caller's structs.
 */
#ifndef KW_MTASTS_CHECK_H
#define KW_MTASTS_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../common/kw_err.h"
#include "../dns/dns_update.h"
#include "../keystore/ks_health.h"
#include "../keystore/ks_store.h"
#include "mtasts_policy.h"

/* Findings kept per domain, the worst first; one slot more holds a
 * findings.dropped warning saying how many more there were. */
#define KW_MTASTS_FINDINGS_MAX 32
/* MX hosts checked per domain. */
#define KW_MTASTS_MXS_MAX 16

/* Thresholds of the policy host's certificate (as certificates have). */
#define KW_MTASTS_CERT_WARN (21 * 86400)
#define KW_MTASTS_CERT_CRIT (7 * 86400)

typedef struct kw_mtasts_find {
    ks_health severity;
    char code[32];      /* "txt.missing", "mx.uncovered", ... */
    char text[700];     /* what is wrong, one line */
    char fix[600];      /* what to do, or "" */
    char host[256];     /* the MX or host concerned, or "" */
} kw_mtasts_find;

typedef struct kw_mtasts_findings {
    size_t n;
    size_t dropped;     /* findings past KW_MTASTS_FINDINGS_MAX not kept */
    kw_mtasts_find f[KW_MTASTS_FINDINGS_MAX + 1];
} kw_mtasts_findings;

/* One MX as gathered. */
typedef struct kw_mtasts_mx {
    char host[254];
    char addr[64];          /* the address probed, or "" */
    int resolved;           /* an address was found */
    char resolve_error[400];
    int probed;             /* a STARTTLS handshake completed */
    char probe_error[512];
    int name_matches;       /* the served leaf covers host */
    int64_t not_after;      /* the served leaf's */
    char subject[256];
    int verified;           /* libcurl verified chain and name */
    char verify_error[400];
} kw_mtasts_mx;

typedef struct kw_mtasts_facts {
    char domain[254];
    int txt_status;             /* 0, KW_ENOTFOUND, KW_EPARSE, other */
    char txt_error[512];
    kw_mtasts_txt txt;

    char url[320];
    int fetched;                /* an HTTP answer came */
    char fetch_error[512];      /* why not (curl's words) */
    long http_code;
    char location[400];         /* a redirect's Location, or "" */
    char content_type[128];
    int policy_status;          /* 0 parsed; else why not in policy_error */
    char policy_error[512];
    kw_mtasts_policy policy;
    char policy_sha256[65];     /* of the body, when fetched with 200 */

    int host_probed;            /* the policy host's TLS handshake */
    char host_probe_error[512];
    int64_t host_not_after;
    char host_subject[256];

    int mx_status;              /* 0, or why the MX set was not had */
    char mx_error[512];
    size_t nmx;
    size_t mx_unchecked;        /* MX hosts beyond KW_MTASTS_MXS_MAX, or
                                 * 1 when the answer was cut short */
    kw_mtasts_mx mx[KW_MTASTS_MXS_MAX];

    int rpt_status;             /* as txt_status */
    char rpt_error[512];
    kw_tlsrpt rpt;

    int seen;                   /* the store knew this domain */
    char seen_id[33];
    char seen_sha256[65];
} kw_mtasts_facts;

/* Judges f into out (cleared first), the worst finding first.  Pure. */
void kw_mtasts_judge(const kw_mtasts_facts *f, int64_t now,
                     kw_mtasts_findings *out);

/* The worst severity of out (ok when empty). */
ks_health kw_mtasts_worst(const kw_mtasts_findings *out);

typedef struct kw_mtasts_opts {
    kw_dns_server resolver;
    const char *cafile;   /* NULL: the system's store */
    int https_port;       /* 0: 443 */
    int smtp_port;        /* 0: 25 */
    int timeout_ms;       /* per network step; <= 0: 10000 */
} kw_mtasts_opts;

/* Gathers domain's facts into f (cleared first).  0, or KW_EINVAL (a
 * name that is not a host name) / KW_ENOMEM with d; network failures are
 * facts.  BLOCKS. */
int kw_mtasts_gather(const kw_mtasts_opts *o, const char *domain,
                     kw_mtasts_facts *f, kw_diag *d);

/* Gathers, reads what s last saw of domain (s may be NULL: no memory),
 * judges, and records the id and the body's hash when the id is new.
 * 0 or KW_E* with d.  BLOCKS. */
int kw_mtasts_check(ks_store *s, const kw_mtasts_opts *o,
                    const char *domain, int64_t now, kw_mtasts_facts *f,
                    kw_mtasts_findings *out, kw_diag *d);

/* {"domain","health","id","url","mode","max_age","mx":[...],
 *  "tlsrpt":[...],"findings":[...]}.  New reference, NULL on ENOMEM. */
json_t *kw_mtasts_json(const kw_mtasts_facts *f,
                       const kw_mtasts_findings *out);

#endif
