/*
 * dkim_check_run.c: the runner of dkim_check.h: every selector of the
 * inventory surveyed, every signing domain's SPF and DMARC read, judged,
 * written, and reported.
 *
 * The surveys and the domains' walks are work items taken by a few
 * threads from one counter under a mutex: each item is bounded in time
 * (the survey by its timeout, the SPF lookups each by theirs), so a slow
 * zone holds one thread for at most that long and the others go on.
 * Judging and writing happen after every item is done, on the calling
 * thread, so the database is touched by one thread only.
 */
#include "dkim_check.h"

#include "../common/kw_json.h"
#include "../common/kw_str.h"
#include "../common/kw_time.h"
#include "../dns/dns_resolve.h"
#include "../keystore/ks_inventory.h"

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Threads surveying at once: DNS waits, it does not compute. */
#define CHECK_THREADS 4
/* Bounds of one survey, and of each SPF/DMARC lookup. */
#define SURVEY_MS 9000
#define SURVEY_SERVER_MS 3000
#define LOOKUP_MS 4000

typedef struct rsel {
    int64_t id;
    char *name, *domain, *selector, *role, *signer, *algorithm, *record;
    int bits;
    kw_dns_survey *sv;
    int sv_status;
    char sv_error[512];
    kw_dkim_findings *dns; /* malloc'd, trimmed to the findings */
    ks_verdict local;   /* the key file's facts alone */
    int has_local;
    ks_health health;   /* the worst of local, dns and the domain's */
    long dom;           /* index of its signing domain, or -1 */
} rsel;

struct kw_dkim_report {
    int64_t checked_at;
    char resolver[80];
    rsel *sel;
    size_t nsel, cap;
    kw_dkim_domain *dom;
    size_t ndom;
    ks_health worst;
    size_t unknown; /* selectors with a DNS or domain finding unknown */
};

typedef struct collect {
    kw_dkim_report *r;
    const char *const *domains;
    size_t ndomains;
    int failed;
} collect;

static int wanted(const collect *c, const char *domain)
{
    size_t i;

    if (c->ndomains == 0)
        return 1;
    for (i = 0; i < c->ndomains; i++)
        if (domain != NULL && strcasecmp(c->domains[i], domain) == 0)
            return 1;
    return 0;
}

static int collect_cb(void *ctx, const ks_dkim_sel *k)
{
    collect *c = ctx;
    kw_dkim_report *r = c->r;
    rsel *x, *grown;
    int bad = 0;

    if (!wanted(c, k->domain))
        return 0;
    if (r->nsel == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;

        if ((grown = realloc(r->sel, cap * sizeof(*grown))) == NULL) {
            c->failed = 1;
            return 1;
        }
        r->sel = grown;
        r->cap = cap;
    }
    x = &r->sel[r->nsel];
    memset(x, 0, sizeof(*x));
    x->id = k->id;
    x->dom = -1;
    x->bits = k->bits;
    x->name = kw_strdup_opt(k->name, &bad);
    x->domain = kw_strdup_opt(k->domain, &bad);
    x->selector = kw_strdup_opt(k->selector, &bad);
    x->role = kw_strdup_opt(k->role, &bad);
    x->signer = kw_strdup_opt(k->signer, &bad);
    x->algorithm = kw_strdup_opt(k->algorithm, &bad);
    x->record = kw_strdup_opt(k->record, &bad);
    r->nsel++;
    if (bad || x->name == NULL || x->domain == NULL || x->selector == NULL) {
        c->failed = 1;
        return 1;
    }
    return 0;
}

static int is_signing(const rsel *x)
{
    return x->role != NULL && strcmp(x->role, "signing") == 0;
}

/* The signing domains, each once, and each selector's index into them. */
static int domains_of(kw_dkim_report *r)
{
    size_t i, j;

    if (r->nsel > 0 && (r->dom = calloc(r->nsel, sizeof(*r->dom))) == NULL)
        return KW_ENOMEM;
    for (i = 0; i < r->nsel; i++) {
        if (!is_signing(&r->sel[i]))
            continue;
        for (j = 0; j < r->ndom; j++)
            if (strcasecmp(r->dom[j].domain, r->sel[i].domain) == 0)
                break;
        if (j == r->ndom)
            snprintf(r->dom[r->ndom++].domain, sizeof(r->dom[0].domain),
                     "%s", r->sel[i].domain);
        r->sel[i].dom = (long)j;
    }
    return 0;
}

