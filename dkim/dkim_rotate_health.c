/*
 * dkim_rotate_health.c: a managed domain's rotation health, from its
 * newest rotation and the clock (dkim_rotate_int.h).
 */
#include "dkim_rotate_int.h"

#include "dkim_check.h"
#include "dkim_key.h"
#include "dkim_signer.h"
#include "dkim_source.h"

#include "../common/kw_fs.h"
#include "../common/kw_log.h"
#include "../common/kw_str.h"
#include "../dns/dns_resolve.h"
#include "../dns/dns_update.h"
#include "../keystore/ks_health.h"
#include "../keystore/ks_keygen.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A DNS wait with no time bound (a server that does not serve what it
 * should) becomes a warning after this long. */
#define STUCK_AFTER 86400
/* Critical this long before the key that signs reaches max_age. */
#define AGE_MARGIN (7 * 86400)

/*
 * A managed domain's health, from its newest rotation r alone:
 *   none yet        OK; the first starts at the next run (next_rotation
 *                   and next_step: now).
 *   finished        REMOVED, REVOKED, ACTIVE replacing no key, ABORTED:
 *                   OK; next_rotation = next_step = started_at + rotate
 *                   (for ABORTED too: an abort postpones the next key by
 *                   one period, `dkim rotate` starts one sooner); with
 *                   zone = a slot wait written on it (wait_until later)
 *                   moves both to that time, its words the reason.
 *   stopped         WARNING naming the stage, the reason, the failures in
 *                   a row and the next retry; next_step = that retry.
 *   stuck           waiting for DNS (PUBLISHED, REMOVING, ABORTING, and
 *                   with zone = GENERATED: the slot's CNAME) with no
 *                   time bound since STUCK_AFTER or longer: WARNING.
 *   waiting, other  OK, the reason saying what for; next_step =
 *                   wait_until, or now when it waits for no time.
 * Stopped, stuck or ABORTED while the old key still signs (every stage
 * before RETIRED, ABORTING, ABORTED) turns CRITICAL when that key nears
 * the end of its life: now >= old_started_at + max_age - AGE_MARGIN when
 * both are known; otherwise, for a stopped or stuck rotation, when it is
 * a whole `rotate` late (now >= started_at + rotate: the next would be
 * due).
 */
void kw_dkim_rot_health_of(const ks_dkim_rot *r, int found,
                           const kw_dkim_rot_params *p, int64_t now,
                           kw_dkim_rot_health *h)
{
    kw_dkim_stage st;
    char at[40], next[40], old[120];
    int stuck, old_signs, late = 0;
    int64_t end = 0;

    memset(h, 0, sizeof(*h));
    h->health = KS_HEALTH_OK;
    if (!found) {
        h->next_rotation = h->next_step = now;
        snprintf(h->reason, sizeof(h->reason), "no rotation yet: the first "
                 "starts at the next run");
        return;
    }
    st = kw_dkim_stage_parse(r->stage);
    h->next_rotation = r->started_at + p->rotate;
    rot_fmt_time(r->since, at, sizeof(at));
    rot_fmt_time(h->next_rotation, next, sizeof(next));
    if (r->old_selector[0] != '\0')
        snprintf(old, sizeof(old), "old selector %s", r->old_selector);
    else
        snprintf(old, sizeof(old), "the key that signed before");
    old_signs = st < KW_DKIM_ST_RETIRED || st == KW_DKIM_ST_ABORTING ||
                st == KW_DKIM_ST_ABORTED;
    if (rot_finished(r)) {
        h->next_step = h->next_rotation;
        if (p->zone != NULL && r->wait_until > h->next_rotation &&
            r->waits_for[0] != '\0') {
            /* No slot free yet (dkim_rotate.c, invariant 7): the next
             * rotation waits, and its words say until when. */
            h->next_rotation = h->next_step = r->wait_until;
            snprintf(h->reason, sizeof(h->reason), "the next rotation "
                     "waits for %.560s", r->waits_for);
        } else if (st == KW_DKIM_ST_ABORTED)
            snprintf(h->reason, sizeof(h->reason), "the rotation to %s was "
                     "aborted at %s; %s keeps signing; the next rotation "
                     "is due %s", r->selector, at, old, next);
    } else if (r->stopped[0] != '\0') {
        rot_fmt_time(r->wait_until, next, sizeof(next));
        h->health = KS_HEALTH_WARNING;
        h->next_step = r->wait_until;
        snprintf(h->reason, sizeof(h->reason), "the rotation to %s stopped "
                 "at %s (since %s): %.300s; %d failed attempt%s, next "
                 "try %s", r->selector, r->stage, at, r->stopped,
                 r->failures, r->failures == 1 ? "" : "s", next);
        snprintf(h->fix, sizeof(h->fix), "fix the cause, then `keywarden "
                 "dkim rotate %.120s` retries now%s", r->domain,
                 st < KW_DKIM_ST_ACTIVE ? "; `keywarden dkim abort` takes "
                 "it back" : "");
        late = 1;
    } else {
        stuck = r->wait_until == 0 && now - r->since >= STUCK_AFTER &&
                (st == KW_DKIM_ST_PUBLISHED || st == KW_DKIM_ST_REMOVING ||
                 st == KW_DKIM_ST_ABORTING ||
                 (st == KW_DKIM_ST_GENERATED && p->zone != NULL));
        h->next_step = r->wait_until > 0 ? r->wait_until : now;
        snprintf(h->reason, sizeof(h->reason), "the rotation to %s is %s "
                 "(since %s)%s%.400s", r->selector, r->stage, at,
                 r->waits_for[0] != '\0' ? ", waiting for " : "",
                 r->waits_for);
        if (stuck) {
            h->health = KS_HEALTH_WARNING;
            snprintf(h->fix, sizeof(h->fix), "%s",
                     st == KW_DKIM_ST_GENERATED
                         ? "add the CNAME it names to the mail domain's "
                           "zone (`keywarden dkim cnames` lists them)"
                         : "make every authoritative server of the zone "
                           "serve what it waits for (a secondary behind "
                           "its primary?)");
            late = 1;
        }
    }
    if (!old_signs)
        return;
    if (p->max_age > 0 && r->old_started_at > 0)
        end = r->old_started_at + p->max_age;
    else if (late)
        end = r->started_at + p->rotate + AGE_MARGIN;
    if (end == 0 || now < end - AGE_MARGIN ||
        (!late && st != KW_DKIM_ST_ABORTED))
        return;
    {
        char why[600];
        size_t len = strlen(h->reason);

        rot_fmt_time(end, at, sizeof(at));
        h->health = KS_HEALTH_CRITICAL;
        snprintf(why, sizeof(why), "%s%s still signs and %s %s",
                 len > 0 ? "; " : "", old,
                 p->max_age > 0 && r->old_started_at > 0
                     ? "reaches max_age at" : "a whole rotation late, since",
                 at);
        snprintf(h->reason + len, sizeof(h->reason) - len, "%s", why);
        if (h->fix[0] == '\0')
            snprintf(h->fix, sizeof(h->fix), "start a rotation: `keywarden "
                     "dkim rotate %s`", r->domain);
    }
}

