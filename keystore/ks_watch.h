/*
 * ks_watch.h: turn changes of derived health into events.
 *
 * Health is computed on read from an object's facts and the clock, so
 * nothing is written when it changes by itself (a deadline comes
 * closer).  This pass compares each object's health now with the one it
 * last recorded (objects.health_seen) and records:
 *
 *   health.changed  {object, kind, from, to, reason}, when an object seen
 *                   before changes health (a first sighting only records);
 *   cert.expiring   {object, kind, level, days_left, not_after, path},
 *                   once when a certificate's deadline comes within the
 *                   warning threshold (level "warning") and once within
 *                   the critical one ("critical"); a renewal is a new
 *                   object and starts over.
 *
 * Superseded versions and idle trust anchors are left alone, as list
 * hides them.  One transaction.
 */
#ifndef KS_WATCH_H
#define KS_WATCH_H

#include "ks_health.h"
#include "ks_store.h"

#include <stddef.h>
#include <stdint.h>

int ks_watch_health(ks_store *s, int64_t now, const ks_thresholds *t,
                    size_t *nevents, kw_diag *d);

#endif
