/*
 * cli_dnssec.c: keywarden dnssec check [ZONE...] : each zone's live DNSSEC
 * health (dnssec/dnssec_live.h), the chain parent DS -> KSK -> ZSK ->
 * RRSIGs with every server's serial and the findings, as text or JSON.
 * Without a ZONE, every zone of the inventory, asked where the
 * configuration says, and recorded as the daemon's dnssec-check job
 * records it (dnssec/dnssec_watch.h: findings, ds_needed, events).
 * The exit status is the monitoring plugins' (0 ok, 1 warning, 2
 * critical, 3 unknown), the worst zone's.
 *
 * keywarden dnssec ds ZONE : the DS records to submit for the zone's
 * KSKs and CSKs that are ready or active (the inventory's, else the
 * live DNSKEY set's SEP keys), each marked whether the parent already
 * publishes it, and the CDS/CDNSKEY state.
 */
#include "cli.h"

#include "../dnssec/dnssec_live.h"
#include "../dnssec/dnssec_watch.h"
#include "../dns/dns_resolve.h"
#include "../service/config.h"
#include "../service/job.h"

#include "../common/kw_log.h"
#include "../common/kw_time.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void dnssec_usage(FILE *out)
{
    fputs("Usage: keywarden dnssec check [--json] [--server ADDR[:PORT]]\n"
          "         [--ds-server ADDR[:PORT]] [--port N] [--warn DUR] "
          "[--crit DUR] [ZONE...]\n"
          "       keywarden dnssec ds [--json] [--server ADDR[:PORT]] "
          "[--ds-server ADDR[:PORT]]\n"
          "         [--port N] ZONE\n"
          "\n"
          "check asks every authoritative server of each ZONE (its NS set, "
          "each\n"
          "address) for SOA, DNSKEY, NS, NSEC3PARAM, CDS and CDNSKEY with "
          "DNSSEC\n"
          "records, and the parent side for its DS, verifies every "
          "signature and\n"
          "prints the chain and what is wrong.  Without a ZONE: every zone "
          "of the\n"
          "inventory, asked where [zone] and [dnssec] say, and the findings "
          "recorded\n"
          "(with the DS a ready KSK waits for: dnssec.ds_needed).\n"
          "ds prints the DS records to submit to the parent for ZONE's "
          "ready and\n"
          "active KSKs (from the inventory, else the published DNSKEY set), "
          "each\n"
          "marked whether the parent publishes it already.\n"
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
    return kw_cli_health_word((int)h);
}

static const char *cds_state(const kw_dnssec_live *r)
{
    return !r->cds_published     ? "not published"
           : r->cds_inconsistent ? "published, but not the same on every "
                                   "server"
           : r->cds_delete       ? "published: delete the DS (RFC 8078)"
                                 : "published";
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
    json_object_set_new(o, "parent_ds_ttl", json_integer(r->ds_ttl));
    json_object_set_new(o, "cds_published", json_boolean(r->cds_published));
    json_object_set_new(o, "cds_delete", json_boolean(r->cds_delete));
    json_object_set_new(o, "cds_inconsistent",
                        json_boolean(r->cds_inconsistent));
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
    for (i = 0; i < r->nkeys; i++) {
        json_t *k = json_array_get(a, i);

        json_object_set_new(k, "cds", json_boolean(r->keys[i].cds));
        json_object_set_new(k, "cdnskey", json_boolean(r->keys[i].cdnskey));
    }
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
        fprintf(f, "  DNSKEY %u %s %s %d bits%s%s%s\n", r->keys[i].tag,
                r->keys[i].flags & 1 ? "KSK" : "ZSK",
                kw_dnssec_alg_name(r->keys[i].algorithm, ab),
                r->keys[i].bits,
                r->keys[i].signs_dnskey ? ", signs the DNSKEY set" : "",
                r->keys[i].ds_matched ? ", named by the DS" : "",
                r->keys[i].cds || r->keys[i].cdnskey
                    ? ", named by CDS/CDNSKEY" : "");
    if (r->cds_published)
        fprintf(f, "  CDS/CDNSKEY %s\n", cds_state(r));
    for (i = 0; i < obs->nservers; i++)
        fprintf(f, "  server %s: serial %u\n", obs->srv[i].name,
                r->serial[i]);
    if (r->next_expiry > 0) {
        kw_time_rfc3339(r->next_expiry, t, sizeof(t));
        fprintf(f, "  first RRSIG expiry: %s\n", t);
    }
    kw_cli_finds_text(r->find, r->nfind, r->dropped, f);
}

/* The options check and ds share. */
typedef struct dnssec_opts {
    int json;
    const char *resolver_s;     /* --server as given */
    kw_dns_server resolver, ds_server;
    int have_res, have_ds, port;
    kw_dnssec_live_params lp;
} dnssec_opts;

static int parse_server(const char *opt, const char *v, kw_dns_server *s)
{
    return kw_cli_dns_server("dnssec", opt, v, s);
}

/* Parses argv into o; returns KW_CLI_NEXT, or the exit status now. */
static int dnssec_opts_parse(kw_cli *cli, int argc, char **argv,
                             dnssec_opts *o)
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
    int c, r;

    memset(o, 0, sizeof(*o));
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;

        switch (c) {
        case 'j':
            o->json = 1;
            continue;
        case 'R':
            if (parse_server("--server", optarg, &o->resolver) != 0)
                return KS_HEALTH_UNKNOWN;
            o->resolver_s = optarg;
            o->have_res = 1;
            continue;
        case 'D':
            if (parse_server("--ds-server", optarg, &o->ds_server) != 0)
                return KS_HEALTH_UNKNOWN;
            o->have_ds = 1;
            continue;
        case 'p':
            o->port = (int)strtol(optarg, &end, 10);
            if (*end != '\0' || o->port < 1 || o->port > 65535) {
                kw_err("dnssec: --port %s: not a port number", optarg);
                return KS_HEALTH_UNKNOWN;
            }
            continue;
        case 'W':
        case 'X':
            if (kw_parse_duration_opt(c == 'W' ? "--warn" : "--crit",
                                      optarg,
                                      c == 'W' ? &o->lp.warn_s
                                               : &o->lp.crit_s) != 0)
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
    return KW_CLI_NEXT;
}

/* The configuration's [dnssec] and [zone] sections with the options
 * laid over them; 0, or -1 (said). */
static int dnssec_config(kw_cli *cli, const dnssec_opts *o, kw_config *kc)
{
    kw_diag d;
    int r = kw_config_load(cli->config_path, kc, &d);

    if (r == KW_ENOENT) {
        kw_config_defaults(kc);
    } else if (r != 0) {
        kw_err("%s", d.msg);
        return -1;
    }
    if (o->resolver_s != NULL) {
        free(kc->dnssec.resolver);
        if ((kc->dnssec.resolver = strdup(o->resolver_s)) == NULL) {
            kw_err("out of memory");
            kw_config_free(kc);
            return -1;
        }
    }
    if (o->port > 0)
        kc->dnssec.dns_port = o->port;
    if (o->lp.warn_s > 0)
        kc->dnssec.warn = o->lp.warn_s;
    if (o->lp.crit_s > 0)
        kc->dnssec.crit = o->lp.crit_s;
    return 0;
}

/* Where to ask for zone: the configuration's, --ds-server over it. */
static int dnssec_where(const kw_config *kc, const dnssec_opts *o,
                        const char *zone, kw_dnssec_where_buf *wb)
{
    kw_diag d = {{0}};

    if (kw_dnssec_watch_where(&kc->dnssec, zone, wb, &d) != 0) {
        kw_err("dnssec: %s", d.msg);
        return -1;
    }
    if (o->have_ds) {
        wb->ds_server = o->ds_server;
        wb->w.ds_server = &wb->ds_server;
    }
    return 0;
}

static json_t *need_json(const kw_dnssec_dsneed_out *n)
{
    return json_pack("{s:I, s:i, s:s, s:b, s:I, s:I, s:b, s:s, s:s}", "tag",
                     (json_int_t)n->tag, "algorithm", n->algorithm, "ds",
                     n->ds, "cds_published", n->cds_published,
                     "missing_since", (json_int_t)n->missing_since, "due",
                     (json_int_t)n->due, "notified",
                     n->notified_at != 0, "severity",
                     n->finding ? sev_name(n->severity) : "ok", "text",
                     n->text);
}

static void need_text(const kw_dnssec_watch_out *w, FILE *f)
{
    char t[40];
    size_t i;

    for (i = 0; i < w->nkeys; i++) {
        const kw_dnssec_dsneed_out *n = &w->need[i];

        if (n->finding) {
            fprintf(f, "  %s ds.needed %s: %s\n    fix: %s\n",
                    sev_name(n->severity), n->record, n->text, n->fix);
        } else if (n->due != 0) {
            kw_time_rfc3339(n->due, t, sizeof(t));
            fprintf(f, "  KSK %u waits for its DS at the parent (not "
                    "submitted by %s: dnssec.ds_needed then)\n", n->tag, t);
        }
    }
    if (w->nunchecked > 0)
        fprintf(f, "  warning keys.unchecked: %zu of the zone's keys in the "
                "inventory were not checked for a missing DS (only the "
                "first %zu were)\n", w->nunchecked, w->nkeys);
}

typedef struct zone_list {
    kw_job_keys v;
    int failed;
} zone_list;

static int list_zone(void *ctx, const ks_dnssec_zone *z)
{
    zone_list *l = ctx;

    if (kw_job_keys_add(&l->v, z->zone) != 0) {
        l->failed = 1;
        return 1;
    }
    return 0;
}

/* check without ZONE: every zone of the inventory, recorded. */
static int dnssec_check_stored(kw_cli *cli, const dnssec_opts *o)
{
    kw_config kc;
    ks_store *s = NULL;
    zone_list zl = { { NULL, 0, 0 }, 0 };
    kw_dnssec_where_buf *wb = calloc(1, sizeof(*wb));
    kw_dnssec_obs *obs = calloc(1, sizeof(*obs));
    kw_dnssec_live *res = calloc(1, sizeof(*res));
    kw_dnssec_watch_out *wo = calloc(1, sizeof(*wo));
    kw_dnssec_live_params lp;
    json_t *all = json_array();
    int worst = KS_HEALTH_OK;
    size_t i;
    kw_diag d = {{0}};

    if (wb == NULL || obs == NULL || res == NULL || wo == NULL ||
        all == NULL) {
        kw_err("dnssec check: out of memory");
        free(wb);
        free(obs);
        free(res);
        free(wo);
        json_decref(all);
        return KS_HEALTH_UNKNOWN;
    }
    if (dnssec_config(cli, o, &kc) != 0) {
        worst = KS_HEALTH_UNKNOWN;
        goto out_free;
    }
    lp.warn_s = kc.dnssec.warn;
    lp.crit_s = kc.dnssec.crit;
    if (kw_cli_open_existing(cli, &s) != 0) {
        worst = KS_HEALTH_UNKNOWN;
        goto out;
    }
    if (ks_dnssec_zones_each(s, list_zone, &zl, &d) != 0 || zl.failed) {
        kw_err("dnssec check: %s", zl.failed ? "out of memory" : d.msg);
        worst = KS_HEALTH_UNKNOWN;
        goto out;
    }
    if (zl.v.n == 0) {
        kw_err("dnssec check: no zone given and none in the inventory "
               "(keywarden scan finds the signed zones of named.conf and "
               "knot.conf; [zone \"NAME\"] adds others)");
        worst = KS_HEALTH_UNKNOWN;
        goto out;
    }
    for (i = 0; i < zl.v.n; i++) {
        const char *zone = zl.v.v[i];
        ks_health h;

        if (dnssec_where(&kc, o, zone, wb) != 0) {
            worst = KS_HEALTH_UNKNOWN;
            continue;
        }
        if (kw_dnssec_live_gather(zone, &wb->w, obs, &d) != 0) {
            kw_err("dnssec check: %s", d.msg);
            worst = KS_HEALTH_UNKNOWN;
            kw_dnssec_obs_free(obs);
            continue;
        }
        kw_dnssec_live_judge(obs, &lp, cli->now, res);
        if (kw_dnssec_watch_record(s, &kc.dnssec, zone, res, cli->now, wo,
                                   &d) != 0) {
            kw_err("dnssec check: %s: the findings were not recorded: %s",
                   zone, d.msg);
            worst = KS_HEALTH_UNKNOWN;
            kw_dnssec_obs_free(obs);
            continue;
        }
        h = wo->health;
        if (o->json) {
            json_t *z = live_json(res), *a = json_array();
            size_t k;

            for (k = 0; a != NULL && k < wo->nkeys; k++)
                if (wo->need[k].watched)
                    json_array_append_new(a, need_json(&wo->need[k]));
            json_object_set_new(z, "health", json_string(sev_name(h)));
            json_object_set_new(z, "ds_needed", a);
            json_object_set_new(z, "ds_needed_events",
                                json_integer((json_int_t)wo->nevents));
            json_object_set_new(z, "keys_unchecked",
                                json_integer((json_int_t)wo->nunchecked));
            json_array_append_new(all, z);
        } else {
            live_text(res, obs, stdout);
            need_text(wo, stdout);
            if (wo->nevents > 0)
                printf("  dnssec.ds_needed: %zu event%s recorded\n",
                       wo->nevents, wo->nevents == 1 ? "" : "s");
        }
        kw_dnssec_obs_free(obs);
        if (worst != KS_HEALTH_UNKNOWN && (int)h > worst)
            worst = (int)h;
    }
    if (o->json)
        kw_cli_print_json(all, "dnssec check");
out:
    ks_close(s);
    kw_config_free(&kc);
out_free:
    kw_job_keys_free(&zl.v);
    json_decref(all);
    free(wb);
    free(obs);
    free(res);
    free(wo);
    return worst;
}

static int dnssec_check(kw_cli *cli, int argc, char **argv)
{
    dnssec_opts o;
    kw_dnssec_live_where w = { 0 };
    kw_dnssec_obs *obs = NULL;
    kw_dnssec_live *res = NULL;
    json_t *all = NULL;
    int r, worst = KS_HEALTH_OK;
    kw_diag d = {{0}};

    if ((r = dnssec_opts_parse(cli, argc, argv, &o)) != KW_CLI_NEXT)
        return r;
    if (optind >= argc)
        return dnssec_check_stored(cli, &o);
    if (!o.have_res && kw_dns_system_resolver(NULL, &o.resolver, &d) != 0) {
        kw_err("dnssec check: no resolver (--server): %s", d.msg);
        return KS_HEALTH_UNKNOWN;
    }
    w.resolver = &o.resolver;
    w.port = o.port;
    if (o.have_ds)
        w.ds_server = &o.ds_server;
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
        kw_dnssec_live_judge(obs, &o.lp, cli->now, res);
        if (o.json)
            json_array_append_new(all, live_json(res));
        else
            live_text(res, obs, stdout);
        kw_dnssec_obs_free(obs);
        if (worst != KS_HEALTH_UNKNOWN && (int)res->health > worst)
            worst = (int)res->health;
    }
    if (o.json)
        kw_cli_print_json(all, "dnssec check");
out:
    json_decref(all);
    free(obs);
    free(res);
    return worst;
}

