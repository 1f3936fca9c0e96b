#include "metrics.h"

#include "../common/kw_vec.h"
#include "../hooks/hook_outbox.h"
#include "../keystore/ks_inventory.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int kw_metrics_add_job_type(kw_metrics_counters *c, const char *type)
{
    kw_metrics_jobs *nj;
    size_t i;

    for (i = 0; i < c->njobs; i++)
        if (strcmp(c->jobs[i].type, type) == 0)
            return 0;
    nj = kw_vec_grow(c->jobs, &c->cap, c->njobs + 1, sizeof(*nj));
    if (nj == NULL)
        return KW_ENOMEM;
    c->jobs = nj;
    memset(&c->jobs[c->njobs], 0, sizeof(c->jobs[0]));
    c->jobs[c->njobs++].type = type;
    return 0;
}

void kw_metrics_job_ended(kw_metrics_counters *c, const char *type, int ok)
{
    size_t i;

    for (i = 0; i < c->njobs; i++)
        if (strcmp(c->jobs[i].type, type) == 0) {
            if (ok)
                c->jobs[i].ok++;
            else
                c->jobs[i].failed++;
            return;
        }
}

void kw_metrics_set_rotations(kw_metrics_counters *c,
                              const kw_metrics_rot *v, size_t n)
{
    free(c->rots);
    c->rots = NULL;
    c->nrots = 0;
    if (n == 0 || (c->rots = malloc(n * sizeof(*v))) == NULL)
        return;
    memcpy(c->rots, v, n * sizeof(*v));
    c->nrots = n;
}

int kw_metrics_counters_copy(kw_metrics_counters *dst,
                             const kw_metrics_counters *src)
{
    *dst = *src;
    dst->jobs = NULL;
    dst->cap = 0;
    dst->rots = NULL;
    dst->nrots = 0;
    if (src->nrots > 0) {
        kw_metrics_set_rotations(dst, src->rots, src->nrots);
        if (dst->rots == NULL) {
            dst->njobs = 0;
            return KW_ENOMEM;
        }
    }
    if (src->njobs == 0)
        return 0;
    dst->jobs = malloc(src->njobs * sizeof(*dst->jobs));
    if (dst->jobs == NULL) {
        dst->njobs = 0;
        return KW_ENOMEM;
    }
    memcpy(dst->jobs, src->jobs, src->njobs * sizeof(*dst->jobs));
    dst->cap = src->njobs;
    return 0;
}

void kw_metrics_counters_free(kw_metrics_counters *c)
{
    free(c->jobs);
    c->jobs = NULL;
    c->njobs = c->cap = 0;
    free(c->rots);
    c->rots = NULL;
    c->nrots = 0;
}

typedef struct buf {
    char *p;
    size_t len, cap;
    int oom;
} buf;

static void put(buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void put(buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->oom)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        {
            size_t ncap = (b->cap + (size_t)n + 1) * 2;
            char *np = realloc(b->p, ncap);
            if (np == NULL) {
                b->oom = 1;
                return;
            }
            b->p = np;
            b->cap = ncap;
        }
    }
}

/* A label value: backslash, double quote and newline escaped. */
static void label(buf *b, const char *v)
{
    char tmp[1024];
    size_t o = 0;

    for (; v != NULL && *v != '\0' && o + 2 < sizeof(tmp); v++) {
        if (*v == '\\' || *v == '"') {
            tmp[o++] = '\\';
            tmp[o++] = *v;
        } else if (*v == '\n') {
            tmp[o++] = '\\';
            tmp[o++] = 'n';
        } else {
            tmp[o++] = *v;
        }
    }
    tmp[o] = '\0';
    put(b, "%s", tmp);
}

typedef struct render {
    buf *b;
    int64_t now;
    ks_thresholds t;
    size_t count[4];
    int pass; /* 0: timestamps, 1: health, 2: endpoints, 3: dnssec */
    kw_hook_overlay ov;
} render;

static void labels(render *r, const ks_object *o)
{
    put(r->b, "kind=\"");
    label(r->b, o->kind);
    put(r->b, "\",name=\"");
    label(r->b, o->name);
    put(r->b, "\",source=\"");
    label(r->b, o->source);
    put(r->b, "\"");
}

/* A DNSSEC key's stage (info style: 1 with the stage as a label) and
 * its next transition; a zone's earliest RRSIG expiry. */
