/*
 * cli_dkim.c: keywarden dkim check [DOMAIN...] [--json], dkim rotate
 * DOMAIN | --due, dkim abort DOMAIN, dkim status [DOMAIN] [--json],
 * dkim cnames [DOMAIN...] [--json] (a dedicated zone's one-time CNAMEs).
 *
 * Runs the DNS check of dkim/dkim_check.h over the inventory's DKIM
 * selectors (those of the named signing domains, or all), records each
 * selector's findings as the daemon does, prints every server's answer,
 * the findings, the SPF tree and DMARC, and exits like `check`: 0 ok,
 * 1 warning, 2 critical, 3 unknown (an empty or missing inventory too).
 */
#include "cli.h"

#include "../dkim/dkim_check.h"
#include "../dkim/dkim_rotate.h"
#include "../service/config.h"
#include "../service/hooks.h"
#include "../service/job.h"

#include "../common/kw_log.h"

#include <getopt.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static void dkim_usage(FILE *out)
{
    fputs("Usage: keywarden dkim check [--json] [--postfix DIR] "
          "[DOMAIN...]\n"
          "       keywarden dkim rotate DOMAIN\n"
          "       keywarden dkim rotate --due\n"
          "       keywarden dkim abort DOMAIN\n"
          "       keywarden dkim status [--json] [DOMAIN]\n"
          "       keywarden dkim cnames [--json] [DOMAIN...]\n"
          "\n"
          "rotate starts a rotation of DOMAIN's selector now (a [dkim "
          "\"DOMAIN\"]\n"
          "section with rotate =), or resumes the one running, and drives "
          "it until\n"
          "it must wait: it says for what.  rotate --due advances every "
          "managed\n"
          "domain as far as it can now, starting the rotations that are "
          "due, as\n"
          "serve's dkim-rotate job does (for cron without the daemon; run\n"
          "`keywarden hooks run` after it, so the signer's reload is "
          "delivered).\n"
          "abort takes DOMAIN's rotation back if it has not reached active: "
          "the\n"
          "new record is removed and the old key keeps signing.  status "
          "shows each\n"
          "rotation's stage, since when, and what it waits for.\n"
          "cnames prints, for each domain whose [dkim \"DOMAIN\"] has zone "
          "=, the\n"
          "CNAME of each slot to add once to the mail domain's zone (all "
          "such\n"
          "domains when none is named); a rotation into a slot waits until "
          "its\n"
          "CNAME is served.\n"
          "rotate and abort exit 0 when the rotation advanced or waits, 1 "
          "when a\n"
          "step failed (it says where and why), 3 when they could not run.\n"
          "\n"
          "check:\n"
          "Asks the resolver ([dkim] resolver, else /etc/resolv.conf's) and "
          "every\n"
          "authoritative server of each DKIM selector's zone for its record "
          "and\n"
          "compares it with the key file; for each signing domain walks SPF "
          "(every\n"
          "include, counted against the limits of 10 lookups and 2 void "
          "lookups,\n"
          "and the result for each outbound address: [dkim] outbound, else\n"
          "the smtp_bind_address or inet_interfaces addresses of Postfix's "
          "main.cf)\n"
          "and reads DMARC.\n"
          "The findings are recorded, so `list` and `check` show them too.  "
          "Run\n"
          "`keywarden scan --dkim` first to record the selectors.\n"
          "\n"
          "  --json     the whole report as JSON\n"
          "  --postfix DIR  Postfix's configuration directory "
          "(/etc/postfix)\n"
          "  DOMAIN...  only the selectors of these signing domains\n"
          "\n"
          "Exit status: 0 ok, 1 warning, 2 critical, 3 unknown (as "
          "`check`).\n",
          out);
}

/* getopt over opts, whose one option of its own (letter) sets *flag;
 * the shared ones (--state-dir, --help) as every command has them.
 * KW_CLI_NEXT to go on, else the exit status. */
