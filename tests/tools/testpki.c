#include "testpki.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DAY 86400

static void die(const char *what)
{
    fprintf(stderr, "testpki: %s failed\n", what);
    abort();
}

EVP_PKEY *tp_key_ec(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (k == NULL)
        die("EC key generation");
    return k;
}

EVP_PKEY *tp_key_ec384(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    if (k == NULL)
        die("EC key generation");
    return k;
}

EVP_PKEY *tp_key_rsa(int bits)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
    if (k == NULL)
        die("RSA key generation");
    return k;
}

EVP_PKEY *tp_key_ed25519(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (k == NULL)
        die("Ed25519 key generation");
    return k;
}

static void add_ext(X509 *c, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *e;

    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, c, NULL, NULL, 0);
    e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (e == NULL || !X509_add_ext(c, e, -1))
        die("adding an extension");
    X509_EXTENSION_free(e);
}

X509 *tp_cert(const tp_spec *s)
{
    X509 *c = X509_new();
    X509_NAME *n;
    EVP_PKEY *signer = s->issuer_key ? s->issuer_key : s->key;
    const EVP_MD *md = NULL;
    char san[4096];
    size_t pos = 0;
    int i;

    if (c == NULL)
        die("X509_new");
    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), s->serial ? s->serial : 1);
    ASN1_TIME_set(X509_getm_notBefore(c), (time_t)s->not_before);
    ASN1_TIME_set(X509_getm_notAfter(c), (time_t)s->not_after);
    X509_set_pubkey(c, s->key);
    n = X509_get_subject_name(c);
    if (s->org != NULL)
        X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
                                   (const unsigned char *)s->org, -1, -1, 0);
    if (s->cn != NULL)
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
                                   (const unsigned char *)s->cn, -1, -1, 0);
    X509_set_issuer_name(c, s->issuer ? X509_get_subject_name(s->issuer) : n);
    add_ext(c, s->issuer ? s->issuer : c, NID_subject_key_identifier, "hash");
    if (s->issuer != NULL)
        add_ext(c, s->issuer, NID_authority_key_identifier, "keyid:always");
    add_ext(c, c, NID_basic_constraints,
            s->is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    san[0] = '\0';
    for (i = 0; s->dns != NULL && s->dns[i] != NULL; i++)
        pos += (size_t)snprintf(san + pos, sizeof(san) - pos, "%sDNS:%s",
                                pos ? "," : "", s->dns[i]);
    for (i = 0; s->ips != NULL && s->ips[i] != NULL; i++)
        pos += (size_t)snprintf(san + pos, sizeof(san) - pos, "%sIP:%s",
                                pos ? "," : "", s->ips[i]);
    if (pos > 0)
        add_ext(c, c, NID_subject_alt_name, san);
    if (EVP_PKEY_get_id(signer) != EVP_PKEY_ED25519)
        md = EVP_sha256();
    if (X509_sign(c, signer, md) <= 0)
        die("X509_sign");
    return c;
}

unsigned char *tp_der(X509 *c, size_t *len)
{
    unsigned char *p = NULL;
    int n = i2d_X509(c, &p);

    if (n <= 0)
        die("i2d_X509");
    *len = (size_t)n;
    return p;
}

char *tp_pem(X509 *const *certs, size_t n, size_t *len)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *out;
    long l;
    size_t i;

    for (i = 0; i < n; i++)
        if (!PEM_write_bio_X509(b, certs[i]))
            die("PEM_write_bio_X509");
    l = BIO_get_mem_data(b, &data);
    out = malloc((size_t)l + 1);
    memcpy(out, data, (size_t)l);
    out[l] = '\0';
    *len = (size_t)l;
    BIO_free(b);
    return out;
}

int tp_write_bytes(const char *path, const void *p, size_t n, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    const char *q = p;

    if (fd < 0)
        die(path);
    while (n > 0) {
        ssize_t w = write(fd, q, n);
        if (w <= 0)
            die("write");
        q += w;
        n -= (size_t)w;
    }
    fchmod(fd, mode);
    close(fd);
    return 0;
}

