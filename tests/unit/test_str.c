#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/kw_fs.h"
#include "common/kw_json.h"
#include "common/kw_str.h"
#include "tmpdir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static void clean_escapes_controls_and_bad_utf8(void **state)
{
    char *s;

    (void)state;
    s = kw_str_clean((const unsigned char *)"a\x1b[31mb", 7);
    assert_string_equal(s, "a\\x1b[31mb");
    free(s);
    s = kw_str_clean((const unsigned char *)"M\xc3\xbcnchen", 8);
    assert_string_equal(s, "M\xc3\xbcnchen"); /* valid UTF-8 kept */
    free(s);
    s = kw_str_clean((const unsigned char *)"x\xff\xc3y", 4);
    assert_string_equal(s, "x\\xff\\xc3y");
    free(s);
    s = kw_str_clean((const unsigned char *)"a\0b", 3); /* embedded NUL */
    assert_string_equal(s, "a\\x00b");
    free(s);
    s = kw_str_clean((const unsigned char *)"\xe0\x80\x80", 3); /* overlong */
    assert_string_equal(s, "\\xe0\\x80\\x80");
    free(s);
    s = kw_str_clean((const unsigned char *)"\xc2\x85", 2); /* C1 NEL */
    assert_string_equal(s, "\\xc2\\x85");
    free(s);
}

static void appendf_truncates(void **state)
{
    char b[8];
    size_t pos = 0;

    (void)state;
    assert_int_equal(kw_str_appendf(b, sizeof(b), &pos, "%s", "abc"), 0);
    assert_int_equal(kw_str_appendf(b, sizeof(b), &pos, "%s", "defgh"), -1);
    assert_int_equal(pos, sizeof(b));
    assert_int_equal(kw_str_appendf(b, sizeof(b), &pos, "x"), -1);
}

/* kw_str_safef formats as printf does, except that %s and %c arguments
 * are escaped; the format's own newline is kept. */
static void safef_escapes_arguments_only(void **state)
{
    char b[256];
    size_t pos = 0;

    (void)state;
    assert_int_equal(kw_str_safef(b, sizeof(b), &pos,
                                  "[%-6s|%5s] %.3s %c%c %lld %zu %x %.2f "
                                  "%%\n",
                                  "a\nb", "ok", "x\x1b[31m", 'y', '\x07',
                                  -5LL, (size_t)7, 255u, 1.5),
                     0);
    assert_string_equal(b, "[a\\x0ab|   ok] x\\x1b[ y\\x07 -5 7 ff 1.50 %\n");
    pos = 0;
    assert_int_equal(kw_str_safef(b, sizeof(b), &pos, "%*s|%.*s|", 5,
                                  "\xff", 2, "M\xc3\xbc"),
                     0);
    assert_string_equal(b, " \\xff|M\\xc3|");
    pos = 0; /* a cut field is cut, not overflowed */
    assert_int_equal(kw_str_safef(b, 6, &pos, "%s", "\x1b\x1b"), -1);
    assert_string_equal(b, "\\x1b\\");
}

/* A path in JSON: a string when it is UTF-8 (controls and all), else
 * base64 of its bytes; a file really named with "\xff" stays a string,
 * so the two never meet. */
static void json_paths_are_lossless(void **state)
{
    static const char *const paths[] = {
        "/etc/ssl/a.pem", "/x/\x1b[31mred\nline", "/x/caf\xff.pem",
        "/x/caf\\xff.pem", "\xc3", "\xff\xfe\xfd", "M\xc3\xbcnchen",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        json_t *j = kw_json_path(paths[i]);
        char *back = kw_json_path_bytes(j);

        assert_non_null(back);
        assert_string_equal(back, paths[i]);
        assert_true(json_is_string(j) == kw_json_utf8_ok(paths[i]));
        free(back);
        json_decref(j);
    }
    {
        json_t *n = json_integer(1);

        assert_null(kw_json_path_bytes(n));
        json_decref(n);
    }
}

