#include "kw_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int kw_read_fd(int fd, unsigned char *buf, size_t cap, size_t *len)
{
    size_t got = 0;
    unsigned char probe;

    *len = 0;
    for (;;) {
        ssize_t n;

        if (got == cap) {
            /* Full: one more byte means the file is over the limit. */
            n = read(fd, &probe, 1);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return kw_errno();
            *len = got;
            return n == 0 ? 0 : KW_ETOOBIG;
        }
        n = read(fd, buf + got, cap - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return kw_errno();
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    *len = got;
    return 0;
}

int kw_mkdir_p(const char *path, mode_t mode)
{
    char tmp[4096];
    size_t n = strlen(path), i;

    if (n == 0 || n >= sizeof(tmp))
        return KW_EINVAL;
    memcpy(tmp, path, n + 1);
    for (i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == '\0') {
            char c = tmp[i];
            tmp[i] = '\0';
            if (mkdir(tmp, mode) != 0 && errno != EEXIST)
                return kw_errno();
            tmp[i] = c;
        }
    }
    return 0;
}

static int fsync_dir_of(const char *path)
{
    char tmp[4096];
    int fd, r = 0;

    if (strlen(path) >= sizeof(tmp))
        return KW_EINVAL;
    strcpy(tmp, path);
    fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return kw_errno();
    if (fsync(fd) != 0)
        r = kw_errno();
    close(fd);
    return r;
}

int kw_write_atomic(const char *path, const void *data, size_t len,
                    mode_t mode, kw_diag *d)
{
    char tmp[4096];
    const unsigned char *p = data;
    size_t off = 0;
    int fd = -1, r;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
                         (long)getpid()) >= sizeof(tmp))
        return kw_diag_set(d, KW_EINVAL, "%s: path too long", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
              mode);
    if (fd < 0 && errno == EEXIST) {
        /* A leftover from a crash of this same pid number: ours to drop. */
        unlink(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                  mode);
    }
    if (fd < 0) {
        r = kw_errno();
        return kw_diag_set(d, r, "%s: cannot create: %s", tmp,
                           kw_strerror(r));
    }
    /* The umask may have narrowed the mode; set it exactly. */
    if (fchmod(fd, mode) != 0)
        goto fail;
    while (off < len) {
        ssize_t n = write(fd, p + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto fail;
        off += (size_t)n;
    }
    if (fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto fail;
    r = fsync_dir_of(path);
    if (r != 0)
        return kw_diag_set(d, r, "%s: fsync of directory failed: %s", path,
                           kw_strerror(r));
    return 0;

fail:
    r = kw_errno();
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return kw_diag_set(d, r, "%s: write failed: %s", path, kw_strerror(r));
}

void kw_wipe(void *p, size_t n)
{
    if (p != NULL && n > 0)
        explicit_bzero(p, n);
}
