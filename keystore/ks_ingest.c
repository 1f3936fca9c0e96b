/*
 * ks_ingest.c: read one file and record what it holds.
 *
 * A file's certificates become objects: one for a single certificate or a
 * chain (its deadline the chain's earliest expiry), one per certificate
 * for a bundle of unrelated ones.  Private keys are recorded only as the
 * SHA-256 of their public half; key bytes are wiped from every buffer
 * they passed through.  A file that should hold a certificate but cannot
 * be read or parsed becomes an object with health unknown and the reason.
 */
#include "ks_ingest.h"

#include "ks_health.h"
#include "ks_pem.h"
#include "../common/kw_fs.h"
#include "../common/kw_json.h"
#include "../common/kw_str.h"
#include "../common/kw_time.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int db_fail(scan_ctx *c, const char *what)
{
    return ks_db_error(c->s, c->d, what);
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v != NULL)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
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

/* ---- objects --------------------------------------------------------------- */

/* NULL when a name cannot be put in JSON (out of memory): the caller
 * fails, rather than record the certificate with names left out. */
static char *sans_json(const ks_cert *cert)
{
    json_t *a = json_array();
    char *s;
    size_t i;

    if (a == NULL)
        return NULL;
    for (i = 0; i < cert->nsans; i++)
        if (json_array_append_new(a, ks__json_text(cert->sans[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
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
    sqlite3_stmt *st = ks__stmt(c, existing_id > 0 ? U_OBJ : I_OBJ);
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
    nkey = ks_cert_names_key(leaf);
    if (sans == NULL || nkey == NULL) {
        r = kw_diag_set(c->d, KW_ENOMEM,
                        "out of memory serialising the names of %s",
                        ks_cert_name(leaf));
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
    sqlite3_bind_int(st, 29, 0);
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
    sqlite3_bind_int(st, 34, strstr(path, "/archive/") != NULL);
    if ((r = ks__step(c, st, "writing an object")) != 0)
        goto out;
    object_id = existing_id > 0 ? existing_id
                                : sqlite3_last_insert_rowid(c->db);

    if (existing_id > 0) {
        st = ks__stmt(c, D_CHAIN);
        sqlite3_bind_int64(st, 1, object_id);
        if ((r = ks__step(c, st, "replacing chain elements")) != 0)
            goto out;
    }
    for (i = 1; i < p->chain_len; i++) {
        const ks_cert *e = p->chain[i];
        char efp[65], *esans = sans_json(e);

        if (esans == NULL) {
            r = kw_diag_set(c->d, KW_ENOMEM,
                            "out of memory serialising the names of %s",
                            ks_cert_name(e));
            goto out;
        }
        kw_hex(e->fingerprint, 32, 0, efp);
        st = ks__stmt(c, I_CHAIN);
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
        if ((r = ks__step(c, st, "writing a chain element")) != 0)
            goto out;
    }

    /* A new object's first sighting is its created_at; events record
     * what changed after that. */
    if (existing_id <= 0) {
        c->st->objects_new++;
    } else if (old_fp == NULL || strcmp(old_fp, fp) != 0 ||
               (old_state != NULL && strcmp(old_state, "ok") != 0)) {
        char when[32];

        c->st->objects_changed++;
        kw_time_rfc3339(leaf->not_after, when, sizeof(when));
        ks__note(c, KS_NOTE_CHANGED, path, "%s: now %s, expires %s",
             ks_cert_name(leaf), fp, when);
        r = ks__event(c, object_id, "object.changed",
                      json_pack("{s:o, s:s?, s:s, s:I}", "path",
                                kw_json_path(path), "old_fingerprint",
                                old_fp, "fingerprint", fp, "not_after",
                                (json_int_t)leaf->not_after));
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
    sqlite3_stmt *st = ks__stmt(c, Q_OBJS_OF_FILE);
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
        r = ks__event(c, old[j].id, "object.removed",
                      json_pack("{s:o, s:s, s:i}", "path",
                                kw_json_path(path), "fingerprint",
                                old[j].fp, "position", old[j].position));
        if (r != 0)
            break;
        st = ks__stmt(c, D_OBJ);
        sqlite3_bind_int64(st, 1, old[j].id);
        r = ks__step(c, st, "removing an object");
    }
out:
    free(plans);
    free(old);
    return r;
}

/* An object that holds no certificate yet: its file cannot be read or
 * parsed, or is not there.  state is "unreadable" or "missing"; the
 * event says so, with the reason. */
static int factless_object(scan_ctx *c, int64_t file_id, const char *path,
                           const char *state, const char *error)
{
    sqlite3_stmt *st = ks__stmt(c, I_OBJ);
    char type[32];
    int r;

    sqlite3_bind_text(st, 2, ks__base_name(path), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, path, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, file_id);
    sqlite3_bind_int(st, 5, 0);
    sqlite3_bind_text(st, 6, state, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, error, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 20, "[]", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 21, 0);
    sqlite3_bind_int(st, 29, 0);
    sqlite3_bind_int(st, 34, strstr(path, "/archive/") != NULL);
    sqlite3_bind_int64(st, 31, c->now);
    if ((r = ks__step(c, st, "writing an object")) != 0)
        return r;
    c->st->objects_new++;
    snprintf(type, sizeof(type), "object.%s", state);
    return ks__event(c, sqlite3_last_insert_rowid(c->db), type,
                     json_pack("{s:o, s:o}", "path", kw_json_path(path),
                               "error", ks__json_text(error)));
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
        st = ks__stmt(c, U_OBJ_ERROR);
        sqlite3_bind_int64(st, 1, file_id);
        sqlite3_bind_text(st, 2, error, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, c->now);
        r = ks__step(c, st, "marking objects unreadable");
        if (r == 0 && was_ok)
            r = ks__event(c, old[0].id, "object.unreadable",
                          json_pack("{s:o, s:o}", "path",
                                    kw_json_path(path), "error",
                                    ks__json_text(error)));
        free(old);
        return r;
    }
    free(old);
    return factless_object(c, file_id, path, "unreadable", error);
}

/* ---- files ---------------------------------------------------------------- */

/* Write the files row (insert or update) for a file just read. */
static int write_file_row(scan_ctx *c, int64_t *id, const char *path,
                          const struct stat *sb, const char *content,
                          const char *error, const ks_certfile *f,
                          int linked)
{
    sqlite3_stmt *st = ks__stmt(c, *id > 0 ? U_FILE : I_FILE);
    char dir[PATH_MAX];
    const unsigned char *kspki = NULL;
    int r, kenc = 0;
    size_t i;

    ks__dir_name(path, dir, sizeof(dir));
    if (*id > 0)
        sqlite3_bind_int64(st, 1, *id);
    else
        sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, dir, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (int64_t)sb->st_dev);
    sqlite3_bind_int64(st, 4, (int64_t)sb->st_ino);
    sqlite3_bind_int64(st, 5, (int64_t)sb->st_size);
    sqlite3_bind_int64(st, 6, ks__mtime_ns(sb));
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
    if ((r = ks__step(c, st, "writing a file")) != 0)
        return r;
    if (*id <= 0)
        *id = sqlite3_last_insert_rowid(c->db);
    return 0;
}

/* Read, parse and record a new or changed file. */
void ks__parse(ks_parsed *p, int dirfd, const char *name, const char *path,
               size_t max_size, unsigned char *buf, unsigned char *scratch)
{
    kw_diag why;
    size_t len = 0;
    int fd, r;

    memset(&p->f, 0, sizeof(p->f));
    p->vanished = 0;
    p->read = 0;
    p->pemish = 0;
    p->content = NULL;
    p->err[0] = '\0';
    fd = openat(dirfd, name, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(p->err, sizeof(p->err), KS_ERR_CANNOT_OPEN "%s",
                 strerror(e));
        if (stat(path, &p->sb) != 0)
            p->vanished = 1; /* gone between readdir and open */
        return;
    }
    if (fstat(fd, &p->sb) != 0 || !S_ISREG(p->sb.st_mode)) {
        close(fd);
        p->vanished = 1;
        return;
    }
    if ((size_t)p->sb.st_size > max_size) {
        close(fd);
        snprintf(p->err, sizeof(p->err),
                 "file is %lld bytes, over the %zu-byte limit for "
                 "certificate files",
                 (long long)p->sb.st_size, max_size);
        return;
    }
    r = kw_read_fd(fd, buf, max_size, &len);
    close(fd);
    /* A failed read may have left part of a key in buf (len is 0 then):
     * wipe all of it. */
    if (r != 0)
        kw_wipe(buf, max_size);
    if (r == KW_ETOOBIG) {
        snprintf(p->err, sizeof(p->err),
                 "file grew over the %zu-byte limit while being read",
                 max_size);
        return;
    }
    if (r != 0) {
        snprintf(p->err, sizeof(p->err), "read failed: %s", kw_strerror(r));
        return;
    }
    p->read = 1;
    p->pemish = ks_pem_present(buf, len);

    why.msg[0] = '\0';
    r = ks_certfile_parse(buf, len, scratch, max_size, &p->f, &why);
    /* Key material may sit in the buffer; it is wiped whatever happened. */
    if (r != 0 || p->f.nkeys > 0 || p->f.saw_private || ks__key_like(name))
        kw_wipe(buf, len);
    if (r != 0) {
        snprintf(p->err, sizeof(p->err), "%s", why.msg);
    } else if (p->f.ncerts > 0) {
        p->content = "certs";
    } else if (p->f.nkeys > 0) {
        p->content = "keys";
    } else if (len == 0) {
        snprintf(p->err, sizeof(p->err), "empty file (0 bytes)");
        if (!ks__cert_like(name))
            p->content = "other";
    } else if (p->f.format == KS_FMT_PEM) {
        p->content = "other"; /* CSR, parameters, CRL: not inventoried */
    } else if (looks_binary(buf, len)) {
        snprintf(p->err, sizeof(p->err),
                 "binary file that is not a DER certificate");
    } else if (ks__cert_like(name)) {
        snprintf(p->err, sizeof(p->err),
                 "no PEM block and not DER: not a certificate");
    } else {
        p->content = "other";
    }
}

int ks__record(scan_ctx *c, ks_parsed *p, const char *name,
               const char *path, int64_t id, const char *old_content,
               int linked, ingest_result *res)
{
    const char *err = p->err;
    int r;

    memset(res, 0, sizeof(*res));
    res->had_keys = strcmp(old_content, "keys") == 0;
    res->had_certs = strcmp(old_content, "certs") == 0 ||
                     strcmp(old_content, "error") == 0;
    if (p->vanished)
        return 0;
    c->changed = 1;
    if (p->read)
        c->st->parsed++;
    if (p->content != NULL) {
        if (p->f.ncerts > 0)
            c->st->certs += p->f.ncerts;
        c->st->keys += p->f.nkeys;
        r = write_file_row(c, &id, path, &p->sb, p->content, NULL, &p->f,
                           linked);
        if (r != 0)
            return r;
        if (p->f.ncerts > 0) {
            res->had_certs = 1;
            return sync_objects(c, id, path, &p->sb, &p->f);
        }
        if (p->f.nkeys > 0)
            res->had_keys = 1;
        /* A file that held certificates (or was expected to, by a
         * daemon's configuration) and now holds none: its objects leave,
         * recorded, rather than stay with what it used to hold. */
        return res->had_certs ? sync_objects(c, id, path, &p->sb, &p->f)
                              : 0;
    }

    /* Broken.  Name-wise certificate files, anything with PEM in it, and
     * files that held certificates before are errors with an inventory
     * entry; other files are skipped, with the reason. */
    if (ks__cert_like(name) || p->pemish || res->had_certs) {
        c->st->errors++;
        ks__note(c, KS_NOTE_ERROR, path, "%s", err);
        if (ks__key_like(name)) {
            /* A key that cannot be read: no object of its own, but the
             * certificate next to it says its key is unreadable. */
            res->had_keys = 1;
            return write_file_row(c, &id, path, &p->sb, "error", err, NULL,
                                  linked);
        }
        res->had_certs = 1;
        r = write_file_row(c, &id, path, &p->sb, "error", err, NULL, linked);
        return r != 0 ? r : sync_error_object(c, id, path, err);
    }
    c->st->skipped++;
    ks__note(c, KS_NOTE_SKIPPED, path, "%s", err);
    return write_file_row(c, &id, path, &p->sb, "other", err, NULL, linked);
}

int ks__ingest(scan_ctx *c, int dirfd, const char *name, const char *path,
               int64_t id, const char *old_content, int linked,
               ingest_result *res)
{
    ks_parsed p;
    int r;

    ks__parse(&p, dirfd, name, path, c->max_size, c->buf, c->scratch);
    r = ks__record(c, &p, name, path, id, old_content, linked, res);
    ks_certfile_free(&p.f);
    return r;
}

/* ---- rows that change state ------------------------------------------------ */

int ks__expected_absent(scan_ctx *c, const char *path, int e)
{
    char dir[PATH_MAX], err[300];
    int64_t found, file_id;
    int r;

    /* A known file (marked missing by now if it is gone) or a known link
     * to one keeps its own record. */
    if ((r = ks_value(c->s, c->d, "looking up an expected file", &found,
                      NULL,
                      "SELECT EXISTS (SELECT 1 FROM files WHERE path = ?1) "
                      "OR EXISTS (SELECT 1 FROM file_links WHERE path = ?1)",
                      "t", path)) != 0 ||
        found)
        return r;

    c->changed = 1;
    snprintf(err, sizeof(err), "%s%s",
             e == ENOENT ? "" : KS_ERR_CANNOT_OPEN, strerror(e));
    ks__dir_name(path, dir, sizeof(dir));
    /* Device and inode 0: a file that was never seen. */
    if (e == ENOENT)
        r = ks_run(c->s, c->d, "recording an expected file",
                   "INSERT INTO files (path, dir, content, state, error, "
                   "scan_gen, first_seen, last_seen, missing_since) VALUES "
                   "(?1, ?2, 'error', 'missing', ?3, ?4, ?5, ?5, ?5)",
                   "tttii", path, dir, err, c->gen, c->now);
    else
        r = ks_run(c->s, c->d, "recording an expected file",
                   "INSERT INTO files (path, dir, content, error, scan_gen, "
                   "first_seen, last_seen) VALUES (?1, ?2, 'error', ?3, ?4, "
                   "?5, ?5)",
                   "tttii", path, dir, err, c->gen, c->now);
    if (r != 0)
        return r;
    file_id = sqlite3_last_insert_rowid(c->db);
    return factless_object(c, file_id, path,
                           e == ENOENT ? "missing" : "unreadable", err);
}

int ks__file_gone(scan_ctx *c, int64_t id, const char *path,
                  const char *content)
{
    sqlite3_stmt *st, *qo = NULL;
    int r, rc = SQLITE_DONE;

    c->changed = 1;
    if (strcmp(content, "certs") != 0 && strcmp(content, "error") != 0) {
        /* Nothing in the inventory came from it: forget it quietly. */
        st = ks__stmt(c, D_FILE);
        sqlite3_bind_int64(st, 1, id);
        if ((r = ks__step(c, st, "forgetting a file")) != 0)
            return r;
        if (strcmp(content, "keys") == 0) {
            char dir[PATH_MAX];
            ks__dir_name(path, dir, sizeof(dir));
            return ks__key_pending_dir(c, dir);
        }
        return 0;
    }
    st = ks__stmt(c, U_OBJ_STATE);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, "missing", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, c->now);
    if ((r = ks__step(c, st, "marking objects missing")) != 0)
        return r;
    if (sqlite3_prepare_v2(c->db,
                           "UPDATE files SET state = 'missing', "
                           "missing_since = ?2 WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(c, "marking a file missing");
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, c->now);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_fail(c, "marking a file missing");
    c->st->missing++;
    ks__note(c, KS_NOTE_MISSING, path,
             "vanished since the last scan; marked missing");
    if (sqlite3_prepare_v2(c->db, "SELECT id FROM objects WHERE file_id = ?1",
                           -1, &qo, NULL) != SQLITE_OK)
        return db_fail(c, "marking a file missing");
    sqlite3_bind_int64(qo, 1, id);
    r = 0;
    while (r == 0 && (rc = sqlite3_step(qo)) == SQLITE_ROW)
        r = ks__event(c, sqlite3_column_int64(qo, 0), "object.missing",
                      json_pack("{s:o}", "path", kw_json_path(path)));
    if (r == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = db_fail(c, "finding the objects of a missing file");
    sqlite3_finalize(qo);
    return r;
}

int ks__file_restored(scan_ctx *c, int64_t id)
{
    sqlite3_stmt *st = ks__stmt(c, U_FILE_RESTORE);
    int r;

    c->changed = 1;
    sqlite3_bind_int64(st, 1, id);
    if ((r = ks__step(c, st, "restoring a file")) != 0)
        return r;
    st = ks__stmt(c, U_OBJ_STATE);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, "ok", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, c->now);
    if ((r = ks__step(c, st, "restoring objects")) != 0)
        return r;
    return ks__event(c, 0, "file.restored",
                     json_pack("{s:I}", "file_id", (json_int_t)id));
}

int ks__key_pending_dir(scan_ctx *c, const char *dir)
{
    sqlite3_stmt *st = ks__stmt(c, U_KEY_PENDING_DIR);

    sqlite3_bind_text(st, 1, dir, -1, SQLITE_TRANSIENT);
    return ks__step(c, st, "marking keys for matching");
}

int ks__add_link(scan_ctx *c, const char *path, int64_t file_id)
{
    sqlite3_stmt *st = ks__stmt(c, I_LINK);

    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, file_id);
    sqlite3_bind_int64(st, 3, c->gen);
    return ks__step(c, st, "recording a link");
}

int ks__move_file(scan_ctx *c, int64_t id, const char *path)
{
    sqlite3_stmt *st = ks__stmt(c, U_FILE_PATH);
    char dir[PATH_MAX];
    int r;

    c->changed = 1;
    ks__dir_name(path, dir, sizeof(dir));
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, dir, -1, SQLITE_STATIC);
    if ((r = ks__step(c, st, "renaming a file")) != 0)
        return r;
    st = ks__stmt(c, U_OBJ_SOURCE);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
    return ks__step(c, st, "renaming objects");
}