int tp_write_pem(const char *path, X509 *const *certs, size_t n,
                 EVP_PKEY *key, mode_t mode)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data;
    long l;
    size_t i;

    for (i = 0; i < n; i++)
        PEM_write_bio_X509(b, certs[i]);
    if (key != NULL)
        PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL);
    l = BIO_get_mem_data(b, &data);
    tp_write_bytes(path, data, (size_t)l, mode);
    BIO_free(b);
    return 0;
}

int tp_write_der(const char *path, X509 *c)
{
    size_t n;
    unsigned char *d = tp_der(c, &n);

    tp_write_bytes(path, d, n, 0644);
    OPENSSL_free(d);
    return 0;
}

int tp_write_key(const char *path, EVP_PKEY *k, mode_t mode)
{
    return tp_write_pem(path, NULL, 0, k, mode);
}

void tp_mkdirs(const char *path)
{
    char tmp[4096];
    size_t i, n = strlen(path);

    if (n >= sizeof(tmp))
        die("path length");
    memcpy(tmp, path, n + 1);
    for (i = 1; i <= n; i++)
        if (tmp[i] == '/' || tmp[i] == '\0') {
            char c = tmp[i];
            tmp[i] = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                die(tmp);
            tmp[i] = c;
        }
}

static void join(char *out, size_t len, const char *a, const char *b)
{
    if ((size_t)snprintf(out, len, "%s/%s", a, b) >= len)
        die("path length");
}

