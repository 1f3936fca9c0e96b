/*
 * The state directory (service/state.h): where it resolves to, the
 * lock's one writer and the words that name who holds it, the inventory
 * it opens, and the control socket's path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <unistd.h>

#include "service/state.h"
#include "tmpdir.h"

static char g_dir[512];

static int setup(void **state)
{
    (void)state;
    tmpdir_make(g_dir, sizeof(g_dir), "state");
    unsetenv("KEYWARDEN_STATE_DIR");
    unsetenv("KEYWARDEN_NOW");
    unsetenv("XDG_STATE_HOME");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tmpdir_remove(g_dir);
    return 0;
}

static void resolves_in_order(void **state)
{
    kw_state st;
    kw_diag d;
    char want[1024];

    (void)state;
    /* --state-dir first, then the environment. */
    setenv("KEYWARDEN_STATE_DIR", "/from/env", 1);
    assert_int_equal(kw_state_init(&st, "/from/opt", &d), 0);
    assert_string_equal(st.state_dir, "/from/opt");
    assert_string_equal(st.db_path, "/from/opt/keywarden.db");
    assert_string_equal(st.config_path, "/etc/keywarden/keywarden.conf");
    assert_int_equal(st.config_given, 0);
    assert_int_equal(kw_state_init(&st, "", &d), 0);
    assert_string_equal(st.state_dir, "/from/env");
    unsetenv("KEYWARDEN_STATE_DIR");

    if (geteuid() == 0) {
        assert_int_equal(kw_state_init(&st, NULL, &d), 0);
        assert_string_equal(st.state_dir, "/var/lib/keywarden");
        return;
    }
    /* XDG_STATE_HOME only when absolute, else ~/.local/state. */
    setenv("XDG_STATE_HOME", "/xdg", 1);
    assert_int_equal(kw_state_init(&st, NULL, &d), 0);
    assert_string_equal(st.state_dir, "/xdg/keywarden");
    setenv("XDG_STATE_HOME", "relative", 1);
    setenv("HOME", g_dir, 1);
    assert_int_equal(kw_state_init(&st, NULL, &d), 0);
    snprintf(want, sizeof(want), "%s/.local/state/keywarden", g_dir);
    assert_string_equal(st.state_dir, want);
    unsetenv("XDG_STATE_HOME");
}

static void refuses_what_it_cannot_use(void **state)
{
    kw_state st;
    kw_diag d;
    char *longpath = malloc(PATH_MAX + 16);

    (void)state;
    assert_non_null(longpath);
    memset(longpath, 'a', PATH_MAX + 15);
    longpath[0] = '/';
    longpath[PATH_MAX + 15] = '\0';
    assert_int_equal(kw_state_init(&st, longpath, &d), KW_EINVAL);
    assert_string_equal(d.msg, "state directory path is too long");
    free(longpath);

    /* The clock pinned, and pinned wrong. */
    setenv("KEYWARDEN_NOW", "1700000000", 1);
    assert_int_equal(kw_state_init(&st, g_dir, &d), 0);
    assert_int_equal(st.now, 1700000000);
    setenv("KEYWARDEN_NOW", "yesterday", 1);
    assert_int_equal(kw_state_init(&st, g_dir, &d), KW_EINVAL);
    assert_non_null(strstr(d.msg, "KEYWARDEN_NOW=yesterday: "));
    unsetenv("KEYWARDEN_NOW");
}

/* flock() locks belong to the open file, so a second open in this
 * process meets the first as another process would. */
static void one_writer_named_by_its_holder(void **state)
{
    kw_state st;
    kw_diag d;
    char lock[1024], want[1600], *text;
    int fd, fd2;
    FILE *f;

    (void)state;
    assert_int_equal(kw_state_init(&st, g_dir, &d), 0);
    assert_int_equal(kw_state_lock(&st, "renew", &fd, &d), 0);
    assert_true(fd >= 0);
    path_join(lock, sizeof(lock), g_dir, "keywarden.lock");
    text = slurp(lock, NULL);
    assert_non_null(text);
    snprintf(want, sizeof(want), "%ld renew\n", (long)getpid());
    assert_string_equal(text, want);
    free(text);

    assert_int_equal(kw_state_lock(&st, "scan", &fd2, &d), KW_EBUSY);
    assert_int_equal(fd2, -1);
    snprintf(want, sizeof(want),
             "keywarden renew (pid %ld) is running on %s and holds its "
             "lock; try again when it is done",
             (long)getpid(), g_dir);
    assert_string_equal(d.msg, want);
    close(fd);

    /* The daemon is named as the daemon. */
    assert_int_equal(kw_state_lock(&st, "serve", &fd, &d), 0);
    assert_int_equal(kw_state_lock(&st, "scan", &fd2, &d), KW_EBUSY);
    snprintf(want, sizeof(want),
             "a keywarden daemon (keywarden serve, pid %ld) is running on "
             "%s",
             (long)getpid(), g_dir);
    assert_string_equal(d.msg, want);

    /* A holder whose file says nothing (written by hand, or cut short). */
    f = fopen(lock, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(kw_state_lock(&st, "scan", &fd2, &d), KW_EBUSY);
    snprintf(want, sizeof(want), "another keywarden process holds %s", lock);
    assert_string_equal(d.msg, want);
    f = fopen(lock, "w");
    assert_non_null(f);
    fputs("4242\n", f);
    fclose(f);
    assert_int_equal(kw_state_lock(&st, "scan", &fd2, &d), KW_EBUSY);
    snprintf(want, sizeof(want),
             "another keywarden process (pid 4242) holds %s", lock);
    assert_string_equal(d.msg, want);
    close(fd);

    /* Released with its descriptor. */
    assert_int_equal(kw_state_lock(&st, "scan", &fd, &d), 0);
    close(fd);
}

static void opens_and_creates_the_inventory(void **state)
{
    kw_state st;
    kw_diag d;
    ks_store *s = (ks_store *)&st;
    char sub[1024];
    struct stat sb;

    (void)state;
    path_join(sub, sizeof(sub), g_dir, "new/state");
    assert_int_equal(kw_state_init(&st, sub, &d), 0);
    assert_false(kw_state_has_inventory(&st));
    assert_int_not_equal(kw_state_open(&st, 0, &s, &d), 0);
    assert_null(s);
    assert_int_equal(kw_state_open(&st, 1, &s, &d), 0);
    assert_non_null(s);
    ks_close(s);
    assert_int_equal(stat(sub, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    assert_true(kw_state_has_inventory(&st));
    assert_int_equal(kw_state_open(&st, 0, &s, &d), 0);
    ks_close(s);

    /* An empty file is no inventory. */
    assert_int_equal(truncate(st.db_path, 0), 0);
    assert_false(kw_state_has_inventory(&st));
}

static void control_socket_path(void **state)
{
    kw_state st;
    kw_diag d;
    char out[64];

    (void)state;
    assert_int_equal(kw_state_init(&st, "/srv/kw", &d), 0);
    kw_state_control_path(&st, NULL, out, sizeof(out));
    assert_string_equal(out, "/srv/kw/keywarden.sock");
    kw_state_control_path(&st, "/run/keywarden/control.sock", out,
                          sizeof(out));
    assert_string_equal(out, "/run/keywarden/control.sock");
    /* Too long for the buffer: no socket, rather than a cut path. */
    kw_state_control_path(&st, NULL, out, 10);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(resolves_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_what_it_cannot_use, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(one_writer_named_by_its_holder, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(opens_and_creates_the_inventory,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(control_socket_path, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
