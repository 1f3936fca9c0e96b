#include "verify.h"

#include "probe.h"

#include "../common/kw_json.h"
#include "../common/kw_log.h"
#include "../common/kw_str.h"
#include "../common/kw_time.h"
#include "../keystore/ks_endpoint.h"
#include "../keystore/ks_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

/* Waits before the probes after the first, in milliseconds. */
static const uint64_t waits_ms[] = {1000, 2000, 4000, 8000, 15000};
#define NTRIES (1 + sizeof(waits_ms) / sizeof(waits_ms[0]))

static uint64_t total_wait_ms(void)
{
    uint64_t t = 0;
    size_t i;

    for (i = 0; i < NTRIES - 1; i++)
        t += waits_ms[i];
    return t;
}

typedef struct target target;

struct kw_verifier {
    uv_loop_t *loop;
    char *db_path;
    char cert[256];
    char fp[65];
    json_t *names;
    kw_endpoint_conf *eps; /* copies of the configured endpoints */
    size_t neps;
    target *t;             /* the ones to verify, one per eps entry */
    size_t nt, settled, fresh, stale, closing;
    int cancelled;
    kw_verify_cb done;
    void *ctx;
    uv_work_t sel;
    int r;
    kw_diag d;
};

struct target {
    kw_verifier *v;
    const kw_endpoint_conf *ep;
    int want;             /* selected: serves one of the names */
    int tries;
    kw_probe *probe;
    kw_probe_result res;
    uv_timer_t timer;
    uv_work_t rec;
    char served[65];
    int is_fresh, final;
};

static void free_verifier(kw_verifier *v)
{
    size_t i;

    for (i = 0; i < v->neps; i++) {
        free(v->eps[i].name);
        free(v->eps[i].host);
        free(v->eps[i].sni);
    }
    free(v->eps);
    free(v->t);
    free(v->db_path);
    json_decref(v->names);
    free(v);
}

static void on_closed(uv_handle_t *h)
{
    kw_verifier *v = ((target *)h->data)->v;

    if (--v->closing == 0) {
        v->done(v->ctx, v->cert, v->fresh, v->stale);
        free_verifier(v);
    }
}

/* Every target settled: close the timers, then report. */
static void finish(kw_verifier *v)
{
    size_t i;

    for (i = 0; i < v->neps; i++)
        if (v->t[i].want) {
            v->closing++;
            uv_close((uv_handle_t *)&v->t[i].timer, on_closed);
        }
    if (v->closing == 0) {
        v->done(v->ctx, v->cert, v->fresh, v->stale);
        free_verifier(v);
    }
}

static void settle(target *t)
{
    kw_verifier *v = t->v;

    if (t->is_fresh)
        v->fresh++;
    else
        v->stale++;
    if (++v->settled == v->nt)
        finish(v);
}

/* ---- recording (pool) ------------------------------------------------------ */

static void rec_work(uv_work_t *req)
{
    target *t = req->data;
    kw_verifier *v = t->v;
    ks_store *s = NULL;
    ks_probe_obs o;
    int64_t obj = 0, stale_of = 0, now = kw_now();
    kw_diag d;
    int r;

    r = ks_open(v->db_path, 0, &s, &d);
    if (r == 0) {
        kw_probe_obs_fill(&o, t->ep, &t->res);
        r = ks_endpoint_record(s, &o, now, &obj, &stale_of, &d);
    }
    /* Still not the new leaf after the last try: say so as an event of
     * its own, naming the certificate it should serve, whether or not the
     * inventory already knew it stale. */
    if (r == 0 && t->final && !t->is_fresh) {
        json_t *detail = json_pack(
            "{s:o, s:o, s:s, s:o, s:o, s:s, s:o, s:b}", "object",
            kw_json_str(t->ep->name), "endpoint",
            kw_json_str(t->ep->name), "kind", "endpoint", "certificate",
            kw_json_str(v->cert), "expected", kw_json_str(v->fp), "detail",
            t->res.ok ? "still serves another certificate after the reload"
                      : "does not answer after the reload",
            "served", kw_json_str(t->res.ok ? t->served : NULL),
            "after_reload", 1);

        r = ks_event_add(s, now, obj, "probe.stale", detail, &d);
    }
    if (r != 0)
        kw_err("verify %s: recording the probe of %s: %s", v->cert,
               t->ep->name, d.msg);
    ks_close(s);
}

