// leibniz on oneTBB: term tasks, then chunk tasks, then partial tasks, then
// one final task, each stage a task_group waited before the next.
#include "../../common/workload.h"
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#ifndef IMPL_NAME
#define IMPL_NAME "tbb"
#endif

template <class F> static void stage(unsigned n, F f)
{
    tbb::task_group g;
    for (unsigned i = 0; i < n; i++) g.run([f, i] { f(i); });
    g.wait();
}

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    unsigned n = wl_leibniz_terms(&a), nchunks = wl_leibniz_chunks(n);
    int threads = tbb::this_task_arena::max_concurrency();
    double *terms = (double *)malloc(n * sizeof *terms);
    double *chunks = (double *)malloc(nchunks * sizeof *chunks);
    double partials[LEIBNIZ_PARTIALS], pi = 0.0;
    if (!terms || !chunks) return 2;
    double *pp = partials, *ppi = &pi;
    uint64_t t0 = now_ns();
    stage(n, [terms](unsigned k) { terms[k] = wl_leibniz_term(k); });
    stage(nchunks, [terms, chunks](unsigned c) {
        chunks[c] = wl_sum_doubles(terms + (size_t)c * LEIBNIZ_CHUNK, LEIBNIZ_CHUNK);
    });
    stage(LEIBNIZ_PARTIALS, [chunks, nchunks, pp](unsigned p) {
        unsigned c0 = wl_leibniz_partial_first(nchunks, p);
        pp[p] = wl_sum_doubles(chunks + c0, wl_leibniz_partial_first(nchunks, p + 1) - c0);
    });
    stage(1, [pp, ppi](unsigned) { *ppi = wl_sum_doubles(pp, LEIBNIZ_PARTIALS); });
    uint64_t t1 = now_ns();
    int ok = wl_leibniz_finish(IMPL_NAME, threads, wl_seconds(t0, t1), n, pi);
    free(terms);
    free(chunks);
    return wl_exit_code(ok);
}
