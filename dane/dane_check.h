/*
 * dane_check.h: is a server's DANE TLSA RRset true to what it serves, and
 * will it stay true after the next reload?
 *
 * Two halves, as dnssec/dnssec_live.h.  The gatherer (kw_dane_gather)
 * asks, for HOST and PORT, the TLSA RRset at _PORT._tcp.HOST of every
 * authoritative server of its zone (RD clear, DO set) and of a validating
 * resolver (RD and DO set: its AD bit and rcode are the verdict), probes
 * the server (STARTTLS or implicit TLS) at every address the resolver
 * gives for HOST (KW_DANE_PEERS_MAX at most), as a DANE sender would
 * reach any of them, and reads the certificate file given
 * (the one the next reload will serve).  Every answer and certificate is
 * kept as received (wire, DER) in a kw_dane_obs.  It BLOCKS (each DNS
 * question bounded by timeout_ms, the probe too; the probe runs on a
 * private libuv loop of its own): the daemon runs it on the pool.  The
 * judge (kw_dane_judge) is pure: the observations and the clock in,
 * findings (severity, server, record, text, fix) out, with what each
 * record matched.  kw_dane_obs owns its buffers: free with
 * kw_dane_obs_free.
 */
#ifndef KW_DANE_CHECK_H
#define KW_DANE_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "../common/kw_err.h"
#include "../dns/dns_update.h"
#include "../dnssec/dnssec_live.h"
#include "../keystore/ks_health.h"

#define KW_DANE_CHAIN_MAX 16
#define KW_DANE_TLSA_MAX 16
#define KW_DANE_FINDINGS_MAX 32
/* Most addresses of one host probed (A and AAAA together). */
#define KW_DANE_PEERS_MAX 4

/* A certificate chain as DER, leaf first. */
typedef struct kw_dane_chain {
    size_t n;
    uint8_t *der[KW_DANE_CHAIN_MAX];   /* malloc'd, owned by the obs */
    size_t len[KW_DANE_CHAIN_MAX];
} kw_dane_chain;

/* One address of the host and the chain it serves. */
typedef struct kw_dane_peer {
    char address[64];
    char err[512];                /* why it served no chain, or "" */
    kw_dane_chain chain;
    int name_matches;             /* the leaf covers the host (the probe's
                                     verdict, for the inventory) */
    char tls_version[16];         /* "TLSv1.3", or "" */
} kw_dane_peer;

typedef struct kw_dane_obs {
    char host[256];               /* lower case, no final dot */
    int port;
    char qname[300];              /* _PORT._tcp.HOST */
    char zone[256];               /* the zone holding qname, or "" */
    char servers_err[300];        /* why no authoritative server was
                                     asked, or "" */
    size_t nservers;
    struct {
        char name[80];            /* "127.0.0.1:53" */
        kw_dnssec_ans ans;
    } srv[KW_DNSSEC_SERVERS_MAX];
    char resolver[80];
    kw_dnssec_ans res;            /* the resolver's answer */
    kw_dnssec_ans addr[2];        /* its answers to HOST A and AAAA: the
                                     addresses a sender finds */
    int probed;                   /* probes were attempted */
    char probe_err[300];          /* why no address was probed, or "" */
    size_t npeers;                /* the addresses probed */
    kw_dane_peer peer[KW_DANE_PEERS_MAX];
    char disk_path[512];          /* "" no certificate file given */
    char disk_err[300];           /* why it could not be read, or "" */
    kw_dane_chain disk;
} kw_dane_obs;

/* Where to ask and what to probe. */
typedef struct kw_dane_where {
    const kw_dns_server *resolver;  /* validating; required */
    const kw_dns_server *servers;   /* authoritative servers, or NULL:
                                     * the zone's NS set */
    size_t nservers;
    int ns_port;                    /* port of NS addresses (0: 53) */
    int starttls;                   /* enum kw_starttls */
    const char *connect;            /* address to probe, or NULL: HOST's
                                     * A (then AAAA) from the resolver */
    int probe_port;                 /* port to probe, 0: PORT (the TLSA
                                     * name keeps PORT; tests probe an MX's
                                     * port 25 on a free port) */
    const char *cert_path;          /* the certificate on disk, or NULL */
    int no_probe;                   /* judge the DNS side alone */
    int timeout_ms;                 /* per question and probe (<= 0: 5000) */
} kw_dane_where;

/* What one TLSA record of the resolver's RRset is and matches. */
typedef struct kw_dane_rec {
    char text[200];       /* "3 1 1 ab12..." */
    int usable;           /* DANE-EE or DANE-TA, well formed: what an
                             SMTP sender uses */
    int served_match;     /* matches the chain every address that
                             answered serves */
    int disk_match;       /* matches the certificate file */
} kw_dane_rec;

enum kw_dane_dnssec {
    KW_DANE_UNKNOWN = 0,  /* the resolver did not answer */
    KW_DANE_SECURE,       /* AD set */
    KW_DANE_INSECURE,     /* answered without AD */
    KW_DANE_BOGUS,        /* SERVFAIL */
};

