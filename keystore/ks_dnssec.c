/*
 * ks_dnssec.c: DNSSEC zones and keys in the inventory (ks_dnssec.h).
 *
 * A zone and each of its keys are separate objects of kind 'dnssec'; the
 * sync matches them by name (ZONE, ZONE/ROLE/TAG), and a key whose name
 * comes back with another DNSKEY (a tag collision after a new key) is a
 * new key: its first seen and its ds_needed bookkeeping start again.
 */
#include "ks_dnssec.h"

#include "ks_store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int seen(ks_store *s, int64_t id, kw_diag *d)
{
    return ks_run(s, d, "recording a DNSSEC object",
                  "INSERT OR IGNORE INTO temp.dnssec_seen (id) VALUES (?1)",
                  "i", id);
}

static int zone_upsert(ks_store *s, const ks_dnssec_zone_row *z, int64_t now,
                       ks_dnssec_stats *st, kw_diag *d)
{
    int64_t id = 0, same = 0;
    int found = 0, r;
    const char *signer = z->signer != NULL ? z->signer : "";
    const char *source = z->source != NULL ? z->source : "";

    r = ks_value(s, d, "looking up a DNSSEC zone", &id, &found,
                 "SELECT object_id FROM dnssec_zones WHERE zone = ?1", "t",
                 z->zone);
    if (r != 0)
        return r;
    if (!found) {
        r = ks_run(s, d, "adding a DNSSEC zone",
                   "INSERT INTO objects (kind, name, source, role, "
                   "created_at, updated_at) VALUES ('dnssec', ?1, ?2, "
                   "'zone', ?3, ?3)",
                   "tti", z->zone, source, now);
        if (r == 0)
            id = sqlite3_last_insert_rowid(ks_db(s));
        if (r == 0)
            r = ks_run(s, d, "adding a DNSSEC zone",
                       "INSERT INTO dnssec_zones (object_id, zone, signer, "
                       "source, first_seen, last_seen) VALUES (?1, ?2, ?3, "
                       "?4, ?5, ?5)",
                       "ittti", id, z->zone,
                       signer, source, now);
        if (r != 0)
            return r;
        st->added++;
        return seen(s, id, d);
    }
    r = ks_value(s, d, "comparing a DNSSEC zone", &same, &found,
                 "SELECT 1 FROM dnssec_zones WHERE object_id = ?1 AND "
                 "signer = ?2 AND source = ?3",
                 "itt", id, signer, source);
    if (r != 0)
        return r;
    if (!found) {
        st->changed++;
        r = ks_run(s, d, "updating a DNSSEC zone",
                   "UPDATE objects SET source = ?2, updated_at = ?3 WHERE "
                   "id = ?1",
                   "iti", id, source, now);
    }
    if (r == 0)
        r = ks_run(s, d, "updating a DNSSEC zone",
                   "UPDATE dnssec_zones SET signer = ?2, source = ?3, "
                   "last_seen = ?4 WHERE object_id = ?1",
                   "itti", id, signer, source, now);
    return r != 0 ? r : seen(s, id, d);
}

