/*
 * cli_renew.c: keywarden renew, keywarden certificate list.
 */
#include "cli.h"
#include "../service/hooks.h"
#include "../service/config.h"
#include "../service/acme_ops.h"
#include "../service/precheck.h"
#include "../service/renew.h"

#include "../common/kw_log.h"
#include "../common/kw_time.h"
#include "../keystore/ks_deploy.h"
#include "../keystore/ks_managed.h"

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
          "Exits 0 when every certificate is issued or not due, 1 when one "
          "failed.\n"
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

        if (kw_renew_start(&rr->env, c, rr->force, on_renewed, rr, NULL,
                           &d) != 0) {
            kw_outf(stdout, "%s: FAILED: %s\n", c->name, d.msg);
            rr->failed = 1;
            continue;
        }
        rr->running++;
    }
}

static int load_conf(kw_cli *cli, kw_config *c)
{
    kw_diag d;

    if (kw_config_load(cli->config_path, c, &d) != 0) {
        kw_err("%s", d.msg);
        return -1;
    }
    if (c->ncerts == 0) {
        kw_err("%s: no [certificate \"NAME\"] section: nothing to renew",
               cli->config_path);
        kw_config_free(c);
        return -1;
    }
    return 0;
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
    if (load_conf(cli, &conf) != 0)
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
    if (kw_acme_env_init(&rr.env, &loop, &conf, cli->state_dir,
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

/* ----- keywarden certificate list ---------------------------------------- */

static void cert_usage(FILE *out)
{
    fputs("Usage: keywarden [--config FILE] certificate list [--json]\n"
          "       keywarden [--config FILE] certificate add NAME --names "
          "LIST [...]\n"
          "       keywarden [--config FILE] certificate remove NAME\n"
          "\n"
          "The managed certificates of the configuration with their live "
          "version,\n"
          "expiry, next renewal and the last attempt's result.\n",
          out);
}

static json_t *managed_json(const kw_cert_conf *c, const ks_managed *m,
                            int have)
{
    json_t *names = json_array(), *o;
    char na[32], ra[32], la[32];
    size_t i;

    for (i = 0; i < c->nnames; i++)
        json_array_append_new(names, json_string(c->names[i]));
    kw_time_rfc3339(m->not_after, na, sizeof(na));
    kw_time_rfc3339(m->renew_at, ra, sizeof(ra));
    kw_time_rfc3339(m->last_attempt_at, la, sizeof(la));
    o = json_pack("{s:s, s:o, s:i, s:s?, s:s?, s:s?, s:s, s:i, s:o, s:o, "
                  "s:o}",
                  "name", c->name, "names", names, "live_version",
                  m->live_version, "not_after",
                  have && m->not_after ? na : NULL, "renew_at",
                  have && m->renew_at ? ra : NULL, "last_attempt_at",
                  have && m->last_attempt_at ? la : NULL, "state",
                  !have || m->live_version == 0
                      ? (m->failures > 0 ? "failing" : "never issued")
                  : m->retry_at < 0 && m->failures > 0 ? "blocked"
                  : m->failures > 0                    ? "failing"
                                                       : "ok",
                  "failures", m->failures, "last_error",
                  kw_json_str(m->last_error[0] ? m->last_error : NULL),
                  "problem", kw_json_str(m->problem[0] ? m->problem : NULL),
                  "order_url",
                  kw_json_str(m->order_url[0] ? m->order_url : NULL));
    if (o != NULL && have && m->ari_offered) {
        char ws[32], we[32], at[32], nc[32];

        kw_time_rfc3339(m->ari_start, ws, sizeof(ws));
        kw_time_rfc3339(m->ari_end, we, sizeof(we));
        kw_time_rfc3339(m->ari_renew_at, at, sizeof(at));
        kw_time_rfc3339(m->ari_next_check, nc, sizeof(nc));
        json_object_set_new(
            o, "ari",
            json_pack("{s:s?, s:s?, s:s?, s:s?, s:o}", "window_start",
                      m->ari_start ? ws : NULL, "window_end",
                      m->ari_end ? we : NULL, "renew_at",
                      m->ari_renew_at ? at : NULL, "next_check",
                      m->ari_next_check ? nc : NULL, "explanation_url",
                      kw_json_str(m->ari_explanation[0] ? m->ari_explanation
                                                        : NULL)));
    }
    return o;
}

int cli_certificate(kw_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"state-dir", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    kw_config conf;
    ks_store *s = NULL;
    json_t *arr;
    kw_diag d;
    int ch, r, json = 0, failed = 0;
    size_t i;

    if (argc >= 2 &&
        (strcmp(argv[1], "add") == 0 || strcmp(argv[1], "remove") == 0))
        return cli_certificate_edit(cli, argc - 1, argv + 1);
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == 'j') {
            json = 1;
            continue;
        }
        r = kw_cli_shared_opt(cli, ch, optarg, NULL, cert_usage,
                              KW_EXIT_USAGE);
        if (r != KW_CLI_NEXT)
            return r == KW_CLI_NOT_SHARED ? KW_EXIT_USAGE : r;
    }
    if (optind >= argc || strcmp(argv[optind], "list") != 0) {
        cert_usage(stderr);
        return KW_EXIT_USAGE;
    }
    if (load_conf(cli, &conf) != 0)
        return KW_EXIT_FAIL;
    r = kw_cli_open(cli, 0, &s);
    if (r != 0 && r != KW_ENOENT) {
        kw_config_free(&conf);
        return KW_EXIT_FAIL;
    }
    arr = json_array();
    for (i = 0; i < conf.ncerts; i++) {
        ks_managed m;
        int have = s != NULL &&
                   ks_managed_get(s, conf.certs[i].name, &m, &d) == 0;

        if (!have)
            memset(&m, 0, sizeof(m));
        if (have && m.failures > 0)
            failed = 1;
        json_array_append_new(arr, managed_json(&conf.certs[i], &m, have));
    }
    ks_close(s);
    if (json) {
        char *text = json_dumps(arr, JSON_INDENT(2));

        if (text != NULL)
            puts(text);
        free(text);
    } else {
        json_t *o;

        kw_outf(stdout, "%-16s %-8s %-20s %-20s %-12s %s\n", "NAME", "VERSION",
                "EXPIRES (UTC)", "RENEWAL (UTC)", "STATE",
                "NAMES / LAST ERROR");
        json_array_foreach(arr, i, o)
        {
            const char *err =
                json_string_value(json_object_get(o, "last_error"));
            const char *na =
                json_string_value(json_object_get(o, "not_after"));
            const char *ra =
                json_string_value(json_object_get(o, "renew_at"));
            char *names = json_dumps(json_object_get(o, "names"),
                                     JSON_COMPACT);

            kw_outf(stdout, "%-16s %-8lld %-20s %-20s %-12s %s\n",
                    json_string_value(json_object_get(o, "name")),
                    (long long)json_integer_value(
                        json_object_get(o, "live_version")),
                    na ? na : "-", ra ? ra : "-",
                    json_string_value(json_object_get(o, "state")),
                    err != NULL ? err : (names ? names : ""));
            free(names);
        }
    }
    json_decref(arr);
    kw_config_free(&conf);
    return failed ? KW_EXIT_FAIL : KW_EXIT_OK;
}

/* ----- keywarden rollback NAME ------------------------------------------- */

static void rollback_usage(FILE *out)
{
    fputs("Usage: keywarden [--config FILE] rollback NAME\n"
          "\n"
          "Switch live/NAME back to the newest archived version older than "
          "the live\n"
          "one (one rename, as a renewal does) and record it.  Reload the "
          "daemons that\n"
          "use the certificate afterwards.  The next renewal makes a new "
          "version as usual.\n",
          out);
}

int cli_rollback(kw_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"state-dir", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    kw_config conf;
    ks_deploy_opts dop;
    ks_deploy_result dr;
    ks_store *s = NULL;
    kw_diag d;
    char dir[PATH_MAX], cert[PATH_MAX + 300], fp[65], when[32];
    int64_t nb, na;
    int ch, r, lock_fd = -1, found = 0;
    size_t i;

    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        r = kw_cli_shared_opt(cli, ch, optarg, NULL, rollback_usage,
                              KW_EXIT_USAGE);
        if (r != KW_CLI_NEXT)
            return r == KW_CLI_NOT_SHARED ? KW_EXIT_USAGE : r;
    }
    if (optind + 1 != argc) {
        rollback_usage(stderr);
        return KW_EXIT_USAGE;
    }
    if (load_conf(cli, &conf) != 0)
        return KW_EXIT_FAIL;
    for (i = 0; i < conf.ncerts; i++)
        if (strcmp(conf.certs[i].name, argv[optind]) == 0)
            found = 1;
    if (!found) {
        kw_err("rollback: %s: no [certificate \"%s\"] in %s", argv[optind],
               argv[optind], cli->config_path);
        kw_config_free(&conf);
        return KW_EXIT_USAGE;
    }
    kw_certs_dir(&conf, cli->state_dir, dir, sizeof(dir));
    if (kw_cli_open(cli, 1, &s) != 0) {
        kw_config_free(&conf);
        return KW_EXIT_FAIL;
    }
    if (kw_state_lock(cli, "rollback", &lock_fd, &d) != 0) {
        kw_err("rollback: %s", d.msg);
        ks_close(s);
        kw_config_free(&conf);
        return KW_EXIT_FAIL;
    }
    memset(&dop, 0, sizeof(dop));
    dop.root = dir;
    dop.key_gid = (gid_t)-1;
    dop.owner = (uid_t)-1;
    r = ks_deploy_rollback(&dop, argv[optind], &dr, &d);
    if (r == 0) {
        snprintf(cert, sizeof(cert), "%s/cert.pem", dr.dir);
        r = kw_cert_file_facts(cert, &nb, &na, fp, &d);
    }
    if (r == 0)
        r = ks_managed_rolled_back(s, argv[optind], dr.version, dr.previous,
                                   nb, na, fp, kw_renew_due(nb, na),
                                   cli->now, &d);
    ks_close(s);
    if (r != 0) {
        close(lock_fd);
        kw_config_free(&conf);
        kw_err("rollback %s: %s", argv[optind], d.msg);
        return KW_EXIT_FAIL;
    }
    kw_time_rfc3339(na, when, sizeof(when));
    kw_outf(stdout, "%s: version %d is live again (was %d), valid until %s\n",
            argv[optind], dr.version, dr.previous, when);
    if (conf.nhooks == 0)
        kw_outf(stdout,
                "no [hook] is configured: reload the daemons that use "
                "%s/live/%s\n",
                dir, argv[optind]);
    fflush(stdout);
    r = kw_hooks_deliver_now(cli, &conf, stdout);
    close(lock_fd);
    kw_config_free(&conf);
    return r != 0 ? KW_EXIT_FAIL : KW_EXIT_OK;
}

