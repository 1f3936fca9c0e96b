#include "ks_endpoint.h"

#include "ks_store_int.h"
#include "ks_events.h"

#include "../common/kw_str.h"
#include "../common/kw_json.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(ks_store *s, kw_diag *d, const char *what)
{
    return ks_db_error(s, d, what);
}

static char *sans_json(const ks_cert *c)
{
    json_t *a = json_array();
    char *out;
    size_t i;

    for (i = 0; i < c->nsans; i++)
        json_array_append_new(a, kw_json_str(c->sans[i]));
    out = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return out;
}

static int add_event(ks_store *s, int64_t now, int64_t object_id,
                     const char *type, const ks_probe_obs *o,
                     const char *extra, kw_diag *d)
{
    sqlite3_stmt *st = NULL;
    json_t *js = json_pack("{s:o, s:o, s:i, s:o, s:o}", "endpoint",
                           kw_json_str(o->name), "host", kw_json_str(o->host),
                           "port", o->port, "error",
                           kw_json_str(o->ok ? NULL : o->error), "detail",
                           kw_json_str(extra));
    char *text = js != NULL ? json_dumps(js, JSON_COMPACT | JSON_SORT_KEYS)
                            : NULL;
    int r = 0;

    json_decref(js);
    if ((r = ks_event_type_check(type, d)) != 0) {
        free(text);
        return r;
    }
    if (text == NULL)
        return kw_diag_set(d, KW_ENOMEM,
                           "out of memory writing the %s event of %s", type,
                           o->name);
    if (sqlite3_prepare_v2(ks_db(s),
                           "INSERT INTO events (at, object_id, type, detail) "
                           "VALUES (?1, ?2, ?3, ?4)",
                           -1, &st, NULL) != SQLITE_OK)
        r = fail(s, d, "recording a probe event");
    else {
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_int64(st, 2, object_id);
        sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, text, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            r = fail(s, d, "recording a probe event");
    }
    sqlite3_finalize(st);
    free(text);
    return r;
}

