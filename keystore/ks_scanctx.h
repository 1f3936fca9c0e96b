/*
 * ks_scanctx.h: what the two halves of the scanner share.
 *
 * ks_scan.c walks directories and decides, per entry, whether the file is
 * unchanged, new, changed, an alias or gone; ks_ingest.c reads and parses
 * a file and writes its files row, objects and chain elements.  Nothing
 * here is part of the keystore's API.
 */
#ifndef KS_SCANCTX_H
#define KS_SCANCTX_H

#include "ks_cert.h"
#include "ks_scan.h"

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

/* What ingest learnt about a file, for the directory's bookkeeping. */
typedef struct ingest_result {
    int had_keys;  /* the file holds (or held) private keys */
    int had_certs; /* the file holds (or held) certificates */
} ingest_result;

/* ks_scan.c helpers used by ks_ingest.c */
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

/* ks_ingest.c */

/* A file read and parsed, not yet recorded. */
typedef struct ks_parsed {
    int vanished;        /* gone, or no longer a regular file */
    int read;            /* its bytes were read */
    int pemish;          /* it has a PEM BEGIN line */
    struct stat sb;      /* as seen when opened */
    ks_certfile f;       /* what it holds */
    const char *content; /* "certs", "keys", "other"; NULL if broken */
    char err[600];       /* why broken (or why skipped) */
} ks_parsed;

/* Open, read, parse and classify a file; touches no database, so it runs
 * on worker threads.  The caller frees p->f with ks_certfile_free(). */
void ks__parse(ks_parsed *p, int dirfd, const char *name, const char *path,
               size_t max_size, unsigned char *buf, unsigned char *scratch);

/* Write the files row (id > 0 updates it) and objects of a parsed file. */
int ks__record(scan_ctx *c, ks_parsed *p, const char *name,
               const char *path, int64_t id, const char *old_content,
               int linked, ingest_result *res);

/* Both, on the calling thread. */
int ks__ingest(scan_ctx *c, int dirfd, const char *name, const char *path,
               int64_t id, const char *old_content, int linked,
               ingest_result *res);

/* An expected root (ks_scan_opts.expected) that stat() failed on with
 * errno e: unless the inventory has a row for the path already, a files
 * row that was never seen (device and inode 0) and an object in state
 * missing (ENOENT) or unreadable (anything else), with an event. */
int ks__expected_absent(scan_ctx *c, const char *path, int e);

/* A files row whose file is gone: objects turn missing (with an event and
 * a note); rows that gave no objects are dropped. */
int ks__file_gone(scan_ctx *c, int64_t id, const char *path,
                  const char *content);

/* The file of row id is back after being missing. */
int ks__file_restored(scan_ctx *c, int64_t id);

/* Objects in dir need their private-key match redone. */
int ks__key_pending_dir(scan_ctx *c, const char *dir);

int ks__add_link(scan_ctx *c, const char *path, int64_t file_id);
int ks__move_file(scan_ctx *c, int64_t id, const char *path);

#endif
