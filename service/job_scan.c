/*
 * job_scan.c: the "scan" job (key "all"): discovery when configured, a
 * scan of the configured paths, the DKIM signers' selectors (with
 * discovery or [dkim]), the DNSSEC signers' zones and keys (with
 * discovery, [dnssec] or [zone]), then the endpoints' staleness
 * rechecked.
 * Runs at start, every [scan] interval, and 2 s after a change under a
 * watched path or to a DKIM signer's files.  When the selectors changed,
 * the DKIM check (job_dkim.c) is made due at once, after the scan has
 * recorded them; the files the signers' configurations named (DKIM's and
 * DNSSEC's key directories and configurations alike) go to the daemon,
 * which watches them.
 */
#include "hooks.h"
#include "job.h"

#include "../common/kw_log.h"
#include "../common/kw_time.h"
#include "../dkim/dkim.h"
#include "../dnssec/dnssec_scan.h"
#include "../keystore/ks_endpoint.h"
#include "../keystore/ks_jobs.h"
#include "../keystore/ks_scan.h"
#include "../probe/discover.h"

#include <stdlib.h>
#include <string.h>

typedef struct scan_job {
    kw_job job;
    /* Copied at the start, so a reload cannot pull them away. */
    kw_job_keys paths;
    int64_t interval;
    int discover;
    ks_scan_stats stats;
    /* [dkim], copied likewise; dkim_on when it or discovery asks. */
    int dkim_on;
    kw_dkim_params dkim;
    char *config_file;
    kw_dkim_scan_result dkim_res;
    /* [dnssec] and [zone], likewise. */
    int dnssec_on;
    kw_dnssec_params dnssec;
    kw_dnssec_scan_result dnssec_res;
} scan_job;

static int scan_keys(const kw_config *c, kw_job_keys *out)
{
    /* One job for all paths; never dropped (with nothing to scan it
     * costs nothing). */
    if (c->nscan_paths > 0 || c->discover || c->dkim.configured ||
        c->dnssec.configured)
        return kw_job_keys_add(out, "all");
    return 0;
}

static int scan_start(kw_job *j)
{
    scan_job *sj = (scan_job *)j;
    const kw_config *c = j->env->conf;
    size_t i;

    sj->interval = c->scan_interval;
    sj->discover = c->discover;
    sj->dkim_on = c->discover || c->dkim.configured;
    if (sj->dkim_on) {
        if (kw_dkim_params_copy(&sj->dkim, &c->dkim) != 0 ||
            (c->path != NULL && (sj->config_file = strdup(c->path)) == NULL))
            return KW_ENOMEM;
        sj->dkim.config_file = sj->config_file;
    }
    sj->dnssec_on = c->discover || c->dnssec.configured;
    if (sj->dnssec_on) {
        if (kw_dnssec_params_copy(&sj->dnssec, &c->dnssec) != 0 ||
            (sj->config_file == NULL && c->path != NULL &&
             (sj->config_file = strdup(c->path)) == NULL))
            return KW_ENOMEM;
        sj->dnssec.config_file = sj->config_file;
    }
    for (i = 0; i < c->nscan_paths; i++)
        if (kw_job_keys_add(&sj->paths, c->scan_paths[i]) != 0)
            return KW_ENOMEM;
    return KW_JOB_RUN_NOW;
}

static void scan_note(void *ctx, enum ks_scan_note n, const char *path,
                      const char *msg)
{
    (void)ctx;
    switch (n) {
    case KS_NOTE_ERROR:
        kw_warn("scan: %s: %s", path, msg);
        break;
    case KS_NOTE_MISSING:
        kw_warn("scan: %s: %s", path, msg);
        break;
    case KS_NOTE_CHANGED:
        kw_notice("scan: %s: changed: %s", path, msg);
        break;
    case KS_NOTE_LOOP:
        kw_info("scan: %s: %s", path, msg);
        break;
    default:
        kw_debug("scan: %s: %s", path, msg);
        break;
    }
}

