/*
 * daemon.h: pieces of `keywarden serve` other modules use.
 */
#ifndef KW_DAEMON_H
#define KW_DAEMON_H

#include "../common/kw_err.h"

#include <stddef.h>

/* Tell systemd (Type=notify) about our state: "READY=1", "RELOADING=1",
 * "STOPPING=1".  Does nothing when NOTIFY_SOCKET is unset. */
void kw_sd_notify(const char *state);

/* Take the state directory's exclusive lock (STATE_DIR/keywarden.lock,
 * flock), so two writers never share one database; the lock file holds
 * "PID WHAT" (what: the command, "serve", "renew", "hooks run"...).  *fd
 * stays open while the lock is needed.  KW_EBUSY when another process
 * holds it, with d naming it: the daemon, or which command and pid. */
int kw_daemon_lock(const char *state_dir, const char *what, int *fd,
                   kw_diag *d);

struct kw_cli;
struct kw_config;

/* The control socket's path: [daemon] control_socket, else
 * STATE_DIR/keywarden.sock. */
void kw_control_path(const struct kw_cli *cli, const struct kw_config *conf,
                     char *out, size_t len);

#endif
