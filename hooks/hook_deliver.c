#include "hook_deliver.h"

#include "hook_outbox.h"

#include "../common/kw_fs.h"
#include "../common/kw_json.h"
#include "../common/kw_log.h"
#include "../common/kw_time.h"
#include "../keystore/ks_store.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Commands of one run: a reload = auto may reach three daemons, two
 * steps each. */
#define MAX_CMDS 8
#define MAX_TARGETS 3
/* Output kept per run, over all its commands. */
#define RUN_OUTPUT_MAX (64 * 1024)
/* The daemon looks at the outbox at least this often, for events other
 * processes wrote. */
#define IDLE_LOOK_MS 60000

typedef struct cmd {
    char **argv;        /* NULL for a signal step */
    int signal;
    char pidfile[512];
    const char *comm;
    const char *hint;   /* where to look when it fails in silence */
} cmd;

typedef struct run_s run_s;

typedef struct run_ids {
    uid_t uid;
    gid_t gid;
    char error[300]; /* the user or group does not exist */
} run_ids;

struct kw_hook_engine {
    uv_loop_t *loop;
    char *db_path;
    kw_hook_def *defs;
    size_t ndefs;
    char *certs_dir;
    int now_all, keep_unknown, reclaim;
    void *ctx;
    void (*on_report)(void *ctx, const kw_hook_report *r);
    void (*on_settled)(void *ctx, json_t *ev);
    void (*on_idle)(void *ctx);
    uv_timer_t *timer;
    int passing, pass_again, nruns, idle_told;
    int stopping;        /* read by passes on the pool: atomic access */
    int errors;          /* passes and records that failed */
    unsigned char *busy; /* per def: a run in flight */
};

struct run_s {
    kw_hook_engine *e;
    size_t def;
    kw_hook_batch batch;
    run_ids ids;
    cmd cmds[MAX_CMDS];
    size_t ncmds, at;
    char **env;
    char *stdin_json;
    char *output;
    size_t output_len, output_cap;
    char last_line[512];
    char error[512];
    const char *result;
    int exit_status, signal;
    int64_t started_at;
    uint64_t t0;
    double duration_s;
    /* recording, on the pool */
    uv_work_t req;
    int64_t run_id;
    int gave_up;
    json_t *settled;
    int r;
    kw_diag d;
    /* keywarden hooks test */
    int test;
    kw_hook_test_cb test_cb;
    void *test_ctx;
    kw_hook_result last_res;
};

typedef struct pass_req {
    uv_work_t req;
    kw_hook_engine *e;
    unsigned char *skip;
    kw_hook_batch *batches;
    run_ids *ids;
    kw_hook_target (*targets)[MAX_TARGETS];
    size_t *ntargets;
    json_t *settled;
    int64_t next_at;
    int has_next;
    size_t dropped, reclaimed;
    int reclaim;
    int r;
    kw_diag d;
} pass_req;

static void start_run(kw_hook_engine *e, run_s *run);
static void maybe_idle(kw_hook_engine *e);

/* ---- the environment ------------------------------------------------------------ */

static int env_add(char ***env, size_t *n, const char *k, const char *v)
{
    char **ne;
    size_t len;

    if (v == NULL)
        return 0;
    ne = realloc(*env, (*n + 2) * sizeof(*ne));
    if (ne == NULL)
        return -1;
    *env = ne;
    len = strlen(k) + strlen(v) + 2;
    if ((ne[*n] = malloc(len)) == NULL)
        return -1;
    snprintf(ne[*n], len, "%s=%s", k, v);
    ne[++*n] = NULL;
    return 0;
}

/* A path from the event document (kw_json_path's form), as the bytes it
 * names: hooks get names verbatim in the environment. */
static int env_add_path(char ***env, size_t *n, const char *k,
                        const json_t *v)
{
    char *bytes;
    int r;

    /* Absent, or not a path at all (a hand-edited event): no variable. */
    if (!json_is_string(v) && !json_is_object(v))
        return 0;
    if ((bytes = kw_json_path_bytes(v)) == NULL)
        return -1;
    r = env_add(env, n, k, bytes);
    free(bytes);
    return r;
}

void kw_hook_env_free(char **env)
{
    size_t i;

    for (i = 0; env != NULL && env[i] != NULL; i++)
        free(env[i]);
    free(env);
}

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

