#include "ks_dkim.h"

#include "ks_events.h"
#include "ks_store_int.h"

#include "../common/kw_json.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The object of (name, key file), or 0. */
static int find(ks_store *s, const char *name, const char *key_path,
                int64_t *id, kw_diag *d)
{
    int found = 0, r;

    r = ks_value(s, d, "looking up a DKIM selector", id, &found,
                 "SELECT o.id FROM objects o JOIN dkim_keys k ON "
                 "k.object_id = o.id WHERE o.kind = 'dkim' AND o.name = ?1 "
                 "AND k.key_path = ?2",
                 "tt", name, key_path);
    if (r == 0 && !found)
        *id = 0;
    return r;
}

static int upsert(ks_store *s, const ks_dkim_row *k, int64_t now,
                  ks_dkim_stats *st, kw_diag *d)
{
    char name[400];
    int64_t id = 0, same = 0;
    int r, found = 0;
    const char *state = k->state != NULL ? k->state : "ok";

    snprintf(name, sizeof(name), "%s._domainkey.%s", k->selector, k->domain);
    if ((r = find(s, name, k->key_path, &id, d)) != 0)
        return r;
    if (id == 0) {
        r = ks_run(s, d, "adding a DKIM selector",
                   "INSERT INTO objects (kind, name, source, state, error, "
                   "key_type, key_bits, key_path, key_mode, role, "
                   "created_at, updated_at) VALUES ('dkim', ?1, ?2, ?3, ?4, "
                   "?5, ?6, ?2, ?7, ?8, ?9, ?9)",
                   "tttttiiti", name, k->key_path, state, k->error,
                   k->algorithm, (int64_t)k->bits, (int64_t)k->key_mode,
                   k->role, now);
        if (r == 0)
            id = sqlite3_last_insert_rowid(ks_db(s));
        if (r == 0)
            r = ks_run(s, d, "adding a DKIM selector",
                       "INSERT INTO dkim_keys (object_id, domain, selector, "
                       "key_path, first_seen, last_seen, role, signer, "
                       "source, line, max_age) VALUES (?1, ?2, ?3, ?4, ?5, "
                       "?5, 'orphan', '', '', 0, 0)",
                       "ittti", id, k->domain, k->selector, k->key_path,
                       now);
        if (r == 0)
            st->added++;
        if (r != 0)
            return r;
    } else {
        /* Changed when any fact health reads differs. */
        r = ks_value(s, d, "comparing a DKIM selector", &same, &found,
                     "SELECT 1 FROM objects o JOIN dkim_keys k ON "
                     "k.object_id = o.id WHERE o.id = ?1 AND o.state = ?2 "
                     "AND o.error IS ?3 AND k.algorithm IS ?4 AND k.bits = "
                     "?5 AND k.pub_hash IS ?6 AND k.key_mode = ?7 AND "
                     "k.role = ?8 AND k.signer_reads IS ?9",
                     "itttititi", id, state, k->error, k->algorithm,
                     (int64_t)k->bits, k->pub_hash, (int64_t)k->key_mode,
                     k->role, (int64_t)k->signer_reads);
        if (r != 0)
            return r;
        if (!found)
            st->changed++;
        r = ks_run(s, d, "updating a DKIM selector",
                   "UPDATE objects SET state = ?2, error = ?3, key_type = ?4, "
                   "key_bits = ?5, key_mode = ?6, role = ?7, updated_at = "
                   "CASE WHEN ?9 THEN updated_at ELSE ?8 END WHERE id = ?1",
                   "itttiitii", id, state, k->error, k->algorithm,
                   (int64_t)k->bits, (int64_t)k->key_mode, k->role, now,
                   (int64_t)found);
        if (r != 0)
            return r;
    }
    r = ks_run(s, d, "recording a DKIM selector",
               "INSERT OR IGNORE INTO temp.dkim_seen (id) VALUES (?1)", "i",
               id);
    if (r != 0)
        return r;
    return ks_run(s, d, "recording a DKIM selector",
                  "UPDATE dkim_keys SET algorithm = ?2, bits = ?3, key_mode "
                  "= ?4, key_uid = ?5, key_gid = ?6, key_time = ?7, role = "
                  "?8, signer = ?9, source = ?10, line = ?11, signer_user = "
                  "?12, signer_reads = ?13, pub_hash = ?14, record = ?15, "
                  "max_age = ?16, last_seen = ?17 WHERE object_id = ?1",
                  "itiiiiitttitittii", id, k->algorithm, (int64_t)k->bits,
                  (int64_t)k->key_mode, k->key_uid, k->key_gid, k->key_time,
                  k->role, k->signer, k->source, (int64_t)k->line,
                  k->signer_user != NULL && k->signer_user[0] != '\0'
                      ? k->signer_user
                      : NULL,
                  (int64_t)k->signer_reads, k->pub_hash, k->record,
                  k->max_age, now);
}

