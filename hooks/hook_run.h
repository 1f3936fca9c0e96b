/*
 * hook_run.h: run one hook command as a child process on the libuv loop.
 *
 * This is only the runner: it starts a program, feeds it the event on
 * stdin, captures its output within a bound, enforces a timeout on the
 * whole process group and reports what happened.  Choosing which hooks
 * run, retrying, coalescing and recording runs belong to the callers.
 *
 * Safety properties the runner guarantees:
 *   - uv_spawn() only; no shell unless the caller put "/bin/sh -c" in argv.
 *   - The child gets a minimal environment (PATH=/usr/sbin:/usr/bin:/sbin:
 *     /bin plus the caller's entries), never the daemon's own.
 *   - The child leads its own session and process group, so a timeout
 *     reaches everything it started (unless a grandchild calls setsid()).
 *   - Output is bounded: a flood costs at most max_output bytes of memory.
 *
 * The daemon must ignore SIGPIPE (signal(SIGPIPE, SIG_IGN)): a hook that
 * exits without reading its stdin makes the write fail with EPIPE, which is
 * handled, but on Linux the write also raises SIGPIPE.  libuv resets the
 * disposition to the default in the child, so hooks are not affected.
 */
#ifndef KW_HOOK_RUN_H
#define KW_HOOK_RUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "../common/kw_err.h"

/* Defaults applied when a spec leaves the field 0. */
#define KW_HOOK_DEFAULT_TIMEOUT_MS ((int64_t)60000)
#define KW_HOOK_DEFAULT_MAX_OUTPUT ((size_t)64 * 1024)
#define KW_HOOK_MAX_TIMEOUT_MS ((int64_t)24 * 3600 * 1000)
/* After SIGTERM to the group on timeout, SIGKILL follows this much later. */
#define KW_HOOK_KILL_GRACE_MS 2000
/* The base environment every hook gets. */
#define KW_HOOK_BASE_PATH "PATH=/usr/sbin:/usr/bin:/sbin:/bin"

typedef struct kw_hook_spec {
    /* NULL-terminated; argv[0] must be an absolute path.  No shell is
     * involved unless the caller built {"/bin/sh", "-c", cmd, NULL}. */
    const char *const *argv;
    /* NULL-terminated extra "K=V" entries (KEYWARDEN_EVENT, RENEWED_LINEAGE
     * ...) added to KW_HOOK_BASE_PATH; an entry for PATH replaces the base
     * one, and a later entry for the same name replaces an earlier one.
     * May be NULL. */
    const char *const *env;
    /* The event as JSON, written to the child's stdin which is then closed.
     * Copied by kw_hook_run(); NULL or 0 bytes gives the child /dev/null. */
    const char *stdin_data;
    size_t stdin_len;
    /* The whole run, in milliseconds; 0 means KW_HOOK_DEFAULT_TIMEOUT_MS,
     * at most KW_HOOK_MAX_TIMEOUT_MS.
     * On expiry the process group gets SIGTERM, then SIGKILL after
     * KW_HOOK_KILL_GRACE_MS. */
    int64_t timeout_ms;
    /* Bound on stdout+stderr captured together; 0 means
     * KW_HOOK_DEFAULT_MAX_OUTPUT.  Beyond it the first half and the last
     * half are kept and a marker line in between says how much was
     * dropped. */
    size_t max_output;
    /* (uid_t)-1 / (gid_t)-1: unchanged.  Otherwise the child drops its
     * supplementary groups (setgroups(0, NULL)), then setgid(), setuid()
     * before exec; failing that is a spawn failure. */
    uid_t uid;
    gid_t gid;
    /* Working directory of the child, or NULL for the daemon's. */
    const char *cwd;
} kw_hook_spec;

typedef struct kw_hook_result {
    int exited;        /* 1: exited normally, exit_status is valid */
    int exit_status;
    int term_signal;   /* the signal that ended it, or 0 */
    int timed_out;     /* 1: the timeout fired and the group was killed */
    double duration_s; /* from spawn to the end of the run */
    /* Captured stdout+stderr, NUL-terminated (output_len excludes the NUL;
     * the output may itself contain NULs).  Owned by the runner and freed
     * after the callback, unless the callback takes it by setting
     * r->output to NULL (then free() it yourself).  Never NULL in the
     * callback. */
    char *output;
    size_t output_len;  /* at most max_output + 64 (the marker line) */
    size_t dropped;     /* output bytes not kept */
    /* The output's last non-empty line, control characters replaced by
     * '?', truncated; "" when there was no output.  For health reasons. */
    char last_line[512];
    /* Non-empty when the program could not be run at all (exited == 0,
     * term_signal == 0), e.g. "cannot run /x: No such file or directory",
     * or when the run could not be brought to a clean end. */
    char error[512];
} kw_hook_result;

/* Called exactly once per successful kw_hook_run(), from the loop, after
 * every handle of the run has been closed.  r is valid only during the
 * call (see output above for taking the buffer). */
typedef void (*kw_hook_cb)(void *ctx, kw_hook_result *r);

/*
 * Start s on loop.  Returns 0 and later calls cb exactly once (never from
 * inside this call), including when the program cannot be executed: that
 * is reported in r->error, so every attempt is recorded the same way.
 * Returns KW_EINVAL (bad spec: no argv, relative argv[0], env entry without
 * '=', timeout out of range), KW_ETOOBIG (stdin over 4 GiB), KW_ENOMEM or a
 * negated errno from creating the output pipe (EMFILE...), with d filled;
 * then cb never runs.
 *
 * Nothing in s needs to outlive this call: argv, env and cwd are used by
 * the spawn itself and stdin_data is copied.
 *
 * The run ends when the program has exited and its output reached EOF.
 * If it exits but something it left behind keeps the output open, output
 * is read for at most one more second (within the timeout) and then the
 * run ends without killing the straggler.  After SIGKILL on timeout the run
 * ends at most one more second later, whatever the state of the group.
 */
int kw_hook_run(uv_loop_t *loop, const kw_hook_spec *s, kw_hook_cb cb,
                void *ctx, kw_diag *d);

#endif
