/*
 * cli_hooks.c: keywarden hooks list | history | test | run | retry.
 */
#include "cli.h"
#include "../service/config.h"
#include "../service/hooks.h"
#include "../acme/renew.h"

#include "../common/kw_json.h"
#include "../common/kw_log.h"
#include "../common/kw_str.h"
#include "../common/kw_time.h"
#include "../hooks/hook_outbox.h"
#include "../keystore/ks_events.h"
#include "../keystore/ks_managed.h"

#include <fnmatch.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void hooks_usage(FILE *out)
{
    fputs("Usage: keywarden [--config FILE] hooks list [--json]\n"
          "       keywarden hooks history [NAME] [--limit N] [--output] "
          "[--json]\n"
          "       keywarden [--config FILE] hooks test NAME [--event TYPE] "
          "[--object NAME]\n"
          "       keywarden [--config FILE] hooks run\n"
          "       keywarden hooks retry [NAME]\n"
          "\n"
          "  list     the [hook] sections: events, action, deliveries "
          "pending and\n"
          "           failed, the last run and the last success\n"
          "  history  runs, newest first: when, result, exit status, "
          "duration,\n"
          "           the event and its object, the output's last line "
          "(--output: all\n"
          "           of it); --limit N (default 20)\n"
          "  test     run the hook once with a synthetic event (default: "
          "its first\n"
          "           event type, and the first managed certificate) and "
          "show the\n"
          "           environment and stdin it received and what it "
          "printed; recorded\n"
          "           in the history as a test, delivers nothing\n"
          "  run      deliver what is pending now (what `keywarden serve` "
          "does on its\n"
          "           own); exits 1 if a hook failed\n"
          "  retry    failed deliveries (of NAME, or all) become pending "
          "again;\n"
          "           `keywarden serve` or `keywarden hooks run` delivers "
          "them\n",
          out);
}

static int load_conf(kw_cli *cli, kw_config *c)
{
    kw_diag d;

    if (kw_config_load(cli->config_path, c, &d) != 0) {
        kw_err("%s", d.msg);
        return -1;
    }
    return 0;
}

/* ---- list ----------------------------------------------------------------------- */

static int hooks_list(kw_cli *cli, int json)
{
    kw_config conf;
    ks_store *s = NULL;
    json_t *arr = json_array();
    kw_diag d;
    size_t i, j;
    int r, failed = 0;

    if (load_conf(cli, &conf) != 0) {
        json_decref(arr);
        return KW_EXIT_FAIL;
    }
    r = kw_cli_open(cli, 0, &s);
    if (r != 0 && r != KW_ENOENT) {
        kw_config_free(&conf);
        json_decref(arr);
        return KW_EXIT_FAIL;
    }
    if (!json && conf.nhooks == 0)
        kw_outf(stdout, "no [hook \"NAME\"] section in %s\n",
                cli->config_path);
    for (i = 0; i < conf.nhooks; i++) {
        const kw_hook_def *h = &conf.hooks[i];
        kw_hook_summary sum;
        char act[600], last[32], ok[32], on[512];
        size_t pos = 0;

        memset(&sum, 0, sizeof(sum));
        if (s != NULL && kw_hook_summary_get(s, h->name, &sum, &d) != 0) {
            kw_err("hooks list: %s", d.msg);
            failed = 1;
            break;
        }
        failed |= sum.failed > 0;
        kw_hook_action_text(h, act, sizeof(act));
        if (json) {
            kw_json_append(arr, kw_hook_def_json(h, &sum));
            continue;
        }
        on[0] = '\0';
        for (j = 0; j < h->non; j++)
            if (kw_str_appendf(on, sizeof(on), &pos, "%s%s", j ? "," : "",
                               h->on[j]) != 0)
                break; /* cut: the line is for a person */
        if (sum.last_run_at > 0)
            kw_time_rfc3339(sum.last_run_at, last, sizeof(last));
        else
            snprintf(last, sizeof(last), "never");
        if (sum.last_ok_at > 0)
            kw_time_rfc3339(sum.last_ok_at, ok, sizeof(ok));
        else
            snprintf(ok, sizeof(ok), "never");
        kw_outf(stdout, "%s\n  on:      %s\n  action:  %s\n", h->name, on,
                act);
        if (h->nobjects > 0 || h->nkinds > 0) {
            printf("  only:   ");
            for (j = 0; j < h->nobjects; j++)
                kw_outf(stdout, " %s", h->objects[j]);
            for (j = 0; j < h->nkinds; j++)
                kw_outf(stdout, " kind=%s", h->kinds[j]);
            printf("\n");
        }
        printf("  timeout %llds, retry %d (from %llds), coalesce %llds%s%s\n",
               (long long)h->timeout, h->retries, (long long)h->retry_delay,
               (long long)h->coalesce, h->user != NULL ? ", user " : "",
               h->user != NULL ? h->user : "");
        printf("  deliveries: %lld pending, %lld FAILED%s\n",
               (long long)sum.pending, (long long)sum.failed,
               sum.failed > 0 ? " (keywarden hooks history; keywarden "
                                "hooks retry)"
                              : "");
        printf("  runs: %lld ok, %lld failed; last %s (%s), last ok %s\n",
               (long long)sum.runs_ok, (long long)sum.runs_failed, last,
               sum.last_result[0] ? sum.last_result : "-", ok);
    }
    if (json) {
        char *text = json_dumps(arr, JSON_INDENT(2));

        if (text == NULL) {
            failed = 1;
        } else {
            printf("%s\n", text);
            free(text);
        }
    }
    json_decref(arr);
    ks_close(s);
    kw_config_free(&conf);
    return failed ? KW_EXIT_FAIL : KW_EXIT_OK;
}

