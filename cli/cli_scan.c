/*
 * cli_scan.c: keywarden scan PATH...
 */
#include "cli.h"

#include "../acme/acme_jws.h"
#include "../common/kw_log.h"
#include "../dkim/dkim.h"
#include "../dnssec/dnssec_scan.h"
#include "../service/config.h"
#include "../keystore/ks_endpoint.h"
#include "../keystore/ks_scan.h"
#include "../service/control.h"
#include "../service/hooks.h"

#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

static void scan_usage(FILE *out)
{
    fputs("Usage: keywarden scan [-v] [-q] PATH...\n"
          "       keywarden [--config FILE] scan --dkim [-q] [PATH...]\n"
          "       keywarden [--config FILE] scan --dnssec [-q] [PATH...]\n"
          "\n"
          "Add the certificates found in PATH (files or directories, "
          "searched\n"
          "recursively, symlinks followed) to the inventory, and refresh "
          "what\n"
          "changed since the last scan.  Files that did not change (same "
          "device,\n"
          "inode, size and mtime) are not read again; files that vanished "
          "are\n"
          "marked missing.  Broken certificate files are reported and "
          "listed with\n"
          "health unknown; the scan goes on.  A PATH that is missing, "
          "or a FIFO,\n"
          "socket or device, is an error; scan exits 1 only when none of "
          "the\n"
          "PATHs could be scanned.\n"
          "\n"
          "  -v, --verbose  also report skipped files (binary, oversized, "
          "not PEM,\n"
          "                 FIFOs, sockets and devices inside a tree)\n"
          "  -q, --quiet    print only the summary\n"
          "      --dkim     also read the DKIM signers' configurations "
          "([dkim] in\n"
          "                 the configuration, /etc/opendkim.conf and "
          "/etc/rspamd)\n"
          "                 and record their selectors\n"
          "      --dnssec   also read the DNSSEC signers' configurations "
          "([dnssec] and\n"
          "                 [zone] in the configuration; else "
          "/etc/bind/named.conf and\n"
          "                 /etc/knot/knot.conf) and record their zones and "
          "keys\n"
          "      --state-dir DIR\n",
          out);
}

typedef struct scan_out {
    int verbose;
    int quiet;
} scan_out;

static void on_note(void *ctx, enum ks_scan_note n, const char *path,
                    const char *msg)
{
    const scan_out *o = ctx;

    if (o->quiet)
        return;
    switch (n) {
    case KS_NOTE_ERROR:
        kw_outf(stderr, "error: %s: %s\n", path, msg);
        break;
    case KS_NOTE_LOOP:
        kw_outf(stderr, "warning: %s: %s\n", path, msg);
        break;
    case KS_NOTE_MISSING:
        kw_outf(stderr, "warning: %s: %s\n", path, msg);
        break;
    case KS_NOTE_CHANGED:
        kw_outf(stderr, "changed: %s: %s\n", path, msg);
        break;
    case KS_NOTE_SKIPPED:
        if (o->verbose)
            kw_outf(stderr, "skipped: %s: %s\n", path, msg);
        break;
    case KS_NOTE_NEW:
        break;
    }
}

/* One request to the daemon; its stats added to sum.  0, or the exit
 * status after saying what failed. */
static int send_scan(kw_cli *cli, json_t *req, json_t *sum, int *absent)
{
    json_t *reply = NULL, *v;
    const char *k;
    kw_diag d;
    int r = kw_cli_call_daemon(cli, req, 3600 * 1000, &reply, &d);

    *absent = kw_cli_daemon_absent(r);
    if (*absent)
        return 0;
    if (r != 0) {
        kw_err("scan: the running daemon did not answer: %s", d.msg);
        return KW_EXIT_FAIL;
    }
    if (!json_is_true(json_object_get(reply, "ok"))) {
        kw_err("scan (by the running daemon): %s",
               json_string_value(json_object_get(reply, "error")));
        json_decref(reply);
        return KW_EXIT_FAIL;
    }
    json_object_foreach(json_object_get(reply, "stats"), k, v)
    {
        json_int_t had = json_integer_value(json_object_get(sum, k));
        json_object_set_new(sum, k,
                            json_integer(had + json_integer_value(v)));
    }
    json_decref(reply);
    return 0;
}

/* Hand the paths to a running daemon, as bytes (base64url; see
 * control.h), in as many requests as the socket's limits need.  -1 when
 * no daemon runs (the caller scans here), else the exit status. */
