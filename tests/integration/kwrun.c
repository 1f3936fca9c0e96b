/* kwrun.c: run the keywarden binary from an integration test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "kwrun.h"
#include "proc.h"
#include "testpki.h"

double mono(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

void kwres_free(kwres *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* Appends what comes from fd to *buf (at most 16 MiB); 0 at EOF. */
static int drain_some(int fd, char **buf, size_t *len)
{
    char chunk[16384];
    ssize_t n = read(fd, chunk, sizeof(chunk));
    char *nb;

    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 1;
    if (n <= 0)
        return 0;
    if (*len + (size_t)n > (16u << 20))
        abort();
    nb = realloc(*buf, *len + (size_t)n + 1);
    if (nb == NULL)
        abort();
    memcpy(nb + *len, chunk, (size_t)n);
    *len += (size_t)n;
    nb[*len] = '\0';
    *buf = nb;
    return 1;
}

/* keywarden --state-dir STATE --config CONF --log-level info ARGS...,
 * with a deadline of 120 s (then SIGKILL and a failure). */
kwres kw_argv(const char *state, const char *conf, const char **args)
{
    return kw_argv_in(state, conf, args, NULL, NULL);
}

kwres kw_argv_in(const char *state, const char *conf, const char **args,
                 void (*child)(void *ctx), void *ctx)
{
    char *argv[32];
    int argc = 0, o[2], e[2], status, open_fds = 2;
    size_t olen = 0, elen = 0;
    double t0 = mono(), deadline = t0 + 120;
    pid_t pid;
    kwres r = {0, NULL, NULL, 0};

    argv[argc++] = (char *)KEYWARDEN_BIN;
    argv[argc++] = (char *)"--state-dir";
    argv[argc++] = (char *)state;
    argv[argc++] = (char *)"--config";
    argv[argc++] = (char *)conf;
    argv[argc++] = (char *)"--log-level";
    argv[argc++] = (char *)"info";
    while (*args != NULL && argc < 31)
        argv[argc++] = (char *)*args++;
    argv[argc] = NULL;
    if (pipe2(o, O_CLOEXEC) != 0 || pipe2(e, O_CLOEXEC) != 0)
        abort();
    pid = proc_fork_tied();
    if (pid == 0) {
        dup2(o[1], 1);
        dup2(e[1], 2);
        if (child != NULL)
            child(ctx);
        execv(argv[0], argv);
        _exit(127);
    }
    close(o[1]);
    close(e[1]);
    {
        struct pollfd p[2] = {{o[0], POLLIN, 0}, {e[0], POLLIN, 0}};

        while (open_fds > 0) {
            int left = (int)((deadline - mono()) * 1000);

            if (left <= 0) {
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                fail_msg("keywarden %s did not finish in 120 s; output:\n%s"
                         "\nlog:\n%s",
                         argv[7], r.out ? r.out : "", r.err ? r.err : "");
            }
            if (poll(p, 2, left) < 0 && errno != EINTR)
                abort();
            if (p[0].fd >= 0 && (p[0].revents & (POLLIN | POLLHUP)) &&
                !drain_some(p[0].fd, &r.out, &olen)) {
                close(p[0].fd);
                p[0].fd = -1;
                open_fds--;
            }
            if (p[1].fd >= 0 && (p[1].revents & (POLLIN | POLLHUP)) &&
                !drain_some(p[1].fd, &r.err, &elen)) {
                close(p[1].fd);
                p[1].fd = -1;
                open_fds--;
            }
        }
    }
    if (waitpid(pid, &status, 0) != pid)
        abort();
    r.status = WIFEXITED(status) ? WEXITSTATUS(status)
                                 : 128 + WTERMSIG(status);
    if (r.out == NULL)
        r.out = calloc(1, 1);
    if (r.err == NULL)
        r.err = calloc(1, 1);
    r.secs = mono() - t0;
    return r;
}

/* A run that must exit with want; shows everything when it does not. */
json_t *kw_list_json(const char *state, const char *conf,
                     const char *kind, kwres *r)
{
    json_error_t e;
    json_t *all;

    *r = kw_expect(0, state, conf,
                   (const char *[]){ "list", "--json", "--kind", kind, NULL });
    if ((all = json_loads(r->out, 0, &e)) == NULL)
        fail_msg("list --json is not JSON (%s): %s", e.text, r->out);
    return all;
}

kwres kw_expect(int want, const char *state, const char *conf,
                const char **args)
{
    kwres r = kw_argv(state, conf, args);

    if (r.status != want)
        fail_msg("keywarden %s %s: exit %d, expected %d\nstdout:\n%s\n"
                 "stderr:\n%s",
                 args[0], args[1] ? args[1] : "", r.status, want, r.out,
                 r.err);
    return r;
}

const char *kw_path(const char *dir, const char *rel)
{
    static char buf[8][600];
    static int i;

    i = (i + 1) % 8;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, rel);
    return buf[i];
}

void kw_tool(const char *const argv[], const char *log)
{
    pid_t pid = proc_spawn_log((char *const *)argv, log);
    int rc = proc_wait(pid, 60000);

    if (rc != 0)
        fail_msg("%s exited %d (see %s)", argv[0], rc, log);
}

