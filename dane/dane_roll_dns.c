/*
 * dane_roll_dns.c: the real DNS of a DANE rollover (dane_roll.h): the
 * shared update, authoritative-set and wait functions of dns/, as the
 * DKIM rotation uses them.
 */
#include "dane_roll.h"

#include "dane_check.h"

#include "../dns/dns_auth.h"
#include "../dns/dns_update.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int net_timeout(const kw_dane_roll_net *n)
{
    return n->timeout_ms > 0 ? n->timeout_ms : 10000;
}

/* The primary and the zone that holds owner. */
static int primary_zone(const kw_dane_roll_net *n, const char *owner,
                        kw_dns_server *srv, char *zone, size_t cap,
                        kw_diag *d)
{
    int rc;

    if (n->server == NULL)
        return kw_diag_set(d, KW_EINVAL, "DANE rollover: no dns_server to "
                           "send TLSA updates to");
    if ((rc = kw_dns_server_parse(n->server, 53, srv, d)) != 0)
        return rc;
    if (n->zone != NULL) {
        snprintf(zone, cap, "%s", n->zone);
        return 0;
    }
    return kw_dns_find_zone(srv, owner, zone, cap, net_timeout(n), d);
}

static int real_update(void *ctx, int add, const char *owner,
                       const char *rdata, int ttl, kw_diag *d)
{
    const kw_dane_roll_net *n = ctx;
    kw_dns_server srv;
    kw_dns_tsig tsig = {n->tsig_key, n->tsig_alg, n->tsig_secret};
    char zone[256];
    int rc;

    if ((rc = primary_zone(n, owner, &srv, zone, sizeof(zone), d)) != 0)
        return rc;
    return kw_dns_tlsa_update(&srv, zone, n->tsig_key != NULL ? &tsig : NULL,
                              add, owner, rdata, ttl, net_timeout(n), d);
}

static int real_visible(void *ctx, const char *owner, const char *rdata,
                        int present, kw_diag *d)
{
    const kw_dane_roll_net *n = ctx;
    kw_dns_auth_set set;
    kw_dns_server srv;
    char zone[256];
    int rc;

    /* As dns-01 has it: dns_check, when given, are the servers to wait
     * on; else the zone's NS set. */
    if (n->check != NULL && n->check[0] != NULL) {
        set.n = 0;
        for (size_t i = 0; n->check[i] != NULL && set.n < KW_DNS_SERVERS_MAX;
             i++)
            if ((rc = kw_dns_server_parse(n->check[i], 53,
                                          &set.srv[set.n++], d)) != 0)
                return rc;
    } else if ((rc = primary_zone(n, owner, &srv, zone, sizeof(zone), d)) !=
                   0 ||
               (rc = kw_dns_auth_servers(&srv, zone, NULL, n->port,
                                         net_timeout(n), &set, d)) != 0) {
        return rc;
    }
    return kw_dns_tlsa_wait(set.srv, set.n, owner, rdata, present,
                            net_timeout(n), 200, d);
}

static int real_negative_ttl(void *ctx, const char *owner, int64_t *ttl,
                             kw_diag *d)
{
    const kw_dane_roll_net *n = ctx;
    kw_dns_server srv;
    char zone[256];
    int rc;

    if ((rc = primary_zone(n, owner, &srv, zone, sizeof(zone), d)) != 0)
        return rc;
    return kw_dns_soa_negative_ttl(&srv, zone, net_timeout(n), ttl, NULL, d);
}

/* The probe where the [endpoint] naming host connects, else at host's
 * own addresses and port. */
static int real_served(void *ctx, const char *host, int port,
                       const char *rdata, kw_diag *d)
{
    const kw_dane_roll_net *n = ctx;
    const kw_dane_probe_at *at = NULL;
    int starttls;

    for (size_t i = 0; i < n->nat && at == NULL; i++)
        if (strcasecmp(n->at[i].host, host) == 0)
            at = &n->at[i];
    if (at != NULL && at->port > 0)
        port = at->port;
    starttls = at != NULL && at->starttls >= 0 ? at->starttls
                                               : kw_dane_default_starttls(port);
    return kw_dane_served(host, port, starttls,
                          at != NULL ? at->connect : NULL, rdata,
                          net_timeout(n), NULL, 0, d);
}

void kw_dane_roll_dns_real(kw_dane_roll_dns *dns, const kw_dane_roll_net *net)
{
    dns->update = real_update;
    dns->visible = real_visible;
    dns->negative_ttl = real_negative_ttl;
    dns->served = net->probe ? real_served : NULL;
    dns->ctx = (void *)net;
}
