/*
 * cli_serve.c: keywarden serve, the daemon (daemon.h) in the foreground.
 */
#include "cli.h"
#include "../service/daemon.h"

#include <getopt.h>

static void serve_usage(FILE *out)
{
    fputs("Usage: keywarden [--config FILE] [--state-dir DIR] "
          "[--log-level LEVEL] serve\n"
          "\n"
          "Run the service in the foreground (systemd runs it so, with\n"
          "Type=notify): scan the configured paths now and every interval,\n"
          "rescan within seconds when files under them change, and keep\n"
          "all work as durable jobs in the inventory, so that work\n"
          "interrupted by a stop, a crash or kill -9 resumes at the next "
          "start.\n"
          "SIGHUP re-reads the configuration (a broken file is reported "
          "and the\n"
          "running one stays); SIGTERM or SIGINT stop within seconds.\n"
          "Only one daemon runs per state directory.\n",
          out);
}

int cli_serve(kw_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"state-dir", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, r;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        r = kw_cli_shared_opt(cli, c, optarg, NULL, serve_usage,
                              KW_EXIT_USAGE);
        if (r != KW_CLI_NEXT)
            return r == KW_CLI_NOT_SHARED ? KW_EXIT_USAGE : r;
    }
    if (optind < argc) {
        serve_usage(stderr);
        return KW_EXIT_USAGE;
    }
    return kw_daemon_serve(cli);
}
