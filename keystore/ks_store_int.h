/*
 * ks_store_int.h: the SQLite handle and SQL helpers, for keystore's own
 * query modules only.
 *
 * Everything outside keystore/ reaches the database through the query
 * modules' functions, so the schema and its SQL stay in one place.  The
 * helpers run on the caller's thread and block on SQLite; errors name
 * what was done and the database file (ks_db_error()).
 */
#ifndef KS_STORE_INT_H
#define KS_STORE_INT_H

#include "ks_store.h"

#include <sqlite3.h>

/* The underlying handle, owned by s (closed by ks_close()). */
sqlite3 *ks_db(ks_store *s);

/* Execute SQL without results; the error names the database file. */
int ks_exec(ks_store *s, const char *sql, kw_diag *d);

/* The end of a function's transaction, when it began its own (own: no
 * transaction was open on entry): committed after r == 0, else rolled
 * back; r, or the commit's error.  Not own: r, the caller's transaction
 * left to the caller. */
int ks_end_own(ks_store *s, int own, int r, kw_diag *d);

/* Run one statement with its parameters given by fmt, one letter each:
 * 't' text (const char *, NULL binds NULL), 'i' int64_t, 'n' NULL (no
 * argument).  The error says `what` and names the database file. */
int ks_run(ks_store *s, kw_diag *d, const char *what, const char *sql,
           const char *fmt, ...);

/* The first column of the first row of sql (parameters as ks_run) in
 * *out; *found (may be NULL) is 0 when there is no row or it is NULL, and
 * *out is then 0. */
int ks_value(ks_store *s, kw_diag *d, const char *what, int64_t *out,
             int *found, const char *sql, const char *fmt, ...);

/* The health last recorded in meta under key (a key never recorded
 * counts as KS_HEALTH_OK) in *before, and health recorded in its place;
 * *moved when the two differ (the caller's health.changed).  Inside the
 * caller's transaction (ks_dnssec_seen.c; DKIM rotations and DNSSEC
 * zones share it). */
int ks_meta_health_swap(ks_store *s, const char *key, int health,
                        int64_t *before, int *moved, kw_diag *d);
/* A sync that makes the objects of one kind exactly what it records:
 * ks_sync_begin empties the temp table temp.SEEN (created when needed)
 * and opens the transaction; the sync inserts the ids it keeps into it
 * (by id, never by time: two syncs may fall in one second).
 * ks_sync_end, given the sync's result r, removes the kind's objects not
 * in it (their count in *removed) and commits, or rolls back when r or
 * anything here failed; returns the first failure. */
int ks_sync_begin(ks_store *s, const char *seen, kw_diag *d);
int ks_sync_end(ks_store *s, int r, const char *kind, const char *seen,
                int64_t *removed, kw_diag *d);

/* Steps the prepared st (finalized here) and collects at most max rows
 * of elem bytes, each filled by read, into a malloc'd *out (*n rows);
 * what names the reading in an error. */
int ks_collect(ks_store *s, sqlite3_stmt *st, size_t max, size_t elem,
               void (*read)(sqlite3_stmt *, void *), void **out, size_t *n,
               const char *what, kw_diag *d);

/* Column i of the current row as text into buf ("" for NULL). */
void ks_col_text(sqlite3_stmt *st, int i, char *buf, size_t cap);

#endif
