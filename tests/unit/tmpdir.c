#include "tmpdir.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void tmpdir_make(char *out, size_t len, const char *tag)
{
    const char *base = getenv("TMPDIR");

    if (base == NULL || *base == '\0')
        base = "/tmp";
    snprintf(out, len, "%s/kw-%s-XXXXXX", base, tag);
    if (mkdtemp(out) == NULL) {
        perror("mkdtemp");
        abort();
    }
}

static int rm_one(const char *p, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (flag == FTW_DP || flag == FTW_D || flag == FTW_DNR)
        return rmdir(p) == 0 ? 0 : 0;
    unlink(p);
    return 0;
}

static int chmod_one(const char *p, const struct stat *sb, int flag,
                     struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (flag == FTW_D || flag == FTW_DNR)
        chmod(p, 0755);
    return 0;
}

void tmpdir_remove(const char *path)
{
    /* Tests make unreadable directories; open them up first. */
    chmod(path, 0755);
    nftw(path, chmod_one, 16, FTW_PHYS);
    nftw(path, rm_one, 16, FTW_PHYS | FTW_DEPTH);
}

void path_join(char *out, size_t len, const char *a, const char *b)
{
    if ((size_t)snprintf(out, len, "%s/%s", a, b) >= len)
        abort();
}

char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;

    if (f == NULL)
        return NULL;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            buf = realloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

int file_lines(const char *path)
{
    size_t len, i;
    char *text = slurp(path, &len);
    int n = 0;

    if (text == NULL)
        return 0;
    for (i = 0; i < len; i++)
        n += text[i] == '\n';
    free(text);
    return n;
}
