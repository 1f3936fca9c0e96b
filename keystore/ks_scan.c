/*
 * ks_scan.c: bring the inventory up to date with files on disk.
 *
 * A file's identity is (device, inode); its freshness is (size, mtime).
 * The walk visits directory entries in sorted order, so results do not
 * depend on readdir order.  Each file goes through process_file():
 *
 *   known path, same identity and freshness   -> touch (unchanged)
 *   known path, changed                       -> read, parse, update
 *   new path, identity of a known file        -> alias (file_links), or a
 *                                                rename if the old path
 *                                                is gone
 *   new path, new identity                    -> read, parse, insert
 *
 * Every file visited gets the scan's generation number; afterwards files
 * under the scanned roots with an older generation are missing.  Private
 * keys are matched to certificates in a pass after the walk, because a
 * key may be visited before or after its certificate.
 */
#include "ks_scan.h"

#include "ks_cert.h"
#include "ks_pem.h"
#include "../common/kw_fs.h"
#include "../common/kw_str.h"
#include "../common/kw_time.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BATCH_FILES 2000

enum {
    Q_FILE_BY_PATH,
    Q_FILE_BY_INODE,
    U_FILE_TOUCH,
    U_FILE_RESTORE,
    I_FILE,
    U_FILE,
    U_FILE_PATH,
    I_LINK,
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
    N_STMTS
};

static const char *const stmt_sql[N_STMTS] = {
    [Q_FILE_BY_PATH] =
        "SELECT id, dev, ino, size, mtime_ns, scan_gen, state, content "
        "FROM files WHERE path = ?1",
    [Q_FILE_BY_INODE] =
        "SELECT id, path, size, mtime_ns, scan_gen, linked FROM files "
        "WHERE dev = ?1 AND ino = ?2 ORDER BY scan_gen DESC LIMIT 1",
    [U_FILE_TOUCH] = "UPDATE files SET scan_gen = ?2, last_seen = ?3, "
                     "linked = linked | ?4 WHERE id = ?1",
    [U_FILE_RESTORE] = "UPDATE files SET state = 'ok', missing_since = NULL "
                       "WHERE id = ?1",
    [I_FILE] = "INSERT INTO files (path, dir, dev, ino, size, mtime_ns, mode, "
               "uid, gid, content, error, key_spki, key_encrypted, linked, "
               "scan_gen, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, "
               "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?16)",
    [U_FILE] = "UPDATE files SET dev = ?3, ino = ?4, size = ?5, mtime_ns = "
               "?6, mode = ?7, uid = ?8, gid = ?9, content = ?10, error = ?11,"
               " key_spki = ?12, key_encrypted = ?13, linked = linked | ?14, "
               "scan_gen = ?15, last_seen = ?16, state = 'ok', "
               "missing_since = NULL WHERE id = ?1",
    [U_FILE_PATH] = "UPDATE files SET path = ?2, dir = ?3 WHERE id = ?1",
    [I_LINK] = "INSERT INTO file_links (path, file_id, scan_gen) VALUES "
               "(?1, ?2, ?3) ON CONFLICT (path) DO UPDATE SET file_id = ?2, "
               "scan_gen = ?3",
    [Q_OBJS_OF_FILE] = "SELECT id, position, fingerprint, state FROM objects "
                       "WHERE file_id = ?1 ORDER BY position",
    [I_OBJ] =
        "INSERT INTO objects (kind, name, source, file_id, position, state, "
        "error, not_before, not_after, deadline, subject, issuer, serial, "
        "fingerprint, spki_hash, key_type, key_bits, is_ca, self_signed, "
        "sans, chain_len, arrangement, weak_position, weak_name, "
        "weak_not_after, key_state, key_path, key_mode, key_pending, "
        "names_key, created_at, updated_at, role, top_issuer) VALUES "
        "('tls', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
        "?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, "
        "?28, ?29, ?30, ?31, ?31, ?32, ?33)",
    [U_OBJ] =
        "UPDATE objects SET name = ?2, source = ?3, file_id = ?4, "
        "position = ?5, state = ?6, error = ?7, not_before = ?8, "
        "not_after = ?9, deadline = ?10, subject = ?11, issuer = ?12, "
        "serial = ?13, fingerprint = ?14, spki_hash = ?15, key_type = ?16, "
        "key_bits = ?17, is_ca = ?18, self_signed = ?19, sans = ?20, "
        "chain_len = ?21, arrangement = ?22, weak_position = ?23, "
        "weak_name = ?24, weak_not_after = ?25, key_state = ?26, "
        "key_path = ?27, key_mode = ?28, key_pending = ?29, names_key = ?30,"
        " superseded_by = NULL, updated_at = ?31, role = ?32, "
        "top_issuer = ?33 WHERE id = ?1",
    [U_OBJ_ERROR] = "UPDATE objects SET state = 'unreadable', error = ?2, "
                    "updated_at = ?3 WHERE file_id = ?1",
    [U_OBJ_STATE] = "UPDATE objects SET state = ?2, updated_at = ?3 "
                    "WHERE file_id = ?1",
    [U_OBJ_SOURCE] = "UPDATE objects SET source = ?2 WHERE file_id = ?1",
    [D_OBJ] = "DELETE FROM objects WHERE id = ?1",
    [D_CHAIN] = "DELETE FROM chain_elements WHERE object_id = ?1",
    [I_CHAIN] = "INSERT INTO chain_elements (object_id, position, subject, "
                "issuer, serial, not_before, not_after, fingerprint, "
                "key_type, key_bits, is_ca, self_signed, sans) VALUES (?1, "
                "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [I_EVENT] = "INSERT INTO events (at, object_id, type, detail) VALUES "
                "(?1, ?2, ?3, ?4)",
    [U_KEY_PENDING_DIR] = "UPDATE objects SET key_pending = 1 WHERE file_id "
                          "IN (SELECT id FROM files WHERE dir = ?1)",
};

/* Directories already walked in this scan, by (dev, ino): an open
 * addressing set.  It grows with directories, not files. */
typedef struct dirset {
    uint64_t *keys; /* pairs: dev, ino; (0, 0) marks an empty slot */
    size_t cap, n;
} dirset;

typedef struct ancestor {
    dev_t dev;
    ino_t ino;
    const struct ancestor *up;
} ancestor;

typedef struct scan_ctx {
    ks_store *s;
    sqlite3 *db;
    const ks_scan_opts *o;
    ks_scan_stats *st;
    kw_diag *d;
    sqlite3_stmt *q[N_STMTS];
    int64_t gen;
    int64_t now;
    size_t max_size;
    int max_depth;
    unsigned char *buf;     /* file contents, max_size bytes */
    unsigned char *scratch; /* decoded PEM bodies */
    dirset dirs;
    size_t batch;
} scan_ctx;

/* ---- small helpers ------------------------------------------------------ */

