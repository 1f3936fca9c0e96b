/*
 * ks_check.h: what a live check of an inventory object found, for checks
 * whose object has facts of its own elsewhere (the DANE check of an SMTP
 * endpoint: the endpoint is the probe's object, ks_endpoint.h).
 *
 * Per object and checker ("dane"), one checks row (when it last ran and
 * the health it found) and the findings of that run, replaced as a whole
 * per run.  Health reads them on every read (ks_inventory.c puts them in
 * the endpoint's ks_tls_facts, ks_health_tls adds them to the verdict),
 * so list, show, check, --json and /metrics agree.  A run whose health
 * differs from the previous run's (a first run counts from ok) adds a
 * health.changed event.  Every function BLOCKS on the database.
 */
#ifndef KS_CHECK_H
#define KS_CHECK_H

#include "ks_health.h"
#include "ks_store.h"

#include <stddef.h>
#include <stdint.h>

/* One finding; strings borrowed for the call. */
typedef struct ks_check_finding {
    ks_health severity;
    const char *code;    /* "tlsa.nomatch", ... */
    const char *text;    /* one line */
    const char *fix;     /* "" or NULL: nothing to do */
    const char *record;  /* the record concerned, or NULL */
} ks_check_finding;

/* The object of the endpoint configured as name; KW_ENOTFOUND when it
 * has not been probed yet (the probe creates it). */
int ks_check_endpoint_object(ks_store *s, const char *name, int64_t *id,
                             kw_diag *d);

/* Make the objects of kind exactly names' n (kind 'mta-sts': mail
 * domains), each with source; new ones added at now, the others removed
 * with their findings.  One transaction, its own unless one is open. */
int ks_check_sync_kind(ks_store *s, const char *kind,
                       const char *const *names, size_t n,
                       const char *source, int64_t now, kw_diag *d);

/* The object of kind named name; KW_ENOTFOUND when there is none. */
int ks_check_object(ks_store *s, const char *kind, const char *name,
                    int64_t *id, kw_diag *d);

/* The object of the managed certificate name ([certificate "NAME"]):
 * the certificate file of its live version (the file object at position
 * 0 with the fingerprint the certificates table records, the live/ path
 * first).  KW_ENOTFOUND when it was never issued or its files were not
 * scanned yet. */
int ks_check_cert_object(ks_store *s, const char *name, int64_t *id,
                         kw_diag *d);

/* Replace checker's findings of object_id by these n, record the run at
 * now with its health (the worst finding's, ok when none) in *health,
 * and add a health.changed event ({object, kind, checker, from, to,
 * reason}, object named label, kind "endpoint" for an endpoint's object,
 * else the object's kind) when it moved (*changed = 1).  One
 * transaction, its own unless one is open. */
int ks_check_record(ks_store *s, int64_t object_id, const char *checker,
                    const char *label, const ks_check_finding *f, size_t n,
                    int64_t now, ks_health *health, int *changed,
                    kw_diag *d);

/* Forget checker's runs and findings on every endpoint whose configured
 * name is not one of keep's n (n 0: on every object), so an endpoint
 * that is no longer checked keeps no old verdict. */
int ks_check_prune(ks_store *s, const char *checker,
                   const char *const *keep, size_t n, kw_diag *d);

/* The same for the objects of managed certificates (ks_check_cert_object):
 * checker's verdicts stay only on the live version of the certificates
 * named in keep's n (n 0: on none). */
int ks_check_prune_certs(ks_store *s, const char *checker,
                         const char *const *keep, size_t n, kw_diag *d);

#endif
