#include "control.h"
#include "job.h"

#include "../acme/acme_jws.h"
#include "../common/kw_log.h"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Connections at once.  One that has not sent its request yet gives
 * way to a new one when they are all taken, so clients that connect and
 * say nothing cannot keep `status` out; only requests being answered
 * (at most MAX_INFLIGHT) make a new client wait. */
#define MAX_CONNS 32
#define MAX_INFLIGHT 16
#define REQUEST_TIMEOUT_MS 5000
#define BUSY                                                              \
    "busy: the daemon is answering 16 requests already; try again"

struct kw_control {
    uv_loop_t *loop;
    uv_pipe_t pipe;
    kw_control_handler handler;
    void *ctx;
    char *path;
    int nconns;
    int ninflight;
    int closing;
    kw_control_req *conns;
};

struct kw_control_req {
    kw_control *ctl;
    kw_control_req *next, *prev;
    uv_pipe_t pipe;
    uv_timer_t timer;
    uv_write_t write;
    char *in;
    size_t inlen, incap;
    char *out;
    int handles_open;
    int dispatched, replied, closing;
    char rbuf[4096];
};

static void maybe_free(kw_control_req *r)
{
    if (r->handles_open > 0 || (r->dispatched && !r->replied))
        return;
    free(r->in);
    free(r->out);
    free(r);
}

static void on_closed(uv_handle_t *h)
{
    kw_control_req *r = h->data;

    r->handles_open--;
    maybe_free(r);
}

static void close_conn(kw_control_req *r)
{
    kw_control *c = r->ctl;

    if (r->closing)
        return;
    r->closing = 1;
    c->nconns--;
    if (r->prev != NULL)
        r->prev->next = r->next;
    else if (c->conns == r)
        c->conns = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, on_closed);
    uv_close((uv_handle_t *)&r->pipe, on_closed);
}

static void on_written(uv_write_t *w, int status)
{
    (void)status;
    close_conn(w->data);
}

void kw_control_reply(kw_control_req *r, json_t *reply)
{
    char *text;
    size_t n;
    uv_buf_t b;

    if (r->dispatched && !r->replied)
        r->ctl->ninflight--;
    r->replied = 1;
    text = reply != NULL ? json_dumps(reply, JSON_COMPACT) : NULL;
    json_decref(reply);
    if (r->closing || text == NULL) {
        free(text);
        if (!r->closing)
            close_conn(r);
        maybe_free(r);
        return;
    }
    n = strlen(text);
    r->out = malloc(n + 2);
    if (r->out == NULL) {
        free(text);
        close_conn(r);
        return;
    }
    memcpy(r->out, text, n);
    free(text);
    r->out[n] = '\n';
    r->out[n + 1] = '\0';
    b = uv_buf_init(r->out, (unsigned)(n + 1));
    r->write.data = r;
    if (uv_write(&r->write, (uv_stream_t *)&r->pipe, &b, 1, on_written) != 0)
        close_conn(r);
}

static void fail_request(kw_control_req *r, const char *why)
{
    r->dispatched = 1;
    r->ctl->ninflight++;
    kw_control_reply(r, json_pack("{s:b, s:s}", "ok", 0, "error", why));
}

/* ---- the request's form --------------------------------------------------- */

void kw_control_request_free(kw_control_request *q)
{
    size_t i;

    for (i = 0; q->paths != NULL && i < q->npaths; i++)
        free(q->paths[i]);
    free(q->paths);
    memset(q, 0, sizeof(*q));
}

