/*
 * daemon.h: `keywarden serve`, and the entry to service/, the daemon's
 * folder.
 *
 * service/ owns the long-running process: one libuv loop (daemon.c), the
 * table of job types and their handler files (job.h, job_*.c), the
 * configuration and its translation into each module's parameters
 * (config.h), the state directory and its lock (state.h), the control
 * socket (control.h), /metrics and /healthz (http.h, metrics.h), inotify
 * on the scanned paths (watch.h) and the glue to hooks/ (hooks.h).  The
 * certificate lifecycle it runs lives beside the protocol, in acme/.
 *
 * Handles: the daemon makes every loop handle it uses and closes them
 * before kw_daemon_serve() returns; nothing of it outlives the call.
 * Callbacks all run on the loop thread.  The loop never blocks: SQLite,
 * scans, key generation and fsync run on the libuv thread pool, each
 * work item with its own database connection.  kw_daemon_serve() itself
 * blocks for the daemon's whole life.  Errors are logged with what
 * failed and where; a job's failure also goes to its row (job.h).
 */
#ifndef KW_DAEMON_H
#define KW_DAEMON_H

#include "state.h"

#include "../common/kw_err.h"

#include <stddef.h>

/*
 * Run the daemon in the foreground until SIGTERM or SIGINT: read the
 * configuration (cli's config_path), create the inventory if missing,
 * take the state directory's lock, serve, and return the process's exit
 * status (KW_EXIT_OK, or KW_EXIT_FAIL with the reason logged).  Blocks
 * for the daemon's whole life; the caller parsed the command line.
 */
int kw_daemon_serve(const kw_state *cli);

/* Tell systemd (Type=notify) about our state: "READY=1", "RELOADING=1",
 * "STOPPING=1".  Does nothing when NOTIFY_SOCKET is unset. */
void kw_sd_notify(const char *state);

#endif
