/*
 * ks_endpoint.h: what a probe of a TLS endpoint found, in the inventory.
 *
 * Each endpoint is an object (kind tls, source "tls://HOST:PORT" or
 * "smtp://HOST:PORT" for STARTTLS) whose facts are the served chain, so
 * the expiry rules apply to what clients actually get; its endpoints row
 * holds the probe's outcome.  A served leaf older than the newest
 * certificate on disk for the same names is recorded as stale: the
 * daemon serving the endpoint was not reloaded after a renewal.
 */
#ifndef KS_ENDPOINT_H
#define KS_ENDPOINT_H

#include "ks_cert.h"
#include "ks_store.h"

#include <stddef.h>
#include <stdint.h>

typedef struct ks_probe_obs {
    const char *name;      /* the endpoint's configured name */
    const char *host;
    int port;
    const char *sni;       /* may be NULL */
    const char *starttls;  /* "none", "smtp", "imap", "pop3" */
    const char *origin;    /* "config", "discovered" or "mx" (an MX host
                              of a mail domain, the dane-check job's) */
    int ok;
    const char *error;     /* when !ok */
    const char *tls_version;
    int name_matches;
    const ks_cert *chain;  /* as served, leaf first */
    size_t nchain;
} ks_probe_obs;

/* Record one probe at time now.  *stale_of is set to the id of the newer
 * on-disk object when the endpoint serves an older certificate, else 0;
 * *object_id to the endpoint's object.  An event records each change of
 * outcome (probe.failed, probe.recovered, probe.stale, probe.fresh). */
int ks_endpoint_record(ks_store *s, const ks_probe_obs *o, int64_t now,
                       int64_t *object_id, int64_t *stale_of, kw_diag *d);

/* After a scan changed certificates on disk: re-decide which endpoints
 * serve stale certificates, without probing again.  *nstale counts the
 * endpoints found stale. */
int ks_endpoint_recheck(ks_store *s, int64_t now, size_t *nstale,
                        kw_diag *d);

/* Call cb with the SANs (a JSON array's text, NULL when unknown) of each
 * certificate the endpoint called name served when last probed; the text
 * lives until cb returns.  A nonzero return of cb stops the walk. */
int ks_endpoint_sans_each(ks_store *s, const char *name,
                          int (*cb)(void *ctx, const char *sans), void *ctx,
                          kw_diag *d);

/* Forget configured endpoints (origin "config"; and their objects) whose
 * names are not in keep. */
int ks_endpoint_prune(ks_store *s, const char *const *keep, size_t nkeep,
                      kw_diag *d);

/* The same for the endpoints of one origin: "mx" for the MX hosts of
 * the mail domains that the dane-check job records (service/job_dane.c),
 * which no [endpoint] names. */
int ks_endpoint_prune_origin(ks_store *s, const char *origin,
                             const char *const *keep, size_t nkeep,
                             kw_diag *d);

#endif
