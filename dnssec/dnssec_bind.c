/*
 * dnssec_bind.c: BIND key files (.key, .state; .private only stat'ed).
 */
#include "dnssec_bind.h"

#include "../common/kw_fs.h"
#include "../common/kw_str.h"

#include "../common/kw_time.h"

#include <ctype.h>
#include <stddef.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

/* The longest line either file may hold: a DNSKEY of the largest RSA key
 * BIND makes (4096 bits) is under 800 characters. */
#define LINE_MAX_LEN 4600

/* A key file's path without its suffix, and with it. */
#define BASE_CAP 4096
#define PATH_CAP (BASE_CAP + 16)

/* Walk text line by line: *pos advances past the line copied into buf
 * (without its newline).  0 at the end, 1 for a line, KW_ETOOBIG for one
 * too long, KW_EPARSE for a NUL byte (not a text file). */
static int next_line(const char *text, size_t len, size_t *pos, char *buf,
                     size_t cap)
{
    size_t i = *pos, n = 0;

    if (i >= len)
        return 0;
    for (; i < len && text[i] != '\n'; i++) {
        if (text[i] == '\0')
            return KW_EPARSE;
        if (n + 1 >= cap)
            return KW_ETOOBIG;
        buf[n++] = text[i];
    }
    if (n && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    *pos = i < len ? i + 1 : i;
    return 1;
}

static int line_error(kw_diag *d, const char *path, int lineno, int rc)
{
    return kw_diag_set(d, rc, "%s: line %d: %s", path, lineno,
                       rc == KW_ETOOBIG ? "line longer than the longest key "
                       "record (truncated or not a key file?)" :
                       "NUL byte: not a text file");
}

/* BIND's time stamps: YYYYMMDDHHMMSS in UTC, then an optional comment in
 * parentheses.  0 with *t, or -1. */
static int parse_stamp(const char *s, int64_t *t)
{
    struct tm tm = { 0 };
    int v[6], w[6] = { 4, 2, 2, 2, 2, 2 };
    const char *p = s;

    while (*p == ' ' || *p == '\t')
        p++;
    for (int f = 0; f < 6; f++) {
        v[f] = 0;
        for (int i = 0; i < w[f]; i++, p++) {
            if (!isdigit((unsigned char)*p))
                return -1;
            v[f] = v[f] * 10 + (*p - '0');
        }
    }
    if (*p && *p != ' ' && *p != '\t')
        return -1;
    if (v[0] < 1970 || v[1] < 1 || v[1] > 12 || v[2] < 1 ||
        v[2] > kw_days_in_month(v[0], v[1]) || v[3] > 23 || v[4] > 59 || v[5] > 60)
        return -1;
    tm.tm_year = v[0] - 1900;
    tm.tm_mon = v[1] - 1;
    tm.tm_mday = v[2];
    tm.tm_hour = v[3];
    tm.tm_min = v[4];
    tm.tm_sec = v[5];
    *t = (int64_t)timegm(&tm);
    return 0;
}

/* The timing comments of a .key file, as dnssec-settime writes them. */
static int64_t *key_time_field(kw_dnssec_key *k, const char *name)
{
    static const struct { const char *name; size_t off; } f[] = {
        { "Created", offsetof(kw_dnssec_key, created) },
        { "Publish", offsetof(kw_dnssec_key, publish) },
        { "Activate", offsetof(kw_dnssec_key, activate) },
        { "Inactive", offsetof(kw_dnssec_key, inactive) },
        { "Delete", offsetof(kw_dnssec_key, delete_) },
        { "SyncPublish", offsetof(kw_dnssec_key, sync_publish) },
        { "SyncDelete", offsetof(kw_dnssec_key, sync_delete) },
    };

    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (strcmp(f[i].name, name) == 0)
            return (int64_t *)(void *)((char *)k + f[i].off);
    return NULL;
}

static int parse_key_comment(const char *path, int lineno, const char *line,
                             kw_dnssec_key *k, kw_diag *d)
{
    char name[32];
    size_t n = 0;
    const char *p = line + 1;
    int64_t *slot;

    while (*p == ' ')
        p++;
    while (isalpha((unsigned char)p[n]) && n + 1 < sizeof name) {
        name[n] = p[n];
        n++;
    }
    name[n] = '\0';
    /* Other comments ("This is a key-signing key...", Revoke) carry
     * nothing the inventory uses. */
    if (p[n] != ':' || !(slot = key_time_field(k, name)))
        return 0;
    if (parse_stamp(p + n + 1, slot) < 0)
        return kw_diag_set(d, KW_EPARSE, "%s: line %d: %s: \"%.40s\" is not "
                           "a time stamp YYYYMMDDHHMMSS", path, lineno, name,
                           p + n + 1);
    return 0;
}

static int parse_key_record(const char *path, int lineno, char *line,
                            kw_dnssec_key *k, kw_diag *d)
{
    kw_diag sub = { { 0 } };
    int rc = kw_dnssec_key_parse_rr(line, k, &sub);

    if (rc < 0)
        return kw_diag_set(d, rc, "%s: line %d: %s", path, lineno, sub.msg);
    return 0;
}

int kw_dnssec_bind_parse_key(const char *path, const char *text, size_t len,
                             kw_dnssec_key *k, kw_diag *d)
{
    char line[LINE_MAX_LEN];
    size_t pos = 0;
    int lineno = 0, records = 0, rc;

    memset(k, 0, sizeof *k);
    snprintf(k->source, sizeof k->source, "%s", path);
    snprintf(k->signer, sizeof k->signer, "bind");
    while ((rc = next_line(text, len, &pos, line, sizeof line)) > 0) {
        const char *p = line;

        lineno++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            continue;
        if (*p == ';') {
            if ((rc = parse_key_comment(path, lineno, p, k, d)) < 0)
                return rc;
            continue;
        }
        if (++records > 1)
            return kw_diag_set(d, KW_EPARSE, "%s: line %d: a second record; "
                               "a key file holds one DNSKEY", path, lineno);
        if ((rc = parse_key_record(path, lineno, line, k, d)) < 0)
            return rc;
    }
    if (rc < 0)
        return line_error(d, path, lineno + 1, rc);
    if (records == 0)
        return kw_diag_set(d, KW_EPARSE, "%s: no DNSKEY record (%d lines: "
                           "truncated or not a key file)", path, lineno);
    k->role = (k->flags & 1) ? KW_DNSSEC_KSK : KW_DNSSEC_ZSK;
    return 0;
}

enum field_kind { F_INT, F_TIME, F_YESNO, F_STATE, F_SKIP };

static const struct state_field {
    const char *name;
    enum field_kind kind;
    size_t off;
} state_fields[] = {
#define S(n, k, m) { n, k, offsetof(kw_dnssec_bind_state, m) }
    S("Algorithm", F_INT, algorithm),
    S("Length", F_INT, length),
    S("Lifetime", F_TIME, lifetime),
    S("KSK", F_YESNO, ksk),
    S("ZSK", F_YESNO, zsk),
    S("Successor", F_INT, successor),
    S("Predecessor", F_INT, predecessor),
    S("Generated", F_TIME, generated),
    S("Published", F_TIME, published),
    S("Active", F_TIME, active),
    S("Retired", F_TIME, retired),
    S("Removed", F_TIME, removed),
    S("PublishCDS", F_TIME, publish_cds),
    S("DeleteCDS", F_TIME, delete_cds),
    S("GoalState", F_STATE, goal),
    S("DNSKEYState", F_STATE, dnskey),
    S("KRRSIGState", F_STATE, krrsig),
    S("ZRRSIGState", F_STATE, zrrsig),
    S("DSState", F_STATE, ds),
#undef S
    /* Known, and not part of the inventory: when named last changed a
     * state, when it saw the DS, revocation, key storage. */
    { "DNSKEYChange", F_SKIP, 0 }, { "KRRSIGChange", F_SKIP, 0 },
    { "ZRRSIGChange", F_SKIP, 0 }, { "DSChange", F_SKIP, 0 },
    { "DSPublish", F_SKIP, 0 }, { "DSRemoved", F_SKIP, 0 },
    { "Revoked", F_SKIP, 0 }, { "KeyStore", F_SKIP, 0 },
};

static int state_value(const char *path, int lineno, const struct state_field *f,
                       const char *v, kw_dnssec_bind_state *st, kw_diag *d)
{
    void *slot = (char *)st + f->off;
    char *end;
    long long n;

    switch (f->kind) {
    case F_INT:
        n = strtoll(v, &end, 10);
        if (end == v || *end || n < 0 || n > 65535)
            break;
        if (f->off == offsetof(kw_dnssec_bind_state, successor) ||
            f->off == offsetof(kw_dnssec_bind_state, predecessor))
            *(unsigned *)slot = (unsigned)n;
        else
            *(int *)slot = (int)n;
        return 0;
    case F_TIME:
        /* Lifetime is seconds; the others are time stamps. */
        if (f->off == offsetof(kw_dnssec_bind_state, lifetime)) {
            n = strtoll(v, &end, 10);
            if (end == v || *end || n < 0)
                break;
            *(int64_t *)slot = n;
            return 0;
        }
        if (parse_stamp(v, slot) < 0)
            break;
        return 0;
    case F_YESNO:
        if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)
            break;
        *(int *)slot = v[0] == 'y';
        return 0;
    case F_STATE:
        if (strcmp(v, "hidden") && strcmp(v, "rumoured") &&
            strcmp(v, "omnipresent") && strcmp(v, "unretentive") &&
            strcmp(v, "NA"))
            break;
        snprintf(slot, sizeof st->goal, "%s", v);
        return 0;
    case F_SKIP:
        return 0;
    }
    return kw_diag_set(d, KW_EPARSE, "%s: line %d: %s: \"%.40s\" is not a "
                       "valid value", path, lineno, f->name, v);
}

