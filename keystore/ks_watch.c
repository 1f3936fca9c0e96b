#include "ks_watch.h"

#include "ks_store_int.h"

#include "ks_inventory.h"

#include "../common/kw_json.h"
#include "../common/kw_time.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* A change to record, collected while the listing's statement is open. */
typedef struct change {
    int64_t id;
    char *name;
    int endpoint;
    int dkim;           /* a DKIM selector: its domain and selector */
    char dkim_domain[256], dkim_selector[64];
    int from;           /* -1: first sighting */
    ks_health to;
    char reason[256];
    int level;          /* expiry level now: 0, 1 warning, 2 critical */
    int old_level;      /* as read: the update applies only if unchanged */
    int announce;       /* the level rose: a cert.expiring event */
    int64_t deadline;
} change;

typedef struct watch {
    ks_store *s;
    int64_t now;
    const ks_thresholds *t;
    change *c;
    size_t n, cap;
    int oom;
    sqlite3_stmt *seen;
} watch;

static int parse_health(const char *w)
{
    int h;

    for (h = 0; h < 4; h++)
        if (w != NULL && strcmp(w, ks_health_word((ks_health)h)) == 0)
            return h;
    return -1;
}

static int row(void *ctx, const ks_object *o)
{
    watch *w = ctx;
    const ks_tls_facts *f = &o->facts;
    ks_verdict v;
    int from, notice = 0, old_notice;
    int64_t left;
    change *c;

    if (f->superseded_by != 0 || f->idle_anchor)
        return 0;
    ks_health_tls(f, w->now, w->t, &v);
    sqlite3_reset(w->seen);
    sqlite3_bind_int64(w->seen, 1, o->id);
    if (sqlite3_step(w->seen) != SQLITE_ROW)
        return 0;
    from = parse_health((const char *)sqlite3_column_text(w->seen, 0));
    old_notice = sqlite3_column_int(w->seen, 1);
    if (f->has_validity && strcmp(f->state, "ok") == 0 && !f->is_ca) {
        left = kw_time_diff(f->deadline, w->now);
        notice = left <= w->t->crit ? 2 : left <= w->t->warn ? 1 : 0;
    }
    if (from == (int)v.health && notice == old_notice)
        return 0;
    if (w->n == w->cap) {
        size_t ncap = w->cap ? w->cap * 2 : 64;
        change *nc = realloc(w->c, ncap * sizeof(*nc));

        if (nc == NULL) {
            w->oom = 1;
            return 1;
        }
        w->c = nc;
        w->cap = ncap;
    }
    c = &w->c[w->n];
    memset(c, 0, sizeof(*c));
    if ((c->name = strdup(o->name != NULL ? o->name : "")) == NULL) {
        w->oom = 1;
        return 1;
    }
    w->n++;
    c->id = o->id;
    c->endpoint = f->is_endpoint;
    if (f->is_dkim) {
        c->dkim = 1;
        snprintf(c->dkim_domain, sizeof(c->dkim_domain), "%s",
                 f->dkim_domain != NULL ? f->dkim_domain : "");
        snprintf(c->dkim_selector, sizeof(c->dkim_selector), "%s",
                 f->dkim_selector != NULL ? f->dkim_selector : "");
    }
    c->from = from;
    c->to = v.health;
    memcpy(c->reason, v.reason, sizeof(c->reason));
    /* A level is announced when reached; a certificate replaced in place
     * with a later deadline falls back, and is announced again when its
     * own deadline comes. */
    c->level = notice;
    c->old_level = old_notice;
    c->announce = notice > old_notice;
    c->deadline = f->deadline;
    return 0;
}

static int apply(ks_store *s, int64_t now, const change *c, size_t *nev,
                 kw_diag *d)
{
    char source[1024], when[32];
    const char *kind = c->endpoint ? "endpoint" : c->dkim ? "dkim" : "tls";
    json_t *detail;
    int r;

    /* Only if nobody recorded the change since it was read: two jobs
     * watching at once (a scan and a probe) announce it once. */
    r = ks_run(s, d, "recording the health seen",
               "UPDATE objects SET health_seen = ?2, expiry_notice = ?3 "
               "WHERE id = ?1 AND health_seen IS ?4 AND expiry_notice = ?5",
               "ititi", c->id, ks_health_word(c->to), (int64_t)c->level,
               c->from >= 0 ? ks_health_word((ks_health)c->from) : NULL,
               (int64_t)c->old_level);
    if (r != 0 || sqlite3_changes(ks_db(s)) == 0)
        return r;
    source[0] = '\0';
    if (c->from >= 0 && c->from != (int)c->to) {
        detail = json_pack("{s:o, s:s, s:s, s:s, s:o}", "object",
                           kw_json_str(c->name), "kind", kind, "from",
                           ks_health_word((ks_health)c->from), "to",
                           ks_health_word(c->to), "reason",
                           kw_json_str(c->reason));
        /* A hook paging on a selector is told which one (its
         * KEYWARDEN_DKIM_SELECTOR and KEYWARDEN_DKIM_DOMAIN). */
        if (detail != NULL && c->dkim) {
            json_object_set_new(detail, "selector",
                                json_string(c->dkim_selector));
            json_object_set_new(detail, "domain",
                                json_string(c->dkim_domain));
        }
        r = ks_event_add(s, now, c->id, "health.changed", detail, d);
        (*nev)++;
    }
    if (r == 0 && c->announce) {
        (void)ks_inventory_source(s, c->id, source, sizeof(source), NULL);
        kw_time_rfc3339(c->deadline, when, sizeof(when));
        r = ks_event_add(
            s, now, c->id, "cert.expiring",
            json_pack("{s:o, s:s, s:s, s:I, s:I, s:s, s:o}", "object",
                      kw_json_str(c->name), "kind", kind, "level",
                      c->level == 2 ? "critical" : "warning", "days_left",
                      (json_int_t)kw_days_left(c->deadline, now),
                      "not_after", (json_int_t)c->deadline, "time", when,
                      "path",
                      kw_json_path(source[0] && !c->endpoint ? source : NULL)),
            d);
        (*nev)++;
    }
    return r;
}

int ks_watch_health(ks_store *s, int64_t now, const ks_thresholds *t,
                    size_t *nevents, kw_diag *d)
{
    watch w;
    ks_filter f;
    size_t i;
    int r;

    *nevents = 0;
    memset(&w, 0, sizeof(w));
    memset(&f, 0, sizeof(f));
    w.s = s;
    w.now = now;
    w.t = t;
    f.brief = 1;
    if (sqlite3_prepare_v2(ks_db(s),
                           "SELECT health_seen, expiry_notice FROM objects "
                           "WHERE id = ?1",
                           -1, &w.seen, NULL) != SQLITE_OK)
        return ks_db_error(s, d, "reading the health seen");
    r = ks_inventory_each(s, &f, row, &w, d);
    sqlite3_finalize(w.seen);
    if (r == 0 && w.oom)
        r = kw_diag_set(d, KW_ENOMEM, "out of memory watching health");
    if (r == 0 && w.n > 0 && (r = ks_begin(s, d)) == 0) {
        for (i = 0; r == 0 && i < w.n; i++)
            r = apply(s, now, &w.c[i], nevents, d);
        if (r == 0)
            r = ks_commit(s, d);
        else
            ks_rollback(s);
    }
    for (i = 0; i < w.n; i++)
        free(w.c[i].name);
    free(w.c);
    return r;
}
