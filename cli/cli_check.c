/*
 * cli_check.c: keywarden check, a monitoring plugin.
 *
 * Follows the Monitoring Plugins guidelines: one status line
 * "KEYWARDEN STATUS - summary | perfdata", then one line per problem
 * (long output), and exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
 */
#include "cli.h"

#include "../hooks/hook_outbox.h"
#include "../keystore/ks_managed.h"
#include "../service/job.h"

#include "../common/kw_log.h"
#include "../common/kw_time.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void check_usage(FILE *out)
{
    fputs("Usage: keywarden check [--warn DURATION] [--crit DURATION] "
          "[--kind KIND] [ID|NAME...]\n"
          "\n"
          "A monitoring plugin for Nagios, Icinga, Zabbix and friends: "
          "prints\n"
          "\"KEYWARDEN OK|WARNING|CRITICAL|UNKNOWN - summary | perfdata\", "
          "then one\n"
          "line per problem (with \"  fix: ...\" under it when keywarden "
          "knows one),\nand exits 0, 1, 2 or 3.  The worst object "
          "decides\n"
          "(ok < warning < unknown < critical).  An empty inventory, or one "
          "that\n"
          "cannot be read, is UNKNOWN.\n"
          "\n"
          "  --warn DURATION  warning this long before a deadline (default "
          "21d)\n"
          "  --crit DURATION  critical this long before (default 7d)\n"
          "  --kind KIND      only tls, dkim, dnssec or mta-sts objects\n"
          "  ID|NAME...       only these objects\n",
          out);
}

typedef struct problem {
    ks_health health;
    char line[512];
    /* What to do about it, or "": printed indented under the line, so
     * the person who reads the alert reads the remedy with it. */
    char fix[1400];
} problem;

typedef struct check_ctx {
    const kw_cli *cli;
    ks_store *s;
    ks_thresholds t;
    size_t count[4];
    size_t total;
    int have_min;
    int64_t min_days;
    ks_health worst;
    char worst_line[512];
    problem *problems;
    size_t nproblems, cap;
    int oom;
    kw_hook_overlay ov; /* failed hooks turn their objects critical */
} check_ctx;

/* A problem line with its fix (NULL: none), and the worst so far; 1
 * when out of memory. */
static int add_problem(check_ctx *cc, ks_health h, const char *who,
                       const char *where, const char *reason,
                       const char *fix)
{
    problem *np;

    if (cc->nproblems == cc->cap) {
        size_t ncap = cc->cap ? cc->cap * 2 : 16;

        np = realloc(cc->problems, ncap * sizeof(*np));
        if (np == NULL) {
            cc->oom = 1;
            return 1;
        }
        cc->problems = np;
        cc->cap = ncap;
    }
    np = &cc->problems[cc->nproblems++];
    np->health = h;
    /* A line longer than the buffer is cut; it is still one line. */
    if (snprintf(np->line, sizeof(np->line), "%s: %s (%s): %s",
                 h == KS_HEALTH_CRITICAL  ? "CRITICAL"
                 : h == KS_HEALTH_WARNING ? "WARNING"
                                          : "UNKNOWN",
                 who, where, reason) >= (int)sizeof(np->line))
        memcpy(np->line + sizeof(np->line) - 4, "...", 4);
    snprintf(np->fix, sizeof(np->fix), "%s", fix != NULL ? fix : "");
    if (ks_health_rank(h) > ks_health_rank(cc->worst)) {
        cc->worst = h;
        if (snprintf(cc->worst_line, sizeof(cc->worst_line), "%s: %s", who,
                     reason) >= (int)sizeof(cc->worst_line))
            memcpy(cc->worst_line + sizeof(cc->worst_line) - 4, "...", 4);
    }
    return 0;
}

/* A managed certificate whose renewal fails, or whose next renewal the
 * HTTP-01 pre-check says would fail. */
