#include "hook_outbox.h"

#include "../common/kw_json.h"
#include "../common/kw_time.h"
#include "../keystore/ks_health.h"
#include "../keystore/ks_outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs kept per hook in hook_runs; older ones are pruned. */
#define KEEP_RUNS 500
/* Deliveries in one coalesced run, and events read per dispatch step. */
#define MAX_BATCH 1000
#define DISPATCH_STEP 1000

/* What an event is about, from its detail and inventory object. */
typedef struct about {
    const char *object;
    const char *kind;
    const char *source_hook; /* hook.failed: the hook that failed */
} about;

static void event_about(json_t *detail, const char *type,
                        const char *obj_name, const char *obj_kind,
                        about *a)
{
    const char *v;

    memset(a, 0, sizeof(*a));
    a->kind = "other";
    if ((v = json_string_value(json_object_get(detail, "object"))) != NULL) {
        a->object = v;
        v = json_string_value(json_object_get(detail, "kind"));
        a->kind = v != NULL ? v : obj_kind != NULL ? obj_kind : "tls";
    } else if ((v = json_string_value(
                    json_object_get(detail, "certificate"))) != NULL) {
        a->object = v;
        a->kind = "tls";
    } else if ((v = json_string_value(json_object_get(detail, "endpoint"))) !=
               NULL) {
        a->object = v;
        a->kind = "endpoint";
    } else if (strcmp(type, "hook.failed") == 0 &&
               (v = json_string_value(json_object_get(detail, "hook"))) !=
                   NULL) {
        a->object = v;
        a->kind = "hook";
    } else if (strncmp(type, "account.", 8) == 0) {
        a->object = "account";
        a->kind = "account";
    } else if (obj_name != NULL) {
        a->object = obj_name;
        a->kind = obj_kind != NULL ? obj_kind : "tls";
    }
    if (strcmp(type, "hook.failed") == 0)
        a->source_hook = json_string_value(json_object_get(detail, "hook"));
}

/* ---- event documents ------------------------------------------------------ */

static int set_new(json_t *o, const char *k, json_t *v)
{
    return v == NULL ? -1 : json_object_set_new(o, k, v);
}

static json_t *path_join(const char *dir, const char *name, const char *file)
{
    char p[4096];

    if (snprintf(p, sizeof(p), "%s/live/%s%s%s", dir, name,
                 file != NULL ? "/" : "", file != NULL ? file : "") >=
        (int)sizeof(p))
        return json_null();
    return kw_json_path(p);
}

/* Build the document of one event row (ks_outbox_event_read()). */
typedef struct doc_ctx {
    const char *certs_dir;
    json_t *doc;
} doc_ctx;

