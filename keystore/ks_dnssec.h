/*
 * ks_dnssec.h: DNSSEC zones and keys in the inventory.
 *
 * Two shapes of object, both of kind 'dnssec'.  A zone keywarden watches
 * is an object named ZONE (its facts in dnssec_zones: the signer, the
 * file and line that name it, and the summary of the latest live check);
 * each key a signer holds for it is an object named ZONE/ROLE/TAG
 * ("example.com/KSK/12345"; facts in dnssec_keys: algorithm, size, flags,
 * the public DNSKEY, the signer's timing data, and the bookkeeping of the
 * dnssec.ds_needed event).  dnssec_findings holds what the latest live
 * check of a zone found, replaced as a whole per check; a finding names
 * the key it concerns by tag (0: the zone).  Health is computed on read
 * (ks_health_dnssec) from the facts, the findings and the clock: a key's
 * stage is derived from its timing, never stored.  No private material
 * reaches the database.  Every function BLOCKS on the database.
 */
#ifndef KS_DNSSEC_H
#define KS_DNSSEC_H

#include "ks_health.h"
#include "ks_store.h"

#include <stddef.h>
#include <stdint.h>

/* One zone as a scan found it; strings borrowed. */
typedef struct ks_dnssec_zone_row {
    const char *zone;    /* lower case, no final dot */
    const char *signer;  /* "knot", "bind", "" (watched only: [zone]) */
    const char *source;  /* "FILE:LINE" that names the zone */
} ks_dnssec_zone_row;

/* One key as its signer's records show it; strings borrowed.  Times are
 * 0 when the signer did not set them (kw_dnssec_key's meaning). */
typedef struct ks_dnssec_key_row {
    const char *zone;
    const char *role;    /* "KSK", "ZSK", "CSK" */
    unsigned tag;
    int algorithm, bits, flags;
    const char *dnskey;  /* DNSKEY RDATA, presentation form */
    int64_t created, publish, activate, inactive, delete_;
    int64_t sync_publish, sync_delete;
    const char *signer;  /* "knot", "bind" */
    const char *source;  /* the .key file, or "knot:ZONE" */
} ks_dnssec_key_row;

typedef struct ks_dnssec_stats {
    size_t zones, keys, added, changed, removed;
    size_t kept; /* not seen, but their signer could not be read */
} ks_dnssec_stats;

/* Make the inventory's dnssec objects exactly these zones and keys: new
 * ones added (first seen now), known ones updated (first seen and the
 * ds_needed bookkeeping kept), the others removed with their findings,
 * except the zones (and their keys) whose signer is in keep_signers (a
 * signer whose configuration or keymgr could not be read this time).
 * One transaction. */
int ks_dnssec_sync(ks_store *s, const ks_dnssec_zone_row *zones, size_t nz,
                   const ks_dnssec_key_row *keys, size_t nk,
                   const char *const *keep_signers, size_t nkeep, int64_t now,
                   ks_dnssec_stats *st, kw_diag *d);

/* A finding of a zone's live check (dnssec_live.h's kw_dnssec_live_find). */
typedef struct ks_dnssec_finding {
    ks_health severity;
    const char *code;    /* "rrsig.expiring", "ds.mismatch", ... */
    const char *text;    /* one line */
    const char *fix;     /* "" or NULL: nothing to do */
    const char *server;  /* NULL or "": every server / the parent side */
    const char *record;  /* "child.test. DNSKEY", ... */
    unsigned tag;        /* the key it concerns, 0: the zone */
} ks_dnssec_finding;

/* The summary of one live check. */
typedef struct ks_dnssec_check {
    int is_signed;       /* some server publishes a DNSKEY set */
    int has_ds;          /* the parent publishes a DS set */
    int64_t next_expiry; /* earliest RRSIG expiration seen, 0: none */
} ks_dnssec_check;

/* Replace every finding of zone by these n (0 clears them) and record c,
 * checked at checked_at.  KW_ENOTFOUND when the zone is not in the
 * inventory.  Its own transaction unless one is open. */
int ks_dnssec_findings_replace(ks_store *s, const char *zone,
                               const ks_dnssec_finding *f, size_t n,
                               const ks_dnssec_check *c, int64_t checked_at,
                               kw_diag *d);

/* A zone in the inventory; strings valid during the callback. */
typedef struct ks_dnssec_zone {
    int64_t id;
    const char *zone, *signer, *source;
    int64_t first_seen;
    int64_t checked_at;  /* 0: never checked */
    int is_signed, has_ds;
    int64_t next_expiry;
} ks_dnssec_zone;

/* Every zone, by name; cb returns non-zero to stop. */
int ks_dnssec_zones_each(ks_store *s,
                         int (*cb)(void *ctx, const ks_dnssec_zone *z),
                         void *ctx, kw_diag *d);

/* A key in the inventory; strings valid during the callback. */
typedef struct ks_dnssec_key {
    int64_t id;
    const char *name, *zone, *role, *dnskey, *signer, *source;
    unsigned tag;
    int algorithm, bits, flags;
    int64_t created, publish, activate, inactive, delete_;
    int64_t sync_publish, sync_delete;
    int64_t first_seen;
    int64_t ds_missing_since; /* a ready KSK/CSK seen without a DS since;
                                 0: it has one, or not yet looked */
    int64_t ds_notified_at;   /* dnssec.ds_needed sent for it; 0: not */
} ks_dnssec_key;

/* The keys of zone (NULL: every zone), by zone, role, tag. */
int ks_dnssec_keys_each(ks_store *s, const char *zone,
                        int (*cb)(void *ctx, const ks_dnssec_key *k),
                        void *ctx, kw_diag *d);

/* The ds_needed bookkeeping of key (zone, tag): since when it has been
 * seen ready without a DS (0 clears it, and clears notified_at with it
 * so a later rollover notifies again), and when the event was sent. */
int ks_dnssec_ds_mark(ks_store *s, const char *zone, unsigned tag,
                      int64_t missing_since, int64_t notified_at,
                      kw_diag *d);

#endif
