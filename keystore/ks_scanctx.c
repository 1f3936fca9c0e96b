/*
 * ks_scanctx.c: the scanner's prepared statements and the helpers that
 * both ks_scan.c (the walk) and ks_ingest.c (recording a file) use.
 * See ks_scanctx.h.
 */
#include "ks_scanctx.h"

#include "ks_events.h"
#include "../common/kw_str.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const stmt_sql[KS_SCAN_NSTMTS] = {
    [Q_DIR_FILES] = "SELECT id, path, dev, ino, size, mtime_ns, state, "
                    "content, linked FROM files WHERE dir = ?1 ORDER BY path",
    [Q_DIR_LINKS] = "SELECT l.path, l.file_id, f.dev, f.ino, f.size, "
                    "f.mtime_ns, f.content FROM file_links l JOIN files f ON "
                    "f.id = l.file_id WHERE l.path > ?1 AND l.path < ?2 "
                    "ORDER BY l.path",
    [Q_FILE_BY_INODE] =
        "SELECT id, path, size, mtime_ns, linked, content, state FROM files "
        "WHERE dev = ?1 AND ino = ?2 ORDER BY id LIMIT 1",
    [Q_FILE_BY_ID] = "SELECT path, content FROM files WHERE id = ?1",
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
    [U_FILE_RESTORE] = "UPDATE files SET state = 'ok', missing_since = NULL "
                       "WHERE id = ?1",
    [U_FILE_LINKED] = "UPDATE files SET linked = 1 WHERE id = ?1",
    [D_FILE] = "DELETE FROM files WHERE id = ?1 AND NOT EXISTS (SELECT 1 "
               "FROM objects WHERE file_id = ?1)",
    [I_LINK] = "INSERT INTO file_links (path, file_id, scan_gen) VALUES "
               "(?1, ?2, ?3) ON CONFLICT (path) DO UPDATE SET file_id = ?2, "
               "scan_gen = ?3",
    [D_LINK] = "DELETE FROM file_links WHERE path = ?1",
    [Q_OBJS_OF_FILE] = "SELECT id, position, fingerprint, state FROM objects "
                       "WHERE file_id = ?1 ORDER BY position",
    [I_OBJ] =
        "INSERT INTO objects (kind, name, source, file_id, position, state, "
        "error, not_before, not_after, deadline, subject, issuer, serial, "
        "fingerprint, spki_hash, key_type, key_bits, is_ca, self_signed, "
        "sans, chain_len, arrangement, weak_position, weak_name, "
        "weak_not_after, key_state, key_path, key_mode, key_pending, "
        "names_key, created_at, updated_at, role, top_issuer, archived) "
        "VALUES ('tls', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
        "?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, "
        "?27, ?28, ?29, ?30, ?31, ?31, ?32, ?33, ?34)",
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
        "top_issuer = ?33, archived = ?34 WHERE id = ?1",
    [U_OBJ_ERROR] = "UPDATE objects SET state = 'unreadable', error = ?2, "
                    "updated_at = ?3 WHERE file_id = ?1",
    [U_OBJ_STATE] = "UPDATE objects SET state = ?2, updated_at = ?3 "
                    "WHERE file_id = ?1",
    [U_OBJ_SOURCE] = "UPDATE objects SET source = ?2, archived = "
                     "instr(?2, '/archive/') > 0 WHERE file_id = ?1",
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

int ks__stmts_prepare(scan_ctx *c)
{
    size_t i;

    for (i = 0; i < KS_SCAN_NSTMTS; i++)
        if (sqlite3_prepare_v3(c->db, stmt_sql[i], -1,
                               SQLITE_PREPARE_PERSISTENT, &c->q[i],
                               NULL) != SQLITE_OK)
            return ks_db_error(c->s, c->d, "preparing scan statements");
    return 0;
}

void ks__stmts_finalize(scan_ctx *c)
{
    size_t i;

    for (i = 0; i < KS_SCAN_NSTMTS; i++) {
        sqlite3_finalize(c->q[i]);
        c->q[i] = NULL;
    }
}

void ks__note(scan_ctx *c, enum ks_scan_note n, const char *path,
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

sqlite3_stmt *ks__stmt(scan_ctx *c, int i)
{
    sqlite3_stmt *st = c->q[i];

    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

int ks__step(scan_ctx *c, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return ks_db_error(c->s, c->d, what);
    return 0;
}

int ks__event(scan_ctx *c, int64_t object_id, const char *type,
              json_t *detail)
{
    sqlite3_stmt *st = ks__stmt(c, I_EVENT);
    char *js = detail != NULL
                   ? json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS)
                   : NULL;
    int r;

    json_decref(detail);
    if ((r = ks_event_type_check(type, c->d)) != 0) {
        free(js);
        return r;
    }
    /* detail is NULL when json_pack refused a value: a caller passed
     * text that was not cleaned (or memory ran out). */
    if (js == NULL)
        return kw_diag_set(c->d, KW_EINVAL,
                           "recording a %s event: cannot serialise its "
                           "detail as JSON",
                           type);
    sqlite3_bind_int64(st, 1, c->now);
    if (object_id > 0)
        sqlite3_bind_int64(st, 2, object_id);
    sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, js, -1, free);
    return ks__step(c, st, "recording an event");
}

/* A JSON string of a path or name: jansson takes only UTF-8, and a path
 * is any bytes, so invalid and control bytes are escaped (kw_str_clean).
 * For json_pack's "o"; NULL only when out of memory, and json_pack then
 * fails, which ks__event reports. */
json_t *ks__json_text(const char *s)
{
    char *t = kw_str_clean((const unsigned char *)s, strlen(s));
    json_t *j = t != NULL ? json_string(t) : NULL;

    free(t);
    return j;
}

int64_t ks__mtime_ns(const struct stat *sb)
{
    return (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
}

const char *ks__base_name(const char *path)
{
    const char *b = strrchr(path, '/');

    return b != NULL ? b + 1 : path;
}

void ks__dir_name(const char *path, char *out, size_t len)
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
int ks__cert_like(const char *name)
{
    static const char *const exts[] = {"pem", "crt", "cer", "cert", "der",
                                       NULL};
    return has_ext(name, exts) && !ks__key_like(name);
}

int ks__key_like(const char *name)
{
    static const char *const exts[] = {"key", NULL};
    return has_ext(name, exts) || strstr(name, "privkey") != NULL ||
           kw_str_endswith(name, "key.pem");
}
