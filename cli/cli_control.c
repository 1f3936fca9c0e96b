/*
 * cli_control.c: keywarden status, reload and run-job: talking to a
 * running daemon through its control socket.
 */
#include "cli.h"
#include "../service/config.h"
#include "../service/control.h"
#include "../service/job.h"

#include "../common/kw_log.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

/* The socket the daemon listens on: from the configuration when it can
 * be read, else the default. */
void kw_cli_control_path(kw_cli *cli, char *out, size_t len)
{
    kw_config c;
    kw_diag d;

    if (kw_config_load(cli->config_path, &c, &d) == 0) {
        kw_state_control_path(cli, c.control_socket, out, len);
        kw_config_free(&c);
    } else {
        kw_state_control_path(cli, NULL, out, len);
    }
}

int kw_cli_call_daemon(kw_cli *cli, json_t *request, int timeout_ms,
                       json_t **reply, kw_diag *d)
{
    char path[PATH_MAX];

    kw_cli_control_path(cli, path, sizeof(path));
    if (path[0] == '\0')
        return kw_diag_set(d, KW_ENOENT, "no control socket");
    return kw_control_call(path, request, timeout_ms, reply, d);
}

int kw_cli_daemon_absent(int r)
{
    return r == KW_ENOENT || r == -ECONNREFUSED;
}

static void control_usage(FILE *out)
{
    fputs("Usage: keywarden status\n"
          "       keywarden reload\n"
          "       keywarden run-job scan | dkim | dkim-rotate | "
          "dnssec-check |\n"
          "                         dane-check | mta-sts-check | "
          "probe:ENDPOINT |\n"
          "                         renew:CERT | precheck:CERT | "
          "dane-roll:CERT\n"
          "\n"
          "Talk to the running daemon through its control socket "
          "([daemon]\n"
          "control_socket, default STATE_DIR/keywarden.sock):\n"
          "  status   whether it runs, and its pending and running jobs\n"
          "  reload   re-read the configuration (as SIGHUP does); when the\n"
          "           daemon rejects it, its error, and exit 1\n"
          "  run-job  make a job due now: a scan, the DNS check of the "
          "DKIM\n"
          "           selectors, the DKIM rotations, the DNSSEC, DANE or "
          "MTA-STS\n"
          "           checks, the probe of an endpoint, a certificate's "
          "renewal,\n"
          "           pre-check or DANE key rollover\n"
          "Exit 0 on success, 1 when the daemon refused or is not "
          "running.\n",
          out);
}

int cli_status(kw_cli *cli, int argc, char **argv)
{
    json_t *req, *reply = NULL, *j;
    kw_diag d;
    size_t i;
    int r;

    if ((r = kw_cli_shared_only(cli, argc, argv, control_usage)) >= 0)
        return r;
    req = json_pack("{s:s}", "cmd", "status");
    r = kw_cli_call_daemon(cli, req, 10000, &reply, &d);
    json_decref(req);
    if (kw_cli_daemon_absent(r)) {
        kw_outf(stdout, "keywarden is not running (%s)\n", d.msg);
        return KW_EXIT_FAIL;
    }
    if (r != 0 || !json_is_true(json_object_get(reply, "ok"))) {
        kw_err("status: %s", r != 0 ? d.msg
                                    : json_string_value(json_object_get(
                                          reply, "error")));
        json_decref(reply);
        return KW_EXIT_FAIL;
    }
    kw_outf(stdout, "keywarden is running; jobs:\n");
    json_array_foreach(json_object_get(reply, "jobs"), i, j)
    {
        const char *err =
            json_string_value(json_object_get(j, "last_error"));
        kw_outf(stdout, "  %-6s %-20s %-8s next %s%s%s%s\n",
                json_string_value(json_object_get(j, "type")),
                json_string_value(json_object_get(j, "key")),
                json_string_value(json_object_get(j, "state")),
                json_string_value(json_object_get(j, "next_at")),
                err ? " (last error: " : "", err ? err : "", err ? ")" : "");
    }
    json_decref(reply);
    return KW_EXIT_OK;
}

static int simple_call(kw_cli *cli, json_t *req, const char *what)
{
    json_t *reply = NULL;
    kw_diag d;
    int r = kw_cli_call_daemon(cli, req, 10000, &reply, &d);

    json_decref(req);
    if (kw_cli_daemon_absent(r)) {
        kw_err("%s: keywarden is not running (%s)", what, d.msg);
        return KW_EXIT_FAIL;
    }
    if (r != 0 || !json_is_true(json_object_get(reply, "ok"))) {
        kw_err("%s: %s", what,
               r != 0 ? d.msg
                      : json_string_value(json_object_get(reply, "error")));
        json_decref(reply);
        return KW_EXIT_FAIL;
    }
    json_decref(reply);
    kw_outf(stdout, "%s: ok\n", what);
    return KW_EXIT_OK;
}

int cli_reload(kw_cli *cli, int argc, char **argv)
{
    int r;

    if ((r = kw_cli_shared_only(cli, argc, argv, control_usage)) >= 0)
        return r;
    return simple_call(cli, json_pack("{s:s}", "cmd", "reload"), "reload");
}

int cli_run_job(kw_cli *cli, int argc, char **argv)
{
    const char *job, *colon;
    const kw_job_type *t;
    char type[32];
    int r;

    if ((r = kw_cli_shared_only(cli, argc, argv, control_usage)) >= 0)
        return r;
    if (optind + 1 != argc) {
        control_usage(stderr);
        return KW_EXIT_USAGE;
    }
    job = argv[optind];
    colon = strchr(job, ':');
    snprintf(type, sizeof(type), "%.*s",
             (int)(colon != NULL ? (size_t)(colon - job) : strlen(job)), job);
    /* A type with one job (scan, dkim) needs no name; the daemon says
     * when the type is unknown. */
    t = kw_job_type_find(type);
    if (colon == NULL && (t == NULL || t->noun != NULL)) {
        kw_err("run-job %s: which one?  %s:NAME", type, type);
        return KW_EXIT_USAGE;
    }
    return simple_call(cli,
                       json_pack("{s:s, s:s, s:s?}", "cmd", "run", "type",
                                 type, "key", colon ? colon + 1 : NULL),
                       "run-job");
}
