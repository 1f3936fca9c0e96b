/*
 * kw_fs.h: file helpers with the durability and secrecy rules of DESIGN.md.
 */
#ifndef KW_FS_H
#define KW_FS_H

#include "kw_err.h"

#include <stddef.h>
#include <sys/types.h>

/* Read fd to its end into buf.  KW_ETOOBIG if it holds more than cap
 * bytes (buf then holds the first cap).  Retries on EINTR. */
int kw_read_fd(int fd, unsigned char *buf, size_t cap, size_t *len);

/* Read the file at path whole: the one way the daemon reads a file
 * (configuration, keys, certificates, pid files).  It is opened
 * O_NONBLOCK and must be a regular file, so a FIFO or a device named
 * there is refused with an error instead of blocking a thread for ever;
 * more than cap bytes is KW_ETOOBIG.  *out is malloc'd, NUL-terminated
 * (*len excludes the NUL) and the caller's to free.  Every error names
 * path.  A missing file is KW_ENOENT. */
int kw_fs_read_regular(const char *path, size_t cap, unsigned char **out,
                       size_t *len, kw_diag *d);

/* mkdir -p with mode for every directory created. */
int kw_mkdir_p(const char *path, mode_t mode);

/* Write data to path atomically: a temporary file in the same directory
 * created O_EXCL with mode (so a key is never readable by others, not
 * even for a moment), written, fsynced, renamed over path, and the
 * directory fsynced.  Readers see the old file or the new one. */
int kw_write_atomic(const char *path, const void *data, size_t len,
                    mode_t mode, kw_diag *d);

/* The same, also giving the file to gid (when not (gid_t)-1) before it
 * gets its final mode, so a key meant for one group is never readable by
 * another, not even for a moment. */
int kw_write_atomic_gid(const char *path, const void *data, size_t len,
                        mode_t mode, gid_t gid, kw_diag *d);

/* The primitive under both: writes fname inside the directory dfd (dpath
 * names it in errors).  The temporary is fname + tag + ".PID.N" (N a
 * per-process counter, so threads never share one), created O_EXCL
 * owner-only, given to uid/gid when not -1, set to exactly mode, written,
 * fsynced and renamed over fname.  The caller fsyncs dfd. */
int kw_write_at(int dfd, const char *dpath, const char *fname,
                const char *tag, const void *data, size_t len, mode_t mode,
                uid_t uid, gid_t gid, kw_diag *d);

/* Overwrite secret bytes in a way the compiler may not elide. */
void kw_wipe(void *p, size_t n);

#endif
