/*
 * cli_dane.c: keywarden dane status [NAME] [--json] (the key rollovers
 * of dane_roll.h: the records, the next key, what each waits for),
 * keywarden dane step NAME (one run of the rollover, as the daemon's
 * dane-roll job makes it), keywarden dane release NAME (the operator's
 * override: deploy the next key without its announcement), and keywarden dane check HOST[:PORT]... : each host's TLSA
 * RRset (dane/dane_check.h) from every authoritative server and a
 * validating resolver, matched against the chain the host serves and,
 * with --cert, the certificate file it will serve after the next reload;
 * as text or JSON.  The exit status is the monitoring plugins' (0 ok,
 * 1 warning, 2 critical, 3 unknown), the worst host's.
 */
#include "cli.h"

#include "../acme/renew.h"
#include "../dane/dane.h"
#include "../dane/dane_roll.h"
#include "../service/dane_roll_run.h"
#include "../dns/dns_resolve.h"
#include "../probe/probe.h"

#include "../common/kw_log.h"
#include "../common/kw_time.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void dane_usage(FILE *out)
{
    fputs("Usage: keywarden dane check [--json] [--resolver ADDR[:PORT]]\n"
          "         [--server ADDR[:PORT]]... [--port N] [--cert FILE]\n"
          "         [--starttls none|smtp|imap|pop3] [--connect ADDR] "
          "HOST[:PORT]...\n"
          "\n"
          "Asks every authoritative server of the zone and a validating "
          "resolver\n"
          "for the TLSA records at _PORT._tcp.HOST (PORT 25 by default), "
          "probes HOST\n"
          "at every address the resolver gives (STARTTLS for 25 and 587, "
          "implicit\nTLS"
          " for 465, 443 and others) and matches every record against the "
          "served\n"
          "chain and, with --cert, the certificate the next reload will "
          "serve.\n"
          "  --resolver  the validating resolver (default: the first "
          "nameserver\n"
          "              of /etc/resolv.conf); its AD bit decides secure\n"
          "  --server    ask these authoritative servers (repeatable) "
          "instead of\n"
          "              the zone's NS set\n"
          "  --port      the port of the NS set's addresses (default 53)\n"
          "  --cert      the certificate file the server will serve next "
          "(PEM or DER)\n"
          "  --starttls  the protocol before TLS (default by port)\n"
          "  --connect   probe this address instead of HOST's\n"
          "  --json      the results as JSON\n"
          "Exit status: 0 ok, 1 warning, 2 critical, 3 unknown.\n"
          "\n"
          "Usage: keywarden dane status [--json] [NAME]\n"
          "The key rollovers of [certificate] sections with dane =: each "
          "one's\n"
          "stage, next key, TLSA records and what it waits for.\n"
          "\n"
          "Usage: keywarden dane step [--json] NAME\n"
          "Advances NAME's rollover once, as the daemon's dane-roll job "
          "does (with\n"
          "the probe of every dane host), records its health, and shows "
          "it.\n"
          "\n"
          "Usage: keywarden dane release NAME\n"
          "Lets NAME's renewal deploy its next key although its TLSA record "
          "was not\n"
          "seen long enough (DANE senders may fail until resolvers have "
          "it).\n", out);
}

static json_t *result_json(const kw_dane_result *r, const kw_dane_obs *obs)
{
    json_t *o = json_object(), *a = json_array(), *p;
    size_t i;

    json_object_set_new(o, "host", json_string(r->host));
    json_object_set_new(o, "port", json_integer(r->port));
    json_object_set_new(o, "name", json_string(r->qname));
    json_object_set_new(o, "health",
                        json_string(kw_cli_health_word(r->health)));
    json_object_set_new(o, "dnssec", json_string(kw_dane_dnssec_word(r->dnssec)));
    json_object_set_new(o, "zone", json_string(obs->zone));
    p = json_array();
    for (i = 0; i < r->npeers; i++)
        json_array_append_new(p, json_pack(
            "{s:s, s:s, s:b, s:s}", "address", r->peer[i].address,
            "served_3_1_1", r->peer[i].served_311, "matched",
            r->peer[i].ok, "error", obs->peer[i].err));
    json_object_set_new(o, "addresses", p);
    for (i = 0; i < r->nrec; i++)
        json_array_append_new(a, json_pack(
            "{s:s, s:b, s:b, s:b}", "record", r->rec[i].text, "usable",
            r->rec[i].usable, "matches_served", r->rec[i].served_match,
            "matches_cert", r->rec[i].disk_match));
    json_object_set_new(o, "tlsa", a);
    json_object_set_new(o, "served_3_1_1", json_string(r->served_311));
    json_object_set_new(o, "cert_3_1_1", json_string(r->disk_311));
    json_object_set_new(o, "findings", kw_cli_finds_json(r->find, r->nfind));
    json_object_set_new(o, "findings_dropped",
                        json_integer((json_int_t)r->dropped));
    return o;
}

