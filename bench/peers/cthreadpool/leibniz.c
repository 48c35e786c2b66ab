/* leibniz on C-Thread-Pool: term jobs, then chunk jobs, then partial jobs,
   then one final job; thpool_wait between the stages. */
#include "../../common/workload.h"
#include <thpool.h>

#ifndef IMPL_NAME
#define IMPL_NAME "cthreadpool"
#endif

static double *terms, *chunks, partials[LEIBNIZ_PARTIALS], pi;
static unsigned nchunks;

static void term_task(void *arg) { uint64_t k = (uintptr_t)arg; terms[k] = wl_leibniz_term(k); }
static void chunk_task(void *arg)
{
    uintptr_t c = (uintptr_t)arg;
    chunks[c] = wl_sum_doubles(terms + c * LEIBNIZ_CHUNK, LEIBNIZ_CHUNK);
}
static void partial_task(void *arg)
{
    unsigned p = (unsigned)(uintptr_t)arg, c0 = wl_leibniz_partial_first(nchunks, p);
    partials[p] = wl_sum_doubles(chunks + c0, wl_leibniz_partial_first(nchunks, p + 1) - c0);
}
static void final_task(void *arg) { (void)arg; pi = wl_sum_doubles(partials, LEIBNIZ_PARTIALS); }

static void stage(threadpool p, unsigned n, void (*fn)(void *))
{
    unsigned i;
    for (i = 0; i < n; i++) thpool_add_work(p, fn, (void *)(uintptr_t)i);
    thpool_wait(p);
}

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    unsigned n = wl_leibniz_terms(&a);
    int threads = wl_cpu_count(), ok;
    threadpool p = thpool_init(threads);
    uint64_t t0, t1;
    nchunks = wl_leibniz_chunks(n);
    terms = (double *)malloc(n * sizeof *terms);
    chunks = (double *)malloc(nchunks * sizeof *chunks);
    if (!p || !terms || !chunks) return 2;
    t0 = now_ns();
    stage(p, n, term_task);
    stage(p, nchunks, chunk_task);
    stage(p, LEIBNIZ_PARTIALS, partial_task);
    stage(p, 1, final_task);
    t1 = now_ns();
    ok = wl_leibniz_finish(IMPL_NAME, threads, wl_seconds(t0, t1), n, pi);
    thpool_destroy(p);
    return wl_exit_code(ok);
}
