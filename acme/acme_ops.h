/*
 * acme_ops.h: the ACME requests an operator asks for by hand: revoke a
 * managed certificate, roll the account key over.  Each runs the
 * directory, nonce and account steps of acme_client, then one signed
 * request, and records an event.
 */
#ifndef KW_ACME_OPS_H
#define KW_ACME_OPS_H

#include "renew.h"

typedef void (*kw_acme_op_cb)(void *ctx, int ok, const char *msg);

/* Revokes the live certificate of c with the account that issued it.
 * reason: an RFC 5280 CRL reason code, or -1.  Records cert.revoked. */
int kw_revoke_start(kw_acme_env *env, const kw_cert_conf *c, int reason,
                    kw_acme_op_cb cb, void *ctx, kw_diag *d);

/* Replaces the account key for the [acme] directory (RFC 8555 section
 * 7.3.5): a new key of the same type is written next to the old one, the
 * CA is told, and only then is the new key renamed over the old file.
 * Records account.key_changed. */
int kw_account_rollover_start(kw_acme_env *env, kw_acme_op_cb cb, void *ctx,
                              kw_diag *d);

/* "keyCompromise" -> 1, ... (RFC 5280 section 5.3.1); -1 if unknown. */
int kw_revoke_reason_parse(const char *s);

#endif