static int key_upsert(ks_store *s, const ks_dnssec_key_row *k, int64_t now,
                      ks_dnssec_stats *st, kw_diag *d)
{
    char name[300], kt[16], ab[16];
    int64_t id = 0, same = 0;
    int found = 0, r;

    snprintf(name, sizeof(name), "%s/%s/%u", k->zone, k->role, k->tag);
    /* key_type as the other kinds have it: a name ("ECDSAP256SHA256"). */
    snprintf(kt, sizeof(kt), "%s", ks_dnssec_alg_word(k->algorithm, ab));
    r = ks_value(s, d, "looking up a DNSSEC key", &id, &found,
                 "SELECT o.id FROM objects o JOIN dnssec_keys k ON "
                 "k.object_id = o.id WHERE o.kind = 'dnssec' AND o.name = ?1",
                 "t", name);
    if (r != 0)
        return r;
    if (found) {
        /* The same DNSKEY: the same key, its history kept. */
        r = ks_value(s, d, "comparing a DNSSEC key", &same, &found,
                     "SELECT 1 FROM dnssec_keys WHERE object_id = ?1 AND "
                     "dnskey = ?2",
                     "it", id, k->dnskey);
        if (r != 0)
            return r;
        if (!found) {
            r = ks_run(s, d, "replacing a DNSSEC key",
                       "DELETE FROM objects WHERE id = ?1", "i", id);
            if (r != 0)
                return r;
            st->removed++;
            id = 0;
        }
    }
    if (id == 0) {
        r = ks_run(s, d, "adding a DNSSEC key",
                   "INSERT INTO objects (kind, name, source, key_type, "
                   "key_bits, role, created_at, updated_at) VALUES "
                   "('dnssec', ?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                   "tttiti", name, k->source != NULL ? k->source : "", kt,
                   (int64_t)k->bits, k->role, now);
        if (r == 0)
            id = sqlite3_last_insert_rowid(ks_db(s));
        if (r == 0)
            r = ks_run(s, d, "adding a DNSSEC key",
                       "INSERT INTO dnssec_keys (object_id, zone, role, tag, "
                       "algorithm, dnskey, signer, source, first_seen, "
                       "last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, '', '', "
                       "?7, ?7)",
                       "ittiiti", id, k->zone, k->role, (int64_t)k->tag,
                       (int64_t)k->algorithm, k->dnskey, now);
        if (r != 0)
            return r;
        st->added++;
    } else {
        /* Changed when the timing or where it comes from differs. */
        r = ks_value(s, d, "comparing a DNSSEC key", &same, &found,
                     "SELECT 1 FROM dnssec_keys WHERE object_id = ?1 AND "
                     "created = ?2 AND publish = ?3 AND activate = ?4 AND "
                     "inactive = ?5 AND delete_at = ?6 AND sync_publish = ?7 "
                     "AND sync_delete = ?8 AND signer = ?9 AND source = ?10",
                     "iiiiiiiitt", id, k->created, k->publish, k->activate,
                     k->inactive, k->delete_, k->sync_publish,
                     k->sync_delete, k->signer != NULL ? k->signer : "",
                     k->source != NULL ? k->source : "");
        if (r != 0)
            return r;
        if (!found) {
            st->changed++;
            r = ks_run(s, d, "updating a DNSSEC key",
                       "UPDATE objects SET source = ?2, updated_at = ?3 "
                       "WHERE id = ?1",
                       "iti", id, k->source != NULL ? k->source : "", now);
            if (r != 0)
                return r;
        }
    }
    r = ks_run(s, d, "recording a DNSSEC key",
               "UPDATE dnssec_keys SET algorithm = ?2, bits = ?3, flags = ?4, "
               "created = ?5, publish = ?6, activate = ?7, inactive = ?8, "
               "delete_at = ?9, sync_publish = ?10, sync_delete = ?11, "
               "signer = ?12, source = ?13, last_seen = ?14 WHERE object_id "
               "= ?1",
               "iiiiiiiiiiitti", id,
               (int64_t)k->algorithm, (int64_t)k->bits, (int64_t)k->flags,
               k->created, k->publish, k->activate, k->inactive, k->delete_,
               k->sync_publish, k->sync_delete,
               k->signer != NULL ? k->signer : "",
               k->source != NULL ? k->source : "", now);
    return r != 0 ? r : seen(s, id, d);
}

/* Mark the not yet seen zones of a signer kept this time, with their
 * keys, and count them. */
static int keep_signer(ks_store *s, const char *signer, ks_dnssec_stats *st,
                       kw_diag *d)
{
    int64_t kept = 0;
    int r;

    r = ks_value(s, d, "keeping DNSSEC objects", &kept, NULL,
                 "SELECT (SELECT count(*) FROM dnssec_zones WHERE signer = ?1 "
                 "AND object_id NOT IN (SELECT id FROM temp.dnssec_seen)) + "
                 "(SELECT count(*) FROM dnssec_keys WHERE signer = ?1 AND "
                 "object_id NOT IN (SELECT id FROM temp.dnssec_seen))",
                 "t", signer);
    if (r == 0)
        r = ks_run(s, d, "keeping DNSSEC objects",
                   "INSERT OR IGNORE INTO temp.dnssec_seen (id) SELECT "
                   "object_id FROM dnssec_zones WHERE signer = ?1 UNION "
                   "SELECT object_id FROM dnssec_keys WHERE signer = ?1",
                   "t", signer);
    st->kept += (size_t)kept;
    return r;
}

