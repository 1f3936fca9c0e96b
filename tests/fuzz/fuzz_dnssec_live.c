/*
 * libFuzzer target: the DNSSEC judge (kw_dnssec_live_judge) over answers
 * an authoritative server or the parent controls entirely: malformed
 * messages, RRSIGs over nothing, DNSKEYs of any algorithm and size, DS
 * digests of any type, sampled RRsets and denials (NSEC, NSEC3) of any
 * shape.  Layout in fuzz_dnssec_live.h.
 */
#include "dnssec/dnssec_live.h"
#include "fuzz_dnssec_live.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void take(const uint8_t *data, size_t size, size_t *pos,
                 kw_dnssec_ans *a)
{
    size_t len;

    a->rc = -110;
    snprintf(a->err, sizeof(a->err), "no answer");
    if (*pos + 2 > size)
        return;
    len = (size_t)data[*pos] << 8 | data[*pos + 1];
    *pos += 2;
    if (len == FUZZ_DNSSEC_NOANSWER)
        return;
    if (len > size - *pos)
        len = size - *pos;
    /* A copy of its own, so the sanitizers see reads past the answer. */
    a->wire = malloc(len ? len : 1);
    if (a->wire == NULL)
        return;
    memcpy(a->wire, data + *pos, len);
    a->len = len;
    a->rc = 0;
    a->err[0] = '\0';
    *pos += len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static kw_dnssec_obs obs;
    static kw_dnssec_live out;
    size_t pos = 1, i;
    int q;

    if (size < 1)
        return 0;
    memset(&obs, 0, sizeof(obs));
    snprintf(obs.zone, sizeof(obs.zone), FUZZ_DNSSEC_ZONE);
    obs.nservers = (size_t)(data[0] & 3) + 1;
    for (i = 0; i < obs.nservers; i++) {
        snprintf(obs.srv[i].name, sizeof(obs.srv[i].name), "127.0.0.%zu:53",
                 i + 1);
        for (q = 0; q < KW_DNSSEC_Q_N; q++)
            take(data, size, &pos, &obs.srv[i].a[q]);
    }
    snprintf(obs.ds_from, sizeof(obs.ds_from), "127.0.0.9:53");
    take(data, size, &pos, &obs.ds);
    kw_dnssec_sample_names(&obs, FUZZ_DNSSEC_LABEL);
    for (i = 0; i < obs.nservers; i++)
        for (q = 0; q < (int)obs.nsample; q++)
            take(data, size, &pos, &obs.srv[i].sample[q]);
    kw_dnssec_live_judge(&obs, NULL, FUZZ_DNSSEC_NOW, &out);
    if (out.nfind > KW_DNSSEC_LIVE_FINDINGS_MAX || out.health > 2)
        abort();
    for (i = 0; i < out.nfind; i++)
        if (strlen(out.find[i].text) >= sizeof(out.find[i].text))
            abort();
    kw_dnssec_obs_free(&obs);
    return 0;
}
