/*
 * cli_discover.c: keywarden discover.
 */
#include "cli.h"
#include "../probe/discover.h"

#include "../common/kw_log.h"
#include "../dkim/dkim_source.h"
#include "../service/config.h"
#include "../keystore/ks_scan.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void discover_usage(FILE *out)
{
    fputs("Usage: keywarden discover [--dry-run] [--json] [--postfix DIR] "
          "[--dovecot FILE]\n"
          "                          [--nginx FILE]\n"
          "\n"
          "Read the configurations of Postfix (/etc/postfix/main.cf, "
          "master.cf),\n"
          "Dovecot (/etc/dovecot/dovecot.conf and its includes) and nginx\n"
          "(/etc/nginx/nginx.conf and its includes) for the certificate and "
          "key files\n"
          "they use; add those files to the inventory and record which "
          "daemon uses\n"
          "each, with the file and line (`keywarden show` prints it as "
          "\"used by\").\n"
          "A file a daemon is configured to load that is missing is an "
          "object too,\n"
          "critical (the daemon will not start or reload) until it is "
          "there.\n"
          "Also print the TLS endpoints they serve, as [endpoint] sections "
          "to add to\n"
          "keywarden.conf.  Where nginx is installed, its configuration is "
          "what\n"
          "`nginx -T -c FILE` prints (the files nginx itself reads); when "
          "that fails,\n"
          "a note says why and the files are read directly.  Postfix's and "
          "Dovecot's\n"
          "files are only read.\n"
          "\n"
          "  --dry-run      only print what was found\n"
          "  --json         print the findings as JSON\n"
          "  --postfix DIR, --dovecot FILE, --nginx FILE   other locations\n"
          "  --opendkim FILE, --rspamd DIR   other DKIM signers' "
          "configurations\n"
          "\n"
          "DKIM: the selectors OpenDKIM (/etc/opendkim.conf) and rspamd\n"
          "(/etc/rspamd) sign with, and [dkim \"DOMAIN\"] sections, become "
          "objects of\n"
          "kind dkim, as `keywarden scan --dkim` records them.\n",
          out);
}

/* The selectors found, for --json. */
static json_t *dkim_json(const kw_dkim_sources *dk)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; a != NULL && i < dk->n; i++)
        json_array_append_new(
            a, json_pack("{s:s, s:o, s:o, s:o, s:s, s:o, s:o}", "signer",
                         dk->sel[i].signer, "domain",
                         kw_json_str(dk->sel[i].domain), "selector",
                         kw_json_str(dk->sel[i].selector), "key",
                         kw_json_path(dk->sel[i].key), "role",
                         kw_dkim_role_name(dk->sel[i].role), "named_by",
                         kw_json_path(dk->sel[i].source), "user",
                         kw_json_str(dk->sel[i].user)));
    return a;
}

