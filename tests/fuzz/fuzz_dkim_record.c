/*
 * libFuzzer target: the DKIM key record parser (dkim/dkim_record.h).  The
 * authoritative servers of any domain keywarden checks control these
 * bytes.  Besides memory errors it checks what the parser promises: a
 * bounded key, NUL-terminated texts and messages, and that a record it
 * accepts is one kw_dkim_record_looks_like counts.
 */
#include "dkim/dkim_record.h"
#include "fuzz_dkim.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *txt = (const char *)data;
    kw_dkim_record rec;
    kw_diag d = {""};
    int r = kw_dkim_record_parse(txt, size, &rec, &d);
    int looks = kw_dkim_record_looks_like(txt, size);

    if (r == 0) {
        if (rec.p_len > KW_DKIM_P_MAX || rec.revoked != (rec.p_len == 0) ||
            (!rec.revoked && rec.bits <= 0) ||
            !memchr(rec.k_text, '\0', sizeof(rec.k_text)) ||
            !memchr(rec.h, '\0', sizeof(rec.h)) ||
            !memchr(rec.s, '\0', sizeof(rec.s)) || !looks)
            __builtin_trap();
        fuzz_dkim_check_warnings(rec.warn, rec.n_warn);
    } else {
        fuzz_dkim_check_failure(r, &d);
    }
    return 0;
}
