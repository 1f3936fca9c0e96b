/*
 * ks_health.h: health verdicts, a pure function of an object's facts and
 * the clock.
 *
 * Nothing here reads the database, the file system or the time: the
 * caller passes the record and `now`, so a test can walk a certificate's
 * whole life in microseconds, and `list`, `check` and (later) /metrics
 * agree because they all call this.
 */
#ifndef KS_HEALTH_H
#define KS_HEALTH_H

#include <stddef.h>
#include <stdint.h>

/* Values follow the monitoring-plugin exit codes. */
typedef enum ks_health {
    KS_HEALTH_OK = 0,
    KS_HEALTH_WARNING = 1,
    KS_HEALTH_CRITICAL = 2,
    KS_HEALTH_UNKNOWN = 3,
} ks_health;

const char *ks_health_word(ks_health h); /* "ok", "warning", ... */
int ks_health_parse(const char *s);      /* -1 if not a health word */

/* Severity order for "this bad or worse": ok < warning < unknown <
 * critical.  (Unknown outranks warning: something is broken and we cannot
 * even tell how badly.) */
int ks_health_rank(ks_health h);

typedef struct ks_thresholds {
    int64_t warn; /* seconds before the deadline that warn; default 21d */
    int64_t crit; /* ... that are critical; default 7d */
} ks_thresholds;

void ks_thresholds_default(ks_thresholds *t);

#define KS_MAX_FINDINGS 8

/* A finding of a DKIM selector's latest DNS check, as health reads it. */
typedef struct ks_dkim_found {
    ks_health health;
    const char *text, *fix, *server;
} ks_dkim_found;

/* A finding of a live check of an object (ks_check.h), as health reads
 * it. */
typedef struct ks_check_found {
    ks_health health;
    const char *checker, *text, *fix;
} ks_check_found;

/* The RFC 7583 stage of a DNSSEC key (ks_dnssec.h) from its signer's
 * timing data, here so that health and the listing derive it without
 * reaching up into dnssec/ (whose kw_dnssec_key_stage calls this; the
 * numbers are kw_dnssec_stage's). */
enum {
    KS_DNSSEC_ST_GENERATED = 1,
    KS_DNSSEC_ST_PUBLISHED,
    KS_DNSSEC_ST_READY,
    KS_DNSSEC_ST_ACTIVE,
    KS_DNSSEC_ST_RETIRED,
    KS_DNSSEC_ST_REMOVED
};

/* A time a key waits for with no date yet (KW_DNSSEC_PENDING). */
#define KS_DNSSEC_PENDING INT64_MAX

typedef struct ks_dnssec_timing {
    int ksk; /* a KSK or CSK (the only keys that can be "ready") */
    int64_t publish, activate, inactive, delete_, sync_publish; /* 0: unset */
} ks_dnssec_timing;

/* The stage at now, and the next transition (*next 0: none); a
 * transition at KS_DNSSEC_PENDING sets *next with *next_at 0.  Pure;
 * next and next_at may be NULL. */
int ks_dnssec_stage(const ks_dnssec_timing *t, int64_t now, int *next,
                    int64_t *next_at);

/* "generated" ... "removed"; "?" out of range.  Never NULL. */
const char *ks_dnssec_stage_word(int stage);

/* A DNSSEC algorithm's mnemonic ("ECDSAP256SHA256"), or "ALG<n>" in buf;
 * RFC 8624 section 3.1's MUST NOT sign (1, 3, 5, 6, 7, 12); RSA. */
const char *ks_dnssec_alg_word(int alg, char buf[16]);
int ks_dnssec_alg_deprecated(int alg);
int ks_dnssec_alg_rsa(int alg);

/* A finding of a DNSSEC zone's latest live check, as health reads it
 * (a key's are its zone's whose tag is the key's). */
typedef struct ks_dnssec_found {
    ks_health health;
    const char *code, *text, *fix, *server, *record;
    unsigned tag;
} ks_dnssec_found;

