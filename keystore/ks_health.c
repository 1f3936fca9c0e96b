/*
 * ks_health.c: the TLS health rules.
 *
 *   unreadable source                      unknown
 *   source file missing                    warning
 *   a daemon's configuration names the file (discover), and it is
 *     missing, or holds no certificate      critical: the daemon will not
 *                                           start or reload
 *   superseded old version (archive/)      ok, says so
 *   idle trust anchor (a lone root CA that
 *     anchors nothing in the inventory)    ok, says so
 *   expired (leaf or any chain element)    critical
 *   deadline closer than --crit            critical
 *   deadline closer than --warn            warning
 *   chain element expires before the leaf  warning, naming it
 *   not yet valid                          warning
 *   chain out of order                     warning
 *   private key does not match             critical
 *   private key world-readable             critical
 *   private key unreadable / encrypted     unknown (cannot check the match)
 *
 * Endpoints (the chain rules apply to the served chain):
 *   probe failed (refused, timeout, handshake)  critical
 *   served certificate does not cover the name  critical
 *   served leaf older than the newest one on disk
 *     for the same names (not reloaded)          critical, "stale"
 */
#include "ks_health.h"

#include "../common/kw_time.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

const char *ks_health_word(ks_health h)
{
    switch (h) {
    case KS_HEALTH_OK: return "ok";
    case KS_HEALTH_WARNING: return "warning";
    case KS_HEALTH_CRITICAL: return "critical";
    default: return "unknown";
    }
}

int ks_health_parse(const char *s)
{
    if (strcmp(s, "ok") == 0)
        return KS_HEALTH_OK;
    if (strcmp(s, "warning") == 0)
        return KS_HEALTH_WARNING;
    if (strcmp(s, "critical") == 0)
        return KS_HEALTH_CRITICAL;
    if (strcmp(s, "unknown") == 0)
        return KS_HEALTH_UNKNOWN;
    return -1;
}

int ks_health_rank(ks_health h)
{
    switch (h) {
    case KS_HEALTH_OK: return 0;
    case KS_HEALTH_WARNING: return 1;
    case KS_HEALTH_UNKNOWN: return 2;
    default: return 3;
    }
}

void ks_thresholds_default(ks_thresholds *t)
{
    t->warn = 21 * KW_DAY;
    t->crit = 7 * KW_DAY;
}

void ks_verdict_add(ks_verdict *v, ks_health h, const char *fix,
                    const char *fmt, ...)
{
    ks_finding *f;
    va_list ap;
    size_t n;

    if (v->nfindings >= KS_MAX_FINDINGS)
        return;
    f = &v->findings[v->nfindings++];
    f->health = h;
    va_start(ap, fmt);
    vsnprintf(f->text, sizeof(f->text), fmt, ap);
    va_end(ap);
    n = fix != NULL ? strlen(fix) : 0;
    if (n >= sizeof(f->fix))
        n = sizeof(f->fix) - 1;
    memcpy(f->fix, fix != NULL ? fix : "", n);
    f->fix[n] = '\0';
}

/* The rules below read shorter with these. */
#define add ks_verdict_add
#define finish ks_verdict_finish

void ks_verdict_finish(ks_verdict *v)
{
    size_t i, worst = 0;

    v->health = KS_HEALTH_OK;
    v->reason[0] = '\0';
    for (i = 0; i < v->nfindings; i++)
        if (ks_health_rank(v->findings[i].health) >
            ks_health_rank(v->findings[worst].health))
            worst = i;
    if (v->nfindings > 0) {
        v->health = v->findings[worst].health;
        snprintf(v->reason, sizeof(v->reason), "%s",
                 v->findings[worst].text);
    }
}

/* A live check's finding (ks_check.h) on an endpoint: "DANE: TEXT; FIX",
 * the text cut (with "...") rather than the fix, since the fix is the
 * record to publish and check shows one line. */
static void check_finding(ks_verdict *v, const ks_check_found *c)
{
    const char *who = c->checker == NULL              ? "check"
                      : strcmp(c->checker, "dane") == 0 ? "DANE"
                      : strcmp(c->checker, "mta-sts") == 0 ? "MTA-STS"
                      : strcmp(c->checker, "dane-roll") == 0
                          ? "DANE rollover"
                          : c->checker;
    const char *text = c->text != NULL ? c->text : "?";
    const char *fix = c->fix != NULL ? c->fix : "";
    size_t room = sizeof(v->findings[0].text) - 1 - strlen(who) - 2;
    size_t fl = strlen(fix), tl = strlen(text);

    if (fl > 0 && fl + 2 < room)
        room -= fl + 2;
    if (tl > room && room > 3)
        ks_verdict_add(v, c->health, fl ? fix : NULL, "%s: %.*s...%s%s", who,
                       (int)(room - 3), text, fl ? "; " : "", fix);
    else
        ks_verdict_add(v, c->health, fl ? fix : NULL, "%s: %s%s%s", who,
                       text, fl ? "; " : "", fix);
}

