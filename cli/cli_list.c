/*
 * cli_list.c: keywarden list, the operator's expiry listing.
 *
 * Rows stream from SQLite in deadline order (an index scan), health is
 * computed per row by the pure rules in keystore/ks_health.c, and output
 * is written as it comes: memory does not grow with the inventory.
 */
#include "cli.h"

#include "../hooks/hook_outbox.h"
#include "../service/job.h"

#include "../common/kw_log.h"
#include "../common/kw_str.h"
#include "../common/kw_time.h"
#include "../common/kw_vec.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void list_usage(FILE *out)
{
    fputs("Usage: keywarden list [--expiring DURATION] [--kind KIND] "
          "[--health LEVEL]\n"
          "                      [--warn DURATION] [--crit DURATION] "
          "[--all] [--files]\n"
          "                      [--json]\n"
          "\n"
          "One line per certificate, soonest deadline first: id, kind, "
          "name, deadline\n"
          "(UTC), days left, health and reason.  A chain's deadline is its "
          "earliest\n"
          "expiry.  Objects whose deadline is unknown (unreadable files) "
          "come first.\n"
          "Files holding the same leaf with the same deadline (cert.pem and "
          "fullchain.pem)\n"
          "are one line, as healthy as the worst of them; `show ID` names "
          "the files.\n"
          "\n"
          "  --expiring DURATION  only deadlines within DURATION (30d, 12h, "
          "2w), plus\n"
          "                       objects whose deadline is unknown\n"
          "  --kind KIND          tls, dkim, dnssec or mta-sts\n"
          "  --health LEVEL       only LEVEL and worse: warning, unknown or "
          "critical\n"
          "                       (order: ok < warning < unknown < "
          "critical)\n"
          "  --warn DURATION      warn this long before a deadline "
          "(default 21d)\n"
          "  --crit DURATION      critical this long before (default 7d)\n"
          "  --all                include hidden objects: superseded old "
          "versions in\n"
          "                       archive/ folders, and idle trust anchors "
          "(root CAs\n"
          "                       that anchor nothing in the inventory)\n"
          "  --files              one line per file, not per certificate\n"
          "  --json               a JSON array of objects (see "
          "keywarden(1), JSON OUTPUT)\n",
          out);
}

typedef struct list_ctx {
    const kw_cli *cli;
    ks_store *s;
    kw_listing l;  /* the walk `list --json` and the web page share */
    int json;
    size_t shown;
    int failed; /* an object could not be written */
    FILE *out;
    size_t main_shown;  /* rows of the main table (its header once) */
    char **dnssec;      /* the DNSSEC table's lines, printed after */
    size_t ndnssec, cap_dnssec;
} list_ctx;

/* For a managed certificate's live leaf: its reason (or nothing) and
 * the renewal's decision (service/listing.h: kw_renewal_json), e.g.
 * "renewal at 2030-04-05T09:36Z (scheduled)".  1 when out was written. */
typedef struct renewal_look {
    const list_ctx *lc;
    json_t *rn;
} renewal_look;

static int renewal_of_full_row(void *ctx, const ks_object *o)
{
    renewal_look *rl = ctx;

    rl->rn = kw_renewal_json(&rl->lc->l.rn, o, rl->lc->cli->now);
    return 1; /* the one row asked for */
}

static int renewal_words(list_ctx *lc, const ks_object *o,
                         const char *reason, char *out, size_t cap)
{
    renewal_look rl = {lc, NULL};
    const char *verdict, *at;
    size_t pos = 0, i;

    if (o->fingerprint != NULL) {
        rl.rn = kw_renewal_json(&lc->l.rn, o, lc->cli->now);
    } else if (strcmp(o->kind, "tls") == 0) {
        /* A brief row (the text listing reads the index only) has no
         * fingerprint: a row whose leaf expires when a managed
         * certificate's live one does is read in full, the rest never. */
        for (i = 0; i < lc->l.rn.n; i++)
            if (lc->l.rn.v[i].not_after == o->facts.not_after) {
                ks_filter f;
                kw_diag d;

                memset(&f, 0, sizeof(f));
                f.id = o->id;
                f.include_hidden = 1;
                (void)ks_inventory_each(lc->l.s, &f, renewal_of_full_row,
                                        &rl, &d);
                break;
            }
    }
    if (rl.rn == NULL)
        return 0;
    verdict = json_string_value(json_object_get(rl.rn, "verdict"));
    at = json_string_value(json_object_get(rl.rn, "renew_at"));
    if (verdict == NULL)
        verdict = "?";
    else if (strcmp(verdict, "asking-ca") == 0)
        verdict = "the CA's window asked first";
    /* Minutes, as the deadline column; a blocked renewal has no time. */
    (void)kw_str_appendf(out, cap, &pos, "%s%srenewal%s%.16s%s (%s)", reason,
                         reason[0] != '\0' ? "; " : "",
                         at != NULL ? " at " : "", at != NULL ? at : "",
                         at != NULL ? "Z" : "", verdict);
    json_decref(rl.rn);
    return 1;
}

