/*
 * ks_scan.c: walk directories and bring the inventory up to date.
 *
 * A file's identity is (device, inode); its freshness is (size, mtime).
 * Each directory costs one query: its files rows (and the symlinks known
 * to lead into it) are read in path order and merged with the sorted
 * directory listing, so an unchanged file costs one stat and no database
 * work, and a row without a directory entry is a file that vanished.
 *
 *   entry with a row, same identity      -> unchanged, nothing written
 *   entry with a row, changed            -> read, parse, update
 *   entry that is a known symlink        -> alias, nothing written
 *   new entry, identity of a known file  -> alias (file_links), or the
 *                                           file's new name (renamed)
 *   new entry, new identity              -> read, parse, insert
 *   row without an entry                 -> missing
 *   directory that was not walked again  -> its files missing
 *
 * Private keys are matched to certificates after the walk, because a key
 * may be visited before or after its certificate.
 *
 * Reading and recording one file is ks_ingest.c's (ks_ingest.h); the scan
 * context, its statements and the helpers both halves use are
 * ks_scanctx.c's (ks_scanctx.h).
 */
#include "ks_ingest.h"
#include "ks_scanctx.h"

#include "ks_pool.h"
#include "ks_schema.h"
#include "../common/kw_fs.h"
#include "../common/kw_json.h"
#include "../common/kw_str.h"
#include "../common/kw_time.h"

#include <dirent.h>
#include <openssl/crypto.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BATCH_FILES 2000

/* ---- sets ------------------------------------------------------------------ */

static uint64_t mix(uint64_t h)
{
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 29;
    return h | 1; /* 0 marks an empty slot */
}

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    return mix(h);
}

/* Add (by hash, and string when strs are kept).  1 if present, 0 if
 * added, KW_ENOMEM. */
static int set_add(ks_set *set, uint64_t h, const char *s)
{
    size_t i, mask;

    if ((set->n + 1) * 2 > set->cap) {
        size_t ncap = set->cap ? set->cap * 2 : 256, j;
        uint64_t *nh = calloc(ncap, sizeof(*nh));
        char **ns = s != NULL ? calloc(ncap, sizeof(*ns)) : NULL;

        if (nh == NULL || (s != NULL && ns == NULL)) {
            free(nh);
            free(ns);
            return KW_ENOMEM;
        }
        for (j = 0; j < set->cap; j++) {
            if (set->hashes[j] == 0)
                continue;
            for (i = set->hashes[j] & (ncap - 1); nh[i] != 0;
                 i = (i + 1) & (ncap - 1))
                ;
            nh[i] = set->hashes[j];
            if (ns != NULL)
                ns[i] = set->strs[j];
        }
        free(set->hashes);
        free(set->strs);
        set->hashes = nh;
        set->strs = ns;
        set->cap = ncap;
    }
    mask = set->cap - 1;
    for (i = h & mask; set->hashes[i] != 0; i = (i + 1) & mask)
        if (set->hashes[i] == h &&
            (s == NULL || strcmp(set->strs[i], s) == 0))
            return 1;
    if (s != NULL && (set->strs[i] = strdup(s)) == NULL)
        return KW_ENOMEM;
    set->hashes[i] = h;
    set->n++;
    return 0;
}

static int set_has_str(const ks_set *set, const char *s)
{
    uint64_t h = str_hash(s);
    size_t i, mask;

    if (set->cap == 0)
        return 0;
    mask = set->cap - 1;
    for (i = h & mask; set->hashes[i] != 0; i = (i + 1) & mask)
        if (set->hashes[i] == h && strcmp(set->strs[i], s) == 0)
            return 1;
    return 0;
}

static void set_free(ks_set *set)
{
    size_t i;

    for (i = 0; set->strs != NULL && i < set->cap; i++)
        free(set->strs[i]);
    free(set->strs);
    free(set->hashes);
    memset(set, 0, sizeof(*set));
}

static int dir_seen(scan_ctx *c, const char *path)
{
    int r = set_add(&c->dirs_seen, str_hash(path), path);

    return r < 0 ? kw_diag_set(c->d, r, "out of memory") : 0;
}

/* A directory that could not be read (or read to the end): what was
 * recorded at or under it is unknown now, not missing. */
static int dir_unknown(scan_ctx *c, const char *path)
{
    int r = set_add(&c->dirs_unknown, str_hash(path), path);

    return r < 0 ? kw_diag_set(c->d, r, "out of memory") : 0;
}

/* Is dir (a directory the walk did not reach) at or under one of them? */
static int under_unknown(const scan_ctx *c, const char *dir)
{
    char p[PATH_MAX];
    char *slash;

    if (c->dirs_unknown.n == 0)
        return 0;
    snprintf(p, sizeof(p), "%s", dir);
    for (;;) {
        if (set_has_str(&c->dirs_unknown, p))
            return 1;
        if ((slash = strrchr(p, '/')) == NULL)
            return 0;
        if (slash == p) /* the parent is "/" */
            return p[1] != '\0' && set_has_str(&c->dirs_unknown, "/");
        *slash = '\0';
    }
}

/* ---- one directory: rows and links, merged with the listing --------------- */

typedef struct dirrow {
    int64_t id, dev, ino, size, mtime;
    const char *name; /* inside path */
    char *path;
    char state[12];
    char content[12];
    int linked;
    int matched; /* an entry of this name exists */
} dirrow;

typedef struct dirlink {
    char *path;
    const char *name;
    int64_t file_id, dev, ino, size, mtime;
    char content[12];
    int matched;
} dirlink;

typedef struct dirstate {
    dirrow *rows;
    size_t nrows;
    dirlink *links;
    size_t nlinks;
    int has_keys; /* a key file (or an unreadable one) lives here */
    int changed;  /* a certificate or key file here changed */
} dirstate;

static void dirstate_free(dirstate *ds)
{
    size_t i;

    for (i = 0; i < ds->nrows; i++)
        free(ds->rows[i].path);
    for (i = 0; i < ds->nlinks; i++)
        free(ds->links[i].path);
    free(ds->rows);
    free(ds->links);
    memset(ds, 0, sizeof(*ds));
}

static void copy_text(char *out, size_t len, const unsigned char *v)
{
    snprintf(out, len, "%s", v != NULL ? (const char *)v : "");
}

/* Column i of the row st just stepped to, as text.  NULL where the schema
 * allows none means a damaged row, which callers skip (or read as ""),
 * or SQLite running out of memory, which sets *r and fails the scan. */
static const char *col_text(scan_ctx *c, sqlite3_stmt *st, int i, int *r)
{
    const char *v = (const char *)sqlite3_column_text(st, i);

    if (v == NULL && sqlite3_errcode(c->db) == SQLITE_NOMEM)
        *r = kw_diag_set(c->d, KW_ENOMEM,
                         "out of memory reading the inventory");
    return v;
}

