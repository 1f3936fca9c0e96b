/*
 * dns01.h: the dns-01 answer of a managed certificate: a TXT record at
 * _acme-challenge.NAME, put there by an RFC 2136 update signed with TSIG
 * (dns/) or by an operator's program (dns_exec), and waited for until
 * every authoritative server answers it.  All of it runs on the libuv
 * thread pool; the result comes back on the loop.
 */
#ifndef KW_DNS01_H
#define KW_DNS01_H

#include "../common/kw_err.h"

#include <stdint.h>
#include <uv.h>

/* A [certificate]'s dns-01 settings (service/config.c fills them in a
 * kw_renew_params, defaults applied, its strings borrowed from the
 * configuration).  A copy made by kw_dns01_conf_dup owns its strings and
 * is freed with kw_dns01_conf_free. */
typedef struct kw_dns01_conf {
    char *server, *zone, *tsig_key, *tsig_alg, *tsig_secret, *exec;
    char **check;
    size_t ncheck;
    int64_t wait; /* seconds */
} kw_dns01_conf;

int kw_dns01_conf_dup(kw_dns01_conf *dst, const kw_dns01_conf *src);
void kw_dns01_conf_free(kw_dns01_conf *c);

/* status: 0 when every server answers the record, else the KW_E* code of
 * what failed, with d saying what and where (d is borrowed for the
 * call; its msg is "" on success). */
typedef void (*kw_dns01_cb)(void *ctx, int status, const kw_diag *d);

/* Publishes value at _acme-challenge.IDENT and waits until every server
 * (dns_check, else the zone's NS) answers it; cb runs on the loop.  The
 * settings and strings are copied. */
int kw_dns01_present(uv_loop_t *loop, const kw_dns01_conf *c,
                     const char *cert, const char *ident, const char *value,
                     kw_dns01_cb cb, void *ctx, kw_diag *d);

/* Removes it again, in the background (a failure is logged). */
void kw_dns01_cleanup(uv_loop_t *loop, const kw_dns01_conf *c,
                      const char *cert, const char *ident,
                      const char *value);

/* Runs prog with argv (NULL-terminated; no shell), bounded by timeout_ms;
 * its output (4 KiB kept) is read and its last line quoted in the error.
 * Exposed for tests. */
int kw_dns01_run(const char *const argv[], int timeout_ms, kw_diag *d);

#endif
