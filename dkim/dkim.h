/*
 * dkim.h: DKIM keys: where the signers keep them, the keys themselves,
 * and their place in the inventory (and, built on that, the DNS checks).
 *
 * dkim/ owns what is DKIM-specific: reading signers' configurations
 * (dkim_source.h: OpenDKIM, rspamd, keywarden's [dkim "DOMAIN"]
 * sections), reading private keys to their public half and the record to
 * publish (dkim_key.h), and turning both into inventory objects of kind
 * 'dkim' through keystore/ks_dkim.h (kw_dkim_scan below).  It includes
 * keystore/, dns/, hooks/ and common/ only; service/ translates [dkim]
 * into kw_dkim_params and calls in.
 *
 * Lifetimes: kw_dkim_sources and kw_dkim_params are plain values the
 * caller owns and frees with their _free functions; a kw_dkim_pub is a
 * value with no heap behind it.  Private key bytes live only inside
 * kw_dkim_key_load and are cleansed before it returns.  Nothing here
 * keeps global state or runs callbacks.
 *
 * Blocking: every function that reads a file or the database BLOCKS
 * (kw_dkim_scan reads each signer's files and each key, then writes one
 * transaction); the daemon runs them on the libuv thread pool, inside its
 * scan job, never on the loop.  kw_dkim_pub_matches and
 * kw_dkim_pub_record are computation.
 */
#ifndef KW_DKIM_H
#define KW_DKIM_H

#include "dkim_key.h"
#include "dkim_source.h"

#include "../keystore/ks_dkim.h"

typedef struct kw_dkim_scan_result {
    ks_dkim_stats stats;
    size_t signing, published, orphans, unreadable;
    /* What could not be read, and why (the sources' notes, then each
     * key that failed to load), "FILE:LINE: ..." or "KEY: ...". */
    char **notes;
    size_t nnotes;
    /* The files and directories whose change may change the selectors
     * (kw_dkim_sources.watch), for the daemon's inotify watch. */
    char **watch;
    size_t nwatch;
} kw_dkim_scan_result;

/* Read the sources p names (with discover, also Debian's defaults that
 * exist), load each key, and make the inventory's dkim objects exactly
 * what was found (ks_dkim_sync).  A source or key that cannot be read is
 * a note and, for a key, an object in state missing or unreadable; the
 * call fails only when the database does (or memory runs out). */
int kw_dkim_scan(ks_store *s, const kw_dkim_params *p, int discover,
                 int64_t now, kw_dkim_scan_result *res, kw_diag *d);

void kw_dkim_scan_result_free(kw_dkim_scan_result *res);

/* May user (a name, or a number) read a file of this owner and mode?
 * 1 yes, 0 no, -1 unknown (no such user here). */
int kw_dkim_user_reads(const char *user, long uid, long gid, int mode);

#endif