/* A DNSSEC zone's or key's line of the DNSSEC table, kept until the main
 * table is out: NAME, KEY (algorithm and size; a zone: its signer),
 * STAGE, NEXT TRANSITION, HEALTH, REASON (a zone's: when last checked). */
static int dnssec_line(list_ctx *lc, const ks_object *o, const ks_verdict *v)
{
    const ks_tls_facts *f = &o->facts;
    char key[64], stage[32], next[64], checked[32], ab[16], *line, **nl;
    const char *reason = v->reason[0] != '\0' ? v->reason : "-";
    char *clean = NULL;

    kw_dnssec_stage_text(f, lc->cli->now, stage, sizeof(stage), next,
                         sizeof(next));
    if (f->is_dnssec == 2)
        snprintf(key, sizeof(key), "%s %d",
                 ks_dnssec_alg_word(f->dnssec_alg, ab), f->dnssec_bits);
    else
        snprintf(key, sizeof(key), "zone (%s)",
                 f->dnssec_signer != NULL && f->dnssec_signer[0] != '\0'
                     ? f->dnssec_signer
                     : "watched");
    if (!kw_str_is_clean((const unsigned char *)reason, strlen(reason)) &&
        (clean = kw_str_clean((const unsigned char *)reason,
                              strlen(reason))) != NULL)
        reason = clean;
    kw_dnssec_minute(f->dnssec_checked_at, checked, sizeof(checked));
    /* A zone says when it was last checked, after its reason if any. */
    if (f->is_dnssec != 2 && f->dnssec_checked_at != 0 &&
        strcmp(reason, "-") == 0)
        reason = "";
    if (asprintf(&line, "%-36s %-22s %-12s %-32s %-8s  %s%s%s\n", o->name,
                 key, stage, next, ks_health_word(v->health), reason,
                 f->is_dnssec == 2 || f->dnssec_checked_at == 0
                     ? ""
                     : reason[0] != '\0' ? "; checked " : "checked ",
                 f->is_dnssec == 2 || f->dnssec_checked_at == 0 ? ""
                                                                 : checked) <
        0) {
        free(clean);
        return -1;
    }
    free(clean);
    nl = kw_vec_grow(lc->dnssec, &lc->cap_dnssec, lc->ndnssec + 1,
                     sizeof(*nl));
    if (nl == NULL) {
        free(line);
        return -1;
    }
    lc->dnssec = nl;
    lc->dnssec[lc->ndnssec++] = line;
    return 0;
}

