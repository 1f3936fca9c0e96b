/*
 * http01.h: where an http-01 answer goes: the built-in responder (started
 * on first use, on [acme] http01_listen) or a token file in a webroot.
 * Used by renewals and by the pre-check, which places its probe token the
 * way the real order will.
 */
#ifndef KW_HTTP01_H
#define KW_HTTP01_H

#include "renew.h"

/* Puts key_authorization at /.well-known/acme-challenge/TOKEN: in
 * webroot when it is not NULL (a 0644 file, renamed into place), else in
 * env's responder, started on listen first if needed. */
int kw_http01_put(kw_acme_env *env, const char *webroot, const char *listen,
                  const char *token, const char *key_authorization,
                  kw_diag *d);

/* Takes it away again (a failure to remove a file is logged). */
void kw_http01_remove(kw_acme_env *env, const char *webroot,
                      const char *token);

#endif
