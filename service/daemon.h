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

#endif