char **kw_hook_env(const char *hook, json_t *events, int attempt)
{
    json_t *ev = json_array_get(events, json_array_size(events) - 1);
    json_t *paths = json_object_get(ev, "paths");
    json_t *names = json_object_get(ev, "names"), *detail;
    const char *type = jstr(ev, "type");
    char **env = calloc(1, sizeof(*env)), num[32], when[32], *list = NULL;
    size_t n = 0, i, len = 0;
    int bad = env == NULL;

    /* Names, space-separated as certbot's RENEWED_DOMAINS. */
    for (i = 0; i < json_array_size(names); i++)
        len += strlen(json_string_value(json_array_get(names, i))
                          ? json_string_value(json_array_get(names, i))
                          : "") +
               1;
    if ((list = calloc(1, len + 1)) == NULL)
        bad = 1;
    for (i = 0; list != NULL && i < json_array_size(names); i++) {
        const char *nm = json_string_value(json_array_get(names, i));

        if (nm == NULL)
            continue;
        if (*list)
            strcat(list, " ");
        strcat(list, nm);
    }
    bad |= env_add(&env, &n, "KEYWARDEN_HOOK", hook);
    bad |= env_add(&env, &n, "KEYWARDEN_EVENT", type);
    snprintf(num, sizeof(num), "%lld",
             (long long)json_integer_value(json_object_get(ev, "id")));
    bad |= env_add(&env, &n, "KEYWARDEN_EVENT_ID", num);
    snprintf(num, sizeof(num), "%zu", json_array_size(events));
    bad |= env_add(&env, &n, "KEYWARDEN_EVENTS", num);
    snprintf(num, sizeof(num), "%d", attempt);
    bad |= env_add(&env, &n, "KEYWARDEN_ATTEMPT", num);
    bad |= env_add_path(&env, &n, "KEYWARDEN_OBJECT",
                         json_object_get(ev, "object"));
    bad |= env_add(&env, &n, "KEYWARDEN_KIND", jstr(ev, "kind"));
    if (list == NULL || json_array_size(names) == 0) {
        free(list);
        list = NULL;
    }
    bad |= env_add(&env, &n, "KEYWARDEN_NAMES", list);
    bad |= env_add_path(&env, &n, "KEYWARDEN_CERT_PATH",
                         json_object_get(paths, "cert"));
    bad |= env_add_path(&env, &n, "KEYWARDEN_KEY_PATH",
                         json_object_get(paths, "key"));
    bad |= env_add_path(&env, &n, "KEYWARDEN_FULLCHAIN_PATH",
                         json_object_get(paths, "fullchain"));
    bad |= env_add_path(&env, &n, "KEYWARDEN_CHAIN_PATH",
                         json_object_get(paths, "chain"));
    if (json_is_integer(json_object_get(ev, "not_after"))) {
        kw_time_rfc3339(json_integer_value(json_object_get(ev, "not_after")),
                        when, sizeof(when));
        bad |= env_add(&env, &n, "KEYWARDEN_NOT_AFTER", when);
    }
    bad |= env_add(&env, &n, "KEYWARDEN_FINGERPRINT",
                   jstr(ev, "fingerprint_sha256"));
    detail = json_object_get(ev, "detail");
    bad |= env_add(&env, &n, "KEYWARDEN_DKIM_SELECTOR",
                   jstr(detail, "selector"));
    bad |= env_add(&env, &n, "KEYWARDEN_DKIM_DOMAIN", jstr(detail, "domain"));
    /* certbot's deploy-hook variables, so existing hooks work as they
     * are. */
    if (type != NULL && (strcmp(type, "cert.renewed") == 0 ||
                         strcmp(type, "cert.rolled_back") == 0)) {
        bad |= env_add_path(&env, &n, "RENEWED_LINEAGE",
                             json_object_get(paths, "lineage"));
        if (list != NULL)
            bad |= env_add(&env, &n, "RENEWED_DOMAINS", list);
    }
    free(list);
    if (bad) {
        kw_hook_env_free(env);
        return NULL;
    }
    return env;
}

/* ---- commands of a run ----------------------------------------------------------- */

static char **argv_dup(const char *const *src)
{
    size_t n = 0, i;
    char **v;

    while (src[n] != NULL)
        n++;
    if ((v = calloc(n + 1, sizeof(*v))) == NULL)
        return NULL;
    for (i = 0; i < n; i++)
        if ((v[i] = strdup(src[i])) == NULL) {
            kw_hook_env_free(v);
            return NULL;
        }
    return v;
}

/* The plan does not fit in one run: run->error says so; -1. */
static int too_many(run_s *run)
{
    snprintf(run->error, sizeof(run->error),
             "hook %.200s: the events need more than %d reload commands "
             "in one run, so none are run; give each daemon a hook of its "
             "own (with config = its configuration)",
             run->e->defs[run->def].name, MAX_CMDS);
    return -1;
}

