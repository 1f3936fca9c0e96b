/*
 * dkim_source.c: OpenDKIM's and rspamd's configurations, keywarden's
 * [dkim "DOMAIN"] sections, and the orphan key files beside them.
 */
#include "dkim_source.h"

#include "dkim_rotate.h"

#include "../common/kw_fs.h"
#include "../keystore/ks_health.h"
#include "../common/kw_str.h"
#include "../common/kw_time.h"
#include "../common/kw_vec.h"

#include <ctype.h>
#include <dirent.h>
#include <fnmatch.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define MAX_NOTES 1000

const char *kw_dkim_role_name(kw_dkim_role r)
{
    switch (r) {
    case KW_DKIM_ROLE_SIGNING: return "signing";
    case KW_DKIM_ROLE_PUBLISHED: return "published";
    default: return "orphan";
    }
}

void kw_dkim_params_defaults(kw_dkim_params *p)
{
    memset(p, 0, sizeof(*p));
    p->max_age = 180 * KW_DAY;
    p->interval = KW_HOUR;
}

void kw_dkim_params_free(kw_dkim_params *p)
{
    size_t i;

    free(p->opendkim_conf);
    free(p->rspamd_conf);
    free(p->resolver);
    for (i = 0; i < p->noutbound; i++)
        free(p->outbound[i]);
    free(p->outbound);
    for (i = 0; i < p->nkeys; i++) {
        free(p->keys[i].domain);
        free(p->keys[i].selector);
        free(p->keys[i].key);
        free(p->keys[i].user);
    }
    free(p->keys);
    for (i = 0; i < p->nrot; i++)
        kw_dkim_rot_params_free(&p->rot[i]);
    free(p->rot);
    kw_dkim_params_defaults(p);
}

int kw_dkim_params_copy(kw_dkim_params *dst, const kw_dkim_params *src)
{
    int bad = 0;
    size_t i;

    *dst = *src;
    dst->outbound = NULL;
    dst->keys = NULL;
    dst->rot = NULL;
    dst->noutbound = dst->nkeys = dst->nrot = 0;
    dst->opendkim_conf = kw_strdup_opt(src->opendkim_conf, &bad);
    dst->rspamd_conf = kw_strdup_opt(src->rspamd_conf, &bad);
    dst->resolver = kw_strdup_opt(src->resolver, &bad);
    if (src->noutbound > 0 &&
        (dst->outbound = calloc(src->noutbound, sizeof(char *))) == NULL)
        bad = 1;
    for (i = 0; !bad && i < src->noutbound; i++, dst->noutbound++)
        dst->outbound[i] = kw_strdup_opt(src->outbound[i], &bad);
    if (!bad && src->nkeys > 0 &&
        (dst->keys = calloc(src->nkeys, sizeof(*dst->keys))) == NULL)
        bad = 1;
    for (i = 0; !bad && i < src->nkeys; i++, dst->nkeys++) {
        dst->keys[i].domain = kw_strdup_opt(src->keys[i].domain, &bad);
        dst->keys[i].selector = kw_strdup_opt(src->keys[i].selector, &bad);
        dst->keys[i].key = kw_strdup_opt(src->keys[i].key, &bad);
        dst->keys[i].user = kw_strdup_opt(src->keys[i].user, &bad);
        dst->keys[i].line = src->keys[i].line;
    }
    if (!bad && src->nrot > 0 &&
        (dst->rot = calloc(src->nrot, sizeof(*dst->rot))) == NULL)
        bad = 1;
    for (i = 0; !bad && i < src->nrot; i++, dst->nrot++)
        if (kw_dkim_rot_params_copy(&dst->rot[i], &src->rot[i]) != 0)
            bad = 1;
    if (bad) {
        kw_dkim_params_free(dst);
        return KW_ENOMEM;
    }
    return 0;
}

void kw_dkim_sources_free(kw_dkim_sources *s)
{
    size_t i;

    for (i = 0; i < s->nnotes; i++)
        free(s->notes[i]);
    free(s->notes);
    for (i = 0; i < s->nwatch; i++)
        free(s->watch[i]);
    free(s->watch);
    free(s->sel);
    memset(s, 0, sizeof(*s));
}

int kw_dkim_sources_watch(kw_dkim_sources *s, const char *path)
{
    char **nw;
    size_t i;

    /* A handful of files and key directories: a list is enough.  Past
     * the bound (a directory per domain, thousands of them) the periodic
     * scan finds changes; an inotify watch each would not scale either. */
    if (s->nwatch >= KW_DKIM_MAX_WATCH)
        return 0;
    for (i = 0; i < s->nwatch; i++)
        if (strcmp(s->watch[i], path) == 0)
            return 0;
    nw = kw_vec_grow(s->watch, &s->cap_watch, s->nwatch + 1, sizeof(*nw));
    if (nw == NULL)
        return KW_ENOMEM;
    s->watch = nw;
    if ((s->watch[s->nwatch] = strdup(path)) == NULL)
        return KW_ENOMEM;
    s->nwatch++;
    return 0;
}

#define note kw_dkim_sources_note

/* Past MAX_NOTES the rest are dropped, which the last note says. */
int kw_dkim_sources_note(kw_dkim_sources *s, const char *fmt, ...)
{
    char buf[768], **nn;
    va_list ap;

    if (s->nnotes > MAX_NOTES)
        return 0;
    if (s->nnotes == MAX_NOTES)
        snprintf(buf, sizeof(buf), "more than %d problems; the rest are "
                 "not listed", MAX_NOTES);
    else {
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
    }
    nn = kw_vec_grow(s->notes, &s->cap_notes, s->nnotes + 1, sizeof(*nn));
    if (nn == NULL)
        return KW_ENOMEM;
    s->notes = nn;
    if ((s->notes[s->nnotes] = strdup(buf)) == NULL)
        return KW_ENOMEM;
    s->nnotes++;
    return 0;
}

/* Copy src into dst, cut to cap - 1 bytes. */
static void copy(char *dst, size_t cap, const char *src)
{
    size_t n = src != NULL ? strlen(src) : 0;

    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src != NULL ? src : "", n);
    dst[n] = '\0';
}

