/*
 * libFuzzer target: the DKIM key record parser (dkim/dkim_record.h).  The
 * authoritative servers of any domain keywarden checks control these
 * bytes.  Besides memory errors it checks what the parser promises: a
 * bounded key, NUL-terminated texts and messages, and that a record it
 * accepts is one kw_dkim_record_looks_like counts.
 */
#include "dkim/dkim_record.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *txt = (const char *)data;
    kw_dkim_record rec;
    kw_diag d = {""};
    size_t i;
    int r = kw_dkim_record_parse(txt, size, &rec, &d);
    int looks = kw_dkim_record_looks_like(txt, size);

    if (r == 0) {
        if (rec.p_len > KW_DKIM_P_MAX || rec.revoked != (rec.p_len == 0) ||
            (!rec.revoked && rec.bits <= 0) || rec.n_warn > KW_DKIM_WARN_MAX ||
            !memchr(rec.k_text, '\0', sizeof(rec.k_text)) ||
            !memchr(rec.h, '\0', sizeof(rec.h)) ||
            !memchr(rec.s, '\0', sizeof(rec.s)) || !looks)
            __builtin_trap();
        for (i = 0; i < rec.n_warn; i++)
            if (!memchr(rec.warn[i].msg, '\0', sizeof(rec.warn[i].msg)))
                __builtin_trap();
    } else if ((r != KW_EPARSE && r != KW_ETOOBIG) || d.msg[0] == '\0' ||
               !memchr(d.msg, '\0', sizeof(d.msg))) {
        __builtin_trap();
    }
    return 0;
}
