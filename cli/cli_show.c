/*
 * cli_show.c: keywarden show ID|NAME, and keywarden forget ID.
 */
#include "cli.h"

#include "../common/kw_log.h"
#include "../common/kw_str.h"
#include "../common/kw_time.h"
#include "../hooks/hook_outbox.h"
#include "../service/job.h"

#include <getopt.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

static void show_usage(FILE *out)
{
    fputs("Usage: keywarden show [--json] [--warn DURATION] [--crit "
          "DURATION] ID|NAME...\n"
          "\n"
          "Everything known about an object: where it is (and which "
          "symlinks lead\n"
          "to it), names, issuer, validity, key, the private key that "
          "matches it,\n"
          "every chain element, the findings with their fixes, and its "
          "history.\n"
          "NAME may be the object's name, a file path or a SAN; a name "
          "shared by\n"
          "several objects (cert.pem and fullchain.pem) shows them all.\n"
          "NAME may also be a DKIM domain with a managed [dkim \"DOMAIN\"] "
          "section:\nits rotation's stage, health and next rotation.\n",
          out);
}

typedef struct show_ctx {
    const kw_cli *cli;
    ks_thresholds t;
    int json;
    ks_store *s;
    json_t *arr; /* --json: objects collected */
    int failed;
    kw_hook_overlay ov; /* failed hooks turn their objects critical */
    kw_cli_rots rots;   /* the managed DKIM domains' rotations */
    kw_renewals rn;     /* the managed certificates' renewal times */
} show_ctx;

/* A managed certificate's next renewal (kw_renewal_json), one line. */
static void print_renewal(const json_t *rn, int64_t now)
{
    const char *at = json_string_value(json_object_get(rn, "renew_at"));
    const char *basis = json_string_value(json_object_get(rn, "basis"));
    const char *verdict = json_string_value(json_object_get(rn, "verdict"));
    const char *why = strcmp(basis, "ari-window") == 0
                          ? "in the CA's renewal window"
                      : strcmp(basis, "lifetime") == 0
                          ? "the lifetime rule"
                          : basis;
    int64_t t;

    if (at != NULL && kw_time_parse_rfc3339(at, &t) == 0) {
        char left[32];

        kw_duration_format(kw_time_diff(t, now), left, sizeof(left));
        kw_outf(stdout, "  %-12s %s (%s%s; %s, %s) for [certificate \"%s\"]\n",
                "renewal", at, t > now ? "in " : "", t > now ? left : "now",
                verdict, why,
                json_string_value(json_object_get(rn, "certificate")));
    } else {
        kw_outf(stdout, "  %-12s %s for [certificate \"%s\"]\n", "renewal",
                verdict,
                json_string_value(json_object_get(rn, "certificate")));
    }
}

/* A managed DKIM domain's rotation, as `show DOMAIN` and the domain's
 * selectors show it. */
static void print_rotation(const kw_dkim_rot_view *v, const char *indent)
{
    char next[32], since[32];

    kw_rot_time(v->h.next_rotation, next, sizeof(next));
    if (v->found) {
        kw_rot_time(v->rot.since, since, sizeof(since));
        kw_outf(stdout, "%s%-12s selector %s %s since %s%s%s\n", indent,
                "rotation", v->rot.selector, v->rot.stage, since,
                v->rot.old_selector[0] ? ", replaces " : "",
                v->rot.old_selector);
    } else {
        kw_outf(stdout, "%s%-12s none yet\n", indent, "rotation");
    }
    kw_outf(stdout, "%s%-12s %s%s%s\n", indent, "health",
            ks_health_word((ks_health)v->h.health),
            v->h.reason[0] ? ": " : "", v->h.reason);
    if (v->h.fix[0] != '\0')
        kw_outf(stdout, "%s%-12s %s\n", indent, "fix", v->h.fix);
    kw_outf(stdout, "%s%-12s %s\n", indent, "next", next);
}

static void print_time(const char *label, int64_t t, int64_t now)
{
    char buf[32], left[32];

    kw_time_rfc3339(t, buf, sizeof(buf));
    kw_duration_format(kw_time_diff(t, now), left, sizeof(left));
    kw_outf(stdout, "  %-12s %s (%s%s)\n", label, buf, t >= now ? "in " : "",
                    t >= now ? left : "passed");
}

