/*
 * cli_dnssec.c: keywarden dnssec check ZONE... : each zone's live DNSSEC
 * health (dnssec/dnssec_live.h), the chain parent DS -> KSK -> ZSK ->
 * RRSIGs with every server's serial and the findings, as text or JSON.
 * The exit status is the monitoring plugins' (0 ok, 1 warning, 2
 * critical, 3 unknown), the worst zone's.
 */
#include "cli.h"

#include "../dnssec/dnssec_live.h"
#include "../dns/dns_resolve.h"

#include "../common/kw_log.h"
#include "../common/kw_time.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void dnssec_usage(FILE *out)
{
    fputs("Usage: keywarden dnssec check [--json] [--server ADDR[:PORT]]\n"
          "         [--ds-server ADDR[:PORT]] [--port N] [--warn DUR] "
          "[--crit DUR] ZONE...\n"
          "\n"
          "Asks every authoritative server of each ZONE (its NS set, each "
          "address)\n"
          "for SOA, DNSKEY, NS and NSEC3PARAM with DNSSEC records, and "
          "the parent\n"
          "side for its DS, verifies every signature and prints the chain "
          "and what\n"
          "is wrong.\n"
          "  --server     the resolver to find the NS set and the DS with\n"
          "               (default: the first nameserver of "
          "/etc/resolv.conf)\n"
          "  --ds-server  ask this parent server for the DS instead\n"
          "  --port       the port of the authoritative servers (default "
          "53)\n"
          "  --warn, --crit  RRSIG expiry thresholds (default 7d, 3d)\n"
          "  --json       the results as JSON\n"
          "Exit status: 0 ok, 1 warning, 2 critical, 3 unknown.\n", out);
}

static const char *sev_name(ks_health h)
{
    return h == KS_HEALTH_OK ? "ok" : h == KS_HEALTH_WARNING ? "warning"
           : h == KS_HEALTH_CRITICAL ? "critical" : "unknown";
}

void kw_cli_print_json(json_t *j, const char *cmd)
{
    if (json_dumpf(j, stdout, JSON_INDENT(2)) != 0)
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

    for (i = 0; i < n; i++) {
        fprintf(out, "  %s %s%s%s %s: %s\n", sev_name(f[i].severity),
                f[i].code, f[i].server[0] ? " at " : "", f[i].server,
                f[i].record, f[i].text);
        if (f[i].fix[0])
            fprintf(out, "    fix: %s\n", f[i].fix);
    }
    if (dropped > 0)
        fprintf(out, "  (%zu more findings not kept)\n", dropped);
}

static json_t *live_json(const kw_dnssec_live *r)
{
    json_t *o = json_object(), *a;
    char ab[16];
    size_t i;

    json_object_set_new(o, "zone", json_string(r->zone));
    json_object_set_new(o, "health", json_string(sev_name(r->health)));
    json_object_set_new(o, "signed", json_boolean(r->is_signed));
    json_object_set_new(o, "ds_at_parent", json_boolean(r->has_ds));
    json_object_set_new(o, "next_expiry", json_integer(r->next_expiry));
    a = json_array();
    for (i = 0; i < r->nds; i++)
        json_array_append_new(a, json_pack(
            "{s:I, s:s, s:i, s:b}", "tag", (json_int_t)r->ds[i].tag,
            "algorithm", kw_dnssec_alg_name(r->ds[i].algorithm, ab),
            "digest_type", r->ds[i].digest_type, "matched",
            r->ds[i].matched));
    json_object_set_new(o, "ds", a);
    a = json_array();
    for (i = 0; i < r->nkeys; i++)
        json_array_append_new(a, json_pack(
            "{s:I, s:i, s:s, s:i, s:b, s:b}", "tag",
            (json_int_t)r->keys[i].tag, "flags", r->keys[i].flags,
            "algorithm", kw_dnssec_alg_name(r->keys[i].algorithm, ab),
            "bits", r->keys[i].bits, "signs_dnskey",
            r->keys[i].signs_dnskey, "ds_matched", r->keys[i].ds_matched));
    json_object_set_new(o, "keys", a);
    json_object_set_new(o, "findings", kw_cli_finds_json(r->find,
                                                         r->nfind));
    json_object_set_new(o, "findings_dropped", json_integer(
                            (json_int_t)r->dropped));
    return o;
}

