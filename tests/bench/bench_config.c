/*
 * bench_config: what reading keywarden.conf costs as it grows.
 *
 *   bench_config [--dir DIR]
 *
 * Loads (kw_config_load, file and all) configurations of 1,000, 10,000
 * and 20,000 [endpoint] sections, each the best of three, and prints
 * the time per section: linear loading keeps that figure flat (a
 * duplicate check by linear search made 20,000 take 0.9 s).
 */
#include "service/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void write_conf(const char *path, int n)
{
    FILE *f = fopen(path, "w");
    int i;

    if (f == NULL) {
        perror(path);
        exit(1);
    }
    for (i = 0; i < n; i++)
        fprintf(f, "[endpoint \"e%d\"]\nhost = h%d.example\n", i, i);
    if (fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    static const int sizes[] = {1000, 10000, 20000};
    const char *dir = argc > 2 && strcmp(argv[1], "--dir") == 0 ? argv[2]
                                                                 : "/tmp";
    char path[4096];
    size_t i;
    int run;

    snprintf(path, sizeof(path), "%s/bench_config.%ld.conf", dir,
             (long)getpid());
    printf("configuration load (kw_config_load), best of 3:\n");
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        double best = 1e9;

        write_conf(path, sizes[i]);
        for (run = 0; run < 3; run++) {
            kw_config c;
            kw_diag d;
            double t0 = now_s(), t;

            if (kw_config_load(path, &c, &d) != 0) {
                fprintf(stderr, "bench_config: %s\n", d.msg);
                unlink(path);
                return 1;
            }
            t = now_s() - t0;
            kw_config_free(&c);
            if (t < best)
                best = t;
        }
        printf("  %6d endpoints: %8.2f ms, %.2f us per section\n", sizes[i],
               best * 1e3, best * 1e6 / sizes[i]);
    }
    unlink(path);
    return 0;
}
