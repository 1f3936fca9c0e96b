/*
 * ks_mtasts.c: the MTA-STS check's memory of each domain's id and
 * policy hash (ks_mtasts.h).
 */
#include "ks_mtasts.h"

#include "ks_store_int.h"

#include <stdio.h>
#include <string.h>

int ks_mtasts_seen_get(ks_store *s, const char *domain, char *id,
                       size_t idcap, char *sha256, size_t shacap,
                       int *found, kw_diag *d)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *found = 0;
    id[0] = sha256[0] = '\0';
    if (sqlite3_prepare_v2(ks_db(s),
                           "SELECT id, policy_sha256 FROM mtasts_seen "
                           "WHERE domain = ?1",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, domain, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
        sqlite3_finalize(st);
        return kw_diag_set(d, KW_EDB,
                           "reading the MTA-STS policy seen for %s: %s",
                           domain, sqlite3_errmsg(ks_db(s)));
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *a = sqlite3_column_text(st, 0);
        const unsigned char *b = sqlite3_column_text(st, 1);
        snprintf(id, idcap, "%s", a != NULL ? (const char *)a : "");
        snprintf(sha256, shacap, "%s", b != NULL ? (const char *)b : "");
        *found = 1;
    } else if (rc != SQLITE_DONE) {
        kw_diag_set(d, KW_EDB, "reading the MTA-STS policy seen for %s: %s",
                    domain, sqlite3_errmsg(ks_db(s)));
        sqlite3_finalize(st);
        return KW_EDB;
    }
    sqlite3_finalize(st);
    return 0;
}

int ks_mtasts_seen_put(ks_store *s, const char *domain, const char *id,
                       const char *sha256, int64_t now, kw_diag *d)
{
    return ks_run(s, d, "recording the MTA-STS policy seen",
                  "INSERT OR REPLACE INTO mtasts_seen (domain, id, "
                  "policy_sha256, seen_at) VALUES (?1, ?2, ?3, ?4)",
                  "ttti", domain, id, sha256, now);
}
