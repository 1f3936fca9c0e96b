/*
 * main.c: keywarden's command line.
 */
#include "cli.h"

#include "../common/kw_log.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fputs(
        "Usage: keywarden [--state-dir DIR] [--config FILE] [--log-level "
        "LEVEL]\n"
        "                 COMMAND [ARGS]\n"
        "\n"
        "keywarden keeps an inventory of the TLS certificates of a mail or "
        "web server\n"
        "and tells what expires when and what is already wrong; it gets "
        "and renews\n"
        "certificates over ACME and deploys them atomically.\n"
        "\n"
        "Commands:\n"
        "  scan PATH...     add or refresh certificate files and "
        "directories\n"
        "  list             the expiry listing, soonest deadline first\n"
        "  show ID|NAME     everything known about one object\n"
        "  check            monitoring-plugin check (Nagios, Icinga, "
        "Zabbix)\n"
        "  forget ID        remove an object from the inventory (its "
        "history stays)\n"
        "  config check     validate the configuration file\n"
        "  serve            run the service (scans, probes, renewals: "
        "durable jobs)\n"
        "  probe HOST:PORT  fetch the certificate chain a server serves\n"
        "  discover         find the certificates Postfix, Dovecot and "
        "nginx use\n"
        "  renew [NAME...]  renew the managed certificates that are due "
        "(ACME)\n"
        "  certificate list the managed certificates and their renewal "
        "state\n"
        "  certificate add|remove NAME  a [certificate] section in the "
        "configuration\n"
        "  rollback NAME    make the previous version of a managed "
        "certificate live\n"
        "  revoke NAME      revoke a managed certificate at its CA\n"
        "  account rollover replace the ACME account key (keyChange)\n"
        "  precheck NAME... will the CA's HTTP-01 validation succeed? "
        "(every hop)\n"
        "  hooks list|history|test|run|retry  the post-change hooks and "
        "their runs\n"
        "  dkim check [DOMAIN...]  DKIM records at every DNS server, SPF and "
        "DMARC\n"
        "  dkim rotate DOMAIN|--due  rotate a managed DKIM selector, or "
        "every due one\n"
        "  dkim abort DOMAIN  take back a rotation not yet active\n"
        "  dkim status [DOMAIN]  each rotation's stage and what it waits "
        "for\n"
        "  dkim cnames [DOMAIN...]  a dedicated DKIM zone's one-time "
        "CNAMEs\n"
        "  dnssec check ZONE...  a signed zone's chain of trust and "
        "signatures at every server\n"
        "  dnssec ds ZONE   the DS record a new KSK waits for at the "
        "parent\n"
        "  mta-sts check DOMAIN...  MTA-STS policy, its MX hosts, TLS-RPT\n"
        "  dane check HOST[:PORT]...  TLSA records against the served "
        "and the on-disk certificate\n"
        "  dane status|step|release [NAME]  a DANE-pinned certificate's "
        "key rollover\n"
        "  status           the running daemon's jobs\n"
        "  reload           make the running daemon re-read its "
        "configuration\n"
        "  run-job JOB      make a job of the daemon due now (scan, "
        "probe:NAME,\n"
        "                   renew:CERT, precheck:CERT, dane-roll:CERT, "
        "dkim, ...)\n"
        "  help [COMMAND]   this text, or one command's\n"
        "\n"
        "Options (before or after the command):\n"
        "  --state-dir DIR    where keywarden.db lives; default "
        "$KEYWARDEN_STATE_DIR,\n"
        "                     else /var/lib/keywarden as root, else\n"
        "                     ~/.local/state/keywarden\n"
        "  --config FILE      the configuration (default "
        "/etc/keywarden/keywarden.conf)\n"
        "  --log-level LEVEL  error, warning, notice (default), info or "
        "debug\n"
        "  -h, --help         show this help\n"
        "  -V, --version      show the version\n"
        "\n"
        "Environment:\n"
        "  KEYWARDEN_STATE_DIR  default state directory\n"
        "  KEYWARDEN_NOW        pin the clock (UTC seconds or RFC 3339), "
        "for tests\n"
        "\n"
        "`keywarden COMMAND --help` describes a command; man keywarden(1) "
        "has it all.\n",
        out);
}

/* The options every command takes, before or after the command's name. */
static const struct {
    const char *name;
    int c;
} globals[] = {
    {"state-dir", 'S'},
    {"config", 'C'},
    {"log-level", 'L'},
};

/* Apply one global option; 0, or the exit code of a bad value. */
static int global_opt(int c, const char *arg, const char **state_dir,
                      const char **config)
{
    int level;

    switch (c) {
    case 'S':
        *state_dir = arg;
        break;
    case 'C':
        *config = arg;
        break;
    default:
        level = kw_log_level_parse(arg);
        if (level < 0) {
            kw_err("--log-level %s: expected error, warning, notice, info "
                   "or debug",
                   arg);
            return KW_EXIT_USAGE;
        }
        kw_log_set_level((enum kw_log_level)level);
    }
    return 0;
}

