/*
 * fuzz_dkim.h: the promises both dkim/ record parsers make, checked by
 * fuzz_dkim_record.c and fuzz_dmarc.c: a failure is KW_EPARSE or
 * KW_ETOOBIG with a message, and every warning's text is terminated.
 */
#ifndef KW_FUZZ_DKIM_H
#define KW_FUZZ_DKIM_H

#include "dkim/dkim_tags.h"

#include <string.h>

static inline void fuzz_dkim_check_failure(int r, const kw_diag *d)
{
    if ((r != KW_EPARSE && r != KW_ETOOBIG) || d->msg[0] == '\0' ||
        !memchr(d->msg, '\0', sizeof(d->msg)))
        __builtin_trap();
}

static inline void fuzz_dkim_check_warnings(const kw_dkim_warning *w,
                                            size_t n)
{
    size_t i;

    if (n > KW_DKIM_WARN_MAX)
        __builtin_trap();
    for (i = 0; i < n; i++)
        if (w[i].code <= 0 || !memchr(w[i].msg, '\0', sizeof(w[i].msg)))
            __builtin_trap();
}

#endif
