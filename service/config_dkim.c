/*
 * config_dkim.c: [dkim] and [dkim "DOMAIN"] in keywarden.conf: the
 * signers' files, the watched keys, and a managed domain's rotation keys
 * (dkim_rotate.h), translated into dkim/'s own kw_dkim_params.  The
 * reader's state and helpers are config_int.h's.
 */
#include "config_int.h"

#include "../common/kw_time.h"
#include "../common/kw_vec.h"
#include "../dkim/dkim_rotate.h"
#include "../dkim/dkim_signer.h"
#include "../dns/dns_update.h"
#include "../keystore/ks_keygen.h"

#include <arpa/inet.h>
#include <grp.h>
#include <pwd.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* A host name as DNS has it: LDH labels (underscores allowed), dots. */
int kw_config_dns_name_ok(const char *v, size_t max)
{
    size_t n = strlen(v);

    return n > 0 && n <= max && v[0] != '.' && v[0] != '-' &&
           strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                     "0123456789.-_") == n &&
           strstr(v, "..") == NULL;
}

/* A copy of tok appended to the NULL-terminated *out of *n entries. */
static int argv_push(char ***out, size_t *n, const char *tok)
{
    char **nv = realloc(*out, (*n + 2) * sizeof(*nv));

    if (nv == NULL)
        return KW_ENOMEM;
    *out = nv;
    nv[*n + 1] = NULL;
    if ((nv[*n] = strdup(tok)) == NULL)
        return KW_ENOMEM;
    (*n)++;
    return 0;
}

/* PROG [ARG...] split on blanks (no shell, no quoting) into a
 * NULL-terminated argv; PROG must be an absolute path to a program. */
static int split_argv(parser *p, const char *key, const char *v,
                      char ***out)
{
    char buf[KW_CONFIG_MAX_LINE + 1], *tok, *save = NULL;
    size_t n = 0;

    snprintf(buf, sizeof(buf), "%s", v);
    for (tok = strtok_r(buf, " \t", &save); tok != NULL;
         tok = strtok_r(NULL, " \t", &save)) {

        if (n == 0 && (tok[0] != '/' || access(tok, X_OK) != 0))
            return FAIL(p, "%s = %s: expected the absolute path of an "
                           "executable program, then its arguments",
                        key, v);
        if (n >= 32)
            return FAIL(p, "%s: more than 32 arguments", key);
        if (argv_push(out, &n, tok) != 0)
            return KW_ENOMEM;
    }
    if (n == 0)
        return FAIL(p, "%s: expected a program", key);
    return 0;
}

/* KEY = ADDR[:PORT] ...: DNS servers separated by blanks or commas, a
 * NULL-terminated list in *out (*nout entries; nout may be NULL).
 * [dkim "DOMAIN"] dns_check and [zone "NAME"] servers. */
int kw_config_server_list(parser *p, const char *key, const char *v,
                          char ***out, size_t *nout)
{
    char buf[KW_CONFIG_MAX_LINE + 1], *tok, *save = NULL;
    size_t n = 0;

    snprintf(buf, sizeof(buf), "%s", v);
    for (tok = strtok_r(buf, ", \t", &save); tok != NULL;
         tok = strtok_r(NULL, ", \t", &save)) {
        kw_dns_server srv;
        kw_diag why;

        if (kw_dns_server_parse(tok, 53, &srv, &why) != 0)
            return FAIL(p, "%s: %s: expected an IP address with an "
                           "optional port (192.0.2.1, 192.0.2.1:5353, "
                           "[2001:db8::1]:53)",
                        key, tok);
        if (n >= KW_DNS_SERVERS_MAX)
            return FAIL(p, "%s: more than %d servers", key,
                        KW_DNS_SERVERS_MAX);
        if (argv_push(out, &n, tok) != 0)
            return KW_ENOMEM;
        if (nout != NULL)
            *nout = n;
    }
    if (n == 0)
        return FAIL(p, "%s: expected one or more ADDR[:PORT]", key);
    return 0;
}

/* A managed [dkim "DOMAIN"]'s keys (dkim_rotate.h), into its own
 * kw_dkim_rot_params, made when the first of them is seen. */