void write_text(const char *path, const char *fmt, ...)
{
    char text[8192];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(text));
    tp_write_bytes(path, text, (size_t)n, 0644);
}

char *kw_http_get(int port, const char *path)
{
    char req[256];
    struct sockaddr_in a;
    struct timeval tv = {5, 0};
    size_t len = 0, cap = 1 << 20;
    char *buf = calloc(1, cap);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ssize_t n;

    assert_non_null(buf);
    snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\n\r\n", path);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
        close(fd);
        free(buf);
        return NULL;
    }
    while (len + 1 < cap && (n = read(fd, buf + len, cap - len - 1)) > 0)
        len += (size_t)n;
    close(fd);
    if (len == 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

void kw_kdig_txt(const char *addr, int port, const char *name, char *out,
                 size_t cap)
{
    char cmd[800];
    size_t n;
    FILE *p;

    snprintf(cmd, sizeof(cmd),
             "/usr/bin/kdig @%s -p %d +short +norec +timeout=2 TXT %s", addr,
             port, name);
    p = popen(cmd, "r");
    assert_non_null(p);
    n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    pclose(p);
}

int kw_txt_served(const char *addr, int port_no, const char *name, char *out,
                  size_t cap)
{
    char at[80], port[16], *o = NULL, *e = NULL;
    char *argv[] = {(char *)"/usr/bin/kdig", at, (char *)"-p", port,
                    (char *)"+short", (char *)"+norec",
                    (char *)"+timeout=2", (char *)"TXT", (char *)name, NULL};
    size_t k = 0, i;
    int ofd, efd, n = 0, in = 0;
    pid_t pid;

    snprintf(at, sizeof(at), "@%s", addr);
    snprintf(port, sizeof(port), "%d", port_no);
    pid = proc_spawn_pipes(argv, &ofd, &efd);
    proc_drain(ofd, efd, &o, &e);
    assert_int_equal(proc_wait(pid, 10000), 0);
    for (i = 0; o[i] != '\0' && k + 2 < cap; i++) {
        if (o[i] == '"')
            in = !in;
        else if (in)
            out[k++] = o[i];
        else if (o[i] == '\n') {
            out[k++] = '\n';
            n++;
        }
    }
    out[k] = '\0';
    if (k > 0 && out[k - 1] == '\n')
        out[k - 1] = '\0';
    free(o);
    free(e);
    return n;
}

pid_t kw_serve_start(const char *state, const char *conf, const char *now,
                     const char *die_at, const char *log)
{
    char *argv[] = {(char *)KEYWARDEN_BIN, (char *)"--state-dir",
                    (char *)state, (char *)"--config", (char *)conf,
                    (char *)"serve", NULL};
    pid_t pid;

    setenv("KEYWARDEN_NOW", now, 1);
    if (die_at != NULL)
        setenv("KEYWARDEN_TEST_DIE_AT", die_at, 1);
    pid = proc_spawn_log(argv, log);
    unsetenv("KEYWARDEN_TEST_DIE_AT");
    assert_true(pid > 0);
    return pid;
}

void kw_serve_stop(pid_t *pid)
{
    assert_true(*pid > 0);
    kill(*pid, SIGTERM);
    assert_int_equal(proc_wait(*pid, 30000), 0);
    *pid = 0;
}

void kw_serve_kill(pid_t *pid)
{
    if (*pid > 0) {
        kill(*pid, SIGKILL);
        proc_wait(*pid, 5000);
    }
    *pid = 0;
}

typedef struct want_sql {
    const char *db, *sql;
} want_sql;

static int sql_true(void *ctx)
{
    const want_sql *w = ctx;

    return db_int(w->db, w->sql) > 0;
}

void kw_await_sql(const char *db, const char *sql, int timeout_ms,
                  const char *log)
{
    want_sql w = {db, sql};

    if (!proc_until(sql_true, &w, timeout_ms))
        fail_msg("not seen within %d s: %s (see %s)", timeout_ms / 1000, sql,
                 log);
}

int kw_sql_within(const char *db, const char *sql, int timeout_ms)
{
    want_sql w = {db, sql};

    return proc_until(sql_true, &w, timeout_ms);
}

int kw_count_files(const char *d, const char *suffix)
{
    DIR *dp = opendir(d);
    struct dirent *e;
    size_t sl = strlen(suffix);
    int n = 0;

    if (dp == NULL)
        return 0;
    while ((e = readdir(dp)) != NULL) {
        size_t l = strlen(e->d_name);

        if (l > sl && strcmp(e->d_name + l - sl, suffix) == 0)
            n++;
    }
    closedir(dp);
    return n;
}

const char *kw_metrics_health(const char *m, const char *kind,
                              const char *name)
{
    static char out[16];
    char want[300];
    const char *p, *h, *e;

    out[0] = '\0';
    snprintf(want, sizeof(want),
             "keywarden_object_health{kind=\"%s\",name=\"%s\",", kind,
             name);
    if (m == NULL || (p = strstr(m, want)) == NULL ||
        (e = strchr(p, '\n')) == NULL)
        return out;
    h = strstr(p, "health=\"");
    if (h == NULL || h > e)
        return out;
    h += 8;
    snprintf(out, sizeof(out), "%.*s", (int)strcspn(h, "\""), h);
    return out;
}