static int check_managed(void *ctx, const ks_managed *m)
{
    check_ctx *cc = ctx;
    char who[300], reason[1200];

    snprintf(who, sizeof(who), "certificate %s", m->name);
    if (m->failures > 0) {
        snprintf(reason, sizeof(reason), "renewal %s after %d failure%s: %.900s",
                 m->retry_at < 0 ? "blocked" : "failing", m->failures,
                 m->failures == 1 ? "" : "s", m->last_error);
        return add_problem(cc, KS_HEALTH_CRITICAL, who, "managed", reason,
                           NULL);
    }
    if (m->precheck_at > 0 && m->precheck_ok == 0) {
        snprintf(reason, sizeof(reason),
                 "the HTTP-01 pre-check fails, the next renewal would: %.900s",
                 m->precheck_verdict);
        return add_problem(cc, KS_HEALTH_WARNING, who, "managed", reason,
                           NULL);
    }
    return 0;
}

/* Each managed DKIM domain's rotation counts as one thing checked: a
 * rotation that stopped (warning, critical as the old key nears
 * max_age) is a problem line naming the stage and why; the earliest
 * next rotation goes in the summary.  *next_domain is borrowed from
 * rots. */
static int check_rotations(check_ctx *cc, const kw_cli_rots *rots,
                           int64_t *next, const char **next_domain)
{
    size_t i;

    for (i = 0; i < rots->n; i++) {
        const kw_dkim_rot_view *v = &rots->v[i];
        char who[300], where[200];

        cc->total++;
        cc->count[v->h.health]++;
        if (v->h.next_rotation > 0 &&
            (*next == 0 || v->h.next_rotation < *next)) {
            *next = v->h.next_rotation;
            *next_domain = v->p->domain;
        }
        if (v->h.health == KS_HEALTH_OK)
            continue;
        {
            char label[280];

            snprintf(who, sizeof(who), "DKIM rotation of %s",
                     kw_dkim_rot_label(v->p, label, sizeof(label)));
        }
        snprintf(where, sizeof(where), "stage %s, selector %s",
                 v->found ? v->rot.stage : "none",
                 v->found ? v->rot.selector : "-");
        if (add_problem(cc, (ks_health)v->h.health, who, where,
                        v->h.reason, v->h.fix) != 0)
            return 1;
    }
    return 0;
}

/* The fix of the finding that decided the verdict (the first of its
 * health that has one), or NULL: none, or a live check's finding whose
 * line already ends with it (fix_in_text), which is not said twice. */
static const char *verdict_fix(const ks_verdict *v)
{
    size_t i;

    for (i = 0; i < v->nfindings; i++)
        if (v->findings[i].health == v->health &&
            v->findings[i].fix[0] != '\0')
            return v->findings[i].fix_in_text ? NULL : v->findings[i].fix;
    return NULL;
}

static int check_row(void *ctx, const ks_object *o)
{
    check_ctx *cc = ctx;
    ks_verdict v;
    char *name, source[1024];

    ks_health_tls(&o->facts, cc->cli->now, &cc->t, &v);
    kw_hook_overlay_apply(&cc->ov, o->id, &v);
    cc->total++;
    cc->count[v.health]++;
    if (o->facts.has_validity && o->facts.superseded_by == 0 &&
        !o->facts.idle_anchor &&
        strcmp(o->facts.state, "ok") == 0) {
        int64_t dl = kw_days_left(o->facts.deadline, cc->cli->now);
        if (!cc->have_min || dl < cc->min_days)
            cc->min_days = dl;
        cc->have_min = 1;
    }
    if (v.health == KS_HEALTH_OK)
        return 0;
    source[0] = '\0';
    if (o->source != NULL)
        snprintf(source, sizeof(source), "%s", o->source);
    else
        (void)ks_inventory_source(cc->s, o->id, source, sizeof(source), NULL);
    name = kw_display_name(o->name);
    {
        char where[1100];
        int r;

        snprintf(where, sizeof(where), "id %lld, %s", (long long)o->id,
                 source);
        r = add_problem(cc, v.health, name ? name : o->name, where,
                        v.reason, verdict_fix(&v));
        free(name);
        return r;
    }
}