int ks_dnssec_sync(ks_store *s, const ks_dnssec_zone_row *zones, size_t nz,
                   const ks_dnssec_key_row *keys, size_t nk,
                   const char *const *keep_signers, size_t nkeep, int64_t now,
                   ks_dnssec_stats *st, kw_diag *d)
{
    size_t i;
    int r;
    int64_t removed = 0;

    memset(st, 0, sizeof(*st));
    /* What this sync sees, so the others can go. */
    if ((r = ks_sync_begin(s, "dnssec_seen", d)) != 0)
        return r;
    for (i = 0; r == 0 && i < nz; i++)
        r = zone_upsert(s, &zones[i], now, st, d);
    for (i = 0; r == 0 && i < nk; i++)
        r = key_upsert(s, &keys[i], now, st, d);
    for (i = 0; r == 0 && i < nkeep; i++)
        r = keep_signer(s, keep_signers[i], st, d);
    if ((r = ks_sync_end(s, r, "dnssec", "dnssec_seen", &removed, d)) != 0)
        return r;
    st->zones = nz;
    st->keys = nk;
    st->removed += (size_t)removed;
    return 0;
}

int ks_dnssec_findings_replace(ks_store *s, const char *zone,
                               const ks_dnssec_finding *f, size_t n,
                               const ks_dnssec_check *c, int64_t checked_at,
                               kw_diag *d)
{
    int own = sqlite3_get_autocommit(ks_db(s)) != 0, r = 0, found = 0;
    int64_t id = 0;
    size_t i;

    if (own && (r = ks_begin(s, d)) != 0)
        return r;
    r = ks_value(s, d, "looking up a DNSSEC zone", &id, &found,
                 "SELECT object_id FROM dnssec_zones WHERE zone = ?1", "t",
                 zone);
    if (r == 0 && !found)
        r = kw_diag_set(d, KW_ENOTFOUND,
                        "zone %s is not in the inventory (run keywarden "
                        "scan)", zone);
    if (r == 0)
        r = ks_run(s, d, "replacing DNSSEC findings",
                   "DELETE FROM dnssec_findings WHERE object_id = ?1", "i",
                   id);
    for (i = 0; r == 0 && i < n; i++)
        r = ks_run(s, d, "recording a DNSSEC finding",
                   "INSERT INTO dnssec_findings (object_id, severity, code, "
                   "text, fix, server, record, tag, checked_at) VALUES (?1, "
                   "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                   "ittttttii", id, ks_health_word(f[i].severity),
                   f[i].code != NULL ? f[i].code : "",
                   f[i].text != NULL ? f[i].text : "",
                   f[i].fix != NULL ? f[i].fix : "",
                   f[i].server != NULL && f[i].server[0] != '\0'
                       ? f[i].server
                       : NULL,
                   f[i].record, (int64_t)f[i].tag, checked_at);
    if (r == 0)
        r = ks_run(s, d, "recording a DNSSEC check",
                   "UPDATE dnssec_zones SET checked_at = ?2, is_signed = ?3, "
                   "has_ds = ?4, next_expiry = ?5 WHERE object_id = ?1",
                   "iiiii", id, checked_at,
                   (int64_t)(c != NULL && c->is_signed),
                   (int64_t)(c != NULL && c->has_ds),
                   c != NULL ? c->next_expiry : (int64_t)0);
    return ks_end_own(s, own, r, d);
}

