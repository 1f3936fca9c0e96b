/*
 * daemon.h: pieces of `keywarden serve` other modules use.
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