static void result_text(const kw_dane_result *r, const kw_dane_obs *obs,
                        FILE *f)
{
    size_t i;

    fprintf(f, "%s port %d: %s (%s, %s)\n", r->host, r->port,
            kw_cli_health_word(r->health), r->qname,
            kw_dane_dnssec_word(r->dnssec));
    for (i = 0; i < obs->nservers; i++)
        fprintf(f, "  asked %s\n", obs->srv[i].name);
    for (i = 0; i < r->nrec; i++)
        fprintf(f, "  TLSA %s: %s served%s\n", r->rec[i].text,
                r->rec[i].served_match ? "matches the" : "does not match "
                "the", obs->disk.n == 0 ? "" : r->rec[i].disk_match
                ? ", matches the file" : ", does not match the file");
    for (i = 0; i < r->npeers; i++)
        fprintf(f, "  served at %s: %s\n", r->peer[i].address,
                r->peer[i].served_311[0] ? r->peer[i].served_311
                                         : obs->peer[i].err);
    if (r->disk_311[0])
        fprintf(f, "  file %s: %s\n", obs->disk_path, r->disk_311);
    kw_cli_finds_text(r->find, r->nfind, r->dropped, f);
}

static int parse_server(const char *opt, const char *v, kw_dns_server *s)
{
    return kw_cli_dns_server("dane check", opt, v, s);
}

static int dane_check(kw_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"resolver", required_argument, NULL, 'R'},
        {"server", required_argument, NULL, 'V'},
        {"port", required_argument, NULL, 'p'},
        {"cert", required_argument, NULL, 'C'},
        {"starttls", required_argument, NULL, 'T'},
        {"connect", required_argument, NULL, 'A'},
        {"state-dir", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    kw_dns_server resolver, servers[KW_DNSSEC_SERVERS_MAX];
    kw_dane_where w = { 0 };
    kw_dane_obs *obs = NULL;
    kw_dane_result *res = NULL;
    json_t *all = NULL;
    int c, r, json = 0, have_res = 0, starttls = -1;
    int worst = KS_HEALTH_OK;
    kw_diag d = {{0}};

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;

        switch (c) {
        case 'j':
            json = 1;
            continue;
        case 'R':
            if (parse_server("--resolver", optarg, &resolver) != 0)
                return KS_HEALTH_UNKNOWN;
            have_res = 1;
            continue;
        case 'V':
            if (w.nservers >= KW_DNSSEC_SERVERS_MAX) {
                kw_err("dane check: more than %d --server options",
                       KW_DNSSEC_SERVERS_MAX);
                return KS_HEALTH_UNKNOWN;
            }
            if (parse_server("--server", optarg,
                             &servers[w.nservers]) != 0)
                return KS_HEALTH_UNKNOWN;
            w.nservers++;
            w.servers = servers;
            continue;
        case 'p':
            w.ns_port = (int)strtol(optarg, &end, 10);
            if (*end != '\0' || w.ns_port < 1 || w.ns_port > 65535) {
                kw_err("dane check: --port %s: not a port number", optarg);
                return KS_HEALTH_UNKNOWN;
            }
            continue;
        case 'C':
            w.cert_path = optarg;
            continue;
        case 'T':
            if ((starttls = kw_starttls_parse(optarg)) < 0) {
                kw_err("dane check: --starttls %s: not none, smtp, imap or "
                       "pop3", optarg);
                return KS_HEALTH_UNKNOWN;
            }
            continue;
        case 'A':
            w.connect = optarg;
            continue;
        default:
            break;
        }
        r = kw_cli_shared_opt(cli, c, optarg, NULL, dane_usage,
                              KS_HEALTH_UNKNOWN);
        if (r != KW_CLI_NEXT)
            return r == KW_CLI_NOT_SHARED ? KS_HEALTH_UNKNOWN : r;
    }
    if (optind >= argc) {
        dane_usage(stderr);
        return KS_HEALTH_UNKNOWN;
    }
    if (kw_cli_resolver("dane check", "--resolver", have_res,
                        &resolver) != 0)
        return KS_HEALTH_UNKNOWN;
    w.resolver = &resolver;
    obs = calloc(1, sizeof(*obs));
    res = calloc(1, sizeof(*res));
    all = json_array();
    if (obs == NULL || res == NULL || all == NULL) {
        kw_err("dane check: out of memory");
        worst = KS_HEALTH_UNKNOWN;
        goto out;
    }
    for (; optind < argc; optind++) {
        char host[256];
        int port = 0;

        if (kw_parse_host_port(argv[optind], 25, host, sizeof(host),
                               &port) != 0) {
            kw_err("dane check: %s: not HOST or HOST:PORT", argv[optind]);
            worst = KS_HEALTH_UNKNOWN;
            continue;
        }
        w.starttls = starttls >= 0 ? starttls
                                   : kw_dane_default_starttls(port);
        if (kw_dane_gather(host, port, &w, obs, &d) != 0) {
            kw_err("%s", d.msg);
            worst = KS_HEALTH_UNKNOWN;
            kw_dane_obs_free(obs);
            continue;
        }
        kw_dane_judge(obs, cli->now, res);
        if (json)
            json_array_append_new(all, result_json(res, obs));
        else
            result_text(res, obs, stdout);
        kw_dane_obs_free(obs);
        /* Critical outranks unknown, as for a monitoring plugin's
         * several services. */
        if (worst != KS_HEALTH_CRITICAL &&
            (res->health == KS_HEALTH_CRITICAL ||
             (int)res->health > worst))
            worst = (int)res->health;
    }
    if (json)
        kw_cli_print_json(all, "dane check");
