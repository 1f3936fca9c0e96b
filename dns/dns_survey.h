/*
 * dns_survey.h: one name's TXT as every server that matters serves it.
 *
 * A survey asks the configured resolver (RD=1: what receivers see) and
 * every authoritative server of the name's zone (RD=0, each NS address,
 * IPv4 and IPv6, but those this host has no route to: step.skipped) for
 * name TXT, and each authoritative server for the zone's SOA serial, so
 * a secondary that is behind can be named.  A CNAME
 * at the name (a delegated DKIM selector, as Microsoft 365 and
 * dkim-rotate publish them) is followed: the target's zone and servers
 * are surveyed too, one step of the chain each (at most
 * KW_DNS_SURVEY_STEPS).  The zone and its servers are found through the
 * resolver (kw_dns_find_zone, kw_dns_zone_servers), or taken from a
 * kw_dns_zone_cache the caller owns and passes in the options: a check
 * of many selectors finds each zone once, not once per selector.
 *
 * Time: the whole survey is bounded by timeout_ms.  The servers of one
 * step are asked concurrently, one thread each, and each server's
 * exchanges are bounded by per_server_ms as well, so a server that never
 * answers costs one per_server_ms and every other server is still heard.
 *
 * kw_dns_survey_run BLOCKS (run it on the libuv thread pool); the other
 * functions compute.  The survey is malloc'd and owns every string in it;
 * kw_dns_survey_free releases it.  Thread-safe: no global state.  Errors
 * follow dns_update.h: 0 or a negative KW_E* code, words in a kw_diag.
 */
#ifndef KW_DNS_SURVEY_H
#define KW_DNS_SURVEY_H

#include <stddef.h>
#include <stdint.h>

#include "dns_update.h"

/* CNAME steps followed (the name itself is step 0). */
#define KW_DNS_SURVEY_STEPS 4
/* Authoritative server addresses asked per step. */
#define KW_DNS_SURVEY_SERVERS 32

/* One TXT record: its character strings joined (RFC 6376 3.6.2.2), NUL
 * terminated; len counts the octets (a record may hold NUL octets). */
typedef struct kw_dns_txt {
    const char *s;
    size_t len;
} kw_dns_txt;

/*
 * One server's answer.  status 0 means the server answered NOERROR or
 * NXDOMAIN and the answer was understood; otherwise KW_ETIMEDOUT (no
 * answer in time), -ECONNREFUSED (nothing listens), KW_EACCES (REFUSED or
 * NOTAUTH: it does not serve the zone), KW_EIO (SERVFAIL, another rcode,
 * or a socket error), KW_EPARSE (not a DNS message, or a malformed TXT),
 * KW_ELOOP (a CNAME chain in the answer longer than 16 links),
 * and error holds the words.  The TXT records (all of them: their text is
 * bounded by the 65535-octet message they came in) point into one block
 * the answer owns.
 */
typedef struct kw_dns_answer {
    kw_dns_server server;
    int status;
    char error[200];
    int rcode;          /* -1 when there was no DNS answer */
    int aa;             /* the AA flag */
    int nxdomain;       /* rcode NXDOMAIN */
    int nodata;         /* NOERROR, neither TXT nor CNAME at the name */
    char cname[256];    /* the name's CNAME target, "" when none */
    kw_dns_txt *txt;    /* records at the name, or at the end of the
                         * CNAME chain the answer itself carries */
    size_t ntxt;
    int has_serial;     /* authoritative servers: the zone's SOA serial */
    uint32_t serial;
    size_t wire_len;    /* octets of the TXT answer (over 1232: it came
                         * over TCP, truncated over UDP) */
    int ms;             /* how long this server took */
    char *block_;       /* private: holds the TXT text */
} kw_dns_answer;

/* One step of the CNAME chain: a name, its zone, its servers' answers. */
typedef struct kw_dns_survey_step {
    char name[256];
    char zone[256];     /* "" when it could not be found */
    int status;         /* 0, or why the zone or its servers are unknown */
    char error[300];    /* (also set with status 0 when some NS name had
                         * no address but others did) */
    char skipped[300];  /* addresses this host has no route to (IPv6 on
                         * an IPv4-only host, kw_dns_reachable): left out
                         * of auth and named here, not waited on; they
                         * do not make the survey incomplete */
    kw_dns_answer *auth;
    size_t nauth;
} kw_dns_survey_step;

