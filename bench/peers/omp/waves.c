/* waves on OpenMP tasks: 15 doubling waves of the four mixed task kinds; one
   thread (single) creates each wave's tasks, then taskwaits. */
#include "../../common/workload.h"
#include <omp.h>

#ifndef IMPL_NAME
#define IMPL_NAME "omp"
#endif

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    int waves = wl_waves_count(&a), threads = omp_get_max_threads(), ok;
    uint64_t total = wl_waves_total(waves), fails = 0;
    double seconds = 0.0;
    wl_wave_rec *recs = (wl_wave_rec *)calloc(total, sizeof *recs);
    if (!recs) return 2;
#pragma omp parallel
#pragma omp single
    {
        int k;
        for (k = 0; k < waves; k++) {
            uint64_t n = wl_wave_size(k), g0 = wl_wave_first(k), i, t0, t1;
            t0 = now_ns();
            for (i = 0; i < n; i++) {
                uint64_t g = g0 + i;
                recs[g].submit_ns = now_ns();
#pragma omp task firstprivate(g)
                wl_waves_run_token(&recs[g], g);
            }
#pragma omp taskwait
            t1 = now_ns();
            seconds += wl_seconds(t0, t1);
            fails += wl_waves_report(IMPL_NAME, k, recs + g0, t0, t1);
        }
    }
    ok = wl_waves_finish(IMPL_NAME, threads, recs, total, seconds, fails);
    free(recs);
    return wl_exit_code(ok);
}
