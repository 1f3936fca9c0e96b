/*
 * kw_proc.c: a program run to its end, bounded (see kw_proc.h).
 */
#include "kw_proc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int kw_proc_run(const char *const argv[], char *const envp[], int timeout_ms,
                char *out, size_t cap, int *status, kw_diag *d)
{
    posix_spawn_file_actions_t fa;
    size_t len = 0;
    int pfd[2], rc, done = 0;
    int64_t deadline = mono_ms() + timeout_ms;
    pid_t pid;

    out[0] = '\0';
    *status = 0;
    if (pipe2(pfd, O_CLOEXEC) != 0)
        return kw_diag_set(d, kw_errno(), "%s: pipe: %s", argv[0],
                           kw_strerror(kw_errno()));
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
    rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv,
                      envp != NULL ? envp : environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    if (rc != 0) {
        close(pfd[0]);
        return kw_diag_set(d, -rc, "%s: cannot run it: %s", argv[0],
                           strerror(rc));
    }
    while (!done) {
        struct pollfd p = {pfd[0], POLLIN, 0};
        int64_t left = deadline - mono_ms();
        ssize_t n;

        if (left <= 0) {
            kill(pid, SIGKILL);
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
            close(pfd[0]);
            out[len] = '\0';
            return KW_ETIMEDOUT;
        }
        if (poll(&p, 1, (int)(left > 1000 ? 1000 : left)) <= 0)
            continue;
        n = read(pfd[0], out + len, cap - 1 - len);
        if (n > 0) {
            len += (size_t)n;
            if (len == cap - 1) { /* keep the second half */
                memmove(out, out + len / 2, len - len / 2);
                len -= len / 2;
            }
        } else if (n == 0 || errno != EINTR) {
            done = 1;
        }
    }
    close(pfd[0]);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
    out[len] = '\0';
    while (len > 0 && isspace((unsigned char)out[len - 1]))
        out[--len] = '\0';
    return 0;
}