static int add_plan(run_s *run, kw_reload r, const char *config)
{
    kw_reload_plan p;
    int i;

    kw_reload_plan_make(r, config != NULL && *config ? config : NULL, &p);
    /* A daemon left out of the run would keep its old files while the
     * run says ok: the whole run fails instead, saying so. */
    if (run->ncmds + (size_t)p.nsteps > MAX_CMDS)
        return too_many(run);
    for (i = 0; i < p.nsteps; i++) {
        cmd *c;

        c = &run->cmds[run->ncmds];
        memset(c, 0, sizeof(*c));
        if (p.steps[i].signal != 0) {
            c->signal = p.steps[i].signal;
            c->comm = p.steps[i].comm;
            snprintf(c->pidfile, sizeof(c->pidfile), "%s",
                     p.steps[i].pidfile);
        } else if ((c->argv = argv_dup(p.steps[i].argv)) == NULL) {
            return -1;
        }
        c->hint = p.steps[i].hint;
        run->ncmds++;
    }
    return 0;
}

/* reload = opendkim without config =: each OpenDKIM whose files the
 * batch's events changed (a DKIM rotation's detail names its
 * opendkim.conf; a dual section's two tracks switch two instances), once
 * each, in the order first named; none named: Debian's default. */
static int plan_opendkim(run_s *run)
{
    const char *seen[MAX_CMDS];
    size_t i, n = 0, k;
    json_t *ev;

    json_array_foreach(run->batch.events, i, ev) {
        const char *c = json_string_value(json_object_get(
            json_object_get(ev, "detail"), "opendkim_conf"));

        if (c == NULL || c[0] != '/')
            continue;
        for (k = 0; k < n && strcmp(seen[k], c) != 0; k++)
            ;
        if (k < n)
            continue;
        if (n == MAX_CMDS)
            return too_many(run);
        seen[n++] = c;
        if (add_plan(run, KW_RELOAD_OPENDKIM, c) != 0)
            return -1;
    }
    return n > 0 ? 0 : add_plan(run, KW_RELOAD_OPENDKIM, NULL);
}

static int plan_run(run_s *run, const kw_hook_def *h,
                    const kw_hook_target *t, size_t nt)
{
    size_t i;

    if (h->nargv > 0 && h->shell) {
        const char *sh[] = {"/bin/sh", "-c", h->argv[0], NULL};

        run->cmds[0].argv = argv_dup(sh);
        run->ncmds = 1;
        return run->cmds[0].argv == NULL ? -1 : 0;
    }
    if (h->nargv > 0) {
        run->cmds[0].argv = argv_dup((const char *const *)h->argv);
        run->ncmds = 1;
        return run->cmds[0].argv == NULL ? -1 : 0;
    }
    if (h->reload == KW_RELOAD_OPENDKIM && h->reload_config == NULL)
        return plan_opendkim(run);
    if (h->reload != KW_RELOAD_AUTO)
        return add_plan(run, h->reload, h->reload_config);
    for (i = 0; i < nt; i++)
        if (add_plan(run, t[i].reload, t[i].config) != 0)
            return -1;
    return 0;
}

static void out_append(run_s *run, const char *p, size_t n)
{
    if (run->output_len + n + 1 > run->output_cap) {
        size_t cap = run->output_len + n + 1;
        char *o;

        if (cap > RUN_OUTPUT_MAX + 1) {
            if (run->output_len >= RUN_OUTPUT_MAX)
                return;
            n = RUN_OUTPUT_MAX - run->output_len;
            cap = RUN_OUTPUT_MAX + 1;
        }
        if ((o = realloc(run->output, cap)) == NULL)
            return;
        run->output = o;
        run->output_cap = cap;
    }
    memcpy(run->output + run->output_len, p, n);
    run->output_len += n;
    run->output[run->output_len] = '\0';
}

static void out_printf(run_s *run, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void out_printf(run_s *run, const char *fmt, ...)
{
    char buf[1200];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0)
        out_append(run, buf, (size_t)n < sizeof(buf) ? (size_t)n
                                                     : sizeof(buf) - 1);
}

/* ---- running ---------------------------------------------------------------------- */

static void finish_run(run_s *run);

/* A signal step: the pid from the pid file, checked against the process
 * name, then the signal.  Synchronous: it is two small reads. */
