#include "hook_def.h"

#include "../common/kw_err.h"
#include "../common/kw_fs.h"
#include "../keystore/ks_events.h"

#include <ctype.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A pattern is checked against the event registry (ks_events.h), which
 * every writer of events checks too: a hook can ask for exactly what
 * keywarden writes, and the reserved types of the lifecycles to come. */
static int pattern_matches(const char *pattern, int emitted_only)
{
    size_t i;

    for (i = 0; i < ks_event_ntypes; i++)
        if ((!emitted_only ||
             ks_event_types[i].status == KS_EVENT_EMITTED) &&
            fnmatch(pattern, ks_event_types[i].name, 0) == 0)
            return 1;
    return 0;
}

int kw_hook_event_emitted(const char *pattern)
{
    return pattern_matches(pattern, 1);
}

int kw_hook_event_pattern_ok(const char *pattern)
{
    return pattern_matches(pattern, 0);
}

static const char *const reload_words[] = {
    "none", "postfix", "opendkim", "nginx", "dovecot", "apache2", "auto",
    NULL};

int kw_reload_parse(const char *word)
{
    int i;

    for (i = 1; reload_words[i] != NULL; i++)
        if (strcmp(word, reload_words[i]) == 0)
            return i;
    return -1;
}

const char *kw_reload_word(kw_reload r)
{
    return (int)r >= 0 && (int)r <= KW_RELOAD_AUTO ? reload_words[r] : "?";
}

static int any_glob(char *const *globs, size_t n, const char *s)
{
    size_t i;

    if (n == 0)
        return 1;
    if (s == NULL)
        return 0;
    for (i = 0; i < n; i++)
        if (fnmatch(globs[i], s, 0) == 0)
            return 1;
    return 0;
}

int kw_hook_matches(const kw_hook_def *h, const char *type,
                    const char *object, const char *kind,
                    const char *source_hook)
{
    size_t i;

    if (strcmp(type, "hook.failed") == 0 && source_hook != NULL &&
        strcmp(source_hook, h->name) == 0)
        return 0;
    if (!any_glob(h->on, h->non, type) || h->non == 0)
        return 0;
    if (!any_glob(h->objects, h->nobjects, object))
        return 0;
    if (h->nkinds == 0)
        return 1;
    for (i = 0; i < h->nkinds; i++)
        if (kind != NULL && strcmp(h->kinds[i], kind) == 0)
            return 1;
    return 0;
}

static int push(char ***v, size_t *n, const char *s, size_t len)
{
    char **nv = realloc(*v, (*n + 2) * sizeof(*nv));

    if (nv == NULL)
        return -1;
    *v = nv;
    if ((nv[*n] = strndup(s, len)) == NULL)
        return -1;
    nv[++*n] = NULL;
    return 0;
}