static int dkim_rot_key(parser *p, int k, const char *key, const char *v)
{
    kw_dkim_params *dk = &p->c->dkim;
    kw_dkim_rot_params *r = p->rot;

    if (r == NULL) {
        r = kw_vec_grow(dk->rot, &p->cap_rot, dk->nrot + 1, sizeof(*r));
        if (r == NULL)
            return KW_ENOMEM;
        dk->rot = r;
        r = &dk->rot[dk->nrot++];
        kw_dkim_rot_params_defaults(r);
        r->line = p->dk->line;
        if ((r->domain = strdup(p->dk->domain)) == NULL)
            return KW_ENOMEM;
        p->rot = r;
    }
    switch (k) {
    case 10:
        if (kw_config_duration(p, key, v, &r->rotate) != 0)
            return KW_EPARSE;
        if (r->rotate < KW_DAY)
            return FAIL(p, "rotate = %s: expected at least a day", v);
        return 0;
    case 11:
        if (v[0] != '/')
            return FAIL(p, "key_dir = %s: expected an absolute path", v);
        return kw_config_set_str(&r->key_dir, v);
    case 12: {
        struct group gr, *res = NULL;
        char buf[4096];

        if (getgrnam_r(v, &gr, buf, sizeof(buf), &res) != 0 || res == NULL)
            return FAIL(p, "group = %s: no such group on this machine", v);
        return kw_config_set_str(&r->group, v);
    }
    case 13:
        if (strcmp(v, "rsa2048") != 0 && strcmp(v, "rsa3072") != 0 &&
            strcmp(v, "ed25519") != 0 && strcmp(v, "rsa2048+ed25519") != 0 &&
            strcmp(v, "rsa3072+ed25519") != 0)
            return FAIL(p, "key_type = %s: expected rsa2048, rsa3072, "
                           "ed25519, or rsa2048+ed25519 or rsa3072+ed25519 "
                           "(two keys signing side by side)",
                        v);
        return kw_config_set_str(&r->key_type, v);
    case DKIM_KEY_OPENDKIM_ED25519:
        /* Held in the section's opendkim_conf until it ends: only the
         * Ed25519 track keeps it (kw_config_dkim_end). */
        if (v[0] != '/')
            return FAIL(p, "%s = %s: expected an absolute path", key, v);
        return kw_config_set_str(&r->opendkim_conf, v);
    case 14: {
        char *end;
        long ttl = strtol(v, &end, 10);

        if (*end != '\0' || end == v || ttl < 60 || ttl > 86400)
            return FAIL(p, "ttl = %s: expected seconds, 60 to 86400", v);
        r->ttl = (int)ttl;
        return 0;
    }
    case 15: return kw_config_duration(p, key, v, &r->drain);
    case 16:
        if (strcmp(v, "remove") != 0 && strcmp(v, "revoke") != 0)
            return FAIL(p, "retire = %s: expected remove or revoke", v);
        r->retire_revoke = strcmp(v, "revoke") == 0;
        return 0;
    case 17:
        if (strcmp(v, "archive") != 0 && strcmp(v, "delete") != 0)
            return FAIL(p, "old_key = %s: expected archive or delete", v);
        r->delete_old_key = strcmp(v, "delete") == 0;
        return 0;
    case 18:
        if (strcmp(v, "manual") == 0)
            r->publish = KW_DKIM_PUBLISH_MANUAL;
        else if (strcmp(v, "update") == 0)
            r->publish = KW_DKIM_PUBLISH_UPDATE;
        else
            return FAIL(p, "publish = %s: expected update (RFC 2136 to "
                           "dns_server) or manual",
                        v);
        return 0;
    case 19: case 20: case 21: case 22: case 23:
        return kw_config_dns_update_key(p, k - 19, key, v,
                              k == 19   ? &r->dns_server
                              : k == 20 ? &r->dns_zone
                              : k == 21 ? &r->tsig_key
                              : k == 22 ? &r->tsig_algorithm
                                        : &r->tsig_secret);
    case 24:
        if (split_argv(p, key, v, &r->dns_exec) != 0)
            return KW_EPARSE;
        r->publish = KW_DKIM_PUBLISH_EXEC;
        return 0;
    case 25:
        if (strcmp(v, "opendkim") == 0)
            r->signer = KW_DKIM_SIGNER_OPENDKIM;
        else if (strcmp(v, "rspamd") == 0)
            r->signer = KW_DKIM_SIGNER_RSPAMD;
        else if (strcmp(v, "exec") == 0)
            r->signer = KW_DKIM_SIGNER_EXEC;
        else
            return FAIL(p, "signer = %s: expected opendkim, rspamd or exec",
                        v);
        return 0;
    case 26: return split_argv(p, key, v, &r->signer_exec);
    case 29: return kw_config_server_list(p, "dns_check", v, &r->dns_check,
                                         NULL);
    case DKIM_KEY_ZONE:
        if (!kw_config_dns_name_ok(v, 200) || strchr(v, '.') == NULL)
            return FAIL(p, "zone = %s: expected the dedicated zone's name "
                           "(dkim.example.net)",
                        v);
        return kw_config_set_str(&r->zone, v);
    case DKIM_KEY_SLOTS: {
        char *end;
        long n = strtol(v, &end, 10);

        if (*end != '\0' || end == v || n < 2 || n > 8)
            return FAIL(p, "slots = %s: expected 2 to 8 (the fixed "
                           "selectors of a dedicated zone)",
                        v);
        r->slots = (int)n;
        return 0;
    }
    default: /* selector_map, path_map */
        if (v[0] != '/')
            return FAIL(p, "%s = %s: expected an absolute path", key, v);
        return kw_config_set_str(k == 27 ? &r->selector_map : &r->path_map, v);
    }
}

