#include "hooks.h"

#include "../common/kw_log.h"
#include "../common/kw_str.h"
#include "../keystore/ks_watch.h"

#include <string.h>

void kw_hooks_opts(const kw_config *conf, const char *state_dir,
                   const char *db_path, uv_loop_t *loop, char *certs_dir,
                   size_t cap, kw_hook_engine_opts *o)
{
    memset(o, 0, sizeof(*o));
    kw_config_certs_dir(conf, state_dir, certs_dir, cap);
    o->loop = loop;
    o->db_path = db_path;
    o->defs = conf->hooks;
    o->ndefs = conf->nhooks;
    o->certs_dir = certs_dir;
}

void kw_hooks_log_report(const kw_hook_report *r)
{
    if (strcmp(r->result, "ok") == 0) {
        kw_notice("hook %s: ok in %.2fs for %s %s%s", r->hook, r->duration_s,
                  r->event_type != NULL ? r->event_type : "?",
                  r->object != NULL ? r->object : "",
                  r->nevents > 1 ? " (and earlier events, coalesced)" : "");
        return;
    }
    kw_err("hook %s: %s (attempt %d) for %s %s: %s%s", r->hook, r->result,
           r->attempt, r->event_type != NULL ? r->event_type : "?",
           r->object != NULL ? r->object : "",
           r->last_line != NULL && *r->last_line ? r->last_line
                                                  : "(no output)",
           r->gave_up ? "; retries spent: the delivery has FAILED "
                        "(keywarden hooks history; keywarden hooks retry)"
                      : "; it will be retried");
}

void kw_health_watch(ks_store *s, int64_t now)
{
    ks_thresholds t;
    size_t n = 0;
    kw_diag d;

    ks_thresholds_default(&t);
    if (ks_watch_health(s, now, &t, &n, &d) != 0)
        kw_warn("health watch: %s", d.msg);
    else if (n > 0)
        kw_info("health watch: %zu event%s", n, n == 1 ? "" : "s");
}

typedef struct now_run {
    kw_hook_engine *e;
    FILE *out;
    int failed, runs;
} now_run;

static void now_report(void *ctx, const kw_hook_report *r)
{
    now_run *n = ctx;

    n->runs++;
    if (strcmp(r->result, "ok") == 0) {
        kw_outf(n->out, "hook %s: ok (%.2fs) for %s %s%s\n", r->hook,
                r->duration_s, r->event_type != NULL ? r->event_type : "?",
                r->object != NULL ? r->object : "",
                r->nevents > 1 ? " and earlier events" : "");
        return;
    }
    n->failed++;
    kw_outf(n->out, "hook %s: FAILED (%s, attempt %d) for %s %s: %s; %s\n",
            r->hook, r->result, r->attempt,
            r->event_type != NULL ? r->event_type : "?",
            r->object != NULL ? r->object : "",
            r->last_line != NULL && *r->last_line ? r->last_line
                                                  : "(no output)",
            r->gave_up ? "retries spent (keywarden hooks retry)"
                       : "keywarden serve or the next `keywarden hooks "
                         "run` retries it");
}

static void now_idle(void *ctx)
{
    now_run *n = ctx;

    /* A pass or a record that failed (logged) is a failure too: the
     * command must not exit 0 with nothing delivered. */
    n->failed += kw_hook_engine_errors(n->e);
    kw_hook_engine_free(n->e);
    n->e = NULL;
}

int kw_hooks_deliver_now(const kw_state *st, const kw_config *conf, FILE *out)
{
    kw_hook_engine_opts o;
    char certs_dir[PATH_MAX];
    uv_loop_t loop;
    now_run n;
    kw_diag d;

    memset(&n, 0, sizeof(n));
    n.out = out;
    /* Deadlines came closer since the last look: their cert.expiring
     * and health.changed events go out with this delivery, as serve's
     * would (a machine run from cron has no other watch). */
    {
        ks_store *s = NULL;

        if (ks_open(st->db_path, 0, &s, &d) != 0)
            kw_warn("health watch: %s", d.msg);
        else
            kw_health_watch(s, st->now);
        ks_close(s);
    }
    uv_loop_init(&loop);
    kw_hooks_opts(conf, st->state_dir, st->db_path, &loop, certs_dir,
                  sizeof(certs_dir), &o);
    o.now_all = 1;
    o.reclaim = 1; /* the caller holds the daemon lock */
    o.ctx = &n;
    o.on_report = now_report;
    o.on_idle = now_idle;
    if (kw_hook_engine_new(&o, &n.e, &d) != 0) {
        kw_err("hooks: %s", d.msg);
        uv_loop_close(&loop);
        return -1;
    }
    kw_hook_engine_kick(n.e);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        kw_warn("hooks: handles left open at exit");
    fflush(out);
    return n.failed;
}
