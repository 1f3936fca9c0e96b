/*
 * libFuzzer target: the keywarden.conf reader (kw_config_parse, the
 * buffer entry point kw_config_load hands the file to), on what a
 * careless or hostile editor could leave in the file.
 *
 * Beyond "no crash, no leak, no out-of-bounds access": a rejected file
 * leaves the defaults only and an error that names the file and line; an
 * accepted one has what each section requires.
 *
 * Seed: docs/keywarden.conf.example.
 */
#include "service/config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_accepted(const kw_config *c)
{
    size_t i;

    for (i = 0; i < c->nendpoints; i++)
        if (c->endpoints[i].name == NULL || c->endpoints[i].host == NULL ||
            c->endpoints[i].port < 1 || c->endpoints[i].port > 65535 ||
            c->endpoints[i].line < 1)
            abort();
    for (i = 0; i < c->ncerts; i++)
        if (c->certs[i].name == NULL || c->certs[i].nnames == 0 ||
            c->certs[i].nnames > 100)
            abort();
    for (i = 0; i < c->nhooks; i++)
        if (c->hooks[i].name == NULL || c->hooks[i].non == 0 ||
            (c->hooks[i].nargv > 0) ==
                (c->hooks[i].reload != KW_RELOAD_NONE))
            abort();
    for (i = 0; i < c->nscan_paths; i++)
        if (c->scan_paths[i] == NULL || c->scan_paths[i][0] != '/')
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kw_config c;
    kw_diag d;
    int r;

    memset(&d, 0, sizeof(d));
    r = kw_config_parse("fuzz.conf", (const char *)data, size, &c, &d);
    if (r == 0) {
        check_accepted(&c);
    } else {
        if (c.nendpoints != 0 || c.ncerts != 0 || c.nhooks != 0 ||
            c.nscan_paths != 0 || c.endpoints != NULL)
            abort();
        if (r == KW_EPARSE && strncmp(d.msg, "fuzz.conf:", 10) != 0)
            abort();
    }
    kw_config_free(&c);
    return 0;
}