static int event_doc_row(void *ctx, const ks_outbox_event *e)
{
    doc_ctx *c = ctx;
    json_t *doc = NULL, *detail = NULL, *names = NULL;
    const char *type = e->type;
    int managed, bad = 0;
    about a;
    json_t *paths = json_object();
    char when[32];

    detail = e->detail != NULL ? json_loads(e->detail, 0, NULL) : NULL;
    if (!json_is_object(detail)) {
        json_decref(detail);
        detail = json_object();
    }
    event_about(detail, type != NULL ? type : "", e->obj_name, e->obj_kind,
                &a);
    managed = json_object_get(detail, "certificate") != NULL;
    doc = json_object();
    if (doc == NULL || paths == NULL) {
        json_decref(paths);
        bad = 1;
        goto out;
    }
    kw_time_rfc3339(e->at, when, sizeof(when));
    bad |= set_new(doc, "id", json_integer(e->id));
    bad |= set_new(doc, "type", kw_json_str(type));
    bad |= set_new(doc, "at", json_integer(e->at));
    bad |= set_new(doc, "time", json_string(when));
    bad |= set_new(doc, "object", kw_json_path(a.object));
    bad |= set_new(doc, "kind", json_string(a.kind));
    if (e->has_object_id)
        bad |= set_new(doc, "object_id", json_integer(e->object_id));
    /* Names: the managed certificate's, else the object's SANs. */
    if (e->cert_names != NULL)
        names = json_loads(e->cert_names, 0, NULL);
    else if (e->obj_sans != NULL)
        names = json_loads(e->obj_sans, 0, NULL);
    else if (json_is_array(json_object_get(detail, "names")))
        names = json_incref(json_object_get(detail, "names"));
    if (json_is_array(names))
        bad |= json_object_set(doc, "names", names);
    if (e->has_cert_not_after)
        bad |= set_new(doc, "not_after", json_integer(e->cert_not_after));
    else if (e->has_obj_not_after)
        bad |= set_new(doc, "not_after", json_integer(e->obj_not_after));
    if (e->cert_fingerprint != NULL)
        bad |= set_new(doc, "fingerprint_sha256",
                       kw_json_str(e->cert_fingerprint));
    else if (e->obj_fingerprint != NULL)
        bad |= set_new(doc, "fingerprint_sha256",
                       kw_json_str(e->obj_fingerprint));
    if (managed && c->certs_dir != NULL && a.object != NULL) {
        bad |= set_new(paths, "cert",
                       path_join(c->certs_dir, a.object, "cert.pem"));
        bad |= set_new(paths, "key",
                       path_join(c->certs_dir, a.object, "privkey.pem"));
        bad |= set_new(paths, "fullchain",
                       path_join(c->certs_dir, a.object, "fullchain.pem"));
        bad |= set_new(paths, "chain",
                       path_join(c->certs_dir, a.object, "chain.pem"));
        bad |= set_new(paths, "lineage",
                       path_join(c->certs_dir, a.object, NULL));
    } else {
        json_t *dp = json_object_get(detail, "path");

        /* The event's own path is already in kw_json_path's form. */
        if (e->file_path != NULL)
            bad |= set_new(paths, "cert", kw_json_path(e->file_path));
        else if (dp != NULL && !json_is_null(dp))
            bad |= json_object_set(paths, "cert", dp);
        if (e->key_path != NULL)
            bad |= set_new(paths, "key", kw_json_path(e->key_path));
    }
    if (json_object_size(paths) > 0)
        bad |= json_object_set(doc, "paths", paths);
    json_decref(paths);
    bad |= json_object_set(doc, "detail", detail);
out:
    json_decref(detail);
    json_decref(names);
    if (bad) {
        json_decref(doc);
        return KW_ENOMEM;
    }
    c->doc = doc;
    return 0;
}

int kw_hook_event_doc(ks_store *s, int64_t event_id, const char *certs_dir,
                      json_t **out, kw_diag *d)
{
    doc_ctx c = {certs_dir, NULL};
    int r = ks_outbox_event_read(s, event_id, event_doc_row, &c, d);

    *out = NULL;
    if (r == KW_ENOMEM)
        kw_diag_set(d, r, "out of memory describing event %lld",
                    (long long)event_id);
    if (r == 0)
        *out = c.doc;
    return r;
}

/* ---- dispatch ---------------------------------------------------------------- */

/* One dispatch step's state, for each event read. */
typedef struct step_ctx {
    ks_store *s;
    const kw_hook_def *defs;
    size_t ndefs;
    int64_t now;
    size_t *queued;
    json_t *settled;
    ks_outbox_queue *ins;
    int64_t last;
    kw_diag *d;
} step_ctx;

static int dispatch_event(void *ctx, const ks_outbox_event *e)
{
    step_ctx *c = ctx;
    const char *type = e->type != NULL ? e->type : "";
    json_t *detail =
        e->detail != NULL ? json_loads(e->detail, 0, NULL) : NULL;
    size_t took = 0, i;
    int r = 0;
    about a;

    c->last = e->id;
    event_about(detail, type, e->obj_name, e->obj_kind, &a);
    for (i = 0; r == 0 && i < c->ndefs; i++) {
        const kw_hook_def *h = &c->defs[i];
        /* The window starts at the event; a first delivery of a
         * hook without one is due at once. */
        int64_t due = (e->at > c->now ? c->now : e->at) + h->coalesce;
        int added = 0;

        if (!kw_hook_matches(h, type, a.object, a.kind, a.source_hook))
            continue;
        r = ks_outbox_queue_add(c->ins, e->id, h->name, due, a.object,
                                a.kind, e->has_object_id ? e->object_id : 0,
                                c->now, &added, c->d);
        if (r == 0) {
            took++;
            *c->queued += (size_t)added;
        }
    }
    if (r == 0 && took == 0 && c->settled != NULL &&
        strncmp(type, "cert.", 5) == 0) {
        json_t *doc = NULL;

        r = kw_hook_event_doc(c->s, e->id, NULL, &doc, c->d);
        if (r == 0 && kw_json_append(c->settled, doc) != 0)
            r = kw_diag_set(c->d, KW_ENOMEM, "out of memory");
    }
    json_decref(detail);
    return r;
}