static void note(scan_ctx *c, enum ks_scan_note n, const char *path,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void note(scan_ctx *c, enum ks_scan_note n, const char *path,
                 const char *fmt, ...)
{
    char msg[768];
    va_list ap;

    if (c->o->note == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->o->note(c->o->note_ctx, n, path, msg);
}

static int db_fail(scan_ctx *c, const char *what)
{
    return ks_db_error(c->s, c->d, what);
}

static sqlite3_stmt *stmt(scan_ctx *c, int i)
{
    sqlite3_stmt *st = c->q[i];

    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v != NULL)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static int step_done(scan_ctx *c, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_fail(c, what);
    return 0;
}

static int64_t mtime_ns(const struct stat *sb)
{
    return (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
}

static uint64_t mix(uint64_t a, uint64_t b)
{
    uint64_t h = a * 0x9e3779b97f4a7c15ULL ^ (b + 0x7f4a7c159e3779b9ULL);

    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ULL;
    return h ^ (h >> 29);
}

/* Insert (dev, ino); 1 if it was already there, 0 if added, <0 on error. */
static int dirset_add(dirset *ds, uint64_t dev, uint64_t ino)
{
    size_t i, mask;

    if (dev == 0 && ino == 0)
        ino = 1; /* keep (0, 0) free as the empty marker */
    if ((ds->n + 1) * 2 > ds->cap) {
        size_t ncap = ds->cap ? ds->cap * 2 : 256, j;
        uint64_t *nk = calloc(ncap * 2, sizeof(*nk));
        if (nk == NULL)
            return KW_ENOMEM;
        for (j = 0; j < ds->cap; j++) {
            uint64_t kd = ds->keys[2 * j], ki = ds->keys[2 * j + 1];
            if (kd == 0 && ki == 0)
                continue;
            for (i = mix(kd, ki) & (ncap - 1);
                 nk[2 * i] != 0 || nk[2 * i + 1] != 0; i = (i + 1) & (ncap - 1))
                ;
            nk[2 * i] = kd;
            nk[2 * i + 1] = ki;
        }
        free(ds->keys);
        ds->keys = nk;
        ds->cap = ncap;
    }
    mask = ds->cap - 1;
    for (i = mix(dev, ino) & mask;; i = (i + 1) & mask) {
        uint64_t kd = ds->keys[2 * i], ki = ds->keys[2 * i + 1];
        if (kd == 0 && ki == 0)
            break;
        if (kd == dev && ki == ino)
            return 1;
    }
    ds->keys[2 * i] = dev;
    ds->keys[2 * i + 1] = ino;
    ds->n++;
    return 0;
}

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');

    return b != NULL ? b + 1 : path;
}

/* Directory part of path, into out. */
static void dir_name(const char *path, char *out, size_t len)
{
    const char *b = strrchr(path, '/');
    size_t n = b == NULL ? 0 : (b == path ? 1 : (size_t)(b - path));

    if (n >= len)
        n = len - 1;
    memcpy(out, path, n);
    out[n] = '\0';
}

static int has_ext(const char *name, const char *const *exts)
{
    const char *dot = strrchr(name, '.');
    size_t i;

    if (dot == NULL)
        return 0;
    for (i = 0; exts[i] != NULL; i++)
        if (strcasecmp(dot + 1, exts[i]) == 0)
            return 1;
    return 0;
}

/* Names that promise a certificate: a file like this that does not parse
 * is an error worth an inventory entry, not a file to skip. */
static int cert_like(const char *name)
{
    static const char *const exts[] = {"pem", "crt", "cer", "cert", "der",
                                       NULL};
    return has_ext(name, exts) && !strstr(name, "key");
}

static int key_like(const char *name)
{
    static const char *const exts[] = {"key", NULL};
    return has_ext(name, exts) || strstr(name, "privkey") != NULL ||
           kw_str_endswith(name, "key.pem");
}

static int looks_binary(const unsigned char *p, size_t n)
{
    size_t i, lim = n < 4096 ? n : 4096, odd = 0;

    for (i = 0; i < lim; i++) {
        if (p[i] == 0)
            return 1;
        if (p[i] < 0x20 && p[i] != '\n' && p[i] != '\r' && p[i] != '\t')
            odd++;
    }
    return odd * 10 > lim;
}

static int add_event(scan_ctx *c, int64_t object_id, const char *type,
                     json_t *detail)
{
    sqlite3_stmt *st = stmt(c, I_EVENT);
    char *js = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS);
    int r;

    json_decref(detail);
    if (js == NULL)
        return kw_diag_set(c->d, KW_ENOMEM, "out of memory");
    sqlite3_bind_int64(st, 1, c->now);
    if (object_id > 0)
        sqlite3_bind_int64(st, 2, object_id);
    sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, js, -1, free);
    r = step_done(c, st, "recording an event");
    return r;
}

