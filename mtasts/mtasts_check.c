/*
 * mtasts_check.c: the pure judge of a domain's MTA-STS facts
 * (mtasts_check.h), and its JSON.
 */
#include "mtasts_check.h"

#include "../common/kw_json.h"
#include "../common/kw_time.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add(kw_mtasts_findings *out, ks_health sev, const char *code,
                const char *host, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void add(kw_mtasts_findings *out, ks_health sev, const char *code,
                const char *host, const char *fix, const char *fmt, ...)
{
    kw_mtasts_find *f;
    va_list ap;

    if (out->n == KW_MTASTS_FINDINGS_MAX) {
        /* Keep the worst: replace the mildest kept when this is worse
         * (the last one kept may be as bad as this).  One of the two is
         * lost either way, and counted so the judge can say so. */
        size_t i;

        out->dropped++;
        f = &out->f[0];
        for (i = 1; i < out->n; i++)
            if (ks_health_rank(out->f[i].severity) <
                ks_health_rank(f->severity))
                f = &out->f[i];
        if (ks_health_rank(sev) <= ks_health_rank(f->severity))
            return;
    } else {
        f = &out->f[out->n++];
    }
    memset(f, 0, sizeof(*f));
    f->severity = sev;
    snprintf(f->code, sizeof(f->code), "%s", code);
    snprintf(f->host, sizeof(f->host), "%s", host != NULL ? host : "");
    snprintf(f->fix, sizeof(f->fix), "%s", fix != NULL ? fix : "");
    va_start(ap, fmt);
    vsnprintf(f->text, sizeof(f->text), fmt, ap);
    va_end(ap);
}

static int by_severity(const void *a, const void *b)
{
    const kw_mtasts_find *x = a, *y = b;
    int r = ks_health_rank(y->severity) - ks_health_rank(x->severity);

    return r != 0 ? r : strcmp(x->code, y->code);
}

ks_health kw_mtasts_worst(const kw_mtasts_findings *out)
{
    ks_health w = KS_HEALTH_OK;
    size_t i;

    for (i = 0; i < out->n; i++)
        if (ks_health_rank(out->f[i].severity) > ks_health_rank(w))
            w = out->f[i].severity;
    return w;
}

/* What a broken MX costs in each mode: senders refuse it under enforce,
 * only report it under testing, ignore the policy under none. */
static ks_health mode_sev(const kw_mtasts_policy *p)
{
    return p->mode == KW_MTASTS_ENFORCE   ? KS_HEALTH_CRITICAL
           : p->mode == KW_MTASTS_TESTING ? KS_HEALTH_WARNING
                                          : KS_HEALTH_OK;
}

static const char *refusal(const kw_mtasts_policy *p)
{
    return p->mode == KW_MTASTS_ENFORCE
               ? "senders that honour MTA-STS refuse to deliver to"
               : "senders in testing mode report failures for";
}

/* An id from the clock (the digits of its RFC 3339 form): new at every
 * change made a second or more apart. */
static void clock_id(int64_t now, char *id, size_t cap)
{
    char t[40], *w = id, *r;

    kw_time_rfc3339(now, t, sizeof(t));
    for (r = t; *r && (size_t)(w - id) + 1 < cap; r++)
        if (*r >= '0' && *r <= '9')
            *w++ = *r;
    *w = '\0';
}

static void judge_txt(const kw_mtasts_facts *f, int64_t now,
                      kw_mtasts_findings *out)
{
    char fix[600], id[40];

    clock_id(now, id, sizeof(id));
    snprintf(fix, sizeof(fix),
             "publish _mta-sts.%s. TXT \"v=STSv1; id=%s\" (one record)",
             f->domain, id);
    if (f->txt_status == KW_ENOTFOUND)
        add(out, KS_HEALTH_WARNING, "txt.missing", NULL, fix,
            "_mta-sts.%s: %s: senders never look for the policy",
            f->domain, f->txt_error);
    else if (f->txt_status == KW_EPARSE || f->txt_status == KW_ETOOBIG)
        add(out, KS_HEALTH_CRITICAL, "txt.invalid", NULL, fix,
            "_mta-sts.%s: %s", f->domain, f->txt_error);
    else if (f->txt_status != 0)
        add(out, KS_HEALTH_UNKNOWN, "txt.lookup", NULL, "",
            "_mta-sts.%s: no answer: %s", f->domain, f->txt_error);
}