static void print_names(const char *sans_json)
{
    json_error_t err;
    json_t *a = json_loads(sans_json != NULL ? sans_json : "[]", 0, &err);
    size_t i;

    kw_outf(stdout, "  %-12s ", "names");
    if (a == NULL || json_array_size(a) == 0)
        kw_outf(stdout, "(none)");
    for (i = 0; a != NULL && i < json_array_size(a); i++) {
        const char *s = json_string_value(json_array_get(a, i));
        char *u = kw_display_name(s != NULL ? s : "");

        if (u != NULL && s != NULL && strcmp(u, s) != 0)
            kw_outf(stdout, "%s%s (%s)", i ? ", " : "", u, s);
        else
            kw_outf(stdout, "%s%s", i ? ", " : "", s != NULL ? s : "");
        free(u);
    }
    putchar('\n');
    json_decref(a);
}

static int print_link(void *ctx, const char *path)
{
    (void)ctx;
    kw_outf(stdout, "  %-12s %s\n", "also at", path);
    return 0;
}

static int print_usage(void *ctx, const ks_usage_row *u)
{
    (void)ctx;
    kw_outf(stdout, "  %-12s %s (%s line %d, %s)\n", "used by", u->daemon,
            u->config, u->line, u->directive);
    return 0;
}

static int json_usage(void *ctx, const ks_usage_row *u)
{
    return kw_json_append(ctx,
                          json_pack("{s:o, s:o, s:i, s:o}", "daemon",
                                    kw_json_str(u->daemon), "config",
                                    kw_json_path(u->config), "line", u->line,
                                    "directive", kw_json_str(u->directive)));
}

static int print_element(void *ctx, const ks_element *e)
{
    char na[32];
    const int64_t *now = ctx;

    kw_time_rfc3339(e->not_after, na, sizeof(na));
    kw_outf(stdout, "    [%d] %s\n", e->position,
            e->subject ? e->subject : "");
    kw_outf(stdout, "        issuer %s\n", e->issuer ? e->issuer : "");
    kw_outf(stdout, "        expires %s%s, %s %d%s%s\n", na,
            e->not_after <= *now ? " (EXPIRED)" : "",
            e->key_type ? e->key_type : "?", e->key_bits,
            e->is_ca ? ", CA" : "", e->self_signed ? ", self-signed" : "");
    kw_outf(stdout, "        sha256 %s\n",
            e->fingerprint ? e->fingerprint : "");
    return 0;
}

static int print_event(void *ctx, const ks_event *e)
{
    char at[32];

    (void)ctx;
    kw_time_rfc3339(e->at, at, sizeof(at));
    kw_outf(stdout, "    %s  %-18s %s\n", at, e->type, e->detail);
    return 0;
}

static int json_element(void *ctx, const ks_element *e)
{
    json_t *arr = ctx;
    char nb[32], na[32];
    json_error_t err;
    json_t *sans = json_loads(e->sans_json ? e->sans_json : "[]", 0, &err);

    kw_time_rfc3339(e->not_before, nb, sizeof(nb));
    kw_time_rfc3339(e->not_after, na, sizeof(na));
    return kw_json_append(
        arr, json_pack("{s:i, s:o, s:o, s:o, s:s, s:s, s:o, s:o, s:i, "
                       "s:b, s:b, s:o}",
                       "position", e->position, "subject",
                       kw_json_str(e->subject), "issuer",
                       kw_json_str(e->issuer), "serial",
                       kw_json_str(e->serial), "not_before", nb,
                       "not_after", na, "fingerprint_sha256",
                       kw_json_str(e->fingerprint), "key_type",
                       kw_json_str(e->key_type), "key_bits", e->key_bits,
                       "is_ca", e->is_ca, "self_signed", e->self_signed,
                       "sans", sans != NULL ? sans : json_array()));
}

static int json_event(void *ctx, const ks_event *e)
{
    json_t *arr = ctx;
    char at[32];
    json_error_t err;
    json_t *detail = json_loads(e->detail ? e->detail : "{}", 0, &err);

    kw_time_rfc3339(e->at, at, sizeof(at));
    return kw_json_append(arr, json_pack("{s:I, s:s, s:o, s:o}", "id",
                                         (json_int_t)e->id, "at", at, "type",
                                         kw_json_str(e->type), "detail",
                                         detail ? detail : json_object()));
}

