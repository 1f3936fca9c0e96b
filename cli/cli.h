/*
 * cli.h: the command line, the operator's way into keywarden.
 *
 * main.c parses the global options (--state-dir, --config, --log-level,
 * before or after the command), resolves the state directory
 * (service/state.h) and hands the command its own arguments.  One file
 * per command group, each a thin layer over the modules below it
 * (cli -> service -> acme, hooks -> keystore, dns -> common; nothing
 * below includes this header):
 *
 *   cli_scan.c      scan             cli_list.c     list
 *   cli_show.c      show, forget     cli_check.c    check (monitoring)
 *   cli_config.c    config check     cli_probe.c    probe
 *   cli_discover.c  discover         cli_hooks.c    hooks ...
 *   cli_renew.c     renew            cli_precheck.c precheck
 *   cli_cert.c      certificate list, rollback, revoke, account
 *   cli_certedit.c  certificate add, certificate remove
 *   cli_control.c   status, reload, run-job (the running daemon)
 *   cli_dkim.c      dkim check (DKIM records, SPF and DMARC in DNS)
 *   cli_dnssec.c    dnssec check, dnssec ds (a zone's live DNSSEC health,
 *                   the DS to submit)
 *   cli_dnsout.c    findings, JSON and --server options dnssec and dane share
 *   cli_mtasts.c    mta-sts check (MTA-STS policy, MX, TLS-RPT)
 *   cli_dane.c      dane check (TLSA records against what is served)
 *   cli_serve.c     serve (the daemon, service/daemon.h)
 *   output.c        names for people, objects as JSON (list, show, check)
 *   paths.c         opening the inventory, the options every command shares
 *
 * Each cli_* function parses its own arguments (argv[0] is the command
 * name, getopt reset by the caller), runs to the end and returns the
 * process exit status (KW_EXIT_*; check uses the monitoring plugins'
 * 0..3).  It blocks: a command that needs the network or child
 * processes runs its own uv_loop until its work is done.  A command
 * says what went wrong itself, on stderr through kw_log, naming the
 * file, name or server; results go to stdout.  scan, forget, renew,
 * rollback, revoke, account and hooks run take the state directory's
 * lock first (kw_state_lock, the daemon's lock too), so none of them
 * runs beside the daemon or beside each other.  The kw_cli is main's,
 * borrowed for the call; everything a command allocates it frees
 * before it returns.
 */
#ifndef KW_CLI_H
#define KW_CLI_H

#include "../service/listing.h"
#include "../service/state.h"

#include "../keystore/ks_inventory.h"
#include "../keystore/ks_store.h"

#include <jansson.h>

#include "../common/kw_json.h"
#include "../common/kw_str.h"
#include <stdint.h>
#include <stdio.h>

/* A command's context is its process's: the state directory, the
 * inventory and configuration paths, the clock (service/state.h). */
typedef kw_state kw_cli;

/* paths.c: kw_state_init, printing what went wrong. */
int kw_cli_init(kw_cli *cli, const char *state_dir_opt);

/* Open the store.  create: make the state directory (0700) and the
 * database if missing.  When !create and there is no database yet (or
 * it is an empty file), returns KW_ENOENT without printing anything. */
int kw_cli_open(kw_cli *cli, int create, ks_store **out);

/* Open the store for a command that needs an existing inventory (list,
 * show, forget, hooks history).  When there is none (no database, or an
 * empty file) it says so, naming the path, and returns KW_ENOENT; other
 * errors are printed too. */
int kw_cli_open_existing(kw_cli *cli, ks_store **out);

/* Options every command shares: --state-dir (S), --warn (w), --crit (c)
 * when t is not NULL, --help (h), and unknown options.  Returns
 * KW_CLI_NEXT when parsing goes on, KW_CLI_NOT_SHARED when c is the
 * command's own option, or the exit status to return now (bad_usage for a
 * usage error: 2, or 3 for the monitoring plugin). */
enum { KW_CLI_NEXT = -1, KW_CLI_NOT_SHARED = -2 };
int kw_cli_shared_opt(kw_cli *cli, int c, const char *arg, ks_thresholds *t,
                      void (*usage)(FILE *), int bad_usage);

/* Parse the options of a command that takes only the shared ones
 * (--state-dir, --help).  KW_CLI_NEXT when the command goes on (optind
 * at its first operand), else the exit status to return now. */
int kw_cli_shared_only(kw_cli *cli, int argc, char **argv,
                       void (*usage)(FILE *));

/* cli_cert.c: load the configuration (--config) for a command on managed
 * certificates; 0, or -1 when it cannot be read or has no [certificate]
 * section (said on stderr, naming the file). */
struct kw_config;
int kw_cli_load_certs(kw_cli *cli, struct kw_config *c);

/* cli_scan.c: the configuration for reading the DKIM signers (the file,
 * or the defaults when there is none), with opendkim/rspamd (may be
 * NULL) overriding [dkim]; 0, or -1 (said).  Free c with kw_config_free. */
int kw_cli_dkim_config(kw_cli *cli, const char *opendkim, const char *rspamd,
                       struct kw_config *c);
/* Record the DKIM selectors c's [dkim] and discovery find (scan --dkim,
 * discover), printing a summary to out (NULL: none) and, unless quiet,
 * the problems on stderr. */
int kw_cli_scan_dkim(kw_cli *cli, ks_store *s, const struct kw_config *c,
                     int quiet, FILE *out);
