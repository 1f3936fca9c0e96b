/*
 * acme_client.c: the order state machine.  One request in flight per
 * order; many orders share one acme_http and run side by side.
 *
 * An order (or a revocation, or an account key change) is in one state:
 *
 *   DIRECTORY  GET the directory URL.
 *   ACCOUNT    newAccount: register, or (revoke, key change) look up the
 *              existing account with onlyReturnExisting.
 *   ORDER      newOrder, or the first POST-as-GET of a resumed order.
 *   AUTHZ      reading authorization ai (authorizations are walked in
 *              order, one at a time).
 *   PRESENT    the solver's present() answered ACME_PRESENT_PENDING;
 *              acme_order_presented() continues.
 *   CHALLENGE  telling the CA the answer is in place (POST {}).
 *   POLL       polling the order until it is ready or valid; the timer
 *              is armed between polls.
 *   FINALIZE   posting the CSR to the order's finalize URL.
 *   DOWNLOAD   fetching the chain, then alternates (preferred_chain).
 *   DIAGNOSE   the order went invalid: reading the failed authorization
 *              to say why.
 *   OP         the one signed request of a revocation or a key change.
 *   DONE       finish() ran: done() has been called, the timer closes.
 *
 * DIRECTORY -> ACCOUNT (no account URL known) or straight to ORDER/OP;
 * ACCOUNT -> ORDER (ACME_OP_ORDER) or OP.  From ORDER, POLL and FINALIZE
 * the order's status decides: pending -> AUTHZ (authorizations not walked
 * yet) or POLL, ready -> FINALIZE, processing -> POLL, valid -> DOWNLOAD,
 * invalid -> DIAGNOSE.  AUTHZ -> AUTHZ (valid: the next one), PRESENT,
 * CHALLENGE, DIAGNOSE (neither valid nor pending), or POLL once all are
 * walked; PRESENT -> CHALLENGE, or AUTHZ/POLL when the CA is validating
 * it already; CHALLENGE -> AUTHZ or POLL; DIAGNOSE reads authorizations
 * until it can say why, then DONE.  Every state -> DONE: success
 * (DOWNLOAD, OP), failure or cancellation.
 *
 * Invariants: outside a callback, an order not DONE waits on exactly one
 * thing: a request in flight (in_flight), the timer (POLL), or a
 * present() (PRESENT).  done() runs exactly once, on entering DONE, and
 * nothing is sent after it.  Every present() that succeeded has had its
 * cleanup() by the time FINALIZE or DONE is entered.  ORDER to
 * DOWNLOAD happen only for ACME_OP_ORDER, OP only for the other two.
 */
#include "acme_client.h"

#include "acme_directory.h"
#include "acme_jws.h"

#include "../common/kw_log.h"
#include "../common/kw_str.h"
#include "../common/kw_time.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBLEM_PREFIX "urn:ietf:params:acme:error:"

typedef void (*handler)(acme_order *o, acme_resp *r, json_t *js);

enum order_state {
    OS_DIRECTORY,
    OS_ACCOUNT,
    OS_ORDER,
    OS_AUTHZ,
    OS_PRESENT,
    OS_CHALLENGE,
    OS_POLL,
    OS_FINALIZE,
    OS_DOWNLOAD,
    OS_DIAGNOSE,
    OS_OP,
    OS_DONE
};

typedef struct presented {
    char *type;
    char *ident;
    int wildcard;
    char *token;
    char *value;
} presented;

struct acme_order {
    acme_http *h;
    acme_solver solver;
    acme_step_cb step;
    acme_done_cb done;
    void *ctx;
    EVP_PKEY *key;
    char *thumbprint;

    /* copies of the parameters */
    char *directory_url, *contact, *profile, *replaces, *resume_url;
    char **names;
    size_t nnames;
    unsigned char *csr;
    size_t csr_len;
    int max_bad_nonce;
    int64_t poll_limit_s;

    acme_op op;
    char *eab_kid, *eab_alg;
    unsigned char *eab_key, *cert_der;
    size_t eab_key_len, cert_len;
    int reason;
    EVP_PKEY *new_key;

    /* what the CA told us */
    char *new_nonce, *new_account, *new_order, *revoke_url, *key_change_url;
    int eab_required;
    char *kid, *nonce;
    char *order_url, *finalize_url, *cert_url;
    char **authz;
    size_t nauthz, ai;
    presented *pres;
    size_t npres;
    int dropped_replaces;
    char *challenge_type;   /* "http-01" or "dns-01" */
    char *preferred;        /* preferred_chain */
    char *alts[4];          /* alternate chains' URLs */
    size_t nalts, next_alt;
    int presenting;         /* a present() in progress */
    char *chal_url;         /* to answer once it is presented */
    int chal_answered;      /* the CA is validating it already */
    json_t *order_error; /* of an invalid order, while diagnosing */

    /* the signed request in flight, kept for a badNonce retry */
    char *cur_url, *cur_payload, *cur_accept;
    handler cur_next;
    int bad_nonce_run;
    int in_flight;

    uv_timer_t timer;
    void (*timer_fn)(acme_order *o);
    int64_t phase_start;
    unsigned poll_ms;
    int cancelled;
    enum order_state state;

    acme_outcome out;
};

static void post(acme_order *o, const char *url, const char *payload,
                 const char *accept, handler next);
static void on_order_obj(acme_order *o, acme_resp *r, json_t *js);
static void next_authz(acme_order *o);
static void poll_order(acme_order *o);
static void fail_order_error(acme_order *o);
static void start_op(acme_order *o);
static void answer_challenge(acme_order *o);

static void set_state(acme_order *o, enum order_state s)
{
    static const char *const names[] = {
        "directory", "account", "order",    "authz",    "present", "challenge",
        "poll",      "finalize", "download", "diagnose", "op",      "done"};

    if (o->state == s)
        return;
    kw_debug("acme order %s: %s -> %s",
             o->order_url != NULL      ? o->order_url
             : o->directory_url != NULL ? o->directory_url
                                        : "(unstarted)",
             names[o->state], names[s]);
    o->state = s;
}

/* ----- ending --------------------------------------------------------- */

