/*
 * libFuzzer target: the TLSA parser and matcher (dane_match.h) and the
 * DANE judge (dane_check.h) over bytes a zone's owner or a network path
 * controls.  The first byte picks: even, the rest is one TLSA RDATA,
 * parsed, printed and matched against a chain made at start-up (leaf and
 * CA, test PKI); odd, the rest is a DNS answer, given to the judge as
 * the resolver's answer (to the TLSA and the address questions) and both
 * servers', with that chain served and
 * another leaf on disk.
 */
#include "dane/dane_check.h"
#include "dane/dane_match.h"
#include "testpki.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1800000000LL

static X509 *chain[2], *other;
static unsigned char *der[3];
static size_t der_len[3];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    tp_spec s = { 0 };
    EVP_PKEY *ca_k = tp_key_ec(), *k = tp_key_ec(), *k2 = tp_key_ec();
    size_t i;

    (void)argc;
    (void)argv;
    s.cn = "CA";
    s.is_ca = 1;
    s.serial = 1;
    s.not_before = NOW - 86400;
    s.not_after = NOW + 86400;
    s.key = ca_k;
    chain[1] = tp_cert(&s);
    s.cn = "mx.example.test";
    s.is_ca = 0;
    s.key = k;
    s.issuer = chain[1];
    s.issuer_key = ca_k;
    chain[0] = tp_cert(&s);
    s.key = k2;
    other = tp_cert(&s);
    der[0] = tp_der(chain[0], &der_len[0]);
    der[1] = tp_der(chain[1], &der_len[1]);
    der[2] = tp_der(other, &der_len[2]);
    for (i = 0; i < 3; i++)
        if (der[i] == NULL)
            abort();
    EVP_PKEY_free(ca_k);
    EVP_PKEY_free(k);
    EVP_PKEY_free(k2);
    return 0;
}

/* A copy owned by the obs (freed with it), so the sanitizers see reads
 * past the end. */
static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *c = OPENSSL_malloc(n ? n : 1);

    if (c != NULL && n > 0)
        memcpy(c, p, n);
    return c;
}

static void answer(kw_dnssec_ans *a, const uint8_t *p, size_t n)
{
    a->wire = malloc(n ? n : 1);
    if (a->wire == NULL) {
        a->rc = -12;
        return;
    }
    if (n > 0)
        memcpy(a->wire, p, n);
    a->len = n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if ((data[0] & 1) == 0) {
        uint8_t *rd = dup_bytes(data + 1, size - 1);
        kw_dane_match_res r;
        kw_tlsa t;
        char text[200];

        if (rd != NULL && kw_dane_tlsa_parse(rd, size - 1, &t, NULL) == 0) {
            kw_dane_tlsa_text(&t, text, sizeof(text));
            (void)kw_dane_match(&t, chain, 2, NOW, &r, NULL);
            (void)kw_dane_match(&t, chain, 1, NOW, &r, NULL);
        }
        OPENSSL_free(rd);
    } else {
        static kw_dane_obs obs;
        static kw_dane_result res;
        size_t i;

        memset(&obs, 0, sizeof(obs));
        strcpy(obs.host, "mx.example.test");
        obs.port = 25;
        strcpy(obs.qname, "_25._tcp.mx.example.test");
        answer(&obs.res, data + 1, size - 1);
        answer(&obs.addr[0], data + 1, size - 1);
        answer(&obs.addr[1], data + 1, size > 3 ? size - 3 : 0);
        obs.nservers = 2;
        for (i = 0; i < 2; i++) {
            strcpy(obs.srv[i].name, i ? "127.0.0.2:53" : "127.0.0.1:53");
            answer(&obs.srv[i].ans, data + 1, size - 1 - i * (size > 2));
        }
        obs.probed = 1;
        obs.npeers = 2;
        for (i = 0; i < 2; i++) {
            obs.peer[0].chain.der[i] = dup_bytes(der[i], der_len[i]);
            obs.peer[0].chain.len[i] = der_len[i];
        }
        obs.peer[0].chain.n = 2;
        /* The second address serves the other leaf alone. */
        obs.peer[1].chain.der[0] = dup_bytes(der[2], der_len[2]);
        obs.peer[1].chain.len[0] = der_len[2];
        obs.peer[1].chain.n = 1;
        strcpy(obs.disk_path, "/etc/ssl/mx.pem");
        obs.disk.der[0] = dup_bytes(der[2], der_len[2]);
        obs.disk.len[0] = der_len[2];
        obs.disk.n = 1;
        kw_dane_judge(&obs, NOW, &res);
        kw_dane_obs_free(&obs);
    }
    return 0;
}
