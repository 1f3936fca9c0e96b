#include "discover.h"

#include "../common/kw_fs.h"
#include "../keystore/ks_inventory.h"
#include "../keystore/ks_scan.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_FILE (1024 * 1024)
#define MAX_FILES 256
#define MAX_DEPTH 16

/* nginx -T: what it may print, and for how long. */
#define NGINX_T_MAX (4 * 1024 * 1024)
#define NGINX_T_ERR_MAX (64 * 1024)
#define NGINX_T_TIMEOUT_MS 10000

/* nginx -T output split into its files (pointers into the text). */
typedef struct dump_file {
    const char *name;
    const char *text;
} dump_file;

typedef struct nginx_dump {
    dump_file *v;
    size_t n;
} nginx_dump;

typedef struct ctx {
    kw_discovery *out;
    int files;
    int oom;
    int err;                /* the last file that could not be read */
    const nginx_dump *dump; /* while nginx's files come from nginx -T */
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
    /* A file the daemon cannot load is the finding, not a detail. */
    u->err = access(path, R_OK) != 0 ? errno : 0;
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
    kw_diag d;
    int r;

    if (++c->files > MAX_FILES) {
        note(c, "%s: more than %d configuration files; not read", path,
             MAX_FILES);
        return NULL;
    }
    r = kw_fs_read_regular(path, MAX_FILE, &buf, &len, &d);
    if (r != 0)
        c->err = r;
    if (r == KW_ENOMEM)
        c->oom = 1;
    else if (r != 0 && (required || r != KW_ENOENT))
        note(c, "%s", d.msg);
    if (r != 0)
        return NULL;
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

static const param *param_find(const params *ps, const char *name)
{
    size_t i;

    for (i = ps->n; i-- > 0;) /* the last definition wins */
        if (strcmp(ps->v[i].name, name) == 0)
            return &ps->v[i];
    return NULL;
}

static const char *param_get(const params *ps, const char *name)
{
    const param *p = param_find(ps, name);

    return p != NULL ? p->value : NULL;
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

/* ---- Postfix's outbound addresses ---------------------------------------- */

static void out_note(kw_outbound *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends to o->note, "; " between notes, each once (inet_interfaces is
 * read once per family); cut at its size. */
static void out_note(kw_outbound *o, const char *fmt, ...)
{
    size_t len = strlen(o->note);
    char msg[600];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (strstr(o->note, msg) != NULL)
        return;
    snprintf(o->note + len, sizeof(o->note) - len, "%s%s",
             len > 0 ? "; " : "", msg);
}

/* The family of an address literal ("[...]" allowed around IPv6) in
 * addr, or 0 when tok is no literal; *usable is 0 for loopback and the
 * unspecified address, which no receiver sees. */
static int ip_literal(const char *tok, char *addr, size_t cap, int *usable)
{
    static const unsigned char zero[16];
    unsigned char a[16];
    size_t n = strlen(tok);

    if (n >= 2 && tok[0] == '[' && tok[n - 1] == ']') {
        tok++;
        n -= 2;
    }
    if (n == 0 || n >= cap)
        return 0;
    memcpy(addr, tok, n);
    addr[n] = '\0';
    if (inet_pton(AF_INET, addr, a) == 1) {
        *usable = a[0] != 127 && memcmp(a, zero, 4) != 0;
        return AF_INET;
    }
    if (inet_pton(AF_INET6, addr, a) == 1) {
        *usable = memcmp(a, zero, 15) != 0 || a[15] > 1;
        return AF_INET6;
    }
    return 0;
}

/* Adds the usable literals of family af in p's expanded value; notes
 * what it cannot use.  Returns how many it added. */
static size_t out_param(kw_outbound *o, const params *ps, const param *p,
                        int af)
{
    char buf[4096], addr[64], *tok, *save = NULL;
    size_t added = 0;
    int fam, usable;

    expand(ps, p->value, buf, sizeof(buf), 0);
    for (tok = strtok_r(buf, ", \t", &save); tok != NULL;
         tok = strtok_r(NULL, ", \t", &save)) {
        fam = ip_literal(tok, addr, sizeof(addr), &usable);
        if (fam == 0) {
            if (strcmp(tok, "all") != 0 && strcmp(tok, "loopback-only") != 0 &&
                strcmp(tok, "localhost") != 0)
                out_note(o, "%s:%d: %s: %s is not an IP address (host "
                            "names are not resolved)",
                         o->main_cf, p->line, p->name, tok);
            continue;
        }
        if (fam != af || !usable)
            continue;
        if (o->n == KW_OUTBOUND_MAX) {
            out_note(o, "%s:%d: %s: more than %d addresses; the first %d "
                        "are checked",
                     o->main_cf, p->line, p->name, KW_OUTBOUND_MAX,
                     KW_OUTBOUND_MAX);
            break;
        }
        snprintf(o->a[o->n].addr, sizeof(o->a[o->n].addr), "%s", addr);
        snprintf(o->a[o->n].param, sizeof(o->a[o->n].param), "%s", p->name);
        o->a[o->n].line = p->line;
        o->n++;
        added++;
    }
    return added;
}

/* One family: smtp_bind_address(6) when set, else inet_interfaces. */
static void out_family(kw_outbound *o, const params *ps, const char *bind,
                       int af)
{
    const param *b = param_find(ps, bind), *in;
    size_t n;

    if (b != NULL && b->value[0] != '\0' && out_param(o, ps, b, af) > 0)
        return;
    if ((in = param_find(ps, "inet_interfaces")) == NULL)
        return;
    n = out_param(o, ps, in, af);
    /* Postfix binds its client to an inet_interfaces address only when
     * the family has exactly one; with more, the route picks among them
     * (or another), so each is a sender to check. */
    if (n > 1)
        out_note(o, "%s:%d: inet_interfaces lists %zu %s addresses: Postfix "
                    "binds none of them when sending, the route picks",
                 o->main_cf, in->line, n, af == AF_INET ? "IPv4" : "IPv6");
}

int kw_discover_outbound(const char *postfix_dir, kw_outbound *out,
                         kw_diag *d)
{
    const char *dir = postfix_dir != NULL ? postfix_dir : "/etc/postfix";
    kw_discovery disc;
    params ps = {NULL, 0};
    const param *in;
    ctx c;
    int r = 0;

    memset(out, 0, sizeof(*out));
    memset(&disc, 0, sizeof(disc));
    memset(&c, 0, sizeof(c));
    c.out = &disc;
    if ((size_t)snprintf(out->main_cf, sizeof(out->main_cf), "%s/main.cf",
                         dir) >= sizeof(out->main_cf))
        return kw_diag_set(d, KW_EINVAL, "%s: Postfix directory name too "
                                         "long", dir);
    param_set(&c, &ps, "config_directory", dir, 0);
    parse_main_cf(&c, out->main_cf, &ps);
    if (c.oom) {
        r = kw_diag_set(d, KW_ENOMEM, "out of memory reading %s",
                        out->main_cf);
    } else if (c.err != 0) {
        r = kw_diag_set(d, c.err, "%s",
                        disc.nnotes > 0 ? disc.notes[0] : out->main_cf);
    } else {
        out_family(out, &ps, "smtp_bind_address", AF_INET);
        out_family(out, &ps, "smtp_bind_address6", AF_INET6);
        in = param_find(&ps, "inet_interfaces");
        if (out->n == 0 && in == NULL)
            out_note(out, "%s: inet_interfaces is not set (Postfix's "
                          "default: all): the outbound address is "
                          "whatever the route picks; set [dkim] outbound",
                     out->main_cf);
        else if (out->n == 0)
            out_note(out, "%s:%d: inet_interfaces = %s: the outbound "
                          "address is whatever the route picks; set [dkim] "
                          "outbound",
                     out->main_cf, in->line, in->value);
    }
    params_free(&ps);
    kw_discovery_free(&disc);
    return r;
}

/* ---- Dovecot ----------------------------------------------------------- */

/* Where a setting was made: the file and line an endpoint comment names. */
typedef struct conf_at {
    char file[PATH_MAX];
    int line;
} conf_at;

/* What Dovecot's files say about the endpoints it serves. */
typedef struct dovecot_conf {
    int imap, pop3; /* -1: no protocols line */
    int ssl_off;
    conf_at imap_at, pop3_at; /* the protocols line that enabled it */
    conf_at cert_at;          /* the first ssl_cert line */
} dovecot_conf;

static void set_at(conf_at *at, const char *file, int line)
{
    snprintf(at->file, sizeof(at->file), "%s", file);
    at->line = line;
}

static void dovecot_file(ctx *c, const char *path, int depth, int required,
                         dovecot_conf *dc);

static void dovecot_include(ctx *c, const char *from, const char *pattern,
                            int depth, int required, dovecot_conf *dc)
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
        dovecot_file(c, g.gl_pathv[i], depth + 1, required, dc);
    globfree(&g);
}

static void dovecot_file(ctx *c, const char *path, int depth, int required,
                         dovecot_conf *dc)
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
            dovecot_include(c, path, pat, depth, req, dc);
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
                if (strcmp(k, "ssl_cert") == 0 && dc->cert_at.line == 0)
                    set_at(&dc->cert_at, path, ln);
            }
        } else if (strcmp(k, "protocols") == 0) {
            /* Debian's protocols.d files add to the list: "protocols =
             * $protocols imap". */
            int add = strstr(v, "$protocols") != NULL;
            int imap = strstr(v, "imap") != NULL;
            int pop3 = strstr(v, "pop3") != NULL;

            if (imap && !(add && dc->imap > 0))
                set_at(&dc->imap_at, path, ln);
            if (pop3 && !(add && dc->pop3 > 0))
                set_at(&dc->pop3_at, path, ln);
            dc->imap = (add && dc->imap > 0) || imap;
            dc->pop3 = (add && dc->pop3 > 0) || pop3;
        } else if (strcmp(k, "ssl") == 0) {
            dc->ssl_off = strcmp(v, "no") == 0;
        }
    }
    free(text);
}

