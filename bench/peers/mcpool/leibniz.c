/* leibniz on the mutex + condvar pool: term tasks, then chunk tasks, then
   partial tasks, then one final task; each stage waited before the next. */
#include "../../common/workload.h"
#include "mcpool.h"

#ifndef IMPL_NAME
#define IMPL_NAME "mcpool"
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

static void stage(mcpool *p, mcpool_task **h, unsigned n, mcpool_fn fn)
{
    unsigned i;
    for (i = 0; i < n; i++) h[i] = mcpool_submit(p, fn, (void *)(uintptr_t)i);
    for (i = 0; i < n; i++) {
        mcpool_wait(p, h[i]);
        mcpool_release(h[i]);
    }
}

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    unsigned n = wl_leibniz_terms(&a);
    mcpool *p = mcpool_create(0);
    mcpool_task **h = (mcpool_task **)malloc(n * sizeof *h);
    uint64_t t0, t1;
    int ok;
    nchunks = wl_leibniz_chunks(n);
    terms = (double *)malloc(n * sizeof *terms);
    chunks = (double *)malloc(nchunks * sizeof *chunks);
    if (!p || !h || !terms || !chunks) return 2;
    t0 = now_ns();
    stage(p, h, n, term_task);
    stage(p, h, nchunks, chunk_task);
    stage(p, h, LEIBNIZ_PARTIALS, partial_task);
    stage(p, h, 1, final_task);
    t1 = now_ns();
    ok = wl_leibniz_finish(IMPL_NAME, mcpool_threads(p), wl_seconds(t0, t1), n, pi);
    mcpool_destroy(p);
    return wl_exit_code(ok);
}
