#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

pid_t proc_fork_tied(void)
{
    pid_t parent = getpid(), pid = fork();

    if (pid < 0)
        abort();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
    }
    return pid;
}

pid_t proc_spawn_pipes(char *const argv[], int *ofd, int *efd)
{
    posix_spawn_file_actions_t fa;
    int o[2], e[2];
    pid_t pid;

    if (pipe(o) != 0 || pipe(e) != 0)
        abort();
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, o[1], 1);
    posix_spawn_file_actions_adddup2(&fa, e[1], 2);
    posix_spawn_file_actions_addclose(&fa, o[0]);
    posix_spawn_file_actions_addclose(&fa, e[0]);
    if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0)
        abort();
    posix_spawn_file_actions_destroy(&fa);
    close(o[1]);
    close(e[1]);
    *ofd = o[0];
    *efd = e[0];
    return pid;
}

pid_t proc_spawn_log(char *const argv[], const char *log_path)
{
    posix_spawn_file_actions_t fa;
    pid_t pid;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log_path,
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0)
        abort();
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

void proc_drain(int ofd, int efd, char **out, char **err)
{
    struct pollfd p[2] = {{ofd, POLLIN, 0}, {efd, POLLIN, 0}};
    char *buf[2] = {NULL, NULL};
    size_t len[2] = {0, 0}, cap[2] = {0, 0};
    int open_fds = 2, i;

    while (open_fds > 0) {
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        for (i = 0; i < 2; i++) {
            char chunk[65536];
            ssize_t n;

            if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP)))
                continue;
            n = read(p[i].fd, chunk, sizeof(chunk));
            if (n <= 0) {
                close(p[i].fd);
                p[i].fd = -1;
                open_fds--;
                continue;
            }
            if (len[i] + (size_t)n + 1 > cap[i]) {
                cap[i] = (len[i] + (size_t)n + 1) * 2;
                if (cap[i] > (64u << 20))
                    abort();
                buf[i] = realloc(buf[i], cap[i]);
            }
            memcpy(buf[i] + len[i], chunk, (size_t)n);
            len[i] += (size_t)n;
        }
    }
    for (i = 0; i < 2; i++) {
        if (buf[i] == NULL)
            buf[i] = calloc(1, 1);
        buf[i][len[i]] = '\0';
    }
    *out = buf[0];
    *err = buf[1];
}

static int64_t ms_now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int proc_wait(pid_t pid, int timeout_ms)
{
    int64_t end = ms_now() + timeout_ms;
    int status;

    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status)
                                     : 128 + WTERMSIG(status);
        if (r < 0 && errno != EINTR)
            return -2;
        if (ms_now() >= end)
            return -1;
        poll(NULL, 0, 10);
    }
}

int proc_until(int (*pred)(void *ctx), void *ctx, int timeout_ms)
{
    int64_t end = ms_now() + timeout_ms;
    int r;

    while (!(r = pred(ctx)) && ms_now() < end)
        poll(NULL, 0, 10);
    return r;
}

int file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long n;
    int found = 0;

    if (f == NULL)
        return 0;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n) {
        buf[n] = '\0';
        found = strstr(buf, needle) != NULL;
    }
    free(buf);
    fclose(f);
    return found;
}

int64_t db_int(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    int64_t n = -1;

    /* A reader of a WAL database can meet a checkpoint of the daemon's
     * last closing connection: wait for it as the daemon's own do. */
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_busy_timeout(h, 5000) == SQLITE_OK &&
        sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

void proc_rm_rf(const char *path)
{
    char *rm[] = {(char *)"/bin/rm", (char *)"-rf", (char *)path, NULL};
    char *o = NULL, *e = NULL;
    int ofd, efd;
    pid_t p = proc_spawn_pipes(rm, &ofd, &efd);

    proc_drain(ofd, efd, &o, &e);
    proc_wait(p, 60000);
    free(o);
    free(e);
}
