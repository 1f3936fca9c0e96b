#include "http.h"

#include "../common/kw_log.h"

#include <http_parser.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kw_http_server {
    uv_loop_t *loop;
    uv_tcp_t tcp;
    kw_http_handler handler;
    void *ctx;
    int nconns;
    int closing;
    int port;
    kw_http_req *conns;
};

struct kw_http_req {
    kw_http_server *srv;
    kw_http_req *next, *prev;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t write;
    http_parser parser;
    char url[KW_HTTP_MAX_URL + 1];
    size_t urllen;
    const char *query;  /* after the '?' in url, or NULL */
    /* The Authorization header's value (the only header kept; longer
     * ones are cut and then never match a token). */
    char auth[KW_HTTP_MAX_AUTH + 1];
    size_t authlen;
    char field[16];     /* the current header name, lower case, cut */
    size_t fieldlen;
    int last_was_value; /* a new field starts after a value */
    size_t head;        /* request-head bytes seen */
    int dispatched;     /* the handler has it */
    int responded;
    int closing;
    int handles_open;
    char *out;          /* the response being written */
    char rbuf[4096];
};

static void close_conn(kw_http_req *r);

static void unlink_conn(kw_http_req *r)
{
    kw_http_server *s = r->srv;

    if (r->prev != NULL)
        r->prev->next = r->next;
    else if (s->conns == r)
        s->conns = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    r->next = r->prev = NULL;
}

static void maybe_free(kw_http_req *r)
{
    if (r->handles_open > 0 || (r->dispatched && !r->responded))
        return;
    free(r->out);
    free(r);
}

static void on_conn_closed(uv_handle_t *h)
{
    kw_http_req *r = h->data;

    r->handles_open--;
    maybe_free(r);
}

static void close_conn(kw_http_req *r)
{
    if (r->closing)
        return;
    r->closing = 1;
    r->srv->nconns--;
    unlink_conn(r);
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, on_conn_closed);
    uv_close((uv_handle_t *)&r->tcp, on_conn_closed);
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

static void on_written(uv_write_t *w, int status)
{
    kw_http_req *r = w->data;

    (void)status;
    close_conn(r);
}

void kw_http_respond(kw_http_req *r, int status, const char *content_type,
                     char *body, size_t len)
{
    kw_http_respond_h(r, status, content_type, NULL, body, len);
}

void kw_http_respond_h(kw_http_req *r, int status, const char *content_type,
                       const char *extra, char *body, size_t len)
{
    char head[1024];
    int n;
    uv_buf_t b;

    r->responded = 1;
    if (r->closing) {
        /* The client went away (or the server stopped) meanwhile. */
        free(body);
        maybe_free(r);
        return;
    }
    n = snprintf(head, sizeof(head),
                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: "
                 "%zu\r\n%sConnection: close\r\n\r\n",
                 status, reason(status),
                 content_type != NULL ? content_type : "text/plain", len,
                 extra != NULL ? extra : "");
    if (n < 0 || (size_t)n >= sizeof(head)) {
        /* The extra headers are the program's own: too long is a bug,
         * answered as an error rather than cut mid-header. */
        n = snprintf(head, sizeof(head),
                     "HTTP/1.1 500 %s\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n",
                     reason(500));
        len = 0;
    }
    /* HEAD: the same head, Content-Length included, and no body (RFC
     * 9110 section 9.3.2); every response goes through here. */
    if (r->parser.method == HTTP_HEAD)
        len = 0;
    r->out = malloc((size_t)n + len);
    if (r->out == NULL) {
        free(body);
        close_conn(r);
        return;
    }
    memcpy(r->out, head, (size_t)n);
    if (len > 0)
        memcpy(r->out + n, body, len);
    free(body);
    b = uv_buf_init(r->out, (unsigned)((size_t)n + len));
    r->write.data = r;
    if (uv_write(&r->write, (uv_stream_t *)&r->tcp, &b, 1, on_written) != 0)
        close_conn(r);
}

static void respond_text(kw_http_req *r, int status, const char *text)
{
    char *body = strdup(text);

    r->dispatched = 1;
    kw_http_respond(r, status, "text/plain; charset=utf-8", body,
                    body != NULL ? strlen(body) : 0);
}

/* ---- parser callbacks ------------------------------------------------------ */

static int on_url(http_parser *p, const char *at, size_t len)
{
    kw_http_req *r = p->data;

    r->head += len;
    if (r->urllen + len > KW_HTTP_MAX_URL) {
        respond_text(r, 414, "URL too long\n");
        return 1;
    }
    memcpy(r->url + r->urllen, at, len);
    r->urllen += len;
    r->url[r->urllen] = '\0';
    return 0;
}

static int head_bytes(kw_http_req *r, size_t len);

static int on_field(http_parser *p, const char *at, size_t len)
{
    kw_http_req *r = p->data;
    size_t i;

    if (r->last_was_value) {
        r->fieldlen = 0;
        r->last_was_value = 0;
    }
    for (i = 0; i < len && r->fieldlen < sizeof(r->field) - 1; i++) {
        char c = at[i];

        r->field[r->fieldlen++] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
    }
    if (i < len)
        r->fieldlen = sizeof(r->field) - 1; /* too long: no name we keep */
    r->field[r->fieldlen] = '\0';
    return head_bytes(r, len);
}

