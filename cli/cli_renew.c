/*
 * cli_renew.c: keywarden renew.
 */
#include "cli.h"
#include "../service/hooks.h"
#include "../service/config.h"
#include "../acme/renew.h"

#include "../common/kw_log.h"
#include "../common/kw_time.h"

#include <getopt.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void renew_usage(FILE *out)
{
    fputs("Usage: keywarden [--config FILE] renew [NAME...] [--force]\n"
          "\n"
          "Renew the managed certificates ([certificate \"NAME\"] in the "
          "configuration)\n"
          "that are due, or the ones named.  A certificate is due when a "
          "third of its\n"
          "lifetime is left (half, for lifetimes of 10 days or less), when "
          "it does not\n"
          "cover every configured name, or when it was never issued.  Each "
          "new version\n"
          "is verified, written to archive/NAME/N/ and switched live with "
          "one rename.\n"
          "\n"
          "  --force   renew even when not due, and despite the backoff of "
          "a failure\n"
          "\n"
          "Exits 0 when every certificate is issued, not due or held back "
          "by its DANE\n"
          "rollover's wait, 1 when one failed or its rollover stopped.\n"
          "The daemon (keywarden serve) renews by itself; stop it first or "
          "use\n"
          "`keywarden run-job renew:NAME`.\n",
          out);
}

typedef struct renew_run {
    kw_acme_env env;
    const kw_config *conf;
    const kw_cert_conf **queue;
    size_t nqueue, next, running;
    int force;
    int failed;
    int limit;
} renew_run;

static void start_next(renew_run *rr);

static void on_renewed(void *ctx, const kw_renew_result *r)
{
    renew_run *rr = ctx;
    char when[32];

    rr->running--;
    kw_time_rfc3339(r->next_at, when, sizeof(when));
    switch (r->outcome) {
    case KW_RENEW_ISSUED:
        kw_outf(stdout,
                "%s: issued: %s; %d requests, %d badNonce retried; next "
                "renewal at %s\n",
                r->name, r->msg, r->requests, r->bad_nonces, when);
        break;
    case KW_RENEW_NOT_DUE:
        kw_outf(stdout, "%s: not due: %s\n", r->name, r->msg);
        break;
    case KW_RENEW_HELD:
        /* The DANE rollover's own state: a failure only when the
         * rollover stopped (its health says why). */
        kw_outf(stdout, "%s: %s; looked at again at %s\n", r->name, r->msg,
                when);
        if (r->held_stopped)
            rr->failed = 1;
        break;
    case KW_RENEW_CANCELLED:
        kw_outf(stdout, "%s: stopped; the order resumes at the next run\n",
                r->name);
        rr->failed = 1;
        break;
    case KW_RENEW_FAILED:
        if (r->unsaved[0] != '\0')
            kw_outf(stdout,
                    "%s: FAILED: %s; the failure and its retry time were not "
                    "recorded (%s): the next `keywarden renew` tries again, "
                    "without backoff (the live version, if any, is "
                    "untouched)\n",
                    r->name, r->msg, r->unsaved);
        else if (r->next_at > 0)
            kw_outf(stdout,
                    "%s: FAILED: %s; retry at %s (the live version, if any, "
                    "is untouched)\n",
                    r->name, r->msg, when);
        else
            kw_outf(stdout,
                    "%s: FAILED: %s (the live version, if any, is "
                    "untouched)\n",
                    r->name, r->msg);
        rr->failed = 1;
        break;
    }
    fflush(stdout);
    start_next(rr);
    if (rr->running == 0 && rr->next == rr->nqueue)
        kw_acme_env_close(&rr->env);
}

static void start_next(renew_run *rr)
{
    kw_diag d;

    while (rr->next < rr->nqueue && (int)rr->running < rr->limit) {
        const kw_cert_conf *c = rr->queue[rr->next++];
        kw_renew_params p;

        kw_config_renew_params(rr->conf, c, &p);
        if (kw_renew_start(&rr->env, &p, rr->force, on_renewed, rr, NULL,
                           &d) != 0) {
            kw_outf(stdout, "%s: FAILED: %s\n", c->name, d.msg);
            rr->failed = 1;
            continue;
        }
        rr->running++;
    }
}

