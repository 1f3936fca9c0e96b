#include "listing.h"

#include "config.h"
#include "job.h"

#include "../keystore/ks_jobs.h"

#include "../common/kw_json.h"
#include "../common/kw_log.h"
#include "../common/kw_str.h"
#include "../common/kw_time.h"

#include <idn2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longer than any DNS name: shown as it is, not converted. */
#define KW_DISPLAY_NAME_MAX 1024

char *kw_display_name(const char *name)
{
    char *u = NULL, *out;
    size_t skip = 0;

    if (name == NULL)
        return strdup("");
    if (strcasestr(name, "xn--") == NULL ||
        strlen(name) > KW_DISPLAY_NAME_MAX)
        return strdup(name);
    /* A wildcard's "*." is not a label IDNA accepts; convert the rest.
     * (A certificate may carry "*.*.*..." in a SAN: a loop, not
     * recursion, so no name can exhaust the stack.) */
    while (strncmp(name + skip, "*.", 2) == 0)
        skip += 2;
    if (idn2_to_unicode_8z8z(name + skip, &u, 0) != IDN2_OK || u == NULL) {
        free(u);
        return strdup(name); /* not valid IDNA: show it as it is */
    }
    if (skip == 0)
        return u;
    out = malloc(skip + strlen(u) + 1);
    if (out != NULL) {
        memcpy(out, name, skip);
        strcpy(out + skip, u);
    }
    free(u);
    return out;
}

static json_t *time_or_null(int has, int64_t t)
{
    char buf[32];

    if (!has)
        return json_null();
    kw_time_rfc3339(t, buf, sizeof(buf));
    return json_string(buf);
}

/* The "dnssec" member of a zone's or key's JSON. */
static json_t *dnssec_json(const ks_tls_facts *f, int64_t now)
{
    json_t *js, *found = json_array();
    size_t i;

    for (i = 0; i < f->dnssec_nfound; i++) {
        const ks_dnssec_found *x = &f->dnssec_found[i];

        json_array_append_new(
            found, json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:I}",
                             "health", ks_health_word(x->health), "code",
                             kw_json_str(x->code), "text",
                             kw_json_str(x->text), "fix",
                             kw_json_str(x->fix), "server",
                             kw_json_str(x->server), "record",
                             kw_json_str(x->record), "tag",
                             (json_int_t)x->tag));
    }
    js = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
                   "shape", f->is_dnssec == 2 ? "key" : "zone", "zone",
                   kw_json_str(f->dnssec_zone), "signer",
                   kw_json_str(f->dnssec_signer), "named_by",
                   kw_json_str(f->dnssec_source), "first_seen",
                   time_or_null(1, f->dnssec_first_seen), "checked_at",
                   time_or_null(f->dnssec_checked_at > 0,
                                f->dnssec_checked_at),
                   "signed",
                   f->dnssec_checked_at > 0
                       ? json_boolean(f->dnssec_signed)
                       : json_null(),
                   "ds_at_parent",
                   f->dnssec_checked_at > 0
                       ? json_boolean(f->dnssec_has_ds)
                       : json_null(),
                   "next_rrsig_expiry",
                   time_or_null(f->dnssec_next_expiry > 0,
                                f->dnssec_next_expiry),
                   "check_findings", found);
    if (js != NULL && f->is_dnssec == 2) {
        const ks_dnssec_timing *t = &f->dnssec_timing;
        int nx = 0;
        int64_t at = 0;
        int st = ks_dnssec_stage(t, now, &nx, &at);
        char ab[16];

        json_object_update_new(
            js,
            json_pack(
                "{s:o, s:I, s:i, s:s, s:i, s:i, s:o, s:s, s:o, s:o, s:o, "
                "s:{s:o, s:o, s:o, s:o, s:o, s:o, s:o}, s:o, s:o}",
                "role", kw_json_str(f->dnssec_role), "tag",
                (json_int_t)f->dnssec_tag, "algorithm", f->dnssec_alg,
                "algorithm_name", ks_dnssec_alg_word(f->dnssec_alg, ab),
                "bits", f->dnssec_bits, "flags", f->dnssec_flags, "dnskey",
                kw_json_str(f->dnssec_dnskey), "stage",
                ks_dnssec_stage_word(st), "next_stage",
                nx != 0 ? json_string(ks_dnssec_stage_word(nx))
                        : json_null(),
                "next_transition", time_or_null(at > 0, at),
                "next_waits_for_ds", json_boolean(nx != 0 && at == 0),
                "timing", "created",
                time_or_null(f->dnssec_created > 0, f->dnssec_created),
                "publish", time_or_null(t->publish > 0, t->publish),
                "activate", time_or_null(t->activate > 0, t->activate),
                "inactive", time_or_null(t->inactive > 0, t->inactive),
                "delete", time_or_null(t->delete_ > 0, t->delete_),
                "sync_publish",
                time_or_null(t->sync_publish > 0 &&
                                 t->sync_publish != KS_DNSSEC_PENDING,
                             t->sync_publish),
                "sync_delete",
                time_or_null(f->dnssec_sync_delete > 0,
                             f->dnssec_sync_delete),
                "ds_missing_since",
                time_or_null(f->dnssec_ds_missing_since > 0,
                             f->dnssec_ds_missing_since),
                "ds_notified_at",
                time_or_null(f->dnssec_ds_notified_at > 0,
                             f->dnssec_ds_notified_at)));
    }
    return js;
}