typedef struct kw_dns_survey {
    char name[256];
    kw_dns_answer resolver;  /* name TXT asked with RD=1 */
    kw_dns_survey_step steps[KW_DNS_SURVEY_STEPS];
    size_t nsteps;
    int chain_too_long;      /* the chain went on past the last step */
    int ms;                  /* the whole survey */
} kw_dns_survey;

/*
 * Zones and their servers, found by surveys and reused by later ones.
 * The caller creates one per resolver and auth_port (the addresses carry
 * that port), passes it in kw_dns_survey_opts.cache to every survey of a
 * round, and frees it when no survey uses it any more; surveys on several
 * threads may share it (a mutex guards it).  A step whose name's parent
 * was seen by an earlier step (s2._domainkey.D after s1._domainkey.D, or
 * two selectors delegated into one provider's zone) takes the zone and
 * its server addresses from the cache instead of asking the resolver for
 * them: the zone of a name that is not itself a zone apex is its
 * parent's zone.  Entries older than max_age_ms are looked up again.  A
 * step served from the cache whose servers answer without authority
 * (the name has become a zone of its own, delegated elsewhere) drops
 * the entry and is looked up again at once.
 */
typedef struct kw_dns_zone_cache kw_dns_zone_cache;

/* max_age_ms <= 0: 60 s.  NULL when out of memory. */
kw_dns_zone_cache *kw_dns_zone_cache_new(int max_age_ms);
void kw_dns_zone_cache_free(kw_dns_zone_cache *c);
/* Steps that took their zone from the cache, and steps that stored
 * one, since the cache was made. */
void kw_dns_zone_cache_stats(kw_dns_zone_cache *c, long *hits,
                             long *stored);

typedef struct kw_dns_survey_opts {
    int auth_port;       /* port of the authoritative servers; 0: 53 */
    int timeout_ms;      /* the whole survey, > 0 */
    int per_server_ms;   /* each server's bound; 0: timeout_ms / 3, at
                          * least 1000 */
    int ipv4_only;       /* a host without IPv6 routes: the servers' IPv6
                          * addresses are left out rather than reported
                          * unreachable on every survey */
    kw_dns_zone_cache *cache; /* NULL: every step looks its zone up */
} kw_dns_survey_opts;

/*
 * Surveys name (a host name as in dns_update.h) through resolver.
 * Returns 0 with *out set whenever a survey was made, however many
 * servers failed (their answers say how); KW_EINVAL for bad arguments,
 * KW_ENOMEM.  Free *out with kw_dns_survey_free.
 */
int kw_dns_survey_run(const kw_dns_server *resolver, const char *name,
                      const kw_dns_survey_opts *opts, kw_dns_survey **out,
                      kw_diag *d);

void kw_dns_survey_free(kw_dns_survey *s);

/* What the authoritative servers say, taken together. */
typedef enum kw_dns_verdict {
    KW_DNS_AGREE = 0,     /* every server answered, all the same */
    KW_DNS_DISAGREE,      /* two servers serve different things */
    KW_DNS_INCOMPLETE     /* those that answered agree, some did not
                           * answer (or a zone could not be found) */
} kw_dns_verdict;

/*
 * Compares the authoritative answers of every step: the same rcode,
 * CNAME target and set of TXT records (order aside) is agreement.  buf
 * gets the words: for a disagreement each group of servers with what it
 * serves and its SOA serial ("127.0.0.2:53 (serial 7) serves TXT
 * "v=DKIM1; k=rsa; p=MIIB..."; 127.0.0.1:53 (serial 9) serves ..."), for
 * an incomplete survey the servers that failed and why.
 */
kw_dns_verdict kw_dns_survey_compare(const kw_dns_survey *s, char *buf,
                                     size_t cap);

/*
 * Judges one answer (wire, len octets as received) to qname TXT into *a
 * (which the caller zeroed; a->server is left alone): status, rcode, AA,
 * CNAME, TXT records, and the SOA serial when the authority section
 * carries the zone's SOA.  Returns a->status.  Exposed for tests and the
 * fuzz target; release a with kw_dns_answer_clear.
 */
int kw_dns_survey_judge_wire(const uint8_t *wire, size_t len,
                             const char *qname, kw_dns_answer *a);

/* Frees what a holds and zeroes it (server kept). */
void kw_dns_answer_clear(kw_dns_answer *a);

/* A one-line summary of what a serves ("TXT \"v=DKIM1; ...\"", "2 TXT
 * records: ...", "NXDOMAIN", "no TXT", "CNAME to x", "no answer: ..."),
 * shortened and printable, into buf. */
void kw_dns_answer_words(const kw_dns_answer *a, char *buf, size_t cap);

#endif