static int load_dir(scan_ctx *c, const char *dir, dirstate *ds)
{
    sqlite3_stmt *st = ks__stmt(c, Q_DIR_FILES);
    char lo[PATH_MAX + 2], hi[PATH_MAX + 2];
    size_t dlen = strlen(dir), cap = 0;
    int rc, err = 0;
    const char *p;

    memset(ds, 0, sizeof(*ds));
    sqlite3_bind_text(st, 1, dir, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dirrow *r;

        if ((p = col_text(c, st, 1, &err)) == NULL) {
            if (err != 0)
                goto fail;
            continue; /* a row without a path matches no entry */
        }
        if (ds->nrows == cap) {
            cap = cap ? cap * 2 : 32;
            r = realloc(ds->rows, cap * sizeof(*r));
            if (r == NULL)
                goto oom;
            ds->rows = r;
        }
        r = &ds->rows[ds->nrows];
        memset(r, 0, sizeof(*r));
        r->id = sqlite3_column_int64(st, 0);
        r->path = strdup(p);
        if (r->path == NULL)
            goto oom;
        ds->nrows++;
        r->name = ks__base_name(r->path);
        r->dev = sqlite3_column_int64(st, 2);
        r->ino = sqlite3_column_int64(st, 3);
        r->size = sqlite3_column_int64(st, 4);
        r->mtime = sqlite3_column_int64(st, 5);
        copy_text(r->state, sizeof(r->state), sqlite3_column_text(st, 6));
        copy_text(r->content, sizeof(r->content), sqlite3_column_text(st, 7));
        r->linked = sqlite3_column_int(st, 8);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return ks_db_error(c->s, c->d, "reading a directory's files");

    /* Links whose path is in this directory (not deeper). */
    snprintf(lo, sizeof(lo), "%s/", strcmp(dir, "/") ? dir : "");
    snprintf(hi, sizeof(hi), "%s0", strcmp(dir, "/") ? dir : "");
    if (strcmp(dir, "/") == 0)
        dlen = 0;
    st = ks__stmt(c, Q_DIR_LINKS);
    sqlite3_bind_text(st, 1, lo, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, hi, -1, SQLITE_STATIC);
    cap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dirlink *l;

        if ((p = col_text(c, st, 0, &err)) == NULL) {
            if (err != 0)
                goto fail;
            continue;
        }
        if (strlen(p) <= dlen + 1 || strchr(p + dlen + 1, '/') != NULL)
            continue;
        if (ds->nlinks == cap) {
            cap = cap ? cap * 2 : 16;
            l = realloc(ds->links, cap * sizeof(*l));
            if (l == NULL)
                goto oom;
            ds->links = l;
        }
        l = &ds->links[ds->nlinks];
        memset(l, 0, sizeof(*l));
        if ((l->path = strdup(p)) == NULL)
            goto oom;
        ds->nlinks++;
        l->name = ks__base_name(l->path);
        l->file_id = sqlite3_column_int64(st, 1);
        l->dev = sqlite3_column_int64(st, 2);
        l->ino = sqlite3_column_int64(st, 3);
        l->size = sqlite3_column_int64(st, 4);
        l->mtime = sqlite3_column_int64(st, 5);
        copy_text(l->content, sizeof(l->content), sqlite3_column_text(st, 6));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return ks_db_error(c->s, c->d, "reading a directory's links");
    return 0;
oom:
    err = kw_diag_set(c->d, KW_ENOMEM, "out of memory");
fail:
    sqlite3_reset(st);
    return err;
}

static int batch_tick(scan_ctx *c)
{
    int r;

    if (c->o->cancel != NULL && *c->o->cancel)
        return kw_diag_set(c->d, KW_ECANCELED, "scan stopped");
    if (++c->batch < BATCH_FILES)
        return 0;
    c->batch = 0;
    if ((r = ks_commit(c->s, c->d)) != 0)
        return r;
    return ks_begin(c->s, c->d);
}

static int content_is_key(const char *content, const char *name)
{
    return strcmp(content, "keys") == 0 ||
           (strcmp(content, "error") == 0 && ks__key_like(name));
}

static int content_matters(const char *content)
{
    return strcmp(content, "certs") == 0 || strcmp(content, "keys") == 0 ||
           strcmp(content, "error") == 0;
}

/* ---- reading ahead ---------------------------------------------------------- */

/* Files to read are parsed by the pool a window of entries ahead of the
 * entry being recorded, so reading and parsing overlap the SQLite work.
 * Each directory level keeps its window while a subdirectory is walked,
 * so the jobs outstanding in the whole walk are capped too: past the cap
 * a file is read and parsed inline, when it is recorded. */
#define READ_AHEAD 64
#define READ_AHEAD_MAX 128

typedef struct parse_job {
    ks_job base; /* first: the pool hands this back */
    int dirfd;
    const char *name;
    char path[PATH_MAX];
    ks_parsed p;
} parse_job;

static void run_parse(ks_job *j, unsigned char *buf, unsigned char *scratch,
                      size_t bufsize)
{
    parse_job *pj = (parse_job *)j;

    ks__parse(&pj->p, pj->dirfd, pj->name, pj->path, bufsize - 1, buf,
              scratch);
}

typedef struct entry {
    char *name;
    dirrow *row;
    dirlink *link;
    int classified;
    int stat_errno; /* the (l)stat failed with this */
    int is_link;
    struct stat sb;
    parse_job *job; /* reading ahead, or NULL */
} entry;

static int same_file(int64_t dev, int64_t ino, int64_t size, int64_t mtime,
                     const struct stat *sb)
{
    return dev == (int64_t)sb->st_dev && ino == (int64_t)sb->st_ino &&
           size == (int64_t)sb->st_size && mtime == ks__mtime_ns(sb);
}

/* Stat an entry and, when its contents must be read, queue the read. */
static int classify(scan_ctx *c, int dirfd, const char *dir, entry *e)
{
    struct stat lsb;
    parse_job *pj;

    e->classified = 1;
    if (fstatat(dirfd, e->name, &lsb, AT_SYMLINK_NOFOLLOW) != 0) {
        e->stat_errno = errno;
        return 0;
    }
    e->is_link = S_ISLNK(lsb.st_mode);
    if (e->is_link) {
        if (fstatat(dirfd, e->name, &e->sb, 0) != 0) {
            e->stat_errno = errno;
            return 0;
        }
    } else {
        e->sb = lsb;
    }
    if (!S_ISREG(e->sb.st_mode))
        return 0;
    if (e->row != NULL && same_file(e->row->dev, e->row->ino, e->row->size,
                                    e->row->mtime, &e->sb))
        return 0;
    if (e->row == NULL && e->link != NULL &&
        same_file(e->link->dev, e->link->ino, e->link->size, e->link->mtime,
                  &e->sb))
        return 0;
    if (c->jobs_out >= READ_AHEAD_MAX)
        return 0; /* ingest() reads it inline */
    pj = calloc(1, sizeof(*pj));
    if (pj == NULL)
        return kw_diag_set(c->d, KW_ENOMEM, "out of memory");
    pj->base.fn = run_parse;
    pj->dirfd = dirfd;
    pj->name = e->name;
    snprintf(pj->path, sizeof(pj->path), "%s/%s", strcmp(dir, "/") ? dir : "",
             e->name);
    e->job = pj;
    c->jobs_out++;
    ks_pool_submit(c->pool, &pj->base);
    return 0;
}

/* Take the read-ahead result of e (waiting for it), or NULL. */
static ks_parsed *take_parsed(scan_ctx *c, entry *e)
{
    if (e->job == NULL)
        return NULL;
    ks_pool_wait(c->pool, &e->job->base);
    return &e->job->p;
}

static void drop_job(scan_ctx *c, entry *e)
{
    if (e->job == NULL)
        return;
    ks_pool_wait(c->pool, &e->job->base);
    ks_certfile_free(&e->job->p.f);
    free(e->job);
    e->job = NULL;
    c->jobs_out--;
}

/* ---- one file --------------------------------------------------------------- */

/* A path reached without any symlink is the better name for a file; among
 * links, one with a certificate-like extension beats a hash link. */
static int path_score(const char *path, int linked)
{
    return (linked ? 0 : 2) + (ks__cert_like(ks__base_name(path)) ? 1 : 0);
}

/* Record a file: from its read-ahead result when there is one. */
static int ingest(scan_ctx *c, int dirfd, entry *e, const char *path,
                  int64_t id, const char *old_content, int linked,
                  dirstate *ds)
{
    ingest_result res;
    ks_parsed *pre = take_parsed(c, e);
    int r;

    if (pre != NULL)
        r = ks__record(c, pre, e->name, path, id, old_content, linked, &res);
    else
        r = ks__ingest(c, dirfd, e->name, path, id, old_content, linked,
                       &res);
    if (r == 0) {
        ds->has_keys |= res.had_keys;
        ds->changed |= res.had_keys || res.had_certs;
    }
    return r;
}

/* A regular file at path with no row of its own. */
static int new_path(scan_ctx *c, int dirfd, entry *e, const char *path,
                    int linked, dirstate *ds)
{
    const struct stat *sb = &e->sb;
    sqlite3_stmt *st = ks__stmt(c, Q_FILE_BY_INODE);
    int64_t id = 0, size = 0, mtime = 0;
    int rc, r, old_linked = 0, same;
    char old_path[PATH_MAX], content[12], state[12];
    struct stat os;
    size_t i;

    sqlite3_bind_int64(st, 1, (int64_t)sb->st_dev);
    sqlite3_bind_int64(st, 2, (int64_t)sb->st_ino);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0);
        copy_text(old_path, sizeof(old_path), sqlite3_column_text(st, 1));
        size = sqlite3_column_int64(st, 2);
        mtime = sqlite3_column_int64(st, 3);
        old_linked = sqlite3_column_int(st, 4);
        copy_text(content, sizeof(content), sqlite3_column_text(st, 5));
        copy_text(state, sizeof(state), sqlite3_column_text(st, 6));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return ks_db_error(c->s, c->d, "looking up a file by inode");
    if (rc == SQLITE_DONE)
        return ingest(c, dirfd, e, path, 0, "unknown", linked, ds);

    same = size == (int64_t)sb->st_size && mtime == ks__mtime_ns(sb);
    if (stat(old_path, &os) == 0 && os.st_dev == sb->st_dev &&
        os.st_ino == sb->st_ino) {
        /* Another name of a known file: keep the better name as the
         * primary path and the other as a link. */
        c->st->duplicates++;
        if (path_score(path, linked) > path_score(old_path, old_linked)) {
            if ((r = ks__move_file(c, id, path)) != 0 ||
                (r = ks__add_link(c, old_path, id)) != 0)
                return r;
        } else if ((r = ks__add_link(c, path, id)) != 0) {
            return r;
        }
    } else {
        /* The old name is gone: the file was renamed.  If the old name is
         * in this directory, its row is now this one. */
        for (i = 0; i < ds->nrows; i++)
            if (ds->rows[i].id == id)
                ds->rows[i].matched = 1;
        if ((r = ks__move_file(c, id, path)) != 0)
            return r;
        /* Moved from a directory walked earlier, where it was missed. */
        if (strcmp(state, "missing") == 0 &&
            (r = ks__file_restored(c, id)) != 0)
            return r;
        r = ks__event(c, 0, "file.renamed",
                      json_pack("{s:o, s:o}", "from",
                                kw_json_path(old_path), "to",
                                kw_json_path(path)));
        if (r != 0)
            return r;
    }
    if (same) {
        if (content_is_key(content, e->name))
            ds->has_keys = 1;
        return 0;
    }
    return ingest(c, dirfd, e, path, id, content, linked, ds);
}

