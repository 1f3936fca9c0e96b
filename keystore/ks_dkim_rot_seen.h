/*
 * ks_dkim_rot_seen.h: a managed DKIM domain's rotation health, as last
 * seen, turned into health.changed events when it changes.
 *
 * A rotation's health (dkim/dkim_rotate.h's kw_dkim_rot_health_of) is
 * derived on read from its row, its section and the clock, like every
 * object's; it has no object row whose health_seen ks_watch_health could
 * compare, since a managed domain is a configuration section, not an
 * inventory object.  So the health last seen is kept per domain in the
 * meta table ("dkim_rot_health:DOMAIN"), and a change is written with its
 * health.changed event in one transaction: object the domain, kind
 * "dkim" (a hook's `kinds = dkim` takes it), rotation true, the domain,
 * the rotation's selector, from, to and reason, so a hook learns
 * KEYWARDEN_DKIM_DOMAIN and KEYWARDEN_DKIM_SELECTOR.
 * A domain seen for the first time counts as having been ok (nothing of
 * it ran before), so a rotation that stops on its very first run is
 * announced, unlike a newly scanned object (ks_watch_health), whose past
 * is unknown.  BLOCKS on the database (keystore's rules, ks_store.h).
 */
#ifndef KS_DKIM_ROT_SEEN_H
#define KS_DKIM_ROT_SEEN_H

#include "ks_dkim_rot.h"
#include "ks_store.h"

#include <stdint.h>

/* Record health (a ks_health) as domain's rotation health seen at now
 * (selector: its newest rotation's, or NULL); *changed 1 when it
 * differed from the one seen before and the event was written.  Two
 * watchers at once announce a change once.  track (ks_dkim_rot.h): a
 * dual section's Ed25519 track has its own health ("DOMAIN (ed25519)"
 * in the meta key, track "ed25519" in the event); its RSA track keeps
 * the domain's (the key that signed before it was dual). */
int ks_dkim_rot_health_seen(ks_store *s, const char *domain, int track,
                            const char *selector, int health,
                            const char *reason, int64_t now, int *changed,
                            kw_diag *d);

#endif