static void signal_step(run_s *run, const cmd *c)
{
    char path[64], comm[64];
    unsigned char *buf;
    size_t len;
    long pid;
    int fd;
    ssize_t n;
    kw_diag d;

    out_printf(run, "+ kill -%s $(cat %s)\n", sigabbrev_np(c->signal),
               c->pidfile);
    /* On the loop: a FIFO or a device named as the pid file must not
     * block it, and a huge file is not a pid file. */
    if (kw_fs_read_regular(c->pidfile, 64, &buf, &len, &d) != 0) {
        snprintf(run->error, sizeof(run->error),
                 "cannot reload %s: pid file %.400s", c->comm, d.msg);
        goto fail;
    }
    pid = strtol((const char *)buf, NULL, 10);
    free(buf);
    if (pid <= 1) {
        snprintf(run->error, sizeof(run->error),
                 "cannot reload %s: pid file %.300s holds no pid", c->comm,
                 c->pidfile);
        goto fail;
    }
    snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    n = fd >= 0 ? read(fd, comm, sizeof(comm) - 1) : -1;
    if (fd >= 0)
        close(fd);
    comm[n > 0 ? n : 0] = '\0';
    comm[strcspn(comm, "\n")] = '\0';
    if (n <= 0 || strcmp(comm, c->comm) != 0) {
        snprintf(run->error, sizeof(run->error),
                 "cannot reload %s: pid %ld from %.300s is %s, not %s (a "
                 "stale pid file?)",
                 c->comm, pid, c->pidfile, n <= 0 ? "not running" : comm,
                 c->comm);
        goto fail;
    }
    if (kill((pid_t)pid, c->signal) != 0) {
        snprintf(run->error, sizeof(run->error),
                 "cannot reload %s: kill %ld: %s", c->comm, pid,
                 strerror(errno));
        goto fail;
    }
    out_printf(run, "sent SIG%s to %s (pid %ld)\n",
               sigabbrev_np(c->signal), c->comm, pid);
    run->exit_status = 0;
    return;
fail:
    out_printf(run, "%s\n", run->error);
    run->result = "error";
    run->exit_status = -1;
}

static void next_cmd(run_s *run);

static void on_cmd_done(void *ctx, kw_hook_result *res)
{
    run_s *run = ctx;

    if (res->output_len > 0)
        out_append(run, res->output, res->output_len);
    if (res->output_len > 0 && res->output[res->output_len - 1] != '\n')
        out_append(run, "\n", 1);
    if (res->last_line[0] != '\0')
        snprintf(run->last_line, sizeof(run->last_line), "%s",
                 res->last_line);
    run->exit_status = res->exited ? res->exit_status : -1;
    run->signal = res->term_signal;
    if (res->error[0] != '\0') {
        snprintf(run->error, sizeof(run->error), "%s", res->error);
        out_printf(run, "%s\n", res->error);
    }
    /* A reason is never empty: a command that failed in silence says so,
     * and where a built-in's daemon reports instead. */
    if (res->last_line[0] == '\0' && res->error[0] == '\0' &&
        (!res->exited || res->exit_status != 0)) {
        const cmd *c = &run->cmds[run->at];

        if (res->exited)
            snprintf(run->last_line, sizeof(run->last_line),
                     "%s exited with status %d and printed nothing%s%s",
                     c->argv[0], res->exit_status, c->hint ? "; " : "",
                     c->hint ? c->hint : "");
        else
            snprintf(run->last_line, sizeof(run->last_line),
                     "%s was killed by signal %d%s", c->argv[0],
                     res->term_signal,
                     res->timed_out ? " at its timeout" : "");
        out_printf(run, "%s\n", run->last_line);
    }
    if (res->timed_out)
        run->result = "timeout";
    else if (!res->exited && res->term_signal == 0)
        run->result = "error";
    else if (!res->exited || res->exit_status != 0)
        run->result = "failed";
    run->last_res = *res;
    run->last_res.output = NULL;
    run->at++;
    if (run->result != NULL)
        finish_run(run);
    else
        next_cmd(run);
}

/* The user and group a hook drops to.  On the thread pool: the lookups
 * may ask a directory service (NSS), which must not stall the loop. */
static void ids_resolve(const kw_hook_def *h, run_ids *o)
{
    char buf[16384];
    struct passwd pw, *pwp = NULL;
    struct group gr, *grp = NULL;

    o->uid = (uid_t)-1;
    o->gid = (gid_t)-1;
    o->error[0] = '\0';
    if (h->user != NULL) {
        if (getpwnam_r(h->user, &pw, buf, sizeof(buf), &pwp) != 0 ||
            pwp == NULL) {
            snprintf(o->error, sizeof(o->error),
                     "hook %.100s: user %.100s: no such user", h->name,
                     h->user);
            return;
        }
        o->uid = pw.pw_uid;
        o->gid = pw.pw_gid;
    }
    if (h->group != NULL) {
        if (getgrnam_r(h->group, &gr, buf, sizeof(buf), &grp) != 0 ||
            grp == NULL) {
            snprintf(o->error, sizeof(o->error),
                     "hook %.100s: group %.100s: no such group", h->name,
                     h->group);
            return;
        }
        o->gid = gr.gr_gid;
    }
}