static int64_t next_gen(scan_ctx *c)
{
    sqlite3_stmt *st = NULL;
    int64_t g = 1;

    if (sqlite3_prepare_v2(c->db,
                           "INSERT INTO meta (key, value) VALUES "
                           "('scan_gen', 1) ON CONFLICT (key) DO UPDATE SET "
                           "value = value + 1 RETURNING value",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        g = sqlite3_column_int64(st, 0);
    else
        g = -1;
    sqlite3_finalize(st);
    return g;
}

static int batch_tick(scan_ctx *c)
{
    int r;

    if (++c->batch < BATCH_FILES)
        return 0;
    c->batch = 0;
    if ((r = ks_commit(c->s, c->d)) != 0)
        return r;
    return ks_begin(c->s, c->d);
}

/* ---- turning a parsed file into objects --------------------------------- */

static char *sans_json(const ks_cert *cert)
{
    json_t *a = json_array();
    char *s;
    size_t i;

    if (a == NULL)
        return NULL;
    for (i = 0; i < cert->nsans; i++)
        json_array_append_new(a, json_string(cert->sans[i]));
    s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The key that groups versions of "the same" certificate: its sorted,
 * lower-cased names, or for a CA its subject. */
static char *names_key(const ks_cert *cert)
{
    char buf[4096];
    size_t pos = 0, i, n = cert->nsans;
    const char **v;

    if (cert->is_ca || n == 0) {
        snprintf(buf, sizeof(buf), "subject:%s",
                 cert->subject ? cert->subject : "");
        return strdup(buf);
    }
    v = malloc(n * sizeof(*v));
    if (v == NULL)
        return NULL;
    for (i = 0; i < n; i++)
        v[i] = cert->sans[i];
    qsort(v, n, sizeof(*v), cmp_str);
    buf[0] = '\0';
    for (i = 0; i < n; i++)
        if (i == 0 || strcmp(v[i], v[i - 1]) != 0)
            kw_str_appendf(buf, sizeof(buf), &pos, "%s%s", i ? "," : "",
                           v[i]);
    free(v);
    for (i = 0; buf[i] != '\0'; i++)
        if (buf[i] >= 'A' && buf[i] <= 'Z')
            buf[i] = (char)(buf[i] - 'A' + 'a');
    return strdup(buf);
}

static const char *arrangement_word(enum ks_arrangement a)
{
    switch (a) {
    case KS_ARR_SINGLE: return "single";
    case KS_ARR_CHAIN: return "chain";
    case KS_ARR_CHAIN_UNORDERED: return "unordered";
    case KS_ARR_BUNDLE: return "bundle";
    default: return NULL;
    }
}

/* One object to write: a position in the file and its certificates. */
typedef struct objplan {
    int position;
    const ks_cert *leaf;
    const ks_cert *chain[32];
    size_t chain_len;
} objplan;

/* Compare the leaf's public key with the keys held in the same file. */
static const char *same_file_key_state(const ks_certfile *f,
                                       const ks_cert *leaf)
{
    size_t i;
    int encrypted = 0;

    for (i = 0; i < f->nkeys; i++) {
        if (f->keys[i].parsed &&
            memcmp(f->keys[i].spki_hash, leaf->spki_hash, 32) == 0)
            return "match";
        if (f->keys[i].encrypted)
            encrypted = 1;
    }
    return encrypted ? "encrypted" : "mismatch";
}

static int write_object(scan_ctx *c, int64_t file_id, const char *path,
                        const struct stat *sb, const ks_certfile *f,
                        const objplan *p, int64_t existing_id,
                        const char *old_fp, const char *old_state)
{
    const ks_cert *leaf = p->leaf;
    sqlite3_stmt *st = stmt(c, existing_id > 0 ? U_OBJ : I_OBJ);
    char fp[65], *sans = NULL, *nkey = NULL;
    int64_t deadline = leaf->not_after, weak_after = 0, object_id;
    int weak_pos = -1, r = 0;
    size_t i;
    const char *arr = arrangement_word(f->arrangement);
    const char *kstate = NULL;

    /* The chain's deadline is its earliest expiry; the "weak" element is
     * the earliest-expiring one that expires before the leaf. */
    for (i = 1; i < p->chain_len; i++) {
        if (p->chain[i]->not_after < deadline)
            deadline = p->chain[i]->not_after;
        if (p->chain[i]->not_after < leaf->not_after &&
            (weak_pos < 0 || p->chain[i]->not_after < weak_after)) {
            weak_pos = (int)i;
            weak_after = p->chain[i]->not_after;
        }
    }
    kw_hex(leaf->fingerprint, 32, 0, fp);
    sans = sans_json(leaf);
    nkey = names_key(leaf);
    if (sans == NULL || nkey == NULL) {
        r = kw_diag_set(c->d, KW_ENOMEM, "out of memory");
        goto out;
    }
    if (f->nkeys > 0)
        kstate = same_file_key_state(f, leaf);

    if (existing_id > 0)
        sqlite3_bind_int64(st, 1, existing_id);
    sqlite3_bind_text(st, 2, ks_cert_name(leaf), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, path, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, file_id);
    sqlite3_bind_int(st, 5, p->position);
    sqlite3_bind_text(st, 6, "ok", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, leaf->not_before);
    sqlite3_bind_int64(st, 9, leaf->not_after);
    sqlite3_bind_int64(st, 10, deadline);
    sqlite3_bind_text(st, 11, leaf->subject, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 12, leaf->issuer, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 13, leaf->serial, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 14, fp, 64, SQLITE_STATIC);
    sqlite3_bind_blob(st, 15, leaf->spki_hash, 32, SQLITE_STATIC);
    sqlite3_bind_text(st, 16, leaf->key_type, -1, SQLITE_STATIC);
    if (leaf->key_bits > 0)
        sqlite3_bind_int(st, 17, leaf->key_bits);
    sqlite3_bind_int(st, 18, leaf->is_ca);
    sqlite3_bind_int(st, 19, leaf->self_signed);
    sqlite3_bind_text(st, 20, sans, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 21, (int)p->chain_len);
    bind_text(st, 22, arr);
    if (weak_pos > 0) {
        sqlite3_bind_int(st, 23, weak_pos);
        sqlite3_bind_text(st, 24, ks_cert_name(p->chain[weak_pos]), -1,
                          SQLITE_STATIC);
        sqlite3_bind_int64(st, 25, weak_after);
    }
    if (kstate != NULL) {
        sqlite3_bind_text(st, 26, kstate, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 27, path, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 28, (int)(sb->st_mode & 07777));
    }
    sqlite3_bind_int(st, 29, kstate == NULL);
    sqlite3_bind_text(st, 30, nkey, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 31, c->now);
    /* A self-signed certificate with DNS or IP names is a server's own
     * (snakeoil) certificate, even when it claims CA:TRUE as `openssl req
     * -x509` makes it; a root CA names no hosts. */
    sqlite3_bind_text(st, 32,
                      !leaf->is_ca                         ? "leaf"
                      : leaf->self_signed && leaf->nsans == 0 ? "root"
                      : leaf->self_signed                     ? "leaf"
                                                              : "intermediate",
                      -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 33, p->chain[p->chain_len - 1]->issuer, -1,
                      SQLITE_STATIC);
    if ((r = step_done(c, st, "writing an object")) != 0)
        goto out;
    object_id = existing_id > 0 ? existing_id
                                : sqlite3_last_insert_rowid(c->db);

    if (existing_id > 0) {
        st = stmt(c, D_CHAIN);
        sqlite3_bind_int64(st, 1, object_id);
        if ((r = step_done(c, st, "replacing chain elements")) != 0)
            goto out;
    }
    for (i = 0; p->chain_len > 1 && i < p->chain_len; i++) {
        const ks_cert *e = p->chain[i];
        char efp[65], *esans = sans_json(e);

        if (esans == NULL) {
            r = kw_diag_set(c->d, KW_ENOMEM, "out of memory");
            goto out;
        }
        kw_hex(e->fingerprint, 32, 0, efp);
        st = stmt(c, I_CHAIN);
        sqlite3_bind_int64(st, 1, object_id);
        sqlite3_bind_int(st, 2, (int)i);
        sqlite3_bind_text(st, 3, e->subject, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, e->issuer, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, e->serial, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, e->not_before);
        sqlite3_bind_int64(st, 7, e->not_after);
        sqlite3_bind_text(st, 8, efp, 64, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 9, e->key_type, -1, SQLITE_STATIC);
        if (e->key_bits > 0)
            sqlite3_bind_int(st, 10, e->key_bits);
        sqlite3_bind_int(st, 11, e->is_ca);
        sqlite3_bind_int(st, 12, e->self_signed);
        sqlite3_bind_text(st, 13, esans, -1, free);
        if ((r = step_done(c, st, "writing a chain element")) != 0)
            goto out;
    }

    if (existing_id <= 0) {
        c->st->objects_new++;
        r = add_event(c, object_id, "object.discovered",
                      json_pack("{s:s, s:s, s:I}", "path", path,
                                "fingerprint", fp, "not_after",
                                (json_int_t)leaf->not_after));
    } else if (old_fp == NULL || strcmp(old_fp, fp) != 0 ||
               (old_state != NULL && strcmp(old_state, "ok") != 0)) {
        char when[32];

        c->st->objects_changed++;
        kw_time_rfc3339(leaf->not_after, when, sizeof(when));
        note(c, KS_NOTE_CHANGED, path, "%s: now %s, expires %s",
             ks_cert_name(leaf), fp, when);
        r = add_event(c, object_id, "object.changed",
                      json_pack("{s:s, s:s?, s:s, s:I}", "path", path,
                                "old_fingerprint", old_fp, "fingerprint", fp,
                                "not_after", (json_int_t)leaf->not_after));
    }
out:
    free(sans);
    free(nkey);
    return r;
}

/* Build the object plans of a parsed file. */
static int plan_objects(const ks_certfile *f, objplan **out, size_t *n)
{
    objplan *p;
    size_t i;

    *out = NULL;
    *n = 0;
    if (f->ncerts == 0)
        return 0;
    if (f->arrangement == KS_ARR_BUNDLE) {
        p = calloc(f->ncerts, sizeof(*p));
        if (p == NULL)
            return KW_ENOMEM;
        for (i = 0; i < f->ncerts; i++) {
            p[i].position = (int)i;
            p[i].leaf = &f->certs[i];
            p[i].chain[0] = &f->certs[i];
            p[i].chain_len = 1;
        }
        *n = f->ncerts;
    } else {
        p = calloc(1, sizeof(*p));
        if (p == NULL)
            return KW_ENOMEM;
        p->leaf = &f->certs[f->order[0]];
        for (i = 0; i < f->ncerts && i < 32; i++)
            p->chain[i] = &f->certs[f->order[i]];
        p->chain_len = i;
        *n = 1;
    }
    *out = p;
    return 0;
}

typedef struct oldobj {
    int64_t id;
    int position;
    char fp[65];
    char state[16];
    int seen;
} oldobj;

static int load_old_objects(scan_ctx *c, int64_t file_id, oldobj **out,
                            size_t *n)
{
    sqlite3_stmt *st = stmt(c, Q_OBJS_OF_FILE);
    oldobj *v = NULL, *nv;
    size_t cnt = 0;
    int rc;

    *out = NULL;
    *n = 0;
    sqlite3_bind_int64(st, 1, file_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *fp = sqlite3_column_text(st, 2);
        const unsigned char *state = sqlite3_column_text(st, 3);

        nv = realloc(v, (cnt + 1) * sizeof(*v));
        if (nv == NULL) {
            free(v);
            sqlite3_reset(st);
            return kw_diag_set(c->d, KW_ENOMEM, "out of memory");
        }
        v = nv;
        memset(&v[cnt], 0, sizeof(v[cnt]));
        v[cnt].id = sqlite3_column_int64(st, 0);
        v[cnt].position = sqlite3_column_int(st, 1);
        snprintf(v[cnt].fp, sizeof(v[cnt].fp), "%s",
                 fp ? (const char *)fp : "");
        snprintf(v[cnt].state, sizeof(v[cnt].state), "%s",
                 state ? (const char *)state : "");
        cnt++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        free(v);
        return db_fail(c, "reading objects of a file");
    }
    *out = v;
    *n = cnt;
    return 0;
}

/* Replace the objects of file_id with those of the parsed file f. */
static int sync_objects(scan_ctx *c, int64_t file_id, const char *path,
                        const struct stat *sb, const ks_certfile *f)
{
    objplan *plans = NULL;
    oldobj *old = NULL;
    size_t np = 0, no = 0, i, j;
    int r;

    if ((r = plan_objects(f, &plans, &np)) != 0)
        return kw_diag_set(c->d, r, "out of memory");
    if ((r = load_old_objects(c, file_id, &old, &no)) != 0)
        goto out;
    for (i = 0; i < np && r == 0; i++) {
        oldobj *match = NULL;

        for (j = 0; j < no; j++)
            if (old[j].position == plans[i].position) {
                match = &old[j];
                match->seen = 1;
                break;
            }
        r = write_object(c, file_id, path, sb, f, &plans[i],
                         match ? match->id : 0, match ? match->fp : NULL,
                         match ? match->state : NULL);
    }
    /* Certificates that left a bundle: recorded, then removed. */
    for (j = 0; j < no && r == 0; j++) {
        sqlite3_stmt *st;

        if (old[j].seen)
            continue;
        r = add_event(c, old[j].id, "object.removed",
                      json_pack("{s:s, s:s, s:i}", "path", path,
                                "fingerprint", old[j].fp, "position",
                                old[j].position));
        if (r != 0)
            break;
        st = stmt(c, D_OBJ);
        sqlite3_bind_int64(st, 1, old[j].id);
        r = step_done(c, st, "removing an object");
    }
out:
    free(plans);
    free(old);
    return r;
}

/* A file that should hold a certificate but cannot be read or parsed gets
 * an object of its own (health unknown), so `list` and `check` show it. */
static int sync_error_object(scan_ctx *c, int64_t file_id, const char *path,
                             const char *error)
{
    oldobj *old = NULL;
    size_t no = 0;
    sqlite3_stmt *st;
    int r;

    if ((r = load_old_objects(c, file_id, &old, &no)) != 0)
        return r;
    if (no > 0) {
        int was_ok = strcmp(old[0].state, "unreadable") != 0;
        st = stmt(c, U_OBJ_ERROR);
        sqlite3_bind_int64(st, 1, file_id);
        sqlite3_bind_text(st, 2, error, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, c->now);
        r = step_done(c, st, "marking objects unreadable");
        if (r == 0 && was_ok)
            r = add_event(c, old[0].id, "object.unreadable",
                          json_pack("{s:s, s:s}", "path", path, "error",
                                    error));
        free(old);
        return r;
    }
    free(old);
    st = stmt(c, I_OBJ);
    sqlite3_bind_text(st, 2, base_name(path), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, path, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, file_id);
    sqlite3_bind_int(st, 5, 0);
    sqlite3_bind_text(st, 6, "unreadable", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, error, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 20, "[]", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 21, 0);
    sqlite3_bind_int(st, 29, 0);
    sqlite3_bind_int64(st, 31, c->now);
    if ((r = step_done(c, st, "writing an object")) != 0)
        return r;
    c->st->objects_new++;
    return add_event(c, sqlite3_last_insert_rowid(c->db), "object.unreadable",
                     json_pack("{s:s, s:s}", "path", path, "error", error));
}

/* ---- one file ------------------------------------------------------------ */

typedef struct filerow {
    int64_t id;
    int64_t dev, ino, size, mtime;
    int64_t gen;
    char state[16];
    char content[16];
} filerow;

static int lookup_path(scan_ctx *c, const char *path, filerow *fr)
{
    sqlite3_stmt *st = stmt(c, Q_FILE_BY_PATH);
    int rc;

    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        fr->id = sqlite3_column_int64(st, 0);
        fr->dev = sqlite3_column_int64(st, 1);
        fr->ino = sqlite3_column_int64(st, 2);
        fr->size = sqlite3_column_int64(st, 3);
        fr->mtime = sqlite3_column_int64(st, 4);
        fr->gen = sqlite3_column_int64(st, 5);
        snprintf(fr->state, sizeof(fr->state), "%s",
                 (const char *)sqlite3_column_text(st, 6));
        snprintf(fr->content, sizeof(fr->content), "%s",
                 (const char *)sqlite3_column_text(st, 7));
    }
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return db_fail(c, "looking up a file");
}

static int same_identity(const filerow *fr, const struct stat *sb)
{
    return fr->dev == (int64_t)sb->st_dev && fr->ino == (int64_t)sb->st_ino &&
           fr->size == (int64_t)sb->st_size && fr->mtime == mtime_ns(sb);
}

static int touch_file(scan_ctx *c, int64_t id, int linked, const char *state)
{
    sqlite3_stmt *st = stmt(c, U_FILE_TOUCH);
    int r;

    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, c->gen);
    sqlite3_bind_int64(st, 3, c->now);
    sqlite3_bind_int(st, 4, linked);
    if ((r = step_done(c, st, "updating a file")) != 0)
        return r;
    if (state != NULL && strcmp(state, "missing") == 0) {
        /* It came back: the objects are live again. */
        st = stmt(c, U_FILE_RESTORE);
        sqlite3_bind_int64(st, 1, id);
        if ((r = step_done(c, st, "restoring a file")) != 0)
            return r;
        st = stmt(c, U_OBJ_STATE);
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, "ok", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, c->now);
        if ((r = step_done(c, st, "restoring objects")) != 0)
            return r;
        r = add_event(c, 0, "file.restored",
                      json_pack("{s:I}", "file_id", (json_int_t)id));
    }
    return r;
}

