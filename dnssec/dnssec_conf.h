/*
 * dnssec_conf.h: the signed zones named.conf and knot.conf declare.
 *
 * BIND: every zone statement (at the top or in a view) whose
 * dnssec-policy (its own, else its view's, else options') is set and not
 * "none", with its key directory (key-directory of the zone, the view or
 * options, else options' directory, else named.conf's directory; relative
 * ones under options' directory).  Knot: every zone whose dnssec-signing
 * is on, itself or through its template (template: NAME, else the
 * template with id default).  Comments (//, # and C-style for BIND; # for
 * Knot) are skipped, include statements followed up to
 * KW_DNSSEC_CONF_DEPTH deep.
 *
 * Bad input never stops the reading: an unterminated block or string, an
 * unknown statement, a line that is not "key: value", an include that
 * cannot be read is a note naming FILE:LINE, and what could be read is
 * kept.  The parsers take text in memory and read includes through the
 * caller's reader (NULL: includes are refused with a note), so they can
 * be fuzzed; kw_dnssec_conf_read_named/_knot BLOCK on the file system.  The
 * caller owns out and frees it with kw_dnssec_conf_free.
 */
#ifndef KW_DNSSEC_CONF_H
#define KW_DNSSEC_CONF_H

#include <stddef.h>

#include "../common/kw_err.h"

#define KW_DNSSEC_CONF_DEPTH 8          /* include nesting */
#define KW_DNSSEC_CONF_MAX_FILES 256    /* files read in all, includes */
#define KW_DNSSEC_CONF_MAX_ZONES 10000
#define KW_DNSSEC_CONF_MAX_NOTES 64
#define KW_DNSSEC_CONF_FILE_MAX (4 * 1024 * 1024)

typedef struct kw_dnssec_conf_zone {
    char zone[256];       /* lower case, no final dot */
    char key_dir[1024];   /* BIND: the key directory; Knot: "" */
    char source[1100];    /* "FILE:LINE" of the zone statement */
} kw_dnssec_conf_zone;

typedef struct kw_dnssec_conf {
    kw_dnssec_conf_zone *zones;
    size_t nzones, cap;
    char **notes;         /* "FILE:LINE: what is wrong" */
    size_t nnotes;
    char **files;         /* every file read, the top one first */
    size_t nfiles;
    int unreadable;       /* the top file could not be read */
} kw_dnssec_conf;

/* Read path's text (an include) into *text (caller frees), 0 or a
 * negative KW_E* with d saying why. */
typedef int (*kw_dnssec_conf_reader)(void *ctx, const char *path,
                                     unsigned char **text, size_t *len,
                                     kw_diag *d);

/* Parse named.conf's text (path names it in notes and anchors relative
 * names); 0, or KW_ENOMEM. */
int kw_dnssec_named_parse(const char *path, const char *text, size_t len,
                          kw_dnssec_conf_reader rd, void *ctx,
                          kw_dnssec_conf *out);

/* Parse knot.conf's text likewise. */
int kw_dnssec_knot_conf_parse(const char *path, const char *text, size_t len,
                              kw_dnssec_conf_reader rd, void *ctx,
                              kw_dnssec_conf *out);

/* Read the file and parse it, includes from the file system; a file that
 * cannot be read sets out->unreadable and a note.  0, or KW_ENOMEM. */
int kw_dnssec_conf_read_named(const char *path, kw_dnssec_conf *out);
int kw_dnssec_conf_read_knot(const char *path, kw_dnssec_conf *out);

void kw_dnssec_conf_free(kw_dnssec_conf *c);

#endif