static void next_cmd(run_s *run)
{
    const kw_hook_def *h = &run->e->defs[run->def];
    kw_hook_spec sp;
    kw_diag d;
    const cmd *c;
    size_t i;

    if (run->at >= run->ncmds) {
        if (run->ncmds == 0)
            out_printf(run, "no daemon's configuration (as discovery read "
                            "it) uses these files; nothing to reload\n");
        run->result = "ok";
        finish_run(run);
        return;
    }
    c = &run->cmds[run->at];
    if (c->argv == NULL) {
        signal_step(run, c);
        run->at++;
        if (run->result != NULL)
            finish_run(run);
        else
            next_cmd(run);
        return;
    }
    memset(&sp, 0, sizeof(sp));
    sp.uid = run->ids.uid;
    sp.gid = run->ids.gid;
    if (run->ids.error[0] != '\0') {
        snprintf(run->error, sizeof(run->error), "%s", run->ids.error);
        out_printf(run, "%s\n", run->error);
        run->result = "error";
        finish_run(run);
        return;
    }
    out_printf(run, "+");
    for (i = 0; c->argv[i] != NULL; i++)
        out_printf(run, " %s", c->argv[i]);
    out_printf(run, "\n");
    sp.argv = (const char *const *)c->argv;
    sp.env = (const char *const *)run->env;
    sp.stdin_data = run->stdin_json;
    sp.stdin_len = run->stdin_json != NULL ? strlen(run->stdin_json) : 0;
    sp.timeout_ms = (h->timeout > 0 ? h->timeout : KW_HOOK_DEFAULT_TIMEOUT) *
                    1000;
    if (kw_hook_run(run->e->loop, &sp, on_cmd_done, run, &d) != 0) {
        snprintf(run->error, sizeof(run->error), "hook %.200s: %.300s",
                 h->name, d.msg);
        out_printf(run, "%s\n", run->error);
        run->result = "error";
        run->at++;
        finish_run(run);
    }
}

static void start_run(kw_hook_engine *e, run_s *run)
{
    const kw_hook_def *h = &e->defs[run->def];
    json_t *in;

    run->e = e;
    run->started_at = kw_now();
    run->t0 = uv_hrtime();
    run->exit_status = -1;
    e->busy[run->def] = 1;
    e->nruns++;
    run->env = kw_hook_env(h->name, run->batch.events,
                           run->batch.attempt > 0 ? run->batch.attempt : 1);
    in = json_pack("{s:s, s:i, s:b, s:O}", "hook", h->name, "attempt",
                   run->batch.attempt > 0 ? run->batch.attempt : 1, "test",
                   run->test, "events", run->batch.events);
    run->stdin_json = in != NULL ? json_dumps(in, JSON_INDENT(2) |
                                                       JSON_SORT_KEYS)
                                 : NULL;
    json_decref(in);
    if (run->env == NULL || run->stdin_json == NULL) {
        snprintf(run->error, sizeof(run->error), "hook %s: out of memory",
                 h->name);
        run->result = "error";
        finish_run(run);
        return;
    }
    kw_debug("hook %s: running for %zu event%s (attempt %d)", h->name,
             json_array_size(run->batch.events),
             json_array_size(run->batch.events) == 1 ? "" : "s",
             run->batch.attempt);
    next_cmd(run);
}

static void free_run(run_s *run)
{
    size_t i;

    for (i = 0; i < run->ncmds; i++)
        kw_hook_env_free(run->cmds[i].argv);
    kw_hook_env_free(run->env);
    free(run->stdin_json);
    free(run->output);
    json_decref(run->settled);
    kw_hook_batch_clear(&run->batch);
    free(run);
}

static void record_work(uv_work_t *req)
{
    run_s *run = req->data;
    kw_hook_engine *e = run->e;
    kw_hook_outcome o;
    ks_store *s = NULL;

    memset(&o, 0, sizeof(o));
    o.result = run->result;
    o.exit_status = run->exit_status;
    o.signal = run->signal;
    o.duration_ms = (int64_t)(run->duration_s * 1000.0);
    o.output = run->output;
    o.output_len = run->output_len;
    o.last_line = run->last_line[0] ? run->last_line : run->error;
    o.error = run->error;
    o.started_at = run->started_at;
    o.test = run->test;
    run->settled = json_array();
    run->r = ks_open(e->db_path, 0, &s, &run->d);
    if (run->r == 0)
        run->r = kw_hook_finish(s, &e->defs[run->def], &run->batch, &o,
                                kw_now(), &run->run_id, &run->gave_up,
                                run->settled, &run->d);
    ks_close(s);
}

