#include "hooks.h"

#include "../common/kw_json.h"
#include "../common/kw_log.h"
#include "../common/kw_str.h"
#include "../common/kw_time.h"
#include "../keystore/ks_watch.h"

#include <stdio.h>
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

const char *kw_hook_action_text(const kw_hook_def *h, char *buf, size_t cap)
{
    if (h->reload != KW_RELOAD_NONE)
        snprintf(buf, cap, "reload %s%s%s", kw_reload_word(h->reload),
                 h->reload_config != NULL ? " -c " : "",
                 h->reload_config != NULL ? h->reload_config : "");
    else
        snprintf(buf, cap, "%s%s", h->shell ? "sh -c " : "",
                 h->run_line != NULL ? h->run_line : "?");
    return buf;
}

static json_t *strv(char *const *v, size_t n)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; a != NULL && i < n; i++)
        kw_json_append(a, kw_json_str(v[i]));
    return a;
}

json_t *kw_hook_def_json(const kw_hook_def *h, const kw_hook_summary *sum)
{
    char act[600];

    kw_hook_action_text(h, act, sizeof(act));
    return json_pack(
        "{s:o, s:o, s:o, s:o, s:o, s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:I, "
        "s:o, s:I, s:i, s:I, s:I}",
        "name", kw_json_str(h->name), "on", strv(h->on, h->non), "objects",
        strv(h->objects, h->nobjects), "kinds", strv(h->kinds, h->nkinds),
        "action", kw_json_str(act), "reload", kw_reload_word(h->reload),
        "last_result",
        kw_json_str(sum->last_result[0] ? sum->last_result : NULL),
        "pending", (json_int_t)sum->pending, "failed",
        (json_int_t)sum->failed, "runs_ok", (json_int_t)sum->runs_ok,
        "runs_failed", (json_int_t)sum->runs_failed, "last_run_at",
        (json_int_t)sum->last_run_at, "last_ok_at",
        (json_int_t)sum->last_ok_at, "user", kw_json_str(h->user), "timeout",
        (json_int_t)h->timeout, "retry", h->retries, "retry_delay",
        (json_int_t)h->retry_delay, "coalesce", (json_int_t)h->coalesce);
}

json_t *kw_hook_run_json(const kw_hook_run_row *r)
{
    char when[32];
    json_t *ev = json_loads(r->events, 0, NULL);

    kw_time_rfc3339(r->started_at, when, sizeof(when));
    return json_pack(
        "{s:I, s:o, s:s, s:I, s:I, s:i, s:o, s:o, s:o, s:s, s:o, s:o, "
        "s:I, s:o, s:o, s:o, s:b}",
        "id", (json_int_t)r->id, "hook", kw_json_str(r->hook), "time", when,
        "started_at", (json_int_t)r->started_at, "finished_at",
        (json_int_t)r->finished_at, "attempt", r->attempt, "events",
        ev != NULL ? ev : json_array(), "event_type",
        kw_json_str(r->event_type[0] ? r->event_type : NULL), "object",
        kw_json_path(r->object[0] ? r->object : NULL), "result", r->result,
        "exit_status",
        r->exit_status >= 0 ? json_integer(r->exit_status) : json_null(),
        "signal", r->signal > 0 ? json_integer(r->signal) : json_null(),
        "duration_ms", (json_int_t)r->duration_ms, "last_line",
        kw_json_str(r->last_line), "error",
        kw_json_str(r->error[0] ? r->error : NULL), "output",
        kw_json_str(r->output), "test", r->test);
}

static int doc_run(void *ctx, const kw_hook_run_row *r)
{
    return kw_json_append(ctx, kw_hook_run_json(r)) != 0;
}

int kw_hooks_document(ks_store *s, const kw_config *conf, int limit,
                      json_t **out, kw_diag *d)
{
    json_t *hooks = json_array(), *runs = json_array();
    size_t i;
    int r = 0;

    *out = NULL;
    for (i = 0; conf != NULL && i < conf->nhooks && r == 0; i++) {
        kw_hook_summary sum;

        memset(&sum, 0, sizeof(sum));
        r = kw_hook_summary_get(s, conf->hooks[i].name, &sum, d);
        if (r == 0 &&
            kw_json_append(hooks, kw_hook_def_json(&conf->hooks[i], &sum)) !=
                0)
            r = kw_diag_set(d, KW_ENOMEM, "out of memory");
    }
    if (r == 0 && (r = kw_hook_history(s, NULL, limit, doc_run, runs, d)) > 0)
        r = kw_diag_set(d, KW_ENOMEM, "out of memory");
    if (r == 0 && hooks != NULL && runs != NULL)
        *out = json_pack("{s:o, s:o}", "hooks", hooks, "runs", runs);
    else {
        json_decref(hooks);
        json_decref(runs);
    }
    if (r == 0 && *out == NULL)
        r = kw_diag_set(d, KW_ENOMEM, "out of memory");
    return r;
}