/*
 * With zone =, the selector template names fixed slots: it must hold %n
 * and nothing that changes with time (%Y %m %d %H would move the
 * selectors away from the CNAMEs published once), each slot's selector a
 * distinct DNS label and each CNAME target a name DNS allows.
 */
static int zone_template_check(parser *p, const char *domain,
                               const kw_dkim_rot_params *r, const char *tmpl)
{
    char owner[600], target[600], first[600];
    kw_diag why;
    int i;

    if (strstr(tmpl, "%n") == NULL)
        return FAIL(p, "[dkim \"%s\"]: selector = %s: with zone = the "
                       "selectors are fixed slots and the template must "
                       "hold %%n (the slot number), e.g. kw%%n",
                    domain, tmpl);
    for (i = 0; tmpl[i] != '\0'; i++)
        if (tmpl[i] == '%' && tmpl[i + 1] != 'n' && tmpl[i + 1] != '%')
            return FAIL(p, "[dkim \"%s\"]: selector = %s: with zone = "
                           "only %%n may be used (a date would move the "
                           "selectors away from their CNAMEs)",
                        domain, tmpl);
        else if (tmpl[i] == '%')
            i++;
    for (i = 1; i <= r->slots; i++) {
        kw_dkim_rot_params t = *r;

        t.selector = (char *)tmpl;
        t.domain = (char *)domain;
        if (kw_dkim_slot_cname(&t, i, owner, sizeof(owner), target,
                               sizeof(target), &why) != 0)
            return FAIL(p, "[dkim \"%s\"]: %s", domain, why.msg);
        if (i == 1)
            snprintf(first, sizeof(first), "%s", owner);
        else if (strcmp(first, owner) == 0)
            return FAIL(p, "[dkim \"%s\"]: selector = %s gives the same "
                           "selector to every slot",
                        domain, tmpl);
    }
    return 0;
}

/* tmpl with %a replaced by letter (%% and the other escapes kept), into
 * a malloc'd string; NULL when out of memory. */
