/*
 * ks_health_dnssec.c: the RFC 7583 stage of a DNSSEC key from its timing
 * data, and the health of DNSSEC zones and keys (ks_health.h).  Pure.
 */
#include "ks_health.h"

#include <stdio.h>
#include <string.h>

const char *ks_dnssec_stage_word(int stage)
{
    switch (stage) {
    case KS_DNSSEC_ST_GENERATED: return "generated";
    case KS_DNSSEC_ST_PUBLISHED: return "published";
    case KS_DNSSEC_ST_READY: return "ready";
    case KS_DNSSEC_ST_ACTIVE: return "active";
    case KS_DNSSEC_ST_RETIRED: return "retired";
    case KS_DNSSEC_ST_REMOVED: return "removed";
    }
    return "?";
}

/*
 * The timing data map onto RFC 7583's states as follows (a time of 0 is
 * not set, and a transition that is not set never happens):
 *   removed    from delete_;
 *   retired    from inactive until delete_;
 *   active     from activate, but for a KSK or CSK whose sync_publish (the
 *              time its DS may go to the parent) is later than activate,
 *              only from sync_publish: before it the key signs yet cannot
 *              be trusted through the chain, which is RFC 7583's "ready";
 *   ready      from publish until activate when publish precedes
 *              activate for a KSK/CSK with sync_publish, as above;
 *   published  from publish until it is ready or active;
 *   generated  before publish (or always, when nothing else is set).
 * A ZSK is never "ready" here: RFC 7583 makes it ready once its DNSKEY
 * has propagated (publish + Ipub), and no signer records that moment.
 */
typedef struct stage_edge {
    int64_t at;
    int stage;
} stage_edge;

static size_t stage_edges(const ks_dnssec_timing *k, stage_edge e[5])
{
    size_t n = 0;
    int64_t active = k->activate;

    if (k->publish)
        e[n++] = (stage_edge){ k->publish, KS_DNSSEC_ST_PUBLISHED };
    if (k->ksk && k->sync_publish && k->activate &&
        k->sync_publish > k->activate) {
        e[n++] = (stage_edge){ k->activate, KS_DNSSEC_ST_READY };
        active = k->sync_publish;
    }
    if (active)
        e[n++] = (stage_edge){ active, KS_DNSSEC_ST_ACTIVE };
    if (k->inactive)
        e[n++] = (stage_edge){ k->inactive, KS_DNSSEC_ST_RETIRED };
    if (k->delete_)
        e[n++] = (stage_edge){ k->delete_, KS_DNSSEC_ST_REMOVED };
    return n;
}

/* The latest stage whose edge is at or before now: edges given out of
 * order (activate before publish) never move a key backwards. */
static int stage_at(const stage_edge *e, size_t n, int64_t now)
{
    int cur = KS_DNSSEC_ST_GENERATED;

    for (size_t i = 0; i < n; i++)
        if (e[i].at <= now && e[i].stage > cur)
            cur = e[i].stage;
    return cur;
}

int ks_dnssec_stage(const ks_dnssec_timing *t, int64_t now, int *next,
                    int64_t *next_at)
{
    stage_edge e[5];
    size_t n = stage_edges(t, e);
    int cur = stage_at(e, n, now);
    int64_t nx_at = 0;

    /* The next transition is the earliest edge after now that leads to a
     * later stage; the stage then is what all edges up to it make. */
    for (size_t i = 0; i < n; i++)
        if (e[i].at > now && e[i].stage > cur &&
            (nx_at == 0 || e[i].at < nx_at))
            nx_at = e[i].at;
    if (next)
        *next = nx_at ? stage_at(e, n, nx_at) : 0;
    if (next_at)
        *next_at = nx_at == KS_DNSSEC_PENDING ? 0 : nx_at;
    return cur;
}
