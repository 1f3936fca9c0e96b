/*
 * bench_inventory: the inventory's speed, printed beside a peer's.
 *
 *   bench_inventory [--quick] [--dir DIR]
 *
 * For trees of 20,000 and 100,000 generated certificates (mixed files:
 * single certificates, leaf+intermediate chains, bundles of five):
 *   - first scan throughput (certificates/s) and peak RSS,
 *   - rescan of the unchanged tree (files/s) and peak RSS,
 * then `list --expiring 30d` (text and --json) over 1,000,000 inventory
 * rows, and in the same run the peer: `openssl x509 -noout -enddate`
 * over 500 of the files, one process per file as a cron script would.
 *
 * Figures are wall-clock on whatever machine runs it; the peer's figure
 * comes from the same run so the two can be compared.  --quick shrinks
 * everything for a smoke run in CI.
 */
#include "keystore/ks_store.h"
#include "keystore/ks_store_int.h"
#include "testpki.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DAY INT64_C(86400)

typedef struct run {
    double secs;
    long max_rss_kb;
    int status;
} run;

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Run argv with stdout to /dev/null (or to out_path); time it and take the
 * child's peak RSS from wait4. */
static run run_cmd(char *const argv[], const char *out_path)
{
    posix_spawn_file_actions_t fa;
    struct rusage ru;
    run r = {0, 0, -1};
    pid_t pid;
    int status;
    double t0;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_path ? out_path : "/dev/null",
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    t0 = now_s();
    if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
        fprintf(stderr, "bench: cannot run %s: %s\n", argv[0],
                strerror(errno));
        exit(1);
    }
    posix_spawn_file_actions_destroy(&fa);
    if (wait4(pid, &status, 0, &ru) != pid) {
        perror("wait4");
        exit(1);
    }
    r.secs = now_s() - t0;
    r.max_rss_kb = ru.ru_maxrss;
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    return r;
}

static void rm_rf(const char *path)
{
    char *argv[] = {(char *)"rm", (char *)"-rf", (char *)path, NULL};

    run_cmd(argv, NULL);
}

static long count_files(const char *dir, char **sample, long want)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    long n = 0, got = 0;
    char p[4096];

    if (d == NULL)
        return 0;
    while ((de = readdir(d)) != NULL) {
        struct stat sb;

        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        if (stat(p, &sb) != 0)
            continue;
        if (S_ISDIR(sb.st_mode)) {
            long sub = count_files(p, sample ? sample + got : NULL,
                                   want - got);
            n += sub;
            got += sub < want - got ? sub : want - got;
            if (got > want)
                got = want;
        } else {
            if (sample != NULL && got < want)
                sample[got++] = strdup(p);
            n++;
        }
    }
    closedir(d);
    return n;
}

static void scan_bench(const char work[2048], long ncerts, int64_t now)
{
    char tree[4096], state[4096];
    char *argv[8];
    run gen, first = {0, 0, 0}, again = {0, 0, 0};
    long files;
    double t0;
    int i;

    snprintf(tree, sizeof(tree), "%s/tree-%ld", work, ncerts);
    snprintf(state, sizeof(state), "%s/state-%ld", work, ncerts);
    rm_rf(tree);
    rm_rf(state);
    t0 = now_s();
    tp_make_tree(tree, ncerts, now, 1);
    gen.secs = now_s() - t0;
    files = count_files(tree, NULL, 0);

    argv[0] = (char *)KEYWARDEN_BIN;
    argv[1] = (char *)"--state-dir";
    argv[2] = state;
    argv[3] = (char *)"scan";
    argv[4] = (char *)"-q";
    argv[5] = tree;
    argv[6] = NULL;
    /* Let the kernel write the generated tree out first, so its
     * writeback does not land in the timings; then best of three. */
    sync();
    first.secs = again.secs = 1e9;
    for (i = 0; i < 3; i++) {
        run f, a;

        rm_rf(state);
        f = run_cmd(argv, NULL);
        a = run_cmd(argv, NULL);
        if (f.status != 0 || a.status != 0) {
            fprintf(stderr, "bench: scan failed (%d, %d)\n", f.status,
                    a.status);
            exit(1);
        }
        if (f.secs < first.secs)
            first = f;
        if (a.secs < again.secs)
            again = a;
    }
    printf("%-9ld %7ld %8.2f %10.3f %12.0f %9ld %10.3f %12.0f %9ld\n",
           ncerts, files, gen.secs, first.secs, (double)ncerts / first.secs,
           first.max_rss_kb / 1024, again.secs, (double)files / again.secs,
           again.max_rss_kb / 1024);
    fflush(stdout);
    rm_rf(state);
}

