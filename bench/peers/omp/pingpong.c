/* pingpong on OpenMP tasks.  The master thread (inside single) creates one
   task and taskwaits for it, round after round.  The hand-off: the other
   threads of the team are parked at the implicit barrier that ends the
   single construct, and a thread waiting at a barrier executes queued
   tasks, so one of them picks the new task up while the master's taskwait
   waits; if none has taken it yet, taskwait runs it on the master itself.
   on_worker reports how often another thread ran it. */
#include "../../common/workload.h"
#include <omp.h>

#ifndef IMPL_NAME
#define IMPL_NAME "omp"
#endif

static uint64_t ran, on_worker;

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    unsigned rounds = wl_pingpong_rounds(&a);
    int threads = omp_get_max_threads(), ok;
    uint64_t *lat = (uint64_t *)malloc(rounds * sizeof *lat), t0 = 0, t1 = 0;
    if (!lat) return 2;
#pragma omp parallel
#pragma omp single
    {
        int me = omp_get_thread_num();
        unsigned i;
        t0 = now_ns();
        for (i = 0; i < rounds; i++) {
            uint64_t r0 = now_ns();
#pragma omp task firstprivate(me)
            {
                wl_count(&ran, 1);
                if (omp_get_thread_num() != me) wl_count(&on_worker, 1);
            }
#pragma omp taskwait
            lat[i] = now_ns() - r0;
        }
        t1 = now_ns();
    }
    ok = wl_pingpong_finish(IMPL_NAME, threads, wl_seconds(t0, t1), lat, rounds, wl_load(&ran),
                            wl_load(&on_worker));
    free(lat);
    return wl_exit_code(ok);
}