static void on_timer_closed(uv_handle_t *hd)
{
    acme_order *o = hd->data;
    size_t i;

    for (i = 0; i < o->nnames; i++)
        free(o->names[i]);
    free(o->names);
    for (i = 0; i < o->nauthz; i++)
        free(o->authz[i]);
    free(o->authz);
    free(o->pres);
    if (o->csr != NULL)
        free(o->csr);
    free(o->thumbprint);
    free(o->directory_url);
    free(o->contact);
    free(o->profile);
    free(o->replaces);
    free(o->resume_url);
    free(o->new_nonce);
    free(o->new_account);
    free(o->new_order);
    free(o->revoke_url);
    free(o->key_change_url);
    free(o->eab_kid);
    free(o->eab_alg);
    if (o->eab_key != NULL) {
        OPENSSL_cleanse(o->eab_key, o->eab_key_len);
        free(o->eab_key);
    }
    free(o->cert_der);
    free(o->kid);
    free(o->nonce);
    free(o->order_url);
    free(o->finalize_url);
    free(o->cert_url);
    free(o->challenge_type);
    free(o->preferred);
    for (i = 0; i < o->nalts; i++)
        free(o->alts[i]);
    free(o->chal_url);
    free(o->cur_url);
    free(o->cur_payload);
    free(o->cur_accept);
    free(o->out.fullchain);
    json_decref(o->order_error);
    free(o);
}

static void cleanup_tokens(acme_order *o)
{
    size_t i;

    for (i = 0; i < o->npres; i++) {
        presented *p = &o->pres[i];
        acme_challenge ch = {p->type, p->ident, p->wildcard, p->token,
                             p->value};

        if (o->solver.cleanup != NULL)
            o->solver.cleanup(o->solver.ctx, &ch);
        free(p->type);
        free(p->ident);
        free(p->token);
        free(p->value);
    }
    o->npres = 0;
}

static void finish(acme_order *o)
{
    if (o->state == OS_DONE)
        return;
    set_state(o, OS_DONE);
    cleanup_tokens(o);
    uv_timer_stop(&o->timer);
    o->out.account_url = o->kid;
    o->out.order_url = o->order_url;
    o->done(o->ctx, &o->out);
    uv_close((uv_handle_t *)&o->timer, on_timer_closed);
}