json_t *kw_object_json(const ks_object *o, int64_t now,
                       const ks_thresholds *t, const ks_verdict *v)
{
    const ks_tls_facts *f = &o->facts;
    json_t *obj, *sans, *uni, *findings;
    json_error_t err;
    char *dn;
    size_t i;

    (void)t;
    sans = json_loads(o->sans_json != NULL ? o->sans_json : "[]", 0, &err);
    if (sans == NULL || !json_is_array(sans)) {
        json_decref(sans);
        sans = json_array();
    }
    uni = json_array();
    for (i = 0; i < json_array_size(sans); i++) {
        const char *s = json_string_value(json_array_get(sans, i));
        char *u = kw_display_name(s != NULL ? s : "");
        json_array_append_new(uni, kw_json_str(u != NULL ? u : ""));
        free(u);
    }
    findings = json_array();
    for (i = 0; i < v->nfindings; i++)
        json_array_append_new(
            findings,
            json_pack("{s:s, s:o, s:o}", "health",
                      ks_health_word(v->findings[i].health), "text",
                      kw_json_str(v->findings[i].text), "fix",
                      kw_json_str(v->findings[i].fix)));
    dn = kw_display_name(o->name);
    obj = json_pack(
        "{s:I, s:s, s:o, s:o, s:o, s:i, s:o, s:o, s:o, s:o, s:s, s:o, s:o,"
        " s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:i, s:s, s:o, s:b}",
        "id", (json_int_t)o->id, "kind", o->kind, "name",
        kw_json_path(o->name), "name_unicode",
        kw_json_str(dn != NULL ? dn : o->name), "source",
        kw_json_path(o->source),
        "position", o->position, "not_before",
        time_or_null(f->has_validity, f->not_before), "not_after",
        time_or_null(f->has_validity, f->not_after), "deadline",
        time_or_null(f->has_validity, f->deadline), "days_left",
        f->has_validity ? json_integer(kw_days_left(f->deadline, now))
                        : json_null(),
        "health", ks_health_word(v->health), "reason",
        kw_json_str(v->reason), "fingerprint_sha256",
        kw_json_str(o->fingerprint), "sans", sans, "sans_unicode", uni,
        "subject", kw_json_str(o->subject), "issuer", kw_json_str(o->issuer),
        "serial", kw_json_str(o->serial), "key_type",
        kw_json_str(o->key_type), "key_bits",
        o->key_bits > 0 ? json_integer(o->key_bits) : json_null(),
        "chain_len", o->chain_len, "state", f->state ? f->state : "",
        "findings", findings,
        "superseded", f->superseded_by > 0);
    if (obj != NULL)
        json_object_set_new(obj, "idle_trust_anchor",
                            json_boolean(f->idle_anchor));
    if (obj != NULL && f->is_dkim) {
        char first[32];

        kw_time_rfc3339(f->dkim_first_seen, first, sizeof(first));
        json_object_set_new(
            obj, "dkim",
            json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:I, "
                      "s:o}",
                      "domain", kw_json_str(f->dkim_domain), "selector",
                      kw_json_str(f->dkim_selector), "role",
                      kw_json_str(f->dkim_role), "signer",
                      kw_json_str(f->dkim_signer), "signer_user",
                      kw_json_str(f->dkim_user), "named_by",
                      kw_json_str(f->dkim_source), "algorithm",
                      kw_json_str(f->dkim_alg), "key_mode",
                      f->key_mode >= 0 ? json_integer(f->key_mode)
                                       : json_null(),
                      "first_seen", first, "age_days",
                      (json_int_t)(f->dkim_key_time > 0
                                       ? kw_time_diff(now, f->dkim_key_time) /
                                             KW_DAY
                                       : 0),
                      "record", kw_json_str(f->dkim_record)));
    }
    if (obj != NULL && f->is_dnssec)
        json_object_set_new(obj, "dnssec", dnssec_json(f, now));
    if (obj != NULL && f->is_endpoint) {
        char at[32];

        kw_time_rfc3339(f->probed_at, at, sizeof(at));
        json_object_set_new(
            obj, "endpoint",
            json_pack("{s:o, s:i, s:o, s:s?, s:o, s:s?, s:o, s:o}",
                      "host", kw_json_str(f->endpoint_host), "port",
                      f->endpoint_port,
                      "probe_ok",
                      f->probe_ok < 0 ? json_null()
                                      : json_boolean(f->probe_ok),
                      "probed_at", f->probed_at > 0 ? at : NULL, "error",
                      kw_json_str(f->probe_error), "tls_version",
                      f->tls_version,
                      "name_matches",
                      f->name_matches < 0 ? json_null()
                                          : json_boolean(f->name_matches),
                      "stale_source", kw_json_path(f->stale_source)));
    }
    free(dn);
    if (obj != NULL && f->key_state != NULL) {
        char mode[8];

        snprintf(mode, sizeof(mode), "%04o", f->key_mode & 07777);
        json_object_set_new(obj, "private_key",
                            json_pack("{s:s, s:o, s:s}", "state",
                                      f->key_state, "path",
                                      kw_json_path(f->key_path),
                                      "mode", mode));
    }
    return obj;
}