typedef struct work {
    kw_dkim_report *r;
    const kw_dkim_params *p;
    kw_dns_server resolver;
    kw_dns_lookup_ctx lctx;
    kw_dns_lookup lookup;
    pthread_mutex_t mu;
    size_t next;
    int failed;           /* KW_ENOMEM in a domain's walk */
} work;

static void run_item(work *w, size_t i)
{
    kw_dkim_report *r = w->r;

    if (i < r->nsel) {
        rsel *x = &r->sel[i];
        kw_dns_survey_opts o = {0};
        kw_diag d;

        o.auth_port = w->p->dns_port;
        o.timeout_ms = SURVEY_MS;
        o.per_server_ms = SURVEY_SERVER_MS;
        d.msg[0] = '\0';
        x->sv_status = kw_dns_survey_run(&w->resolver, x->name, &o, &x->sv,
                                         &d);
        if (x->sv_status != 0)
            snprintf(x->sv_error, sizeof(x->sv_error), "%s", d.msg);
    } else {
        kw_dkim_domain *dom = &r->dom[i - r->nsel];
        char name[256];
        kw_diag d;

        /* The judge clears dom: keep the name it is given. */
        snprintf(name, sizeof(name), "%s", dom->domain);
        if (kw_dkim_judge_domain(&w->lookup, name,
                                 (const char *const *)w->p->outbound,
                                 w->p->noutbound, dom, &d) != 0) {
            snprintf(dom->domain, sizeof(dom->domain), "%s", name);
            pthread_mutex_lock(&w->mu);
            w->failed = KW_ENOMEM;
            pthread_mutex_unlock(&w->mu);
        }
    }
}

static void *worker(void *arg)
{
    work *w = arg;
    size_t total = w->r->nsel + w->r->ndom, i;

    for (;;) {
        pthread_mutex_lock(&w->mu);
        i = w->next++;
        pthread_mutex_unlock(&w->mu);
        if (i >= total)
            return NULL;
        run_item(w, i);
    }
}

static int run_all(work *w, kw_diag *d)
{
    size_t total = w->r->nsel + w->r->ndom, nt = 0, i;
    pthread_t th[CHECK_THREADS];

    for (i = 0; i < CHECK_THREADS && i < total; i++) {
        if (pthread_create(&th[nt], NULL, worker, w) != 0)
            break;
        nt++;
    }
    /* Without any thread the caller's does the work alone. */
    if (nt == 0)
        worker(w);
    for (i = 0; i < nt; i++)
        pthread_join(th[i], NULL);
    if (w->failed)
        return kw_diag_set(d, w->failed, "out of memory checking SPF and "
                           "DMARC");
    return 0;
}

/* The key file's own verdict (its DNS findings left out: they are being
 * replaced), read back from the inventory. */
typedef struct local_ctx {
    kw_dkim_report *r;
    int64_t now;
} local_ctx;

static int local_cb(void *ctx, const ks_object *o)
{
    local_ctx *c = ctx;
    size_t i;

    for (i = 0; i < c->r->nsel; i++) {
        rsel *x = &c->r->sel[i];
        ks_tls_facts f;
        ks_thresholds t;

        if (x->id != o->id)
            continue;
        f = o->facts;
        f.dkim_nfound = 0;
        ks_thresholds_default(&t);
        ks_health_tls(&f, c->now, &t, &x->local);
        x->has_local = 1;
    }
    return 0;
}

static ks_health worse(ks_health a, ks_health b)
{
    return ks_health_rank(b) > ks_health_rank(a) ? b : a;
}

static ks_health worst_of(const kw_dkim_findings *f)
{
    ks_health h = KS_HEALTH_OK;
    size_t i;

    for (i = 0; i < f->n; i++)
        h = worse(h, f->f[i].severity);
    return h;
}

static int has_unknown(const kw_dkim_findings *f)
{
    size_t i;

    for (i = 0; i < f->n; i++)
        if (f->f[i].severity == KS_HEALTH_UNKNOWN)
            return 1;
    return 0;
}

