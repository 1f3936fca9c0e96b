/*
 * bench_hooks: what hooks cost, beside the floor and a peer's way.
 *
 *   bench_hooks [--quick] [--dir DIR]
 *
 *   - dispatch: events turned into deliveries per second (100,000 events
 *     of mixed types, four hooks taking some of them), what a first scan
 *     of a large tree costs the outbox;
 *   - delivery: one run of /bin/true per cert.renewed event through the
 *     engine (spawn, stdin, output, the run recorded, the delivery
 *     settled), runs per second; beside it in the same run the floor,
 *     posix_spawn and waitpid of /bin/true, and certbot's way, a shell
 *     (system(3), as certbot's deploy hooks run through /bin/sh);
 *   - coalesced: the same events to a hook with a window: one run.
 * --quick shrinks it for a smoke run in CI.
 */
#include "common/kw_time.h"
#include "hooks/hook_deliver.h"
#include "hooks/hook_outbox.h"
#include "keystore/ks_store.h"
#include "keystore/ks_store_int.h"

#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what, const kw_diag *d)
{
    fprintf(stderr, "bench_hooks: %s: %s\n", what, d != NULL ? d->msg : "");
    exit(1);
}

static void def(kw_hook_def *h, const char *name, const char *on,
                const char *prog, int64_t coalesce)
{
    memset(h, 0, sizeof(*h));
    h->name = strdup(name);
    h->on = calloc(2, sizeof(*h->on));
    h->on[0] = strdup(on);
    h->non = 1;
    h->argv = calloc(2, sizeof(*h->argv));
    h->argv[0] = strdup(prog);
    h->nargv = 1;
    h->timeout = 10;
    h->retries = 0;
    h->retry_delay = 30;
    h->coalesce = coalesce;
}

static ks_store *fresh_db(const char *dir, const char *name, char *path,
                          size_t cap)
{
    ks_store *s = NULL;
    kw_diag d;

    snprintf(path, cap, "%s/%s", dir, name);
    unlink(path);
    if (ks_open(path, KS_OPEN_CREATE, &s, &d) != 0)
        die("opening the database", &d);
    return s;
}

static void add_events(ks_store *s, long n, int every_renewed)
{
    static const char *const types[] = {"object.changed", "probe.fresh",
                                        "health.changed", "object.missing"};
    sqlite3_stmt *st;
    kw_diag d;
    long i;

    if (ks_begin(s, &d) != 0)
        die("begin", &d);
    sqlite3_prepare_v2(ks_db(s),
                       "INSERT INTO events (at, type, detail) VALUES (?1, "
                       "?2, ?3)",
                       -1, &st, NULL);
    for (i = 0; i < n; i++) {
        char detail[96];
        const char *type = every_renewed > 0 && i % every_renewed == 0
                               ? "cert.renewed"
                               : types[i % 4];

        snprintf(detail, sizeof(detail), "{\"certificate\":\"c%ld\"}", i);
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, kw_now());
        sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, detail, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) != SQLITE_DONE)
            die("inserting events", NULL);
    }
    sqlite3_finalize(st);
    if (ks_commit(s, &d) != 0)
        die("commit", &d);
}

typedef struct run_ctx {
    kw_hook_engine *e;
    int runs, failed;
} run_ctx;

static void on_report(void *ctx, const kw_hook_report *r)
{
    run_ctx *c = ctx;

    c->runs++;
    c->failed += strcmp(r->result, "ok") != 0;
}

static void on_idle(void *ctx)
{
    run_ctx *c = ctx;

    kw_hook_engine_free(c->e);
    c->e = NULL;
}

/* Deliver everything pending, as the command line does; returns runs. */
static int deliver(const char *db, const kw_hook_def *defs, size_t n,
                   int *failed)
{
    kw_hook_engine_opts o;
    uv_loop_t loop;
    run_ctx c;
    kw_diag d;

    memset(&c, 0, sizeof(c));
    memset(&o, 0, sizeof(o));
    uv_loop_init(&loop);
    o.loop = &loop;
    o.db_path = db;
    o.defs = defs;
    o.ndefs = n;
    o.now_all = 1;
    o.ctx = &c;
    o.on_report = on_report;
    o.on_idle = on_idle;
    if (kw_hook_engine_new(&o, &c.e, &d) != 0)
        die("engine", &d);
    /* The command line runs one pass after another until idle; a pass
     * claims one delivery of a hook without a window. */
    kw_hook_engine_kick(c.e);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    *failed = c.failed;
    return c.runs;
}