/* The newest certificate on disk with the served leaf's names. */
static int find_newer(ks_store *s, const ks_cert *leaf, const char *nkey,
                      int64_t *id, char *source, size_t len, kw_diag *d)
{
    sqlite3_stmt *st = NULL;
    char fp[65];
    int r = 0;

    *id = 0;
    kw_hex(leaf->fingerprint, 32, 0, fp);
    if (sqlite3_prepare_v2(ks_db(s),
                           "SELECT id, not_after, fingerprint, source FROM "
                           "objects WHERE names_key = ?1 AND file_id IS NOT "
                           "NULL AND state = 'ok' ORDER BY not_after DESC "
                           "LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, d, "looking for the certificate on disk");
    sqlite3_bind_text(st, 1, nkey, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *f = (const char *)sqlite3_column_text(st, 2);
        if (sqlite3_column_int64(st, 1) > leaf->not_after && f != NULL &&
            strcmp(f, fp) != 0) {
            *id = sqlite3_column_int64(st, 0);
            snprintf(source, len, "%s", sqlite3_column_text(st, 3));
        }
    }
    sqlite3_finalize(st);
    return r;
}

static int write_chain(ks_store *s, int64_t object_id, const ks_cert *chain,
                       size_t n, kw_diag *d)
{
    sqlite3_stmt *del = NULL, *ins = NULL;
    size_t i;
    int r = 0;

    if (sqlite3_prepare_v2(ks_db(s),
                           "DELETE FROM chain_elements WHERE object_id = ?1",
                           -1, &del, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(ks_db(s),
                           "INSERT INTO chain_elements (object_id, position,"
                           " subject, issuer, serial, not_before, not_after,"
                           " fingerprint, key_type, key_bits, is_ca, "
                           "self_signed, sans) VALUES (?1, ?2, ?3, ?4, ?5, "
                           "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                           -1, &ins, NULL) != SQLITE_OK) {
        r = fail(s, d, "writing the served chain");
        goto out;
    }
    sqlite3_bind_int64(del, 1, object_id);
    if (sqlite3_step(del) != SQLITE_DONE) {
        r = fail(s, d, "writing the served chain");
        goto out;
    }
    for (i = 1; i < n && r == 0; i++) {
        char fp[65], *sj = sans_json(&chain[i]);

        kw_hex(chain[i].fingerprint, 32, 0, fp);
        sqlite3_reset(ins);
        sqlite3_bind_int64(ins, 1, object_id);
        sqlite3_bind_int(ins, 2, (int)i);
        sqlite3_bind_text(ins, 3, chain[i].subject, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 4, chain[i].issuer, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 5, chain[i].serial, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 6, chain[i].not_before);
        sqlite3_bind_int64(ins, 7, chain[i].not_after);
        sqlite3_bind_text(ins, 8, fp, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 9, chain[i].key_type, -1, SQLITE_STATIC);
        sqlite3_bind_int(ins, 10, chain[i].key_bits);
        sqlite3_bind_int(ins, 11, chain[i].is_ca);
        sqlite3_bind_int(ins, 12, chain[i].self_signed);
        sqlite3_bind_text(ins, 13, sj != NULL ? sj : "[]", -1,
                          SQLITE_TRANSIENT);
        free(sj);
        if (sqlite3_step(ins) != SQLITE_DONE)
            r = fail(s, d, "writing the served chain");
    }
out:
    sqlite3_finalize(del);
    sqlite3_finalize(ins);
    return r;
}

int ks_endpoint_record(ks_store *s, const ks_probe_obs *o, int64_t now,
                       int64_t *object_id, int64_t *stale_of, kw_diag *d)
{
    sqlite3_stmt *st = NULL;
    int64_t ep_id = 0, obj = 0, old_stale = 0;
    int old_ok = -1, r, have_chain = o->ok && o->nchain > 0;
    char source[600], newer_source[1024], fp[65];
    char *sj = NULL, *nkey = NULL;
    const ks_cert *leaf = have_chain ? &o->chain[0] : NULL;

    *object_id = 0;
    *stale_of = 0;
    newer_source[0] = '\0';
    snprintf(source, sizeof(source), "%s://%s%s%s:%d",
             strcmp(o->starttls, "none") == 0 ? "tls" : o->starttls,
             strchr(o->host, ':') ? "[" : "", o->host,
             strchr(o->host, ':') ? "]" : "", o->port);
    if ((r = ks_begin(s, d)) != 0)
        return r;

    if (sqlite3_prepare_v2(ks_db(s),
                           "SELECT id, object_id, ok, stale_of FROM "
                           "endpoints WHERE name = ?1",
                           -1, &st, NULL) != SQLITE_OK) {
        r = fail(s, d, "reading an endpoint");
        goto out;
    }
    sqlite3_bind_text(st, 1, o->name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        ep_id = sqlite3_column_int64(st, 0);
        obj = sqlite3_column_int64(st, 1);
        old_ok = sqlite3_column_type(st, 2) == SQLITE_NULL
                     ? -1
                     : sqlite3_column_int(st, 2);
        old_stale = sqlite3_column_int64(st, 3);
    }
    sqlite3_finalize(st);
    st = NULL;

    if (have_chain) {
        size_t i;
        int64_t deadline = leaf->not_after, weak_after = 0;
        int weak = -1;

        nkey = ks_cert_names_key(leaf);
        sj = sans_json(leaf);
        if (nkey == NULL || sj == NULL) {
            r = kw_diag_set(d, KW_ENOMEM, "out of memory");
            goto out;
        }
        if ((r = find_newer(s, leaf, nkey, stale_of, newer_source,
                            sizeof(newer_source), d)) != 0)
            goto out;
        for (i = 1; i < o->nchain; i++) {
            if (o->chain[i].not_after < deadline)
                deadline = o->chain[i].not_after;
            if (o->chain[i].not_after < leaf->not_after &&
                (weak < 0 || o->chain[i].not_after < weak_after)) {
                weak = (int)i;
                weak_after = o->chain[i].not_after;
            }
        }
        kw_hex(leaf->fingerprint, 32, 0, fp);
        if (sqlite3_prepare_v2(
                ks_db(s),
                obj > 0
                    ? "UPDATE objects SET name = ?2, source = ?3, state = "
                      "'ok', error = NULL, not_before = ?4, not_after = ?5,"
                      " deadline = ?6, subject = ?7, issuer = ?8, serial = "
                      "?9, fingerprint = ?10, spki_hash = ?11, key_type = "
                      "?12, key_bits = ?13, is_ca = ?14, self_signed = ?15,"
                      " sans = ?16, chain_len = ?17, weak_position = ?18, "
                      "weak_name = ?19, weak_not_after = ?20, names_key = "
                      "?21, top_issuer = ?22, updated_at = ?23 WHERE id = "
                      "?1"
                    : "INSERT INTO objects (kind, name, source, state, "
                      "not_before, not_after, deadline, subject, issuer, "
                      "serial, fingerprint, spki_hash, key_type, key_bits, "
                      "is_ca, self_signed, sans, chain_len, weak_position, "
                      "weak_name, weak_not_after, names_key, top_issuer, "
                      "arrangement, role, created_at, updated_at) VALUES "
                      "('tls', ?2, ?3, 'ok', ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                      "?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, "
                      "?21, ?22, 'endpoint', 'leaf', ?23, ?23)",
                -1, &st, NULL) != SQLITE_OK) {
            r = fail(s, d, "writing an endpoint object");
            goto out;
        }
        if (obj > 0)
            sqlite3_bind_int64(st, 1, obj);
        sqlite3_bind_text(st, 2, ks_cert_name(leaf), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, source, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, leaf->not_before);
        sqlite3_bind_int64(st, 5, leaf->not_after);
        sqlite3_bind_int64(st, 6, deadline);
        sqlite3_bind_text(st, 7, leaf->subject, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 8, leaf->issuer, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 9, leaf->serial, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 10, fp, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 11, leaf->spki_hash, 32, SQLITE_STATIC);
        sqlite3_bind_text(st, 12, leaf->key_type, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 13, leaf->key_bits);
        sqlite3_bind_int(st, 14, leaf->is_ca);
        sqlite3_bind_int(st, 15, leaf->self_signed);
        sqlite3_bind_text(st, 16, sj, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 17, (int)o->nchain);
        if (weak > 0) {
            sqlite3_bind_int(st, 18, weak);
            sqlite3_bind_text(st, 19, ks_cert_name(&o->chain[weak]), -1,
                              SQLITE_STATIC);
            sqlite3_bind_int64(st, 20, weak_after);
        }
        sqlite3_bind_text(st, 21, nkey, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 22, o->chain[o->nchain - 1].issuer, -1,
                          SQLITE_STATIC);
        sqlite3_bind_int64(st, 23, now);
        if (sqlite3_step(st) != SQLITE_DONE) {
            r = fail(s, d, "writing an endpoint object");
            goto out;
        }
        if (obj == 0)
            obj = sqlite3_last_insert_rowid(ks_db(s));
        sqlite3_finalize(st);
        st = NULL;
        if ((r = write_chain(s, obj, o->chain, o->nchain, d)) != 0)
            goto out;
    } else if (obj == 0) {
        /* Never reached: an object without a certificate, whose health
         * is the probe's error. */
        if (sqlite3_prepare_v2(ks_db(s),
                               "INSERT INTO objects (kind, name, source, "
                               "state, arrangement, created_at, updated_at)"
                               " VALUES ('tls', ?1, ?2, 'ok', 'endpoint', "
                               "?3, ?3)",
                               -1, &st, NULL) != SQLITE_OK) {
            r = fail(s, d, "writing an endpoint object");
            goto out;
        }
        sqlite3_bind_text(st, 1, o->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, source, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, now);
        if (sqlite3_step(st) != SQLITE_DONE) {
            r = fail(s, d, "writing an endpoint object");
            goto out;
        }
        obj = sqlite3_last_insert_rowid(ks_db(s));
        sqlite3_finalize(st);
        st = NULL;
    } else {
        /* A failed probe keeps what was served last; the failure is the
         * finding. */
        *stale_of = old_stale;
    }

    if (sqlite3_prepare_v2(
            ks_db(s),
            ep_id > 0
                ? "UPDATE endpoints SET host = ?2, port = ?3, sni = ?4, "
                  "starttls = ?5, origin = ?6, probed_at = ?7, ok = ?8, "
                  "error = ?9, tls_version = coalesce(?10, tls_version), "
                  "stale_of = ?11, name_matches = coalesce(?12, "
                  "name_matches), updated_at = ?7 WHERE id = ?1"
                : "INSERT INTO endpoints (object_id, name, host, port, sni, "
                  "starttls, origin, probed_at, ok, error, tls_version, "
                  "stale_of, name_matches, created_at, updated_at) VALUES "
                  "(?13, ?14, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
                  "?7, ?7)",
            -1, &st, NULL) != SQLITE_OK) {
        r = fail(s, d, "writing an endpoint");
        goto out;
    }
    if (ep_id > 0)
        sqlite3_bind_int64(st, 1, ep_id);
    sqlite3_bind_text(st, 2, o->host, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, o->port);
    if (o->sni != NULL)
        sqlite3_bind_text(st, 4, o->sni, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, o->starttls, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, o->origin != NULL ? o->origin : "config", -1,
                      SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, now);
    sqlite3_bind_int(st, 8, o->ok);
    if (!o->ok && o->error != NULL)
        sqlite3_bind_text(st, 9, o->error, -1, SQLITE_STATIC);
    if (o->ok && o->tls_version != NULL)
        sqlite3_bind_text(st, 10, o->tls_version, -1, SQLITE_STATIC);
    if (*stale_of > 0)
        sqlite3_bind_int64(st, 11, *stale_of);
    if (o->ok)
        sqlite3_bind_int(st, 12, o->name_matches);
    if (ep_id == 0) {
        sqlite3_bind_int64(st, 13, obj);
        sqlite3_bind_text(st, 14, o->name, -1, SQLITE_STATIC);
    }
    if (sqlite3_step(st) != SQLITE_DONE) {
        r = fail(s, d, "writing an endpoint");
        goto out;
    }

    /* Events mark changes of outcome, not every probe. */
    if (!o->ok && old_ok != 0)
        r = add_event(s, now, obj, "probe.failed", o, NULL, d);
    else if (o->ok && old_ok == 0)
        r = add_event(s, now, obj, "probe.recovered", o, NULL, d);
    if (r == 0 && *stale_of > 0 && old_stale != *stale_of)
        r = add_event(s, now, obj, "probe.stale", o, newer_source, d);
    else if (r == 0 && o->ok && *stale_of == 0 && old_stale > 0)
        r = add_event(s, now, obj, "probe.fresh", o, NULL, d);
    if (r == 0)
        r = ks_commit(s, d);
    *object_id = obj;
out:
    sqlite3_finalize(st);
    free(sj);
    free(nkey);
    if (r != 0)
        ks_rollback(s);
    return r;
}

int ks_endpoint_prune(ks_store *s, const char *const *keep, size_t nkeep,
                      kw_diag *d)
{
    return ks_endpoint_prune_origin(s, "config", keep, nkeep, d);
}

int ks_endpoint_prune_origin(ks_store *s, const char *origin,
                             const char *const *keep, size_t nkeep,
                             kw_diag *d)
{
    sqlite3_stmt *q = NULL, *del = NULL;
    size_t i;
    int r = 0;

    if (sqlite3_prepare_v2(ks_db(s),
                           "SELECT name, object_id FROM endpoints WHERE "
                           "origin = ?1",
                           -1, &q, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(ks_db(s), "DELETE FROM objects WHERE id = ?1", -1,
                           &del, NULL) != SQLITE_OK) {
        r = fail(s, d, "pruning endpoints");
        goto out;
    }
    sqlite3_bind_text(q, 1, origin, -1, SQLITE_STATIC);
    while (r == 0 && sqlite3_step(q) == SQLITE_ROW) {
        const char *n = (const char *)sqlite3_column_text(q, 0);
        int found = 0;

        for (i = 0; i < nkeep && !found; i++)
            found = strcmp(keep[i], n) == 0;
        if (found)
            continue;
        sqlite3_reset(del);
        sqlite3_bind_int64(del, 1, sqlite3_column_int64(q, 1));
        if (sqlite3_step(del) != SQLITE_DONE)
            r = fail(s, d, "pruning endpoints");
    }
out:
    sqlite3_finalize(q);
    sqlite3_finalize(del);
    return r;
}

int ks_endpoint_recheck(ks_store *s, int64_t now, size_t *nstale, kw_diag *d)
{
    sqlite3_stmt *q = NULL, *newer = NULL, *u = NULL, *ev = NULL;
    int r;

    *nstale = 0;
    if ((r = ks_begin(s, d)) != 0)
        return r;
    if (sqlite3_prepare_v2(
            ks_db(s),
            "SELECT e.id, e.object_id, e.stale_of, o.names_key, o.not_after, "
            "o.fingerprint, e.name FROM endpoints e JOIN objects o ON o.id "
            "= e.object_id WHERE e.ok = 1 AND o.names_key IS NOT NULL",
            -1, &q, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(ks_db(s),
                           "SELECT id, not_after, fingerprint, source FROM "
                           "objects WHERE names_key = ?1 AND file_id IS NOT "
                           "NULL AND state = 'ok' ORDER BY not_after DESC "
                           "LIMIT 1",
                           -1, &newer, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(ks_db(s),
                           "UPDATE endpoints SET stale_of = ?2 WHERE id = ?1",
                           -1, &u, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(ks_db(s),
                           "INSERT INTO events (at, object_id, type, detail) "
                           "VALUES (?1, ?2, ?3, json_object('endpoint', ?4, "
                           "'detail', ?5))",
                           -1, &ev, NULL) != SQLITE_OK) {
        r = fail(s, d, "rechecking endpoints");
        goto out;
    }
    while (r == 0 && sqlite3_step(q) == SQLITE_ROW) {
        int64_t old = sqlite3_column_int64(q, 2), now_stale = 0;
        const char *fp = (const char *)sqlite3_column_text(q, 5), *type;
        char source[1024];

        source[0] = '\0';
        sqlite3_reset(newer);
        sqlite3_bind_text(newer, 1, (const char *)sqlite3_column_text(q, 3),
                          -1, SQLITE_TRANSIENT);
        if (sqlite3_step(newer) == SQLITE_ROW &&
            sqlite3_column_int64(newer, 1) > sqlite3_column_int64(q, 4) &&
            fp != NULL && sqlite3_column_text(newer, 2) != NULL &&
            strcmp(fp, (const char *)sqlite3_column_text(newer, 2)) != 0) {
            now_stale = sqlite3_column_int64(newer, 0);
            snprintf(source, sizeof(source), "%s",
                     sqlite3_column_text(newer, 3));
        }
        if (now_stale > 0)
            (*nstale)++;
        if (now_stale == old)
            continue;
        sqlite3_reset(u);
        sqlite3_bind_int64(u, 1, sqlite3_column_int64(q, 0));
        if (now_stale > 0)
            sqlite3_bind_int64(u, 2, now_stale);
        else
            sqlite3_bind_null(u, 2);
        if (sqlite3_step(u) != SQLITE_DONE) {
            r = fail(s, d, "rechecking endpoints");
            break;
        }
        type = now_stale > 0 ? "probe.stale" : "probe.fresh";
        if ((r = ks_event_type_check(type, d)) != 0)
            break;
        sqlite3_reset(ev);
        sqlite3_bind_int64(ev, 1, now);
        sqlite3_bind_int64(ev, 2, sqlite3_column_int64(q, 1));
        sqlite3_bind_text(ev, 3, type, -1, SQLITE_STATIC);
        sqlite3_bind_text(ev, 4, (const char *)sqlite3_column_text(q, 6), -1,
                          SQLITE_TRANSIENT);
        if (now_stale > 0)
            sqlite3_bind_text(ev, 5, source, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(ev) != SQLITE_DONE)
            r = fail(s, d, "rechecking endpoints");
    }
    if (r == 0)
        r = ks_commit(s, d);
out:
    sqlite3_finalize(q);
    sqlite3_finalize(newer);
    sqlite3_finalize(u);
    sqlite3_finalize(ev);
    if (r != 0)
        ks_rollback(s);
    return r;
}

int ks_endpoint_sans_each(ks_store *s, const char *name,
                          int (*cb)(void *ctx, const char *sans), void *ctx,
                          kw_diag *d)
{
    sqlite3_stmt *q = NULL;

    if (sqlite3_prepare_v2(ks_db(s),
                           "SELECT o.sans FROM endpoints e JOIN objects o "
                           "ON o.id = e.object_id WHERE e.name = ?1",
                           -1, &q, NULL) != SQLITE_OK)
        return ks_db_error(s, d, "reading endpoints");
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    while (sqlite3_step(q) == SQLITE_ROW)
        if (cb(ctx, (const char *)sqlite3_column_text(q, 0)) != 0)
            break;
    sqlite3_finalize(q);
    return 0;
}