out:
    json_decref(all);
    free(obs);
    free(res);
    return worst;
}

/* What each of r's two records waits for, in words. */
static void records_wait(const ks_dane_roll *r, char *cur, char *nxt,
                         size_t cap)
{
    int st = kw_dane_stage_parse(r->stage);
    char when[32];

    kw_time_rfc3339(r->wait_until, when, sizeof(when));
    switch (st) {
    case KW_DANE_ST_GENERATING:
    case KW_DANE_ST_GENERATED:
        snprintf(nxt, cap, "its publication (the key is being written)");
        break;
    case KW_DANE_ST_PUBLISHING:
        snprintf(nxt, cap, "the primary to accept the update");
        break;
    case KW_DANE_ST_PUBLISHED:
        snprintf(nxt, cap, "every authoritative server to serve it");
        break;
    case KW_DANE_ST_VISIBLE:
        snprintf(nxt, cap, "the wait until %s (2 x TTL + negative TTL)",
                 when);
        break;
    case KW_DANE_ST_READY:
        snprintf(nxt, cap, "%s", r->stopped[0] != '\0'
                                     ? "the server to serve the deployed "
                                       "key (a reload)"
                                     : "the renewal to deploy its key");
        break;
    default:
        snprintf(nxt, cap, "nothing: its key is the one served");
        break;
    }
    if (r->old_tlsa[0] == '\0')
        snprintf(cur, cap, "nothing: there is no old record");
    else if (st < KW_DANE_ST_DEPLOYED)
        snprintf(cur, cap, "stays until the next key is deployed and "
                 "served");
    else if (st == KW_DANE_ST_DEPLOYED)
        snprintf(cur, cap, "its removal after %s, once a second probe sees "
                 "the next key served", when);
    else if (st == KW_DANE_ST_REMOVING)
        snprintf(cur, cap, "its removal to reach every authoritative "
                 "server");
    else
        snprintf(cur, cap, "nothing: removed");
}

