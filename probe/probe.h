/*
 * probe/: what the servers actually serve and use, as opposed to what
 * keywarden wrote.
 *
 * The folder owns three modules over one endpoint type (endpoint.h):
 *   - probe.h (this file): fetch the chain a TLS endpoint serves;
 *   - verify.h: after a renewal, probe until the endpoints serve the new
 *     leaf, and record the ones that stay stale;
 *   - discover.h: read the Postfix, Dovecot and nginx configurations for
 *     the certificate files and endpoints they use.
 * It depends on keystore/ and common/ only, and never on service/ or cli/
 * (verify.h takes the endpoints as a list, not the configuration); the
 * daemon's jobs and the command line call it.
 *
 * Handles: a kw_probe or kw_verifier lives from its start function until
 * its callback has run, and is freed by this module right after; the
 * caller never frees it and must not touch it once the callback ran.  The
 * kw_probe_result passed to the callback lives for that call only, and
 * what it holds (the chain) is the callback's to release with
 * kw_probe_result_clear(); a kw_discovery belongs to the caller, freed
 * with kw_discovery_free().
 *
 * Callbacks: the start functions either fail (and the callback never runs)
 * or return 0 and the callback runs exactly once, from the loop, never
 * from inside the start function; cancelling still runs it once.
 *
 * Blocking: probes and verification never block the loop (sockets and
 * timers through libuv; verification reads and writes the inventory on
 * the thread pool).  Discovery BLOCKS (files read, `nginx -T` run for up
 * to 10 s) and so does kw_discover_apply() (SQLite): the daemon runs them
 * in a job on the thread pool, the command line directly.
 *
 * probe.h: fetch the certificate chain a TLS endpoint serves.
 *
 * Asynchronous on a libuv loop: resolve (thread pool), connect, for
 * STARTTLS the protocol's plain-text dialogue (SMTP EHLO/STARTTLS, IMAP
 * STARTTLS, POP3 STLS), then a TLS handshake through OpenSSL memory BIOs.
 * The whole probe is bounded by one timeout; every buffer the peer fills
 * is bounded.  The chain is not verified (a probe must report an expired
 * or self-signed certificate, not fail on it); the host name is checked
 * against the leaf and reported.
 *
 * Callback contract: kw_probe_start() either fails (and the callback never
 * runs) or returns 0 and the callback runs exactly once, from the loop,
 * never from inside kw_probe_start().
 */
#ifndef KW_PROBE_H
#define KW_PROBE_H

#include "endpoint.h"
#include "../keystore/ks_cert.h"

#include <uv.h>

#define KW_PROBE_MAX_CHAIN 16

typedef struct kw_probe_result {
    int ok;                /* a TLS handshake completed */
    char error[512];       /* why not: refused, timed out (and in which
                              phase), STARTTLS refused, handshake failed */
    char address[64];      /* the address that answered (or failed last) */
    char tls_version[16];  /* "TLSv1.3" */
    char cipher[64];
    int name_matches;      /* the leaf covers the name probed (SNI/host) */
    ks_cert chain[KW_PROBE_MAX_CHAIN]; /* as served, leaf first */
    unsigned char *der[KW_PROBE_MAX_CHAIN]; /* chain[i] as served (DER,
                              OPENSSL_malloc'd): DANE matches its bytes */
    size_t der_len[KW_PROBE_MAX_CHAIN];
    size_t nchain;
    double elapsed_ms;
    int cancelled;         /* kw_probe_cancel() ended it */
} kw_probe_result;

typedef void (*kw_probe_cb)(void *ctx, kw_probe_result *res);

typedef struct kw_probe kw_probe;

/* Probe ep (host, port, sni, starttls, timeout).  On success the callback
 * gets a result it must release with kw_probe_result_clear(); *handle
 * (may be NULL) identifies the probe until its callback has run. */
int kw_probe_start(uv_loop_t *loop, const kw_endpoint_conf *ep,
                   kw_probe_cb cb, void *ctx, kw_probe **handle);

/* Stop a running probe; its callback still runs (once, later), with
 * error "cancelled" and `cancelled` set. */
void kw_probe_cancel(kw_probe *p);

void kw_probe_result_clear(kw_probe_result *res);

struct ks_probe_obs;
/* What the inventory records of a probe of the configured endpoint ep;
 * o points into ep and res. */
void kw_probe_obs_fill(struct ks_probe_obs *o, const kw_endpoint_conf *ep,
                       const kw_probe_result *res);

/* Parse "HOST:PORT" or "[V6]:PORT" (port optional when default_port > 0)
 * into host and port. */
int kw_parse_host_port(const char *s, int default_port, char *host,
                       size_t hostlen, int *port);

#endif
