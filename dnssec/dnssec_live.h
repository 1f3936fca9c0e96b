/*
 * dnssec_live.h: a signed zone's live health, seen the way a validating
 * resolver sees it, from every authoritative server and from the parent.
 *
 * Two halves, as in dkim/dkim_check.h.  The gatherer
 * (kw_dnssec_live_gather) asks every authoritative server of the zone (its
 * NS set and their addresses, or the servers given) for SOA, DNSKEY, NS
 * NSEC3PARAM, CDS and CDNSKEY with DO set, and the parent side for the zone's DS, and keeps each
 * answer as received (wire format) in a kw_dnssec_obs.  Each server is
 * also asked a sample of the zone's other RRsets (apex A, AAAA, MX, TXT,
 * judged when they hold data) and a random name under the zone, whose
 * NSEC or NSEC3 denial must be signed and must prove the name absent: a
 * resolver checks all of those on every lookup.  It BLOCKS (every
 * question bounded by timeout_ms): the daemon runs it on the libuv pool.
 * The judge (kw_dnssec_live_judge) is pure: the observations, the
 * thresholds and the clock in, a kw_dnssec_live out: findings each with a
 * severity (ks_health), the server, the record, one line of text and the
 * fix; the chain parent DS -> KSK -> ZSK for display; the earliest RRSIG
 * expiry (when to look again); which keys the CDS/CDNSKEY sets name
 * (RFC 7344/8078) and how long the parent's DS answer may be cached.
 * Unit tests and the fuzz target feed the judge hand-made answers;
 * kw_dnssec_live_run is gather then judge, and kw_dnssec_live_run_many
 * runs it for many zones on a bounded pool of threads.
 *
 * Signatures are verified with ldns against the DNSKEY set the same
 * server publishes, ignoring time (ldns' notime variant): the times are
 * judged here against the clock passed in, so a pinned clock in tests
 * sees what a resolver will see at that moment.  Everything is bounded:
 * KW_DNSSEC_SERVERS_MAX servers, KW_DNSSEC_LIVE_FINDINGS_MAX findings
 * (the rest counted in dropped), KW_DNSSEC_LIVE_KEYS_MAX keys and DS.
 * kw_dnssec_obs owns its answers: free them with kw_dnssec_obs_free.
 */
#ifndef KW_DNSSEC_LIVE_H
#define KW_DNSSEC_LIVE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/kw_err.h"
#include "../dns/dns_update.h"
#include "../keystore/ks_health.h"

#define KW_DNSSEC_SERVERS_MAX 16
#define KW_DNSSEC_LIVE_FINDINGS_MAX 48
#define KW_DNSSEC_LIVE_KEYS_MAX 16
/* The sample's questions per server (kw_dnssec_sample_names). */
#define KW_DNSSEC_SAMPLE_MAX 8

/* The questions asked of each authoritative server. */
typedef enum kw_dnssec_q {
    KW_DNSSEC_Q_SOA = 0,
    KW_DNSSEC_Q_DNSKEY,
    KW_DNSSEC_Q_NS,
    KW_DNSSEC_Q_NSEC3PARAM,
    KW_DNSSEC_Q_CDS,
    KW_DNSSEC_Q_CDNSKEY,
    KW_DNSSEC_Q_N
} kw_dnssec_q;

/* One answer: the wire as received, or why there is none. */
typedef struct kw_dnssec_ans {
    int rc;             /* 0: wire holds the answer; else a KW_E* */
    char err[300];      /* why there is no answer */
    uint8_t *wire;      /* malloc'd, owned by the obs */
    size_t len;
} kw_dnssec_ans;

typedef struct kw_dnssec_obs {
    char zone[256];               /* lower case, no final dot */
    size_t nservers;
    struct {
        char name[80];            /* "127.0.0.1:53" */
        kw_dnssec_ans a[KW_DNSSEC_Q_N];
        kw_dnssec_ans sample[KW_DNSSEC_SAMPLE_MAX]; /* per sample_name */
    } srv[KW_DNSSEC_SERVERS_MAX];
    /* The sample asked of every server: names (no final dot) and types
     * (ldns_rr_type numbers); a name other than the zone is the denial
     * question. */
    size_t nsample;
    char sample_name[KW_DNSSEC_SAMPLE_MAX][256];
    int sample_type[KW_DNSSEC_SAMPLE_MAX];
    char ds_from[80];             /* where the DS was asked */
    kw_dnssec_ans ds;
    char servers_err[300];        /* the NS lookup's complaint, or "" */
} kw_dnssec_obs;

/* Thresholds (0: the defaults, 7 and 3 days). */
typedef struct kw_dnssec_live_params {
    int64_t warn_s;     /* RRSIG expiring sooner: warning */
    int64_t crit_s;     /* RRSIG expiring sooner: critical */
} kw_dnssec_live_params;

typedef struct kw_dnssec_live_find {
    ks_health severity;
    char code[32];      /* "rrsig.expiring", "ds.mismatch", ... */
    char server[80];    /* "" every server, or the parent side */
    char record[300];   /* "child.test. DNSKEY", "child.test. DS 3094 13 2" */
    char text[600];
    char fix[600];
} kw_dnssec_live_find;

/* Fills f: the strings copied (NULL server, record or fix as ""), the
 * text formatted from fmt and ap.  Shared with dane/'s judge, whose
 * findings have the same shape. */
void kw_dnssec_find_vset(kw_dnssec_live_find *f, ks_health sev,
                         const char *code, const char *server,
                         const char *record, const char *fix,
                         const char *fmt, va_list ap)
    __attribute__((format(printf, 7, 0)));

