/*
 * acme_precheck.h: the HTTP-01 pre-check: will the CA reach the challenge?
 *
 * For one name, the check does what Let's Encrypt's VA (Boulder,
 * va/http.go) does, before an order is placed: it resolves A and AAAA
 * through a DNS resolver (never /etc/hosts), and, for each address family
 * (IPv6 first, as the CA prefers it), GETs
 * http://NAME/.well-known/acme-challenge/TOKEN on the CA's HTTP port with
 * the address pinned, following redirects itself with the CA's rules:
 * only 301/302/307/308, only http and https, only the CA's two ports, at
 * most 11 redirects followed (Boulder checks "> 10" before counting, so
 * the 12th redirect is refused), no URL twice, no host ending in
 * ".well-known", TLS 1.2 or newer without certificate verification, 10 s
 * per connection.  The final answer must be 200 with a body under 128
 * bytes equal to the key authorization once trailing whitespace is
 * trimmed.  Every hop is recorded; the verdict names the problem and a
 * fix an operator can paste.
 *
 * Safety: only GET, only URLs the CA itself would fetch (the first is
 * always the well-known path on the name given), at most 4 KiB of any
 * body read, every wait bounded.  Addresses in reserved ranges (loopback,
 * private, link-local...) are refused unless allow_reserved is set (tests,
 * or a CA on the same private network): the CA cannot reach them either,
 * and the check must not become a way to probe internal services.
 *
 * Known differences from Boulder: the IANA TLD check on redirect hosts is
 * not done; Boulder retries once over IPv4 when the IPv6 connection fails,
 * while this check reports a broken AAAA as a failure (AAAA_BROKEN), since
 * Pebble does not retry and the retry costs the CA's time budget.
 */
#ifndef ACME_PRECHECK_H
#define ACME_PRECHECK_H

#include "../common/kw_err.h"
#include "../dns/dns_resolve.h"

#include <stddef.h>
#include <uv.h>

/* Boulder's limits (va/http.go). */
#define ACME_PC_MAX_REDIRECTS 10   /* maxRedirect: "> 10" refuses */
#define ACME_PC_MAX_RESPONSE 128   /* maxResponseSize */
#define ACME_PC_MAX_PATH 2000      /* maxPathSize */
/* The most requests one walk makes: the first and 11 redirects. */
#define ACME_PC_MAX_HOPS (ACME_PC_MAX_REDIRECTS + 2)
/* Longest URL kept per hop (a longer Location is cut for display). */
#define ACME_PC_URL_MAX 2400
/* Bytes of a body read at most (judged with the 128-byte rule). */
#define ACME_PC_BODY_READ 4096

typedef enum acme_pc_verdict {
    ACME_PC_OK = 0,
    ACME_PC_DNS_NO_ADDRESS,     /* no A and no AAAA (or NXDOMAIN) */
    ACME_PC_DNS_FAILED,         /* the resolver failed or did not answer */
    ACME_PC_RESERVED_ADDRESS,   /* only loopback/private addresses */
    ACME_PC_CONNECT_REFUSED,    /* refused (or unreachable) */
    ACME_PC_CONNECT_TIMEOUT,    /* no connection within the timeout */
    ACME_PC_AAAA_BROKEN,        /* IPv6 fails while IPv4 works */
    ACME_PC_BAD_STATUS,         /* final status not 200, or a 303 etc. */
    ACME_PC_PATH_DROPPED,       /* a redirect lost the challenge path */
    ACME_PC_BAD_PORT,           /* redirect to a port the CA won't use */
    ACME_PC_BAD_SCHEME,         /* redirect to neither http nor https */
    ACME_PC_BAD_HOST,           /* redirect to a reserved IP, a bad name */
    ACME_PC_BAD_LOCATION,       /* a Location that is not a URL, too long */
    ACME_PC_MISSING_SLASH,      /* host ends in ".well-known" */
    ACME_PC_LOOP,               /* a URL requested twice */
    ACME_PC_TOO_MANY_REDIRECTS, /* more than the CA follows */
    ACME_PC_HTML_BODY,          /* 200, but HTML or 128 bytes or more */
    ACME_PC_WRONG_BODY,         /* 200, short, not the key authorization */
    ACME_PC_TLS_FAILED,         /* handshake failed (SNI, TLS < 1.2...) */
    ACME_PC_HTTP_ERROR,         /* any other failed transfer */
    ACME_PC_TIMEOUT,            /* the walk's time budget ran out */
    ACME_PC_INTERNAL,           /* out of memory and such */
    ACME_PC_NVERDICTS
} acme_pc_verdict;

/* "OK", "PATH_DROPPED"...; never NULL. */
const char *acme_pc_verdict_name(acme_pc_verdict v);

/* The ports the CA uses: http_port for the first request and for
 * redirects to http, https_port for https (80 and 443 for a real CA;
 * tests use free ports, which then stand for 80 and 443). */
typedef struct acme_pc_rules {
    int http_port;       /* 0: 80 */
    int https_port;      /* 0: 443 */
    int allow_reserved;  /* accept loopback/private IP redirect targets */
} acme_pc_rules;

