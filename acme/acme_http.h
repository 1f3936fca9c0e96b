/*
 * acme_http.h: HTTPS requests on the libuv loop, through libcurl's multi
 * interface (curl_multi_socket_action driven by uv_poll and one uv_timer).
 *
 * Everything the network fills is bounded: the body (max_body, default
 * 1 MiB), the headers (64 KiB in all), the time (timeout_ms for the whole
 * transfer, connect_ms for the connection).  Redirects are never followed
 * here: ACME answers them with Location headers the client reads itself.
 * Only https is allowed unless allow_http is set (tests of the HTTP-01
 * pre-check use plain http).
 *
 * This header is the entry to acme/'s protocol half, which owns RFC 8555
 * on the wire: requests (this file), JWS and thumbprints (acme_jws.h), the
 * order state machine (acme_client.h), renewal information (acme_ari.h)
 * and the HTTP-01 pre-check (acme_precheck.h).  The certificate lifecycle
 * built on it (renew.h, with the pure "is it due?" of renew_due.h) has
 * its own entry, renew.h; the protocol files never include it.
 * Lifetime: acme_http_new makes a handle on a loop; acme_http_free
 * cancels what is pending and frees the handle once its libuv handles are
 * closed, so the loop must run on after it.  Callbacks run on the loop
 * thread, exactly once per request started with 0, never from inside the
 * starting call; the acme_resp they get is borrowed for the callback's
 * duration.  Nothing blocks the loop: each transfer advances in libuv
 * callbacks.
 */
#ifndef ACME_HTTP_H
#define ACME_HTTP_H

#include "../common/kw_err.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define ACME_HTTP_MAX_HEADERS (64 * 1024)

typedef struct acme_http acme_http;

typedef struct acme_http_opts {
    const char *ca_file;  /* PEM bundle to trust instead of the system's */
    long timeout_ms;      /* whole transfer; 0: 30 s */
    long connect_ms;      /* connection; 0: 10 s */
    size_t max_body;      /* 0: 1 MiB */
    int allow_http;       /* accept http:// URLs too */
    const char *user_agent; /* NULL: "keywarden/VERSION" */
} acme_http_opts;

typedef struct acme_resp {
    const char *method;
    const char *url;
    int ok;              /* the transfer completed (any HTTP status) */
    int cancelled;       /* acme_http_free() ended it */
    long status;         /* HTTP status, 0 when the transfer failed */
    char error[512];     /* why the transfer failed, when !ok */
    char *body;          /* NUL-terminated; len excludes the NUL */
    size_t len;
    char *content_type;  /* or NULL */
    char *location;      /* Location, or NULL */
    char *nonce;         /* Replay-Nonce, or NULL */
    char *link_up;       /* first Link rel="up", or NULL */
    char *link_alternate[4]; /* Link rel="alternate", up to 4 */
    size_t nalternate;
    int64_t retry_after; /* seconds from now, -1 when absent */
    double elapsed;      /* seconds */
    /* Added for the HTTP-01 pre-check (acme_http_request_ex): */
    int curl_code;       /* the CURLcode of the transfer (0: CURLE_OK) */
    int truncated;       /* the body was cut at max_body (truncate_body) */
    int tls;             /* the transfer used TLS (an https URL) */
} acme_resp;

/* Per-request options for acme_http_request_ex; zero means "as the
 * handle says".  Every pointer is copied before the call returns. */
typedef struct acme_http_req_opts {
    const char *accept;       /* Accept header, or NULL */
    const char *resolve;      /* CURLOPT_RESOLVE entry "HOST:PORT:ADDR"
                               * (ADDR an IP literal, IPv6 in brackets):
                               * the connection goes to ADDR, whatever the
                               * system resolver thinks of HOST */
    long timeout_ms;          /* whole transfer */
    long connect_ms;          /* connection (TCP and TLS handshake) */
    size_t max_body;          /* body bound for this request */
    int truncate_body;        /* past max_body: stop reading, keep the
                               * first max_body bytes and complete with
                               * ok = 1, truncated = 1 (instead of failing) */
    int tls12;                /* require TLS 1.2 or newer */
    int insecure;             /* do not verify the peer's certificate or
                               * name (the HTTP-01 VA does not) */
} acme_http_req_opts;

/* Called once per request, on the loop.  r and its strings are freed when
 * the callback returns; take copies of what must live longer. */
typedef void (*acme_http_cb)(void *ctx, acme_resp *r);

int acme_http_new(uv_loop_t *loop, const acme_http_opts *o, acme_http **out,
                  kw_diag *d);

/* Starts method ("GET", "HEAD" or "POST") on url.  body (POST only) is
 * copied; content_type defaults to application/jose+json for a POST.
 * accept may be NULL.  cb is called exactly once, unless this returns an
 * error (then never). */
int acme_http_request(acme_http *h, const char *method, const char *url,
                      const char *body, const char *content_type,
                      const char *accept, acme_http_cb cb, void *ctx,
                      kw_diag *d);

/* As acme_http_request, with per-request options (ro may be NULL). */
int acme_http_request_ex(acme_http *h, const char *method, const char *url,
                         const char *body, const char *content_type,
                         const acme_http_req_opts *ro, acme_http_cb cb,
                         void *ctx, kw_diag *d);

/* The loop h runs on. */
uv_loop_t *acme_http_loop(const acme_http *h);

/* Requests not yet answered. */
size_t acme_http_pending(const acme_http *h);

/* Ends every pending request (each callback runs with cancelled = 1) and
 * frees h once its handles are closed (the loop must run on). */
void acme_http_free(acme_http *h);

/* One response header line, as the server sent it ("Name: value\r\n"),
 * into r: Replay-Nonce, Location, Content-Type, Retry-After and Link
 * (rel="up", rel="alternate").  A status line ("HTTP/...") starts a new
 * response and clears them.  The fields are malloc'd; acme_resp_clear
 * frees them.  Exposed for the fuzz target and the unit tests. */
void acme_resp_header(acme_resp *r, const char *line, size_t n, int64_t now);
void acme_resp_clear(acme_resp *r);

/* Seconds from now of a Retry-After value (delta-seconds or HTTP-date),
 * at most 366 days; -1 when it is neither.  Exposed for tests. */
int64_t acme_retry_after_parse(const char *v, int64_t now);

#endif
