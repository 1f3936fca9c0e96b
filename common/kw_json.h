/*
 * kw_json.h: strings from files, certificates and the network as JSON.
 *
 * jansson refuses strings that are not valid UTF-8 (json_string returns
 * NULL, json_pack fails as a whole).  Paths and certificate names are
 * bytes, so everything that puts one into JSON goes through kw_json_str,
 * which escapes what is not printable UTF-8 the way kw_str_clean does.
 */
#ifndef KW_JSON_H
#define KW_JSON_H

#include <jansson.h>

/* A JSON string for s (json_null() when s is NULL); NULL only when out of
 * memory. */
json_t *kw_json_str(const char *s);

/* Appends v (taking the reference) to array a; KW_ENOMEM when v is NULL,
 * i.e. when building it failed. */
int kw_json_append(json_t *a, json_t *v);

/* 1 when s is valid UTF-8 that jansson takes as it is. */
int kw_json_utf8_ok(const char *s);

#endif
