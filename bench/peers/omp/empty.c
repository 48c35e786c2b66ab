/* empty on OpenMP tasks: inside a parallel region one thread (single)
   creates N empty tasks, then taskwaits for all. */
#include "../../common/workload.h"
#include <omp.h>

#ifndef IMPL_NAME
#define IMPL_NAME "omp"
#endif

static uint64_t ran;

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    unsigned n = wl_empty_n(&a);
    int threads = omp_get_max_threads(), ok;
    uint64_t t0 = 0, t1 = 0;
#pragma omp parallel
#pragma omp single
    {
        unsigned i;
        t0 = now_ns();
        for (i = 0; i < n; i++) {
#pragma omp task
            wl_count(&ran, 1);
        }
#pragma omp taskwait
        t1 = now_ns();
    }
    ok = wl_empty_finish(EMPTY_BENCH, IMPL_NAME, threads, wl_seconds(t0, t1), n, wl_load(&ran), n);
    return wl_exit_code(ok);
}