/* Letters, digits, '-', '_' and dots between labels, at most max bytes. */
static int dns_name(const char *v, size_t max)
{
    size_t n = strlen(v);

    return n > 0 && n <= max && v[0] != '.' && v[n - 1] != '.' &&
           strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                     "0123456789.-_") == n &&
           strstr(v, "..") == NULL;
}

/* Append a selector; one already listed with the same name, key and
 * signer keeps the stronger role (signing over published). */
static int add_sel(kw_dkim_sources *s, const char *domain,
                   const char *selector, const char *key, const char *signer,
                   kw_dkim_role role, const char *source, int line,
                   const char *user)
{
    kw_dkim_sel *v;
    size_t i;

    /* What reaches DNS and the inventory's names must be a host name:
     * anything else is a line that was not meant or not read right. */
    if (!dns_name(domain, 253) || !dns_name(selector, 63))
        return note(s, "%s: \"%s\" selector \"%s\": not a domain and "
                    "selector DNS can hold; skipped",
                    source, domain, selector);
    for (i = 0; i < s->n; i++) {
        v = &s->sel[i];
        if (strcasecmp(v->domain, domain) == 0 &&
            strcmp(v->selector, selector) == 0 && strcmp(v->key, key) == 0 &&
            strcmp(v->signer, signer) == 0) {
            if (role < v->role) {
                v->role = role;
                copy(v->source, sizeof(v->source), source);
                v->line = line;
            }
            return 0;
        }
    }
    if (s->n >= KW_DKIM_MAX_SELECTORS)
        return KW_ETOOBIG;
    v = kw_vec_grow(s->sel, &s->cap, s->n + 1, sizeof(*v));
    if (v == NULL)
        return KW_ENOMEM;
    s->sel = v;
    v = &s->sel[s->n++];
    memset(v, 0, sizeof(*v));
    copy(v->domain, sizeof(v->domain), domain);
    for (i = 0; v->domain[i] != '\0'; i++)
        v->domain[i] = (char)tolower((unsigned char)v->domain[i]);
    copy(v->selector, sizeof(v->selector), selector);
    copy(v->key, sizeof(v->key), key);
    v->signer = signer;
    v->role = role;
    copy(v->source, sizeof(v->source), source);
    v->line = line;
    copy(v->user, sizeof(v->user), user);
    return 0;
}

/* Read a whole file, or note why not (1: noted, the caller goes on). */
static int slurp(kw_dkim_sources *s, const char *path, char **out,
                 size_t *len)
{
    unsigned char *buf = NULL;
    kw_diag d;
    int r;

    /* Looked for is enough: a file that appears later matters too. */
    if (kw_dkim_sources_watch(s, path) != 0)
        return KW_ENOMEM;
    r = kw_fs_read_regular(path, KW_DKIM_MAX_FILE, &buf, len, &d);
    *out = (char *)buf;
    if (r == KW_ENOMEM)
        return r;
    if (r != 0 && s->reading != NULL) {
        size_t i;

        for (i = 0; i < s->nfailed; i++)
            if (strcmp(s->failed[i].signer, s->reading) == 0)
                break;
        if (i == s->nfailed && i < sizeof(s->failed) / sizeof(s->failed[0])) {
            kw_dkim_failed *f = &s->failed[s->nfailed++];
            size_t pos = 0;

            f->signer = s->reading;
            /* Permissions: the signer, as another user, may read it. */
            kw_str_appendf(f->why, sizeof(f->why), &pos, "%s%s",
                           r == KW_EACCES ? KS_ERR_CANNOT_OPEN : "", d.msg);
        }
    }
    if (r != 0)
        return note(s, "%s", d.msg) != 0 ? KW_ENOMEM : 1;
    return 0;
}

/* The next line of buf (modified: NUL-terminated, comment from '#' cut,
 * trimmed); NULL at the end. */
