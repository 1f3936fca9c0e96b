/*
 * acme_http.c: libcurl multi on libuv.
 *
 * libcurl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and
 * when to wake it (CURLMOPT_TIMERFUNCTION); uv_poll and one uv_timer do
 * the watching, and curl_multi_socket_action does the work.  Nothing here
 * blocks the loop: name resolution runs in libcurl's threaded resolver.
 */
#include "acme_http.h"

#include "../common/kw_time.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef KW_VERSION
#define KW_VERSION "0"
#endif

typedef struct req req;

struct acme_http {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    acme_http_opts o;
    char *ca_file;
    char *user_agent;
    req *pending; /* doubly linked */
    size_t npending;
    int closing;
};

struct req {
    req *prev, *next;
    acme_http *h;
    CURL *easy;
    struct curl_slist *headers;
    struct curl_slist *resolve;
    size_t max_body;
    int truncate_body;
    acme_http_cb cb;
    void *ctx;
    char method[8];
    char *url;
    char *body;
    size_t len, cap;
    size_t header_bytes;
    int too_big, headers_too_big;
    acme_resp r;
    char curl_error[CURL_ERROR_SIZE];
};

typedef struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    acme_http *h;
} sock_ctx;

static void check_done(acme_http *h);

/* ----- the response's headers ----------------------------------------- */

int64_t acme_retry_after_parse(const char *v, int64_t now)
{
    char *end;
    long long n;
    time_t t;

    while (*v == ' ' || *v == '\t')
        v++;
    if (*v >= '0' && *v <= '9') {
        n = strtoll(v, &end, 10);
        while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
            end++;
        if (*end != '\0' || n < 0)
            return -1;
        return n > 366LL * 86400 ? 366LL * 86400 : n;
    }
    t = curl_getdate(v, NULL);
    if (t == (time_t)-1)
        return -1;
    /* A date years ahead is a broken server, not a plan: cap it as the
     * delta form is. */
    if ((int64_t)t - now > 366LL * 86400)
        return 366LL * 86400;
    return (int64_t)t > now ? (int64_t)t - now : 0;
}

static char *dup_trim(const char *s, size_t n)
{
    char *out;

    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
                     s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    out = malloc(n + 1);
    if (out != NULL) {
        memcpy(out, s, n);
        out[n] = '\0';
    }
    return out;
}

/* Does the rel parameter in params (";rel=up", "; rel=\"up alternate\"")
 * name the relation want?  Relation types are case-insensitive and a
 * quoted value may list several, separated by spaces (RFC 8288). */
static int rel_has(const char *params, const char *want)
{
    const char *p = strcasestr(params, "rel=");
    size_t wl = strlen(want);
    char end;

    if (p == NULL)
        return 0;
    p += 4;
    end = *p == '"' ? '"' : ';';
    if (*p == '"')
        p++;
    while (*p != '\0' && *p != end) {
        size_t tl;

        while (*p == ' ' || *p == '\t')
            p++;
        tl = strcspn(p, end == '"' ? "\" \t" : "; \t\r\n,");
        if (tl == wl && strncasecmp(p, want, wl) == 0)
            return 1;
        if (tl == 0)
            break;
        p += tl;
        if (end != '"')
            break;
    }
    return 0;
}

/* Link: <url>;rel="up", <url2>;rel="alternate" (RFC 8288).  URLs are
 * inside <...>, so commas in them do not split entries. */
static void parse_link(acme_resp *r, const char *v, size_t n)
{
    size_t i = 0;

    while (i < n) {
        size_t us, ue, ps, pe;

        while (i < n && v[i] != '<')
            i++;
        if (i >= n)
            return;
        us = ++i;
        while (i < n && v[i] != '>')
            i++;
        if (i >= n)
            return;
        ue = i++;
        ps = i;
        while (i < n && v[i] != ',')
            i++;
        pe = i;
        {
            char params[256];
            size_t pl = pe - ps < sizeof(params) - 1 ? pe - ps
                                                     : sizeof(params) - 1;

            memcpy(params, v + ps, pl);
            params[pl] = '\0';
            if (rel_has(params, "up")) {
                if (r->link_up == NULL)
                    r->link_up = dup_trim(v + us, ue - us);
            } else if (rel_has(params, "alternate") && r->nalternate < 4) {
                r->link_alternate[r->nalternate] = dup_trim(v + us, ue - us);
                if (r->link_alternate[r->nalternate] != NULL)
                    r->nalternate++;
            }
        }
    }
}

