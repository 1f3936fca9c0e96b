#include "kw_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *kw_strerror(int code)
{
    switch (code) {
    case KW_OK: return "success";
    case KW_EPARSE: return "malformed input";
    case KW_ETOOBIG: return "input exceeds a size limit";
    case KW_EDB: return "database error";
    case KW_ENOTFOUND: return "not found";
    case KW_EAMBIG: return "ambiguous name";
    case KW_ECRYPTO: return "cryptographic library error";
    case KW_EUSAGE: return "invalid usage";
    case KW_ESCHEMA: return "database schema is newer than this program";
    case KW_EBUSY: return "resource is busy";
    case KW_EREJECTED: return "rejected";
    default: break;
    }
    if (code < 0 && code > KW_EBASE)
        return strerror(-code);
    return "unknown error";
}

int kw_errno(void)
{
    return errno > 0 ? -errno : KW_EIO;
}

int kw_diag_set(kw_diag *d, int code, const char *fmt, ...)
{
    va_list ap;

    if (d != NULL) {
        va_start(ap, fmt);
        vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}