static int add_link(scan_ctx *c, const char *path, int64_t file_id)
{
    sqlite3_stmt *st = stmt(c, I_LINK);

    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, file_id);
    sqlite3_bind_int64(st, 3, c->gen);
    return step_done(c, st, "recording a link");
}

/* Move a file row (and its objects) to a new primary path. */
static int move_file(scan_ctx *c, int64_t id, const char *path)
{
    sqlite3_stmt *st = stmt(c, U_FILE_PATH);
    char dir[PATH_MAX];
    int r;

    dir_name(path, dir, sizeof(dir));
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, dir, -1, SQLITE_STATIC);
    if ((r = step_done(c, st, "renaming a file")) != 0)
        return r;
    st = stmt(c, U_OBJ_SOURCE);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
    return step_done(c, st, "renaming objects");
}

/* A path reached without any symlink is the better name for a file; among
 * links, one with a certificate-like extension beats a hash link. */
static int path_score(const char *path, int linked)
{
    return (linked ? 0 : 2) + (cert_like(base_name(path)) ? 1 : 0);
}

/* The file at path has the identity of a known row found by inode.  Decide
 * whether path is an alias of it (record a link) or its new name. */
static int handle_alias(scan_ctx *c, const char *path, const struct stat *sb,
                        int linked, int64_t id, const char *old_path,
                        int old_linked, int64_t old_gen, int *done)
{
    struct stat os;
    int r;

    *done = 0;
    if (old_gen != c->gen &&
        (stat(old_path, &os) != 0 || os.st_dev != sb->st_dev ||
         os.st_ino != sb->st_ino)) {
        /* The old name is gone: the file was renamed. */
        if ((r = move_file(c, id, path)) != 0)
            return r;
        if ((r = touch_file(c, id, linked, NULL)) != 0)
            return r;
        *done = 1;
        return add_event(c, 0, "file.renamed",
                         json_pack("{s:s, s:s}", "from", old_path, "to",
                                   path));
    }
    c->st->duplicates++;
    if (path_score(path, linked) > path_score(old_path, old_linked)) {
        /* Keep the better name as primary, the other as a link. */
        if ((r = move_file(c, id, path)) != 0 ||
            (r = add_link(c, old_path, id)) != 0)
            return r;
    } else if ((r = add_link(c, path, id)) != 0) {
        return r;
    }
    if ((r = touch_file(c, id, linked, NULL)) != 0)
        return r;
    *done = 1;
    return 0;
}

