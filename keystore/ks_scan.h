/*
 * ks_scan.h: walk files and directories and bring the inventory up to
 * date.
 *
 * - Recursive; follows symlinks (Let's Encrypt's live/ layout) but counts
 *   a file reached by several paths once, and never loops: a directory
 *   that leads back to one of its ancestors is reported and skipped.
 * - A file whose (device, inode, size, mtime) did not change since the
 *   last scan is not read again.
 * - A file that vanished since the last scan is marked missing (its
 *   objects turn to warning), never silently dropped.
 * - Unreadable, corrupt, truncated, binary or oversized files are reported
 *   through the callback with path and reason, and the scan continues.
 * - Work is committed in batches, so a crash loses at most one batch and
 *   the next scan completes it.
 */
#ifndef KS_SCAN_H
#define KS_SCAN_H

#include "ks_store.h"

#include <stddef.h>
#include <stdint.h>

#define KS_SCAN_MAX_FILE_SIZE (1024 * 1024)

/* What the callback is told about. */
enum ks_scan_note {
    KS_NOTE_ERROR,   /* a file that should hold a certificate is broken */
    KS_NOTE_SKIPPED, /* not a certificate file (binary, oversized, ...) */
    KS_NOTE_LOOP,    /* symlink loop, skipped */
    KS_NOTE_MISSING, /* vanished since the last scan */
    KS_NOTE_CHANGED, /* a certificate changed on disk */
    KS_NOTE_NEW,     /* first seen */
};

typedef void (*ks_scan_note_fn)(void *ctx, enum ks_scan_note note,
                                const char *path, const char *msg);

typedef struct ks_scan_opts {
    int64_t now;            /* the clock (UTC seconds) */
    size_t max_file_size;   /* 0: KS_SCAN_MAX_FILE_SIZE */
    int max_depth;          /* 0: 64 */
    int threads;            /* parse threads; 0: one per CPU, up to 4 */
    /* Set (from another thread or a signal handler) to stop the scan at
     * the next file: what is committed stays, and ks_scan() returns
     * KW_ECANCELED.  May be NULL. */
    volatile int *cancel;
    ks_scan_note_fn note;   /* may be NULL */
    void *note_ctx;
    /* The roots are files a daemon's configuration names (discovery): a
     * root that does not exist, or that cannot be reached, still becomes
     * an object (state missing, or unreadable with the reason), which the
     * file takes over when it appears. */
    int expected;
} ks_scan_opts;

typedef struct ks_scan_stats {
    size_t dirs;
    size_t files;         /* regular files looked at */
    size_t unchanged;     /* skipped: same device, inode, size, mtime */
    size_t parsed;        /* read and parsed */
    size_t certs;         /* certificates decoded */
    size_t keys;          /* private keys seen */
    size_t objects_new;
    size_t objects_changed;
    size_t errors;        /* broken certificate files */
    size_t skipped;       /* not certificate files */
    size_t duplicates;    /* the same file by another path */
    size_t loops;
    size_t missing;       /* newly marked missing */
    size_t absent;        /* expected roots that are missing or cannot be
                             reached (opts.expected) */
} ks_scan_stats;

/* Scan the given roots (files or directories).  Returns 0 even when
 * individual files were bad (they are counted and reported); a negative
 * code only when the inventory itself could not be updated, or when no
 * root could be opened. */
int ks_scan(ks_store *s, const char *const *roots, size_t nroots,
            const ks_scan_opts *opts, ks_scan_stats *stats, kw_diag *d);

#endif
