/* mcpool.h: the baseline of the benchmarks, a plain mutex + condition
 * variable thread pool.  Header-only, C11 and C++.
 *
 *   mcpool *p = mcpool_create(0);              0: one worker per usable CPU
 *   mcpool_task *t = mcpool_submit(p, fn, arg);
 *   mcpool_wait(p, t);                         blocks until fn(arg) returned
 *   mcpool_release(t);                         frees the handle
 *   mcpool_destroy(p);
 *
 * One queue (a ring of task pointers) under one mutex, N worker threads, a
 * condition variable on which idle workers sleep ("work queued") and one on
 * which waiters sleep ("a task finished").  Workers take the oldest task
 * (FIFO).
 *
 * Nested waits: a wait called from inside a task (on a worker thread) does
 * not block the worker while work is queued: it takes the newest queued task
 * (LIFO, most often the waiter's own child) and runs it, and sleeps only when
 * the queue is empty.  A wait from a thread outside the pool simply sleeps.
 */
#ifndef BENCH_MCPOOL_H
#define BENCH_MCPOOL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*mcpool_fn)(void *arg);

typedef struct mcpool_task {
    mcpool_fn fn;
    void *arg;
    int done;               /* set (atomically) after fn returned */
} mcpool_task;

typedef struct mcpool {
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* idle workers sleep here                */
    pthread_cond_t done_cv; /* waiters of a task sleep here           */
    mcpool_task **ring;     /* queued tasks: ring[(head + i) % cap]   */
    size_t cap, head, count;
    int idle;               /* workers sleeping on work_cv (under mu) */
    int helpers;            /* workers sleeping in a wait (under mu)  */
    int done_sleepers;      /* threads sleeping on done_cv (atomic)   */
    int stop;
    int nthreads;
    pthread_t *threads;
} mcpool;

static __thread mcpool *mcpool_self_;   /* the pool whose worker this is */

static inline int mcpool_threads(const mcpool *p) { return p->nthreads; }

/* Under mu.  Pops the oldest (fifo != 0) or newest queued task, or NULL. */
static inline mcpool_task *mcpool_pop_(mcpool *p, int fifo)
{
    mcpool_task *t;
    if (p->count == 0) return NULL;
    if (fifo) {
        t = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
    } else {
        t = p->ring[(p->head + p->count - 1) % p->cap];
    }
    p->count--;
    return t;
}

static inline void mcpool_run_(mcpool *p, mcpool_task *t)
{
    t->fn(t->arg);
    __atomic_store_n(&t->done, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&p->done_sleepers, __ATOMIC_SEQ_CST) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->done_cv);
        pthread_mutex_unlock(&p->mu);
    }
}

static inline void *mcpool_worker_(void *arg)
{
    mcpool *p = (mcpool *)arg;
    mcpool_self_ = p;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        mcpool_task *t = mcpool_pop_(p, 1);
        if (t) {
            pthread_mutex_unlock(&p->mu);
            mcpool_run_(p, t);
            pthread_mutex_lock(&p->mu);
            continue;
        }
        if (p->stop) break;
        p->idle++;
        pthread_cond_wait(&p->work_cv, &p->mu);
        p->idle--;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Creates a pool of n workers (n <= 0: one per CPU in the affinity mask). */
static inline mcpool *mcpool_create(int n)
{
    mcpool *p = (mcpool *)calloc(1, sizeof *p);
    int i;
    if (!p) return NULL;
    if (n <= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
        if (n <= 0) n = (int)sysconf(_SC_NPROCESSORS_ONLN);
        if (n <= 0) n = 1;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work_cv, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    p->cap = 1024;
    p->ring = (mcpool_task **)malloc(p->cap * sizeof *p->ring);
    p->threads = (pthread_t *)malloc((size_t)n * sizeof *p->threads);
    if (!p->ring || !p->threads) return NULL;
    p->nthreads = n;
    /* a wait runs any queued task beneath itself, so a worker's stack holds
       as many nested tasks as were queued: 256 MiB of address space (pages
       are touched only as deep as the nesting goes) */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, (size_t)256 << 20);
    for (i = 0; i < n; i++) pthread_create(&p->threads[i], &attr, mcpool_worker_, p);
    pthread_attr_destroy(&attr);
    return p;
}

/* Queues fn(arg); returns its handle, or NULL when out of memory. */
static inline mcpool_task *mcpool_submit(mcpool *p, mcpool_fn fn, void *arg)
{
    mcpool_task *t = (mcpool_task *)malloc(sizeof *t);
    if (!t) return NULL;
    t->fn = fn;
    t->arg = arg;
    t->done = 0;
    pthread_mutex_lock(&p->mu);
    if (p->count == p->cap) {
        size_t cap = p->cap * 2, i;
        mcpool_task **r = (mcpool_task **)malloc(cap * sizeof *r);
        if (!r) {
            pthread_mutex_unlock(&p->mu);
            free(t);
            return NULL;
        }
        for (i = 0; i < p->count; i++) r[i] = p->ring[(p->head + i) % p->cap];
        free(p->ring);
        p->ring = r;
        p->cap = cap;
        p->head = 0;
    }
    p->ring[(p->head + p->count) % p->cap] = t;
    p->count++;
    /* Wake an idle worker; failing that, workers asleep in a wait, which
       then run the task. */
    if (p->idle > 0) pthread_cond_signal(&p->work_cv);
    else if (p->helpers > 0) pthread_cond_broadcast(&p->done_cv);
    pthread_mutex_unlock(&p->mu);
    return t;
}

static inline int mcpool_done(const mcpool_task *t) { return __atomic_load_n(&t->done, __ATOMIC_ACQUIRE); }

/* Waits until t has run.  On a worker of p it runs queued tasks meanwhile. */
static inline void mcpool_wait(mcpool *p, mcpool_task *t)
{
    int helper = mcpool_self_ == p;
    if (mcpool_done(t)) return;
    pthread_mutex_lock(&p->mu);
    while (!__atomic_load_n(&t->done, __ATOMIC_SEQ_CST)) {
        if (helper) {
            mcpool_task *u = mcpool_pop_(p, 0);
            if (u) {
                pthread_mutex_unlock(&p->mu);
                mcpool_run_(p, u);
                pthread_mutex_lock(&p->mu);
                continue;
            }
        }
        __atomic_fetch_add(&p->done_sleepers, 1, __ATOMIC_SEQ_CST);
        if (!__atomic_load_n(&t->done, __ATOMIC_SEQ_CST)) {
            p->helpers += helper;
            pthread_cond_wait(&p->done_cv, &p->mu);
            p->helpers -= helper;
        }
        __atomic_fetch_sub(&p->done_sleepers, 1, __ATOMIC_SEQ_CST);
    }
    pthread_mutex_unlock(&p->mu);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
}

static inline void mcpool_release(mcpool_task *t) { free(t); }

/* Runs what is queued, then stops and joins the workers. */
static inline void mcpool_destroy(mcpool *p)
{
    int i;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    for (i = 0; i < p->nthreads; i++) pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->work_cv);
    pthread_cond_destroy(&p->done_cv);
    pthread_mutex_destroy(&p->mu);
    free(p->ring);
    free(p->threads);
    free(p);
}

#ifdef __cplusplus
}
#endif

#endif /* BENCH_MCPOOL_H */