static int json_link(void *ctx, const char *path)
{
    return kw_json_append(ctx, kw_json_path(path));
}

/* The files that hold this object's leaf (the one line `list` shows for
 * them), as paths in kw_json_path's form. */
static int json_file(void *ctx, const ks_object *m)
{
    return kw_json_append(ctx, kw_json_path(m->source));
}

static json_t *leaf_files(show_ctx *sc, const ks_object *o)
{
    json_t *files = json_array();
    kw_diag d;

    if (files != NULL &&
        ks_inventory_same_leaf(sc->s, o->id, 1, json_file, files, &d) != 0) {
        kw_err("%s", d.msg);
        sc->failed = 1;
    }
    return files;
}

/* A DNSSEC zone's or key's facts: the signer and what names it, a key's
 * algorithm, stage and timing, the latest check's summary (what it found
 * is in the findings below, each with its record, server and fix). */
static void print_dnssec(const ks_tls_facts *f, int64_t now)
{
    char stage[32], next[64], ab[16];

    kw_outf(stdout, "  %-12s %s, signer %s (%s)\n", "zone",
            f->dnssec_zone ? f->dnssec_zone : "?",
            f->dnssec_signer && f->dnssec_signer[0] ? f->dnssec_signer
                                                    : "none: watched only",
            f->dnssec_source ? f->dnssec_source : "?");
    kw_dnssec_stage_text(f, now, stage, sizeof(stage), next, sizeof(next));
    if (f->is_dnssec == 2) {
        const ks_dnssec_timing *t = &f->dnssec_timing;

        kw_outf(stdout, "  %-12s %s, tag %u, algorithm %d (%s), %d bits, "
                "flags %d\n", "key", f->dnssec_role ? f->dnssec_role : "?",
                f->dnssec_tag, f->dnssec_alg,
                ks_dnssec_alg_word(f->dnssec_alg, ab), f->dnssec_bits,
                f->dnssec_flags);
        kw_outf(stdout, "  %-12s %s; next: %s\n", "stage", stage, next);
        if (f->dnssec_created > 0)
            print_time("created", f->dnssec_created, now);
        if (t->publish > 0)
            print_time("publish", t->publish, now);
        if (t->activate > 0)
            print_time("activate", t->activate, now);
        if (t->sync_publish > 0 && t->sync_publish != KS_DNSSEC_PENDING)
            print_time("ds publish", t->sync_publish, now);
        if (t->inactive > 0)
            print_time("retire", t->inactive, now);
        if (f->dnssec_sync_delete > 0)
            print_time("ds remove", f->dnssec_sync_delete, now);
        if (t->delete_ > 0)
            print_time("remove", t->delete_, now);
        if (f->dnssec_ds_missing_since > 0)
            print_time("no DS since", f->dnssec_ds_missing_since, now);
        kw_outf(stdout, "  %-12s %s\n", "dnskey",
                f->dnssec_dnskey ? f->dnssec_dnskey : "?");
    }
    if (f->dnssec_checked_at == 0) {
        kw_outf(stdout, "  %-12s never\n", "checked");
    } else {
        char at[32];

        kw_time_rfc3339(f->dnssec_checked_at, at, sizeof(at));
        kw_outf(stdout, "  %-12s %s: %s, %s%s%s\n", "checked", at,
                f->dnssec_signed ? "signed" : "not signed",
                f->dnssec_has_ds ? "DS at the parent" : "no DS at the parent",
                f->is_dnssec == 1 ? "; " : "", f->is_dnssec == 1 ? next : "");
    }
}

