/*
 * bench_web: the page at / for 10,000 objects.
 *
 *   bench_web [N]
 *
 * A document shaped as `list --json` prints it (certificates with a
 * deadline and findings, endpoints, DKIM selectors without one, DNSSEC
 * zones with an RRSIG expiry; one name in a hundred full of characters
 * to escape; a fifth unhealthy) is rendered by kw_web_render_page, the
 * function the daemon calls, seven times; the median and the slowest are
 * printed with the page's size, against the target of 200 ms.
 * Then the daemon's whole path, kw_web_build: a tree of generated
 * certificates (testpki's mixed files) scanned by the keywarden binary
 * into a store, and the page built from it (the list --json document
 * read from SQLite, then rendered), three times.
 * Before and after: the listing used to look up, for every row whose
 * deadline another row shares, the other files holding its leaf (one
 * query per row); it now reads each run of equal deadlines once, with a
 * window (ks_inventory.c).  That per-row lookup is run over the same
 * store and timed alone, beside the whole page as it is built now.
 * Exit status 1 when the render's median misses the target.
 */
#include "common/kw_time.h"
#include "keystore/ks_store.h"
#include "keystore/ks_store_int.h"
#include "service/web.h"
#include "testpki.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static json_t *document(long n, int64_t now)
{
    static const char *const health[] = {"ok", "ok", "ok", "ok", "warning",
                                         "ok", "ok", "critical", "ok",
                                         "unknown"};
    json_t *doc = json_array();
    long i;

    for (i = 0; i < n; i++) {
        char name[128], dl[32], reason[128];
        const char *h = health[i % 10];
        json_t *o;

        if (i % 100 == 0)
            snprintf(name, sizeof(name),
                     "<img src=x onerror=alert(%ld)>\"&'.example", i);
        else
            snprintf(name, sizeof(name), "host%ld.mail.example.org", i);
        kw_time_rfc3339(now + (i % 400 - 30) * 86400, dl, sizeof(dl));
        snprintf(reason, sizeof(reason), "%s: expires in %ld days",
                 h, i % 400 - 30);
        switch (i % 5) {
        case 3: /* a DKIM selector: no deadline */
            o = json_pack("{s:I, s:s, s:s, s:s, s:n, s:s, s:s, s:[]}", "id",
                          (json_int_t)i + 1, "kind", "dkim", "name", name,
                          "name_unicode", name, "deadline", "health", h,
                          "reason", strcmp(h, "ok") ? reason : "",
                          "findings");
            break;
        case 4: /* a DNSSEC zone: its RRSIG expiry */
            o = json_pack("{s:I, s:s, s:s, s:s, s:n, s:s, s:s, s:[], "
                          "s:{s:s, s:[]}}",
                          "id", (json_int_t)i + 1, "kind", "dnssec", "name",
                          name, "name_unicode", name, "deadline", "health",
                          h, "reason", strcmp(h, "ok") ? reason : "",
                          "findings", "dnssec", "next_rrsig_expiry", dl,
                          "check_findings");
            break;
        default:
            o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, "
                          "s:[{s:s, s:s, s:s}]}",
                          "id", (json_int_t)i + 1, "kind", "tls", "name",
                          name, "name_unicode", name, "deadline", dl,
                          "health", h, "reason",
                          strcmp(h, "ok") ? reason : "", "findings",
                          "health", h, "text", reason, "fix",
                          "renew the certificate, then reload the daemons "
                          "that use it");
            break;
        }
        if (o == NULL || json_array_append_new(doc, o) != 0)
            return NULL;
    }
    return doc;
}


/* The per-row lookup the listing made before the window: for each listed
 * row, the lowest id of the other visible files with its leaf.  Returns
 * the milliseconds, or -1. */