void kw_listing_init(kw_listing *l, ks_store *s, int64_t now)
{
    memset(l, 0, sizeof(*l));
    l->s = s;
    l->now = now;
    ks_thresholds_default(&l->t);
    l->f.by_leaf = 1;
    l->f.before = now;
}

/* The files of one row (a leaf held by several files). */
typedef struct leaf_files {
    kw_listing *l;
    ks_verdict worst;
    int64_t worst_id;
    char worst_file[256];
    json_t *files; /* json: their paths */
    size_t n;
} leaf_files;

static int leaf_file(void *ctx, const ks_object *m)
{
    leaf_files *lf = ctx;
    ks_verdict v;

    ks_health_tls(&m->facts, lf->l->now, &lf->l->t, &v);
    kw_hook_overlay_apply(&lf->l->ov, m->id, &v);
    if (lf->n == 0 ||
        ks_health_rank(v.health) > ks_health_rank(lf->worst.health)) {
        const char *base = strrchr(m->source, '/');

        lf->worst = v;
        lf->worst_id = m->id;
        snprintf(lf->worst_file, sizeof(lf->worst_file), "%s",
                 base != NULL ? base + 1 : m->source);
    }
    lf->n++;
    if (lf->files != NULL)
        return kw_json_append(lf->files, kw_json_path(m->source));
    return 0;
}

/* The verdict of a row: the worst of its files (a file with a bad mode
 * shows even when the leaf's other file is fine), its reason prefixed
 * with that file's name when it is not the row's own. */