static void record_done(uv_work_t *req, int status)
{
    run_s *run = req->data;
    kw_hook_engine *e = run->e;
    const kw_hook_def *h = &e->defs[run->def];
    json_t *newest = json_array_get(run->batch.events,
                                    json_array_size(run->batch.events) - 1);
    kw_hook_report rep;
    size_t i;

    memset(&rep, 0, sizeof(rep));
    rep.hook = h->name;
    rep.result = run->result;
    rep.attempt = run->batch.attempt > 0 ? run->batch.attempt : 1;
    rep.gave_up = run->gave_up;
    rep.nevents = json_array_size(run->batch.events);
    rep.event_type = jstr(newest, "type");
    rep.object = jstr(newest, "object");
    rep.last_line = run->last_line[0] ? run->last_line : run->error;
    rep.duration_s = run->duration_s;
    if (status != 0 || run->r != 0) {
        kw_err("hook %s: cannot record the run (%s); it will run again",
               h->name, run->r != 0 ? run->d.msg : uv_strerror(status));
        e->errors++;
        /* Nothing was settled: the rows are still running. */
        json_decref(run->settled);
        run->settled = NULL;
    }
    if (run->test) {
        if (run->test_cb != NULL)
            run->test_cb(run->test_ctx, &rep, &run->last_res,
                         (const char *const *)run->env, run->stdin_json);
    } else {
        if (e->on_report != NULL)
            e->on_report(e->ctx, &rep);
        for (i = 0; e->on_settled != NULL && i < json_array_size(run->settled);
             i++)
            e->on_settled(e->ctx, json_array_get(run->settled, i));
    }
    e->busy[run->def] = 0;
    e->nruns--;
    /* A test delivers nothing: it must not start real deliveries. */
    if (!e->stopping && !run->test)
        kw_hook_engine_kick(e);
    free_run(run);
    maybe_idle(e);
}

static void finish_run(run_s *run)
{
    kw_hook_engine *e = run->e;
    int r;

    run->duration_s = (double)(uv_hrtime() - run->t0) / 1e9;
    if (run->last_line[0] == '\0' && run->error[0] != '\0')
        snprintf(run->last_line, sizeof(run->last_line), "%s", run->error);
    run->req.data = run;
    r = uv_queue_work(e->loop, &run->req, record_work, record_done);
    if (r != 0) {
        /* The deliveries stay leased and run again once the lease ends. */
        kw_err("hook %s: cannot record the run: %s",
               e->defs[run->def].name, uv_strerror(r));
        e->errors++;
        e->busy[run->def] = 0;
        e->nruns--;
        free_run(run);
        maybe_idle(e);
    }
}

/* ---- passes ------------------------------------------------------------------------ */

static int64_t lease_of(const kw_hook_def *h)
{
    int64_t t = h->timeout > 0 ? h->timeout : KW_HOOK_DEFAULT_TIMEOUT;

    /* Every command of the longest run, each killed 2 s after its timeout,
     * plus slack for recording. */
    return (t + 3) * MAX_CMDS + 60;
}

static void pass_work(uv_work_t *req)
{
    pass_req *p = req->data;
    kw_hook_engine *e = p->e;
    ks_store *s = NULL;
    int64_t now = kw_now();
    size_t queued = 0, i;

    p->settled = json_array();
    p->r = ks_open(e->db_path, 0, &s, &p->d);
    if (p->r == 0 && p->reclaim)
        p->r = kw_hook_reclaim(s, &p->reclaimed, &p->d);
    if (p->r == 0)
        p->r = kw_hook_dispatch(s, e->defs, e->ndefs, now, &queued,
                                p->settled, &p->d);
    if (p->r == 0 && !e->keep_unknown &&
        !__atomic_load_n(&e->stopping, __ATOMIC_ACQUIRE))
        p->r = kw_hook_drop_unknown(s, e->defs, e->ndefs, now, &p->dropped,
                                    &p->d);
    for (i = 0; p->r == 0 && i < e->ndefs; i++) {
        int64_t at;
        int has;

        /* A retired engine (a reload, a stop) claims nothing more: the
         * new configuration's engine owns what is pending. */
        if (p->skip[i] || __atomic_load_n(&e->stopping, __ATOMIC_ACQUIRE))
            continue;
        p->r = kw_hook_claim(s, &e->defs[i], now, e->now_all,
                             now + lease_of(&e->defs[i]), e->certs_dir,
                             &p->batches[i], &p->d);
        if (p->r == 0 && p->batches[i].nrows > 0)
            ids_resolve(&e->defs[i], &p->ids[i]);
        if (p->r == 0 && p->batches[i].nrows > 0 &&
            e->defs[i].reload == KW_RELOAD_AUTO)
            p->r = kw_hook_auto_targets(s, p->batches[i].events,
                                        p->targets[i], MAX_TARGETS,
                                        &p->ntargets[i], &p->d);
        if (p->r == 0 && p->batches[i].nrows == 0)
            p->r = kw_hook_next_due(s, e->defs[i].name, &at, &has, &p->d);
        else
            has = 0;
        if (p->r == 0 && has && (!p->has_next || at < p->next_at)) {
            p->next_at = at;
            p->has_next = 1;
        }
    }
    ks_close(s);
}

static void free_pass(pass_req *p)
{
    size_t i;

    for (i = 0; p->batches != NULL && i < p->e->ndefs; i++)
        kw_hook_batch_clear(&p->batches[i]);
    free(p->batches);
    free(p->ids);
    free(p->targets);
    free(p->ntargets);
    free(p->skip);
    json_decref(p->settled);
    free(p);
}

