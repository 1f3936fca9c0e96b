/*
 * ks_store.h: the SQLite inventory, keywarden's single source of truth.
 *
 * One database file per installation (default $STATE_DIR/keywarden.db).
 * It runs in WAL mode with synchronous=FULL, a busy timeout and foreign
 * keys on.  The schema is versioned with PRAGMA user_version; each
 * migration runs in one transaction, so a crash mid-upgrade leaves the
 * previous version intact.  All times are UTC seconds since the epoch.
 *
 * Only keystore/ runs SQL: the other modules call the query modules
 * (ks_jobs.h, ks_outbox.h, ...), and the handle and the SQL helpers are
 * declared in ks_store_int.h, which nothing outside keystore/ includes
 * (the unit tests and benchmarks aside, to set up and inspect rows).
 *
 * This header is the entry to keystore/, which owns the inventory and
 * everything written for it: the schema and its migrations (ks_schema),
 * scans and ingest of certificate and key files (ks_scan, ks_ingest), the
 * query modules, the event registry (ks_events), keys and CSRs (ks_keygen)
 * and atomic deployment of versions (ks_deploy).  A ks_store is one SQLite
 * connection, opened with SQLITE_OPEN_NOMUTEX: it belongs to one thread
 * at a time, so each libuv work item opens its own and closes it with
 * ks_close() before it finishes.  Every function that reads the database
 * or a file BLOCKS (on the disk, and up to the 5 s busy timeout on another
 * writer's lock); the daemon calls them on the thread pool, never on the
 * loop.  Nothing here runs a callback on a loop: a scan's progress notes
 * (ks_scan.h) are called on the thread that called ks_scan, during the
 * call.
 */
#ifndef KS_STORE_H
#define KS_STORE_H

#include "../common/kw_err.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>

typedef struct ks_store ks_store;

enum {
    KS_OPEN_CREATE = 1,   /* create the file if missing */
    KS_OPEN_READONLY = 2, /* queries only; no migration is run */
};

/* Open (and migrate to the latest schema) the database at path.  On
 * success *out is set; close it with ks_close(). */
int ks_open(const char *path, int flags, ks_store **out, kw_diag *d);

/* Test hook: open and migrate only up to version (0 = empty). */
int ks_open_at_version(const char *path, int version, ks_store **out,
                       kw_diag *d);

void ks_close(ks_store *s);

/* The schema version this build knows, and the one of an open store. */
int ks_schema_latest(void);
int ks_schema_version(ks_store *s);

/* The database file's path. */
const char *ks_path(ks_store *s);

/* Transactions.  ks_begin() takes the write lock at once (IMMEDIATE), so
 * a busy database is reported at the start, not halfway through.  A
 * ks_commit() that fails has rolled the transaction back. */
int ks_begin(ks_store *s, kw_diag *d);
int ks_commit(ks_store *s, kw_diag *d);
void ks_rollback(ks_store *s);

/* Append an event at time at about inventory object object_id (0: none)
 * with detail as its JSON (taken over; NULL is out of memory).  A type
 * the registry (ks_events.h) lacks is refused with KW_EINVAL. */
int ks_event_add(ks_store *s, int64_t at, int64_t object_id,
                 const char *type, json_t *detail, kw_diag *d);

/* Report the last SQLite error of s as KW_EDB with context. */
int ks_db_error(ks_store *s, kw_diag *d, const char *what);

#endif