static char *next_line(char **cur, int *lineno)
{
    char *line = *cur, *nl, *e;

    if (line == NULL || *line == '\0')
        return NULL;
    nl = strchr(line, '\n');
    if (nl != NULL) {
        *nl = '\0';
        *cur = nl + 1;
    } else {
        *cur = line + strlen(line);
    }
    (*lineno)++;
    if ((e = strchr(line, '#')) != NULL)
        *e = '\0';
    while (isspace((unsigned char)*line))
        line++;
    e = line + strlen(line);
    while (e > line && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return line;
}

/* Split "word rest": the first word, NUL-terminated; *rest the trimmed
 * remainder ("" when none). */
static char *split_word(char *line, char **rest)
{
    char *p = line;

    while (*p != '\0' && !isspace((unsigned char)*p))
        p++;
    if (*p != '\0')
        *p++ = '\0';
    while (isspace((unsigned char)*p))
        p++;
    *rest = p;
    return line;
}

/* path, made absolute against the directory of base when relative. */
static void resolve(const char *base, const char *path, char *out,
                    size_t cap)
{
    const char *slash = strrchr(base, '/');

    if (path[0] == '/' || slash == NULL)
        copy(out, cap, path);
    else
        snprintf(out, cap, "%.*s/%s", (int)(slash - base), base, path);
}

/* ---- OpenDKIM ---------------------------------------------------------- */

/* One row of a data set: its key, its value, where it was written. */
typedef struct ds_row {
    char key[512];
    char value[1536];
    char file[1024];
    int line;
} ds_row;

typedef struct ds_rows {
    ds_row *v;
    size_t n, cap;
} ds_rows;

static int ds_add(ds_rows *rows, const char *key, const char *value,
                  const char *file, int line)
{
    ds_row *v = kw_vec_grow(rows->v, &rows->cap, rows->n + 1, sizeof(*v));

    if (v == NULL)
        return KW_ENOMEM;
    rows->v = v;
    v = &rows->v[rows->n++];
    copy(v->key, sizeof(v->key), key);
    copy(v->value, sizeof(v->value), value);
    copy(v->file, sizeof(v->file), file);
    v->line = line;
    return 0;
}

/* Read an OpenDKIM data set (opendkim.conf(5), "DATA SETS") named by
 * spec, set in conf at line: "file:PATH", "refile:PATH" or a bare path
 * (a file of "key value" lines), or "csl:a=b,c=d" (a list, each item
 * "key=value", or just "key" for a set).  Other kinds (db:, ldap:, lua:)
 * are noted, not read.  *refile is set for refile:. */
static int read_dataset(kw_dkim_sources *s, const char *what,
                        const char *spec, const char *conf, int line,
                        ds_rows *rows, int *refile)
{
    char path[1024], *buf = NULL, *cur, *l, *rest;
    size_t len;
    int n = 0, r;

    *refile = 0;
    if (strncmp(spec, "csl:", 4) == 0) {
        char list[2048], *item, *save = NULL;

        copy(list, sizeof(list), spec + 4);
        for (item = strtok_r(list, ",", &save); item != NULL;
             item = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(item, '=');

            while (isspace((unsigned char)*item))
                item++;
            if (eq != NULL)
                *eq = '\0';
            if ((r = ds_add(rows, item, eq != NULL ? eq + 1 : "", conf,
                            line)) != 0)
                return r;
        }
        return 0;
    }
    if (strncmp(spec, "refile:", 7) == 0) {
        *refile = 1;
        spec += 7;
    } else if (strncmp(spec, "file:", 5) == 0) {
        spec += 5;
    } else if (spec[0] != '/' && strchr(spec, ':') != NULL) {
        return note(s, "%s:%d: %s %s: this kind of data set is not read; "
                    "list its keys with [dkim \"DOMAIN\"] sections",
                    conf, line, what, spec);
    }
    resolve(conf, spec, path, sizeof(path));
    if ((r = slurp(s, path, &buf, &len)) != 0)
        return r < 0 ? r : 0;
    cur = buf;
    while ((l = next_line(&cur, &n)) != NULL) {
        if (*l == '\0')
            continue;
        split_word(l, &rest);
        if ((r = ds_add(rows, l, rest, path, n)) != 0)
            break;
    }
    free(buf);
    return r < 0 ? r : 0;
}

/* The domain part of a SigningTable pattern ("*@example.com",
 * "example.com", "user@example.com"), when it has no wildcard. */
static int pattern_domain(const char *pat, char *out, size_t cap)
{
    const char *at = strrchr(pat, '@');
    const char *dom = at != NULL ? at + 1 : pat;

    if (*dom == '\0' || strpbrk(dom, "*?[") != NULL)
        return 0;
    copy(out, cap, dom);
    return 1;
}

/* opendkim.conf's options that matter here, with their lines. */
typedef struct odk_conf {
    char keytable[1024], signingtable[1024], keyfile[1024];
    char selector[64], domain[1024], user[64];
    int keytable_line, signingtable_line, keyfile_line, selector_line,
        domain_line;
} odk_conf;

static void odk_option(odk_conf *c, const char *k, const char *v, int line)
{
    const struct {
        const char *name;
        char *buf;
        size_t cap;
        int *line;
    } opts[] = {
        {"KeyTable", c->keytable, sizeof(c->keytable), &c->keytable_line},
        {"SigningTable", c->signingtable, sizeof(c->signingtable),
         &c->signingtable_line},
        {"KeyFile", c->keyfile, sizeof(c->keyfile), &c->keyfile_line},
        {"Selector", c->selector, sizeof(c->selector), &c->selector_line},
        {"Domain", c->domain, sizeof(c->domain), &c->domain_line},
        {"UserID", c->user, sizeof(c->user), NULL},
    };
    size_t i;

    for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        if (strcasecmp(k, opts[i].name) != 0)
            continue;
        copy(opts[i].buf, opts[i].cap, v);
        if (opts[i].line != NULL)
            *opts[i].line = line;
    }
    /* UserID is "user[:group]": the user is who reads the keys. */
    c->user[strcspn(c->user, ":")] = '\0';
}

/* The KeyTable's rows, each signing when a SigningTable row names it. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int odk_keytable(kw_dkim_sources *s, const char *conf,
                        const odk_conf *c)
{
    ds_rows kt = {0}, st = {0};
    const char **names = NULL;
    int refile, r;
    size_t i, j;

    r = read_dataset(s, "KeyTable", c->keytable, conf, c->keytable_line,
                     &kt, &refile);
    if (r == 0 && c->signingtable[0] != '\0')
        r = read_dataset(s, "SigningTable", c->signingtable, conf,
                         c->signingtable_line, &st, &refile);
    /* A SigningTable value is "KEYNAME [SIGNER]": keep the name, sorted,
     * so each KeyTable row is looked up, not compared with every row. */
    if (r == 0 && (names = calloc(st.n + 1, sizeof(*names))) == NULL)
        r = KW_ENOMEM;
    for (j = 0; r == 0 && j < st.n; j++) {
        char *rest;

        names[j] = split_word(st.v[j].value, &rest);
    }
    if (r == 0 && st.n > 1)
        qsort(names, st.n, sizeof(*names), cmp_str);
    for (i = 0; r == 0 && i < kt.n; i++) {
        ds_row *k = &kt.v[i];
        char *dom = k->value, *sel, *key, path[1024], src[1100];
        kw_dkim_role role = KW_DKIM_ROLE_PUBLISHED;
        int pct;

        sel = strchr(dom, ':');
        key = sel != NULL ? strchr(sel + 1, ':') : NULL;
        if (key == NULL || sel == dom || key == sel + 1 || key[1] == '\0') {
            r = note(s, "%s:%d: KeyTable row \"%s\": expected "
                     "DOMAIN:SELECTOR:KEYFILE, found \"%s\"",
                     k->file, k->line, k->key, k->value);
            continue;
        }
        *sel++ = '\0';
        *key++ = '\0';
        if (key[0] != '/' && strncmp(key, "./", 2) != 0 &&
            strncmp(key, "../", 3) != 0) {
            r = note(s, "%s:%d: KeyTable row \"%s\": the key is written in "
                     "the table itself; keywarden checks key files only",
                     k->file, k->line, k->key);
            continue;
        }
        resolve(k->file, key, path, sizeof(path));
        snprintf(src, sizeof(src), "%s:%d", k->file, k->line);
        {
            const char *want = k->key;

            if (st.n > 0 && bsearch(&want, names, st.n, sizeof(*names),
                                    cmp_str) != NULL)
                role = KW_DKIM_ROLE_SIGNING;
        }
        /* "%" signs for the sender's domain: the SigningTable patterns
         * that lead to this key name the domains. */
        pct = strcmp(dom, "%") == 0;
        for (j = 0; pct && r == 0 && j < st.n; j++) {
            char d2[256];

            if (strcmp(st.v[j].value, k->key) == 0 &&
                pattern_domain(st.v[j].key, d2, sizeof(d2)))
                r = add_sel(s, d2, sel, path, "opendkim",
                            KW_DKIM_ROLE_SIGNING, src, k->line, c->user);
        }
        if (!pct && r == 0)
            r = add_sel(s, dom, sel, path, "opendkim", role, src, k->line,
                        c->user);
        else if (pct && r == 0 && role != KW_DKIM_ROLE_SIGNING)
            r = note(s, "%s:%d: KeyTable row \"%s\": domain \"%%\" and no "
                     "SigningTable row with a domain leads to it",
                     k->file, k->line, k->key);
    }
    free(names);
    free(kt.v);
    free(st.v);
    return r;
}

