/*
 * precheck.c: a certificate's names pre-checked for HTTP-01 (see
 * precheck.h).
 */
#include "precheck.h"

#include "http01.h"

#include "../acme/acme_jws.h"
#include "../acme/acme_precheck.h"
#include "../common/kw_json.h"
#include "../common/kw_log.h"
#include "../common/kw_str.h"
#include "../dns/dns_update.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pc {
    kw_acme_env *env;
    char **names;
    size_t nnames, next;
    char *webroot, *listen;
    kw_dns_server resolver;
    int has_resolver;
    acme_precheck_opts o;
    char token[64], keyauth[160];
    int placed;
    kw_precheck_cb cb;
    void *ctx;
    json_t *report;
    int status; /* as kw_precheck_result */
    char summary[1400], fix[3072];
    /* The first name is checked from the loop, so the callback never runs
     * inside kw_precheck_start (when no check can start); p is freed when
     * the timer is closed. */
    uv_timer_t kick;
} pc;

static void free_pc(pc *p)
{
    size_t i;

    for (i = 0; i < p->nnames; i++)
        free(p->names[i]);
    free(p->names);
    free(p->webroot);
    free(p->listen);
    json_decref(p->report);
    free(p);
}

static void on_kick_closed(uv_handle_t *h)
{
    free_pc(h->data);
}

static void finish(pc *p)
{
    kw_precheck_result res = {p->status, p->summary, p->fix, p->report};

    if (p->placed)
        kw_http01_remove(p->env, p->webroot, p->token);
    p->env->in_flight--;
    p->cb(p->ctx, &res);
    uv_close((uv_handle_t *)&p->kick, on_kick_closed);
}

static json_t *walk_json(const acme_pc_walk *w)
{
    json_t *hops = json_array();
    size_t i;

    for (i = 0; i < w->nhops; i++) {
        const acme_pc_hop *h = &w->hops[i];

        json_array_append_new(
            hops, json_pack("{s:o, s:s, s:I, s:o, s:o}", "url",
                            kw_json_str(h->url), "addr", h->addr, "status",
                            (json_int_t)h->status, "location",
                            kw_json_str(h->location[0] ? h->location : NULL),
                            "error",
                            kw_json_str(h->error[0] ? h->error : NULL)));
    }
    return json_pack("{s:i, s:s, s:o, s:o}", "family", w->family, "verdict",
                     acme_pc_verdict_name(w->verdict), "why",
                     kw_json_str(w->why), "hops", hops);
}

static void check_next(pc *p);

static void on_kick(uv_timer_t *t)
{
    check_next(t->data);
}

static void on_result(void *ctx, const acme_precheck_result *r)
{
    pc *p = ctx;
    json_t *walks = json_array();
    int i;

    for (i = 0; i < 2; i++)
        if (r->walks[i].family != 0)
            json_array_append_new(walks, walk_json(&r->walks[i]));
    json_array_append_new(
        p->report,
        json_pack("{s:o, s:b, s:s, s:o, s:o, s:o, s:o, s:f}", "name",
                  kw_json_str(r->name), "ok", r->ok, "verdict",
                  acme_pc_verdict_name(r->verdict), "why",
                  kw_json_str(r->why), "fix",
                  kw_json_str(r->ok ? NULL : r->fix), "note",
                  kw_json_str(r->note[0] ? r->note : NULL), "walks", walks,
                  "elapsed", r->elapsed));
    if (!r->ok && p->status == 0) {
        p->status = KW_EREJECTED;
        snprintf(p->summary, sizeof(p->summary), "%s: %s: %s", r->name,
                 acme_pc_verdict_name(r->verdict), r->why);
        snprintf(p->fix, sizeof(p->fix), "%s", r->fix);
    }
    check_next(p);
}

static void check_next(pc *p)
{
    kw_diag d;
    int rc;

    while (p->next < p->nnames) {
        const char *name = p->names[p->next++];

        rc = acme_precheck_run(p->env->loop, &p->o, name, p->token,
                               p->keyauth, on_result, p, &d);
        if (rc == 0)
            return;
        json_array_append_new(p->report,
                              json_pack("{s:o, s:b, s:s, s:o}", "name",
                                        kw_json_str(name), "ok", 0,
                                        "verdict", "INTERNAL", "why",
                                        kw_json_str(d.msg)));
        if (p->status == 0) {
            p->status = rc;
            snprintf(p->summary, sizeof(p->summary), "%s: %s", name, d.msg);
        }
    }
    finish(p);
}

int kw_precheck_blocking(json_t *report)
{
    size_t i;
    json_t *n;

    json_array_foreach(report, i, n)
    {
        const char *v = json_string_value(json_object_get(n, "verdict"));

        if (json_is_true(json_object_get(n, "ok")))
            continue;
        if (v == NULL || strcmp(v, "AAAA_BROKEN") != 0)
            return 1;
    }
    return 0;
}

int kw_precheck_start(kw_acme_env *env, const kw_precheck_req *req,
                      kw_precheck_cb cb, void *ctx, kw_diag *d)
{
    const kw_acme_params *a = &env->params;
    unsigned char rnd[24];
    char *tok;
    pc *p;
    size_t i;
    int bad = 0, rc;

    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    p->env = env;
    p->cb = cb;
    p->ctx = ctx;
    p->report = json_array();
    p->names = calloc(req->nnames ? req->nnames : 1, sizeof(char *));
    if (p->names == NULL || p->report == NULL)
        bad = 1;
    for (i = 0; !bad && i < req->nnames; i++) {
        p->names[i] = kw_strdup_opt(req->names[i], &bad);
        p->nnames = i + 1;
    }
    p->webroot = kw_strdup_opt(req->webroot, &bad);
    p->listen = kw_strdup_opt(req->listen, &bad);
    if (bad) {
        free_pc(p);
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    }
    /* What the CA's validator does: its ports, its resolver. */
    p->o.rules.http_port = a->validation_http_port;
    p->o.rules.https_port = a->validation_https_port;
    p->o.rules.allow_reserved = a->validation_allow_private;
    if (a->resolver != NULL) {
        if (kw_dns_server_parse(a->resolver, 53, &p->resolver, d) != 0) {
            free_pc(p);
            return KW_EINVAL;
        }
        p->o.resolver = &p->resolver;
    }
    /* A probe token like the CA's, and an answer nobody could mistake
     * for a real key authorization. */
    if (RAND_bytes(rnd, sizeof(rnd)) != 1 ||
        (tok = acme_b64url(rnd, sizeof(rnd))) == NULL) {
        free_pc(p);
        return kw_diag_set(d, KW_ECRYPTO, "no random bytes for a token");
    }
    snprintf(p->token, sizeof(p->token), "%s", tok);
    free(tok);
    snprintf(p->keyauth, sizeof(p->keyauth), "%s.keywarden-precheck",
             p->token);
    rc = kw_http01_put(env, p->webroot, p->listen, p->token, p->keyauth, d);
    if (rc != 0) {
        free_pc(p);
        return rc;
    }
    p->placed = 1;
    if (uv_timer_init(env->loop, &p->kick) != 0) {
        kw_http01_remove(env, p->webroot, p->token);
        free_pc(p);
        return kw_diag_set(d, KW_EIO, "the pre-check cannot start a timer");
    }
    p->kick.data = p;
    uv_timer_start(&p->kick, on_kick, 0, 0);
    env->in_flight++;
    return 0;
}