static void hex(void **state)
{
    const unsigned char in[] = {0x00, 0xab, 0xff};
    char out[16];

    (void)state;
    kw_hex(in, 3, 0, out);
    assert_string_equal(out, "00abff");
    kw_hex(in, 3, ':', out);
    assert_string_equal(out, "00:ab:ff");
}

static void atomic_write_sets_mode_and_replaces(void **state)
{
    char dir[256], path[512];
    struct stat sb;
    char *got;
    mode_t old = umask(022);

    (void)state;
    tmpdir_make(dir, sizeof(dir), "fs");
    path_join(path, sizeof(path), dir, "key.pem");
    assert_int_equal(kw_write_atomic(path, "one", 3, 0600, NULL), 0);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    assert_int_equal(kw_write_atomic(path, "two!", 4, 0640, NULL), 0);
    got = slurp(path, NULL);
    assert_string_equal(got, "two!");
    free(got);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0640);
    umask(old);
    tmpdir_remove(dir);
}

static void read_fd_is_bounded(void **state)
{
    char dir[256], path[512];
    unsigned char buf[10];
    size_t len;
    FILE *f;
    int fd;

    (void)state;
    tmpdir_make(dir, sizeof(dir), "rd");
    path_join(path, sizeof(path), dir, "f");
    f = fopen(path, "w");
    fputs("0123456789", f);
    fclose(f);
    fd = open(path, 0);
    assert_int_equal(kw_read_fd(fd, buf, 10, &len), 0);
    assert_int_equal(len, 10);
    close(fd);
    fd = open(path, 0);
    assert_int_equal(kw_read_fd(fd, buf, 9, &len), KW_ETOOBIG);
    close(fd);
    tmpdir_remove(dir);
}

/* kw_fs_read_regular: regular files only (a FIFO is refused at once,
 * not waited on), bounded, errors naming the path. */
static void read_regular_refuses_fifos_and_bounds(void **state)
{
    char dir[256], path[300], fifo[300];
    unsigned char *buf;
    size_t len;
    kw_diag d;

    (void)state;
    tmpdir_make(dir, sizeof(dir), "readreg");
    path_join(path, sizeof(path), dir, "f");
    assert_int_equal(kw_write_atomic(path, "0123456789", 10, 0600, NULL),
                     0);
    assert_int_equal(kw_fs_read_regular(path, 10, &buf, &len, &d), 0);
    assert_int_equal(len, 10);
    assert_memory_equal(buf, "0123456789\0", 11);
    free(buf);
    assert_int_equal(kw_fs_read_regular(path, 9, &buf, &len, &d),
                     KW_ETOOBIG);
    assert_null(buf);
    assert_non_null(strstr(d.msg, path));
    assert_non_null(strstr(d.msg, "larger than 9 bytes"));

    path_join(fifo, sizeof(fifo), dir, "fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(kw_fs_read_regular(fifo, 10, &buf, &len, &d),
                     KW_EINVAL);
    assert_null(buf);
    assert_non_null(strstr(d.msg, fifo));
    assert_non_null(strstr(d.msg, "a FIFO, not a regular file"));
    assert_int_equal(kw_fs_read_regular(dir, 10, &buf, &len, &d),
                     KW_EINVAL);
    assert_non_null(strstr(d.msg, "a directory"));
    assert_int_equal(kw_fs_read_regular("/dev/null", 10, &buf, &len, &d),
                     KW_EINVAL);
    assert_non_null(strstr(d.msg, "a character device"));
    path_join(path, sizeof(path), dir, "missing");
    assert_int_equal(kw_fs_read_regular(path, 10, &buf, &len, &d),
                     KW_ENOENT);
    assert_non_null(strstr(d.msg, "cannot open"));
    tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(clean_escapes_controls_and_bad_utf8),
        cmocka_unit_test(appendf_truncates),
        cmocka_unit_test(safef_escapes_arguments_only),
        cmocka_unit_test(json_paths_are_lossless),
        cmocka_unit_test(hex),
        cmocka_unit_test(atomic_write_sets_mode_and_replaces),
        cmocka_unit_test(read_fd_is_bounded),
        cmocka_unit_test(read_regular_refuses_fifos_and_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
