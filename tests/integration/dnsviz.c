/*
 * dnsviz.c: dnsviz as an offline oracle (see dnsviz.h).
 */
#include "dnsviz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "proc.h"

#define DNSVIZ "/usr/bin/dnsviz"
#define PYTHON "/usr/bin/python3"

static const char shim[] =
    "import sys, types, pygraphviz\n"
    "m = types.ModuleType('pygraphviz.release')\n"
    "m.version = pygraphviz.__version__\n"
    "sys.modules['pygraphviz.release'] = m\n"
    "pygraphviz.release = m\n"
    "sys.argv = ['" DNSVIZ "'] + sys.argv[1:]\n"
    "exec(compile(open('" DNSVIZ "').read(), '" DNSVIZ "', 'exec'))\n";

int dv_available(void)
{
    return access(DNSVIZ, X_OK) == 0 && access(PYTHON, X_OK) == 0;
}

/* Runs argv, dnsviz's subcommand what (its stdout into *out when out is
 * given); the exit code. */
static int run(const char *what, char *const argv[], int timeout_ms,
               char **out)
{
    char *o = NULL, *e = NULL;
    int ofd, efd, rc;
    pid_t pid = proc_spawn_pipes(argv, &ofd, &efd);

    if (pid <= 0)
        return -1;
    proc_drain(ofd, efd, &o, &e);
    rc = proc_wait(pid, timeout_ms);
    if (rc != 0)
        fprintf(stderr, "dnsviz %s: exit %d: %s\n", what, rc,
                e ? e : "");
    free(e);
    if (out != NULL)
        *out = o;
    else
        free(o);
    return rc;
}

static void append(char *buf, size_t cap, const char *s)
{
    size_t l = strlen(buf);

    if (strstr(buf, s) != NULL)
        return;
    snprintf(buf + l, cap - l, "%s%s", l > 0 ? "," : "", s);
}

/* Every "errors" and "warnings" code under j. */
static void codes(json_t *j, dv_verdict *v)
{
    const char *k;
    json_t *x;
    size_t i;

    if (json_is_array(j)) {
        json_array_foreach(j, i, x)
            codes(x, v);
        return;
    }
    if (!json_is_object(j))
        return;
    json_object_foreach(j, k, x) {
        int err = strcmp(k, "errors") == 0, warn = strcmp(k, "warnings") == 0;

        if ((err || warn) && json_is_array(x)) {
            json_t *c;

            json_array_foreach(x, i, c) {
                const char *code = json_string_value(json_object_get(c,
                                                                     "code"));

                if (code != NULL)
                    append(err ? v->errors : v->warnings,
                           err ? sizeof(v->errors) : sizeof(v->warnings),
                           code);
            }
        }
        codes(x, v);
    }
}

int dv_judge(const char *dir, const char *anchor, const char *const *xs,
             size_t nx, const char *zone, dv_verdict *v)
{
    char probe_out[600], *argv[32], *out = NULL;
    size_t n = 0, i;
    json_t *root, *z;
    json_error_t je;
    const char *st;

    memset(v, 0, sizeof(*v));
    snprintf(probe_out, sizeof(probe_out), "%s/dnsviz-probe.json", dir);
    argv[n++] = (char *)DNSVIZ;
    argv[n++] = (char *)"probe";
    argv[n++] = (char *)"-A";
    for (i = 0; i < nx && n < 24; i++) {
        argv[n++] = (char *)"-x";
        argv[n++] = (char *)xs[i];
    }
    argv[n++] = (char *)"-o";
    argv[n++] = probe_out;
    argv[n++] = (char *)zone;
    argv[n] = NULL;
    if (run("probe", argv, 120000, NULL) != 0)
        return -1;
    n = 0;
    argv[n++] = (char *)PYTHON;
    argv[n++] = (char *)"-c";
    argv[n++] = (char *)shim;
    argv[n++] = (char *)"grok";
    argv[n++] = (char *)"-t";
    argv[n++] = (char *)anchor;
    argv[n++] = (char *)"-r";
    argv[n++] = probe_out;
    argv[n] = NULL;
    if (run("grok", argv, 60000, &out) != 0 || out == NULL) {
        free(out);
        return -1;
    }
    root = json_loads(out, 0, &je);
    free(out);
    z = json_object_get(root, zone);
    if (z == NULL) {
        fprintf(stderr, "dnsviz grok: no verdict on %s\n", zone);
        json_decref(root);
        return -1;
    }
    /* The zone's own "status" is the rcode; the chain's verdict is the
     * delegation's. */
    st = json_string_value(json_object_get(json_object_get(z, "delegation"),
                                           "status"));
    snprintf(v->status, sizeof(v->status), "%s", st ? st : "?");
    codes(z, v);
    json_decref(root);
    return 0;
}
