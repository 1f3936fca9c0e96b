/*
 * probe.c: one TLS probe, as a state machine on the loop.
 *
 *   RESOLVE --> CONNECT --+--------------------------------> HANDSHAKE --> done
 *                         |                                   ^
 *                         +--> GREETING --> (EHLO) --> STARTTLS
 *
 * Every transition goes through set_phase(), which the timeout message
 * uses to say where the probe was ("timed out after 10 s during the TLS
 * handshake").  finish() closes the handles; the callback runs once both
 * are closed, so the caller may free everything it gave us.
 */
#include "probe.h"

#include "../keystore/ks_endpoint.h"
#include "../keystore/ks_keygen.h"

#include "../common/kw_log.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LINE_MAX_BYTES 4096    /* one protocol line */
#define DIALOGUE_MAX (64 * 1024) /* all plain text before TLS */
#define READ_BUF 16384

enum phase {
    P_RESOLVE,
    P_CONNECT,
    P_GREETING,
    P_EHLO,
    P_STARTTLS,
    P_HANDSHAKE,
    P_DONE,
};

static const char *phase_words(enum phase p)
{
    switch (p) {
    case P_RESOLVE: return "while resolving the name";
    case P_CONNECT: return "while connecting";
    case P_GREETING: return "while waiting for the server's greeting";
    case P_EHLO: return "while waiting for the EHLO reply";
    case P_STARTTLS: return "while waiting for the STARTTLS reply";
    case P_HANDSHAKE: return "during the TLS handshake";
    default: return "while finishing";
    }
}

struct kw_probe {
    uv_loop_t *loop;
    kw_probe_cb cb;
    void *ctx;
    char *host, *sni;
    int port;
    enum kw_starttls starttls;
    uint64_t timeout_ms;
    uv_getaddrinfo_t gai;
    struct addrinfo *ai, *cur;
    uv_tcp_t tcp;
    int tcp_inited;
    uv_connect_t conn;
    uv_timer_t timer;
    int handles_open; /* the timer, and the socket while it is open */
    int gai_pending;  /* the resolver still owns part of us */
    enum phase phase;
    char line[LINE_MAX_BYTES + 1];
    size_t linelen;
    size_t dialogue;
    int has_starttls;
    SSL *ssl;
    BIO *rbio, *wbio;
    char rbuf[READ_BUF];
    uint64_t started;
    int finished;
    kw_probe_result res;
};

typedef struct kw_probe probe;

static SSL_CTX *g_ctx;

static SSL_CTX *client_ctx(void)
{
    if (g_ctx == NULL) {
        g_ctx = SSL_CTX_new(TLS_client_method());
        if (g_ctx != NULL) {
            /* A probe reports what is served, trusted or not. */
            SSL_CTX_set_verify(g_ctx, SSL_VERIFY_NONE, NULL);
            SSL_CTX_set_mode(g_ctx, SSL_MODE_AUTO_RETRY);
        }
    }
    return g_ctx;
}

void kw_probe_result_clear(kw_probe_result *res)
{
    size_t i;

    for (i = 0; i < res->nchain; i++) {
        ks_cert_clear(&res->chain[i]);
        OPENSSL_free(res->der[i]);
    }
    memset(res, 0, sizeof(*res));
}

static uint64_t now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void set_phase(probe *p, enum phase ph)
{
    kw_debug("probe %s:%d: %s -> %s", p->host, p->port,
             phase_words(p->phase), phase_words(ph));
    p->phase = ph;
}

static void free_probe(probe *p)
{
    if (p->ai != NULL)
        uv_freeaddrinfo(p->ai);
    SSL_free(p->ssl); /* frees both BIOs */
    free(p->host);
    free(p->sni);
    free(p);
}

/* The callback runs once nothing of ours is in libuv's hands any more. */
static void maybe_complete(probe *p)
{
    if (p->handles_open > 0 || p->gai_pending)
        return;
    p->res.elapsed_ms = (double)(now_ms() - p->started);
    if (p->cb != NULL)
        p->cb(p->ctx, &p->res);
    else
        kw_probe_result_clear(&p->res);
    free_probe(p);
}

