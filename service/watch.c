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

typedef struct watch_dir {
    uv_fs_event_t h;
    kw_watch *w;
} watch_dir;

typedef struct watch_req {
    uv_work_t req;
    kw_watch *w;
    char **roots;
    size_t nroots;
    char **dirs;
    size_t ndirs;
    int truncated;
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

static void watch_work(uv_work_t *req)
{
    watch_req *w = req->data;
    size_t i;

    for (i = 0; i < w->nroots; i++)
        collect_dirs(w, w->roots[i], 0);
}

static void on_debounce(uv_timer_t *t)
{
    kw_watch *w = t->data;

    kw_info("watch: changes under a scanned path; rescanning");
    w->changed(w->ctx);
}

static void on_fs_event(uv_fs_event_t *h, const char *name, int events,
                        int status)
{
    watch_dir *wd = h->data;

    (void)name;
    (void)events;
    if (status != 0 || !wd->w->enabled)
        return;
    /* Restarting the timer on every event: a burst costs one rescan. */
    uv_timer_start(&wd->w->debounce, on_debounce, WATCH_DEBOUNCE_MS, 0);
}

static void free_dir(uv_handle_t *h)
{
    free(h->data);
}

static void drop_dirs(kw_watch *w)
{
    size_t i;

    for (i = 0; i < w->ndirs; i++) {
        uv_fs_event_stop(&w->dirs[i]->h);
        uv_close((uv_handle_t *)&w->dirs[i]->h, free_dir);
    }
    free(w->dirs);
    w->dirs = NULL;
    w->ndirs = 0;
}

static void watch_done(uv_work_t *req, int status)
{
    watch_req *q = req->data;
    kw_watch *w = q->w;
    size_t i;

    w->walking = 0;
    if (status == 0 && w->enabled) {
        drop_dirs(w);
        w->dirs = calloc(q->ndirs > 0 ? q->ndirs : 1, sizeof(*w->dirs));
        for (i = 0; w->dirs != NULL && i < q->ndirs; i++) {
            watch_dir *wd = calloc(1, sizeof(*wd));
            if (wd == NULL)
                break;
            wd->w = w;
            uv_fs_event_init(w->loop, &wd->h);
            wd->h.data = wd;
            if (uv_fs_event_start(&wd->h, on_fs_event, q->dirs[i], 0) != 0) {
                uv_close((uv_handle_t *)&wd->h, free_dir);
                continue;
            }
            w->dirs[w->ndirs++] = wd;
        }
        if (q->truncated)
            kw_warn("watch: more than %d directories under the scanned "
                    "paths; changes deeper are found by the periodic scan",
                    MAX_WATCHES);
        kw_debug("watch: %zu directories", w->ndirs);
    }
    for (i = 0; i < q->nroots; i++)
        free(q->roots[i]);
    for (i = 0; i < q->ndirs; i++)
        free(q->dirs[i]);
    free(q->roots);
    free(q->dirs);
    free(q);
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

void kw_watch_start(kw_watch *w, const char *const *roots, size_t n)
{
    watch_req *q;
    size_t i;

    w->enabled = 1;
    if (w->walking)
        return;
    q = calloc(1, sizeof(*q));
    if (q == NULL)
        return;
    q->w = w;
    q->req.data = q;
    q->roots = calloc(n + 1, sizeof(*q->roots));
    for (i = 0; q->roots != NULL && i < n; i++)
        if ((q->roots[q->nroots] = strdup(roots[i])) != NULL)
            q->nroots++;
    if (uv_queue_work(w->loop, &q->req, watch_work, watch_done) != 0) {
        for (i = 0; i < q->nroots; i++)
            free(q->roots[i]);
        free(q->roots);
        free(q);
        return;
    }
    w->walking = 1;
}

void kw_watch_stop(kw_watch *w)
{
    w->enabled = 0;
    uv_timer_stop(&w->debounce);
    drop_dirs(w);
}

void kw_watch_close(kw_watch *w)
{
    kw_watch_stop(w);
    if (!uv_is_closing((uv_handle_t *)&w->debounce))
        uv_close((uv_handle_t *)&w->debounce, NULL);
}