int cli_renew(kw_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"force", no_argument, NULL, 'f'},
        {"all", no_argument, NULL, 'a'},
        {"state-dir", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    renew_run rr;
    kw_config conf;
    kw_acme_params ap;
    uv_loop_t loop;
    kw_diag d;
    ks_store *s = NULL;
    int ch, r, lock_fd = -1;
    size_t i;

    memset(&rr, 0, sizeof(rr));
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'f':
            rr.force = 1;
            break;
        case 'a':
            break; /* the default without names */
        default:
            r = kw_cli_shared_opt(cli, ch, optarg, NULL, renew_usage,
                                  KW_EXIT_USAGE);
            if (r != KW_CLI_NEXT)
                return r == KW_CLI_NOT_SHARED ? KW_EXIT_USAGE : r;
        }
    }
    if (kw_cli_load_certs(cli, &conf) != 0)
        return KW_EXIT_FAIL;
    rr.queue = calloc(conf.ncerts, sizeof(*rr.queue));
    if (rr.queue == NULL) {
        kw_config_free(&conf);
        kw_err("out of memory");
        return KW_EXIT_FAIL;
    }
    if (optind == argc) {
        for (i = 0; i < conf.ncerts; i++)
            rr.queue[rr.nqueue++] = &conf.certs[i];
    }
    for (; optind < argc; optind++) {
        const kw_cert_conf *c = NULL;

        for (i = 0; i < conf.ncerts; i++)
            if (strcmp(conf.certs[i].name, argv[optind]) == 0)
                c = &conf.certs[i];
        if (c == NULL) {
            kw_err("renew: %s: no [certificate \"%s\"] in %s", argv[optind],
                   argv[optind], cli->config_path);
            free(rr.queue);
            kw_config_free(&conf);
            return KW_EXIT_USAGE;
        }
        rr.queue[rr.nqueue++] = c;
    }
    /* The store must exist and be at the current schema before the pool
     * threads open it; and one writer at a time: the daemon's lock. */
    if (kw_cli_open(cli, 1, &s) != 0 ||
        kw_state_lock(cli, "renew", &lock_fd, &d) != 0) {
        if (s != NULL)
            kw_err("renew: %s", d.msg);
        ks_close(s);
        free(rr.queue);
        kw_config_free(&conf);
        return KW_EXIT_FAIL;
    }
    ks_close(s);
    /* Few malloc arenas, as in serve: every arena keeps its high-water
     * mark resident, and the pool's work is short. */
    mallopt(M_ARENA_MAX, 2);
    uv_loop_init(&loop);
    kw_config_acme_params(&conf, cli->state_dir, &ap);
    if (kw_acme_env_init(&rr.env, &loop, &ap, cli->state_dir,
                         cli->db_path, &d) != 0) {
        kw_err("renew: %s", d.msg);
        uv_loop_close(&loop);
        close(lock_fd);
        free(rr.queue);
        kw_config_free(&conf);
        return KW_EXIT_FAIL;
    }
    rr.conf = &conf;
    rr.limit = conf.acme.concurrency > 0 ? conf.acme.concurrency : 8;
    start_next(&rr);
    if (rr.running == 0)
        kw_acme_env_close(&rr.env);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        kw_warn("renew: handles left open at exit");
    /* The hooks of what changed run now, still under the lock: a renewed
     * certificate is served only once its daemons reload.  A failed hook
     * fails the command (certbot exits 0 there). */
    if (kw_hooks_deliver_now(cli, &conf, stdout) != 0)
        rr.failed = 1;
    close(lock_fd);
    free(rr.queue);
    kw_config_free(&conf);
    return rr.failed ? KW_EXIT_FAIL : KW_EXIT_OK;
}
