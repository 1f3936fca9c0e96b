/*
 * kw_vec.h: growing arrays and string sets for lists whose length comes
 * from input (a configuration's sections, a directory's entries).
 *
 * Growing by one element per append, or checking for a duplicate by
 * walking the list, costs O(n^2) for n entries: 20,000 [endpoint]
 * sections took 0.9 s to read, 93 s under ASan (whose realloc always
 * copies).  These keep appending and duplicate checks linear.
 */
#ifndef KW_VEC_H
#define KW_VEC_H

#include <stddef.h>

/* Make room for `need` elements of `elem` bytes in arr, which has room
 * for *cap: returns arr when it is large enough, else the array grown
 * by doubling (*cap updated), or NULL when out of memory (arr is then
 * unchanged and still owned by the caller). */
void *kw_vec_grow(void *arr, size_t *cap, size_t need, size_t elem);

/* A copy of s appended to the array *v of *n strings (grown by doubling,
 * with no capacity kept: it is a power of two at or above *n); 0 or
 * KW_ENOMEM.  kw_strv_free frees the n strings and the array. */
int kw_strv_push(char ***v, size_t *n, const char *s);
void kw_strv_free(char **v, size_t n);

/* A set of strings, by hash.  The strings are not copied: each must
 * outlive the set.  Zero-initialised is empty. */
typedef struct kw_strset {
    const char **slot;
    size_t cap; /* a power of two, or 0 */
    size_t n;
} kw_strset;

/* Add s: 0 when added, 1 when it was there already, KW_ENOMEM. */
int kw_strset_add(kw_strset *set, const char *s);
void kw_strset_free(kw_strset *set);

#endif