/* ----- keywarden revoke NAME, keywarden account rollover ------------------- */

typedef struct op_run {
    kw_acme_env env;
    int ok;
    char msg[2048];
} op_run;

static void on_op(void *ctx, int ok, const char *msg)
{
    op_run *r = ctx;

    r->ok = ok;
    snprintf(r->msg, sizeof(r->msg), "%s", msg);
    kw_acme_env_close(&r->env);
}

/* Runs one revoke (c != NULL) or account rollover (c == NULL) to the end,
 * under the daemon's lock. */
static int run_op(kw_cli *cli, const kw_config *conf, const kw_cert_conf *c,
                  int reason, op_run *r)
{
    uv_loop_t loop;
    ks_store *s = NULL;
    kw_diag d;
    int lock_fd = -1, rc;

    if (kw_cli_open(cli, 1, &s) != 0)
        return -1;
    ks_close(s);
    if (kw_state_lock(cli, c != NULL ? "revoke" : "account", &lock_fd,
                      &d) != 0) {
        kw_err("%s", d.msg);
        return -1;
    }
    uv_loop_init(&loop);
    rc = kw_acme_env_init(&r->env, &loop, conf, cli->state_dir, cli->db_path,
                          &d);
    if (rc == 0)
        rc = c != NULL ? kw_revoke_start(&r->env, c, reason, on_op, r, &d)
                       : kw_account_rollover_start(&r->env, on_op, r, &d);
    if (rc != 0) {
        kw_err("%s", d.msg);
        kw_acme_env_close(&r->env);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    close(lock_fd);
    return rc == 0 ? 0 : -1;
}

static void revoke_usage(FILE *out)
{
    fputs("Usage: keywarden [--config FILE] revoke NAME [--reason REASON]\n"
          "\n"
          "Revoke the live certificate of [certificate \"NAME\"] with the "
          "ACME account\n"
          "that issued it.  REASON: unspecified, keyCompromise, "
          "affiliationChanged,\n"
          "superseded, cessationOfOperation or privilegeWithdrawn.  The "
          "files stay in\n"
          "place: run `keywarden renew --force NAME` for a new certificate "
          "(with a\n"
          "new key), then reload the daemons that use it.\n",
          out);
}

int cli_revoke(kw_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"reason", required_argument, NULL, 'r'},
        {"state-dir", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    kw_config conf;
    const kw_cert_conf *c = NULL;
    op_run r;
    int ch, rc, reason = -1;
    size_t i;

    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == 'r') {
            reason = kw_revoke_reason_parse(optarg);
            if (reason < 0) {
                kw_err("--reason %s: expected unspecified, keyCompromise, "
                       "affiliationChanged, superseded, "
                       "cessationOfOperation or privilegeWithdrawn",
                       optarg);
                return KW_EXIT_USAGE;
            }
            continue;
        }
        rc = kw_cli_shared_opt(cli, ch, optarg, NULL, revoke_usage,
                               KW_EXIT_USAGE);
        if (rc != KW_CLI_NEXT)
            return rc == KW_CLI_NOT_SHARED ? KW_EXIT_USAGE : rc;
    }
    if (optind + 1 != argc) {
        revoke_usage(stderr);
        return KW_EXIT_USAGE;
    }
    if (load_conf(cli, &conf) != 0)
        return KW_EXIT_FAIL;
    for (i = 0; i < conf.ncerts; i++)
        if (strcmp(conf.certs[i].name, argv[optind]) == 0)
            c = &conf.certs[i];
    if (c == NULL) {
        kw_err("revoke: %s: no [certificate \"%s\"] in %s", argv[optind],
               argv[optind], cli->config_path);
        kw_config_free(&conf);
        return KW_EXIT_USAGE;
    }
    memset(&r, 0, sizeof(r));
    rc = run_op(cli, &conf, c, reason, &r);
    if (rc == 0 && r.ok)
        kw_outf(stdout,
                "%s: revoked; run `keywarden renew --force %s` for a new "
                "certificate\n",
                c->name, c->name);
    else if (rc == 0)
        kw_outf(stdout, "%s: NOT revoked: %s\n", c->name, r.msg);
    kw_config_free(&conf);
    return rc == 0 && r.ok ? KW_EXIT_OK : KW_EXIT_FAIL;
}

