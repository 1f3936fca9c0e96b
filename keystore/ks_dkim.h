/*
 * ks_dkim.h: DKIM selectors in the inventory.
 *
 * Each selector a signer uses (or a key file beside them nobody names) is
 * an object of kind 'dkim' named SELECTOR._domainkey.DOMAIN, its source
 * the key file.  Its facts live in dkim_keys: domain, selector, algorithm
 * and size, the key file's mode and owner, role (signing, published,
 * orphan), signer, the file and line that name it, the signer's user and
 * whether it may read the key, the public key's hash and the record to
 * publish (public material only: private keys never reach the database),
 * first seen (kept across rescans) and the key file's time (its age).
 * dkim_findings holds what the latest DNS check found, replaced as a whole
 * per check.  Health is computed on read (ks_health_dkim) from both.
 * Every function BLOCKS on the database (keystore's rules, ks_store.h).
 */
#ifndef KS_DKIM_H
#define KS_DKIM_H

#include "ks_health.h"
#include "ks_store.h"

#include <stddef.h>
#include <stdint.h>

/* One selector as a scan found it; the strings are borrowed. */
typedef struct ks_dkim_row {
    const char *domain, *selector;
    const char *key_path;
    const char *role;        /* "signing", "published", "orphan" */
    const char *signer;      /* "opendkim", "rspamd", "config" */
    const char *source;      /* "FILE:LINE" that names it */
    int line;
    const char *state;       /* "ok", "missing", "unreadable" */
    const char *error;       /* why not ok; NULL when ok */
    const char *algorithm;   /* "rsa", "ed25519"; NULL when unreadable */
    int bits;
    const char *pub_hash;    /* hex SHA-256 of the SubjectPublicKeyInfo */
    const char *record;      /* "v=DKIM1; k=...; p=..." to publish */
    int key_mode;            /* permission bits; -1 unknown */
    int64_t key_uid, key_gid;
    int64_t key_time;        /* the key file's mtime */
    const char *signer_user; /* NULL or "": unknown */
    int signer_reads;        /* 1 yes, 0 no, -1 unknown */
    int64_t max_age;         /* [dkim] max_age when scanned */
} ks_dkim_row;

typedef struct ks_dkim_stats {
    size_t selectors, added, changed, removed;
    size_t kept; /* not seen, but their signer's files could not be read */
} ks_dkim_stats;

/* A signer whose configuration could not be read: its selectors that
 * this scan did not see are kept, in state unreadable with why. */
typedef struct ks_dkim_keep {
    const char *signer;
    const char *why;
} ks_dkim_keep;

/* Make the inventory's dkim objects exactly rows: new ones added (first
 * seen now), known ones (same name and key file) updated with their first
 * seen kept, the others removed with their findings, except those of a
 * signer in keep.  One transaction. */
int ks_dkim_sync(ks_store *s, const ks_dkim_row *rows, size_t n,
                 const ks_dkim_keep *keep, size_t nkeep, int64_t now,
                 ks_dkim_stats *st, kw_diag *d);

/* A finding of a DNS check about one selector. */
typedef struct ks_dkim_finding {
    ks_health severity;
    const char *code;   /* a word a program may test: "mismatch", ... */
    const char *text;   /* what is wrong, one line */
    const char *fix;    /* what to do ("" or NULL: nothing) */
    const char *server; /* which server said so (NULL: the resolver) */
} ks_dkim_finding;

/* Replace every finding of object_id by these n (0 clears them), checked
 * at checked_at.  Its own transaction unless one is open.  When a signing
 * selector's findings gain a "mismatch" (none before), a
 * dkim.dns_mismatch event is recorded in the same transaction. */
int ks_dkim_findings_replace(ks_store *s, int64_t object_id,
                             const ks_dkim_finding *f, size_t n,
                             int64_t checked_at, kw_diag *d);

/* A selector in the inventory, for the DNS check; strings valid during
 * the callback. */
typedef struct ks_dkim_sel {
    int64_t id;
    const char *name, *domain, *selector, *key_path, *role, *signer;
    const char *algorithm, *pub_hash, *record;
    int bits;
} ks_dkim_sel;

/* Every dkim object, by name; cb returns non-zero to stop. */
int ks_dkim_each(ks_store *s, int (*cb)(void *ctx, const ks_dkim_sel *k),
                 void *ctx, kw_diag *d);

#endif