/* Every Ed25519 signing key's "RSA beside it". */
static int rsa_beside(const kw_dkim_report *r, const rsel *x)
{
    size_t i;

    for (i = 0; i < r->nsel; i++)
        if (is_signing(&r->sel[i]) && r->sel[i].algorithm != NULL &&
            strcmp(r->sel[i].algorithm, "rsa") == 0 &&
            strcasecmp(r->sel[i].domain, x->domain) == 0)
            return 1;
    return 0;
}

static int cmp_row(const void *a, const void *b)
{
    const ks_dkim_finding *x = a, *y = b;

    return ks_health_rank(y->severity) - ks_health_rank(x->severity);
}

/* Findings into the store: the selector's, and its domain's for a
 * signing key; "ok" findings are for the report only. */
static int write_findings(ks_store *s, const kw_dkim_report *r,
                          const rsel *x, int64_t now, kw_diag *d)
{
    ks_dkim_finding f[2 * KW_DKIM_FINDINGS_MAX];
    const kw_dkim_findings *src[2];
    size_t n = 0, i, j;

    src[0] = x->dns;
    src[1] = x->dom >= 0 ? &r->dom[x->dom].findings : NULL;
    for (j = 0; j < 2; j++)
        for (i = 0; src[j] != NULL && i < src[j]->n; i++) {
            const kw_dkim_find *y = &src[j]->f[i];

            if (y->severity == KS_HEALTH_OK)
                continue;
            f[n].severity = y->severity;
            f[n].code = y->code;
            f[n].text = y->text;
            f[n].fix = y->fix;
            /* Health shows a finding as "TEXT (SERVER)": a text that
             * names its server already keeps it once. */
            f[n].server = y->server[0] != '\0' &&
                                  strstr(y->text, y->server) == NULL
                              ? y->server
                              : NULL;
            n++;
        }
    /* Health reads the first KS_MAX_FINDINGS rows: the worst go first,
     * whichever half they came from. */
    if (n > 1)
        qsort(f, n, sizeof(f[0]), cmp_row);
    return ks_dkim_findings_replace(s, x->id, f, n, now, d);
}

/* The findings, copied to a block of their own size: a full
 * kw_dkim_findings per selector would cost tens of KiB each. */
static kw_dkim_findings *trimmed(const kw_dkim_findings *f)
{
    kw_dkim_findings *t = malloc(offsetof(kw_dkim_findings, f) +
                                 (f->n > 0 ? f->n : 1) * sizeof(f->f[0]));

    if (t == NULL)
        return NULL;
    memcpy(t->f, f->f, f->n * sizeof(f->f[0]));
    t->n = f->n;
    t->dropped = f->dropped;
    return t;
}

