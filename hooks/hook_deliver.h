/*
 * hook_deliver.h: deliver the outbox on a libuv loop.
 *
 * The engine turns new events into deliveries, claims the due ones, runs
 * each hook (a command, or a built-in reload's steps) through kw_hook_run
 * and records every run.  At most one run per hook is in flight, so two
 * reloads of one daemon never overlap; different hooks run side by side.
 * Database work happens on the libuv thread pool, each pass with its own
 * connection.
 *
 * Who uses it: `keywarden serve` keeps one for its life and kicks it after
 * every job that may have written events; `keywarden renew`, `rollback`
 * and `hooks run` make one with now_all set, kick it once, and wait until
 * it is idle (the coalescing windows do not make a command wait).
 *
 * This header is the entry to hooks/, which owns what happens after an
 * event: the hook definitions and the built-in reloads (hook_def.h), the
 * outbox and its delivery states (hook_outbox.h), this engine, and the
 * child process runner (hook_run.h).  It depends on keystore/ and common/
 * only.  Lifetime: the caller makes an engine with kw_hook_engine_new on
 * its loop, stops it with kw_hook_engine_stop, and frees it once on_idle
 * has run (on_idle may free it itself); the loop must run until then.
 * Callbacks (on_report, on_settled, on_idle, kw_hook_test_cb) run on the
 * loop thread, and what they are given is borrowed for the callback's
 * duration.  One exception to "never from inside the call": when nothing
 * is in flight, kw_hook_engine_stop runs on_idle before it returns.
 * The engine never blocks the loop (its database passes run on the libuv
 * thread pool); hook_outbox.h's functions block on the database and are
 * what those passes call.
 */
#ifndef KW_HOOK_DELIVER_H
#define KW_HOOK_DELIVER_H

#include "hook_def.h"
#include "hook_run.h"

#include <jansson.h>
#include <uv.h>

typedef struct kw_hook_engine kw_hook_engine;

/* What one run did, for logs and counters. */
typedef struct kw_hook_report {
    const char *hook;
    const char *result;     /* "ok", "failed", "timeout", "error" */
    int attempt;
    int gave_up;            /* failed for good: retries spent */
    size_t nevents;
    const char *event_type; /* the newest event's */
    const char *object;
    const char *last_line;  /* of the output, or the error */
    double duration_s;
} kw_hook_report;

typedef struct kw_hook_engine_opts {
    uv_loop_t *loop;
    const char *db_path;
    const kw_hook_def *defs;  /* copied */
    size_t ndefs;
    const char *certs_dir;    /* live/NAME paths of managed certificates */
    int now_all;              /* deliver everything pending at once */
    int keep_unknown;         /* leave deliveries of unknown hooks alone */
    /* The caller holds the daemon lock and no other engine of its own
     * runs: deliveries left running by a process that died run again at
     * the first pass (kw_hook_reclaim). */
    int reclaim;
    void *ctx;
    /* After each run. */
    void (*on_report)(void *ctx, const kw_hook_report *r);
    /* An event has no open delivery left (or never had one): its effect
     * can be checked now.  ev is the event document; borrowed. */
    void (*on_settled)(void *ctx, json_t *ev);
    /* Nothing running and, when now_all or after kw_hook_engine_stop,
     * nothing left to claim.  The engine may be freed in this callback. */
    void (*on_idle)(void *ctx);
} kw_hook_engine_opts;

int kw_hook_engine_new(const kw_hook_engine_opts *o, kw_hook_engine **out,
                       kw_diag *d);

/* Look for work now (new events, due deliveries).  Cheap to call often:
 * calls during a pass make one more pass after it. */
void kw_hook_engine_kick(kw_hook_engine *e);

/* Passes and run records that failed (logged as they happened): the
 * command line's exit status counts them as failures. */
int kw_hook_engine_errors(const kw_hook_engine *e);

/* Runs in flight plus passes in flight; 0 when idle. */
int kw_hook_engine_busy(const kw_hook_engine *e);

/* Stop claiming work.  Runs in flight finish (each within its timeout)
 * and are recorded; then on_idle is called.  Free after that. */
void kw_hook_engine_stop(kw_hook_engine *e);

void kw_hook_engine_free(kw_hook_engine *e);

/*
 * Run hook h once with a synthetic event (keywarden hooks test): the same
 * environment and stdin a real delivery gets, recorded in the history as a
 * test.  cb gets the result; env and stdin_json (what the hook received)
 * are valid during the call.
 */
typedef void (*kw_hook_test_cb)(void *ctx, const kw_hook_report *rep,
                                const kw_hook_result *res,
                                const char *const *env,
                                const char *stdin_json);
int kw_hook_engine_test(kw_hook_engine *e, const char *hook, json_t *event,
                        kw_hook_test_cb cb, void *ctx, kw_diag *d);

/* The environment a hook gets for a batch of event documents (newest
 * last), as "K=V" strings, NULL-terminated; free with kw_hook_env_free. */
char **kw_hook_env(const char *hook, json_t *events, int attempt);
void kw_hook_env_free(char **env);

#endif
