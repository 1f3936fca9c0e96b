/*
 * dnssec_knot.c: Knot's keys through keymgr's JSON listing.
 */
#include "dnssec_knot.h"

#include "../common/kw_proc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* What keymgr prints for one zone: about 400 bytes of JSON per key; the
 * buffer is twice the most accepted (see run_keymgr). */
#define KNOT_OUT_CAP (KW_DNSSEC_KNOT_MAX_KEYS * 2048)

static int field_int(json_t *o, size_t i, const char *name, int64_t max,
                     int64_t *v, kw_diag *d)
{
    json_t *j = json_object_get(o, name);

    if (!json_is_integer(j) || json_integer_value(j) < 0 ||
        json_integer_value(j) > max)
        return kw_diag_set(d, KW_EPARSE, "keymgr list -j: key %zu: \"%s\" "
                           "%s", i, name, j ? "is not a number in range" :
                           "is missing");
    *v = json_integer_value(j);
    return 0;
}

static int field_bool(json_t *o, size_t i, const char *name, int *v, kw_diag *d)
{
    json_t *j = json_object_get(o, name);

    if (!json_is_boolean(j))
        return kw_diag_set(d, KW_EPARSE, "keymgr list -j: key %zu: \"%s\" "
                           "%s", i, name, j ? "is not true or false" :
                           "is missing");
    *v = json_is_true(j);
    return 0;
}

/* One key object into k and id. */
static int parse_one(json_t *o, size_t i, const char *zone, kw_dnssec_key *k,
                     kw_dnssec_knot_id id, kw_diag *d)
{
    json_t *jz = json_object_get(o, "zone"), *jid = json_object_get(o, "id");
    int64_t tag, alg, size, publish, ready, active, retire, retire_active, remove;
    int ksk, zsk, rc;
    char z[256];
    const char *s;

    if (!json_is_object(o))
        return kw_diag_set(d, KW_EPARSE, "keymgr list -j: key %zu is not an "
                           "object", i);
    if (!json_is_string(jid) || (s = json_string_value(jid), strlen(s) == 0) ||
        strlen(s) >= sizeof(kw_dnssec_knot_id) ||
        strspn(s, "0123456789abcdef") != strlen(s))
        return kw_diag_set(d, KW_EPARSE, "keymgr list -j: key %zu: \"id\" is "
                           "missing or not a hexadecimal key id", i);
    snprintf(id, sizeof(kw_dnssec_knot_id), "%s", s);
    if (!json_is_string(jz) ||
        kw_dnssec_zone_norm(json_string_value(jz), strlen(json_string_value(jz)), z) < 0 ||
        strcmp(z, zone) != 0)
        return kw_diag_set(d, KW_EPARSE, "keymgr list -j: key %zu (%s): "
                           "\"zone\" is not %s", i, id, zone);
    if ((rc = field_int(o, i, "tag", 65535, &tag, d)) < 0 ||
        (rc = field_int(o, i, "algorithm", 255, &alg, d)) < 0 ||
        (rc = field_int(o, i, "size", 65535, &size, d)) < 0 ||
        (rc = field_bool(o, i, "ksk", &ksk, d)) < 0 ||
        (rc = field_bool(o, i, "zsk", &zsk, d)) < 0 ||
        (rc = field_int(o, i, "publish", INT64_MAX, &publish, d)) < 0 ||
        (rc = field_int(o, i, "ready", INT64_MAX, &ready, d)) < 0 ||
        (rc = field_int(o, i, "active", INT64_MAX, &active, d)) < 0 ||
        (rc = field_int(o, i, "retire-active", INT64_MAX, &retire_active, d)) < 0 ||
        (rc = field_int(o, i, "retire", INT64_MAX, &retire, d)) < 0 ||
        (rc = field_int(o, i, "remove", INT64_MAX, &remove, d)) < 0)
        return rc;
    if (!ksk && !zsk)
        return kw_diag_set(d, KW_EPARSE, "keymgr list -j: key %zu (%s): "
                           "neither KSK nor ZSK", i, id);
    memset(k, 0, sizeof *k);
    snprintf(k->zone, sizeof k->zone, "%s", zone);
    k->role = ksk && zsk ? KW_DNSSEC_CSK : ksk ? KW_DNSSEC_KSK : KW_DNSSEC_ZSK;
    k->algorithm = (int)alg;
    k->bits = (int)size;
    k->tag = (unsigned)tag;
    k->flags = ksk ? 257 : 256;
    k->publish = publish;
    if (ksk && ready && (active == 0 || active > ready)) {
        /* Signing from ready; active is the DS confirmed at the parent,
         * and until Knot sees it there is no date for it. */
        k->activate = ready;
        k->sync_publish = active ? active : KW_DNSSEC_PENDING;
    } else {
        k->activate = active;
    }
    k->inactive = retire;
    k->sync_delete = ksk ? retire_active : 0;
    k->delete_ = remove;
    snprintf(k->source, sizeof k->source, "knot:%s", zone);
    snprintf(k->signer, sizeof k->signer, "knot");
    return 0;
}

/* json holds only white space (it need not be NUL-terminated). */
static int blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!strchr(" \t\r\n", s[i]) || s[i] == '\0')
            return 0;
    return 1;
}

