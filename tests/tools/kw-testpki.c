/*
 * kw-testpki: make test certificates on disk.
 *
 *   kw-testpki demo DIR          the demo set of the README's first command
 *   kw-testpki tree DIR N [SEED] about N certificates for the benchmark
 */
#include "testpki.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
    const char *pin = getenv("KEYWARDEN_NOW");
    int64_t now = pin != NULL ? strtoll(pin, NULL, 10) : (int64_t)time(NULL);

    if (argc >= 3 && strcmp(argv[1], "demo") == 0)
        return tp_make_demo(argv[2], now) == 0 ? 0 : 1;
    if (argc >= 4 && strcmp(argv[1], "tree") == 0) {
        long n = tp_make_tree(argv[2], atol(argv[3]), now,
                              argc > 4 ? (unsigned)atol(argv[4]) : 1u);
        printf("%ld\n", n);
        return 0;
    }
    fprintf(stderr, "usage: kw-testpki demo DIR | tree DIR N [SEED]\n");
    return 2;
}