static int by_text(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The DNSSEC table, after the main one: a zone's line first, then its
 * keys (ZONE/ROLE/TAG sorts after ZONE). */
static void list_dnssec(list_ctx *lc)
{
    size_t i;

    if (lc->ndnssec == 0)
        return;
    qsort(lc->dnssec, lc->ndnssec, sizeof(*lc->dnssec), by_text);
    fprintf(lc->out, "\n%-36s %-22s %-12s %-32s %-8s  %s\n", "DNSSEC",
            "KEY", "STAGE", "NEXT TRANSITION", "HEALTH", "REASON");
    for (i = 0; i < lc->ndnssec; i++) {
        fputs(lc->dnssec[i], lc->out);
        free(lc->dnssec[i]);
    }
    free(lc->dnssec);
    lc->dnssec = NULL;
    lc->ndnssec = 0;
}

/* Append s at pos (bounded); returns the new position. */
static size_t put(char *line, size_t cap, size_t pos, const char *s)
{
    size_t n = strlen(s);

    if (pos >= cap - 1)
        return pos;
    if (n > cap - 1 - pos)
        n = cap - 1 - pos;
    memcpy(line + pos, s, n);
    return pos + n;
}

/* Pad with spaces up to column `to`; a field that overflowed its column
 * still gets one space after it. */
static size_t pad(char *line, size_t cap, size_t pos, size_t to)
{
    if (pos >= to && pos > 0 && line[pos - 1] != ' ' && pos < cap - 1)
        line[pos++] = ' ';
    while (pos < to && pos < cap - 1)
        line[pos++] = ' ';
    return pos;
}

/* Characters in a UTF-8 string (terminal cells, near enough). */
static size_t width(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static size_t spaces(char *line, size_t cap, size_t pos, int n)
{
    while (n-- > 0 && pos < cap - 1)
        line[pos++] = ' ';
    return pos;
}

static int list_row(void *ctx, const ks_object *o, const ks_verdict *vp,
                    json_t *js)
{
    list_ctx *lc = ctx;
    ks_verdict v = *vp;
    char deadline[32], left[16];

    if (lc->json) {
        char *text = json_dumps(js, JSON_COMPACT);

        if (text == NULL) {
            /* Keep going: one object that cannot be written must not hide
             * the others, but the exit status says the listing is short. */
            kw_err("list: object %lld (%s) could not be written as JSON "
                   "(out of memory)",
                   (long long)o->id, o->source);
            lc->failed = 1;
            return 0;
        }
        /* Elements are encoded by jansson; only the array's brackets and
         * separators are written here, so a million rows stream. */
        fprintf(lc->out, "%s%s", lc->shown > 0 ? ",\n " : "[\n ", text);
        free(text);
    } else if (o->facts.is_dnssec) {
        if (dnssec_line(lc, o, &v) != 0) {
            kw_err("list: %s: out of memory", o->name);
            lc->failed = 1;
            return 0;
        }
    } else {
        char *uname = NULL, *ename = NULL, *ereason = NULL, line[1024],
             idtext[24], dkim_reason[sizeof(v.reason) + 64],
             renew_reason[sizeof(v.reason) + 80];
        const char *name = o->name, *reason;
        size_t pos = 0;

        if (lc->main_shown++ == 0)
            fprintf(lc->out, "%-6s %-6s %-32s %-17s %6s  %-8s  %s\n", "ID",
                    "KIND", "NAME", "DEADLINE (UTC)", "DAYS", "HEALTH",
                    "REASON");
        if (strstr(name, "xn--") != NULL || strstr(name, "XN--") != NULL)
            name = uname = kw_display_name(o->name);
        if (o->facts.has_validity) {
            kw_time_rfc3339(o->facts.deadline, deadline, sizeof(deadline));
            deadline[16] = 'Z'; /* minutes are precise enough here */
            deadline[17] = '\0';
            snprintf(left, sizeof(left), "%lld",
                     (long long)kw_days_left(o->facts.deadline,
                                             lc->cli->now));
        } else {
            memcpy(deadline, "-", 2);
            memcpy(left, "-", 2);
        }
        /* Columns assembled by hand, as the header's printf would:
         * printf's padding was a third of the time of a large listing. */
        snprintf(idtext, sizeof(idtext), "%lld", (long long)o->id);
        pos = put(line, sizeof(line), pos, idtext);
        pos = pad(line, sizeof(line), pos, 7);
        pos = put(line, sizeof(line), pos, o->kind);
        pos = pad(line, sizeof(line), pos, 14);
        if (name == NULL)
            name = o->name;
        /* A name or reason may hold a file's name: no control byte of
         * it reaches the terminal. */
        if (!kw_str_is_clean((const unsigned char *)name, strlen(name)) &&
            (ename = kw_str_clean((const unsigned char *)name,
                                  strlen(name))) != NULL)
            name = ename;
        reason = v.reason[0] != '\0' ? v.reason : "-";
        /* A DKIM selector's role leads its reason: which key signs is
         * what an operator reads the listing for. */
        if (o->facts.is_dkim && o->facts.dkim_role != NULL) {
            size_t rp = 0;

            (void)kw_str_appendf(dkim_reason, sizeof(dkim_reason), &rp,
                                 "%s (%s)%s%s", o->facts.dkim_role,
                                 o->facts.dkim_signer ? o->facts.dkim_signer
                                                      : "?",
                                 v.reason[0] != '\0' ? ": " : "",
                                 v.reason);
            reason = dkim_reason;
        }
        /* A managed certificate's live leaf says when it renews, as
         * `list --json` and the page do (the same decision). */
        if (renewal_words(lc, o, v.reason, renew_reason,
                          sizeof(renew_reason)))
            reason = renew_reason;
        if (!kw_str_is_clean((const unsigned char *)reason,
                             strlen(reason)) &&
            (ereason = kw_str_clean((const unsigned char *)reason,
                                    strlen(reason))) != NULL)
            reason = ereason;
        pos = put(line, sizeof(line), pos, name);
        /* Columns count characters, not UTF-8 bytes. */
        pos = pad(line, sizeof(line), pos, 47 + strlen(name) - width(name));
        pos = put(line, sizeof(line), pos, deadline);
        pos = pad(line, sizeof(line), pos, 65);
        pos = spaces(line, sizeof(line), pos, 6 - (int)strlen(left));
        pos = put(line, sizeof(line), pos, left);
        pos = put(line, sizeof(line), pos, "  ");
        pos = put(line, sizeof(line), pos, ks_health_word(v.health));
        pos = spaces(line, sizeof(line), pos,
                     8 - (int)strlen(ks_health_word(v.health)) + 2);
        pos = put(line, sizeof(line), pos, reason);
        if (pos >= sizeof(line) - 1)
            pos = sizeof(line) - 2;
        line[pos++] = '\n';
        fwrite(line, 1, pos, lc->out);
        free(uname);
        free(ename);
        free(ereason);
    }
    lc->shown++;
    return 0;
}

/* The managed DKIM domains' rotations, after the objects: their health
 * and next rotation (rotations.c).  --kind tls or dnssec and --expiring
 * leave them out (a rotation has no expiry); --health applies. */
static void list_rotations(list_ctx *lc, const kw_cli_rots *rots)
{
    size_t i, shown = 0;

    for (i = 0; i < rots->n; i++) {
        const kw_dkim_rot_view *v = &rots->v[i];
        char next[32], label[300];

        if (ks_health_rank((ks_health)v->h.health) < lc->l.min_rank)
            continue;
        if (lc->json) {
            json_t *js = kw_rotation_json(v);
            char *text = js != NULL ? json_dumps(js, JSON_COMPACT) : NULL;

            json_decref(js);
            if (text == NULL) {
                kw_err("list: the rotation of %s could not be written as "
                       "JSON",
                       v->p->domain);
                lc->failed = 1;
                continue;
            }
            fprintf(lc->out, "%s%s", lc->shown > 0 ? ",\n " : "[\n ", text);
            free(text);
            lc->shown++;
            continue;
        }
        if (shown++ == 0)
            fprintf(lc->out, "\n%-32s %-11s %-16s %-20s %-8s  %s\n",
                    "DKIM ROTATION", "STAGE", "SELECTOR", "NEXT ROTATION",
                    "HEALTH", "REASON");
        kw_rot_time(v->h.next_rotation, next, sizeof(next));
        kw_outf(lc->out, "%-32s %-11s %-16s %-20s %-8s  %s\n",
                kw_dkim_rot_label(v->p, label, sizeof(label)),
                v->found ? v->rot.stage : "none",
                v->found ? v->rot.selector : "-", next,
                ks_health_word((ks_health)v->h.health),
                v->h.reason[0] != '\0' ? v->h.reason : "-");
    }
}

int cli_list(kw_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"expiring", required_argument, NULL, 'e'},
        {"kind", required_argument, NULL, 'k'},
        {"health", required_argument, NULL, 'H'},
        {"warn", required_argument, NULL, 'w'},
        {"crit", required_argument, NULL, 'c'},
        {"all", no_argument, NULL, 'a'},
        {"files", no_argument, NULL, 'F'},
        {"json", no_argument, NULL, 'j'},
        {"state-dir", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static char out_buf[1 << 16];
    list_ctx lc;
    kw_cli_rots rots;
    ks_filter f;
    ks_store *s = NULL;
    kw_diag d;
    int64_t window = 0, total = 0, hidden = 0;
    int c, r, h;

    memset(&lc, 0, sizeof(lc));
    memset(&f, 0, sizeof(f));
    ks_thresholds_default(&lc.l.t);
    lc.out = stdout;
    f.by_leaf = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'e':
            if (kw_parse_duration_opt("--expiring", optarg, &window) != 0)
                return KW_EXIT_USAGE;
            f.has_before = 1;
            break;
        case 'k':
            if (strcmp(optarg, "tls") != 0 && strcmp(optarg, "dkim") != 0 &&
                strcmp(optarg, "dnssec") != 0 &&
                strcmp(optarg, "mta-sts") != 0) {
                kw_err("--kind %s: expected tls, dkim, dnssec or mta-sts",
                       optarg);
                return KW_EXIT_USAGE;
            }
            f.kind = optarg;
            break;
        case 'H':
            h = ks_health_parse(optarg);
            if (h < 0) {
                kw_err("--health %s: expected ok, warning, unknown or "
                       "critical",
                       optarg);
                return KW_EXIT_USAGE;
            }
            lc.l.min_rank = ks_health_rank((ks_health)h);
            break;
        case 'a':
            f.include_hidden = 1;
            break;
        case 'F':
            f.by_leaf = 0;
            break;
        case 'j':
            lc.json = 1;
            break;
        default:
            r = kw_cli_shared_opt(cli, c, optarg, &lc.l.t, list_usage,
                                  KW_EXIT_USAGE);
            if (r != KW_CLI_NEXT)
                return r == KW_CLI_NOT_SHARED ? KW_EXIT_USAGE : r;
            break;
        }
    }
    if (optind < argc) {
        kw_err("list: unexpected argument \"%s\"", argv[optind]);
        return KW_EXIT_USAGE;
    }
    lc.cli = cli;
    f.before = kw_time_add(cli->now, window);
    f.brief = !lc.json; /* the text listing needs no more than the index */

    if (kw_cli_open_existing(cli, &s) != 0)
        return KW_EXIT_FAIL;

    /* The walk with the page's defaults (kw_listing_init), narrowed by
     * the options. */
    lc.l.s = s;
    lc.l.now = cli->now;
    lc.l.f = f;
    lc.l.json = lc.json;
    setvbuf(stdout, out_buf, _IOFBF, sizeof(out_buf));
    r = kw_listing_each(&lc.l, list_row, &lc, &d);
    if (r == 0 && !lc.json)
        r = ks_inventory_count(s, &total, &hidden, &d);
    memset(&rots, 0, sizeof(rots));
    if (r == 0 && !f.has_before &&
        (f.kind == NULL || strcmp(f.kind, "dkim") == 0) &&
        kw_cli_rots_load(cli, s, &rots) != 0)
        /* Said, not fatal: a monitoring user may not read a
         * configuration that holds TSIG secrets, and the inventory is
         * still worth listing. */
        kw_warn("list: %s", rots.err);
    ks_close(s);
    if (r != 0) {
        fflush(stdout);
        kw_err("%s", d.msg);
        kw_listing_done(&lc.l);
        kw_cli_rots_free(&rots);
        for (size_t i = 0; i < lc.ndnssec; i++)
            free(lc.dnssec[i]);
        free(lc.dnssec);
        return KW_EXIT_FAIL;
    }
    /* A failed hook about no object in the listing (an account, a hook,
     * an endpoint filtered out) still shows. */
    for (size_t i = 0; !lc.json && i < lc.l.ov.n; i++) {
        char text[1200];

        if (lc.l.ov.used[i])
            continue;
        kw_hook_failure_text(&lc.l.ov.f[i], text, sizeof(text));
        kw_outf(lc.out, "CRITICAL: %s\n", text);
    }
    if (lc.l.failed)
        lc.failed = 1;
    kw_listing_done(&lc.l);
    if (lc.json) {
        list_rotations(&lc, &rots);
        fputs(lc.shown > 0 ? "\n]\n" : "[]\n", lc.out);
    } else if (total == 0) {
        kw_print_empty_hint(lc.out, cli);
    } else {
        if (lc.shown == 0)
            fprintf(lc.out, "(no objects match)\n");
        fprintf(lc.out, "%zu shown of %lld in the inventory", lc.shown,
                (long long)total);
        if (lc.l.merged > 0)
            fprintf(lc.out,
                    "; %zu more file%s hold%s a certificate shown "
                    "(--files lists each)",
                    lc.l.merged, lc.l.merged == 1 ? "" : "s",
                    lc.l.merged == 1 ? "s" : "");
        if (hidden > 0 && !f.include_hidden)
            fprintf(lc.out,
                    "; %lld hidden: superseded versions and idle trust "
                    "anchors (--all shows them)",
                    (long long)hidden);
        fputc('\n', lc.out);
    }
    if (!lc.json) {
        list_dnssec(&lc);
        list_rotations(&lc, &rots);
    }
    kw_cli_rots_free(&rots);
    fflush(stdout);
    return lc.failed ? KW_EXIT_FAIL : KW_EXIT_OK;
}
