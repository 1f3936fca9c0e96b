/*
 * rotations.c: the managed DKIM domains' rotations as the commands show
 * them (cli.h's kw_cli_rots).  A rotation's health is computed on read
 * from its newest row, its section of the configuration and the clock
 * (kw_dkim_rot_health_of), as every object's is, so `list`, `show` and
 * `check` agree with the daemon's job without it having to run.
 */
#include "cli.h"

#include "../service/config.h"
#include "../service/job.h"

#include "../common/kw_time.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

int kw_cli_rots_load(kw_cli *cli, ks_store *s, kw_cli_rots *out)
{
    kw_diag d;
    int r;

    memset(out, 0, sizeof(*out));
    if ((out->kc = calloc(1, sizeof(*out->kc))) == NULL) {
        snprintf(out->err, sizeof(out->err), "out of memory");
        return -1;
    }
    r = kw_config_load(cli->config_path, out->kc, &d);
    if (r == KW_ENOENT) {
        kw_config_defaults(out->kc);
        return 0;
    }
    if (r != 0) {
        kw_config_defaults(out->kc);
        snprintf(out->err, sizeof(out->err),
                 "the DKIM rotations are not shown: %s", d.msg);
        return -1;
    }
    if (kw_dkim_rot_views(s, &out->kc->dkim, cli->now, &out->v, &d) != 0) {
        snprintf(out->err, sizeof(out->err),
                 "the DKIM rotations cannot be read: %s", d.msg);
        return -1;
    }
    out->n = out->v != NULL ? out->kc->dkim.nrot : 0;
    return 0;
}

void kw_cli_rots_free(kw_cli_rots *r)
{
    kw_dkim_rot_views_free(r->v, r->n);
    if (r->kc != NULL)
        kw_config_free(r->kc);
    free(r->kc);
    memset(r, 0, sizeof(*r));
}

const kw_dkim_rot_view *kw_cli_rots_find(const kw_cli_rots *r,
                                         const char *domain)
{
    size_t i;

    for (i = 0; domain != NULL && i < r->n; i++)
        if (strcasecmp(r->v[i].p->domain, domain) == 0)
            return &r->v[i];
    return NULL;
}