typedef struct kw_dane_result {
    char host[256];
    int port;
    char qname[300];
    ks_health health;             /* the worst finding's */
    int dnssec;                   /* enum kw_dane_dnssec */
    size_t nrec;
    kw_dane_rec rec[KW_DANE_TLSA_MAX];
    int served_ok;                /* every address that answered serves
                                     a chain some usable record matches */
    int disk_ok;                  /* ... the certificate file */
    char served_311[80];          /* "3 1 1 HEX" of the first address's
                                     leaf */
    char disk_311[80];            /* of the file's leaf */
    size_t npeers;                /* the addresses probed, as in the obs */
    struct {
        char address[64];
        char served_311[80];      /* "" when it served no chain */
        int ok;                   /* a usable record matches its chain */
    } peer[KW_DANE_PEERS_MAX];
    size_t nfind, dropped;
    kw_dnssec_live_find find[KW_DANE_FINDINGS_MAX];
} kw_dane_result;

/* "secure", "insecure", "bogus", "unknown". */
const char *kw_dane_dnssec_word(int dnssec);

/* "smtp" for 25 and 587, "imap" 143, "pop3" 110, else implicit TLS:
 * the enum kw_starttls a port speaks by default. */
int kw_dane_default_starttls(int port);

/* Gathers obs (cleared first) for host/port.  0 once something was asked
 * (a server or a probe that failed is recorded in obs); KW_EINVAL for
 * bad arguments (d says which).  BLOCKS. */
int kw_dane_gather(const char *host, int port, const kw_dane_where *w,
                   kw_dane_obs *obs, kw_diag *d);

/* Judges obs at now into out (cleared first).  Pure; never fails. */
void kw_dane_judge(const kw_dane_obs *obs, int64_t now, kw_dane_result *out);

/*
 * An MX RRset as a DANE sender sees it (RFC 7672 section 2.2.1): the
 * sender applies DANE to an MX host only when the MX lookup was secure;
 * an insecure one makes it ignore the hosts' TLSA records, a bogus one
 * makes it defer the domain's mail.  host[] holds the exchanges (lower
 * case, no final dot, a null MX "." left out), for a bogus set those
 * the resolver gives with CD set, so the hosts can carry the verdict.
 */
#define KW_DANE_MX_MAX 32

typedef struct kw_dane_mx {
    int dnssec;                   /* enum kw_dane_dnssec of the MX RRset */
    size_t n;
    int truncated;                /* how many exchanges past
                                     KW_DANE_MX_MAX were left out (0:
                                     none) */
    char host[KW_DANE_MX_MAX][256];
} kw_dane_mx;

/* Asks the validating resolver for domain's MX RRset (RD and DO: its AD
 * bit and rcode are the verdict).  0 (out->n may be 0), KW_ENOTFOUND for
 * NXDOMAIN, other KW_E* when no verdict was had, d naming the resolver
 * and the domain.  BLOCKS (each question bounded by timeout_ms). */
int kw_dane_mx_lookup(const kw_dns_server *resolver, const char *domain,
                      int timeout_ms, kw_dane_mx *out, kw_diag *d);

/* The verdict on o (an MX host's judged TLSA) corrected for the MX sets
 * naming the host: secure_dom, insecure_dom, bogus_dom, a domain whose
 * MX lookup was secure, insecure or bogus (NULL or "": none).  A secure
 * one leaves the TLSA verdict as it is (a note names the domain when an
 * insecure one names the host too); an insecure one alone turns the
 * TLSA findings into warnings (DANE senders ignore them); a bogus one
 * adds a critical finding (its mail deferred).  Pure. */
void kw_dane_mx_apply(kw_dane_result *o, const char *secure_dom,
                      const char *insecure_dom, const char *bogus_dom);

/* Frees what obs holds (safe on a cleared or freed obs). */
void kw_dane_obs_free(kw_dane_obs *obs);

/* The rollover's probe (dane_roll.h): does every address of host serve
 * at port (starttls: enum kw_starttls) a leaf whose record with rdata's
 * usage, selector and matching type is rdata ("3 1 1 HEX", case
 * ignored)?  The addresses are connect (an [endpoint]'s address) or
 * else host's from the system resolver (getaddrinfo; more than
 * KW_DANE_SERVED_ADDRS_MAX is KW_ETOOBIG, never a partial proof).  0 when
 * every one does; KW_ENOTFOUND naming the first address that serves
 * another key (its record in served, cap octets, may be NULL) or none;
 * KW_E* when host has no address.  BLOCKS (a private loop per probe,
 * each bounded by timeout_ms). */
#define KW_DANE_SERVED_ADDRS_MAX 32

int kw_dane_served(const char *host, int port, int starttls,
                   const char *connect, const char *rdata, int timeout_ms,
                   char *served, size_t cap, kw_diag *d);

/* Reads the certificates of a PEM (or DER) file into c (cleared
 * first), leaf first as the file has them.  0, or KW_E* with d naming
 * the file. */
int kw_dane_read_chain(const char *path, kw_dane_chain *c, kw_diag *d);

void kw_dane_chain_free(kw_dane_chain *c);

#endif