static void account_usage(FILE *out)
{
    fputs("Usage: keywarden [--config FILE] account rollover\n"
          "\n"
          "Replace the ACME account key for the [acme] directory (RFC 8555 "
          "keyChange):\n"
          "a new key is written beside the old one, the CA is told, and "
          "then the new\n"
          "key replaces the old file.  The account and its certificates "
          "stay.\n",
          out);
}

int cli_account(kw_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"state-dir", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    kw_config conf;
    kw_diag d;
    op_run r;
    int ch, rc;

    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        rc = kw_cli_shared_opt(cli, ch, optarg, NULL, account_usage,
                               KW_EXIT_USAGE);
        if (rc != KW_CLI_NEXT)
            return rc == KW_CLI_NOT_SHARED ? KW_EXIT_USAGE : rc;
    }
    if (optind + 1 != argc || strcmp(argv[optind], "rollover") != 0) {
        account_usage(stderr);
        return KW_EXIT_USAGE;
    }
    if (kw_config_load(cli->config_path, &conf, &d) != 0) {
        kw_err("%s", d.msg);
        return KW_EXIT_FAIL;
    }
    memset(&r, 0, sizeof(r));
    rc = run_op(cli, &conf, NULL, -1, &r);
    if (rc == 0 && r.ok)
        kw_outf(stdout, "account key changed\n");
    else if (rc == 0)
        kw_outf(stdout, "account key NOT changed: %s\n", r.msg);
    kw_config_free(&conf);
    return rc == 0 && r.ok ? KW_EXIT_OK : KW_EXIT_FAIL;
}

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

static void on_pc(void *ctx, int ok, const char *summary, const char *fix,
                  json_t *report)
{
    pc_run *r = ctx;
    size_t i;
    json_t *n;

    (void)summary;
    (void)fix;
    if (!ok)
        r->failed = 1;
    if (r->json)
        json_array_foreach(report, i, n) json_array_append(r->all, n);
    else
        print_report(report);
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
    if (kw_acme_env_init(&r.env, &loop, &conf, cli->state_dir, cli->db_path,
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
