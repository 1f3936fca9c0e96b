/*
 * hook_run.c: one hook process on the libuv loop.
 *
 * A run owns four handles: the process, a pipe for its stdin, a pipe for
 * its stdout and stderr together, and one timer.  Its phases:
 *
 *   RUNNING  the program runs; the timer is armed for the deadline.
 *   DRAIN    the program exited but its output is still open (something it
 *            started holds it); the timer bounds how long we keep reading.
 *   TERM     the deadline passed; the group got SIGTERM, the timer is armed
 *            for KW_HOOK_KILL_GRACE_MS.
 *   KILL     the group got SIGKILL; the timer gives it one more second.
 *   DONE     finish() ran: every handle is closing; the last close callback
 *            delivers the result.
 *
 * RUNNING -> DRAIN (exit before EOF), RUNNING/DRAIN -> DONE (exit and EOF,
 * or DRAIN's timer), RUNNING -> TERM (deadline), TERM -> KILL (timer),
 * TERM/KILL -> DONE (exit and EOF, or KILL's timer).  A spawn failure goes
 * straight to DONE.
 *
 * Invariants: the callback runs exactly once, from a close callback, so
 * never inside kw_hook_run() and only when no handle of the run is left
 * open; the captured output never exceeds max_output bytes of memory.
 */
#include "hook_run.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/kw_log.h"

enum run_phase { PH_RUNNING, PH_DRAIN, PH_TERM, PH_KILL, PH_DONE };

/* How long to keep reading after the program exited, and how long to wait
 * after SIGKILL before giving up on the group. */
#define DRAIN_MS 1000
#define AFTER_KILL_MS 1000
#define READ_CHUNK 65536

typedef struct hook_run {
    uv_loop_t *loop;
    uv_process_t proc;
    uv_pipe_t in;
    uv_pipe_t out;
    uv_timer_t timer;
    uv_write_t wreq;

    kw_hook_cb cb;
    void *ctx;

    enum run_phase phase;
    int pending_closes;
    int in_open, out_open, proc_exited;
    int proc_inited; /* uv_spawn() was called: the handle must be closed */
    int pid;
    char path[256]; /* argv[0], for messages */

    char *stdin_buf;
    size_t stdin_len;

    uint64_t start_ns;
    uint64_t deadline_ns;

    /* Output: the first head_cap bytes, then a ring of the last tail_cap. */
    char *head;
    size_t head_cap, head_len;
    char *tail;
    size_t tail_cap;
    uint64_t tail_written;

    kw_hook_result res;
    char rbuf[READ_CHUNK];
} hook_run;

static void finish(hook_run *r);

static void set_phase(hook_run *r, enum run_phase p)
{
    static const char *const names[] = {"running", "drain", "term", "kill",
                                        "done"};

    kw_debug("hook %s[%d]: %s -> %s", r->path, r->pid, names[r->phase],
             names[p]);
    r->phase = p;
}

/* ---- output capture ---------------------------------------------------- */

static void capture(hook_run *r, const char *p, size_t n)
{
    size_t k, pos;

    if (r->head_len < r->head_cap) {
        k = r->head_cap - r->head_len;
        if (k > n)
            k = n;
        memcpy(r->head + r->head_len, p, k);
        r->head_len += k;
        p += k;
        n -= k;
    }
    if (n == 0 || r->tail_cap == 0) {
        r->tail_written += n;
        return;
    }
    /* Only the last tail_cap bytes of a big chunk can survive. */
    if (n > r->tail_cap) {
        r->tail_written += n - r->tail_cap;
        p += n - r->tail_cap;
        n = r->tail_cap;
    }
    while (n > 0) {
        pos = (size_t)(r->tail_written % r->tail_cap);
        k = r->tail_cap - pos;
        if (k > n)
            k = n;
        memcpy(r->tail + pos, p, k);
        r->tail_written += k;
        p += k;
        n -= k;
    }
}

/* The last non-empty line, sanitised for a one-line health reason. */
static void find_last_line(hook_run *r)
{
    const char *o = r->res.output;
    size_t end = r->res.output_len, start, i, j;
    unsigned char c;

    while (end > 0 && (o[end - 1] == '\n' || o[end - 1] == '\r' ||
                       o[end - 1] == ' ' || o[end - 1] == '\t'))
        end--;
    start = end;
    while (start > 0 && o[start - 1] != '\n')
        start--;
    for (i = start, j = 0; i < end && j < sizeof(r->res.last_line) - 1;
         i++, j++) {
        c = (unsigned char)o[i];
        if (c == '\t')
            c = ' ';
        else if (c < 0x20 || c == 0x7f)
            c = '?';
        r->res.last_line[j] = (char)c;
    }
    r->res.last_line[j] = '\0';
}

