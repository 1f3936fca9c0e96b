/*
 * dnssec_conf.c: the signed zones of named.conf and knot.conf
 * (dnssec_conf.h).
 */
#include "dnssec_conf.h"

#include "dnssec_key.h"

#include "../common/kw_fs.h"
#include "../common/kw_vec.h"

#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void kw_dnssec_conf_free(kw_dnssec_conf *c)
{
    kw_strv_free(c->notes, c->nnotes);
    kw_strv_free(c->files, c->nfiles);
    free(c->zones);
    memset(c, 0, sizeof(*c));
}

/* The most of a file's path a note shows (its end). */
#define NOTE_PATH_MAX 1000

/* "FILE:LINE: ..." as a note; the list is bounded, its last entry says
 * how many more there were not kept. */
static int note(kw_dnssec_conf *c, const char *file, int line,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int note(kw_dnssec_conf *c, const char *file, int line,
                const char *fmt, ...)
{
    char msg[1600];
    size_t flen = strlen(file);
    int n;
    va_list ap;

    if (c->nnotes >= KW_DNSSEC_CONF_MAX_NOTES)
        return 0;
    /* A path may be longer than the message (PATH_MAX is 4096): only
     * its end is shown, so the line and the problem still fit and the
     * text below is never written past msg. */
    n = snprintf(msg, sizeof(msg), "%s%s:%d: ",
                 flen > NOTE_PATH_MAX ? "..." : "",
                 file + (flen > NOTE_PATH_MAX ? flen - NOTE_PATH_MAX : 0),
                 line);
    va_start(ap, fmt);
    if (c->nnotes + 1 == KW_DNSSEC_CONF_MAX_NOTES)
        snprintf(msg + n, sizeof(msg) - (size_t)n,
                 "more problems; the first %d are listed",
                 KW_DNSSEC_CONF_MAX_NOTES - 1);
    else
        vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
    va_end(ap);
    return kw_strv_push(&c->notes, &c->nnotes, msg);
}

/* path's directory into out ("." when it has none). */
static void dir_of(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        snprintf(out, cap, ".");
    else if (slash == path)
        snprintf(out, cap, "/");
    else
        snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

/* name under dir unless it is absolute; a path too long for out is
 * left empty, which no file has (its reading fails with a note), and
 * -1 says so (0 otherwise). */
static int resolve(const char *dir, const char *name, char *out, size_t cap)
{
    int n;

    if (name[0] == '/' || dir[0] == '\0')
        n = snprintf(out, cap, "%s", name);
    else
        n = snprintf(out, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

/* The note for an include whose path does not fit: never followed under
 * a cut name, which would be another file. */
static int include_too_long(kw_dnssec_conf *c, const char *file, int line,
                            const char *v, size_t n, size_t cap)
{
    return note(c, file, line, "include %.*s...: the path is longer than "
                "%zu bytes: not followed", (int)(n < 100 ? n : 100), v,
                cap - 1);
}

static int add_zone(kw_dnssec_conf *c, const char *file, int line,
                    const char *name, size_t n, const char *key_dir)
{
    kw_dnssec_conf_zone *z;
    char zone[256];
    size_t i;

    if (kw_dnssec_zone_norm(name, n, zone) != 0)
        return note(c, file, line, "\"%.*s\" is not a zone name", (int)n,
                    name);
    for (i = 0; i < c->nzones; i++)
        if (strcmp(c->zones[i].zone, zone) == 0)
            return note(c, file, line, "zone %s is also declared at %s",
                        zone, c->zones[i].source);
    if (c->nzones >= KW_DNSSEC_CONF_MAX_ZONES)
        return note(c, file, line, "more than %d signed zones: the others "
                    "are not read", KW_DNSSEC_CONF_MAX_ZONES);
    z = kw_vec_grow(c->zones, &c->cap, c->nzones + 1, sizeof(*z));
    if (z == NULL)
        return KW_ENOMEM;
    c->zones = z;
    z = &c->zones[c->nzones++];
    memset(z, 0, sizeof(*z));
    snprintf(z->zone, sizeof(z->zone), "%s", zone);
    snprintf(z->key_dir, sizeof(z->key_dir), "%s", key_dir);
    snprintf(z->source, sizeof(z->source), "%s:%d", file, line);
    return 0;
}

/* An include: read through rd and handed to parse at depth + 1. */
typedef int (*parse_fn)(void *st, const char *path, const char *text,
                        size_t len, int depth);

static int include(kw_dnssec_conf *c, kw_dnssec_conf_reader rd, void *rctx,
                   const char *file, int line, const char *path, int depth,
                   parse_fn parse, void *st)
{
    unsigned char *text = NULL;
    size_t len = 0;
    kw_diag d;
    int r;

    if (rd == NULL)
        return note(c, file, line, "include %s: not followed here", path);
    if (depth >= KW_DNSSEC_CONF_DEPTH)
        return note(c, file, line, "include %s: more than %d includes deep "
                    "(a loop?): not followed", path, KW_DNSSEC_CONF_DEPTH);
    /* Depth alone does not bound the work: a file that includes ten
     * others, each as many, would be read 10^8 times. */
    if (c->nfiles >= KW_DNSSEC_CONF_MAX_FILES)
        return note(c, file, line, "include %s: more than %d files read: "
                    "not followed", path, KW_DNSSEC_CONF_MAX_FILES);
    if (rd(rctx, path, &text, &len, &d) != 0)
        return note(c, file, line, "include %s: %s", path, d.msg);
    r = kw_strv_push(&c->files, &c->nfiles, path);
    if (r == 0)
        r = parse(st, path, (const char *)text, len, depth + 1);
    free(text);
    return r;
}

/* ---- named.conf ------------------------------------------------------ */

enum { T_EOF = 0, T_WORD, T_STR, T_OPEN, T_CLOSE, T_SEMI, T_BAD };

typedef struct lexer {
    const char *s, *end, *file;
    int line;
    kw_dnssec_conf *c;
    int err; /* KW_ENOMEM */
} lexer;

typedef struct token {
    int kind;
    const char *p;
    size_t n;
    int line;
} token;

static token lex(lexer *lx)
{
    token t = { T_EOF, NULL, 0, 0 };

    for (;;) {
        while (lx->s < lx->end &&
               (*lx->s == ' ' || *lx->s == '\t' || *lx->s == '\r' ||
                *lx->s == '\n')) {
            if (*lx->s == '\n')
                lx->line++;
            lx->s++;
        }
        if (lx->s >= lx->end)
            break;
        if (*lx->s == '#' ||
            (*lx->s == '/' && lx->s + 1 < lx->end && lx->s[1] == '/')) {
            while (lx->s < lx->end && *lx->s != '\n')
                lx->s++;
            continue;
        }
        if (*lx->s == '/' && lx->s + 1 < lx->end && lx->s[1] == '*') {
            int start = lx->line;

            lx->s += 2;
            while (lx->s + 1 < lx->end && !(lx->s[0] == '*' && lx->s[1] == '/')) {
                if (*lx->s == '\n')
                    lx->line++;
                lx->s++;
            }
            if (lx->s + 1 >= lx->end) {
                lx->s = lx->end;
                if (note(lx->c, lx->file, start, "a /* comment is not "
                         "closed") != 0)
                    lx->err = KW_ENOMEM;
                break;
            }
            lx->s += 2;
            continue;
        }
        break;
    }
    t.line = lx->line;
    if (lx->s >= lx->end)
        return t;
    t.p = lx->s;
    switch (*lx->s) {
    case '{': t.kind = T_OPEN; t.n = 1; lx->s++; return t;
    case '}': t.kind = T_CLOSE; t.n = 1; lx->s++; return t;
    case ';': t.kind = T_SEMI; t.n = 1; lx->s++; return t;
    case '"':
        t.p = ++lx->s;
        while (lx->s < lx->end && *lx->s != '"' && *lx->s != '\n')
            lx->s++;
        if (lx->s >= lx->end || *lx->s != '"') {
            if (note(lx->c, lx->file, t.line, "a quoted string is not "
                     "closed on its line") != 0)
                lx->err = KW_ENOMEM;
            t.kind = T_BAD;
            t.n = (size_t)(lx->s - t.p);
            return t;
        }
        t.kind = T_STR;
        t.n = (size_t)(lx->s - t.p);
        lx->s++;
        return t;
    default:
        /* A NUL byte is part of a word (strchr would find the string's
         * own terminator and never move on). */
        while (lx->s < lx->end &&
               (*lx->s == '\0' || strchr(" \t\r\n{};\"", *lx->s) == NULL) &&
               !(*lx->s == '/' && lx->s + 1 < lx->end &&
                 (lx->s[1] == '/' || lx->s[1] == '*')) &&
               *lx->s != '#')
            lx->s++;
        t.kind = T_WORD;
        t.n = (size_t)(lx->s - t.p);
        return t;
    }
}

static int tok_is(const token *t, const char *w)
{
    return (t->kind == T_WORD || t->kind == T_STR) && strlen(w) == t->n &&
           strncasecmp(t->p, w, t->n) == 0;
}

/* Settings a zone inherits: options', its view's, its own. */
typedef struct scope {
    char policy[128];
    char key_dir[1024];
    int has_policy, has_key_dir;
} scope;

typedef struct named_zone {
    char name[256];
    char file[1024];
    int line, view;   /* view: index into views, -1 none */
    int hint;         /* a type that is never signed (hint, forward...) */
    scope own;
} named_zone;

typedef struct named_st {
    kw_dnssec_conf *c;
    kw_dnssec_conf_reader rd;
    void *rctx;
    char top_dir[1024];    /* named.conf's directory */
    char directory[1024];  /* options { directory } */
    scope options;
    scope *views;
    size_t nviews, cap_views;
    named_zone *zones;
    size_t nzones, cap_zones;
} named_st;

enum { CTX_TOP, CTX_OPTIONS, CTX_VIEW, CTX_ZONE };

static void set_scope(scope *s, const token *kw, const token *arg)
{
    if (tok_is(kw, "dnssec-policy")) {
        snprintf(s->policy, sizeof(s->policy), "%.*s", (int)arg->n, arg->p);
        s->has_policy = 1;
    } else if (tok_is(kw, "key-directory")) {
        snprintf(s->key_dir, sizeof(s->key_dir), "%.*s", (int)arg->n,
                 arg->p);
        s->has_key_dir = 1;
    }
}

/* BIND's top-level statements (9.16 to 9.20): others are noted. */
static int known_top(const token *t)
{
    static const char *const words[] = {
        "acl", "controls", "dlz", "dnssec-policy", "dyndb", "http",
        "include", "key", "key-store", "logging", "managed-keys", "masters",
        "options", "parental-agents", "plugin", "primaries",
        "remote-servers", "server", "statistics-channels", "template",
        "tls", "trust-anchors", "trusted-keys", "view", "zone", NULL};
    size_t i;

    for (i = 0; words[i] != NULL; i++)
        if (tok_is(t, words[i]))
            return 1;
    return 0;
}

static int named_text(void *st, const char *path, const char *text,
                      size_t len, int depth);

/* Skip a block whose { was read, nested ones included: 0 at its }, -1 at
 * the end of the text. */
static int skip_block(lexer *lx)
{
    int level = 1;
    token t;

    while (level > 0) {
        t = lex(lx);
        if (t.kind == T_EOF)
            return -1;
        level += t.kind == T_OPEN ? 1 : t.kind == T_CLOSE ? -1 : 0;
    }
    return 0;
}

/* The statements of a block of kind ctx up to its } (0) or the end of the
 * text (-1, a note when a block was open); KW_ENOMEM. */
static int named_block(named_st *n, lexer *lx, int ctx, int view,
                       named_zone *zone, int depth, int open_line)
{
    for (;;) {
        token kw = lex(lx), a[2], t;
        int na = 0, r = 0;

        if (lx->err != 0)
            return lx->err;
        if (kw.kind == T_EOF) {
            if (ctx != CTX_TOP)
                return note(n->c, lx->file, open_line, "the block opened "
                            "here is not closed") != 0 ? KW_ENOMEM : -1;
            return -1;
        }
        if (kw.kind == T_CLOSE) {
            if (ctx != CTX_TOP)
                return 0;
            if (note(n->c, lx->file, kw.line, "a } without its {") != 0)
                return KW_ENOMEM;
            continue;
        }
        if (kw.kind == T_SEMI)
            continue;
        if (kw.kind != T_WORD) {
            if (kw.kind != T_BAD &&
                note(n->c, lx->file, kw.line, "expected a statement, not "
                     "\"%.*s\"", (int)kw.n, kw.p) != 0)
                return KW_ENOMEM;
            continue;
        }
        for (t = lex(lx); t.kind == T_WORD || t.kind == T_STR ||
                          t.kind == T_BAD;
             t = lex(lx))
            if (na < 2 && t.kind != T_BAD)
                a[na++] = t;
        if (lx->err != 0)
            return lx->err;
        if (ctx == CTX_TOP && !known_top(&kw) &&
            note(n->c, lx->file, kw.line, "unknown statement %.*s: skipped",
                 (int)kw.n, kw.p) != 0)
            return KW_ENOMEM;
        if (t.kind == T_OPEN) {
            int sub = -2, nv = view;
            named_zone z, *zp = NULL;

            if (tok_is(&kw, "options") && ctx == CTX_TOP) {
                sub = CTX_OPTIONS;
            } else if (tok_is(&kw, "view") && ctx == CTX_TOP) {
                scope *vs = kw_vec_grow(n->views, &n->cap_views,
                                        n->nviews + 1, sizeof(*vs));

                if (vs == NULL)
                    return KW_ENOMEM;
                n->views = vs;
                memset(&vs[n->nviews], 0, sizeof(*vs));
                nv = (int)n->nviews++;
                sub = CTX_VIEW;
            } else if (tok_is(&kw, "zone") &&
                       (ctx == CTX_TOP || ctx == CTX_VIEW)) {
                memset(&z, 0, sizeof(z));
                if (na == 0) {
                    if (note(n->c, lx->file, kw.line, "zone without a "
                             "name") != 0)
                        return KW_ENOMEM;
                } else {
                    snprintf(z.name, sizeof(z.name), "%.*s", (int)a[0].n,
                             a[0].p);
                    zp = &z;
                }
                snprintf(z.file, sizeof(z.file), "%s", lx->file);
                z.line = kw.line;
                z.view = view;
                sub = CTX_ZONE;
            }
            if (sub == -2)
                r = skip_block(lx) == 0 ? 0 : -1;
            else
                r = named_block(n, lx, sub, nv, zp, depth, kw.line);
            if (r == KW_ENOMEM)
                return r;
            if (r == -1) {
                if (sub == -2 && note(n->c, lx->file, kw.line, "the block "
                                      "opened here is not closed") != 0)
                    return KW_ENOMEM;
                if (zp != NULL)
                    goto keep_zone;
                return -1;
            }
            t = lex(lx);
            if (t.kind != T_SEMI &&
                note(n->c, lx->file, t.line, "expected ; after the } of "
                     "%.*s", (int)kw.n, kw.p) != 0)
                return KW_ENOMEM;
            /* A statement missing its ; still ends the block above. */
            if (t.kind == T_CLOSE && ctx != CTX_TOP)
                return 0;
        keep_zone:
            if (zp != NULL) {
                named_zone *nz = kw_vec_grow(n->zones, &n->cap_zones,
                                             n->nzones + 1, sizeof(*nz));

                if (nz == NULL)
                    return KW_ENOMEM;
                n->zones = nz;
                n->zones[n->nzones++] = z;
            }
            if (r == -1)
                return -1;
            continue;
        }
        if (t.kind != T_SEMI) {
            if (note(n->c, lx->file, kw.line, "expected ; after %.*s",
                     (int)kw.n, kw.p) != 0)
                return KW_ENOMEM;
            if (t.kind == T_EOF)
                return ctx == CTX_TOP ? -1
                       : note(n->c, lx->file, open_line, "the block "
                              "opened here is not closed") != 0
                           ? KW_ENOMEM
                           : -1;
            if (t.kind == T_CLOSE && ctx != CTX_TOP)
                return 0;
        }
        if (na == 0)
            continue;
        if (ctx == CTX_TOP && tok_is(&kw, "include")) {
            char rel[1024], path[1024];

            /* named reads its whole configuration before it changes to
             * options' directory: a relative include is under named.conf's
             * own directory, as named is started from there. */
            snprintf(rel, sizeof(rel), "%.*s", (int)a[0].n, a[0].p);
            if (a[0].n >= sizeof(rel) ||
                resolve(n->top_dir, rel, path, sizeof(path)) != 0)
                r = include_too_long(n->c, lx->file, kw.line, a[0].p,
                                     a[0].n, sizeof(path));
            else
                r = include(n->c, n->rd, n->rctx, lx->file, kw.line, path,
                            depth, named_text, n);
            if (r != 0)
                return r;
        } else if (ctx == CTX_OPTIONS && tok_is(&kw, "directory")) {
            snprintf(n->directory, sizeof(n->directory), "%.*s",
                     (int)a[0].n, a[0].p);
        } else if (ctx == CTX_OPTIONS) {
            set_scope(&n->options, &kw, &a[0]);
        } else if (ctx == CTX_VIEW) {
            set_scope(&n->views[view], &kw, &a[0]);
        } else if (ctx == CTX_ZONE && zone != NULL) {
            if (tok_is(&kw, "type"))
                zone->hint = !(tok_is(&a[0], "primary") ||
                               tok_is(&a[0], "master") ||
                               tok_is(&a[0], "secondary") ||
                               tok_is(&a[0], "slave"));
            else
                set_scope(&zone->own, &kw, &a[0]);
        }
    }
}

static int named_text(void *st, const char *path, const char *text,
                      size_t len, int depth)
{
    named_st *n = st;
    lexer lx = { text, text + len, path, 1, n->c, 0 };
    int r = named_block(n, &lx, CTX_TOP, -1, NULL, depth, 1);

    return r == KW_ENOMEM ? r : 0;
}

int kw_dnssec_named_parse(const char *path, const char *text, size_t len,
                          kw_dnssec_conf_reader rd, void *ctx,
                          kw_dnssec_conf *out)
{
    named_st n;
    size_t i;
    int r;

    memset(&n, 0, sizeof(n));
    n.c = out;
    n.rd = rd;
    n.rctx = ctx;
    dir_of(path, n.top_dir, sizeof(n.top_dir));
    r = named_text(&n, path, text, len, 0);
    for (i = 0; r == 0 && i < n.nzones; i++) {
        const named_zone *z = &n.zones[i];
        const scope *v = z->view >= 0 ? &n.views[z->view] : NULL;
        const char *policy = z->own.has_policy ? z->own.policy
                             : v != NULL && v->has_policy ? v->policy
                             : n.options.has_policy ? n.options.policy
                                                    : "";
        const char *kd = z->own.has_key_dir ? z->own.key_dir
                         : v != NULL && v->has_key_dir ? v->key_dir
                         : n.options.has_key_dir ? n.options.key_dir
                                                 : "";
        char dir[1024], key_dir[1024];

        /* An inherited policy signs only the zones a server serves from
         * its own data; its own policy on a hint zone is BIND's error. */
        if (policy[0] == '\0' || strcasecmp(policy, "none") == 0 ||
            (z->hint && !z->own.has_policy))
            continue;
        if (n.directory[0] != '\0')
            resolve(n.top_dir, n.directory, dir, sizeof(dir));
        else
            snprintf(dir, sizeof(dir), "%s", n.top_dir);
        if (kd[0] == '\0')
            snprintf(key_dir, sizeof(key_dir), "%s", dir);
        else
            resolve(dir, kd, key_dir, sizeof(key_dir));
        r = add_zone(out, z->file, z->line, z->name, strlen(z->name),
                     key_dir);
    }
    free(n.views);
    free(n.zones);
    return r;
}

/* ---- knot.conf ------------------------------------------------------- */

/* A zone or template item of knot.conf as read so far. */
typedef struct knot_item {
    char name[256];      /* domain, or the template's id */
    char tmpl[128];      /* template: NAME ("" none) */
    int signing;         /* dnssec-signing: 1 on, 0 off, -1 unset */
    int line;
    char file[1024];
} knot_item;

typedef struct knot_st {
    kw_dnssec_conf *c;
    kw_dnssec_conf_reader rd;
    void *rctx;
    char top_dir[1024];
    knot_item *zones, *tmpls;
    size_t nzones, ntmpls, cap_zones, cap_tmpls;
} knot_st;

/* Knot's top-level sections (3.0 to 3.4): others are noted. */
static int knot_known(const char *w)
{
    static const char *const words[] = {
        "acl", "control", "database", "dnskey-sync", "external", "include",
        "key", "keystore", "log", "module", "policy", "remote", "remotes",
        "server", "statistics", "submission", "template", "xdp", "zone",
        "clear", NULL};
    size_t i;

    if (strncmp(w, "mod-", 4) == 0)
        return 1;
    for (i = 0; words[i] != NULL; i++)
        if (strcmp(w, words[i]) == 0)
            return 1;
    return 0;
}

/* A value as Knot's YAML has it: quotes removed, blanks trimmed. */
static void knot_value(char *v)
{
    size_t n;

    while (*v == ' ' || *v == '\t')
        memmove(v, v + 1, strlen(v));
    n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r'))
        v[--n] = '\0';
    if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
        memmove(v, v + 1, n - 2);
        v[n - 2] = '\0';
    }
}

/* on, true, yes: 1; off, false, no: 0; -1 otherwise. */
static int knot_bool(const char *v)
{
    if (strcasecmp(v, "on") == 0 || strcasecmp(v, "true") == 0 ||
        strcasecmp(v, "yes") == 0)
        return 1;
    if (strcasecmp(v, "off") == 0 || strcasecmp(v, "false") == 0 ||
        strcasecmp(v, "no") == 0)
        return 0;
    return -1;
}

static int knot_text(void *st, const char *path, const char *text,
                     size_t len, int depth);

/* include: PATH (a glob, as Knot takes it), relative to knot.conf's
 * directory. */
static int knot_include(knot_st *k, const char *file, int line,
                        const char *v, int depth)
{
    char pat[1024];
    glob_t g;
    size_t i;
    int r = 0, gr;

    if (resolve(k->top_dir, v, pat, sizeof(pat)) != 0)
        return include_too_long(k->c, file, line, v, strlen(v), sizeof(pat));
    if (strpbrk(pat, "*?[") == NULL)
        return include(k->c, k->rd, k->rctx, file, line, pat, depth,
                       knot_text, k);
    gr = glob(pat, 0, NULL, &g);
    if (gr == GLOB_NOMATCH)
        return 0; /* Knot accepts a pattern that matches nothing */
    if (gr != 0)
        return note(k->c, file, line, "include %s: cannot list the files",
                    pat);
    for (i = 0; r == 0 && i < g.gl_pathc; i++)
        r = include(k->c, k->rd, k->rctx, file, line, g.gl_pathv[i], depth,
                    knot_text, k);
    globfree(&g);
    return r;
}

static int knot_text(void *st, const char *path, const char *text,
                     size_t len, int depth)
{
    knot_st *k = st;
    const char *s = text, *end = text + len;
    char section[64] = "", line[4096];
    knot_item *cur = NULL;
    int lineno = 0, r = 0;

    while (r == 0 && s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t n = nl != NULL ? (size_t)(nl - s) : (size_t)(end - s);
        char *l = line, *colon, *hash;
        int indent = 0, quote = 0, item = 0;

        lineno++;
        if (n >= sizeof(line)) {
            r = note(k->c, path, lineno, "a line longer than %zu bytes: "
                     "skipped", sizeof(line) - 1);
            s = nl != NULL ? nl + 1 : end;
            continue;
        }
        memcpy(line, s, n);
        line[n] = '\0';
        s = nl != NULL ? nl + 1 : end;
        /* # starts a comment outside quotes. */
        for (hash = line; *hash != '\0'; hash++) {
            if (*hash == '"')
                quote = !quote;
            else if (*hash == '#' && !quote) {
                *hash = '\0';
                break;
            }
        }
        while (*l == ' ') {
            l++;
            indent++;
        }
        knot_value(l);
        if (*l == '\0')
            continue;
        if (indent == 0) {
            cur = NULL;
            colon = strchr(l, ':');
            if (colon == NULL) {
                r = note(k->c, path, lineno, "expected \"section:\" or "
                         "\"key: value\"");
                continue;
            }
            *colon = '\0';
            snprintf(section, sizeof(section), "%.63s", l);
            if (!knot_known(section))
                r = note(k->c, path, lineno, "unknown section %s: skipped",
                         section);
            else if (strcmp(section, "include") == 0) {
                knot_value(colon + 1);
                if (colon[1] == '\0')
                    r = note(k->c, path, lineno, "include without a file");
                else
                    r = knot_include(k, path, lineno, colon + 1, depth);
            }
            continue;
        }
        if (strcmp(section, "zone") != 0 && strcmp(section, "template") != 0)
            continue;
        if (l[0] == '-' && (l[1] == ' ' || l[1] == '\0')) {
            item = 1;
            l++;
            knot_value(l);
        }
        if (item) {
            int z = section[0] == 'z';
            knot_item *arr = z ? k->zones : k->tmpls;
            size_t *nn = z ? &k->nzones : &k->ntmpls;
            size_t *cap = z ? &k->cap_zones : &k->cap_tmpls;

            arr = kw_vec_grow(arr, cap, *nn + 1, sizeof(*arr));
            if (arr == NULL)
                return KW_ENOMEM;
            if (z)
                k->zones = arr;
            else
                k->tmpls = arr;
            cur = &arr[(*nn)++];
            memset(cur, 0, sizeof(*cur));
            cur->signing = -1;
            cur->line = lineno;
            snprintf(cur->file, sizeof(cur->file), "%s", path);
            if (*l == '\0')
                continue;
        }
        if (cur == NULL) {
            r = note(k->c, path, lineno, "expected \"- %s: ...\" to start "
                     "an item of %s", section[0] == 'z' ? "domain" : "id",
                     section);
            continue;
        }
        colon = strchr(l, ':');
        if (colon == NULL) {
            r = note(k->c, path, lineno, "expected \"key: value\"");
            continue;
        }
        *colon = '\0';
        knot_value(l);
        knot_value(colon + 1);
        if (strcmp(l, "domain") == 0 || strcmp(l, "id") == 0) {
            snprintf(cur->name, sizeof(cur->name), "%s", colon + 1);
            cur->line = lineno;
        } else if (strcmp(l, "template") == 0) {
            snprintf(cur->tmpl, sizeof(cur->tmpl), "%s", colon + 1);
        } else if (strcmp(l, "dnssec-signing") == 0) {
            cur->signing = knot_bool(colon + 1);
            if (cur->signing < 0)
                r = note(k->c, path, lineno, "dnssec-signing: %s: expected "
                         "on or off", colon + 1);
        }
    }
    return r;
}

int kw_dnssec_knot_conf_parse(const char *path, const char *text, size_t len,
                              kw_dnssec_conf_reader rd, void *ctx,
                              kw_dnssec_conf *out)
{
    knot_st k;
    size_t i, j;
    int r;

    memset(&k, 0, sizeof(k));
    k.c = out;
    k.rd = rd;
    k.rctx = ctx;
    dir_of(path, k.top_dir, sizeof(k.top_dir));
    r = knot_text(&k, path, text, len, 0);
    for (i = 0; r == 0 && i < k.nzones; i++) {
        const knot_item *z = &k.zones[i];
        const char *tn = z->tmpl[0] != '\0' ? z->tmpl : "default";
        int signing = z->signing, found = 0;

        if (z->name[0] == '\0') {
            r = note(out, z->file, z->line, "a zone without its domain");
            continue;
        }
        for (j = 0; j < k.ntmpls; j++)
            if (strcmp(k.tmpls[j].name, tn) == 0) {
                found = 1;
                if (signing < 0)
                    signing = k.tmpls[j].signing;
            }
        if (!found && z->tmpl[0] != '\0')
            r = note(out, z->file, z->line, "zone %s: template %s is not "
                     "defined", z->name, z->tmpl);
        if (r == 0 && signing == 1)
            r = add_zone(out, z->file, z->line, z->name, strlen(z->name),
                         "");
    }
    free(k.zones);
    free(k.tmpls);
    return r;
}

/* ---- reading files --------------------------------------------------- */

static int fs_reader(void *ctx, const char *path, unsigned char **text,
                     size_t *len, kw_diag *d)
{
    (void)ctx;
    return kw_fs_read_regular(path, KW_DNSSEC_CONF_FILE_MAX, text, len, d);
}

typedef int (*conf_parse_fn)(const char *, const char *, size_t,
                             kw_dnssec_conf_reader, void *, kw_dnssec_conf *);

static int read_top(const char *path, conf_parse_fn parse,
                    kw_dnssec_conf *out)
{
    unsigned char *text = NULL;
    size_t len = 0;
    kw_diag d;
    int r;

    if (fs_reader(NULL, path, &text, &len, &d) != 0) {
        out->unreadable = 1;
        return kw_strv_push(&out->notes, &out->nnotes, d.msg);
    }
    r = kw_strv_push(&out->files, &out->nfiles, path);
    if (r == 0)
        r = parse(path, (const char *)text, len, fs_reader, NULL, out);
    free(text);
    return r;
}

int kw_dnssec_conf_read_named(const char *path, kw_dnssec_conf *out)
{
    return read_top(path, kw_dnssec_named_parse, out);
}

int kw_dnssec_conf_read_knot(const char *path, kw_dnssec_conf *out)
{
    return read_top(path, kw_dnssec_knot_conf_parse, out);
}
