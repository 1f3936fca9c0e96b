/*
 * precheck.h: the HTTP-01 pre-check of a certificate's names, the way the
 * CA will validate them (acme/acme_precheck), with a probe token placed
 * by the same means the real order uses (webroot file or responder) and
 * removed afterwards.  Names are checked one after another; the report
 * has every name's verdict, hops and fix.
 */
#ifndef KW_PRECHECK_H
#define KW_PRECHECK_H

#include "renew.h"

#include <jansson.h>

typedef struct kw_precheck_req {
    const char *const *names;
    size_t nnames;
    const char *webroot;   /* NULL: the built-in responder */
    const char *listen;    /* the responder's address */
} kw_precheck_req;

/* What the pre-check found, borrowed (with everything in it) for the
 * callback's duration. */
typedef struct kw_precheck_result {
    /* 0: every name passes.  KW_EREJECTED: the CA's validation would fail
     * for a name.  Else the code of a check that could not run. */
    int status;
    const char *summary; /* the first failure's verdict and why ("" when
                            status is 0) */
    const char *fix;     /* what to change for that failure, or "" */
    /* One object per name (name, ok, verdict, why, fix, note, hops:
     * [{url, addr, status, location, error}]). */
    json_t *report;
} kw_precheck_result;

typedef void (*kw_precheck_cb)(void *ctx, const kw_precheck_result *r);

/* Would the failure stop Let's Encrypt for sure?  Not AAAA_BROKEN when
 * the IPv6 connection failed: Boulder falls back to IPv4 once, so the
 * production CA may well pass where Pebble (and strict validators) fail.
 * report is the callback's result's. */
int kw_precheck_blocking(json_t *report);

/* Checks req's names (req and its strings are copied); cb runs once, on
 * the loop, after this returns 0, never from inside it. */
int kw_precheck_start(kw_acme_env *env, const kw_precheck_req *req,
                      kw_precheck_cb cb, void *ctx, kw_diag *d);

#endif