static int scan_by_daemon(kw_cli *cli, char **paths, size_t n)
{
    json_t *sum = json_object(), *req = NULL, *stats;
    char abspath[PATH_MAX];
    size_t i, bytes = 0, count = 0;
    int r = 0, absent = 0;

    for (i = 0; sum != NULL && r == 0 && !absent && i <= n; i++) {
        char *b64 = NULL;

        if (i < n) {
            if (paths[i][0] == '/')
                snprintf(abspath, sizeof(abspath), "%s", paths[i]);
            else if (realpath(paths[i], abspath) == NULL)
                snprintf(abspath, sizeof(abspath), "%s", paths[i]);
            b64 = acme_b64url((const unsigned char *)abspath,
                              strlen(abspath));
            if (b64 == NULL) {
                r = KW_EXIT_FAIL;
                break;
            }
        }
        /* Send what is gathered when this path would not fit. */
        if (req != NULL &&
            (i == n || count == KW_CONTROL_MAX_PATHS ||
             bytes + strlen(b64) + 4 > KW_CONTROL_MAX_REQUEST / 2)) {
            r = send_scan(cli, req, sum, &absent);
            json_decref(req);
            req = NULL;
        }
        if (i < n && r == 0 && !absent) {
            if (req == NULL) {
                req = json_pack("{s:s, s:[]}", "cmd", "scan", "paths_b64");
                bytes = 64;
                count = 0;
            }
            json_array_append_new(json_object_get(req, "paths_b64"),
                                  json_string(b64));
            bytes += strlen(b64) + 4;
            count++;
        }
        free(b64);
    }
    json_decref(req);
    if (sum == NULL || (absent && r == 0 && json_object_size(sum) == 0)) {
        json_decref(sum);
        return -1;
    }
    if (absent && r == 0) {
        kw_err("scan: the daemon stopped while scanning; run the scan "
               "again");
        r = KW_EXIT_FAIL;
    }
    stats = sum;
    if (r == 0)
        printf("scanned by the running daemon (its log has the details): "
               "%lld files, %lld certificates; %lld new, %lld changed, %lld "
               "missing, %lld broken\n",
               json_integer_value(json_object_get(stats, "files")),
               json_integer_value(json_object_get(stats, "certs")),
               json_integer_value(json_object_get(stats, "new")),
               json_integer_value(json_object_get(stats, "changed")),
               json_integer_value(json_object_get(stats, "missing")),
               json_integer_value(json_object_get(stats, "errors")));
    json_decref(sum);
    return r == 0 ? KW_EXIT_OK : r;
}

int kw_cli_dkim_config(kw_cli *cli, const char *opendkim,
                       const char *rspamd, kw_config *c)
{
    kw_diag d;
    int r = kw_config_load(cli->config_path, c, &d);

    if (r == KW_ENOENT) {
        kw_config_defaults(c);
    } else if (r != 0) {
        kw_err("%s", d.msg);
        return -1;
    }
    if (opendkim != NULL) {
        free(c->dkim.opendkim_conf);
        c->dkim.opendkim_conf = strdup(opendkim);
    }
    if (rspamd != NULL) {
        free(c->dkim.rspamd_conf);
        c->dkim.rspamd_conf = strdup(rspamd);
    }
    if ((opendkim != NULL && c->dkim.opendkim_conf == NULL) ||
        (rspamd != NULL && c->dkim.rspamd_conf == NULL)) {
        kw_err("out of memory");
        kw_config_free(c);
        return -1;
    }
    return 0;
}

int kw_cli_scan_dkim(kw_cli *cli, ks_store *s, const kw_config *c, int quiet,
                     FILE *out)
{
    kw_dkim_scan_result res;
    kw_diag d;
    size_t i;

    if (kw_dkim_scan(s, &c->dkim, 1, cli->now, &res, &d) != 0) {
        kw_err("dkim: %s", d.msg);
        return -1;
    }
    for (i = 0; !quiet && i < res.nnotes; i++)
        kw_outf(stderr, "error: %s\n", res.notes[i]);
    if (out != NULL)
        fprintf(out, "dkim: %zu selectors (%zu signing, %zu published, %zu "
                "orphan key files), %zu keys unreadable; %zu new, %zu "
                "changed, %zu gone\n",
           res.stats.selectors, res.signing, res.published, res.orphans,
           res.unreadable, res.stats.added, res.stats.changed,
           res.stats.removed);
    kw_dkim_scan_result_free(&res);
    return 0;
}

int kw_cli_scan_dnssec(kw_cli *cli, ks_store *s, const kw_config *c,
                       int quiet, FILE *out)
{
    kw_dnssec_scan_result res;
    kw_diag d;
    size_t i;

    if (kw_dnssec_scan(s, &c->dnssec, kw_dnssec_discover(&c->dnssec),
                       cli->now, &res, &d) != 0) {
        kw_err("dnssec: %s", d.msg);
        return -1;
    }
    for (i = 0; !quiet && i < res.nnotes; i++)
        kw_outf(stderr, "error: dnssec: %s\n", res.notes[i]);
    if (out != NULL)
        fprintf(out, "dnssec: %zu zones, %zu keys; %zu new, %zu changed, "
                "%zu gone, %zu kept (their signer could not be read)\n",
                res.stats.zones, res.stats.keys, res.stats.added,
                res.stats.changed, res.stats.removed, res.stats.kept);
    kw_dnssec_scan_result_free(&res);
    return 0;
}