static int leaf_verdict(kw_listing *l, const ks_object *o, ks_verdict *v,
                        json_t *files)
{
    leaf_files lf;
    kw_diag d;

    memset(&lf, 0, sizeof(lf));
    lf.l = l;
    lf.files = files;
    if ((l->lf == NULL && ks_leaf_files_open(l->s, 1, &l->lf, &d) != 0) ||
        ks_leaf_files_each(l->lf, o->id, leaf_file, &lf, &d) != 0) {
        kw_err("list: %s", d.msg);
        return -1;
    }
    if (lf.n == 0)
        return -1;
    *v = lf.worst;
    if (lf.worst_id != o->id && v->reason[0] != '\0') {
        char reason[sizeof(v->reason)];
        size_t pos = 0;

        /* Cut, not overflowed, when the two do not fit. */
        (void)kw_str_appendf(reason, sizeof(reason), &pos, "%s: %s",
                             lf.worst_file, v->reason);
        memcpy(v->reason, reason, sizeof(reason));
    }
    l->merged += lf.n - 1;
    return 0;
}

typedef struct walk {
    kw_listing *l;
    kw_listing_cb cb;
    void *ctx;
} walk;

static int walk_row(void *ctx, const ks_object *o)
{
    walk *w = ctx;
    kw_listing *l = w->l;
    ks_verdict v;
    json_t *files = NULL, *js;
    int r;

    if (l->json &&
        ((files = json_array()) == NULL ||
         (o->other_files == 0 &&
          kw_json_append(files, kw_json_path(o->source)) != 0))) {
        json_decref(files);
        files = NULL;
    }
    if (o->other_files == 0 || leaf_verdict(l, o, &v, files) != 0) {
        ks_health_tls(&o->facts, l->now, &l->t, &v);
        kw_hook_overlay_apply(&l->ov, o->id, &v);
        if (o->other_files > 0)
            l->failed = 1;
    }
    if (ks_health_rank(v.health) < l->min_rank) {
        l->filtered++;
        json_decref(files);
        return 0;
    }
    if (!l->json)
        return w->cb(w->ctx, o, &v, NULL);
    js = kw_object_json(o, l->now, &l->t, &v);
    if (js != NULL && kw_renewal_attach(&l->rn, o, l->now, js) != 0) {
        json_decref(js);
        js = NULL;
    }
    if (js != NULL && files != NULL)
        json_object_set_new(js, "files", files);
    else
        json_decref(files);
    if (js == NULL) {
        /* Keep going: one object that cannot be written must not hide
         * the others, but the caller learns the listing is short. */
        kw_err("list: object %lld (%s) could not be written as JSON "
               "(out of memory)",
               (long long)o->id, o->source != NULL ? o->source : o->name);
        l->failed = 1;
        return 0;
    }
    r = w->cb(w->ctx, o, &v, js);
    json_decref(js);
    return r;
}

int kw_listing_each(kw_listing *l, kw_listing_cb cb, void *ctx, kw_diag *d)
{
    walk w = {l, cb, ctx};
    int r;

    if ((r = kw_hook_overlay_load(l->s, &l->ov, d)) != 0)
        return r;
    /* The text listing shows the renewals too (cli/cli_list.c). */
    if ((r = kw_renewals_load(l->s, &l->rn, d)) != 0)
        return r;
    return ks_inventory_each(l->s, &l->f, walk_row, &w, d);
}

void kw_listing_done(kw_listing *l)
{
    kw_hook_overlay_free(&l->ov);
    kw_renewals_free(&l->rn);
    ks_leaf_files_close(l->lf);
    l->lf = NULL;
}

static int doc_row(void *ctx, const ks_object *o, const ks_verdict *v,
                   json_t *js)
{
    (void)o;
    (void)v;
    return json_array_append(ctx, js) != 0 ? KW_ENOMEM : 0;
}

void kw_rot_time(int64_t t, char *buf, size_t cap)
{
    if (t <= 0)
        snprintf(buf, cap, "-");
    else
        kw_time_rfc3339(t, buf, cap);
}