int kw_dnssec_bind_parse_state(const char *path, const char *text, size_t len,
                               kw_dnssec_bind_state *st, kw_diag *d)
{
    char line[LINE_MAX_LEN];
    size_t pos = 0;
    int lineno = 0, rc, fields = 0;

    memset(st, 0, sizeof *st);
    while ((rc = next_line(text, len, &pos, line, sizeof line)) > 0) {
        char *p = line, *colon, *v;
        size_t i;

        lineno++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0' || *p == ';')
            continue;
        colon = strchr(p, ':');
        if (!colon || colon == p)
            return kw_diag_set(d, KW_EPARSE, "%s: line %d: \"%.40s\" is not "
                               "\"Field: value\"", path, lineno, p);
        *colon = '\0';
        for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
            ;
        for (i = 0; i < sizeof state_fields / sizeof state_fields[0]; i++)
            if (strcmp(state_fields[i].name, p) == 0)
                break;
        fields++;
        if (i == sizeof state_fields / sizeof state_fields[0]) {
            /* named adds fields across versions: kept as a note. */
            if (st->nunknown++ == 0)
                snprintf(st->note, sizeof st->note, "%s: line %d: unknown "
                         "field %.40s (ignored)", path, lineno, p);
            continue;
        }
        if ((rc = state_value(path, lineno, &state_fields[i], v, st, d)) < 0)
            return rc;
    }
    if (rc < 0)
        return line_error(d, path, lineno + 1, rc);
    if (fields == 0)
        return kw_diag_set(d, KW_EPARSE, "%s: no fields (empty or truncated "
                           "state file)", path);
    return 0;
}

