/*
 * dane_bed.c: the DANE key-rollover test bed (dane_bed.h).
 */
#include "dane_bed.h"

#include "dane/dane_roll.h"
#include "keystore/ks_keygen.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int dane_bed_start(const char *dir, const dane_bed_opts *o, dane_bed *b)
{
    static const dane_bed_opts none;
    kn_opts ko;
    pb_opts po;
    kw_diag d;

    if (o == NULL)
        o = &none;
    memset(b, 0, sizeof(*b));
    snprintf(b->dir, sizeof(b->dir), "%s", dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "dane_bed: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    memset(&ko, 0, sizeof(ko));
    ko.zone = o->zone;
    ko.records = o->records;
    ko.sign = o->sign;
    ko.neg_ttl = o->neg_ttl;
    /* One port free on both addresses: NS records carry no port. */
    b->port = kn_free_port(o->secondary ? "127.0.0.2" : "127.0.0.1");
    ko.port = b->port;
    ko.ns2_addr = o->secondary ? "127.0.0.2" : NULL;
    if (kn_primary_start(dir, "knot1", &ko, &b->prim) != 0)
        goto fail;
    if (o->secondary &&
        kn_secondary_start(dir, "knot2", &b->prim, "127.0.0.2", &b->sec) !=
            0)
        goto fail;
    if (kw_dns_server_parse("127.0.0.1", b->port, &b->servers[0], &d) != 0)
        goto fail;
    b->nservers = 1;
    if (o->secondary) {
        if (kw_dns_server_parse("127.0.0.2", b->port, &b->servers[1], &d) !=
            0)
            goto fail;
        b->nservers = 2;
    }
    pb_pki_make(dir, "pebble-tls", "Pebble TLS Test CA (DANE bed)", &b->pki);
    /* The validator asks the primary: the dns-01 TXT records are there. */
    po = PB_OPTS_DEFAULT(b->port);
    po.nosleep = 1;
    if (pb_start(dir, "pebble", &b->pki, &po, &b->peb) != 0)
        goto fail;
    return 0;
fail:
    dane_bed_stop(b);
    return -1;
}

void dane_bed_stop(dane_bed *b)
{
    if (b->peb.pid > 0)
        pb_stop(b->peb.pid);
    b->peb.pid = 0;
    kn_stop(&b->sec);
    kn_stop(&b->prim);
}

int dane_bed_cert(const dane_bed *b, const char *name, const char *host,
                  int ttl, const char *extra, char *buf, size_t cap)
{
    char check[160];
    size_t n;
    int w;

    n = (size_t)snprintf(check, sizeof(check), "127.0.0.1:%d", b->port);
    if (b->nservers > 1)
        snprintf(check + n, sizeof(check) - n, ", 127.0.0.2:%d", b->port);
    w = snprintf(buf, cap,
                 "[certificate \"%s\"]\nnames = %s\n"
                 "challenge = dns-01\ndns_server = 127.0.0.1:%d\n"
                 "tsig_key = %s\ntsig_algorithm = %s\ntsig_secret = %s\n"
                 "dns_check = %s\ndns_wait = 20s\n"
                 "dane = 3 1 1\ndane_hosts = %s\ndane_ttl = %d\n%s",
                 name, host, b->port, b->prim.key_name, b->prim.key_alg,
                 b->prim.key_secret, check, host, ttl,
                 extra != NULL ? extra : "");
    if (w < 0 || (size_t)w >= cap) {
        fprintf(stderr, "dane_bed: the [certificate \"%s\"] text does not "
                        "fit in %zu octets\n", name, cap);
        return -1;
    }
    return 0;
}

int dane_bed_conf(const dane_bed *b, const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    int rc;

    if (f == NULL) {
        fprintf(stderr, "dane_bed: %s: %s\n", path, strerror(errno));
        return -1;
    }
    rc = fprintf(f, "[acme]\ndirectory = %s\nca_file = %s\n"
                    "contact = mailto:ops@example.com\n%s",
                 b->peb.directory, b->pki.ca_pem, text) < 0 ? -1 : 0;
    if (fclose(f) != 0)
        rc = -1;
    if (rc != 0)
        fprintf(stderr, "dane_bed: writing %s failed\n", path);
    return rc;
}

int dane_bed_key_tlsa(const char *path, char *buf)
{
    kw_diag d;
    EVP_PKEY *k = ks_key_read(path, &d);
    int rc;

    if (k == NULL) {
        fprintf(stderr, "dane_bed: %s\n", d.msg);
        return -1;
    }
    rc = kw_dane_key_tlsa(k, 3, 1, 1, buf, 160, &d);
    EVP_PKEY_free(k);
    if (rc != 0)
        fprintf(stderr, "dane_bed: %s: %s\n", path, d.msg);
    return rc == 0 ? 0 : -1;
}
