/*
 * cli_probe.c: keywarden probe HOST[:PORT], one probe from the command
 * line, printing the chain as served.
 */
#include "cli.h"
#include "../probe/probe.h"

#include "../common/kw_log.h"
#include "../common/kw_str.h"
#include "../common/kw_time.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void probe_usage(FILE *out)
{
    fputs("Usage: keywarden probe [--starttls smtp|imap|pop3] [--sni NAME] "
          "[--timeout DURATION]\n"
          "                       [--json] HOST[:PORT]\n"
          "\n"
          "Connect to HOST (default port: 443, or 25, 143 and 110 for "
          "SMTP, IMAP\n"
          "and POP3 STARTTLS), complete a TLS handshake and print the "
          "certificate\n"
          "chain as served, whether it covers the name, and the TLS "
          "version.  The\n"
          "chain is not verified: an expired or self-signed certificate is "
          "shown,\n"
          "not refused.  Exits 0 when a handshake completed, 1 otherwise.\n"
          "\n"
          "  --starttls PROTO  smtp, imap or pop3 (default: implicit TLS)\n"
          "  --sni NAME        server name to send (default: HOST unless "
          "it is an\n"
          "                    address)\n"
          "  --timeout DUR     for the whole probe (default 10s, at most "
          "5m)\n"
          "  --json            print the result as JSON\n",
          out);
}

typedef struct probe_out {
    kw_probe_result res;
    int done;
} probe_out;

static void on_result(void *ctx, kw_probe_result *res)
{
    probe_out *po = ctx;

    po->res = *res; /* the chain's strings move with it */
    po->done = 1;
}

static json_t *chain_json(const kw_probe_result *r)
{
    json_t *a = json_array();
    size_t i, k;
    char fp[65], nb[32], na[32];

    for (i = 0; i < r->nchain; i++) {
        const ks_cert *c = &r->chain[i];
        json_t *sans = json_array();

        for (k = 0; k < c->nsans; k++)
            json_array_append_new(sans, kw_json_str(c->sans[k]));
        kw_hex(c->fingerprint, 32, 0, fp);
        kw_time_rfc3339(c->not_before, nb, sizeof(nb));
        kw_time_rfc3339(c->not_after, na, sizeof(na));
        json_array_append_new(
            a, json_pack("{s:o, s:o, s:o, s:s, s:s, s:s, s:o, s:o, s:i}",
                         "subject", kw_json_str(c->subject), "issuer",
                         kw_json_str(c->issuer), "serial",
                         kw_json_str(c->serial), "not_before", nb,
                         "not_after", na, "fingerprint_sha256", fp, "sans",
                         sans, "key_type", kw_json_str(c->key_type),
                         "key_bits", c->key_bits));
    }
    return a;
}

