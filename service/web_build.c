/*
 * web_build.c: the pages from the store (web.h).  The data comes from
 * listing.h, the builder `list --json` prints with, never from a query of
 * its own.
 */
#include "hooks.h"
#include "listing.h"
#include "web.h"

#include "../keystore/ks_inventory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A plain-text answer: status, then lead and what (escaped: it may be
 * the client's own path). */
static int text_reply(int code, const char *lead, const char *what,
                      int *status, char **out, size_t *len)
{
    kw_web_buf b = {NULL, 0, 0, 0};

    kw_web_put(&b, lead, strlen(lead));
    kw_web_esc(&b, what);
    kw_web_put(&b, "\n", 1);
    if (b.oom) {
        free(b.p);
        return KW_ENOMEM;
    }
    *status = code;
    *out = b.p;
    *len = b.len;
    return 0;
}

static int not_found(const char *what, int *status, char **out, size_t *len)
{
    return text_reply(404, "not found: ", what, status, out, len);
}

/* The runs /hooks shows: the newest of all hooks together. */
#define HOOKS_PAGE_RUNS 50

/* /hooks: the configuration's hooks (a configuration that does not load
 * shows none, said at the top) and the store's runs. */
static int hooks_page(ks_store *s, const kw_web_opts *o, char **out,
                      size_t *len, kw_diag *d)
{
    kw_config kc;
    kw_web_opts po = *o;
    json_t *doc = NULL;
    char note[600];
    kw_diag cd;
    int loaded = 0, r;

    if (o->config_path != NULL) {
        r = kw_config_load(o->config_path, &kc, &cd);
        if (r == 0)
            loaded = 1;
        else if (r != KW_ENOENT) {
            snprintf(note, sizeof(note), "the hooks are not shown: %s",
                     cd.msg);
            po.note = note;
        }
    }
    r = kw_hooks_document(s, loaded ? &kc : NULL, HOOKS_PAGE_RUNS, &doc, d);
    if (loaded)
        kw_config_free(&kc);
    if (r == 0)
        r = kw_web_render_hooks(doc, &po, out, len, d);
    json_decref(doc);
    return r;
}

static int one_row(void *ctx, const ks_object *o, const ks_verdict *v,
                   json_t *js)
{
    json_t **slot = ctx;

    (void)o;
    (void)v;
    *slot = json_incref(js);
    return 1; /* the one row asked for */
}

static int one_event(void *ctx, const ks_event *e)
{
    json_t *e_js = json_pack("{s:I, s:s, s:s}", "at", (json_int_t)e->at,
                             "type", e->type != NULL ? e->type : "",
                             "detail", e->detail != NULL ? e->detail : "");

    /* A detail that is not UTF-8 is said so, not dropped silently. */
    if (e_js == NULL)
        e_js = json_pack("{s:I, s:s, s:s}", "at", (json_int_t)e->at,
                         "type", "?", "detail", "(not UTF-8)");
    return json_array_append_new(ctx, e_js) != 0 ? KW_ENOMEM : 0;
}

/* "/object/ID": ID all digits, > 0. */
static int64_t object_id(const char *path)
{
    const char *p = path + strlen("/object/");
    int64_t id = 0;

    if (*p == '\0' || strlen(p) > 18)
        return 0;
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        id = id * 10 + (*p - '0');
    }
    return id;
}

int kw_web_build(struct ks_store *s, const char *path, const kw_web_opts *o,
                 int *status, char **out, size_t *len, kw_diag *d)
{
    json_t *doc = NULL, *ev = NULL;
    kw_listing l;
    int64_t id;
    int r;

    *status = 200;
    *out = NULL;
    *len = 0;
    if (strcmp(path, "/") == 0) {
        char warn[600];
        kw_web_opts po = *o;
        kw_diag qd;

        if (kw_web_filters(o->query, &po, &qd) != 0)
            return text_reply(400, "bad query: ", qd.msg, status, out, len);
        if ((r = kw_listing_document(s, o->now, o->config_path, &doc, warn,
                                     sizeof(warn), d)) != 0)
            return r;
        if (warn[0] != '\0')
            po.note = warn;
        r = kw_web_render_page(doc, &po, out, len, d);
        json_decref(doc);
        return r;
    }
    if (strcmp(path, "/jobs") == 0) {
        json_t *jobs = kw_listing_jobs(s);

        if (jobs == NULL)
            return kw_diag_set(d, KW_ENOMEM, "out of memory");
        r = kw_web_render_jobs(jobs, o, out, len, d);
        json_decref(jobs);
        return r;
    }
    if (strcmp(path, "/hooks") == 0)
        return hooks_page(s, o, out, len, d);
    if (strncmp(path, "/object/", 8) != 0)
        return not_found(path, status, out, len);
    if ((id = object_id(path)) <= 0)
        return not_found(path, status, out, len);
    /* The object as `list --json` shows it, each file its own row (an id
     * of a file folded into another's row still has its page). */
    kw_listing_init(&l, s, o->now);
    l.json = 1;
    l.f.by_leaf = 0;
    l.f.include_hidden = 1;
    l.f.id = id;
    r = kw_listing_each(&l, one_row, &doc, d);
    kw_listing_done(&l);
    if (r < 0) {
        json_decref(doc);
        return r;
    }
    if (doc == NULL)
        return not_found(path, status, out, len);
    if ((ev = json_array()) == NULL)
        r = kw_diag_set(d, KW_ENOMEM, "out of memory");
    else
        r = ks_inventory_events(s, id, 100, one_event, ev, d);
    if (r == 0)
        r = kw_web_render_object(doc, ev, o, out, len, d);
    json_decref(doc);
    json_decref(ev);
    return r;
}