void kw_dnssec_bind_apply_state(kw_dnssec_key *k, const kw_dnssec_bind_state *st)
{
    if (st->ksk && st->zsk)
        k->role = KW_DNSSEC_CSK;
    else if (st->ksk)
        k->role = KW_DNSSEC_KSK;
    else if (st->zsk)
        k->role = KW_DNSSEC_ZSK;
    /* named keeps both files' times in step; the .state's fill what the
     * .key lacks (an older dnssec-settime, a hand-edited file). */
    if (!k->created)
        k->created = st->generated;
    if (!k->publish)
        k->publish = st->published;
    if (!k->activate)
        k->activate = st->active;
    if (!k->inactive)
        k->inactive = st->retired;
    if (!k->delete_)
        k->delete_ = st->removed;
    if (!k->sync_publish)
        k->sync_publish = st->publish_cds;
    if (!k->sync_delete)
        k->sync_delete = st->delete_cds;
}

/* "K<zone>.+AAA+TTTTT.key": 0 with the zone (normalised), algorithm and
 * tag, or -1 for a name BIND does not give a key file. */
static int parse_key_name(const char *name, char zone[256], int *alg,
                          unsigned *tag)
{
    size_t n = strlen(name);
    const char *p;

    if (n < 1 + 1 + 14 || name[0] != 'K' || strcmp(name + n - 4, ".key") != 0)
        return -1;
    p = name + n - 4 - 10;              /* "+AAA+TTTTT" */
    if (p[0] != '+' || p[4] != '+' || strspn(p + 1, "0123456789") != 3 ||
        strspn(p + 5, "0123456789") != 5)
        return -1;
    *alg = atoi(p + 1);
    *tag = (unsigned)atoi(p + 5);
    return kw_dnssec_zone_norm(name + 1, (size_t)(p - name - 1), zone);
}

static int cmp_keys(const void *a, const void *b)
{
    const kw_dnssec_key *x = &((const kw_dnssec_bind_key *)a)->key;
    const kw_dnssec_key *y = &((const kw_dnssec_bind_key *)b)->key;
    int c = strcmp(x->zone, y->zone);

    if (c)
        return c;
    return (x->tag > y->tag) - (x->tag < y->tag);
}

static void add_note(kw_dnssec_bind_key *bk, const char *what)
{
    size_t pos = strlen(bk->note);

    (void)kw_str_appendf(bk->note, sizeof bk->note, &pos, "%s%s",
                         pos ? "; " : "", what);
}

