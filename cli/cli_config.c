/*
 * cli_config.c: keywarden config check.
 */
#include "cli.h"
#include "../service/config.h"

#include "../common/kw_log.h"
#include "../common/kw_time.h"

#include <errno.h>
#include <getopt.h>
#include <string.h>
#include <unistd.h>

static void config_usage(FILE *out)
{
    fputs("Usage: keywarden [--config FILE] config check\n"
          "\n"
          "Read the configuration file (default "
          "/etc/keywarden/keywarden.conf)\n"
          "and report the first error with its file, line and key, or "
          "summarise\n"
          "what it configures.  Exits 0 when the file is valid, 1 "
          "otherwise.\n",
          out);
}

int cli_config(kw_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    kw_config c;
    kw_diag d;
    size_t i;
    int ch, r;
    char every[32], timeout[32];

    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        r = kw_cli_shared_opt(cli, ch, optarg, NULL, config_usage,
                              KW_EXIT_USAGE);
        if (r != KW_CLI_NEXT)
            return r == KW_CLI_NOT_SHARED ? KW_EXIT_USAGE : r;
    }
    if (optind >= argc || strcmp(argv[optind], "check") != 0 ||
        optind + 1 != argc) {
        config_usage(stderr);
        return KW_EXIT_USAGE;
    }
    r = kw_config_load(cli->config_path, &c, &d);
    if (r != 0) {
        kw_err("%s", d.msg);
        return KW_EXIT_FAIL;
    }
    kw_outf(stdout, "%s: ok\n", c.path);
    kw_duration_format(c.scan_interval, every, sizeof(every));
    kw_outf(stdout, "  scan: %zu path%s, every %s%s\n", c.nscan_paths,
            c.nscan_paths == 1 ? "" : "s", every,
            c.scan_watch ? ", watched for changes" : "");
    for (i = 0; i < c.nscan_paths; i++)
        kw_outf(stdout, "    %s\n", c.scan_paths[i]);
    kw_outf(stdout, "  endpoints: %zu\n", c.nendpoints);
    for (i = 0; i < c.nendpoints; i++) {
        const kw_endpoint_conf *e = &c.endpoints[i];
        kw_duration_format(e->interval, every, sizeof(every));
        kw_duration_format(e->timeout, timeout, sizeof(timeout));
        kw_outf(stdout, "    %s: %s:%d, %s%s, every %s, timeout %s\n", e->name,
                e->host, e->port,
                e->starttls == KW_TLS_IMPLICIT ? "implicit TLS" : "STARTTLS ",
                e->starttls == KW_TLS_IMPLICIT ? ""
                                               : kw_starttls_word(e->starttls),
                every, timeout);
    }
    kw_outf(stdout, "  metrics: %s\n",
            c.metrics_listen[0] != '\0' ? c.metrics_listen : "off");
    kw_outf(stdout, "  hooks: %zu\n", c.nhooks);
    for (i = 0; i < c.nhooks; i++) {
        const kw_hook_def *h = &c.hooks[i];
        kw_reload_plan p;
        const char *prog = NULL;
        size_t j;

        kw_outf(stdout, "    %s: on", h->name);
        for (j = 0; j < h->non; j++)
            kw_outf(stdout, "%s %s", j ? "," : "", h->on[j]);
        if (h->reload != KW_RELOAD_NONE)
            kw_outf(stdout, "; reload %s\n", kw_reload_word(h->reload));
        else
            kw_outf(stdout, "; run %s\n", h->shell ? "(sh -c)" : h->argv[0]);
        for (j = 0; j < h->non; j++)
            if (!kw_hook_event_emitted(h->on[j]))
                kw_outf(stdout,
                        "    warning: hook %s: on = %s: nothing emits it "
                        "yet (the DKIM and DNSSEC lifecycles are not built); "
                        "the hook will not run\n",
                        h->name, h->on[j]);
        /* What will fail at the first event, said now. */
        if (h->nargv > 0 && !h->shell)
            prog = h->argv[0];
        if (h->reload != KW_RELOAD_NONE && h->reload != KW_RELOAD_AUTO) {
            kw_reload_plan_make(h->reload, h->reload_config, &p);
            prog = p.steps[0].argv[0];
        }
        if (prog != NULL && access(prog, X_OK) != 0)
            kw_outf(stdout,
                    "    warning: hook %s: %s: %s; the hook will fail when "
                    "it runs\n",
                    h->name, prog, strerror(errno));
        if (h->reload_config != NULL && access(h->reload_config, R_OK) != 0)
            kw_outf(stdout, "    warning: hook %s: config = %s: %s\n", h->name,
                    h->reload_config, strerror(errno));
    }
    kw_config_free(&c);
    return KW_EXIT_OK;
}
