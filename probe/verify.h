/*
 * verify.h: close the loop from "renewed" to "served".
 *
 * Once a cert.renewed event has no hook delivery left open (its reloads
 * ran, or there were none), the configured endpoints that served the
 * certificate's names are probed until they serve the new leaf: at once,
 * then after 1, 2, 4, 8 and 15 seconds (half a minute in all; a reload
 * takes about a second).  The last probe is recorded like the daemon's
 * own.  An endpoint still serving
 * another certificate at the end gets a probe.stale event saying which
 * certificate it should serve, and its health says stale; a log line
 * names the endpoint and the hook that should have reloaded it.
 */
#ifndef KW_VERIFY_H
#define KW_VERIFY_H

#include "endpoint.h"
#include "../common/kw_err.h"

#include <jansson.h>
#include <uv.h>

typedef struct kw_verifier kw_verifier;

/* done runs once when every endpoint was settled, with how many serve the
 * new leaf and how many do not. */
typedef void (*kw_verify_cb)(void *ctx, const char *certificate,
                             size_t fresh, size_t stale);

/* Start verifying the cert.renewed event ev (its "object", "names" and
 * "fingerprint_sha256") against the neps endpoints eps, which are
 * copied.
 * Returns 0 and calls done exactly once later, or an error (then never).
 * *out identifies the verification until done has run. */
int kw_verify_start(uv_loop_t *loop, const char *db_path,
                    const kw_endpoint_conf *eps, size_t neps, json_t *ev,
                    kw_verify_cb done, void *ctx, kw_verifier **out,
                    kw_diag *d);

/* Stop at the next step (a probe in flight is cancelled); done still runs
 * once. */
void kw_verify_cancel(kw_verifier *v);

#endif