static int lookup_inode(scan_ctx *c, const struct stat *sb, int64_t *id,
                        char *path, size_t plen, int64_t *size,
                        int64_t *mtime, int64_t *gen, int *linked)
{
    sqlite3_stmt *st = stmt(c, Q_FILE_BY_INODE);
    int rc;

    sqlite3_bind_int64(st, 1, (int64_t)sb->st_dev);
    sqlite3_bind_int64(st, 2, (int64_t)sb->st_ino);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        snprintf(path, plen, "%s", (const char *)sqlite3_column_text(st, 1));
        *size = sqlite3_column_int64(st, 2);
        *mtime = sqlite3_column_int64(st, 3);
        *gen = sqlite3_column_int64(st, 4);
        *linked = sqlite3_column_int(st, 5);
    }
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return db_fail(c, "looking up a file by inode");
}

/* Write the files row (insert or update) for a file just read. */
static int write_file_row(scan_ctx *c, int64_t *id, const char *path,
                          const struct stat *sb, const char *content,
                          const char *error, const ks_certfile *f,
                          int linked)
{
    sqlite3_stmt *st = stmt(c, *id > 0 ? U_FILE : I_FILE);
    char dir[PATH_MAX];
    const unsigned char *kspki = NULL;
    int r, kenc = 0;
    size_t i;

    dir_name(path, dir, sizeof(dir));
    if (*id > 0)
        sqlite3_bind_int64(st, 1, *id);
    else
        sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, dir, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (int64_t)sb->st_dev);
    sqlite3_bind_int64(st, 4, (int64_t)sb->st_ino);
    sqlite3_bind_int64(st, 5, (int64_t)sb->st_size);
    sqlite3_bind_int64(st, 6, mtime_ns(sb));
    sqlite3_bind_int(st, 7, (int)(sb->st_mode & 07777));
    sqlite3_bind_int64(st, 8, (int64_t)sb->st_uid);
    sqlite3_bind_int64(st, 9, (int64_t)sb->st_gid);
    sqlite3_bind_text(st, 10, content, -1, SQLITE_STATIC);
    bind_text(st, 11, error);
    /* A key file records its (first) key's public half, never the key. */
    if (f != NULL && f->ncerts == 0) {
        for (i = 0; i < f->nkeys; i++)
            if (f->keys[i].parsed) {
                kspki = f->keys[i].spki_hash;
                break;
            }
        for (i = 0; i < f->nkeys; i++)
            kenc |= f->keys[i].encrypted;
    }
    if (kspki != NULL)
        sqlite3_bind_blob(st, 12, kspki, 32, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 13, kenc);
    sqlite3_bind_int(st, 14, linked);
    sqlite3_bind_int64(st, 15, c->gen);
    sqlite3_bind_int64(st, 16, c->now);
    if ((r = step_done(c, st, "writing a file")) != 0)
        return r;
    if (*id <= 0)
        *id = sqlite3_last_insert_rowid(c->db);
    return 0;
}

/* Objects in this directory (and, for .../private/, in .../certs/) must
 * have their key match redone. */
static int mark_key_pending(scan_ctx *c, const char *path)
{
    char dir[PATH_MAX];
    sqlite3_stmt *st = stmt(c, U_KEY_PENDING_DIR);
    int r;

    dir_name(path, dir, sizeof(dir));
    sqlite3_bind_text(st, 1, dir, -1, SQLITE_TRANSIENT);
    if ((r = step_done(c, st, "marking keys for matching")) != 0)
        return r;
    if (kw_str_endswith(dir, "/private")) {
        size_t n = strlen(dir) - strlen("private");
        if (n + sizeof("certs") <= sizeof(dir)) {
            memcpy(dir + n, "certs", sizeof("certs"));
            st = stmt(c, U_KEY_PENDING_DIR);
            sqlite3_bind_text(st, 1, dir, -1, SQLITE_TRANSIENT);
            r = step_done(c, st, "marking keys for matching");
        }
    }
    return r;
}