/* One step: up to DISPATCH_STEP events, in a transaction of its own.
 * *more is 1 when a full step was read. */
static int dispatch_step(ks_store *s, const kw_hook_def *defs, size_t ndefs,
                         int64_t now, size_t *queued, json_t *settled,
                         int *more, kw_diag *d)
{
    step_ctx c = {s, defs, ndefs, now, queued, settled, NULL, -1, d};
    int64_t cursor;
    size_t n = 0;
    int r;

    *more = 0;
    if ((r = ks_begin(s, d)) != 0)
        return r;
    if ((r = ks_outbox_cursor_get(s, &cursor, d)) != 0)
        goto out;
    if ((r = ks_outbox_queue_open(s, &c.ins, d)) != 0)
        goto out;
    r = ks_outbox_events_after(s, cursor, DISPATCH_STEP, dispatch_event, &c,
                               &n, d);
    if (r == 0 && c.last > cursor)
        r = ks_outbox_cursor_set(s, c.last, d);
    *more = n == DISPATCH_STEP;
out:
    ks_outbox_queue_close(c.ins);
    if (r == 0)
        return ks_commit(s, d);
    ks_rollback(s);
    return r;
}

int kw_hook_dispatch(ks_store *s, const kw_hook_def *defs, size_t ndefs,
                     int64_t now, size_t *queued, json_t *settled,
                     kw_diag *d)
{
    int more = 1, r;

    *queued = 0;
    if ((r = ks_outbox_events_pending(s, &more, d)) != 0)
        return r;
    while (r == 0 && more)
        r = dispatch_step(s, defs, ndefs, now, queued, settled, &more, d);
    return r;
}

/* The hooks with open deliveries that are not in the configuration. */
typedef struct unknown_ctx {
    const kw_hook_def *defs;
    size_t ndefs;
    char **names;
    size_t n;
    kw_diag *d;
} unknown_ctx;

static int collect_unknown(void *ctx, const char *h)
{
    unknown_ctx *c = ctx;
    size_t j;
    char **nn;

    for (j = 0; j < c->ndefs; j++)
        if (strcmp(c->defs[j].name, h) == 0)
            return 0;
    nn = realloc(c->names, (c->n + 1) * sizeof(*nn));
    if (nn == NULL || (nn[c->n] = strdup(h)) == NULL) {
        if (nn != NULL)
            c->names = nn;
        return kw_diag_set(c->d, KW_ENOMEM, "out of memory");
    }
    c->names = nn;
    c->n++;
    return 0;
}

int kw_hook_drop_unknown(ks_store *s, const kw_hook_def *defs, size_t ndefs,
                         int64_t now, size_t *dropped, kw_diag *d)
{
    unknown_ctx c = {defs, ndefs, NULL, 0, d};
    size_t i, k;
    int r;

    *dropped = 0;
    r = ks_outbox_open_hooks(s, collect_unknown, &c, d);
    for (i = 0; r == 0 && i < c.n; i++) {
        r = ks_outbox_close_hook(s, c.names[i], now, &k, d);
        if (r == 0)
            *dropped += k;
    }
    for (i = 0; i < c.n; i++)
        free(c.names[i]);
    free(c.names);
    return r;
}

/* ---- claiming and finishing ---------------------------------------------------- */

int kw_hook_reclaim(ks_store *s, size_t *n, kw_diag *d)
{
    return ks_outbox_release(s, NULL, 0, n, d);
}

void kw_hook_batch_clear(kw_hook_batch *b)
{
    free(b->rows);
    free(b->attempts);
    json_decref(b->events);
    memset(b, 0, sizeof(*b));
}

/* Each claimed row into the batch, with its event's document. */
typedef struct claim_ctx {
    ks_store *s;
    const char *certs_dir;
    kw_hook_batch *b;
    kw_diag *d;
} claim_ctx;

