#include "ks_inventory.h"

#include "ks_store_int.h"

#include "../common/kw_json.h"
#include "../common/kw_str.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OBJECT_COLUMNS                                                     \
    "id, kind, name, source, position, managed, sans, fingerprint, "       \
    "subject, issuer, serial, key_type, key_bits, chain_len, self_signed, " \
    "created_at, state, error, updated_at, not_before, not_after, "        \
    "deadline, is_ca, weak_name, weak_not_after, arrangement, key_state, " \
    "key_path, key_mode, superseded_by, idle_anchor, "                     \
    ENDPOINT_FACTS ", " USED_BY ", " DKIM_FACTS ", " DNSSEC_FACTS ", "     \
    CHECKED_FACTS

/* An endpoint's probe outcome, as one JSON array (NULL for objects that
 * are not endpoints): a correlated lookup on a unique index, cheap even
 * when a million rows are listed. */
#define ENDPOINT_FACTS                                                     \
    "(SELECT json_array(ep.ok, ep.error, ep.tls_version, ep.name_matches, " \
    "ep.host, ep.port, ep.starttls, ep.probed_at, so.source, so.not_after, " \
    CHECK_FOUND("ep.object_id") ") FROM endpoints ep LEFT JOIN objects so ON so.id = ep.stale_of WHERE "  \
    "ep.object_id = objects.id)"

/* The first daemon configuration that names the object's file (by its
 * path or a link to it), for objects whose state is not ok: the usages
 * table holds what discovery found, a few rows per daemon. */
#define USED_BY                                                            \
    "CASE WHEN state != 'ok' THEN (SELECT printf('%s: %s line %d (%s)', "   \
    "u.daemon, u.config, u.line, u.directive) FROM usages u WHERE u.path = " \
    "objects.source OR u.path IN (SELECT l.path FROM file_links l WHERE "   \
    "l.file_id = objects.file_id) ORDER BY u.daemon, u.config, u.line "     \
    "LIMIT 1) END"

/* A live check's findings and its last run (ks_check.h), as one JSON
 * array [findings, checked_at], for the kinds that are nothing but a
 * check's object (mta-sts: a mail domain); NULL for other kinds. */
#define CHECK_FOUND(obj)                                                   \
    "(SELECT json_group_array(json_array(f.severity, f.checker, f.text, "   \
    "f.fix)) FROM check_findings f WHERE f.object_id = " obj "), "           \
    "(SELECT max(c.checked_at) FROM checks c WHERE c.object_id = " obj ")"
#define CHECKED_FACTS                                                      \
    "CASE WHEN kind = 'mta-sts' THEN json_array(" CHECK_FOUND("objects.id") \
    ") WHEN kind = 'tls' AND EXISTS (SELECT 1 FROM checks c WHERE "          \
    "c.object_id = objects.id) THEN json_array(" CHECK_FOUND("objects.id")  \
    ", 'file') END"

/* A DKIM selector's facts (ks_dkim.h) and its latest findings, as one
 * JSON array; NULL for other kinds. */
#define DKIM_FACTS                                                         \
    "CASE WHEN kind = 'dkim' THEN (SELECT json_array(k.role, k.signer, "   \
    "k.signer_user, k.signer_reads, k.algorithm, k.bits, k.key_time, "      \
    "k.max_age, (SELECT json_group_array(json_array(f.severity, f.text, "   \
    "f.fix, f.server)) FROM dkim_findings f WHERE f.object_id = "           \
    "k.object_id), k.domain, k.selector, k.first_seen, k.source, "          \
    "k.record) FROM "                                                       \
    "dkim_keys k WHERE k.object_id = objects.id) END"

/* A DNSSEC zone's or key's facts (ks_dnssec.h) and its zone's latest
 * check, with the findings (a key's: those that name its tag), as one
 * JSON array that read_dnssec takes apart; NULL for other kinds. */
#define DNSSEC_FOUND(where)                                                \
    "(SELECT json_group_array(json_array(f.severity, f.code, f.text, "     \
    "f.fix, f.server, f.record, f.tag)) FROM dnssec_findings f WHERE "     \
    where ")"
#define DNSSEC_FACTS                                                       \
    "CASE WHEN kind = 'dnssec' THEN coalesce((SELECT json_array(1, "       \
    "z.zone, z.signer, z.source, z.first_seen, z.checked_at, z.is_signed, " \
    "z.has_ds, z.next_expiry, " DNSSEC_FOUND("f.object_id = z.object_id")  \
    ") FROM dnssec_zones z WHERE z.object_id = objects.id), (SELECT "      \
    "json_array(2, k.zone, k.signer, k.source, k.first_seen, "             \
    "coalesce(z.checked_at, 0), coalesce(z.is_signed, 0), "                \
    "coalesce(z.has_ds, 0), coalesce(z.next_expiry, 0), "                  \
    DNSSEC_FOUND("f.object_id = z.object_id AND f.tag = k.tag")            \
    ", k.role, k.tag, k.dnskey, k.algorithm, k.bits, k.flags, k.created, " \
    "k.publish, k.activate, k.inactive, k.delete_at, k.sync_publish, "     \
    "k.sync_delete, k.ds_missing_since, k.ds_notified_at) FROM "           \
    "dnssec_keys k LEFT JOIN dnssec_zones z ON z.zone = k.zone WHERE "     \
    "k.object_id = objects.id)) END"

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static json_t *sub_array(json_t *a, size_t i);

/* The live checks' findings (CHECK_FOUND, at index at of a: ENDPOINT_FACTS'
 * 11th and 12th elements, CHECKED_FACTS' first two; ks_check.h). */