/* Assemble head + marker + tail into res.output. */
static void build_output(hook_run *r)
{
    size_t kept, pos, len;
    char marker[80];
    int mlen = 0;
    char *o;

    kept = r->tail_written < r->tail_cap ? (size_t)r->tail_written
                                         : r->tail_cap;
    r->res.dropped = (size_t)(r->tail_written - kept);
    if (r->res.dropped > 0)
        mlen = snprintf(marker, sizeof(marker),
                        "\n[keywarden: %zu bytes of output dropped]\n",
                        r->res.dropped);
    len = r->head_len + (size_t)mlen + kept;
    o = malloc(len + 1);
    if (o == NULL) {
        /* Keep the callback's promise of a non-NULL buffer. */
        r->res.output = r->rbuf;
        r->res.output_len = 0;
        r->rbuf[0] = '\0';
        snprintf(r->res.error, sizeof(r->res.error),
                 "out of memory assembling the output of %s", r->path);
        return;
    }
    memcpy(o, r->head, r->head_len);
    memcpy(o + r->head_len, marker, (size_t)mlen);
    if (kept > 0) {
        /* The ring's oldest byte is at tail_written % tail_cap once it has
         * wrapped, else at 0. */
        pos = r->tail_written > r->tail_cap
                  ? (size_t)(r->tail_written % r->tail_cap)
                  : 0;
        memcpy(o + r->head_len + mlen, r->tail + pos, kept - pos);
        memcpy(o + r->head_len + mlen + (kept - pos), r->tail, pos);
    }
    o[len] = '\0';
    r->res.output = o;
    r->res.output_len = len;
    find_last_line(r);
}

/* ---- teardown ----------------------------------------------------------- */

static void on_close(uv_handle_t *h)
{
    hook_run *r = h->data;
    char *out;

    /* Stdin and output may close long before the run ends. */
    if (--r->pending_closes > 0 || r->phase != PH_DONE)
        return;
    build_output(r);
    r->cb(r->ctx, &r->res);
    out = r->res.output;
    if (out != NULL && out != r->rbuf)
        free(out);
    free(r->stdin_buf);
    free(r->head); /* tail lives in the same allocation */
    free(r);
}

static void close_one(hook_run *r, uv_handle_t *h)
{
    if (uv_is_closing(h))
        return;
    r->pending_closes++;
    uv_close(h, on_close);
}

static void finish(hook_run *r)
{
    if (r->phase == PH_DONE)
        return;
    set_phase(r, PH_DONE);
    r->res.duration_s = (double)(uv_hrtime() - r->start_ns) / 1e9;
    if (!r->proc_exited && r->pid > 0 && r->res.error[0] == '\0')
        snprintf(r->res.error, sizeof(r->res.error),
                 "%s (pid %d) did not exit after SIGKILL", r->path, r->pid);
    uv_timer_stop(&r->timer);
    close_one(r, (uv_handle_t *)&r->timer);
    close_one(r, (uv_handle_t *)&r->in);
    r->in_open = 0;
    close_one(r, (uv_handle_t *)&r->out);
    r->out_open = 0;
    if (r->proc_inited)
        close_one(r, (uv_handle_t *)&r->proc);
}

static void maybe_done(hook_run *r)
{
    if (r->proc_exited && !r->out_open)
        finish(r);
}

/* ---- events ------------------------------------------------------------- */

static void signal_group(hook_run *r, int sig)
{
    /* The child called setsid() (UV_PROCESS_DETACHED), so its pid is its
     * process group; -pid reaches everything it started that did not leave
     * the group. */
    if (r->pid > 0 && kill(-r->pid, sig) != 0 && errno != ESRCH)
        kw_warn("hook %s: kill(-%d, %d): %s", r->path, r->pid, sig,
                strerror(errno));
}

static void on_timer(uv_timer_t *t)
{
    hook_run *r = t->data;

    switch (r->phase) {
    case PH_RUNNING:
        r->res.timed_out = 1;
        kw_warn("hook %s (pid %d): timed out, sending SIGTERM to its group",
                r->path, r->pid);
        signal_group(r, SIGTERM);
        set_phase(r, PH_TERM);
        uv_timer_start(&r->timer, on_timer, KW_HOOK_KILL_GRACE_MS, 0);
        break;
    case PH_TERM:
        signal_group(r, SIGKILL);
        set_phase(r, PH_KILL);
        uv_timer_start(&r->timer, on_timer, AFTER_KILL_MS, 0);
        break;
    case PH_DRAIN:
    case PH_KILL:
        finish(r);
        break;
    case PH_DONE:
        break;
    }
}

