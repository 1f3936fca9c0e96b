#include "discover.h"

#include "../common/kw_fs.h"
#include "../keystore/ks_inventory.h"
#include "../keystore/ks_scan.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_FILE (1024 * 1024)
#define MAX_FILES 256
#define MAX_DEPTH 16

typedef struct ctx {
    kw_discovery *out;
    int files;
    int oom;
} ctx;

static char *xstrdup(ctx *c, const char *s)
{
    char *p = s != NULL ? strdup(s) : NULL;

    if (s != NULL && p == NULL)
        c->oom = 1;
    return p;
}

static void note(ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void note(ctx *c, const char *fmt, ...)
{
    char msg[600];
    char **n;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    n = realloc(c->out->notes, (c->out->nnotes + 1) * sizeof(*n));
    if (n == NULL) {
        c->oom = 1;
        return;
    }
    c->out->notes = n;
    if ((n[c->out->nnotes] = strdup(msg)) == NULL)
        c->oom = 1;
    else
        c->out->nnotes++;
}

static void add_usage(ctx *c, const char *daemon, const char *config,
                      int line, const char *directive, const char *path,
                      int is_key)
{
    kw_usage *u;
    kw_usage *n = realloc(c->out->usages,
                          (c->out->nusages + 1) * sizeof(*n));

    if (n == NULL) {
        c->oom = 1;
        return;
    }
    c->out->usages = n;
    u = &n[c->out->nusages++];
    u->daemon = xstrdup(c, daemon);
    u->config = xstrdup(c, config);
    u->line = line;
    u->directive = xstrdup(c, directive);
    u->path = xstrdup(c, path);
    u->is_key = is_key;
}

static void add_proposal(ctx *c, const char *daemon, const char *name,
                         const char *host, const char *sni, int port,
                         enum kw_starttls st, const char *config, int line)
{
    kw_proposal *p, *n;
    size_t i;

    for (i = 0; i < c->out->nproposals; i++)
        if (c->out->proposals[i].port == port &&
            strcmp(c->out->proposals[i].host, host) == 0)
            return; /* one proposal per address */
    n = realloc(c->out->proposals, (c->out->nproposals + 1) * sizeof(*n));
    if (n == NULL) {
        c->oom = 1;
        return;
    }
    c->out->proposals = n;
    p = &n[c->out->nproposals++];
    p->daemon = xstrdup(c, daemon);
    p->name = xstrdup(c, name);
    p->host = xstrdup(c, host);
    p->sni = xstrdup(c, sni);
    p->port = port;
    p->starttls = st;
    p->config = xstrdup(c, config);
    p->line = line;
}

/* Read a whole configuration file (bounded); NULL with a note if not. */
static char *read_conf(ctx *c, const char *path, int required)
{
    unsigned char *buf;
    size_t len;
    int fd, r;

    if (++c->files > MAX_FILES) {
        note(c, "%s: more than %d configuration files; not read", path,
             MAX_FILES);
        return NULL;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (required || errno != ENOENT)
            note(c, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    buf = malloc(MAX_FILE + 1);
    if (buf == NULL) {
        close(fd);
        c->oom = 1;
        return NULL;
    }
    r = kw_read_fd(fd, buf, MAX_FILE, &len);
    close(fd);
    if (r != 0) {
        note(c, "%s: %s", path,
             r == KW_ETOOBIG ? "larger than 1 MiB; not read"
                             : kw_strerror(r));
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return (char *)buf;
}

/* ---- Postfix ----------------------------------------------------------- */

typedef struct param {
    char *name, *value;
    int line;
} param;

typedef struct params {
    param *v;
    size_t n;
} params;

static const char *param_get(const params *ps, const char *name)
{
    size_t i;

    for (i = ps->n; i-- > 0;) /* the last definition wins */
        if (strcmp(ps->v[i].name, name) == 0)
            return ps->v[i].value;
    return NULL;
}

static void param_set(ctx *c, params *ps, const char *name,
                      const char *value, int line)
{
    param *n = realloc(ps->v, (ps->n + 1) * sizeof(*n));

    if (n == NULL) {
        c->oom = 1;
        return;
    }
    ps->v = n;
    n[ps->n].name = xstrdup(c, name);
    n[ps->n].value = xstrdup(c, value);
    n[ps->n].line = line;
    ps->n++;
}

static void params_free(params *ps)
{
    size_t i;

    for (i = 0; i < ps->n; i++) {
        free(ps->v[i].name);
        free(ps->v[i].value);
    }
    free(ps->v);
}

/* $name, ${name} and $(name) from ps, recursively (bounded). */
static void expand(const params *ps, const char *in, char *out, size_t len,
                   int depth)
{
    size_t o = 0;

    while (*in != '\0' && o + 1 < len) {
        if (*in == '$' && depth < 8) {
            char name[128];
            size_t n = 0;
            char close = 0;
            const char *v;

            in++;
            if (*in == '{' || *in == '(') {
                close = *in == '{' ? '}' : ')';
                in++;
            }
            while ((isalnum((unsigned char)*in) || *in == '_') &&
                   n + 1 < sizeof(name))
                name[n++] = *in++;
            name[n] = '\0';
            if (close != 0 && *in == close)
                in++;
            v = param_get(ps, name);
            if (v != NULL) {
                char sub[PATH_MAX];
                expand(ps, v, sub, sizeof(sub), depth + 1);
                o += (size_t)snprintf(out + o, len - o, "%s", sub);
                if (o >= len)
                    o = len - 1;
            }
            continue;
        }
        out[o++] = *in++;
    }
    out[o] = '\0';
}

static const char *const postfix_files[] = {
    "smtpd_tls_cert_file", "smtpd_tls_key_file",   "smtpd_tls_eccert_file",
    "smtpd_tls_eckey_file", "smtpd_tls_dcert_file", "smtpd_tls_dkey_file",
    "smtpd_tls_chain_files", NULL};

static void postfix_param(ctx *c, const params *ps, const char *name,
                          const char *value, const char *file, int line)
{
    char buf[PATH_MAX * 4], *tok, *save = NULL;
    size_t i;

    for (i = 0; postfix_files[i] != NULL; i++)
        if (strcmp(name, postfix_files[i]) == 0)
            break;
    if (postfix_files[i] == NULL)
        return;
    expand(ps, value, buf, sizeof(buf), 0);
    /* chain_files is a list; the others one path each. */
    for (tok = strtok_r(buf, ", \t", &save); tok != NULL;
         tok = strtok_r(NULL, ", \t", &save))
        if (tok[0] == '/')
            add_usage(c, "postfix", file, line, name, tok,
                      strstr(name, "key") != NULL);
}

/* One logical line of main.cf: "name = value". */
static void logical_line(ctx *c, params *ps, char *logical, int start)
{
    char *eq = strchr(logical, '='), *k = logical, *v, *e;

    if (eq == NULL)
        return;
    *eq = '\0';
    e = eq;
    while (e > k && isspace((unsigned char)e[-1]))
        *--e = '\0';
    v = eq + 1;
    while (isspace((unsigned char)*v))
        v++;
    param_set(c, ps, k, v, start);
}

static void parse_main_cf(ctx *c, const char *path, params *ps)
{
    char *text = read_conf(c, path, 1), *line, *next;
    int ln = 0, start = 0;
    char logical[16384];
    size_t len = 0;

    if (text == NULL)
        return;
    logical[0] = '\0';
    for (line = text; line != NULL; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        ln++;
        /* A line starting with whitespace continues the previous one. */
        if ((*line == ' ' || *line == '\t') && len > 0) {
            while (*line == ' ' || *line == '\t')
                line++;
            if (*line != '#')
                len += (size_t)snprintf(logical + len, sizeof(logical) - len,
                                        " %s", line);
            if (len >= sizeof(logical))
                len = sizeof(logical) - 1;
            continue;
        }
        if (len > 0) {
            logical_line(c, ps, logical, start);
            len = 0;
        }
        while (*line == ' ' || *line == '\t')
            line++;
        if (*line == '\0' || *line == '#')
            continue;
        start = ln;
        len = (size_t)snprintf(logical, sizeof(logical), "%s", line);
        if (len >= sizeof(logical))
            len = sizeof(logical) - 1;
    }
    if (len > 0)
        logical_line(c, ps, logical, start);
    free(text);
}

/* master.cf: inet services run by smtpd, and their -o overrides. */
static void parse_master_cf(ctx *c, const char *path, const params *ps)
{
    char *text = read_conf(c, path, 0), *line, *next;
    int ln = 0;

    if (text == NULL)
        return;
    for (line = text; line != NULL; line = next) {
        char *f[8], *save = NULL, *tok;
        int nf = 0, port = 0;
        char host[128];

        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        ln++;
        if (*line == '#' || *line == '\0')
            continue;
        if (*line == ' ' || *line == '\t') {
            /* "  -o name=value" continues the service above. */
            char *o = strstr(line, "-o");
            if (o != NULL) {
                char *eq = strchr(o + 2, '=');
                if (eq != NULL) {
                    char *k = o + 2;
                    while (isspace((unsigned char)*k))
                        k++;
                    *eq = '\0';
                    postfix_param(c, ps, k, eq + 1, path, ln);
                }
            }
            continue;
        }
        for (tok = strtok_r(line, " \t", &save); tok != NULL && nf < 8;
             tok = strtok_r(NULL, " \t", &save))
            f[nf++] = tok;
        if (nf < 8 || strcmp(f[1], "inet") != 0 ||
            strcmp(f[7], "smtpd") != 0)
            continue;
        /* service: "smtp", "submission", "smtps", "127.0.0.1:25", "2525" */
        snprintf(host, sizeof(host), "127.0.0.1");
        {
            char *colon = strrchr(f[0], ':');
            const char *svc = f[0];
            if (colon != NULL) {
                *colon = '\0';
                snprintf(host, sizeof(host), "%s", f[0]);
                svc = colon + 1;
            }
            if (strcmp(svc, "smtp") == 0)
                port = 25;
            else if (strcmp(svc, "submission") == 0)
                port = 587;
            else if (strcmp(svc, "smtps") == 0 ||
                     strcmp(svc, "submissions") == 0)
                port = 465;
            else
                port = atoi(svc);
        }
        if (port <= 0 || port > 65535)
            continue;
        {
            char name[64];
            snprintf(name, sizeof(name), "postfix-%d", port);
            add_proposal(c, "postfix", name, host,
                         param_get(ps, "myhostname"), port,
                         port == 465 ? KW_TLS_IMPLICIT : KW_TLS_SMTP, path,
                         ln);
        }
    }
    free(text);
}

static void discover_postfix(ctx *c, const char *dir)
{
    char main_cf[PATH_MAX], master_cf[PATH_MAX];
    params ps = {NULL, 0};
    size_t i;

    snprintf(main_cf, sizeof(main_cf), "%s/main.cf", dir);
    snprintf(master_cf, sizeof(master_cf), "%s/master.cf", dir);
    if (access(main_cf, F_OK) != 0)
        return; /* Postfix is not installed */
    param_set(c, &ps, "config_directory", dir, 0);
    parse_main_cf(c, main_cf, &ps);
    for (i = 0; i < ps.n; i++)
        postfix_param(c, &ps, ps.v[i].name, ps.v[i].value, main_cf,
                      ps.v[i].line);
    parse_master_cf(c, master_cf, &ps);
    params_free(&ps);
}

/* ---- Dovecot ----------------------------------------------------------- */

static void dovecot_file(ctx *c, const char *path, int depth, int required,
                         int *imap, int *pop3, int *ssl_off);

static void dovecot_include(ctx *c, const char *from, const char *pattern,
                            int depth, int required, int *imap, int *pop3,
                            int *ssl_off)
{
    char full[PATH_MAX], dir[PATH_MAX];
    glob_t g;
    size_t i;

    if (pattern[0] == '/') {
        snprintf(full, sizeof(full), "%s", pattern);
    } else {
        snprintf(dir, sizeof(dir), "%s", from);
        snprintf(full, sizeof(full), "%s/%s", dirname(dir), pattern);
    }
    if (glob(full, 0, NULL, &g) != 0) {
        if (required && strpbrk(full, "*?[") == NULL)
            note(c, "%s: !include %s: no such file", from, pattern);
        return;
    }
    for (i = 0; i < g.gl_pathc; i++)
        dovecot_file(c, g.gl_pathv[i], depth + 1, required, imap, pop3,
                     ssl_off);
    globfree(&g);
}

static void dovecot_file(ctx *c, const char *path, int depth, int required,
                         int *imap, int *pop3, int *ssl_off)
{
    char *text, *line, *next;
    int ln = 0;

    if (depth > MAX_DEPTH) {
        note(c, "%s: includes nested deeper than %d", path, MAX_DEPTH);
        return;
    }
    if ((text = read_conf(c, path, required)) == NULL)
        return;
    for (line = text; line != NULL; line = next) {
        char *k, *v, *eq, *e;

        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        ln++;
        while (isspace((unsigned char)*line))
            line++;
        if (*line == '#' || *line == '\0')
            continue;
        if (strncmp(line, "!include_try ", 13) == 0 ||
            strncmp(line, "!include ", 9) == 0) {
            int req = line[8] != '_';
            char *pat = line + (req ? 9 : 13);
            while (isspace((unsigned char)*pat))
                pat++;
            dovecot_include(c, path, pat, depth, req, imap, pop3, ssl_off);
            continue;
        }
        eq = strchr(line, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        k = line;
        e = eq;
        while (e > k && isspace((unsigned char)e[-1]))
            *--e = '\0';
        v = eq + 1;
        while (isspace((unsigned char)*v))
            v++;
        e = v + strlen(v);
        while (e > v && isspace((unsigned char)e[-1]))
            *--e = '\0';
        if (strcmp(k, "ssl_cert") == 0 || strcmp(k, "ssl_key") == 0 ||
            strcmp(k, "ssl_alt_cert") == 0 || strcmp(k, "ssl_alt_key") == 0) {
            /* "<path" reads the file; anything else is inline PEM. */
            if (*v == '<') {
                v++;
                while (isspace((unsigned char)*v))
                    v++;
                add_usage(c, "dovecot", path, ln, k, v,
                          strstr(k, "key") != NULL);
            }
        } else if (strcmp(k, "protocols") == 0) {
            *imap = strstr(v, "imap") != NULL;
            *pop3 = strstr(v, "pop3") != NULL;
        } else if (strcmp(k, "ssl") == 0) {
            *ssl_off = strcmp(v, "no") == 0;
        }
    }
    free(text);
}

static void discover_dovecot(ctx *c, const char *conf)
{
    int imap = 1, pop3 = 0, ssl_off = 0;

    if (access(conf, F_OK) != 0)
        return;
    dovecot_file(c, conf, 0, 1, &imap, &pop3, &ssl_off);
    if (ssl_off)
        return;
    if (imap)
        add_proposal(c, "dovecot", "dovecot-imaps", "127.0.0.1", NULL, 993,
                     KW_TLS_IMPLICIT, conf, 0);
    if (pop3)
        add_proposal(c, "dovecot", "dovecot-pop3s", "127.0.0.1", NULL, 995,
                     KW_TLS_IMPLICIT, conf, 0);
}

/* ---- nginx --------------------------------------------------------------- */

typedef struct tok {
    char text[PATH_MAX];
    int line;
    char kind; /* 'w' word, ';', '{', '}', 0 end */
} tok;

static void next_tok(const char **pp, int *line, tok *t)
{
    const char *p = *pp;
    size_t n = 0;

    for (;;) {
        while (*p != '\0' && isspace((unsigned char)*p)) {
            if (*p == '\n')
                (*line)++;
            p++;
        }
        if (*p == '#') {
            while (*p != '\0' && *p != '\n')
                p++;
            continue;
        }
        break;
    }
    t->line = *line;
    if (*p == '\0') {
        t->kind = 0;
    } else if (*p == ';' || *p == '{' || *p == '}') {
        t->kind = *p++;
    } else {
        char q = (*p == '"' || *p == '\'') ? *p++ : 0;
        while (*p != '\0' &&
               (q ? *p != q
                  : !isspace((unsigned char)*p) && *p != ';' && *p != '{' &&
                        *p != '}')) {
            if (*p == '\\' && p[1] != '\0')
                p++;
            if (*p == '\n')
                (*line)++;
            if (n + 1 < sizeof(t->text))
                t->text[n++] = *p;
            p++;
        }
        if (q && *p == q)
            p++;
        t->kind = 'w';
    }
    t->text[n] = '\0';
    *pp = p;
}

typedef struct nginx_server {
    char name[256];
    int ports[16];
    int nports;
    int line;
} nginx_server;

static void nginx_file(ctx *c, const char *path, const char *prefix,
                       int depth, nginx_server *srv);

static void nginx_directive(ctx *c, const char *path, const char *prefix,
                            int depth, tok *words, int nw, nginx_server *srv)
{
    if (nw == 0)
        return;
    if (strcmp(words[0].text, "include") == 0 && nw >= 2) {
        char full[PATH_MAX];
        glob_t g;
        size_t i;

        if ((size_t)snprintf(full, sizeof(full), "%s%s%s",
                             words[1].text[0] == '/' ? "" : prefix,
                             words[1].text[0] == '/' ? "" : "/",
                             words[1].text) >= sizeof(full)) {
            note(c, "%s:%d: include path too long", path, words[0].line);
            return;
        }
        if (glob(full, 0, NULL, &g) != 0) {
            if (strpbrk(full, "*?[") == NULL)
                note(c, "%s:%d: include %s: no such file", path,
                     words[0].line, full);
            return;
        }
        for (i = 0; i < g.gl_pathc; i++)
            nginx_file(c, g.gl_pathv[i], prefix, depth + 1, srv);
        globfree(&g);
        return;
    }
    if ((strcmp(words[0].text, "ssl_certificate") == 0 ||
         strcmp(words[0].text, "ssl_certificate_key") == 0) &&
        nw >= 2) {
        if (strchr(words[1].text, '$') != NULL) {
            note(c, "%s:%d: %s %s: a variable, resolved per request; not "
                    "followed",
                 path, words[0].line, words[0].text, words[1].text);
            return;
        }
        if (words[1].text[0] == '/')
            add_usage(c, "nginx", path, words[0].line, words[0].text,
                      words[1].text, words[0].text[15] == '_');
        else {
            char full[PATH_MAX];
            if ((size_t)snprintf(full, sizeof(full), "%s/%s", prefix,
                                 words[1].text) < sizeof(full))
                add_usage(c, "nginx", path, words[0].line, words[0].text,
                          full, words[0].text[15] == '_');
        }
        return;
    }
    if (srv != NULL && strcmp(words[0].text, "server_name") == 0 && nw >= 2 &&
        srv->name[0] == '\0' && strcmp(words[1].text, "_") != 0 &&
        strlen(words[1].text) < sizeof(srv->name))
        memcpy(srv->name, words[1].text, strlen(words[1].text) + 1);
    if (srv != NULL && strcmp(words[0].text, "listen") == 0 && nw >= 2) {
        int i, ssl = 0, port;
        const char *a = words[1].text, *colon = strrchr(a, ':');

        for (i = 2; i < nw; i++)
            ssl |= strcmp(words[i].text, "ssl") == 0;
        port = atoi(colon != NULL ? colon + 1 : a);
        if (ssl && port > 0 && port < 65536 && srv->nports < 16)
            srv->ports[srv->nports++] = port;
        if (srv->nports == 1)
            srv->line = words[0].line;
    }
}

static void nginx_block(ctx *c, const char **pp, int *line,
                        const char *path, const char *prefix, int depth,
                        nginx_server *srv, int level)
{
    tok words[8];
    int nw = 0;
    tok t;

    for (;;) {
        next_tok(pp, line, &t);
        if (t.kind == 0 || (t.kind == '}' && level > 0))
            return;
        if (t.kind == 'w') {
            if (nw < 8)
                words[nw++] = t;
            continue;
        }
        if (t.kind == ';') {
            nginx_directive(c, path, prefix, depth, words, nw, srv);
            nw = 0;
            continue;
        }
        if (t.kind == '{') {
            if (nw > 0 && strcmp(words[0].text, "server") == 0) {
                nginx_server s;
                int i;

                memset(&s, 0, sizeof(s));
                nginx_block(c, pp, line, path, prefix, depth, &s, level + 1);
                for (i = 0; i < s.nports; i++) {
                    char name[300];
                    snprintf(name, sizeof(name), "nginx-%s-%d",
                             s.name[0] ? s.name : "default", s.ports[i]);
                    add_proposal(c, "nginx", name, "127.0.0.1",
                                 s.name[0] ? s.name : NULL, s.ports[i],
                                 KW_TLS_IMPLICIT, path, s.line);
                }
            } else {
                nginx_block(c, pp, line, path, prefix, depth, srv,
                            level + 1);
            }
            nw = 0;
            continue;
        }
        nw = 0; /* a stray '}' at the top level */
    }
}

static void nginx_file(ctx *c, const char *path, const char *prefix,
                       int depth, nginx_server *srv)
{
    char *text;
    const char *p;
    int line = 1;

    if (depth > MAX_DEPTH) {
        note(c, "%s: includes nested deeper than %d", path, MAX_DEPTH);
        return;
    }
    if ((text = read_conf(c, path, 1)) == NULL)
        return;
    p = text;
    nginx_block(c, &p, &line, path, prefix, depth, srv, 0);
    free(text);
}

static void discover_nginx(ctx *c, const char *conf)
{
    char tmp[PATH_MAX], prefix[PATH_MAX];

    if (access(conf, F_OK) != 0)
        return;
    /* Relative includes are relative to nginx's prefix: the directory of
     * nginx.conf. */
    snprintf(tmp, sizeof(tmp), "%s", conf);
    snprintf(prefix, sizeof(prefix), "%s", dirname(tmp));
    nginx_file(c, conf, prefix, 0, NULL);
}

/* ---- entry ---------------------------------------------------------------- */

int kw_discover(const kw_discover_paths *paths, kw_discovery *out)
{
    ctx c;

    memset(out, 0, sizeof(*out));
    memset(&c, 0, sizeof(c));
    c.out = out;
    discover_postfix(&c, paths && paths->postfix_dir ? paths->postfix_dir
                                                     : "/etc/postfix");
    discover_dovecot(&c, paths && paths->dovecot_conf
                             ? paths->dovecot_conf
                             : "/etc/dovecot/dovecot.conf");
    discover_nginx(&c, paths && paths->nginx_conf ? paths->nginx_conf
                                                  : "/etc/nginx/nginx.conf");
    if (c.oom) {
        kw_discovery_free(out);
        return KW_ENOMEM;
    }
    return 0;
}

void kw_discovery_free(kw_discovery *d)
{
    size_t i;

    for (i = 0; i < d->nusages; i++) {
        free(d->usages[i].daemon);
        free(d->usages[i].config);
        free(d->usages[i].directive);
        free(d->usages[i].path);
    }
    free(d->usages);
    for (i = 0; i < d->nproposals; i++) {
        free(d->proposals[i].daemon);
        free(d->proposals[i].name);
        free(d->proposals[i].host);
        free(d->proposals[i].sni);
        free(d->proposals[i].config);
    }
    free(d->proposals);
    for (i = 0; i < d->nnotes; i++)
        free(d->notes[i]);
    free(d->notes);
    memset(d, 0, sizeof(*d));
}

int kw_discover_apply(struct ks_store *s, const kw_discovery *disc,
                      int64_t now, struct ks_scan_stats *stats, kw_diag *d)
{
    const char **roots = NULL;
    ks_usage_row *rows = NULL;
    ks_scan_opts o;
    size_t i, j, n = 0;
    int r = 0;

    memset(stats, 0, sizeof(*stats));
    roots = calloc(disc->nusages + 1, sizeof(*roots));
    rows = calloc(disc->nusages + 1, sizeof(*rows));
    if (roots == NULL || rows == NULL) {
        r = kw_diag_set(d, KW_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < disc->nusages; i++) {
        const kw_usage *u = &disc->usages[i];

        rows[i].path = u->path;
        rows[i].daemon = u->daemon;
        rows[i].config = u->config;
        rows[i].directive = u->directive;
        rows[i].line = u->line;
        rows[i].is_key = u->is_key;
        for (j = 0; j < n; j++)
            if (strcmp(roots[j], u->path) == 0)
                break;
        if (j == n)
            roots[n++] = u->path;
    }
    if (n > 0) {
        memset(&o, 0, sizeof(o));
        o.now = now;
        r = ks_scan(s, roots, n, &o, stats, d);
        /* Files that are gone are reported by the scan; usages are still
         * worth recording. */
        if (r == KW_ENOENT)
            r = 0;
    }
    if (r == 0)
        r = ks_usages_replace(s, rows, disc->nusages, now, d);
out:
    free(roots);
    free(rows);
    return r;
}
