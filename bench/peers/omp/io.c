/* io on OpenMP tasks: the I/O-bound mixed workload (JSON writes read back,
   log appends, blob writes, each with its modelled latency, and CPU tokens
   alongside); one thread (single) creates a task per op in the interleaved
   order, then taskwaits.  An op blocks its thread while it sleeps or waits
   on a system call. */
#include "../../common/workload.h"
#include <omp.h>

#ifndef IMPL_NAME
#define IMPL_NAME "omp"
#endif

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    int threads = omp_get_max_threads(), ok;
    uint64_t t0 = 0, t1 = 0;
    wl_io io;
    if (wl_io_setup(&io, &a) != 0) return 2;
#pragma omp parallel
#pragma omp single
    {
        size_t i;
        t0 = now_ns();
        for (i = 0; i < io.total; i++) {
            wl_io_item it = io.order[i];
#pragma omp task firstprivate(it) shared(io)
            wl_io_run(&io, it);
        }
#pragma omp taskwait
        t1 = now_ns();
    }
    ok = wl_io_finish(IMPL_NAME, threads, &io, wl_seconds(t0, t1));
    wl_io_free(&io);
    return wl_exit_code(ok);
}
