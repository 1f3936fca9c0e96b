/*
 * dnssec_knot.h: a Knot DNS zone's DNSSEC keys, from its KASP database.
 *
 * Knot keeps keys and their timing in its KASP (LMDB); keymgr is the one
 * documented way to read it.  kw_dnssec_knot_list runs `keymgr -c CONF
 * ZONE. list -j` (Knot 3.1 and later print JSON) and `keymgr -c CONF ZONE.
 * dnskey ID` for each key, with argv only (kw_proc: no shell), bounded in
 * time and output, and fills kw_dnssec_key entries; it BLOCKS on the
 * children (the daemon runs it on the libuv pool).  The parsers of both
 * outputs are pure and separate, so they can be tested and fuzzed.
 *
 * Knot's timers map onto kw_dnssec_key as follows: publish -> publish;
 * for a KSK or CSK whose ready precedes active (Knot signs with it from
 * ready and waits for the DS at the parent until active) ready -> activate
 * and active -> sync_publish (KW_DNSSEC_PENDING while active is unset:
 * the DS not yet confirmed), so kw_dnssec_key_stage says "ready" between;
 * otherwise active -> activate; retire -> inactive; retire-active (the
 * DS withdrawn in a KSK rollover) -> sync_delete; remove -> delete_.
 * pre-active, post-active (algorithm rollovers) and revoke are not kept.
 * Knot records no creation time: created stays 0.
 */
#ifndef KW_DNSSEC_KNOT_H
#define KW_DNSSEC_KNOT_H

#include "dnssec_key.h"

/* The most keys one zone may list; more is an error, not a truncation. */
#define KW_DNSSEC_KNOT_MAX_KEYS 64

typedef struct kw_dnssec_knot_opts {
    const char *keymgr;   /* program (NULL: "keymgr" from PATH) */
    const char *conf;     /* knot.conf for -c (NULL: keymgr's default) */
    int timeout_ms;       /* per keymgr run (0: 10000) */
} kw_dnssec_knot_opts;

/* Knot's own key id (40 hex digits), beside each key. */
typedef char kw_dnssec_knot_id[64];

/* Parse `keymgr ZONE list -j` output for zone: out[i] and ids[i] for each
 * key (cap entries, *n set), dnskey left empty and tag as Knot says.
 * KW_EPARSE with d naming the line and column of bad JSON, or the key
 * (index, id) and field that is missing or wrong; KW_ETOOBIG past cap. */
int kw_dnssec_knot_parse_list(const char *zone, const char *json, size_t len,
                              kw_dnssec_key *out, kw_dnssec_knot_id *ids,
                              size_t cap, size_t *n, kw_diag *d);

/* Every key of zone in Knot's KASP, with its DNSKEY (from keymgr's
 * dnskey) and the tag computed from it checked against Knot's. */
int kw_dnssec_knot_list(const kw_dnssec_knot_opts *o, const char *zone,
                        kw_dnssec_key *out, size_t cap, size_t *n,
                        kw_diag *d);

#endif