static void rec_done(uv_work_t *req, int status)
{
    target *t = req->data;

    (void)status;
    kw_probe_result_clear(&t->res);
    if (t->final)
        settle(t);
}

static void record(target *t)
{
    t->rec.data = t;
    if (uv_queue_work(t->v->loop, &t->rec, rec_work, rec_done) != 0) {
        kw_probe_result_clear(&t->res);
        if (t->final)
            settle(t);
    }
}

/* ---- probing (loop) ---------------------------------------------------------- */

static void probe_again(uv_timer_t *h);

static void on_probe(void *ctx, kw_probe_result *res)
{
    target *t = ctx;
    kw_verifier *v = t->v;

    t->probe = NULL;
    if (v->cancelled) {
        /* Stopping: a result that raced the cancel proves nothing, and
         * must not be reported as stale. */
        kw_probe_result_clear(res);
        t->is_fresh = 0;
        settle(t);
        return;
    }
    t->res = *res;
    t->tries++;
    t->served[0] = '\0';
    if (res->ok && res->nchain > 0)
        kw_hex(res->chain[0].fingerprint, 32, 0, t->served);
    t->is_fresh = res->ok && strcasecmp(t->served, v->fp) == 0;
    t->final = t->is_fresh || t->tries >= (int)NTRIES || v->cancelled ||
               res->cancelled;
    if (t->is_fresh)
        kw_notice("certificate %s: endpoint %s serves the new certificate "
                  "(after %d probe%s)",
                  v->cert, t->ep->name, t->tries, t->tries == 1 ? "" : "s");
    else if (t->final && !res->cancelled)
        kw_err("certificate %s: endpoint %s (%s:%d) still %s %llds after "
               "the renewal's hooks ran; check the reload hook of the "
               "daemon behind it (keywarden hooks history)",
               v->cert, t->ep->name, t->ep->host, t->ep->port,
               res->ok ? "serves the old certificate" : "does not answer",
               (long long)(total_wait_ms() / 1000));
    if (res->cancelled) {
        kw_probe_result_clear(&t->res);
        settle(t);
        return;
    }
    if (t->final) {
        record(t);
        return;
    }
    /* Not yet: the reload may still be under way.  Earlier tries are not
     * recorded: the inventory keeps saying what it knew. */
    kw_probe_result_clear(&t->res);
    uv_timer_start(&t->timer, probe_again, waits_ms[t->tries - 1], 0);
}

static void probe_target(target *t)
{
    kw_probe_result res;

    if (kw_probe_start(t->v->loop, t->ep, on_probe, t, &t->probe) != 0) {
        memset(&res, 0, sizeof(res));
        snprintf(res.error, sizeof(res.error), "cannot start a probe");
        on_probe(t, &res);
    }
}

static void probe_again(uv_timer_t *h)
{
    target *t = h->data;

    if (t->v->cancelled) {
        t->is_fresh = 0;
        settle(t);
        return;
    }
    probe_target(t);
}

/* ---- choosing the endpoints (pool) ------------------------------------------ */

static int has_name(json_t *names, const char *n)
{
    size_t i;

    for (i = 0; i < json_array_size(names); i++)
        if (strcasecmp(json_string_value(json_array_get(names, i)), n) == 0)
            return 1;
    return 0;
}

/* Does one of the served certificate's SANs name a verified name? */
typedef struct sel_match {
    kw_verifier *v;
    int want;
} sel_match;

static int sel_sans(void *ctx, const char *t)
{
    sel_match *m = ctx;
    json_t *sans = t != NULL ? json_loads(t, 0, NULL) : NULL;
    size_t k;

    for (k = 0; k < json_array_size(sans); k++)
        if (has_name(m->v->names, json_string_value(json_array_get(sans, k))))
            m->want = 1;
    json_decref(sans);
    return 0;
}