static void read_check_found(json_t *a, size_t at, ks_tls_facts *f)
{
    json_t *found;
    size_t i;

    f->check_at = json_integer_value(json_array_get(a, at + 1));
    if (json_array_size(a) < at + 2 || (found = sub_array(a, at)) == NULL)
        return;
    for (i = 0; i < json_array_size(found) && i < KS_MAX_FINDINGS; i++) {
        json_t *x = json_array_get(found, i);
        const char *sev = json_string_value(json_array_get(x, 0));
        int h = ks_health_parse(sev != NULL ? sev : "unknown");
        ks_check_found *c = &f->check_found[f->check_nfound++];

        c->health = h < 0 ? KS_HEALTH_UNKNOWN : (ks_health)h;
        c->checker = json_string_value(json_array_get(x, 1));
        c->text = json_string_value(json_array_get(x, 2));
        c->fix = json_string_value(json_array_get(x, 3));
    }
}

/* Fill o's endpoint facts from the JSON array of ENDPOINT_FACTS; the
 * strings live in *hold until the caller releases it. */
static void read_endpoint(const char *text, ks_object *o, json_t **hold)
{
    json_error_t err;
    json_t *a = json_loads(text, 0, &err);
    ks_tls_facts *f = &o->facts;

    if (a == NULL || !json_is_array(a) || json_array_size(a) < 10) {
        json_decref(a);
        return;
    }
    *hold = a;
    f->is_endpoint = 1;
    f->probe_ok = json_is_null(json_array_get(a, 0))
                      ? -1
                      : (int)json_integer_value(json_array_get(a, 0));
    f->probe_error = json_string_value(json_array_get(a, 1));
    f->tls_version = json_string_value(json_array_get(a, 2));
    f->name_matches = json_is_null(json_array_get(a, 3))
                          ? -1
                          : (int)json_integer_value(json_array_get(a, 3));
    f->endpoint_host = json_string_value(json_array_get(a, 4));
    f->endpoint_port = (int)json_integer_value(json_array_get(a, 5));
    f->probed_at = json_integer_value(json_array_get(a, 7));
    f->stale_source = json_string_value(json_array_get(a, 8));
    f->stale_not_after = json_integer_value(json_array_get(a, 9));
    read_check_found(a, 10, f);
}

/* Fill o's facts from CHECKED_FACTS (a mail domain's MTA-STS check, a
 * managed certificate's DANE rollover); the
 * strings live in *hold until the caller releases it. */
static void read_checked(const char *text, ks_object *o, json_t **hold)
{
    json_error_t err;
    json_t *a = json_loads(text, 0, &err);

    if (a == NULL || !json_is_array(a)) {
        json_decref(a);
        return;
    }
    *hold = a;
    /* A third element: a certificate file with checks of its own (a
     * managed certificate's DANE rollover), else a check's object. */
    o->facts.is_checked = json_array_size(a) < 3;
    read_check_found(a, 0, &o->facts);
}

/* A JSON array (or its text, where SQLite dropped the JSON subtype
 * across a subquery) at index i of a; the parsed text is appended to a,
 * which keeps it alive. */
static json_t *sub_array(json_t *a, size_t i)
{
    json_error_t err;
    json_t *x = json_array_get(a, i);

    if (json_is_string(x)) {
        x = json_loads(json_string_value(x), 0, &err);
        if (x == NULL)
            return NULL;
        json_array_append_new(a, x);
    }
    return json_is_array(x) ? x : NULL;
}

/* Fill o's DKIM facts from the JSON array of DKIM_FACTS; the strings
 * live in *hold until the caller releases it. */
static void read_dkim(const char *text, ks_object *o, json_t **hold)
{
    json_error_t err;
    json_t *a = json_loads(text, 0, &err), *found;
    ks_tls_facts *f = &o->facts;
    size_t i;

    if (a == NULL || !json_is_array(a) || json_array_size(a) < 14) {
        json_decref(a);
        return;
    }
    *hold = a;
    f->is_dkim = 1;
    f->dkim_domain = json_string_value(json_array_get(a, 9));
    f->dkim_selector = json_string_value(json_array_get(a, 10));
    f->dkim_first_seen = json_integer_value(json_array_get(a, 11));
    f->dkim_source = json_string_value(json_array_get(a, 12));
    f->dkim_record = json_string_value(json_array_get(a, 13));
    f->dkim_role = json_string_value(json_array_get(a, 0));
    f->dkim_signer = json_string_value(json_array_get(a, 1));
    f->dkim_user = json_string_value(json_array_get(a, 2));
    f->dkim_reads = (int)json_integer_value(json_array_get(a, 3));
    f->dkim_alg = json_string_value(json_array_get(a, 4));
    f->dkim_bits = (int)json_integer_value(json_array_get(a, 5));
    f->dkim_key_time = json_integer_value(json_array_get(a, 6));
    f->dkim_max_age = json_integer_value(json_array_get(a, 7));
    /* The findings arrive as an array, or as its text where SQLite drops
     * the JSON subtype across the subquery. */
    if ((found = sub_array(a, 8)) == NULL)
        return;
    for (i = 0; i < json_array_size(found) && i < KS_MAX_FINDINGS; i++) {
        json_t *x = json_array_get(found, i);
        int h = ks_health_parse(json_string_value(json_array_get(x, 0))
                                    ? json_string_value(json_array_get(x, 0))
                                    : "unknown");

        f->dkim_found[f->dkim_nfound].health =
            h < 0 ? KS_HEALTH_UNKNOWN : (ks_health)h;
        f->dkim_found[f->dkim_nfound].text =
            json_string_value(json_array_get(x, 1));
        f->dkim_found[f->dkim_nfound].fix =
            json_string_value(json_array_get(x, 2));
        f->dkim_found[f->dkim_nfound].server =
            json_string_value(json_array_get(x, 3));
        f->dkim_nfound++;
    }
}

