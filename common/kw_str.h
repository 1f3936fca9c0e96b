/*
 * kw_str.h: small string helpers for text that came from outside.
 */
#ifndef KW_STR_H
#define KW_STR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* Copy at most len bytes of src into a new NUL-terminated string that is
 * valid UTF-8 and free of control characters: invalid bytes and controls
 * become "\xNN", backslash stays a backslash.  Certificate fields end up
 * on terminals, in JSON and in logs, so they pass through here first.
 * Returns NULL only when out of memory. */
char *kw_str_clean(const unsigned char *src, size_t len);

/* The length of the valid, printable UTF-8 sequence at s (at most n
 * bytes; a NUL-terminated string may pass 4: a NUL ends the sequence),
 * or 0: not UTF-8, overlong, a surrogate, or a C1 control. */
size_t kw_utf8_seq(const unsigned char *s, size_t n);

/* 1 when the len bytes at src are printable UTF-8 (what kw_str_clean
 * returns unchanged). */
int kw_str_is_clean(const unsigned char *src, size_t len);

/* printf for text that reaches a terminal or a log line.  Every %s (and
 * %c) argument goes through kw_str_clean first, so a file name or a
 * server's answer holding ESC sequences, newlines or bytes that are not
 * UTF-8 cannot drive the operator's terminal or split a line; the format
 * string itself (its own "\n") is written as it is.  A precision on %s
 * bounds the bytes read before escaping.  kw_outf writes to out and
 * returns 0 or -1; kw_str_safef appends at *pos like kw_str_appendf. */
int kw_outf(FILE *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int kw_voutf(FILE *out, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
int kw_str_safef(char *buf, size_t cap, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int kw_str_vsafef(char *buf, size_t cap, size_t *pos, const char *fmt,
                  va_list ap) __attribute__((format(printf, 4, 0)));

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
