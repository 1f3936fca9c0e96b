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
 * health.changed event in one transaction: kind "dkim-rotation", the
 * domain, from, to and reason, so a hook learns KEYWARDEN_DKIM_DOMAIN.
 * A first sighting only records, as ks_watch_health does.  BLOCKS on the
 * database (keystore's rules, ks_store.h).
 */
#ifndef KS_DKIM_ROT_SEEN_H
#define KS_DKIM_ROT_SEEN_H

#include "ks_store.h"

#include <stdint.h>

/* Record health (a ks_health) as domain's rotation health seen at now;
 * *changed 1 when it differed from the one seen before and the event
 * was written.  Two watchers at once announce a change once. */
int ks_dkim_rot_health_seen(ks_store *s, const char *domain, int health,
                            const char *reason, int64_t now, int *changed,
                            kw_diag *d);

#endif