/* The policy as fetched; returns 1 when it parsed and may be judged. */
static int judge_fetch(const kw_mtasts_facts *f, kw_mtasts_findings *out)
{
    /* Without a record senders never fetch, so a missing file then is
     * only worth a warning. */
    ks_health sev = f->txt_status == 0 ? KS_HEALTH_CRITICAL
                                       : KS_HEALTH_WARNING;

    if (!f->fetched) {
        add(out, sev, "policy.fetch", NULL,
            "serve the policy over HTTPS at that URL",
            "%s: %s: senders fetching the policy get none", f->url,
            f->fetch_error);
        return 0;
    }
    if (f->http_code >= 300 && f->http_code < 400) {
        add(out, sev, "policy.redirect", NULL,
            "serve the file itself at that URL, without a redirect",
            "%s answers HTTP %ld%s%s: senders follow no redirect (RFC "
            "8461 section 3.3), so they get no policy",
            f->url, f->http_code, f->location[0] ? " to " : "",
            f->location);
        return 0;
    }
    if (f->http_code != 200) {
        add(out, sev, "policy.http", NULL,
            "serve the policy with status 200 at that URL",
            "%s answers HTTP %ld: senders get no policy", f->url,
            f->http_code);
        return 0;
    }
    if (f->policy_status != 0) {
        add(out, sev, "policy.invalid", NULL,
            "correct the policy file, then change the _mta-sts id",
            "%s: %s: senders treat the domain as having no policy", f->url,
            f->policy_error);
        return 0;
    }
    if (strncasecmp(f->content_type, "text/plain", 10) != 0 ||
        (f->content_type[10] != '\0' && f->content_type[10] != ';' &&
         f->content_type[10] != ' '))
        add(out, KS_HEALTH_WARNING, "policy.content_type", NULL,
            "serve .well-known/mta-sts.txt as text/plain",
            "%s is served as \"%s\", not text/plain (RFC 8461 section "
            "3.2): strict senders discard it",
            f->url, f->content_type[0] ? f->content_type : "(none)");
    return 1;
}

static void judge_policy(const kw_mtasts_facts *f, int64_t now,
                         kw_mtasts_findings *out)
{
    const kw_mtasts_policy *p = &f->policy;
    char fix[600], id[40];

    if (p->mode == KW_MTASTS_NONE)
        add(out, KS_HEALTH_OK, "policy.mode", NULL, "",
            "mode none: senders drop the policy they cached and check "
            "nothing");
    else if (p->mode == KW_MTASTS_TESTING)
        add(out, KS_HEALTH_OK, "policy.mode", NULL, "",
            "mode testing: senders deliver whatever they find and only "
            "report failures (TLS-RPT)");
    if (p->max_age < 86400)
        add(out, KS_HEALTH_WARNING, "policy.max_age", NULL,
            "max_age: 604800 or more (RFC 8461 suggests weeks)",
            "max_age %lld s is below one day: senders refetch so often "
            "that an outage of the policy host soon leaves them without "
            "a policy",
            (long long)p->max_age);
    if (f->seen && f->txt_status == 0 &&
        strcmp(f->seen_id, f->txt.id) == 0 && f->seen_sha256[0] &&
        strcmp(f->seen_sha256, f->policy_sha256) != 0) {
        clock_id(now, id, sizeof(id));
        snprintf(fix, sizeof(fix),
                 "publish _mta-sts.%s. TXT \"v=STSv1; id=%s\"", f->domain,
                 id);
        add(out, KS_HEALTH_WARNING, "policy.id_unchanged", NULL, fix,
            "the policy changed while the id stayed \"%s\": senders keep "
            "the old policy until max_age: change the id",
            f->txt.id);
    }
}

static void judge_host(const kw_mtasts_facts *f, int64_t now,
                       kw_mtasts_findings *out)
{
    char host[300], when[40];
    int64_t left;

    snprintf(host, sizeof(host), "mta-sts.%s", f->domain);
    if (!f->host_probed) {
        add(out, KS_HEALTH_UNKNOWN, "host.probe", host, "",
            "%s: its certificate could not be read: %s", host,
            f->host_probe_error);
        return;
    }
    left = f->host_not_after - now;
    kw_time_rfc3339(f->host_not_after, when, sizeof(when));
    if (left <= KW_MTASTS_CERT_CRIT)
        add(out, KS_HEALTH_CRITICAL, "host.cert_expiry", host,
            "renew the policy host's certificate",
            left <= 0 ? "%s: its certificate (%s) expired %s: senders "
                        "cannot fetch the policy"
                      : "%s: its certificate (%s) expires %s: senders "
                        "cannot fetch the policy after that",
            host, f->host_subject, when);
    else if (left <= KW_MTASTS_CERT_WARN)
        add(out, KS_HEALTH_WARNING, "host.cert_expiry", host,
            "renew the policy host's certificate",
            "%s: its certificate (%s) expires %s", host, f->host_subject,
            when);
}

