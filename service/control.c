#include "control.h"

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

#define MAX_CONNS 16
#define REQUEST_TIMEOUT_MS 5000

struct kw_control {
    uv_loop_t *loop;
    uv_pipe_t pipe;
    kw_control_handler handler;
    void *ctx;
    char *path;
    int nconns;
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
    size_t inlen;
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
    kw_control_reply(r, json_pack("{s:b, s:s}", "ok", 0, "error", why));
}

static void dispatch(kw_control_req *r)
{
    json_error_t err;
    json_t *req;

    r->dispatched = 1;
    uv_read_stop((uv_stream_t *)&r->pipe);
    req = json_loadb(r->in, r->inlen, 0, &err);
    if (req == NULL || !json_is_object(req) ||
        !json_is_string(json_object_get(req, "cmd"))) {
        json_decref(req);
        r->dispatched = 0;
        fail_request(r, "expected a JSON object with \"cmd\"");
        return;
    }
    r->ctl->handler(r->ctl->ctx, r, req);
    json_decref(req);
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
        fail_request(r, "request larger than 16 KiB");
        return;
    }
    memcpy(r->in + r->inlen, buf->base, (size_t)n);
    r->inlen += (size_t)n;
    nl = memchr(r->in, '\n', r->inlen);
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

static void on_connection(uv_stream_t *server, int status)
{
    kw_control *c = server->data;
    kw_control_req *r;

    if (status != 0 || c->closing)
        return;
    r = calloc(1, sizeof(*r));
    if (r == NULL || (r->in = malloc(KW_CONTROL_MAX_REQUEST)) == NULL) {
        free(r);
        return;
    }
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
        fail_request(r, "busy");
        return;
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
    if (write(fd, text, n + 1) != (ssize_t)(n + 1)) {
        r = kw_diag_set(d, KW_EIO, "%s: cannot send the request", path);
        goto out;
    }
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