static int one_flag_opts(kw_cli *cli, int argc, char **argv,
                         const struct option *opts, int letter, int *flag)
{
    int c, r;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == letter) {
            *flag = 1;
            continue;
        }
        r = kw_cli_shared_opt(cli, c, optarg, NULL, dkim_usage,
                              KW_EXIT_USAGE);
        if (r != KW_CLI_NEXT)
            return r == KW_CLI_NOT_SHARED ? KW_EXIT_USAGE : r;
    }
    return KW_CLI_NEXT;
}

static int dkim_check(kw_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"postfix", required_argument, NULL, 'P'},
        {"state-dir", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    kw_dkim_report *rep = NULL;
    ks_store *s = NULL;
    kw_config kc;
    const char *postfix_dir = NULL;
    char from[1400];
    ks_health worst = KS_HEALTH_UNKNOWN;
    size_t nsel = 0;
    kw_diag d;
    int c, r, json = 0, lock_fd = -1;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'j') {
            json = 1;
            continue;
        }
        if (c == 'P') {
            postfix_dir = optarg;
            continue;
        }
        r = kw_cli_shared_opt(cli, c, optarg, NULL, dkim_usage,
                              KS_HEALTH_UNKNOWN);
        if (r != KW_CLI_NEXT)
            return r == KW_CLI_NOT_SHARED ? KS_HEALTH_UNKNOWN : r;
    }
    if (kw_cli_dkim_config(cli, NULL, NULL, &kc) != 0)
        return KS_HEALTH_UNKNOWN;
    if (kw_job_dkim_outbound(&kc.dkim, postfix_dir, from, sizeof(from)) !=
        0) {
        kw_err("dkim check: out of memory");
        kw_config_free(&kc);
        return KS_HEALTH_UNKNOWN;
    }
    if (kw_cli_open_existing(cli, &s) != 0) {
        kw_config_free(&kc);
        return KS_HEALTH_UNKNOWN;
    }
    /* The findings are written one selector per transaction, so a
     * daemon checking at the same time (it holds the lock) and this
     * command each leave a whole set behind: the check goes on. */
    if (kw_state_lock(cli, "dkim check", &lock_fd, &d) != 0)
        lock_fd = -1;
    r = kw_dkim_check_run(s, &kc.dkim, (const char *const *)(argv + optind),
                          (size_t)(argc - optind), cli->now, &rep, &d);
    if (r != 0) {
        kw_err("dkim check: %s", d.msg);
    } else {
        kw_dkim_report_summary(rep, &nsel, NULL, &worst);
        if (json) {
            json_t *js = kw_dkim_report_json(rep);

            if (js != NULL)
                json_object_set_new(js, "outbound_from", json_string(from));
            if (js == NULL || json_dumpf(js, stdout, JSON_INDENT(2)) != 0)
                kw_err("dkim check: cannot write the JSON report");
            else
                fputc('\n', stdout);
            json_decref(js);
        } else {
            printf("outbound addresses for SPF: %s\n\n", from);
            kw_dkim_report_text(rep, stdout);
        }
        /* Health changes the findings caused become events now, as a
         * scan's do; under a running daemon its own watch sees them. */
        if (lock_fd >= 0)
            kw_health_watch(s, cli->now);
        if (nsel == 0) {
            if (argc > optind)
                kw_err("dkim check: no DKIM selector of %s%s in the "
                       "inventory", argv[optind],
                       argc - optind > 1 ? " (or the other domains named)"
                                         : "");
            worst = KS_HEALTH_UNKNOWN;
        }
    }
    kw_dkim_report_free(rep);
    ks_close(s);
    if (lock_fd >= 0)
        close(lock_fd);
    kw_config_free(&kc);
    return r != 0 ? KS_HEALTH_UNKNOWN : (int)worst;
}

static void utc(int64_t t, char *buf, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (t <= 0 || gmtime_r(&tt, &tm) == NULL ||
        strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, cap, "-");
}

/* The managed section of domain in kc (NULL: none, or no config). */
static const kw_dkim_rot_params *section(const kw_config *kc,
                                        const char *domain)
{
    size_t i;

    for (i = 0; kc != NULL && i < kc->dkim.nrot; i++)
        if (strcasecmp(kc->dkim.rot[i].domain, domain) == 0)
            return &kc->dkim.rot[i];
    return NULL;
}

