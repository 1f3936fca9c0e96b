/*
 * dnssec_watch.h: one zone of the inventory checked and recorded.
 *
 * What the dnssec-check job (service/job_dnssec.c) and `keywarden dnssec
 * check` without a ZONE both do per zone, so both leave the same store:
 * where to ask (kw_dnssec_watch_where: the zone's [zone] servers and
 * ds_server, else its NS set through [dnssec] resolver, with dns_port),
 * the live check (dnssec_live.h, which the caller runs: one zone after
 * another, or many at once), then kw_dnssec_watch_record: the zone's keys
 * from the inventory through the ds_needed decision (dnssec_dsneed.h),
 * and in one transaction the findings (the live check's and ds.needed),
 * each key's ds_needed bookkeeping, one dnssec.ds_needed event per key
 * that became due (its document: zone, key tag, algorithm, the DS records
 * to submit, whether CDS/CDNSKEY name it), and health.changed when the
 * zone's health moved (keystore/ks_dnssec_seen.h).  kw_dnssec_watch_record
 * BLOCKS on the database; the caller frees nothing (out is plain memory).
 */
#ifndef KW_DNSSEC_WATCH_H
#define KW_DNSSEC_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include "../common/kw_err.h"
#include "../keystore/ks_store.h"
#include "dnssec_dsneed.h"
#include "dnssec_live.h"
#include "dnssec_scan.h"

/* Keys of one zone considered (a rollover has three or four); a zone with
 * more gets a keys.unchecked warning naming how many were left out. */
#define KW_DNSSEC_WATCH_KEYS_MAX 32

/* Where to ask for one zone; w points into the struct itself, so it is
 * not to be copied. */
typedef struct kw_dnssec_where_buf {
    kw_dns_server resolver, ds_server;
    kw_dns_server servers[KW_DNSSEC_SERVERS_MAX];
    kw_dnssec_live_where w;
} kw_dnssec_where_buf;

/* Fill b for zone from p: its [zone] section's servers and ds_server
 * when it has them, p->resolver (else /etc/resolv.conf's first
 * nameserver) for the rest, p->dns_port for the NS addresses.  0, or
 * KW_EPARSE / KW_ENOENT with d naming the address or file at fault, or
 * KW_ETOOBIG when the section lists more than KW_DNSSEC_SERVERS_MAX. */
int kw_dnssec_watch_where(const kw_dnssec_params *p, const char *zone,
                          kw_dnssec_where_buf *b, kw_diag *d);

typedef struct kw_dnssec_watch_out {
    ks_health health;        /* the worst of the live and ds.needed */
    size_t nneed;            /* ds.needed findings recorded */
    size_t nevents;          /* dnssec.ds_needed events recorded */
    int health_changed;      /* a health.changed event was recorded */
    int64_t next_due;        /* earliest time a missing DS becomes due
                                (0: none waits) */
    size_t nkeys;            /* the zone's keys in the inventory that
                                were checked (need[0..nkeys)) */
    size_t nunchecked;       /* keys past KW_DNSSEC_WATCH_KEYS_MAX, not
                                checked: a keys.unchecked warning */
    kw_dnssec_dsneed_out need[KW_DNSSEC_WATCH_KEYS_MAX];
} kw_dnssec_watch_out;

/* Record live (zone's check at now) as described above.  p gives the
 * critical threshold (crit) and may be NULL.  KW_ENOTFOUND when the zone
 * is not in the inventory; otherwise the database's errors, nothing
 * recorded then. */
int kw_dnssec_watch_record(ks_store *s, const kw_dnssec_params *p,
                           const char *zone, const kw_dnssec_live *live,
                           int64_t now, kw_dnssec_watch_out *out,
                           kw_diag *d);

/* The SEP keys (DNSKEY flags with bit 15, 257) of the DNSKEY sets obs
 * holds, the union over its servers, into keys[0..max) as KSKs without
 * timing data (zone, DNSKEY, tag, algorithm, flags, bits; source
 * "live:SERVER").  Returns how many.  Pure. */
size_t kw_dnssec_obs_sep_keys(const kw_dnssec_obs *obs, kw_dnssec_key *keys,
                              size_t max);

/* A keystore key row as dnssec/ keys are (strings copied, truncated to
 * the fields' sizes). */
void kw_dnssec_key_from_row(const ks_dnssec_key *r, kw_dnssec_key *k);

#endif
