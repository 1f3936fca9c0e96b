/*
 * watch.c: inotify on the scanned paths' directories (see watch.h).
 */
#include "watch.h"

#include "../common/kw_log.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_WATCHES 512
#define WATCH_DEBOUNCE_MS 2000

/* The handle comes first: the tests read a watch's path through it. */
typedef struct watch_dir {
    uv_fs_event_t h;
    kw_watch *w;
    char *path;
    char *only; /* "/name/other/": changes to these entries only; NULL:
                 * any change */
} watch_dir;

typedef struct watch_req {
    uv_work_t req;
    kw_watch *w;
    char **roots;
    size_t nroots;
    char **dirs;
    char **only; /* per dir, as watch_dir.only (flat mode) */
    size_t ndirs;
    int truncated;
    int oom;
} watch_req;

static void collect_dirs(watch_req *w, const char *path, int depth)
{
    DIR *d;
    struct dirent *de;
    char sub[PATH_MAX];
    char **nd;
    struct stat sb;

    if (w->ndirs >= MAX_WATCHES) {
        w->truncated = 1;
        return;
    }
    if (depth > 16 || stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return;
    nd = realloc(w->dirs, (w->ndirs + 1) * sizeof(*nd));
    if (nd == NULL)
        return;
    w->dirs = nd;
    if ((w->dirs[w->ndirs] = strdup(path)) == NULL)
        return;
    w->ndirs++;
    /* Symlinked directories are not followed: the walk is only for
     * change notification, and the links' targets are watched where they
     * live when they are under a scanned path. */
    if ((d = opendir(path)) == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' &&
            (de->d_name[1] == '\0' ||
             (de->d_name[1] == '.' && de->d_name[2] == '\0')))
            continue;
        if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) >=
            sizeof(sub))
            continue;
        if (lstat(sub, &sb) == 0 && S_ISDIR(sb.st_mode))
            collect_dirs(w, sub, depth + 1);
    }
    closedir(d);
}

