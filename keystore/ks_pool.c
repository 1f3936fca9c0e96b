#include "ks_pool.h"

#include "../common/kw_err.h"
#include "../common/kw_fs.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct worker {
    ks_pool *pool;
    pthread_t tid;
    unsigned char *buf, *scratch;
    int started;
} worker;

struct ks_pool {
    pthread_mutex_t mu;
    pthread_cond_t work;  /* a job was queued, or stop */
    pthread_cond_t done;  /* a job finished */
    ks_job *head, *tail;
    int stop;
    int idle;    /* workers asleep on `work`: only then is a signal needed */
    int waiters; /* threads asleep on `done` */
    int nthreads;
    size_t bufsize;
    void (*thread_exit)(void);
    worker *workers;
};

static void *run(void *arg)
{
    worker *w = arg;
    ks_pool *p = w->pool;
    ks_job *j;

    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->head == NULL && !p->stop) {
            p->idle++;
            pthread_cond_wait(&p->work, &p->mu);
            p->idle--;
        }
        if (p->head == NULL) {
            pthread_mutex_unlock(&p->mu);
            if (p->thread_exit != NULL)
                p->thread_exit();
            return NULL;
        }
        j = p->head;
        p->head = j->next;
        if (p->head == NULL)
            p->tail = NULL;
        pthread_mutex_unlock(&p->mu);

        j->fn(j, w->buf, w->scratch, p->bufsize);

        pthread_mutex_lock(&p->mu);
        j->done = 1;
        /* Wake-ups cost a context switch each; the submitter is usually
         * far behind the workers and not waiting at all. */
        if (p->waiters > 0)
            pthread_cond_broadcast(&p->done);
        pthread_mutex_unlock(&p->mu);
    }
}

int ks_pool_start(ks_pool **out, int nthreads, size_t bufsize,
                  void (*thread_exit)(void))
{
    ks_pool *p;
    int i;

    *out = NULL;
    if (nthreads < 1)
        return KW_EINVAL;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return KW_ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    p->bufsize = bufsize;
    p->thread_exit = thread_exit;
    p->workers = calloc((size_t)nthreads, sizeof(*p->workers));
    if (p->workers == NULL) {
        ks_pool_stop(p);
        return KW_ENOMEM;
    }
    p->nthreads = nthreads;
    for (i = 0; i < nthreads; i++) {
        worker *w = &p->workers[i];

        w->pool = p;
        w->buf = malloc(bufsize);
        w->scratch = malloc(bufsize);
        if (w->buf == NULL || w->scratch == NULL ||
            pthread_create(&w->tid, NULL, run, w) != 0) {
            ks_pool_stop(p);
            return KW_ENOMEM;
        }
        w->started = 1;
    }
    *out = p;
    return 0;
}

void ks_pool_submit(ks_pool *p, ks_job *j)
{
    pthread_mutex_lock(&p->mu);
    j->done = 0;
    j->next = NULL;
    if (p->tail != NULL)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    if (p->idle > 0)
        pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
}

void ks_pool_wait(ks_pool *p, ks_job *j)
{
    pthread_mutex_lock(&p->mu);
    while (!j->done) {
        p->waiters++;
        pthread_cond_wait(&p->done, &p->mu);
        p->waiters--;
    }
    pthread_mutex_unlock(&p->mu);
}

void ks_pool_stop(ks_pool *p)
{
    int i;

    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (i = 0; i < p->nthreads; i++) {
        worker *w = &p->workers[i];

        if (w->started)
            pthread_join(w->tid, NULL);
        /* Key files passed through these buffers. */
        if (w->buf != NULL)
            kw_wipe(w->buf, p->bufsize);
        if (w->scratch != NULL)
            kw_wipe(w->scratch, p->bufsize);
        free(w->buf);
        free(w->scratch);
    }
    free(p->workers);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