void acme_resp_clear(acme_resp *r)
{
    size_t i;

    free(r->content_type);
    free(r->location);
    free(r->nonce);
    free(r->link_up);
    for (i = 0; i < r->nalternate; i++)
        free(r->link_alternate[i]);
    r->content_type = r->location = r->nonce = r->link_up = NULL;
    r->nalternate = 0;
    r->retry_after = -1;
}

void acme_resp_header(acme_resp *r, const char *buf, size_t n, int64_t now)
{
    const char *colon;
    size_t nl;

    if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        acme_resp_clear(r); /* a new response (after 100 Continue) */
        return;
    }
    colon = memchr(buf, ':', n);
    if (colon == NULL)
        return;
    nl = (size_t)(colon - buf);
    colon++;
#define HDR(name) (nl == sizeof(name) - 1 && strncasecmp(buf, name, nl) == 0)
    if (HDR("replay-nonce")) {
        free(r->nonce);
        r->nonce = dup_trim(colon, n - nl - 1);
    } else if (HDR("location")) {
        free(r->location);
        r->location = dup_trim(colon, n - nl - 1);
    } else if (HDR("content-type")) {
        free(r->content_type);
        r->content_type = dup_trim(colon, n - nl - 1);
    } else if (HDR("retry-after")) {
        char *v = dup_trim(colon, n - nl - 1);
        if (v != NULL)
            r->retry_after = acme_retry_after_parse(v, now);
        free(v);
    } else if (HDR("link")) {
        parse_link(r, colon, n - nl - 1);
    }
#undef HDR
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *userp)
{
    req *q = userp;
    size_t n = size * nitems;

    q->header_bytes += n;
    if (q->header_bytes > ACME_HTTP_MAX_HEADERS) {
        q->headers_too_big = 1;
        return 0; /* libcurl aborts the transfer */
    }
    acme_resp_header(&q->r, buf, n, kw_now());
    return n;
}

static size_t on_body(char *buf, size_t size, size_t nitems, void *userp)
{
    req *q = userp;
    size_t n = size * nitems;

    if (q->len + n > q->max_body) {
        if (q->truncate_body && q->len < q->max_body)
            n = q->max_body - q->len;
        else
            n = 0;
        q->too_big = 1;
        if (n > 0 && on_body(buf, 1, n, userp) != n)
            return 0;
        return 0;
    }
    if (q->len + n + 1 > q->cap) {
        size_t cap = q->cap ? q->cap : 4096;
        char *p;

        while (cap < q->len + n + 1)
            cap *= 2;
        if (cap > q->max_body + 1)
            cap = q->max_body + 1;
        p = realloc(q->body, cap);
        if (p == NULL)
            return 0;
        q->body = p;
        q->cap = cap;
    }
    memcpy(q->body + q->len, buf, n);
    q->len += n;
    q->body[q->len] = '\0';
    return n;
}

/* ----- completing a request -------------------------------------------- */

static void req_free(req *q)
{
    acme_resp_clear(&q->r);
    if (q->easy != NULL)
        curl_easy_cleanup(q->easy);
    curl_slist_free_all(q->headers);
    curl_slist_free_all(q->resolve);
    free(q->url);
    free(q->body);
    free(q);
}

static void unlink_req(acme_http *h, req *q)
{
    if (q->prev != NULL)
        q->prev->next = q->next;
    else
        h->pending = q->next;
    if (q->next != NULL)
        q->next->prev = q->prev;
    h->npending--;
}

static void finish(req *q, CURLcode rc)
{
    acme_http *h = q->h;
    double total = 0;

    curl_multi_remove_handle(h->multi, q->easy);
    unlink_req(h, q);
    q->r.method = q->method;
    q->r.url = q->url;
    q->r.body = q->body != NULL ? q->body : (char *)"";
    q->r.len = q->len;
    if (curl_easy_getinfo(q->easy, CURLINFO_TOTAL_TIME, &total) == CURLE_OK)
        q->r.elapsed = total;
    q->r.curl_code = (int)rc;
    q->r.tls = strncmp(q->url, "https://", 8) == 0;
    if (rc == CURLE_OK || (q->too_big && q->truncate_body)) {
        q->r.ok = 1;
        q->r.truncated = q->too_big;
        curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &q->r.status);
    } else if (q->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
        snprintf(q->r.error, sizeof(q->r.error),
                 "%s %s: the response is larger than %zu bytes", q->method,
                 q->url, q->max_body);
    } else if (q->headers_too_big) {
        snprintf(q->r.error, sizeof(q->r.error),
                 "%s %s: the response headers exceed %d bytes", q->method,
                 q->url, ACME_HTTP_MAX_HEADERS);
    } else {
        snprintf(q->r.error, sizeof(q->r.error), "%s %s: %s", q->method,
                 q->url,
                 q->curl_error[0] != '\0' ? q->curl_error
                                          : curl_easy_strerror(rc));
    }
    q->cb(q->ctx, &q->r);
    req_free(q);
}