typedef struct acme_precheck_opts {
    const kw_dns_server *resolver; /* NULL: first nameserver of
                                    * /etc/resolv.conf */
    acme_pc_rules rules;
    int connect_ms;      /* per connection (TCP + TLS); 0: 10000 */
    int walk_ms;         /* per address family, all hops; 0: 20000 */
    int dns_ms;          /* per DNS lookup; 0: 5000 */
    const char *user_agent; /* NULL: keywarden's */
} acme_precheck_opts;

typedef struct acme_pc_hop {
    char url[ACME_PC_URL_MAX];
    char addr[48];        /* the address connected to */
    long status;          /* 0: no HTTP answer */
    char location[ACME_PC_URL_MAX]; /* Location as sent, "" if none */
    char error[256];      /* the transfer's failure, "" if none */
} acme_pc_hop;

typedef struct acme_pc_walk {
    int family;           /* 6 or 4; 0: not tried (no such address) */
    acme_pc_verdict verdict;
    char why[768];
    /* Allocated as the walk goes (most walks have one to three hops: a
     * fixed array made fifty concurrent checks cost 6 MiB). */
    acme_pc_hop *hops;
    size_t nhops;
} acme_pc_walk;

typedef struct acme_precheck_result {
    char name[256];
    int ok;               /* the CA would succeed */
    acme_pc_verdict verdict;
    char why[1024];       /* one paragraph: what fails, where */
    char fix[3072];       /* what to change, with config snippets */
    char note[512];       /* a remark when ok (e.g. IPv4 broken) */
    kw_dns_addr v6[KW_DNS_ADDRS_MAX], v4[KW_DNS_ADDRS_MAX];
    size_t n6, n4;
    acme_pc_walk walks[2]; /* [0]: IPv6, [1]: IPv4 */
    double elapsed;       /* seconds */
} acme_precheck_result;

/* A deep copy of src (its hops too) into dst, to keep after the callback;
 * 0 or KW_ENOMEM.  acme_precheck_result_clear frees the hops of a copy. */
int acme_precheck_result_copy(acme_precheck_result *dst,
                              const acme_precheck_result *src);
void acme_precheck_result_clear(acme_precheck_result *r);

/* Called once with the result, on the loop; r is freed when it returns
 * (acme_precheck_result_copy keeps it). */
typedef void (*acme_precheck_cb)(void *ctx, const acme_precheck_result *r);

/*
 * Starts the check of name (a host name; the challenge file token must be
 * in place, and keyauth is what it must serve).  Returns 0 and runs cb
 * exactly once, later, on loop; or fails synchronously (bad arguments, no
 * resolver) and never runs cb.  The check ends by itself within about
 * 2 * (walk_ms + 2 * dns_ms); there is no cancel: let the loop run until
 * the callback has run.
 */
int acme_precheck_run(uv_loop_t *loop, const acme_precheck_opts *o,
                      const char *name, const char *token,
                      const char *keyauth, acme_precheck_cb cb, void *ctx,
                      kw_diag *d);

/* ----- the pure parts, exposed for unit tests and the CLI --------------- */

/*
 * One redirect as the CA judges it.  url is the URL just fetched, status
 * its answer, location its Location header (NULL: none), redirects the
 * number already followed before this one, seen[0..nseen) every URL
 * fetched so far (url included).  ACME_PC_OK with the absolute target in
 * next (cap bytes) when the CA would follow it; else the verdict, with why
 * in why (wcap bytes).  Relative Locations are resolved against url (RFC
 * 3986).  A status that is no redirect at all (200, 404, 300...) returns
 * ACME_PC_BAD_STATUS: the caller judges those with judge_final.
 */
acme_pc_verdict acme_precheck_judge_redirect(const acme_pc_rules *rules,
                                             const char *url, long status,
                                             const char *location,
                                             size_t redirects,
                                             const char *const *seen,
                                             size_t nseen, char *next,
                                             size_t cap, char *why,
                                             size_t wcap);

/*
 * The last answer: status, content_type (may be NULL), the first len
 * bytes of the body (truncated: more followed) against keyauth.
 * ACME_PC_OK, BAD_STATUS, HTML_BODY (HTML, or 128 bytes or more) or
 * WRONG_BODY, with why.
 */
acme_pc_verdict acme_precheck_judge_final(long status,
                                          const char *content_type,
                                          const char *body, size_t len,
                                          int truncated, const char *keyauth,
                                          char *why, size_t wcap);

/* Does url's path still lead to /.well-known/acme-challenge/TOKEN? */
int acme_precheck_path_kept(const char *url, const char *token);

/* Is the IP literal addr (v4 or v6) in a reserved range (loopback,
 * private, link-local, CGNAT, documentation, multicast, unspecified...)?
 * -1 when addr is no IP literal. */
int acme_precheck_reserved_ip(const char *addr);

/* The hops of a walk as one line per hop ("URL [addr] -> 301 -> LOC")
 * into buf (always terminated). */
void acme_precheck_hops_text(const acme_pc_walk *w, char *buf, size_t cap);

/* Fills r->fix for r->verdict (uses r->name and the hops). */
void acme_precheck_fix(acme_precheck_result *r, const char *token);

#endif