int cli_scan(kw_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"dkim", no_argument, NULL, 'D'},
        {"dnssec", no_argument, NULL, 'N'},
        {"state-dir", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    scan_out so = {0, 0};
    ks_scan_opts o;
    ks_scan_stats st;
    ks_store *s = NULL;
    kw_diag d;
    int c, r, lock_fd = -1, dkim = 0, dnssec = 0;

    while ((c = getopt_long(argc, argv, "vqh", opts, NULL)) != -1) {
        switch (c) {
        case 'v':
            so.verbose = 1;
            break;
        case 'q':
            so.quiet = 1;
            break;
        case 'D':
            dkim = 1;
            break;
        case 'N':
            dnssec = 1;
            break;
        default:
            r = kw_cli_shared_opt(cli, c, optarg, NULL, scan_usage,
                                  KW_EXIT_USAGE);
            if (r != KW_CLI_NEXT)
                return r == KW_CLI_NOT_SHARED ? KW_EXIT_USAGE : r;
            break;
        }
    }
    if (optind >= argc && !dkim && !dnssec) {
        kw_err("scan: which paths?  e.g. keywarden scan /etc/ssl "
               "/etc/letsencrypt");
        return KW_EXIT_USAGE;
    }
    /* A running daemon does the scan itself, so one writer owns the
     * inventory; otherwise this process takes the daemon's lock for the
     * duration.  The daemon reads the DKIM sources in its own scan job. */
    r = dkim || dnssec ? -1
                       : scan_by_daemon(cli, argv + optind, (size_t)(argc - optind));
    if (r >= 0)
        return r;
    if (kw_cli_open(cli, 1, &s) != 0)
        return KW_EXIT_FAIL;
    if (kw_state_lock(cli, "scan", &lock_fd, &d) != 0) {
        kw_err("scan: %s", d.msg);
        ks_close(s);
        return KW_EXIT_FAIL;
    }

    if (dkim || dnssec) {
        kw_config kc;
        int bad = kw_cli_dkim_config(cli, NULL, NULL, &kc) != 0;

        if (!bad) {
            bad = dkim && kw_cli_scan_dkim(cli, s, &kc, so.quiet, stdout) != 0;
            bad = bad || (dnssec && kw_cli_scan_dnssec(cli, s, &kc, so.quiet,
                                                       stdout) != 0);
            kw_config_free(&kc);
        }
        if (bad) {
            ks_close(s);
            close(lock_fd);
            return KW_EXIT_FAIL;
        }
    }
    if (optind >= argc) {
        kw_health_watch(s, cli->now);
        ks_close(s);
        close(lock_fd);
        return KW_EXIT_OK;
    }
    memset(&o, 0, sizeof(o));
    o.now = cli->now;
    if (getenv("KEYWARDEN_SCAN_THREADS") != NULL)
        o.threads = atoi(getenv("KEYWARDEN_SCAN_THREADS"));
    o.note = on_note;
    o.note_ctx = &so;
    r = ks_scan(s, (const char *const *)argv + optind,
                (size_t)(argc - optind), &o, &st, &d);
    /* What serve does after its scans: an endpoint still serving a
     * certificate renewed on disk is stale now, and deadlines that came
     * closer become cert.expiring events for the next `hooks run`. */
    if (r == 0 && (st.objects_changed > 0 || st.objects_new > 0)) {
        size_t nstale = 0;
        kw_diag ed;

        if (ks_endpoint_recheck(s, cli->now, &nstale, &ed) != 0)
            kw_warn("scan: endpoints not re-checked: %s", ed.msg);
    }
    if (r == 0)
        kw_health_watch(s, cli->now);
    ks_close(s);
    close(lock_fd);
    if (r != 0) {
        kw_err("scan failed: %s", d.msg);
        return KW_EXIT_FAIL;
    }
    printf("scanned %zu files in %zu directories (%zu unchanged, %zu "
           "read): %zu certificates, %zu private keys\n",
           st.files, st.dirs, st.unchanged, st.parsed, st.certs, st.keys);
    printf("inventory: %zu new, %zu changed, %zu missing; %zu broken, %zu "
           "skipped%s, %zu duplicate paths, %zu loops\n",
           st.objects_new, st.objects_changed, st.missing, st.errors,
           st.skipped, so.verbose || st.skipped == 0 ? "" : " (-v shows why)",
           st.duplicates, st.loops);
    return KW_EXIT_OK;
}