static void live_text(const kw_dnssec_live *r, const kw_dnssec_obs *obs,
                      FILE *f)
{
    char ab[16], t[40];
    size_t i;

    fprintf(f, "%s: %s (%s, %s)\n", r->zone, sev_name(r->health),
            r->is_signed ? "signed" : "unsigned",
            r->has_ds ? "DS at the parent" : "no DS at the parent");
    for (i = 0; i < r->nds; i++)
        fprintf(f, "  parent DS %u %s digest %d: %s\n", r->ds[i].tag,
                kw_dnssec_alg_name(r->ds[i].algorithm, ab),
                r->ds[i].digest_type,
                r->ds[i].matched ? "matches a published key"
                                 : "matches no published key");
    for (i = 0; i < r->nkeys; i++)
        fprintf(f, "  DNSKEY %u %s %s %d bits%s%s\n", r->keys[i].tag,
                r->keys[i].flags & 1 ? "KSK" : "ZSK",
                kw_dnssec_alg_name(r->keys[i].algorithm, ab),
                r->keys[i].bits,
                r->keys[i].signs_dnskey ? ", signs the DNSKEY set" : "",
                r->keys[i].ds_matched ? ", named by the DS" : "");
    for (i = 0; i < obs->nservers; i++)
        fprintf(f, "  server %s: serial %u\n", obs->srv[i].name,
                r->serial[i]);
    if (r->next_expiry > 0) {
        kw_time_rfc3339(r->next_expiry, t, sizeof(t));
        fprintf(f, "  first RRSIG expiry: %s\n", t);
    }
    kw_cli_finds_text(r->find, r->nfind, r->dropped, f);
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

static int parse_server(const char *opt, const char *v, kw_dns_server *s)
{
    return kw_cli_dns_server("dnssec check", opt, v, s);
}

static int dnssec_check(kw_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"server", required_argument, NULL, 'R'},
        {"ds-server", required_argument, NULL, 'D'},
        {"port", required_argument, NULL, 'p'},
        {"warn", required_argument, NULL, 'W'},
        {"crit", required_argument, NULL, 'X'},
        {"state-dir", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    kw_dns_server resolver, ds_server;
    kw_dnssec_live_where w = { 0 };
    kw_dnssec_live_params p = { 0, 0 };
    kw_dnssec_obs *obs = NULL;
    kw_dnssec_live *res = NULL;
    json_t *all = NULL;
    int c, r, json = 0, have_res = 0, worst = KS_HEALTH_OK;
    kw_diag d = {{0}};

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;

        switch (c) {
        case 'j':
            json = 1;
            continue;
        case 'R':
            if (parse_server("--server", optarg, &resolver) != 0)
                return KS_HEALTH_UNKNOWN;
            have_res = 1;
            continue;
        case 'D':
            if (parse_server("--ds-server", optarg, &ds_server) != 0)
                return KS_HEALTH_UNKNOWN;
            w.ds_server = &ds_server;
            continue;
        case 'p':
            w.port = (int)strtol(optarg, &end, 10);
            if (*end != '\0' || w.port < 1 || w.port > 65535) {
                kw_err("dnssec check: --port %s: not a port number",
                       optarg);
                return KS_HEALTH_UNKNOWN;
            }
            continue;
        case 'W':
        case 'X':
            if (kw_parse_duration_opt(c == 'W' ? "--warn" : "--crit",
                                      optarg,
                                      c == 'W' ? &p.warn_s : &p.crit_s) != 0)
                return KS_HEALTH_UNKNOWN;
            continue;
        default:
            break;
        }
        r = kw_cli_shared_opt(cli, c, optarg, NULL, dnssec_usage,
                              KS_HEALTH_UNKNOWN);
        if (r != KW_CLI_NEXT)
            return r == KW_CLI_NOT_SHARED ? KS_HEALTH_UNKNOWN : r;
    }
    if (optind >= argc) {
        dnssec_usage(stderr);
        return KS_HEALTH_UNKNOWN;
    }
    if (kw_cli_resolver("dnssec check", "--server", have_res, &resolver) != 0)
        return KS_HEALTH_UNKNOWN;
    w.resolver = &resolver;
    obs = calloc(1, sizeof(*obs));
    res = calloc(1, sizeof(*res));
    all = json_array();
    if (obs == NULL || res == NULL || all == NULL) {
        kw_err("dnssec check: out of memory");
        worst = KS_HEALTH_UNKNOWN;
        goto out;
    }
    for (; optind < argc; optind++) {
        const char *zone = argv[optind];

        if (kw_dnssec_live_gather(zone, &w, obs, &d) != 0) {
            kw_err("dnssec check: %s", d.msg);
            worst = KS_HEALTH_UNKNOWN;
            kw_dnssec_obs_free(obs);
            continue;
        }
        kw_dnssec_live_judge(obs, &p, cli->now, res);
        if (json)
            json_array_append_new(all, live_json(res));
        else
            live_text(res, obs, stdout);
        kw_dnssec_obs_free(obs);
        if (worst != KS_HEALTH_UNKNOWN && (int)res->health > worst)
            worst = (int)res->health;
    }
    if (json)
        kw_cli_print_json(all, "dnssec check");
out:
    json_decref(all);
    free(obs);
    free(res);
    return worst;
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

int cli_dnssec(kw_cli *cli, int argc, char **argv)
{
    return kw_cli_only_sub(cli, argc, argv, "dnssec", "check", dnssec_usage,
                           dnssec_check);
}