/* Peer: one `openssl x509 -noout -enddate -in FILE` per file, as a cron
 * script checking expiries does it. */
static void peer_bench(const char work[2048], long nfiles, int64_t now)
{
    char tree[4096], *files[500];
    char *argv[8];
    long n, i, ok = 0;
    double t0, secs;

    snprintf(tree, sizeof(tree), "%s/tree-peer", work);
    rm_rf(tree);
    tp_make_tree(tree, nfiles * 3, now, 3);
    n = count_files(tree, files, nfiles);
    if (n > nfiles)
        n = nfiles;
    argv[0] = (char *)"openssl";
    argv[1] = (char *)"x509";
    argv[2] = (char *)"-noout";
    argv[3] = (char *)"-enddate";
    argv[4] = (char *)"-in";
    argv[6] = NULL;
    t0 = now_s();
    for (i = 0; i < n; i++) {
        argv[5] = files[i];
        ok += run_cmd(argv, NULL).status == 0;
    }
    secs = now_s() - t0;
    printf("peer: openssl x509 -noout -enddate over %ld files: %.3f s, "
           "%.0f certificates/s (%ld succeeded)\n",
           n, secs, (double)n / secs, ok);
    for (i = 0; i < n; i++)
        free(files[i]);
    rm_rf(tree);
}

static unsigned rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 8) & 0xffffff;
}

