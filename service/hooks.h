/*
 * hooks.h: the service's side of hooks: the configuration handed to the
 * delivery engine, one delivery pass for the command line, and the words
 * the logs use.
 */
#ifndef KW_SERVICE_HOOKS_H
#define KW_SERVICE_HOOKS_H

#include "config.h"
#include "state.h"

#include "../hooks/hook_deliver.h"
#include "../hooks/hook_outbox.h"

#include <jansson.h>

#include <stdio.h>

/* Engine options for this configuration (certs_dir from [acme]). */
void kw_hooks_opts(const kw_config *conf, const char *state_dir,
                   const char *db_path, uv_loop_t *loop, char *certs_dir,
                   size_t cap, kw_hook_engine_opts *o);

/* Log one run as the daemon does (notice when ok, error when not). */
void kw_hooks_log_report(const kw_hook_report *r);

/*
 * Turn health that changed by itself (a deadline came closer, a probe
 * failed) into health.changed and cert.expiring events (ks_watch.h),
 * logging what failed.  Runs wherever the inventory changes or hooks are
 * delivered, in serve and from the command line alike, so a machine
 * without the daemon gets the same events.
 */
void kw_health_watch(ks_store *s, int64_t now);

/*
 * The command line's delivery: turn new events into deliveries and run
 * every first delivery now (and the retries that are due), each hook
 * once per batch; one line per run on out.  The health watch runs
 * first.  Call it holding the daemon lock, after the change.  Returns
 * the number of runs that failed (they are retried by `keywarden serve`
 * or the next `keywarden hooks run`), or -1 when delivery could not
 * start (the message is logged).
 */
int kw_hooks_deliver_now(const kw_state *st, const kw_config *conf,
                         FILE *out);

/*
 * The JSON `keywarden hooks list --json` and `hooks history --json` print,
 * built here once so the page at /hooks (web.h) shows the same: a hook's
 * definition with its counters (kw_hook_summary_get), and one run
 * (kw_hook_history).  NULL when out of memory.
 */
const char *kw_hook_action_text(const kw_hook_def *h, char *buf, size_t cap);
json_t *kw_hook_def_json(const kw_hook_def *h, const kw_hook_summary *sum);
json_t *kw_hook_run_json(const kw_hook_run_row *r);

/* The page's document: {"hooks": [kw_hook_def_json of each hook of conf
 * (NULL: none)], "runs": [the newest limit runs of every hook,
 * kw_hook_run_json]}.  Blocking (SQLite).  KW_E* with d. */
int kw_hooks_document(ks_store *s, const kw_config *conf, int limit,
                      json_t **out, kw_diag *d);

#endif
