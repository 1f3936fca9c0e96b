/*
 * dnssec_scan.c: the parameters of [dnssec] and [zone "NAME"], and the
 * scan that makes the inventory's dnssec objects what the signers hold
 * (dnssec_scan.h).
 */
#include "dnssec_scan.h"

#include "../common/kw_str.h"
#include "../common/kw_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kw_dnssec_params_defaults(kw_dnssec_params *p)
{
    memset(p, 0, sizeof(*p));
    p->interval = KW_HOUR;
    p->warn = 7 * KW_DAY;
    p->crit = 3 * KW_DAY;
}

static void zone_conf_free(kw_dnssec_zone_conf *z)
{
    size_t i;

    free(z->zone);
    for (i = 0; i < z->nservers; i++)
        free(z->servers[i]);
    free(z->servers);
    free(z->ds_server);
}

void kw_dnssec_params_free(kw_dnssec_params *p)
{
    size_t i;

    free(p->named_conf);
    free(p->knot_conf);
    free(p->keymgr);
    free(p->resolver);
    for (i = 0; i < p->nzones; i++)
        zone_conf_free(&p->zones[i]);
    free(p->zones);
    kw_dnssec_params_defaults(p);
}

int kw_dnssec_params_copy(kw_dnssec_params *dst, const kw_dnssec_params *src)
{
    int bad = 0;
    size_t i, j;

    *dst = *src;
    dst->zones = NULL;
    dst->nzones = 0;
    dst->named_conf = kw_strdup_opt(src->named_conf, &bad);
    dst->knot_conf = kw_strdup_opt(src->knot_conf, &bad);
    dst->keymgr = kw_strdup_opt(src->keymgr, &bad);
    dst->resolver = kw_strdup_opt(src->resolver, &bad);
    if (!bad && src->nzones > 0 &&
        (dst->zones = calloc(src->nzones, sizeof(*dst->zones))) == NULL)
        bad = 1;
    for (i = 0; !bad && i < src->nzones; i++, dst->nzones++) {
        const kw_dnssec_zone_conf *s = &src->zones[i];
        kw_dnssec_zone_conf *z = &dst->zones[i];

        z->zone = kw_strdup_opt(s->zone, &bad);
        z->ds_server = kw_strdup_opt(s->ds_server, &bad);
        z->line = s->line;
        if (s->nservers > 0 &&
            (z->servers = calloc(s->nservers + 1, sizeof(char *))) == NULL)
            bad = 1;
        for (j = 0; !bad && j < s->nservers; j++, z->nservers++)
            z->servers[j] = kw_strdup_opt(s->servers[j], &bad);
    }
    if (bad) {
        kw_dnssec_params_free(dst);
        return KW_ENOMEM;
    }
    return 0;
}
