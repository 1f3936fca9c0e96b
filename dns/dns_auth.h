/*
 * dns_auth.h: the servers a visibility check asks, shared by the DKIM
 * rotation and the DANE rollover (and anything else that publishes a
 * record and must see it on every authoritative server).
 *
 * A zone's NS set (each address, kw_dns_zone_servers) plus the servers
 * the operator adds (a hidden secondary, an anycast node: dns_check),
 * less those this host has no route to (kw_dns_reachable: IPv6 on an
 * IPv4-only host), which are named in skipped rather than waited on.
 * BLOCKS for at most about timeout_ms (the NS queries).  0 or KW_E* with
 * d; KW_ENOTFOUND when no server is left.  No allocation, no state.
 */
#ifndef KW_DNS_AUTH_H
#define KW_DNS_AUTH_H

#include "dns_update.h"

typedef struct kw_dns_auth_set {
    kw_dns_server srv[KW_DNS_SERVERS_MAX];
    size_t n;
    char skipped[300];  /* the servers left out and why, "; "-separated */
} kw_dns_auth_set;

/* ask: the primary or a resolver (the NS set is asked of it); extra:
 * "ADDR[:PORT]" strings, NULL-terminated (may be NULL); port: the
 * authoritative servers' port, 0 meaning 53. */
int kw_dns_auth_servers(const kw_dns_server *ask, const char *zone,
                        const char *const *extra, int port, int timeout_ms,
                        kw_dns_auth_set *out, kw_diag *d);

/* 1 when a and b are the same address and port. */
int kw_dns_server_same(const kw_dns_server *a, const kw_dns_server *b);

#endif
