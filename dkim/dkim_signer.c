#include "dkim_signer.h"

#include "dkim_key.h"
#include "dkim_source.h"

#include "../common/kw_fs.h"
#include "../common/kw_proc.h"
#include "../common/kw_str.h"
#include "../common/kw_vec.h"

#include <ctype.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- text rewriting ---------------------------------------------------- */

/* A growing output text, bounded so a table cannot grow past what the
 * readers accept. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

#define SIGNER_MAX_OUT (2 * KW_DKIM_MAX_FILE)

static int sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > SIGNER_MAX_OUT)
        return KW_ETOOBIG;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap == 0 ? 4096 : b->cap;
        char *p;

        while (cap < b->len + n + 1)
            cap *= 2;
        if ((p = realloc(b->p, cap)) == NULL)
            return KW_ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static int sb_str(sbuf *b, const char *s)
{
    return sb_add(b, s, strlen(s));
}

/* One line of a table: [start, end) without its newline; the first field
 * [k0, k1); the second [v0, v1) (a word); the rest of the content ends at
 * r1 (before a comment and trailing blanks).  A line with no field has
 * k0 == k1. */
typedef struct row {
    size_t start, end, k0, k1, v0, v1, r1;
    int nl;
    int line;
} row;

static int blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* The next line of t at *pos into r; 0 at the end, 1 with a line,
 * KW_EPARSE for a NUL byte (no signer reads past one). */
static int next_row(const char *t, size_t len, size_t *pos, row *r,
                    kw_diag *d)
{
    size_t i, e, c;

    if (*pos >= len)
        return 0;
    r->line++;
    r->start = i = *pos;
    while (i < len && t[i] != '\n') {
        if (t[i] == '\0')
            return kw_diag_set(d, KW_EPARSE, "line %d: a NUL byte",
                               r->line);
        i++;
    }
    r->end = i;
    r->nl = i < len;
    *pos = i < len ? i + 1 : i;
    for (c = r->start; c < r->end && t[c] != '#'; c++)
        ;
    e = c;
    while (e > r->start && blank(t[e - 1]))
        e--;
    r->r1 = e;
    for (i = r->start; i < e && blank(t[i]); i++)
        ;
    r->k0 = i;
    while (i < e && !blank(t[i]))
        i++;
    r->k1 = i;
    while (i < e && blank(t[i]))
        i++;
    r->v0 = i;
    while (i < e && !blank(t[i]))
        i++;
    r->v1 = i;
    return 1;
}

static int span_is(const char *t, size_t a, size_t b, const char *s)
{
    return b - a == strlen(s) && strncasecmp(t + a, s, b - a) == 0;
}

/* Emit r with [a, b) replaced by pre and val (val after one space when
 * the row has no second field, so a = b = the first field's end). */
static int emit_parts(sbuf *o, const char *t, const row *r, size_t a,
                      size_t b, const char *pre, const char *val)
{
    int rc;

    if ((rc = sb_add(o, t + r->start, a - r->start)) != 0 ||
        (rc = sb_str(o, pre)) != 0)
        return rc;
    if (a == r->k1 && *pre == '\0' && (rc = sb_add(o, " ", 1)) != 0)
        return rc;
    if ((rc = sb_str(o, val)) != 0 ||
        (rc = sb_add(o, t + b, r->end - b)) != 0)
        return rc;
    return r->nl ? sb_add(o, "\n", 1) : 0;
}

static int emit_replaced(sbuf *o, const char *t, const row *r, size_t a,
                         size_t b, const char *val)
{
    return emit_parts(o, t, r, a, b, "", val);
}

static int emit_row(sbuf *o, const char *t, const row *r)
{
    int rc = sb_add(o, t + r->start, r->end - r->start);

    return rc == 0 && r->nl ? sb_add(o, "\n", 1) : rc;
}

/* Append "a b\n", after a newline if the text does not end in one. */
static int emit_new(sbuf *o, const char *a, const char *b)
{
    int rc = 0;

    if (o->len > 0 && o->p[o->len - 1] != '\n')
        rc = sb_add(o, "\n", 1);
    if (rc == 0 && (rc = sb_str(o, a)) == 0 && (rc = sb_add(o, " ", 1)) == 0
        && (rc = sb_str(o, b)) == 0)
        rc = sb_add(o, "\n", 1);
    return rc;
}

static int finish(sbuf *o, const char *text, size_t len, char **out,
                  size_t *out_len, int *changed)
{
    int rc;

    if (o->p == NULL && (rc = sb_add(o, "", 0)) != 0)
        return rc;
    if (changed != NULL)
        *changed = o->len != len || memcmp(o->p, text, len) != 0;
    *out = o->p;
    *out_len = o->len;
    return 0;
}

static int check_len(size_t len, kw_diag *d)
{
    return len > KW_DKIM_MAX_FILE
               ? kw_diag_set(d, KW_ETOOBIG, "larger than %d bytes",
                             KW_DKIM_MAX_FILE)
               : 0;
}

/* The domain part of a SigningTable pattern is domain: "DOMAIN",
 * "*@DOMAIN" or "user@DOMAIN" (a wildcard in the domain part is left to
 * the operator). */
static int pattern_is(const char *t, size_t a, size_t b, const char *domain)
{
    size_t i;

    for (i = b; i > a; i--)
        if (t[i - 1] == '@')
            break;
    return span_is(t, i, b, domain);
}

/* OpenDKIM takes the first refile: pattern that matches, so a new row
 * for a domain goes before the first row (a "*" or "*@*.test" row would
 * otherwise keep signing it with its old key): o is rebuilt as text with
 * "pat keyname" before its first row, comments above stay on top. */