static void judge_mx(const kw_mtasts_facts *f, int havepol, int64_t now,
                     kw_mtasts_findings *out)
{
    const kw_mtasts_policy *p = &f->policy;
    ks_health sev = havepol ? mode_sev(p) : KS_HEALTH_WARNING;
    const char *why = havepol ? refusal(p) : "senders would refuse";
    char fix[600];
    size_t i;

    if (f->mx_status != 0) {
        add(out, KS_HEALTH_UNKNOWN, "mx.lookup", NULL, "",
            "MX of %s: %s", f->domain, f->mx_error);
        return;
    }
    if (f->nmx == 0) {
        add(out, KS_HEALTH_WARNING, "mx.none", NULL, "",
            "%s has no MX records: nothing for the policy to cover",
            f->domain);
        return;
    }
    if (f->mx_unchecked > 0)
        add(out, KS_HEALTH_UNKNOWN, "mx.unchecked", NULL, "",
            "%s has more MX hosts than the %d checked (%zu more at "
            "least): those were not looked at",
            f->domain, KW_MTASTS_MXS_MAX, f->mx_unchecked);
    if (havepol && p->mode == KW_MTASTS_NONE)
        return;
    for (i = 0; i < f->nmx; i++) {
        const kw_mtasts_mx *m = &f->mx[i];
        char when[40];

        if (havepol && kw_mtasts_policy_covers(p, m->host) < 0) {
            snprintf(fix, sizeof(fix),
                     "add \"mx: %s\" to the policy, then change the "
                     "_mta-sts id",
                     m->host);
            add(out, sev, "mx.uncovered", m->host, fix,
                "no mx: line of the policy matches %s: %s %s", m->host,
                why, m->host);
        }
        if (!m->resolved) {
            add(out, KS_HEALTH_UNKNOWN, "mx.resolve", m->host, "",
                "%s: no address: %s", m->host, m->resolve_error);
            continue;
        }
        if (!m->probed) {
            add(out, sev, "mx.starttls", m->host,
                "offer STARTTLS on the MX", "%s (%s): %s: %s %s",
                m->host, m->addr, m->probe_error, why, m->host);
            continue;
        }
        snprintf(fix, sizeof(fix),
                 "serve a certificate for %s from a trusted CA on the MX",
                 m->host);
        if (!m->name_matches)
            add(out, sev, "mx.cert_name", m->host, fix,
                "%s serves a certificate for %s that does not cover "
                "%s: %s %s",
                m->host, m->subject, m->host, why, m->host);
        else if (!m->verified)
            add(out, sev, "mx.cert_invalid", m->host, fix,
                "%s: its certificate (%s) does not verify: %s: %s %s",
                m->host, m->subject, m->verify_error, why, m->host);
        kw_time_rfc3339(m->not_after, when, sizeof(when));
        if (m->not_after - now <= KW_MTASTS_CERT_CRIT)
            add(out, m->not_after <= now ? sev : KS_HEALTH_WARNING,
                "mx.cert_expiry", m->host, "renew the MX's certificate",
                "%s: its certificate (%s) expires %s", m->host,
                m->subject, when);
        else if (m->not_after - now <= KW_MTASTS_CERT_WARN)
            add(out, KS_HEALTH_WARNING, "mx.cert_expiry", m->host,
                "renew the MX's certificate",
                "%s: its certificate (%s) expires %s", m->host,
                m->subject, when);
    }
}

static void judge_rpt(const kw_mtasts_facts *f, kw_mtasts_findings *out)
{
    char fix[600];

    snprintf(fix, sizeof(fix),
             "publish _smtp._tls.%s. TXT \"v=TLSRPTv1; "
             "rua=mailto:tlsrpt@%s\"",
             f->domain, f->domain);
    if (f->rpt_status == KW_ENOTFOUND)
        add(out, KS_HEALTH_WARNING, "tlsrpt.missing", NULL, fix,
            "_smtp._tls.%s: %s: no reports of failed deliveries reach "
            "you",
            f->domain, f->rpt_error);
    else if (f->rpt_status == KW_EPARSE || f->rpt_status == KW_ETOOBIG)
        add(out, KS_HEALTH_WARNING, "tlsrpt.invalid", NULL, fix,
            "_smtp._tls.%s: %s", f->domain, f->rpt_error);
    else if (f->rpt_status != 0)
        add(out, KS_HEALTH_UNKNOWN, "tlsrpt.lookup", NULL, "",
            "_smtp._tls.%s: no answer: %s", f->domain, f->rpt_error);
}