/* Single-key mode: Domain (a data set of domains) + Selector + KeyFile. */
static int odk_single(kw_dkim_sources *s, const char *conf,
                      const odk_conf *c)
{
    char path[1024], src[1100];
    int r = 0, refile;
    size_t i;

    if (c->keyfile[0] == '\0' && c->selector[0] == '\0')
        return 0;
    if (c->keyfile[0] == '\0' || c->selector[0] == '\0' ||
        c->domain[0] == '\0')
        return note(s, "%s:%d: single-key signing needs Domain, Selector "
                    "and KeyFile; one is missing",
                    conf, c->keyfile_line ? c->keyfile_line
                                          : c->selector_line);
    resolve(conf, c->keyfile, path, sizeof(path));
    snprintf(src, sizeof(src), "%s:%d", conf, c->keyfile_line);
    if (c->domain[0] == '/' || strncmp(c->domain, "file:", 5) == 0 ||
        strncmp(c->domain, "refile:", 7) == 0 ||
        strncmp(c->domain, "csl:", 4) == 0) {
        ds_rows doms = {0};

        r = read_dataset(s, "Domain", c->domain, conf, c->domain_line, &doms,
                         &refile);
        for (i = 0; r == 0 && i < doms.n; i++)
            r = add_sel(s, doms.v[i].key, c->selector, path, "opendkim",
                        KW_DKIM_ROLE_SIGNING, src, c->keyfile_line, c->user);
        free(doms.v);
        return r;
    } else {
        /* A plain value: one domain, or several separated by commas. */
        char list[1024], *item, *save = NULL;

        copy(list, sizeof(list), c->domain);
        for (item = strtok_r(list, ", \t", &save); r == 0 && item != NULL;
             item = strtok_r(NULL, ", \t", &save))
            r = add_sel(s, item, c->selector, path, "opendkim",
                        KW_DKIM_ROLE_SIGNING, src, c->keyfile_line, c->user);
    }
    return r;
}

int kw_dkim_read_opendkim(const char *conf, kw_dkim_sources *out)
{
    odk_conf c;
    char *buf = NULL, *cur, *l, *v;
    size_t len;
    int n = 0, r;

    memset(&c, 0, sizeof(c));
    out->reading = "opendkim";
    if ((r = slurp(out, conf, &buf, &len)) != 0)
        return r < 0 ? r : 0;
    cur = buf;
    while ((l = next_line(&cur, &n)) != NULL) {
        if (*l == '\0')
            continue;
        split_word(l, &v);
        if (*v == '\0' && (r = note(out, "%s:%d: %s: no value", conf, n,
                                    l)) != 0)
            break;
        odk_option(&c, l, v, n);
    }
    free(buf);
    if (r != 0)
        return r;
    /* opendkim.conf(5): Domain, Selector and KeyFile are ignored when a
     * KeyTable is defined. */
    return c.keytable[0] != '\0' ? odk_keytable(out, conf, &c)
                                 : odk_single(out, conf, &c);
}

/* ---- rspamd ------------------------------------------------------------ */

/* A value of a UCL file, flattened: its key path joined by '/'
 * ("dkim_signing/domain/example.com/selector"). */
typedef struct ucl_ent {
    char key[512];
    char value[1024];
    const char *file;
    int line;
} ucl_ent;

typedef struct ucl_ents {
    ucl_ent *v;
    size_t n, cap;
} ucl_ents;

#define UCL_MAX_DEPTH 16
#define UCL_MAX_ENTRIES 20000

typedef struct ucl_in {
    const char *p, *end, *file;
    int line;
} ucl_in;

/* Skip whitespace, ';' and ',' separators and comments (#, //, and
 * nested-free C comments). */
static void ucl_skip(ucl_in *in)
{
    while (in->p < in->end) {
        char c = *in->p;

        if (c == '\n') {
            in->line++;
            in->p++;
        } else if (isspace((unsigned char)c) || c == ';' || c == ',') {
            in->p++;
        } else if (c == '#' ||
                   (c == '/' && in->p + 1 < in->end && in->p[1] == '/')) {
            while (in->p < in->end && *in->p != '\n')
                in->p++;
        } else if (c == '/' && in->p + 1 < in->end && in->p[1] == '*') {
            in->p += 2;
            while (in->p + 1 < in->end && !(in->p[0] == '*' && in->p[1] == '/')) {
                in->line += *in->p == '\n';
                in->p++;
            }
            in->p = in->p + 2 <= in->end ? in->p + 2 : in->end;
        } else {
            return;
        }
    }
}

/* A quoted string or a bare word into out; bare words end at whitespace
 * or punctuation (a value at ';', ',', '}', '#' or the end of the line). */
