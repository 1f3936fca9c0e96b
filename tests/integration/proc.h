/* proc.h: run programs from tests, and wait for conditions without
 * sleeping blindly. */
#ifndef KW_TEST_PROC_H
#define KW_TEST_PROC_H

#include <stdint.h>
#include <sys/types.h>

/* fork() a child that never outlives the test, however the test ends
 * (PR_SET_PDEATHSIG, SIGKILL): returns 0 in the child and its pid in the
 * parent, aborts if fork fails.  A child whose parent died before the
 * signal was armed exits 127 at once. */
pid_t proc_fork_tied(void);

/* Spawn argv with stdout and stderr as pipes (*ofd, *efd). */
pid_t proc_spawn_pipes(char *const argv[], int *ofd, int *efd);

/* Spawn argv with stdout and stderr appended to log_path. */
pid_t proc_spawn_log(char *const argv[], const char *log_path);

/* Read both pipes to EOF into malloc'd strings (bounded at 64 MiB). */
void proc_drain(int ofd, int efd, char **out, char **err);

/* Wait for pid up to timeout_ms; returns the exit code, 128+signal, or
 * -1 on timeout (the process is left running). */
int proc_wait(pid_t pid, int timeout_ms);

/* Poll pred every 10 ms until it returns non-zero or timeout_ms passes;
 * returns the last result. */
int proc_until(int (*pred)(void *ctx), void *ctx, int timeout_ms);

/* rm -rf path (argv, no shell), waiting up to 60 s. */
void proc_rm_rf(const char *path);

/* Does the file contain needle? */
int file_contains(const char *path, const char *needle);

/* The first column of the first row of sql on the database at db (opened
 * read-only), or -1. */
int64_t db_int(const char *db, const char *sql);

#endif
