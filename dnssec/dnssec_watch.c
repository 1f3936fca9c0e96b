/*
 * dnssec_watch.c: one zone checked and recorded (see dnssec_watch.h).
 */
#include "dnssec_watch.h"

#include <jansson.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/kw_json.h"
#include "../dns/dns_resolve.h"
#include "../keystore/ks_dnssec_seen.h"

int kw_dnssec_watch_where(const kw_dnssec_params *p, const char *zone,
                          kw_dnssec_where_buf *b, kw_diag *d)
{
    const kw_dnssec_zone_conf *zc = NULL;
    size_t i;
    int r;

    memset(b, 0, sizeof(*b));
    for (i = 0; p != NULL && i < p->nzones; i++)
        if (strcmp(p->zones[i].zone, zone) == 0)
            zc = &p->zones[i];
    if (p != NULL && p->resolver != NULL) {
        if ((r = kw_dns_server_parse(p->resolver, 53, &b->resolver, d)) != 0)
            return kw_diag_set(d, r, "[dnssec] resolver %s: %s", p->resolver,
                               d->msg);
    } else if ((r = kw_dns_system_resolver(NULL, &b->resolver, d)) != 0) {
        return kw_diag_set(d, r, "no resolver to find %s%s servers with "
                           "([dnssec] resolver is not set): %s",
                           zone[0] ? zone : "the zones",
                           zone[0] ? "'s" : "'", d->msg);
    }
    b->w.resolver = &b->resolver;
    b->w.port = p != NULL ? p->dns_port : 0;
    if (zc == NULL)
        return 0;
    /* The check asks at most this many: the others would never be. */
    if (zc->nservers > KW_DNSSEC_SERVERS_MAX)
        return kw_diag_set(d, KW_ETOOBIG, "[zone \"%s\"] servers: %zu "
                           "servers, but a check asks at most %d: list "
                           "fewer", zone, zc->nservers,
                           KW_DNSSEC_SERVERS_MAX);
    for (i = 0; i < zc->nservers; i++)
        if ((r = kw_dns_server_parse(zc->servers[i], b->w.port > 0
                                                         ? b->w.port : 53,
                                     &b->servers[i], d)) != 0)
            return kw_diag_set(d, r, "[zone \"%s\"] servers %s: %s", zone,
                               zc->servers[i], d->msg);
    if (i > 0) {
        b->w.servers = b->servers;
        b->w.nservers = i;
    }
    if (zc->ds_server != NULL) {
        if ((r = kw_dns_server_parse(zc->ds_server, 53, &b->ds_server,
                                     d)) != 0)
            return kw_diag_set(d, r, "[zone \"%s\"] ds_server %s: %s", zone,
                               zc->ds_server, d->msg);
        b->w.ds_server = &b->ds_server;
    }
    return 0;
}

void kw_dnssec_key_from_row(const ks_dnssec_key *r, kw_dnssec_key *k)
{
    memset(k, 0, sizeof(*k));
    snprintf(k->zone, sizeof(k->zone), "%s", r->zone ? r->zone : "");
    k->role = r->role == NULL ? 0
              : strcmp(r->role, "KSK") == 0 ? KW_DNSSEC_KSK
              : strcmp(r->role, "CSK") == 0 ? KW_DNSSEC_CSK
              : strcmp(r->role, "ZSK") == 0 ? KW_DNSSEC_ZSK : 0;
    k->algorithm = r->algorithm;
    k->bits = r->bits;
    k->tag = r->tag;
    k->flags = r->flags;
    snprintf(k->dnskey, sizeof(k->dnskey), "%s", r->dnskey ? r->dnskey : "");
    k->created = r->created;
    k->publish = r->publish;
    k->activate = r->activate;
    k->inactive = r->inactive;
    k->delete_ = r->delete_;
    k->sync_publish = r->sync_publish;
    k->sync_delete = r->sync_delete;
    snprintf(k->source, sizeof(k->source), "%s", r->source ? r->source : "");
    snprintf(k->signer, sizeof(k->signer), "%s", r->signer ? r->signer : "");
}

