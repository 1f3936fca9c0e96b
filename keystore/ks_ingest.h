/*
 * ks_ingest.h: read one file and record what it holds (ks_ingest.c), for
 * the walk in ks_scan.c.  Nothing here is part of the keystore's API.
 *
 * ks__parse() touches no database and no scan_ctx, so the walk runs it on
 * the parse threads (ks_pool) to read ahead; everything else takes the
 * scan_ctx and runs SQLite on the scan's thread, inside its transaction.
 * ks_ingest.c never calls back into ks_scan.c: what it shares with the
 * walk is in ks_scanctx.h.  Errors: 0 or a negative KW_E* code with the
 * words in c->d.
 */
#ifndef KS_INGEST_H
#define KS_INGEST_H

#include "ks_cert.h"
#include "ks_scanctx.h"

#include <stdint.h>
#include <sys/stat.h>

/* What ingest learnt about a file, for the directory's bookkeeping. */
typedef struct ingest_result {
    int had_keys;  /* the file holds (or held) private keys */
    int had_certs; /* the file holds (or held) certificates */
} ingest_result;

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