/* Likewise the DNSSEC zones and keys ([dnssec], [zone], discovery). */
int kw_cli_scan_dnssec(kw_cli *cli, ks_store *s, const struct kw_config *c,
                       int quiet, FILE *out);

/* output.c */
/* The managed DKIM domains' rotations (rotations.c), for list, show,
 * check and dkim: the configuration's [dkim "DOMAIN"] sections with
 * rotate =, each with its newest rotation and health at cli->now. */
struct kw_dkim_rot_view;
typedef struct kw_cli_rots {
    struct kw_config *kc;          /* NULL when not loaded */
    struct kw_dkim_rot_view *v;
    size_t n;
    char err[600];                 /* why the configuration is not read */
} kw_cli_rots;
/* 0, or -1 with out->err (the configuration does not load, or the
 * store cannot be read); a missing configuration is no rotation. */
int kw_cli_rots_load(kw_cli *cli, ks_store *s, kw_cli_rots *out);
void kw_cli_rots_free(kw_cli_rots *r);
const struct kw_dkim_rot_view *kw_cli_rots_find(const kw_cli_rots *r,
                                                const char *domain);

void kw_print_empty_hint(FILE *out, const kw_cli *cli);
/* A DNSSEC zone's or key's stage column and next transition, as list
 * and show print them (a zone: signed, DS, its next RRSIG expiry). */
void kw_dnssec_stage_text(const ks_tls_facts *f, int64_t now, char *stage,
                          size_t slen, char *next, size_t nlen);
/* t as "2026-12-04T22:00Z" ("-" for 0). */
void kw_dnssec_minute(int64_t t, char *buf, size_t len);
/* Parse a --warn/--crit/--expiring value or exit with a usage message. */
int kw_parse_duration_opt(const char *opt, const char *value, int64_t *out);

/* cli_dnsout.c: findings (dnssec_live.h's, which dane/ shares) as a
 * JSON array (NULL when out of memory) or indented text lines; the
 * monitoring word of a ks_health ("ok" ... "unknown"). */
struct kw_dnssec_live_find;
json_t *kw_cli_finds_json(const struct kw_dnssec_live_find *f, size_t n);
void kw_cli_finds_text(const struct kw_dnssec_live_find *f, size_t n,
                       size_t dropped, FILE *out);
const char *kw_cli_health_word(int h);
/* j on stdout, indented, then a newline; cmd names the command when it
 * cannot be written. */
void kw_cli_print_json(json_t *j, const char *cmd);
/* A command group with one subcommand (dane check): --help
 * or no argument prints usage, another word is a usage error naming it,
 * sub runs run with argv from sub on. */
int kw_cli_only_sub(kw_cli *cli, int argc, char **argv, const char *group,
                    const char *sub, void (*usage)(FILE *),
                    int (*run)(kw_cli *, int, char **));
/* --server style options: ADDR[:PORT] (53) into s, or -1 said as
 * "CMD: OPT V: why".  kw_cli_resolver: when the option was not given,
 * the first nameserver of /etc/resolv.conf into r, or -1 said. */
struct kw_dns_server;
int kw_cli_dns_server(const char *cmd, const char *opt, const char *v,
                      struct kw_dns_server *s);
int kw_cli_resolver(const char *cmd, const char *opt, int given,
                    struct kw_dns_server *r);

int cli_scan(kw_cli *cli, int argc, char **argv);
int cli_renew(kw_cli *cli, int argc, char **argv);
int cli_certificate(kw_cli *cli, int argc, char **argv);
int cli_certificate_edit(kw_cli *cli, int argc, char **argv);
int cli_rollback(kw_cli *cli, int argc, char **argv);
int cli_revoke(kw_cli *cli, int argc, char **argv);
int cli_account(kw_cli *cli, int argc, char **argv);
int cli_precheck(kw_cli *cli, int argc, char **argv);
int cli_hooks(kw_cli *cli, int argc, char **argv);
int cli_dkim(kw_cli *cli, int argc, char **argv);
int cli_dnssec(kw_cli *cli, int argc, char **argv);
int cli_mtasts(kw_cli *cli, int argc, char **argv);
int cli_dane(kw_cli *cli, int argc, char **argv);
int cli_list(kw_cli *cli, int argc, char **argv);
int cli_show(kw_cli *cli, int argc, char **argv);
int cli_check(kw_cli *cli, int argc, char **argv);
int cli_forget(kw_cli *cli, int argc, char **argv);
int cli_config(kw_cli *cli, int argc, char **argv);
int cli_serve(kw_cli *cli, int argc, char **argv);
int cli_probe(kw_cli *cli, int argc, char **argv);
int cli_discover(kw_cli *cli, int argc, char **argv);
int cli_status(kw_cli *cli, int argc, char **argv);
int cli_reload(kw_cli *cli, int argc, char **argv);
int cli_run_job(kw_cli *cli, int argc, char **argv);

/* cli_control.c: the running daemon, if any. */
void kw_cli_control_path(kw_cli *cli, char *out, size_t len);
int kw_cli_call_daemon(kw_cli *cli, json_t *request, int timeout_ms,
                       json_t **reply, kw_diag *d);
/* Whether kw_cli_call_daemon's r means that no daemon listens (as
 * opposed to one that failed to answer). */
int kw_cli_daemon_absent(int r);

#endif