/* The keys `dnssec ds` lists, with where they came from. */
typedef struct ds_keys {
    size_t n;
    size_t total; /* the inventory's keys of the zone, n of them kept */
    kw_dnssec_key k[KW_DNSSEC_WATCH_KEYS_MAX];
    int failed;
} ds_keys;

static int ds_take(void *ctx, const ks_dnssec_key *r)
{
    ds_keys *dk = ctx;

    /* Counted past the bound, so the listing can say it is short. */
    dk->total++;
    if (dk->n >= KW_DNSSEC_WATCH_KEYS_MAX)
        return 0;
    kw_dnssec_key_from_row(r, &dk->k[dk->n++]);
    return 0;
}

static const kw_dnssec_live_key *ds_live(const kw_dnssec_live *r,
                                         const kw_dnssec_key *k)
{
    size_t i;

    for (i = 0; i < r->nkeys; i++)
        if (r->keys[i].tag == k->tag && r->keys[i].algorithm == k->algorithm)
            return &r->keys[i];
    return NULL;
}

/* keywarden dnssec ds ZONE: the DS records to submit. */
static int dnssec_ds(kw_cli *cli, int argc, char **argv)
{
    dnssec_opts o;
    kw_config kc;
    ks_store *s = NULL;
    ds_keys *dk = calloc(1, sizeof(*dk));
    kw_dnssec_where_buf *wb = calloc(1, sizeof(*wb));
    kw_dnssec_obs *obs = calloc(1, sizeof(*obs));
    kw_dnssec_live *res = calloc(1, sizeof(*res));
    json_t *keys = NULL;
    const char *from = "inventory";
    char zone[256], ab[16];
    size_t i, listed = 0, missing = 0;
    int r, rc = KS_HEALTH_UNKNOWN, have_conf = 0;
    kw_diag d = {{0}};

    if (dk == NULL || wb == NULL || obs == NULL || res == NULL) {
        kw_err("dnssec ds: out of memory");
        goto out;
    }
    if ((r = dnssec_opts_parse(cli, argc, argv, &o)) != KW_CLI_NEXT) {
        rc = r;
        goto out;
    }
    if (optind + 1 != argc) {
        dnssec_usage(stderr);
        rc = KW_EXIT_USAGE;
        goto out;
    }
    if (kw_dnssec_zone_norm(argv[optind], strlen(argv[optind]), zone) != 0) {
        kw_err("dnssec ds: %s: not a zone name", argv[optind]);
        goto out;
    }
    if (dnssec_config(cli, &o, &kc) != 0)
        goto out;
    have_conf = 1;
    if (dnssec_where(&kc, &o, zone, wb) != 0)
        goto out;
    if (kw_dnssec_live_gather(zone, &wb->w, obs, &d) != 0) {
        kw_err("dnssec ds: %s", d.msg);
        goto out;
    }
    kw_dnssec_live_judge(obs, &o.lp, cli->now, res);
    /* The inventory's keys when it has the zone's; its absence is no
     * error: the live DNSKEY set then says which keys there are. */
    if (kw_cli_open(cli, 0, &s) == 0 &&
        ks_dnssec_keys_each(s, zone, ds_take, dk, &d) != 0) {
        kw_err("dnssec ds: %s", d.msg);
        goto out;
    }
    if (dk->n == 0) {
        from = "live DNSKEY set";
        dk->n = kw_dnssec_obs_sep_keys(obs, dk->k, KW_DNSSEC_WATCH_KEYS_MAX);
    }
    keys = json_array();
    if (!o.json)
        printf("%s: DS records for the parent (keys from the %s; "
               "CDS/CDNSKEY %s)\n", zone, from, cds_state(res));
    for (i = 0; keys != NULL && i < dk->n; i++) {
        const kw_dnssec_key *k = &dk->k[i];
        const kw_dnssec_live_key *lk = ds_live(res, k);
        kw_dnssec_stage st = k->signer[0] && strcmp(k->signer, "live") != 0
                                 ? kw_dnssec_key_stage(k, cli->now, NULL,
                                                       NULL)
                                 : KW_DNSSEC_ST_ACTIVE;
        char ds[300];
        int at_parent = lk != NULL && lk->ds_matched;

        if ((k->role != KW_DNSSEC_KSK && k->role != KW_DNSSEC_CSK) ||
            (st != KW_DNSSEC_ST_READY && st != KW_DNSSEC_ST_ACTIVE))
            continue;
        if (kw_dnssec_ds_record(zone, k->dnskey, ds, sizeof(ds), &d) != 0) {
            kw_err("dnssec ds: key %u (%s): %s", k->tag, k->source, d.msg);
            continue;
        }
        listed++;
        missing += !at_parent;
        if (o.json) {
            json_array_append_new(keys, json_pack(
                "{s:I, s:s, s:i, s:s, s:s, s:s, s:b, s:b, s:b, s:b}", "tag",
                (json_int_t)k->tag, "role", kw_dnssec_role_name(k->role),
                "algorithm", k->algorithm, "algorithm_name",
                kw_dnssec_alg_name(k->algorithm, ab), "stage",
                strcmp(k->signer, "live") == 0 ? "published"
                                                : kw_dnssec_stage_name(st),
                "ds", ds, "at_parent", at_parent, "published",
                lk != NULL, "cds", lk != NULL && lk->cds, "cdnskey",
                lk != NULL && lk->cdnskey));
            continue;
        }
        printf("%s\n  ; %s %u %s, %s%s; %s%s%s\n", ds,
               kw_dnssec_role_name(k->role), k->tag,
               kw_dnssec_alg_name(k->algorithm, ab),
               strcmp(k->signer, "live") == 0 ? "published"
                                              : kw_dnssec_stage_name(st),
               lk != NULL ? "" : " (not in the DNSKEY set the servers "
                                 "publish)",
               at_parent ? "the parent publishes it" : "NOT at the parent",
               lk != NULL && lk->cds ? "; CDS names it" : "",
               lk != NULL && lk->cdnskey ? "; CDNSKEY names it" : "");
    }
    if (dk->total > dk->n)
        kw_warn("dnssec ds: zone %s has %zu keys in the inventory; only the "
                "first %zu were listed, so a DS to submit may be missing "
                "here", zone, dk->total, dk->n);
    if (o.json) {
        json_t *doc = json_pack(
            "{s:s, s:s, s:o, s:b, s:b, s:b, s:I, s:I}", "zone", zone,
            "keys_from", from, "keys", keys, "cds_published",
            res->cds_published, "cds_delete", res->cds_delete,
            "cds_inconsistent", res->cds_inconsistent, "parent_ds_ttl",
            (json_int_t)res->ds_ttl, "keys_unlisted",
            (json_int_t)(dk->total > dk->n ? dk->total - dk->n : 0));

        keys = NULL;
        kw_cli_print_json(doc, "dnssec ds");
        json_decref(doc);
    }
    if (listed == 0) {
        kw_err("dnssec ds: %s has no KSK or CSK that is ready or active%s",
               zone, dk->n == 0 ? " (no key in the inventory, and no server "
                                  "publishes a DNSKEY with flags 257)"
                                : "");
        goto out;
    }
    /* As check: warning while a DS is still to submit. */
    rc = missing > 0 || dk->total > dk->n ? KS_HEALTH_WARNING
                                           : KS_HEALTH_OK;
out:
    json_decref(keys);
    ks_close(s);
    if (have_conf)
        kw_config_free(&kc);
    if (obs != NULL)
        kw_dnssec_obs_free(obs);
    free(dk);
    free(wb);
    free(obs);
    free(res);
    return rc;
}

int cli_dnssec(kw_cli *cli, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        dnssec_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? KW_EXIT_USAGE : KW_EXIT_OK;
    }
    if (strcmp(argv[1], "check") == 0)
        return dnssec_check(cli, argc - 1, argv + 1);
    if (strcmp(argv[1], "ds") == 0)
        return dnssec_ds(cli, argc - 1, argv + 1);
    kw_err("dnssec: unknown subcommand \"%s\"; try `keywarden dnssec "
           "check` or `keywarden dnssec ds`", argv[1]);
    return KW_EXIT_USAGE;
}