static int insert_first(sbuf *o, const char *text, size_t len,
                        const char *pat, const char *keyname, kw_diag *d)
{
    sbuf n = {0};
    row r = {0};
    size_t pos = 0, at = len;
    int rc;

    while ((rc = next_row(text, len, &pos, &r, d)) == 1)
        if (r.k0 != r.k1) {
            at = r.start;
            break;
        }
    if (rc < 0)
        return rc;
    rc = sb_add(&n, text, at);
    if (rc == 0)
        rc = emit_new(&n, pat, keyname);
    if (rc == 0)
        rc = sb_add(&n, text + at, len - at);
    if (rc != 0) {
        free(n.p);
        return rc;
    }
    free(o->p);
    *o = n;
    return 0;
}

/* What a row rewriter needs to know, and what it found. */
typedef struct edit {
    const char *domain, *name, *value;
    const struct names *used;   /* KeyTable: the names the SigningTable uses */
    int exists;                 /* KeyTable: a row is named e->name */
    int found;                  /* the row for the key was seen */
} edit;

typedef int (*row_fn)(sbuf *o, const char *t, const row *r, edit *e,
                      kw_diag *d);

/* Every line of text through fn (lines without a field are copied). */
static int rewrite(const char *text, size_t len, row_fn fn, edit *e,
                   sbuf *o, kw_diag *d)
{
    row r = {0};
    size_t pos = 0;
    int rc;

    if ((rc = check_len(len, d)) != 0)
        return rc;
    while ((rc = next_row(text, len, &pos, &r, d)) == 1)
        if ((rc = r.k0 == r.k1 ? emit_row(o, text, &r)
                               : fn(o, text, &r, e, d)) != 0)
            break;
    return rc;
}

static int done(int rc, sbuf *o, const char *text, size_t len, char **out,
                size_t *out_len, int *changed)
{
    if (rc == 0)
        return finish(o, text, len, out, out_len, changed);
    free(o->p);
    return rc;
}

static int st_row(sbuf *o, const char *t, const row *r, edit *e,
                  kw_diag *d)
{
    if (!pattern_is(t, r->k0, r->k1, e->domain))
        return emit_row(o, t, r);
    if (r->v0 == r->v1)
        return kw_diag_set(d, KW_EPARSE, "line %d: \"%.*s\" names no key",
                           r->line, (int)(r->k1 - r->k0), t + r->k0);
    e->found = 1;
    return emit_replaced(o, t, r, r->v0, r->v1, e->name);
}

int kw_dkim_signingtable_set(const char *text, size_t len,
                             const char *domain, const char *keyname,
                             int refile, char **out, size_t *out_len,
                             int *changed, kw_diag *d)
{
    edit e = {domain, keyname, NULL, NULL, 0, 0};
    sbuf o = {0};
    int rc = rewrite(text, len, st_row, &e, &o, d);

    if (rc == 0 && !e.found) {
        char pat[300];

        snprintf(pat, sizeof(pat), "%s%s", refile ? "*@" : "", domain);
        rc = refile ? insert_first(&o, text, len, pat, keyname, d)
                    : emit_new(&o, pat, keyname);
    }
    return done(rc, &o, text, len, out, out_len, changed);
}

/* The key names the SigningTable's rows name, sorted for bsearch. */
struct names {
    char **v;
    size_t n, cap;
};
typedef struct names names;

static int cmp_name(const void *a, const void *b)
{
    return strcasecmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(names *s)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof(*s));
}

static int names_of(const char *t, names *s, kw_diag *d)
{
    row r = {0};
    size_t pos = 0, len = strlen(t);
    int rc;

    while ((rc = next_row(t, len, &pos, &r, d)) == 1) {
        char **v;

        if (r.v0 == r.v1)
            continue;
        if ((v = kw_vec_grow(s->v, &s->cap, s->n + 1, sizeof(*v))) == NULL)
            return KW_ENOMEM;
        s->v = v;
        if ((v[s->n] = strndup(t + r.v0, r.v1 - r.v0)) == NULL)
            return KW_ENOMEM;
        s->n++;
    }
    if (rc == 0 && s->n > 0)
        qsort(s->v, s->n, sizeof(*s->v), cmp_name);
    return rc;
}

static int names_has(const names *s, const char *t, size_t a, size_t b)
{
    char key[600];
    const char *k = key;

    if (b - a >= sizeof(key))
        return 0;
    memcpy(key, t + a, b - a);
    key[b - a] = '\0';
    return s->n > 0 &&
           bsearch(&k, s->v, s->n, sizeof(*s->v), cmp_name) != NULL;
}

/* The domain field of a KeyTable value ("DOMAIN:SELECTOR:KEY") is domain. */
static int value_domain_is(const char *t, const row *r, const char *domain)
{
    size_t c = r->v0;

    while (c < r->r1 && t[c] != ':')
        c++;
    return c < r->r1 && span_is(t, r->v0, c, domain);
}

/* A KeyTable row: the row named e->name gets the new value; a row for
 * the domain that nothing names any more goes, the first of them giving
 * its place (indentation and comment kept) to the new row when no row
 * has its name yet. */
static int kt_row(sbuf *o, const char *t, const row *r, edit *e,
                  kw_diag *d)
{
    char pre[610];

    (void)d;
    if (span_is(t, r->k0, r->k1, e->name)) {
        int rc = e->found ? 0
                          : emit_replaced(o, t, r, r->v0, r->r1, e->value);

        e->found = 1;
        return rc;
    }
    if (!value_domain_is(t, r, e->domain) ||
        names_has(e->used, t, r->k0, r->k1))
        return emit_row(o, t, r);
    if (e->exists || e->found)
        return 0;
    e->found = 1;
    snprintf(pre, sizeof(pre), "%s ", e->name);
    return emit_parts(o, t, r, r->k0, r->r1, pre, e->value);
}

/* Notes whether a row is named e->name, copying nothing. */
static int kt_seek(sbuf *o, const char *t, const row *r, edit *e,
                   kw_diag *d)
{
    (void)o;
    (void)d;
    if (span_is(t, r->k0, r->k1, e->name))
        e->exists = 1;
    return 0;
}