static void fail(acme_order *o, acme_fail why, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(acme_order *o, acme_fail why, const char *fmt, ...)
{
    va_list ap;

    o->out.fail = why;
    va_start(ap, fmt);
    vsnprintf(o->out.detail, sizeof(o->out.detail), fmt, ap);
    va_end(ap);
    finish(o);
}

acme_fail acme_problem_class(const char *type)
{
    static const char *const permanent[] = {
        "rejectedIdentifier", "unauthorized", "caa", "badCSR",
        "badSignatureAlgorithm", "invalidContact", "unsupportedContact",
        "unsupportedIdentifier", "externalAccountRequired",
        "userActionRequired", "accountDoesNotExist", "badPublicKey",
        "malformed", "badRevocationReason", "alreadyRevoked",
    };
    static const char *const validation[] = {
        "connection", "dns", "incorrectResponse", "tls",
    };
    size_t i;

    if (type == NULL)
        return ACME_FAIL_TRANSIENT;
    if (strncmp(type, PROBLEM_PREFIX, strlen(PROBLEM_PREFIX)) == 0)
        type += strlen(PROBLEM_PREFIX);
    if (strcmp(type, "rateLimited") == 0)
        return ACME_FAIL_RATELIMIT;
    for (i = 0; i < sizeof(permanent) / sizeof(permanent[0]); i++)
        if (strcmp(type, permanent[i]) == 0)
            return ACME_FAIL_PERMANENT;
    for (i = 0; i < sizeof(validation) / sizeof(validation[0]); i++)
        if (strcmp(type, validation[i]) == 0)
            return ACME_FAIL_VALIDATION;
    return ACME_FAIL_TRANSIENT;
}

/* "TYPE: DETAIL; subproblems: IDENT: TYPE: DETAIL, ..." of a problem
 * document into buf. */
static void problem_text(json_t *pb, char *buf, size_t cap)
{
    const char *type = json_string_value(json_object_get(pb, "type"));
    const char *detail = json_string_value(json_object_get(pb, "detail"));
    json_t *subs = json_object_get(pb, "subproblems"), *sp;
    size_t pos = 0, i;

    kw_str_appendf(buf, cap, &pos, "%s: %s", type ? type : "(no type)",
                    detail ? detail : "(no detail)");
    json_array_foreach(subs, i, sp)
    {
        const char *st = json_string_value(json_object_get(sp, "type"));
        const char *sd = json_string_value(json_object_get(sp, "detail"));
        const char *id = json_string_value(
            json_object_get(json_object_get(sp, "identifier"), "value"));

        kw_str_appendf(buf, cap, &pos, "%s %s: %s: %s",
                        i == 0 ? "; subproblems:" : ",", id ? id : "?",
                        st ? st : "?", sd ? sd : "");
    }
}

/* A response that is not what the step expected: a problem document, a
 * server error or garbage.  Ends the order with the CA's words. */
static void fail_resp(acme_order *o, acme_resp *r, json_t *js,
                      const char *what)
{
    char text[1536];
    const char *type = json_string_value(json_object_get(js, "type"));
    acme_fail why;

    if (!r->ok) {
        fail(o, ACME_FAIL_TRANSIENT, "%s: %s", what, r->error);
        return;
    }
    if (type != NULL) {
        problem_text(js, text, sizeof(text));
        snprintf(o->out.problem_type, sizeof(o->out.problem_type), "%s",
                 type);
        why = acme_problem_class(type);
        o->out.retry_after = r->retry_after;
        fail(o, why, "%s: %s answered %ld %s", what, r->url, r->status,
             text);
        return;
    }
    fail(o, r->status >= 500 || r->status == 0 ? ACME_FAIL_TRANSIENT
                                               : ACME_FAIL_PERMANENT,
         "%s: %s answered HTTP %ld%s%.200s", what, r->url, r->status,
         r->len > 0 ? ": " : " with an empty body", r->len > 0 ? r->body : "");
}

/* ----- requests -------------------------------------------------------- */

static json_t *parse_json(acme_order *o, acme_resp *r, const char *what)
{
    json_error_t err;
    json_t *js;

    if (r->len == 0)
        return NULL;
    if (r->content_type != NULL &&
        strstr(r->content_type, "json") == NULL)
        return NULL;
    js = json_loadb(r->body, r->len, 0, &err);
    if (js == NULL)
        fail(o, ACME_FAIL_TRANSIENT,
             "%s: %s answered HTTP %ld with malformed JSON (line %d, "
             "column %d: %s)",
             what, r->url, r->status, err.line, err.column, err.text);
    return js;
}

/* RFC 8555 section 6.5.1: a Replay-Nonce that is not base64url is
 * ignored, not used (signing it would fail the request). */
static int take_nonce(acme_order *o, acme_resp *r)
{
    size_t n;

    if (r->nonce == NULL)
        return 0;
    n = strlen(r->nonce);
    if (n == 0 || n > 256 ||
        strspn(r->nonce, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                         "0123456789-_") != n)
        return 0;
    free(o->nonce);
    o->nonce = strdup(r->nonce);
    return o->nonce != NULL;
}

static void send_signed(acme_order *o);

static void on_nonce(void *ctx, acme_resp *r)
{
    acme_order *o = ctx;

    o->in_flight = 0;
    o->out.requests++;
    if (o->cancelled || r->cancelled) {
        fail(o, ACME_FAIL_CANCELLED, "cancelled");
        return;
    }
    if (!r->ok || !take_nonce(o, r)) {
        fail(o, ACME_FAIL_TRANSIENT, "getting a nonce: %s",
             r->ok ? "the answer had no Replay-Nonce header" : r->error);
        return;
    }
    send_signed(o);
}

static void get_nonce(acme_order *o)
{
    kw_diag d;

    if (acme_http_request(o->h, "HEAD", o->new_nonce, NULL, NULL, NULL,
                          on_nonce, o, &d) != 0) {
        fail(o, ACME_FAIL_TRANSIENT, "getting a nonce: %s", d.msg);
        return;
    }
    o->in_flight = 1;
}

static void on_signed(void *ctx, acme_resp *r)
{
    acme_order *o = ctx;
    json_t *js = NULL;
    const char *type;
    handler next = o->cur_next;

    o->in_flight = 0;
    o->out.requests++;
    if (o->cancelled || r->cancelled) {
        fail(o, ACME_FAIL_CANCELLED, "cancelled");
        return;
    }
    if (r->ok)
        take_nonce(o, r);
    if (r->ok && r->content_type != NULL &&
        strstr(r->content_type, "json") != NULL && r->len > 0) {
        js = parse_json(o, r, "reading the CA's answer");
        if (js == NULL)
            return; /* failed already */
    }
    type = json_string_value(json_object_get(js, "type"));
    if (r->ok && r->status == 400 && type != NULL &&
        strcmp(type, PROBLEM_PREFIX "badNonce") == 0) {
        json_decref(js);
        o->out.bad_nonces++;
        if (++o->bad_nonce_run > o->max_bad_nonce) {
            fail(o, ACME_FAIL_TRANSIENT,
                 "POST %s: the CA rejected %d nonces in a row (badNonce)",
                 o->cur_url, o->bad_nonce_run);
            return;
        }
        /* The rejection carries a fresh nonce; use it at once. */
        if (o->nonce != NULL)
            send_signed(o);
        else {
            free(o->nonce);
            o->nonce = NULL;
            get_nonce(o);
        }
        return;
    }
    o->bad_nonce_run = 0;
    next(o, r, js);
    json_decref(js);
}

static void send_signed(acme_order *o)
{
    kw_diag d;
    char *jws;

    if (o->nonce == NULL) {
        get_nonce(o);
        return;
    }
    jws = acme_jws_sign(o->key, o->kid, o->nonce, o->cur_url, o->cur_payload,
                        &d);
    free(o->nonce); /* a nonce is good for one request */
    o->nonce = NULL;
    if (jws == NULL) {
        fail(o, ACME_FAIL_PERMANENT, "signing the request to %s: %s",
             o->cur_url, d.msg);
        return;
    }
    if (acme_http_request(o->h, "POST", o->cur_url, jws, NULL, o->cur_accept,
                          on_signed, o, &d) != 0) {
        free(jws);
        fail(o, ACME_FAIL_TRANSIENT, "%s", d.msg);
        return;
    }
    free(jws);
    o->in_flight = 1;
}

/* A signed POST of payload (NULL: POST-as-GET) to url; next() gets the
 * answer once no badNonce retry is needed. */
static void post(acme_order *o, const char *url, const char *payload,
                 const char *accept, handler next)
{
    char *u = strdup(url), *p = payload ? strdup(payload) : NULL,
         *a = accept ? strdup(accept) : NULL;

    if (u == NULL || (payload && p == NULL) || (accept && a == NULL)) {
        free(u);
        free(p);
        free(a);
        fail(o, ACME_FAIL_TRANSIENT, "out of memory");
        return;
    }
    free(o->cur_url);
    free(o->cur_payload);
    free(o->cur_accept);
    o->cur_url = u;
    o->cur_payload = p;
    o->cur_accept = a;
    o->cur_next = next;
    o->bad_nonce_run = 0;
    send_signed(o);
}

static void post_json(acme_order *o, const char *url, json_t *payload,
                      handler next)
{
    char *text = payload != NULL ? json_dumps(payload, JSON_COMPACT) : NULL;

    json_decref(payload);
    if (text == NULL) {
        fail(o, ACME_FAIL_TRANSIENT, "out of memory");
        return;
    }
    post(o, url, text, NULL, next);
    free(text);
}

/* ----- waiting --------------------------------------------------------- */

static void on_timer(uv_timer_t *t)
{
    acme_order *o = t->data;

    o->timer_fn(o);
}

/* Runs fn after the CA's Retry-After, or a backoff of 50 ms doubling to
 * 5 s; fails once the phase has polled longer than poll_limit_s. */
static void later(acme_order *o, acme_resp *r, void (*fn)(acme_order *o),
                  const char *what)
{
    uint64_t ms;

    if (kw_now() - o->phase_start > o->poll_limit_s) {
        fail(o, ACME_FAIL_TRANSIENT,
             "%s: still not done after %lld s of polling %s", what,
             (long long)o->poll_limit_s, o->order_url ? o->order_url : "");
        return;
    }
    if (r != NULL && r->retry_after >= 0) {
        ms = (uint64_t)r->retry_after * 1000;
        if (ms > 60000)
            ms = 60000; /* a poll, not a rate limit: keep it responsive */
    } else {
        ms = o->poll_ms;
        o->poll_ms = o->poll_ms * 2 > 5000 ? 5000 : o->poll_ms * 2;
    }
    o->timer_fn = fn;
    uv_timer_start(&o->timer, on_timer, ms, 0);
}

static void new_phase(acme_order *o)
{
    o->phase_start = kw_now();
    o->poll_ms = 50;
}

/* ----- the steps ------------------------------------------------------- */

/* Was the topmost certificate of the PEM chain issued by cn? */
static int chain_issued_by(const char *pem, size_t len, const char *cn)
{
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    X509 *x, *top = NULL;
    char name[256];
    int n = -1;

    while (b != NULL && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        X509_free(top);
        top = x;
    }
    ERR_clear_error();
    BIO_free(b);
    if (top != NULL)
        n = X509_NAME_get_text_by_NID(X509_get_issuer_name(top),
                                      NID_commonName, name, sizeof(name));
    X509_free(top);
    return n > 0 && strcmp(name, cn) == 0;
}

static int take_chain(acme_order *o, acme_resp *r)
{
    free(o->out.fullchain);
    o->out.fullchain = malloc(r->len + 1);
    if (o->out.fullchain == NULL)
        return -1;
    memcpy(o->out.fullchain, r->body, r->len + 1);
    o->out.len = r->len;
    return 0;
}

static void on_alt_cert(acme_order *o, acme_resp *r, json_t *js);

/* The next alternate chain, or the default when none is preferred. */
static void next_alt(acme_order *o)
{
    if (o->next_alt < o->nalts) {
        post(o, o->alts[o->next_alt++], NULL,
             "application/pem-certificate-chain", on_alt_cert);
        return;
    }
    snprintf(o->out.chain_note, sizeof(o->out.chain_note),
             "no chain issued by \"%s\" among the %zu offered; the "
             "default one is used",
             o->preferred, o->nalts + 1);
    o->out.fail = ACME_OK;
    finish(o);
}

static void on_alt_cert(acme_order *o, acme_resp *r, json_t *js)
{
    (void)js;
    if (r->status == 200 && r->len > 0 &&
        chain_issued_by(r->body, r->len, o->preferred)) {
        if (take_chain(o, r) != 0) {
            fail(o, ACME_FAIL_TRANSIENT, "out of memory");
            return;
        }
        snprintf(o->out.chain_note, sizeof(o->out.chain_note),
                 "the alternate chain issued by \"%s\" is used",
                 o->preferred);
        o->out.fail = ACME_OK;
        finish(o);
        return;
    }
    next_alt(o);
}

static void on_cert(acme_order *o, acme_resp *r, json_t *js)
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----";
    size_t i;

    if (r->status != 200 || r->len < sizeof(begin) ||
        strstr(r->body, begin) == NULL) {
        fail_resp(o, r, js, "downloading the certificate");
        return;
    }
    if (take_chain(o, r) != 0) {
        fail(o, ACME_FAIL_TRANSIENT, "out of memory");
        return;
    }
    if (o->preferred != NULL &&
        !chain_issued_by(r->body, r->len, o->preferred)) {
        for (i = 0; i < r->nalternate && o->nalts < 4; i++)
            if ((o->alts[o->nalts] = strdup(r->link_alternate[i])) != NULL)
                o->nalts++;
        next_alt(o);
        return;
    }
    o->out.fail = ACME_OK;
    finish(o);
}

