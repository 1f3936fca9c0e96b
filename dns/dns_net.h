/*
 * dns_net.h: the dns module's own transport (internal to dns/).
 *
 * ldns builds, signs and parses messages; these functions move them.  We
 * keep the sockets ourselves because ldns' resolver multiplies its timeout
 * by retries and servers, while keywarden promises one bound per call.
 */
#ifndef KW_DNS_NET_H
#define KW_DNS_NET_H

#include <stddef.h>
#include <stdint.h>

#include <ldns/ldns.h>

#include "dns_update.h"

/* Largest DNS message (TCP length prefix); every reply buffer is this. */
#define DNSN_MSG_MAX 65535

/* Is r (rlen octets, from the network) the answer to the query q?  0:
 * yes; 1: not ours; -1: ours but too short.  Exposed for fuzzing. */
int dnsn_matches(const uint8_t *q, size_t qlen, const uint8_t *r,
                 size_t rlen);
/* Largest message sent over UDP; bigger ones go over TCP. */
#define DNSN_UDP_MAX 512
/* The EDNS buffer size our queries advertise (DNS flag day 2020). */
#define DNSN_EDNS_SIZE 1232

/* Monotonic milliseconds. */
int64_t dnsn_now_ms(void);

/* A random message ID (getrandom). */
uint16_t dnsn_random_id(void);

/* Parse and format server addresses (see kw_dns_server_parse/_str). */
void dnsn_server_str(const kw_dns_server *s, char *buf, size_t cap);

/*
 * Sends the wire message q to srv and waits, until deadline (dnsn_now_ms
 * time), for a reply with the same ID and question: over UDP (resent at
 * growing intervals) unless tcp is set.  Fills reply (DNSN_MSG_MAX bytes)
 * and *rlen.  Returns 0, KW_ETIMEDOUT, -ECONNREFUSED, KW_EPARSE or KW_EIO,
 * with d naming the server.
 */
int dnsn_exchange(const kw_dns_server *srv, const uint8_t *q, size_t qlen,
                  int tcp, int64_t deadline, uint8_t *reply, size_t *rlen,
                  kw_diag *d);

/*
 * Serializes query (its ID and any TSIG already set), sends it with
 * dnsn_exchange (TCP when larger than DNSN_UDP_MAX or when the UDP answer
 * is truncated) and parses the answer into *out.  When wire is not NULL
 * the raw answer is returned in *wire (malloc'd, the caller frees) and
 * *wlen, for TSIG verification.
 */
int dnsn_send(const kw_dns_server *srv, const ldns_pkt *query,
              int64_t deadline, ldns_pkt **out, uint8_t **wire,
              size_t *wlen, kw_diag *d);

/*
 * A query for name/type, RD as given, EDNS on, sent with dnsn_send.  name
 * has been checked with kw_dns_name_check.
 */
int dnsn_query(const kw_dns_server *srv, const char *name, ldns_rr_type type,
               int rd, int64_t deadline, ldns_pkt **out, kw_diag *d);

/* dnsn_query, also returning the answer as received (malloc'd, the
 * caller frees) in *wire and *wlen when wire is not NULL. */
int dnsn_query_wire(const kw_dns_server *srv, const char *name,
                    ldns_rr_type type, int rd, int64_t deadline,
                    ldns_pkt **out, uint8_t **wire, size_t *wlen,
                    kw_diag *d);

/* A TXT record's character strings joined into buf (NUL terminated, *len
 * octets); -1 when a string is malformed or the text does not fit. */
int dnsn_txt_join(const ldns_rr *rr, char *buf, size_t cap, size_t *len);

/* A printable, shortened copy of a server's TXT value for messages: the
 * head and the tail of a long one, bytes outside ASCII as \NNN. */
void dnsn_shown(const char *s, size_t len, char *buf, size_t cap);

/* Does the dname rdf equal the text name (either with or without final
 * dot), ignoring case? */
int dnsn_dname_is(const ldns_rdf *dname, const char *name);

/* The dname as text, lower case, without the final dot, into buf. */
void dnsn_dname_text(const ldns_rdf *dname, char *buf, size_t cap);

/* A TLSA record in presentation form ("3 1 1 HEX") as an RR at name
 * (with or without its final dot), in *rr; 0 or KW_EINVAL. */
int dnsn_tlsa_rr(const char *name, const char *rdata, ldns_rr **rr);

/* Short name of an rcode ("NOERROR", "NXDOMAIN", "RCODE23"); never NULL.
 * buf holds the numeric form when needed (16 bytes). */
const char *dnsn_rcode_name(int rcode, char buf[16]);

#endif