static char *track_template(const char *tmpl, char letter)
{
    size_t n = strlen(tmpl), i, o = 0;
    char *out = malloc(n + 1);

    if (out == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        if (tmpl[i] == '%' && tmpl[i + 1] == 'a') {
            out[o++] = letter;
            i++;
        } else if (tmpl[i] == '%' && tmpl[i + 1] != '\0') {
            out[o++] = tmpl[i++];
            out[o++] = tmpl[i];
        } else {
            out[o++] = tmpl[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* Does tmpl use %a (not %%a)? */
static int has_track_letter(const char *tmpl)
{
    size_t i;

    for (i = 0; tmpl[i] != '\0'; i++)
        if (tmpl[i] == '%' && tmpl[i + 1] != '\0') {
            if (tmpl[i + 1] == 'a')
                return 1;
            i++;
        }
    return 0;
}

/*
 * key_type = rsa2048+ed25519 (or rsa3072+ed25519): two keys signing side
 * by side, each rotated on its own track (dkim_rotate.c, invariant 8).
 * The section becomes two kw_dkim_rot_params, the RSA track where r is
 * and the Ed25519 track appended, so every caller of the rotations sees
 * two managed sections and needs no case of its own.  Each track's
 * selector template has %a replaced by its letter (r, e): the two never
 * name the same record.
 */
static int dual_checks(parser *p, const char *domain, kw_dkim_rot_params *r,
                       const char *tmpl)
{
    if (r->zone != NULL)
        return FAIL(p, "[dkim \"%s\"]: key_type = %s with zone = is not "
                       "supported: a dedicated zone's slots hold one key "
                       "each; use key_type = rsa2048 or ed25519 there",
                    domain, r->key_type);
    if (!has_track_letter(tmpl))
        return FAIL(p, "[dkim \"%s\"]: selector = %s: with key_type = %s "
                       "the template must hold %%a (r for the RSA key, e "
                       "for the Ed25519 key), e.g. kw%%Y%%m%%a: the two "
                       "keys would otherwise take the same selector",
                    domain, tmpl, r->key_type);
    if (r->signer == KW_DKIM_SIGNER_RSPAMD)
        return FAIL(p, "[dkim \"%s\"]: key_type = %s with signer = rspamd "
                       "is not supported: rspamd's selector_map holds one "
                       "selector per domain, so it cannot name both keys; "
                       "use signer = exec, or a key_type of one algorithm",
                    domain, r->key_type);
    if (r->signer == KW_DKIM_SIGNER_OPENDKIM && r->opendkim_conf == NULL)
        return FAIL(p, "[dkim \"%s\"]: key_type = %s with signer = "
                       "opendkim needs opendkim_conf_ed25519: OpenDKIM signs "
                       "Ed25519 only with SignatureAlgorithm ed25519-sha256, "
                       "which applies to every key it has, so the Ed25519 "
                       "key needs an OpenDKIM instance of its own (name its "
                       "opendkim.conf; [dkim] opendkim_conf is the RSA one)",
                    domain, r->key_type);
    return 0;
}

/* Split the checked dual section r (the last of dk->rot) into its two
 * tracks; tmpl is its selector template, taken. */
static int dual_split(parser *p, char *tmpl)
{
    kw_dkim_params *dk = &p->c->dkim;
    kw_dkim_rot_params *r = &dk->rot[dk->nrot - 1], ed, *nv;
    const char *rsa = strncmp(r->key_type, "rsa3072", 7) == 0 ? "rsa3072"
                                                               : "rsa2048";
    int rc;

    if ((rc = kw_dkim_rot_params_copy(&ed, r)) != 0) {
        free(tmpl);
        return rc;
    }
    free(ed.key_type);
    free(ed.selector);
    ed.key_type = strdup("ed25519");
    ed.selector = track_template(tmpl, 'e');
    ed.track = KS_DKIM_TRACK_ED25519;
    free(r->key_type);
    free(r->opendkim_conf);
    r->opendkim_conf = NULL;
    r->key_type = strdup(rsa);
    r->selector = track_template(tmpl, 'r');
    r->track = KS_DKIM_TRACK_RSA;
    free(tmpl);
    if (ed.key_type == NULL || ed.selector == NULL || r->key_type == NULL ||
        r->selector == NULL ||
        (nv = kw_vec_grow(dk->rot, &p->cap_rot, dk->nrot + 1,
                          sizeof(*nv))) ==
            NULL) {
        kw_dkim_rot_params_free(&ed);
        return KW_ENOMEM;
    }
    dk->rot = nv;
    dk->rot[dk->nrot++] = ed;
    return 0;
}

/* Close a managed [dkim "DOMAIN"]: check it, and take its selector
 * template from the watched-key entry, which it is not. */
int kw_config_dkim_end(parser *p)
{
    kw_dkim_params *dk = &p->c->dkim;
    kw_dkim_conf_key *k = p->dk;
    kw_dkim_rot_params *r = p->rot;
    char sel[64];
    kw_diag why;
    size_t j;
    int rc, dual;

    if (!(p->seen & ((uint64_t)1 << DKIM_FIRST_ROTATE_KEY)))
        return FAIL(p, "[dkim \"%s\"]: rotation keys (key_dir, publish, "
                       "...) need rotate = (how often a new key is made)",
                    k->domain);
    if (k->key != NULL)
        return FAIL(p, "[dkim \"%s\"]: key = is for a key keywarden "
                       "watches; a section with rotate = writes its keys in "
                       "key_dir",
                    k->domain);
    if (r->key_dir == NULL)
        return FAIL(p, "[dkim \"%s\"]: rotate = needs key_dir (where new "
                       "keys are written)",
                    k->domain);
    dual = r->key_type != NULL && strchr(r->key_type, '+') != NULL;
    if (!dual && (p->seen & ((uint64_t)1 << DKIM_KEY_OPENDKIM_ED25519)))
        return FAIL(p, "[dkim \"%s\"]: opendkim_conf_ed25519 is for "
                       "key_type = rsa2048+ed25519 (or rsa3072+ed25519): "
                       "the Ed25519 key's own OpenDKIM instance",
                    k->domain);
    if (r->zone != NULL && k->selector == NULL &&
        (k->selector = strdup("kw%n")) == NULL)
        return KW_ENOMEM;
    if (dual && k->selector == NULL &&
        (k->selector = strdup("kw%Y%m%a")) == NULL)
        return KW_ENOMEM;
    if ((p->seen & ((uint64_t)1 << DKIM_KEY_SLOTS)) && r->zone == NULL)
        return FAIL(p, "[dkim \"%s\"]: slots = is for a dedicated zone "
                       "(zone =)",
                    k->domain);
    if (k->selector == NULL)
        return FAIL(p, "[dkim \"%s\"]: rotate = needs selector = (a "
                       "template such as kw%%Y%%m)",
                    k->domain);
    if (dual && (rc = dual_checks(p, k->domain, r, k->selector)) != 0)
        return rc;
    if (r->zone != NULL && (rc = zone_template_check(p, k->domain, r,
                                                     k->selector)) != 0)
        return rc;
    if (!dual && has_track_letter(k->selector))
        return FAIL(p, "[dkim \"%s\"]: selector = %s: %%a (the key's "
                       "algorithm) is for key_type = rsa2048+ed25519 or "
                       "rsa3072+ed25519",
                    k->domain, k->selector);
    if (r->zone == NULL) {
        char *t = track_template(k->selector, 'r');

        if (t == NULL)
            return KW_ENOMEM;
        rc = kw_dkim_selector_expand(t, 0, sel, sizeof(sel), &why);
        free(t);
        if (rc != 0)
            return FAIL(p, "[dkim \"%s\"]: %s", k->domain, why.msg);
    }
    if (r->publish == KW_DKIM_PUBLISH_UPDATE && r->dns_server == NULL)
        return FAIL(p, "[dkim \"%s\"]: rotate = needs a way to publish: "
                       "dns_server (RFC 2136 updates), dns_exec, or "
                       "publish = manual",
                    k->domain);
    if (r->signer == KW_DKIM_SIGNER_EXEC && r->signer_exec == NULL)
        return FAIL(p, "[dkim \"%s\"]: signer = exec needs signer_exec",
                    k->domain);
    if (r->signer == KW_DKIM_SIGNER_RSPAMD &&
        (r->selector_map == NULL || r->path_map == NULL))
        return FAIL(p, "[dkim \"%s\"]: signer = rspamd needs selector_map "
                       "and path_map",
                    k->domain);
    if ((r->tsig_key != NULL) != (r->tsig_secret != NULL))
        return FAIL(p, "[dkim \"%s\"]: tsig_key and tsig_secret go "
                       "together",
                    k->domain);
    for (j = 0; j + 1 < dk->nrot; j++)
        if (strcasecmp(dk->rot[j].domain, k->domain) == 0)
            return FAIL(p, "[dkim \"%s\"]: rotate = is also set at line %d; "
                           "one managed section per domain",
                        k->domain, dk->rot[j].line);
    if (dual) {
        rc = dual_split(p, k->selector);
        k->selector = NULL;
        if (rc != 0)
            return rc;
    } else {
        r->selector = k->selector;
        k->selector = NULL;
    }
    free(k->domain);
    free(k->user);
    dk->nkeys--;
    p->dk = NULL;
    p->rot = NULL;
    return 0;
}

int kw_config_dkim_key(parser *p, int k, const char *key, const char *v)
{
    kw_dkim_params *dk = &p->c->dkim;
    kw_dkim_conf_key *sel = p->dk;

    if (sel == NULL && k >= DKIM_FIRST_DOMAIN_KEY)
        return FAIL(p, "%s: belongs in a [dkim \"DOMAIN\"] section, one "
                       "per selector",
                    key);
    if (sel != NULL && k < DKIM_FIRST_DOMAIN_KEY)
        return FAIL(p, "%s: belongs in [dkim], not [dkim \"%s\"]", key,
                    sel->domain);
    if (k >= DKIM_FIRST_ROTATE_KEY)
        return dkim_rot_key(p, k, key, v);
    switch (k) {
    case 0: /* opendkim_conf */
    case 1: /* rspamd_conf */
    case 8: /* key */
        if (v[0] != '/')
            return FAIL(p, "%s = %s: expected an absolute path", key, v);
        return kw_config_set_str(k == 0   ? &dk->opendkim_conf
                       : k == 1 ? &dk->rspamd_conf
                                : &sel->key,
                       v);
    case 2: return kw_config_duration(p, key, v, &dk->max_age);
    case 3: return kw_config_duration(p, key, v, &dk->interval);
    case 4: { /* outbound: addresses, separated by commas or spaces */
        char list[KW_CONFIG_MAX_LINE + 1], *item, *save = NULL;

        snprintf(list, sizeof(list), "%s", v);
        for (item = strtok_r(list, ", \t", &save); item != NULL;
             item = strtok_r(NULL, ", \t", &save)) {
            unsigned char buf[16];
            char **na;

            if (inet_pton(AF_INET, item, buf) != 1 &&
                inet_pton(AF_INET6, item, buf) != 1)
                return FAIL(p, "outbound: %s: expected IPv4 or IPv6 "
                               "addresses",
                            item);
            na = kw_vec_grow(dk->outbound, &p->cap_outbound,
                             dk->noutbound + 1, sizeof(*na));
            if (na == NULL)
                return KW_ENOMEM;
            dk->outbound = na;
            if ((na[dk->noutbound] = strdup(item)) == NULL)
                return KW_ENOMEM;
            dk->noutbound++;
        }
        return 0;
    }
    case 5: return kw_config_set_str(&dk->resolver, v);
    case 6: { /* dns_port: NS records carry no port */
        char *end;
        long port = strtol(v, &end, 10);

        if (*end != '\0' || end == v || port < 1 || port > 65535)
            return FAIL(p, "dns_port = %s: expected a port, 1 to 65535", v);
        dk->dns_port = (int)port;
        return 0;
    }
    case 7:
        /* A template (kw%Y%m) is checked when the section ends: only a
         * managed one may have it. */
        if (strchr(v, '%') == NULL && !kw_config_dns_name_ok(v, 63))
            return FAIL(p, "selector = %s: expected a DNS label (letters, "
                           "digits, '-', '_', '.')",
                        v);
        return kw_config_set_str(&sel->selector, v);
    default: /* user */
        return kw_config_set_str(&sel->user, v);
    }
}