size_t kw_dnssec_obs_sep_keys(const kw_dnssec_obs *obs, kw_dnssec_key *keys,
                              size_t max)
{
    ldns_rdf *zn = ldns_dname_new_frm_str(obs->zone[0] ? obs->zone : ".");
    size_t i, j, k, n = 0;

    for (i = 0; zn != NULL && i < obs->nservers && i < KW_DNSSEC_SERVERS_MAX;
         i++) {
        const kw_dnssec_ans *a = &obs->srv[i].a[KW_DNSSEC_Q_DNSKEY];
        ldns_pkt *p = NULL;
        ldns_rr_list *an;

        if (a->rc != 0 || a->wire == NULL ||
            ldns_wire2pkt(&p, a->wire, a->len) != LDNS_STATUS_OK)
            continue;
        an = ldns_pkt_answer(p);
        for (j = 0; j < ldns_rr_list_rr_count(an) && n < max; j++) {
            ldns_rr *rr = ldns_rr_list_rr(an, j);
            char rdata[4096] = "";
            size_t o = 0, dup = 0;
            kw_diag d;

            if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_DNSKEY ||
                ldns_dname_compare(ldns_rr_owner(rr), zn) != 0 ||
                ldns_rr_rd_count(rr) < 4 ||
                !(ldns_rdf2native_int16(ldns_rr_rdf(rr, 0)) & 1))
                continue;
            for (k = 0; k < 4 && o < sizeof(rdata); k++) {
                char *f = ldns_rdf2str(ldns_rr_rdf(rr, k));

                o += (size_t)snprintf(rdata + o, sizeof(rdata) - o, "%s%s",
                                      k > 0 ? " " : "", f ? f : "");
                free(f);
            }
            memset(&keys[n], 0, sizeof(keys[n]));
            snprintf(keys[n].zone, sizeof(keys[n].zone), "%s", obs->zone);
            if (o >= sizeof(rdata) ||
                kw_dnssec_key_set_dnskey(&keys[n], rdata, &d) != 0)
                continue;
            for (k = 0; k < n; k++)
                dup += strcmp(keys[k].dnskey, keys[n].dnskey) == 0;
            if (dup)
                continue;
            keys[n].role = KW_DNSSEC_KSK;
            snprintf(keys[n].source, sizeof(keys[n].source), "live:%s",
                     obs->srv[i].name);
            snprintf(keys[n].signer, sizeof(keys[n].signer), "live");
            n++;
        }
        ldns_pkt_free(p);
    }
    ldns_rdf_deep_free(zn);
    return n;
}

/* The zone's keys as the decision takes them. */
typedef struct zone_keys {
    size_t n;
    size_t total; /* the zone's keys in the inventory, n of them taken */
    int64_t id[KW_DNSSEC_WATCH_KEYS_MAX];
    char name[KW_DNSSEC_WATCH_KEYS_MAX][300];
    kw_dnssec_key key[KW_DNSSEC_WATCH_KEYS_MAX];
    kw_dnssec_dsneed_key in[KW_DNSSEC_WATCH_KEYS_MAX];
} zone_keys;

static int take_key(void *ctx, const ks_dnssec_key *r)
{
    zone_keys *z = ctx;
    size_t i = z->n;

    /* Keys past the bound are counted, so the check can say it did not
     * look at them instead of passing over them in silence. */
    z->total++;
    if (i >= KW_DNSSEC_WATCH_KEYS_MAX)
        return 0;
    z->id[i] = r->id;
    snprintf(z->name[i], sizeof(z->name[i]), "%s", r->name ? r->name : "");
    kw_dnssec_key_from_row(r, &z->key[i]);
    z->in[i].key = &z->key[i];
    z->in[i].missing_since = r->ds_missing_since;
    z->in[i].notified_at = r->ds_notified_at;
    z->n++;
    return 0;
}

typedef struct zone_find {
    const char *zone;
    int64_t id;
    int found;
} zone_find;

static int take_zone(void *ctx, const ks_dnssec_zone *z)
{
    zone_find *f = ctx;

    if (strcmp(z->zone, f->zone) != 0)
        return 0;
    f->id = z->id;
    f->found = 1;
    return 1;
}

/* The dnssec.ds_needed document of one key. */
static json_t *ds_needed_doc(const char *zone, const char *name,
                             const kw_dnssec_dsneed_out *o)
{
    char a1[16];
    json_t *ds = json_array(), *doc;

    if (ds != NULL)
        json_array_append_new(ds, kw_json_str(o->ds));
    doc = json_pack("{s:o, s:s, s:o, s:I, s:i, s:o, s:o, s:b, s:s, s:I, "
                    "s:I, s:I}",
                    "object", kw_json_str(name), "kind", "dnssec", "zone",
                    kw_json_str(zone), "key_tag", (json_int_t)o->tag,
                    "algorithm", o->algorithm, "algorithm_name",
                    kw_json_str(kw_dnssec_alg_name(o->algorithm, a1)),
                    "ds_records", ds, "cds_published", o->cds_published,
                    "severity", ks_health_word(o->severity),
                    "missing_since", (json_int_t)o->missing_since,
                    "due", (json_int_t)o->due, "retire_at",
                    (json_int_t)o->retire_at);
    return doc;
}