static void on_timer(uv_timer_t *t)
{
    kw_hook_engine_kick(t->data);
}

static void pass_done(uv_work_t *req, int status)
{
    pass_req *p = req->data;
    kw_hook_engine *e = p->e;
    size_t i, started = 0;

    e->passing = 0;
    if (status != 0) {
        /* The work never ran: nothing was claimed. */
        kw_err("hooks: %s", uv_strerror(status));
        e->errors++;
        if (!e->stopping && !e->now_all)
            uv_timer_start(e->timer, on_timer, 5000, 0);
        free_pass(p);
        maybe_idle(e);
        return;
    }
    if (p->r != 0) {
        /* What the pass claimed and settled before the error still runs
         * and is verified (a claimed batch dropped here would wait for
         * its lease); the rest is looked at again in 5 s. */
        kw_err("hooks: %s; trying again in 5 s", p->d.msg);
        e->errors++;
        p->has_next = 1;
        p->next_at = kw_now() + 5;
    }
    if (p->reclaimed > 0)
        kw_notice("hooks: %zu deliveries were interrupted by the last stop; "
                  "they run again now",
                  p->reclaimed);
    if (p->dropped > 0)
        kw_notice("hooks: %zu deliveries closed: their hook left the "
                  "configuration",
                  p->dropped);
    for (i = 0; e->on_settled != NULL && i < json_array_size(p->settled); i++)
        e->on_settled(e->ctx, json_array_get(p->settled, i));
    for (i = 0; i < e->ndefs; i++) {
        run_s *run;

        if (p->batches[i].nrows == 0)
            continue;
        run = calloc(1, sizeof(*run));
        if (run == NULL) {
            kw_err("hook %s: out of memory; the deliveries run again later",
                   e->defs[i].name);
            continue;
        }
        run->def = i;
        run->batch = p->batches[i];
        run->ids = p->ids[i];
        memset(&p->batches[i], 0, sizeof(p->batches[i]));
        run->e = e;
        if (plan_run(run, &e->defs[i], p->targets[i], p->ntargets[i]) != 0) {
            if (run->error[0] == '\0')
                snprintf(run->error, sizeof(run->error), "out of memory");
            run->result = "error";
            e->busy[i] = 1;
            e->nruns++;
            run->t0 = uv_hrtime();
            run->started_at = kw_now();
            finish_run(run);
            continue;
        }
        for (size_t k = 0; k < p->ntargets[i]; k++)
            out_printf(run, "reload = auto: %s\n", p->targets[i][k].why);
        start_run(e, run);
        started++;
    }
    if (!e->stopping && !e->now_all) {
        int64_t wait_ms = IDLE_LOOK_MS;

        if (p->has_next) {
            int64_t w = (p->next_at - kw_now()) * 1000;
            if (w < wait_ms)
                wait_ms = w < 0 ? 0 : w;
        }
        uv_timer_start(e->timer, on_timer, (uint64_t)wait_ms, 0);
    }
    free_pass(p);
    if (e->pass_again && !e->stopping) {
        e->pass_again = 0;
        kw_hook_engine_kick(e);
    }
    maybe_idle(e);
}

void kw_hook_engine_kick(kw_hook_engine *e)
{
    pass_req *p;

    if (e->stopping)
        return;
    if (e->passing) {
        e->pass_again = 1;
        return;
    }
    e->idle_told = 0;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        goto oom;
    p->e = e;
    p->req.data = p;
    p->skip = calloc(e->ndefs + 1, 1);
    p->batches = calloc(e->ndefs + 1, sizeof(*p->batches));
    p->ids = calloc(e->ndefs + 1, sizeof(*p->ids));
    p->targets = calloc(e->ndefs + 1, sizeof(*p->targets));
    p->ntargets = calloc(e->ndefs + 1, sizeof(*p->ntargets));
    if (p->skip == NULL || p->batches == NULL || p->ids == NULL ||
        p->targets == NULL || p->ntargets == NULL)
        goto oom;
    memcpy(p->skip, e->busy, e->ndefs);
    p->reclaim = e->reclaim;
    e->reclaim = 0;
    if (uv_queue_work(e->loop, &p->req, pass_work, pass_done) != 0)
        goto oom;
    e->passing = 1;
    return;
oom:
    kw_err("hooks: cannot start a delivery pass");
    e->errors++;
    if (p != NULL)
        free_pass(p);
    if (!e->now_all)
        uv_timer_start(e->timer, on_timer, 5000, 0);
}

static void maybe_idle(kw_hook_engine *e)
{
    if (e->passing || e->nruns > 0 || e->idle_told)
        return;
    if (!e->stopping && !e->now_all)
        return;
    e->idle_told = 1;
    if (e->on_idle != NULL)
        e->on_idle(e->ctx);
}