static int show_one(void *ctx, const ks_object *o)
{
    show_ctx *sc = ctx;
    const ks_tls_facts *f = &o->facts;
    ks_verdict v;
    kw_diag d;
    char *name;
    size_t i, reason_len;
    int64_t now = sc->cli->now;

    ks_health_tls(f, now, &sc->t, &v);
    kw_hook_overlay_apply(&sc->ov, o->id, &v);
    if (sc->json) {
        json_t *js = kw_object_json(o, now, &sc->t, &v);
        json_t *el = json_array(), *ev = json_array(), *ln = json_array(),
               *us = json_array();

        if (ks_inventory_elements(sc->s, o->id, json_element, el, &d) != 0 ||
            ks_inventory_events(sc->s, o->id, 50, json_event, ev, &d) != 0 ||
            ks_inventory_links(sc->s, o->id, json_link, ln, &d) != 0 ||
            ks_inventory_usages(sc->s, o->id, json_usage, us, &d) != 0) {
            kw_err("%s", d.msg);
            sc->failed = 1;
        }
        if (js != NULL && kw_renewal_attach(&sc->rn, o, now, js) != 0) {
            json_decref(js);
            js = NULL;
        }
        if (js == NULL) {
            kw_err("show: object %lld (%s) could not be written as JSON "
                   "(out of memory)",
                   (long long)o->id, o->source);
            sc->failed = 1;
            json_decref(el);
            json_decref(ev);
            json_decref(ln);
            json_decref(us);
            return 0;
        }
        json_object_set_new(js, "chain", el);
        {
            char at[32];
            kw_time_rfc3339(o->created_at, at, sizeof(at));
            json_object_set_new(js, "first_seen", json_string(at));
        }
        json_object_set_new(js, "history", ev);
        json_object_set_new(js, "links", ln);
        json_object_set_new(js, "used_by", us);
        json_object_set_new(js, "files", leaf_files(sc, o));
        if (f->is_dkim &&
            kw_cli_rots_find(&sc->rots, f->dkim_domain) != NULL)
            json_object_set_new(js, "rotation",
                                kw_rotation_json(kw_cli_rots_find(
                                    &sc->rots, f->dkim_domain)));
        json_array_append_new(sc->arr, js);
        return 0;
    }

    name = kw_display_name(o->name);
    kw_outf(stdout, "object %lld: %s", (long long)o->id,
            name ? name : o->name);
    if (name != NULL && strcmp(name, o->name) != 0)
        kw_outf(stdout, " (%s)", o->name);
    kw_outf(stdout, "\n");
    free(name);
    kw_outf(stdout, "  %-12s %s\n", "kind", o->kind);
    /* The reason is the worst finding's text; when that text carries its
     * fix, the finding below says it, so the health line stops before. */
    reason_len = strlen(v.reason);
    for (i = 0; i < v.nfindings; i++)
        if (v.findings[i].fix_in_text &&
            strcmp(v.findings[i].text, v.reason) == 0 &&
            reason_len >= strlen(v.findings[i].fix) + 2) {
            reason_len -= strlen(v.findings[i].fix) + 2;
            break;
        }
    kw_outf(stdout, "  %-12s %s%s%.*s\n", "health", ks_health_word(v.health),
            v.reason[0] ? ": " : "", (int)reason_len, v.reason);
    kw_outf(stdout, "  %-12s %s", "source", o->source);
    if (o->position > 0)
        kw_outf(stdout, " (certificate %d in the bundle)", o->position + 1);
    kw_outf(stdout, "\n");
    {
        json_t *files = leaf_files(sc, o);
        size_t k;

        for (k = 0; json_array_size(files) > 1 && k < json_array_size(files);
             k++) {
            char *p = kw_json_path_bytes(json_array_get(files, k));

            kw_outf(stdout, "  %-12s %s\n", k == 0 ? "files" : "",
                    p != NULL ? p : "?");
            free(p);
        }
        json_decref(files);
    }
    if (ks_inventory_links(sc->s, o->id, print_link, NULL, &d) != 0 ||
        ks_inventory_usages(sc->s, o->id, print_usage, NULL, &d) != 0) {
        kw_err("%s", d.msg);
        sc->failed = 1;
    }
    kw_outf(stdout, "  %-12s %s\n", "state", f->state);
    if (f->is_endpoint) {
        char at[32];

        kw_time_rfc3339(f->probed_at, at, sizeof(at));
        kw_outf(stdout, "  %-12s %s:%d, last probed %s: %s%s%s\n", "endpoint",
                f->endpoint_host ? f->endpoint_host : "?", f->endpoint_port,
                at, f->probe_ok > 0 ? "ok, " : "FAILED: ",
                f->probe_ok > 0 ? (f->tls_version ? f->tls_version : "")
                                : (f->probe_error ? f->probe_error : ""),
                f->probe_ok > 0 && f->name_matches == 0 ? ", name NOT covered"
                                                        : "");
        if (f->stale_source != NULL)
            kw_outf(stdout, "  %-12s %s holds a newer certificate\n", "stale",
                    f->stale_source);
        /* The DANE check's ok finding says the host publishes no TLSA
         * (DANE is opt-in), which is no finding to list below. */
        for (i = 0; i < f->check_nfound; i++)
            if (f->check_found[i].health == KS_HEALTH_OK &&
                f->check_found[i].checker != NULL &&
                strcmp(f->check_found[i].checker, "dane") == 0)
                kw_outf(stdout, "  %-12s no DANE: %s\n", "dane",
                        f->check_found[i].text ? f->check_found[i].text
                                               : "");
    }
    if (f->error != NULL)
        kw_outf(stdout, "  %-12s %s\n", "error", f->error);
    if (f->is_dnssec)
        print_dnssec(f, now);
    if (f->is_dkim) {
        char first[32];

        kw_time_rfc3339(f->dkim_first_seen, first, sizeof(first));
        kw_outf(stdout, "  %-12s %s, selector %s\n", "domain",
                f->dkim_domain ? f->dkim_domain : "?",
                f->dkim_selector ? f->dkim_selector : "?");
        kw_outf(stdout, "  %-12s %s, by %s (%s)\n", "role",
                f->dkim_role ? f->dkim_role : "?",
                f->dkim_signer ? f->dkim_signer : "?",
                f->dkim_source ? f->dkim_source : "?");
        if (f->dkim_alg != NULL)
            kw_outf(stdout, "  %-12s %s %d bits, file mode %04o%s%s\n",
                    "key", f->dkim_alg, f->dkim_bits, f->key_mode & 07777,
                    f->dkim_user ? ", read by " : "",
                    f->dkim_user ? f->dkim_user : "");
        kw_outf(stdout, "  %-12s %s\n", "first seen", first);
        if (kw_cli_rots_find(&sc->rots, f->dkim_domain) != NULL)
            print_rotation(kw_cli_rots_find(&sc->rots, f->dkim_domain),
                           "  ");
        if (f->dkim_record != NULL) {
            size_t off, len = strlen(f->dkim_record);

            /* As a zone file takes it: character strings of at most 255
             * bytes, which DNS concatenates. */
            kw_outf(stdout, "  %-12s %s._domainkey.%s TXT", "publish",
                    f->dkim_selector ? f->dkim_selector : "?",
                    f->dkim_domain ? f->dkim_domain : "?");
            for (off = 0; off < len; off += 255)
                kw_outf(stdout, " \"%.255s\"", f->dkim_record + off);
            kw_outf(stdout, "\n");
        }
    }
    if (f->has_validity) {
        kw_outf(stdout, "  %-12s %s\n", "subject",
                o->subject ? o->subject : "");
        kw_outf(stdout, "  %-12s %s\n", "issuer", o->issuer ? o->issuer : "");
        kw_outf(stdout, "  %-12s %s\n", "serial", o->serial ? o->serial : "");
        print_names(o->sans_json);
        print_time("not before", f->not_before, now);
        print_time("not after", f->not_after, now);
        if (f->deadline != f->not_after)
            print_time("deadline", f->deadline, now);
        {
            json_t *rn = kw_renewal_json(&sc->rn, o, now);

            if (rn != NULL)
                print_renewal(rn, now);
            json_decref(rn);
        }
        kw_outf(stdout, "  %-12s %s %d bits%s\n", "key",
                o->key_type ? o->key_type : "?", o->key_bits,
                o->self_signed ? ", self-signed" : "");
        if (f->is_endpoint) {
            /* A served certificate: its key is the server's business. */
        } else if (f->key_state != NULL)
            kw_outf(stdout, "  %-12s %s: %s (mode %04o)\n", "private key",
                    f->key_path ? f->key_path : "(same file)", f->key_state,
                    f->key_mode & 07777);
        else
            kw_outf(stdout, "  %-12s none found next to it\n", "private key");
        kw_outf(stdout, "  %-12s %s\n", "sha256",
                o->fingerprint ? o->fingerprint : "");
        if (f->superseded_by > 0)
            kw_outf(stdout, "  %-12s by object %lld\n", "superseded",
                    (long long)f->superseded_by);
        if (o->chain_len > 1) {
            ks_element leaf;

            kw_outf(stdout, "  %-12s %d certificates%s:\n", "chain",
                    o->chain_len,
                    f->arrangement && strcmp(f->arrangement, "unordered") == 0
                        ? " (out of order in the file; shown leaf first)"
                        : ", leaf first");
            /* The leaf's facts are the object's own. */
            memset(&leaf, 0, sizeof(leaf));
            leaf.subject = o->subject;
            leaf.issuer = o->issuer;
            leaf.fingerprint = o->fingerprint;
            leaf.key_type = o->key_type;
            leaf.key_bits = o->key_bits;
            leaf.is_ca = f->is_ca;
            leaf.self_signed = o->self_signed;
            leaf.not_before = f->not_before;
            leaf.not_after = f->not_after;
            print_element(&now, &leaf);
            if (ks_inventory_elements(sc->s, o->id, print_element, &now,
                                      &d) != 0) {
                kw_err("%s", d.msg);
                sc->failed = 1;
            }
        }
    }
    if (v.nfindings > 0) {
        kw_outf(stdout, "  findings\n");
        for (i = 0; i < v.nfindings; i++) {
            kw_outf(stdout, "    %-8s  %s\n",
                    ks_health_word(v.findings[i].health), v.findings[i].text);
            if (v.findings[i].fix[0] != '\0' && !v.findings[i].fix_in_text)
                kw_outf(stdout, "    %-8s  fix: %s\n", "", v.findings[i].fix);
        }
    }
    kw_outf(stdout, "  history\n");
    {
        char at[32];
        kw_time_rfc3339(o->created_at, at, sizeof(at));
        kw_outf(stdout, "    %s  %-18s %s\n", at, "first seen", o->source);
    }
    if (ks_inventory_events(sc->s, o->id, 20, print_event, NULL, &d) != 0) {
        kw_err("%s", d.msg);
        sc->failed = 1;
    }
    kw_outf(stdout, "\n");
    return 0;
}