static void on_proc_exit(uv_process_t *p, int64_t status, int sig)
{
    hook_run *r = p->data;
    uint64_t now, left_ms;

    r->proc_exited = 1;
    if (sig != 0) {
        r->res.term_signal = sig;
    } else {
        r->res.exited = 1;
        r->res.exit_status = (int)status;
    }
    if (!r->out_open) {
        finish(r);
        return;
    }
    if (r->phase == PH_RUNNING) {
        /* Something the program started still holds the output open; read
         * a little longer but do not wait on it. */
        now = uv_hrtime();
        left_ms = now < r->deadline_ns ? (r->deadline_ns - now) / 1000000 : 0;
        set_phase(r, PH_DRAIN);
        uv_timer_start(&r->timer, on_timer,
                       left_ms < DRAIN_MS ? left_ms : DRAIN_MS, 0);
    }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    hook_run *r = h->data;

    *buf = uv_buf_init(r->rbuf, sizeof(r->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    hook_run *r = s->data;

    if (n > 0) {
        capture(r, buf->base, (size_t)n);
        return;
    }
    if (n == 0)
        return;
    /* EOF, or an error that ends the stream all the same. */
    if (n != UV_EOF)
        kw_warn("hook %s: reading output: %s", r->path, uv_strerror((int)n));
    close_one(r, (uv_handle_t *)&r->out);
    r->out_open = 0;
    maybe_done(r);
}

static void on_write(uv_write_t *w, int status)
{
    hook_run *r = w->data;

    /* EPIPE (the hook did not read its stdin) and ECANCELED (the run ended
     * first) are normal; closing is what sends EOF. */
    if (status < 0 && status != UV_EPIPE && status != UV_ECANCELED)
        kw_debug("hook %s: writing stdin: %s", r->path, uv_strerror(status));
    if (r->in_open) {
        close_one(r, (uv_handle_t *)&r->in);
        r->in_open = 0;
    }
}

/* ---- start -------------------------------------------------------------- */

/* NULL-terminated environment: the base PATH, then spec entries, a later
 * entry replacing an earlier one of the same name. */
static char **build_env(const char *const *extra, kw_diag *d, int *err)
{
    size_t n = 0, i, j, cnt = 0, namelen;
    const char *eq;
    char **env;

    for (i = 0; extra != NULL && extra[i] != NULL; i++)
        n++;
    env = calloc(n + 2, sizeof(*env));
    if (env == NULL) {
        *err = kw_diag_set(d, KW_ENOMEM, "out of memory");
        return NULL;
    }
    env[cnt++] = (char *)KW_HOOK_BASE_PATH;
    for (i = 0; i < n; i++) {
        eq = strchr(extra[i], '=');
        if (eq == NULL || eq == extra[i]) {
            *err = kw_diag_set(d, KW_EINVAL,
                               "hook environment entry is not NAME=VALUE: "
                               "\"%.100s\"", extra[i]);
            free(env);
            return NULL;
        }
        namelen = (size_t)(eq - extra[i]) + 1;
        for (j = 0; j < cnt; j++)
            if (strncmp(env[j], extra[i], namelen) == 0)
                break;
        env[j] = (char *)extra[i];
        if (j == cnt)
            cnt++;
    }
    env[cnt] = NULL;
    return env;
}

int kw_hook_run(uv_loop_t *loop, const kw_hook_spec *s, kw_hook_cb cb,
                void *ctx, kw_diag *d)
{
    uv_process_options_t o;
    uv_stdio_container_t stdio[3];
    uv_file fds[2] = {-1, -1};
    hook_run *r = NULL;
    char **env = NULL;
    size_t maxo;
    int64_t tmo;
    uv_buf_t b;
    int err = 0, e;

    if (loop == NULL || s == NULL || cb == NULL)
        return kw_diag_set(d, KW_EINVAL, "kw_hook_run: missing argument");
    if (s->argv == NULL || s->argv[0] == NULL || s->argv[0][0] != '/')
        return kw_diag_set(d, KW_EINVAL,
                           "hook program must be an absolute path: \"%.200s\"",
                           s->argv && s->argv[0] ? s->argv[0] : "");
    if (s->stdin_len > UINT_MAX)
        return kw_diag_set(d, KW_ETOOBIG, "hook stdin is too large");
    if (s->timeout_ms < 0 || s->timeout_ms > KW_HOOK_MAX_TIMEOUT_MS)
        return kw_diag_set(d, KW_EINVAL,
                           "hook timeout must be between 0 and 24 hours");
    tmo = s->timeout_ms ? s->timeout_ms : KW_HOOK_DEFAULT_TIMEOUT_MS;
    maxo = s->max_output ? s->max_output : KW_HOOK_DEFAULT_MAX_OUTPUT;

    env = build_env(s->env, d, &err);
    if (env == NULL)
        return err;
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        err = kw_diag_set(d, KW_ENOMEM, "out of memory");
        goto out;
    }
    r->head = malloc(maxo);
    if (r->head == NULL) {
        err = kw_diag_set(d, KW_ENOMEM, "out of memory");
        goto out;
    }
    r->head_cap = maxo / 2;
    r->tail = r->head + r->head_cap;
    r->tail_cap = maxo - r->head_cap;
    if (s->stdin_data != NULL && s->stdin_len > 0) {
        r->stdin_buf = malloc(s->stdin_len);
        if (r->stdin_buf == NULL) {
            err = kw_diag_set(d, KW_ENOMEM, "out of memory");
            goto out;
        }
        memcpy(r->stdin_buf, s->stdin_data, s->stdin_len);
        r->stdin_len = s->stdin_len;
    }
    /* One pipe for stdout and stderr together, so their order survives.
     * Both ends are close-on-exec, so concurrent hooks never inherit each
     * other's; the child's write end stays blocking. */
    e = uv_pipe(fds, UV_NONBLOCK_PIPE, 0);
    if (e != 0) {
        err = kw_diag_set(d, -e == ENOMEM ? KW_ENOMEM : e,
                          "cannot create a pipe for hook %s: %s", s->argv[0],
                          uv_strerror(e));
        goto out;
    }

    /* From here on every failure is reported through the callback. */
    r->loop = loop;
    r->cb = cb;
    r->ctx = ctx;
    r->phase = PH_RUNNING;
    snprintf(r->path, sizeof(r->path), "%s", s->argv[0]);
    r->start_ns = uv_hrtime();
    r->deadline_ns = r->start_ns + (uint64_t)tmo * 1000000u;
    uv_timer_init(loop, &r->timer);
    uv_pipe_init(loop, &r->in, 0);
    uv_pipe_init(loop, &r->out, 0);
    r->timer.data = r->in.data = r->out.data = r->proc.data = r;
    r->wreq.data = r;

    e = uv_pipe_open(&r->out, fds[0]);
    if (e != 0) {
        close(fds[0]);
        close(fds[1]);
        snprintf(r->res.error, sizeof(r->res.error),
                 "cannot run %s: output pipe: %s", r->path, uv_strerror(e));
        r->proc_exited = 1;
        finish(r);
        goto ok;
    }
    r->out_open = 1;

    memset(&o, 0, sizeof(o));
    memset(stdio, 0, sizeof(stdio));
    if (r->stdin_len > 0) {
        stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
        stdio[0].data.stream = (uv_stream_t *)&r->in;
    } else {
        stdio[0].flags = UV_IGNORE; /* /dev/null */
    }
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = fds[1];
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = fds[1];
    o.exit_cb = on_proc_exit;
    o.file = s->argv[0];
    o.args = (char **)s->argv;
    o.env = env;
    o.cwd = s->cwd;
    o.stdio = stdio;
    o.stdio_count = 3;
    /* DETACHED makes the child call setsid(): it leads a new process group
     * that a timeout can kill as a whole. */
    o.flags = UV_PROCESS_DETACHED;
    if (s->uid != (uid_t)-1) {
        o.flags |= UV_PROCESS_SETUID;
        o.uid = s->uid;
    }
    if (s->gid != (gid_t)-1) {
        o.flags |= UV_PROCESS_SETGID;
        o.gid = s->gid;
    }

    e = uv_spawn(loop, &r->proc, &o);
    r->proc_inited = 1;
    close(fds[1]);
    if (e != 0) {
        if (s->cwd != NULL)
            snprintf(r->res.error, sizeof(r->res.error),
                     "cannot run %s in %s: %s", r->path, s->cwd,
                     strerror(-e));
        else
            snprintf(r->res.error, sizeof(r->res.error), "cannot run %s: %s",
                     r->path, strerror(-e));
        kw_debug("hook: %s", r->res.error);
        /* uv_spawn() initialised the handle; finish() closes it.  The
         * result goes out from the close callbacks, after this returns. */
        r->proc_exited = 1;
        finish(r);
        goto ok;
    }
    r->pid = r->proc.pid;
    kw_debug("hook %s: started pid %d", r->path, r->pid);

    if (r->stdin_len > 0) {
        r->in_open = 1;
        b = uv_buf_init(r->stdin_buf, (unsigned int)r->stdin_len);
        e = uv_write(&r->wreq, (uv_stream_t *)&r->in, &b, 1, on_write);
        if (e != 0) {
            close_one(r, (uv_handle_t *)&r->in);
            r->in_open = 0;
        }
    }
    uv_read_start((uv_stream_t *)&r->out, on_alloc, on_read);
    uv_timer_start(&r->timer, on_timer, (uint64_t)tmo, 0);
    goto ok;

ok:
    free(env);
    return 0;
out:
    if (r != NULL) {
        free(r->stdin_buf);
        free(r->head);
        free(r);
    }
    free(env);
    return err;
}
