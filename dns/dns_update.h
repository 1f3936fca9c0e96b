/*
 * dns_update.h: DNS I/O shared by acme (dns-01), dkim and dnssec.
 *
 * RFC 2136 updates of TXT records signed with TSIG, the authoritative
 * servers of a zone, polling those servers until they all serve a value,
 * and finding the zone that contains a name.  Built on ldns for the wire
 * format and TSIG; the sockets are our own so that every wait is bounded.
 *
 * Every function here BLOCKS (callers run it on the libuv thread pool) for
 * at most about timeout_ms, which bounds the whole call, not each packet.
 * Returns 0 or a negative KW_E* code with the words in d (server, zone,
 * name, rcode): KW_EINVAL bad arguments, KW_ETIMEDOUT no answer in time,
 * -ECONNREFUSED nothing listens at the address (ICMP port unreachable or a
 * TCP reset), KW_EACCES NOTAUTH or REFUSED, KW_ENOTFOUND NOTZONE, NXDOMAIN
 * or nothing found, KW_ECRYPTO an answer whose TSIG does not verify,
 * KW_EPARSE a malformed answer, KW_EIO any other rcode or socket error.
 * Nothing here allocates memory the caller must free.  Thread-safe: no
 * global state.
 *
 * Names are host names in text form: LDH labels (underscores allowed, for
 * _acme-challenge and DKIM's _domainkey), 1 to 63 octets each, at most 253
 * octets in all, with or without the final dot, no IDN (convert first).
 */
#ifndef KW_DNS_UPDATE_H
#define KW_DNS_UPDATE_H

#include <stddef.h>
#include <stdint.h>

#include "../common/kw_err.h"

/* One server: an IPv4 or IPv6 literal (no brackets) and a port. */
typedef struct kw_dns_server {
    char addr[64];
    int port;
} kw_dns_server;

/* A TSIG key (RFC 8945), borrowed for the call. */
typedef struct kw_dns_tsig {
    const char *name;    /* the key's name, as the server's config has it */
    const char *alg;     /* "hmac-sha256" (NULL), "hmac-sha384",
                          * "hmac-sha512"; "hmac-md5" only when asked for
                          * by exactly that name, never as a default */
    const char *secret;  /* base64 */
} kw_dns_tsig;

/* Longest TXT value accepted (split into 255-octet strings on the wire). */
#define KW_DNS_TXT_MAX 4000
/* Most servers kw_dns_txt_wait polls at once. */
#define KW_DNS_SERVERS_MAX 64

/*
 * RFC 2136: add (add=1) or delete (add=0) a TXT record at name in zone,
 * sent to primary over UDP (TCP when the answer is truncated or the update
 * is larger than 512 octets).  Delete removes that exact value, or, with
 * value NULL, every TXT at name.  Values longer than 255 octets are split
 * into 255-octet strings, so delete a long value through this function
 * too (or with value NULL).  ttl (0..2147483647) applies to adds.
 * With tsig != NULL the update is signed and the answer's TSIG verified
 * (an unsigned NOERROR is refused; an unsigned NOTAUTH is reported as the
 * server's verdict on our key, as RFC 8945 has servers send it).
 * Adding a value that is already there, or deleting one that is not, is
 * NOERROR (RFC 2136 3.4.2), so retrying is safe.
 */
int kw_dns_txt_update(const kw_dns_server *primary, const char *zone,
                      const kw_dns_tsig *tsig, int add, const char *name,
                      const char *value, int ttl, int timeout_ms,
                      kw_diag *d);

/* kw_dns_txt_update's form for one TLSA record (RFC 6698) given in
 * presentation form, rdata "3 1 1 HEX" (never NULL: a delete removes that
 * record only); KW_EINVAL when rdata is not TLSA data. */
int kw_dns_tlsa_update(const kw_dns_server *primary, const char *zone,
                       const kw_dns_tsig *tsig, int add, const char *name,
                       const char *rdata, int ttl, int timeout_ms,
                       kw_diag *d);

/* kw_dns_txt_look's form for TLSA: 1 when server answers authoritatively
 * with the record rdata at name among the others (rdata present) or has
 * it not (present 0), 0 not (status says what it answered), a negative
 * KW_E* as kw_dns_txt_look. */
int kw_dns_tlsa_look(const kw_dns_server *server, const char *name,
                     const char *rdata, int present, int timeout_ms,
                     char *status, size_t cap);

/* kw_dns_txt_wait's form for TLSA: every server in one round as
 * kw_dns_tlsa_look wants it. */
int kw_dns_tlsa_wait(const kw_dns_server *servers, size_t n,
                     const char *name, const char *rdata, int present,
                     int timeout_ms, int interval_ms, kw_diag *d);

/*
 * The authoritative servers of zone: its NS records and their addresses
 * (glue from the answer, else A and AAAA queries), asked of server (the
 * primary, or a recursive resolver: queries set RD).  The addresses get
 * port `port`, 0 meaning 53; tests whose servers listen elsewhere pass
 * their port (NS records carry no port).  Both address families are
 * returned; a host without IPv6 should drop the entries containing ':'.
 * Fills out[0..*n), de-duplicated, at most max.  An NS name no address
 * was found for fails the call (KW_ENOTFOUND, naming it: ask a resolver
 * when the NS names lie outside the zone), and so do more than 32 NS
 * names or more than max addresses (KW_ETOOBIG, with the counts: a
 * server left out would never be asked), with the addresses found so
 * far still in out[0..*n).
 */