static int ucl_word(ucl_in *in, char *out, size_t cap, int value)
{
    size_t n = 0;

    if (in->p < in->end && (*in->p == '"' || *in->p == '\'')) {
        char q = *in->p++;

        while (in->p < in->end && *in->p != q && *in->p != '\n') {
            if (*in->p == '\\' && in->p + 1 < in->end)
                in->p++;
            if (n + 1 < cap)
                out[n++] = *in->p;
            in->p++;
        }
        if (in->p >= in->end || *in->p != q)
            return -1;
        in->p++;
    } else if (value) {
        while (in->p < in->end && strchr(";,}\n#", *in->p) == NULL) {
            if (n + 1 < cap)
                out[n++] = *in->p;
            in->p++;
        }
        while (n > 0 && isspace((unsigned char)out[n - 1]))
            n--;
    } else {
        while (in->p < in->end && !isspace((unsigned char)*in->p) &&
               strchr("=:{}[];,#\"", *in->p) == NULL) {
            if (n + 1 < cap)
                out[n++] = *in->p;
            in->p++;
        }
    }
    out[n] = '\0';
    return n > 0 || value ? 0 : -1;
}

/* Skip a [ ... ] array, quotes respected. */
static int ucl_skip_array(ucl_in *in)
{
    int depth = 0;

    while (in->p < in->end) {
        char c = *in->p;

        if (c == '"' || c == '\'') {
            char tmp[8];

            if (ucl_word(in, tmp, sizeof(tmp), 1) != 0)
                return -1;
            continue;
        }
        in->line += c == '\n';
        in->p++;
        if (c == '[')
            depth++;
        else if (c == ']' && --depth == 0)
            return 0;
    }
    return -1;
}

/* Read the subset of UCL rspamd's local.d files use: "key = value;",
 * "key = "value";", "key { ... }" blocks, comments; arrays are skipped
 * (noted when they hold selectors), ".include" lines ignored (the files
 * they name are read by name). */
static int ucl_parse(kw_dkim_sources *s, const char *file, const char *buf,
                     size_t len, ucl_ents *out)
{
    char stack[UCL_MAX_DEPTH][128], key[128], val[1024];
    int depth = 0;
    ucl_in in = {buf, buf + len, file, 1};

    for (;;) {
        ucl_ent *e;
        char prefix[512];
        size_t pos = 0;
        int i, kline;

        ucl_skip(&in);
        if (in.p >= in.end)
            break;
        if (*in.p == '}') {
            if (depth == 0)
                return note(s, "%s:%d: '}' without a block to close", file,
                            in.line);
            depth--;
            in.p++;
            continue;
        }
        if (*in.p == '.') {
            while (in.p < in.end && *in.p != '\n')
                in.p++;
            continue;
        }
        kline = in.line;
        if (ucl_word(&in, key, sizeof(key), 0) != 0)
            return note(s, "%s:%d: expected a key, found '%c'; the rest "
                        "of the file is not read",
                        file, in.line, *in.p);
        while (in.p < in.end && (*in.p == ' ' || *in.p == '\t'))
            in.p++;
        if (in.p < in.end && (*in.p == '=' || *in.p == ':'))
            in.p++;
        while (in.p < in.end && (*in.p == ' ' || *in.p == '\t'))
            in.p++;
        if (in.p < in.end && *in.p == '{') {
            if (depth >= UCL_MAX_DEPTH)
                return note(s, "%s:%d: blocks nested deeper than %d; the "
                            "rest of the file is not read",
                            file, in.line, UCL_MAX_DEPTH);
            copy(stack[depth++], sizeof(stack[0]), key);
            in.p++;
            continue;
        }
        if (in.p < in.end && *in.p == '[') {
            if (strcmp(key, "selectors") == 0 &&
                note(s, "%s:%d: selectors = [ ... ]: lists of selectors "
                     "are not read; use one selector and path per domain",
                     file, kline) != 0)
                return KW_ENOMEM;
            if (ucl_skip_array(&in) != 0)
                return note(s, "%s:%d: unterminated [ ... ]", file, kline);
            continue;
        }
        if (in.p + 1 < in.end && in.p[0] == '<' && in.p[1] == '<')
            return note(s, "%s:%d: %s: heredoc values are not read; the "
                        "rest of the file is not read",
                        file, kline, key);
        if (ucl_word(&in, val, sizeof(val), 1) != 0)
            return note(s, "%s:%d: %s: unterminated quoted value", file,
                        kline, key);
        prefix[0] = '\0';
        for (i = 0; i < depth; i++)
            kw_str_appendf(prefix, sizeof(prefix), &pos, "%s/", stack[i]);
        if (out->n >= UCL_MAX_ENTRIES)
            return note(s, "%s: more than %d values; the rest is not read",
                        file, UCL_MAX_ENTRIES);
        e = kw_vec_grow(out->v, &out->cap, out->n + 1, sizeof(*e));
        if (e == NULL)
            return KW_ENOMEM;
        out->v = e;
        e = &out->v[out->n++];
        pos = 0;
        kw_str_appendf(e->key, sizeof(e->key), &pos, "%s%s", prefix, key);
        copy(e->value, sizeof(e->value), val);
        e->file = file;
        e->line = kline;
    }
    if (depth > 0)
        return note(s, "%s: a block opened with '{' is not closed", file);
    return 0;
}

/* rspamd's effective dkim_signing settings, later files overriding. */
typedef struct rsp_set {
    const ucl_ent *selector, *path, *selector_map, *path_map, *enabled;
} rsp_set;

/* A domain { NAME { ... } } block. */
typedef struct rsp_dom {
    char name[256];
    const ucl_ent *selector, *path;
} rsp_dom;

static const char *ev(const ucl_ent *e, const char *dflt)
{
    return e != NULL ? e->value : dflt;
}

/* Replace $domain and $selector (and ${...}) in tpl. */
static void expand(const char *tpl, const char *domain, const char *sel,
                   char *out, size_t cap)
{
    size_t pos = 0;

    out[0] = '\0';
    while (*tpl != '\0') {
        if (strncmp(tpl, "$domain", 7) == 0 ||
            strncmp(tpl, "${domain}", 9) == 0) {
            kw_str_appendf(out, cap, &pos, "%s", domain);
            tpl += tpl[1] == '{' ? 9 : 7;
        } else if (strncmp(tpl, "$selector", 9) == 0 ||
                   strncmp(tpl, "${selector}", 11) == 0) {
            kw_str_appendf(out, cap, &pos, "%s", sel);
            tpl += tpl[1] == '{' ? 11 : 9;
        } else {
            kw_str_appendf(out, cap, &pos, "%c", *tpl++);
        }
    }
}

