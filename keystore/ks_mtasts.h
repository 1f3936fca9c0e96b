/*
 * ks_mtasts.h: what the MTA-STS check last saw of a mail domain: the
 * `_mta-sts` id and the SHA-256 of the policy body first served under
 * that id (table mtasts_seen).  The check compares the body it fetches
 * with it: a different body under the same id is a policy senders will
 * not refetch until max_age.  BLOCKS on the database.
 */
#ifndef KS_MTASTS_H
#define KS_MTASTS_H

#include "ks_store.h"

#include <stddef.h>
#include <stdint.h>

/* The id and hash recorded for domain (*found 0: none; the buffers are
 * then ""). */
int ks_mtasts_seen_get(ks_store *s, const char *domain, char *id,
                       size_t idcap, char *sha256, size_t shacap,
                       int *found, kw_diag *d);

/* Records (domain, id, sha256) at now, replacing what was there. */
int ks_mtasts_seen_put(ks_store *s, const char *domain, const char *id,
                       const char *sha256, int64_t now, kw_diag *d);

#endif