int cli_discover(kw_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"dry-run", no_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},
        {"postfix", required_argument, NULL, 'P'},
        {"dovecot", required_argument, NULL, 'D'},
        {"nginx", required_argument, NULL, 'N'},
        {"opendkim", required_argument, NULL, 'O'},
        {"rspamd", required_argument, NULL, 'R'},
        {"state-dir", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    kw_discover_paths paths;
    kw_discovery disc;
    kw_config kc;
    kw_dkim_sources dk;
    const char *opendkim = NULL, *rspamd = NULL;
    ks_scan_stats st;
    ks_store *s = NULL;
    kw_diag d;
    size_t i;
    int c, r, dry = 0, json = 0, dkim_ok;

    memset(&paths, 0, sizeof(paths));
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            dry = 1;
            break;
        case 'j':
            json = 1;
            break;
        case 'P':
            paths.postfix_dir = optarg;
            break;
        case 'D':
            paths.dovecot_conf = optarg;
            break;
        case 'N':
            paths.nginx_conf = optarg;
            break;
        case 'O':
            opendkim = optarg;
            break;
        case 'R':
            rspamd = optarg;
            break;
        default:
            r = kw_cli_shared_opt(cli, c, optarg, NULL, discover_usage,
                                  KW_EXIT_USAGE);
            if (r != KW_CLI_NEXT)
                return r == KW_CLI_NOT_SHARED ? KW_EXIT_USAGE : r;
        }
    }
    if (optind < argc) {
        discover_usage(stderr);
        return KW_EXIT_USAGE;
    }
    /* Without the configuration's [dkim "DOMAIN"] sections, recording
     * the selectors would drop theirs: a configuration that does not load
     * skips DKIM (said), not the certificates. */
    memset(&dk, 0, sizeof(dk));
    dkim_ok = kw_cli_dkim_config(cli, opendkim, rspamd, &kc) == 0;
    if (!dkim_ok) {
        kw_warn("discover: DKIM signers skipped until the configuration "
                "loads");
        kw_config_defaults(&kc);
    }
    if (kw_discover(&paths, &disc) != 0 ||
        (dkim_ok && kw_dkim_sources_read(&kc.dkim, 1, &dk) != 0)) {
        kw_err("discover: out of memory");
        kw_discovery_free(&disc);
        kw_dkim_sources_free(&dk);
        kw_config_free(&kc);
        return KW_EXIT_FAIL;
    }
    if (json) {
        json_t *o = json_object(), *u = json_array(), *p = json_array(),
               *n = json_array();
        char *text;

        for (i = 0; i < disc.nusages; i++)
            json_array_append_new(
                u, json_pack("{s:s, s:o, s:i, s:s, s:o, s:b, s:s?}",
                             "daemon", disc.usages[i].daemon, "config",
                             kw_json_path(disc.usages[i].config), "line",
                             disc.usages[i].line, "directive",
                             disc.usages[i].directive, "path",
                             kw_json_path(disc.usages[i].path), "is_key",
                             disc.usages[i].is_key, "error",
                             disc.usages[i].err != 0
                                 ? strerror(disc.usages[i].err)
                                 : NULL));
        for (i = 0; i < disc.nproposals; i++)
            json_array_append_new(
                p, json_pack("{s:s, s:o, s:o, s:o, s:i, s:s, s:o, s:i}",
                             "daemon", disc.proposals[i].daemon, "name",
                             kw_json_str(disc.proposals[i].name), "host",
                             kw_json_str(disc.proposals[i].host), "sni",
                             kw_json_str(disc.proposals[i].sni), "port",
                             disc.proposals[i].port, "starttls",
                             kw_starttls_word(disc.proposals[i].starttls),
                             "config",
                             kw_json_path(disc.proposals[i].config), "line",
                             disc.proposals[i].line));
        for (i = 0; i < disc.nnotes; i++)
            json_array_append_new(n, kw_json_str(disc.notes[i]));
        for (i = 0; i < dk.nnotes; i++)
            json_array_append_new(n, kw_json_str(dk.notes[i]));
        json_object_set_new(o, "dkim", dkim_json(&dk));
        json_object_set_new(o, "files", u);
        json_object_set_new(o, "endpoints", p);
        json_object_set_new(o, "notes", n);
        /* Which nginx printed the configuration read (null: the files
         * were read directly). */
        json_object_set_new(o, "nginx_dump", kw_json_str(disc.nginx_dump));
        text = json_dumps(o, JSON_INDENT(2));
        if (text != NULL)
            puts(text);
        free(text);
        json_decref(o);
    } else {
        if (disc.nusages == 0)
            kw_outf(stdout,
                    "no certificate files found in the configurations of "
                    "Postfix, Dovecot or nginx\n");
        for (i = 0; i < disc.nusages; i++) {
            const kw_usage *uu = &disc.usages[i];

            kw_outf(stdout, "%s: %s:%d %s %s", uu->daemon, uu->config, uu->line,
                    uu->directive, uu->path);
            if (uu->err == ENOENT)
                kw_outf(stdout,
                        ": MISSING, the daemon will not start or reload");
            else if (uu->err != 0)
                kw_outf(stdout, ": cannot read it as this user: %s",
                        strerror(uu->err));
            putchar('\n');
        }
        for (i = 0; i < dk.n; i++)
            kw_outf(stdout, "%s: %s %s._domainkey.%s %s (%s)\n",
                    dk.sel[i].signer, dk.sel[i].source, dk.sel[i].selector,
                    dk.sel[i].domain, dk.sel[i].key,
                    kw_dkim_role_name(dk.sel[i].role));
        for (i = 0; i < disc.nnotes; i++)
            kw_outf(stdout, "note: %s\n", disc.notes[i]);
        for (i = 0; i < dk.nnotes; i++)
            kw_outf(stdout, "note: %s\n", dk.notes[i]);
        if (disc.nginx_dump != NULL)
            kw_outf(stdout, "nginx's configuration as `%s -T` printed it\n",
                    disc.nginx_dump);
        if (disc.nproposals > 0)
            kw_outf(stdout,
                    "\nEndpoints these daemons serve; add to %s to probe "
                    "them:\n",
                    cli->config_path);
        for (i = 0; i < disc.nproposals; i++) {
            const kw_proposal *pp = &disc.proposals[i];
            kw_outf(stdout, "\n# %s, %s", pp->daemon, pp->config);
            if (pp->line > 0)
                kw_outf(stdout, " line %d", pp->line);
            kw_outf(stdout, "\n[endpoint \"%s\"]\nhost = %s\nport = %d\n",
                    pp->name, pp->host, pp->port);
            if (pp->starttls != KW_TLS_IMPLICIT)
                kw_outf(stdout, "starttls = %s\n",
                        kw_starttls_word(pp->starttls));
            if (pp->sni != NULL)
                kw_outf(stdout, "sni = %s\n", pp->sni);
        }
    }
    r = KW_EXIT_OK;
    if (!dry) {
        if (kw_cli_open(cli, 1, &s) != 0) {
            kw_discovery_free(&disc);
            return KW_EXIT_FAIL;
        }
        if (kw_discover_apply(s, &disc, cli->now, &st, &d) != 0) {
            kw_err("discover: %s", d.msg);
            r = KW_EXIT_FAIL;
        } else if (!json) {
            if (dkim_ok && kw_cli_scan_dkim(cli, s, &kc, 1, stdout) != 0)
                r = KW_EXIT_FAIL;
            if (dkim_ok && kw_cli_scan_dnssec(cli, s, &kc, 1, stdout) != 0)
                r = KW_EXIT_FAIL;
            kw_outf(stdout,
                    "\n%zu files added to the inventory (%zu certificates, "
                    "%zu keys); `keywarden show` lists who uses them\n",
                    st.files, st.certs, st.keys);
            if (st.absent > 0)
                kw_outf(stdout,
                        "%zu file%s these daemons load %s missing or "
                        "unreadable: in the inventory, critical while "
                        "missing (`keywarden list`)\n",
                        st.absent, st.absent == 1 ? "" : "s",
                        st.absent == 1 ? "is" : "are");
        }
        /* With --json the summary would break the JSON on stdout. */
        if (json && dkim_ok && r == KW_EXIT_OK &&
            (kw_cli_scan_dkim(cli, s, &kc, 1, NULL) != 0 ||
             kw_cli_scan_dnssec(cli, s, &kc, 1, NULL) != 0))
            r = KW_EXIT_FAIL;
        ks_close(s);
    }
    kw_discovery_free(&disc);
    kw_dkim_sources_free(&dk);
    kw_config_free(&kc);
    return r;
}