/* A map file of "domain value" lines (rspamd's selector_map, path_map);
 * "file://" is optional. */
static int read_map(kw_dkim_sources *s, const ucl_ent *e, ds_rows *rows)
{
    const char *p = e->value;
    int refile;

    if (strncmp(p, "file://", 7) == 0)
        p += 7;
    if (p[0] != '/')
        return note(s, "%s:%d: %s: only local map files are read", e->file,
                    e->line, e->value);
    return read_dataset(s, "map", p, e->file, e->line, rows, &refile);
}

static const char *map_get(const ds_rows *m, const char *domain)
{
    size_t i;

    for (i = 0; i < m->n; i++)
        if (strcasecmp(m->v[i].key, domain) == 0)
            return m->v[i].value;
    return NULL;
}

/* The key files the path template matches: the directory is fixed, and
 * $domain in the file name is what each file holds. */
static int rsp_template(kw_dkim_sources *s, const char *tpl, const char *sel,
                        const char *src, int line, const char *user)
{
    char pat[1024], dir[1024], glob[512], *hole;
    const char *base;
    DIR *dh;
    struct dirent *de;
    int r = 0;

    expand(tpl, "\x01", sel, pat, sizeof(pat));
    base = strrchr(pat, '/');
    if (base == NULL || strchr(base, '\x01') == NULL ||
        memchr(pat, '\x01', (size_t)(base - pat)) != NULL ||
        strchr(pat, '$') != NULL)
        return 0;
    snprintf(dir, sizeof(dir), "%.*s", (int)(base - pat), pat);
    copy(glob, sizeof(glob), base + 1);
    /* A file name longer than glob keeps may lose its $domain: no name
     * on disk (255 bytes at most) can match it anyway. */
    if ((hole = strchr(glob, '\x01')) == NULL)
        return 0;
    if ((dh = opendir(dir)) == NULL)
        return 0;
    while (r == 0 && (de = readdir(dh)) != NULL) {
        size_t pre = (size_t)(hole - glob), post = strlen(hole + 1);
        size_t n = strlen(de->d_name), pos;
        char domain[256], path[1100];

        if (n <= pre + post || strncmp(de->d_name, glob, pre) != 0 ||
            strcmp(de->d_name + n - post, hole + 1) != 0 ||
            de->d_name[0] == '.')
            continue;
        snprintf(domain, sizeof(domain), "%.*s", (int)(n - pre - post),
                 de->d_name + pre);
        if (strchr(domain, '.') == NULL)
            continue;
        pos = 0;
        kw_str_appendf(path, sizeof(path), &pos, "%s/%s", dir, de->d_name);
        r = add_sel(s, domain, sel, path, "rspamd", KW_DKIM_ROLE_SIGNING,
                    src, line, user);
    }
    closedir(dh);
    return r;
}

/* The user rspamd runs as: Debian's _rspamd, or upstream's rspamd. */
static const char *rspamd_user(void)
{
    return getpwnam("_rspamd") != NULL  ? "_rspamd"
           : getpwnam("rspamd") != NULL ? "rspamd"
                                        : "";
}

static int rsp_apply(kw_dkim_sources *s, const ucl_ents *ents,
                     const char *prefix, rsp_set *set, rsp_dom **doms,
                     size_t *ndoms, size_t *cap)
{
    size_t i, plen = strlen(prefix);

    for (i = 0; i < ents->n; i++) {
        const ucl_ent *e = &ents->v[i];
        const char *k = e->key;

        if (strncmp(k, prefix, plen) != 0)
            continue;
        k += plen;
        if (strcmp(k, "selector") == 0)
            set->selector = e;
        else if (strcmp(k, "path") == 0)
            set->path = e;
        else if (strcmp(k, "selector_map") == 0)
            set->selector_map = e;
        else if (strcmp(k, "path_map") == 0)
            set->path_map = e;
        else if (strcmp(k, "enabled") == 0)
            set->enabled = e;
        else if (strncmp(k, "domain/", 7) == 0) {
            const char *name = k + 7, *field = strchr(name, '/');
            rsp_dom *d = NULL;
            size_t j, nl;

            if (field == NULL || strchr(field + 1, '/') != NULL)
                continue;
            nl = (size_t)(field - name);
            for (j = 0; j < *ndoms; j++)
                if (strlen((*doms)[j].name) == nl &&
                    strncasecmp((*doms)[j].name, name, nl) == 0)
                    d = &(*doms)[j];
            if (d == NULL) {
                rsp_dom *nd = kw_vec_grow(*doms, cap, *ndoms + 1,
                                          sizeof(*nd));
                if (nd == NULL)
                    return KW_ENOMEM;
                *doms = nd;
                d = &nd[(*ndoms)++];
                memset(d, 0, sizeof(*d));
                snprintf(d->name, sizeof(d->name), "%.*s", (int)nl, name);
            }
            if (strcmp(field + 1, "selector") == 0)
                d->selector = e;
            else if (strcmp(field + 1, "path") == 0)
                d->path = e;
        }
    }
    return 0;
}

