/*
 * libFuzzer target for the certificate file reader (PEM and DER).
 *
 * Beyond "no crash, no leak, no out-of-bounds access" (ASan, UBSan), it is
 * differential: whenever OpenSSL's full d2i_X509 also accepts a DER input,
 * the validity period, serial and fingerprint must agree with what
 * keywarden's template decoder extracted.
 */
#include "keystore/ks_cert.h"

#include <openssl/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int64_t to_unix(const ASN1_TIME *t)
{
    struct tm tm;

    if (ASN1_TIME_to_tm(t, &tm) != 1)
        return INT64_MIN;
    return (int64_t)timegm(&tm);
}

static void compare_with_openssl(const uint8_t *data, size_t size,
                                 const ks_cert *c)
{
    const unsigned char *p = data;
    X509 *x = d2i_X509(NULL, &p, (long)size);
    unsigned char md[32];
    unsigned int mdlen = 0;
    size_t used;

    if (x == NULL)
        return;
    used = (size_t)(p - data);
    if (X509_digest(x, EVP_sha256(), md, &mdlen) == 1 && mdlen == 32) {
        unsigned char own[32];
        /* d2i_X509 may have consumed fewer bytes than the file; the
         * fingerprint covers what it consumed. */
        EVP_Digest(data, used, own, NULL, EVP_sha256(), NULL);
        if (memcmp(own, c->fingerprint, 32) != 0 && used == size) {
            fprintf(stderr, "fingerprint differs from OpenSSL\n");
            abort();
        }
    }
    if (used == size) {
        int64_t na = to_unix(X509_get0_notAfter(x));
        int64_t nb = to_unix(X509_get0_notBefore(x));
        if ((na != INT64_MIN && na != c->not_after) ||
            (nb != INT64_MIN && nb != c->not_before)) {
            fprintf(stderr, "validity differs from OpenSSL: %lld/%lld vs "
                            "%lld/%lld\n",
                    (long long)nb, (long long)na, (long long)c->not_before,
                    (long long)c->not_after);
            abort();
        }
    }
    X509_free(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *scratch = malloc(size + 1);
    ks_certfile f;
    kw_diag d;
    size_t i;
    int r;

    if (scratch == NULL)
        return 0;
    r = ks_certfile_parse(data, size, scratch, size + 1, &f, &d);
    if (r == 0) {
        for (i = 0; i < f.ncerts; i++) {
            const ks_cert *c = &f.certs[i];
            /* Every string must be printable UTF-8 (they reach terminals
             * and JSON). */
            if (c->subject == NULL || c->issuer == NULL ||
                c->serial == NULL || strlen(c->subject) > 1u << 20)
                abort();
            (void)ks_cert_name(c);
        }
        if (f.format == KS_FMT_DER && f.ncerts == 1)
            compare_with_openssl(data, size, &f.certs[0]);
        if (f.arrangement == KS_ARR_CHAIN_UNORDERED)
            for (i = 0; i < f.ncerts; i++)
                if (f.order[i] >= f.ncerts)
                    abort();
        ks_certfile_free(&f);
    } else if (d.msg[0] == '\0') {
        /* Every failure must say why. */
        abort();
    }
    free(scratch);
    return 0;
}