static int judge_all(kw_dkim_report *r, const kw_dkim_params *p,
                     int64_t now, kw_diag *d)
{
    kw_dkim_findings *tmp = malloc(sizeof(*tmp));
    size_t i;

    if (tmp == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory judging DKIM");
    for (i = 0; i < r->nsel; i++) {
        rsel *x = &r->sel[i];
        kw_dkim_facts k;

        memset(&k, 0, sizeof(k));
        k.domain = x->domain;
        k.selector = x->selector;
        k.role = x->role;
        k.algorithm = x->algorithm;
        k.bits = x->bits;
        k.record = x->record;
        k.rsa_beside = rsa_beside(r, x);
        if (x->sv != NULL) {
            kw_dkim_judge(&k, x->sv, now, p, tmp);
        } else {
            memset(tmp, 0, sizeof(*tmp));
            tmp->n = 1;
            tmp->f[0].severity = KS_HEALTH_UNKNOWN;
            snprintf(tmp->f[0].code, sizeof(tmp->f[0].code), "dns.survey");
            snprintf(tmp->f[0].text, sizeof(tmp->f[0].text),
                     "%s TXT could not be asked: %s", x->name,
                     x->sv_error[0] != '\0' ? x->sv_error
                                            : kw_strerror(x->sv_status));
        }
        if ((x->dns = trimmed(tmp)) == NULL) {
            free(tmp);
            return kw_diag_set(d, KW_ENOMEM, "out of memory judging DKIM");
        }
    }
    free(tmp);
    return 0;
}

/* [dkim] resolver: what kw_dns_server_parse reads, or ADDRESS@PORT. */
int kw_dkim_resolver_parse(const char *v, kw_dns_server *out, kw_diag *d)
{
    const char *at = strrchr(v, '@');
    char addr[80], *end;
    long port;

    if (at == NULL)
        return kw_dns_server_parse(v, 53, out, d);
    port = strtol(at + 1, &end, 10);
    if ((size_t)(at - v) >= sizeof(addr) || *end != '\0' || end == at + 1 ||
        port < 1 || port > 65535)
        return kw_diag_set(d, KW_EINVAL, "[dkim] resolver = %s: expected "
                           "ADDRESS or ADDRESS@PORT", v);
    memcpy(addr, v, (size_t)(at - v));
    addr[at - v] = '\0';
    return kw_dns_server_parse(addr, (int)port, out, d);
}

int kw_dkim_check_run(ks_store *s, const kw_dkim_params *p,
                      const char *const *domains, size_t ndomains,
                      int64_t now, kw_dkim_report **out, kw_diag *d)
{
    kw_dkim_report *r;
    collect c = {0};
    work w;
    local_ctx lc;
    ks_filter flt;
    size_t i;
    int rc;

    *out = NULL;
    if ((r = calloc(1, sizeof(*r))) == NULL)
        return kw_diag_set(d, KW_ENOMEM, "out of memory checking DKIM");
    r->checked_at = now;
    memset(&w, 0, sizeof(w));
    if (p->resolver != NULL && p->resolver[0] != '\0')
        rc = kw_dkim_resolver_parse(p->resolver, &w.resolver, d);
    else
        rc = kw_dns_system_resolver(NULL, &w.resolver, d);
    if (rc != 0) {
        kw_dkim_report_free(r);
        return rc;
    }
    kw_dns_server_str(&w.resolver, r->resolver, sizeof(r->resolver));
    c.r = r;
    c.domains = domains;
    c.ndomains = domains != NULL ? ndomains : 0;
    rc = ks_dkim_each(s, collect_cb, &c, d);
    if (rc == 0 && c.failed)
        rc = kw_diag_set(d, KW_ENOMEM, "out of memory listing DKIM "
                         "selectors");
    if (rc == 0)
        rc = domains_of(r) != 0
                 ? kw_diag_set(d, KW_ENOMEM, "out of memory checking DKIM")
                 : 0;
    if (rc != 0) {
        kw_dkim_report_free(r);
        return rc;
    }
    w.r = r;
    w.p = p;
    w.lctx.server = w.resolver;
    w.lctx.timeout_ms = LOOKUP_MS;
    w.lookup.fn = kw_dns_lookup_server;
    w.lookup.ctx = &w.lctx;
    pthread_mutex_init(&w.mu, NULL);
    rc = run_all(&w, d);
    pthread_mutex_destroy(&w.mu);
    if (rc == 0)
        rc = judge_all(r, p, now, d);
    for (i = 0; rc == 0 && i < r->nsel; i++)
        rc = write_findings(s, r, &r->sel[i], now, d);
    /* Each selector's health: its key file's verdict and the findings. */
    lc.r = r;
    lc.now = now;
    memset(&flt, 0, sizeof(flt));
    flt.kind = "dkim";
    flt.include_hidden = 1;
    if (rc == 0)
        rc = ks_inventory_each(s, &flt, local_cb, &lc, d);
    if (rc != 0) {
        kw_dkim_report_free(r);
        return rc;
    }
    r->worst = KS_HEALTH_OK;
    for (i = 0; i < r->nsel; i++) {
        rsel *x = &r->sel[i];

        x->health = worst_of(x->dns);
        if (x->has_local)
            x->health = worse(x->health, x->local.health);
        if (x->dom >= 0)
            x->health = worse(x->health, worst_of(&r->dom[x->dom].findings));
        r->worst = worse(r->worst, x->health);
        if (has_unknown(x->dns) ||
            (x->dom >= 0 && has_unknown(&r->dom[x->dom].findings)))
            r->unknown++;
    }
    *out = r;
    return 0;
}

void kw_dkim_report_summary(const kw_dkim_report *r, size_t *selectors,
                            size_t *domains, ks_health *worst)
{
    if (selectors != NULL)
        *selectors = r != NULL ? r->nsel : 0;
    if (domains != NULL)
        *domains = r != NULL ? r->ndom : 0;
    if (worst != NULL)
        *worst = r != NULL ? r->worst : KS_HEALTH_OK;
}

size_t kw_dkim_report_unknown(const kw_dkim_report *r)
{
    return r != NULL ? r->unknown : 0;
}

void kw_dkim_report_free(kw_dkim_report *r)
{
    size_t i;

    if (r == NULL)
        return;
    for (i = 0; i < r->nsel; i++) {
        rsel *x = &r->sel[i];

        free(x->name);
        free(x->domain);
        free(x->selector);
        free(x->role);
        free(x->signer);
        free(x->algorithm);
        free(x->record);
        kw_dns_survey_free(x->sv);
        free(x->dns);
    }
    for (i = 0; i < r->ndom; i++)
        kw_dkim_domain_clear(&r->dom[i]);
    free(r->dom);
    free(r->sel);
    free(r);
}

/* ----- the report as JSON and as text ----- */

static json_t *findings_json(const kw_dkim_findings *f)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; a != NULL && i < f->n; i++) {
        const kw_dkim_find *x = &f->f[i];

        json_array_append_new(
            a, json_pack("{s:s, s:s, s:o, s:o, s:o}", "severity",
                         ks_health_word(x->severity), "code", x->code,
                         "text", kw_json_str(x->text), "fix",
                         kw_json_str(x->fix[0] != '\0' ? x->fix : NULL),
                         "server",
                         kw_json_str(x->server[0] != '\0' ? x->server
                                                          : NULL)));
    }
    return a;
}