/* p's one-time CNAMEs, one line each as a zone file has them. */
static int cnames_text(const kw_dkim_rot_params *p, const char *indent,
                       FILE *out)
{
    char owner[600], target[600];
    kw_diag d;
    int i;

    for (i = 1; i <= p->slots; i++) {
        if (kw_dkim_slot_cname(p, i, owner, sizeof(owner), target,
                               sizeof(target), &d) != 0) {
            kw_err("dkim: %s", d.msg);
            return -1;
        }
        fprintf(out, "%s%s. CNAME %s.\n", indent, owner, target);
    }
    return 0;
}

static json_t *cnames_json(const kw_dkim_rot_params *p)
{
    char owner[600], target[600], sel[64];
    json_t *a = json_array();
    kw_diag d;
    int i;

    for (i = 1; a != NULL && i <= p->slots; i++) {
        if (kw_dkim_slot_cname(p, i, owner, sizeof(owner), target,
                               sizeof(target), &d) != 0 ||
            kw_dkim_selector_expand_slot(p->selector, 0, i, sel, sizeof(sel),
                                         &d) != 0) {
            kw_err("dkim: %s", d.msg);
            json_decref(a);
            return NULL;
        }
        json_array_append_new(a, json_pack("{s:s, s:s, s:i, s:s, s:s, s:s}",
                                           "domain", p->domain, "zone",
                                           p->zone, "slot", i, "selector",
                                           sel, "name", owner, "cname",
                                           target));
    }
    return a;
}

static void rot_text(const ks_dkim_rot *r, const kw_dkim_rot_params *p,
                     FILE *out)
{
    char txt[600];

    char since[32], next[32];

    utc(r->since, since, sizeof(since));
    if (p != NULL && p->track != KS_DKIM_TRACK_ANY)
        fprintf(out, "%s (%s)", r->domain, r->key_type);
    else
        fprintf(out, "%s", r->domain);
    fprintf(out, "  selector %s  %s since %s", r->selector, r->stage, since);
    if (r->old_selector[0] != '\0')
        fprintf(out, "  (replaces %s)", r->old_selector);
    fputc('\n', out);
    utc(r->wait_until, next, sizeof(next));
    if (r->stopped[0] != '\0')
        fprintf(out, "  stopped (%d failed attempt%s, next try %s): %s\n",
                r->failures, r->failures == 1 ? "" : "s", next, r->stopped);
    else if (r->failures > 0)
        fprintf(out, "  %d failed attempt%s of this step before\n",
                r->failures, r->failures == 1 ? "" : "s");
    if (r->waits_for[0] != '\0')
        fprintf(out, "  waits for %s\n", r->waits_for);
    /* Until every server serves it, the record is worth repeating: with
     * publish = manual the operator pastes it from here. */
    if (strcmp(r->stage, "published") == 0 && r->record[0] != '\0') {
        if (p != NULL)
            kw_dkim_txt_name(p, r->selector, txt, sizeof(txt));
        else
            snprintf(txt, sizeof(txt), "%s._domainkey.%s", r->selector,
                     r->domain);
        fprintf(out, "  record: %s TXT \"%s\"\n", txt, r->record);
    }
}

static json_t *rot_json(const ks_dkim_rot *r)
{
    char since[32], until[32];

    utc(r->since, since, sizeof(since));
    utc(r->wait_until, until, sizeof(until));
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, "
                     "s:s?, s:i, s:s?}",
                     "domain", r->domain, "selector", r->selector, "stage",
                     r->stage, "since", since, "key_path", r->key_path,
                     "key_type", r->key_type, "record", r->record,
                     "replaces", r->old_selector, "waits_for",
                     r->waits_for[0] ? r->waits_for : NULL, "wait_until",
                     r->wait_until > 0 ? until : NULL, "stopped",
                     r->stopped[0] ? r->stopped : NULL, "failures",
                     r->failures, "next_try",
                     r->stopped[0] && r->wait_until > 0 ? until : NULL);
}

/* The configuration, the store and the state lock for a command that
 * drives rotations (what names it: "dkim rotate").  0, or -1 after
 * saying why (nothing is then left open). */
