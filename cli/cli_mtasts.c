/*
 * cli_mtasts.c: keywarden mta-sts check DOMAIN... : each mail domain's
 * MTA-STS record, policy, MX hosts and their certificates, and TLS-RPT
 * (mtasts/mtasts_check.h), as text or JSON.  The id and policy hash of
 * each domain are kept in the inventory, so a policy edited without a new
 * id is found on the next run.  The exit status is the monitoring
 * plugins' (0 ok, 1 warning, 2 critical, 3 unknown), the worst domain's.
 */
#include "cli.h"

#include "../dns/dns_resolve.h"
#include "../mtasts/mtasts.h"

#include "../common/kw_log.h"
#include "../common/kw_str.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void mtasts_usage(FILE *out)
{
    fputs("Usage: keywarden mta-sts check [--json] [--resolver ADDR[:PORT]]\n"
          "         [--cafile FILE] [--https-port N] [--smtp-port N] "
          "[--timeout DUR]\n"
          "         DOMAIN...\n"
          "\n"
          "check reads the _mta-sts and _smtp._tls TXT records and the MX "
          "set of\n"
          "each DOMAIN, fetches https://mta-sts.DOMAIN/.well-known/"
          "mta-sts.txt\n"
          "(no redirect followed, its certificate verified), and checks "
          "that the\n"
          "policy's mx: patterns cover every MX and that every MX serves a "
          "valid\n"
          "certificate for its name after STARTTLS.  The id and the "
          "policy's hash\n"
          "are remembered, so a policy changed without a new id is found.\n"
          "  --resolver    the resolver to ask (default: the first "
          "nameserver of\n"
          "                /etc/resolv.conf)\n"
          "  --cafile      trust this CA file instead of the system's store\n"
          "  --https-port  connect to the policy host on this port "
          "(default 443)\n"
          "  --smtp-port   connect to the MX hosts on this port (default "
          "25)\n"
          "  --timeout     the bound of each question, fetch and probe "
          "(default 10s)\n"
          "  --json        the results as JSON\n"
          "Exit status: 0 ok, 1 warning, 2 critical, 3 unknown.\n",
          out);
}

static int port_opt(const char *opt, const char *v, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);

    if (*v == '\0' || *end != '\0' || n < 1 || n > 65535) {
        kw_err("mta-sts: %s %s: not a port number", opt, v);
        return -1;
    }
    *out = (int)n;
    return 0;
}

static void text_report(const kw_mtasts_facts *f,
                        const kw_mtasts_findings *out, FILE *fp)
{
    size_t i;

    /* Through kw_outf: the MX names, the policy host's Content-Type and
     * redirect, certificate subjects and curl's errors come from the
     * network and must not drive the operator's terminal. */
    kw_outf(fp, "%s: %s\n", f->domain,
            ks_health_word(kw_mtasts_worst(out)));
    kw_outf(fp, "  id      %s\n", f->txt.id[0] ? f->txt.id : "-");
    kw_outf(fp, "  policy  %s", f->url);
    if (f->policy_status == 0 && f->fetched && f->http_code == 200)
        kw_outf(fp, " (mode %s, max_age %lld)",
                kw_mtasts_mode_name(f->policy.mode),
                (long long)f->policy.max_age);
    fputc('\n', fp);
    for (i = 0; i < f->policy.nmx; i++)
        kw_outf(fp, "          mx: %s\n", f->policy.mx[i]);
    for (i = 0; i < f->nmx; i++)
        kw_outf(fp, "  MX      %s %s%s\n", f->mx[i].host, f->mx[i].addr,
                f->mx[i].verified ? " (certificate verified)" : "");
    for (i = 0; i < f->rpt.nrua; i++)
        kw_outf(fp, "  TLS-RPT %s\n", f->rpt.rua[i]);
    for (i = 0; i < out->n; i++) {
        const kw_mtasts_find *x = &out->f[i];
        kw_outf(fp, "  %-8s %s: %s\n", ks_health_word(x->severity), x->code,
                x->text);
        if (x->fix[0])
            kw_outf(fp, "           fix: %s\n", x->fix);
    }
}