static json_t *answer_json(const kw_dns_answer *a, const char *role,
                           const char *zone)
{
    char sv[80], words[600];
    json_t *txt = json_array(), *o;
    size_t i;

    kw_dns_server_str(&a->server, sv, sizeof(sv));
    kw_dns_answer_words(a, words, sizeof(words));
    for (i = 0; txt != NULL && i < a->ntxt; i++) {
        char *clean = kw_str_clean((const unsigned char *)a->txt[i].s,
                                   a->txt[i].len);

        /* Cleaned (the record may hold NUL octets and bytes that are
         * not UTF-8), it is printable UTF-8: no second escaping. */
        json_array_append_new(txt, clean != NULL ? json_string(clean)
                                                 : json_null());
        free(clean);
    }
    o = json_pack("{s:s, s:s, s:o, s:i, s:b, s:o, s:o, s:o, s:i}", "server",
                  sv, "role", role, "zone", kw_json_str(zone), "status",
                  a->status, "aa", a->aa, "error",
                  kw_json_str(a->status != 0 ? a->error : NULL), "cname",
                  kw_json_str(a->cname[0] != '\0' ? a->cname : NULL), "txt",
                  txt != NULL ? txt : json_null(), "ms", a->ms);
    if (o != NULL) {
        json_object_set_new(o, "answer", kw_json_str(words));
        json_object_set_new(o, "serial", a->has_serial
                                             ? json_integer(a->serial)
                                             : json_null());
    }
    return o;
}

static json_t *answers_json(const rsel *x)
{
    json_t *a = json_array();
    size_t i, j;

    if (a == NULL || x->sv == NULL)
        return a;
    json_array_append_new(a, answer_json(&x->sv->resolver, "resolver", NULL));
    for (i = 0; i < x->sv->nsteps; i++) {
        const kw_dns_survey_step *st = &x->sv->steps[i];

        for (j = 0; j < st->nauth; j++) {
            json_t *o = answer_json(&st->auth[j], "authoritative", st->zone);

            if (o != NULL)
                json_object_set_new(o, "name", kw_json_str(st->name));
            json_array_append_new(a, o);
        }
    }
    return a;
}

static json_t *local_json(const rsel *x)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; a != NULL && x->has_local && i < x->local.nfindings; i++) {
        const ks_finding *f = &x->local.findings[i];

        if (f->health == KS_HEALTH_OK && f->text[0] == '\0')
            continue;
        json_array_append_new(
            a, json_pack("{s:s, s:o, s:o}", "severity",
                         ks_health_word(f->health), "text",
                         kw_json_str(f->text), "fix",
                         kw_json_str(f->fix[0] != '\0' ? f->fix : NULL)));
    }
    return a;
}

