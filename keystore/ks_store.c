#include "ks_store.h"

#include "ks_store_int.h"

#include "ks_events.h"
#include "ks_schema.h"

#include "../common/kw_vec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct ks_store {
    sqlite3 *db;
    char *path;
};

sqlite3 *ks_db(ks_store *s)
{
    return s->db;
}

const char *ks_path(ks_store *s)
{
    return s->path;
}

int ks_schema_latest(void)
{
    return ks_migration_count;
}

/* The one place a SQLite failure becomes an operator's message: the
 * database, what was being done (when the caller knows), and SQLite's
 * text once. */
static int db_fail(ks_store *s, kw_diag *d, const char *what,
                   const char *msg)
{
    int code = sqlite3_extended_errcode(s->db);

    if ((code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED)
        return kw_diag_set(d, KW_EBUSY,
                           "%s%s%s: database is locked by another process "
                           "(a running keywarden?)",
                           s->path, what != NULL ? ": " : "",
                           what != NULL ? what : "");
    return kw_diag_set(d, KW_EDB, "%s: %s%s%s", s->path,
                       what != NULL ? what : "", what != NULL ? ": " : "",
                       msg);
}

int ks_db_error(ks_store *s, kw_diag *d, const char *what)
{
    return db_fail(s, d, what, sqlite3_errmsg(s->db));
}

int ks_exec(ks_store *s, const char *sql, kw_diag *d)
{
    char *err = NULL;
    int r;

    if (sqlite3_exec(s->db, sql, NULL, NULL, &err) == SQLITE_OK)
        return 0;
    /* err is SQLite's message for the failing statement: the same text
     * sqlite3_errmsg() gives, so it is the message, not the context. */
    r = db_fail(s, d, NULL, err != NULL ? err : sqlite3_errmsg(s->db));
    sqlite3_free(err);
    return r;
}

/* Prepare sql and bind the parameters fmt describes (see ks_run). */
static int prepare_v(ks_store *s, kw_diag *d, const char *what,
                     const char *sql, const char *fmt, va_list ap,
                     sqlite3_stmt **out)
{
    sqlite3_stmt *st;
    int i;

    *out = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return ks_db_error(s, d, what);
    for (i = 0; fmt[i] != '\0'; i++) {
        if (fmt[i] == 't') {
            const char *t = va_arg(ap, const char *);
            if (t != NULL)
                sqlite3_bind_text(st, i + 1, t, -1, SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(st, i + 1);
        } else if (fmt[i] == 'i') {
            sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
        }
    }
    *out = st;
    return 0;
}

int ks_run(ks_store *s, kw_diag *d, const char *what, const char *sql,
           const char *fmt, ...)
{
    sqlite3_stmt *st;
    va_list ap;
    int r, rc;

    va_start(ap, fmt);
    r = prepare_v(s, d, what, sql, fmt, ap, &st);
    va_end(ap);
    if (r != 0)
        return r;
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return ks_db_error(s, d, what);
    return 0;
}

int ks_value(ks_store *s, kw_diag *d, const char *what, int64_t *out,
             int *found, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *st;
    va_list ap;
    int r, rc;

    *out = 0;
    if (found != NULL)
        *found = 0;
    va_start(ap, fmt);
    r = prepare_v(s, d, what, sql, fmt, ap, &st);
    va_end(ap);
    if (r != 0)
        return r;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        *out = sqlite3_column_int64(st, 0);
        if (found != NULL)
            *found = 1;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return ks_db_error(s, d, what);
    return 0;
}

int ks_event_add(ks_store *s, int64_t at, int64_t object_id,
                 const char *type, json_t *detail, kw_diag *d)
{
    char *text = detail != NULL ? json_dumps(detail, JSON_COMPACT |
                                                         JSON_SORT_KEYS)
                                : NULL;
    int r;

    json_decref(detail);
    if ((r = ks_event_type_check(type, d)) != 0) {
        free(text);
        return r;
    }
    if (text == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory writing a %s event",
                           type);
    r = object_id > 0
            ? ks_run(s, d, "recording an event",
                     "INSERT INTO events (at, object_id, type, detail) "
                     "VALUES (?1, ?2, ?3, ?4)",
                     "iitt", at, object_id, type, text)
            : ks_run(s, d, "recording an event",
                     "INSERT INTO events (at, object_id, type, detail) "
                     "VALUES (?1, NULL, ?2, ?3)",
                     "itt", at, type, text);
    free(text);
    return r;
}

int ks_begin(ks_store *s, kw_diag *d)
{
    return ks_exec(s, "BEGIN IMMEDIATE", d);
}

int ks_commit(ks_store *s, kw_diag *d)
{
    int r = ks_exec(s, "COMMIT", d);

    /* A COMMIT that fails (a deferred constraint, a full disk, SQLITE_BUSY)
     * may leave the transaction open.  Left so, every later write on this
     * connection (the daemon keeps one for its life) would fall inside it,
     * never committed, and the functions that begin their own transaction
     * only when none is open would not.  SQLite's advice: roll back. */
    if (r != 0)
        ks_rollback(s);
    return r;
}

int ks_end_own(ks_store *s, int own, int r, kw_diag *d)
{
    if (!own)
        return r;
    if (r == 0)
        return ks_commit(s, d);
    ks_rollback(s);
    return r;
}

void ks_rollback(ks_store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

int ks_schema_version(ks_store *s)
{
    sqlite3_stmt *st = NULL;
    int v = -1;

    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Bring the schema from its current version up to target, one migration
 * per transaction.  The version is re-read inside the transaction so two
 * processes opening a new database at once do not both migrate. */
static int migrate(ks_store *s, int target, kw_diag *d)
{
    char sql[64];
    int v, r;

    for (;;) {
        if ((r = ks_begin(s, d)) != 0)
            return r;
        v = ks_schema_version(s);
        if (v < 0) {
            ks_rollback(s);
            return ks_db_error(s, d, "reading the schema version");
        }
        if (v > ks_migration_count) {
            ks_rollback(s);
            return kw_diag_set(d, KW_ESCHEMA,
                               "%s: schema version %d is newer than this "
                               "keywarden understands (%d); upgrade "
                               "keywarden or use another --state-dir",
                               s->path, v, ks_migration_count);
        }
        if (v >= target) {
            ks_rollback(s);
            return 0;
        }
        r = ks_exec(s, ks_migrations[v], d);
        if (r == 0) {
            snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
            r = ks_exec(s, sql, d);
        }
        if (r == 0)
            r = ks_commit(s, d);
        if (r != 0) {
            char why[sizeof(d->msg)];

            snprintf(why, sizeof(why), "%s", d != NULL ? d->msg : "");
            ks_rollback(s);
            return kw_diag_set(d, r, "migration to schema version %d "
                                     "failed: %s",
                               v + 1, why);
        }
    }
}

static int open_db(ks_store *s, const char *name, int oflags, kw_diag *d)
{
    if (sqlite3_open_v2(name, &s->db, oflags, NULL) != SQLITE_OK)
        return kw_diag_set(d, KW_EDB, "%s: cannot open database: %s",
                           s->path,
                           s->db != NULL ? sqlite3_errmsg(s->db)
                                         : "out of memory");
    sqlite3_extended_result_codes(s->db, 1);
    return 0;
}

/* SQLite's "file:" URI of path with query appended, malloc'd: every byte
 * but unreserved ones and '/' percent-encoded, so that '?', '#' and '%'
 * in a state directory stay part of the path. */
static char *file_uri(const char *path, const char *query)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)path;
    char *out = malloc(5 + 3 * strlen(path) + strlen(query) + 1), *o;

    if (out == NULL)
        return NULL;
    o = out + 5;
    memcpy(out, "file:", 5);
    for (; *p != '\0'; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
            (*p >= '0' && *p <= '9') || strchr("/-._~", *p) != NULL) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    strcpy(o, query);
    return out;
}

/* Open for reading by a user that may write neither the database nor its
 * directory (a monitoring user, a read-only mount).  A WAL database needs
 * its -wal and -shm files: when they exist SQLite reads them without
 * write access (since 3.22, with a private copy of the WAL index).  When
 * the -wal file does not exist, no writer has the database open (a
 * writer creates it first), and a reader that cannot create it opens the
 * database immutable: no locks, no WAL. */
static int open_reader(ks_store *s, kw_diag *d)
{
    const int ro = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX;
    struct stat st;
    char *wal, *uri;
    int r, absent;

    r = open_db(s, s->path, ro, d);
    if (r != 0 || ks_schema_version(s) >= 0)
        return r;
    wal = malloc(strlen(s->path) + 5);
    if (wal == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    strcpy(wal, s->path);
    strcat(wal, "-wal");
    absent = stat(wal, &st) != 0 && errno == ENOENT;
    free(wal);
    if (!absent)
        return 0; /* the caller reports what the first query gets */
    if ((uri = file_uri(s->path, "?immutable=1")) == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    sqlite3_close_v2(s->db);
    s->db = NULL;
    r = open_db(s, uri, ro | SQLITE_OPEN_URI, d);
    free(uri);
    return r;
}

static int open_impl(const char *path, int flags, int target,
                     ks_store **out, kw_diag *d)
{
    ks_store *s;
    int oflags, r;

    *out = NULL;
    s = calloc(1, sizeof(*s));
    if (s == NULL || (s->path = strdup(path)) == NULL) {
        free(s);
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    }
    if (flags & KS_OPEN_READONLY) {
        r = open_reader(s, d);
    } else {
        oflags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                 ((flags & KS_OPEN_CREATE) ? SQLITE_OPEN_CREATE : 0);
        r = open_db(s, path, oflags, d);
        if (r == 0) {
            /* Keep the -wal and -shm files (SQLite gives them the
             * database's owner and mode) when the last writer closes, so
             * that a user with read access alone finds them and can read;
             * it cannot create them in a directory it may not write. */
            int one = 1;

            sqlite3_file_control(s->db, "main", SQLITE_FCNTL_PERSIST_WAL,
                                 &one);
        }
    }
    if (r != 0) {
        ks_close(s);
        return r;
    }
    sqlite3_busy_timeout(s->db, 5000);

    /* WAL lets the operator's `list` read while the daemon writes;
     * synchronous=FULL makes a committed journal step survive power loss,
     * which the lifecycles rely on before they perform a side effect. */
    r = ks_exec(s, "PRAGMA foreign_keys = ON", d);
    if (r == 0 && !(flags & KS_OPEN_READONLY))
        r = ks_exec(s,
                    "PRAGMA journal_mode = WAL;"
                    "PRAGMA synchronous = FULL;",
                    d);
    if (r == 0 && !(flags & KS_OPEN_READONLY))
        r = migrate(s, target, d);
    if (r == 0 && !(flags & KS_OPEN_READONLY) && target == ks_migration_count)
        r = ks_exec(s, ks_listing_index_sql, d);
    if (r == 0 && (flags & KS_OPEN_READONLY) && ks_schema_version(s) < 0)
        r = ks_db_error(s, d, "reading the schema version");
    if (r == 0 && (flags & KS_OPEN_READONLY) &&
        ks_schema_version(s) != ks_migration_count)
        r = kw_diag_set(d, KW_ESCHEMA,
                        "%s: schema version %d, expected %d; open it once "
                        "read-write to migrate",
                        path, ks_schema_version(s), ks_migration_count);
    if (r != 0) {
        ks_close(s);
        return r;
    }
    *out = s;
    return 0;
}

int ks_open(const char *path, int flags, ks_store **out, kw_diag *d)
{
    return open_impl(path, flags, ks_migration_count, out, d);
}

int ks_open_at_version(const char *path, int version, ks_store **out,
                       kw_diag *d)
{
    if (version < 0 || version > ks_migration_count)
        return kw_diag_set(d, KW_EINVAL, "no schema version %d", version);
    return open_impl(path, KS_OPEN_CREATE, version, out, d);
}

void ks_close(ks_store *s)
{
    if (s == NULL)
        return;
    sqlite3_close_v2(s->db);
    free(s->path);
    free(s);
}

int ks_sync_begin(ks_store *s, const char *seen, kw_diag *d)
{
    char sql[200];
    int r;

    snprintf(sql, sizeof(sql), "CREATE TEMP TABLE IF NOT EXISTS %s (id "
             "INTEGER PRIMARY KEY); DELETE FROM temp.%s;", seen, seen);
    r = ks_exec(s, sql, d);
    return r != 0 ? r : ks_begin(s, d);
}

int ks_sync_end(ks_store *s, int r, const char *kind, const char *seen,
                int64_t *removed, kw_diag *d)
{
    char sql[200];

    *removed = 0;
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM objects WHERE kind = "
             "?1 AND id NOT IN (SELECT id FROM temp.%s)", seen);
    if (r == 0)
        r = ks_value(s, d, "counting vanished objects", removed, NULL, sql,
                     "t", kind);
    snprintf(sql, sizeof(sql), "DELETE FROM objects WHERE kind = ?1 AND id "
             "NOT IN (SELECT id FROM temp.%s)", seen);
    if (r == 0)
        r = ks_run(s, d, "removing vanished objects", sql, "t", kind);
    if (r == 0)
        r = ks_commit(s, d);
    if (r != 0)
        ks_rollback(s);
    return r;
}

/* Step the prepared st (finalized here) and collect at most max rows of
 * elem bytes, each filled by read, into a malloc'd *out. */
int ks_collect(ks_store *s, sqlite3_stmt *st, size_t max, size_t elem,
                   void (*read)(sqlite3_stmt *, void *), void **out,
                   size_t *n, const char *what, kw_diag *d)
{
    unsigned char *v = NULL, *nv;
    size_t cap = 0;
    int rc = SQLITE_DONE;

    *out = NULL;
    *n = 0;
    while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((nv = kw_vec_grow(v, &cap, *n + 1, elem)) == NULL) {
            free(v);
            sqlite3_finalize(st);
            *n = 0;
            return kw_diag_set(d, KW_ENOMEM, "%s: out of memory", what);
        }
        v = nv;
        read(st, v + elem * (*n)++);
    }
    if (*n < max && rc != SQLITE_DONE) {
        free(v);
        *n = 0;
        rc = ks_db_error(s, d, what);
        sqlite3_finalize(st);
        return rc;
    }
    sqlite3_finalize(st);
    *out = v;
    return 0;
}

void ks_col_text(sqlite3_stmt *st, int i, char *buf, size_t cap)
{
    const char *v = (const char *)sqlite3_column_text(st, i);

    snprintf(buf, cap, "%s", v != NULL ? v : "");
}