int kw_dkim_keytable_set(const char *text, size_t len, const char *domain,
                         const char *selector, const char *key_path,
                         const char *signing_text, char **out,
                         size_t *out_len, int *changed, kw_diag *d)
{
    char name[600], value[1400];
    names used = {0};
    edit e = {domain, name, value, &used, 0, 0};
    sbuf o = {0};
    int rc;

    if ((size_t)snprintf(name, sizeof(name), "%s._domainkey.%s", selector,
                         domain) >= sizeof(name) ||
        (size_t)snprintf(value, sizeof(value), "%s:%s:%s", domain, selector,
                         key_path) >= sizeof(value))
        return kw_diag_set(d, KW_EINVAL, "KeyTable row for %s: too long",
                           domain);
    rc = names_of(signing_text, &used, d);
    if (rc == 0) {
        sbuf seen = {0}; /* the lines without a field, thrown away */

        rc = rewrite(text, len, kt_seek, &e, &seen, d);
        free(seen.p);
    }
    if (rc == 0)
        rc = rewrite(text, len, kt_row, &e, &o, d);
    names_free(&used);
    if (rc == 0 && !e.found)
        rc = emit_new(&o, name, value);
    return done(rc, &o, text, len, out, out_len, changed);
}

/* A map row: the first row for the key gets the value; a later one would
 * be ambiguous, so only one stays. */
static int map_row(sbuf *o, const char *t, const row *r, edit *e,
                   kw_diag *d)
{
    (void)d;
    if (!span_is(t, r->k0, r->k1, e->name))
        return emit_row(o, t, r);
    if (e->found)
        return 0;
    e->found = 1;
    return emit_replaced(o, t, r, r->v0, r->r1, e->value);
}

int kw_dkim_map_set(const char *text, size_t len, const char *key,
                    const char *value, char **out, size_t *out_len,
                    int *changed, kw_diag *d)
{
    edit e = {NULL, key, value, NULL, 0, 0};
    sbuf o = {0};
    int rc = rewrite(text, len, map_row, &e, &o, d);

    if (rc == 0 && !e.found)
        rc = emit_new(&o, key, value);
    return done(rc, &o, text, len, out, out_len, changed);
}

/* ---- running the signers' checks ----------------------------------------- */

/* Run argv (argv[0] searched in PATH, no shell) bounded by timeout_ms:
 * 0 when it exited 0; KW_EREJECTED when it exited otherwise or was
 * killed, its output in the words; KW_ETIMEDOUT; or the spawn's error. */
static int run(const char *const *argv, int timeout_ms, char *out,
               size_t cap, kw_diag *d)
{
    int status = 0, rc;
    size_t i;

    rc = kw_proc_run(argv, NULL, timeout_ms, out, cap, &status, d);
    if (rc == KW_ETIMEDOUT)
        return kw_diag_set(d, KW_ETIMEDOUT,
                           "%s: no exit within %d ms; killed", argv[0],
                           timeout_ms);
    if (rc != 0)
        return rc;
    /* One line for the operator: OpenDKIM and rspamadm say several. */
    for (i = 0; out[i] != '\0'; i++)
        if (out[i] == '\n' || !isprint((unsigned char)out[i]))
            out[i] = out[i] == '\n' ? ';' : '?';
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status))
        return kw_diag_set(d, KW_EREJECTED, "%s exited %d%s%.350s", argv[0],
                           WEXITSTATUS(status), *out ? ": " : "", out);
    return kw_diag_set(d, KW_EREJECTED, "%s was killed by signal %d",
                       argv[0], WTERMSIG(status));
}

/* ---- the files ----------------------------------------------------------- */

/* A file the switch rewrites: its path, what it held, what it will hold. */
typedef struct tfile {
    char path[1024];
    char *old, *new;
    size_t old_len, new_len;
    int existed, written;
    mode_t mode;
    gid_t gid;
} tfile;

static void tfile_free(tfile *f)
{
    free(f->old);
    free(f->new);
    f->old = f->new = NULL;
}

/* Read f->path; a missing file is empty when may_miss (a map not made
 * yet). */
static int tfile_read(tfile *f, int may_miss, kw_diag *d)
{
    unsigned char *buf = NULL;
    struct stat st;
    size_t len = 0;
    int rc = kw_fs_read_regular(f->path, KW_DKIM_MAX_FILE, &buf, &len, d);

    f->mode = 0644;
    f->gid = (gid_t)-1;
    if (rc == KW_ENOENT && may_miss) {
        if ((f->old = strdup("")) == NULL)
            return KW_ENOMEM;
        f->old_len = 0;
        return 0;
    }
    if (rc != 0)
        return rc;
    f->existed = 1;
    f->old = (char *)buf;
    f->old_len = len;
    /* The rewritten file keeps the mode and group the operator gave it. */
    if (stat(f->path, &st) == 0) {
        f->mode = st.st_mode & 07777;
        f->gid = st.st_gid;
    }
    return 0;
}

static int tfile_write(tfile *f, const char *data, size_t len, kw_diag *d)
{
    return kw_write_atomic_gid(f->path, data, len, f->mode, f->gid, d);
}

/* Put back what the files held before; a file that did not exist is
 * removed.  Errors are appended to d, since the caller reports the first
 * failure; how many files could not be put back is returned. */
static int restore(tfile *f, size_t n, kw_diag *d)
{
    size_t i;
    int failed = 0;

    for (i = 0; i < n; i++) {
        kw_diag d2;
        int rc;

        if (!f[i].written)
            continue;
        rc = f[i].existed ? tfile_write(&f[i], f[i].old, f[i].old_len, &d2)
                          : (unlink(f[i].path) == 0 ? 0 : kw_errno());
        if (rc != 0)
            failed++;
        if (rc != 0 && d != NULL) {
            size_t pos = strlen(d->msg);

            kw_str_appendf(d->msg, sizeof(d->msg), &pos,
                           "; and %s could not be put back: %s", f[i].path,
                           f[i].existed ? d2.msg : kw_strerror(rc));
        }
    }
    return failed;
}