static int mtasts_check(kw_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"resolver", required_argument, NULL, 'R'},
        {"cafile", required_argument, NULL, 'C'},
        {"https-port", required_argument, NULL, 'H'},
        {"smtp-port", required_argument, NULL, 'M'},
        {"timeout", required_argument, NULL, 'T'},
        {"state-dir", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    kw_mtasts_opts o;
    kw_mtasts_facts *f = NULL;
    kw_mtasts_findings *fs = NULL;
    ks_store *s = NULL;
    json_t *all = NULL;
    kw_diag d = {{0}};
    int c, r, json = 0, have_res = 0, worst = KS_HEALTH_OK;
    int64_t timeout = 0;

    memset(&o, 0, sizeof(o));
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = 1;
            continue;
        case 'R':
            if (kw_dns_server_parse(optarg, 53, &o.resolver, &d) != 0) {
                kw_err("mta-sts: --resolver %s: %s", optarg, d.msg);
                return KS_HEALTH_UNKNOWN;
            }
            have_res = 1;
            continue;
        case 'C':
            o.cafile = optarg;
            continue;
        case 'H':
            if (port_opt("--https-port", optarg, &o.https_port) != 0)
                return KS_HEALTH_UNKNOWN;
            continue;
        case 'M':
            if (port_opt("--smtp-port", optarg, &o.smtp_port) != 0)
                return KS_HEALTH_UNKNOWN;
            continue;
        case 'T':
            if (kw_parse_duration_opt("--timeout", optarg, &timeout) != 0)
                return KS_HEALTH_UNKNOWN;
            if (timeout < 1 || timeout > 300) {
                kw_err("mta-sts: --timeout %s: from 1s to 5m", optarg);
                return KS_HEALTH_UNKNOWN;
            }
            o.timeout_ms = (int)(timeout * 1000);
            continue;
        default:
            break;
        }
        r = kw_cli_shared_opt(cli, c, optarg, NULL, mtasts_usage,
                              KS_HEALTH_UNKNOWN);
        if (r != KW_CLI_NEXT)
            return r == KW_CLI_NOT_SHARED ? KS_HEALTH_UNKNOWN : r;
    }
    if (optind >= argc) {
        mtasts_usage(stderr);
        return KS_HEALTH_UNKNOWN;
    }
    if (!have_res && kw_dns_system_resolver(NULL, &o.resolver, &d) != 0) {
        kw_err("mta-sts check: no resolver (--resolver): %s", d.msg);
        return KS_HEALTH_UNKNOWN;
    }
    if (kw_cli_open(cli, 1, &s) != 0)
        return KS_HEALTH_UNKNOWN;
    f = malloc(sizeof(*f));
    fs = malloc(sizeof(*fs));
    all = json_array();
    if (f == NULL || fs == NULL || all == NULL) {
        kw_err("mta-sts check: out of memory");
        worst = KS_HEALTH_UNKNOWN;
        goto out;
    }
    for (; optind < argc; optind++) {
        ks_health h;

        if (kw_mtasts_check(s, &o, argv[optind], cli->now, f, fs, &d) != 0) {
            kw_err("mta-sts check: %s: %s", argv[optind], d.msg);
            worst = KS_HEALTH_UNKNOWN;
            continue;
        }
        h = kw_mtasts_worst(fs);
        if (json)
            json_array_append_new(all, kw_mtasts_json(f, fs));
        else
            text_report(f, fs, stdout);
        if (worst != KS_HEALTH_UNKNOWN && ks_health_rank(h) >
                                              ks_health_rank(worst))
            worst = h;
    }
    if (json) {
        if (json_dumpf(all, stdout, JSON_INDENT(2)) != 0)
            kw_err("mta-sts check: cannot write the JSON report");
        else
            fputc('\n', stdout);
    }
out:
    json_decref(all);
    free(f);
    free(fs);
    ks_close(s);
    return worst;
}

int cli_mtasts(kw_cli *cli, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        mtasts_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? KW_EXIT_USAGE : KW_EXIT_OK;
    }
    if (strcmp(argv[1], "check") == 0)
        return mtasts_check(cli, argc - 1, argv + 1);
    kw_err("mta-sts: unknown subcommand \"%s\"; try `keywarden mta-sts "
           "check`", argv[1]);
    return KW_EXIT_USAGE;
}
