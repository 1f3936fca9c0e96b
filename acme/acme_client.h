/*
 * acme_client.h: one ACME certificate order (RFC 8555), as a state machine
 * on the libuv loop.
 *
 *   directory -> nonce -> account -> newOrder (or the saved order URL)
 *     -> authorizations: present each http-01 token, answer the challenge
 *     -> poll the order until ready -> finalize with the CSR
 *     -> poll until valid -> download the chain
 *
 * Every signed request carries a fresh nonce; a badNonce answer is retried
 * (up to 20 times in a row)
 * with the nonce that came with it (RFC 8555 section 6.5), so Pebble's
 * nonce rejection never costs a certificate.  Polls honour Retry-After and
 * otherwise back off from 50 ms to 5 s.  Problem documents (and their
 * subproblems) end up verbatim in the outcome's detail.
 *
 * The caller persists progress through the step callback (the order URL
 * once it exists), so an order interrupted by a crash resumes: start a new
 * acme_order with resume_url set and the same CSR key.
 *
 * The order's states, their transitions and invariants are written above
 * the code in acme_client.c; each change is logged at debug level as
 * "acme order URL: old -> new".  The directory's fields are read by
 * acme_directory_read() (acme_directory.h).  Everything runs on the loop
 * of the acme_http it was given: nothing here blocks, and callbacks never
 * run inside acme_order_start().
 */
#ifndef ACME_CLIENT_H
#define ACME_CLIENT_H

#include "acme_http.h"

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

/* A challenge to make answerable: for http-01, serve value (the key
 * authorization) at /.well-known/acme-challenge/TOKEN; for dns-01,
 * publish value (base64url SHA-256 of it) as TXT at
 * _acme-challenge.IDENTIFIER. */
typedef struct acme_challenge {
    const char *type;       /* "http-01" or "dns-01" */
    const char *identifier; /* the name, without "*." for a wildcard */
    int wildcard;
    const char *token;
    const char *value;
} acme_challenge;

/* How the caller makes answers available.  present() returns 0 when the
 * answer is in place, ACME_PRESENT_PENDING when it will call
 * acme_order_presented() later (DNS: publish, then wait until every
 * authoritative server answers), or a negative error with d set.
 * cleanup() runs once for each successful present(), when the order no
 * longer needs it. */
#define ACME_PRESENT_PENDING 1

typedef struct acme_order acme_order;

typedef struct acme_solver {
    void *ctx;
    int (*present)(void *ctx, acme_order *o, const acme_challenge *c,
                   kw_diag *d);
    void (*cleanup)(void *ctx, const acme_challenge *c);
} acme_solver;

/* A pending present() ended: ok, or not with msg saying why. */
void acme_order_presented(acme_order *o, int ok, const char *msg);

typedef enum acme_op {
    ACME_OP_ORDER = 0,   /* names, csr_der: a certificate */
    ACME_OP_REVOKE,      /* cert_der, reason (RFC 8555 section 7.6) */
    ACME_OP_KEY_CHANGE,  /* new_key (section 7.3.5) */
} acme_op;

typedef struct acme_order_params {
    acme_op op;
    const char *directory_url;
    EVP_PKEY *account_key;
    const char *account_url; /* known account (kid), or NULL */
    const char *contact;     /* "mailto:..." or NULL */
    const char *const *names;
    size_t nnames;
    const unsigned char *csr_der;
    size_t csr_len;
    const char *profile;     /* or NULL */
    const char *replaces;    /* ARI certificate id, or NULL */
    const char *resume_url;  /* continue this order, or NULL */
    const char *challenge;   /* "http-01" (NULL) or "dns-01" */
    /* Among the chains the CA offers (Link: rel="alternate"), prefer the
     * one whose topmost certificate was issued by this common name. */
    const char *preferred_chain;
    /* External Account Binding (section 7.3.4), when the CA asks for it:
     * the key identifier and the MAC key (raw bytes), alg "HS256" unless
     * set. */
    const char *eab_kid;
    const unsigned char *eab_key;
    size_t eab_key_len;
    const char *eab_alg;
    /* ACME_OP_REVOKE: the certificate (DER) and the CRL reason code
     * (RFC 5280: 0 unspecified, 1 keyCompromise, 4 superseded, 5
     * cessationOfOperation...), -1 for none. */
    const unsigned char *cert_der;
    size_t cert_len;
    int reason;
    /* ACME_OP_KEY_CHANGE: the account's next key. */
    EVP_PKEY *new_key;
    int max_bad_nonce;       /* 0: 20 retries of one request */
    int64_t poll_limit_s;    /* 0: 600 s of polling per phase */
} acme_order_params;

typedef enum acme_fail {
    ACME_OK = 0,
    ACME_FAIL_TRANSIENT,  /* network, 5xx, timeouts: retry with backoff */
    ACME_FAIL_VALIDATION, /* a challenge failed: fix the site, then retry */
    ACME_FAIL_RATELIMIT,  /* rateLimited: retry after retry_after */
    ACME_FAIL_PERMANENT,  /* rejectedIdentifier, unauthorized, badCSR...:
                             retrying the same request cannot succeed */
    ACME_FAIL_CANCELLED,
} acme_fail;

typedef struct acme_outcome {
    acme_fail fail;
    char *fullchain;       /* PEM, leaf first (ok only) */
    size_t len;
    const char *account_url;
    const char *order_url;
    char problem_type[128]; /* e.g. urn:ietf:params:acme:error:unauthorized */
    char detail[2048];      /* what failed, where, and the CA's words */
    int64_t retry_after;    /* seconds, -1 when the CA did not say */
    char chain_note[256];   /* about the chain chosen, or "" */
    int requests;           /* HTTP requests made */
    int bad_nonces;         /* badNonce answers retried */
} acme_outcome;

/* Progress worth saving: "account" (url = account URL), "order" (url =
 * order URL), "finalized" (url = order URL). */
typedef void (*acme_step_cb)(void *ctx, const char *step, const char *url);
typedef void (*acme_done_cb)(void *ctx, const acme_outcome *o);

/* Starts an order (or, by p->op, a revocation or an account key
 * change: the same directory, nonce and account steps, then one signed
 * request).  Strings in p are copied; the keys must outlive the
 * order.  done() is called exactly once (also after acme_order_cancel),
 * after which the order frees itself. */
int acme_order_start(acme_http *h, const acme_order_params *p,
                     const acme_solver *solver, acme_step_cb step,
                     acme_done_cb done, void *ctx, acme_order **out,
                     kw_diag *d);

/* Stops an order: its done() runs with ACME_FAIL_CANCELLED once the
 * request in flight (if any) returns or is cancelled. */
void acme_order_cancel(acme_order *o);

/* Classifies an ACME problem type (the part after "error:"). */
acme_fail acme_problem_class(const char *type);

#endif