int ks_dnssec_zones_each(ks_store *s,
                         int (*cb)(void *ctx, const ks_dnssec_zone *z),
                         void *ctx, kw_diag *d)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(ks_db(s),
                           "SELECT object_id, zone, signer, source, "
                           "first_seen, checked_at, is_signed, has_ds, "
                           "next_expiry FROM dnssec_zones ORDER BY zone",
                           -1, &st, NULL) != SQLITE_OK)
        return ks_db_error(s, d, "listing DNSSEC zones");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ks_dnssec_zone z;

        z.id = sqlite3_column_int64(st, 0);
        z.zone = (const char *)sqlite3_column_text(st, 1);
        z.signer = (const char *)sqlite3_column_text(st, 2);
        z.source = (const char *)sqlite3_column_text(st, 3);
        z.first_seen = sqlite3_column_int64(st, 4);
        z.checked_at = sqlite3_column_int64(st, 5);
        z.is_signed = sqlite3_column_int(st, 6);
        z.has_ds = sqlite3_column_int(st, 7);
        z.next_expiry = sqlite3_column_int64(st, 8);
        if (cb(ctx, &z) != 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        sqlite3_finalize(st);
        return ks_db_error(s, d, "listing DNSSEC zones");
    }
    sqlite3_finalize(st);
    return 0;
}

int ks_dnssec_keys_each(ks_store *s, const char *zone,
                        int (*cb)(void *ctx, const ks_dnssec_key *k),
                        void *ctx, kw_diag *d)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(ks_db(s),
                           "SELECT o.id, o.name, k.zone, k.role, k.dnskey, "
                           "k.signer, k.source, k.tag, k.algorithm, k.bits, "
                           "k.flags, k.created, k.publish, k.activate, "
                           "k.inactive, k.delete_at, k.sync_publish, "
                           "k.sync_delete, k.first_seen, k.ds_missing_since, "
                           "k.ds_notified_at FROM objects o JOIN dnssec_keys "
                           "k ON k.object_id = o.id WHERE ?1 IS NULL OR "
                           "k.zone = ?1 ORDER BY k.zone, k.role, k.tag, o.id",
                           -1, &st, NULL) != SQLITE_OK)
        return ks_db_error(s, d, "listing DNSSEC keys");
    sqlite3_bind_text(st, 1, zone, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ks_dnssec_key k;

        k.id = sqlite3_column_int64(st, 0);
        k.name = (const char *)sqlite3_column_text(st, 1);
        k.zone = (const char *)sqlite3_column_text(st, 2);
        k.role = (const char *)sqlite3_column_text(st, 3);
        k.dnskey = (const char *)sqlite3_column_text(st, 4);
        k.signer = (const char *)sqlite3_column_text(st, 5);
        k.source = (const char *)sqlite3_column_text(st, 6);
        k.tag = (unsigned)sqlite3_column_int64(st, 7);
        k.algorithm = sqlite3_column_int(st, 8);
        k.bits = sqlite3_column_int(st, 9);
        k.flags = sqlite3_column_int(st, 10);
        k.created = sqlite3_column_int64(st, 11);
        k.publish = sqlite3_column_int64(st, 12);
        k.activate = sqlite3_column_int64(st, 13);
        k.inactive = sqlite3_column_int64(st, 14);
        k.delete_ = sqlite3_column_int64(st, 15);
        k.sync_publish = sqlite3_column_int64(st, 16);
        k.sync_delete = sqlite3_column_int64(st, 17);
        k.first_seen = sqlite3_column_int64(st, 18);
        k.ds_missing_since = sqlite3_column_int64(st, 19);
        k.ds_notified_at = sqlite3_column_int64(st, 20);
        if (cb(ctx, &k) != 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        sqlite3_finalize(st);
        return ks_db_error(s, d, "listing DNSSEC keys");
    }
    sqlite3_finalize(st);
    return 0;
}

int ks_dnssec_ds_mark(ks_store *s, const char *zone, unsigned tag,
                      int64_t missing_since, int64_t notified_at,
                      kw_diag *d)
{
    int r;

    /* Cleared, the notification goes with it: a later key that waits
     * for its DS is news again. */
    r = ks_run(s, d, "recording a key's DS bookkeeping",
               "UPDATE dnssec_keys SET ds_missing_since = ?3, "
               "ds_notified_at = CASE WHEN ?3 = 0 THEN 0 ELSE ?4 END WHERE "
               "zone = ?1 AND tag = ?2",
               "tiii", zone, (int64_t)tag, missing_since, notified_at);
    if (r == 0 && sqlite3_changes(ks_db(s)) == 0)
        r = kw_diag_set(d, KW_ENOTFOUND,
                        "no key with tag %u in zone %s in the inventory",
                        tag, zone);
    return r;
}