static int claim_row(void *ctx, int64_t row, int64_t event_id, int tries)
{
    claim_ctx *c = ctx;
    kw_hook_batch *b = c->b;
    json_t *doc = NULL;
    int attempt = tries + 1;
    int r = kw_hook_event_doc(c->s, event_id, c->certs_dir, &doc, c->d);

    if (r == 0 && kw_json_append(b->events, doc) != 0)
        r = kw_diag_set(c->d, KW_ENOMEM, "out of memory");
    if (r != 0)
        return r;
    b->rows[b->nrows] = row;
    b->attempts[b->nrows++] = attempt;
    if (attempt > b->attempt)
        b->attempt = attempt;
    return 0;
}

int kw_hook_claim(ks_store *s, const kw_hook_def *h, int64_t now, int now_all,
                  int64_t lease_until, const char *certs_dir,
                  kw_hook_batch *b, kw_diag *d)
{
    claim_ctx c = {s, certs_dir, b, d};
    int64_t first_due = 0;
    int r, has = 0;

    memset(b, 0, sizeof(*b));
    /* Nothing open for the hook: no transaction, no write lock. */
    if ((r = kw_hook_next_due(s, h->name, &first_due, &has, d)) != 0)
        return r;
    if (!has || (!now_all && first_due > now))
        return 0;
    if ((r = ks_begin(s, d)) != 0)
        return r;
    /* A lease that ended belongs to a process that is gone. */
    if ((r = ks_outbox_release(s, h->name, now, NULL, d)) != 0)
        goto out;
    /* Another process running this hook: wait for it. */
    if ((r = ks_outbox_claimable(s, h->name, &has, &first_due, d)) != 0)
        goto out;
    if (!has || (!now_all && first_due > now))
        goto out;
    if ((b->events = json_array()) == NULL ||
        (b->rows = calloc(MAX_BATCH, sizeof(*b->rows))) == NULL ||
        (b->attempts = calloc(MAX_BATCH, sizeof(*b->attempts))) == NULL) {
        r = kw_diag_set(d, KW_ENOMEM, "out of memory");
        goto out;
    }
    /* Coalescing: once the oldest window has passed, everything pending
     * goes in the same run, the events still in their window too.  The
     * command line delivers what is new at once; a delivery waiting to
     * be retried keeps its time. */
    r = ks_outbox_claim_each(s, h->name, !now_all && h->coalesce > 0, now,
                             now_all, h->coalesce > 0 ? MAX_BATCH : 1,
                             lease_until, claim_row, &c, d);
out:
    if (r == 0)
        r = ks_commit(s, d);
    else
        ks_rollback(s);
    if (r != 0)
        kw_hook_batch_clear(b);
    return r;
}

int kw_hook_next_due(ks_store *s, const char *hook, int64_t *at, int *has,
                     kw_diag *d)
{
    return ks_outbox_next_due(s, hook, at, has, d);
}

static char *event_ids(const kw_hook_batch *b)
{
    json_t *a = json_array();
    size_t i;
    char *text;

    for (i = 0; a != NULL && i < json_array_size(b->events); i++)
        json_array_append(a, json_object_get(json_array_get(b->events, i),
                                             "id"));
    text = a != NULL ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return text;
}

static int record_run(ks_store *s, const kw_hook_def *h,
                      const kw_hook_batch *b, const kw_hook_outcome *o,
                      int64_t now, int64_t *run_id, kw_diag *d)
{
    json_t *newest = b != NULL && json_array_size(b->events) > 0
                         ? json_array_get(b->events,
                                          json_array_size(b->events) - 1)
                         : NULL;
    char *ids = b != NULL ? event_ids(b) : NULL;
    ks_outbox_run_rec rec;
    int r;

    memset(&rec, 0, sizeof(rec));
    rec.hook = h->name;
    rec.started_at = o->started_at;
    rec.finished_at = now;
    rec.attempt = b != NULL && b->attempt > 0 ? b->attempt : 1;
    rec.events = ids != NULL ? ids : "[]";
    rec.event_type = json_string_value(json_object_get(newest, "type"));
    rec.object = json_string_value(json_object_get(newest, "object"));
    rec.result = o->result;
    rec.exit_status = o->exit_status;
    rec.signal = o->signal;
    rec.duration_ms = o->duration_ms;
    rec.output = o->output;
    rec.output_len = o->output_len;
    rec.last_line = o->last_line;
    rec.error = o->error;
    rec.test = o->test;
    r = ks_outbox_run_add(s, &rec, run_id, d);
    free(ids);
    return r;
}