int main(int argc, char **argv)
{
    const char *dir = "/tmp";
    int quick = 0, i, failed = 0, runs;
    long nev, nrun;
    char base[512], db[700];
    kw_hook_def defs[4], one, win;
    ks_store *s;
    size_t queued = 0;
    kw_diag d;
    double t0, t_dispatch, t_engine, t_spawn, t_system, t_coal;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
    }
    nev = quick ? 5000 : 100000;
    nrun = quick ? 20 : 300;
    snprintf(base, sizeof(base), "%s/bench-hooks", dir);
    mkdir(base, 0700);
    signal(SIGPIPE, SIG_IGN);

    /* Dispatch. */
    def(&defs[0], "postfix", "cert.renewed", "/bin/true", 10);
    def(&defs[1], "all-certs", "cert.*", "/bin/true", 0);
    def(&defs[2], "objects", "object.missing", "/bin/true", 0);
    def(&defs[3], "pager", "hook.failed", "/bin/true", 0);
    s = fresh_db(base, "dispatch.db", db, sizeof(db));
    add_events(s, nev, 50);
    t0 = now_s();
    if (kw_hook_dispatch(s, defs, 4, kw_now(), &queued, NULL, &d) != 0)
        die("dispatch", &d);
    t_dispatch = now_s() - t0;
    ks_close(s);

    /* Delivery: one run per event. */
    def(&one, "deploy", "cert.renewed", "/bin/true", 0);
    s = fresh_db(base, "deliver.db", db, sizeof(db));
    add_events(s, nrun, 1);
    ks_close(s);
    t0 = now_s();
    runs = deliver(db, &one, 1, &failed);
    t_engine = now_s() - t0;
    if (runs != nrun || failed != 0) {
        fprintf(stderr, "bench_hooks: %d runs (%d failed), expected %ld\n",
                runs, failed, nrun);
        return 1;
    }

    /* The floor: posix_spawn and waitpid. */
    t0 = now_s();
    for (i = 0; i < nrun; i++) {
        char *av[] = {(char *)"/bin/true", NULL};
        pid_t pid;
        int st;

        if (posix_spawn(&pid, av[0], NULL, NULL, av, environ) != 0 ||
            waitpid(pid, &st, 0) != pid)
            die("posix_spawn", NULL);
    }
    t_spawn = now_s() - t0;
    /* A shell per hook, as certbot runs deploy hooks. */
    t0 = now_s();
    for (i = 0; i < nrun; i++)
        if (system("/bin/true") != 0)
            die("system", NULL);
    t_system = now_s() - t0;

    /* Coalesced: the same events, one run. */
    def(&win, "reload", "cert.renewed", "/bin/true", 10);
    s = fresh_db(base, "coalesce.db", db, sizeof(db));
    add_events(s, nrun, 1);
    ks_close(s);
    t0 = now_s();
    runs = deliver(db, &win, 1, &failed);
    t_coal = now_s() - t0;

    printf("bench_hooks (%s)\n", quick ? "quick" : "full");
    printf("  dispatch: %ld events, %zu deliveries queued for 4 hooks: "
           "%.3f s, %.0f events/s\n",
           nev, queued, t_dispatch, (double)nev / t_dispatch);
    printf("  delivery: %ld runs of /bin/true, each recorded: %.3f s, "
           "%.2f ms per run, %.0f runs/s\n",
           nrun, t_engine, t_engine * 1000 / (double)nrun,
           (double)nrun / t_engine);
    printf("  floor:    posix_spawn + waitpid: %.2f ms per run\n",
           t_spawn * 1000 / (double)nrun);
    printf("  peer:     system(3), a shell per hook as certbot's deploy "
           "hooks: %.2f ms per run\n",
           t_system * 1000 / (double)nrun);
    printf("  coalesced: %ld events, %d run: %.3f s\n", nrun, runs, t_coal);
    for (i = 0; i < 4; i++)
        kw_hook_def_free(&defs[i]);
    kw_hook_def_free(&one);
    kw_hook_def_free(&win);
    return 0;
}