/* ---- history -------------------------------------------------------------------- */

typedef struct hist {
    int json, output;
    json_t *arr;
    size_t n;
} hist;

static int hist_row(void *ctx, const kw_hook_run_row *r)
{
    hist *h = ctx;
    char when[32];

    h->n++;
    kw_time_rfc3339(r->started_at, when, sizeof(when));
    if (h->json)
        return kw_json_append(h->arr, kw_hook_run_json(r)) != 0;
    kw_outf(stdout, "%s  %-16s %-7s", when, r->hook, r->result);
    if (r->exit_status >= 0)
        kw_outf(stdout, " exit %d", r->exit_status);
    else if (r->signal > 0)
        kw_outf(stdout, " signal %d", r->signal);
    kw_outf(stdout, "  %.2fs  attempt %d  %s %s%s\n",
            (double)r->duration_ms / 1000.0, r->attempt,
            r->event_type[0] ? r->event_type : "-",
            r->object[0] ? r->object : "", r->test ? " (test)" : "");
    if (h->output && r->output != NULL) {
        const char *p = r->output;

        while (*p != '\0') {
            size_t n = strcspn(p, "\n");

            kw_outf(stdout, "    | %.*s\n", (int)n, p);
            p += n + (p[n] == '\n');
        }
    } else if (r->last_line[0] != '\0') {
        kw_outf(stdout, "    %s\n", r->last_line);
    }
    return 0;
}

static int hooks_history(kw_cli *cli, const char *name, int limit, int json,
                         int output)
{
    ks_store *s = NULL;
    hist h;
    kw_diag d;
    int r;

    memset(&h, 0, sizeof(h));
    h.json = json;
    h.output = output;
    h.arr = json_array();
    r = kw_cli_open_existing(cli, &s);
    if (r != 0) {
        json_decref(h.arr);
        return KW_EXIT_FAIL;
    }
    r = kw_hook_history(s, name, limit, hist_row, &h, &d);
    ks_close(s);
    if (r != 0) {
        kw_err("hooks history: %s", d.msg);
        json_decref(h.arr);
        return KW_EXIT_FAIL;
    }
    if (json) {
        char *text = json_dumps(h.arr, JSON_INDENT(2));

        if (text == NULL) {
            json_decref(h.arr);
            return KW_EXIT_FAIL;
        }
        printf("%s\n", text);
        free(text);
    } else if (h.n == 0) {
        printf("no runs%s%s yet\n", name != NULL ? " of " : "",
               name != NULL ? name : "");
    }
    json_decref(h.arr);
    return KW_EXIT_OK;
}

/* ---- test ----------------------------------------------------------------------- */

typedef struct test_run {
    kw_hook_engine *e;
    int ok, done;
} test_run;

static void test_result(void *ctx, const kw_hook_report *rep,
                        const kw_hook_result *res, const char *const *env,
                        const char *stdin_json)
{
    test_run *t = ctx;
    size_t i;

    (void)res;
    t->ok = strcmp(rep->result, "ok") == 0;
    t->done = 1;
    printf("== environment\n");
    printf("%s\n", KW_HOOK_BASE_PATH);
    for (i = 0; env != NULL && env[i] != NULL; i++)
        kw_outf(stdout, "%s\n", env[i]);
    /* JSON text is already safe on a terminal (jansson escapes control
     * characters), and its own newlines are its layout. */
    printf("== stdin\n%s\n", stdin_json != NULL ? stdin_json : "");
    fflush(stdout);
}

static void test_idle(void *ctx)
{
    test_run *t = ctx;

    kw_hook_engine_free(t->e);
    t->e = NULL;
}

/* The event a test sends: the type and object asked for, with what a
 * real one about that object would carry. */
