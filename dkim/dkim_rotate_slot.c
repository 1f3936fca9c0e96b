/*
 * dkim_rotate_slot.c: a dedicated zone's fixed selectors (zone =): the
 * slots, their one-time CNAMEs, and which slot a new rotation takes
 * (dkim_rotate.h; the invariant is written above the state machine in
 * dkim_rotate.c, number 7).
 */
#include "dkim_rotate_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

int kw_dkim_slot_cname(const kw_dkim_rot_params *p, int slot, char *owner,
                       size_t ocap, char *target, size_t tcap, kw_diag *d)
{
    char sel[64];
    int rc;

    if (p->zone == NULL)
        return kw_diag_set(d, KW_EINVAL, "[dkim \"%s\"]: no zone =, so no "
                           "CNAMEs", p->domain);
    if (slot < 1 || slot > p->slots)
        return kw_diag_set(d, KW_EINVAL, "[dkim \"%s\"]: slot %d: expected "
                           "1 to %d", p->domain, slot, p->slots);
    if ((rc = kw_dkim_selector_expand_slot(p->selector, 0, slot, sel,
                                           sizeof(sel), d)) != 0)
        return rc;
    if (snprintf(owner, ocap, "%s._domainkey.%s", sel, p->domain) >=
            (int)ocap ||
        snprintf(target, tcap, "%s._domainkey.%s.%s", sel, p->domain,
                 p->zone) >= (int)tcap || strlen(target) > 253)
        return kw_diag_set(d, KW_EINVAL, "[dkim \"%s\"]: %s._domainkey.%s.%s "
                           "is longer than DNS allows (253)", p->domain, sel,
                           p->domain, p->zone);
    return 0;
}

/* How a slot stands among the domain's rotations. */
typedef struct slot_state {
    char sel[64];
    int in_use;      /* a rotation runs into it, or its key signs or
                      * drains */
    int64_t freed;   /* not in use: when its last key's record went
                      * (0: never used) */
    int64_t expect;  /* in use: when it should be freed (0: not known) */
    char what[160];  /* in use: by what */
} slot_state;

static int finished_old_of(const ks_dkim_rot *y)
{
    kw_dkim_stage st = kw_dkim_stage_parse(y->stage);

    return st == KW_DKIM_ST_REMOVED || st == KW_DKIM_ST_REVOKED;
}

static void slot_of(const kw_dkim_rot_params *p, const ks_dkim_rot *v,
                    size_t n, slot_state *s)
{
    const ks_dkim_rot *x = NULL;
    size_t i;

    s->in_use = 0;
    s->freed = 0;
    s->expect = 0;
    s->what[0] = '\0';
    for (i = 0; i < n; i++)
        if (strcasecmp(v[i].selector, s->sel) == 0)
            x = &v[i];
    if (x == NULL)
        return;
    if (kw_dkim_stage_parse(x->stage) == KW_DKIM_ST_ABORTED) {
        /* Its key never signed; the record went at ABORTED. */
        s->freed = x->since;
        return;
    }
    if (!rot_finished(x)) {
        kw_dkim_stage st = kw_dkim_stage_parse(x->stage);

        s->in_use = 1;
        if (st >= KW_DKIM_ST_ACTIVE && st <= KW_DKIM_ST_REMOVING)
            snprintf(s->what, sizeof(s->what), "its key signs");
        else
            snprintf(s->what, sizeof(s->what), "the running rotation into "
                     "it (%s)", x->stage);
        return;
    }
    /* Its key signed: the slot is free once a later rotation replaced
     * it and removed (or revoked) its record. */
    s->in_use = 1;
    snprintf(s->what, sizeof(s->what), "its key signs");
    for (i = (size_t)(x - v) + 1; i < n; i++) {
        const ks_dkim_rot *y = &v[i];

        if (strcasecmp(y->old_selector, s->sel) != 0)
            continue;
        if (finished_old_of(y)) {
            s->in_use = 0;
            s->freed = y->since;
        } else if (kw_dkim_stage_parse(y->stage) == KW_DKIM_ST_RETIRED) {
            s->expect = y->since + p->drain;
            snprintf(s->what, sizeof(s->what), "its record drains after "
                     "the rotation to %.60s", y->selector);
        } else if (kw_dkim_stage_parse(y->stage) != KW_DKIM_ST_ABORTED) {
            snprintf(s->what, sizeof(s->what), "its key signs until the "
                     "rotation to %.60s (%s) retires it", y->selector,
                     y->stage);
        }
    }
}

int kw_dkim_slot_choose(const kw_dkim_rot_params *p, const ks_dkim_rot *v,
                        size_t n, int64_t neg_ttl, int64_t now, char *sel,
                        size_t cap, int64_t *when, char *why, size_t wcap,
                        kw_diag *d)
{
    slot_state s[8];
    int64_t cool = p->ttl + neg_ttl + p->margin, soon = 0;
    int i, best = -1, rc;
    size_t pos = 0;
    char at[40];

    *when = 0;
    why[0] = '\0';
    for (i = 0; i < p->slots && i < 8; i++) {
        if ((rc = kw_dkim_selector_expand_slot(p->selector, now, i + 1,
                                               s[i].sel, sizeof(s[i].sel),
                                               d)) != 0)
            return rc;
        slot_of(p, v, n, &s[i]);
        if (s[i].in_use)
            continue;
        if (s[i].freed == 0 || s[i].freed + cool <= now) {
            if (best < 0 || s[i].freed < s[best].freed)
                best = i;
        } else if (soon == 0 || s[i].freed + cool < soon) {
            soon = s[i].freed + cool;
        }
    }
    if (best >= 0) {
        snprintf(sel, cap, "%s", s[best].sel);
        return 0;
    }
    for (i = 0; i < p->slots && i < 8; i++) {
        int64_t t = s[i].in_use ? (s[i].expect > 0 ? s[i].expect + cool : 0)
                                : s[i].freed + cool;

        if (!s[i].in_use) {
            rot_fmt_time(s[i].freed, at, sizeof(at));
            pos += (size_t)snprintf(why + pos, wcap - pos, "%s%s: record "
                                    "gone since %s", pos ? "; " : "",
                                    s[i].sel, at);
        } else {
            pos += (size_t)snprintf(why + pos, wcap - pos, "%s%s: %s",
                                    pos ? "; " : "", s[i].sel, s[i].what);
        }
        if (pos >= wcap)
            pos = wcap - 1;
        if (t > 0 && (soon == 0 || t < soon))
            soon = t;
    }
    *when = soon;
    rot_fmt_time(soon, at, sizeof(at));
    snprintf(why + pos, wcap - pos, "%s%s (a slot is reused only record "
             "TTL %ds + negative TTL %llds + margin %llds after its old "
             "record went, so no resolver holds the old key for it)",
             soon > 0 ? "; the first slot is free " : "; no slot frees "
             "before a running rotation moves on",
             soon > 0 ? at : "", p->ttl, (long long)neg_ttl,
             (long long)p->margin);
    return 1;
}
