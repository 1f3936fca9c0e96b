/*
 * libFuzzer target: the ACME client's response-header parser
 * (acme_resp_header: Replay-Nonce, Location, Content-Type, Retry-After,
 * Link) and the Retry-After parser, on what a hostile CA or a
 * man-in-the-middle proxy could send.  Lines are split on '\n' the way
 * libcurl hands them over.
 */
#include "acme/acme_http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    acme_resp r;
    size_t pos = 0, i;
    char *text;

    memset(&r, 0, sizeof(r));
    r.retry_after = -1;
    while (pos < size) {
        const uint8_t *nl = memchr(data + pos, '\n', size - pos);
        size_t n = nl != NULL ? (size_t)(nl - (data + pos)) + 1 : size - pos;

        acme_resp_header(&r, (const char *)data + pos, n, 1795651200);
        pos += n;
    }
    if (r.nalternate > 4)
        abort();
    for (i = 0; i < r.nalternate; i++)
        if (r.link_alternate[i] == NULL)
            abort();
    if (r.retry_after < -1 || r.retry_after > 366LL * 86400)
        abort();
    acme_resp_clear(&r);

    text = malloc(size + 1);
    if (text != NULL) {
        int64_t v;

        memcpy(text, data, size);
        text[size] = '\0';
        v = acme_retry_after_parse(text, 1795651200);
        if (v < -1 || v > 366LL * 86400)
            abort();
        free(text);
    }
    return 0;
}