static json_t *test_event(kw_cli *cli, const kw_config *conf,
                          const kw_hook_def *h, const char *type,
                          const char *object, const char *certs_dir)
{
    const kw_cert_conf *c = NULL;
    ks_managed m;
    ks_store *s = NULL;
    json_t *ev, *names, *paths = NULL;
    char when[32], p[PATH_MAX + 300];
    size_t i;
    kw_diag d;

    if (type == NULL) {
        for (i = 0; i < h->non && type == NULL; i++)
            if (strpbrk(h->on[i], "*?[") == NULL)
                type = h->on[i];
        for (i = 0; type == NULL && i < ks_event_ntypes; i++)
            if (fnmatch(h->on[0], ks_event_types[i].name, 0) == 0)
                type = ks_event_types[i].name;
    }
    if (object == NULL && conf->ncerts > 0)
        object = conf->certs[0].name;
    for (i = 0; object != NULL && i < conf->ncerts; i++)
        if (strcmp(conf->certs[i].name, object) == 0)
            c = &conf->certs[i];
    kw_time_rfc3339(cli->now, when, sizeof(when));
    ev = json_pack("{s:i, s:s, s:I, s:s, s:o, s:s}", "id", 0, "type", type,
                   "at", (json_int_t)cli->now, "time", when, "object",
                   kw_json_path(object != NULL ? object : "test"), "kind",
                   c != NULL ? "tls" : "other");
    if (ev == NULL || c == NULL) {
        if (ev != NULL)
            json_object_set_new(ev, "detail",
                                json_pack("{s:b}", "test", 1));
        return ev;
    }
    names = json_array();
    for (i = 0; names != NULL && i < c->nnames; i++)
        kw_json_append(names, kw_json_str(c->names[i]));
    json_object_set_new(ev, "names", names);
    paths = json_object();
    if (paths != NULL) {
        static const char *const k[] = {"cert", "key", "fullchain", "chain",
                                        "lineage"};
        static const char *const f[] = {"/cert.pem", "/privkey.pem",
                                        "/fullchain.pem", "/chain.pem", ""};

        for (i = 0; i < 5; i++) {
            snprintf(p, sizeof(p), "%s/live/%s%s", certs_dir, c->name, f[i]);
            json_object_set_new(paths, k[i], kw_json_path(p));
        }
        json_object_set_new(ev, "paths", paths);
    }
    if (kw_cli_open(cli, 0, &s) == 0 &&
        ks_managed_get(s, c->name, &m, &d) == 0 && m.live_version > 0) {
        json_object_set_new(ev, "not_after", json_integer(m.not_after));
        json_object_set_new(ev, "fingerprint_sha256",
                            kw_json_str(m.fingerprint));
    }
    ks_close(s);
    json_object_set_new(ev, "detail",
                        json_pack("{s:o, s:b}", "certificate",
                                  kw_json_str(c->name), "test", 1));
    return ev;
}

static int hooks_test(kw_cli *cli, const char *name, const char *type,
                      const char *object)
{
    kw_config conf;
    kw_hook_engine_opts o;
    char certs_dir[PATH_MAX];
    const kw_hook_def *h = NULL;
    ks_store *s = NULL;
    uv_loop_t loop;
    test_run t;
    json_t *ev;
    kw_diag d;
    size_t i;

    if (load_conf(cli, &conf) != 0)
        return KW_EXIT_FAIL;
    for (i = 0; i < conf.nhooks; i++)
        if (strcmp(conf.hooks[i].name, name) == 0)
            h = &conf.hooks[i];
    if (h == NULL) {
        kw_err("hooks test: %s: no [hook \"%s\"] in %s", name, name,
               cli->config_path);
        kw_config_free(&conf);
        return KW_EXIT_USAGE;
    }
    if (type != NULL && !kw_hook_event_pattern_ok(type)) {
        kw_err("hooks test: --event %s: keywarden emits no such event",
               type);
        kw_config_free(&conf);
        return KW_EXIT_USAGE;
    }
    /* The run is recorded in the history. */
    if (kw_cli_open(cli, 1, &s) != 0) {
        kw_config_free(&conf);
        return KW_EXIT_FAIL;
    }
    ks_close(s);
    memset(&t, 0, sizeof(t));
    uv_loop_init(&loop);
    kw_hooks_opts(&conf, cli->state_dir, cli->db_path, &loop, certs_dir,
                  sizeof(certs_dir), &o);
    o.now_all = 1;
    o.ctx = &t;
    o.on_idle = test_idle;
    ev = test_event(cli, &conf, h, type, object, certs_dir);
    if (ev == NULL || kw_hook_engine_new(&o, &t.e, &d) != 0 ||
        kw_hook_engine_test(t.e, name, ev, test_result, &t, &d) != 0) {
        kw_err("hooks test %s: %s", name, ev == NULL ? "out of memory"
                                                     : d.msg);
        if (t.e != NULL)
            kw_hook_engine_free(t.e);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        json_decref(ev);
        kw_config_free(&conf);
        return KW_EXIT_FAIL;
    }
    json_decref(ev);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    kw_config_free(&conf);
    /* What it printed and how it ended: as the history shows it. */
    if (kw_cli_open(cli, 0, &s) == 0) {
        hist hh;

        memset(&hh, 0, sizeof(hh));
        hh.output = 1;
        printf("== run\n");
        kw_hook_history(s, name, 1, hist_row, &hh, &d);
        ks_close(s);
    }
    return t.done && t.ok ? KW_EXIT_OK : KW_EXIT_FAIL;
}

