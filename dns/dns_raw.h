/*
 * dns_raw.h: one question asked of one server, the answer returned as
 * received (wire format), with the DNSSEC bits chosen by the caller.
 *
 * dnssec/ judges answers itself (RRSIG times, signatures, DS digests), so
 * it wants the message exactly as the server sent it, RRSIGs included:
 * the query carries EDNS (1232-octet buffer) with DO set when asked, and
 * CD when asked (a validating resolver then hands over data it would
 * refuse, so a broken chain can be seen and named).  A truncated UDP
 * answer is asked again over TCP, so the wire is always the whole answer.
 * BLOCKS for at most timeout_ms (the whole call): run it on the libuv
 * pool.  Thread-safe, no global state.
 */
#ifndef KW_DNS_RAW_H
#define KW_DNS_RAW_H

#include <stddef.h>
#include <stdint.h>

#include "dns_update.h"

/* Query flags for kw_dns_ask_wire. */
#define KW_DNS_Q_RD 0x1   /* recursion desired: asking a resolver */
#define KW_DNS_Q_DO 0x2   /* DNSSEC OK: send RRSIGs */
#define KW_DNS_Q_CD 0x4   /* checking disabled: no validation upstream */

/*
 * Asks server for name/type (an ldns_rr_type number, e.g. 48 DNSKEY)
 * with flags.  On 0, *wire (malloc'd; the caller frees it) and *len hold
 * the answer, whatever its rcode.  KW_ETIMEDOUT, -ECONNREFUSED,
 * KW_EPARSE (not a DNS message), KW_EINVAL (bad name or address), KW_EIO
 * otherwise, with d naming the server, the name and the type.
 */
int kw_dns_ask_wire(const kw_dns_server *server, const char *name,
                    int type, int flags, int timeout_ms, uint8_t **wire,
                    size_t *len, kw_diag *d);

#endif