static void download(acme_order *o)
{
    set_state(o, OS_DOWNLOAD);
    post(o, o->cert_url, NULL, "application/pem-certificate-chain",
         on_cert);
}

static void on_finalize(acme_order *o, acme_resp *r, json_t *js)
{
    if (r->status != 200 || !json_is_object(js) ||
        json_object_get(js, "type") != NULL) {
        fail_resp(o, r, js, "finalizing the order");
        return;
    }
    if (o->step != NULL)
        o->step(o->ctx, "finalized", o->order_url);
    new_phase(o);
    on_order_obj(o, r, js);
}

static void finalize(acme_order *o)
{
    char *csr = acme_b64url(o->csr, o->csr_len);

    cleanup_tokens(o); /* the CA has validated what it needed */
    set_state(o, OS_FINALIZE);
    if (csr == NULL) {
        fail(o, ACME_FAIL_TRANSIENT, "out of memory");
        return;
    }
    post_json(o, o->finalize_url, json_pack("{s:s}", "csr", csr),
              on_finalize);
    free(csr);
}

/* The order went invalid: find the authorization that failed and say
 * why, in the CA's words. */
static void on_diag_authz(acme_order *o, acme_resp *r, json_t *js)
{
    const char *status = json_string_value(json_object_get(js, "status"));
    json_t *ch, *err;
    size_t i;

    if (r->status == 200 && status != NULL && strcmp(status, "invalid") == 0) {
        const char *ident = json_string_value(
            json_object_get(json_object_get(js, "identifier"), "value"));

        json_array_foreach(json_object_get(js, "challenges"), i, ch)
        {
            err = json_object_get(ch, "error");
            if (err != NULL) {
                char text[1536];
                const char *type =
                    json_string_value(json_object_get(err, "type"));

                problem_text(err, text, sizeof(text));
                snprintf(o->out.problem_type, sizeof(o->out.problem_type),
                         "%s", type ? type : "");
                /* Whatever its type (unauthorized for a 404, connection,
                 * dns, caa ...), a failed challenge is fixed on the site
                 * or in DNS, then retried: never blocked for good. */
                fail(o,
                     acme_problem_class(type) == ACME_FAIL_RATELIMIT
                         ? ACME_FAIL_RATELIMIT
                         : ACME_FAIL_VALIDATION,
                     "%s: the CA could not validate the %s challenge: %s",
                     ident ? ident : "?",
                     json_string_value(json_object_get(ch, "type")), text);
                return;
            }
        }
    }
    if (++o->ai < o->nauthz) {
        post(o, o->authz[o->ai], NULL, NULL, on_diag_authz);
        return;
    }
    fail_order_error(o);
}