static int dnssec_row(render *r, const ks_object *o)
{
    const ks_tls_facts *f = &o->facts;
    int st, nx = 0;
    int64_t at = 0;

    if (f->is_dnssec == 1 && f->dnssec_next_expiry > 0) {
        put(r->b, "keywarden_dnssec_rrsig_expiry_timestamp_seconds{zone=\"");
        label(r->b, f->dnssec_zone != NULL ? f->dnssec_zone : o->name);
        put(r->b, "\"} %lld\n", (long long)f->dnssec_next_expiry);
    }
    if (f->is_dnssec != 2)
        return 0;
    st = ks_dnssec_stage(&f->dnssec_timing, r->now, &nx, &at);
    put(r->b, "keywarden_dnssec_key_stage{zone=\"");
    label(r->b, f->dnssec_zone != NULL ? f->dnssec_zone : "");
    put(r->b, "\",name=\"");
    label(r->b, o->name);
    put(r->b, "\",role=\"%s\",tag=\"%u\",stage=\"%s\"} 1\n",
        f->dnssec_role != NULL ? f->dnssec_role : "", f->dnssec_tag,
        ks_dnssec_stage_word(st));
    if (nx != 0 && at > 0) {
        put(r->b, "keywarden_dnssec_next_transition_timestamp_seconds"
                  "{zone=\"");
        label(r->b, f->dnssec_zone != NULL ? f->dnssec_zone : "");
        put(r->b, "\",name=\"");
        label(r->b, o->name);
        put(r->b, "\",next_stage=\"%s\"} %lld\n", ks_dnssec_stage_word(nx),
            (long long)at);
    }
    return 0;
}

static int row(void *ctx, const ks_object *o)
{
    render *r = ctx;
    const ks_tls_facts *f = &o->facts;
    ks_verdict v;

    switch (r->pass) {
    case 0:
        if (!f->has_validity)
            return 0;
        put(r->b, "keywarden_object_not_after_timestamp_seconds{");
        labels(r, o);
        put(r->b, "} %lld\n", (long long)f->deadline);
        return 0;
    case 1:
        ks_health_tls(f, r->now, &r->t, &v);
        kw_hook_overlay_apply(&r->ov, o->id, &v);
        r->count[v.health]++;
        put(r->b, "keywarden_object_health{");
        labels(r, o);
        put(r->b, ",health=\"%s\"} 1\n", ks_health_word(v.health));
        return 0;
    case 3:
        return dnssec_row(r, o);
    default:
        if (!f->is_endpoint)
            return 0;
        put(r->b, "keywarden_probe_success{endpoint=\"");
        label(r->b, o->source);
        put(r->b, "\"} %d\n", f->probe_ok > 0);
        if (f->has_validity) {
            put(r->b, "keywarden_probe_served_not_after_timestamp_seconds"
                      "{endpoint=\"");
            label(r->b, o->source);
            put(r->b, "\"} %lld\n", (long long)f->deadline);
        }
        put(r->b, "keywarden_probe_stale{endpoint=\"");
        label(r->b, o->source);
        put(r->b, "\"} %d\n", f->stale_source != NULL);
        return 0;
    }
}

static int hook_stat(void *ctx, const char *hook, const char *result,
                     int64_t runs, int64_t last_at)
{
    render *r = ctx;

    (void)last_at;
    put(r->b, "keywarden_hook_runs_total{hook=\"");
    label(r->b, hook);
    put(r->b, "\",result=\"");
    label(r->b, result);
    put(r->b, "\"} %lld\n", (long long)runs);
    return 0;
}

static int hook_success(void *ctx, const char *hook, const char *result,
                        int64_t runs, int64_t last_at)
{
    render *r = ctx;

    (void)runs;
    if (strcmp(result, "ok") != 0)
        return 0;
    put(r->b, "keywarden_hook_last_success_timestamp_seconds{hook=\"");
    label(r->b, hook);
    put(r->b, "\"} %lld\n", (long long)last_at);
    return 0;
}

