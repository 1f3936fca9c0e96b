/*
 * ks_dnssec_seen.h: a DNSSEC zone's health as its latest live check saw
 * it, and the health.changed event when that moves, as
 * ks_dkim_rot_seen.h does for DKIM rotations.  The health kept is the
 * worst of the zone's findings (the live check's and ds.needed), in the
 * meta table under "dnssec_health:ZONE"; a zone never checked counts as
 * ok, so a first check that finds it broken is an event.  BLOCKS on the
 * database.
 */
#ifndef KS_DNSSEC_SEEN_H
#define KS_DNSSEC_SEEN_H

#include "ks_store.h"

#include <stdint.h>

/* Record health (a ks_health) for zone, whose object is object_id; when
 * it differs from the health recorded before, a health.changed event
 * (object, kind "dnssec", zone, from, to, reason) and *changed = 1.  One
 * transaction, its own unless one is open. */
int ks_dnssec_health_seen(ks_store *s, const char *zone, int64_t object_id,
                          int health, const char *reason, int64_t now,
                          int *changed, kw_diag *d);

#endif
