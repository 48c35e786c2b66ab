/* fib on OpenMP tasks: one task per call with n >= 2; a parent taskwaits for
   its children. */
#include "../../common/workload.h"
#include <omp.h>

#ifndef IMPL_NAME
#define IMPL_NAME "omp"
#endif

static uint64_t fib(int n)
{
    uint64_t r[2];
    int i;
    for (i = 0; i < 2; i++) {
        int m = n - 1 - i;
        if (m >= 2) {
#pragma omp task shared(r) firstprivate(i, m)
            r[i] = fib(m);
        } else {
            r[i] = (uint64_t)m;
        }
    }
#pragma omp taskwait
    return r[0] + r[1];
}

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    int n = wl_fib_n(&a), threads = omp_get_max_threads(), ok;
    uint64_t value = 0, t0 = 0, t1 = 0;
#pragma omp parallel
#pragma omp single
    {
        t0 = now_ns();
#pragma omp task shared(value)
        value = fib(n);
#pragma omp taskwait
        t1 = now_ns();
    }
    ok = wl_value_finish("fib", IMPL_NAME, threads, wl_seconds(t0, t1), value, wl_fib_expected(n),
                         wl_fib_tasks(n));
    return wl_exit_code(ok);
}