static void sel_work(uv_work_t *req)
{
    kw_verifier *v = req->data;
    ks_store *s = NULL;
    size_t i;

    v->r = ks_open(v->db_path, KS_OPEN_READONLY, &s, &v->d);
    if (v->r != 0)
        return;
    for (i = 0; i < v->neps && v->r == 0; i++) {
        sel_match m = {v, 0};

        v->r = ks_endpoint_sans_each(s, v->eps[i].name, sel_sans, &m, &v->d);
        if (m.want) {
            v->t[i].want = 1;
            v->nt++;
        }
    }
    ks_close(s);
}

static void sel_done(uv_work_t *req, int status)
{
    kw_verifier *v = req->data;
    size_t i;

    if (status != 0 || v->r != 0) {
        kw_err("verify %s: %s", v->cert,
               v->r != 0 ? v->d.msg : uv_strerror(status));
        v->nt = 0;
    }
    if (v->nt == 0 || v->cancelled) {
        for (i = 0; i < v->neps; i++)
            v->t[i].want = 0;
        finish(v);
        return;
    }
    for (i = 0; i < v->neps; i++) {
        target *t = &v->t[i];

        if (!t->want)
            continue;
        uv_timer_init(v->loop, &t->timer);
        t->timer.data = t;
        probe_target(t);
    }
}

int kw_verify_start(uv_loop_t *loop, const char *db_path,
                    const kw_endpoint_conf *eps, size_t neps, json_t *ev,
                    kw_verify_cb done, void *ctx, kw_verifier **out,
                    kw_diag *d)
{
    kw_verifier *v = calloc(1, sizeof(*v));
    const char *fp = json_string_value(json_object_get(ev,
                                                       "fingerprint_sha256"));
    const char *cert = json_string_value(json_object_get(ev, "object"));
    size_t i;

    *out = NULL;
    if (v == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    v->loop = loop;
    v->done = done;
    v->ctx = ctx;
    snprintf(v->cert, sizeof(v->cert), "%s", cert != NULL ? cert : "?");
    snprintf(v->fp, sizeof(v->fp), "%s", fp != NULL ? fp : "");
    v->names = json_incref(json_object_get(ev, "names"));
    v->db_path = strdup(db_path);
    v->eps = calloc(neps + 1, sizeof(*v->eps));
    v->t = calloc(neps + 1, sizeof(*v->t));
    if (v->db_path == NULL || v->eps == NULL || v->t == NULL)
        goto oom;
    for (i = 0; i < neps; i++) {
        const kw_endpoint_conf *e = &eps[i];

        v->eps[i] = *e;
        v->eps[i].name = strdup(e->name);
        v->eps[i].host = strdup(e->host);
        v->eps[i].sni = e->sni != NULL ? strdup(e->sni) : NULL;
        v->neps++;
        if (v->eps[i].name == NULL || v->eps[i].host == NULL ||
            (e->sni != NULL && v->eps[i].sni == NULL))
            goto oom;
        v->t[i].v = v;
        v->t[i].ep = &v->eps[i];
    }
    if (v->fp[0] == '\0' || !json_is_array(v->names)) {
        free_verifier(v);
        return kw_diag_set(d, KW_EINVAL,
                           "verify: the event names no certificate");
    }
    v->sel.data = v;
    if (uv_queue_work(loop, &v->sel, sel_work, sel_done) != 0)
        goto oom;
    *out = v;
    return 0;
oom:
    free_verifier(v);
    return kw_diag_set(d, KW_ENOMEM, "out of memory");
}

void kw_verify_cancel(kw_verifier *v)
{
    size_t i, n = v->neps;

    v->cancelled = 1;
    for (i = 0; i < n; i++) {
        target *t = &v->t[i];

        if (t->probe != NULL) {
            kw_probe_cancel(t->probe);
        } else if (t->want && uv_is_active((uv_handle_t *)&t->timer)) {
            /* Waiting for the next try: that try will not come. */
            uv_timer_stop(&t->timer);
            t->is_fresh = 0;
            settle(t);
        }
    }
}
