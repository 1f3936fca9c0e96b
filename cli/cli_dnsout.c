/*
 * cli_dnsout.c: what `dnssec check`, `dnssec ds` and `dane check` share:
 * findings as text and JSON, the JSON report on stdout, the --server and
 * resolver options, and the dispatch of a command group with one
 * subcommand (cli.h).
 */
#include "cli.h"

#include "../dnssec/dnssec_live.h"
#include "../dns/dns_resolve.h"

#include "../common/kw_log.h"
#include "../common/kw_str.h"

#include <stdlib.h>
#include <string.h>

static const char *sev_name(ks_health h)
{
    return h == KS_HEALTH_OK ? "ok" : h == KS_HEALTH_WARNING ? "warning"
           : h == KS_HEALTH_CRITICAL ? "critical" : "unknown";
}

void kw_cli_print_json(json_t *j, const char *cmd)
{
    if (j == NULL || json_dumpf(j, stdout, JSON_INDENT(2)) != 0)
        kw_err("%s: cannot write the JSON report", cmd);
    else
        fputc('\n', stdout);
}

const char *kw_cli_health_word(int h)
{
    return sev_name((ks_health)h);
}

json_t *kw_cli_finds_json(const kw_dnssec_live_find *f, size_t n)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; a != NULL && i < n; i++)
        json_array_append_new(a, json_pack(
            "{s:s, s:s, s:s, s:s, s:s, s:s}", "severity",
            sev_name(f[i].severity), "code", f[i].code,
            "server", f[i].server, "record", f[i].record,
            "text", f[i].text, "fix", f[i].fix));
    return a;
}

void kw_cli_finds_text(const kw_dnssec_live_find *f, size_t n,
                       size_t dropped, FILE *out)
{
    size_t i;

    /* Through kw_outf: a finding's text may quote a server (the DANE
     * check's probe errors hold the SMTP server's reply line as sent), so
     * its bytes must not reach the terminal raw. */
    for (i = 0; i < n; i++) {
        kw_outf(out, "  %s %s%s%s %s: %s\n", sev_name(f[i].severity),
                f[i].code, f[i].server[0] ? " at " : "", f[i].server,
                f[i].record, f[i].text);
        if (f[i].fix[0])
            kw_outf(out, "    fix: %s\n", f[i].fix);
    }
    if (dropped > 0)
        fprintf(out, "  (%zu more findings not kept)\n", dropped);
}

int kw_cli_dns_server(const char *cmd, const char *opt, const char *v,
                      kw_dns_server *s)
{
    kw_diag d = {{0}};

    if (kw_dns_server_parse(v, 53, s, &d) != 0) {
        kw_err("%s: %s %s: %s", cmd, opt, v, d.msg);
        return -1;
    }
    return 0;
}

int kw_cli_resolver(const char *cmd, const char *opt, int given,
                    kw_dns_server *r)
{
    kw_diag d = {{0}};

    if (!given && kw_dns_system_resolver(NULL, r, &d) != 0) {
        kw_err("%s: no resolver (%s): %s", cmd, opt, d.msg);
        return -1;
    }
    return 0;
}

int kw_cli_only_sub(kw_cli *cli, int argc, char **argv, const char *group,
                    const char *sub, void (*usage)(FILE *),
                    int (*run)(kw_cli *, int, char **))
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? KW_EXIT_USAGE : KW_EXIT_OK;
    }
    if (strcmp(argv[1], sub) != 0) {
        kw_err("%s: unknown subcommand \"%s\"; try `keywarden %s %s`",
               group, argv[1], group, sub);
        return KW_EXIT_USAGE;
    }
    return run(cli, argc - 1, argv + 1);
}
