/*
 * ks_managed.h: the state of each managed certificate ([certificate
 * "NAME"]) in the database: its live version, its renewal time, the
 * order in flight and what the last attempt did.
 *
 * Each change that matters is recorded together with its event in one
 * transaction: cert.renewed with the switch to a new version,
 * cert.renewal_failed with the failure.
 */
#ifndef KS_MANAGED_H
#define KS_MANAGED_H

#include "ks_store.h"

#include <jansson.h>
#include <stdint.h>

typedef struct ks_managed {
    char name[256];
    int live_version;       /* 0: never issued */
    int64_t not_before, not_after; /* of the live certificate */
    char fingerprint[65];
    int64_t renew_at;       /* 0: unknown */
    char order_url[1024];   /* the order in flight, or "" */
    char step[32];          /* its last saved step, or "" */
    int attempts, failures; /* failures: in a row, since the last success */
    int64_t last_attempt_at, last_ok_at, retry_at;
    char last_error[2048];
    char problem[128];      /* the CA's problem type, or "" */
    /* ARI (RFC 9773), for the certificate ari_cert_id */
    char ari_cert_id[256];
    int ari_offered;        /* the CA lists renewalInfo */
    int64_t ari_start, ari_end, ari_renew_at, ari_next_check;
    char ari_explanation[512];
    /* the last HTTP-01 pre-check: 0 never, else when; ok -1 unknown */
    int64_t precheck_at;
    int precheck_ok;
    char precheck_verdict[1024];
} ks_managed;

/* The row for name; KW_ENOTFOUND when keywarden never worked on it. */
int ks_managed_get(ks_store *s, const char *name, ks_managed *m, kw_diag *d);

/* Every row, by name. */
int ks_managed_each(ks_store *s, int (*cb)(void *ctx, const ks_managed *m),
                    void *ctx, kw_diag *d);

/* *same: the names of the last attempt (ks_managed_attempt) are
 * names_json; 0 when there was none. */
int ks_managed_same_names(ks_store *s, const char *name,
                          const char *names_json, int *same, kw_diag *d);

/* The names a run was about, without counting an attempt: a run the
 * pre-check stopped before its attempt, so that its failure's backoff
 * holds until the names change, as an attempt's would. */
int ks_managed_names(ks_store *s, const char *name, const char *names_json,
                     int64_t now, kw_diag *d);

/* An attempt starts (attempts+1, last_attempt_at = now). */
int ks_managed_attempt(ks_store *s, const char *name, const char *names_json,
                       int64_t now, kw_diag *d);

/* The order in flight reached step (order_url "" clears it). */
int ks_managed_progress(ks_store *s, const char *name, const char *step,
                        const char *order_url, int64_t now, kw_diag *d);

/* A new version is live: row updated, order cleared, failures reset and
 * a cert.renewed event written, in one transaction. */
int ks_managed_renewed(ks_store *s, const char *name, int version,
                       int previous, int64_t not_before, int64_t not_after,
                       const char *fingerprint, const char *dir,
                       int64_t renew_at, int64_t now, kw_diag *d);

/* The attempt failed: failures+1, error kept, retry_at set, the order
 * kept when keep_order (it may still complete), and a
 * cert.renewal_failed event, in one transaction. */
int ks_managed_failed(ks_store *s, const char *name, const char *error,
                      const char *problem, int64_t retry_at, int keep_order,
                      int64_t now, kw_diag *d);

/* An operator switched live back to an older version: row updated and a
 * cert.rolled_back event, in one transaction. */
int ks_managed_rolled_back(ks_store *s, const char *name, int version,
                           int from, int64_t not_before, int64_t not_after,
                           const char *fingerprint, int64_t renew_at,
                           int64_t now, kw_diag *d);

/* An event about a managed certificate or the ACME account (cert.revoked,
 * account.key_changed), with detail (taken over). */
int ks_managed_event(ks_store *s, const char *type, json_t *detail,
                     int64_t now, kw_diag *d);

/* What the CA's renewal information said about cert_id: offered or not,
 * the window, the time picked in it, when to ask again. */
int ks_managed_ari(ks_store *s, const char *name, const char *cert_id,
                   int offered, int64_t start, int64_t end,
                   int64_t renew_at, int64_t next_check,
                   const char *explanation, int64_t now, kw_diag *d);

/* The result of a pre-check; a change from pass to fail (or back) also
 * writes precheck.failed (precheck.recovered), in one transaction. */
int ks_managed_precheck(ks_store *s, const char *name, int ok,
                        const char *verdict, int64_t now, kw_diag *d);

/* The renewal time computed from the live certificate (or ARI). */
int ks_managed_schedule(ks_store *s, const char *name, int64_t renew_at,
                        int64_t now, kw_diag *d);

#endif