/* Fill o's DNSSEC facts from the JSON array of DNSSEC_FACTS; the strings
 * live in *hold until the caller releases it. */
static void read_dnssec(const char *text, ks_object *o, json_t **hold)
{
    json_error_t err;
    json_t *a = json_loads(text, 0, &err), *found;
    ks_tls_facts *f = &o->facts;
    size_t i;

#define I(n) json_integer_value(json_array_get(a, (n)))
#define S(n) json_string_value(json_array_get(a, (n)))
    if (a == NULL || !json_is_array(a) || json_array_size(a) < 10) {
        json_decref(a);
        return;
    }
    *hold = a;
    f->is_dnssec = (int)I(0) == 2 && json_array_size(a) >= 25 ? 2 : 1;
    f->dnssec_zone = S(1);
    f->dnssec_signer = S(2);
    f->dnssec_source = S(3);
    f->dnssec_first_seen = I(4);
    f->dnssec_checked_at = I(5);
    f->dnssec_signed = (int)I(6);
    f->dnssec_has_ds = (int)I(7);
    f->dnssec_next_expiry = I(8);
    if (f->is_dnssec == 2) {
        f->dnssec_role = S(10);
        f->dnssec_tag = (unsigned)I(11);
        f->dnssec_dnskey = S(12);
        f->dnssec_alg = (int)I(13);
        f->dnssec_bits = (int)I(14);
        f->dnssec_flags = (int)I(15);
        f->dnssec_created = I(16);
        f->dnssec_timing.ksk = f->dnssec_role != NULL &&
                               strcmp(f->dnssec_role, "ZSK") != 0;
        f->dnssec_timing.publish = I(17);
        f->dnssec_timing.activate = I(18);
        f->dnssec_timing.inactive = I(19);
        f->dnssec_timing.delete_ = I(20);
        f->dnssec_timing.sync_publish = I(21);
        f->dnssec_sync_delete = I(22);
        f->dnssec_ds_missing_since = I(23);
        f->dnssec_ds_notified_at = I(24);
    }
#undef I
#undef S
    if ((found = sub_array(a, 9)) == NULL)
        return;
    for (i = 0; i < json_array_size(found) && i < KS_MAX_FINDINGS; i++) {
        json_t *x = json_array_get(found, i);
        ks_dnssec_found *d = &f->dnssec_found[f->dnssec_nfound++];
        const char *sev = json_string_value(json_array_get(x, 0));
        int h = ks_health_parse(sev != NULL ? sev : "unknown");

        d->health = h < 0 ? KS_HEALTH_UNKNOWN : (ks_health)h;
        d->code = json_string_value(json_array_get(x, 1));
        d->text = json_string_value(json_array_get(x, 2));
        d->fix = json_string_value(json_array_get(x, 3));
        d->server = json_string_value(json_array_get(x, 4));
        d->record = json_string_value(json_array_get(x, 5));
        d->tag = (unsigned)json_integer_value(json_array_get(x, 6));
    }
}

static void read_object(sqlite3_stmt *st, ks_object *o)
{
    memset(o, 0, sizeof(*o));
    o->id = sqlite3_column_int64(st, 0);
    o->kind = col_text(st, 1);
    o->name = col_text(st, 2);
    o->source = col_text(st, 3);
    o->position = sqlite3_column_int(st, 4);
    o->managed = sqlite3_column_int(st, 5);
    o->sans_json = col_text(st, 6);
    o->fingerprint = col_text(st, 7);
    o->subject = col_text(st, 8);
    o->issuer = col_text(st, 9);
    o->serial = col_text(st, 10);
    o->key_type = col_text(st, 11);
    o->key_bits = sqlite3_column_int(st, 12);
    o->chain_len = sqlite3_column_int(st, 13);
    o->self_signed = sqlite3_column_int(st, 14);
    o->created_at = sqlite3_column_int64(st, 15);
    o->facts.state = col_text(st, 16);
    o->facts.error = col_text(st, 17);
    o->facts.updated_at = sqlite3_column_int64(st, 18);
    o->facts.source = o->source;
    o->facts.has_validity = sqlite3_column_type(st, 20) != SQLITE_NULL;
    o->facts.not_before = sqlite3_column_int64(st, 19);
    o->facts.not_after = sqlite3_column_int64(st, 20);
    o->facts.deadline = sqlite3_column_int64(st, 21);
    o->facts.is_ca = sqlite3_column_int(st, 22);
    o->facts.weak_name = col_text(st, 23);
    o->facts.weak_not_after = sqlite3_column_int64(st, 24);
    o->facts.arrangement = col_text(st, 25);
    o->facts.key_state = col_text(st, 26);
    o->facts.key_path = col_text(st, 27);
    o->facts.key_mode = sqlite3_column_int(st, 28);
    o->facts.superseded_by = sqlite3_column_int64(st, 29);
    o->facts.idle_anchor = sqlite3_column_int(st, 30);
    o->facts.used_by = col_text(st, 32);
}

/* read_object plus the endpoint facts. */
static void read_full(sqlite3_stmt *st, ks_object *o, json_t **hold)
{
    read_object(st, o);
    if (sqlite3_column_type(st, 31) != SQLITE_NULL)
        read_endpoint(col_text(st, 31), o, hold);
    else if (sqlite3_column_type(st, 33) != SQLITE_NULL)
        read_dkim(col_text(st, 33), o, hold);
    else if (sqlite3_column_type(st, 34) != SQLITE_NULL)
        read_dnssec(col_text(st, 34), o, hold);
    else if (sqlite3_column_type(st, 35) != SQLITE_NULL)
        read_checked(col_text(st, 35), o, hold);
}

/* The last column: a live check of the object (a managed certificate's
 * DANE rollover) found something, so its full row is read. */