/* A regular file in a directory being merged. */
static int visit_file(scan_ctx *c, int dirfd, entry *e, const char *path,
                      int linked, dirstate *ds)
{
    dirrow *row = e->row;
    dirlink *link = e->link;
    int r;

    c->st->files++;
    if (row != NULL) {
        if (same_file(row->dev, row->ino, row->size, row->mtime, &e->sb)) {
            c->st->unchanged++;
            if (content_is_key(row->content, e->name))
                ds->has_keys = 1;
            if (strcmp(row->state, "missing") == 0) {
                ds->changed |= content_matters(row->content);
                return ks__file_restored(c, row->id);
            }
            if (linked && !row->linked) {
                sqlite3_stmt *st = ks__stmt(c, U_FILE_LINKED);
                sqlite3_bind_int64(st, 1, row->id);
                return ks__step(c, st, "recording a link");
            }
            return 0;
        }
        return ingest(c, dirfd, e, path, row->id, row->content, linked, ds);
    }
    if (link != NULL) {
        if (link->dev == (int64_t)e->sb.st_dev &&
            link->ino == (int64_t)e->sb.st_ino) {
            sqlite3_stmt *st;
            char primary[PATH_MAX], content[12];
            int rc;

            c->st->duplicates++;
            if (same_file(link->dev, link->ino, link->size, link->mtime,
                          &e->sb)) {
                c->st->unchanged++;
                return 0;
            }
            /* The file behind the link changed: update its row under its
             * primary name, reading it through this one. */
            st = ks__stmt(c, Q_FILE_BY_ID);
            sqlite3_bind_int64(st, 1, link->file_id);
            rc = sqlite3_step(st);
            if (rc == SQLITE_ROW) {
                copy_text(primary, sizeof(primary), sqlite3_column_text(st, 0));
                copy_text(content, sizeof(content), sqlite3_column_text(st, 1));
            }
            sqlite3_reset(st);
            if (rc != SQLITE_ROW)
                return ks_db_error(c->s, c->d, "reading a linked file");
            return ingest(c, dirfd, e, primary, link->file_id, content,
                          linked, ds);
        }
        /* The link now leads elsewhere. */
        {
            sqlite3_stmt *st = ks__stmt(c, D_LINK);
            sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
            if ((r = ks__step(c, st, "dropping a link")) != 0)
                return r;
        }
    }
    return new_path(c, dirfd, e, path, linked, ds);
}

