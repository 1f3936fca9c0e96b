/*
 * watch.h: inotify on the directories under the scanned paths, so a
 * change is rescanned within seconds instead of at the next interval.
 *
 * The directories are found by a walk on the pool (at most 512, 16
 * deep; symlinked directories are not followed); the loop then holds one
 * uv_fs_event per directory.  A burst of changes costs one call of
 * `changed`, 2 s after the last event.  Nothing here blocks the loop.
 *
 * Flat mode (flat set after init; the daemon's watch of the DKIM signers'
 * files): each root is watched itself, not the tree under it, and a root
 * that is not a directory (a file, or one not there yet) is watched
 * through its parent directory, for changes to that name only, so
 * watching /etc/opendkim.conf does not report every change in /etc.
 *
 * Lifetime: kw_watch_init() on a zeroed kw_watch; kw_watch_close() at
 * the end, after which the loop must run to close its handles.  `walked`
 * runs after every walk (the daemon's stop waits for them: `walking`).
 */
#ifndef KW_WATCH_H
#define KW_WATCH_H

#include <stddef.h>
#include <uv.h>

struct watch_dir;

typedef struct kw_watch {
    uv_loop_t *loop;
    uv_timer_t debounce;
    struct watch_dir **dirs;
    size_t ndirs;
    int walking;  /* a walk in flight on the pool */
    char **pending; /* roots asked for during that walk, walked next */
    size_t npending;
    int enabled;  /* between kw_watch_start() and kw_watch_stop() */
    int flat;     /* roots themselves, files through their directory */
    const char *what; /* for the log: "a scanned path" (the default) */
    void (*changed)(void *ctx);
    void (*walked)(void *ctx);
    void *ctx;
} kw_watch;

void kw_watch_init(kw_watch *w, uv_loop_t *loop, void (*changed)(void *),
                   void (*walked)(void *), void *ctx);

/* Watch the directories under roots (copied), replacing what is watched
 * once the walk is done.  A directory watched before and found again
 * keeps its watch (and the events queued on it).  Asked while a walk
 * runs, the newest roots are walked when that walk ends. */
void kw_watch_start(kw_watch *w, const char *const *roots, size_t n);

/* Watch nothing (a walk in flight installs nothing) and drop a pending
 * `changed`. */
void kw_watch_stop(kw_watch *w);

/* kw_watch_stop, and close the timer. */
void kw_watch_close(kw_watch *w);

#endif