int kw_dns_zone_servers(const kw_dns_server *server, const char *zone,
                        int port, kw_dns_server *out, size_t max, size_t *n,
                        int timeout_ms, kw_diag *d);

/*
 * Polls every server (non-recursive queries, RD=0) for name TXT until, in
 * one round, each answers authoritatively with a TXT record equal to value
 * (other TXT records beside it are fine: dns-01 for a name and its
 * wildcard share one name), or timeout_ms passes.  value NULL waits for
 * the opposite: no TXT at name (NXDOMAIN or no data) on every server.
 * interval_ms between rounds (0: 500).  n is 1..KW_DNS_SERVERS_MAX.  On
 * KW_ETIMEDOUT d names each server that did not and what it answered.
 */
int kw_dns_txt_wait(const kw_dns_server *servers, size_t n, const char *name,
                    const char *value, int timeout_ms, int interval_ms,
                    kw_diag *d);

/*
 * One look: server asked once (RD=0) for name TXT and judged as
 * kw_dns_txt_wait judges it.  1 it serves value (no TXT when value is
 * NULL), 0 it does not; status (cap octets) says what it answered.  A
 * negative KW_E* when no answer came within timeout_ms (status says why:
 * KW_ETIMEDOUT, -ECONNREFUSED, KW_EIO), or for bad arguments.  Callers
 * polling many names (a batch of DKIM rotations) make their own rounds of
 * looks and skip a server that did not answer for the rest of a round.
 */
int kw_dns_txt_look(const kw_dns_server *server, const char *name,
                    const char *value, int timeout_ms, char *status,
                    size_t cap);

/* kw_dns_txt_look's form for a CNAME: 1 when server answers
 * authoritatively that name is a CNAME to target, 0 not (status says what
 * it answered), a negative KW_E* as kw_dns_txt_look. */
int kw_dns_cname_look(const kw_dns_server *server, const char *name,
                      const char *target, int timeout_ms, char *status,
                      size_t cap);

/*
 * Can this host send to srv at all?  A UDP connect() (nothing is sent)
 * asks the kernel for a route: 0 yes; -ENETUNREACH when there is none
 * (ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL, or the family unsupported:
 * a host without IPv6), d saying so; KW_EINVAL for a bad address.
 * Callers skip such servers, saying so, rather than wait on them.
 */
int kw_dns_reachable(const kw_dns_server *srv, kw_diag *d);

/*
 * The zone that contains name, found by asking server for SOA from the
 * longest name down (for when the config gives no zone).  Writes it in
 * lower case without the final dot.  CNAMEs are not followed.
 */
/* One server's answer (wire format, as received) to name TXT judged the
 * way kw_dns_txt_wait does: 1 it serves value (or no TXT when value is
 * NULL), 0 not (status says what it answered), -1 not a DNS message.
 * Exposed for the fuzz target. */
int kw_dns_judge_txt_wire(const uint8_t *wire, size_t len, const char *name,
                          const char *value, char *status, size_t cap);

int kw_dns_find_zone(const kw_dns_server *server, const char *name,
                     char *zone, size_t cap, int timeout_ms, kw_diag *d);

/*
 * How long a resolver may cache a negative answer for a name in zone
 * (RFC 2308 section 5): the smaller of the zone's SOA record TTL and its
 * MINIMUM field, asked of server (RD set, so a primary or a resolver).
 * Also the SOA record's TTL in *soa_ttl (may be NULL).  KW_ENOTFOUND when
 * server gives no SOA for zone.
 */
int kw_dns_soa_negative_ttl(const kw_dns_server *server, const char *zone,
                            int timeout_ms, int64_t *neg_ttl,
                            int64_t *soa_ttl, kw_diag *d);

/* ----- helpers, also for callers' config checks ----- */

/* Is name a valid host name as above?  0, or KW_EINVAL with why in d. */
int kw_dns_name_check(const char *name, kw_diag *d);

/* The wire name ldns signs with for alg (see kw_dns_tsig.alg), e.g.
 * "hmac-sha256.", in *wire.  0, or KW_EINVAL naming the algorithms
 * accepted. */
int kw_dns_tsig_alg(const char *alg, const char **wire, kw_diag *d);

/* An rcode in words for an operator, e.g. 9 -> "NOTAUTH (the TSIG key was
 * not accepted)".  Never NULL. */
const char *kw_dns_rcode_words(int rcode);

/* Parse "192.0.2.1", "192.0.2.1:5353", "2001:db8::1", "[2001:db8::1]:53"
 * (default_port when none is given).  0, or KW_EINVAL. */
int kw_dns_server_parse(const char *s, int default_port, kw_dns_server *out,
                        kw_diag *d);

/* "192.0.2.1:53" or "[2001:db8::1]:53" into buf (always terminated). */
void kw_dns_server_str(const kw_dns_server *s, char *buf, size_t cap);

#endif