int tp_make_demo(const char *dir, int64_t now)
{
    char p[4096], q[4096];
    EVP_PKEY *ca_key = tp_key_ec(), *int_key = tp_key_ec();
    EVP_PKEY *k1 = tp_key_ec(), *k2 = tp_key_ec(), *k3 = tp_key_rsa(2048);
    X509 *root, *inter, *inter_short, *c, *chain[3];
    static const char *const www[] = {"www.example.org", "example.org", NULL};
    static const char *const mail[] = {"mail.example.net", NULL};
    static const char *const shop[] = {"shop.example.com", NULL};
    static const char *const old[] = {"legacy.example.com", NULL};
    static const char *const idn[] = {"xn--mnchen-3ya.example",
                                      "www.xn--mnchen-3ya.example", NULL};
    static const char *const ips[] = {"192.0.2.10", "2001:db8::10", NULL};
    static const char *const ipdns[] = {"gateway.example.com", NULL};
    static const char *const db[] = {"db.example.com", NULL};
    static const char *const api[] = {"api.example.com", NULL};
    static const char *const imap[] = {"imap.example.net", NULL};

    tp_mkdirs(dir);
    root = tp_cert(&(tp_spec){.cn = "keywarden Demo Root CA",
                              .org = "keywarden demo",
                              .not_before = now - 400 * DAY,
                              .not_after = now + 3000 * DAY,
                              .is_ca = 1,
                              .serial = 1,
                              .key = ca_key});
    inter = tp_cert(&(tp_spec){.cn = "keywarden Demo Issuing CA R1",
                               .org = "keywarden demo",
                               .not_before = now - 300 * DAY,
                               .not_after = now + 700 * DAY,
                               .is_ca = 1,
                               .serial = 2,
                               .key = int_key,
                               .issuer = root,
                               .issuer_key = ca_key});
    inter_short = tp_cert(&(tp_spec){.cn = "keywarden Demo Issuing CA R0",
                                     .org = "keywarden demo",
                                     .not_before = now - 700 * DAY,
                                     .not_after = now + 15 * DAY,
                                     .is_ca = 1,
                                     .serial = 3,
                                     .key = int_key,
                                     .issuer = root,
                                     .issuer_key = ca_key});
    join(p, sizeof(p), dir, "ca");
    tp_mkdirs(p);
    join(q, sizeof(q), p, "root.pem");
    tp_write_pem(q, &root, 1, NULL, 0644);

    /* Let's Encrypt layout: archive/NAME/certN.pem, live/NAME/ links. */
    join(p, sizeof(p), dir, "letsencrypt/archive/www.example.org");
    tp_mkdirs(p);
    c = tp_cert(&(tp_spec){.cn = "www.example.org", .dns = www,
                           .not_before = now - 170 * DAY,
                           .not_after = now - 80 * DAY, .serial = 100,
                           .key = k1, .issuer = inter,
                           .issuer_key = int_key});
    join(q, sizeof(q), p, "cert1.pem");
    tp_write_pem(q, &c, 1, NULL, 0644);
    chain[0] = c;
    chain[1] = inter;
    join(q, sizeof(q), p, "fullchain1.pem");
    tp_write_pem(q, chain, 2, NULL, 0644);
    join(q, sizeof(q), p, "privkey1.pem");
    tp_write_key(q, k1, 0600);
    X509_free(c);
    c = tp_cert(&(tp_spec){.cn = "www.example.org", .dns = www,
                           .not_before = now - 78 * DAY,
                           .not_after = now + 12 * DAY, .serial = 101,
                           .key = k2, .issuer = inter,
                           .issuer_key = int_key});
    join(q, sizeof(q), p, "cert2.pem");
    tp_write_pem(q, &c, 1, NULL, 0644);
    join(q, sizeof(q), p, "chain2.pem");
    tp_write_pem(q, &inter, 1, NULL, 0644);
    chain[0] = c;
    chain[1] = inter;
    join(q, sizeof(q), p, "fullchain2.pem");
    tp_write_pem(q, chain, 2, NULL, 0644);
    join(q, sizeof(q), p, "privkey2.pem");
    tp_write_key(q, k2, 0600);
    X509_free(c);
    join(p, sizeof(p), dir, "letsencrypt/live/www.example.org");
    tp_mkdirs(p);
    {
        static const char *const names[] = {"cert", "chain", "fullchain",
                                            "privkey"};
        size_t i;
        for (i = 0; i < 4; i++) {
            char target[256];
            snprintf(target, sizeof(target),
                     "../../archive/www.example.org/%s2.pem", names[i]);
            if ((size_t)snprintf(q, sizeof(q), "%s/%s.pem", p, names[i]) >=
                sizeof(q))
                die("path length");
            unlink(q);
            if (symlink(target, q) != 0)
                die("symlink");
        }
    }

    /* Postfix: expires in 5 days (critical). */
    join(p, sizeof(p), dir, "postfix");
    tp_mkdirs(p);
    c = tp_cert(&(tp_spec){.cn = "mail.example.net", .dns = mail,
                           .not_before = now - 85 * DAY,
                           .not_after = now + 5 * DAY, .serial = 200,
                           .key = k3, .issuer = inter,
                           .issuer_key = int_key});
    chain[0] = c;
    chain[1] = inter;
    join(q, sizeof(q), p, "mail.example.net.pem");
    tp_write_pem(q, chain, 2, NULL, 0644);
    join(q, sizeof(q), p, "mail.example.net.key");
    tp_write_key(q, k3, 0600);
    X509_free(c);

    /* nginx: healthy, a chain whose intermediate expires before the leaf,
     * a key that does not match, a world-readable key. */
    join(p, sizeof(p), dir, "nginx");
    tp_mkdirs(p);
    c = tp_cert(&(tp_spec){.cn = "shop.example.com", .dns = shop,
                           .not_before = now - 5 * DAY,
                           .not_after = now + 85 * DAY, .serial = 300,
                           .key = k1, .issuer = inter,
                           .issuer_key = int_key});
    chain[0] = c;
    chain[1] = inter;
    join(q, sizeof(q), p, "shop.example.com.crt");
    tp_write_pem(q, chain, 2, NULL, 0644);
    join(q, sizeof(q), p, "shop.example.com.key");
    tp_write_key(q, k1, 0600);
    X509_free(c);
    c = tp_cert(&(tp_spec){.cn = "api.example.com", .dns = api,
                           .not_before = now - 10 * DAY,
                           .not_after = now + 80 * DAY, .serial = 301,
                           .key = k2, .issuer = inter_short,
                           .issuer_key = int_key});
    chain[0] = c;
    chain[1] = inter_short;
    join(q, sizeof(q), p, "api.example.com.crt");
    tp_write_pem(q, chain, 2, NULL, 0644);
    join(q, sizeof(q), p, "api.example.com.key");
    tp_write_key(q, k2, 0600);
    X509_free(c);
    c = tp_cert(&(tp_spec){.cn = "db.example.com", .dns = db,
                           .not_before = now - 10 * DAY,
                           .not_after = now + 60 * DAY, .serial = 302,
                           .key = k1, .issuer = inter,
                           .issuer_key = int_key});
    join(q, sizeof(q), p, "db.example.com.crt");
    tp_write_pem(q, &c, 1, NULL, 0644);
    join(q, sizeof(q), p, "db.example.com.key");
    tp_write_key(q, k3, 0600); /* the wrong key */
    X509_free(c);
    c = tp_cert(&(tp_spec){.cn = "imap.example.net", .dns = imap,
                           .not_before = now - 10 * DAY,
                           .not_after = now + 70 * DAY, .serial = 303,
                           .key = k2, .issuer = inter,
                           .issuer_key = int_key});
    join(q, sizeof(q), p, "imap.example.net.crt");
    tp_write_pem(q, &c, 1, NULL, 0644);
    join(q, sizeof(q), p, "imap.example.net.key");
    tp_write_key(q, k2, 0644); /* readable by everyone */
    X509_free(c);

    /* Misc: expired, IDN, IP addresses, unordered chain, corrupt file. */
    join(p, sizeof(p), dir, "misc");
    tp_mkdirs(p);
    c = tp_cert(&(tp_spec){.cn = "legacy.example.com", .dns = old,
                           .not_before = now - 400 * DAY,
                           .not_after = now - 3 * DAY, .serial = 400,
                           .key = k1, .issuer = inter,
                           .issuer_key = int_key});
    join(q, sizeof(q), p, "legacy.example.com.pem");
    tp_write_pem(q, &c, 1, NULL, 0644);
    X509_free(c);
    c = tp_cert(&(tp_spec){.cn = "xn--mnchen-3ya.example", .dns = idn,
                           .not_before = now - 1 * DAY,
                           .not_after = now + 89 * DAY, .serial = 401,
                           .key = k2, .issuer = inter,
                           .issuer_key = int_key});
    join(q, sizeof(q), p, "muenchen.der");
    tp_write_der(q, c);
    X509_free(c);
    c = tp_cert(&(tp_spec){.cn = "gateway.example.com", .dns = ipdns,
                           .ips = ips, .not_before = now - 1 * DAY,
                           .not_after = now + 30 * DAY, .serial = 402,
                           .key = k1, .issuer = inter,
                           .issuer_key = int_key});
    chain[0] = inter;
    chain[1] = c;
    join(q, sizeof(q), p, "gateway-unordered.pem");
    tp_write_pem(q, chain, 2, NULL, 0644);
    X509_free(c);
    join(q, sizeof(q), p, "broken.pem");
    {
        static const char bad[] =
            "-----BEGIN CERTIFICATE-----\n"
            "MIIBszCCAVmgAwIBAgIBATAKBggqhkjOPQQDAjAhMR8wHQYDVQQDDBZrZXl3YXJk\n"
            "ZW4gRGVtbyBSb290IENB!!!notbase64!!!\n"
            "-----END CERTIFICATE-----\n";
        tp_write_bytes(q, bad, sizeof(bad) - 1, 0644);
    }

    X509_free(root);
    X509_free(inter);
    X509_free(inter_short);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(int_key);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    EVP_PKEY_free(k3);
    return 0;
}

