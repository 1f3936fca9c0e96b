/*
 * state.h: the state directory, where a keywarden process finds its
 * inventory, and the one lock that lets a single writer use it.
 *
 * Both entry points start here: every command (cli/) and the daemon
 * (`keywarden serve`, daemon.c) resolve the same directory the same way,
 * open the same database in it and take the same lock for the work that
 * must have one writer (the daemon's life; scan, forget, renew,
 * rollback, revoke, account, hooks run), so a command and the daemon
 * never disagree on where the inventory is and never do that work at
 * once.  The directory holds:
 *
 *   keywarden.db    the inventory (keystore/ks_store.h)
 *   keywarden.lock  flock()ed by the one writer; holds "PID COMMAND"
 *   keywarden.sock  the daemon's control socket, unless configured
 *
 * A kw_state is a plain value the caller owns (no handles inside; copy it
 * freely).  The functions that can fail return 0 or a negative KW_E*
 * code with the words in d (which path, which process), and print
 * nothing: the caller decides how to say it.  Everything here is
 * synchronous and brief: no call waits for another process (the lock
 * is tried, never waited for).
 */
#ifndef KW_SERVICE_STATE_H
#define KW_SERVICE_STATE_H

#include "../common/kw_err.h"
#include "../keystore/ks_store.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

/* A keywarden process's exit status, a command's or the daemon's. */
enum {
    KW_EXIT_OK = 0,
    KW_EXIT_FAIL = 1,  /* the command ran and something failed */
    KW_EXIT_USAGE = 2, /* bad command line */
};

/* Where a process keeps and finds its things, and the time it runs at. */
typedef struct kw_state {
    char state_dir[PATH_MAX];
    char db_path[PATH_MAX];     /* STATE_DIR/keywarden.db */
    char config_path[PATH_MAX]; /* --config, else the default */
    int config_given;           /* --config was given: it must exist */
    int64_t now;                /* kw_now() when resolved (KEYWARDEN_NOW) */
} kw_state;

/*
 * Resolve the state directory: state_dir_opt (--state-dir) when given,
 * else $KEYWARDEN_STATE_DIR, else /var/lib/keywarden as root, else
 * $XDG_STATE_HOME/keywarden (when absolute), else
 * ~/.local/state/keywarden.  Clears *st first; sets the database path,
 * the default configuration path and the clock.  KW_EINVAL when a path
 * is too long or KEYWARDEN_NOW cannot be read.  Reads the environment
 * (and the password database when HOME is unset), no file.
 */
int kw_state_init(kw_state *st, const char *state_dir_opt, kw_diag *d);

/*
 * Is there an inventory at st->db_path?  A missing file is none, and so
 * is an empty one (a database being created, or one truncated): a
 * reading command must not take it for an empty inventory, nor create
 * the schema in it.  Any other stat error answers yes, so that the open
 * names it.
 */
int kw_state_has_inventory(const kw_state *st);

/*
 * Open the inventory.  create: make the state directory (0700) and the
 * database (at the current schema) if missing.  Without create the
 * database is opened as it is, read-only when this user may not write
 * it (a monitoring user may read the inventory without owning it).
 * *out is the caller's, to ks_close(); NULL on failure.
 */
int kw_state_open(const kw_state *st, int create, ks_store **out,
                  kw_diag *d);

/*
 * Take the state directory's exclusive lock (STATE_DIR/keywarden.lock,
 * flock), so two writers never share one database; the lock file holds
 * "PID WHAT" (what: the command, "serve", "renew", "hooks run"...).  Never
 * waits: KW_EBUSY when another process holds it, with d naming it (the
 * daemon, or which command and pid).  *fd is the caller's: the lock lasts
 * until it is closed (or the process ends).  The directory must exist.
 */
int kw_state_lock(const kw_state *st, const char *what, int *fd,
                  kw_diag *d);

/*
 * The daemon's control socket: configured (the [daemon] control_socket,
 * NULL when not set), else STATE_DIR/keywarden.sock.  An empty string
 * when the path does not fit in len (no control socket then).
 */
void kw_state_control_path(const kw_state *st, const char *configured,
                           char *out, size_t len);

#endif
