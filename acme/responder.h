/*
 * responder.h: the built-in http-01 responder (RFC 8555 section 8.3).
 *
 * Answers GET /.well-known/acme-challenge/TOKEN with the key
 * authorization of a token an order placed, 404 for anything else.  It
 * runs on the daemon's loop, on the small HTTP server of http.c (bounded
 * connections, heads and time).
 */
#ifndef KW_RESPONDER_H
#define KW_RESPONDER_H

#include "../common/kw_err.h"

#include <stddef.h>
#include <uv.h>

typedef struct kw_responder kw_responder;

/* Listens on addr ("0.0.0.0:80", "127.0.0.1:5002"). */
int kw_responder_start(uv_loop_t *loop, const char *addr,
                       kw_responder **out, kw_diag *d);

/* Serves key_authorization for token until kw_responder_remove. */
int kw_responder_add(kw_responder *r, const char *token,
                     const char *key_authorization, kw_diag *d);
void kw_responder_remove(kw_responder *r, const char *token);

/* Tokens served now; requests answered 200 and 404 so far. */
size_t kw_responder_count(const kw_responder *r);
void kw_responder_stats(const kw_responder *r, size_t *hits, size_t *misses);

void kw_responder_stop(kw_responder *r);

#endif
