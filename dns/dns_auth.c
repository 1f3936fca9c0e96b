/*
 * dns_auth.c: a zone's authoritative servers to check (dns_auth.h).
 */
#include "dns_auth.h"

#include "../common/kw_str.h"

#include <stdio.h>
#include <string.h>

int kw_dns_server_same(const kw_dns_server *a, const kw_dns_server *b)
{
    return a->port == b->port && strcmp(a->addr, b->addr) == 0;
}

/* Adds srv to v[*n] unless it is there (max entries): 0, or -1 when v
 * is full. */
static int add_server(kw_dns_server *v, size_t *n, size_t max,
                      const kw_dns_server *srv)
{
    for (size_t i = 0; i < *n; i++)
        if (kw_dns_server_same(&v[i], srv))
            return 0;
    if (*n >= max)
        return -1;
    v[(*n)++] = *srv;
    return 0;
}

int kw_dns_auth_servers(const kw_dns_server *ask, const char *zone,
                        const char *const *extra, int port, int timeout_ms,
                        kw_dns_auth_set *out, kw_diag *d)
{
    kw_dns_server all[KW_DNS_SERVERS_MAX];
    size_t n = 0, i, pos = 0;
    int rc;

    out->n = 0;
    out->skipped[0] = '\0';
    if ((rc = kw_dns_zone_servers(ask, zone, port, all, KW_DNS_SERVERS_MAX,
                                  &n, timeout_ms, d)) != 0)
        return rc;
    for (i = 0; extra != NULL && extra[i] != NULL; i++) {
        kw_dns_server x;

        if ((rc = kw_dns_server_parse(extra[i], port > 0 ? port : 53, &x,
                                      d)) != 0)
            return rc;
        if (add_server(all, &n, KW_DNS_SERVERS_MAX, &x) != 0)
            return kw_diag_set(d, KW_ETOOBIG, "zone %s: server %s would be "
                               "number %d to ask; at most %d are, so it "
                               "would never be asked", zone, extra[i],
                               KW_DNS_SERVERS_MAX + 1, KW_DNS_SERVERS_MAX);
    }
    for (i = 0; i < n; i++) {
        kw_diag why;

        if (kw_dns_reachable(&all[i], &why) == 0)
            out->srv[out->n++] = all[i];
        else
            kw_str_appendf(out->skipped, sizeof(out->skipped), &pos, "%s%s",
                           pos > 0 ? "; " : "", why.msg);
    }
    if (out->n == 0)
        return kw_diag_set(d, KW_ENOTFOUND, "zone %s: no authoritative "
                           "server this host can reach: %s", zone,
                           out->skipped);
    return 0;
}
