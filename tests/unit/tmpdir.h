/* tmpdir.h: per-test temporary directories, removed afterwards. */
#ifndef KW_TEST_TMPDIR_H
#define KW_TEST_TMPDIR_H

#include <stddef.h>

/* Create a fresh directory under $TMPDIR (or /tmp); returns its path in a
 * static-lifetime buffer owned by the caller's array. */
void tmpdir_make(char *out, size_t len, const char *tag);

/* rm -rf, without following symlinks.  Restores permissions it needs. */
void tmpdir_remove(const char *path);

/* Join into out; aborts if too long. */
void path_join(char *out, size_t len, const char *a, const char *b);

/* Read a whole file into a malloc'd NUL-terminated buffer, or NULL. */
char *slurp(const char *path, size_t *len);

/* The lines in path (its newlines); 0 when it does not exist. */
int file_lines(const char *path);

#endif