/* Read, parse and record a new or changed file. */
static int ingest(scan_ctx *c, int dirfd, const char *name, const char *path,
                  int64_t id, const char *old_content, int linked)
{
    struct stat sb;
    ks_certfile f;
    kw_diag why;
    size_t len = 0;
    int fd, r, wipe = 0, pemish = 0;
    const char *content;
    char err[600];

    memset(&f, 0, sizeof(f));
    err[0] = '\0';
    fd = openat(dirfd, name,
                O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, sizeof(err), "cannot open: %s", strerror(e));
        if (stat(path, &sb) != 0)
            return 0; /* vanished between readdir and open */
        goto broken;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return 0;
    }
    if ((size_t)sb.st_size > c->max_size) {
        close(fd);
        snprintf(err, sizeof(err),
                 "file is %lld bytes, over the %zu-byte limit for "
                 "certificate files",
                 (long long)sb.st_size, c->max_size);
        goto broken;
    }
    r = kw_read_fd(fd, c->buf, c->max_size, &len);
    close(fd);
    if (r == KW_ETOOBIG) {
        snprintf(err, sizeof(err),
                 "file grew over the %zu-byte limit while being read",
                 c->max_size);
        goto broken;
    }
    if (r != 0) {
        snprintf(err, sizeof(err), "read failed: %s", kw_strerror(r));
        goto broken;
    }
    c->st->parsed++;
    pemish = ks_pem_present(c->buf, len);

    why.msg[0] = '\0';
    r = ks_certfile_parse(c->buf, len, c->scratch, c->max_size, &f, &why);
    /* Key material may sit in the buffer; it is wiped whatever happened. */
    wipe = r != 0 || f.nkeys > 0 || key_like(name);
    if (wipe)
        kw_wipe(c->buf, len);
    if (r != 0) {
        snprintf(err, sizeof(err), "%s", why.msg);
        goto broken;
    }
    if (f.ncerts > 0) {
        content = "certs";
        c->st->certs += f.ncerts;
        c->st->keys += f.nkeys;
    } else if (f.nkeys > 0) {
        content = "keys";
        c->st->keys += f.nkeys;
    } else if (len == 0) {
        snprintf(err, sizeof(err), "empty file (0 bytes)");
        if (cert_like(name))
            goto broken;
        content = "other";
    } else if (f.format == KS_FMT_PEM) {
        content = "other"; /* CSR, parameters, CRL: not inventoried */
    } else if (looks_binary(c->buf, len)) {
        snprintf(err, sizeof(err),
                 "binary file that is not a DER certificate");
        goto broken;
    } else {
        if (cert_like(name)) {
            snprintf(err, sizeof(err),
                     "no PEM block and not DER: not a certificate");
            goto broken;
        }
        content = "other";
    }
    if ((r = write_file_row(c, &id, path, &sb, content, NULL, &f,
                            linked)) != 0)
        goto out;
    if (f.ncerts > 0)
        r = sync_objects(c, id, path, &sb, &f);
    if (r == 0 && (f.nkeys > 0 || strcmp(old_content, "keys") == 0))
        r = mark_key_pending(c, path);
    goto out;

broken:
    /* Name-wise certificate files, and anything that had PEM or DER in
     * it, are errors with an inventory entry; other files are skipped. */
    if (cert_like(name) || pemish || strcmp(old_content, "certs") == 0 ||
        strcmp(old_content, "error") == 0) {
        c->st->errors++;
        note(c, KS_NOTE_ERROR, path, "%s", err);
        if (key_like(name)) {
            r = write_file_row(c, &id, path, &sb, "error", err, NULL, linked);
            if (r == 0)
                r = mark_key_pending(c, path);
            goto out;
        }
        r = write_file_row(c, &id, path, &sb, "error", err, NULL, linked);
        if (r == 0)
            r = sync_error_object(c, id, path, err);
    } else {
        c->st->skipped++;
        note(c, KS_NOTE_SKIPPED, path, "%s", err);
        r = write_file_row(c, &id, path, &sb, "other", err, NULL, linked);
    }
out:
    ks_certfile_free(&f);
    return r;
}

static int process_file(scan_ctx *c, int dirfd, const char *name,
                        const char *path, const struct stat *sb, int linked)
{
    filerow fr;
    int r, done = 0;

    c->st->files++;
    memset(&fr, 0, sizeof(fr));
    r = lookup_path(c, path, &fr);
    if (r < 0)
        return r;
    if (r == 1) {
        if (fr.gen == c->gen)
            return 0; /* already handled through an alias this scan */
        if (same_identity(&fr, sb)) {
            c->st->unchanged++;
            return touch_file(c, fr.id, linked, fr.state);
        }
        return ingest(c, dirfd, name, path, fr.id, fr.content, linked);
    } else {
        int64_t id = 0, size = 0, mtime = 0, gen = 0;
        int old_linked = 0;
        char old_path[PATH_MAX];

        r = lookup_inode(c, sb, &id, old_path, sizeof(old_path), &size,
                         &mtime, &gen, &old_linked);
        if (r < 0)
            return r;
        if (r == 1 && size == (int64_t)sb->st_size && mtime == mtime_ns(sb)) {
            r = handle_alias(c, path, sb, linked, id, old_path, old_linked,
                             gen, &done);
            if (r != 0 || done)
                return r;
        }
        return ingest(c, dirfd, name, path, 0, "unknown", linked);
    }
}

/* ---- the walk ------------------------------------------------------------ */

static int walk(scan_ctx *c, char *path, size_t plen, int dfd, int depth,
                const ancestor *up, int linked);

static int visit(scan_ctx *c, int dirfd, const char *name, char *path,
                 size_t plen, int depth, const ancestor *up, int linked)
{
    struct stat lsb, sb;
    const ancestor *a;
    int is_link, r, fd;

    if (fstatat(dirfd, name, &lsb, AT_SYMLINK_NOFOLLOW) != 0)
        return 0; /* vanished */
    is_link = S_ISLNK(lsb.st_mode);
    if (is_link) {
        if (fstatat(dirfd, name, &sb, 0) != 0) {
            int e = errno;
            char target[PATH_MAX];
            ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);
            target[n > 0 ? n : 0] = '\0';
            if (e == ELOOP) {
                c->st->loops++;
                note(c, KS_NOTE_LOOP, path,
                     "symlink loop (-> %s), skipped", target);
            } else {
                c->st->skipped++;
                note(c, KS_NOTE_SKIPPED, path, "dangling symlink -> %s",
                     target);
            }
            return 0;
        }
    } else {
        sb = lsb;
    }
    if (S_ISREG(sb.st_mode)) {
        r = process_file(c, dirfd, name, path, &sb, linked || is_link);
        if (r == 0)
            r = batch_tick(c);
        return r;
    }
    if (!S_ISDIR(sb.st_mode))
        return 0; /* sockets, fifos, devices: never certificates */

    for (a = up; a != NULL; a = a->up)
        if (a->dev == sb.st_dev && a->ino == sb.st_ino) {
            c->st->loops++;
            note(c, KS_NOTE_LOOP, path,
                 "symlink loop: leads back to a parent directory, skipped");
            return 0;
        }
    r = dirset_add(&c->dirs, (uint64_t)sb.st_dev, (uint64_t)sb.st_ino);
    if (r < 0)
        return kw_diag_set(c->d, r, "out of memory");
    if (r == 1)
        return 0; /* already walked by another path */
    if (depth >= c->max_depth) {
        c->st->skipped++;
        note(c, KS_NOTE_SKIPPED, path, "deeper than %d levels, skipped",
             c->max_depth);
        return 0;
    }
    fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        c->st->errors++;
        note(c, KS_NOTE_ERROR, path, "cannot read directory: %s",
             strerror(errno));
        return 0;
    }
    return walk(c, path, plen, fd, depth + 1, up, linked || is_link);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Walk the open directory dfd (closed here) whose path is path[0..plen). */
