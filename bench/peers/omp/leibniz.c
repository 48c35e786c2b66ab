/* leibniz on OpenMP tasks: term tasks, then chunk tasks, then partial tasks,
   then one final task, all created by one thread (single), with a taskwait
   after each stage. */
#include "../../common/workload.h"
#include <omp.h>

#ifndef IMPL_NAME
#define IMPL_NAME "omp"
#endif

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    unsigned n = wl_leibniz_terms(&a), nchunks = wl_leibniz_chunks(n);
    int threads = omp_get_max_threads(), ok;
    double *terms = (double *)malloc(n * sizeof *terms);
    double *chunks = (double *)malloc(nchunks * sizeof *chunks);
    double partials[LEIBNIZ_PARTIALS], pi = 0.0;
    uint64_t t0 = 0, t1 = 0;
    if (!terms || !chunks) return 2;
#pragma omp parallel
#pragma omp single
    {
        unsigned i;
        t0 = now_ns();
        for (i = 0; i < n; i++) {
#pragma omp task firstprivate(i)
            terms[i] = wl_leibniz_term(i);
        }
#pragma omp taskwait
        for (i = 0; i < nchunks; i++) {
#pragma omp task firstprivate(i)
            chunks[i] = wl_sum_doubles(terms + (size_t)i * LEIBNIZ_CHUNK, LEIBNIZ_CHUNK);
        }
#pragma omp taskwait
        for (i = 0; i < LEIBNIZ_PARTIALS; i++) {
#pragma omp task firstprivate(i) shared(partials)
            {
                unsigned c0 = wl_leibniz_partial_first(nchunks, i);
                partials[i] = wl_sum_doubles(chunks + c0, wl_leibniz_partial_first(nchunks, i + 1) - c0);
            }
        }
#pragma omp taskwait
#pragma omp task shared(pi, partials)
        pi = wl_sum_doubles(partials, LEIBNIZ_PARTIALS);
#pragma omp taskwait
        t1 = now_ns();
    }
    ok = wl_leibniz_finish(IMPL_NAME, threads, wl_seconds(t0, t1), n, pi);
    free(terms);
    free(chunks);
    return wl_exit_code(ok);
}
