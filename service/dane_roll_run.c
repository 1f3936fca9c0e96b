/*
 * dane_roll_run.c: one run of a DANE key rollover with its health
 * recorded (dane_roll_run.h).
 */
#include "dane_roll_run.h"

#include "../keystore/ks_check.h"
#include "../probe/endpoint.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int is_address(const char *h)
{
    unsigned char b[16];

    return inet_pton(AF_INET, h, b) == 1 || inet_pton(AF_INET6, h, b) == 1;
}

size_t kw_dane_roll_probe_at(const kw_config *c, const kw_cert_conf *cc,
                             kw_dane_probe_at *at, size_t max)
{
    const char *first = cc->nnames > 0 ? cc->names[0] : cc->name;
    size_t nh = cc->ndane_hosts > 0 ? cc->ndane_hosts : 1, n = 0;

    for (size_t i = 0; i < nh && n < max; i++) {
        const char *h = cc->ndane_hosts > 0 ? cc->dane_hosts[i] : first;

        for (size_t k = 0; k < c->nendpoints; k++) {
            const kw_endpoint_conf *e = &c->endpoints[k];
            int addr = is_address(e->host);
            const char *named = addr ? e->sni : e->host;

            if (e->starttls != KW_TLS_SMTP &&
                !(e->starttls == KW_TLS_IMPLICIT && e->port == 465))
                continue;
            if (named == NULL || strcasecmp(named, h) != 0)
                continue;
            at[n].host = h;
            /* A name as host would be probed at one of its addresses
             * (the probe resolves it once): NULL, so every address of
             * the host is probed, as the removal of the old record
             * needs. */
            at[n].connect = addr ? e->host : NULL;
            at[n].port = e->port;
            at[n].starttls = (int)e->starttls;
            n++;
            break;
        }
    }
    return n;
}

void kw_dane_roll_fix(const ks_dane_roll *r, const kw_dane_roll_health *h,
                      char *fix, size_t cap)
{
    int st = kw_dane_stage_parse(r->stage);

    if (h->health == KS_HEALTH_OK)
        snprintf(fix, cap, "%s", "");
    else if (r->released && st < KW_DANE_ST_DEPLOYED)
        snprintf(fix, cap, "nothing: the operator released it; DANE "
                 "senders may defer until resolvers have the new record");
    else if (st >= KW_DANE_ST_READY)
        snprintf(fix, cap, "reload the server at every dane host so it "
                 "serves the renewed certificate (its hook), then "
                 "keywarden dane step %s", r->cert);
    else
        snprintf(fix, cap, "repair the TLSA updates (dns_server, tsig_*, "
                 "dns_check of [certificate \"%s\"]) and run keywarden dane "
                 "step %s, or release the renewal with keywarden dane "
                 "release %s", r->cert, r->cert, r->cert);
}

int kw_dane_roll_run(ks_store *s, const kw_renew_params *rp,
                     const char *certs_dir, const kw_dane_probe_at *at,
                     size_t nat, int64_t now, kw_dane_roll_run_out *o,
                     kw_diag *d)
{
    kw_renew_dane x;
    ks_check_finding f;
    char fix[400];
    ks_health recorded;
    int64_t id;
    int rc;

    memset(o, 0, sizeof(*o));
    if ((rc = kw_renew_dane_init(&x, rp, certs_dir, 1, at, nat, d)) != 0 ||
        (rc = kw_dane_roll_step(s, &x.p, &x.dns, now, &o->out, d)) != 0)
        return rc;
    kw_dane_roll_health_of(&o->out.roll, o->out.found, &x.p, now, &o->h);
    rc = ks_check_cert_object(s, rp->name, &id, d);
    if (rc == KW_ENOTFOUND)
        return 0; /* never issued: dane status and the renewal say it */
    if (rc != 0)
        return rc;
    kw_dane_roll_fix(&o->out.roll, &o->h, fix, sizeof(fix));
    f = (ks_check_finding){(ks_health)o->h.health, "dane.roll", o->h.reason,
                           fix, o->out.roll.tlsa};
    if ((rc = ks_check_record(s, id, "dane-roll", rp->name, &f,
                              o->h.health != KS_HEALTH_OK, now, &recorded,
                              &o->changed, d)) != 0)
        return rc;
    o->recorded = 1;
    return 0;
}
