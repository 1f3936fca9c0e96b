#include "kw_vec.h"

#include "kw_err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void *kw_vec_grow(void *arr, size_t *cap, size_t need, size_t elem)
{
    size_t ncap = *cap ? *cap : 8;
    void *na;

    if (need <= *cap && arr != NULL)
        return arr;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return NULL;
        ncap *= 2;
    }
    if (elem != 0 && ncap > SIZE_MAX / elem)
        return NULL;
    if ((na = realloc(arr, ncap * elem)) == NULL)
        return NULL;
    *cap = ncap;
    return na;
}

/* FNV-1a: short names, no adversary who gains by collisions beyond the
 * size of their own file. */
static size_t hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return (size_t)(h ^ (h >> 32));
}

static int place(const char **slot, size_t cap, const char *s)
{
    size_t i = hash(s) & (cap - 1);

    while (slot[i] != NULL) {
        if (strcmp(slot[i], s) == 0)
            return 1;
        i = (i + 1) & (cap - 1);
    }
    slot[i] = s;
    return 0;
}

int kw_strset_add(kw_strset *set, const char *s)
{
    size_t i;
    int r;

    /* At most half full, so probes stay short. */
    if (2 * (set->n + 1) > set->cap) {
        size_t ncap = set->cap ? set->cap * 2 : 16;
        const char **ns;

        if (ncap > SIZE_MAX / 2 / sizeof(*ns) ||
            (ns = calloc(ncap, sizeof(*ns))) == NULL)
            return KW_ENOMEM;
        for (i = 0; i < set->cap; i++)
            if (set->slot[i] != NULL)
                (void)place(ns, ncap, set->slot[i]);
        free(set->slot);
        set->slot = ns;
        set->cap = ncap;
    }
    r = place(set->slot, set->cap, s);
    if (r == 0)
        set->n++;
    return r;
}

void kw_strset_free(kw_strset *set)
{
    free(set->slot);
    memset(set, 0, sizeof(*set));
}

int kw_strv_push(char ***v, size_t *n, const char *s)
{
    char *copy = strdup(s);

    /* The array's room is the power of two at or above *n: it grows when
     * *n reaches one, so appending stays linear. */
    if (copy == NULL)
        return KW_ENOMEM;
    if (*n == 0 || (*n & (*n - 1)) == 0) {
        char **nv = realloc(*v, (*n == 0 ? 1 : 2 * *n) * sizeof(*nv));

        if (nv == NULL) {
            free(copy);
            return KW_ENOMEM;
        }
        *v = nv;
    }
    (*v)[(*n)++] = copy;
    return 0;
}

void kw_strv_free(char **v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(v[i]);
    free(v);
}