static int64_t retry_wait(const kw_hook_def *h, int attempt)
{
    int64_t w = h->retry_delay > 0 ? h->retry_delay : 1;
    int i;

    for (i = 1; i < attempt && w < KW_HOOK_MAX_RETRY_WAIT; i++)
        w *= 2;
    return w < KW_HOOK_MAX_RETRY_WAIT ? w : KW_HOOK_MAX_RETRY_WAIT;
}

/* Does every event of the batch announce a hook failure? */
static int only_hook_failures(const kw_hook_batch *b)
{
    size_t i;

    for (i = 0; i < json_array_size(b->events); i++) {
        const char *t = json_string_value(
            json_object_get(json_array_get(b->events, i), "type"));

        if (t == NULL || strcmp(t, "hook.failed") != 0)
            return 0;
    }
    return json_array_size(b->events) > 0;
}

int kw_hook_finish(ks_store *s, const kw_hook_def *h, const kw_hook_batch *b,
                   const kw_hook_outcome *o, int64_t now, int64_t *run_id,
                   int *gave_up, json_t *settled, kw_diag *d)
{
    int ok = strcmp(o->result, "ok") == 0;
    const char *why = o->last_line != NULL && *o->last_line ? o->last_line
                      : o->error != NULL && *o->error      ? o->error
                                                           : o->result;
    json_t *given_up = NULL; /* the newest event failed for good */
    size_t i;
    int r, failed_for_good = 0;

    *run_id = 0;
    if (gave_up != NULL)
        *gave_up = 0;
    if ((r = ks_begin(s, d)) != 0)
        return r;
    r = record_run(s, h, b, o, now, run_id, d);
    for (i = 0; r == 0 && b != NULL && i < b->nrows; i++) {
        int attempt = b->attempts != NULL && b->attempts[i] > 0
                          ? b->attempts[i]
                          : 1;
        int give_up = !ok && attempt > h->retries;

        int changed = 0;

        r = ks_outbox_settle(s, b->rows[i], ok, give_up, attempt, *run_id,
                             now + retry_wait(h, attempt), now, why,
                             &changed, d);
        if (r == 0 && !ok && give_up && changed == 1) {
            failed_for_good = 1;
            given_up = json_array_get(b->events, i);
        }
    }
    /* A failure for good is an event itself, so another hook (a pager, a
     * mail) can carry it; never to the hook that failed (kw_hook_matches),
     * and never for a failure to deliver hook.failed itself, or two alert
     * hooks whose pager is down would feed each other for ever. */
    if (r == 0 && failed_for_good && !only_hook_failures(b)) {
        json_t *detail = json_pack(
            "{s:s, s:O?, s:O?, s:O?, s:i, s:s, s:o}", "hook", h->name,
            "event", json_object_get(given_up, "type"), "about",
            json_object_get(given_up, "object"), "about_kind",
            json_object_get(given_up, "kind"), "attempts",
            b->attempt > 0 ? b->attempt : 1, "result", o->result,
            "last_line", kw_json_str(why));

        r = ks_event_add(s, now, 0, "hook.failed", detail, d);
    }
    if (gave_up != NULL)
        *gave_up = failed_for_good;
    /* Keep the newest runs of the hook. */
    if (r == 0)
        r = ks_outbox_runs_prune(s, h->name, (int64_t)KEEP_RUNS, d);
    for (i = 0; r == 0 && settled != NULL && b != NULL &&
                i < json_array_size(b->events);
         i++) {
        json_t *ev = json_array_get(b->events, i);
        int open = 0;

        r = ks_outbox_event_open(
            s, json_integer_value(json_object_get(ev, "id")), &open, d);
        if (r == 0 && !open && kw_json_append(settled, json_incref(ev)) != 0)
            r = kw_diag_set(d, KW_ENOMEM, "out of memory");
    }
    if (r == 0)
        return ks_commit(s, d);
    ks_rollback(s);
    return r;
}

int kw_hook_retry(ks_store *s, const char *hook, int64_t now, size_t *n,
                  kw_diag *d)
{
    return ks_outbox_retry(s, hook, now, n, d);
}

/* ---- reading -------------------------------------------------------------------- */