static json_t *roll_json(const ks_dane_roll *r, const kw_dane_roll_health *h)
{
    char cur[200], nxt[200];

    records_wait(r, cur, nxt, sizeof(cur));
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s, "
                     "s:i, s:b, s:I, s:s, s:s, s:s, s:s}",
                     "certificate", r->cert, "stage", r->stage,
                     "next_key", r->key_path, "next_tlsa", r->tlsa,
                     "current_tlsa", r->old_tlsa, "owners", r->names,
                     "since", (json_int_t)r->since,
                     "wait_until", (json_int_t)r->wait_until,
                     "waits_for", r->waits_for, "stopped", r->stopped,
                     "failures", r->failures, "released", r->released,
                     "started_at", (json_int_t)r->started_at,
                     "health", kw_cli_health_word(h->health),
                     "reason", h->reason, "current_waits_for", cur,
                     "next_waits_for", nxt);
}

/* One rollover as text. */
static void roll_text(const ks_dane_roll *r, const kw_dane_roll_health *h)
{
    char when[32], cur[200], nxt[200];

    records_wait(r, cur, nxt, sizeof(cur));
    printf("%s: %s%s (%s)\n", r->cert, r->stage,
           r->released ? ", RELEASED" : "", kw_cli_health_word(h->health));
    printf("  owners:    %s\n", r->names);
    printf("  current:   %s\n", r->old_tlsa[0] ? r->old_tlsa : "(none)");
    printf("             waits for %s\n", cur);
    printf("  next:      %s\n", r->tlsa[0] ? r->tlsa : "(not yet)");
    printf("             waits for %s\n", nxt);
    printf("  next key:  %s\n", r->key_path);
    if (r->wait_until != 0) {
        kw_time_rfc3339(r->wait_until, when, sizeof(when));
        printf("  until:     %s\n", when);
    }
    if (h->reason[0] != '\0')
        printf("  waits for: %s\n", h->reason);
}

/* The options of status, step and release: the shared ones, --json
 * where json is not NULL, and then at most (step, release: exactly)
 * one NAME.  KW_CLI_NEXT with optind at the name, else the exit status
 * to return now. */
static int roll_opts(kw_cli *cli, int argc, char **argv, int *json,
                     int name_needed)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"state-dir", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, r;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'j' && json != NULL) {
            *json = 1;
            continue;
        }
        r = kw_cli_shared_opt(cli, c == 'j' ? '?' : c, optarg, NULL,
                              dane_usage, KW_EXIT_USAGE);
        if (r != KW_CLI_NEXT)
            return r == KW_CLI_NOT_SHARED ? KW_EXIT_USAGE : r;
    }
    if (argc - optind > 1 || (name_needed && argc - optind != 1)) {
        dane_usage(stderr);
        return KW_EXIT_USAGE;
    }
    return KW_CLI_NEXT;
}

/* keywarden dane status [--json] [NAME]: 0 ok, 1 warning, 2 critical
 * (the worst rollover's health), 3 unknown. */
static int dane_status(kw_cli *cli, int argc, char **argv)
{
    ks_dane_roll *v = NULL;
    ks_store *s = NULL;
    json_t *a = NULL;
    size_t n = 0, i;
    kw_diag d = {{0}};
    int r, json = 0, worst = KS_HEALTH_OK;

    if ((r = roll_opts(cli, argc, argv, &json, 0)) != KW_CLI_NEXT)
        return r;
    if (kw_cli_open_existing(cli, &s) != 0)
        return KS_HEALTH_UNKNOWN;
    r = ks_dane_roll_list(s, argc - optind == 1 ? argv[optind] : NULL, &v,
                          &n, 100000, &d);
    ks_close(s);
    if (r != 0) {
        kw_err("dane status: %s", d.msg);
        return KS_HEALTH_UNKNOWN;
    }
    if (argc - optind == 1 && n == 0) {
        kw_err("dane status: certificate \"%s\" has no DANE rollover",
               argv[optind]);
        free(v);
        return KS_HEALTH_UNKNOWN;
    }
    if (json)
        a = json_array();
    for (i = 0; i < n; i++) {
        kw_dane_roll_params p;
        kw_dane_roll_health h;

        /* Without the configuration the expiry is unknown: a stopped
         * rollover is a warning here, as the daemon's health says it
         * until the certificate nears its end. */
        memset(&p, 0, sizeof(p));
        p.cert = v[i].cert;
        kw_dane_roll_health_of(&v[i], 1, &p, cli->now, &h);
        if (h.health > worst)
            worst = h.health;
        if (a != NULL) {
            json_array_append_new(a, roll_json(&v[i], &h));
            continue;
        }
        roll_text(&v[i], &h);
    }
    if (a != NULL)
        kw_cli_print_json(a, "dane status");
    json_decref(a);
    free(v);
    return worst;
}