json_t *kw_rotation_json(const kw_dkim_rot_view *v)
{
    char next[32], step[32], label[300];

    kw_rot_time(v->h.next_rotation, next, sizeof(next));
    kw_rot_time(v->h.next_step, step, sizeof(step));
    /* A dual section's tracks: "example.com (ed25519)", key_type says
     * which. */
    return json_pack(
        "{s:s, s:o, s:s?, s:o, s:s, s:o?, s:s, s:o, s:o, s:s?, s:s?}",
        "kind", "dkim-rotation", "name",
        kw_json_str(kw_dkim_rot_label(v->p, label, sizeof(label))),
        "key_type", v->p->track != 0 ? v->p->key_type : NULL, "domain",
        kw_json_str(v->p->domain), "stage",
        v->found ? v->rot.stage : "none", "selector",
        v->found ? kw_json_str(v->rot.selector) : NULL, "health",
        ks_health_word((ks_health)v->h.health), "reason",
        kw_json_str(v->h.reason), "fix", kw_json_str(v->h.fix),
        "next_rotation", v->h.next_rotation > 0 ? next : NULL, "next_step",
        v->h.next_step > 0 ? step : NULL);
}

/* The rotations `list` appends, from the configuration as it reads it
 * (kw_cli_rots_load: the file at each call, so a reload is seen). */
static int append_rotations(ks_store *s, int64_t now, const char *path,
                            json_t *a, char *warn, size_t wcap)
{
    kw_config kc;
    kw_dkim_rot_view *v = NULL;
    kw_diag d;
    size_t i, n;
    int r;

    if (path == NULL)
        return 0;
    r = kw_config_load(path, &kc, &d);
    if (r == KW_ENOENT)
        return 0;
    if (r != 0) {
        snprintf(warn, wcap, "the DKIM rotations are not shown: %s", d.msg);
        return 0;
    }
    if (kw_dkim_rot_views(s, &kc.dkim, now, &v, &d) != 0) {
        snprintf(warn, wcap, "the DKIM rotations cannot be read: %s",
                 d.msg);
        kw_config_free(&kc);
        return 0;
    }
    n = v != NULL ? kc.dkim.nrot : 0;
    for (i = 0, r = 0; i < n && r == 0; i++) {
        json_t *js = kw_rotation_json(&v[i]);

        r = js == NULL || json_array_append_new(a, js) != 0 ? KW_ENOMEM : 0;
    }
    kw_dkim_rot_views_free(v, n);
    kw_config_free(&kc);
    return r;
}

int kw_listing_document(ks_store *s, int64_t now, const char *config_path,
                        json_t **out, char *warn, size_t wcap, kw_diag *d)
{
    kw_listing l;
    json_t *a = json_array();
    int r;

    *out = NULL;
    if (wcap > 0)
        warn[0] = '\0';
    if (a == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    kw_listing_init(&l, s, now);
    l.json = 1;
    r = kw_listing_each(&l, doc_row, a, d);
    kw_listing_done(&l);
    if (r == 0)
        r = append_rotations(s, now, config_path, a, warn, wcap);
    if (r == KW_ENOMEM)
        r = kw_diag_set(d, KW_ENOMEM, "out of memory");
    /* failed is set for a row whose files could not be read (a database
     * error, logged by leaf_verdict) as well as for one whose JSON could
     * not be built: the message must not send the operator after memory
     * when it was the store. */
    if (r == 0 && l.failed)
        r = kw_diag_set(d, KW_EIO,
                        "the listing is incomplete: an object's files could "
                        "not be read or its JSON not built (the messages "
                        "before this one say which)");
    if (r != 0) {
        json_decref(a);
        return r;
    }
    *out = a;
    return 0;
}

static int status_job(void *ctx, const char *type, const char *key,
                      const char *state, int attempt, int64_t next_at,
                      const char *last_error)
{
    char when[32];

    kw_time_rfc3339(next_at, when, sizeof(when));
    json_array_append_new(
        (json_t *)ctx,
        json_pack("{s:s, s:s, s:s, s:i, s:s, s:s?}", "type", type, "key", key,
                  "state", state, "attempt", attempt, "next_at", when,
                  "last_error", last_error));
    return 0;
}

json_t *kw_listing_jobs(ks_store *s)
{
    json_t *jobs = json_array();
    kw_diag d;

    memset(&d, 0, sizeof(d));
    /* The list stays (empty) for the page and status, but an unreadable
     * jobs table is said, not shown as "no jobs" in silence. */
    if (jobs != NULL && ks_jobs_open_each(s, status_job, jobs, &d) != 0)
        kw_warn("jobs: cannot be read: %s", d.msg);
    return jobs;
}