/* The facts of a TLS object, as the inventory records them. */
typedef struct ks_tls_facts {
    const char *state;        /* "ok", "missing", "unreadable" */
    const char *error;        /* why unreadable */
    const char *source;
    int64_t updated_at;       /* when the state last changed */
    int has_validity;
    int64_t not_before;       /* of the leaf */
    int64_t not_after;        /* of the leaf */
    int64_t deadline;         /* earliest not_after in the chain */
    int is_ca;
    const char *weak_name;    /* chain element expiring before the leaf */
    int64_t weak_not_after;
    const char *arrangement;  /* "single", "chain", "unordered", "bundle" */
    const char *key_state;    /* NULL, "match", "mismatch", "encrypted",
                                 "unreadable" */
    const char *key_path;
    int key_mode;             /* permission bits of the key file */
    int64_t superseded_by;    /* id of the newer version, or 0 */
    int idle_anchor;          /* a root that anchors nothing we watch */
    /* Endpoints: what a probe found (the chain facts above are the
     * served chain's). */
    int is_endpoint;
    int probe_ok;             /* -1: not probed yet */
    const char *probe_error;
    const char *tls_version;
    int name_matches;         /* -1: unknown */
    const char *endpoint_host;
    int endpoint_port;
    int64_t probed_at;
    const char *stale_source; /* a newer certificate for the same names on
                                 disk: the server was not reloaded */
    int64_t stale_not_after;
    /* The latest live checks of the endpoint (ks_check.h: the DANE
     * check), their findings as health reads them; check_at 0: never
     * checked. */
    int64_t check_at;
    int is_checked;           /* an object that is only a check's (kind
                                 mta-sts: a mail domain) */
    size_t check_nfound;
    ks_check_found check_found[KS_MAX_FINDINGS];
    /* A daemon's configuration that names the object's file, as "dovecot:
     * FILE line N (ssl_cert)": read for objects whose state is not ok (a
     * file a daemon loads that is missing or broken stops the daemon);
     * NULL when none does. */
    const char *used_by;
    /* DKIM selectors (kind dkim, ks_dkim.h): the key file's facts
     * (key_path and key_mode above), and the latest DNS check's
     * findings. */
    int is_dkim;
    const char *dkim_domain, *dkim_selector;
    const char *dkim_source;  /* "FILE:LINE" that names the key */
    const char *dkim_record;  /* the TXT record to publish, or NULL */
    int64_t dkim_first_seen;
    const char *dkim_role;    /* "signing", "published", "orphan" */
    const char *dkim_signer;
    const char *dkim_user;    /* the signer's user, or NULL */
    int dkim_reads;           /* it may read the key: 1, 0, -1 unknown */
    const char *dkim_alg;     /* "rsa", "ed25519", NULL */
    int dkim_bits;
    int64_t dkim_key_time;    /* the key file's mtime; 0 unknown */
    int64_t dkim_max_age;     /* seconds; 0: no age check */
    size_t dkim_nfound;
    ks_dkim_found dkim_found[KS_MAX_FINDINGS];
    /* DNSSEC zones and keys (kind dnssec, ks_dnssec.h): is_dnssec 1 for
     * a zone, 2 for a key.  Both: the zone, signer ("" watched only),
     * "FILE:LINE" or key file that names it, first seen, and the zone's
     * latest live check (checked_at 0: never) with its findings (a
     * key's: those that name its tag). */
    int is_dnssec;
    const char *dnssec_zone, *dnssec_signer, *dnssec_source;
    int64_t dnssec_first_seen;
    int64_t dnssec_checked_at;
    int dnssec_signed, dnssec_has_ds;
    int64_t dnssec_next_expiry;  /* earliest RRSIG expiration, 0: none */
    /* A key's: its role ("KSK", "ZSK", "CSK"), tag, DNSKEY, algorithm
     * number, size, flags, the signer's timing data (0: unset) and the
     * ds_needed bookkeeping. */
    const char *dnssec_role, *dnssec_dnskey;
    unsigned dnssec_tag;
    int dnssec_alg, dnssec_bits, dnssec_flags;
    ks_dnssec_timing dnssec_timing;
    int64_t dnssec_created, dnssec_sync_delete;
    int64_t dnssec_ds_missing_since, dnssec_ds_notified_at;
    size_t dnssec_nfound;
    ks_dnssec_found dnssec_found[KS_MAX_FINDINGS];
} ks_tls_facts;

/* How an unreadable object's error starts when the file could not be
 * opened (permissions, as this user): the daemon, as another user, may
 * still read it, so that alone is unknown, not critical. */
#define KS_ERR_CANNOT_OPEN "cannot open: "

typedef struct ks_finding {
    ks_health health;
    char text[256]; /* what is wrong, one line */
    /* What to do about it, or "".  A DKIM finding's fix is the exact
     * record to publish (an RSA 4096-bit key's at a 253-octet name is
     * about 1,030 bytes): cut, it would be a broken record to paste. */
    char fix[1400];
    /* The text ends with the fix already ("DANE: TEXT; FIX", so check's
     * one line carries it): show prints it once. */
    int fix_in_text;
} ks_finding;

typedef struct ks_verdict {
    ks_health health;      /* the worst finding, by rank */
    /* Text of the worst finding, or "".  A copy, not a pointer into
     * findings, so a ks_verdict can be copied by value. */
    char reason[256];
    size_t nfindings;
    ks_finding findings[KS_MAX_FINDINGS];
} ks_verdict;

/* The verdict of any object: DKIM selectors (f->is_dkim) are handed to
 * ks_health_dkim and DNSSEC zones and keys (f->is_dnssec) to
 * ks_health_dnssec, so every caller treats every kind alike. */
void ks_health_tls(const ks_tls_facts *f, int64_t now,
                   const ks_thresholds *t, ks_verdict *out);

/* A DKIM selector's verdict: the worst of its local facts and of its
 * latest DNS findings.  Key file readable by others: critical; not
 * readable by the signer's user: critical; RSA under 1024 bits:
 * critical, 1024: warning; older than max_age: warning (these three for
 * signing and published keys); the key file missing or unreadable:
 * critical for a signing key (the signer cannot sign), warning
 * otherwise, unknown when only we may not open it. */
void ks_health_dkim(const ks_tls_facts *f, int64_t now, ks_verdict *out);


/* A DNSSEC zone's or key's verdict (ks_health_dnssec.c has the rules):
 * a key: its findings, a KSK/CSK without its DS at the parent, an
 * algorithm RFC 8624 deprecates or RSA under 2048 bits, a removal its
 * signer has not carried out; a zone: its latest check's findings, or
 * unknown when it was never checked. */
void ks_health_dnssec(const ks_tls_facts *f, int64_t now, ks_verdict *out);

/* For the health rules of other files (ks_health_dnssec.c): add one
 * finding (text from fmt) to v, and set v's health and reason
 * from its findings. */
void ks_verdict_add(ks_verdict *v, ks_health h, const char *fix,
                    const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void ks_verdict_finish(ks_verdict *v);

#endif
