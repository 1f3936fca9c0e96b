/*
 * web.h: the operator's page, HTML and SVG rendered on the server from
 * the JSON document `list --json` prints (service/listing.h builds it for
 * both, so the page and the CLI never disagree).
 *
 * Pure: a document and a clock in, a malloc'd page out; no I/O, so the
 * daemon renders on the libuv pool and tests render without a server.
 * Every value from the document reaches the page through kw_web_esc, the
 * one escaper (text and double-quoted attribute contexts alike).  The
 * page carries no script and one inline style block, whose SHA-256 the
 * Content-Security-Policy of kw_web_headers names; nothing is loaded from
 * elsewhere.
 */
#ifndef KW_WEB_H
#define KW_WEB_H

#include "../common/kw_err.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* A growing output buffer; oom sticks once an allocation failed. */
typedef struct kw_web_buf {
    char *p;
    size_t len, cap;
    int oom;
} kw_web_buf;

void kw_web_put(kw_web_buf *b, const char *s, size_t n);
/* s escaped for HTML text and for a double-quoted attribute value:
 * & < > " ' become entities; control bytes (C0 other than tab and
 * newline, DEL, C1) and bytes that are not UTF-8 become U+FFFD, one per
 * byte.  NULL is "". */
void kw_web_esc(kw_web_buf *b, const char *s);

#define KW_WEB_HORIZON_DEFAULT 90 /* days of the timeline */

typedef struct kw_web_opts {
    int64_t now;
    int horizon_days;        /* 1..3650 */
    const char *config_path; /* kw_web_build: the rotations' (NULL: none) */
    const char *note;        /* said at the top of the page (NULL: none) */
    const char *query;       /* kw_web_build: the request's, for the
                                filters below (NULL: none) */
    /* The inventory table's filters (kw_web_filters): "" shows all. */
    char kind[16];           /* tls, dkim, dnssec, dkim-rotation */
    char health[12];         /* ok, warning, unknown, critical */
} kw_web_opts;

/* Read the filters of a query string ("kind=tls&health=critical") into
 * o; other parameters are ignored.  KW_EINVAL (with d naming the value)
 * for a kind or health the page does not know. */
int kw_web_filters(const char *query, kw_web_opts *o, kw_diag *d);

/* The page at / from doc (the array of list --json).  KW_EINVAL when doc
 * is not an array, KW_ENOMEM. */
int kw_web_render_page(const json_t *doc, const kw_web_opts *o, char **out,
                       size_t *len, kw_diag *d);

/* The page at /object/ID: obj (an element of the document) and events,
 * an array of {at, type, detail}, oldest first. */
int kw_web_render_object(const json_t *obj, const json_t *events,
                         const kw_web_opts *o, char **out, size_t *len,
                         kw_diag *d);

/* The page at /jobs: jobs as kw_listing_jobs gives them. */
int kw_web_render_jobs(const json_t *jobs, const kw_web_opts *o, char **out,
                       size_t *len, kw_diag *d);

/* The page at /hooks: doc as kw_hooks_document gives it ({hooks, runs}):
 * each hook (name, events, action, counters), then its runs, failed ones
 * first, each with its time, event, result, exit status and the start of
 * its output (KW_WEB_OUTPUT_EXCERPT bytes), escaped. */
#define KW_WEB_OUTPUT_EXCERPT 600
int kw_web_render_hooks(const json_t *doc, const kw_web_opts *o, char **out,
                        size_t *len, kw_diag *d);

/* The response headers every page carries (Content-Security-Policy with
 * the style block's hash, nosniff, no referrer), "\r\n"-terminated lines.
 * Computed once; thread-safe. */
const char *kw_web_headers(void);
/* The daemon's side (web_build.c, blocking: SQLite, on the libuv pool):
 * the page for path ("/", "/object/ID", "/jobs" or "/hooks": the hooks
 * of the configuration at o->config_path) from the store at now.
 * *status is the HTTP status (200; 404, or 400 for a filter the page
 * does not know, with a text that says why);
 * KW_E* with d when the store cannot be read. */
struct ks_store;
int kw_web_build(struct ks_store *s, const char *path, const kw_web_opts *o,
                 int *status, char **out, size_t *len, kw_diag *d);

/* Whether an Authorization header value ("Bearer TOKEN") carries the
 * token whose SHA-256 is want; compared in constant time. */
int kw_web_auth_ok(const unsigned char want[32], const char *authorization);

/* The style block itself (for tests that check the hash). */
const char *kw_web_style(void);

#endif
