/*
 * paths.c: the state directory as the commands meet it (state.h), and
 * the options every command shares.
 */
#include "cli.h"

#include "../common/kw_log.h"

#include <getopt.h>

int kw_cli_init(kw_cli *cli, const char *opt)
{
    kw_diag d;

    if (kw_state_init(cli, opt, &d) != 0) {
        kw_err("%s", d.msg);
        return KW_EINVAL;
    }
    return 0;
}

int kw_cli_open(kw_cli *cli, int create, ks_store **out)
{
    kw_diag d;
    int r;

    *out = NULL;
    if (!create && !kw_state_has_inventory(cli))
        return KW_ENOENT;
    r = kw_state_open(cli, create, out, &d);
    if (r != 0)
        kw_err("%s", d.msg);
    return r;
}

int kw_cli_open_existing(kw_cli *cli, ks_store **out)
{
    int r = kw_cli_open(cli, 0, out);

    if (r == KW_ENOENT)
        kw_err("no inventory at %s; run `keywarden scan PATH...` first "
               "(or give --state-dir)",
               cli->db_path);
    return r;
}

int kw_cli_shared_opt(kw_cli *cli, int c, const char *arg, ks_thresholds *t,
                      void (*usage)(FILE *), int bad_usage)
{
    switch (c) {
    case 'S':
        return kw_cli_init(cli, arg) == 0 ? KW_CLI_NEXT : KW_EXIT_FAIL;
    case 'w':
    case 'c':
        if (t == NULL)
            break;
        if (kw_parse_duration_opt(c == 'w' ? "--warn" : "--crit", arg,
                                  c == 'w' ? &t->warn : &t->crit) != 0)
            return bad_usage;
        return KW_CLI_NEXT;
    case 'h':
        usage(stdout);
        return KW_EXIT_OK;
    case '?':
    case ':':
        usage(stderr);
        return bad_usage;
    default:
        break;
    }
    return KW_CLI_NOT_SHARED;
}

int kw_cli_shared_only(kw_cli *cli, int argc, char **argv,
                       void (*usage)(FILE *))
{
    static const struct option opts[] = {
        {"state-dir", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, r;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        r = kw_cli_shared_opt(cli, c, optarg, NULL, usage, KW_EXIT_USAGE);
        if (r != KW_CLI_NEXT)
            return r == KW_CLI_NOT_SHARED ? KW_EXIT_USAGE : r;
    }
    return KW_CLI_NEXT;
}