int ks_dkim_sync(ks_store *s, const ks_dkim_row *rows, size_t n,
                 const ks_dkim_keep *keep, size_t nkeep, int64_t now,
                 ks_dkim_stats *st, kw_diag *d)
{
    size_t i;
    int r;
    int64_t removed = 0;

    memset(st, 0, sizeof(*st));
    /* The objects this sync sees, so the others can go. */
    if ((r = ks_sync_begin(s, "dkim_seen", d)) != 0)
        return r;
    for (i = 0; r == 0 && i < n; i++)
        r = upsert(s, &rows[i], now, st, d);
    for (i = 0; r == 0 && i < nkeep; i++) {
        int64_t kept = 0;

        r = ks_value(s, d, "keeping DKIM selectors", &kept, NULL,
                     "SELECT count(*) FROM dkim_keys WHERE signer = ?1 AND "
                     "object_id NOT IN (SELECT id FROM temp.dkim_seen)",
                     "t", keep[i].signer);
        st->kept += (size_t)kept;
        if (r == 0)
            r = ks_run(s, d, "keeping DKIM selectors",
                       "UPDATE objects SET state = 'unreadable', error = ?2, "
                       "updated_at = ?3 WHERE id IN (SELECT object_id FROM "
                       "dkim_keys WHERE signer = ?1 AND object_id NOT IN "
                       "(SELECT id FROM temp.dkim_seen)) AND error IS NOT ?2",
                       "tti", keep[i].signer, keep[i].why, now);
        if (r == 0)
            r = ks_run(s, d, "keeping DKIM selectors",
                       "INSERT OR IGNORE INTO temp.dkim_seen (id) SELECT "
                       "object_id FROM dkim_keys WHERE signer = ?1",
                       "t", keep[i].signer);
    }
    if ((r = ks_sync_end(s, r, "dkim", "dkim_seen", &removed, d)) != 0)
        return r;
    st->selectors = n;
    st->removed = (size_t)removed;
    return 0;
}

static int mismatch_event(ks_store *s, int64_t object_id,
                          const ks_dkim_finding *f, int64_t now, kw_diag *d)
{
    json_t *js = json_pack("{s:o, s:o, s:o}", "text", kw_json_str(f->text),
                           "fix", kw_json_str(f->fix), "server",
                           kw_json_str(f->server));
    char *text = js != NULL ? json_dumps(js, JSON_COMPACT | JSON_SORT_KEYS)
                            : NULL;
    int r;

    json_decref(js);
    if ((r = ks_event_type_check("dkim.dns_mismatch", d)) != 0) {
        free(text);
        return r;
    }
    if (text == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory writing the "
                           "dkim.dns_mismatch event");
    /* The object, its domain and selector beside the words: a hook
     * paging on it is told which selector (KEYWARDEN_DKIM_SELECTOR,
     * KEYWARDEN_DKIM_DOMAIN). */
    r = ks_run(s, d, "recording a DKIM event",
               "INSERT INTO events (at, object_id, type, detail) SELECT ?1, "
               "?2, 'dkim.dns_mismatch', json_set(?3, '$.object', o.name, "
               "'$.kind', 'dkim', '$.selector', k.selector, '$.domain', "
               "k.domain) FROM objects o JOIN dkim_keys k ON k.object_id = "
               "o.id WHERE o.id = ?2",
               "iit", now, object_id, text);
    free(text);
    return r;
}