static int scan_work(kw_job *j, ks_store *s)
{
    scan_job *sj = (scan_job *)j;
    ks_scan_opts o;
    size_t nstale = 0;
    int r;

    memset(&o, 0, sizeof(o));
    o.now = kw_now();
    o.note = scan_note;
    o.cancel = j->env->cancel;
    if (sj->discover) {
        /* The daemons' own configurations say which files matter. */
        kw_discovery disc;
        ks_scan_stats dst;
        size_t i;

        if (kw_discover(NULL, &disc) != 0)
            return kw_diag_set(&j->d, KW_ENOMEM, "out of memory");
        for (i = 0; i < disc.nnotes; i++)
            kw_warn("discover: %s", disc.notes[i]);
        r = kw_discover_apply(s, &disc, o.now, &dst, &j->d);
        kw_discovery_free(&disc);
        if (r != 0)
            return r;
    }
    r = sj->paths.n == 0 ? 0
                         : ks_scan(s, (const char *const *)sj->paths.v,
                                   sj->paths.n, &o, &sj->stats, &j->d);
    if (r == 0 && sj->dkim_on) {
        size_t i;

        kw_dkim_scan_result_free(&sj->dkim_res);
        /* Debian's defaults where [dkim] names no file, as the
         * configuration reference says. */
        r = kw_dkim_scan(s, &sj->dkim, 1, o.now, &sj->dkim_res, &j->d);
        for (i = 0; r == 0 && i < sj->dkim_res.nnotes; i++)
            kw_warn("dkim: %s", sj->dkim_res.notes[i]);
        /* A new, changed or removed selector (a key replaced, the
         * SigningTable pointed elsewhere): check DNS for it now, not at
         * the next interval. */
        const ks_dkim_stats *ds = &sj->dkim_res.stats;

        if (r == 0 && ds->added + ds->changed + ds->removed > 0)
            r = ks_jobs_ensure(s, kw_job_dkim.name, "all", o.now, 1, o.now,
                               &j->d);
    }
    if (r == 0 && sj->dnssec_on) {
        size_t i;

        kw_dnssec_scan_result_free(&sj->dnssec_res);
        r = kw_dnssec_scan(s, &sj->dnssec, kw_dnssec_discover(&sj->dnssec),
                           o.now, &sj->dnssec_res, &j->d);
        for (i = 0; r == 0 && i < sj->dnssec_res.nnotes; i++)
            kw_warn("dnssec: %s", sj->dnssec_res.notes[i]);
    }
    /* A certificate renewed on disk makes an endpoint that still serves
     * the old one stale now, not at its next probe. */
    if (r == 0 && (sj->stats.objects_changed > 0 || sj->stats.objects_new > 0))
        r = ks_endpoint_recheck(s, kw_now(), &nstale, &j->d);
    return r;
}

static int64_t scan_next(kw_job *j, int64_t now)
{
    return kw_job_next_periodic(j, now, ((scan_job *)j)->interval);
}

static void scan_recorded(kw_job *j, ks_store *s)
{
    if (j->r == 0)
        kw_health_watch(s, kw_now());
}

static void scan_report(kw_job *j, const char *when)
{
    const ks_scan_stats *st = &((scan_job *)j)->stats;
    kw_metrics_counters *c = j->env->counters;

    if (j->r != 0) {
        kw_job_log_failure(j, when);
        return;
    }
    c->scans_total++;
    c->scan_errors_total += st->errors;
    c->scan_skipped_total += st->skipped;
    kw_notice("scan: %zu files (%zu read), %zu certificates; %zu new, "
              "%zu changed, %zu missing, %zu broken; next at %s",
              st->files, st->parsed, st->certs, st->objects_new,
              st->objects_changed, st->missing, st->errors, when);
    /* The signers' files to watch: what this scan read, or nothing when
     * DKIM is off. */
    kw_job_keys_free(&j->env->dkim_files);
    if (((scan_job *)j)->dkim_on) {
        kw_dkim_scan_result *dr = &((scan_job *)j)->dkim_res;

        j->env->dkim_files.v = dr->watch;
        j->env->dkim_files.n = j->env->dkim_files.cap = dr->nwatch;
        dr->watch = NULL;
        dr->nwatch = 0;

        kw_notice("scan: dkim: %zu selectors (%zu signing, %zu published, "
                  "%zu orphan); %zu new, %zu changed, %zu gone, %zu keys "
                  "unreadable",
                  dr->stats.selectors, dr->signing, dr->published,
                  dr->orphans, dr->stats.added, dr->stats.changed,
                  dr->stats.removed, dr->unreadable);
    }
    if (((scan_job *)j)->dnssec_on) {
        kw_dnssec_scan_result *nr = &((scan_job *)j)->dnssec_res;
        kw_job_keys *w = &j->env->dkim_files;
        size_t i;

        for (i = 0; i < nr->nwatch; i++)
            if (kw_job_keys_add(w, nr->watch[i]) != 0)
                kw_warn("scan: dnssec: out of memory: %s is not watched",
                        nr->watch[i]);
        kw_notice("scan: dnssec: %zu zones, %zu keys; %zu new, %zu "
                  "changed, %zu gone, %zu kept (their signer could not be "
                  "read)",
                  nr->stats.zones, nr->stats.keys, nr->stats.added,
                  nr->stats.changed, nr->stats.removed, nr->stats.kept);
    }
    j->env->scanned(j->env->ctx);
}

static void scan_release(kw_job *j)
{
    scan_job *sj = (scan_job *)j;

    kw_dkim_params_free(&sj->dkim);
    free(sj->config_file);
    kw_dkim_scan_result_free(&sj->dkim_res);
    kw_dnssec_params_free(&sj->dnssec);
    kw_dnssec_scan_result_free(&sj->dnssec_res);
    kw_job_keys_free(&((scan_job *)j)->paths);
}

const kw_job_type kw_job_scan = {
    .name = "scan",
    .size = sizeof(scan_job),
    .retry_base = 60,
    .retry_cap = 6 * KW_HOUR,
    .keys = scan_keys,
    .first_delay = 0,
    .pull_forward = 1,
    .start = scan_start,
    .work = scan_work,
    .next_run = scan_next,
    .recorded = scan_recorded,
    .report = scan_report,
    .release = scan_release,
};