static int rot_open(kw_cli *cli, const char *what, kw_config *kc,
                    ks_store **s, int *lock_fd)
{
    kw_diag d;

    *s = NULL;
    *lock_fd = -1;
    if (kw_cli_dkim_config(cli, NULL, NULL, kc) != 0)
        return -1;
    if (kw_cli_open(cli, 1, s) != 0) {
        kw_config_free(kc);
        return -1;
    }
    /* One writer at a time: two rotations of one domain at once could
     * each start a key. */
    if (kw_state_lock(cli, what, lock_fd, &d) != 0) {
        kw_err("%s: %s", what, d.msg);
        ks_close(*s);
        kw_config_free(kc);
        return -1;
    }
    return 0;
}

static void rot_close(ks_store *s, int lock_fd, kw_config *kc)
{
    ks_close(s);
    close(lock_fd);
    kw_config_free(kc);
}

/* What one call did, as rotate and abort print it. */
static void rot_out_text(const kw_dkim_rot_out *out,
                         const kw_dkim_rot_params *p)
{
    if (out->manual_name[0] != '\0')
        printf("Publish this TXT record at %s (TTL of your choice), "
               "then run this command again:\n  %s\n",
               out->manual_name, out->rot.record);
    if (out->rot.domain[0] != '\0')
        rot_text(&out->rot, p, stdout);
}

/* The rotations' health after a command moved them: their changes
 * become health.changed events, as after the daemon's job. */
static void rot_watch(kw_cli *cli, ks_store *s, const kw_config *kc)
{
    kw_dkim_rot_view *v = NULL;
    size_t n = 0;
    kw_diag d;

    if (kw_dkim_rot_views(s, &kc->dkim, cli->now, &v, &d) != 0 ||
        kw_dkim_rot_watch(s, v, v != NULL ? kc->dkim.nrot : 0, cli->now, &n,
                          &d) != 0)
        kw_warn("dkim: the rotations' health could not be recorded: %s",
                d.msg);
    kw_dkim_rot_views_free(v, v != NULL ? kc->dkim.nrot : 0);
    kw_health_watch(s, cli->now);
}

/* keywarden dkim rotate --due: every managed domain, as the daemon's
 * dkim-rotate job does. */
static int dkim_rotate_due(kw_cli *cli)
{
    kw_dkim_rot_out *outs = NULL;
    ks_store *s;
    kw_config kc;
    kw_diag d;
    size_t i;
    char label[300];
    int r, lock_fd, stopped = 0;

    if (rot_open(cli, "dkim rotate", &kc, &s, &lock_fd) != 0)
        return KS_HEALTH_UNKNOWN;
    if (kc.dkim.nrot == 0) {
        printf("no [dkim \"DOMAIN\"] section with rotate = in %s: nothing "
               "to rotate\n",
               cli->config_path);
        rot_close(s, lock_fd, &kc);
        return 0;
    }
    if ((outs = calloc(kc.dkim.nrot, sizeof(*outs))) == NULL) {
        kw_err("dkim rotate: out of memory");
        rot_close(s, lock_fd, &kc);
        return KS_HEALTH_UNKNOWN;
    }
    r = kw_dkim_rotate_all(s, &kc.dkim, 0, cli->now, outs, &d);
    if (r != 0)
        kw_err("dkim rotate: %s", d.msg);
    for (i = 0; r == 0 && i < kc.dkim.nrot; i++) {
        stopped |= outs[i].stopped;
        if (outs[i].rot.domain[0] == '\0')
            printf("%s  no rotation yet\n",
                   kw_dkim_rot_label(&kc.dkim.rot[i], label,
                                     sizeof(label)));
        rot_out_text(&outs[i], &kc.dkim.rot[i]);
    }
    if (r == 0)
        rot_watch(cli, s, &kc);
    free(outs);
    rot_close(s, lock_fd, &kc);
    return r != 0 ? KS_HEALTH_UNKNOWN : stopped ? 1 : 0;
}