int ks_dkim_findings_replace(ks_store *s, int64_t object_id,
                             const ks_dkim_finding *f, size_t n,
                             int64_t checked_at, kw_diag *d)
{
    int own = sqlite3_get_autocommit(ks_db(s)) != 0, r = 0;
    size_t i;

    int64_t had = 0, signing = 0;
    const ks_dkim_finding *mismatch = NULL;

    for (i = 0; i < n && mismatch == NULL; i++)
        if (f[i].code != NULL && strcmp(f[i].code, "mismatch") == 0)
            mismatch = &f[i];
    if (own && (r = ks_begin(s, d)) != 0)
        return r;
    /* dkim.dns_mismatch marks the change, not every check that still
     * finds it, and only for the key that signs: that is the page. */
    if (mismatch != NULL)
        r = ks_value(s, d, "reading DKIM findings", &had, NULL,
                     "SELECT count(*) FROM dkim_findings WHERE object_id = "
                     "?1 AND code = 'mismatch'",
                     "i", object_id);
    if (r == 0 && mismatch != NULL && had == 0)
        r = ks_value(s, d, "reading a DKIM selector", &signing, NULL,
                     "SELECT count(*) FROM dkim_keys WHERE object_id = ?1 "
                     "AND role = 'signing'",
                     "i", object_id);
    if (r == 0 && signing > 0)
        r = mismatch_event(s, object_id, mismatch, checked_at, d);
    if (r == 0)
        r = ks_run(s, d, "replacing DKIM findings",
                   "DELETE FROM dkim_findings WHERE object_id = ?1", "i",
                   object_id);
    for (i = 0; r == 0 && i < n; i++)
        r = ks_run(s, d, "recording a DKIM finding",
                   "INSERT INTO dkim_findings (object_id, severity, code, "
                   "text, fix, server, checked_at) VALUES (?1, ?2, ?3, ?4, "
                   "?5, ?6, ?7)",
                   "ittttti", object_id,
                   ks_health_word(f[i].severity),
                   f[i].code != NULL ? f[i].code : "",
                   f[i].text != NULL ? f[i].text : "",
                   f[i].fix != NULL ? f[i].fix : "", f[i].server, checked_at);
    return ks_end_own(s, own, r, d);
}

int ks_dkim_each(ks_store *s, int (*cb)(void *ctx, const ks_dkim_sel *k),
                 void *ctx, kw_diag *d)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(ks_db(s),
                           "SELECT o.id, o.name, k.domain, k.selector, "
                           "k.key_path, k.role, k.signer, k.algorithm, "
                           "k.pub_hash, k.record, k.bits FROM objects o "
                           "JOIN dkim_keys k ON k.object_id = o.id ORDER BY "
                           "o.name, o.id",
                           -1, &st, NULL) != SQLITE_OK)
        return ks_db_error(s, d, "listing DKIM selectors");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ks_dkim_sel k;

        k.id = sqlite3_column_int64(st, 0);
        k.name = (const char *)sqlite3_column_text(st, 1);
        k.domain = (const char *)sqlite3_column_text(st, 2);
        k.selector = (const char *)sqlite3_column_text(st, 3);
        k.key_path = (const char *)sqlite3_column_text(st, 4);
        k.role = (const char *)sqlite3_column_text(st, 5);
        k.signer = (const char *)sqlite3_column_text(st, 6);
        k.algorithm = (const char *)sqlite3_column_text(st, 7);
        k.pub_hash = (const char *)sqlite3_column_text(st, 8);
        k.record = (const char *)sqlite3_column_text(st, 9);
        k.bits = sqlite3_column_int(st, 10);
        if (cb(ctx, &k) != 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        sqlite3_finalize(st);
        return ks_db_error(s, d, "listing DKIM selectors");
    }
    sqlite3_finalize(st);
    return 0;
}
