/*
 * acme_ops.c: revocation and account key rollover (see acme_ops.h).
 *
 *   pool: read what the request needs (account key, certificate, a new
 *         key written beside the old one)
 *   loop: acme_client with ACME_OP_REVOKE or ACME_OP_KEY_CHANGE
 *   pool: make it stick (the new key renamed into place) and record it
 */
#include "acme_ops.h"

#include "../acme/acme_client.h"
#include "../acme/acme_jws.h"
#include "../common/kw_json.h"
#include "../common/kw_log.h"
#include "../common/kw_time.h"
#include "../keystore/ks_keygen.h"
#include "../keystore/ks_managed.h"

#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

typedef struct op {
    kw_acme_env *env;
    uv_work_t work;
    acme_op kind;
    kw_acme_op_cb cb;
    void *ctx;
    char *name;       /* the certificate (revoke) */
    char *directory;
    char *account_type;
    int reason;
    char certs_dir[PATH_MAX];
    char key_path[PATH_MAX + 96];
    char next_path[PATH_MAX + 128];
    EVP_PKEY *account_key, *new_key;
    unsigned char *der;
    size_t der_len;
    int status;      /* 0 or KW_E*, as kw_acme_op_result */
    char msg[2048];
} op;

int kw_revoke_reason_parse(const char *s)
{
    static const struct {
        const char *word;
        int code;
    } reasons[] = {
        {"unspecified", 0},          {"keyCompromise", 1},
        {"affiliationChanged", 3},   {"superseded", 4},
        {"cessationOfOperation", 5}, {"privilegeWithdrawn", 9},
    };
    size_t i;

    for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (strcasecmp(s, reasons[i].word) == 0)
            return reasons[i].code;
    return -1;
}

static void free_op(op *o)
{
    free(o->name);
    free(o->directory);
    free(o->account_type);
    EVP_PKEY_free(o->account_key);
    EVP_PKEY_free(o->new_key);
    free(o->der);
    free(o);
}

static void finish(op *o)
{
    kw_acme_op_result res = {o->status, o->msg};

    o->env->in_flight--;
    o->cb(o->ctx, &res);
    free_op(o);
}

static void fail_op(op *o, int status, const char *msg)
{
    o->status = status;
    snprintf(o->msg, sizeof(o->msg), "%s", msg);
}

/* The kind of failure an order's outcome was (kw_acme_op_result). */
static int outcome_status(acme_fail f)
{
    switch (f) {
    case ACME_OK: return 0;
    case ACME_FAIL_TRANSIENT: return KW_EIO;
    case ACME_FAIL_CANCELLED: return KW_ECANCELED;
    default: return KW_EREJECTED;
    }
}

/* ----- pool: before -------------------------------------------------------- */

static int read_der(op *o, kw_diag *d)
{
    char path[PATH_MAX + 300];
    unsigned char *p = NULL;
    X509 *x;
    int n;

    snprintf(path, sizeof(path), "%s/live/%s/cert.pem", o->certs_dir,
             o->name);
    n = ks_cert_read(path, &x, d);
    if (n == KW_ENOENT)
        return kw_diag_set(d, n, "%s: no such file (was the certificate "
                                 "ever issued?)",
                           path);
    if (n != 0)
        return n;
    n = i2d_X509(x, &p);
    X509_free(x);
    if (n <= 0)
        return kw_diag_set(d, KW_ECRYPTO, "%s: cannot encode it", path);
    o->der = malloc((size_t)n);
    if (o->der == NULL) {
        OPENSSL_free(p);
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    }
    memcpy(o->der, p, (size_t)n);
    o->der_len = (size_t)n;
    OPENSSL_free(p);
    return 0;
}

static void before_work(uv_work_t *w)
{
    op *o = w->data;
    kw_diag d;
    int rc;

    d.msg[0] = '\0';
    rc = kw_account_key(o->env, o->directory, o->account_type, 0,
                        &o->account_key, o->key_path, sizeof(o->key_path),
                        &d);
    if (rc == 0 && o->kind == ACME_OP_REVOKE)
        rc = read_der(o, &d);
    if (rc == 0 && o->kind == ACME_OP_KEY_CHANGE) {
        ks_key_type t = KS_KEY_EC256;

        if (o->account_type != NULL)
            ks_key_type_parse(o->account_type, &t);
        snprintf(o->next_path, sizeof(o->next_path), "%s.next",
                 o->key_path);
        o->new_key = ks_keygen(t, &d);
        if (o->new_key == NULL)
            rc = KW_ECRYPTO;
        else
            rc = ks_key_write(o->next_path, o->new_key, 0600, (gid_t)-1,
                              &d);
    }
    if (rc != 0)
        fail_op(o, rc, d.msg);
}

/* ----- pool: after ----------------------------------------------------------- */

