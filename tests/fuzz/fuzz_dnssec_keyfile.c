/*
 * libFuzzer target: BIND's .key and .state parsers and the keymgr listing
 * parser (dnssec/dnssec_bind.h, dnssec_knot.h).  Key directories are
 * often writable by the signer's user, and keymgr's output is a child's;
 * neither is trusted.  The first byte picks the parser.  Besides memory
 * errors it checks what the parsers promise: a failure has words naming
 * the file, and an accepted key has a normalised zone, a NUL-terminated
 * DNSKEY whose tag, computed again, is the one kept.
 */
#include "dnssec/dnssec_bind.h"
#include "dnssec/dnssec_knot.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_key(const kw_dnssec_key *k, int with_dnskey)
{
    kw_dnssec_key again;
    kw_diag d = { "" };
    size_t zl;

    if (!memchr(k->zone, '\0', sizeof k->zone) ||
        !memchr(k->dnskey, '\0', sizeof k->dnskey))
        __builtin_trap();
    zl = strlen(k->zone);
    if (zl == 0 || (zl > 1 && k->zone[zl - 1] == '.') || k->tag > 65535 ||
        k->role < KW_DNSSEC_KSK || k->role > KW_DNSSEC_CSK)
        __builtin_trap();
    for (size_t i = 0; i < zl; i++)
        if (k->zone[i] >= 'A' && k->zone[i] <= 'Z')
            __builtin_trap();
    if (!with_dnskey)
        return;
    memset(&again, 0, sizeof again);
    if (kw_dnssec_key_set_dnskey(&again, k->dnskey, &d) != 0 ||
        again.tag != k->tag || again.flags != k->flags ||
        again.algorithm != k->algorithm)
        __builtin_trap();
    (void)kw_dnssec_key_stage(k, 0, NULL, NULL);
}

static void check_failure(int r, const kw_diag *d, const char *name)
{
    if (r >= 0 || !memchr(d->msg, '\0', sizeof d->msg) || d->msg[0] == '\0' ||
        (name && !strstr(d->msg, name)))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static kw_dnssec_key keys[4];
    static kw_dnssec_knot_id ids[4];
    kw_dnssec_bind_state st;
    kw_diag d = { "" };
    const char *text = (const char *)data + 1;
    size_t n = 0;
    int r;

    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0:
        r = kw_dnssec_bind_parse_key("fuzz.key", text, size - 1, &keys[0], &d);
        if (r == 0)
            check_key(&keys[0], 1);
        else
            check_failure(r, &d, "fuzz.key");
        break;
    case 1:
        r = kw_dnssec_bind_parse_state("fuzz.state", text, size - 1, &st, &d);
        if (r == 0) {
            if (!memchr(st.note, '\0', sizeof st.note) ||
                (st.nunknown > 0) != (st.note[0] != '\0'))
                __builtin_trap();
            keys[0].role = KW_DNSSEC_ZSK;
            kw_dnssec_bind_apply_state(&keys[0], &st);
        } else {
            check_failure(r, &d, "fuzz.state");
        }
        break;
    default:
        r = kw_dnssec_knot_parse_list("example.test", text, size - 1, keys,
                                      ids, 4, &n, &d);
        if (r == 0) {
            if (n > 4)
                __builtin_trap();
            for (size_t i = 0; i < n; i++)
                check_key(&keys[i], 0);
        } else {
            check_failure(r, &d, NULL);
        }
    }
    return 0;
}