int kw_hook_history(ks_store *s, const char *hook, int limit,
                    int (*cb)(void *ctx, const kw_hook_run_row *r),
                    void *ctx, kw_diag *d)
{
    return ks_outbox_history(s, hook, limit, cb, ctx, d);
}

int kw_hook_failures(ks_store *s,
                     int (*cb)(void *ctx, const kw_hook_failure *f),
                     void *ctx, kw_diag *d)
{
    return ks_outbox_failures(s, cb, ctx, d);
}

static int collect_failure(void *ctx, const kw_hook_failure *f)
{
    kw_hook_overlay *ov = ctx;
    kw_hook_failure *nf = realloc(ov->f, (ov->n + 1) * sizeof(*nf));

    if (nf == NULL) {
        ov->oom = 1;
        return 1;
    }
    ov->f = nf;
    nf[ov->n++] = *f;
    return 0;
}

static int add_id(kw_hook_overlay *ov, size_t i, int64_t id)
{
    int64_t *ni = realloc(ov->ids[i], (ov->nids[i] + 1) * sizeof(*ni));

    if (ni == NULL)
        return -1;
    ov->ids[i] = ni;
    ni[ov->nids[i]++] = id;
    return 0;
}

/* Each current object holding a failure's fingerprint. */
typedef struct fp_ctx {
    kw_hook_overlay *ov;
    size_t i;
} fp_ctx;

static int add_fp_object(void *ctx, int64_t id)
{
    fp_ctx *c = ctx;

    if (add_id(c->ov, c->i, id) != 0) {
        c->ov->oom = 1;
        return 1;
    }
    return 0;
}

int kw_hook_overlay_load(ks_store *s, kw_hook_overlay *ov, kw_diag *d)
{
    size_t i;
    int r;

    memset(ov, 0, sizeof(*ov));
    if ((r = kw_hook_failures(s, collect_failure, ov, d)) != 0 || ov->oom)
        goto fail;
    if (ov->n == 0)
        return 0;
    ov->ids = calloc(ov->n, sizeof(*ov->ids));
    ov->nids = calloc(ov->n, sizeof(*ov->nids));
    ov->used = calloc(ov->n, 1);
    if (ov->ids == NULL || ov->nids == NULL || ov->used == NULL) {
        r = kw_diag_set(d, KW_ENOMEM, "out of memory");
        goto fail;
    }
    for (i = 0; i < ov->n; i++) {
        fp_ctx c = {ov, i};

        if (ov->f[i].object_id > 0 && add_id(ov, i, ov->f[i].object_id) != 0)
            break;
        if (ov->f[i].fingerprint[0] == '\0')
            continue;
        r = ks_outbox_objects_by_fingerprint(s, ov->f[i].fingerprint,
                                             add_fp_object, &c, d);
        if (ov->oom)
            break;
        if (r != 0)
            goto fail;
    }
    if (i < ov->n) {
        r = kw_diag_set(d, KW_ENOMEM, "out of memory");
        goto fail;
    }
    return 0;
fail:
    kw_hook_overlay_free(ov);
    return r != 0 ? r : kw_diag_set(d, KW_ENOMEM, "out of memory");
}

const kw_hook_failure *kw_hook_overlay_find(kw_hook_overlay *ov, int64_t id)
{
    size_t i, k;

    for (i = 0; i < ov->n; i++)
        for (k = 0; k < ov->nids[i]; k++)
            if (ov->ids[i][k] == id) {
                ov->used[i] = 1;
                return &ov->f[i];
            }
    return NULL;
}

void kw_hook_overlay_free(kw_hook_overlay *ov)
{
    size_t i;

    for (i = 0; ov->ids != NULL && i < ov->n; i++)
        free(ov->ids[i]);
    free(ov->ids);
    free(ov->nids);
    free(ov->used);
    free(ov->f);
    memset(ov, 0, sizeof(*ov));
}

void kw_hook_failure_text(const kw_hook_failure *f, char *out, size_t cap)
{
    char tmp[1200];
    size_t n;

    snprintf(tmp, sizeof(tmp), "hook %s failed for %s (%s, %d attempt%s): %s",
             f->hook, f->object[0] ? f->object : "-", f->event_type,
             f->attempts, f->attempts == 1 ? "" : "s",
             f->last_line[0] ? f->last_line : "no output");
    /* Cut to the caller's buffer: a one-line reason. */
    n = strlen(tmp);
    if (cap == 0)
        return;
    if (n >= cap)
        n = cap - 1;
    memcpy(out, tmp, n);
    out[n] = '\0';
}

