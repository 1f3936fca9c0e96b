/*
 * ks_pool.h: a small fixed pool of worker threads for the scanner.
 *
 * Workers run jobs in submission order; each owns two buffers of
 * bufsize bytes (file contents and decoded PEM), so a job needs no
 * allocation of its own and memory stays constant however many files a
 * scan reads.  The submitter waits for each job it consumes.
 */
#ifndef KS_POOL_H
#define KS_POOL_H

#include <stddef.h>

typedef struct ks_pool ks_pool;

typedef struct ks_job {
    /* Runs on a worker with that worker's buffers. */
    void (*fn)(struct ks_job *j, unsigned char *buf, unsigned char *scratch,
               size_t bufsize);
    struct ks_job *next; /* queue link, owned by the pool */
    int done;            /* guarded by the pool's mutex */
} ks_job;

/* nthreads >= 1.  thread_exit (may be NULL) runs on each worker before it
 * ends, to release per-thread caches.  Returns 0 or a negative KW_E*
 * code. */
int ks_pool_start(ks_pool **out, int nthreads, size_t bufsize,
                  void (*thread_exit)(void));

void ks_pool_submit(ks_pool *p, ks_job *j);

/* Block until j has run. */
void ks_pool_wait(ks_pool *p, ks_job *j);

/* Finish queued jobs, join the workers, wipe and free their buffers. */
void ks_pool_stop(ks_pool *p);

#endif