static void check_done(acme_http *h)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
        req *q = NULL;

        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&q);
        if (q != NULL)
            finish(q, m->data.result);
    }
}

/* ----- libcurl <-> libuv ---------------------------------------------- */

static void on_poll(uv_poll_t *p, int status, int events)
{
    sock_ctx *s = p->data;
    int flags = 0, running;

    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(s->h->multi, s->fd, flags, &running);
    check_done(s->h);
}

static void on_sock_closed(uv_handle_t *hd)
{
    free(hd->data);
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp,
                     void *socketp)
{
    acme_http *h = userp;
    sock_ctx *s = socketp;
    int events = 0;

    (void)e;
    if (what == CURL_POLL_REMOVE) {
        if (s != NULL) {
            uv_poll_stop(&s->poll);
            uv_close((uv_handle_t *)&s->poll, on_sock_closed);
            curl_multi_assign(h->multi, fd, NULL);
        }
        return 0;
    }
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL)
            return -1;
        s->fd = fd;
        s->h = h;
        if (uv_poll_init_socket(h->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->poll.data = s;
        curl_multi_assign(h->multi, fd, s);
    }
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

static void on_timeout(uv_timer_t *t)
{
    acme_http *h = t->data;
    int running;

    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(h);
}

static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
    acme_http *h = userp;

    (void)m;
    if (timeout_ms < 0)
        uv_timer_stop(&h->timer);
    else
        uv_timer_start(&h->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ----- the public functions ------------------------------------------- */

int acme_http_new(uv_loop_t *loop, const acme_http_opts *o, acme_http **out,
                  kw_diag *d)
{
    static int global_done;
    acme_http *h;

    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return kw_diag_set(d, KW_EIO, "libcurl failed to initialise");
        global_done = 1;
    }
    h = calloc(1, sizeof(*h));
    if (h == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    h->loop = loop;
    if (o != NULL)
        h->o = *o;
    if (h->o.timeout_ms <= 0)
        h->o.timeout_ms = 30000;
    if (h->o.connect_ms <= 0)
        h->o.connect_ms = 10000;
    if (h->o.max_body == 0)
        h->o.max_body = 1024 * 1024;
    h->ca_file = h->o.ca_file != NULL ? strdup(h->o.ca_file) : NULL;
    h->user_agent = strdup(h->o.user_agent != NULL ? h->o.user_agent
                                                   : "keywarden/" KW_VERSION);
    h->multi = curl_multi_init();
    if (h->multi == NULL || h->user_agent == NULL ||
        (h->o.ca_file != NULL && h->ca_file == NULL)) {
        if (h->multi != NULL)
            curl_multi_cleanup(h->multi);
        free(h->ca_file);
        free(h->user_agent);
        free(h);
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    }
    h->o.ca_file = h->ca_file;
    h->o.user_agent = h->user_agent;
    uv_timer_init(loop, &h->timer);
    h->timer.data = h;
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    *out = h;
    return 0;
}

int acme_http_request(acme_http *h, const char *method, const char *url,
                      const char *body, const char *content_type,
                      const char *accept, acme_http_cb cb, void *ctx,
                      kw_diag *d)
{
    acme_http_req_opts ro;

    memset(&ro, 0, sizeof(ro));
    ro.accept = accept;
    return acme_http_request_ex(h, method, url, body, content_type, &ro, cb,
                                ctx, d);
}

int acme_http_request_ex(acme_http *h, const char *method, const char *url,
                         const char *body, const char *content_type,
                         const acme_http_req_opts *ro, acme_http_cb cb,
                         void *ctx, kw_diag *d)
{
    static const acme_http_req_opts none;
    const char *accept;
    req *q;
    CURL *e;
    int ok = 1;
    char hdr[256];

    if (h->closing)
        return kw_diag_set(d, KW_ECANCELED, "%s %s: shutting down", method,
                           url);
    if (strncmp(url, "https://", 8) != 0 &&
        !(h->o.allow_http && strncmp(url, "http://", 7) == 0))
        return kw_diag_set(d, KW_EINVAL,
                           "%s %s: only https:// URLs are accepted", method,
                           url);
    q = calloc(1, sizeof(*q));
    if (q == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    if (ro == NULL)
        ro = &none;
    accept = ro->accept;
    q->h = h;
    q->max_body = ro->max_body > 0 ? ro->max_body : h->o.max_body;
    q->truncate_body = ro->truncate_body;
    q->cb = cb;
    q->ctx = ctx;
    q->r.retry_after = -1;
    snprintf(q->method, sizeof(q->method), "%s", method);
    q->url = strdup(url);
    q->easy = e = curl_easy_init();
    if (q->url == NULL || e == NULL) {
        req_free(q);
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    }
#define SET(opt, val) ok &= curl_easy_setopt(e, opt, val) == CURLE_OK
    SET(CURLOPT_URL, url);
    SET(CURLOPT_PRIVATE, (char *)q);
    SET(CURLOPT_PROTOCOLS_STR, h->o.allow_http ? "http,https" : "https");
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_TIMEOUT_MS, ro->timeout_ms > 0 ? ro->timeout_ms
                                               : h->o.timeout_ms);
    SET(CURLOPT_CONNECTTIMEOUT_MS, ro->connect_ms > 0 ? ro->connect_ms
                                                      : h->o.connect_ms);
    /* A truncating request reads the first bytes of any body; the others
     * refuse a body announced too large before it arrives. */
    if (!q->truncate_body)
        SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)q->max_body);
    SET(CURLOPT_USERAGENT, h->user_agent);
    SET(CURLOPT_ERRORBUFFER, q->curl_error);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, q);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, q);
    SET(CURLOPT_SSL_VERIFYPEER, ro->insecure ? 0L : 1L);
    SET(CURLOPT_SSL_VERIFYHOST, ro->insecure ? 0L : 2L);
    if (ro->tls12)
        SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (ro->resolve != NULL) {
        q->resolve = curl_slist_append(NULL, ro->resolve);
        if (q->resolve == NULL) {
            req_free(q);
            return kw_diag_set(d, KW_ENOMEM, "out of memory");
        }
        SET(CURLOPT_RESOLVE, q->resolve);
        /* A pinned address must not be shared with another request's
         * connection to the same host and port. */
        SET(CURLOPT_FORBID_REUSE, 1L);
        SET(CURLOPT_FRESH_CONNECT, 1L);
    }
    if (h->ca_file != NULL)
        SET(CURLOPT_CAINFO, h->ca_file);
    if (strcmp(method, "HEAD") == 0) {
        SET(CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "POST") == 0) {
        SET(CURLOPT_COPYPOSTFIELDS, body != NULL ? body : "");
        snprintf(hdr, sizeof(hdr), "Content-Type: %s",
                 content_type != NULL ? content_type
                                      : "application/jose+json");
        q->headers = curl_slist_append(q->headers, hdr);
        q->headers = curl_slist_append(q->headers, "Expect:");
    }
    if (accept != NULL) {
        snprintf(hdr, sizeof(hdr), "Accept: %s", accept);
        q->headers = curl_slist_append(q->headers, hdr);
    }
    if (q->headers != NULL)
        SET(CURLOPT_HTTPHEADER, q->headers);