static int walk(scan_ctx *c, char *path, size_t plen, int dfd, int depth,
                const ancestor *up, int linked)
{
    DIR *dir;
    struct dirent *de;
    struct stat sb;
    char **names = NULL, **nn;
    size_t n = 0, cap = 0, i;
    ancestor me;
    int r = 0;

    if (fstat(dfd, &sb) != 0) {
        close(dfd);
        return 0;
    }
    me.dev = sb.st_dev;
    me.ino = sb.st_ino;
    me.up = up;
    dir = fdopendir(dfd);
    if (dir == NULL) {
        close(dfd);
        return 0;
    }
    c->st->dirs++;
    while ((de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            nn = realloc(names, cap * sizeof(*names));
            if (nn == NULL) {
                r = kw_diag_set(c->d, KW_ENOMEM, "out of memory");
                goto out;
            }
            names = nn;
        }
        if ((names[n] = strdup(de->d_name)) == NULL) {
            r = kw_diag_set(c->d, KW_ENOMEM, "out of memory");
            goto out;
        }
        n++;
    }
    qsort(names, n, sizeof(*names), cmp_name);
    for (i = 0; i < n && r == 0; i++) {
        size_t nl = strlen(names[i]);

        if (plen + 1 + nl + 1 > PATH_MAX) {
            c->st->skipped++;
            note(c, KS_NOTE_SKIPPED, path, "path too long, entry skipped");
            continue;
        }
        if (plen > 0 && path[plen - 1] != '/')
            path[plen] = '/', memcpy(path + plen + 1, names[i], nl + 1);
        else
            memcpy(path + plen, names[i], nl + 1);
        r = visit(c, dirfd(dir), names[i], path,
                  strlen(path), depth, &me, linked);
        path[plen] = '\0';
    }
out:
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(dir);
    return r;
}

/* ---- after the walk ------------------------------------------------------ */

/* Mark files under root that this scan did not see. */
static int mark_missing(scan_ctx *c, const char *root)
{
    sqlite3_stmt *q = NULL, *qo = NULL;
    char lo[PATH_MAX + 2], hi[PATH_MAX + 2];
    int rc, r = 0;
    size_t n = strlen(root);

    /* Paths under root sort between "root/" and "root0" ('0' follows '/'). */
    if (n > 1 && root[n - 1] == '/')
        n--;
    snprintf(lo, sizeof(lo), "%.*s/", (int)n, root);
    snprintf(hi, sizeof(hi), "%.*s0", (int)n, root);
    if (sqlite3_prepare_v2(
            c->db,
            "SELECT id, path, content FROM files WHERE scan_gen != ?1 AND "
            "state = 'ok' AND (path = ?2 OR (path >= ?3 AND path < ?4))",
            -1, &q, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db,
                           "SELECT id, name FROM objects WHERE file_id = ?1",
                           -1, &qo, NULL) != SQLITE_OK) {
        r = db_fail(c, "finding missing files");
        goto out;
    }
    sqlite3_bind_int64(q, 1, c->gen);
    sqlite3_bind_text(q, 2, root, (int)n, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, lo, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, hi, -1, SQLITE_STATIC);
    while (r == 0 && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(q, 0);
        char path[PATH_MAX];
        const char *content = (const char *)sqlite3_column_text(q, 2);
        int has_objects = strcmp(content, "certs") == 0 ||
                          strcmp(content, "error") == 0;
        char sql[160];

        snprintf(path, sizeof(path), "%s", sqlite3_column_text(q, 1));
        if (strcmp(content, "keys") == 0 && (r = mark_key_pending(c, path)))
            break;
        if (!has_objects) {
            /* Nothing in the inventory came from it: forget it quietly. */
            snprintf(sql, sizeof(sql),
                     "DELETE FROM files WHERE id = %lld AND NOT EXISTS "
                     "(SELECT 1 FROM objects WHERE file_id = %lld)",
                     (long long)id, (long long)id);
            r = ks_exec(c->s, sql, c->d);
            continue;
        }
        snprintf(sql, sizeof(sql),
                 "UPDATE files SET state = 'missing', missing_since = %lld "
                 "WHERE id = %lld;"
                 "UPDATE objects SET state = 'missing', updated_at = %lld "
                 "WHERE file_id = %lld",
                 (long long)c->now, (long long)id, (long long)c->now,
                 (long long)id);
        if ((r = ks_exec(c->s, sql, c->d)) != 0)
            break;
        c->st->missing++;
        note(c, KS_NOTE_MISSING, path,
             "vanished since the last scan; marked missing");
        sqlite3_reset(qo);
        sqlite3_bind_int64(qo, 1, id);
        while (r == 0 && sqlite3_step(qo) == SQLITE_ROW)
            r = add_event(c, sqlite3_column_int64(qo, 0), "object.missing",
                          json_pack("{s:s}", "path", path));
    }
    if (r == 0) {
        /* Links are re-recorded by every scan that passes them. */
        sqlite3_stmt *dl = NULL;
        if (sqlite3_prepare_v2(c->db,
                               "DELETE FROM file_links WHERE scan_gen != ?1 "
                               "AND (path = ?2 OR (path >= ?3 AND path < "
                               "?4))",
                               -1, &dl, NULL) != SQLITE_OK) {
            r = db_fail(c, "pruning links");
        } else {
            sqlite3_bind_int64(dl, 1, c->gen);
            sqlite3_bind_text(dl, 2, root, (int)n, SQLITE_STATIC);
            sqlite3_bind_text(dl, 3, lo, -1, SQLITE_STATIC);
            sqlite3_bind_text(dl, 4, hi, -1, SQLITE_STATIC);
            if (sqlite3_step(dl) != SQLITE_DONE)
                r = db_fail(c, "pruning links");
        }
        sqlite3_finalize(dl);
    }
out:
    sqlite3_finalize(q);
    sqlite3_finalize(qo);
    return r;
}

