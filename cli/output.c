/*
 * output.c: what list, show and check share: names for people, objects as
 * JSON (the documented, stable format of `list --json`).
 */
#include "cli.h"

#include "../common/kw_log.h"
#include "../common/kw_time.h"

#include <idn2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longer than any DNS name: shown as it is, not converted. */
#define KW_DISPLAY_NAME_MAX 1024

char *kw_display_name(const char *name)
{
    char *u = NULL, *out;
    size_t skip = 0;

    if (name == NULL)
        return strdup("");
    if (strcasestr(name, "xn--") == NULL ||
        strlen(name) > KW_DISPLAY_NAME_MAX)
        return strdup(name);
    /* A wildcard's "*." is not a label IDNA accepts; convert the rest.
     * (A certificate may carry "*.*.*..." in a SAN: a loop, not
     * recursion, so no name can exhaust the stack.) */
    while (strncmp(name + skip, "*.", 2) == 0)
        skip += 2;
    if (idn2_to_unicode_8z8z(name + skip, &u, 0) != IDN2_OK || u == NULL) {
        free(u);
        return strdup(name); /* not valid IDNA: show it as it is */
    }
    if (skip == 0)
        return u;
    out = malloc(skip + strlen(u) + 1);
    if (out != NULL) {
        memcpy(out, name, skip);
        strcpy(out + skip, u);
    }
    free(u);
    return out;
}

static json_t *time_or_null(int has, int64_t t)
{
    char buf[32];

    if (!has)
        return json_null();
    kw_time_rfc3339(t, buf, sizeof(buf));
    return json_string(buf);
}

json_t *kw_object_json(const ks_object *o, int64_t now,
                       const ks_thresholds *t, const ks_verdict *v)
{
    const ks_tls_facts *f = &o->facts;
    json_t *obj, *sans, *uni, *findings;
    json_error_t err;
    char *dn;
    size_t i;

    (void)t;
    sans = json_loads(o->sans_json != NULL ? o->sans_json : "[]", 0, &err);
    if (sans == NULL || !json_is_array(sans)) {
        json_decref(sans);
        sans = json_array();
    }
    uni = json_array();
    for (i = 0; i < json_array_size(sans); i++) {
        const char *s = json_string_value(json_array_get(sans, i));
        char *u = kw_display_name(s != NULL ? s : "");
        json_array_append_new(uni, kw_json_str(u != NULL ? u : ""));
        free(u);
    }
    findings = json_array();
    for (i = 0; i < v->nfindings; i++)
        json_array_append_new(
            findings,
            json_pack("{s:s, s:o, s:o}", "health",
                      ks_health_word(v->findings[i].health), "text",
                      kw_json_str(v->findings[i].text), "fix",
                      kw_json_str(v->findings[i].fix)));
    dn = kw_display_name(o->name);
    obj = json_pack(
        "{s:I, s:s, s:o, s:o, s:o, s:i, s:o, s:o, s:o, s:o, s:s, s:o, s:o,"
        " s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:i, s:s, s:o, s:b}",
        "id", (json_int_t)o->id, "kind", o->kind, "name",
        kw_json_path(o->name), "name_unicode",
        kw_json_str(dn != NULL ? dn : o->name), "source",
        kw_json_path(o->source),
        "position", o->position, "not_before",
        time_or_null(f->has_validity, f->not_before), "not_after",
        time_or_null(f->has_validity, f->not_after), "deadline",
        time_or_null(f->has_validity, f->deadline), "days_left",
        f->has_validity ? json_integer(kw_days_left(f->deadline, now))
                        : json_null(),
        "health", ks_health_word(v->health), "reason",
        kw_json_str(v->reason), "fingerprint_sha256",
        kw_json_str(o->fingerprint), "sans", sans, "sans_unicode", uni,
        "subject", kw_json_str(o->subject), "issuer", kw_json_str(o->issuer),
        "serial", kw_json_str(o->serial), "key_type",
        kw_json_str(o->key_type), "key_bits",
        o->key_bits > 0 ? json_integer(o->key_bits) : json_null(),
        "chain_len", o->chain_len, "state", f->state ? f->state : "",
        "findings", findings,
        "superseded", f->superseded_by > 0);
    if (obj != NULL)
        json_object_set_new(obj, "idle_trust_anchor",
                            json_boolean(f->idle_anchor));
    if (obj != NULL && f->is_dkim) {
        char first[32];

        kw_time_rfc3339(f->dkim_first_seen, first, sizeof(first));
        json_object_set_new(
            obj, "dkim",
            json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:I, "
                      "s:o}",
                      "domain", kw_json_str(f->dkim_domain), "selector",
                      kw_json_str(f->dkim_selector), "role",
                      kw_json_str(f->dkim_role), "signer",
                      kw_json_str(f->dkim_signer), "signer_user",
                      kw_json_str(f->dkim_user), "named_by",
                      kw_json_str(f->dkim_source), "algorithm",
                      kw_json_str(f->dkim_alg), "key_mode",
                      f->key_mode >= 0 ? json_integer(f->key_mode)
                                       : json_null(),
                      "first_seen", first, "age_days",
                      (json_int_t)(f->dkim_key_time > 0
                                       ? kw_time_diff(now, f->dkim_key_time) /
                                             KW_DAY
                                       : 0),
                      "record", kw_json_str(f->dkim_record)));
    }
    if (obj != NULL && f->is_endpoint) {
        char at[32];

        kw_time_rfc3339(f->probed_at, at, sizeof(at));
        json_object_set_new(
            obj, "endpoint",
            json_pack("{s:o, s:i, s:o, s:s?, s:o, s:s?, s:o, s:o}",
                      "host", kw_json_str(f->endpoint_host), "port",
                      f->endpoint_port,
                      "probe_ok",
                      f->probe_ok < 0 ? json_null()
                                      : json_boolean(f->probe_ok),
                      "probed_at", f->probed_at > 0 ? at : NULL, "error",
                      kw_json_str(f->probe_error), "tls_version",
                      f->tls_version,
                      "name_matches",
                      f->name_matches < 0 ? json_null()
                                          : json_boolean(f->name_matches),
                      "stale_source", kw_json_path(f->stale_source)));
    }
    free(dn);
    if (obj != NULL && f->key_state != NULL) {
        char mode[8];

        snprintf(mode, sizeof(mode), "%04o", f->key_mode & 07777);
        json_object_set_new(obj, "private_key",
                            json_pack("{s:s, s:o, s:s}", "state",
                                      f->key_state, "path",
                                      kw_json_path(f->key_path),
                                      "mode", mode));
    }
    return obj;
}

void kw_print_empty_hint(FILE *out, const kw_cli *cli)
{
    kw_outf(out,
            "The inventory at %s is empty.\n"
            "Add certificates with `keywarden scan PATH...`, for example:\n"
            "  keywarden scan /etc/ssl /etc/letsencrypt\n",
            cli->db_path);
}

int kw_parse_duration_opt(const char *opt, const char *value, int64_t *out)
{
    const char *why = NULL;

    if (kw_duration_parse(value, out, &why) != 0) {
        kw_err("%s %s: %s", opt, value, why);
        return KW_EUSAGE;
    }
    return 0;
}
