/*
 * dns_resolve.h: address lookups through a configured recursive resolver.
 *
 * The HTTP-01 pre-check must see the names the way the CA does: through
 * DNS, never through /etc/hosts or nsswitch (a server that lists itself in
 * /etc/hosts would pass a check the CA fails).  So getaddrinfo() is out;
 * these functions ask one resolver directly, RD=1, with one time bound
 * for the whole call.  They BLOCK: run them on the libuv thread pool.
 */
#ifndef KW_DNS_RESOLVE_H
#define KW_DNS_RESOLVE_H

#include <stddef.h>

#include "dns_update.h"

/* Most addresses kw_dns_resolve returns for one name and type. */
#define KW_DNS_ADDRS_MAX 16

/* One address as text: "192.0.2.1" or "2001:db8::1" (no brackets). */
typedef struct kw_dns_addr {
    char a[46];
} kw_dns_addr;

/*
 * The A (want_aaaa = 0) or AAAA (want_aaaa = 1) records of name, asked of
 * server with RD=1 (CNAME chains the resolver followed are accepted: every
 * address record of the asked type in the answer counts).  Fills
 * addrs[0..*n), de-duplicated, at most max.  0 also when the name exists
 * without such records (*n = 0); KW_ENOTFOUND for NXDOMAIN; KW_EIO for
 * SERVFAIL and other rcodes; KW_ETIMEDOUT, -ECONNREFUSED, KW_EINVAL as
 * in dns_update.h.  Thread-safe.
 */
int kw_dns_resolve(const kw_dns_server *server, const char *name,
                   int want_aaaa, kw_dns_addr *addrs, size_t max, size_t *n,
                   int timeout_ms, kw_diag *d);

/*
 * The first "nameserver" of resolv_conf (NULL: /etc/resolv.conf), port
 * 53, in *out.  KW_ENOENT when the file cannot be read, KW_ENOTFOUND when
 * it names no usable server.
 */
int kw_dns_system_resolver(const char *resolv_conf, kw_dns_server *out,
                           kw_diag *d);

#endif