/* Conventional names of the key that belongs with a certificate file. */
static int is_partner(const char *cert_path, const char *key_path)
{
    char stem[PATH_MAX], want[PATH_MAX + 16];
    const char *cb = base_name(cert_path), *kb = base_name(key_path);
    const char *dot = strrchr(cb, '.');
    size_t n = dot ? (size_t)(dot - cb) : strlen(cb);

    if ((strcmp(cb, "cert.pem") == 0 || strcmp(cb, "fullchain.pem") == 0) &&
        (strcmp(kb, "privkey.pem") == 0 || strcmp(kb, "key.pem") == 0))
        return 1;
    /* Let's Encrypt's archive: certN.pem and fullchainN.pem go with
     * privkeyN.pem. */
    {
        unsigned nc, nk;
        char tail[8];
        if ((sscanf(cb, "cert%u.pe%7s", &nc, tail) == 2 ||
             sscanf(cb, "fullchain%u.pe%7s", &nc, tail) == 2) &&
            sscanf(kb, "privkey%u.pe%7s", &nk, tail) == 2)
            return nc == nk;
    }
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

/* Match certificates whose directory changed with the private keys next
 * to them (same directory, or ../private/ for a .../certs/ directory). */
static int match_keys(scan_ctx *c)
{
    sqlite3_stmt *q = NULL, *k = NULL, *u = NULL;
    int r = 0, rc;

    if (sqlite3_prepare_v2(
            c->db,
            "SELECT o.id, o.spki_hash, f.path, f.dir FROM objects o "
            "JOIN files f ON f.id = o.file_id WHERE o.key_pending != 0",
            -1, &q, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(
            c->db,
            "SELECT path, key_spki, key_encrypted, mode, content, error "
            "FROM files WHERE (dir = ?1 OR dir = ?2) AND state = 'ok' AND "
            "content IN ('keys', 'error') ORDER BY path",
            -1, &k, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db,
                           "UPDATE objects SET key_state = ?2, key_path = "
                           "?3, key_mode = ?4, key_pending = 0 WHERE id = ?1",
                           -1, &u, NULL) != SQLITE_OK) {
        r = db_fail(c, "matching keys");
        goto out;
    }
    while (r == 0 && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(q, 0);
        const void *spki = sqlite3_column_blob(q, 1);
        int spki_len = sqlite3_column_bytes(q, 1);
        const char *cpath = (const char *)sqlite3_column_text(q, 2);
        const char *dir = (const char *)sqlite3_column_text(q, 3);
        char priv[PATH_MAX], kpath[PATH_MAX];
        const char *state = NULL;
        int kmode = 0;

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
        while (sqlite3_step(k) == SQLITE_ROW) {
            const char *p = (const char *)sqlite3_column_text(k, 0);
            const void *ks = sqlite3_column_blob(k, 1);
            int ksl = sqlite3_column_bytes(k, 1);
            int enc = sqlite3_column_int(k, 2);
            int mode = sqlite3_column_int(k, 3);
            int is_err = strcmp((const char *)sqlite3_column_text(k, 4),
                                "error") == 0;
            int partner = is_partner(cpath, p);
            int in_priv =
                priv[0] != '\0' && strncmp(p, priv, strlen(priv)) == 0;
            int same = !is_err && spki != NULL && ks != NULL &&
                       ksl == spki_len && memcmp(ks, spki, (size_t)ksl) == 0;

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
        sqlite3_reset(u);
        sqlite3_bind_int64(u, 1, id);
        bind_text(u, 2, state);
        bind_text(u, 3, state ? kpath : NULL);
        if (state != NULL)
            sqlite3_bind_int(u, 4, kmode);
        if (sqlite3_step(u) != SQLITE_DONE)
            r = db_fail(c, "recording a key match");
    }
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
        "  SELECT n.id FROM objects n WHERE n.names_key = objects.names_key"
        "  AND n.id != objects.id AND n.state = 'ok'"
        "  AND n.not_after > objects.not_after"
        "  ORDER BY n.not_after DESC LIMIT 1)"
        " WHERE kind = 'tls' AND source LIKE '%/archive/%'"
        "  AND names_key IS NOT NULL"
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
    return ks_exec(
        c->s,
        "UPDATE objects SET idle_anchor = (role = 'root' AND chain_len <= 1"
        "  AND key_state IS NULL AND NOT EXISTS (SELECT 1 FROM objects o2 WHERE"
        "   o2.top_issuer = objects.subject AND o2.role != 'root'))"
        " WHERE kind = 'tls' AND (role = 'root' OR idle_anchor != 0)",
        c->d);
}

/* ---- entry point ---------------------------------------------------------- */

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
    /* Trailing slashes and "/./" add nothing to a path we store. */
    n = strlen(out);
    while (n > 1 && out[n - 1] == '/')
        out[--n] = '\0';
    while (n > 2 && strcmp(out + n - 2, "/.") == 0) {
        n -= 2;
        out[n > 0 ? n : 1] = '\0';
    }
    return 0;
}

int ks_scan(ks_store *s, const char *const *roots, size_t nroots,
            const ks_scan_opts *opts, ks_scan_stats *stats, kw_diag *d)
{
    scan_ctx c;
    size_t i;
    int r = 0, opened = 0, in_tx = 0;

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
    for (i = 0; i < N_STMTS; i++)
        if (sqlite3_prepare_v3(c.db, stmt_sql[i], -1,
                               SQLITE_PREPARE_PERSISTENT, &c.q[i],
                               NULL) != SQLITE_OK) {
            r = db_fail(&c, "preparing scan statements");
            goto out;
        }
    if ((r = ks_begin(s, d)) != 0)
        goto out;
    in_tx = 1;
    if ((c.gen = next_gen(&c)) < 0) {
        r = db_fail(&c, "advancing the scan generation");
        goto out;
    }

    for (i = 0; i < nroots && r == 0; i++) {
        char path[PATH_MAX], parent[PATH_MAX];
        struct stat sb;
        int pfd;

        if (absolute(roots[i], path, sizeof(path)) != 0) {
            note(&c, KS_NOTE_ERROR, roots[i], "path too long");
            continue;
        }
        if (stat(path, &sb) != 0) {
            int e = errno;
            c.st->errors++;
            note(&c, KS_NOTE_ERROR, path, "cannot scan: %s", strerror(e));
            /* A root that vanished still has its files marked missing. */
            if (e == ENOENT)
                r = mark_missing(&c, path);
            continue;
        }
        opened++;
        dir_name(path, parent, sizeof(parent));
        pfd = open(parent[0] ? parent : "/",
                   O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd < 0) {
            c.st->errors++;
            note(&c, KS_NOTE_ERROR, path, "cannot open parent: %s",
                 strerror(errno));
            continue;
        }
        r = visit(&c, pfd, strcmp(path, "/") ? base_name(path) : ".", path,
                  strlen(path), 0, NULL, 0);
        close(pfd);
        if (r == 0)
            r = mark_missing(&c, path);
    }
    if (r == 0)
        r = match_keys(&c);
    if (r == 0)
        r = mark_superseded(&c);
    if (r == 0)
        r = mark_idle_anchors(&c);
    if (r == 0)
        r = add_event(&c, 0, "scan.completed",
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
    if (in_tx)
        ks_rollback(s);
    for (i = 0; i < N_STMTS; i++)
        sqlite3_finalize(c.q[i]);
    free(c.dirs.keys);
    if (c.buf != NULL)
        kw_wipe(c.buf, c.max_size + 1);
    if (c.scratch != NULL)
        kw_wipe(c.scratch, c.max_size + 1);
    free(c.buf);
    free(c.scratch);
    return r;
}