/* Has a track's newest rotation (found 0: none) nothing left to do? */
static int rot_done(int found, const ks_dkim_rot *cur)
{
    kw_dkim_stage st = kw_dkim_stage_parse(cur->stage);

    return !found || st == KW_DKIM_ST_REMOVED || st == KW_DKIM_ST_REVOKED ||
           st == KW_DKIM_ST_ABORTED ||
           (st == KW_DKIM_ST_RETIRED && cur->old_selector[0] == '\0');
}

/* keywarden dkim rotate DOMAIN: start (or resume) and drive until it
 * waits.  Exit 0 when it waits or finished, 1 when it stopped on a
 * failure, 3 when it could not run. */
static int dkim_rotate(kw_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"due", no_argument, NULL, 'D'},
        {"state-dir", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    kw_dkim_rot_out out;
    ks_dkim_rot cur;
    ks_store *s = NULL;
    kw_config kc;
    kw_diag d;
    size_t i;
    int r = 0, found = 0, flags, lock_fd = -1, due = 0, stopped = 0,
        running = 0;

    if ((r = one_flag_opts(cli, argc, argv, opts, 'D', &due)) !=
        KW_CLI_NEXT)
        return r;
    if (argc - optind != (due ? 0 : 1)) {
        if (due)
            kw_err("dkim rotate --due takes no DOMAIN: it advances every "
                   "managed domain");
        dkim_usage(stderr);
        return KW_EXIT_USAGE;
    }
    if (due)
        return dkim_rotate_due(cli);
    if (rot_open(cli, "dkim rotate", &kc, &s, &lock_fd) != 0)
        return KS_HEALTH_UNKNOWN;
    if (section(&kc, argv[optind]) == NULL) {
        kw_err("dkim rotate: %s: no [dkim \"%s\"] section with rotate = "
               "in the configuration",
               argv[optind], argv[optind]);
        rot_close(s, lock_fd, &kc);
        return KS_HEALTH_UNKNOWN;
    }
    /* Each track of the domain (a dual section has two), each on its
     * own: one that stops does not hold the other back.  A rotation
     * already running is resumed (its stopped step retried now), not
     * replaced; a new one starts only when no track runs one, so a
     * stopped track is resumed without a further key in the other. */
    r = 0;
    for (i = 0; r == 0 && i < kc.dkim.nrot; i++) {
        const kw_dkim_rot_params *p = &kc.dkim.rot[i];

        if (strcasecmp(p->domain, argv[optind]) != 0)
            continue;
        r = ks_dkim_rot_latest_track(s, p->domain, p->track, &cur, &found,
                                     &d);
        if (r == 0 && !rot_done(found, &cur))
            running = 1;
    }
    for (i = 0; r == 0 && i < kc.dkim.nrot; i++) {
        const kw_dkim_rot_params *p = &kc.dkim.rot[i];

        if (strcasecmp(p->domain, argv[optind]) != 0)
            continue;
        flags = KW_DKIM_ROT_RETRY;
        r = ks_dkim_rot_latest_track(s, p->domain, p->track, &cur, &found,
                                     &d);
        if (r != 0)
            break;
        if (!running && rot_done(found, &cur))
            flags |= KW_DKIM_ROT_START;
        r = kw_dkim_rotate_run(s, p, NULL, flags, cli->now, &out, &d);
        if (r == 0) {
            rot_out_text(&out, p);
            stopped |= out.stopped;
        }
    }
    if (r != 0)
        kw_err("dkim rotate: %s", d.msg);
    else
        rot_watch(cli, s, &kc);
    rot_close(s, lock_fd, &kc);
    return r != 0 ? KS_HEALTH_UNKNOWN : stopped ? 1 : 0;
}

/* keywarden dkim abort DOMAIN: take back a rotation that has not reached
 * active (kw_dkim_rotate_abort).  Exit as rotate. */