/* keywarden dane step [--json] NAME: one run of the rollover as the
 * daemon's dane-roll job makes it.  Exit status as status's. */
static int dane_step(kw_cli *cli, int argc, char **argv)
{
    kw_dane_probe_at at[KW_DANE_ROLL_HOSTS_MAX];
    kw_dane_roll_run_out *o = NULL;
    const kw_cert_conf *cc = NULL;
    char certs[PATH_MAX];
    kw_renew_params rp;
    kw_config conf;
    ks_store *s = NULL;
    kw_diag d = {{0}};
    int r, json = 0;
    size_t i, nat;

    if ((r = roll_opts(cli, argc, argv, &json, 1)) != KW_CLI_NEXT)
        return r;
    if (kw_cli_load_certs(cli, &conf) != 0)
        return KS_HEALTH_UNKNOWN;
    for (i = 0; i < conf.ncerts; i++)
        if (strcmp(conf.certs[i].name, argv[optind]) == 0)
            cc = &conf.certs[i];
    if (cc == NULL || !cc->dane) {
        kw_err("dane step: no [certificate \"%s\"] with dane = in %s",
               argv[optind], cli->config_path);
        kw_config_free(&conf);
        return KW_EXIT_USAGE;
    }
    kw_config_renew_params(&conf, cc, &rp);
    kw_config_certs_dir(&conf, cli->state_dir, certs, sizeof(certs));
    nat = kw_dane_roll_probe_at(&conf, cc, at, KW_DANE_ROLL_HOSTS_MAX);
    if ((o = calloc(1, sizeof(*o))) == NULL ||
        kw_cli_open(cli, 1, &s) != 0) {
        kw_err("dane step: %s", o == NULL ? "out of memory"
                                          : "cannot open the inventory");
        free(o);
        kw_config_free(&conf);
        return KS_HEALTH_UNKNOWN;
    }
    r = kw_dane_roll_run(s, &rp, certs, at, nat, cli->now, o, &d);
    ks_close(s);
    kw_config_free(&conf);
    if (r != 0) {
        kw_err("dane step: %s: %s", argv[optind], d.msg);
        free(o);
        return KS_HEALTH_UNKNOWN;
    }
    if (json) {
        json_t *js = roll_json(&o->out.roll, &o->h);

        kw_cli_print_json(js, "dane step");
        json_decref(js);
    } else {
        roll_text(&o->out.roll, &o->h);
    }
    r = o->h.health;
    free(o);
    return r;
}

/* keywarden dane release NAME. */
static int dane_release(kw_cli *cli, int argc, char **argv)
{
    ks_store *s = NULL;
    kw_diag d = {{0}};
    int r;

    if ((r = roll_opts(cli, argc, argv, NULL, 1)) != KW_CLI_NEXT)
        return r;
    if (kw_cli_open_existing(cli, &s) != 0)
        return KW_EXIT_FAIL;
    r = kw_dane_roll_release(s, argv[optind], cli->now, &d);
    ks_close(s);
    if (r != 0) {
        kw_err("dane release: %s", d.msg);
        return KW_EXIT_FAIL;
    }
    printf("%s: released: its renewal deploys the next key without "
           "waiting for its TLSA record\n", argv[optind]);
    return KW_EXIT_OK;
}

int cli_dane(kw_cli *cli, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "status") == 0)
        return dane_status(cli, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "release") == 0)
        return dane_release(cli, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "step") == 0)
        return dane_step(cli, argc - 1, argv + 1);
    if (argc >= 2 && argv[1][0] != '-' && strcmp(argv[1], "check") != 0) {
        kw_err("dane: unknown subcommand \"%s\"; try `keywarden dane "
               "check`, `status`, `step` or `release`", argv[1]);
        return KW_EXIT_USAGE;
    }
    return kw_cli_only_sub(cli, argc, argv, "dane", "check", dane_usage,
                           dane_check);
}