static void free_vec(char **v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int kw_hook_split(const char *line, char ***argv, size_t *argc,
                  const char **why)
{
    size_t cap = strlen(line) + 1, len = 0;
    char *word = malloc(cap);
    const char *p = line;
    int in_word = 0;

    *argv = NULL;
    *argc = 0;
    if (word == NULL) {
        *why = "out of memory";
        return -1;
    }
    for (;;) {
        char ch = *p;

        if (ch == '\0' || ch == ' ' || ch == '\t') {
            if (in_word && push(argv, argc, word, len) != 0) {
                *why = "out of memory";
                goto fail;
            }
            in_word = 0;
            len = 0;
            if (ch == '\0')
                break;
            p++;
            continue;
        }
        in_word = 1;
        if (ch == '\'' || ch == '"') {
            char q = ch;

            for (p++; *p != q; p++) {
                if (*p == '\0') {
                    *why = q == '"' ? "unbalanced \" quote"
                                    : "unbalanced ' quote";
                    goto fail;
                }
                if (q == '"' && *p == '\\' && p[1] != '\0')
                    p++;
                word[len++] = *p;
            }
            p++;
            continue;
        }
        if (ch == '\\' && p[1] != '\0')
            p++;
        word[len++] = *p++;
    }
    free(word);
    if (*argc == 0) {
        *why = "no command";
        return -1;
    }
    return 0;
fail:
    free(word);
    free_vec(*argv, *argc);
    *argv = NULL;
    *argc = 0;
    return -1;
}

void kw_hook_def_free(kw_hook_def *h)
{
    if (h == NULL)
        return;
    free(h->name);
    free_vec(h->on, h->non);
    free_vec(h->objects, h->nobjects);
    free_vec(h->kinds, h->nkinds);
    free_vec(h->argv, h->nargv);
    free(h->run_line);
    free(h->reload_config);
    free(h->user);
    free(h->group);
    memset(h, 0, sizeof(*h));
}

static int copy_vec(char ***dst, size_t *dn, char *const *src, size_t n)
{
    size_t i;

    *dst = NULL;
    *dn = 0;
    for (i = 0; i < n; i++)
        if (push(dst, dn, src[i], strlen(src[i])) != 0)
            return -1;
    return 0;
}

int kw_hook_def_copy(kw_hook_def *dst, const kw_hook_def *src)
{
    int failed = 0;

    *dst = *src;
    dst->name = dst->reload_config = dst->user = dst->group = NULL;
    dst->run_line = NULL;
    dst->on = dst->objects = dst->kinds = dst->argv = NULL;
    dst->non = dst->nobjects = dst->nkinds = dst->nargv = 0;
    failed |= (dst->name = strdup(src->name)) == NULL;
#define DUP(f) failed |= src->f != NULL && (dst->f = strdup(src->f)) == NULL
    DUP(reload_config);
    DUP(run_line);
    DUP(user);
    DUP(group);
#undef DUP
    failed |= copy_vec(&dst->on, &dst->non, src->on, src->non);
    failed |= copy_vec(&dst->objects, &dst->nobjects, src->objects,
                       src->nobjects);
    failed |= copy_vec(&dst->kinds, &dst->nkinds, src->kinds, src->nkinds);
    failed |= copy_vec(&dst->argv, &dst->nargv, src->argv, src->nargv);
    if (failed) {
        kw_hook_def_free(dst);
        return KW_ENOMEM;
    }
    return 0;
}

/* OpenDKIM's PidFile setting in its configuration ("PidFile /run/x"),
 * case-insensitive as opendkim.conf(5) says; dflt when absent. */
static void opendkim_pidfile(const char *conf, char *out, size_t cap)
{
    unsigned char *text;
    char *line, *save = NULL;
    size_t len;

    snprintf(out, cap, "%s", "/run/opendkim/opendkim.pid");
    if (kw_fs_read_regular(conf, 1024 * 1024, &text, &len, NULL) != 0)
        return;
    for (line = strtok_r((char *)text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char *p = line, *v, *e;

        while (isspace((unsigned char)*p))
            p++;
        if (strncasecmp(p, "PidFile", 7) != 0 ||
            !isspace((unsigned char)p[7]))
            continue;
        v = p + 7;
        while (isspace((unsigned char)*v))
            v++;
        e = v + strcspn(v, " \t\r\n#");
        *e = '\0';
        if (*v != '\0')
            snprintf(out, cap, "%s", v);
    }
    free(text);
}

void kw_reload_plan_make(kw_reload r, const char *config,
                         kw_reload_plan *p)
{
    kw_reload_step *a = &p->steps[0], *b = &p->steps[1];
    const char *c;
    int i = 0;

    memset(p, 0, sizeof(*p));
    if (config != NULL)
        snprintf(p->config, sizeof(p->config), "%s", config);
    c = config != NULL ? p->config : NULL;
    switch (r) {
    case KW_RELOAD_POSTFIX:
        /* postfix(1): "reload: Re-read configuration files.  Running
         * processes terminate at their earliest convenience." */
        a->argv[i++] = "/usr/sbin/postfix";
        if (c != NULL) {
            a->argv[i++] = "-c";
            a->argv[i++] = c;
        }
        a->argv[i++] = "reload";
        /* The postfix command writes to stderr only when it is a
         * terminal; otherwise to the mail log. */
        a->hint = "Postfix reports to its mail log (maillog_file, or "
                  "syslog's mail facility)";
        p->nsteps = 1;
        break;
    case KW_RELOAD_NGINX:
        /* A configuration that does not load would make reload a no-op
         * that only logs: test first, so the failure is ours to report. */
        a->argv[i++] = "/usr/sbin/nginx";
        if (c != NULL) {
            a->argv[i++] = "-c";
            a->argv[i++] = c;
        }
        a->argv[i++] = "-t";
        memcpy(b->argv, a->argv, sizeof(b->argv));
        b->argv[i - 1] = "-s";
        b->argv[i] = "reload";
        p->nsteps = 2;
        break;
    case KW_RELOAD_DOVECOT:
        a->argv[i++] = "/usr/bin/doveadm";
        if (c != NULL) {
            a->argv[i++] = "-c";
            a->argv[i++] = c;
        }
        a->argv[i++] = "reload";
        p->nsteps = 1;
        break;
    case KW_RELOAD_APACHE2:
        a->argv[0] = "/usr/sbin/apache2ctl";
        a->argv[1] = "configtest";
        b->argv[0] = "/usr/sbin/apache2ctl";
        b->argv[1] = "graceful";
        p->nsteps = 2;
        break;
    case KW_RELOAD_OPENDKIM:
        /* opendkim(8): SIGUSR1 makes the filter reload its configuration
         * and the tables it names; Debian's unit does the same
         * (ExecReload=/bin/kill -USR1 $MAINPID).  -n checks the
         * configuration first. */
        a->argv[i++] = "/usr/sbin/opendkim";
        a->argv[i++] = "-n";
        a->argv[i++] = "-x";
        a->argv[i++] = c != NULL ? c : "/etc/opendkim.conf";
        b->signal = SIGUSR1;
        b->comm = "opendkim";
        opendkim_pidfile(c != NULL ? c : "/etc/opendkim.conf", b->pidfile,
                         sizeof(b->pidfile));
        p->nsteps = 2;
        break;
    default:
        break;
    }
}