/* One path for "scan": bytes (n of them at p), absolute, no NUL. */
static int add_path(kw_control_request *q, const unsigned char *p, size_t n,
                    const char *field, size_t i, kw_diag *d)
{
    char *c;

    if (n == 0 || p[0] != '/' || memchr(p, '\0', n) != NULL ||
        n >= 4096)
        return kw_diag_set(d, KW_EINVAL,
                           "%s[%zu]: expected an absolute path (without NUL "
                           "bytes, under 4096 bytes)",
                           field, i);
    if ((c = malloc(n + 1)) == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    memcpy(c, p, n);
    c[n] = '\0';
    q->paths[q->npaths++] = c;
    return 0;
}

static int parse_paths(json_t *req, kw_control_request *q, kw_diag *d)
{
    json_t *plain = json_object_get(req, "paths");
    json_t *b64 = json_object_get(req, "paths_b64"), *v;
    size_t n, i;
    int r;

    if ((plain != NULL && !json_is_array(plain)) ||
        (b64 != NULL && !json_is_array(b64)))
        return kw_diag_set(d, KW_EINVAL,
                           "paths, paths_b64: expected arrays of strings");
    n = json_array_size(plain) + json_array_size(b64);
    if (n == 0 || n > KW_CONTROL_MAX_PATHS)
        return kw_diag_set(d, KW_EINVAL,
                           "paths: expected 1 to %d paths (in paths and "
                           "paths_b64), got %zu",
                           KW_CONTROL_MAX_PATHS, n);
    if ((q->paths = calloc(n, sizeof(char *))) == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    json_array_foreach(plain, i, v)
    {
        if (!json_is_string(v))
            return kw_diag_set(d, KW_EINVAL, "paths[%zu]: expected a string",
                               i);
        r = add_path(q, (const unsigned char *)json_string_value(v),
                     json_string_length(v), "paths", i, d);
        if (r != 0)
            return r;
    }
    json_array_foreach(b64, i, v)
    {
        unsigned char *bytes;
        size_t len;

        bytes = json_is_string(v)
                    ? acme_b64url_decode(json_string_value(v), &len)
                    : NULL;
        if (bytes == NULL)
            return kw_diag_set(d, KW_EINVAL,
                               "paths_b64[%zu]: expected a path in base64url",
                               i);
        r = add_path(q, bytes, len, "paths_b64", i, d);
        free(bytes);
        if (r != 0)
            return r;
    }
    return 0;
}

static int parse_run(json_t *req, kw_control_request *q, kw_diag *d)
{
    const char *type = json_string_value(json_object_get(req, "type"));
    const char *key = json_string_value(json_object_get(req, "key"));

    const kw_job_type *t = kw_job_type_find(type);
    char names[256];

    if (t == NULL) {
        kw_job_type_names(names, sizeof(names));
        return kw_diag_set(d, KW_EINVAL, "type: expected %s", names);
    }
    if (t->noun == NULL)
        key = "all"; /* the type's one job */
    if (key == NULL || key[0] == '\0')
        return kw_diag_set(d, KW_EINVAL, "key: which %s?", type);
    if (strlen(key) >= sizeof(q->key))
        return kw_diag_set(d, KW_EINVAL, "key: longer than %zu bytes",
                           sizeof(q->key) - 1);
    snprintf(q->type, sizeof(q->type), "%s", type);
    snprintf(q->key, sizeof(q->key), "%s", key);
    return 0;
}

static int parse_ids(json_t *req, kw_control_request *q, kw_diag *d)
{
    json_t *ids = json_object_get(req, "ids"), *v;
    size_t i;

    json_array_foreach(ids, i, v)
    {
        if (!json_is_integer(v) || q->nids >= KW_CONTROL_MAX_IDS)
            break;
        q->ids[q->nids++] = json_integer_value(v);
    }
    if (q->nids == 0 || q->nids != json_array_size(ids))
        return kw_diag_set(d, KW_EINVAL, "ids: expected 1 to %d object ids",
                           KW_CONTROL_MAX_IDS);
    return 0;
}

int kw_control_parse(const char *text, size_t len, kw_control_request *q,
                     kw_diag *d)
{
    json_error_t err;
    json_t *req;
    const char *cmd;
    int r = 0;

    memset(q, 0, sizeof(*q));
    req = json_loadb(text, len, 0, &err);
    cmd = json_string_value(json_object_get(req, "cmd"));
    if (req == NULL || !json_is_object(req) || cmd == NULL) {
        json_decref(req);
        return kw_diag_set(d, KW_EPARSE,
                           "expected a JSON object with \"cmd\"");
    }
    if (strcmp(cmd, "run") == 0)
        r = parse_run(req, q, d);
    else if (strcmp(cmd, "scan") == 0)
        r = parse_paths(req, q, d);
    else if (strcmp(cmd, "forget") == 0)
        r = parse_ids(req, q, d);
    else if (strcmp(cmd, "status") != 0 && strcmp(cmd, "reload") != 0)
        r = kw_diag_set(d, KW_EINVAL,
                        "unknown cmd; expected status, reload, run, scan or "
                        "forget");
    if (r == 0)
        snprintf(q->cmd, sizeof(q->cmd), "%s", cmd);
    else
        kw_control_request_free(q);
    json_decref(req);
    return r;
}

/* ---- connections ------------------------------------------------------------ */

static void dispatch(kw_control_req *r)
{
    kw_control_request q;
    kw_diag d;

    uv_read_stop((uv_stream_t *)&r->pipe);
    if (r->ctl->ninflight >= MAX_INFLIGHT) {
        fail_request(r, BUSY);
        return;
    }
    if (kw_control_parse(r->in, r->inlen, &q, &d) != 0) {
        fail_request(r, d.msg);
        return;
    }
    r->dispatched = 1;
    r->ctl->ninflight++;
    r->ctl->handler(r->ctl->ctx, r, &q);
    kw_control_request_free(&q);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    kw_control_req *r = h->data;

    (void)suggested;
    *buf = uv_buf_init(r->rbuf, sizeof(r->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    kw_control_req *r = s->data;
    char *nl;

    if (r->closing || r->dispatched || n == 0)
        return;
    if (n < 0) {
        if (n == UV_EOF && r->inlen > 0)
            dispatch(r);
        else
            close_conn(r);
        return;
    }
    if (r->inlen + (size_t)n > KW_CONTROL_MAX_REQUEST) {
        fail_request(r, "request larger than 1 MiB (send fewer paths per "
                        "request)");
        return;
    }
    if (r->inlen + (size_t)n > r->incap) {
        /* Grown as the request arrives: most are a few dozen bytes. */
        size_t cap = r->incap != 0 ? r->incap : 4096;
        char *nb;

        while (cap < r->inlen + (size_t)n)
            cap *= 2;
        if (cap > KW_CONTROL_MAX_REQUEST)
            cap = KW_CONTROL_MAX_REQUEST;
        if ((nb = realloc(r->in, cap)) == NULL) {
            fail_request(r, "out of memory");
            return;
        }
        r->in = nb;
        r->incap = cap;
    }
    memcpy(r->in + r->inlen, buf->base, (size_t)n);
    nl = memchr(r->in + r->inlen, '\n', (size_t)n);
    r->inlen += (size_t)n;
    if (nl != NULL) {
        r->inlen = (size_t)(nl - r->in);
        dispatch(r);
    }
}

static void on_timeout(uv_timer_t *t)
{
    kw_control_req *r = t->data;

    if (!r->dispatched)
        close_conn(r);
}

/* The connection that has waited longest without sending its request,
 * other than r. */
static kw_control_req *oldest_idle(kw_control *c, kw_control_req *r)
{
    kw_control_req *i, *found = NULL;

    for (i = c->conns; i != NULL; i = i->next)
        if (i != r && !i->dispatched && !i->closing)
            found = i; /* newest first: the last one seen is the oldest */
    return found;
}

static void on_connection(uv_stream_t *server, int status)
{
    kw_control *c = server->data;
    kw_control_req *r;

    if (status != 0 || c->closing)
        return;
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return;
    r->ctl = c;
    uv_pipe_init(c->loop, &r->pipe, 0);
    uv_timer_init(c->loop, &r->timer);
    r->pipe.data = r->timer.data = r;
    r->handles_open = 2;
    c->nconns++;
    r->next = c->conns;
    if (c->conns != NULL)
        c->conns->prev = r;
    c->conns = r;
    if (uv_accept(server, (uv_stream_t *)&r->pipe) != 0) {
        close_conn(r);
        return;
    }
    if (c->nconns > MAX_CONNS) {
        kw_control_req *idle = oldest_idle(c, r);

        if (idle != NULL) {
            close_conn(idle);
        } else {
            fail_request(r, BUSY);
            return;
        }
    }
    uv_timer_start(&r->timer, on_timeout, REQUEST_TIMEOUT_MS, 0);
    uv_read_start((uv_stream_t *)&r->pipe, on_alloc, on_read);
}

static void free_control(uv_handle_t *h)
{
    kw_control *c = h->data;

    free(c->path);
    free(c);
}

int kw_control_listen(uv_loop_t *loop, const char *path, const char *group,
                      kw_control_handler h, void *ctx, kw_control **out,
                      kw_diag *d)
{
    kw_control *c;
    struct stat sb;
    mode_t mode = 0600;
    gid_t gid = (gid_t)-1;
    int r;

    *out = NULL;
    if (group != NULL) {
        struct group *g = getgrnam(group);
        if (g == NULL)
            return kw_diag_set(d, KW_EINVAL,
                               "control_group = %s: no such group", group);
        gid = g->gr_gid;
        mode = 0660;
    }
    /* A socket file left by a daemon that was killed: ours to replace
     * (the lock guarantees no other daemon runs here). */
    if (lstat(path, &sb) == 0) {
        if (!S_ISSOCK(sb.st_mode))
            return kw_diag_set(d, KW_EINVAL,
                               "%s exists and is not a socket", path);
        unlink(path);
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL || (c->path = strdup(path)) == NULL) {
        free(c);
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    }
    c->loop = loop;
    c->handler = h;
    c->ctx = ctx;
    uv_pipe_init(loop, &c->pipe, 0);
    c->pipe.data = c;
    r = uv_pipe_bind(&c->pipe, path);
    if (r == 0 && (chmod(path, mode) != 0 ||
                   (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) != 0)))
        r = -errno;
    if (r == 0)
        r = uv_listen((uv_stream_t *)&c->pipe, 16, on_connection);
    if (r != 0) {
        uv_close((uv_handle_t *)&c->pipe, free_control);
        return kw_diag_set(d, KW_EIO, "control socket %s: %s", path,
                           uv_strerror(r));
    }
    *out = c;
    return 0;
}

void kw_control_close(kw_control *c)
{
    if (c == NULL || c->closing)
        return;
    c->closing = 1;
    while (c->conns != NULL)
        close_conn(c->conns);
    unlink(c->path);
    uv_close((uv_handle_t *)&c->pipe, free_control);
}

/* ---- client ---------------------------------------------------------------- */

int kw_control_call(const char *path, json_t *request, int timeout_ms,
                    json_t **reply, kw_diag *d)
{
    struct sockaddr_un sa;
    char *text = NULL, *buf = NULL;
    size_t len = 0, cap = 0, n;
    struct pollfd p;
    json_error_t err;
    int fd = -1, r = 0;
    struct timespec t0, t1;

    *reply = NULL;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path))
        return kw_diag_set(d, KW_EINVAL, "%s: socket path too long", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return kw_diag_set(d, kw_errno(), "socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        r = kw_errno();
        close(fd);
        return kw_diag_set(d, r, "%s: %s", path, strerror(-r));
    }
    text = json_dumps(request, JSON_COMPACT);
    if (text == NULL) {
        r = kw_diag_set(d, KW_ENOMEM, "out of memory");
        goto out;
    }
    n = strlen(text);
    text[n] = '\n'; /* the terminating NUL's byte becomes the newline */
    for (len = 0; len < n + 1;) {
        ssize_t w = send(fd, text + len, n + 1 - len, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        /* The daemon refused before reading it all ("busy", "too
         * large"): its reply says why. */
        if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
            break;
        if (w <= 0) {
            r = kw_diag_set(d, KW_EIO, "%s: cannot send the request: %s",
                            path, strerror(errno));
            goto out;
        }
        len += (size_t)w;
    }
    len = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    p.fd = fd;
    p.events = POLLIN;
    for (;;) {
        int left;
        ssize_t got;

        clock_gettime(CLOCK_MONOTONIC, &t1);
        left = timeout_ms - (int)((t1.tv_sec - t0.tv_sec) * 1000 +
                                  (t1.tv_nsec - t0.tv_nsec) / 1000000);
        if (left <= 0 || poll(&p, 1, left) <= 0) {
            r = kw_diag_set(d, KW_ETIMEDOUT,
                            "%s: no reply within %d s", path,
                            timeout_ms / 1000);
            goto out;
        }
        if (len + 4096 > cap) {
            char *nb;
            if (cap >= KW_CONTROL_MAX_REPLY) {
                r = kw_diag_set(d, KW_ETOOBIG, "%s: reply too large", path);
                goto out;
            }
            cap = cap ? cap * 2 : 8192;
            nb = realloc(buf, cap);
            if (nb == NULL) {
                r = kw_diag_set(d, KW_ENOMEM, "out of memory");
                goto out;
            }
            buf = nb;
        }
        got = read(fd, buf + len, cap - len - 1);
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    *reply = json_loadb(buf != NULL ? buf : "", len, 0, &err);
    if (*reply == NULL)
        r = kw_diag_set(d, KW_EPARSE, "%s: unreadable reply: %s", path,
                        err.text);
out:
    free(text);
    free(buf);
    close(fd);
    return r;
}
