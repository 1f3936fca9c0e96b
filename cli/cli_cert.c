/*
 * cli_cert.c: the managed certificates: keywarden certificate list,
 * rollback, revoke and account rollover (certificate add and remove,
 * which edit the configuration file, are cli_certedit.c).
 */
#include "cli.h"
#include "../service/hooks.h"
#include "../service/config.h"
#include "../acme/acme_ops.h"
#include "../acme/renew.h"

#include "../common/kw_log.h"
#include "../common/kw_time.h"
#include "../keystore/ks_deploy.h"
#include "../keystore/ks_managed.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ----- the configuration's managed certificates ------------------------- */

int kw_cli_load_certs(kw_cli *cli, kw_config *c)
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
    if (kw_cli_load_certs(cli, &conf) != 0)
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
    if (kw_cli_load_certs(cli, &conf) != 0)
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
    kw_config_certs_dir(&conf, cli->state_dir, dir, sizeof(dir));
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
    int status;      /* kw_acme_op_result's */
    char msg[2048];
} op_run;

static void on_op(void *ctx, const kw_acme_op_result *res)
{
    op_run *r = ctx;

    r->status = res->status;
    snprintf(r->msg, sizeof(r->msg), "%s", res->msg);
    kw_acme_env_close(&r->env);
}

/* Runs one revoke (c != NULL) or account rollover (c == NULL) to the end,
 * under the daemon's lock. */
static int run_op(kw_cli *cli, const kw_config *conf, const kw_cert_conf *c,
                  int reason, op_run *r)
{
    uv_loop_t loop;
    ks_store *s = NULL;
    kw_acme_params ap;
    kw_renew_params p;
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
    r->status = KW_ECANCELED; /* until on_op says what happened */
    kw_config_acme_params(conf, cli->state_dir, &ap);
    rc = kw_acme_env_init(&r->env, &loop, &ap, cli->state_dir, cli->db_path,
                          &d);
    if (c != NULL)
        kw_config_renew_params(conf, c, &p);
    if (rc == 0)
        rc = c != NULL ? kw_revoke_start(&r->env, &p, reason, on_op, r, &d)
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
    if (kw_cli_load_certs(cli, &conf) != 0)
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
    if (rc == 0 && r.status == 0)
        kw_outf(stdout,
                "%s: revoked; run `keywarden renew --force %s` for a new "
                "certificate\n",
                c->name, c->name);
    else if (rc == 0)
        kw_outf(stdout, "%s: NOT revoked: %s\n", c->name, r.msg);
    kw_config_free(&conf);
    return rc == 0 && r.status == 0 ? KW_EXIT_OK : KW_EXIT_FAIL;
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
    if (rc == 0 && r.status == 0)
        kw_outf(stdout, "account key changed\n");
    else if (rc == 0)
        kw_outf(stdout, "account key NOT changed: %s\n", r.msg);
    kw_config_free(&conf);
    return rc == 0 && r.status == 0 ? KW_EXIT_OK : KW_EXIT_FAIL;
}