int kw_dkim_read_rspamd(const char *dir, kw_dkim_sources *out)
{
    static const char *const files[] = {"modules.d/dkim_signing.conf",
                                        "local.d/dkim_signing.conf",
                                        "override.d/dkim_signing.conf"};
    char paths[3][1100];
    ucl_ents ents[3];
    rsp_set set;
    rsp_dom *doms = NULL;
    ds_rows smap = {0}, pmap = {0};
    size_t ndoms = 0, cap = 0, i;
    const char *user = rspamd_user(), *dflt_sel, *dflt_path;
    char src[1100];
    int r = 0, any = 0;

    memset(ents, 0, sizeof(ents));
    memset(&set, 0, sizeof(set));
    out->reading = "rspamd";
    for (i = 0; r == 0 && i < 3; i++) {
        char *buf = NULL;
        size_t len;
        struct stat st;

        snprintf(paths[i], sizeof(paths[i]), "%s/%s", dir, files[i]);
        /* A local.d file written later turns signing on. */
        if ((r = kw_dkim_sources_watch(out, paths[i])) != 0)
            break;
        if (stat(paths[i], &st) != 0)
            continue;
        any = 1;
        if ((r = slurp(out, paths[i], &buf, &len)) != 0) {
            r = r < 0 ? r : 0;
            continue;
        }
        r = ucl_parse(out, paths[i], buf, len, &ents[i]);
        free(buf);
        /* The package's file wraps its defaults in dkim_signing { };
         * local.d and override.d hold the keys themselves. */
        if (r == 0)
            r = rsp_apply(out, &ents[i], i == 0 ? "dkim_signing/" : "",
                          &set, &doms, &ndoms, &cap);
    }
    if (r != 0 || !any)
        goto out;
    if (set.enabled != NULL && (strcmp(set.enabled->value, "false") == 0 ||
                                strcmp(set.enabled->value, "no") == 0))
        goto out;
    dflt_sel = ev(set.selector, "dkim");
    dflt_path = ev(set.path, KW_DKIM_RSPAMD_PATH);
    if (set.selector_map != NULL)
        r = read_map(out, set.selector_map, &smap);
    if (r == 0 && set.path_map != NULL)
        r = read_map(out, set.path_map, &pmap);
    /* domain { NAME { selector; path } } blocks. */
    for (i = 0; r == 0 && i < ndoms; i++) {
        const rsp_dom *d = &doms[i];
        const ucl_ent *at = d->path ? d->path : d->selector;
        const char *sel = ev(d->selector, dflt_sel);
        char path[1024];

        expand(ev(d->path, dflt_path), d->name, sel, path, sizeof(path));
        snprintf(src, sizeof(src), "%s:%d", at ? at->file : dir,
                 at ? at->line : 0);
        r = add_sel(out, d->name, sel, path, "rspamd", KW_DKIM_ROLE_SIGNING,
                    src, at ? at->line : 0, user);
    }
    /* The domains the maps name. */
    for (i = 0; r == 0 && i < smap.n + pmap.n; i++) {
        const ds_row *m = i < smap.n ? &smap.v[i] : &pmap.v[i - smap.n];
        const char *sel = map_get(&smap, m->key), *p = map_get(&pmap, m->key);
        char path[1024];

        if (sel == NULL)
            sel = dflt_sel;
        expand(p != NULL ? p : dflt_path, m->key, sel, path, sizeof(path));
        snprintf(src, sizeof(src), "%s:%d", m->file, m->line);
        r = add_sel(out, m->key, sel, path, "rspamd", KW_DKIM_ROLE_SIGNING,
                    src, m->line, user);
    }
    /* Any other domain: the key files the path template finds. */
    if (r == 0) {
        snprintf(src, sizeof(src), "%s:%d",
                 set.path ? set.path->file : "rspamd's default path",
                 set.path ? set.path->line : 0);
        r = rsp_template(out, dflt_path, dflt_sel, src,
                         set.path ? set.path->line : 0, user);
    }
out:
    for (i = 0; i < 3; i++)
        free(ents[i].v);
    free(doms);
    free(smap.v);
    free(pmap.v);
    return r;
}

int kw_dkim_read_rspamd_maps(const char *selector_map, const char *path_map,
                             kw_dkim_sources *out)
{
    ds_rows smap = {0}, pmap = {0};
    const char *key;
    size_t i;
    int refile, r;

    out->reading = "rspamd";
    r = read_dataset(out, "selector_map", selector_map, selector_map, 0,
                     &smap, &refile);
    if (r == 0 && path_map != NULL)
        r = read_dataset(out, "path_map", path_map, path_map, 0, &pmap,
                         &refile);
    for (i = 0; r == 0 && i < smap.n; i++) {
        char src[1100];

        key = path_map != NULL ? map_get(&pmap, smap.v[i].key) : "";
        if (key == NULL)
            continue;
        snprintf(src, sizeof(src), "%s:%d", smap.v[i].file, smap.v[i].line);
        r = add_sel(out, smap.v[i].key, smap.v[i].value, key, "rspamd",
                    KW_DKIM_ROLE_SIGNING, src, smap.v[i].line,
                    rspamd_user());
    }
    free(smap.v);
    free(pmap.v);
    return r;
}

/* ---- orphans and the whole ------------------------------------------- */

static int is_key_name(const char *name)
{
    return name[0] != '.' &&
           (kw_str_endswith(name, ".private") || kw_str_endswith(name, ".key") ||
            kw_str_endswith(name, ".pem") || kw_str_endswith(name, ".der"));
}

/* The domain an orphan file belongs to: its directory's name when that is
 * a domain (/etc/dkimkeys/example.com/s1.private), rspamd's
 * DOMAIN.SELECTOR.key, or the one domain of the keys beside it. */
static void orphan_name(const kw_dkim_sources *s, const char *dir,
                        const char *file, char *domain, size_t dcap,
                        char *sel, size_t scap)
{
    const char *dbase = strrchr(dir, '/'), *dot = strrchr(file, '.');
    const char *one = NULL;
    size_t i, dlen = strlen(dir);

    snprintf(sel, scap, "%.*s", (int)(dot - file), file);
    domain[0] = '\0';
    if (kw_str_endswith(file, ".key")) {
        char *last = strrchr(sel, '.');

        if (last != NULL && strchr(sel, '.') != last) {
            snprintf(domain, dcap, "%.*s", (int)(last - sel), sel);
            memmove(sel, last + 1, strlen(last + 1) + 1);
            return;
        }
    }
    if (dbase != NULL && strchr(dbase + 1, '.') != NULL) {
        copy(domain, dcap, dbase + 1);
        return;
    }
    for (i = 0; i < s->n; i++) {
        const char *k = s->sel[i].key;

        if (strncmp(k, dir, dlen) == 0 && k[dlen] == '/' &&
            strchr(k + dlen + 1, '/') == NULL) {
            if (one != NULL && strcmp(one, s->sel[i].domain) != 0) {
                domain[0] = '\0';
                return;
            }
            one = s->sel[i].domain;
            copy(domain, dcap, one);
        }
    }
}