static int on_value(http_parser *p, const char *at, size_t len)
{
    kw_http_req *r = p->data;

    r->last_was_value = 1;
    if (strcmp(r->field, "authorization") == 0) {
        size_t n = len;

        if (r->authlen + n > KW_HTTP_MAX_AUTH)
            n = KW_HTTP_MAX_AUTH - r->authlen;
        memcpy(r->auth + r->authlen, at, n);
        r->authlen += n;
        r->auth[r->authlen] = '\0';
    }
    return head_bytes(r, len);
}

static int head_bytes(kw_http_req *r, size_t len)
{
    r->head += len;
    if (r->head > KW_HTTP_MAX_HEAD) {
        respond_text(r, 431, "request head too large\n");
        return 1;
    }
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    kw_http_req *r = p->data;

    /* Nothing here takes a body. */
    if ((p->flags & F_CHUNKED) ||
        (p->content_length > 0 && p->content_length != ULLONG_MAX)) {
        respond_text(r, 413, "no request body is accepted\n");
        return 1;
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    kw_http_req *r = p->data;
    char *q;

    if (r->dispatched)
        return 1;
    r->dispatched = 1;
    uv_read_stop((uv_stream_t *)&r->tcp);
    q = strchr(r->url, '?');
    if (q != NULL) {
        *q = '\0';
        r->query = q + 1;
    }
    r->srv->handler(r->srv->ctx, r, http_method_str(p->method), r->url);
    return 1; /* one request per connection */
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_headers_complete,
    .on_message_complete = on_message_complete,
};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    kw_http_req *r = h->data;

    (void)suggested;
    *buf = uv_buf_init(r->rbuf, sizeof(r->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    kw_http_req *r = s->data;
    size_t used;

    if (n == 0 || r->closing)
        return;
    if (n < 0 || r->dispatched) {
        if (!r->dispatched)
            close_conn(r);
        return;
    }
    used = http_parser_execute(&r->parser, &settings, buf->base, (size_t)n);
    if (r->dispatched)
        return;
    if (HTTP_PARSER_ERRNO(&r->parser) != HPE_OK || used != (size_t)n)
        respond_text(r, 400, "malformed request\n");
}

static void on_timeout(uv_timer_t *t)
{
    kw_http_req *r = t->data;

    kw_debug("http: a client was too slow; connection closed");
    close_conn(r);
}

static void on_connection(uv_stream_t *server, int status)
{
    kw_http_server *s = server->data;
    kw_http_req *r;

    if (status != 0 || s->closing)
        return;
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return;
    r->srv = s;
    uv_tcp_init(s->loop, &r->tcp);
    uv_timer_init(s->loop, &r->timer);
    r->tcp.data = r->timer.data = r;
    r->handles_open = 2;
    s->nconns++;
    r->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = r;
    s->conns = r;
    if (uv_accept(server, (uv_stream_t *)&r->tcp) != 0) {
        close_conn(r);
        return;
    }
    if (s->nconns > KW_HTTP_MAX_CONNS) {
        /* Full: say so and hang up, rather than let clients queue. */
        respond_text(r, 503, "too many connections\n");
        return;
    }
    http_parser_init(&r->parser, HTTP_REQUEST);
    r->parser.data = r;
    uv_timer_start(&r->timer, on_timeout, KW_HTTP_TIMEOUT_MS, 0);
    uv_read_start((uv_stream_t *)&r->tcp, on_alloc, on_read);
}

static void free_server(uv_handle_t *h)
{
    free(h->data);
}

int kw_http_listen(uv_loop_t *loop, const char *addr, kw_http_handler h,
                   void *ctx, kw_http_server **out, kw_diag *d)
{
    struct sockaddr_storage ss;
    char host[128];
    const char *colon = strrchr(addr, ':');
    size_t n;
    int port, r, len;
    kw_http_server *s;

    *out = NULL;
    if (colon == NULL)
        return kw_diag_set(d, KW_EINVAL, "%s: expected ADDRESS:PORT", addr);
    port = atoi(colon + 1);
    n = (size_t)(colon - addr);
    if (addr[0] == '[' && n >= 2 && addr[n - 1] == ']') {
        addr++;
        n -= 2;
    }
    if (n >= sizeof(host))
        return kw_diag_set(d, KW_EINVAL, "%s: address too long", addr);
    memcpy(host, addr, n);
    host[n] = '\0';
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)
        return kw_diag_set(d, KW_EINVAL,
                           "%s: not an IP address (a name would need DNS "
                           "at start)",
                           host);
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    s->loop = loop;
    s->handler = h;
    s->ctx = ctx;
    uv_tcp_init(loop, &s->tcp);
    s->tcp.data = s;
    r = uv_tcp_bind(&s->tcp, (struct sockaddr *)&ss, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&s->tcp, 128, on_connection);
    if (r != 0) {
        /* The handle is freed with the server once the loop closed it. */
        uv_close((uv_handle_t *)&s->tcp, free_server);
        return kw_diag_set(d, KW_EIO, "cannot listen on %s:%d: %s", host,
                           port, uv_strerror(r));
    }
    len = sizeof(ss);
    if (uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&ss, &len) == 0)
        s->port = ss.ss_family == AF_INET6
                      ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                      : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    *out = s;
    return 0;
}

int kw_http_port(const kw_http_server *s)
{
    return s->port;
}

void kw_http_close(kw_http_server *s)
{
    if (s == NULL || s->closing)
        return;
    s->closing = 1;
    while (s->conns != NULL)
        close_conn(s->conns);
    uv_close((uv_handle_t *)&s->tcp, free_server);
}

const char *kw_http_authorization(const kw_http_req *r)
{
    return r->auth;
}

const char *kw_http_query(const kw_http_req *r)
{
    return r->query != NULL ? r->query : "";
}