static int by_rank_desc(const void *a, const void *b)
{
    const problem *x = a, *y = b;

    return ks_health_rank(y->health) - ks_health_rank(x->health);
}

static const char *status_word(ks_health h)
{
    switch (h) {
    case KS_HEALTH_OK: return "OK";
    case KS_HEALTH_WARNING: return "WARNING";
    case KS_HEALTH_CRITICAL: return "CRITICAL";
    default: return "UNKNOWN";
    }
}

int cli_check(kw_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"warn", required_argument, NULL, 'w'},
        {"crit", required_argument, NULL, 'c'},
        {"kind", required_argument, NULL, 'k'},
        {"state-dir", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    check_ctx cc;
    kw_cli_rots rots;
    ks_filter f;
    ks_store *s = NULL;
    kw_diag d;
    const char *next_domain = NULL;
    int64_t next_rot = 0;
    int c, r = 0, i;
    size_t k;

    memset(&cc, 0, sizeof(cc));
    memset(&f, 0, sizeof(f));
    memset(&rots, 0, sizeof(rots));
    ks_thresholds_default(&cc.t);
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            f.kind = optarg;
            break;
        default:
            r = kw_cli_shared_opt(cli, c, optarg, &cc.t, check_usage,
                                  KS_HEALTH_UNKNOWN);
            if (r != KW_CLI_NEXT)
                return r == KW_CLI_NOT_SHARED ? KS_HEALTH_UNKNOWN : r;
            break;
        }
    }
    if (cc.t.crit > cc.t.warn) {
        kw_outf(stdout,
                "KEYWARDEN UNKNOWN - --crit must not be longer than --warn\n");
        return KS_HEALTH_UNKNOWN;
    }
    cc.cli = cli;
    /* Problem lines name the source; rows far from their deadline and
     * without problems are read from the index alone. */
    f.brief = 1;
    f.detail_before = kw_time_add(cli->now, cc.t.warn);
    r = kw_cli_open(cli, 0, &s);
    if (r == KW_ENOENT) {
        kw_outf(stdout,
                "KEYWARDEN UNKNOWN - no inventory at %s; run keywarden scan "
                "first\n",
                cli->db_path);
        return KS_HEALTH_UNKNOWN;
    }
    if (r != 0) {
        kw_outf(stdout,
                "KEYWARDEN UNKNOWN - cannot open the inventory at %s\n",
                cli->db_path);
        return KS_HEALTH_UNKNOWN;
    }
    cc.s = s;
    r = kw_hook_overlay_load(s, &cc.ov, &d);
    if (r == 0 && optind < argc) {
        for (i = optind; i < argc && r == 0; i++) {
            int64_t *ids = NULL;
            size_t n = 0;

            r = ks_inventory_resolve(s, argv[i], &ids, &n, &d);
            for (k = 0; r == 0 && k < n; k++) {
                f.id = ids[k];
                f.include_hidden = 1;
                r = ks_inventory_each(s, &f, check_row, &cc, &d);
            }
            free(ids);
        }
    } else if (r == 0) {
        /* Hidden objects are ok by rule, but they are checked and
         * counted, so an inventory of only trust anchors is OK, not
         * UNKNOWN. */
        f.include_hidden = 1;
        r = ks_inventory_each(s, &f, check_row, &cc, &d);
        if (r == 0 && f.kind == NULL)
            r = ks_managed_each(s, check_managed, &cc, &d);
        /* A configuration this user may not read (it holds TSIG
         * secrets) leaves the rotations out, said below the status. */
        if (r == 0 && (f.kind == NULL || strcmp(f.kind, "dkim") == 0) &&
            kw_cli_rots_load(cli, s, &rots) == 0 &&
            check_rotations(&cc, &rots, &next_rot, &next_domain) != 0)
            cc.oom = 1;
        /* A failed hook about nothing in the inventory still counts. */
        for (k = 0; r == 0 && k < cc.ov.n; k++) {
            char text[1200];

            if (cc.ov.used[k])
                continue;
            kw_hook_failure_text(&cc.ov.f[k], text, sizeof(text));
            cc.total++;
            cc.count[KS_HEALTH_CRITICAL]++;
            add_problem(&cc, KS_HEALTH_CRITICAL, cc.ov.f[k].hook, "hook",
                        text, NULL);
        }
    }
    kw_hook_overlay_free(&cc.ov);
    ks_close(s);
    if (r != 0 || cc.oom) {
        kw_outf(stdout, "KEYWARDEN UNKNOWN - %s\n",
                cc.oom ? "out of memory" : d.msg);
        free(cc.problems);
        kw_cli_rots_free(&rots);
        return KS_HEALTH_UNKNOWN;
    }
    if (cc.total == 0) {
        kw_outf(stdout,
                "KEYWARDEN UNKNOWN - no objects to check in %s; run "
                "keywarden scan first\n",
                cli->db_path);
        kw_cli_rots_free(&rots);
        return KS_HEALTH_UNKNOWN;
    }

    kw_outf(stdout, "KEYWARDEN %s - ", status_word(cc.worst));
    if (cc.worst == KS_HEALTH_OK) {
        kw_outf(stdout, "%zu objects ok", cc.total);
        if (cc.have_min)
            kw_outf(stdout, ", next deadline in %lld days",
                    (long long)cc.min_days);
        if (next_domain != NULL) {
            char when[32];

            kw_rot_time(next_rot, when, sizeof(when));
            kw_outf(stdout, ", next DKIM rotation %s at %s", next_domain,
                    when);
        }
    } else {
        kw_outf(stdout, "%s; %zu critical, %zu unknown, %zu warning, %zu ok",
                cc.worst_line, cc.count[KS_HEALTH_CRITICAL],
                cc.count[KS_HEALTH_UNKNOWN], cc.count[KS_HEALTH_WARNING],
                cc.count[KS_HEALTH_OK]);
    }
    /* Perfdata: 'label'=value[UOM];[warn];[crit];[min];[max] */
    kw_outf(stdout,
            " | objects=%zu;;;0 critical=%zu;;;0 warning=%zu;;;0 "
            "unknown=%zu;;;0",
            cc.total, cc.count[KS_HEALTH_CRITICAL],
            cc.count[KS_HEALTH_WARNING], cc.count[KS_HEALTH_UNKNOWN]);
    if (cc.have_min)
        kw_outf(stdout, " min_days_left=%lld;%lld;%lld;;",
                (long long)cc.min_days, (long long)(cc.t.warn / KW_DAY),
                (long long)(cc.t.crit / KW_DAY));
    putchar('\n');
    if (cc.nproblems > 0)
        qsort(cc.problems, cc.nproblems, sizeof(*cc.problems), by_rank_desc);
    for (k = 0; k < cc.nproblems; k++) {
        kw_outf(stdout, "%s\n", cc.problems[k].line);
        if (cc.problems[k].fix[0] != '\0')
            kw_outf(stdout, "  fix: %s\n", cc.problems[k].fix);
    }
    if (rots.err[0] != '\0')
        kw_outf(stdout, "NOTE: %s\n", rots.err);
    for (k = 0; k < rots.n; k++)
        if (rots.v[k].h.next_rotation > 0) {
            char when[32];

            kw_rot_time(rots.v[k].h.next_rotation, when, sizeof(when));
            kw_outf(stdout, "DKIM rotation of %s: %s, next at %s\n",
                    rots.v[k].p->domain, ks_health_word(
                        (ks_health)rots.v[k].h.health), when);
        }
    kw_cli_rots_free(&rots);
    free(cc.problems);
    return (int)cc.worst;
}
