#include "endpoint.h"

#include <string.h>

int kw_starttls_parse(const char *s)
{
    if (strcmp(s, "none") == 0)
        return KW_TLS_IMPLICIT;
    if (strcmp(s, "smtp") == 0)
        return KW_TLS_SMTP;
    if (strcmp(s, "imap") == 0)
        return KW_TLS_IMAP;
    if (strcmp(s, "pop3") == 0)
        return KW_TLS_POP3;
    return -1;
}

const char *kw_starttls_word(enum kw_starttls s)
{
    switch (s) {
    case KW_TLS_SMTP: return "smtp";
    case KW_TLS_IMAP: return "imap";
    case KW_TLS_POP3: return "pop3";
    default: return "none";
    }
}