static int dkim_abort(kw_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"state-dir", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    kw_dkim_rot_out out;
    ks_store *s;
    kw_config kc;
    kw_diag d;
    size_t i;
    int c, r = 0, lock_fd, tracks = 0, done = 0, stopped = 0;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        r = kw_cli_shared_opt(cli, c, optarg, NULL, dkim_usage,
                              KW_EXIT_USAGE);
        if (r != KW_CLI_NEXT)
            return r == KW_CLI_NOT_SHARED ? KW_EXIT_USAGE : r;
    }
    if (argc - optind != 1) {
        dkim_usage(stderr);
        return KW_EXIT_USAGE;
    }
    if (rot_open(cli, "dkim abort", &kc, &s, &lock_fd) != 0)
        return KS_HEALTH_UNKNOWN;
    /* Each track of the domain: a dual section's tracks are taken back
     * each on its own; one with nothing to take back (KW_ENOTFOUND: none
     * runs) is said, not an error, when the other has. */
    r = 0;
    for (i = 0; i < kc.dkim.nrot; i++) {
        const kw_dkim_rot_params *p = &kc.dkim.rot[i];
        int one;

        if (strcasecmp(p->domain, argv[optind]) != 0)
            continue;
        tracks++;
        one = kw_dkim_rotate_abort_run(s, p, NULL, cli->now, &out, &d);
        if (one == KW_ENOTFOUND && p->track != KS_DKIM_TRACK_ANY) {
            printf("%s\n", d.msg);
            continue;
        }
        if (one != 0) {
            kw_err("dkim abort: %s", d.msg);
            r = one;
            continue;
        }
        done++;
        rot_out_text(&out, p);
        stopped |= out.stopped;
    }
    if (tracks == 0) {
        kw_err("dkim abort: %s: no [dkim \"%s\"] section with rotate = in "
               "the configuration",
               argv[optind], argv[optind]);
        r = KW_ENOTFOUND;
    } else if (r == 0 && done == 0) {
        kw_err("dkim abort: %s: no rotation runs in either track",
               argv[optind]);
        r = KW_ENOTFOUND;
    }
    if (done > 0)
        rot_watch(cli, s, &kc);
    rot_close(s, lock_fd, &kc);
    return r != 0 ? KS_HEALTH_UNKNOWN : stopped ? 1 : 0;
}

/* keywarden dkim status [--json] [DOMAIN]. */
static int dkim_status(kw_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"state-dir", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *domain = NULL;
    const kw_dkim_rot_params *p;
    ks_dkim_rot *v = NULL;
    ks_store *s = NULL;
    kw_config kc;
    size_t n = 0, i;
    kw_diag d;
    int r, json = 0, have_kc;

    if ((r = one_flag_opts(cli, argc, argv, opts, 'j', &json)) !=
        KW_CLI_NEXT)
        return r;
    if (argc - optind > 1) {
        dkim_usage(stderr);
        return KW_EXIT_USAGE;
    }
    if (argc - optind == 1)
        domain = argv[optind];
    /* The configuration only adds the dedicated zone's words (where the
     * records live, the CNAMEs): status works without it. */
    have_kc = kw_config_load(cli->config_path, &kc, &d) == 0;
    if (kw_cli_open_existing(cli, &s) != 0) {
        if (have_kc)
            kw_config_free(&kc);
        return KS_HEALTH_UNKNOWN;
    }
    r = ks_dkim_rot_list(s, domain, &v, &n, &d);
    ks_close(s);
    if (r != 0) {
        kw_err("dkim status: %s", d.msg);
        if (have_kc)
            kw_config_free(&kc);
        return KS_HEALTH_UNKNOWN;
    }
    p = domain != NULL && have_kc ? section(&kc, domain) : NULL;
    if (p != NULL && p->zone == NULL)
        p = NULL;
    if (json) {
        json_t *a = json_array();

        for (i = 0; a != NULL && i < n; i++) {
            json_t *o = rot_json(&v[i]);
            const kw_dkim_rot_params *q =
                have_kc ? kw_dkim_rot_section_of(&kc.dkim, &v[i]) : NULL;

            if (o != NULL && q != NULL && q->zone != NULL) {
                char txt[600];

                kw_dkim_txt_name(q, v[i].selector, txt, sizeof(txt));
                json_object_set_new(o, "zone", json_string(q->zone));
                json_object_set_new(o, "record_name", json_string(txt));
            }
            json_array_append_new(a, o);
        }
        if (a == NULL || json_dumpf(a, stdout, JSON_INDENT(2)) != 0)
            kw_err("dkim status: cannot write the JSON");
        else
            fputc('\n', stdout);
        json_decref(a);
    } else {
        if (n == 0)
            printf("no DKIM rotation%s%s yet\n", domain ? " of " : "",
                   domain ? domain : "");
        for (i = 0; i < n; i++)
            rot_text(&v[i],
                     have_kc ? kw_dkim_rot_section_of(&kc.dkim, &v[i])
                             : NULL,
                     stdout);
        if (p != NULL) {
            printf("%s publishes in the dedicated zone %s; the CNAMEs to "
                   "add once to %s's zone:\n", p->domain, p->zone,
                   p->domain);
            cnames_text(p, "  ", stdout);
        }
    }
    free(v);
    if (have_kc)
        kw_config_free(&kc);
    return 0;
}