/* Global options written after the command (`keywarden serve --config
 * FILE`, as systemd units and habits write them) are taken out of
 * argv[from..*argc) and applied, so no command has to know them; "--"
 * ends the search, leaving what follows to the command. */
static int globals_after_command(int argc, char **argv, int from,
                                 int *out_argc, const char **state_dir,
                                 const char **config)
{
    int i = from, r;
    size_t g, n;

    while (i < argc && strcmp(argv[i], "--") != 0) {
        const char *a = argv[i], *val = NULL;
        int take = 0;

        for (g = 0; g < sizeof(globals) / sizeof(globals[0]); g++) {
            n = strlen(globals[g].name);
            if (strncmp(a, "--", 2) != 0 ||
                strncmp(a + 2, globals[g].name, n) != 0)
                continue;
            if (a[2 + n] == '=') {
                val = a + 3 + n;
                take = 1;
            } else if (a[2 + n] == '\0') {
                if (i + 1 >= argc) {
                    kw_err("%s: expected a value after it", a);
                    return KW_EXIT_USAGE;
                }
                val = argv[i + 1];
                take = 2;
            }
            break;
        }
        if (take == 0) {
            i++;
            continue;
        }
        if ((r = global_opt(globals[g].c, val, state_dir, config)) != 0)
            return r;
        memmove(&argv[i], &argv[i + take],
                (size_t)(argc - i - take + 1) * sizeof(*argv));
        argc -= take;
    }
    *out_argc = argc;
    return 0;
}

typedef int (*cmd_fn)(kw_cli *, int, char **);

static const struct {
    const char *name;
    cmd_fn fn;
} commands[] = {
    {"scan", cli_scan},   {"list", cli_list},     {"show", cli_show},
    {"check", cli_check}, {"forget", cli_forget}, {"config", cli_config},
    {"serve", cli_serve},   {"probe", cli_probe},   {"discover", cli_discover},
    {"status", cli_status}, {"reload", cli_reload}, {"run-job", cli_run_job},
    {"renew", cli_renew},   {"certificate", cli_certificate},
    {"rollback", cli_rollback}, {"revoke", cli_revoke},
    {"account", cli_account}, {"precheck", cli_precheck},
    {"hooks", cli_hooks}, {"dkim", cli_dkim}, {"dnssec", cli_dnssec},
    {"mta-sts", cli_mtasts},
    {"dane", cli_dane},
};

static cmd_fn find_command(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, name) == 0)
            return commands[i].fn;
    return NULL;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state-dir", required_argument, NULL, 'S'},
        {"config", required_argument, NULL, 'C'},
        {"log-level", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *state_dir = NULL, *config = NULL;
    kw_cli cli;
    cmd_fn fn;
    int c, r;

    /* A peer that goes away (a hook that exits without reading its
     * stdin, a closed pipe) must cost an EPIPE, not the process. */
    signal(SIGPIPE, SIG_IGN);
    /* '+': stop at the command; what follows belongs to it. */
    while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
        switch (c) {
        case 'S':
        case 'C':
        case 'L':
            if ((r = global_opt(c, optarg, &state_dir, &config)) != 0)
                return r;
            break;
        case 'h':
            usage(stdout);
            return KW_EXIT_OK;
        case 'V':
            printf("keywarden %s\n", KW_VERSION);
            return KW_EXIT_OK;
        default:
            usage(stderr);
            return KW_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return KW_EXIT_USAGE;
    }
    if (strcmp(argv[optind], "help") == 0) {
        if (optind + 1 < argc && (fn = find_command(argv[optind + 1]))) {
            static char help_opt[] = "--help";
            char *hv[] = {argv[optind + 1], help_opt, NULL};
            if (kw_cli_init(&cli, state_dir) != 0)
                return KW_EXIT_FAIL;
            optind = 0;
            return fn(&cli, 2, hv);
        }
        usage(stdout);
        return KW_EXIT_OK;
    }
    fn = find_command(argv[optind]);
    if (fn == NULL) {
        kw_err("unknown command \"%s\"; `keywarden --help` lists them",
               argv[optind]);
        return KW_EXIT_USAGE;
    }
    if ((r = globals_after_command(argc, argv, optind + 1, &argc,
                                   &state_dir, &config)) != 0)
        return r;
    if (kw_cli_init(&cli, state_dir) != 0) {
        /* A monitoring plugin that cannot decide says UNKNOWN, on the
         * line Nagios shows, whatever stopped it. */
        if (fn == cli_check) {
            printf("KEYWARDEN UNKNOWN - the environment is not usable "
                   "(see the error above)\n");
            return 3;
        }
        return KW_EXIT_FAIL;
    }
    if (config != NULL) {
        if (strlen(config) >= sizeof(cli.config_path)) {
            kw_err("--config: path too long");
            return KW_EXIT_USAGE;
        }
        strcpy(cli.config_path, config);
        cli.config_given = 1;
    }
    argc -= optind;
    argv += optind;
    optind = 0; /* the command parses its own options; 0 resets getopt */
    return fn(&cli, argc, argv);
}