static void on_closed(uv_handle_t *h)
{
    probe *p = h->data;

    p->handles_open--;
    maybe_complete(p);
}

static void finish(probe *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* End the probe: with an error when fmt is not NULL. */
static void finish(probe *p, const char *fmt, ...)
{
    va_list ap;

    if (p->finished)
        return;
    p->finished = 1;
    if (fmt != NULL) {
        va_start(ap, fmt);
        vsnprintf(p->res.error, sizeof(p->res.error), fmt, ap);
        va_end(ap);
        p->res.ok = 0;
    }
    set_phase(p, P_DONE);
    if (p->gai_pending)
        uv_cancel((uv_req_t *)&p->gai); /* its callback still runs */
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, on_closed);
    if (p->tcp_inited) {
        p->tcp_inited = 0;
        uv_close((uv_handle_t *)&p->tcp, on_closed);
    }
}

static void on_timeout(uv_timer_t *t)
{
    probe *p = t->data;

    finish(p, "timed out after %llu s %s",
           (unsigned long long)(p->timeout_ms / 1000), phase_words(p->phase));
}

static void on_write(uv_write_t *w, int status)
{
    probe *p = w->data;

    free(w);
    if (status != 0 && !p->finished)
        finish(p, "sending to %s: %s", p->res.address, uv_strerror(status));
}

static int send_bytes(probe *p, const void *data, size_t len)
{
    uv_write_t *w = malloc(sizeof(*w) + len);
    uv_buf_t b;
    int r;

    if (w == NULL)
        return UV_ENOMEM;
    memcpy(w + 1, data, len);
    w->data = p;
    b = uv_buf_init((char *)(w + 1), (unsigned)len);
    r = uv_write(w, (uv_stream_t *)&p->tcp, &b, 1, on_write);
    if (r != 0)
        free(w);
    return r;
}

static void send_line(probe *p, const char *s)
{
    int r = send_bytes(p, s, strlen(s));

    if (r != 0)
        finish(p, "sending to %s: %s", p->res.address, uv_strerror(r));
}

/* Move TLS records OpenSSL produced to the socket. */
static int flush_tls(probe *p)
{
    char buf[READ_BUF];
    int n, r;

    while ((n = BIO_read(p->wbio, buf, sizeof(buf))) > 0)
        if ((r = send_bytes(p, buf, (size_t)n)) != 0)
            return r;
    return 0;
}

static void collect_chain(probe *p)
{
    STACK_OF(X509) *sk = SSL_get_peer_cert_chain(p->ssl);
    const char *name = p->sni != NULL ? p->sni : p->host;
    X509 *leaf = SSL_get0_peer_certificate(p->ssl);
    int i, n = sk != NULL ? sk_X509_num(sk) : 0;

    snprintf(p->res.tls_version, sizeof(p->res.tls_version), "%s",
             SSL_get_version(p->ssl));
    snprintf(p->res.cipher, sizeof(p->res.cipher), "%s",
             SSL_get_cipher_name(p->ssl));
    for (i = 0; i < n && p->res.nchain < KW_PROBE_MAX_CHAIN; i++) {
        unsigned char *der = NULL;
        int len = i2d_X509(sk_X509_value(sk, i), &der);
        kw_diag d;

        if (len > 0 && ks_cert_decode(der, (size_t)len, 0,
                                      &p->res.chain[p->res.nchain], NULL,
                                      &d) == 0) {
            p->res.der[p->res.nchain] = der;
            p->res.der_len[p->res.nchain++] = (size_t)len;
            continue;
        }
        OPENSSL_free(der);
    }
    if (leaf != NULL)
        p->res.name_matches = ks_cert_covers(leaf, name);
    p->res.ok = p->res.nchain > 0;
    if (!p->res.ok)
        snprintf(p->res.error, sizeof(p->res.error),
                 "the server sent no certificate");
}