static unsigned next_rand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 8) & 0xffffff;
}

long tp_make_tree(const char *dir, long ncerts, int64_t now, unsigned seed)
{
    EVP_PKEY *keys[4], *ca_key = tp_key_ec();
    X509 *root, *inters[2];
    long written = 0, file = 0;
    char path[4096];
    int i;

    for (i = 0; i < 4; i++)
        keys[i] = tp_key_ec();
    root = tp_cert(&(tp_spec){.cn = "Bench Root", .not_before = now - DAY,
                              .not_after = now + 3650 * DAY, .is_ca = 1,
                              .serial = 1, .key = ca_key});
    for (i = 0; i < 2; i++)
        inters[i] = tp_cert(&(tp_spec){.cn = i ? "Bench Issuing B"
                                               : "Bench Issuing A",
                                       .not_before = now - DAY,
                                       .not_after = now + 1800 * DAY,
                                       .is_ca = 1,
                                       .serial = 2 + i,
                                       .key = keys[i],
                                       .issuer = root,
                                       .issuer_key = ca_key});
    while (written < ncerts) {
        unsigned kind = next_rand(&seed) % 10;
        int n = kind < 5 ? 1 : kind < 8 ? 2 : 5; /* single, chain, bundle */
        X509 *certs[5];
        char name[4200], dname[64];
        const char *dns[2];

        if (file % 200 == 0) {
            snprintf(path, sizeof(path), "%s/d%05ld", dir, file / 200);
            tp_mkdirs(path);
        }
        for (i = 0; i < n; i++) {
            long id = written + i;
            int64_t life = 90 + (int64_t)(next_rand(&seed) % 300);
            int64_t start = now - (int64_t)(next_rand(&seed) % 60) * DAY;

            if (n == 2 && i == 1) {
                certs[i] = X509_dup(inters[0]);
                continue;
            }
            snprintf(dname, sizeof(dname), "host%ld.bench.example", id);
            dns[0] = dname;
            dns[1] = NULL;
            certs[i] = tp_cert(&(tp_spec){.cn = dname,
                                          .dns = dns,
                                          .not_before = start,
                                          .not_after = start + life * DAY,
                                          .serial = 1000 + id,
                                          .key = keys[2 + (id & 1)],
                                          .issuer = inters[id & 1],
                                          .issuer_key = keys[id & 1]});
        }
        snprintf(name, sizeof(name), "%s/d%05ld/f%07ld.pem", dir, file / 200,
                 file);
        tp_write_pem(name, certs, (size_t)n, NULL, 0644);
        for (i = 0; i < n; i++)
            X509_free(certs[i]);
        written += n;
        file++;
    }
    X509_free(root);
    X509_free(inters[0]);
    X509_free(inters[1]);
    EVP_PKEY_free(ca_key);
    for (i = 0; i < 4; i++)
        EVP_PKEY_free(keys[i]);
    return written;
}

