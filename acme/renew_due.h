/*
 * renew_due.h: "is this certificate due?", and when to look again, as
 * pure functions of a managed certificate's record and the clock.
 *
 * The renewal (acme/renew.c) reads the record and the live
 * certificate, asks kw_renew_decide, and does what the decision says; it
 * never decides itself.  Nothing here blocks, allocates, reads a file or
 * the clock: now and every random draw (u, j in [0, 1)) are passed in,
 * so a test walks a certificate's life in microseconds.
 *
 * The rules, in the order they apply (README "When"):
 *   1. never issued, --force, or a live certificate that no longer
 *      covers every configured name (ks_cert_covers): due now;
 *   2. the lifetime rule: due when a third of the lifetime is left (half,
 *      for lifetimes of 10 days or less).  The CA's renewal information
 *      (ARI, RFC 9773) can only bring that time forward: a time picked
 *      in its window that has come makes the certificate due; without a
 *      current answer for the live certificate, ask the CA first.  The
 *      lifetime rule is the floor: whatever the window says, a
 *      certificate is due once it has passed;
 *   3. issued less than a day ago and already due (the clock or the CA's
 *      lifetimes are off): wait until it is a day old, or the renewal
 *      loops against the CA's rate limits;
 *   4. a failure's retry time holds, and a permanent error blocks, while
 *      the configured names are those of the failed attempt (--force
 *      overrides both).
 */
#ifndef KW_RENEW_DUE_H
#define KW_RENEW_DUE_H

#include "acme_ari.h"
#include "acme_client.h"

#include "../keystore/ks_managed.h"

#include <stdint.h>

/* retry_at of a certificate blocked by a permanent error: no retry until
 * the configured names change or an operator forces one. */
#define KW_RENEW_BLOCKED INT64_C(-1)

/* The live certificate, as the renewal read it from live/NAME. */
typedef struct kw_renew_live {
    int version;             /* 0: none is live */
    int64_t not_before, not_after;
    int covers_all;          /* it covers every configured name */
    const char *cert_id;     /* its ARI identifier, or NULL (no AKI) */
} kw_renew_live;

typedef enum kw_renew_verdict {
    KW_DUE_NOW,      /* order now; why in reason */
    KW_DUE_ASK_CA,   /* ask the CA's renewal information, record the
                        answer (kw_renew_ari_plan), then decide again */
    KW_DUE_NOT_YET,  /* good until next_at */
    KW_DUE_TOO_SOON, /* issued less than a day ago and already due */
    KW_DUE_BACKOFF,  /* the last failure's retry time (next_at) holds */
    KW_DUE_BLOCKED,  /* a permanent error: no retry by itself */
} kw_renew_verdict;

typedef enum kw_renew_reason {
    KW_WHY_NONE,
    KW_WHY_NEVER_ISSUED,
    KW_WHY_FORCED,
    KW_WHY_NAMES,     /* the live certificate lacks a configured name */
    KW_WHY_LIFETIME,  /* the lifetime rule's time has come */
    KW_WHY_ARI,       /* the time picked in the CA's window has come */
} kw_renew_reason;

typedef struct kw_renew_decision {
    kw_renew_verdict verdict;
    kw_renew_reason reason;  /* for KW_DUE_NOW */
    int64_t due;             /* the lifetime rule's time; 0 without a
                                live version */
    int64_t next_at;         /* when to look again (NOT_YET, TOO_SOON,
                                BACKOFF); 0 otherwise */
    int64_t renew_at;        /* NOT_YET: the time to show, the window's
                                when it comes before due, else due */
    int ari_current;         /* the record's ARI answer is about the live
                                certificate */
    int ari_offered;         /* ... and the CA offers ARI */
    int ari_first;           /* NOT_YET: renew_at is the window's */
} kw_renew_decision;

/* The verdict for a certificate whose record is rec (NULL when keywarden
 * never worked on it) and whose live certificate is live, at now.
 * names_changed: the configured names differ from those of the last
 * attempt (ks_managed_same_names), which lifts a failure's backoff. */
void kw_renew_decide(const ks_managed *rec, const kw_renew_live *live,
                     int names_changed, int force, int64_t now,
                     kw_renew_decision *out);

/* When a certificate valid from nb to na is due: one third of the
 * lifetime before the end, half for lifetimes of 10 days or less. */
int64_t kw_renew_due(int64_t nb, int64_t na);

/* Backoff after the n-th failure in a row: 5 min doubling to 1 day,
 * plus up to 10% of it by j in [0, 1). */
int64_t kw_renew_backoff(int failures, double j);

/* The retry time of an attempt that failed with fail, the failures-th
 * in a row: rateLimited waits for the CA's retry_after (seconds; an hour
 * when it said none), a permanent error is KW_RENEW_BLOCKED, anything
 * else backs off.  *keep_order: the order may still complete (transient
 * failures), so the next run resumes it. */
int64_t kw_renew_retry_at(acme_fail fail, int failures, int64_t retry_after,
                          int64_t now, double j, int *keep_order);

/* What to record of the CA's renewal information a: the time picked in
 * the window by u (0 when the CA offers none) and when to ask again (the
 * CA's Retry-After within an hour and a day, 6 h without one; a day when
 * the CA has no ARI; an hour after an error). */
void kw_renew_ari_plan(const acme_ari_result *a, int64_t now, double u,
                       int64_t *renew_at, int64_t *next_check);

#endif