/* After a check refused the new files: put the old ones back and say so
 * (or say which could not be). */
static void put_back(tfile *f, size_t n, kw_diag *d)
{
    if (restore(f, n, d) == 0 && d != NULL) {
        size_t pos = strlen(d->msg), i;

        kw_str_appendf(d->msg, sizeof(d->msg), &pos,
                       "; the previous files are back:");
        for (i = 0; i < n; i++)
            if (f[i].written)
                kw_str_appendf(d->msg, sizeof(d->msg), &pos, " %s",
                               f[i].path);
    }
}

/* Write the files that change; on a failure, put back every file marked
 * written. */
static int write_all(tfile *f, size_t n, kw_diag *d)
{
    size_t i;
    int rc;

    for (i = 0; i < n; i++) {
        if (f[i].new == NULL || (f[i].new_len == f[i].old_len &&
                                 memcmp(f[i].new, f[i].old,
                                        f[i].old_len) == 0))
            continue;
        if ((rc = tfile_write(&f[i], f[i].new, f[i].new_len, d)) != 0) {
            restore(f, n, d); /* those marked written, this call's or not */
            return rc;
        }
        f[i].written = 1;
    }
    return 0;
}

/* ---- arguments --------------------------------------------------------- */

/* Domains and selectors are host-name labels (dns_update.h's rules, and
 * the underscore); a key path is absolute, with nothing a table line
 * would split on. */
static int valid_name(const char *s, size_t max)
{
    size_t n = strlen(s), i;

    if (n == 0 || n > max || s[0] == '.' || s[0] == '-')
        return 0;
    for (i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.' &&
            s[i] != '_')
            return 0;
    return 1;
}

static int check_switch(const kw_dkim_switch *sw, kw_diag *d)
{
    const char *p;

    if (sw->domain == NULL || !valid_name(sw->domain, 253))
        return kw_diag_set(d, KW_EINVAL, "\"%.260s\": not a domain name",
                           sw->domain != NULL ? sw->domain : "");
    if (sw->selector == NULL || !valid_name(sw->selector, 63))
        return kw_diag_set(d, KW_EINVAL, "%s: \"%.70s\": not a selector",
                           sw->domain, sw->selector != NULL ? sw->selector
                                                            : "");
    p = sw->key_path;
    if (p == NULL || p[0] != '/' || strlen(p) > 1000 ||
        strpbrk(p, ": \t\r\n#\v\f") != NULL)
        return kw_diag_set(d, KW_EINVAL,
                           "%s: key path \"%.200s\": must be absolute, "
                           "without blanks, ':' or '#'",
                           sw->domain, p != NULL ? p : "");
    return 0;
}

/* ---- OpenDKIM ---------------------------------------------------------- */

typedef struct odk {
    const char *conf;
    tfile keytable, signingtable;
    int refile;
    int safe_keys;      /* RequireSafeKeys (default yes) */
    int ed25519;        /* SignatureAlgorithm ed25519-sha256 */
} odk;

/* A data set spec of opendkim.conf that names a plain file. */
static int odk_spec(const char *conf, int line, const char *what,
                    const char *spec, char *path, size_t cap, int *refile,
                    kw_diag *d)
{
    const char *slash = strrchr(conf, '/');

    *refile = 0;
    if (strncmp(spec, "refile:", 7) == 0) {
        *refile = 1;
        spec += 7;
    } else if (strncmp(spec, "file:", 5) == 0) {
        spec += 5;
    } else if (spec[0] != '/' && strchr(spec, ':') != NULL) {
        return kw_diag_set(d, KW_EINVAL,
                           "%s:%d: %s %.200s: keywarden rewrites only plain "
                           "files (file:, refile: or a path)",
                           conf, line, what, spec);
    }
    if (spec[0] == '/' || slash == NULL)
        snprintf(path, cap, "%s", spec);
    else
        snprintf(path, cap, "%.*s/%s", (int)(slash - conf), conf, spec);
    return 0;
}

static int yes(const char *v)
{
    return strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0 ||
           strcmp(v, "1") == 0;
}

static int odk_read(odk *o, const char *conf, kw_diag *d)
{
    unsigned char *buf = NULL;
    char kt[1024] = "", st[1024] = "";
    int kt_line = 0, st_line = 0, rc, dummy;
    size_t len, pos = 0;
    row r = {0};

    memset(o, 0, sizeof(*o));
    o->conf = conf;
    o->safe_keys = 1;
    if ((rc = kw_fs_read_regular(conf, KW_DKIM_MAX_FILE, &buf, &len, d)) !=
        0)
        return rc;
    while ((rc = next_row((char *)buf, len, &pos, &r, d)) == 1) {
        const char *t = (const char *)buf;
        char v[1024];

        if (r.k0 == r.k1)
            continue;
        snprintf(v, sizeof(v), "%.*s", (int)(r.r1 - r.v0), t + r.v0);
        if (span_is(t, r.k0, r.k1, "KeyTable")) {
            snprintf(kt, sizeof(kt), "%s", v);
            kt_line = r.line;
        } else if (span_is(t, r.k0, r.k1, "SigningTable")) {
            snprintf(st, sizeof(st), "%s", v);
            st_line = r.line;
        } else if (span_is(t, r.k0, r.k1, "RequireSafeKeys")) {
            o->safe_keys = yes(v);
        } else if (span_is(t, r.k0, r.k1, "SignatureAlgorithm")) {
            o->ed25519 = strcasecmp(v, "ed25519-sha256") == 0;
        }
    }
    free(buf);
    if (rc < 0) {
        char why[sizeof(d->msg)];

        snprintf(why, sizeof(why), "%s", d != NULL ? d->msg : "");
        return kw_diag_set(d, rc, "%s: %s", conf, why);
    }
    if (kt[0] == '\0' || st[0] == '\0')
        return kw_diag_set(d, KW_EINVAL,
                           "%s: no %s: keywarden switches selectors through "
                           "a KeyTable and a SigningTable (a KeyFile alone "
                           "names one key)",
                           conf, kt[0] == '\0' ? "KeyTable" : "SigningTable");
    if ((rc = odk_spec(conf, kt_line, "KeyTable", kt, o->keytable.path,
                       sizeof(o->keytable.path), &dummy, d)) != 0 ||
        (rc = odk_spec(conf, st_line, "SigningTable", st,
                       o->signingtable.path, sizeof(o->signingtable.path),
                       &o->refile, d)) != 0)
        return rc;
    if ((rc = tfile_read(&o->keytable, 0, d)) != 0 ||
        (rc = tfile_read(&o->signingtable, 0, d)) != 0)
        return rc;
    return 0;
}

