/*
 * acme_ari.c: ARI identifiers and the renewalInfo request.
 */
#include "acme_ari.h"

#include "acme_directory.h"
#include "acme_jws.h"

#include "../common/kw_time.h"

#include <jansson.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *acme_ari_cert_id(X509 *cert, kw_diag *d)
{
    const ASN1_OCTET_STRING *kid = X509_get0_authority_key_id(cert);
    const ASN1_INTEGER *serial = X509_get0_serialNumber(cert);
    unsigned char *der = NULL, *p;
    char *a = NULL, *b = NULL, *out = NULL;
    int n;

    if (kid == NULL || ASN1_STRING_length(kid) <= 0) {
        kw_diag_set(d, KW_EPARSE,
                    "the certificate has no authority key identifier");
        return NULL;
    }
    /* The serial's DER content octets (two's complement, with the
     * leading zero when the high bit is set): the INTEGER minus its tag
     * and length. */
    n = i2d_ASN1_INTEGER(serial, &der);
    if (n < 3) {
        OPENSSL_free(der);
        kw_diag_set(d, KW_EPARSE, "the certificate's serial number is "
                                  "malformed");
        return NULL;
    }
    p = der + 2;
    if (der[1] & 0x80)
        p += der[1] & 0x7f;
    a = acme_b64url(ASN1_STRING_get0_data(kid),
                    (size_t)ASN1_STRING_length(kid));
    b = p < der + n ? acme_b64url(p, (size_t)(der + n - p)) : NULL;
    OPENSSL_free(der);
    if (a != NULL && b != NULL) {
        out = malloc(strlen(a) + strlen(b) + 2);
        if (out != NULL)
            sprintf(out, "%s.%s", a, b);
    }
    free(a);
    free(b);
    if (out == NULL)
        kw_diag_set(d, KW_ENOMEM, "out of memory");
    return out;
}

int64_t acme_ari_pick(int64_t start, int64_t end, double u)
{
    if (end <= start)
        return start;
    if (u < 0)
        u = 0;
    if (u >= 1)
        u = 0.999999;
    return start + (int64_t)((double)(end - start) * u);
}

typedef struct ari_req {
    acme_http *h;
    acme_ari_cb cb;
    void *ctx;
    char *cert_id;
    char *directory;
    acme_ari_result res;
} ari_req;

static void done(ari_req *q)
{
    q->cb(q->ctx, &q->res);
    free(q->cert_id);
    free(q->directory);
    free(q);
}

static void on_info(void *ctx, acme_resp *r)
{
    ari_req *q = ctx;
    json_error_t err;
    json_t *js, *w;
    const char *s, *e, *x;

    if (!r->ok) {
        snprintf(q->res.error, sizeof(q->res.error), "%s", r->error);
        done(q);
        return;
    }
    if (r->status != 200) {
        snprintf(q->res.error, sizeof(q->res.error),
                 "%.600s answered HTTP %ld", r->url, r->status);
        done(q);
        return;
    }
    q->res.retry_after = r->retry_after;
    js = json_loadb(r->body, r->len, 0, &err);
    w = json_object_get(js, "suggestedWindow");
    s = json_string_value(json_object_get(w, "start"));
    e = json_string_value(json_object_get(w, "end"));
    if (js == NULL || s == NULL || e == NULL ||
        kw_time_parse_rfc3339(s, &q->res.start) != 0 ||
        kw_time_parse_rfc3339(e, &q->res.end) != 0) {
        snprintf(q->res.error, sizeof(q->res.error),
                 "%s: not a renewalInfo answer (suggestedWindow with start "
                 "and end as RFC 3339 times)",
                 r->url);
        json_decref(js);
        done(q);
        return;
    }
    x = json_string_value(json_object_get(js, "explanationURL"));
    if (x != NULL)
        snprintf(q->res.explanation, sizeof(q->res.explanation), "%s", x);
    q->res.ok = 1;
    json_decref(js);
    done(q);
}

static void on_dir(void *ctx, acme_resp *r)
{
    ari_req *q = ctx;
    json_error_t err;
    json_t *js;
    acme_directory dir;
    const char *ri;
    char *url;
    kw_diag d;

    if (!r->ok || r->status != 200) {
        snprintf(q->res.error, sizeof(q->res.error),
                 "reading the ACME directory %s: %s", q->directory,
                 r->ok ? "it did not answer 200" : r->error);
        done(q);
        return;
    }
    js = json_loadb(r->body, r->len, 0, &err);
    acme_directory_read(js, &dir);
    ri = dir.renewal_info;
    if (ri == NULL) {
        json_decref(js);
        q->res.ok = 1; /* no ARI at this CA: nothing to follow */
        done(q);
        return;
    }
    q->res.offered = 1;
    url = malloc(strlen(ri) + strlen(q->cert_id) + 2);
    if (url == NULL) {
        json_decref(js);
        snprintf(q->res.error, sizeof(q->res.error), "out of memory");
        done(q);
        return;
    }
    sprintf(url, "%s%s%s", ri, ri[strlen(ri) - 1] == '/' ? "" : "/",
            q->cert_id);
    json_decref(js);
    if (acme_http_request(q->h, "GET", url, NULL, NULL, "application/json",
                          on_info, q, &d) != 0) {
        snprintf(q->res.error, sizeof(q->res.error), "%s", d.msg);
        free(url);
        done(q);
        return;
    }
    free(url);
}

int acme_ari_fetch(acme_http *h, const char *directory_url,
                   const char *cert_id, acme_ari_cb cb, void *ctx,
                   kw_diag *d)
{
    ari_req *q = calloc(1, sizeof(*q));

    if (q == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    q->h = h;
    q->cb = cb;
    q->ctx = ctx;
    q->res.retry_after = -1;
    q->cert_id = strdup(cert_id);
    q->directory = strdup(directory_url);
    if (q->cert_id == NULL || q->directory == NULL) {
        free(q->cert_id);
        free(q->directory);
        free(q);
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    }
    if (acme_http_request(h, "GET", directory_url, NULL, NULL, NULL, on_dir,
                          q, d) != 0) {
        free(q->cert_id);
        free(q->directory);
        free(q);
        return KW_EIO;
    }
    return 0;
}