void tp_tlsa_spki(X509 *x, int usage, char *buf, size_t cap)
{
    unsigned char *der = NULL, md[32];
    int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
    size_t i, pos;

    if (n <= 0 || cap < 80 ||
        EVP_Digest(der, (size_t)n, md, NULL, EVP_sha256(), NULL) != 1)
        abort();
    OPENSSL_free(der);
    pos = (size_t)snprintf(buf, cap, "%d 1 1 ", usage);
    for (i = 0; i < 32; i++)
        pos += (size_t)snprintf(buf + pos, cap - pos, "%02x", md[i]);
}

void tp_write_served(const char *dir, const char *base, X509 *leaf, X509 *ca,
                     EVP_PKEY *k, char *cert, char *key, size_t cap)
{
    X509 *chain[2] = { leaf, ca };

    snprintf(cert, cap, "%s/%s.pem", dir, base);
    if (tp_write_pem(cert, chain, 2, NULL, 0644) != 0)
        abort();
    if (k == NULL)
        return;
    snprintf(key, cap, "%s/%s.key", dir, base);
    if (tp_write_key(key, k, 0600) != 0)
        abort();
}

X509 *tp_ca(const char *cn, EVP_PKEY *k, int64_t now)
{
    tp_spec s;

    memset(&s, 0, sizeof(s));
    s.cn = cn;
    s.is_ca = 1;
    s.serial = 1;
    s.not_before = now - 86400;
    s.not_after = now + 900 * 86400;
    s.key = k;
    return tp_cert(&s);
}