int cli_show(kw_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"warn", required_argument, NULL, 'w'},
        {"crit", required_argument, NULL, 'c'},
        {"state-dir", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    show_ctx sc;
    ks_store *s = NULL;
    kw_diag d;
    int c, r, i, status = KW_EXIT_OK;

    memset(&sc, 0, sizeof(sc));
    ks_thresholds_default(&sc.t);
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            sc.json = 1;
            break;
        default:
            r = kw_cli_shared_opt(cli, c, optarg, &sc.t, show_usage,
                                  KW_EXIT_USAGE);
            if (r != KW_CLI_NEXT)
                return r == KW_CLI_NOT_SHARED ? KW_EXIT_USAGE : r;
            break;
        }
    }
    if (optind >= argc) {
        kw_err("show: which object?  Give an id or a name from "
               "`keywarden list`");
        return KW_EXIT_USAGE;
    }
    if (kw_cli_open_existing(cli, &s) != 0)
        return KW_EXIT_FAIL;
    sc.cli = cli;
    sc.s = s;
    sc.arr = json_array();
    if (kw_hook_overlay_load(s, &sc.ov, &d) != 0) {
        kw_err("%s", d.msg);
        status = KW_EXIT_FAIL;
    }
    if (kw_cli_rots_load(cli, s, &sc.rots) != 0)
        kw_warn("show: %s", sc.rots.err);
    if (kw_renewals_load(s, &sc.rn, &d) != 0) {
        kw_err("%s", d.msg);
        status = KW_EXIT_FAIL;
    }
    for (i = optind; i < argc; i++) {
        const kw_dkim_rot_view *rv = kw_cli_rots_find(&sc.rots, argv[i]);
        int64_t *ids = NULL;
        size_t n = 0, k, t;

        /* Every track of the domain (a dual section has two). */
        for (t = 0; rv != NULL && t < sc.rots.n; t++) {
            const kw_dkim_rot_view *tv = &sc.rots.v[t];
            char label[300];

            if (strcasecmp(tv->p->domain, argv[i]) != 0)
                continue;
            if (sc.json) {
                json_array_append_new(sc.arr, kw_rotation_json(tv));
                continue;
            }
            kw_outf(stdout, "DKIM domain %s ([dkim \"%s\"], line %d)\n",
                    kw_dkim_rot_label(tv->p, label, sizeof(label)),
                    tv->p->domain, tv->p->line);
            print_rotation(tv, "  ");
        }
        r = ks_inventory_resolve(s, argv[i], &ids, &n, &d);
        /* A managed domain is no object's name: shown above. */
        if (r != 0 && rv != NULL)
            continue;
        if (r != 0) {
            kw_err("%s", d.msg);
            status = KW_EXIT_FAIL;
            continue;
        }
        for (k = 0; k < n; k++) {
            ks_filter f;

            memset(&f, 0, sizeof(f));
            f.id = ids[k];
            f.include_hidden = 1;
            if (ks_inventory_each(s, &f, show_one, &sc, &d) != 0) {
                kw_err("%s", d.msg);
                status = KW_EXIT_FAIL;
            }
        }
        free(ids);
    }
    if (sc.json) {
        char *text = json_dumps(sc.arr, JSON_INDENT(2));
        if (text != NULL)
            puts(text);
        free(text);
    }
    json_decref(sc.arr);
    kw_hook_overlay_free(&sc.ov);
    kw_cli_rots_free(&sc.rots);
    kw_renewals_free(&sc.rn);
    ks_close(s);
    return sc.failed ? KW_EXIT_FAIL : status;
}

