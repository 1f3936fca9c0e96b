/*
 * acme_directory.h: reading an ACME directory (RFC 8555 section 7.1.1).
 *
 * Every reader of the directory (the order in acme_client.c, the
 * renewalInfo lookup in acme_ari.c) takes its URLs from the one function
 * here, so the field names and the meta flags are spelled once.  The
 * directory is fetched once per order or per ARI lookup and never
 * cached: a CA may move its endpoints between two renewals.
 *
 * Pure: no I/O, no allocation.  The strings and the profiles object are
 * borrowed from the JSON document the caller passed and live as long as
 * it does; the caller keeps ownership of the document.
 */
#ifndef ACME_DIRECTORY_H
#define ACME_DIRECTORY_H

#include <jansson.h>

typedef struct acme_directory {
    const char *new_nonce, *new_account, *new_order; /* NULL when absent */
    const char *revoke_cert, *key_change, *renewal_info;
    int eab_required;  /* meta.externalAccountRequired is true */
    json_t *profiles;  /* meta.profiles when it is an object, else NULL */
} acme_directory;

/* Fills dir from the directory document js; a NULL or non-object js
 * leaves every field NULL or 0. */
void acme_directory_read(json_t *js, acme_directory *dir);

#endif