int kw_dnssec_knot_parse_list(const char *zone, const char *json, size_t len,
                              kw_dnssec_key *out, kw_dnssec_knot_id *ids,
                              size_t cap, size_t *n, kw_diag *d)
{
    json_error_t err;
    json_t *root;
    char z[256];
    int rc = 0;

    *n = 0;
    if (kw_dnssec_zone_norm(zone, strlen(zone), z) < 0)
        return kw_diag_set(d, KW_EINVAL, "\"%.80s\" is not a zone name", zone);
    if (blank(json, len))
        return kw_diag_set(d, KW_EPARSE, "keymgr list -j printed nothing for "
                           "%s: is the zone in Knot's configuration?", z);
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        return kw_diag_set(d, KW_EPARSE, "keymgr list -j: line %d, column %d: "
                           "%s", err.line, err.column, err.text);
    if (!json_is_array(root)) {
        rc = kw_diag_set(d, KW_EPARSE, "keymgr list -j: not a JSON array of "
                         "keys");
        goto out;
    }
    if (json_array_size(root) > cap) {
        rc = kw_diag_set(d, KW_ETOOBIG, "keymgr list -j: %zu keys for %s, "
                         "more than %zu", json_array_size(root), z, cap);
        goto out;
    }
    for (size_t i = 0; i < json_array_size(root); i++)
        if ((rc = parse_one(json_array_get(root, i), i, z, &out[i], ids[i], d)) < 0)
            goto out;
    *n = json_array_size(root);
out:
    json_decref(root);
    return rc;
}

/* Run keymgr with args after "-c CONF"; its output in out. */
static int run_keymgr(const kw_dnssec_knot_opts *o, const char *zone,
                      const char *a1, const char *a2, const char *a3,
                      char *out, size_t cap, kw_diag *d)
{
    const char *argv[10];
    size_t i = 0;
    int status = 0, rc;
    const char *prog = o && o->keymgr ? o->keymgr : "keymgr";

    argv[i++] = prog;
    if (o && o->conf) {
        argv[i++] = "-c";
        argv[i++] = o->conf;
    }
    argv[i++] = zone;
    argv[i++] = a1;
    if (a2)
        argv[i++] = a2;
    if (a3)
        argv[i++] = a3;
    argv[i] = NULL;
    rc = kw_proc_run(argv, NULL, o && o->timeout_ms ? o->timeout_ms : 10000,
                     out, cap, &status, d);
    if (rc < 0)
        return rc == KW_ETIMEDOUT
                   ? kw_diag_set(d, rc, "%s %s %s: no answer in time", prog,
                                 zone, a1)
                   : rc;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return kw_diag_set(d, KW_EIO, "%s %s %s failed (%s %d): %.300s", prog,
                           zone, a1, WIFEXITED(status) ? "exit" : "signal",
                           WIFEXITED(status) ? WEXITSTATUS(status) :
                           WTERMSIG(status), out);
    /* kw_proc keeps the later half of a full buffer, so output that
     * reaches half of it may have lost its start: only less is whole. */
    if (strlen(out) >= (cap - 1) / 2)
        return kw_diag_set(d, KW_ETOOBIG, "%s %s %s: %zu bytes of output or "
                           "more, past the limit", prog, zone, a1, (cap - 1) / 2);
    return 0;
}

/* keymgr's dnskey prints "zone. DNSKEY flags 3 alg key". */
static int add_dnskey(const kw_dnssec_knot_opts *o, const char *fqdn,
                      kw_dnssec_key *k, const char *id, kw_diag *d)
{
    char out[8192];
    kw_dnssec_key got;
    kw_diag sub = { { 0 } };
    char *nl;
    int rc;

    if ((rc = run_keymgr(o, fqdn, "dnskey", id, NULL, out, sizeof out, d)) < 0)
        return rc;
    if ((nl = strchr(out, '\n')))
        *nl = '\0';
    memset(&got, 0, sizeof got);
    if ((rc = kw_dnssec_key_parse_rr(out, &got, &sub)) < 0)
        return kw_diag_set(d, rc, "keymgr %s dnskey %s: %s", fqdn, id, sub.msg);
    if (strcmp(got.zone, k->zone) != 0 || got.tag != k->tag ||
        got.algorithm != k->algorithm)
        return kw_diag_set(d, KW_EPARSE, "keymgr %s dnskey %s: zone %s, tag "
                           "%u, algorithm %d, but its listing says zone %s, "
                           "tag %u, algorithm %d", fqdn, id, got.zone, got.tag,
                           got.algorithm, k->zone, k->tag, k->algorithm);
    memcpy(k->dnskey, got.dnskey, sizeof k->dnskey);
    k->flags = got.flags;
    if (got.bits > 0)
        k->bits = got.bits;
    return 0;
}

int kw_dnssec_knot_list(const kw_dnssec_knot_opts *o, const char *zone,
                        kw_dnssec_key *out, size_t cap, size_t *n, kw_diag *d)
{
    kw_dnssec_knot_id ids[KW_DNSSEC_KNOT_MAX_KEYS];
    char z[256], fqdn[258];
    char *buf;
    int rc;

    *n = 0;
    /* The zone goes to keymgr as an argument: a name that starts with '-'
     * would be read as an option, so only zone names pass. */
    if (kw_dnssec_zone_norm(zone, strlen(zone), z) < 0 || z[0] == '-')
        return kw_diag_set(d, KW_EINVAL, "\"%.80s\" is not a zone name", zone);
    snprintf(fqdn, sizeof fqdn, "%s%s", z, strcmp(z, ".") ? "." : "");
    if (cap > KW_DNSSEC_KNOT_MAX_KEYS)
        cap = KW_DNSSEC_KNOT_MAX_KEYS;
    if (!(buf = malloc(KNOT_OUT_CAP)))
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    rc = run_keymgr(o, fqdn, "list", "-j", NULL, buf, KNOT_OUT_CAP, d);
    if (rc == 0)
        rc = kw_dnssec_knot_parse_list(z, buf, strlen(buf), out, ids, cap, n, d);
    free(buf);
    for (size_t i = 0; rc == 0 && i < *n; i++)
        rc = add_dnskey(o, fqdn, &out[i], ids[i], d);
    if (rc < 0)
        *n = 0;
    return rc;
}
