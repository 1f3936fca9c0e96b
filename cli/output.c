/*
 * output.c: what list, show and check share: names for people, objects as
 * JSON (the documented, stable format of `list --json`).
 */
#include "cli.h"

#include "../common/kw_log.h"
#include "../common/kw_time.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void kw_dnssec_minute(int64_t t, char *buf, size_t len)
{
    if (t <= 0 || len < 18) {
        snprintf(buf, len, "-");
        return;
    }
    kw_time_rfc3339(t, buf, len);
    buf[16] = 'Z'; /* minutes are precise enough in a listing */
    buf[17] = '\0';
}

void kw_dnssec_stage_text(const ks_tls_facts *f, int64_t now, char *stage,
                          size_t slen, char *next, size_t nlen)
{
    int st, nx = 0;
    int64_t at = 0;
    char when[32];

    if (f->is_dnssec != 2) {
        /* A zone: what its latest check saw. */
        if (f->dnssec_checked_at == 0)
            snprintf(stage, slen, "?");
        else
            snprintf(stage, slen, "%s%s",
                     f->dnssec_signed ? "signed" : "unsigned",
                     f->dnssec_has_ds ? "+DS" : "");
        kw_dnssec_minute(f->dnssec_next_expiry, when, sizeof(when));
        if (f->dnssec_next_expiry > 0)
            snprintf(next, nlen, "RRSIG expires %s", when);
        else
            snprintf(next, nlen, "-");
        return;
    }
    st = ks_dnssec_stage(&f->dnssec_timing, now, &nx, &at);
    snprintf(stage, slen, "%s", ks_dnssec_stage_word(st));
    kw_dnssec_minute(at, when, sizeof(when));
    if (nx == 0)
        snprintf(next, nlen, "-");
    else if (at == 0)
        snprintf(next, nlen, "%s when the DS is seen",
                 ks_dnssec_stage_word(nx));
    else
        snprintf(next, nlen, "%s %s", ks_dnssec_stage_word(nx), when);
}


void kw_print_empty_hint(FILE *out, const kw_cli *cli)
{
    kw_outf(out,
            "The inventory at %s is empty.\n"
            "Add certificates with `keywarden scan PATH...`, for example:\n"
            "  keywarden scan /etc/ssl /etc/letsencrypt\n",
            cli->db_path);
}

int kw_parse_duration_opt(const char *opt, const char *value, int64_t *out)
{
    const char *why = NULL;

    if (kw_duration_parse(value, out, &why) != 0) {
        kw_err("%s %s: %s", opt, value, why);
        return KW_EUSAGE;
    }
    return 0;
}