/* One node on the way to a key, judged as OpenDKIM's RequireSafeKeys
 * does (opendkim.c, dkimf_checkfsnode): 1 safe and look further down, 2
 * safe and nothing below can be reached by anyone else, 0 unsafe (why
 * says so), or a negative code. */
static int safe_node(const char *path, int last, char *why, size_t cap)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return kw_errno();
    if (last || !S_ISDIR(st.st_mode)) {
        if (st.st_mode & (S_IROTH | S_IWOTH | S_IWGRP)) {
            snprintf(why, cap, "the key %.500s is %s (mode %04o)", path,
                     st.st_mode & S_IWGRP ? "writable by its group"
                                          : "readable or writable by others",
                     (unsigned)(st.st_mode & 07777));
            return 0;
        }
        return 1;
    }
    /* OpenDKIM lets a group-writable directory pass when no one else is
     * in its group; keywarden does not know the signer's user for sure,
     * so it refuses that too. */
    if (st.st_mode & (S_IWOTH | S_IWGRP)) {
        snprintf(why, cap, "the directory %.500s is writable by %s "
                 "(mode %04o)", path,
                 st.st_mode & S_IWOTH ? "others" : "its group",
                 (unsigned)(st.st_mode & 07777));
        return 0;
    }
    return (st.st_mode & (S_IXGRP | S_IXOTH)) == 0 ? 2 : 1;
}

/* What RequireSafeKeys asks of a key, walked from / down its real path
 * as OpenDKIM walks it: no directory on the way writable by others (or
 * its group), until one nobody else may enter; the key not readable or
 * writable by others, nor writable by its group.  OpenDKIM refuses such
 * a key only when it signs with it, and then stops answering the MTA. */
static int safe_key(const char *path, char *why, size_t cap)
{
    char real[PATH_MAX], partial[PATH_MAX], *p, *q;
    int rc;

    if (realpath(path, real) == NULL)
        return kw_errno();
    if ((rc = safe_node("/", real[1] == '\0', why, cap)) != 1)
        return rc == 0 ? KW_EREJECTED : rc < 0 ? rc : 0;
    partial[0] = '\0';
    for (p = real + 1; *p != '\0'; p = q) {
        size_t n;

        q = strchr(p, '/');
        q = q != NULL ? q + 1 : p + strlen(p);
        n = strlen(partial);
        snprintf(partial + n, sizeof(partial) - n, "/%.*s",
                 (int)(q - p - (q[-1] == '/')), p);
        rc = safe_node(partial, *q == '\0', why, cap);
        if (rc != 1)
            return rc == 0 ? KW_EREJECTED : rc < 0 ? rc : 0;
    }
    return 0;
}

/* The line of the row named like r in the table as it is now, 0 when
 * the row is new or changes. */
static int old_line(const tfile *f, const char *t, const row *r)
{
    row o = {0};
    size_t pos = 0;

    while (next_row(f->old, f->old_len, &pos, &o, NULL) == 1)
        if (o.r1 - o.k0 == r->r1 - r->k0 &&
            memcmp(f->old + o.k0, t + r->k0, r->r1 - r->k0) == 0)
            return o.line;
    return 0;
}

/* One key file: it loads, and (with RequireSafeKeys) is safe. */
static int check_key(const odk *o, const char *key, const char *where,
                     const char *rname, kw_diag *d)
{
    char why[1400];
    kw_dkim_pub pub;
    kw_diag kd;
    int rc;

    if ((rc = kw_dkim_key_load(key, &pub, &kd)) != 0)
        return kw_diag_set(d, rc, "%s: KeyTable row \"%s\": %s", where,
                           rname, kd.msg);
    /* OpenDKIM 2.11 signs every row with the one SignatureAlgorithm:
     * an Ed25519 key under rsa-sha256 (the default) tempfails each
     * message, an RSA key under ed25519-sha256 gets a signature labelled
     * a=ed25519-sha256 that no verifier accepts (both seen with Debian
     * 12's OpenDKIM; docs/guide.md). */
    if ((pub.alg == KW_DKIM_ALG_ED25519) != o->ed25519)
        return kw_diag_set(d, KW_EREJECTED,
                           "%s: KeyTable row \"%s\", key %s: an %s key, "
                           "but %s signs with SignatureAlgorithm %s, one "
                           "algorithm for every row: OpenDKIM would %s; "
                           "use %s keys (key_type) or another signer",
                           where, rname, key,
                           kw_dkim_alg_name(pub.alg), o->conf,
                           o->ed25519 ? "ed25519-sha256" : "rsa-sha256",
                           o->ed25519 ? "sign with a signature no "
                                        "verifier accepts"
                                      : "tempfail every message it signs "
                                        "with it",
                           o->ed25519 ? "ed25519" : "RSA");
    if (o->safe_keys && (rc = safe_key(key, why, sizeof(why))) != 0)
        return kw_diag_set(d, rc,
                           "%s: KeyTable row \"%s\", key %s: %s; OpenDKIM's "
                           "RequireSafeKeys (%s) would refuse it",
                           where, rname, key,
                           rc == KW_EREJECTED ? why : kw_strerror(rc),
                           o->conf);
    return 0;
}