static void discover_dovecot(ctx *c, const char *conf)
{
    dovecot_conf *dc;
    const conf_at *at;

    if (access(conf, F_OK) != 0)
        return;
    if ((dc = calloc(1, sizeof(*dc))) == NULL) {
        c->oom = 1;
        return;
    }
    dc->imap = dc->pop3 = -1;
    dovecot_file(c, conf, 0, 1, dc);
    if (dc->ssl_off)
        goto out;
    if (dc->imap < 0 && dc->pop3 < 0) {
        /* No protocols line: Dovecot's default is IMAP, and the line that
         * makes it serve TLS is its ssl_cert. */
        dc->imap = 1;
        dc->imap_at = dc->cert_at;
    }
    /* Each endpoint names the line that enabled it (0: none did). */
    if (dc->imap > 0) {
        at = dc->imap_at.line > 0 ? &dc->imap_at : NULL;
        add_proposal(c, "dovecot", "dovecot-imaps", "127.0.0.1", NULL, 993,
                     KW_TLS_IMPLICIT, at ? at->file : conf, at ? at->line : 0);
    }
    if (dc->pop3 > 0) {
        at = dc->pop3_at.line > 0 ? &dc->pop3_at : NULL;
        add_proposal(c, "dovecot", "dovecot-pop3s", "127.0.0.1", NULL, 995,
                     KW_TLS_IMPLICIT, at ? at->file : conf, at ? at->line : 0);
    }
out:
    free(dc);
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

/* A path from the configuration, relative to nginx's prefix (the
 * directory of nginx.conf) unless absolute, as nginx names it. */
static int nginx_path(char *out, size_t len, const char *prefix,
                      const char *rel)
{
    size_t pl = strlen(prefix);
    const char *sep = pl > 0 && prefix[pl - 1] == '/' ? "" : "/";

    if (rel[0] == '/')
        prefix = sep = "";
    return (size_t)snprintf(out, len, "%s%s%s", prefix, sep, rel) < len
               ? 0
               : -1;
}

/* include PATTERN when nginx -T printed the files: the files it read that
 * the pattern matches (nginx's glob, as fnmatch), in the order it read
 * them.  Returns how many. */
static size_t dump_include(ctx *c, const char *pattern, const char *prefix,
                           int depth, nginx_server *srv)
{
    size_t i, n = 0;

    for (i = 0; i < c->dump->n; i++)
        if (fnmatch(pattern, c->dump->v[i].name,
                    FNM_PATHNAME | FNM_PERIOD) == 0) {
            nginx_file(c, c->dump->v[i].name, prefix, depth + 1, srv);
            n++;
        }
    return n;
}

static void nginx_directive(ctx *c, const char *path, const char *prefix,
                            int depth, tok *words, int nw, nginx_server *srv)
{
    if (nw == 0)
        return;
    if (strcmp(words[0].text, "include") == 0 && nw >= 2) {
        char full[PATH_MAX];
        glob_t g;
        size_t i;

        if (nginx_path(full, sizeof(full), prefix, words[1].text) != 0) {
            note(c, "%s:%d: include path too long", path, words[0].line);
            return;
        }
        /* A file nginx -T did not print (it should not happen) is read
         * from disk rather than lost. */
        if (c->dump != NULL && dump_include(c, full, prefix, depth, srv) > 0)
            return;
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
        {
            char full[PATH_MAX];
            if (nginx_path(full, sizeof(full), prefix, words[1].text) == 0)
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

static const char *dump_find(const nginx_dump *d, const char *path)
{
    size_t i;

    for (i = 0; i < d->n; i++)
        if (strcmp(d->v[i].name, path) == 0)
            return d->v[i].text;
    return NULL;
}

static void nginx_file(ctx *c, const char *path, const char *prefix,
                       int depth, nginx_server *srv)
{
    char *text = NULL;
    const char *p;
    int line = 1;

    if (depth > MAX_DEPTH) {
        note(c, "%s: includes nested deeper than %d", path, MAX_DEPTH);
        return;
    }
    if (c->dump != NULL && (p = dump_find(c->dump, path)) != NULL) {
        if (++c->files > MAX_FILES) {
            note(c, "%s: more than %d configuration files; not read", path,
                 MAX_FILES);
            return;
        }
    } else {
        if ((text = read_conf(c, path, 1)) == NULL)
            return;
        p = text;
    }
    nginx_block(c, &p, &line, path, prefix, depth, srv, 0);
    free(text);
}

/* ---- nginx -T ------------------------------------------------------------ */

#define DUMP_MARK "# configuration file "

/* Split nginx -T output into its files, in place.  For each file nginx
 * writes DUMP_MARK, the path, ":\n", the file's bytes and one "\n" of
 * its own, which is dropped here so each file's text (and so its line
 * numbers) is exactly what is on disk.  A file whose own text holds a line
 * that looks like a marker would be split there; nginx gives no way to
 * tell, and the cost is a wrong file name in a note or usage. */
static int dump_split(ctx *c, char *text, size_t len, nginx_dump *d)
{
    const size_t ml = strlen(DUMP_MARK);
    char *p = text, *end = text + len;
    dump_file *cur = NULL;

    memset(d, 0, sizeof(*d));
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *eol = nl != NULL ? nl : end;

        /* "# configuration file /PATH:" at the start of a line. */
        if ((size_t)(eol - p) > ml + 1 && memcmp(p, DUMP_MARK, ml) == 0 &&
            p[ml] == '/' && eol[-1] == ':') {
            dump_file *v;

            if (cur != NULL) {
                if (cur->text == p)
                    cur->text = ""; /* no newline of nginx's: not -T */
                else
                    p[-1] = '\0'; /* nginx's newline after the file */
            }
            if (d->n >= MAX_FILES) {
                note(c, "nginx -T printed more than %d files", MAX_FILES);
                return KW_ETOOBIG;
            }
            v = realloc(d->v, (d->n + 1) * sizeof(*v));
            if (v == NULL) {
                c->oom = 1;
                return KW_ENOMEM;
            }
            d->v = v;
            cur = &v[d->n++];
            eol[-1] = '\0';
            cur->name = p + ml;
            p = nl != NULL ? nl + 1 : end;
            cur->text = p;
            continue;
        }
        if (cur == NULL)
            return KW_EPARSE; /* the output must start with a marker */
        p = nl != NULL ? nl + 1 : end;
    }
    if (cur == NULL)
        return KW_EPARSE;
    if (len > 0 && text[len - 1] == '\n' && text + len - 1 >= cur->text)
        text[len - 1] = '\0';
    return 0;
}

/* nginx's files from nginx -T output: the first one printed is the main
 * file, and its directory is nginx's prefix for relative paths. */
static int nginx_from_dump(ctx *c, char *text, size_t len)
{
    char tmp[PATH_MAX], prefix[PATH_MAX];
    nginx_dump d;
    int r = dump_split(c, text, len, &d);

    if (r == 0) {
        snprintf(tmp, sizeof(tmp), "%s", d.v[0].name);
        snprintf(prefix, sizeof(prefix), "%s", dirname(tmp));
        c->dump = &d;
        nginx_file(c, d.v[0].name, prefix, 0, NULL);
        c->dump = NULL;
    }
    free(d.v);
    return r;
}

/* An nginx found by looking (not one asked for) is run only if it is
 * executable and owned by root or by us, and nobody else may write it: a
 * daemon running as root must not run whatever an odd PATH entry holds. */
static int is_exec(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
           (st.st_uid == 0 || st.st_uid == geteuid()) &&
           (st.st_mode & (S_IWGRP | S_IWOTH)) == 0 &&
           access(path, X_OK) == 0;
}

/* The nginx binary: the one asked for, else "nginx" on PATH (absolute
 * directories only), else /usr/sbin/nginx (not on a user's PATH). */
static int find_nginx(const char *want, char *out, size_t len)
{
    const char *path = getenv("PATH"), *p, *colon;

    if (want != NULL) {
        snprintf(out, len, "%s", want);
        return *want != '\0';
    }
    for (p = path; p != NULL && *p != '\0'; p = colon ? colon + 1 : NULL) {
        size_t dl;

        colon = strchr(p, ':');
        dl = colon != NULL ? (size_t)(colon - p) : strlen(p);
        if (dl == 0 || p[0] != '/' ||
            (size_t)snprintf(out, len, "%.*s/nginx", (int)dl, p) >= len)
            continue;
        if (is_exec(out))
            return 1;
    }
    snprintf(out, len, "/usr/sbin/nginx");
    return is_exec(out);
}

static int64_t mono_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The first error nginx printed: its first "[emerg]" line (earlier
 * "[warn]" and "[alert]" lines, such as an error log a non-root user
 * cannot open, are not why it failed), without the time stamp and
 * "PID#TID: "; else its first non-empty line. */
static void first_error(const char *err, char *out, size_t len)
{
    const char *l = strstr(err, "[emerg] "), *e;

    out[0] = '\0';
    if (l != NULL) {
        l += 8;
        e = l;
        while (isdigit((unsigned char)*e))
            e++;
        if (e > l && *e == '#') {
            e++;
            while (isdigit((unsigned char)*e))
                e++;
            if (e[0] == ':' && e[1] == ' ')
                l = e + 2;
        }
    } else {
        for (l = err; *l == '\n' || *l == '\r' || *l == ' '; l++)
            ;
    }
    e = strchr(l, '\n');
    snprintf(out, len, "%.*s", (int)(e != NULL ? e - l : (ptrdiff_t)strlen(l)),
             l);
}

/* Run `BIN -T -q -c CONF` (argv only, no shell, stdin /dev/null, a minimal
 * environment, default signal dispositions) and collect its stdout, at
 * most NGINX_T_MAX bytes within timeout_ms; kill it past either bound.
 * Returns 0 with the output in *out (NUL-terminated, caller frees), or -1
 * after a note saying why. */
static int nginx_T(ctx *c, const char *bin, const char *conf, int timeout_ms,
                   char **out, size_t *outlen)
{
    static char path_env[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
    char *envp[] = {path_env, NULL};
    char *argv[] = {(char *)bin, (char *)"-T", (char *)"-q", (char *)"-c",
                    (char *)conf, NULL};
    enum { RUNNING, TIMED_OUT, TOO_BIG, FAILED } state = RUNNING;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, all;
    int o[2] = {-1, -1}, e[2] = {-1, -1}, status = 0, r = -1, spawned;
    char *buf = NULL, *err = NULL, why[512];
    size_t n = 0, cap = 0, en = 0;
    int64_t deadline = mono_ms() + timeout_ms;
    pid_t pid = -1;

    *out = NULL;
    *outlen = 0;
    err = malloc(NGINX_T_ERR_MAX + 1);
    if (err == NULL || pipe2(o, O_CLOEXEC) != 0 || pipe2(e, O_CLOEXEC) != 0) {
        if (err == NULL)
            c->oom = 1;
        else
            note(c, "nginx -T: cannot make a pipe: %s", strerror(errno));
        goto out;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, o[1], 1);
    posix_spawn_file_actions_adddup2(&fa, e[1], 2);
    posix_spawnattr_init(&at);
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    spawned = posix_spawn(&pid, bin, &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(o[1]);
    close(e[1]);
    o[1] = e[1] = -1;
    if (spawned != 0) {
        note(c, "cannot run %s -T: %s; nginx's files were read directly",
             bin, strerror(spawned));
        pid = -1;
        goto out;
    }

    while (state == RUNNING && (o[0] >= 0 || e[0] >= 0)) {
        struct pollfd pf[2];
        int np = 0, i, left = (int)(deadline - mono_ms());

        if (left <= 0) {
            state = TIMED_OUT;
            break;
        }
        if (o[0] >= 0)
            pf[np++] = (struct pollfd){o[0], POLLIN, 0};
        if (e[0] >= 0)
            pf[np++] = (struct pollfd){e[0], POLLIN, 0};
        if (poll(pf, (nfds_t)np, left) < 0) {
            if (errno == EINTR)
                continue;
            note(c, "nginx -T: poll: %s", strerror(errno));
            state = FAILED;
            break;
        }
        for (i = 0; i < np && state == RUNNING; i++) {
            char chunk[16384];
            ssize_t got;

            if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            got = read(pf[i].fd, chunk, sizeof(chunk));
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0) {
                close(pf[i].fd);
                if (pf[i].fd == o[0])
                    o[0] = -1;
                else
                    e[0] = -1;
                continue;
            }
            if (pf[i].fd == e[0]) {
                size_t k = (size_t)got;
                if (k > NGINX_T_ERR_MAX - en)
                    k = NGINX_T_ERR_MAX - en; /* keep the first, drain */
                memcpy(err + en, chunk, k);
                en += k;
                continue;
            }
            if (n + (size_t)got > NGINX_T_MAX) {
                state = TOO_BIG;
                break;
            }
            if (n + (size_t)got + 1 > cap) {
                size_t nc = cap == 0 ? 65536 : cap;
                char *nb;
                while (nc < n + (size_t)got + 1)
                    nc *= 2;
                if (nc > NGINX_T_MAX + 1)
                    nc = NGINX_T_MAX + 1;
                if ((nb = realloc(buf, nc)) == NULL) {
                    c->oom = 1;
                    state = FAILED;
                    break;
                }
                buf = nb;
                cap = nc;
            }
            memcpy(buf + n, chunk, (size_t)got);
            n += (size_t)got;
        }
    }
    /* Its output ended (it exits now, or is killed at the deadline), or a
     * bound was passed (it is killed now). */
    if (state != RUNNING)
        kill(pid, SIGKILL);
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);

        if (w == pid)
            break;
        if (w < 0) {
            if (errno == EINTR)
                continue;
            note(c, "nginx -T: waitpid: %s", strerror(errno));
            pid = -1;
            goto out;
        }
        if (state == RUNNING && mono_ms() >= deadline) {
            state = TIMED_OUT;
            kill(pid, SIGKILL);
        }
        poll(NULL, 0, 5);
    }
    pid = -1;
    err[en] = '\0';
    if (state == TIMED_OUT)
        note(c, "%s -T -c %s did not finish within %d ms and was killed; "
                "nginx's files were read directly",
             bin, conf, timeout_ms);
    else if (state == TOO_BIG)
        note(c, "%s -T -c %s printed more than %d MiB and was killed; "
                "nginx's files were read directly",
             bin, conf, NGINX_T_MAX >> 20);
    else if (state == FAILED)
        ; /* noted, or out of memory */
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        first_error(err, why, sizeof(why));
        if (why[0] == '\0')
            snprintf(why, sizeof(why), "%s %d",
                     WIFEXITED(status) ? "exit status" : "killed by signal",
                     WIFEXITED(status) ? WEXITSTATUS(status)
                                       : WTERMSIG(status));
        note(c, "%s -T -c %s failed: %s; nginx's files were read directly",
             bin, conf, why);
    } else if (buf == NULL) {
        note(c, "%s -T -c %s printed nothing; nginx's files were read "
                "directly",
             bin, conf);
    } else {
        buf[n] = '\0';
        *out = buf;
        *outlen = n;
        buf = NULL;
        r = 0;
    }
out:
    if (pid > 0) { /* only on the error paths above: do not leave it */
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    if (o[0] >= 0)
        close(o[0]);
    if (o[1] >= 0)
        close(o[1]);
    if (e[0] >= 0)
        close(e[0]);
    if (e[1] >= 0)
        close(e[1]);
    free(buf);
    free(err);
    return r;
}

static void discover_nginx(ctx *c, const char *conf, const char *want_bin,
                           int timeout_ms)
{
    char tmp[PATH_MAX], prefix[PATH_MAX], abs[PATH_MAX], bin[PATH_MAX];

    if (access(conf, F_OK) != 0)
        return;
    /* nginx resolves a relative -c against its compiled-in prefix, not
     * the working directory: give it an absolute path. */
    if (conf[0] == '/')
        snprintf(abs, sizeof(abs), "%s", conf);
    else if (getcwd(tmp, sizeof(tmp)) == NULL ||
             (size_t)snprintf(abs, sizeof(abs), "%s/%s", tmp, conf) >=
                 sizeof(abs))
        abs[0] = '\0';
    if (abs[0] != '\0' && find_nginx(want_bin, bin, sizeof(bin))) {
        char *text;
        size_t len;

        if (nginx_T(c, bin, abs,
                    timeout_ms > 0 ? timeout_ms : NGINX_T_TIMEOUT_MS, &text,
                    &len) == 0) {
            int r = nginx_from_dump(c, text, len);

            free(text);
            if (r == 0) {
                c->out->nginx_dump = xstrdup(c, bin);
                return;
            }
            if (r == KW_EPARSE)
                note(c, "%s -T -c %s printed no \"" DUMP_MARK "\" line; "
                        "nginx's files were read directly",
                     bin, abs);
        }
    }
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
    discover_nginx(&c,
                   paths && paths->nginx_conf ? paths->nginx_conf
                                              : "/etc/nginx/nginx.conf",
                   paths ? paths->nginx_bin : NULL,
                   paths ? paths->nginx_timeout_ms : 0);
    if (c.oom) {
        kw_discovery_free(out);
        return KW_ENOMEM;
    }
    return 0;
}

int kw_discover_nginx_dump(char *text, size_t len, kw_discovery *out)
{
    ctx c;
    int r;

    memset(out, 0, sizeof(*out));
    memset(&c, 0, sizeof(c));
    c.out = out;
    r = nginx_from_dump(&c, text, len);
    if (c.oom)
        r = KW_ENOMEM;
    if (r != 0)
        kw_discovery_free(out);
    return r;
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
    free(d->nginx_dump);
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
        /* A file a daemon is configured to load is an object even when it
         * is missing or unreadable: the daemon will fail on it. */
        o.expected = 1;
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
