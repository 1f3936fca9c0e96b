/*
 * kw_json.h: strings from files, certificates and the network as JSON.
 *
 * jansson refuses strings that are not valid UTF-8 (json_string returns
 * NULL, json_pack fails as a whole).  Paths and certificate names are
 * bytes, so everything that puts one into JSON goes through kw_json_str,
 * which escapes what is not printable UTF-8 the way kw_str_clean does.
 *
 * A path (or a file's name) must survive the trip byte for byte, so it
 * goes through kw_json_path instead: a path that is valid UTF-8 is a
 * plain JSON string (JSON escapes control characters losslessly), one
 * that is not is an object {"base64": "..."} holding its exact bytes.  A
 * consumer tells the two apart by type; a valid UTF-8 name never changes
 * form, and no string can be mistaken for escaped bytes.
 */
#ifndef KW_JSON_H
#define KW_JSON_H

#include <jansson.h>

/* A JSON string for s (json_null() when s is NULL); NULL only when out of
 * memory. */
json_t *kw_json_str(const char *s);

/* The JSON form of a path (json_null() when path is NULL); NULL only when
 * out of memory. */
json_t *kw_json_path(const char *path);

/* The bytes of a path in kw_json_path's form (a string or {"base64"}), as
 * a new NUL-terminated string; NULL when v is neither (or holds a NUL
 * byte, or memory ran out). */
char *kw_json_path_bytes(const json_t *v);

/* Appends v (taking the reference) to array a; KW_ENOMEM when v is NULL,
 * i.e. when building it failed. */
int kw_json_append(json_t *a, json_t *v);

/* 1 when s is valid UTF-8 that jansson takes as it is. */
int kw_json_utf8_ok(const char *s);

#endif
