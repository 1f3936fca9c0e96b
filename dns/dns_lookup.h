/*
 * dns_lookup.h: one question (TXT, A, AAAA, MX or PTR of a name) asked of
 * the configured recursive resolver, answered as text in bounded arrays.
 *
 * SPF's walker and evaluator (dkim/dkim_spf.c) never talk to the network
 * themselves: they call a kw_dns_lookup, a function pointer and its
 * context.  Unit tests give them a table; production gives them
 * kw_dns_lookup_server, which asks one resolver (RD=1) with one time bound
 * per call through dns_net.h's sockets.  Nothing is cached here and no
 * state outlives a call, so one context may serve several threads.
 * kw_dns_lookup_server BLOCKS: callers run it on the libuv thread pool.
 */
#ifndef KW_DNS_LOOKUP_H
#define KW_DNS_LOOKUP_H

#include <stddef.h>

#include "dns_update.h"

typedef enum kw_dns_rrtype {
    KW_DNS_TXT = 0,
    KW_DNS_A,
    KW_DNS_AAAA,
    KW_DNS_MX,
    KW_DNS_PTR
} kw_dns_rrtype;

/* Records kept per answer; more set truncated (SPF needs to know "more
 * than 10", never the 33rd record). */
#define KW_DNS_RRSET_MAX 32
/* Text of all records of one answer together. */
#define KW_DNS_RRSET_TEXT 16384

/*
 * An answer as text: TXT strings joined, A/AAAA as "192.0.2.1" /
 * "2001:db8::1", MX and PTR as the target name in lower case without the
 * final dot (MX preferences are dropped: SPF does not use them).  Record i
 * is text + off[i], len[i] octets, NUL-terminated.
 */
typedef struct kw_dns_rrset {
    size_t n;
    size_t off[KW_DNS_RRSET_MAX];
    size_t len[KW_DNS_RRSET_MAX];
    int truncated;
    size_t used;
    char text[KW_DNS_RRSET_TEXT];
} kw_dns_rrset;

/* Empties set. */
void kw_dns_rrset_clear(kw_dns_rrset *set);
/* Appends one record (len octets of s); sets truncated when it does not
 * fit.  Returns 0 or -1 (not added). */
int kw_dns_rrset_add(kw_dns_rrset *set, const char *s, size_t len);
/* Record i's text. */
const char *kw_dns_rrset_rec(const kw_dns_rrset *set, size_t i);

/* "TXT", "A", ... */
const char *kw_dns_rrtype_name(kw_dns_rrtype type);

/*
 * The lookup the SPF code calls.  Fills out (cleared first).  Returns 0
 * when the name exists (out->n may be 0: no records of that type),
 * KW_ENOTFOUND for NXDOMAIN (or a name that cannot exist), and any other
 * negative KW_E* when no answer was had (SERVFAIL, timeout, refused): SPF's
 * TempError.  d then names the server, the name and the type.
 */
typedef int (*kw_dns_lookup_fn)(void *ctx, const char *name,
                                kw_dns_rrtype type, kw_dns_rrset *out,
                                kw_diag *d);

typedef struct kw_dns_lookup {
    kw_dns_lookup_fn fn;
    void *ctx;
} kw_dns_lookup;

/* Context of kw_dns_lookup_server: the resolver and the bound of each
 * call (<= 0: 5000 ms). */
typedef struct kw_dns_lookup_ctx {
    kw_dns_server server;
    int timeout_ms;
} kw_dns_lookup_ctx;

/* The production lookup: ctx is a kw_dns_lookup_ctx.  CNAME chains the
 * resolver followed are accepted (every record of the asked type in the
 * answer counts).  BLOCKS. */
int kw_dns_lookup_server(void *ctx, const char *name, kw_dns_rrtype type,
                         kw_dns_rrset *out, kw_diag *d);

#endif