/* A published DNSKEY (the union over the servers). */
typedef struct kw_dnssec_live_key {
    unsigned tag;
    int algorithm;
    int flags;
    int bits;
    int signs_dnskey;   /* a valid RRSIG over DNSKEY made with it */
    int ds_matched;     /* a DS at the parent names it and its digest fits */
    int cds;            /* a CDS names it (digest fits) on every server
                           that publishes CDS (RFC 7344) */
    int cdnskey;        /* a CDNSKEY copies it, likewise */
} kw_dnssec_live_key;

typedef struct kw_dnssec_live_ds {
    unsigned tag;
    int algorithm;
    int digest_type;
    int matched;        /* its digest matches a published DNSKEY */
} kw_dnssec_live_ds;

typedef struct kw_dnssec_live {
    char zone[256];
    ks_health health;           /* the worst finding's */
    int is_signed;              /* some server publishes a DNSKEY set */
    int has_ds;                 /* the parent publishes a DS set */
    int64_t next_expiry;        /* earliest RRSIG expiration seen (0: none) */
    /* CDS/CDNSKEY (RFC 7344, 8078) as the servers publish them. */
    int cds_published;          /* some server publishes CDS or CDNSKEY */
    int cds_delete;             /* they ask the parent to remove the DS */
    int cds_inconsistent;       /* servers publish different sets */
    /* The parent's DS answer: its TTL, or when there is no DS the
     * negative TTL (RFC 2308: the lower of the SOA's TTL and minimum);
     * how long the parent's old answer may stay in caches.  -1: not
     * known (no answer, or a negative one without a SOA). */
    int64_t ds_ttl;
    size_t nkeys, nds;
    kw_dnssec_live_key keys[KW_DNSSEC_LIVE_KEYS_MAX];
    kw_dnssec_live_ds ds[KW_DNSSEC_LIVE_KEYS_MAX];
    uint32_t serial[KW_DNSSEC_SERVERS_MAX];  /* per obs server (0: none) */
    size_t nfind;
    size_t dropped;
    kw_dnssec_live_find find[KW_DNSSEC_LIVE_FINDINGS_MAX];
} kw_dnssec_live;

/* Where to ask.  resolver: for the NS set and their addresses (RD set),
 * and the DS when ds_server is NULL (RD and CD set, so a broken chain is
 * still shown).  servers/nservers: the authoritative servers when given
 * (the NS lookup is then skipped).  port: the port of NS addresses (0:
 * 53; tests give their own).  ds_server: a parent server asked with RD
 * clear. */
typedef struct kw_dnssec_live_where {
    const kw_dns_server *resolver;
    const kw_dns_server *servers;
    size_t nservers;
    int port;
    const kw_dns_server *ds_server;
    int timeout_ms;     /* per question (<= 0: 3000) */
} kw_dnssec_live_where;

/* Gathers obs (cleared first).  Returns 0 when something was asked; a
 * server that did not answer is recorded in obs, not an error.  KW_EINVAL
 * for bad arguments, or the NS lookup's error when no server was found
 * (d says which). BLOCKS. */
int kw_dnssec_live_gather(const char *zone, const kw_dnssec_live_where *w,
                          kw_dnssec_obs *obs, kw_diag *d);

/* The RR type (ldns_rr_type number) question q asks. */
int kw_dnssec_q_type(kw_dnssec_q q);

/* Sets obs's sample questions for obs->zone: apex A, AAAA, MX, TXT, and
 * A of LABEL.zone (the gatherer picks a random label, "kw-" and 12 hex
 * digits, which no zone holds unless through a wildcard); a zone name too
 * long to take the label goes without it.  Answers untouched. */
void kw_dnssec_sample_names(kw_dnssec_obs *obs, const char *label);

/* Frees the answers in obs (safe on a cleared or freed obs). */
void kw_dnssec_obs_free(kw_dnssec_obs *obs);

/* Judges obs at now into out (cleared first).  Pure; never fails. */
void kw_dnssec_live_judge(const kw_dnssec_obs *obs,
                          const kw_dnssec_live_params *p, int64_t now,
                          kw_dnssec_live *out);

/* Gather, judge, free.  BLOCKS. */
int kw_dnssec_live_run(const char *zone, const kw_dnssec_live_where *w,
                       const kw_dnssec_live_params *p, int64_t now,
                       kw_dnssec_live *out, kw_diag *d);

/* One zone's result in kw_dnssec_live_run_many. */
typedef struct kw_dnssec_live_res {
    int rc;               /* 0: live holds the judgement; else diag says
                           * why the zone was not checked */
    kw_diag diag;
    kw_dnssec_live live;
} kw_dnssec_live_res;

/*
 * Checks zones[0..n) as kw_dnssec_live_run does, each with the same w and
 * p at now, on at most threads threads (<= 0: 16) started and joined
 * here: the call BLOCKS until every zone has its result (each question
 * still bounded by w->timeout_ms), so the daemon runs it on the libuv
 * pool like a single check.  outs (the caller's, n entries) gets zone i's
 * result in outs[i]; a zone whose gather fails keeps its rc and diag there
 * and the others go on.  zones, w and p are only read, by every thread,
 * and must not change during the call; each thread owns one kw_dnssec_obs
 * of its own (heap) and frees it.  Returns 0 once every zone has a result
 * (when no thread can be started the calling thread checks them all),
 * KW_EINVAL for bad arguments.
 */
int kw_dnssec_live_run_many(const char *const *zones, size_t n,
                            const kw_dnssec_live_where *w,
                            const kw_dnssec_live_params *p, int64_t now,
                            int threads, kw_dnssec_live_res *outs,
                            kw_diag *d);

/* "rrsig.expired" etc. are codes; the algorithm's mnemonic for messages
 * ("ECDSAP256SHA256", "ALG200"), buf 16 octets. */
const char *kw_dnssec_alg_name(int alg, char buf[16]);

#endif