static void drive_handshake(probe *p)
{
    int r = SSL_do_handshake(p->ssl), e;
    unsigned long err;
    char why[256];

    if (flush_tls(p) != 0) {
        finish(p, "sending to %s failed", p->res.address);
        return;
    }
    if (r == 1) {
        collect_chain(p);
        finish(p, NULL);
        return;
    }
    e = SSL_get_error(p->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return;
    err = ERR_peek_last_error();
    ERR_error_string_n(err, why, sizeof(why));
    ERR_clear_error();
    finish(p, "TLS handshake with %s failed: %s", p->res.address,
           err != 0 ? ERR_reason_error_string(err) != NULL
                          ? ERR_reason_error_string(err)
                          : why
                    : "connection closed");
}

static void start_tls(probe *p)
{
    SSL_CTX *ctx = client_ctx();

    set_phase(p, P_HANDSHAKE);
    if (ctx == NULL || (p->ssl = SSL_new(ctx)) == NULL ||
        (p->rbio = BIO_new(BIO_s_mem())) == NULL ||
        (p->wbio = BIO_new(BIO_s_mem())) == NULL) {
        BIO_free(p->rbio);
        p->rbio = NULL;
        finish(p, "cannot set up TLS: out of memory");
        return;
    }
    SSL_set_bio(p->ssl, p->rbio, p->wbio);
    SSL_set_connect_state(p->ssl);
    if (p->sni != NULL)
        SSL_set_tlsext_host_name(p->ssl, p->sni);
    drive_handshake(p);
}

/* One complete line of the plain-text dialogue. */
static void on_line(probe *p, const char *l)
{
    switch (p->starttls) {
    case KW_TLS_SMTP:
        if (strlen(l) < 3) {
            finish(p, "SMTP: malformed reply \"%s\"", l);
            return;
        }
        if (p->phase == P_EHLO &&
            (strncasecmp(l + 4, "STARTTLS", 8) == 0 && (l[4 + 8] == '\0' ||
                                                       l[4 + 8] == ' ')))
            p->has_starttls = 1;
        if (l[3] == '-')
            return; /* more lines of a multi-line reply follow */
        if (p->phase == P_GREETING) {
            if (strncmp(l, "220", 3) != 0) {
                finish(p, "SMTP greeting refused: \"%s\"", l);
                return;
            }
            set_phase(p, P_EHLO);
            send_line(p, "EHLO keywarden.invalid\r\n");
        } else if (p->phase == P_EHLO) {
            if (strncmp(l, "250", 3) != 0) {
                finish(p, "SMTP EHLO refused: \"%s\"", l);
                return;
            }
            if (!p->has_starttls) {
                finish(p, "SMTP server at %s does not offer STARTTLS",
                       p->res.address);
                return;
            }
            set_phase(p, P_STARTTLS);
            send_line(p, "STARTTLS\r\n");
        } else if (p->phase == P_STARTTLS) {
            if (strncmp(l, "220", 3) != 0) {
                finish(p, "SMTP STARTTLS refused: \"%s\"", l);
                return;
            }
            start_tls(p);
        }
        return;
    case KW_TLS_IMAP:
        if (p->phase == P_GREETING) {
            if (strncmp(l, "* OK", 4) != 0) {
                finish(p, "IMAP greeting refused: \"%s\"", l);
                return;
            }
            set_phase(p, P_STARTTLS);
            send_line(p, "a1 STARTTLS\r\n");
        } else if (p->phase == P_STARTTLS && strncmp(l, "a1 ", 3) == 0) {
            if (strncmp(l, "a1 OK", 5) != 0) {
                finish(p, "IMAP STARTTLS refused: \"%s\"", l);
                return;
            }
            start_tls(p);
        }
        return;
    case KW_TLS_POP3:
        if (strncmp(l, "+OK", 3) != 0) {
            finish(p, "POP3 %s refused: \"%s\"",
                   p->phase == P_GREETING ? "greeting" : "STLS", l);
            return;
        }
        if (p->phase == P_GREETING) {
            set_phase(p, P_STARTTLS);
            send_line(p, "STLS\r\n");
        } else {
            start_tls(p);
        }
        return;
    default:
        return;
    }
}

static void on_plain(probe *p, const char *data, size_t n)
{
    size_t i;

    p->dialogue += n;
    if (p->dialogue > DIALOGUE_MAX) {
        finish(p, "%s sent more than %d bytes before TLS", p->res.address,
               DIALOGUE_MAX);
        return;
    }
    for (i = 0; i < n && !p->finished; i++) {
        if (p->phase == P_HANDSHAKE) {
            /* Bytes after the STARTTLS reply are the server's TLS. */
            BIO_write(p->rbio, data + i, (int)(n - i));
            drive_handshake(p);
            return;
        }
        if (data[i] == '\n') {
            if (p->linelen > 0 && p->line[p->linelen - 1] == '\r')
                p->linelen--;
            p->line[p->linelen] = '\0';
            p->linelen = 0;
            on_line(p, p->line);
            continue;
        }
        if (p->linelen >= LINE_MAX_BYTES) {
            finish(p, "%s sent a line longer than %d bytes", p->res.address,
                   LINE_MAX_BYTES);
            return;
        }
        p->line[p->linelen++] = data[i];
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    probe *p = h->data;

    (void)suggested;
    *buf = uv_buf_init(p->rbuf, sizeof(p->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    probe *p = s->data;

    if (p->finished || n == 0)
        return;
    if (n < 0) {
        finish(p, "%s closed the connection %s%s%s", p->res.address,
               phase_words(p->phase), n == UV_EOF ? "" : ": ",
               n == UV_EOF ? "" : uv_strerror((int)n));
        return;
    }
    if (p->phase == P_HANDSHAKE) {
        BIO_write(p->rbio, buf->base, (int)n);
        drive_handshake(p);
    } else {
        on_plain(p, buf->base, (size_t)n);
    }
}

static void try_connect(probe *p);

static void on_retry_closed(uv_handle_t *h)
{
    probe *p = h->data;

    p->handles_open--;
    if (p->finished)
        maybe_complete(p);
    else
        try_connect(p);
}

static void on_connect(uv_connect_t *c, int status)
{
    probe *p = c->data;

    if (p->finished)
        return;
    if (status != 0) {
        snprintf(p->res.error, sizeof(p->res.error), "connecting to %s: %s",
                 p->res.address, uv_strerror(status));
        p->cur = p->cur->ai_next;
        if (p->cur == NULL) {
            char why[sizeof(p->res.error)];

            memcpy(why, p->res.error, sizeof(why));
            finish(p, "%s", why);
            return;
        }
        /* Another address, on a fresh socket once this one is closed. */
        p->tcp_inited = 0;
        uv_close((uv_handle_t *)&p->tcp, on_retry_closed);
        return;
    }
    p->res.error[0] = '\0';
    uv_read_start((uv_stream_t *)&p->tcp, on_alloc, on_read);
    if (p->starttls == KW_TLS_IMPLICIT)
        start_tls(p);
    else
        set_phase(p, P_GREETING);
}

static void format_addr(const struct sockaddr *sa, char *out, size_t len)
{
    char ip[INET6_ADDRSTRLEN];

    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        snprintf(out, len, "[%s]:%d", ip, ntohs(s6->sin6_port));
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        snprintf(out, len, "%s:%d", ip, ntohs(s4->sin_port));
    }
}

static void try_connect(probe *p)
{
    int r;

    set_phase(p, P_CONNECT);
    format_addr(p->cur->ai_addr, p->res.address, sizeof(p->res.address));
    uv_tcp_init(p->loop, &p->tcp);
    p->tcp.data = p;
    p->tcp_inited = 1;
    p->handles_open++;
    p->conn.data = p;
    r = uv_tcp_connect(&p->conn, &p->tcp, p->cur->ai_addr, on_connect);
    if (r != 0)
        finish(p, "connecting to %s: %s", p->res.address, uv_strerror(r));
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *ai)
{
    probe *p = g->data;

    p->ai = ai;
    p->gai_pending = 0;
    if (p->finished) {
        maybe_complete(p);
        return;
    }
    if (status != 0 || ai == NULL) {
        finish(p, "cannot resolve %s: %s", p->host, uv_strerror(status));
        return;
    }
    p->cur = ai;
    try_connect(p);
}

void kw_probe_cancel(kw_probe *p)
{
    if (p->finished)
        return;
    p->res.cancelled = 1;
    finish(p, "cancelled");
}

int kw_probe_start(uv_loop_t *loop, const kw_endpoint_conf *ep,
                   kw_probe_cb cb, void *ctx, kw_probe **handle)
{
    struct addrinfo hints;
    char port[8];
    probe *p;
    int r;

    if (handle != NULL)
        *handle = NULL;
    if (ep->host == NULL || ep->port <= 0 || ep->port > 65535)
        return KW_EINVAL;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return KW_ENOMEM;
    p->loop = loop;
    p->cb = cb;
    p->ctx = ctx;
    p->port = ep->port;
    p->starttls = ep->starttls;
    p->timeout_ms = (uint64_t)(ep->timeout > 0 ? ep->timeout : 10) * 1000;
    p->host = strdup(ep->host);
    p->sni = ep->sni != NULL ? strdup(ep->sni) : NULL;
    if (p->host == NULL || (ep->sni != NULL && p->sni == NULL)) {
        free_probe(p);
        return KW_ENOMEM;
    }
    p->started = now_ms();
    uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    p->handles_open = 1;
    uv_timer_start(&p->timer, on_timeout, p->timeout_ms, 0);

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof(port), "%d", ep->port);
    p->gai.data = p;
    set_phase(p, P_RESOLVE);
    r = uv_getaddrinfo(loop, &p->gai, on_resolved, p->host, port, &hints);
    if (r != 0) {
        /* A synchronous failure: the callback must not run; the timer is
         * freed with the probe once the loop has closed it. */
        p->cb = NULL;
        p->finished = 1;
        uv_timer_stop(&p->timer);
        uv_close((uv_handle_t *)&p->timer, on_closed);
        return KW_EINVAL;
    }
    p->gai_pending = 1;
    if (handle != NULL)
        *handle = p;
    return 0;
}

int kw_parse_host_port(const char *s, int default_port, char *host,
                       size_t hostlen, int *port)
{
    const char *colon;
    size_t n;
    char *end;
    long v;

    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (rb == NULL)
            return KW_EINVAL;
        n = (size_t)(rb - s - 1);
        colon = rb[1] == ':' ? rb + 1 : NULL;
        if (rb[1] != '\0' && colon == NULL)
            return KW_EINVAL;
        s++;
    } else {
        colon = strrchr(s, ':');
        if (colon != NULL && strchr(s, ':') != colon)
            colon = NULL; /* a bare IPv6 address: no port */
        n = colon != NULL ? (size_t)(colon - s) : strlen(s);
    }
    if (n == 0 || n >= hostlen)
        return KW_EINVAL;
    memcpy(host, s, n);
    host[n] = '\0';
    if (colon == NULL) {
        if (default_port <= 0)
            return KW_EINVAL;
        *port = default_port;
        return 0;
    }
    v = strtol(colon + 1, &end, 10);
    if (*end != '\0' || v < 1 || v > 65535)
        return KW_EINVAL;
    *port = (int)v;
    return 0;
}

void kw_probe_obs_fill(ks_probe_obs *o, const kw_endpoint_conf *ep,
                       const kw_probe_result *res)
{
    memset(o, 0, sizeof(*o));
    o->name = ep->name;
    o->host = ep->host;
    o->port = ep->port;
    o->sni = ep->sni;
    o->starttls = kw_starttls_word(ep->starttls);
    o->origin = "config";
    o->ok = res->ok;
    o->error = res->error;
    o->tls_version = res->tls_version;
    o->name_matches = res->name_matches;
    o->chain = res->chain;
    o->nchain = res->nchain;
}