#define BRIEF_COLUMNS                                                      \
    "id, kind, name, deadline, state, not_before, not_after, "             \
    "weak_not_after, arrangement, key_state, key_mode, superseded_by, "    \
    "idle_anchor, (SELECT 1 FROM checks c WHERE c.object_id = objects.id " \
    "AND c.health != 'ok' LIMIT 1)"
#define BRIEF_NCOLUMNS 14

static void read_brief(sqlite3_stmt *st, ks_object *o)
{
    memset(o, 0, sizeof(*o));
    o->id = sqlite3_column_int64(st, 0);
    o->kind = col_text(st, 1);
    o->name = col_text(st, 2);
    o->facts.has_validity = sqlite3_column_type(st, 3) != SQLITE_NULL;
    o->facts.deadline = sqlite3_column_int64(st, 3);
    o->facts.state = col_text(st, 4);
    o->facts.not_before = sqlite3_column_int64(st, 5);
    o->facts.not_after = sqlite3_column_int64(st, 6);
    o->facts.weak_not_after = sqlite3_column_int64(st, 7);
    o->facts.arrangement = col_text(st, 8);
    o->facts.key_state = col_text(st, 9);
    o->facts.key_mode = sqlite3_column_int(st, 10);
    o->facts.superseded_by = sqlite3_column_int64(st, 11);
    o->facts.idle_anchor = sqlite3_column_int(st, 12);
    /* weak_name is the flag the health rules test; its words come with
     * the full row. */
    if (sqlite3_column_type(st, 7) != SQLITE_NULL)
        o->facts.weak_name = "";
    /* Only a flag here, for needs_detail: the full row has the time. */
    if (sqlite3_column_type(st, 13) != SQLITE_NULL)
        o->facts.check_at = -1;
}

/* by_leaf: the rows that hold one leaf, in one kind of file, with one
 * deadline, are one window partition (an endpoint, or a row without a
 * fingerprint, is a partition of its own); each row gets the lowest id
 * of its partition and the partition's size.  The rows are those the
 * listing's WHERE keeps, so the visibility filter applies to the other
 * files as it does to the row. */
#define LEAF_RUN_SQL                                                       \
    "SELECT id, min(id) OVER leaf, count(*) OVER leaf%s AND deadline = "  \
    "?%d WINDOW leaf AS (PARTITION BY kind, name, fingerprint, CASE WHEN " \
    "arrangement IS 'endpoint' OR fingerprint IS NULL THEN id END) "      \
    "ORDER BY id"

/* Rows with one deadline are adjacent in the listing's order, so only a
 * row whose deadline its neighbour shares (the previous row, or the next
 * one, read by a second cursor one row ahead) can share its leaf.  The
 * first such row reads its whole run of that deadline through
 * LEAF_RUN_SQL, once; the run's other rows find themselves in it.  A
 * listing of distinct deadlines costs one more index scan, a listing of
 * a few deadlines one small window query per deadline, never a query
 * per row. */
typedef struct leaf_run_row {
    int64_t id, first, n;
} leaf_run_row;

typedef struct leaf_scan {
    sqlite3_stmt *ahead, *run;
    int ahead_rc, has_prev, loaded, deadline_at;
    int64_t prev_deadline, run_deadline;
    leaf_run_row *v;
    size_t n, cap;
} leaf_scan;

/* Read the run of deadline into ls->v. */
static int leaf_load(leaf_scan *ls, int64_t deadline)
{
    int rc;

    ls->n = 0;
    ls->loaded = 0;
    sqlite3_reset(ls->run);
    sqlite3_bind_int64(ls->run, ls->deadline_at, deadline);
    while ((rc = sqlite3_step(ls->run)) == SQLITE_ROW) {
        if (ls->n == ls->cap) {
            size_t cap = ls->cap ? 2 * ls->cap : 64;
            leaf_run_row *nv = realloc(ls->v, cap * sizeof(*nv));

            if (nv == NULL)
                return KW_ENOMEM;
            ls->v = nv;
            ls->cap = cap;
        }
        ls->v[ls->n].id = sqlite3_column_int64(ls->run, 0);
        ls->v[ls->n].first = sqlite3_column_int64(ls->run, 1);
        ls->v[ls->n].n = sqlite3_column_int64(ls->run, 2);
        ls->n++;
    }
    sqlite3_reset(ls->run);
    if (rc != SQLITE_DONE)
        return -1;
    ls->loaded = 1;
    ls->run_deadline = deadline;
    return 0;
}

/* Is the row (id, deadline) a line of its own?  1 to skip it (a lower id
 * holds its leaf), 0 to show it, with *others set when higher ids hold
 * it; -1 on a database error, KW_ENOMEM. */