int cli_probe(kw_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"starttls", required_argument, NULL, 't'},
        {"sni", required_argument, NULL, 'n'},
        {"timeout", required_argument, NULL, 'T'},
        {"json", no_argument, NULL, 'j'},
        {"state-dir", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    kw_endpoint_conf ep;
    probe_out po;
    uv_loop_t loop;
    char host[256], when[32], left[32], fp[65];
    int c, r, json = 0, port = 0, st;
    size_t i, k;
    const char *why;

    memset(&ep, 0, sizeof(ep));
    memset(&po, 0, sizeof(po));
    ep.timeout = 10;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            st = kw_starttls_parse(optarg);
            if (st < 0) {
                kw_err("--starttls %s: expected smtp, imap, pop3 or none",
                       optarg);
                return KW_EXIT_USAGE;
            }
            ep.starttls = (enum kw_starttls)st;
            break;
        case 'n':
            ep.sni = optarg;
            break;
        case 'T':
            if (kw_duration_parse(optarg, &ep.timeout, &why) != 0 ||
                ep.timeout > 5 * KW_MINUTE) {
                kw_err("--timeout %s: %s", optarg,
                       why != NULL ? why : "at most 5m");
                return KW_EXIT_USAGE;
            }
            break;
        case 'j':
            json = 1;
            break;
        default:
            r = kw_cli_shared_opt(cli, c, optarg, NULL, probe_usage,
                                  KW_EXIT_USAGE);
            if (r != KW_CLI_NEXT)
                return r == KW_CLI_NOT_SHARED ? KW_EXIT_USAGE : r;
        }
    }
    if (optind + 1 != argc) {
        probe_usage(stderr);
        return KW_EXIT_USAGE;
    }
    port = ep.starttls == KW_TLS_SMTP   ? 25
           : ep.starttls == KW_TLS_IMAP ? 143
           : ep.starttls == KW_TLS_POP3 ? 110
                                        : 443;
    if (kw_parse_host_port(argv[optind], port, host, sizeof(host), &port) !=
        0) {
        kw_err("probe %s: expected HOST, HOST:PORT or [ADDRESS]:PORT",
               argv[optind]);
        return KW_EXIT_USAGE;
    }
    ep.host = host;
    ep.port = port;
    if (ep.sni == NULL) {
        unsigned char a[16];
        if (inet_pton(AF_INET, host, a) != 1 &&
            inet_pton(AF_INET6, host, a) != 1)
            ep.sni = host;
    }

    uv_loop_init(&loop);
    r = kw_probe_start(&loop, &ep, on_result, &po, NULL);
    if (r == 0)
        uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (r != 0) {
        kw_err("probe %s:%d: %s", host, port, kw_strerror(r));
        return KW_EXIT_FAIL;
    }

    if (json) {
        json_t *o = json_pack(
            "{s:o, s:i, s:o, s:s, s:b, s:o, s:s?, s:s?, s:b, s:f, s:o}",
            "host", kw_json_str(host), "port", port, "sni",
            kw_json_str(ep.sni), "starttls", kw_starttls_word(ep.starttls),
            "ok", po.res.ok, "error",
            kw_json_str(po.res.ok ? NULL : po.res.error), "address",
            po.res.address,
            "tls_version", po.res.ok ? po.res.tls_version : NULL,
            "name_matches", po.res.name_matches, "elapsed_ms",
            po.res.elapsed_ms, "chain", chain_json(&po.res));
        char *text = o != NULL ? json_dumps(o, JSON_INDENT(2)) : NULL;
        json_decref(o);
        if (text == NULL) {
            kw_err("probe %s:%d: the result could not be written as JSON "
                   "(out of memory)",
                   host, port);
            return KW_EXIT_FAIL;
        }
        puts(text);
        free(text);
    } else if (!po.res.ok) {
        kw_outf(stdout, "%s:%d: %s\n", host, port, po.res.error);
    } else {
        int64_t now = cli->now;

        kw_outf(stdout, "%s:%d (%s)%s%s: %s, %s, %.0f ms\n", host, port,
                po.res.address,
                ep.starttls != KW_TLS_IMPLICIT ? ", STARTTLS " : "",
                ep.starttls != KW_TLS_IMPLICIT ? kw_starttls_word(ep.starttls)
                                               : "",
                po.res.tls_version, po.res.cipher, po.res.elapsed_ms);
        kw_outf(stdout, "name %s: %s\n", ep.sni != NULL ? ep.sni : host,
                po.res.name_matches ? "covered by the certificate"
                                    : "NOT covered by the certificate");
        kw_outf(stdout, "chain as served, %zu certificate%s:\n", po.res.nchain,
                po.res.nchain == 1 ? "" : "s");
        for (i = 0; i < po.res.nchain; i++) {
            const ks_cert *cc = &po.res.chain[i];

            kw_time_rfc3339(cc->not_after, when, sizeof(when));
            kw_duration_format(kw_time_diff(cc->not_after, now), left,
                               sizeof(left));
            kw_hex(cc->fingerprint, 32, 0, fp);
            kw_outf(stdout, "  [%zu] %s\n", i, cc->subject);
            kw_outf(stdout, "      issuer %s\n", cc->issuer);
            kw_outf(stdout, "      expires %s (%s%s), %s %d\n", when,
                    cc->not_after > now ? "in " : "EXPIRED ",
                    cc->not_after > now ? left : "", cc->key_type,
                    cc->key_bits);
            if (cc->nsans > 0) {
                kw_outf(stdout, "      names");
                for (k = 0; k < cc->nsans; k++)
                    kw_outf(stdout, "%s %s", k ? "," : "", cc->sans[k]);
                kw_outf(stdout, "\n");
            }
            kw_outf(stdout, "      sha256 %s\n", fp);
        }
    }
    r = po.res.ok ? KW_EXIT_OK : KW_EXIT_FAIL;
    kw_probe_result_clear(&po.res);
    return r;
}
