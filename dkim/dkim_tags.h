/*
 * dkim_tags.h: the tag-list syntax of RFC 6376 section 3.2, which DKIM key
 * records and DMARC records (RFC 7489 section 6.3) share, and the
 * warnings both parsers report.
 *
 * kw_dkim_tags_split cuts a record into tag=value pairs and checks what
 * the syntax asks of every pair, known tag or not: a tag name is ALPHA
 * *(ALPHA / DIGIT / "_"), a value holds only printable ASCII without ';',
 * whitespace (and CRLF folding followed by whitespace) only around names,
 * '=' and values or inside values, no empty tag-spec, no name twice.
 * The pairs are offsets into the caller's text, which must outlive them.
 * At most KW_DKIM_TAGS_MAX pairs: real records carry fewer than ten, and
 * the bound keeps the duplicate check cheap on a 64 KiB record.
 *
 * Pure computation: no I/O, no allocation, thread-safe.
 */
#ifndef KW_DKIM_TAGS_H
#define KW_DKIM_TAGS_H

#include <stddef.h>

#include "../common/kw_err.h"

#define KW_DKIM_TAGS_MAX 64
/* The longest text a TXT record can carry: its RDATA is at most 65535
 * octets, each string costing a length octet. */
#define KW_DKIM_TXT_MAX 65535

typedef struct kw_dkim_tag {
    size_t name_off, name_len;
    size_t val_off, val_len;   /* the value without surrounding whitespace */
} kw_dkim_tag;

typedef struct kw_dkim_taglist {
    kw_dkim_tag tag[KW_DKIM_TAGS_MAX];
    size_t n;
} kw_dkim_taglist;

/* A warning: the record is valid and receivers use it, but something in
 * it deserves the operator's attention.  code is one of the parser's
 * KW_DKIM_W_* or KW_DMARC_W_* values; msg names the tag and the value. */
typedef struct kw_dkim_warning {
    int code;
    char msg[240];
} kw_dkim_warning;
#define KW_DKIM_WARN_MAX 12

/* Split txt (len bytes, "what" names the record in messages: "DKIM
 * record") into out.  Tag names compare case-sensitively unless icase
 * (DMARC receivers compare them without case).  Returns 0, KW_EPARSE with
 * the offset in d, or KW_ETOOBIG for more than KW_DKIM_TAGS_MAX tags or
 * more than KW_DKIM_TXT_MAX bytes. */
int kw_dkim_tags_split(const char *txt, size_t len, const char *what,
                       int icase, kw_dkim_taglist *out, kw_diag *d);

/* 1 when tag t is called name (exactly, or without case if icase). */
int kw_dkim_tag_is(const char *txt, const kw_dkim_tag *t, const char *name,
                   int icase);

/* Write at most about 60 bytes of s (n bytes) into buf as printable ASCII
 * (other bytes as \xNN, "..." when cut) so that text from DNS can go into
 * a message. Returns buf. */
const char *kw_dkim_quote(char *buf, size_t cap, const char *s, size_t n);

/* Walk the value of tag t as a colon-separated list (whitespace around
 * ':' allowed): every item is 1*(ALPHA / DIGIT / "-" / "_" / "*"), none
 * empty.  Sets bit i of *known for an item equal to names[i] (a NULL
 * terminated list; without case if icase); an item not in names is an
 * error unless unknown_ok.  norm gets the items joined by ':' (cut with
 * "..." when it does not fit).  Returns 0 or KW_EPARSE naming the tag,
 * the item and its offset. */
int kw_dkim_tags_list(const char *txt, const kw_dkim_tag *t, const char *what,
                      const char *const *names, int icase, int unknown_ok,
                      unsigned *known, char *norm, size_t cap, kw_diag *d);

/* Append a warning (dropped silently past KW_DKIM_WARN_MAX, which the
 * parsers never reach: each code is added once). */
void kw_dkim_warn(kw_dkim_warning *w, size_t *n, int code, const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));

#endif
