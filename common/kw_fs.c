#include "kw_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
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

static const char *file_kind(mode_t m)
{
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISFIFO(m))
        return "a FIFO";
    if (S_ISSOCK(m))
        return "a socket";
    if (S_ISCHR(m))
        return "a character device";
    if (S_ISBLK(m))
        return "a block device";
    return "not a regular file";
}

int kw_fs_read_regular(const char *path, size_t cap, unsigned char **out,
                       size_t *len, kw_diag *d)
{
    unsigned char *buf;
    struct stat st;
    int fd, r, fl;

    *out = NULL;
    *len = 0;
    /* Non-blocking, so that opening a FIFO returns at once (a blocking
     * open waits for a writer that may never come); O_NOCTTY so that a
     * terminal named here never becomes ours. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        r = kw_errno();
        return kw_diag_set(d, r, "%s: cannot open: %s", path,
                           kw_strerror(r));
    }
    if (fstat(fd, &st) != 0) {
        r = kw_errno();
        close(fd);
        return kw_diag_set(d, r, "%s: cannot stat: %s", path,
                           kw_strerror(r));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return kw_diag_set(d, KW_EINVAL,
                           "%s: %s, not a regular file; refusing to read it",
                           path, file_kind(st.st_mode));
    }
    /* A regular file reads the same either way; blocking reads keep the
     * loop below simple. */
    fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        r = kw_errno();
        close(fd);
        return kw_diag_set(d, r, "%s: fcntl: %s", path, kw_strerror(r));
    }
    buf = malloc(cap + 1);
    if (buf == NULL) {
        close(fd);
        return kw_diag_set(d, KW_ENOMEM, "%s: out of memory", path);
    }
    r = kw_read_fd(fd, buf, cap, len);
    close(fd);
    if (r != 0) {
        /* It may be a key: no copy of it stays in freed memory. */
        kw_wipe(buf, *len);
        free(buf);
        *len = 0;
        if (r == KW_ETOOBIG && cap % (1024 * 1024) == 0)
            return kw_diag_set(d, r, "%s: larger than %zu MiB; not read",
                               path, cap / (1024 * 1024));
        if (r == KW_ETOOBIG && cap % 1024 == 0)
            return kw_diag_set(d, r, "%s: larger than %zu KiB; not read",
                               path, cap / 1024);
        if (r == KW_ETOOBIG)
            return kw_diag_set(d, r, "%s: larger than %zu bytes; not read",
                               path, cap);
        return kw_diag_set(d, r, "%s: cannot read: %s", path,
                           kw_strerror(r));
    }
    buf[*len] = '\0';
    *out = buf;
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

int kw_write_at(int dfd, const char *dpath, const char *fname,
                const char *tag, const void *data, size_t len, mode_t mode,
                uid_t uid, gid_t gid, kw_diag *d)
{
    static atomic_uint counter;
    char tmp[512];
    const unsigned char *p = data;
    const char *step = "create";
    size_t off = 0;
    int fd = -1, r, tries;

    for (tries = 0; tries < 2; tries++) {
        unsigned c = atomic_fetch_add(&counter, 1);

        if ((size_t)snprintf(tmp, sizeof(tmp), "%s%s.%ld.%u", fname, tag,
                             (long)getpid(), c) >= sizeof(tmp))
            return kw_diag_set(d, KW_EINVAL, "%s/%s: name too long", dpath,
                               fname);
        fd = openat(dfd, tmp,
                    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                    0600);
        /* EEXIST: a leftover of an earlier process with our pid; the next
         * counter value is a fresh name. */
        if (fd >= 0 || errno != EEXIST)
            break;
    }
    if (fd < 0) {
        r = kw_errno();
        return kw_diag_set(d, r, "%s/%s: cannot create: %s", dpath, tmp,
                           kw_strerror(r));
    }
    step = "chown";
    if ((uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(fd, uid, gid) != 0)
        goto fail;
    /* Exactly mode, whatever the umask took away. */
    step = "chmod";
    if (fchmod(fd, mode) != 0)
        goto fail;
    step = "write";
    while (off < len) {
        ssize_t n = write(fd, p + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto fail;
        off += (size_t)n;
    }
    step = "fsync";
    if (fsync(fd) != 0)
        goto fail;
    step = "close";
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    step = "rename";
    if (renameat(dfd, tmp, dfd, fname) != 0)
        goto fail;
    return 0;

fail:
    r = kw_errno();
    if (fd >= 0)
        close(fd);
    unlinkat(dfd, tmp, 0);
    if (strcmp(step, "chown") == 0)
        return kw_diag_set(d, r, "%s/%s: cannot give it to uid %ld gid %ld: "
                                 "%s",
                           dpath, fname, (long)uid, (long)gid,
                           kw_strerror(r));
    return kw_diag_set(d, r, "%s/%s: %s failed: %s", dpath, fname, step,
                       kw_strerror(r));
}

int kw_write_atomic_gid(const char *path, const void *data, size_t len,
                        mode_t mode, gid_t gid, kw_diag *d)
{
    char dir[4096];
    const char *slash = strrchr(path, '/'), *base;
    int dfd, r;

    if (slash == NULL) {
        strcpy(dir, ".");
        base = path;
    } else {
        size_t n = slash == path ? 1 : (size_t)(slash - path);

        if (n >= sizeof(dir))
            return kw_diag_set(d, KW_EINVAL, "%s: path too long", path);
        memcpy(dir, path, n);
        dir[n] = '\0';
        base = slash + 1;
    }
    if (*base == '\0')
        return kw_diag_set(d, KW_EINVAL, "%s: not a file name", path);
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        r = kw_errno();
        return kw_diag_set(d, r, "%s: cannot open its directory %s: %s",
                           path, dir, kw_strerror(r));
    }
    r = kw_write_at(dfd, dir, base, ".tmp", data, len, mode, (uid_t)-1, gid,
                    d);
    if (r == 0 && fsync(dfd) != 0) {
        r = kw_errno();
        kw_diag_set(d, r, "%s: fsync of the directory failed: %s", dir,
                    kw_strerror(r));
    }
    close(dfd);
    return r;
}

int kw_write_atomic(const char *path, const void *data, size_t len,
                    mode_t mode, kw_diag *d)
{
    return kw_write_atomic_gid(path, data, len, mode, (gid_t)-1, d);
}

void kw_wipe(void *p, size_t n)
{
    if (p != NULL && n > 0)
        explicit_bzero(p, n);
}