static json_t *domain_json(const kw_dkim_domain *dom)
{
    json_t *o, *outs = json_array(), *spf;
    size_t i;

    for (i = 0; outs != NULL && i < dom->nout; i++)
        json_array_append_new(
            outs, json_pack("{s:s, s:s, s:o}", "address", dom->out_ip[i],
                            "result",
                            kw_spf_result_name(dom->out_check[i].result),
                            "reason",
                            kw_json_str(dom->out_check[i].reason)));
    spf = dom->spf.root != NULL ? kw_spf_tree_json(&dom->spf) : NULL;
    if (spf != NULL)
        json_object_set_new(spf, "outbound",
                            outs != NULL ? outs : json_array());
    else
        json_decref(outs);
    o = json_pack("{s:s, s:o, s:{s:o, s:o, s:o, s:o}, s:o}", "domain",
                  dom->domain, "spf", spf != NULL ? spf : json_null(),
                  "dmarc", "name",
                  kw_json_str(dom->dmarc_name[0] ? dom->dmarc_name : NULL),
                  "record",
                  kw_json_str(dom->dmarc_text[0] ? dom->dmarc_text : NULL),
                  "policy",
                  kw_json_str(dom->dmarc_policy[0] ? dom->dmarc_policy
                                                   : NULL),
                  "error",
                  kw_json_str(dom->dmarc_status != 0 ? dom->dmarc_error
                                                     : NULL),
                  "findings", findings_json(&dom->findings));
    return o;
}

json_t *kw_dkim_report_json(const kw_dkim_report *r)
{
    json_t *root, *sels = json_array(), *doms = json_array();
    char when[40];
    size_t i;

    kw_time_rfc3339(r->checked_at, when, sizeof(when));
    for (i = 0; sels != NULL && i < r->nsel; i++) {
        const rsel *x = &r->sel[i];

        json_array_append_new(
            sels,
            json_pack("{s:I, s:s, s:s, s:s, s:o, s:o, s:o, s:i, s:s, s:o, "
                      "s:o, s:o, s:o}",
                      "id", (json_int_t)x->id, "name", x->name, "domain",
                      x->domain, "selector", x->selector, "role",
                      kw_json_str(x->role), "signer", kw_json_str(x->signer),
                      "algorithm", kw_json_str(x->algorithm), "bits",
                      x->bits, "health", ks_health_word(x->health), "record",
                      kw_json_str(x->record), "answers", answers_json(x),
                      "findings", findings_json(x->dns), "key_findings",
                      local_json(x)));
    }
    for (i = 0; doms != NULL && i < r->ndom; i++)
        json_array_append_new(doms, domain_json(&r->dom[i]));
    root = json_pack("{s:s, s:s, s:s, s:o, s:o}", "checked_at", when,
                     "resolver", r->resolver, "health",
                     ks_health_word(r->worst), "selectors",
                     sels != NULL ? sels : json_array(), "domains",
                     doms != NULL ? doms : json_array());
    return root;
}

static int print_findings(FILE *f, const kw_dkim_findings *x,
                          const char *indent)
{
    size_t i;
    int r = 0;

    for (i = 0; i < x->n; i++) {
        const kw_dkim_find *y = &x->f[i];

        r |= kw_outf(f, "%s%-8s %s\n", indent, ks_health_word(y->severity),
                     y->text);
        if (y->fix[0] != '\0')
            r |= kw_outf(f, "%s         fix: %s\n", indent, y->fix);
    }
    return r;
}

static int print_answer(FILE *f, const kw_dns_answer *a, const char *who)
{
    char sv[80], words[600];

    kw_dns_server_str(&a->server, sv, sizeof(sv));
    kw_dns_answer_words(a, words, sizeof(words));
    if (a->has_serial)
        return kw_outf(f, "    %s %s (serial %u): %s\n", who, sv,
                       (unsigned)a->serial, words);
    return kw_outf(f, "    %s %s: %s\n", who, sv, words);
}