/* ---- run and retry ---------------------------------------------------------------- */

static int hooks_run(kw_cli *cli)
{
    kw_config conf;
    ks_store *s = NULL;
    kw_diag d;
    int lock_fd = -1, r;

    if (load_conf(cli, &conf) != 0)
        return KW_EXIT_FAIL;
    if (kw_cli_open(cli, 1, &s) != 0) {
        kw_config_free(&conf);
        return KW_EXIT_FAIL;
    }
    ks_close(s);
    /* The daemon delivers by itself; two deliverers would only wait on
     * each other's leases. */
    if (kw_state_lock(cli, "hooks run", &lock_fd, &d) != 0) {
        kw_err("hooks run: %s (a running daemon delivers hooks itself)",
               d.msg);
        kw_config_free(&conf);
        return KW_EXIT_FAIL;
    }
    r = kw_hooks_deliver_now(cli, &conf, stdout);
    close(lock_fd);
    kw_config_free(&conf);
    return r != 0 ? KW_EXIT_FAIL : KW_EXIT_OK;
}

static int hooks_retry(kw_cli *cli, const char *name)
{
    ks_store *s = NULL;
    kw_diag d;
    size_t n = 0;
    int r;

    if (kw_cli_open_existing(cli, &s) != 0)
        return KW_EXIT_FAIL;
    r = kw_hook_retry(s, name, cli->now, &n, &d);
    ks_close(s);
    if (r != 0) {
        kw_err("hooks retry: %s", d.msg);
        return KW_EXIT_FAIL;
    }
    printf("%zu failed deliver%s pending again; keywarden serve (or "
           "keywarden hooks run) delivers %s\n",
           n, n == 1 ? "y is" : "ies are", n == 1 ? "it" : "them");
    return KW_EXIT_OK;
}

int cli_hooks(kw_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"output", no_argument, NULL, 'o'},
        {"limit", required_argument, NULL, 'l'},
        {"event", required_argument, NULL, 'e'},
        {"object", required_argument, NULL, 'O'},
        {"state-dir", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *type = NULL, *object = NULL, *sub, *name;
    int ch, r, json = 0, output = 0, limit = 20;
    char *end;

    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'j':
            json = 1;
            break;
        case 'o':
            output = 1;
            break;
        case 'l':
            limit = (int)strtol(optarg, &end, 10);
            if (*end != '\0' || limit < 1) {
                kw_err("hooks: --limit %s: expected a positive number",
                       optarg);
                return KW_EXIT_USAGE;
            }
            break;
        case 'e':
            type = optarg;
            break;
        case 'O':
            object = optarg;
            break;
        default:
            r = kw_cli_shared_opt(cli, ch, optarg, NULL, hooks_usage,
                                  KW_EXIT_USAGE);
            if (r != KW_CLI_NEXT)
                return r == KW_CLI_NOT_SHARED ? KW_EXIT_USAGE : r;
        }
    }
    if (optind >= argc) {
        hooks_usage(stderr);
        return KW_EXIT_USAGE;
    }
    sub = argv[optind];
    name = optind + 1 < argc ? argv[optind + 1] : NULL;
    if (optind + 2 < argc) {
        hooks_usage(stderr);
        return KW_EXIT_USAGE;
    }
    if (strcmp(sub, "list") == 0 && name == NULL)
        return hooks_list(cli, json);
    if (strcmp(sub, "history") == 0)
        return hooks_history(cli, name, limit, json, output);
    if (strcmp(sub, "test") == 0 && name != NULL)
        return hooks_test(cli, name, type, object);
    if (strcmp(sub, "run") == 0 && name == NULL)
        return hooks_run(cli);
    if (strcmp(sub, "retry") == 0)
        return hooks_retry(cli, name);
    hooks_usage(stderr);
    return KW_EXIT_USAGE;
}