/* A key path with '%' is a template OpenDKIM fills with the sender's
 * domain: checked for each domain a SigningTable row (st) sends to the
 * row rname without a wildcard; a row only wildcards lead to cannot be
 * checked before mail comes. */
static int check_template(const odk *o, const char *key, const char *where,
                          const char *rname, const char *st, size_t st_len,
                          kw_diag *d)
{
    row r = {0};
    size_t pos = 0;
    int rc;

    while ((rc = next_row(st, st_len, &pos, &r, d)) == 1) {
        char dom[256], path[1400];
        size_t a = r.k1, i, n = 0;

        if (r.v0 == r.v1 || r.v1 - r.v0 != strlen(rname) ||
            strncasecmp(st + r.v0, rname, r.v1 - r.v0) != 0)
            continue;
        while (a > r.k0 && st[a - 1] != '@')
            a--;
        if (r.k1 - a >= sizeof(dom) ||
            memchr(st + a, '*', r.k1 - a) != NULL ||
            memchr(st + a, '?', r.k1 - a) != NULL ||
            memchr(st + a, '[', r.k1 - a) != NULL)
            continue;
        snprintf(dom, sizeof(dom), "%.*s", (int)(r.k1 - a), st + a);
        for (i = 0; key[i] != '\0' && n + 1 < sizeof(path); i++) {
            if (key[i] == '%') {
                n += (size_t)snprintf(path + n, sizeof(path) - n, "%s", dom);
                n = n < sizeof(path) ? n : sizeof(path) - 1;
            } else {
                path[n++] = key[i];
            }
        }
        path[n] = '\0';
        if ((rc = check_key(o, path, where, rname, d)) != 0)
            return rc;
    }
    return rc;
}

/* Every key the KeyTable text t names exists, loads and (with
 * RequireSafeKeys) is safe; st is the SigningTable beside it.  The error
 * names the table's file and line: the line now, or the line the switch
 * would write. */
static int odk_check_keys(const odk *o, const char *t, size_t len,
                          const char *st, size_t st_len, kw_diag *d)
{
    row r = {0};
    size_t pos;
    int rc = 0, pass;

    /* The rows the switch writes first: a refusal then names the key
     * being switched to, before older trouble elsewhere in the table. */
    for (pass = 0; pass < 2 && rc == 0; pass++) {
        pos = 0;
        r.line = 0;
        while ((rc = next_row(t, len, &pos, &r, d)) == 1) {
            char key[1100], where[1300], rname[520];
            const char *c1, *c2;
            int line;

            if (r.k0 == r.k1)
                continue;
            line = old_line(&o->keytable, t, &r);
            if ((line == 0) != (pass == 0))
                continue;
            if (line > 0)
                snprintf(where, sizeof(where), "%s:%d", o->keytable.path,
                         line);
            else
                snprintf(where, sizeof(where), "%s:%d (as the switch would "
                         "write it)", o->keytable.path, r.line);
            snprintf(rname, sizeof(rname), "%.*s", (int)(r.k1 - r.k0),
                     t + r.k0);
            c1 = memchr(t + r.v0, ':', r.r1 - r.v0);
            c2 = c1 != NULL
                     ? memchr(c1 + 1, ':', (size_t)(t + r.r1 - c1 - 1))
                     : NULL;
            if (c2 == NULL)
                return kw_diag_set(d, KW_EPARSE,
                                   "%s: KeyTable row \"%s\": expected "
                                   "DOMAIN:SELECTOR:KEYFILE",
                                   where, rname);
            snprintf(key, sizeof(key), "%.*s", (int)(t + r.r1 - c2 - 1),
                     c2 + 1);
            /* A value not starting with '/' is a key written in the
             * table itself (opendkim.conf(5)): no file to check. */
            if (key[0] != '/')
                continue;
            rc = strchr(key, '%') != NULL
                     ? check_template(o, key, where, rname, st, st_len, d)
                     : check_key(o, key, where, rname, d);
            if (rc != 0)
                return rc;
        }
    }
    return rc;
}

static int timeout_of(const kw_dkim_signer_conf *c)
{
    return c->timeout_ms > 0 ? c->timeout_ms : 30000;
}

static int odk_test(const kw_dkim_signer_conf *c, const char *conf,
                    kw_diag *d)
{
    const char *argv[] = {c->opendkim_bin != NULL ? c->opendkim_bin
                                                  : "opendkim",
                          "-n", "-x", conf, NULL};
    char out[2048];

    return run(argv, timeout_of(c), out, sizeof(out), d);
}

static const char *odk_conf_of(const kw_dkim_signer_conf *c)
{
    return c->opendkim_conf != NULL ? c->opendkim_conf
                                    : KW_DKIM_OPENDKIM_CONF;
}

/* Write the KeyTable as the switch's first step: the new rows added, the
 * old ones kept (the rows the old and the new SigningTable name).  Marks
 * o->keytable written when it wrote. */
static int odk_keytable_mid(odk *o, const kw_dkim_switch *sw, size_t n,
                            kw_diag *d)
{
    sbuf both = {0};
    char *kt = NULL, *next = NULL;
    size_t kt_len = o->keytable.old_len, next_len = 0, i;
    int rc;

    rc = sb_add(&both, o->signingtable.old, o->signingtable.old_len);
    if (rc == 0)
        rc = sb_add(&both, "\n", 1);
    if (rc == 0)
        rc = sb_add(&both, o->signingtable.new, o->signingtable.new_len);
    for (i = 0; i < n && rc == 0; i++) {
        rc = kw_dkim_keytable_set(kt != NULL ? kt : o->keytable.old, kt_len,
                                  sw[i].domain, sw[i].selector,
                                  sw[i].key_path, both.p, &next, &next_len,
                                  NULL, d);
        if (rc == 0) {
            free(kt);
            kt = next;
            kt_len = next_len;
        }
    }
    if (rc == 0 && (kt_len != o->keytable.old_len ||
                    memcmp(kt, o->keytable.old, kt_len) != 0) &&
        (rc = tfile_write(&o->keytable, kt, kt_len, d)) == 0)
        o->keytable.written = 1;
    free(kt);
    free(both.p);
    return rc;
}

