/*
 * ks_scanctx.h: the state of one scan, shared by the walk (ks_scan.c) and
 * the recording of a file (ks_ingest.c).  Nothing here is part of the
 * keystore's API.
 *
 * It owns the scan context (scan_ctx), the table of prepared statements
 * both halves run (index with Q_* / I_* / U_* / D_*, fetch with
 * ks__stmt()), and the helpers both use: stepping a statement, recording
 * an event, notes to the caller, path and file-name tests.  The calls go
 * one way: ks_scan.c calls ks_ingest.c (ks_ingest.h) and this module;
 * ks_ingest.c calls only this module; this module calls neither.
 *
 * Lifetime: ks_scan() owns the one scan_ctx of a scan, on its stack, for
 * the length of the call.  It prepares the statements with
 * ks__stmts_prepare() once the database is open and finalises them with
 * ks__stmts_finalize() on every way out (safe after a partial prepare);
 * it also allocates and wipes buf and scratch and frees the sets.  The
 * store, options, stats and diag are borrowed from ks_scan()'s caller.
 * A statement from ks__stmt() belongs to the context: never finalise it.
 *
 * Blocking: everything that takes a scan_ctx runs SQLite on the calling
 * thread, inside the scan's transaction, and must not be called from the
 * parse threads (ks_pool).  ks__json_text(), ks__mtime_ns(),
 * ks__base_name(), ks__dir_name(), ks__cert_like() and ks__key_like() are
 * pure and safe anywhere.  Errors: 0 or a negative KW_E* code with the
 * words in c->d.
 */
#ifndef KS_SCANCTX_H
#define KS_SCANCTX_H

#include "ks_scan.h"
#include "ks_store_int.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>
#include <sys/stat.h>

enum {
    Q_DIR_FILES,
    Q_DIR_LINKS,
    Q_FILE_BY_INODE,
    Q_FILE_BY_ID,
    I_FILE,
    U_FILE,
    U_FILE_PATH,
    U_FILE_RESTORE,
    U_FILE_LINKED,
    D_FILE,
    I_LINK,
    D_LINK,
    Q_OBJS_OF_FILE,
    I_OBJ,
    U_OBJ,
    U_OBJ_ERROR,
    U_OBJ_STATE,
    U_OBJ_SOURCE,
    D_OBJ,
    D_CHAIN,
    I_CHAIN,
    I_EVENT,
    U_KEY_PENDING_DIR,
    KS_SCAN_NSTMTS
};

/* A hash set of strings or (dev, ino) pairs; grows with directories,
 * never with files. */
typedef struct ks_set {
    uint64_t *hashes;
    char **strs; /* NULL for the (dev, ino) flavour */
    size_t cap, n;
} ks_set;

typedef struct scan_ctx {
    ks_store *s;
    sqlite3 *db;
    const ks_scan_opts *o;
    ks_scan_stats *st;
    kw_diag *d;
    sqlite3_stmt *q[KS_SCAN_NSTMTS];
    int64_t gen;
    int64_t now;
    size_t max_size;
    int max_depth;
    unsigned char *buf;     /* file contents, max_size + 1 bytes */
    unsigned char *scratch; /* decoded PEM bodies */
    ks_set dirs_walked;     /* (dev, ino) of directories walked */
    ks_set dirs_seen;       /* paths of directories walked or skipped */
    ks_set dirs_unknown;    /* paths of directories that could not be
                               (fully) read: nothing at or under them is
                               missing */
    struct ks_pool *pool;   /* parse threads reading ahead */
    size_t jobs_out;        /* read-ahead jobs submitted, not yet dropped */
    size_t batch;
    int changed; /* anything written: post-passes have work to do */
} scan_ctx;

/* Prepare every statement of the table: 0, or an error naming SQLite's
 * complaint. */
int ks__stmts_prepare(scan_ctx *c);
/* Finalise them (those prepared so far) and clear the table. */
void ks__stmts_finalize(scan_ctx *c);

/* Helpers of both halves. */
void ks__note(scan_ctx *c, enum ks_scan_note n, const char *path,
              const char *fmt, ...) __attribute__((format(printf, 4, 5)));
sqlite3_stmt *ks__stmt(scan_ctx *c, int i);
int ks__step(scan_ctx *c, sqlite3_stmt *st, const char *what);
int ks__event(scan_ctx *c, int64_t object_id, const char *type,
              json_t *detail);
json_t *ks__json_text(const char *s);
int64_t ks__mtime_ns(const struct stat *sb);
const char *ks__base_name(const char *path);
void ks__dir_name(const char *path, char *out, size_t len);
int ks__cert_like(const char *name);
int ks__key_like(const char *name);

#endif
