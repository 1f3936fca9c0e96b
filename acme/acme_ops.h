/*
 * acme_ops.h: the ACME requests an operator asks for by hand: revoke a
 * managed certificate, roll the account key over.  Each runs the
 * directory, nonce and account steps of acme_client, then one signed
 * request, and records an event.
 */
#ifndef KW_ACME_OPS_H
#define KW_ACME_OPS_H

#include "renew.h"

/* What a revocation or a key rollover came to, borrowed for the
 * callback's duration. */
typedef struct kw_acme_op_result {
    /* 0, or what kind of failure: KW_EREJECTED (the CA's problem
     * document), KW_EIO (the network, the CA's 5xx, the thread pool),
     * KW_ECANCELED, or the code of a local step (the account key, the
     * certificate file, a rename). */
    int status;
    /* Done: what was done ("revoked", "account key changed").  Failed:
     * what failed and where, with the CA's words. */
    const char *msg;
} kw_acme_op_result;

typedef void (*kw_acme_op_cb)(void *ctx, const kw_acme_op_result *r);

/* Revokes the live certificate of c (its name and directory) with the
 * account that issued it.  reason: an RFC 5280 CRL reason code, or -1.
 * Records cert.revoked. */
int kw_revoke_start(kw_acme_env *env, const kw_renew_params *c, int reason,
                    kw_acme_op_cb cb, void *ctx, kw_diag *d);

/* Replaces the account key for env's directory, [acme]'s (RFC 8555
 * section 7.3.5): a new key of the same type is written next to the old
 * one, the CA is told, and only then is the new key renamed over the old
 * file.  Records account.key_changed. */
int kw_account_rollover_start(kw_acme_env *env, kw_acme_op_cb cb, void *ctx,
                              kw_diag *d);

/* "keyCompromise" -> 1, ... (RFC 5280 section 5.3.1); -1 if unknown. */
int kw_revoke_reason_parse(const char *s);

#endif