/* The order's own error, when no authorization explains the failure. */
static void fail_order_error(acme_order *o)
{
    json_t *err = o->order_error;

    if (err != NULL) {
        char text[1536];
        const char *type = json_string_value(json_object_get(err, "type"));

        problem_text(err, text, sizeof(text));
        snprintf(o->out.problem_type, sizeof(o->out.problem_type), "%s",
                 type ? type : "");
        fail(o, acme_problem_class(type), "the order %s is invalid: %s",
             o->order_url, text);
        return;
    }
    fail(o, ACME_FAIL_VALIDATION,
         "the order %s became invalid and no authorization says why",
         o->order_url);
}

/* An invalid order: a failed challenge explains it best (and is retried
 * once the site is fixed), so the authorizations are read first. */
static void diagnose(acme_order *o, json_t *order)
{
    json_t *err = json_object_get(order, "error");

    set_state(o, OS_DIAGNOSE);
    json_decref(o->order_error);
    o->order_error = err != NULL ? json_deep_copy(err) : NULL;
    if (o->nauthz == 0) {
        fail_order_error(o);
        return;
    }
    o->ai = 0;
    post(o, o->authz[0], NULL, NULL, on_diag_authz);
}

static int take_authz(acme_order *o, json_t *js)
{
    json_t *arr = json_object_get(js, "authorizations"), *v;
    size_t i;

    if (o->authz != NULL)
        return 0;
    if (!json_is_array(arr) || json_array_size(arr) == 0 ||
        json_array_size(arr) > 1000)
        return -1;
    o->authz = calloc(json_array_size(arr), sizeof(char *));
    if (o->authz == NULL)
        return -1;
    json_array_foreach(arr, i, v)
    {
        const char *u = json_string_value(v);

        if (u == NULL || (o->authz[i] = strdup(u)) == NULL)
            return -1;
        o->nauthz = i + 1;
    }
    return 0;
}

static void set_str(char **dst, const char *src)
{
    if (src != NULL) {
        free(*dst);
        *dst = strdup(src);
    }
}

/* An order object, from newOrder, a poll or finalize. */
static void on_order_obj(acme_order *o, acme_resp *r, json_t *js)
{
    const char *status = json_string_value(json_object_get(js, "status"));

    if ((r->status != 200 && r->status != 201) || status == NULL) {
        fail_resp(o, r, js, "reading the order");
        return;
    }
    set_str(&o->finalize_url,
            json_string_value(json_object_get(js, "finalize")));
    set_str(&o->cert_url,
            json_string_value(json_object_get(js, "certificate")));
    if (take_authz(o, js) != 0) {
        fail(o, ACME_FAIL_TRANSIENT,
             "the order %s lists no usable authorizations", o->order_url);
        return;
    }
    if (strcmp(status, "pending") == 0) {
        if (o->ai == 0 && o->npres == 0) {
            next_authz(o);
        } else {
            set_state(o, OS_POLL);
            later(o, r, poll_order, "waiting for the challenges");
        }
    } else if (strcmp(status, "ready") == 0) {
        if (o->finalize_url == NULL) {
            fail(o, ACME_FAIL_TRANSIENT, "the order %s has no finalize URL",
                 o->order_url);
            return;
        }
        finalize(o);
    } else if (strcmp(status, "processing") == 0) {
        set_state(o, OS_POLL);
        later(o, r, poll_order, "waiting for the certificate");
    } else if (strcmp(status, "valid") == 0) {
        if (o->cert_url == NULL) {
            fail(o, ACME_FAIL_TRANSIENT,
                 "the order %s is valid but has no certificate URL",
                 o->order_url);
            return;
        }
        download(o);
    } else if (strcmp(status, "invalid") == 0) {
        cleanup_tokens(o);
        diagnose(o, js);
    } else {
        fail(o, ACME_FAIL_TRANSIENT, "the order %s has unknown status %s",
             o->order_url, status);
    }
}

static void poll_order(acme_order *o)
{
    post(o, o->order_url, NULL, NULL, on_order_obj);
}

static void on_challenge(acme_order *o, acme_resp *r, json_t *js)
{
    if (r->status != 200) {
        fail_resp(o, r, js, "answering the challenge");
        return;
    }
    o->ai++;
    next_authz(o);
}

/* A token goes into a file name and a URL: base64url, bounded. */
static int token_ok(const char *token)
{
    return token != NULL && strlen(token) <= 256 &&
           strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                         "0123456789-_") == strlen(token);
}

/* A resumed order's authorization is valid already: the run that was
 * killed placed its answer, and the validation ended while no run was
 * there to take it down.  Take it down now, as the order's own cleanup
 * would (a solver's cleanup of an answer that is not there does
 * nothing), so a crash leaves no challenge file or TXT record behind. */
static void take_down_answer(acme_order *o, json_t *authz, const char *ident)
{
    int wildcard = json_is_true(json_object_get(authz, "wildcard"));
    json_t *ch;
    size_t i;

    if (o->solver.cleanup == NULL)
        return;
    json_array_foreach(json_object_get(authz, "challenges"), i, ch)
    {
        const char *type = json_string_value(json_object_get(ch, "type"));
        const char *token = json_string_value(json_object_get(ch, "token"));
        char *ka, *value;

        if (type == NULL || strcmp(type, o->challenge_type) != 0 ||
            !token_ok(token))
            continue;
        ka = acme_key_authorization(token, o->thumbprint);
        value = ka != NULL && strcmp(type, "dns-01") == 0
                    ? acme_dns01_value(ka)
                    : ka;
        if (value != NULL) {
            acme_challenge c = {type, ident, wildcard, token, value};

            o->solver.cleanup(o->solver.ctx, &c);
        }
        if (value != ka)
            free(value);
        free(ka);
    }
}

