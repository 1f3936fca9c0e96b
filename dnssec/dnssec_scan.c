/*
 * dnssec_scan.c: the parameters of [dnssec] and [zone "NAME"], and the
 * scan that makes the inventory's dnssec objects what the signers hold
 * (dnssec_scan.h).
 */
#include "dnssec_scan.h"

#include "dnssec_bind.h"
#include "dnssec_conf.h"
#include "dnssec_knot.h"

#include "../common/kw_str.h"
#include "../common/kw_time.h"
#include "../common/kw_vec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

void kw_dnssec_scan_result_free(kw_dnssec_scan_result *res)
{
    kw_strv_free(res->notes, res->nnotes);
    kw_strv_free(res->watch, res->nwatch);
    memset(res, 0, sizeof(*res));
}

static int pushf(char ***arr, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int pushf(char ***arr, size_t *n, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return kw_strv_push(arr, n, buf);
}

/* What one scan gathers before the sync: zones, keys (kw_dnssec_key
 * copies, whose strings the rows borrow), the signers to keep. */
typedef struct gather {
    ks_dnssec_zone_row *zones;
    size_t nzones, cap_zones;
    kw_dnssec_key *keys;
    size_t nkeys, cap_keys;
    const char *keep[2];
    size_t nkeep;
    kw_dnssec_scan_result *res;
} gather;

static int has_zone(const gather *g, const char *zone)
{
    size_t i;

    for (i = 0; i < g->nzones; i++)
        if (strcmp(g->zones[i].zone, zone) == 0)
            return 1;
    return 0;
}

static int add_zone_row(gather *g, const char *zone, const char *signer,
                        const char *source)
{
    ks_dnssec_zone_row *z = kw_vec_grow(g->zones, &g->cap_zones,
                                        g->nzones + 1, sizeof(*z));

    if (z == NULL)
        return KW_ENOMEM;
    g->zones = z;
    g->zones[g->nzones++] = (ks_dnssec_zone_row){ zone, signer, source };
    return 0;
}

static int add_keys(gather *g, const kw_dnssec_key *k, size_t n)
{
    kw_dnssec_key *nk = kw_vec_grow(g->keys, &g->cap_keys, g->nkeys + n,
                                    sizeof(*nk));

    if (nk == NULL)
        return KW_ENOMEM;
    g->keys = nk;
    memcpy(&g->keys[g->nkeys], k, n * sizeof(*k));
    g->nkeys += n;
    return 0;
}

static void keep(gather *g, const char *signer)
{
    size_t i;

    for (i = 0; i < g->nkeep; i++)
        if (strcmp(g->keep[i], signer) == 0)
            return;
    g->keep[g->nkeep++] = signer;
}

/* The configuration file of a signer: p's, or with discover the Debian
 * default when it exists; NULL: none to read. */
static const char *conf_path(const char *set, const char *def, int discover)
{
    if (set != NULL)
        return set;
    return discover && access(def, F_OK) == 0 ? def : NULL;
}

static int conf_notes(gather *g, kw_dnssec_conf *c, const char *signer)
{
    size_t i;
    int r = 0;

    for (i = 0; r == 0 && i < c->nnotes; i++)
        r = pushf(&g->res->notes, &g->res->nnotes, "%s: %s", signer,
                  c->notes[i]);
    for (i = 0; r == 0 && i < c->nfiles; i++)
        r = kw_strv_push(&g->res->watch, &g->res->nwatch, c->files[i]);
    if (c->unreadable)
        keep(g, signer);
    return r;
}

/* A zone signer's configuration declares: 0 added, 1 when another
 * signer has it already (a note), KW_ENOMEM. */
static int take_zone(gather *g, const kw_dnssec_conf_zone *z,
                     const char *signer)
{
    if (has_zone(g, z->zone))
        return pushf(&g->res->notes, &g->res->nnotes, "%s: %s: zone %s is "
                     "read from another signer already", signer, z->source,
                     z->zone) != 0 ? KW_ENOMEM : 1;
    return add_zone_row(g, z->zone, signer, z->source);
}

/* The zone's keys could not be read (why in d): a note, and the
 * signer's objects kept as they were. */
static int zone_failed(gather *g, const kw_dnssec_conf_zone *z,
                       const char *signer, const kw_diag *d)
{
    keep(g, signer);
    return pushf(&g->res->notes, &g->res->nnotes, "%s: %s: zone %s: %s",
                 signer, z->source, z->zone, d->msg);
}

static int scan_bind(gather *g, const char *path, kw_dnssec_conf *c)
{
    kw_dnssec_bind_key *bk;
    kw_dnssec_key *k;
    size_t i, j, n;
    int r;

    if ((r = kw_dnssec_conf_read_named(path, c)) != 0 ||
        (r = conf_notes(g, c, "bind")) != 0)
        return r;
    bk = calloc(KW_DNSSEC_KNOT_MAX_KEYS, sizeof(*bk));
    k = calloc(KW_DNSSEC_KNOT_MAX_KEYS, sizeof(*k));
    if (bk == NULL || k == NULL)
        r = KW_ENOMEM;
    for (i = 0; r == 0 && i < c->nzones; i++) {
        const kw_dnssec_conf_zone *z = &c->zones[i];
        kw_diag d;

        /* 1: another signer's already, noted; the next zone. */
        if ((r = take_zone(g, z, "bind")) != 0) {
            r = r == 1 ? 0 : r;
            continue;
        }
        r = kw_strv_push(&g->res->watch, &g->res->nwatch, z->key_dir);
        if (r != 0)
            break;
        if (access(z->key_dir, F_OK) != 0) {
            kw_diag_set(&d, KW_ENOENT, "its key directory %s does not exist",
                        z->key_dir);
            r = zone_failed(g, z, "bind", &d);
            continue;
        }
        if (kw_dnssec_bind_read_dir(z->key_dir, z->zone, bk,
                                    KW_DNSSEC_KNOT_MAX_KEYS, &n, &d) != 0) {
            r = zone_failed(g, z, "bind", &d);
            continue;
        }
        for (j = 0; j < n; j++)
            k[j] = bk[j].key;
        r = add_keys(g, k, n);
    }
    free(bk);
    free(k);
    return r;
}

static int scan_knot(gather *g, const char *path, const char *keymgr,
                     kw_dnssec_conf *c)
{
    kw_dnssec_knot_opts o = { keymgr, path, 0 };
    kw_dnssec_key *k;
    size_t i, n;
    int r;

    if ((r = kw_dnssec_conf_read_knot(path, c)) != 0 ||
        (r = conf_notes(g, c, "knot")) != 0)
        return r;
    if ((k = calloc(KW_DNSSEC_KNOT_MAX_KEYS, sizeof(*k))) == NULL)
        return KW_ENOMEM;
    for (i = 0; r == 0 && i < c->nzones; i++) {
        const kw_dnssec_conf_zone *z = &c->zones[i];
        kw_diag d;

        /* 1: another signer's already, noted; the next zone. */
        if ((r = take_zone(g, z, "knot")) != 0) {
            r = r == 1 ? 0 : r;
            continue;
        }
        if (kw_dnssec_knot_list(&o, z->zone, k, KW_DNSSEC_KNOT_MAX_KEYS, &n,
                                &d) != 0) {
            r = zone_failed(g, z, "knot", &d);
            continue;
        }
        r = add_keys(g, k, n);
    }
    free(k);
    return r;
}

static void role_upper(kw_dnssec_role r, char out[4])
{
    const char *w = kw_dnssec_role_name(r);
    size_t i;

    for (i = 0; i < 3 && w[i] != '\0'; i++)
        out[i] = (char)(w[i] >= 'a' && w[i] <= 'z' ? w[i] - 32 : w[i]);
    out[i] = '\0';
}

int kw_dnssec_scan(ks_store *s, const kw_dnssec_params *p, int discover,
                   int64_t now, kw_dnssec_scan_result *res, kw_diag *d)
{
    kw_dnssec_conf named, knot;
    const char *named_path, *knot_path;
    char (*roles)[4] = NULL, (*sources)[1100] = NULL;
    ks_dnssec_key_row *rows = NULL;
    gather g;
    size_t i;
    int r = 0;

    memset(res, 0, sizeof(*res));
    memset(&g, 0, sizeof(g));
    memset(&named, 0, sizeof(named));
    memset(&knot, 0, sizeof(knot));
    g.res = res;
    named_path = conf_path(p->named_conf, KW_DNSSEC_NAMED_CONF, discover);
    knot_path = conf_path(p->knot_conf, KW_DNSSEC_KNOT_CONF, discover);
    if (named_path != NULL)
        r = scan_bind(&g, named_path, &named);
    if (r == 0 && knot_path != NULL)
        r = scan_knot(&g, knot_path, p->keymgr, &knot);
    /* [zone] sections: the zones watched from outside; one a signer here
     * holds keeps its signer's row. */
    if (r == 0 && p->nzones > 0 &&
        (sources = calloc(p->nzones, sizeof(*sources))) == NULL)
        r = KW_ENOMEM;
    for (i = 0; r == 0 && i < p->nzones; i++) {
        if (has_zone(&g, p->zones[i].zone))
            continue;
        snprintf(sources[i], sizeof(sources[i]), "%s:%d",
                 p->config_file != NULL ? p->config_file : "keywarden.conf",
                 p->zones[i].line);
        r = add_zone_row(&g, p->zones[i].zone, "", sources[i]);
    }
    if (r == 0 && g.nkeys > 0 &&
        ((rows = calloc(g.nkeys, sizeof(*rows))) == NULL ||
         (roles = calloc(g.nkeys, sizeof(*roles))) == NULL))
        r = KW_ENOMEM;
    for (i = 0; r == 0 && i < g.nkeys; i++) {
        const kw_dnssec_key *k = &g.keys[i];

        role_upper(k->role, roles[i]);
        rows[i] = (ks_dnssec_key_row){
            .zone = k->zone, .role = roles[i], .tag = k->tag,
            .algorithm = k->algorithm, .bits = k->bits, .flags = k->flags,
            .dnskey = k->dnskey, .created = k->created,
            .publish = k->publish, .activate = k->activate,
            .inactive = k->inactive, .delete_ = k->delete_,
            .sync_publish = k->sync_publish, .sync_delete = k->sync_delete,
            .signer = k->signer, .source = k->source};
    }
    if (r == 0)
        r = ks_dnssec_sync(s, g.zones, g.nzones, rows, g.nkeys, g.keep,
                           g.nkeep, now, &res->stats, d);
    else
        kw_diag_set(d, r, "reading the DNSSEC signers: %s", kw_strerror(r));
    free(rows);
    free(roles);
    free(sources);
    free(g.zones);
    free(g.keys);
    kw_dnssec_conf_free(&named);
    kw_dnssec_conf_free(&knot);
    return r;
}

int kw_dnssec_discover(const kw_dnssec_params *p)
{
    return p->named_conf == NULL && p->knot_conf == NULL;
}
