/*
 * The inotify watches under the scanned paths (service/watch.h).
 *
 * The daemon walks the scanned paths again after every scan and every
 * reload.  A rebuild must keep the watch of a directory that is still
 * there: removing an inotify watch drops the events the kernel has queued
 * for it and not yet delivered, so a certificate renewed on disk at that
 * moment would wait for the periodic scan (test_served's stale Postfix
 * check saw exactly that after a burst of reloads).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "service/watch.h"
#include "tmpdir.h"

typedef struct fixture {
    char dir[512];
    uv_loop_t loop;
    kw_watch w;
    int walked, changed;
    uv_timer_t guard;
} fixture;

static void on_changed(void *ctx)
{
    ((fixture *)ctx)->changed++;
}

static void on_walked(void *ctx)
{
    ((fixture *)ctx)->walked++;
}

static void on_guard(uv_timer_t *t)
{
    uv_stop(t->loop);
}

/* Run the loop until *counter reaches want or 10 s pass. */
static void run_until(fixture *f, const int *counter, int want)
{
    uv_timer_start(&f->guard, on_guard, 10000, 0);
    while (*counter < want && uv_timer_get_due_in(&f->guard) > 0)
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_timer_stop(&f->guard);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    char sub[600];

    tmpdir_make(f->dir, sizeof(f->dir), "watch");
    path_join(sub, sizeof(sub), f->dir, "a");
    mkdir(sub, 0755);
    path_join(sub, sizeof(sub), f->dir, "b");
    mkdir(sub, 0755);
    uv_loop_init(&f->loop);
    uv_timer_init(&f->loop, &f->guard);
    kw_watch_init(&f->w, &f->loop, on_changed, on_walked, f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    kw_watch_close(&f->w);
    uv_close((uv_handle_t *)&f->guard, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    tmpdir_remove(f->dir);
    free(f);
    return 0;
}

static void touch(const char *dir, const char *leaf)
{
    char p[600];
    int fd;

    path_join(p, sizeof(p), dir, leaf);
    fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "x", 1), 1);
    close(fd);
}

/* The watched directories, by path, in the handles' own words. */
static int watched(fixture *f, const char *leaf, void **handle)
{
    char want[600], got[1024];
    size_t i, len;

    if (leaf != NULL)
        path_join(want, sizeof(want), f->dir, leaf);
    else
        snprintf(want, sizeof(want), "%s", f->dir);
    for (i = 0; i < f->w.ndirs; i++) {
        uv_fs_event_t *h = (uv_fs_event_t *)f->w.dirs[i];

        len = sizeof(got);
        if (uv_fs_event_getpath(h, got, &len) == 0 && strcmp(got, want) == 0) {
            if (handle != NULL)
                *handle = h;
            return 1;
        }
    }
    return 0;
}

static void rebuild_keeps_watches(void **state)
{
    fixture *f = *state;
    const char *roots[1];
    void *before = NULL, *after = NULL;
    char sub[600];

    roots[0] = f->dir;
    kw_watch_start(&f->w, roots, 1);
    run_until(f, &f->walked, 1);
    assert_int_equal(f->walked, 1);
    assert_int_equal(f->w.ndirs, 3);
    assert_true(watched(f, "a", &before));

    /* A rebuild over the same tree keeps the very same watch. */
    kw_watch_start(&f->w, roots, 1);
    run_until(f, &f->walked, 2);
    assert_int_equal(f->w.ndirs, 3);
    assert_true(watched(f, "a", &after));
    assert_ptr_equal(before, after);
    assert_true(uv_is_active((uv_handle_t *)after));

    /* A directory that is gone loses its watch; a new one gains one. */
    path_join(sub, sizeof(sub), f->dir, "b");
    assert_int_equal(rmdir(sub), 0);
    path_join(sub, sizeof(sub), f->dir, "c");
    assert_int_equal(mkdir(sub, 0755), 0);
    kw_watch_start(&f->w, roots, 1);
    run_until(f, &f->walked, 3);
    assert_int_equal(f->w.ndirs, 3);
    assert_false(watched(f, "b", NULL));
    assert_true(watched(f, "c", NULL));
    assert_true(watched(f, "a", &after));
    assert_ptr_equal(before, after);

    /* And the kept watches still report. */
    touch(sub, "cert.pem");
    run_until(f, &f->changed, 1);
    assert_int_equal(f->changed, 1);
}