void ks_health_tls(const ks_tls_facts *f, int64_t now,
                   const ks_thresholds *t, ks_verdict *v)
{
    char when[32], left[32];
    int64_t rem;
    const char *subject;
    int leaf_is_deadline;

    if (f->is_dkim) {
        ks_health_dkim(f, now, v);
        return;
    }
    if (f->is_dnssec) {
        ks_health_dnssec(f, now, v);
        return;
    }
    memset(v, 0, sizeof(*v));
    if (f->is_checked) {
        /* A mail domain (kind mta-sts): its check's findings alone. */
        if (f->check_at == 0)
            add(v, KS_HEALTH_UNKNOWN, NULL, "not checked yet");
        for (size_t i = 0; i < f->check_nfound; i++)
            if (f->check_found[i].health != KS_HEALTH_OK)
                check_finding(v, &f->check_found[i]);
        if (v->nfindings == 0)
            add(v, KS_HEALTH_OK, NULL, "checked, nothing found");
        finish(v);
        return;
    }

    if (f->state != NULL && strcmp(f->state, "unreadable") == 0) {
        const char *err = f->error != NULL ? f->error : "unknown error";

        /* Broken content fails the daemon as it fails us; a file we may
         * not open may still be open to the daemon. */
        if (f->used_by != NULL &&
            strncmp(err, KS_ERR_CANNOT_OPEN,
                    sizeof(KS_ERR_CANNOT_OPEN) - 1) != 0)
            add(v, KS_HEALTH_CRITICAL,
                "put a certificate there, or correct that line; `keywarden "
                "discover` again afterwards",
                "unreadable: %s; named by %s: the daemon will not start or "
                "reload",
                err, f->used_by);
        else if (f->used_by != NULL)
            add(v, KS_HEALTH_UNKNOWN,
                "run keywarden as a user that may read it (root), or check "
                "it by hand",
                "unreadable: %s; named by %s", err, f->used_by);
        else
            add(v, KS_HEALTH_UNKNOWN,
                "fix or replace the file; `keywarden scan` again afterwards",
                "unreadable: %s", err);
        finish(v);
        return;
    }
    if (f->state != NULL && strcmp(f->state, "missing") == 0) {
        kw_time_rfc3339(f->updated_at, when, sizeof(when));
        if (f->used_by != NULL)
            add(v, KS_HEALTH_CRITICAL,
                "put the file there, or correct that line; `keywarden "
                "discover` again afterwards",
                "missing since %s, named by %s: the daemon will not start "
                "or reload",
                when, f->used_by);
        else
            add(v, KS_HEALTH_WARNING,
                "restore the file, or `keywarden forget ID` if it is gone "
                "for good",
                "source file missing since %s", when);
        finish(v);
        return;
    }
    if (f->is_endpoint) {
        char ep[300];

        snprintf(ep, sizeof(ep), "%s%s%s:%d",
                 f->endpoint_host && strchr(f->endpoint_host, ':') ? "[" : "",
                 f->endpoint_host ? f->endpoint_host : "?",
                 f->endpoint_host && strchr(f->endpoint_host, ':') ? "]" : "",
                 f->endpoint_port);
        if (f->probe_ok == 0)
            add(v, KS_HEALTH_CRITICAL,
                "check that the service runs and answers TLS there",
                "probe of %s failed: %s", ep,
                f->probe_error ? f->probe_error : "unknown error");
        else if (f->probe_ok < 0)
            add(v, KS_HEALTH_UNKNOWN, NULL, "%s not probed yet", ep);
        if (f->stale_source != NULL && f->has_validity) {
            char served[32], disk[32];

            kw_time_rfc3339(f->not_after, served, sizeof(served));
            kw_time_rfc3339(f->stale_not_after, disk, sizeof(disk));
            add(v, KS_HEALTH_CRITICAL,
                "reload the daemon that serves this endpoint",
                "stale: the daemon serving %s was not reloaded: it serves "
                "the certificate expiring %s, %s holds one expiring %s",
                ep, served, f->stale_source, disk);
        }
        if (f->probe_ok > 0 && f->name_matches == 0)
            add(v, KS_HEALTH_CRITICAL,
                "serve a certificate that names this host",
                "the certificate served at %s does not cover the name "
                "probed",
                ep);
        for (size_t i = 0; i < f->check_nfound; i++) {
            const ks_check_found *c = &f->check_found[i];

            /* An ok finding ("no TLSA record": the host does not use
             * DANE) is no problem to list. */
            if (c->health == KS_HEALTH_OK)
                continue;
            check_finding(v, c);
        }
        if (!f->has_validity) {
            finish(v);
            return;
        }
    }
    if (!f->has_validity) {
        add(v, KS_HEALTH_UNKNOWN, NULL, "no validity period known");
        finish(v);
        return;
    }
    if (f->superseded_by > 0) {
        add(v, KS_HEALTH_OK, NULL,
            "old version, superseded by object %lld",
            (long long)f->superseded_by);
        /* An archived old version expiring is history, not a problem. */
        v->health = KS_HEALTH_OK;
        snprintf(v->reason, sizeof(v->reason), "%s", v->findings[0].text);
        return;
    }

    if (f->idle_anchor) {
        add(v, KS_HEALTH_OK, NULL,
            f->deadline <= now
                ? "trust anchor, expired; anchors nothing in the inventory"
                : "trust anchor; anchors nothing in the inventory");
        finish(v);
        return;
    }

    rem = kw_time_diff(f->deadline, now);
    leaf_is_deadline = f->weak_name == NULL || f->deadline == f->not_after;
    subject = leaf_is_deadline ? "" : "chain element ";
    kw_time_rfc3339(f->deadline, when, sizeof(when));
    if (rem <= 0) {
        kw_duration_format(kw_time_diff(now, f->deadline), left,
                           sizeof(left));
        if (leaf_is_deadline)
            add(v, KS_HEALTH_CRITICAL, "renew the certificate now",
                "expired %s ago (%s)", left, when);
        else
            add(v, KS_HEALTH_CRITICAL,
                "replace the chain file's intermediate with the CA's "
                "current one",
                "chain element \"%s\" expired %s ago (%s)", f->weak_name,
                left, when);
    } else if (rem < t->crit || rem < t->warn) {
        kw_duration_format(rem, left, sizeof(left));
        add(v, rem < t->crit ? KS_HEALTH_CRITICAL : KS_HEALTH_WARNING,
            leaf_is_deadline ? "renew the certificate"
                             : "replace the chain file's intermediate",
            "%s%s%s%sexpires in %s (%s)", subject,
            leaf_is_deadline ? "" : "\"",
            leaf_is_deadline ? "" : f->weak_name,
            leaf_is_deadline ? "" : "\" ", left, when);
    }
    if (f->weak_name != NULL && f->weak_not_after < f->not_after &&
        f->weak_not_after > now) {
        char leaf_when[32];

        kw_time_rfc3339(f->weak_not_after, when, sizeof(when));
        kw_time_rfc3339(f->not_after, leaf_when, sizeof(leaf_when));
        add(v, KS_HEALTH_WARNING,
            "get the current intermediate from the CA and rebuild the chain",
            "chain element \"%s\" expires %s, before the certificate (%s)",
            f->weak_name, when, leaf_when);
    }
    if (now < f->not_before) {
        kw_time_rfc3339(f->not_before, when, sizeof(when));
        add(v, KS_HEALTH_WARNING,
            "check the clock of the machine that issued it, or wait",
            "not valid until %s", when);
    }
    if (f->arrangement != NULL && strcmp(f->arrangement, "unordered") == 0)
        add(v, KS_HEALTH_WARNING,
            "put the leaf certificate first, then each issuer in order",
            "chain is out of order: TLS clients expect the leaf first");
    if (f->key_state != NULL) {
        const char *kp = f->key_path != NULL ? f->key_path : "(same file)";

        if (strcmp(f->key_state, "mismatch") == 0)
            add(v, KS_HEALTH_CRITICAL,
                "deploy the key that was issued with this certificate",
                "private key %s does not match the certificate", kp);
        else if (strcmp(f->key_state, "unreadable") == 0)
            add(v, KS_HEALTH_UNKNOWN, "scan as a user that can read it",
                "private key %s could not be read", kp);
        else if (strcmp(f->key_state, "encrypted") == 0)
            add(v, KS_HEALTH_UNKNOWN, NULL,
                "private key %s is encrypted; cannot check that it matches",
                kp);
        if (f->key_mode & S_IROTH) {
            char fix[256];
            snprintf(fix, sizeof(fix), "chmod o-rwx %s", kp);
            add(v, KS_HEALTH_CRITICAL, fix,
                "private key %s is world-readable (mode %04o)", kp,
                f->key_mode & 07777);
        }
    }
    /* A managed certificate's live checks (the DANE rollover's: a
     * renewal held back, a key deployed but not served). */
    for (size_t i = 0; !f->is_endpoint && i < f->check_nfound; i++)
        if (f->check_found[i].health != KS_HEALTH_OK)
            check_finding(v, &f->check_found[i]);
    finish(v);
}