static int scan_dir(kw_dkim_sources *s, const char *dir, const char *signer,
                    const char *user, kw_strset *seen_dirs)
{
    DIR *dh;
    struct dirent *de;
    int r = 0;

    if ((r = kw_strset_add(seen_dirs, dir)) != 0)
        return r == 1 ? 0 : r;
    if ((dh = opendir(dir)) == NULL)
        return 0;
    while (r == 0 && (de = readdir(dh)) != NULL) {
        char path[1100], domain[256], sel[256], src[1100];
        struct stat st;
        size_t i;
        int named = 0;

        if (!is_key_name(de->d_name))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        for (i = 0; i < s->n && !named; i++)
            named = strcmp(s->sel[i].key, path) == 0;
        if (named)
            continue;
        orphan_name(s, dir, de->d_name, domain, sizeof(domain), sel,
                    sizeof(sel));
        snprintf(src, sizeof(src), "%s", path);
        if (strlen(sel) >= sizeof(s->sel[0].selector))
            continue;
        r = add_sel(s, domain[0] ? domain : "unknown", sel, path, signer,
                    KW_DKIM_ROLE_ORPHAN, src, 0, user);
    }
    closedir(dh);
    return r;
}

int kw_dkim_find_orphans(kw_dkim_sources *s, const char *extra_dir)
{
    kw_strset seen = {0};
    char **dirs = NULL;
    size_t i, n = s->n, ndirs = 0;
    int r = 0;

    /* The directories first (scan_dir appends to s->sel as it goes). */
    dirs = calloc(n + 1, sizeof(*dirs));
    if (dirs == NULL)
        return KW_ENOMEM;
    for (i = 0; i < n; i++) {
        const char *slash = strrchr(s->sel[i].key, '/');

        if (slash == NULL || slash == s->sel[i].key)
            continue;
        if ((dirs[ndirs] = strndup(s->sel[i].key,
                                   (size_t)(slash - s->sel[i].key))) == NULL) {
            r = KW_ENOMEM;
            break;
        }
        ndirs++;
    }
    for (i = 0; r == 0 && i < ndirs; i++) {
        size_t j;
        const kw_dkim_sel *owner = NULL;
        size_t dl = strlen(dirs[i]);

        for (j = 0; j < n && owner == NULL; j++)
            if (strncmp(s->sel[j].key, dirs[i], dl) == 0 &&
                s->sel[j].key[dl] == '/')
                owner = &s->sel[j];
        char user[sizeof(s->sel[0].user)];

        /* scan_dir appends to s->sel, which may move: copy the user out
         * (signer names are static strings). */
        copy(user, sizeof(user), owner ? owner->user : "");
        r = scan_dir(s, dirs[i], owner ? owner->signer : "opendkim", user,
                     &seen);
    }
    if (r == 0 && extra_dir != NULL)
        r = scan_dir(s, extra_dir, "opendkim", "opendkim", &seen);
    for (i = 0; i < ndirs; i++)
        free(dirs[i]);
    free(dirs);
    kw_strset_free(&seen);
    return r;
}

int kw_dkim_sources_read(const kw_dkim_params *p, int discover,
                         kw_dkim_sources *out)
{
    struct stat st;
    const char *odk = p->opendkim_conf, *rsp = p->rspamd_conf;
    int r = 0, debian_dir = 0;
    size_t i;

    if (odk == NULL && discover && stat(KW_DKIM_OPENDKIM_CONF, &st) == 0)
        odk = KW_DKIM_OPENDKIM_CONF;
    if (rsp == NULL && discover && stat(KW_DKIM_RSPAMD_DIR, &st) == 0)
        rsp = KW_DKIM_RSPAMD_DIR;
    if (odk != NULL) {
        r = kw_dkim_read_opendkim(odk, out);
        /* Debian's package makes /etc/dkimkeys for OpenDKIM's keys. */
        debian_dir = strcmp(odk, KW_DKIM_OPENDKIM_CONF) == 0;
    }
    /* A dual section's Ed25519 keys sign through an OpenDKIM instance of
     * their own (opendkim_conf_ed25519): its keys are in use too. */
    for (i = 0; r == 0 && i < p->nrot; i++) {
        const char *c = p->rot[i].opendkim_conf;
        size_t j;

        if (p->rot[i].track != KS_DKIM_TRACK_ED25519 || c == NULL ||
            (odk != NULL && strcmp(c, odk) == 0))
            continue;
        for (j = 0; j < i; j++)
            if (p->rot[j].track == KS_DKIM_TRACK_ED25519 &&
                p->rot[j].opendkim_conf != NULL &&
                strcmp(p->rot[j].opendkim_conf, c) == 0)
                break;
        if (j == i)
            r = kw_dkim_read_opendkim(c, out);
    }
    if (r == 0 && rsp != NULL) {
        size_t before = out->n, notes = out->nnotes;

        r = kw_dkim_read_rspamd(rsp, out);
        /* A directory the operator named that yields nothing is said. */
        if (r == 0 && p->rspamd_conf != NULL && out->n == before &&
            out->nnotes == notes)
            r = note(out, "%s: rspamd_conf: no dkim_signing selector or key "
                     "file found there (modules.d, local.d, override.d)",
                     rsp);
    }
    for (i = 0; r == 0 && i < p->nkeys; i++) {
        const kw_dkim_conf_key *k = &p->keys[i];
        char src[1100];

        snprintf(src, sizeof(src), "%s:%d",
                 p->config_file ? p->config_file : "keywarden.conf", k->line);
        r = add_sel(out, k->domain, k->selector, k->key, "config",
                    KW_DKIM_ROLE_SIGNING, src, k->line, k->user);
    }
    if (r == 0)
        r = kw_dkim_find_orphans(out, debian_dir ? KW_DKIM_DEBIAN_KEYDIR
                                                 : NULL);
    /* The keys' directories: a key replaced, or a new one beside them. */
    for (i = 0; r == 0 && i < out->n; i++) {
        char kdir[sizeof(out->sel[0].key)];
        const char *slash = strrchr(out->sel[i].key, '/');

        if (slash == NULL || slash == out->sel[i].key)
            continue;
        snprintf(kdir, sizeof(kdir), "%.*s",
                 (int)(slash - out->sel[i].key), out->sel[i].key);
        r = kw_dkim_sources_watch(out, kdir);
    }
    if (r == 0 && debian_dir)
        r = kw_dkim_sources_watch(out, KW_DKIM_DEBIAN_KEYDIR);
    return r;
}