static void on_authz(acme_order *o, acme_resp *r, json_t *js)
{
    const char *status = json_string_value(json_object_get(js, "status"));
    const char *ident = json_string_value(
        json_object_get(json_object_get(js, "identifier"), "value"));
    json_t *ch, *found = NULL;
    const char *token, *url;
    char offered[256] = "", *ka, *value;
    size_t i, pos = 0;
    kw_diag d;
    presented *np;

    if (r->status != 200 || status == NULL || ident == NULL) {
        fail_resp(o, r, js, "reading an authorization");
        return;
    }
    if (strcmp(status, "valid") == 0) { /* reused: nothing to prove */
        if (o->resume_url != NULL)
            take_down_answer(o, js, ident);
        o->ai++;
        next_authz(o);
        return;
    }
    if (strcmp(status, "pending") != 0) {
        o->ai = 0;
        set_state(o, OS_DIAGNOSE);
        on_diag_authz(o, r, js);
        return;
    }
    json_array_foreach(json_object_get(js, "challenges"), i, ch)
    {
        const char *type = json_string_value(json_object_get(ch, "type"));

        if (type != NULL && strcmp(type, o->challenge_type) == 0)
            found = ch;
        kw_str_appendf(offered, sizeof(offered), &pos, "%s%s",
                        pos ? ", " : "", type ? type : "?");
    }
    if (found == NULL) {
        fail(o, ACME_FAIL_PERMANENT,
             "%s: the CA offers no %s challenge (it offers %s)%s", ident,
             o->challenge_type, offered,
             json_is_true(json_object_get(js, "wildcard")) &&
                     strcmp(o->challenge_type, "dns-01") != 0
                 ? "; a wildcard name needs dns-01"
                 : "");
        return;
    }
    token = json_string_value(json_object_get(found, "token"));
    url = json_string_value(json_object_get(found, "url"));
    if (!token_ok(token) || url == NULL) {
        fail(o, ACME_FAIL_TRANSIENT,
             "%s: the %s challenge has no usable token or URL", ident,
             o->challenge_type);
        return;
    }
    ka = acme_key_authorization(token, o->thumbprint);
    value = ka != NULL && strcmp(o->challenge_type, "dns-01") == 0
                ? acme_dns01_value(ka)
                : ka;
    np = realloc(o->pres, (o->npres + 1) * sizeof(*np));
    if (np != NULL)
        o->pres = np;
    if (ka == NULL || value == NULL || np == NULL) {
        if (value != ka)
            free(value);
        free(ka);
        fail(o, ACME_FAIL_TRANSIENT, "out of memory");
        return;
    }
    np = &o->pres[o->npres];
    memset(np, 0, sizeof(*np));
    np->type = strdup(o->challenge_type);
    np->ident = strdup(ident);
    np->wildcard = json_is_true(json_object_get(js, "wildcard"));
    np->token = strdup(token);
    np->value = value == ka ? strdup(ka) : value;
    free(ka);
    if (np->type == NULL || np->ident == NULL || np->token == NULL ||
        np->value == NULL) {
        free(np->type);
        free(np->ident);
        free(np->token);
        free(np->value);
        fail(o, ACME_FAIL_TRANSIENT, "out of memory");
        return;
    }
    /* A challenge answered before (an order resumed after a crash) is
     * being validated: answering again would start a second validation
     * (Pebble) or be refused as malformed (Boulder).  The answer goes
     * back in place; then just wait for the result. */
    {
        const char *cs = json_string_value(json_object_get(found, "status"));

        o->chal_answered = (cs != NULL && strcmp(cs, "pending") != 0) ||
                           json_object_get(found, "validated") != NULL;
    }
    set_str(&o->chal_url, url);
    {
        acme_challenge c = {np->type, np->ident, np->wildcard, np->token,
                            np->value};
        int rc = o->solver.present(o->solver.ctx, o, &c, &d);

        if (rc < 0) {
            free(np->type);
            free(np->ident);
            free(np->token);
            free(np->value);
            fail(o, ACME_FAIL_VALIDATION, "%s: placing the %s answer: %s",
                 ident, o->challenge_type, d.msg);
            return;
        }
        o->npres++;
        if (rc == ACME_PRESENT_PENDING) {
            o->presenting = 1; /* acme_order_presented() continues */
            set_state(o, OS_PRESENT);
            return;
        }
    }
    answer_challenge(o);
}

/* The answer is in place: tell the CA (unless it is validating it
 * already), then go on with the next authorization. */
static void answer_challenge(acme_order *o)
{
    if (o->chal_answered) {
        o->ai++;
        next_authz(o);
        return;
    }
    set_state(o, OS_CHALLENGE);
    post(o, o->chal_url, "{}", NULL, on_challenge);
}

void acme_order_presented(acme_order *o, int ok, const char *msg)
{
    if (o == NULL || !o->presenting || o->state == OS_DONE)
        return;
    o->presenting = 0;
    if (o->cancelled) {
        fail(o, ACME_FAIL_CANCELLED, "cancelled");
        return;
    }
    if (!ok) {
        presented *p = &o->pres[o->npres - 1];

        fail(o, ACME_FAIL_VALIDATION, "%s: placing the %s answer: %s",
             p->ident, p->type, msg != NULL ? msg : "failed");
        return;
    }
    answer_challenge(o);
}

static void next_authz(acme_order *o)
{
    if (o->ai < o->nauthz) {
        set_state(o, OS_AUTHZ);
        post(o, o->authz[o->ai], NULL, NULL, on_authz);
        return;
    }
    set_state(o, OS_POLL);
    new_phase(o);
    poll_order(o);
}

static void new_order(acme_order *o);

static void on_new_order(acme_order *o, acme_resp *r, json_t *js)
{
    if (r->status != 201 || r->location == NULL) {
        const char *type = json_string_value(json_object_get(js, "type"));

        /* A CA that does not take "replaces" for this certificate: retry
         * without it (the renewal matters more than the ARI credit). */
        if (o->replaces != NULL && !o->dropped_replaces && type != NULL &&
            r->status >= 400 && r->status < 500 &&
            acme_problem_class(type) != ACME_FAIL_RATELIMIT) {
            o->dropped_replaces = 1;
            new_order(o);
            return;
        }
        fail_resp(o, r, js, "creating the order");
        return;
    }
    set_str(&o->order_url, r->location);
    if (o->step != NULL)
        o->step(o->ctx, "order", o->order_url);
    on_order_obj(o, r, js);
}