static int leaf_step(leaf_scan *ls, int64_t id, int64_t deadline,
                     int *others)
{
    size_t lo, hi;
    int in_run, r;

    *others = 0;
    if (ls->ahead_rc == SQLITE_ROW)
        ls->ahead_rc = sqlite3_step(ls->ahead);
    if (ls->ahead_rc != SQLITE_ROW && ls->ahead_rc != SQLITE_DONE)
        return -1;
    in_run = (ls->has_prev && ls->prev_deadline == deadline) ||
             (ls->ahead_rc == SQLITE_ROW &&
              sqlite3_column_int64(ls->ahead, 0) == deadline);
    ls->has_prev = 1;
    ls->prev_deadline = deadline;
    if (!in_run)
        return 0;
    if ((!ls->loaded || ls->run_deadline != deadline) &&
        (r = leaf_load(ls, deadline)) != 0)
        return r;
    /* The run is in id order: a binary search. */
    lo = 0;
    hi = ls->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (ls->v[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == ls->n || ls->v[lo].id != id)
        return 0; /* changed since the listing began: a line of its own */
    *others = ls->v[lo].n > 1;
    return ls->v[lo].first < id;
}

/* Does a brief row need its full record to be described? */
static int needs_detail(const ks_object *o, const ks_filter *f)
{
    const ks_tls_facts *t = &o->facts;

    return (o->kind != NULL && (strcmp(o->kind, "dkim") == 0 ||
                                strcmp(o->kind, "dnssec") == 0 ||
                                strcmp(o->kind, "mta-sts") == 0)) ||
           (t->state != NULL && strcmp(t->state, "ok") != 0) ||
           t->weak_name != NULL || t->check_at != 0 ||
           (t->arrangement != NULL && strcmp(t->arrangement, "endpoint") == 0) ||
           (t->key_state != NULL &&
            (strcmp(t->key_state, "match") != 0 || (t->key_mode & 04))) ||
           (f->detail_before != 0 && t->has_validity &&
            t->deadline <= f->detail_before);
}

static void bind_filter(sqlite3_stmt *st, const ks_filter *f,
                        int unknown_pass)
{
    int idx = 1;

    if (f->kind != NULL)
        sqlite3_bind_text(st, idx++, f->kind, -1, SQLITE_STATIC);
    if (f->has_before && !unknown_pass)
        sqlite3_bind_int64(st, idx++, f->before);
    if (f->id > 0)
        sqlite3_bind_int64(st, idx++, f->id);
}

/* One pass of ks_inventory_each over objects whose deadline is unknown
 * (unknown_pass) or known.  Two passes instead of "deadline <= ? OR
 * deadline IS NULL", which SQLite can only answer by scanning the whole
 * index: a million-row inventory would be read in full for 30 days. */
static int each_pass(ks_store *s, const ks_filter *f, int unknown_pass,
                     int (*cb)(void *ctx, const ks_object *o), void *ctx,
                     int *stop, kw_diag *d)
{
    char where[1024], sql[4096];
    size_t pos = 0;
    sqlite3_stmt *st = NULL, *full = NULL;
    leaf_scan ls;
    ks_object o;
    int rc, r = 0, idx = 1, bad = 0;

    memset(&ls, 0, sizeof(ls));
    bad |= kw_str_appendf(where, sizeof(where), &pos, " FROM objects WHERE %s",
                          unknown_pass ? "deadline IS NULL"
                                       : "deadline IS NOT NULL");
    if (f->kind != NULL)
        bad |= kw_str_appendf(where, sizeof(where), &pos, " AND kind = ?%d",
                              idx++);
    if (f->has_before && !unknown_pass)
        bad |= kw_str_appendf(where, sizeof(where), &pos,
                              " AND deadline <= ?%d", idx++);
    if (!f->include_hidden)
        bad |= kw_str_appendf(where, sizeof(where), &pos,
                              " AND superseded_by IS NULL AND "
                              "idle_anchor = 0");
    if (f->id > 0)
        bad |= kw_str_appendf(where, sizeof(where), &pos, " AND id = ?%d",
                              idx++);
    pos = 0;
    /* (deadline, id) is the index order: no sorting. */
    bad |= kw_str_appendf(sql, sizeof(sql), &pos,
                          "SELECT %s%s ORDER BY deadline, id",
                          f->brief ? BRIEF_COLUMNS : OBJECT_COLUMNS, where);
    if (bad != 0)
        return kw_diag_set(d, KW_EINVAL,
                           "internal error: the listing query does not fit "
                           "in %zu bytes",
                           sizeof(sql));

    if (sqlite3_prepare_v2(ks_db(s), sql, -1, &st, NULL) != SQLITE_OK)
        return ks_db_error(s, d, "querying objects");
    if (f->brief &&
        sqlite3_prepare_v2(ks_db(s),
                           "SELECT " OBJECT_COLUMNS " FROM objects WHERE "
                           "id = ?1",
                           -1, &full, NULL) != SQLITE_OK) {
        r = ks_db_error(s, d, "querying objects");
        goto out;
    }
    /* Unknown deadlines are never one line: nothing to look ahead for. */
    if (f->by_leaf && !unknown_pass) {
        pos = 0;
        /* The same rows in the same order of deadlines; the order among
         * equal deadlines does not matter here, and leaving it out spares
         * SQLite a sort of each run of them. */
        (void)kw_str_appendf(sql, sizeof(sql), &pos,
                             "SELECT deadline%s ORDER BY deadline", where);
        if (sqlite3_prepare_v2(ks_db(s), sql, -1, &ls.ahead, NULL) !=
            SQLITE_OK) {
            r = ks_db_error(s, d, "querying objects");
            goto out;
        }
        pos = 0;
        ls.deadline_at = idx;
        if (kw_str_appendf(sql, sizeof(sql), &pos, LEAF_RUN_SQL, where,
                           idx) != 0 ||
            sqlite3_prepare_v2(ks_db(s), sql, -1, &ls.run, NULL) !=
                SQLITE_OK) {
            r = ks_db_error(s, d, "querying objects");
            goto out;
        }
        bind_filter(ls.ahead, f, unknown_pass);
        bind_filter(ls.run, f, unknown_pass);
        ls.ahead_rc = sqlite3_step(ls.ahead); /* the first row */
    }
    bind_filter(st, f, unknown_pass);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *hold = NULL;
        int stopped, others = 0;

        if (ls.ahead != NULL) {
            int skip = leaf_step(&ls, sqlite3_column_int64(st, 0),
                                 sqlite3_column_int64(st, f->brief ? 3 : 21),
                                 &others);

            if (skip == KW_ENOMEM) {
                r = kw_diag_set(d, KW_ENOMEM, "out of memory");
                break;
            }
            if (skip < 0) {
                r = ks_db_error(s, d, "reading objects");
                break;
            }
            if (skip)
                continue;
        }
        if (!f->brief) {
            read_full(st, &o, &hold);
        } else {
            read_brief(st, &o);
            if (needs_detail(&o, f)) {
                sqlite3_bind_int64(full, 1, o.id);
                if (sqlite3_step(full) != SQLITE_ROW) {
                    r = ks_db_error(s, d, "reading an object");
                    break;
                }
                read_full(full, &o, &hold);
            }
        }
        o.other_files = others;
        stopped = cb(ctx, &o) != 0;
        json_decref(hold);
        if (full != NULL)
            sqlite3_reset(full);
        if (stopped) {
            *stop = 1;
            break;
        }
    }
    if (r == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = ks_db_error(s, d, "reading objects");
out:
    sqlite3_finalize(st);
    sqlite3_finalize(full);
    sqlite3_finalize(ls.ahead);
    sqlite3_finalize(ls.run);
    free(ls.v);
    return r;
}

int ks_inventory_each(ks_store *s, const ks_filter *f,
                      int (*cb)(void *ctx, const ks_object *o), void *ctx,
                      kw_diag *d)
{
    int stop = 0, r;

    r = each_pass(s, f, 1, cb, ctx, &stop, d);
    if (r == 0 && !stop)
        r = each_pass(s, f, 0, cb, ctx, &stop, d);
    return r;
}

struct ks_leaf_files {
    ks_store *s;
    sqlite3_stmt *st;
};

int ks_leaf_files_open(ks_store *s, int include_hidden, ks_leaf_files **out,
                       kw_diag *d)
{
    ks_leaf_files *lf;
    /* The other files are found through the listing's index (deadline,
     * kind lead it): "id = ?1 OR ..." would read the whole table for
     * every call.  The statement is spliced by the preprocessor, not by
     * printf: the columns carry SQL printf formats of their own. */
#define SAME_LEAF_SQL(hidden)                                                 \
    "SELECT " OBJECT_COLUMNS " FROM objects WHERE id IN (SELECT ?1 UNION "    \
    "SELECT o.id FROM objects me, objects o WHERE me.id = ?1 AND "            \
    "me.arrangement IS NOT 'endpoint' AND o.deadline = me.deadline AND "      \
    "o.kind = me.kind AND o.name = me.name AND o.fingerprint = "              \
    "me.fingerprint AND o.arrangement IS NOT 'endpoint'" hidden ") ORDER "    \
    "BY id"
    const char *sql =
        include_hidden ? SAME_LEAF_SQL("")
                       : SAME_LEAF_SQL(" AND o.superseded_by IS NULL "
                                       "AND o.idle_anchor = 0");
#undef SAME_LEAF_SQL

    *out = NULL;
    if ((lf = calloc(1, sizeof(*lf))) == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    lf->s = s;
    if (sqlite3_prepare_v2(ks_db(s), sql, -1, &lf->st, NULL) != SQLITE_OK) {
        free(lf);
        return ks_db_error(s, d, "looking up the files of a certificate");
    }
    *out = lf;
    return 0;
}

int ks_leaf_files_each(ks_leaf_files *lf, int64_t id,
                       int (*cb)(void *ctx, const ks_object *o), void *ctx,
                       kw_diag *d)
{
    ks_object o;
    int rc, r = 0;

    sqlite3_reset(lf->st);
    sqlite3_bind_int64(lf->st, 1, id);
    while ((rc = sqlite3_step(lf->st)) == SQLITE_ROW) {
        json_t *hold = NULL;
        int stop;

        read_full(lf->st, &o, &hold);
        stop = cb(ctx, &o) != 0;
        json_decref(hold);
        if (stop)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = ks_db_error(lf->s, d, "looking up the files of a certificate");
    sqlite3_reset(lf->st);
    return r;
}

void ks_leaf_files_close(ks_leaf_files *lf)
{
    if (lf == NULL)
        return;
    sqlite3_finalize(lf->st);
    free(lf);
}

int ks_inventory_same_leaf(ks_store *s, int64_t id, int include_hidden,
                           int (*cb)(void *ctx, const ks_object *o),
                           void *ctx, kw_diag *d)
{
    ks_leaf_files *lf;
    int r;

    if ((r = ks_leaf_files_open(s, include_hidden, &lf, d)) != 0)
        return r;
    r = ks_leaf_files_each(lf, id, cb, ctx, d);
    ks_leaf_files_close(lf);
    return r;
}

int ks_inventory_source(ks_store *s, int64_t id, char *buf, size_t len,
                        kw_diag *d)
{
    sqlite3_stmt *st = NULL;
    int r = 0;

    buf[0] = '\0';
    if (sqlite3_prepare_v2(ks_db(s), "SELECT source FROM objects WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return ks_db_error(s, d, "reading an object");
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(buf, len, "%s", col_text(st, 0));
    else
        r = kw_diag_set(d, KW_ENOTFOUND, "no object with id %lld",
                        (long long)id);
    sqlite3_finalize(st);
    return r;
}

int ks_inventory_count(ks_store *s, int64_t *total, int64_t *hidden,
                       kw_diag *d)
{
    sqlite3_stmt *st = NULL;
    int r = 0;

    *total = *hidden = 0;
    if (sqlite3_prepare_v2(ks_db(s),
                           "SELECT (SELECT count(*) FROM objects), (SELECT "
                           "count(*) FROM objects WHERE superseded_by IS "
                           "NOT NULL OR idle_anchor != 0)",
                           -1, &st, NULL) != SQLITE_OK)
        return ks_db_error(s, d, "counting objects");
    if (sqlite3_step(st) == SQLITE_ROW) {
        *total = sqlite3_column_int64(st, 0);
        *hidden = sqlite3_column_int64(st, 1);
    } else {
        r = ks_db_error(s, d, "counting objects");
    }
    sqlite3_finalize(st);
    return r;
}

static int collect_ids(ks_store *s, const char *sql, const char *arg,
                       int64_t **ids, size_t *n, kw_diag *d)
{
    sqlite3_stmt *st = NULL;
    int64_t *v = NULL, *nv;
    int rc;

    if (sqlite3_prepare_v2(ks_db(s), sql, -1, &st, NULL) != SQLITE_OK)
        return ks_db_error(s, d, "looking up an object");
    sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        nv = realloc(v, (*n + 1) * sizeof(*v));
        if (nv == NULL) {
            free(v);
            sqlite3_finalize(st);
            return kw_diag_set(d, KW_ENOMEM, "out of memory");
        }
        v = nv;
        v[(*n)++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(v);
        *n = 0;
        return ks_db_error(s, d, "looking up an object");
    }
    *ids = v;
    return 0;
}

int ks_inventory_resolve(ks_store *s, const char *what, int64_t **ids,
                         size_t *n, kw_diag *d)
{
    static const char *const queries[] = {
        "SELECT id FROM objects WHERE id = CAST(?1 AS INTEGER) AND "
        "?1 GLOB '[0-9]*' AND ?1 NOT GLOB '*[^0-9]*'",
        "SELECT id FROM objects WHERE name = ?1 ORDER BY (superseded_by IS "
        "NOT NULL OR idle_anchor != 0), deadline, id",
        "SELECT id FROM objects WHERE source = ?1 ORDER BY position, id",
        "SELECT o.id FROM objects o JOIN file_links l ON l.file_id = "
        "o.file_id WHERE l.path = ?1 ORDER BY o.position",
        "SELECT DISTINCT o.id FROM objects o, json_each(o.sans) j WHERE "
        "j.value = ?1 COLLATE NOCASE ORDER BY o.deadline, o.id",
    };
    size_t i;
    int r;

    *ids = NULL;
    *n = 0;
    for (i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        if ((r = collect_ids(s, queries[i], what, ids, n, d)) != 0)
            return r;
        if (*n > 0)
            return 0;
    }
    return kw_diag_set(d, KW_ENOTFOUND,
                       "no object with id, name, path or SAN \"%s\"", what);
}

int ks_inventory_elements(ks_store *s, int64_t id,
                          int (*cb)(void *ctx, const ks_element *e),
                          void *ctx, kw_diag *d)
{
    sqlite3_stmt *st = NULL;
    ks_element e;
    int rc, r = 0;

    if (sqlite3_prepare_v2(ks_db(s),
                           "SELECT position, subject, issuer, serial, "
                           "fingerprint, key_type, sans, key_bits, is_ca, "
                           "self_signed, not_before, not_after FROM "
                           "chain_elements WHERE object_id = ?1 ORDER BY "
                           "position",
                           -1, &st, NULL) != SQLITE_OK)
        return ks_db_error(s, d, "reading chain elements");
    sqlite3_bind_int64(st, 1, id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        e.position = sqlite3_column_int(st, 0);
        e.subject = col_text(st, 1);
        e.issuer = col_text(st, 2);
        e.serial = col_text(st, 3);
        e.fingerprint = col_text(st, 4);
        e.key_type = col_text(st, 5);
        e.sans_json = col_text(st, 6);
        e.key_bits = sqlite3_column_int(st, 7);
        e.is_ca = sqlite3_column_int(st, 8);
        e.self_signed = sqlite3_column_int(st, 9);
        e.not_before = sqlite3_column_int64(st, 10);
        e.not_after = sqlite3_column_int64(st, 11);
        if (cb(ctx, &e) != 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = ks_db_error(s, d, "reading chain elements");
    sqlite3_finalize(st);
    return r;
}

int ks_inventory_events(ks_store *s, int64_t id, int limit,
                        int (*cb)(void *ctx, const ks_event *e), void *ctx,
                        kw_diag *d)
{
    sqlite3_stmt *st = NULL;
    ks_event e;
    int rc, r = 0;

    if (sqlite3_prepare_v2(ks_db(s),
                           "SELECT id, at, type, detail FROM (SELECT * FROM "
                           "events WHERE object_id = ?1 ORDER BY id DESC "
                           "LIMIT ?2) ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return ks_db_error(s, d, "reading history");
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, limit);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        e.id = sqlite3_column_int64(st, 0);
        e.at = sqlite3_column_int64(st, 1);
        e.type = col_text(st, 2);
        e.detail = col_text(st, 3);
        if (cb(ctx, &e) != 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = ks_db_error(s, d, "reading history");
    sqlite3_finalize(st);
    return r;
}

int ks_inventory_links(ks_store *s, int64_t id,
                       int (*cb)(void *ctx, const char *path), void *ctx,
                       kw_diag *d)
{
    sqlite3_stmt *st = NULL;
    int rc, r = 0;

    if (sqlite3_prepare_v2(ks_db(s),
                           "SELECT l.path FROM file_links l JOIN objects o "
                           "ON o.file_id = l.file_id WHERE o.id = ?1 ORDER "
                           "BY l.path",
                           -1, &st, NULL) != SQLITE_OK)
        return ks_db_error(s, d, "reading links");
    sqlite3_bind_int64(st, 1, id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (cb(ctx, col_text(st, 0)) != 0)
            break;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = ks_db_error(s, d, "reading links");
    sqlite3_finalize(st);
    return r;
}

int ks_inventory_forget(ks_store *s, int64_t id, int64_t now, kw_diag *d)
{
    sqlite3_stmt *st = NULL;
    int r;
    int64_t file_id = 0;
    char *name = NULL, *source = NULL;

    if ((r = ks_begin(s, d)) != 0)
        return r;
    if (sqlite3_prepare_v2(ks_db(s),
                           "SELECT file_id, name, source FROM objects "
                           "WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK) {
        r = ks_db_error(s, d, "forgetting an object");
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        r = kw_diag_set(d, KW_ENOTFOUND, "no object with id %lld",
                        (long long)id);
        goto out;
    }
    file_id = sqlite3_column_int64(st, 0);
    name = strdup(col_text(st, 1));
    source = strdup(col_text(st, 2));
    sqlite3_finalize(st);
    st = NULL;
    r = ks_event_add(s, now, id, "object.forgotten",
                     json_pack("{s:o, s:o}", "name", kw_json_str(name),
                               "source", kw_json_str(source)),
                     d);
    if (r != 0)
        goto out;
    {
        char sql[256];
        snprintf(sql, sizeof(sql),
                 "DELETE FROM objects WHERE id = %lld;"
                 "DELETE FROM files WHERE id = %lld AND NOT EXISTS (SELECT "
                 "1 FROM objects WHERE file_id = %lld)",
                 (long long)id, (long long)file_id, (long long)file_id);
        r = ks_exec(s, sql, d);
    }
    if (r == 0)
        r = ks_commit(s, d);
out:
    sqlite3_finalize(st);
    free(name);
    free(source);
    if (r != 0)
        ks_rollback(s);
    return r;
}

int ks_inventory_usages(ks_store *s, int64_t id,
                        int (*cb)(void *ctx, const ks_usage_row *u),
                        void *ctx, kw_diag *d)
{
    sqlite3_stmt *st = NULL;
    ks_usage_row u;
    int rc, r = 0;

    if (sqlite3_prepare_v2(
            ks_db(s),
            "SELECT path, daemon, config, directive, line, is_key FROM "
            "usages WHERE path = (SELECT source FROM objects WHERE id = ?1) "
            "OR path IN (SELECT l.path FROM file_links l JOIN objects o ON "
            "o.file_id = l.file_id WHERE o.id = ?1) ORDER BY daemon, "
            "config, line",
            -1, &st, NULL) != SQLITE_OK)
        return ks_db_error(s, d, "reading usages");
    sqlite3_bind_int64(st, 1, id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        u.path = col_text(st, 0);
        u.daemon = col_text(st, 1);
        u.config = col_text(st, 2);
        u.directive = col_text(st, 3);
        u.line = sqlite3_column_int(st, 4);
        u.is_key = sqlite3_column_int(st, 5);
        if (cb(ctx, &u) != 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = ks_db_error(s, d, "reading usages");
    sqlite3_finalize(st);
    return r;
}

/* An object that exists only because a daemon's configuration named a
 * file that was never there (its files row never saw a device or inode)
 * leaves when no configuration names it any more: the operator corrected
 * the line.  Recorded as object.removed. */
static int drop_unnamed_expected(ks_store *s, int64_t now, kw_diag *d)
{
    sqlite3_stmt *st = NULL;
    int64_t id, file_id;
    int rc, r;

    for (;;) {
        if (sqlite3_prepare_v2(ks_db(s),
                               "SELECT o.id, f.id, f.path FROM files f JOIN "
                               "objects o ON o.file_id = f.id WHERE f.dev = 0"
                               " AND f.ino = 0 AND NOT EXISTS (SELECT 1 FROM "
                               "usages u WHERE u.path = f.path) LIMIT 1",
                               -1, &st, NULL) != SQLITE_OK)
            return ks_db_error(s, d, "finding files no daemon names");
        if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
            sqlite3_finalize(st);
            return rc == SQLITE_DONE
                       ? 0
                       : ks_db_error(s, d, "finding files no daemon names");
        }
        id = sqlite3_column_int64(st, 0);
        file_id = sqlite3_column_int64(st, 1);
        r = ks_event_add(s, now, id, "object.removed",
                         json_pack("{s:o, s:s}", "path",
                                   kw_json_str(col_text(st, 2)), "reason",
                                   "no daemon's configuration names it any "
                                   "more"),
                         d);
        sqlite3_finalize(st);
        if (r == 0)
            r = ks_run(s, d, "dropping a file no daemon names",
                       "DELETE FROM objects WHERE id = ?1", "i", id);
        if (r == 0)
            r = ks_run(s, d, "dropping a file no daemon names",
                       "DELETE FROM files WHERE id = ?1", "i", file_id);
        if (r != 0)
            return r;
    }
}

int ks_usages_replace(ks_store *s, const ks_usage_row *rows, size_t n,
                      int64_t now, kw_diag *d)
{
    sqlite3_stmt *st = NULL;
    size_t i;
    int r;

    if ((r = ks_begin(s, d)) != 0)
        return r;
    if ((r = ks_exec(s, "DELETE FROM usages", d)) != 0)
        goto out;
    if (sqlite3_prepare_v2(ks_db(s),
                           "INSERT OR REPLACE INTO usages (path, daemon, "
                           "config, line, directive, is_key, seen_at) VALUES "
                           "(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                           -1, &st, NULL) != SQLITE_OK) {
        r = ks_db_error(s, d, "recording usages");
        goto out;
    }
    for (i = 0; i < n; i++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, rows[i].path, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, rows[i].daemon, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, rows[i].config, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, rows[i].line);
        sqlite3_bind_text(st, 5, rows[i].directive, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 6, rows[i].is_key);
        sqlite3_bind_int64(st, 7, now);
        if (sqlite3_step(st) != SQLITE_DONE) {
            r = ks_db_error(s, d, "recording usages");
            goto out;
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    if ((r = drop_unnamed_expected(s, now, d)) == 0)
        r = ks_commit(s, d);
out:
    sqlite3_finalize(st);
    if (r != 0)
        ks_rollback(s);
    return r;
}