void kw_mtasts_judge(const kw_mtasts_facts *f, int64_t now,
                     kw_mtasts_findings *out)
{
    int havepol;

    memset(out, 0, sizeof(*out));
    judge_txt(f, now, out);
    havepol = judge_fetch(f, out);
    if (havepol)
        judge_policy(f, now, out);
    if (f->fetched || f->host_probed)
        judge_host(f, now, out);
    judge_mx(f, havepol, now, out);
    judge_rpt(f, out);
    qsort(out->f, out->n, sizeof(out->f[0]), by_severity);
    /* The spare slot: after the sort, so it stays last. */
    if (out->dropped > 0) {
        kw_mtasts_find *x = &out->f[out->n++];

        memset(x, 0, sizeof(*x));
        x->severity = KS_HEALTH_WARNING;
        snprintf(x->code, sizeof(x->code), "findings.dropped");
        snprintf(x->text, sizeof(x->text), "%s: %zu more findings were "
                 "not kept (at most %d are, the worst ones above)",
                 f->domain, out->dropped, KW_MTASTS_FINDINGS_MAX);
        snprintf(x->fix, sizeof(x->fix), "fix the findings above and check "
                 "again to see the rest");
    }
}

json_t *kw_mtasts_json(const kw_mtasts_facts *f,
                       const kw_mtasts_findings *out)
{
    json_t *o = json_object(), *mx = json_array(), *pats = json_array(),
           *rua = json_array(), *fs = json_array();
    size_t i;
    int bad = 0;

    if (o == NULL || mx == NULL || pats == NULL || rua == NULL ||
        fs == NULL)
        goto fail;
    for (i = 0; i < f->nmx; i++) {
        const kw_mtasts_mx *m = &f->mx[i];
        json_array_append_new(
            mx, json_pack("{s:o, s:o, s:b, s:b, s:b, s:o, s:I}", "host",
                          kw_json_str(m->host), "address",
                          kw_json_str(m->addr), "covered",
                          f->policy_status == 0 &&
                              kw_mtasts_policy_covers(&f->policy, m->host) >= 0,
                          "name_matches", m->name_matches, "verified",
                          m->verified, "subject", kw_json_str(m->subject),
                          "not_after", (json_int_t)m->not_after));
    }
    for (i = 0; i < f->policy.nmx; i++)
        json_array_append_new(pats, kw_json_str(f->policy.mx[i]));
    for (i = 0; i < f->rpt.nrua; i++)
        json_array_append_new(rua, kw_json_str(f->rpt.rua[i]));
    for (i = 0; i < out->n; i++) {
        const kw_mtasts_find *x = &out->f[i];
        json_array_append_new(
            fs, json_pack("{s:s, s:o, s:o, s:o, s:o}", "severity",
                          ks_health_word(x->severity), "code",
                          kw_json_str(x->code), "text", kw_json_str(x->text),
                          "fix", kw_json_str(x->fix), "host",
                          kw_json_str(x->host)));
    }
    /* Each set takes its value even when it fails, so all of them run:
     * stopping at the first failure would leak the values not yet set. */
    bad |= json_object_set_new(o, "domain", kw_json_str(f->domain));
    bad |= json_object_set_new(
        o, "health", json_string(ks_health_word(kw_mtasts_worst(out))));
    bad |= json_object_set_new(o, "id", kw_json_str(f->txt.id));
    bad |= json_object_set_new(o, "url", kw_json_str(f->url));
    bad |= json_object_set_new(o, "http_status", json_integer(f->http_code));
    bad |= json_object_set_new(
        o, "mode",
        f->policy_status == 0
            ? json_string(kw_mtasts_mode_name(f->policy.mode))
            : json_null());
    bad |= json_object_set_new(o, "max_age", json_integer(f->policy.max_age));
    bad |= json_object_set_new(o, "policy_sha256",
                               kw_json_str(f->policy_sha256));
    bad |= json_object_set_new(o, "policy_mx", pats);
    bad |= json_object_set_new(o, "mx", mx);
    bad |= json_object_set_new(o, "tlsrpt_rua", rua);
    bad |= json_object_set_new(o, "findings", fs);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
fail:
    json_decref(o);
    json_decref(mx);
    json_decref(pats);
    json_decref(rua);
    json_decref(fs);
    return NULL;
}
