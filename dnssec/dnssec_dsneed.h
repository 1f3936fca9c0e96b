/*
 * dnssec_dsneed.h: when a KSK waits for a DS that nobody submitted.
 *
 * A KSK (or CSK) rollover stops half way when the new key's DS never
 * reaches the parent: the signer publishes the key and waits, and the old
 * key retires on schedule all the same.  kw_dnssec_dsneed_decide is the
 * pure decision behind the dnssec.ds_needed event and the ds.needed
 * finding: the zone's keys from the inventory with their bookkeeping
 * (ks_dnssec_key's ds_missing_since, ds_notified_at), the live check
 * (dnssec_live.h: which keys the parent's DS names, the DS answer's TTL,
 * CDS/CDNSKEY) and the clock in; per key the bookkeeping to store, whether
 * to emit the event now, and the finding out.  Nothing here blocks,
 * allocates beyond ldns' scratch, or keeps state: the caller stores the
 * bookkeeping (ks_dnssec_ds_mark) and emits the event.
 *
 * A key is watched while it is a KSK or CSK, in the live DNSKEY set, and
 * ready, or active, signing the DNSKEY set, and the only such key with a
 * DS (an outgoing key whose DS was replaced needs none).  Without a DS naming it,
 * it is missing since the first check that saw so; once missing longer
 * than the parent's DS TTL (the negative TTL when there is no DS: what a
 * cache may still hold of the parent's old answer) plus the margin, the
 * finding stands and the event is due once.  A DS that names it clears
 * the bookkeeping, so a later rollover notifies again.  When the parent's
 * DS answer was not read, nothing changes.
 */
#ifndef KW_DNSSEC_DSNEED_H
#define KW_DNSSEC_DSNEED_H

#include <stddef.h>
#include <stdint.h>

#include "../common/kw_err.h"
#include "../keystore/ks_health.h"
#include "dnssec_key.h"
#include "dnssec_live.h"

/* The margin over the DS TTL before the DS counts as not submitted. */
#define KW_DNSSEC_DSNEED_MARGIN 3600

typedef struct kw_dnssec_dsneed_params {
    int64_t margin;  /* over the DS TTL; <= 0: KW_DNSSEC_DSNEED_MARGIN */
    int64_t crit;    /* the old KSK retires sooner: critical; <= 0: 3 d */
} kw_dnssec_dsneed_params;

/* One key of the zone, as the inventory holds it. */
typedef struct kw_dnssec_dsneed_key {
    const kw_dnssec_key *key;
    int64_t missing_since;   /* ks_dnssec_key.ds_missing_since */
    int64_t notified_at;     /* ks_dnssec_key.ds_notified_at */
} kw_dnssec_dsneed_key;

/* What to do for one key. */
typedef struct kw_dnssec_dsneed_out {
    unsigned tag;
    int algorithm;
    int watched;             /* ready/active KSK or CSK in the DNSKEY set */
    int store;               /* the bookkeeping changed: ks_dnssec_ds_mark */
    int64_t missing_since;   /* the bookkeeping to store */
    int64_t notified_at;
    int notify;              /* emit dnssec.ds_needed now (once) */
    int finding;             /* a ds.needed finding stands */
    ks_health severity;      /* the finding's */
    int64_t due;             /* when the DS counts as not submitted
                                (0: not waiting for one) */
    int64_t retire_at;       /* the old KSK's retirement (0: none known) */
    int cds_published;       /* CDS or CDNSKEY name this key */
    char ds[300];            /* "ZONE. IN DS TAG ALG 2 HEX" to submit */
    char record[300];        /* "ZONE. DNSKEY 257 3 ALG (tag TAG)" */
    char text[600];
    char fix[600];
} kw_dnssec_dsneed_out;

/* Decide for keys[0..n) of live->zone at now into out[0..n).  Returns the
 * number of events due (out[i].notify).  Pure. */
size_t kw_dnssec_dsneed_decide(const kw_dnssec_dsneed_key *keys, size_t n,
                               const kw_dnssec_live *live,
                               const kw_dnssec_dsneed_params *p, int64_t now,
                               kw_dnssec_dsneed_out *out);

/* The SHA-256 DS of zone's DNSKEY RDATA (presentation form) as
 * "ZONE. IN DS TAG ALG 2 HEX" into buf.  0, or KW_EPARSE with d saying
 * what is wrong with the record. */
int kw_dnssec_ds_record(const char *zone, const char *dnskey, char *buf,
                        size_t cap, kw_diag *d);

#endif