#undef SET
    if (!ok) {
        req_free(q);
        return kw_diag_set(d, KW_EINVAL,
                           "%s %s: libcurl refused an option (is it built "
                           "with https?)",
                           method, url);
    }
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
        req_free(q);
        return kw_diag_set(d, KW_ENOMEM, "%s %s: libcurl refused the request",
                           method, url);
    }
    q->next = h->pending;
    if (h->pending != NULL)
        h->pending->prev = q;
    h->pending = q;
    h->npending++;
    return 0;
}

uv_loop_t *acme_http_loop(const acme_http *h)
{
    return h->loop;
}

size_t acme_http_pending(const acme_http *h)
{
    return h->npending;
}

static void on_timer_closed(uv_handle_t *hd)
{
    acme_http *h = hd->data;

    free(h->ca_file);
    free(h->user_agent);
    free(h);
}

void acme_http_free(acme_http *h)
{
    if (h == NULL)
        return;
    h->closing = 1;
    while (h->pending != NULL) {
        req *q = h->pending;

        curl_multi_remove_handle(h->multi, q->easy);
        unlink_req(h, q);
        q->r.method = q->method;
        q->r.url = q->url;
        q->r.cancelled = 1;
        q->r.body = (char *)"";
        snprintf(q->r.error, sizeof(q->r.error), "%s %s: cancelled",
                 q->method, q->url);
        q->cb(q->ctx, &q->r);
        q->r.body = NULL;
        req_free(q);
    }
    curl_multi_cleanup(h->multi);
    h->multi = NULL;
    uv_timer_stop(&h->timer);
    uv_close((uv_handle_t *)&h->timer, on_timer_closed);
}
