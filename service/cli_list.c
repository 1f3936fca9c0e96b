/*
 * cli_list.c: keywarden list, the operator's expiry listing.
 *
 * Rows stream from SQLite in deadline order (an index scan), health is
 * computed per row by the pure rules in keystore/ks_health.c, and output
 * is written as it comes: memory does not grow with the inventory.
 */
#include "cli.h"

#include "../hooks/hook_outbox.h"

#include "../common/kw_log.h"
#include "../common/kw_time.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void list_usage(FILE *out)
{
    fputs("Usage: keywarden list [--expiring DURATION] [--kind KIND] "
          "[--health LEVEL]\n"
          "                      [--warn DURATION] [--crit DURATION] "
          "[--all] [--json]\n"
          "\n"
          "One line per object, soonest deadline first: id, kind, name, "
          "deadline\n"
          "(UTC), days left, health and reason.  A chain's deadline is its "
          "earliest\n"
          "expiry.  Objects whose deadline is unknown (unreadable files) "
          "come first.\n"
          "\n"
          "  --expiring DURATION  only deadlines within DURATION (30d, 12h, "
          "2w), plus\n"
          "                       objects whose deadline is unknown\n"
          "  --kind KIND          tls, dkim or dnssec\n"
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
          "  --json               a JSON array of objects (see "
          "keywarden(1), JSON OUTPUT)\n",
          out);
}

typedef struct list_ctx {
    const kw_cli *cli;
    ks_thresholds t;
    int min_rank;
    int json;
    size_t shown;
    int failed; /* an object could not be written */
    size_t filtered;
    FILE *out;
    kw_hook_overlay ov; /* failed hooks turn their objects critical */
} list_ctx;

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

static int list_row(void *ctx, const ks_object *o)
{
    list_ctx *lc = ctx;
    ks_verdict v;
    char deadline[32], left[16];

    ks_health_tls(&o->facts, lc->cli->now, &lc->t, &v);
    kw_hook_overlay_apply(&lc->ov, o->id, &v);
    if (ks_health_rank(v.health) < lc->min_rank) {
        lc->filtered++;
        return 0;
    }
    if (lc->json) {
        json_t *js = kw_object_json(o, lc->cli->now, &lc->t, &v);
        char *text = js != NULL ? json_dumps(js, JSON_COMPACT) : NULL;

        json_decref(js);
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
    } else {
        char *uname = NULL, line[1024], idtext[24];
        const char *name = o->name;
        size_t pos = 0;

        if (lc->shown == 0)
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
        pos = put(line, sizeof(line), pos,
                  v.reason[0] != '\0' ? v.reason : "-");
        if (pos >= sizeof(line) - 1)
            pos = sizeof(line) - 2;
        line[pos++] = '\n';
        fwrite(line, 1, pos, lc->out);
        free(uname);
    }
    lc->shown++;
    return 0;
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
        {"json", no_argument, NULL, 'j'},
        {"state-dir", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static char out_buf[1 << 16];
    list_ctx lc;
    ks_filter f;
    ks_store *s = NULL;
    kw_diag d;
    int64_t window = 0, total = 0, hidden = 0;
    int c, r, h;

    memset(&lc, 0, sizeof(lc));
    memset(&f, 0, sizeof(f));
    ks_thresholds_default(&lc.t);
    lc.out = stdout;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'e':
            if (kw_parse_duration_opt("--expiring", optarg, &window) != 0)
                return KW_EXIT_USAGE;
            f.has_before = 1;
            break;
        case 'k':
            if (strcmp(optarg, "tls") != 0 && strcmp(optarg, "dkim") != 0 &&
                strcmp(optarg, "dnssec") != 0) {
                kw_err("--kind %s: expected tls, dkim or dnssec", optarg);
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
            lc.min_rank = ks_health_rank((ks_health)h);
            break;
        case 'a':
            f.include_hidden = 1;
            break;
        case 'j':
            lc.json = 1;
            break;
        default:
            r = kw_cli_shared_opt(cli, c, optarg, &lc.t, list_usage,
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

    setvbuf(stdout, out_buf, _IOFBF, sizeof(out_buf));
    r = kw_hook_overlay_load(s, &lc.ov, &d);
    if (r == 0)
        r = ks_inventory_each(s, &f, list_row, &lc, &d);
    if (r == 0 && !lc.json)
        r = ks_inventory_count(s, &total, &hidden, &d);
    ks_close(s);
    if (r != 0) {
        fflush(stdout);
        kw_err("%s", d.msg);
        kw_hook_overlay_free(&lc.ov);
        return KW_EXIT_FAIL;
    }
    /* A failed hook about no object in the listing (an account, a hook,
     * an endpoint filtered out) still shows. */
    for (size_t i = 0; !lc.json && i < lc.ov.n; i++) {
        char text[1200];

        if (lc.ov.used[i])
            continue;
        kw_hook_failure_text(&lc.ov.f[i], text, sizeof(text));
        fprintf(lc.out, "CRITICAL: %s\n", text);
    }
    kw_hook_overlay_free(&lc.ov);
    if (lc.json) {
        fputs(lc.shown > 0 ? "\n]\n" : "[]\n", lc.out);
    } else if (total == 0) {
        kw_print_empty_hint(lc.out, cli);
    } else {
        if (lc.shown == 0)
            fprintf(lc.out, "(no objects match)\n");
        fprintf(lc.out, "%zu shown of %lld in the inventory", lc.shown,
                (long long)total);
        if (hidden > 0 && !f.include_hidden)
            fprintf(lc.out,
                    "; %lld hidden: superseded versions and idle trust "
                    "anchors (--all shows them)",
                    (long long)hidden);
        fputc('\n', lc.out);
    }
    fflush(stdout);
    return lc.failed ? KW_EXIT_FAIL : KW_EXIT_OK;
}