/* keywarden dkim cnames [--json] [DOMAIN...]: the one-time CNAMEs of each
 * domain with zone = (all of them when none is named).  Exit 0, 3 when a
 * named domain has no zone = or the configuration cannot be read. */
static int dkim_cnames(kw_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    json_t *all = NULL;
    kw_config kc;
    size_t i;
    int c, r, json = 0, bad = 0, any = 0;

    if ((r = one_flag_opts(cli, argc, argv, opts, 'j', &json)) !=
        KW_CLI_NEXT)
        return r;
    if (kw_cli_dkim_config(cli, NULL, NULL, &kc) != 0)
        return KS_HEALTH_UNKNOWN;
    if (json && (all = json_array()) == NULL) {
        kw_config_free(&kc);
        return KS_HEALTH_UNKNOWN;
    }
    for (i = 0; i < kc.dkim.nrot; i++) {
        const kw_dkim_rot_params *p = &kc.dkim.rot[i];
        int named = argc == optind, k;

        for (k = optind; k < argc; k++)
            named |= strcasecmp(argv[k], p->domain) == 0;
        if (!named || p->zone == NULL)
            continue;
        any = 1;
        if (json) {
            json_t *a = cnames_json(p);

            bad |= a == NULL;
            if (a != NULL)
                json_array_extend(all, a);
            json_decref(a);
        } else {
            bad |= cnames_text(p, "", stdout) != 0;
        }
    }
    for (c = optind; c < argc; c++) {
        const kw_dkim_rot_params *p = section(&kc, argv[c]);

        if (p == NULL || p->zone == NULL) {
            kw_err("dkim cnames: %s: no [dkim \"%s\"] section with rotate = "
                   "and zone = in %s", argv[c], argv[c], cli->config_path);
            bad = 1;
        }
    }
    if (!any && argc == optind && !json)
        printf("no [dkim \"DOMAIN\"] section with zone = in %s: no "
               "CNAMEs\n", cli->config_path);
    if (json) {
        if (json_dumpf(all, stdout, JSON_INDENT(2)) != 0)
            bad = 1;
        else
            fputc('\n', stdout);
        json_decref(all);
    }
    kw_config_free(&kc);
    return bad ? KS_HEALTH_UNKNOWN : 0;
}

int cli_dkim(kw_cli *cli, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        dkim_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? KW_EXIT_USAGE : KW_EXIT_OK;
    }
    if (strcmp(argv[1], "rotate") == 0)
        return dkim_rotate(cli, argc - 1, argv + 1);
    if (strcmp(argv[1], "abort") == 0)
        return dkim_abort(cli, argc - 1, argv + 1);
    if (strcmp(argv[1], "status") == 0)
        return dkim_status(cli, argc - 1, argv + 1);
    if (strcmp(argv[1], "cnames") == 0)
        return dkim_cnames(cli, argc - 1, argv + 1);
    if (strcmp(argv[1], "check") != 0) {
        kw_err("dkim: unknown subcommand \"%s\"; try `keywarden dkim "
               "check`, `rotate`, `abort`, `status` or `cnames`", argv[1]);
        return KW_EXIT_USAGE;
    }
    return dkim_check(cli, argc - 1, argv + 1);
}