/* The .private: present, and closed to others (named's group may read
 * it).  Its content is never opened. */
static void check_private(const char base[BASE_CAP], kw_dnssec_bind_key *bk)
{
    char path[PATH_CAP], msg[160];
    struct stat sb;

    snprintf(path, sizeof path, "%s.private", base);
    if (lstat(path, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        add_note(bk, "no .private file: a public-only key the signer cannot "
                 "sign with");
        return;
    }
    bk->has_private = 1;
    bk->private_mode = (unsigned)(sb.st_mode & 07777);
    if (sb.st_mode & 0007) {
        snprintf(msg, sizeof msg, ".private is mode %04o, readable by any "
                 "user: chmod o-rwx it", bk->private_mode);
        add_note(bk, msg);
    }
}

static int read_text(const char *path, unsigned char **buf, size_t *len,
                     kw_diag *d)
{
    return kw_fs_read_regular(path, KW_DNSSEC_BIND_FILE_MAX, buf, len, d);
}

static int read_one(const char *dir, const char *name, kw_dnssec_bind_key *bk,
                    kw_diag *d)
{
    char path[PATH_CAP], base[BASE_CAP], zone[256];
    unsigned char *buf = NULL;
    size_t len = 0;
    unsigned tag;
    int alg, rc;

    if (parse_key_name(name, zone, &alg, &tag) < 0)
        return 1;
    if ((size_t)snprintf(base, sizeof base, "%s/%.*s", dir,
                         (int)(strlen(name) - 4), name) >= sizeof base)
        return kw_diag_set(d, KW_ETOOBIG, "%s/%s: path too long", dir, name);
    snprintf(path, sizeof path, "%s.key", base);
    memset(bk, 0, sizeof *bk);
    if ((rc = read_text(path, &buf, &len, d)) < 0)
        return rc;
    rc = kw_dnssec_bind_parse_key(path, (const char *)buf, len, &bk->key, d);
    free(buf);
    if (rc < 0)
        return rc;
    if (strcmp(zone, bk->key.zone) != 0 || alg != bk->key.algorithm ||
        tag != bk->key.tag)
        return kw_diag_set(d, KW_EPARSE, "%s: the file name says zone %s, "
                           "algorithm %d, tag %u; its DNSKEY is zone %s, "
                           "algorithm %d, tag %u (a renamed or edited file)",
                           path, zone, alg, tag, bk->key.zone,
                           bk->key.algorithm, bk->key.tag);
    snprintf(path, sizeof path, "%s.state", base);
    buf = NULL;
    rc = read_text(path, &buf, &len, d);
    if (rc == 0) {
        rc = kw_dnssec_bind_parse_state(path, (const char *)buf, len,
                                        &bk->state, d);
        free(buf);
        if (rc < 0)
            return rc;
        bk->has_state = 1;
        kw_dnssec_bind_apply_state(&bk->key, &bk->state);
        if (bk->state.nunknown)
            add_note(bk, bk->state.note);
    } else if (rc != KW_ENOENT) {
        return rc;
    }
    check_private(base, bk);
    return 0;
}

int kw_dnssec_bind_read_dir(const char *dir, const char *zone,
                            kw_dnssec_bind_key *out, size_t cap, size_t *n,
                            kw_diag *d)
{
    char want[256];
    DIR *dh;
    struct dirent *de;
    int rc = 0;

    *n = 0;
    if (zone && kw_dnssec_zone_norm(zone, strlen(zone), want) < 0)
        return kw_diag_set(d, KW_EINVAL, "\"%.80s\" is not a zone name", zone);
    if (!(dh = opendir(dir))) {
        rc = kw_errno();
        return kw_diag_set(d, rc, "%s: cannot open the key directory: %s",
                           dir, strerror(-rc));
    }
    while ((de = readdir(dh))) {
        kw_dnssec_bind_key tmp, *slot = *n < cap ? &out[*n] : &tmp;
        char z[256];
        int a;
        unsigned t;

        if (parse_key_name(de->d_name, z, &a, &t) < 0 ||
            (zone && strcmp(z, want) != 0))
            continue;
        if (*n >= cap) {
            rc = kw_diag_set(d, KW_ETOOBIG, "%s: more than %zu keys%s%s",
                             dir, cap, zone ? " for " : "", zone ? zone : "");
            break;
        }
        if ((rc = read_one(dir, de->d_name, slot, d)) < 0)
            break;
        (*n)++;
    }
    closedir(dh);
    if (rc < 0) {
        *n = 0;
        return rc;
    }
    qsort(out, *n, sizeof *out, cmp_keys);
    return 0;
}