static int odk_switch(const kw_dkim_signer_conf *c, const kw_dkim_switch *sw,
                      size_t n, kw_dkim_switch_result *res, kw_diag *d)
{
    odk o;
    tfile *f;
    size_t i;
    int rc;

    if ((rc = odk_read(&o, odk_conf_of(c), d)) != 0)
        goto out;
    /* Apply each domain's switch to the texts in memory. */
    for (i = 0; i < n && rc == 0; i++) {
        const char *st = o.signingtable.new != NULL ? o.signingtable.new
                                                    : o.signingtable.old;
        const char *kt = o.keytable.new != NULL ? o.keytable.new
                                                : o.keytable.old;
        size_t st_len = o.signingtable.new != NULL ? o.signingtable.new_len
                                                   : o.signingtable.old_len;
        size_t kt_len = o.keytable.new != NULL ? o.keytable.new_len
                                               : o.keytable.old_len;
        char name[600], *nst = NULL, *nkt = NULL;
        size_t nst_len, nkt_len;
        kw_diag td;

        snprintf(name, sizeof(name), "%s._domainkey.%s", sw[i].selector,
                 sw[i].domain);
        rc = kw_dkim_signingtable_set(st, st_len, sw[i].domain, name,
                                      o.refile, &nst, &nst_len, NULL, &td);
        if (rc != 0) {
            rc = kw_diag_set(d, rc, "%s: %s", o.signingtable.path, td.msg);
            break;
        }
        rc = kw_dkim_keytable_set(kt, kt_len, sw[i].domain, sw[i].selector,
                                  sw[i].key_path, nst, &nkt, &nkt_len, NULL,
                                  &td);
        if (rc != 0) {
            free(nst);
            rc = kw_diag_set(d, rc, "%s: %s", o.keytable.path, td.msg);
            break;
        }
        free(o.signingtable.new);
        free(o.keytable.new);
        o.signingtable.new = nst;
        o.signingtable.new_len = nst_len;
        o.keytable.new = nkt;
        o.keytable.new_len = nkt_len;
    }
    if (rc != 0)
        goto out;
    f = &o.keytable;
    res->changed = (f->new_len != f->old_len ||
                    memcmp(f->new, f->old, f->old_len) != 0) ||
                   o.signingtable.new_len != o.signingtable.old_len ||
                   memcmp(o.signingtable.new, o.signingtable.old,
                          o.signingtable.old_len) != 0;
    /* Checked even when nothing changes, so "already switched" also means
     * "and the keys are fine". */
    if ((rc = odk_check_keys(&o, o.keytable.new, o.keytable.new_len,
                             o.signingtable.new, o.signingtable.new_len,
                             d)) != 0)
        goto out;
    if (!res->changed)
        goto out;
    /* Three writes, so that OpenDKIM (re)started at any moment between
     * them, or after a crash, finds every row its SigningTable names:
     * the KeyTable with the new rows beside the old, the SigningTable,
     * then the KeyTable without the old rows. */
    {
        tfile both[2];

        if ((rc = odk_keytable_mid(&o, sw, n, d)) == 0) {
            /* dkim_rotate.h's test seam: killed between the writes. */
            const char *at = getenv("KEYWARDEN_TEST_DIE_AT");

            if (at != NULL && strcmp(at, "signer-mid-switch") == 0)
                raise(SIGKILL);
            both[0] = o.keytable;
            both[1] = o.signingtable;
            if ((rc = write_all(both, 2, d)) == 0 &&
                (rc = odk_test(c, o.conf, d)) != 0)
                put_back(both, 2, d);
        }
    }
    if (rc == 0)
        res->reload = 1;
out:
    tfile_free(&o.keytable);
    tfile_free(&o.signingtable);
    return rc;
}

/* ---- rspamd ------------------------------------------------------------ */

static int rsp_test(const kw_dkim_signer_conf *c, kw_diag *d)
{
    const char *argv[8];
    char out[2048], confdir[1100], localdir[1120];
    const char *slash;
    int i = 0;

    argv[i++] = c->rspamadm_bin != NULL ? c->rspamadm_bin : "rspamadm";
    if (c->rspamd_conf != NULL) {
        /* rspamd.conf includes through $CONFDIR and $LOCAL_CONFDIR,
         * compiled in as /etc/rspamd: a configuration elsewhere is read
         * whole only with both pointed at its directory. */
        slash = strrchr(c->rspamd_conf, '/');
        snprintf(confdir, sizeof(confdir), "--var=CONFDIR=%.*s",
                 slash != NULL ? (int)(slash - c->rspamd_conf) : 1,
                 slash != NULL ? c->rspamd_conf : ".");
        snprintf(localdir, sizeof(localdir), "--var=LOCAL_CONFDIR=%s",
                 confdir + strlen("--var=CONFDIR="));
        argv[i++] = confdir;
        argv[i++] = localdir;
    }
    argv[i++] = "configtest";
    if (c->rspamd_conf != NULL) {
        argv[i++] = "-c";
        argv[i++] = c->rspamd_conf;
    }
    argv[i] = NULL;
    return run(argv, timeout_of(c), out, sizeof(out), d);
}

