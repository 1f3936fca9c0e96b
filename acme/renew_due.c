/*
 * renew_due.c: when a managed certificate is due (see renew_due.h).
 */
#include "renew_due.h"

#include "../common/kw_time.h"
#include "../keystore/ks_jobs.h"

#include <string.h>

int64_t kw_renew_due(int64_t nb, int64_t na)
{
    int64_t life = na - nb;

    if (life <= 0)
        return nb;
    return na - (life <= 10 * KW_DAY ? life / 2 : life / 3);
}

int64_t kw_renew_backoff(int failures, double j)
{
    return ks_jobs_backoff(failures, 5 * KW_MINUTE, KW_DAY, j);
}

int64_t kw_renew_retry_at(acme_fail fail, int failures, int64_t retry_after,
                          int64_t now, double j, int *keep_order)
{
    *keep_order = 0;
    switch (fail) {
    case ACME_FAIL_RATELIMIT:
        return now + (retry_after > 0 ? retry_after : KW_HOUR);
    case ACME_FAIL_PERMANENT:
        return KW_RENEW_BLOCKED;
    case ACME_FAIL_TRANSIENT:
        *keep_order = 1; /* the order may still complete */
        break;
    default:
        break;
    }
    return now + kw_renew_backoff(failures, j);
}

void kw_renew_ari_plan(const acme_ari_result *a, int64_t now, double u,
                       int64_t *renew_at, int64_t *next_check)
{
    *renew_at = 0;
    if (a->ok && a->offered) {
        int64_t ra = a->retry_after > 0 ? a->retry_after : 6 * KW_HOUR;

        /* Ask again when the CA says, within an hour and a day. */
        if (ra < KW_HOUR)
            ra = KW_HOUR;
        if (ra > KW_DAY)
            ra = KW_DAY;
        *next_check = now + ra;
        *renew_at = acme_ari_pick(a->start, a->end, u);
    } else if (a->ok) {
        *next_check = now + KW_DAY; /* no ARI at this CA, for now */
    } else {
        *next_check = now + KW_HOUR;
    }
}

static void verdict(kw_renew_decision *o, kw_renew_verdict v,
                    kw_renew_reason why, int64_t next_at)
{
    o->verdict = v;
    o->reason = why;
    o->next_at = next_at;
}

void kw_renew_decide(const ks_managed *rec, const kw_renew_live *live,
                     int names_changed, int force, int64_t now,
                     kw_renew_decision *o)
{
    kw_renew_reason why = KW_WHY_NEVER_ISSUED;

    memset(o, 0, sizeof(*o));
    if (live->version > 0) {
        int64_t due = kw_renew_due(live->not_before, live->not_after);
        int same = live->cert_id != NULL && rec != NULL &&
                   strcmp(rec->ari_cert_id, live->cert_id) == 0;

        o->due = due;
        o->ari_current = same;
        o->ari_offered = same && rec->ari_offered;
        if (!live->covers_all)
            why = KW_WHY_NAMES;
        else if (force)
            why = KW_WHY_FORCED;
        else if (now >= due)
            why = KW_WHY_LIFETIME;
        else if (same && rec->ari_renew_at > 0 && rec->ari_renew_at <= now)
            why = KW_WHY_ARI;
        else if (live->cert_id != NULL &&
                 (!same || rec->ari_next_check <= now)) {
            /* The CA may want it renewed early (RFC 9773): ask. */
            verdict(o, KW_DUE_ASK_CA, KW_WHY_NONE, 0);
            return;
        } else {
            int64_t next = due;

            o->renew_at = due;
            if (same && rec->ari_renew_at > 0 && rec->ari_renew_at < next) {
                next = o->renew_at = rec->ari_renew_at;
                o->ari_first = 1;
            }
            if (same && rec->ari_next_check > 0 && rec->ari_next_check < next)
                next = rec->ari_next_check;
            verdict(o, KW_DUE_NOT_YET, KW_WHY_NONE, next);
            return;
        }
        /* Issued less than a day ago and already due: the clock or the
         * CA's lifetimes are off.  Renewing again would loop on the CA's
         * rate limits. */
        if (why == KW_WHY_LIFETIME && rec != NULL && rec->last_ok_at > 0 &&
            now >= rec->last_ok_at && now - rec->last_ok_at < KW_DAY) {
            verdict(o, KW_DUE_TOO_SOON, KW_WHY_NONE,
                    rec->last_ok_at + KW_DAY);
            return;
        }
    } else if (force) {
        why = KW_WHY_FORCED;
    }
    /* A failure's backoff holds unless forced or the names changed. */
    if (!force && rec != NULL && rec->failures > 0 &&
        rec->last_error[0] != '\0' && !names_changed) {
        if (rec->retry_at == KW_RENEW_BLOCKED) {
            verdict(o, KW_DUE_BLOCKED, KW_WHY_NONE, 0);
            return;
        }
        if (rec->retry_at > now) {
            verdict(o, KW_DUE_BACKOFF, KW_WHY_NONE, rec->retry_at);
            return;
        }
    }
    verdict(o, KW_DUE_NOW, why, 0);
}
