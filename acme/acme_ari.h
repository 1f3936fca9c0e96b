/*
 * acme_ari.h: ACME Renewal Information (RFC 9773).
 *
 * The CA suggests a window in which to renew each certificate (earlier
 * than usual when it plans to revoke); a renewal inside the window that
 * names the certificate it replaces is exempt from Let's Encrypt's rate
 * limits.  This module computes the certificate's ARI identifier and asks
 * the CA for the window; the caller picks a time in it and decides.
 */
#ifndef ACME_ARI_H
#define ACME_ARI_H

#include "acme_http.h"

#include <openssl/x509.h>
#include <stdint.h>

/* base64url(authorityKeyIdentifier) "." base64url(serial number octets)
 * (RFC 9773 section 4.1); NULL (with d set) when the certificate has no
 * AKI key identifier. */
char *acme_ari_cert_id(X509 *cert, kw_diag *d);

typedef struct acme_ari_result {
    int ok;              /* an answer was read */
    int offered;         /* the directory lists renewalInfo */
    int64_t start, end;  /* the suggested window (UTC seconds) */
    int64_t retry_after; /* when to ask again, seconds; -1 not said */
    char explanation[512]; /* explanationURL, or "" */
    char error[768];     /* why !ok */
} acme_ari_result;

typedef void (*acme_ari_cb)(void *ctx, const acme_ari_result *r);

/* Reads the directory, then GETs renewalInfo/cert_id.  cb runs once, on
 * the loop.  A directory without renewalInfo is ok with offered = 0. */
int acme_ari_fetch(acme_http *h, const char *directory_url,
                   const char *cert_id, acme_ari_cb cb, void *ctx,
                   kw_diag *d);

/* A time in [start, end) chosen by u in [0, 1) (RFC 9773 section 4.2:
 * uniformly at random).  start when the window is empty or inverted. */
int64_t acme_ari_pick(int64_t start, int64_t end, double u);

#endif
