/*
 * http.h: a small HTTP/1.1 server on the loop, for /metrics and /healthz.
 *
 * Requests are parsed by Debian's http-parser, never by hand.  Everything
 * a client controls is bounded: 256 connections, 8 KiB of request head,
 * 2 KiB of URL, no request body, and 10 s from accept to the end of the
 * response (a slow or silent client is cut off, it cannot hold a slot).
 * One request per connection (Connection: close).  Of the headers only
 * Authorization is kept (the page's token, web_auth).
 */
#ifndef KW_HTTP_H
#define KW_HTTP_H

#include "../common/kw_err.h"

#include <stddef.h>
#include <uv.h>

#define KW_HTTP_MAX_CONNS 256
#define KW_HTTP_MAX_HEAD 8192
#define KW_HTTP_MAX_URL 2048
#define KW_HTTP_TIMEOUT_MS 10000
#define KW_HTTP_MAX_AUTH 512 /* the Authorization header kept */

typedef struct kw_http_server kw_http_server;
typedef struct kw_http_req kw_http_req;

/* Called once per complete request.  The handler must answer with
 * kw_http_respond(), now or later (from the loop); req stays valid until
 * then even if the client went away. */
typedef void (*kw_http_handler)(void *ctx, kw_http_req *req,
                                const char *method, const char *path);

/* Listen on "ADDRESS:PORT" ("127.0.0.1:9177", "[::1]:9177"). */
int kw_http_listen(uv_loop_t *loop, const char *addr, kw_http_handler h,
                   void *ctx, kw_http_server **out, kw_diag *d);

/* Send the response and close the connection.  body is malloc'd and
 * taken over (freed here); NULL with len 0 for an empty body. */
void kw_http_respond(kw_http_req *req, int status, const char *content_type,
                     char *body, size_t len);

/* The same with extra header lines ("Name: value\r\n" each, the
 * program's own, never a client's). */
void kw_http_respond_h(kw_http_req *req, int status,
                       const char *content_type, const char *extra,
                       char *body, size_t len);

/* The request's Authorization header ("" when absent; cut at
 * KW_HTTP_MAX_AUTH bytes). */
const char *kw_http_authorization(const kw_http_req *req);

/* The request's query string, after the '?' of the URL ("" without;
 * the handler's path has none). */
const char *kw_http_query(const kw_http_req *req);

/* Stop listening and close every connection; pending requests are still
 * answered into the void (kw_http_respond frees them). */
void kw_http_close(kw_http_server *s);

/* The port actually bound (when listening on port 0, for tests). */
int kw_http_port(const kw_http_server *s);

#endif
