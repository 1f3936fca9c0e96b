/*
 * acme_jws.h: the cryptography ACME needs on the wire (RFC 8555 section 6.2,
 * RFC 7515 flattened JSON serialization, RFC 7638 thumbprints).
 *
 * Pure functions of their arguments: no I/O, no globals.  JSON is built
 * with jansson; every output string is malloc'd and owned by the caller.
 */
#ifndef ACME_JWS_H
#define ACME_JWS_H

#include "../common/kw_err.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>

/* base64url without padding (RFC 7515 section 2).  Returns a malloc'd
 * string, NULL when out of memory. */
char *acme_b64url(const unsigned char *in, size_t n);

/* Decodes base64url (padding optional).  Returns a malloc'd buffer and its
 * length in *n, NULL on invalid input or out of memory. */
unsigned char *acme_b64url_decode(const char *in, size_t *n);

/* The JWS "alg" for an account key: "ES256" (P-256), "ES384" (P-384),
 * "RS256" (RSA >= 2048), "EdDSA" (Ed25519); NULL for anything else. */
const char *acme_jws_alg(EVP_PKEY *key);

/* The public JWK of key, with only the required members (RFC 7638
 * section 3.2: EC crv,kty,x,y; RSA e,kty,n; OKP crv,kty,x). */
json_t *acme_jwk(EVP_PKEY *key, kw_diag *d);

/* RFC 7638 SHA-256 thumbprint of key's JWK, base64url (43 chars). */
char *acme_jwk_thumbprint(EVP_PKEY *key, kw_diag *d);

/* The key authorization of an http-01/dns-01 challenge: token "." thumbprint
 * (RFC 8555 section 8.1). */
char *acme_key_authorization(const char *token, const char *thumbprint);

/* The dns-01 TXT value: base64url(SHA-256(key authorization)). */
char *acme_dns01_value(const char *key_authorization);

/* A flattened JWS (JSON text) for an ACME POST.  Protected header: alg,
 * nonce, url, and kid when kid != NULL, else jwk.  payload NULL means
 * POST-as-GET (empty payload, RFC 8555 section 6.3); otherwise it is the
 * JSON text of the payload.  ECDSA signatures are the fixed-size r||s
 * form JWS requires, not DER. */
char *acme_jws_sign(EVP_PKEY *key, const char *kid, const char *nonce,
                    const char *url, const char *payload, kw_diag *d);

/* External Account Binding (RFC 8555 section 7.3.4): a flattened JWS whose
 * payload is the account key's JWK, signed with HMAC under the CA-issued
 * key; alg is "HS256", "HS384" or "HS512".  Returns the JWS as a JSON
 * object, NULL on error. */
json_t *acme_jws_eab(const char *eab_kid, const unsigned char *hmac_key,
                     size_t key_len, const char *alg, EVP_PKEY *account_key,
                     const char *url, kw_diag *d);

/* keyChange (RFC 8555 section 7.3.5): the inner JWS, signed by new_key,
 * with payload {"account": account_url, "oldKey": JWK of old_key}.  The
 * caller signs the returned text as the payload of an outer JWS with the
 * old key. */
char *acme_jws_key_change(EVP_PKEY *new_key, EVP_PKEY *old_key,
                          const char *account_url, const char *url,
                          kw_diag *d);

#endif