int kw_hook_engine_errors(const kw_hook_engine *e)
{
    return e->errors;
}

int kw_hook_engine_busy(const kw_hook_engine *e)
{
    return e->passing + e->nruns;
}

void kw_hook_engine_stop(kw_hook_engine *e)
{
    __atomic_store_n(&e->stopping, 1, __ATOMIC_RELEASE);
    uv_timer_stop(e->timer);
    maybe_idle(e);
}

int kw_hook_engine_new(const kw_hook_engine_opts *o, kw_hook_engine **out,
                       kw_diag *d)
{
    kw_hook_engine *e = calloc(1, sizeof(*e));
    size_t i;

    *out = NULL;
    if (e == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    e->loop = o->loop;
    e->now_all = o->now_all;
    e->keep_unknown = o->keep_unknown;
    e->reclaim = o->reclaim;
    e->ctx = o->ctx;
    e->on_report = o->on_report;
    e->on_settled = o->on_settled;
    e->on_idle = o->on_idle;
    e->db_path = strdup(o->db_path);
    e->certs_dir = o->certs_dir != NULL ? strdup(o->certs_dir) : NULL;
    e->defs = calloc(o->ndefs + 1, sizeof(*e->defs));
    e->busy = calloc(o->ndefs + 1, 1);
    e->timer = malloc(sizeof(*e->timer));
    if (e->db_path == NULL || (o->certs_dir != NULL && e->certs_dir == NULL) ||
        e->defs == NULL || e->busy == NULL || e->timer == NULL)
        goto oom;
    for (i = 0; i < o->ndefs; i++) {
        if (kw_hook_def_copy(&e->defs[i], &o->defs[i]) != 0)
            goto oom;
        e->ndefs++;
    }
    uv_timer_init(e->loop, e->timer);
    e->timer->data = e;
    *out = e;
    return 0;
oom:
    free(e->timer);
    e->timer = NULL;
    kw_hook_engine_free(e);
    return kw_diag_set(d, KW_ENOMEM, "out of memory");
}

static void free_timer(uv_handle_t *h)
{
    free(h);
}

void kw_hook_engine_free(kw_hook_engine *e)
{
    size_t i;

    if (e == NULL)
        return;
    if (e->timer != NULL)
        uv_close((uv_handle_t *)e->timer, free_timer);
    for (i = 0; i < e->ndefs; i++)
        kw_hook_def_free(&e->defs[i]);
    free(e->defs);
    free(e->busy);
    free(e->db_path);
    free(e->certs_dir);
    free(e);
}

/* ---- keywarden hooks test -------------------------------------------------------- */

int kw_hook_engine_test(kw_hook_engine *e, const char *hook, json_t *event,
                        kw_hook_test_cb cb, void *ctx, kw_diag *d)
{
    kw_hook_target t[MAX_TARGETS];
    size_t i, nt = 0;
    run_s *run;
    int r;

    for (i = 0; i < e->ndefs; i++)
        if (strcmp(e->defs[i].name, hook) == 0)
            break;
    if (i == e->ndefs)
        return kw_diag_set(d, KW_ENOTFOUND, "no [hook \"%s\"] in the "
                                            "configuration",
                           hook);
    if (e->busy[i])
        return kw_diag_set(d, KW_EBUSY, "hook %s is running", hook);
    if ((run = calloc(1, sizeof(*run))) == NULL ||
        (run->batch.events = json_array()) == NULL ||
        json_array_append(run->batch.events, event) != 0) {
        if (run != NULL)
            json_decref(run->batch.events);
        free(run);
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    }
    run->def = i;
    run->batch.attempt = 1;
    run->test = 1;
    /* The command line waits for the test anyway. */
    ids_resolve(&e->defs[i], &run->ids);
    run->test_cb = cb;
    run->test_ctx = ctx;
    run->e = e;
    if (e->defs[i].reload == KW_RELOAD_AUTO) {
        ks_store *s = NULL;

        r = ks_open(e->db_path, 0, &s, d);
        if (r == 0)
            r = kw_hook_auto_targets(s, run->batch.events, t, MAX_TARGETS,
                                     &nt, d);
        ks_close(s);
        if (r != 0) {
            free_run(run);
            return r;
        }
    }
    if (plan_run(run, &e->defs[i], t, nt) != 0) {
        r = run->error[0] != '\0'
                ? kw_diag_set(d, KW_EINVAL, "%s", run->error)
                : kw_diag_set(d, KW_ENOMEM, "out of memory");
        free_run(run);
        return r;
    }
    for (i = 0; i < nt; i++)
        out_printf(run, "reload = auto: %s\n", t[i].why);
    start_run(e, run);
    return 0;
}
