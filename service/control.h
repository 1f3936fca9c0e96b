/*
 * control.h: the daemon's control socket, and the client the CLI uses.
 *
 * A Unix stream socket (default STATE_DIR/keywarden.sock, mode 0600, or
 * 0660 with [daemon] control_group).  One request per connection: a JSON
 * object on one line, answered by one JSON object on one line, then the
 * daemon closes.  Requests are bounded (16 KiB) and so is the time to send
 * one (5 s).
 *
 *   {"cmd": "status"}                      -> {"ok": true, "pid": ..., ...}
 *   {"cmd": "reload"}                      -> {"ok": true} after the reload
 *   {"cmd": "run", "type": "probe", "key": "mail"}
 *                                          -> {"ok": true} once it is due
 *   {"cmd": "scan", "paths": ["/etc/ssl"]} -> {"ok": true, "stats": {...}}
 *                                             when the scan is done
 * Errors: {"ok": false, "error": "what went wrong"}.
 */
#ifndef KW_CONTROL_H
#define KW_CONTROL_H

#include "../common/kw_err.h"

#include <jansson.h>
#include <stddef.h>
#include <uv.h>

#define KW_CONTROL_MAX_REQUEST (16 * 1024)
#define KW_CONTROL_MAX_REPLY (1024 * 1024)

typedef struct kw_control kw_control;
typedef struct kw_control_req kw_control_req;

/* Called for each request; answer with kw_control_reply(), now or later
 * (from the loop).  The handler owns nothing of req but the duty to
 * reply. */
typedef void (*kw_control_handler)(void *ctx, kw_control_req *req,
                                   json_t *request);

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
