#include "responder.h"

#include "http.h"

#include "../common/kw_log.h"

#include <stdlib.h>
#include <string.h>

#define PREFIX "/.well-known/acme-challenge/"

typedef struct entry {
    struct entry *next;
    char *token;
    char *ka;
} entry;

struct kw_responder {
    kw_http_server *http;
    entry *tokens;
    size_t n, hits, misses;
};

static void on_request(void *ctx, kw_http_req *req, const char *method,
                       const char *path)
{
    kw_responder *r = ctx;
    entry *e;

    if ((strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) &&
        strncmp(path, PREFIX, strlen(PREFIX)) == 0) {
        const char *tok = path + strlen(PREFIX);

        for (e = r->tokens; e != NULL; e = e->next)
            if (strcmp(e->token, tok) == 0) {
                char *body = strdup(e->ka);

                r->hits++;
                kw_debug("http-01: answered %s %s", method, path);
                kw_http_respond(req, 200, "text/plain", body,
                                body != NULL ? strlen(body) : 0);
                return;
            }
    }
    r->misses++;
    kw_info("http-01: %s %s: no such token (404)", method, path);
    kw_http_respond(req, 404, "text/plain", strdup("not found\n"), 10);
}

int kw_responder_start(uv_loop_t *loop, const char *addr,
                       kw_responder **out, kw_diag *d)
{
    kw_responder *r = calloc(1, sizeof(*r));
    int rc;

    if (r == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    rc = kw_http_listen(loop, addr, on_request, r, &r->http, d);
    if (rc != 0) {
        free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int kw_responder_add(kw_responder *r, const char *token,
                     const char *key_authorization, kw_diag *d)
{
    entry *e = calloc(1, sizeof(*e));

    if (e == NULL || (e->token = strdup(token)) == NULL ||
        (e->ka = strdup(key_authorization)) == NULL) {
        if (e != NULL)
            free(e->token);
        free(e);
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    }
    e->next = r->tokens;
    r->tokens = e;
    r->n++;
    return 0;
}

void kw_responder_remove(kw_responder *r, const char *token)
{
    entry **pp, *e;

    for (pp = &r->tokens; (e = *pp) != NULL; pp = &e->next)
        if (strcmp(e->token, token) == 0) {
            *pp = e->next;
            free(e->token);
            free(e->ka);
            free(e);
            r->n--;
            return;
        }
}

size_t kw_responder_count(const kw_responder *r)
{
    return r->n;
}

void kw_responder_stats(const kw_responder *r, size_t *hits, size_t *misses)
{
    *hits = r->hits;
    *misses = r->misses;
}

void kw_responder_stop(kw_responder *r)
{
    if (r == NULL)
        return;
    kw_http_close(r->http);
    while (r->tokens != NULL)
        kw_responder_remove(r, r->tokens->token);
    free(r);
}
