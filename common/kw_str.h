/*
 * kw_str.h: small string helpers for text that came from outside.
 */
#ifndef KW_STR_H
#define KW_STR_H

#include <stddef.h>

/* Copy at most len bytes of src into a new NUL-terminated string that is
 * valid UTF-8 and free of control characters: invalid bytes and controls
 * become "\xNN", backslash stays a backslash.  Certificate fields end up
 * on terminals, in JSON and in logs, so they pass through here first.
 * Returns NULL only when out of memory. */
char *kw_str_clean(const unsigned char *src, size_t len);

/* Like snprintf into a fixed buffer but appending at *pos; output is
 * truncated (never overflowed) when the buffer is full.  Returns 0, or -1
 * once truncation happened. */
int kw_str_appendf(char *buf, size_t cap, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Lower-case hex of n bytes, with sep between bytes if sep != 0.
 * out must hold 3*n bytes. */
void kw_hex(const unsigned char *in, size_t n, char sep, char *out);

/* strdup of s, NULL for NULL; sets *failed when out of memory, so a
 * series of copies is checked once. */
char *kw_strdup_opt(const char *s, int *failed);

/* Does s end with suffix? */
int kw_str_endswith(const char *s, const char *suffix);

#endif