void ks_health_dkim(const ks_tls_facts *f, int64_t now, ks_verdict *v)
{
    const char *kp = f->key_path != NULL ? f->key_path : "(key file)";
    const char *role = f->dkim_role != NULL ? f->dkim_role : "orphan";
    int signing = strcmp(role, "signing") == 0;
    int used = signing || strcmp(role, "published") == 0;
    char fix[256];
    size_t i;

    memset(v, 0, sizeof(*v));
    if (f->state != NULL && strcmp(f->state, "ok") != 0) {
        const char *err = f->error != NULL ? f->error : f->state;
        int ours = strncmp(err, KS_ERR_CANNOT_OPEN,
                           sizeof(KS_ERR_CANNOT_OPEN) - 1) == 0;

        if (ours)
            add(v, KS_HEALTH_UNKNOWN,
                "scan as a user that may read it (root, or the signer's)",
                "key %s: %s", kp, err);
        else
            add(v, signing ? KS_HEALTH_CRITICAL : KS_HEALTH_WARNING,
                signing ? "restore the key file, or point the signer's "
                          "configuration at the right one"
                        : "restore the key file, or remove the line that "
                          "names it",
                "key %s: %s%s", kp, err,
                signing ? ": the signer cannot sign with it" : "");
    }
    if (f->key_mode > 0 && (f->key_mode & (S_IROTH | S_IWOTH))) {
        snprintf(fix, sizeof(fix), "chmod o-rwx %s", kp);
        add(v, KS_HEALTH_CRITICAL, fix,
            "private key %s is readable by every user (mode %04o)", kp,
            f->key_mode & 07777);
    }
    if (used && f->dkim_reads == 0 && f->dkim_user != NULL) {
        snprintf(fix, sizeof(fix), "chown %s %s (or give its group read "
                 "access: chmod g+r)", f->dkim_user, kp);
        add(v, KS_HEALTH_CRITICAL, fix,
            "private key %s is not readable by %s, the user %s runs as",
            kp, f->dkim_user,
            f->dkim_signer != NULL ? f->dkim_signer : "the signer");
    }
    if (used && f->dkim_alg != NULL && strcmp(f->dkim_alg, "rsa") == 0 &&
        f->dkim_bits > 0 && f->dkim_bits <= 1024)
        add(v, f->dkim_bits < 1024 ? KS_HEALTH_CRITICAL : KS_HEALTH_WARNING,
            "generate a 2048-bit key under a new selector, publish it, then "
            "sign with it",
            f->dkim_bits < 1024
                ? "a %d-bit RSA key: receivers ignore signatures by keys "
                  "under 1024 bits (RFC 8301)"
                : "a %d-bit RSA key: the minimum RFC 8301 allows; use 2048",
            f->dkim_bits);
    if (used && f->dkim_max_age > 0 && f->dkim_key_time > 0 &&
        kw_time_diff(now, f->dkim_key_time) > f->dkim_max_age) {
        char age[32], max[32];

        kw_duration_format(kw_time_diff(now, f->dkim_key_time), age,
                           sizeof(age));
        kw_duration_format(f->dkim_max_age, max, sizeof(max));
        add(v, KS_HEALTH_WARNING,
            "rotate: a new key under a new selector, published before the "
            "signer uses it",
            "key is %s old, older than max_age %s", age, max);
    }
    for (i = 0; i < f->dkim_nfound && i < KS_MAX_FINDINGS; i++) {
        const ks_dkim_found *x = &f->dkim_found[i];

        if (x->server != NULL && x->server[0] != '\0')
            add(v, x->health, x->fix, "%s (%s)",
                x->text != NULL ? x->text : "", x->server);
        else
            add(v, x->health, x->fix, "%s", x->text != NULL ? x->text : "");
    }
    if (v->nfindings == 0 && !used)
        add(v, KS_HEALTH_OK,
            "publish it and name it in the signer's configuration, or "
            "delete it",
            "no signer's configuration names this key file");
    finish(v);
}
