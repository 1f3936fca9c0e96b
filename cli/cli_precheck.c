/*
 * cli_precheck.c: keywarden precheck NAME...: will the CA's HTTP-01
 * validation succeed?
 */
#include "cli.h"
#include "../service/config.h"
#include "../acme/precheck.h"
#include "../acme/renew.h"

#include "../common/kw_log.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

/* ----- keywarden precheck NAME... ----------------------------------------- */

static void precheck_usage(FILE *out)
{
    fputs("Usage: keywarden [--config FILE] precheck NAME... [--webroot DIR] "
          "[--json]\n"
          "\n"
          "Check, the way the CA's HTTP-01 validation will, that every name "
          "serves\n"
          "/.well-known/acme-challenge/ from where keywarden puts the "
          "answer: resolve\n"
          "A and AAAA through DNS (not /etc/hosts), fetch the well-known "
          "path on port\n"
          "80 and follow redirects only as Let's Encrypt does.  NAME is a "
          "[certificate]\n"
          "of the configuration (all its names, its webroot or the "
          "responder) or a\n"
          "host name (--webroot DIR, else the built-in responder).  Prints "
          "every hop,\n"
          "one verdict per name and a fix.  Exits 0 when the CA would "
          "succeed, 1 when\n"
          "not.\n",
          out);
}

typedef struct pc_run {
    kw_acme_env env;
    int json;
    int failed;
    size_t pending;
    json_t *all;
} pc_run;

static const char *jtext(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s != NULL ? s : "";
}

static void print_report(json_t *report)
{
    size_t i, j, k;
    json_t *n, *w, *h;

    json_array_foreach(report, i, n)
    {
        const char *fix = json_string_value(json_object_get(n, "fix"));
        const char *note = json_string_value(json_object_get(n, "note"));

        kw_outf(stdout, "%s: %s%s%s\n", jtext(n, "name"), jtext(n, "verdict"),
                json_is_true(json_object_get(n, "ok")) ? "" : ": ",
                json_is_true(json_object_get(n, "ok")) ? "" : jtext(n, "why"));
        json_array_foreach(json_object_get(n, "walks"), j, w)
        {
            kw_outf(
                stdout, "  IPv%lld:\n",
                (long long)json_integer_value(json_object_get(w, "family")));
            json_array_foreach(json_object_get(w, "hops"), k, h)
            {
                const char *loc =
                    json_string_value(json_object_get(h, "location"));
                const char *err =
                    json_string_value(json_object_get(h, "error"));

                kw_outf(stdout, "    %s [%s] -> %lld%s%s%s%s\n",
                        jtext(h, "url"), jtext(h, "addr"),
                        (long long)json_integer_value(
                            json_object_get(h, "status")),
                        loc ? " -> " : "", loc ? loc : "", err ? ": " : "",
                        err ? err : "");
            }
        }
        if (note != NULL)
            kw_outf(stdout, "  note: %s\n", note);
        if (fix != NULL)
            kw_outf(stdout, "  fix: %s\n", fix);
    }
}

static void on_pc(void *ctx, const kw_precheck_result *res)
{
    pc_run *r = ctx;
    size_t i;
    json_t *n;

    if (res->status != 0)
        r->failed = 1;
    if (r->json)
        json_array_foreach(res->report, i, n) json_array_append(r->all, n);
    else
        print_report(res->report);
    if (--r->pending == 0)
        kw_acme_env_close(&r->env);
}

int cli_precheck(kw_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"webroot", required_argument, NULL, 'w'},
        {"json", no_argument, NULL, 'j'},
        {"state-dir", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *webroot = NULL;
    kw_config conf;
    kw_acme_params ap;
    uv_loop_t loop;
    pc_run r;
    kw_diag d;
    int ch, rc, i;
    size_t k;

    memset(&r, 0, sizeof(r));
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == 'w') {
            webroot = optarg;
            continue;
        }
        if (ch == 'j') {
            r.json = 1;
            continue;
        }
        rc = kw_cli_shared_opt(cli, ch, optarg, NULL, precheck_usage,
                               KW_EXIT_USAGE);
        if (rc != KW_CLI_NEXT)
            return rc == KW_CLI_NOT_SHARED ? KW_EXIT_USAGE : rc;
    }
    if (optind >= argc) {
        precheck_usage(stderr);
        return KW_EXIT_USAGE;
    }
    rc = kw_config_load(cli->config_path, &conf, &d);
    if (rc != 0 && (rc != KW_ENOENT || cli->config_given)) {
        kw_err("%s", d.msg);
        return KW_EXIT_FAIL;
    }
    uv_loop_init(&loop);
    kw_config_acme_params(&conf, cli->state_dir, &ap);
    if (kw_acme_env_init(&r.env, &loop, &ap, cli->state_dir, cli->db_path,
                         &d) != 0) {
        kw_err("precheck: %s", d.msg);
        uv_loop_close(&loop);
        kw_config_free(&conf);
        return KW_EXIT_FAIL;
    }
    r.all = json_array();
    for (i = optind; i < argc; i++) {
        const kw_cert_conf *c = NULL;
        kw_precheck_req q;
        const char *one[1] = {argv[i]};

        for (k = 0; k < conf.ncerts; k++)
            if (strcmp(conf.certs[k].name, argv[i]) == 0)
                c = &conf.certs[k];
        memset(&q, 0, sizeof(q));
        q.listen = conf.acme.http01_listen != NULL ? conf.acme.http01_listen
                                                   : KW_ACME_DEFAULT_HTTP01;
        if (c != NULL) {
            if (c->dns01) {
                kw_outf(stdout, "%s: uses dns-01; nothing to pre-check\n",
                        argv[i]);
                continue;
            }
            q.names = (const char *const *)c->names;
            q.nnames = c->nnames;
            q.webroot = webroot != NULL ? webroot
                        : c->http01_webroot ? c->webroot
                                            : NULL;
        } else {
            q.names = one;
            q.nnames = 1;
            q.webroot = webroot;
        }
        if (kw_precheck_start(&r.env, &q, on_pc, &r, &d) != 0) {
            kw_err("precheck %s: %s", argv[i], d.msg);
            r.failed = 1;
            continue;
        }
        r.pending++;
    }
    if (r.pending == 0)
        kw_acme_env_close(&r.env);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (r.json) {
        char *text = json_dumps(r.all, JSON_INDENT(2));

        if (text != NULL)
            puts(text);
        free(text);
    }
    json_decref(r.all);
    kw_config_free(&conf);
    return r.failed ? KW_EXIT_FAIL : KW_EXIT_OK;
}
