#include "kw_json.h"

#include "kw_err.h"
#include "kw_str.h"

#include <stdlib.h>
#include <string.h>

json_t *kw_json_str(const char *s)
{
    json_t *j;
    char *c;

    if (s == NULL)
        return json_null();
    j = json_string(s);
    if (j != NULL)
        return j;
    c = kw_str_clean((const unsigned char *)s, strlen(s));
    if (c == NULL)
        return NULL;
    j = json_string(c);
    free(c);
    return j;
}

int kw_json_utf8_ok(const char *s)
{
    json_t *j = json_string(s);

    json_decref(j);
    return j != NULL;
}

int kw_json_append(json_t *a, json_t *v)
{
    if (v == NULL || json_array_append_new(a, v) != 0)
        return KW_ENOMEM;
    return 0;
}