/* ---- the walk ---------------------------------------------------------------- */

typedef struct ancestor {
    dev_t dev;
    ino_t ino;
    const struct ancestor *up;
} ancestor;

static int walk(scan_ctx *c, char *path, size_t plen, int dfd, int depth,
                const ancestor *up, int linked);

/* What a file that is neither regular nor a directory is, for notes. */
static const char *special_kind(mode_t mode)
{
    return S_ISFIFO(mode)   ? "a FIFO"
           : S_ISSOCK(mode) ? "a socket"
           : S_ISCHR(mode)  ? "a character device"
           : S_ISBLK(mode)  ? "a block device"
                            : "of an unknown file type";
}

static uint64_t inode_key(const struct stat *sb)
{
    return mix((uint64_t)sb->st_dev * 0x9e3779b97f4a7c15ULL ^
               (uint64_t)sb->st_ino);
}

static int drop_link(scan_ctx *c, const dirlink *l)
{
    sqlite3_stmt *st = ks__stmt(c, D_LINK);

    sqlite3_bind_text(st, 1, l->path, -1, SQLITE_STATIC);
    return ks__step(c, st, "dropping a link");
}

/* Visit one classified directory entry. */
static int visit(scan_ctx *c, int dirfd, entry *e, char *path, int depth,
                 const ancestor *up, int linked, dirstate *ds)
{
    const ancestor *a;
    int r, fd;

    if (e->stat_errno != 0) {
        if (e->stat_errno == ELOOP) {
            c->st->loops++;
            ks__note(c, KS_NOTE_LOOP, path, "symlink loop, skipped");
        } else if (e->is_link || e->stat_errno != ENOENT) {
            char target[PATH_MAX];
            ssize_t n = readlinkat(dirfd, e->name, target,
                                   sizeof(target) - 1);

            target[n > 0 ? n : 0] = '\0';
            c->st->skipped++;
            ks__note(c, KS_NOTE_SKIPPED, path, "dangling symlink -> %s",
                     target);
        }
        goto gone;
    }
    if (S_ISREG(e->sb.st_mode)) {
        r = visit_file(c, dirfd, e, path, linked || e->is_link, ds);
        return r == 0 ? batch_tick(c) : r;
    }
    if (!S_ISDIR(e->sb.st_mode)) {
        /* Sockets, FIFOs, devices: never certificates, and reading one
         * could block.  Named on the command line (no parent here) it is
         * the operator's mistake; found in a tree, only skipped. */
        if (up == NULL) {
            c->st->errors++;
            ks__note(c, KS_NOTE_ERROR, path,
                     "cannot scan: %s, not a certificate file or directory",
                     special_kind(e->sb.st_mode));
        } else {
            c->st->skipped++;
            ks__note(c, KS_NOTE_SKIPPED, path,
                     "%s, not a regular file",
                     special_kind(e->sb.st_mode));
        }
        goto gone;
    }

    /* A directory where a file (or a link to one) used to be. */
    if (e->row != NULL && strcmp(e->row->state, "ok") == 0 &&
        (r = ks__file_gone(c, e->row->id, e->row->path, e->row->content)) !=
            0)
        return r;
    if (e->link != NULL && (r = drop_link(c, e->link)) != 0)
        return r;
    for (a = up; a != NULL; a = a->up)
        if (a->dev == e->sb.st_dev && a->ino == e->sb.st_ino) {
            c->st->loops++;
            ks__note(c, KS_NOTE_LOOP, path,
                     "symlink loop: leads back to a parent directory, "
                     "skipped");
            return 0;
        }
    r = set_add(&c->dirs_walked, inode_key(&e->sb), NULL);
    if (r < 0)
        return kw_diag_set(c->d, r, "out of memory");
    if (r == 1)
        return dir_seen(c, path); /* already walked by another path */
    if (depth >= c->max_depth) {
        c->st->skipped++;
        ks__note(c, KS_NOTE_SKIPPED, path, "deeper than %d levels, skipped",
                 c->max_depth);
        return dir_seen(c, path);
    }
    fd = openat(dirfd, e->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        c->st->errors++;
        ks__note(c, KS_NOTE_ERROR, path, "cannot read directory: %s",
                 strerror(errno));
        /* What was found inside before is unknown now, not missing. */
        return dir_unknown(c, path);
    }
    return walk(c, path, strlen(path), fd, depth + 1, up,
                linked || e->is_link);

gone:
    /* Dangling, vanished or not a regular file: neither its row nor a
     * link of this name leads to a file any more. */
    if (e->link != NULL && (r = drop_link(c, e->link)) != 0)
        return r;
    if (e->row != NULL && strcmp(e->row->state, "ok") == 0)
        return ks__file_gone(c, e->row->id, e->row->path, e->row->content);
    return 0;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

/* Walk the open directory dfd (closed here) whose path is path[0..plen). */
static int walk(scan_ctx *c, char *path, size_t plen, int dfd, int depth,
                const ancestor *up, int linked)
{
    DIR *dir;
    struct dirent *de;
    struct stat sb;
    entry *ents = NULL, *ne;
    size_t n = 0, cap = 0, i, ri = 0, li = 0, ahead = 0;
    ancestor me;
    dirstate ds;
    int r = 0, rd_errno = 0;

    memset(&ds, 0, sizeof(ds));
    if (fstat(dfd, &sb) != 0 || (dir = fdopendir(dfd)) == NULL) {
        int e = errno;

        close(dfd);
        c->st->errors++;
        ks__note(c, KS_NOTE_ERROR, path, "cannot read directory: %s",
                 strerror(e));
        return dir_unknown(c, path);
    }
    me.dev = sb.st_dev;
    me.ino = sb.st_ino;
    me.up = up;
    c->st->dirs++;
    if ((r = dir_seen(c, path)) != 0)
        goto out;
    for (;;) {
        errno = 0;
        if ((de = readdir(dir)) == NULL) {
            rd_errno = errno;
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            ne = realloc(ents, cap * sizeof(*ents));
            if (ne == NULL) {
                r = kw_diag_set(c->d, KW_ENOMEM, "out of memory");
                goto out;
            }
            ents = ne;
        }
        memset(&ents[n], 0, sizeof(ents[n]));
        if ((ents[n].name = strdup(de->d_name)) == NULL) {
            r = kw_diag_set(c->d, KW_ENOMEM, "out of memory");
            goto out;
        }
        n++;
    }
    if (rd_errno != 0) {
        /* The listing is incomplete: the entries read are visited, and
         * nothing here or below is taken to be gone. */
        c->st->errors++;
        ks__note(c, KS_NOTE_ERROR, path,
                 "cannot read directory: %s; entries not listed are kept "
                 "as they were",
                 strerror(rd_errno));
        if ((r = dir_unknown(c, path)) != 0)
            goto out;
    }
    if (n > 0)
        qsort(ents, n, sizeof(*ents), cmp_entry);
    if ((r = load_dir(c, path, &ds)) != 0)
        goto out;

    /* Merge three sorted lists: entries, rows and links.  Rows and links
     * left without an entry are handled after the visits (a rename within
     * this directory claims its old row first). */
    for (i = 0; i < n; i++) {
        while (ri < ds.nrows && strcmp(ds.rows[ri].name, ents[i].name) < 0)
            ri++;
        while (li < ds.nlinks && strcmp(ds.links[li].name, ents[i].name) < 0)
            li++;
        if (ri < ds.nrows && strcmp(ds.rows[ri].name, ents[i].name) == 0)
            ents[i].row = &ds.rows[ri++];
        if (li < ds.nlinks && strcmp(ds.links[li].name, ents[i].name) == 0)
            ents[i].link = &ds.links[li++];
        if (ents[i].row != NULL)
            ents[i].row->matched = 1;
        if (ents[i].link != NULL)
            ents[i].link->matched = 1;
    }

    for (i = 0; i < n && r == 0; i++) {
        size_t nl = strlen(ents[i].name);

        /* Refill the read-ahead window when half of it is used, so the
         * workers are woken once per batch, not once per file. */
        if (ahead <= i + READ_AHEAD / 2)
            while (r == 0 && ahead < n && ahead <= i + READ_AHEAD)
                r = classify(c, dirfd(dir), path, &ents[ahead++]);
        if (r != 0)
            break;
        if (plen + 1 + nl + 1 > PATH_MAX) {
            c->st->skipped++;
            ks__note(c, KS_NOTE_SKIPPED, path, "path too long, entry skipped");
            drop_job(c, &ents[i]);
            continue;
        }
        if (plen > 0 && path[plen - 1] != '/') {
            path[plen] = '/';
            memcpy(path + plen + 1, ents[i].name, nl + 1);
        } else {
            memcpy(path + plen, ents[i].name, nl + 1);
        }
        r = visit(c, dirfd(dir), &ents[i], path, depth, &me, linked, &ds);
        path[plen] = '\0';
        drop_job(c, &ents[i]);
    }

    /* Files and symlinks that are gone (unless the listing was cut
     * short). */
    for (i = 0; r == 0 && rd_errno == 0 && i < ds.nrows; i++) {
        dirrow *row = &ds.rows[i];
        if (!row->matched && strcmp(row->state, "ok") == 0) {
            ds.changed |= content_matters(row->content);
            r = ks__file_gone(c, row->id, row->path, row->content);
        }
    }
    for (i = 0; r == 0 && rd_errno == 0 && i < ds.nlinks; i++)
        if (!ds.links[i].matched)
            r = drop_link(c, &ds.links[i]);

    /* Certificates or keys changed here: redo the key matches of this
     * directory (and of .../certs/ when .../private/ changed). */
    if (r == 0 && ds.changed) {
        if (ds.has_keys || kw_str_endswith(path, "/certs"))
            r = ks__key_pending_dir(c, path);
        if (r == 0 && kw_str_endswith(path, "/private") &&
            plen + sizeof("certs") <= PATH_MAX) {
            char sib[PATH_MAX];
            snprintf(sib, sizeof(sib), "%.*scerts",
                     (int)(plen - strlen("private")), path);
            r = ks__key_pending_dir(c, sib);
        }
    }
out:
    /* Jobs still queued read through this directory's descriptor: they
     * finish before it closes. */
    for (i = 0; i < n; i++) {
        drop_job(c, &ents[i]);
        free(ents[i].name);
    }
    free(ents);
    dirstate_free(&ds);
    closedir(dir);
    return r;
}

/* ---- after the walk ----------------------------------------------------------- */

/* Files under root in directories the walk did not reach: the directory
 * itself is gone (or was replaced), so are they. */
static int sweep_vanished(scan_ctx *c, const char *root)
{
    sqlite3_stmt *q = NULL, *f = NULL;
    char lo[PATH_MAX + 2], hi[PATH_MAX + 2];
    size_t n = strlen(root);
    int r = 0, rc = SQLITE_DONE, frc = SQLITE_DONE;

    snprintf(lo, sizeof(lo), "%s/", strcmp(root, "/") ? root : "");
    snprintf(hi, sizeof(hi), "%s0", strcmp(root, "/") ? root : "");
    if (sqlite3_prepare_v2(c->db,
                           "SELECT DISTINCT dir FROM files WHERE state = 'ok'"
                           " AND (dir = ?1 OR (dir >= ?2 AND dir < ?3))",
                           -1, &q, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db,
                           "SELECT id, path, content FROM files WHERE dir = "
                           "?1 AND state = 'ok'",
                           -1, &f, NULL) != SQLITE_OK) {
        r = ks_db_error(c->s, c->d, "finding vanished directories");
        goto out;
    }
    sqlite3_bind_text(q, 1, root, (int)n, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, lo, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, hi, -1, SQLITE_STATIC);
    while (r == 0 && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *dir = col_text(c, q, 0, &r);

        if (dir == NULL || set_has_str(&c->dirs_seen, dir) ||
            under_unknown(c, dir))
            continue;
        sqlite3_reset(f);
        sqlite3_bind_text(f, 1, dir, -1, SQLITE_TRANSIENT);
        while (r == 0 && (frc = sqlite3_step(f)) == SQLITE_ROW) {
            char path[PATH_MAX], content[12];

            copy_text(path, sizeof(path), sqlite3_column_text(f, 1));
            copy_text(content, sizeof(content), sqlite3_column_text(f, 2));
            r = ks__file_gone(c, sqlite3_column_int64(f, 0), path, content);
        }
        if (r == 0 && frc != SQLITE_DONE)
            r = ks_db_error(c->s, c->d, "finding the files of a vanished "
                                        "directory");
    }
    if (r == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = ks_db_error(c->s, c->d, "finding vanished directories");
    if (r == 0) {
        /* Links into directories that were not walked are stale. */
        sqlite3_finalize(q);
        q = NULL;
        if (sqlite3_prepare_v2(c->db,
                               "SELECT path FROM file_links WHERE path >= ?1 "
                               "AND path < ?2",
                               -1, &q, NULL) != SQLITE_OK) {
            r = ks_db_error(c->s, c->d, "pruning links");
            goto out;
        }
        sqlite3_bind_text(q, 1, lo, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, hi, -1, SQLITE_STATIC);
        while (r == 0 && (rc = sqlite3_step(q)) == SQLITE_ROW) {
            char dir[PATH_MAX];
            const char *lp = col_text(c, q, 0, &r);
            dirlink l;

            if (lp == NULL)
                continue;
            ks__dir_name(lp, dir, sizeof(dir));
            if (set_has_str(&c->dirs_seen, dir) || under_unknown(c, dir))
                continue;
            memset(&l, 0, sizeof(l));
            l.path = strdup(lp);
            if (l.path == NULL) {
                r = kw_diag_set(c->d, KW_ENOMEM, "out of memory");
                break;
            }
            r = drop_link(c, &l);
            free(l.path);
        }
        if (r == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
            r = ks_db_error(c->s, c->d, "pruning links");
    }
out:
    sqlite3_finalize(q);
    sqlite3_finalize(f);
    return r;
}

/* Conventional names of the key that belongs with a certificate file. */
static int is_partner(const char *cert_path, const char *key_path)
{
    char stem[PATH_MAX], want[PATH_MAX + 16];
    const char *cb = ks__base_name(cert_path), *kb = ks__base_name(key_path);
    const char *dot = strrchr(cb, '.');
    size_t n = dot ? (size_t)(dot - cb) : strlen(cb);
    unsigned nc, nk;
    char tail[8];

    if ((strcmp(cb, "cert.pem") == 0 || strcmp(cb, "fullchain.pem") == 0) &&
        (strcmp(kb, "privkey.pem") == 0 || strcmp(kb, "key.pem") == 0))
        return 1;
    /* Let's Encrypt's archive: certN.pem and fullchainN.pem go with
     * privkeyN.pem. */
    if ((sscanf(cb, "cert%u.pe%7s", &nc, tail) == 2 ||
         sscanf(cb, "fullchain%u.pe%7s", &nc, tail) == 2) &&
        sscanf(kb, "privkey%u.pe%7s", &nk, tail) == 2)
        return nc == nk;
    if (n >= sizeof(stem))
        return 0;
    memcpy(stem, cb, n);
    stem[n] = '\0';
    snprintf(want, sizeof(want), "%s.key", stem);
    if (strcmp(kb, want) == 0)
        return 1;
    snprintf(want, sizeof(want), "%s.key.pem", stem);
    if (strcmp(kb, want) == 0)
        return 1;
    snprintf(want, sizeof(want), "%s-key.pem", stem);
    return strcmp(kb, want) == 0;
}

/* Match the certificates marked pending with the private keys next to
 * them (same directory, or .../private/ for a .../certs/ directory). */
static int match_keys(scan_ctx *c)
{
    sqlite3_stmt *q = NULL, *k = NULL, *u = NULL;
    int r = 0, rc = SQLITE_DONE;

    if (sqlite3_prepare_v2(
            c->db,
            "SELECT o.id, o.spki_hash, f.path, f.dir, o.state FROM objects o "
            "JOIN files f ON f.id = o.file_id WHERE o.key_pending != 0",
            -1, &q, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(
            c->db,
            "SELECT path, key_spki, key_encrypted, mode, content FROM files "
            "WHERE (dir = ?1 OR dir = ?2) AND state = 'ok' AND "
            "(content = 'keys' OR content = 'error') ORDER BY path",
            -1, &k, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db,
                           "UPDATE objects SET key_state = ?2, key_path = "
                           "?3, key_mode = ?4, key_pending = 0 WHERE id = ?1",
                           -1, &u, NULL) != SQLITE_OK) {
        r = ks_db_error(c->s, c->d, "matching keys");
        goto out;
    }
    while (r == 0 && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(q, 0);
        const void *spki = sqlite3_column_blob(q, 1);
        int spki_len = sqlite3_column_bytes(q, 1);
        const char *cpath = col_text(c, q, 2, &r);
        const char *dir = col_text(c, q, 3, &r);
        char priv[PATH_MAX], kpath[PATH_MAX];
        const char *state = NULL;
        int kmode = 0, krc;

        if (r != 0)
            break;
        /* A row without a path finds no key: its match is cleared. */
        if (cpath == NULL)
            cpath = "";
        if (dir == NULL)
            dir = "";
        priv[0] = '\0';
        if (kw_str_endswith(dir, "/certs"))
            snprintf(priv, sizeof(priv), "%.*sprivate",
                     (int)(strlen(dir) - strlen("certs")), dir);
        sqlite3_reset(k);
        sqlite3_bind_text(k, 1, dir, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(k, 2, priv, -1, SQLITE_TRANSIENT);
        /* The key named like the certificate (its partner) decides, as
         * that is the one a server's configuration points at; without a
         * partner, any key in the directory with the same public key is
         * the certificate's key. */
        kpath[0] = '\0';
        while ((krc = sqlite3_step(k)) == SQLITE_ROW) {
            const char *p = col_text(c, k, 0, &r);
            const void *ks = sqlite3_column_blob(k, 1);
            int ksl = sqlite3_column_bytes(k, 1);
            int enc = sqlite3_column_int(k, 2);
            int mode = sqlite3_column_int(k, 3);
            const char *content = col_text(c, k, 4, &r);
            int is_err, partner, in_priv, same;

            if (r != 0)
                break;
            if (p == NULL)
                continue; /* a key without a path is no one's key */
            is_err = content != NULL && strcmp(content, "error") == 0;
            partner = is_partner(cpath, p);
            in_priv = priv[0] != '\0' && strncmp(p, priv, strlen(priv)) == 0;
            same = !is_err && spki != NULL && ks != NULL && ksl == spki_len &&
                   memcmp(ks, spki, (size_t)ksl) == 0;

            if (is_err && !ks__key_like(ks__base_name(p)))
                continue; /* a broken certificate file, not a key */
            if (in_priv && !partner)
                continue; /* in .../private/ only the same stem counts */
            if (partner) {
                state = same     ? "match"
                        : is_err ? "unreadable"
                        : enc    ? "encrypted"
                                 : "mismatch";
                snprintf(kpath, sizeof(kpath), "%s", p);
                kmode = mode;
                break;
            }
            if (same && state == NULL) {
                state = "match";
                snprintf(kpath, sizeof(kpath), "%s", p);
                kmode = mode;
            }
        }
        if (r != 0)
            break;
        if (krc != SQLITE_ROW && krc != SQLITE_DONE) {
            r = ks_db_error(c->s, c->d, "finding the keys of a certificate");
            break;
        }
        /* Without a key found, key_state, key_path and key_mode become
         * NULL: no binding may survive from the previous certificate. */
        sqlite3_reset(u);
        sqlite3_clear_bindings(u);
        sqlite3_bind_int64(u, 1, id);
        if (state != NULL) {
            sqlite3_bind_text(u, 2, state, -1, SQLITE_STATIC);
            sqlite3_bind_text(u, 3, kpath, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int(u, 4, kmode);
        }
        if (sqlite3_step(u) != SQLITE_DONE)
            r = ks_db_error(c->s, c->d, "recording a key match");
    }
    if (r == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = ks_db_error(c->s, c->d, "finding certificates to match with "
                                    "keys");
out:
    sqlite3_finalize(q);
    sqlite3_finalize(k);
    sqlite3_finalize(u);
    return r;
}

/* Old versions in an archive/ directory (Let's Encrypt's archive/NAME/certN,
 * keywarden's archive/NAME/N/) that nothing links to and that a newer
 * certificate for the same names replaced are marked superseded, so that
 * expired history does not drown the listing. */
static int mark_superseded(scan_ctx *c)
{
    return ks_exec(
        c->s,
        "UPDATE objects SET superseded_by = ("
        "  SELECT n.id FROM objects n WHERE n.archived"
        "  AND n.names_key = objects.names_key"
        "  AND n.id != objects.id AND n.state = 'ok'"
        "  AND n.not_after > objects.not_after"
        "  ORDER BY n.not_after DESC LIMIT 1)"
        " WHERE archived AND kind = 'tls' AND names_key IS NOT NULL"
        "  AND file_id NOT IN (SELECT id FROM files WHERE linked != 0)"
        "  AND file_id NOT IN (SELECT file_id FROM file_links)",
        c->d);
}

/* A root CA certificate on its own (a trust store entry) that anchors no
 * other certificate in the inventory is idle: it is not the operator's to
 * renew, and an expired one in Debian's store must not make every machine
 * critical.  A root that anchors something, or whose private key lies next
 * to it (a private CA), keeps the full rules. */
static int mark_idle_anchors(scan_ctx *c)
{
    /* The issuers in use are collected in one pass (no index on
     * top_issuer for every insert to pay for), then each root is looked
     * up in them. */
    return ks_exec(
        c->s,
        "WITH used(issuer) AS (SELECT DISTINCT top_issuer FROM objects"
        "  WHERE role != 'root' AND top_issuer IS NOT NULL)"
        " UPDATE objects SET idle_anchor = (role = 'root' AND chain_len <= 1"
        "  AND key_state IS NULL AND subject NOT IN (SELECT issuer FROM used))"
        " WHERE id IN (SELECT id FROM objects WHERE role = 'root')"
        "  OR idle_anchor != 0",
        c->d);
}

static int64_t next_gen(scan_ctx *c)
{
    sqlite3_stmt *st = NULL;
    int64_t g = -1;

    if (sqlite3_prepare_v2(c->db,
                           "INSERT INTO meta (key, value) VALUES "
                           "('scan_gen', 1) ON CONFLICT (key) DO UPDATE SET "
                           "value = value + 1 RETURNING value",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        g = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return g;
}

/* ---- roots -------------------------------------------------------------------- */

static int absolute(const char *in, char *out, size_t len)
{
    char cwd[PATH_MAX];
    size_t n;

    if (in[0] == '/') {
        if (strlen(in) >= len)
            return KW_EINVAL;
        snprintf(out, len, "%s", in);
    } else {
        if (getcwd(cwd, sizeof(cwd)) == NULL)
            return kw_errno();
        if ((size_t)snprintf(out, len, "%s/%s", strcmp(cwd, "/") ? cwd : "",
                             in) >= len)
            return KW_EINVAL;
    }
    /* Trailing slashes and "/." add nothing to a path we store. */
    n = strlen(out);
    for (;;) {
        if (n > 1 && out[n - 1] == '/')
            out[--n] = '\0';
        else if (n > 2 && strcmp(out + n - 2, "/.") == 0)
            out[n -= 2] = '\0';
        else
            break;
    }
    if (n == 0)
        snprintf(out, len, "/");
    return 0;
}

/* A root that is a file: visit it alone, with its parent's knowledge. */
static int scan_file_root(scan_ctx *c, int pfd, const char *parent,
                          char *path)
{
    dirstate ds;
    entry e;
    size_t i;
    int r;

    if ((r = load_dir(c, parent, &ds)) != 0) {
        dirstate_free(&ds);
        return r;
    }
    memset(&e, 0, sizeof(e));
    e.name = (char *)ks__base_name(path);
    for (i = 0; i < ds.nrows; i++)
        if (strcmp(ds.rows[i].path, path) == 0)
            e.row = &ds.rows[i];
    for (i = 0; i < ds.nlinks; i++)
        if (strcmp(ds.links[i].path, path) == 0)
            e.link = &ds.links[i];
    r = classify(c, pfd, parent, &e);
    if (r == 0)
        r = visit(c, pfd, &e, path, 0, NULL, 0, &ds);
    drop_job(c, &e);
    if (r == 0 && ds.changed)
        r = ks__key_pending_dir(c, parent);
    dirstate_free(&ds);
    return r;
}

/* Everything the inventory had at or under a root that no longer exists. */
static int root_gone(scan_ctx *c, const char *root)
{
    sqlite3_stmt *q = NULL;
    char lo[PATH_MAX + 2], hi[PATH_MAX + 2];
    int r = 0, rc = SQLITE_DONE;

    snprintf(lo, sizeof(lo), "%s/", root);
    snprintf(hi, sizeof(hi), "%s0", root);
    if (sqlite3_prepare_v2(c->db,
                           "SELECT id, path, content FROM files WHERE state "
                           "= 'ok' AND (path = ?1 OR (path >= ?2 AND path < "
                           "?3))",
                           -1, &q, NULL) != SQLITE_OK)
        return ks_db_error(c->s, c->d, "finding missing files");
    sqlite3_bind_text(q, 1, root, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, lo, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, hi, -1, SQLITE_STATIC);
    while (r == 0 && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        char path[PATH_MAX], content[12];

        copy_text(path, sizeof(path), sqlite3_column_text(q, 1));
        copy_text(content, sizeof(content), sqlite3_column_text(q, 2));
        r = ks__file_gone(c, sqlite3_column_int64(q, 0), path, content);
    }
    if (r == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = ks_db_error(c->s, c->d, "finding missing files");
    sqlite3_finalize(q);
    return r;
}

static int scan_root(scan_ctx *c, const char *given, int *opened)
{
    char path[PATH_MAX], parent[PATH_MAX];
    struct stat sb;
    int pfd, r, e;

    if (absolute(given, path, sizeof(path)) != 0) {
        c->st->errors++;
        ks__note(c, KS_NOTE_ERROR, given, "path too long");
        return 0;
    }
    if (stat(path, &sb) != 0) {
        e = errno;
        c->st->errors++;
        ks__note(c, KS_NOTE_ERROR, path, "cannot scan: %s", strerror(e));
        /* A root that vanished still has its files marked missing. */
        if (e == ENOENT && (r = root_gone(c, path)) != 0)
            return r;
        /* A file a daemon loads is an object even when it is not there:
         * the daemon will fail on it. */
        if (c->o->expected) {
            c->st->absent++;
            return ks__expected_absent(c, path, e);
        }
        return 0;
    }
    /* A FIFO, socket or device root is reported by visit(), and is not
     * a path that could be scanned. */
    if (S_ISDIR(sb.st_mode) || S_ISREG(sb.st_mode))
        (*opened)++;
    if (S_ISDIR(sb.st_mode)) {
        if (strcmp(path, "/") == 0)
            pfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        else
            pfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd < 0) {
            c->st->errors++;
            ks__note(c, KS_NOTE_ERROR, path, "cannot read directory: %s",
                     strerror(errno));
            return 0;
        }
        r = set_add(&c->dirs_walked, inode_key(&sb), NULL);
        if (r < 0)
            return kw_diag_set(c->d, r, "out of memory");
        if (r == 1) { /* the same directory given twice */
            close(pfd);
            return 0;
        }
        r = walk(c, path, strlen(path), pfd, 0, NULL, 0);
        return r == 0 ? sweep_vanished(c, path) : r;
    }
    ks__dir_name(path, parent, sizeof(parent));
    pfd = open(parent[0] ? parent : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0) {
        c->st->errors++;
        ks__note(c, KS_NOTE_ERROR, path, "cannot open its directory: %s",
                 strerror(errno));
        return 0;
    }
    r = scan_file_root(c, pfd, parent, path);
    close(pfd);
    return r;
}

/* ---- entry point ---------------------------------------------------------------- */

/* What a parse thread leaves behind in OpenSSL and in ks_cert. */
static void worker_exit(void)
{
    ks_cert_thread_done();
    OPENSSL_thread_stop();
}

/* Parse threads: as asked, else one per CPU up to four (beyond that the
 * single SQLite writer is the bottleneck). */
static int scan_threads(const ks_scan_opts *o)
{
    long n;

    if (o->threads > 0)
        return o->threads;
    n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 4 ? 4 : (int)n;
}

int ks_scan(ks_store *s, const char *const *roots, size_t nroots,
            const ks_scan_opts *opts, ks_scan_stats *stats, kw_diag *d)
{
    scan_ctx c;
    size_t i;
    int r = 0, opened = 0, in_tx = 0, bulk = 0;

    memset(stats, 0, sizeof(*stats));
    memset(&c, 0, sizeof(c));
    c.s = s;
    c.db = ks_db(s);
    c.o = opts;
    c.st = stats;
    c.d = d;
    c.now = opts->now;
    c.max_size = opts->max_file_size ? opts->max_file_size
                                     : KS_SCAN_MAX_FILE_SIZE;
    c.max_depth = opts->max_depth > 0 ? opts->max_depth : 64;
    c.buf = malloc(c.max_size + 1);
    c.scratch = malloc(c.max_size + 1);
    if (c.buf == NULL || c.scratch == NULL) {
        r = kw_diag_set(d, KW_ENOMEM, "out of memory");
        goto out;
    }
    ks_cert_init();
    if ((r = ks_pool_start(&c.pool, scan_threads(opts), c.max_size + 1,
                           worker_exit)) != 0) {
        r = kw_diag_set(d, r, "cannot start scan threads: %s",
                        kw_strerror(r));
        goto out;
    }
    if ((r = ks__stmts_prepare(&c)) != 0)
        goto out;
    if ((r = ks_begin(s, d)) != 0)
        goto out;
    in_tx = 1;
    if ((c.gen = next_gen(&c)) < 0) {
        r = ks_db_error(s, d, "advancing the scan generation");
        goto out;
    }
    /* Bulk load: into an empty inventory, build the listing index once at
     * the end instead of row by row. */
    {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(c.db, "SELECT NOT EXISTS (SELECT 1 FROM "
                                     "objects)",
                               -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            bulk = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        if (bulk && (r = ks_exec(s, "DROP INDEX IF EXISTS objects_deadline",
                                 d)) != 0)
            goto out;
    }
    for (i = 0; i < nroots && r == 0; i++)
        r = scan_root(&c, roots[i], &opened);
    if (r == 0 && bulk)
        r = ks_exec(s, ks_listing_index_sql, d);
    if (r == 0)
        r = match_keys(&c);
    if (r == 0 && c.changed)
        r = mark_superseded(&c);
    if (r == 0 && c.changed)
        r = mark_idle_anchors(&c);
    if (r == 0)
        r = ks__event(&c, 0, "scan.completed",
                      json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "files",
                                (json_int_t)stats->files, "parsed",
                                (json_int_t)stats->parsed, "certs",
                                (json_int_t)stats->certs, "errors",
                                (json_int_t)stats->errors, "new",
                                (json_int_t)stats->objects_new, "missing",
                                (json_int_t)stats->missing));
    if (r == 0) {
        r = ks_commit(s, d);
        in_tx = 0;
    }
    if (r == 0 && opened == 0 && nroots > 0)
        r = kw_diag_set(d, KW_ENOENT, "none of the paths could be scanned");
out:
    ks_pool_stop(c.pool);
    if (in_tx)
        ks_rollback(s);
    ks__stmts_finalize(&c);
    set_free(&c.dirs_walked);
    set_free(&c.dirs_seen);
    set_free(&c.dirs_unknown);
    if (c.buf != NULL)
        kw_wipe(c.buf, c.max_size + 1);
    if (c.scratch != NULL)
        kw_wipe(c.scratch, c.max_size + 1);
    free(c.buf);
    free(c.scratch);
    return r;
}
