/*
 * ks_deploy.h: versioned, atomic deployment of issued certificates.
 *
 * Layout under root (e.g. /var/lib/keywarden/certs):
 *
 *   archive/NAME/N/{cert,chain,fullchain,privkey}.pem   version N (1, 2, ...)
 *   live/NAME -> ../archive/NAME/N                       one symlink
 *
 * A new version is written into archive/NAME/N.tmp-SUFFIX (every file temp
 * name, fsync, rename; directory fsync), renamed to archive/NAME/N, and
 * only then is live/NAME switched by creating a temp symlink and
 * rename()ing it over live/NAME: a reader of live/NAME/ sees either the
 * old four files or the new four, never a mix.  Before the switch the
 * version is verified: the certificate matches the key, covers every
 * requested name, and is signed by the first certificate of the chain.
 */
#ifndef KS_DEPLOY_H
#define KS_DEPLOY_H

#include "../common/kw_err.h"

#include <openssl/evp.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct ks_deploy_opts {
    const char *root; /* holds archive/ and live/ (created 0755) */
    int keep;         /* versions kept in archive/NAME, >= 1 (live one
                         always kept); 0 means the default, 5 */
    mode_t key_mode;  /* 0 means 0600; 0640 with a group */
    gid_t key_gid;    /* (gid_t)-1: unchanged */
    uid_t owner;      /* (uid_t)-1: unchanged */
} ks_deploy_opts;

typedef struct ks_deploy_result {
    int version;        /* N of the version now live */
    int previous;       /* the version live before, 0 if none */
    char dir[4096];     /* absolute path of archive/NAME/N */
    char live[4096];    /* absolute path of live/NAME */
} ks_deploy_result;

/* Checks and deploys a new version.  fullchain_pem: the leaf first, then
 * the chain, as the CA sent it (PEM).  names: every name the certificate
 * must cover (DNS names with wildcard matching per RFC 6125, IP
 * addresses).  NAME must be a plain file name ([A-Za-z0-9._-], not
 * starting with '.').  On any failure nothing under live/ changes and the
 * error names the check that failed. */
int ks_deploy(const ks_deploy_opts *o, const char *name,
              const char *fullchain_pem, size_t len, EVP_PKEY *key,
              const char *const *names, size_t nnames, ks_deploy_result *r,
              kw_diag *d);

/* The version live/NAME points to now: 0 (and *version = 0) when NAME has
 * no live version; KW_EPARSE when the link is not one of
 * ours. */
int ks_deploy_current(const ks_deploy_opts *o, const char *name,
                      int *version, kw_diag *d);

/* Switches live/NAME to the newest archived version older than the live
 * one (atomically, as above).  Fails, changing nothing, when there is
 * none. */
int ks_deploy_rollback(const ks_deploy_opts *o, const char *name,
                       ks_deploy_result *r, kw_diag *d);

/* Removes archive/NAME/N.tmp-* left by a crash during ks_deploy. */
int ks_deploy_cleanup(const ks_deploy_opts *o, const char *name,
                      kw_diag *d);

#endif
