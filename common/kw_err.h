/*
 * kw_err.h: the one error convention of keywarden.
 *
 * Every function that can fail returns an int: 0 on success, a negative
 * KW_E* code on failure.  Codes below KW_EBASE are negated errno values
 * (KW_ENOMEM == -ENOMEM), so a failed system call maps with kw_errno().
 *
 * A code says what kind of failure it was; the words an operator needs
 * (which file, which line, which field) travel beside it in a kw_diag,
 * which the caller owns and the callee fills with kw_diag_set().
 *
 * This header is also the entry to common/, the bottom of the tree: the
 * helpers every other folder uses, which include nothing of keywarden's
 * outside common/.  kw_err (this file); kw_str and kw_json (text from
 * outside, bounded, as JSON); kw_time (UTC seconds with the clock passed
 * in; kw_now() reads KEYWARDEN_NOW for tests); kw_vec (growing arrays
 * and string sets, the caller's to free with kw_strset_free); kw_log
 * (leveled lines on stderr; the level is the process's one global); kw_fs
 * (bounded reads, atomic and durable writes); kw_proc (a program run to
 * its end, argv only, bounded, its output captured).  Nothing here runs a
 * callback.  kw_fs and kw_proc BLOCK (the file system, a child), so the
 * daemon runs them on the libuv thread pool; the rest is computation.  A
 * malloc'd result is the caller's, freed with free() unless its header
 * names a function.
 */
#ifndef KW_ERR_H
#define KW_ERR_H

#include <errno.h>
#include <stddef.h>

enum {
    KW_OK = 0,
    KW_ENOMEM = -ENOMEM,
    KW_EINVAL = -EINVAL,
    KW_ENOENT = -ENOENT,
    KW_EACCES = -EACCES,
    KW_EIO = -EIO,
    KW_ELOOP = -ELOOP,
    KW_ECANCELED = -ECANCELED,
    KW_ETIMEDOUT = -ETIMEDOUT,

    KW_EBASE = -1000,
    KW_EPARSE = KW_EBASE - 1,    /* input is not what it claims to be */
    KW_ETOOBIG = KW_EBASE - 2,   /* input exceeds a hard limit */
    KW_EDB = KW_EBASE - 3,       /* SQLite reported an error */
    KW_ENOTFOUND = KW_EBASE - 4, /* no such object */
    KW_EAMBIG = KW_EBASE - 5,    /* a name matched several objects */
    KW_ECRYPTO = KW_EBASE - 6,   /* OpenSSL reported an error */
    KW_EUSAGE = KW_EBASE - 7,    /* bad command line */
    KW_ESCHEMA = KW_EBASE - 8,   /* database is newer than this binary */
    KW_EBUSY = KW_EBASE - 9,     /* resource held by another process */
    KW_EREJECTED = KW_EBASE - 10, /* a peer said no (a CA's problem
                                     document), or a check says it would */
};

/* A human-readable description of a code; never NULL. */
const char *kw_strerror(int code);

/* Map the current errno to a negative code (KW_EIO if errno is 0). */
int kw_errno(void);

/* Where the words for an error go.  Callers may pass NULL when they only
 * want the code. */
typedef struct kw_diag {
    char msg[512];
} kw_diag;

/* Fill d->msg (if d is not NULL) and return code, so that callers can write
 * `return kw_diag_set(d, KW_EPARSE, "%s: line %d: ...", path, line);`. */
int kw_diag_set(kw_diag *d, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
