/*
 * kw_proc.h: running a program to its end, bounded: argv only (never a
 * shell), stdin /dev/null, stdout and stderr captured together into the
 * caller's buffer, killed when it outlives its time.  For the operator's
 * programs (dns-01's dns_exec, a DKIM signer's) and the signers' own
 * checks (opendkim -n, rspamadm configtest).  BLOCKS for at most about
 * timeout_ms: the daemon runs it on the libuv pool.
 */
#ifndef KW_PROC_H
#define KW_PROC_H

#include "kw_err.h"

#include <stddef.h>

/* Run argv (NULL-terminated; argv[0] a path, or searched in PATH when it
 * has no '/') with envp (NULL: this process's environment).  out (cap >=
 * 2) gets the last output, NUL-terminated, trailing blanks trimmed; when
 * the program writes more than cap - 1 bytes the earlier part is dropped,
 * since errors come last.  0 when it ended on its own, *status as
 * waitpid(2) gives it; KW_ETIMEDOUT when it ran past timeout_ms and was
 * killed; or the error of pipe or spawn, with d naming argv[0]. */
int kw_proc_run(const char *const argv[], char *const envp[], int timeout_ms,
                char *out, size_t cap, int *status, kw_diag *d);

#endif