/* An inventory of rows objects with deadlines spread over two years. */
static void fill_db(const char *state, long rows, int64_t now)
{
    char path[4200];
    ks_store *s;
    kw_diag d;
    sqlite3_stmt *st = NULL;
    unsigned seed = 42;
    long i;

    mkdir(state, 0700);
    snprintf(path, sizeof(path), "%s/keywarden.db", state);
    if (ks_open(path, KS_OPEN_CREATE, &s, &d) != 0) {
        fprintf(stderr, "bench: %s\n", d.msg);
        exit(1);
    }
    ks_exec(s, "BEGIN", &d);
    sqlite3_prepare_v2(
        ks_db(s),
        "INSERT INTO objects (kind, name, source, position, state, "
        "not_before, not_after, deadline, subject, issuer, serial, "
        "fingerprint, key_type, key_bits, is_ca, self_signed, sans, "
        "chain_len, arrangement, role, created_at, updated_at) VALUES "
        "('tls', ?1, ?2, 0, 'ok', ?3, ?4, ?4, ?5, 'CN=Bench Issuing A', ?6, "
        "?7, 'EC', 256, 0, 0, ?8, 1, 'single', 'leaf', ?9, ?9)",
        -1, &st, NULL);
    for (i = 0; i < rows; i++) {
        char name[64], src[96], subj[80], serial[24], fp[65], sans[96];
        uint64_t r = (uint64_t)rnd(&seed) << 24 | rnd(&seed);
        int64_t na = now - 10 * DAY + (int64_t)(r % (730 * 86400u));

        snprintf(name, sizeof(name), "host%ld.bench.example", i);
        snprintf(src, sizeof(src), "/etc/ssl/bench/%ld/cert.pem", i);
        snprintf(subj, sizeof(subj), "CN=%s", name);
        snprintf(serial, sizeof(serial), "%lx", (unsigned long)i + 4096);
        snprintf(fp, sizeof(fp), "%064lx", (unsigned long)i * 2654435761u);
        snprintf(sans, sizeof(sans), "[\"%s\"]", name);
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, src, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, na - 90 * DAY);
        sqlite3_bind_int64(st, 4, na);
        sqlite3_bind_text(st, 5, subj, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 6, serial, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 7, fp, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 8, sans, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 9, now);
        if (sqlite3_step(st) != SQLITE_DONE) {
            fprintf(stderr, "bench: insert: %s\n", sqlite3_errmsg(ks_db(s)));
            exit(1);
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    ks_exec(s, "COMMIT", &d);
    ks_exec(s, "PRAGMA wal_checkpoint(TRUNCATE)", &d);
    ks_close(s);
}

static long count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    long n = 0;
    int ch;

    if (f == NULL)
        return -1;
    while ((ch = fgetc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

static void list_bench(const char work[2048], long rows, int64_t now)
{
    char state[4096], out[4096];
    char *argv[10];
    double best = 1e9, best_json = 1e9, t0;
    long rss = 0, lines;
    int i;

    snprintf(state, sizeof(state), "%s/state-list", work);
    snprintf(out, sizeof(out), "%s/list.out", work);
    rm_rf(state);
    t0 = now_s();
    fill_db(state, rows, now);
    printf("list: %ld inventory rows built in %.1f s\n", rows, now_s() - t0);

    argv[0] = (char *)KEYWARDEN_BIN;
    argv[1] = (char *)"--state-dir";
    argv[2] = state;
    argv[3] = (char *)"list";
    argv[4] = (char *)"--expiring";
    argv[5] = (char *)"30d";
    argv[6] = NULL;
    for (i = 0; i < 5; i++) {
        run r = run_cmd(argv, out);
        if (r.status != 0) {
            fprintf(stderr, "bench: list failed\n");
            exit(1);
        }
        if (r.secs < best)
            best = r.secs;
        rss = r.max_rss_kb;
    }
    lines = count_lines(out) - 2; /* header and footer */
    argv[6] = (char *)"--json";
    argv[7] = NULL;
    for (i = 0; i < 5; i++) {
        run r = run_cmd(argv, out);
        if (r.secs < best_json)
            best_json = r.secs;
    }
    printf("list --expiring 30d over %ld rows: %.1f ms (%ld rows shown, "
           "peak RSS %ld MiB); with --json: %.1f ms  [best of 5]\n",
           rows, best * 1000, lines, rss / 1024, best_json * 1000);
    rm_rf(state);
    unlink(out);
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    char work[2048];
    int quick = 0, i;
    int64_t now = (int64_t)time(NULL);
    long sizes[2] = {20000, 100000}, rows = 1000000, peer = 500;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else {
            fprintf(stderr, "usage: bench_inventory [--quick] [--dir DIR]\n");
            return 2;
        }
    }
    if (quick) {
        sizes[0] = 2000;
        sizes[1] = 5000;
        rows = 50000;
        peer = 50;
    }
    if ((size_t)snprintf(work, sizeof(work), "%s/kw-bench",
                         dir ? dir : "/tmp") >= sizeof(work)) {
        fprintf(stderr, "bench: --dir is too long\n");
        return 2;
    }
    mkdir(work, 0755);
    setenv("KEYWARDEN_NOW", "", 1);
    unsetenv("KEYWARDEN_NOW");

    printf("keywarden inventory benchmark (%ld CPUs online)%s\n",
           sysconf(_SC_NPROCESSORS_ONLN), quick ? " [quick]" : "");
    printf("scans: best of 3, each from an empty inventory; rescans: best "
           "of 3\n");
    printf("%-9s %7s %8s %10s %12s %9s %10s %12s %9s\n", "certs", "files",
           "gen s", "scan s", "certs/s", "RSS MiB", "rescan s", "files/s",
           "RSS MiB");
    for (i = 0; i < 2; i++)
        scan_bench(work, sizes[i], now);
    peer_bench(work, peer, now);
    list_bench(work, rows, now);
    for (i = 0; i < 2; i++) {
        char tree[2100];
        snprintf(tree, sizeof(tree), "%s/tree-%ld", work, sizes[i]);
        rm_rf(tree);
    }
    rmdir(work);
    return 0;
}