/* Runs by result, the last success, and deliveries failed for good. */
static int hook_metrics(ks_store *s, render *r, kw_diag *d)
{
    size_t i, j;
    int rc;

    put(r->b, "# HELP keywarden_hook_runs_total Hook runs by result (ok, "
              "failed, timeout, error).\n"
              "# TYPE keywarden_hook_runs_total counter\n");
    if ((rc = kw_hook_stats(s, hook_stat, r, d)) != 0)
        return rc;
    put(r->b, "# HELP keywarden_hook_last_success_timestamp_seconds When "
              "the hook last ran successfully (Unix time).\n"
              "# TYPE keywarden_hook_last_success_timestamp_seconds "
              "gauge\n");
    if ((rc = kw_hook_stats(s, hook_success, r, d)) != 0)
        return rc;
    put(r->b, "# HELP keywarden_hook_failing Objects for which the hook "
              "failed for good and has not succeeded since.\n"
              "# TYPE keywarden_hook_failing gauge\n");
    for (i = 0; i < r->ov.n; i++) {
        size_t n = 0;

        for (j = 0; j < i; j++)
            if (strcmp(r->ov.f[j].hook, r->ov.f[i].hook) == 0)
                break;
        if (j < i)
            continue; /* counted with its first */
        for (j = i; j < r->ov.n; j++)
            n += strcmp(r->ov.f[j].hook, r->ov.f[i].hook) == 0;
        put(r->b, "keywarden_hook_failing{hook=\"");
        label(r->b, r->ov.f[i].hook);
        put(r->b, "\"} %zu\n", n);
    }
    return 0;
}