static void new_order(acme_order *o)
{
    json_t *ids = json_array(), *p;
    size_t i;

    for (i = 0; i < o->nnames; i++) {
        int ip = strchr(o->names[i], ':') != NULL ||
                 strspn(o->names[i], "0123456789.") == strlen(o->names[i]);

        json_array_append_new(ids, json_pack("{s:s, s:s}", "type",
                                             ip ? "ip" : "dns", "value",
                                             o->names[i]));
    }
    p = json_pack("{s:o}", "identifiers", ids);
    if (p != NULL && o->profile != NULL)
        json_object_set_new(p, "profile", json_string(o->profile));
    if (p != NULL && o->replaces != NULL && !o->dropped_replaces)
        json_object_set_new(p, "replaces", json_string(o->replaces));
    post_json(o, o->new_order, p, on_new_order);
}

static void start_order(acme_order *o)
{
    set_state(o, OS_ORDER);
    new_phase(o);
    if (o->resume_url != NULL) {
        set_str(&o->order_url, o->resume_url);
        post(o, o->order_url, NULL, NULL, on_order_obj);
        return;
    }
    new_order(o);
}

static void on_simple_op(acme_order *o, acme_resp *r, json_t *js)
{
    if (r->status != 200) {
        fail_resp(o, r, js,
                  o->op == ACME_OP_REVOKE ? "revoking the certificate"
                                          : "changing the account key");
        return;
    }
    o->out.fail = ACME_OK;
    finish(o);
}

static void start_op(acme_order *o)
{
    kw_diag d;

    if (o->op == ACME_OP_ORDER) {
        start_order(o);
        return;
    }
    set_state(o, OS_OP);
    if (o->op == ACME_OP_REVOKE) {
        char *der = acme_b64url(o->cert_der, o->cert_len);
        json_t *p;

        if (o->revoke_url == NULL) {
            free(der);
            fail(o, ACME_FAIL_PERMANENT,
                 "the CA's directory %s has no revokeCert", o->directory_url);
            return;
        }
        p = der != NULL ? json_pack("{s:s}", "certificate", der) : NULL;
        free(der);
        if (p != NULL && o->reason >= 0)
            json_object_set_new(p, "reason", json_integer(o->reason));
        post_json(o, o->revoke_url, p, on_simple_op);
    } else {
        char *inner;

        if (o->key_change_url == NULL) {
            fail(o, ACME_FAIL_PERMANENT,
                 "the CA's directory %s has no keyChange", o->directory_url);
            return;
        }
        inner = acme_jws_key_change(o->new_key, o->key, o->kid,
                                    o->key_change_url, &d);
        if (inner == NULL) {
            fail(o, ACME_FAIL_PERMANENT, "building the keyChange request: %s",
                 d.msg);
            return;
        }
        post(o, o->key_change_url, inner, NULL, on_simple_op);
        free(inner);
    }
}

static void on_account(acme_order *o, acme_resp *r, json_t *js)
{
    if ((r->status != 200 && r->status != 201) || r->location == NULL) {
        fail_resp(o, r, js, "registering the account");
        return;
    }
    set_str(&o->kid, r->location);
    if (o->kid == NULL) {
        fail(o, ACME_FAIL_TRANSIENT, "out of memory");
        return;
    }
    if (o->step != NULL)
        o->step(o->ctx, "account", o->kid);
    start_op(o);
}

static void on_directory(void *ctx, acme_resp *r)
{
    acme_order *o = ctx;
    json_t *js;
    acme_directory dir;

    o->in_flight = 0;
    o->out.requests++;
    if (o->cancelled || r->cancelled) {
        fail(o, ACME_FAIL_CANCELLED, "cancelled");
        return;
    }
    if (!r->ok || r->status != 200) {
        fail(o, ACME_FAIL_TRANSIENT, "reading the ACME directory %s: %s",
             o->directory_url,
             r->ok ? "it did not answer 200" : r->error);
        return;
    }
    js = parse_json(o, r, "reading the ACME directory");
    if (js == NULL) {
        if (o->state != OS_DONE)
            fail(o, ACME_FAIL_TRANSIENT,
                 "reading the ACME directory %s: not JSON", r->url);
        return;
    }
    acme_directory_read(js, &dir);
    if (dir.new_nonce == NULL || dir.new_account == NULL ||
        dir.new_order == NULL) {
        json_decref(js);
        fail(o, ACME_FAIL_TRANSIENT,
             "the ACME directory %s lacks newNonce, newAccount or newOrder",
             r->url);
        return;
    }
    o->new_nonce = strdup(dir.new_nonce);
    o->new_account = strdup(dir.new_account);
    o->new_order = strdup(dir.new_order);
    set_str(&o->revoke_url, dir.revoke_cert);
    set_str(&o->key_change_url, dir.key_change);
    o->eab_required = dir.eab_required;
    /* A profile the CA does not list would be refused at newOrder, or
     * silently ignored by an older CA: say so now, by name. */
    if (o->op == ACME_OP_ORDER && o->profile != NULL) {
        json_t *profs = dir.profiles;
        char offered[512] = "";
        size_t pos = 0;
        const char *k;
        json_t *v;

        json_object_foreach(profs, k, v)
        {
            (void)v;
            kw_str_appendf(offered, sizeof(offered), &pos, "%s%s",
                           pos ? ", " : "", k);
        }
        if (profs == NULL) {
            json_decref(js);
            fail(o, ACME_FAIL_PERMANENT,
                 "the CA at %s offers no profiles; remove profile = %s",
                 o->directory_url, o->profile);
            return;
        }
        if (json_object_get(profs, o->profile) == NULL) {
            json_decref(js);
            fail(o, ACME_FAIL_PERMANENT,
                 "the CA at %s has no profile %s (it offers: %s); change "
                 "profile",
                 o->directory_url, o->profile, offered);
            return;
        }
    }
    json_decref(js);
    if (o->new_nonce == NULL || o->new_account == NULL ||
        o->new_order == NULL) {
        fail(o, ACME_FAIL_TRANSIENT, "out of memory");
        return;
    }
    if (o->kid != NULL) {
        start_op(o);
        return;
    }
    if (o->op != ACME_OP_ORDER) {
        /* Revoking or changing the key of an account that must exist:
         * never create one by accident (RFC 8555 section 7.3.1). */
        set_state(o, OS_ACCOUNT);
        post_json(o, o->new_account,
                  json_pack("{s:b}", "onlyReturnExisting", 1), on_account);
        return;
    }
    if (o->eab_required && o->eab_kid == NULL) {
        fail(o, ACME_FAIL_PERMANENT,
             "the CA at %s requires External Account Binding: set [acme] "
             "eab_kid and eab_hmac_key to what the CA gave you",
             o->directory_url);
        return;
    }
    {
        json_t *p = json_pack("{s:b}", "termsOfServiceAgreed", 1);
        kw_diag d;

        if (p != NULL && o->contact != NULL)
            json_object_set_new(p, "contact",
                                json_pack("[s]", o->contact));
        if (p != NULL && o->eab_kid != NULL) {
            json_t *eab = acme_jws_eab(o->eab_kid, o->eab_key,
                                       o->eab_key_len,
                                       o->eab_alg ? o->eab_alg : "HS256",
                                       o->key, o->new_account, &d);

            if (eab == NULL) {
                json_decref(p);
                fail(o, ACME_FAIL_PERMANENT,
                     "building the External Account Binding: %s", d.msg);
                return;
            }
            json_object_set_new(p, "externalAccountBinding", eab);
        }
        set_state(o, OS_ACCOUNT);
        post_json(o, o->new_account, p, on_account);
    }
}