/* New roots asked for while a walk is in flight are walked after it,
 * not dropped (a reload during a walk used to keep the old roots until
 * the next scan). */
static void roots_during_walk_are_kept(void **state)
{
    fixture *f = *state;
    const char *roots[1];
    char a[600], b[600];

    path_join(a, sizeof(a), f->dir, "a");
    path_join(b, sizeof(b), f->dir, "b");
    roots[0] = a;
    kw_watch_start(&f->w, roots, 1);
    assert_int_equal(f->w.walking, 1);
    roots[0] = b;
    kw_watch_start(&f->w, roots, 1);
    run_until(f, &f->walked, 2);
    assert_int_equal(f->walked, 2);
    assert_int_equal(f->w.ndirs, 1);
    assert_true(watched(f, "b", NULL));
    assert_false(watched(f, "a", NULL));
}

/* A root that is not there: nothing to watch, and the watches it had
 * go (qsort was once handed the walk's NULL list). */
static void missing_root_watches_nothing(void **state)
{
    fixture *f = *state;
    const char *roots[1];
    char gone[600];

    roots[0] = f->dir;
    kw_watch_start(&f->w, roots, 1);
    run_until(f, &f->walked, 1);
    assert_int_equal(f->w.ndirs, 3);
    path_join(gone, sizeof(gone), f->dir, "not-there");
    roots[0] = gone;
    kw_watch_start(&f->w, roots, 1);
    run_until(f, &f->walked, 2);
    assert_int_equal(f->walked, 2);
    assert_int_equal(f->w.ndirs, 0);
}

/* Run the loop for ms, whatever happens. */
static void run_for(fixture *f, int ms)
{
    uv_timer_start(&f->guard, on_guard, (uint64_t)ms, 0);
    while (uv_timer_get_due_in(&f->guard) > 0)
        uv_run(&f->loop, UV_RUN_ONCE);
}

/* Flat mode (a DKIM signer's files): a directory root is watched itself,
 * not below; a file root through its directory, and only for its name,
 * so a change beside opendkim.conf in /etc costs nothing; a file not
 * there yet is watched for its creation. */
static void flat_watches_files_by_name(void **state)
{
    fixture *f = *state;
    const char *roots[4];
    char a[600], conf[600], later[600], sub[600];

    path_join(a, sizeof(a), f->dir, "a");
    path_join(sub, sizeof(sub), a, "deeper");
    assert_int_equal(mkdir(sub, 0755), 0);
    touch(f->dir, "opendkim.conf");
    path_join(conf, sizeof(conf), f->dir, "opendkim.conf");
    path_join(later, sizeof(later), f->dir, "b/KeyTable");
    f->w.flat = 1;
    roots[0] = a;
    roots[1] = conf;
    roots[2] = later;
    roots[3] = conf; /* named twice: still one watch */
    kw_watch_start(&f->w, roots, 4);
    run_until(f, &f->walked, 1);
    assert_int_equal(f->w.ndirs, 3);
    assert_true(watched(f, NULL, NULL));
    assert_true(watched(f, "a", NULL));
    assert_true(watched(f, "b", NULL));
    assert_false(watched(f, "a/deeper", NULL));

    /* Beside the file, and below the directory: nothing. */
    touch(f->dir, "adjtime");
    touch(sub, "x.private");
    run_for(f, 2600);
    assert_int_equal(f->changed, 0);

    /* The file itself, a file created later, and anything in a directory
     * root each report. */
    touch(f->dir, "opendkim.conf");
    run_until(f, &f->changed, 1);
    assert_int_equal(f->changed, 1);
    path_join(sub, sizeof(sub), f->dir, "b");
    touch(sub, "KeyTable");
    run_until(f, &f->changed, 2);
    assert_int_equal(f->changed, 2);
    touch(a, "new.private");
    run_until(f, &f->changed, 3);
    assert_int_equal(f->changed, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(rebuild_keeps_watches, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(roots_during_walk_are_kept, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(missing_root_watches_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(flat_watches_files_by_name, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
