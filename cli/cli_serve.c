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
    int r = kw_cli_shared_only(cli, argc, argv, serve_usage);

    if (r != KW_CLI_NEXT)
        return r;
    if (optind < argc) {
        serve_usage(stderr);
        return KW_EXIT_USAGE;
    }
    return kw_daemon_serve(cli);
}
