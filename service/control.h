/*
 * control.h: the daemon's control socket, and the client the CLI uses.
 *
 * A Unix stream socket (default STATE_DIR/keywarden.sock, mode 0600, or
 * 0660 with [daemon] control_group).  One request per connection: a JSON
 * object on one line, answered by one JSON object on one line, then the
 * daemon closes.  Requests are bounded (KW_CONTROL_MAX_REQUEST, 1 MiB)
 * and so is the time to send one (5 s).
 *
 *   {"cmd": "status"}                      -> {"ok": true, "pid": ..., ...}
 *   {"cmd": "reload"}                      -> {"ok": true} once the new
 *                                             configuration is in use, or
 *                                             {"ok": false, "error": why}
 *                                             and the old one stays
 *   {"cmd": "run", "type": "probe", "key": "mail"}
 *                                          -> {"ok": true} once it is due
 *   {"cmd": "scan", "paths": ["/etc/ssl"]} -> {"ok": true, "stats": {...}}
 *                                             when the scan is done
 *   {"cmd": "forget", "ids": [12, 13]}     -> {"ok": true}
 *
 * A path is bytes, and JSON strings carry only UTF-8, so "scan" also
 * takes "paths_b64": each path's bytes in base64url (RFC 4648 section 5,
 * padding optional), e.g. "L3RtcC9h_w" for "/tmp/a\xff".  The CLI always
 * sends that form; "paths" and "paths_b64" may be mixed, at most
 * KW_CONTROL_MAX_PATHS in all per request (the CLI sends more in several
 * requests).
 * Errors: {"ok": false, "error": "what went wrong"}.
 */
#ifndef KW_CONTROL_H
#define KW_CONTROL_H

#include "../common/kw_err.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define KW_CONTROL_MAX_REQUEST (1024 * 1024)
#define KW_CONTROL_MAX_REPLY (1024 * 1024)
#define KW_CONTROL_MAX_PATHS 1024
#define KW_CONTROL_MAX_IDS 64

typedef struct kw_control kw_control;
typedef struct kw_control_req kw_control_req;

/* A request, parsed and checked for form (whether a named endpoint or
 * certificate exists is the daemon's to say). */
typedef struct kw_control_request {
    char cmd[16];            /* status, reload, run, scan or forget */
    char type[16];           /* run: scan, probe, renew or precheck */
    char key[128];           /* run: the endpoint or certificate; "all" */
    int64_t ids[KW_CONTROL_MAX_IDS]; /* forget */
    size_t nids;
    char **paths;            /* scan: absolute paths, any bytes but NUL */
    size_t npaths;
} kw_control_request;

/* Parse one request line (text, len bytes, no newline needed).  Pure:
 * no I/O, so a fuzzer can drive it.  On error d says what is wrong in
 * words to send back; *out is then empty.  Free with
 * kw_control_request_free(). */
int kw_control_parse(const char *text, size_t len, kw_control_request *out,
                     kw_diag *d);
void kw_control_request_free(kw_control_request *q);

/* Called for each request; answer with kw_control_reply(), now or later
 * (from the loop).  The handler owns nothing of req but the duty to
 * reply; it may take q's paths (setting q->paths to NULL). */
typedef void (*kw_control_handler)(void *ctx, kw_control_req *req,
                                   kw_control_request *q);

int kw_control_listen(uv_loop_t *loop, const char *path, const char *group,
                      kw_control_handler h, void *ctx, kw_control **out,
                      kw_diag *d);

/* Send reply (taken over) and close the connection. */
void kw_control_reply(kw_control_req *req, json_t *reply);

/* Stop listening, close connections, remove the socket file. */
void kw_control_close(kw_control *c);

/* Client side: send request to the daemon at path and wait (up to
 * timeout_ms) for the reply.  KW_ENOENT (or -ECONNREFUSED) when no daemon
 * listens there. */
int kw_control_call(const char *path, json_t *request, int timeout_ms,
                    json_t **reply, kw_diag *d);

#endif
