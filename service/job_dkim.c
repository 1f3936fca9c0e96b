/*
 * job_dkim.c: the "dkim" job (key "all"): the DNS check of every DKIM
 * selector in the inventory (dkim/dkim_check.h), run on the pool, each
 * selector's findings written to its object; then the health watch, so a
 * record that stopped matching becomes health.changed (beside the
 * check's own dkim.dns_mismatch) and a hook pages someone.
 *
 * Every [dkim] interval (default 1 h); within 5 minutes when DNS did not
 * answer (health unknown), as a failed probe is.  A scan that changed
 * the selectors (a signer's files changed: the daemon watches them)
 * makes it due at once (job_scan.c), so the check always reads the
 * selectors the scan has just recorded.  The plan never pulls it
 * forward by itself: a reload or a certificate renewed on disk is no
 * reason to ask DNS again.
 */
#include "hooks.h"
#include "job.h"

#include "../common/kw_log.h"
#include "../common/kw_time.h"
#include "../dkim/dkim_check.h"
#include "../probe/discover.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* DNS that did not answer is asked again this soon. */
#define DKIM_UNKNOWN_AGAIN (5 * KW_MINUTE)

typedef struct dkim_job {
    kw_job job;
    kw_dkim_params p;        /* a copy: a reload cannot pull it away */
    kw_dkim_report *report;
    char outbound_from[1400]; /* where the SPF addresses came from */
    size_t selectors, domains;
    ks_health worst;
    size_t unknown; /* selectors something was not heard about */
    int off;                 /* neither [dkim] nor discovery: nothing */
} dkim_job;

/* Planned with [dkim] or discovery: a daemon that finds no signer pays a
 * read of an empty table per interval. */
static int dkim_keys(const kw_config *c, kw_job_keys *out)
{
    if (c->dkim.configured || c->discover)
        return kw_job_keys_add(out, "all");
    return 0;
}

int kw_job_dkim_outbound(kw_dkim_params *p, const char *postfix_dir,
                         char *from, size_t cap)
{
    kw_outbound *o;
    size_t i, len = 0;
    kw_diag d;
    int r;

    from[0] = '\0';
    if (p->noutbound > 0) {
        for (i = 0; i < p->noutbound && len < cap; i++)
            len += (size_t)snprintf(from + len, cap - len, "%s%s",
                                    i > 0 ? ", " : "", p->outbound[i]);
        if (len < cap)
            snprintf(from + len, cap - len, " ([dkim] outbound)");
        return 0;
    }
    /* About 13 KiB: not for a pool thread's stack. */
    if ((o = malloc(sizeof(*o))) == NULL)
        return KW_ENOMEM;
    r = kw_discover_outbound(postfix_dir, o, &d);
    if (r == KW_ENOMEM) {
        free(o);
        return r;
    }
    if (r == KW_ENOENT)
        snprintf(from, cap, "none ([dkim] outbound is not set and there is "
                            "no %s: %s)",
                 o->main_cf,
                 access("/usr/sbin/postfix", X_OK) == 0
                     ? "Postfix is installed but has no main.cf there; "
                       "set [dkim] outbound, or give dkim check --postfix "
                       "DIR"
                     : "Postfix is not installed here");
    else if (r != 0)
        snprintf(from, cap, "none ([dkim] outbound is not set and Postfix's "
                            "main.cf cannot be read: %s)",
                 d.msg);
    else if (o->n == 0)
        snprintf(from, cap, "none ([dkim] outbound is not set; %s)",
                 o->note);
    if (r != 0 || o->n == 0) {
        free(o);
        return 0;
    }
    if ((p->outbound = calloc(o->n, sizeof(char *))) == NULL) {
        free(o);
        return KW_ENOMEM;
    }
    for (i = 0; i < o->n; i++) {
        if ((p->outbound[i] = strdup(o->a[i].addr)) == NULL) {
            free(o);
            return KW_ENOMEM; /* kw_dkim_params_free frees those made */
        }
        p->noutbound++;
        if (len < cap)
            len += (size_t)snprintf(from + len, cap - len, "%s%s (%s:%d %s)",
                                    i > 0 ? ", " : "", o->a[i].addr,
                                    o->main_cf, o->a[i].line, o->a[i].param);
    }
    if (o->note[0] != '\0' && len < cap)
        snprintf(from + len, cap - len, "; %s", o->note);
    free(o);
    return 0;
}

