/*
 * libFuzzer target: the control socket's request parser
 * (kw_control_parse), on what any local client with access to the socket
 * could send: one request line, up to the socket's 1 MiB limit.  A parsed
 * request must keep the parser's promises: a known command, bounded
 * fields, and scan paths that are absolute and NUL-free.
 */
#include "service/control.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kw_control_request q;
    kw_diag d;
    size_t i;

    if (size > KW_CONTROL_MAX_REQUEST)
        return 0;
    if (kw_control_parse((const char *)data, size, &q, &d) != 0) {
        /* An error always has words to send back. */
        if (d.msg[0] == '\0' || q.paths != NULL || q.cmd[0] != '\0')
            abort();
        return 0;
    }
    if (strcmp(q.cmd, "status") != 0 && strcmp(q.cmd, "reload") != 0 &&
        strcmp(q.cmd, "run") != 0 && strcmp(q.cmd, "scan") != 0 &&
        strcmp(q.cmd, "forget") != 0)
        abort();
    if (strcmp(q.cmd, "run") == 0 && (q.type[0] == '\0' || q.key[0] == '\0'))
        abort();
    if (strcmp(q.cmd, "forget") == 0 &&
        (q.nids == 0 || q.nids > KW_CONTROL_MAX_IDS))
        abort();
    if (strcmp(q.cmd, "scan") == 0 &&
        (q.npaths == 0 || q.npaths > KW_CONTROL_MAX_PATHS))
        abort();
    for (i = 0; i < q.npaths; i++)
        if (q.paths[i] == NULL || q.paths[i][0] != '/' ||
            strlen(q.paths[i]) >= 4096)
            abort();
    kw_control_request_free(&q);
    return 0;
}