/* ----- public ---------------------------------------------------------- */

int acme_order_start(acme_http *h, const acme_order_params *p,
                     const acme_solver *solver, acme_step_cb step,
                     acme_done_cb done, void *ctx, acme_order **out,
                     kw_diag *d)
{
    acme_order *o;
    int bad = 0;
    size_t i;

    if (p->account_key == NULL || p->directory_url == NULL ||
        (p->op == ACME_OP_ORDER && (p->nnames == 0 || p->csr_der == NULL)) ||
        (p->op == ACME_OP_REVOKE && p->cert_der == NULL) ||
        (p->op == ACME_OP_KEY_CHANGE && p->new_key == NULL))
        return kw_diag_set(d, KW_EINVAL,
                           "an ACME request needs an account key, a "
                           "directory URL and, for an order, names and a "
                           "CSR; to revoke, the certificate; to change the "
                           "key, the new key");
    o = calloc(1, sizeof(*o));
    if (o == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    o->h = h;
    o->solver = *solver;
    o->step = step;
    o->done = done;
    o->ctx = ctx;
    o->key = p->account_key;
    o->max_bad_nonce = p->max_bad_nonce > 0 ? p->max_bad_nonce : 20;
    o->poll_limit_s = p->poll_limit_s > 0 ? p->poll_limit_s : 600;
    o->out.retry_after = -1;
    o->directory_url = kw_strdup_opt(p->directory_url, &bad);
    o->contact = kw_strdup_opt(p->contact, &bad);
    o->profile = kw_strdup_opt(p->profile, &bad);
    o->replaces = kw_strdup_opt(p->replaces, &bad);
    o->resume_url = kw_strdup_opt(p->resume_url, &bad);
    o->kid = kw_strdup_opt(p->account_url, &bad);
    o->op = p->op;
    o->challenge_type = strdup(p->challenge != NULL ? p->challenge
                                                    : "http-01");
    o->preferred = kw_strdup_opt(p->preferred_chain, &bad);
    if (o->challenge_type == NULL)
        bad = 1;
    o->reason = p->reason;
    o->new_key = p->new_key;
    o->eab_kid = kw_strdup_opt(p->eab_kid, &bad);
    o->eab_alg = kw_strdup_opt(p->eab_alg, &bad);
    if (p->eab_key != NULL && p->eab_key_len > 0) {
        o->eab_key = malloc(p->eab_key_len);
        if (o->eab_key == NULL)
            bad = 1;
        else
            memcpy(o->eab_key, p->eab_key, p->eab_key_len);
        o->eab_key_len = p->eab_key_len;
    }
    if (p->cert_der != NULL) {
        o->cert_der = malloc(p->cert_len);
        if (o->cert_der == NULL)
            bad = 1;
        else
            memcpy(o->cert_der, p->cert_der, p->cert_len);
        o->cert_len = p->cert_len;
    }
    o->names = calloc(p->nnames ? p->nnames : 1, sizeof(char *));
    o->csr = malloc(p->csr_len ? p->csr_len : 1);
    if (o->names == NULL || o->csr == NULL)
        bad = 1;
    for (i = 0; !bad && i < p->nnames; i++) {
        o->names[i] = kw_strdup_opt(p->names[i], &bad);
        o->nnames = i + 1;
    }
    if (o->csr != NULL && p->csr_der != NULL)
        memcpy(o->csr, p->csr_der, p->csr_len);
    o->csr_len = p->csr_len;
    o->thumbprint = acme_jwk_thumbprint(o->key, d);
    uv_timer_init(acme_http_loop(h), &o->timer);
    o->timer.data = o;
    if (bad || o->thumbprint == NULL) {
        int r = o->thumbprint == NULL && !bad ? KW_ECRYPTO : KW_ENOMEM;

        if (r == KW_ENOMEM)
            kw_diag_set(d, r, "out of memory");
        set_state(o, OS_DONE);
        uv_close((uv_handle_t *)&o->timer, on_timer_closed);
        return r;
    }
    if (acme_http_request(h, "GET", o->directory_url, NULL, NULL, NULL,
                          on_directory, o, d) != 0) {
        set_state(o, OS_DONE);
        uv_close((uv_handle_t *)&o->timer, on_timer_closed);
        return KW_EINVAL;
    }
    o->in_flight = 1;
    if (out != NULL)
        *out = o;
    return 0;
}

void acme_order_cancel(acme_order *o)
{
    if (o == NULL || o->state == OS_DONE)
        return;
    o->cancelled = 1;
    /* A present() in progress reports back through
     * acme_order_presented(), which sees the flag. */
    if (!o->in_flight && !o->presenting)
        fail(o, ACME_FAIL_CANCELLED, "cancelled");
}
