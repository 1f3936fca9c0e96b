/* dkimsign.h: a message signed through a test's OpenDKIM milter
 * (opendkim.h) and verified by dkimpy against the DKIM record a Knot
 * primary and its secondary (knot.h) both serve: the check the rotation
 * tests make after every step, so that no signed message ever fails
 * against what DNS serves.  The functions fail the cmocka test (with
 * what each server served, or dkimpy's words) rather than return
 * errors. */
#ifndef KW_TEST_DKIMSIGN_H
#define KW_TEST_DKIMSIGN_H

#include <stddef.h>

#include "knot.h"

/* The two authoritative servers of the zone the records are in. */
typedef struct ds_dns {
    const knot *primary, *secondary;
} ds_dns;

/* The one record both servers serve at SEL._domainkey.DOMAIN (its
 * strings joined) into txt, or the test fails. */
void ds_record(const ds_dns *dns, const char *sel, const char *domain,
               char *txt, size_t cap);

/* How many records each serves there; the test fails when they differ. */
int ds_records(const ds_dns *dns, const char *sel, const char *domain);

/* dkimpy's verdict on msg against ds_record(sel, domain): 1 verified, 0
 * not (why says so); the test fails when dkimpy cannot run. */
int ds_verifies(const ds_dns *dns, const char *msg, const char *sel,
                const char *domain, char *why, size_t cap);

/* Does msg's signature carry s=sel? */
int ds_has_selector(const char *msg, const char *sel);

/* One try at signing a message from domain through the milter of the
 * OpenDKIM under base (opendkim_start's dir) on port: msg (malloc'd, the
 * previous freed) is what came back, or the failure; ok says whether it
 * was signed with sel (sel NULL: signed at all). */
typedef struct ds_try {
    const char *base;
    int port;
    const char *domain, *sel;
    char *msg;
} ds_try;

/* A proc_until predicate: one try. */
int ds_try_sign(void *ctx);

/* A message from domain signed through the milter with sel (waited for
 * up to 15 s, since a reload is asynchronous) and algorithm alg (e.g.
 * "ed25519-sha256"), verified by dkimpy against what both servers
 * serve.  Returns it, malloc'd. */
char *ds_signed_ok(const ds_dns *dns, const char *base, int port,
                   const char *domain, const char *sel, const char *alg);

#endif
