/*
 * libFuzzer target: the rewriting of a signer's tables (dkim/dkim_signer.h):
 * OpenDKIM's KeyTable and SigningTable and rspamd's maps, files an
 * operator (or another tool) wrote that keywarden rewrites in place.  The
 * first byte picks the rewriter, the rest is the table.  Besides memory
 * errors it checks what the rewriters promise: an output that is a string
 * of the length said, that holds the row asked for (names compare
 * without case, as the signers look them up), and that a second
 * rewrite with the same arguments leaves as it is.
 */
#include "dkim/dkim_signer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int r, char *out, size_t len, const char *want,
                  int (*again)(const char *, size_t, char **, size_t *,
                               int *))
{
    char *out2 = NULL;
    size_t len2 = 0;
    int changed = 1;

    if (r != 0)
        return;
    if (out == NULL || strlen(out) != len || strcasestr(out, want) == NULL)
        __builtin_trap();
    if (again(out, len, &out2, &len2, &changed) != 0 || changed ||
        len2 != len || memcmp(out, out2, len) != 0)
        __builtin_trap();
    free(out2);
}

static int st_again(const char *t, size_t n, char **o, size_t *ol, int *c)
{
    return kw_dkim_signingtable_set(t, n, "mail.test",
                                    "s2._domainkey.mail.test", 1, o, ol, c,
                                    NULL);
}

static int kt_again(const char *t, size_t n, char **o, size_t *ol, int *c)
{
    return kw_dkim_keytable_set(t, n, "mail.test", "s2", "/k/s2.private",
                                "*@mail.test s2._domainkey.mail.test\n", o,
                                ol, c, NULL);
}

static int map_again(const char *t, size_t n, char **o, size_t *ol, int *c)
{
    return kw_dkim_map_set(t, n, "mail.test", "s2", o, ol, c, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *out = NULL;
    size_t len = 0;
    kw_diag d = {""};
    const char *t;
    int r;

    if (size < 1)
        return 0;
    t = (const char *)data + 1;
    size--;
    switch (data[0] % 3) {
    case 0:
        r = st_again(t, size, &out, &len, NULL);
        check(r, out, len, "s2._domainkey.mail.test", st_again);
        break;
    case 1:
        r = kw_dkim_keytable_set(t, size, "mail.test", "s2", "/k/s2.private",
                                 "*@mail.test s2._domainkey.mail.test\n",
                                 &out, &len, NULL, &d);
        check(r, out, len, "mail.test:s2:/k/s2.private", kt_again);
        break;
    default:
        r = kw_dkim_map_set(t, size, "mail.test", "s2", &out, &len, NULL,
                            &d);
        check(r, out, len, "mail.test", map_again);
        break;
    }
    if (r != 0 && !memchr(d.msg, '\0', sizeof(d.msg)))
        __builtin_trap();
    free(out);
    return 0;
}