static double per_row_lookups(ks_store *s)
{
    static const char sql[] =
        "SELECT (SELECT min(o2.id) FROM objects o2 WHERE o2.deadline = "
        "objects.deadline AND o2.kind = objects.kind AND o2.id != "
        "objects.id AND CASE WHEN o2.name = objects.name AND "
        "o2.arrangement IS NOT 'endpoint' AND objects.arrangement IS NOT "
        "'endpoint' AND o2.superseded_by IS NULL AND o2.idle_anchor = 0 "
        "THEN o2.fingerprint = objects.fingerprint ELSE 0 END) FROM objects "
        "WHERE deadline IS NOT NULL AND superseded_by IS NULL AND "
        "idle_anchor = 0 ORDER BY deadline, id";
    sqlite3_stmt *st = NULL;
    double t0 = mono_ms();
    int rc;

    if (sqlite3_prepare_v2(ks_db(s), sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? mono_ms() - t0 : -1;
}

/* The files-of-a-leaf lookup the listing made before, for each row of
 * several files: "id = ?1 OR ..." (a scan of the table), prepared per
 * call; only its id column here.  Returns the milliseconds, or -1. */
static double per_group_lookups(ks_store *s)
{
    static const char sql[] =
        "WITH me(d, k, n, fp, e) AS (SELECT deadline, kind, name, "
        "fingerprint, arrangement IS 'endpoint' FROM objects WHERE id = ?1) "
        "SELECT objects.id FROM objects, me WHERE objects.id = ?1 OR (NOT "
        "me.e AND objects.deadline = me.d AND objects.kind = me.k AND "
        "objects.name = me.n AND objects.fingerprint = me.fp AND "
        "objects.arrangement IS NOT 'endpoint') ORDER BY objects.id";
    sqlite3_stmt *ids = NULL, *st = NULL;
    double t0 = mono_ms();
    int rc;

    /* The first file of each leaf held by several, as the listing shows. */
    if (sqlite3_prepare_v2(ks_db(s),
                           "SELECT min(id) FROM objects WHERE deadline IS "
                           "NOT NULL AND superseded_by IS NULL AND "
                           "idle_anchor = 0 GROUP BY deadline, kind, name, "
                           "fingerprint HAVING count(*) > 1",
                           -1, &ids, NULL) != SQLITE_OK)
        return -1;
    t0 = mono_ms();
    while ((rc = sqlite3_step(ids)) == SQLITE_ROW) {
        if (sqlite3_prepare_v2(ks_db(s), sql, -1, &st, NULL) != SQLITE_OK)
            break;
        sqlite3_bind_int64(st, 1, sqlite3_column_int64(ids, 0));
        while (sqlite3_step(st) == SQLITE_ROW)
            ;
        sqlite3_finalize(st);
    }
    sqlite3_finalize(ids);
    return rc == SQLITE_DONE ? mono_ms() - t0 : -1;
}

/* Run argv, wait for it; 0 when it exited with 0 or 1 (a scan that
 * found problems). */
static int run_tool(char *const argv[])
{
    pid_t pid;
    int st;

    return posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) == 0 &&
                   waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
                   (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 1)
               ? 0
               : -1;
}

/* The page from a scanned store, as the daemon builds it.  copies: the
 * tree scanned once, or twice as two copies (every leaf then held by two
 * files, as Let's Encrypt's cert.pem and fullchain.pem hold one). */
static void store_path(long n, int copies)
{
    char dir[] = "/tmp/bench_web.XXXXXX", tree[300], state[300], db[320];
    char tree2[300];
    char *argv[] = {(char *)KEYWARDEN_BIN, (char *)"--state-dir", state,
                    (char *)"scan", (char *)"--quiet", tree,
                    copies > 1 ? tree2 : NULL, NULL};
    char *cp[] = {(char *)"/bin/cp", (char *)"-r", tree, tree2, NULL};
    char *rm[] = {(char *)"/bin/rm", (char *)"-rf", dir, NULL};
    kw_web_opts o = {.now = kw_now(), .horizon_days = KW_WEB_HORIZON_DEFAULT};
    ks_store *s = NULL;
    double t[3], t0;
    size_t len = 0;
    pid_t pid;
    int st, i, status = 0;
    kw_diag d;

    if (mkdtemp(dir) == NULL)
        return;
    snprintf(tree, sizeof(tree), "%s/tree", dir);
    snprintf(tree2, sizeof(tree2), "%s/copy", dir);
    snprintf(state, sizeof(state), "%s/state", dir);
    snprintf(db, sizeof(db), "%s/keywarden.db", state);
    tp_make_tree(tree, n, kw_now(), 1);
    if (copies > 1 && run_tool(cp) != 0) {
        fprintf(stderr, "bench_web: cannot copy %s\n", tree);
        goto out;
    }
    t0 = mono_ms();
    if (run_tool(argv) != 0) {
        fprintf(stderr, "bench_web: the scan of %s failed\n", tree);
        goto out;
    }
    printf("bench_web: scanned %ld generated certificates%s in %.1f s\n", n,
           copies > 1 ? " in two copies of their tree" : "",
           (mono_ms() - t0) / 1e3);
    if (ks_open(db, 0, &s, &d) != 0) {
        fprintf(stderr, "bench_web: %s\n", d.msg);
        goto out;
    }
    for (i = 0; i < 3; i++) {
        char *page = NULL;

        t0 = mono_ms();
        if (kw_web_build(s, "/", &o, &status, &page, &len, &d) != 0) {
            fprintf(stderr, "bench_web: %s\n", d.msg);
            goto out;
        }
        t[i] = mono_ms() - t0;
        free(page);
    }
    qsort(t, 3, sizeof(t[0]), by_double);
    {
        /* The CLI reading the same document, for comparison. */
        char *lj[] = {(char *)KEYWARDEN_BIN, (char *)"--state-dir", state,
                      (char *)"list", (char *)"--json", NULL};
        posix_spawn_file_actions_t fa;

        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        t0 = mono_ms();
        if (posix_spawn(&pid, lj[0], &fa, NULL, lj, environ) == 0 &&
            waitpid(pid, &st, 0) == pid)
            printf("bench_web: `keywarden list --json` on that store: "
                   "%.1f ms (the process, its start included)\n",
                   mono_ms() - t0);
        posix_spawn_file_actions_destroy(&fa);
    }
    printf("bench_web: the page from the store (list --json's document "
           "and the render): %.1f ms median of 3, %.1f MB\n",
           t[1], (double)len / 1e6);
    printf("bench_web: before/after: the per-row leaf lookups the listing "
           "made before alone took %.1f ms on that store; the whole page "
           "now %.1f ms\n",
           per_row_lookups(s), t[1]);
    if (copies > 1)
        printf("bench_web: before/after: the per-group file lookups it "
               "made before alone took %.1f ms on that store\n",
               per_group_lookups(s));
out:
    ks_close(s);
    if (posix_spawn(&pid, rm[0], NULL, NULL, rm, environ) == 0)
        waitpid(pid, &st, 0);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 10000;
    int64_t now = kw_time_from_civil(2026, 12, 1, 12, 0, 0);
    kw_web_opts o = {.now = now, .horizon_days = KW_WEB_HORIZON_DEFAULT};
    json_t *doc = document(n, now);
    double t[7];
    size_t len = 0;
    int i;

    if (doc == NULL) {
        fprintf(stderr, "bench_web: out of memory building the document\n");
        return 2;
    }
    for (i = 0; i < 7; i++) {
        char *page = NULL;
        kw_diag d;
        double t0 = mono_ms();

        if (kw_web_render_page(doc, &o, &page, &len, &d) != 0) {
            fprintf(stderr, "bench_web: %s\n", d.msg);
            return 2;
        }
        t[i] = mono_ms() - t0;
        free(page);
    }
    qsort(t, 7, sizeof(t[0]), by_double);
    store_path(n, 1);
    store_path(n, 2);
    printf("bench_web: the page for %ld objects: %.1f ms median, %.1f ms "
           "slowest of 7; %.1f MB of HTML; target < 200 ms: %s\n",
           n, t[3], t[6], (double)len / 1e6, t[3] < 200 ? "met" : "MISSED");
    json_decref(doc);
    return t[3] < 200 ? 0 : 1;
}