/* Flat mode: one (directory, name or NULL) pair for root. */
static void collect_flat(watch_req *w, const char *root)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(root, '/');
    struct stat sb;
    char **nd, **no;

    if (w->ndirs >= MAX_WATCHES) {
        w->truncated = 1;
        return;
    }
    nd = realloc(w->dirs, (w->ndirs + 1) * sizeof(*nd));
    if (nd != NULL)
        w->dirs = nd;
    no = realloc(w->only, (w->ndirs + 1) * sizeof(*no));
    if (no != NULL)
        w->only = no;
    if (nd == NULL || no == NULL)
        return;
    if (stat(root, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        w->dirs[w->ndirs] = strdup(root);
        w->only[w->ndirs] = NULL;
    } else {
        if (slash == NULL || slash[1] == '\0' ||
            (size_t)snprintf(dir, sizeof(dir), "%.*s",
                             slash == root ? 1 : (int)(slash - root),
                             root) >= sizeof(dir) ||
            stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return;
        w->dirs[w->ndirs] = strdup(dir);
        w->only[w->ndirs] = strdup(slash + 1);
        if (w->only[w->ndirs] == NULL) {
            free(w->dirs[w->ndirs]);
            return;
        }
    }
    if (w->dirs[w->ndirs] == NULL) {
        free(w->only[w->ndirs]);
        return;
    }
    w->ndirs++;
}

typedef struct flat_pair {
    char *dir, *only;
} flat_pair;

static int cmp_pair(const void *a, const void *b)
{
    return strcmp(((const flat_pair *)a)->dir, ((const flat_pair *)b)->dir);
}

/* Flat mode: one entry per directory, its names joined as "/a/b/" (NULL
 * when any root wants the whole directory), sorted by directory.  Out of
 * memory, nothing (oom set: the watched set stays as it was). */
static void group_flat(watch_req *w)
{
    flat_pair *v = calloc(w->ndirs + 1, sizeof(*v));
    size_t i, n = 0;

    for (i = 0; v != NULL && i < w->ndirs; i++) {
        v[i].dir = w->dirs[i];
        v[i].only = w->only[i];
    }
    if (v == NULL) {
        for (i = 0; i < w->ndirs; i++) {
            free(w->dirs[i]);
            free(w->only[i]);
        }
        w->ndirs = 0;
        w->oom = 1;
        return;
    }
    qsort(v, w->ndirs, sizeof(*v), cmp_pair);
    for (i = 0; i < w->ndirs; i++) {
        char *o = v[i].only, *grown = NULL;

        if (n > 0 && strcmp(w->dirs[n - 1], v[i].dir) == 0) {
            /* The same directory again: widen its filter (NULL, out of
             * memory included, is the whole directory). */
            if (w->only[n - 1] != NULL && o != NULL &&
                (grown = malloc(strlen(w->only[n - 1]) + strlen(o) + 2)) !=
                    NULL)
                sprintf(grown, "%s%s/", w->only[n - 1], o);
            free(w->only[n - 1]);
            w->only[n - 1] = grown;
            free(v[i].dir);
            free(o);
            continue;
        }
        w->dirs[n] = v[i].dir;
        w->only[n] = NULL;
        if (o != NULL && (w->only[n] = malloc(strlen(o) + 3)) != NULL)
            sprintf(w->only[n], "/%s/", o);
        free(o);
        n++;
    }
    w->ndirs = n;
    free(v);
}

static void watch_work(uv_work_t *req)
{
    watch_req *w = req->data;
    size_t i;

    for (i = 0; i < w->nroots; i++)
        if (w->w->flat)
            collect_flat(w, w->roots[i]);
        else
            collect_dirs(w, w->roots[i], 0);
    if (w->w->flat && w->ndirs > 0)
        group_flat(w);
}

/* Is name one of the entries of only ("/a/b/")? */
static int wanted(const char *only, const char *name)
{
    size_t n;
    const char *p;

    if (only == NULL)
        return 1;
    if (name == NULL || (n = strlen(name)) == 0)
        return 0;
    /* only starts with '/', and a name holds none: p > only. */
    for (p = only; (p = strstr(p, name)) != NULL; p++)
        if (p > only && p[-1] == '/' && p[n] == '/')
            return 1;
    return 0;
}

static void on_debounce(uv_timer_t *t)
{
    kw_watch *w = t->data;

    kw_info("watch: changes under %s; rescanning",
            w->what != NULL ? w->what : "a scanned path");
    w->changed(w->ctx);
}

static void on_fs_event(uv_fs_event_t *h, const char *name, int events,
                        int status)
{
    watch_dir *wd = h->data;

    (void)events;
    if (status != 0 || !wd->w->enabled || !wanted(wd->only, name))
        return;
    /* Restarting the timer on every event: a burst costs one rescan. */
    uv_timer_start(&wd->w->debounce, on_debounce, WATCH_DEBOUNCE_MS, 0);
}

static void free_dir(uv_handle_t *h)
{
    watch_dir *wd = h->data;

    free(wd->path);
    free(wd->only);
    free(wd);
}

static void drop_dir(watch_dir *wd)
{
    uv_fs_event_stop(&wd->h);
    uv_close((uv_handle_t *)&wd->h, free_dir);
}

static void drop_dirs(kw_watch *w)
{
    size_t i;

    for (i = 0; i < w->ndirs; i++)
        drop_dir(w->dirs[i]);
    free(w->dirs);
    w->dirs = NULL;
    w->ndirs = 0;
}

static watch_dir *add_dir(kw_watch *w, char *path, char *only)
{
    watch_dir *wd = calloc(1, sizeof(*wd));

    if (wd == NULL)
        return NULL;
    wd->w = w;
    uv_fs_event_init(w->loop, &wd->h);
    wd->h.data = wd;
    if (uv_fs_event_start(&wd->h, on_fs_event, path, 0) != 0) {
        uv_close((uv_handle_t *)&wd->h, free_dir);
        return NULL;
    }
    wd->path = path;
    wd->only = only;
    return wd;
}

static int cmp_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Replace the watched set with the walk's directories (sorted here),
 * keeping the watch of every directory in both: removing an inotify watch
 * drops the events queued for it and not yet read, so a file renewed just
 * before a rebuild would go unnoticed until the periodic scan.  Both
 * lists sorted by path, one merge.  Takes the paths it keeps.
 */
static void install(kw_watch *w, watch_req *q)
{
    watch_dir **nd = calloc(q->ndirs > 0 ? q->ndirs : 1, sizeof(*nd));
    size_t i = 0, j = 0, n = 0;

    if (nd == NULL)
        return; /* the old set stays: better than none */
    /* Flat mode sorted its pairs already; no paths, no array. */
    if (q->only == NULL && q->ndirs > 1)
        qsort(q->dirs, q->ndirs, sizeof(*q->dirs), cmp_path);
    while (i < w->ndirs || j < q->ndirs) {
        int c = i == w->ndirs   ? 1
                : j == q->ndirs ? -1
                                : strcmp(w->dirs[i]->path, q->dirs[j]);
        if (c < 0) {
            drop_dir(w->dirs[i++]);
        } else if (c == 0) {
            /* Kept, with the names this walk asks for. */
            if (q->only != NULL) {
                free(w->dirs[i]->only);
                w->dirs[i]->only = q->only[j];
                q->only[j] = NULL;
            }
            nd[n++] = w->dirs[i++];
            j++;
        } else {
            if ((nd[n] = add_dir(w, q->dirs[j],
                                 q->only != NULL ? q->only[j] : NULL)) !=
                NULL) {
                q->dirs[j] = NULL;
                if (q->only != NULL)
                    q->only[j] = NULL;
                n++;
            }
            j++;
        }
    }
    free(w->dirs);
    w->dirs = nd;
    w->ndirs = n;
}

static void free_roots(char **roots, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(roots[i]);
    free(roots);
}

static int start_walk(kw_watch *w, char **roots, size_t n);

static void watch_done(uv_work_t *req, int status)
{
    watch_req *q = req->data;
    kw_watch *w = q->w;
    size_t i;

    w->walking = 0;
    if (status == 0 && w->enabled && !q->oom) {
        install(w, q);
        if (q->truncated)
            kw_warn("watch: more than %d directories under the scanned "
                    "paths; changes deeper are found by the periodic scan",
                    MAX_WATCHES);
        kw_debug("watch: %zu directories", w->ndirs);
    }
    free_roots(q->roots, q->nroots);
    for (i = 0; i < q->ndirs; i++) {
        free(q->dirs[i]);
        if (q->only != NULL)
            free(q->only[i]);
    }
    free(q->dirs);
    free(q->only);
    free(q);
    /* Roots asked for during the walk: walk them now. */
    if (w->pending != NULL) {
        char **roots = w->pending;

        w->pending = NULL;
        if (!w->enabled || start_walk(w, roots, w->npending) != 0)
            free_roots(roots, w->npending);
    }
    w->walked(w->ctx);
}

void kw_watch_init(kw_watch *w, uv_loop_t *loop, void (*changed)(void *),
                   void (*walked)(void *), void *ctx)
{
    w->loop = loop;
    w->changed = changed;
    w->walked = walked;
    w->ctx = ctx;
    uv_timer_init(loop, &w->debounce);
    w->debounce.data = w;
}

/* Copies of roots[0..n), NULL-terminated array; NULL when out of memory. */
static char **copy_roots(const char *const *roots, size_t n)
{
    char **c = calloc(n + 1, sizeof(*c));
    size_t i;

    for (i = 0; c != NULL && i < n; i++)
        if ((c[i] = strdup(roots[i])) == NULL) {
            free_roots(c, i);
            return NULL;
        }
    return c;
}

/* Start a walk of roots (taken over on success). */
static int start_walk(kw_watch *w, char **roots, size_t n)
{
    watch_req *q = calloc(1, sizeof(*q));

    if (q == NULL)
        return -1;
    q->w = w;
    q->req.data = q;
    q->roots = roots;
    q->nroots = n;
    if (uv_queue_work(w->loop, &q->req, watch_work, watch_done) != 0) {
        free(q);
        return -1;
    }
    w->walking = 1;
    return 0;
}

void kw_watch_start(kw_watch *w, const char *const *roots, size_t n)
{
    char **c = copy_roots(roots, n);

    w->enabled = 1;
    if (c == NULL)
        return;
    if (w->walking) {
        /* The newest set wins; it is walked when this walk ends. */
        if (w->pending != NULL)
            free_roots(w->pending, w->npending);
        w->pending = c;
        w->npending = n;
        return;
    }
    if (start_walk(w, c, n) != 0)
        free_roots(c, n);
}

void kw_watch_stop(kw_watch *w)
{
    w->enabled = 0;
    if (w->pending != NULL) {
        free_roots(w->pending, w->npending);
        w->pending = NULL;
    }
    uv_timer_stop(&w->debounce);
    drop_dirs(w);
}

void kw_watch_close(kw_watch *w)
{
    kw_watch_stop(w);
    if (!uv_is_closing((uv_handle_t *)&w->debounce))
        uv_close((uv_handle_t *)&w->debounce, NULL);
}