static int dkim_start(kw_job *j)
{
    dkim_job *dj = (dkim_job *)j;
    const kw_config *c = j->env->conf;

    /* Left the configuration, or asked for by run-job without it: the job
     * ends here (a skipped job would stay running until a restart). */
    if (!c->dkim.configured && !c->discover) {
        dj->off = 1;
        return KW_JOB_RUN_NOW;
    }
    if (kw_dkim_params_copy(&dj->p, &c->dkim) != 0)
        return KW_ENOMEM;
    /* Borrowed from the running configuration, which a reload frees; the
     * check does not need it. */
    dj->p.config_file = NULL;
    return KW_JOB_RUN_NOW;
}

static int dkim_work(kw_job *j, ks_store *s)
{
    dkim_job *dj = (dkim_job *)j;
    int r;

    if (dj->off)
        return 0;
    if (kw_job_dkim_outbound(&dj->p, NULL, dj->outbound_from,
                             sizeof(dj->outbound_from)) != 0)
        return kw_diag_set(&j->d, KW_ENOMEM, "out of memory");
    r = kw_dkim_check_run(s, &dj->p, NULL, 0, kw_now(), &dj->report, &j->d);
    if (r == 0 && dj->report != NULL) {
        kw_dkim_report_summary(dj->report, &dj->selectors, &dj->domains,
                               &dj->worst);
        dj->unknown = kw_dkim_report_unknown(dj->report);
    }
    return r;
}

int64_t kw_job_dkim_every(int64_t interval, size_t unknown)
{
    return unknown > 0 && interval > DKIM_UNKNOWN_AGAIN ? DKIM_UNKNOWN_AGAIN
                                                        : interval;
}

static int64_t dkim_next(kw_job *j, int64_t now)
{
    dkim_job *dj = (dkim_job *)j;
    int64_t every = dj->p.interval > 0 ? dj->p.interval : KW_HOUR;

    if (dj->off)
        return 0; /* done: a plan with [dkim] makes it again */
    if (j->r == 0)
        every = kw_job_dkim_every(every, dj->unknown);
    return kw_job_next_periodic(j, now, every);
}

/* The findings are written: their health changes become events now, not
 * at the next scan. */
static void dkim_recorded(kw_job *j, ks_store *s)
{
    if (j->r == 0 && !((dkim_job *)j)->off)
        kw_health_watch(s, kw_now());
}

static void dkim_report(kw_job *j, const char *when)
{
    dkim_job *dj = (dkim_job *)j;
    kw_metrics_counters *c = j->env->counters;

    if (j->r != 0) {
        kw_job_log_failure(j, when);
        return;
    }
    if (dj->off) {
        kw_notice("dkim: no [dkim] section and no discovery: no DKIM "
                  "selector to check");
        return;
    }
    kw_info("dkim: outbound addresses for SPF: %s", dj->outbound_from);
    c->dkim_checked_at = kw_now();
    c->dkim_selectors = dj->selectors;
    if (dj->selectors == 0)
        kw_info("dkim: no selector in the inventory to check; next at %s",
                when);
    else if (dj->worst == KS_HEALTH_OK)
        kw_notice("dkim: %zu selector%s of %zu domain%s checked, all ok; "
                  "next at %s",
                  dj->selectors, dj->selectors == 1 ? "" : "s", dj->domains,
                  dj->domains == 1 ? "" : "s", when);
    else
        kw_warn("dkim: %zu selector%s of %zu domain%s checked, the worst "
                "%s (keywarden dkim check says why); next at %s",
                dj->selectors, dj->selectors == 1 ? "" : "s", dj->domains,
                dj->domains == 1 ? "" : "s", ks_health_word(dj->worst),
                when);
}

static void dkim_release(kw_job *j)
{
    dkim_job *dj = (dkim_job *)j;

    kw_dkim_params_free(&dj->p);
    if (dj->report != NULL)
        kw_dkim_report_free(dj->report);
}

const kw_job_type kw_job_dkim = {
    .name = "dkim",
    .size = sizeof(dkim_job),
    .retry_base = 60,
    .retry_cap = 6 * KW_HOUR,
    .keys = dkim_keys,
    /* A new row waits for the first scan, which makes it due as soon as
     * it has recorded the selectors. */
    .first_delay = 60,
    .pull_forward = 0,
    .drop_unlisted = 1,
    .start = dkim_start,
    .work = dkim_work,
    .next_run = dkim_next,
    .recorded = dkim_recorded,
    .report = dkim_report,
    .release = dkim_release,
};