static int print_selector(FILE *f, const rsel *x,
                          const kw_dkim_domain *dom)
{
    size_t i, j;
    int r = 0;

    if (x->algorithm != NULL)
        r |= kw_outf(f, "%s  %s  (%s, %s %d-bit, %s)\n",
                     ks_health_word(x->health), x->name,
                     x->role != NULL ? x->role : "?", x->algorithm, x->bits,
                     x->signer != NULL ? x->signer : "?");
    else
        r |= kw_outf(f, "%s  %s  (%s, key not read, %s)\n",
                     ks_health_word(x->health), x->name,
                     x->role != NULL ? x->role : "?",
                     x->signer != NULL ? x->signer : "?");
    if (x->sv != NULL) {
        r |= print_answer(f, &x->sv->resolver, "resolver     ");
        for (i = 0; i < x->sv->nsteps; i++) {
            const kw_dns_survey_step *st = &x->sv->steps[i];

            if (i > 0 || x->sv->nsteps > 1)
                r |= kw_outf(f, "    %s (zone %s):\n", st->name,
                             st->zone[0] != '\0' ? st->zone : "unknown");
            for (j = 0; j < st->nauth; j++)
                r |= print_answer(f, &st->auth[j], "authoritative");
        }
    }
    r |= print_findings(f, x->dns, "    ");
    if (dom != NULL && worst_of(&dom->findings) != KS_HEALTH_OK)
        r |= kw_outf(f, "    %-8s SPF/DMARC of %s (below): a signing "
                     "selector carries its domain's findings\n",
                     ks_health_word(worst_of(&dom->findings)), dom->domain);
    for (i = 0; x->has_local && i < x->local.nfindings; i++) {
        const ks_finding *k = &x->local.findings[i];

        if (k->health == KS_HEALTH_OK)
            continue;
        r |= kw_outf(f, "    %-8s key file: %s\n", ks_health_word(k->health),
                     k->text);
        if (k->fix[0] != '\0')
            r |= kw_outf(f, "             fix: %s\n", k->fix);
    }
    return r;
}

static int print_domain(FILE *f, const kw_dkim_domain *dom)
{
    char *tree;
    size_t i;
    int r = 0;

    r |= kw_outf(f, "domain %s\n", dom->domain);
    if (dom->spf.root != NULL) {
        r |= kw_outf(f, "  SPF: %d of %d DNS lookups, %d of %d void "
                     "lookups%s%s\n",
                     dom->spf.lookups, KW_SPF_LOOKUP_LIMIT, dom->spf.voids,
                     KW_SPF_VOID_LIMIT,
                     dom->spf.permerror ? ", PermError for some senders" : "",
                     dom->spf.temperror ? ", TempError" : "");
        if ((tree = kw_spf_tree_text(&dom->spf)) != NULL) {
            char *line, *save = NULL;

            for (line = strtok_r(tree, "\n", &save); line != NULL;
                 line = strtok_r(NULL, "\n", &save))
                r |= kw_outf(f, "    %s\n", line);
            free(tree);
        }
    }
    for (i = 0; i < dom->nout; i++)
        r |= kw_outf(f, "  SPF for outbound %s: %s (%s)\n", dom->out_ip[i],
                     kw_spf_result_name(dom->out_check[i].result),
                     dom->out_check[i].reason);
    if (dom->dmarc_text[0] != '\0')
        r |= kw_outf(f, "  DMARC at %s: %s\n", dom->dmarc_name,
                     dom->dmarc_text);
    else
        r |= kw_outf(f, "  DMARC: none found\n");
    r |= print_findings(f, &dom->findings, "  ");
    return r;
}

int kw_dkim_report_text(const kw_dkim_report *r, FILE *f)
{
    size_t i;
    int rc = 0;

    if (r->nsel == 0)
        rc |= kw_outf(f, "no DKIM selectors in the inventory (run "
                      "`keywarden scan --dkim` first)\n");
    for (i = 0; i < r->nsel; i++)
        rc |= print_selector(f, &r->sel[i],
                             r->sel[i].dom >= 0 ? &r->dom[r->sel[i].dom]
                                                : NULL);
    for (i = 0; i < r->ndom; i++)
        rc |= print_domain(f, &r->dom[i]);
    rc |= kw_outf(f, "%zu selector%s, %zu signing domain%s through resolver "
                  "%s: %s\n",
                  r->nsel, r->nsel == 1 ? "" : "s", r->ndom,
                  r->ndom == 1 ? "" : "s", r->resolver,
                  ks_health_word(r->worst));
    return rc != 0 ? KW_EIO : 0;
}