int kw_dnssec_watch_record(ks_store *s, const kw_dnssec_params *p,
                           const char *zone, const kw_dnssec_live *live,
                           int64_t now, kw_dnssec_watch_out *out,
                           kw_diag *d)
{
    kw_dnssec_dsneed_params dp = { 0, p != NULL ? p->crit : 0 };
    ks_dnssec_finding f[KW_DNSSEC_LIVE_FINDINGS_MAX +
                        KW_DNSSEC_WATCH_KEYS_MAX + 1];
    ks_dnssec_check c = { live->is_signed, live->has_ds, live->next_expiry };
    zone_find zf = { zone, 0, 0 };
    zone_keys *z = calloc(1, sizeof(*z));
    const char *reason = "";
    char over[300];
    size_t i, n = 0;
    int r, worst_rank = -1;

    memset(out, 0, sizeof(*out));
    if (z == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    if ((r = ks_begin(s, d)) != 0)
        goto out;
    r = ks_dnssec_zones_each(s, take_zone, &zf, d);
    if (r == 0 && !zf.found)
        r = kw_diag_set(d, KW_ENOTFOUND, "zone %s is not in the inventory "
                        "(run keywarden scan)", zone);
    if (r == 0)
        r = ks_dnssec_keys_each(s, zone, take_key, z, d);
    if (r != 0)
        goto fail;
    out->nkeys = z->n;
    kw_dnssec_dsneed_decide(z->in, z->n, live, &dp, now, out->need);
    out->health = KS_HEALTH_OK;
    for (i = 0; i < live->nfind; i++) {
        const kw_dnssec_live_find *lf = &live->find[i];

        f[n++] = (ks_dnssec_finding){ lf->severity, lf->code, lf->text,
                                      lf->fix, lf->server, lf->record, 0 };
    }
    for (i = 0; i < z->n; i++) {
        kw_dnssec_dsneed_out *o = &out->need[i];

        if (o->due != 0 && o->due > now &&
            (out->next_due == 0 || o->due < out->next_due))
            out->next_due = o->due;
        if (o->finding) {
            f[n++] = (ks_dnssec_finding){ o->severity, "ds.needed", o->text,
                                          o->fix, "", o->record, o->tag };
            out->nneed++;
        }
        if (o->store && (r = ks_dnssec_ds_mark(s, zone, o->tag,
                                               o->missing_since,
                                               o->notified_at, d)) != 0)
            goto fail;
        if (o->notify) {
            r = ks_event_add(s, now, z->id[i], "dnssec.ds_needed",
                             ds_needed_doc(zone, z->name[i], o), d);
            if (r != 0)
                goto fail;
            out->nevents++;
        }
    }
    if (z->total > z->n) {
        out->nunchecked = z->total - z->n;
        snprintf(over, sizeof(over), "zone %s has %zu keys in the "
                 "inventory; only the first %d were checked for a missing "
                 "DS", zone, z->total, KW_DNSSEC_WATCH_KEYS_MAX);
        f[n++] = (ks_dnssec_finding){ KS_HEALTH_WARNING, "keys.unchecked",
                                      over, "remove the keys the signer no "
                                      "longer uses (a rollover needs three "
                                      "or four)", "", "", 0 };
    }
    for (i = 0; i < n; i++)
        if (ks_health_rank(f[i].severity) > worst_rank) {
            worst_rank = ks_health_rank(f[i].severity);
            out->health = f[i].severity;
            reason = f[i].text;
        }
    r = ks_dnssec_findings_replace(s, zone, f, n, &c, now, d);
    if (r == 0)
        r = ks_dnssec_health_seen(s, zone, zf.id, (int)out->health, reason,
                                  now, &out->health_changed, d);
    if (r == 0)
        r = ks_commit(s, d);
    if (r == 0)
        goto out;
fail:
    ks_rollback(s);
    out->nevents = 0;
    out->health_changed = 0;
out:
    free(z);
    return r;
}