static void after_work(uv_work_t *w)
{
    op *o = w->data;
    ks_store *s = NULL;
    kw_diag d;
    int64_t now = o->env->now != 0 ? o->env->now : kw_now();

    if (o->kind == ACME_OP_KEY_CHANGE) {
        if (o->status != 0) {
            unlink(o->next_path); /* the CA still knows the old key */
            return;
        }
        /* The CA has the new key: it must replace the old file now.  A
         * crash before this rename leaves account-HASH.pem.next, which
         * is the key the CA knows (kept for the operator, 0600). */
        if (rename(o->next_path, o->key_path) != 0) {
            o->status = kw_errno();
            snprintf(o->msg, sizeof(o->msg),
                     "the CA now knows the key in %.900s, but it cannot be "
                     "renamed to %.900s: %s; rename it by hand",
                     o->next_path, o->key_path, strerror(errno));
            return;
        }
    }
    if (o->status != 0)
        return;
    if (ks_open(o->env->db_path, KS_OPEN_CREATE, &s, &d) != 0 ||
        ks_managed_event(
            s,
            o->kind == ACME_OP_REVOKE ? "cert.revoked"
                                      : "account.key_changed",
            o->kind == ACME_OP_REVOKE
                ? json_pack("{s:o, s:i}", "certificate",
                            kw_json_str(o->name), "reason", o->reason)
                : json_pack("{s:o, s:o}", "directory",
                            kw_json_str(o->directory), "key",
                            kw_json_str(o->key_path)),
            now, &d) != 0)
        kw_warn("recording the event: %s", d.msg);
    ks_close(s);
}

static void after_done(uv_work_t *w, int status)
{
    op *o = w->data;

    if (status != 0 && o->status == 0)
        fail_op(o, KW_EIO, "the thread pool refused the work");
    finish(o);
}

/* ----- loop ------------------------------------------------------------------- */

static void on_done(void *ctx, const acme_outcome *out)
{
    op *o = ctx;

    if (out->fail == ACME_OK)
        fail_op(o, 0,
                o->kind == ACME_OP_REVOKE ? "revoked" : "account key changed");
    else
        fail_op(o, outcome_status(out->fail), out->detail);
    if (uv_queue_work(o->env->loop, &o->work, after_work, after_done) != 0) {
        fail_op(o, KW_EIO, "the thread pool refused the work");
        finish(o);
    }
}

static void before_done(uv_work_t *w, int status)
{
    op *o = w->data;
    acme_order_params p;
    acme_solver none = {NULL, NULL, NULL};
    kw_diag d;

    if (status != 0 || o->status != 0) {
        if (status != 0)
            fail_op(o, KW_EIO, "the thread pool refused the work");
        if (o->kind == ACME_OP_KEY_CHANGE && o->next_path[0] != '\0')
            unlink(o->next_path);
        finish(o);
        return;
    }
    memset(&p, 0, sizeof(p));
    p.op = o->kind;
    p.directory_url = o->directory;
    p.account_key = o->account_key;
    p.cert_der = o->der;
    p.cert_len = o->der_len;
    p.reason = o->reason;
    p.new_key = o->new_key;
    if (acme_order_start(o->env->http, &p, &none, NULL, on_done, o, NULL,
                         &d) != 0) {
        acme_outcome out;

        memset(&out, 0, sizeof(out));
        out.fail = ACME_FAIL_TRANSIENT;
        snprintf(out.detail, sizeof(out.detail), "%s", d.msg);
        on_done(o, &out);
    }
}

static int start(kw_acme_env *env, acme_op kind, const kw_renew_params *c,
                 int reason, kw_acme_op_cb cb, void *ctx, kw_diag *d)
{
    const kw_acme_params *a = &env->params;
    op *o;
    const char *dir;

    if (env->http == NULL)
        return kw_diag_set(d, KW_EINVAL, "the ACME client did not start");
    o = calloc(1, sizeof(*o));
    if (o == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    o->env = env;
    o->kind = kind;
    o->cb = cb;
    o->ctx = ctx;
    o->reason = reason;
    dir = c != NULL && c->directory != NULL ? c->directory : a->directory;
    o->directory = strdup(dir);
    o->name = c != NULL ? strdup(c->name) : NULL;
    o->account_type = a->account_key != NULL ? strdup(a->account_key) : NULL;
    if (o->directory == NULL || (c != NULL && o->name == NULL) ||
        (a->account_key != NULL && o->account_type == NULL)) {
        free_op(o);
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    }
    snprintf(o->certs_dir, sizeof(o->certs_dir), "%s", a->certs_dir);
    o->work.data = o;
    if (uv_queue_work(env->loop, &o->work, before_work, before_done) != 0) {
        free_op(o);
        return kw_diag_set(d, KW_EIO, "the thread pool refused the work");
    }
    env->in_flight++;
    return 0;
}

int kw_revoke_start(kw_acme_env *env, const kw_renew_params *c, int reason,
                    kw_acme_op_cb cb, void *ctx, kw_diag *d)
{
    return start(env, ACME_OP_REVOKE, c, reason, cb, ctx, d);
}

int kw_account_rollover_start(kw_acme_env *env, kw_acme_op_cb cb, void *ctx,
                              kw_diag *d)
{
    return start(env, ACME_OP_KEY_CHANGE, NULL, -1, cb, ctx, d);
}