int kw_hook_overlay_apply(kw_hook_overlay *ov, int64_t id, ks_verdict *v)
{
    const kw_hook_failure *f = kw_hook_overlay_find(ov, id);
    ks_finding *fi;

    if (f == NULL)
        return 0;
    v->health = KS_HEALTH_CRITICAL;
    kw_hook_failure_text(f, v->reason, sizeof(v->reason));
    if (v->nfindings < KS_MAX_FINDINGS) {
        memmove(&v->findings[1], &v->findings[0],
                v->nfindings * sizeof(v->findings[0]));
        v->nfindings++;
    }
    fi = &v->findings[0];
    fi->health = KS_HEALTH_CRITICAL;
    memcpy(fi->text, v->reason, sizeof(fi->text));
    fi->text[sizeof(fi->text) - 1] = '\0';
    snprintf(fi->fix, sizeof(fi->fix),
             "keywarden hooks history %.90s; fix it, then keywarden hooks "
             "retry %.90s",
             f->hook, f->hook);
    return 1;
}

int kw_hook_summary_get(ks_store *s, const char *hook, kw_hook_summary *out,
                        kw_diag *d)
{
    return ks_outbox_summary_get(s, hook, out, d);
}

int kw_hook_stats(ks_store *s,
                  int (*cb)(void *ctx, const char *hook, const char *result,
                            int64_t runs, int64_t last_at),
                  void *ctx, kw_diag *d)
{
    return ks_outbox_stats(s, cb, ctx, d);
}

/* ---- reload = auto ------------------------------------------------------------ */

static int add_target(kw_hook_target *out, size_t max, size_t *n,
                      const char *daemon, const char *config,
                      const char *path, int line)
{
    kw_hook_target t;
    size_t i;

    memset(&t, 0, sizeof(t));
    if (strcmp(daemon, "postfix") == 0) {
        const char *slash = strrchr(config, '/');

        t.reload = KW_RELOAD_POSTFIX;
        /* postfix -c takes the directory of main.cf. */
        if (slash != NULL && strcmp(config, "/etc/postfix/main.cf") != 0 &&
            strcmp(config, "/etc/postfix/master.cf") != 0)
            snprintf(t.config, sizeof(t.config), "%.*s",
                     (int)(slash - config), config);
    } else if (strcmp(daemon, "nginx") == 0) {
        t.reload = KW_RELOAD_NGINX;
    } else if (strcmp(daemon, "dovecot") == 0) {
        t.reload = KW_RELOAD_DOVECOT;
    } else {
        return 0;
    }
    snprintf(t.why, sizeof(t.why), "%s: %s:%d names %s", daemon, config,
             line, path);
    for (i = 0; i < *n; i++)
        if (out[i].reload == t.reload && strcmp(out[i].config, t.config) == 0)
            return 0;
    if (*n < max)
        out[(*n)++] = t;
    return 0;
}

/* Each usage of an event's file as a reload target. */
typedef struct target_ctx {
    kw_hook_target *out;
    size_t max, *n;
} target_ctx;

static int usage_target(void *ctx, const char *daemon, const char *config,
                        int line, const char *path)
{
    target_ctx *c = ctx;

    return add_target(c->out, c->max, c->n, daemon, config, path, line);
}

int kw_hook_auto_targets(ks_store *s, json_t *events, kw_hook_target *out,
                         size_t max, size_t *n, kw_diag *d)
{
    static const char *const keys[] = {"cert", "key", "fullchain", "chain",
                                       NULL};
    target_ctx c = {out, max, n};
    size_t i;
    int r = 0, k;

    *n = 0;
    for (i = 0; r == 0 && i < json_array_size(events); i++) {
        json_t *paths = json_object_get(json_array_get(events, i), "paths");
        const char *lineage =
            json_string_value(json_object_get(paths, "lineage"));

        for (k = 0; r == 0 && keys[k] != NULL; k++) {
            const char *p = json_string_value(json_object_get(paths, keys[k]));

            if (p == NULL)
                continue;
            r = ks_outbox_usages_of(s, p, lineage, usage_target, &c, d);
        }
    }
    return r;
}
