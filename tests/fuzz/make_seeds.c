/*
 * make_seeds DIR: write a seed corpus for fuzz_certfile, made at test time
 * (no certificate or key is committed).
 */
#include "testpki.h"

#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put(const char *dir, const char *name, const void *p, size_t n)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    tp_write_bytes(path, p, n, 0644);
}

int main(int argc, char **argv)
{
    const int64_t now = 1795651200;
    static const char *const dns[] = {"seed.example", "xn--mnchen-3ya.example",
                                      NULL};
    static const char *const ips[] = {"192.0.2.1", "2001:db8::1", NULL};
    EVP_PKEY *ck, *lk, *rk;
    X509 *root, *leaf, *rleaf, *v[3];
    unsigned char *der, *kder = NULL;
    size_t len, plen;
    char *pem, *crlf;
    int klen;
    size_t i, j;
    BIO *b;
    char *bd;
    long bl;

    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds DIR\n");
        return 2;
    }
    tp_mkdirs(argv[1]);
    ck = tp_key_ec();
    lk = tp_key_ec();
    rk = tp_key_rsa(2048);
    root = tp_cert(&(tp_spec){.cn = "Seed Root", .org = "Seeds", .is_ca = 1,
                              .not_before = now, .not_after = now + 86400,
                              .serial = 1, .key = ck});
    leaf = tp_cert(&(tp_spec){.cn = "seed.example", .dns = dns, .ips = ips,
                              .not_before = now, .not_after = now + 86400,
                              .serial = 0x123456789L, .key = lk,
                              .issuer = root, .issuer_key = ck});
    rleaf = tp_cert(&(tp_spec){.cn = "rsa.example", .not_before = now,
                               .not_after = now + 86400, .serial = 7,
                               .key = rk});

    der = tp_der(leaf, &len);
    put(argv[1], "leaf.der", der, len);
    put(argv[1], "leaf-trunc.der", der, len / 2);
    OPENSSL_free(der);
    der = tp_der(rleaf, &len);
    put(argv[1], "rsa.der", der, len);
    OPENSSL_free(der);

    v[0] = leaf;
    v[1] = root;
    v[2] = rleaf;
    pem = tp_pem(v, 2, &plen);
    put(argv[1], "chain.pem", pem, plen);
    /* The same with CRLF line ends and text between blocks. */
    crlf = malloc(plen * 2 + 64);
    for (i = 0, j = 0; i < plen; i++) {
        if (pem[i] == '\n')
            crlf[j++] = '\r';
        crlf[j++] = pem[i];
    }
    memcpy(crlf + j, "trailing text\r\n", 15);
    put(argv[1], "chain-crlf.pem", crlf, j + 15);
    free(crlf);
    free(pem);
    v[0] = root;
    v[1] = leaf;
    pem = tp_pem(v, 3, &plen);
    put(argv[1], "unordered.pem", pem, plen);
    free(pem);

    b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, leaf);
    PEM_write_bio_PrivateKey(b, lk, NULL, NULL, 0, NULL, NULL);
    PEM_write_bio_PrivateKey(b, rk, EVP_aes_128_cbc(),
                             (unsigned char *)"pw", 2, NULL, NULL);
    bl = BIO_get_mem_data(b, &bd);
    put(argv[1], "with-keys.pem", bd, (size_t)bl);
    BIO_free(b);
    klen = i2d_PrivateKey(lk, &kder);
    put(argv[1], "key.der", kder, (size_t)klen);
    OPENSSL_free(kder);

    X509_free(root);
    X509_free(leaf);
    X509_free(rleaf);
    EVP_PKEY_free(ck);
    EVP_PKEY_free(lk);
    EVP_PKEY_free(rk);
    return 0;
}