int kw_metrics_render(ks_store *s, const kw_metrics_counters *c,
                      int64_t now, char **out, size_t *len, kw_diag *d)
{
    buf b = {NULL, 0, 0, 0};
    render r;
    ks_filter f;
    size_t j;
    int i, rc;

    *out = NULL;
    *len = 0;
    memset(&r, 0, sizeof(r));
    r.b = &b;
    r.now = now;
    ks_thresholds_default(&r.t);
    memset(&f, 0, sizeof(f));
    if ((rc = kw_hook_overlay_load(s, &r.ov, d)) != 0)
        goto out;

    put(&b, "# HELP keywarden_object_not_after_timestamp_seconds Earliest "
            "expiry in the object's chain (Unix time).\n"
            "# TYPE keywarden_object_not_after_timestamp_seconds gauge\n");
    r.pass = 0;
    if ((rc = ks_inventory_each(s, &f, row, &r, d)) != 0)
        goto out;
    put(&b, "# HELP keywarden_object_health The object's health (ok, "
            "warning, critical, unknown), as a label.\n"
            "# TYPE keywarden_object_health gauge\n");
    r.pass = 1;
    if ((rc = ks_inventory_each(s, &f, row, &r, d)) != 0)
        goto out;
    put(&b, "# HELP keywarden_objects Objects by health.\n"
            "# TYPE keywarden_objects gauge\n");
    for (i = 0; i < 4; i++)
        put(&b, "keywarden_objects{health=\"%s\"} %zu\n",
            ks_health_word((ks_health)i), r.count[i]);
    put(&b, "# HELP keywarden_probe_success Whether the last probe of the "
            "endpoint completed a TLS handshake.\n"
            "# TYPE keywarden_probe_success gauge\n"
            "# HELP keywarden_probe_served_not_after_timestamp_seconds "
            "Earliest expiry in the chain the endpoint serves.\n"
            "# TYPE keywarden_probe_served_not_after_timestamp_seconds "
            "gauge\n"
            "# HELP keywarden_probe_stale Whether the endpoint serves an "
            "older certificate than the newest on disk.\n"
            "# TYPE keywarden_probe_stale gauge\n");
    r.pass = 2;
    if ((rc = ks_inventory_each(s, &f, row, &r, d)) != 0)
        goto out;
    /* DNSSEC: the keys' stages and next transitions, the zones' RRSIG
     * expiry; their health is keywarden_object_health's, kind
     * "dnssec", as every object's. */
    put(&b, "# HELP keywarden_dnssec_key_stage A DNSSEC key's RFC 7583 "
            "stage (generated, published, ready, active, retired, "
            "removed), as a label.\n"
            "# TYPE keywarden_dnssec_key_stage gauge\n"
            "# HELP keywarden_dnssec_next_transition_timestamp_seconds When "
            "a DNSSEC key's signer moves it to next_stage (Unix time).\n"
            "# TYPE keywarden_dnssec_next_transition_timestamp_seconds "
            "gauge\n"
            "# HELP keywarden_dnssec_rrsig_expiry_timestamp_seconds The "
            "earliest RRSIG expiration the zone's last check saw (Unix "
            "time).\n"
            "# TYPE keywarden_dnssec_rrsig_expiry_timestamp_seconds gauge\n");
    f.kind = "dnssec";
    r.pass = 3;
    if ((rc = ks_inventory_each(s, &f, row, &r, d)) != 0)
        goto out;
    f.kind = NULL;
    put(&b, "# HELP keywarden_scans_total Scans run since the daemon "
            "started.\n# TYPE keywarden_scans_total counter\n"
            "keywarden_scans_total %llu\n",
        (unsigned long long)c->scans_total);
    put(&b, "# HELP keywarden_scan_errors_total Files seen broken or "
            "skipped by scans since the daemon started.\n"
            "# TYPE keywarden_scan_errors_total counter\n"
            "keywarden_scan_errors_total{reason=\"broken\"} %llu\n"
            "keywarden_scan_errors_total{reason=\"skipped\"} %llu\n",
        (unsigned long long)c->scan_errors_total,
        (unsigned long long)c->scan_skipped_total);
    put(&b, "# HELP keywarden_jobs_total Jobs finished since the daemon "
            "started.\n# TYPE keywarden_jobs_total counter\n");
    for (j = 0; j < c->njobs; j++)
        put(&b,
            "keywarden_jobs_total{type=\"%s\",result=\"ok\"} %llu\n"
            "keywarden_jobs_total{type=\"%s\",result=\"failed\"} %llu\n",
            c->jobs[j].type, (unsigned long long)c->jobs[j].ok,
            c->jobs[j].type, (unsigned long long)c->jobs[j].failed);
    put(&b, "# HELP keywarden_dkim_last_check_timestamp_seconds When the "
            "last DNS check of the DKIM selectors ended.\n"
            "# TYPE keywarden_dkim_last_check_timestamp_seconds gauge\n"
            "# HELP keywarden_dkim_selectors_checked Selectors the last DKIM "
            "check looked at.\n"
            "# TYPE keywarden_dkim_selectors_checked gauge\n");
    /* Absent until a check has run: an alert on its age then means the
     * checks stopped, not that none was ever asked for. */
    if (c->dkim_checked_at > 0)
        put(&b, "keywarden_dkim_last_check_timestamp_seconds %lld\n"
                "keywarden_dkim_selectors_checked %zu\n",
            (long long)c->dkim_checked_at, c->dkim_selectors);
    put(&b, "# HELP keywarden_dkim_rotation_health A managed DKIM domain's "
            "rotation health (ok, warning: stopped, critical: stopped "
            "near max_age), as a label, at the last dkim-rotate job.\n"
            "# TYPE keywarden_dkim_rotation_health gauge\n"
            "# HELP keywarden_dkim_next_rotation_timestamp_seconds When "
            "the domain's next rotation starts.\n"
            "# TYPE keywarden_dkim_next_rotation_timestamp_seconds gauge\n");
    for (j = 0; j < c->nrots; j++) {
        put(&b, "keywarden_dkim_rotation_health{domain=\"");
        label(&b, c->rots[j].domain);
        put(&b, "\",stage=\"");
        label(&b, c->rots[j].stage[0] ? c->rots[j].stage : "none");
        put(&b, "\",health=\"%s\"} 1\n",
            ks_health_word((ks_health)c->rots[j].health));
        if (c->rots[j].next_rotation <= 0)
            continue;
        put(&b, "keywarden_dkim_next_rotation_timestamp_seconds{domain=\"");
        label(&b, c->rots[j].domain);
        put(&b, "\"} %lld\n", (long long)c->rots[j].next_rotation);
    }
    if ((rc = hook_metrics(s, &r, d)) != 0)
        goto out;
    put(&b, "# HELP keywarden_start_time_seconds When the daemon started.\n"
            "# TYPE keywarden_start_time_seconds gauge\n"
            "keywarden_start_time_seconds %lld\n"
            "# HELP keywarden_build_info The running version.\n"
            "# TYPE keywarden_build_info gauge\n"
            "keywarden_build_info{version=\"%s\"} 1\n",
        (long long)c->started_at, KW_VERSION);
    rc = b.oom ? kw_diag_set(d, KW_ENOMEM, "out of memory") : 0;
out:
    kw_hook_overlay_free(&r.ov);
    if (rc != 0) {
        free(b.p);
        return rc;
    }
    *out = b.p;
    *len = b.len;
    return 0;
}
