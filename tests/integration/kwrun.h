/* kwrun.h: run the keywarden binary from an integration test and look at
 * what it did. */
#ifndef KW_TEST_KWRUN_H
#define KW_TEST_KWRUN_H

#include <stddef.h>
#include <sys/types.h>

#define assert_contains(hay, needle)                                      \
    do {                                                                  \
        if (strstr((hay), (needle)) == NULL)                              \
            fail_msg("\"%s\" not found in:\n%s", (needle), (hay));        \
    } while (0)

#define assert_not_contains(hay, needle)                                  \
    do {                                                                  \
        if (strstr((hay), (needle)) != NULL)                              \
            fail_msg("\"%s\" unexpectedly found in:\n%s", (needle),       \
                     (hay));                                              \
    } while (0)

typedef struct kwres {
    int status;
    char *out, *err;
    double secs;
} kwres;

/* Seconds on the monotonic clock. */
double mono(void);

void kwres_free(kwres *r);

/* keywarden --state-dir STATE --config CONF --log-level info ARGS...,
 * with a deadline of 120 s (then SIGKILL and a failure). */
kwres kw_argv(const char *state, const char *conf, const char **args);

/* kw_argv, with child(ctx) called in the child before the exec (to
 * change user or mounts; it writes its failure to stderr and _exits). */
kwres kw_argv_in(const char *state, const char *conf, const char **args,
                 void (*child)(void *ctx), void *ctx);

/* A run that must exit with want; shows everything when it does not. */
/* `list --json --kind KIND` (exit 0), its output in *r (kwres_free) and
 * parsed: the test fails when it is not JSON.  A json_t * (jansson),
 * the caller's to json_decref. */
struct json_t;
struct json_t *kw_list_json(const char *state, const char *conf,
                            const char *kind, kwres *r);

kwres kw_expect(int want, const char *state, const char *conf,
                const char **args);

#define kw(state, conf, ...)                                              \
    kw_argv((state), (conf), (const char *[]){__VA_ARGS__, NULL})
#define kw_ok(state, conf, ...)                                           \
    kw_expect(0, (state), (conf), (const char *[]){__VA_ARGS__, NULL})
#define kw_fail(state, conf, ...)                                         \
    kw_expect(1, (state), (conf), (const char *[]){__VA_ARGS__, NULL})

/* dir/rel in one of 8 rotating buffers (so a call may take several). */
const char *kw_path(const char *dir, const char *rel);

/* Run a tool (an absolute path: posix_spawn searches no PATH) with its
 * output in log; fails the test unless it exits 0 within 60 s. */
void kw_tool(const char *const argv[], const char *log);

/* GET path from 127.0.0.1:port (HTTP/1.0, 5 s to answer): the whole
 * answer, malloc'd, or NULL when nothing answered. */
char *kw_http_get(int port, const char *path);

/* What addr@port serves at name TXT, as `kdig +short +norec` prints it
 * (one line per record, "" for none), into out (cap bytes). */
void kw_kdig_txt(const char *addr, int port, const char *name, char *out,
                 size_t cap);

/* The TXT records addr@port serves at name (kdig +short +norec, no
 * shell): each record's strings joined, records separated by '\n', into
 * out (cap bytes); returns how many. */
int kw_txt_served(const char *addr, int port, const char *name, char *out,
                  size_t cap);

/* keywarden --state-dir STATE --config CONF serve, its output appended
 * to log, with the clock pinned at now (KEYWARDEN_NOW, left set: a
 * pinned clock does not move, so a test restarts serve at a later one)
 * and KEYWARDEN_TEST_DIE_AT = die_at (NULL: none).  Returns its pid. */
pid_t kw_serve_start(const char *state, const char *conf, const char *now,
                     const char *die_at, const char *log);

/* SIGTERM to serve at *pid, which must exit 0 within 30 s; *pid = 0. */
void kw_serve_stop(pid_t *pid);

/* SIGKILL to serve at *pid if it runs (a failed case's), reaped;
 * *pid = 0. */
void kw_serve_kill(pid_t *pid);

/* The health label /metrics text m gives keywarden_object_health of the
 * object of kind and name ("" when absent); a static buffer. */
const char *kw_metrics_health(const char *m, const char *kind,
                              const char *name);

/* Wait up to timeout_ms for sql (one integer) to be positive on the
 * database db; fails naming sql and log (serve's) otherwise. */
void kw_await_sql(const char *db, const char *sql, int timeout_ms,
                  const char *log);
/* The same wait, without failing: 1 when sql became positive. */
int kw_sql_within(const char *db, const char *sql, int timeout_ms);

/* Files in directory d whose names end in suffix (0 when d cannot be
 * read). */
int kw_count_files(const char *d, const char *suffix);

/* Write a formatted text file (0644); fails the test when over 8 KiB. */
void write_text(const char *path, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