static void forget_usage(FILE *out)
{
    fputs("Usage: keywarden forget ID...\n"
          "\n"
          "Remove objects from the inventory, typically ones whose file is "
          "gone for\n"
          "good (health: missing).  Their history stays.  A later scan "
          "that finds\n"
          "the file again adds it back.\n",
          out);
}

int cli_forget(kw_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"state-dir", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    ks_store *s = NULL;
    kw_diag d;
    int c, i, r, status = KW_EXIT_OK, lock_fd = -1;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        r = kw_cli_shared_opt(cli, c, optarg, NULL, forget_usage,
                              KW_EXIT_USAGE);
        if (r != KW_CLI_NEXT)
            return r == KW_CLI_NOT_SHARED ? KW_EXIT_USAGE : r;
    }
    if (optind >= argc) {
        forget_usage(stderr);
        return KW_EXIT_USAGE;
    }
    for (i = optind; i < argc; i++) {
        char *end;
        long long id = strtoll(argv[i], &end, 10);
        if (*end != '\0' || id <= 0) {
            kw_err("forget %s: expected a numeric id from `keywarden list`",
                   argv[i]);
            return KW_EXIT_USAGE;
        }
    }
    /* A running daemon owns the inventory's writes. */
    {
        json_t *req = json_pack("{s:s, s:[]}", "cmd", "forget", "ids"),
               *reply = NULL;

        for (i = optind; req != NULL && i < argc; i++)
            json_array_append_new(json_object_get(req, "ids"),
                                  json_integer(strtoll(argv[i], NULL, 10)));
        r = req != NULL ? kw_cli_call_daemon(cli, req, 30000, &reply, &d)
                        : KW_ENOMEM;
        json_decref(req);
        if (r == 0) {
            int ok = json_is_true(json_object_get(reply, "ok"));
            if (ok)
                kw_outf(stdout,
                        "forgot %d object%s (through the running daemon)\n",
                        argc - optind, argc - optind == 1 ? "" : "s");
            else
                kw_err("forget: %s",
                       json_string_value(json_object_get(reply, "error")));
            json_decref(reply);
            return ok ? KW_EXIT_OK : KW_EXIT_FAIL;
        }
    }
    if (kw_cli_open_existing(cli, &s) != 0)
        return KW_EXIT_FAIL;
    if (kw_state_lock(cli, "forget", &lock_fd, &d) != 0) {
        kw_err("forget: %s", d.msg);
        ks_close(s);
        return KW_EXIT_FAIL;
    }
    for (i = optind; i < argc; i++) {
        long long id = strtoll(argv[i], NULL, 10);
        if (ks_inventory_forget(s, id, cli->now, &d) != 0) {
            kw_err("forget %lld: %s", id, d.msg);
            status = KW_EXIT_FAIL;
        } else {
            kw_outf(stdout, "forgot object %lld\n", id);
        }
    }
    ks_close(s);
    close(lock_fd);
    return status;
}