static int rsp_switch(const kw_dkim_signer_conf *c, const kw_dkim_switch *sw,
                      size_t n, kw_dkim_switch_result *res, kw_diag *d)
{
    tfile f[2];
    size_t i, k, nf = c->path_map != NULL ? 2 : 1;
    int rc = 0;

    memset(f, 0, sizeof(f));
    if (c->selector_map == NULL)
        return kw_diag_set(d, KW_EINVAL, "rspamd: no selector_map to write");
    /* Without a path_map, rspamd's path template ($selector in it) finds
     * the key, and the selector map alone switches. */
    snprintf(f[0].path, sizeof(f[0].path), "%s", c->selector_map);
    if (nf == 2)
        snprintf(f[1].path, sizeof(f[1].path), "%s", c->path_map);
    for (k = 0; k < nf && rc == 0; k++)
        rc = tfile_read(&f[k], 1, d);
    for (i = 0; i < n && rc == 0; i++) {
        kw_dkim_pub pub;

        if ((rc = kw_dkim_key_load(sw[i].key_path, &pub, d)) != 0)
            break;
        for (k = 0; k < nf && rc == 0; k++) {
            const char *t = f[k].new != NULL ? f[k].new : f[k].old;
            size_t len = f[k].new != NULL ? f[k].new_len : f[k].old_len;
            char *nt = NULL;
            kw_diag td;

            rc = kw_dkim_map_set(t, len, sw[i].domain,
                                 k == 0 ? sw[i].selector : sw[i].key_path,
                                 &nt, &len, NULL, &td);
            if (rc != 0) {
                rc = kw_diag_set(d, rc, "%s: %s", f[k].path, td.msg);
                break;
            }
            free(f[k].new);
            f[k].new = nt;
            f[k].new_len = len;
        }
    }
    if (rc == 0) {
        res->changed = 0;
        for (k = 0; k < nf; k++)
            if (f[k].new_len != f[k].old_len ||
                memcmp(f[k].new, f[k].old, f[k].old_len) != 0)
                res->changed = 1;
    }
    if (rc == 0 && res->changed && (rc = write_all(f, nf, d)) == 0 &&
        (rc = rsp_test(c, d)) != 0)
        put_back(f, nf, d);
    if (rc == 0 && res->changed)
        res->reload = 1;
    for (k = 0; k < 2; k++)
        tfile_free(&f[k]);
    return rc;
}

/* ---- a program --------------------------------------------------------- */

static int exec_switch(const kw_dkim_signer_conf *c, const kw_dkim_switch *sw,
                       size_t n, kw_dkim_switch_result *res, kw_diag *d)
{
    const char *argv[64];
    char out[2048];
    size_t i, k = 0;
    int rc;

    if (c->argv == NULL || c->argv[0] == NULL)
        return kw_diag_set(d, KW_EINVAL, "signer = exec: no program");
    while (c->argv[k] != NULL)
        if (++k > 60)
            return kw_diag_set(d, KW_EINVAL, "signer program: too many "
                               "arguments");
    memcpy(argv, c->argv, k * sizeof(*argv));
    for (i = 0; i < n; i++) {
        argv[k] = sw[i].domain;
        argv[k + 1] = sw[i].selector;
        argv[k + 2] = sw[i].key_path;
        argv[k + 3] = NULL;
        if ((rc = run(argv, timeout_of(c), out, sizeof(out), d)) != 0) {
            size_t pos = strlen(d != NULL ? d->msg : "");

            if (d != NULL)
                kw_str_appendf(d->msg, sizeof(d->msg), &pos,
                               " (switching %s to %s)", sw[i].domain,
                               sw[i].selector);
            return rc;
        }
        res->changed = 1;
    }
    /* The program does whatever its signer needs, reload included. */
    return 0;
}

/* ---- entry points ------------------------------------------------------ */

int kw_dkim_signer_switch_many(const kw_dkim_signer_conf *c,
                               const kw_dkim_switch *sw, size_t n,
                               kw_dkim_switch_result *res, kw_diag *d)
{
    size_t i;
    int rc;

    memset(res, 0, sizeof(*res));
    if (c == NULL || (n > 0 && sw == NULL))
        return kw_diag_set(d, KW_EINVAL, "signer switch: no signer");
    for (i = 0; i < n; i++)
        if ((rc = check_switch(&sw[i], d)) != 0)
            return rc;
    if (n == 0)
        return 0;
    switch (c->kind) {
    case KW_DKIM_SIGNER_OPENDKIM: return odk_switch(c, sw, n, res, d);
    case KW_DKIM_SIGNER_RSPAMD: return rsp_switch(c, sw, n, res, d);
    case KW_DKIM_SIGNER_EXEC: return exec_switch(c, sw, n, res, d);
    }
    return kw_diag_set(d, KW_EINVAL, "signer switch: unknown signer kind %d",
                       (int)c->kind);
}

int kw_dkim_signer_switch(const kw_dkim_signer_conf *c, const char *domain,
                          const char *selector, const char *key_path,
                          kw_dkim_switch_result *res, kw_diag *d)
{
    kw_dkim_switch sw = {domain, selector, key_path};

    return kw_dkim_signer_switch_many(c, &sw, 1, res, d);
}

int kw_dkim_signer_check(const kw_dkim_signer_conf *c, kw_diag *d)
{
    odk o;
    int rc;

    if (c == NULL)
        return kw_diag_set(d, KW_EINVAL, "signer check: no signer");
    if (c->kind == KW_DKIM_SIGNER_RSPAMD)
        return rsp_test(c, d);
    if (c->kind != KW_DKIM_SIGNER_OPENDKIM)
        return 0;
    if ((rc = odk_read(&o, odk_conf_of(c), d)) == 0 &&
        (rc = odk_check_keys(&o, o.keytable.old, o.keytable.old_len,
                             o.signingtable.old, o.signingtable.old_len,
                             d)) == 0)
        rc = odk_test(c, o.conf, d);
    tfile_free(&o.keytable);
    tfile_free(&o.signingtable);
    return rc;
}
